//! Row checks (a "rejected row", docs/export.md): a row that breaks the contract is left out of
//! every figure and listed with its reason. The rules come from the contract (required
//! columns, ids, references, date order), so one mechanism checks every table.
//!
//! Tables are checked parents first, and a reference must hit a *kept* parent row, so a
//! rejection cascades: the measures of a rejected case are rejected as dangling too.
//!
//! A row that breaks several rules is listed with the first, in this order: required
//! value (a time that does not exist and a date out of range come first), a number out of
//! range, duplicate id (or key),
//! references (in contract order), date order, unit tree.
//!
//! Speed matters here (millions of rows on every run), whatever order the export lists
//! its rows in: the checks that need no parent run for all tables at once; each table's
//! ids are indexed once (`IdIndex`) and serve both the duplicate check and its
//! children's reference checks; a reference column is looked up once for all the
//! references that start with it, split over the cores; and the parent rows found are
//! kept for the row keys of the catalog. Rejected rows are rare, so reasons are kept sparse.

use std::collections::BTreeSet;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int32Array, RecordBatch, StringArray};
use datafusion::arrow::buffer::{BooleanBuffer, Buffer, NullBuffer, ScalarBuffer};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::compute::kernels::cmp::lt;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Float64Type, Int32Type, Int64Type, TimeUnit, TimestampMicrosecondType,
};
// hashbrown with foldhash: several times faster than std's SipHash.
use datafusion::common::HashMap;

use crate::contract::{
    ColumnKind, FIRST_DATE, Key, LARGEST_AMOUNT, LAST_DATE, Reference, TableSpec, copenhagen_midnight,
};
use crate::cores;
use crate::error::{Error, Result};
use crate::export::RawTable;
use crate::id_index::{IdIndex, NO_ROW, repeated_ids};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    NonexistentTime,
    DateOutOfRange,
    /// A whole-number column (a year, a month) outside its range or with a fraction, or an
    /// amount that is not finite or beyond `LARGEST_AMOUNT`.
    NumberOutOfRange,
    /// An end date out of range, where the rules' `[export] open_end_sentinel` could say
    /// that the value means "open".
    EndDateOutOfRange,
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
            Rule::DateOutOfRange => "date out of range (before 1900-01-01 or after 2199-12-31)",
            Rule::NumberOutOfRange => {
                "number out of range (a year 1900–2199, a month 1–12, whole numbers; an amount at most 1,000,000,000 \
                 either way, and a number)"
            }
            Rule::EndDateOutOfRange => {
                "date out of range (before 1900-01-01 or after 2199-12-31; if the case system writes this date for 'open' \
                 name it in the rules as [export] open_end_sentinel)"
            }
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
    /// The parent row of each kept row, for the references to the tables `check_all`
    /// was asked to key.
    pub parent_rows: Vec<ParentRows>,
}

impl CheckedTable {
    /// The parent rows of the reference from `column` to `parent`, if kept.
    pub fn parent_rows(&self, column: &str, parent: &str) -> Option<&Int32Array> {
        self.parent_rows.iter().find(|p| p.column == column && p.parent == parent).map(|p| &p.rows)
    }
}

/// For each kept row of a table, the kept row (numbered from 0) of the parent its
/// reference column names; null where the column is null.
#[derive(Debug, Clone)]
pub struct ParentRows {
    pub column: &'static str,
    pub parent: &'static str,
    pub rows: Int32Array,
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

/// Which rows of a checked table are kept: each row's number among the kept rows.
#[derive(Debug)]
struct KeptRows(Option<Vec<u32>>);

impl KeptRows {
    fn of(reasons: &Reasons, rows: usize) -> KeptRows {
        if reasons.is_empty() {
            // Nothing rejected (the usual case): row i is kept row i, with nothing to store.
            return KeptRows(None);
        }
        // The few rejected rows are marked, then the rest numbered: no row is looked up
        // among the reasons.
        let mut numbers = vec![0; rows];
        for &row in reasons.0.keys() {
            numbers[row as usize] = NO_ROW;
        }
        for (next, number) in numbers.iter_mut().filter(|n| **n != NO_ROW).enumerate() {
            *number = next as u32;
        }
        KeptRows(Some(numbers))
    }

