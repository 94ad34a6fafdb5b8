-- One row per item a KPI counts (its denominator), with ok = counted in the numerator.
-- Items sit at the unit of their case. The window is as-of − 364 … as-of (SPEC §4).
-- The two case KPIs read case_compliance once: a case counts in plan_coverage when it
-- requires a plan and in follow_up_on_time when it has follow-up measures, so its pair
-- of flags (1 = plan, 2 = follow-up, 3 = both) picks its KPIs from a four-row list by an
-- equi-join (a join on the flags themselves would be a nested loop over all cases).
SELECT c.as_of, k.kpi_id, c.unit_id, c.case_id AS item_id, c.case_id,
       CASE k.kpi_id WHEN 'plan_coverage' THEN NOT c.plan_missing ELSE c.follow_ups_overdue = 0 END AS ok
FROM (
    SELECT *, CASE WHEN plan_required THEN 1 ELSE 0 END + CASE WHEN measures_needing_follow_up > 0 THEN 2 ELSE 0 END AS kpi_flags
    FROM case_compliance
) c
JOIN (VALUES (1, 'plan_coverage'), (3, 'plan_coverage'), (2, 'follow_up_on_time'), (3, 'follow_up_on_time')) AS k(kpi_flags, kpi_id)
  ON k.kpi_flags = c.kpi_flags
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
