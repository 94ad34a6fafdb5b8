-- The weekly report's recovery list as of $1, per unit in recovery order.
SELECT as_of, unit_id, case_unit_id, position, case_id, caseworker_id, caseworker_name, acute, monthly_cost_dkk, missing
FROM report_recovery
WHERE as_of = $1
ORDER BY unit_id, position
