//! Fault suite of the nightly job: each test runs the `cwkpi` binary on a small export
//! made here, then checks the exit code, the message (naming file, table and column where
//! one applies) and that nothing was half-published. Every output file and every line on
//! stdout/stderr is searched for the fixtures' CPR numbers.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use datafusion::arrow::array::{ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

#[path = "nightly/delivery.rs"]
mod delivery;
#[path = "nightly/faults.rs"]
mod faults;
#[path = "nightly/fuzz.rs"]
mod fuzz;

const BIN: &str = env!("CARGO_BIN_EXE_cwkpi");
const AS_OF: &str = "2026-11-22";

/// The fixture's CPR numbers: shaped like CPR numbers, with day 32–60, which no real
/// person has.
const CPRS: [&str; 6] = ["320115-4821", "410312-1357", "350609-2468", "520718-9753", "450101-3141", "600229-2718"];

/// A consistent export as CSV: every row is kept. S6 has no caseworker and I2 has been
/// open for over a year (queries); SEL:11.3 is a paragraph no rule names (query).
fn csv_fixture() -> BTreeMap<&'static str, String> {
    let tables: [(&str, &str); 8] = [
        (
            "units",
            "unit_id,name,parent_id\nORG,Forvaltning,\nC1,Center Nord,ORG\nA1,Afdeling Øst,C1\nA2,Afdeling Vest,C1\n",
        ),
        ("caseworkers", "caseworker_id,name,unit_id\nW1,Sagsbehandler Et,A1\nW2,Sagsbehandler To,A2\n"),
        (
            "children",
            "child_id,birth_date,cpr\n\
             K1,2015-01-15,320115-4821\nK2,2012-03-10,410312-1357\nK3,2009-06-05,350609-2468\n\
             K4,2018-07-20,520718-9753\nK5,2001-01-05,450101-3141\nK6,2020-02-29,600229-2718\n",
        ),
        (
            "cases",
            "case_id,child_id,unit_id,caseworker_id,opened_on,closed_on,target_group\n\
             S1,K1,A1,W1,2025-01-10,,udsatte\nS2,K2,A1,W1,2025-03-01,,udsatte\nS3,K3,A2,W2,2024-06-01,2025-06-30,udsatte\n\
             S4,K4,A2,W2,2025-09-01,,handicap\nS5,K5,A1,W1,2026-02-01,,udsatte\nS6,K6,A2,,2026-05-01,,udsatte\n",
        ),
        (
            "measures",
            "measure_id,case_id,paragraph,started_on,ended_on,decided_on,acute\n\
             M1,S1,SEL:52.3.7,2025-02-01,,,false\nM2,S2,BL:32.1.3,2025-04-01,,2025-03-20,false\n\
             M3,S3,SEL:52.3.7,2024-07-01,2025-06-30,,false\nM4,S4,SEL:11.3,2025-10-01,,,false\n\
             M5,S5,BL:46,2026-03-01,,,false\nM6,S6,SEL:52.3.7,2026-06-01,,,true\n\
             M7,S1,SEL:76,2025-05-01,,,false\nM8,S4,BL:47,2025-10-15,,,false\n",
        ),
        (
            "investigations",
            "investigation_id,case_id,started_on,completed_on,aware_on\n\
             I1,S1,2025-01-12,2025-04-01,2025-01-05\nI2,S4,2025-09-05,,\nI3,S5,2026-02-03,2026-05-01,\nI4,S6,2026-05-02,,\n",
        ),
        (
            "action_plans",
            "plan_id,case_id,created_on\nH1,S1,2025-01-25\nH2,S2,2025-06-01\nH3,S3,2024-06-20\nH4,S5,2026-02-20\n",
        ),
        (
            "follow_ups",
            "follow_up_id,case_id,performed_on,measure_id,next_due_on\n\
             F1,S1,2025-05-01,M1,\nF2,S1,2025-11-01,,2026-05-01\nF3,S2,2025-07-01,M2,\nF4,S5,2026-05-15,,\nF5,S4,2026-01-10,M8,\n",
        ),
    ];
    tables.into_iter().map(|(t, text)| (t, text.to_string())).collect()
}

/// One test's folder, with every command's output kept for the CPR search.
struct Fixture {
    root: tempfile::TempDir,
    outputs: Mutex<Vec<Output>>,
    /// Normalised CPR numbers (digits only) that must not appear anywhere.
    cprs: Mutex<HashSet<String>>,
}

