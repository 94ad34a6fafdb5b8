//! What an operator's bad night brings: a full disk, a read-only output folder, a memory
//! ceiling, export files replaced while they are read. For each: the documented exit code
//! and a message with the OS's reason and the path, `latest` and `history/` untouched, and
//! nothing temporary left once the next run has gone through.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{AS_OF, BIN, Fixture, code, snapshot, text};

/// A tmpfs mounted at a test folder, unmounted when dropped. Mounting needs root (or the
/// capability) and a kernel that allows it; where it cannot, the test says so and fails.
struct Tmpfs {
    at: PathBuf,
}

impl Tmpfs {
    fn mount(at: &Path, options: &str) -> std::result::Result<Tmpfs, String> {
        std::fs::create_dir_all(at).unwrap();
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(at)
            .output()
            .map_err(|e| e.to_string())?;
        if !o.status.success() {
            return Err(text(&o.stderr));
        }
        Ok(Tmpfs { at: at.to_path_buf() })
    }

    fn remount(&self, options: &str) {
        let o = Command::new("mount").args(["-o", &format!("remount,{options}")]).arg(&self.at).output().unwrap();
        assert!(o.status.success(), "remount {options}: {}", text(&o.stderr));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.at).output();
    }
}

/// `latest`, `runs/` and `history/` as the operator sees them: each entry with a digest
/// of its content (or link target).
fn published(out: &Path) -> BTreeMap<String, u64> {
    let mut all = snapshot(out);
    all.retain(|k, _| k == "latest" || k.starts_with("runs/") || k.starts_with("history/"));
    all.into_iter()
        .map(|(k, bytes)| {
            let mut h = DefaultHasher::new();
            bytes.hash(&mut h);
            (k, h.finish())
        })
        .collect()
}

/// The figures of the latest run: its KPI table and history file (a run's summary.json
/// holds its own times, so two runs of the same export differ there only).
fn figures(out: &Path) -> BTreeMap<String, u64> {
    let mut all = published(out);
    all.retain(|k, _| k.ends_with("kpi.csv") || k.ends_with("kpi.parquet") || k == "latest");
    all
}

fn assert_no_temporary(out: &Path) {
    let left: Vec<String> = snapshot(out).into_keys().filter(|k| k.contains(".tmp")).collect();
    assert!(left.is_empty(), "temporary files remain: {left:?}");
}

/// The nightly on a full disk: a tmpfs of 3 MB (where mounting is allowed), else a file
/// size limit of 128 kB (`ulimit -f`), which the small export's files stay under and the
/// large one's pass.
fn nightly_on_a_small_disk(fx: &Fixture, export: &Path, out: &Path, tmpfs: Option<&Tmpfs>) -> Output {
    let args = format!("nightly --exports '{}' --out '{}' --as-of {AS_OF}", export.display(), out.display());
    let script = match tmpfs {
        Some(_) => format!("exec '{BIN}' {args}"),
        None => format!("ulimit -f 128; exec '{BIN}' {args}"),
    };
    let output = Command::new("bash").args(["-c", &script]).env_remove("RUST_LOG").output().unwrap();
    fx.outputs.lock().unwrap().push(output.clone());
    output
}

#[test]
fn a_full_disk_exits_74_with_the_reason_and_leaves_the_last_run_published() {
    let fx = Fixture::new();
    let small = fx.good_export();
    let large = fx.generated("0.5");
    let out = fx.path("disk");
    let tmpfs = Tmpfs::mount(&out, "size=3m");
    if let Err(e) = &tmpfs {
        eprintln!("no tmpfs ({e}); the disk fills by a file size limit instead");
    }
    let tmpfs = tmpfs.ok();

    let o = nightly_on_a_small_disk(&fx, &small, &out, tmpfs.as_ref());
    assert_eq!(code(&o), 0, "the small export fits: {}", text(&o.stderr));
    let before = published(&out);
    let figures_before = figures(&out);

    let o = nightly_on_a_small_disk(&fx, &large, &out, tmpfs.as_ref());
    let err = text(&o.stderr);
    assert_eq!(code(&o), 74, "{err}");
    let reason = if tmpfs.is_some() { "No space left on device" } else { "File too large" };
    assert!(err.contains(reason), "the OS's reason in words: {err}");
    assert!(err.contains(out.to_str().unwrap()), "the path: {err}");
    assert_eq!(published(&out), before, "latest, runs and history untouched");
    assert_no_temporary(&out);

    let o = nightly_on_a_small_disk(&fx, &small, &out, tmpfs.as_ref());
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert_eq!(figures(&out), figures_before, "the same export gives the same figures again");
    assert_no_temporary(&out);
    fx.assert_no_cpr();
}

