-- Measures active at each as-of date (started on or before it, not ended before it),
-- with their rule flags and plan due date.
SELECT d.as_of, m.*
FROM as_of_dates d
JOIN measure_rules m ON m.started_on <= d.as_of AND (m.ended_on IS NULL OR m.ended_on >= d.as_of)
