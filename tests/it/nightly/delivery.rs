//! `cwkpi nightly --deliver`: after the run is published, each recipient due that morning
//! gets their unit's tiles and a link, over SMTP with STARTTLS and a login, from a local
//! sink (`tests/mail/sink.py`, aiosmtpd; `scripts/test-mail.sh` installs it) that refuses
//! the first message once. What each recipient received is checked, and that no mail holds
//! a case, child, measure or caseworker; a server that is down fails the mails, not the run.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};

use super::*;

/// Installs aiosmtpd and openssl once per run; what cannot be installed fails the test.
fn sink_installed() {
    crate::common::installed(&["test-mail.sh"], "the mail sink's aiosmtpd and openssl are");
}

const USER: &str = "ugerapport";
const PASSWORD: &str = "hemmeligt-1";

/// The sink, running until dropped (its standard input closes).
struct Sink {
    child: Child,
    _stdin: ChildStdin,
    port: u16,
    dir: PathBuf,
}

impl Sink {
    fn start(dir: PathBuf, fail_first: u32) -> Sink {
        sink_installed();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/mail/sink.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg("--out")
            .arg(&dir)
            .args(["--user", USER, "--password", PASSWORD, "--fail-first", &fail_first.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().strip_prefix("PORT ").and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("{line}"));
        Sink { child, _stdin: stdin, port, dir }
    }

    /// The mails kept, in the order received.
    fn mails(&self) -> Vec<serde_json::Value> {
        let mut mails: Vec<(usize, serde_json::Value)> = std::fs::read_dir(&self.dir)
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().to_string_lossy().into_owned();
                let n = name.strip_prefix("mail-")?.strip_suffix(".json")?.parse().ok()?;
                Some((n, serde_json::from_str(&std::fs::read_to_string(self.dir.join(&name)).unwrap()).unwrap()))
            })
            .collect();
        mails.sort_by_key(|(n, _)| *n);
        mails.into_iter().map(|(_, m)| m).collect()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn delivery_file(fx: &Fixture, port: u16, ca: &Path) -> PathBuf {
    let path = fx.path("delivery.toml");
    std::fs::write(
        &path,
        format!(
            r#"[smtp]
host = "127.0.0.1"
port = {port}
from = "Ugerapport <ugerapport@kommune.example>"
ca_file = "{}"
attempts = 3
retry_after_seconds = 0.2
timeout_seconds = 10

[report]
base_url = "https://intra.kommune.example/ugerapport/latest/report"

# As of Sunday 2026-11-22 the run reports on Monday morning.
[[recipient]]
unit = "U0005"
to = ["leder.amager@kommune.example"]
weekday = "mandag"

[[recipient]]
unit = "U0007"
to = ["leder.bh@kommune.example", "Souschef <sous.bh@kommune.example>"]

[[recipient]]
unit = "U0008"
to = ["team1@kommune.example"]
weekday = "friday"

[[recipient]]
unit = "U9999"
to = ["nobody@kommune.example"]
"#,
            ca.display()
        ),
    )
    .unwrap();
    path
}

fn nightly_delivering(out: &Path, plan: &Path) -> Output {
    Command::new(BIN)
        .args(["nightly", "--exports"])
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample"))
        .arg("--out")
        .arg(out)
        .args(["--as-of", AS_OF, "--deliver"])
        .arg(plan)
        .env("CWKPI_SMTP_USER", USER)
        .env("CWKPI_SMTP_PASSWORD", PASSWORD)
        .output()
        .unwrap()
}

fn strings_of(v: &serde_json::Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

#[test]
fn each_recipient_due_gets_their_units_tiles_and_link_and_nothing_about_a_case() {
    let fx = Fixture::new();
    let sink = Sink::start(fx.path("sink"), 1);
    let plan = delivery_file(&fx, sink.port, &sink.dir.join("ca.pem"));
    let out = fx.path("out");
    let o = nightly_delivering(&out, &plan);
    let (stdout, stderr) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(code(&o), 0, "{stderr}");
    assert!(stdout.contains("mailed 2 of 4 recipients (0 failed, 2 not due)"), "{stdout}");

    // The first message was refused once (451) and sent again in the next round, after the
    // second recipient's; U0008 is due on Fridays and U9999 is no unit of the report.
    let mails = sink.mails();
    assert_eq!(mails.len(), 2, "{mails:?}");
    let (bh, amager) = (&mails[0], &mails[1]);
    assert_eq!(strings_of(&amager["to"]), ["leder.amager@kommune.example"]);
    assert_eq!(amager["from"], "ugerapport@kommune.example");
    // Afdeling Amager as of 2026-11-22 (its KPI rows): plans on time 5 of 6 = 83.3 % fails
    // while plan coverage 21 of 21 is met; follow-up 19 of 23 = 82.6 %; investigations
    // completed in time 5 of 7 = 71.4 % fail while open ones 2 of 2 are in time.
    assert_eq!(amager["subject"], "Ugerapport uge 47 2026 – Afdeling Amager: 0 af 3 mål opfyldt");
    // Lines as sent end in CRLF, as SMTP has them.
    let body = amager["text"].as_str().unwrap().replace("\r\n", "\n");
    for line in [
        "Status pr. søndag 22. november 2026.",
        "✗ Handleplaner: Ikke opfyldt – Handleplan rettidig 83,3 % (mål 95 %, 5 af 6)\n    ✓ Handleplan foreligger 100,0 % (mål 95 %)",
        "✗ Opfølgning: Ikke opfyldt – Opfølgning rettidig 82,6 % (mål 95 %, 19 af 23)",
        "✗ Undersøgelser: Ikke opfyldt – Afsluttede undersøgelser inden for frist 71,4 % (mål 95 %, 5 af 7)",
        // The budget: forecast by commitments 14,053,260 kr. against the budget 13,789,900
        // kr. (budget_forecast's row), 101.9 %, over the target of at most 100 %.
        "✗ Budget: Ikke opfyldt – Prognose inden for budget 101,9 % (mål ≤ 100 %, 14.053.260 kr. af 13.789.900 kr.)",
        "https://intra.kommune.example/ugerapport/latest/report/U0005.html",
    ] {
        assert!(body.contains(line), "{line:?} not in\n{body}");
    }
    assert!(
        amager["html"]
            .as_str()
            .unwrap()
            .contains("href=\"https://intra.kommune.example/ugerapport/latest/report/U0005.html\"")
    );
    assert_eq!(strings_of(&bh["to"]), ["leder.bh@kommune.example", "sous.bh@kommune.example"]);
    assert!(bh["subject"].as_str().unwrap().starts_with("Ugerapport uge 47 2026 – Afdeling Brønshøj-Husum: "));

    // No case, measure, investigation, decision, child or caseworker reaches a mail, nor a CPR number.
    let caseworkers = Command::new(BIN)
        .args(["sql", "--exports"])
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample"))
        .args(["--format", "csv", "SELECT name FROM caseworkers"])
        .output()
        .unwrap();
    let names: Vec<String> = text(&caseworkers.stdout).lines().skip(1).map(String::from).collect();
    assert!(names.len() > 3, "{names:?}");
    for mail in &mails {
        let raw = mail["raw"].as_str().unwrap();
        let all = format!("{}\n{}\n{raw}", mail["text"], mail["html"]);
        for name in &names {
            assert!(!all.contains(name.as_str()), "caseworker {name} in a mail");
        }
        let ids: Vec<&str> = all
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| {
                w.len() == 7 && w.as_bytes()[0].is_ascii_uppercase() && w[1..].bytes().all(|b| b.is_ascii_digit())
            })
            .filter(|w| !w.starts_with('U'))
            .collect();
        assert!(ids.is_empty(), "case-level ids in a mail: {ids:?}");
        assert!(cpr_like(all.as_bytes()).is_empty(), "a CPR-like number in a mail");
    }

    // The published summary says what became of each recipient.
    let summary: serde_json::Value = serde_json::from_str(&read(&out.join("latest/summary.json"))).unwrap();
    let delivery = summary["delivery"].as_array().unwrap();
    let outcome: Vec<(String, String, u64)> = delivery
        .iter()
        .map(|d| {
            (d["unit"].as_str().unwrap().into(), d["status"].as_str().unwrap().into(), d["attempts"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(
        outcome,
        [
            ("U0005".into(), "sent".into(), 2),
            ("U0007".into(), "sent".into(), 1),
            ("U0008".into(), "skipped".into(), 0),
            ("U9999".into(), "skipped".into(), 0)
        ]
    );
    assert!(stderr.contains("mail not sent") && stderr.contains("leder.amager@kommune.example"), "{stderr}");
}

#[test]
fn a_mail_server_that_is_down_fails_the_mails_not_the_run() {
    let fx = Fixture::new();
    // A port nothing listens on: connections are refused at once, three times each.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let ca = fx.path("ca.pem");
    // Any certificate will do: no connection gets as far as TLS.
    let sink = Sink::start(fx.path("sink"), 0);
    std::fs::copy(sink.dir.join("ca.pem"), &ca).unwrap();
    drop(sink);
    let plan = delivery_file(&fx, port, &ca);
    let out = fx.path("out");
    let o = nightly_delivering(&out, &plan);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("mailed 0 of 4 recipients (2 failed, 2 not due)"), "{}", text(&o.stdout));
    assert!(out.join("latest/kpi.csv").is_file(), "the run is published");
    let summary: serde_json::Value = serde_json::from_str(&read(&out.join("latest/summary.json"))).unwrap();
    let failed: Vec<&serde_json::Value> =
        summary["delivery"].as_array().unwrap().iter().filter(|d| d["status"] == "failed").collect();
    assert_eq!(failed.len(), 2);
    assert!(
        failed.iter().all(|d| d["attempts"] == 3 && d["detail"].as_str().is_some_and(|s| !s.is_empty())),
        "{failed:?}"
    );
}

#[test]
fn a_faulty_delivery_file_stops_the_run_before_it_starts() {
    let fx = Fixture::new();
    let plan = fx.path("delivery.toml");
    std::fs::write(&plan, "[smtp]\nhost = \"x\"\nfrom = \"not an address\"\n[report]\nbase_url = \"https://x/\"\n")
        .unwrap();
    let out = fx.path("out");
    let o = nightly_delivering(&out, &plan);
    assert_eq!(code(&o), 64, "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("smtp.from \"not an address\" is not an e-mail address"), "{}", text(&o.stderr));
    assert!(!out.join("latest").exists());
}
