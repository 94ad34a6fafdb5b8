-- Per unit (with every unit below it): the active cases, with or without a measure, and those whose child is 18 or older at the as-of date (efterværn).
-- 18 or older: birth_date + 216 months ≤ as-of. share is null when the unit has no active case.
WITH per_unit AS (
    SELECT c.as_of, c.unit_id, count(*) AS active_cases,
           count(*) FILTER (WHERE k.birth_date + INTERVAL '216 months' <= c.as_of) AS aged_18_or_older
    FROM active_cases c
    JOIN children k ON k.child_id = c.child_id
    GROUP BY c.as_of, c.unit_id
),
rolled_up AS (
    SELECT p.as_of, t.ancestor_id AS unit_id, sum(p.active_cases) AS active_cases, sum(p.aged_18_or_older) AS aged_18_or_older
    FROM per_unit p
    JOIN unit_tree t ON t.unit_id = p.unit_id
    GROUP BY p.as_of, t.ancestor_id
)
SELECT d.as_of, u.unit_id,
       coalesce(r.active_cases, 0) AS active_cases,
       coalesce(r.aged_18_or_older, 0) AS aged_18_or_older,
       CASE WHEN coalesce(r.active_cases, 0) = 0 THEN NULL
            ELSE CAST(r.aged_18_or_older AS DOUBLE) / CAST(r.active_cases AS DOUBLE) END AS share
FROM as_of_dates d
CROSS JOIN units u
LEFT JOIN rolled_up r ON r.as_of = d.as_of AND r.unit_id = u.unit_id
