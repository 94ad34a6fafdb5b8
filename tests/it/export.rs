//! Reading exports: type conversions the contract allows, and fatal errors that name
//! file, table and column. Row checks (rejected rows) are tested at the end.

use std::path::Path;
use std::sync::Arc;

use cwkpi::CheckedExport;
use datafusion::arrow::array::{
    ArrayRef, AsArray, BooleanArray, Date32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Date32Type, Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;

fn write(path: &Path, columns: Vec<(&str, ArrayRef)>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let schema = Arc::new(Schema::new(
        columns.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect::<Vec<_>>(),
    ));
    let batch = RecordBatch::try_new(schema.clone(), columns.into_iter().map(|(_, a)| a).collect()).unwrap();
    let mut w = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn s(v: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(v.to_vec()))
}
fn d(v: &[&str]) -> ArrayRef {
    let days: Date32Array = v
        .iter()
        .map(|x| {
            (!x.is_empty())
                .then(|| Date32Type::from_naive_date(chrono::NaiveDate::parse_from_str(x, "%Y-%m-%d").unwrap()))
        })
        .collect();
    Arc::new(days)
}

/// A small valid export: one unit, one case, one measure, no other rows.
fn base_export(dir: &Path) {
    write(&dir.join("units.parquet"), vec![("unit_id", s(&["U1"])), ("name", s(&["Afd"])), ("parent_id", s(&[""]))]);
    write(
        &dir.join("caseworkers.parquet"),
        vec![("caseworker_id", s(&["W1"])), ("name", s(&["SB"])), ("unit_id", s(&["U1"]))],
    );
    write(
        &dir.join("children.parquet"),
        vec![("child_id", s(&["K1"])), ("birth_date", d(&["2015-01-01"])), ("cpr", s(&["010115-1111"]))],
    );
    write(
        &dir.join("cases.parquet"),
        vec![
            ("case_id", s(&["C1"])),
            ("child_id", s(&["K1"])),
            ("unit_id", s(&["U1"])),
            ("opened_on", d(&["2025-01-01"])),
        ],
    );
    write(
        &dir.join("measures.parquet"),
        vec![
            ("measure_id", s(&["M1"])),
            ("case_id", s(&["C1"])),
            ("paragraph", s(&["SEL:52.3"])),
            ("started_on", d(&["2025-02-01"])),
        ],
    );
    write(
        &dir.join("investigations.parquet"),
        vec![("investigation_id", s(&[])), ("case_id", s(&[])), ("started_on", d(&[]))],
    );
    write(&dir.join("action_plans.parquet"), vec![("plan_id", s(&[])), ("case_id", s(&[])), ("created_on", d(&[]))]);
    write(
        &dir.join("follow_ups.parquet"),
        vec![("follow_up_id", s(&[])), ("case_id", s(&[])), ("performed_on", d(&[]))],
    );
}

/// The base export's measures as a folder (`measures/`), empty: the caller writes its files.
fn measures_as_folder(dir: &Path) -> std::path::PathBuf {
    std::fs::remove_file(dir.join("measures.parquet")).unwrap();
    dir.join("measures")
}

/// The required columns of one measure of the base export's case C1.
fn one_measure(id: &str, paragraph: &str, started_on: &str) -> Vec<(&'static str, ArrayRef)> {
    vec![
        ("measure_id", s(&[id])),
        ("case_id", s(&["C1"])),
        ("paragraph", s(&[paragraph])),
        ("started_on", d(&[started_on])),
    ]
}

fn load_err(dir: &Path) -> String {
    let err = CheckedExport::load(dir).expect_err("the export should be refused");
    assert_eq!(err.exit_code(), 2, "{err}");
    err.to_string()
}

fn strings(export: &CheckedExport, table: &str, column: &str) -> Vec<Option<String>> {
    let t = export.table(table).unwrap();
    // A column that repeats a few values is held as a dictionary: read as the text it holds.
    let text = datafusion::arrow::compute::cast(t.kept.column_by_name(column).unwrap(), &DataType::Utf8).unwrap();
    text.as_string::<i32>().iter().map(|v| v.map(str::to_string)).collect()
}

fn dates(export: &CheckedExport, table: &str, column: &str) -> Vec<Option<String>> {
    let t = export.table(table).unwrap();
    let a = t.kept.column_by_name(column).unwrap().as_primitive::<Date32Type>();
    (0..a.len()).map(|i| a.is_valid(i).then(|| a.value_as_date(i).unwrap().to_string())).collect()
}

use datafusion::arrow::array::Array;

#[test]
fn a_valid_export_loads_with_optional_columns_absent() {
    let tmp = tempfile::tempdir().unwrap();
    base_export(tmp.path());
    let export = CheckedExport::load(tmp.path()).unwrap();
    assert_eq!(export.rejections().count(), 0);
    // Missing optional columns read as null; missing `acute` reads as false.
    assert_eq!(strings(&export, "cases", "caseworker_id"), vec![None]);
    assert_eq!(dates(&export, "measures", "ended_on"), vec![None]);
    let acute = export.table("measures").unwrap().kept.column_by_name("acute").unwrap().as_boolean().clone();
    assert_eq!(acute, BooleanArray::from(vec![false]));
    // An empty string in a nullable id column is null: U1 is a root.
    assert_eq!(strings(&export, "units", "parent_id"), vec![None]);
    // CPR is never read into the catalog.
    assert!(export.table("children").unwrap().kept.column_by_name("cpr").is_none());
}

#[test]
fn integer_ids_and_timestamps_are_converted() {
    let tmp = tempfile::tempdir().unwrap();
    base_export(tmp.path());
    // Integer case ids; opened_on as a naive timestamp (Copenhagen wall clock) late in
    // the evening, which must stay on its own date; closed_on as a UTC timestamp at
    // 23:30 on 2025-06-30, which is 01:30 on 2025-07-01 in Copenhagen (summer time).
    let naive = chrono::NaiveDate::from_ymd_opt(2025, 1, 1)
        .unwrap()
        .and_hms_opt(23, 59, 0)
        .unwrap()
        .and_utc()
        .timestamp_micros();
    let utc = chrono::NaiveDate::from_ymd_opt(2025, 6, 30)
        .unwrap()
        .and_hms_opt(23, 30, 0)
        .unwrap()
        .and_utc()
        .timestamp_micros();
    write(
        &tmp.path().join("cases.parquet"),
        vec![
            ("case_id", Arc::new(Int64Array::from(vec![17])) as ArrayRef),
            ("child_id", s(&["K1"])),
            ("unit_id", s(&["U1"])),
            ("opened_on", Arc::new(TimestampMicrosecondArray::from(vec![naive]))),
            ("closed_on", Arc::new(TimestampMicrosecondArray::from(vec![utc]).with_timezone("UTC"))),
            ("extra_column", s(&["ignored"])),
        ],
    );
    write(
        &tmp.path().join("measures.parquet"),
        vec![
            ("measure_id", s(&["M1"])),
            ("case_id", Arc::new(Int64Array::from(vec![17]))),
            ("paragraph", s(&["SEL:52.3"])),
            ("started_on", d(&["2025-02-01"])),
        ],
    );
    let export = CheckedExport::load(tmp.path()).unwrap();
    assert_eq!(export.rejections().count(), 0, "{:?}", export.rejections().collect::<Vec<_>>());
    assert_eq!(strings(&export, "cases", "case_id"), vec![Some("17".into())]);
    assert_eq!(dates(&export, "cases", "opened_on"), vec![Some("2025-01-01".into())]);
    assert_eq!(dates(&export, "cases", "closed_on"), vec![Some("2025-07-01".into())]);
}

#[test]
fn a_table_may_be_a_folder_whose_files_differ_in_optional_columns() {
    let tmp = tempfile::tempdir().unwrap();
    base_export(tmp.path());
    let dir = measures_as_folder(tmp.path());
    write(&dir.join("2024.parquet"), one_measure("M1", "SEL:52.3", "2024-02-01"));
    let mut later = one_measure("M2", "BL:32", "2025-02-01");
    later.push(("acute", Arc::new(BooleanArray::from(vec![Some(true)])) as ArrayRef));
    later.push(("ended_on", d(&["2025-03-01"])));
    write(&dir.join("2025.parquet"), later);
    let export = CheckedExport::load(tmp.path()).unwrap();
    assert_eq!(strings(&export, "measures", "measure_id"), vec![Some("M1".into()), Some("M2".into())]);
    assert_eq!(dates(&export, "measures", "ended_on"), vec![None, Some("2025-03-01".into())]);
}

/// A link inside a table's folder that points back at it would read the same files
/// without end (a scale-100 export read until memory ran out); a second link to a folder
/// would read its rows twice. Both stop the run, naming the folder.
#[cfg(unix)]
#[test]
fn a_folder_reached_twice_through_links_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    base_export(tmp.path());
    let dir = measures_as_folder(tmp.path());
    write(&dir.join("2025.parquet"), one_measure("M1", "SEL:52.3", "2025-02-01"));
    std::os::unix::fs::symlink(&dir, dir.join("again")).unwrap();
    let err = load_err(tmp.path());
    assert!(err.contains("measures/again") && err.contains("reached a second time through a link"), "{err}");

    std::fs::remove_file(dir.join("again")).unwrap();
    std::fs::create_dir(dir.join("older")).unwrap();
    std::os::unix::fs::symlink(dir.join("older"), dir.join("older-link")).unwrap();
    let err = load_err(tmp.path());
    assert!(err.contains("measures/older") && err.contains("reached a second time"), "{err}");

    std::fs::remove_file(dir.join("older-link")).unwrap();
    let export = CheckedExport::load(tmp.path()).unwrap();
    assert_eq!(strings(&export, "measures", "measure_id"), vec![Some("M1".into())]);
}

