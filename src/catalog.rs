//! Builds the SessionContext every command works on: checked export tables, the rules
//! as small tables, the unit tree, the as-of dates, and the views of `queries/views`.
//!
//! Data flows one way: export files → checked tables → rule/tree tables → views.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, DictionaryArray, Float64Array, Int32Array, Int64Array,
    IntervalMonthDayNanoArray, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Int32Type, IntervalMonthDayNano, IntervalUnit, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

pub use crate::cached_view::Lifetime;
use crate::cached_view::{cached_lifetime, cached_view};
use crate::checks::{CheckedTable, Rejection, check_all};
use crate::contract::{TABLES, TableSpec};
use crate::error::{Error, Result};
use crate::export::{RawTable, read_table};
use crate::queries::{ViewSql, views};
use crate::releasable::Releasable;
use crate::rules::{PlanDue, Rules, Span};
use crate::snapshot::Snapshot;

/// An export read and checked: what every figure is computed from.
#[derive(Debug, Clone)]
pub struct CheckedExport {
    pub tables: Vec<CheckedTable>,
}

impl CheckedExport {
    /// Reads every table of the contract (in parallel) and checks their rows.
    pub fn load(dir: &Path) -> Result<CheckedExport> {
        CheckedExport::load_except(dir, &[])
    }

    /// As `load`, leaving the further tables named in `skip` unread (kept empty, their
    /// presence still noted): for a command that reads none of their rows. Only tables no
    /// other table refers to may be skipped, so the checks of the rest are unchanged.
    pub fn load_except(dir: &Path, skip: &[&str]) -> Result<CheckedExport> {
        CheckedExport::load_with(dir, skip, None)
    }

    /// As `load_except`, with `open_end_sentinel` (the rules' `[export]
    /// open_end_sentinel`) read as null in end-date columns before the checks.
    pub fn load_with(dir: &Path, skip: &[&str], open_end_sentinel: Option<NaiveDate>) -> Result<CheckedExport> {
        Ok(CheckedExport::load_snapshot(dir, skip, open_end_sentinel)?.0)
    }

    /// As `load_with`, with the files as they stood while read: a file that changed
    /// during the read is read again once, and a second change stops with the file named
    /// (see `snapshot::read_unchanged`), so no figure mixes two exports.
    pub fn load_snapshot(
        dir: &Path,
        skip: &[&str],
        open_end_sentinel: Option<NaiveDate>,
    ) -> Result<(CheckedExport, Snapshot)> {
        if !dir.is_dir() {
            return Err(Error::Usage(format!("export folder {} does not exist", dir.display())));
        }
        crate::snapshot::read_unchanged(dir, || CheckedExport::read_and_check(dir, skip, open_end_sentinel))
    }

    fn read_and_check(dir: &Path, skip: &[&str], open_end_sentinel: Option<NaiveDate>) -> Result<CheckedExport> {
        let started = std::time::Instant::now();
        // The largest tables first, one per core (a large file is decoded on every core
        // besides): each table's decoding holds a copy of a column or two on top of what
        // is read, which added up when every table was read at once.
        let sizes: Vec<u64> = TABLES.iter().map(|spec| crate::export::file_bytes(dir, spec)).collect();
        let raw: Vec<Result<RawTable>> = crate::cores::largest_first(&sizes, "reader", |t| {
            let spec = &TABLES[t];
            if skippable(spec, skip) { crate::export::skip_table(dir, spec) } else { read_table(dir, spec) }
        })?;
        let raw =
            raw.into_iter().map(|t| t.and_then(|t| t.with_open_ends(open_end_sentinel))).collect::<Result<Vec<_>>>()?;
        let read = started.elapsed().as_secs_f64();
        let keyed: Vec<&str> = ROW_KEYS.iter().map(|(table, _, _)| *table).collect();
        let tables = check_all(&raw, &keyed)?;
        let export = CheckedExport { tables };
        tracing::debug!(
            read_seconds = read,
            check_seconds = started.elapsed().as_secs_f64() - read,
            bytes = export.memory_size(),
            "export loaded"
        );
        Ok(export)
    }

    /// About the bytes `load_with(dir, skip, …)` would hold, from the files' footers.
    pub fn estimated_memory(dir: &Path, skip: &[&str]) -> usize {
        TABLES.iter().filter(|spec| !skippable(spec, skip)).map(|spec| crate::export::estimated_memory(dir, spec)).sum()
    }

    /// The bytes the checked tables hold in memory.
    pub fn memory_size(&self) -> usize {
        self.tables
            .iter()
            .map(|t| {
                t.kept.get_array_memory_size()
                    + t.parent_rows.iter().map(|p| p.rows.get_array_memory_size()).sum::<usize>()
            })
            .sum()
    }

    pub fn table(&self, name: &str) -> Option<&CheckedTable> {
        self.tables.iter().find(|t| t.spec.name == name)
    }

    pub fn rejections(&self) -> impl Iterator<Item = &Rejection> {
        self.tables.iter().flat_map(|t| t.rejected.iter())
    }
}

/// A table named in `skip` stays unread when no check needs its rows: a further table
/// no other table refers to.
fn skippable(spec: &TableSpec, skip: &[&str]) -> bool {
    skip.contains(&spec.name)
        && !spec.core
        && !TABLES.iter().any(|t| t.references.iter().any(|r| r.parent == spec.name))
}

/// The name of the catalog the tables and views sit in (the SQL endpoint's database),
/// and of their schema.
pub const DATABASE: &str = "cwkpi";
pub const SCHEMA: &str = "public";

/// Engine settings shared by all commands.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Memory limit in bytes for query execution; beyond it operators spill to disk.
    pub memory_limit: Option<usize>,
    pub spill_dir: Option<std::path::PathBuf>,
    /// Views to keep computed besides `CACHED_VIEWS`: a server answering many small
    /// queries on the same dates keeps `kpi` rather than recomputing it per query.
    pub cached_views: Vec<(String, Lifetime)>,
}

