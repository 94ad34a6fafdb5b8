-- Every measure with its paragraph rule, its case's unit and its action-plan due date.
-- Independent of the as-of date; plan_due_on is null where no plan is needed (docs/rules.md, docs/kpis.md).
-- The ids are given by their keys (by_key): the join carries numbers, not text.
SELECT
    by_key('measures', 'measure_id', m.measure_key) AS measure_id,
    m.measure_key,
    by_key('cases', 'case_id', c.case_key) AS case_id,
    c.case_key,
    by_key('units', 'unit_id', c.unit_key) AS unit_id,
    c.unit_key,
    by_key('measures', 'paragraph', m.measure_key) AS paragraph,
    r.rule_prefix,
    m.started_on,
    m.ended_on,
    m.decided_on,
    m.acute,
    m.monthly_cost_dkk,
    r.needs_plan,
    r.needs_follow_up,
    CASE
        WHEN NOT r.needs_plan THEN NULL
        WHEN m.acute THEN
            CASE r.acute_plan_due_from WHEN 'decision' THEN coalesce(m.decided_on, m.started_on) ELSE m.started_on END
            + r.acute_plan_within
        ELSE
            CASE r.plan_due_from WHEN 'decision' THEN coalesce(m.decided_on, m.started_on) ELSE m.started_on END
            + r.plan_within
    END AS plan_due_on
FROM measures m
JOIN cases c ON c.case_key = m.case_key
JOIN paragraph_rules r ON r.paragraph = m.paragraph
