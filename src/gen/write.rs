//! Writing: one Parquet writer per table, fed by the case maker on one thread while this
//! one encodes, and the manifest.

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;

use chrono::NaiveDate;
use datafusion::arrow::array::{ArrayRef, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};

use super::base::{TABLE_NAMES, write_error};
use super::cases::{CaseMaker, Counters};
use super::days::{Day, day, sub_months};
use super::further::{
    BUDGET_STREAM, DEPARTMENT_STREAM, FURTHER_STREAM, FurtherCounters, FurtherMaker, PLANNED_FURTHER_STREAM,
    PLANNED_STREAM, department_traits,
};
use super::ids::{IdStyle, Ids};
use super::layout::Order;
use super::organisation::Organisation;
use super::rows::{ChunkRows, Columns, FurtherRows};
use super::{
    CASES_PER_SCALE, CHUNK_CASES, FURTHER_BATCH_CASES, GENERATOR, GenOptions, GenSummary, HISTORY_MONTHS,
    ROW_GROUP_ROWS,
};

pub(super) struct TableWriter {
    pub(super) name: &'static str,
    pub(super) schema: SchemaRef,
    pub(super) path: PathBuf,
    pub(super) writer: ArrowWriter<BufWriter<File>>,
    pub(super) rows: usize,
}

/// The type a column is written with: the contract's, except that timestamps are naive
/// Copenhagen wall-clock time, as case systems export them (the reader makes them instants).
pub(super) fn file_type(kind: crate::contract::ColumnKind) -> DataType {
    match kind {
        crate::contract::ColumnKind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        other => other.data_type(),
    }
}

impl TableWriter {
    pub(super) fn create(dir: &Path, name: &'static str, props: &WriterProperties) -> Result<TableWriter> {
        let spec = crate::contract::table(name)
            .ok_or_else(|| Error::Internal(format!("table {name} is not in the contract")))?;
        // The contract's columns, personal data included: the export carries it.
        let fields: Vec<Field> =
            spec.columns.iter().map(|c| Field::new(c.name, file_type(c.kind), !c.required)).collect();
        let schema = Arc::new(Schema::new(fields));
        let path = dir.join(format!("{name}.parquet"));
        let file = File::create(&path).map_err(|e| Error::io_path("create", &path, e))?;
        let writer = ArrowWriter::try_new(BufWriter::new(file), schema.clone(), Some(props.clone()))
            .map_err(|e| write_error(&path, e))?;
        Ok(TableWriter { name, schema, path, writer, rows: 0 })
    }

    /// Writes named columns in the order the contract gives them.
    pub(super) fn write(&mut self, mut columns: Columns) -> Result<()> {
        let mut ordered = Vec::with_capacity(self.schema.fields().len());
        for field in self.schema.fields() {
            let i = columns.iter().position(|(name, _)| name == field.name()).ok_or_else(|| {
                Error::Internal(format!("generator has no column {} for table {}", field.name(), self.name))
            })?;
            ordered.push(columns.swap_remove(i).1);
        }
        let batch = RecordBatch::try_new(self.schema.clone(), ordered).map_err(|e| write_error(&self.path, e))?;
        if batch.num_rows() > 0 {
            self.writer.write(&batch).map_err(|e| write_error(&self.path, e))?;
            self.rows += batch.num_rows();
        }
        Ok(())
    }

    pub(super) fn close(self) -> Result<(&'static str, usize)> {
        let TableWriter { name, path, writer, rows, .. } = self;
        let inner = writer.into_inner().map_err(|e| write_error(&path, e))?;
        let file = inner.into_inner().map_err(|e| write_error(&path, crate::error::copy_io_error(e.error())))?;
        file.sync_all().map_err(|e| Error::io_path("write", &path, e))?;
        Ok((name, rows))
    }
}

pub(super) fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build()
}

