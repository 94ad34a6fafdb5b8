//! Row checks (SPEC §6 "rejected row"): a row that breaks the contract is left out of
//! every figure and listed with its reason. The rules come from the contract (required
//! columns, ids, references, date order), so one mechanism checks every table.
//!
//! Tables are checked parents first, and a reference must hit a *kept* parent row, so a
//! rejection cascades: the measures of a rejected case are rejected as dangling too.
//!
//! A row that breaks several rules is listed with the first, in this order: required
//! value (a time that does not exist comes first), duplicate id, references (in contract
//! order), date order, unit tree.
//!
//! Speed matters here (millions of rows on every run): the checks that need no parent
//! run for all tables at once, each table's ids are hashed once and serve both the
//! duplicate check and its children's reference checks, and reference lookups are split
//! over the cores. Rejected rows are rare, so reasons are kept sparse.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray};
use datafusion::arrow::compute::{cast, concat_batches, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Date32Type, Int64Type};
// hashbrown with foldhash: several times faster than std's SipHash on millions of ids.
use datafusion::common::{HashMap, HashSet};

use crate::contract::{Reference, TableSpec};
use crate::error::{Error, Result};
use crate::export::RawTable;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    NonexistentTime,
    NullRequired,
    DuplicateId,
    Dangling,
    EndBeforeStart,
    ParentCycle,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::NonexistentTime => "time that does not exist in Copenhagen (skipped hour)",
            Rule::NullRequired => "null in required column",
            Rule::DuplicateId => "duplicate id",
            Rule::Dangling => "dangling reference",
            Rule::EndBeforeStart => "end before start",
            Rule::ParentCycle => "cycle in unit tree",
        }
    }
}

/// One rejected row: where it is, why, and the ids/dates that locate it.
#[derive(Debug, Clone)]
pub struct Rejection {
    pub table: &'static str,
    pub file: String,
    pub row: i64,
    pub rule: Rule,
    pub column: String,
    pub locator: String,
}

/// A checked table: its kept rows (contract columns only) and what was rejected.
#[derive(Debug, Clone)]
pub struct CheckedTable {
    pub spec: &'static TableSpec,
    /// False for a further table the export does not have (then empty).
    pub present: bool,
    pub rows_read: usize,
    pub kept: RecordBatch,
    pub rejected: Vec<Rejection>,
}

