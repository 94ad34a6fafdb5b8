//! How the generated rows are laid out in files. The generator always writes one file per
//! table in the order rows are made (ascending ids, children right after their parents);
//! this step then rearranges them as real case-system exports come, without changing a
//! single row, so every order holds the same rows and gives the same figures:
//!
//! - `sorted`: as written, one `<table>.parquet` per table.
//! - `by-year`: each large table (one with a main event date) a folder of one file per
//!   year of that date, `cases/2019.parquet`, rows in id order within a file only.
//! - `random`: every table in a random order drawn from the seed; the large tables split
//!   over four files, `cases/part-1.parquet` … `part-4.parquet`.
//!
//! The registers (units, caseworkers, children) have no main event date and stay one file.
//! Memory stays bounded: a table is streamed once per year split, and shuffled in passes
//! that each hold a slice of its rows.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use chrono::Datelike;
use datafusion::arrow::array::{Array, AsArray, BooleanArray, RecordBatchReader, UInt32Array};
use datafusion::arrow::compute::{concat_batches, filter_record_batch, take_record_batch};
use datafusion::arrow::datatypes::{DataType, Date32Type, SchemaRef, TimeUnit, TimestampMicrosecondType};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use datafusion::parquet::file::properties::WriterProperties;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::base::{TABLE_NAMES, write_error};
use super::days::date;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Order {
    Random,
    #[default]
    ByYear,
    Sorted,
}

impl Order {
    pub fn as_str(self) -> &'static str {
        match self {
            Order::Random => "random",
            Order::ByYear => "by-year",
            Order::Sorted => "sorted",
        }
    }
}

/// The large tables and the date that places a row in a year: the event the row records.
const MAIN_DATES: [(&str, &str); 10] = [
    ("cases", "opened_on"),
    ("measures", "started_on"),
    ("investigations", "started_on"),
    ("action_plans", "created_on"),
    ("follow_ups", "performed_on"),
    ("notifications", "received_at"),
    ("decisions", "applied_on"),
    ("complaints", "received_on"),
    ("case_events", "occurred_on"),
    ("postings", "posted_on"),
];

/// Files a large table is split over in random order.
const RANDOM_PARTS: u64 = 4;
/// The most rows one shuffle pass holds in memory.
const PASS_ROWS: u64 = 2 << 20;
const READ_BATCH_ROWS: usize = 64 * 1024;
/// Random streams of the shuffle: table k (in `TABLE_NAMES` order) draws from
/// `SHUFFLE_STREAM + k`, apart from every stream that makes rows.
const SHUFFLE_STREAM: u64 = 1 << 35;
const MICROS_PER_DAY: i64 = 86_400_000_000;

fn main_date(table: &str) -> Option<&'static str> {
    MAIN_DATES.iter().find(|(t, _)| *t == table).map(|(_, c)| *c)
}

/// Rearranges the tables written into `dir` (one `<table>.parquet` each) into `order`.
pub fn arrange(dir: &Path, order: Order, seed: u64, props: &WriterProperties) -> Result<()> {
    for (index, &table) in TABLE_NAMES.iter().enumerate() {
        match (order, main_date(table)) {
            (Order::Sorted, _) | (Order::ByYear, None) => {}
            (Order::ByYear, Some(column)) => split_by_year(dir, table, column, props)?,
            (Order::Random, column) => {
                let parts = if column.is_some() { RANDOM_PARTS } else { 1 };
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                rng.set_stream(SHUFFLE_STREAM + index as u64);
                shuffle(dir, table, parts, &rng, props)?;
            }
        }
    }
    Ok(())
}

/// Moves `<table>.parquet` aside (the reader ignores hidden names) and says how many rows
/// it has; None for an empty table, which stays as it is.
fn set_aside(dir: &Path, table: &str) -> Result<Option<(PathBuf, u64)>> {
    let path = dir.join(format!("{table}.parquet"));
    let file = File::open(&path).map_err(|e| Error::io_path("open", &path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| write_error(&path, e))?;
    let rows = u64::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
    if rows == 0 {
        return Ok(None);
    }
    let aside = dir.join(format!(".{table}.sorted.parquet"));
    fs::rename(&path, &aside).map_err(|e| Error::io_path("rename", &path, e))?;
    Ok(Some((aside, rows)))
}

fn read(path: &Path) -> Result<ParquetRecordBatchReader> {
    let file = File::open(path).map_err(|e| Error::io_path("open", path, e))?;
    ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(READ_BATCH_ROWS).build())
        .map_err(|e| write_error(path, e))
}

fn create(path: &Path, schema: SchemaRef, props: &WriterProperties) -> Result<ArrowWriter<BufWriter<File>>> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| Error::io_path("create", parent, e))?;
    }
    let file = File::create(path).map_err(|e| Error::io_path("create", path, e))?;
    ArrowWriter::try_new(BufWriter::new(file), schema, Some(props.clone())).map_err(|e| write_error(path, e))
}

fn close(writer: ArrowWriter<BufWriter<File>>, path: &Path) -> Result<()> {
    let inner = writer.into_inner().map_err(|e| write_error(path, e))?;
    let file = inner.into_inner().map_err(|e| write_error(path, crate::error::copy_io_error(e.error())))?;
    file.sync_all().map_err(|e| Error::io_path("write", path, e))
}

/// Maps a read or write failure of `path` to an error naming it.
fn failed<E: std::error::Error + 'static>(path: &Path) -> impl Fn(E) -> Error + '_ {
    move |e| write_error(path, e)
}

