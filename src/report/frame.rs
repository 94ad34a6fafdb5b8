//! A report statement's result as one batch read by column name (`Frame`), how the
//! statements run, and a report table as written (`TableOut`): what the report's readers
//! (`data`, `lists`) and writers share.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::{cast, concat_batches, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Date32Type, Field, Float64Type, Int64Type, Schema, SchemaRef};
use datafusion::scalar::ScalarValue;

use chrono::NaiveDate;

use crate::catalog::Catalog;
use crate::error::{Error, Result};

/// One cell's value as the statement gave it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Date(NaiveDate),
}

/// One report table as written to `tables/<name>.csv|parquet`: all units in one file.
pub struct TableOut {
    pub name: &'static str,
    pub batch: RecordBatch,
}

/// Runs a report statement, with the report date as `$1` where it takes one. The schema
/// comes along, since an empty result has no batches to carry it.
pub(crate) async fn statement(
    catalog: &Catalog,
    name: &str,
    as_of: Option<NaiveDate>,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let sql = crate::queries::statement(name)
        .ok_or_else(|| Error::Internal(format!("no statement queries/statements/{name}.sql")))?;
    let mut df = catalog.ctx.sql(sql).await.map_err(|e| Error::Internal(format!("statement {name}: {e}")))?;
    if let Some(date) = as_of {
        df = df.with_param_values(vec![ScalarValue::Date32(Some(date.to_epoch_days()))])?;
    }
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let started = std::time::Instant::now();
    let batches = df.collect().await?;
    tracing::debug!(statement = name, seconds = started.elapsed().as_secs_f64(), "report statement done");
    Ok((schema, batches))
}

/// One result set as a single batch with its strings as plain `Utf8`, read by column name.
/// Also how `letters` reads its statement.
pub(crate) struct Frame {
    pub(crate) batch: RecordBatch,
}

impl Frame {
    pub(crate) fn new((schema, batches): (SchemaRef, Vec<RecordBatch>)) -> Result<Frame> {
        // The batches' own schema may differ from the plan's in nullability only.
        let schema = batches.first().map_or(schema, |b| b.schema());
        let batch = concat_batches(&schema, &batches).map_err(arrow)?;
        // Views may yield Utf8View; files and readers get plain Utf8.
        let mut fields = Vec::new();
        let mut columns: Vec<ArrayRef> = Vec::new();
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            let (data_type, column) = match field.data_type() {
                DataType::Utf8View | DataType::LargeUtf8 => {
                    (DataType::Utf8, cast(column, &DataType::Utf8).map_err(arrow)?)
                }
                DataType::Int32 | DataType::Int16 | DataType::Int8 | DataType::UInt64 | DataType::UInt32 => {
                    (DataType::Int64, cast(column, &DataType::Int64).map_err(arrow)?)
                }
                other => (other.clone(), column.clone()),
            };
            fields.push(Field::new(field.name(), data_type, true));
            columns.push(column);
        }
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(arrow)?;
        Ok(Frame { batch })
    }

    pub(crate) fn rows(&self) -> usize {
        self.batch.num_rows()
    }

    pub(crate) fn filter(&self, keep: impl Fn(&Frame, usize) -> Result<bool>) -> Result<Frame> {
        let mask: Vec<bool> = (0..self.rows()).map(|i| keep(self, i)).collect::<Result<_>>()?;
        let batch = filter_record_batch(&self.batch, &mask.into()).map_err(arrow)?;
        Ok(Frame { batch })
    }

    pub(crate) fn column(&self, name: &str) -> Result<&ArrayRef> {
        self.batch.column_by_name(name).ok_or_else(|| Error::Internal(format!("report statement lacks column {name}")))
    }

    pub(crate) fn opt_str(&self, name: &str, i: usize) -> Result<Option<String>> {
        let c = self.column(name)?;
        let s = c.as_string_opt::<i32>().ok_or_else(|| type_error(name))?;
        Ok(s.is_valid(i).then(|| s.value(i).to_string()))
    }

    pub(crate) fn str(&self, name: &str, i: usize) -> Result<String> {
        self.opt_str(name, i)?.ok_or_else(|| null_error(name))
    }

    pub(crate) fn opt_i64(&self, name: &str, i: usize) -> Result<Option<i64>> {
        let c = self.column(name)?;
        let a = c.as_primitive_opt::<Int64Type>().ok_or_else(|| type_error(name))?;
        Ok(a.is_valid(i).then(|| a.value(i)))
    }

    pub(crate) fn i64(&self, name: &str, i: usize) -> Result<i64> {
        self.opt_i64(name, i)?.ok_or_else(|| null_error(name))
    }

    pub(crate) fn opt_f64(&self, name: &str, i: usize) -> Result<Option<f64>> {
        let c = self.column(name)?;
        let a = c.as_primitive_opt::<Float64Type>().ok_or_else(|| type_error(name))?;
        Ok(a.is_valid(i).then(|| a.value(i)))
    }

    pub(crate) fn opt_bool(&self, name: &str, i: usize) -> Result<Option<bool>> {
        let c = self.column(name)?;
        let a = c.as_boolean_opt().ok_or_else(|| type_error(name))?;
        Ok(a.is_valid(i).then(|| a.value(i)))
    }

    pub(crate) fn opt_date(&self, name: &str, i: usize) -> Result<Option<NaiveDate>> {
        let c = self.column(name)?;
        let a = c.as_primitive_opt::<Date32Type>().ok_or_else(|| type_error(name))?;
        if a.is_null(i) {
            return Ok(None);
        }
        a.value_as_date(i).map(Some).ok_or_else(|| type_error(name))
    }

    pub(crate) fn date(&self, name: &str, i: usize) -> Result<NaiveDate> {
        let c = self.column(name)?;
        let a = c.as_primitive_opt::<Date32Type>().ok_or_else(|| type_error(name))?;
        if a.is_null(i) {
            return Err(null_error(name));
        }
        a.value_as_date(i).ok_or_else(|| type_error(name))
    }

    /// A cell by its column's type, for the report's lists. Every cell of every unit's page
    /// and workbook passes here, so the column is looked up once and read as its type.
    pub(crate) fn value(&self, name: &str, i: usize) -> Result<Value> {
        let c = self.column(name)?;
        if c.is_null(i) {
            return Ok(Value::Null);
        }
        let typed = |value: Option<Value>| value.ok_or_else(|| type_error(name));
        match c.data_type() {
            DataType::Utf8 => typed(c.as_string_opt::<i32>().map(|a| Value::Text(a.value(i).to_string()))),
            DataType::Int64 => typed(c.as_primitive_opt::<Int64Type>().map(|a| Value::Int(a.value(i)))),
            DataType::Float64 => typed(c.as_primitive_opt::<Float64Type>().map(|a| Value::Float(a.value(i)))),
            DataType::Boolean => typed(c.as_boolean_opt().map(|a| Value::Bool(a.value(i)))),
            DataType::Date32 => {
                typed(c.as_primitive_opt::<Date32Type>().and_then(|a| a.value_as_date(i)).map(Value::Date))
            }
            _ => Err(type_error(name)),
        }
    }
}

pub(crate) fn arrow(e: datafusion::arrow::error::ArrowError) -> Error {
    Error::Internal(format!("report tables: {e}"))
}

pub(crate) fn type_error(column: &str) -> Error {
    Error::Internal(format!("report statement: unexpected type of column {column}"))
}

pub(crate) fn null_error(column: &str) -> Error {
    Error::Internal(format!("report statement: null in column {column}"))
}
