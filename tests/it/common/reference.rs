//! A second implementation of the KPIs of docs/kpis.md in plain Rust, written from
//! the definitions in docs/kpis.md alone, so the SQL views can be checked against it. It favours being
//! obviously right over being fast: every figure is a loop over the checked rows. The
//! working-day calendar (Easter, closed days) and the elapsed-hours deadlines are computed
//! here too, independently of the engine's calendar and SQL functions.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, Weekday};
use chrono_tz::Europe::Copenhagen;
use cwkpi::kpi::KpiRow;
use cwkpi::rules::{DueFrom, KPI_IDS, Period, Span, prefix_matches};
use cwkpi::{CheckedExport, Rules};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Date32Type, Float64Type, Int64Type, TimestampMicrosecondType};

pub struct Case {
    pub id: String,
    pub unit: String,
    pub opened: NaiveDate,
    pub closed: Option<NaiveDate>,
}

pub struct Measure {
    pub id: String,
    pub case: String,
    pub paragraph: String,
    pub started: NaiveDate,
    pub ended: Option<NaiveDate>,
    pub decided: Option<NaiveDate>,
    pub acute: bool,
    pub monthly_cost: Option<f64>,
}

pub struct Posting {
    pub unit: String,
    pub account: String,
    pub posted: NaiveDate,
    pub amount: f64,
}

pub struct Budget {
    pub unit: String,
    pub year: i64,
    pub account: String,
    pub month: Option<i64>,
    pub amount: f64,
}

pub struct Investigation {
    pub id: String,
    pub case: String,
    pub started: NaiveDate,
    pub completed: Option<NaiveDate>,
    pub aware: Option<NaiveDate>,
}

pub struct Plan {
    pub case: String,
    pub created: NaiveDate,
}

pub struct FollowUp {
    pub case: String,
    pub performed: NaiveDate,
    pub measure: Option<String>,
    pub next_due: Option<NaiveDate>,
}

/// An application and its decision (further table `decisions`).
pub struct Decision {
    pub id: String,
    pub case: String,
    pub paragraph: String,
    pub applied: NaiveDate,
    pub decided: Option<NaiveDate>,
    pub delay_letter: Option<NaiveDate>,
}

/// A notification (underretning); instants are µs since the epoch (UTC).
pub struct Notification {
    pub id: String,
    pub unit: String,
    pub received_at: i64,
    pub assessed_at: Option<i64>,
    pub professional: bool,
    pub receipt_confirmed: Option<NaiveDate>,
}

pub struct Complaint {
    pub id: String,
    pub unit: String,
    pub received: NaiveDate,
    pub kind: String,
}

/// A step of the case process (further table `case_events`).
pub struct Event {
    pub case: String,
    pub kind: String,
    pub occurred: NaiveDate,
}

/// The kept rows of the core tables and of the further tables the KPIs read, as plain
/// structs (an absent further table gives no rows).
pub struct Data {
    /// unit_id → parent_id
    pub units: BTreeMap<String, Option<String>>,
    pub cases: Vec<Case>,
    pub measures: Vec<Measure>,
    pub investigations: Vec<Investigation>,
    pub plans: Vec<Plan>,
    pub follow_ups: Vec<FollowUp>,
    pub decisions: Vec<Decision>,
    pub notifications: Vec<Notification>,
    pub complaints: Vec<Complaint>,
    /// None when the export has no `case_events` table at all (unknown, not unlawful);
    /// Some (possibly empty) when the table is there.
    pub events: Option<Vec<Event>>,
    pub postings: Vec<Posting>,
    /// None when the export has no `budgets` table (no budget figures at all).
    pub budgets: Option<Vec<Budget>>,
}

/// The kept rows of a further table, or None when the export lacks it or it has no rows.
fn kept_further<'a>(export: &'a CheckedExport, table: &str) -> Option<&'a RecordBatch> {
    export.table(table).map(|t| &t.kept).filter(|b| b.num_rows() > 0)
}

/// Instants as µs since the epoch; the checked column is a zoned timestamp (an instant).
fn instants(b: &RecordBatch, col: &str) -> Vec<Option<i64>> {
    let a = b.column_by_name(col).unwrap_or_else(|| panic!("column {col}")).as_primitive::<TimestampMicrosecondType>();
    (0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i))).collect()
}

fn kept<'a>(export: &'a CheckedExport, table: &str) -> &'a RecordBatch {
    &export.table(table).unwrap_or_else(|| panic!("table {table} not in the export")).kept
}

