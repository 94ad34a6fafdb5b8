//! The rules file (docs/rules.md): targets, deadlines and per-paragraph requirements, with a
//! built-in default. Rules reach the SQL as small tables (see `catalog`), never as
//! generated SQL, so a change of law is a change of this file only.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::calendar::Calendar;
use crate::error::{Error, Result};

pub const DEFAULT_RULES: &str = include_str!("default_rules.toml");

/// Every KPI (docs/kpis.md), in report order.
pub const KPI_IDS: [&str; 13] = [
    "plan_coverage",
    "plan_on_time",
    "follow_up_on_time",
    "investigation_within_limit",
    "investigation_completed_within_limit",
    "decision_within_deadline",
    "delay_letter_sent",
    "notification_assessed_in_time",
    "notification_receipt_confirmed",
    "complaints_formalitet",
    "complaints_realitet",
    "lawful_case",
    "budget_forecast",
];

/// The KPI whose target the rules set as `[budget] forecast_target` (an amount's share
/// that may pass 1), not under `[targets]`.
pub const BUDGET_KPI: &str = "budget_forecast";

/// The five core KPIs: a rules file must give each a target.
pub const CORE_KPI_IDS: &[&str] = &KPI_IDS_CORE;
const KPI_IDS_CORE: [&str; 5] = [KPI_IDS[0], KPI_IDS[1], KPI_IDS[2], KPI_IDS[3], KPI_IDS[4]];

/// Targets of the wider plan's KPIs when a rules file predates them.
fn default_target(kpi: &str) -> Option<f64> {
    match kpi {
        BUDGET_KPI => Some(1.0),
        "complaints_formalitet" => Some(0.90),
        "complaints_realitet" => Some(0.97),
        k if KPI_IDS.contains(&k) => Some(0.95),
        _ => None,
    }
}

/// A length of time in calendar terms: months are added first (clamping at month end),
/// then days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub months: i32,
    pub days: i32,
}

impl Span {
    pub fn parse(text: &str) -> std::result::Result<Span, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let [n, unit] = words.as_slice() else {
            return Err(format!("\"{text}\" is not a span like \"4 months\", \"8 weeks\" or \"10 days\""));
        };
        let n: i32 = n.parse().map_err(|_| format!("\"{n}\" in \"{text}\" is not a whole number"))?;
        if n < 0 {
            return Err(format!("\"{text}\" is negative"));
        }
        match unit.trim_end_matches('s') {
            "month" => Ok(Span { months: n, days: 0 }),
            "week" => Ok(Span { months: 0, days: 7 * n }),
            "day" => Ok(Span { months: 0, days: n }),
            _ => Err(format!("unknown unit \"{unit}\" in \"{text}\" (use days, weeks or months)")),
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.months, self.days) {
            (0, d) if d % 7 == 0 && d > 0 => write!(f, "{} weeks", d / 7),
            (0, d) => write!(f, "{d} days"),
            (m, 0) => write!(f, "{m} months"),
            (m, d) => write!(f, "{m} months {d} days"),
        }
    }
}

/// A deadline of any kind the rules allow (docs/rules.md): calendar time, working days (the n-th working
/// day strictly after the start), or elapsed hours (for instants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Calendar(Span),
    WorkingDays(u32),
    Hours(u32),
}

/// Which kinds of period a rule accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodKinds {
    /// Days, weeks, months or working days (case-processing deadlines).
    CaseDeadline,
    /// Hours only (notification assessment, counted on the time line).
    Hours,
    /// Days or working days (receipt confirmation).
    Days,
}

