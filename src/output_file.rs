//! A file written through a writer library (CSV, Parquet) that keeps the OS's own error:
//! some libraries turn an I/O error into text ("Csv error: No space left on device"),
//! and a disk-full or read-only failure must still reach the operator as an I/O error
//! (exit 74) with the path.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result, copy_io_error};

type Slot = Arc<Mutex<Option<std::io::Error>>>;

/// The file, buffered, remembering the first error the OS gave.
pub struct OutputFile {
    inner: BufWriter<File>,
    failure: Failure,
}

/// What tells a failed write's cause once the writer library has given up.
#[derive(Clone)]
pub struct Failure {
    path: PathBuf,
    first: Slot,
}

impl OutputFile {
    pub fn create(path: &Path) -> Result<OutputFile> {
        let file = File::create(path).map_err(|e| Error::io_path("create", path, e))?;
        Ok(OutputFile {
            inner: BufWriter::new(file),
            failure: Failure { path: path.to_path_buf(), first: Slot::default() },
        })
    }

    /// A handle to ask, after the library failed, what the OS said.
    pub fn failure(&self) -> Failure {
        self.failure.clone()
    }

    /// Flushes what the library wrote and syncs it to disk.
    pub fn finish(mut self) -> Result<()> {
        let flushed = self.flush();
        flushed
            .and_then(|_| self.inner.get_ref().sync_all())
            .map_err(|e| Error::io_path("write", &self.failure.path, e))
    }

    fn keep<T>(&self, result: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &result {
            let mut first = self.failure.first.lock().unwrap_or_else(|p| p.into_inner());
            first.get_or_insert_with(|| copy_io_error(e));
        }
        result
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let r = self.inner.write(buf);
        self.keep(r)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let r = self.inner.flush();
        self.keep(r)
    }
}

impl Failure {
    /// The error to report for the library's failure `e`: the OS's, if it gave one.
    pub fn error(&self, e: &(dyn std::error::Error + 'static)) -> Error {
        match self.first.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            Some(io) => Error::io_path("write", &self.path, copy_io_error(io)),
            None => Error::writing(&self.path, e),
        }
    }
}
