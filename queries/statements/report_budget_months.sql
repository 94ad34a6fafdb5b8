-- The weekly report's budget month by month per unit and account for the year of $1: the workbook's Budget sheet and the page's chart.
SELECT as_of, unit_id, account, month,
       CAST(budget_dkk AS DOUBLE) AS budget_dkk,
       CAST(actual_dkk AS DOUBLE) AS actual_dkk,
       CAST(budget_cumulative_dkk AS DOUBLE) AS budget_cumulative_dkk,
       CAST(actual_cumulative_dkk AS DOUBLE) AS actual_cumulative_dkk,
       closed
FROM budget_months
WHERE as_of = $1
ORDER BY unit_id, account, month
