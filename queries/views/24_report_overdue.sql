-- The report's overdue list: overdue_items for each unit's report, i.e. of the unit and every unit below it.
-- unit_id is the unit whose report lists the row; case_unit_id is the case's own unit. The report
-- shows them worst first: days_overdue descending.
SELECT o.as_of, t.ancestor_id AS unit_id, o.unit_id AS case_unit_id, o.case_id, o.caseworker_id, o.caseworker_name,
       o.child_age, o.kind, o.item_id, o.due_on, o.days_overdue
FROM overdue_items o
JOIN unit_tree t ON t.unit_id = o.unit_id