pub struct Catalog {
    pub ctx: SessionContext,
    pub rules: Rules,
    pub as_of: Vec<NaiveDate>,
    /// What a sibling catalog at other dates is built from (see `at_other_dates`).
    parts: Arc<CatalogParts>,
    /// A sibling computes the views of `queries/views_at_other_dates` for its parent only.
    is_sibling: bool,
    /// Views shared by the catalog this one was made from, each while every date is on or
    /// after the date it holds from (`Lifetime::FromEarliestDate`).
    shared_from: Vec<(String, NaiveDate)>,
}

/// A cached view a catalog hands to a catalog at other dates: for any dates (`from` None:
/// the views of the whole export) or while every date is on or after `from`.
#[derive(Clone)]
struct SharedView {
    name: String,
    provider: Arc<dyn TableProvider>,
    from: Option<NaiveDate>,
}

impl SharedView {
    fn holds_at(&self, dates: &[NaiveDate]) -> bool {
        self.from.is_none_or(|from| dates.iter().all(|d| *d >= from))
    }
}

/// A catalog without its dates: the session's settings and memory pool, the registered
/// tables (export, rules, tree) and the rules. Tables are shared, not copied.
pub struct CatalogParts {
    config: SessionConfig,
    runtime: Arc<datafusion::execution::runtime_env::RuntimeEnv>,
    tables: Vec<(String, Arc<dyn TableProvider>)>,
    rules: Rules,
    /// `by_key` over the keyed tables, with which the cached views give their ids.
    by_key: datafusion::logical_expr::ScalarUDF,
    cached_views: Vec<(String, Lifetime)>,
}

/// Sibling catalogs at other dates, built from a catalog's parts (see `at_other_dates`),
/// with the cached views that hold at their dates, shared rather than recomputed.
struct Siblings {
    parts: Arc<CatalogParts>,
    shared: Vec<SharedView>,
}

#[async_trait::async_trait]
impl crate::at_other_dates::SiblingSource for Siblings {
    async fn session_at(
        &self,
        dates: &[NaiveDate],
        runtime: Arc<datafusion::execution::runtime_env::RuntimeEnv>,
    ) -> Result<SessionContext> {
        Ok(Catalog::over_parts(Arc::clone(&self.parts), self.shared.clone(), true, dates, runtime).await?.ctx)
    }
}

impl CatalogParts {
    fn lifetime(&self, view: &str) -> Option<Lifetime> {
        cached_lifetime(view)
            .or_else(|| self.cached_views.iter().find(|(name, _)| name == view).map(|(_, lifetime)| *lifetime))
    }
}

impl Catalog {
    pub async fn new(
        export: &CheckedExport,
        rules: Rules,
        as_of: &[NaiveDate],
        options: &EngineOptions,
    ) -> Result<Catalog> {
        let ctx = session(options)?;
        let keyed = with_row_keys(export)?;
        let by_key = crate::by_key::function(
            export
                .tables
                .iter()
                .zip(&keyed)
                .filter(|(table, _)| ROW_KEYS.iter().any(|(keyed_table, _, _)| *keyed_table == table.spec.name))
                .map(|(table, batch)| (table.spec.name.to_string(), batch.clone()))
                .collect(),
        );
        let mut tables = Vec::new();
        for (table, batch) in export.tables.iter().zip(keyed) {
            tables.push(register(&ctx, table.spec.name, batch)?);
        }
        tables.push(register(&ctx, "unit_tree", unit_tree(export)?)?);
        tables.push(register(&ctx, "paragraph_rules", paragraph_rules(export, &rules)?)?);
        tables.push(register(&ctx, "case_deadline_rules", case_deadline_rules(export, &rules)?)?);
        tables.push(register(&ctx, "rule_params", rule_params(&rules)?)?);
        tables.push(register(&ctx, "recovery_milestone_rules", recovery_milestone_rules(&rules)?)?);
        tables.push(register(&ctx, "closed_days", closed_days(&rules)?)?);
        tables.push(register(&ctx, "export_tables", export_tables(export)?)?);
        tables.push(register(&ctx, "kpi_definitions", kpi_definitions(&rules)?)?);
        tables.push(register(&ctx, "rejected_rows", rejected_rows(export)?)?);
        let parts = Arc::new(CatalogParts {
            config: ctx.copied_config(),
            runtime: ctx.runtime_env(),
            tables,
            rules: rules.clone(),
            by_key,
            cached_views: options.cached_views.clone(),
        });
        register_functions(&ctx, &parts);
        let mut catalog = Catalog { ctx, rules, as_of: Vec::new(), parts, is_sibling: false, shared_from: Vec::new() };
        catalog.set_as_of(as_of).await?;
        Ok(catalog)
    }

    /// A catalog over the same tables as this one, as of other dates. The tables and the
    /// cached views that do not depend on the dates are shared, not recomputed.
    pub async fn at_dates(&self, dates: &[NaiveDate]) -> Result<Catalog> {
        let kept = self.shared_views(None).await;
        Catalog::over_parts(Arc::clone(&self.parts), kept, self.is_sibling, dates, Arc::clone(&self.parts.runtime))
            .await
    }

    /// The cached views that do not depend on the dates, as this catalog holds them; with
    /// `earliest` (this catalog's earliest date) also those that hold from it on
    /// (`Lifetime::FromEarliestDate`), for a sibling whose own views no query reads.
    async fn shared_views(&self, earliest: Option<NaiveDate>) -> Vec<SharedView> {
        let mut kept = Vec::new();
        for view in all_views() {
            let from = match self.parts.lifetime(&view.name) {
                Some(Lifetime::Export) => None,
                Some(Lifetime::FromEarliestDate) if earliest.is_some() => earliest,
                _ => continue,
            };
            if let Ok(provider) = self.ctx.table_provider(view.name.as_str()).await {
                kept.push(SharedView { name: view.name, provider, from });
            }
        }
        kept
    }

