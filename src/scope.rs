//! An export seen through a grant of units: only the rows of the granted units and every
//! unit below them. A user limited to some units gets a catalog built from such an export,
//! so every table, view and KPI is computed from their rows alone and no SQL can reach
//! another unit's rows: they are not in the catalog.
//!
//! A row belongs to a unit by its own `unit_id` (units, caseworkers, cases,
//! notifications, complaints, postings) or through the case it belongs to (measures,
//! investigations, action plans, follow-ups, decisions, case events). A child is seen
//! only through the cases the grant covers. Rejected rows are not shown: they are the
//! export's as a whole, and their locators may name other units.
//!
//! A row kept for its own unit may name what another unit holds: a notification received
//! here about a case handled elsewhere, a complaint, a posting on this unit's cost centre
//! for another unit's case or measure, a case whose caseworker sits in another unit. Such
//! ids are shown as null: the row counts for its unit as before, but as if it named no
//! case, child, measure or caseworker (a posting so cleared is not "booked on a case" in
//! that user's figures). The rules' recovery milestones of other units are left out.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int32Array, RecordBatch, StringArray};
use datafusion::arrow::compute::{filter, filter_record_batch};
use datafusion::arrow::datatypes::Int32Type;

use crate::catalog::CheckedExport;
use crate::checks::{CheckedTable, ParentRows};
use crate::error::{Error, Result};
use crate::rules::Rules;

/// The units a user may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// Every unit.
    All,
    /// These units, each with every unit below it.
    Units(Vec<String>),
}

/// The granted units and every unit below them, from the export's `units` table.
pub fn visible_units(export: &CheckedExport, granted: &[String]) -> Result<HashSet<String>> {
    let units = table(export, "units")?;
    let ids = strings(units, "unit_id")?;
    let parents = strings(units, "parent_id")?;
    let mut children: HashMap<&str, Vec<&str>> = HashMap::new();
    for i in 0..ids.len() {
        if parents.is_valid(i) {
            children.entry(parents.value(i)).or_default().push(ids.value(i));
        }
    }
    let known: HashSet<&str> = (0..ids.len()).map(|i| ids.value(i)).collect();
    let mut seen: HashSet<String> = HashSet::new();
    let mut stack: Vec<&str> = granted.iter().map(String::as_str).collect();
    while let Some(unit) = stack.pop() {
        // A unit the export does not have grants nothing, and a cycle ends where it began.
        if !known.contains(unit) || !seen.insert(unit.to_string()) {
            continue;
        }
        stack.extend(children.get(unit).into_iter().flatten().copied());
    }
    Ok(seen)
}

