-- Every notification with its deadlines: assessed by received_at + the rules' hours, receipt confirmed by the received date + the rules' days.
-- The assessment deadline is elapsed time on the time line (24 hours across a
-- daylight-saving change end one wall-clock hour off); its Copenhagen date decides the
-- window it counts in. The receipt deadline applies to professionals' notifications only
-- and counts working days on the rules' calendar (add_span). Items sit at the receiving unit.
SELECT
    n.notification_id,
    n.unit_id,
    n.unit_key,
    n.case_id,
    n.child_id,
    n.received_at,
    copenhagen_date(n.received_at) AS received_on,
    n.assessed_at,
    n.received_at + p.notification_assess_within AS assessment_deadline_at,
    copenhagen_date(n.received_at + p.notification_assess_within) AS assessment_deadline_on,
    n.professional,
    n.receipt_confirmed_on,
    CASE WHEN n.professional THEN add_span(copenhagen_date(n.received_at), p.notification_confirm_within) END AS receipt_deadline_on
-- rule_params (one row) first: the engine builds the cross join's small side.
FROM rule_params p
CROSS JOIN notifications n
