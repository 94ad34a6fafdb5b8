//! Views computed at other dates than the catalog's own: the projection (each §4 KPI one
//! to four weeks ahead) and the recovery milestones (the recovery count at each
//! milestone's date). Every view of `queries/views` is computed for the dates in
//! `as_of_dates`; these need the same views at further dates, which must not leak into
//! `kpi` or cost anything unless asked for. So a view of `queries/views_at_other_dates/`
//! is answered by a sibling catalog over the same tables whose `as_of_dates` are the
//! other dates, when it is first read, and then kept like a cached view (`Memoized`).
//!
//! `other_dates(view_name, as_of, at_date)` says, for each view, which date each of the
//! catalog's as-of dates is to be computed at.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::error::{DataFusionError, Result};

use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::SessionContext;

use crate::cached_view::{ComputeOnce, Memoized};
use crate::rules::Rules;

/// What a sibling catalog is built from: the catalog hands in its own tables and
/// settings (`CatalogParts`), so this module needs nothing of the catalog.
#[async_trait]
pub trait SiblingSource: Send + Sync {
    /// A session over the same tables with `dates` as its as-of dates, within `runtime`
    /// (the memory of the query that reads the view).
    async fn session_at(&self, dates: &[NaiveDate], runtime: Arc<RuntimeEnv>) -> crate::error::Result<SessionContext>;
}

/// The (as-of date, date to compute at) pairs of a view.
pub fn other_dates(view: &str, as_of: &[NaiveDate], rules: &Rules) -> Vec<(NaiveDate, NaiveDate)> {
    match view {
        "kpi_projection" => {
            as_of.iter().flat_map(|&t| (1..=4).map(move |w| (t, t + chrono::Duration::days(7 * w)))).collect()
        }
        "recovery_milestones" => {
            as_of.iter().flat_map(|&t| rules.recovery_milestones.iter().map(move |m| (t, m.on))).collect()
        }
        _ => Vec::new(),
    }
}

/// What a view at other dates computes when first read: its statement in a sibling catalog.
pub struct SiblingQuery {
    name: String,
    sql: &'static str,
    source: Arc<dyn SiblingSource>,
    /// The parent's `other_dates`: the view reads it beside the sibling's views.
    mapping: (String, Arc<dyn TableProvider>),
    /// The sibling catalog's as-of dates.
    at_dates: Vec<NaiveDate>,
}

impl std::fmt::Debug for SiblingQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiblingQuery").field("name", &self.name).field("at_dates", &self.at_dates).finish()
    }
}

pub type AtOtherDates = Memoized<SiblingQuery>;

/// The view `name` (statement `sql`, columns `schema`), computed at `at_dates` when first read.
pub fn at_other_dates(
    name: &str,
    sql: &'static str,
    schema: SchemaRef,
    source: Arc<dyn SiblingSource>,
    mapping: (String, Arc<dyn TableProvider>),
    at_dates: Vec<NaiveDate>,
) -> AtOtherDates {
    Memoized::new(schema, SiblingQuery { name: name.to_string(), sql, source, mapping, at_dates })
}

#[async_trait]
impl ComputeOnce for SiblingQuery {
    async fn compute(&self, state: &dyn Session) -> Result<Vec<Vec<RecordBatch>>> {
        if self.at_dates.is_empty() {
            return Ok(vec![vec![]]);
        }
        // Computed within the memory of the query that first reads the view.
        let sibling = self
            .source
            .session_at(&self.at_dates, Arc::clone(state.runtime_env()))
            .await
            .map_err(|e| DataFusionError::Execution(format!("{} at other dates: {e}", self.name)))?;
        sibling.deregister_table(self.mapping.0.as_str())?;
        sibling.register_table(self.mapping.0.as_str(), Arc::clone(&self.mapping.1))?;
        Ok(vec![sibling.sql(self.sql).await?.collect().await?])
    }
}
