-- The active cases with a measure that fail the lawful-case checklist, in recovery order (genopretning): acute first, then monthly cost, highest first, then case_id.
-- position 1 is the first case to recover in the whole export at that date. acute: any
-- active measure is acute; monthly_cost_dkk: the active measures' monthly_cost_dkk summed
-- (null as 0); missing: the missing elements' names in checklist order, joined by ';'.
WITH measures_now AS (
    SELECT as_of, case_key, bool_or(acute) AS acute, sum(coalesce(monthly_cost_dkk, 0)) AS monthly_cost_dkk
    FROM active_measures
    GROUP BY as_of, case_key
)
SELECT l.as_of,
       row_number() OVER (PARTITION BY l.as_of ORDER BY m.acute DESC, m.monthly_cost_dkk DESC, l.case_id) AS position,
       l.case_id, l.unit_id, l.caseworker_id, m.acute, m.monthly_cost_dkk,
       concat_ws(';',
           CASE WHEN NOT l.investigated THEN 'investigated' END,
           CASE WHEN NOT l.child_heard THEN 'child_heard' END,
           CASE WHEN NOT l.parties_consulted THEN 'parties_consulted' END,
           CASE WHEN NOT l.decision_with_guidance THEN 'decision_with_guidance' END,
           CASE WHEN NOT l.plan THEN 'plan' END,
           CASE WHEN NOT l.followed_up THEN 'followed_up' END) AS missing
FROM case_lawfulness l
JOIN measures_now m ON m.as_of = l.as_of AND m.case_key = l.case_key
WHERE NOT l.lawful
