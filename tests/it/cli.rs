//! The `cwkpi` command line as a user meets it: the KPI csv contract, rules files,
//! read-only SQL, and exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn cwkpi(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cwkpi")).args(args).output().expect("cwkpi runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}
fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// The plans fixture of tests/slt, imported to Parquet once per test.
fn plans_export(tmp: &Path) -> PathBuf {
    let out = tmp.join("export");
    let csv = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt/plans");
    cwkpi::import::import_csv_export(&csv, &out).unwrap();
    out
}

/// A copy of the sample export under `tmp`, whose files a test may damage.
fn sample_copy(tmp: &Path) -> PathBuf {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample");
    let export = tmp.join("export");
    std::fs::create_dir(&export).unwrap();
    for file in std::fs::read_dir(&sample).unwrap() {
        let file = file.unwrap();
        std::fs::copy(file.path(), export.join(file.file_name())).unwrap();
    }
    export
}

#[test]
fn kpi_csv_is_the_spec_contract() {
    let tmp = tempfile::tempdir().unwrap();
    let export = plans_export(tmp.path());
    let o = cwkpi(&["kpi", "--exports", export.to_str().unwrap(), "--as-of", "2026-04-30", "--format", "csv"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "as_of,unit_id,kpi_id,numerator,denominator,share,target,met");
    // 6 units × 13 KPIs (docs/kpis.md), units by id, KPIs in plan order.
    assert_eq!(lines.len(), 1 + 6 * 13);
    // Figures from tests/slt/plans.slt: CEN plan_coverage 11/14, plan_on_time 7/15.
    assert_eq!(lines[1], "2026-04-30,CEN,plan_coverage,11,14,0.7857142857142857,0.95,false");
    assert_eq!(lines[2], "2026-04-30,CEN,plan_on_time,7,15,0.4666666666666667,0.95,false");
    // No investigations in this export: share and met are empty, not 0 and not 1.
    assert_eq!(lines[4], "2026-04-30,CEN,investigation_within_limit,0,0,,0.95,");
    // No further tables in this export: their KPIs count nothing; complaints have their own targets.
    assert_eq!(lines[6], "2026-04-30,CEN,decision_within_deadline,0,0,,0.95,");
    assert_eq!(lines[10], "2026-04-30,CEN,complaints_formalitet,0,0,,0.9,");
    assert_eq!(lines[11], "2026-04-30,CEN,complaints_realitet,0,0,,0.97,");
    // Without case events the lawful-case checklist is unknown, not failed.
    assert_eq!(lines[12], "2026-04-30,CEN,lawful_case,0,0,,0.95,");
    // Without budgets there are no budget figures; the forecast is met at or below 1.00.
    assert_eq!(lines[13], "2026-04-30,CEN,budget_forecast,0,0,,1.0,");
    let units: Vec<&str> = lines[1..].iter().step_by(13).map(|l| l.split(',').nth(1).unwrap()).collect();
    assert_eq!(units, ["CEN", "D1", "D2", "EMPTY", "ORG", "T1"]);
}

#[test]
fn a_rules_file_changes_targets_and_paragraph_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let export = plans_export(tmp.path());
    let printed = stdout(&cwkpi(&["rules"]));
    // Lower the plan_coverage target so that D1's 6/7 = 0.857 meets it, and make BL:47
    // need no plan: M8 (BL:47, late plan) leaves both plan KPIs of T1.
    let rules = printed
        .replace("plan_coverage = 0.95", "plan_coverage = 0.85")
        .replace("prefix = \"BL:47\"\naction_plan = \"before start\"\n", "prefix = \"BL:47\"\n");
    let path = tmp.path().join("rules.toml");
    std::fs::write(&path, rules).unwrap();
    let o = cwkpi(&[
        "kpi",
        "--exports",
        export.to_str().unwrap(),
        "--as-of",
        "2026-04-30",
        "--format",
        "csv",
        "--rules",
        path.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    // T1 without M8/C8: plan_coverage 5/6 (C1 C2 C3 C6 C7 ✓, C4 ✗), plan_on_time 2/5.
    assert!(text.contains("2026-04-30,T1,plan_coverage,5,6,0.8333333333333334,0.85,false"), "{text}");
    assert!(text.contains("2026-04-30,T1,plan_on_time,2,5,0.4,0.95,false"), "{text}");
    // D2 is unchanged at 5/7 = 0.714 < 0.85.
    assert!(text.contains("2026-04-30,D2,plan_coverage,5,7,0.7142857142857143,0.85,false"), "{text}");
}

#[test]
fn a_malformed_rules_file_is_refused_with_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let export = plans_export(tmp.path());
    let path = tmp.path().join("rules.toml");
    std::fs::write(
        &path,
        stdout(&cwkpi(&["rules"])).replace("first_within = \"3 months\"", "first_within = \"three months\""),
    )
    .unwrap();
    let o = cwkpi(&["kpi", "--exports", export.to_str().unwrap(), "--rules", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let msg = stderr(&o);
    assert!(msg.contains("rules.toml") && msg.contains("line 36") && msg.contains("first_within"), "{msg}");
}

#[test]
fn sql_is_read_only_and_reads_statements_from_files() {
    let tmp = tempfile::tempdir().unwrap();
    let export = plans_export(tmp.path());
    let e = export.to_str().unwrap();
    let o = cwkpi(&[
        "sql",
        "--exports",
        e,
        "--as-of",
        "2026-04-30",
        "--format",
        "csv",
        "SELECT count(*) AS n FROM kpi_items WHERE kpi_id = 'plan_on_time'",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "n\n15\n");
    for statement in [
        "CREATE TABLE x AS SELECT 1",
        "DROP VIEW kpi",
        "INSERT INTO units VALUES ('X', 'x', NULL)",
        "SET datafusion.execution.batch_size = 1",
    ] {
        let o = cwkpi(&["sql", "--exports", e, statement]);
        assert_eq!(o.status.code(), Some(64), "{statement} should be refused");
    }
    let file = tmp.path().join("q.sql");
    std::fs::write(&file, "-- units\nSELECT unit_id FROM units WHERE parent_id IS NULL;\n").unwrap();
    let o = cwkpi(&["sql", "--exports", e, "--format", "csv", "-f", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "unit_id\nORG\n");

    // --weeks N computes the views as of N dates a week apart, ending at --as-of.
    let o = cwkpi(&[
        "sql",
        "--exports",
        e,
        "--as-of",
        "2026-04-30",
        "--weeks",
        "3",
        "--format",
        "csv",
        "SELECT DISTINCT as_of FROM kpi ORDER BY as_of",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "as_of\n2026-04-16\n2026-04-23\n2026-04-30\n");
}

#[test]
fn views_lists_every_view_with_a_description() {
    let text = stdout(&cwkpi(&["views"]));
    for view in [
        "measure_rules",
        "active_cases",
        "active_measures",
        "investigation_deadlines",
        "follow_up_due",
        "case_compliance",
        "kpi_items",
        "kpi",
    ] {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(view))
            .unwrap_or_else(|| panic!("{view} missing:\n{text}"));
        assert!(line.len() > view.len() + 20, "{view} has no description");
    }
}

#[test]
fn usage_errors_exit_64() {
    let o = cwkpi(&["kpi", "--exports", "/nonexistent/export"]);
    assert_eq!(o.status.code(), Some(64));
    assert!(stderr(&o).contains("/nonexistent/export"));
    let o = cwkpi(&["kpi", "--exports", ".", "--as-of", "2026-13-01"]);
    assert_eq!(o.status.code(), Some(64));
    assert!(stderr(&o).contains("2026-13-01"));
}

/// The integer keys the views join on name the same rows as the ids, on the hashed path
/// (small fixture tables) and on the ascending-id path (tables above 65,536 rows). The
/// large export's follow_ups file (over 256K rows) is also decoded in column groups on
/// several threads: rows put together wrongly would show as rejected rows.
#[test]
fn integer_keys_agree_with_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let small = plans_export(tmp.path());
    let large = tmp.path().join("large");
    // Sorted: one file per table with ascending ids, the layout the fast paths look for.
    let o = cwkpi(&["gen", "--scale", "12", "--seed", "3", "--order", "sorted", "--out", large.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let check = "SELECT
        (SELECT count(*) FROM measures) AS measures,
        (SELECT count(*) FROM measures m JOIN cases c ON c.case_key = m.case_key AND c.case_id = m.case_id) AS measures_on_case,
        (SELECT count(*) FROM follow_ups) AS follow_ups,
        (SELECT count(*) FROM follow_ups f JOIN cases c ON c.case_key = f.case_key AND c.case_id = f.case_id) AS follow_ups_on_case,
        (SELECT count(*) FROM follow_ups WHERE measure_id IS NOT NULL) AS follow_ups_of_measure,
        (SELECT count(*) FROM follow_ups f JOIN measures m ON m.measure_key = f.measure_key AND m.measure_id = f.measure_id) AS follow_ups_on_measure,
        (SELECT count(*) FROM investigations) AS investigations,
        (SELECT count(*) FROM investigations i JOIN cases c ON c.case_key = i.case_key AND c.case_id = i.case_id) AS investigations_on_case,
        (SELECT count(*) FROM action_plans) AS plans,
        (SELECT count(*) FROM action_plans p JOIN cases c ON c.case_key = p.case_key AND c.case_id = p.case_id) AS plans_on_case,
        (SELECT count(DISTINCT case_key) = count(*) FROM cases) AS case_keys_unique";
    for export in [&small, &large] {
        let o =
            cwkpi(&["sql", "--exports", export.to_str().unwrap(), "--as-of", "2026-04-30", "--format", "csv", check]);
        assert!(o.status.success(), "{}", stderr(&o));
        let out = stdout(&o);
        let values: Vec<&str> = out.lines().nth(1).unwrap().split(',').collect();
        for pair in values[..10].chunks(2) {
            assert_eq!(pair[0], pair[1], "{}: {out}", export.display());
        }
        assert_eq!(values[10], "true", "{out}");
    }
    // The large export really takes the ascending path: its tables pass the threshold.
    let o = cwkpi(&[
        "sql",
        "--exports",
        large.to_str().unwrap(),
        "--format",
        "csv",
        "SELECT (SELECT count(*) FROM cases) > 65536 AS large, (SELECT count(*) FROM follow_ups) > 262144 AS split, (SELECT count(*) FROM rejected_rows) AS rejected",
    ]);
    assert_eq!(stdout(&o), "large,split,rejected\ntrue,true,0\n");
}

/// The plans export with applications: a CSV `decisions.csv` beside its tables.
/// At 2026-04-30 (built-in rules):
/// - D1 SEL:41 applied 2026-02-02, 8 weeks → deadline 2026-03-30, undecided, no letter: breach, letter.
/// - D2 BL:86 applied 2026-03-02, 40 working days (Easter 2–6 April closed) → 2026-04-30 = T: not yet a breach.
/// - D3 SEL:41 applied 2026-01-05 → 2026-03-02, letter 2026-02-20: told, no new letter.
/// - D4 SEL:41 applied 2026-01-05, decided 2026-04-01: decided, late.
/// - D5 SEL:52.3 has no case-processing deadline: counts nowhere.
/// - D6 SEL:41 applied 2026-01-12 → 2026-03-09, letter dated 2026-05-05, after T: letter drafted, first (earliest deadline).
fn export_with_applications(tmp: &Path) -> PathBuf {
    let csv = tmp.join("csv");
    std::fs::create_dir_all(&csv).unwrap();
    let plans = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt/plans");
    for entry in std::fs::read_dir(&plans).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, csv.join(path.file_name().unwrap())).unwrap();
    }
    std::fs::write(
        csv.join("decisions.csv"),
        "decision_id,case_id,paragraph,applied_on,decided_on,outcome,delay_letter_on\n\
         D1,C1,SEL:41,2026-02-02,,,\n\
         D2,C2,BL:86,2026-03-02,,,\n\
         D3,C3,SEL:41,2026-01-05,,,2026-02-20\n\
         D4,C4,SEL:41,2026-01-05,2026-04-01,bevilget,\n\
         D5,C5,SEL:52.3,2026-01-05,,,\n\
         D6,C6,SEL:41,2026-01-12,,,2026-05-05\n",
    )
    .unwrap();
    let out = tmp.join("export");
    cwkpi::import::import_csv_export(&csv, &out).unwrap();
    out
}

#[test]
fn deadline_kpis_and_draft_delay_letters() {
    let tmp = tempfile::tempdir().unwrap();
    let export = export_with_applications(tmp.path());
    let e = export.to_str().unwrap();
    let o = cwkpi(&["kpi", "--exports", e, "--as-of", "2026-04-30", "--format", "csv"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    // Deadlines in the window: D1, D2, D3, D4, D6; none decided by its deadline. Of those, D3's
    // letter came by the deadline; D6's came after it.
    assert!(text.contains("2026-04-30,ORG,decision_within_deadline,0,5,0.0,0.95,false"), "{text}");
    assert!(text.contains("2026-04-30,ORG,delay_letter_sent,1,5,0.2,0.95,false"), "{text}");

    let letters = tmp.path().join("letters");
    let o = cwkpi(&["letters", "--exports", e, "--as-of", "2026-04-30", "--out", letters.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("2 draft delay letters"), "{}", stdout(&o));
    let mut files: Vec<String> =
        std::fs::read_dir(&letters).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    assert_eq!(files, ["0001-D6.html", "0002-D1.html", "index.html", "letters.json"]);
    let d1 = std::fs::read_to_string(letters.join("0002-D1.html")).unwrap();
    // Applied 2 February, deadline 30 March, expected 30 April + 8 weeks = 25 June 2026.
    for part in ["C1", "2. februar 2026", "30. marts 2026", "25. juni 2026", "8 uger", "serviceloven § 41"] {
        assert!(d1.contains(part), "{part} missing in the letter");
    }
    assert!(std::fs::read_to_string(letters.join("index.html")).unwrap().contains("0001-D6.html"));

    // A second run replaces the folder; a folder written by someone else is never replaced.
    let o = cwkpi(&["letters", "--exports", e, "--as-of", "2026-03-10", "--out", letters.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    // At 10 March: D4 (deadline 2 March, decided only on 1 April) and D6 (9 March) are open breaches.
    let mut files: Vec<String> =
        std::fs::read_dir(&letters).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    assert_eq!(files, ["0001-D4.html", "0002-D6.html", "index.html", "letters.json"]);
    let foreign = tmp.path().join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    let o = cwkpi(&["letters", "--exports", e, "--as-of", "2026-04-30", "--out", foreign.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(64), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(foreign.join("notes.txt")).unwrap(), "mine");

    // A template of the municipality's own; a broken one writes nothing.
    let template = tmp.path().join("brev.html");
    std::fs::write(&template, "Sag {{ case_id }}: forventet {{ new_expected_on_iso }}").unwrap();
    let own = tmp.path().join("own");
    let o = cwkpi(&[
        "letters",
        "--exports",
        e,
        "--as-of",
        "2026-04-30",
        "--out",
        own.to_str().unwrap(),
        "--template",
        template.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(own.join("0002-D1.html")).unwrap(), "Sag C1: forventet 2026-06-25");
    std::fs::write(&template, "{% if %}").unwrap();
    let broken = tmp.path().join("broken");
    let o = cwkpi(&[
        "letters",
        "--exports",
        e,
        "--as-of",
        "2026-04-30",
        "--out",
        broken.to_str().unwrap(),
        "--template",
        template.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(64));
    assert!(stderr(&o).contains("brev.html"), "{}", stderr(&o));
    assert!(!broken.exists());
    assert!(stdout(&cwkpi(&["letters", "--print-template"])).contains("{{ new_expected_on }}"));
}

#[test]
fn validate_says_which_further_tables_are_absent() {
    let tmp = tempfile::tempdir().unwrap();
    let export = export_with_applications(tmp.path());
    let o = cwkpi(&["validate", "--exports", export.to_str().unwrap(), "--as-of", "2026-04-30"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for table in ["notifications", "complaints", "case_events", "postings"] {
        assert!(text.lines().any(|l| l.starts_with(table) && l.contains("absent from the export")), "{table}: {text}");
    }
    assert!(!text.lines().any(|l| l.starts_with("decisions") && l.contains("absent")), "{text}");
}

/// `cwkpi kpi --kpi` gives the full table's rows of the KPIs it names, and reads only the
/// further tables they count: the sample export counts items for every KPI, so a KPI that
/// read a table its definition does not name would lose them and differ here.
#[test]
fn a_kpi_selection_gives_the_full_tables_rows_and_reads_only_its_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let export = sample_copy(tmp.path());
    let e = export.to_str().unwrap();
    let kpi = |extra: &[&str]| {
        let o = cwkpi(&[&["kpi", "--exports", e, "--as-of", "2026-11-22", "--format", "csv"], extra].concat());
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o).lines().skip(1).map(str::to_string).collect::<Vec<_>>()
    };
    let full = kpi(&[]);
    let of = |ids: &[&str]| -> Vec<String> {
        full.iter().filter(|l| ids.contains(&l.split(',').nth(2).unwrap())).cloned().collect()
    };
    for d in cwkpi::kpi::DEFINITIONS {
        let rows = of(&[d.id]);
        assert!(rows.iter().any(|l| l.split(',').nth(4) != Some("0")), "{} counts nothing in the sample", d.id);
        assert_eq!(kpi(&["--kpi", d.id]), rows, "{}", d.id);
    }
    let core = kpi(&["--kpi", "core"]);
    assert_eq!(core, of(cwkpi::rules::CORE_KPI_IDS));
    assert_eq!(kpi(&["--kpi", "plan_on_time,complaints_realitet"]), of(&["plan_on_time", "complaints_realitet"]));

    // A damaged file of a table the core KPIs do not read stops the full table, not theirs.
    std::fs::write(export.join("decisions.parquet"), b"not parquet").unwrap();
    let o = cwkpi(&["kpi", "--exports", e, "--as-of", "2026-11-22", "--format", "csv"]);
    assert!(!o.status.success() && stderr(&o).contains("decisions.parquet"), "{}", stderr(&o));
    assert_eq!(kpi(&["--kpi", "core"]), core);

    let o = cwkpi(&["kpi", "--exports", e, "--kpi", "plan_coverage,nope"]);
    assert_eq!(o.status.code(), Some(64));
    assert!(stderr(&o).contains("--kpi nope: no such KPI"), "{}", stderr(&o));
}

/// `cwkpi sql` loads only the further tables its script reads through the views it names
/// (`queries::export_tables_read`): a damaged file of another table does not stop it, and
/// its answers are those of a full load.
#[test]
fn sql_reads_only_the_tables_its_script_reaches() {
    let tmp = tempfile::tempdir().unwrap();
    let export = sample_copy(tmp.path());
    let e = export.to_str().unwrap();
    let sql = |statement: &str| cwkpi(&["sql", "--exports", e, "--as-of", "2026-11-22", "--format", "csv", statement]);
    let compliance = "SELECT count(*), sum(follow_ups_overdue) FROM case_compliance";
    let checklist = "SELECT count(*) FROM case_checklist WHERE lawful";
    let (before, before_checklist) = (sql(compliance), sql(checklist));
    assert!(before.status.success() && before_checklist.status.success(), "{}", stderr(&before));
    assert_ne!(stdout(&before).lines().nth(1), Some("0,0"), "the sample has active cases");

    std::fs::write(export.join("postings.parquet"), b"not parquet").unwrap();
    // Neither view reaches the postings.
    for (statement, expected) in [(compliance, &before), (checklist, &before_checklist)] {
        let o = sql(statement);
        assert!(o.status.success(), "{statement}: {}", stderr(&o));
        assert_eq!(stdout(&o), stdout(expected), "{statement}");
    }
    // The budget's months do, through posting_months; so does a script naming the table.
    for statement in ["SELECT count(*) FROM budget_months", "SELECT 1; SELECT count(*) FROM postings"] {
        let o = sql(statement);
        assert_eq!(o.status.code(), Some(2), "{statement}: {}", stderr(&o));
        assert!(stderr(&o).contains("postings.parquet"), "{statement}: {}", stderr(&o));
    }
}

/// `kpi` gives the postings back once their month sums are kept (the budget forecast reads
/// only those): its rows, the forecast's included, are those the same KPIs give through
/// `sql`, which keeps every table.
#[test]
fn kpi_after_releasing_the_postings_equals_the_kpi_view() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample");
    let sample = sample.to_str().unwrap();
    let common = ["--exports", sample, "--as-of", "2026-11-22", "--format", "csv"];
    let kpi = cwkpi(&[&["kpi"], &common[..]].concat());
    assert!(kpi.status.success(), "{}", stderr(&kpi));
    let query = "SELECT as_of, unit_id, kpi_id, numerator, denominator FROM kpi";
    let sql = cwkpi(&[&["sql"], &common[..], &[query]].concat());
    assert!(sql.status.success(), "{}", stderr(&sql));
    let (kpi, sql) = (stdout(&kpi), stdout(&sql));
    let forecast: Vec<&str> = kpi.lines().filter(|l| l.contains(",budget_forecast,")).collect();
    assert!(forecast.iter().any(|l| !l.contains(",budget_forecast,0,0,")), "the sample has budgets: {forecast:?}");
    // Date, unit, KPI, numerator and denominator: the share follows from the last two.
    let sorted = |text: &str| -> Vec<String> {
        let mut lines: Vec<String> =
            text.lines().skip(1).map(|l| l.split(',').take(5).collect::<Vec<_>>().join(",")).collect();
        lines.sort();
        lines
    };
    assert!(sorted(&kpi).len() > 100);
    assert_eq!(sorted(&kpi), sorted(&sql));
}

/// The postings' unit and account are held as dictionaries, yet SQL sees text: the type,
/// the catalog's column list and the values (counted per unit and account, and compared
/// as text) are those of a text column.
#[test]
fn the_postings_repeating_columns_are_text_to_sql() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample");
    let sample = sample.to_str().unwrap();
    let sql = |query: &str| {
        let out = cwkpi(&["sql", "--exports", sample, "--as-of", "2026-11-22", "--format", "csv", query]);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let types = sql("SELECT DISTINCT arrow_typeof(unit_id) AS u, arrow_typeof(account) AS a FROM postings");
    assert_eq!(types.lines().collect::<Vec<_>>(), vec!["u,a", "Utf8,Utf8"]);
    let columns = sql("SELECT column_name, data_type FROM information_schema.columns \
         WHERE table_name = 'postings' AND column_name IN ('unit_id', 'account') ORDER BY column_name");
    assert_eq!(columns.lines().collect::<Vec<_>>(), vec!["column_name,data_type", "account,Utf8", "unit_id,Utf8"]);
    // Every posting's unit is a unit of the export, compared as text, and grouping by the
    // two columns counts every posting once.
    let counts = sql("SELECT (SELECT count(*) FROM postings) AS postings, \
                (SELECT count(*) FROM postings p JOIN units u ON u.unit_id = p.unit_id) AS joined, \
                (SELECT sum(n) FROM (SELECT count(*) AS n FROM postings GROUP BY unit_id, account)) AS grouped, \
                (SELECT count(*) FROM postings WHERE unit_id LIKE '%' AND account || '' = account) AS compared");
    let row: Vec<&str> = counts.lines().nth(1).unwrap().split(',').collect();
    assert!(row[0].parse::<i64>().unwrap() > 100, "the sample has postings: {counts}");
    assert_eq!(row, vec![row[0]; 4], "{counts}");
}

/// Without a case_events table the lawful-case checklist is unknown, not failed: its four
/// elements drawn from the events and `lawful` are null, it applies to no case, and the
/// elements drawn from case_compliance (plan, followed_up) are still there.
#[test]
fn the_checklist_is_unknown_without_case_events() {
    let tmp = tempfile::tempdir().unwrap();
    let export = sample_copy(tmp.path());
    let e = export.to_str().unwrap();
    let sql = |statement: &str| {
        let o = cwkpi(&["sql", "--exports", e, "--as-of", "2026-11-22", "--format", "csv", statement]);
        assert!(o.status.success(), "{statement}: {}", stderr(&o));
        stdout(&o).lines().nth(1).unwrap_or_default().to_string()
    };
    let counts = "SELECT count(*) > 0, count(*) = count(investigated), count(*) = count(lawful), \
                  count(*) = count(plan), bool_or(checklist_applies) FROM case_checklist";
    assert_eq!(sql(counts), "true,true,true,true,true", "with the sample's case_events");

    std::fs::remove_file(export.join("case_events.parquet")).unwrap();
    let unknown = "SELECT count(*) > 0, count(investigated), count(child_heard), count(parties_consulted), \
                   count(decision_with_guidance), count(lawful), count(*) = count(plan), \
                   count(*) = count(followed_up), bool_or(checklist_applies) FROM case_checklist";
    assert_eq!(sql(unknown), "true,0,0,0,0,0,true,true,false");
    assert_eq!(sql("SELECT count(*) FROM case_lawfulness"), "0");
}

/// The ids a table refers to cases and measures by are held as keys into those tables'
/// ids (`catalog::ids_by_key`); a query reads them as the text the export's file holds, row
/// for row, nulls included.
#[tokio::test]
async fn ids_held_as_keys_read_as_the_export_text() {
    use datafusion::arrow::array::{Array, AsArray};
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample");
    for (table, id, columns) in [
        ("postings", "posting_id", "case_id, measure_id"),
        ("follow_ups", "follow_up_id", "case_id, measure_id"),
        ("measures", "measure_id", "case_id"),
        ("case_events", "event_id", "case_id"),
    ] {
        let statement = format!("SELECT {id}, {columns} FROM {table} ORDER BY {id}");
        let o = cwkpi(&["sql", "--exports", sample.to_str().unwrap(), "--format", "csv", &statement]);
        assert!(o.status.success(), "{statement}: {}", stderr(&o));
        let read: Vec<String> = stdout(&o).lines().skip(1).map(str::to_string).collect();

        let ctx = datafusion::prelude::SessionContext::new();
        let file = sample.join(format!("{table}.parquet"));
        ctx.register_parquet("t", file.to_str().unwrap(), Default::default()).await.unwrap();
        let batches = ctx.sql(&statement.replace(table, "t")).await.unwrap().collect().await.unwrap();
        let mut in_file = Vec::new();
        for batch in &batches {
            let text: Vec<_> = (0..batch.num_columns())
                .map(|c| {
                    datafusion::arrow::compute::cast(batch.column(c), &datafusion::arrow::datatypes::DataType::Utf8)
                        .unwrap()
                })
                .collect();
            for row in 0..batch.num_rows() {
                let cells: Vec<&str> =
                    text.iter().map(|a| if a.is_null(row) { "" } else { a.as_string::<i32>().value(row) }).collect();
                in_file.push(cells.join(","));
            }
        }
        assert!(in_file.iter().any(|line| !line.ends_with(',')), "{table}: the sample fills the ids");
        assert_eq!(read, in_file, "{table}");
    }
}
