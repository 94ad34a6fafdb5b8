-- The report's checklist elements per unit (with every unit below it): of the cases the lawful-case checklist applies to, how many miss each element.
-- One row per as-of date, unit and element, in checklist order (position 1–6); cases is the
-- unit's cases with an active measure (the lawful_case denominator), missing those that
-- fail the element. Units without such cases have no rows.
WITH per_unit AS (
    -- Counted at each case's own unit first, then summed up the tree: the tree's join
    -- repeats the units' counts, not every case once per level.
    SELECT as_of, unit_id, count(*) AS cases,
           count(*) FILTER (WHERE NOT investigated) AS investigated,
           count(*) FILTER (WHERE NOT child_heard) AS child_heard,
           count(*) FILTER (WHERE NOT parties_consulted) AS parties_consulted,
           count(*) FILTER (WHERE NOT decision_with_guidance) AS decision_with_guidance,
           count(*) FILTER (WHERE NOT plan) AS plan,
           count(*) FILTER (WHERE NOT followed_up) AS followed_up
    FROM case_lawfulness
    GROUP BY as_of, unit_id
),
rolled_up AS (
    SELECT l.as_of, t.ancestor_id AS unit_id, sum(l.cases) AS cases,
           sum(l.investigated) AS investigated,
           sum(l.child_heard) AS child_heard,
           sum(l.parties_consulted) AS parties_consulted,
           sum(l.decision_with_guidance) AS decision_with_guidance,
           sum(l.plan) AS plan,
           sum(l.followed_up) AS followed_up
    FROM per_unit l
    JOIN unit_tree t ON t.unit_id = l.unit_id
    GROUP BY l.as_of, t.ancestor_id
)
SELECT p.as_of, p.unit_id, e.position, e.element, p.cases,
       CASE e.element
           WHEN 'investigated' THEN p.investigated
           WHEN 'child_heard' THEN p.child_heard
           WHEN 'parties_consulted' THEN p.parties_consulted
           WHEN 'decision_with_guidance' THEN p.decision_with_guidance
           WHEN 'plan' THEN p.plan
           ELSE p.followed_up
       END AS missing
FROM rolled_up p
CROSS JOIN (VALUES (1, 'investigated'), (2, 'child_heard'), (3, 'parties_consulted'),
                   (4, 'decision_with_guidance'), (5, 'plan'), (6, 'followed_up')) AS e(position, element)
