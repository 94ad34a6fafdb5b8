//! `cwkpi nightly`: the operator's batch job. Validates the export, computes the KPIs as
//! of one date and publishes everything atomically into an output folder:
//!
//! ```text
//! OUT/.lock                      held (flock) while a run works; a second run exits 75
//! OUT/.tmp-<as_of>-<pid>/        the run being written; renamed into runs/ when complete
//! OUT/runs/<as_of>/              kpi.csv, kpi.parquet, validation.*, summary.json, report/ (weekly report)
//! OUT/latest -> runs/<as_of>     symlink to the newest as-of date, replaced atomically
//! OUT/history/as_of=<D>/kpi.parquet   the figures as reported, one file per as-of date
//! OUT/failed/<as_of>/            validation report of a run stopped by the rejected-row threshold
//! ```
//!
//! A run that fails or is killed leaves `runs/`, `latest` and `history/` as they were;
//! its temporary folder is removed by the next run.

use std::fs::{self, File};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{Days, NaiveDate};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tracing::{error, info, warn};

use crate::catalog::{Catalog, EngineOptions};
use crate::error::{Error, Result};
use crate::kpi::CSV_HEADER;
use crate::memory_budget::{Loaded, load_export};
use crate::report::IsoWeek;
use crate::rules::Rules;
use crate::snapshot::Snapshot;
use crate::validate::{TableCounts, ValidationReport, write_file};

/// How log lines on stderr look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Debug, Clone)]
pub struct NightlyOptions {
    pub exports: PathBuf,
    pub out: PathBuf,
    /// None: the export's `manifest.json` `export_date`, else yesterday in Copenhagen.
    pub as_of: Option<NaiveDate>,
    pub rules: Option<PathBuf>,
    pub max_rejected_share: f64,
    pub memory_limit: Option<usize>,
    /// Show progress bars (only drawn when stderr is a terminal).
    pub progress: bool,
    /// Mail the weekly report to these recipients once the run is published.
    pub deliver: Option<crate::delivery::DeliveryPlan>,
}

/// What a successful run published.
#[derive(Debug, Clone)]
pub struct NightlyOutcome {
    pub as_of: NaiveDate,
    pub run_dir: PathBuf,
    pub kpi_rows: usize,
    pub units: usize,
    pub rejected: usize,
    pub queries: usize,
    pub reports: Option<String>,
    /// What became of each recipient's mail (with `--deliver`).
    pub deliveries: Vec<crate::delivery::Delivery>,
    pub duration: Duration,
}

impl NightlyOutcome {
    /// The one line a run prints on stdout.
    pub fn summary_line(&self) -> String {
        let reports = self.reports.as_deref().map(|r| format!(", {r}")).unwrap_or_default();
        let mailed = if self.deliveries.is_empty() {
            String::new()
        } else {
            let count = |status: &str| self.deliveries.iter().filter(|d| d.status == status).count();
            format!(
                "; mailed {} of {} recipients ({} failed, {} not due)",
                count("sent"),
                self.deliveries.len(),
                count("failed"),
                count("skipped")
            )
        };
        format!(
            "ok: as of {} — {} KPI rows for {} units, {} rows rejected, {} queries{reports}{mailed}; published {} in {:.1} s",
            self.as_of,
            self.kpi_rows,
            self.units,
            self.rejected,
            self.queries,
            self.run_dir.display(),
            self.duration.as_secs_f64()
        )
    }
}

/// Where the as-of date came from, recorded in the run summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AsOfSource {
    Argument,
    Manifest,
    Yesterday,
}

impl AsOfSource {
    pub fn as_str(self) -> &'static str {
        match self {
            AsOfSource::Argument => "argument",
            AsOfSource::Manifest => "manifest",
            AsOfSource::Yesterday => "yesterday",
        }
    }
}

/// The as-of date of a command: `given` (--as-of), else the export's default date.
pub fn as_of_or_default(given: Option<NaiveDate>, exports: &Path) -> Result<(NaiveDate, AsOfSource)> {
    match given {
        Some(d) => Ok((d, AsOfSource::Argument)),
        None => default_as_of(exports),
    }
}

