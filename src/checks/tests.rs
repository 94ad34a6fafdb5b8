use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Date32Array, StringArray, new_null_array};

use super::*;
use crate::contract::TABLES;
use crate::export::FileRows;

fn ids(prefix: &str, numbers: impl Iterator<Item = usize>) -> Vec<String> {
    numbers.map(|n| format!("{prefix}{n}")).collect()
}

/// A table of the contract with the given string columns, every other column null.
fn table(name: &str, columns: &[(&str, Vec<Option<String>>)], rows: usize) -> RawTable {
    let spec = TABLES.iter().find(|t| t.name == name).expect("table in contract");
    let schema = spec.raw_schema();
    let arrays: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| match columns.iter().find(|(c, _)| *c == f.name()) {
            // As read: a column that repeats is held as a dictionary.
            Some((_, values)) => {
                datafusion::arrow::compute::cast(&StringArray::from(values.clone()), f.data_type()).expect("text")
            }
            None if f.data_type() == &DataType::Date32 => {
                Arc::new(Date32Array::from(vec![Some(19_000); rows])) as ArrayRef
            }
            None if f.data_type() == &DataType::Boolean => Arc::new(BooleanArray::from(vec![false; rows])) as ArrayRef,
            None if f.data_type() == &DataType::Float64 => {
                Arc::new(datafusion::arrow::array::Float64Array::from(vec![Some(1.0); rows])) as ArrayRef
            }
            None => new_null_array(f.data_type(), rows),
        })
        .collect();
    let batch = RecordBatch::try_new(schema, arrays).expect("batch");
    RawTable {
        spec,
        present: true,
        files: Vec::new(),
        sources: vec![FileRows { file: Arc::from(format!("{name}.parquet")), rows }],
        batch,
        nonexistent_times: Vec::new(),
    }
}

fn some(values: Vec<String>) -> Vec<Option<String>> {
    values.into_iter().map(Some).collect()
}

/// Duplicates and dangling references are found in tables of many rows.
#[test]
fn large_tables_find_duplicates_and_dangling_references() {
    let n = 70_000;
    let units = table("units", &[("unit_id", some(vec!["U1".into()])), ("name", some(vec!["Unit".into()]))], 1);
    let children = table("children", &[("child_id", some(ids("B", 1..=n)))], n);
    let case_ids = ids("C", 1..=n);
    let cases = table(
        "cases",
        &[
            ("case_id", some(case_ids.clone())),
            ("child_id", some(ids("B", 1..=n))),
            ("unit_id", some(vec!["U1".to_string(); n])),
        ],
        n,
    );
    let caseworkers = table("caseworkers", &[], 0);
    // Measures in case order, two per case; case C7 is missing from the references
    // (it points at C0), and measure M100 appears twice.
    let mut measure_ids = ids("M", 1..=2 * n);
    measure_ids[100] = "M100".into();
    let mut measure_cases: Vec<String> = (0..2 * n).map(|i| case_ids[i / 2].clone()).collect();
    measure_cases[12] = "C0".into();
    let measures = table(
        "measures",
        &[
            ("measure_id", some(measure_ids)),
            ("case_id", some(measure_cases)),
            ("paragraph", some(vec!["SEL:52".to_string(); 2 * n])),
        ],
        2 * n,
    );
    let raw = [units, children, caseworkers, cases, measures];
    let checked = check_all(&raw, &[]).expect("checks run");
    let rejected = |name: &str| -> Vec<(i64, Rule)> {
        let t = checked.iter().find(|t| t.spec.name == name).expect("table checked");
        t.rejected.iter().map(|r| (r.row, r.rule)).collect()
    };
    assert_eq!(rejected("cases"), vec![]);
    // Rows are 1-based: index 12 is row 13; the two copies of M100 are indexes 99 and 100.
    assert_eq!(rejected("measures"), vec![(13, Rule::Dangling), (100, Rule::DuplicateId), (101, Rule::DuplicateId)]);
}

