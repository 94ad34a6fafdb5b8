-- The weekly report's budget figures per unit for the year of $1 (kroner; the page shows whole kroner).
SELECT as_of, unit_id, year,
       CAST(budget_year_dkk AS DOUBLE) AS budget_year_dkk,
       CAST(budget_to_date_dkk AS DOUBLE) AS budget_to_date_dkk,
       CAST(actual_to_date_dkk AS DOUBLE) AS actual_to_date_dkk,
       CAST(variance_to_date_dkk AS DOUBLE) AS variance_to_date_dkk,
       CAST(forecast_run_rate_dkk AS DOUBLE) AS forecast_run_rate_dkk,
       CAST(forecast_commitments_dkk AS DOUBLE) AS forecast_commitments_dkk,
       CAST(commitments_dkk AS DOUBLE) AS commitments_dkk
FROM budget_forecast
WHERE as_of = $1
ORDER BY unit_id
