//! The KPI table (docs/kpis.md): definitions, and the row type read back from the `kpi` view.

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Date32Type, Float64Type, Int64Type};
use serde::Serialize;

use crate::error::{Error, Result};

pub struct KpiDefinition {
    pub id: &'static str,
    /// The item of the action plan the KPI follows (12 case-processing deadlines,
    /// 13 complaints, 15 plans, 16 follow-up, 17 investigations); none for notifications,
    /// which the law sets rather than a plan item.
    pub plan_item: Option<i32>,
    /// Met when the share is at most the target (complaints, the budget), not at least.
    pub lower_is_better: bool,
    /// Counts whole kroner (the budget's forecast against the budget), not items.
    pub in_kroner: bool,
    pub description: &'static str,
    /// Danish label for reports.
    pub label_da: &'static str,
    /// The further tables (docs/export.md) its items come from: a `cwkpi kpi --kpi`
    /// selection reads only the further tables its KPIs name.
    pub further_tables: &'static [&'static str],
}

pub const DEFINITIONS: &[KpiDefinition] = &[
    KpiDefinition {
        id: "plan_coverage",
        further_tables: &[],
        plan_item: Some(15),
        lower_is_better: false,
        in_kroner: false,
        description: "active cases whose due action plan exists",
        label_da: "Handleplan foreligger",
    },
    KpiDefinition {
        id: "plan_on_time",
        further_tables: &[],
        plan_item: Some(15),
        lower_is_better: false,
        in_kroner: false,
        description: "measures whose action plan was made by its due date (last 365 days)",
        label_da: "Handleplan rettidig",
    },
    KpiDefinition {
        id: "follow_up_on_time",
        further_tables: &[],
        plan_item: Some(16),
        lower_is_better: false,
        in_kroner: false,
        description: "active cases with no overdue follow-up",
        label_da: "Opfølgning rettidig",
    },
    KpiDefinition {
        id: "investigation_within_limit",
        further_tables: &[],
        plan_item: Some(17),
        lower_is_better: false,
        in_kroner: false,
        description: "open investigations still within the 4-month limit",
        label_da: "Åbne undersøgelser inden for frist",
    },
    KpiDefinition {
        id: "investigation_completed_within_limit",
        further_tables: &[],
        plan_item: Some(17),
        lower_is_better: false,
        in_kroner: false,
        description: "investigations completed within the limit (last 365 days)",
        label_da: "Afsluttede undersøgelser inden for frist",
    },
    KpiDefinition {
        id: "decision_within_deadline",
        further_tables: &["decisions"],
        plan_item: Some(12),
        lower_is_better: false,
        in_kroner: false,
        description: "applications decided within the published case-processing deadline (deadlines in the last 365 days)",
        label_da: "Afgørelse inden for sagsbehandlingsfrist",
    },
    KpiDefinition {
        id: "delay_letter_sent",
        further_tables: &["decisions"],
        plan_item: Some(12),
        lower_is_better: false,
        in_kroner: false,
        description: "applications not decided by their deadline whose applicant got a delay letter by then",
        label_da: "Orienteret om forsinkelse",
    },
    KpiDefinition {
        id: "notification_assessed_in_time",
        further_tables: &["notifications"],
        plan_item: None,
        lower_is_better: false,
        in_kroner: false,
        description: "notifications assessed within 24 hours (deadlines in the last 365 days)",
        label_da: "Underretning vurderet inden for 24 timer",
    },
    KpiDefinition {
        id: "notification_receipt_confirmed",
        further_tables: &["notifications"],
        plan_item: None,
        lower_is_better: false,
        in_kroner: false,
        description: "professionals' notifications whose receipt was confirmed within 6 working days",
        label_da: "Kvittering til fagperson rettidig",
    },
    KpiDefinition {
        id: "complaints_formalitet",
        further_tables: &["complaints"],
        plan_item: Some(13),
        lower_is_better: true,
        in_kroner: false,
        description: "procedural complaints in the last 365 days against the baseline (met at or below the target)",
        label_da: "Klager over formalitet mod basisår",
    },
    KpiDefinition {
        id: "complaints_realitet",
        further_tables: &["complaints"],
        plan_item: Some(13),
        lower_is_better: true,
        in_kroner: false,
        description: "complaints on the substance in the last 365 days against the baseline (met at or below the target)",
        label_da: "Klager over realitet mod basisår",
    },
    KpiDefinition {
        id: "lawful_case",
        further_tables: &["case_events"],
        plan_item: None,
        lower_is_better: false,
        in_kroner: false,
        description: "active cases with a measure meeting every element of the lawful-case checklist",
        label_da: "Lovmedholdelig sag",
    },
    KpiDefinition {
        id: "budget_forecast",
        further_tables: &["budgets", "postings"],
        plan_item: None,
        lower_is_better: true,
        in_kroner: true,
        description: "the year's forecast by commitments against the year's budget, in whole kroner (met at or below the target)",
        label_da: "Prognose inden for budget",
    },
];

