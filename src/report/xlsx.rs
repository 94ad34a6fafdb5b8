//! The Excel workbook of one unit: the report's tables as Excel tables (with autofilter),
//! numbers as numbers, dates as dates, and met / not met coloured green / red.

use std::path::Path;

use chrono::{Datelike, NaiveDate};
use rust_xlsxwriter::utility::row_col_to_cell;
use rust_xlsxwriter::{
    Color, ConditionalFormatFormula, ExcelDateTime, Format, Table, TableColumn, TableStyle, Workbook, Worksheet, XlsxError,
};

use super::da;
use super::data::{Share, UnitInfo};
use super::html::PageContext;
use crate::error::{Error, Result};

/// Sheet names, in workbook order (SPEC §5 items 1–5, then the trend).
pub const SHEETS: [&str; 6] = ["KPI-oversigt", "Produktion", "Forsinkede sager", "Kommende frister", "Sagsbehandlere", "Udvikling"];

/// Row of the first table header on each sheet (rows 0–1 hold the title and a note).
pub const TABLE_HEADER_ROW: u32 = 3;

enum Cell {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
    /// A fraction shown as a percentage.
    Pct(Option<f64>),
    /// Percentage points.
    Points(Option<f64>),
    Date(NaiveDate),
}

struct Formats {
    title: Format,
    date: Format,
    pct: Format,
    points: Format,
    green: Format,
    red: Format,
}

impl Formats {
    fn new() -> Formats {
        Formats {
            title: Format::new().set_bold().set_font_size(14),
            date: Format::new().set_num_format("dd-mm-yyyy"),
            pct: Format::new().set_num_format("0.0%"),
            points: Format::new().set_num_format("+0.0;-0.0;0.0"),
            green: Format::new().set_background_color(Color::RGB(0xC6EFCE)).set_font_color(Color::RGB(0x006100)),
            red: Format::new().set_background_color(Color::RGB(0xFFC7CE)).set_font_color(Color::RGB(0x9C0006)),
        }
    }
}

fn xlsx_error(e: XlsxError) -> Error {
    Error::Internal(format!("Excel workbook: {e}"))
}

/// Where a written table's data sits, for conditional formats.
struct Placed {
    first: u32,
    last: u32,
}

/// Writes a title, a note and an Excel table with a header row. An empty table gets one
/// blank row, since Excel tables need a data row.
fn write_table(
    ws: &mut Worksheet,
    f: &Formats,
    name: &str,
    title: &str,
    note: &str,
    columns: &[(&str, f64)],
    rows: &[Vec<Cell>],
) -> Result<Placed> {
    ws.write_string_with_format(0, 0, title, &f.title).map_err(xlsx_error)?;
    ws.write_string(1, 0, note).map_err(xlsx_error)?;
    let header = TABLE_HEADER_ROW;
    for (r, row) in rows.iter().enumerate() {
        let r = header + 1 + r as u32;
        for (c, cell) in row.iter().enumerate() {
            let c = c as u16;
            match cell {
                Cell::Text(s) => ws.write_string(r, c, s).map(|_| ()),
                Cell::OptText(Some(s)) => ws.write_string(r, c, s).map(|_| ()),
                Cell::Int(n) | Cell::OptInt(Some(n)) => ws.write_number(r, c, *n as f64).map(|_| ()),
                Cell::Pct(Some(x)) => ws.write_number_with_format(r, c, *x, &f.pct).map(|_| ()),
                Cell::Points(Some(x)) => ws.write_number_with_format(r, c, *x, &f.points).map(|_| ()),
                Cell::Date(d) => {
                    let date = ExcelDateTime::from_ymd(d.year() as u16, d.month() as u8, d.day() as u8).map_err(xlsx_error)?;
                    ws.write_date_with_format(r, c, &date, &f.date).map(|_| ())
                }
                Cell::OptText(None) | Cell::OptInt(None) | Cell::Pct(None) | Cell::Points(None) => Ok(()),
            }
            .map_err(xlsx_error)?;
        }
    }
    let last = header + rows.len().max(1) as u32;
    let table_columns: Vec<TableColumn> = columns.iter().map(|(h, _)| TableColumn::new().set_header(*h)).collect();
    let table = Table::new().set_name(name).set_columns(&table_columns).set_style(TableStyle::Medium2).set_autofilter(true);
    ws.add_table(header, 0, last, columns.len() as u16 - 1, &table).map_err(xlsx_error)?;
    for (c, (_, width)) in columns.iter().enumerate() {
        ws.set_column_width(c as u16, *width).map_err(xlsx_error)?;
    }
    ws.set_freeze_panes(header + 1, 0).map_err(xlsx_error)?;
    ws.set_paper_size(9); // A4
    ws.set_landscape();
    ws.set_print_fit_to_pages(1, 0);
    Ok(Placed { first: header + 1, last })
}

