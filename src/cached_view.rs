//! A view whose result is computed once, at its first use, and then read from memory:
//! once per catalog for views that do not depend on the as-of dates, once per set of
//! as-of dates for the others.
//!
//! DataFusion inlines a view's plan wherever the view is named, so a base view that
//! several others build on (e.g. `measure_rules`, read by the active measures, the
//! plan KPIs and the follow-up view) is recomputed at each use, within one query and in
//! every query of a command. Computing such views once is much cheaper when they hold at
//! most one row per export row. A wide dated view such as `case_compliance` is not cached:
//! materialising all its columns for 13 dates cost more than recomputing the columns a
//! query needs (measured: the 13-week trend took 10 s cached, 5.5 s not). Results stay in
//! memory while they hold, outside the `--memory-limit` pool, like the export tables.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::{ExecutionPlan, collect_partitioned};

/// How long a cached view's result holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// Does not depend on the as-of dates: computed once per catalog.
    Export,
    /// Depends on the as-of dates: computed again when they change.
    AsOfDates,
}

/// The views whose result is kept: each is read by several other views or statements.
pub const CACHED_VIEWS: &[(&str, Lifetime)] = &[
    ("measure_rules", Lifetime::Export),
    ("case_first_plans", Lifetime::Export),
    ("investigation_deadlines", Lifetime::Export),
    // Deadlines by rules functions (working days, Copenhagen dates): computed once.
    ("decision_deadlines", Lifetime::Export),
    ("notification_deadlines", Lifetime::Export),
    ("follow_up_periods", Lifetime::AsOfDates),
    ("validation_findings", Lifetime::AsOfDates),
    // The postings summed per key and month (17M rows at scale 100, a few hundred thousand
    // sums), and the budget month by month that both budget views and the KPI read.
    ("posting_months", Lifetime::Export),
    ("budget_periods", Lifetime::AsOfDates),
];

pub fn cached_lifetime(view: &str) -> Option<Lifetime> {
    CACHED_VIEWS.iter().find(|(name, _)| *name == view).map(|(_, lifetime)| *lifetime)
}

/// Computes a memoized table's partitions, once, when it is first scanned.
#[async_trait]
pub trait ComputeOnce: std::fmt::Debug + Send + Sync {
    async fn compute(&self, state: &dyn Session) -> Result<Vec<Vec<RecordBatch>>>;
}

/// A table computed at its first scan and then read from memory: the shell of the cached
/// views here and of the views computed at other dates (`at_other_dates`).
#[derive(Debug)]
pub struct Memoized<C: ComputeOnce> {
    schema: SchemaRef,
    compute: C,
    result: tokio::sync::OnceCell<Arc<MemTable>>,
}

impl<C: ComputeOnce> Memoized<C> {
    pub fn new(schema: SchemaRef, compute: C) -> Memoized<C> {
        Memoized { schema, compute, result: tokio::sync::OnceCell::new() }
    }

    async fn result(&self, state: &dyn Session) -> Result<&Arc<MemTable>> {
        self.result
            .get_or_try_init(|| async {
                Ok(Arc::new(MemTable::try_new(Arc::clone(&self.schema), self.compute.compute(state).await?)?))
            })
            .await
    }
}

#[async_trait]
impl<C: ComputeOnce + 'static> TableProvider for Memoized<C> {
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

/// A view of `queries/views` whose plan is run in the catalog's own session.
#[derive(Debug)]
pub struct ViewPlan(LogicalPlan);

#[async_trait]
impl ComputeOnce for ViewPlan {
    async fn compute(&self, state: &dyn Session) -> Result<Vec<Vec<RecordBatch>>> {
        let plan = state.create_physical_plan(&self.0).await?;
        // Partitions as computed, so later scans run on every core.
        collect_partitioned(plan, state.task_ctx()).await
    }
}

pub type CachedView = Memoized<ViewPlan>;

/// A cached view of `plan`.
pub fn cached_view(plan: LogicalPlan) -> CachedView {
    let schema = Arc::clone(plan.schema().inner());
    Memoized::new(schema, ViewPlan(plan))
}
