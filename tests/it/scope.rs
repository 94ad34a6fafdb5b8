//! An export seen through a grant of units (`CheckedExport::scoped`): no row of another
//! unit in any table, children only through the granted cases, and the granted units'
//! figures exactly as in the whole export.

use std::collections::BTreeSet;
use std::path::PathBuf;

use chrono::NaiveDate;
use cwkpi::scope::{Grant, visible_units};
use cwkpi::{Catalog, CheckedExport, EngineOptions, Rules};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;

fn sample() -> CheckedExport {
    CheckedExport::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample")).unwrap()
}

fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
}

/// One string column of a query's result, row by row (null as "").
async fn column(catalog: &Catalog, sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    for batch in catalog.query(sql).await.unwrap() {
        let c = cast(batch.column(0), &DataType::Utf8).unwrap();
        let c = c.as_string::<i32>();
        out.extend((0..c.len()).map(|i| if c.is_valid(i) { c.value(i).to_string() } else { String::new() }));
    }
    out
}

fn set(values: &[&str]) -> BTreeSet<String> {
    values.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_grant_covers_its_units_and_every_unit_below_them() {
    let export = sample();
    // Center for Udsatte Børn og Unge (U0002) holds Amager (U0005) and Brønshøj-Husum
    // (U0007) with its three teams.
    let units = visible_units(&export, &["U0002".into()]).unwrap();
    assert_eq!(
        units.into_iter().collect::<BTreeSet<_>>(),
        set(&["U0002", "U0005", "U0007", "U0008", "U0009", "U0010"])
    );
    // Two grants, one inside the other, and a unit the export lacks.
    let units = visible_units(&export, &["U0007".into(), "U0009".into(), "NOPE".into()]).unwrap();
    assert_eq!(units.into_iter().collect::<BTreeSet<_>>(), set(&["U0007", "U0008", "U0009", "U0010"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn no_row_outside_the_grant_and_the_same_figures_inside_it() {
    let export = sample();
    let grant = Grant::Units(vec!["U0007".into()]);
    let visible = set(&["U0007", "U0008", "U0009", "U0010"]);
    let scoped = export.scoped(&grant).unwrap();
    assert!(scoped.rejections().next().is_none());

    let whole = Catalog::new(&export, Rules::builtin(), &[as_of()], &EngineOptions::default()).await.unwrap();
    let seen = Catalog::new(&scoped, Rules::builtin(), &[as_of()], &EngineOptions::default()).await.unwrap();

    // The granted unit is the top of the tree its user sees: no parent outside the grant.
    assert_eq!(column(&seen, "SELECT parent_id FROM units WHERE unit_id = 'U0007'").await, [""]);
    // Every row of every table with a unit is at a visible unit.
    for (table, unit_column) in [
        ("units", "unit_id"),
        ("caseworkers", "unit_id"),
        ("cases", "unit_id"),
        ("notifications", "unit_id"),
        ("complaints", "unit_id"),
        ("postings", "unit_id"),
        ("budgets", "unit_id"),
        ("unit_tree", "ancestor_id"),
        ("kpi", "unit_id"),
        ("report_overdue", "unit_id"),
        ("report_caseworkers", "unit_id"),
        ("turning_18_units", "unit_id"),
        ("finance_reconciliation", "unit_id"),
        ("budget_months", "unit_id"),
        ("budget_forecast", "unit_id"),
    ] {
        let units: BTreeSet<String> =
            column(&seen, &format!("SELECT DISTINCT {unit_column} FROM {table}")).await.into_iter().collect();
        assert!(units.is_subset(&visible), "{table}: {units:?}");
    }
    // The rows that belong to a unit through their case: exactly the whole export's rows
    // whose case is at a visible unit.
    for table in ["measures", "investigations", "action_plans", "follow_ups", "decisions", "case_events"] {
        let sql = format!(
            "SELECT t.case_id FROM {table} t JOIN cases c ON c.case_id = t.case_id WHERE c.unit_id IN ('U0007', 'U0008', 'U0009', 'U0010') ORDER BY 1"
        );
        let want = column(&whole, &sql).await;
        let got = column(&seen, &format!("SELECT case_id FROM {table} ORDER BY 1")).await;
        assert!(!want.is_empty(), "{table}: the sample has rows to scope");
        assert_eq!(got, want, "{table}");
    }
    // Children only through the granted cases.
    let want = column(
        &whole,
        "SELECT DISTINCT c.child_id FROM cases c WHERE c.unit_id IN ('U0007', 'U0008', 'U0009', 'U0010') ORDER BY 1",
    )
    .await;
    assert_eq!(column(&seen, "SELECT child_id FROM children ORDER BY 1").await, want);

    // Each visible unit's KPI rows are the whole export's, all thirteen.
    let kpi = "SELECT concat_ws('|', unit_id, kpi_id, numerator, denominator, share) FROM kpi ORDER BY unit_id, kpi_id";
    let whole_kpi: Vec<String> =
        column(&whole, kpi).await.into_iter().filter(|r| visible.contains(r.split('|').next().unwrap())).collect();
    let seen_kpi = column(&seen, kpi).await;
    assert_eq!(seen_kpi.len(), 4 * cwkpi::kpi::DEFINITIONS.len());
    assert_eq!(seen_kpi, whole_kpi);
    // So are the report's lists and the audit's figures.
    for sql in [
        "SELECT concat_ws('|', unit_id, case_id, kind, item_id) FROM report_overdue ORDER BY 1",
        // The recovery order: its position counts over the whole export, so compare the
        // cases in order.
        "SELECT concat_ws('|', unit_id, case_id) FROM report_recovery ORDER BY unit_id, position",
        "SELECT concat_ws('|', unit_id, spent_dkk, booked_on_case_dkk, registered_not_paid) FROM finance_reconciliation ORDER BY 1",
        // The budgets: the granted units' own, periodised by their own postings.
        "SELECT concat_ws('|', unit_id, account, month, budget_dkk, actual_cumulative_dkk) FROM budget_months ORDER BY 1",
        "SELECT concat_ws('|', unit_id, budget_year_dkk, forecast_run_rate_dkk, forecast_commitments_dkk) FROM budget_forecast ORDER BY 1",
    ] {
        let whole_rows: Vec<String> =
            column(&whole, sql).await.into_iter().filter(|r| visible.contains(r.split('|').next().unwrap())).collect();
        assert!(!whole_rows.is_empty(), "{sql}");
        assert_eq!(column(&seen, sql).await, whole_rows, "{sql}");
    }

    // A grant of every unit is the whole export, rejected rows included.
    let all = export.scoped(&Grant::All).unwrap();
    assert_eq!(
        all.tables.iter().map(|t| t.kept.num_rows()).sum::<usize>(),
        export.tables.iter().map(|t| t.kept.num_rows()).sum::<usize>()
    );
}
