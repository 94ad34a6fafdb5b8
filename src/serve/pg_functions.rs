//! The functions clients call to learn where they are, answered as PostgreSQL would:
//! `version()` in PostgreSQL's form (SQLAlchemy, pgAdmin, Metabase and Grafana parse it),
//! the logged-in user as `current_user`, `session_user` and `user`, and the sizes psql's
//! `\dt+` and `\d+` show (`pg_size_pretty`; a relation's size is 0, since nothing is
//! stored on disk here), `to_regtype` and the visibility tests of `\df` and `\dT`.

use std::sync::Arc;

use datafusion::arrow::array::{AsArray, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::type_coercion::functions::fields_with_udf;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, create_udf,
};
use datafusion::prelude::SessionContext;

/// What `version()` answers: PostgreSQL's form first, then what actually answers.
pub fn version_text() -> String {
    format!(
        "PostgreSQL {PG_VERSION} on x86_64-pc-linux-gnu, compiled by rustc (cwkpi {}, Apache DataFusion {}), 64-bit",
        env!("CARGO_PKG_VERSION"),
        datafusion::DATAFUSION_VERSION
    )
}

/// The PostgreSQL version the endpoint speaks as (also its `server_version`).
pub const PG_VERSION: &str = "16.0";

/// Registers the functions on a session of `user`. Call after datafusion-postgres's own.
pub fn register(ctx: &SessionContext, user: &str) {
    let text = |t: &str| ScalarValue::Utf8(Some(t.to_string()));
    ctx.register_udf(answering("version", vec![], text(&version_text())));
    for name in ["current_user", "session_user", "user", "current_role"] {
        ctx.register_udf(answering(name, vec![], text(user)));
    }
    // A relation's size in bytes, by oid: nothing here lives on disk.
    for name in ["pg_table_size", "pg_relation_size", "pg_total_relation_size", "pg_indexes_size"] {
        ctx.register_udf(answering(name, vec![DataType::Int64], ScalarValue::Int64(Some(0))));
    }
    ctx.register_udf(size_pretty());
    // `\l+` asks for each database's size by name.
    ctx.register_udf(answering("pg_database_size", vec![DataType::Utf8], ScalarValue::Int64(Some(0))));
    ctx.register_udf(answering("pg_tablespace_location", vec![DataType::Int32], ScalarValue::Utf8(None)));
    // `to_regtype(name)`: drivers ask for extension types such as `hstore` to decide how
    // to read them; none is installed, so null, as PostgreSQL answers for a missing type.
    ctx.register_udf(answering("to_regtype", vec![DataType::Utf8], ScalarValue::Int32(None)));
    // Whether an object is on the search path: everything here is.
    for name in ["pg_function_is_visible", "pg_type_is_visible", "pg_operator_is_visible", "pg_conversion_is_visible"] {
        ctx.register_udf(answering(name, vec![DataType::Int32], ScalarValue::Boolean(Some(true))));
    }
    // Column comments, view definitions (`cwkpi views` and queries/ hold them) and
    // function signatures: not kept in the catalog.
    ctx.register_udf(answering("col_description", vec![DataType::Int32, DataType::Int32], ScalarValue::Utf8(None)));
    ctx.register_udf(answering("shobj_description", vec![DataType::Int32, DataType::Utf8], ScalarValue::Utf8(None)));
    ctx.register_udf(answering("pg_get_viewdef", vec![DataType::Int32, DataType::Boolean], ScalarValue::Utf8(None)));
    for name in [
        "pg_get_function_result",
        "pg_get_function_arguments",
        "pg_get_function_identity_arguments",
        "pg_get_function_sqlbody",
    ] {
        ctx.register_udf(answering(name, vec![DataType::Int32], ScalarValue::Utf8(None)));
    }
    ctx.register_udf(ScalarUDF::new_from_impl(AclArrayToString::new()));
}

/// `array_to_string` that also takes the catalog's access-privilege columns, which are
/// kept as text (always null here): psql's `\dn+` and `\dT+` join them with
/// `array_to_string(nspacl, E'\n')`. Arrays go to DataFusion's own function unchanged.
#[derive(Debug, PartialEq, Eq, Hash)]
struct AclArrayToString {
    arrays: Arc<ScalarUDF>,
    signature: Signature,
}

