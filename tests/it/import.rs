//! `cwkpi import`: CSV exports in the shapes Danish case systems and Excel produce,
//! read back through the same loader every command uses.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use cwkpi::import::import_csv_export;
use cwkpi::{CheckedExport, Error};
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Date32Type, Float64Type, TimeUnit, TimestampMicrosecondType};

/// A consistent export: every reference resolves, so every row is kept.
/// The multi-line note and the quoted comma check quoting; `Case_ID` checks header
/// matching; `note` and `cpr` are columns the import must not carry over.
const ISO_COMMA: &[(&str, &str)] = &[
    ("units", "unit_id,name,parent_id\nF,Forvaltning,\nC1,\"Center Nord, BFCK\",F\nA1,Afdeling Øst,C1\n"),
    ("caseworkers", "caseworker_id,name,unit_id\nW1,Søs Ærø,A1\n"),
    ("children", "child_id,birth_date,cpr\nB1,2015-04-03,0304151234\nB2,2012-11-30,3011129876\n"),
    (
        "cases",
        " Case_ID ,child_id,unit_id,caseworker_id,opened_on,closed_on,target_group,note\n\
         S1,B1,A1,W1,2023-01-10,,udsatte,\"two\nlines\"\n\
         S2,B2,A1,,2022-05-01,2023-06-30,handicap,\n",
    ),
    (
        "measures",
        "measure_id,case_id,paragraph,started_on,ended_on,decided_on,acute,monthly_cost_dkk,provider\n\
         M1,S1,SEL:52.3.7,2023-02-01,,2023-01-25,yes,12500.50,Opholdssted A\n\
         M2,S2,SEL:52.3.1,2022-06-01,2023-06-30,,,,\n",
    ),
    (
        "investigations",
        "investigation_id,case_id,started_on,completed_on,aware_on\nU1,S1,2023-01-12,2023-04-01,2023-01-05\n",
    ),
    ("action_plans", "plan_id,case_id,created_on\nH1,S1,2023-02-15\n"),
    ("follow_ups", "follow_up_id,case_id,performed_on,measure_id,next_due_on\nO1,S1,2023-08-01,M1,2024-02-01\n"),
];

/// The same export as Danish Excel writes it: semicolons, CRLF, Danish dates and
/// numbers, ja/nej, optional columns left out, and Windows-1252 once encoded.
const DANISH_SEMICOLON: &[(&str, &str)] = &[
    ("units", "UNIT_ID;NAME;PARENT_ID\r\nF;Forvaltning;\r\nC1;Center Nord, BFCK;F\r\nA1;Afdeling Øst;C1\r\n"),
    ("caseworkers", "caseworker_id;name;unit_id\r\nW1;Søren Æblegård;A1\r\n"),
    ("children", "cpr;child_id;birth_date\r\n0304151234;B1;03-04-2015\r\n3011129876;B2;30.11.2012\r\n"),
    (
        "cases",
        "case_id;child_id;unit_id;caseworker_id;opened_on;closed_on;target_group\r\n\
         S1;B1;A1;W1;10-01-2023;;udsatte\r\n\
         S2;B2;A1;;1/5/2022;30-06-2023 00:00;handicap\r\n",
    ),
    (
        "measures",
        "measure_id;case_id;paragraph;started_on;ended_on;decided_on;acute;monthly_cost_dkk\r\n\
         M1;S1;SEL:52.3.7;01-02-2023;;25-01-2023;Ja;12.500,50\r\n\
         M2;S2;SEL:52.3.1;01-06-2022;;;nej;\r\n",
    ),
    ("investigations", "investigation_id;case_id;started_on;completed_on\r\nU1;S1;12-01-2023;01-04-2023\r\n"),
    ("action_plans", "plan_id;case_id;created_on\r\nH1;S1;15-02-2023\r\n"),
    ("follow_ups", "follow_up_id;case_id;performed_on\r\nO1;S1;01-08-2023\r\n"),
];

struct Folders {
    _root: tempfile::TempDir,
    root: PathBuf,
    csv: PathBuf,
    out: PathBuf,
}

fn folders() -> Folders {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().to_path_buf();
    let csv = path.join("csv");
    std::fs::create_dir(&csv).unwrap();
    Folders { out: path.join("out"), csv, root: path, _root: root }
}

fn write_utf8(dir: &Path, files: &[(&str, &str)]) {
    for (table, text) in files {
        std::fs::write(dir.join(format!("{table}.csv")), text).unwrap();
    }
}

