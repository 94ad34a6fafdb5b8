//! `cwkpi import`: turns a CSV export (one `<table>.csv` per table) into the Parquet
//! export of docs/export.md, so everything downstream reads one format.
//!
//! What a CSV from a Danish case system or from Excel looks like decides the rules:
//! - Encoding: UTF-8 (a byte-order mark is dropped) when the whole file is valid UTF-8,
//!   UTF-16 when it starts with a UTF-16 byte-order mark (Excel's "Unicode text"),
//!   else Windows-1252.
//! - Separator: `;`, `,` or tab, whichever the header line uses most (outside quotes).
//! - Header names match contract columns case-insensitively after trimming; extra
//!   columns are ignored and the personal-data column (`cpr`) is never read.
//! - Values are trimmed; an empty value is null (a flag with a default reads as false).
//!   Dates: `yyyy-mm-dd`, or Danish `dd-mm-yyyy`, `dd.mm.yyyy`, `dd/mm/yyyy`; a date
//!   with a time of day is cut to its date. Timestamps: a date as above, then ` ` or `T`,
//!   then `hh:mm[:ss[.ffffff]]` (Danish `hh.mm[.ss]` too), read as Copenhagen wall-clock
//!   time (in the repeated autumn hour its first occurrence; a time in the skipped spring
//!   hour is an error); a trailing `Z` or `+hh:mm` offset names the instant exactly.
//!   Timestamp columns are written as instants (UTC); in a date column a timestamp becomes
//!   its Copenhagen date. Flags:
//!   true/false, 1/0, ja/nej, yes/no, sand/falsk (Danish Excel). Numbers: `1234.5`,
//!   `1234,5`, `1.234,50`, `1,234.50`; a lone dot followed by exactly three digits
//!   (`12.500`) is a thousands separator in a `;`-separated file (Danish Excel never
//!   writes a decimal dot there) and a decimal point otherwise.
//!
//! Every error names file, line (the header is line 1) and column, never a value: the
//! values may be personal data. Output is written into a temporary folder next to the
//! target and renamed into place only when every table converted, so a failed import
//! leaves nothing behind.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;

use crate::contract::{ColumnSpec, TABLES, TableSpec};
use crate::error::{Error, Result};

mod fields;
mod text;

use fields::{ColumnBuffer, WRITTEN_ZONE};
use text::{QuoteTracker, detect_separator, open_as_utf8, read_header_line};

/// Rows per record batch (and so the most rows held in memory per table).
const CHUNK_ROWS: usize = 64 * 1024;

/// What an import wrote: rows per table, in contract order. Further tables without a
/// CSV file are not written and not listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    pub tables: Vec<(&'static str, usize)>,
}

impl std::fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.tables.iter().map(|(table, rows)| format!("{table} {rows}")).collect();
        write!(f, "rows imported: {}", parts.join(", "))
    }
}

/// Converts the CSV export in `from` into a Parquet export in `out`.
///
/// `out` must not exist, be an empty folder, or hold only a previous import's
/// `<table>.parquet` files (which are then replaced as a whole).
pub fn import_csv_export(from: &Path, out: &Path) -> Result<ImportSummary> {
    if !from.is_dir() {
        return Err(Error::Usage(format!("CSV folder {} does not exist", from.display())));
    }
    let csv_files = find_csv_files(from)?;
    // Everything that can be known before converting is checked first, so a hopeless
    // import creates nothing.
    let mut sources: Vec<(&'static TableSpec, PathBuf)> = Vec::new();
    for spec in TABLES {
        match csv_files.get(spec.name) {
            Some(path) => sources.push((spec, path.clone())),
            None if spec.core => {
                return Err(Error::Export(format!(
                    "{}: table {} is missing (expected this CSV file)",
                    from.join(format!("{}.csv", spec.name)).display(),
                    spec.name
                )));
            }
            None => {}
        }
    }
    let target = OutputTarget::prepare(out)?;

    let staging = StagingDir::create(&target.staging_path())?;
    let mut summary = ImportSummary { tables: Vec::new() };
    for (spec, csv_path) in &sources {
        let parquet_path = staging.path.join(format!("{}.parquet", spec.name));
        let rows = convert_table(csv_path, spec, &parquet_path)?;
        summary.tables.push((spec.name, rows));
    }
    target.publish(staging)?;
    Ok(summary)
}

/// `<table>.csv` files of the folder by table name; names match case-insensitively
/// because exports made on Windows often arrive as `CASES.CSV`.
fn find_csv_files(from: &Path) -> Result<HashMap<String, PathBuf>> {
    let entries = std::fs::read_dir(from).map_err(|e| Error::io(format!("cannot list {}", from.display()), e))?;
    let mut found: HashMap<String, PathBuf> = HashMap::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("cannot list {}", from.display()), e))?;
        let path = entry.path();
        if !path.is_file() {
            continue;
        }
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
        let lower = name.to_lowercase();
        let Some(table) = lower.strip_suffix(".csv") else { continue };
        if !TABLES.iter().any(|t| t.name == table) {
            continue;
        }
        if let Some(earlier) = found.get(table) {
            return Err(Error::Export(format!(
                "{} and {}: two files for table {table}; keep one",
                earlier.display(),
                path.display()
            )));
        }
        found.insert(table.to_string(), path);
    }
    Ok(found)
}

