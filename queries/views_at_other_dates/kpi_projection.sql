-- Each KPI of docs/kpis.md one to four weeks ahead (as-of + 7, 14, 21, 28 days) on the export as it is: what the figures become if nothing more is done.
-- Computed exactly as §4 at projected_as_of: records dated after the as-of date count once
-- their date is reached. A projection, not a figure: nothing here has happened yet. Besides
-- §4's five KPIs, budget_forecast: the year's forecast as the export will stand then.
SELECT o.as_of, o.at_date - o.as_of AS days_ahead, o.at_date AS projected_as_of,
       k.unit_id, k.kpi_id, k.numerator, k.denominator, k.share, k.target, k.met
FROM other_dates o
JOIN kpi k ON k.as_of = o.at_date
JOIN kpi_definitions d ON d.kpi_id = k.kpi_id
WHERE o.view_name = 'kpi_projection' AND (d.core OR d.kpi_id = 'budget_forecast')
