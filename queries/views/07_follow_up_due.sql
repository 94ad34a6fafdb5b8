-- Active follow-up measures with their latest follow-up, due date and overdue flag.
-- Due: next_due_on of the latest follow-up if set, else that follow-up plus the interval,
-- else the measure's start plus the first-follow-up limit. Overdue when due < as-of.
WITH candidate AS (
    -- Follow-ups that count for the measure: of its case, for it or for the whole case,
    -- performed between the measure's start and the as-of date.
    SELECT m.as_of, m.measure_id, f.performed_on, f.next_due_on
    FROM active_measures m
    JOIN follow_ups f
      ON f.case_id = m.case_id
     AND (f.measure_id IS NULL OR f.measure_id = m.measure_id)
     AND f.performed_on >= m.started_on
     AND f.performed_on <= m.as_of
    WHERE m.needs_follow_up
),
latest AS (
    SELECT as_of, measure_id, max(performed_on) AS last_follow_up_on
    FROM candidate
    GROUP BY as_of, measure_id
),
latest_next_due AS (
    -- Several follow-ups on the latest date: the latest next_due_on among them counts.
    SELECT c.as_of, c.measure_id, l.last_follow_up_on, max(c.next_due_on) AS next_due_on
    FROM candidate c
    JOIN latest l ON l.as_of = c.as_of AND l.measure_id = c.measure_id AND c.performed_on = l.last_follow_up_on
    GROUP BY c.as_of, c.measure_id, l.last_follow_up_on
)
SELECT s.*, s.follow_up_due_on < s.as_of AS overdue
FROM (
    SELECT
        m.as_of,
        m.measure_id,
        m.case_id,
        m.unit_id,
        m.paragraph,
        m.started_on,
        n.last_follow_up_on,
        n.next_due_on AS set_next_due_on,
        CASE
            WHEN n.last_follow_up_on IS NULL THEN m.started_on + p.follow_up_first
            WHEN n.next_due_on IS NOT NULL THEN n.next_due_on
            ELSE n.last_follow_up_on + p.follow_up_every
        END AS follow_up_due_on
    FROM active_measures m
    CROSS JOIN rule_params p
    LEFT JOIN latest_next_due n ON n.as_of = m.as_of AND n.measure_id = m.measure_id
    WHERE m.needs_follow_up
) s