#[test]
fn fatal_errors_name_file_table_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    base_export(tmp.path());
    std::fs::remove_file(tmp.path().join("follow_ups.parquet")).unwrap();
    let msg = load_err(tmp.path());
    assert!(msg.contains("follow_ups.parquet") && msg.contains("table follow_ups") && msg.contains("missing"), "{msg}");

    base_export(tmp.path());
    write(
        &tmp.path().join("cases.parquet"),
        vec![("case_id", s(&["C1"])), ("child_id", s(&["K1"])), ("unit_id", s(&["U1"]))],
    );
    let msg = load_err(tmp.path());
    assert!(msg.contains("cases.parquet") && msg.contains("column opened_on") && msg.contains("missing"), "{msg}");

    base_export(tmp.path());
    write(
        &tmp.path().join("cases.parquet"),
        vec![
            ("case_id", s(&["C1"])),
            ("child_id", s(&["K1"])),
            ("unit_id", s(&["U1"])),
            ("opened_on", s(&["2025-01-01"])),
        ],
    );
    let msg = load_err(tmp.path());
    assert!(msg.contains("cases.parquet") && msg.contains("column opened_on") && msg.contains("Utf8"), "{msg}");

    base_export(tmp.path());
    std::fs::write(tmp.path().join("units.parquet"), b"PAR1 this is not parquet").unwrap();
    let msg = load_err(tmp.path());
    assert!(
        msg.contains("units.parquet") && msg.contains("table units") && msg.contains("not a readable Parquet file"),
        "{msg}"
    );

    base_export(tmp.path());
    let bytes = std::fs::read(tmp.path().join("measures.parquet")).unwrap();
    std::fs::write(tmp.path().join("measures.parquet"), &bytes[..bytes.len() / 2]).unwrap();
    let msg = load_err(tmp.path());
    assert!(msg.contains("measures.parquet") && msg.contains("table measures"), "{msg}");

    base_export(tmp.path());
    std::fs::create_dir_all(tmp.path().join("units")).unwrap();
    let msg = load_err(tmp.path());
    assert!(msg.contains("units") && msg.contains("both"), "{msg}");
}