    /// The siblings of this catalog at `dates` (its dates, in order: the first is the earliest).
    async fn siblings(&self, dates: &[NaiveDate]) -> Siblings {
        Siblings { parts: Arc::clone(&self.parts), shared: self.shared_views(dates.first().copied()).await }
    }

    /// A catalog of `parts`' tables and the `kept` views that hold at `dates`, as of `dates`.
    async fn over_parts(
        parts: Arc<CatalogParts>,
        kept: Vec<SharedView>,
        is_sibling: bool,
        dates: &[NaiveDate],
        runtime: Arc<datafusion::execution::runtime_env::RuntimeEnv>,
    ) -> Result<Catalog> {
        let ctx = SessionContext::new_with_config_rt(parts.config.clone(), runtime);
        let kept: Vec<SharedView> = kept.into_iter().filter(|v| v.holds_at(dates)).collect();
        for (name, table) in parts.tables.iter() {
            ctx.register_table(name.as_str(), Arc::clone(table))?;
        }
        for view in &kept {
            ctx.register_table(view.name.as_str(), Arc::clone(&view.provider))?;
        }
        register_functions(&ctx, &parts);
        let shared_from = kept.iter().filter_map(|v| v.from.map(|from| (v.name.clone(), from))).collect();
        let mut catalog =
            Catalog { ctx, rules: parts.rules.clone(), as_of: Vec::new(), parts, is_sibling, shared_from };
        catalog.set_as_of(dates).await?;
        Ok(catalog)
    }

    /// Whether the statement `queries/statements/<name>.sql` reads `table`, directly, through
    /// plain views, or through cached views computed again when the dates change. The views
    /// kept for the whole export are computed before a release (`release`) and keep their
    /// result.
    pub async fn statement_reads(&self, name: &str, table: &str) -> Result<bool> {
        let df = self.planned_statement(name).await?;
        let recomputed = |view: &str| self.parts.lifetime(view).is_some_and(|lifetime| lifetime != Lifetime::Export);
        Ok(crate::cached_view::plan_reads_through(df.logical_plan(), table, &recomputed))
    }

    /// Gives back the rows of `table` once the run has finished reading it (the report's
    /// postings, 17M rows at scale 100, once its lists have read them). The cached views
    /// kept for the whole export that read it are computed first, so what they sum outlives
    /// it. Every catalog built from the same parts loses the rows too; a later read of the
    /// table, or of a view computed from it at other dates, is an error naming it.
    pub async fn release(&self, table: &str) -> Result<()> {
        let state = self.ctx.state();
        for view in all_views() {
            if self.parts.lifetime(&view.name) != Some(Lifetime::Export) {
                continue;
            }
            let Ok(provider) = self.ctx.table_provider(view.name.as_str()).await else { continue };
            if let Some(cached) = provider.downcast_ref::<crate::cached_view::CachedView>()
                && cached.reads(table)
            {
                cached.materialize(&state).await?;
            }
        }
        let releasable = self
            .parts
            .tables
            .iter()
            .find(|(name, _)| name == table)
            .and_then(|(_, provider)| provider.downcast_ref::<Releasable>())
            .ok_or_else(|| internal(format!("no table {table} to release")))?;
        releasable.release();
        tracing::debug!(table, "table released");
        Ok(())
    }

    /// Every table and view of the catalog by name, to register in another session (the
    /// SQL endpoint's per-connection sessions share them).
    pub async fn providers(&self) -> Result<Vec<(String, Arc<dyn TableProvider>)>> {
        let schema = self
            .ctx
            .catalog(DATABASE)
            .and_then(|c| c.schema(SCHEMA))
            .ok_or_else(|| internal(format!("the catalog has no schema {DATABASE}.{SCHEMA}")))?;
        let mut providers = Vec::new();
        for name in schema.table_names() {
            if let Some(provider) = schema.table(&name).await? {
                providers.push((name, provider));
            }
        }
        Ok(providers)
    }

    /// The functions the views use (working days, spans, Copenhagen dates), to register in
    /// another session.
    pub fn functions(&self) -> Vec<datafusion::logical_expr::ScalarUDF> {
        crate::sql_functions::functions(&self.parts.rules.calendar)
    }

    /// Sets the dates every view is computed as of, and (re)creates the views: a view is
    /// bound to the tables it read when it was made. The same dates again change nothing.
    pub async fn set_as_of(&mut self, dates: &[NaiveDate]) -> Result<()> {
        let dates: BTreeSet<NaiveDate> = dates.iter().copied().collect();
        if !self.as_of.is_empty() && dates.iter().eq(self.as_of.iter()) {
            return Ok(());
        }
        let days: Date32Array = dates.iter().map(|d| Some(d.to_epoch_days())).collect();
        let schema = Arc::new(Schema::new(vec![Field::new("as_of", DataType::Date32, false)]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(days)]).map_err(internal)?;
        register(&self.ctx, "as_of_dates", batch)?;
        let dates: Vec<NaiveDate> = dates.into_iter().collect();
        // A view shared from the catalog this one was made from holds while every date is
        // on or after its date.
        self.shared_from.retain(|(_, from)| dates.iter().all(|d| d >= from));
        for view in all_views() {
            let lifetime = self.parts.lifetime(&view.name);
            // A cached view that does not depend on the dates is kept, with what it computed,
            // as is one shared from the catalog this one was made from while it holds.
            let shared = self.shared_from.iter().any(|(name, _)| *name == view.name);
            if (lifetime == Some(Lifetime::Export) || shared) && self.ctx.table_exist(view.name.as_str())? {
                continue;
            }
            let df = self
                .ctx
                .sql(view.sql)
                .await
                .map_err(|e| Error::Internal(format!("view {} ({}): {e}", view.name, view.path)))?;
            let provider: Arc<dyn TableProvider> = if lifetime.is_some_and(|l| l.kept_at(dates.len())) {
                Arc::new(cached_view(&view.name, df.into_unoptimized_plan()))
            } else {
                df.into_view()
            };
            self.ctx.deregister_table(view.name.as_str())?;
            self.ctx.register_table(view.name.as_str(), provider)?;
        }
        if !self.is_sibling {
            self.register_views_at_other_dates(&dates).await?;
        }
        self.as_of = dates;
        Ok(())
    }

