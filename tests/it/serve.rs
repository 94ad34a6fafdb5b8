//! `cwkpi serve` as analysts' tools meet it: psql and psycopg against a server started
//! here on loopback, compared with `cwkpi kpi` and `cwkpi sql` on the same export.
//!
//! Needs `psql` (Debian `postgresql-client`) and Python's `psycopg`: the first server a
//! test starts runs `scripts/test-clients.sh`, which installs whichever is missing. If that
//! fails, these tests fail: they are not skipped.
//!
//! Every server listens on 127.0.0.1 only, is killed when its test ends (and by the
//! kernel if the test's thread dies first), and every client load runs for a fixed time.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use cwkpi::serve::users::ScramVerifier;

#[path = "serve/security.rs"]
mod security;
#[path = "serve/tools.rs"]
mod tools;

const AS_OF: &str = "2026-11-22";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_cwkpi")
}

fn sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample")
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/pg").join(name)
}

/// Installs psql and psycopg when missing (`scripts/test-clients.sh`), once per run.
fn clients_installed() {
    crate::common::installed(&["test-clients.sh"], "psql and psycopg are");
}

/// A user of the test server: name, password, units.
struct TestUser(&'static str, &'static str, &'static [&'static str]);

const ANALYST: TestUser = TestUser("analyst", "kode-1234", &["*"]);
const HEAD: TestUser = TestUser("head-u0007", "andet kodeord", &["U0007"]);

struct Server {
    child: Child,
    port: u16,
    stderr: PathBuf,
    dir: tempfile::TempDir,
}

impl Server {
    /// Starts `cwkpi serve` on a free loopback port, with `users` (and one user whose
    /// password is written in plain text), and waits until it listens.
    fn start(exports: &Path, users: &[TestUser], extra: &[&str]) -> Server {
        let mut toml = String::new();
        for TestUser(name, password, units) in users {
            let units: Vec<String> = units.iter().map(|u| format!("\"{u}\"")).collect();
            toml.push_str(&format!(
                "[[user]]\nname = \"{name}\"\npassword = \"{}\"\nunits = [{}]\n\n",
                ScramVerifier::new(password).unwrap(),
                units.join(", ")
            ));
        }
        toml.push_str("[[user]]\nname = \"plain\"\npassword = \"plaintext\"\nunits = [\"*\"]\n");
        Server::start_with_users(exports, &toml, extra)
    }

    /// Starts `cwkpi serve` with the users file `users_toml`, as of `AS_OF` unless `extra`
    /// says otherwise.
    fn start_with_users(exports: &Path, users_toml: &str, extra: &[&str]) -> Server {
        clients_installed();
        let dir = tempfile::tempdir().unwrap();
        let users_file = dir.path().join("users.toml");
        std::fs::write(&users_file, users_toml).unwrap();
        let stderr = dir.path().join("stderr.log");
        let as_of = if extra.contains(&"--as-of") { vec![] } else { vec!["--as-of", AS_OF] };
        let mut command = Command::new(bin());
        command
            .args(["serve", "--exports"])
            .arg(exports)
            .args(["--listen", "127.0.0.1:0", "--users"])
            .arg(&users_file)
            .args(as_of)
            .args(["--poll", "1"])
            .args(extra)
            .env("RUST_LOG", "cwkpi=info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap());
        // The server dies with the thread that started it, even if the test never gets to
        // drop it (a panic while unwinding, an abort).
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (send, receive) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = send.send(line);
        });
        let line = receive.recv_timeout(Duration::from_secs(120)).unwrap_or_default();
        let port = line
            .split("listening on 127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "the server did not say where it listens: {line:?}\n{}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                )
            });
        Server { child, port, stderr, dir }
    }

    fn conninfo(&self, user: &str) -> String {
        format!("host=127.0.0.1 port={} dbname=cwkpi user={user} sslmode=disable connect_timeout=20", self.port)
    }

    /// psql, one connection, the commands in order; unaligned rows, fields split by `|`.
    fn psql(&self, user: &str, password: &str, commands: &[&str]) -> Output {
        let mut command = Command::new("psql");
        command.args(["-X", "-q", "-A", "-t", "-d", &self.conninfo(user)]).env("PGPASSWORD", password);
        for c in commands {
            command.args(["-c", c]);
        }
        command.output().expect("psql runs (Debian package postgresql-client; scripts/test-clients.sh installs it)")
    }

    /// psql's rows for one statement, failing the test on any error.
    fn rows(&self, user: &TestUser, commands: &[&str]) -> Vec<String> {
        let out = self.psql(user.0, user.1, commands);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && stderr.trim().is_empty(), "psql {commands:?} failed: {stderr}");
        String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Peak resident memory of the server so far, in bytes.
    fn peak_memory(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .unwrap()
            .trim()
            .trim_end_matches(" kB")
            .trim()
            .parse()
            .unwrap();
        kb * 1024
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = &self.dir;
    }
}

