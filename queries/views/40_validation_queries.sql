-- Legal but suspicious rows worth a look (SPEC §6 "query"): they still count in every figure.
-- One row per (as-of date, finding). The locator holds ids and dates only, as the rejected
-- rows' locators do; birth dates are never shown. `column_name` is the column concerned.
WITH
c AS (
    SELECT *, concat_ws(' ', 'case_id=' || case_id, 'unit_id=' || unit_id,
                        'opened_on=' || CAST(opened_on AS VARCHAR), 'closed_on=' || CAST(closed_on AS VARCHAR)) AS locator
    FROM cases
),
m AS (
    SELECT *, concat_ws(' ', 'measure_id=' || measure_id, 'case_id=' || case_id, 'paragraph=' || paragraph,
                        'started_on=' || CAST(started_on AS VARCHAR), 'ended_on=' || CAST(ended_on AS VARCHAR)) AS locator
    FROM measures
),
i AS (
    SELECT *, concat_ws(' ', 'investigation_id=' || investigation_id, 'case_id=' || case_id,
                        'started_on=' || CAST(started_on AS VARCHAR), 'completed_on=' || CAST(completed_on AS VARCHAR)) AS locator
    FROM investigations
),
p AS (
    SELECT *, concat_ws(' ', 'plan_id=' || plan_id, 'case_id=' || case_id, 'created_on=' || CAST(created_on AS VARCHAR)) AS locator
    FROM action_plans
),
f AS (
    SELECT *, concat_ws(' ', 'follow_up_id=' || follow_up_id, 'case_id=' || case_id, 'measure_id=' || measure_id,
                        'performed_on=' || CAST(performed_on AS VARCHAR)) AS locator
    FROM follow_ups
),
future AS (
    -- Event dates after the as-of (export) date. follow_ups.next_due_on is a deadline the
    -- caseworker set, so it may lie ahead and is not listed.
    SELECT d.as_of, 'children' AS table_name, 'birth_date' AS column_name, x.child_id AS record_id,
           CAST(NULL AS VARCHAR) AS case_id, 'child_id=' || x.child_id AS locator
    FROM as_of_dates d JOIN children x ON x.birth_date > d.as_of
    UNION ALL
    SELECT d.as_of, 'cases', 'opened_on', x.case_id AS record_id, x.case_id, x.locator FROM as_of_dates d JOIN c x ON x.opened_on > d.as_of
    UNION ALL
    SELECT d.as_of, 'cases', 'closed_on', x.case_id AS record_id, x.case_id, x.locator FROM as_of_dates d JOIN c x ON x.closed_on > d.as_of
    UNION ALL
    SELECT d.as_of, 'measures', 'started_on', x.measure_id, x.case_id, x.locator FROM as_of_dates d JOIN m x ON x.started_on > d.as_of
    UNION ALL
    SELECT d.as_of, 'measures', 'ended_on', x.measure_id, x.case_id, x.locator FROM as_of_dates d JOIN m x ON x.ended_on > d.as_of
    UNION ALL
    SELECT d.as_of, 'measures', 'decided_on', x.measure_id, x.case_id,
           concat_ws(' ', x.locator, 'decided_on=' || CAST(x.decided_on AS VARCHAR))
    FROM as_of_dates d JOIN m x ON x.decided_on > d.as_of
    UNION ALL
    SELECT d.as_of, 'investigations', 'started_on', x.investigation_id, x.case_id, x.locator
    FROM as_of_dates d JOIN i x ON x.started_on > d.as_of
    UNION ALL
    SELECT d.as_of, 'investigations', 'completed_on', x.investigation_id, x.case_id, x.locator
    FROM as_of_dates d JOIN i x ON x.completed_on > d.as_of
    UNION ALL
    SELECT d.as_of, 'investigations', 'aware_on', x.investigation_id, x.case_id,
           concat_ws(' ', x.locator, 'aware_on=' || CAST(x.aware_on AS VARCHAR))
    FROM as_of_dates d JOIN i x ON x.aware_on > d.as_of
    UNION ALL
    SELECT d.as_of, 'action_plans', 'created_on', x.plan_id, x.case_id, x.locator FROM as_of_dates d JOIN p x ON x.created_on > d.as_of
    UNION ALL
    SELECT d.as_of, 'follow_ups', 'performed_on', x.follow_up_id, x.case_id, x.locator
    FROM as_of_dates d JOIN f x ON x.performed_on > d.as_of
),
before_case AS (
    -- Records dated before their case was opened: often a case merged or re-opened
    -- under a new id.
    SELECT 'measures' AS table_name, 'started_on' AS column_name, x.measure_id AS record_id, x.case_id,
           concat_ws(' ', x.locator, 'case_opened_on=' || CAST(k.opened_on AS VARCHAR)) AS locator
    FROM m x JOIN cases k ON k.case_id = x.case_id WHERE x.started_on < k.opened_on
    UNION ALL
    SELECT 'investigations', 'started_on', x.investigation_id, x.case_id,
           concat_ws(' ', x.locator, 'case_opened_on=' || CAST(k.opened_on AS VARCHAR))
    FROM i x JOIN cases k ON k.case_id = x.case_id WHERE x.started_on < k.opened_on
    UNION ALL
    SELECT 'action_plans', 'created_on', x.plan_id, x.case_id,
           concat_ws(' ', x.locator, 'case_opened_on=' || CAST(k.opened_on AS VARCHAR))
    FROM p x JOIN cases k ON k.case_id = x.case_id WHERE x.created_on < k.opened_on
    UNION ALL
    SELECT 'follow_ups', 'performed_on', x.follow_up_id, x.case_id,
           concat_ws(' ', x.locator, 'case_opened_on=' || CAST(k.opened_on AS VARCHAR))
    FROM f x JOIN cases k ON k.case_id = x.case_id WHERE x.performed_on < k.opened_on
)
-- One finding per paragraph code no rule names (such measures need neither plan nor
-- follow-up): codes are few and measures many, and it is the code the rules owner checks.
SELECT d.as_of, 'measures' AS table_name, 'paragraph unknown to the rules' AS rule, 'paragraph' AS column_name,
       u.paragraph AS record_id, CAST(NULL AS VARCHAR) AS case_id,
       concat_ws(' ', 'paragraph=' || u.paragraph, 'measures=' || CAST(u.measures AS VARCHAR),
                 'first_measure_id=' || u.first_measure_id) AS locator