/// Where the export ends up, and what is there now.
struct OutputTarget {
    out: PathBuf,
    /// `out` exists and holds a previous import that is to be replaced.
    replace_existing: bool,
}

impl OutputTarget {
    fn prepare(out: &Path) -> Result<OutputTarget> {
        // An absolute path so that `.` or `dir/..` still has a parent and a name.
        let absolute = (if out.exists() { out.canonicalize() } else { std::path::absolute(out) })
            .map_err(|e| Error::io(format!("cannot resolve {}", out.display()), e))?;
        if absolute.file_name().is_none() || absolute.parent().is_none() {
            return Err(Error::Usage(format!(
                "{} cannot be the output folder; name a folder to create",
                out.display()
            )));
        }
        let mut replace_existing = false;
        if absolute.exists() {
            if !absolute.is_dir() {
                return Err(Error::Usage(format!("output {} exists and is not a folder", out.display())));
            }
            let entries: Vec<PathBuf> = std::fs::read_dir(&absolute)
                .and_then(|entries| entries.map(|e| e.map(|e| e.path())).collect())
                .map_err(|e| Error::io(format!("cannot list {}", out.display()), e))?;
            if !entries.iter().all(|p| is_previous_import_file(p)) {
                return Err(Error::Usage(format!(
                    "output folder {} is not empty and holds more than a previous import; choose a new folder",
                    out.display()
                )));
            }
            replace_existing = !entries.is_empty();
        }
        Ok(OutputTarget { out: absolute, replace_existing })
    }

    fn sibling(&self, purpose: &str) -> PathBuf {
        let name = self.out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let parent = self.out.parent().unwrap_or(Path::new("."));
        parent.join(format!(".{name}.{purpose}-{}", std::process::id()))
    }

    /// Next to the target, so the final rename stays on one file system.
    fn staging_path(&self) -> PathBuf {
        self.sibling("import")
    }

    fn publish(self, mut staging: StagingDir) -> Result<()> {
        let rename_err =
            |e: std::io::Error| Error::io(format!("cannot move the import into {}", self.out.display()), e);
        if self.replace_existing {
            // Move the old import aside first: a folder cannot be renamed onto a
            // non-empty one. If the swap fails, the old import goes back.
            let previous = self.sibling("previous");
            std::fs::rename(&self.out, &previous).map_err(rename_err)?;
            if let Err(e) = std::fs::rename(&staging.path, &self.out) {
                let _ = std::fs::rename(&previous, &self.out);
                return Err(rename_err(e));
            }
            staging.keep();
            let _ = std::fs::remove_dir_all(&previous);
        } else {
            // An empty folder of that name is in the way of the rename on some systems.
            if self.out.is_dir() {
                std::fs::remove_dir(&self.out).map_err(rename_err)?;
            }
            std::fs::rename(&staging.path, &self.out).map_err(rename_err)?;
            staging.keep();
        }
        Ok(())
    }
}

fn is_previous_import_file(path: &Path) -> bool {
    path.is_file()
        && path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".parquet"))
            .is_some_and(|table| TABLES.iter().any(|t| t.name == table))
}

/// A folder that is removed again unless the import succeeded.
struct StagingDir {
    path: PathBuf,
    keep: bool,
}

impl StagingDir {
    fn create(path: &Path) -> Result<StagingDir> {
        if path.exists() {
            // Left by a killed run with the same process id; it holds nothing of value.
            std::fs::remove_dir_all(path).map_err(|e| Error::io(format!("cannot remove {}", path.display()), e))?;
        }
        std::fs::create_dir_all(path).map_err(|e| Error::io(format!("cannot create {}", path.display()), e))?;
        Ok(StagingDir { path: path.to_path_buf(), keep: false })
    }

    fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for StagingDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The error for one cell, one line or one column of a CSV file. Never takes a value.
fn csv_error(file: &Path, line: Option<u64>, column: Option<&str>, what: &str) -> Error {
    let mut place = file.display().to_string();
    if let Some(line) = line {
        place.push_str(&format!(": line {line}"));
    }
    if let Some(column) = column {
        place.push_str(if line.is_some() { ", " } else { ": " });
        place.push_str(&format!("column {column}"));
    }
    Error::Export(format!("{place}: {what}"))
}

pub(super) fn read_error(file: &Path, e: std::io::Error) -> Error {
    Error::io(format!("cannot read {}", file.display()), e)
}

/// Converts one CSV file into one Parquet file; returns the number of rows.
fn convert_table(csv_path: &Path, spec: &'static TableSpec, parquet_path: &Path) -> Result<usize> {
    let text = open_as_utf8(csv_path)?;
    let mut text = BufReader::with_capacity(64 * 1024, text);
    let header_line = read_header_line(&mut text).map_err(|e| read_error(csv_path, e))?;
    if header_line.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(csv_error(csv_path, Some(1), None, "the file has no header line"));
    }
    let separator = detect_separator(&header_line);
    let tracked = QuoteTracker::new(Cursor::new(header_line).chain(text), separator);
    let mut reader =
        csv::ReaderBuilder::new().delimiter(separator).has_headers(true).flexible(false).from_reader(tracked);

