-- The report's coming deadlines: upcoming_deadlines for each unit's report (the unit and every unit below it).
-- unit_id is the unit whose report lists the row; case_unit_id is the case's own unit.
SELECT d.as_of, t.ancestor_id AS unit_id, d.unit_id AS case_unit_id, d.case_id, d.caseworker_id, d.caseworker_name,
       d.child_age, d.kind, d.item_id, d.due_on, d.due_week, d.weeks_ahead, d.days_left
FROM upcoming_deadlines d
JOIN unit_tree t ON t.unit_id = d.unit_id
