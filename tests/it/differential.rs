//! Differential test: the engine's `kpi` view against the plain-Rust reference of
//! `common::reference`, on many small random exports whose dates crowd around the
//! boundaries of docs/kpis.md (as-of date, window and baseline edges, month ends, leap
//! days, deadlines, working days around closed days, daylight-saving changes).
//!
//! Reproduce one case with `CWKPI_DIFF_SEED=<seed>`; `CWKPI_DIFF_KEEP=<dir>` keeps the
//! exports written there; `CWKPI_DIFF_SEEDS=<n>` runs n seeds instead of the default;
//! `CWKPI_DIFF_VIEWS=<dir>` runs the engine on an edited copy of `queries/views/` (to
//! check that a planted mistake is caught).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use crate::common::reference::{
    Data, WorkCalendar, assessment_deadline, case_deadline_rule, closed_days, copenhagen_date, decision_deadline,
    easter, explain, receipt_deadline, reference_items, reference_kpis,
};
use chrono::{Datelike, Days, Months, NaiveDate, NaiveDateTime, TimeZone, Timelike, Weekday};
use chrono_tz::Europe::Copenhagen;
use cwkpi::kpi::{KpiRow, rows_from_batches};
use cwkpi::rules::KPI_IDS;
use cwkpi::rules::Period;
use cwkpi::{Catalog, CheckedExport, EngineOptions, Rules};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::TimestampMicrosecondType;
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

// 160 seeds × 3 dates keep the test well under a minute on two cores; soak with CWKPI_DIFF_SEEDS.
const SEEDS: u64 = 160;
/// Every how-many-th seed uses `CUSTOM_RULES` instead of the built-in rules.
const CUSTOM_EVERY: u64 = 4;

/// Rules unlike the default in every respect the KPIs read: day and week spans, nested
/// and lower-case prefixes, a rule without a plan, acute grace on a decision rule,
/// case deadlines in working days, weeks, months and days with nested prefixes, other
/// notification limits, a complaints baseline year, extra closed days, and targets that
/// make `met` flip at other shares (0 and 1 included).
const CUSTOM_RULES: &str = r#"
[targets]
plan_coverage = 0.5
plan_on_time = 1.0
follow_up_on_time = 0.8
investigation_within_limit = 0.0
investigation_completed_within_limit = 0.75
decision_within_deadline = 0.5
delay_letter_sent = 1.0
notification_assessed_in_time = 0.0
notification_receipt_confirmed = 0.6
complaints_formalitet = 1.0
complaints_realitet = 0.5

[[case_deadline]]
prefix = "SEL:41"
within = "15 working days"

[[case_deadline]]
prefix = "SEL:41.1"
within = "2 weeks"

[[case_deadline]]
prefix = "BL:32"
within = "1 month"

[[case_deadline]]
prefix = "BL:32.1"
within = "10 days"

[[case_deadline]]
prefix = "BL:86"
within = "3 working days"

[[case_deadline]]
prefix = "BL:86.3"
within = "2 months"

[notifications]
assess_within = "48 hours"
confirm_receipt_within = "10 days"

[complaints]
baseline_year = 2024

[calendar]
extra_closed_days = ["2024-02-29", "2024-05-10", "2024-12-23", "2024-12-27", "2024-12-30", "2025-02-28", "2025-03-01", "2025-05-30", "2025-06-30", "2024-12-25", "2023-12-27", "2025-12-29"]

[investigation]
limit = "8 weeks"

[follow_up]
first_within = "10 days"
then_every = "1 month"

[[paragraph]]
prefix = "SEL:52"
action_plan = "2 weeks after decision"
follow_up = false

[[paragraph]]
prefix = "SEL:52.3"
action_plan = "before start"
acute_action_plan = "1 month after start"
follow_up = true

[[paragraph]]
prefix = "SEL:76"
follow_up = true

[[paragraph]]
prefix = "BL:32"
action_plan = "3 months after decision"
acute_action_plan = "1 month after decision"

[[paragraph]]
prefix = "BL:32.1"
action_plan = "5 days after start"
follow_up = true

[[paragraph]]
prefix = "sel:76"
action_plan = "6 months after start"
follow_up = true

[budget]
periodisation = "even"
forecast_target = 0.9
"#;

/// Every other custom seed: receipts in working days (with the extra closed days), a
/// one-hour assessment limit and the rolling complaints baseline.
fn custom_rules_variant() -> String {
    CUSTOM_RULES
        .replace("confirm_receipt_within = \"10 days\"", "confirm_receipt_within = \"2 working days\"")
        .replace("assess_within = \"48 hours\"", "assess_within = \"1 hour\"")
        .replace("baseline_year = 2024", "")
}

fn rules_for_seed(seed: u64) -> Rules {
    if seed % CUSTOM_EVERY != CUSTOM_EVERY - 1 {
        Rules::builtin()
    } else if (seed / CUSTOM_EVERY).is_multiple_of(2) {
        Rules::parse(CUSTOM_RULES, "differential custom rules").expect("custom rules parse")
    } else {
        Rules::parse(&custom_rules_variant(), "differential custom rules (variant)")
            .expect("custom rules variant parses")
    }
}
/// As-of dates per export, checked one catalog each.
const DATES_PER_EXPORT: usize = 3;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).expect("valid date")
}

/// As-of dates worth checking: leap days, month ends, year ends and the days next to them.
fn as_of_pool() -> Vec<NaiveDate> {
    vec![
        d(2024, 2, 29),
        d(2024, 2, 28),
        d(2024, 3, 1),
        d(2025, 2, 28),
        d(2025, 3, 1),
        d(2024, 12, 31),
        d(2025, 1, 1),
        d(2024, 5, 31),
        d(2024, 6, 30),
        d(2024, 6, 29),
        d(2025, 5, 31),
        d(2025, 6, 30),
        d(2025, 7, 31),
        d(2024, 8, 31),
        d(2024, 10, 31),
        d(2024, 11, 30),
        d(2025, 3, 31),
        d(2025, 4, 30),
        d(2025, 8, 31),
        d(2025, 12, 31),
        d(2026, 2, 28),
        d(2024, 1, 31),
        d(2024, 4, 30),
        d(2025, 9, 14),
        // W starting on a daylight-saving Sunday (364 days keep the weekday) or near the
        // Easter and Great Prayer Day of the year before.
        d(2024, 10, 27),
        d(2025, 3, 30),
        d(2024, 4, 3),
        d(2024, 5, 6),
        d(2025, 4, 22),
        d(2024, 12, 27),
    ]
}

/// Dates near the boundaries of every rule as seen from T.
fn boundary_dates(t: NaiveDate, out: &mut BTreeSet<NaiveDate>) {
    let window_start = t - Days::new(364);
    for base in [t, window_start] {
        for delta in -2i64..=2 {
            out.insert(shift(base, delta));
        }
        // Deadlines counted in months land on base from several days when they clamp.
        for days in [5u64, 10, 14, 56] {
            out.insert(base - Days::new(days));
            out.insert(base - Days::new(days + 1));
        }
        for months in [1u32, 3, 4, 6] {
            let back = base.checked_sub_months(Months::new(months)).expect("in range");
            for delta in -1i64..=1 {
                out.insert(shift(back, delta));
            }
            for day in 28..=31 {
                if let Some(x) = back.with_day(day) {
                    out.insert(x);
                }
            }
        }
    }
    out.insert(shift(t, -365));
    out.insert(shift(t, 7));
    out.insert(shift(t, 30));
}

fn shift(day: NaiveDate, delta: i64) -> NaiveDate {
    if delta >= 0 { day + Days::new(delta as u64) } else { day - Days::new((-delta) as u64) }
}

/// Month ends and leap-year edges of the years around the as-of dates.
fn calendar_dates(out: &mut BTreeSet<NaiveDate>) {
    for y in 2023..=2026 {
        for (m, day) in [
            (1, 29),
            (1, 30),
            (1, 31),
            (2, 28),
            (2, 29),
            (3, 1),
            (3, 30),
            (3, 31),
            (4, 30),
            (5, 31),
            (6, 30),
            (8, 31),
            (9, 30),
            (10, 31),
            (11, 30),
            (12, 31),
        ] {
            if let Some(x) = NaiveDate::from_ymd_opt(y, m, day) {
                out.insert(x);
            }
        }
    }
}