impl Fixture {
    fn new() -> Fixture {
        let cprs = CPRS.iter().map(|c| c.replace('-', "")).collect();
        Fixture { root: tempfile::tempdir().unwrap(), outputs: Mutex::new(Vec::new()), cprs: Mutex::new(cprs) }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    /// Imports CSV text into a Parquet export at `<root>/<name>` through the library.
    fn export(&self, name: &str, tables: &BTreeMap<&'static str, String>) -> PathBuf {
        let csv = self.path(&format!("csv-{name}"));
        std::fs::create_dir_all(&csv).unwrap();
        for (table, text) in tables {
            std::fs::write(csv.join(format!("{table}.csv")), text).unwrap();
        }
        let out = self.path(name);
        cwkpi::import::import_csv_export(&csv, &out).unwrap();
        out
    }

    fn good_export(&self) -> PathBuf {
        self.export("export", &csv_fixture())
    }

    /// `cwkpi gen` into `<root>/gen`; its CPR numbers join the search list.
    fn generated(&self, scale: &str) -> PathBuf {
        let out = self.path("gen");
        let o = self.run(&["gen", "--scale", scale, "--seed", "3", "--out", out.to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        let file = std::fs::File::open(out.join("children.parquet")).unwrap();
        let mut cprs = self.cprs.lock().unwrap();
        for batch in ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap() {
            let batch = batch.unwrap();
            let column = batch.column_by_name("cpr").expect("generated children have cpr");
            let column =
                datafusion::arrow::compute::cast(column, &datafusion::arrow::datatypes::DataType::Utf8).unwrap();
            cprs.extend(column.as_string::<i32>().iter().flatten().map(|c| c.replace('-', "")));
        }
        assert!(cprs.len() > 1000);
        out
    }

    fn run(&self, args: &[&str]) -> Output {
        let output = Command::new(BIN).args(args).env_remove("RUST_LOG").output().unwrap();
        self.outputs.lock().unwrap().push(output.clone());
        output
    }

    fn nightly(&self, export: &Path, out: &Path, extra: &[&str]) -> Output {
        let mut args = vec!["nightly", "--exports", export.to_str().unwrap(), "--out", out.to_str().unwrap()];
        if !extra.contains(&"--as-of") {
            args.extend(["--as-of", AS_OF]);
        }
        args.extend(extra);
        self.run(&args)
    }

    /// Searches every file under the test folder (except the exports and their CSV,
    /// which hold CPR by design) and every captured stdout/stderr for CPR numbers.
    fn assert_no_cpr(&self) {
        let cprs = self.cprs.lock().unwrap();
        let mut files = Vec::new();
        walk(self.root.path(), &mut files);
        let mut searched = 0;
        for file in files {
            let rel = file.strip_prefix(self.root.path()).unwrap().to_string_lossy().into_owned();
            let top = rel.split('/').next().unwrap_or("");
            if top == "export" || top.starts_with("csv") || top == "gen" || top.starts_with("export-") {
                continue;
            }
            let bytes = std::fs::read(&file).unwrap();
            if let Some(found) = cpr_like(&bytes).into_iter().find(|c| cprs.contains(c)) {
                panic!("a CPR number ({found}) appears in {rel}");
            }
            searched += 1;
        }
        for o in self.outputs.lock().unwrap().iter() {
            for stream in [&o.stdout, &o.stderr] {
                if let Some(found) = cpr_like(stream).into_iter().find(|c| cprs.contains(c)) {
                    panic!("a CPR number ({found}) appears in the output: {}", text(stream));
                }
            }
        }
        let _ = searched;
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            walk(&path, out);
        } else if meta.is_file() {
            out.push(path);
        }
    }
}

/// Every run of 10 digits, or 6 digits, a dash and 4 digits, as 10 digits.
fn cpr_like(bytes: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() || (i > 0 && bytes[i - 1].is_ascii_digit()) {
            i += 1;
            continue;
        }
        let run = |from: usize| bytes[from..].iter().take_while(|b| b.is_ascii_digit()).count();
        let first = run(i);
        if first == 10 {
            found.push(String::from_utf8_lossy(&bytes[i..i + 10]).into_owned());
        } else if first == 6 && bytes.get(i + 6) == Some(&b'-') && run(i + 7) == 4 {
            found.push(format!(
                "{}{}",
                String::from_utf8_lossy(&bytes[i..i + 6]),
                String::from_utf8_lossy(&bytes[i + 7..i + 11])
            ));
        }
        i += first.max(1);
    }
    found
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// Every entry under OUT except the lock file: path → content (or link target).
fn snapshot(out: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut map = BTreeMap::new();
    fn go(base: &Path, dir: &Path, map: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            if rel == ".lock" {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                map.insert(rel, std::fs::read_link(&path).unwrap().to_string_lossy().as_bytes().to_vec());
            } else if meta.is_dir() {
                map.insert(format!("{rel}/"), Vec::new());
                go(base, &path, map);
            } else {
                map.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    go(out, out, &mut map);
    map
}

/// A failed run on a fresh OUT leaves at most the lock file.
fn assert_nothing_published(out: &Path) {
    let left = snapshot(out);
    assert!(left.is_empty(), "a failed run left {:?}", left.keys().collect::<Vec<_>>());
}

/// Runs a fatal case: exit 2, a message holding every `needles`, nothing written.
fn assert_fatal(fx: &Fixture, export: &Path, needles: &[&str]) {
    let out = fx.path("out");
    let o = fx.nightly(export, &out, &[]);
    let err = text(&o.stderr);
    assert_eq!(code(&o), 2, "stderr: {err}");
    for needle in needles {
        assert!(err.contains(needle), "the message should name {needle}: {err}");
    }
    assert!(text(&o.stdout).is_empty(), "a failed run prints no summary line");
    assert_nothing_published(&out);
    fx.assert_no_cpr();
}

fn write_parquet(path: &Path, columns: Vec<(&str, ArrayRef)>) {
    let schema = Arc::new(Schema::new(
        columns.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect::<Vec<_>>(),
    ));
    let batch = RecordBatch::try_new(schema.clone(), columns.into_iter().map(|(_, a)| a).collect()).unwrap();
    let mut w = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn strings(v: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(v.to_vec()))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Lines of validation.csv for one rule.
fn listed<'a>(csv: &'a str, rule: &str) -> Vec<&'a str> {
    csv.lines().filter(|l| l.contains(&format!(",{rule},"))).collect()
}

#[test]
fn a_good_run_publishes_every_output_and_one_summary_line() {
    let fx = Fixture::new();
    let export = fx.good_export();
    std::fs::write(export.join("manifest.json"), format!("{{\"export_date\": \"{AS_OF}\"}}\n")).unwrap();
    let out = fx.path("out");
    // No --as-of: the manifest's export_date is used.
    let o = fx.run(&[
        "nightly",
        "--exports",
        export.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--log-format",
        "json",
    ]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    assert_eq!(stdout.lines().count(), 1, "one summary line: {stdout}");
    assert!(stdout.starts_with("ok: as of 2026-11-22"), "{stdout}");
    for line in text(&o.stderr).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON log line: {line}"));
        assert!(v.get("level").is_some() && v.get("message").is_some(), "{line}");
    }

    let run = out.join("runs").join(AS_OF);
    assert_eq!(std::fs::read_link(out.join("latest")).unwrap(), PathBuf::from("runs").join(AS_OF));
    for file in ["kpi.csv", "kpi.parquet", "validation.html", "validation.csv", "validation_counts.csv", "summary.json"]
    {
        assert!(out.join("latest").join(file).is_file(), "{file} missing");
    }
    // kpi.csv is exactly the KPI csv contract, as `cwkpi kpi --format csv` prints it.
    let kpi = fx.run(&["kpi", "--exports", export.to_str().unwrap(), "--as-of", AS_OF, "--format", "csv"]);
    assert_eq!(read(&run.join("kpi.csv")), text(&kpi.stdout));
    assert!(read(&run.join("kpi.csv")).starts_with(cwkpi::kpi::CSV_HEADER));
    assert_eq!(read(&run.join("kpi.csv")).lines().count(), 1 + 4 * cwkpi::rules::KPI_IDS.len());

    let summary: serde_json::Value = serde_json::from_str(&read(&run.join("summary.json"))).unwrap();
    assert_eq!(summary["status"], "ok");
    assert_eq!(summary["exit_code"], 0);
    assert_eq!(summary["as_of"], AS_OF);
    assert_eq!(summary["as_of_source"], "manifest");
    assert_eq!(summary["rules_fingerprint"], cwkpi::Rules::builtin().fingerprint.as_str());
    assert_eq!(summary["export_fingerprint"].as_str().unwrap(), cwkpi::nightly::export_fingerprint(&export).unwrap());
    let tables = summary["tables"].as_array().unwrap();
    // The eight core tables and the six further ones (absent here: present = false).
    assert_eq!(tables.len(), 14);
    assert!(tables.iter().any(|t| t["table"] == "postings" && t["present"] == false), "{tables:?}");
    assert!(tables.iter().any(|t| t["table"] == "measures" && t["rows_read"] == 8 && t["rows_rejected"] == 0));
    let steps: Vec<&str> = summary["steps"].as_array().unwrap().iter().map(|s| s["step"].as_str().unwrap()).collect();
    for step in ["load", "validate", "kpi", "write"] {
        assert!(steps.contains(&step), "{steps:?}");
    }

    // The queries (docs/export.md) are listed with ids and dates only.
    let validation = read(&run.join("validation.csv"));
    assert!(
        listed(&validation, "active case without caseworker").iter().any(|l| l.contains("case_id=S6")),
        "{validation}"
    );
    assert!(
        listed(&validation, "investigation open over a year").iter().any(|l| l.contains("investigation_id=I2")),
        "{validation}"
    );
    assert!(
        listed(&validation, "paragraph unknown to the rules").iter().any(|l| l.contains("paragraph=SEL:11.3")),
        "{validation}"
    );
    assert!(read(&run.join("validation.html")).contains("active case without caseworker"));
    assert!(out.join("history").join(format!("as_of={AS_OF}")).join("kpi.parquet").is_file());
    fx.assert_no_cpr();
}

#[test]
fn missing_table_is_fatal_and_names_the_table() {
    let fx = Fixture::new();
    let export = fx.good_export();
    std::fs::remove_file(export.join("follow_ups.parquet")).unwrap();
    assert_fatal(&fx, &export, &["follow_ups.parquet", "table follow_ups", "missing"]);
}

#[test]
fn missing_column_is_fatal_and_names_file_table_and_column() {
    let fx = Fixture::new();
    let export = fx.good_export();
    write_parquet(
        &export.join("measures.parquet"),
        vec![("measure_id", strings(&["M1"])), ("case_id", strings(&["S1"])), ("started_on", strings(&["2025-02-01"]))],
    );
    // started_on as text is also wrong, but the missing paragraph is found first.
    assert_fatal(&fx, &export, &["measures.parquet", "table measures", "column paragraph"]);
}

#[test]
fn wrong_type_is_fatal_and_names_file_table_and_column() {
    let fx = Fixture::new();
    let export = fx.good_export();
    let flags: ArrayRef = Arc::new(BooleanArray::from(vec![true]));
    write_parquet(
        &export.join("action_plans.parquet"),
        vec![("plan_id", strings(&["H1"])), ("case_id", strings(&["S1"])), ("created_on", flags)],
    );
    assert_fatal(&fx, &export, &["action_plans.parquet", "table action_plans", "column created_on", "Boolean"]);
}

#[test]
fn corrupt_parquet_is_fatal_and_names_the_file() {
    let fx = Fixture::new();
    let export = fx.good_export();
    std::fs::write(
        export.join("investigations.parquet"),
        b"this is not parquet at all, just text that ends oddly PAR1",
    )
    .unwrap();
    assert_fatal(&fx, &export, &["investigations.parquet", "table investigations", "Parquet"]);
}

#[test]
fn truncated_parquet_is_fatal_and_names_the_file() {
    let fx = Fixture::new();
    let export = fx.good_export();
    let path = export.join("cases.parquet");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert_fatal(&fx, &export, &["cases.parquet", "table cases", "Parquet"]);
}

#[test]
fn zero_byte_file_is_fatal_and_names_the_file() {
    let fx = Fixture::new();
    let export = fx.good_export();
    std::fs::write(export.join("units.parquet"), b"").unwrap();
    assert_fatal(&fx, &export, &["units.parquet", "table units"]);
}

#[test]
fn empty_table_is_legal_and_gives_null_shares() {
    let fx = Fixture::new();
    let mut tables = csv_fixture();
    tables.insert("investigations", "investigation_id,case_id,started_on,completed_on,aware_on\n".into());
    let export = fx.export("export", &tables);
    let out = fx.path("out");
    let o = fx.nightly(&export, &out, &[]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let kpi = read(&out.join("latest/kpi.csv"));
    let rows: Vec<&str> = kpi.lines().filter(|l| l.contains(",investigation_within_limit,")).collect();
    assert_eq!(rows.len(), 4);
    for row in rows {
        // numerator 0, denominator 0, share and met empty.
        assert!(row.contains(",investigation_within_limit,0,0,,0.95,"), "{row}");
        assert!(row.ends_with(','), "{row}");
    }
    fx.assert_no_cpr();
}

#[test]
fn dangling_ids_are_rejected_listed_and_left_out() {
    let fx = Fixture::new();
    let mut tables = csv_fixture();
    tables.get_mut("measures").unwrap().push_str("M9,S99,SEL:52.3.7,2025-02-01,,,false\n");
    tables.get_mut("follow_ups").unwrap().push_str("F6,S2,2025-08-01,M404,\n");
    let export = fx.export("export", &tables);
    let out = fx.path("out");
    let o = fx.nightly(&export, &out, &["--max-rejected-share", "0.25"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("2 rows rejected"), "{}", text(&o.stdout));
    let validation = read(&out.join("latest/validation.csv"));
    let dangling = listed(&validation, "dangling reference");
    assert_eq!(dangling.len(), 2, "{validation}");
    assert!(
        dangling.iter().any(|l| l.contains(",case_id,measures.parquet,9,") && l.contains("measure_id=M9")),
        "{validation}"
    );
    assert!(
        dangling.iter().any(|l| l.contains(",measure_id,follow_ups.parquet,6,") && l.contains("follow_up_id=F6")),
        "{validation}"
    );
    // Left out of every figure: the KPI table is the one of the clean export.
    let clean = fx.good_export_at("export-clean");
    let kpi = fx.run(&["kpi", "--exports", clean.to_str().unwrap(), "--as-of", AS_OF, "--format", "csv"]);
    assert_eq!(read(&out.join("latest/kpi.csv")), text(&kpi.stdout));
    fx.assert_no_cpr();
}

#[test]
fn end_before_start_is_rejected_and_cascades() {
    let fx = Fixture::new();
    let mut tables = csv_fixture();
    let cases = tables.get_mut("cases").unwrap();
    *cases = cases.replace("S3,K3,A2,W2,2024-06-01,2025-06-30", "S3,K3,A2,W2,2024-06-01,2024-05-30");
    let export = fx.export("export", &tables);
    let out = fx.path("out");
    let o = fx.nightly(&export, &out, &["--max-rejected-share", "0.5"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let validation = read(&out.join("latest/validation.csv"));
    let ended = listed(&validation, "end before start");
    assert_eq!(ended.len(), 1, "{validation}");
    assert!(ended[0].contains(",closed_on,cases.parquet,3,case_id=S3"), "{validation}");
    // The case's measure, investigation-free plan and so on dangle now.
    assert!(listed(&validation, "dangling reference").iter().any(|l| l.contains("measure_id=M3")), "{validation}");
    assert!(listed(&validation, "dangling reference").iter().any(|l| l.contains("plan_id=H3")), "{validation}");
    fx.assert_no_cpr();
}

/// The damaged dates that once passed the checks and stopped the nightly at its end
/// (exit 70): a measure and an application dated 0001-01-01, which the workbook could not
/// write, and a notification whose timestamp was damaged into year 282,000, which no time
/// zone conversion takes. Each is now a rejected row naming its column, and the run
/// publishes.
#[test]
fn implausible_dates_are_rejected_rows_and_the_run_publishes() {
    let fx = Fixture::new();
    let mut tables = csv_fixture();
    tables
        .get_mut("measures")
        .unwrap()
        .push_str("M9,S2,SEL:52.3.7,0001-01-01,,,false\nM10,S2,SEL:11.3,2025-05-01,9999-12-31,,false\n");
    tables.insert(
        "decisions",
        "decision_id,case_id,paragraph,applied_on,decided_on,outcome,delay_letter_on\nD1,S1,SEL:41,2026-01-05,2026-02-01,bevilget,\nD2,S2,SEL:41,0001-01-01,,,\n".into(),
    );
    let export = fx.export("export", &tables);
    let received = TimestampMicrosecondArray::from(vec![Some(1_767_600_000_000_000), Some(8_863_084_094_095_045_795)])
        .with_timezone("UTC");
    write_parquet(
        &export.join("notifications.parquet"),
        vec![
            ("notification_id", strings(&["N1", "N2"])),
            ("unit_id", strings(&["A1", "A1"])),
            ("received_at", Arc::new(received)),
        ],
    );
    let out = fx.path("out");
    let o = fx.nightly(&export, &out, &["--max-rejected-share", "0.6"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let validation = read(&out.join("latest/validation.csv"));
    let out_of_range = |rule: &str| listed(&validation, rule).iter().map(|l| l.to_string()).collect::<Vec<_>>();
    let plain = out_of_range("date out of range (before 1900-01-01 or after 2199-12-31)");
    assert_eq!(plain.len(), 3, "{validation}");
    assert!(
        plain.iter().any(|l| l.contains(",started_on,measures.parquet,9,") && l.contains("measure_id=M9")),
        "{validation}"
    );
    assert!(
        plain.iter().any(|l| l.contains(",applied_on,decisions.parquet,2,") && l.contains("decision_id=D2")),
        "{validation}"
    );
    assert!(
        plain
            .iter()
            .any(|l| l.contains(",received_at,notifications.parquet,2,")
                && l.contains("received_at=8863084094095045795µs")),
        "{validation}"
    );
    // An end date out of range names the setting that would read it as open.
    let end = validation.lines().filter(|l| l.contains("measure_id=M10")).collect::<Vec<_>>();
    assert!(
        end.len() == 1 && end[0].contains(",ended_on,") && end[0].contains("[export] open_end_sentinel"),
        "{validation}"
    );

    // With the setting, 9999-12-31 reads as open: M10 is kept, the others still rejected.
    let rules = fx.path("rules.toml");
    let builtin = fx.run(&["rules"]);
    std::fs::write(
        &rules,
        text(&builtin.stdout).replace("# open_end_sentinel = \"9999-12-31\"", "open_end_sentinel = \"9999-12-31\""),
    )
    .unwrap();
    let out = fx.path("out-sentinel");
    let o = fx.nightly(&export, &out, &["--max-rejected-share", "0.6", "--rules", rules.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let validation = read(&out.join("latest/validation.csv"));
    assert!(!validation.contains(",measure_id=M10 "), "{validation}");
    assert_eq!(validation.matches("date out of range").count(), 3, "{validation}");
    fx.assert_no_cpr();
}

#[test]
fn duplicate_ids_are_all_rejected() {
    let fx = Fixture::new();
    let mut tables = csv_fixture();
    tables.get_mut("action_plans").unwrap().push_str("H2,S4,2025-10-10\n");
    let export = fx.export("export", &tables);
    let out = fx.path("out");
    let o = fx.nightly(&export, &out, &["--max-rejected-share", "0.5"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let validation = read(&out.join("latest/validation.csv"));
    let duplicates = listed(&validation, "duplicate id");
    assert_eq!(duplicates.len(), 2, "{validation}");
    assert!(duplicates.iter().all(|l| l.contains(",plan_id,action_plans.parquet,") && l.contains("plan_id=H2")));
    let counts = read(&out.join("latest/validation_counts.csv"));
    assert!(counts.contains(&format!("{AS_OF},action_plans,rejected,duplicate id,2")), "{counts}");
    fx.assert_no_cpr();
}

#[test]
fn too_many_rejected_rows_fail_with_exit_3_and_publish_nothing() {
    let fx = Fixture::new();
    let export = fx.good_export();
    let out = fx.path("out");
    assert_eq!(code(&fx.nightly(&export, &out, &[])), 0);
    let before = snapshot(&out);

    let mut tables = csv_fixture();
    tables.get_mut("measures").unwrap().push_str("M9,S99,SEL:52.3.7,2025-02-01,,,false\n");
    let bad = fx.export("export-bad", &tables);
    let o = fx.nightly(&bad, &out, &[]);
    let err = text(&o.stderr);
    assert_eq!(code(&o), 3, "{err}");
    // 1 of 9 measures = 11.1 %.
    assert!(err.contains("table measures") && err.contains("11.1 %") && err.contains("0.05"), "{err}");
    let mut after = snapshot(&out);
    // The evidence is kept apart from the published runs.
    let failed = format!("failed/{AS_OF}/");
    assert!(after.contains_key(&format!("{failed}validation.html")), "{:?}", after.keys());
    let summary: serde_json::Value = serde_json::from_slice(&after[&format!("{failed}summary.json")]).unwrap();
    assert_eq!(summary["exit_code"], 3);
    after.retain(|k, _| !k.starts_with("failed"));
    assert_eq!(before, after, "runs/, latest and history/ must not change");

    // `cwkpi validate` agrees and exits 0 under a looser threshold.
    let v = fx.run(&["validate", "--exports", bad.to_str().unwrap(), "--as-of", AS_OF]);
    assert_eq!(code(&v), 3, "{}", text(&v.stderr));
    let val_out = fx.path("validation");
    let v = fx.run(&[
        "validate",
        "--exports",
        bad.to_str().unwrap(),
        "--as-of",
        AS_OF,
        "--max-rejected-share",
        "0.2",
        "--out",
        val_out.to_str().unwrap(),
    ]);
    assert_eq!(code(&v), 0, "{}", text(&v.stderr));
    assert!(text(&v.stdout).contains("1 rows rejected"), "{}", text(&v.stdout));
    assert!(read(&val_out.join("validation.csv")).contains("measure_id=M9"));
    fx.assert_no_cpr();
}

#[test]
fn a_csv_with_a_broken_line_is_refused_by_import_with_file_and_line() {
    let fx = Fixture::new();
    let csv = fx.path("csv-broken");
    std::fs::create_dir_all(&csv).unwrap();
    for (table, text) in csv_fixture() {
        let text = if table == "cases" {
            text.replace("S4,K4,A2,W2,2025-09-01,,handicap", "S4,K4,A2,W2,2025-09-01,,handicap,extra,fields")
        } else {
            text
        };
        std::fs::write(csv.join(format!("{table}.csv")), text).unwrap();
    }
    let target = fx.path("imported");
    let o = fx.run(&["import", "--from-csv", csv.to_str().unwrap(), "--out", target.to_str().unwrap()]);
    let err = text(&o.stderr);
    assert_eq!(code(&o), 2, "{err}");
    assert!(err.contains("cases.csv") && err.contains("line 5"), "{err}");
    assert!(!target.exists(), "a failed import leaves nothing");
    let leftovers: Vec<_> = std::fs::read_dir(fx.root.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    fx.assert_no_cpr();
}

#[test]
fn two_runs_for_the_same_date_give_identical_history() {
    let fx = Fixture::new();
    let export = fx.good_export();
    let out = fx.path("out");
    assert_eq!(code(&fx.nightly(&export, &out, &[])), 0);
    let history = out.join("history").join(format!("as_of={AS_OF}")).join("kpi.parquet");
    let first = std::fs::read(&history).unwrap();
    let first_kpi = read(&out.join("latest/kpi.csv"));
    let report_files = |dir: &Path| -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_file())
            .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
            .collect();
        files.sort();
        files
    };
    let first_report = report_files(&out.join("latest/report"));
    assert!(first_report.iter().any(|(name, _)| name.ends_with(".xlsx")), "the report has workbooks");
    // A second later: a workbook stamped with the clock would differ.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let o = fx.nightly(&export, &out, &[]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert_eq!(std::fs::read(&history).unwrap(), first, "history bytes differ");
    let second_report = report_files(&out.join("latest/report"));
    assert_eq!(second_report.len(), first_report.len());
    for ((name, bytes), (_, again)) in first_report.iter().zip(&second_report) {
        assert!(bytes == again, "report/{name} differs between two runs of the same export");
    }
    assert_eq!(read(&out.join("latest/kpi.csv")), first_kpi);
    assert_eq!(std::fs::read(out.join("latest/kpi.parquet")).unwrap(), first);
    // One file per date, one copy of the rows; an earlier date does not move latest.
    assert_eq!(code(&fx.nightly(&export, &out, &["--as-of", "2026-10-01"])), 0);
    let dates: Vec<String> = std::fs::read_dir(out.join("history"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(dates.len(), 2, "{dates:?}");
    assert_eq!(std::fs::read_link(out.join("latest")).unwrap(), PathBuf::from("runs").join(AS_OF));

    // kpi_history in `cwkpi sql`: as reported then, against kpi as recomputed now.
    let sql = "SELECT count(*) AS n, sum(CASE WHEN h.numerator = k.numerator AND h.denominator = k.denominator THEN 1 ELSE 0 END) AS same \
               FROM kpi_history h JOIN kpi k ON k.as_of = h.as_of AND k.unit_id = h.unit_id AND k.kpi_id = h.kpi_id";
    let o = fx.run(&[
        "sql",
        "--exports",
        export.to_str().unwrap(),
        "--as-of",
        AS_OF,
        "--history",
        out.to_str().unwrap(),
        "--format",
        "csv",
        sql,
    ]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "n,same\n52,52\n", "4 units × 13 KPIs");
    let o = fx.run(&[
        "sql",
        "--exports",
        export.to_str().unwrap(),
        "--history",
        out.to_str().unwrap(),
        "--format",
        "csv",
        "SELECT as_of, count(*) AS n FROM kpi_history GROUP BY as_of ORDER BY as_of",
    ]);
    assert_eq!(text(&o.stdout), "as_of,n\n2026-10-01,52\n2026-11-22,52\n", "{}", text(&o.stderr));
    fx.assert_no_cpr();
}

#[test]
fn a_run_killed_midway_leaves_the_previous_outputs_and_the_next_run_succeeds() {
    let fx = Fixture::new();
    let export = fx.generated("0.5");
    let out = fx.path("out");
    let o = fx.nightly(&export, &out, &[]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let before = snapshot(&out);

    // Kill in different steps (loading, computing, reports/publishing).
    for delay in [100u64, 450, 900] {
        let mut child = Command::new(BIN)
            .args(["nightly", "--exports", export.to_str().unwrap(), "--out", out.to_str().unwrap(), "--as-of", AS_OF])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        let mut after = snapshot(&out);
        // A killed run may leave its temporary folders, and a history file it was writing
        // (the next run removes both); nothing else changes.
        after.retain(|k, _| !k.starts_with(".tmp-") && !k.contains("/.kpi.parquet.tmp-"));
        if status.success() {
            // It finished before the kill: a complete replacement is fine too, as long as
            // it is the same figures.
            assert_eq!(after.get(&format!("runs/{AS_OF}/kpi.csv")), before.get(&format!("runs/{AS_OF}/kpi.csv")));
            continue;
        }
        if before != after {
            // Only possible when killed while publishing, after the swap of runs/<as_of>:
            // then that folder is a complete run of the same figures and nothing else moved.
            let run = format!("runs/{AS_OF}/");
            for key in before.keys().chain(after.keys()).filter(|k| !k.starts_with(&run)) {
                assert_eq!(before.get(key), after.get(key), "killed after {delay} ms: {key} changed");
            }
            assert!(
                after.contains_key(&format!("{run}summary.json")),
                "killed after {delay} ms: incomplete run folder"
            );
        }
        assert_eq!(read(&out.join("latest/kpi.csv")).as_bytes(), &before[&format!("runs/{AS_OF}/kpi.csv")][..]);
    }

    let o = fx.nightly(&export, &out, &[]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let after = snapshot(&out);
    assert!(
        after.keys().all(|k| !k.starts_with(".tmp-") && !k.contains(".tmp-")),
        "stale temporary files remain: {:?}",
        after.keys()
    );
    assert_eq!(after[&format!("runs/{AS_OF}/kpi.csv")], before[&format!("runs/{AS_OF}/kpi.csv")]);
    assert_eq!(
        after[&format!("history/as_of={AS_OF}/kpi.parquet")],
        before[&format!("history/as_of={AS_OF}/kpi.parquet")]
    );
    fx.assert_no_cpr();
}

#[test]
fn a_second_run_while_one_holds_the_lock_exits_75_and_changes_nothing() {
    let fx = Fixture::new();
    let export = fx.good_export();
    let out = fx.path("out");
    assert_eq!(code(&fx.nightly(&export, &out, &[])), 0);
    let before = snapshot(&out);
    let lock = std::fs::File::options().read(true).write(true).open(out.join(".lock")).unwrap();
    lock.try_lock().unwrap();
    let o = fx.nightly(&export, &out, &["--as-of", "2026-10-01"]);
    let err = text(&o.stderr);
    assert_eq!(code(&o), 75, "{err}");
    assert!(err.contains("another cwkpi nightly run") && err.contains(out.to_str().unwrap()), "{err}");
    assert_eq!(before, snapshot(&out));
    drop(lock);
    assert_eq!(code(&fx.nightly(&export, &out, &["--as-of", "2026-10-01"])), 0);
    fx.assert_no_cpr();
}

#[test]
fn two_concurrent_processes_one_runs_the_other_exits_75() {
    let fx = Fixture::new();
    let export = fx.generated("0.5");
    let out = fx.path("out");
    let first = Command::new(BIN)
        .args(["nightly", "--exports", export.to_str().unwrap(), "--out", out.to_str().unwrap(), "--as-of", AS_OF])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The lock file names its holder once the lock is taken.
    let pid = first.id().to_string();
    let mut waited = 0;
    while read_lock(&out) != pid && waited < 5000 {
        std::thread::sleep(Duration::from_millis(10));
        waited += 10;
    }
    let second = fx.nightly(&export, &out, &[]);
    let first = first.wait_with_output().unwrap();
    fx.outputs.lock().unwrap().push(first.clone());
    assert_eq!(code(&first), 0, "{}", text(&first.stderr));
    assert_eq!(code(&second), 75, "{}", text(&second.stderr));
    assert!(text(&second.stderr).contains(&format!("process {pid}")), "{}", text(&second.stderr));
    fx.assert_no_cpr();
}

fn read_lock(out: &Path) -> String {
    std::fs::read_to_string(out.join(".lock")).unwrap_or_default().trim().to_string()
}

#[test]
fn an_output_folder_that_cannot_be_written_exits_74() {
    let fx = Fixture::new();
    let export = fx.good_export();
    // Under a regular file no folder can be made, even as root.
    let file = fx.path("not-a-folder");
    std::fs::write(&file, "x").unwrap();
    let out = file.join("out");
    let o = fx.nightly(&export, &out, &[]);
    let err = text(&o.stderr);
    assert_eq!(code(&o), 74, "{err}");
    assert!(err.contains(out.to_str().unwrap()), "{err}");
    assert_eq!(read(&file), "x");

    // OUT is usable but runs/ cannot be made: the run fails at publication and removes
    // its temporary folder.
    let out = fx.path("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("runs"), "x").unwrap();
    let o = fx.nightly(&export, &out, &[]);
    let err = text(&o.stderr);
    assert_eq!(code(&o), 74, "{err}");
    assert!(err.contains("runs"), "{err}");
    let left: Vec<String> = snapshot(&out).into_keys().collect();
    assert_eq!(left, vec!["runs".to_string()], "nothing else is left");
    fx.assert_no_cpr();
}

#[test]
fn usage_errors_exit_64() {
    let fx = Fixture::new();
    let export = fx.good_export();
    let out = fx.path("out");
    let o = fx.nightly(&export, &out, &["--max-rejected-share", "5"]);
    assert_eq!(code(&o), 64, "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("--max-rejected-share"));
    let o = fx.nightly(&fx.path("no-such-export"), &out, &[]);
    assert_eq!(code(&o), 64, "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("no-such-export"));
    assert!(!out.exists());
    fx.assert_no_cpr();
}

impl Fixture {
    fn good_export_at(&self, name: &str) -> PathBuf {
        self.export(name, &csv_fixture())
    }
}

#[test]
fn the_cpr_scanner_finds_cpr_numbers() {
    assert_eq!(cpr_like(b"x 320115-4821 y"), vec!["3201154821"]);
    assert_eq!(cpr_like(b"3201154821"), vec!["3201154821"]);
    assert!(cpr_like(b"2026-11-22 12345678901 C000123").is_empty());
}
