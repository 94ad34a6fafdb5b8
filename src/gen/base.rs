//! What the generator's parts share: the tables it writes and how a failed write is
//! reported.

use std::path::Path;

use crate::error::Error;

/// The tables written, in contract order: the eight core tables, then the six further.
pub const TABLE_NAMES: [&str; 14] = [
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
    "budgets",
];

/// A write of the generator's output that failed.
pub(super) fn write_error(path: &Path, e: impl std::error::Error + 'static) -> Error {
    Error::writing(path, &e)
}
