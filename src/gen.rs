//! Deterministic synthetic exports (docs/export.md) at any scale, for tests, demos and benchmarks.
//!
//! Scale 1 is one large municipality: about 10,000 cases opened over the six years before
//! the export date, an organisation with two centers and about ten departments (some split
//! into teams) and about 150 caseworkers. Scale multiplies cases, caseworkers and
//! departments; a fractional scale gives a small but complete tree.
//!
//! Each leaf unit has its own diligence, which decides whether action plans are made
//! before their due date, follow-ups happen on time and investigations finish within the
//! limit, so compliance varies between departments as it does in practice. The due dates
//! the generator aims at mirror the built-in rules (`default_rules.toml`); with other rules
//! the data is still valid, only the compliance levels differ.
//!
//! The export holds the eight core tables and the five further tables of the wider plan
//! (docs/kpis.md), in the shapes the benchmarks assume: per case about one application
//! (`decisions`), half a notification and two case events; about twelve postings per
//! measure-year (monthly payments of measures with a monthly cost, a few refunds, about
//! 68 % booked on the case); a few complaints per 100 cases a year, rising or falling
//! from year to year per department. The same diligence decides whether applications are
//! decided by their case-processing deadline (SEL §41/§42 and BL §87 8 weeks, BL §86 40
//! working days, BL §32 3 months; the generator counts working days as Monday–Friday, so
//! "on time" holds whatever closed days the rules add) and delay letters sent, whether
//! notifications are assessed within 24 hours and professionals get a receipt within 6
//! working days, and how many cases have the events the lawful-case checklist reads.
//! Applications before 1 January 2024 carry Serviceloven codes, later ones Barnets Lov.
//!
//! The data is invented: children have a `cpr` column shaped like a CPR number
//! (ddmmyy-xxxx) whose day part is 32–60, a day no real or substitute CPR number uses, so
//! tests can prove it never leaks without any real number existing in the repository.
//!
//! Every event date (opened, started, completed, decided, created, performed, applied,
//! received, assessed, posted …) is on or before the export date. Only
//! `follow_ups.next_due_on` may lie after it: it is a deadline the caseworker set, not an
//! event. Notification times are written as naive Copenhagen wall-clock time
//! (`Timestamp(Microsecond, None)`), spread over day, night and weekend, and never inside
//! the hour skipped when summer time starts (the reader rejects such rows).
//!
//! Output is byte-identical for the same (scale, seed, export date): one ChaCha8 stream
//! builds the organisation, and each chunk of cases has its own stream. The further tables
//! draw from streams of their own (one per chunk, one for the departments' complaint
//! trends), so adding them left the core tables exactly as they were. Cases are made in
//! chunks of [`CHUNK_CASES`] on one thread, which then derives the chunk's further rows,
//! in smaller batches, from what it recorded about each case, while another thread encodes
//! what came before into the thirteen Parquet writers, so memory stays bounded whatever
//! the scale.

use std::fs::{self};
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};

use crate::error::{Error, Result};

mod base;
mod budgets;
mod cases;
mod codes;
mod days;
mod facts;
mod further;
mod ids;
mod layout;
mod organisation;
mod random;
mod rows;
mod write;

pub use base::TABLE_NAMES;
pub use ids::IdStyle;
pub use layout::Order;
use write::write_export;

pub struct GenOptions {
    /// 1 ≈ one large municipality; multiplies cases, caseworkers and departments.
    pub scale: f64,
    pub seed: u64,
    /// The export date: no event is dated after it, except the planned rows of
    /// `future_share`.
    pub as_of: NaiveDate,
    /// How the rows are laid out in files; the rows are the same in every order.
    pub order: Order,
    pub ids: IdStyle,
    /// About this share of the measures, follow-ups and postings is dated after the
    /// export date: measures registered ahead of their start, planned follow-ups,
    /// payments booked ahead. 0 writes none.
    pub future_share: f64,
    /// One department holds a third of all cases.
    pub skew: bool,
}

impl GenOptions {
    /// The options `cwkpi gen` has by default: yearly files, numeric ids, nothing dated
    /// after the export date, no skew.
    pub fn new(scale: f64, seed: u64, as_of: NaiveDate) -> GenOptions {
        GenOptions {
            scale,
            seed,
            as_of,
            order: Order::default(),
            ids: IdStyle::default(),
            future_share: 0.0,
            skew: false,
        }
    }
}

