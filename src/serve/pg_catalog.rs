//! What cwkpi adds to datafusion-postgres's `pg_catalog`, wrapping the tables it changes:
//!
//! - The views' descriptions (what `cwkpi views` prints) as PostgreSQL comments, so tools
//!   show them: rows of `pg_description` (tools join it to `pg_class`) and
//!   `obj_description(oid, 'pg_class')`. datafusion-postgres's `pg_description` is a
//!   static table and it gives a relation its oid when `pg_class` is read, so reading
//!   `pg_class` notes the oid of each described view, and `pg_description` adds a row
//!   for each.
//! - `pg_type.typreceive` as a `regproc` (the function's oid), as in PostgreSQL, rather
//!   than its name: Npgsql (Excel, Power BI) joins it to `pg_proc.oid` when it connects.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int32Array, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef};
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{ColumnarValue, Expr, ScalarUDF, TableType, Volatility, create_udf};
use datafusion::physical_plan::{ExecutionPlan, collect};
use datafusion::prelude::SessionContext;

use crate::catalog::{DATABASE, all_views, other_date_views};

/// Each described relation's oid (as `pg_class` last gave it) and its description.
type OidDescriptions = Arc<RwLock<HashMap<i32, String>>>;

/// Wraps the session's `pg_catalog` (see above) and registers `obj_description`. Call
/// after `setup_pg_catalog`.
pub fn amend_pg_catalog(ctx: &SessionContext) -> Result<()> {
    let catalog = ctx.catalog(DATABASE).ok_or_else(|| DataFusionError::Plan(format!("no catalog {DATABASE}")))?;
    let inner = catalog.schema("pg_catalog").ok_or_else(|| DataFusionError::Plan("no pg_catalog schema".into()))?;
    let descriptions: HashMap<String, String> =
        all_views().into_iter().chain(other_date_views()).map(|v| (v.name, v.description)).collect();
    let by_oid = OidDescriptions::default();
    let described =
        Described { inner, descriptions: Arc::new(descriptions), by_oid: Arc::clone(&by_oid), reading: Arc::default() };
    catalog.register_schema("pg_catalog", Arc::new(described))?;
    for udf in obj_description(by_oid) {
        ctx.register_udf(udf);
    }
    Ok(())
}

#[derive(Debug)]
struct Described {
    inner: Arc<dyn SchemaProvider>,
    descriptions: Arc<HashMap<String, String>>,
    by_oid: OidDescriptions,
    /// `pg_class` gives a relation its oid the first time it is read and keeps it: two
    /// first reads at once (DataFusion plans a join's sides concurrently) would give two.
    reading: Arc<tokio::sync::Mutex<()>>,
}

#[async_trait]
impl SchemaProvider for Described {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let kind = match name.to_ascii_lowercase().as_str() {
            "pg_class" => Kind::Class,
            "pg_description" => Kind::Description,
            "pg_type" => Kind::Type,
            _ => return self.inner.table(name).await,
        };
        let Some(inner_table) = self.inner.table(name).await? else { return Ok(None) };
        let schema =
            if kind == Kind::Type { with_regproc_receive(&inner_table.schema())? } else { inner_table.schema() };
        Ok(Some(Arc::new(Wrapped {
            kind,
            schema,
            inner: Arc::clone(&self.inner),
            descriptions: Arc::clone(&self.descriptions),
            by_oid: Arc::clone(&self.by_oid),
            reading: Arc::clone(&self.reading),
        })))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Class,
    Description,
    Type,
}

#[derive(Debug)]
struct Wrapped {
    kind: Kind,
    schema: SchemaRef,
    inner: Arc<dyn SchemaProvider>,
    descriptions: Arc<HashMap<String, String>>,
    by_oid: OidDescriptions,
    reading: Arc<tokio::sync::Mutex<()>>,
}

impl Wrapped {
    async fn inner_table(&self, name: &str) -> Result<Arc<dyn TableProvider>> {
        self.inner.table(name).await?.ok_or_else(|| DataFusionError::Plan(format!("pg_catalog.{name} is missing")))
    }

