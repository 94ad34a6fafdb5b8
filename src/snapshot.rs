//! Which files an export consisted of while it was read: each file's path, size,
//! modification time and inode. Taken before and after a read, it tells whether the case
//! system (or an operator) replaced or rewrote a file meanwhile, so figures never mix the
//! rows of two exports.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::{Error, Result};

/// The files below an export folder as they stood at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot(Vec<FileStamp>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStamp {
    pub path: PathBuf,
    pub len: u64,
    pub modified: Option<SystemTime>,
    /// A file replaced by a rename keeps its name, often its size and, copied with its
    /// times, its modification time; only the inode tells.
    pub inode: u64,
}

impl Snapshot {
    /// Every file below `dir` (followed through links, as the readers do).
    pub fn of(dir: &Path) -> Result<Snapshot> {
        let mut stamps = Vec::new();
        for relative in export_files(dir)? {
            stamps.push(FileStamp::of(dir.join(relative))?);
        }
        Ok(Snapshot(stamps))
    }

    /// Adds one more file (a rules file, the folder itself) to watch.
    pub fn with(mut self, path: PathBuf) -> Result<Snapshot> {
        self.0.push(FileStamp::of(path)?);
        Ok(self)
    }

    /// The first file that differs between the two moments: changed, added or removed.
    pub fn first_change<'a>(&'a self, later: &'a Snapshot) -> Option<&'a Path> {
        let changed = self.0.iter().zip(&later.0).find(|(a, b)| a != b).map(|(a, _)| a.path.as_path());
        changed.or_else(|| match self.0.len().cmp(&later.0.len()) {
            std::cmp::Ordering::Less => later.0.get(self.0.len()).map(|f| f.path.as_path()),
            std::cmp::Ordering::Greater => self.0.get(later.0.len()).map(|f| f.path.as_path()),
            std::cmp::Ordering::Equal => None,
        })
    }
}

impl FileStamp {
    fn of(path: PathBuf) -> Result<FileStamp> {
        let meta = fs::metadata(&path).map_err(|e| Error::io_path("read", &path, e))?;
        Ok(FileStamp { len: meta.len(), modified: meta.modified().ok(), inode: inode(&meta), path })
    }
}

#[cfg(unix)]
fn inode(meta: &fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(meta)
}

#[cfg(not(unix))]
fn inode(_meta: &fs::Metadata) -> u64 {
    0
}

/// Reads the export with `read`, and again once if a file changed meanwhile; a file that
/// changes during both reads stops the run, naming it.
pub fn read_unchanged<T>(dir: &Path, mut read: impl FnMut() -> Result<T>) -> Result<(T, Snapshot)> {
    let mut before = Snapshot::of(dir)?;
    for attempt in 1..=2 {
        let value = read();
        let after = Snapshot::of(dir)?;
        match before.first_change(&after) {
            None => return Ok((value?, after)),
            Some(file) if attempt == 2 => {
                return Err(Error::Export(format!(
                    "{}: the file changed while it was read, twice; run again when the export is complete",
                    file.display()
                )));
            }
            Some(file) => tracing::warn!(file = %file.display(), "a file of the export changed while it was read; reading the export again"),
        }
        before = after;
    }
    unreachable!("the loop returns on its second attempt")
}

/// Every file below the export folder, as sorted paths relative to it (`/`-separated).
pub fn export_files(exports: &Path) -> Result<Vec<String>> {
    let mut files = Vec::new();
    collect_files(exports, exports, &mut files)?;
    files.sort();
    Ok(files)
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io_path("list", &dir.to_path_buf(), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io_path("list", &dir.to_path_buf(), e))?;
        let path = entry.path();
        if path.is_dir() {
            collect_files(root, &path, out)?;
        } else if path.is_file() {
            out.push(path.strip_prefix(root).unwrap_or(&path).to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_rewritten_during_the_first_read_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cases.parquet");
        fs::write(&file, b"old").unwrap();
        let mut reads = 0;
        let (seen, _) = read_unchanged(dir.path(), || {
            reads += 1;
            let seen = fs::read(&file).unwrap();
            if reads == 1 {
                fs::write(&file, b"newer").unwrap();
            }
            Ok(seen)
        })
        .unwrap();
        assert_eq!((reads, seen.as_slice()), (2, b"newer".as_slice()));
    }

    #[test]
    fn a_file_replaced_during_both_reads_stops_the_run_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("measures.parquet");
        fs::write(&file, b"v0").unwrap();
        let mut version = 0;
        let err = read_unchanged(dir.path(), || {
            version += 1;
            // Same size, new inode: a replacement by rename.
            let next = dir.path().join(".next");
            fs::write(&next, format!("v{version}")).unwrap();
            fs::rename(&next, &file).unwrap();
            Ok(())
        })
        .unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("measures.parquet: the file changed while it was read"), "{err}");
    }
}
