//! Row checks (SPEC §6 "rejected row"): a row that breaks the contract is left out of
//! every figure and listed with its reason. The rules come from the contract (required
//! columns, ids, references, date order), so one mechanism checks every table.
//!
//! Tables are checked parents first, and a reference must hit a *kept* parent row, so a
//! rejection cascades: the measures of a rejected case are rejected as dangling too.

use std::collections::{HashMap, HashSet};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::{concat_batches, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Date32Type, Int64Type};

use crate::contract::{SOURCE_FILE, SOURCE_ROW, TableSpec};
use crate::error::{Error, Result};
use crate::export::RawTable;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    NullRequired,
    DuplicateId,
    Dangling,
    EndBeforeStart,
    ParentCycle,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
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
#[derive(Debug)]
pub struct CheckedTable {
    pub spec: &'static TableSpec,
    pub rows_read: usize,
    pub kept: RecordBatch,
    pub rejected: Vec<Rejection>,
}

/// Keys of kept rows per (table, columns), built when a child table first needs them.
#[derive(Default)]
pub struct KeyIndex {
    keys: HashMap<(String, Vec<&'static str>), HashSet<String>>,
}

impl KeyIndex {
    fn keys_of(&mut self, table: &CheckedTable, columns: &[&'static str]) -> Result<&HashSet<String>> {
        let entry = (table.spec.name.to_string(), columns.to_vec());
        if !self.keys.contains_key(&entry) {
            let arrays = columns_of(&table.kept, columns)?;
            let set = (0..table.kept.num_rows()).filter_map(|i| composite_key(&arrays, i)).collect();
            self.keys.insert(entry.clone(), set);
        }
        Ok(&self.keys[&entry])
    }
}

fn columns_of<'a>(batch: &'a RecordBatch, columns: &[&str]) -> Result<Vec<&'a ArrayRef>> {
    columns
        .iter()
        .map(|c| batch.column_by_name(c).ok_or_else(|| Error::Internal(format!("column {c} missing in checked table"))))
        .collect()
}

/// The key of row `i` over string columns, or None when any part is null.
fn composite_key(arrays: &[&ArrayRef], i: usize) -> Option<String> {
    let mut key = String::new();
    for (n, a) in arrays.iter().enumerate() {
        if a.is_null(i) {
            return None;
        }
        if n > 0 {
            key.push('\u{1f}');
        }
        key.push_str(a.as_string::<i32>().value(i));
    }
    Some(key)
}

