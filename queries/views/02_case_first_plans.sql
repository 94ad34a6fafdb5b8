-- Each case's first action plan date: "had a plan by X" is first_plan_on <= X.
-- This also respects "a record exists at T only if created by T".
SELECT p.case_id, c.case_key, p.first_plan_on, p.plans
FROM (
    SELECT case_id, min(created_on) AS first_plan_on, count(*) AS plans
    FROM action_plans
    GROUP BY case_id
) p
JOIN cases c ON c.case_id = p.case_id
