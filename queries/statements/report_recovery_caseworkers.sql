-- The weekly report's cases to recover per caseworker (sagsstamme) as of $1: most cases first, then by name; cases without a caseworker last.
SELECT r.as_of, r.unit_id, r.caseworker_id, w.name AS caseworker_name, r.cases, r.acute_cases
FROM recovery_caseworkers r
LEFT JOIN caseworkers w ON w.caseworker_id = r.caseworker_id
WHERE r.as_of = $1
ORDER BY r.unit_id, r.caseworker_id IS NULL, r.cases DESC, w.name, r.caseworker_id