/// The rejected rows of a table (row number → rule and column). A row keeps the first
/// reason it is given, so rules must be applied in the documented order.
#[derive(Debug, Default, Clone)]
struct Reasons(HashMap<u32, (Rule, &'static str)>);

impl Reasons {
    fn add(&mut self, row: usize, rule: Rule, column: &'static str) {
        self.0.entry(row as u32).or_insert((rule, column));
    }

    /// Adds reasons found by a later rule: rows already rejected keep their reason.
    fn then(&mut self, later: &Reasons) {
        for (&row, &reason) in &later.0 {
            self.0.entry(row).or_insert(reason);
        }
    }

    fn rejects(&self, row: usize) -> bool {
        self.0.contains_key(&(row as u32))
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Tables up to this many rows are always hashed.
const SMALL_TABLE_ROWS: usize = 1 << 16;

/// The order ids are listed in: shorter first, then byte by byte. For ids with a fixed
/// prefix and a number ("C999999", "C1000000", or plain integers) this is numeric order,
/// which is how case systems number and export their rows.
fn id_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.as_bytes().cmp(b.as_bytes()))
}

/// Where each id of a table is. Exports usually list ids in ascending order, and then no
/// hash table is needed: the ids are unique, and a child finds its parent by galloping
/// from where its previous lookup ended, which costs a comparison or two when children
/// come in their parents' order (7M lookups into hash tables of millions of ids, each a
/// cache miss, were half of the load time at scale 100). Any other order is hashed.
pub(crate) enum IdIndex<'a> {
    /// Row i holds the i-th smallest id in `id_order`; no nulls.
    Ascending(&'a StringArray),
    /// Each id → its first row.
    Hashed(HashMap<&'a str, u32>),
}

impl<'a> IdIndex<'a> {
    /// An index of a column of unique ids (a checked table's id column).
    pub(crate) fn of_unique(ids: &'a StringArray) -> IdIndex<'a> {
        if ids.len() > SMALL_TABLE_ROWS && Self::is_strictly_ascending(ids) {
            IdIndex::Ascending(ids)
        } else {
            IdIndex::Hashed((0..ids.len()).filter(|&i| ids.is_valid(i)).map(|i| (ids.value(i), i as u32)).collect())
        }
    }

    fn is_strictly_ascending(ids: &StringArray) -> bool {
        ids.null_count() == 0 && (1..ids.len()).all(|i| id_order(ids.value(i - 1), ids.value(i)).is_lt())
    }

    /// The row of `key`. `hint` is where the previous lookup ended; it is updated.
    pub(crate) fn find(&self, key: &str, hint: &mut usize) -> Option<u32> {
        match self {
            IdIndex::Hashed(map) => map.get(key).copied(),
            IdIndex::Ascending(ids) => {
                let n = ids.len();
                if n == 0 {
                    return None;
                }
                let h = (*hint).min(n - 1);
                // Gallop from the hint to a range [lo, hi) that holds key's position.
                let (mut lo, mut hi) = match id_order(ids.value(h), key) {
                    std::cmp::Ordering::Equal => return Some(h as u32),
                    std::cmp::Ordering::Less => {
                        let (mut lo, mut step) = (h + 1, 1);
                        loop {
                            let probe = h + step;
                            if probe >= n {
                                break (lo, n);
                            }
                            if id_order(ids.value(probe), key).is_ge() {
                                break (lo, probe + 1);
                            }
                            lo = probe + 1;
                            step *= 2;
                        }
                    }
                    std::cmp::Ordering::Greater => {
                        let (mut hi, mut step) = (h, 1);
                        loop {
                            if step > h {
                                break (0, hi);
                            }
                            let probe = h - step;
                            if id_order(ids.value(probe), key).is_le() {
                                break (probe, hi);
                            }
                            hi = probe;
                            step *= 2;
                        }
                    }
                };
                // Binary search: the first position in [lo, hi) whose id is not below key.
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    if id_order(ids.value(mid), key).is_lt() {
                        lo = mid + 1;
                    } else {
                        hi = mid;
                    }
                }
                *hint = lo.min(n - 1);
                (lo < n && ids.value(lo) == key).then_some(lo as u32)
            }
        }
    }
}

/// A table read, with the results of the checks that need no other table.
struct Prepared<'a> {
    spec: &'static TableSpec,
    batch: &'a RecordBatch,
    /// Each id → its first row; children look their references up here.
    ids: IdIndex<'a>,
    /// Required values and duplicate ids (rules that come before references).
    before_references: Reasons,
    /// Date order (the rule after references).
    after_references: Reasons,
}

fn columns_of<'a>(batch: &'a RecordBatch, columns: &[&str]) -> Result<Vec<&'a ArrayRef>> {
    columns
        .iter()
        .map(|c| batch.column_by_name(c).ok_or_else(|| Error::Internal(format!("column {c} missing in checked table"))))
        .collect()
}

fn string_columns<'a>(batch: &'a RecordBatch, columns: &[&str]) -> Result<Vec<&'a StringArray>> {
    columns_of(batch, columns)?
        .into_iter()
        .zip(columns)
        .map(|(a, c)| a.as_string_opt::<i32>().ok_or_else(|| Error::Internal(format!("column {c} is not a string column"))))
        .collect()
}

