//! What the generator's parts share: the tables it writes, its day numbers and how a
//! failed write is reported.

use std::path::Path;

use chrono::{Datelike, NaiveDate};

use crate::error::Error;

/// The tables written, in contract order: the eight core tables, then the five further.
pub const TABLE_NAMES: [&str; 13] = [
    "units",
    "caseworkers",
    "children",
    "cases",
    "measures",
    "investigations",
    "action_plans",
    "follow_ups",
    "notifications",
    "decisions",
    "complaints",
    "case_events",
    "postings",
];

/// Dates are handled as days since 1970-01-01, the Date32 representation.
pub(super) type Day = i32;
const DAYS_FROM_CE_TO_EPOCH: i32 = 719_163;

pub(super) fn day(d: NaiveDate) -> Day {
    d.num_days_from_ce() - DAYS_FROM_CE_TO_EPOCH
}

pub(super) fn date(d: Day) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(d.checked_add(DAYS_FROM_CE_TO_EPOCH)?)
}

/// A write of the generator's output that failed.
pub(super) fn write_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::io(format!("cannot write {}", path.display()), std::io::Error::other(e.to_string()))
}
