//! What the unit page's template sees: one serialisable view per part of the page, and
//! how each is made from the report's figures.

use crate::report::chart::{Point, trend_svg};
use crate::report::da;
use crate::report::data::KpiFigure;
use crate::report::page::PageContext;
use crate::report::tiles;
use minijinja::Value;
use serde::Serialize;

#[derive(Serialize)]
pub(super) struct Link {
    pub(super) name: String,
    pub(super) href: String,
}

#[derive(Serialize)]
pub(super) struct UnitView {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) has_children: bool,
    pub(super) active_cases: String,
}

#[derive(Serialize)]
pub(super) struct GoalView {
    /// The KPI the tile leads with (tiles::lead_first).
    pub(super) kpi_id: String,
    pub(super) name: &'static str,
    /// The leading KPI's label.
    pub(super) label: String,
    pub(super) class: &'static str,
    pub(super) verdict: String,
    pub(super) sentence: &'static str,
    pub(super) icon: &'static str,
    pub(super) share: String,
    pub(super) target: String,
    pub(super) count: String,
    pub(super) change: String,
    /// The tile's other KPIs, each with its own mark.
    pub(super) also: Vec<AlsoView>,
}

/// A KPI under a tile's leading one: "Handleplan foreligger: 95,1 % (mål 95 %)" with its mark.
#[derive(Serialize)]
pub(super) struct AlsoView {
    pub(super) class: &'static str,
    pub(super) icon: &'static str,
    pub(super) status: &'static str,
    pub(super) text: String,
}

