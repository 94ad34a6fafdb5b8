//! Days as the generator counts them: day numbers, calendar months, working days and
//! the hour Copenhagen skips when summer time starts.

use chrono::{Datelike, Months, NaiveDate};

/// Dates are handled as days since 1970-01-01, the Date32 representation.
pub(super) type Day = i32;
const DAYS_FROM_CE_TO_EPOCH: i32 = 719_163;

pub(super) fn day(d: NaiveDate) -> Day {
    d.num_days_from_ce() - DAYS_FROM_CE_TO_EPOCH
}

pub(super) fn date(d: Day) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(d.checked_add(DAYS_FROM_CE_TO_EPOCH)?)
}

/// Calendar month arithmetic with end-of-month clamping, as the rules count deadlines (docs/rules.md).
pub(super) fn add_months(d: Day, months: u32) -> Day {
    date(d).and_then(|x| x.checked_add_months(Months::new(months))).map(day).unwrap_or(Day::MAX)
}

pub(super) fn sub_months(d: Day, months: u32) -> Day {
    date(d).and_then(|x| x.checked_sub_months(Months::new(months))).map(day).unwrap_or(Day::MIN)
}

pub(super) const SECONDS_PER_DAY: i64 = 86_400;
pub(super) const HOUR: i32 = 3_600;
pub(super) const MICROS_PER_SECOND: i64 = 1_000_000;

/// Monday = 0 … Sunday = 6 (1970-01-01, day 0, was a Thursday).
pub(super) fn weekday(d: Day) -> i32 {
    (d + 3).rem_euclid(7)
}

/// The n-th Monday–Friday strictly after `d`. Closed days are not counted as such: they
/// only move the rules' deadline later, so a date on time by this count is on time.
pub(super) fn add_working_days(d: Day, n: i32) -> Day {
    let mut day = d;
    let mut left = n;
    while left > 0 {
        day += 1;
        if weekday(day) < 5 {
            left -= 1;
        }
    }
    day
}

/// Whether `d` is the last Sunday of March, when Copenhagen skips 02:00–03:00.
pub(super) fn spring_forward(d: Day) -> bool {
    weekday(d) == 6 && date(d).is_some_and(|x| x.month() == 3 && x.day() + 7 > 31)
}

/// A naive Copenhagen wall-clock time (seconds since 1970-01-01 00:00) that exists: a time
/// in the skipped spring hour moves one hour on.
pub(super) fn existing_time(seconds: i64) -> i64 {
    let in_day = seconds.rem_euclid(SECONDS_PER_DAY);
    let d = seconds.div_euclid(SECONDS_PER_DAY) as Day;
    if (i64::from(2 * HOUR)..i64::from(3 * HOUR)).contains(&in_day) && spring_forward(d) {
        seconds + i64::from(HOUR)
    } else {
        seconds
    }
}

pub(super) fn day_of(seconds: i64) -> Day {
    seconds.div_euclid(SECONDS_PER_DAY) as Day
}
