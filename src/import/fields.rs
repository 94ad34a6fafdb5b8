//! Converting a CSV field into a column value: dates, timestamps (as instants), flags and
//! numbers in the forms Danish case systems and Excel write them.

use std::sync::Arc;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use chrono_tz::Europe::Copenhagen;
use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};

use crate::contract::{ColumnKind, ColumnSpec};

pub(super) const NOT_A_DATE: &str = "not a date (expected yyyy-mm-dd or dd-mm-yyyy)";
pub(super) const NOT_A_TIMESTAMP: &str = "not a timestamp (expected yyyy-mm-dd hh:mm[:ss] or dd-mm-yyyy hh:mm[:ss])";
pub(super) const SKIPPED_HOUR: &str =
    "a Copenhagen time in the hour skipped when clocks go forward, which does not exist (write it with its UTC offset)";
/// The zone timestamp columns are written in: instants, whatever zone the CSV wrote.
pub(super) const WRITTEN_ZONE: &str = "UTC";
pub(super) const NOT_A_FLAG: &str = "not a yes/no value (expected true/false, 1/0, ja/nej or yes/no)";
pub(super) const NOT_A_NUMBER: &str = "not a number (expected e.g. 1234.5, 1234,5 or 1.234,50)";
pub(super) const NOT_A_WHOLE_NUMBER: &str = "not a whole number (expected e.g. 2026 or 3)";

/// Days from 0001-01-01 (day 1 of the common era) to 1970-01-01, the Date32 epoch.
pub(super) const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// One column of the chunk being built.
pub(super) enum ColumnBuffer {
    Text(StringBuilder),
    Date(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder),
    Flag { values: BooleanBuilder, default_false: bool },
    Number(Float64Builder),
    Integer(Int64Builder),
}

impl ColumnBuffer {
    pub(super) fn new(spec: &ColumnSpec) -> ColumnBuffer {
        match spec.kind {
            ColumnKind::Id | ColumnKind::Text | ColumnKind::Personal => ColumnBuffer::Text(StringBuilder::new()),
            ColumnKind::Date => ColumnBuffer::Date(Date32Builder::new()),
            ColumnKind::Timestamp => ColumnBuffer::Timestamp(TimestampMicrosecondBuilder::new()),
            ColumnKind::Bool => ColumnBuffer::Flag { values: BooleanBuilder::new(), default_false: spec.default_false },
            ColumnKind::Number => ColumnBuffer::Number(Float64Builder::new()),
            ColumnKind::Integer { .. } => ColumnBuffer::Integer(Int64Builder::new()),
        }
    }

    /// Adds one field; the error says what is wrong without quoting the field.
    pub(super) fn push(&mut self, field: &str, separator_is_semicolon: bool) -> std::result::Result<(), &'static str> {
        let field = field.trim();
        let empty = field.is_empty();
        match self {
            ColumnBuffer::Text(b) => b.append_option((!empty).then_some(field)),
            ColumnBuffer::Date(b) if empty => b.append_null(),
            ColumnBuffer::Date(b) => {
                let date = parse_date(field).or_else(|| parse_timestamp(field).map(|t| t.date())).ok_or(NOT_A_DATE)?;
                b.append_value(date.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE);
            }
            ColumnBuffer::Timestamp(b) if empty => b.append_null(),
            ColumnBuffer::Timestamp(b) => {
                b.append_value(parse_instant(field)?);
            }
            ColumnBuffer::Flag { values, default_false } if empty => {
                if *default_false {
                    values.append_value(false);
                } else {
                    values.append_null();
                }
            }
            ColumnBuffer::Flag { values, .. } => values.append_value(parse_flag(field).ok_or(NOT_A_FLAG)?),
            ColumnBuffer::Number(b) if empty => b.append_null(),
            ColumnBuffer::Number(b) => b.append_value(parse_number(field, separator_is_semicolon).ok_or(NOT_A_NUMBER)?),
            ColumnBuffer::Integer(b) if empty => b.append_null(),
            ColumnBuffer::Integer(b) => b.append_value(field.parse().map_err(|_| NOT_A_WHOLE_NUMBER)?),
        }
        Ok(())
    }

    /// The chunk's array; the buffer starts over empty.
    pub(super) fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuffer::Text(b) => Arc::new(b.finish()),
            ColumnBuffer::Date(b) => Arc::new(b.finish()),
            ColumnBuffer::Timestamp(b) => Arc::new(b.finish().with_timezone(WRITTEN_ZONE)),
            ColumnBuffer::Flag { values, .. } => Arc::new(values.finish()),
            ColumnBuffer::Number(b) => Arc::new(b.finish()),
            ColumnBuffer::Integer(b) => Arc::new(b.finish()),
        }
    }
}

