-- The weekly report's finance figures per unit over the window ending $1.
SELECT as_of, unit_id, postings, spent_dkk, booked_on_case_dkk, booked_share,
       paid_without_measure, paid_without_measure_dkk, registered_not_paid
FROM finance_reconciliation
WHERE as_of = $1
ORDER BY unit_id