fn write_windows_1252(dir: &Path, files: &[(&str, &str)]) {
    for (table, text) in files {
        let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(text);
        assert!(!unmappable);
        std::fs::write(dir.join(format!("{table}.csv")), bytes).unwrap();
    }
}

/// The files with one table's text replaced.
fn with(files: &[(&'static str, &'static str)], table: &str, text: &'static str) -> Vec<(&'static str, &'static str)> {
    files.iter().map(|&(t, body)| (t, if t == table { text } else { body })).collect()
}

fn kept<'a>(export: &'a CheckedExport, table: &str) -> &'a RecordBatch {
    let table = export.table(table).unwrap();
    assert!(table.rejected.is_empty(), "{}: {:?}", table.spec.name, table.rejected);
    &table.kept
}

fn strings(batch: &RecordBatch, column: &str) -> Vec<Option<String>> {
    // A column that repeats a few values is held as a dictionary: read as the text it holds.
    let text = datafusion::arrow::compute::cast(batch.column_by_name(column).unwrap(), &DataType::Utf8).unwrap();
    text.as_string::<i32>().iter().map(|v| v.map(str::to_string)).collect()
}

fn dates(batch: &RecordBatch, column: &str) -> Vec<Option<NaiveDate>> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    batch
        .column_by_name(column)
        .unwrap()
        .as_primitive::<Date32Type>()
        .iter()
        .map(|d| d.map(|d| epoch + chrono::Duration::days(d.into())))
        .collect()
}

fn d(s: &str) -> Option<NaiveDate> {
    Some(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap())
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

/// What both fixtures hold in common, read back through the loader.
fn assert_common_values(export: &CheckedExport, caseworker_name: &str) {
    let units = kept(export, "units");
    assert_eq!(strings(units, "unit_id"), vec![s("F"), s("C1"), s("A1")]);
    assert_eq!(strings(units, "name"), vec![s("Forvaltning"), s("Center Nord, BFCK"), s("Afdeling Øst")]);
    assert_eq!(strings(units, "parent_id"), vec![None, s("F"), s("C1")]);

    assert_eq!(strings(kept(export, "caseworkers"), "name"), vec![s(caseworker_name)]);

    let children = kept(export, "children");
    assert_eq!(strings(children, "child_id"), vec![s("B1"), s("B2")]);
    assert_eq!(dates(children, "birth_date"), vec![d("2015-04-03"), d("2012-11-30")]);
    assert!(children.column_by_name("cpr").is_none());

    let cases = kept(export, "cases");
    assert_eq!(strings(cases, "case_id"), vec![s("S1"), s("S2")]);
    assert_eq!(strings(cases, "caseworker_id"), vec![s("W1"), None]);
    assert_eq!(dates(cases, "opened_on"), vec![d("2023-01-10"), d("2022-05-01")]);
    assert_eq!(dates(cases, "closed_on"), vec![None, d("2023-06-30")]);
    assert_eq!(strings(cases, "target_group"), vec![s("udsatte"), s("handicap")]);

    let measures = kept(export, "measures");
    assert_eq!(strings(measures, "paragraph"), vec![s("SEL:52.3.7"), s("SEL:52.3.1")]);
    assert_eq!(dates(measures, "decided_on"), vec![d("2023-01-25"), None]);
    let acute = measures.column_by_name("acute").unwrap().as_boolean();
    assert_eq!(acute.iter().collect::<Vec<_>>(), vec![Some(true), Some(false)]);
    let cost = measures.column_by_name("monthly_cost_dkk").unwrap().as_primitive::<Float64Type>();
    assert_eq!(cost.iter().collect::<Vec<_>>(), vec![Some(12500.5), None]);

    let investigations = kept(export, "investigations");
    assert_eq!(dates(investigations, "started_on"), vec![d("2023-01-12")]);
    assert_eq!(dates(investigations, "completed_on"), vec![d("2023-04-01")]);
    assert_eq!(dates(kept(export, "action_plans"), "created_on"), vec![d("2023-02-15")]);
    assert_eq!(dates(kept(export, "follow_ups"), "performed_on"), vec![d("2023-08-01")]);
}

fn assert_no_cpr_written(out: &Path) {
    for entry in std::fs::read_dir(out).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        for cpr in ["0304151234", "3011129876"] {
            assert!(!bytes.windows(cpr.len()).any(|w| w == cpr.as_bytes()), "cpr written to the export");
        }
    }
}

fn export_error(result: cwkpi::Result<cwkpi::import::ImportSummary>) -> String {
    match result {
        Err(Error::Export(message)) => message,
        other => panic!("expected an export error, got {other:?}"),
    }
}

