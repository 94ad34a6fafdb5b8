//! Reading an export folder (docs/export.md) into typed Arrow batches, one raw table each.
//!
//! Every source column is converted to the contract type here, so the SQL never sees
//! the export's type drift: integer ids become strings, timestamps become Copenhagen
//! dates, optional columns missing from a file become nulls. A file or column that
//! cannot be read is a fatal error naming file, table and column.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, TimeZone};
use chrono_tz::Europe::Copenhagen;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, RecordBatchOptions,
    StringArray, TimestampMicrosecondArray, new_null_array,
};
use datafusion::arrow::compute::{cast, concat, concat_batches, is_null};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::arrow::record_batch::RecordBatchReader;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::basic::Type as PhysicalType;

use crate::contract::{ColumnKind, ColumnSpec, TIME_ZONE, TableSpec, copenhagen_midnight};
use crate::cores;
use crate::error::{Error, Result};

/// One table as read: its rows in the raw schema (the contract's columns, all
/// nullable), and which file each came from.
#[derive(Debug)]
pub struct RawTable {
    pub spec: &'static TableSpec,
    /// False for a further table the export does not have (read as empty).
    pub present: bool,
    pub files: Vec<PathBuf>,
    /// Every row, file after file: one batch, so rows are numbered 0..n across files.
    pub batch: RecordBatch,
    /// Where the rows are, in the batch's order: kept beside the data rather than as
    /// columns, since only the few rejected rows ever need it.
    pub sources: Vec<FileRows>,
    /// Rows (numbered across all files) whose naive timestamp names a Copenhagen
    /// wall-clock time that does not exist (the skipped spring hour), with the column:
    /// the value reads as null and the checks reject the row.
    pub nonexistent_times: Vec<(usize, &'static str)>,
}

/// A file (relative to the export folder) and how many rows of the table it holds.
#[derive(Debug, Clone)]
pub struct FileRows {
    pub file: Arc<str>,
    pub rows: usize,
}

impl RawTable {
    /// The table with `sentinel` in its end-date columns read as null ("still open"), for
    /// case systems that write a far date (9999-12-31) rather than none: the rules'
    /// `[export] open_end_sentinel`. In an instant column, any time of that day.
    pub fn with_open_ends(mut self, sentinel: Option<NaiveDate>) -> Result<RawTable> {
        let Some(sentinel) = sentinel else {
            return Ok(self);
        };
        let schema = self.batch.schema();
        let mut columns = self.batch.columns().to_vec();
        for end in self.spec.end_columns() {
            let Ok(index) = schema.index_of(end) else { continue };
            let array = &columns[index];
            let open: BooleanArray = match array.data_type() {
                DataType::Date32 => {
                    let day = datafusion::arrow::datatypes::Date32Type::from_naive_date(sentinel);
                    array
                        .as_primitive::<datafusion::arrow::datatypes::Date32Type>()
                        .iter()
                        .map(|d| Some(d == Some(day)))
                        .collect()
                }
                DataType::Timestamp(TimeUnit::Microsecond, _) => {
                    let (Some(from), Some(until)) =
                        (copenhagen_midnight(sentinel), copenhagen_midnight(sentinel + chrono::Days::new(1)))
                    else {
                        continue;
                    };
                    array
                        .as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>()
                        .iter()
                        .map(|t| Some(t.is_some_and(|t| (from..until).contains(&t))))
                        .collect()
                }
                _ => continue,
            };
            if open.true_count() > 0 {
                columns[index] = datafusion::arrow::compute::nullif(array, &open)
                    .map_err(|e| Error::Internal(format!("{}.{end}: {e}", self.spec.name)))?;
            }
        }
        self.batch =
            RecordBatch::try_new(schema, columns).map_err(|e| Error::Internal(format!("{}: {e}", self.spec.name)))?;
        Ok(self)
    }

