//! Shared helpers of the integration tests.
#![allow(dead_code)]

pub mod reference;

/// Runs an install script of `scripts/` (with its arguments) once per test run, so the
/// programs a test needs are there; one that cannot be installed fails the test with the
/// script's own words and what was needed (`needs`), never skips it.
pub fn installed(script_and_args: &[&str], needs: &str) {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static RUNS: OnceLock<Mutex<HashMap<String, Result<(), String>>>> = OnceLock::new();
    let key = script_and_args.join(" ");
    // One install at a time: apt and pip do not run twice side by side.
    let mut runs = RUNS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    let result = runs.entry(key.clone()).or_insert_with(|| {
        let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts").join(script_and_args[0]);
        let out = std::process::Command::new("bash")
            .arg(script)
            .args(&script_and_args[1..])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
    });
    if let Err(e) = result {
        panic!("{needs} needed and could not be installed by scripts/{key}: {e}");
    }
}
