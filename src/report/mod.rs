//! The weekly report ("ugerapport", docs/report.md): for every unit an HTML page and an Excel
//! workbook, an index of all units, and the report's tables as CSV and Parquet.
//!
//! One catalog computes the 13 Sundays W-12 … W at once, so this week's figures, last
//! week's change and the trend come from one computation. The figures are read from the
//! report views (`queries/views/2*.sql`), which analysts can query the same way.

pub mod audit;
pub mod chart;
pub mod da;
pub mod data;
pub mod frame;
pub mod html;
pub mod lists;
pub mod page;
pub mod publish;
pub mod tables;
pub mod tiles;
pub mod week;
pub mod xlsx;

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use serde::Serialize;

pub use week::IsoWeek;

use crate::Catalog;
use crate::catalog::Lifetime;
use crate::error::{Error, Result};

/// Weeks in the trend: the report week and the 12 before it.
pub const TREND_WEEKS: u32 = 13;

#[derive(Debug, Clone, Copy)]
pub struct ReportOptions {
    pub week: IsoWeek,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReportSummary {
    pub units: usize,
    pub files: usize,
    /// Each unit's id and name, for what is sent about the report.
    pub unit_names: std::collections::BTreeMap<String, String>,
    /// The KPI table (`cwkpi kpi` order) at the trend's Sundays and `also_at`, read while
    /// the catalog computed them for the trend; empty when `also_at` is.
    pub kpi_rows: Vec<crate::kpi::KpiRow>,
}

/// One writer's pages and workbooks: files written and the time each kind took.
#[derive(Default)]
struct PagesWritten {
    files: usize,
    html: Duration,
    xlsx: Duration,
}

/// Written beside the reports: which week, as of which day, from which rules. It also marks
/// the folder as a report folder, which `publish` may replace on the next run.
#[derive(Serialize)]
struct Manifest<'a> {
    generator: &'a str,
    week: String,
    as_of: NaiveDate,
    trend_from: NaiveDate,
    units: usize,
    rules_source: &'a str,
    rules_fingerprint: &'a str,
}

pub const MANIFEST: &str = "report.json";
pub const GENERATOR: &str = "cwkpi report";

/// Views to keep in a catalog that writes reports (`EngineOptions::cached_views`): the
/// report reads the case views at its one date in several statements (overdue items,
/// caseworkers, the checklist, recovery), which would each compute them again. They are
/// not kept over the trend's 13 dates, where one query reads them.
pub fn cached_views() -> Vec<(String, Lifetime)> {
    ["case_compliance", "case_checklist"].iter().map(|v| (v.to_string(), Lifetime::SingleDate)).collect()
}

/// Writes the report for `week` into `out`, which must exist; nothing is written outside it.
/// The catalog is left set to the report date (see `ReportData::load`), without the
/// postings: the report releases them once its finance lists have read them, so a caller
/// that needs them reads them first. A caller that needs the KPI table at other dates too
/// names them in `also_at` and finds it in the summary (`kpi_rows`).
pub async fn write_reports(
    catalog: &mut Catalog,
    week: IsoWeek,
    out: &Path,
    also_at: &[NaiveDate],
) -> Result<ReportSummary> {
    out_folder(out)?;
    let figures = compute_report(catalog, week, also_at).await?;
    write_report(figures, out)
}

fn out_folder(out: &Path) -> Result<()> {
    if !out.is_dir() {
        return Err(Error::Usage(format!("report folder {} does not exist", out.display())));
    }
    Ok(())
}

/// Everything the report of one week shows, read from a catalog: the pages and workbooks
/// are written from it alone.
pub struct ReportFigures {
    data: data::ReportData,
    rules: crate::Rules,
}

/// Reads the report's figures for `week` (see `write_reports`). A caller that has no more
/// use for the catalog drops it before `write_report`, so the pages are written without
/// the export in memory.
pub async fn compute_report(catalog: &mut Catalog, week: IsoWeek, also_at: &[NaiveDate]) -> Result<ReportFigures> {
    let started = Instant::now();
    let data = data::ReportData::load(catalog, week, also_at).await?;
    tracing::info!(seconds = started.elapsed().as_secs_f64(), units = data.units.len(), "report figures computed");
    Ok(ReportFigures { data, rules: catalog.rules.clone() })
}

