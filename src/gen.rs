//! Deterministic synthetic exports (SPEC §2) at any scale, for tests, demos and benchmarks.
//!
//! Scale 1 is one large municipality: about 10,000 cases opened over the six years before
//! the export date, an organisation with two centers and about ten departments (some split
//! into teams) and about 150 caseworkers. Scale multiplies cases, caseworkers and
//! departments; a fractional scale gives a small but complete tree.
//!
//! Each leaf unit has its own diligence, which decides whether action plans are made
//! before their due date, follow-ups happen on time and investigations finish within the
//! limit, so compliance varies between departments as it does in practice. The due dates
//! the generator aims at mirror the built-in rules (`default_rules.toml`); with other rules
//! the data is still valid, only the compliance levels differ.
//!
//! The export holds the eight core tables and the five further tables of the wider plan
//! (SPEC §4b), in the shapes the benchmarks assume: per case about one application
//! (`decisions`), half a notification and two case events; about twelve postings per
//! measure-year (monthly payments of measures with a monthly cost, a few refunds, about
//! 68 % booked on the case); a few complaints per 100 cases a year, rising or falling
//! from year to year per department. The same diligence decides whether applications are
//! decided by their case-processing deadline (SEL §41/§42 and BL §87 8 weeks, BL §86 40
//! working days, BL §32 3 months; the generator counts working days as Monday–Friday, so
//! "on time" holds whatever closed days the rules add) and delay letters sent, whether
//! notifications are assessed within 24 hours and professionals get a receipt within 6
//! working days, and how many cases have the events the lawful-case checklist reads.
//! Applications before 1 January 2024 carry Serviceloven codes, later ones Barnets Lov.
//!
//! The data is invented: children have a `cpr` column shaped like a CPR number
//! (ddmmyy-xxxx) whose day part is 32–60, a day no real or substitute CPR number uses, so
//! tests can prove it never leaks without any real number existing in the repository.
//!
//! Every event date (opened, started, completed, decided, created, performed, applied,
//! received, assessed, posted …) is on or before the export date. Only
//! `follow_ups.next_due_on` may lie after it: it is a deadline the caseworker set, not an
//! event. Notification times are written as naive Copenhagen wall-clock time
//! (`Timestamp(Microsecond, None)`), spread over day, night and weekend, and never inside
//! the hour skipped when summer time starts (the reader rejects such rows).
//!
//! Output is byte-identical for the same (scale, seed, export date): one ChaCha8 stream
//! builds the organisation, and each chunk of cases has its own stream. The further tables
//! draw from streams of their own (one per chunk, one for the departments' complaint
//! trends), so adding them left the core tables exactly as they were. Cases are made in
//! chunks of [`CHUNK_CASES`] on one thread, which then derives the chunk's further rows,
//! in smaller batches, from what it recorded about each case, while another thread encodes
//! what came before into the thirteen Parquet writers, so memory stays bounded whatever
//! the scale.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;

use chrono::{Datelike, Months, NaiveDate};
use datafusion::arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::contract;
use crate::error::{Error, Result};

mod base;
mod ids;
mod layout;

use ids::{Entity, Ids};
pub use base::TABLE_NAMES;
use base::{Day, date, day, write_error};
pub use ids::IdStyle;
pub use layout::Order;

pub struct GenOptions {
    /// 1 ≈ one large municipality; multiplies cases, caseworkers and departments.
    pub scale: f64,
    pub seed: u64,
    /// The export date: no event is dated after it, except the planned rows of
    /// `future_share`.
    pub as_of: NaiveDate,
    /// How the rows are laid out in files; the rows are the same in every order.
    pub order: Order,
    pub ids: IdStyle,
    /// About this share of the measures, follow-ups and postings is dated after the
    /// export date: measures registered ahead of their start, planned follow-ups,
    /// payments booked ahead. 0 writes none.
    pub future_share: f64,
    /// One department holds a third of all cases.
    pub skew: bool,
}

impl GenOptions {
    /// The options `cwkpi gen` has by default: yearly files, numeric ids, nothing dated
    /// after the export date, no skew.
    pub fn new(scale: f64, seed: u64, as_of: NaiveDate) -> GenOptions {
        GenOptions { scale, seed, as_of, order: Order::default(), ids: IdStyle::default(), future_share: 0.0, skew: false }
    }
}

pub struct GenSummary {
    /// Rows written per table, in contract order.
    pub rows: Vec<(&'static str, usize)>,
}


const CASES_PER_SCALE: f64 = 10_000.0;
const CASEWORKERS_PER_SCALE: f64 = 150.0;
const DEPARTMENTS_PER_SCALE: f64 = 10.0;
const MIN_DEPARTMENTS: usize = 3;
/// Scale 10,000 is already 100 million cases; beyond that is surely a typo.
const MAX_SCALE: f64 = 10_000.0;
/// Half the rows dated ahead is already far from any real export.
const MAX_FUTURE_SHARE: f64 = 0.5;
const HISTORY_MONTHS: u32 = 6 * 12;
/// Part of the output's identity: changing it changes the generated data.
pub const CHUNK_CASES: u64 = 50_000;
/// The further rows of a chunk are made and sent in batches of this many cases, so the
/// postings (a dozen or more per case) do not hold a whole chunk in memory. Changing it
/// changes no row, only how the rows reach the writers.
const FURTHER_BATCH_CASES: usize = 10_000;
const ROW_GROUP_ROWS: usize = 256 * 1024;
const GENERATOR: &str = "cwkpi gen";

/// Calendar month arithmetic with end-of-month clamping, as SPEC §3 counts deadlines.
fn add_months(d: Day, months: u32) -> Day {
    date(d).and_then(|x| x.checked_add_months(Months::new(months))).map(day).unwrap_or(Day::MAX)
}

fn sub_months(d: Day, months: u32) -> Day {
    date(d).and_then(|x| x.checked_sub_months(Months::new(months))).map(day).unwrap_or(Day::MIN)
}

// ---------------------------------------------------------------------------------------
// Random helpers that never panic (rand's range methods do on empty ranges).

fn between(rng: &mut ChaCha8Rng, lo: i32, hi: i32) -> i32 {
    if hi <= lo { lo } else { rng.random_range(lo..=hi) }
}

fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    rng.random::<f64>() < p
}

fn uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.random::<f64>()
}

/// One of a fixed, non-empty list.
fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T], fallback: T) -> T {
    if items.is_empty() { fallback } else { items[rng.random_range(0..items.len())] }
}

// ---------------------------------------------------------------------------------------
// Paragraph codes and the rules they fall under.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Placement,
    Family,
    Contact,
    Respite,
    Prevention,
    Aftercare,
    ExtraCosts,
    LostEarnings,
    Other,
}

struct Code {
    code: &'static str,
    kind: Kind,
    weight: u32,
}

const fn code(code: &'static str, kind: Kind, weight: u32) -> Code {
    Code { code, kind, weight }
}

use Kind::*;

// Serviceloven, for measures started before 1 January 2024.
static SEL_VULNERABLE: &[Code] = &[
    code("SEL:52.3.7", Placement, 22),
    code("SEL:52.3.4", Placement, 2),
    code("SEL:52.3.3", Family, 18),
    code("SEL:52.3.2", Family, 6),
    code("SEL:52.3.6", Contact, 14),
    code("SEL:52.3.5", Respite, 5),
    code("SEL:52.3.9", Other, 7),
    code("SEL:52a.1.1", Other, 3),
    code("SEL:11.3", Prevention, 12),
    code("SEL:76", Aftercare, 6),
    code("SEL:76a", Aftercare, 2),
];
static SEL_DISABILITY: &[Code] = &[
    code("SEL:41", ExtraCosts, 30),
    code("SEL:42", LostEarnings, 18),
    code("SEL:52.3.5", Respite, 15),
    code("SEL:52.3.7", Placement, 10),
    code("SEL:52.3.2", Family, 7),
    code("SEL:44", Respite, 6),
    code("SEL:11.3", Prevention, 10),
];
// Barnets Lov, for measures started from 1 January 2024.
static BL_VULNERABLE: &[Code] = &[
    code("BL:46", Placement, 18),
    code("BL:47", Placement, 5),
    code("BL:32.1.3", Placement, 2),
    code("BL:32.1.2", Family, 18),
    code("BL:32.1.1", Family, 8),
    code("BL:32.1.5", Contact, 14),
    code("BL:32.1.4", Respite, 6),
    code("BL:32.1.6", Other, 5),
    code("BL:30", Prevention, 12),
    code("BL:114", Aftercare, 6),
];
static BL_DISABILITY: &[Code] = &[
    code("BL:86", ExtraCosts, 30),
    code("BL:87", LostEarnings, 18),
    code("BL:32.1.4", Respite, 15),
    code("BL:46", Placement, 10),
    code("BL:32.1.1", Family, 7),
    code("BL:30", Prevention, 10),
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum PlanDue {
    /// Due at the start; acute measures get this many months after the start, if any.
    BeforeStart { acute_grace_months: Option<u32> },
    /// Due this many months after the decision (else the start).
    AfterDecision { months: u32 },
}

/// The built-in rules (SEL:52.3 / SEL:76 / BL:32 / BL:46 / BL:47), mirrored here so the
/// generator knows which deadlines to hit or miss. All of them also need follow-up.
static PLAN_RULES: &[(&str, PlanDue)] = &[
    ("SEL:52.3", PlanDue::BeforeStart { acute_grace_months: Some(4) }),
    ("SEL:76", PlanDue::BeforeStart { acute_grace_months: Some(4) }),
    ("BL:32", PlanDue::AfterDecision { months: 3 }),
    ("BL:46", PlanDue::AfterDecision { months: 3 }),
    ("BL:47", PlanDue::BeforeStart { acute_grace_months: None }),
];

/// Prefix match at a dot boundary, as SPEC §3 defines it.
fn prefix_matches(code: &str, prefix: &str) -> bool {
    code == prefix || (code.starts_with(prefix) && code[prefix.len()..].starts_with('.'))
}

fn plan_rule(code: &str) -> Option<PlanDue> {
    PLAN_RULES
        .iter()
        .filter(|(prefix, _)| prefix_matches(code, prefix))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, rule)| *rule)
}

fn pick_code<'a>(rng: &mut ChaCha8Rng, codes: &'a [Code], placement_only: bool) -> &'a Code {
    let eligible = |c: &&Code| !placement_only || c.kind == Placement;
    let total: u32 = codes.iter().filter(eligible).map(|c| c.weight).sum();
    let mut ticket = rng.random_range(0..total.max(1));
    for c in codes.iter().filter(eligible) {
        if ticket < c.weight {
            return c;
        }
        ticket -= c.weight;
    }
    &codes[0]
}