impl Period {
    pub fn parse(text: &str, kinds: PeriodKinds) -> std::result::Result<Period, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let whole = |n: &str| n.parse::<u32>().map_err(|_| format!("\"{n}\" in \"{text}\" is not a whole number"));
        let period = match words.as_slice() {
            [n, "working", unit] if unit.trim_end_matches('s') == "day" => Period::WorkingDays(whole(n)?),
            [n, unit] if unit.trim_end_matches('s') == "hour" => Period::Hours(whole(n)?),
            _ => Period::Calendar(Span::parse(text).map_err(|m| format!("{m}, \"N working days\" or \"N hours\""))?),
        };
        let allowed = match (kinds, period) {
            (PeriodKinds::CaseDeadline, Period::Calendar(_) | Period::WorkingDays(_)) => true,
            (PeriodKinds::Hours, Period::Hours(_)) => true,
            (PeriodKinds::Days, Period::WorkingDays(_)) => true,
            (PeriodKinds::Days, Period::Calendar(_)) => {
                words.get(1).is_some_and(|unit| unit.trim_end_matches('s') == "day")
            }
            _ => false,
        };
        if !allowed {
            let expected = match kinds {
                PeriodKinds::CaseDeadline => "days, weeks, months or working days",
                PeriodKinds::Hours => "hours",
                PeriodKinds::Days => "days or working days",
            };
            return Err(format!("\"{text}\" is not allowed here: use {expected}"));
        }
        Ok(period)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Calendar(s) => write!(f, "{s}"),
            Period::WorkingDays(n) => write!(f, "{n} working days"),
            Period::Hours(n) => write!(f, "{n} hours"),
        }
    }
}

/// One `[[case_deadline]]` rule: the published case-processing deadline of applications
/// under a paragraph prefix (retssikkerhedsloven §3 stk. 2).
#[derive(Debug, Clone, PartialEq)]
pub struct CaseDeadline {
    pub prefix: String,
    pub within: Period,
    /// The case area in words, for letters and reports ("Merudgifter …").
    pub area: String,
}

/// One `[[recovery_milestone]]`: at most `max_remaining` cases of `unit_id` (with every
/// unit below it) still needing recovery at the date `on` (Copenhagen's 1,057 → 727 → 212 → 0).
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveryMilestone {
    pub unit_id: String,
    pub on: chrono::NaiveDate,
    pub max_remaining: i64,
}

/// What a plan due date is counted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueFrom {
    Start,
    /// `decided_on`, else `started_on`.
    Decision,
}

impl DueFrom {
    pub fn as_str(self) -> &'static str {
        match self {
            DueFrom::Start => "start",
            DueFrom::Decision => "decision",
        }
    }
}

/// "before start", "3 months after decision", "4 months after start".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanDue {
    pub from: DueFrom,
    pub within: Span,
}

impl PlanDue {
    pub fn parse(text: &str) -> std::result::Result<PlanDue, String> {
        let text = text.trim();
        if text == "before start" {
            return Ok(PlanDue { from: DueFrom::Start, within: Span::default() });
        }
        let Some((span, from)) = text.rsplit_once(" after ") else {
            return Err(format!(
                "\"{text}\" is not \"before start\", \"<span> after start\" or \"<span> after decision\""
            ));
        };
        let from = match from.trim() {
            "start" => DueFrom::Start,
            "decision" => DueFrom::Decision,
            other => return Err(format!("\"{other}\" in \"{text}\" is neither start nor decision")),
        };
        Ok(PlanDue { from, within: Span::parse(span)? })
    }
}

/// One `[[paragraph]]` rule.
#[derive(Debug, Clone, PartialEq)]
pub struct ParagraphRule {
    pub prefix: String,
    pub action_plan: Option<PlanDue>,
    pub acute_action_plan: Option<PlanDue>,
    pub follow_up: bool,
}