impl AclArrayToString {
    fn new() -> Self {
        AclArrayToString {
            arrays: datafusion::functions_nested::string::array_to_string_udf(),
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null)
}

impl ScalarUDFImpl for AclArrayToString {
    fn name(&self) -> &str {
        "array_to_string"
    }
    // The same aliases (array_join, list_to_string …): a session rebuilt from this one
    // registers every function again, and an alias left to the original would take the
    // name back.
    fn aliases(&self) -> &[String] {
        self.arrays.aliases()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.first().is_some_and(is_text) {
            return Ok(arg_types.iter().map(|_| DataType::Utf8).collect());
        }
        let fields: Vec<_> = arg_types.iter().map(|t| Arc::new(Field::new("a", t.clone(), true))).collect();
        Ok(fields_with_udf(&fields, self.arrays.as_ref())?.iter().map(|f| f.data_type().clone()).collect())
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if !args.arg_fields.first().is_some_and(|f| is_text(f.data_type())) {
            return self.arrays.invoke_with_args(args);
        }
        Ok(args.args.into_iter().next().unwrap_or(ColumnarValue::Scalar(ScalarValue::Utf8(None))))
    }
}

/// `name(args…)` answering `value` for every row.
fn answering(name: &str, args: Vec<DataType>, value: ScalarValue) -> ScalarUDF {
    let data_type = value.data_type();
    let udf = move |args: &[ColumnarValue]| -> Result<ColumnarValue> {
        let rows = args.iter().find_map(|a| if let ColumnarValue::Array(a) = a { Some(a.len()) } else { None });
        Ok(match rows {
            Some(rows) => ColumnarValue::Array(value.to_array_of_size(rows)?),
            None => ColumnarValue::Scalar(value.clone()),
        })
    };
    create_udf(name, args, data_type, Volatility::Stable, Arc::new(udf))
}

fn size_pretty() -> ScalarUDF {
    let udf = |args: &[ColumnarValue]| -> Result<ColumnarValue> {
        let Some(arg) = args.first() else { return Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None))) };
        let array = arg.to_array(1)?;
        let array = datafusion::arrow::compute::cast(&array, &DataType::Int64)?;
        let text: StringArray = array.as_primitive::<Int64Type>().iter().map(|v| v.map(pretty_size)).collect();
        Ok(match arg {
            ColumnarValue::Scalar(_) => ColumnarValue::Scalar(ScalarValue::try_from_array(&text, 0)?),
            ColumnarValue::Array(_) => ColumnarValue::Array(Arc::new(text)),
        })
    };
    create_udf("pg_size_pretty", vec![DataType::Int64], DataType::Utf8, Volatility::Immutable, Arc::new(udf))
}

/// PostgreSQL's `pg_size_pretty`: bytes below 10 kB, then the largest unit that keeps the
/// number under 20,480, rounded half away from zero.
pub fn pretty_size(bytes: i64) -> String {
    // (unit, below this it is used, rounded, bits from bytes)
    const UNITS: [(&str, u64, bool, u32); 6] = [
        ("bytes", 10 * 1024, false, 0),
        ("kB", 20 * 1024 - 1, true, 10),
        ("MB", 20 * 1024 - 1, true, 20),
        ("GB", 20 * 1024 - 1, true, 30),
        ("TB", 20 * 1024 - 1, true, 40),
        ("PB", 20 * 1024 - 1, true, 50),
    ];
    let mut size = bytes;
    for (i, (name, limit, round, bits)) in UNITS.iter().enumerate() {
        let Some(next) = UNITS.get(i + 1) else {
            return format!("{} {name}", if *round { half_rounded(size) } else { size });
        };
        if size.unsigned_abs() < *limit {
            return format!("{} {name}", if *round { half_rounded(size) } else { size });
        }
        // One bit more is kept when the next unit rounds.
        let shift = next.3 - bits - u32::from(next.2) + u32::from(*round);
        size /= 1i64 << shift;
    }
    unreachable!("the last unit returns")
}

fn half_rounded(x: i64) -> i64 {
    (x + if x < 0 { -1 } else { 1 }) / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_postgresql_prints_them() {
        // Worked from PostgreSQL's rule: 10,240 bytes is 20 half-kB, rounded to 10 kB;
        // 1,000,000 bytes is 976.56 kB; 5 GiB is 5,120 MB, under 20,480.
        for (bytes, text) in [
            (0, "0 bytes"),
            (10_239, "10239 bytes"),
            (10_240, "10 kB"),
            (1_000_000, "977 kB"),
            (5 << 30, "5120 MB"),
            (20 << 30, "20 GB"),
            (-10_240, "-10 kB"),
        ] {
            assert_eq!(pretty_size(bytes), text, "{bytes}");
        }
    }

    #[test]
    fn version_reads_as_postgresql_first() {
        assert!(
            version_text().starts_with("PostgreSQL 16.0 on x86_64-pc-linux-gnu, compiled by "),
            "{}",
            version_text()
        );
    }
}
