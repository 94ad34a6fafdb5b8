-- One row per active case with an active measure and as-of date: the lawful-case checklist (docs/kpis.md), each element a column, and lawful.
-- From case_checklist (which explains each element). Empty without a case_events table:
-- no events is unknown, not unlawful. Without case_key: a row number of the run, which
-- would make the listing depend on the order of the export's rows.
SELECT as_of, case_id, unit_id, caseworker_id,
       investigated, child_heard, parties_consulted, decision_with_guidance, plan, followed_up, lawful
FROM case_checklist
WHERE checklist_applies