    /// `other_dates` and the views of `queries/views_at_other_dates`, each answered by a
    /// sibling catalog when first read.
    async fn register_views_at_other_dates(&self, dates: &[NaiveDate]) -> Result<()> {
        let views = other_date_views();
        let pairs: Vec<(String, NaiveDate, NaiveDate)> = views
            .iter()
            .flat_map(|v| {
                crate::at_other_dates::other_dates(&v.name, dates, &self.rules)
                    .into_iter()
                    .map(|(t, at)| (v.name.clone(), t, at))
            })
            .collect();
        let mapping = batch(
            vec![
                strings("view_name", false),
                Field::new("as_of", DataType::Date32, false),
                Field::new("at_date", DataType::Date32, false),
            ],
            vec![
                Arc::new(StringArray::from_iter_values(pairs.iter().map(|(v, _, _)| v.as_str()))),
                Arc::new(Date32Array::from_iter_values(pairs.iter().map(|(_, t, _)| t.to_epoch_days()))),
                Arc::new(Date32Array::from_iter_values(pairs.iter().map(|(_, _, at)| at.to_epoch_days()))),
            ],
        )?;
        let mapping_table = register(&self.ctx, "other_dates", mapping)?;
        let siblings: Arc<dyn crate::at_other_dates::SiblingSource> = Arc::new(self.siblings(dates).await);
        for view in views {
            // Planned here only for its columns; computed by the sibling when read.
            let df = self
                .ctx
                .sql(view.sql)
                .await
                .map_err(|e| Error::Internal(format!("view {} ({}): {e}", view.name, view.path)))?;
            let schema = Arc::new(df.schema().as_arrow().clone());
            let at_dates: BTreeSet<NaiveDate> =
                pairs.iter().filter(|(v, _, _)| *v == view.name).map(|(_, _, at)| *at).collect();
            let provider = crate::at_other_dates::at_other_dates(
                &view.name,
                view.sql,
                schema,
                Arc::clone(&siblings),
                mapping_table.clone(),
                at_dates.into_iter().collect(),
            );
            self.ctx.deregister_table(view.name.as_str())?;
            self.ctx.register_table(view.name.as_str(), Arc::new(provider))?;
        }
        Ok(())
    }

    /// Runs one read-only statement (no DDL, DML or SET).
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        collect_with_columns(self.read_only(sql).await?).await
    }

    /// Plans one read-only statement (no DDL, DML or SET).
    async fn read_only(&self, sql: &str) -> Result<datafusion::dataframe::DataFrame> {
        let options = datafusion::execution::context::SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        Ok(self.ctx.sql_with_options(sql, options).await?)
    }

    /// Runs each statement of a script (separated by `;`), read-only, in order.
    pub async fn query_script(&self, sql: &str) -> Result<Vec<Vec<RecordBatch>>> {
        let statements = datafusion::sql::parser::DFParser::parse_sql(sql)?;
        let mut results = Vec::with_capacity(statements.len());
        for statement in statements {
            results.push(self.query(&statement.to_string()).await?);
        }
        Ok(results)
    }

    /// Runs a named statement of `queries/statements/`.
    pub async fn statement(&self, name: &str) -> Result<Vec<RecordBatch>> {
        collect_with_columns(self.planned_statement(name).await?).await
    }

    /// Plans a named statement of `queries/statements/`, read-only.
    async fn planned_statement(&self, name: &str) -> Result<datafusion::dataframe::DataFrame> {
        let sql = crate::queries::statement(name)
            .ok_or_else(|| internal(format!("no statement queries/statements/{name}.sql")))?;
        self.read_only(sql).await
    }

    /// The KPI table for the catalog's as-of dates, in `cwkpi kpi` order.
    pub async fn kpi_rows(&self) -> Result<Vec<crate::kpi::KpiRow>> {
        crate::kpi::rows_from_batches(&self.statement("kpi_table").await?)
    }

    /// The KPI table's rows of `kpis` only. The filter reaches the items' branches, so
    /// the engine leaves out the work of the KPIs not asked for where it can tell.
    pub async fn kpi_table_of(&self, kpis: &[&crate::kpi::KpiDefinition]) -> Result<Vec<RecordBatch>> {
        let mut df = self.planned_statement("kpi_table").await?;
        if kpis.len() < crate::kpi::DEFINITIONS.len() {
            let ids = kpis.iter().map(|d| datafusion::prelude::lit(d.id)).collect();
            df = df.filter(datafusion::prelude::col("kpi_id").in_list(ids, false))?;
        }
        collect_with_columns(df).await
    }
}

/// A result's batches; an empty result still has its columns, so outputs show a header.
async fn collect_with_columns(df: datafusion::dataframe::DataFrame) -> Result<Vec<RecordBatch>> {
    let schema = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await?;
    Ok(if batches.is_empty() { vec![RecordBatch::new_empty(schema)] } else { batches })
}

/// All views computed at the catalog's as-of dates, in load order.
pub fn all_views() -> Vec<ViewSql> {
    views("views")
}

/// The views computed at other dates (`at_other_dates`).
pub fn other_date_views() -> Vec<ViewSql> {
    views("views_at_other_dates")
}

/// The rules' functions, and `by_key` for the views (not among `functions()`, which the
/// endpoint's users get).
fn register_functions(ctx: &SessionContext, parts: &CatalogParts) {
    for function in crate::sql_functions::functions(&parts.rules.calendar) {
        ctx.register_udf(function);
    }
    ctx.register_udf(parts.by_key.clone());
}

