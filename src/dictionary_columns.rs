//! A table held with dictionary columns and shown with their values' type: the SQL, the
//! outputs and an analyst's client see text, and a scan decodes, batch by batch, only the
//! columns a query reads. The export's repeating columns and its references to keyed
//! tables are held so (`releasable`), as are the ids of the cached views (`by_key`).

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::error::Result;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{CastExpr, Column};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::projection::ProjectionExec;

/// The schema shown for rows held in `held`: each dictionary column as its values' type.
pub fn shown(held: &Schema) -> SchemaRef {
    let fields: Vec<Field> = held
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Dictionary(_, values) => f.as_ref().clone().with_data_type(values.as_ref().clone()),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, held.metadata().clone()))
}

/// `scan` with each dictionary column it yields decoded to its values.
pub fn decoded(scan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    let held = scan.schema();
    if !held.fields().iter().any(|f| matches!(f.data_type(), DataType::Dictionary(..))) {
        return Ok(scan);
    }
    let decoded = held
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let column: Arc<dyn PhysicalExpr> = Arc::new(Column::new(f.name(), i));
            let expr = match f.data_type() {
                DataType::Dictionary(_, values) => Arc::new(CastExpr::new(column, values.as_ref().clone(), None)),
                _ => column,
            };
            (expr, f.name().clone())
        })
        .collect::<Vec<_>>();
    Ok(Arc::new(ProjectionExec::try_new(decoded, scan)?))
}
