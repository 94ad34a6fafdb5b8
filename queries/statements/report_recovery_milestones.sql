-- The weekly report's recovery milestones as of $1, per unit by date.
SELECT as_of, unit_id, on_date, max_remaining, remaining, met
FROM recovery_milestones
WHERE as_of = $1
ORDER BY unit_id, on_date