    /// True for each kept row, if any row is rejected.
    fn mask(&self) -> Option<BooleanArray> {
        let numbers = self.0.as_ref()?;
        Some(BooleanArray::from(BooleanBuffer::collect_bool(numbers.len(), |i| numbers[i] != NO_ROW)))
    }

    /// Row `row`'s number among the kept rows, or `NO_ROW` if it is rejected.
    fn number(&self, row: u32) -> u32 {
        match &self.0 {
            None => row,
            Some(numbers) => numbers[row as usize],
        }
    }
}

/// A table read, with the results of the checks that need no other table.
struct Prepared<'a> {
    spec: &'static TableSpec,
    batch: &'a RecordBatch,
    /// Each id → its first row, for a table other tables refer to.
    ids: Option<IdIndex<'a>>,
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
        .map(|(a, c)| {
            a.as_string_opt::<i32>().ok_or_else(|| Error::Internal(format!("column {c} is not a string column")))
        })
        .collect()
}

/// A text column as the checks read it: plain, or held as a dictionary (a column that
/// `repeats`), whose values are then looked up once each rather than once a row.
#[derive(Clone, Copy)]
enum Texts<'a> {
    Plain(&'a StringArray),
    Coded { keys: &'a Int32Array, values: &'a StringArray },
}

impl<'a> Texts<'a> {
    fn is_null(&self, i: usize) -> bool {
        match self {
            Texts::Plain(a) => a.is_null(i),
            Texts::Coded { keys, values } => keys.is_null(i) || values.is_null(keys.value(i) as usize),
        }
    }

    fn is_valid(&self, i: usize) -> bool {
        !self.is_null(i)
    }

    fn value(&self, i: usize) -> &'a str {
        match self {
            Texts::Plain(a) => a.value(i),
            Texts::Coded { keys, values } => values.value(keys.value(i) as usize),
        }
    }
}

fn text_columns<'a>(batch: &'a RecordBatch, columns: &[&str]) -> Result<Vec<Texts<'a>>> {
    columns_of(batch, columns)?
        .into_iter()
        .zip(columns)
        .map(|(a, c)| {
            let not_text = || Error::Internal(format!("column {c} is not a text column"));
            if let Some(plain) = a.as_string_opt::<i32>() {
                return Ok(Texts::Plain(plain));
            }
            let coded = a.as_dictionary_opt::<Int32Type>().ok_or_else(not_text)?;
            let values = coded.values().as_string_opt::<i32>().ok_or_else(not_text)?;
            Ok(Texts::Coded { keys: coded.keys(), values })
        })
        .collect()
}