/// Writes the report's pages, workbooks and tables into `out`, which must exist; nothing
/// is written outside it but the small workbooks' sheets' temporary files, which the
/// machine's memory folder holds while they are written (`xlsx::SmallSheets`).
pub fn write_report(figures: ReportFigures, out: &Path) -> Result<ReportSummary> {
    let small = xlsx::SmallSheets::for_this_machine();
    tracing::debug!(sheets = ?small, "where small units' workbooks keep their sheets");
    write_report_with(figures, out, &small)
}

/// `write_report`, with the small units' sheets kept as `small` says.
pub fn write_report_with(figures: ReportFigures, out: &Path, small: &xlsx::SmallSheets) -> Result<ReportSummary> {
    out_folder(out)?;
    let ReportFigures { data, rules } = figures;
    let rules = &rules;
    let week = data.week;
    let dates = week.sundays_back(TREND_WEEKS);
    let ctx = page::PageContext::new(&data, rules);
    let env = html::environment()?;

    let mut files = 0;
    let write = |name: &str, text: &str| -> Result<()> {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(|e| Error::io(format!("cannot write {}", path.display()), e))
    };
    write("index.html", &html::index_page(&env, &ctx)?)?;
    files += 1;
    // Pages and workbooks are independent: write them on every core. The units come
    // parents first, and a parent's workbook holds its whole subtree (the organisation's
    // is the largest by far), so the largest are taken first.
    let tallies = crate::cores::deal_out(&data.units, "report writer", |unit, tally: &mut PagesWritten| {
        let stem = file_stem(&unit.id);
        let started = Instant::now();
        write(&format!("{stem}.html"), &html::unit_page(&env, &ctx, unit)?)?;
        let html_done = Instant::now();
        xlsx::write_workbook(&ctx, unit, &out.join(format!("{stem}.xlsx")), small)?;
        tally.html += html_done - started;
        tally.xlsx += html_done.elapsed();
        tracing::trace!(
            unit = unit.id,
            cases = unit.cases,
            html_seconds = (html_done - started).as_secs_f64(),
            xlsx_seconds = html_done.elapsed().as_secs_f64(),
            "unit's page and workbook written"
        );
        tally.files += 2;
        Ok(())
    })?;
    for (worker, tally) in tallies.iter().enumerate() {
        tracing::debug!(
            worker,
            html_seconds = tally.html.as_secs_f64(),
            xlsx_seconds = tally.xlsx.as_secs_f64(),
            "report pages written"
        );
        files += tally.files;
    }
    let started = Instant::now();
    files += tables::write_tables(&data.tables, &out.join("tables"))?;
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "report tables written");

    let manifest = Manifest {
        generator: GENERATOR,
        week: week.to_string(),
        as_of: week.sunday(),
        trend_from: dates.first().copied().unwrap_or(week.sunday()),
        units: data.units.len(),
        rules_source: &rules.source,
        rules_fingerprint: &rules.fingerprint,
    };
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| Error::Internal(format!("report manifest: {e}")))?;
    write(MANIFEST, &(text + "\n"))?;
    files += 1;
    let unit_names = data.units.iter().map(|u| (u.id.clone(), u.name.clone())).collect();
    Ok(ReportSummary { units: data.units.len(), files, unit_names, kpi_rows: data.kpi_rows })
}

/// A unit id as a file name: letters, digits, `_` and `-` stay; every other byte becomes
/// `~XX` (hex), so distinct ids give distinct names. Names a system reserves (`index`,
/// which is the index page, and Windows device names) get their first letter escaped.
pub fn file_stem(unit_id: &str) -> String {
    let mut out = String::with_capacity(unit_id.len());
    for b in unit_id.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("~{b:02X}"));
        }
    }
    const RESERVED: [&str; 5] = ["index", "con", "prn", "aux", "nul"];
    let lower = out.to_ascii_lowercase();
    let device = (lower.starts_with("com") || lower.starts_with("lpt"))
        && lower.len() == 4
        && lower.as_bytes()[3].is_ascii_digit();
    if out.is_empty() {
        return "~".into();
    }
    if RESERVED.contains(&lower.as_str()) || device {
        let first = out.as_bytes()[0];
        out = format!("~{first:02X}{}", &out[1..]);
    }
    out
}