fn strings(b: &RecordBatch, col: &str) -> Vec<Option<String>> {
    // A column that repeats a few values is held as a dictionary: read as the text it holds.
    let a = b.column_by_name(col).unwrap_or_else(|| panic!("column {col}"));
    let a = datafusion::arrow::compute::cast(a, &datafusion::arrow::datatypes::DataType::Utf8).expect("text");
    let a = a.as_string::<i32>();
    (0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i).to_string())).collect()
}

fn required_strings(b: &RecordBatch, col: &str) -> Vec<String> {
    strings(b, col).into_iter().map(|s| s.unwrap_or_else(|| panic!("null in kept {col}"))).collect()
}

fn dates(b: &RecordBatch, col: &str) -> Vec<Option<NaiveDate>> {
    let a = b.column_by_name(col).unwrap_or_else(|| panic!("column {col}")).as_primitive::<Date32Type>();
    (0..a.len()).map(|i| if a.is_valid(i) { a.value_as_date(i) } else { None }).collect()
}

fn required_dates(b: &RecordBatch, col: &str) -> Vec<NaiveDate> {
    dates(b, col).into_iter().map(|d| d.unwrap_or_else(|| panic!("null in kept {col}"))).collect()
}

/// A missing or null flag is false (docs/export.md).
fn numbers(b: &RecordBatch, col: &str) -> Vec<Option<f64>> {
    let a = b.column_by_name(col).unwrap_or_else(|| panic!("column {col}")).as_primitive::<Float64Type>();
    (0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i))).collect()
}

fn integers(b: &RecordBatch, col: &str) -> Vec<Option<i64>> {
    let a = b.column_by_name(col).unwrap_or_else(|| panic!("column {col}")).as_primitive::<Int64Type>();
    (0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i))).collect()
}

fn flags(b: &RecordBatch, col: &str) -> Vec<bool> {
    let a = b.column_by_name(col).unwrap_or_else(|| panic!("column {col}")).as_boolean();
    (0..a.len()).map(|i| a.is_valid(i) && a.value(i)).collect()
}

