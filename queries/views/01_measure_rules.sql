-- Every measure with its paragraph rule, its case's unit and its action-plan due date.
-- Independent of the as-of date; plan_due_on is null where no plan is needed (docs/rules.md, docs/kpis.md).
-- The case id comes with the case's other columns (the measures hold it as a key).
SELECT
    m.measure_id,
    m.measure_key,
    c.case_id,
    c.case_key,
    c.unit_id,
    c.unit_key,
    m.paragraph,
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