#[derive(Debug, Clone)]
pub struct Rules {
    pub targets: BTreeMap<String, f64>,
    pub investigation_limit: Span,
    pub follow_up_first: Span,
    pub follow_up_every: Span,
    pub paragraphs: Vec<ParagraphRule>,
    pub case_deadlines: Vec<CaseDeadline>,
    /// Notification assessment limit (hours on the time line).
    pub notification_assess_within: Period,
    /// Receipt confirmation to a professional who notified (days or working days).
    pub notification_confirm_within: Period,
    /// Complaints baseline: this calendar year, else the 365 days before the window.
    pub baseline_year: Option<i32>,
    pub calendar: Calendar,
    /// `[export] open_end_sentinel`: a date the case system writes in end-date columns
    /// for "still open" (e.g. 9999-12-31), read as null. None by default: such a date is
    /// out of range and its row rejected.
    pub open_end_sentinel: Option<chrono::NaiveDate>,
    pub recovery_milestones: Vec<RecoveryMilestone>,
    /// `[budget] periodisation`: how a yearly budget is spread over its months.
    pub budget_periodisation: Periodisation,
    /// SHA-256 of the rules text, so a run records which rules produced its figures.
    pub fingerprint: String,
    /// Where the rules came from ("built-in default" or the file's path).
    pub source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    targets: BTreeMap<String, f64>,
    investigation: InvestigationFile,
    follow_up: FollowUpFile,
    #[serde(default)]
    paragraph: Vec<ParagraphFile>,
    #[serde(default)]
    case_deadline: Vec<CaseDeadlineFile>,
    #[serde(default)]
    notifications: NotificationsFile,
    #[serde(default)]
    complaints: ComplaintsFile,
    #[serde(default)]
    calendar: CalendarFile,
    #[serde(default)]
    export: ExportFile,
    #[serde(default)]
    recovery_milestone: Vec<RecoveryMilestoneFile>,
    #[serde(default)]
    budget: BudgetFile,
}

/// How a yearly budget is spread over its twelve months (docs/rules.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Periodisation {
    /// By the key's postings month by month last year (evenly when they cannot serve).
    LastYear,
    /// A twelfth each month.
    Even,
}

