-- Each recovery milestone of the rules with the cases of its unit (and every unit below it) still needing recovery at its date: met when at most max_remaining.
-- The count is recovery_cases as of the milestone's date, computed on the export as it is
-- (a milestone after the as-of date shows the count as the export knows it). Without a
-- case_events table the checklist is unknown: remaining and met are null.
SELECT o.as_of, m.unit_id, m.on_date, m.max_remaining,
       CASE WHEN e.present THEN count(r.case_id) END AS remaining,
       CASE WHEN e.present THEN count(r.case_id) <= m.max_remaining END AS met
FROM other_dates o
JOIN recovery_milestone_rules m ON m.on_date = o.at_date
CROSS JOIN (SELECT present FROM export_tables WHERE table_name = 'case_events') e
LEFT JOIN unit_tree t ON t.ancestor_id = m.unit_id
LEFT JOIN recovery_cases r ON r.as_of = o.at_date AND r.unit_id = t.unit_id
WHERE o.view_name = 'recovery_milestones'
GROUP BY o.as_of, m.unit_id, m.on_date, m.max_remaining, e.present
