-- Each follow-up measure's time line cut into periods, each with the due date that holds
-- during it: from the measure's start until its first follow-up, then from each follow-up
-- date until the next one (until_on is null for the last). At a date, the period containing
-- it gives the due date (follow_up_due), with no aggregation per date. Computed once per
-- set of as-of dates, and only for measures that can be active at one of them (not ended
-- before the first): in a long history most measures ended years ago. Likewise only the
-- periods that hold at or after the first date are kept (not ended by it).
-- Follow-ups count for a measure when they are of its case, for it or for the whole case,
-- and not before it started. Several follow-ups on one date: the latest next_due_on among
-- them counts (docs/kpis.md); the others get empty periods (from_on = until_on), as does the
-- start period when a follow-up falls on the start date.
WITH relevant_measures AS (
    SELECT m.*
    FROM measure_rules m
    WHERE m.needs_follow_up
      AND (m.ended_on IS NULL OR m.ended_on >= (SELECT min(as_of) FROM as_of_dates))
),
period_starts AS (
    SELECT measure_key, started_on AS from_on, CAST(NULL AS DATE) AS last_follow_up_on, CAST(NULL AS DATE) AS set_next_due_on
    FROM relevant_measures
    UNION ALL
    SELECT m.measure_key, f.performed_on AS from_on, f.performed_on AS last_follow_up_on, f.next_due_on AS set_next_due_on
    FROM relevant_measures m
    JOIN follow_ups f
      ON f.case_key = m.case_key
     AND (f.measure_key IS NULL OR f.measure_key = m.measure_key)
     AND f.performed_on >= m.started_on
),
periods AS (
    -- Each period ends where the next row of the same measure starts. Within a date, the
    -- row with the latest next_due_on sorts last and so keeps the date's period.
    -- One ordered window over all rows rather than PARTITION BY measure_id: the engine
    -- keeps state per partition, which made that form about six times slower at a million
    -- measures.
    SELECT *, CASE WHEN lead(measure_key) OVER w = measure_key THEN lead(from_on) OVER w END AS until_on
    FROM period_starts
    WINDOW w AS (ORDER BY measure_key, from_on, last_follow_up_on NULLS FIRST, set_next_due_on NULLS FIRST)
),
held_periods AS (
    -- A period that ended by the first date holds at none: most of a measure's history.
    SELECT *
    FROM periods
    WHERE until_on IS NULL OR until_on > (SELECT min(as_of) FROM as_of_dates)
)
SELECT
    by_key('measures', 'measure_id', m.measure_key) AS measure_id,
    by_key('cases', 'case_id', m.case_key) AS case_id,
    m.case_key,
    by_key('units', 'unit_id', m.unit_key) AS unit_id,
    by_key('measures', 'paragraph', m.measure_key) AS paragraph,
    m.started_on,
    m.ended_on,
    p.from_on,
    p.until_on,
    p.last_follow_up_on,
    p.set_next_due_on,
    CASE
        WHEN p.last_follow_up_on IS NULL THEN m.started_on + r.follow_up_first
        WHEN p.set_next_due_on IS NOT NULL THEN p.set_next_due_on
        ELSE p.last_follow_up_on + r.follow_up_every
    END AS follow_up_due_on
-- rule_params (one row) first: the engine builds the cross join's small side. The measures'
-- keys join the periods at the end, so the window's sort moves keys and dates only, and
-- the ids are given by the keys (by_key) rather than copied by the join.
FROM rule_params r
CROSS JOIN held_periods p
JOIN relevant_measures m ON m.measure_key = p.measure_key
