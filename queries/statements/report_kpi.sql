-- The weekly report's KPI figures for every as-of date (the trend; the last date is the KPI table), KPIs in plan order.
SELECT as_of, unit_id, kpi_id, numerator, denominator, share, target, met, previous_share, change_pp
FROM report_kpi
ORDER BY unit_id, as_of, position
