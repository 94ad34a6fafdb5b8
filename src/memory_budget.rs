//! The memory a run may use in all: `--memory-limit`, else the cgroup's `memory.max` (a
//! systemd unit's `MemoryMax=`, a container's limit). The export is held in memory whole,
//! so the budget is planned around it: before reading, the export's size in memory is
//! estimated from its files' footers and a run that cannot fit stops at once (exit 2,
//! saying how much it needs) rather than being killed by the kernel later; after reading,
//! the query engine's pool gets what is left once the tables and the writing are paid for.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::catalog::CheckedExport;
use crate::error::{Error, Result};
use crate::snapshot::Snapshot;

/// The process itself and the catalog's small tables: outside the engine's pool.
const RESERVE: usize = 256 << 20;

/// What computing takes beyond the tables, per byte of table: the engine's joins and
/// aggregations, the cached views and the report's figures and writing. Measured at the
/// peak of `kpi` (1.5) and of the nightly (1.2) on generated exports of 100,000 and
/// 1,000,000 cases (benches/README.md, "Memory budget").
const WORK_PER_TABLE_BYTE: f64 = 1.5;

/// An export read within the run's budget, and the engine's share of what is left.
pub struct Loaded {
    pub export: CheckedExport,
    /// The files as they stood while read.
    pub snapshot: Snapshot,
    /// For the engine's pool; none without a budget.
    pub query_memory: Option<usize>,
}

/// Reads and checks the export (see `CheckedExport::load_snapshot`) within the budget of
/// `--memory-limit` (`flag`), else of the cgroup.
pub fn load_export(
    dir: &Path,
    skip: &[&str],
    open_end_sentinel: Option<NaiveDate>,
    flag: Option<usize>,
) -> Result<Loaded> {
    let budget = Budget::resolve(flag);
    if let Some(budget) = &budget {
        budget.check_export(dir, skip)?;
    }
    let (export, snapshot) = CheckedExport::load_snapshot(dir, skip, open_end_sentinel)?;
    let query_memory = budget.map(|b| b.query_memory(export.memory_size())).transpose()?;
    Ok(Loaded { export, snapshot, query_memory })
}

#[derive(Debug, Clone)]
pub struct Budget {
    pub bytes: usize,
    pub source: BudgetSource,
}

#[derive(Debug, Clone)]
pub enum BudgetSource {
    Flag,
    Cgroup(PathBuf),
}

impl Budget {
    /// The flag's value, else the limit of the cgroup this process runs in, else none.
    pub fn resolve(flag: Option<usize>) -> Option<Budget> {
        match flag {
            Some(bytes) => Some(Budget { bytes, source: BudgetSource::Flag }),
            None => cgroup_limit().map(|(bytes, file)| Budget { bytes, source: BudgetSource::Cgroup(file) }),
        }
    }

    fn describe(&self) -> String {
        match &self.source {
            BudgetSource::Flag => format!("--memory-limit gives {}", gib(self.bytes)),
            BudgetSource::Cgroup(file) => format!("{} allows {}", file.display(), gib(self.bytes)),
        }
    }

    /// Stops before reading when the export, as its footers say, cannot fit.
    pub fn check_export(&self, dir: &Path, skip: &[&str]) -> Result<()> {
        // The footers undercount what the read tables hold (buffers grow ahead of their
        // contents, ids get indexes): an eighth more, measured on generated exports.
        let tables = CheckedExport::estimated_memory(dir, skip) / 8 * 9;
        tracing::debug!(estimated_tables = tables, needed = needed(tables), budget = self.bytes, "memory planned");
        self.check(tables, "about ")
    }

    /// The query engine's pool once `loaded` bytes of tables are held: the rest of the
    /// budget after the tables and the reserve.
    pub fn query_memory(&self, loaded: usize) -> Result<usize> {
        self.check(loaded, "")?;
        Ok(self.bytes - loaded - RESERVE)
    }

    fn check(&self, tables: usize, about: &str) -> Result<()> {
        let needed = needed(tables);
        if needed <= self.bytes {
            return Ok(());
        }
        Err(Error::Memory(format!(
            "the export does not fit in memory: it needs {} ({about}{} for its tables, {} to compute and write), and {}. \
             Give the run more memory, or leave --memory-limit out",
            gib(needed),
            gib(tables),
            gib(needed - tables),
            self.describe()
        )))
    }
}

/// What a run with `tables` bytes of tables needs in all.
pub fn needed(tables: usize) -> usize {
    tables + (tables as f64 * WORK_PER_TABLE_BYTE) as usize + RESERVE
}

/// Gigabytes with two decimals; below a gigabyte in whole megabytes, so a small limit
/// does not read as "0.00 GB".
fn gib(bytes: usize) -> String {
    if bytes < 1_000_000_000 {
        format!("{} MB", bytes.div_ceil(1_000_000))
    } else {
        format!("{:.2} GB", bytes as f64 / 1e9)
    }
}

/// The tightest `memory.max` from this process's cgroup (v2) up to the root of the
/// hierarchy as mounted; v1's `memory.limit_in_bytes` where only v1 is mounted.
fn cgroup_limit() -> Option<(usize, PathBuf)> {
    let membership = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let mut limits = Vec::new();
    for line in membership.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let (root, file) = match controllers {
            "" => (PathBuf::from("/sys/fs/cgroup"), "memory.max"),
            c if c.split(',').any(|c| c == "memory") => {
                (PathBuf::from("/sys/fs/cgroup/memory"), "memory.limit_in_bytes")
            }
            _ => continue,
        };
        let mut dir = root.join(path.trim_start_matches('/'));
        loop {
            let at = dir.join(file);
            if let Some(bytes) = std::fs::read_to_string(&at).ok().and_then(|t| limit_value(&t)) {
                limits.push((bytes, at));
            }
            if dir == root || !dir.pop() {
                break;
            }
        }
    }
    limits.into_iter().min_by_key(|(bytes, _)| *bytes)
}

/// A limit file's value: "max" (v2) or a value past any machine's memory (v1's way of
/// saying none) is no limit.
fn limit_value(text: &str) -> Option<usize> {
    let bytes: u64 = text.trim().parse().ok()?;
    (bytes < 1 << 60).then(|| usize::try_from(bytes).ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_files_say_max_or_a_number() {
        assert_eq!(limit_value("max\n"), None);
        assert_eq!(limit_value("9223372036854771712\n"), None);
        assert_eq!(limit_value("2147483648\n"), Some(2 << 30));
    }

    #[test]
    fn the_engine_gets_what_the_tables_and_the_reserve_leave() {
        let budget = Budget { bytes: 2 << 30, source: BudgetSource::Flag };
        // 700 MiB of tables need 700 + 1050 + 256 MiB = 2006 MiB: they fit in 2 GiB.
        assert_eq!(budget.query_memory(700 << 20).unwrap(), (2 << 30) - (700 << 20) - RESERVE);
        let err = budget.query_memory(800 << 20).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        // 800 + 1200 + 256 MiB = 2256 MiB = 2.37 GB, of which 1456 MiB = 1.53 GB to work;
        // the tables' 800 MiB are 838.9 MB, under a gigabyte, so in megabytes.
        assert_eq!(
            err.to_string(),
            "the export does not fit in memory: it needs 2.37 GB (839 MB for its tables, 1.53 GB to compute and write), \
             and --memory-limit gives 2.15 GB. Give the run more memory, or leave --memory-limit out"
        );
        assert_eq!(gib(64 << 20), "68 MB");
        assert_eq!(gib(999_999_999), "1000 MB");
        assert_eq!(gib(1_000_000_000), "1.00 GB");
    }
}
