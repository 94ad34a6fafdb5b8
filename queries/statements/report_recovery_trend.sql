-- The weekly report's burn-down: the cases still needing recovery per unit at every as-of date, oldest first; null without a case_events table (unknown, not none).
WITH per_unit AS (
    SELECT as_of, unit_id, sum(cases) AS cases, sum(acute_cases) AS acute_cases
    FROM recovery_caseworkers
    GROUP BY as_of, unit_id
)
SELECT d.as_of, u.unit_id,
       CASE WHEN e.present THEN CAST(coalesce(r.cases, 0) AS BIGINT) END AS cases,
       CASE WHEN e.present THEN CAST(coalesce(r.acute_cases, 0) AS BIGINT) END AS acute_cases
FROM as_of_dates d
CROSS JOIN units u
CROSS JOIN (SELECT present FROM export_tables WHERE table_name = 'case_events') e
LEFT JOIN per_unit r ON r.as_of = d.as_of AND r.unit_id = u.unit_id
ORDER BY u.unit_id, d.as_of