/// `cwkpi kpi --format csv` as `unit|kpi|numerator|denominator` lines, sorted.
fn kpi_lines(exports: &Path, as_of: &str) -> Vec<String> {
    let out = Command::new(bin())
        .args(["kpi", "--format", "csv", "--as-of", as_of, "--exports"])
        .arg(exports)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut lines: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            format!("{}|{}|{}|{}", f[1], f[2], f[3], f[4])
        })
        .collect();
    lines.sort();
    lines
}

const KPI_QUERY: &str = "SELECT unit_id, kpi_id, numerator, denominator FROM kpi ORDER BY unit_id, kpi_id";

fn sorted(mut lines: Vec<String>) -> Vec<String> {
    lines.sort();
    lines
}

#[test]
fn kpis_through_psql_equal_cwkpi_kpi_and_follow_the_sessions_date() {
    let server = Server::start(&sample(), &[ANALYST], &[]);
    let expected = kpi_lines(&sample(), AS_OF);
    assert_eq!(expected.len(), 10 * 13, "10 units × 13 KPIs in the sample");
    assert_eq!(sorted(server.rows(&ANALYST, &[KPI_QUERY])), expected);
    assert_eq!(server.rows(&ANALYST, &["SHOW cwkpi.as_of"]), vec![AS_OF]);

    // SET cwkpi.as_of moves this session only; another session keeps the default.
    let earlier = kpi_lines(&sample(), "2026-03-01");
    assert_ne!(earlier, expected, "the sample's KPIs differ between the two dates");
    let moved = server.rows(&ANALYST, &["SET cwkpi.as_of = '2026-03-01'", "SHOW cwkpi.as_of", KPI_QUERY]);
    assert_eq!(moved[0], "2026-03-01");
    assert_eq!(sorted(moved[1..].to_vec()), earlier);
    assert_eq!(sorted(server.rows(&ANALYST, &[KPI_QUERY])), expected);

    // cwkpi.weeks: as many dates, a week apart, ending at the as-of date.
    let weeks = server.rows(&ANALYST, &["SET cwkpi.weeks = 3", "SELECT DISTINCT as_of FROM kpi ORDER BY as_of"]);
    assert_eq!(weeks, vec!["2026-11-08", "2026-11-15", "2026-11-22"]);

    // Bad values are SQL errors, and the session goes on.
    let out = server.psql(ANALYST.0, ANALYST.1, &["SET cwkpi.as_of = 'soon'", "SET cwkpi.weeks = 0", "SELECT 1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cwkpi.as_of must be a date"), "{stderr}");
    assert!(stderr.contains("cwkpi.weeks must be a whole number"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
}

#[test]
fn concurrent_sessions_on_different_dates_do_not_disturb_each_other() {
    let server = Server::start(&sample(), &[ANALYST], &[]);
    let dates = ["2026-03-01", "2026-06-07", AS_OF, "2025-12-28"];
    let expected: Vec<Vec<String>> = dates.iter().map(|d| kpi_lines(&sample(), d)).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = dates
            .iter()
            .map(|d| {
                let server = &server;
                s.spawn(move || {
                    let set = format!("SET cwkpi.as_of = '{d}'");
                    // The same query four times in one session, interleaved with the others.
                    let commands = [set.as_str(), KPI_QUERY, KPI_QUERY, KPI_QUERY, KPI_QUERY];
                    server.rows(&ANALYST, &commands)
                })
            })
            .collect();
        for (handle, expected) in handles.into_iter().zip(&expected) {
            let rows = handle.join().unwrap();
            for chunk in rows.chunks(expected.len()) {
                assert_eq!(&sorted(chunk.to_vec()), expected);
            }
        }
    });
}

