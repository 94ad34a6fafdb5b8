//! The HTML pages: one self-contained page per unit and an index, from the minijinja
//! templates in `templates/report/` (built into the binary, autoescaped).

use minijinja::{AutoEscape, Environment};
use serde::Serialize;

use super::da;
use super::data::{CaseworkerFigures, KpiFigure, Share, UnitInfo};
use super::file_stem;
use super::page::PageContext;
use crate::error::{Error, Result};

mod views;
use views::{
    BreachView, CaseworkerView, GoalView, IndexCell, ItemView, KpiView, Link, ProductionView, SectionView, ShareCell,
    SubUnitView, TrendView, UnitView, WeekGroup, age, common_target, goal_met, icon, kpi_view, same_plan_item,
    section_status, section_view, trend_view,
};

/// The template environment, with every template built in and HTML escaping always on.
pub fn environment() -> Result<Environment<'static>> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    for (name, source) in [
        ("style.css", include_str!("../../templates/report/style.css")),
        ("unit.html", include_str!("../../templates/report/unit.html")),
        ("index.html", include_str!("../../templates/report/index.html")),
        ("sections.html", include_str!("../../templates/report/sections.html")),
        ("section_kpis.html", include_str!("../../templates/report/section_kpis.html")),
        ("section_trends.html", include_str!("../../templates/report/section_trends.html")),
        ("audit.html", include_str!("../../templates/report/audit.html")),
        ("list.html", include_str!("../../templates/report/list.html")),
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
                        format!(
                            "{}: {} (mål {}) – {}",
                            da::kpi_label(&o.kpi_id),
                            da::percent(o.share),
                            da::target(o.target),
                            verdict.to_lowercase()
                        )
                    })
                    .collect(),
            }
        })
        .collect();

    let mut kpis: Vec<KpiView> =
        crate::kpi::DEFINITIONS.iter().filter_map(|d| ctx.this_week(id, d.id)).map(kpi_view).collect();
    for k in &mut kpis {
        k.projection = super::audit::projection(ctx, id, &k.id)?;
    }
    let projection_weeks: Vec<String> = (1..=4).map(|n| format!("uge {}", week.plus(n).week())).collect();

    // Plan items 12 and 13 and notifications: a tile each and a section each.
    let sections: Vec<SectionView> = da::SECTIONS.iter().map(|sec| section_view(ctx, id, sec)).collect();
    let breach_rows = ctx.breaches.get(id).cloned().unwrap_or_default();
    let breaches: Vec<BreachView> = breach_rows
        .iter()
        .take(LIST_LIMIT)
        .map(|b| BreachView {
            case_id: b.case_id.clone(),
            unit: ctx.unit_name_within(&b.case_unit_id, id),
            caseworker: da::caseworker(b.caseworker_id.as_deref(), b.caseworker_name.as_deref()),
            decision_id: b.decision_id.clone(),
            paragraph: b.paragraph.clone(),
            area: b.area.clone().unwrap_or_default(),
            applied: da::date(b.applied_on),
            deadline: da::date(b.deadline),
            days: b.days_overdue,
            days_text: da::integer(b.days_overdue),
            letter_sent: b.delay_letter_sent,
            letter: match (b.delay_letter_sent, b.delay_letter_on) {
                (true, Some(d)) => format!("Ja, {}", da::date(d)),
                (true, None) => "Ja".into(),
                (false, _) => "Nej".into(),
            },
        })
        .collect();
    let breaches_without_letter = breach_rows.iter().filter(|b| !b.delay_letter_sent).count();
    let complaint_periods = complaint_periods(ctx);

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
    let working: Vec<&&CaseworkerFigures> = caseworker_rows
        .iter()
        .filter(|c| c.active_cases > 0 || c.open_investigations > 0 || c.overdue_items > 0)
        .collect();
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

    // The trend of the three goals' KPIs; the other items draw theirs in their sections.
    let unit_kpi = ctx.kpi.get(id).cloned().unwrap_or_default();
    let trends: Vec<TrendView> = crate::kpi::DEFINITIONS
        .iter()
        .filter(|d| da::section_of(d.id).is_none())
        .map(|d| trend_view(ctx, &unit_kpi, d.id))
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
            let items = da::SECTIONS
                .iter()
                .map(|sec| {
                    let (met, class, verdict, _) = section_status(ctx, &c.id, sec);
                    let title = sec
                        .kpis
                        .iter()
                        .filter_map(|k| ctx.this_week(&c.id, k))
                        .map(|k| format!("{}: {}", da::short_label(&k.kpi_id), da::percent(k.share)))
                        .collect::<Vec<_>>()
                        .join("; ");
                    IndexCell {
                        text: if met.is_some() { icon(met).to_string() } else { "–".into() },
                        class,
                        icon: "",
                        status: if met.is_some() { da::status(met).1 } else { "" },
                        title: if ctx.has_data(sec.table) { title } else { verdict },
                    }
                })
                .collect();
            SubUnitView {
                items,
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
        sections => &sections,
        frister => &sections[0],
        underretninger => &sections[1],
        klager => &sections[2],
        lovmedholdelighed => &sections[3],
        breaches => breaches,
        breach_total => breach_rows.len(),
        breach_total_text => da::integer(breach_rows.len() as i64),
        breaches_without_letter => breaches_without_letter,
        show_breach_unit => show_case_unit,
        window_text => complaint_periods.0,
        baseline_text => complaint_periods.1,
        rules_source => ctx.rules_source,
        audit => super::audit::audit_view(ctx, id)?,
        projection_weeks => projection_weeks,
    };
    env.get_template("unit.html").and_then(|t| t.render(context)).map_err(template_error)
}

