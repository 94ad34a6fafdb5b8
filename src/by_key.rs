//! `by_key(table, column, key)`: the value of a keyed table's column at the row its key
//! numbers (`cases.case_key` is a case's row number, see `catalog`), as a dictionary whose
//! keys are the key column's own numbers and whose values are the table's column. Nothing
//! is copied, per batch or per row: the view holds numbers where it held text.
//!
//! The cached views give their ids this way (`by_key('cases', 'case_id', m.case_key) AS
//! case_id`): a join that carried the ids copied their text for every row it emitted, and
//! the views' joins carry millions (`cwkpi kpi --kpi core` took a tenth longer). A cached view
//! holds the dictionary and shows text, decoding only the columns a query reads
//! (`dictionary_columns`), so a query sees the same view as before. The function belongs
//! to the views: it is registered in the catalog's own session, not in the sessions of the
//! SQL endpoint's users, and a scoped catalog's function holds that catalog's own rows.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, DictionaryArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int32Type};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

pub const NAME: &str = "by_key";

/// `by_key` over `tables`: each keyed table by name, its rows in key order.
pub fn function(tables: Vec<(String, RecordBatch)>) -> ScalarUDF {
    ScalarUDF::new_from_impl(ByKey { tables, signature: Signature::any(3, Volatility::Immutable) })
}

#[derive(Debug)]
struct ByKey {
    tables: Vec<(String, RecordBatch)>,
    signature: Signature,
}

// One function per catalog: equal when it looks up the same tables.
impl PartialEq for ByKey {
    fn eq(&self, other: &Self) -> bool {
        self.tables.len() == other.tables.len()
            && self
                .tables
                .iter()
                .zip(&other.tables)
                .all(|((a, x), (b, y))| a == b && x.columns().iter().zip(y.columns()).all(|(c, d)| Arc::ptr_eq(c, d)))
    }
}

impl Eq for ByKey {}

impl Hash for ByKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for (name, batch) in &self.tables {
            name.hash(state);
            batch.num_rows().hash(state);
        }
    }
}

fn plan_error(message: String) -> DataFusionError {
    DataFusionError::Plan(format!("{NAME}: {message}"))
}

impl ByKey {
    /// The column `column` of the keyed table `table`, both named by literal text.
    fn values<'a>(&self, table: Option<&'a ScalarValue>, column: Option<&'a ScalarValue>) -> Result<&ArrayRef> {
        let text = |v: Option<&'a ScalarValue>| {
            v.and_then(ScalarValue::try_as_str)
                .flatten()
                .ok_or_else(|| plan_error("the table and the column are named by literal text".into()))
        };
        let (table, column) = (text(table)?, text(column)?);
        let (_, batch) = self
            .tables
            .iter()
            .find(|(name, _)| name == table)
            .ok_or_else(|| plan_error(format!("{table} is not a keyed table")))?;
        let values =
            batch.column_by_name(column).ok_or_else(|| plan_error(format!("{table} has no column {column}")))?;
        if matches!(values.data_type(), DataType::Dictionary(..)) {
            return Err(plan_error(format!("{table}.{column} refers to another table; look it up there")));
        }
        Ok(values)
    }
}