/// Required values, duplicate ids and date order: the rules that need no parent table.
/// The id index is kept if other tables refer to this one.
fn prepare<'a>(
    spec: &'static TableSpec,
    batch: &'a RecordBatch,
    nonexistent_times: &[(usize, &'static str)],
    referenced: bool,
) -> Result<Prepared<'a>> {
    let n = batch.num_rows();
    // Row numbers and "no row" must fit in a u32.
    if n >= NO_ROW as usize {
        return Err(Error::Usage(format!("table {} has {n} rows; at most {} are supported", spec.name, NO_ROW - 1)));
    }
    let mut before_references = Reasons::default();
    for &(row, column) in nonexistent_times {
        before_references.add(row, Rule::NonexistentTime, column);
    }
    for col in spec.read_columns().filter(|c| matches!(c.kind, ColumnKind::Date | ColumnKind::Timestamp)) {
        let array = columns_of(batch, &[col.name])?[0];
        let rule =
            if spec.end_columns().any(|end| end == col.name) { Rule::EndDateOutOfRange } else { Rule::DateOutOfRange };
        for i in out_of_range(array).map_err(|e| Error::Internal(format!("{}.{}: {e}", spec.name, col.name)))? {
            before_references.add(i, rule, col.name);
        }
    }
    for col in spec.read_columns().filter(|c| c.required) {
        let array = columns_of(batch, &[col.name])?[0];
        if array.null_count() > 0 {
            for i in (0..n).filter(|&i| array.is_null(i)) {
                before_references.add(i, Rule::NullRequired, col.name);
            }
        }
    }

    for col in spec.read_columns() {
        let array = columns_of(batch, &[col.name])?[0];
        let not_a = |what: &str| Error::Internal(format!("{}.{} is not {what} column", spec.name, col.name));
        let outside: Vec<usize> = match col.kind {
            ColumnKind::Integer { min, max } => {
                let values = array.as_primitive_opt::<Int64Type>().ok_or_else(|| not_a("an integer"))?;
                (0..n).filter(|&i| values.is_valid(i) && !(min..=max).contains(&values.value(i))).collect()
            }
            ColumnKind::Number => {
                let values = array.as_primitive_opt::<Float64Type>().ok_or_else(|| not_a("a number"))?;
                let outside = |v: f64| !v.is_finite() || v.abs() > LARGEST_AMOUNT;
                (0..n).filter(|&i| values.is_valid(i) && outside(values.value(i))).collect()
            }
            _ => continue,
        };
        for i in outside {
            before_references.add(i, Rule::NumberOutOfRange, col.name);
        }
    }

    // Every copy of a repeated key is rejected, so the result does not depend on row order.
    let (ids, copies) = match spec.key {
        // A table others refer to keeps its index for their lookups; for any other the
        // duplicate check alone is cheaper.
        Key::Id(id_column) => {
            let id_values = string_columns(batch, &[id_column])?[0];
            let (ids, repeats) = if referenced {
                let (index, repeats) = IdIndex::build(id_values);
                (Some(index), repeats)
            } else {
                (None, repeated_ids(id_values))
            };
            (ids, repeats.iter().flat_map(|r| [r.row, r.first]).collect())
        }
        Key::Columns { columns, .. } => (None, repeated_keys(batch, columns)?),
    };
    for row in copies {
        before_references.add(row as usize, Rule::DuplicateId, spec.key.label());
    }

    let mut after_references = Reasons::default();
    for (start, end) in spec.ordered {
        let arrays = columns_of(batch, &[start, end])?;
        // Dates or instants: both ends of a pair have the same type. Null where either is.
        let before = lt(arrays[1], arrays[0]).map_err(|e| Error::Internal(format!("{}.{start}: {e}", spec.name)))?;
        let found = match before.nulls() {
            Some(valid) => before.values() & valid.inner(),
            None => before.values().clone(),
        };
        for i in found.set_indices() {
            after_references.add(i, Rule::EndBeforeStart, end);
        }
    }
    Ok(Prepared { spec, batch, ids, before_references, after_references })
}

/// Every copy of a key of several columns that occurs more than once (a null is a value
/// like any other: two yearly rows of one budget key are a duplicate).
fn repeated_keys(batch: &RecordBatch, columns: &[&str]) -> Result<BTreeSet<u32>> {
    use datafusion::arrow::row::{RowConverter, SortField};
    let internal = |e: datafusion::arrow::error::ArrowError| Error::Internal(format!("key of {columns:?}: {e}"));
    let arrays: Vec<ArrayRef> = columns_of(batch, columns)?.into_iter().cloned().collect();
    let converter =
        RowConverter::new(arrays.iter().map(|a| SortField::new(a.data_type().clone())).collect()).map_err(internal)?;
    let rows = converter.convert_columns(&arrays).map_err(internal)?;
    let mut first: HashMap<_, u32> = HashMap::default();
    let mut copies = BTreeSet::new();
    for (i, row) in rows.iter().enumerate() {
        let at = *first.entry(row).or_insert(i as u32);
        if at != i as u32 {
            copies.extend([at, i as u32]);
        }
    }
    Ok(copies)
}