/// The as-of date when none is given: the export's own date from `manifest.json`
/// (`export_date`), else yesterday in Copenhagen. A manifest that exists but cannot be
/// read is an error rather than a silent fallback to another date.
pub fn default_as_of(exports: &Path) -> Result<(NaiveDate, AsOfSource)> {
    let path = exports.join("manifest.json");
    if !path.is_file() {
        return Ok((yesterday(), AsOfSource::Yesterday));
    }
    let text = fs::read_to_string(&path).map_err(|e| Error::io_path("read", &path, e))?;
    let bad = |what: &str| Error::Export(format!("{}: {what}; fix the manifest or pass --as-of", path.display()));
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|_| bad("not valid JSON"))?;
    match value.get("export_date") {
        None | Some(serde_json::Value::Null) => Ok((yesterday(), AsOfSource::Yesterday)),
        Some(serde_json::Value::String(s)) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(|d| (d, AsOfSource::Manifest))
            .map_err(|_| bad("field export_date is not a date like 2026-11-22")),
        Some(_) => Err(bad("field export_date is not a date like 2026-11-22")),
    }
}

fn yesterday() -> NaiveDate {
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Europe::Copenhagen).date_naive();
    today - Days::new(1)
}

/// Routes log lines to stderr, on `RUST_LOG`'s level (default info).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(|| BarAwareStderr);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// The progress bar being drawn, so log lines can be written around it.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Stderr that lifts the progress bar while a log line is written.
struct BarAwareStderr;

impl Write for BarAwareStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = BAR.lock().ok().and_then(|b| b.clone());
        match bar {
            Some(bar) if !bar.is_hidden() => bar.suspend(|| std::io::stderr().write_all(buf))?,
            _ => std::io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Timed steps, shown as a progress bar on a terminal and recorded in the summary.
struct Steps {
    bar: ProgressBar,
    done: Vec<StepTime>,
}

#[derive(Debug, Clone, Serialize)]
struct StepTime {
    step: &'static str,
    seconds: f64,
}

impl Steps {
    fn new(count: u64, show: bool) -> Steps {
        let target = if show { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        let bar = ProgressBar::with_draw_target(Some(count), target);
        if let Ok(style) = ProgressStyle::with_template("{spinner} [{pos}/{len}] {msg} ({elapsed})") {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(120));
        if let Ok(mut slot) = BAR.lock() {
            *slot = Some(bar.clone());
        }
        Steps { bar, done: Vec::new() }
    }

    fn run<T>(&mut self, step: &'static str, work: impl FnOnce() -> Result<T>) -> Result<T> {
        self.bar.set_message(step);
        let started = Instant::now();
        let result = work();
        self.finish(step, started);
        result
    }

    async fn run_async<T>(
        &mut self,
        step: &'static str,
        work: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        self.bar.set_message(step);
        let started = Instant::now();
        let result = work.await;
        self.finish(step, started);
        result
    }

    fn finish(&mut self, step: &'static str, started: Instant) {
        let seconds = started.elapsed().as_secs_f64();
        info!(step, seconds, "step done");
        self.done.push(StepTime { step, seconds });
        self.bar.inc(1);
    }
}

impl Drop for Steps {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
        if let Ok(mut slot) = BAR.lock() {
            *slot = None;
        }
    }
}

/// The run summary written as `summary.json`.
#[derive(Debug, Serialize)]
struct RunSummary<'a> {
    status: &'static str,
    exit_code: i32,
    message: Option<String>,
    as_of: NaiveDate,
    as_of_source: AsOfSource,
    exports: String,
    export_fingerprint: &'a str,
    rules_source: &'a str,
    rules_fingerprint: &'a str,
    max_rejected_share: f64,
    tables: &'a [TableCounts],
    rows_rejected: usize,
    queries: usize,
    kpi_rows: usize,
    reports: Option<String>,
    started_at: String,
    /// Steps before publication; publishing itself follows the writing of this file.
    steps: &'a [StepTime],
    cwkpi_version: &'static str,
}

/// Runs the nightly job. On any error, nothing under `runs/`, `latest` or `history/`
/// has changed.
pub async fn run(opts: &NightlyOptions) -> Result<NightlyOutcome> {
    let result = run_locked(opts).await;
    if let Err(e) = &result {
        error!(exit_code = e.exit_code(), "run failed: {e}");
    }
    result
}

