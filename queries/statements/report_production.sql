-- The weekly report's production table: each unit's ISO week of every as-of date, oldest first.
SELECT as_of, unit_id, week, week_start,
       investigations_started, investigations_completed, action_plans_created, follow_ups_performed, measures_started
FROM report_production
ORDER BY unit_id, as_of