#[test]
fn psql_describes_the_views_and_the_endpoint_is_read_only() {
    let server = Server::start(&sample(), &[ANALYST], &[]);
    let tables = server.rows(&ANALYST, &["\\dt"]).join("\n");
    for name in ["cases", "measures", "units", "kpi_definitions"] {
        assert!(tables.contains(&format!("|{name}|table|")), "\\dt lists {name}:\n{tables}");
    }
    let views = server.rows(&ANALYST, &["\\dv"]).join("\n");
    for name in ["kpi", "case_compliance", "report_overdue", "kpi_projection"] {
        assert!(views.contains(&format!("|{name}|view|")), "\\dv lists {name}:\n{views}");
    }
    let kpi = server.rows(&ANALYST, &["\\d kpi"]).join("\n");
    for column in ["as_of", "unit_id", "kpi_id", "numerator", "denominator", "share", "met"] {
        assert!(kpi.contains(column), "\\d kpi shows {column}:\n{kpi}");
    }

    // The views' descriptions are their comments, for tools that show them.
    let description = cwkpi::catalog::all_views().into_iter().find(|v| v.name == "kpi").unwrap().description;
    let comments = server.rows(
        &ANALYST,
        &[
            "SELECT c.relname, d.description FROM pg_catalog.pg_class c JOIN pg_catalog.pg_description d \
             ON d.objoid = c.oid AND d.classoid = 1259 AND d.objsubid = 0 WHERE c.relname IN ('kpi', 'cases')",
            "SELECT pg_catalog.obj_description(c.oid, 'pg_class') FROM pg_catalog.pg_class c WHERE c.relname = 'kpi'",
        ],
    );
    assert_eq!(comments, vec![format!("kpi|{description}"), description.clone()]);

    let refused = [
        ("CREATE TABLE t (a int)", "read-only"),
        ("INSERT INTO units (unit_id) VALUES ('X')", "read-only"),
        ("DROP VIEW kpi", "read-only"),
        ("SELECT * INTO copy_of_cases FROM cases", "read-only"),
        ("COPY (SELECT * FROM cases) TO '/tmp/cwkpi-cases.csv'", "read-only"),
        ("CREATE EXTERNAL TABLE x STORED AS PARQUET LOCATION '/tmp'", ""),
        ("SET datafusion.runtime.memory_limit = '100G'", "permission denied"),
    ];
    for (statement, message) in refused {
        let out = server.psql(ANALYST.0, ANALYST.1, &[statement, "SELECT count(*) FROM units"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("ERROR") && stderr.contains(message), "{statement}: {stderr}");
        // The connection stays usable: the next statement answers.
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "10", "{statement}");
    }
    assert!(!Path::new("/tmp/cwkpi-cases.csv").exists());
    // Still a view after the refused DROP, for everyone.
    assert_eq!(server.rows(&ANALYST, &["SELECT count(*) FROM kpi"]), vec!["130"]);
}

