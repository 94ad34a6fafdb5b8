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
//! query needs (measured: the 13-week trend took 10 s cached, 5.5 s not). At a single
//! date, where several report statements read it, it can be kept (`Lifetime::SingleDate`).
//! Results stay in memory while they hold, outside the `--memory-limit` pool, like the
//! export tables.

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
    /// Depends on the as-of dates only through the earliest, and its rows serve any later
    /// date too (the views that read it keep the rows of their date): computed again when
    /// the dates change, like `AsOfDates`, so what a query reads is always that of the
    /// dates set; but a sibling catalog whose dates all fall on or after that earliest date
    /// (the projection's, `at_other_dates`) shares it rather than computing it again.
    FromEarliestDate,
    /// A wide dated view kept only while the catalog holds a single as-of date, where its
    /// rows are few (one per active case) and several statements read it. Over several
    /// dates it is recomputed per query, as an uncached view is (see above).
    SingleDate,
}

impl Lifetime {
    /// Whether a view of this lifetime is kept at `dates` as-of dates.
    pub fn kept_at(self, dates: usize) -> bool {
        self != Lifetime::SingleDate || dates == 1
    }
}

/// The views whose result is kept: each is read by several other views or statements.
pub const CACHED_VIEWS: &[(&str, Lifetime)] = &[
    ("measure_rules", Lifetime::Export),
    ("case_first_plans", Lifetime::Export),
    ("investigation_deadlines", Lifetime::Export),
    // Deadlines by rules functions (working days, Copenhagen dates): computed once.
    ("decision_deadlines", Lifetime::Export),
    ("notification_deadlines", Lifetime::Export),
    // The periods of the measures not ended before the earliest date (the projection's
    // later dates share the catalog's).
    ("follow_up_periods", Lifetime::FromEarliestDate),
    ("validation_findings", Lifetime::AsOfDates),
    // The postings summed per key and month (17M rows at scale 100, a few hundred thousand
    // sums), and the budget month by month that both budget views and the KPI read.
    ("posting_months", Lifetime::Export),
    ("budget_periods", Lifetime::AsOfDates),
    // The finance lists: each unit's report lists their rows and finance_reconciliation
    // counts them, so the postings are searched once for both rather than twice.
    ("finance_paid_without_measure", Lifetime::AsOfDates),
    ("finance_registered_not_paid", Lifetime::AsOfDates),
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
    /// The schema of the rows held; a dictionary column (an id given `by_key`) is shown
    /// as its values' type and decoded when scanned (`dictionary_columns`).
    held: SchemaRef,
    shown: SchemaRef,
    compute: C,
    result: tokio::sync::OnceCell<Arc<MemTable>>,
}

impl<C: ComputeOnce> Memoized<C> {
    pub fn new(held: SchemaRef, compute: C) -> Memoized<C> {
        let shown = crate::dictionary_columns::shown(&held);
        Memoized { held, shown, compute, result: tokio::sync::OnceCell::new() }
    }

    async fn result(&self, state: &dyn Session) -> Result<&Arc<MemTable>> {
        self.result
            .get_or_try_init(|| async {
                let partitions = self.compute.compute(state).await?;
                // The executed plan may mark a column nullable where the view's own schema
                // knows it is not (a coalesce, a comparison of non-null columns): the batches
                // take the view's schema, which checks that such a column holds no null.
                let partitions = partitions
                    .into_iter()
                    .map(|batches| batches.into_iter().map(|b| self.with_own_schema(b)).collect::<Result<Vec<_>>>())
                    .collect::<Result<Vec<_>>>()?;
                Ok(Arc::new(MemTable::try_new(Arc::clone(&self.held), partitions)?))
            })
            .await
    }

    fn with_own_schema(&self, batch: RecordBatch) -> Result<RecordBatch> {
        if batch.schema() == self.held {
            return Ok(batch);
        }
        Ok(RecordBatch::try_new(Arc::clone(&self.held), batch.columns().to_vec())?)
    }
}

#[async_trait]
impl<C: ComputeOnce + 'static> TableProvider for Memoized<C> {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.shown)
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
        crate::dictionary_columns::decoded(self.result(state).await?.scan(state, projection, filters, limit).await?)
    }
}

/// A view of `queries/views` (its name and plan) whose plan is run in the catalog's own session.
#[derive(Debug)]
pub struct ViewPlan {
    name: String,
    plan: LogicalPlan,
}

