//! Functions whose result can be far larger than their arguments (`repeat('x', 1e9)`,
//! `range(0, 6e7)`, `lpad`, `replace`, …) allocate that result before any memory pool
//! sees it. In a connection's session they are wrapped: before the function runs, the
//! size of what it would make is estimated from its arguments, and a call that would make
//! more than the query's share of memory fails instead of allocating it.
//!
//! The wrapper changes nothing else: name, aliases, signature, types and simplification
//! are the function's own.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::{cast, kernels::length::length};
use datafusion::arrow::datatypes::{DataType, FieldRef, Int64Type};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};
use datafusion::prelude::SessionContext;

/// How the size of a function's result grows with its arguments, per row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Growth {
    /// `repeat(s, n)`: len(s) × n bytes.
    Repeat,
    /// `lpad(s, n)`, `rpad(s, n)`: n characters, up to 4 bytes each.
    Pad,
    /// `replace(s, from, to)`, `regexp_replace(s, pattern, to)`: up to len(s) × len(to).
    Replace,
    /// `range(start, stop[, step])`, `generate_series(…)`: (stop − start) / step values.
    Series,
    /// `array_repeat(v, n)`: n values; `array_resize(a, n, …)`: n values.
    Count { count_arg: usize },
}

const BOUNDED: &[(&str, Growth)] = &[
    ("repeat", Growth::Repeat),
    ("lpad", Growth::Pad),
    ("rpad", Growth::Pad),
    ("replace", Growth::Replace),
    ("regexp_replace", Growth::Replace),
    ("range", Growth::Series),
    ("generate_series", Growth::Series),
    ("array_repeat", Growth::Count { count_arg: 1 }),
    ("array_resize", Growth::Count { count_arg: 1 }),
];