const PARAGRAPHS: &[&str] = &[
    "SEL:52.3",
    "SEL:52.3.7",
    "SEL:52.30",
    "SEL:52",
    "SEL:76",
    "SEL:76.2",
    "SEL:76a",
    "sel:76",
    "SEL:41",
    "BL:32",
    "BL:32.1.3",
    "BL:320",
    "BL:46",
    "BL:46.2",
    "BL:47",
    "BL:47.1.1",
    "BL:4",
];

struct Gen {
    rng: ChaCha8Rng,
    pool: Vec<NaiveDate>,
    t0: NaiveDate,
}

impl Gen {
    /// Mostly a boundary date, sometimes any day of the last two years or just after T.
    fn date(&mut self) -> NaiveDate {
        if self.rng.random_bool(0.8) {
            *self.pool.choose(&mut self.rng).expect("pool")
        } else {
            shift(self.t0, self.rng.random_range(-760..=45))
        }
    }

    /// A date not before `start` (mostly), for end dates.
    fn date_from(&mut self, start: NaiveDate) -> NaiveDate {
        for _ in 0..6 {
            let x = self.date();
            if x >= start {
                return x;
            }
        }
        shift(start, self.rng.random_range(0..200))
    }

    fn maybe<T>(&mut self, p_some: f64, f: impl FnOnce(&mut Self) -> T) -> Option<T> {
        if self.rng.random_bool(p_some) { Some(f(self)) } else { None }
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }
}