fn monthly_cost(rng: &mut ChaCha8Rng, kind: Kind) -> Option<f64> {
    if chance(rng, 0.06) {
        return None;
    }
    let (lo, hi) = match kind {
        Placement => (35_000.0, 95_000.0),
        Family => (8_000.0, 30_000.0),
        Contact => (3_000.0, 12_000.0),
        Respite => (6_000.0, 25_000.0),
        Prevention => (0.0, 3_000.0),
        Aftercare => (4_000.0, 20_000.0),
        ExtraCosts => (500.0, 6_000.0),
        LostEarnings => (15_000.0, 40_000.0),
        Other => (2_000.0, 15_000.0),
    };
    Some((uniform(rng, lo, hi) / 100.0).round() * 100.0)
}

fn provider(rng: &mut ChaCha8Rng, kind: Kind) -> Option<&'static str> {
    if chance(rng, 0.15) {
        return None;
    }
    let names: &[&str] = match kind {
        Placement => &["Plejefamilie", "Netværksplejefamilie", "Opholdsstedet Bøgely", "Døgninstitutionen Skovbrynet", "Opholdsstedet Havblik"],
        Family | Respite => &["Familiehuset", "Familiebehandlingen Nord", "Aflastningshjemmet Lyngen", "Privat leverandør"],
        Contact | Aftercare | Prevention => &["Ungeindsatsen", "Kontaktpersonkorpset", "Klub og fritid"],
        ExtraCosts | LostEarnings | Other => &["Kommunen"],
    };
    Some(pick(rng, names, "Kommunen"))
}

// ---------------------------------------------------------------------------------------
// The organisation.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Center {
    Vulnerable,
    Disability,
}

/// How reliably a unit meets each deadline (a probability per deadline).
#[derive(Clone, Copy)]
struct Diligence {
    plan: f64,
    follow_up: f64,
    investigation: f64,
}

/// A unit that holds cases (a department without teams, or a team).
struct Leaf {
    unit_id: String,
    center: Center,
    diligence: Diligence,
    caseworkers: Vec<usize>,
}

struct Organisation {
    units: Vec<(String, String, Option<String>)>,
    /// (caseworker_id, name, unit_id)
    caseworkers: Vec<(String, String, String)>,
    leaves: Vec<Leaf>,
    /// Cumulative case weights of `leaves`, for picking a leaf per case.
    cumulative_weight: Vec<f64>,
}

static AREAS: &[&str] = &[
    "Amager", "Bispebjerg", "Brønshøj-Husum", "Indre By", "Nørrebro", "Østerbro", "Valby", "Vanløse", "Vesterbro",
    "Sydhavnen", "Christianshavn", "Nordvest", "Ørestad", "Sundby", "Kongens Enghave",
];
static FIRST_NAMES: &[&str] = &[
    "Anne", "Mette", "Hanne", "Louise", "Camilla", "Sofie", "Maria", "Line", "Katrine", "Sara", "Ida", "Julie",
    "Lars", "Jens", "Peter", "Mads", "Rasmus", "Søren", "Anders", "Kasper", "Mikkel", "Thomas", "Ahmed", "Fatima",
];
static LAST_NAMES: &[&str] = &[
    "Jensen", "Nielsen", "Hansen", "Pedersen", "Andersen", "Christensen", "Larsen", "Sørensen", "Rasmussen",
    "Jørgensen", "Petersen", "Madsen", "Kristensen", "Olsen", "Thomsen", "Poulsen", "Johansen", "Knudsen", "Møller",
];

/// One large department holds a third of all cases, as when departments are merged or a
/// municipality runs its cases in one place. The first leaf is always a whole department
/// (never a team): it gets half the weight of all the others together.
fn skew_weights(weights: &mut [f64]) {
    let others: f64 = weights.iter().skip(1).sum();
    if let Some(first) = weights.first_mut() {
        *first = others / 2.0;
    }
}

fn clamp01(x: f64) -> f64 {
    x.clamp(0.0, 1.0)
}

impl Organisation {
    fn build(scale: f64, ids: Ids, skew: bool, rng: &mut ChaCha8Rng) -> Organisation {
        let mut units = Vec::new();
        let mut leaves = Vec::new();
        let mut weights = Vec::new();
        let mut next = 1u64;
        let mut new_unit = |units: &mut Vec<(String, String, Option<String>)>, name: String, parent: Option<&str>| {
            let id = ids.string(Entity::Unit, next);
            next += 1;
            units.push((id.clone(), name, parent.map(str::to_string)));
            id
        };

        let org = new_unit(&mut units, "Børne- og Ungdomsforvaltningen".into(), None);
        let vulnerable = new_unit(&mut units, "Center for Udsatte Børn og Unge".into(), Some(org.as_str()));
        let disability = new_unit(&mut units, "Center for Børn med Handicap".into(), Some(org.as_str()));
        // A staff unit without cases: units with no cases must still get their KPI rows.
        new_unit(&mut units, "Sekretariatet".into(), Some(org.as_str()));

        let departments = ((scale * DEPARTMENTS_PER_SCALE).round() as usize).max(MIN_DEPARTMENTS);
        for i in 0..departments {
            // Two thirds of the departments serve vulnerable children.
            let (center, center_id) =
                if i % 3 == 1 { (Center::Disability, &disability) } else { (Center::Vulnerable, &vulnerable) };
            let area = AREAS[i % AREAS.len()];
            let name = match i / AREAS.len() {
                0 => format!("Afdeling {area}"),
                k => format!("Afdeling {area} {}", k + 1),
            };
            let department = new_unit(&mut units, name.clone(), Some(center_id.as_str()));
            let quality = rng.random::<f64>();
            let size = uniform(rng, 0.6, 1.4);
            let diligence = Diligence {
                plan: 0.70 + 0.28 * quality,
                follow_up: 0.70 + 0.28 * quality,
                investigation: 0.77 + 0.21 * quality,
            };
            // Every fourth department is split into teams: a four-level tree.
            if i % 4 == 2 {
                for t in 1..=2 {
                    let team = new_unit(&mut units, format!("{name}, team {t}"), Some(department.as_str()));
                    let wobble = uniform(rng, -0.03, 0.03);
                    leaves.push(Leaf {
                        unit_id: team,
                        center,
                        diligence: Diligence {
                            plan: clamp01(diligence.plan + wobble),
                            follow_up: clamp01(diligence.follow_up + wobble),
                            investigation: clamp01(diligence.investigation + wobble),
                        },
                        caseworkers: Vec::new(),
                    });
                    weights.push(size / 2.0);
                }
                if i % 8 == 2 {
                    new_unit(&mut units, format!("{name}, team 3 (under oprettelse)"), Some(department.as_str()));
                }
            } else {
                leaves.push(Leaf { unit_id: department, center, diligence, caseworkers: Vec::new() });
                weights.push(size);
            }
        }

        if skew {
            skew_weights(&mut weights);
        }
        let mut cumulative_weight = Vec::with_capacity(weights.len());
        let mut sum = 0.0;
        for w in &weights {
            sum += w;
            cumulative_weight.push(sum);
        }

        let mut org = Organisation { units, caseworkers: Vec::new(), leaves, cumulative_weight };
        let wanted = ((scale * CASEWORKERS_PER_SCALE).round() as usize).max(org.leaves.len());
        for n in 0..wanted {
            // Every leaf gets one caseworker first, the rest follow the case load.
            let leaf = if n < org.leaves.len() { n } else { org.pick_leaf(rng) };
            let id = ids.string(Entity::Caseworker, n as u64 + 1);
            let name = format!("{} {}", pick(rng, FIRST_NAMES, "Anne"), pick(rng, LAST_NAMES, "Jensen"));
            org.leaves[leaf].caseworkers.push(org.caseworkers.len());
            org.caseworkers.push((id, name, org.leaves[leaf].unit_id.clone()));
        }
        org
    }

    fn pick_leaf(&self, rng: &mut ChaCha8Rng) -> usize {
        let total = self.cumulative_weight.last().copied().unwrap_or(0.0);
        let ticket = rng.random::<f64>() * total;
        self.cumulative_weight.partition_point(|&c| c <= ticket).min(self.leaves.len().saturating_sub(1))
    }
}

// ---------------------------------------------------------------------------------------
// Row buffers, one per table; `take` empties them into named columns.

