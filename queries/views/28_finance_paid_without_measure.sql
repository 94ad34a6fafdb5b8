-- Postings in the window booked on a case with no measure of that case active on the posting date ("paid without a registered measure").
-- The window is as-of − 364 … as-of; items sit at the posting's unit (the cost centre).
-- Written as a right anti join so the hash table is built on the measures (one row each),
-- not on the postings in the window (3M rows at scale 100).
-- The postings carry their unit, case and measure as keys until the few rows found take
-- their ids from the units, cases and measures: the postings hold those ids as keys
-- (docs/design.md), and reading them as text would decode them for every posting scanned.
SELECT p.as_of, p.posting_id, u.unit_id, k.case_id, pm.measure_id, p.account, p.posted_on, p.amount_dkk
FROM (
    SELECT p.*
    FROM measures m
    RIGHT ANTI JOIN (
        SELECT d.as_of, p.posting_id, p.unit_key, p.case_key, p.measure_key, p.account, p.posted_on, p.amount_dkk
        FROM as_of_dates d
        JOIN postings p
          ON p.case_key IS NOT NULL
         AND p.posted_on BETWEEN d.as_of - INTERVAL '364 days' AND d.as_of
    ) p
      ON m.case_key = p.case_key
     AND m.started_on <= p.posted_on
     AND (m.ended_on IS NULL OR m.ended_on >= p.posted_on)
) p
JOIN units u ON u.unit_key = p.unit_key
JOIN cases k ON k.case_key = p.case_key
LEFT JOIN measures pm ON pm.measure_key = p.measure_key
