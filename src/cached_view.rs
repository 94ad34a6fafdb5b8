//! A view whose result is computed once per catalog, at its first use, and then read
//! from memory.
//!
//! DataFusion inlines a view's plan wherever the view is named, so a base view that
//! several others build on (e.g. `measure_rules`, read by the active measures, the
//! plan KPIs and the follow-up view) is recomputed at each use, within one query and in
//! every query of a command. For views that do not depend on the as-of dates, and so
//! hold at most one row per export row, computing them once is much cheaper. Their
//! result stays in memory for the catalog's lifetime, outside the `--memory-limit` pool,
//! like the export tables themselves.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::{ExecutionPlan, collect_partitioned};

/// The views computed once per catalog: they do not depend on the as-of dates and are
/// read by several other views.
pub const CACHED_VIEWS: &[&str] = &["measure_rules", "case_first_plans", "investigation_deadlines", "follow_up_history"];

#[derive(Debug)]
pub struct CachedView {
    plan: LogicalPlan,
    schema: SchemaRef,
    result: tokio::sync::OnceCell<Arc<MemTable>>,
}

impl CachedView {
    pub fn new(plan: LogicalPlan) -> CachedView {
        let schema = Arc::clone(plan.schema().inner());
        CachedView { plan, schema, result: tokio::sync::OnceCell::new() }
    }

    async fn result(&self, state: &dyn Session) -> Result<&Arc<MemTable>> {
        self.result
            .get_or_try_init(|| async {
                let plan = state.create_physical_plan(&self.plan).await?;
                // Partitions as computed, so later scans run on every core.
                let partitions = collect_partitioned(plan, state.task_ctx()).await?;
                Ok(Arc::new(MemTable::try_new(Arc::clone(&self.schema), partitions)?))
            })
            .await
    }
}

#[async_trait]
impl TableProvider for CachedView {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Unsupported; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.result(state).await?.scan(state, projection, filters, limit).await
    }
}
