-- Deadlines in the 4 weeks after each as-of date (as_of+1 … as_of+28) at their case's unit, with ISO week.
-- kind: investigation_deadline (open investigation), plan_due (active plan-requiring measure of an
-- active case without a plan, unless the measure ends before the due date), follow_up_due (active
-- follow-up measure of an active case). weeks_ahead counts ISO weeks from the as-of date's week, so
-- for a Sunday as-of (end of week W) the items fall in W+1 … W+4.
WITH items AS (
    SELECT i.as_of, i.case_id, 'investigation_deadline' AS kind, i.investigation_id AS item_id, i.deadline_on AS due_on
    FROM open_investigations i
    UNION ALL
    SELECT m.as_of, m.case_id, 'plan_due', m.measure_id, m.plan_due_on
    FROM active_measures m
    JOIN active_cases a ON a.as_of = m.as_of AND a.case_key = m.case_key
    LEFT JOIN case_first_plans fp ON fp.case_key = m.case_key AND fp.first_plan_on <= m.as_of
    WHERE m.needs_plan AND fp.case_id IS NULL AND (m.ended_on IS NULL OR m.ended_on >= m.plan_due_on)
    UNION ALL
    SELECT f.as_of, f.case_id, 'follow_up_due', f.measure_id, f.follow_up_due_on
    FROM follow_up_due f
    JOIN active_cases a ON a.as_of = f.as_of AND a.case_key = f.case_key
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
    concat(CAST(date_part('isoyear', it.due_on) AS VARCHAR), '-W', lpad(CAST(date_part('week', it.due_on) AS VARCHAR), 2, '0')) AS due_week,
    CAST(((it.due_on - CAST(date_part('isodow', it.due_on) AS BIGINT))
          - (it.as_of - CAST(date_part('isodow', it.as_of) AS BIGINT))) / 7 AS INT) AS weeks_ahead,
    it.due_on - it.as_of AS days_left
FROM items it
JOIN cases c ON c.case_id = it.case_id
LEFT JOIN caseworkers w ON w.caseworker_id = c.caseworker_id
LEFT JOIN children ch ON ch.child_id = c.child_id
WHERE it.due_on > it.as_of AND it.due_on <= it.as_of + 28