/// One table as columns, written as one Parquet file or as a folder of two.
struct Table {
    name: &'static str,
    columns: Vec<(&'static str, ArrayRef)>,
}

fn ids(v: Vec<Option<String>>) -> ArrayRef {
    Arc::new(StringArray::from(v))
}

fn days(v: Vec<Option<NaiveDate>>) -> ArrayRef {
    let epoch = d(1970, 1, 1);
    Arc::new(Date32Array::from(v.into_iter().map(|x| x.map(|x| (x - epoch).num_days() as i32)).collect::<Vec<_>>()))
}

fn write_table(dir: &Path, table: &Table, split: bool, omit: &[&str], empty: bool) {
    let columns: Vec<&(&str, ArrayRef)> = table.columns.iter().filter(|(n, _)| !omit.contains(n)).collect();
    let schema = Arc::new(Schema::new(
        columns.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect::<Vec<_>>(),
    ));
    let batch = RecordBatch::try_new(schema.clone(), columns.iter().map(|(_, a)| a.clone()).collect()).expect("batch");
    let batch = if empty { batch.slice(0, 0) } else { batch };
    let write = |path: &Path, batch: &RecordBatch| {
        let mut w = ArrowWriter::try_new(File::create(path).expect("create"), schema.clone(), None).expect("writer");
        w.write(batch).expect("write");
        w.close().expect("close");
    };
    if split && batch.num_rows() > 1 {
        let folder = dir.join(table.name);
        std::fs::create_dir_all(&folder).expect("folder");
        let half = batch.num_rows() / 2;
        write(&folder.join("part-1.parquet"), &batch.slice(0, half));
        write(&folder.join("part-2.parquet"), &batch.slice(half, batch.num_rows() - half));
    } else {
        write(&dir.join(format!("{}.parquet", table.name)), &batch);
    }
}

/// Writes a random export for `seed` into `dir`; returns its as-of dates and, per
/// notification id, the instants (µs, UTC) its timestamps were written to denote.
fn write_export(seed: u64, dir: &Path) -> (Vec<NaiveDate>, BTreeMap<String, Instants>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let as_of_pool = as_of_pool();
    let t0 = *as_of_pool.choose(&mut rng).expect("pool");
    let mut as_of = BTreeSet::from([t0]);
    as_of.insert(shift(t0, *[-1i64, 1, 7].choose(&mut rng).expect("deltas")));
    while as_of.len() < DATES_PER_EXPORT {
        as_of.insert(*as_of_pool.choose(&mut rng).expect("pool"));
    }
    let mut pool = BTreeSet::new();
    for &t in &as_of {
        boundary_dates(t, &mut pool);
    }
    calendar_dates(&mut pool);
    let mut g = Gen { rng, pool: pool.into_iter().collect(), t0 };

    // Units: a root, then each unit under an earlier one at most three levels down.
    let n_units = g.rng.random_range(5..=12);
    let mut unit_ids: Vec<String> = Vec::new();
    let mut parents: Vec<Option<String>> = Vec::new();
    let mut depth: Vec<usize> = Vec::new();
    for i in 0..n_units {
        // Unpadded ids, so string order (u1, u10, u2) differs from numeric order.
        unit_ids.push(format!("u{}", i + 1));
        if i == 0 {
            parents.push(None);
            depth.push(0);
        } else {
            let candidates: Vec<usize> = (0..i).filter(|&p| depth[p] < 3).collect();
            let p = *candidates.choose(&mut g.rng).expect("a parent");
            parents.push(Some(unit_ids[p].clone()));
            depth.push(depth[p] + 1);
        }
    }
    // Some units get no cases of their own.
    let case_units: Vec<usize> = (0..n_units).filter(|_| g.chance(0.7)).collect();
    let case_units = if case_units.is_empty() { vec![n_units - 1] } else { case_units };

    let caseworkers: Vec<(String, String)> =
        (0..n_units * 2).map(|i| (format!("cw{i}"), unit_ids[i % n_units].clone())).collect();

    let n_cases = g.rng.random_range(20..=80);
    let mut cases: Vec<[Option<String>; 5]> = Vec::new(); // id, child, unit, caseworker, target group
    let mut case_dates: Vec<(Option<NaiveDate>, Option<NaiveDate>)> = Vec::new();
    let mut children: Vec<String> = Vec::new();
    let mut measures: Vec<MeasureRow> = Vec::new();
    let mut investigations: Vec<InvestigationRow> = Vec::new();
    let mut plans: Vec<(String, String, NaiveDate)> = Vec::new();
    let mut follow_ups: Vec<FollowUpRow> = Vec::new();
    let mut by_the_book: Vec<String> = Vec::new();

    for c in 0..n_cases {
        let case_id = format!("c{c}");
        let child = if c > 0 && g.chance(0.1) {
            children.choose(&mut g.rng).cloned().expect("child")
        } else {
            children.push(format!("ch{c}"));
            format!("ch{c}")
        };
        let unit = unit_ids[*case_units.choose(&mut g.rng).expect("unit")].clone();
        let caseworker = g.maybe(0.8, |g| caseworkers.choose(&mut g.rng).expect("cw").0.clone());
        let target_group = g.maybe(0.7, |g| ["udsatte", "handicap"].choose(&mut g.rng).expect("tg").to_string());
        // Now and then a case run by the book at t0 (one ongoing measure, a plan before it,
        // a recent follow-up, mostly a completed investigation; its case events come in
        // `write_further_tables`), so lawful_case numerators are not always 0.
        if g.chance(0.15) {
            let opened = shift(t0, -g.rng.random_range(400..900));
            let closed = g.maybe(0.15, |g| shift(t0, g.rng.random_range(0..60)));
            cases.push([Some(case_id.clone()), Some(child), Some(unit), caseworker, target_group]);
            case_dates.push((Some(opened), closed));
            let started = shift(t0, -g.rng.random_range(60..380));
            measures.push(MeasureRow {
                id: format!("m{c}_0"),
                case: case_id.clone(),
                paragraph: Some(PARAGRAPHS.choose(&mut g.rng).expect("paragraph").to_string()),
                started: Some(started),
                ended: g.maybe(0.2, |g| shift(t0, g.rng.random_range(-1..60))),
                decided: None,
                acute: Some(false),
            });
            plans.push((format!("p{c}_0"), case_id.clone(), shift(started, -g.rng.random_range(0..30))));
            let performed = shift(t0, -g.rng.random_range(0..=20));
            let next_due = g.maybe(0.7, |g| shift(t0, g.rng.random_range(20..120)));
            follow_ups.push(FollowUpRow {
                id: format!("f{c}_0"),
                case: case_id.clone(),
                performed: Some(performed),
                measure: None,
                next_due,
            });
            if g.chance(0.6) {
                // Now and then completed the day before, on or after an as-of date.
                let completed = if g.chance(0.4) {
                    let t = *as_of.iter().collect::<Vec<_>>().choose(&mut g.rng).expect("as-of");
                    shift(*t, g.rng.random_range(-1..=1))
                } else {
                    shift(t0, -g.rng.random_range(0..500))
                };
                investigations.push(InvestigationRow {
                    id: format!("i{c}_0"),
                    case: case_id.clone(),
                    started: Some(shift(completed, -g.rng.random_range(0..120))),
                    completed: Some(completed),
                    aware: None,
                });
            }
            by_the_book.push(case_id);
            continue;
        }
        // Most cases are opened well before T, so their records fall in open periods.
        let opened = if g.chance(0.6) { shift(t0, -g.rng.random_range(400..900)) } else { g.date() };
        let closed = g.maybe(0.35, |g| g.date_from(opened));
        cases.push([Some(case_id.clone()), Some(child), Some(unit), caseworker, target_group]);
        case_dates.push((Some(opened), closed));

        let mut case_measures: Vec<String> = Vec::new();
        for k in 0..g.rng.random_range(0..=4) {
            let id = format!("m{c}_{k}");
            let started = g.date();
            let ended = g.maybe(0.45, |g| g.date_from(started));
            let row = MeasureRow {
                id: id.clone(),
                case: case_id.clone(),
                paragraph: Some(PARAGRAPHS.choose(&mut g.rng).expect("paragraph").to_string()),
                started: Some(started),
                ended,
                decided: g
                    .maybe(0.5, |g| if g.chance(0.5) { g.date() } else { shift(started, -g.rng.random_range(0..100)) }),
                acute: if g.chance(0.1) { None } else { Some(g.chance(0.35)) },
            };
            measures.push(row);
            case_measures.push(id);
        }
        for k in 0..g.rng.random_range(0..=3) {
            let started = g.date();
            let completed = g.maybe(0.65, |g| g.date_from(started));
            let aware =
                g.maybe(0.6, |g| if g.chance(0.5) { g.date() } else { shift(started, -g.rng.random_range(0..60)) });
            investigations.push(InvestigationRow {
                id: format!("i{c}_{k}"),
                case: case_id.clone(),
                started: Some(started),
                completed,
                aware,
            });
        }
        for k in 0..g.rng.random_range(0..=3) {
            plans.push((format!("p{c}_{k}"), case_id.clone(), g.date()));
        }
        for k in 0..g.rng.random_range(0..=5) {
            let performed = g.date();
            let measure = if case_measures.is_empty() || g.chance(0.4) {
                None
            } else {
                case_measures.choose(&mut g.rng).cloned()
            };
            // next_due_on is used as given, even when it lies before the follow-up itself.
            let next_due = g.maybe(0.5, |g| if g.chance(0.75) { g.date_from(performed) } else { g.date() });
            follow_ups.push(FollowUpRow {
                id: format!("f{c}_{k}"),
                case: case_id.clone(),
                performed: Some(performed),
                measure: measure.clone(),
                next_due,
            });
            // Several follow-ups on one day, with other next_due_on values (or none).
            if g.chance(0.3) {
                let next_due = g.maybe(0.6, |g| g.date_from(performed));
                let measure = if g.chance(0.5) { measure } else { None };
                follow_ups.push(FollowUpRow {
                    id: format!("f{c}_{k}b"),
                    case: case_id.clone(),
                    performed: Some(performed),
                    measure,
                    next_due,
                });
            }
        }
    }

    // A few rows the checks reject; both sides must leave them out alike.
    if g.chance(0.5) && !measures.is_empty() {
        let mut dup = measures[0].clone();
        dup.case = "c1".into();
        measures.push(dup); // duplicate id: both copies are rejected
    }
    if g.chance(0.5) && measures.len() > 2 {
        let m = &measures[measures.len() / 2];
        let other_case = if m.case == "c0" { "c1" } else { "c0" };
        follow_ups.push(FollowUpRow {
            id: "f_bad_ref".into(),
            case: other_case.into(),
            performed: Some(g.t0),
            measure: Some(m.id.clone()),
            next_due: None,
        });
    }
    if g.chance(0.4) {
        let started = g.date();
        investigations.push(InvestigationRow {
            id: "i_bad_order".into(),
            case: "c0".into(),
            started: Some(started),
            completed: Some(shift(started, -1)),
            aware: None,
        });
    }
    if g.chance(0.4) {
        measures.push(MeasureRow {
            id: "m_no_paragraph".into(),
            case: "c0".into(),
            paragraph: None,
            started: Some(g.t0),
            ended: None,
            decided: None,
            acute: Some(false),
        });
    }
    if g.chance(0.3) {
        cases.push([Some("c_bad_unit".into()), Some(children[0].clone()), Some("u_missing".into()), None, None]);
        case_dates.push((Some(shift(g.t0, -500)), None));
        measures.push(MeasureRow {
            id: "m_orphan".into(),
            case: "c_bad_unit".into(),
            paragraph: Some("SEL:52.3".into()),
            started: Some(shift(g.t0, -30)),
            ended: None,
            decided: None,
            acute: Some(false),
        });
    }
    if g.chance(0.3) {
        // Units off the tree (a missing parent, a loop) are rejected, and their cases with them.
        for (unit, parent) in [("u_orphan", "u_nowhere"), ("u_loop1", "u_loop2"), ("u_loop2", "u_loop1")] {
            unit_ids.push(unit.into());
            parents.push(Some(parent.into()));
            cases.push([Some(format!("c_{unit}")), Some(children[0].clone()), Some(unit.into()), None, None]);
            case_dates.push((Some(shift(g.t0, -500)), None));
            investigations.push(InvestigationRow {
                id: format!("i_{unit}"),
                case: format!("c_{unit}"),
                started: Some(shift(g.t0, -10)),
                completed: None,
                aware: None,
            });
        }
    }

    // Monthly costs for the budget's commitments: none, nothing, round and with øre.
    let costs: Vec<Option<f64>> = measures
        .iter()
        .map(|_| g.maybe(0.85, |g| *[12_500.0, 0.0, 4_321.55, 250.5, 30_000.0].choose(&mut g.rng).expect("costs")))
        .collect();
    let tables = [
        Table {
            name: "units",
            columns: vec![
                ("unit_id", ids(unit_ids.iter().cloned().map(Some).collect())),
                ("name", ids(unit_ids.iter().map(|u| Some(format!("Enhed {u}"))).collect())),
                ("parent_id", ids(parents)),
            ],
        },
        Table {
            name: "caseworkers",
            columns: vec![
                ("caseworker_id", ids(caseworkers.iter().map(|c| Some(c.0.clone())).collect())),
                ("name", ids(caseworkers.iter().map(|c| Some(format!("Sagsbehandler {}", c.0))).collect())),
                ("unit_id", ids(caseworkers.iter().map(|c| Some(c.1.clone())).collect())),
            ],
        },
        Table {
            name: "children",
            columns: vec![
                ("child_id", ids(children.iter().cloned().map(Some).collect())),
                ("birth_date", days(children.iter().map(|_| Some(d(2012, 5, 17))).collect())),
                ("cpr", ids(children.iter().map(|_| Some("170512-0000".to_string())).collect())),
            ],
        },
        Table {
            name: "cases",
            columns: vec![
                ("case_id", ids(cases.iter().map(|c| c[0].clone()).collect())),
                ("child_id", ids(cases.iter().map(|c| c[1].clone()).collect())),
                ("unit_id", ids(cases.iter().map(|c| c[2].clone()).collect())),
                ("caseworker_id", ids(cases.iter().map(|c| c[3].clone()).collect())),
                ("opened_on", days(case_dates.iter().map(|c| c.0).collect())),
                ("closed_on", days(case_dates.iter().map(|c| c.1).collect())),
                ("target_group", ids(cases.iter().map(|c| c[4].clone()).collect())),
            ],
        },
        Table {
            name: "measures",
            columns: vec![
                ("measure_id", ids(measures.iter().map(|m| Some(m.id.clone())).collect())),
                ("case_id", ids(measures.iter().map(|m| Some(m.case.clone())).collect())),
                ("paragraph", ids(measures.iter().map(|m| m.paragraph.clone()).collect())),
                ("started_on", days(measures.iter().map(|m| m.started).collect())),
                ("ended_on", days(measures.iter().map(|m| m.ended).collect())),
                ("decided_on", days(measures.iter().map(|m| m.decided).collect())),
                ("acute", Arc::new(BooleanArray::from(measures.iter().map(|m| m.acute).collect::<Vec<_>>()))),
                ("monthly_cost_dkk", Arc::new(Float64Array::from(costs.clone()))),
                ("provider", ids(measures.iter().map(|_| None).collect())),
            ],
        },
        Table {
            name: "investigations",
            columns: vec![
                ("investigation_id", ids(investigations.iter().map(|v| Some(v.id.clone())).collect())),
                ("case_id", ids(investigations.iter().map(|v| Some(v.case.clone())).collect())),
                ("started_on", days(investigations.iter().map(|v| v.started).collect())),
                ("completed_on", days(investigations.iter().map(|v| v.completed).collect())),
                ("aware_on", days(investigations.iter().map(|v| v.aware).collect())),
            ],
        },
        Table {
            name: "action_plans",
            columns: vec![
                ("plan_id", ids(plans.iter().map(|p| Some(p.0.clone())).collect())),
                ("case_id", ids(plans.iter().map(|p| Some(p.1.clone())).collect())),
                ("created_on", days(plans.iter().map(|p| Some(p.2)).collect())),
            ],
        },
        Table {
            name: "follow_ups",
            columns: vec![
                ("follow_up_id", ids(follow_ups.iter().map(|f| Some(f.id.clone())).collect())),
                ("case_id", ids(follow_ups.iter().map(|f| Some(f.case.clone())).collect())),
                ("performed_on", days(follow_ups.iter().map(|f| f.performed).collect())),
                ("measure_id", ids(follow_ups.iter().map(|f| f.measure.clone()).collect())),
                ("next_due_on", days(follow_ups.iter().map(|f| f.next_due).collect())),
            ],
        },
    ];
    for table in &tables {
        let split = g.chance(0.15);
        // Optional columns may be missing from a file altogether (they read as null/false).
        let omit: Vec<&str> = match table.name {
            "measures" if g.chance(0.1) => vec!["acute", "provider"],
            "measures" if g.chance(0.1) => vec!["decided_on"],
            "investigations" if g.chance(0.1) => vec!["aware_on"],
            "follow_ups" if g.chance(0.1) => vec!["next_due_on"],
            "cases" if g.chance(0.1) => vec!["target_group", "caseworker_id"],
            _ => vec![],
        };
        // Now and then a table with no rows at all.
        let empty =
            matches!(table.name, "measures" | "investigations" | "action_plans" | "follow_ups") && g.chance(0.04);
        write_table(dir, table, split, &omit, empty);
    }
    let as_of: Vec<NaiveDate> = as_of.into_iter().collect();
    let all_cases: Vec<String> = cases.iter().filter_map(|c| c[0].clone()).collect();
    let case_measures: Vec<(String, String)> = measures.iter().map(|m| (m.case.clone(), m.id.clone())).collect();
    let tree_units: Vec<String> =
        unit_ids.iter().filter(|u| u.starts_with("u") && !u.starts_with("u_")).cloned().collect();
    let instants = write_further_tables(
        &mut g,
        dir,
        &rules_for_seed(seed),
        &as_of,
        &all_cases,
        &by_the_book,
        &case_measures,
        &tree_units,
    );
    (as_of, instants)
}

/// A notification's timestamps as the export means them (µs since the epoch, UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Instants {
    received_at: i64,
    assessed_at: Option<i64>,
}

