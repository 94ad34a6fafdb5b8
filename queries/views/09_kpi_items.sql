-- One row per item a KPI counts (its denominator), with ok = counted in the numerator.
-- Items sit at the unit of their case. The window is as-of − 364 … as-of (SPEC §4).
-- The two case KPIs read case_compliance, which is computed once per set of dates.
SELECT as_of, 'plan_coverage' AS kpi_id, unit_id, case_id AS item_id, case_id, NOT plan_missing AS ok
FROM case_compliance
WHERE plan_required
UNION ALL
SELECT as_of, 'follow_up_on_time', unit_id, case_id AS item_id, case_id, follow_ups_overdue = 0
FROM case_compliance
WHERE measures_needing_follow_up > 0
UNION ALL
SELECT d.as_of, 'plan_on_time', m.unit_id, m.measure_id, m.case_id,
       coalesce(fp.first_plan_on <= m.plan_due_on, false)
FROM as_of_dates d
JOIN measure_rules m
  ON m.needs_plan
 AND m.started_on <= d.as_of
 AND m.plan_due_on BETWEEN d.as_of - INTERVAL '364 days' AND d.as_of
LEFT JOIN case_first_plans fp ON fp.case_key = m.case_key
WHERE m.ended_on IS NULL OR m.ended_on >= m.plan_due_on
UNION ALL
SELECT as_of, 'investigation_within_limit', unit_id, investigation_id, case_id, within_limit
FROM open_investigations
UNION ALL
SELECT d.as_of, 'investigation_completed_within_limit', i.unit_id, i.investigation_id, i.case_id,
       i.completed_on <= i.deadline_on
FROM as_of_dates d
JOIN investigation_deadlines i
  ON i.started_on <= d.as_of
 AND i.completed_on BETWEEN d.as_of - INTERVAL '364 days' AND d.as_of