type Columns = Vec<(&'static str, ArrayRef)>;

#[derive(Default)]
struct ChildRows {
    child_id: StringBuilder,
    birth_date: Date32Builder,
    cpr: StringBuilder,
}

impl ChildRows {
    fn take(&mut self) -> Columns {
        vec![
            ("child_id", Arc::new(self.child_id.finish())),
            ("birth_date", Arc::new(self.birth_date.finish())),
            ("cpr", Arc::new(self.cpr.finish())),
        ]
    }
}

#[derive(Default)]
struct CaseRows {
    case_id: StringBuilder,
    child_id: StringBuilder,
    unit_id: StringBuilder,
    caseworker_id: StringBuilder,
    opened_on: Date32Builder,
    closed_on: Date32Builder,
    target_group: StringBuilder,
}

impl CaseRows {
    fn take(&mut self) -> Columns {
        vec![
            ("case_id", Arc::new(self.case_id.finish())),
            ("child_id", Arc::new(self.child_id.finish())),
            ("unit_id", Arc::new(self.unit_id.finish())),
            ("caseworker_id", Arc::new(self.caseworker_id.finish())),
            ("opened_on", Arc::new(self.opened_on.finish())),
            ("closed_on", Arc::new(self.closed_on.finish())),
            ("target_group", Arc::new(self.target_group.finish())),
        ]
    }
}

#[derive(Default)]
struct MeasureRows {
    measure_id: StringBuilder,
    case_id: StringBuilder,
    paragraph: StringBuilder,
    started_on: Date32Builder,
    ended_on: Date32Builder,
    decided_on: Date32Builder,
    acute: BooleanBuilder,
    monthly_cost_dkk: Float64Builder,
    provider: StringBuilder,
}

impl MeasureRows {
    fn take(&mut self) -> Columns {
        vec![
            ("measure_id", Arc::new(self.measure_id.finish())),
            ("case_id", Arc::new(self.case_id.finish())),
            ("paragraph", Arc::new(self.paragraph.finish())),
            ("started_on", Arc::new(self.started_on.finish())),
            ("ended_on", Arc::new(self.ended_on.finish())),
            ("decided_on", Arc::new(self.decided_on.finish())),
            ("acute", Arc::new(self.acute.finish())),
            ("monthly_cost_dkk", Arc::new(self.monthly_cost_dkk.finish())),
            ("provider", Arc::new(self.provider.finish())),
        ]
    }
}

#[derive(Default)]
struct InvestigationRows {
    investigation_id: StringBuilder,
    case_id: StringBuilder,
    started_on: Date32Builder,
    completed_on: Date32Builder,
    aware_on: Date32Builder,
}

impl InvestigationRows {
    fn take(&mut self) -> Columns {
        vec![
            ("investigation_id", Arc::new(self.investigation_id.finish())),
            ("case_id", Arc::new(self.case_id.finish())),
            ("started_on", Arc::new(self.started_on.finish())),
            ("completed_on", Arc::new(self.completed_on.finish())),
            ("aware_on", Arc::new(self.aware_on.finish())),
        ]
    }
}

#[derive(Default)]
struct PlanRows {
    plan_id: StringBuilder,
    case_id: StringBuilder,
    created_on: Date32Builder,
}

impl PlanRows {
    fn take(&mut self) -> Columns {
        vec![
            ("plan_id", Arc::new(self.plan_id.finish())),
            ("case_id", Arc::new(self.case_id.finish())),
            ("created_on", Arc::new(self.created_on.finish())),
        ]
    }
}

#[derive(Default)]
struct FollowUpRows {
    follow_up_id: StringBuilder,
    case_id: StringBuilder,
    performed_on: Date32Builder,
    measure_id: StringBuilder,
    next_due_on: Date32Builder,
}

impl FollowUpRows {
    fn take(&mut self) -> Columns {
        vec![
            ("follow_up_id", Arc::new(self.follow_up_id.finish())),
            ("case_id", Arc::new(self.case_id.finish())),
            ("performed_on", Arc::new(self.performed_on.finish())),
            ("measure_id", Arc::new(self.measure_id.finish())),
            ("next_due_on", Arc::new(self.next_due_on.finish())),
        ]
    }
}

#[derive(Default)]
struct ChunkRows {
    children: ChildRows,
    cases: CaseRows,
    measures: MeasureRows,
    investigations: InvestigationRows,
    plans: PlanRows,
    follow_ups: FollowUpRows,
    /// What the further tables need to know about each case of the chunk.
    facts: Vec<CaseFacts>,
}

/// One chunk's columns per table, in `TABLE_NAMES` order from "children" on.
type ChunkColumns = [Columns; 6];

impl ChunkRows {
    fn take(&mut self) -> ChunkColumns {
        [
            self.children.take(),
            self.cases.take(),
            self.measures.take(),
            self.investigations.take(),
            self.plans.take(),
            self.follow_ups.take(),
        ]
    }
}

// ---------------------------------------------------------------------------------------
// Cases.

/// Running id counters, so ids stay unique across chunks.
#[derive(Default)]
struct Counters {
    child: u64,
    measure: u64,
    investigation: u64,
    plan: u64,
    follow_up: u64,
}

/// A child whose case has closed and who may come back with a new case.
struct FormerChild {
    number: u64,
    birth: Day,
    free_from: Day,
}

struct MeasureFacts {
    number: u64,
    started: Day,
    ended: Option<Day>,
    decided: Option<Day>,
    acute: bool,
    rule: Option<PlanDue>,
    barnets_lov: bool,
    kind: Kind,
    monthly_cost: Option<f64>,
}

/// A case as the further tables see it, recorded while the case is made (recording draws
/// nothing from the case stream, so the core tables do not depend on it).
struct CaseFacts {
    number: u64,
    /// Index into `Organisation::leaves`.
    leaf: usize,
    child: u64,
    opened: Day,
    closed: Option<Day>,
    handicap: bool,
    measures: Vec<MeasureFacts>,
}

struct CaseMaker<'a> {
    org: &'a Organisation,
    ids: Ids,
    as_of: Day,
    history_start: Day,
    law_change: Day,
    total_cases: u64,
    counters: Counters,
}

const YEAR: i32 = 365;

