//! The further tables: notifications, applications and decisions, complaints, case events
//! and postings, derived from the facts each case chunk recorded.

use chrono::Datelike;
use datafusion::arrow::array::ArrayBuilder;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::cases::{YEAR, planned_count};
use super::codes::{
    BL_APPLICATIONS_DISABILITY, BL_APPLICATIONS_VULNERABLE, SEL_APPLICATIONS_DISABILITY, SEL_APPLICATIONS_VULNERABLE,
    account, case_deadline, pick_code,
};
use super::days::{
    Day, HOUR, MICROS_PER_SECOND, SECONDS_PER_DAY, add_months, add_working_days, date, day, day_of, existing_time,
    weekday,
};
use super::facts::{CaseFacts, MeasureFacts};
use super::ids::{Entity, Ids};
use super::organisation::{Center, Organisation, clamp01};
use super::random::{between, chance, pick_from, uniform};
use super::rows::{ComplaintRows, DecisionRows, EventRows, FurtherRows, NotificationRows, PostingRows};

/// Random streams of the further tables: chunk k draws from `FURTHER_STREAM + k`, the
/// departments' complaint trends from `DEPARTMENT_STREAM`. The organisation uses stream 0
/// and case chunk k stream k + 1, far below.
pub(super) const FURTHER_STREAM: u64 = 1 << 32;
pub(super) const DEPARTMENT_STREAM: u64 = 1 << 33;
/// Rows dated after the export date: chunk k's core rows draw from `PLANNED_STREAM + k`,
/// its postings from `PLANNED_FURTHER_STREAM + k`; drawn only when asked for, so without
/// them every other row is as before. The file layout's shuffle uses 1 << 35 on.
pub(super) const PLANNED_STREAM: u64 = 1 << 34;
pub(super) const PLANNED_FURTHER_STREAM: u64 = (1 << 34) + (1 << 33);
/// The budgets, made once every posting is.
pub(super) const BUDGET_STREAM: u64 = 1 << 36;

/// Years back from the export date over which complaint rates change (older ones use the
/// last).
pub(super) const TREND_YEARS: usize = 8;
/// Complaints per case-year at an average department: formalitet, realitet.
pub(super) const COMPLAINT_RATES: [f64; 2] = [0.014, 0.024];
pub(super) const COMPLAINT_KINDS: [&str; 2] = ["formalitet", "realitet"];

pub(super) fn round_ore(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// What the further tables know about a leaf unit beyond its core diligence.
pub(super) struct DepartmentTraits {
    /// 0 (sloppy) … 1 (diligent), from the leaf's diligence.
    pub(super) quality: f64,
    /// Complaint rate factors per kind (formalitet, realitet) and year back from the
    /// export date: each department's complaints rise or fall over the years.
    pub(super) complaint_factors: [[f64; TREND_YEARS]; 2],
}

pub(super) fn department_traits(org: &Organisation, rng: &mut ChaCha8Rng) -> Vec<DepartmentTraits> {
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

pub(super) struct FurtherCounters {
    pub(super) notification: u64,
    pub(super) decision: u64,
    pub(super) complaint: u64,
    pub(super) event: u64,
    pub(super) posting: u64,
}

pub(super) struct FurtherMaker<'a> {
    pub(super) org: &'a Organisation,
    pub(super) ids: Ids,
    pub(super) traits: Vec<DepartmentTraits>,
    pub(super) as_of: Day,
    pub(super) history_start: Day,
    pub(super) law_change: Day,
    pub(super) counters: FurtherCounters,
    /// One case's events before they are sorted by date (reused).
    pub(super) events: Vec<(Day, &'static str)>,
    /// What each cost centre spent, for its budgets.
    pub(super) spending: super::budgets::Spending,
}

/// A notification's ties: the child and case it concerns, if any.
pub(super) struct Concerns {
    pub(super) child: Option<u64>,
    pub(super) case: Option<u64>,
}

impl FurtherMaker<'_> {
    pub(super) fn make_chunk(&mut self, rng: &mut ChaCha8Rng, facts: &[CaseFacts], rows: &mut FurtherRows) {
        for case in facts {
            self.notifications(rng, case, &mut rows.notifications);
            self.decisions(rng, case, &mut rows.decisions);
            self.complaints(rng, case, &mut rows.complaints);
            self.events(rng, case, &mut rows.events);
            self.postings(rng, case, &mut rows.postings);
        }
    }

    pub(super) fn case_end(&self, case: &CaseFacts) -> Day {
        case.closed.unwrap_or(self.as_of).min(self.as_of)
    }

    /// The notification that opened many a vulnerable child's case, later ones about a
    /// child with a case, and ones that led to no case (about half a notification a case).
    pub(super) fn notifications(&mut self, rng: &mut ChaCha8Rng, case: &CaseFacts, rows: &mut NotificationRows) {
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

    pub(super) fn notification(
        &mut self,
        rng: &mut ChaCha8Rng,
        rows: &mut NotificationRows,
        leaf: usize,
        received: Day,
        concerns: Concerns,
    ) {
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
        let assessed_at = delay.map(|s| existing_time(received_at + i64::from(s))).filter(|&t| day_of(t) <= as_of);
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
    pub(super) fn decisions(&mut self, rng: &mut ChaCha8Rng, case: &CaseFacts, rows: &mut DecisionRows) {
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
            let due = case_deadline(paragraph, applied);
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
    pub(super) fn complaints(&mut self, rng: &mut ChaCha8Rng, case: &CaseFacts, rows: &mut ComplaintRows) {
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
    pub(super) fn events(&mut self, rng: &mut ChaCha8Rng, case: &CaseFacts, rows: &mut EventRows) {
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
    pub(super) fn postings(&mut self, rng: &mut ChaCha8Rng, case: &CaseFacts, rows: &mut PostingRows) {
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

    pub(super) fn posting(&mut self, rows: &mut PostingRows, p: &Posting, posted: Day, amount: f64, on_case: bool) {
        self.counters.posting += 1;
        self.ids.push(&mut rows.posting_id, Entity::Posting, self.counters.posting);
        rows.unit_id.append_value(&self.org.leaves[p.unit].unit_id);
        rows.account.append_value(p.account);
        self.spending.add(p.unit, p.account, posted, amount);
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
    pub(super) fn planned_postings(
        &mut self,
        rng: &mut ChaCha8Rng,
        share: f64,
        facts: &[CaseFacts],
        rows: &mut PostingRows,
    ) {
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
pub(super) struct Posting {
    pub(super) unit: usize,
    pub(super) account: &'static str,
    pub(super) case: u64,
    pub(super) measure: u64,
}