async fn run_locked(opts: &NightlyOptions) -> Result<NightlyOutcome> {
    let started = Instant::now();
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    if !(0.0..=1.0).contains(&opts.max_rejected_share) {
        return Err(Error::Usage(format!(
            "--max-rejected-share {} must be a fraction between 0 and 1 (0.05, not 5)",
            opts.max_rejected_share
        )));
    }
    if !opts.exports.is_dir() {
        return Err(Error::Usage(format!("export folder {} does not exist", opts.exports.display())));
    }
    let (as_of, as_of_source) = as_of_or_default(opts.as_of, &opts.exports)?;
    let rules = Rules::load(opts.rules.as_deref())?;
    info!(as_of = %as_of, as_of_source = as_of_source.as_str(), exports = %opts.exports.display(), out = %opts.out.display(), rules = %rules.source, "nightly run starts");

    let out = &opts.out;
    fs::create_dir_all(out).map_err(|e| Error::io(format!("cannot create output folder {}", out.display()), e))?;
    let _lock = OutputLock::acquire(out)?;
    remove_stale(out)?;

    let tmp = out.join(format!(".tmp-{as_of}-{}", std::process::id()));
    let outcome = match produce(opts, &rules, as_of, as_of_source, &tmp, &started_at).await {
        Ok(produced) => publish(out, &tmp, as_of, &produced.kpi_parquet).map(|run_dir| (produced, run_dir)),
        Err(e) => Err(e),
    };
    let (produced, run_dir) = outcome.inspect_err(|_| {
        remove_quietly(&tmp);
        remove_quietly(&spill_dir(&tmp));
    })?;
    // Mail only what is published; no failure to send changes the run's outcome.
    let deliveries = match &opts.deliver {
        Some(plan) => deliver(plan, &run_dir, produced.week, as_of, produced.unit_names).await,
        None => Vec::new(),
    };
    Ok(NightlyOutcome {
        as_of,
        run_dir,
        kpi_rows: produced.kpi_rows,
        units: produced.units,
        rejected: produced.rejected,
        queries: produced.queries,
        reports: produced.reports,
        deliveries,
        duration: started.elapsed(),
    })
}

/// Sends the report's mails (off the async workers: SMTP is blocking here) and records
/// the outcome of each in the published run's `summary.json`.
async fn deliver(
    plan: &crate::delivery::DeliveryPlan,
    run_dir: &Path,
    week: IsoWeek,
    as_of: NaiveDate,
    unit_names: std::collections::BTreeMap<String, String>,
) -> Vec<crate::delivery::Delivery> {
    let (plan, report_dir) = (plan.clone(), run_dir.join("report"));
    let deliveries = tokio::task::spawn_blocking(move || plan.deliver(&report_dir, week, as_of, &unit_names))
        .await
        .unwrap_or_default();
    let summary = run_dir.join("summary.json");
    let recorded = fs::read(&summary)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).map_err(|e| e.to_string()))
        .and_then(|mut json| {
            json["delivery"] = serde_json::to_value(&deliveries).map_err(|e| e.to_string())?;
            let mut bytes = serde_json::to_vec_pretty(&json).map_err(|e| e.to_string())?;
            bytes.push(b'\n');
            write_file(&summary, &bytes).map_err(|e| e.to_string())
        });
    if let Err(e) = recorded {
        warn!(file = %summary.display(), error = %e, "the mails' outcome could not be added to the summary");
    }
    deliveries
}

/// What `produce` wrote into the temporary folder.
struct Produced {
    kpi_parquet: Vec<u8>,
    kpi_rows: usize,
    units: usize,
    rejected: usize,
    queries: usize,
    reports: Option<String>,
    /// The report's week and units, for the mails.
    week: IsoWeek,
    unit_names: std::collections::BTreeMap<String, String>,
}

fn spill_dir(tmp: &Path) -> PathBuf {
    let mut name = tmp.as_os_str().to_owned();
    name.push("-spill");
    PathBuf::from(name)
}

