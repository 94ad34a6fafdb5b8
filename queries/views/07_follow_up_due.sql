-- Active follow-up measures with their latest follow-up, due date and overdue flag.
-- Due: next_due_on of the latest follow-up if set, else that follow-up plus the interval,
-- else the measure's start plus the first-follow-up limit. Overdue when due < as-of.
WITH latest AS (
    -- The latest follow-up date by the as-of date, with the next_due_on set on it
    -- (follow_up_history has one row per measure and date), in one pass.
    SELECT
        m.as_of,
        m.measure_id,
        m.case_id,
        m.unit_id,
        m.paragraph,
        m.started_on,
        max(h.performed_on) AS last_follow_up_on,
        first_value(h.next_due_on ORDER BY h.performed_on DESC NULLS LAST) AS set_next_due_on
    FROM active_measures m
    LEFT JOIN follow_up_history h
      ON h.measure_id = m.measure_id
     AND h.performed_on <= m.as_of
    WHERE m.needs_follow_up
    GROUP BY m.as_of, m.measure_id, m.case_id, m.unit_id, m.paragraph, m.started_on
)
SELECT s.*, s.follow_up_due_on < s.as_of AS overdue
FROM (
    SELECT
        n.as_of,
        n.measure_id,
        n.case_id,
        n.unit_id,
        n.paragraph,
        n.started_on,
        n.last_follow_up_on,
        n.set_next_due_on,
        CASE
            WHEN n.last_follow_up_on IS NULL THEN n.started_on + p.follow_up_first
            WHEN n.set_next_due_on IS NOT NULL THEN n.set_next_due_on
            ELSE n.last_follow_up_on + p.follow_up_every
        END AS follow_up_due_on
    -- rule_params (one row) first: the engine builds the cross join's small side.
    FROM rule_params p
    CROSS JOIN latest n
) s
