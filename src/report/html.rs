//! The HTML pages: one self-contained page per unit and an index, from the minijinja
//! templates in `templates/report/` (built into the binary, autoescaped).

use minijinja::{AutoEscape, Environment};
use serde::Serialize;

use super::da;
use super::data::{CaseworkerFigures, Share, UnitInfo};
use super::file_stem;
use super::page::PageContext;
use crate::error::{Error, Result};

mod views;
use super::tiles;
use views::{
    AlsoView, BreachView, CaseworkerView, GoalView, IndexCell, ItemView, KpiView, Link, ProductionView, SectionView,
    ShareCell, SubUnitView, TrendView, UnitView, WeekGroup, age, common_target, icon, kpi_view, section_view,
    split_groups, tile_cell, tile_sentence, trend_view,
};

/// The template environment, with every template built in and HTML escaping always on.
pub fn environment() -> Result<Environment<'static>> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.add_filter("breakable", |heading: String| da::breakable(&heading));
    env.add_filter("thousands", |n: i64| da::integer(n));
    for (name, source) in [
        ("style.css", include_str!("../../templates/report/style.css")),
        ("unit.html", include_str!("../../templates/report/unit.html")),
        ("index.html", include_str!("../../templates/report/index.html")),
        ("sections.html", include_str!("../../templates/report/sections.html")),
        ("section_kpis.html", include_str!("../../templates/report/section_kpis.html")),
        ("section_trends.html", include_str!("../../templates/report/section_trends.html")),
        ("audit.html", include_str!("../../templates/report/audit.html")),
        ("list.html", include_str!("../../templates/report/list.html")),
        ("tile_cell.html", include_str!("../../templates/report/tile_cell.html")),
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
/// Rows of a list shown at once; the rest of those on the page are one click away.
pub const PAGE_ROWS: usize = 25;
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

    let goals: Vec<GoalView> = tiles::tiles()
        .into_iter()
        .filter(|t| t.section.is_none())
        .map(|tile| {
            // The tile stands for its plan item: every KPI of it must be met, and the one
            // that fails worst (or, when all are met, the closest to its target) leads.
            let figures = tiles::lead_first(tile.kpis.iter().filter_map(|k| ctx.this_week(id, k)));
            let met = tiles::tile_met(figures.iter().map(|k| k.met));
            let lead = figures.first().copied();
            let (class, verdict) = da::status(met);
            let sentence = tile_sentence(met);
            let noun =
                if lead.is_some_and(|k| k.kpi_id.starts_with("investigation")) { "undersøgelser" } else { "sager" };
            GoalView {
                kpi_id: lead.map_or(tile.key, |k| k.kpi_id.as_str()).to_string(),
                name: tile.name,
                label: da::kpi_label(lead.map_or(tile.key, |k| k.kpi_id.as_str())).to_string(),
                class,
                verdict: verdict.to_string(),
                sentence,
                icon: icon(met),
                share: da::percent(lead.and_then(|k| k.share)),
                target: lead.map_or_else(|| "–".into(), |k| da::target(k.target)),
                count: lead.map_or_else(String::new, |k| {
                    format!("{} af {} {noun}", da::integer(k.numerator), da::integer(k.denominator))
                }),
                change: da::change_pp(lead.and_then(|k| k.change_pp)),
                also: figures
                    .iter()
                    .skip(1)
                    .map(|o| {
                        let (class, status) = da::status(o.met);
                        AlsoView {
                            class,
                            icon: icon(o.met),
                            status,
                            text: format!(
                                "{}: {} (mål {})",
                                da::kpi_label(&o.kpi_id),
                                da::percent(o.share),
                                da::target(o.target)
                            ),
                        }
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
            let items: Vec<ItemView> = deadline_rows
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
                .collect();
            WeekGroup {
                label: format!("Uge {}", w.week()),
                range: format!("{}–{}", w.monday().format("%d.%m."), da::date(w.sunday())),
                count: items.len(),
                items,
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
    let (deadline_groups, deadline_more) = split_groups(deadline_groups, PAGE_ROWS);
    let deadlines_at_once: usize = deadline_groups.iter().map(|g| g.items.len()).sum();

    // A unit with sub-units shows each of them against every tile, as the tiles lead.
    let all_tiles = tiles::tiles();
    let sub_units: Vec<SubUnitView> = children
        .iter()
        .map(|c| {
            let (goal_tiles, section_tiles): (Vec<_>, Vec<_>) = all_tiles.iter().partition(|t| t.section.is_none());
            let cells = goal_tiles.iter().map(|t| tile_cell(ctx, &c.id, t)).collect();
            let items = section_tiles.iter().map(|t| tile_cell(ctx, &c.id, t)).collect();
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
        deadline_more => deadline_more,
        deadlines_at_once => deadlines_at_once,
        page_rows => PAGE_ROWS,
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
        budget => &sections[4],
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

/// Renders the index of all units with each KPI's status this week.
pub fn index_page(env: &Environment, ctx: &PageContext) -> Result<String> {
    let data = ctx.data;
    let all_tiles = tiles::tiles();
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
            cells: all_tiles.iter().map(|t| tile_cell(ctx, &u.id, t)).collect(),
        })
        .collect();
    // One column per tile, each with its KPIs' targets (one when they share it).
    let columns: Vec<HeaderColumn> = all_tiles
        .iter()
        .map(|t| {
            let mut rules: Vec<String> =
                t.kpis.iter().map(|k| da::target_rule(ctx.target(k), da::lower_is_better(k))).collect();
            rules.dedup();
            HeaderColumn {
                label: t.name.to_string(),
                title: t.kpis.iter().map(|k| da::kpi_label(k)).collect::<Vec<_>>().join("; "),
                // Each rule kept on one line ("≤ 97 %"), the rules apart where the column is narrow.
                target: rules.iter().map(|r| r.replace(' ', "\u{a0}")).collect::<Vec<_>>().join(" / "),
            }
        })
        .collect();
    let missing: Vec<&str> = da::SECTIONS
        .iter()
        .filter(|s| !ctx.has_data(s.table))
        .map(|s| s.no_data.trim_start_matches("Ingen data: "))
        .collect();
    let context = minijinja::context! {
        week_label => data.week.label_da(),
        as_of_long => da::long_date(as_of),
        as_of_short => da::date(as_of),
        columns => columns,
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
        // The complaints and the budget are the KPIs met at or below their target.
        let lower: Vec<&str> = defs.iter().filter(|d| da::lower_is_better(d.id)).map(|d| d.id).collect();
        assert_eq!(lower, [da::SECTIONS[2].kpis, da::SECTIONS[4].kpis].concat());
    }
}
