-- Active cases with an active measure whose child turns 18 within six months (as-of + 1 day … as-of + 6 months), with the measures' paragraphs.
-- turns_18_on: birth_date + 216 months, clamped at month end (a child born 29 February
-- turns 18 on 28 February). paragraphs: the distinct paragraphs of the case's active
-- measures, sorted, joined by ';'. Soonest first means turns_18_on, then case_id.
WITH measures_now AS (
    SELECT as_of, case_key, array_to_string(array_sort(array_distinct(array_agg(paragraph))), ';') AS paragraphs
    FROM active_measures
    GROUP BY as_of, case_key
)
SELECT c.as_of, c.case_id, c.unit_id, c.caseworker_id,
       k.birth_date + INTERVAL '216 months' AS turns_18_on,
       m.paragraphs
FROM active_cases c
JOIN measures_now m ON m.as_of = c.as_of AND m.case_key = c.case_key
JOIN children k ON k.child_id = c.child_id
WHERE k.birth_date + INTERVAL '216 months' > c.as_of
  AND k.birth_date + INTERVAL '216 months' <= c.as_of + INTERVAL '6 months'
