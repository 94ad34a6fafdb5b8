//! The audit sections of a unit's page (docs/kpis.md): the lawful-case checklist and recovery,
//! the transition to adulthood, finance, and the projection beside the KPI table. Their
//! lists come from `lists`; this module puts them together with the figures they are
//! stated with.

use minijinja::Value as Template;
use serde::Serialize;

use super::chart::{BudgetMonth, Milestone, budget_svg, burndown_svg};
use super::da;
use super::frame::Value;
use super::lists::{List, ListView, page_view};
use super::page::PageContext;
use super::week::IsoWeek;
use crate::error::Result;

#[derive(Serialize)]
pub struct RecoveryView {
    /// Whether the export has case events; without them the checklist is unknown.
    known: bool,
    cases: String,
    acute: String,
    checklist: ListView,
    list: ListView,
    caseworkers: ListView,
    milestones: ListView,
    burndown: Template,
}

#[derive(Serialize)]
pub struct AdulthoodView {
    active_cases: String,
    aged_18_or_older: String,
    share: String,
    list: ListView,
}

#[derive(Serialize)]
pub struct FinanceView {
    /// "Ingen data: …" without a postings table; else empty.
    no_data: String,
    window: String,
    month: String,
    postings: String,
    spent: String,
    booked: String,
    booked_share: String,
    paid_without_measure: String,
    paid_without_measure_dkk: String,
    registered_not_paid: String,
    /// Postings paid without a measure and measures not paid, together: the contents
    /// line's count.
    to_act: String,
    paid_list: ListView,
    unpaid_list: ListView,
}

/// The budget follow-up of a unit (docs/kpis.md, budget_forecast): the year's figures in
/// whole kroner, the chart, and the sub-units'.
#[derive(Serialize)]
pub struct BudgetView {
    /// "Ingen data: …" without a budgets table; else empty.
    no_data: String,
    year: String,
    /// "til og med marts" / "ingen afsluttede måneder endnu".
    closed: String,
    budget_year: String,
    budget_to_date: String,
    actual_to_date: String,
    variance: String,
    /// Spent more than budgeted to date.
    over_to_date: bool,
    run_rate: String,
    commitments: String,
    forecast: String,
    /// The forecast by commitments less the budget: "+120.000 kr." over, "−80.000 kr." under.
    forecast_margin: String,
    /// The difference between the two forecasts.
    gap: String,
    chart: Template,
    sub_units: Vec<BudgetRowView>,
}

#[derive(Serialize)]
pub struct BudgetRowView {
    name: String,
    budget_year: String,
    actual_to_date: String,
    variance: String,
    run_rate: String,
    forecast: String,
    share: String,
    class: &'static str,
    status: &'static str,
}

#[derive(Serialize)]
pub struct AuditView {
    recovery: RecoveryView,
    adulthood: AdulthoodView,
    finance: FinanceView,
    budget: BudgetView,
}

impl PageContext<'_> {
    /// A list of the report by its key (`lists::AUDIT_LISTS`, `FIGURES`).
    fn list(&self, key: &str) -> &List {
        let data = self.data;
        data.lists.iter().chain(&data.figures).find(|l| l.spec.key == key).unwrap_or(&data.projection)
    }

    fn view(&self, key: &str, unit: &str, empty: &str) -> Result<ListView> {
        let name = |id: &str| self.unit_name_within(id, unit);
        let has_children = self.children.get(unit).is_some_and(|c| !c.is_empty());
        page_view(self.list(key), unit, &name, has_children, empty)
    }

    /// One figure of a per-unit list (`turning_18_units`, `finance`), null when absent.
    pub(crate) fn figure(&self, key: &str, unit: &str, column: &str) -> Result<Value> {
        let list = self.list(key);
        match list.rows(unit).next() {
            Some(row) => list.value(column, row),
            None => Ok(Value::Null),
        }
    }
}

pub(crate) fn int_text(v: &Value) -> String {
    match v {
        Value::Int(n) => da::integer(*n),
        _ => "–".into(),
    }
}

