//! Mailing the weekly report (`cwkpi nightly --deliver FILE`, docs/operations.md): after a
//! run is published, each recipient of the delivery file gets a short mail with their
//! unit's tiles and a link to its page. It reads only what the run published (the report's
//! KPI table), so a mail says what the page says; a failed send is retried, logged and
//! reported in `summary.json`, and never fails the run.

pub mod mail;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{Datelike, NaiveDate, Weekday};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::error::{Error, Result};
use crate::report::data::KpiFigure;
use crate::report::{IsoWeek, file_stem};

/// The environment variables the SMTP login is read from (never from the file).
pub const USER_VARIABLE: &str = "CWKPI_SMTP_USER";
pub const PASSWORD_VARIABLE: &str = "CWKPI_SMTP_PASSWORD";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    smtp: SmtpFile,
    report: ReportFile,
    #[serde(default)]
    recipient: Vec<RecipientFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SmtpFile {
    host: String,
    #[serde(default = "default_port")]
    port: u16,
    from: String,
    /// An extra root certificate (PEM) to trust, e.g. the municipality's own CA.
    ca_file: Option<PathBuf>,
    #[serde(default = "default_attempts")]
    attempts: u32,
    #[serde(default = "default_retry_after")]
    retry_after_seconds: f64,
    #[serde(default = "default_timeout")]
    timeout_seconds: f64,
}