/// Nothing but the CSV folder is left: no output folder, no temporary folder.
fn assert_nothing_written(f: &Folders) {
    let entries: Vec<String> =
        std::fs::read_dir(&f.root).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(entries, vec!["csv".to_string()]);
}

#[test]
fn utf8_comma_export_with_iso_dates() {
    let f = folders();
    write_utf8(&f.csv, ISO_COMMA);
    let summary = import_csv_export(&f.csv, &f.out).unwrap();
    assert_eq!(
        summary.tables,
        vec![
            ("units", 3),
            ("caseworkers", 1),
            ("children", 2),
            ("cases", 2),
            ("measures", 2),
            ("investigations", 1),
            ("action_plans", 1),
            ("follow_ups", 1)
        ]
    );
    let export = CheckedExport::load(&f.out).unwrap();
    assert_common_values(&export, "Søs Ærø");
    let measures = kept(&export, "measures");
    assert_eq!(strings(measures, "provider"), vec![s("Opholdssted A"), None]);
    assert_eq!(dates(measures, "ended_on"), vec![None, d("2023-06-30")]);
    assert_eq!(dates(kept(&export, "investigations"), "aware_on"), vec![d("2023-01-05")]);
    assert_eq!(strings(kept(&export, "follow_ups"), "measure_id"), vec![s("M1")]);
    assert_no_cpr_written(&f.out);
}

#[test]
fn windows_1252_semicolon_export_with_danish_dates() {
    let f = folders();
    write_windows_1252(&f.csv, DANISH_SEMICOLON);
    // The encoding really is Windows-1252: "ø" is one byte, not valid UTF-8.
    assert!(std::str::from_utf8(&std::fs::read(f.csv.join("caseworkers.csv")).unwrap()).is_err());
    import_csv_export(&f.csv, &f.out).unwrap();
    let export = CheckedExport::load(&f.out).unwrap();
    assert_common_values(&export, "Søren Æblegård");
    // Optional columns absent from the CSV read as null.
    let measures = kept(&export, "measures");
    assert_eq!(strings(measures, "provider"), vec![None, None]);
    assert_eq!(dates(kept(&export, "investigations"), "aware_on"), vec![None]);
    assert_no_cpr_written(&f.out);
}

#[test]
fn utf8_with_byte_order_mark_and_tabs() {
    let f = folders();
    let files: Vec<(&str, String)> = ISO_COMMA
        .iter()
        .map(|(t, body)| (*t, format!("\u{feff}{}", body.replace(",\"two\nlines\"", ",x").replace(',', "\t"))))
        .collect();
    for (table, text) in &files {
        std::fs::write(f.csv.join(format!("{table}.csv")), text).unwrap();
    }
    // The quoted comma became a tab inside quotes; put the name back.
    let units = "unit_id\tname\tparent_id\nF\tForvaltning\t\nC1\t\"Center Nord, BFCK\"\tF\nA1\tAfdeling Øst\tC1\n";
    std::fs::write(f.csv.join("units.csv"), format!("\u{feff}{units}")).unwrap();
    import_csv_export(&f.csv, &f.out).unwrap();
    let export = CheckedExport::load(&f.out).unwrap();
    assert_common_values(&export, "Søs Ærø");
}

#[test]
fn many_rows_are_written_in_several_batches() {
    let f = folders();
    let mut plans = String::from("plan_id,case_id,created_on\n");
    for i in 0..150_000 {
        plans.push_str(&format!("H{i},S1,2023-02-15\n"));
    }
    write_utf8(&f.csv, ISO_COMMA);
    std::fs::write(f.csv.join("action_plans.csv"), plans).unwrap();
    let summary = import_csv_export(&f.csv, &f.out).unwrap();
    assert!(summary.tables.contains(&("action_plans", 150_000)));
    let export = CheckedExport::load(&f.out).unwrap();
    assert_eq!(kept(&export, "action_plans").num_rows(), 150_000);
}

