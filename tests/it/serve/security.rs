//! `cwkpi serve` as a hostile user meets it: a logged-in analyst who tries to change the
//! data, starve the server or see another unit's ids, and anonymous sockets that try to
//! lock everyone out. Each attack is bounded in time; after each, the server must still
//! answer, and a second connection must see every table as it was.

use super::*;

pub(super) fn hostile(server: &Server, user: &TestUser, attack: &str, extra: &[&str]) -> serde_json::Value {
    let out = python()
        .arg(script("hostile.py"))
        .arg(attack)
        .args(["--port", &server.port.to_string(), "--user", user.0, "--password", user.1])
        .args(extra)
        .output()
        .unwrap();
    summary(&out)
}

/// Row counts of the tables a write would touch, and whether any table was added.
fn fingerprint(server: &Server) -> Vec<String> {
    server.rows(
        &ANALYST,
        &["SELECT (SELECT count(*) FROM units) AS units, (SELECT count(*) FROM cases) AS cases, (SELECT count(*) FROM kpi) AS kpi, \
           (SELECT count(*) FROM information_schema.tables WHERE starts_with(table_name, 't_')) AS added"],
    )
}

#[test]
fn every_write_path_leaves_every_table_unchanged_for_every_connection() {
    let server = Server::start(&sample(), &[ANALYST], &[]);
    let before = fingerprint(&server);
    assert!(before[0].starts_with("10|") && before[0].ends_with("|130|0"), "the sample as served: {before:?}");

    // The simple protocol (psql), one statement at a time, each in its own transaction.
    let attempts = [
        "DECLARE c CURSOR FOR INSERT INTO units (unit_id, name) VALUES ('X', 'x')",
        "BEGIN; DECLARE c CURSOR FOR INSERT INTO units (unit_id, name) VALUES ('X', 'x'); FETCH ALL FROM c; COMMIT",
        "DECLARE c CURSOR FOR DELETE FROM cases",
        "DECLARE c CURSOR FOR UPDATE units SET name = 'x'",
        "DECLARE c CURSOR FOR SELECT * INTO t_cursor FROM units",
        "WITH x AS (SELECT 1) DELETE FROM cases",
        "WITH x AS (SELECT 1) INSERT INTO units (unit_id, name) VALUES ('X', 'x')",
        "EXPLAIN ANALYZE INSERT INTO units (unit_id, name) VALUES ('X', 'x')",
        "EXPLAIN ANALYZE SELECT * INTO t_explain FROM units",
        "PREPARE p AS DELETE FROM cases",
        "EXECUTE p",
        "SELECT * INTO t_into FROM units",
        "CREATE TABLE t_table AS SELECT * FROM units",
        "CREATE VIEW t_view AS SELECT 1",
        "CREATE SCHEMA t_schema",
        "DROP TABLE cases",
        "DROP VIEW kpi",
        "INSERT INTO units (unit_id, name) VALUES ('X', 'x')",
        "DELETE FROM cases",
        "UPDATE units SET name = 'x'",
        "TRUNCATE cases",
        "COPY cases TO '/tmp/cwkpi-hostile.csv'",
        "COPY (SELECT * FROM cases) TO '/tmp/cwkpi-hostile.csv'",
        "CREATE EXTERNAL TABLE t_external STORED AS CSV LOCATION '/etc/hostname'",
        "SELECT * FROM '/etc/hostname'",
    ];
    for statement in attempts {
        let out = server.psql(ANALYST.0, ANALYST.1, &[statement]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("ERROR"), "{statement} was refused: {stderr}");
        assert_eq!(fingerprint(&server), before, "after {statement}");
    }

    // The extended protocol (psycopg): bound parameters, a prepared statement, cursors.
    let s = hostile(&server, &ANALYST, "writes", &[]);
    for (statement, result) in s["results"].as_object().unwrap() {
        assert!(result.as_str().unwrap() != "ok", "{statement} was refused: {result}");
    }
    assert_eq!(fingerprint(&server), before, "after the extended protocol's writes");
    assert!(!Path::new("/tmp/cwkpi-hostile.csv").exists(), "no file written");
}