fn default_port() -> u16 {
    587
}
fn default_attempts() -> u32 {
    3
}
fn default_retry_after() -> f64 {
    30.0
}
fn default_timeout() -> f64 {
    30.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportFile {
    /// Where the published report is read: the unit's page is `<base_url><unit>.html`.
    base_url: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecipientFile {
    unit: String,
    to: Vec<String>,
    weekday: Option<String>,
}

/// A delivery file, checked: who gets which unit's mail, on which day, through which server.
#[derive(Debug, Clone)]
pub struct DeliveryPlan {
    source: PathBuf,
    host: String,
    port: u16,
    from: Mailbox,
    ca: Option<Certificate>,
    attempts: u32,
    retry_after: Duration,
    timeout: Duration,
    base_url: String,
    recipients: Vec<Recipient>,
}

#[derive(Debug, Clone)]
struct Recipient {
    unit: String,
    to: Vec<Mailbox>,
    weekday: Option<Weekday>,
}

/// What became of one recipient's mail, for the log and `summary.json`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Delivery {
    pub unit: String,
    pub to: Vec<String>,
    /// `sent`, `failed`, or `skipped` (not its weekday, or a unit the report lacks).
    pub status: &'static str,
    pub attempts: u32,
    pub detail: Option<String>,
}

impl DeliveryPlan {
    /// Reads and checks a delivery file; every fault names the file and the entry.
    pub fn load(path: &Path) -> Result<DeliveryPlan> {
        let fault = |what: String| Error::Usage(format!("delivery file {}: {what}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| Error::io_path("read", path, e))?;
        let file: PlanFile = toml::from_str(&text).map_err(|e| fault(e.message().to_string()))?;
        let mailbox = |what: &str, text: &str| -> Result<Mailbox> {
            text.parse::<Mailbox>().map_err(|e| fault(format!("{what} {text:?} is not an e-mail address: {e}")))
        };
        if file.smtp.host.trim().is_empty() {
            return Err(fault("smtp.host is empty".into()));
        }
        if file.smtp.attempts == 0 {
            return Err(fault("smtp.attempts must be at least 1".into()));
        }
        let seconds = |name: &str, s: f64| -> Result<Duration> {
            Duration::try_from_secs_f64(s).map_err(|_| fault(format!("smtp.{name} must be a number of seconds ≥ 0")))
        };
        let ca = match &file.smtp.ca_file {
            Some(ca) => {
                let ca = if ca.is_relative() { path.parent().unwrap_or(Path::new(".")).join(ca) } else { ca.clone() };
                let pem = std::fs::read(&ca).map_err(|e| Error::io_path("read", &ca, e))?;
                Some(
                    Certificate::from_pem(&pem)
                        .map_err(|e| fault(format!("smtp.ca_file {} is not a PEM certificate: {e}", ca.display())))?,
                )
            }
            None => None,
        };
        let base_url = file.report.base_url.trim().to_string();
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            return Err(fault(format!("report.base_url {base_url:?} must start with https:// or http://")));
        }
        let mut recipients = Vec::new();
        for (i, r) in file.recipient.iter().enumerate() {
            let n = i + 1;
            if r.to.is_empty() {
                return Err(fault(format!("recipient {n} ({}) has no address in `to`", r.unit)));
            }
            let to =
                r.to.iter().map(|t| mailbox(&format!("recipient {n} ({})", r.unit), t)).collect::<Result<Vec<_>>>()?;
            let weekday = match &r.weekday {
                Some(day) => Some(parse_weekday(day).ok_or_else(|| {
                    fault(format!("recipient {n} ({}): weekday {day:?} is not a weekday (monday or mandag …)", r.unit))
                })?),
                None => None,
            };
            recipients.push(Recipient { unit: r.unit.clone(), to, weekday });
        }
        Ok(DeliveryPlan {
            source: path.to_path_buf(),
            host: file.smtp.host,
            port: file.smtp.port,
            from: mailbox("smtp.from", &file.smtp.from)?,
            ca,
            attempts: file.smtp.attempts,
            retry_after: seconds("retry_after_seconds", file.smtp.retry_after_seconds)?,
            timeout: seconds("timeout_seconds", file.smtp.timeout_seconds)?,
            base_url: if base_url.ends_with('/') { base_url } else { format!("{base_url}/") },
            recipients,
        })
    }

    /// Mails each recipient due on the morning after `as_of` (a nightly run reports the day
    /// before it runs) the tiles of the report in `report_dir`; `unit_names` are the
    /// report's units. Blocks while sending: call it off the async workers.
    pub fn deliver(
        &self,
        report_dir: &Path,
        week: IsoWeek,
        as_of: NaiveDate,
        unit_names: &BTreeMap<String, String>,
    ) -> Vec<Delivery> {
        let sent_on = as_of.succ_opt().unwrap_or(as_of).weekday();
        let figures = match read_figures(&report_dir.join("tables").join("kpi.csv"), week.sunday()) {
            Ok(f) => f,
            Err(e) => {
                warn!(error = %e, "the report's KPI table cannot be read: no mail is sent");
                return self.recipients.iter().map(|r| r.outcome("failed", 0, Some(e.to_string()))).collect();
            }
        };
        // Who is due, each with their mail; the others are skipped with the reason.
        let mut outcomes: Vec<Option<Delivery>> = Vec::with_capacity(self.recipients.len());
        let mut due: Vec<(usize, Message)> = Vec::new();
        for (i, r) in self.recipients.iter().enumerate() {
            if let Some(day) = r.weekday.filter(|day| *day != sent_on) {
                outcomes.push(Some(r.outcome("skipped", 0, Some(format!("due on {day} only")))));
                continue;
            }
            let Some(name) = unit_names.get(&r.unit) else {
                warn!(unit = %r.unit, file = %self.source.display(), "no such unit in the report: no mail");
                outcomes.push(Some(r.outcome("skipped", 0, Some("no such unit in the report".into()))));
                continue;
            };
            let unit_figures: Vec<KpiFigure> = figures.iter().filter(|k| k.unit_id == r.unit).cloned().collect();
            let link = format!("{}{}.html", self.base_url, file_stem(&r.unit));
            match r.message(&self.from, &mail::compose(&r.unit, name, week, &unit_figures, &link)) {
                Ok(message) => {
                    outcomes.push(None);
                    due.push((i, message));
                }
                Err(e) => outcomes.push(Some(r.outcome("failed", 0, Some(e)))),
            }
        }
        match self.transport() {
            Ok(transport) => self.send_in_rounds(&transport, due, &mut outcomes),
            Err(e) => {
                for (i, _) in due {
                    outcomes[i] = Some(self.recipients[i].outcome("failed", 0, Some(e.clone())));
                }
            }
        }
        outcomes
            .into_iter()
            .zip(&self.recipients)
            .map(|(o, r)| o.unwrap_or_else(|| r.outcome("failed", 0, None)))
            .collect()
    }

    /// Sends the due mails in rounds: each round tries every mail still pending, then waits
    /// (doubling) before the next. What may pass later is retried (a 4xx answer, a server
    /// that cannot be reached); a permanent refusal (5xx) is not. A server that cannot be
    /// reached ends its round for everyone, so a dead server costs one connection attempt
    /// per round, not one per recipient.
    fn send_in_rounds(&self, transport: &SmtpTransport, due: Vec<(usize, Message)>, outcomes: &mut [Option<Delivery>]) {
        let mut pending = due;
        let mut wait = self.retry_after;
        for round in 1..=self.attempts {
            let mut next = Vec::new();
            let mut unreachable: Option<String> = None;
            for (i, message) in pending {
                let r = &self.recipients[i];
                let to = r.addresses().join(", ");
                if let Some(e) = &unreachable {
                    next.push((i, message));
                    outcomes[i] = Some(r.outcome("failed", round, Some(e.clone())));
                    continue;
                }
                match transport.send(&message) {
                    Ok(_) => {
                        info!(unit = %r.unit, to = %to, attempt = round, "weekly report mailed");
                        outcomes[i] = Some(r.outcome("sent", round, None));
                    }
                    Err(e) => {
                        warn!(unit = %r.unit, to = %to, attempt = round, error = %e, "mail not sent");
                        outcomes[i] = Some(r.outcome("failed", round, Some(e.to_string())));
                        if !e.is_permanent() {
                            if !e.is_transient() {
                                // No answer at all: the server is down or unreachable.
                                unreachable = Some(e.to_string());
                            }
                            next.push((i, message));
                        }
                    }
                }
            }
            pending = next;
            if pending.is_empty() || round == self.attempts {
                break;
            }
            std::thread::sleep(wait);
            wait *= 2;
        }
    }

    fn transport(&self) -> std::result::Result<SmtpTransport, String> {
        let mut tls = TlsParameters::builder(self.host.clone());
        if let Some(ca) = &self.ca {
            tls = tls.add_root_certificate(ca.clone());
        }
        let tls = tls.build_rustls().map_err(|e| format!("TLS set-up for {}: {e}", self.host))?;
        let mut builder = SmtpTransport::builder_dangerous(&self.host)
            .port(self.port)
            .tls(Tls::Required(tls))
            .timeout(Some(self.timeout));
        if let (Ok(user), Ok(password)) = (std::env::var(USER_VARIABLE), std::env::var(PASSWORD_VARIABLE)) {
            builder = builder.credentials(Credentials::new(user, password));
        }
        Ok(builder.build())
    }
}

impl Recipient {
    fn addresses(&self) -> Vec<String> {
        self.to.iter().map(|m| m.email.to_string()).collect()
    }

    fn outcome(&self, status: &'static str, attempts: u32, detail: Option<String>) -> Delivery {
        Delivery { unit: self.unit.clone(), to: self.addresses(), status, attempts, detail }
    }

    fn message(&self, from: &Mailbox, mail: &mail::Mail) -> std::result::Result<Message, String> {
        let mut builder = Message::builder().from(from.clone()).subject(&mail.subject);
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        builder
            .multipart(MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone()))
            .map_err(|e| format!("the mail cannot be built: {e}"))
    }
}

/// Monday … Sunday in English or Danish, any case.
fn parse_weekday(day: &str) -> Option<Weekday> {
    let days = [
        (Weekday::Mon, "monday", "mandag"),
        (Weekday::Tue, "tuesday", "tirsdag"),
        (Weekday::Wed, "wednesday", "onsdag"),
        (Weekday::Thu, "thursday", "torsdag"),
        (Weekday::Fri, "friday", "fredag"),
        (Weekday::Sat, "saturday", "lørdag"),
        (Weekday::Sun, "sunday", "søndag"),
    ];
    let day = day.trim().to_lowercase();
    days.iter().find(|(_, en, da)| day == *en || day == *da).map(|(w, ..)| *w)
}

/// The figures of `as_of` from the report's KPI table (`tables/kpi.csv`).
fn read_figures(path: &Path, as_of: NaiveDate) -> Result<Vec<KpiFigure>> {
    let bad = |what: String| Error::Internal(format!("{}: {what}", path.display()));
    let mut reader = csv::Reader::from_path(path).map_err(|e| bad(e.to_string()))?;
    let mut figures = Vec::new();
    for record in reader.deserialize::<FigureRow>() {
        let r = record.map_err(|e| bad(e.to_string()))?;
        if r.as_of == as_of {
            figures.push(KpiFigure {
                as_of: r.as_of,
                unit_id: r.unit_id,
                kpi_id: r.kpi_id,
                numerator: r.numerator,
                denominator: r.denominator,
                share: r.share,
                target: r.target,
                met: r.met,
                previous_share: r.previous_share,
                change_pp: r.change_pp,
            });
        }
    }
    Ok(figures)
}

#[derive(Deserialize)]
struct FigureRow {
    as_of: NaiveDate,
    unit_id: String,
    kpi_id: String,
    numerator: i64,
    denominator: i64,
    share: Option<f64>,
    target: f64,
    met: Option<bool>,
    previous_share: Option<f64>,
    change_pp: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str) -> Result<DeliveryPlan> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("delivery.toml");
        std::fs::write(&path, text).unwrap();
        DeliveryPlan::load(&path)
    }

    const GOOD: &str = r#"
