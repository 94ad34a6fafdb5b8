//! The HTML pages: one self-contained page per unit and an index, from the minijinja
//! templates in `templates/report/` (built into the binary, autoescaped).

use std::collections::HashMap;

use minijinja::{AutoEscape, Environment, Value};
use serde::Serialize;

use super::chart::{Point, trend_svg};
use super::da;
use super::data::{CaseworkerFigures, Deadline, KpiFigure, OverdueItem, ProductionWeek, ReportData, Share, UnitInfo};
use super::file_stem;
use crate::error::{Error, Result};

/// The template environment, with every template built in and HTML escaping always on.
pub fn environment() -> Result<Environment<'static>> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    for (name, source) in [
        ("style.css", include_str!("../../templates/report/style.css")),
        ("unit.html", include_str!("../../templates/report/unit.html")),
        ("index.html", include_str!("../../templates/report/index.html")),
    ] {
        env.add_template(name, source).map_err(template_error)?;
    }
    Ok(env)
}

fn template_error(e: minijinja::Error) -> Error {
    Error::Internal(format!("report template: {e}"))
}

/// Rows of the overdue and deadline lists on a page; roll-ups of a whole organisation can
/// hold thousands, which belong in the workbook and the CSV tables, not on a printed page.
pub const LIST_LIMIT: usize = 100;
/// Rows of the caseworker table on a page.
pub const CASEWORKER_LIMIT: usize = 200;

/// What every page of one report shares.
pub struct PageContext<'a> {
    pub data: &'a ReportData,
    pub rules: &'a crate::Rules,
    pub rules_source: &'a str,
    pub unit_names: HashMap<&'a str, &'a str>,
    pub children: HashMap<&'a str, Vec<&'a UnitInfo>>,
    pub parents: HashMap<&'a str, &'a str>,
    pub kpi: HashMap<&'a str, Vec<&'a KpiFigure>>,
    pub production: HashMap<&'a str, Vec<&'a ProductionWeek>>,
    pub overdue: HashMap<&'a str, Vec<&'a OverdueItem>>,
    pub deadlines: HashMap<&'a str, Vec<&'a Deadline>>,
    pub caseworkers: HashMap<&'a str, Vec<&'a CaseworkerFigures>>,
}

impl<'a> PageContext<'a> {
    pub fn new(data: &'a ReportData, rules: &'a crate::Rules) -> PageContext<'a> {
        fn group<'a, T>(rows: &'a [T], unit: impl Fn(&'a T) -> &'a str) -> HashMap<&'a str, Vec<&'a T>> {
            let mut map: HashMap<&str, Vec<&T>> = HashMap::new();
            for row in rows {
                map.entry(unit(row)).or_default().push(row);
            }
            map
        }
        let mut children: HashMap<&str, Vec<&UnitInfo>> = HashMap::new();
        let mut parents = HashMap::new();
        for u in &data.units {
            if let Some(p) = u.parent_id.as_deref() {
                children.entry(p).or_default().push(u);
                parents.insert(u.id.as_str(), p);
            }
        }
        PageContext {
            data,
            rules,
            rules_source: rules.source.as_str(),
            unit_names: data.units.iter().map(|u| (u.id.as_str(), u.name.as_str())).collect(),
            children,
            parents,
            kpi: group(&data.kpi, |k| k.unit_id.as_str()),
            production: group(&data.production, |p| p.unit_id.as_str()),
            overdue: group(&data.overdue, |o| o.unit_id.as_str()),
            deadlines: group(&data.deadlines, |d| d.unit_id.as_str()),
            caseworkers: group(&data.caseworkers, |c| c.unit_id.as_str()),
        }
    }

    /// The unit's KPI figure for the report week.
    pub fn this_week(&self, unit: &str, kpi_id: &str) -> Option<&'a KpiFigure> {
        let as_of = self.data.week.sunday();
        self.kpi.get(unit)?.iter().copied().find(|k| k.kpi_id == kpi_id && k.as_of == as_of)
    }

    /// The target of a KPI under the rules in force.
    pub fn target(&self, kpi_id: &str) -> f64 {
        self.rules.target(kpi_id)
    }

    fn unit_name(&self, id: &str) -> String {
        self.unit_names.get(id).map_or_else(|| id.to_string(), |n| n.to_string())
    }

    /// A unit's name as shown inside the report of `within`: "Afdeling X, team 1" becomes
    /// "team 1" on the page of "Afdeling X", which already says where it is.
    fn unit_name_within(&self, id: &str, within: &str) -> String {
        let name = self.unit_name(id);
        let outer = self.unit_name(within);
        match name.strip_prefix(outer.as_str()).and_then(|rest| rest.strip_prefix(", ")) {
            Some(rest) if !rest.is_empty() => rest.to_string(),
            _ => name,
        }
    }
}

