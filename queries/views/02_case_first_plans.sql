-- Each case's first action plan date: "had a plan by X" is first_plan_on <= X.
-- This also respects "a record exists at T only if created by T".
SELECT case_id, case_key, min(created_on) AS first_plan_on, count(*) AS plans
FROM action_plans
GROUP BY case_key, case_id