/// Writes the export into `dir` (which exists and is empty): the rows, one file per table
/// in the order they are made, then laid out in the order asked for, then the manifest.
pub(super) fn write_export(opts: &GenOptions, dir: &Path) -> Result<GenSummary> {
    let props = writer_properties();
    let rows = write_rows(opts, dir, &props)?;
    super::layout::arrange(dir, opts.order, opts.seed, &props)?;
    write_manifest(opts, dir)?;
    Ok(GenSummary { rows })
}

/// Writes every table into `dir` as `<table>.parquet`, rows in the order they are made;
/// returns the rows per table.
pub(super) fn write_rows(
    opts: &GenOptions,
    dir: &Path,
    props: &WriterProperties,
) -> Result<Vec<(&'static str, usize)>> {
    let ids = Ids::new(opts.ids, opts.seed);
    let mut writers = Vec::with_capacity(TABLE_NAMES.len());
    for name in TABLE_NAMES {
        writers.push(TableWriter::create(dir, name, props)?);
    }

    let mut org_rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let org = Organisation::build(opts.scale, ids, opts.skew, &mut org_rng);
    let mut unit_rows = (StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
    for (id, name, parent) in &org.units {
        unit_rows.0.append_value(id);
        unit_rows.1.append_value(name);
        unit_rows.2.append_option(parent.as_deref());
    }
    writers[0].write(vec![
        ("unit_id", Arc::new(unit_rows.0.finish()) as ArrayRef),
        ("name", Arc::new(unit_rows.1.finish())),
        ("parent_id", Arc::new(unit_rows.2.finish())),
    ])?;
    let mut worker_rows = (StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
    for (id, name, unit) in &org.caseworkers {
        worker_rows.0.append_value(id);
        worker_rows.1.append_value(name);
        worker_rows.2.append_value(unit);
    }
    writers[1].write(vec![
        ("caseworker_id", Arc::new(worker_rows.0.finish()) as ArrayRef),
        ("name", Arc::new(worker_rows.1.finish())),
        ("unit_id", Arc::new(worker_rows.2.finish())),
    ])?;

    let as_of = day(opts.as_of);
    let total_cases = ((opts.scale * CASES_PER_SCALE).round() as u64).max(1);
    let mut maker = CaseMaker {
        org: &org,
        ids,
        as_of,
        history_start: sub_months(as_of, HISTORY_MONTHS),
        law_change: NaiveDate::from_ymd_opt(2024, 1, 1).map(day).unwrap_or(Day::MAX),
        total_cases,
        counters: Counters::default(),
    };
    let seed = opts.seed;
    let future_share = opts.future_share;
    let mut department_rng = ChaCha8Rng::seed_from_u64(seed);
    department_rng.set_stream(DEPARTMENT_STREAM);
    let mut further = FurtherMaker {
        org: &org,
        ids,
        traits: department_traits(&org, &mut department_rng),
        as_of,
        history_start: maker.history_start,
        law_change: maker.law_change,
        counters: FurtherCounters::default(),
        events: Vec::new(),
        spending: Default::default(),
    };

    // One thread makes chunks while this one encodes the previous one; the channel holds
    // one message (a chunk's core rows, or a batch of its further rows), which bounds
    // memory. A message pairs each table's columns with its index in `writers`.
    let first_core = TABLE_NAMES.iter().position(|t| *t == "children").unwrap_or(2);
    let first_further = TABLE_NAMES.iter().position(|t| *t == "notifications").unwrap_or(8);
    let (sender, receiver) = mpsc::sync_channel::<Vec<(usize, Columns)>>(1);
    std::thread::scope(|scope| -> Result<()> {
        let maker = &mut maker;
        let further = &mut further;
        let producer = scope.spawn(move || {
            let mut rows = ChunkRows::default();
            let mut further_rows = FurtherRows::default();
            let mut first = 1u64;
            let mut chunk = 0u64;
            while first <= total_cases {
                let last = (first + CHUNK_CASES - 1).min(total_cases);
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                rng.set_stream(chunk + 1);
                maker.make_chunk(&mut rng, first, last, &mut rows);
                if future_share > 0.0 {
                    let mut planned_rng = ChaCha8Rng::seed_from_u64(seed);
                    planned_rng.set_stream(PLANNED_STREAM + chunk);
                    maker.planned_rows(&mut planned_rng, future_share, &mut rows);
                }
                let mut facts = std::mem::take(&mut rows.facts);
                let core = rows.take().into_iter().enumerate().map(|(i, c)| (first_core + i, c)).collect();
                if sender.send(core).is_err() {
                    return; // the writer stopped on an error, which it reports
                }
                // The further tables draw from their own stream, so the core rows above
                // are the same with or without them.
                let mut further_rng = ChaCha8Rng::seed_from_u64(seed);
                further_rng.set_stream(FURTHER_STREAM + chunk);
                let mut planned_rng = ChaCha8Rng::seed_from_u64(seed);
                planned_rng.set_stream(PLANNED_FURTHER_STREAM + chunk);
                for batch in facts.chunks(FURTHER_BATCH_CASES) {
                    further.make_chunk(&mut further_rng, batch, &mut further_rows);
                    if future_share > 0.0 {
                        further.planned_postings(&mut planned_rng, future_share, batch, &mut further_rows.postings);
                    }
                    let columns =
                        further_rows.take().into_iter().enumerate().map(|(i, c)| (first_further + i, c)).collect();
                    if sender.send(columns).is_err() {
                        return;
                    }
                }
                facts.clear();
                rows.facts = facts;
                first = last + 1;
                chunk += 1;
            }
            // The budgets, once every posting is made, from a stream of their own.
            let mut budget_rng = ChaCha8Rng::seed_from_u64(seed);
            budget_rng.set_stream(BUDGET_STREAM);
            let budgets = super::budgets::budgets(further.org, &further.spending, further.as_of, &mut budget_rng);
            let _ = sender.send(vec![(first_further + 5, budgets)]);
        });
        let mut outcome = Ok(());
        for message in receiver.iter() {
            for (index, columns) in message {
                outcome = match writers.get_mut(index) {
                    Some(writer) => writer.write(columns),
                    None => Err(Error::Internal(format!("no writer for table number {index}"))),
                };
                if outcome.is_err() {
                    break;
                }
            }
            if outcome.is_err() {
                break;
            }
        }
        drop(receiver);
        producer.join().map_err(|_| Error::Internal("the case generator stopped unexpectedly".into()))?;
        outcome
    })?;

    writers.into_iter().map(TableWriter::close).collect()
}

/// `manifest.json`: the export date, and what made the export. The shape options are
/// named only where they differ from one sorted file per table with numeric ids, so such
/// an export's manifest reads as it always did.
pub(super) fn write_manifest(opts: &GenOptions, dir: &Path) -> Result<()> {
    let mut manifest = serde_json::json!({
        "export_date": opts.as_of.format("%Y-%m-%d").to_string(),
        "generator": GENERATOR,
        "scale": opts.scale,
        "seed": opts.seed,
    });
    let shape = [
        ("order", (opts.order != Order::Sorted).then(|| serde_json::json!(opts.order.as_str()))),
        ("ids", (opts.ids != IdStyle::Numeric).then(|| serde_json::json!(opts.ids.as_str()))),
        ("future_share", (opts.future_share > 0.0).then(|| serde_json::json!(opts.future_share))),
        ("skew", opts.skew.then_some(serde_json::json!(true))),
    ];
    for (key, value) in shape {
        if let Some(value) = value {
            manifest[key] = value;
        }
    }
    let path = dir.join("manifest.json");
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| write_error(&path, e))? + "\n";
    fs::write(&path, text).map_err(|e| Error::io_path("write", &path, e))
}