impl CaseMaker<'_> {
    fn make_chunk(&mut self, rng: &mut ChaCha8Rng, first: u64, last: u64, rows: &mut ChunkRows) {
        let mut former_children: VecDeque<FormerChild> = VecDeque::with_capacity(64);
        for n in first..=last {
            self.make_case(rng, n, rows, &mut former_children);
        }
    }

    /// Opening dates rise with the case number (case numbers are issued in order), with
    /// a little jitter.
    fn opening_day(&self, rng: &mut ChaCha8Rng, n: u64) -> Day {
        let span = i64::from(self.as_of - self.history_start);
        let offset = (n.saturating_sub(1) as i64 * span / self.total_cases.max(1) as i64) as i32;
        (self.history_start + offset + between(rng, 0, 20)).min(self.as_of)
    }

    fn make_case(&mut self, rng: &mut ChaCha8Rng, n: u64, rows: &mut ChunkRows, former: &mut VecDeque<FormerChild>) {
        let org = self.org;
        let leaf_index = org.pick_leaf(rng);
        let leaf = &org.leaves[leaf_index];
        let diligence = leaf.diligence;
        let as_of = self.as_of;
        let opened = self.opening_day(rng, n);

        // The child: sometimes one who had an earlier, closed case.
        let returning = if chance(rng, 0.06) {
            former.iter().position(|c| c.free_from < opened && opened - c.birth < 17 * YEAR)
        } else {
            None
        };
        let (child, birth) = match returning.and_then(|i| former.remove(i)) {
            Some(c) => (c.number, c.birth),
            None => self.new_child(rng, leaf.center, opened, &mut rows.children),
        };

        // The first child-protection investigation; None when still running at the export date.
        let mut latest_event = opened;
        let mut still_running = false;
        let investigates = chance(rng, if leaf.center == Center::Vulnerable { 0.92 } else { 0.6 });
        let investigation_done = if investigates {
            let aware = if chance(rng, 0.1) { None } else { Some(opened - between(rng, 0, 14)) };
            let started = opened + between(rng, 0, 10);
            match self.investigation(rng, &mut rows.investigations, n, aware, started, diligence.investigation, None) {
                Some(done) => {
                    latest_event = latest_event.max(done);
                    Some(done)
                }
                None => {
                    still_running = true;
                    None
                }
            }
        } else {
            Some(opened)
        };

        // Measures: none for about a quarter of cases (the investigation found no need).
        let mut measures = Vec::new();
        if chance(rng, 0.75) {
            let acute_start = chance(rng, if leaf.center == Center::Vulnerable { 0.14 } else { 0.04 });
            let mut start = if acute_start {
                Some(opened + between(rng, 0, 3))
            } else {
                investigation_done.map(|done| done + between(rng, 3, 40))
            };
            let count = match rng.random_range(0..100) {
                0..45 => 1,
                45..75 => 2,
                75..90 => 3,
                _ => 4,
            };
            for k in 0..count {
                let Some(started) = start.filter(|&s| s <= as_of) else { break };
                let acute = if k == 0 { acute_start } else { chance(rng, 0.04) };
                let facts = self.measure(rng, &mut rows.measures, leaf.center, n, opened, started, acute);
                match facts.ended {
                    Some(end) => latest_event = latest_event.max(end),
                    None => still_running = true,
                }
                let length = facts.ended.unwrap_or(as_of) - started + 1;
                // The next measure overlaps this one or follows it.
                start = Some(if chance(rng, 0.5) {
                    started + between(rng, 30, length.max(31))
                } else {
                    started + length + between(rng, 1, 60)
                });
                measures.push(facts);
            }
        }

        let closed = if still_running {
            None
        } else {
            Some(latest_event + between(rng, 5, 60)).filter(|&c| c <= as_of)
        };
        let case_end = closed.unwrap_or(as_of);

        // A long case is sometimes investigated again.
        if investigates && case_end - opened > 2 * YEAR && chance(rng, 0.25) {
            let started = opened + between(rng, YEAR, case_end - opened - 30);
            let aware = if chance(rng, 0.1) { None } else { Some(started - between(rng, 0, 14)) };
            self.investigation(rng, &mut rows.investigations, n, aware, started, diligence.investigation, closed);
        }

        self.plans(rng, &mut rows.plans, n, opened, case_end, &measures, diligence.plan);
        for m in &measures {
            self.follow_ups(rng, &mut rows.follow_ups, n, m, case_end, diligence.follow_up);
        }

        let cases = &mut rows.cases;
        self.ids.push(&mut cases.case_id, Entity::Case, n);
        self.ids.push(&mut cases.child_id, Entity::Child, child);
        cases.unit_id.append_value(&leaf.unit_id);
        // About 3 % of active cases wait for a caseworker.
        if closed.is_none() && chance(rng, 0.03) {
            cases.caseworker_id.append_null();
        } else {
            // Every leaf has a caseworker; the fallback only guards the invariant.
            match leaf.caseworkers.get(rng.random_range(0..leaf.caseworkers.len().max(1))) {
                Some(&worker) => cases.caseworker_id.append_value(&org.caseworkers[worker].0),
                None => cases.caseworker_id.append_null(),
            }
        }
        cases.opened_on.append_value(opened);
        cases.closed_on.append_option(closed);
        let handicap = if chance(rng, 0.03) {
            cases.target_group.append_null();
            false
        } else {
            cases.target_group.append_value(match leaf.center {
                Center::Vulnerable => "udsatte",
                Center::Disability => "handicap",
            });
            leaf.center == Center::Disability
        };

        if let Some(end) = closed {
            if former.len() == 64 {
                former.pop_front();
            }
            former.push_back(FormerChild { number: child, birth, free_from: end });
        }
        rows.facts.push(CaseFacts { number: n, leaf: leaf_index, child, opened, closed, handicap, measures });
    }

    fn new_child(&mut self, rng: &mut ChaCha8Rng, center: Center, opened: Day, rows: &mut ChildRows) -> (u64, Day) {
        self.counters.child += 1;
        let number = self.counters.child;
        // Vulnerable children skew towards their teens; children with a disability do not.
        let share = rng.random::<f64>();
        let years = match center {
            Center::Vulnerable => 17.9 * share.sqrt(),
            Center::Disability => 17.9 * share,
        };
        let birth = opened - (years * 365.25) as i32 - between(rng, 0, 30);
        self.ids.push(&mut rows.child_id, Entity::Child, number);
        rows.birth_date.append_value(birth);
        // CPR-shaped but never real: days 32-60 belong to no CPR or substitute number.
        let (month, year) = date(birth).map(|d| (d.month(), d.year().rem_euclid(100))).unwrap_or((1, 0));
        let _ = write!(rows.cpr, "{:02}{:02}{:02}-{:04}", between(rng, 32, 60), month, year, between(rng, 0, 9999));
        rows.cpr.append_value("");
        (number, birth)
    }

    /// Writes an investigation that started by the export date and returns its completion
    /// day, or None when it is still open. `closed` caps completion for a closed case.
    #[allow(clippy::too_many_arguments)]
    fn investigation(
        &mut self,
        rng: &mut ChaCha8Rng,
        rows: &mut InvestigationRows,
        case: u64,
        aware: Option<Day>,
        started: Day,
        diligence: f64,
        closed: Option<Day>,
    ) -> Option<Day> {
        if started > self.as_of {
            return None;
        }
        let deadline = add_months(aware.unwrap_or(started), 4);
        let mut completed = if chance(rng, diligence) {
            let room = deadline - started;
            started + between(rng, room.min(30), room)
        } else {
            deadline + between(rng, 1, 60)
        };
        if let Some(end) = closed {
            completed = completed.min(end);
        }
        // A few are forgotten: open for over a year, which validation asks about.
        let completed = Some(completed.max(started)).filter(|&c| c <= self.as_of && !chance(rng, 0.001));
        self.counters.investigation += 1;
        self.ids.push(&mut rows.investigation_id, Entity::Investigation, self.counters.investigation);
        self.ids.push(&mut rows.case_id, Entity::Case, case);
        rows.started_on.append_value(started);
        rows.completed_on.append_option(completed);
        rows.aware_on.append_option(aware);
        completed
    }

    #[allow(clippy::too_many_arguments)]
    fn measure(
        &mut self,
        rng: &mut ChaCha8Rng,
        rows: &mut MeasureRows,
        center: Center,
        case: u64,
        opened: Day,
        started: Day,
        acute: bool,
    ) -> MeasureFacts {
        let barnets_lov = started >= self.law_change;
        let codes = match (barnets_lov, center) {
            (false, Center::Vulnerable) => SEL_VULNERABLE,
            (false, Center::Disability) => SEL_DISABILITY,
            (true, Center::Vulnerable) => BL_VULNERABLE,
            (true, Center::Disability) => BL_DISABILITY,
        };
        // Acute measures are placements.
        let code = pick_code(rng, codes, acute);
        let length = match code.kind {
            Placement => between(rng, 60, 8 * YEAR),
            Aftercare => between(rng, 90, 4 * YEAR),
            _ => between(rng, 60, 2 * YEAR),
        };
        let end = started + length - 1;
        let ended = Some(end).filter(|&e| e <= self.as_of);
        let decided = if acute {
            Some(started - between(rng, 0, 1)).map(|d| d.max(opened))
        } else if chance(rng, 0.1) {
            None
        } else if chance(rng, 0.08) {
            Some(started)
        } else {
            Some((started - between(rng, 2, 35)).max(opened))
        };

        self.counters.measure += 1;
        let number = self.counters.measure;
        self.ids.push(&mut rows.measure_id, Entity::Measure, number);
        self.ids.push(&mut rows.case_id, Entity::Case, case);
        rows.paragraph.append_value(code.code);
        rows.started_on.append_value(started);
        rows.ended_on.append_option(ended);
        rows.decided_on.append_option(decided);
        rows.acute.append_value(acute);
        let monthly_cost = monthly_cost(rng, code.kind);
        rows.monthly_cost_dkk.append_option(monthly_cost);
        rows.provider.append_option(provider(rng, code.kind));
        MeasureFacts {
            number,
            started,
            ended,
            decided,
            acute,
            rule: plan_rule(code.code),
            barnets_lov,
            kind: code.kind,
            monthly_cost,
        }
    }

    /// Action plans: one before (or after) each plan-requiring measure's due date unless
    /// the case already had one in time, and yearly revisions while such a measure runs.
    #[allow(clippy::too_many_arguments)]
    fn plans(
        &mut self,
        rng: &mut ChaCha8Rng,
        rows: &mut PlanRows,
        case: u64,
        opened: Day,
        case_end: Day,
        measures: &[MeasureFacts],
        diligence: f64,
    ) {
        let mut created: Vec<Day> = Vec::new();
        for m in measures {
            let Some(rule) = m.rule else { continue };
            let due = match rule {
                PlanDue::BeforeStart { acute_grace_months: Some(grace) } if m.acute => add_months(m.started, grace),
                PlanDue::BeforeStart { .. } => m.started,
                PlanDue::AfterDecision { months } => add_months(m.decided.unwrap_or(m.started), months),
            };
            let runs_until = m.ended.unwrap_or(case_end).min(case_end);
            if runs_until < due {
                continue; // the requirement lapsed before it fell due
            }
            let day = if created.iter().any(|&c| c <= due) {
                // A revised plan for the new measure, usually.
                Some(due - between(rng, 0, 20)).filter(|_| chance(rng, 0.35))
            } else if chance(rng, diligence) {
                Some(due - between(rng, 0, 20))
            } else if chance(rng, 0.7) {
                Some(due + between(rng, 3, 120))
            } else {
                None
            };
            if let Some(day) = day.map(|d| d.max(opened)).filter(|&d| d <= case_end) {
                created.push(day);
            }
            // Yearly revisions while the measure runs.
            let mut anniversary = add_months(m.started, 12);
            while anniversary <= runs_until {
                if chance(rng, 0.5) {
                    let day = (anniversary + between(rng, -30, 30)).min(runs_until);
                    created.push(day);
                }
                anniversary = add_months(anniversary, 12);
            }
        }
        created.sort_unstable();
        for day in created {
            self.counters.plan += 1;
            self.ids.push(&mut rows.plan_id, Entity::Plan, self.counters.plan);
            self.ids.push(&mut rows.case_id, Entity::Case, case);
            rows.created_on.append_value(day);
        }
    }

    /// Follow-ups of one measure: the first within 3 months, then every 6 months or by
    /// the next date the caseworker set; late ones and forgotten measures per diligence.
    fn follow_ups(
        &mut self,
        rng: &mut ChaCha8Rng,
        rows: &mut FollowUpRows,
        case: u64,
        m: &MeasureFacts,
        case_end: Day,
        diligence: f64,
    ) {
        if m.rule.is_none() {
            return;
        }
        let runs_until = m.ended.unwrap_or(case_end).min(case_end);
        let forgotten_after = chance(rng, (1.0 - diligence) * 0.5).then(|| between(rng, 0, 3));
        let mut due = add_months(m.started, 3);
        let mut previous = m.started;
        let mut count = 0;
        loop {
            if forgotten_after == Some(count) {
                break;
            }
            let performed = if chance(rng, diligence) {
                due - between(rng, 0, 40)
            } else {
                due + between(rng, 1, 100)
            };
            let performed = performed.max(previous + 1).max(m.started);
            if performed > runs_until {
                break;
            }
            // Under Barnets Lov the caseworker may set the next deadline (§95 stk. 3).
            let next_due = (m.barnets_lov && chance(rng, 0.35)).then(|| add_months(performed, pick(rng, &[3, 6, 12], 6)));
            self.counters.follow_up += 1;
            self.ids.push(&mut rows.follow_up_id, Entity::FollowUp, self.counters.follow_up);
            self.ids.push(&mut rows.case_id, Entity::Case, case);
            rows.performed_on.append_value(performed);
            // A follow-up without a measure covers every measure of the case.
            if chance(rng, 0.75) {
                self.ids.push(&mut rows.measure_id, Entity::Measure, m.number);
            } else {
                rows.measure_id.append_null();
            }
            rows.next_due_on.append_option(next_due);
            due = next_due.unwrap_or_else(|| add_months(performed, 6));
            previous = performed;
            count += 1;
        }
    }

    /// Rows dated after the export date, about `share` of the chunk's measures and
    /// follow-ups: measures registered ahead of their start and follow-ups planned ahead,
    /// on the chunk's active cases. Called after the chunk is made, with a stream of its
    /// own, so the rows before them are exactly those made without.
    fn planned_rows(&mut self, rng: &mut ChaCha8Rng, share: f64, rows: &mut ChunkRows) {
        let active: Vec<&CaseFacts> = rows.facts.iter().filter(|c| c.closed.is_none()).collect();
        let following: Vec<(u64, u64)> = active
            .iter()
            .flat_map(|c| c.measures.iter().filter(|m| m.rule.is_some() && m.ended.is_none()).map(|m| (c.number, m.number)))
            .collect();
        let measures = planned_count(rows.measures.measure_id.len(), share);
        let follow_ups = planned_count(rows.follow_ups.follow_up_id.len(), share);
        for _ in 0..measures {
            let Some(case) = pick_from(rng, &active) else { break };
            let center = self.org.leaves[case.leaf].center;
            let started = self.as_of + between(rng, 1, 90);
            self.measure(rng, &mut rows.measures, center, case.number, case.opened, started, false);
        }
        for _ in 0..follow_ups {
            let Some(&(case, measure)) = pick_from(rng, &following) else { break };
            self.counters.follow_up += 1;
            let f = &mut rows.follow_ups;
            self.ids.push(&mut f.follow_up_id, Entity::FollowUp, self.counters.follow_up);
            self.ids.push(&mut f.case_id, Entity::Case, case);
            f.performed_on.append_value(self.as_of + between(rng, 1, 120));
            self.ids.push(&mut f.measure_id, Entity::Measure, measure);
            f.next_due_on.append_null();
        }
    }
}

/// How many planned rows make them `share` of a table that has `made` rows without them.
fn planned_count(made: usize, share: f64) -> usize {
    (made as f64 * share / (1.0 - share)).round() as usize
}

/// One item of a list, or None for an empty one.
fn pick_from<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> Option<&'a T> {
    (!items.is_empty()).then(|| &items[rng.random_range(0..items.len())])
}

// ---------------------------------------------------------------------------------------
// The further tables (SPEC §2): notifications, applications and decisions, complaints,
// case events and postings, derived from the facts each case chunk recorded.

/// Random streams of the further tables: chunk k draws from `FURTHER_STREAM + k`, the
/// departments' complaint trends from `DEPARTMENT_STREAM`. The organisation uses stream 0
/// and case chunk k stream k + 1, far below.
const FURTHER_STREAM: u64 = 1 << 32;
const DEPARTMENT_STREAM: u64 = 1 << 33;
/// Rows dated after the export date: chunk k's core rows draw from `PLANNED_STREAM + k`,
/// its postings from `PLANNED_FURTHER_STREAM + k`; drawn only when asked for, so without
/// them every other row is as before. The file layout's shuffle uses 1 << 35 on.
const PLANNED_STREAM: u64 = 1 << 34;
const PLANNED_FURTHER_STREAM: u64 = (1 << 34) + (1 << 33);

const SECONDS_PER_DAY: i64 = 86_400;
const HOUR: i32 = 3_600;
const MICROS_PER_SECOND: i64 = 1_000_000;

/// Years back from the export date over which complaint rates change (older ones use the
/// last).
const TREND_YEARS: usize = 8;
/// Complaints per case-year at an average department: formalitet, realitet.
const COMPLAINT_RATES: [f64; 2] = [0.014, 0.024];
const COMPLAINT_KINDS: [&str; 2] = ["formalitet", "realitet"];

/// Monday = 0 … Sunday = 6 (1970-01-01, day 0, was a Thursday).
fn weekday(d: Day) -> i32 {
    (d + 3).rem_euclid(7)
}

/// The n-th Monday–Friday strictly after `d`. Closed days are not counted as such: they
/// only move the rules' deadline later, so a date on time by this count is on time.
fn add_working_days(d: Day, n: i32) -> Day {
    let mut day = d;
    let mut left = n;
    while left > 0 {
        day += 1;
        if weekday(day) < 5 {
            left -= 1;
        }
    }
    day
}

