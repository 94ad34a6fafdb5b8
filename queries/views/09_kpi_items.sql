-- One row per item a KPI counts, with ok = counted in the numerator and in_denominator = counted in the denominator.
-- Items sit at the unit of their case (notifications and complaints: their own unit_id);
-- unit_key is that unit's row number in this run, which the KPI table counts by.
-- The window W is as-of − 364 … as-of (docs/kpis.md). For every KPI but the complaints an item
-- is in the denominator and ok says whether it meets the deadline. Complaints are counts:
-- a complaint received in W is in the numerator, one received in the baseline B in the
-- denominator (B: the 365 days before W, or the rules' baseline_year).
-- The three case KPIs read case_checklist once: a case counts in plan_coverage when it
-- requires a plan, in follow_up_on_time when it has follow-up measures, and in lawful_case
-- when the checklist applies (an active measure, and case events in the export), so its
-- flags (1 = plan, 2 = follow-up, 4 = checklist) pick its KPIs from a short list by an
-- equi-join (a join on the flags themselves would be a nested loop over all cases). Each
-- picked row carries its KPI's flag, and ok tests that flag (integers and booleans, where a
-- CASE on the KPI's name compared strings row by row).
SELECT c.as_of, k.kpi_id, c.unit_id, c.case_id AS item_id, c.case_id,
       (k.kpi_flag = 1 AND NOT c.plan_missing)
           OR (k.kpi_flag = 2 AND c.follow_ups_overdue = 0)
           OR (k.kpi_flag = 4 AND c.lawful) AS ok,
       true AS in_denominator,
       c.unit_key
FROM (
    SELECT *, CASE WHEN plan_required THEN 1 ELSE 0 END
              + CASE WHEN measures_needing_follow_up > 0 THEN 2 ELSE 0 END
              + CASE WHEN checklist_applies THEN 4 ELSE 0 END AS kpi_flags
    FROM case_checklist
) c
JOIN (VALUES (1, 'plan_coverage', 1), (3, 'plan_coverage', 1), (5, 'plan_coverage', 1), (7, 'plan_coverage', 1),
             (2, 'follow_up_on_time', 2), (3, 'follow_up_on_time', 2), (6, 'follow_up_on_time', 2), (7, 'follow_up_on_time', 2),
             (4, 'lawful_case', 4), (5, 'lawful_case', 4), (6, 'lawful_case', 4), (7, 'lawful_case', 4)) AS k(kpi_flags, kpi_id, kpi_flag)
  ON k.kpi_flags = c.kpi_flags
UNION ALL
-- Whether a measure's plan came in time does not depend on the date, so it is worked out
-- once per measure whose due date falls in some date's window, before the dates meet them.
SELECT d.as_of, 'plan_on_time', m.unit_id, m.measure_id, m.case_id, m.plan_on_time, true, m.unit_key
FROM as_of_dates d
JOIN (
    SELECT m.unit_id, m.unit_key, m.measure_id, m.case_id, m.started_on, m.plan_due_on,
           coalesce(fp.first_plan_on <= m.plan_due_on, false) AS plan_on_time
    FROM case_first_plans fp
    RIGHT JOIN measure_rules m ON fp.case_key = m.case_key
    WHERE m.needs_plan
      AND (m.ended_on IS NULL OR m.ended_on >= m.plan_due_on)
      AND m.plan_due_on >= (SELECT min(as_of) FROM as_of_dates) - INTERVAL '364 days'
      AND m.plan_due_on <= (SELECT max(as_of) FROM as_of_dates)
) m
  ON m.started_on <= d.as_of
 AND m.plan_due_on BETWEEN d.as_of - INTERVAL '364 days' AND d.as_of
UNION ALL
SELECT as_of, 'investigation_within_limit', unit_id, investigation_id, case_id, within_limit, true, unit_key
FROM open_investigations
UNION ALL
SELECT d.as_of, 'investigation_completed_within_limit', i.unit_id, i.investigation_id, i.case_id,
       i.completed_on <= i.deadline_on, true, i.unit_key
FROM as_of_dates d
JOIN investigation_deadlines i
  ON i.started_on <= d.as_of
 AND i.completed_on BETWEEN d.as_of - INTERVAL '364 days' AND d.as_of
UNION ALL
-- Applications whose deadline falls in W: decided by it; those not decided by it (late): told
-- by it. As for the case KPIs, a short list picks each application's KPIs by an equi-join
-- on its late flag, and ok tests the picked KPI's flag.
SELECT d.as_of, k.kpi_id, a.unit_id, a.decision_id, a.case_id,
       (k.letter AND coalesce(a.delay_letter_on <= a.deadline, false))
           OR (NOT k.letter AND coalesce(a.decided_on <= a.deadline, false)),
       true, a.unit_key
FROM as_of_dates d
JOIN (
    SELECT unit_id, unit_key, decision_id, case_id, applied_on, decided_on, delay_letter_on, deadline,
           decided_on IS NULL OR decided_on > deadline AS late
    FROM decision_deadlines
) a
  ON a.applied_on <= d.as_of
 AND a.deadline BETWEEN d.as_of - INTERVAL '364 days' AND d.as_of
JOIN (VALUES (false, 'decision_within_deadline', false), (true, 'decision_within_deadline', false),
             (true, 'delay_letter_sent', true)) AS k(late, kpi_id, letter)
  ON k.late = a.late
UNION ALL
-- Notifications whose assessment deadline (its Copenhagen date) falls in W.
SELECT d.as_of, 'notification_assessed_in_time', n.unit_id, n.notification_id, n.case_id,
       coalesce(n.assessed_at <= n.assessment_deadline_at, false), true, n.unit_key
FROM as_of_dates d
JOIN notification_deadlines n
  ON n.received_on <= d.as_of
 AND n.assessment_deadline_on BETWEEN d.as_of - INTERVAL '364 days' AND d.as_of
UNION ALL
-- Professionals' notifications whose receipt deadline falls in W.
SELECT d.as_of, 'notification_receipt_confirmed', n.unit_id, n.notification_id, n.case_id,
       coalesce(n.receipt_confirmed_on <= n.receipt_deadline_on, false), true, n.unit_key
FROM as_of_dates d
JOIN notification_deadlines n
  ON n.professional
 AND n.received_on <= d.as_of
 AND n.receipt_deadline_on BETWEEN d.as_of - INTERVAL '364 days' AND d.as_of
UNION ALL
-- Complaints received in W (numerator) or in the baseline B (denominator).
SELECT w.as_of, 'complaints_' || c.kind, c.unit_id, c.complaint_id, c.case_id,
       c.received_on BETWEEN w.window_from AND w.as_of,
       c.received_on BETWEEN w.baseline_from AND w.baseline_to,
       c.unit_key
FROM (
    SELECT d.as_of,
           d.as_of - INTERVAL '364 days' AS window_from,
           coalesce(make_date(p.baseline_year, 1, 1), d.as_of - INTERVAL '729 days') AS baseline_from,
           coalesce(make_date(p.baseline_year, 12, 31), d.as_of - INTERVAL '365 days') AS baseline_to
    FROM as_of_dates d
    CROSS JOIN rule_params p
) w
JOIN complaints c
  ON c.kind IN ('formalitet', 'realitet')
 AND c.received_on <= w.as_of
 AND (c.received_on BETWEEN w.window_from AND w.as_of OR c.received_on BETWEEN w.baseline_from AND w.baseline_to)