/// Loads, validates and computes, writing every output into `tmp`.
async fn produce(
    opts: &NightlyOptions,
    rules: &Rules,
    as_of: NaiveDate,
    as_of_source: AsOfSource,
    tmp: &Path,
    started_at: &str,
) -> Result<Produced> {
    let mut steps = Steps::new(6, opts.progress);
    let (Loaded { export, query_memory, .. }, fingerprint) = steps.run("load", || {
        // The fingerprint reads every file once more; do it beside the loader.
        std::thread::scope(|s| {
            let fingerprint = s.spawn(|| export_fingerprint(&opts.exports));
            let loaded = load_export(&opts.exports, &[], rules.open_end_sentinel, opts.memory_limit);
            let fingerprint =
                fingerprint.join().unwrap_or_else(|_| Err(Error::Internal("the fingerprint thread failed".into())));
            let loaded = loaded?;
            // The digest may have read on past the load: it must have seen the same files.
            if let Some(file) = loaded.snapshot.first_change(&Snapshot::of(&opts.exports)?) {
                return Err(Error::Export(format!(
                    "{}: the file changed while it was read; run again when the export is complete",
                    file.display()
                )));
            }
            Ok((loaded, fingerprint?))
        })
    })?;
    for t in &export.tables {
        if !t.rejected.is_empty() {
            warn!(table = t.spec.name, rows_read = t.rows_read, rows_rejected = t.rejected.len(), "rows rejected");
        }
    }

    // The KPI table comes from the report, whose catalog computes the as-of date beside the
    // trend's Sundays (`compute_report`'s `also_at`): `kpi` is kept for those dates, so the
    // trend's statement and the table share one computation.
    let mut cached_views = crate::report::cached_views();
    cached_views.push(("kpi".to_string(), crate::catalog::Lifetime::AsOfDates));
    let engine =
        EngineOptions { memory_limit: query_memory, spill_dir: query_memory.map(|_| spill_dir(tmp)), cached_views };
    if let Some(dir) = &engine.spill_dir {
        fs::create_dir_all(dir).map_err(|e| Error::io_path("create", dir, e))?;
    }
    let mut catalog = steps.run_async("catalog", Catalog::new(&export, rules.clone(), &[as_of], &engine)).await?;
    let checked = ValidationReport::of_checks(&export, as_of, opts.max_rejected_share);
    // The catalog holds the tables from here on, some columns in a smaller form (ids as
    // keys): without the export's copy of them, the validation's queries run in less
    // memory, and a table the report releases (`Catalog::release`) gives its memory back.
    crate::freed_memory::drop_and_give_back(export);
    let report = steps.run_async("validate", checked.with_queries(&catalog)).await?;
    info!(rejected = report.rejected(), queries = report.queries(), "validation done");

    fs::create_dir(tmp).map_err(|e| Error::io(format!("cannot create {}", tmp.display()), e))?;
    let summary =
        |steps: &[StepTime], status: &'static str, error: Option<&Error>, kpi_rows: usize, reports: Option<String>| {
            let s = RunSummary {
                status,
                exit_code: error.map_or(0, |e| e.exit_code()),
                message: error.map(|e| e.to_string()),
                as_of,
                as_of_source,
                exports: opts.exports.display().to_string(),
                export_fingerprint: &fingerprint,
                rules_source: &rules.source,
                rules_fingerprint: &rules.fingerprint,
                max_rejected_share: opts.max_rejected_share,
                tables: &report.tables,
                rows_rejected: report.rejected(),
                queries: report.queries(),
                kpi_rows,
                reports,
                started_at: started_at.to_string(),
                steps,
                cwkpi_version: env!("CARGO_PKG_VERSION"),
            };
            serde_json::to_vec_pretty(&s).map(|mut v| {
                v.push(b'\n');
                v
            })
        };

    let failed_dir = opts.out.join("failed").join(as_of.to_string());
    if let Err(e) = report.check_threshold(Some(&failed_dir.join("validation.html"))) {
        // Keep the evidence where the operator is told to look, away from the published runs.
        report.write(tmp)?;
        let json = summary(&steps.done, "rejected-threshold", Some(&e), 0, None)
            .map_err(|e| Error::Internal(e.to_string()))?;
        write_file(&tmp.join("summary.json"), &json)?;
        fs::create_dir_all(opts.out.join("failed"))
            .map_err(|e| Error::io_path("create", &opts.out.join("failed"), e))?;
        replace_dir(tmp, &failed_dir)?;
        return Err(e);
    }

    // The week that ends on the latest Sunday up to the as-of date: the data is complete
    // through the as-of date, so a Sunday as-of closes its own week.
    let week = IsoWeek::last_complete_before(as_of + Days::new(1));
    let report_dir = tmp.join("report");
    fs::create_dir(&report_dir).map_err(|e| Error::io_path("create", &report_dir, e))?;
    let mut written = steps
        .run_async("reports", async {
            let figures = crate::report::compute_report(&mut catalog, week, &[as_of]).await?;
            // Nothing reads the catalog again: the pages are written without the export's
            // tables and the views' results in memory, given back before the pages' own.
            crate::freed_memory::drop_and_give_back(catalog);
            crate::report::write_report(figures, &report_dir)
        })
        .await?;
    info!(week = %week, units = written.units, files = written.files, "weekly reports written");

    let mut kpi_rows = std::mem::take(&mut written.kpi_rows);
    let rows = steps.run("kpi", || {
        kpi_rows.retain(|r| r.as_of == as_of);
        Ok(kpi_rows)
    })?;
    let units = rows.iter().map(|r| r.unit_id.as_str()).collect::<std::collections::BTreeSet<_>>().len();
    let reports = Some(format!("weekly report {week} for {} units", written.units));
    remove_quietly(&spill_dir(tmp));

    let kpi_parquet = steps.run("write", || {
        let mut csv = String::with_capacity(64 * (rows.len() + 1));
        csv.push_str(CSV_HEADER);
        csv.push('\n');
        for row in &rows {
            csv.push_str(&row.csv_line());
            csv.push('\n');
        }
        write_file(&tmp.join("kpi.csv"), csv.as_bytes())?;
        let parquet = crate::history::kpi_parquet(&rows)?;
        write_file(&tmp.join("kpi.parquet"), &parquet)?;
        report.write(tmp)?;
        Ok(parquet)
    })?;
    let json =
        summary(&steps.done, "ok", None, rows.len(), reports.clone()).map_err(|e| Error::Internal(e.to_string()))?;
    write_file(&tmp.join("summary.json"), &json)?;
    sync_dir(tmp);
    Ok(Produced {
        kpi_parquet,
        kpi_rows: rows.len(),
        units,
        rejected: report.rejected(),
        queries: report.queries(),
        reports,
        week,
        unit_names: written.unit_names,
    })
}