/// Whether `d` is the last Sunday of March, when Copenhagen skips 02:00–03:00.
fn spring_forward(d: Day) -> bool {
    weekday(d) == 6 && date(d).is_some_and(|x| x.month() == 3 && x.day() + 7 > 31)
}

/// A naive Copenhagen wall-clock time (seconds since 1970-01-01 00:00) that exists: a time
/// in the skipped spring hour moves one hour on.
fn existing_time(seconds: i64) -> i64 {
    let in_day = seconds.rem_euclid(SECONDS_PER_DAY);
    let d = seconds.div_euclid(SECONDS_PER_DAY) as Day;
    if (i64::from(2 * HOUR)..i64::from(3 * HOUR)).contains(&in_day) && spring_forward(d) {
        seconds + i64::from(HOUR)
    } else {
        seconds
    }
}

fn day_of(seconds: i64) -> Day {
    seconds.div_euclid(SECONDS_PER_DAY) as Day
}

fn round_ore(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// A case-processing deadline (retssikkerhedsloven §3 stk. 2), as the built-in rules set it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Span {
    Weeks(i32),
    Months(u32),
    WorkingDays(i32),
}

static DEADLINE_RULES: &[(&str, Span)] = &[
    ("SEL:41", Span::Weeks(8)),
    ("SEL:42", Span::Weeks(8)),
    ("BL:86", Span::WorkingDays(40)),
    ("BL:87", Span::Weeks(8)),
    ("BL:32", Span::Months(3)),
];

fn deadline_rule(code: &str) -> Option<Span> {
    DEADLINE_RULES
        .iter()
        .filter(|(prefix, _)| prefix_matches(code, prefix))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, span)| *span)
}

fn deadline(applied: Day, span: Span) -> Day {
    match span {
        Span::Weeks(w) => applied + 7 * w,
        Span::Months(m) => add_months(applied, m),
        Span::WorkingDays(n) => add_working_days(applied, n),
    }
}

// What families apply for. Codes with a deadline rule and codes without one.
static SEL_APPLICATIONS_VULNERABLE: &[Code] = &[
    code("SEL:52.3.3", Family, 30),
    code("SEL:11.3", Prevention, 25),
    code("SEL:52.3.6", Contact, 15),
    code("SEL:52.3.7", Placement, 10),
    code("SEL:41", ExtraCosts, 5),
];
static SEL_APPLICATIONS_DISABILITY: &[Code] = &[
    code("SEL:41", ExtraCosts, 40),
    code("SEL:42", LostEarnings, 25),
    code("SEL:52.3.5", Respite, 10),
    code("SEL:11.3", Prevention, 8),
];
static BL_APPLICATIONS_VULNERABLE: &[Code] = &[
    code("BL:32.1.2", Family, 30),
    code("BL:32.1.5", Contact, 15),
    code("BL:32.1.3", Placement, 5),
    code("BL:30", Prevention, 25),
    code("BL:46", Placement, 8),
    code("BL:86", ExtraCosts, 5),
];
static BL_APPLICATIONS_DISABILITY: &[Code] = &[
    code("BL:86", ExtraCosts, 40),
    code("BL:87", LostEarnings, 25),
    code("BL:32.1.4", Respite, 12),
    code("BL:30", Prevention, 8),
];

/// The finance system's account (kontoplan) a measure's payments go to.
fn account(kind: Kind) -> &'static str {
    match kind {
        Placement => "5.28.20",
        Family | Contact | Respite | Prevention | Other => "5.28.21",
        Aftercare => "5.28.21",
        ExtraCosts | LostEarnings => "5.57.72",
    }
}

/// What the further tables know about a leaf unit beyond its core diligence.
struct DepartmentTraits {
    /// 0 (sloppy) … 1 (diligent), from the leaf's diligence.
    quality: f64,
    /// Complaint rate factors per kind (formalitet, realitet) and year back from the
    /// export date: each department's complaints rise or fall over the years.
    complaint_factors: [[f64; TREND_YEARS]; 2],
}

fn department_traits(org: &Organisation, rng: &mut ChaCha8Rng) -> Vec<DepartmentTraits> {
    org.leaves
        .iter()
        .map(|leaf| {
            let quality = clamp01((leaf.diligence.plan - 0.70) / 0.28);
            let mut complaint_factors = [[1.0; TREND_YEARS]; 2];
            for factors in &mut complaint_factors {
                // Positive: more complaints in the past, so fewer now (the target met).
                let yearly_change = uniform(rng, -0.15, 0.25);
                let level = uniform(rng, 0.6, 1.4);
                for (back, factor) in factors.iter_mut().enumerate() {
                    *factor = level * (1.0 + yearly_change).powi(back as i32) * uniform(rng, 0.85, 1.15);
                }
            }
            DepartmentTraits { quality, complaint_factors }
        })
        .collect()
}

#[derive(Default)]
struct NotificationRows {
    notification_id: StringBuilder,
    unit_id: StringBuilder,
    received_at: TimestampMicrosecondBuilder,
    assessed_at: TimestampMicrosecondBuilder,
    professional: BooleanBuilder,
    receipt_confirmed_on: Date32Builder,
    child_id: StringBuilder,
    case_id: StringBuilder,
}

impl NotificationRows {
    fn take(&mut self) -> Columns {
        vec![
            ("notification_id", Arc::new(self.notification_id.finish())),
            ("unit_id", Arc::new(self.unit_id.finish())),
            ("received_at", Arc::new(self.received_at.finish())),
            ("assessed_at", Arc::new(self.assessed_at.finish())),
            ("professional", Arc::new(self.professional.finish())),
            ("receipt_confirmed_on", Arc::new(self.receipt_confirmed_on.finish())),
            ("child_id", Arc::new(self.child_id.finish())),
            ("case_id", Arc::new(self.case_id.finish())),
        ]
    }
}

#[derive(Default)]
struct DecisionRows {
    decision_id: StringBuilder,
    case_id: StringBuilder,
    paragraph: StringBuilder,
    applied_on: Date32Builder,
    decided_on: Date32Builder,
    outcome: StringBuilder,
    delay_letter_on: Date32Builder,
}

impl DecisionRows {
    fn take(&mut self) -> Columns {
        vec![
            ("decision_id", Arc::new(self.decision_id.finish())),
            ("case_id", Arc::new(self.case_id.finish())),
            ("paragraph", Arc::new(self.paragraph.finish())),
            ("applied_on", Arc::new(self.applied_on.finish())),
            ("decided_on", Arc::new(self.decided_on.finish())),
            ("outcome", Arc::new(self.outcome.finish())),
            ("delay_letter_on", Arc::new(self.delay_letter_on.finish())),
        ]
    }
}

#[derive(Default)]
struct ComplaintRows {
    complaint_id: StringBuilder,
    unit_id: StringBuilder,
    received_on: Date32Builder,
    kind: StringBuilder,
    case_id: StringBuilder,
}

impl ComplaintRows {
    fn take(&mut self) -> Columns {
        vec![
            ("complaint_id", Arc::new(self.complaint_id.finish())),
            ("unit_id", Arc::new(self.unit_id.finish())),
            ("received_on", Arc::new(self.received_on.finish())),
            ("kind", Arc::new(self.kind.finish())),
            ("case_id", Arc::new(self.case_id.finish())),
        ]
    }
}

#[derive(Default)]
struct EventRows {
    event_id: StringBuilder,
    case_id: StringBuilder,
    kind: StringBuilder,
    occurred_on: Date32Builder,
}

impl EventRows {
    fn take(&mut self) -> Columns {
        vec![
            ("event_id", Arc::new(self.event_id.finish())),
            ("case_id", Arc::new(self.case_id.finish())),
            ("kind", Arc::new(self.kind.finish())),
            ("occurred_on", Arc::new(self.occurred_on.finish())),
        ]
    }
}

#[derive(Default)]
struct PostingRows {
    posting_id: StringBuilder,
    unit_id: StringBuilder,
    account: StringBuilder,
    posted_on: Date32Builder,
    amount_dkk: Float64Builder,
    case_id: StringBuilder,
    measure_id: StringBuilder,
}

impl PostingRows {
    fn take(&mut self) -> Columns {
        vec![
            ("posting_id", Arc::new(self.posting_id.finish())),
            ("unit_id", Arc::new(self.unit_id.finish())),
            ("account", Arc::new(self.account.finish())),
            ("posted_on", Arc::new(self.posted_on.finish())),
            ("amount_dkk", Arc::new(self.amount_dkk.finish())),
            ("case_id", Arc::new(self.case_id.finish())),
            ("measure_id", Arc::new(self.measure_id.finish())),
        ]
    }
}

#[derive(Default)]
struct FurtherRows {
    notifications: NotificationRows,
    decisions: DecisionRows,
    complaints: ComplaintRows,
    events: EventRows,
    postings: PostingRows,
}

/// One chunk's columns per further table, in `TABLE_NAMES` order.
type FurtherColumns = [Columns; 5];

impl FurtherRows {
    fn take(&mut self) -> FurtherColumns {
        [
            self.notifications.take(),
            self.decisions.take(),
            self.complaints.take(),
            self.events.take(),
            self.postings.take(),
        ]
    }
}

#[derive(Default)]
struct FurtherCounters {
    notification: u64,
    decision: u64,
    complaint: u64,
    event: u64,
    posting: u64,
}

struct FurtherMaker<'a> {
    org: &'a Organisation,
    ids: Ids,
    traits: Vec<DepartmentTraits>,
    as_of: Day,
    history_start: Day,
    law_change: Day,
    counters: FurtherCounters,
    /// One case's events before they are sorted by date (reused).
    events: Vec<(Day, &'static str)>,
}

/// A notification's ties: the child and case it concerns, if any.
struct Concerns {
    child: Option<u64>,
    case: Option<u64>,
}