/// The calendar year of each row's value of a date column, or of a naive timestamp's
/// wall-clock date.
fn years(column: &dyn Array) -> Result<Vec<i32>> {
    let year_of_day = |d: i32| date(d).map_or(0, |x| x.year());
    match column.data_type() {
        DataType::Date32 => Ok(column.as_primitive::<Date32Type>().values().iter().map(|&d| year_of_day(d)).collect()),
        DataType::Timestamp(TimeUnit::Microsecond, None) => Ok(column
            .as_primitive::<TimestampMicrosecondType>()
            .values()
            .iter()
            .map(|&t| year_of_day(t.div_euclid(MICROS_PER_DAY) as i32))
            .collect()),
        other => Err(Error::Internal(format!("a main date column of type {other}"))),
    }
}

/// `<table>/<year>.parquet` for each year of the main date: streamed in file order, so
/// each file keeps the rows' order.
fn split_by_year(dir: &Path, table: &str, column: &str, props: &WriterProperties) -> Result<()> {
    let Some((aside, _)) = set_aside(dir, table)? else { return Ok(()) };
    let folder = dir.join(table);
    let mut writers: BTreeMap<i32, (PathBuf, ArrowWriter<BufWriter<File>>)> = BTreeMap::new();
    for batch in read(&aside)? {
        let batch = batch.map_err(failed(&aside))?;
        let array = batch.column_by_name(column).ok_or_else(|| Error::Internal(format!("{table} has no {column}")))?;
        let years = years(array.as_ref())?;
        let mut distinct = years.clone();
        distinct.sort_unstable();
        distinct.dedup();
        for year in distinct {
            let rows: BooleanArray = years.iter().map(|&y| Some(y == year)).collect();
            let part = filter_record_batch(&batch, &rows).map_err(failed(&aside))?;
            let (path, writer) = match writers.entry(year) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    let path = folder.join(format!("{year}.parquet"));
                    let writer = create(&path, batch.schema(), props)?;
                    e.insert((path, writer))
                }
            };
            writer.write(&part).map_err(failed(path))?;
        }
    }
    for (path, writer) in writers.into_values() {
        close(writer, &path)?;
    }
    fs::remove_file(&aside).map_err(|e| Error::io_path("remove", &aside, e))
}

/// The slot of a random key among `slots` equal ranges: monotone in the key.
fn slot(key: u64, slots: u64) -> u64 {
    ((u128::from(key) * u128::from(slots)) >> 64) as u64
}

/// Puts a table's rows in a random order over `parts` files. Each row draws a key from
/// `rng` (in file order, so the key does not depend on how the file is read); the keys'
/// range is cut into `parts × passes` slots, part p holding slots p·passes … and pass r
/// the slots ≡ r. A pass reads the table, keeps its slots' rows, sorts them by key and
/// appends each part's run to that part's file, so every file ends up in key order.
fn shuffle(dir: &Path, table: &str, parts: u64, rng: &ChaCha8Rng, props: &WriterProperties) -> Result<()> {
    let Some((aside, rows)) = set_aside(dir, table)? else { return Ok(()) };
    let paths: Vec<PathBuf> = if parts == 1 {
        vec![dir.join(format!("{table}.parquet"))]
    } else {
        (1..=parts).map(|p| dir.join(table).join(format!("part-{p}.parquet"))).collect()
    };
    let schema = read(&aside)?.schema();
    let mut writers = Vec::with_capacity(paths.len());
    for path in &paths {
        writers.push(create(path, schema.clone(), props)?);
    }
    let passes = rows.div_ceil(PASS_ROWS).max(1);
    let slots = parts * passes;
    for pass in 0..passes {
        let mut rng = rng.clone();
        let mut picked = Vec::new();
        let mut keys = Vec::new();
        for batch in read(&aside)? {
            let batch = batch.map_err(failed(&aside))?;
            let batch_keys: Vec<u64> = (0..batch.num_rows()).map(|_| rng.next_u64()).collect();
            let in_pass: BooleanArray = batch_keys.iter().map(|&k| Some(slot(k, slots) % passes == pass)).collect();
            keys.extend(batch_keys.iter().filter(|&&k| slot(k, slots) % passes == pass));
            picked.push(filter_record_batch(&batch, &in_pass).map_err(failed(&aside))?);
        }
        let picked = concat_batches(&schema, &picked).map_err(failed(&aside))?;
        // Keys tie with negligible chance; the row number keeps even a tie deterministic.
        let mut order: Vec<u32> = (0..picked.num_rows() as u32).collect();
        order.sort_unstable_by_key(|&i| (keys[i as usize], i));
        let part_of: Vec<u64> = order.iter().map(|&i| slot(keys[i as usize], slots) / passes).collect();
        let shuffled = take_record_batch(&picked, &UInt32Array::from(order)).map_err(failed(&aside))?;
        // In key order each part's rows are one run.
        let mut start = 0;
        for (p, (writer, path)) in writers.iter_mut().zip(&paths).enumerate() {
            let length = part_of[start..].iter().take_while(|&&q| q == p as u64).count();
            if length > 0 {
                writer.write(&shuffled.slice(start, length)).map_err(failed(path))?;
            }
            start += length;
        }
    }
    for (writer, path) in writers.into_iter().zip(&paths) {
        close(writer, path)?;
    }
    fs::remove_file(&aside).map_err(|e| Error::io_path("remove", &aside, e))
}