/// The KPIs a `cwkpi kpi --kpi` selection names, in plan order: ids of `DEFINITIONS`, or
/// `core` for the five core KPIs. An empty selection is every KPI.
pub fn select(names: &[String]) -> Result<Vec<&'static KpiDefinition>> {
    if let Some(unknown) = names.iter().find(|n| *n != CORE && !DEFINITIONS.iter().any(|d| d.id == n.as_str())) {
        let known: Vec<&str> = DEFINITIONS.iter().map(|d| d.id).collect();
        return Err(Error::Usage(format!("--kpi {unknown}: no such KPI; give {CORE} or any of {}", known.join(", "))));
    }
    let named = |d: &KpiDefinition| {
        names.is_empty() || names.iter().any(|n| n == d.id || (n == CORE && crate::rules::CORE_KPI_IDS.contains(&d.id)))
    };
    Ok(DEFINITIONS.iter().filter(|d| named(d)).collect())
}

/// `--kpi core`: the five core KPIs.
const CORE: &str = "core";

/// The further tables `cwkpi kpi` may leave unread in the export `dir` when it computes
/// `kpis`: those none of them reads, and the postings (the largest table of an export)
/// unless the export has budgets, whose actuals they are: without budgets
/// `budget_forecast` has nothing to measure.
pub fn tables_no_kpi_reads(dir: &std::path::Path, kpis: &[&KpiDefinition]) -> Result<Vec<&'static str>> {
    let budgets = crate::contract::table("budgets").ok_or_else(|| Error::Internal("no budgets table".into()))?;
    let has_budgets = dir.is_dir() && crate::export::table_files(dir, budgets)?.is_some();
    let read = |table: &str| kpis.iter().any(|d| d.further_tables.contains(&table));
    Ok(crate::contract::TABLES
        .iter()
        .filter(|t| !t.core && (!read(t.name) || (t.name == "postings" && !has_budgets)))
        .map(|t| t.name)
        .collect())
}

/// One row of the KPI table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiRow {
    pub as_of: NaiveDate,
    pub unit_id: String,
    pub kpi_id: String,
    pub numerator: i64,
    pub denominator: i64,
    pub share: Option<f64>,
    pub target: f64,
    pub met: Option<bool>,
}

pub const CSV_HEADER: &str = "as_of,unit_id,kpi_id,numerator,denominator,share,target,met";

impl KpiRow {
    /// The `cwkpi kpi --format csv` line: fractions, true/false, empty for null.
    pub fn csv_line(&self) -> String {
        let share = self.share.map(|s| format!("{s:?}")).unwrap_or_default();
        let met = self.met.map(|m| m.to_string()).unwrap_or_default();
        format!(
            "{},{},{},{},{},{},{:?},{}",
            self.as_of,
            csv_field(&self.unit_id),
            self.kpi_id,
            self.numerator,
            self.denominator,
            share,
            self.target,
            met
        )
    }
}

/// Quotes a field that holds a comma, quote or line break (RFC 4180).
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// Reads rows of the `kpi` view (its column order) out of Arrow batches.
pub fn rows_from_batches(batches: &[RecordBatch]) -> Result<Vec<KpiRow>> {
    let mut rows = Vec::new();
    for b in batches {
        let col = |i: usize| b.column(i);
        let bad = |what: &str| Error::Internal(format!("kpi view: unexpected type of {what}"));
        let as_of = col(0).as_primitive_opt::<Date32Type>().ok_or_else(|| bad("as_of"))?;
        let unit = col(1).as_string_opt::<i32>().ok_or_else(|| bad("unit_id"))?;
        let kpi = col(2).as_string_opt::<i32>().ok_or_else(|| bad("kpi_id"))?;
        let num = col(3).as_primitive_opt::<Int64Type>().ok_or_else(|| bad("numerator"))?;
        let den = col(4).as_primitive_opt::<Int64Type>().ok_or_else(|| bad("denominator"))?;
        let share = col(5).as_primitive_opt::<Float64Type>().ok_or_else(|| bad("share"))?;
        let target = col(6).as_primitive_opt::<Float64Type>().ok_or_else(|| bad("target"))?;
        let met = col(7).as_boolean_opt().ok_or_else(|| bad("met"))?;
        for i in 0..b.num_rows() {
            rows.push(KpiRow {
                as_of: as_of.value_as_date(i).ok_or_else(|| bad("as_of value"))?,
                unit_id: unit.value(i).to_string(),
                kpi_id: kpi.value(i).to_string(),
                numerator: num.value(i),
                denominator: den.value(i),
                share: share.is_valid(i).then(|| share.value(i)),
                target: target.value(i),
                met: met.is_valid(i).then(|| met.value(i)),
            });
        }
    }
    Ok(rows)
}