pub(crate) fn money_text(v: &Value) -> String {
    match v {
        Value::Float(x) => da::money(*x),
        _ => "–".into(),
    }
}

pub(crate) fn share(v: &Value) -> Option<f64> {
    match v {
        Value::Float(x) => Some(*x),
        _ => None,
    }
}

/// The cases still to recover at each of the report's 13 Sundays, oldest first: the
/// `lawful_case` KPI's denominator less its numerator (the rows of `recovery_cases` at the
/// unit and below), read from the KPI trend the report has anyway. Unknown (none) without
/// case events.
pub fn recovery_counts(ctx: &PageContext, unit: &str) -> Vec<(chrono::NaiveDate, Option<i64>)> {
    let known = ctx.has_data("case_events");
    let figures = ctx.kpi.get(unit).map(|v| v.as_slice()).unwrap_or_default();
    ctx.data
        .week
        .sundays_back(super::TREND_WEEKS)
        .into_iter()
        .map(|date| {
            let k = figures.iter().find(|k| k.as_of == date && k.kpi_id == "lawful_case");
            (date, k.filter(|_| known).map(|k| k.denominator - k.numerator))
        })
        .collect()
}

/// The audit sections of one unit's page.
pub fn audit_view(ctx: &PageContext, unit: &str) -> Result<AuditView> {
    Ok(AuditView {
        recovery: recovery(ctx, unit)?,
        adulthood: adulthood(ctx, unit)?,
        finance: finance(ctx, unit)?,
        budget: budget(ctx, unit)?,
    })
}

fn recovery(ctx: &PageContext, unit: &str) -> Result<RecoveryView> {
    let week = ctx.data.week;
    let as_of = week.sunday();
    let known = ctx.has_data("case_events");
    let counts: Vec<Option<i64>> = recovery_counts(ctx, unit).into_iter().map(|(_, n)| n).collect();
    let latest = counts.last().copied().flatten();
    // Acute cases this week: summed over the unit's caseworkers.
    let per_caseworker = ctx.list("recovery_caseworkers");
    let mut acute = 0;
    for row in per_caseworker.rows(unit) {
        if let Value::Int(n) = per_caseworker.value("acute_cases", row)? {
            acute += n;
        }
    }

    // The chart runs over the trend's weeks and on to the unit's milestones within half a
    // year; later milestones are in the table below it.
    let first = week.minus(super::TREND_WEEKS - 1).sunday();
    let horizon = as_of + chrono::Duration::weeks(26);
    let milestones_list = ctx.list("recovery_milestones");
    let mut milestones = Vec::new();
    for row in milestones_list.rows(unit) {
        let (Value::Date(on), Value::Int(max)) =
            (milestones_list.value("on_date", row)?, milestones_list.value("max_remaining", row)?)
        else {
            continue;
        };
        if on < first || on > horizon {
            continue;
        }
        let met = match milestones_list.value("met", row)? {
            Value::Bool(b) => Some(b),
            _ => None,
        };
        milestones.push(Milestone {
            at_week: (on - first).num_days() as f64 / 7.0,
            label: format!(
                "Delmål {}: højst {} sager, {}",
                da::date(on),
                da::integer(max),
                da::milestone_status(met).to_lowercase()
            ),
            max_remaining: max,
            met,
        });
    }
    let last_week = milestones.iter().map(|m| m.at_week.ceil() as u32).max().unwrap_or(0).max(super::TREND_WEEKS - 1);
    let weeks: Vec<String> =
        (0..=last_week).map(|i| IsoWeek::of(first + chrono::Duration::weeks(i as i64)).week().to_string()).collect();
    let burndown = burndown_svg("Sager til genopretning", &weeks, &counts, &milestones);

    Ok(RecoveryView {
        known,
        cases: latest.map_or("–".into(), da::integer),
        acute: if known { da::integer(acute) } else { "–".into() },
        checklist: ctx.view("checklist", unit, "Ingen aktive sager med aktiv foranstaltning.")?,
        list: ctx.view("recovery", unit, "Ingen sager mangler et element.")?,
        caseworkers: ctx.view("recovery_caseworkers", unit, "Ingen sager til genopretning.")?,
        milestones: ctx.view("recovery_milestones", unit, "Regelsættet har ingen delmål for denne enhed.")?,
        burndown: Template::from_safe_string(burndown),
    })
}

