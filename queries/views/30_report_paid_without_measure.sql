-- The report's postings paid without a registered measure: finance_paid_without_measure for each unit's report (the unit and every unit below it).
-- unit_id is the unit whose report lists the row; posting_unit_id is the posting's cost centre.
SELECT p.as_of, t.ancestor_id AS unit_id, p.unit_id AS posting_unit_id, p.posting_id, p.case_id, p.measure_id,
       p.account, p.posted_on, p.amount_dkk
FROM finance_paid_without_measure p
JOIN unit_tree t ON t.unit_id = p.unit_id