/// The further tables convert by the same contract: naive timestamps are Copenhagen
/// wall-clock time, offset ones are converted, both read back as Copenhagen instants;
/// a Danish semicolon file's amounts keep their sign and thousands separators.
#[test]
fn further_tables_with_timestamps_and_danish_amounts() {
    let f = folders();
    write_utf8(&f.csv, ISO_COMMA);
    write_utf8(
        &f.csv,
        &[
            (
                "notifications",
                "notification_id,unit_id,received_at,assessed_at,professional,receipt_confirmed_on,child_id,case_id\n\
                 N1,A1,2025-03-14 22:15,2025-03-15T09:30:00,ja,2025-03-18,B1,S1\n\
                 N2,A1,2025-07-01T08:00:00+01:00,,nej,,,\n",
            ),
            (
                "postings",
                "posting_id;unit_id;account;posted_on;amount_dkk;case_id;measure_id\r\n\
                 T1;A1;5.28.20;01-03-2023;12.500,50;S1;M1\r\n\
                 T2;A1;5.28.20;15-03-2023;-1.234,50;S1;M1\r\n\
                 T3;A1;5.28.21;01-04-2023;800;;\r\n",
            ),
        ],
    );
    let summary = import_csv_export(&f.csv, &f.out).unwrap();
    assert_eq!(&summary.tables[8..], &[("notifications", 2), ("postings", 3)]);
    let export = CheckedExport::load(&f.out).unwrap();
    assert_eq!(export.rejections().count(), 0);

    let utc =
        |s: &str| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap().and_utc().timestamp_micros();
    let instants = |batch: &RecordBatch, column: &str| {
        let array = batch.column_by_name(column).unwrap();
        assert_eq!(array.data_type(), &DataType::Timestamp(TimeUnit::Microsecond, Some("Europe/Copenhagen".into())));
        array.as_primitive::<TimestampMicrosecondType>().iter().collect::<Vec<_>>()
    };
    let notifications = kept(&export, "notifications");
    assert_eq!(strings(notifications, "notification_id"), vec![s("N1"), s("N2")]);
    // 22:15 Copenhagen winter time is 21:15 UTC; 08:00 at +01:00 is 07:00 UTC (09:00 in
    // Copenhagen summer time).
    assert_eq!(
        instants(notifications, "received_at"),
        vec![Some(utc("2025-03-14 21:15")), Some(utc("2025-07-01 07:00"))]
    );
    assert_eq!(instants(notifications, "assessed_at"), vec![Some(utc("2025-03-15 08:30")), None]);
    let professional = notifications.column_by_name("professional").unwrap().as_boolean();
    assert_eq!(professional.iter().collect::<Vec<_>>(), vec![Some(true), Some(false)]);
    assert_eq!(dates(notifications, "receipt_confirmed_on"), vec![d("2025-03-18"), None]);
    assert_eq!(strings(notifications, "child_id"), vec![s("B1"), None]);
    assert_eq!(strings(notifications, "case_id"), vec![s("S1"), None]);

    let postings = kept(&export, "postings");
    let amounts = postings.column_by_name("amount_dkk").unwrap().as_primitive::<Float64Type>();
    assert_eq!(amounts.iter().collect::<Vec<_>>(), vec![Some(12500.5), Some(-1234.5), Some(800.0)]);
    assert_eq!(strings(postings, "account"), vec![s("5.28.20"), s("5.28.20"), s("5.28.21")]);
    assert_eq!(dates(postings, "posted_on"), vec![d("2023-03-01"), d("2023-03-15"), d("2023-04-01")]);
    assert_eq!(strings(postings, "case_id"), vec![s("S1"), s("S1"), None]);
    assert_eq!(strings(postings, "measure_id"), vec![s("M1"), s("M1"), None]);
}

#[test]
fn broken_line_names_file_and_line() {
    let f = folders();
    let cases = "case_id,child_id,unit_id,caseworker_id,opened_on,closed_on,target_group\n\
                 S1,B1,A1,W1,2023-01-10,,udsatte\n\
                 S2,B2,A1,2022-05-01,2023-06-30,handicap\n";
    write_utf8(&f.csv, &with(ISO_COMMA, "cases", cases));
    let message = export_error(import_csv_export(&f.csv, &f.out));
    assert!(message.contains("cases.csv") && message.contains("line 3"), "{message}");
    assert_nothing_written(&f);
}

#[test]
fn unterminated_quote_names_file_and_line() {
    let f = folders();
    // The open quote swallows the rest of the file into the last field, which as an
    // id column would otherwise take it without complaint.
    let units = "unit_id,name,parent_id\nF,Forvaltning,\nC1,Center Nord,\"F\nA1,Afdeling Øst,C1\n";
    write_utf8(&f.csv, &with(ISO_COMMA, "units", units));
    let message = export_error(import_csv_export(&f.csv, &f.out));
    assert!(message.contains("units.csv: line 3") && message.contains("never closed"), "{message}");
    assert_nothing_written(&f);
}

