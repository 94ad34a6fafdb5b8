//! The Excel workbook of one unit: the report's tables as Excel tables (with autofilter),
//! numbers as numbers, dates as dates, and met / not met coloured green / red.

use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Workbook, Worksheet};

use super::audit;
use super::da;
use super::data::{KpiFigure, Share, UnitInfo};
use super::frame::Value;
use super::html::complaint_periods;
use super::lists::{self, Kind, List};
use super::page::PageContext;
use super::tiles;
use crate::error::{Error, Result};

mod sheet;
use sheet::{
    Cell, Formats, colour, colour_share, colour_share_towards, column_cell, write_table, xlsx_error, xlsx_io_cause,
};

/// Deflate level of the workbooks' zip container. A workbook is about 60 small parts,
/// each compressed on its own; at levels 2 and up every part builds its own Huffman trees,
/// which was a large share of compressing them. Level 1 codes with fixed trees: a night's
/// workbooks are written 1.5 s sooner at a million cases, for files a quarter larger than
/// at level 2 (benches/README.md, "Workbooks at Deflate level 1"). The sheets' contents
/// are the same at every level.
const ZIP_LEVEL: u8 = 1;

/// Units with at least this many cases (in the unit and below) get workbooks whose sheets
/// stream their rows through a temporary file each, beside the workbook, so the
/// organisation's and the large centres' hundreds of thousands of rows are never held in
/// memory. Smaller units' sheets go where `SmallSheets` says (benches/README.md,
/// "Workbooks: temporary files and the Deflate level" and "Small workbooks without a
/// thread per sheet").
const STREAMED_FROM_CASES: i64 = 20_000;

/// Where the sheets of units under `STREAMED_FROM_CASES` cases keep their rows until the
/// workbook is saved. Kept in the workbook, the writer assembles each sheet on a thread of
/// its own when it saves: about 30,000 short threads a night at a million cases, whose
/// start and end waited on the process's memory map while the other writer's pages were
/// faulted in. Streamed through temporary files, a sheet needs no thread; in a folder held
/// in memory the files cost next to nothing (on a disk, making and deleting 30,000 files
/// cost more than the threads).
#[derive(Debug, Clone)]
pub struct SmallSheets {
    /// The folder of the temporary files; none: in the workbook.
    folder: Option<PathBuf>,
}

/// The folder Linux keeps in memory for shared files (a tmpfs), and the room it must have
/// free to be used: a small unit's workbook has well under a megabyte of sheets (0.46 MB
/// for the largest department at a million cases), and a container may give it only
/// 64 MB.
const MEMORY_FOLDER: &str = "/dev/shm";
const MEMORY_FOLDER_ROOM: u64 = 256 << 20;

impl SmallSheets {
    pub fn in_workbook() -> SmallSheets {
        SmallSheets { folder: None }
    }

    pub fn streamed_in(folder: PathBuf) -> SmallSheets {
        SmallSheets { folder: Some(folder) }
    }

    /// Streamed through the memory folder when this machine has one with room that this
    /// process can write in; else in the workbook.
    pub fn for_this_machine() -> SmallSheets {
        let folder = Path::new(MEMORY_FOLDER);
        let usable =
            free_bytes(folder).is_some_and(|free| free >= MEMORY_FOLDER_ROOM) && tempfile::tempfile_in(folder).is_ok();
        if usable { SmallSheets::streamed_in(folder.to_path_buf()) } else { SmallSheets::in_workbook() }
    }
}

/// The bytes an unprivileged process may still write in the file system of `dir`.
// statvfs's field types differ between platforms (u64 on 64-bit Linux).
#[allow(clippy::useless_conversion)]
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a NUL-terminated string and `stat` is written by statvfs on success.
    let rc = unsafe { libc::statvfs(path.as_ptr(), stat.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled `stat`.
    let stat = unsafe { stat.assume_init() };
    Some(u64::from(stat.f_bavail).saturating_mul(u64::from(stat.f_frsize)))
}

/// Where one workbook's sheets keep their rows.
#[derive(Clone, Copy)]
enum SheetRows<'a> {
    InWorkbook,
    /// Through a temporary file per sheet in this folder.
    Streamed(&'a Path),
}

/// A new sheet of a workbook whose sheets keep their rows as `rows` says.
fn add_sheet<'a>(wb: &'a mut Workbook, rows: SheetRows) -> Result<&'a mut Worksheet> {
    match rows {
        SheetRows::Streamed(_) => wb.add_worksheet_with_constant_memory().map_err(xlsx_error),
        SheetRows::InWorkbook => Ok(wb.add_worksheet()),
    }
}