/// How an export writes the notifications' timestamps.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TimeFormat {
    /// `Timestamp(µs, None)`: Copenhagen wall-clock time.
    Naive,
    /// `Timestamp(µs, "UTC")`.
    Utc,
    /// `Timestamp(µs, "Europe/Copenhagen")`.
    Copenhagen,
}

const DECISION_PARAGRAPHS: &[&str] = &[
    "SEL:41",
    "SEL:41.1",
    "SEL:41.1.2",
    "SEL:41x",
    "sel:41",
    "SEL:42",
    "BL:86",
    "BL:86.3",
    "BL:860",
    "BL:87",
    "BL:32",
    "BL:32.1",
    "BL:32.1.3",
    "BL:320",
    "SEL:52.3",
];

/// The four kinds the checklist reads, first, then kinds it must ignore.
const EVENT_KINDS: &[&str] = &[
    "boernesamtale",
    "partshoering",
    "afgoerelse_med_klagevejledning",
    "maalgruppeafklaring",
    "andet",
    "Boernesamtale",
    "partshoering ",
    "børnesamtale",
    "afgoerelse",
];
const IGNORED_EVENT_KINDS: &[&str] = &["andet", "Boernesamtale", "partshoering ", "børnesamtale", "afgoerelse"];

/// The last Sunday of a month: the daylight-saving changes fall on those of March and October.
fn last_sunday(year: i32, month: u32) -> NaiveDate {
    let mut day = NaiveDate::from_ymd_opt(year, month + 1, 1).expect("month") - Days::new(1);
    while day.weekday() != Weekday::Sun {
        day = day - Days::new(1);
    }
    day
}

/// The instant of a Copenhagen wall-clock time: the first occurrence in the repeated
/// autumn hour; a time in the skipped spring hour moves one hour on.
fn copenhagen_instant(local: NaiveDateTime) -> i64 {
    let zoned = Copenhagen
        .from_local_datetime(&local)
        .earliest()
        .or_else(|| Copenhagen.from_local_datetime(&(local + chrono::Duration::hours(1))).earliest())
        .expect("a Copenhagen time");
    zoned.timestamp_micros()
}

/// The Copenhagen wall-clock time of an instant.
fn wall_clock(micros: i64) -> NaiveDateTime {
    chrono::DateTime::from_timestamp_micros(micros).expect("instant").with_timezone(&Copenhagen).naive_local()
}

fn in_skipped_hour(local: NaiveDateTime) -> bool {
    let day = local.date();
    day.month() == 3 && day == last_sunday(day.year(), 3) && local.hour() == 2
}

/// Times of day around midnight and the daylight-saving hours.
const TIMES: &[(u32, u32, u32, u32)] = &[
    (0, 0, 0, 0),
    (0, 30, 0, 0),
    (1, 0, 0, 0),
    (1, 59, 59, 999_999),
    (2, 0, 0, 0),
    (2, 30, 0, 0),
    (2, 59, 59, 0),
    (3, 0, 0, 0),
    (3, 30, 0, 0),
    (9, 15, 0, 0),
    (12, 0, 0, 0),
    (22, 59, 0, 0),
    (23, 0, 0, 0),
    (23, 30, 0, 0),
    (23, 59, 59, 999_999),
];

/// Dates whose `f` lands next to an edge (a window or baseline boundary), searched over
/// the two years and more before the as-of dates.
fn landing_on(
    edges: &BTreeSet<NaiveDate>,
    as_of: &[NaiveDate],
    f: impl Fn(NaiveDate) -> Option<NaiveDate>,
) -> Vec<NaiveDate> {
    let first = shift(as_of[0], -800);
    let last = shift(*as_of.last().expect("as-of"), 5);
    first.iter_days().take_while(|x| *x <= last).filter(|x| f(*x).is_some_and(|y| edges.contains(&y))).collect()
}

