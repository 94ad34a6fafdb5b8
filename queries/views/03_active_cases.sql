-- Cases active at each as-of date: opened by then and not closed before it.
SELECT d.as_of, c.case_id, c.case_key, c.child_id, c.unit_id, c.caseworker_id, c.opened_on, c.closed_on, c.target_group
FROM as_of_dates d
JOIN cases c ON c.opened_on <= d.as_of AND (c.closed_on IS NULL OR c.closed_on >= d.as_of)
