//! KPI history: the figures as each nightly run reported them, one Parquet file per as-of
//! date (`history/as_of=YYYY-MM-DD/kpi.parquet`), and the `kpi_history` table that lets
//! analysts compare "as reported then" with `kpi` ("as recomputed now").
//!
//! A date's file is replaced as a whole (temporary file, then rename), so re-running a
//! date replaces its rows and never duplicates them; the same rows give the same bytes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;

use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::kpi::KpiRow;
use crate::validate::write_file;

/// The table name analysts query.
pub const TABLE: &str = "kpi_history";

/// The KPI table's columns, as `kpi.csv` has them.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("as_of", DataType::Date32, false),
        Field::new("unit_id", DataType::Utf8, false),
        Field::new("kpi_id", DataType::Utf8, false),
        Field::new("numerator", DataType::Int64, false),
        Field::new("denominator", DataType::Int64, false),
        Field::new("share", DataType::Float64, true),
        Field::new("target", DataType::Float64, false),
        Field::new("met", DataType::Boolean, true),
    ]))
}

/// KPI rows as a Parquet file in memory. The writer adds no timestamps, so equal rows in
/// equal order give equal bytes.
pub fn kpi_parquet(rows: &[KpiRow]) -> Result<Vec<u8>> {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Date32Array::from_iter_values(rows.iter().map(|r| r.as_of.to_epoch_days()))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.unit_id.as_str()))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.kpi_id.as_str()))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.numerator))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.denominator))),
        Arc::new(rows.iter().map(|r| r.share).collect::<Float64Array>()),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.target))),
        Arc::new(rows.iter().map(|r| r.met).collect::<BooleanArray>()),
    ];
    let internal = |e: &dyn std::fmt::Display| Error::Internal(format!("writing KPI Parquet: {e}"));
    let batch = RecordBatch::try_new(schema(), columns).map_err(|e| internal(&e))?;
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, schema(), Some(props)).map_err(|e| internal(&e))?;
    writer.write(&batch).map_err(|e| internal(&e))?;
    writer.close().map_err(|e| internal(&e))?;
    Ok(bytes)
}

/// `history/as_of=YYYY-MM-DD/kpi.parquet`.
pub fn file_for(history: &Path, as_of: NaiveDate) -> PathBuf {
    history.join(format!("as_of={as_of}")).join("kpi.parquet")
}

/// Replaces the history rows of one as-of date.
pub fn write(history: &Path, as_of: NaiveDate, parquet: &[u8]) -> Result<PathBuf> {
    let path = file_for(history, as_of);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io_path("create", dir, e))?;
    }
    write_file(&path, parquet)?;
    Ok(path)
}

/// Accepts the nightly's output folder or its `history/` folder.
pub fn resolve(dir: &Path) -> Result<PathBuf> {
    let nested = dir.join("history");
    let history = if nested.is_dir() { nested } else { dir.to_path_buf() };
    if !history.is_dir() {
        return Err(Error::Usage(format!(
            "history folder {} does not exist (give the nightly's --out folder)",
            dir.display()
        )));
    }
    Ok(history)
}

/// Every history file, oldest as-of first.
pub fn files(history: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(history).map_err(|e| Error::io_path("list", history, e))?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io_path("list", history, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let file = entry.path().join("kpi.parquet");
        if name.strip_prefix("as_of=").is_some_and(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok())
            && file.is_file()
        {
            found.push(file);
        }
    }
    found.sort();
    Ok(found)
}

/// Registers `kpi_history` from a history folder (or the nightly's output folder).
/// Returns the number of rows.
pub fn register(catalog: &Catalog, dir: &Path) -> Result<usize> {
    let history = resolve(dir)?;
    let schema = schema();
    let mut batches = Vec::new();
    for file in files(&history)? {
        batches.extend(read(&file, &schema)?);
    }
    let rows = batches.iter().map(|b| b.num_rows()).sum();
    let table = MemTable::try_new(schema, vec![batches])?;
    catalog.ctx.deregister_table(TABLE)?;
    catalog.ctx.register_table(TABLE, Arc::new(table))?;
    Ok(rows)
}

fn read(file: &Path, schema: &SchemaRef) -> Result<Vec<RecordBatch>> {
    let bad = |what: String| Error::Export(format!("{}: table {TABLE}: {what}", file.display()));
    let handle = std::fs::File::open(file).map_err(|e| Error::io_path("open", file, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(handle)
        .and_then(|b| b.build())
        .map_err(|e| bad(format!("not a readable Parquet file: {e}")))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| bad(format!("not a readable Parquet file: {e}")))?;
        let mut columns = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            let column =
                batch.column_by_name(field.name()).ok_or_else(|| bad(format!("column {} is missing", field.name())))?;
            let column = cast(column, field.data_type()).map_err(|e| bad(format!("column {}: {e}", field.name())))?;
            columns.push(column);
        }
        out.push(RecordBatch::try_new(schema.clone(), columns).map_err(|e| bad(e.to_string()))?);
    }
    Ok(out)
}