pub struct GenSummary {
    /// Rows written per table, in contract order.
    pub rows: Vec<(&'static str, usize)>,
}

const CASES_PER_SCALE: f64 = 10_000.0;
const CASEWORKERS_PER_SCALE: f64 = 150.0;
const DEPARTMENTS_PER_SCALE: f64 = 10.0;
const MIN_DEPARTMENTS: usize = 3;
/// Scale 10,000 is already 100 million cases; beyond that is surely a typo.
const MAX_SCALE: f64 = 10_000.0;
/// Half the rows dated ahead is already far from any real export.
const MAX_FUTURE_SHARE: f64 = 0.5;
const HISTORY_MONTHS: u32 = 6 * 12;
/// Part of the output's identity: changing it changes the generated data.
pub const CHUNK_CASES: u64 = 50_000;
/// The further rows of a chunk are made and sent in batches of this many cases, so the
/// postings (a dozen or more per case) do not hold a whole chunk in memory. Changing it
/// changes no row, only how the rows reach the writers.
const FURTHER_BATCH_CASES: usize = 10_000;
const ROW_GROUP_ROWS: usize = 256 * 1024;
const GENERATOR: &str = "cwkpi gen";

fn validate(opts: &GenOptions) -> Result<()> {
    if !opts.scale.is_finite() || opts.scale <= 0.0 || opts.scale > MAX_SCALE {
        return Err(Error::Usage(format!("--scale must be a number above 0 and at most {MAX_SCALE}, e.g. 1 or 0.03")));
    }
    if !(0.0..=MAX_FUTURE_SHARE).contains(&opts.future_share) {
        return Err(Error::Usage(format!("--future-share must be a fraction from 0 to {MAX_FUTURE_SHARE}, e.g. 0.05")));
    }
    if !(1900..=9000).contains(&opts.as_of.year()) {
        return Err(Error::Usage("--as-of must be a date between the years 1900 and 9000".into()));
    }
    Ok(())
}

/// Whether `dir` may be replaced: it is empty or an export this generator wrote.
fn replaceable(dir: &Path) -> Result<bool> {
    let mut entries = fs::read_dir(dir).map_err(|e| Error::io_path("read", dir, e))?;
    if entries.next().is_none() {
        return Ok(true);
    }
    let manifest = fs::read_to_string(dir.join("manifest.json")).unwrap_or_default();
    let generator = serde_json::from_str::<serde_json::Value>(&manifest)
        .ok()
        .and_then(|v| v.get("generator").and_then(|g| g.as_str()).map(str::to_string));
    Ok(generator.as_deref() == Some(GENERATOR))
}

/// Generates a synthetic export into `out`. The files are written into a temporary folder
/// beside `out` and renamed into place at the end, so `out` is never half-written. An
/// existing `out` is replaced only when it is empty or was written by this generator.
pub fn generate(opts: &GenOptions, out: &Path) -> Result<GenSummary> {
    validate(opts)?;
    let name = out
        .file_name()
        .ok_or_else(|| Error::Usage(format!("--out {} must name a folder", out.display())))?
        .to_string_lossy()
        .into_owned();
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if out.is_file() {
        return Err(Error::Usage(format!("--out {} is a file; give a folder", out.display())));
    }
    if out.is_dir() && !replaceable(out)? {
        return Err(Error::Usage(format!(
            "--out {} exists and is not an export written by {GENERATOR}; choose another folder or remove it",
            out.display()
        )));
    }
    fs::create_dir_all(&parent).map_err(|e| Error::io_path("create", &parent, e))?;

    let pid = std::process::id();
    let temporary = parent.join(format!(".{name}.gen-{pid}.tmp"));
    if temporary.exists() {
        fs::remove_dir_all(&temporary).map_err(|e| Error::io_path("remove", &temporary, e))?;
    }
    fs::create_dir(&temporary).map_err(|e| Error::io_path("create", &temporary, e))?;

    let summary = match write_export(opts, &temporary) {
        Ok(summary) => summary,
        Err(e) => {
            let _ = fs::remove_dir_all(&temporary);
            return Err(e);
        }
    };
    if let Err(e) = publish(&temporary, out, &parent, &name, pid) {
        let _ = fs::remove_dir_all(&temporary);
        return Err(e);
    }
    Ok(summary)
}

/// Moves the finished export into place, replacing an older one.
fn publish(temporary: &Path, out: &Path, parent: &Path, name: &str, pid: u32) -> Result<()> {
    let out_buf = out.to_path_buf();
    if !out.exists() {
        return fs::rename(temporary, out).map_err(|e| Error::io_path("create", &out_buf, e));
    }
    let old = parent.join(format!(".{name}.old-{pid}.tmp"));
    fs::rename(out, &old).map_err(|e| Error::io_path("replace", &out_buf, e))?;
    if let Err(e) = fs::rename(temporary, out) {
        // Put the previous export back rather than leave nothing.
        let _ = fs::rename(&old, out);
        return Err(Error::io_path("replace", &out_buf, e));
    }
    fs::remove_dir_all(&old).map_err(|e| Error::io_path("remove", &old, e))
}

#[cfg(test)]
mod tests;
