//! Reads the report views (`queries/views/2*_report_*.sql`) through the statements of
//! `queries/statements/report_*.sql` into plain rows, once for all units.

use std::collections::HashMap;

use chrono::NaiveDate;

use super::frame::{Frame, TableOut, null_error, statement};
use super::lists::{List, ListSpec};
use super::week::IsoWeek;
use crate::catalog::Catalog;
use crate::error::Result;

/// A unit of the organisation as the report lists it.
#[derive(Debug, Clone)]
pub struct UnitInfo {
    pub id: String,
    pub name: String,
    pub parent_id: Option<String>,
    /// 0 for the top of the tree.
    pub level: i64,
    /// Cases of the unit and its sub-units opened by the report date.
    pub cases: i64,
    pub active_cases: i64,
}

#[derive(Debug, Clone)]
pub struct KpiFigure {
    pub as_of: NaiveDate,
    pub unit_id: String,
    pub kpi_id: String,
    pub numerator: i64,
    pub denominator: i64,
    pub share: Option<f64>,
    pub target: f64,
    pub met: Option<bool>,
    pub previous_share: Option<f64>,
    pub change_pp: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct ProductionWeek {
    pub as_of: NaiveDate,
    pub unit_id: String,
    pub week: String,
    pub week_start: NaiveDate,
    pub investigations_started: i64,
    pub investigations_completed: i64,
    pub action_plans_created: i64,
    pub follow_ups_performed: i64,
    pub measures_started: i64,
}

#[derive(Debug, Clone)]
pub struct OverdueItem {
    pub unit_id: String,
    pub case_unit_id: String,
    pub case_id: String,
    pub caseworker_id: Option<String>,
    pub caseworker_name: Option<String>,
    pub child_age: Option<i64>,
    pub kind: String,
    pub item_id: String,
    pub due_on: NaiveDate,
    pub days_overdue: i64,
}

#[derive(Debug, Clone)]
pub struct Deadline {
    pub unit_id: String,
    pub case_unit_id: String,
    pub case_id: String,
    pub caseworker_id: Option<String>,
    pub caseworker_name: Option<String>,
    pub child_age: Option<i64>,
    pub kind: String,
    pub item_id: String,
    pub due_on: NaiveDate,
    pub due_week: String,
    pub weeks_ahead: i64,
    pub days_left: i64,
}

/// Numerator, denominator and share of one KPI for one caseworker.
#[derive(Debug, Clone, Copy)]
pub struct Share {
    pub numerator: i64,
    pub denominator: i64,
    pub share: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct CaseworkerFigures {
    pub unit_id: String,
    pub caseworker_id: Option<String>,
    pub caseworker_name: Option<String>,
    pub caseworker_unit_id: Option<String>,
    pub active_cases: i64,
    pub open_investigations: i64,
    pub overdue_items: i64,
    pub plan_coverage: Share,
    pub follow_up_on_time: Share,
    pub investigation_within_limit: Share,
}

/// An application open past its case-processing deadline (plan item 12), as one unit's
/// report lists it.
#[derive(Debug, Clone)]
pub struct Breach {
    pub unit_id: String,
    pub case_unit_id: String,
    pub decision_id: String,
    pub case_id: String,
    pub caseworker_id: Option<String>,
    pub caseworker_name: Option<String>,
    pub paragraph: String,
    pub area: Option<String>,
    pub applied_on: NaiveDate,
    pub deadline: NaiveDate,
    pub days_overdue: i64,
    pub delay_letter_on: Option<NaiveDate>,
    pub delay_letter_sent: bool,
}

/// Whether the export holds one of the further tables (docs/export.md), and how many rows were kept.
#[derive(Debug, Clone)]
pub struct SourceTable {
    pub name: String,
    pub present: bool,
    pub rows: i64,
}

/// Everything the report shows, for all units.
pub struct ReportData {
    pub week: IsoWeek,
    /// Units in tree order (each parent before its children, siblings by name).
    pub units: Vec<UnitInfo>,
    /// KPI figures of the 13 weeks, per unit oldest first.
    pub kpi: Vec<KpiFigure>,
    /// The last 12 weeks, per unit oldest first.
    pub production: Vec<ProductionWeek>,
    pub overdue: Vec<OverdueItem>,
    pub deadlines: Vec<Deadline>,
    pub caseworkers: Vec<CaseworkerFigures>,
    /// Open deadline breaches as of the report date, per unit worst first.
    pub breaches: Vec<Breach>,
    /// The further tables of the export (decisions, notifications, complaints …).
    pub sources: Vec<SourceTable>,
    /// The lists of the audit sections (`lists::AUDIT_LISTS`, in that order).
    pub lists: Vec<List>,
    /// Per-unit figures of the audit sections (`lists::FIGURES`, in that order).
    pub figures: Vec<List>,
    /// The core KPIs one to four weeks ahead of the report date.
    pub projection: List,
    pub tables: Vec<TableOut>,
    /// The KPI table (`cwkpi kpi` order) at the 13 Sundays and the `also_at` dates of
    /// `load`; empty when it was given none.
    pub kpi_rows: Vec<crate::kpi::KpiRow>,
}

/// Weeks of production the report shows (the trend shows one more, for its first change).
pub const PRODUCTION_WEEKS: u32 = 12;

/// The table the report releases once the statements that read it are done.
const POSTINGS: &str = "postings";

impl ReportData {
    /// Reads every figure of the report. What the report shows for its week alone (lists,
    /// figures, the projection) is read from the catalog at the report date alone, so no view
    /// is computed for dates nobody reads; the KPI trend and production from the catalog at
    /// the report's 13 Sundays. The catalog is left at the report date.
    ///
    /// `also_at` are dates the catalog computes beside the 13 Sundays, for a caller that
    /// needs the KPI table there too (the nightly's, at its as-of date): it is read while the
    /// dates are computed (`kpi_rows`), so one computation serves both. Their rows stay out
    /// of the report.
    pub async fn load(catalog: &mut Catalog, week: IsoWeek, also_at: &[NaiveDate]) -> Result<ReportData> {
        let as_of = week.sunday();
        catalog.set_as_of(&[as_of]).await?;
        let units = Frame::new(statement(catalog, "report_units", Some(as_of)).await?)?;
        // The statements that read the postings (the finance lists) run first; then the
        // postings, the largest table by far, are released (the months' sums the budget and
        // its KPI read are kept), and the rest of the report runs without them in memory.
        let specs: Vec<&'static ListSpec> = super::lists::AUDIT_LISTS.iter().chain(&super::lists::FIGURES).collect();
        let mut readers = Vec::with_capacity(specs.len());
        for spec in &specs {
            readers.push(catalog.statement_reads(spec.statement, POSTINGS).await?);
        }
        let mut loaded: Vec<(usize, List)> = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate().filter(|(i, _)| readers[*i]) {
            loaded.push((i, List::load(catalog, spec, as_of).await?));
        }
        catalog.release(POSTINGS).await?;

        // The KPI trend and production at the 13 Sundays come next, while the catalog holds
        // the least: their statements need the most memory of the report's.
        let sundays = week.sundays_back(super::TREND_WEEKS);
        let mut dates = sundays.clone();
        dates.extend_from_slice(also_at);
        catalog.set_as_of(&dates).await?;
        let trend_date = |f: &Frame, i: usize| Ok(sundays.contains(&f.date("as_of", i)?));
        let kpi = Frame::new(statement(catalog, "report_kpi", None).await?)?;
        let production = Frame::new(statement(catalog, "report_production", None).await?)?;
        let kpi_rows = if also_at.is_empty() { Vec::new() } else { catalog.kpi_rows().await? };
        let (kpi, production) = if also_at.iter().all(|d| sundays.contains(d)) {
            (kpi, production)
        } else {
            (kpi.filter(trend_date)?, production.filter(trend_date)?)
        };

        catalog.set_as_of(&[as_of]).await?;
        // The projection next: it computes four more dates.
        let projection = List::load(catalog, &super::lists::PROJECTION, as_of).await?;
        for (i, spec) in specs.iter().enumerate().filter(|(i, _)| !readers[*i]) {
            loaded.push((i, List::load(catalog, spec, as_of).await?));
        }
        // Back in the sheets' order.
        loaded.sort_by_key(|(i, _)| *i);
        let mut lists: Vec<List> = loaded.into_iter().map(|(_, list)| list).collect();
        let figures = lists.split_off(super::lists::AUDIT_LISTS.len());
        let overdue = Frame::new(statement(catalog, "report_overdue", Some(as_of)).await?)?;
        let deadlines = Frame::new(statement(catalog, "report_deadlines", Some(as_of)).await?)?;
        let caseworkers = Frame::new(statement(catalog, "report_caseworkers", Some(as_of)).await?)?;
        let breaches = Frame::new(statement(catalog, "report_breaches", Some(as_of)).await?)?;
        let sources = Frame::new(statement(catalog, "report_sources", None).await?)?;

        let first_production_week = week.minus(PRODUCTION_WEEKS - 1).sunday();
        let production = production.filter(|f, i| Ok(f.date("as_of", i)? >= first_production_week))?;
        let kpi_this_week = kpi.filter(|f, i| Ok(f.date("as_of", i)? == as_of))?;

        let mut tables = vec![
            TableOut { name: "kpi", batch: kpi_this_week.batch.clone() },
            TableOut { name: "kpi_trend", batch: kpi.batch.clone() },
            TableOut { name: "production", batch: production.batch.clone() },
            TableOut { name: "overdue", batch: overdue.batch.clone() },
            TableOut { name: "deadlines", batch: deadlines.batch.clone() },
            TableOut { name: "caseworkers", batch: caseworkers.batch.clone() },
            TableOut { name: "breaches", batch: breaches.batch.clone() },
        ];
        tables.extend(lists.iter().chain(&figures).chain([&projection]).map(List::table));
        Ok(ReportData {
            week,
            units: tree_order(read_units(&units)?),
            kpi: read_kpi(&kpi)?,
            production: read_production(&production)?,
            overdue: read_overdue(&overdue)?,
            deadlines: read_deadlines(&deadlines)?,
            caseworkers: read_caseworkers(&caseworkers)?,
            breaches: read_breaches(&breaches)?,
            sources: read_sources(&sources)?,
            lists,
            figures,
            projection,
            tables,
            kpi_rows,
        })
    }
}

/// A KPI's numerator, denominator and share from the columns `<kpi>_numerator`, ….
fn share(f: &Frame, kpi: &str, i: usize) -> Result<Share> {
    Ok(Share {
        numerator: f.i64(&format!("{kpi}_numerator"), i)?,
        denominator: f.i64(&format!("{kpi}_denominator"), i)?,
        share: f.opt_f64(&format!("{kpi}_share"), i)?,
    })
}

fn read_units(f: &Frame) -> Result<Vec<UnitInfo>> {
    (0..f.rows())
        .map(|i| {
            Ok(UnitInfo {
                id: f.str("unit_id", i)?,
                name: f.opt_str("name", i)?.unwrap_or_default(),
                parent_id: f.opt_str("parent_id", i)?,
                level: f.i64("level", i)?,
                cases: f.i64("cases", i)?,
                active_cases: f.i64("active_cases", i)?,
            })
        })
        .collect()
}

/// Parents before children, siblings by name then id, so an index reads like the tree.
fn tree_order(units: Vec<UnitInfo>) -> Vec<UnitInfo> {
    let ids: std::collections::HashSet<&str> = units.iter().map(|u| u.id.as_str()).collect();
    let mut children: HashMap<Option<&str>, Vec<usize>> = HashMap::new();
    for (i, u) in units.iter().enumerate() {
        // A parent that is not a unit is treated as the top; checks reject such units anyway.
        let parent = u.parent_id.as_deref().filter(|p| ids.contains(p));
        children.entry(parent).or_default().push(i);
    }
    for list in children.values_mut() {
        list.sort_by(|&a, &b| (&units[a].name, &units[a].id).cmp(&(&units[b].name, &units[b].id)));
    }
    let mut order = Vec::with_capacity(units.len());
    let mut stack: Vec<usize> = children.get(&None).map(|v| v.iter().rev().copied().collect()).unwrap_or_default();
    while let Some(i) = stack.pop() {
        order.push(i);
        if let Some(kids) = children.get(&Some(units[i].id.as_str())) {
            stack.extend(kids.iter().rev());
        }
    }
    let mut slots: Vec<Option<UnitInfo>> = units.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

fn read_kpi(f: &Frame) -> Result<Vec<KpiFigure>> {
    (0..f.rows())
        .map(|i| {
            Ok(KpiFigure {
                as_of: f.date("as_of", i)?,
                unit_id: f.str("unit_id", i)?,
                kpi_id: f.str("kpi_id", i)?,
                numerator: f.i64("numerator", i)?,
                denominator: f.i64("denominator", i)?,
                share: f.opt_f64("share", i)?,
                target: f.opt_f64("target", i)?.ok_or_else(|| null_error("target"))?,
                met: f.opt_bool("met", i)?,
                previous_share: f.opt_f64("previous_share", i)?,
                change_pp: f.opt_f64("change_pp", i)?,
            })
        })
        .collect()
}

fn read_production(f: &Frame) -> Result<Vec<ProductionWeek>> {
    (0..f.rows())
        .map(|i| {
            Ok(ProductionWeek {
                as_of: f.date("as_of", i)?,
                unit_id: f.str("unit_id", i)?,
                week: f.str("week", i)?,
                week_start: f.date("week_start", i)?,
                investigations_started: f.i64("investigations_started", i)?,
                investigations_completed: f.i64("investigations_completed", i)?,
                action_plans_created: f.i64("action_plans_created", i)?,
                follow_ups_performed: f.i64("follow_ups_performed", i)?,
                measures_started: f.i64("measures_started", i)?,
            })
        })
        .collect()
}

fn read_overdue(f: &Frame) -> Result<Vec<OverdueItem>> {
    (0..f.rows())
        .map(|i| {
            Ok(OverdueItem {
                unit_id: f.str("unit_id", i)?,
                case_unit_id: f.str("case_unit_id", i)?,
                case_id: f.str("case_id", i)?,
                caseworker_id: f.opt_str("caseworker_id", i)?,
                caseworker_name: f.opt_str("caseworker_name", i)?,
                child_age: f.opt_i64("child_age", i)?,
                kind: f.str("kind", i)?,
                item_id: f.str("item_id", i)?,
                due_on: f.date("due_on", i)?,
                days_overdue: f.i64("days_overdue", i)?,
            })
        })
        .collect()
}

fn read_deadlines(f: &Frame) -> Result<Vec<Deadline>> {
    (0..f.rows())
        .map(|i| {
            Ok(Deadline {
                unit_id: f.str("unit_id", i)?,
                case_unit_id: f.str("case_unit_id", i)?,
                case_id: f.str("case_id", i)?,
                caseworker_id: f.opt_str("caseworker_id", i)?,
                caseworker_name: f.opt_str("caseworker_name", i)?,
                child_age: f.opt_i64("child_age", i)?,
                kind: f.str("kind", i)?,
                item_id: f.str("item_id", i)?,
                due_on: f.date("due_on", i)?,
                due_week: f.str("due_week", i)?,
                weeks_ahead: f.i64("weeks_ahead", i)?,
                days_left: f.i64("days_left", i)?,
            })
        })
        .collect()
}

fn read_caseworkers(f: &Frame) -> Result<Vec<CaseworkerFigures>> {
    (0..f.rows())
        .map(|i| {
            Ok(CaseworkerFigures {
                unit_id: f.str("unit_id", i)?,
                caseworker_id: f.opt_str("caseworker_id", i)?,
                caseworker_name: f.opt_str("caseworker_name", i)?,
                caseworker_unit_id: f.opt_str("caseworker_unit_id", i)?,
                active_cases: f.i64("active_cases", i)?,
                open_investigations: f.i64("open_investigations", i)?,
                overdue_items: f.i64("overdue_items", i)?,
                plan_coverage: share(f, "plan_coverage", i)?,
                follow_up_on_time: share(f, "follow_up_on_time", i)?,
                investigation_within_limit: share(f, "investigation_within_limit", i)?,
            })
        })
        .collect()
}

fn read_breaches(f: &Frame) -> Result<Vec<Breach>> {
    (0..f.rows())
        .map(|i| {
            Ok(Breach {
                unit_id: f.str("unit_id", i)?,
                case_unit_id: f.str("case_unit_id", i)?,
                decision_id: f.str("decision_id", i)?,
                case_id: f.str("case_id", i)?,
                caseworker_id: f.opt_str("caseworker_id", i)?,
                caseworker_name: f.opt_str("caseworker_name", i)?,
                paragraph: f.str("paragraph", i)?,
                area: f.opt_str("area", i)?,
                applied_on: f.date("applied_on", i)?,
                deadline: f.date("deadline", i)?,
                days_overdue: f.i64("days_overdue", i)?,
                delay_letter_on: f.opt_date("delay_letter_on", i)?,
                delay_letter_sent: f.opt_bool("delay_letter_sent", i)?.unwrap_or(false),
            })
        })
        .collect()
}

fn read_sources(f: &Frame) -> Result<Vec<SourceTable>> {
    (0..f.rows())
        .map(|i| {
            Ok(SourceTable {
                name: f.str("table_name", i)?,
                present: f.opt_bool("present", i)?.unwrap_or(false),
                rows: f.i64("rows_kept", i)?,
            })
        })
        .collect()
}
