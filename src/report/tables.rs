//! The report's tables for machines: `tables/<name>.csv` and `tables/<name>.parquet`,
//! all units in one file, each row carrying the `unit_id` of the report it belongs to.

use std::path::Path;

use datafusion::arrow::csv::WriterBuilder;
use datafusion::parquet::arrow::ArrowWriter;

use super::frame::TableOut;
use crate::error::{Error, Result};
use crate::output_file::OutputFile;

#[derive(Clone, Copy)]
enum Format {
    Csv,
    Parquet,
}

/// Writes each table as CSV (header, ISO dates, empty for null) and as Parquet into `dir`.
/// Returns the number of files written.
///
/// The files are independent, so they are written on every core, largest table first: a
/// writer takes the next file when done with one, and the largest (the recovery list,
/// a row per case and unit above it) would otherwise be left to the end.
pub fn write_tables(tables: &[TableOut], dir: &Path) -> Result<usize> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
    let mut order: Vec<&TableOut> = tables.iter().collect();
    order.sort_by_key(|t| std::cmp::Reverse(t.batch.get_array_memory_size()));
    let jobs: Vec<(&TableOut, Format)> =
        order.into_iter().flat_map(|t| [(t, Format::Csv), (t, Format::Parquet)]).collect();
    let written = crate::cores::deal_out(&jobs, "table writer", |(table, format), written: &mut usize| {
        write_one(table, *format, dir)?;
        *written += 1;
        Ok(())
    })?;
    Ok(written.iter().sum())
}

fn write_one(table: &TableOut, format: Format, dir: &Path) -> Result<()> {
    match format {
        Format::Csv => {
            let file = OutputFile::create(&dir.join(format!("{}.csv", table.name)))?;
            let failure = file.failure();
            let mut writer = WriterBuilder::new().with_header(true).build(file);
            writer.write(&table.batch).map_err(|e| failure.error(&e))?;
            writer.into_inner().finish()
        }
        Format::Parquet => {
            let file = OutputFile::create(&dir.join(format!("{}.parquet", table.name)))?;
            let failure = file.failure();
            let mut writer = ArrowWriter::try_new(file, table.batch.schema(), None).map_err(|e| failure.error(&e))?;
            writer.write(&table.batch).map_err(|e| failure.error(&e))?;
            writer.into_inner().map_err(|e| failure.error(&e))?.finish()
        }
    }
}
