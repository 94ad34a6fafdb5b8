//! The Danish working-day calendar of public offices (docs/rules.md): Monday–Friday, except the
//! closed days. Case-processing deadlines and receipt confirmations counted in working
//! days use it; everything else counts calendar days.
//!
//! Built-in closed days: 1 January; Maundy Thursday, Good Friday, Easter Monday; Great
//! Prayer Day (the fourth Friday after Easter) up to and including 2023, when it was
//! abolished; Ascension Day; Whit Monday; 5 June (Constitution Day); 24, 25, 26 and
//! 31 December. A municipality adds its own with `extra_closed_days` in the rules.

use std::collections::BTreeSet;

use chrono::{Datelike, Days, NaiveDate, Weekday};

/// The last year Great Prayer Day (store bededag) was a closed day.
const LAST_GREAT_PRAYER_DAY_YEAR: i32 = 2023;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    /// Closed days beside the built-in ones.
    pub extra_closed_days: BTreeSet<NaiveDate>,
}

/// Easter Sunday of a Gregorian year (the anonymous Gregorian algorithm).
pub fn easter_sunday(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32).unwrap_or(NaiveDate::MIN)
}

/// The built-in closed days of a year with their Danish names, in date order.
pub fn builtin_closed_days(year: i32) -> Vec<(NaiveDate, &'static str)> {
    let easter = easter_sunday(year);
    let from_easter = |days: i64, name| (easter + chrono::Duration::days(days), name);
    let on = |month, day, name| NaiveDate::from_ymd_opt(year, month, day).map(|d| (d, name));
    let mut days: Vec<(NaiveDate, &'static str)> = [on(1, 1, "Nytårsdag")].into_iter().flatten().collect();
    days.push(from_easter(-3, "Skærtorsdag"));
    days.push(from_easter(-2, "Langfredag"));
    days.push(from_easter(1, "2. påskedag"));
    if year <= LAST_GREAT_PRAYER_DAY_YEAR {
        days.push(from_easter(26, "Store bededag"));
    }
    days.push(from_easter(39, "Kristi himmelfartsdag"));
    days.push(from_easter(50, "2. pinsedag"));
    days.extend(
        [
            on(6, 5, "Grundlovsdag"),
            on(12, 24, "Juleaftensdag"),
            on(12, 25, "Juledag"),
            on(12, 26, "2. juledag"),
            on(12, 31, "Nytårsaftensdag"),
        ]
        .into_iter()
        .flatten(),
    );
    days.sort();
    days
}

fn is_builtin_closed(d: NaiveDate) -> bool {
    match (d.month(), d.day()) {
        (1, 1) | (6, 5) | (12, 24) | (12, 25) | (12, 26) | (12, 31) => return true,
        _ => {}
    }
    // The Easter-bound closed days fall between Maundy Thursday (19 March at the earliest)
    // and Whit Monday (14 June at the latest): elsewhere no computus is needed, which
    // matters when working days are counted one by one for a million applications.
    if !(3..=6).contains(&d.month()) {
        return false;
    }
    let easter = easter_sunday(d.year());
    let offset = (d - easter).num_days();
    matches!(offset, -3 | -2 | 1 | 39 | 50) || (offset == 26 && d.year() <= LAST_GREAT_PRAYER_DAY_YEAR)
}

impl Calendar {
    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
            && !is_builtin_closed(d)
            && !self.extra_closed_days.contains(&d)
    }

    /// The n-th working day strictly after `d` (`d` itself when n is 0).
    pub fn add_working_days(&self, d: NaiveDate, n: u32) -> Option<NaiveDate> {
        let mut day = d;
        let mut left = n;
        while left > 0 {
            day = day.checked_add_days(Days::new(1))?;
            if self.is_working_day(day) {
                left -= 1;
            }
        }
        Some(day)
    }

    /// Every closed day (built-in and extra) of the years `years`, with its name.
    pub fn closed_days(&self, years: std::ops::RangeInclusive<i32>) -> Vec<(NaiveDate, String)> {
        let mut days: Vec<(NaiveDate, String)> =
            years.clone().flat_map(builtin_closed_days).map(|(d, name)| (d, name.to_string())).collect();
        for &d in &self.extra_closed_days {
            if years.contains(&d.year()) && !days.iter().any(|(b, _)| *b == d) {
                days.push((d, "Lukkedag (kommunens egen)".to_string()));
            }
        }
        days.sort();
        days
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn easter_dates() {
        // Published Easter Sundays.
        assert_eq!(easter_sunday(2023), date(2023, 4, 9));
        assert_eq!(easter_sunday(2024), date(2024, 3, 31));
        assert_eq!(easter_sunday(2025), date(2025, 4, 20));
        assert_eq!(easter_sunday(2026), date(2026, 4, 5));
        assert_eq!(easter_sunday(2019), date(2019, 4, 21));
    }

    #[test]
    fn closed_days_of_2023_and_2024() {
        let c = Calendar::default();
        // 2023: Great Prayer Day 5 May is closed; 2024: 26 April is a working Friday.
        assert!(!c.is_working_day(date(2023, 5, 5)));
        assert!(c.is_working_day(date(2024, 4, 26)));
        // Easter 2024: Maundy Thursday 28/3, Good Friday 29/3, Easter Monday 1/4.
        for d in [date(2024, 3, 28), date(2024, 3, 29), date(2024, 4, 1)] {
            assert!(!c.is_working_day(d), "{d}");
        }
        // Ascension 9 May 2024, Whit Monday 20 May 2024, 5 June, Christmas, New Year's Eve.
        for d in [
            date(2024, 5, 9),
            date(2024, 5, 20),
            date(2024, 6, 5),
            date(2024, 12, 24),
            date(2024, 12, 25),
            date(2024, 12, 26),
            date(2024, 12, 31),
            date(2025, 1, 1),
        ] {
            assert!(!c.is_working_day(d), "{d}");
        }
        assert!(c.is_working_day(date(2024, 12, 27)));
        assert!(c.is_working_day(date(2024, 12, 30)));
        assert!(!c.is_working_day(date(2024, 12, 28)));
    }

    #[test]
    fn working_days_are_counted_strictly_after_the_start() {
        let c = Calendar::default();
        // Wednesday 27 March 2024 + 6 working days: Thu 28 and Fri 29 (Easter) closed,
        // Mon 1 April closed; Tue 2, Wed 3, Thu 4, Fri 5, Mon 8, Tue 9 → 9 April.
        assert_eq!(c.add_working_days(date(2024, 3, 27), 6), Some(date(2024, 4, 9)));
        // From a Saturday: Monday is the first working day after it.
        assert_eq!(c.add_working_days(date(2026, 11, 21), 1), Some(date(2026, 11, 23)));
        // Over Christmas 2026: Wed 23 Dec + 1 → 24/25/26 closed, 27 Sunday → Mon 28 Dec.
        assert_eq!(c.add_working_days(date(2026, 12, 23), 1), Some(date(2026, 12, 28)));
        // Mon 28 Dec 2026 + 3: Tue 29, Wed 30, (31 closed, 1 Jan closed) Fri 1 Jan closed → Mon 4 Jan 2027.
        assert_eq!(c.add_working_days(date(2026, 12, 28), 3), Some(date(2027, 1, 4)));
        assert_eq!(c.add_working_days(date(2026, 12, 28), 0), Some(date(2026, 12, 28)));
        let extra = Calendar { extra_closed_days: [date(2026, 11, 23)].into_iter().collect() };
        assert_eq!(extra.add_working_days(date(2026, 11, 21), 1), Some(date(2026, 11, 24)));
    }

    #[test]
    fn closed_day_list_names_each_day_once() {
        let c = Calendar { extra_closed_days: [date(2024, 12, 24), date(2024, 11, 1)].into_iter().collect() };
        let days = c.closed_days(2024..=2024);
        assert_eq!(days.len(), 11 + 1, "{days:?}");
        assert!(days.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
