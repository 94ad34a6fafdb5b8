//! The SQL functions the catalog adds for the rules' date arithmetic, so views and
//! analysts count deadlines exactly as the rules say:
//!
//! - `add_span(date, span)`: `date` plus a rules span: `'8 weeks'`, `'3 months'` (calendar,
//!   clamped at month end), `'40 working days'` (the n-th working day strictly after
//!   `date`, on the rules' calendar);
//! - `is_working_day(date)`: Monday–Friday and not a closed day;
//! - `copenhagen_date(timestamp)`: the Copenhagen calendar date of an instant;
//! - `dkk(bigint)`: an amount in whole øre as kroner, a decimal with two places (exact:
//!   the øre are the decimal's digits).

use std::sync::Arc;

use chrono::{Months, NaiveDate};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Date32Array, Decimal128Array};
use datafusion::arrow::datatypes::{DataType, Date32Type, Int64Type, TimeUnit, TimestampMicrosecondType};
use datafusion::common::DataFusionError;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};

use crate::calendar::Calendar;
use crate::contract::TIME_ZONE;
use crate::rules::{Period, PeriodKinds, Span};

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or(NaiveDate::MIN)
}

fn to_date(days: i32) -> Option<NaiveDate> {
    epoch().checked_add_signed(chrono::Duration::days(days.into()))
}

fn to_days(d: NaiveDate) -> i32 {
    (d - epoch()).num_days() as i32
}

/// `d` plus a period of the rules (calendar or working days).
pub fn add_period(d: NaiveDate, period: Period, calendar: &Calendar) -> Option<NaiveDate> {
    match period {
        Period::Calendar(Span { months, days }) => {
            // Months first (clamped at month end), then days, as DataFusion adds an interval.
            let with_months = d.checked_add_months(Months::new(u32::try_from(months).ok()?))?;
            with_months.checked_add_signed(chrono::Duration::days(days.into()))
        }
        Period::WorkingDays(n) => calendar.add_working_days(d, n),
        Period::Hours(_) => None,
    }
}

fn exec_err(message: String) -> DataFusionError {
    DataFusionError::Execution(message)
}

/// The functions, bound to the rules' calendar.
pub fn functions(calendar: &Calendar) -> Vec<ScalarUDF> {
    let cal = Arc::new(calendar.clone());
    let add_span = {
        let cal = cal.clone();
        create_udf(
            "add_span",
            vec![DataType::Date32, DataType::Utf8],
            DataType::Date32,
            Volatility::Immutable,
            Arc::new(move |args: &[ColumnarValue]| {
                let arrays = ColumnarValue::values_to_arrays(args)?;
                let dates = arrays[0].as_primitive::<Date32Type>();
                let spans = arrays[1].as_string::<i32>();
                // Spans repeat (one per rule, interleaved): parse each distinct text once.
                let mut parsed: Vec<(&str, Period)> = Vec::new();
                let mut out = Vec::with_capacity(dates.len());
                for i in 0..dates.len() {
                    if dates.is_null(i) || spans.is_null(i) {
                        out.push(None);
                        continue;
                    }
                    let text = spans.value(i);
                    let period = match parsed.iter().find(|(t, _)| *t == text) {
                        Some((_, p)) => *p,
                        None => {
                            let p = Period::parse(text, PeriodKinds::CaseDeadline)
                                .map_err(|m| exec_err(format!("add_span: {m}")))?;
                            parsed.push((text, p));
                            p
                        }
                    };
                    out.push(to_date(dates.value(i)).and_then(|d| add_period(d, period, &cal)).map(to_days));
                }
                Ok(ColumnarValue::Array(Arc::new(Date32Array::from(out)) as ArrayRef))
            }),
        )
    };
    let is_working_day = {
        let cal = cal.clone();
        create_udf(
            "is_working_day",
            vec![DataType::Date32],
            DataType::Boolean,
            Volatility::Immutable,
            Arc::new(move |args: &[ColumnarValue]| {
                let arrays = ColumnarValue::values_to_arrays(args)?;
                let dates = arrays[0].as_primitive::<Date32Type>();
                let out: BooleanArray =
                    dates.iter().map(|d| d.and_then(to_date).map(|d| cal.is_working_day(d))).collect();
                Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
            }),
        )
    };
    let copenhagen_date = create_udf(
        "copenhagen_date",
        vec![DataType::Timestamp(TimeUnit::Microsecond, Some(TIME_ZONE.into()))],
        DataType::Date32,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            use chrono::TimeZone;
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let instants = arrays[0].as_primitive::<TimestampMicrosecondType>();
            let out: Date32Array = instants
                .iter()
                .map(|t| {
                    let utc = chrono::DateTime::from_timestamp_micros(t?)?;
                    Some(to_days(chrono_tz::Europe::Copenhagen.from_utc_datetime(&utc.naive_utc()).date_naive()))
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
        }),
    );
    let dkk = create_udf(
        "dkk",
        vec![DataType::Int64],
        DKK,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let ore = arrays[0].as_primitive::<Int64Type>();
            let (precision, scale) = match DKK {
                DataType::Decimal128(p, s) => (p, s),
                _ => (38, 2),
            };
            let kroner: Decimal128Array = ore.iter().map(|v| v.map(i128::from)).collect();
            Ok(ColumnarValue::Array(Arc::new(kroner.with_precision_and_scale(precision, scale)?) as ArrayRef))
        }),
    );
    vec![add_span, is_working_day, copenhagen_date, dkk]
}

/// The type of an amount in the views: kroner with two decimals (any i64 of øre fits).
pub const DKK: DataType = DataType::Decimal128(21, 2);

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn periods_add_as_the_rules_say() {
        let cal = Calendar::default();
        let months = |m| Period::Calendar(Span { months: m, days: 0 });
        assert_eq!(add_period(date(2026, 1, 31), months(1), &cal), Some(date(2026, 2, 28)));
        assert_eq!(add_period(date(2024, 1, 31), months(1), &cal), Some(date(2024, 2, 29)));
        assert_eq!(
            add_period(date(2026, 3, 2), Period::Calendar(Span { months: 0, days: 56 }), &cal),
            Some(date(2026, 4, 27))
        );
        assert_eq!(add_period(date(2024, 3, 27), Period::WorkingDays(6), &cal), Some(date(2024, 4, 9)));
        assert_eq!(add_period(date(2024, 3, 27), Period::Hours(24), &cal), None);
    }
}
