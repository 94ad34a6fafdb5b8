-- Per unit (the cost centre), account and calendar month: the sum of the postings in whole øre (refunds netted), for the budget's actuals and last-year profiles.
-- Computed once per export (a cached view), so the largest table of an export is read once
-- however many dates and statements ask for the budget. Without a budgets table nothing
-- reads it and it has no rows.
-- The postings are grouped by the unit's integer key (a quarter less time than by its id
-- over 17M rows at scale 100), and the units' ids join the sums.
SELECT u.unit_id, m.account, CAST(date_part('year', m.month_start) AS BIGINT) AS year,
       CAST(date_part('month', m.month_start) AS BIGINT) AS month, m.ore
FROM (
    SELECT p.unit_key, p.account, date_trunc('month', p.posted_on) AS month_start,
           sum(CAST(round(p.amount_dkk * 100) AS BIGINT)) AS ore
    FROM postings p
    GROUP BY p.unit_key, p.account, date_trunc('month', p.posted_on)
) m
JOIN units u ON u.unit_key = m.unit_key
JOIN export_tables e ON e.table_name = 'budgets' AND e.present
