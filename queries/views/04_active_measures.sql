-- Measures active at each as-of date, with rule flags and plan due date.
-- Active: started on or before the date and not ended before it.
SELECT d.as_of, m.*
FROM as_of_dates d
JOIN measure_rules m ON m.started_on <= d.as_of AND (m.ended_on IS NULL OR m.ended_on >= d.as_of)
