//! One error type for the crate. Each variant maps to a documented exit code, and every
//! message says where the problem is (file, table, column, row) and never holds data
//! values from the export, so no personal data can leak through an error.

use std::path::PathBuf;

use datafusion::error::DataFusionError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The export cannot be read as the contract says (SPEC §6 "fatal").
    #[error("export error: {0}")]
    Export(String),

    /// The rules file is malformed.
    #[error("rules error in {file}: {message}")]
    Rules { file: String, message: String },

    /// Wrong command-line use or an unusable argument.
    #[error("{0}")]
    Usage(String),

    /// Too many rejected rows: the figures would not be trustworthy.
    #[error("{0}")]
    RejectedThreshold(String),

    /// Another run holds the output folder.
    #[error("{0}")]
    Busy(String),

    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },

    #[error("query failed: {0}{hint}", hint = memory_hint(.0))]
    Query(#[from] DataFusionError),

    #[error("{0}")]
    Internal(String),
}

impl Error {
    pub fn export(file: &std::path::Path, table: &str, column: Option<&str>, what: impl std::fmt::Display) -> Self {
        let column = column.map(|c| format!(", column {c}")).unwrap_or_default();
        Error::Export(format!("{}: table {table}{column}: {what}", file.display()))
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }

    pub fn io_path(action: &str, path: &PathBuf, source: std::io::Error) -> Self {
        Error::io(format!("cannot {action} {}", path.display()), source)
    }

    /// Process exit code; documented in the README for operators.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Export(_) | Error::Rules { .. } => 2,
            Error::Usage(_) => 64,
            Error::RejectedThreshold(_) => 3,
            Error::Busy(_) => 75,
            Error::Io { .. } => 74,
            Error::Query(_) | Error::Internal(_) => 70,
        }
    }
}

/// What to do when a query needs more memory than --memory-limit grants (operators that
/// cannot spill, such as the build side of a hash join, fail instead of spilling).
fn memory_hint(e: &DataFusionError) -> &'static str {
    match e.find_root() {
        DataFusionError::ResourcesExhausted(_) => {
            " (the query needs more memory than --memory-limit allows: raise the limit, or leave it out)"
        }
        _ => "",
    }
}