/// Moves the finished run into place: `runs/<as_of>`, then the history file, then `latest`.
fn publish(out: &Path, tmp: &Path, as_of: NaiveDate, kpi_parquet: &[u8]) -> Result<PathBuf> {
    let started = Instant::now();
    let runs = out.join("runs");
    fs::create_dir_all(&runs).map_err(|e| Error::io(format!("cannot create output folder {}", runs.display()), e))?;
    let run_dir = runs.join(as_of.to_string());
    replace_dir(tmp, &run_dir)?;
    crate::history::write(&out.join("history"), as_of, kpi_parquet)?;
    point_latest(out)?;
    // An earlier failure of this date is now superseded.
    remove_quietly(&out.join("failed").join(as_of.to_string()));
    info!(step = "publish", seconds = started.elapsed().as_secs_f64(), run = %run_dir.display(), "published");
    Ok(run_dir)
}

/// Renames `from` onto `to`. An existing `to` is swapped out in one step where the
/// system allows it (so `to` never disappears), then removed.
fn replace_dir(from: &Path, to: &Path) -> Result<()> {
    let failed = |e: std::io::Error| Error::io(format!("cannot move {} to {}", from.display(), to.display()), e);
    if fs::symlink_metadata(to).is_err() {
        fs::rename(from, to).map_err(failed)?;
    } else if exchange(from, to).is_ok() {
        // `from` now holds the older folder.
        remove_quietly(from);
    } else {
        let old = with_suffix(to, &format!(".old-{}", std::process::id()));
        fs::rename(to, &old).map_err(failed)?;
        if let Err(e) = fs::rename(from, to) {
            let _ = fs::rename(&old, to);
            return Err(failed(e));
        }
        remove_quietly(&old);
    }
    if let Some(parent) = to.parent() {
        sync_dir(parent);
    }
    Ok(())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let a = CString::new(a.as_os_str().as_bytes())?;
    let b = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both are valid NUL-terminated paths; AT_FDCWD resolves them as given.
    let rc = unsafe { libc::renameat2(libc::AT_FDCWD, a.as_ptr(), libc::AT_FDCWD, b.as_ptr(), libc::RENAME_EXCHANGE) };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn exchange(_a: &Path, _b: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

/// Points `OUT/latest` at the run with the newest as-of date (a backfill of an older date
/// does not move it), replacing the link in one rename.
fn point_latest(out: &Path) -> Result<()> {
    let runs = out.join("runs");
    let newest = fs::read_dir(&runs)
        .map_err(|e| Error::io_path("list", &runs, e))?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| NaiveDate::parse_from_str(n, "%Y-%m-%d").ok()))
        .max();
    let Some(newest) = newest else { return Ok(()) };
    let target = PathBuf::from("runs").join(newest.to_string());
    let latest = out.join("latest");
    if fs::read_link(&latest).is_ok_and(|t| t == target) {
        return Ok(());
    }
    let tmp = out.join(format!(".latest.tmp-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let result = symlink(&target, &tmp).and_then(|_| fs::rename(&tmp, &latest));
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(format!("cannot point {} at {}", latest.display(), target.display()), e));
    }
    sync_dir(out);
    Ok(())
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn symlink(_target: &Path, _link: &Path) -> std::io::Result<()> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "OUT/latest needs symbolic links (Linux, macOS)"))
}

