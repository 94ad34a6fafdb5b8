use std::collections::{HashMap, HashSet};

use datafusion::arrow::array::{Array, AsArray, RecordBatchReader};
use datafusion::arrow::datatypes::{Date32Type, Float64Type, TimestampMicrosecondType};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use datafusion::arrow::datatypes::SchemaRef;

use crate::error::Error;

use super::base::TABLE_NAMES;
use super::codes::{case_deadline, plan_due, plan_rule};
use super::days::{
    Day, MICROS_PER_SECOND, SECONDS_PER_DAY, add_working_days, day, day_of, existing_time, spring_forward, weekday,
};
use super::ids::IdStyle;
use super::layout::Order;
use super::write::file_type;
use super::*;
use crate::contract;

/// The layout of one file per table, which these tests read.
fn options(scale: f64, seed: u64) -> GenOptions {
    GenOptions { order: Order::Sorted, ..GenOptions::new(scale, seed, NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()) }
}

/// A whole table: column name → values as text (dates as day numbers, timestamps as
/// microseconds), None for null.
type Table = HashMap<String, Vec<Option<String>>>;

fn read(dir: &Path, table: &str) -> (SchemaRef, Table) {
    let file = File::open(dir.join(format!("{table}.parquet"))).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
    let schema = reader.schema();
    let mut columns: Table = HashMap::new();
    for batch in reader {
        let batch = batch.unwrap();
        for (field, array) in batch.schema().fields().iter().zip(batch.columns()) {
            let values = columns.entry(field.name().clone()).or_default();
            for i in 0..array.len() {
                values.push(if array.is_null(i) {
                    None
                } else if let Some(s) = array.as_string_opt::<i32>() {
                    Some(s.value(i).to_string())
                } else if let Some(d) = array.as_primitive_opt::<Date32Type>() {
                    Some(d.value(i).to_string())
                } else if let Some(b) = array.as_boolean_opt() {
                    Some(b.value(i).to_string())
                } else if let Some(t) = array.as_primitive_opt::<TimestampMicrosecondType>() {
                    Some(t.value(i).to_string())
                } else if let Some(f) = array.as_primitive_opt::<Float64Type>() {
                    Some(f.value(i).to_string())
                } else if let Some(n) = array.as_primitive_opt::<datafusion::arrow::datatypes::Int64Type>() {
                    Some(n.value(i).to_string())
                } else {
                    Some(String::from("value"))
                });
            }
        }
    }
    (schema, columns)
}

fn read_all(dir: &Path) -> HashMap<&'static str, Table> {
    TABLE_NAMES.iter().map(|t| (*t, read(dir, t).1)).collect()
}

fn ids<'a>(t: &'a Table, column: &str) -> HashSet<&'a str> {
    t[column].iter().flatten().map(String::as_str).collect()
}

#[test]
fn same_inputs_give_byte_identical_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    generate(&options(0.05, 11), &a).unwrap();
    generate(&options(0.05, 11), &b).unwrap();
    for name in TABLE_NAMES.iter().map(|t| format!("{t}.parquet")).chain(["manifest.json".to_string()]) {
        assert_eq!(fs::read(a.join(&name)).unwrap(), fs::read(b.join(&name)).unwrap(), "{name} differs");
    }
    let c = tmp.path().join("c");
    generate(&options(0.05, 12), &c).unwrap();
    assert_ne!(fs::read(a.join("cases.parquet")).unwrap(), fs::read(c.join("cases.parquet")).unwrap());
}

#[test]
fn export_follows_the_contract() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("export");
    let summary = generate(&options(0.2, 3), &out).unwrap();
    assert_eq!(summary.rows.iter().map(|(t, _)| *t).collect::<Vec<_>>(), TABLE_NAMES);
    assert!(summary.rows.iter().all(|(_, n)| *n > 0));
    for name in TABLE_NAMES {
        let spec = contract::table(name).unwrap();
        let (schema, _) = read(&out, name);
        let expected: Vec<_> = spec.columns.iter().map(|c| (c.name.to_string(), file_type(c.kind))).collect();
        let actual: Vec<_> = schema.fields().iter().map(|f| (f.name().clone(), f.data_type().clone())).collect();
        assert_eq!(actual, expected, "schema of {name}");
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["export_date"], "2026-11-22");
    assert_eq!(manifest["generator"], "cwkpi gen");
    assert_eq!(manifest["seed"], 3);
}