pub(super) fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `yyyy-mm-dd` (also with `.` or `/`), or Danish `dd-mm-yyyy`, `dd.mm.yyyy`, `dd/mm/yyyy`.
/// Two-digit years are refused: their century would be a guess.
pub(super) fn parse_date(s: &str) -> Option<NaiveDate> {
    let separator = s.chars().find(|c| !c.is_ascii_digit())?;
    if !matches!(separator, '-' | '.' | '/') {
        return None;
    }
    let parts: Vec<&str> = s.split(separator).collect();
    let [first, middle, last] = parts.as_slice() else { return None };
    if ![first, middle, last].iter().all(|p| all_digits(p)) || middle.len() > 2 {
        return None;
    }
    let (year, day) = match (first.len(), last.len()) {
        (4, 1..=2) => (first, last),
        (1..=2, 4) => (last, first),
        _ => return None,
    };
    NaiveDate::from_ymd_opt(year.parse().ok()?, middle.parse().ok()?, day.parse().ok()?)
}

/// A date as `parse_date` reads it, then ` ` or `T`, then a time of day, then maybe a
/// UTC offset (`Z`, `+01:00`, `+0100`, `+01`). Without an offset the time is Copenhagen
/// wall-clock time as written; with one it is converted to Copenhagen wall-clock time.
pub(super) fn parse_timestamp(s: &str) -> Option<NaiveDateTime> {
    let split = s.find([' ', 'T'])?;
    let date = parse_date(&s[..split])?;
    let rest = s[split + 1..].trim();
    let (time, offset_seconds) = split_offset(rest)?;
    let local = date.and_time(parse_time(time)?);
    match offset_seconds {
        None => Some(local),
        Some(offset) => {
            let utc = local.checked_sub_signed(Duration::seconds(offset))?;
            Some(Copenhagen.from_utc_datetime(&utc).naive_local())
        }
    }
}

/// A timestamp as `parse_timestamp` reads it, as an instant (µs since the epoch): with an
/// offset the instant it names; without one Copenhagen wall-clock time, in the repeated
/// autumn hour its first (summer-time) occurrence.
pub(super) fn parse_instant(s: &str) -> std::result::Result<i64, &'static str> {
    let split = s.find([' ', 'T']).ok_or(NOT_A_TIMESTAMP)?;
    let date = parse_date(&s[..split]).ok_or(NOT_A_TIMESTAMP)?;
    let (time, offset_seconds) = split_offset(s[split + 1..].trim()).ok_or(NOT_A_TIMESTAMP)?;
    let local = date.and_time(parse_time(time).ok_or(NOT_A_TIMESTAMP)?);
    match offset_seconds {
        Some(offset) => {
            Ok(local.checked_sub_signed(Duration::seconds(offset)).ok_or(NOT_A_TIMESTAMP)?.and_utc().timestamp_micros())
        }
        None => Copenhagen.from_local_datetime(&local).earliest().map(|t| t.timestamp_micros()).ok_or(SKIPPED_HOUR),
    }
}

/// Splits a trailing UTC offset off a time of day; `None` when the offset is malformed.
pub(super) fn split_offset(s: &str) -> Option<(&str, Option<i64>)> {
    if let Some(time) = s.strip_suffix(['Z', 'z']) {
        return Some((time.trim_end(), Some(0)));
    }
    let Some(sign_at) = s.rfind(['+', '-']) else { return Some((s, None)) };
    let sign = if s[sign_at..].starts_with('-') { -1 } else { 1 };
    let digits: String = s[sign_at + 1..].chars().filter(|c| *c != ':').collect();
    if !all_digits(&digits) {
        return None;
    }
    let (hours, minutes) = match digits.len() {
        2 => (digits.parse::<i64>().ok()?, 0),
        4 => (digits[..2].parse::<i64>().ok()?, digits[2..].parse::<i64>().ok()?),
        _ => return None,
    };
    if hours > 14 || minutes > 59 {
        return None;
    }
    Some((s[..sign_at].trim_end(), Some(sign * (hours * 3600 + minutes * 60))))
}

