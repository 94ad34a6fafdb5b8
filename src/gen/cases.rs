//! The case maker: children, cases, measures, investigations, action plans and follow-ups,
//! chunk by chunk from the chunk's own random stream.

use std::collections::VecDeque;
use std::fmt::Write as _;

use chrono::Datelike;
use datafusion::arrow::array::ArrayBuilder;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::codes::Kind::*;
use super::codes::{
    BL_DISABILITY, BL_VULNERABLE, SEL_DISABILITY, SEL_VULNERABLE, monthly_cost, pick_code, plan_due, plan_rule,
    provider,
};
use super::days::{Day, add_months, date};
use super::facts::{CaseFacts, MeasureFacts};
use super::ids::{Entity, Ids};
use super::organisation::{Center, Organisation};
use super::random::{between, chance, pick, pick_from};
use super::rows::{ChildRows, ChunkRows, FollowUpRows, InvestigationRows, MeasureRows, PlanRows};

/// Running id counters, so ids stay unique across chunks.
#[derive(Default)]
pub(super) struct Counters {
    pub(super) child: u64,
    pub(super) measure: u64,
    pub(super) investigation: u64,
    pub(super) plan: u64,
    pub(super) follow_up: u64,
}

/// A child whose case has closed and who may come back with a new case.
pub(super) struct FormerChild {
    pub(super) number: u64,
    pub(super) birth: Day,
    pub(super) free_from: Day,
}

pub(super) struct CaseMaker<'a> {
    pub(super) org: &'a Organisation,
    pub(super) ids: Ids,
    pub(super) as_of: Day,
    pub(super) history_start: Day,
    pub(super) law_change: Day,
    pub(super) total_cases: u64,
    pub(super) counters: Counters,
}

pub(super) const YEAR: i32 = 365;

impl CaseMaker<'_> {
    pub(super) fn make_chunk(&mut self, rng: &mut ChaCha8Rng, first: u64, last: u64, rows: &mut ChunkRows) {
        let mut former_children: VecDeque<FormerChild> = VecDeque::with_capacity(64);
        for n in first..=last {
            self.make_case(rng, n, rows, &mut former_children);
        }
    }

    /// Opening dates rise with the case number (case numbers are issued in order), with
    /// a little jitter.
    pub(super) fn opening_day(&self, rng: &mut ChaCha8Rng, n: u64) -> Day {
        let span = i64::from(self.as_of - self.history_start);
        let offset = (n.saturating_sub(1) as i64 * span / self.total_cases.max(1) as i64) as i32;
        (self.history_start + offset + between(rng, 0, 20)).min(self.as_of)
    }

    pub(super) fn make_case(
        &mut self,
        rng: &mut ChaCha8Rng,
        n: u64,
        rows: &mut ChunkRows,
        former: &mut VecDeque<FormerChild>,
    ) {
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

        let closed =
            if still_running { None } else { Some(latest_event + between(rng, 5, 60)).filter(|&c| c <= as_of) };
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

    pub(super) fn new_child(
        &mut self,
        rng: &mut ChaCha8Rng,
        center: Center,
        opened: Day,
        rows: &mut ChildRows,
    ) -> (u64, Day) {
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
    pub(super) fn investigation(
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
    pub(super) fn measure(
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
    pub(super) fn plans(
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
            let Some(due) = m.rule.and_then(|rule| plan_due(rule, m.started, m.decided, m.acute)) else { continue };
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
    pub(super) fn follow_ups(
        &mut self,
        rng: &mut ChaCha8Rng,
        rows: &mut FollowUpRows,
        case: u64,
        m: &MeasureFacts,
        case_end: Day,
        diligence: f64,
    ) {
        if !m.needs_follow_up() {
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
            let performed = if chance(rng, diligence) { due - between(rng, 0, 40) } else { due + between(rng, 1, 100) };
            let performed = performed.max(previous + 1).max(m.started);
            if performed > runs_until {
                break;
            }
            // Under Barnets Lov the caseworker may set the next deadline (§95 stk. 3).
            let next_due =
                (m.barnets_lov && chance(rng, 0.35)).then(|| add_months(performed, pick(rng, &[3, 6, 12], 6)));
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
    pub(super) fn planned_rows(&mut self, rng: &mut ChaCha8Rng, share: f64, rows: &mut ChunkRows) {
        let active: Vec<&CaseFacts> = rows.facts.iter().filter(|c| c.closed.is_none()).collect();
        let following: Vec<(u64, u64)> = active
            .iter()
            .flat_map(|c| {
                c.measures.iter().filter(|m| m.needs_follow_up() && m.ended.is_none()).map(|m| (c.number, m.number))
            })
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
pub(super) fn planned_count(made: usize, share: f64) -> usize {
    (made as f64 * share / (1.0 - share)).round() as usize
}