/// Required values, duplicate ids and date order: the rules that need no parent table.
fn prepare<'a>(spec: &'static TableSpec, batch: &'a RecordBatch, nonexistent_times: &[(usize, &'static str)]) -> Result<Prepared<'a>> {
    let n = batch.num_rows();
    if u32::try_from(n).is_err() {
        return Err(Error::Usage(format!("table {} has {n} rows; at most {} are supported", spec.name, u32::MAX)));
    }
    let mut before_references = Reasons::default();
    for &(row, column) in nonexistent_times {
        before_references.add(row, Rule::NonexistentTime, column);
    }
    for col in spec.read_columns().filter(|c| c.required) {
        let array = columns_of(batch, &[col.name])?[0];
        if array.null_count() > 0 {
            for i in (0..n).filter(|&i| array.is_null(i)) {
                before_references.add(i, Rule::NullRequired, col.name);
            }
        }
    }

    let id_values = string_columns(batch, &[spec.id_column])?[0];
    // A small table's hash table stays in cache, and children (cases → caseworkers, units)
    // refer to it in no particular order: hash it.
    let ids = if n > SMALL_TABLE_ROWS && IdIndex::is_strictly_ascending(id_values) {
        // Ascending ids are unique: nothing to hash.
        IdIndex::Ascending(id_values)
    } else {
        // One pass finds each id's first row and the ids seen twice; every copy of a
        // duplicated id is rejected, so the result does not depend on row order.
        let mut ids: HashMap<&str, u32> = HashMap::with_capacity(n);
        let mut duplicated: HashSet<&str> = HashSet::new();
        for i in (0..n).filter(|&i| id_values.is_valid(i)) {
            let id = id_values.value(i);
            if ids.try_insert(id, i as u32).is_err() {
                duplicated.insert(id);
            }
        }
        if !duplicated.is_empty() {
            for i in (0..n).filter(|&i| id_values.is_valid(i) && duplicated.contains(id_values.value(i))) {
                before_references.add(i, Rule::DuplicateId, spec.id_column);
            }
        }
        IdIndex::Hashed(ids)
    };

    let mut after_references = Reasons::default();
    for (start, end) in spec.ordered {
        let arrays = columns_of(batch, &[start, end])?;
        // Dates (days) or instants (µs): both ends of a pair have the same type.
        let as_i64 = |a: &ArrayRef| cast(a, &DataType::Int64).map_err(|e| Error::Internal(format!("{}.{start}: {e}", spec.name)));
        let (s, e) = (as_i64(arrays[0])?, as_i64(arrays[1])?);
        let (s, e) = (s.as_primitive::<Int64Type>(), e.as_primitive::<Int64Type>());
        for i in 0..n {
            if s.is_valid(i) && e.is_valid(i) && e.value(i) < s.value(i) {
                after_references.add(i, Rule::EndBeforeStart, end);
            }
        }
    }
    Ok(Prepared { spec, batch, ids, before_references, after_references })
}

/// Rows `rows` of `child` whose reference `r` misses a kept row of `parent`. A null in
/// any referring column means "no reference", which is always fine.
fn dangling_rows(
    child: &Prepared<'_>,
    r: &Reference,
    parent: &Prepared<'_>,
    parent_reasons: &Reasons,
    rows: std::ops::Range<usize>,
) -> Result<Vec<u32>> {
    if r.parent_columns.first() != Some(&parent.spec.id_column) || r.parent_columns.len() != r.columns.len() {
        return Err(Error::Internal(format!(
            "reference {}.{:?} must name {}'s id column first",
            child.spec.name, r.columns, r.parent
        )));
    }
    let referring = string_columns(child.batch, r.columns)?;
    // Columns after the id must match the values of the parent row with that id.
    let parent_rest = string_columns(parent.batch, &r.parent_columns[1..])?;
    let mut dangling = Vec::new();
    let mut last: Option<(&str, Option<u32>)> = None;
    let mut hint = 0;
    for i in rows {
        if referring.iter().any(|a| a.is_null(i)) {
            continue;
        }
        let key = referring[0].value(i);
        // Exports list a parent's children together: remember the last lookup.
        let parent_row = match last {
            Some((last_key, row)) if last_key == key => row,
            _ => {
                let row = parent.ids.find(key, &mut hint);
                last = Some((key, row));
                row
            }
        };
        let hit = parent_row.is_some_and(|p| {
            let p = p as usize;
            // All copies of a duplicated id are rejected, so the first row decides.
            !parent_reasons.rejects(p)
                && parent_rest.iter().zip(&referring[1..]).all(|(pa, ca)| pa.is_valid(p) && pa.value(p) == ca.value(i))
        });
        if !hit {
            dangling.push(i as u32);
        }
    }
    Ok(dangling)
}

