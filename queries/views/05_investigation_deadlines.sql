-- Every investigation with its clock start (aware_on, else started_on) and deadline.
-- The deadline is the clock start plus the investigation limit of the rules. The case id
-- comes with the case's unit and caseworker (the investigations hold it as a key).
SELECT
    i.investigation_id,
    c.case_id,
    c.case_key,
    c.unit_id,
    c.unit_key,
    c.caseworker_id,
    i.started_on,
    i.completed_on,
    i.aware_on,
    coalesce(i.aware_on, i.started_on) AS clock_start_on,
    coalesce(i.aware_on, i.started_on) + p.investigation_limit AS deadline_on
FROM investigations i
JOIN cases c ON c.case_key = i.case_key
CROSS JOIN rule_params p