    pub fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    /// The file and 1-based row in it of row `row` of the table (rows numbered across
    /// all files from 0).
    pub fn source_of(&self, row: usize) -> Option<(&str, i64)> {
        let mut first = 0usize;
        for source in &self.sources {
            if row < first + source.rows {
                return Some((&source.file, (row - first + 1) as i64));
            }
            first += source.rows;
        }
        None
    }
}

/// Memory freed at once from which it is given back to the system straight away.
const GIVE_BACK_BYTES: usize = 32 << 20;

/// Files with at least this many rows are decoded on several threads.
const PARALLEL_DECODE_ROWS: usize = 256 * 1024;

/// Where a table lives in the export: `<table>.parquet` or a folder `<table>/`.
pub fn table_files(export: &Path, spec: &TableSpec) -> Result<Option<Vec<PathBuf>>> {
    let file = export.join(format!("{}.parquet", spec.name));
    let dir = export.join(spec.name);
    match (file.is_file(), dir.is_dir()) {
        (true, true) => Err(Error::export(
            &dir,
            spec.name,
            None,
            format!("the table is present both as {} and as a folder; keep one", file.display()),
        )),
        (true, false) => Ok(Some(vec![file])),
        (false, true) => {
            let mut files = crate::snapshot::files_below(&dir)?;
            files.retain(|path| path.extension().is_some_and(|e| e == "parquet"));
            files.sort();
            Ok(Some(files))
        }
        (false, false) => Ok(None),
    }
}

/// Reads one table of the export. A missing core table is fatal; a missing further
/// table reads as empty.
pub fn read_table(export: &Path, spec: &'static TableSpec) -> Result<RawTable> {
    let found = table_files(export, spec)?;
    let present = found.is_some();
    let files = match found {
        Some(files) => files,
        None if spec.core => {
            return Err(Error::export(
                &export.join(format!("{}.parquet", spec.name)),
                spec.name,
                None,
                "table is missing (expected this file or a folder of Parquet files)",
            ));
        }
        None => Vec::new(),
    };
    let (mut pieces, mut sources, mut nonexistent_times) = (Vec::new(), Vec::new(), Vec::new());
    let mut rows = 0;
    for file in &files {
        let (batch, nonexistent) = untrusted(file, spec, || read_file(file, spec))?;
        nonexistent_times.extend(nonexistent.into_iter().map(|(row, column)| (rows + row, column)));
        let relative: Arc<str> = file.strip_prefix(export).unwrap_or(file).display().to_string().into();
        sources.push(FileRows { file: relative, rows: batch.num_rows() });
        rows += batch.num_rows();
        pieces.push(batch);
    }
    let batch = one_batch(spec, pieces)?;
    Ok(RawTable { spec, present, files, batch, sources, nonexistent_times })
}

/// Runs `decode` over `file`, whose bytes come from outside: the Parquet decoder can
/// panic on a damaged file, which becomes a fatal data error naming the file and table
/// (see `contained`).
fn untrusted<T>(file: &Path, spec: &TableSpec, decode: impl FnOnce() -> Result<T>) -> Result<T> {
    crate::contained::run(decode).unwrap_or_else(|_| {
        Err(Error::export(file, spec.name, None, "the file is damaged: the Parquet decoder could not read it"))
    })
}

/// About how many bytes the table takes in memory once read, from its files' footers alone
/// (no data is read): fixed-width columns by their width, strings by their bytes as the
/// writer recorded them, else as stored uncompressed, plus their offsets. A file whose
/// footer cannot be read counts nothing here; the reader reports it.
pub fn estimated_memory(export: &Path, spec: &'static TableSpec) -> usize {
    let Ok(Some(files)) = table_files(export, spec) else { return 0 };
    files.iter().map(|file| untrusted(file, spec, || Ok(file_memory(file, spec))).unwrap_or(0)).sum()
}

fn file_memory(path: &Path, spec: &'static TableSpec) -> usize {
    let Ok(file) = File::open(path) else { return 0 };
    let Ok(builder) = ParquetRecordBatchReaderBuilder::try_new(file) else { return 0 };
    let metadata = builder.metadata();
    let rows = usize::try_from(metadata.file_metadata().num_rows()).unwrap_or(0);
    let mut bytes = 0usize;
    for col in spec.read_columns() {
        bytes += match col.kind {
            ColumnKind::Date => 4 * rows,
            ColumnKind::Timestamp | ColumnKind::Number | ColumnKind::Integer { .. } => 8 * rows,
            ColumnKind::Bool => rows.div_ceil(8),
            ColumnKind::Id | ColumnKind::Text | ColumnKind::Personal => {
                let chunks = metadata.row_groups().iter().flat_map(|g| g.columns());
                let text: usize = chunks
                    .filter(|c| c.column_path().parts().first().is_some_and(|name| name == col.name))
                    .map(|c| match c.column_type() {
                        PhysicalType::BYTE_ARRAY | PhysicalType::FIXED_LEN_BYTE_ARRAY => {
                            c.unencoded_byte_array_data_bytes().unwrap_or(c.uncompressed_size())
                        }
                        // An integer id becomes a string of about ten characters.
                        _ => 10 * c.num_values(),
                    })
                    .map(|b| usize::try_from(b).unwrap_or(0))
                    .sum();
                4 * rows + text
            }
        };
    }
    bytes
}

/// The bytes of a table's files on disk (0 where they cannot be listed: the reader says
/// why).
pub fn file_bytes(export: &Path, spec: &TableSpec) -> u64 {
    let Ok(Some(files)) = table_files(export, spec) else { return 0 };
    files.iter().filter_map(|file| file.metadata().ok()).map(|m| m.len()).sum()
}

/// A table left unread: empty, with its presence noted.
pub fn skip_table(export: &Path, spec: &'static TableSpec) -> Result<RawTable> {
    let present = table_files(export, spec)?.is_some();
    let batch = RecordBatch::new_empty(spec.raw_schema());
    Ok(RawTable { spec, present, files: Vec::new(), batch, sources: Vec::new(), nonexistent_times: Vec::new() })
}

/// The files' batches as one, put together column by column, each column's pieces freed
/// once copied: a table of several files is held about once, not twice.
fn one_batch(spec: &TableSpec, mut pieces: Vec<RecordBatch>) -> Result<RecordBatch> {
    let schema = spec.raw_schema();
    if pieces.len() <= 1 {
        return Ok(pieces.pop().unwrap_or_else(|| RecordBatch::new_empty(schema)));
    }
    let rows = pieces.iter().map(RecordBatch::num_rows).sum();
    let mut parts: Vec<Vec<ArrayRef>> = schema.fields().iter().map(|_| Vec::new()).collect();
    for piece in pieces {
        for (part, column) in parts.iter_mut().zip(piece.columns()) {
            part.push(Arc::clone(column));
        }
    }
    let columns = parts
        .into_iter()
        .map(|part| {
            let column = concat(&part.iter().map(|a| a.as_ref()).collect::<Vec<_>>());
            let freed: usize = part.iter().map(|a| a.get_array_memory_size()).sum();
            drop(part);
            // The pieces were decoded on other threads: a large column's memory goes back
            // now, before the next column is copied (`freed_memory`).
            if freed >= GIVE_BACK_BYTES {
                crate::freed_memory::give_back();
            }
            column
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Internal(format!("table {}: {e}", spec.name)))?;
    RecordBatch::try_new_with_options(schema, columns, &RecordBatchOptions::new().with_row_count(Some(rows)))
        .map_err(|e| Error::Internal(format!("table {}: {e}", spec.name)))
}

/// Reads one file of a table: its rows in the raw schema, and the rows (numbered in the
/// file) whose timestamp does not exist in Copenhagen, with the column.
fn read_file(path: &Path, spec: &'static TableSpec) -> Result<(RecordBatch, Vec<(usize, &'static str)>)> {
    let unreadable =
        |e: &dyn std::fmt::Display| Error::export(path, spec.name, None, format!("not a readable Parquet file: {e}"));
    let file = File::open(path).map_err(|e| Error::io_path("open", path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| unreadable(&e))?;
    let file_schema = builder.schema().clone();

    // Decide, before reading any data, where each contract column comes from.
    let mut sources: Vec<Option<usize>> = Vec::new();
    for col in spec.read_columns() {
        match file_schema.index_of(col.name) {
            Ok(idx) => {
                let field = file_schema.field(idx);
                if !convertible(field.data_type(), col.kind) {
                    return Err(Error::export(
                        path,
                        spec.name,
                        Some(col.name),
                        format!("has type {}, which cannot be read as {}", field.data_type(), col.kind.describe()),
                    ));
                }
                sources.push(Some(idx));
            }
            Err(_) if col.required => {
                return Err(Error::export(path, spec.name, Some(col.name), "required column is missing"));
            }
            Err(_) => sources.push(None),
        }
    }
    let roots: Vec<usize> = sources.iter().flatten().copied().collect();
    // One batch per file: the checks need one batch per table, and splitting a file
    // would only have its pieces copied together again.
    let file_rows = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
    let batch_size = file_rows.max(1);
    // A large file is decoded in column groups on several threads (each with its own
    // reader): the largest file of the largest table otherwise bounds the whole load.
    let threads = if file_rows >= PARALLEL_DECODE_ROWS { cores::available() } else { 1 };
    let threads = threads.min(roots.len()).max(1);
    let groups: Vec<Vec<usize>> =
        (0..threads).map(|g| roots.iter().copied().skip(g).step_by(threads).collect()).collect();
    let read_group = |builder: ParquetRecordBatchReaderBuilder<File>, group: &[usize]| -> Result<RecordBatch> {
        let mask = ProjectionMask::roots(builder.parquet_schema(), group.iter().copied());
        let reader = builder.with_projection(mask).with_batch_size(batch_size).build().map_err(|e| unreadable(&e))?;
        let schema = reader.schema();
        let mut batches = reader.map(|b| b.map_err(|e| unreadable(&e))).collect::<Result<Vec<_>>>()?;
        match batches.len() {
            0 | 1 => Ok(batches.pop().unwrap_or_else(|| RecordBatch::new_empty(schema))),
            _ => concat_batches(&schema, &batches).map_err(|e| unreadable(&e)),
        }
    };
    let parts: Vec<RecordBatch> = std::thread::scope(|s| {
        // The first group reads with the reader already open; the others open their own.
        let others: Vec<_> = groups[1..]
            .iter()
            .map(|g| {
                s.spawn(move || {
                    untrusted(path, spec, || {
                        let file = File::open(path).map_err(|e| Error::io_path("open", path, e))?;
                        read_group(ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| unreadable(&e))?, g)
                    })
                })
            })
            .collect();
        let first = read_group(builder, &groups[0]);
        std::iter::once(first)
            .chain(
                others
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err(Error::Internal("a decoding thread failed".into())))),
            )
            .collect::<Result<Vec<_>>>()
    })?;
    let n = parts[0].num_rows();
    if parts.iter().any(|p| p.num_rows() != n) {
        return Err(Error::Internal(format!("{}: column groups decoded into different row counts", path.display())));
    }
    // The column `name`, from whichever group decoded it.
    let column_of = |name: &str| parts.iter().find_map(|p| p.column_by_name(name));
    let raw_schema = spec.raw_schema();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(raw_schema.fields().len());
    let mut nonexistent_times = Vec::new();
    for (col, source) in spec.read_columns().zip(&sources) {
        let array = match source {
            Some(idx) => {
                let name = file_schema.field(*idx).name();
                let source_array = column_of(name).ok_or_else(|| unreadable(&"projected column absent"))?;
                let (array, nonexistent) =
                    convert(source_array, col).map_err(|what| Error::export(path, spec.name, Some(col.name), what))?;
                nonexistent_times.extend(nonexistent.into_iter().map(|row| (row, col.name)));
                array
            }
            None if col.default_false => Arc::new(BooleanArray::from(vec![false; n])),
            None => new_null_array(&col.stored_type(), n),
        };
        columns.push(array);
    }
    let batch =
        RecordBatch::try_new_with_options(raw_schema, columns, &RecordBatchOptions::new().with_row_count(Some(n)))
            .map_err(|e| Error::Internal(format!("{}: table {}: {e}", path.display(), spec.name)))?;
    Ok((batch, nonexistent_times))
}