#[derive(Serialize)]
struct Link {
    name: String,
    href: String,
}

#[derive(Serialize)]
struct UnitView {
    id: String,
    name: String,
    has_children: bool,
    active_cases: String,
}

#[derive(Serialize)]
struct GoalView {
    kpi_id: &'static str,
    name: &'static str,
    description: &'static str,
    class: &'static str,
    verdict: String,
    sentence: &'static str,
    icon: &'static str,
    share: String,
    target: String,
    count: String,
    change: String,
    /// The plan item's other KPIs, each as "label: share (mål target) – verdict".
    also: Vec<String>,
}

/// The other KPIs of the plan item that `kpi_id` belongs to.
fn same_plan_item(kpi_id: &str) -> impl Iterator<Item = &'static str> + '_ {
    let item = crate::kpi::DEFINITIONS.iter().find(|d| d.id == kpi_id).map(|d| d.plan_item);
    crate::kpi::DEFINITIONS.iter().filter(move |d| Some(d.plan_item) == item && d.id != kpi_id).map(|d| d.id)
}

/// A goal is met when no KPI of its plan item misses its target and at least one was
/// measured; with nothing to measure it has no verdict.
fn goal_met(headline: Option<bool>, others: impl Iterator<Item = Option<bool>>) -> Option<bool> {
    let all: Vec<Option<bool>> = std::iter::once(headline).chain(others).collect();
    if all.contains(&Some(false)) {
        Some(false)
    } else if all.contains(&Some(true)) {
        Some(true)
    } else {
        None
    }
}

#[derive(Serialize)]
struct KpiView {
    id: String,
    label: String,
    numerator: i64,
    denominator: i64,
    share: String,
    /// The exact share for machines and tests ("" when null).
    share_value: String,
    target: String,
    class: &'static str,
    status: &'static str,
    icon: &'static str,
    change: String,
}

#[derive(Serialize)]
struct ItemView {
    case_id: String,
    unit: String,
    age: String,
    caseworker: String,
    what: String,
    item: String,
    item_id: String,
    due: String,
    days: i64,
    days_text: String,
    days_left: String,
}

#[derive(Serialize)]
struct WeekGroup {
    label: String,
    range: String,
    items: Vec<ItemView>,
}

#[derive(Serialize)]
struct ShareCell {
    text: String,
    class: &'static str,
    icon: &'static str,
    status: &'static str,
    title: String,
}

#[derive(Serialize)]
struct CaseworkerView {
    name: String,
    active_cases: i64,
    open_investigations: i64,
    overdue_items: i64,
    shares: Vec<ShareCell>,
}

#[derive(Serialize)]
struct SubUnitView {
    name: String,
    href: String,
    active_cases: String,
    overdue: usize,
    deadlines: usize,
    cells: Vec<IndexCell>,
}

#[derive(Serialize)]
struct TrendView {
    label: String,
    svg: Value,
}

#[derive(Serialize)]
struct ProductionView {
    week: String,
    monday: String,
    investigations_started: i64,
    investigations_completed: i64,
    action_plans_created: i64,
    follow_ups_performed: i64,
    measures_started: i64,
}

fn icon(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "✓",
        Some(false) => "✗",
        None => "–",
    }
}

fn age(age: Option<i64>) -> String {
    age.map_or_else(|| "–".to_string(), |a| format!("{a} år"))
}

/// The goal target as the page states it: "95 %" when all goals share one, else a pointer
/// to the KPI table.
fn common_target(ctx: &PageContext, unit: &str) -> String {
    let targets: Vec<f64> = da::GOALS.iter().filter_map(|(id, ..)| ctx.this_week(unit, id).map(|k| k.target)).collect();
    match targets.first() {
        Some(t) if targets.iter().all(|x| x == t) => da::target(*t),
        Some(_) => "se nøgletal".into(),
        None => "–".into(),
    }
}