impl Data {
    pub fn from_export(export: &CheckedExport) -> Data {
        let u = kept(export, "units");
        let units = required_strings(u, "unit_id").into_iter().zip(strings(u, "parent_id")).collect();

        let c = kept(export, "cases");
        let cases = itertools4(
            required_strings(c, "case_id"),
            required_strings(c, "unit_id"),
            required_dates(c, "opened_on"),
            dates(c, "closed_on"),
        )
        .map(|(id, unit, opened, closed)| Case { id, unit, opened, closed })
        .collect();

        let m = kept(export, "measures");
        let (ended, decided, acute) = (dates(m, "ended_on"), dates(m, "decided_on"), flags(m, "acute"));
        let costs = numbers(m, "monthly_cost_dkk");
        let measures = itertools4(
            required_strings(m, "measure_id"),
            required_strings(m, "case_id"),
            required_strings(m, "paragraph"),
            required_dates(m, "started_on"),
        )
        .enumerate()
        .map(|(i, (id, case, paragraph, started))| Measure {
            id,
            case,
            paragraph,
            started,
            ended: ended[i],
            decided: decided[i],
            acute: acute[i],
            monthly_cost: costs[i],
        })
        .collect();

        let v = kept(export, "investigations");
        let aware = dates(v, "aware_on");
        let investigations = itertools4(
            required_strings(v, "investigation_id"),
            required_strings(v, "case_id"),
            required_dates(v, "started_on"),
            dates(v, "completed_on"),
        )
        .enumerate()
        .map(|(i, (id, case, started, completed))| Investigation { id, case, started, completed, aware: aware[i] })
        .collect();

        let p = kept(export, "action_plans");
        let plans = required_strings(p, "case_id")
            .into_iter()
            .zip(required_dates(p, "created_on"))
            .map(|(case, created)| Plan { case, created })
            .collect();

        let f = kept(export, "follow_ups");
        let follow_ups = itertools4(
            required_strings(f, "case_id"),
            required_dates(f, "performed_on"),
            strings(f, "measure_id"),
            dates(f, "next_due_on"),
        )
        .map(|(case, performed, measure, next_due)| FollowUp { case, performed, measure, next_due })
        .collect();

        let mut decisions = Vec::new();
        if let Some(a) = kept_further(export, "decisions") {
            let (decided, letter) = (dates(a, "decided_on"), dates(a, "delay_letter_on"));
            decisions = itertools4(
                required_strings(a, "decision_id"),
                required_strings(a, "case_id"),
                required_strings(a, "paragraph"),
                required_dates(a, "applied_on"),
            )
            .enumerate()
            .map(|(i, (id, case, paragraph, applied))| Decision {
                id,
                case,
                paragraph,
                applied,
                decided: decided[i],
                delay_letter: letter[i],
            })
            .collect();
        }
        let mut notifications = Vec::new();
        if let Some(n) = kept_further(export, "notifications") {
            let (assessed, professional, confirmed) =
                (instants(n, "assessed_at"), flags(n, "professional"), dates(n, "receipt_confirmed_on"));
            let received =
                instants(n, "received_at").into_iter().map(|x| x.expect("null in kept received_at")).collect();
            notifications =
                itertools4(required_strings(n, "notification_id"), required_strings(n, "unit_id"), received, assessed)
                    .enumerate()
                    .map(|(i, (id, unit, received_at, assessed_at))| Notification {
                        id,
                        unit,
                        received_at,
                        assessed_at,
                        professional: professional[i],
                        receipt_confirmed: confirmed[i],
                    })
                    .collect();
        }
        let mut complaints = Vec::new();
        if let Some(c) = kept_further(export, "complaints") {
            complaints = itertools4(
                required_strings(c, "complaint_id"),
                required_strings(c, "unit_id"),
                required_dates(c, "received_on"),
                required_strings(c, "kind"),
            )
            .map(|(id, unit, received, kind)| Complaint { id, unit, received, kind })
            .collect();
        }

        // Absent and present-but-empty differ here: only an absent table gives no checklist.
        let events = export.table("case_events").filter(|t| t.present).map(|t| {
            let e = &t.kept;
            required_strings(e, "case_id")
                .into_iter()
                .zip(required_strings(e, "kind"))
                .zip(required_dates(e, "occurred_on"))
                .map(|((case, kind), occurred)| Event { case, kind, occurred })
                .collect()
        });

        let mut postings = Vec::new();
        if let Some(p) = kept_further(export, "postings") {
            let amounts = numbers(p, "amount_dkk");
            postings = itertools4(
                required_strings(p, "unit_id"),
                required_strings(p, "account"),
                required_dates(p, "posted_on"),
                amounts.into_iter().map(|a| a.expect("null in kept amount_dkk")).collect(),
            )
            .map(|(unit, account, posted, amount)| Posting { unit, account, posted, amount })
            .collect();
        }
        let budgets = export.table("budgets").filter(|t| t.present).map(|t| {
            let b = &t.kept;
            let (years, months, amounts) = (integers(b, "year"), integers(b, "month"), numbers(b, "amount_dkk"));
            required_strings(b, "unit_id")
                .into_iter()
                .zip(required_strings(b, "account"))
                .enumerate()
                .map(|(i, (unit, account))| Budget {
                    unit,
                    year: years[i].expect("null in kept year"),
                    account,
                    month: months[i],
                    amount: amounts[i].expect("null in kept amount_dkk"),
                })
                .collect()
        });

        Data {
            units,
            cases,
            measures,
            investigations,
            plans,
            follow_ups,
            decisions,
            notifications,
            complaints,
            events,
            postings,
            budgets,
        }
    }

    /// The unit itself and every unit above it.
    fn ancestors(&self, unit: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut current = Some(unit.to_string());
        while let Some(u) = current {
            assert!(out.len() <= self.units.len(), "cycle in the kept unit tree at {unit}");
            current = self.units.get(&u).cloned().flatten();
            out.push(u);
        }
        out
    }
}

fn itertools4<A, B, C, D>(a: Vec<A>, b: Vec<B>, c: Vec<C>, d: Vec<D>) -> impl Iterator<Item = (A, B, C, D)> {
    assert!(a.len() == b.len() && b.len() == c.len() && c.len() == d.len());
    a.into_iter().zip(b).zip(c).zip(d).map(|(((a, b), c), d)| (a, b, c, d))
}

/// Calendar arithmetic: months first (clamping at month end), then days.
pub fn add_span(d: NaiveDate, span: Span) -> NaiveDate {
    let months = u32::try_from(span.months).expect("spans are not negative");
    let days = u64::try_from(span.days).expect("spans are not negative");
    d.checked_add_months(Months::new(months)).and_then(|d| d.checked_add_days(Days::new(days))).expect("date in range")
}

/// Easter Sunday by the Gauss/Oudin computus (Gregorian calendar).
pub fn easter(year: i32) -> NaiveDate {
    let (y, c, n) = (year, year / 100, year % 19);
    let k = (c - 17) / 25;
    let mut i = c - c / 4 - (c - k) / 3 + 19 * n + 15;
    i %= 30;
    i -= (i / 28) * (1 - (i / 28) * (29 / (i + 1)) * ((21 - n) / 11));
    let mut j = y + y / 4 + i + 2 - c + c / 4;
    j %= 7;
    let l = i - j;
    let month = 3 + (l + 40) / 44;
    let day = l + 28 - 31 * (month / 4);
    NaiveDate::from_ymd_opt(year, month as u32, day as u32).expect("Easter is a date")
}

