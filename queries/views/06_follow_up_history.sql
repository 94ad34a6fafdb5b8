-- Each follow-up measure's follow-up dates, with the latest next_due_on set on each date.
-- Independent of the as-of date, so it is computed once per catalog. Follow-ups count for
-- a measure when they are of its case, for it or for the whole case, and not before it
-- started. Several follow-ups on one date: the latest next_due_on among them counts
-- (SPEC §4).
SELECT m.measure_id, f.performed_on, max(f.next_due_on) AS next_due_on
FROM measure_rules m
JOIN follow_ups f
  ON f.case_id = m.case_id
 AND (f.measure_id IS NULL OR f.measure_id = m.measure_id)
 AND f.performed_on >= m.started_on
WHERE m.needs_follow_up
GROUP BY m.measure_id, f.performed_on