#[test]
fn bad_date_names_file_line_and_column_but_not_the_value() {
    let f = folders();
    let cases = "case_id,child_id,unit_id,caseworker_id,opened_on,closed_on,target_group\n\
                 S1,B1,A1,W1,2023-01-10,,udsatte\n\
                 S2,B2,A1,,31-02-2022,,handicap\n";
    write_utf8(&f.csv, &with(ISO_COMMA, "cases", cases));
    let message = export_error(import_csv_export(&f.csv, &f.out));
    assert!(message.contains("cases.csv: line 3, column opened_on: not a date"), "{message}");
    assert!(!message.contains("31-02-2022"), "{message}");
    assert_nothing_written(&f);
}

#[test]
fn bad_values_of_other_kinds_are_not_quoted() {
    for (measures, column) in [
        ("M1,S1,SEL:52.3.7,2023-02-01,,,maybe,,\n", "acute"),
        ("M1,S1,SEL:52.3.7,2023-02-01,,,,12x50,\n", "monthly_cost_dkk"),
    ] {
        let f = folders();
        let header = "measure_id,case_id,paragraph,started_on,ended_on,decided_on,acute,monthly_cost_dkk,provider\n";
        let text: &'static str = format!("{header}{measures}").leak();
        write_utf8(&f.csv, &with(ISO_COMMA, "measures", text));
        let message = export_error(import_csv_export(&f.csv, &f.out));
        assert!(message.contains(&format!("measures.csv: line 2, column {column}:")), "{message}");
        assert!(!message.contains("maybe") && !message.contains("12x50"), "{message}");
        assert_nothing_written(&f);
    }
}

#[test]
fn missing_required_column_names_file_and_column() {
    let f = folders();
    let cases = "case_id,child_id,unit_id,caseworker_id,closed_on\nS1,B1,A1,W1,\n";
    write_utf8(&f.csv, &with(ISO_COMMA, "cases", cases));
    let message = export_error(import_csv_export(&f.csv, &f.out));
    assert!(message.contains("cases.csv") && message.contains("opened_on"), "{message}");
    assert_nothing_written(&f);
}

#[test]
fn missing_core_table_names_the_file() {
    let f = folders();
    write_utf8(&f.csv, &ISO_COMMA[..7]);
    let message = export_error(import_csv_export(&f.csv, &f.out));
    assert!(message.contains("follow_ups.csv"), "{message}");
    assert_nothing_written(&f);
}

#[test]
fn failure_in_the_last_table_leaves_no_output_folder() {
    let f = folders();
    // Every table before follow_ups converts; the last one fails.
    let follow_ups = "follow_up_id,case_id,performed_on\nO1,S1,someday\n";
    write_utf8(&f.csv, &with(ISO_COMMA, "follow_ups", follow_ups));
    let message = export_error(import_csv_export(&f.csv, &f.out));
    assert!(message.contains("follow_ups.csv: line 2, column performed_on"), "{message}");
    assert_nothing_written(&f);
}

#[test]
fn reimport_replaces_a_previous_import_and_failure_keeps_it() {
    let f = folders();
    write_utf8(&f.csv, ISO_COMMA);
    import_csv_export(&f.csv, &f.out).unwrap();

    write_utf8(
        &f.csv,
        &with(ISO_COMMA, "action_plans", "plan_id,case_id,created_on\nH1,S1,2023-02-15\nH2,S1,2023-03-01\n"),
    );
    import_csv_export(&f.csv, &f.out).unwrap();
    assert_eq!(kept(&CheckedExport::load(&f.out).unwrap(), "action_plans").num_rows(), 2);

    write_utf8(&f.csv, &with(ISO_COMMA, "action_plans", "plan_id,case_id,created_on\nH1,S1,never\n"));
    assert!(import_csv_export(&f.csv, &f.out).is_err());
    assert_eq!(kept(&CheckedExport::load(&f.out).unwrap(), "action_plans").num_rows(), 2);
    let entries = std::fs::read_dir(&f.root).unwrap().count();
    assert_eq!(entries, 2, "only csv/ and out/ remain");
}

#[test]
fn refuses_an_output_folder_holding_other_files() {
    let f = folders();
    write_utf8(&f.csv, ISO_COMMA);
    std::fs::create_dir(&f.out).unwrap();
    std::fs::write(f.out.join("notes.txt"), "keep me").unwrap();
    assert!(matches!(import_csv_export(&f.csv, &f.out), Err(Error::Usage(_))));
    assert_eq!(std::fs::read_to_string(f.out.join("notes.txt")).unwrap(), "keep me");
}
