-- The five core KPIs (docs/kpis.md) as of one date, in DuckDB's SQL, over the export's
-- Parquet files: the comparison the benchmarks run beside `cwkpi kpi`. The paragraph rules
-- and the rule periods come from the built-in rules as cwkpi expands them (rules.csv,
-- params.csv), so both sides do the same work on the export. Placeholders: {T} the as-of
-- date, {units} {cases} {measures} {action_plans} {follow_ups} {investigations} the
-- tables' read_parquet(...) expressions, {rules} {params} the two CSV files.
WITH
pr AS (
    SELECT paragraph, needs_plan = 'true' AS needs_plan, needs_follow_up = 'true' AS needs_follow_up,
           plan_due_from, CAST(coalesce(nullif(plan_within, ''), '0 days') AS INTERVAL) AS plan_within,
           acute_plan_due_from, CAST(coalesce(nullif(acute_plan_within, ''), '0 days') AS INTERVAL) AS acute_plan_within
    FROM read_csv('{rules}', all_varchar = true)
),
params AS (
    SELECT CAST(investigation_limit AS INTERVAL) AS investigation_limit,
           CAST(follow_up_first AS INTERVAL) AS follow_up_first,
           CAST(follow_up_every AS INTERVAL) AS follow_up_every
    FROM read_csv('{params}', all_varchar = true)
),
units AS (SELECT unit_id, parent_id FROM {units}),
tree AS (
    WITH RECURSIVE up(unit_id, ancestor_id) AS (
        SELECT unit_id, unit_id FROM units
        UNION ALL
        SELECT up.unit_id, u.parent_id FROM up JOIN units u ON u.unit_id = up.ancestor_id WHERE u.parent_id IS NOT NULL
    )
    SELECT * FROM up
),
cases AS (SELECT case_id, unit_id, opened_on, closed_on FROM {cases}),
measure_rules AS (
    SELECT m.measure_id, m.case_id, c.unit_id, m.started_on, m.ended_on, r.needs_plan, r.needs_follow_up,
           CASE
               WHEN NOT r.needs_plan THEN NULL
               WHEN coalesce(m.acute, false) THEN CAST(CASE r.acute_plan_due_from WHEN 'decision' THEN coalesce(m.decided_on, m.started_on) ELSE m.started_on END + r.acute_plan_within AS DATE)
               ELSE CAST(CASE r.plan_due_from WHEN 'decision' THEN coalesce(m.decided_on, m.started_on) ELSE m.started_on END + r.plan_within AS DATE)
           END AS plan_due_on
    FROM {measures} m
    JOIN cases c ON c.case_id = m.case_id
    JOIN pr r ON r.paragraph = m.paragraph
),
first_plans AS (SELECT case_id, min(created_on) AS first_plan_on FROM {action_plans} GROUP BY case_id),
active_cases AS (
    SELECT * FROM cases WHERE opened_on <= DATE '{T}' AND (closed_on IS NULL OR closed_on >= DATE '{T}')
),
plan_cases AS (
    SELECT DISTINCT case_id FROM measure_rules
    WHERE started_on <= DATE '{T}' AND (ended_on IS NULL OR ended_on >= DATE '{T}')
      AND needs_plan AND plan_due_on <= DATE '{T}' AND (ended_on IS NULL OR ended_on >= plan_due_on)
),
follow_up_measures AS (
    SELECT * FROM measure_rules
    WHERE needs_follow_up AND started_on <= DATE '{T}' AND (ended_on IS NULL OR ended_on >= DATE '{T}')
),
period_starts AS (
    SELECT measure_id, case_id, started_on, started_on AS from_on, CAST(NULL AS DATE) AS last_on, CAST(NULL AS DATE) AS set_due
    FROM follow_up_measures
    UNION ALL
    SELECT m.measure_id, m.case_id, m.started_on, f.performed_on, f.performed_on, f.next_due_on
    FROM follow_up_measures m
    JOIN {follow_ups} f
      ON f.case_id = m.case_id AND (f.measure_id IS NULL OR f.measure_id = m.measure_id) AND f.performed_on >= m.started_on
),
periods AS (
    SELECT *, lead(from_on) OVER (PARTITION BY measure_id ORDER BY from_on, last_on NULLS FIRST, set_due NULLS FIRST) AS until_on
    FROM period_starts
),
follow_up_due AS (
    SELECT p.case_id,
           CASE WHEN p.last_on IS NULL THEN CAST(p.started_on + r.follow_up_first AS DATE)
                WHEN p.set_due IS NOT NULL THEN p.set_due
                ELSE CAST(p.last_on + r.follow_up_every AS DATE) END < DATE '{T}' AS overdue
    FROM periods p CROSS JOIN params r
    WHERE p.from_on <= DATE '{T}' AND (p.until_on IS NULL OR p.until_on > DATE '{T}')
),
follow_up_cases AS (SELECT case_id, bool_or(overdue) AS any_overdue FROM follow_up_due GROUP BY case_id),
investigations AS (
    SELECT i.investigation_id, c.unit_id, i.started_on, i.completed_on,
           CAST(coalesce(i.aware_on, i.started_on) + p.investigation_limit AS DATE) AS deadline_on
    FROM {investigations} i JOIN cases c ON c.case_id = i.case_id CROSS JOIN params p
),
items AS (
    SELECT 'plan_coverage' AS kpi_id, c.unit_id, NOT (fp.first_plan_on IS NULL OR fp.first_plan_on > DATE '{T}') AS ok
    FROM active_cases c JOIN plan_cases p ON p.case_id = c.case_id LEFT JOIN first_plans fp ON fp.case_id = c.case_id
    UNION ALL
    SELECT 'plan_on_time', m.unit_id, coalesce(fp.first_plan_on <= m.plan_due_on, false)
    FROM measure_rules m LEFT JOIN first_plans fp ON fp.case_id = m.case_id
    WHERE m.needs_plan AND m.started_on <= DATE '{T}'
      AND m.plan_due_on BETWEEN DATE '{T}' - INTERVAL 364 DAY AND DATE '{T}'
      AND (m.ended_on IS NULL OR m.ended_on >= m.plan_due_on)
    UNION ALL
    SELECT 'follow_up_on_time', c.unit_id, NOT f.any_overdue
    FROM active_cases c JOIN follow_up_cases f ON f.case_id = c.case_id
    UNION ALL
    SELECT 'investigation_within_limit', unit_id, DATE '{T}' <= deadline_on
    FROM investigations
    WHERE started_on <= DATE '{T}' AND (completed_on IS NULL OR completed_on > DATE '{T}')
    UNION ALL
    SELECT 'investigation_completed_within_limit', unit_id, completed_on <= deadline_on
    FROM investigations
    WHERE started_on <= DATE '{T}' AND completed_on BETWEEN DATE '{T}' - INTERVAL 364 DAY AND DATE '{T}'
),
per_unit AS (
    SELECT kpi_id, unit_id, count(*) AS denominator, count(*) FILTER (WHERE ok) AS numerator FROM items GROUP BY ALL
),
rolled AS (
    SELECT t.ancestor_id AS unit_id, p.kpi_id, sum(p.numerator) AS numerator, sum(p.denominator) AS denominator
    FROM per_unit p JOIN tree t ON t.unit_id = p.unit_id GROUP BY ALL
)
SELECT u.unit_id, k.kpi_id, coalesce(r.numerator, 0) AS numerator, coalesce(r.denominator, 0) AS denominator
FROM units u
CROSS JOIN (VALUES ('plan_coverage'), ('plan_on_time'), ('follow_up_on_time'), ('investigation_within_limit'),
                   ('investigation_completed_within_limit')) k(kpi_id)
LEFT JOIN rolled r ON r.unit_id = u.unit_id AND r.kpi_id = k.kpi_id
ORDER BY u.unit_id, k.kpi_id
