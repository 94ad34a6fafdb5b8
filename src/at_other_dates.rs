//! Views computed at other dates than the catalog's own: the projection (each §4 KPI one
//! to four weeks ahead) and the recovery milestones (the recovery count at each
//! milestone's date). Every view of `queries/views` is computed for the dates in
//! `as_of_dates`; these need the same views at further dates, which must not leak into
//! `kpi` or cost anything unless asked for. So a view of `queries/views_at_other_dates/`
//! is answered by a sibling catalog over the same tables whose `as_of_dates` are the
//! other dates, when it is first read, and then kept like a cached view.
//!
//! `other_dates(view_name, as_of, at_date)` says, for each view, which date each of the
//! catalog's as-of dates is to be computed at.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;

use crate::catalog::{Catalog, CatalogParts};
use crate::rules::Rules;

/// The (as-of date, date to compute at) pairs of a view.
pub fn other_dates(view: &str, as_of: &[NaiveDate], rules: &Rules) -> Vec<(NaiveDate, NaiveDate)> {
    match view {
        "kpi_projection" => as_of.iter().flat_map(|&t| (1..=4).map(move |w| (t, t + chrono::Duration::days(7 * w)))).collect(),
        "recovery_milestones" => as_of.iter().flat_map(|&t| rules.recovery_milestones.iter().map(move |m| (t, m.on))).collect(),
        _ => Vec::new(),
    }
}

pub struct AtOtherDates {
    name: String,
    sql: &'static str,
    schema: SchemaRef,
    parts: Arc<CatalogParts>,
    /// The parent's `other_dates`: the view reads it beside the sibling's views.
    mapping: (String, Arc<dyn TableProvider>),
    /// The sibling catalog's as-of dates.
    at_dates: Vec<NaiveDate>,
    result: tokio::sync::OnceCell<Arc<MemTable>>,
}

impl std::fmt::Debug for AtOtherDates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtOtherDates").field("name", &self.name).field("at_dates", &self.at_dates).finish()
    }
}

impl AtOtherDates {
    pub fn new(
        name: &str,
        sql: &'static str,
        schema: SchemaRef,
        parts: Arc<CatalogParts>,
        mapping: (String, Arc<dyn TableProvider>),
        at_dates: Vec<NaiveDate>,
    ) -> AtOtherDates {
        AtOtherDates { name: name.to_string(), sql, schema, parts, mapping, at_dates, result: tokio::sync::OnceCell::new() }
    }

    async fn result(&self) -> Result<&Arc<MemTable>> {
        self.result
            .get_or_try_init(|| async {
                if self.at_dates.is_empty() {
                    return Ok(Arc::new(MemTable::try_new(Arc::clone(&self.schema), vec![vec![]])?));
                }
                let sibling = Catalog::from_parts(Arc::clone(&self.parts), &self.at_dates)
                    .await
                    .map_err(|e| DataFusionError::Execution(format!("{} at other dates: {e}", self.name)))?;
                sibling.ctx.deregister_table(self.mapping.0.as_str())?;
                sibling.ctx.register_table(self.mapping.0.as_str(), Arc::clone(&self.mapping.1))?;
                let batches = sibling.ctx.sql(self.sql).await?.collect().await?;
                Ok(Arc::new(MemTable::try_new(Arc::clone(&self.schema), vec![batches])?))
            })
            .await
    }
}

#[async_trait]
impl TableProvider for AtOtherDates {
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
        self.result().await?.scan(state, projection, filters, limit).await
    }
}