#[test]
fn ids_are_unique_and_every_reference_resolves() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("export");
    generate(&options(0.2, 5), &out).unwrap();
    let t = read_all(&out);
    for spec in contract::TABLES.iter().filter(|s| TABLE_NAMES.contains(&s.name)) {
        let Some(id_column) = spec.key.id_column() else { continue };
        let column = &t[spec.name][id_column];
        assert!(column.iter().all(Option::is_some), "null id in {}", spec.name);
        assert_eq!(ids(&t[spec.name], id_column).len(), column.len(), "duplicate id in {}", spec.name);
    }
    let units = ids(&t["units"], "unit_id");
    let children = ids(&t["children"], "child_id");
    let caseworkers = ids(&t["caseworkers"], "caseworker_id");
    let cases = ids(&t["cases"], "case_id");
    let in_set = |table: &str, column: &str, set: &HashSet<&str>| {
        for v in t[table][column].iter().flatten() {
            assert!(set.contains(v.as_str()), "{table}.{column} = {v} does not resolve");
        }
    };
    in_set("units", "parent_id", &units);
    in_set("caseworkers", "unit_id", &units);
    in_set("cases", "child_id", &children);
    in_set("cases", "unit_id", &units);
    in_set("cases", "caseworker_id", &caseworkers);
    for table in ["measures", "investigations", "action_plans", "follow_ups"] {
        in_set(table, "case_id", &cases);
    }
    let measure_of: HashSet<(&str, &str)> = t["measures"]["measure_id"]
        .iter()
        .zip(&t["measures"]["case_id"])
        .map(|(m, c)| (m.as_deref().unwrap(), c.as_deref().unwrap()))
        .collect();
    let follow_ups = &t["follow_ups"];
    let mut with_measure = 0;
    for (m, c) in follow_ups["measure_id"].iter().zip(&follow_ups["case_id"]) {
        if let Some(m) = m {
            with_measure += 1;
            assert!(measure_of.contains(&(m.as_str(), c.as_deref().unwrap())), "follow-up of {m} names the wrong case");
        }
    }
    assert!(with_measure > 0 && with_measure < follow_ups["measure_id"].len(), "follow-ups with and without measure");
    // A caseworker works in the unit of their cases.
    let unit_of_worker: HashMap<&str, &str> = t["caseworkers"]["caseworker_id"]
        .iter()
        .zip(&t["caseworkers"]["unit_id"])
        .map(|(w, u)| (w.as_deref().unwrap(), u.as_deref().unwrap()))
        .collect();
    for (w, u) in t["cases"]["caseworker_id"].iter().zip(&t["cases"]["unit_id"]) {
        if let Some(w) = w {
            assert_eq!(unit_of_worker[w.as_str()], u.as_deref().unwrap());
        }
    }
}

#[test]
fn dates_are_ordered_and_none_after_the_export_date() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("export");
    let opts = options(0.2, 9);
    generate(&opts, &out).unwrap();
    let as_of = i64::from(day(opts.as_of));
    let t = read_all(&out);
    // Day numbers, or microseconds for timestamps.
    let days = |table: &str, column: &str| -> Vec<Option<i64>> {
        t[table][column].iter().map(|v| v.as_ref().map(|s| s.parse().unwrap())).collect()
    };
    for spec in contract::TABLES.iter().filter(|s| TABLE_NAMES.contains(&s.name)) {
        for c in spec.columns.iter().filter(|c| c.kind == contract::ColumnKind::Date) {
            // next_due_on is a deadline set for the future, not an event.
            if c.name == "next_due_on" {
                continue;
            }
            let late = days(spec.name, c.name).into_iter().flatten().filter(|&d| d > as_of).count();
            assert_eq!(late, 0, "{}.{} has dates after the export date", spec.name, c.name);
        }
        for c in spec.columns.iter().filter(|c| c.kind == contract::ColumnKind::Timestamp) {
            let values = days(spec.name, c.name);
            assert!(values.iter().any(Option::is_some), "{}.{} is empty", spec.name, c.name);
            let late =
                values.into_iter().flatten().filter(|&t| i64::from(day_of(t / MICROS_PER_SECOND)) > as_of).count();
            assert_eq!(late, 0, "{}.{} has times after the export date", spec.name, c.name);
        }
        for (start, end) in spec.ordered {
            for (s, e) in days(spec.name, start).into_iter().zip(days(spec.name, end)) {
                if let (Some(s), Some(e)) = (s, e) {
                    assert!(e >= s, "{}.{end} before {start}", spec.name);
                }
            }
        }
    }
    // Measures run within their case.
    let closed: HashMap<&str, Option<i64>> =
        t["cases"]["case_id"].iter().zip(days("cases", "closed_on")).map(|(c, d)| (c.as_deref().unwrap(), d)).collect();
    for (case, ended) in t["measures"]["case_id"].iter().zip(days("measures", "ended_on")) {
        if let Some(closed) = closed[case.as_deref().unwrap()] {
            assert!(ended.is_some_and(|e| e <= closed), "a measure outlives its closed case");
        }
    }
}