/// The settings of every session over the catalog: DATAFUSION_* environment variables
/// tune the engine (e.g. DATAFUSION_EXECUTION_TARGET_PARTITIONS); the rest are
/// DataFusion's defaults, with `information_schema` and the tables in `cwkpi.public`.
pub fn session_config() -> Result<SessionConfig> {
    Ok(SessionConfig::from_env()
        .map_err(|e| Error::Usage(format!("a DATAFUSION_ environment variable is invalid: {e}")))?
        .with_information_schema(true)
        .with_default_catalog_and_schema(DATABASE, SCHEMA))
}

/// `weeks` dates a week apart, the last one `last`, in order: the as-of dates of a trend.
pub fn weekly_dates(last: NaiveDate, weeks: u32) -> Vec<NaiveDate> {
    (0..weeks).rev().map(|w| last - chrono::Duration::weeks(i64::from(w))).collect()
}

fn session(options: &EngineOptions) -> Result<SessionContext> {
    let config = session_config()?;
    let mut runtime = RuntimeEnvBuilder::new();
    if let Some(limit) = options.memory_limit {
        runtime = runtime.with_memory_pool(Arc::new(FairSpillPool::new(limit)));
    }
    if let Some(dir) = &options.spill_dir {
        runtime = runtime.with_temp_file_path(dir);
    }
    let runtime = runtime.build_arc()?;
    Ok(SessionContext::new_with_config_rt(config, runtime))
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(e.to_string())
}

/// Integer keys: a table's rows are numbered (`case_key` for `cases`, `measure_key` for
/// `measures`, `unit_key` for `units`), and every table that refers to it by id
/// (`case_id`, `measure_id`, `unit_id`) gets the referenced row's number beside the id
/// (found by the row checks, which look every reference up anyway).
/// The views join and group on these keys rather than on string ids: hashing and
/// comparing an integer is several times cheaper, and those joins run over millions of
/// rows (per date, in the trend; the KPIs are counted per date and unit). Keys are not
/// stable across runs.
/// (table, its id column, key column)
const ROW_KEYS: &[(&str, &str, &str)] =
    &[("cases", "case_id", "case_key"), ("measures", "measure_id", "measure_key"), ("units", "unit_id", "unit_key")];

/// The checked tables with their key columns added, and each id that refers to a keyed
/// table held as its key into that table's ids (see `ids_by_key`).
fn with_row_keys(export: &CheckedExport) -> Result<Vec<RecordBatch>> {
    let mut batches: Vec<RecordBatch> = export.tables.iter().map(|t| t.kept.clone()).collect();
    for (keyed_table, id_column, key_column) in ROW_KEYS {
        let ids = table_of(export, keyed_table)?.kept.column_by_name(id_column).cloned();
        for (table, batch) in export.tables.iter().zip(batches.iter_mut()) {
            let keys: Int32Array = if table.spec.name == *keyed_table {
                let rows = i32::try_from(batch.num_rows())
                    .map_err(|_| Error::Usage(format!("more than {} rows in {keyed_table}", i32::MAX)))?;
                Int32Array::from_iter_values(0..rows)
            } else if let Some(rows) = table.parent_rows(id_column, keyed_table) {
                rows.clone()
            } else {
                continue;
            };
            let mut fields: Vec<Field> = batch.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
            fields.push(Field::new(
                *key_column,
                DataType::Int32,
                keys.null_count() > 0 || table.spec.name != *keyed_table,
            ));
            let mut columns = batch.columns().to_vec();
            if table.spec.name != *keyed_table
                && let (Some(at), Some(ids)) = (batch.schema().index_of(id_column).ok(), &ids)
                && let Some(by_key) = ids_by_key(&columns[at], &keys, ids)?
            {
                fields[at] = fields[at].clone().with_data_type(by_key.data_type().clone());
                columns[at] = by_key;
            }
            columns.push(Arc::new(keys));
            *batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(internal)?;
        }
    }
    Ok(batches)
}

/// A column of ids referring to a keyed table, as a dictionary whose keys are the rows' keys
/// (the key column's own numbers, not copied) and whose values are the keyed table's ids:
/// the postings' case and measure ids took half a gigabyte as text at scale 100, and as
/// keys take nothing beside the key columns. Queries see text (`Releasable` decodes a
/// column as it is scanned). Every kept row's id was looked up to find its key, so the key
/// names the same id; None (the text is kept) should a row's id and key ever disagree on
/// being there. A column read as a dictionary already (the postings' cost centre) gets the
/// keys' dictionary in place of its own, so the table holds one column of numbers, not two.
fn ids_by_key(ids_here: &ArrayRef, keys: &Int32Array, ids: &ArrayRef) -> Result<Option<ArrayRef>> {
    let nulls_agree = ids_here.null_count() == keys.null_count()
        && (keys.null_count() == 0 || ids_here.logical_nulls() == keys.logical_nulls());
    let text = match ids_here.data_type() {
        DataType::Dictionary(_, values) => values.as_ref() == &DataType::Utf8,
        other => other == &DataType::Utf8,
    };
    if !text || !nulls_agree {
        return Ok(None);
    }
    let dictionary = DictionaryArray::<Int32Type>::try_new(keys.clone(), Arc::clone(ids)).map_err(internal)?;
    Ok(Some(Arc::new(dictionary)))
}

