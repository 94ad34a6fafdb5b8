//! Views computed at other dates than the catalog's (`kpi_projection`,
//! `recovery_milestones`): each must equal what a catalog as of that date computes.

use chrono::NaiveDate;
use cwkpi::kpi::rows_from_batches;
use cwkpi::{Catalog, CheckedExport, EngineOptions, Rules};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;

fn sample() -> CheckedExport {
    CheckedExport::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample")).unwrap()
}

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn ints(batches: &[RecordBatch], column: &str) -> Vec<Option<i64>> {
    batches
        .iter()
        .flat_map(|b| {
            let a = datafusion::arrow::compute::cast(
                b.column_by_name(column).unwrap(),
                &datafusion::arrow::datatypes::DataType::Int64,
            )
            .unwrap();
            let a = a.as_primitive::<Int64Type>().clone();
            (0..a.len()).map(move |i| a.is_valid(i).then(|| a.value(i))).collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_projection_is_the_kpi_table_of_each_later_sunday() {
    let export = sample();
    let t = d("2026-11-22");
    let catalog = Catalog::new(&export, Rules::builtin(), &[t], &EngineOptions::default()).await.unwrap();
    for days in [7, 14, 21, 28] {
        let projected = catalog
            .query(&format!(
                "SELECT projected_as_of AS as_of, unit_id, kpi_id, numerator, denominator, share, target, met FROM kpi_projection \
                 WHERE days_ahead = {days} ORDER BY unit_id, kpi_id"
            ))
            .await
            .unwrap();
        let projected = rows_from_batches(&projected).unwrap();
        let later = t + chrono::Duration::days(days);
        let direct = Catalog::new(&export, Rules::builtin(), &[later], &EngineOptions::default()).await.unwrap();
        // The five core KPIs and the budget's forecast.
        let core = cwkpi::rules::CORE_KPI_IDS
            .iter()
            .chain([&"budget_forecast"])
            .map(|k| format!("'{k}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let expected = direct
            .query(&format!(
                "SELECT as_of, unit_id, kpi_id, numerator, denominator, share, target, met FROM kpi \
                 WHERE kpi_id IN ({core}) ORDER BY unit_id, kpi_id"
            ))
            .await
            .unwrap();
        let expected = rows_from_batches(&expected).unwrap();
        assert_eq!(projected.len(), export.table("units").unwrap().kept.num_rows() * 6, "{days} days");
        assert_eq!(projected, expected, "{days} days ahead");
    }
    // The projection does not leak into the KPI table of the catalog's own date.
    let dates = catalog.query("SELECT DISTINCT as_of FROM kpi").await.unwrap();
    assert_eq!(dates.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_milestone_counts_the_recovery_cases_of_its_unit_at_its_date() {
    let export = sample();
    let rules = format!(
        "{}\n[[recovery_milestone]]\nunit_id = \"U0001\"\non = \"2026-06-30\"\nmax_remaining = 1000\n\n\
         [[recovery_milestone]]\nunit_id = \"U0002\"\non = \"2026-12-31\"\nmax_remaining = 0\n",
        cwkpi::rules::DEFAULT_RULES
    );
    let rules = Rules::parse(&rules, "test").unwrap();
    let catalog = Catalog::new(&export, rules.clone(), &[d("2026-11-22")], &EngineOptions::default()).await.unwrap();
    let milestones = catalog
        .query("SELECT unit_id, on_date, max_remaining, remaining, met FROM recovery_milestones ORDER BY on_date")
        .await
        .unwrap();
    let remaining = ints(&milestones, "remaining");
    for ((unit, on), got) in [("U0001", "2026-06-30"), ("U0002", "2026-12-31")].into_iter().zip(&remaining) {
        let at = Catalog::new(&export, rules.clone(), &[d(on)], &EngineOptions::default()).await.unwrap();
        let counted = at
            .query(&format!(
                "SELECT count(*) AS n FROM recovery_cases r JOIN unit_tree t ON t.unit_id = r.unit_id WHERE t.ancestor_id = '{unit}'"
            ))
            .await
            .unwrap();
        let want = ints(&counted, "n")[0];
        assert!(want.unwrap() > 0, "the sample has cases to recover under {unit} at {on}");
        assert_eq!(*got, want, "{unit} at {on}");
    }
    let met: Vec<Option<bool>> = milestones
        .iter()
        .flat_map(|b| {
            let m = b.column_by_name("met").unwrap().as_boolean().clone();
            (0..m.len()).map(move |i| m.is_valid(i).then(|| m.value(i))).collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(met, [Some(true), Some(false)]);
}
