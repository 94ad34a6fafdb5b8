-- One row per active case and as-of date: compliance flags and due dates.
-- The view the KPIs, the weekly report and analysts build on. active_measures, any_acute and
-- active_monthly_cost_dkk describe the case's active measures (monthly cost null as 0,
-- summed in whole øre: a sum of binary floating-point amounts depends on the order rows
-- come in, and recovery_cases orders by it).
-- The case's plan-requiring measures, follow-up measures and open investigations are
-- gathered as facts beside the active case itself and counted in one aggregation, which
-- keeps the active cases (three aggregations and three joins cost twice as much, and a
-- join of the counts to the active cases built its hash table on the (as-of, case) rows).
-- Joins and groups use the integer case_key, not the string case_id. What is only tested
-- (whether a plan is required, whether the case itself is active) is a bool_or, a bit per
-- (as-of, case) group where a sum holds 8 bytes: at 14 dates and a million cases the
-- groups' state is the trend's largest memory.
WITH facts AS (
    -- Every active measure: counted (the lawful-case audit needs cases with one), with its
    -- acute flag and monthly cost; a plan-requiring one whose plan is due by the as-of date
    -- (and has not lapsed) also counts for the plan.
    SELECT as_of, case_key,
           1 AS active_measures, acute, CAST(round(coalesce(monthly_cost_dkk, 0) * 100) AS BIGINT) AS monthly_cost_ore,
           needs_plan AND plan_due_on <= as_of AND (ended_on IS NULL OR ended_on >= plan_due_on) AS plan_measure,
           CASE WHEN needs_plan AND plan_due_on <= as_of AND (ended_on IS NULL OR ended_on >= plan_due_on) THEN plan_due_on END AS plan_due_on,
           0 AS follow_up_measures, 0 AS follow_up_overdue, CAST(NULL AS DATE) AS follow_up_due_on,
           0 AS investigations, 0 AS investigation_overdue, CAST(NULL AS DATE) AS deadline_on,
           false AS active_case
    FROM active_measures
    UNION ALL
    SELECT as_of, case_key, 0, false, 0, false, NULL, 1, CASE WHEN overdue THEN 1 ELSE 0 END, follow_up_due_on, 0, 0, NULL, false
    FROM follow_up_due
    UNION ALL
    SELECT as_of, case_key, 0, false, 0, false, NULL, 0, 0, NULL, 1, CASE WHEN within_limit THEN 0 ELSE 1 END, deadline_on, false
    FROM open_investigations
    UNION ALL
    -- The active case itself: the cases the view has a row for.
    SELECT as_of, case_key, 0, false, 0, false, NULL, 0, 0, NULL, 0, 0, NULL, true
    FROM active_cases
),
per_case AS (
    SELECT as_of, case_key,
           sum(active_measures) AS active_measures,
           bool_or(acute) AS any_acute,
           sum(monthly_cost_ore) AS active_monthly_cost_ore,
           bool_or(plan_measure) AS plan_required,
           min(plan_due_on) AS plan_due_on,
           sum(follow_up_measures) AS measures_needing_follow_up,
           sum(follow_up_overdue) AS follow_ups_overdue,
           min(follow_up_due_on) AS next_follow_up_due_on,
           sum(investigations) AS open_investigations,
           sum(investigation_overdue) AS investigations_overdue,
           min(deadline_on) AS investigation_deadline_on
    FROM facts
    GROUP BY as_of, case_key
    HAVING bool_or(active_case)
)
SELECT
    c.as_of,
    k.case_id,
    c.case_key,
    k.unit_id,
    k.unit_key,
    k.caseworker_id,
    k.child_id,
    k.opened_on,
    k.target_group,
    coalesce(c.plan_required, false) AS plan_required,
    c.plan_due_on,
    k.first_plan_on,
    coalesce(c.plan_required, false) AND (k.first_plan_on IS NULL OR k.first_plan_on > c.as_of) AS plan_missing,
    coalesce(c.measures_needing_follow_up, 0) AS measures_needing_follow_up,
    coalesce(c.follow_ups_overdue, 0) AS follow_ups_overdue,
    c.next_follow_up_due_on,
    coalesce(c.open_investigations, 0) AS open_investigations,
    coalesce(c.investigations_overdue, 0) AS investigations_overdue,
    c.investigation_deadline_on,
    coalesce(c.active_measures, 0) AS active_measures,
    coalesce(c.any_acute, false) AS any_acute,
    CAST(coalesce(c.active_monthly_cost_ore, 0) AS DOUBLE) / 100 AS active_monthly_cost_dkk
-- Each (as-of, case) row takes its case's columns and its first plan from one row per case,
-- joined to the cases before they meet the (as-of, case) rows: one join of the wide rows
-- rather than two, and it is written from the cases' side (a right join), so its hash table
-- holds the cases (a million at scale 100), not the (as-of, case) rows (five million at 13
-- dates).
FROM (
    SELECT k.case_id, k.case_key, k.child_id, k.unit_id, k.unit_key, k.caseworker_id, k.opened_on, k.target_group, fp.first_plan_on
    FROM case_first_plans fp
    RIGHT JOIN cases k ON fp.case_key = k.case_key
) k
RIGHT JOIN per_case c ON k.case_key = c.case_key