/// The rows whose date (or instant, as a Copenhagen date) lies outside the contract's
/// range.
fn out_of_range(array: &ArrayRef) -> std::result::Result<Vec<usize>, String> {
    let (first, last) = (Date32Type::from_naive_date(FIRST_DATE), Date32Type::from_naive_date(LAST_DATE));
    let outside: Vec<usize> = match array.data_type() {
        DataType::Date32 => {
            let days = array.as_primitive::<Date32Type>();
            (0..days.len()).filter(|&i| days.is_valid(i) && !(first..=last).contains(&days.value(i))).collect()
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            let midnight = |day| copenhagen_midnight(day).ok_or_else(|| format!("{day} has no midnight in Copenhagen"));
            let (from, until) = (midnight(FIRST_DATE)?, midnight(LAST_DATE + chrono::Days::new(1))?);
            let micros = array.as_primitive::<TimestampMicrosecondType>();
            (0..micros.len()).filter(|&i| micros.is_valid(i) && !(from..until).contains(&micros.value(i))).collect()
        }
        other => return Err(format!("a date column of type {other}")),
    };
    Ok(outside)
}

/// A column of a table looked up in a parent table's ids, once for all the references
/// that start with it (postings' `measure_id` serves two).
struct Lookup {
    column: &'static str,
    /// The parent's position in the tables checked.
    parent: usize,
}

/// The lookups of a table's references to other tables, in contract order.
fn lookups(raw: &[RawTable], table: usize) -> Result<Vec<Lookup>> {
    let spec = raw[table].spec;
    let mut lookups: Vec<Lookup> = Vec::new();
    for r in spec.references.iter().filter(|r| r.parent != spec.name) {
        let parent = position(raw, r.parent)?;
        if r.parent_columns.first().copied() != raw[parent].spec.key.id_column()
            || r.parent_columns.len() != r.columns.len()
        {
            return Err(Error::Internal(format!(
                "reference {}.{:?} must name {}'s id column first",
                spec.name, r.columns, r.parent
            )));
        }
        if !lookups.iter().any(|l| l.column == r.columns[0] && l.parent == parent) {
            lookups.push(Lookup { column: r.columns[0], parent });
        }
    }
    Ok(lookups)
}

fn position(raw: &[RawTable], name: &str) -> Result<usize> {
    raw.iter().position(|t| t.spec.name == name).ok_or_else(|| Error::Internal(format!("no table {name}")))
}

/// A table with the parent rows its lookups found (`NO_ROW`: null or unknown), one per
/// row for each lookup.
#[derive(Clone, Copy)]
struct LookedUp<'a> {
    table: &'a Prepared<'a>,
    lookups: &'a [Lookup],
    found: &'a [Vec<u32>],
}

impl<'a> LookedUp<'a> {
    /// The rows found for `column` in table `parent`, if the table looks it up there.
    fn found(&self, column: &str, parent: usize) -> Option<&'a [u32]> {
        let l = self.lookups.iter().position(|l| l.column == column && l.parent == parent)?;
        Some(&self.found[l])
    }
}

/// A column after the id of a reference, with the parent's column it must match. Where
/// both tables look these columns up in the same table (postings' and measures' `case_id`
/// name a case), the rows found are compared: two numbers rather than two strings, one
/// of them read from anywhere in the parent's column.
struct Further<'a> {
    child: Texts<'a>,
    parent: Texts<'a>,
    rows: Option<(&'a [u32], &'a [u32])>,
}

impl Further<'_> {
    /// Whether child row `i` and parent row `p` agree (the child's value is not null).
    fn agrees(&self, i: usize, p: usize) -> bool {
        if let Some((child_rows, parent_rows)) = self.rows {
            let (c, q) = (child_rows[i], parent_rows[p]);
            if c != NO_ROW && q != NO_ROW {
                // An index gives equal ids one row and different ids different rows.
                return c == q;
            }
        }
        self.parent.is_valid(p) && self.parent.value(p) == self.child.value(i)
    }
}

