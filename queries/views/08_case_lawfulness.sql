-- One row per active case with an active measure and as-of date: the lawful-case checklist (SPEC §4b), each element a column.
-- The elements Frederiksberg's 2019 audit found missing: investigated (an investigation
-- completed by the date, or a maalgruppeafklaring event by it, as handicap cases have),
-- child_heard (a boernesamtale in the window, as-of − 364 … as-of), parties_consulted (a
-- partshoering by the date), decision_with_guidance (an afgoerelse_med_klagevejledning by
-- it), plan (no action plan missing, as plan_coverage counts it; a case needing no plan
-- meets it) and followed_up (no follow-up measure overdue). lawful: all six.
-- Without a case_events table the view is empty: no events is unknown, not unlawful.
WITH cases_with_measure AS (
    SELECT DISTINCT as_of, case_key FROM active_measures
),
events AS (
    SELECT d.as_of, e.case_key,
           bool_or(e.kind = 'maalgruppeafklaring') AS target_group_clarified,
           bool_or(e.kind = 'boernesamtale' AND e.occurred_on >= d.as_of - INTERVAL '364 days') AS child_heard,
           bool_or(e.kind = 'partshoering') AS parties_consulted,
           bool_or(e.kind = 'afgoerelse_med_klagevejledning') AS decision_with_guidance
    FROM as_of_dates d
    JOIN case_events e
      ON e.occurred_on <= d.as_of
     AND e.kind IN ('maalgruppeafklaring', 'boernesamtale', 'partshoering', 'afgoerelse_med_klagevejledning')
    GROUP BY d.as_of, e.case_key
),
investigated AS (
    SELECT DISTINCT d.as_of, i.case_key
    FROM as_of_dates d
    JOIN investigations i ON i.completed_on <= d.as_of
),
checklist AS (
    SELECT c.as_of, c.case_id, c.case_key, c.unit_id, c.caseworker_id,
           i.case_key IS NOT NULL OR coalesce(e.target_group_clarified, false) AS investigated,
           coalesce(e.child_heard, false) AS child_heard,
           coalesce(e.parties_consulted, false) AS parties_consulted,
           coalesce(e.decision_with_guidance, false) AS decision_with_guidance,
           NOT c.plan_missing AS plan,
           c.follow_ups_overdue = 0 AS followed_up
    FROM case_compliance c
    JOIN cases_with_measure m ON m.as_of = c.as_of AND m.case_key = c.case_key
    LEFT JOIN events e ON e.as_of = c.as_of AND e.case_key = c.case_key
    LEFT JOIN investigated i ON i.as_of = c.as_of AND i.case_key = c.case_key
    WHERE EXISTS (SELECT 1 FROM export_tables t WHERE t.table_name = 'case_events' AND t.present)
)
SELECT *,
       investigated AND child_heard AND parties_consulted AND decision_with_guidance AND plan AND followed_up AS lawful
FROM checklist
