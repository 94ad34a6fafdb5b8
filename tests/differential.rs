//! Differential test: the engine's `kpi` view against the plain-Rust reference of
//! `common::reference`, on many small random exports whose dates crowd around the
//! boundaries of SPEC §4 (as-of date, window edges, month ends, leap days, deadlines).
//!
//! Reproduce one case with `CWKPI_DIFF_SEED=<seed>`; `CWKPI_DIFF_KEEP=<dir>` keeps the
//! exports written there; `CWKPI_DIFF_SEEDS=<n>` runs n seeds instead of the default.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use chrono::{Datelike, Days, Months, NaiveDate};
use common::reference::{explain, reference_kpis};
use cwkpi::kpi::{KpiRow, rows_from_batches};
use cwkpi::rules::KPI_IDS;
use cwkpi::{Catalog, CheckedExport, EngineOptions, Rules};
use datafusion::arrow::array::{ArrayRef, BooleanArray, Date32Array, Float64Array, RecordBatch, StringArray};
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
/// and lower-case prefixes, a rule without a plan, acute grace on a decision rule, and
/// targets that make `met` flip at other shares (0 and 1 included).
const CUSTOM_RULES: &str = r#"
[targets]
plan_coverage = 0.5
plan_on_time = 1.0
follow_up_on_time = 0.8
investigation_within_limit = 0.0
investigation_completed_within_limit = 0.75

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
"#;

fn rules_for_seed(seed: u64) -> Rules {
    if seed % CUSTOM_EVERY == CUSTOM_EVERY - 1 {
        Rules::parse(CUSTOM_RULES, "differential custom rules").expect("custom rules parse")
    } else {
        Rules::builtin()
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
    let schema = Arc::new(Schema::new(columns.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect::<Vec<_>>()));
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

/// Writes a random export for `seed` into `dir` and returns its as-of dates.
fn write_export(seed: u64, dir: &Path) -> Vec<NaiveDate> {
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

    let caseworkers: Vec<(String, String)> = (0..n_units * 2).map(|i| (format!("cw{i}"), unit_ids[i % n_units].clone())).collect();

    let n_cases = g.rng.random_range(20..=80);
    let mut cases: Vec<[Option<String>; 5]> = Vec::new(); // id, child, unit, caseworker, target group
    let mut case_dates: Vec<(Option<NaiveDate>, Option<NaiveDate>)> = Vec::new();
    let mut children: Vec<String> = Vec::new();
    let mut measures: Vec<MeasureRow> = Vec::new();
    let mut investigations: Vec<InvestigationRow> = Vec::new();
    let mut plans: Vec<(String, String, NaiveDate)> = Vec::new();
    let mut follow_ups: Vec<FollowUpRow> = Vec::new();

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
                decided: g.maybe(0.5, |g| if g.chance(0.5) { g.date() } else { shift(started, -g.rng.random_range(0..100)) }),
                acute: if g.chance(0.1) { None } else { Some(g.chance(0.35)) },
            };
            measures.push(row);
            case_measures.push(id);
        }
        for k in 0..g.rng.random_range(0..=3) {
            let started = g.date();
            let completed = g.maybe(0.65, |g| g.date_from(started));
            let aware = g.maybe(0.6, |g| if g.chance(0.5) { g.date() } else { shift(started, -g.rng.random_range(0..60)) });
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
            let measure = if case_measures.is_empty() || g.chance(0.4) { None } else { case_measures.choose(&mut g.rng).cloned() };
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
                ("monthly_cost_dkk", Arc::new(Float64Array::from(measures.iter().map(|_| Some(12_500.0)).collect::<Vec<_>>()))),
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
        let empty = matches!(table.name, "measures" | "investigations" | "action_plans" | "follow_ups") && g.chance(0.04);
        write_table(dir, table, split, &omit, empty);
    }
    as_of.into_iter().collect()
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
                    .map(|i| format!("    case {} unit {} {} in_numerator={} {}", i.case_id, i.unit_id, i.entity, i.in_numerator, i.note))
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
    rows_from_batches(&cat.query("SELECT * FROM kpi").await.expect("kpi view")).expect("kpi rows")
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
    let as_of = write_export(seed, &dir);
    let export = CheckedExport::load(&dir).expect("export loads");
    let rules = rules_for_seed(seed);
    let mut problems = Vec::new();
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

#[tokio::test(flavor = "multi_thread")]
async fn engine_matches_reference_on_random_exports() {
    let keep = std::env::var_os("CWKPI_DIFF_KEEP").map(std::path::PathBuf::from);
    let count = std::env::var("CWKPI_DIFF_SEEDS").map(|n| n.parse().expect("CWKPI_DIFF_SEEDS is a number")).unwrap_or(SEEDS);
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
        let (mut mixed, mut with_rejections) = ([0usize; 5], 0);
        for seed in 0..20u64 {
            let tmp = tempfile::tempdir().expect("tempdir");
            let as_of = write_export(seed, tmp.path());
            let export = CheckedExport::load(tmp.path()).expect("export loads");
            with_rejections += usize::from(export.rejections().next().is_some());
            for row in reference_kpis(&export, &rules_for_seed(seed), as_of[0]) {
                let k = KPI_IDS.iter().position(|k| *k == row.kpi_id).expect("kpi");
                mixed[k] += usize::from(row.numerator > 0 && row.numerator < row.denominator);
            }
        }
        assert!(mixed.iter().all(|&n| n > 0), "some KPI never had a mixed figure: {mixed:?}");
        assert!(with_rejections >= 5, "only {with_rejections} of 20 exports had rejected rows");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_catalog_with_several_as_of_dates_matches_reference() {
    let mut problems = Vec::new();
    for seed in [6u64, 7, 1001] {
        let rules = rules_for_seed(seed);
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut as_of = write_export(seed, tmp.path());
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