#[derive(Serialize)]
pub(super) struct KpiView {
    pub(super) id: String,
    pub(super) label: String,
    /// The label under a heading that names the item ("Formalitet").
    pub(super) short: String,
    pub(super) numerator: i64,
    pub(super) denominator: i64,
    pub(super) share: String,
    /// The exact share for machines and tests ("" when null).
    pub(super) share_value: String,
    pub(super) target: String,
    pub(super) class: &'static str,
    pub(super) status: &'static str,
    pub(super) icon: &'static str,
    pub(super) change: String,
    /// "better" / "worse" / "": the change's direction, lower being better for complaints.
    pub(super) change_class: &'static str,
    pub(super) change_word: &'static str,
    /// The core KPIs' projected shares one to four weeks ahead: (text, status class).
    pub(super) projection: Vec<(String, &'static str)>,
    /// How the figure is counted, for the page's "Sådan beregnes tallet".
    pub(super) how_counted: &'static str,
}

pub(super) fn kpi_view(k: &KpiFigure) -> KpiView {
    let (class, status) = da::status(k.met);
    let lower = da::lower_is_better(&k.kpi_id);
    let (change_class, change_word) = da::change_direction(k.change_pp, lower);
    KpiView {
        id: k.kpi_id.clone(),
        label: da::kpi_label(&k.kpi_id).to_string(),
        short: da::short_label(&k.kpi_id).to_string(),
        how_counted: da::how_counted(&k.kpi_id),
        numerator: k.numerator,
        denominator: k.denominator,
        share: da::percent(k.share),
        share_value: k.share.map(|s| format!("{s:?}")).unwrap_or_default(),
        target: da::target_rule(k.target, lower),
        class,
        status,
        icon: icon(k.met),
        change: da::change_pp(k.change_pp),
        change_class,
        change_word,
        projection: Vec::new(),
    }
}

/// An open deadline breach as the page lists it.
#[derive(Serialize)]
pub(super) struct BreachView {
    pub(super) case_id: String,
    pub(super) unit: String,
    pub(super) caseworker: String,
    pub(super) decision_id: String,
    pub(super) paragraph: String,
    pub(super) area: String,
    pub(super) applied: String,
    pub(super) deadline: String,
    pub(super) days: i64,
    pub(super) days_text: String,
    pub(super) letter_sent: bool,
    pub(super) letter: String,
}

/// A section of plan item 12, 13 or notifications: its tile near the top of the page and
/// its figures further down.
#[derive(Serialize)]
pub(super) struct SectionView {
    pub(super) key: &'static str,
    pub(super) name: &'static str,
    pub(super) item: &'static str,
    /// "Ingen data: udtrækket har ingen …" when the export lacks the table; else empty.
    pub(super) no_data: String,
    /// "Intet at måle: …" when the unit has nothing to count this week; else empty.
    pub(super) nothing: String,
    pub(super) kpis: Vec<KpiView>,
    pub(super) trends: Vec<TrendView>,
    pub(super) class: &'static str,
    pub(super) verdict: String,
    pub(super) sentence: &'static str,
    pub(super) icon: &'static str,
    /// One line per KPI for the tile, the worst first: "Afgjort i frist: 80,0 % (mål 95 %)".
    pub(super) lines: Vec<AlsoView>,
}

#[derive(Serialize)]
pub(super) struct ItemView {
    pub(super) case_id: String,
    pub(super) unit: String,
    pub(super) age: String,
    pub(super) caseworker: String,
    pub(super) what: String,
    pub(super) item: String,
    pub(super) item_id: String,
    pub(super) due: String,
    pub(super) days: i64,
    pub(super) days_text: String,
    pub(super) days_left: String,
}

#[derive(Serialize)]
pub(super) struct WeekGroup {
    pub(super) label: String,
    pub(super) range: String,
    /// The week's deadlines in all, also when the group is split across the fold.
    pub(super) count: usize,
    pub(super) items: Vec<ItemView>,
}

/// The week groups split after `rows` rows: those shown at once, and the rest behind a
/// click (a group split in two keeps its heading in both, the second marked "fortsat").
pub(super) fn split_groups(groups: Vec<WeekGroup>, rows: usize) -> (Vec<WeekGroup>, Vec<WeekGroup>) {
    let (mut shown, mut more) = (Vec::new(), Vec::new());
    let mut left = rows;
    for mut g in groups {
        if left >= g.items.len() {
            left -= g.items.len();
            shown.push(g);
        } else if left == 0 {
            more.push(g);
        } else {
            let rest = g.items.split_off(left);
            left = 0;
            more.push(WeekGroup {
                label: format!("{} (fortsat)", g.label),
                range: g.range.clone(),
                count: g.count,
                items: rest,
            });
            shown.push(g);
        }
    }
    (shown, more)
}

#[derive(Serialize)]
pub(super) struct ShareCell {
    pub(super) text: String,
    pub(super) class: &'static str,
    pub(super) icon: &'static str,
    pub(super) status: &'static str,
    pub(super) title: String,
}

#[derive(Serialize)]
pub(super) struct CaseworkerView {
    pub(super) name: String,
    pub(super) active_cases: i64,
    pub(super) open_investigations: i64,
    pub(super) overdue_items: i64,
    pub(super) shares: Vec<ShareCell>,
}

#[derive(Serialize)]
pub(super) struct SubUnitView {
    pub(super) name: String,
    pub(super) href: String,
    pub(super) active_cases: String,
    pub(super) overdue: usize,
    pub(super) deadlines: usize,
    pub(super) cells: Vec<IndexCell>,
    /// Plan items 12, 13 and notifications: ✓ / ✗ / – with the shares as a tooltip.
    pub(super) items: Vec<IndexCell>,
}

#[derive(Serialize)]
pub(super) struct TrendView {
    pub(super) label: String,
    pub(super) svg: Value,
}

#[derive(Serialize)]
pub(super) struct ProductionView {
    pub(super) week: String,
    pub(super) monday: String,
    pub(super) investigations_started: i64,
    pub(super) investigations_completed: i64,
    pub(super) action_plans_created: i64,
    pub(super) follow_ups_performed: i64,
    pub(super) measures_started: i64,
}

pub(super) fn icon(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "✓",
        Some(false) => "✗",
        None => "–",
    }
}

pub(super) fn age(age: Option<i64>) -> String {
    age.map_or_else(|| "–".to_string(), |a| format!("{a} år"))
}