fn worker_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn join_all<T>(handles: Vec<std::thread::ScopedJoinHandle<'_, Result<T>>>) -> Vec<Result<T>> {
    handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(Error::Internal("a check thread failed".into())))).collect()
}

/// Checks all tables, parents first.
pub fn check_all(raw: &[RawTable]) -> Result<Vec<CheckedTable>> {
    // One batch per table: rows are then numbered 0..n across its files.
    let batches: Vec<RecordBatch> = std::thread::scope(|s| {
        let handles: Vec<_> = raw
            .iter()
            .map(|t| {
                s.spawn(move || match t.batches.as_slice() {
                    [single] => Ok(single.clone()),
                    batches => concat_batches(&t.spec.raw_schema(), batches).map_err(|e| Error::Internal(e.to_string())),
                })
            })
            .collect();
        join_all(handles).into_iter().collect::<Result<Vec<_>>>()
    })?;
    let prepared: Vec<Prepared<'_>> = std::thread::scope(|s| {
        let handles: Vec<_> = raw.iter().zip(&batches).map(|(t, b)| s.spawn(move || prepare(t.spec, b, &t.nonexistent_times))).collect();
        join_all(handles).into_iter().collect::<Result<Vec<_>>>()
    })?;

    // Reference checks, in rounds: a table is checked once all its parents are.
    let mut reasons: Vec<Option<Reasons>> = raw.iter().map(|_| None).collect();
    let position = |name: &str| raw.iter().position(|t| t.spec.name == name);
    while reasons.iter().any(Option::is_none) {
        let ready: Vec<usize> = (0..raw.len())
            .filter(|&t| reasons[t].is_none())
            .filter(|&t| {
                let spec = raw[t].spec;
                spec.references
                    .iter()
                    .all(|r| r.parent == spec.name || position(r.parent).is_some_and(|p| reasons[p].is_some()))
            })
            .collect();
        if ready.is_empty() {
            return Err(Error::Internal("tables reference each other in a loop, or a parent table is missing".into()));
        }
        // Every (table, reference, slice of rows) is one task, so a single large table
        // still uses every core.
        let mut tasks: Vec<(usize, usize, std::ops::Range<usize>)> = Vec::new();
        for &t in &ready {
            let spec = raw[t].spec;
            let n = prepared[t].batch.num_rows();
            let slice = n.div_ceil(worker_count()).max(64 * 1024);
            for (k, _) in spec.references.iter().enumerate().filter(|(_, r)| r.parent != spec.name) {
                for start in (0..n).step_by(slice) {
                    tasks.push((t, k, start..(start + slice).min(n)));
                }
            }
        }
        let found: Vec<Result<Vec<u32>>> = std::thread::scope(|s| {
            let (prepared, reasons) = (&prepared, &reasons);
            let handles: Vec<_> = tasks
                .iter()
                .map(|(t, k, rows)| {
                    s.spawn(move || {
                        let r = &raw[*t].spec.references[*k];
                        let p = position(r.parent).ok_or_else(|| Error::Internal(format!("no table {}", r.parent)))?;
                        let parent_reasons = reasons[p].as_ref().ok_or_else(|| Error::Internal(format!("{} not checked", r.parent)))?;
                        dangling_rows(&prepared[*t], r, &prepared[p], parent_reasons, rows.clone())
                    })
                })
                .collect();
            join_all(handles)
        });
        let mut found: Vec<((usize, usize), Vec<u32>)> =
            tasks.iter().map(|(t, k, _)| (*t, *k)).zip(found.into_iter().collect::<Result<Vec<_>>>()?).collect();
        for &t in &ready {
            let table = &prepared[t];
            let mut table_reasons = table.before_references.clone();
            // References in contract order, then date order, then the unit tree.
            found.sort_by_key(|((t, k), _)| (*t, *k));
            for ((_, k), rows) in found.iter().filter(|((ft, _), _)| *ft == t) {
                let column = table.spec.references[*k].columns[0];
                for &row in rows {
                    table_reasons.add(row as usize, Rule::Dangling, column);
                }
            }
            table_reasons.then(&table.after_references);
            for r in table.spec.references.iter().filter(|r| r.parent == table.spec.name) {
                check_tree(table.batch, table.spec.id_column, r.columns[0], &mut table_reasons)?;
            }
            reasons[t] = Some(table_reasons);
        }
    }

    let reasons: Vec<Reasons> = reasons.into_iter().flatten().collect();
    std::thread::scope(|s| {
        let handles: Vec<_> =
            raw.iter().zip(&batches).zip(&reasons).map(|((t, b), r)| s.spawn(move || keep_rows(t, b, r))).collect();
        join_all(handles).into_iter().collect()
    })
}