[smtp]
host = "smtp.example.dk"
from = "Ugerapport <ugerapport@example.dk>"
[report]
base_url = "https://intra.example.dk/ugerapport/latest/report"
[[recipient]]
unit = "U0005"
to = ["leder@example.dk", "Souschef <sous@example.dk>"]
weekday = "Mandag"
"#;

    #[test]
    fn a_delivery_file_reads_with_its_defaults() {
        let p = plan(GOOD).unwrap();
        assert_eq!((p.port, p.attempts, p.retry_after), (587, 3, Duration::from_secs(30)));
        assert_eq!(p.base_url, "https://intra.example.dk/ugerapport/latest/report/");
        assert_eq!(p.recipients[0].weekday, Some(Weekday::Mon));
        assert_eq!(p.recipients[0].addresses(), ["leder@example.dk", "sous@example.dk"]);
    }

    #[test]
    fn faults_in_a_delivery_file_name_the_entry() {
        let err = |text: &str| plan(text).unwrap_err().to_string();
        assert!(
            err(&GOOD.replace("leder@example.dk", "leder"))
                .contains("recipient 1 (U0005) \"leder\" is not an e-mail address")
        );
        assert!(err(&GOOD.replace("Mandag", "Moonday")).contains("weekday \"Moonday\" is not a weekday"));
        assert!(err(&GOOD.replace("https://intra", "intra")).contains("report.base_url"));
        assert!(err(&GOOD.replace("[smtp]", "[smtp]\npassword = \"x\"")).contains("unknown field `password`"));
        assert_eq!(plan(&GOOD.replace("[smtp]", "[smtp]\nattempts = 0")).unwrap_err().exit_code(), 64);
    }

    #[test]
    fn weekdays_in_english_or_danish() {
        assert_eq!(parse_weekday("monday"), Some(Weekday::Mon));
        assert_eq!(parse_weekday(" Lørdag "), Some(Weekday::Sat));
        assert_eq!(parse_weekday("mon"), None);
    }
}
