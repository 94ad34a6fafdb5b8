-- The weekly report's active cases and those whose child is 18 or older, per unit as of $1.
SELECT as_of, unit_id, active_cases, aged_18_or_older, share
FROM turning_18_units
WHERE as_of = $1
ORDER BY unit_id