/// Writes the further tables (docs/export.md), or leaves them out; see `write_export`.
#[allow(clippy::too_many_arguments)] // the core tables' facts the further rows refer to
fn write_further_tables(
    g: &mut Gen,
    dir: &Path,
    rules: &Rules,
    as_of: &[NaiveDate],
    cases: &[String],
    by_the_book: &[String],
    case_measures: &[(String, String)],
    units: &[String],
) -> BTreeMap<String, Instants> {
    let mut instants = BTreeMap::new();
    // Some exports have none of the further tables: every figure has a zero denominator.
    if g.chance(0.12) {
        return instants;
    }
    let cal = WorkCalendar::new(rules);
    let t0 = g.t0;
    // Deadlines on T, T−364 (the window's first day), T−365 and their neighbours.
    let mut edges = BTreeSet::new();
    for &t in as_of {
        for base in [t, shift(t, -364)] {
            for delta in -1..=1 {
                edges.insert(shift(base, delta));
            }
        }
    }
    let random_day = |g: &mut Gen| shift(t0, g.rng.random_range(-760..=45));

    // decisions: applied so the deadline lands on an edge, decided and told around it.
    let mut applied_pool: BTreeMap<String, Vec<NaiveDate>> = BTreeMap::new();
    for r in &rules.case_deadlines {
        applied_pool.insert(r.prefix.clone(), landing_on(&edges, as_of, |a| Some(cal.add_period(a, r.within))));
    }
    // decision id, case, paragraph, applied, decided, outcome, delay letter
    type DecisionRow = (String, String, String, NaiveDate, Option<NaiveDate>, Option<String>, Option<NaiveDate>);
    let mut decisions: Vec<DecisionRow> = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        for k in 0..g.rng.random_range(0..=2) {
            let paragraph = DECISION_PARAGRAPHS.choose(&mut g.rng).expect("paragraph").to_string();
            let pool = case_deadline_rule(rules, &paragraph)
                .and_then(|r| applied_pool.get(&r.prefix))
                .filter(|p| !p.is_empty());
            let applied = match pool {
                Some(p) if g.chance(0.75) => *p.choose(&mut g.rng).expect("pool"),
                _ => g.date(),
            };
            let deadline = decision_deadline(rules, &cal, &paragraph, applied);
            let near = |g: &mut Gen, base: NaiveDate| shift(base, g.rng.random_range(-1..=1)).max(applied);
            let decided = match g.rng.random_range(0..10) {
                0..=2 => None,
                3..=7 => Some(near(g, deadline.unwrap_or(applied))),
                _ => Some(g.date_from(applied)),
            };
            let letter = match g.rng.random_range(0..10) {
                0..=3 => None,
                4..=7 => Some(near(g, deadline.unwrap_or(applied))),
                _ => Some(if g.chance(0.5) { applied } else { g.date() }),
            };
            let outcome = g.maybe(0.6, |g| ["bevilget", "afslag"].choose(&mut g.rng).expect("outcome").to_string());
            decisions.push((format!("a{i}_{k}"), case.clone(), paragraph, applied, decided, outcome, letter));
        }
    }
    // Rejected rows: a duplicate id, a decision before its application, an unknown case.
    if g.chance(0.4) && !decisions.is_empty() {
        let mut dup = decisions[0].clone();
        dup.3 = t0;
        decisions.push(dup);
    }
    if g.chance(0.4) {
        decisions.push((
            "a_bad_order".into(),
            cases[0].clone(),
            "SEL:41".into(),
            shift(t0, -30),
            Some(shift(t0, -31)),
            None,
            None,
        ));
    }
    if g.chance(0.3) {
        decisions.push(("a_bad_case".into(), "c_missing".into(), "SEL:41".into(), shift(t0, -60), None, None, None));
    }

    // notifications: received around the edges, the daylight-saving Sundays and the
    // closed days, assessed exactly at the deadline or just after, confirmed around it.
    let format = *[TimeFormat::Naive, TimeFormat::Naive, TimeFormat::Utc, TimeFormat::Copenhagen]
        .choose(&mut g.rng)
        .expect("format");
    let Period::Hours(hours) = rules.notification_assess_within else { panic!("assessment limit in hours") };
    let mut received_days: BTreeSet<NaiveDate> = BTreeSet::new();
    for &t in as_of {
        for base in [t, shift(t, -364)] {
            for delta in -3..=1 {
                received_days.insert(shift(base, delta));
            }
        }
    }
    let mut dst_changes = Vec::new();
    for y in 2023..=2026 {
        for m in [3, 10] {
            let sunday = last_sunday(y, m);
            dst_changes.push(sunday);
            for delta in -2..=1 {
                received_days.insert(shift(sunday, delta));
            }
        }
        let e = easter(y);
        for delta in -12..=2 {
            received_days.insert(shift(e, delta));
        }
        // Great Prayer Day (closed up to 2023, a working day from 2024), Ascension, 5 June.
        for base in [shift(e, 26), shift(e, 39), d(y, 6, 5)] {
            for delta in -8..=0 {
                received_days.insert(shift(base, delta));
            }
        }
        for day in 14..=31 {
            received_days.insert(d(y, 12, day));
        }
    }
    received_days.extend(landing_on(&edges, as_of, |r| Some(cal.add_period(r, rules.notification_confirm_within))));
    let received_days: Vec<NaiveDate> = received_days.into_iter().collect();
    let readback =
        |micros: i64| if format == TimeFormat::Naive { copenhagen_instant(wall_clock(micros)) } else { micros };
    let hour = 3_600_000_000i64;
    // notification id, unit, received/assessed, professional, receipt, case
    type NotificationRow = (String, String, Instants, Option<bool>, Option<NaiveDate>, Option<String>);
    let mut notifications: Vec<NotificationRow> = Vec::new();
    for i in 0..g.rng.random_range(10..=60) {
        let received = if g.chance(0.1) {
            // Right at a change of UTC offset (01:00 UTC), as an instant.
            let change = *dst_changes.choose(&mut g.rng).expect("change");
            let at = change.and_hms_opt(1, 0, 0).expect("time").and_utc().timestamp_micros();
            at + [-hour, -1, 0, 1, hour / 2, hour, 23 * hour].choose(&mut g.rng).expect("offset")
        } else {
            let day = if g.chance(0.85) { *received_days.choose(&mut g.rng).expect("days") } else { random_day(g) };
            let (h, m, sec, us) = *TIMES.choose(&mut g.rng).expect("time");
            let mut local = day.and_hms_micro_opt(h, m, sec, us).expect("time");
            if in_skipped_hour(local) && format == TimeFormat::Naive {
                local += chrono::Duration::hours(1);
            }
            copenhagen_instant(local)
        };
        let received = readback(received);
        let limit = i64::from(hours) * hour;
        let assessed = match g.rng.random_range(0..12) {
            0 | 1 => None,
            2 | 3 => Some(received + limit),
            4 => Some(received + limit + 60_000_000),
            5 => Some(received + limit + 1),
            6 => Some(received + limit - 1),
            // One calendar day later on the wall clock: 23 or 25 hours across a change.
            7 | 8 => Some(copenhagen_instant(wall_clock(received) + chrono::Duration::days(1))),
            9 => Some(received + limit - hour),
            10 => Some(received + limit + hour),
            _ => Some(received + g.rng.random_range(0..72) * hour),
        }
        .map(readback);
        let professional = if g.chance(0.05) { None } else { Some(g.chance(0.5)) };
        let deadline = receipt_deadline(rules, &cal, received);
        let confirmed = match g.rng.random_range(0..10) {
            0..=2 => None,
            3..=7 => Some(shift(deadline, g.rng.random_range(-1..=1))),
            8 => Some(copenhagen_date(received)),
            _ => Some(g.date()),
        };
        let case = g.maybe(0.2, |g| cases.choose(&mut g.rng).expect("case").clone());
        let unit = units.choose(&mut g.rng).expect("unit").clone();
        notifications.push((
            format!("n{i}"),
            unit,
            Instants { received_at: received, assessed_at: assessed },
            professional,
            confirmed,
            case,
        ));
    }
    if g.chance(0.3) {
        // Assessed before it was received: rejected.
        let at = copenhagen_instant(t0.and_hms_opt(12, 0, 0).expect("noon"));
        notifications.push((
            "n_bad_order".into(),
            units[0].clone(),
            Instants { received_at: at, assessed_at: Some(at - hour) },
            Some(true),
            None,
            None,
        ));
    }
    if g.chance(0.3) {
        let at = copenhagen_instant(t0.and_hms_opt(12, 0, 0).expect("noon"));
        notifications.push((
            "n_bad_unit".into(),
            "u_missing".into(),
            Instants { received_at: at, assessed_at: None },
            Some(true),
            None,
            None,
        ));
    }

    // complaints: on the edges of W and of the baseline, of both kinds (now and then another).
    let mut complaint_days: BTreeSet<NaiveDate> = edges.clone();
    for &t in as_of {
        for base in [shift(t, -365), shift(t, -729)] {
            for delta in -1..=1 {
                complaint_days.insert(shift(base, delta));
            }
        }
    }
    for y in 2023..=2025 {
        for x in [d(y, 1, 1), d(y, 12, 31), d(y, 1, 2), d(y, 12, 30)] {
            complaint_days.insert(x);
        }
    }
    let complaint_days: Vec<NaiveDate> = complaint_days.into_iter().collect();
    let mut complaints: Vec<(String, String, NaiveDate, String, Option<String>)> = Vec::new();
    for i in 0..g.rng.random_range(0..=40) {
        let day = if g.chance(0.7) {
            *complaint_days.choose(&mut g.rng).expect("days")
        } else {
            shift(t0, g.rng.random_range(-800..=30))
        };
        let kind = match g.rng.random_range(0..20) {
            0..=8 => "formalitet",
            9..=17 => "realitet",
            _ => *["andet", "Formalitet", "realitet "].choose(&mut g.rng).expect("kind"),
        };
        let case = g.maybe(0.3, |g| cases.choose(&mut g.rng).expect("case").clone());
        complaints.push((
            format!("k{i}"),
            units.choose(&mut g.rng).expect("unit").clone(),
            day,
            kind.to_string(),
            case,
        ));
    }
    if g.chance(0.3) {
        complaints.push(("k_bad_unit".into(), "u_missing".into(), t0, "formalitet".into(), None));
    }

    // case_events: every case (rejected ones too) gets some of the kinds read, on T−366 …
    // T−364, T−1 … T+1 of each as-of date or any day; kinds spelled almost like them are
    // ignored; the cases run by the book get all of them within the year before t0.
    let mut event_days: BTreeSet<NaiveDate> = BTreeSet::new();
    for &t in as_of {
        for delta in [-366, -365, -364, -363, -1, 0, 1] {
            event_days.insert(shift(t, delta));
        }
    }
    let event_days: Vec<NaiveDate> = event_days.into_iter().collect();
    let mut events: Vec<(String, String, String, NaiveDate)> = Vec::new();
    let mut event = |case: &str, kind: &str, day: NaiveDate| {
        let id = format!("e{}", events.len());
        events.push((id, case.to_string(), kind.to_string(), day));
    };
    for case in cases {
        let all_kinds = g.chance(0.2);
        for kind in EVENT_KINDS {
            let read = !IGNORED_EVENT_KINDS.contains(kind);
            let p = if all_kinds && read {
                0.9
            } else if read {
                0.45
            } else {
                0.12
            };
            if !g.chance(p) {
                continue;
            }
            for _ in 0..g.rng.random_range(1..=2) {
                let day = if g.chance(0.7) { *event_days.choose(&mut g.rng).expect("days") } else { g.date() };
                event(case, kind, day);
            }
        }
    }
    for case in by_the_book {
        for kind in &EVENT_KINDS[..4] {
            // The target-group clarification stands in for a missing investigation, or not.
            if *kind == "maalgruppeafklaring" && g.chance(0.5) {
                continue;
            }
            let day = if g.chance(0.3) {
                *event_days.choose(&mut g.rng).expect("days")
            } else {
                shift(t0, -g.rng.random_range(0..300))
            };
            event(case, kind, day);
        }
    }
    // Rejected: a duplicate id (both copies), an unknown case.
    if g.chance(0.4) && !events.is_empty() {
        let mut dup = events[events.len() / 2].clone();
        dup.3 = t0;
        events.push(dup);
    }
    if g.chance(0.3) {
        events.push(("e_bad_case".into(), "c_missing".into(), "boernesamtale".into(), t0));
    }
    // Postings: the budgets' actuals, on two accounts, dates crowding the as-of dates'
    // month and year ends. posting id, unit, account, posted on, amount, case, measure
    type PostingRow = (String, String, String, NaiveDate, f64, Option<String>, Option<String>);
    let postings: Vec<PostingRow> = (0..g.rng.random_range(0..=30))
        .map(|i| {
            let (case, measure) = match case_measures.choose(&mut g.rng) {
                Some((c, m)) if g.chance(0.6) => (Some(c.clone()), g.maybe(0.5, |_| m.clone())),
                _ => (None, None),
            };
            (
                format!("b{i}"),
                units.choose(&mut g.rng).expect("unit").clone(),
                ["A", "B"].choose(&mut g.rng).expect("account").to_string(),
                g.date(),
                (g.rng.random_range(-5_000.0..20_000.0f64) * 100.0).round() / 100.0,
                case,
                measure,
            )
        })
        .collect();
    // Budgets of the as-of years and the years around them, yearly and monthly, some
    // rejected (a month 13, a year 1850, an unknown unit, a duplicate key), amounts whole
    // and with øre. unit, year, account, month, amount
    type BudgetRow = (String, i64, String, Option<i64>, f64);
    let years: Vec<i64> = as_of.iter().map(|t| i64::from(t.year())).collect();
    let mut budgets: Vec<BudgetRow> = (0..g.rng.random_range(0..=14))
        .map(|_| {
            let year = *years.choose(&mut g.rng).expect("year") + *[-1i64, 0, 0, 0, 1].choose(&mut g.rng).expect("y");
            (
                units.choose(&mut g.rng).expect("unit").clone(),
                year,
                ["A", "B", "C"].choose(&mut g.rng).expect("account").to_string(),
                g.maybe(0.35, |g| g.rng.random_range(1..=12)),
                *[120_000.0, 1_000.06, 0.06, 95_000.0, 30_000.0, -500.0, 250_000.0]
                    .choose(&mut g.rng)
                    .expect("amounts"),
            )
        })
        .collect();
    if g.chance(0.15) && !budgets.is_empty() {
        let copy = budgets[0].clone();
        budgets.push(copy);
    }
    if g.chance(0.1) {
        budgets.push((units[0].clone(), years[0], "A".into(), Some(13), 100.0));
    }
    if g.chance(0.1) {
        budgets.push((units[0].clone(), 1850, "A".into(), None, 100.0));
    }
    if g.chance(0.1) {
        budgets.push(("u_missing".into(), years[0], "A".into(), None, 100.0));
    }

    let stamps = |v: Vec<Option<i64>>| -> ArrayRef {
        match format {
            TimeFormat::Naive => Arc::new(TimestampMicrosecondArray::from(
                v.into_iter().map(|x| x.map(|x| wall_clock(x).and_utc().timestamp_micros())).collect::<Vec<_>>(),
            )),
            TimeFormat::Utc => Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC")),
            TimeFormat::Copenhagen => Arc::new(TimestampMicrosecondArray::from(v).with_timezone("Europe/Copenhagen")),
        }
    };
    let tables = [
        Table {
            name: "decisions",
            columns: vec![
                ("decision_id", ids(decisions.iter().map(|a| Some(a.0.clone())).collect())),
                ("case_id", ids(decisions.iter().map(|a| Some(a.1.clone())).collect())),
                ("paragraph", ids(decisions.iter().map(|a| Some(a.2.clone())).collect())),
                ("applied_on", days(decisions.iter().map(|a| Some(a.3)).collect())),
                ("decided_on", days(decisions.iter().map(|a| a.4).collect())),
                ("outcome", ids(decisions.iter().map(|a| a.5.clone()).collect())),
                ("delay_letter_on", days(decisions.iter().map(|a| a.6).collect())),
            ],
        },
        Table {
            name: "notifications",
            columns: vec![
                ("notification_id", ids(notifications.iter().map(|n| Some(n.0.clone())).collect())),
                ("unit_id", ids(notifications.iter().map(|n| Some(n.1.clone())).collect())),
                ("received_at", stamps(notifications.iter().map(|n| Some(n.2.received_at)).collect())),
                ("assessed_at", stamps(notifications.iter().map(|n| n.2.assessed_at).collect())),
                ("professional", Arc::new(BooleanArray::from(notifications.iter().map(|n| n.3).collect::<Vec<_>>()))),
                ("receipt_confirmed_on", days(notifications.iter().map(|n| n.4).collect())),
                ("child_id", ids(notifications.iter().map(|n| n.5.as_ref().map(|_| "ch0".to_string())).collect())),
                ("case_id", ids(notifications.iter().map(|n| n.5.clone()).collect())),
            ],
        },
        Table {
            name: "complaints",
            columns: vec![
                ("complaint_id", ids(complaints.iter().map(|c| Some(c.0.clone())).collect())),
                ("unit_id", ids(complaints.iter().map(|c| Some(c.1.clone())).collect())),
                ("received_on", days(complaints.iter().map(|c| Some(c.2)).collect())),
                ("kind", ids(complaints.iter().map(|c| Some(c.3.clone())).collect())),
                ("case_id", ids(complaints.iter().map(|c| c.4.clone()).collect())),
            ],
        },
        Table {
            name: "case_events",
            columns: vec![
                ("event_id", ids(events.iter().map(|e| Some(e.0.clone())).collect())),
                ("case_id", ids(events.iter().map(|e| Some(e.1.clone())).collect())),
                ("kind", ids(events.iter().map(|e| Some(e.2.clone())).collect())),
                ("occurred_on", days(events.iter().map(|e| Some(e.3)).collect())),
            ],
        },
        Table {
            name: "postings",
            columns: vec![
                ("posting_id", ids(postings.iter().map(|p| Some(p.0.clone())).collect())),
                ("unit_id", ids(postings.iter().map(|p| Some(p.1.clone())).collect())),
                ("account", ids(postings.iter().map(|p| Some(p.2.clone())).collect())),
                ("posted_on", days(postings.iter().map(|p| Some(p.3)).collect())),
                ("amount_dkk", Arc::new(Float64Array::from(postings.iter().map(|p| Some(p.4)).collect::<Vec<_>>()))),
                ("case_id", ids(postings.iter().map(|p| p.5.clone()).collect())),
                ("measure_id", ids(postings.iter().map(|p| p.6.clone()).collect())),
            ],
        },
        Table {
            name: "budgets",
            columns: vec![
                ("unit_id", ids(budgets.iter().map(|b| Some(b.0.clone())).collect())),
                ("year", Arc::new(Int64Array::from(budgets.iter().map(|b| Some(b.1)).collect::<Vec<_>>()))),
                ("account", ids(budgets.iter().map(|b| Some(b.2.clone())).collect())),
                // Written as floating point, as pandas writes a whole-number column with nulls.
                (
                    "month",
                    Arc::new(Float64Array::from(budgets.iter().map(|b| b.3.map(|m| m as f64)).collect::<Vec<_>>())),
                ),
                ("amount_dkk", Arc::new(Float64Array::from(budgets.iter().map(|b| Some(b.4)).collect::<Vec<_>>()))),
            ],
        },
    ];
    for table in &tables {
        let present = match table.name {
            "case_events" => g.chance(0.75),
            "postings" => g.chance(0.7),
            "budgets" => g.chance(0.7),
            _ => g.chance(0.93),
        };
        if !present {
            continue;
        }
        let split = g.chance(0.15);
        let omit: Vec<&str> = match table.name {
            "decisions" if g.chance(0.08) => vec!["delay_letter_on"],
            "decisions" if g.chance(0.05) => vec!["decided_on", "outcome"],
            "notifications" if g.chance(0.06) => vec!["professional"],
            "notifications" if g.chance(0.05) => vec!["assessed_at"],
            "notifications" if g.chance(0.05) => vec!["receipt_confirmed_on", "child_id", "case_id"],
            "complaints" if g.chance(0.1) => vec!["case_id"],
            _ => vec![],
        };
        // Present but empty is not absent: case_events then fails every case's events.
        let empty = g.chance(if table.name == "case_events" { 0.15 } else { 0.04 });
        write_table(dir, table, split, &omit, empty);
        if table.name == "notifications" {
            let assessed_written = !omit.contains(&"assessed_at");
            for n in &notifications {
                instants
                    .insert(n.0.clone(), Instants { assessed_at: n.2.assessed_at.filter(|_| assessed_written), ..n.2 });
            }
        }
    }
    instants
}