/// `hh:mm`, `hh:mm:ss`, `hh:mm:ss.ffffff`, or Danish `hh.mm`, `hh.mm.ss`.
pub(super) fn parse_time(s: &str) -> Option<NaiveTime> {
    let (clock, fraction) = if s.contains(':') {
        match s.split_once(['.', ',']) {
            Some((clock, fraction)) => (clock, Some(fraction)),
            None => (s, None),
        }
    } else {
        (s, None)
    };
    let separator = if clock.contains(':') { ':' } else { '.' };
    let parts: Vec<&str> = clock.split(separator).collect();
    if !parts.iter().all(|p| all_digits(p) && p.len() <= 2) {
        return None;
    }
    let (hour, minute, second) = match parts.as_slice() {
        [h, m] => (h.parse().ok()?, m.parse().ok()?, 0),
        [h, m, sec] => (h.parse().ok()?, m.parse().ok()?, sec.parse().ok()?),
        _ => return None,
    };
    let micros = match fraction {
        None => 0,
        Some(f) if all_digits(f) && f.len() <= 9 => {
            let padded = format!("{f:0<6}");
            padded[..6].parse().ok()?
        }
        Some(_) => return None,
    };
    NaiveTime::from_hms_micro_opt(hour, minute, second, micros)
}

pub(super) fn parse_flag(s: &str) -> Option<bool> {
    match s.to_lowercase().as_str() {
        "true" | "1" | "ja" | "yes" | "sand" => Some(true),
        "false" | "0" | "nej" | "no" | "falsk" => Some(false),
        _ => None,
    }
}

/// A number with a decimal point or comma and optional thousands separators (`.`, `,`,
/// space). `dot_may_group` says how to read a lone dot before exactly three digits.
pub(super) fn parse_number(s: &str, dot_may_group: bool) -> Option<f64> {
    let compact: String = s.chars().filter(|c| !matches!(c, ' ' | '\u{a0}' | '\u{202f}')).collect();
    let (negative, body) = match compact.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, compact.strip_prefix('+').unwrap_or(&compact)),
    };
    let dots = body.matches('.').count();
    let commas = body.matches(',').count();
    // (integer part, fraction, thousands separator in the integer part)
    let (integer, fraction, group) = match (body.rfind('.'), body.rfind(',')) {
        (Some(dot), Some(comma)) if comma > dot => (&body[..comma], Some(&body[comma + 1..]), Some('.')),
        (Some(dot), Some(_)) => (&body[..dot], Some(&body[dot + 1..]), Some(',')),
        (None, Some(comma)) if commas == 1 => (&body[..comma], Some(&body[comma + 1..]), None),
        (None, Some(_)) => (body, None, Some(',')),
        (Some(dot), None) if dots == 1 && !(dot_may_group && is_grouped(body, '.')) => {
            (&body[..dot], Some(&body[dot + 1..]), None)
        }
        (Some(_), None) => (body, None, Some('.')),
        (None, None) => (body, None, None),
    };
    let integer_digits: String = match group {
        Some(separator) if is_grouped(integer, separator) => integer.chars().filter(|c| *c != separator).collect(),
        Some(_) => return None,
        None => integer.to_string(),
    };
    let fraction_ok = fraction.is_none_or(all_digits);
    let integer_ok = all_digits(&integer_digits) || (integer_digits.is_empty() && fraction.is_some());
    if !fraction_ok || !integer_ok {
        return None;
    }
    let normalized = format!("{}{}.{}", if negative { "-" } else { "" }, integer_digits, fraction.unwrap_or("0"));
    normalized.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// `1.234.567`: a first group of one to three digits not starting with 0, then groups of