impl FurtherMaker<'_> {
    fn make_chunk(&mut self, rng: &mut ChaCha8Rng, facts: &[CaseFacts], rows: &mut FurtherRows) {
        for case in facts {
            self.notifications(rng, case, &mut rows.notifications);
            self.decisions(rng, case, &mut rows.decisions);
            self.complaints(rng, case, &mut rows.complaints);
            self.events(rng, case, &mut rows.events);
            self.postings(rng, case, &mut rows.postings);
        }
    }

    fn case_end(&self, case: &CaseFacts) -> Day {
        case.closed.unwrap_or(self.as_of).min(self.as_of)
    }

    /// The notification that opened many a vulnerable child's case, later ones about a
    /// child with a case, and ones that led to no case (about half a notification a case).
    fn notifications(&mut self, rng: &mut ChaCha8Rng, case: &CaseFacts, rows: &mut NotificationRows) {
        let leaf = &self.org.leaves[case.leaf];
        let case_end = self.case_end(case);
        let on_case = Concerns { child: Some(case.child), case: Some(case.number) };
        if chance(rng, if leaf.center == Center::Vulnerable { 0.38 } else { 0.12 }) {
            let received = case.opened - between(rng, 0, 14);
            self.notification(rng, rows, case.leaf, received, on_case);
        } else if case_end - case.opened > 60 && chance(rng, 0.1) {
            let received = between(rng, case.opened + 30, case_end);
            self.notification(rng, rows, case.leaf, received, on_case);
        }
        // About a child whose case has closed, not (yet) put on a case.
        if let Some(closed) = case.closed
            && closed < self.as_of
            && chance(rng, 0.06)
        {
            let received = between(rng, closed + 1, self.as_of);
            self.notification(rng, rows, case.leaf, received, Concerns { child: Some(case.child), case: None });
        }
        // Most notifications lead to no case.
        if chance(rng, 0.16) {
            let received = between(rng, self.history_start, self.as_of);
            self.notification(rng, rows, case.leaf, received, Concerns { child: None, case: None });
        }
    }

    fn notification(&mut self, rng: &mut ChaCha8Rng, rows: &mut NotificationRows, leaf: usize, received: Day, concerns: Concerns) {
        let as_of = self.as_of;
        let quality = self.traits[leaf].quality;
        let received = received.min(as_of);
        // Office hours on most weekdays; police and emergency services at any hour.
        let second = if weekday(received) < 5 && chance(rng, 0.8) {
            between(rng, 8 * HOUR, 16 * HOUR - 1)
        } else {
            between(rng, 0, 24 * HOUR - 1)
        };
        let received_at = existing_time(i64::from(received) * SECONDS_PER_DAY + i64::from(second));
        let delay = if chance(rng, 0.74 + 0.25 * quality) {
            // Within 24 hours, with room for a daylight-saving change.
            Some(between(rng, 300, 20 * HOUR))
        } else if chance(rng, 0.9) {
            Some(between(rng, 30 * HOUR, 10 * 24 * HOUR))
        } else {
            None
        };
        let assessed_at =
            delay.map(|s| existing_time(received_at + i64::from(s))).filter(|&t| day_of(t) <= as_of);
        let professional = chance(rng, 0.6);
        let confirmed = if professional {
            let due = add_working_days(received, 6);
            if chance(rng, 0.7 + 0.28 * quality) {
                Some(between(rng, received, due))
            } else if chance(rng, 0.7) {
                Some(due + between(rng, 3, 40))
            } else {
                None
            }
        } else {
            None
        };
        self.counters.notification += 1;
        self.ids.push(&mut rows.notification_id, Entity::Notification, self.counters.notification);
        rows.unit_id.append_value(&self.org.leaves[leaf].unit_id);
        rows.received_at.append_value(received_at * MICROS_PER_SECOND);
        rows.assessed_at.append_option(assessed_at.map(|t| t * MICROS_PER_SECOND));
        rows.professional.append_value(professional);
        rows.receipt_confirmed_on.append_option(confirmed.filter(|&d| d <= as_of));
        match concerns.child {
            Some(child) => self.ids.push(&mut rows.child_id, Entity::Child, child),
            None => rows.child_id.append_null(),
        }
        match concerns.case {
            Some(case) => self.ids.push(&mut rows.case_id, Entity::Case, case),
            None => rows.case_id.append_null(),
        }
    }

    /// Applications over the case's life (about one a case), decided by the deadline as
    /// often as the department manages; late ones sometimes with a delay letter.
    fn decisions(&mut self, rng: &mut ChaCha8Rng, case: &CaseFacts, rows: &mut DecisionRows) {
        let as_of = self.as_of;
        let quality = self.traits[case.leaf].quality;
        let disability = case.handicap || self.org.leaves[case.leaf].center == Center::Disability;
        let case_end = self.case_end(case);
        let count = match rng.random_range(0..100) {
            0..30 => 0,
            30..75 => 1,
            75..95 => 2,
            _ => 3,
        };
        for _ in 0..count {
            let applied = between(rng, case.opened, case_end);
            let codes = match (applied >= self.law_change, disability) {
                (false, false) => SEL_APPLICATIONS_VULNERABLE,
                (false, true) => SEL_APPLICATIONS_DISABILITY,
                (true, false) => BL_APPLICATIONS_VULNERABLE,
                (true, true) => BL_APPLICATIONS_DISABILITY,
            };
            let paragraph = pick_code(rng, codes, false).code;
            let due = deadline_rule(paragraph).map(|span| deadline(applied, span));
            let mut decided = match due {
                Some(due) if chance(rng, 0.72 + 0.26 * quality) => {
                    let room = due - applied;
                    applied + between(rng, room / 5, room)
                }
                Some(due) => due + between(rng, 1, 90),
                None => applied + between(rng, 3, 70),
            };
            if let Some(closed) = case.closed {
                decided = decided.min(closed);
            }
            // A few applications are forgotten: still open long after their deadline.
            let decided = Some(decided.max(applied)).filter(|&d| d <= as_of && !chance(rng, 0.004));
            let outcome = decided.map(|_| if chance(rng, 0.8) { "bevilget" } else { "afslag" });
            let letter = match due {
                Some(due) if decided.is_none_or(|d| d > due) && chance(rng, 0.15 + 0.75 * quality) => {
                    let on = if chance(rng, 0.7) { due - between(rng, 1, 14) } else { due + between(rng, 1, 30) };
                    Some(on.max(applied)).filter(|&on| on <= as_of && decided.is_none_or(|d| on <= d))
                }
                _ => None,
            };
            self.counters.decision += 1;
            self.ids.push(&mut rows.decision_id, Entity::Decision, self.counters.decision);
            self.ids.push(&mut rows.case_id, Entity::Case, case.number);
            rows.paragraph.append_value(paragraph);
            rows.applied_on.append_value(applied);
            rows.decided_on.append_option(decided);
            rows.outcome.append_option(outcome);
            rows.delay_letter_on.append_option(letter);
        }
    }

    /// Complaints about the unit's decisions: for each year of the case, a chance per kind
    /// that follows the department's trend over the years.
    fn complaints(&mut self, rng: &mut ChaCha8Rng, case: &CaseFacts, rows: &mut ComplaintRows) {
        let as_of = self.as_of;
        let case_end = self.case_end(case);
        let mut year_start = case.opened;
        while year_start <= case_end {
            for (k, kind) in COMPLAINT_KINDS.iter().enumerate() {
                let received = between(rng, year_start, (year_start + YEAR - 1).min(case_end));
                let back = (((as_of - received) / YEAR).max(0) as usize).min(TREND_YEARS - 1);
                let rate = COMPLAINT_RATES[k] * self.traits[case.leaf].complaint_factors[k][back];
                if !chance(rng, rate) {
                    continue;
                }
                self.counters.complaint += 1;
                self.ids.push(&mut rows.complaint_id, Entity::Complaint, self.counters.complaint);
                rows.unit_id.append_value(&self.org.leaves[case.leaf].unit_id);
                rows.received_on.append_value(received);
                rows.kind.append_value(kind);
                if chance(rng, 0.9) {
                    self.ids.push(&mut rows.case_id, Entity::Case, case.number);
                } else {
                    rows.case_id.append_null();
                }
            }
            year_start += YEAR;
        }
    }

    /// The steps the lawful-case checklist reads (conversations with the child about once
    /// a year, consultation of the parties and a decision with appeal guidance when a
    /// measure is granted, target-group clarification in handicap cases) as often as the
    /// department manages, and a few notes the engine ignores.
    fn events(&mut self, rng: &mut ChaCha8Rng, case: &CaseFacts, rows: &mut EventRows) {
        let quality = self.traits[case.leaf].quality;
        let case_end = self.case_end(case);
        let diligent = 0.4 + 0.55 * quality;
        let events = &mut self.events;
        events.clear();
        // Conversations with the child: before the first measure, then about yearly while
        // measures run; once during the investigation in a case without measures.
        let measures_until = case.measures.iter().map(|m| m.ended.unwrap_or(case_end)).max();
        match (case.measures.first(), measures_until) {
            (Some(m), Some(until)) => {
                let mut conversation = (m.started - between(rng, 0, 30)).max(case.opened);
                let mut first = true;
                while conversation <= until.min(case_end) {
                    if chance(rng, if first { diligent } else { diligent * 0.5 }) {
                        events.push((conversation, "boernesamtale"));
                    }
                    conversation += between(rng, 300, 400);
                    first = false;
                }
            }
            _ => {
                if chance(rng, diligent * 0.6) {
                    events.push((case.opened + between(rng, 7, 60), "boernesamtale"));
                }
            }
        }
        if case.handicap && chance(rng, diligent) {
            events.push((case.opened + between(rng, 5, 60), "maalgruppeafklaring"));
        }
        if let Some(m) = case.measures.first() {
            let decided = m.decided.unwrap_or(m.started);
            if chance(rng, diligent * 0.85) {
                events.push(((decided - between(rng, 2, 20)).max(case.opened), "partshoering"));
            }
            if chance(rng, diligent * 0.85) {
                events.push((decided.max(case.opened), "afgoerelse_med_klagevejledning"));
            }
        }
        if chance(rng, 0.05) {
            events.push((between(rng, case.opened, case_end), "notat"));
        }
        if chance(rng, 0.03) {
            events.push((between(rng, case.opened, case_end), "netvaerksmoede"));
        }
        events.retain(|&(on, _)| on <= case_end);
        events.sort_unstable();
        for &(on, kind) in events.iter() {
            self.counters.event += 1;
            self.ids.push(&mut rows.event_id, Entity::Event, self.counters.event);
            self.ids.push(&mut rows.case_id, Entity::Case, case.number);
            rows.kind.append_value(kind);
            rows.occurred_on.append_value(on);
        }
    }

    /// Monthly payments of each measure with a monthly cost while it runs (the first and
    /// last month prorated), a few refunds, now and then a payment after the measure
    /// ended; about 68 % booked on the case and measure, the rest on no person. Some
    /// measures are registered but never paid.
    fn postings(&mut self, rng: &mut ChaCha8Rng, case: &CaseFacts, rows: &mut PostingRows) {
        let as_of = self.as_of;
        let quality = self.traits[case.leaf].quality;
        let case_end = self.case_end(case);
        for m in &case.measures {
            let Some(cost) = m.monthly_cost.filter(|&c| c > 0.0) else { continue };
            if chance(rng, 0.02 + 0.06 * (1.0 - quality)) {
                continue;
            }
            let booked = chance(rng, 0.6 + 0.16 * quality);
            let leaf = if chance(rng, 0.97) { case.leaf } else { self.org.pick_leaf(rng) };
            let posting = Posting { unit: leaf, account: account(m.kind), case: case.number, measure: m.number };
            let runs_until = m.ended.unwrap_or(Day::MAX);
            let last = runs_until.min(case_end);
            let mut month = date(m.started).and_then(|d| d.with_day(1)).map(day).unwrap_or(m.started);
            while month <= last {
                let next = add_months(month, 1);
                let (from, to) = (month.max(m.started), (next - 1).min(runs_until));
                let share = f64::from(to - from + 1) / f64::from(next - month);
                let posted = (month + between(rng, 0, 9)).clamp(from, to);
                if posted <= last {
                    let on_case = chance(rng, if booked { 0.97 } else { 0.03 });
                    self.posting(rows, &posting, posted, round_ore(cost * share), on_case);
                }
                if chance(rng, 0.02) {
                    let refunded = between(rng, posted, to);
                    if refunded <= last {
                        let on_case = chance(rng, if booked { 0.97 } else { 0.03 });
                        let amount = -round_ore(cost * share * uniform(rng, 0.1, 1.0));
                        self.posting(rows, &posting, refunded, amount, on_case);
                    }
                }
                month = next;
            }
            // A late payment after the measure ended: paid without a running measure.
            if let Some(ended) = m.ended
                && chance(rng, 0.04)
            {
                let posted = ended + between(rng, 5, 40);
                if posted <= as_of {
                    let amount = round_ore(cost * uniform(rng, 0.1, 0.5));
                    self.posting(rows, &posting, posted, amount, booked);
                }
            }
        }
    }

    fn posting(&mut self, rows: &mut PostingRows, p: &Posting, posted: Day, amount: f64, on_case: bool) {
        self.counters.posting += 1;
        self.ids.push(&mut rows.posting_id, Entity::Posting, self.counters.posting);
        rows.unit_id.append_value(&self.org.leaves[p.unit].unit_id);
        rows.account.append_value(p.account);
        rows.posted_on.append_value(posted);
        rows.amount_dkk.append_value(amount);
        if on_case {
            self.ids.push(&mut rows.case_id, Entity::Case, p.case);
            self.ids.push(&mut rows.measure_id, Entity::Measure, p.measure);
        } else {
            rows.case_id.append_null();
            rows.measure_id.append_null();
        }
    }

    /// Payments booked ahead, about `share` of the batch's postings: next month's payment
    /// of a running measure with a monthly cost on an active case, dated after the export
    /// date. Made after the batch, with a stream of its own (see `CaseMaker::planned_rows`).
    fn planned_postings(&mut self, rng: &mut ChaCha8Rng, share: f64, facts: &[CaseFacts], rows: &mut PostingRows) {
        let paid: Vec<(&CaseFacts, &MeasureFacts, f64)> = facts
            .iter()
            .filter(|c| c.closed.is_none())
            .flat_map(|c| c.measures.iter().filter(|m| m.ended.is_none()).map(move |m| (c, m)))
            .filter_map(|(c, m)| m.monthly_cost.filter(|&cost| cost > 0.0).map(|cost| (c, m, cost)))
            .collect();
        for _ in 0..planned_count(rows.posting_id.len(), share) {
            let Some(&(case, m, cost)) = pick_from(rng, &paid) else { break };
            let posting = Posting { unit: case.leaf, account: account(m.kind), case: case.number, measure: m.number };
            let posted = self.as_of + between(rng, 1, 40);
            self.posting(rows, &posting, posted, round_ore(cost), true);
        }
    }
}

