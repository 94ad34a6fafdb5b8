-- Per unit (with every unit below it) and caseworker (sagsstamme): the cases still needing recovery at each as-of date.
-- Counts the rows of recovery_cases by the case's caseworker; cases without a caseworker
-- form a row with a null caseworker_id. Summed over caseworkers it is the unit's count, the
-- figure the burn-down follows week by week against the recovery milestones.
SELECT r.as_of, t.ancestor_id AS unit_id, r.caseworker_id, count(*) AS cases,
       count(*) FILTER (WHERE r.acute) AS acute_cases
FROM recovery_cases r
JOIN unit_tree t ON t.unit_id = r.unit_id
GROUP BY r.as_of, t.ancestor_id, r.caseworker_id
