-- The weekly report's overdue list as of $1, worst first (most days overdue).
SELECT as_of, unit_id, case_unit_id, case_id, caseworker_id, caseworker_name, child_age, kind, item_id, due_on, days_overdue
FROM report_overdue
WHERE as_of = $1
ORDER BY unit_id, days_overdue DESC, case_id, kind, item_id
