//! One error type for the crate. Each variant maps to a documented exit code, and every
//! message says where the problem is (file, table, column, row) and never holds data
//! values from the export, so no personal data can leak through an error.

use std::path::Path;

use datafusion::error::DataFusionError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The export cannot be read as the contract says (a "fatal error", docs/export.md).
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

    /// The export does not fit in the memory the run may use (`--memory-limit`, else the
    /// cgroup's `memory.max`); the message says how much it needs.
    #[error("{0}")]
    Memory(String),

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

    pub fn io_path(action: &str, path: &Path, source: std::io::Error) -> Self {
        Error::io(format!("cannot {action} {}", path.display()), source)
    }

    /// A failed write of `path` by a writer library (Parquet, CSV, Excel): an I/O error
    /// (disk full, permissions, a read-only file system) where the OS refused, with its
    /// reason in words; an internal error only where the writer itself failed.
    pub fn writing(path: &std::path::Path, error: &(dyn std::error::Error + 'static)) -> Self {
        match io_cause(error) {
            Some(io) => Error::io(format!("cannot write {}", path.display()), copy_io_error(io)),
            None => Error::Internal(format!("cannot write {}: {error}", path.display())),
        }
    }

    /// Process exit code; documented in the README for operators.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Export(_) | Error::Rules { .. } | Error::Memory(_) => 2,
            Error::Usage(_) => 64,
            Error::RejectedThreshold(_) => 3,
            Error::Busy(_) => 75,
            Error::Io { .. } => 74,
            Error::Query(e) if matches!(e.find_root(), DataFusionError::ResourcesExhausted(_)) => 2,
            // A spill file the disk had no room for.
            Error::Query(e) if io_cause(e).is_some() => 74,
            Error::Query(_) => 70,
            Error::Internal(_) => 70,
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

/// The OS error behind a writer library's error, found along its chain of sources.
pub fn io_cause<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        next = e.source();
    }
    None
}

/// An owned copy of an `io::Error` that keeps its OS code, so the message still says
/// "No space left on device (os error 28)".
pub fn copy_io_error(e: &std::io::Error) -> std::io::Error {
    match e.raw_os_error() {
        Some(code) => std::io::Error::from_raw_os_error(code),
        None => std::io::Error::new(e.kind(), e.to_string()),
    }
}