fn is_string(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_string(v),
        _ => false,
    }
}

fn convertible(t: &DataType, kind: ColumnKind) -> bool {
    match kind {
        ColumnKind::Id => is_string(t) || t.is_integer() || t == &DataType::Null,
        ColumnKind::Text => is_string(t) || t == &DataType::Null,
        ColumnKind::Date | ColumnKind::Timestamp => {
            matches!(t, DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _) | DataType::Null)
        }
        ColumnKind::Bool => matches!(t, DataType::Boolean | DataType::Null),
        ColumnKind::Number | ColumnKind::Integer { .. } => t.is_numeric() || t == &DataType::Null,
        ColumnKind::Personal => true,
    }
}

/// Converts one source column to its contract type, with the rows whose naive timestamp
/// does not exist in Copenhagen. The error text names the problem but never a value
/// (values may be personal data).
fn convert(array: &ArrayRef, col: &ColumnSpec) -> std::result::Result<(ArrayRef, Vec<usize>), String> {
    let target = col.kind.data_type();
    let cast_to = |t: &DataType| cast(array, t).map_err(|e| format!("cannot convert to {}: {e}", col.kind.describe()));
    let converted = match (col.kind, array.data_type()) {
        (ColumnKind::Id, _) => {
            let strings = cast_to(&DataType::Utf8)?;
            empty_as_null(&strings)
        }
        (ColumnKind::Date, DataType::Timestamp(unit, Some(_))) => zoned_to_date(array, *unit)?,
        (ColumnKind::Timestamp, DataType::Timestamp(unit, Some(_))) => {
            let instants: TimestampMicrosecondArray = instants_micros(array, *unit)?.into_iter().collect();
            Arc::new(instants.with_timezone(TIME_ZONE))
        }
        (ColumnKind::Timestamp, DataType::Timestamp(_, None) | DataType::Date32 | DataType::Date64) => {
            return wall_clock_to_instants(&cast_to(&DataType::Timestamp(TimeUnit::Microsecond, None))?);
        }
        // Whole numbers from any numeric type (a column with nulls written from pandas is
        // float), through f64: exact for every value a range admits. A fraction, or a value
        // no i64 holds, becomes i64::MIN, which no range admits: the row is rejected as out
        // of range instead of being truncated or read as null.
        (ColumnKind::Integer { .. }, _) => {
            let floats = cast_to(&DataType::Float64)?;
            let floats = floats.as_any().downcast_ref::<Float64Array>().ok_or("not a number")?;
            let whole = |v: f64| if v.fract() == 0.0 && v.abs() < 9.0e18 { v as i64 } else { i64::MIN };
            Arc::new(floats.iter().map(|v| v.map(whole)).collect::<Int64Array>())
        }
        (ColumnKind::Bool, _) if col.default_false => {
            let flags = cast_to(&DataType::Boolean)?;
            let flags = flags.as_any().downcast_ref::<BooleanArray>().ok_or("not a boolean")?;
            Arc::new(flags.iter().map(|v| Some(v.unwrap_or(false))).collect::<BooleanArray>())
        }
        _ => cast_to(&target)?,
    };
    if col.repeats {
        // One file's column at a time is held as text, then as a dictionary.
        let coded = cast(&converted, &col.stored_type()).map_err(|e| format!("cannot hold as codes: {e}"))?;
        return Ok((coded, Vec::new()));
    }
    Ok((converted, Vec::new()))
}

