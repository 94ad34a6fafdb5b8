-- Per as-of date and unit (with every unit below it), the year's budget, budget and actual through the closed months, and the year's forecast by two methods.
-- forecast_run_rate: actual to date × the year's budget / the budget to date (the pace so
-- far, seasonally adjusted by the budget's own profile), null when no month is closed or
-- the budget to date is not above 0. forecast_commitments: actual to date plus the
-- commitments: each measure active at the as-of date (at a case of the unit's subtree)
-- with a monthly cost counts it once for every month of the year not closed whose first
-- day is on or before its end (every such month when it has no end). Amounts are kroner
-- with two decimals, summed in whole øre. Every unit has a row for an export with budgets.
WITH commitments AS (
    SELECT a.as_of, a.unit_id,
           sum(CAST(round(a.monthly_cost_dkk * 100) AS BIGINT)
               * greatest(CASE WHEN a.ended_on IS NULL OR date_part('year', a.ended_on) > y.year THEN 12
                               ELSE CAST(date_part('month', a.ended_on) AS BIGINT) END
                          - y.closed_months, 0)) AS ore
    FROM active_measures a
    JOIN budget_years y ON y.as_of = a.as_of
    WHERE a.monthly_cost_dkk IS NOT NULL
    GROUP BY a.as_of, a.unit_id
),
facts AS (
    SELECT as_of, unit_id, budget_ore AS budget_year,
           CASE WHEN closed THEN budget_ore ELSE 0 END AS budget_to_date,
           CASE WHEN closed THEN actual_ore ELSE 0 END AS actual_to_date,
           CAST(0 AS BIGINT) AS commitments
    FROM budget_periods
    UNION ALL
    SELECT as_of, unit_id, 0, 0, 0, ore FROM commitments
),
rolled_up AS (
    SELECT f.as_of, t.ancestor_id AS unit_id, sum(f.budget_year) AS budget_year, sum(f.budget_to_date) AS budget_to_date,
           sum(f.actual_to_date) AS actual_to_date, sum(f.commitments) AS commitments
    FROM facts f
    JOIN unit_tree t ON t.unit_id = f.unit_id
    GROUP BY f.as_of, t.ancestor_id
),
totals AS (
    SELECT y.as_of, u.unit_id, y.year, y.closed_months,
           coalesce(r.budget_year, 0) AS budget_year, coalesce(r.budget_to_date, 0) AS budget_to_date,
           coalesce(r.actual_to_date, 0) AS actual_to_date, coalesce(r.commitments, 0) AS commitments
    FROM budget_years y
    CROSS JOIN units u
    LEFT JOIN rolled_up r ON r.as_of = y.as_of AND r.unit_id = u.unit_id
)
SELECT as_of, unit_id, year,
       dkk(budget_year) AS budget_year_dkk,
       dkk(budget_to_date) AS budget_to_date_dkk,
       dkk(actual_to_date) AS actual_to_date_dkk,
       dkk(actual_to_date - budget_to_date) AS variance_to_date_dkk,
       CASE WHEN closed_months = 0 OR budget_to_date <= 0 THEN NULL
            ELSE dkk(CAST(round(CAST(actual_to_date AS DOUBLE) * CAST(budget_year AS DOUBLE) / CAST(budget_to_date AS DOUBLE)) AS BIGINT))
       END AS forecast_run_rate_dkk,
       dkk(actual_to_date + commitments) AS forecast_commitments_dkk,
       dkk(commitments) AS commitments_dkk
FROM totals
