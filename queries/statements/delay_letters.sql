-- Draft delay letters (cwkpi letters): open deadline breaches without a delay letter, worst first.
SELECT b.as_of, b.decision_id, b.case_id, b.unit_id, u.name AS unit_name, b.paragraph, b.area,
       b.applied_on, b.deadline, b.days_overdue, b.deadline_span, b.new_expected_on
FROM deadline_breaches b
JOIN units u ON u.unit_id = b.unit_id
WHERE NOT b.delay_letter_sent
ORDER BY b.as_of, b.deadline, b.case_id, b.decision_id