/// Where a measure's payments are booked.
struct Posting {
    unit: usize,
    account: &'static str,
    case: u64,
    measure: u64,
}

// ---------------------------------------------------------------------------------------
// Writing.

struct TableWriter {
    name: &'static str,
    schema: SchemaRef,
    path: PathBuf,
    writer: ArrowWriter<BufWriter<File>>,
    rows: usize,
}

/// The type a column is written with: the contract's, except that timestamps are naive
/// Copenhagen wall-clock time, as case systems export them (the reader makes them instants).
fn file_type(kind: contract::ColumnKind) -> DataType {
    match kind {
        contract::ColumnKind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        other => other.data_type(),
    }
}

impl TableWriter {
    fn create(dir: &Path, name: &'static str, props: &WriterProperties) -> Result<TableWriter> {
        let spec = contract::table(name).ok_or_else(|| Error::Internal(format!("table {name} is not in the contract")))?;
        // The contract's columns, personal data included: the export carries it.
        let fields: Vec<Field> = spec.columns.iter().map(|c| Field::new(c.name, file_type(c.kind), !c.required)).collect();
        let schema = Arc::new(Schema::new(fields));
        let path = dir.join(format!("{name}.parquet"));
        let file = File::create(&path).map_err(|e| Error::io_path("create", &path, e))?;
        let writer = ArrowWriter::try_new(BufWriter::new(file), schema.clone(), Some(props.clone()))
            .map_err(|e| write_error(&path, e))?;
        Ok(TableWriter { name, schema, path, writer, rows: 0 })
    }

    /// Writes named columns in the order the contract gives them.
    fn write(&mut self, mut columns: Columns) -> Result<()> {
        let mut ordered = Vec::with_capacity(self.schema.fields().len());
        for field in self.schema.fields() {
            let i = columns.iter().position(|(name, _)| name == field.name()).ok_or_else(|| {
                Error::Internal(format!("generator has no column {} for table {}", field.name(), self.name))
            })?;
            ordered.push(columns.swap_remove(i).1);
        }
        let batch = RecordBatch::try_new(self.schema.clone(), ordered).map_err(|e| write_error(&self.path, e))?;
        if batch.num_rows() > 0 {
            self.writer.write(&batch).map_err(|e| write_error(&self.path, e))?;
            self.rows += batch.num_rows();
        }
        Ok(())
    }

    fn close(self) -> Result<(&'static str, usize)> {
        let TableWriter { name, path, writer, rows, .. } = self;
        let inner = writer.into_inner().map_err(|e| write_error(&path, e))?;
        let file = inner.into_inner().map_err(|e| write_error(&path, e.error()))?;
        file.sync_all().map_err(|e| Error::io_path("write", &path, e))?;
        Ok((name, rows))
    }
}

fn validate(opts: &GenOptions) -> Result<()> {
    if !opts.scale.is_finite() || opts.scale <= 0.0 || opts.scale > MAX_SCALE {
        return Err(Error::Usage(format!("--scale must be a number above 0 and at most {MAX_SCALE}, e.g. 1 or 0.03")));
    }
    if !(0.0..=MAX_FUTURE_SHARE).contains(&opts.future_share) {
        return Err(Error::Usage(format!("--future-share must be a fraction from 0 to {MAX_FUTURE_SHARE}, e.g. 0.05")));
    }
    if !(1900..=9000).contains(&opts.as_of.year()) {
        return Err(Error::Usage("--as-of must be a date between the years 1900 and 9000".into()));
    }
    Ok(())
}

fn writer_properties() -> WriterProperties {
    WriterProperties::builder().set_compression(Compression::SNAPPY).set_max_row_group_row_count(Some(ROW_GROUP_ROWS)).build()
}

/// Writes the export into `dir` (which exists and is empty): the rows, one file per table
/// in the order they are made, then laid out in the order asked for, then the manifest.
fn write_export(opts: &GenOptions, dir: &Path) -> Result<GenSummary> {
    let props = writer_properties();
    let rows = write_rows(opts, dir, &props)?;
    layout::arrange(dir, opts.order, opts.seed, &props)?;
    write_manifest(opts, dir)?;
    Ok(GenSummary { rows })
}

