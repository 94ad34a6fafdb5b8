-- The report's deadline breaches (plan item 12): deadline_breaches for each unit's report (the unit and every unit below it).
-- unit_id is the unit whose report lists the row; case_unit_id is the case's own unit. An
-- application is listed while it is open past its case-processing deadline at the as-of date,
-- with whether the applicant has had a delay letter by then. Cases by case_id only; the
-- caseworker by name where the export has one. Worst first: earliest deadline, then
-- case_id, decision_id (as deadline_breaches and cwkpi letters).
SELECT b.as_of, t.ancestor_id AS unit_id, b.unit_id AS case_unit_id, b.decision_id, b.case_id,
       b.caseworker_id, w.name AS caseworker_name, b.paragraph, b.area, b.applied_on, b.deadline,
       b.days_overdue, b.delay_letter_on, b.delay_letter_sent
FROM deadline_breaches b
JOIN unit_tree t ON t.unit_id = b.unit_id
LEFT JOIN caseworkers w ON w.caseworker_id = b.caseworker_id
