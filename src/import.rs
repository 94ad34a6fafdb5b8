//! `cwkpi import`: turns a CSV export (one `<table>.csv` per table) into the Parquet
//! export of SPEC §2, so everything downstream reads one format.
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
use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use chrono_tz::Europe::Copenhagen;
use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};

use crate::contract::{ColumnKind, ColumnSpec, TABLES, TableSpec};
use crate::error::{Error, Result};

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
            return Err(Error::Usage(format!("{} cannot be the output folder; name a folder to create", out.display())));
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
        let rename_err = |e: std::io::Error| Error::io(format!("cannot move the import into {}", self.out.display()), e);
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

fn read_error(file: &Path, e: std::io::Error) -> Error {
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
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(separator)
        .has_headers(true)
        .flexible(false)
        .from_reader(tracked);

    let header = reader.headers().map_err(|e| from_csv_error(csv_path, e))?.clone();
    let columns = map_columns(csv_path, spec, &header)?;
    let schema = written_schema(spec);

    let file = File::create(parquet_path).map_err(|e| Error::io(format!("cannot create {}", parquet_path.display()), e))?;
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
    writer
        .write(&batch)
        .map_err(|e| Error::io(format!("cannot write {}", parquet_path.display()), std::io::Error::other(e.to_string())))
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
            DataType::Timestamp(unit, Some(_)) => Field::new(f.name(), DataType::Timestamp(*unit, Some(WRITTEN_ZONE.into())), true),
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
            &format!("has {len} fields where the header has {expected_len} (a broken line, a stray separator or quote?)"),
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

// ---------------------------------------------------------------------------------------
// Reading the bytes as text

/// Opens the file as a stream of UTF-8 bytes, whatever its encoding.
fn open_as_utf8(path: &Path) -> Result<Box<dyn Read>> {
    let open = || File::open(path).map_err(|e| Error::io(format!("cannot open {}", path.display()), e));
    let mut start = [0u8; 3];
    let start_len = read_up_to(&mut open()?, &mut start).map_err(|e| read_error(path, e))?;
    let (encoding, bom_len) = match Encoding::for_bom(&start[..start_len]) {
        Some((encoding, bom_len)) => (encoding, bom_len),
        None if is_valid_utf8(open()?).map_err(|e| read_error(path, e))? => (UTF_8, 0),
        None => (WINDOWS_1252, 0),
    };
    let mut file = open()?;
    let mut bom = [0u8; 3];
    read_up_to(&mut (&mut file).take(bom_len as u64), &mut bom).map_err(|e| read_error(path, e))?;
    if encoding == UTF_8 {
        // Invalid bytes after a UTF-8 byte-order mark surface as a line-numbered error.
        Ok(Box::new(file))
    } else {
        Ok(Box::new(DecodingReader::new(file, encoding)))
    }
}

fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Whether the whole stream is valid UTF-8, read in chunks (a character may straddle two).
fn is_valid_utf8(mut reader: impl Read) -> std::io::Result<bool> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut carried = 0usize;
    loop {
        let n = match reader.read(&mut buf[carried..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(carried == 0);
        }
        let filled = carried + n;
        match std::str::from_utf8(&buf[..filled]) {
            Ok(_) => carried = 0,
            // An incomplete character at the end: keep its bytes for the next read.
            Err(e) if e.error_len().is_none() => {
                let valid = e.valid_up_to();
                buf.copy_within(valid..filled, 0);
                carried = filled - valid;
            }
            Err(_) => return Ok(false),
        }
    }
}

/// Decodes a non-UTF-8 stream (Windows-1252, UTF-16) into UTF-8 as it is read.
struct DecodingReader<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    input: Vec<u8>,
    input_start: usize,
    input_end: usize,
    input_done: bool,
    output: Vec<u8>,
    output_start: usize,
    output_end: usize,
    finished: bool,
}

impl<R: Read> DecodingReader<R> {
    fn new(inner: R, encoding: &'static Encoding) -> Self {
        DecodingReader {
            inner,
            decoder: encoding.new_decoder_without_bom_handling(),
            input: vec![0; 32 * 1024],
            input_start: 0,
            input_end: 0,
            input_done: false,
            // Room for the worst case of three UTF-8 bytes per input byte.
            output: vec![0; 3 * 32 * 1024 + 16],
            output_start: 0,
            output_end: 0,
            finished: false,
        }
    }
}