/// Checks one table against the contract and the already-checked parent tables.
pub fn check_table(raw: &RawTable, parents: &[CheckedTable], index: &mut KeyIndex) -> Result<CheckedTable> {
    let spec = raw.spec;
    let schema = spec.raw_schema();
    let batch = concat_batches(&schema, &raw.batches).map_err(|e| Error::Internal(e.to_string()))?;
    let n = batch.num_rows();
    let mut reason: Vec<Option<(Rule, String)>> = vec![None; n];
    let reject = |reason: &mut Vec<Option<(Rule, String)>>, i: usize, rule: Rule, column: &str| {
        if reason[i].is_none() {
            reason[i] = Some((rule, column.to_string()));
        }
    };

    for col in spec.read_columns().filter(|c| c.required) {
        let array = columns_of(&batch, &[col.name])?[0];
        for i in (0..n).filter(|&i| array.is_null(i)) {
            reject(&mut reason, i, Rule::NullRequired, col.name);
        }
    }

    let ids = columns_of(&batch, &[spec.id_column])?[0].as_string::<i32>();
    let mut seen: HashMap<&str, u32> = HashMap::with_capacity(n);
    for id in ids.iter().flatten() {
        *seen.entry(id).or_default() += 1;
    }
    for i in 0..n {
        if ids.is_valid(i) && seen[ids.value(i)] > 1 {
            reject(&mut reason, i, Rule::DuplicateId, spec.id_column);
        }
    }

    for r in spec.references.iter().filter(|r| r.parent != spec.name) {
        let parent = parents
            .iter()
            .find(|p| p.spec.name == r.parent)
            .ok_or_else(|| Error::Internal(format!("{} is checked before its parent {}", spec.name, r.parent)))?;
        let keys = index.keys_of(parent, r.parent_columns)?;
        let arrays = columns_of(&batch, r.columns)?;
        for i in 0..n {
            if let Some(key) = composite_key(&arrays, i)
                && !keys.contains(&key)
            {
                reject(&mut reason, i, Rule::Dangling, r.columns[0]);
            }
        }
    }

    for (start, end) in spec.ordered {
        let arrays = columns_of(&batch, &[start, end])?;
        let (s, e) = (arrays[0].as_primitive::<Date32Type>(), arrays[1].as_primitive::<Date32Type>());
        for i in 0..n {
            if s.is_valid(i) && e.is_valid(i) && e.value(i) < s.value(i) {
                reject(&mut reason, i, Rule::EndBeforeStart, end);
            }
        }
    }

    for r in spec.references.iter().filter(|r| r.parent == spec.name) {
        check_tree(&batch, spec.id_column, r.columns[0], &mut reason)?;
    }

    let keep: BooleanArray = reason.iter().map(|r| Some(r.is_none())).collect();
    let rejected = rejections(spec, &batch, &reason)?;
    let kept = filter_record_batch(&batch, &keep).map_err(|e| Error::Internal(e.to_string()))?;
    let kept = kept.project(&contract_indices(spec)).map_err(|e| Error::Internal(e.to_string()))?;
    let kept = RecordBatch::try_new(spec.schema(), kept.columns().to_vec())
        .map_err(|e| Error::Internal(format!("table {}: {e}", spec.name)))?;
    Ok(CheckedTable { spec, rows_read: n, kept, rejected })
}

fn contract_indices(spec: &TableSpec) -> Vec<usize> {
    (0..spec.read_columns().count()).collect()
}

/// A self-reference (unit → parent unit) must lead to a root through kept rows: rows
/// whose chain hits a missing or rejected parent are dangling, rows on a loop are cycles.
fn check_tree(batch: &RecordBatch, id_column: &str, parent_column: &str, reason: &mut [Option<(Rule, String)>]) -> Result<()> {
    let arrays = columns_of(batch, &[id_column, parent_column])?;
    let (ids, parents) = (arrays[0].as_string::<i32>(), arrays[1].as_string::<i32>());
    let row_of: HashMap<&str, usize> =
        (0..batch.num_rows()).filter(|&i| reason[i].is_none()).map(|i| (ids.value(i), i)).collect();
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
            if outcome == 2 && reason[p].is_none() {
                // Rows on the loop itself are a cycle; rows that merely lead into it dangle.
                let rule = if loop_start.is_some_and(|s| n >= s) { Rule::ParentCycle } else { Rule::Dangling };
                reason[p] = Some((rule, parent_column.to_string()));
            }
        }
    }
    Ok(())
}

fn rejections(spec: &'static TableSpec, batch: &RecordBatch, reason: &[Option<(Rule, String)>]) -> Result<Vec<Rejection>> {
    let files = columns_of(batch, &[SOURCE_FILE])?[0].as_string::<i32>();
    let rows = columns_of(batch, &[SOURCE_ROW])?[0].as_primitive::<Int64Type>();
    let locators = columns_of(batch, spec.locator)?;
    Ok(reason
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.as_ref().map(|r| (i, r)))
        .map(|(i, (rule, column))| Rejection {
            table: spec.name,
            file: files.value(i).to_string(),
            row: rows.value(i),
            rule: *rule,
            column: column.clone(),
            locator: locator(spec.locator, &locators, i),
        })
        .collect())
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
            _ => continue,
        };
        parts.push(format!("{name}={value}"));
    }
    parts.join(" ")
}

/// Checks all tables, parents first.
pub fn check_all(raw: &[RawTable]) -> Result<Vec<CheckedTable>> {
    let mut index = KeyIndex::default();
    let mut checked: Vec<CheckedTable> = Vec::with_capacity(raw.len());
    for table in raw {
        let result = check_table(table, &checked, &mut index)?;
        checked.push(result);
    }
    Ok(checked)
}