#[test]
fn a_read_only_output_folder_exits_74_and_changes_nothing() {
    let fx = Fixture::new();
    let export = fx.good_export();
    let out = fx.path("ro");
    let tmpfs =
        Tmpfs::mount(&out, "size=64m").unwrap_or_else(|e| panic!("a read-only folder needs a tmpfs to remount: {e}"));
    assert_eq!(code(&fx.nightly(&export, &out, &[])), 0);
    let before = published(&out);

    tmpfs.remount("ro");
    let o = fx.nightly(&export, &out, &["--as-of", "2026-10-01"]);
    let err = text(&o.stderr);
    assert_eq!(code(&o), 74, "{err}");
    assert!(err.contains("Read-only file system") && err.contains(out.to_str().unwrap()), "{err}");
    assert_eq!(published(&out), before);

    tmpfs.remount("rw");
    assert_eq!(code(&fx.nightly(&export, &out, &["--as-of", "2026-10-01"])), 0);
    assert_no_temporary(&out);
    fx.assert_no_cpr();
}

#[test]
fn an_export_that_cannot_fit_the_memory_limit_stops_before_reading_with_what_it_needs() {
    let fx = Fixture::new();
    let export = fx.generated("0.5");
    let out = fx.path("out");
    assert_eq!(code(&fx.nightly(&export, &out, &[])), 0);
    let before = published(&out);
    let figures_before = figures(&out);

    let o = fx.nightly(&export, &out, &["--as-of", "2026-10-01", "--memory-limit", "64M"]);
    let err = text(&o.stderr);
    assert_eq!(code(&o), 2, "{err}");
    assert!(err.contains("does not fit in memory") && err.contains("--memory-limit gives 68 MB"), "{err}");
    // How much it needs, in the unit that reads (no "0.00 GB"), and more than it was given.
    let needs = err.split("it needs ").nth(1).and_then(|s| s.split(" MB (").next()).and_then(|n| n.parse::<u64>().ok());
    assert!(needs.is_some_and(|mb| mb > 68), "how much it needs: {err}");
    assert_eq!(published(&out), before);
    assert_no_temporary(&out);

    // The commands that read the export keep the same promise.
    for command in ["kpi", "sql"] {
        let mut args = vec![command, "--exports", export.to_str().unwrap(), "--memory-limit", "64M"];
        if command == "sql" {
            args.push("SELECT 1");
        }
        let o = fx.run(&args);
        assert_eq!(code(&o), 2, "{command}: {}", text(&o.stderr));
        assert!(text(&o.stderr).contains("does not fit in memory"), "{command}: {}", text(&o.stderr));
    }

    // With room, the limit changes no figure.
    let o = fx.nightly(&export, &out, &["--memory-limit", "1G"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert_eq!(figures(&out), figures_before);
    fx.assert_no_cpr();
}

#[test]
fn an_export_rewritten_while_it_is_read_stops_the_run_naming_the_file() {
    let fx = Fixture::new();
    let export = fx.generated("0.5");
    let out = fx.path("out");
    assert_eq!(code(&fx.nightly(&export, &out, &[])), 0);
    let before = published(&out);

    // The case system writes units.parquet again and again, by rename, during the run.
    let file = export.join("units.parquet");
    let copy = fx.path("units.copy");
    std::fs::copy(&file, &copy).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, file, copy) = (Arc::clone(&stop), file.clone(), copy.clone());
        std::thread::spawn(move || {
            let next = file.with_file_name(".units.next");
            while !stop.load(Ordering::Relaxed) {
                std::fs::copy(&copy, &next).unwrap();
                std::fs::rename(&next, &file).unwrap();
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let o = fx.nightly(&export, &out, &["--as-of", "2026-10-01"]);
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let err = text(&o.stderr);
    assert_eq!(code(&o), 2, "{err}");
    assert!(err.contains("units.parquet: the file changed while it was read"), "{err}");
    assert_eq!(published(&out), before);

    // Once the export stands still, the run goes through.
    assert_eq!(code(&fx.nightly(&export, &out, &["--as-of", "2026-10-01"])), 0);
    assert_no_temporary(&out);
    fx.assert_no_cpr();
}
