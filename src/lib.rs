//! cwkpi: compliance metrics for child-welfare casework, computed with DataFusion SQL
//! over the case system's Parquet exports.
//!
//! Data flows one way: `export` reads files → `checks` keeps the rows that honour the
//! contract → `catalog` registers them with the `rules` and the views of `queries/` →
//! commands read views (`kpi`, reports, analysts' SQL).

pub mod at_other_dates;
pub mod by_key;
pub mod cached_view;
pub mod calendar;
pub mod catalog;
pub mod checks;
pub mod cli_output;
pub mod contained;
pub mod contract;
pub mod cores;
pub mod delivery;
pub mod dictionary_columns;
pub mod error;
pub mod export;
pub mod freed_memory;
// `gen` is a reserved word in edition 2024, hence the raw identifier.
pub mod r#gen;
pub mod history;
pub mod id_index;
pub mod import;
pub mod kpi;
pub mod letters;
pub mod memory_budget;
pub mod nightly;
pub mod output_file;
pub mod queries;
pub mod releasable;
pub mod report;
pub mod rules;
pub mod scope;
pub mod serve;
pub mod shell;
pub mod snapshot;
pub mod sql_functions;
pub mod validate;

pub use catalog::{Catalog, CheckedExport, EngineOptions};
pub use error::{Error, Result};
pub use rules::Rules;