/// Registers a batch as an in-memory table, split so both cores can work on it.
fn register(ctx: &SessionContext, name: &str, batch: RecordBatch) -> Result<(String, Arc<dyn TableProvider>)> {
    let parts = ctx.state().config().target_partitions().max(1);
    let rows = batch.num_rows();
    let chunk = rows.div_ceil(parts).max(1);
    let partitions: Vec<Vec<RecordBatch>> = (0..rows.div_ceil(chunk).max(1))
        .map(|p| vec![batch.slice((p * chunk).min(rows), chunk.min(rows.saturating_sub(p * chunk)))])
        .collect();
    let table: Arc<dyn TableProvider> = Arc::new(Releasable::new(name, MemTable::try_new(batch.schema(), partitions)?));
    ctx.deregister_table(name)?;
    ctx.register_table(name, Arc::clone(&table))?;
    Ok((name.to_string(), table))
}

fn batch(fields: Vec<Field>, columns: Vec<ArrayRef>) -> Result<RecordBatch> {
    RecordBatch::try_new(Arc::new(Schema::new(fields)) as SchemaRef, columns).map_err(internal)
}

fn interval_type() -> DataType {
    DataType::Interval(IntervalUnit::MonthDayNano)
}

fn interval(span: Option<Span>) -> Option<IntervalMonthDayNano> {
    span.map(|s| IntervalMonthDayNano::new(s.months, s.days, 0))
}

fn strings(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

/// `unit_tree(ancestor_id, unit_id, depth)`: each unit with itself (depth 0) and every
/// unit above it, so a roll-up is one join. Checked units have no cycles.
fn unit_tree(export: &CheckedExport) -> Result<RecordBatch> {
    let units = &table_of(export, "units")?.kept;
    let ids = units.column_by_name("unit_id").ok_or_else(|| internal("units.unit_id"))?.as_string::<i32>();
    let parents = units.column_by_name("parent_id").ok_or_else(|| internal("units.parent_id"))?.as_string::<i32>();
    let parent_of: HashMap<&str, Option<&str>> =
        ids.iter().zip(parents.iter()).filter_map(|(id, p)| id.map(|id| (id, p))).collect();
    let (mut anc, mut unit, mut depth) = (Vec::new(), Vec::new(), Vec::new());
    for id in ids.iter().flatten() {
        let mut current = Some(id);
        let mut d = 0i32;
        while let Some(a) = current {
            anc.push(a.to_string());
            unit.push(id.to_string());
            depth.push(d);
            d += 1;
            current = parent_of.get(a).copied().flatten();
            if d as usize > parent_of.len() {
                return Err(internal("unit tree has a cycle after checks"));
            }
        }
    }
    batch(
        vec![strings("ancestor_id", false), strings("unit_id", false), Field::new("depth", DataType::Int32, false)],
        vec![Arc::new(StringArray::from(anc)), Arc::new(StringArray::from(unit)), Arc::new(Int32Array::from(depth))],
    )
}

fn table_of<'a>(export: &'a CheckedExport, name: &str) -> Result<&'a CheckedTable> {
    export.table(name).ok_or_else(|| internal(format!("table {name} not loaded")))
}

/// `paragraph_rules`: each paragraph code found in the measures, with the rule that
/// governs it (matched once here, so the views stay plain joins).
fn paragraph_rules(export: &CheckedExport, rules: &Rules) -> Result<RecordBatch> {
    let measures = &table_of(export, "measures")?.kept;
    let codes = distinct_sorted(
        measures.column_by_name("paragraph").ok_or_else(|| internal("measures.paragraph"))?.as_string::<i32>(),
    );
    // Columns: code, matched prefix, needs a plan, needs follow-up; then per plan kind
    // (ordinary, acute) the due date's base and span.
    type RuleColumns<'a> = (Vec<&'a str>, Vec<Option<String>>, Vec<bool>, Vec<bool>);
    type DueColumns<'a> = (Vec<Option<&'a str>>, Vec<Option<IntervalMonthDayNano>>);
    let mut cols: RuleColumns = Default::default();
    let mut due: [DueColumns; 2] = Default::default();
    for &code in &codes {
        let rule = rules.rule_for(code);
        cols.0.push(code);
        cols.1.push(rule.map(|r| r.prefix.clone()));
        cols.2.push(rule.is_some_and(|r| r.action_plan.is_some()));
        cols.3.push(rule.is_some_and(|r| r.follow_up));
        let plan = rule.and_then(|r| r.action_plan);
        // An acute measure follows the acute rule where one exists, else the general one.
        let acute = rule.and_then(|r| r.acute_action_plan.or(r.action_plan));
        for (slot, p) in due.iter_mut().zip([plan, acute]) {
            slot.0.push(p.map(|p: PlanDue| p.from.as_str()));
            slot.1.push(interval(p.map(|p| p.within)));
        }
    }
    let [(plan_from, plan_within), (acute_from, acute_within)] = due;
    batch(
        vec![
            strings("paragraph", false),
            strings("rule_prefix", true),
            Field::new("needs_plan", DataType::Boolean, false),
            Field::new("needs_follow_up", DataType::Boolean, false),
            strings("plan_due_from", true),
            Field::new("plan_within", interval_type(), true),
            strings("acute_plan_due_from", true),
            Field::new("acute_plan_within", interval_type(), true),
        ],
        vec![
            Arc::new(StringArray::from(cols.0)),
            Arc::new(StringArray::from(cols.1)),
            Arc::new(BooleanArray::from(cols.2)),
            Arc::new(BooleanArray::from(cols.3)),
            Arc::new(StringArray::from(plan_from)),
            Arc::new(IntervalMonthDayNanoArray::from(plan_within)),
            Arc::new(StringArray::from(acute_from)),
            Arc::new(IntervalMonthDayNanoArray::from(acute_within)),
        ],
    )
}

/// `case_deadline_rules`: each paragraph code found in the applications (`decisions`) that
/// has a case-processing deadline, with its rule: `within` is the span as the rules write
/// it (for `add_span`), `area` the case area in words.
/// The distinct values of a column, in order. A column of a million rows holds a few
/// hundred codes: they are gathered in a hash set and only those sorted, which costs the
/// same whatever order the rows come in.
fn distinct_sorted(values: &StringArray) -> Vec<&str> {
    let distinct: datafusion::common::HashSet<&str> = values.iter().flatten().collect();
    let mut sorted: Vec<&str> = distinct.into_iter().collect();
    sorted.sort_unstable();
    sorted
}