/// Renders one unit's page.
pub fn unit_page(env: &Environment, ctx: &PageContext, unit: &UnitInfo) -> Result<String> {
    let data = ctx.data;
    let week = data.week;
    let as_of = week.sunday();
    let previous = week.minus(1);
    let id = unit.id.as_str();
    let children = ctx.children.get(id).cloned().unwrap_or_default();
    let has_children = !children.is_empty();

    let mut crumbs = Vec::new();
    let mut at = ctx.parents.get(id).copied();
    while let Some(p) = at {
        crumbs.push(Link { name: ctx.unit_name(p), href: format!("{}.html", file_stem(p)) });
        at = ctx.parents.get(p).copied();
        if crumbs.len() > data.units.len() {
            break;
        }
    }
    crumbs.reverse();

    let goals: Vec<GoalView> = da::GOALS
        .iter()
        .map(|(kpi_id, name, description)| {
            let k = ctx.this_week(id, kpi_id);
            // The tile stands for its plan item: the item's other KPIs (plan on time,
            // investigations completed in time) must be met too, and are named under it.
            let others: Vec<&KpiFigure> = same_plan_item(kpi_id).filter_map(|other| ctx.this_week(id, other)).collect();
            let met = goal_met(k.and_then(|k| k.met), others.iter().map(|o| o.met));
            let (class, verdict) = da::status(met);
            // The tile shows the short word; screen readers get the sentence.
            let sentence = match met {
                Some(true) => "Målet er opfyldt",
                Some(false) => "Målet er ikke opfyldt",
                None => "Intet at måle",
            };
            let noun = if *kpi_id == "investigation_within_limit" { "undersøgelser" } else { "sager" };
            GoalView {
                kpi_id,
                name,
                description,
                class,
                verdict: verdict.to_string(),
                sentence,
                icon: icon(met),
                share: da::percent(k.and_then(|k| k.share)),
                target: k.map_or_else(|| "–".into(), |k| da::target(k.target)),
                count: k.map_or_else(String::new, |k| {
                    format!("{} af {} {noun}", da::integer(k.numerator), da::integer(k.denominator))
                }),
                change: da::change_pp(k.and_then(|k| k.change_pp)),
                also: others
                    .iter()
                    .map(|o| {
                        let (_, verdict) = da::status(o.met);
                        format!("{}: {} (mål {}) – {}", da::kpi_label(&o.kpi_id), da::percent(o.share), da::target(o.target), verdict.to_lowercase())
                    })
                    .collect(),
            }
        })
        .collect();

    let kpis: Vec<KpiView> = crate::kpi::DEFINITIONS
        .iter()
        .filter_map(|d| ctx.this_week(id, d.id))
        .map(|k| {
            let (class, status) = da::status(k.met);
            KpiView {
                id: k.kpi_id.clone(),
                label: da::kpi_label(&k.kpi_id).to_string(),
                numerator: k.numerator,
                denominator: k.denominator,
                share: da::percent(k.share),
                share_value: k.share.map(|s| format!("{s:?}")).unwrap_or_default(),
                target: da::target(k.target),
                class,
                status,
                icon: icon(k.met),
                change: da::change_pp(k.change_pp),
            }
        })
        .collect();

    let overdue_rows = ctx.overdue.get(id).cloned().unwrap_or_default();
    let overdue: Vec<ItemView> = overdue_rows
        .iter()
        .take(LIST_LIMIT)
        .map(|o| ItemView {
            case_id: o.case_id.clone(),
            unit: ctx.unit_name_within(&o.case_unit_id, id),
            age: age(o.child_age),
            caseworker: da::caseworker(o.caseworker_id.as_deref(), o.caseworker_name.as_deref()),
            what: da::overdue_kind(&o.kind).to_string(),
            item: format!("{} {}", da::item_noun(&o.kind), o.item_id),
            item_id: o.item_id.clone(),
            due: da::date(o.due_on),
            days: o.days_overdue,
            days_text: da::integer(o.days_overdue),
            days_left: String::new(),
        })
        .collect();
    let overdue_cases = overdue_rows.iter().map(|o| o.case_id.as_str()).collect::<std::collections::HashSet<_>>().len();

    let deadline_rows = ctx.deadlines.get(id).cloned().unwrap_or_default();
    let deadline_groups: Vec<WeekGroup> = (1..=4u32)
        .map(|n| {
            let w = week.plus(n);
            let label = w.to_string();
            WeekGroup {
                label: format!("Uge {}", w.week()),
                range: format!("{}–{}", w.monday().format("%d.%m."), da::date(w.sunday())),
                items: deadline_rows
                    .iter()
                    .take(LIST_LIMIT)
                    .filter(|d| d.due_week == label)
                    .map(|d| ItemView {
                        case_id: d.case_id.clone(),
                        unit: ctx.unit_name_within(&d.case_unit_id, id),
                        age: age(d.child_age),
                        caseworker: da::caseworker(d.caseworker_id.as_deref(), d.caseworker_name.as_deref()),
                        what: da::deadline_kind(&d.kind).to_string(),
                        item: format!("{} {}", da::item_noun(&d.kind), d.item_id),
                        item_id: d.item_id.clone(),
                        due: da::date(d.due_on),
                        days: 0,
                        days_text: String::new(),
                        days_left: d.days_left.to_string(),
                    })
                    .collect(),
            }
        })
        .collect();

    let caseworker_rows = ctx.caseworkers.get(id).cloned().unwrap_or_default();
    let working: Vec<&&CaseworkerFigures> =
        caseworker_rows.iter().filter(|c| c.active_cases > 0 || c.open_investigations > 0 || c.overdue_items > 0).collect();
    let caseworkers_total = working.len();
    let caseworkers: Vec<CaseworkerView> = working
        .into_iter()
        .take(CASEWORKER_LIMIT)
        .map(|c| {
            let cell = |kpi_id: &str, s: &Share| {
                let met = s.share.map(|v| v >= ctx.target(kpi_id));
                let (class, status) = da::status(met);
                ShareCell {
                    text: da::percent(s.share),
                    class,
                    icon: if met.is_some() { icon(met) } else { "" },
                    status,
                    title: format!("{} af {}", s.numerator, s.denominator),
                }
            };
            CaseworkerView {
                name: da::caseworker(c.caseworker_id.as_deref(), c.caseworker_name.as_deref()),
                active_cases: c.active_cases,
                open_investigations: c.open_investigations,
                overdue_items: c.overdue_items,
                shares: vec![
                    cell("plan_coverage", &c.plan_coverage),
                    cell("follow_up_on_time", &c.follow_up_on_time),
                    cell("investigation_within_limit", &c.investigation_within_limit),
                ],
            }
        })
        .collect();
    let caseworker_count = caseworker_rows.iter().filter(|c| c.caseworker_id.is_some() && c.active_cases > 0).count();

    let unit_kpi = ctx.kpi.get(id).cloned().unwrap_or_default();
    let trend_dates = week.sundays_back(super::TREND_WEEKS);
    let trends: Vec<TrendView> = crate::kpi::DEFINITIONS
        .iter()
        .map(|d| {
            let points: Vec<Point> = trend_dates
                .iter()
                .map(|date| Point {
                    label: super::week::IsoWeek::of(*date).week().to_string(),
                    share: unit_kpi.iter().find(|k| k.kpi_id == d.id && k.as_of == *date).and_then(|k| k.share),
                })
                .collect();
            let target = ctx.target(d.id);
            TrendView { label: d.label_da.to_string(), svg: Value::from_safe_string(trend_svg(d.label_da, &points, target)) }
        })
        .collect();

    let production: Vec<ProductionView> = ctx
        .production
        .get(id)
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|p| ProductionView {
            week: da::week_short(&p.week),
            monday: da::date(p.week_start),
            investigations_started: p.investigations_started,
            investigations_completed: p.investigations_completed,
            action_plans_created: p.action_plans_created,
            follow_ups_performed: p.follow_ups_performed,
            measures_started: p.measures_started,
        })
        .collect();

    let deadline_count = deadline_rows.len();
    let deadlines_shown: usize = deadline_groups.iter().map(|g| g.items.len()).sum();

    // A unit with sub-units shows each of them against the three goals.
    let sub_units: Vec<SubUnitView> = children
        .iter()
        .map(|c| {
            let cells = da::GOALS
                .iter()
                .map(|(kpi_id, ..)| {
                    let k = ctx.this_week(&c.id, kpi_id);
                    let met = k.and_then(|k| k.met);
                    let (class, status) = da::status(met);
                    IndexCell {
                        text: da::percent(k.and_then(|k| k.share)),
                        class,
                        icon: if met.is_some() { icon(met) } else { "" },
                        status,
                        title: k.map_or_else(String::new, |k| format!("{} af {}", k.numerator, k.denominator)),
                    }
                })
                .collect();
            SubUnitView {
                name: ctx.unit_name_within(&c.id, id),
                href: format!("{}.html", file_stem(&c.id)),
                active_cases: da::integer(c.active_cases),
                overdue: ctx.overdue.get(c.id.as_str()).map_or(0, |v| v.len()),
                deadlines: ctx.deadlines.get(c.id.as_str()).map_or(0, |v| v.len()),
                cells,
            }
        })
        .collect();
    let show_case_unit = has_children;
    let context = minijinja::context! {
        unit => UnitView { id: unit.id.clone(), name: unit.name.clone(), has_children, active_cases: da::integer(unit.active_cases) },
        empty => unit.cases == 0,
        crumbs => crumbs,
        sub_units => sub_units,
        xlsx_href => format!("{}.xlsx", file_stem(id)),
        week_label => week.label_da(),
        week_number => week.week(),
        previous_week_number => previous.week(),
        week_from => week.monday().format("%d.%m.").to_string(),
        as_of_short => da::date(as_of),
        as_of_long => da::long_date(as_of),
        goal_target => common_target(ctx, id),
        goals => goals,
        kpis => kpis,
        overdue => overdue,
        overdue_total => overdue_rows.len(),
        overdue_total_text => da::integer(overdue_rows.len() as i64),
        overdue_cases => overdue_cases,
        overdue_cases_text => da::integer(overdue_cases as i64),
        show_case_unit => show_case_unit,
        deadline_groups => deadline_groups,
        deadline_count => deadline_count,
        deadlines_shown => deadlines_shown,
        deadline_count_text => da::integer(deadline_count as i64),
        deadline_weeks => format!("{}–{}", week.plus(1).week(), week.plus(4).week()),
        deadline_columns => if show_case_unit { 8 } else { 7 },
        caseworkers => caseworkers,
        caseworkers_total => caseworkers_total,
        caseworker_count => caseworker_count,
        trends => trends,
        trend_weeks => super::TREND_WEEKS,
        production => production,
        rules_source => ctx.rules_source,
    };
    env.get_template("unit.html").and_then(|t| t.render(context)).map_err(template_error)
}