FROM as_of_dates d
CROSS JOIN (
    SELECT x.paragraph, count(*) AS measures, min(x.measure_id) AS first_measure_id
    FROM measures x
    JOIN paragraph_rules r ON r.paragraph = x.paragraph
    WHERE r.rule_prefix IS NULL
    GROUP BY x.paragraph
) u
UNION ALL
SELECT as_of, table_name, 'date after the export date', column_name, record_id, case_id, locator
FROM future
UNION ALL
-- Open for over a year at the as-of date, counted from when the investigation started.
SELECT o.as_of, 'investigations', 'investigation open over a year', 'completed_on', x.investigation_id, x.case_id, x.locator
FROM open_investigations o
JOIN i x ON x.investigation_id = o.investigation_id
WHERE o.started_on + INTERVAL '1 year' < o.as_of
UNION ALL
-- SPEC §4: an investigation never completed stays open after its case closed.
SELECT o.as_of, 'investigations', 'investigation open on a closed case', 'completed_on', x.investigation_id, x.case_id,
       concat_ws(' ', x.locator, 'case_closed_on=' || CAST(k.closed_on AS VARCHAR))
FROM open_investigations o
JOIN i x ON x.investigation_id = o.investigation_id
JOIN cases k ON k.case_id = o.case_id
WHERE k.closed_on < o.as_of
UNION ALL
SELECT a.as_of, 'cases', 'active case without caseworker', 'caseworker_id', a.case_id AS record_id, a.case_id, x.locator
FROM active_cases a
JOIN c x ON x.case_id = a.case_id
WHERE a.caseworker_id IS NULL
UNION ALL
-- A measure still running after its case closed is left out of plan_coverage and
-- follow_up_on_time, which only look at active cases.
SELECT d.as_of, 'measures', 'measure runs after its case closed', 'ended_on', x.measure_id, x.case_id,
       concat_ws(' ', x.locator, 'case_closed_on=' || CAST(k.closed_on AS VARCHAR))
FROM as_of_dates d
CROSS JOIN m x
JOIN cases k ON k.case_id = x.case_id
WHERE k.closed_on < d.as_of AND x.started_on <= d.as_of AND (x.ended_on IS NULL OR x.ended_on > k.closed_on)
UNION ALL
SELECT d.as_of, b.table_name, 'dated before its case opened', b.column_name, b.record_id, b.case_id, b.locator
FROM as_of_dates d
CROSS JOIN before_case b
UNION ALL
SELECT d.as_of, 'follow_ups', 'next due date before the follow-up', 'next_due_on', x.follow_up_id, x.case_id,
       concat_ws(' ', x.locator, 'next_due_on=' || CAST(x.next_due_on AS VARCHAR))
FROM as_of_dates d
CROSS JOIN f x
WHERE x.next_due_on < x.performed_on
UNION ALL
SELECT d.as_of, 'investigations', 'aware after the investigation started', 'aware_on', x.investigation_id, x.case_id,
       concat_ws(' ', x.locator, 'aware_on=' || CAST(x.aware_on AS VARCHAR))
FROM as_of_dates d
CROSS JOIN i x
WHERE x.aware_on > x.started_on