impl<R: Read> Read for DecodingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.output_start < self.output_end {
                let n = buf.len().min(self.output_end - self.output_start);
                buf[..n].copy_from_slice(&self.output[self.output_start..self.output_start + n]);
                self.output_start += n;
                return Ok(n);
            }
            if self.finished {
                return Ok(0);
            }
            if self.input_start == self.input_end && !self.input_done {
                let n = loop {
                    match self.inner.read(&mut self.input) {
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        other => break other?,
                    }
                };
                self.input_start = 0;
                self.input_end = n;
                self.input_done = n == 0;
            }
            let last = self.input_done;
            let (result, read, written, _) =
                self.decoder.decode_to_utf8(&self.input[self.input_start..self.input_end], &mut self.output, last);
            self.input_start += read;
            self.output_start = 0;
            self.output_end = written;
            if last && result == encoding_rs::CoderResult::InputEmpty {
                self.finished = true;
            }
        }
    }
}

/// The first line, including its line break, read without consuming more.
fn read_header_line(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut line = Vec::new();
    // A header line is short; the limit keeps a file without line breaks in check.
    reader.take(1024 * 1024).read_until(b'\n', &mut line)?;
    Ok(line)
}

/// The separator the header line uses most outside quotes; ties go to `;`, the
/// separator of Danish Excel.
fn detect_separator(header_line: &[u8]) -> u8 {
    let mut counts = [(b';', 0usize), (b'\t', 0), (b',', 0)];
    let mut in_quotes = false;
    for &b in header_line {
        if b == b'"' {
            in_quotes = !in_quotes;
        } else if !in_quotes {
            if let Some(entry) = counts.iter_mut().find(|(sep, _)| *sep == b) {
                entry.1 += 1;
            }
        }
    }
    let mut best = counts[0];
    for entry in counts {
        if entry.1 > best.1 {
            best = entry;
        }
    }
    if best.1 == 0 { b',' } else { best.0 }
}

/// Follows the quoting of the stream the CSV reader consumes, the way the reader does,
/// because the reader silently ends a quoted field at the end of the file: a quote that
/// is never closed would otherwise swallow the rest of the file without an error.
struct QuoteTracker<R> {
    inner: R,
    separator: u8,
    state: QuoteState,
    line: u64,
    opened_on_line: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum QuoteState {
    FieldStart,
    Unquoted,
    Quoted,
    /// A quote inside a quoted field: the field's end, or the first of a doubled quote.
    QuoteInQuoted,
}

impl<R: Read> QuoteTracker<R> {
    fn new(inner: R, separator: u8) -> Self {
        QuoteTracker { inner, separator, state: QuoteState::FieldStart, line: 1, opened_on_line: 1 }
    }

    fn observe(&mut self, bytes: &[u8]) {
        for &b in bytes {
            let ends_field = b == self.separator || b == b'\n' || b == b'\r';
            self.state = match self.state {
                QuoteState::FieldStart if b == b'"' => {
                    self.opened_on_line = self.line;
                    QuoteState::Quoted
                }
                QuoteState::FieldStart | QuoteState::Unquoted | QuoteState::QuoteInQuoted if ends_field => {
                    QuoteState::FieldStart
                }
                QuoteState::QuoteInQuoted if b == b'"' => QuoteState::Quoted,
                QuoteState::FieldStart | QuoteState::Unquoted | QuoteState::QuoteInQuoted => QuoteState::Unquoted,
                QuoteState::Quoted if b == b'"' => QuoteState::QuoteInQuoted,
                QuoteState::Quoted => QuoteState::Quoted,
            };
            if b == b'\n' {
                self.line += 1;
            }
        }
    }

    /// After the whole stream was read: the line of a quote that was never closed.
    fn unterminated_quote_line(&self) -> Option<u64> {
        (self.state == QuoteState::Quoted).then_some(self.opened_on_line)
    }
}

impl<R: Read> Read for QuoteTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.observe(&buf[..n]);
        Ok(n)
    }
}

// ---------------------------------------------------------------------------------------
// Converting fields

const NOT_A_DATE: &str = "not a date (expected yyyy-mm-dd or dd-mm-yyyy)";
const NOT_A_TIMESTAMP: &str = "not a timestamp (expected yyyy-mm-dd hh:mm[:ss] or dd-mm-yyyy hh:mm[:ss])";
const SKIPPED_HOUR: &str =
    "a Copenhagen time in the hour skipped when clocks go forward, which does not exist (write it with its UTC offset)";
