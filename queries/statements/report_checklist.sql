-- The weekly report's checklist elements as of $1, per unit most often missing first (ties in checklist order); share is missing of cases.
SELECT as_of, unit_id, position, element, missing, cases,
       CAST(missing AS DOUBLE) / CAST(cases AS DOUBLE) AS share
FROM report_checklist
WHERE as_of = $1
ORDER BY unit_id, missing DESC, position