#[test]
fn a_huge_join_and_an_endless_cross_join_end_inside_the_budget_and_the_server_answers() {
    let server = Server::start(
        &sample(),
        &[ANALYST],
        &["--memory-limit", "256M", "--query-memory", "64M", "--statement-timeout", "4"],
    );
    let baseline = server.peak_memory();
    // A hash join's build side cannot spill: twenty million rows need more than 64 MiB.
    let out = server.psql(
        ANALYST.0,
        ANALYST.1,
        &["SELECT count(*) FROM generate_series(1, 20000000) a JOIN generate_series(1, 20000000) b ON a.value = b.value"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.to_lowercase().contains("resources exhausted") && stderr.contains("share"), "{stderr}");
    // A value no operator sees: refused before it is made.
    let out = server.psql(
        ANALYST.0,
        ANALYST.1,
        &["SELECT length(repeat('x', 1000000000))", "SELECT cardinality(range(0, 60000000))"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("more than a query's share of the server's memory").count(), 2, "{stderr}");
    // A cross join of billions of rows would hold a core without yielding: refused before
    // it runs. A long scan runs until its deadline.
    let started = Instant::now();
    let out = server.psql(
        ANALYST.0,
        ANALYST.1,
        &[
            "SELECT max(a.case_id || b.case_id || c.case_id || d.case_id) FROM cases a, cases b, cases c, cases d",
            "SELECT count(*) FROM generate_series(1, 50000000000) WHERE value % 7 = 3",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("program limit exceeded"), "{stderr}");
    assert!(stderr.contains("statement timeout"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(15), "stopped near its 4 s limit");
    assert_eq!(server.rows(&ANALYST, &["SELECT count(*) FROM kpi"]), vec!["130"], "the server answers");
    let grown = server.peak_memory().saturating_sub(baseline);
    assert!(grown < 600 << 20, "the attacks grew the server by {} MiB", grown >> 20);
}

#[test]
fn cancel_stops_a_query_within_a_second_in_both_protocols() {
    let server = Server::start(&sample(), &[ANALYST], &["--statement-timeout", "30"]);
    let s = hostile(&server, &ANALYST, "cancel", &["--after", "1.0"]);
    for protocol in ["simple", "extended"] {
        let found = &s[protocol];
        assert!(found["seconds"].as_f64().unwrap() < 1.0, "{protocol}: cancelled within a second: {found}");
        assert!(found["error"].as_str().unwrap().contains("57014"), "{protocol}: {found}");
        assert_eq!(found["then"], "ok", "{protocol}: the connection goes on: {found}");
    }
    assert!(server.log().contains("query cancelled at the client's request"), "{}", server.log());
}

#[test]
fn rows_of_a_query_with_bound_parameters_are_sent_as_they_are_computed() {
    let server = Server::start(&sample(), &[ANALYST], &[]);
    let s = hostile(&server, &ANALYST, "stream", &[]);
    // Three million rows take about a second to make; a cursor's first row must not wait
    // for all of them.
    let first = s["first_row_seconds"].as_f64().unwrap();
    assert!(first < 0.25, "{s}");
}

#[test]
fn sockets_that_never_log_in_lock_nobody_out_and_are_closed() {
    let server = Server::start(&sample(), &[ANALYST], &["--max-connections", "100"]);
    // 200 sockets from another loopback address, held past the login timeout (10 s).
    let mut idle = python()
        .arg(script("hostile.py"))
        .args(["idle", "--port", &server.port.to_string(), "--sockets", "200", "--source", "127.0.0.2", "--hold", "12"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(idle.stdout.as_mut().unwrap()).read_line(&mut first).unwrap();
    assert!(first.contains("\"opened\": 200"), "{first}");
    let started = Instant::now();
    assert_eq!(server.rows(&ANALYST, &["SELECT 1"]), vec!["1"], "a valid login from elsewhere goes through");
    assert!(started.elapsed() < Duration::from_secs(3));
    let out = idle.wait_with_output().unwrap();
    let s: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    // 16 log in at once and 128 wait for a place: closed at the timeout; 56 at once.
    assert_eq!(s["closed_by_server"], 200, "{s}");
    let log = server.log();
    assert_eq!(log.matches("too many logins waiting").count(), 56, "{log}");
    assert!(log.contains("login not finished within 10s"), "{log}");
}

#[test]
fn failed_logins_slow_down_and_are_logged_with_the_peer() {
    let server = Server::start(&sample(), &[ANALYST], &[]);
    let mut last = Duration::ZERO;
    for _ in 0..5 {
        let started = Instant::now();
        let out = server.psql(ANALYST.0, "wrong", &["SELECT 1"]);
        assert!(!out.status.success());
        last = started.elapsed();
    }
    // 0.1, 0.2, 0.4, 0.8 and 1.6 s: the fifth failure waits at least 1.6 s.
    assert!(last >= Duration::from_millis(1500), "the fifth failure took {last:?}");
    let started = Instant::now();
    assert_eq!(server.rows(&ANALYST, &["SELECT 1"]), vec!["1"], "the right password is not delayed");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(server.log().contains("peer=127.0.0.1") && server.log().contains("failures=5"), "{}", server.log());
}

#[test]
fn the_salt_of_an_unknown_user_is_the_same_after_a_restart() {
    let salt = |server: &Server| -> String {
        // The server's first SCRAM message (r=…,s=SALT,i=…) for a user it does not know.
        let mut socket = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut startup = Vec::new();
        startup.extend(196608i32.to_be_bytes());
        startup.extend(b"user\0nobody-here\0database\0cwkpi\0\0");
        let mut message = ((startup.len() + 4) as i32).to_be_bytes().to_vec();
        message.extend(startup);
        socket.write_all(&message).unwrap();
        let mut header = [0u8; 9];
        socket.read_exact(&mut header).unwrap(); // AuthenticationSASL
        let length = i32::from_be_bytes(header[1..5].try_into().unwrap()) as usize;
        let mut rest = vec![0u8; length - 8];
        socket.read_exact(&mut rest).unwrap();
        let first = b"n,,n=,r=abcdefghijklmnop";
        let mut body = b"SCRAM-SHA-256\0".to_vec();
        body.extend((first.len() as i32).to_be_bytes());
        body.extend(first);
        let mut message = vec![b'p'];
        message.extend(((body.len() + 4) as i32).to_be_bytes());
        message.extend(body);
        socket.write_all(&message).unwrap();
        let mut header = [0u8; 5];
        socket.read_exact(&mut header).unwrap();
        let length = i32::from_be_bytes(header[1..5].try_into().unwrap()) as usize;
        let mut body = vec![0u8; length - 4];
        socket.read_exact(&mut body).unwrap();
        let text = String::from_utf8_lossy(&body[4..]).into_owned();
        text.split(',').find_map(|p| p.strip_prefix("s=")).unwrap().to_string()
    };
    let users = "[[user]]\nname = \"someone\"\npassword = \"plaintext\"\nunits = [\"*\"]\n";
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("login.secret");
    let secret_arg = secret.to_str().unwrap();
    let first = salt(&Server::start_with_users(&sample(), users, &["--login-secret", secret_arg]));
    let second = salt(&Server::start_with_users(&sample(), users, &["--login-secret", secret_arg]));
    assert_eq!(first, second);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn extreme_dates_and_weeks_are_refused_and_the_session_goes_on() {
    let server = Server::start(&sample(), &[ANALYST], &[]);
    for (settings, code) in [
        (vec!["SET cwkpi.as_of = '+262142-12-31'"], "22007"),
        (vec!["SET cwkpi.as_of = '1899-12-31'"], "22007"),
        (vec!["SET cwkpi.as_of = '2200-01-01'"], "22007"),
        (vec!["SET cwkpi.weeks = 54"], "22023"),
        (vec!["SET cwkpi.as_of = '1900-01-07'", "SET cwkpi.weeks = 2"], "22008"),
    ] {
        let mut commands = vec!["\\set VERBOSITY verbose"];
        commands.extend(settings.iter().copied());
        commands.extend([
            "SELECT count(*) FROM kpi",
            "SET cwkpi.as_of = DEFAULT",
            "SET cwkpi.weeks = DEFAULT",
            "SELECT count(*) FROM kpi",
        ]);
        let out = server.psql(ANALYST.0, ANALYST.1, &commands);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(code), "{settings:?}: {stderr}");
        assert!(String::from_utf8_lossy(&out.stdout).lines().any(|l| l == "130"), "{settings:?}: the session goes on");
    }
    // The first and last dates allowed answer.
    assert_eq!(server.rows(&ANALYST, &["SET cwkpi.as_of = '2199-12-31'", "SELECT count(*) FROM kpi"]), vec!["130"]);
    assert_eq!(server.rows(&ANALYST, &["SET cwkpi.as_of = '1900-01-01'", "SELECT count(*) FROM kpi"]), vec!["130"]);
}

#[test]
fn connections_are_counted_per_user_and_an_idle_one_is_closed() {
    let server =
        Server::start(&sample(), &[ANALYST, HEAD], &["--max-connections-per-user", "2", "--idle-timeout", "2"]);
    let s = hostile(&server, &ANALYST, "hold", &["--count", "3", "--hold", "0.5"]);
    assert_eq!(s["held"], 2, "{s}");
    assert!(s["refused"][0].as_str().unwrap().contains("too many connections for role \"analyst\""), "{s}");
    let s = hostile(&server, &HEAD, "sleepy", &["--hold", "4"]);
    assert_eq!(s["before"], "ok", "{s}");
    assert_ne!(s["after"], "ok", "closed after 2 s idle: {s}");
    assert!(server.log().contains("idle for"), "{}", server.log());
}

/// A hand-made export with two departments under one center: A1 (granted) and A2. Rows
/// kept for A1 name A2's case S2, child B2, measure M2 and caseworker W2; the rules hold a
/// recovery milestone for each department.
fn cross_unit_export(dir: &Path) -> (PathBuf, PathBuf) {
    let csv = dir.join("csv");
    std::fs::create_dir_all(&csv).unwrap();
    let files = [
        ("units", "unit_id,name,parent_id\nF,Forvaltning,\nC1,Center,F\nA1,Afdeling 1,C1\nA2,Afdeling 2,C1\n"),
        ("caseworkers", "caseworker_id,name,unit_id\nW1,Rådgiver 1,A1\nW2,Rådgiver 2,A2\n"),
        (
            "children",
            "child_id,birth_date,cpr\nB1,2015-04-03,0304151234\nB2,2012-11-30,3011129876\nB3,2014-01-01,0101141234\n",
        ),
        (
            "cases",
            "case_id,child_id,unit_id,caseworker_id,opened_on,closed_on,target_group\n\
             S1,B1,A1,W1,2025-01-10,,udsatte\nS2,B2,A2,W2,2025-02-01,,udsatte\nS3,B3,A1,W2,2025-03-01,,udsatte\n",
        ),
        (
            "measures",
            "measure_id,case_id,paragraph,started_on,ended_on,decided_on,acute,monthly_cost_dkk,provider\n\
             M1,S1,SEL:52.3.7,2025-02-01,,,,1000,\nM2,S2,SEL:52.3.7,2025-03-01,,,,2000,\n",
        ),
        (
            "investigations",
            "investigation_id,case_id,started_on,completed_on,aware_on\nI1,S1,2025-01-12,,\nI2,S2,2025-02-12,,\n",
        ),
        ("action_plans", "plan_id,case_id,created_on\nH1,S1,2025-02-15\nH2,S2,2025-03-15\n"),
        (
            "follow_ups",
            "follow_up_id,case_id,performed_on,measure_id,next_due_on\nO1,S1,2025-05-01,M1,\nO2,S2,2025-06-01,M2,\n",
        ),
        (
            "notifications",
            "notification_id,unit_id,received_at,assessed_at,professional,receipt_confirmed_on,child_id,case_id\n\
             N1,A1,2025-03-14 10:00,2025-03-14 12:00,ja,2025-03-15,B2,S2\nN2,A2,2025-03-14 10:00,,nej,,B2,S2\n",
        ),
        (
            "complaints",
            "complaint_id,unit_id,received_on,kind,case_id\nK1,A1,2025-04-01,realitet,S2\nK2,A2,2025-04-01,realitet,S2\n",
        ),
        (
            "postings",
            "posting_id,unit_id,account,posted_on,amount_dkk,case_id,measure_id\n\
             T1,A1,5.28.20,2025-04-01,2000,S2,M2\nT2,A1,5.28.20,2025-04-02,100,,M2\nT3,A2,5.28.20,2025-04-01,2000,S2,M2\n",
        ),
    ];
    for (table, text) in files {
        std::fs::write(csv.join(format!("{table}.csv")), text).unwrap();
    }
    let exports = dir.join("export");
    cwkpi::import::import_csv_export(&csv, &exports).unwrap();
    let rules = dir.join("rules.toml");
    let milestones = "\n[[recovery_milestone]]\nunit_id = \"A1\"\non = \"2026-06-30\"\nmax_remaining = 1\n\
                      \n[[recovery_milestone]]\nunit_id = \"A2\"\non = \"2026-09-30\"\nmax_remaining = 0\n";
    let builtin = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/default_rules.toml"));
    std::fs::write(&rules, format!("{builtin}{milestones}")).unwrap();
    (exports, rules)
}

#[test]
fn a_scoped_user_sees_no_id_outside_the_grant_in_any_table_view_or_error() {
    let dir = tempfile::tempdir().unwrap();
    let (exports, rules) = cross_unit_export(dir.path());
    let head = TestUser("head-a1", "a1-kode", &["A1"]);
    let server =
        Server::start(&exports, &[ANALYST, head], &["--as-of", "2026-01-15", "--rules", rules.to_str().unwrap()]);
    let head = TestUser("head-a1", "a1-kode", &["A1"]);

    // What A1's head may see, by kind of id.
    let visible: BTreeMap<&str, BTreeSet<&str>> = [
        ("unit_id", ["A1"].into()),
        ("parent_id", BTreeSet::new()),
        ("case_id", ["S1", "S3"].into()),
        ("child_id", ["B1", "B3"].into()),
        ("measure_id", ["M1"].into()),
        ("caseworker_id", ["W1"].into()),
    ]
    .into();
    let hidden = ["A2", "C1", "F", "S2", "B2", "M2", "W2"];

    // Every id column of every table and view, as the catalog lists them.
    let columns = server.rows(
        &head,
        &["SELECT table_name, column_name FROM information_schema.columns \
           WHERE table_schema = 'public' AND column_name IN ('unit_id', 'parent_id', 'case_id', 'child_id', 'measure_id', 'caseworker_id') \
           ORDER BY 1, 2"],
    );
    assert!(columns.len() > 20, "every table and view: {columns:?}");
    for line in &columns {
        let (table, column) = line.split_once('|').unwrap();
        let values =
            server.rows(&head, &[&format!("SELECT DISTINCT {column} FROM {table} WHERE {column} IS NOT NULL")]);
        for value in &values {
            assert!(visible[column].contains(value.as_str()), "{table}.{column} shows {value}");
        }
        // An error that quotes a value quotes a visible one.
        let out = server.psql(head.0, head.1, &[&format!("SELECT CAST({column} AS INT) FROM {table}")]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        for id in hidden {
            assert!(
                !stderr.contains(&format!("'{id}'")) && !stderr.contains(&format!("\"{id}\"")),
                "{table}.{column}: {stderr}"
            );
        }
    }
    // The views' by_key (an id by its row key) is not among the functions a user of the
    // endpoint gets: nothing is looked up by number.
    let out = server.psql(head.0, head.1, &["SELECT by_key('cases', 'case_id', 1)"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.stdout.is_empty() && stderr.contains("by_key"), "{stderr}");
    // The rows kept for A1 are there, with the other department's ids cleared.
    assert_eq!(
        server.rows(
            &head,
            &["SELECT notification_id, coalesce(case_id, '-'), coalesce(child_id, '-') FROM notifications"]
        ),
        vec!["N1|-|-"]
    );
    assert_eq!(server.rows(&head, &["SELECT complaint_id, coalesce(case_id, '-') FROM complaints"]), vec!["K1|-"]);
    assert_eq!(
        server.rows(
            &head,
            &["SELECT posting_id, coalesce(case_id, '-'), coalesce(measure_id, '-') FROM postings ORDER BY 1"]
        ),
        vec!["T1|-|-", "T2|-|-"]
    );
    assert_eq!(
        server.rows(&head, &["SELECT case_id, coalesce(caseworker_id, '-') FROM cases ORDER BY 1"]),
        vec!["S1|W1", "S3|-"]
    );
    assert_eq!(server.rows(&head, &["SELECT unit_id FROM recovery_milestone_rules"]), vec!["A1"]);
    // The analyst sees them all.
    assert_eq!(server.rows(&ANALYST, &["SELECT count(*) FROM recovery_milestone_rules"]), vec!["2"]);
    assert_eq!(server.rows(&ANALYST, &["SELECT case_id FROM notifications ORDER BY 1"]), vec!["S2", "S2"]);
}

#[test]
fn a_removed_user_is_logged_out_and_a_narrowed_grant_applies_at_the_next_statement() {
    let users = |units_of_head: &str, with_analyst: bool| {
        let mut toml = format!(
            "[[user]]\nname = \"{}\"\npassword = \"{}\"\nunits = [{units_of_head}]\n\n",
            HEAD.0,
            ScramVerifier::new(HEAD.1).unwrap()
        );
        if with_analyst {
            toml.push_str(&format!(
                "[[user]]\nname = \"{}\"\npassword = \"{}\"\nunits = [\"*\"]\n",
                ANALYST.0,
                ScramVerifier::new(ANALYST.1).unwrap()
            ));
        }
        toml
    };
    let server = Server::start_with_users(&sample(), &users("\"*\"", true), &[]);
    // Two held sessions: the analyst's and the head's, each asking again after the change.
    let session = |user: &TestUser| {
        let mut child = Command::new("psql")
            .args(["-X", "-q", "-A", "-t", "-d", &server.conninfo(user.0)])
            .env("PGPASSWORD", user.1)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.as_mut().unwrap().write_all(b"SELECT count(*) FROM units;\n").unwrap();
        child
    };
    let mut analyst = session(&ANALYST);
    let mut head = session(&HEAD);
    std::thread::sleep(Duration::from_secs(2));
    std::fs::write(server.dir.path().join("users.toml"), users("\"U0007\"", false)).unwrap();
    unsafe { libc::kill(server.child.id() as i32, libc::SIGHUP) };
    std::thread::sleep(Duration::from_secs(2));
    for child in [&mut analyst, &mut head] {
        let _ = child.stdin.as_mut().unwrap().write_all(b"SELECT count(*) FROM units;\n");
        drop(child.stdin.take());
    }
    let wait = |child: Child| {
        let out = child.wait_with_output().unwrap();
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (analyst_out, analyst_err) = wait(analyst);
    assert_eq!(analyst_out.lines().next(), Some("10"), "{analyst_out} {analyst_err}");
    assert!(
        !analyst_out.lines().any(|l| l == "4") && analyst_out.lines().count() == 1,
        "logged out: {analyst_out} {analyst_err}"
    );
    let (head_out, head_err) = wait(head);
    assert_eq!(head_out.lines().collect::<Vec<_>>(), vec!["10", "4"], "the narrowed grant at once: {head_err}");
    assert!(server.log().contains("its user was removed from the users file"), "{}", server.log());
}