/// The zone timestamp columns are written in: instants, whatever zone the CSV wrote.
const WRITTEN_ZONE: &str = "UTC";
const NOT_A_FLAG: &str = "not a yes/no value (expected true/false, 1/0, ja/nej or yes/no)";
const NOT_A_NUMBER: &str = "not a number (expected e.g. 1234.5, 1234,5 or 1.234,50)";

/// Days from 0001-01-01 (day 1 of the common era) to 1970-01-01, the Date32 epoch.
const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// One column of the chunk being built.
enum ColumnBuffer {
    Text(StringBuilder),
    Date(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder),
    Flag { values: BooleanBuilder, default_false: bool },
    Number(Float64Builder),
}

impl ColumnBuffer {
    fn new(spec: &ColumnSpec) -> ColumnBuffer {
        match spec.kind {
            ColumnKind::Id | ColumnKind::Text | ColumnKind::Personal => ColumnBuffer::Text(StringBuilder::new()),
            ColumnKind::Date => ColumnBuffer::Date(Date32Builder::new()),
            ColumnKind::Timestamp => ColumnBuffer::Timestamp(TimestampMicrosecondBuilder::new()),
            ColumnKind::Bool => ColumnBuffer::Flag { values: BooleanBuilder::new(), default_false: spec.default_false },
            ColumnKind::Number => ColumnBuffer::Number(Float64Builder::new()),
        }
    }

    /// Adds one field; the error says what is wrong without quoting the field.
    fn push(&mut self, field: &str, separator_is_semicolon: bool) -> std::result::Result<(), &'static str> {
        let field = field.trim();
        let empty = field.is_empty();
        match self {
            ColumnBuffer::Text(b) => b.append_option((!empty).then_some(field)),
            ColumnBuffer::Date(b) if empty => b.append_null(),
            ColumnBuffer::Date(b) => {
                let date = parse_date(field).or_else(|| parse_timestamp(field).map(|t| t.date())).ok_or(NOT_A_DATE)?;
                b.append_value(date.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE);
            }
            ColumnBuffer::Timestamp(b) if empty => b.append_null(),
            ColumnBuffer::Timestamp(b) => {
                b.append_value(parse_instant(field)?);
            }
            ColumnBuffer::Flag { values, default_false } if empty => {
                if *default_false {
                    values.append_value(false);
                } else {
                    values.append_null();
                }
            }
            ColumnBuffer::Flag { values, .. } => values.append_value(parse_flag(field).ok_or(NOT_A_FLAG)?),
            ColumnBuffer::Number(b) if empty => b.append_null(),
            ColumnBuffer::Number(b) => b.append_value(parse_number(field, separator_is_semicolon).ok_or(NOT_A_NUMBER)?),
        }
        Ok(())
    }

    /// The chunk's array; the buffer starts over empty.
    fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuffer::Text(b) => Arc::new(b.finish()),
            ColumnBuffer::Date(b) => Arc::new(b.finish()),
            ColumnBuffer::Timestamp(b) => Arc::new(b.finish().with_timezone(WRITTEN_ZONE)),
            ColumnBuffer::Flag { values, .. } => Arc::new(values.finish()),
            ColumnBuffer::Number(b) => Arc::new(b.finish()),
        }
    }
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `yyyy-mm-dd` (also with `.` or `/`), or Danish `dd-mm-yyyy`, `dd.mm.yyyy`, `dd/mm/yyyy`.
/// Two-digit years are refused: their century would be a guess.
fn parse_date(s: &str) -> Option<NaiveDate> {
    let separator = s.chars().find(|c| !c.is_ascii_digit())?;
    if !matches!(separator, '-' | '.' | '/') {
        return None;
    }
    let parts: Vec<&str> = s.split(separator).collect();
    let [first, middle, last] = parts.as_slice() else { return None };
    if ![first, middle, last].iter().all(|p| all_digits(p)) || middle.len() > 2 {
        return None;
    }
    let (year, day) = match (first.len(), last.len()) {
        (4, 1..=2) => (first, last),
        (1..=2, 4) => (last, first),
        _ => return None,
    };
    NaiveDate::from_ymd_opt(year.parse().ok()?, middle.parse().ok()?, day.parse().ok()?)
}