#[test]
fn a_statement_past_the_timeout_is_cancelled_and_the_session_goes_on() {
    let server = Server::start(&sample(), &[ANALYST], &["--statement-timeout", "1"]);
    let started = Instant::now();
    let out = server.psql(ANALYST.0, ANALYST.1, &["SELECT count(*) FROM generate_series(1, 50000000000)", "SELECT 2"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("canceling statement due to statement timeout"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2");
    assert!(started.elapsed() < Duration::from_secs(30), "cancelled near its 1 s limit, not run to its end");
}

/// The units below U0007 in the sample, U0007 included (tests/scope.rs works them out).
fn u0007_subtree() -> BTreeSet<String> {
    ["U0007", "U0008", "U0009", "U0010"].iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_user_granted_units_sees_no_row_of_another_unit_by_any_path() {
    let server = Server::start(&sample(), &[ANALYST, HEAD], &[]);
    let visible = u0007_subtree();
    let units_of = |sql: &str| -> BTreeSet<String> { server.rows(&HEAD, &[sql]).into_iter().collect() };

    // Every table and view with a unit column, directly and by the paths SQL offers.
    let with_units = server.rows(
        &ANALYST,
        &["SELECT table_name FROM information_schema.columns WHERE column_name = 'unit_id' AND table_schema = 'public' ORDER BY 1"],
    );
    assert!(with_units.len() >= 25, "the tables and views with a unit_id: {with_units:?}");
    for table in &with_units {
        let seen = units_of(&format!("SELECT DISTINCT unit_id FROM {table} WHERE unit_id IS NOT NULL"));
        assert!(seen.is_subset(&visible), "{table}: {seen:?}");
    }
    for sql in [
        "SELECT c.unit_id FROM cases c JOIN measures m ON m.case_id = c.case_id GROUP BY 1",
        "SELECT unit_id FROM units WHERE unit_id IN (SELECT unit_id FROM cases) ",
        "SELECT unit_id FROM cases UNION SELECT unit_id FROM caseworkers UNION SELECT parent_id FROM units WHERE parent_id IS NOT NULL",
        "WITH k AS (SELECT * FROM kpi) SELECT DISTINCT unit_id FROM k",
        "SELECT DISTINCT ancestor_id FROM unit_tree",
    ] {
        let seen = units_of(sql);
        assert!(!seen.is_empty() && seen.is_subset(&visible), "{sql}: {seen:?}");
    }

    // Rows reached through their case: the counts the whole export has for those cases.
    let in_grant = "(SELECT case_id FROM cases WHERE unit_id IN ('U0007','U0008','U0009','U0010'))";
    for table in ["measures", "investigations", "action_plans", "follow_ups", "decisions", "case_events"] {
        let mine = server.rows(&HEAD, &[&format!("SELECT count(*) FROM {table}")]);
        let whole = server.rows(&ANALYST, &[&format!("SELECT count(*) FROM {table} WHERE case_id IN {in_grant}")]);
        let all = server.rows(&ANALYST, &[&format!("SELECT count(*) FROM {table}")]);
        assert_eq!(mine, whole, "{table}");
        assert_ne!(mine, all, "{table}: the grant leaves rows out");
    }
    let children = server.rows(&HEAD, &["SELECT count(*) FROM children"]);
    let through_cases =
        server.rows(&ANALYST, &[&format!("SELECT count(DISTINCT child_id) FROM cases WHERE case_id IN {in_grant}")]);
    assert_eq!(children, through_cases);

    // The budget views: the granted units' own figures, as the whole export has them.
    let budget =
        "SELECT concat_ws('|', unit_id, budget_year_dkk, forecast_commitments_dkk) FROM budget_forecast ORDER BY 1";
    let whole: Vec<String> = server
        .rows(&ANALYST, &[budget])
        .into_iter()
        .filter(|l| visible.contains(l.split('|').next().unwrap()))
        .collect();
    assert_eq!(whole.len(), 4, "U0007 and its three teams");
    assert_eq!(server.rows(&HEAD, &[budget]), whole);

    // The granted units' KPIs are the whole export's.
    let mine = server.rows(&HEAD, &[KPI_QUERY]);
    let whole: Vec<String> =
        kpi_lines(&sample(), AS_OF).into_iter().filter(|l| visible.contains(l.split('|').next().unwrap())).collect();
    assert_eq!(sorted(mine), whole);

    // Catalogs list only what the user has, and nothing reads files or holds a CPR number.
    let catalog_units = units_of("SELECT DISTINCT relname FROM pg_catalog.pg_class WHERE relname LIKE 'U00%'");
    assert!(catalog_units.is_empty());
    assert_eq!(
        server.rows(&HEAD, &["SELECT count(*) FROM information_schema.columns WHERE column_name = 'cpr'"]),
        vec!["0"]
    );
    let cases_file = sample().join("cases.parquet");
    for sql in [
        format!("SELECT * FROM read_parquet('{}')", cases_file.display()),
        format!("SELECT * FROM '{}'", cases_file.display()),
        "SELECT cpr FROM children".to_string(),
    ] {
        let out = server.psql(HEAD.0, HEAD.1, &[&sql]);
        assert!(String::from_utf8_lossy(&out.stderr).contains("ERROR"), "{sql} is refused");
        assert!(out.stdout.is_empty(), "{sql}");
    }
}

#[test]
fn wrong_passwords_unknown_users_and_plain_passwords_are_refused() {
    let server = Server::start(&sample(), &[ANALYST], &[]);
    for (user, password) in [("analyst", "wrong"), ("nobody", "kode-1234"), ("plain", "plaintext")] {
        let out = server.psql(user, password, &["SELECT 1"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{user}");
        assert!(stderr.contains(&format!("password authentication failed for user \"{user}\"")), "{user}: {stderr}");
    }
    // A client that answers the SCRAM request with a cleartext password is refused too.
    let mut socket = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut startup = Vec::new();
    startup.extend_from_slice(&196608u32.to_be_bytes()); // protocol 3.0
    for part in ["user", "analyst", "database", "cwkpi", ""] {
        startup.extend_from_slice(part.as_bytes());
        startup.push(0);
    }
    socket.write_all(&((startup.len() + 4) as u32).to_be_bytes()).unwrap();
    socket.write_all(&startup).unwrap();
    let mut kind = [0u8; 1];
    socket.read_exact(&mut kind).unwrap();
    assert_eq!(kind[0], b'R', "the server asks for authentication");
    let mut length = [0u8; 4];
    socket.read_exact(&mut length).unwrap();
    let mut body = vec![0u8; u32::from_be_bytes(length) as usize - 4];
    socket.read_exact(&mut body).unwrap();
    assert_eq!(&body[..4], &10u32.to_be_bytes(), "AuthenticationSASL");
    assert!(String::from_utf8_lossy(&body).contains("SCRAM-SHA-256"));
    let password = b"kode-1234\0";
    socket.write_all(b"p").unwrap();
    socket.write_all(&((password.len() + 4) as u32).to_be_bytes()).unwrap();
    socket.write_all(password).unwrap();
    let mut answer = Vec::new();
    let _ = socket.read_to_end(&mut answer);
    assert_eq!(answer.first(), Some(&b'E'), "an error, not a login");
    assert!(String::from_utf8_lossy(&answer).contains("28P01"));

    // The server kept serving: the right password still works.
    assert_eq!(server.rows(&ANALYST, &["SELECT 1"]), vec!["1"]);
    assert!(!server.log().contains("kode-1234"), "no password in the log");
}

#[test]
fn cwkpi_passwd_makes_a_verifier_psql_logs_in_with() {
    let mut child = Command::new(bin()).arg("passwd").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"s\xc3\xa6rligt kodeord\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let verifier = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(ScramVerifier::parse(&verifier).is_some(), "{verifier}");
    assert!(!verifier.contains("kodeord"));

    let server = Server::start_with_users(
        &sample(),
        &format!("[[user]]\nname = \"x\"\npassword = \"{verifier}\"\nunits = [\"*\"]\n"),
        &[],
    );
    let out = server.psql("x", "særligt kodeord", &["SELECT count(*) FROM units"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "10", "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_bad_users_file_stops_the_server_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    std::fs::write(&users, "[[user]]\nname = \"a\"\npassword = \"SCRAM-SHA-256$secretish\"\n").unwrap();
    let out = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--exports"])
        .arg(sample())
        .arg("--users")
        .arg(&users)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("users.toml") && stderr.contains("line"), "{stderr}");
    assert!(!stderr.contains("secretish"), "the password is not repeated: {stderr}");
}

fn python() -> Command {
    let mut c = Command::new("python3");
    c.env("PYTHONUNBUFFERED", "1");
    c
}

/// The summary line a client script prints last (JSON).
fn summary(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the client script failed (it needs psycopg; scripts/test-clients.sh installs it):\n{stdout}\n{stderr}"
    );
    serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|_| panic!("no summary: {stdout}\n{stderr}"))
}

#[test]
fn fifty_clients_get_correct_answers_without_errors_and_bounded_memory() {
    // Fifty analysts, all logged in as one user here.
    let server = Server::start(&sample(), &[ANALYST, HEAD], &["--max-connections-per-user", "50"]);
    let expected_file = server.dir.path().join("expected.json");
    let expected: BTreeMap<String, Vec<i64>> = kpi_lines(&sample(), AS_OF)
        .into_iter()
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            (format!("{}|{}", f[0], f[1]), vec![f[2].parse().unwrap(), f[3].parse().unwrap()])
        })
        .collect();
    std::fs::write(&expected_file, serde_json::to_string(&expected).unwrap()).unwrap();
    let out = python()
        .arg(script("clients.py"))
        .args(["--port", &server.port.to_string(), "--clients", "50", "--seconds", "8", "--expected"])
        .arg(&expected_file)
        .args(["--user", ANALYST.0, "--password", ANALYST.1])
        .output()
        .unwrap();
    let s = summary(&out);
    assert_eq!(s["errors"], 0, "{s}");
    assert_eq!(s["wrong"], 0, "{s}");
    assert_eq!(s["clients"], 50, "{s}");
    assert!(s["queries"].as_u64().unwrap() >= 50, "every client answered: {s}");
    // The sample's tables are a few MB; fifty sessions must not multiply them.
    assert!(server.peak_memory() < 1 << 30, "peak {} bytes", server.peak_memory());
}

/// The pair every reload client asks for: the cases and one KPI's denominator, in one
/// statement, so an answer mixing two exports would show.
const PAIR: &str =
    "SELECT (SELECT count(*) FROM cases), (SELECT sum(denominator) FROM kpi WHERE kpi_id = 'follow_up_on_time')";

fn pair_of(exports: &Path) -> String {
    let out = Command::new(bin())
        .args(["sql", "--format", "csv", "--as-of", AS_OF, "--exports"])
        .arg(exports)
        .arg(PAIR)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().nth(1).unwrap().replace(',', "|")
}

#[test]
fn a_new_export_is_swapped_in_whole_and_a_corrupt_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new, corrupt) = (dir.path().join("old"), dir.path().join("new"), dir.path().join("corrupt"));
    copy_dir(&sample(), &old);
    let status = Command::new(bin())
        .args(["gen", "--scale", "0.05", "--seed", "11", "--as-of", AS_OF, "--order", "sorted", "--out"])
        .arg(&new)
        .status()
        .unwrap();
    assert!(status.success());
    copy_dir(&new, &corrupt);
    std::fs::write(corrupt.join("cases.parquet"), b"PAR1 not a parquet file").unwrap();
    let (old_pair, new_pair) = (pair_of(&old), pair_of(&new));
    assert_ne!(old_pair, new_pair);

    // The server follows a link, as it would the nightly's `latest`.
    let link = dir.path().join("current");
    std::os::unix::fs::symlink(&old, &link).unwrap();
    let server = Server::start(&link, &[ANALYST], &[]);
    assert_eq!(server.rows(&ANALYST, &[PAIR]).join(""), old_pair);

    let clients = {
        let port = server.port.to_string();
        std::thread::spawn(move || {
            python()
                .arg(script("pairs.py"))
                .args([
                    "--port",
                    &port,
                    "--clients",
                    "8",
                    "--seconds",
                    "14",
                    "--user",
                    ANALYST.0,
                    "--password",
                    ANALYST.1,
                    "--query",
                    PAIR,
                ])
                .output()
                .unwrap()
        })
    };
    std::thread::sleep(Duration::from_secs(2));
    repoint(&link, &new);
    std::thread::sleep(Duration::from_secs(5));
    repoint(&link, &corrupt);
    let out = clients.join().unwrap();
    let s = summary(&out);
    assert_eq!(s["errors"], 0, "{s}");
    let answers: BTreeSet<String> = s["answers"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        answers,
        [old_pair.clone(), new_pair.clone()].into_iter().collect(),
        "only whole exports, both seen: {s}"
    );
    // The corrupt export was refused and the new one is still served.
    assert_eq!(server.rows(&ANALYST, &[PAIR]).join(""), new_pair);
    let log = server.log();
    assert!(log.contains("not reloaded") && log.contains("cases"), "{log}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// Points `link` at `target` in one step (a new link renamed over the old).
fn repoint(link: &Path, target: &Path) {
    let next = link.with_extension("next");
    let _ = std::fs::remove_file(&next);
    std::os::unix::fs::symlink(target, &next).unwrap();
    std::fs::rename(&next, link).unwrap();
}

fn tls_fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/tls").join(name).display().to_string()
}

#[test]
fn with_a_certificate_only_tls_connections_are_accepted() {
    let (cert, key) = (tls_fixture("cert.pem"), tls_fixture("key.pem"));
    let server = Server::start(&sample(), &[ANALYST], &["--tls-cert", &cert, "--tls-key", &key]);
    let psql = |sslmode: &str| {
        Command::new("psql")
            .args(["-X", "-A", "-t", "-c", "SELECT count(*) FROM units", "-d"])
            .arg(format!(
                "host=127.0.0.1 port={} dbname=cwkpi user=analyst sslmode={sslmode} sslrootcert={cert}",
                server.port
            ))
            .env("PGPASSWORD", ANALYST.1)
            .output()
            .unwrap()
    };
    // verify-full: encrypted, and the server proved it holds the certificate's key.
    let out = psql("verify-full");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "10", "{}", String::from_utf8_lossy(&out.stderr));
    let out = psql("disable");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("TLS connections only"), "{stderr}");
}