/// The goal target as the page states it: "95 %" when all goals share one, else a pointer
/// to the KPI table.
pub(super) fn common_target(ctx: &PageContext, unit: &str) -> String {
    let targets: Vec<f64> = da::GOALS.iter().filter_map(|(id, ..)| ctx.this_week(unit, id).map(|k| k.target)).collect();
    match targets.first() {
        Some(t) if targets.iter().all(|x| x == t) => da::target(*t),
        Some(_) => "se nøgletal".into(),
        None => "–".into(),
    }
}

/// A KPI's chart over the report's 13 weeks, against its target.
pub(super) fn trend_view(ctx: &PageContext, unit_kpi: &[&KpiFigure], kpi_id: &str) -> TrendView {
    let points: Vec<Point> = ctx
        .data
        .week
        .sundays_back(crate::report::TREND_WEEKS)
        .iter()
        .map(|date| Point {
            label: crate::report::week::IsoWeek::of(*date).week().to_string(),
            share: unit_kpi.iter().find(|k| k.kpi_id == kpi_id && k.as_of == *date).and_then(|k| k.share),
        })
        .collect();
    let label = da::kpi_label(kpi_id);
    TrendView {
        label: label.to_string(),
        svg: Value::from_safe_string(trend_svg(label, &points, ctx.target(kpi_id), da::lower_is_better(kpi_id))),
    }
}

/// The verdict of a section for a unit: not met when any of its KPIs misses its target;
/// "Ingen data" when the export lacks the table.
pub(super) fn section_status(
    ctx: &PageContext,
    unit: &str,
    section: &da::Section,
) -> (Option<bool>, &'static str, String, &'static str) {
    if !ctx.has_data(section.table) {
        return (None, "none", "Ingen data".into(), "Ingen data");
    }
    let met = tiles::tile_met(section.kpis.iter().filter_map(|k| ctx.this_week(unit, k)).map(|k| k.met));
    let (class, verdict) = da::status(met);
    (met, class, verdict.to_string(), tile_sentence(met))
}

/// What a screen reader hears for a tile's verdict; the tile itself shows the short word.
pub(super) fn tile_sentence(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "Målet er opfyldt",
        Some(false) => "Målet er ikke opfyldt",
        None => "Intet at måle",
    }
}

