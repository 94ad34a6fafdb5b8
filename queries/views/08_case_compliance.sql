-- One row per active case and as-of date: compliance flags and due dates.
-- The view the KPIs, the weekly report and analysts build on.
WITH plan_need AS (
    -- Active plan-requiring measures whose plan is due by the as-of date (and has not lapsed).
    SELECT as_of, case_id, count(*) AS measures_needing_plan, min(plan_due_on) AS plan_due_on
    FROM active_measures
    WHERE needs_plan AND plan_due_on <= as_of AND (ended_on IS NULL OR ended_on >= plan_due_on)
    GROUP BY as_of, case_id
),
follow_up AS (
    SELECT as_of, case_id,
           count(*) AS measures_needing_follow_up,
           count(*) FILTER (WHERE overdue) AS follow_ups_overdue,
           min(follow_up_due_on) AS next_follow_up_due_on
    FROM follow_up_due
    GROUP BY as_of, case_id
),
investigation AS (
    SELECT as_of, case_id,
           count(*) AS open_investigations,
           count(*) FILTER (WHERE NOT within_limit) AS investigations_overdue,
           min(deadline_on) AS investigation_deadline_on
    FROM open_investigations
    GROUP BY as_of, case_id
)
SELECT
    c.as_of,
    c.case_id,
    c.unit_id,
    c.caseworker_id,
    c.child_id,
    c.opened_on,
    c.target_group,
    coalesce(pn.measures_needing_plan, 0) > 0 AS plan_required,
    pn.plan_due_on,
    fp.first_plan_on,
    coalesce(pn.measures_needing_plan, 0) > 0 AND (fp.first_plan_on IS NULL OR fp.first_plan_on > c.as_of) AS plan_missing,
    coalesce(fu.measures_needing_follow_up, 0) AS measures_needing_follow_up,
    coalesce(fu.follow_ups_overdue, 0) AS follow_ups_overdue,
    fu.next_follow_up_due_on,
    coalesce(iv.open_investigations, 0) AS open_investigations,
    coalesce(iv.investigations_overdue, 0) AS investigations_overdue,
    iv.investigation_deadline_on
FROM active_cases c
LEFT JOIN plan_need pn ON pn.as_of = c.as_of AND pn.case_id = c.case_id
LEFT JOIN case_first_plans fp ON fp.case_id = c.case_id
LEFT JOIN follow_up fu ON fu.as_of = c.as_of AND fu.case_id = c.case_id
LEFT JOIN investigation iv ON iv.as_of = c.as_of AND iv.case_id = c.case_id