/// The kept notifications carry the instants the generator meant: naive times read as
/// Copenhagen wall clock (the summer-time occurrence of a repeated hour), zoned ones as given.
fn check_instants(seed: u64, export: &CheckedExport, expected: &BTreeMap<String, Instants>) -> Vec<String> {
    let Some(t) = export.table("notifications").filter(|t| t.kept.num_rows() > 0) else { return Vec::new() };
    let b = &t.kept;
    let ids = b.column_by_name("notification_id").expect("id").as_string::<i32>();
    let stamp = |col: &str, i: usize| {
        let a = b.column_by_name(col).expect(col).as_primitive::<TimestampMicrosecondType>();
        a.is_valid(i).then(|| a.value(i))
    };
    let mut problems = Vec::new();
    for i in 0..b.num_rows() {
        let Some(want) = expected.get(ids.value(i)) else { continue };
        let got = Instants {
            received_at: stamp("received_at", i).expect("received_at"),
            assessed_at: stamp("assessed_at", i),
        };
        if got != *want {
            problems.push(format!("seed {seed}: notification {} read as {got:?}, written as {want:?}", ids.value(i)));
        }
    }
    problems
}

#[derive(Clone)]
struct MeasureRow {
    id: String,
    case: String,
    paragraph: Option<String>,
    started: Option<NaiveDate>,
    ended: Option<NaiveDate>,
    decided: Option<NaiveDate>,
    acute: Option<bool>,
}

