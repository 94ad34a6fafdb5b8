-- Units for the weekly report as of $1: level in the tree, and cases in the unit and below (opened by $1, active at $1).
SELECT u.unit_id, u.name, u.parent_id, lvl.level,
       count(c.case_id) FILTER (WHERE c.opened_on <= $1) AS cases,
       count(c.case_id) FILTER (WHERE c.opened_on <= $1 AND (c.closed_on IS NULL OR c.closed_on >= $1)) AS active_cases
FROM units u
JOIN (SELECT unit_id, CAST(max(depth) AS BIGINT) AS level FROM unit_tree GROUP BY unit_id) lvl ON lvl.unit_id = u.unit_id
LEFT JOIN unit_tree t ON t.ancestor_id = u.unit_id
LEFT JOIN cases c ON c.unit_id = t.unit_id
GROUP BY u.unit_id, u.name, u.parent_id, lvl.level
ORDER BY u.unit_id
