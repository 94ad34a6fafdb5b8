//! The report's tables for machines: `tables/<name>.csv` and `tables/<name>.parquet`,
//! all units in one file, each row carrying the `unit_id` of the report it belongs to.

use std::path::Path;

use datafusion::arrow::csv::WriterBuilder;
use datafusion::parquet::arrow::ArrowWriter;

use super::frame::TableOut;
use crate::error::{Error, Result};
use crate::output_file::OutputFile;

/// Writes each table as CSV (header, ISO dates, empty for null) and as Parquet into `dir`.
/// Returns the number of files written.
pub fn write_tables(tables: &[TableOut], dir: &Path) -> Result<usize> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
    let mut files = 0;
    for table in tables {
        let csv_path = dir.join(format!("{}.csv", table.name));
        let file = OutputFile::create(&csv_path)?;
        let failure = file.failure();
        let mut writer = WriterBuilder::new().with_header(true).build(file);
        writer.write(&table.batch).map_err(|e| failure.error(&e))?;
        writer.into_inner().finish()?;
        files += 1;

        let parquet_path = dir.join(format!("{}.parquet", table.name));
        let file = OutputFile::create(&parquet_path)?;
        let failure = file.failure();
        let mut writer = ArrowWriter::try_new(file, table.batch.schema(), None).map_err(|e| failure.error(&e))?;
        writer.write(&table.batch).map_err(|e| failure.error(&e))?;
        writer.into_inner().map_err(|e| failure.error(&e))?.finish()?;
        files += 1;
    }
    Ok(files)
}