struct InvestigationRow {
    id: String,
    case: String,
    started: Option<NaiveDate>,
    completed: Option<NaiveDate>,
    aware: Option<NaiveDate>,
}

struct FollowUpRow {
    id: String,
    case: String,
    performed: Option<NaiveDate>,
    measure: Option<String>,
    next_due: Option<NaiveDate>,
}

type Key = (NaiveDate, String, String);

fn key(r: &KpiRow) -> Key {
    (r.as_of, r.unit_id.clone(), r.kpi_id.clone())
}

fn same(a: &KpiRow, b: &KpiRow) -> bool {
    let share = match (a.share, b.share) {
        (None, None) => true,
        (Some(x), Some(y)) => (x - y).abs() <= 1e-12,
        _ => false,
    };
    a.numerator == b.numerator && a.denominator == b.denominator && share && a.met == b.met && a.target == b.target
}

/// Compares the engine's rows with the reference's; returns one message per difference.
fn compare(seed: u64, export: &CheckedExport, rules: &Rules, engine: &[KpiRow], expected: &[KpiRow]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut by_key: BTreeMap<Key, &KpiRow> = BTreeMap::new();
    for r in engine {
        if by_key.insert(key(r), r).is_some() {
            problems.push(format!("seed {seed}: engine has two rows for {:?}", key(r)));
        }
    }
    for want in expected {
        match by_key.remove(&key(want)) {
            None => problems.push(format!(
                "seed {seed} as_of {} unit {} kpi {}: engine has no row; reference {want:?}",
                want.as_of, want.unit_id, want.kpi_id
            )),
            Some(got) if !same(got, want) => {
                let items = explain(export, rules, want.as_of, &want.unit_id, &want.kpi_id);
                let items: Vec<String> = items
                    .iter()
                    .map(|i| {
                        format!(
                            "    case {} unit {} {} in_numerator={} {}",
                            i.case_id, i.unit_id, i.entity, i.in_numerator, i.note
                        )
                    })
                    .collect();
                problems.push(format!(
                    "seed {seed} as_of {} unit {} kpi {}:\n  engine    {got:?}\n  reference {want:?}\n  reference items:\n{}",
                    want.as_of,
                    want.unit_id,
                    want.kpi_id,
                    items.join("\n")
                ));
            }
            Some(_) => {}
        }
    }
    for extra in by_key.values() {
        problems.push(format!("seed {seed}: engine row the reference does not have: {extra:?}"));
    }
    problems
}

async fn engine_rows(export: &CheckedExport, rules: &Rules, as_of: &[NaiveDate]) -> Vec<KpiRow> {
    let cat = Catalog::new(export, rules.clone(), as_of, &EngineOptions::default()).await.expect("catalog");
    if let Some(dir) = std::env::var_os("CWKPI_DIFF_VIEWS") {
        replace_views(&cat, Path::new(&dir)).await;
    }
    rows_from_batches(&cat.query("SELECT * FROM kpi").await.expect("kpi view")).expect("kpi rows")
}

/// Re-creates every view from the `NN_name.sql` files of `dir` (an edited copy of
/// `queries/views/`), in load order, so a mistake planted there shows whether the test
/// catches it without rebuilding the engine.
async fn replace_views(cat: &Catalog, dir: &Path) {
    let mut files: Vec<_> = std::fs::read_dir(dir).expect("views folder").map(|e| e.expect("entry").path()).collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "sql"));
    files.sort();
    for path in files {
        let stem = path.file_stem().and_then(|s| s.to_str()).expect("file name");
        let name = stem.split_once('_').map_or(stem, |(_, rest)| rest);
        let sql = std::fs::read_to_string(&path).expect("view sql");
        let view = cat.ctx.sql(&sql).await.unwrap_or_else(|e| panic!("{}: {e}", path.display())).into_view();
        cat.ctx.deregister_table(name).expect("deregister");
        cat.ctx.register_table(name, view).expect("register");
    }
}

/// Writes, loads and checks one seed at each of its as-of dates, one catalog per date.
/// Returns the number of as-of dates checked and the differences. Rows are matched by
/// (as_of, unit, kpi): the view promises no order (commands sort).
async fn check_seed(seed: u64, keep: Option<&Path>) -> (usize, Vec<String>) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = match keep {
        Some(k) => k.join(format!("seed-{seed}")),
        None => tmp.path().to_path_buf(),
    };
    std::fs::create_dir_all(&dir).expect("export dir");
    let (as_of, instants) = write_export(seed, &dir);
    let export = CheckedExport::load(&dir).expect("export loads");
    let rules = rules_for_seed(seed);
    let mut problems = check_instants(seed, &export, &instants);
    for &t in &as_of {
        let expected = reference_kpis(&export, &rules, t);
        assert_eq!(expected.len(), export.table("units").expect("units").kept.num_rows() * KPI_IDS.len());
        let got = engine_rows(&export, &rules, &[t]).await;
        problems.extend(compare(seed, &export, &rules, &got, &expected));
    }
    (as_of.len(), problems)
}

