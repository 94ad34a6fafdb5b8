-- Investigations open at each as-of date, and whether they are within their deadline.
-- Open: started by then and not completed by then.
SELECT d.as_of, i.*, d.as_of <= i.deadline_on AS within_limit
FROM as_of_dates d
JOIN investigation_deadlines i
  ON i.started_on <= d.as_of AND (i.completed_on IS NULL OR i.completed_on > d.as_of)