/// The kept rows of a table in the contract schema, and its rejections in row order.
fn keep_rows(raw: &RawTable, batch: &RecordBatch, reasons: &Reasons) -> Result<CheckedTable> {
    let spec = raw.spec;
    let rejected = rejections(raw, batch, reasons)?;
    // Most exports reject nothing: then the rows are kept as they are, without a copy.
    let kept = if reasons.is_empty() {
        batch.clone()
    } else {
        let keep: BooleanArray = (0..batch.num_rows()).map(|i| Some(!reasons.rejects(i))).collect();
        filter_record_batch(batch, &keep).map_err(|e| Error::Internal(e.to_string()))?
    };
    let kept = RecordBatch::try_new(spec.schema(), kept.columns().to_vec())
        .map_err(|e| Error::Internal(format!("table {}: {e}", spec.name)))?;
    Ok(CheckedTable { spec, present: raw.present, rows_read: batch.num_rows(), kept, rejected })
}

/// A self-reference (unit → parent unit) must lead to a root through kept rows: rows
/// whose chain hits a missing or rejected parent are dangling, rows on a loop are cycles.
fn check_tree(batch: &RecordBatch, id_column: &str, parent_column: &'static str, reasons: &mut Reasons) -> Result<()> {
    let arrays = string_columns(batch, &[id_column, parent_column])?;
    let (ids, parents) = (arrays[0], arrays[1]);
    let row_of: HashMap<&str, usize> =
        (0..batch.num_rows()).filter(|&i| !reasons.rejects(i)).map(|i| (ids.value(i), i)).collect();
    // 0 = unknown, 1 = leads to a root, 2 = broken. Rows are walked in row order so the
    // outcome does not depend on hashing.
    let mut state = vec![0u8; batch.num_rows()];
    let mut starts: Vec<usize> = row_of.values().copied().collect();
    starts.sort_unstable();
    for start in starts {
        let mut path: Vec<usize> = Vec::new();
        let mut i = start;
        let (outcome, loop_start) = loop {
            if state[i] != 0 {
                break (state[i], None);
            }
            if let Some(pos) = path.iter().position(|&p| p == i) {
                break (2, Some(pos));
            }
            path.push(i);
            if parents.is_null(i) {
                break (1, None);
            }
            match row_of.get(parents.value(i)) {
                Some(&p) => i = p,
                None => break (2, None),
            }
        };
        for (n, &p) in path.iter().enumerate() {
            state[p] = outcome;
            if outcome == 2 {
                // Rows on the loop itself are a cycle; rows that merely lead into it dangle.
                let rule = if loop_start.is_some_and(|s| n >= s) { Rule::ParentCycle } else { Rule::Dangling };
                reasons.add(p, rule, parent_column);
            }
        }
    }
    Ok(())
}