/// A date as `parse_date` reads it, then ` ` or `T`, then a time of day, then maybe a
/// UTC offset (`Z`, `+01:00`, `+0100`, `+01`). Without an offset the time is Copenhagen
/// wall-clock time as written; with one it is converted to Copenhagen wall-clock time.
fn parse_timestamp(s: &str) -> Option<NaiveDateTime> {
    let split = s.find([' ', 'T'])?;
    let date = parse_date(&s[..split])?;
    let rest = s[split + 1..].trim();
    let (time, offset_seconds) = split_offset(rest)?;
    let local = date.and_time(parse_time(time)?);
    match offset_seconds {
        None => Some(local),
        Some(offset) => {
            let utc = local.checked_sub_signed(Duration::seconds(offset))?;
            Some(Copenhagen.from_utc_datetime(&utc).naive_local())
        }
    }
}

/// A timestamp as `parse_timestamp` reads it, as an instant (µs since the epoch): with an
/// offset the instant it names; without one Copenhagen wall-clock time, in the repeated
/// autumn hour its first (summer-time) occurrence.
fn parse_instant(s: &str) -> std::result::Result<i64, &'static str> {
    let split = s.find([' ', 'T']).ok_or(NOT_A_TIMESTAMP)?;
    let date = parse_date(&s[..split]).ok_or(NOT_A_TIMESTAMP)?;
    let (time, offset_seconds) = split_offset(s[split + 1..].trim()).ok_or(NOT_A_TIMESTAMP)?;
    let local = date.and_time(parse_time(time).ok_or(NOT_A_TIMESTAMP)?);
    match offset_seconds {
        Some(offset) => Ok(local.checked_sub_signed(Duration::seconds(offset)).ok_or(NOT_A_TIMESTAMP)?.and_utc().timestamp_micros()),
        None => Copenhagen.from_local_datetime(&local).earliest().map(|t| t.timestamp_micros()).ok_or(SKIPPED_HOUR),
    }
}

/// Splits a trailing UTC offset off a time of day; `None` when the offset is malformed.
fn split_offset(s: &str) -> Option<(&str, Option<i64>)> {
    if let Some(time) = s.strip_suffix(['Z', 'z']) {
        return Some((time.trim_end(), Some(0)));
    }
    let Some(sign_at) = s.rfind(['+', '-']) else { return Some((s, None)) };
    let sign = if s[sign_at..].starts_with('-') { -1 } else { 1 };
    let digits: String = s[sign_at + 1..].chars().filter(|c| *c != ':').collect();
    if !all_digits(&digits) {
        return None;
    }
    let (hours, minutes) = match digits.len() {
        2 => (digits.parse::<i64>().ok()?, 0),
        4 => (digits[..2].parse::<i64>().ok()?, digits[2..].parse::<i64>().ok()?),
        _ => return None,
    };
    if hours > 14 || minutes > 59 {
        return None;
    }
    Some((s[..sign_at].trim_end(), Some(sign * (hours * 3600 + minutes * 60))))
}

/// `hh:mm`, `hh:mm:ss`, `hh:mm:ss.ffffff`, or Danish `hh.mm`, `hh.mm.ss`.
fn parse_time(s: &str) -> Option<NaiveTime> {
    let (clock, fraction) = if s.contains(':') {
        match s.split_once(['.', ',']) {
            Some((clock, fraction)) => (clock, Some(fraction)),
            None => (s, None),
        }
    } else {
        (s, None)
    };
    let separator = if clock.contains(':') { ':' } else { '.' };
    let parts: Vec<&str> = clock.split(separator).collect();
    if !parts.iter().all(|p| all_digits(p) && p.len() <= 2) {
        return None;
    }
    let (hour, minute, second) = match parts.as_slice() {
        [h, m] => (h.parse().ok()?, m.parse().ok()?, 0),
        [h, m, sec] => (h.parse().ok()?, m.parse().ok()?, sec.parse().ok()?),
        _ => return None,
    };
    let micros = match fraction {
        None => 0,
        Some(f) if all_digits(f) && f.len() <= 9 => {
            let padded = format!("{f:0<6}");
            padded[..6].parse().ok()?
        }
        Some(_) => return None,
    };
    NaiveTime::from_hms_micro_opt(hour, minute, second, micros)
}

