-- The report's recovery list (genopretning): recovery_cases for each unit's report (the unit and every unit below it), with the caseworker's name.
-- unit_id is the unit whose report lists the row; case_unit_id is the case's own unit;
-- position is the case's place in the recovery order over the whole export, so a unit's
-- list in position order is its cases in recovery order.
SELECT r.as_of, t.ancestor_id AS unit_id, r.unit_id AS case_unit_id, r.position, r.case_id,
       r.caseworker_id, w.name AS caseworker_name, r.acute, r.monthly_cost_dkk, r.missing
FROM recovery_cases r
JOIN unit_tree t ON t.unit_id = r.unit_id
LEFT JOIN caseworkers w ON w.caseworker_id = r.caseworker_id
