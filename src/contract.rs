//! The export contract (docs/export.md): which tables an export holds, their columns, and the
//! type each column has once read. Everything that reads or checks an export starts here.

use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// The dates an export may hold (and instants, as Copenhagen dates): outside them a value
/// is a rejected row (`date out of range`). Legacy systems write 0001-01-01 or 9999-12-31
/// for "none"; no later step (a date sum, an Excel date, a time zone conversion) need then
/// handle a date that is not a plausible one.
pub const FIRST_DATE: NaiveDate = NaiveDate::from_ymd_opt(1900, 1, 1).expect("a date");
pub const LAST_DATE: NaiveDate = NaiveDate::from_ymd_opt(2199, 12, 31).expect("a date");

/// The largest amount a row may hold, either way (one billion kroner): no posting, budget
/// row or monthly cost comes near it, and every sum of øre stays within an i64. A value
/// beyond it (1e300, or a NaN a broken export writes) is a rejected row, so no later step
/// (a sum in øre, an Excel number) meets a value it cannot hold.
pub const LARGEST_AMOUNT: f64 = 1e9;

/// The instant (µs since the epoch) `day` begins in Copenhagen.
pub fn copenhagen_midnight(day: NaiveDate) -> Option<i64> {
    use chrono::TimeZone;
    chrono_tz::Europe::Copenhagen
        .from_local_datetime(&day.and_time(chrono::NaiveTime::MIN))
        .earliest()
        .map(|t| t.timestamp_micros())
}

/// What a column holds, and so which source types can be converted into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// An identifier: strings, or integers read as strings; "" means null.
    Id,
    /// Free text or a code (paragraph, name, kind …).
    Text,
    /// A calendar date (Date32); timestamps are turned into Copenhagen dates.
    Date,
    /// An instant (µs since the epoch, shown in Copenhagen time). A naive source value is
    /// Copenhagen wall-clock time: in the repeated autumn hour the first (summer-time)
    /// occurrence, and a time in the skipped spring hour is a rejected row.
    Timestamp,
    /// A flag; a missing or null flag reads as false when the column says so.
    Bool,
    /// An amount or other number, read as f64. A value that is not finite or lies beyond
    /// `LARGEST_AMOUNT` either way is a rejected row (`Rule::NumberOutOfRange`).
    Number,
    /// A whole number that must lie in `min..=max` (a year, a month), read as i64; a value
    /// outside, or with a fraction, is a rejected row (`Rule::NumberOutOfRange`).
    Integer { min: i64, max: i64 },
    /// Personal data (CPR): part of the contract, never read.
    Personal,
}

