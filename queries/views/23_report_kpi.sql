-- The report's KPI table: the kpi view with each KPI's share a week earlier and the change in percentage points.
-- previous_share is the share as of the date 7 days before, when that date is among the as-of dates
-- (the weekly report computes 13 Sundays); else, and when either share is null, the change is null.
SELECT *, (share - previous_share) * 100 AS change_pp
FROM (
    SELECT k.as_of, k.unit_id, k.kpi_id, d.position, d.plan_item,
           k.numerator, k.denominator, k.share, k.target, k.met,
           CASE WHEN lag(k.as_of) OVER (PARTITION BY k.unit_id, k.kpi_id ORDER BY k.as_of) = k.as_of - 7
                THEN lag(k.share) OVER (PARTITION BY k.unit_id, k.kpi_id ORDER BY k.as_of)
           END AS previous_share
    FROM kpi k
    JOIN kpi_definitions d ON d.kpi_id = k.kpi_id
) s