#[test]
fn data_has_the_variety_the_kpis_need() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("export");
    generate(&options(0.2, 1), &out).unwrap();
    let t = read_all(&out);
    let codes = &t["measures"]["paragraph"];
    assert!(codes.iter().flatten().any(|c| c.starts_with("SEL:")), "Serviceloven codes");
    assert!(codes.iter().flatten().any(|c| c.starts_with("BL:")), "Barnets Lov codes");
    assert!(codes.iter().flatten().any(|c| plan_rule(c).is_none()), "codes outside the rules");
    let acute = t["measures"]["acute"].iter().flatten().filter(|a| *a == "true").count();
    let share = acute as f64 / codes.len() as f64;
    assert!((0.04..0.2).contains(&share), "acute share {share}");
    let cases = &t["cases"];
    assert!(cases["closed_on"].iter().any(Option::is_some) && cases["closed_on"].iter().any(Option::is_none));
    let active_without_worker =
        cases["closed_on"].iter().zip(&cases["caseworker_id"]).filter(|(c, w)| c.is_none() && w.is_none()).count();
    assert!(active_without_worker > 0, "active cases without caseworker");
    assert!(t["measures"]["decided_on"].iter().any(Option::is_none));
    assert!(t["investigations"]["aware_on"].iter().any(Option::is_none));
    assert!(t["follow_ups"]["next_due_on"].iter().any(Option::is_some));
    let cpr_shape =
        |s: &str| s.len() == 11 && s.as_bytes()[6] == b'-' && s.bytes().filter(u8::is_ascii_digit).count() == 10;
    assert!(t["children"]["cpr"].iter().flatten().all(|c| cpr_shape(c)));
    // Some units hold no cases, and the tree has organisation, centers and departments.
    let with_cases = ids(cases, "unit_id");
    assert!(t["units"]["unit_id"].iter().flatten().any(|u| !with_cases.contains(u.as_str())));
    assert_eq!(t["units"]["parent_id"].iter().filter(|p| p.is_none()).count(), 1, "one root");
}

/// The reader keeps every row of every table: references, ids, order of dates and
/// times, no time in the skipped spring hour.
#[test]
fn the_reader_keeps_every_generated_row() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("export");
    let summary = generate(&options(0.2, 4), &out).unwrap();
    let export = crate::CheckedExport::load(&out).unwrap();
    let rejected: Vec<_> = export.rejections().take(5).collect();
    assert!(rejected.is_empty(), "rejected rows: {rejected:?}");
    for (name, rows) in summary.rows {
        assert!(rows > 0, "{name} is empty");
        assert_eq!(export.table(name).unwrap().kept.num_rows(), rows, "{name}");
    }
}

