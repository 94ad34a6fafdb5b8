//! The report's lists of the lawful-case audit, recovery, turning 18, finance and the
//! projection, by one mechanism: a list is a report statement (`queries/statements/`,
//! ordered by unit, then as the list reads) and a description of its columns. The page shows
//! a list's first rows and says how many more there are; the workbook has a sheet with all
//! of them; `tables/<key>.csv|parquet` has every unit's rows.

use std::collections::HashMap;
use std::ops::Range;

use chrono::NaiveDate;

use super::da;
use super::frame::{Frame, TableOut, Value, statement};
use crate::catalog::Catalog;
use crate::error::Result;

/// How a column reads on the page and in the workbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int,
    /// Kroner with øre: "12.345,50 kr." on the page, a number in the workbook.
    Money,
    /// A fraction shown as a percentage.
    Pct,
    Date,
    /// true / false as "Ja" / "Nej".
    YesNo,
    /// A milestone or KPI met or not: "Nået" / "Ikke nået", none as "–".
    Met,
    /// A unit id, shown by its name.
    Unit,
    /// `caseworker_id` shown by the name in `caseworker_name`, where the export has one.
    Caseworker,
    /// Checklist element names (`investigated;plan`) in Danish.
    Elements,
    /// A KPI id, shown by its Danish label.
    Kpi,
}

pub struct Column {
    pub source: &'static str,
    pub header: &'static str,
    pub kind: Kind,
    /// Column width in the workbook (characters).
    pub width: f64,
}

const fn col(source: &'static str, header: &'static str, kind: Kind, width: f64) -> Column {
    Column { source, header, kind, width }
}

pub struct ListSpec {
    /// `tables/<key>.csv`, and the Excel table's name.
    pub key: &'static str,
    pub statement: &'static str,
    /// Whether the statement takes the report date as `$1` (else it covers every week).
    pub at_report_date: bool,
    pub sheet: &'static str,
    pub title: &'static str,
    pub columns: &'static [Column],
    /// The column that names a row on the page (`data-key`), for readers and tests.
    pub key_column: &'static str,
    /// Rows shown on the page; the rest are in the workbook.
    pub page_limit: usize,
}

/// The lists, in workbook order.
pub static AUDIT_LISTS: [ListSpec; 8] = [
    ListSpec {
        key: "checklist",
        statement: "report_checklist",
        at_report_date: true,
        sheet: "Tjekliste",
        title: "Manglende elementer i tjeklisten",
        columns: &[
            col("element", "Element", Kind::Elements, 44.0),
            col("missing", "Sager uden", Kind::Int, 12.0),
            col("cases", "Sager i alt", Kind::Int, 12.0),
            col("share", "Andel uden", Kind::Pct, 12.0),
        ],
        key_column: "element",
        page_limit: 6,
    },
    ListSpec {
        key: "recovery",
        statement: "report_recovery",
        at_report_date: true,
        sheet: "Genopretning",
        title: "Sager til genopretning",
        columns: &[
            col("position", "Nr.", Kind::Int, 8.0),
            col("case_id", "Sag", Kind::Text, 12.0),
            col("case_unit_id", "Enhed", Kind::Unit, 28.0),
            col("caseworker_id", "Sagsbehandler", Kind::Caseworker, 22.0),
            col("acute", "Akut", Kind::YesNo, 8.0),
            col("monthly_cost_dkk", "Udgift pr. måned", Kind::Money, 16.0),
            col("missing", "Mangler", Kind::Elements, 60.0),
        ],
        key_column: "case_id",
        page_limit: 25,
    },
    ListSpec {
        key: "recovery_caseworkers",
        statement: "report_recovery_caseworkers",
        at_report_date: true,
        sheet: "Genopretning pr. sagsbehandler",
        title: "Sager til genopretning pr. sagsbehandler",
        columns: &[
            col("caseworker_id", "Sagsbehandler", Kind::Caseworker, 28.0),
            col("cases", "Sager", Kind::Int, 10.0),
            col("acute_cases", "Heraf akutte", Kind::Int, 12.0),
        ],
        key_column: "caseworker_id",
        page_limit: 20,
    },
    ListSpec {
        key: "recovery_milestones",
        statement: "report_recovery_milestones",
        at_report_date: true,
        sheet: "Delmål for genopretning",
        title: "Delmål for genopretning",
        columns: &[
            col("on_date", "Dato", Kind::Date, 12.0),
            col("max_remaining", "Højst tilbage", Kind::Int, 14.0),
            col("remaining", "Tilbage", Kind::Int, 10.0),
            col("met", "Status", Kind::Met, 12.0),
        ],
        key_column: "on_date",
        page_limit: 20,
    },
    ListSpec {
        key: "turning_18",
        statement: "report_turning_18",
        at_report_date: true,
        sheet: "Overgang til voksenlivet",
        title: "Børn og unge, der fylder 18 inden for et halvt år",
        columns: &[
            col("turns_18_on", "Fylder 18", Kind::Date, 12.0),
            col("case_id", "Sag", Kind::Text, 12.0),
            col("case_unit_id", "Enhed", Kind::Unit, 28.0),
            col("caseworker_id", "Sagsbehandler", Kind::Caseworker, 22.0),
            col("paragraphs", "Foranstaltninger (paragraf)", Kind::Text, 30.0),
        ],
        key_column: "case_id",
        page_limit: 25,
    },
    ListSpec {
        key: "paid_without_measure",
        statement: "report_paid_without_measure",
        at_report_date: true,
        sheet: "Betalt uden foranstaltning",
        title: "Udbetalt på en sag uden aktiv foranstaltning",
        columns: &[
            col("posted_on", "Bogført", Kind::Date, 12.0),
            col("amount_dkk", "Beløb", Kind::Money, 16.0),
            col("case_id", "Sag", Kind::Text, 12.0),
            col("measure_id", "Foranstaltning", Kind::Text, 14.0),
            col("account", "Konto", Kind::Text, 14.0),
            col("posting_unit_id", "Omkostningssted", Kind::Unit, 28.0),
            col("posting_id", "Postering", Kind::Text, 14.0),
        ],
        key_column: "posting_id",
        page_limit: 20,
    },
    ListSpec {
        key: "registered_not_paid",
        statement: "report_registered_not_paid",
        at_report_date: true,
        sheet: "Ikke udbetalt",
        title: "Foranstaltninger uden udbetaling sidste måned",
        columns: &[
            col("monthly_cost_dkk", "Udgift pr. måned", Kind::Money, 16.0),
            col("measure_id", "Foranstaltning", Kind::Text, 14.0),
            col("case_id", "Sag", Kind::Text, 12.0),
            col("paragraph", "Paragraf", Kind::Text, 12.0),
            col("started_on", "Startet", Kind::Date, 12.0),
            col("case_unit_id", "Enhed", Kind::Unit, 28.0),
        ],
        key_column: "measure_id",
        page_limit: 20,
    },
    ListSpec {
        key: "budget_months",
        statement: "report_budget_months",
        at_report_date: true,
        sheet: "Budget",
        title: "Budget og forbrug måned for måned",
        columns: &[
            col("account", "Konto", Kind::Text, 12.0),
            col("month", "Måned", Kind::Int, 8.0),
            col("budget_dkk", "Budget", Kind::Money, 16.0),
            col("actual_dkk", "Forbrug", Kind::Money, 16.0),
            col("budget_cumulative_dkk", "Budget akkumuleret", Kind::Money, 18.0),
            col("actual_cumulative_dkk", "Forbrug akkumuleret", Kind::Money, 18.0),
            col("closed", "Afsluttet måned", Kind::YesNo, 10.0),
        ],
        key_column: "account",
        // The page draws the months as a chart; the sheet has every row.
        page_limit: 0,
    },
];