/// Naive Copenhagen wall-clock times (µs) as instants. In the repeated autumn hour the
/// first (summer-time) occurrence is meant; a time in the skipped spring hour names no
/// instant: it reads as null and its row is listed.
fn wall_clock_to_instants(naive: &ArrayRef) -> std::result::Result<(ArrayRef, Vec<usize>), String> {
    let values = naive.as_any().downcast_ref::<TimestampMicrosecondArray>().ok_or("not a timestamp")?;
    let mut nonexistent = Vec::new();
    let mut instants = Vec::with_capacity(values.len());
    for (row, value) in values.iter().enumerate() {
        let instant = match value {
            None => None,
            Some(micros) => {
                let local = DateTime::from_timestamp_micros(micros).ok_or("timestamp out of range")?.naive_utc();
                match Copenhagen.from_local_datetime(&local).earliest() {
                    Some(t) => Some(t.timestamp_micros()),
                    None => {
                        nonexistent.push(row);
                        None
                    }
                }
            }
        };
        instants.push(instant);
    }
    let instants = TimestampMicrosecondArray::from(instants).with_timezone(TIME_ZONE);
    Ok((Arc::new(instants), nonexistent))
}

fn empty_as_null(strings: &ArrayRef) -> ArrayRef {
    let Some(s) = strings.as_any().downcast_ref::<StringArray>() else { return strings.clone() };
    if !s.iter().any(|v| v == Some("")) {
        return strings.clone();
    }
    Arc::new(s.iter().map(|v| v.filter(|v| !v.is_empty())).collect::<StringArray>())
}

