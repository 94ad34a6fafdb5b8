-- The weekly report's deadlines in the 4 weeks after $1, soonest first.
SELECT as_of, unit_id, case_unit_id, case_id, caseworker_id, caseworker_name, child_age, kind, item_id, due_on, due_week, weeks_ahead, days_left
FROM report_deadlines
WHERE as_of = $1
ORDER BY unit_id, due_on, case_id, kind, item_id
