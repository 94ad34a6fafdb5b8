-- One row per active case and as-of date: case_compliance with the lawful-case checklist (docs/kpis.md) beside it; case_lawfulness lists the cases it applies to.
-- The elements of Frederiksberg's 2019 audit: investigated (an investigation completed by
-- the date, or a maalgruppeafklaring event by it, as handicap cases have), child_heard (a
-- boernesamtale in the window, as-of − 364 … as-of), parties_consulted (a partshoering by
-- the date), decision_with_guidance (an afgoerelse_med_klagevejledning by it), plan (no
-- action plan missing, as plan_coverage counts it; a case needing no plan meets it) and
-- followed_up (no follow-up measure overdue); lawful: all six. checklist_applies: the case
-- has an active measure and the export has a case_events table. Without one the checklist
-- is unknown, not failed: the four elements drawn from the events (investigated among them,
-- as a target group clarification is an event) and lawful are null, and the events and the
-- investigations are not gathered (a million cases' first dates at scale 100, for elements
-- no KPI or list would read). The KPIs read this view once for all three case KPIs, so
-- case_compliance is computed once.
WITH events_table AS (
    SELECT bool_or(present) AS present FROM export_tables WHERE table_name = 'case_events'
),
first_dates AS (
    -- "By the date" only needs each kind's first occurrence. The events' kinds and the
    -- investigations' completions are gathered in one aggregation per case, so the
    -- (as-of, case) rows are joined with them once, not twice.
    SELECT case_key,
           min(occurred_on) FILTER (WHERE kind = 'maalgruppeafklaring') AS first_target_group_clarification_on,
           min(occurred_on) FILTER (WHERE kind = 'partshoering') AS first_consultation_on,
           min(occurred_on) FILTER (WHERE kind = 'afgoerelse_med_klagevejledning') AS first_decision_with_guidance_on,
           min(completed_on) AS first_completed_on
    FROM (
        SELECT case_key, kind, occurred_on, CAST(NULL AS DATE) AS completed_on
        FROM case_events
        WHERE kind IN ('maalgruppeafklaring', 'partshoering', 'afgoerelse_med_klagevejledning')
        UNION ALL
        SELECT case_key, NULL, NULL, completed_on
        FROM investigations
        WHERE completed_on IS NOT NULL
    ) dated
    WHERE (SELECT present FROM events_table)
    GROUP BY case_key
),
heard AS (
    -- Each child conversation holds, as the case's latest one, from its date until the next
    -- one's: at a date, the case's child was heard when its latest conversation by then is
    -- in the window. One row per conversation, rather than one per date it covers, so the
    -- join below hashes the conversations, not the (as-of, case) pairs. Only conversations
    -- that can be in some date's window are kept; several on one date give the earlier
    -- rows empty spans (heard_until = heard_on). One ordered window over all rows, as in
    -- follow_up_periods.
    SELECT case_key, occurred_on AS heard_on,
           CASE WHEN lead(case_key) OVER w = case_key THEN lead(occurred_on) OVER w END AS heard_until
    FROM case_events
    WHERE kind = 'boernesamtale'
      AND (SELECT present FROM events_table)
      AND occurred_on >= (SELECT min(as_of) FROM as_of_dates) - INTERVAL '364 days'
      AND occurred_on <= (SELECT max(as_of) FROM as_of_dates)
    WINDOW w AS (ORDER BY case_key, occurred_on)
),
checklist AS (
    SELECT c.* EXCLUDE (events_present, first_target_group_clarification_on, first_consultation_on,
                        first_decision_with_guidance_on, first_completed_on),
           c.active_measures > 0 AND c.events_present AS checklist_applies,
           c.events_present,
           CASE WHEN c.events_present THEN
               coalesce(c.first_completed_on <= c.as_of, false)
               OR coalesce(c.first_target_group_clarification_on <= c.as_of, false) END AS investigated,
           CASE WHEN c.events_present THEN h.case_key IS NOT NULL END AS child_heard,
           CASE WHEN c.events_present THEN coalesce(c.first_consultation_on <= c.as_of, false) END AS parties_consulted,
           CASE WHEN c.events_present THEN coalesce(c.first_decision_with_guidance_on <= c.as_of, false) END AS decision_with_guidance,
           NOT c.plan_missing AS plan,
           c.follow_ups_overdue = 0 AS followed_up
    -- Each join is written from its small side (a right join), so its hash table is built
    -- there: events_table (one row) for the cross join, the first dates (one row per case)
    -- and the conversations rather than the wide (as-of, case) rows.
    FROM heard h
    RIGHT JOIN (
        SELECT c.*, x.present AS events_present
        FROM events_table x
        CROSS JOIN (
            SELECT c.*, e.first_target_group_clarification_on, e.first_consultation_on,
                   e.first_decision_with_guidance_on, e.first_completed_on
            FROM first_dates e
            RIGHT JOIN case_compliance c ON e.case_key = c.case_key
        ) c
    ) c ON h.case_key = c.case_key
       AND h.heard_on <= c.as_of
       AND (h.heard_until IS NULL OR h.heard_until > c.as_of)
       AND h.heard_on >= c.as_of - INTERVAL '364 days'
)
SELECT * EXCLUDE (events_present),
       CASE WHEN events_present THEN
           investigated AND child_heard AND parties_consulted AND decision_with_guidance AND plan AND followed_up END AS lawful
FROM checklist