impl CheckedExport {
    /// The export as a user with `grant` sees it.
    pub fn scoped(&self, grant: &Grant) -> Result<CheckedExport> {
        let granted = match grant {
            Grant::All => return Ok(self.clone()),
            Grant::Units(units) => units,
        };
        let units = visible_units(self, granted)?;
        let cases = table(self, "cases")?;
        let case_ids = strings(cases, "case_id")?;
        let case_units = strings(cases, "unit_id")?;
        let visible_cases: HashSet<&str> =
            (0..case_ids.len()).filter(|&i| units.contains(case_units.value(i))).map(|i| case_ids.value(i)).collect();
        let case_children = strings(cases, "child_id")?;
        let visible_children: HashSet<&str> = (0..case_ids.len())
            .filter(|&i| visible_cases.contains(case_ids.value(i)) && case_children.is_valid(i))
            .map(|i| case_children.value(i))
            .collect();

        let measures = table(self, "measures")?;
        let (measure_ids, measure_cases) = (strings(measures, "measure_id")?, strings(measures, "case_id")?);
        let visible_measures: HashSet<&str> = (0..measure_ids.len())
            .filter(|&i| visible_cases.contains(measure_cases.value(i)))
            .map(|i| measure_ids.value(i))
            .collect();
        let caseworkers = table(self, "caseworkers")?;
        let (caseworker_ids, caseworker_units) =
            (strings(caseworkers, "caseworker_id")?, strings(caseworkers, "unit_id")?);
        let visible_caseworkers: HashSet<&str> = (0..caseworker_ids.len())
            .filter(|&i| units.contains(caseworker_units.value(i)))
            .map(|i| caseworker_ids.value(i))
            .collect();
        // The id columns a kept row may hold for another unit, and what is visible of each.
        let foreign_ids: [(&str, &HashSet<&str>); 4] = [
            ("case_id", &visible_cases),
            ("child_id", &visible_children),
            ("measure_id", &visible_measures),
            ("caseworker_id", &visible_caseworkers),
        ];

        let masks = self
            .tables
            .iter()
            .map(|t| {
                let batch = &t.kept;
                let keep = |column: &str, visible: &dyn Fn(&str) -> bool| -> Result<BooleanArray> {
                    let values = decoded(batch, t.spec.name, column)?;
                    let values = as_strings(&values, t.spec.name, column)?;
                    Ok((0..values.len()).map(|i| Some(values.is_valid(i) && visible(values.value(i)))).collect())
                };
                if t.spec.name == "children" {
                    keep("child_id", &|id| visible_children.contains(id))
                } else if batch.schema().column_with_name("unit_id").is_some() {
                    keep("unit_id", &|id| units.contains(id))
                } else if batch.schema().column_with_name("case_id").is_some() {
                    keep("case_id", &|id| visible_cases.contains(id))
                } else {
                    Err(Error::Internal(format!("table {} has no unit to scope it by", t.spec.name)))
                }
            })
            .collect::<Result<Vec<BooleanArray>>>()?;
        self.keep_rows(&masks, |name, kept| {
            if name == "units" {
                return without_hidden_parents(kept, &units);
            }
            // A table's own id stays; the ids it refers to others by are cleared where hidden.
            let own_id = crate::contract::table(name).and_then(|spec| spec.key.id_column());
            let mut kept = kept;
            for (column, visible) in &foreign_ids {
                if Some(*column) != own_id && kept.schema().column_with_name(column).is_some() {
                    kept = without_hidden_ids(kept, name, column, visible)?;
                }
            }
            Ok(kept)
        })
    }

