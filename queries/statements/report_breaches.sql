-- The weekly report's open deadline breaches as of $1, worst first (earliest deadline, then case_id, decision_id).
SELECT as_of, unit_id, case_unit_id, decision_id, case_id, caseworker_id, caseworker_name, paragraph, area,
       applied_on, deadline, days_overdue, delay_letter_on, delay_letter_sent
FROM report_breaches
WHERE as_of = $1
ORDER BY unit_id, deadline, case_id, decision_id
