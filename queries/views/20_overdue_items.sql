-- Overdue items per as-of date at their case's unit: investigation past its limit, missing action plan, overdue follow-up.
-- They are the misses behind plan_coverage, follow_up_on_time and investigation_within_limit.
-- kind: investigation_overdue (open past its limit), plan_missing (active case, plan due, none made; one
-- row per case, the item is the plan-requiring measure due first),
-- follow_up_overdue (active case, a follow-up measure past its due date; one row per measure).
-- days_overdue = as_of - due_on; a plan due on the as-of date itself is already a miss (0 days).
-- The child is shown by age in whole years at the as-of date, never by name or CPR.
WITH items AS (
    SELECT i.as_of, i.case_id, 'investigation_overdue' AS kind, i.investigation_id AS item_id, i.deadline_on AS due_on
    FROM open_investigations i
    WHERE NOT i.within_limit
    UNION ALL
    -- The plan is missing for the case; the item is its plan-requiring measure due first.
    SELECT first_due.as_of, first_due.case_id, 'plan_missing', first_due.measure_id, first_due.plan_due_on
    FROM (
        SELECT m.as_of, m.case_id, m.measure_id, m.plan_due_on,
               row_number() OVER (PARTITION BY m.as_of, m.case_id ORDER BY m.plan_due_on, m.measure_id) AS n
        -- The cases missing a plan first: the join's hash table holds them, not the active
        -- measures (3.7M at 13 dates).
        FROM case_compliance cc
        JOIN active_measures m ON m.as_of = cc.as_of AND m.case_key = cc.case_key
        WHERE cc.plan_missing AND m.needs_plan AND m.plan_due_on <= m.as_of AND (m.ended_on IS NULL OR m.ended_on >= m.plan_due_on)
    ) first_due
    WHERE first_due.n = 1
    UNION ALL
    -- Only cases active at the as-of date, as the follow-up KPI counts them.
    SELECT f.as_of, f.case_id, 'follow_up_overdue', f.measure_id, f.follow_up_due_on
    FROM follow_up_due f
    JOIN active_cases a ON a.as_of = f.as_of AND a.case_key = f.case_key
    WHERE f.overdue
)
SELECT
    it.as_of,
    c.unit_id,
    it.case_id,
    c.caseworker_id,
    w.name AS caseworker_name,
    CASE WHEN ch.birth_date <= it.as_of THEN CAST(date_part('year', it.as_of) - date_part('year', ch.birth_date)
         - CASE WHEN date_part('month', it.as_of) * 100 + date_part('day', it.as_of)
                   < date_part('month', ch.birth_date) * 100 + date_part('day', ch.birth_date)
                THEN 1 ELSE 0 END AS INT) END AS child_age,
    it.kind,
    it.item_id,
    it.due_on,
    it.as_of - it.due_on AS days_overdue
FROM items it
JOIN cases c ON c.case_id = it.case_id
LEFT JOIN caseworkers w ON w.caseworker_id = c.caseworker_id
LEFT JOIN children ch ON ch.child_id = c.child_id