/// The Danish public offices' closed days of docs/rules.md for one year, plus the rules' own.
pub fn closed_days(year: i32) -> Vec<NaiveDate> {
    let e = easter(year);
    let after_easter = |n: i64| if n >= 0 { e + Days::new(n as u64) } else { e - Days::new((-n) as u64) };
    let fixed = |m: u32, d: u32| NaiveDate::from_ymd_opt(year, m, d).expect("fixed closed day");
    let mut days = vec![
        fixed(1, 1),
        after_easter(-3), // Maundy Thursday
        after_easter(-2), // Good Friday
        after_easter(1),  // Easter Monday
        after_easter(39), // Ascension Day
        after_easter(50), // Whit Monday
        fixed(6, 5),
        fixed(12, 24),
        fixed(12, 25),
        fixed(12, 26),
        fixed(12, 31),
    ];
    // Great Prayer Day: the fourth Friday after Easter, abolished from 2024.
    if year <= 2023 {
        days.push(after_easter(26));
    }
    days
}

/// The working-day calendar of a set of rules.
pub struct WorkCalendar {
    closed: BTreeSet<NaiveDate>,
}

impl WorkCalendar {
    pub fn new(rules: &Rules) -> WorkCalendar {
        let mut closed: BTreeSet<NaiveDate> = (2015..=2035).flat_map(closed_days).collect();
        closed.extend(rules.calendar.extra_closed_days.iter().copied());
        WorkCalendar { closed }
    }

    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !self.closed.contains(&d)
    }

    /// The n-th working day strictly after `start`.
    pub fn nth_working_day_after(&self, start: NaiveDate, n: u32) -> NaiveDate {
        let (mut day, mut counted) = (start, 0);
        while counted < n {
            day = day.succ_opt().expect("date in range");
            if self.is_working_day(day) {
                counted += 1;
            }
        }
        day
    }

    /// A date plus a period counted in days, weeks, months or working days.
    pub fn add_period(&self, start: NaiveDate, period: Period) -> NaiveDate {
        match period {
            Period::Calendar(span) => add_span(start, span),
            Period::WorkingDays(n) => self.nth_working_day_after(start, n),
            Period::Hours(_) => panic!("a date deadline counted in hours"),
        }
    }
}

/// The case-processing deadline rule of a paragraph code: the longest matching prefix.
pub fn case_deadline_rule<'r>(rules: &'r Rules, code: &str) -> Option<&'r cwkpi::rules::CaseDeadline> {
    let mut best: Option<&cwkpi::rules::CaseDeadline> = None;
    for r in &rules.case_deadlines {
        if prefix_matches(&r.prefix, code) && best.is_none_or(|b| r.prefix.len() > b.prefix.len()) {
            best = Some(r);
        }
    }
    best
}

/// An application's deadline: `applied_on` + its rule's span, None without a rule.
pub fn decision_deadline(rules: &Rules, cal: &WorkCalendar, paragraph: &str, applied: NaiveDate) -> Option<NaiveDate> {
    case_deadline_rule(rules, paragraph).map(|r| cal.add_period(applied, r.within))
}

const MICROS_PER_HOUR: i64 = 3_600_000_000;

/// The Copenhagen calendar date of an instant (µs since the epoch).
pub fn copenhagen_date(micros: i64) -> NaiveDate {
    DateTime::from_timestamp_micros(micros).expect("instant in range").with_timezone(&Copenhagen).date_naive()
}

/// The assessment deadline of a notification received at `received`: elapsed hours.
pub fn assessment_deadline(rules: &Rules, received: i64) -> i64 {
    let Period::Hours(h) = rules.notification_assess_within else { panic!("assessment limit is not in hours") };
    received + i64::from(h) * MICROS_PER_HOUR
}

/// The receipt-confirmation deadline: the Copenhagen date received + days or working days.
pub fn receipt_deadline(rules: &Rules, cal: &WorkCalendar, received: i64) -> NaiveDate {
    cal.add_period(copenhagen_date(received), rules.notification_confirm_within)
}

/// The complaints baseline B at T: the rules' calendar year, else T−729 … T−365.
pub fn complaints_baseline(rules: &Rules, t: NaiveDate) -> (NaiveDate, NaiveDate) {
    match rules.baseline_year {
        Some(y) => (NaiveDate::from_ymd_opt(y, 1, 1).expect("year"), NaiveDate::from_ymd_opt(y, 12, 31).expect("year")),
        None => (t - Days::new(729), t - Days::new(365)),
    }
}

