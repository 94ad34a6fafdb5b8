-- Each case's first action plan date: "had a plan by X" is first_plan_on <= X.
-- This also respects "a record exists at T only if created by T".
-- Grouped by the case's key alone, its id given by the key (by_key).
SELECT by_key('cases', 'case_id', case_key) AS case_id, case_key, first_plan_on, plans
FROM (
    SELECT case_key, min(created_on) AS first_plan_on, count(*) AS plans
    FROM action_plans
    GROUP BY case_key
) p
