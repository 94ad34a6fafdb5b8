//! Puts a report folder in place whole or not at all: it is written into a temporary
//! sibling folder and renamed over the target only after every file was written.

use std::path::{Path, PathBuf};

use super::{GENERATOR, MANIFEST};
use crate::error::{Error, Result};

/// A temporary folder beside the target; removed again unless committed.
pub struct Staging {
    temporary: PathBuf,
    out: PathBuf,
    committed: bool,
}

impl Staging {
    /// Checks that `out` may be written (absent, empty, or an earlier report) and creates
    /// the temporary folder next to it, on the same file system, so the rename is atomic.
    pub fn prepare(out: &Path) -> Result<Staging> {
        Staging::prepare_for(out, MANIFEST, GENERATOR)
    }

    /// As `prepare`, for a folder whose `manifest` file names `generator` (so a folder of
    /// draft letters can only replace an earlier one, never something else).
    pub fn prepare_for(out: &Path, manifest: &str, generator: &str) -> Result<Staging> {
        let out = std::path::absolute(out).map_err(|e| Error::io(format!("cannot resolve {}", out.display()), e))?;
        let (Some(name), Some(parent)) = (out.file_name(), out.parent()) else {
            return Err(Error::Usage(format!("--out {} must name a folder", out.display())));
        };
        if out.exists() && !replaceable(&out, manifest, generator)? {
            return Err(Error::Usage(format!(
                "--out {} exists and is not a folder written by {generator}; choose another folder or remove it",
                out.display()
            )));
        }
        std::fs::create_dir_all(parent).map_err(|e| Error::io(format!("cannot create {}", parent.display()), e))?;
        let temporary = parent.join(format!(".{}.report-{}.tmp", name.to_string_lossy(), std::process::id()));
        if temporary.exists() {
            // Left by a killed run with the same process id: nothing of value.
            std::fs::remove_dir_all(&temporary)
                .map_err(|e| Error::io(format!("cannot remove {}", temporary.display()), e))?;
        }
        std::fs::create_dir(&temporary).map_err(|e| Error::io(format!("cannot create {}", temporary.display()), e))?;
        Ok(Staging { temporary, out, committed: false })
    }

    /// Where the report is to be written.
    pub fn path(&self) -> &Path {
        &self.temporary
    }

    /// Moves the finished report into place; an earlier report is replaced only now.
    pub fn commit(mut self) -> Result<()> {
        let out = self.out.clone();
        let fail = |e: std::io::Error| Error::io(format!("cannot move the report into {}", out.display()), e);
        if out.exists() {
            let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let old = out.with_file_name(format!(".{name}.old-{}.tmp", std::process::id()));
            std::fs::rename(&out, &old).map_err(fail)?;
            if let Err(e) = std::fs::rename(&self.temporary, &out) {
                // Put the earlier report back rather than leave nothing.
                let _ = std::fs::rename(&old, &out);
                return Err(fail(e));
            }
            self.committed = true;
            std::fs::remove_dir_all(&old).map_err(|e| Error::io(format!("cannot remove {}", old.display()), e))?;
        } else {
            std::fs::rename(&self.temporary, &out).map_err(fail)?;
            self.committed = true;
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.temporary);
        }
    }
}

/// An empty folder, or one whose manifest says this command wrote it.
fn replaceable(dir: &Path, manifest: &str, generator: &str) -> Result<bool> {
    if !dir.is_dir() {
        return Ok(false);
    }
    let mut entries = std::fs::read_dir(dir).map_err(|e| Error::io(format!("cannot list {}", dir.display()), e))?;
    if entries.next().is_none() {
        return Ok(true);
    }
    let manifest = std::fs::read_to_string(dir.join(manifest)).unwrap_or_default();
    let found = serde_json::from_str::<serde_json::Value>(&manifest)
        .ok()
        .and_then(|v| v.get("generator").and_then(|g| g.as_str()).map(str::to_string));
    Ok(found.as_deref() == Some(generator))
}