fn parse_flag(s: &str) -> Option<bool> {
    match s.to_lowercase().as_str() {
        "true" | "1" | "ja" | "yes" | "sand" => Some(true),
        "false" | "0" | "nej" | "no" | "falsk" => Some(false),
        _ => None,
    }
}

/// A number with a decimal point or comma and optional thousands separators (`.`, `,`,
/// space). `dot_may_group` says how to read a lone dot before exactly three digits.
fn parse_number(s: &str, dot_may_group: bool) -> Option<f64> {
    let compact: String = s.chars().filter(|c| !matches!(c, ' ' | '\u{a0}' | '\u{202f}')).collect();
    let (negative, body) = match compact.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, compact.strip_prefix('+').unwrap_or(&compact)),
    };
    let dots = body.matches('.').count();
    let commas = body.matches(',').count();
    // (integer part, fraction, thousands separator in the integer part)
    let (integer, fraction, group) = match (body.rfind('.'), body.rfind(',')) {
        (Some(dot), Some(comma)) if comma > dot => (&body[..comma], Some(&body[comma + 1..]), Some('.')),
        (Some(dot), Some(_)) => (&body[..dot], Some(&body[dot + 1..]), Some(',')),
        (None, Some(comma)) if commas == 1 => (&body[..comma], Some(&body[comma + 1..]), None),
        (None, Some(_)) => (body, None, Some(',')),
        (Some(dot), None) if dots == 1 && !(dot_may_group && is_grouped(body, '.')) => {
            (&body[..dot], Some(&body[dot + 1..]), None)
        }
        (Some(_), None) => (body, None, Some('.')),
        (None, None) => (body, None, None),
    };
    let integer_digits: String = match group {
        Some(separator) if is_grouped(integer, separator) => integer.chars().filter(|c| *c != separator).collect(),
        Some(_) => return None,
        None => integer.to_string(),
    };
    let fraction_ok = fraction.is_none_or(all_digits);
    let integer_ok = all_digits(&integer_digits) || (integer_digits.is_empty() && fraction.is_some());
    if !fraction_ok || !integer_ok {
        return None;
    }
    let normalized = format!("{}{}.{}", if negative { "-" } else { "" }, integer_digits, fraction.unwrap_or("0"));
    normalized.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// `1.234.567`: a first group of one to three digits not starting with 0, then groups of