fn adulthood(ctx: &PageContext, unit: &str) -> Result<AdulthoodView> {
    let figure = |column: &str| ctx.figure("turning_18_units", unit, column);
    Ok(AdulthoodView {
        active_cases: int_text(&figure("active_cases")?),
        aged_18_or_older: int_text(&figure("aged_18_or_older")?),
        share: da::percent(share(&figure("share")?)),
        list: ctx.view(
            "turning_18",
            unit,
            "Ingen børn eller unge med aktiv foranstaltning fylder 18 det næste halve år.",
        )?,
    })
}

fn finance(ctx: &PageContext, unit: &str) -> Result<FinanceView> {
    let as_of = ctx.data.week.sunday();
    let figure = |column: &str| ctx.figure("finance", unit, column);
    let month_to = chrono::NaiveDate::from_ymd_opt(chrono::Datelike::year(&as_of), chrono::Datelike::month(&as_of), 1)
        .map(|d| d - chrono::Duration::days(1));
    let month = month_to.map_or_else(String::new, da::month_year);
    let (paid_without, not_paid) = (figure("paid_without_measure")?, figure("registered_not_paid")?);
    let count = |v: &Value| if let Value::Int(n) = v { *n } else { 0 };
    Ok(FinanceView {
        no_data: if ctx.has_data("postings") {
            String::new()
        } else {
            "Ingen data: udtrækket har ingen posteringer fra økonomisystemet (tabellen postings).".into()
        },
        window: format!("{}–{}", da::date(as_of - chrono::Duration::days(364)), da::date(as_of)),
        month,
        postings: int_text(&figure("postings")?),
        spent: money_text(&figure("spent_dkk")?),
        booked: money_text(&figure("booked_on_case_dkk")?),
        booked_share: da::percent(share(&figure("booked_share")?)),
        paid_without_measure: int_text(&paid_without),
        paid_without_measure_dkk: money_text(&figure("paid_without_measure_dkk")?),
        registered_not_paid: int_text(&not_paid),
        to_act: da::integer(count(&paid_without) + count(&not_paid)),
        paid_list: ctx.view("paid_without_measure", unit, "Ingen udbetalinger på sager uden aktiv foranstaltning.")?,
        unpaid_list: ctx.view("registered_not_paid", unit, "Ingen foranstaltninger uden udbetaling sidste måned.")?,
    })
}

fn amount(v: &Value) -> Option<f64> {
    match v {
        Value::Float(x) => Some(*x),
        Value::Int(n) => Some(*n as f64),
        _ => None,
    }
}

fn kroner_text(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), da::kroner)
}

/// "+120.000 kr." / "−80.000 kr." / "0 kr.".
fn signed_kroner(x: f64) -> String {
    if x.round() > 0.0 { format!("+{}", da::kroner(x)) } else { da::kroner(x) }
}