/// One row per unit of figures the sections state in words (no sheet of their own; in
/// `tables/`).
pub static FIGURES: [ListSpec; 3] = [
    figures("turning_18_units", "report_turning_18_units"),
    figures("finance", "report_finance"),
    figures("budget", "report_budget"),
];

/// A list of per-unit figures at the report date: no sheet, no title, no page rows.
const fn figures(key: &'static str, statement: &'static str) -> ListSpec {
    ListSpec {
        key,
        statement,
        at_report_date: true,
        sheet: "",
        title: "",
        columns: &[],
        key_column: "unit_id",
        page_limit: 0,
    }
}

/// The projection: read beside the lists, shown in the KPI table and its own sheet.
pub static PROJECTION: ListSpec = ListSpec {
    key: "kpi_projection",
    statement: "report_projection",
    at_report_date: true,
    sheet: "Fremskrivning",
    title: "Fremskrivning af nøgletallene (hvis intet mere gøres)",
    columns: &[
        col("kpi_id", "Nøgletal", Kind::Kpi, 40.0),
        col("weeks_ahead", "Uger frem", Kind::Int, 10.0),
        col("projected_as_of", "Søndag", Kind::Date, 12.0),
        col("numerator", "Tæller", Kind::Int, 9.0),
        col("denominator", "Nævner", Kind::Int, 9.0),
        col("share", "Andel", Kind::Pct, 9.0),
        col("target", "Mål", Kind::Pct, 8.0),
        col("met", "Status", Kind::Met, 12.0),
    ],
    key_column: "kpi_id",
    page_limit: 0,
};

/// A list read for all units: its rows, and where each unit's rows are.
pub struct List {
    pub spec: &'static ListSpec,
    pub(crate) frame: Frame,
    by_unit: HashMap<String, Range<usize>>,
}

impl List {
    /// Runs the list's statement; `as_of` is the report date, for statements that take it.
    pub async fn load(catalog: &Catalog, spec: &'static ListSpec, as_of: NaiveDate) -> Result<List> {
        let frame = Frame::new(statement(catalog, spec.statement, spec.at_report_date.then_some(as_of)).await?)?;
        // The statements order by unit first, so each unit's rows are one run.
        let mut by_unit: HashMap<String, Range<usize>> = HashMap::new();
        for i in 0..frame.rows() {
            let unit = frame.str("unit_id", i)?;
            by_unit.entry(unit).and_modify(|r| r.end = i + 1).or_insert(i..i + 1);
        }
        Ok(List { spec, frame, by_unit })
    }