#[test]
fn further_tables_have_the_shapes_and_variety_the_kpis_need() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("export");
    let opts = options(0.3, 2);
    generate(&opts, &out).unwrap();
    let as_of = day(opts.as_of);
    let law_change = day(NaiveDate::from_ymd_opt(2024, 1, 1).unwrap());
    let t = read_all(&out);
    let rows = |table: &str| t[table][contract::table(table).unwrap().key.columns()[0]].len() as f64;
    let int = |v: &Option<String>| v.as_ref().map(|s| s.parse::<i64>().unwrap());
    let cases = rows("cases");

    // Sizes per case (the benchmark shapes).
    let per_case = |table: &str| rows(table) / cases;
    assert!((0.8..1.3).contains(&per_case("decisions")), "decisions per case {}", per_case("decisions"));
    assert!((0.35..0.7).contains(&per_case("notifications")), "notifications per case {}", per_case("notifications"));
    let mut event_kinds: Vec<(String, usize)> = Vec::new();
    for kind in t["case_events"]["kind"].iter().flatten() {
        match event_kinds.iter_mut().find(|(k, _)| k == kind) {
            Some((_, n)) => *n += 1,
            None => event_kinds.push((kind.clone(), 1)),
        }
    }
    assert!(
        (1.7..2.5).contains(&per_case("case_events")),
        "events per case {}: {event_kinds:?}",
        per_case("case_events")
    );
    let m = &t["measures"];
    let measure_years: f64 = (0..m["measure_id"].len())
        .filter(|&i| m["monthly_cost_dkk"][i].as_ref().is_some_and(|c| c.parse::<f64>().unwrap() > 0.0))
        .map(|i| {
            let started = int(&m["started_on"][i]).unwrap();
            let ended = int(&m["ended_on"][i]).unwrap_or(i64::from(as_of)).min(i64::from(as_of));
            (ended - started + 1) as f64 / 365.25
        })
        .sum();
    let per_measure_year = rows("postings") / measure_years;
    assert!((10.0..14.0).contains(&per_measure_year), "postings per measure-year {per_measure_year}");

    // Decisions: Serviceloven before the law change, Barnets Lov after; open, late,
    // delay letters, both outcomes.
    let d = &t["decisions"];
    let (mut open, mut late, mut letters, mut with_deadline, mut without_deadline) = (0, 0, 0, 0, 0);
    for (i, code) in d["paragraph"].iter().enumerate() {
        let code = code.as_deref().unwrap();
        let applied = int(&d["applied_on"][i]).unwrap() as Day;
        assert_eq!(code.starts_with("BL:"), applied >= law_change, "{code} applied on day {applied}");
        let decided = int(&d["decided_on"][i]);
        assert_eq!(decided.is_some(), d["outcome"][i].is_some());
        open += usize::from(decided.is_none());
        letters += usize::from(d["delay_letter_on"][i].is_some());
        match case_deadline(code, applied) {
            Some(due) => {
                with_deadline += 1;
                late += usize::from(decided.is_some_and(|x| x > i64::from(due)));
            }
            None => without_deadline += 1,
        }
    }
    assert!(open > 0 && late > 0 && letters > 0 && with_deadline > 0 && without_deadline > 0);
    let outcomes = ids(d, "outcome");
    assert_eq!(outcomes, HashSet::from(["bevilget", "afslag"]));

    // Notifications: professional share, late and missing assessments, nights and
    // weekends, receipts only for professionals, units that hold cases.
    let n = &t["notifications"];
    let professional =
        n["professional"].iter().flatten().filter(|p| *p == "true").count() as f64 / rows("notifications");
    assert!((0.5..0.7).contains(&professional), "professional share {professional}");
    assert!(n["assessed_at"].iter().any(Option::is_none));
    let (mut night, mut weekend, mut late_assessment) = (0, 0, 0);
    for (i, received) in n["received_at"].iter().enumerate() {
        let received = int(received).unwrap() / MICROS_PER_SECOND;
        assert_eq!(existing_time(received), received, "a time in the skipped spring hour");
        let hour = received.rem_euclid(SECONDS_PER_DAY) / 3600;
        night += usize::from(!(7..22).contains(&hour));
        weekend += usize::from(weekday(day_of(received)) >= 5);
        if let Some(assessed) = int(&n["assessed_at"][i]) {
            let assessed = assessed / MICROS_PER_SECOND;
            assert_eq!(existing_time(assessed), assessed);
            late_assessment += usize::from(assessed - received > 26 * 3600);
        }
        if n["professional"][i].as_deref() == Some("false") {
            assert!(n["receipt_confirmed_on"][i].is_none());
        }
    }
    assert!(night > 0 && weekend > 0 && late_assessment > 0);
    assert!(n["case_id"].iter().any(Option::is_some) && n["case_id"].iter().any(Option::is_none));
    assert!(n["receipt_confirmed_on"].iter().any(Option::is_some));

    // Complaints: both kinds; counts change from year to year within departments.
    let k = &t["complaints"];
    assert_eq!(ids(k, "kind"), HashSet::from(["formalitet", "realitet"]));
    let mut per_unit_year: HashMap<(&str, i64), usize> = HashMap::new();
    for (unit, on) in k["unit_id"].iter().zip(&k["received_on"]) {
        let back = (i64::from(as_of) - int(on).unwrap()) / 365;
        *per_unit_year.entry((unit.as_deref().unwrap(), back)).or_default() += 1;
    }
    let changed = per_unit_year
        .iter()
        .filter(|((unit, back), n)| *back == 0 && per_unit_year.get(&(*unit, 1)) != Some(*n))
        .count();
    assert!(changed > 0, "complaint counts the same every year");

    // Case events: every kind the checklist reads, and target-group clarification only
    // in handicap cases.
    let e = &t["case_events"];
    let kinds = ids(e, "kind");
    for kind in ["boernesamtale", "partshoering", "afgoerelse_med_klagevejledning", "maalgruppeafklaring", "notat"] {
        assert!(kinds.contains(kind), "no {kind} events");
    }
    let handicap: HashSet<&str> = t["cases"]["case_id"]
        .iter()
        .zip(&t["cases"]["target_group"])
        .filter(|(_, g)| g.as_deref() == Some("handicap"))
        .map(|(c, _)| c.as_deref().unwrap())
        .collect();
    for (case, kind) in e["case_id"].iter().zip(&e["kind"]) {
        if kind.as_deref() == Some("maalgruppeafklaring") {
            assert!(handicap.contains(case.as_deref().unwrap()));
        }
    }

    // Postings: refunds, about 68 % booked on a case (with its measure), cost centres.
    let p = &t["postings"];
    assert!(p["amount_dkk"].iter().flatten().any(|a| a.parse::<f64>().unwrap() < 0.0), "no refunds");
    let booked = p["case_id"].iter().filter(|c| c.is_some()).count() as f64 / rows("postings");
    assert!((0.6..0.76).contains(&booked), "booked on a case {booked}");
    for (case, measure) in p["case_id"].iter().zip(&p["measure_id"]) {
        assert_eq!(case.is_some(), measure.is_some());
    }
    assert!(ids(p, "account").len() >= 3);
}

