-- Every investigation with its clock start (aware_on, else started_on) and deadline.
-- The deadline is the clock start plus the investigation limit of the rules. The case's
-- ids (its own, its unit's, its caseworker's) are given by its keys (by_key).
SELECT
    i.investigation_id,
    by_key('cases', 'case_id', c.case_key) AS case_id,
    c.case_key,
    by_key('units', 'unit_id', c.unit_key) AS unit_id,
    c.unit_key,
    by_key('cases', 'caseworker_id', c.case_key) AS caseworker_id,
    i.started_on,
    i.completed_on,
    i.aware_on,
    coalesce(i.aware_on, i.started_on) AS clock_start_on,
    coalesce(i.aware_on, i.started_on) + p.investigation_limit AS deadline_on
FROM investigations i
JOIN cases c ON c.case_key = i.case_key
CROSS JOIN rule_params p
