-- The weekly report's postings paid without a registered measure in the window ending $1, per unit largest amount first (then posting_id).
SELECT as_of, unit_id, posting_unit_id, posting_id, case_id, measure_id, account, posted_on, amount_dkk
FROM report_paid_without_measure
WHERE as_of = $1
ORDER BY unit_id, amount_dkk DESC, posting_id
