//! Paragraph codes: which measures and applications occur, what they cost, who provides
//! them, and the deadlines the built-in rules set for them.

use std::sync::LazyLock;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::rules::{DueFrom, ParagraphRule, Period, Rules, Span};

use super::days::{Day, add_months, add_working_days};
use super::random::{chance, pick, uniform};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
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

pub(super) struct Code {
    pub(super) code: &'static str,
    pub(super) kind: Kind,
    pub(super) weight: u32,
}

pub(super) const fn code(code: &'static str, kind: Kind, weight: u32) -> Code {
    Code { code, kind, weight }
}

use Kind::*;

// Serviceloven, for measures started before 1 January 2024.
pub(super) static SEL_VULNERABLE: &[Code] = &[
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
pub(super) static SEL_DISABILITY: &[Code] = &[
    code("SEL:41", ExtraCosts, 30),
    code("SEL:42", LostEarnings, 18),
    code("SEL:52.3.5", Respite, 15),
    code("SEL:52.3.7", Placement, 10),
    code("SEL:52.3.2", Family, 7),
    code("SEL:44", Respite, 6),
    code("SEL:11.3", Prevention, 10),
];
// Barnets Lov, for measures started from 1 January 2024.
pub(super) static BL_VULNERABLE: &[Code] = &[
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
pub(super) static BL_DISABILITY: &[Code] = &[
    code("BL:86", ExtraCosts, 30),
    code("BL:87", LostEarnings, 18),
    code("BL:32.1.4", Respite, 15),
    code("BL:46", Placement, 10),
    code("BL:32.1.1", Family, 7),
    code("BL:30", Prevention, 10),
];

/// The built-in rules, whose plan due dates and case-processing deadlines the generator
/// aims at (hitting or missing them by each unit's diligence). With other rules the data
/// is still valid; only the compliance levels differ.
static BUILTIN: LazyLock<Rules> = LazyLock::new(Rules::builtin);

/// The built-in rule for a measure's paragraph code, if any.
pub(super) fn plan_rule(code: &str) -> Option<&'static ParagraphRule> {
    BUILTIN.rule_for(code)
}

/// The day a measure's action plan falls due under `rule`: the acute plan's due date for
/// an acute measure where the rule has one, else the plan's.
pub(super) fn plan_due(rule: &ParagraphRule, started: Day, decided: Option<Day>, acute: bool) -> Option<Day> {
    let due = if acute { rule.acute_action_plan.or(rule.action_plan) } else { rule.action_plan }?;
    let from = match due.from {
        DueFrom::Start => started,
        DueFrom::Decision => decided.unwrap_or(started),
    };
    Some(add_span(from, due.within))
}

/// An application's case-processing deadline under the built-in rules (retssikkerhedsloven
/// §3 stk. 2), if its paragraph code has one.
pub(super) fn case_deadline(code: &str, applied: Day) -> Option<Day> {
    match BUILTIN.case_deadline_for(code)?.within {
        Period::Calendar(span) => Some(add_span(applied, span)),
        Period::WorkingDays(n) => Some(add_working_days(applied, i32::try_from(n).unwrap_or(i32::MAX))),
        Period::Hours(_) => None,
    }
}

/// Months first (clamping at month end), then days, as the rules count a span.
fn add_span(d: Day, span: Span) -> Day {
    add_months(d, u32::try_from(span.months).unwrap_or(0)).saturating_add(span.days)
}

pub(super) fn pick_code<'a>(rng: &mut ChaCha8Rng, codes: &'a [Code], placement_only: bool) -> &'a Code {
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

pub(super) fn monthly_cost(rng: &mut ChaCha8Rng, kind: Kind) -> Option<f64> {
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

pub(super) fn provider(rng: &mut ChaCha8Rng, kind: Kind) -> Option<&'static str> {
    if chance(rng, 0.15) {
        return None;
    }
    let names: &[&str] = match kind {
        Placement => &[
            "Plejefamilie",
            "Netværksplejefamilie",
            "Opholdsstedet Bøgely",
            "Døgninstitutionen Skovbrynet",
            "Opholdsstedet Havblik",
        ],
        Family | Respite => {
            &["Familiehuset", "Familiebehandlingen Nord", "Aflastningshjemmet Lyngen", "Privat leverandør"]
        }
        Contact | Aftercare | Prevention => &["Ungeindsatsen", "Kontaktpersonkorpset", "Klub og fritid"],
        ExtraCosts | LostEarnings | Other => &["Kommunen"],
    };
    Some(pick(rng, names, "Kommunen"))
}

// What families apply for. Codes with a deadline rule and codes without one.
pub(super) static SEL_APPLICATIONS_VULNERABLE: &[Code] = &[
    code("SEL:52.3.3", Family, 30),
    code("SEL:11.3", Prevention, 25),
    code("SEL:52.3.6", Contact, 15),
    code("SEL:52.3.7", Placement, 10),
    code("SEL:41", ExtraCosts, 5),
];
pub(super) static SEL_APPLICATIONS_DISABILITY: &[Code] = &[
    code("SEL:41", ExtraCosts, 40),
    code("SEL:42", LostEarnings, 25),
    code("SEL:52.3.5", Respite, 10),
    code("SEL:11.3", Prevention, 8),
];
pub(super) static BL_APPLICATIONS_VULNERABLE: &[Code] = &[
    code("BL:32.1.2", Family, 30),
    code("BL:32.1.5", Contact, 15),
    code("BL:32.1.3", Placement, 5),
    code("BL:30", Prevention, 25),
    code("BL:46", Placement, 8),
    code("BL:86", ExtraCosts, 5),
];
pub(super) static BL_APPLICATIONS_DISABILITY: &[Code] = &[
    code("BL:86", ExtraCosts, 40),
    code("BL:87", LostEarnings, 25),
    code("BL:32.1.4", Respite, 12),
    code("BL:30", Prevention, 8),
];

/// The finance system's account (kontoplan) a measure's payments go to.
pub(super) fn account(kind: Kind) -> &'static str {
    match kind {
        Placement => "5.28.20",
        Family | Contact | Respite | Prevention | Other => "5.28.21",
        Aftercare => "5.28.21",
        ExtraCosts | LostEarnings => "5.57.72",
    }
}
