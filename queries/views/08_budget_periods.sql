-- Per as-of date, unit (its own, not rolled up), account and month of the year followed up: the periodised budget and the actual, in whole øre.
-- One row per month 1–12 for every key (unit, account) with a budget row or a posting in
-- the year Y. Budget: a key with monthly rows of Y has those (0 for a month without one)
-- and its yearly row is ignored (a validation query says so). A yearly amount A is spread
-- by the rules' `budget_periodisation`: "last_year" by the key's postings in each month of
-- Y−1 over their total, used when that total is above 0 and no month's sum is negative,
-- else evenly; "even" a twelfth a month. Months 1–11 are A × share rounded to øre (half away
-- from zero, in double precision), December the remainder, so the twelve sum to A.
-- Actual: the key's postings in the month, refunds netted. Amounts are whole øre, so no
-- sum depends on the order of the export's rows.
WITH months AS (
    SELECT CAST(column1 AS BIGINT) AS month
    FROM (VALUES (1), (2), (3), (4), (5), (6), (7), (8), (9), (10), (11), (12))
),
posted AS (
    -- The postings of the years read (each Y and its Y−1), per key and month.
    SELECT p.unit_id, p.account, p.year, p.month, p.ore
    FROM posting_months p
    JOIN (SELECT min(year) - 1 AS first_year, max(year) AS last_year FROM budget_years) r
      ON p.year BETWEEN r.first_year AND r.last_year
),
budgeted AS (
    SELECT unit_id, year, account, month, CAST(round(amount_dkk * 100) AS BIGINT) AS ore FROM budgets
),
monthly_keys AS (
    SELECT DISTINCT unit_id, year, account FROM budgeted WHERE month IS NOT NULL
),
profiles AS (
    -- Each key's postings of a year, as the profile of the year after.
    SELECT unit_id, account, year + 1 AS year, sum(ore) AS total, min(ore) AS lowest_month
    FROM posted
    GROUP BY unit_id, account, year
),
spread AS (
    -- A yearly amount's share of each month, as a numerator and a denominator, so an even
    -- share is A / 12 exactly before rounding.
    SELECT y.unit_id, y.year, y.account, m.month, y.ore AS year_ore,
           CASE WHEN r.budget_periodisation = 'last_year' AND p.total > 0 AND p.lowest_month >= 0
                THEN CAST(coalesce(last.ore, 0) AS DOUBLE) ELSE 1.0 END AS share_of,
           CASE WHEN r.budget_periodisation = 'last_year' AND p.total > 0 AND p.lowest_month >= 0
                THEN CAST(p.total AS DOUBLE) ELSE 12.0 END AS share_in
    FROM budgeted y
    CROSS JOIN months m
    CROSS JOIN rule_params r
    LEFT JOIN profiles p ON p.unit_id = y.unit_id AND p.account = y.account AND p.year = y.year
    LEFT JOIN posted last
      ON last.unit_id = y.unit_id AND last.account = y.account AND last.year = y.year - 1 AND last.month = m.month
    WHERE y.month IS NULL
      AND NOT EXISTS (SELECT 1 FROM monthly_keys k WHERE k.unit_id = y.unit_id AND k.year = y.year AND k.account = y.account)
),
rounded AS (
    SELECT unit_id, year, account, month, year_ore,
           CASE WHEN month < 12 THEN CAST(round(CAST(year_ore AS DOUBLE) * share_of / share_in) AS BIGINT) END AS ore
    FROM spread
),
budget_per_month AS (
    SELECT unit_id, year, account, month, ore FROM budgeted WHERE month IS NOT NULL
    UNION ALL
    SELECT unit_id, year, account, month,
           CASE WHEN month < 12 THEN ore ELSE year_ore - sum(ore) OVER (PARTITION BY unit_id, year, account) END
    FROM rounded
),
year_months AS (
    -- Each year followed up, worked out once however many as-of dates fall in it (the
    -- 13 weeks of the trend: one year, most weeks): every key of the year, month by month.
    SELECT k.year, k.unit_id, k.account, m.month, coalesce(b.ore, 0) AS budget_ore, coalesce(p.ore, 0) AS actual_ore
    FROM (SELECT DISTINCT year FROM budget_years) y
    JOIN (SELECT unit_id, year, account FROM budgeted
          UNION
          SELECT unit_id, year, account FROM posted) k
      ON k.year = y.year
    CROSS JOIN months m
    LEFT JOIN budget_per_month b ON b.unit_id = k.unit_id AND b.account = k.account AND b.year = k.year AND b.month = m.month
    LEFT JOIN posted p ON p.unit_id = k.unit_id AND p.account = k.account AND p.year = k.year AND p.month = m.month
)
-- Each as-of date takes its year's months, joined by the year alone.
SELECT y.as_of, y.year, f.unit_id, f.account, f.month, f.budget_ore, f.actual_ore, f.month <= y.closed_months AS closed
FROM budget_years y
JOIN year_months f ON f.year = y.year
