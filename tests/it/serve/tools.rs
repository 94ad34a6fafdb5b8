//! The tools analysts already use, each installed by `scripts/test-clients.sh tools`:
//! SQLAlchemy 2 with pandas, psqlODBC through pyodbc, PostgreSQL's JDBC driver,
//! node-postgres, R's RPostgreSQL, and psql's describing commands. Each
//! browses the catalog its own way and reads `kpi` with and without bound parameters; the
//! rows must equal `cwkpi kpi`, and a user granted one subtree sees only it.

use std::process::Command;

use super::{ANALYST, AS_OF, HEAD, Server, kpi_lines, python, sample, script, summary, u0007_subtree};

/// Installs the tools once per run; a tool that cannot be installed fails the test.
fn tools_installed() {
    crate::common::installed(
        &["test-clients.sh", "tools"],
        "SQLAlchemy, pandas, pyodbc, psqlODBC, the JDBC driver, node-postgres and RPostgreSQL are",
    );
}

fn strings(value: &serde_json::Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("a list: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn sqlalchemy_pandas_and_odbc_browse_and_read_the_same_figures() {
    tools_installed();
    let server = Server::start(&sample(), &[ANALYST, HEAD], &[]);
    let expected = kpi_lines(&sample(), AS_OF);
    let unit = "U0007";
    let expected_unit: Vec<String> = expected.iter().filter(|l| l.starts_with(&format!("{unit}|"))).cloned().collect();
    assert_eq!(expected_unit.len(), 13, "thirteen KPIs of one unit");

    let run = |user: &super::TestUser| {
        let out = python()
            .arg(script("tools.py"))
            .args([
                "--port",
                &server.port.to_string(),
                "--user",
                user.0,
                "--password",
                user.1,
                "--unit",
                unit,
                "--as-of",
                AS_OF,
            ])
            .output()
            .unwrap();
        summary(&out)
    };
    let s = run(&ANALYST);
    for tool in ["sqlalchemy", "psqlodbc"] {
        let found = &s[tool];
        assert!(found.get("error").is_none(), "{tool}: {found}");
        assert!(strings(&found["views"]).contains(&"kpi".to_string()), "{tool} lists the views: {found}");
        assert_eq!(strings(&found["kpi_columns"])[..3], ["as_of", "unit_id", "kpi_id"], "{tool}: {found}");
        assert_eq!(strings(&found["all"]), expected, "{tool} reads every KPI row");
        assert_eq!(strings(&found["bound"]), expected_unit, "{tool} binds text, date and integer");
    }
    let sqlalchemy = &s["sqlalchemy"];
    assert_eq!(sqlalchemy["server_version"], serde_json::json!([16, 0]), "{sqlalchemy}");
    assert!(sqlalchemy["version"].as_str().unwrap().starts_with("PostgreSQL 16.0 on "), "{sqlalchemy}");
    assert_eq!(sqlalchemy["current_user"], ANALYST.0);
    assert!(strings(&sqlalchemy["tables"]).contains(&"cases".to_string()), "{sqlalchemy}");
    assert_eq!(s["psqlodbc"]["error_recovered"], 13, "the ODBC connection goes on after a failed statement");

    // The head of U0007 sees the same figures for it, and no other unit's.
    let s = run(&HEAD);
    let subtree = u0007_subtree();
    for tool in ["sqlalchemy", "psqlodbc"] {
        let found = &s[tool];
        assert!(found.get("error").is_none(), "{tool}: {found}");
        let all = strings(&found["all"]);
        assert!(
            !all.is_empty() && all.iter().all(|l| subtree.contains(l.split('|').next().unwrap())),
            "{tool}: {all:?}"
        );
        assert_eq!(strings(&found["bound"]), expected_unit, "{tool}");
    }
}

#[test]
fn jdbc_node_postgres_and_r_read_the_same_figures_with_bound_parameters() {
    tools_installed();
    let server = Server::start(&sample(), &[ANALYST, HEAD], &[]);
    let expected = kpi_lines(&sample(), AS_OF);
    let expected_unit: Vec<String> = expected.iter().filter(|l| l.starts_with("U0007|")).cloned().collect();
    let port = server.port.to_string();
    let args = [port.as_str(), ANALYST.0, ANALYST.1, "U0007", AS_OF];

    let jdbc = Command::new("java")
        .arg("-cp")
        .arg("/usr/share/java/postgresql.jar")
        .arg(script("Jdbc.java"))
        .args(args)
        .output()
        .unwrap();
    let found = summary(&jdbc);
    assert!(strings(&found["views"]).contains(&"kpi".to_string()), "DatabaseMetaData lists the views: {found}");
    assert_eq!(strings(&found["kpi_columns"])[..3], ["as_of", "unit_id", "kpi_id"], "{found}");
    assert_eq!(strings(&found["all"]), expected, "JDBC reads every KPI row");
    assert_eq!(strings(&found["bound"]), expected_unit, "JDBC binds text, date and integer");

    let node_modules = std::env::var("HOME").map(|h| format!("{h}/.cache/cwkpi-node/node_modules")).unwrap_or_default();
    let node =
        Command::new("node").arg(script("node_pg.js")).args(args).env("NODE_PATH", node_modules).output().unwrap();
    let found = summary(&node);
    assert_eq!(strings(&found["all"]), expected, "node-postgres reads every KPI row");
    assert_eq!(strings(&found["bound"]), expected_unit, "node-postgres binds $1..$3");

    let r = |user: &super::TestUser| {
        let out = Command::new("Rscript")
            .arg(script("rpostgresql.R"))
            .args([port.as_str(), user.0, user.1, "U0007", AS_OF])
            .output()
            .unwrap();
        summary(&out)
    };
    let found = r(&ANALYST);
    assert!(strings(&found["tables"]).contains(&"kpi".to_string()), "dbListTables: {found}");
    assert_eq!(strings(&found["kpi_columns"])[..3], ["as_of", "unit_id", "kpi_id"], "dbListFields: {found}");
    assert_eq!(strings(&found["all"]), expected, "dbReadTable reads every KPI row");
    assert_eq!(strings(&found["bound"]), expected_unit, "dbGetQuery binds $1..$3");
    // The head of U0007 reads its subtree's rows only, the same figures.
    let found = r(&HEAD);
    let subtree = u0007_subtree();
    let expected_subtree: Vec<String> =
        expected.iter().filter(|l| subtree.contains(l.split('|').next().unwrap())).cloned().collect();
    assert_eq!(strings(&found["all"]), expected_subtree, "RPostgreSQL as a scoped user");
}

#[test]
fn psql_describes_with_sizes_and_transactions_are_honoured_as_no_ops() {
    super::clients_installed();
    let server = Server::start(&sample(), &[ANALYST], &[]);
    for command in ["\\dt+", "\\dv+", "\\d+ kpi", "\\d+ cases", "\\df", "\\df+", "\\dT", "\\dT+", "\\dn+", "\\l+"] {
        let out = server.psql(ANALYST.0, ANALYST.1, &[command]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && stderr.trim().is_empty(), "psql {command}: {stderr}");
    }
    let views = server.rows(&ANALYST, &["\\dv+"]);
    let kpi = views.iter().find(|l| l.split('|').nth(1) == Some("kpi")).unwrap_or_else(|| panic!("{views:?}"));
    assert!(kpi.contains("|0 bytes|"), "a size as PostgreSQL prints it: {kpi}");

    // DBeaver's comment query: the catalog table named by regclass, as PostgreSQL's
    // search path finds it.
    let comment = server.rows(
        &ANALYST,
        &["SELECT d.description FROM pg_catalog.pg_description d WHERE d.classoid = 'pg_class'::regclass AND d.objoid = 'kpi'::regclass"],
    );
    assert!(comment.len() == 1 && comment[0].starts_with("The KPI table"), "{comment:?}");

    // What ODBC and JDBC drivers and connection pools send around their statements.
    let rows = server.rows(
        &ANALYST,
        &[
            "BEGIN",
            "SAVEPOINT a",
            "SELECT count(*) FROM units",
            "RELEASE SAVEPOINT a",
            "SAVEPOINT b",
            "ROLLBACK TO SAVEPOINT b",
            "COMMIT",
            "START TRANSACTION READ ONLY",
            "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
            "ROLLBACK",
            "SET cwkpi.as_of = '2026-01-04'",
            "DISCARD ALL",
            "SHOW cwkpi.as_of",
            "SET cwkpi.weeks = 2",
            "RESET ALL",
            "SHOW cwkpi.weeks",
            "SELECT session_user AS s, current_user AS c",
        ],
    );
    assert_eq!(rows, ["10", AS_OF, "1", "analyst|analyst"], "each no-op answered, the dates reset");
    // A savepoint outside a transaction block is an error, as in PostgreSQL; a write is
    // still refused inside one.
    let out = server.psql(ANALYST.0, ANALYST.1, &["SAVEPOINT a"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("can only be used in transaction blocks"));
    let out = server.psql(
        ANALYST.0,
        ANALYST.1,
        &[
            "BEGIN",
            "SAVEPOINT a",
            "DELETE FROM units",
            "ROLLBACK TO SAVEPOINT a",
            "SELECT count(*) FROM units",
            "COMMIT",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("read-only"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "10", "{stderr}");
}