/// Complaints are lower-is-better: met when share ≤ target.
pub fn lower_is_better(kpi: &str) -> bool {
    kpi.starts_with("complaints_") || kpi == "budget_forecast"
}

fn case_active(c: &Case, t: NaiveDate) -> bool {
    c.opened <= t && c.closed.is_none_or(|closed| closed >= t)
}

fn measure_active(m: &Measure, t: NaiveDate) -> bool {
    m.started <= t && m.ended.is_none_or(|ended| ended >= t)
}

fn investigation_open(v: &Investigation, t: NaiveDate) -> bool {
    v.started <= t && v.completed.is_none_or(|completed| completed > t)
}

/// The plan due date of a measure whose rule requires an action plan, else None.
pub fn plan_due(m: &Measure, rules: &Rules) -> Option<NaiveDate> {
    let rule = rules.rule_for(&m.paragraph)?;
    // An acute measure gets the grace where its rule grants one, else the general due date.
    let due = if m.acute { rule.acute_action_plan.or(rule.action_plan) } else { rule.action_plan }?;
    let from = match due.from {
        DueFrom::Start => m.started,
        DueFrom::Decision => m.decided.unwrap_or(m.started),
    };
    Some(add_span(from, due.within))
}

/// The due date for a plan-KPI measure at T: None when it needs no plan, has not started
/// by T, or its requirement lapsed (ended before the due date).
fn plan_due_counting(m: &Measure, rules: &Rules, t: NaiveDate) -> Option<NaiveDate> {
    let due = plan_due(m, rules)?;
    (m.started <= t && m.ended.is_none_or(|ended| ended >= due)).then_some(due)
}

fn needs_follow_up(m: &Measure, rules: &Rules) -> bool {
    rules.rule_for(&m.paragraph).is_some_and(|r| r.follow_up)
}

/// Follow-up due date of m at T (docs/kpis.md).
pub fn follow_up_due(m: &Measure, follow_ups: &[&FollowUp], rules: &Rules, t: NaiveDate) -> NaiveDate {
    let relevant: Vec<&&FollowUp> = follow_ups
        .iter()
        .filter(|f| f.case == m.case)
        .filter(|f| f.measure.as_ref().is_none_or(|id| *id == m.id))
        .filter(|f| m.started <= f.performed && f.performed <= t)
        .collect();
    let Some(last) = relevant.iter().map(|f| f.performed).max() else {
        return add_span(m.started, rules.follow_up_first);
    };
    // Several follow-ups on L's date: the latest next_due_on set among them counts.
    let next = relevant.iter().filter(|f| f.performed == last).filter_map(|f| f.next_due).max();
    next.unwrap_or_else(|| add_span(last, rules.follow_up_every))
}

/// One thing counted in a KPI's denominator, and whether it is in the numerator.
#[derive(Debug, Clone)]
pub struct Item {
    pub kpi: &'static str,
    pub case_id: String,
    /// The case's unit; the item counts there and in every unit above.
    pub unit_id: String,
    /// The measure or investigation counted, or the case for case-level KPIs.
    pub entity: String,
    pub in_numerator: bool,
    /// Counted in the denominator (always, except complaints received in W only).
    pub in_denominator: bool,
    /// What decided the figure (due date, deadline …), for messages.
    pub note: String,
}