#[test]
fn calendar_helpers_count_as_the_rules_do() {
    let d = |s: &str| day(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap());
    assert_eq!(weekday(d("2026-11-23")), 0, "a Monday");
    assert_eq!(weekday(d("2026-11-22")), 6, "a Sunday");
    assert!(spring_forward(d("2026-03-29")) && spring_forward(d("2025-03-30")) && spring_forward(d("2024-03-31")));
    assert!(!spring_forward(d("2026-03-22")) && !spring_forward(d("2026-10-25")));
    let at = |s: &str, h: i64, m: i64| i64::from(d(s)) * SECONDS_PER_DAY + h * 3600 + m * 60;
    assert_eq!(existing_time(at("2026-03-29", 2, 30)), at("2026-03-29", 3, 30));
    assert_eq!(existing_time(at("2026-03-29", 1, 59)), at("2026-03-29", 1, 59));
    assert_eq!(existing_time(at("2026-03-29", 3, 0)), at("2026-03-29", 3, 0));
    assert_eq!(existing_time(at("2026-03-22", 2, 30)), at("2026-03-22", 2, 30));
    assert_eq!(add_working_days(d("2026-11-20"), 6), d("2026-11-30"));
    // The built-in deadlines: 3 months (clamped at month end), 40 working days, 8 weeks.
    assert_eq!(case_deadline("BL:32.1.3", d("2025-11-30")), Some(d("2026-02-28")));
    assert_eq!(case_deadline("BL:86", d("2026-11-20")), Some(add_working_days(d("2026-11-20"), 40)));
    assert_eq!(case_deadline("BL:86", d("2026-11-20")), Some(d("2027-01-15")));
    assert_eq!(case_deadline("SEL:41", d("2026-01-31")), Some(d("2026-03-28")));
    assert_eq!(case_deadline("SEL:52.3.7", d("2026-01-31")), None);
    assert_eq!(case_deadline("BL:30", d("2026-01-31")), None);
    assert_eq!(case_deadline("SEL:11.3", d("2026-01-31")), None);
}

#[test]
fn fractional_scale_still_gives_a_whole_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("export");
    let summary = generate(&options(0.03, 7), &out).unwrap();
    let rows: HashMap<_, _> = summary.rows.into_iter().collect();
    assert!((250..=350).contains(&rows["cases"]), "{} cases", rows["cases"]);
    let t = read_all(&out);
    let names: Vec<&str> = t["units"]["name"].iter().flatten().map(String::as_str).collect();
    assert!(names.iter().filter(|n| n.starts_with("Center")).count() == 2);
    assert!(names.iter().filter(|n| n.starts_with("Afdeling") && !n.contains("team")).count() >= 2);
}

