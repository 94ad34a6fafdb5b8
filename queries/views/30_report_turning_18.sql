-- The report's list of children turning 18 within six months: turning_18 for each unit's report (the unit and every unit below it), with the caseworker's name.
-- unit_id is the unit whose report lists the row; case_unit_id is the case's own unit.
SELECT a.as_of, t.ancestor_id AS unit_id, a.unit_id AS case_unit_id, a.case_id, a.caseworker_id,
       w.name AS caseworker_name, a.turns_18_on, a.paragraphs
FROM turning_18 a
JOIN unit_tree t ON t.unit_id = a.unit_id
LEFT JOIN caseworkers w ON w.caseworker_id = a.caseworker_id