#[test]
fn connections_past_the_limit_are_told_so() {
    let server = Server::start(&sample(), &[ANALYST], &["--max-connections", "2"]);
    // Two logged-in connections hold both places; a third is told why it cannot have one.
    let s = security::hostile(&server, &ANALYST, "hold", &["--count", "3", "--hold", "0.5"]);
    assert_eq!(s["held"], 2, "{s}");
    assert!(s["refused"][0].as_str().unwrap().contains("sorry, too many clients already"), "{s}");
    assert_eq!(server.rows(&ANALYST, &["SELECT 1"]), vec!["1"], "a place is free again");
}

#[test]
fn a_query_past_the_memory_limit_fails_alone() {
    let server = Server::start(&sample(), &[ANALYST], &["--memory-limit", "8M"]);
    // A hash join's build side cannot spill: three million rows need far more than 8 MiB.
    // (A large GROUP BY spills to disk instead, and answers.)
    let out = server.psql(
        ANALYST.0,
        ANALYST.1,
        &["SELECT count(*) FROM generate_series(1, 3000000) a JOIN generate_series(1, 3000000) b ON a.value = b.value", "SELECT count(*) FROM kpi"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ERROR") && stderr.to_lowercase().contains("resources exhausted"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "130", "the session goes on");
}

#[test]
fn the_start_up_queries_of_jdbc_and_npgsql_answer() {
    let server = Server::start(&sample(), &[ANALYST], &[]);
    // What DBeaver (PostgreSQL JDBC) sends on connecting, in order.
    let rows = server.rows(
        &ANALYST,
        &[
            "SET extra_float_digits = 3",
            "SET application_name = 'PostgreSQL JDBC Driver'",
            "SELECT current_schema(), session_user",
            "SHOW search_path",
            "SELECT version()",
            "SELECT db.oid, db.datname FROM pg_catalog.pg_database db WHERE datname = 'cwkpi'",
            "SELECT * FROM pg_catalog.pg_settings WHERE name = 'standard_conforming_strings'",
        ],
    );
    assert!(rows[0].starts_with("public|"), "{rows:?}");
    assert!(rows.iter().any(|r| r.ends_with("|cwkpi")), "{rows:?}");

    // Npgsql's type loading: every base type it maps, bool among them, with its oid.
    let out = Command::new("psql")
        .args(["-X", "-A", "-t", "-f"])
        .arg(script("npgsql_load_types.sql"))
        .args(["-d", &server.conninfo(ANALYST.0)])
        .env("PGPASSWORD", ANALYST.1)
        .output()
        .unwrap();
    let types = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(types.lines().count() >= 100, "{types}");
    assert!(types.lines().any(|l| l == "pg_catalog|16|bool|b|f|"), "{types}");
}

#[test]
fn hand_worked_follow_up_figures_through_the_endpoint_whole_and_scoped() {
    // The export of tests/slt/follow_ups.slt, as of its date 2026-06-30. Worked by hand
    // there: follow_up_on_time T1 and D1 5/8 (C1 ✓ C2 ✗ C3 ✓ C4 ✓ C5 ✗ C6 ✗ C7 ✓ C8 ✓),
    // D2 1/7, CEN and ORG 6/15, the empty unit 0/0.
    let dir = tempfile::tempdir().unwrap();
    let exports = dir.path().join("follow_ups");
    cwkpi::import::import_csv_export(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/slt/follow_ups"), &exports)
        .unwrap();
    const HEAD_D1: TestUser = TestUser("head-d1", "d1-kode", &["D1"]);
    let server = Server::start(&exports, &[ANALYST, HEAD_D1], &["--as-of", "2026-06-30"]);
    let query = "SELECT unit_id, numerator, denominator FROM kpi WHERE kpi_id = 'follow_up_on_time' ORDER BY unit_id";
    assert_eq!(
        server.rows(&ANALYST, &[query]),
        vec!["CEN|6|15", "D1|5|8", "D2|1|7", "EMPTY|0|0", "ORG|6|15", "T1|5|8"]
    );
    // The head of D1 sees D1 and T1 only, with the same figures; D1 is their top.
    assert_eq!(server.rows(&HEAD_D1, &[query]), vec!["D1|5|8", "T1|5|8"]);
    assert_eq!(server.rows(&HEAD_D1, &["SELECT unit_id, parent_id FROM units ORDER BY unit_id"]), vec!["D1|", "T1|D1"]);
    assert_eq!(
        server.rows(&HEAD_D1, &["SELECT case_id FROM cases ORDER BY case_id"]),
        vec!["C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8"]
    );
}