impl ColumnKind {
    /// The Arrow type the column has in the catalog.
    pub fn data_type(self) -> DataType {
        match self {
            ColumnKind::Id | ColumnKind::Text | ColumnKind::Personal => DataType::Utf8,
            ColumnKind::Date => DataType::Date32,
            ColumnKind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some(TIME_ZONE.into())),
            ColumnKind::Bool => DataType::Boolean,
            ColumnKind::Number => DataType::Float64,
            ColumnKind::Integer { .. } => DataType::Int64,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            ColumnKind::Id => "an id (string or integer)",
            ColumnKind::Text => "text (string)",
            ColumnKind::Date => "a date (Date32, Date64 or timestamp)",
            ColumnKind::Timestamp => "a timestamp",
            ColumnKind::Bool => "a boolean",
            ColumnKind::Number => "a number",
            ColumnKind::Integer { .. } => "a whole number",
            ColumnKind::Personal => "personal data",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ColumnSpec {
    pub name: &'static str,
    pub kind: ColumnKind,
    /// A required column must exist in every file and hold no nulls.
    pub required: bool,
    /// For optional flags: the value a missing or null cell takes.
    pub default_false: bool,
    /// Text that repeats a few values over millions of rows (the postings' cost centre
    /// and account): held dictionary-encoded, each value once and a number per row. The
    /// catalog still shows it as text (`stored_type`).
    pub repeats: bool,
}

impl ColumnSpec {
    /// The Arrow type the column is held in once read: its kind's, or a dictionary of
    /// that type for a column that `repeats`.
    pub fn stored_type(&self) -> DataType {
        if self.repeats {
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(self.kind.data_type()))
        } else {
            self.kind.data_type()
        }
    }
}

const fn req(name: &'static str, kind: ColumnKind) -> ColumnSpec {
    ColumnSpec { name, kind, required: true, default_false: false, repeats: false }
}
const fn opt(name: &'static str, kind: ColumnKind) -> ColumnSpec {
    ColumnSpec { name, kind, required: false, default_false: false, repeats: false }
}
const fn flag(name: &'static str) -> ColumnSpec {
    ColumnSpec { name, kind: ColumnKind::Bool, required: false, default_false: true, repeats: false }
}
/// A column of text that `repeats` a few values.
const fn repeating(column: ColumnSpec) -> ColumnSpec {
    ColumnSpec { repeats: true, ..column }
}

/// What identifies a row of a table: every row whose key occurs more than once is
/// rejected (every copy).
#[derive(Debug)]
pub enum Key {
    /// One id column (other tables may refer to it).
    Id(&'static str),
    /// Several columns together; a null is a value of its own (a budget's yearly row has
    /// no month). `label` names them in a rejection.
    Columns { columns: &'static [&'static str], label: &'static str },
}

#[derive(Debug)]
pub struct TableSpec {
    pub name: &'static str,
    pub key: Key,
    pub columns: &'static [ColumnSpec],
    /// Core tables must be present; further tables are optional (absent = empty).
    pub core: bool,
    /// Columns that must name an existing row of another table (checked in `checks`).
    pub references: &'static [Reference],
    /// (start, end) date pairs where the end may not lie before the start.
    pub ordered: &'static [(&'static str, &'static str)],
    /// Columns shown to help find a listed row in the case system: ids and dates, never
    /// personal data.
    pub locator: &'static [&'static str],
}

/// A reference from `columns` of this table to `parent_columns` of `parent`. A row whose
/// referring columns are all non-null must match a checked row of the parent; a null in
/// any of them means "no reference" (e.g. a follow-up without measure).
#[derive(Debug)]
pub struct Reference {
    pub columns: &'static [&'static str],
    pub parent: &'static str,
    pub parent_columns: &'static [&'static str],
}

const fn refers(
    column: &'static [&'static str],
    parent: &'static str,
    parent_columns: &'static [&'static str],
) -> Reference {
    Reference { columns: column, parent, parent_columns }
}

use ColumnKind::*;

/// The zone instants are shown in, and naive timestamps of an export are read in.
pub const TIME_ZONE: &str = "Europe/Copenhagen";

