-- Applications open at each as-of date past their case-processing deadline, with whether the applicant got a delay letter.
-- Open: applied by the as-of date and not decided by it (decided_on null or after it);
-- breached: the deadline is before the as-of date. days_overdue = as-of − deadline.
-- delay_letter_sent: a letter dated on or before the as-of date. new_expected_on, for a
-- draft delay letter: the as-of date plus the paragraph's span. Worst first: earliest
-- deadline, then case_id, decision_id (cwkpi letters and the report list them so).
SELECT
    d.as_of,
    a.decision_id,
    a.case_id,
    a.unit_id,
    a.caseworker_id,
    a.paragraph,
    a.area,
    a.applied_on,
    a.deadline,
    d.as_of - a.deadline AS days_overdue,
    a.delay_letter_on,
    coalesce(a.delay_letter_on <= d.as_of, false) AS delay_letter_sent,
    a.deadline_span,
    add_span(d.as_of, a.deadline_span) AS new_expected_on
FROM as_of_dates d
JOIN decision_deadlines a
  ON a.applied_on <= d.as_of
 AND a.deadline < d.as_of
 AND (a.decided_on IS NULL OR a.decided_on > d.as_of)
