-- The weekly report's measures registered but not paid in the month before $1's month, per unit highest monthly cost first (then measure_id).
SELECT as_of, unit_id, case_unit_id, measure_id, case_id, paragraph, started_on, monthly_cost_dkk, month_from, month_to
FROM report_registered_not_paid
WHERE as_of = $1
ORDER BY unit_id, monthly_cost_dkk DESC, measure_id
