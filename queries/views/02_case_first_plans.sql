-- For each case with an action plan: the date of its first plan. "Had a plan by date X"
-- is then first_plan_on <= X, which also respects "a record exists at T only if created by T".
SELECT case_id, min(created_on) AS first_plan_on, count(*) AS plans
FROM action_plans
GROUP BY case_id
