-- The weekly report's projection as of $1: each core KPI one to four weeks ahead, per unit in KPI order.
SELECT p.as_of, p.unit_id, p.kpi_id, CAST(p.days_ahead / 7 AS BIGINT) AS weeks_ahead, p.projected_as_of,
       p.numerator, p.denominator, p.share, p.target, p.met
FROM kpi_projection p
JOIN kpi_definitions d ON d.kpi_id = p.kpi_id
WHERE p.as_of = $1
ORDER BY p.unit_id, d.position, p.days_ahead