/// The rejections of a table in row order, each with its file and row in that file.
fn rejections(raw: &RawTable, batch: &RecordBatch, reasons: &Reasons) -> Result<Vec<Rejection>> {
    let spec = raw.spec;
    let locators = columns_of(batch, spec.locator)?;
    let mut rows: Vec<(&u32, &(Rule, &'static str))> = reasons.0.iter().collect();
    rows.sort_unstable_by_key(|(row, _)| **row);
    rows.into_iter()
        .map(|(&i, &(rule, column))| {
            let (file, row) = raw.source_of(i as usize).ok_or_else(|| Error::Internal(format!("{}: row {i} has no source", spec.name)))?;
            Ok(Rejection {
                table: spec.name,
                file: file.to_string(),
                row,
                rule,
                column: column.to_string(),
                locator: locator(spec.locator, &locators, i as usize),
            })
        })
        .collect()
}

/// "case_id=C1 opened_on=2025-01-02": the ids and dates of a row, never other values.
fn locator(names: &[&str], arrays: &[&ArrayRef], i: usize) -> String {
    let mut parts = Vec::new();
    for (name, a) in names.iter().zip(arrays) {
        if a.is_null(i) {
            continue;
        }
        let value = match a.data_type() {
            DataType::Utf8 => a.as_string::<i32>().value(i).to_string(),
            DataType::Date32 => a.as_primitive::<Date32Type>().value_as_date(i).map(|d| d.to_string()).unwrap_or_default(),
            DataType::Timestamp(_, _) => datafusion::arrow::util::display::array_value_to_string(a, i).unwrap_or_default(),
            _ => continue,
        };
        parts.push(format!("{name}={value}"));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, Date32Array, StringArray, new_null_array};

    use super::*;
    use crate::contract::TABLES;
    use crate::export::BatchSource;

    fn ids(prefix: &str, numbers: impl Iterator<Item = usize>) -> Vec<String> {
        numbers.map(|n| format!("{prefix}{n}")).collect()
    }

    #[test]
    fn id_order_is_numeric_for_prefixed_numbers() {
        assert!(id_order("C999999", "C1000000").is_lt());
        assert!(id_order("9", "10").is_lt());
        assert!(id_order("C2", "C2").is_eq());
        assert!(id_order("C10", "C09").is_gt());
    }

    #[test]
    fn ascending_index_finds_what_a_hash_map_finds() {
        // C1 … C5000 with every third number missing, so lookups hit gaps too.
        let present: Vec<String> = ids("C", (1..=5000).filter(|n| n % 3 != 0));
        let array = StringArray::from(present.clone());
        assert!(IdIndex::is_strictly_ascending(&array));
        let ascending = IdIndex::Ascending(&array);
        let hashed = IdIndex::Hashed(present.iter().enumerate().map(|(i, s)| (s.as_str(), i as u32)).collect());
        // In order (children listed by parent), backwards, scattered, and outside the range.
        let mut keys = ids("C", 0..=5001);
        keys.extend(ids("C", (0..=5001).rev()));
        keys.extend(ids("C", (0..5000).map(|n| n * 7919 % 5003)));
        keys.extend(["", "C", "C01", "D5", "C99999999", "B1"].map(String::from));
        let (mut h1, mut h2) = (0, 0);
        for key in &keys {
            assert_eq!(ascending.find(key, &mut h1), hashed.find(key, &mut h2), "lookup of {key:?}");
        }
    }

    #[test]
    fn only_strictly_ascending_ids_skip_hashing() {
        assert!(!IdIndex::is_strictly_ascending(&StringArray::from(vec!["C1", "C2", "C2"])));
        assert!(!IdIndex::is_strictly_ascending(&StringArray::from(vec!["C2", "C1"])));
        assert!(!IdIndex::is_strictly_ascending(&StringArray::from(vec![Some("C1"), None, Some("C3")])));
        assert!(IdIndex::is_strictly_ascending(&StringArray::from(vec!["C9", "C10", "C11"])));
    }

    /// A table of the contract with the given string columns, every other column null.
    fn table(name: &str, columns: &[(&str, Vec<Option<String>>)], rows: usize) -> RawTable {
        let spec = TABLES.iter().find(|t| t.name == name).expect("table in contract");
        let schema = spec.raw_schema();
        let arrays: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|f| match columns.iter().find(|(c, _)| *c == f.name()) {
                Some((_, values)) => Arc::new(StringArray::from(values.clone())) as ArrayRef,
                None if f.data_type() == &DataType::Date32 => Arc::new(Date32Array::from(vec![Some(19_000); rows])) as ArrayRef,
                None if f.data_type() == &DataType::Boolean => Arc::new(BooleanArray::from(vec![false; rows])) as ArrayRef,
                None => new_null_array(f.data_type(), rows),
            })
            .collect();
        let batch = RecordBatch::try_new(schema, arrays).expect("batch");
        RawTable {
            spec,
            present: true,
            files: Vec::new(),
            batches: vec![batch],
            sources: vec![BatchSource { file: Arc::from(format!("{name}.parquet")), first_row: 1 }],
            nonexistent_times: Vec::new(),
        }
    }

    fn some(values: Vec<String>) -> Vec<Option<String>> {
        values.into_iter().map(Some).collect()
    }

    /// Tables larger than SMALL_TABLE_ROWS, with ascending ids, take the galloping path:
    /// duplicates and dangling references must still be found there.
    #[test]
    fn large_ascending_tables_are_checked_like_hashed_ones() {
        let n = SMALL_TABLE_ROWS + 1000;
        let units = table("units", &[("unit_id", some(vec!["U1".into()])), ("name", some(vec!["Unit".into()]))], 1);
        let children = table("children", &[("child_id", some(ids("B", 1..=n)))], n);
        let case_ids = ids("C", 1..=n);
        let cases = table(
            "cases",
            &[
                ("case_id", some(case_ids.clone())),
                ("child_id", some(ids("B", 1..=n))),
                ("unit_id", some(vec!["U1".to_string(); n])),
            ],
            n,
        );
        let caseworkers = table("caseworkers", &[], 0);
        // Measures in case order, two per case; case C7 is missing from the references
        // (it points at C0), and measure M100 appears twice.
        let mut measure_ids = ids("M", 1..=2 * n);
        measure_ids[100] = "M100".into();
        let mut measure_cases: Vec<String> = (0..2 * n).map(|i| case_ids[i / 2].clone()).collect();
        measure_cases[12] = "C0".into();
        let measures = table(
            "measures",
            &[
                ("measure_id", some(measure_ids)),
                ("case_id", some(measure_cases)),
                ("paragraph", some(vec!["SEL:52".to_string(); 2 * n])),
            ],
            2 * n,
        );
        let raw = [units, children, caseworkers, cases, measures];
        let checked = check_all(&raw).expect("checks run");
        let rejected = |name: &str| -> Vec<(i64, Rule)> {
            let t = checked.iter().find(|t| t.spec.name == name).expect("table checked");
            t.rejected.iter().map(|r| (r.row, r.rule)).collect()
        };
        assert_eq!(rejected("cases"), vec![]);
        // Rows are 1-based: index 12 is row 13; the two copies of M100 are indexes 99 and 100.
        assert_eq!(rejected("measures"), vec![(13, Rule::Dangling), (100, Rule::DuplicateId), (101, Rule::DuplicateId)]);
    }
}