/// Rows `rows` of `child` whose reference `r` misses a kept row of `parent`. A null in
/// any referring column means "no reference", which is always fine.
fn dangling_rows(
    child: LookedUp<'_>,
    r: &Reference,
    parent: LookedUp<'_>,
    parent_position: usize,
    parent_kept: &KeptRows,
    rows: std::ops::Range<usize>,
) -> Result<Vec<u32>> {
    let referring = text_columns(child.table.batch, r.columns)?;
    let parent_rows = child
        .found(r.columns[0], parent_position)
        .ok_or_else(|| Error::Internal(format!("{} not looked up", r.columns[0])))?;
    // Columns after the id must match the values of the parent row with that id.
    let further: Vec<Further<'_>> = referring[1..]
        .iter()
        .zip(text_columns(parent.table.batch, &r.parent_columns[1..])?)
        .zip(r.columns[1..].iter().zip(&r.parent_columns[1..]))
        .map(|((child_values, parent_values), (column, parent_column))| {
            let rows = child
                .lookups
                .iter()
                .filter(|l| l.column == *column)
                .find_map(|l| Some((child.found(column, l.parent)?, parent.found(parent_column, l.parent)?)));
            Further { child: *child_values, parent: parent_values, rows }
        })
        .collect();
    let mut dangling = Vec::new();
    for i in rows {
        if referring.iter().any(|a| a.is_null(i)) {
            continue;
        }
        let p = parent_rows[i];
        // All copies of a duplicated id are rejected, so the first row decides.
        let hit = p != NO_ROW && parent_kept.number(p) != NO_ROW && further.iter().all(|f| f.agrees(i, p as usize));
        if !hit {
            dangling.push(i as u32);
        }
    }
    Ok(dangling)
}

/// Rows per task: a table's rows split over the cores, in slices large enough to be
/// worth a thread.
fn slice_rows(rows: usize) -> usize {
    rows.div_ceil(cores::available()).max(64 * 1024)
}

fn join_all<T>(handles: Vec<std::thread::ScopedJoinHandle<'_, Result<T>>>) -> Vec<Result<T>> {
    handles
        .into_iter()
        .map(|h| h.join().unwrap_or_else(|_| Err(Error::Internal("a check thread failed".into()))))
        .collect()
}

/// A table's checks done: why rows are rejected, which are kept, and the parent rows its
/// lookups found.
struct Outcome {
    reasons: Reasons,
    kept: KeptRows,
    found: Vec<Vec<u32>>,
}