/// Colours column `col` green where `met` holds and red where `not_met` does; both are
/// formulas over the first data row (Excel shifts them down the column).
fn colour(ws: &mut Worksheet, f: &Formats, at: &Placed, col: u16, met: Option<&str>, not_met: &str) -> Result<()> {
    for (rule, format) in [(met, &f.green), (Some(not_met), &f.red)] {
        let Some(rule) = rule else { continue };
        let cf = ConditionalFormatFormula::new().set_rule(rule).set_format(format);
        ws.add_conditional_format(at.first, col, at.last, col, &cf).map_err(xlsx_error)?;
    }
    Ok(())
}

/// Green when a share in `share_col` reaches the target (a cell or a number), red below.
fn colour_share(ws: &mut Worksheet, f: &Formats, at: &Placed, share_col: u16, target: &str) -> Result<()> {
    let cell = column_cell(at, share_col);
    colour(
        ws,
        f,
        at,
        share_col,
        Some(&format!("=AND(ISNUMBER({cell}),{cell}>={target})")),
        &format!("=AND(ISNUMBER({cell}),{cell}<{target})"),
    )
}

/// The first data cell of a column with the column fixed and the row relative ("$E5"),
/// so a rule over the column compares each row with its own cells.
fn column_cell(at: &Placed, col: u16) -> String {
    let cell = row_col_to_cell(at.first, col);
    let split = cell.find(|c: char| c.is_ascii_digit()).unwrap_or(0);
    format!("${}{}", &cell[..split], &cell[split..])
}

fn caseworker(id: Option<&str>, name: Option<&str>) -> Cell {
    Cell::Text(da::caseworker(id, name))
}