/// Replaces the functions above in `ctx` by their bounded forms.
pub fn bound_functions(ctx: &SessionContext, limit: usize) {
    for (name, growth) in BOUNDED {
        if let Ok(function) = ctx.udf(name) {
            let bounded = Bounded { inner: function, growth: *growth, limit: limit as u64 };
            ctx.register_udf(ScalarUDF::new_from_impl(bounded));
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Bounded {
    inner: Arc<ScalarUDF>,
    growth: Growth,
    limit: u64,
}

/// One argument's per-row numbers (a count, or a string's length in bytes).
enum Numbers {
    Each(i64),
    Rows(ArrayRef),
}

impl Numbers {
    fn at(&self, row: usize) -> i64 {
        match self {
            Numbers::Each(n) => *n,
            Numbers::Rows(array) => {
                let values = array.as_primitive::<Int64Type>();
                if values.is_valid(row) { values.value(row) } else { 0 }
            }
        }
    }
}

fn counts(value: &ColumnarValue) -> Numbers {
    match value {
        ColumnarValue::Scalar(scalar) => Numbers::Each(match scalar.cast_to(&DataType::Int64) {
            Ok(ScalarValue::Int64(Some(n))) => n,
            _ => 0,
        }),
        ColumnarValue::Array(array) => cast(array, &DataType::Int64).map(Numbers::Rows).unwrap_or(Numbers::Each(0)),
    }
}

fn byte_lengths(value: &ColumnarValue) -> Numbers {
    match value {
        ColumnarValue::Scalar(scalar) => Numbers::Each(match scalar {
            ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => {
                s.len() as i64
            }
            _ => 0,
        }),
        ColumnarValue::Array(array) => {
            let lengths = match array.data_type() {
                // The length kernel does not take views; a view of strings casts to them.
                DataType::Utf8View => cast(array, &DataType::Utf8).and_then(|a| length(&a)),
                _ => length(array),
            };
            lengths.and_then(|l| cast(&l, &DataType::Int64)).map(Numbers::Rows).unwrap_or(Numbers::Each(0))
        }
    }
}

impl Bounded {
    /// The bytes the call would make, at least.
    fn estimate(&self, args: &[ColumnarValue], rows: usize) -> u64 {
        let arg = |i: usize| args.get(i);
        let per_row: Box<dyn Fn(usize) -> f64> = match self.growth {
            Growth::Repeat => match (arg(0), arg(1)) {
                (Some(s), Some(n)) => {
                    let (s, n) = (byte_lengths(s), counts(n));
                    Box::new(move |r| s.at(r).max(0) as f64 * n.at(r).max(0) as f64)
                }
                _ => return 0,
            },
            Growth::Pad => match arg(1) {
                Some(n) => {
                    let n = counts(n);
                    Box::new(move |r| n.at(r).max(0) as f64)
                }
                None => return 0,
            },
            Growth::Replace => match (arg(0), arg(2)) {
                (Some(s), Some(to)) => {
                    let (s, to) = (byte_lengths(s), byte_lengths(to));
                    Box::new(move |r| s.at(r).max(0) as f64 * to.at(r).max(1) as f64)
                }
                _ => return 0,
            },
            Growth::Series => match args {
                [start, stop] | [start, stop, _]
                    if !matches!(start.data_type(), DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)) =>
                {
                    let (start, stop) = (counts(start), counts(stop));
                    let step = args.get(2).map(counts).unwrap_or(Numbers::Each(1));
                    Box::new(move |r| {
                        let step = step.at(r).unsigned_abs().max(1) as f64;
                        (stop.at(r) as f64 - start.at(r) as f64).abs() / step * 8.0
                    })
                }
                // A series of dates or times: a day at least per value.
                [start, stop, ..] => {
                    let (start, stop) = (counts(start), counts(stop));
                    let per_day = if matches!(start_type(args), DataType::Date32) { 1.0 } else { 86_400e6 };
                    Box::new(move |r| (stop.at(r) as f64 - start.at(r) as f64).abs() / per_day * 8.0)
                }
                _ => return 0,
            },
            Growth::Count { count_arg } => match arg(count_arg) {
                Some(n) => {
                    let n = counts(n);
                    Box::new(move |r| n.at(r).max(0) as f64 * 8.0)
                }
                None => return 0,
            },
        };
        let rows = if args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) { 1 } else { rows };
        let total: f64 = (0..rows).map(per_row).sum();
        total.min(u64::MAX as f64) as u64
    }
}

fn start_type(args: &[ColumnarValue]) -> DataType {
    args.first().map(|a| a.data_type()).unwrap_or(DataType::Null)
}

impl ScalarUDFImpl for Bounded {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        self.inner.simplify(args, info)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let bytes = self.estimate(&args.args, args.number_rows);
        if bytes > self.limit {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "{}() would make about {} MiB, more than a query's share of the server's memory ({} MiB)",
                self.name(),
                bytes >> 20,
                self.limit >> 20
            )));
        }
        self.inner.invoke_with_args(args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(sql: &str) -> Result<usize> {
        let ctx = SessionContext::new();
        bound_functions(&ctx, 64 << 20);
        let batches = ctx.sql(sql).await?.collect().await?;
        Ok(batches.iter().map(|b| b.num_rows()).sum())
    }

    #[tokio::test]
    async fn calls_that_would_make_more_than_the_share_fail_before_allocating() {
        for sql in [
            "SELECT length(repeat('x', 1000000000))",
            "SELECT repeat('xxxxxxxxxx', 10000000)",
            "SELECT lpad('x', 100000000)",
            "SELECT cardinality(range(0, 60000000))",
            "SELECT cardinality(generate_series(1, 10000000))",
            "SELECT cardinality(array_repeat(1, 10000000))",
            "SELECT replace(repeat('a', 100000), 'a', repeat('b', 1000))",
            "SELECT length(repeat('x', CAST(v AS BIGINT))) FROM (VALUES (40000000), (40000000)) t(v)",
        ] {
            let error = run(sql).await.expect_err(sql).to_string();
            assert!(error.contains("share of the server's memory"), "{sql}: {error}");
        }
    }

    #[tokio::test]
    async fn ordinary_calls_answer_as_before() {
        for sql in [
            "SELECT repeat('ab', 3), lpad('7', 3, '0'), rpad('x', 2), replace('abc', 'b', 'B')",
            "SELECT range(0, 10), generate_series(1, 3), array_repeat('a', 2), array_resize([1, 2], 3, 0)",
            "SELECT range(DATE '2026-01-01', DATE '2026-12-31', INTERVAL '1' DAY)",
            "SELECT regexp_replace('a-b-c', '-', '+', 'g')",
        ] {
            assert_eq!(run(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}")), 1, "{sql}");
        }
    }
}
