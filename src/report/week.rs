//! ISO 8601 weeks (Monday first, as Denmark counts them): the unit a weekly report is for.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Days, NaiveDate, Weekday};

use crate::error::{Error, Result};

/// An ISO week such as 2026-W47. Week 1 is the week holding the year's first Thursday,
/// so some years have a week 53 (2026 does) and a week may start in the year before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IsoWeek {
    year: i32,
    week: u32,
}

impl IsoWeek {
    /// The week `week` of ISO year `year`; an error when that year has no such week.
    pub fn new(year: i32, week: u32) -> Result<IsoWeek> {
        if !(1..=9999).contains(&year) {
            return Err(Error::Usage(format!("week year {year} is out of range (1–9999)")));
        }
        if NaiveDate::from_isoywd_opt(year, week, Weekday::Mon).is_none() {
            let last = weeks_in_year(year);
            return Err(Error::Usage(format!("{year} has ISO weeks 1–{last}, not week {week}")));
        }
        Ok(IsoWeek { year, week })
    }

    /// The ISO week a date falls in (early January may belong to the year before).
    pub fn of(date: NaiveDate) -> IsoWeek {
        let w = date.iso_week();
        IsoWeek { year: w.year(), week: w.week() }
    }

    /// The last complete week before `today`: the week that ended on the latest Sunday
    /// before it (a Sunday itself is not yet complete until the day is over).
    pub fn last_complete_before(today: NaiveDate) -> IsoWeek {
        let back = today.weekday().number_from_monday() as u64;
        IsoWeek::of(today - Days::new(back))
    }

    pub fn year(&self) -> i32 {
        self.year
    }

    pub fn week(&self) -> u32 {
        self.week
    }

    pub fn monday(&self) -> NaiveDate {
        self.day(Weekday::Mon)
    }

    /// The Sunday that ends the week: a weekly report is as of this day.
    pub fn sunday(&self) -> NaiveDate {
        self.day(Weekday::Sun)
    }

    /// The week `n` weeks earlier.
    pub fn minus(&self, n: u32) -> IsoWeek {
        IsoWeek::of(self.sunday() - Days::new(7 * u64::from(n)))
    }

    /// The week `n` weeks later.
    pub fn plus(&self, n: u32) -> IsoWeek {
        IsoWeek::of(self.sunday() + Days::new(7 * u64::from(n)))
    }

    /// The Sundays of the `count` weeks ending with this one, oldest first.
    pub fn sundays_back(&self, count: u32) -> Vec<NaiveDate> {
        (0..count).rev().map(|n| self.minus(n).sunday()).collect()
    }

    /// "uge 47 2026", as a Danish heading says it.
    pub fn label_da(&self) -> String {
        format!("uge {} {}", self.week, self.year)
    }

    fn day(&self, weekday: Weekday) -> NaiveDate {
        // `new` and `of` only make weeks that exist, and years 1–9999 keep their days in range.
        NaiveDate::from_isoywd_opt(self.year, self.week, weekday).unwrap_or(NaiveDate::MIN)
    }
}

/// 52 or 53: a year has week 53 when 28 December (always in its last week) is in week 53.
pub fn weeks_in_year(year: i32) -> u32 {
    NaiveDate::from_ymd_opt(year, 12, 28).map_or(52, |d| d.iso_week().week())
}

impl FromStr for IsoWeek {
    type Err = Error;

    /// Accepts `2026-W47` (also `2026-w47`, `2026W47` and `2026-W7`).
    fn from_str(text: &str) -> Result<IsoWeek> {
        let bad = || Error::Usage(format!("\"{text}\" is not an ISO week like 2026-W47"));
        let t = text.trim();
        let (year, week) = t.split_once(['W', 'w']).ok_or_else(bad)?;
        let year = year.strip_suffix('-').unwrap_or(year);
        let all_digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
        if year.len() != 4 || !all_digits(year) || week.len() > 2 || !all_digits(week) {
            return Err(bad());
        }
        let year: i32 = year.parse().map_err(|_| bad())?;
        let week: u32 = week.parse().map_err(|_| bad())?;
        IsoWeek::new(year, week)
    }
}

impl fmt::Display for IsoWeek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-W{:02}", self.year, self.week)
    }
}
