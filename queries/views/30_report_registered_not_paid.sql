-- The report's measures registered but not paid last month: finance_registered_not_paid for each unit's report (the unit and every unit below it).
-- unit_id is the unit whose report lists the row; case_unit_id is the measure's case's unit.
SELECT r.as_of, t.ancestor_id AS unit_id, r.unit_id AS case_unit_id, r.measure_id, r.case_id, r.paragraph,
       r.started_on, r.monthly_cost_dkk, r.month_from, r.month_to
FROM finance_registered_not_paid r
JOIN unit_tree t ON t.unit_id = r.unit_id