    async fn read(&self, state: &dyn Session, name: &str) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let _one_at_a_time = self.reading.lock().await;
        let table = self.inner_table(name).await?;
        let plan = table.scan(state, None, &[], None).await?;
        Ok((table.schema(), collect(plan, state.task_ctx()).await?))
    }

    /// `pg_class` as read, noting the oid of every described relation.
    async fn class(&self, state: &dyn Session) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let (schema, batches) = self.read(state, "pg_class").await?;
        let mut by_oid = HashMap::new();
        for (oid, name) in oids_and_names(&batches, "relname")? {
            if let Some(description) = self.descriptions.get(&name) {
                by_oid.insert(oid, description.clone());
            }
        }
        *self.by_oid.write().unwrap_or_else(|e| e.into_inner()) = by_oid;
        Ok((schema, batches))
    }

    /// The static `pg_description` rows and one per described relation.
    async fn description(&self, state: &dyn Session) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        self.class(state).await?;
        let (schema, mut batches) = self.read(state, "pg_description").await?;
        let by_oid = self.by_oid.read().unwrap_or_else(|e| e.into_inner()).clone();
        let mut described: Vec<(&i32, &String)> = by_oid.iter().collect();
        described.sort();
        let n = described.len();
        let mut columns: Vec<ArrayRef> = Vec::new();
        for field in schema.fields() {
            let column: ArrayRef = match field.name().as_str() {
                "objoid" => Arc::new(Int32Array::from_iter_values(described.iter().map(|(oid, _)| **oid))),
                "classoid" => Arc::new(Int32Array::from(vec![PG_CLASS_OID; n])),
                "objsubid" => Arc::new(Int32Array::from(vec![0; n])),
                "description" => Arc::new(StringArray::from_iter_values(described.iter().map(|(_, d)| d.as_str()))),
                other => return Err(DataFusionError::Plan(format!("pg_description has an unexpected column {other}"))),
            };
            columns.push(cast(&column, field.data_type())?);
        }
        batches.push(RecordBatch::try_new(Arc::clone(&schema), columns)?);
        Ok((schema, batches))
    }

    /// `pg_type` with `typreceive` as the oid of the `pg_proc` function it names (0 for
    /// none, as PostgreSQL's `-`).
    async fn types(&self, state: &dyn Session) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let (_, types) = self.read(state, "pg_type").await?;
        let (_, procs) = self.read(state, "pg_proc").await?;
        // An overloaded name is given its first function's oid.
        let mut oid_of: HashMap<String, i32> = HashMap::new();
        for (oid, name) in oids_and_names(&procs, "proname")? {
            let first = oid_of.entry(name).or_insert(oid);
            *first = (*first).min(oid);
        }
        let at = self.schema.index_of("typreceive")?;
        let batches = types
            .iter()
            .map(|batch| {
                let names = cast(batch.column(at), &DataType::Utf8)?;
                let names = names.as_string::<i32>();
                let oids: Int32Array = (0..names.len())
                    .map(|i| Some(if names.is_null(i) { 0 } else { oid_of.get(names.value(i)).copied().unwrap_or(0) }))
                    .collect();
                let mut columns = batch.columns().to_vec();
                columns[at] = Arc::new(oids);
                Ok(RecordBatch::try_new(Arc::clone(&self.schema), columns)?)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((Arc::clone(&self.schema), batches))
    }
}

/// Each row's `oid` and the name in `name_column`, from a catalog table's batches.
fn oids_and_names(batches: &[RecordBatch], name_column: &str) -> Result<Vec<(i32, String)>> {
    let mut pairs = Vec::new();
    for batch in batches {
        let (Some(oids), Some(names)) = (batch.column_by_name("oid"), batch.column_by_name(name_column)) else {
            continue;
        };
        let oids = cast(oids, &DataType::Int32)?;
        let oids = oids.as_primitive::<Int32Type>();
        let names = cast(names, &DataType::Utf8)?;
        let names = names.as_string::<i32>();
        pairs.extend(
            (0..batch.num_rows())
                .filter(|&i| oids.is_valid(i) && names.is_valid(i))
                .map(|i| (oids.value(i), names.value(i).to_string())),
        );
    }
    Ok(pairs)
}

/// `pg_type`'s columns with `typreceive` an oid marked `regproc` (datafusion-pg-catalog's
/// field metadata for oid aliases, so `typreceive = 'array_recv'::regproc` resolves too).
fn with_regproc_receive(schema: &SchemaRef) -> Result<SchemaRef> {
    let at = schema.index_of("typreceive")?;
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let metadata = HashMap::from([("pg.oid_alias".to_string(), "regproc".to_string())]);
    fields[at] = Field::new("typreceive", DataType::Int32, false).with_metadata(metadata);
    Ok(Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())))
}

/// `pg_class`'s own oid in PostgreSQL, which `pg_description.classoid` names for
/// comments on relations (the static rows use it too).
const PG_CLASS_OID: i32 = 1259;

#[async_trait]
impl TableProvider for Wrapped {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let (schema, batches) = match self.kind {
            Kind::Class => self.class(state).await?,
            Kind::Description => self.description(state).await?,
            Kind::Type => self.types(state).await?,
        };
        MemTable::try_new(schema, vec![batches])?.scan(state, projection, filters, limit).await
    }
}

/// `obj_description(oid [, catalog])`: a described view's description, else null.
fn obj_description(by_oid: OidDescriptions) -> Vec<ScalarUDF> {
    let make = |arguments: Vec<DataType>| {
        let by_oid = Arc::clone(&by_oid);
        create_udf(
            "obj_description",
            arguments,
            DataType::Utf8,
            Volatility::Stable,
            Arc::new(move |args: &[ColumnarValue]| {
                let rows = args
                    .iter()
                    .find_map(|a| if let ColumnarValue::Array(a) = a { Some(a.len()) } else { None })
                    .unwrap_or(1);
                let oids = cast(&args[0].to_array(rows)?, &DataType::Int32)?;
                let oids = oids.as_primitive::<Int32Type>();
                let by_oid = by_oid.read().unwrap_or_else(|e| e.into_inner());
                let out: StringArray = (0..oids.len())
                    .map(|i| if oids.is_null(i) { None } else { by_oid.get(&oids.value(i)).cloned() })
                    .collect();
                Ok(ColumnarValue::Array(Arc::new(out)))
            }),
        )
    };
    // One UDF name cannot have two signatures here: the two-argument form is psql's.
    vec![make(vec![DataType::Int32, DataType::Utf8])]
}