/// Every item of the twelve KPIs at T, before the roll-up over the unit tree.
pub fn reference_items(data: &Data, rules: &Rules, t: NaiveDate) -> Vec<Item> {
    let window_start = t - Days::new(364);
    let case_by_id: HashMap<&str, &Case> = data.cases.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut measures_of: HashMap<&str, Vec<&Measure>> = HashMap::new();
    for m in &data.measures {
        measures_of.entry(m.case.as_str()).or_default().push(m);
    }
    let mut plans_of: HashMap<&str, Vec<NaiveDate>> = HashMap::new();
    for p in &data.plans {
        plans_of.entry(p.case.as_str()).or_default().push(p.created);
    }
    let mut follow_ups_of: HashMap<&str, Vec<&FollowUp>> = HashMap::new();
    for f in &data.follow_ups {
        follow_ups_of.entry(f.case.as_str()).or_default().push(f);
    }
    let has_plan_by = |case: &str, day: NaiveDate| plans_of.get(case).is_some_and(|ps| ps.iter().any(|&p| p <= day));
    let mut events_of: HashMap<&str, Vec<&Event>> = HashMap::new();
    for e in data.events.iter().flatten() {
        events_of.entry(e.case.as_str()).or_default().push(e);
    }
    let mut investigations_of: HashMap<&str, Vec<&Investigation>> = HashMap::new();
    for v in &data.investigations {
        investigations_of.entry(v.case.as_str()).or_default().push(v);
    }
    let mut items = Vec::new();
    let mut push = |kpi: &'static str, case: &Case, entity: &str, in_numerator: bool, note: String| {
        items.push(Item {
            kpi,
            case_id: case.id.clone(),
            unit_id: case.unit.clone(),
            entity: entity.to_string(),
            in_numerator,
            in_denominator: true,
            note,
        })
    };

    for c in &data.cases {
        let measures = measures_of.get(c.id.as_str()).map(Vec::as_slice).unwrap_or_default();
        if case_active(c, t) {
            // plan_coverage: an active measure whose plan is due by T.
            let due: Vec<(&str, NaiveDate)> = measures
                .iter()
                .filter(|m| measure_active(m, t))
                .filter_map(|m| plan_due_counting(m, rules, t).map(|d| (m.id.as_str(), d)))
                .filter(|(_, d)| *d <= t)
                .collect();
            if !due.is_empty() {
                push("plan_coverage", c, &c.id, has_plan_by(&c.id, t), format!("due {due:?}"));
            }
            // follow_up_on_time: no active follow-up measure overdue at T.
            let fus = follow_ups_of.get(c.id.as_str()).map(Vec::as_slice).unwrap_or_default();
            let dues: Vec<(&str, NaiveDate)> = measures
                .iter()
                .filter(|m| measure_active(m, t) && needs_follow_up(m, rules))
                .map(|m| (m.id.as_str(), follow_up_due(m, fus, rules, t)))
                .collect();
            let on_time = dues.iter().all(|(_, due)| *due >= t);
            if !dues.is_empty() {
                push("follow_up_on_time", c, &c.id, on_time, format!("follow-up due {dues:?}"));
            }
            // lawful_case (§4b): only with a case_events table, for a case with an active measure.
            if data.events.is_some() && measures.iter().any(|m| measure_active(m, t)) {
                let events = events_of.get(c.id.as_str()).map(Vec::as_slice).unwrap_or_default();
                let event_by = |kind: &str, from: NaiveDate| {
                    events.iter().any(|e| e.kind == kind && from <= e.occurred && e.occurred <= t)
                };
                let investigations = investigations_of.get(c.id.as_str()).map(Vec::as_slice).unwrap_or_default();
                let elements = [
                    (
                        "investigated",
                        investigations.iter().any(|v| v.completed.is_some_and(|done| done <= t))
                            || event_by("maalgruppeafklaring", NaiveDate::MIN),
                    ),
                    ("child_heard", event_by("boernesamtale", window_start)),
                    ("parties_consulted", event_by("partshoering", NaiveDate::MIN)),
                    ("decision_with_guidance", event_by("afgoerelse_med_klagevejledning", NaiveDate::MIN)),
                    // No plan missing in plan_coverage's sense; a case needing none meets it.
                    ("plan", due.is_empty() || has_plan_by(&c.id, t)),
                    // None of its follow-up measures overdue (also met with none).
                    ("followed_up", on_time),
                ];
                let missing: Vec<&str> = elements.iter().filter(|(_, ok)| !ok).map(|(name, _)| *name).collect();
                push("lawful_case", c, &c.id, missing.is_empty(), format!("missing {missing:?}"));
            }
        }
        // plan_on_time: per measure, whatever the case's state at T.
        for m in measures {
            if let Some(due) = plan_due_counting(m, rules, t)
                && window_start <= due
                && due <= t
            {
                push("plan_on_time", c, &m.id, has_plan_by(&c.id, due), format!("due {due}"));
            }
        }
    }

    for v in &data.investigations {
        let c = case_by_id[v.case.as_str()];
        let deadline = add_span(v.aware.unwrap_or(v.started), rules.investigation_limit);
        if investigation_open(v, t) {
            push("investigation_within_limit", c, &v.id, t <= deadline, format!("deadline {deadline}"));
        }
        if let Some(done) = v.completed
            && window_start <= done
            && done <= t
        {
            let note = format!("completed {done}, deadline {deadline}");
            push("investigation_completed_within_limit", c, &v.id, done <= deadline, note);
        }
    }

    // §4b: applications whose deadline falls in W, at their case's unit.
    let cal = WorkCalendar::new(rules);
    for a in &data.decisions {
        let c = case_by_id[a.case.as_str()];
        let Some(deadline) = decision_deadline(rules, &cal, &a.paragraph, a.applied) else { continue };
        if a.applied > t || deadline < window_start || deadline > t {
            continue;
        }
        let decided_in_time = a.decided.is_some_and(|d| d <= deadline);
        let note =
            format!("applied {} deadline {deadline} decided {:?} letter {:?}", a.applied, a.decided, a.delay_letter);
        push("decision_within_deadline", c, &a.id, decided_in_time, note.clone());
        if !decided_in_time {
            push("delay_letter_sent", c, &a.id, a.delay_letter.is_some_and(|l| l <= deadline), note);
        }
    }

    // Notifications and complaints sit at their own unit.
    let mut own =
        |kpi: &'static str, unit: &str, entity: &str, in_numerator: bool, in_denominator: bool, note: String| {
            items.push(Item {
                kpi,
                case_id: String::new(),
                unit_id: unit.to_string(),
                entity: entity.to_string(),
                in_numerator,
                in_denominator,
                note,
            })
        };
    for n in &data.notifications {
        let received_on = copenhagen_date(n.received_at);
        if received_on > t {
            continue;
        }
        let deadline_at = assessment_deadline(rules, n.received_at);
        let deadline_on = copenhagen_date(deadline_at);
        if window_start <= deadline_on && deadline_on <= t {
            let note = format!("received {} deadline {} assessed {:?}", n.received_at, deadline_at, n.assessed_at);
            own(
                "notification_assessed_in_time",
                &n.unit,
                &n.id,
                n.assessed_at.is_some_and(|a| a <= deadline_at),
                true,
                note,
            );
        }
        if n.professional {
            let deadline = receipt_deadline(rules, &cal, n.received_at);
            if window_start <= deadline && deadline <= t {
                let note = format!(
                    "received on {received_on} receipt deadline {deadline} confirmed {:?}",
                    n.receipt_confirmed
                );
                own(
                    "notification_receipt_confirmed",
                    &n.unit,
                    &n.id,
                    n.receipt_confirmed.is_some_and(|r| r <= deadline),
                    true,
                    note,
                );
            }
        }
    }
    let (baseline_from, baseline_to) = complaints_baseline(rules, t);
    for c in &data.complaints {
        let kpi = match c.kind.as_str() {
            "formalitet" => "complaints_formalitet",
            "realitet" => "complaints_realitet",
            _ => continue,
        };
        if c.received > t {
            continue;
        }
        let in_window = window_start <= c.received;
        let in_baseline = baseline_from <= c.received && c.received <= baseline_to;
        if in_window || in_baseline {
            own(kpi, &c.unit, &c.id, in_window, in_baseline, format!("received {}", c.received));
        }
    }
    items
}