/// Leftovers of runs that were killed: temporary run folders, spill folders, temporary
/// links and half-written history files. Only called under the lock, so no live run
/// owns them.
fn remove_stale(out: &Path) -> Result<()> {
    let mut removed = 0usize;
    for dir in [out.to_path_buf(), out.join("failed"), out.join("runs")] {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name.starts_with(".tmp-") || name.starts_with(".latest.tmp-") {
                remove_quietly(&path);
                removed += 1;
            } else if let Some((date, _)) = name.split_once(".old-") {
                // A swap interrupted half-way: put the older run back if it has no successor.
                let original = dir.join(date);
                if fs::symlink_metadata(&original).is_err() {
                    let _ = fs::rename(&path, &original);
                } else {
                    remove_quietly(&path);
                }
                removed += 1;
            }
        }
    }
    let history = out.join("history");
    if let Ok(entries) = fs::read_dir(&history) {
        for entry in entries.flatten() {
            let Ok(files) = fs::read_dir(entry.path()) else { continue };
            for file in files.flatten() {
                if file.file_name().to_string_lossy().starts_with(".kpi.parquet.tmp-") {
                    remove_quietly(&file.path());
                    removed += 1;
                }
            }
        }
    }
    if removed > 0 {
        info!(removed, "removed leftovers of an interrupted run");
    }
    Ok(())
}

fn remove_quietly(path: &Path) {
    let result = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(_) => return,
    };
    if let Err(e) = result {
        warn!(path = %path.display(), "cannot remove: {e}");
    }
}

/// Makes renames inside `dir` durable; a failure only weakens crash safety.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The exclusive lock on `OUT/.lock`, released when dropped or when the process dies
/// (kill -9 included), so a lock can never go stale.
struct OutputLock {
    _file: File,
}

impl OutputLock {
    fn acquire(out: &Path) -> Result<OutputLock> {
        let path = out.join(".lock");
        let mut file = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(format!("cannot open lock file {}", path.display()), e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let pid = if holder.is_empty() { String::new() } else { format!(" (process {holder})") };
                return Err(Error::Busy(format!(
                    "another cwkpi nightly run{pid} is writing to {}; nothing was changed. Try again when it has finished",
                    out.display()
                )));
            }
            Err(fs::TryLockError::Error(e)) => return Err(Error::io(format!("cannot lock {}", path.display()), e)),
        }
        // Tell a blocked run who holds the lock.
        let _ = file.set_len(0).and_then(|_| file.write_all(format!("{}\n", std::process::id()).as_bytes()));
        Ok(OutputLock { _file: file })
    }
}

/// SHA-256 over every file of the export (sorted relative path, size and content
/// digest), so a run records exactly which export produced its figures.
pub fn export_fingerprint(exports: &Path) -> Result<String> {
    let files = crate::snapshot::export_files(exports)?;
    let mut total = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    for relative in &files {
        let path = exports.join(relative);
        let mut file = File::open(&path).map_err(|e| Error::io_path("read", &path, e))?;
        let mut digest = Sha256::new();
        let mut size = 0u64;
        loop {
            let n = file.read(&mut buf).map_err(|e| Error::io_path("read", &path, e))?;
            if n == 0 {
                break;
            }
            size += n as u64;
            digest.update(&buf[..n]);
        }
        total.update(relative.as_bytes());
        total.update([0]);
        total.update(size.to_le_bytes());
        total.update(digest.finalize());
    }
    Ok(format!("{:x}", total.finalize()))
}
