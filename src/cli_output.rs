//! Printing query results for people (aligned table) and machines (csv, json).

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Json,
    Table,
}

pub fn format_batches(batches: &[RecordBatch], format: Format) -> Result<String> {
    let internal = |e: datafusion::arrow::error::ArrowError| Error::Internal(e.to_string());
    match format {
        Format::Table => Ok(format!("{}\n", pretty_format_batches(batches).map_err(internal)?)),
        Format::Csv => {
            let mut out = Vec::new();
            {
                let mut w = datafusion::arrow::csv::WriterBuilder::new().with_header(true).build(&mut out);
                for b in batches {
                    w.write(b).map_err(internal)?;
                }
            }
            String::from_utf8(out).map_err(|e| Error::Internal(e.to_string()))
        }
        Format::Json => {
            let mut out = Vec::new();
            {
                let mut w = datafusion::arrow::json::ArrayWriter::new(&mut out);
                for b in batches {
                    w.write(b).map_err(internal)?;
                }
                w.finish().map_err(internal)?;
            }
            let mut s = String::from_utf8(out).map_err(|e| Error::Internal(e.to_string()))?;
            if s.is_empty() {
                s.push_str("[]");
            }
            s.push('\n');
            Ok(s)
        }
    }
}