/// The KPI table of docs/kpis.md at T: every unit (sorted by id) × every KPI (in `KPI_IDS` order).
pub fn reference_kpis(export: &CheckedExport, rules: &Rules, as_of: NaiveDate) -> Vec<KpiRow> {
    let data = Data::from_export(export);
    rows_from_items(&data, rules, as_of, &reference_items(&data, rules, as_of))
}

/// Øre from kroner, as the engine reads an amount.
fn ore(kroner: f64) -> i128 {
    (kroner * 100.0).round() as i128
}

/// n / d rounded half away from zero, exactly.
fn round_div(n: i128, d: i128) -> i128 {
    let q = (2 * n.abs() + d.abs()) / (2 * d.abs());
    if (n < 0) != (d < 0) { -q } else { q }
}

/// The budget figures at T of each unit, not rolled up, in øre: (budget of the year,
/// actual in the closed months, commitments). Written from docs/kpis.md without the
/// views: periodisation month by month in exact integer arithmetic.
pub fn budget_figures(data: &Data, rules: &Rules, t: NaiveDate) -> BTreeMap<String, (i128, i128, i128)> {
    let mut out: BTreeMap<String, (i128, i128, i128)> = BTreeMap::new();
    let Some(budgets) = &data.budgets else { return out };
    let year = i64::from(t.year());
    let last_day = t.checked_add_days(Days::new(1)).is_some_and(|next| next.day() == 1);
    let closed = i64::from(t.month()) - if last_day { 0 } else { 1 };
    // Postings per key and (year, month).
    let mut posted: BTreeMap<(&str, &str, i64, i64), i128> = BTreeMap::new();
    for p in &data.postings {
        *posted.entry((&p.unit, &p.account, i64::from(p.posted.year()), i64::from(p.posted.month()))).or_default() +=
            ore(p.amount);
    }
    let mut keys: BTreeSet<(&str, &str)> = BTreeSet::new();
    keys.extend(budgets.iter().filter(|b| b.year == year).map(|b| (b.unit.as_str(), b.account.as_str())));
    keys.extend(posted.keys().filter(|k| k.2 == year).map(|k| (k.0, k.1)));
    for (unit, account) in keys {
        let rows: Vec<&Budget> =
            budgets.iter().filter(|b| b.unit == unit && b.account == account && b.year == year).collect();
        let mut months = [0i128; 12];
        if rows.iter().any(|b| b.month.is_some()) {
            for b in rows.iter().filter(|b| b.month.is_some()) {
                months[(b.month.unwrap_or(1) - 1) as usize] += ore(b.amount);
            }
        } else if let Some(b) = rows.first() {
            let a = ore(b.amount);
            let last: Vec<i128> =
                (1..=12).map(|m| posted.get(&(unit, account, year - 1, m)).copied().unwrap_or(0)).collect();
            let total: i128 = last.iter().sum();
            let by_last_year = rules.budget_periodisation == cwkpi::rules::Periodisation::LastYear
                && total > 0
                && last.iter().all(|&m| m >= 0);
            for m in 0..11 {
                months[m] = if by_last_year { round_div(a * last[m], total) } else { round_div(a, 12) };
            }
            months[11] = a - months[..11].iter().sum::<i128>();
        }
        let entry = out.entry(unit.to_string()).or_default();
        entry.0 += months.iter().sum::<i128>();
        entry.1 += (1..=closed).map(|m| posted.get(&(unit, account, year, m)).copied().unwrap_or(0)).sum::<i128>();
    }
    for m in data.measures.iter().filter(|m| measure_active(m, t)) {
        let (Some(cost), Some(case)) = (m.monthly_cost, data.cases.iter().find(|c| c.id == m.case)) else { continue };
        let last_month = match m.ended {
            Some(end) if i64::from(end.year()) <= year => i64::from(end.month()),
            _ => 12,
        };
        out.entry(case.unit.clone()).or_default().2 += ore(cost) * i128::from((last_month - closed).max(0));
    }
    out
}

