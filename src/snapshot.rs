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

    /// The first file, by path, that differs between the two moments: changed, added or
    /// removed. Paths are matched by name, so a file that appears does not shift the
    /// comparison onto files that stood still.
    pub fn first_change<'a>(&'a self, later: &'a Snapshot) -> Option<&'a Path> {
        let earlier: std::collections::BTreeMap<&Path, &FileStamp> =
            self.0.iter().map(|f| (f.path.as_path(), f)).collect();
        let now: std::collections::BTreeMap<&Path, &FileStamp> =
            later.0.iter().map(|f| (f.path.as_path(), f)).collect();
        let changed = earlier.iter().filter(|(path, stamp)| now.get(*path) != Some(*stamp)).map(|(path, _)| *path);
        let added = now.keys().filter(|path| !earlier.contains_key(*path)).copied();
        changed.chain(added).min()
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
            Some(file) => {
                tracing::warn!(file = %file.display(), "a file of the export changed while it was read; reading the export again")
            }
        }
        before = after;
    }
    unreachable!("the loop returns on its second attempt")
}

/// Every file below the export folder, as sorted paths relative to it (`/`-separated).
/// Names beginning with a dot are skipped at every level: that is where writers keep a
/// file they are still writing before renaming it into place, and the readers skip them too.
pub fn export_files(exports: &Path) -> Result<Vec<String>> {
    let mut files: Vec<String> = files_below(exports)?
        .iter()
        .map(|path| path.strip_prefix(exports).unwrap_or(path).to_string_lossy().replace('\\', "/"))
        .collect();
    files.sort();
    Ok(files)
}

/// Every file below `dir`, following links, names beginning with a dot skipped. A folder
/// reached a second time (a link that loops back, or two links to one folder) stops the
/// run naming it: read on, a loop would read the same files without end, and two links
/// would read a table's rows twice.
pub fn files_below(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut seen = std::collections::HashSet::new();
    collect_files(dir, &mut seen, &mut files)?;
    Ok(files)
}

fn collect_files(dir: &Path, seen: &mut std::collections::HashSet<PathBuf>, out: &mut Vec<PathBuf>) -> Result<()> {
    let real = fs::canonicalize(dir).map_err(|e| Error::io_path("resolve", dir, e))?;
    if !seen.insert(real) {
        return Err(Error::Export(format!(
            "{}: this folder is reached a second time through a link (a link that loops back, or two links to one \
             folder); an export must hold each file once",
            dir.display()
        )));
    }
    let entries = fs::read_dir(dir).map_err(|e| Error::io_path("list", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io_path("list", dir, e))?;
        let path = entry.path();
        if is_hidden(&path) {
            continue;
        } else if path.is_dir() {
            collect_files(&path, seen, out)?;
        } else if path.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

/// A name beginning with a dot: a writer's file in progress, or the system's own.
pub fn is_hidden(path: &Path) -> bool {
    path.file_name().is_some_and(|name| name.to_string_lossy().starts_with('.'))
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

    #[test]
    fn a_writer_file_in_progress_does_not_shift_the_blame_onto_files_that_stood_still() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("action_plans")).unwrap();
        fs::write(dir.path().join("action_plans/2020.parquet"), b"plans").unwrap();
        let file = dir.path().join("units.parquet");
        fs::write(&file, b"u0").unwrap();
        let mut version = 0;
        let err = read_unchanged(dir.path(), || {
            version += 1;
            // The writer's next copy is left half-written beside the file it replaces.
            fs::write(dir.path().join(".units.next"), format!("u{version}")).unwrap();
            fs::write(dir.path().join(".units.tmp"), format!("u{version}")).unwrap();
            fs::rename(dir.path().join(".units.tmp"), &file).unwrap();
            Ok(())
        })
        .unwrap_err();
        assert!(err.to_string().contains("units.parquet: the file changed while it was read"), "{err}");
        assert!(!err.to_string().contains("action_plans"), "{err}");
    }

    #[test]
    fn a_file_added_during_the_read_is_named() {
        let (earlier, later) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        for dir in [&earlier, &later] {
            fs::write(dir.path().join("cases.parquet"), b"c").unwrap();
        }
        fs::write(later.path().join("measures.parquet"), b"m").unwrap();
        let rebase = |s: Snapshot, from: &Path| {
            Snapshot(
                s.0.into_iter()
                    .map(|f| FileStamp {
                        path: f.path.strip_prefix(from).unwrap().to_path_buf(),
                        inode: 0,
                        modified: None,
                        ..f
                    })
                    .collect(),
            )
        };
        let a = rebase(Snapshot::of(earlier.path()).unwrap(), earlier.path());
        let b = rebase(Snapshot::of(later.path()).unwrap(), later.path());
        assert_eq!(a.first_change(&b), Some(Path::new("measures.parquet")));
        assert_eq!(b.first_change(&a), Some(Path::new("measures.parquet")));
        assert_eq!(a.first_change(&a), None);
    }
}
