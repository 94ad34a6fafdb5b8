//! The same rows give the same figures however the export lays them out: `cwkpi gen`
//! writes one export in every order (one sorted file per table, one file per year, a
//! random order over several files), and every output that lists figures or rows (the
//! KPI csv, the analysts' views, the nightly run's tables, validation and report
//! pages) must agree byte for byte. A difference means a result depends on row order.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const AS_OF: &str = "2026-11-22";
const ORDERS: [&str; 3] = ["sorted", "by-year", "random"];

/// The views analysts query, each in an order that leaves no ties. A row's unit_key is its
/// unit's row number in this run's export, not a figure, and is left out.
const VIEWS_SQL: &str = "
SELECT * FROM kpi ORDER BY as_of, unit_id, kpi_id;
SELECT * EXCLUDE (unit_key) FROM kpi_items ORDER BY as_of, kpi_id, unit_id, item_id, case_id;
SELECT * FROM kpi_projection ORDER BY days_ahead, unit_id, kpi_id;
SELECT * FROM case_lawfulness ORDER BY case_id;
SELECT * FROM recovery_cases ORDER BY position;
SELECT * FROM recovery_caseworkers ORDER BY unit_id, caseworker_id;
SELECT * FROM deadline_breaches ORDER BY deadline, case_id, decision_id;
SELECT * FROM turning_18 ORDER BY turns_18_on, case_id;
SELECT * FROM turning_18_units ORDER BY unit_id;
SELECT * FROM finance_reconciliation ORDER BY unit_id;
SELECT * FROM finance_paid_without_measure ORDER BY posting_id;
SELECT * FROM finance_registered_not_paid ORDER BY measure_id;
SELECT * FROM overdue_items ORDER BY unit_id, case_id, kind, item_id;
SELECT * FROM upcoming_deadlines ORDER BY unit_id, case_id, kind, item_id;
SELECT * FROM validation_queries ORDER BY table_name, rule, record_id, column_name, locator;
";

/// What a nightly run publishes that must not depend on the export's layout
/// (summary.json names the export folder and its fingerprint; workbooks carry the time
/// they were written).
const NIGHTLY_FILES: [&str; 10] = [
    "kpi.csv",
    "validation.csv",
    "validation_counts.csv",
    "report/tables/kpi.csv",
    "report/tables/kpi_trend.csv",
    "report/tables/production.csv",
    "report/tables/overdue.csv",
    "report/tables/deadlines.csv",
    "report/tables/caseworkers.csv",
    "report/tables/breaches.csv",
];

fn cwkpi(args: &[&str]) -> Output {
    let o = Command::new(env!("CARGO_BIN_EXE_cwkpi")).args(args).env_remove("RUST_LOG").output().expect("cwkpi runs");
    assert!(o.status.success(), "cwkpi {}: {}", args.join(" "), String::from_utf8_lossy(&o.stderr));
    o
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap()
}

fn generate(dir: &Path, order: &str, shape: &[&str]) -> PathBuf {
    let out = dir.join(format!("export-{order}"));
    let mut args = vec![
        "gen",
        "--scale",
        "0.05",
        "--seed",
        "5",
        "--as-of",
        AS_OF,
        "--order",
        order,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(shape);
    cwkpi(&args);
    out
}

/// Every output compared, as (name, content).
fn outputs(dir: &Path, export: &Path, order: &str) -> Vec<(String, String)> {
    let e = export.to_str().unwrap();
    let mut all = vec![(
        "kpi --format csv".to_string(),
        text(cwkpi(&["kpi", "--exports", e, "--as-of", AS_OF, "--format", "csv"]).stdout),
    )];
    let views = dir.join("views.sql");
    std::fs::write(&views, VIEWS_SQL).unwrap();
    all.push((
        "sql views".into(),
        text(
            cwkpi(&["sql", "--exports", e, "--as-of", AS_OF, "--format", "csv", "-f", views.to_str().unwrap()]).stdout,
        ),
    ));

    let night = dir.join(format!("nightly-{order}"));
    cwkpi(&["nightly", "--exports", e, "--out", night.to_str().unwrap(), "--as-of", AS_OF]);
    let run = night.join("runs").join(AS_OF);
    let mut pages: Vec<String> = std::fs::read_dir(run.join("report"))
        .unwrap()
        .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".html"))
        .collect();
    pages.sort();
    assert!(pages.len() > 5, "report pages: {pages:?}");
    for file in NIGHTLY_FILES
        .iter()
        .map(|f| f.to_string())
        .chain(pages.into_iter().map(|p| format!("report/{p}")))
        .chain(["validation.html".to_string()])
    {
        let content = std::fs::read_to_string(run.join(&file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        all.push((format!("nightly {file}"), content));
    }
    all
}

/// Generates the export in every order with `shape` and compares every output with the
/// sorted one's.
fn same_outputs_in_every_order(shape: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let mut first: Option<Vec<(String, String)>> = None;
    for order in ORDERS {
        let export = generate(tmp.path(), order, shape);
        let got = outputs(tmp.path(), &export, order);
        match &first {
            None => {
                // The outputs compared hold rows: the comparison is not of empty files.
                let kpi = &got[0].1;
                assert!(kpi.lines().count() > 50, "{kpi}");
                assert!(got[1].1.lines().count() > 500, "views: {} lines", got[1].1.lines().count());
                first = Some(got);
            }
            Some(sorted) => {
                assert_eq!(got.len(), sorted.len());
                for ((name, expected), (_, actual)) in sorted.iter().zip(&got) {
                    if expected != actual {
                        let line = expected.lines().zip(actual.lines()).position(|(a, b)| a != b).unwrap_or(0);
                        panic!(
                            "{name} differs between sorted and {order} ({shape:?}) at line {}:\n  sorted: {}\n  {order}: {}",
                            line + 1,
                            expected.lines().nth(line).unwrap_or(""),
                            actual.lines().nth(line).unwrap_or("")
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn numeric_ids_give_the_same_outputs_in_every_order() {
    same_outputs_in_every_order(&[]);
}

#[test]
fn uuid_ids_with_planned_rows_and_a_large_department_give_the_same_outputs_in_every_order() {
    same_outputs_in_every_order(&["--ids", "uuid", "--future-share", "0.05", "--skew"]);
}

#[test]
fn ids_of_two_source_systems_give_the_same_outputs_in_every_order() {
    same_outputs_in_every_order(&["--ids", "prefixed"]);
}
