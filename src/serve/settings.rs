//! The session settings cwkpi adds (`SET cwkpi.as_of`, `SET cwkpi.weeks`), kept in the
//! connection's metadata, and how their values are checked.

use chrono::NaiveDate;
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};

use crate::contract::{FIRST_DATE, LAST_DATE};

pub const AS_OF: &str = "cwkpi.as_of";
pub const WEEKS: &str = "cwkpi.weeks";
/// A year of weekly dates: each date is a computation of every view, so this caps what one
/// session's catalog costs.
pub const MAX_WEEKS: u32 = 53;

/// An error with PostgreSQL's SQLSTATE `code`.
pub fn error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("ERROR".into(), code.into(), message.into())))
}

/// A session may be as of the dates an export's dates may take (the checks reject any
/// other), so no date sum over them can leave the calendar.
pub fn parse_as_of(value: &str) -> PgWireResult<NaiveDate> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d").ok().filter(|d| (FIRST_DATE..=LAST_DATE).contains(d)).ok_or_else(
        || {
            error(
                "22007",
                format!("cwkpi.as_of must be a date from {FIRST_DATE} to {LAST_DATE} like '2026-03-01', not '{value}'"),
            )
        },
    )
}

pub fn parse_weeks(value: &str) -> PgWireResult<u32> {
    value.parse().ok().filter(|n| (1..=MAX_WEEKS).contains(n)).ok_or_else(|| {
        error("22023", format!("cwkpi.weeks must be a whole number from 1 to {MAX_WEEKS}, not '{value}'"))
    })
}

/// The first of `weeks` weekly dates ending at `last` must be in range too.
pub fn check_dates(last: NaiveDate, weeks: u32) -> PgWireResult<()> {
    let first = last.checked_sub_signed(chrono::Duration::weeks(i64::from(weeks) - 1)).filter(|d| *d >= FIRST_DATE);
    match first {
        Some(_) => Ok(()),
        None => Err(error(
            "22008",
            format!("cwkpi.weeks = {weeks} weeks up to cwkpi.as_of = {last} would reach before {FIRST_DATE}"),
        )),
    }
}