/// Sheet names, in workbook order (the report's items 1–5, then the trend, then plan item 12,
/// notifications and plan item 13). The audit lists' sheets follow (`lists::AUDIT_LISTS`, then
/// the projection).
pub const SHEETS: [&str; 9] = [
    "KPI-oversigt",
    "Produktion",
    "Forsinkede sager",
    "Kommende frister",
    "Sagsbehandlere",
    "Udvikling",
    "Sagsbehandlingsfrister",
    "Underretninger",
    "Klager",
];

/// The burn-down's sheet, after the recovery lists'.
pub const RECOVERY_TREND_SHEET: &str = "Genopretningsforløb";

/// Rows of an Excel sheet.
const EXCEL_ROWS: u32 = 1_048_576;

/// Row of the first table header on each sheet (rows 0–1 hold the title and a note).
pub const TABLE_HEADER_ROW: u32 = 3;

fn caseworker(id: Option<&str>, name: Option<&str>) -> Cell {
    Cell::Text(da::caseworker(id, name))
}

fn figure<'a>(figures: &[&'a KpiFigure], date: NaiveDate, kpi_id: &str) -> Option<&'a KpiFigure> {
    figures.iter().copied().find(|k| k.as_of == date && k.kpi_id == kpi_id)
}

fn plan_item(kpi_id: &str) -> Option<i32> {
    crate::kpi::DEFINITIONS.iter().find(|d| d.id == kpi_id).and_then(|d| d.plan_item)
}

/// This week's figures of a section's KPIs in one sentence, for a sheet's note:
/// "Afgørelse inden for sagsbehandlingsfrist: 12 af 15 = 80,0 % (mål 95 %), ikke opfyldt; …".
fn kpi_summary(ctx: &PageContext, unit: &str, kpis: &[&str]) -> String {
    let parts: Vec<String> = kpis
        .iter()
        .filter_map(|k| ctx.this_week(unit, k))
        .map(|k| {
            format!(
                "{}: {} af {} = {} (mål {}), {}",
                da::kpi_label(&k.kpi_id),
                da::count(&k.kpi_id, k.numerator),
                da::count(&k.kpi_id, k.denominator),
                da::percent(k.share),
                da::target_rule(k.target, da::lower_is_better(&k.kpi_id)),
                da::status(k.met).1.to_lowercase()
            )
        })
        .collect();
    if parts.is_empty() { String::new() } else { format!("Denne uge: {}.", parts.join("; ")) }
}

/// Writes `<unit>.xlsx` for one unit. The workbook writer unwraps the errors of the
/// temporary files its sheets are written through (a full disk panics inside it), so its
/// work runs contained and the OS's reason is read back from the panic. A small unit's
/// workbook that cannot be streamed through `small`'s folder (full, or gone) is written
/// again in memory: that folder is only where it is quickest.
pub fn write_workbook(ctx: &PageContext, unit: &UnitInfo, path: &Path, small: &SmallSheets) -> Result<()> {
    let beside = path.parent().unwrap_or(Path::new("."));
    match (unit.cases >= STREAMED_FROM_CASES, small.folder.as_deref()) {
        (true, _) => contained_workbook(ctx, unit, path, SheetRows::Streamed(beside)),
        (false, None) => contained_workbook(ctx, unit, path, SheetRows::InWorkbook),
        (false, Some(folder)) => contained_workbook(ctx, unit, path, SheetRows::Streamed(folder)).or_else(|e| {
            tracing::debug!(unit = unit.id, folder = %folder.display(), error = %e, "workbook written again in memory");
            contained_workbook(ctx, unit, path, SheetRows::InWorkbook)
        }),
    }
}

