-- The weekly report's children turning 18 within six months of $1, per unit soonest first (then case_id).
SELECT as_of, unit_id, case_unit_id, case_id, caseworker_id, caseworker_name, turns_18_on, paragraphs
FROM report_turning_18
WHERE as_of = $1
ORDER BY unit_id, turns_18_on, case_id