#[derive(Serialize)]
struct IndexCell {
    text: String,
    class: &'static str,
    icon: &'static str,
    status: &'static str,
    title: String,
}

#[derive(Serialize)]
struct IndexRow {
    level: i64,
    name: String,
    href: String,
    xlsx: String,
    empty: bool,
    active_cases: String,
    cells: Vec<IndexCell>,
}

/// Renders the index of all units with each KPI's status this week.
pub fn index_page(env: &Environment, ctx: &PageContext) -> Result<String> {
    let data = ctx.data;
    let as_of = data.week.sunday();
    let units: Vec<IndexRow> = data
        .units
        .iter()
        .map(|u| IndexRow {
            level: u.level.min(4),
            name: u.name.clone(),
            href: format!("{}.html", file_stem(&u.id)),
            xlsx: format!("{}.xlsx", file_stem(&u.id)),
            empty: u.cases == 0,
            active_cases: da::integer(u.active_cases),
            cells: crate::kpi::DEFINITIONS
                .iter()
                .map(|d| {
                    let k = ctx.this_week(&u.id, d.id);
                    let met = k.and_then(|k| k.met);
                    let (class, status) = da::status(met);
                    IndexCell {
                        text: da::percent(k.and_then(|k| k.share)),
                        class,
                        // "–" already says there is nothing to measure.
                        icon: if met.is_some() { icon(met) } else { "" },
                        status,
                        title: k.map_or_else(String::new, |k| format!("{} af {}", k.numerator, k.denominator)),
                    }
                })
                .collect(),
        })
        .collect();
    let target = data.kpi.iter().find(|k| k.as_of == as_of).map_or_else(|| "–".into(), |k| da::target(k.target));
    let context = minijinja::context! {
        week_label => data.week.label_da(),
        as_of_long => da::long_date(as_of),
        as_of_short => da::date(as_of),
        goal_target => target,
        headers => crate::kpi::DEFINITIONS.iter().map(|d| d.label_da).collect::<Vec<_>>(),
        units => units,
        rules_source => ctx.rules_source,
    };
    env.get_template("index.html").and_then(|t| t.render(context)).map_err(template_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_goal_fails_when_any_kpi_of_its_plan_item_fails() {
        assert_eq!(goal_met(Some(true), [Some(false)].into_iter()), Some(false));
        assert_eq!(goal_met(Some(false), [Some(true)].into_iter()), Some(false));
        assert_eq!(goal_met(Some(true), [Some(true)].into_iter()), Some(true));
        // Nothing to measure in one KPI does not fail the goal.
        assert_eq!(goal_met(Some(true), [None].into_iter()), Some(true));
        assert_eq!(goal_met(None, [Some(true)].into_iter()), Some(true));
        assert_eq!(goal_met(None, [None].into_iter()), None);
        assert_eq!(goal_met(None, std::iter::empty()), None);
    }

    #[test]
    fn plan_items_group_the_kpis_as_the_action_plan_does() {
        assert_eq!(same_plan_item("plan_coverage").collect::<Vec<_>>(), ["plan_on_time"]);
        assert_eq!(same_plan_item("follow_up_on_time").count(), 0);
        assert_eq!(same_plan_item("investigation_within_limit").collect::<Vec<_>>(), ["investigation_completed_within_limit"]);
    }
}
