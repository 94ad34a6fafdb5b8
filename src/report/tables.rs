//! The report's tables for machines: `tables/<name>.csv` and `tables/<name>.parquet`,
//! all units in one file, each row carrying the `unit_id` of the report it belongs to.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use datafusion::arrow::csv::WriterBuilder;
use datafusion::parquet::arrow::ArrowWriter;

use super::data::TableOut;
use crate::error::{Error, Result};

/// Writes each table as CSV (header, ISO dates, empty for null) and as Parquet into `dir`.
/// Returns the number of files written.
pub fn write_tables(tables: &[TableOut], dir: &Path) -> Result<usize> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
    let mut files = 0;
    for table in tables {
        let csv_path = dir.join(format!("{}.csv", table.name));
        let file = File::create(&csv_path).map_err(|e| Error::io(format!("cannot create {}", csv_path.display()), e))?;
        let mut writer = WriterBuilder::new().with_header(true).build(std::io::BufWriter::new(file));
        writer.write(&table.batch).map_err(|e| Error::Internal(format!("cannot write {}: {e}", csv_path.display())))?;
        writer.into_inner().flush().map_err(|e| Error::io(format!("cannot write {}", csv_path.display()), e))?;
        files += 1;

        let parquet_path = dir.join(format!("{}.parquet", table.name));
        let file = File::create(&parquet_path).map_err(|e| Error::io(format!("cannot create {}", parquet_path.display()), e))?;
        let parquet_error = |e: datafusion::parquet::errors::ParquetError| {
            Error::Internal(format!("cannot write {}: {e}", parquet_path.display()))
        };
        let mut writer = ArrowWriter::try_new(file, table.batch.schema(), None).map_err(parquet_error)?;
        writer.write(&table.batch).map_err(parquet_error)?;
        writer.close().map_err(parquet_error)?;
        files += 1;
    }
    Ok(files)
}