fn budget(ctx: &PageContext, unit: &str) -> Result<BudgetView> {
    let as_of = ctx.data.week.sunday();
    let figure = |unit: &str, column: &str| -> Result<Option<f64>> { Ok(amount(&ctx.figure("budget", unit, column)?)) };
    let month_row = |row: usize, column: &str| -> Result<Value> { ctx.list("budget_months").value(column, row) };
    // The unit's accounts summed month by month.
    let mut months: Vec<BudgetMonth> =
        (0..12).map(|_| BudgetMonth { budget_cumulative: 0.0, actual_cumulative: 0.0, closed: false }).collect();
    for row in ctx.list("budget_months").rows(unit) {
        let Value::Int(month) = month_row(row, "month")? else { continue };
        let Some(m) = months.get_mut((month - 1).clamp(0, 11) as usize) else { continue };
        m.budget_cumulative += amount(&month_row(row, "budget_cumulative_dkk")?).unwrap_or(0.0);
        m.actual_cumulative += amount(&month_row(row, "actual_cumulative_dkk")?).unwrap_or(0.0);
        m.closed = month_row(row, "closed")? == Value::Bool(true);
    }
    let closed_months = months.iter().filter(|m| m.closed).count();
    let (budget_year, to_date, actual) =
        (figure(unit, "budget_year_dkk")?, figure(unit, "budget_to_date_dkk")?, figure(unit, "actual_to_date_dkk")?);
    let (run_rate, forecast) = (figure(unit, "forecast_run_rate_dkk")?, figure(unit, "forecast_commitments_dkk")?);
    let variance = figure(unit, "variance_to_date_dkk")?;
    let name = |id: &str| ctx.unit_name_within(id, unit);
    let sub_units = ctx
        .children
        .get(unit)
        .map(|c| c.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|child| {
            let k = ctx.this_week(&child.id, "budget_forecast");
            let (class, status) = da::status(k.and_then(|k| k.met));
            Ok(BudgetRowView {
                name: name(&child.id),
                budget_year: kroner_text(figure(&child.id, "budget_year_dkk")?),
                actual_to_date: kroner_text(figure(&child.id, "actual_to_date_dkk")?),
                variance: figure(&child.id, "variance_to_date_dkk")?.map_or_else(|| "–".into(), signed_kroner),
                run_rate: kroner_text(figure(&child.id, "forecast_run_rate_dkk")?),
                forecast: kroner_text(figure(&child.id, "forecast_commitments_dkk")?),
                share: da::percent(k.and_then(|k| k.share)),
                class,
                status,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let month_name = |n: usize| {
        chrono::NaiveDate::from_ymd_opt(chrono::Datelike::year(&as_of), n as u32, 1)
            .map(da::month_year)
            .and_then(|m| m.split_whitespace().next().map(str::to_string))
            .unwrap_or_default()
    };
    Ok(BudgetView {
        no_data: ctx.no_data(&da::SECTIONS[4]).unwrap_or_default(),
        year: chrono::Datelike::year(&as_of).to_string(),
        closed: if closed_months == 0 {
            "ingen afsluttede måneder endnu".into()
        } else {
            format!("til og med {}", month_name(closed_months))
        },
        budget_year: kroner_text(budget_year),
        budget_to_date: kroner_text(to_date),
        actual_to_date: kroner_text(actual),
        variance: variance.map_or_else(|| "–".into(), signed_kroner),
        over_to_date: variance.is_some_and(|v| v.round() > 0.0),
        run_rate: kroner_text(run_rate),
        commitments: kroner_text(figure(unit, "commitments_dkk")?),
        forecast: kroner_text(forecast),
        forecast_margin: match (forecast, budget_year) {
            (Some(f), Some(b)) => signed_kroner(f - b),
            _ => "–".into(),
        },
        gap: match (forecast, run_rate) {
            (Some(f), Some(r)) => da::kroner((f - r).abs()),
            _ => "–".into(),
        },
        chart: Template::from_safe_string(budget_svg("Budget og forbrug", &months, run_rate, forecast.unwrap_or(0.0))),
        sub_units,
    })
}

/// The projected shares of a core KPI for the unit, one to four weeks ahead ("–" where
/// there is nothing to measure); empty for the other KPIs.
pub fn projection(ctx: &PageContext, unit: &str, kpi_id: &str) -> Result<Vec<(String, &'static str)>> {
    let list = &ctx.data.projection;
    let mut cells = Vec::new();
    for row in list.rows(unit) {
        if list.value("kpi_id", row)? != Value::Text(kpi_id.to_string()) {
            continue;
        }
        let met = match list.value("met", row)? {
            Value::Bool(b) => Some(b),
            _ => None,
        };
        cells.push((da::percent(share(&list.value("share", row)?)), da::status(met).0));
    }
    Ok(cells)
}