    let header = reader.headers().map_err(|e| from_csv_error(csv_path, e))?.clone();
    let columns = map_columns(csv_path, spec, &header)?;
    let schema = written_schema(spec);

    let file =
        File::create(parquet_path).map_err(|e| Error::io(format!("cannot create {}", parquet_path.display()), e))?;
    let write_err = |e: datafusion::parquet::errors::ParquetError| Error::writing(parquet_path, &e);
    let properties = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(properties)).map_err(write_err)?;

    let mut buffers: Vec<ColumnBuffer> = columns.iter().map(|c| ColumnBuffer::new(c.spec)).collect();
    let mut record = csv::StringRecord::new();
    let mut rows = 0usize;
    let mut rows_in_chunk = 0usize;
    let separator_is_semicolon = separator == b';';
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(from_csv_error(csv_path, e)),
        }
        let line = record.position().map(|p| p.line());
        for (column, buffer) in columns.iter().zip(buffers.iter_mut()) {
            let field = column.index.and_then(|i| record.get(i)).unwrap_or("");
            buffer
                .push(field, separator_is_semicolon)
                .map_err(|what| csv_error(csv_path, line, Some(column.spec.name), what))?;
        }
        rows += 1;
        rows_in_chunk += 1;
        if rows_in_chunk == CHUNK_ROWS {
            write_chunk(&mut writer, &schema, &mut buffers, parquet_path)?;
            rows_in_chunk = 0;
        }
    }
    if let Some(line) = reader.get_ref().unterminated_quote_line() {
        return Err(csv_error(csv_path, Some(line), None, "a quoted field is never closed (unterminated quote)"));
    }
    if rows_in_chunk > 0 {
        write_chunk(&mut writer, &schema, &mut buffers, parquet_path)?;
    }
    let file = writer.into_inner().map_err(write_err)?;
    // The rename into place is only as safe as the data under it.
    file.sync_all().map_err(|e| Error::io(format!("cannot write {}", parquet_path.display()), e))?;
    Ok(rows)
}

fn write_chunk(
    writer: &mut ArrowWriter<File>,
    schema: &SchemaRef,
    buffers: &mut [ColumnBuffer],
    parquet_path: &Path,
) -> Result<()> {
    let arrays: Vec<ArrayRef> = buffers.iter_mut().map(ColumnBuffer::finish).collect();
    let batch = RecordBatch::try_new(schema.clone(), arrays)
        .map_err(|e| Error::Internal(format!("{}: {e}", parquet_path.display())))?;
    writer.write(&batch).map_err(|e| {
        Error::io(format!("cannot write {}", parquet_path.display()), std::io::Error::other(e.to_string()))
    })
}

/// The contract schema with every column nullable: a null in a required column is a
/// rejected row for the reader to list, not something the import decides.
/// Timestamps are written as instants (UTC): a value with an offset keeps the instant it
/// names, even in the repeated autumn hour.
fn written_schema(spec: &TableSpec) -> SchemaRef {
    let fields: Vec<Field> = spec
        .schema()
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Timestamp(unit, Some(_)) => {
                Field::new(f.name(), DataType::Timestamp(*unit, Some(WRITTEN_ZONE.into())), true)
            }
            t => Field::new(f.name(), t.clone(), true),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// Translates a csv-crate error into ours, without its text (which may quote data).
fn from_csv_error(file: &Path, e: csv::Error) -> Error {
    let line = e.position().map(|p| p.line());
    match e.into_kind() {
        csv::ErrorKind::Io(io) => read_error(file, io),
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => csv_error(
            file,
            line,
            None,
            &format!(
                "has {len} fields where the header has {expected_len} (a broken line, a stray separator or quote?)"
            ),
        ),
        csv::ErrorKind::Utf8 { .. } => csv_error(file, line, None, "is not valid UTF-8 text"),
        _ => csv_error(file, line, None, "cannot be read as CSV"),
    }
}

/// A contract column and the CSV field it is read from (`None`: absent, so null).
struct MappedColumn {
    spec: &'static ColumnSpec,
    index: Option<usize>,
}

fn map_columns(file: &Path, spec: &'static TableSpec, header: &csv::StringRecord) -> Result<Vec<MappedColumn>> {
    let mut columns: Vec<MappedColumn> = spec.read_columns().map(|c| MappedColumn { spec: c, index: None }).collect();
    for (index, name) in header.iter().enumerate() {
        let name = name.trim().to_lowercase();
        let Some(column) = columns.iter_mut().find(|c| c.spec.name == name) else { continue };
        if column.index.is_some() {
            return Err(csv_error(file, Some(1), Some(column.spec.name), "the column appears twice in the header"));
        }
        column.index = Some(index);
    }
    if let Some(missing) = columns.iter().find(|c| c.spec.required && c.index.is_none()) {
        return Err(csv_error(file, Some(1), Some(missing.spec.name), "required column is missing from the header"));
    }
    Ok(columns)
}
