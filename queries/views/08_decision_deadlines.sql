-- Every application (decisions) with its case-processing deadline: applied_on + its paragraph's span.
-- The span comes from the rules' [[case_deadline]] matched to the code (longest prefix, in
-- case_deadline_rules); add_span counts working days on the rules' calendar. Applications
-- under codes without a rule have a null deadline and count in no deadline KPI.
-- Independent of the as-of date; items sit at the unit of their case.
SELECT
    a.decision_id,
    a.case_id,
    c.case_key,
    c.unit_id,
    c.unit_key,
    c.caseworker_id,
    a.paragraph,
    r.rule_prefix AS deadline_rule,
    r.within AS deadline_span,
    r.area,
    a.applied_on,
    a.decided_on,
    a.outcome,
    a.delay_letter_on,
    add_span(a.applied_on, r.within) AS deadline
FROM decisions a
JOIN cases c ON c.case_key = a.case_key
LEFT JOIN case_deadline_rules r ON r.paragraph = a.paragraph