/// Writes every table into `dir` as `<table>.parquet`, rows in the order they are made;
/// returns the rows per table.
fn write_rows(opts: &GenOptions, dir: &Path, props: &WriterProperties) -> Result<Vec<(&'static str, usize)>> {
    let ids = Ids::new(opts.ids, opts.seed);
    let mut writers = Vec::with_capacity(TABLE_NAMES.len());
    for name in TABLE_NAMES {
        writers.push(TableWriter::create(dir, name, props)?);
    }

    let mut org_rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let org = Organisation::build(opts.scale, ids, opts.skew, &mut org_rng);
    let mut unit_rows = (StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
    for (id, name, parent) in &org.units {
        unit_rows.0.append_value(id);
        unit_rows.1.append_value(name);
        unit_rows.2.append_option(parent.as_deref());
    }
    writers[0].write(vec![
        ("unit_id", Arc::new(unit_rows.0.finish()) as ArrayRef),
        ("name", Arc::new(unit_rows.1.finish())),
        ("parent_id", Arc::new(unit_rows.2.finish())),
    ])?;
    let mut worker_rows = (StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
    for (id, name, unit) in &org.caseworkers {
        worker_rows.0.append_value(id);
        worker_rows.1.append_value(name);
        worker_rows.2.append_value(unit);
    }
    writers[1].write(vec![
        ("caseworker_id", Arc::new(worker_rows.0.finish()) as ArrayRef),
        ("name", Arc::new(worker_rows.1.finish())),
        ("unit_id", Arc::new(worker_rows.2.finish())),
    ])?;

    let as_of = day(opts.as_of);
    let total_cases = ((opts.scale * CASES_PER_SCALE).round() as u64).max(1);
    let mut maker = CaseMaker {
        org: &org,
        ids,
        as_of,
        history_start: sub_months(as_of, HISTORY_MONTHS),
        law_change: NaiveDate::from_ymd_opt(2024, 1, 1).map(day).unwrap_or(Day::MAX),
        total_cases,
        counters: Counters::default(),
    };
    let seed = opts.seed;
    let future_share = opts.future_share;
    let mut department_rng = ChaCha8Rng::seed_from_u64(seed);
    department_rng.set_stream(DEPARTMENT_STREAM);
    let mut further = FurtherMaker {
        org: &org,
        ids,
        traits: department_traits(&org, &mut department_rng),
        as_of,
        history_start: maker.history_start,
        law_change: maker.law_change,
        counters: FurtherCounters::default(),
        events: Vec::new(),
    };

    // One thread makes chunks while this one encodes the previous one; the channel holds
    // one message (a chunk's core rows, or a batch of its further rows), which bounds
    // memory. A message pairs each table's columns with its index in `writers`.
    let first_core = TABLE_NAMES.iter().position(|t| *t == "children").unwrap_or(2);
    let first_further = TABLE_NAMES.iter().position(|t| *t == "notifications").unwrap_or(8);
    let (sender, receiver) = mpsc::sync_channel::<Vec<(usize, Columns)>>(1);
    std::thread::scope(|scope| -> Result<()> {
        let maker = &mut maker;
        let further = &mut further;
        let producer = scope.spawn(move || {
            let mut rows = ChunkRows::default();
            let mut further_rows = FurtherRows::default();
            let mut first = 1u64;
            let mut chunk = 0u64;
            while first <= total_cases {
                let last = (first + CHUNK_CASES - 1).min(total_cases);
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                rng.set_stream(chunk + 1);
                maker.make_chunk(&mut rng, first, last, &mut rows);
                if future_share > 0.0 {
                    let mut planned_rng = ChaCha8Rng::seed_from_u64(seed);
                    planned_rng.set_stream(PLANNED_STREAM + chunk);
                    maker.planned_rows(&mut planned_rng, future_share, &mut rows);
                }
                let mut facts = std::mem::take(&mut rows.facts);
                let core = rows.take().into_iter().enumerate().map(|(i, c)| (first_core + i, c)).collect();
                if sender.send(core).is_err() {
                    return; // the writer stopped on an error, which it reports
                }
                // The further tables draw from their own stream, so the core rows above
                // are the same with or without them.
                let mut further_rng = ChaCha8Rng::seed_from_u64(seed);
                further_rng.set_stream(FURTHER_STREAM + chunk);
                let mut planned_rng = ChaCha8Rng::seed_from_u64(seed);
                planned_rng.set_stream(PLANNED_FURTHER_STREAM + chunk);
                for batch in facts.chunks(FURTHER_BATCH_CASES) {
                    further.make_chunk(&mut further_rng, batch, &mut further_rows);
                    if future_share > 0.0 {
                        further.planned_postings(&mut planned_rng, future_share, batch, &mut further_rows.postings);
                    }
                    let columns =
                        further_rows.take().into_iter().enumerate().map(|(i, c)| (first_further + i, c)).collect();
                    if sender.send(columns).is_err() {
                        return;
                    }
                }
                facts.clear();
                rows.facts = facts;
                first = last + 1;
                chunk += 1;
            }
        });
        let mut outcome = Ok(());
        for message in receiver.iter() {
            for (index, columns) in message {
                outcome = match writers.get_mut(index) {
                    Some(writer) => writer.write(columns),
                    None => Err(Error::Internal(format!("no writer for table number {index}"))),
                };
                if outcome.is_err() {
                    break;
                }
            }
            if outcome.is_err() {
                break;
            }
        }
        drop(receiver);
        producer.join().map_err(|_| Error::Internal("the case generator stopped unexpectedly".into()))?;
        outcome
    })?;

    writers.into_iter().map(TableWriter::close).collect()
}

/// `manifest.json`: the export date, and what made the export. The shape options are
/// named only where they differ from one sorted file per table with numeric ids, so such
/// an export's manifest reads as it always did.
fn write_manifest(opts: &GenOptions, dir: &Path) -> Result<()> {
    let mut manifest = serde_json::json!({
        "export_date": opts.as_of.format("%Y-%m-%d").to_string(),
        "generator": GENERATOR,
        "scale": opts.scale,
        "seed": opts.seed,
    });
    let shape = [
        ("order", (opts.order != Order::Sorted).then(|| serde_json::json!(opts.order.as_str()))),
        ("ids", (opts.ids != IdStyle::Numeric).then(|| serde_json::json!(opts.ids.as_str()))),
        ("future_share", (opts.future_share > 0.0).then(|| serde_json::json!(opts.future_share))),
        ("skew", opts.skew.then(|| serde_json::json!(true))),
    ];
    for (key, value) in shape {
        if let Some(value) = value {
            manifest[key] = value;
        }
    }
    let path = dir.join("manifest.json");
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| write_error(&path, e))? + "\n";
    fs::write(&path, text).map_err(|e| Error::io_path("write", &path, e))
}

/// Whether `dir` may be replaced: it is empty or an export this generator wrote.
fn replaceable(dir: &Path) -> Result<bool> {
    let mut entries = fs::read_dir(dir).map_err(|e| Error::io_path("read", &dir.to_path_buf(), e))?;
    if entries.next().is_none() {
        return Ok(true);
    }
    let manifest = fs::read_to_string(dir.join("manifest.json")).unwrap_or_default();
    let generator = serde_json::from_str::<serde_json::Value>(&manifest)
        .ok()
        .and_then(|v| v.get("generator").and_then(|g| g.as_str()).map(str::to_string));
    Ok(generator.as_deref() == Some(GENERATOR))
}

/// Generates a synthetic export into `out`. The files are written into a temporary folder
/// beside `out` and renamed into place at the end, so `out` is never half-written. An
/// existing `out` is replaced only when it is empty or was written by this generator.
pub fn generate(opts: &GenOptions, out: &Path) -> Result<GenSummary> {
    validate(opts)?;
    let name = out
        .file_name()
        .ok_or_else(|| Error::Usage(format!("--out {} must name a folder", out.display())))?
        .to_string_lossy()
        .into_owned();
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if out.is_file() {
        return Err(Error::Usage(format!("--out {} is a file; give a folder", out.display())));
    }
    if out.is_dir() && !replaceable(out)? {
        return Err(Error::Usage(format!(
            "--out {} exists and is not an export written by {GENERATOR}; choose another folder or remove it",
            out.display()
        )));
    }
    fs::create_dir_all(&parent).map_err(|e| Error::io_path("create", &parent, e))?;

    let pid = std::process::id();
    let temporary = parent.join(format!(".{name}.gen-{pid}.tmp"));
    if temporary.exists() {
        fs::remove_dir_all(&temporary).map_err(|e| Error::io_path("remove", &temporary, e))?;
    }
    fs::create_dir(&temporary).map_err(|e| Error::io_path("create", &temporary, e))?;

    let summary = match write_export(opts, &temporary) {
        Ok(summary) => summary,
        Err(e) => {
            let _ = fs::remove_dir_all(&temporary);
            return Err(e);
        }
    };
    if let Err(e) = publish(&temporary, out, &parent, &name, pid) {
        let _ = fs::remove_dir_all(&temporary);
        return Err(e);
    }
    Ok(summary)
}

/// Moves the finished export into place, replacing an older one.
fn publish(temporary: &Path, out: &Path, parent: &Path, name: &str, pid: u32) -> Result<()> {
    let out_buf = out.to_path_buf();
    if !out.exists() {
        return fs::rename(temporary, out).map_err(|e| Error::io_path("create", &out_buf, e));
    }
    let old = parent.join(format!(".{name}.old-{pid}.tmp"));
    fs::rename(out, &old).map_err(|e| Error::io_path("replace", &out_buf, e))?;
    if let Err(e) = fs::rename(temporary, out) {
        // Put the previous export back rather than leave nothing.
        let _ = fs::rename(&old, out);
        return Err(Error::io_path("replace", &out_buf, e));
    }
    fs::remove_dir_all(&old).map_err(|e| Error::io_path("remove", &old, e))
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use datafusion::arrow::array::{Array, AsArray, RecordBatchReader};
    use datafusion::arrow::datatypes::{Date32Type, Float64Type, TimestampMicrosecondType};
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;

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
        let manifest: serde_json::Value = serde_json::from_str(&fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
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
            let column = &t[spec.name][spec.id_column];
            assert!(column.iter().all(Option::is_some), "null id in {}", spec.name);
            assert_eq!(ids(&t[spec.name], spec.id_column).len(), column.len(), "duplicate id in {}", spec.name);
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
        let unit_of_worker: HashMap<&str, &str> =
            t["caseworkers"]["caseworker_id"].iter().zip(&t["caseworkers"]["unit_id"]).map(|(w, u)| (w.as_deref().unwrap(), u.as_deref().unwrap())).collect();
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
                let late = values.into_iter().flatten().filter(|&t| i64::from(day_of(t / MICROS_PER_SECOND)) > as_of).count();
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
        let closed: HashMap<&str, Option<i64>> = t["cases"]["case_id"]
            .iter()
            .zip(days("cases", "closed_on"))
            .map(|(c, d)| (c.as_deref().unwrap(), d))
            .collect();
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
        let cpr_shape = |s: &str| s.len() == 11 && s.as_bytes()[6] == b'-' && s.bytes().filter(u8::is_ascii_digit).count() == 10;
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
        let rows = |table: &str| t[table][contract::table(table).unwrap().id_column].len() as f64;
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
        assert!((1.7..2.5).contains(&per_case("case_events")), "events per case {}: {event_kinds:?}", per_case("case_events"));
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
        for i in 0..d["decision_id"].len() {
            let code = d["paragraph"][i].as_deref().unwrap();
            let applied = int(&d["applied_on"][i]).unwrap() as Day;
            assert_eq!(code.starts_with("BL:"), applied >= law_change, "{code} applied on day {applied}");
            let decided = int(&d["decided_on"][i]);
            assert_eq!(decided.is_some(), d["outcome"][i].is_some());
            open += usize::from(decided.is_none());
            letters += usize::from(d["delay_letter_on"][i].is_some());
            match deadline_rule(code) {
                Some(span) => {
                    with_deadline += 1;
                    late += usize::from(decided.is_some_and(|x| x > i64::from(deadline(applied, span))));
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
        let professional = n["professional"].iter().flatten().filter(|p| *p == "true").count() as f64 / rows("notifications");
        assert!((0.5..0.7).contains(&professional), "professional share {professional}");
        assert!(n["assessed_at"].iter().any(Option::is_none));
        let (mut night, mut weekend, mut late_assessment) = (0, 0, 0);
        for i in 0..n["notification_id"].len() {
            let received = int(&n["received_at"][i]).unwrap() / MICROS_PER_SECOND;
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
        let changed = per_unit_year.iter().filter(|((unit, back), n)| *back == 0 && per_unit_year.get(&(*unit, 1)) != Some(*n)).count();
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
        assert_eq!(deadline(d("2026-01-31"), Span::Months(1)), d("2026-02-28"));
        assert_eq!(deadline_rule("BL:32.1.3"), Some(Span::Months(3)));
        assert_eq!(deadline_rule("BL:86"), Some(Span::WorkingDays(40)));
        assert_eq!(deadline_rule("SEL:41"), Some(Span::Weeks(8)));
        assert_eq!(deadline_rule("SEL:52.3.7"), None);
        assert_eq!(deadline_rule("BL:30"), None);
        assert_eq!(deadline_rule("SEL:11.3"), None);
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
        let leftovers: Vec<_> = fs::read_dir(tmp.path()).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".tmp")).collect();
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
                        .map(|c| datafusion::arrow::util::display::ArrayFormatter::try_new(c.as_ref(), &Default::default()).unwrap())
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
        let shaped = |seed| GenOptions { order: Order::Random, ids: IdStyle::Uuid, future_share: 0.1, skew: true, ..options(0.05, seed) };
        let (a, b, c) = (tmp.path().join("a"), tmp.path().join("b"), tmp.path().join("c"));
        generate(&shaped(11), &a).unwrap();
        generate(&shaped(11), &b).unwrap();
        generate(&shaped(12), &c).unwrap();
        let files = all_files(&a);
        assert_eq!(files.iter().map(|f| f.strip_prefix(&a).unwrap()).collect::<Vec<_>>(), all_files(&b).iter().map(|f| f.strip_prefix(&b).unwrap()).collect::<Vec<_>>());
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
        assert_eq!(plan_rule("BL:47"), Some(PlanDue::BeforeStart { acute_grace_months: None }));
    }
}