/// Every table of the contract, parents before children (the order rows are checked in).
pub static TABLES: &[TableSpec] = &[
    TableSpec {
        name: "units",
        references: &[refers(&["parent_id"], "units", &["unit_id"])],
        ordered: &[],
        locator: &["unit_id", "parent_id"],
        key: Key::Id("unit_id"),
        core: true,
        columns: &[req("unit_id", Id), req("name", Text), opt("parent_id", Id)],
    },
    TableSpec {
        name: "caseworkers",
        references: &[refers(&["unit_id"], "units", &["unit_id"])],
        ordered: &[],
        locator: &["caseworker_id", "unit_id"],
        key: Key::Id("caseworker_id"),
        core: true,
        columns: &[req("caseworker_id", Id), req("name", Text), req("unit_id", Id)],
    },
    TableSpec {
        name: "children",
        references: &[],
        ordered: &[],
        locator: &["child_id"],
        key: Key::Id("child_id"),
        core: true,
        columns: &[req("child_id", Id), req("birth_date", Date), opt("cpr", Personal)],
    },
    TableSpec {
        name: "cases",
        references: &[
            refers(&["child_id"], "children", &["child_id"]),
            refers(&["unit_id"], "units", &["unit_id"]),
            refers(&["caseworker_id"], "caseworkers", &["caseworker_id"]),
        ],
        ordered: &[("opened_on", "closed_on")],
        locator: &["case_id", "unit_id", "opened_on", "closed_on"],
        key: Key::Id("case_id"),
        core: true,
        columns: &[
            req("case_id", Id),
            req("child_id", Id),
            req("unit_id", Id),
            opt("caseworker_id", Id),
            req("opened_on", Date),
            opt("closed_on", Date),
            opt("target_group", Text),
        ],
    },
    TableSpec {
        name: "measures",
        references: &[refers(&["case_id"], "cases", &["case_id"])],
        ordered: &[("started_on", "ended_on")],
        locator: &["measure_id", "case_id", "paragraph", "started_on", "ended_on"],
        key: Key::Id("measure_id"),
        core: true,
        columns: &[
            req("measure_id", Id),
            req("case_id", Id),
            req("paragraph", Text),
            req("started_on", Date),
            opt("ended_on", Date),
            opt("decided_on", Date),
            flag("acute"),
            opt("monthly_cost_dkk", Number),
            opt("provider", Text),
        ],
    },
    TableSpec {
        name: "investigations",
        references: &[refers(&["case_id"], "cases", &["case_id"])],
        ordered: &[("started_on", "completed_on")],
        locator: &["investigation_id", "case_id", "started_on", "completed_on"],
        key: Key::Id("investigation_id"),
        core: true,
        columns: &[
            req("investigation_id", Id),
            req("case_id", Id),
            req("started_on", Date),
            opt("completed_on", Date),
            opt("aware_on", Date),
        ],
    },
    TableSpec {
        name: "action_plans",
        references: &[refers(&["case_id"], "cases", &["case_id"])],
        ordered: &[],
        locator: &["plan_id", "case_id", "created_on"],
        key: Key::Id("plan_id"),
        core: true,
        columns: &[req("plan_id", Id), req("case_id", Id), req("created_on", Date)],
    },
    TableSpec {
        name: "follow_ups",
        references: &[
            refers(&["case_id"], "cases", &["case_id"]),
            refers(&["measure_id", "case_id"], "measures", &["measure_id", "case_id"]),
        ],
        ordered: &[],
        locator: &["follow_up_id", "case_id", "measure_id", "performed_on"],
        key: Key::Id("follow_up_id"),
        core: true,
        columns: &[
            req("follow_up_id", Id),
            req("case_id", Id),
            req("performed_on", Date),
            opt("measure_id", Id),
            opt("next_due_on", Date),
        ],
    },
    // Further tables (docs/export.md): each optional as a whole; absent, its figures are empty.
    TableSpec {
        name: "notifications",
        references: &[refers(&["unit_id"], "units", &["unit_id"]), refers(&["case_id"], "cases", &["case_id"])],
        ordered: &[("received_at", "assessed_at")],
        locator: &["notification_id", "unit_id", "case_id", "received_at", "assessed_at"],
        key: Key::Id("notification_id"),
        core: false,
        columns: &[
            req("notification_id", Id),
            req("unit_id", Id),
            req("received_at", Timestamp),
            opt("assessed_at", Timestamp),
            flag("professional"),
            opt("receipt_confirmed_on", Date),
            opt("child_id", Id),
            opt("case_id", Id),
        ],
    },
    TableSpec {
        name: "decisions",
        references: &[refers(&["case_id"], "cases", &["case_id"])],
        ordered: &[("applied_on", "decided_on")],
        locator: &["decision_id", "case_id", "paragraph", "applied_on", "decided_on"],
        key: Key::Id("decision_id"),
        core: false,
        columns: &[
            req("decision_id", Id),
            req("case_id", Id),
            req("paragraph", Text),
            req("applied_on", Date),
            opt("decided_on", Date),
            opt("outcome", Text),
            opt("delay_letter_on", Date),
        ],
    },
    TableSpec {
        name: "complaints",
        references: &[refers(&["unit_id"], "units", &["unit_id"]), refers(&["case_id"], "cases", &["case_id"])],
        ordered: &[],
        locator: &["complaint_id", "unit_id", "case_id", "received_on", "kind"],
        key: Key::Id("complaint_id"),
        core: false,
        columns: &[
            req("complaint_id", Id),
            req("unit_id", Id),
            req("received_on", Date),
            req("kind", Text),
            opt("case_id", Id),
        ],
    },
    TableSpec {
        name: "case_events",
        references: &[refers(&["case_id"], "cases", &["case_id"])],
        ordered: &[],
        locator: &["event_id", "case_id", "kind", "occurred_on"],
        key: Key::Id("event_id"),
        core: false,
        columns: &[req("event_id", Id), req("case_id", Id), req("kind", Text), req("occurred_on", Date)],
    },
    TableSpec {
        name: "postings",
        // A posting's measure must exist, and when the posting also names a case, belong
        // to it; a posting with a measure and no case is kept (not booked on a case).
        references: &[
            refers(&["unit_id"], "units", &["unit_id"]),
            refers(&["case_id"], "cases", &["case_id"]),
            refers(&["measure_id"], "measures", &["measure_id"]),
            refers(&["measure_id", "case_id"], "measures", &["measure_id", "case_id"]),
        ],
        ordered: &[],
        locator: &["posting_id", "unit_id", "case_id", "measure_id", "account", "posted_on"],
        key: Key::Id("posting_id"),
        core: false,
        columns: &[
            req("posting_id", Id),
            repeating(req("unit_id", Id)),
            repeating(req("account", Text)),
            req("posted_on", Date),
            req("amount_dkk", Number),
            opt("case_id", Id),
            opt("measure_id", Id),
        ],
    },
    TableSpec {
        name: "budgets",
        // The corrected budget of a unit's account for a year (no month) or one month.
        references: &[refers(&["unit_id"], "units", &["unit_id"])],
        ordered: &[],
        locator: &["unit_id", "year", "account", "month"],
        key: Key::Columns { columns: &["unit_id", "year", "account", "month"], label: "unit_id, year, account, month" },
        core: false,
        columns: &[
            req("unit_id", Id),
            req("year", Integer { min: 1900, max: 2199 }),
            req("account", Text),
            opt("month", Integer { min: 1, max: 12 }),
            req("amount_dkk", Number),
        ],
    },
];

