-- Per unit (with every unit below it), the finance system against the case system over the window: spent, booked on a case, and the two lists' counts.
-- spent_dkk: all postings of the unit's cost centres dated in the window (as-of − 364 …
-- as-of), refunds netted; booked_on_case_dkk: those with a case_id (registrantbogført) and
-- booked_share their share of spent (null when nothing was spent); paid_without_measure
-- and registered_not_paid count the rows of finance_paid_without_measure (at the posting's
-- unit) and finance_registered_not_paid (at the case's unit). Amounts are summed in whole
-- øre: a sum of binary floating-point amounts depends on the order rows come in, and the
-- figures must not depend on how the export's files are ordered or split.
-- The postings are taken by their keys: the unit's, and the case's, which a posting carries
-- exactly when it names a case (its case_id is held as that key, and decoding 17M ids to
-- test them for null cost more than the sums).
WITH facts AS (
    SELECT d.as_of, p.unit_key, 1 AS postings, CAST(round(p.amount_dkk * 100) AS BIGINT) AS spent,
           CASE WHEN p.case_key IS NOT NULL THEN CAST(round(p.amount_dkk * 100) AS BIGINT) ELSE 0 END AS booked,
           0 AS paid_without_measure, CAST(0 AS BIGINT) AS paid_without_measure_ore, 0 AS registered_not_paid
    FROM as_of_dates d
    JOIN postings p ON p.posted_on BETWEEN d.as_of - INTERVAL '364 days' AND d.as_of
    UNION ALL
    SELECT f.as_of, u.unit_key, 0, 0, 0, 1, CAST(round(f.amount_dkk * 100) AS BIGINT), 0
    FROM finance_paid_without_measure f JOIN units u ON u.unit_id = f.unit_id
    UNION ALL
    SELECT f.as_of, u.unit_key, 0, 0, 0, 0, 0, 1
    FROM finance_registered_not_paid f JOIN units u ON u.unit_id = f.unit_id
),
per_unit AS (
    -- Summed at each row's own unit first, then up the tree: the tree's join repeats the
    -- units' sums, not every posting once per level.
    SELECT as_of, unit_key,
           sum(postings) AS postings, sum(spent) AS spent, sum(booked) AS booked,
           sum(paid_without_measure) AS paid_without_measure, sum(paid_without_measure_ore) AS paid_without_measure_ore,
           sum(registered_not_paid) AS registered_not_paid
    FROM facts
    GROUP BY as_of, unit_key
),
rolled_up AS (
    SELECT f.as_of, t.ancestor_id AS unit_id,
           sum(f.postings) AS postings, sum(f.spent) AS spent_ore, sum(f.booked) AS booked_on_case_ore,
           sum(f.paid_without_measure) AS paid_without_measure, sum(f.paid_without_measure_ore) AS paid_without_measure_ore,
           sum(f.registered_not_paid) AS registered_not_paid
    FROM per_unit f
    JOIN units u ON u.unit_key = f.unit_key
    JOIN unit_tree t ON t.unit_id = u.unit_id
    GROUP BY f.as_of, t.ancestor_id
)
SELECT d.as_of, u.unit_id,
       coalesce(r.postings, 0) AS postings,
       CAST(coalesce(r.spent_ore, 0) AS DOUBLE) / 100 AS spent_dkk,
       CAST(coalesce(r.booked_on_case_ore, 0) AS DOUBLE) / 100 AS booked_on_case_dkk,
       CASE WHEN coalesce(r.spent_ore, 0) = 0 THEN NULL ELSE CAST(r.booked_on_case_ore AS DOUBLE) / CAST(r.spent_ore AS DOUBLE) END AS booked_share,
       coalesce(r.paid_without_measure, 0) AS paid_without_measure,
       CAST(coalesce(r.paid_without_measure_ore, 0) AS DOUBLE) / 100 AS paid_without_measure_dkk,
       coalesce(r.registered_not_paid, 0) AS registered_not_paid
FROM as_of_dates d
CROSS JOIN units u
LEFT JOIN rolled_up r ON r.as_of = d.as_of AND r.unit_id = u.unit_id