#[test]
fn refuses_bad_input_and_foreign_folders() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("export");
    for scale in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(generate(&options(scale, 1), &out), Err(Error::Usage(_))));
    }
    for future_share in [-0.1, 0.6, f64::NAN] {
        assert!(matches!(generate(&GenOptions { future_share, ..options(0.01, 1) }, &out), Err(Error::Usage(_))));
    }
    let foreign = tmp.path().join("documents");
    fs::create_dir(&foreign).unwrap();
    fs::write(foreign.join("letter.txt"), "keep me").unwrap();
    assert!(matches!(generate(&options(0.01, 1), &foreign), Err(Error::Usage(_))));
    assert!(foreign.join("letter.txt").exists());
    // An earlier generated export is replaced, and nothing temporary is left behind.
    generate(&options(0.01, 1), &out).unwrap();
    generate(&options(0.01, 2), &out).unwrap();
    let manifest = fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(manifest.contains("\"seed\": 2"));
    let leftovers: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

/// Each table's rows as text lines, file by file, in file order (for any layout).
fn rows_by_file(dir: &Path, table: &str) -> Vec<(PathBuf, Vec<String>)> {
    let spec = contract::table(table).unwrap();
    let files = crate::export::table_files(dir, spec).unwrap().expect("table present");
    files
        .into_iter()
        .map(|path| {
            let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap().build().unwrap();
            let mut lines = Vec::new();
            for batch in reader {
                let batch = batch.unwrap();
                let columns: Vec<_> = batch
                    .columns()
                    .iter()
                    .map(|c| {
                        datafusion::arrow::util::display::ArrayFormatter::try_new(c.as_ref(), &Default::default())
                            .unwrap()
                    })
                    .collect();
                for i in 0..batch.num_rows() {
                    lines.push(columns.iter().map(|c| c.value(i).to_string()).collect::<Vec<_>>().join("|"));
                }
            }
            (path, lines)
        })
        .collect()
}

fn sorted_rows(dir: &Path, table: &str) -> Vec<String> {
    let mut rows: Vec<String> = rows_by_file(dir, table).into_iter().flat_map(|(_, rows)| rows).collect();
    rows.sort();
    rows
}

fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { files.extend(all_files(&path)) } else { files.push(path) }
    }
    files.sort();
    files
}

#[test]
fn every_order_holds_the_same_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let sorted = tmp.path().join("sorted");
    let summary = generate(&options(0.1, 6), &sorted).unwrap();
    let (by_year, random) = (tmp.path().join("by-year"), tmp.path().join("random"));
    generate(&GenOptions { order: Order::ByYear, ..options(0.1, 6) }, &by_year).unwrap();
    generate(&GenOptions { order: Order::Random, ..options(0.1, 6) }, &random).unwrap();
    for name in TABLE_NAMES {
        let rows = sorted_rows(&sorted, name);
        assert_eq!(sorted_rows(&by_year, name), rows, "{name} by year");
        assert_eq!(sorted_rows(&random, name), rows, "{name} in random order");
    }
    assert!(summary.rows.iter().all(|(_, n)| *n > 0));

    // By year: cases/2021.parquet holds the cases opened in 2021, in id order.
    let years = rows_by_file(&by_year, "cases");
    assert!(years.len() >= 6, "{} yearly files", years.len());
    for (path, rows) in &years {
        let year = path.file_stem().unwrap().to_string_lossy().into_owned();
        assert!(rows.iter().all(|r| r.split('|').nth(4).unwrap().starts_with(&year)), "{}", path.display());
        assert!(rows.windows(2).all(|w| w[0] < w[1]), "ids ascending within {}", path.display());
    }
    assert!(by_year.join("units.parquet").is_file() && by_year.join("children.parquet").is_file());
    // Random: four files per large table, rows out of id order; registers one file.
    let parts = rows_by_file(&random, "measures");
    assert_eq!(parts.len(), 4);
    assert!(parts.iter().all(|(_, rows)| rows.len() > 50 && !rows.windows(2).all(|w| w[0] < w[1])));
    assert!(random.join("units.parquet").is_file());
    let manifest = fs::read_to_string(random.join("manifest.json")).unwrap();
    assert!(manifest.contains("\"order\": \"random\""), "{manifest}");
    assert!(!fs::read_to_string(sorted.join("manifest.json")).unwrap().contains("order"));
    // Nothing of the rearranging is left behind.
    assert!(all_files(&random).iter().all(|f| !f.file_name().unwrap().to_string_lossy().starts_with('.')));
}