impl ScalarUDFImpl for ByKey {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Err(plan_error("the type comes from the table and column named".into()))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let scalar = |i: usize| args.scalar_arguments.get(i).copied().flatten();
        let values = self.values(scalar(0), scalar(1))?;
        let key = args.arg_fields.get(2).ok_or_else(|| plan_error("give a table, a column and a key".into()))?;
        if !key.data_type().is_integer() && key.data_type() != &DataType::Null {
            return Err(plan_error(format!("the key is an integer, not {}", key.data_type())));
        }
        let nullable = key.is_nullable() || values.null_count() > 0;
        let data_type = DataType::Dictionary(Box::new(DataType::Int32), Box::new(values.data_type().clone()));
        Ok(Arc::new(Field::new(NAME, data_type, nullable)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = |i: usize| match args.args.get(i) {
            Some(ColumnarValue::Scalar(v)) => Some(v),
            _ => None,
        };
        let values = Arc::clone(self.values(scalar(0), scalar(1))?);
        let keys = match args.args.get(2) {
            Some(key) => key.to_array(args.number_rows)?,
            None => return Err(plan_error("give a table, a column and a key".into())),
        };
        let keys = cast(&keys, &DataType::Int32)?;
        let keys = keys.as_primitive::<Int32Type>().clone();
        // A key that numbers no row is an error, never a read outside the column.
        if let Some(bad) = keys.iter().flatten().find(|k| *k < 0 || *k as usize >= values.len()) {
            return Err(DataFusionError::Execution(format!("{NAME}: {bad} numbers no row of the table")));
        }
        let dictionary = DictionaryArray::<Int32Type>::try_new(keys, values)?;
        Ok(ColumnarValue::Array(Arc::new(dictionary)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int32Array, StringArray};
    use datafusion::arrow::datatypes::Schema;
    use datafusion::prelude::SessionContext;

    fn cases() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("case_id", DataType::Utf8, false),
            Field::new("unit_id", DataType::Utf8, true),
        ]));
        let ids = Arc::new(StringArray::from(vec!["S-1", "S-2", "S-3"]));
        let units = Arc::new(StringArray::from(vec![Some("U-1"), None, Some("U-2")]));
        RecordBatch::try_new(schema, vec![ids, units]).unwrap()
    }

    async fn run(sql: &str) -> Result<Vec<RecordBatch>> {
        let ctx = SessionContext::new();
        ctx.register_udf(function(vec![("cases".into(), cases())]));
        let keys = Arc::new(Schema::new(vec![Field::new("k", DataType::Int32, true)]));
        let batch = RecordBatch::try_new(keys, vec![Arc::new(Int32Array::from(vec![Some(2), None, Some(0)]))])?;
        ctx.register_batch("refs", batch)?;
        ctx.sql(sql).await?.collect().await
    }

    #[tokio::test]
    async fn a_key_gives_its_rows_value_as_a_dictionary_over_the_column() {
        let batches =
            run("SELECT by_key('cases', 'case_id', k) AS id, by_key('cases', 'unit_id', k) AS unit FROM refs")
                .await
                .unwrap();
        let id = batches[0].column(0);
        assert_eq!(id.data_type(), &DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)));
        let text = |a: &ArrayRef| {
            let t = cast(a, &DataType::Utf8).unwrap();
            t.as_string::<i32>().iter().map(|s| s.map(str::to_string)).collect::<Vec<_>>()
        };
        assert_eq!(text(id), vec![Some("S-3".to_string()), None, Some("S-1".to_string())]);
        assert_eq!(text(batches[0].column(1)), vec![Some("U-2".to_string()), None, Some("U-1".to_string())]);
    }

    #[tokio::test]
    async fn a_key_outside_the_table_or_an_unknown_name_is_an_error() {
        let err = run("SELECT by_key('cases', 'case_id', k + 1) FROM refs").await.unwrap_err().to_string();
        assert!(err.contains("3 numbers no row"), "{err}");
        let err = run("SELECT by_key('cases', 'case_id', -1)").await.unwrap_err().to_string();
        assert!(err.contains("-1 numbers no row"), "{err}");
        let err = run("SELECT by_key('children', 'cpr', k) FROM refs").await.unwrap_err().to_string();
        assert!(err.contains("children is not a keyed table"), "{err}");
        let err = run("SELECT by_key('cases', 'nope', k) FROM refs").await.unwrap_err().to_string();
        assert!(err.contains("cases has no column nope"), "{err}");
        let err = run("SELECT by_key('cases', k, k) FROM refs").await.unwrap_err().to_string();
        assert!(err.contains("literal text"), "{err}");
    }
}
