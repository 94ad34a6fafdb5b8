-- Production per unit (with its sub-units) in the ISO week of each as-of date, Monday through the as-of date.
-- For a Sunday as-of that is the whole week. Every unit gets a row, zeros included. Events count at
-- the unit of their case: investigations started and completed, action plans created, follow-ups
-- performed, measures started.
WITH weeks AS (
    SELECT as_of,
           as_of - (CAST(date_part('isodow', as_of) AS BIGINT) - 1) AS week_start,
           concat(CAST(date_part('isoyear', as_of) AS VARCHAR), '-W', lpad(CAST(date_part('week', as_of) AS VARCHAR), 2, '0')) AS week
    FROM as_of_dates
),
events AS (
    SELECT case_key, started_on AS on_date, 'investigations_started' AS kind FROM investigations
    UNION ALL
    SELECT case_key, completed_on, 'investigations_completed' FROM investigations WHERE completed_on IS NOT NULL
    UNION ALL
    SELECT case_key, created_on, 'action_plans_created' FROM action_plans
    UNION ALL
    SELECT case_key, performed_on, 'follow_ups_performed' FROM follow_ups
    UNION ALL
    SELECT case_key, started_on, 'measures_started' FROM measures
),
per_unit AS (
    SELECT w.as_of, c.unit_id,
           count(*) FILTER (WHERE e.kind = 'investigations_started') AS investigations_started,
           count(*) FILTER (WHERE e.kind = 'investigations_completed') AS investigations_completed,
           count(*) FILTER (WHERE e.kind = 'action_plans_created') AS action_plans_created,
           count(*) FILTER (WHERE e.kind = 'follow_ups_performed') AS follow_ups_performed,
           count(*) FILTER (WHERE e.kind = 'measures_started') AS measures_started
    FROM weeks w
    JOIN events e ON e.on_date BETWEEN w.week_start AND w.as_of
    JOIN cases c ON c.case_key = e.case_key
    GROUP BY w.as_of, c.unit_id
),
rolled_up AS (
    SELECT p.as_of, t.ancestor_id AS unit_id,
           sum(p.investigations_started) AS investigations_started,
           sum(p.investigations_completed) AS investigations_completed,
           sum(p.action_plans_created) AS action_plans_created,
           sum(p.follow_ups_performed) AS follow_ups_performed,
           sum(p.measures_started) AS measures_started
    FROM per_unit p
    JOIN unit_tree t ON t.unit_id = p.unit_id
    GROUP BY p.as_of, t.ancestor_id
)
SELECT w.as_of, u.unit_id, w.week, w.week_start,
       coalesce(r.investigations_started, 0) AS investigations_started,
       coalesce(r.investigations_completed, 0) AS investigations_completed,
       coalesce(r.action_plans_created, 0) AS action_plans_created,
       coalesce(r.follow_ups_performed, 0) AS follow_ups_performed,
       coalesce(r.measures_started, 0) AS measures_started
FROM weeks w
CROSS JOIN units u
LEFT JOIN rolled_up r ON r.as_of = w.as_of AND r.unit_id = u.unit_id