#[test]
fn every_shape_is_deterministic() {
    let tmp = tempfile::tempdir().unwrap();
    let shaped = |seed| GenOptions {
        order: Order::Random,
        ids: IdStyle::Uuid,
        future_share: 0.1,
        skew: true,
        ..options(0.05, seed)
    };
    let (a, b, c) = (tmp.path().join("a"), tmp.path().join("b"), tmp.path().join("c"));
    generate(&shaped(11), &a).unwrap();
    generate(&shaped(11), &b).unwrap();
    generate(&shaped(12), &c).unwrap();
    let files = all_files(&a);
    assert_eq!(
        files.iter().map(|f| f.strip_prefix(&a).unwrap()).collect::<Vec<_>>(),
        all_files(&b).iter().map(|f| f.strip_prefix(&b).unwrap()).collect::<Vec<_>>()
    );
    for file in &files {
        let other = b.join(file.strip_prefix(&a).unwrap());
        assert_eq!(fs::read(file).unwrap(), fs::read(&other).unwrap(), "{} differs", file.display());
    }
    assert_ne!(sorted_rows(&a, "cases"), sorted_rows(&c, "cases"));
}

#[test]
fn id_styles_keep_every_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let numeric = tmp.path().join("numeric");
    generate(&options(0.1, 8), &numeric).unwrap();
    for style in [IdStyle::Prefixed, IdStyle::Uuid] {
        let out = tmp.path().join(style.as_str());
        let summary = generate(&GenOptions { ids: style, ..options(0.1, 8) }, &out).unwrap();
        let export = crate::CheckedExport::load(&out).unwrap();
        assert_eq!(export.rejections().count(), 0, "{style:?}");
        for (name, rows) in summary.rows {
            assert_eq!(export.table(name).unwrap().kept.num_rows(), rows, "{name}");
            // The same rows apart from their ids: the row counts match the numeric export's.
            assert_eq!(sorted_rows(&numeric, name).len(), rows, "{name}");
        }
        let cases = read(&out, "cases").1;
        let ids: Vec<&str> = cases["case_id"].iter().flatten().map(String::as_str).collect();
        match style {
            IdStyle::Prefixed => {
                assert!(ids.iter().any(|i| i.starts_with("NY-C")) && ids.iter().any(|i| i.starts_with("C0")));
            }
            _ => assert!(ids.iter().all(|i| i.len() == 36 && i.as_bytes()[14] == b'4')),
        }
    }
}

#[test]
fn future_share_adds_rows_dated_after_the_export_date() {
    let tmp = tempfile::tempdir().unwrap();
    let (plain, planned) = (tmp.path().join("plain"), tmp.path().join("planned"));
    let opts = options(0.3, 5);
    generate(&opts, &plain).unwrap();
    generate(&GenOptions { future_share: 0.1, ..options(0.3, 5) }, &planned).unwrap();
    let as_of = i64::from(day(opts.as_of));
    for (table, column) in [("measures", "started_on"), ("follow_ups", "performed_on"), ("postings", "posted_on")] {
        let t = read(&planned, table).1;
        let dates: Vec<i64> = t[column].iter().map(|d| d.as_ref().unwrap().parse().unwrap()).collect();
        let share = dates.iter().filter(|&&d| d > as_of).count() as f64 / dates.len() as f64;
        assert!((0.09..0.11).contains(&share), "{table}: {share} dated ahead");
        // One chunk of cases: the planned rows come on top of the rows made without.
        let (before, after) = (sorted_rows(&plain, table), sorted_rows(&planned, table));
        let after: HashSet<&String> = after.iter().collect();
        assert!(before.iter().all(|r| after.contains(r)), "{table} lost a row");
    }
    // Valid input: nothing rejected (validation lists them as queries).
    let export = crate::CheckedExport::load(&planned).unwrap();
    assert_eq!(export.rejections().count(), 0);
}

