-- Measures active at the as-of date with a monthly cost, active on every day of the previous calendar month, and no posting naming them in that month ("registered but not paid").
-- The previous month is the calendar month before the as-of date's month. Items sit at
-- the unit of the measure's case. Without a postings table nothing is listed: no postings
-- is unknown, not unpaid.
WITH months AS (
    -- No months without postings to look in; joined here, on the one-row side, so the
    -- engine never crosses the measures with it row by row.
    SELECT d.as_of,
           CAST(date_trunc('month', d.as_of) AS DATE) - INTERVAL '1 month' AS month_from,
           CAST(date_trunc('month', d.as_of) AS DATE) - INTERVAL '1 day' AS month_to
    FROM as_of_dates d
    JOIN export_tables e ON e.table_name = 'postings' AND e.present
)
SELECT a.as_of, a.measure_id, a.case_id, a.unit_id, a.paragraph, a.started_on, a.monthly_cost_dkk, m.month_from, m.month_to
FROM active_measures a
JOIN months m ON m.as_of = a.as_of
WHERE a.monthly_cost_dkk > 0
  AND a.started_on <= m.month_from
  AND (a.ended_on IS NULL OR a.ended_on >= m.month_to)
  AND NOT EXISTS (
      SELECT 1 FROM postings p
      WHERE p.measure_key = a.measure_key
        AND p.posted_on BETWEEN m.month_from AND m.month_to
  )