/// Instants of a zoned timestamp column, in microseconds since the epoch (UTC).
fn instants_micros(array: &ArrayRef, unit: TimeUnit) -> std::result::Result<Vec<Option<i64>>, String> {
    let as_i64 = cast(array, &DataType::Timestamp(unit, None))
        .and_then(|a| cast(&a, &DataType::Int64))
        .map_err(|e| format!("cannot read timestamp: {e}"))?;
    let values = as_i64.as_any().downcast_ref::<Int64Array>().ok_or("not a timestamp")?;
    let per_micro = match unit {
        TimeUnit::Second => 1_000_000i64,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1,
        TimeUnit::Nanosecond => 0,
    };
    Ok(values
        .iter()
        .map(|v| v.map(|v| if per_micro == 0 { v.div_euclid(1_000) } else { v.saturating_mul(per_micro) }))
        .collect())
}

/// An instant in Copenhagen time. The instant is absolute; its zone only says how it was
/// written. We always express it in Copenhagen time, as the case system's users see it.
fn copenhagen(micros: i64) -> std::result::Result<DateTime<chrono_tz::Tz>, String> {
    let utc = DateTime::from_timestamp_micros(micros).ok_or("timestamp out of range")?;
    Ok(Copenhagen.from_utc_datetime(&utc.naive_utc()))
}

fn zoned_to_date(array: &ArrayRef, unit: TimeUnit) -> std::result::Result<ArrayRef, String> {
    let days = instants_micros(array, unit)?
        .into_iter()
        .map(|v| v.map(|m| copenhagen(m).map(|t| t.date_naive().to_epoch_days())).transpose())
        .collect::<std::result::Result<Date32Array, String>>()?;
    Ok(Arc::new(days))
}

/// Rows whose required columns hold a null (used by the row checks).
pub fn null_mask(array: &ArrayRef) -> BooleanArray {
    is_null(array.as_ref()).unwrap_or_else(|_| BooleanArray::from(vec![false; array.len()]))
}
