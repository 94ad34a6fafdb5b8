-- The weekly report's caseworker table as of $1: by caseworker name, cases without a caseworker last.
SELECT as_of, unit_id, caseworker_id, caseworker_name, caseworker_unit_id, active_cases, open_investigations, overdue_items,
       plan_coverage_numerator, plan_coverage_denominator, plan_coverage_share,
       follow_up_on_time_numerator, follow_up_on_time_denominator, follow_up_on_time_share,
       investigation_within_limit_numerator, investigation_within_limit_denominator, investigation_within_limit_share
FROM report_caseworkers
WHERE as_of = $1
ORDER BY unit_id, caseworker_id IS NULL, caseworker_name, caseworker_id