#[test]
fn rejected_rows_are_listed_and_cascade() {
    let tmp = tempfile::tempdir().unwrap();
    base_export(tmp.path());
    // C2 duplicates nothing but names a unit that does not exist; C3 closes before it opens;
    // C4 appears twice; C5 has no child_id. Measure M2 belongs to the rejected C2, so it
    // dangles too; M3 belongs to a case that was never there.
    write(
        &tmp.path().join("cases.parquet"),
        vec![
            ("case_id", s(&["C1", "C2", "C3", "C4", "C4", "C5"])),
            (
                "child_id",
                Arc::new(StringArray::from(vec![Some("K1"), Some("K1"), Some("K1"), Some("K1"), Some("K1"), None]))
                    as ArrayRef,
            ),
            ("unit_id", s(&["U1", "NOPE", "U1", "U1", "U1", "U1"])),
            ("opened_on", d(&["2025-01-01", "2025-01-01", "2025-05-01", "2025-01-01", "2025-01-01", "2025-01-01"])),
            ("closed_on", d(&["", "", "2025-04-30", "", "", ""])),
        ],
    );
    write(
        &tmp.path().join("measures.parquet"),
        vec![
            ("measure_id", s(&["M1", "M2", "M3"])),
            ("case_id", s(&["C1", "C2", "C9"])),
            ("paragraph", s(&["SEL:52.3", "SEL:52.3", "SEL:52.3"])),
            ("started_on", d(&["2025-02-01", "2025-02-01", "2025-02-01"])),
        ],
    );
    let export = CheckedExport::load(tmp.path()).unwrap();
    assert_eq!(strings(&export, "cases", "case_id"), vec![Some("C1".into())]);
    assert_eq!(strings(&export, "measures", "measure_id"), vec![Some("M1".into())]);
    let listed: Vec<(String, i64, &str, String)> =
        export.rejections().map(|r| (r.table.to_string(), r.row, r.rule.as_str(), r.column.clone())).collect();
    assert_eq!(
        listed,
        vec![
            ("cases".into(), 2, "dangling reference", "unit_id".into()),
            ("cases".into(), 3, "end before start", "closed_on".into()),
            ("cases".into(), 4, "duplicate id", "case_id".into()),
            ("cases".into(), 5, "duplicate id", "case_id".into()),
            ("cases".into(), 6, "null in required column", "child_id".into()),
            ("measures".into(), 2, "dangling reference", "case_id".into()),
            ("measures".into(), 3, "dangling reference", "case_id".into()),
        ]
    );
    let locator = &export.rejections().nth(1).unwrap().locator;
    assert_eq!(locator, "case_id=C3 unit_id=U1 opened_on=2025-05-01 closed_on=2025-04-30");
}

#[test]
fn unit_cycles_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    base_export(tmp.path());
    write(
        &tmp.path().join("units.parquet"),
        vec![
            ("unit_id", s(&["U1", "A", "B", "X"])),
            ("name", s(&["Org", "a", "b", "x"])),
            ("parent_id", Arc::new(StringArray::from(vec![None, Some("B"), Some("A"), Some("A")])) as ArrayRef),
        ],
    );
    let export = CheckedExport::load(tmp.path()).unwrap();
    assert_eq!(strings(&export, "units", "unit_id"), vec![Some("U1".into())]);
    let rules: Vec<&str> = export.rejections().map(|r| r.rule.as_str()).collect();
    // A and B form a loop; X hangs below it and cannot reach the root.
    assert_eq!(rules.iter().filter(|r| **r == "cycle in unit tree").count(), 2, "{rules:?}");
    assert_eq!(rules.iter().filter(|r| **r == "dangling reference").count(), 1, "{rules:?}");
}