/// Checks all tables, parents first. For references to the tables named in `keyed`,
/// the checked tables keep each row's parent row (`CheckedTable::parent_rows`).
pub fn check_all(raw: &[RawTable], keyed: &[&str]) -> Result<Vec<CheckedTable>> {
    let referenced =
        |name: &str| raw.iter().any(|t| t.spec.name != name && t.spec.references.iter().any(|r| r.parent == name));
    // A table's own checks hold working memory in proportion to its rows (the duplicate
    // check 8 bytes a row, 140 MB for 17M postings): one thread per table had them all at
    // once, the load's peak.
    let rows: Vec<u64> = raw.iter().map(|t| t.num_rows() as u64).collect();
    let prepared: Vec<Prepared<'_>> = cores::largest_first(&rows, "check", |t| {
        let t = &raw[t];
        prepare(t.spec, &t.batch, &t.nonexistent_times, referenced(t.spec.name))
    })?
    .into_iter()
    .collect::<Result<_>>()?;
    let lookups: Vec<Vec<Lookup>> = (0..raw.len()).map(|t| lookups(raw, t)).collect::<Result<_>>()?;

    // In rounds: a table is checked once all its parents are.
    let mut outcomes: Vec<Option<Outcome>> = raw.iter().map(|_| None).collect();
    while outcomes.iter().any(Option::is_none) {
        let ready: Vec<usize> = (0..raw.len())
            .filter(|&t| outcomes[t].is_none() && lookups[t].iter().all(|l| outcomes[l.parent].is_some()))
            .collect();
        if ready.is_empty() {
            return Err(Error::Internal("tables reference each other in a loop".into()));
        }
        let found = look_up_all(&ready, &prepared, &lookups)?;
        let dangling = dangling_all(raw, &ready, &prepared, &lookups, &found, &outcomes)?;
        for ((t, found), dangling) in ready.into_iter().zip(found).zip(dangling) {
            outcomes[t] = Some(outcome(&prepared[t], found, dangling)?);
        }
    }

    let mut outcomes: Vec<Outcome> = outcomes.into_iter().flatten().collect();
    // The parent rows found leave the outcomes: those of keyed lookups become key
    // columns without a copy.
    let found: Vec<Vec<Vec<u32>>> = outcomes.iter_mut().map(|o| std::mem::take(&mut o.found)).collect();
    std::thread::scope(|s| {
        let outcomes = &outcomes;
        let handles: Vec<_> = found
            .into_iter()
            .enumerate()
            .map(|(t, found)| {
                let lookups = &lookups[t];
                s.spawn(move || keep_rows(raw, t, lookups, found, outcomes, keyed))
            })
            .collect();
        join_all(handles).into_iter().collect()
    })
}

