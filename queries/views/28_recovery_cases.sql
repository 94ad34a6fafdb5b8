-- The active cases with a measure that fail the lawful-case checklist, in recovery order (genopretning): acute first, then monthly cost, highest first, then case_id.
-- position 1 is the first case to recover in the whole export at that date. acute: any
-- active measure is acute; monthly_cost_dkk: the active measures' monthly_cost_dkk summed
-- (null as 0); missing: the missing elements' names in checklist order, joined by ';'.
SELECT c.as_of,
       row_number() OVER (PARTITION BY c.as_of ORDER BY c.any_acute DESC, c.active_monthly_cost_dkk DESC, c.case_id) AS position,
       c.case_id, c.unit_id, c.caseworker_id, c.any_acute AS acute, c.active_monthly_cost_dkk AS monthly_cost_dkk,
       concat_ws(';',
           CASE WHEN NOT c.investigated THEN 'investigated' END,
           CASE WHEN NOT c.child_heard THEN 'child_heard' END,
           CASE WHEN NOT c.parties_consulted THEN 'parties_consulted' END,
           CASE WHEN NOT c.decision_with_guidance THEN 'decision_with_guidance' END,
           CASE WHEN NOT c.plan THEN 'plan' END,
           CASE WHEN NOT c.followed_up THEN 'followed_up' END) AS missing
FROM case_checklist c
WHERE c.checklist_applies AND NOT c.lawful