/// Writes `<unit>.xlsx` for one unit.
pub fn write_workbook(ctx: &PageContext, unit: &UnitInfo, path: &Path) -> Result<()> {
    let data = ctx.data;
    let week = data.week;
    let as_of = week.sunday();
    let id = unit.id.as_str();
    let f = Formats::new();
    let mut wb = Workbook::new();
    let title = |what: &str| format!("{what} – {} ({id}) – {}", unit.name, week.label_da());
    let empty_note = if unit.cases == 0 {
        format!("Ingen sager: {} har ingen sager pr. {}.", unit.name, da::date(as_of))
    } else {
        String::new()
    };
    let note = |text: String| if empty_note.is_empty() { text } else { format!("{empty_note} {text}") };

    // 1. KPI overview.
    {
        let ws = wb.add_worksheet().set_name(SHEETS[0]).map_err(xlsx_error)?;
        let rows: Vec<Vec<Cell>> = crate::kpi::DEFINITIONS
            .iter()
            .filter_map(|d| ctx.this_week(id, d.id))
            .map(|k| {
                vec![
                    Cell::Text(da::kpi_label(&k.kpi_id).to_string()),
                    Cell::Text(k.kpi_id.clone()),
                    Cell::Int(k.numerator),
                    Cell::Int(k.denominator),
                    Cell::Pct(k.share),
                    Cell::Pct(Some(k.target)),
                    Cell::Text(da::status(k.met).1.to_string()),
                    Cell::Pct(k.previous_share),
                    Cell::Points(k.change_pp),
                ]
            })
            .collect();
        let previous = format!("Andel uge {}", week.minus(1).week());
        let columns = [
            ("Nøgletal", 40.0),
            ("Nøgletal-id", 34.0),
            ("Tæller", 9.0),
            ("Nævner", 9.0),
            ("Andel", 9.0),
            ("Mål", 8.0),
            ("Status", 13.0),
            (previous.as_str(), 14.0),
            ("Ændring (procentpoint)", 22.0),
        ];
        let at = write_table(
            ws,
            &f,
            "KPI",
            &title("Nøgletal"),
            &note(format!("Status pr. søndag {} for enheden og dens underliggende enheder.", da::date(as_of))),
            &columns,
            &rows,
        )?;
        colour_share(ws, &f, &at, 4, &column_cell(&at, 5))?;
        let status = column_cell(&at, 6);
        colour(ws, &f, &at, 6, Some(&format!("={status}=\"Opfyldt\"")), &format!("={status}=\"Ikke opfyldt\""))?;
    }

    // 2. Production.
    {
        let ws = wb.add_worksheet().set_name(SHEETS[1]).map_err(xlsx_error)?;
        let rows: Vec<Vec<Cell>> = ctx
            .production
            .get(id)
            .map(|v| v.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|p| {
                vec![
                    Cell::Text(p.week.clone()),
                    Cell::Date(p.week_start),
                    Cell::Date(p.as_of),
                    Cell::Int(p.investigations_started),
                    Cell::Int(p.investigations_completed),
                    Cell::Int(p.action_plans_created),
                    Cell::Int(p.follow_ups_performed),
                    Cell::Int(p.measures_started),
                ]
            })
            .collect();
        let columns = [
            ("Uge", 10.0),
            ("Mandag", 12.0),
            ("Søndag", 12.0),
            ("Undersøgelser startet", 14.0),
            ("Undersøgelser afsluttet", 14.0),
            ("Handleplaner oprettet", 14.0),
            ("Opfølgninger udført", 14.0),
            ("Foranstaltninger startet", 14.0),
        ];
        write_table(ws, &f, "Produktion", &title("Produktion pr. uge"), &note("De seneste 12 ISO-uger.".into()), &columns, &rows)?;
    }

    // 3. Overdue cases, worst first.
    {
        let ws = wb.add_worksheet().set_name(SHEETS[2]).map_err(xlsx_error)?;
        let rows: Vec<Vec<Cell>> = ctx
            .overdue
            .get(id)
            .map(|v| v.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|o| {
                vec![
                    Cell::Text(o.case_id.clone()),
                    Cell::Text(o.case_unit_id.clone()),
                    Cell::Text(ctx.unit_names.get(o.case_unit_id.as_str()).map_or_else(String::new, |n| n.to_string())),
                    Cell::OptText(o.caseworker_id.clone()),
                    caseworker(o.caseworker_id.as_deref(), o.caseworker_name.as_deref()),
                    Cell::OptInt(o.child_age),
                    Cell::Text(da::overdue_kind(&o.kind).to_string()),
                    Cell::Text(o.kind.clone()),
                    Cell::Text(o.item_id.clone()),
                    Cell::Date(o.due_on),
                    Cell::Int(o.days_overdue),
                ]
            })
            .collect();
        let columns = [
            ("Sag", 12.0),
            ("Enhed-id", 10.0),
            ("Enhed", 28.0),
            ("Sagsbehandler-id", 14.0),
            ("Sagsbehandler", 22.0),
            ("Barnets alder", 10.0),
            ("Hvad er forsinket", 26.0),
            ("Type", 22.0),
            ("Id", 12.0),
            ("Frist", 12.0),
            ("Dage over frist", 12.0),
        ];
        let at = write_table(
            ws,
            &f,
            "Forsinkede",
            &title("Forsinkede sager"),
            &note(format!("Pr. {}; længst over fristen først.", da::date(as_of))),
            &columns,
            &rows,
        )?;
        if !rows.is_empty() {
            let days = column_cell(&at, 10);
            colour(ws, &f, &at, 10, None, &format!("=ISNUMBER({days})"))?;
        }
    }

    // 4. Coming deadlines.
    {
        let ws = wb.add_worksheet().set_name(SHEETS[3]).map_err(xlsx_error)?;
        let rows: Vec<Vec<Cell>> = ctx
            .deadlines
            .get(id)
            .map(|v| v.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|d| {
                vec![
                    Cell::Text(d.due_week.clone()),
                    Cell::Date(d.due_on),
                    Cell::Int(d.days_left),
                    Cell::Text(d.case_id.clone()),
                    Cell::Text(d.case_unit_id.clone()),
                    Cell::OptText(d.caseworker_id.clone()),
                    caseworker(d.caseworker_id.as_deref(), d.caseworker_name.as_deref()),
                    Cell::OptInt(d.child_age),
                    Cell::Text(da::deadline_kind(&d.kind).to_string()),
                    Cell::Text(d.kind.clone()),
                    Cell::Text(d.item_id.clone()),
                ]
            })
            .collect();
        let columns = [
            ("Uge", 10.0),
            ("Frist", 12.0),
            ("Dage til", 9.0),
            ("Sag", 12.0),
            ("Enhed-id", 10.0),
            ("Sagsbehandler-id", 14.0),
            ("Sagsbehandler", 22.0),
            ("Barnets alder", 10.0),
            ("Hvad", 30.0),
            ("Type", 22.0),
            ("Id", 12.0),
        ];
        let from = week.plus(1);
        let to = week.plus(4);
        write_table(
            ws,
            &f,
            "Frister",
            &title("Kommende frister"),
            &note(format!("Uge {}–{} ({}–{}).", from.week(), to.week(), da::date(from.monday()), da::date(to.sunday()))),
            &columns,
            &rows,
        )?;
    }

    // 5. Caseworkers.
    {
        let ws = wb.add_worksheet().set_name(SHEETS[4]).map_err(xlsx_error)?;
        let share_cells = |s: &Share| vec![Cell::Int(s.numerator), Cell::Int(s.denominator), Cell::Pct(s.share)];
        let rows: Vec<Vec<Cell>> = ctx
            .caseworkers
            .get(id)
            .map(|v| v.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|c| {
                let mut row = vec![
                    Cell::OptText(c.caseworker_id.clone()),
                    caseworker(c.caseworker_id.as_deref(), c.caseworker_name.as_deref()),
                    Cell::OptText(c.caseworker_unit_id.clone()),
                    Cell::Int(c.active_cases),
                    Cell::Int(c.open_investigations),
                    Cell::Int(c.overdue_items),
                ];
                row.extend(share_cells(&c.plan_coverage));
                row.extend(share_cells(&c.follow_up_on_time));
                row.extend(share_cells(&c.investigation_within_limit));
                row
            })
            .collect();
        let columns = [
            ("Sagsbehandler-id", 14.0),
            ("Sagsbehandler", 22.0),
            ("Placeret i enhed", 12.0),
            ("Aktive sager", 9.0),
            ("Åbne undersøgelser", 11.0),
            ("Forsinkede", 10.0),
            ("Handleplan tæller", 10.0),
            ("Handleplan nævner", 10.0),
            ("Handleplan andel", 10.0),
            ("Opfølgning tæller", 10.0),
            ("Opfølgning nævner", 10.0),
            ("Opfølgning andel", 10.0),
            ("Undersøgelser tæller", 10.0),
            ("Undersøgelser nævner", 10.0),
            ("Undersøgelser andel", 10.0),
        ];
        let at = write_table(
            ws,
            &f,
            "Sagsbehandlere",
            &title("Sagsbehandlere"),
            &note("Sagsbehandlerens egne sager i enheden og dens underliggende enheder.".into()),
            &columns,
            &rows,
        )?;
        for (col, kpi_id) in [(8u16, "plan_coverage"), (11, "follow_up_on_time"), (14, "investigation_within_limit")] {
            colour_share(ws, &f, &at, col, &format!("{:?}", ctx.target(kpi_id)))?;
        }
        let overdue = column_cell(&at, 5);
        colour(ws, &f, &at, 5, Some(&format!("=AND(ISNUMBER({overdue}),{overdue}=0)")), &format!("={overdue}>0"))?;
    }

    // 6. Trend: each KPI's share per week.
    {
        let ws = wb.add_worksheet().set_name(SHEETS[5]).map_err(xlsx_error)?;
        let figures = ctx.kpi.get(id).map(|v| v.as_slice()).unwrap_or_default();
        let rows: Vec<Vec<Cell>> = week
            .sundays_back(super::TREND_WEEKS)
            .into_iter()
            .map(|date| {
                let mut row = vec![Cell::Text(super::week::IsoWeek::of(date).to_string()), Cell::Date(date)];
                for d in crate::kpi::DEFINITIONS {
                    row.push(Cell::Pct(figures.iter().find(|k| k.as_of == date && k.kpi_id == d.id).and_then(|k| k.share)));
                }
                row
            })
            .collect();
        let mut columns: Vec<(&str, f64)> = vec![("Uge", 10.0), ("Søndag", 12.0)];
        columns.extend(crate::kpi::DEFINITIONS.iter().map(|d| (d.label_da, 16.0)));
        let at = write_table(
            ws,
            &f,
            "Udvikling",
            &title("Udvikling"),
            &note(format!("Andel pr. uge, de seneste {} uger. Tom celle: intet at måle.", super::TREND_WEEKS)),
            &columns,
            &rows,
        )?;
        for (i, d) in crate::kpi::DEFINITIONS.iter().enumerate() {
            colour_share(ws, &f, &at, 2 + i as u16, &format!("{:?}", ctx.target(d.id)))?;
        }
    }

    wb.save(path).map_err(|e| Error::Internal(format!("cannot write {}: {e}", path.display())))?;
    Ok(())
}