    /// A copy with the rows each mask keeps (table by table), and each kept row's parent
    /// rows renumbered to the parent's kept rows; counts follow the rows, and no rows are
    /// rejected. `finish` may change a table's kept rows in place (not their number).
    fn keep_rows(
        &self,
        masks: &[BooleanArray],
        finish: impl Fn(&str, RecordBatch) -> Result<RecordBatch>,
    ) -> Result<CheckedExport> {
        // For each table, each old row's new number, or -1 where the row is left out.
        let renumbered: Vec<Vec<i32>> = masks
            .iter()
            .map(|mask| {
                let mut next = 0;
                (0..mask.len())
                    .map(|i| {
                        if mask.value(i) {
                            next += 1;
                            next - 1
                        } else {
                            -1
                        }
                    })
                    .collect()
            })
            .collect();
        let position = |name: &str| self.tables.iter().position(|t| t.spec.name == name);
        let tables = self
            .tables
            .iter()
            .zip(masks)
            .map(|(t, mask)| {
                let internal =
                    |e: datafusion::arrow::error::ArrowError| Error::Internal(format!("scoping {}: {e}", t.spec.name));
                let kept = finish(t.spec.name, filter_record_batch(&t.kept, mask).map_err(internal)?)?;
                let parent_rows = t
                    .parent_rows
                    .iter()
                    .map(|p| {
                        let new_numbers = position(p.parent)
                            .map(|i| &renumbered[i])
                            .ok_or_else(|| Error::Internal(format!("no table {}", p.parent)))?;
                        let rows = filter(&p.rows, mask).map_err(internal)?;
                        let rows = rows.as_primitive::<Int32Type>();
                        // A parent the grant leaves out leaves its child without a key.
                        let rows: Int32Array = rows
                            .iter()
                            .map(|r| r.and_then(|r| new_numbers.get(r as usize).copied()).filter(|n| *n >= 0))
                            .collect();
                        Ok(ParentRows { column: p.column, parent: p.parent, rows })
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(CheckedTable {
                    spec: t.spec,
                    present: t.present,
                    rows_read: kept.num_rows(),
                    kept,
                    rejected: Vec::new(),
                    parent_rows,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(CheckedExport { tables })
    }
}

/// The rules as a user with `grant` sees them: recovery milestones of their units only.
pub fn scoped_rules(rules: &Rules, export: &CheckedExport, grant: &Grant) -> Result<Rules> {
    let Grant::Units(granted) = grant else {
        return Ok(rules.clone());
    };
    let units = visible_units(export, granted)?;
    let mut rules = rules.clone();
    rules.recovery_milestones.retain(|m| units.contains(&m.unit_id));
    Ok(rules)
}

/// `batch` with the ids of `column` that are not `visible` cleared.
fn without_hidden_ids(batch: RecordBatch, table: &str, column: &str, visible: &HashSet<&str>) -> Result<RecordBatch> {
    let ids = decoded(&batch, table, column)?;
    let ids = as_strings(&ids, table, column)?;
    if ids.iter().all(|id| id.is_none_or(|id| visible.contains(id))) {
        return Ok(batch);
    }
    let cleared: StringArray = ids.iter().map(|id| id.filter(|id| visible.contains(id))).collect();
    replace_column(batch, table, column, Arc::new(cleared))
}

fn replace_column(batch: RecordBatch, table: &str, column: &str, values: ArrayRef) -> Result<RecordBatch> {
    let internal = |e: &dyn std::fmt::Display| Error::Internal(format!("scoping {table}.{column}: {e}"));
    let schema = batch.schema();
    let index = schema.index_of(column).map_err(|e| internal(&e))?;
    let mut fields: Vec<datafusion::arrow::datatypes::Field> =
        schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields[index] = fields[index].clone().with_nullable(true).with_data_type(values.data_type().clone());
    let mut columns = batch.columns().to_vec();
    columns[index] = values;
    RecordBatch::try_new(
        Arc::new(datafusion::arrow::datatypes::Schema::new_with_metadata(fields, schema.metadata().clone())),
        columns,
    )
    .map_err(|e| internal(&e))
}

/// A granted unit whose parent is not granted is a top of the tree its user sees: its
/// `parent_id` is cleared, so the tree (and every roll-up) ends there.
fn without_hidden_parents(units: RecordBatch, visible: &HashSet<String>) -> Result<RecordBatch> {
    let parents = batch_strings(&units, "units", "parent_id")?;
    let cleared: StringArray = parents.iter().map(|p| p.filter(|p| visible.contains(*p))).collect();
    replace_column(units, "units", "parent_id", Arc::new(cleared))
}

fn table<'a>(export: &'a CheckedExport, name: &str) -> Result<&'a CheckedTable> {
    export.table(name).ok_or_else(|| Error::Internal(format!("the export has no table {name}")))
}

fn strings<'a>(table: &'a CheckedTable, column: &str) -> Result<&'a StringArray> {
    batch_strings(&table.kept, table.spec.name, column)
}

/// A column as text: a column held as a dictionary (one that `repeats`, the postings'
/// unit) decoded for the scoping, any other as it is.
fn decoded(batch: &RecordBatch, table: &str, column: &str) -> Result<ArrayRef> {
    let values = batch.column_by_name(column).ok_or_else(|| Error::Internal(format!("{table} has no {column}")))?;
    match values.data_type() {
        datafusion::arrow::datatypes::DataType::Dictionary(_, text) => datafusion::arrow::compute::cast(values, text)
            .map_err(|e| Error::Internal(format!("{table}.{column}: {e}"))),
        _ => Ok(Arc::clone(values)),
    }
}

fn batch_strings<'a>(batch: &'a RecordBatch, table: &str, column: &str) -> Result<&'a StringArray> {
    let values = batch.column_by_name(column).ok_or_else(|| Error::Internal(format!("{table} has no {column}")))?;
    as_strings(values, table, column)
}

fn as_strings<'a>(values: &'a ArrayRef, table: &str, column: &str) -> Result<&'a StringArray> {
    values.as_string_opt::<i32>().ok_or_else(|| Error::Internal(format!("{table}.{column} is not a string column")))
}