fn contained_workbook(ctx: &PageContext, unit: &UnitInfo, path: &Path, rows: SheetRows) -> Result<()> {
    crate::contained::run(|| build_workbook(ctx, unit, path, rows)).unwrap_or_else(|panic| {
        Err(match crate::contained::os_error(panic.as_ref()) {
            Some(io) => Error::io_path("write", path, io),
            None => Error::Internal(format!("cannot write {}: the Excel writer failed", path.display())),
        })
    })
}

fn build_workbook(ctx: &PageContext, unit: &UnitInfo, path: &Path, sheet_rows: SheetRows) -> Result<()> {
    let data = ctx.data;
    let week = data.week;
    let as_of = week.sunday();
    let id = unit.id.as_str();
    let f = Formats::new();
    let mut wb = Workbook::new();
    // Streamed sheets' temporary files go in the folder chosen for them (a large unit's
    // beside the workbook, on the disk the run writes to and checks), never in the
    // system's temp folder.
    if let SheetRows::Streamed(dir) = sheet_rows {
        wb.set_tempdir(dir).map_err(xlsx_error)?;
    }
    wb.set_zip_compression_level(ZIP_LEVEL);
    let title = |what: &str| format!("{what} – {} ({id}) – {}", unit.name, week.label_da());
    let empty_note = if unit.cases == 0 {
        format!("Ingen sager: {} har ingen sager pr. {}.", unit.name, da::date(as_of))
    } else {
        String::new()
    };
    let note = |text: String| if empty_note.is_empty() { text } else { format!("{empty_note} {text}") };
    // Stamped with the report's date rather than the clock: the same export and rules give
    // the same bytes, so two runs can be compared file by file.
    let created =
        ExcelDateTime::from_ymd(as_of.year() as u16, as_of.month() as u8, as_of.day() as u8).map_err(xlsx_error)?;
    wb.set_properties(&DocProperties::new().set_creation_datetime(&created));

    // 1. KPI overview.
    {
        let ws = add_sheet(&mut wb, sheet_rows)?.set_name(SHEETS[0]).map_err(xlsx_error)?;
        // Tile by tile as the page shows them, each tile's worst KPI against its target first.
        let rows: Vec<Vec<Cell>> = tiles::tiles()
            .iter()
            .flat_map(|t| tiles::lead_first(t.kpis.iter().filter_map(|k| ctx.this_week(id, k))))
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
                    Cell::Text(if da::lower_is_better(&k.kpi_id) { "andel ≤ mål" } else { "andel ≥ mål" }.to_string()),
                    Cell::Text(da::plan_item_heading(plan_item(&k.kpi_id))),
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
            ("Opfyldt når", 13.0),
            ("Punkt", 26.0),
        ];
        let at = write_table(
            ws,
            &f,
            "KPI",
            &title("Nøgletal"),
            &note(format!(
                "Status pr. søndag {} for enheden og dens underliggende enheder, mål for mål som på siden: det nøgletal, der står dårligst i forhold til sit mål, først. Klager: færre er bedre (opfyldt når andelen er højst målet).",
                da::date(as_of)
            )),
            &columns,
            &rows,
        )?;
        // The share takes the status's colour, which knows each KPI's direction.
        let status = column_cell(&at, 6);
        colour(ws, &f, &at, 4, Some(&format!("={status}=\"Opfyldt\"")), &format!("={status}=\"Ikke opfyldt\""))?;
        colour(ws, &f, &at, 6, Some(&format!("={status}=\"Opfyldt\"")), &format!("={status}=\"Ikke opfyldt\""))?;
    }

    // 2. Production.
    {
        let ws = add_sheet(&mut wb, sheet_rows)?.set_name(SHEETS[1]).map_err(xlsx_error)?;
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
        write_table(
            ws,
            &f,
            "Produktion",
            &title("Produktion pr. uge"),
            &note("De seneste 12 ISO-uger.".into()),
            &columns,
            &rows,
        )?;
    }

    // 3. Overdue cases, worst first.
    {
        let ws = add_sheet(&mut wb, sheet_rows)?.set_name(SHEETS[2]).map_err(xlsx_error)?;
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
        let ws = add_sheet(&mut wb, sheet_rows)?.set_name(SHEETS[3]).map_err(xlsx_error)?;
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
            &note(format!(
                "Uge {}–{} ({}–{}).",
                from.week(),
                to.week(),
                da::date(from.monday()),
                da::date(to.sunday())
            )),
            &columns,
            &rows,
        )?;
    }

    // 5. Caseworkers.
    {
        let ws = add_sheet(&mut wb, sheet_rows)?.set_name(SHEETS[4]).map_err(xlsx_error)?;
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
        let ws = add_sheet(&mut wb, sheet_rows)?.set_name(SHEETS[5]).map_err(xlsx_error)?;
        let figures = ctx.kpi.get(id).map(|v| v.as_slice()).unwrap_or_default();
        let rows: Vec<Vec<Cell>> = week
            .sundays_back(super::TREND_WEEKS)
            .into_iter()
            .map(|date| {
                let mut row = vec![Cell::Text(super::week::IsoWeek::of(date).to_string()), Cell::Date(date)];
                for d in crate::kpi::DEFINITIONS {
                    row.push(Cell::Pct(
                        figures.iter().find(|k| k.as_of == date && k.kpi_id == d.id).and_then(|k| k.share),
                    ));
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
            colour_share_towards(ws, &f, &at, 2 + i as u16, &format!("{:?}", ctx.target(d.id)), d.lower_is_better)?;
        }
    }

    // 7. Plan item 12: every open deadline breach, oldest deadline first.
    {
        let ws = add_sheet(&mut wb, sheet_rows)?.set_name(SHEETS[6]).map_err(xlsx_error)?;
        let section = &da::SECTIONS[0];
        let breaches = ctx.breaches.get(id).map(|v| v.as_slice()).unwrap_or_default();
        let rows: Vec<Vec<Cell>> = breaches
            .iter()
            .map(|b| {
                vec![
                    Cell::Text(b.case_id.clone()),
                    Cell::Text(b.case_unit_id.clone()),
                    Cell::Text(ctx.unit_names.get(b.case_unit_id.as_str()).map_or_else(String::new, |n| n.to_string())),
                    Cell::OptText(b.caseworker_id.clone()),
                    caseworker(b.caseworker_id.as_deref(), b.caseworker_name.as_deref()),
                    Cell::Text(b.decision_id.clone()),
                    Cell::Text(b.paragraph.clone()),
                    Cell::OptText(b.area.clone()),
                    Cell::Date(b.applied_on),
                    Cell::Date(b.deadline),
                    Cell::Int(b.days_overdue),
                    Cell::Text(if b.delay_letter_sent { "Ja" } else { "Nej" }.to_string()),
                    match b.delay_letter_on {
                        Some(d) if b.delay_letter_sent => Cell::Date(d),
                        _ => Cell::OptText(None),
                    },
                ]
            })
            .collect();
        let columns = [
            ("Sag", 12.0),
            ("Enhed-id", 10.0),
            ("Enhed", 28.0),
            ("Sagsbehandler-id", 14.0),
            ("Sagsbehandler", 22.0),
            ("Ansøgning-id", 12.0),
            ("Paragraf", 12.0),
            ("Område", 40.0),
            ("Ansøgt", 12.0),
            ("Frist", 12.0),
            ("Dage over frist", 12.0),
            ("Orienteret om forsinkelse", 14.0),
            ("Orienteringsbrev", 12.0),
        ];
        let text = match ctx.no_data(section) {
            Some(no_data) => no_data,
            None => format!(
                "Åbne ansøgninger over sagsbehandlingsfristen pr. {}, ældste frist først. {}",
                da::date(as_of),
                kpi_summary(ctx, id, section.kpis)
            ),
        };
        let at = write_table(
            ws,
            &f,
            "Fristoverskridelser",
            &title("Sagsbehandlingsfrister (punkt 12)"),
            &note(text),
            &columns,
            &rows,
        )?;
        if !rows.is_empty() {
            let days = column_cell(&at, 10);
            colour(ws, &f, &at, 10, None, &format!("=ISNUMBER({days})"))?;
            let sent = column_cell(&at, 11);
            colour(ws, &f, &at, 11, Some(&format!("={sent}=\"Ja\"")), &format!("={sent}=\"Nej\""))?;
        }
    }

    // 8. Notifications and 9. complaints: their two KPIs week by week over the trend.
    for (sheet, table, section) in
        [(SHEETS[7], "Underretninger", &da::SECTIONS[1]), (SHEETS[8], "Klager", &da::SECTIONS[2])]
    {
        let ws = add_sheet(&mut wb, sheet_rows)?.set_name(sheet).map_err(xlsx_error)?;
        let figures = ctx.kpi.get(id).map(|v| v.as_slice()).unwrap_or_default();
        let no_data = ctx.no_data(section);
        let rows: Vec<Vec<Cell>> = if no_data.is_some() {
            Vec::new()
        } else {
            week.sundays_back(super::TREND_WEEKS)
                .into_iter()
                .map(|date| {
                    let mut row = vec![Cell::Text(super::week::IsoWeek::of(date).to_string()), Cell::Date(date)];
                    for kpi_id in section.kpis {
                        let k = figure(figures, date, kpi_id);
                        row.push(Cell::OptInt(k.map(|k| k.numerator)));
                        row.push(Cell::OptInt(k.map(|k| k.denominator)));
                        row.push(Cell::Pct(k.and_then(|k| k.share)));
                        row.push(Cell::Text(da::status(k.and_then(|k| k.met)).1.to_string()));
                    }
                    row
                })
                .collect()
        };
        let headers: Vec<String> = section
            .kpis
            .iter()
            .flat_map(|kpi_id| {
                let short = da::short_label(kpi_id);
                let (num, den) =
                    if section.key == "klager" { ("i perioden", "i basisperioden") } else { ("tæller", "nævner") };
                [
                    format!("{short} {num}"),
                    format!("{short} {den}"),
                    format!("{short} andel"),
                    format!("{short} status"),
                ]
            })
            .collect();
        let mut columns: Vec<(&str, f64)> = vec![("Uge", 10.0), ("Søndag", 12.0)];
        columns.extend(headers.iter().map(|h| (h.as_str(), 14.0)));
        let text = match no_data {
            Some(no_data) => no_data,
            None if section.key == "klager" => {
                let (window, baseline) = complaint_periods(ctx);
                format!(
                    "Klager i perioden ({window} pr. {}) mod basisperioden ({baseline}) uge for uge; færre er bedre: opfyldt når andelen er højst målet. {}",
                    da::date(as_of),
                    kpi_summary(ctx, id, section.kpis)
                )
            }
            None => format!("Frister i de seneste 365 dage, uge for uge. {}", kpi_summary(ctx, id, section.kpis)),
        };
        let sub = if section.item.is_empty() {
            section.name.to_string()
        } else {
            format!("{} ({})", section.name, section.item)
        };
        let at = write_table(ws, &f, table, &title(&sub), &note(text), &columns, &rows)?;
        if !rows.is_empty() {
            for (i, kpi_id) in section.kpis.iter().enumerate() {
                let share_col = 2 + 4 * i as u16 + 2;
                colour_share_towards(
                    ws,
                    &f,
                    &at,
                    share_col,
                    &format!("{:?}", ctx.target(kpi_id)),
                    da::lower_is_better(kpi_id),
                )?;
            }
        }
    }

    // 10 … : the audit lists (docs/kpis.md) and the projection, a sheet each; after the
    // recovery lists, the burn-down's weekly counts.
    for list in &data.lists {
        write_list(&mut wb, sheet_rows, ctx, unit, list, &f, &title)?;
        if list.spec.key == "recovery_caseworkers" {
            let ws = add_sheet(&mut wb, sheet_rows)?.set_name(RECOVERY_TREND_SHEET).map_err(xlsx_error)?;
            let rows: Vec<Vec<Cell>> = audit::recovery_counts(ctx, id)
                .into_iter()
                .map(|(date, n)| {
                    vec![Cell::Text(super::week::IsoWeek::of(date).to_string()), Cell::Date(date), Cell::OptInt(n)]
                })
                .collect();
            let text = match ctx.no_data(&da::SECTIONS[3]) {
                Some(no_data) => no_data,
                None => format!(
                    "Sager, der mangler mindst ét element i tjeklisten, hver søndag de seneste {} uger.",
                    super::TREND_WEEKS
                ),
            };
            let columns = [("Uge", 10.0), ("Søndag", 12.0), ("Sager tilbage", 14.0)];
            write_table(
                ws,
                &f,
                "RecoveryTrend",
                &title("Sager til genopretning uge for uge"),
                &note(text),
                &columns,
                &rows,
            )?;
        }
    }
    write_list(&mut wb, sheet_rows, ctx, unit, &data.projection, &f, &title)?;

    // Assembled in memory and written here, so the file itself fails cleanly.
    let bytes = wb.save_to_buffer().map_err(|e| match xlsx_io_cause(&e) {
        Some(cause) => Error::writing(path, cause),
        None => Error::Internal(format!("cannot write {}: {e}", path.display())),
    })?;
    std::fs::write(path, bytes).map_err(|e| Error::io_path("write", path, e))
}

/// A list of the audit sections as a sheet: every row of the unit's list.
fn write_list(
    wb: &mut Workbook,
    sheet_rows: SheetRows,
    ctx: &PageContext,
    unit: &UnitInfo,
    list: &List,
    f: &Formats,
    title: &dyn Fn(&str) -> String,
) -> Result<()> {
    let spec = list.spec;
    let ws = add_sheet(wb, sheet_rows)?.set_name(spec.sheet).map_err(xlsx_error)?;
    let mut rows = Vec::new();
    for row in list.rows(&unit.id) {
        let mut cells = Vec::new();
        for column in spec.columns {
            // Names, labels and statuses read as the page shows them; the rest as typed.
            if matches!(column.kind, Kind::Caseworker | Kind::Unit | Kind::Elements | Kind::Kpi | Kind::Met) {
                let text = lists::page_text(column, list, row, &|id: &str| ctx.unit_name_within(id, ""))?;
                cells.push(Cell::Text(text));
                continue;
            }
            cells.push(match (column.kind, list.value(column.source, row)?) {
                (_, Value::Null) => Cell::OptText(None),
                (Kind::Money, Value::Float(x)) => Cell::Money(Some(x)),
                (Kind::Pct, Value::Float(x)) => Cell::Pct(Some(x)),
                (_, Value::Int(n)) => Cell::Int(n),
                (_, Value::Date(d)) => Cell::Date(d),
                (_, Value::Bool(b)) => Cell::Text(if b { "Ja" } else { "Nej" }.to_string()),
                (_, Value::Float(x)) => Cell::Money(Some(x)),
                (_, Value::Text(s)) => Cell::Text(s),
            });
        }
        rows.push(cells);
    }
    let columns: Vec<(&str, f64)> = spec.columns.iter().map(|c| (c.header, c.width)).collect();
    let at = write_table(
        ws,
        f,
        &excel_table_name(spec.key),
        &title(spec.title),
        &list_note(ctx, unit, spec.key),
        &columns,
        &rows,
    )?;
    if let Some(met) = spec.columns.iter().position(|c| c.kind == Kind::Met) {
        let cell = column_cell(&at, met as u16);
        let (yes, no) = (da::milestone_status(Some(true)), da::milestone_status(Some(false)));
        colour(ws, f, &at, met as u16, Some(&format!("={cell}=\"{yes}\"")), &format!("={cell}=\"{no}\""))?;
    }
    Ok(())
}

/// An Excel table name from a list's key: "recovery_trend" → "RecoveryTrend".
fn excel_table_name(key: &str) -> String {
    key.split('_').map(|w| w[..1].to_uppercase() + &w[1..]).collect()
}

/// The note above a list's sheet: what it holds as of when, with the section's figures.
fn list_note(ctx: &PageContext, unit: &UnitInfo, key: &str) -> String {
    let as_of = da::date(ctx.data.week.sunday());
    let no_events = (!ctx.has_data("case_events")).then(|| ctx.no_data(&da::SECTIONS[3]).unwrap_or_default());
    let no_postings = (!ctx.has_data("postings"))
        .then_some("Ingen data: udtrækket har ingen posteringer (tabellen postings).".to_string());
    let text = match key {
        "checklist" => format!("Pr. {as_of}: de aktive sager med aktiv foranstaltning, der mangler hvert element, oftest manglende først. {}", kpi_summary(ctx, &unit.id, &["lawful_case"])),
        "recovery" => format!("Pr. {as_of}: sager, der mangler mindst ét element, i rækkefølgen for genopretning (akutte først, derefter højeste månedlige udgift, derefter sagsnummer). Nr. er pladsen i hele kommunens rækkefølge."),
        "recovery_caseworkers" => format!("Pr. {as_of}: sager til genopretning pr. sagsbehandler (sagsstamme)."),
        "recovery_milestones" => "Delmålene i regelsættet for enheden: højst så mange sager tilbage på datoen. Et delmål frem i tid vises med tallet, som udtrækket kender det.".to_string(),
        "turning_18" => format!("Aktive sager med aktiv foranstaltning, hvor barnet fylder 18 inden for et halvt år fra {as_of}, først fyldende først."),
        "paid_without_measure" => format!("Posteringer de seneste 365 dage til og med {as_of} på en sag uden aktiv foranstaltning på bogføringsdagen, største beløb først."),
        "registered_not_paid" => "Foranstaltninger med månedlig udgift, aktive hele sidste kalendermåned, uden postering i måneden, højeste udgift først.".to_string(),
        "budget_months" => format!("Det periodiserede budget og forbruget pr. konto måned for måned i {}, løbende summeret; afsluttede måneder er dem, hvis sidste dag er senest {as_of}. Beløb i kroner, tilbagebetalinger modregnet.", chrono::Datelike::year(&ctx.data.week.sunday())),
        "kpi_projection" => format!("Nøgletallene for punkt 15–17 og budgetprognosen de næste fire søndage efter {as_of}, beregnet på udtrækket, som det er: hvis intet mere gøres. En fremskrivning, ikke et resultat."),
        _ => String::new(),
    };
    let figure = |key: &str, column: &str| ctx.figure(key, &unit.id, column).unwrap_or(Value::Null);
    let text = match key {
        "turning_18" => format!(
            "{text} {} af {} aktive sager ({}) gælder en ung på 18 år eller derover (efterværn).",
            audit::int_text(&figure("turning_18_units", "aged_18_or_older")),
            audit::int_text(&figure("turning_18_units", "active_cases")),
            da::percent(audit::share(&figure("turning_18_units", "share")))
        ),
        "paid_without_measure" => format!(
            "{text} I alt {} posteringer for {}, heraf {} ({}) bogført på en sag.",
            audit::int_text(&figure("finance", "postings")),
            audit::money_text(&figure("finance", "spent_dkk")),
            audit::money_text(&figure("finance", "booked_on_case_dkk")),
            da::percent(audit::share(&figure("finance", "booked_share")))
        ),
        _ => text,
    };
    let missing = match key {
        "checklist" | "recovery" | "recovery_caseworkers" | "recovery_milestones" => no_events,
        "paid_without_measure" | "registered_not_paid" => no_postings,
        "budget_months" => ctx.no_data(&da::SECTIONS[4]),
        _ => None,
    };
    match missing {
        Some(m) => m,
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_bytes_reads_the_folders_file_system() {
        let dir = tempfile::tempdir().unwrap();
        let free = free_bytes(dir.path()).expect("statvfs of a folder that exists");
        assert!(free > 0, "the test's temp folder has room");
        assert_eq!(free_bytes(&dir.path().join("no such folder")), None);
        assert_eq!(free_bytes(Path::new("a\0name")), None, "a path with a NUL byte is no folder");
    }
}