fn case_deadline_rules(export: &CheckedExport, rules: &Rules) -> Result<RecordBatch> {
    let decisions = &table_of(export, "decisions")?.kept;
    let codes = distinct_sorted(
        decisions.column_by_name("paragraph").ok_or_else(|| internal("decisions.paragraph"))?.as_string::<i32>(),
    );
    let matched: Vec<(&str, &crate::rules::CaseDeadline)> =
        codes.into_iter().filter_map(|c| Some((c, rules.case_deadline_for(c)?))).collect();
    batch(
        vec![
            strings("paragraph", false),
            strings("rule_prefix", false),
            strings("within", false),
            strings("area", false),
        ],
        vec![
            Arc::new(StringArray::from_iter_values(matched.iter().map(|(c, _)| *c))),
            Arc::new(StringArray::from_iter_values(matched.iter().map(|(_, r)| r.prefix.as_str()))),
            Arc::new(StringArray::from_iter_values(matched.iter().map(|(_, r)| r.within.to_string()))),
            Arc::new(StringArray::from_iter_values(matched.iter().map(|(_, r)| r.area.as_str()))),
        ],
    )
}

/// `rule_params`: one row with the deadlines that are not per paragraph. Calendar spans
/// are intervals; `notification_assess_within` is elapsed time (an interval of hours);
/// `notification_confirm_within` is a span for `add_span` (it may count working days);
/// `baseline_year` is null unless the rules set one.
fn rule_params(rules: &Rules) -> Result<RecordBatch> {
    let spans = [
        ("investigation_limit", rules.investigation_limit),
        ("follow_up_first", rules.follow_up_first),
        ("follow_up_every", rules.follow_up_every),
    ];
    let hours = match rules.notification_assess_within {
        crate::rules::Period::Hours(h) => i64::from(h),
        other => return Err(internal(format!("notification assessment limit {other} is not in hours"))),
    };
    let mut fields: Vec<Field> = spans.iter().map(|(n, _)| Field::new(*n, interval_type(), false)).collect();
    let mut columns: Vec<ArrayRef> = spans
        .iter()
        .map(|(_, s)| Arc::new(IntervalMonthDayNanoArray::from(vec![interval(Some(*s))])) as ArrayRef)
        .collect();
    fields.push(Field::new("notification_assess_within", interval_type(), false));
    columns.push(Arc::new(IntervalMonthDayNanoArray::from(vec![IntervalMonthDayNano::new(
        0,
        0,
        hours * 3_600_000_000_000,
    )])));
    fields.push(strings("notification_confirm_within", false));
    columns.push(Arc::new(StringArray::from(vec![rules.notification_confirm_within.to_string()])));
    fields.push(Field::new("baseline_year", DataType::Int32, true));
    columns.push(Arc::new(Int32Array::from(vec![rules.baseline_year])));
    fields.push(strings("budget_periodisation", false));
    columns.push(Arc::new(StringArray::from(vec![rules.budget_periodisation.as_str()])));
    batch(fields, columns)
}

/// `recovery_milestone_rules(unit_id, on_date, max_remaining)`: the rules' milestones.
fn recovery_milestone_rules(rules: &Rules) -> Result<RecordBatch> {
    let m = &rules.recovery_milestones;
    batch(
        vec![
            strings("unit_id", false),
            Field::new("on_date", DataType::Date32, false),
            Field::new("max_remaining", DataType::Int64, false),
        ],
        vec![
            Arc::new(StringArray::from_iter_values(m.iter().map(|m| m.unit_id.as_str()))),
            Arc::new(Date32Array::from_iter_values(m.iter().map(|m| m.on.to_epoch_days()))),
            Arc::new(Int64Array::from_iter_values(m.iter().map(|m| m.max_remaining))),
        ],
    )
}

/// `closed_days(day, name)`: the calendar's closed days (built-in and the rules' extra
/// ones) from 2000 to 2060, so analysts can see what `is_working_day` skips.
fn closed_days(rules: &Rules) -> Result<RecordBatch> {
    let days = rules.calendar.closed_days(2000..=2060);
    batch(
        vec![Field::new("day", DataType::Date32, false), strings("name", false)],
        vec![
            Arc::new(Date32Array::from_iter_values(days.iter().map(|(d, _)| d.to_epoch_days()))),
            Arc::new(StringArray::from_iter_values(days.iter().map(|(_, n)| n.as_str()))),
        ],
    )
}

/// `export_tables(table_name, core, present, rows_read, rows_kept)`: which tables the
/// export holds; an absent further table is empty and its figures have zero denominators.
fn export_tables(export: &CheckedExport) -> Result<RecordBatch> {
    let t = &export.tables;
    batch(
        vec![
            strings("table_name", false),
            Field::new("core", DataType::Boolean, false),
            Field::new("present", DataType::Boolean, false),
            Field::new("rows_read", DataType::Int64, false),
            Field::new("rows_kept", DataType::Int64, false),
        ],
        vec![
            Arc::new(StringArray::from_iter_values(t.iter().map(|t| t.spec.name))),
            Arc::new(BooleanArray::from(t.iter().map(|t| t.spec.core).collect::<Vec<_>>())),
            Arc::new(BooleanArray::from(t.iter().map(|t| t.present).collect::<Vec<_>>())),
            Arc::new(Int64Array::from_iter_values(t.iter().map(|t| t.rows_read as i64))),
            Arc::new(Int64Array::from_iter_values(t.iter().map(|t| t.kept.num_rows() as i64))),
        ],
    )
}

