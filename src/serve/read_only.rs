//! Read-only by construction: a connection's session can change nothing, whatever statement
//! reaches the engine. The guard refuses writes before they are planned; this is what holds
//! when a statement gets past it:
//! - every table and view is wrapped so that `INSERT`, `DELETE`, `UPDATE` and `TRUNCATE`
//!   fail on the table itself;
//! - schemas, catalogs and the catalog list are sealed after set-up: no table, view,
//!   schema or database can be added or dropped (`CREATE …`, `SELECT … INTO`, `DROP …`);
//! - the session has no object store at all, so nothing can be read from or written to a
//!   file (`COPY … TO`, `CREATE EXTERNAL TABLE`, a file name as a table).

use std::any::Any;
use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{CatalogProvider, CatalogProviderList, SchemaProvider, Session, TableProvider};
use datafusion::common::{Constraints, DataFusionError, Result, Statistics};
use datafusion::datasource::TableType;
use datafusion::execution::object_store::ObjectStoreRegistry;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown};
use datafusion::object_store::ObjectStore;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use url::Url;

fn refused(what: &str) -> DataFusionError {
    DataFusionError::Plan(format!("cannot {what}: cwkpi serves read-only views"))
}

/// A table or view that can be read and nothing else.
#[derive(Debug)]
pub struct ReadOnlyTable {
    name: String,
    inner: Arc<dyn TableProvider>,
}

impl ReadOnlyTable {
    /// `table` wrapped, unless it is wrapped already (so a table keeps one identity).
    pub fn wrap(name: &str, table: Arc<dyn TableProvider>) -> Arc<dyn TableProvider> {
        let any: &dyn Any = table.as_ref();
        if any.is::<ReadOnlyTable>() {
            return table;
        }
        Arc::new(ReadOnlyTable { name: name.to_string(), inner: table })
    }
}

#[async_trait]
impl TableProvider for ReadOnlyTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn constraints(&self) -> Option<&Constraints> {
        self.inner.constraints()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn get_table_definition(&self) -> Option<&str> {
        self.inner.get_table_definition()
    }

    fn get_logical_plan(&'_ self) -> Option<Cow<'_, LogicalPlan>> {
        self.inner.get_logical_plan()
    }

    fn get_column_default(&self, column: &str) -> Option<&Expr> {
        self.inner.get_column_default(column)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.inner.scan(state, projection, filters, limit).await
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    fn statistics(&self) -> Option<Statistics> {
        self.inner.statistics()
    }

    async fn insert_into(
        &self,
        _: &dyn Session,
        _: Arc<dyn ExecutionPlan>,
        _: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Err(refused(&format!("insert into {}", self.name)))
    }

    async fn delete_from(&self, _: &dyn Session, _: Vec<Expr>) -> Result<Arc<dyn ExecutionPlan>> {
        Err(refused(&format!("delete from {}", self.name)))
    }

    async fn update(&self, _: &dyn Session, _: Vec<(String, Expr)>, _: Vec<Expr>) -> Result<Arc<dyn ExecutionPlan>> {
        Err(refused(&format!("update {}", self.name)))
    }

    async fn truncate(&self, _: &dyn Session) -> Result<Arc<dyn ExecutionPlan>> {
        Err(refused(&format!("truncate {}", self.name)))
    }
}

/// A schema whose tables are read-only and whose list of tables is fixed.
#[derive(Debug)]
struct SealedSchema(Arc<dyn SchemaProvider>);

#[async_trait]
impl SchemaProvider for SealedSchema {
    fn owner_name(&self) -> Option<&str> {
        self.0.owner_name()
    }

    fn table_names(&self) -> Vec<String> {
        self.0.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        Ok(self.0.table(name).await?.map(|t| ReadOnlyTable::wrap(name, t)))
    }

    fn register_table(&self, name: String, _: Arc<dyn TableProvider>) -> Result<Option<Arc<dyn TableProvider>>> {
        Err(refused(&format!("create {name}")))
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        Err(refused(&format!("drop {name}")))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.0.table_exist(name)
    }
}

/// A catalog of sealed schemas, to which no schema can be added.
#[derive(Debug)]
struct SealedCatalog(Arc<dyn CatalogProvider>);

impl CatalogProvider for SealedCatalog {
    fn schema_names(&self) -> Vec<String> {
        self.0.schema_names()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        self.0.schema(name).map(|s| Arc::new(SealedSchema(s)) as Arc<dyn SchemaProvider>)
    }

    fn register_schema(&self, name: &str, _: Arc<dyn SchemaProvider>) -> Result<Option<Arc<dyn SchemaProvider>>> {
        Err(refused(&format!("create schema {name}")))
    }

    fn deregister_schema(&self, name: &str, _: bool) -> Result<Option<Arc<dyn SchemaProvider>>> {
        Err(refused(&format!("drop schema {name}")))
    }
}

/// The list of sealed catalogs, to which no catalog can be added.
#[derive(Debug)]
struct SealedCatalogList(Arc<dyn CatalogProviderList>);

impl CatalogProviderList for SealedCatalogList {
    fn register_catalog(&self, name: String, _: Arc<dyn CatalogProvider>) -> Option<Arc<dyn CatalogProvider>> {
        // The trait allows no error here; the catalog is simply not added.
        tracing::warn!(catalog = %name, "refused to add a catalog to a read-only session");
        None
    }

    fn catalog_names(&self) -> Vec<String> {
        self.0.catalog_names()
    }

    fn catalog(&self, name: &str) -> Option<Arc<dyn CatalogProvider>> {
        self.0.catalog(name).map(|c| Arc::new(SealedCatalog(c)) as Arc<dyn CatalogProvider>)
    }
}

/// The session `ctx` after set-up, sealed: same settings, runtime, functions and tables,
/// and plans whose joins would make too many rows refused (`join_limit`).
pub fn seal(ctx: &SessionContext) -> SessionContext {
    let state = ctx.state();
    let list: Arc<dyn CatalogProviderList> = Arc::new(SealedCatalogList(Arc::clone(state.catalog_list())));
    let sealed = datafusion::execution::SessionStateBuilder::new_from_existing(state)
        .with_catalog_list(list)
        .with_physical_optimizer_rule(Arc::new(super::join_limit::JoinLimit))
        .build();
    SessionContext::new_with_state(sealed)
}

/// An object store registry without stores: the served tables are in memory, and a
/// statement may open no file.
#[derive(Debug)]
pub struct NoFiles;

impl ObjectStoreRegistry for NoFiles {
    fn register_store(&self, url: &Url, _: Arc<dyn ObjectStore>) -> Option<Arc<dyn ObjectStore>> {
        tracing::warn!(%url, "refused to register an object store in a read-only session");
        None
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        Err(DataFusionError::Plan(format!("cannot read or write {url}: cwkpi serves no files")))
    }
}