/// exactly three.
pub(super) fn is_grouped(s: &str, separator: char) -> bool {
    let mut groups = s.split(separator);
    let first_ok = groups.next().is_some_and(|g| all_digits(g) && g.len() <= 3 && !g.starts_with('0'));
    let mut rest_count = 0;
    let rest_ok = groups.all(|g| {
        rest_count += 1;
        g.len() == 3 && all_digits(g)
    });
    first_ok && rest_ok && rest_count > 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Array;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn dates_iso_and_danish() {
        assert_eq!(parse_date("2024-03-07"), Some(date(2024, 3, 7)));
        assert_eq!(parse_date("07-03-2024"), Some(date(2024, 3, 7)));
        assert_eq!(parse_date("7.3.2024"), Some(date(2024, 3, 7)));
        assert_eq!(parse_date("07/03/2024"), Some(date(2024, 3, 7)));
        for bad in ["2024-13-01", "31-02-2024", "07-03-24", "2024-03", "2024-03-07-1", "x", "2024-03-07x", "-03-2024"] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn timestamps() {
        let t = |s| parse_timestamp(s).map(|t| t.to_string());
        assert_eq!(t("2024-03-07 14:05"), Some("2024-03-07 14:05:00".into()));
        assert_eq!(t("2024-03-07T14:05:09"), Some("2024-03-07 14:05:09".into()));
        assert_eq!(t("07-03-2024 14.05"), Some("2024-03-07 14:05:00".into()));
        assert_eq!(t("07-03-2024 14:05:09.25"), Some("2024-03-07 14:05:09.250".into()));
        // Winter: Copenhagen is UTC+1.
        assert_eq!(t("2024-03-07T13:05:00Z"), Some("2024-03-07 14:05:00".into()));
        assert_eq!(t("2024-07-07T14:05:00+02:00"), Some("2024-07-07 14:05:00".into()));
        for bad in ["2024-03-07", "2024-03-07 25:00", "2024-03-07 14", "2024-03-07 14:05+1"] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }

    #[test]
    fn timestamps_as_instants() {
        let utc = |s: &str| parse_instant(s).map(|m| chrono::DateTime::from_timestamp_micros(m).unwrap().to_rfc3339());
        // Naive: Copenhagen time (winter UTC+1, summer UTC+2).
        assert_eq!(utc("2024-03-07 14:05"), Ok("2024-03-07T13:05:00+00:00".into()));
        assert_eq!(utc("2024-07-07 14:05"), Ok("2024-07-07T12:05:00+00:00".into()));
        // The repeated hour of 27 October 2024: naive means the first occurrence; an offset says which.
        assert_eq!(utc("2024-10-27 02:30"), Ok("2024-10-27T00:30:00+00:00".into()));
        assert_eq!(utc("2024-10-27 02:30+01:00"), Ok("2024-10-27T01:30:00+00:00".into()));
        assert_eq!(utc("2024-10-27T01:30:00Z"), Ok("2024-10-27T01:30:00+00:00".into()));
        // 31 March 2024 02:30 does not exist in Copenhagen; with an offset it is a real instant.
        assert_eq!(utc("2024-03-31 02:30"), Err(SKIPPED_HOUR));
        assert_eq!(utc("2024-03-31 02:30+01:00"), Ok("2024-03-31T01:30:00+00:00".into()));
        assert_eq!(utc("2024-03-07"), Err(NOT_A_TIMESTAMP));
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("1234.5", false), Some(1234.5));
        assert_eq!(parse_number("1234,5", true), Some(1234.5));
        assert_eq!(parse_number("1.234,50", true), Some(1234.5));
        assert_eq!(parse_number("1,234.50", false), Some(1234.5));
        assert_eq!(parse_number("-12 500,00", true), Some(-12500.0));
        assert_eq!(parse_number("12.500", true), Some(12500.0));
        assert_eq!(parse_number("12.500", false), Some(12.5));
        assert_eq!(parse_number("0.125", true), Some(0.125));
        assert_eq!(parse_number("1.234.567", false), Some(1234567.0));
        assert_eq!(parse_number(",5", true), Some(0.5));
        for bad in ["", "-", "1,2,3", "1.23,5", "abc", "1e5", "inf", "NaN", "1..2", "1,", "12.34.5"] {
            assert_eq!(parse_number(bad, true), None, "{bad}");
        }
    }

    #[test]
    fn flags() {
        assert_eq!(parse_flag("JA"), Some(true));
        assert_eq!(parse_flag("Nej"), Some(false));
        assert_eq!(parse_flag("FALSK"), Some(false));
        assert_eq!(parse_flag("maybe"), None);
        let mut acute = ColumnBuffer::Flag { values: BooleanBuilder::new(), default_false: true };
        acute.push("", false).unwrap();
        let flags = acute.finish();
        let flags = flags.as_any().downcast_ref::<datafusion::arrow::array::BooleanArray>().unwrap();
        assert_eq!(flags.iter().collect::<Vec<_>>(), vec![Some(false)]);
    }
}
