-- The report's caseworker table: per unit (with sub-units) and caseworker, workload, overdue items and own KPI shares.
-- Counts cover the cases in the unit's subtree that the caseworker holds (cases.caseworker_id);
-- caseworkers placed in the subtree (caseworkers.unit_id) are listed even with no cases there.
-- Cases without a caseworker form a row with a null caseworker_id. KPI shares come from kpi_items
-- (plan_coverage, follow_up_on_time, investigation_within_limit); a denominator of 0 gives null.
WITH facts AS (
    SELECT as_of, unit_id, caseworker_id, 'active_case' AS kind, true AS ok FROM active_cases
    UNION ALL
    SELECT as_of, unit_id, caseworker_id, 'open_investigation', true FROM open_investigations
    UNION ALL
    SELECT as_of, unit_id, caseworker_id, 'overdue_item', true FROM overdue_items
    UNION ALL
    SELECT k.as_of, k.unit_id, c.caseworker_id, k.kpi_id, k.ok
    FROM kpi_items k
    JOIN cases c ON c.case_id = k.case_id
    WHERE k.kpi_id IN ('plan_coverage', 'follow_up_on_time', 'investigation_within_limit')
    UNION ALL
    SELECT d.as_of, w.unit_id, w.caseworker_id, 'placed', true
    FROM as_of_dates d
    CROSS JOIN caseworkers w
),
per_unit AS (
    -- Counted at each fact's own unit first, then summed up the tree: the tree's join then
    -- repeats the few (unit, caseworker) counts, not every fact once per level.
    SELECT as_of, unit_id, caseworker_id,
           count(*) FILTER (WHERE kind = 'active_case') AS active_cases,
           count(*) FILTER (WHERE kind = 'open_investigation') AS open_investigations,
           count(*) FILTER (WHERE kind = 'overdue_item') AS overdue_items,
           count(*) FILTER (WHERE kind = 'plan_coverage' AND ok) AS plan_coverage_numerator,
           count(*) FILTER (WHERE kind = 'plan_coverage') AS plan_coverage_denominator,
           count(*) FILTER (WHERE kind = 'follow_up_on_time' AND ok) AS follow_up_on_time_numerator,
           count(*) FILTER (WHERE kind = 'follow_up_on_time') AS follow_up_on_time_denominator,
           count(*) FILTER (WHERE kind = 'investigation_within_limit' AND ok) AS investigation_within_limit_numerator,
           count(*) FILTER (WHERE kind = 'investigation_within_limit') AS investigation_within_limit_denominator
    FROM facts
    GROUP BY as_of, unit_id, caseworker_id
),
rolled_up AS (
    SELECT p.as_of, t.ancestor_id AS unit_id, p.caseworker_id,
           sum(p.active_cases) AS active_cases,
           sum(p.open_investigations) AS open_investigations,
           sum(p.overdue_items) AS overdue_items,
           sum(p.plan_coverage_numerator) AS plan_coverage_numerator,
           sum(p.plan_coverage_denominator) AS plan_coverage_denominator,
           sum(p.follow_up_on_time_numerator) AS follow_up_on_time_numerator,
           sum(p.follow_up_on_time_denominator) AS follow_up_on_time_denominator,
           sum(p.investigation_within_limit_numerator) AS investigation_within_limit_numerator,
           sum(p.investigation_within_limit_denominator) AS investigation_within_limit_denominator
    FROM per_unit p
    JOIN unit_tree t ON t.unit_id = p.unit_id
    GROUP BY p.as_of, t.ancestor_id, p.caseworker_id
)
SELECT c.as_of, c.unit_id, c.caseworker_id, w.name AS caseworker_name, w.unit_id AS caseworker_unit_id,
       c.active_cases, c.open_investigations, c.overdue_items,
       c.plan_coverage_numerator, c.plan_coverage_denominator,
       CASE WHEN c.plan_coverage_denominator = 0 THEN NULL
            ELSE CAST(c.plan_coverage_numerator AS DOUBLE) / CAST(c.plan_coverage_denominator AS DOUBLE) END AS plan_coverage_share,
       c.follow_up_on_time_numerator, c.follow_up_on_time_denominator,
       CASE WHEN c.follow_up_on_time_denominator = 0 THEN NULL
            ELSE CAST(c.follow_up_on_time_numerator AS DOUBLE) / CAST(c.follow_up_on_time_denominator AS DOUBLE) END AS follow_up_on_time_share,
       c.investigation_within_limit_numerator, c.investigation_within_limit_denominator,
       CASE WHEN c.investigation_within_limit_denominator = 0 THEN NULL
            ELSE CAST(c.investigation_within_limit_numerator AS DOUBLE) / CAST(c.investigation_within_limit_denominator AS DOUBLE) END AS investigation_within_limit_share
FROM rolled_up c
LEFT JOIN caseworkers w ON w.caseworker_id = c.caseworker_id