impl Periodisation {
    pub fn as_str(self) -> &'static str {
        match self {
            Periodisation::LastYear => "last_year",
            Periodisation::Even => "even",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetFile {
    periodisation: String,
    forecast_target: f64,
}

impl Default for BudgetFile {
    /// The built-in default, for a rules file that predates budgets.
    fn default() -> Self {
        BudgetFile { periodisation: "last_year".into(), forecast_target: 1.0 }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ExportFile {
    open_end_sentinel: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecoveryMilestoneFile {
    unit_id: String,
    on: String,
    max_remaining: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseDeadlineFile {
    prefix: String,
    within: String,
    #[serde(default)]
    area: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NotificationsFile {
    assess_within: String,
    confirm_receipt_within: String,
}

impl Default for NotificationsFile {
    /// The law's limits (docs/rules.md), for a rules file that predates them.
    fn default() -> Self {
        NotificationsFile { assess_within: "24 hours".into(), confirm_receipt_within: "6 working days".into() }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ComplaintsFile {
    baseline_year: Option<i32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CalendarFile {
    #[serde(default)]
    extra_closed_days: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InvestigationFile {
    limit: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FollowUpFile {
    first_within: String,
    then_every: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ParagraphFile {
    prefix: String,
    action_plan: Option<String>,
    acute_action_plan: Option<String>,
    #[serde(default)]
    follow_up: bool,
}

impl Rules {
    pub fn builtin() -> Rules {
        Rules::parse(DEFAULT_RULES, "built-in default").expect("the built-in rules parse")
    }

    /// The rules from `--rules FILE`, or the built-in default.
    pub fn load(path: Option<&Path>) -> Result<Rules> {
        match path {
            None => Ok(Rules::builtin()),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| Error::Rules {
                    file: path.display().to_string(),
                    message: format!("cannot read: {e}"),
                })?;
                Rules::parse(&text, &path.display().to_string())
            }
        }
    }

    pub fn parse(text: &str, source: &str) -> Result<Rules> {
        let fail = |message: String| Error::Rules { file: source.to_string(), message };
        let file: RulesFile = toml::from_str(text).map_err(|e| fail(e.to_string()))?;
        // Locates a value's line for messages about values toml accepted but we do not.
        let line_of = |needle: &str| {
            text.lines().position(|l| l.contains(needle)).map(|i| format!("line {}: ", i + 1)).unwrap_or_default()
        };
        let span =
            |value: &str, key: &str| Span::parse(value).map_err(|m| fail(format!("{}{key}: {m}", line_of(value))));

        for kpi in CORE_KPI_IDS {
            if !file.targets.contains_key(*kpi) {
                return Err(fail(format!("[targets] has no target for {kpi}")));
            }
        }
        if file.targets.contains_key(BUDGET_KPI) {
            return Err(fail(format!(
                "{}[targets] {BUDGET_KPI}: its target is set as [budget] forecast_target",
                line_of(BUDGET_KPI)
            )));
        }
        if let Some(unknown) = file.targets.keys().find(|k| !KPI_IDS.contains(&k.as_str())) {
            return Err(fail(format!(
                "{}[targets] names an unknown KPI \"{unknown}\" (known: {})",
                line_of(unknown),
                KPI_IDS.join(", ")
            )));
        }
        let mut targets = file.targets.clone();
        // A forecast may be allowed to pass the budget a little (1.02), never to be zero.
        let forecast_target = file.budget.forecast_target;
        if !(forecast_target > 0.0 && forecast_target <= 2.0) {
            return Err(fail(format!(
                "{}[budget] forecast_target = {forecast_target} must be a share of the budget above 0 and at most 2 \
                 (1.00: the forecast within the budget)",
                line_of("forecast_target")
            )));
        }
        targets.insert(BUDGET_KPI.to_string(), forecast_target);
        let budget_periodisation = match file.budget.periodisation.trim() {
            "last_year" => Periodisation::LastYear,
            "even" => Periodisation::Even,
            other => {
                return Err(fail(format!(
                    "{}[budget] periodisation = \"{other}\" is not \"last_year\" or \"even\"",
                    line_of("periodisation")
                )));
            }
        };
        for kpi in KPI_IDS.iter().filter(|k| **k != BUDGET_KPI) {
            match targets.get(*kpi) {
                Some(t) if !(0.0..=1.0).contains(t) => {
                    return Err(fail(format!(
                        "{}[targets] {kpi} = {t} must be a fraction between 0 and 1 (0.95, not 95)",
                        line_of(kpi)
                    )));
                }
                Some(_) => {}
                None => {
                    targets.insert(kpi.to_string(), default_target(kpi).unwrap_or(0.95));
                }
            }
        }
        let mut paragraphs: Vec<ParagraphRule> = Vec::new();
        for p in &file.paragraph {
            let plan = |value: &Option<String>, key: &str| {
                value
                    .as_deref()
                    .map(|v| {
                        PlanDue::parse(v).map_err(|m| fail(format!("{}{key} for prefix {}: {m}", line_of(v), p.prefix)))
                    })
                    .transpose()
            };
            if p.prefix.is_empty() || p.prefix.ends_with('.') {
                return Err(fail(format!(
                    "{}prefix \"{}\" must be a paragraph code like SEL:52.3",
                    line_of(&p.prefix),
                    p.prefix
                )));
            }
            if paragraphs.iter().any(|q| q.prefix == p.prefix) {
                return Err(fail(format!("{}prefix \"{}\" is listed twice", line_of(&p.prefix), p.prefix)));
            }
            let rule = ParagraphRule {
                prefix: p.prefix.clone(),
                action_plan: plan(&p.action_plan, "action_plan")?,
                acute_action_plan: plan(&p.acute_action_plan, "acute_action_plan")?,
                follow_up: p.follow_up,
            };
            if rule.acute_action_plan.is_some() && rule.action_plan.is_none() {
                return Err(fail(format!("prefix {}: acute_action_plan needs action_plan too", p.prefix)));
            }
            paragraphs.push(rule);
        }
        let period = |value: &str, key: &str, kinds| {
            Period::parse(value, kinds).map_err(|m| fail(format!("{}{key}: {m}", line_of(value))))
        };
        let mut case_deadlines: Vec<CaseDeadline> = Vec::new();
        for d in &file.case_deadline {
            if d.prefix.is_empty() || d.prefix.ends_with('.') {
                return Err(fail(format!(
                    "{}case_deadline prefix \"{}\" must be a paragraph code like SEL:41",
                    line_of(&d.prefix),
                    d.prefix
                )));
            }
            if case_deadlines.iter().any(|q| q.prefix == d.prefix) {
                return Err(fail(format!(
                    "{}case_deadline prefix \"{}\" is listed twice",
                    line_of(&d.prefix),
                    d.prefix
                )));
            }
            let within =
                period(&d.within, &format!("case_deadline within for prefix {}", d.prefix), PeriodKinds::CaseDeadline)?;
            let area = if d.area.trim().is_empty() { d.prefix.clone() } else { d.area.trim().to_string() };
            case_deadlines.push(CaseDeadline { prefix: d.prefix.clone(), within, area });
        }
        let mut calendar = Calendar::default();
        for day in &file.calendar.extra_closed_days {
            let parsed = chrono::NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d").map_err(|_| {
                fail(format!(
                    "{}[calendar] extra_closed_days: \"{day}\" is not a date like \"2026-12-23\"",
                    line_of(day)
                ))
            })?;
            calendar.extra_closed_days.insert(parsed);
        }
        if let Some(year) = file.complaints.baseline_year
            && !(1900..=2200).contains(&year)
        {
            return Err(fail(format!("{}[complaints] baseline_year = {year} is not a year", line_of("baseline_year"))));
        }
        let open_end_sentinel = match &file.export.open_end_sentinel {
            None => None,
            Some(day) => Some(chrono::NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d").map_err(|_| {
                fail(format!("{}[export] open_end_sentinel: \"{day}\" is not a date like \"9999-12-31\"", line_of(day)))
            })?),
        };
        let mut recovery_milestones = Vec::new();
        for m in &file.recovery_milestone {
            let on = chrono::NaiveDate::parse_from_str(m.on.trim(), "%Y-%m-%d").map_err(|_| {
                fail(format!(
                    "{}[[recovery_milestone]] on: \"{}\" is not a date like \"2027-06-30\"",
                    line_of(&m.on),
                    m.on
                ))
            })?;
            if m.max_remaining < 0 {
                return Err(fail(format!(
                    "[[recovery_milestone]] for {} on {on}: max_remaining must not be negative",
                    m.unit_id
                )));
            }
            recovery_milestones.push(RecoveryMilestone {
                unit_id: m.unit_id.clone(),
                on,
                max_remaining: m.max_remaining,
            });
        }
        Ok(Rules {
            targets,
            recovery_milestones,
            budget_periodisation,
            case_deadlines,
            notification_assess_within: period(
                &file.notifications.assess_within,
                "[notifications] assess_within",
                PeriodKinds::Hours,
            )?,
            notification_confirm_within: period(
                &file.notifications.confirm_receipt_within,
                "[notifications] confirm_receipt_within",
                PeriodKinds::Days,
            )?,
            baseline_year: file.complaints.baseline_year,
            calendar,
            open_end_sentinel,
            investigation_limit: span(&file.investigation.limit, "[investigation] limit")?,
            follow_up_first: span(&file.follow_up.first_within, "[follow_up] first_within")?,
            follow_up_every: span(&file.follow_up.then_every, "[follow_up] then_every")?,
            paragraphs,
            fingerprint: format!("{:x}", Sha256::digest(text.as_bytes())),
            source: source.to_string(),
        })
    }

    /// The rule that governs a paragraph code: the longest prefix that equals the code or
    /// is followed in it by a dot. Case-sensitive.
    pub fn rule_for(&self, code: &str) -> Option<&ParagraphRule> {
        self.paragraphs.iter().filter(|r| prefix_matches(&r.prefix, code)).max_by_key(|r| r.prefix.len())
    }

    /// The case-processing deadline of an application's paragraph code (longest prefix).
    pub fn case_deadline_for(&self, code: &str) -> Option<&CaseDeadline> {
        self.case_deadlines.iter().filter(|r| prefix_matches(&r.prefix, code)).max_by_key(|r| r.prefix.len())
    }

    pub fn target(&self, kpi: &str) -> f64 {
        self.targets.get(kpi).copied().unwrap_or(f64::NAN)
    }
}

pub fn prefix_matches(prefix: &str, code: &str) -> bool {
    code.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_at_dot_boundaries_only() {
        assert!(prefix_matches("SEL:52.3", "SEL:52.3"));
        assert!(prefix_matches("SEL:52.3", "SEL:52.3.7"));
        assert!(!prefix_matches("SEL:52.3", "SEL:52.30"));
        assert!(!prefix_matches("SEL:76", "SEL:76a"));
        assert!(!prefix_matches("SEL:76", "sel:76"));
        assert!(!prefix_matches("SEL:52.3", "SEL:52"));
    }

    #[test]
    fn builtin_rules_are_the_spec_table() {
        let r = Rules::builtin();
        let before = Some(PlanDue { from: DueFrom::Start, within: Span::default() });
        let acute4 = Some(PlanDue { from: DueFrom::Start, within: Span { months: 4, days: 0 } });
        let after3 = Some(PlanDue { from: DueFrom::Decision, within: Span { months: 3, days: 0 } });
        let expect = [
            ("SEL:52.3", before, acute4),
            ("SEL:76", before, acute4),
            ("BL:32", after3, None),
            ("BL:46", after3, None),
            ("BL:47", before, None),
        ];
        assert_eq!(r.paragraphs.len(), expect.len());
        for (rule, (prefix, plan, acute)) in r.paragraphs.iter().zip(expect) {
            assert_eq!(
                (rule.prefix.as_str(), rule.action_plan, rule.acute_action_plan, rule.follow_up),
                (prefix, plan, acute, true)
            );
        }
        assert_eq!(r.investigation_limit, Span { months: 4, days: 0 });
        assert_eq!((r.follow_up_first.months, r.follow_up_every.months), (3, 6));
        assert!(
            KPI_IDS.iter().filter(|k| !k.starts_with("complaints_") && **k != BUDGET_KPI).all(|k| r.target(k) == 0.95)
        );
        assert_eq!((r.target("complaints_formalitet"), r.target("complaints_realitet")), (0.90, 0.97));
        assert_eq!((r.target(BUDGET_KPI), r.budget_periodisation), (1.0, Periodisation::LastYear));
        let deadlines: Vec<(&str, String)> =
            r.case_deadlines.iter().map(|d| (d.prefix.as_str(), d.within.to_string())).collect();
        assert_eq!(
            deadlines,
            [
                ("SEL:41", "8 weeks"),
                ("BL:86", "40 working days"),
                ("SEL:42", "8 weeks"),
                ("BL:87", "8 weeks"),
                ("BL:32", "3 months")
            ]
            .map(|(p, w)| (p, w.to_string()))
        );
        assert_eq!(r.notification_assess_within, Period::Hours(24));
        assert_eq!(r.notification_confirm_within, Period::WorkingDays(6));
        assert_eq!(r.baseline_year, None);
        assert!(r.calendar.extra_closed_days.is_empty());
        assert_eq!(r.case_deadline_for("BL:32.1.3").map(|d| d.prefix.as_str()), Some("BL:32"));
        assert!(r.case_deadline_for("BL:320").is_none());
        assert!(r.rule_for("SEL:52.30").is_none());
        assert!(r.rule_for("SEL:41").is_none());
        assert_eq!(r.rule_for("BL:32.1.3").map(|r| r.prefix.as_str()), Some("BL:32"));
    }

    #[test]
    fn periods_of_each_kind_and_where_they_are_allowed() {
        use PeriodKinds::*;
        assert_eq!(Period::parse("40 working days", CaseDeadline), Ok(Period::WorkingDays(40)));
        assert_eq!(Period::parse("1 working day", Days), Ok(Period::WorkingDays(1)));
        assert_eq!(Period::parse("8 weeks", CaseDeadline), Ok(Period::Calendar(Span { months: 0, days: 56 })));
        assert_eq!(Period::parse("24 hours", Hours), Ok(Period::Hours(24)));
        assert_eq!(Period::parse("10 days", Days), Ok(Period::Calendar(Span { months: 0, days: 10 })));
        assert!(Period::parse("24 hours", CaseDeadline).is_err());
        assert!(Period::parse("1 days", Hours).is_err());
        assert!(Period::parse("1 weeks", Days).is_err());
        assert!(Period::parse("2 months", Days).is_err());
        assert!(Period::parse("x working days", Days).is_err());
    }

    #[test]
    fn further_rules_parse_and_older_files_still_load() {
        let text = DEFAULT_RULES
            .replace("# baseline_year = 2012", "baseline_year = 2012")
            .replace("extra_closed_days = []", "extra_closed_days = [\"2026-12-23\"]");
        let text = text + "\n[[recovery_milestone]]\nunit_id = \"U1\"\non = \"2027-06-30\"\nmax_remaining = 212\n";
        let r = Rules::parse(&text, "r.toml").unwrap();
        assert_eq!(r.recovery_milestones.len(), 1);
        assert_eq!((r.recovery_milestones[0].unit_id.as_str(), r.recovery_milestones[0].max_remaining), ("U1", 212));
        assert_eq!(r.baseline_year, Some(2012));
        assert!(!r.calendar.is_working_day(chrono::NaiveDate::from_ymd_opt(2026, 12, 23).unwrap()));
        // A rules file written before the further tables: their targets, limits and no deadlines.
        let cut = DEFAULT_RULES.find("# Case-processing deadlines").unwrap();
        let old = DEFAULT_RULES[..cut]
            .lines()
            .filter(|l| {
                !l.starts_with("decision_")
                    && !l.starts_with("delay_")
                    && !l.starts_with("notification_")
                    && !l.starts_with("complaints_")
            })
            .collect::<Vec<_>>()
            .join("\n");
        let r = Rules::parse(&old, "old.toml").unwrap();
        assert!(r.case_deadlines.is_empty());
        assert_eq!((r.target("delay_letter_sent"), r.target("complaints_realitet")), (0.95, 0.97));
        assert_eq!(r.notification_assess_within, Period::Hours(24));
        let bad = DEFAULT_RULES.replace("assess_within = \"24 hours\"", "assess_within = \"1 days\"");
        let msg = Rules::parse(&bad, "r.toml").unwrap_err().to_string();
        assert!(msg.contains("line ") && msg.contains("hours"), "{msg}");
        let bad = DEFAULT_RULES.replace("extra_closed_days = []", "extra_closed_days = [\"23-12-2026\"]");
        assert!(Rules::parse(&bad, "r.toml").unwrap_err().to_string().contains("extra_closed_days"));
    }

    #[test]
    fn longest_prefix_wins() {
        let text = DEFAULT_RULES.replace(
            "[[paragraph]]\nprefix = \"SEL:76\"",
            "[[paragraph]]\nprefix = \"SEL:52\"\nfollow_up = false\n\n[[paragraph]]\nprefix = \"SEL:76\"",
        );
        let r = Rules::parse(&text, "test").unwrap();
        assert_eq!(r.rule_for("SEL:52.3.7").unwrap().prefix, "SEL:52.3");
        assert_eq!(r.rule_for("SEL:52.2").unwrap().prefix, "SEL:52");
    }

    #[test]
    fn malformed_rules_name_the_line() {
        let text = DEFAULT_RULES.replace("limit = \"4 months\"", "limit = \"4 moons\"");
        let msg = Rules::parse(&text, "r.toml").unwrap_err().to_string();
        assert!(msg.contains("r.toml") && msg.contains("line ") && msg.contains("moons"), "{msg}");
        let msg = Rules::parse("[targets\n", "r.toml").unwrap_err().to_string();
        assert!(msg.contains("line 1"), "{msg}");
        let text = DEFAULT_RULES.replace("plan_on_time = 0.95", "plan_on_time = 95");
        let msg = Rules::parse(&text, "r.toml").unwrap_err().to_string();
        assert!(msg.contains("plan_on_time") && msg.contains("fraction"), "{msg}");
    }
}