/// `kpi_definitions(kpi_id, position, plan_item, target, lower_is_better, core, description)`;
/// `core`: one of the five core KPIs.
fn kpi_definitions(rules: &Rules) -> Result<RecordBatch> {
    let defs = crate::kpi::DEFINITIONS;
    batch(
        vec![
            strings("kpi_id", false),
            Field::new("position", DataType::Int32, false),
            Field::new("plan_item", DataType::Int32, true),
            Field::new("target", DataType::Float64, false),
            Field::new("lower_is_better", DataType::Boolean, false),
            Field::new("core", DataType::Boolean, false),
            strings("description", false),
        ],
        vec![
            Arc::new(StringArray::from_iter_values(defs.iter().map(|d| d.id))),
            Arc::new(Int32Array::from_iter_values(0..defs.len() as i32)),
            Arc::new(Int32Array::from(defs.iter().map(|d| d.plan_item).collect::<Vec<_>>())),
            Arc::new(Float64Array::from_iter_values(defs.iter().map(|d| rules.target(d.id)))),
            Arc::new(BooleanArray::from(defs.iter().map(|d| d.lower_is_better).collect::<Vec<_>>())),
            Arc::new(BooleanArray::from(
                defs.iter().map(|d| crate::rules::CORE_KPI_IDS.contains(&d.id)).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from_iter_values(defs.iter().map(|d| d.description))),
        ],
    )
}

/// `rejected_rows`: every row left out by the checks, with where it is and why.
fn rejected_rows(export: &CheckedExport) -> Result<RecordBatch> {
    let r: Vec<&Rejection> = export.rejections().collect();
    batch(
        vec![
            strings("table_name", false),
            strings("file", false),
            Field::new("row", DataType::Int64, false),
            strings("rule", false),
            strings("column_name", false),
            strings("locator", false),
        ],
        vec![
            Arc::new(StringArray::from_iter_values(r.iter().map(|r| r.table))),
            Arc::new(StringArray::from_iter_values(r.iter().map(|r| r.file.as_str()))),
            Arc::new(Int64Array::from_iter_values(r.iter().map(|r| r.row))),
            Arc::new(StringArray::from_iter_values(r.iter().map(|r| r.rule.as_str()))),
            Arc::new(StringArray::from_iter_values(r.iter().map(|r| r.column.as_str()))),
            Arc::new(StringArray::from_iter_values(r.iter().map(|r| r.locator.as_str()))),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_held_as_keys_only_where_id_and_key_agree_on_being_there() {
        let ids: ArrayRef = Arc::new(StringArray::from(vec!["C1", "C2", "C3"]));
        let here: ArrayRef = Arc::new(StringArray::from(vec![Some("C3"), None, Some("C1")]));
        let keys = Int32Array::from(vec![Some(2), None, Some(0)]);
        let held = ids_by_key(&here, &keys, &ids).unwrap().expect("held as keys");
        assert!(matches!(held.data_type(), DataType::Dictionary(..)));
        let text = datafusion::arrow::compute::cast(&held, &DataType::Utf8).unwrap();
        assert_eq!(text.as_string::<i32>(), here.as_string::<i32>());

        // An id without a key (or a key without an id) keeps the text.
        let no_key = Int32Array::from(vec![Some(2), None, None]);
        assert!(ids_by_key(&here, &no_key, &ids).unwrap().is_none());
        let all_keys = Int32Array::from(vec![2, 1, 0]);
        assert!(ids_by_key(&here, &all_keys, &ids).unwrap().is_none());

        // A column read as a dictionary of its own takes the keys' dictionary instead.
        let own: ArrayRef = Arc::new(DictionaryArray::<Int32Type>::new(
            Int32Array::from(vec![Some(0), None, Some(1)]),
            Arc::new(StringArray::from(vec!["C3", "C1"])),
        ));
        let held = ids_by_key(&own, &keys, &ids).unwrap().expect("held as keys");
        assert_eq!(held.as_any_dictionary().keys().to_data(), keys.to_data());
        let text = datafusion::arrow::compute::cast(&held, &DataType::Utf8).unwrap();
        assert_eq!(text.as_string::<i32>(), here.as_string::<i32>());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_sibling_at_later_dates_shares_the_periods_of_the_earliest_date() {
        use crate::at_other_dates::SiblingSource;
        let export =
            CheckedExport::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample")).unwrap();
        let t = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        let catalog = Catalog::new(&export, Rules::builtin(), &[t], &EngineOptions::default()).await.unwrap();
        let siblings = catalog.siblings(&catalog.as_of).await;
        let provider_at = async |dates: &[NaiveDate], view: &str| {
            let sibling = siblings.session_at(dates, catalog.ctx.runtime_env()).await.unwrap();
            sibling.table_provider(view).await.unwrap()
        };
        let own = async |view: &str| catalog.ctx.table_provider(view).await;
        let week = chrono::Duration::days(7);
        // The periods from the catalog's date on serve the projection's later dates.
        let periods = own("follow_up_periods").await.unwrap();
        assert!(Arc::ptr_eq(&periods, &provider_at(&[t + week, t + week * 4], "follow_up_periods").await));
        // An earlier date needs periods of measures that ended before the catalog's date.
        assert!(!Arc::ptr_eq(&periods, &provider_at(&[t - week, t + week], "follow_up_periods").await));
        // The views of the whole export are shared at any dates; the other dated views never.
        let rules = own("measure_rules").await.unwrap();
        assert!(Arc::ptr_eq(&rules, &provider_at(&[t - week], "measure_rules").await));
        let budget = own("budget_periods").await.unwrap();
        assert!(!Arc::ptr_eq(&budget, &provider_at(&[t + week], "budget_periods").await));
        // The catalog itself computes the periods again when its dates change, even to later ones.
        let mut catalog = catalog;
        catalog.set_as_of(&[t + week]).await.unwrap();
        assert!(!Arc::ptr_eq(&periods, &catalog.ctx.table_provider("follow_up_periods").await.unwrap()));
    }
}