#[async_trait]
impl ComputeOnce for ViewPlan {
    async fn compute(&self, state: &dyn Session) -> Result<Vec<Vec<RecordBatch>>> {
        let started = std::time::Instant::now();
        let plan = state.create_physical_plan(&self.plan).await?;
        // Partitions as computed, so later scans run on every core.
        let partitions = collect_partitioned(plan, state.task_ctx()).await?;
        // What each cached view costs, for profiling a command: wall time, and views that a
        // statement reads side by side are computed at the same time, sharing the cores.
        tracing::debug!(
            view = self.name.as_str(),
            rows = partitions.iter().flatten().map(RecordBatch::num_rows).sum::<usize>(),
            seconds = started.elapsed().as_secs_f64(),
            "cached view computed"
        );
        Ok(partitions)
    }
}

pub type CachedView = Memoized<ViewPlan>;

impl CachedView {
    /// Whether the view's plan reads `table`, directly or through the plain views it
    /// names (a cached view it names is a table of its own).
    pub fn reads(&self, table: &str) -> bool {
        plan_reads(&self.compute.plan, table)
    }

    /// Computes the result now if it is not kept yet.
    pub async fn materialize(&self, state: &dyn Session) -> Result<()> {
        self.result(state).await.map(|_| ())
    }
}

/// Whether `plan` reads `table`, directly or through the plain views it names; a cached
/// view it names counts as a table of its own.
pub fn plan_reads(plan: &LogicalPlan, table: &str) -> bool {
    plan_reads_through(plan, table, &|_| false)
}

/// As `plan_reads`, and also through the cached views it names for which `recomputed` holds
/// (views whose result a later change of dates computes again, from the tables as they are
/// then).
pub fn plan_reads_through(plan: &LogicalPlan, table: &str, recomputed: &dyn Fn(&str) -> bool) -> bool {
    use datafusion::common::tree_node::TreeNodeRecursion;
    let mut found = false;
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let name = scan.table_name.table();
            found = name == table
                || scan.source.get_logical_plan().is_some_and(|inner| plan_reads_through(&inner, table, recomputed))
                || (recomputed(name)
                    && datafusion::datasource::source_as_provider(&scan.source).is_ok_and(|provider| {
                        provider
                            .downcast_ref::<CachedView>()
                            .is_some_and(|cached| plan_reads_through(&cached.compute.plan, table, recomputed))
                    }));
        }
        Ok(if found { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
    });
    found
}

/// The cached view `name` of `plan`.
pub fn cached_view(name: &str, plan: LogicalPlan) -> CachedView {
    let schema = Arc::clone(plan.schema().inner());
    Memoized::new(schema, ViewPlan { name: name.to_string(), plan })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::prelude::SessionContext;

    #[test]
    fn a_single_date_view_is_kept_at_one_date_only() {
        assert!(Lifetime::SingleDate.kept_at(1));
        assert!(!Lifetime::SingleDate.kept_at(13));
        for lifetime in [Lifetime::Export, Lifetime::AsOfDates] {
            assert!(lifetime.kept_at(1) && lifetime.kept_at(13));
        }
    }

    /// Batches as a plan computed them: the column marked nullable.
    #[derive(Debug)]
    struct Computed(Vec<Option<i64>>);

    #[async_trait]
    impl ComputeOnce for Computed {
        async fn compute(&self, _state: &dyn Session) -> Result<Vec<Vec<RecordBatch>>> {
            let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, true)]));
            let column = Arc::new(Int64Array::from(self.0.clone()));
            Ok(vec![vec![RecordBatch::try_new(schema, vec![column])?]])
        }
    }

    fn view_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]))
    }

    #[tokio::test]
    async fn computed_batches_take_the_views_own_schema() {
        let state = SessionContext::new().state();
        let view = Memoized::new(view_schema(), Computed(vec![Some(1), Some(2)]));
        let table = view.result(&state).await.unwrap();
        let plan = table.scan(&state, None, &[], None).await.unwrap();
        let batches = datafusion::physical_plan::collect(plan, state.task_ctx()).await.unwrap();
        assert_eq!(batches[0].schema(), view_schema());
        assert_eq!(
            batches[0].column(0).as_ref(),
            &Int64Array::from(vec![1, 2]) as &dyn datafusion::arrow::array::Array
        );
    }

    #[tokio::test]
    async fn a_null_where_the_view_has_none_is_an_error() {
        let state = SessionContext::new().state();
        let view = Memoized::new(view_schema(), Computed(vec![Some(1), None]));
        let err = view.result(&state).await.unwrap_err().to_string();
        assert!(err.contains("non-nullable") && err.contains("'n'"), "{err}");
    }
}