/// exactly three.
fn is_grouped(s: &str, separator: char) -> bool {
    let mut groups = s.split(separator);
    let first_ok = groups.next().is_some_and(|g| all_digits(g) && g.len() <= 3 && !g.starts_with('0'));
    let mut rest_count = 0;
    let rest_ok = groups.all(|g| {
        rest_count += 1;
        g.len() == 3 && all_digits(g)
    });
    first_ok && rest_ok && rest_count > 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Array;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn dates_iso_and_danish() {
        assert_eq!(parse_date("2024-03-07"), Some(date(2024, 3, 7)));
        assert_eq!(parse_date("07-03-2024"), Some(date(2024, 3, 7)));
        assert_eq!(parse_date("7.3.2024"), Some(date(2024, 3, 7)));
        assert_eq!(parse_date("07/03/2024"), Some(date(2024, 3, 7)));
        for bad in ["2024-13-01", "31-02-2024", "07-03-24", "2024-03", "2024-03-07-1", "x", "2024-03-07x", "-03-2024"] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn timestamps() {
        let t = |s| parse_timestamp(s).map(|t| t.to_string());
        assert_eq!(t("2024-03-07 14:05"), Some("2024-03-07 14:05:00".into()));
        assert_eq!(t("2024-03-07T14:05:09"), Some("2024-03-07 14:05:09".into()));
        assert_eq!(t("07-03-2024 14.05"), Some("2024-03-07 14:05:00".into()));
        assert_eq!(t("07-03-2024 14:05:09.25"), Some("2024-03-07 14:05:09.250".into()));
        // Winter: Copenhagen is UTC+1.
        assert_eq!(t("2024-03-07T13:05:00Z"), Some("2024-03-07 14:05:00".into()));
        assert_eq!(t("2024-07-07T14:05:00+02:00"), Some("2024-07-07 14:05:00".into()));
        for bad in ["2024-03-07", "2024-03-07 25:00", "2024-03-07 14", "2024-03-07 14:05+1"] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }

    #[test]
    fn timestamps_as_instants() {
        let utc = |s: &str| parse_instant(s).map(|m| chrono::DateTime::from_timestamp_micros(m).unwrap().to_rfc3339());
        // Naive: Copenhagen time (winter UTC+1, summer UTC+2).
        assert_eq!(utc("2024-03-07 14:05"), Ok("2024-03-07T13:05:00+00:00".into()));
        assert_eq!(utc("2024-07-07 14:05"), Ok("2024-07-07T12:05:00+00:00".into()));
        // The repeated hour of 27 October 2024: naive means the first occurrence; an offset says which.
        assert_eq!(utc("2024-10-27 02:30"), Ok("2024-10-27T00:30:00+00:00".into()));
        assert_eq!(utc("2024-10-27 02:30+01:00"), Ok("2024-10-27T01:30:00+00:00".into()));
        assert_eq!(utc("2024-10-27T01:30:00Z"), Ok("2024-10-27T01:30:00+00:00".into()));
        // 31 March 2024 02:30 does not exist in Copenhagen; with an offset it is a real instant.
        assert_eq!(utc("2024-03-31 02:30"), Err(SKIPPED_HOUR));
        assert_eq!(utc("2024-03-31 02:30+01:00"), Ok("2024-03-31T01:30:00+00:00".into()));
        assert_eq!(utc("2024-03-07"), Err(NOT_A_TIMESTAMP));
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("1234.5", false), Some(1234.5));
        assert_eq!(parse_number("1234,5", true), Some(1234.5));
        assert_eq!(parse_number("1.234,50", true), Some(1234.5));
        assert_eq!(parse_number("1,234.50", false), Some(1234.5));
        assert_eq!(parse_number("-12 500,00", true), Some(-12500.0));
        assert_eq!(parse_number("12.500", true), Some(12500.0));
        assert_eq!(parse_number("12.500", false), Some(12.5));
        assert_eq!(parse_number("0.125", true), Some(0.125));
        assert_eq!(parse_number("1.234.567", false), Some(1234567.0));
        assert_eq!(parse_number(",5", true), Some(0.5));
        for bad in ["", "-", "1,2,3", "1.23,5", "abc", "1e5", "inf", "NaN", "1..2", "1,", "12.34.5"] {
            assert_eq!(parse_number(bad, true), None, "{bad}");
        }
    }

    #[test]
    fn flags() {
        assert_eq!(parse_flag("JA"), Some(true));
        assert_eq!(parse_flag("Nej"), Some(false));
        assert_eq!(parse_flag("FALSK"), Some(false));
        assert_eq!(parse_flag("maybe"), None);
        let mut acute = ColumnBuffer::Flag { values: BooleanBuilder::new(), default_false: true };
        acute.push("", false).unwrap();
        let flags = acute.finish();
        let flags = flags.as_any().downcast_ref::<datafusion::arrow::array::BooleanArray>().unwrap();
        assert_eq!(flags.iter().collect::<Vec<_>>(), vec![Some(false)]);
    }

    #[test]
    fn separators() {
        assert_eq!(detect_separator(b"a;b;c\r\n"), b';');
        assert_eq!(detect_separator(b"a,b,c\n"), b',');
        assert_eq!(detect_separator(b"a\tb\n"), b'\t');
        assert_eq!(detect_separator(b"\"a,x\";b\n"), b';');
        assert_eq!(detect_separator(b"a\n"), b',');
    }

    #[test]
    fn utf8_detection_across_chunks() {
        let text = "æøå".repeat(40_000);
        assert!(is_valid_utf8(text.as_bytes()).unwrap());
        let mut latin = text.into_bytes();
        latin.push(0xE6);
        assert!(!is_valid_utf8(latin.as_slice()).unwrap());
    }

    #[test]
    fn windows_1252_decoding() {
        let mut decoded = String::new();
        DecodingReader::new(&b"S\xf8ren \xc6blegaard \x80"[..], WINDOWS_1252).read_to_string(&mut decoded).unwrap();
        assert_eq!(decoded, "Søren Æblegaard €");
    }

    #[test]
    fn quote_tracking() {
        let mut closed = QuoteTracker::new(&b""[..], b',');
        closed.observe(b"a,\"b\"\"c\nd\",e\n\"f\"");
        assert_eq!(closed.unterminated_quote_line(), None);
        let mut open = QuoteTracker::new(&b""[..], b',');
        open.observe(b"a,b\n1,\"x\n2,y\n");
        assert_eq!(open.unterminated_quote_line(), Some(2));
    }
}