/// The complaints' window W and baseline B as of the report date, in words.
pub fn complaint_periods(ctx: &PageContext) -> (String, String) {
    let as_of = ctx.data.week.sunday();
    let window = format!("{}–{}", da::date(as_of - chrono::Duration::days(364)), da::date(as_of));
    let baseline = match ctx.rules.baseline_year {
        Some(year) => format!("året {year}"),
        None => format!(
            "{}–{}",
            da::date(as_of - chrono::Duration::days(729)),
            da::date(as_of - chrono::Duration::days(365))
        ),
    };
    (window, baseline)
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

#[derive(Serialize)]
struct HeaderColumn {
    label: String,
    title: String,
    target: String,
}

#[derive(Serialize)]
struct HeaderGroup {
    heading: String,
    columns: Vec<HeaderColumn>,
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
    // Columns grouped by plan item (items 15–17 first, as the KPI table), each with its target.
    let mut groups: Vec<HeaderGroup> = Vec::new();
    for d in crate::kpi::DEFINITIONS {
        let heading = da::plan_item_heading(d.plan_item);
        let column = HeaderColumn {
            label: da::short_label(d.id).to_string(),
            title: d.label_da.to_string(),
            target: da::target_rule(ctx.target(d.id), d.lower_is_better),
        };
        match groups.last_mut() {
            Some(g) if g.heading == heading => g.columns.push(column),
            _ => groups.push(HeaderGroup { heading, columns: vec![column] }),
        }
    }
    let missing: Vec<&str> = da::SECTIONS
        .iter()
        .filter(|s| !ctx.has_data(s.table))
        .map(|s| s.no_data.trim_start_matches("Ingen data: "))
        .collect();
    let context = minijinja::context! {
        week_label => data.week.label_da(),
        as_of_long => da::long_date(as_of),
        as_of_short => da::date(as_of),
        groups => groups,
        missing => missing,
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
    fn every_kpi_is_under_a_goal_tile_or_in_one_section() {
        let defs = crate::kpi::DEFINITIONS;
        for d in defs {
            let under_goal =
                da::GOALS.iter().any(|(g, ..)| defs.iter().any(|x| x.id == *g && x.plan_item == d.plan_item));
            assert!(under_goal != da::section_of(d.id).is_some(), "{}", d.id);
        }
        for s in &da::SECTIONS {
            for k in s.kpis {
                assert!(defs.iter().any(|d| d.id == *k), "{k}");
            }
        }
        // Complaints are the KPIs met at or below their target.
        let lower: Vec<&str> = defs.iter().filter(|d| da::lower_is_better(d.id)).map(|d| d.id).collect();
        assert_eq!(lower, da::SECTIONS[2].kpis);
    }

    #[test]
    fn plan_items_group_the_kpis_as_the_action_plan_does() {
        assert_eq!(same_plan_item("plan_coverage").collect::<Vec<_>>(), ["plan_on_time"]);
        assert_eq!(same_plan_item("follow_up_on_time").count(), 0);
        assert_eq!(
            same_plan_item("investigation_within_limit").collect::<Vec<_>>(),
            ["investigation_completed_within_limit"]
        );
    }
}