#[test]
fn skew_gives_one_department_a_third_of_the_cases() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("export");
    generate(&GenOptions { skew: true, ..options(0.5, 2) }, &out).unwrap();
    let cases = read(&out, "cases").1;
    let mut per_unit: HashMap<&str, usize> = HashMap::new();
    for unit in cases["unit_id"].iter().flatten() {
        *per_unit.entry(unit.as_str()).or_default() += 1;
    }
    let largest = *per_unit.values().max().unwrap() as f64 / cases["case_id"].len() as f64;
    assert!((0.3..0.37).contains(&largest), "the largest department holds {largest}");
}

#[test]
fn rule_prefixes_match_at_dot_boundaries() {
    assert!(plan_rule("SEL:52.3.7").is_some());
    assert!(plan_rule("SEL:52.30").is_none());
    assert!(plan_rule("SEL:76a").is_none());
    // Due before the start, acute or not (BL:47 has no acute grace); SEL:52.3 gives an acute
    // measure 4 months; BL:32 counts 3 months from the decision, else the start.
    let d = |s: &str| day(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap());
    let (start, decided) = (d("2026-01-31"), Some(d("2026-01-10")));
    let due = |code: &str, decided, acute| plan_due(plan_rule(code).unwrap(), start, decided, acute);
    assert_eq!(due("BL:47", None, true), Some(start));
    assert_eq!(due("SEL:52.3.7", decided, false), Some(start));
    assert_eq!(due("SEL:52.3.7", decided, true), Some(d("2026-05-31")));
    assert_eq!(due("BL:32.1.2", decided, false), Some(d("2026-04-10")));
    assert_eq!(due("BL:32.1.2", None, true), Some(d("2026-04-30")));
}

#[test]
fn budgets_follow_what_each_cost_centre_spends_with_the_cases_the_figures_must_handle() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("export");
    generate(&options(0.2, 5), &out).unwrap();
    let (postings, budgets) = (read(&out, "postings").1, read(&out, "budgets").1);
    // 2026's spending per key up to the export date (2026-11-22: 10 + 22/30 months).
    let first_of_2026 = day(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap());
    let mut spent: HashMap<(String, String), f64> = HashMap::new();
    let mut posted_on: HashSet<String> = HashSet::new();
    let text = |v: &Option<String>| v.clone().unwrap();
    let columns = |t: &Table, names: [&str; 4]| {
        let [a, b, c, d] = names.map(|n| t[n].clone());
        a.into_iter().zip(b).zip(c).zip(d).map(|(((a, b), c), d)| (a, b, c, d)).collect::<Vec<_>>()
    };
    for (unit, account, on, amount) in columns(&postings, ["unit_id", "account", "posted_on", "amount_dkk"]) {
        let account = text(&account);
        posted_on.insert(account.clone());
        if text(&on).parse::<i32>().unwrap() >= first_of_2026 {
            *spent.entry((text(&unit), account)).or_default() += text(&amount).parse::<f64>().unwrap();
        }
    }
    let mut budget: HashMap<(String, String), f64> = HashMap::new();
    let mut monthly_units: HashSet<String> = HashSet::new();
    for (unit, year, _, month) in columns(&budgets, ["unit_id", "year", "account", "month"]) {
        if year.as_deref() == Some("2026") && month.is_some() {
            monthly_units.insert(text(&unit));
        }
    }
    for (unit, year, account, amount) in columns(&budgets, ["unit_id", "year", "account", "amount_dkk"]) {
        if year.as_deref() == Some("2026") {
            *budget.entry((text(&unit), text(&account))).or_default() += text(&amount).parse::<f64>().unwrap();
        }
    }
    // One cost centre has monthly rows; one a budget for an account nothing is paid from;
    // one posts on an account without a budget.
    assert_eq!(monthly_units.len(), 1, "{monthly_units:?}");
    assert!(budget.keys().any(|(_, account)| !posted_on.contains(account)), "a budget without postings");
    assert!(spent.keys().any(|k| !budget.contains_key(k)), "postings without a budget");
    // Every other budget is the year's spending at its pace (scaled to 12 months) times
    // 0.75–1.3: some keys end well over their budget, some well under.
    let ratios: Vec<f64> =
        budget.iter().filter_map(|(k, b)| spent.get(k).map(|s| b / (s * 12.0 / (10.0 + 22.0 / 30.0)))).collect();
    assert!(ratios.len() >= 6, "{ratios:?}");
    assert!(ratios.iter().all(|r| (0.7..1.35).contains(r)), "{ratios:?}");
    assert!(ratios.iter().any(|r| *r < 0.9) && ratios.iter().any(|r| *r > 1.1), "{ratios:?}");
}
