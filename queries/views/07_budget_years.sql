-- Per as-of date of an export with budgets: the year followed up (the as-of date's calendar year) and how many of its months are closed.
-- A month is closed when its last day is on or before the as-of date: on 2026-03-31 three
-- months are, on 2026-03-30 two. Without a budgets table there are no rows, and so no
-- budget figures: no budgets is unknown, not a budget of 0.
SELECT d.as_of, CAST(date_part('year', d.as_of) AS BIGINT) AS year,
       CAST(date_part('month', d.as_of) AS BIGINT)
       - CASE WHEN date_part('day', d.as_of + INTERVAL '1 day') = 1 THEN 0 ELSE 1 END AS closed_months
FROM as_of_dates d
JOIN export_tables e ON e.table_name = 'budgets' AND e.present