impl Key {
    /// The id column, for a table keyed by one.
    pub fn id_column(&self) -> Option<&'static str> {
        match self {
            Key::Id(column) => Some(column),
            Key::Columns { .. } => None,
        }
    }

    pub fn columns(&self) -> &[&'static str] {
        match self {
            Key::Id(column) => std::slice::from_ref(column),
            Key::Columns { columns, .. } => columns,
        }
    }

    /// The column (or columns) a duplicate is reported under.
    pub fn label(&self) -> &'static str {
        match self {
            Key::Id(column) => column,
            Key::Columns { label, .. } => label,
        }
    }
}

impl TableSpec {
    /// The columns the catalog holds: the contract minus personal data.
    /// The end dates of the table's date pairs (`closed_on`, `ended_on`, …): optional
    /// columns where a null means "still open".
    pub fn end_columns(&self) -> impl Iterator<Item = &'static str> {
        self.ordered.iter().map(|(_, end)| *end)
    }

    pub fn read_columns(&self) -> impl Iterator<Item = &ColumnSpec> {
        self.columns.iter().filter(|c| c.kind != Personal)
    }

    /// Schema of the checked table as views and analysts see it.
    pub fn schema(&self) -> SchemaRef {
        let fields: Vec<Field> = self
            .read_columns()
            .map(|c| Field::new(c.name, c.kind.data_type(), !c.required && !c.default_false))
            .collect();
        Arc::new(Schema::new(fields))
    }

    /// Schema of the checked table as held in memory: `schema`, with a dictionary for a
    /// column that `repeats`.
    pub fn stored_schema(&self) -> SchemaRef {
        let fields: Vec<Field> =
            self.read_columns().map(|c| Field::new(c.name, c.stored_type(), !c.required && !c.default_false)).collect();
        Arc::new(Schema::new(fields))
    }

    /// Schema of the table as read, before row checks, in the types held in memory: every
    /// column nullable (nulls in required columns are rejected rows, not read errors).
    pub fn raw_schema(&self) -> SchemaRef {
        let fields: Vec<Field> = self.read_columns().map(|c| Field::new(c.name, c.stored_type(), true)).collect();
        Arc::new(Schema::new(fields))
    }
}

pub fn table(name: &str) -> Option<&'static TableSpec> {
    TABLES.iter().find(|t| t.name == name)
}

/// Name of the raw (unchecked) table in the catalog.
pub fn raw_name(table: &str) -> String {
    format!("raw_{table}")
}
