-- Legal but suspicious rows worth a look (a "query", docs/export.md), without their locators:
-- one row per (as-of date, finding), naming the table and id of the row concerned.
-- `detail` holds the dates that explain the finding beyond the row's own (e.g. the case's
-- opening date); validation_queries adds each row's locator. Kept apart so locators are
-- built for the few findings only, not for every row of every table.
WITH future AS (
    -- Event dates after the as-of (export) date. follow_ups.next_due_on is a deadline the
    -- caseworker set, so it may lie ahead and is not listed.
    SELECT d.as_of, 'children' AS table_name, 'birth_date' AS column_name, x.child_id AS record_id,
           CAST(NULL AS INT) AS case_key, CAST(NULL AS VARCHAR) AS case_id, CAST(NULL AS VARCHAR) AS detail
    FROM as_of_dates d JOIN children x ON x.birth_date > d.as_of
    UNION ALL
    SELECT d.as_of, 'cases', 'opened_on', x.case_id AS record_id, x.case_key, NULL, NULL FROM as_of_dates d JOIN cases x ON x.opened_on > d.as_of
    UNION ALL
    SELECT d.as_of, 'cases', 'closed_on', x.case_id AS record_id, x.case_key, NULL, NULL FROM as_of_dates d JOIN cases x ON x.closed_on > d.as_of
    UNION ALL
    SELECT d.as_of, 'measures', 'started_on', x.measure_id, x.case_key, NULL, NULL FROM as_of_dates d JOIN measures x ON x.started_on > d.as_of
    UNION ALL
    SELECT d.as_of, 'measures', 'ended_on', x.measure_id, x.case_key, NULL, NULL FROM as_of_dates d JOIN measures x ON x.ended_on > d.as_of
    UNION ALL
    SELECT d.as_of, 'measures', 'decided_on', x.measure_id, x.case_key, NULL, 'decided_on=' || CAST(x.decided_on AS VARCHAR)
    FROM as_of_dates d JOIN measures x ON x.decided_on > d.as_of
    UNION ALL
    SELECT d.as_of, 'investigations', 'started_on', x.investigation_id, x.case_key, NULL, NULL
    FROM as_of_dates d JOIN investigations x ON x.started_on > d.as_of
    UNION ALL
    SELECT d.as_of, 'investigations', 'completed_on', x.investigation_id, x.case_key, NULL, NULL
    FROM as_of_dates d JOIN investigations x ON x.completed_on > d.as_of
    UNION ALL
    SELECT d.as_of, 'investigations', 'aware_on', x.investigation_id, x.case_key, NULL, 'aware_on=' || CAST(x.aware_on AS VARCHAR)
    FROM as_of_dates d JOIN investigations x ON x.aware_on > d.as_of
    UNION ALL
    SELECT d.as_of, 'action_plans', 'created_on', x.plan_id, x.case_key, NULL, NULL FROM as_of_dates d JOIN action_plans x ON x.created_on > d.as_of
    UNION ALL
    SELECT d.as_of, 'follow_ups', 'performed_on', x.follow_up_id, x.case_key, NULL, NULL
    FROM as_of_dates d JOIN follow_ups x ON x.performed_on > d.as_of
    UNION ALL
    SELECT d.as_of, 'decisions', 'applied_on', x.decision_id, x.case_key, NULL, NULL FROM as_of_dates d JOIN decisions x ON x.applied_on > d.as_of
    UNION ALL
    SELECT d.as_of, 'decisions', 'decided_on', x.decision_id, x.case_key, NULL, NULL FROM as_of_dates d JOIN decisions x ON x.decided_on > d.as_of
    UNION ALL
    SELECT d.as_of, 'decisions', 'delay_letter_on', x.decision_id, x.case_key, NULL, 'delay_letter_on=' || CAST(x.delay_letter_on AS VARCHAR)
    FROM as_of_dates d JOIN decisions x ON x.delay_letter_on > d.as_of
    UNION ALL
    SELECT d.as_of, 'notifications', 'received_at', x.notification_id, NULL, x.case_id, NULL
    FROM as_of_dates d JOIN notification_deadlines x ON x.received_on > d.as_of
    UNION ALL
    SELECT d.as_of, 'notifications', 'assessed_at', x.notification_id, NULL, x.case_id, NULL
    FROM as_of_dates d JOIN notification_deadlines x ON copenhagen_date(x.assessed_at) > d.as_of
    UNION ALL
    SELECT d.as_of, 'complaints', 'received_on', x.complaint_id, x.case_key, NULL, NULL FROM as_of_dates d JOIN complaints x ON x.received_on > d.as_of
    UNION ALL
    SELECT d.as_of, 'case_events', 'occurred_on', x.event_id, x.case_key, NULL, NULL FROM as_of_dates d JOIN case_events x ON x.occurred_on > d.as_of
),
before_case AS (
    -- Records dated before their case was opened: often a case merged or re-opened
    -- under a new id. The four tables' rows meet the cases in one join rather than one
    -- join each: the engine runs a union's joins side by side, each with its own hash
    -- table of the cases.
    SELECT x.table_name, x.column_name, x.record_id, k.case_id,
           'case_opened_on=' || CAST(k.opened_on AS VARCHAR) AS detail
    FROM (
        SELECT 'measures' AS table_name, 'started_on' AS column_name, measure_id AS record_id, case_key,
               started_on AS dated_on
        FROM measures
        UNION ALL
        SELECT 'investigations', 'started_on', investigation_id, case_key, started_on FROM investigations
        UNION ALL
        SELECT 'action_plans', 'created_on', plan_id, case_key, created_on FROM action_plans
        UNION ALL
        SELECT 'follow_ups', 'performed_on', follow_up_id, case_key, performed_on FROM follow_ups
    ) x
    JOIN cases k ON k.case_key = x.case_key
    WHERE x.dated_on < k.opened_on
),
findings AS (
    -- Each finding with its case as a key where its table holds one, else as text: the
    -- tables hold a case id as its key (docs/design.md), and the few findings take the text
    -- from the cases at the end rather than every scanned row decoding it.
    SELECT as_of, table_name, 'date after the export date' AS rule, column_name, record_id, case_key, case_id, detail
    FROM future
    UNION ALL
    -- Open for over a year at the as-of date, counted from when the investigation started.
    SELECT o.as_of, 'investigations', 'investigation open over a year', 'completed_on', o.investigation_id, NULL, o.case_id, NULL
    FROM open_investigations o
    WHERE o.started_on + INTERVAL '1 year' < o.as_of
    UNION ALL
    -- docs/kpis.md: an investigation never completed stays open after its case closed.
    SELECT o.as_of, 'investigations', 'investigation open on a closed case', 'completed_on', o.investigation_id, NULL, o.case_id,
           'case_closed_on=' || CAST(k.closed_on AS VARCHAR)
    FROM open_investigations o
    JOIN cases k ON k.case_key = o.case_key
    WHERE k.closed_on < o.as_of
    UNION ALL
    SELECT a.as_of, 'cases', 'active case without caseworker', 'caseworker_id', a.case_id AS record_id, NULL, a.case_id, NULL
    FROM active_cases a
    WHERE a.caseworker_id IS NULL
    UNION ALL
    -- A measure still running after its case closed is left out of plan_coverage and
    -- follow_up_on_time, which only look at active cases.
    SELECT d.as_of, 'measures', 'measure runs after its case closed', 'ended_on', x.measure_id, NULL, k.case_id,
           'case_closed_on=' || CAST(k.closed_on AS VARCHAR)
    FROM as_of_dates d
    CROSS JOIN measures x
    JOIN cases k ON k.case_key = x.case_key
    WHERE k.closed_on < d.as_of AND x.started_on <= d.as_of AND (x.ended_on IS NULL OR x.ended_on > k.closed_on)
    UNION ALL
    SELECT d.as_of, b.table_name, 'dated before its case opened', b.column_name, b.record_id, NULL, b.case_id, b.detail
    FROM as_of_dates d
    CROSS JOIN before_case b
    UNION ALL
    SELECT d.as_of, 'follow_ups', 'next due date before the follow-up', 'next_due_on', x.follow_up_id, x.case_key, NULL,
           'next_due_on=' || CAST(x.next_due_on AS VARCHAR)
    FROM as_of_dates d
    CROSS JOIN follow_ups x
    WHERE x.next_due_on < x.performed_on
    UNION ALL
    SELECT d.as_of, 'investigations', 'aware after the investigation started', 'aware_on', x.investigation_id, x.case_key, NULL,
           'aware_on=' || CAST(x.aware_on AS VARCHAR)
    FROM as_of_dates d
    CROSS JOIN investigations x
    WHERE x.aware_on > x.started_on
    UNION ALL
    -- Payments are booked ahead (next month's placement), but not by a quarter of a year.
    SELECT d.as_of, 'postings', 'posting dated over 90 days after the export date', 'posted_on', x.posting_id, x.case_key, NULL,
           'posted_on=' || CAST(x.posted_on AS VARCHAR)
    FROM as_of_dates d
    JOIN postings x ON x.posted_on > d.as_of + INTERVAL '90 days'
    UNION ALL
    -- A notification must be assessed within 24 hours; a week later without an assessment it
    -- is probably assessed but not registered, or forgotten.
    SELECT d.as_of, 'notifications', 'notification not assessed after 7 days', 'assessed_at', x.notification_id, NULL, x.case_id, NULL
    FROM as_of_dates d
    JOIN notification_deadlines x
      ON x.received_on + INTERVAL '7 days' < d.as_of
     AND (x.assessed_at IS NULL OR copenhagen_date(x.assessed_at) > d.as_of)
    UNION ALL
    SELECT d.as_of, 'decisions', 'application open over a year', 'decided_on', x.decision_id, x.case_key, NULL, NULL
    FROM as_of_dates d
    JOIN decisions x
      ON x.applied_on + INTERVAL '1 year' < d.as_of
     AND (x.decided_on IS NULL OR x.decided_on > d.as_of)
    UNION ALL
    -- Complaints of another kind count in neither complaints KPI.
    SELECT d.as_of, 'complaints', 'complaint kind neither realitet nor formalitet', 'kind', x.complaint_id, x.case_key, NULL,
           'kind=' || x.kind
    FROM as_of_dates d
    JOIN complaints x ON x.kind NOT IN ('realitet', 'formalitet')
    UNION ALL
    -- A budget key with monthly rows uses them; its yearly row is left out of every figure.
    SELECT d.as_of, 'budgets', 'yearly budget ignored: monthly rows exist', 'month',
           y.unit_id || ' ' || arrow_cast(y.year, 'Utf8') || ' ' || y.account, NULL, NULL,
           'unit_id=' || y.unit_id || ' year=' || arrow_cast(y.year, 'Utf8') || ' account=' || y.account
    FROM as_of_dates d
    CROSS JOIN budgets y
    WHERE y.month IS NULL
      AND EXISTS (SELECT 1 FROM budgets m WHERE m.month IS NOT NULL AND m.unit_id = y.unit_id AND m.year = y.year AND m.account = y.account)
)
SELECT f.as_of, f.table_name, f.rule, f.column_name, f.record_id, coalesce(f.case_id, k.case_id) AS case_id, f.detail
FROM findings f
LEFT JOIN cases k ON k.case_key = f.case_key