pub fn rows_from_items(data: &Data, rules: &Rules, as_of: NaiveDate, items: &[Item]) -> Vec<KpiRow> {
    // (unit, kpi) → (numerator, denominator), over the unit and its descendants.
    let mut counts: HashMap<(String, &str), (i64, i64)> = HashMap::new();
    let mut ancestors: HashMap<&str, Vec<String>> = HashMap::new();
    for item in items {
        let above = ancestors.entry(item.unit_id.as_str()).or_insert_with(|| data.ancestors(&item.unit_id));
        for unit in above.iter() {
            let entry = counts.entry((unit.clone(), item.kpi)).or_default();
            entry.0 += i64::from(item.in_numerator);
            entry.1 += i64::from(item.in_denominator);
        }
    }
    // budget_forecast: amounts rolled up, then whole kroner (half away from zero).
    let mut budget: HashMap<String, (i128, i128, i128)> = HashMap::new();
    for (unit, figures) in budget_figures(data, rules, as_of) {
        for above in data.ancestors(&unit) {
            let entry = budget.entry(above).or_default();
            entry.0 += figures.0;
            entry.1 += figures.1;
            entry.2 += figures.2;
        }
    }
    for (unit, (year, actual, commitments)) in &budget {
        let kroner = |ore: i128| i64::try_from(round_div(ore, 100)).expect("kroner fit");
        counts.insert((unit.clone(), "budget_forecast"), (kroner(actual + commitments), kroner(*year)));
    }
    let mut rows = Vec::new();
    for unit in data.units.keys() {
        for kpi in KPI_IDS {
            let (numerator, denominator) = counts.get(&(unit.clone(), kpi)).copied().unwrap_or_default();
            let target = rules.target(kpi);
            // No denominator, no figure: share and met are null, not 0 or 1.
            let share = (denominator > 0).then(|| numerator as f64 / denominator as f64);
            rows.push(KpiRow {
                as_of,
                unit_id: unit.clone(),
                kpi_id: kpi.to_string(),
                numerator,
                denominator,
                share,
                target,
                met: share.map(|s| if lower_is_better(kpi) { s <= target } else { s >= target }),
            });
        }
    }
    rows
}

/// The items behind one (unit, kpi) figure, for mismatch messages.
pub fn explain(export: &CheckedExport, rules: &Rules, as_of: NaiveDate, unit: &str, kpi: &str) -> Vec<Item> {
    let data = Data::from_export(export);
    reference_items(&data, rules, as_of)
        .into_iter()
        .filter(|i| i.kpi == kpi && data.ancestors(&i.unit_id).iter().any(|u| u == unit))
        .collect()
}
