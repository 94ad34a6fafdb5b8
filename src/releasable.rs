//! A catalog's table held in memory until the run no longer reads it: then its rows are
//! given back (`release`), and any later read fails with an error that names the table,
//! rather than answering from nothing. Every table of a catalog is registered this way;
//! only the report and `kpi` release one (the postings).
//!
//! The views are bound to the tables they read when they are made, so a table cannot be
//! dropped from a session by deregistering it: its provider stays alive inside every view
//! that names it. The provider is kept, and only its rows go.
//!
//! A column held dictionary-encoded (one that `repeats`, see `contract`, or an id held as
//! its key) is shown as its values' type and decoded as it is scanned (`dictionary_columns`).

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{Statistics, plan_err};
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;

#[derive(Debug)]
pub struct Releasable {
    name: String,
    /// The schema shown: the rows' own, with each dictionary column as its values' type.
    schema: SchemaRef,
    rows: RwLock<Option<Arc<MemTable>>>,
}

impl Releasable {
    pub fn new(name: &str, table: MemTable) -> Releasable {
        let schema = crate::dictionary_columns::shown(&table.schema());
        Releasable { name: name.to_string(), schema, rows: RwLock::new(Some(Arc::new(table))) }
    }

    /// Gives the rows back. Plans already made keep theirs until they are dropped.
    pub fn release(&self) {
        if let Ok(mut rows) = self.rows.write() {
            *rows = None;
        }
        // The rows were allocated by the loader's threads, which have ended.
        crate::freed_memory::give_back();
    }

    fn rows(&self) -> Result<Arc<MemTable>> {
        match self.rows.read().ok().and_then(|rows| rows.clone()) {
            Some(table) => Ok(table),
            None => plan_err!("the table {} was released: this run has finished reading it", self.name),
        }
    }
}

#[async_trait]
impl TableProvider for Releasable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        match self.rows() {
            Ok(table) => table.supports_filters_pushdown(filters),
            Err(_) => Ok(vec![TableProviderFilterPushDown::Unsupported; filters.len()]),
        }
    }

    fn statistics(&self) -> Option<Statistics> {
        self.rows().ok().and_then(|table| table.statistics())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        crate::dictionary_columns::decoded(self.rows()?.scan(state, projection, filters, limit).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int32Array, RecordBatch};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::prelude::SessionContext;

    #[tokio::test]
    async fn a_released_table_is_an_error_that_names_it() {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, false)]));
        let batch = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(Int32Array::from(vec![1, 2, 3]))]).unwrap();
        let table = Arc::new(Releasable::new("postings", MemTable::try_new(schema, vec![vec![batch]]).unwrap()));
        let ctx = SessionContext::new();
        ctx.register_table("postings", Arc::clone(&table) as Arc<dyn TableProvider>).unwrap();
        ctx.sql("CREATE VIEW big AS SELECT x FROM postings WHERE x > 1").await.unwrap();
        let rows = ctx.sql("SELECT sum(x) FROM big").await.unwrap().collect().await.unwrap();
        assert_eq!(
            rows[0].column(0).as_any().downcast_ref::<datafusion::arrow::array::Int64Array>().unwrap().value(0),
            5
        );

        table.release();
        let err = match ctx.sql("SELECT sum(x) FROM big").await {
            Ok(df) => df.collect().await.unwrap_err(),
            Err(e) => e,
        };
        assert!(err.to_string().contains("the table postings was released"), "{err}");
    }
}
