-- Per as-of date and unit (with every unit below it), each account's periodised budget and actual month by month through the year followed up, with running totals.
-- One row per unit × account with a budget or a posting in the year × month 1–12 (see
-- budget_periods); `closed` says the month's last day is on or before the as-of date.
-- Amounts are kroner with two decimals, summed in whole øre.
WITH rolled_up AS (
    SELECT b.as_of, t.ancestor_id AS unit_id, b.account, b.month, b.closed,
           sum(b.budget_ore) AS budget_ore, sum(b.actual_ore) AS actual_ore
    FROM budget_periods b
    JOIN unit_tree t ON t.unit_id = b.unit_id
    GROUP BY b.as_of, t.ancestor_id, b.account, b.month, b.closed
)
SELECT as_of, unit_id, account, month,
       dkk(budget_ore) AS budget_dkk,
       dkk(actual_ore) AS actual_dkk,
       dkk(sum(budget_ore) OVER (PARTITION BY as_of, unit_id, account ORDER BY month)) AS budget_cumulative_dkk,
       dkk(sum(actual_ore) OVER (PARTITION BY as_of, unit_id, account ORDER BY month)) AS actual_cumulative_dkk,
       closed
FROM rolled_up
