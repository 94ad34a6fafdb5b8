-- Active follow-up measures with their latest follow-up, due date and overdue flag.
-- Due: next_due_on of the latest follow-up if set, else that follow-up plus the interval,
-- else the measure's start plus the first-follow-up limit (follow_up_periods). Overdue
-- when due < as-of. Active: started by the as-of date (every period starts on or after
-- the measure's start) and not ended before it.
SELECT
    d.as_of,
    p.measure_id,
    p.case_id,
    p.case_key,
    p.unit_id,
    p.paragraph,
    p.started_on,
    p.last_follow_up_on,
    p.set_next_due_on,
    p.follow_up_due_on,
    p.follow_up_due_on < d.as_of AS overdue
FROM as_of_dates d
JOIN follow_up_periods p
  ON p.from_on <= d.as_of
 AND (p.until_on IS NULL OR p.until_on > d.as_of)
 AND (p.ended_on IS NULL OR p.ended_on >= d.as_of)