/// A tile in one cell (the sub-unit table, the index): the leading KPI's share and mark,
/// its short name when the tile has more than one KPI, and every KPI in the title.
pub(super) fn tile_cell(ctx: &PageContext, unit: &str, tile: &tiles::Tile) -> IndexCell {
    if let Some(section) = tile.section
        && !ctx.has_data(section.table)
    {
        let no_data = ctx.no_data(section).unwrap_or_default();
        return IndexCell {
            text: "–".into(),
            class: "none",
            icon: "",
            status: "",
            lead: String::new(),
            title: no_data,
        };
    }
    let figures = tiles::lead_first(tile.kpis.iter().filter_map(|k| ctx.this_week(unit, k)));
    let met = tiles::tile_met(figures.iter().map(|k| k.met));
    let lead = figures.first().copied();
    let (class, status) = da::status(met);
    let title = figures
        .iter()
        .map(|k| {
            format!(
                "{}: {} (mål {}, {} af {}) – {}",
                da::kpi_label(&k.kpi_id),
                da::percent(k.share),
                da::target_rule(k.target, da::lower_is_better(&k.kpi_id)),
                da::count(&k.kpi_id, k.numerator),
                da::count(&k.kpi_id, k.denominator),
                da::status(k.met).1.to_lowercase()
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    IndexCell {
        text: da::percent(lead.and_then(|k| k.share)),
        class,
        // "–" already says there is nothing to measure.
        icon: if met.is_some() { icon(met) } else { "" },
        status: if met.is_some() { status } else { "" },
        lead: match lead {
            Some(k) if tile.kpis.len() > 1 && met.is_some() => da::short_label(&k.kpi_id).to_string(),
            _ => String::new(),
        },
        title,
    }
}

pub(super) fn section_view(ctx: &PageContext, unit: &str, section: &'static da::Section) -> SectionView {
    let figures: Vec<&KpiFigure> = section.kpis.iter().filter_map(|k| ctx.this_week(unit, k)).collect();
    let unit_kpi = ctx.kpi.get(unit).cloned().unwrap_or_default();
    let no_data = ctx.no_data(section).unwrap_or_default();
    // Complaints count in two periods: nothing in either is nothing to measure.
    let nothing = if no_data.is_empty() && figures.iter().all(|k| k.denominator == 0 && k.numerator == 0) {
        format!("{}.", section.nothing)
    } else {
        String::new()
    };
    let (met, class, verdict, sentence) = section_status(ctx, unit, section);
    // The tile's lines in the tiles' order: the KPI that fails worst first.
    let lines = if no_data.is_empty() {
        tiles::lead_first(figures.iter().copied())
            .iter()
            .map(|k| {
                let (class, status) = da::status(k.met);
                AlsoView {
                    class,
                    icon: if k.met.is_some() { icon(k.met) } else { "" },
                    status,
                    text: format!(
                        "{}: {} (mål {})",
                        da::short_label(&k.kpi_id),
                        da::percent(k.share),
                        da::target_rule(k.target, da::lower_is_better(&k.kpi_id))
                    ),
                }
            })
            .collect()
    } else {
        let text = no_data.trim_start_matches("Ingen data: ").trim_end_matches('.').to_string();
        vec![AlsoView { class: "none", icon: "", status: "", text }]
    };
    SectionView {
        key: section.key,
        name: section.name,
        item: section.item,
        no_data,
        nothing,
        kpis: figures.iter().map(|k| kpi_view(k)).collect(),
        trends: section.kpis.iter().map(|k| trend_view(ctx, &unit_kpi, k)).collect(),
        class,
        verdict,
        sentence,
        icon: if ctx.has_data(section.table) { icon(met) } else { "–" },
        lines,
    }
}

#[derive(Serialize)]
pub(super) struct IndexCell {
    pub(super) text: String,
    pub(super) class: &'static str,
    pub(super) icon: &'static str,
    pub(super) status: &'static str,
    /// The leading KPI's short name, in a tile of several KPIs.
    pub(super) lead: String,
    pub(super) title: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(label: &str, items: usize) -> WeekGroup {
        let item = |i: usize| ItemView {
            case_id: format!("{label}-{i}"),
            unit: String::new(),
            age: String::new(),
            caseworker: String::new(),
            what: String::new(),
            item: String::new(),
            item_id: String::new(),
            due: String::new(),
            days: 0,
            days_text: String::new(),
            days_left: String::new(),
        };
        WeekGroup { label: label.into(), range: String::new(), count: items, items: (0..items).map(item).collect() }
    }

    fn shape(groups: &[WeekGroup]) -> Vec<(String, usize, usize)> {
        groups.iter().map(|g| (g.label.clone(), g.items.len(), g.count)).collect()
    }

    #[test]
    fn week_groups_fold_after_the_first_rows_keeping_each_weeks_count() {
        // 10 + 20 + 5 rows, 25 at once: week 2 splits after its 15th row, and its rest
        // keeps its heading, marked, and the week's full count; week 3 is folded whole.
        let (shown, more) = split_groups(vec![group("Uge 1", 10), group("Uge 2", 20), group("Uge 3", 5)], 25);
        assert_eq!(shape(&shown), [("Uge 1".into(), 10, 10), ("Uge 2".into(), 15, 20)]);
        assert_eq!(shape(&more), [("Uge 2 (fortsat)".into(), 5, 20), ("Uge 3".into(), 5, 5)]);
        assert_eq!(more[0].items[0].case_id, "Uge 2-15");
        // A fold exactly at a week's end splits none; empty weeks stay where they fall.
        let (shown, more) = split_groups(vec![group("Uge 1", 25), group("Uge 2", 0), group("Uge 3", 3)], 25);
        assert_eq!(shape(&shown), [("Uge 1".into(), 25, 25), ("Uge 2".into(), 0, 0)]);
        assert_eq!(shape(&more), [("Uge 3".into(), 3, 3)]);
        // Fewer rows than the fold: nothing is folded.
        let (shown, more) = split_groups(vec![group("Uge 1", 3), group("Uge 2", 0)], 25);
        assert_eq!(shown.len(), 2);
        assert!(more.is_empty());
    }
}