    /// The rows of one unit's report, in the list's order.
    pub fn rows(&self, unit: &str) -> Range<usize> {
        self.by_unit.get(unit).cloned().unwrap_or(0..0)
    }

    pub fn value(&self, column: &str, row: usize) -> Result<Value> {
        self.frame.value(column, row)
    }

    /// The list for `tables/`.
    pub fn table(&self) -> TableOut {
        TableOut { name: self.spec.key, batch: self.frame.batch.clone() }
    }
}

/// A cell as the page shows it: its text and whether it is a number (right-aligned).
pub fn page_text(column: &Column, list: &List, row: usize, unit_name: &dyn Fn(&str) -> String) -> Result<String> {
    let value = list.value(column.source, row)?;
    Ok(match (column.kind, value) {
        (Kind::Caseworker, id) => {
            let id = match id {
                Value::Text(s) => Some(s),
                _ => None,
            };
            let name = match list.value("caseworker_name", row)? {
                Value::Text(s) => Some(s),
                _ => None,
            };
            da::caseworker(id.as_deref(), name.as_deref())
        }
        (Kind::Met, Value::Bool(met)) => da::milestone_status(Some(met)).to_string(),
        (Kind::Met, _) => da::milestone_status(None).to_string(),
        (_, Value::Null) => "–".into(),
        (Kind::Unit, Value::Text(id)) => unit_name(&id),
        (Kind::Elements, Value::Text(ids)) => da::elements(&ids),
        (Kind::Kpi, Value::Text(id)) => da::kpi_label(&id).to_string(),
        (Kind::Money, Value::Float(x)) => da::money(x),
        (Kind::Pct, Value::Float(x)) => da::percent(Some(x)),
        (Kind::YesNo, Value::Bool(b)) => if b { "Ja" } else { "Nej" }.into(),
        (_, Value::Int(n)) => da::integer(n),
        (_, Value::Date(d)) => da::date(d),
        (_, Value::Text(s)) => s,
        (_, Value::Float(x)) => da::decimal(x, 2),
        (_, Value::Bool(b)) => if b { "Ja" } else { "Nej" }.into(),
    })
}

pub fn is_number(kind: Kind) -> bool {
    matches!(kind, Kind::Int | Kind::Money | Kind::Pct)
}

#[derive(serde::Serialize)]
pub struct HeaderView {
    text: &'static str,
    num: bool,
}

#[derive(serde::Serialize)]
pub struct CellView {
    text: String,
    class: &'static str,
}

#[derive(serde::Serialize)]
pub struct RowView {
    key: String,
    cells: Vec<CellView>,
}

/// A list as one unit's page shows it: its first rows and how many there are in all.
#[derive(serde::Serialize)]
pub struct ListView {
    key: &'static str,
    sheet: &'static str,
    headers: Vec<HeaderView>,
    rows: Vec<RowView>,
    /// The rows after the first `page_limit`, one click away on the page.
    more: Vec<RowView>,
    total: usize,
    total_text: String,
    /// Said instead of an empty table.
    empty: String,
}

/// Rows of a list the page holds after its first `page_limit`, folded away; the rest are
/// in the workbook.
pub const MORE_ROWS: usize = 100;

/// The first `page_limit` rows of a unit's list, formatted for the page, and up to
/// `MORE_ROWS` after them.
/// A unit without sub-units leaves out the columns that name a unit: they would all name it.
pub fn page_view(
    list: &List,
    unit: &str,
    unit_name: &dyn Fn(&str) -> String,
    show_units: bool,
    empty: &str,
) -> Result<ListView> {
    let spec = list.spec;
    let columns: Vec<&Column> = spec.columns.iter().filter(|c| show_units || c.kind != Kind::Unit).collect();
    let all = list.rows(unit);
    let total = all.len();
    let mut rows = Vec::new();
    for row in all.take(if spec.page_limit == 0 { 0 } else { spec.page_limit + MORE_ROWS }) {
        let mut cells = Vec::new();
        for column in &columns {
            let text = page_text(column, list, row, unit_name)?;
            let class = match (column.kind, list.value(column.source, row)?) {
                (Kind::Met, Value::Bool(true)) => "met",
                (Kind::Met, Value::Bool(false)) => "notmet",
                (Kind::Date, _) => "date",
                (kind, _) if is_number(kind) => "num",
                _ => "",
            };
            cells.push(CellView { text, class });
        }
        let key = match list.value(spec.key_column, row)? {
            Value::Null => String::new(),
            Value::Text(s) => s,
            Value::Date(d) => d.to_string(),
            other => format!("{other:?}"),
        };
        rows.push(RowView { key, cells });
    }
    let more = rows.split_off(rows.len().min(spec.page_limit));
    Ok(ListView {
        key: spec.key,
        sheet: spec.sheet,
        headers: columns.iter().map(|c| HeaderView { text: c.header, num: is_number(c.kind) }).collect(),
        rows,
        more,
        total,
        total_text: da::integer(total as i64),
        empty: empty.to_string(),
    })
}