/// A lookup's column ready to be looked up: text, or a dictionary whose values were
/// looked up in the parent already (their rows, by key).
enum Keys<'a> {
    Plain(&'a StringArray),
    Coded { keys: &'a Int32Array, value_rows: Vec<u32> },
}

/// The parent rows of every lookup of the tables `ready` (per table, per lookup, per
/// row). Every (table, lookup, slice of rows) is one task, so a single large table still
/// uses every core.
fn look_up_all(ready: &[usize], prepared: &[Prepared<'_>], lookups: &[Vec<Lookup>]) -> Result<Vec<Vec<Vec<u32>>>> {
    let mut found: Vec<Vec<Vec<u32>>> = ready
        .iter()
        .map(|&t| lookups[t].iter().map(|_| vec![NO_ROW; prepared[t].batch.num_rows()]).collect())
        .collect();
    let index_of = |parent: usize| {
        let parent = &prepared[parent];
        parent.ids.as_ref().ok_or_else(|| Error::Internal(format!("{} has no id index", parent.spec.name)))
    };
    // Each lookup's column with its parent's index; a dictionary's values are looked up
    // once each here, before its rows.
    let mut columns: Vec<Vec<(Keys<'_>, &IdIndex<'_>)>> = Vec::with_capacity(ready.len());
    for &t in ready {
        let mut table = Vec::with_capacity(lookups[t].len());
        for lookup in &lookups[t] {
            let index = index_of(lookup.parent)?;
            let keys = match text_columns(prepared[t].batch, &[lookup.column])?[0] {
                Texts::Plain(keys) => Keys::Plain(keys),
                Texts::Coded { keys, values } => {
                    let mut value_rows = vec![NO_ROW; values.len()];
                    index.find_rows(values, 0, &mut value_rows);
                    Keys::Coded { keys, value_rows }
                }
            };
            table.push((keys, index));
        }
        columns.push(table);
    }
    std::thread::scope(|s| {
        let mut handles = Vec::new();
        for ((&t, table_found), table_columns) in ready.iter().zip(found.iter_mut()).zip(&columns) {
            let slice = slice_rows(prepared[t].batch.num_rows());
            for (rows, (keys, index)) in table_found.iter_mut().zip(table_columns) {
                for (n, chunk) in rows.chunks_mut(slice).enumerate() {
                    handles.push(s.spawn(move || {
                        match keys {
                            Keys::Plain(keys) => index.find_rows(keys, n * slice, chunk),
                            Keys::Coded { keys, value_rows } => {
                                for (i, found) in chunk.iter_mut().enumerate() {
                                    let row = n * slice + i;
                                    *found =
                                        if keys.is_valid(row) { value_rows[keys.value(row) as usize] } else { NO_ROW };
                                }
                            }
                        }
                        Ok(())
                    }));
                }
            }
        }
        join_all(handles).into_iter().collect::<Result<Vec<()>>>()
    })?;
    Ok(found)
}

/// A table's dangling rows: per reference (its index), the rows whose parent is missing.
type Dangling = Vec<(usize, Vec<u32>)>;

/// The dangling rows of each reference to another table, per table of `ready` (in
/// contract order, each in row order).
fn dangling_all(
    raw: &[RawTable],
    ready: &[usize],
    prepared: &[Prepared<'_>],
    lookups: &[Vec<Lookup>],
    found: &[Vec<Vec<u32>>],
    outcomes: &[Option<Outcome>],
) -> Result<Vec<Dangling>> {
    let mut tasks: Vec<(usize, usize, std::ops::Range<usize>)> = Vec::new();
    for (at, &t) in ready.iter().enumerate() {
        let spec = raw[t].spec;
        let n = prepared[t].batch.num_rows();
        for (k, _) in spec.references.iter().enumerate().filter(|(_, r)| r.parent != spec.name) {
            for start in (0..n).step_by(slice_rows(n)) {
                tasks.push((at, k, start..(start + slice_rows(n)).min(n)));
            }
        }
    }
    let dangling: Vec<Vec<u32>> = std::thread::scope(|s| {
        let handles: Vec<_> = tasks
            .iter()
            .map(|(at, k, rows)| {
                s.spawn(move || {
                    let t = ready[*at];
                    let r = &raw[t].spec.references[*k];
                    let p = position(raw, r.parent)?;
                    let parent =
                        outcomes[p].as_ref().ok_or_else(|| Error::Internal(format!("{} not checked", r.parent)))?;
                    let child = LookedUp { table: &prepared[t], lookups: &lookups[t], found: &found[*at] };
                    let parent_looked_up = LookedUp { table: &prepared[p], lookups: &lookups[p], found: &parent.found };
                    dangling_rows(child, r, parent_looked_up, p, &parent.kept, rows.clone())
                })
            })
            .collect();
        join_all(handles).into_iter().collect::<Result<Vec<_>>>()
    })?;
    // Tasks are in contract order per table, and in row order per reference.
    let mut per_table: Vec<Dangling> = ready.iter().map(|_| Vec::new()).collect();
    for ((at, k, _), rows) in tasks.into_iter().zip(dangling) {
        per_table[at].push((k, rows));
    }
    Ok(per_table)
}

/// A table's reasons from its own checks and its references' dangling rows (in contract
/// order), then date order, then the unit tree.
fn outcome(table: &Prepared<'_>, found: Vec<Vec<u32>>, dangling: Vec<(usize, Vec<u32>)>) -> Result<Outcome> {
    let mut reasons = table.before_references.clone();
    for (k, rows) in dangling {
        let column = table.spec.references[k].columns[0];
        for row in rows {
            reasons.add(row as usize, Rule::Dangling, column);
        }
    }
    reasons.then(&table.after_references);
    for r in table.spec.references.iter().filter(|r| r.parent == table.spec.name) {
        let id_column = table
            .spec
            .key
            .id_column()
            .ok_or_else(|| Error::Internal(format!("{} refers to itself without an id column", table.spec.name)))?;
        check_tree(table.batch, id_column, r.columns[0], &mut reasons)?;
    }
    let kept = KeptRows::of(&reasons, table.batch.num_rows());
    Ok(Outcome { reasons, kept, found })
}

/// The kept rows of table `t` in the contract schema, its rejections in row order, and
/// the kept parent row of each kept row for its lookups (`found`) in the tables named in
/// `keyed`.
fn keep_rows(
    tables: &[RawTable],
    t: usize,
    lookups: &[Lookup],
    found: Vec<Vec<u32>>,
    outcomes: &[Outcome],
    keyed: &[&str],
) -> Result<CheckedTable> {
    let (raw, outcome) = (&tables[t], &outcomes[t]);
    let (spec, batch) = (raw.spec, &raw.batch);
    let reasons = &outcome.reasons;
    let rejected = rejections(raw, batch, reasons)?;
    // Most exports reject nothing: then the rows are kept as they are, without a copy.
    let kept = match outcome.kept.mask() {
        None => batch.clone(),
        Some(keep) => filter_record_batch(batch, &keep).map_err(|e| Error::Internal(e.to_string()))?,
    };
    let kept = RecordBatch::try_new(spec.stored_schema(), kept.columns().to_vec())
        .map_err(|e| Error::Internal(format!("table {}: {e}", spec.name)))?;
    let parent_rows = lookups
        .iter()
        .zip(found)
        .filter(|(l, _)| keyed.contains(&tables[l.parent].spec.name))
        .map(|(l, found)| {
            let parent = &tables[l.parent];
            if i32::try_from(parent.num_rows()).is_err() {
                return Err(Error::Usage(format!("more than {} rows in {}", i32::MAX, parent.spec.name)));
            }
            let rows = kept_parent_rows(found, &outcome.kept, &outcomes[l.parent].kept);
            Ok(ParentRows { column: l.column, parent: parent.spec.name, rows })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(CheckedTable { spec, present: raw.present, rows_read: batch.num_rows(), kept, rejected, parent_rows })
}

/// The kept parent row of each kept row, from the parent row `found` for each row: the
/// numbers are changed in place and become the column's values without a copy. A kept
/// row refers to a kept parent row, or (`NO_ROW`, null) to none.
fn kept_parent_rows(mut found: Vec<u32>, kept: &KeptRows, parent_kept: &KeptRows) -> Int32Array {
    if let Some(numbers) = &kept.0 {
        let mut next = 0;
        for i in 0..found.len() {
            if numbers[i] != NO_ROW {
                found[next] = found[i];
                next += 1;
            }
        }
        found.truncate(next);
    }
    let nulls = NullBuffer::from(BooleanBuffer::collect_bool(found.len(), |i| found[i] != NO_ROW));
    if let Some(numbers) = &parent_kept.0 {
        for p in found.iter_mut().filter(|p| **p != NO_ROW) {
            *p = numbers[*p as usize];
        }
    }
    let len = found.len();
    Int32Array::new(ScalarBuffer::new(Buffer::from_vec(found), 0, len), (nulls.null_count() > 0).then_some(nulls))
}

/// A self-reference (unit → parent unit) must lead to a root through kept rows: rows
/// whose chain hits a missing or rejected parent are dangling, rows on a loop are cycles.
fn check_tree(batch: &RecordBatch, id_column: &str, parent_column: &'static str, reasons: &mut Reasons) -> Result<()> {
    let arrays = text_columns(batch, &[id_column, parent_column])?;
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
            let (file, row) = raw
                .source_of(i as usize)
                .ok_or_else(|| Error::Internal(format!("{}: row {i} has no source", spec.name)))?;
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
            DataType::Dictionary(..) => {
                datafusion::arrow::util::display::array_value_to_string(a, i).unwrap_or_default()
            }
            DataType::Date32 => {
                a.as_primitive::<Date32Type>().value_as_date(i).map(|d| d.to_string()).unwrap_or_default()
            }
            DataType::Int64 => a.as_primitive::<Int64Type>().value(i).to_string(),
            // An instant too far out for a calendar is shown as the number it is.
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                let micros = a.as_primitive::<TimestampMicrosecondType>().value(i);
                match chrono::DateTime::from_timestamp_micros(micros) {
                    Some(_) => datafusion::arrow::util::display::array_value_to_string(a, i).unwrap_or_default(),
                    None => format!("{micros}µs"),
                }
            }
            _ => continue,
        };
        parts.push(format!("{name}={value}"));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests;
