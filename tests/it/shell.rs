//! `cwkpi shell` as an analyst meets it, with its input piped: commands, statements over
//! several lines, `.as_of`, errors that do not end the session, read-only, `\q`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use cwkpi::shell::{complete, is_complete};

fn sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample")
}

/// Runs the shell on the sample export with `input` piped in: (exit code, stdout, stderr).
fn shell(input: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cwkpi"))
        .args(["shell", "--exports", sample().to_str().unwrap(), "--as-of", "2026-11-22"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn a_session_of_commands_and_statements() {
    // The figure the shell must give: `cwkpi kpi` for the same unit, KPI and date.
    let kpi = Command::new(env!("CARGO_BIN_EXE_cwkpi"))
        .args(["kpi", "--exports", sample().to_str().unwrap(), "--as-of", "2026-11-22", "--format", "csv"])
        .output()
        .unwrap();
    let kpi = String::from_utf8(kpi.stdout).unwrap();
    let row: Vec<&str> = kpi.lines().find(|l| l.contains(",U0005,plan_coverage,")).unwrap().split(',').collect();
    let (numerator, denominator) = (row[3], row[4]);

    let (code, out, err) = shell(
        "\\d\n\
         \\d kpi\n\
         SELECT kpi_id, numerator, denominator\n  FROM kpi\n WHERE unit_id = 'U0005' AND kpi_id = 'plan_coverage';\n\
         SELECT no_such_column FROM kpi;\n\
         CREATE TABLE x AS SELECT 1;\n\
         .as_of 2026-06-28 3\n\
         SELECT count(*) AS dates FROM as_of_dates;\n\
         \\timing\n\
         SELECT 41 + 1 AS answer;\n\
         \\q\n\
         SELECT 'after quit' AS never;\n",
    );
    // A statement failed, so a script exits non-zero; the session went on after it.
    assert_eq!(code, 64, "{err}");
    // \d lists tables and views, views with their description.
    assert!(out.lines().any(|l| l.starts_with("kpi ") && l.contains(" view ")), "{out}");
    assert!(out.lines().any(|l| l.starts_with("cases ") && l.trim_end().ends_with("table")), "{out}");
    // \d kpi: its columns.
    assert!(out.contains("View kpi:") && out.contains("  numerator ") && out.contains("  denominator "), "{out}");
    // The statement over three lines answers as `cwkpi kpi` does.
    let answer = out.lines().find(|l| l.contains("| plan_coverage ")).unwrap_or_else(|| panic!("{out}"));
    let cells: Vec<&str> = answer.split('|').map(str::trim).collect();
    assert_eq!((cells[2], cells[3]), (numerator, denominator), "{answer}");
    assert!(out.contains("1 row in "), "{out}");
    // Errors are shown and the session goes on; DDL is refused.
    assert_eq!(out.matches("ERROR: ").count(), 2, "{out}");
    assert!(out.contains("no_such_column"), "{out}");
    // .as_of with weeks: three dates a week apart.
    assert!(out.contains("As of 3 dates, 2026-06-14 … 2026-06-28."), "{out}");
    assert!(out.lines().any(|l| l.starts_with("| 3 ")), "{out}");
    // \timing turned the row count off; \q ended the session.
    let after = &out[out.find("Timing is off.").unwrap_or_else(|| panic!("{out}"))..];
    assert!(after.contains("| 42 ") && !after.contains(" row"), "{after}");
    assert!(!out.contains("after quit"), "{out}");
}

#[test]
fn statements_end_with_a_semicolon_and_commands_with_the_line() {
    assert!(is_complete("SELECT 1;"));
    assert!(!is_complete("SELECT 1\n  FROM kpi"));
    assert!(is_complete("SELECT 1\n  FROM kpi;\n"));
    assert!(is_complete("\\d kpi\n"));
    assert!(is_complete(".as_of 2026-01-01\n"));
    assert!(is_complete(""));
}

#[test]
fn completion_offers_names_that_begin_with_the_word() {
    let words: Vec<String> =
        ["kpi", "kpi_items", "kpi_projection", "case_id", "SELECT"].iter().map(|s| s.to_string()).collect();
    assert_eq!(
        complete(&words, "SELECT * FROM kpi_", 18),
        (14, vec!["kpi_items".to_string(), "kpi_projection".to_string()])
    );
    // Case does not matter; the word itself is not offered again.
    assert_eq!(complete(&words, "sel", 3), (0, vec!["SELECT".to_string()]));
    assert_eq!(complete(&words, "SELECT ca", 9).1, ["case_id"]);
    assert!(complete(&words, "SELECT ", 7).1.is_empty());
}
