-- Legal but suspicious rows worth a look (a "query", docs/export.md): they still count in every figure.
-- One row per (as-of date, finding): validation_findings with each row's locator, which
-- holds ids and dates only, as the rejected rows' locators do; birth dates are never
-- shown. `column_name` is the column concerned.
SELECT f.as_of, f.table_name, f.rule, f.column_name, f.record_id, f.case_id,
       concat_ws(' ', 'child_id=' || x.child_id, f.detail) AS locator
FROM validation_findings f JOIN children x ON f.table_name = 'children' AND x.child_id = f.record_id
UNION ALL
SELECT f.as_of, f.table_name, f.rule, f.column_name, f.record_id, f.case_id,
       concat_ws(' ', 'case_id=' || x.case_id, 'unit_id=' || x.unit_id, 'opened_on=' || CAST(x.opened_on AS VARCHAR),
                 'closed_on=' || CAST(x.closed_on AS VARCHAR), f.detail)
FROM validation_findings f JOIN cases x ON f.table_name = 'cases' AND x.case_id = f.record_id
UNION ALL
SELECT f.as_of, f.table_name, f.rule, f.column_name, f.record_id, f.case_id,
       concat_ws(' ', 'measure_id=' || x.measure_id, 'case_id=' || x.case_id, 'paragraph=' || x.paragraph,
                 'started_on=' || CAST(x.started_on AS VARCHAR), 'ended_on=' || CAST(x.ended_on AS VARCHAR), f.detail)
FROM validation_findings f JOIN measures x ON f.table_name = 'measures' AND x.measure_id = f.record_id
UNION ALL
SELECT f.as_of, f.table_name, f.rule, f.column_name, f.record_id, f.case_id,
       concat_ws(' ', 'investigation_id=' || x.investigation_id, 'case_id=' || x.case_id,
                 'started_on=' || CAST(x.started_on AS VARCHAR), 'completed_on=' || CAST(x.completed_on AS VARCHAR), f.detail)
FROM validation_findings f JOIN investigations x ON f.table_name = 'investigations' AND x.investigation_id = f.record_id
UNION ALL
SELECT f.as_of, f.table_name, f.rule, f.column_name, f.record_id, f.case_id,
       concat_ws(' ', 'plan_id=' || x.plan_id, 'case_id=' || x.case_id, 'created_on=' || CAST(x.created_on AS VARCHAR), f.detail)
FROM validation_findings f JOIN action_plans x ON f.table_name = 'action_plans' AND x.plan_id = f.record_id
UNION ALL
SELECT f.as_of, f.table_name, f.rule, f.column_name, f.record_id, f.case_id,
       concat_ws(' ', 'follow_up_id=' || x.follow_up_id, 'case_id=' || x.case_id, 'measure_id=' || x.measure_id,
                 'performed_on=' || CAST(x.performed_on AS VARCHAR), f.detail)
FROM validation_findings f JOIN follow_ups x ON f.table_name = 'follow_ups' AND x.follow_up_id = f.record_id
UNION ALL
SELECT f.as_of, f.table_name, f.rule, f.column_name, f.record_id, f.case_id,
       concat_ws(' ', 'decision_id=' || x.decision_id, 'case_id=' || x.case_id, 'paragraph=' || x.paragraph,
                 'applied_on=' || CAST(x.applied_on AS VARCHAR), 'decided_on=' || CAST(x.decided_on AS VARCHAR), f.detail)
FROM validation_findings f JOIN decisions x ON f.table_name = 'decisions' AND x.decision_id = f.record_id
UNION ALL
SELECT f.as_of, f.table_name, f.rule, f.column_name, f.record_id, f.case_id,
       concat_ws(' ', 'notification_id=' || x.notification_id, 'unit_id=' || x.unit_id, 'case_id=' || x.case_id,
                 'received_at=' || CAST(x.received_at AS VARCHAR), 'assessed_at=' || CAST(x.assessed_at AS VARCHAR), f.detail)
FROM validation_findings f JOIN notifications x ON f.table_name = 'notifications' AND x.notification_id = f.record_id
UNION ALL
SELECT f.as_of, f.table_name, f.rule, f.column_name, f.record_id, f.case_id,
       concat_ws(' ', 'complaint_id=' || x.complaint_id, 'unit_id=' || x.unit_id, 'case_id=' || x.case_id,
                 'received_on=' || CAST(x.received_on AS VARCHAR), f.detail)
FROM validation_findings f JOIN complaints x ON f.table_name = 'complaints' AND x.complaint_id = f.record_id
UNION ALL
SELECT f.as_of, f.table_name, f.rule, f.column_name, f.record_id, f.case_id,
       concat_ws(' ', 'event_id=' || x.event_id, 'case_id=' || x.case_id, 'kind=' || x.kind,
                 'occurred_on=' || CAST(x.occurred_on AS VARCHAR), f.detail)
FROM validation_findings f JOIN case_events x ON f.table_name = 'case_events' AND x.event_id = f.record_id
UNION ALL
SELECT f.as_of, f.table_name, f.rule, f.column_name, f.record_id, f.case_id,
       concat_ws(' ', 'posting_id=' || x.posting_id, 'unit_id=' || x.unit_id, 'case_id=' || k.case_id,
                 'measure_id=' || m.measure_id, 'account=' || x.account, 'posted_on=' || CAST(x.posted_on AS VARCHAR), f.detail)
FROM validation_findings f JOIN postings x ON f.table_name = 'postings' AND x.posting_id = f.record_id
-- The posting's case and measure ids from their tables, for the rows found (the postings
-- hold them as keys).
LEFT JOIN cases k ON k.case_key = x.case_key
LEFT JOIN measures m ON m.measure_key = x.measure_key
UNION ALL
-- A budget row has no id: its finding carries the key as its locator.
SELECT f.as_of, f.table_name, f.rule, f.column_name, f.record_id, f.case_id, f.detail
FROM validation_findings f WHERE f.table_name = 'budgets'
UNION ALL
-- One finding per paragraph code no rule names (such measures need neither plan nor
-- follow-up): codes are few and measures many, and it is the code the rules owner checks.
SELECT d.as_of, 'measures', 'paragraph unknown to the rules', 'paragraph', u.paragraph, CAST(NULL AS VARCHAR),
       concat_ws(' ', 'paragraph=' || u.paragraph, 'measures=' || CAST(u.measures AS VARCHAR),
                 'first_measure_id=' || u.first_measure_id)
FROM as_of_dates d
CROSS JOIN (
    SELECT x.paragraph, count(*) AS measures, min(x.measure_id) AS first_measure_id
    FROM measures x
    JOIN paragraph_rules r ON r.paragraph = x.paragraph
    WHERE r.rule_prefix IS NULL
    GROUP BY x.paragraph
) u