fn report(problems: &[String]) {
    for p in problems.iter().take(30) {
        eprintln!("{p}\n");
    }
    assert!(problems.is_empty(), "{} differences between engine and reference (first ones above)", problems.len());
}

/// The reference's own calendar against known dates (docs/rules.md).
#[test]
fn reference_calendar_knows_the_danish_closed_days() {
    assert_eq!(
        [2023, 2024, 2025, 2026, 2027].map(easter),
        [d(2023, 4, 9), d(2024, 3, 31), d(2025, 4, 20), d(2026, 4, 5), d(2027, 3, 28)]
    );
    // Great Prayer Day: closed in 2023, a working day from 2024.
    assert!(closed_days(2023).contains(&d(2023, 5, 5)));
    assert!(!closed_days(2024).contains(&d(2024, 4, 26)));
    assert_eq!(closed_days(2024).len(), 11);
    let cal = WorkCalendar::new(&Rules::builtin());
    assert_eq!(cal.nth_working_day_after(d(2024, 3, 27), 1), d(2024, 4, 2)); // Easter 2024
    assert_eq!(cal.nth_working_day_after(d(2023, 5, 4), 1), d(2023, 5, 8)); // Great Prayer Day 2023
    assert_eq!(cal.nth_working_day_after(d(2024, 4, 25), 1), d(2024, 4, 26));
    assert_eq!(cal.nth_working_day_after(d(2024, 12, 23), 1), d(2024, 12, 27)); // Christmas
    assert_eq!(cal.nth_working_day_after(d(2024, 12, 27), 2), d(2025, 1, 2)); // 30 Dec, (31 Dec, 1 Jan closed) 2 Jan
    assert_eq!(cal.nth_working_day_after(d(2025, 6, 4), 1), d(2025, 6, 6)); // 5 June
    // A Saturday start counts from Monday: the 6th working day after Sat 2025-03-01 is Mon 10 March.
    assert_eq!(cal.nth_working_day_after(d(2025, 3, 1), 6), d(2025, 3, 10));
    // 24 hours from Saturday 02:30 before the spring change end at 03:30 on Sunday's wall clock.
    let received = copenhagen_instant(d(2025, 3, 29).and_hms_opt(2, 30, 0).expect("time"));
    assert_eq!(
        wall_clock(assessment_deadline(&Rules::builtin(), received)),
        d(2025, 3, 30).and_hms_opt(3, 30, 0).expect("time")
    );
    let received = copenhagen_instant(d(2024, 10, 26).and_hms_opt(12, 0, 0).expect("time"));
    assert_eq!(
        wall_clock(assessment_deadline(&Rules::builtin(), received)),
        d(2024, 10, 27).and_hms_opt(11, 0, 0).expect("time")
    );
    assert_eq!(
        copenhagen_date(d(2024, 10, 26).and_hms_opt(22, 30, 0).expect("time").and_utc().timestamp_micros()),
        d(2024, 10, 27)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn engine_matches_reference_on_random_exports() {
    let keep = std::env::var_os("CWKPI_DIFF_KEEP").map(std::path::PathBuf::from);
    let count =
        std::env::var("CWKPI_DIFF_SEEDS").map(|n| n.parse().expect("CWKPI_DIFF_SEEDS is a number")).unwrap_or(SEEDS);
    let seeds: Vec<u64> = match std::env::var("CWKPI_DIFF_SEED") {
        Ok(s) => vec![s.parse().expect("CWKPI_DIFF_SEED is a number")],
        Err(_) => (0..count).collect(),
    };
    // Seeds run a few at a time: each catalog is small and mostly single-threaded work.
    let mut tasks = tokio::task::JoinSet::new();
    let mut pending = seeds.into_iter();
    let (mut dates_checked, mut seeds_checked, mut problems) = (0, 0, Vec::new());
    loop {
        while tasks.len() < 4 {
            let Some(seed) = pending.next() else { break };
            let keep = keep.clone();
            tasks.spawn(async move { check_seed(seed, keep.as_deref()).await });
        }
        let Some(result) = tasks.join_next().await else { break };
        let (n, p) = result.expect("seed task");
        dates_checked += n;
        seeds_checked += 1;
        problems.extend(p);
    }
    eprintln!("differential: {seeds_checked} seeds, {dates_checked} as-of dates compared");
    report(&problems);
    // The generator must exercise every KPI with figures strictly between 0 and 1, and
    // rejected rows, or agreement proves little.
    if seeds_checked >= 20 {
        let (mut mixed, mut with_rejections) = ([0usize; KPI_IDS.len()], 0);
        for seed in 0..20u64 {
            let tmp = tempfile::tempdir().expect("tempdir");
            let (as_of, _) = write_export(seed, tmp.path());
            let export = CheckedExport::load(tmp.path()).expect("export loads");
            with_rejections += usize::from(export.rejections().next().is_some());
            for row in reference_kpis(&export, &rules_for_seed(seed), as_of[0]) {
                let k = KPI_IDS.iter().position(|k| *k == row.kpi_id).expect("kpi");
                mixed[k] += usize::from(row.numerator > 0 && row.numerator < row.denominator);
            }
        }
        assert!(mixed.iter().all(|&n| n > 0), "some KPI never had a mixed figure: {mixed:?}");
        assert!(with_rejections >= 5, "only {with_rejections} of 20 exports had rejected rows");
        check_lawful_case_coverage();
    }
}

/// The generator must give lawful_case exports without `case_events`, with it present
/// but empty, lawful cases, and cases failing each element of the checklist alone (at
/// some as-of date of the first 40 seeds), or agreement proves little.
fn check_lawful_case_coverage() {
    let (mut absent, mut empty, mut lawful) = (0, 0, 0usize);
    let mut only: BTreeMap<String, usize> = BTreeMap::new();
    for seed in 0..40u64 {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (as_of, _) = write_export(seed, tmp.path());
        let export = CheckedExport::load(tmp.path()).expect("export loads");
        match export.table("case_events") {
            Some(t) if !t.present => absent += 1,
            Some(t) if t.rows_read == 0 => empty += 1,
            _ => {}
        }
        let data = Data::from_export(&export);
        for &t in &as_of {
            for item in reference_items(&data, &rules_for_seed(seed), t).iter().filter(|i| i.kpi == "lawful_case") {
                lawful += usize::from(item.in_numerator);
                *only.entry(item.note.clone()).or_default() += 1;
            }
        }
    }
    let alone: Vec<(&str, usize)> =
        ["investigated", "child_heard", "parties_consulted", "decision_with_guidance", "plan", "followed_up"]
            .into_iter()
            .map(|element| (element, only.get(&format!("missing [{element:?}]")).copied().unwrap_or(0)))
            .collect();
    eprintln!(
        "lawful_case over 40 seeds: {absent} without case_events, {empty} with it empty, {lawful} lawful; failing one element alone: {alone:?}"
    );
    assert!(absent > 0 && empty > 0 && lawful >= 20, "{absent} absent, {empty} empty, {lawful} lawful");
    assert!(alone.iter().all(|(_, n)| *n > 0), "some element never failed alone: {alone:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_catalog_with_several_as_of_dates_matches_reference() {
    let mut problems = Vec::new();
    for seed in [6u64, 7, 1001] {
        let rules = rules_for_seed(seed);
        let tmp = tempfile::tempdir().expect("tempdir");
        let (mut as_of, _) = write_export(seed, tmp.path());
        // Dates of another export too, so one catalog spans distant as-of dates.
        as_of.extend([d(2024, 2, 29), d(2025, 3, 1)]);
        let export = CheckedExport::load(tmp.path()).expect("export loads");
        let got = engine_rows(&export, &rules, &as_of).await;
        let dates: BTreeSet<NaiveDate> = as_of.iter().copied().collect();
        let expected: Vec<KpiRow> = dates.iter().flat_map(|&t| reference_kpis(&export, &rules, t)).collect();
        assert_eq!(got.len(), expected.len(), "seed {seed}: one row per as_of, unit and kpi");
        problems.extend(compare(seed, &export, &rules, &got, &expected));
    }
    report(&problems);
}