/// Rows listed in no order: each kept row's parent row is kept for a keyed parent,
/// numbered among the parent's kept rows when some of them are rejected.
#[test]
fn kept_rows_know_their_parent_rows() {
    let n = 5000;
    let scattered = |count: usize| (0..count).map(move |i| i * 7919 % count);
    let units = table("units", &[("unit_id", some(vec!["U1".into()])), ("name", some(vec!["Unit".into()]))], 1);
    let children = table("children", &[("child_id", some(ids("B", 1..=n)))], n);
    // Cases in reverse order; every 100th names a child that does not exist.
    let cases = table(
        "cases",
        &[
            ("case_id", some(ids("C", (1..=n).rev()))),
            (
                "child_id",
                some((1..=n).rev().map(|i| if i % 100 == 0 { "B0".to_string() } else { format!("B{i}") }).collect()),
            ),
            ("unit_id", some(vec!["U1".to_string(); n])),
        ],
        n,
    );
    let caseworkers = table("caseworkers", &[], 0);
    // Two measures per case, scattered.
    let measure_cases: Vec<String> = scattered(2 * n).map(|m| format!("C{}", m / 2 + 1)).collect();
    let measures = table(
        "measures",
        &[
            ("measure_id", some(scattered(2 * n).map(|m| format!("M{m}")).collect())),
            ("case_id", some(measure_cases)),
            ("paragraph", some(vec!["SEL:52".to_string(); 2 * n])),
        ],
        2 * n,
    );
    let raw = [units, children, caseworkers, cases, measures];
    let checked = check_all(&raw, &["cases"]).expect("checks run");
    let table_of = |name: &str| checked.iter().find(|t| t.spec.name == name).expect("table checked");
    let (cases, measures) = (table_of("cases"), table_of("measures"));
    assert_eq!(cases.rejected.len(), n / 100);
    // A rejected case's measures dangle.
    assert_eq!(measures.rejected.len(), 2 * n / 100);
    assert!(measures.rejected.iter().all(|r| r.rule == Rule::Dangling && r.column == "case_id"));
    let parent_rows = measures.parent_rows("case_id", "cases").expect("kept for a keyed parent");
    assert_eq!(parent_rows.len(), measures.kept.num_rows());
    let case_ids = cases.kept.column_by_name("case_id").unwrap().as_string::<i32>();
    let measure_case_ids = measures.kept.column_by_name("case_id").unwrap().as_string::<i32>();
    for i in 0..parent_rows.len() {
        assert_eq!(case_ids.value(parent_rows.value(i) as usize), measure_case_ids.value(i), "measure row {i}");
    }
    // Only references to keyed tables keep their parent rows.
    assert!(cases.parent_rows("child_id", "children").is_none());
}

/// A column held as a dictionary (the postings' unit and account) is checked as the text
/// it holds: its values are looked up in the parent once each, an unknown unit dangles, a
/// missing one is a null in a required column, and the locator names the unit. The kept
/// rows stay a dictionary.
#[test]
fn a_repeating_column_is_checked_as_its_text() {
    let units = table(
        "units",
        &[("unit_id", some(vec!["U1".into(), "U2".into()])), ("name", some(vec!["A".into(), "B".into()]))],
        2,
    );
    let children = table("children", &[("child_id", some(vec!["B1".into()]))], 1);
    let cases = table(
        "cases",
        &[
            ("case_id", some(vec!["C1".into()])),
            ("child_id", some(vec!["B1".into()])),
            ("unit_id", some(vec!["U1".into()])),
        ],
        1,
    );
    let caseworkers = table("caseworkers", &[], 0);
    let measures = table("measures", &[], 0);
    let units_of_postings = vec![Some("U1".to_string()), Some("U2".into()), Some("U9".into()), None, Some("U2".into())];
    let postings = table(
        "postings",
        &[
            ("posting_id", some(ids("P", 1..=5))),
            ("unit_id", units_of_postings),
            ("account", some(vec!["4.1".to_string(); 5])),
            ("case_id", vec![Some("C1".into()), None, None, None, Some("C7".into())]),
        ],
        5,
    );
    assert!(matches!(postings.batch.column_by_name("unit_id").unwrap().data_type(), DataType::Dictionary(..)));
    let raw = [units, children, caseworkers, cases, measures, postings];
    let checked = check_all(&raw, &[]).expect("checks run");
    let postings = checked.iter().find(|t| t.spec.name == "postings").expect("postings checked");
    let rejected: Vec<(i64, Rule, &str)> =
        postings.rejected.iter().map(|r| (r.row, r.rule, r.column.as_str())).collect();
    assert_eq!(
        rejected,
        vec![(3, Rule::Dangling, "unit_id"), (4, Rule::NullRequired, "unit_id"), (5, Rule::Dangling, "case_id")]
    );
    assert!(postings.rejected[0].locator.contains("unit_id=U9"), "{}", postings.rejected[0].locator);
    let kept_units = postings.kept.column_by_name("unit_id").unwrap();
    assert!(matches!(kept_units.data_type(), DataType::Dictionary(..)));
    let kept_units = datafusion::arrow::compute::cast(kept_units, &DataType::Utf8).unwrap();
    let kept_units: Vec<&str> = kept_units.as_string::<i32>().iter().flatten().collect();
    assert_eq!(kept_units, vec!["U1", "U2"]);
}
