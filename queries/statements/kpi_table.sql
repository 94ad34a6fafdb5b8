-- The KPI table as `cwkpi kpi` prints it: the csv contract's columns, units by id, KPIs in plan order.
SELECT k.as_of, k.unit_id, k.kpi_id, k.numerator, k.denominator, k.share, k.target, k.met
FROM kpi k
JOIN kpi_definitions d ON d.kpi_id = k.kpi_id
ORDER BY k.as_of, k.unit_id, d.position
