//! The validation report (docs/export.md): rejected rows (from the row checks) and queries (the
//! `validation_queries` view), counted per table and rule and listed with locators, and
//! the rejected-share threshold that stops a run whose figures would not be trustworthy.
//!
//! Everything here comes from checked tables and locators, which hold ids and dates
//! only, so the report cannot carry personal data.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use serde::Serialize;

use crate::catalog::{Catalog, CheckedExport};
use crate::error::{Error, Result};
use crate::kpi::csv_field;

/// The share of a table's rows that may be rejected before a run fails.
pub const DEFAULT_MAX_REJECTED_SHARE: f64 = 0.05;

/// Listed rows shown per table and rule in the HTML page; the CSV holds them all.
const HTML_ROWS_PER_RULE: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Breaks the contract: left out of every figure.
    Rejected,
    /// Legal but suspicious: counted, and listed for a look.
    Query,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Rejected => "rejected",
            Level::Query => "query",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Level::Rejected => "Afvist (rejected)",
            Level::Query => "Forespørgsel (query)",
        }
    }
}

/// Rows read, kept and flagged for one table of the export.
#[derive(Debug, Clone, Serialize)]
pub struct TableCounts {
    pub table: &'static str,
    /// False for a further table the export does not have: its figures have zero
    /// denominators, which the report says rather than leave a reader guessing.
    pub present: bool,
    pub rows_read: usize,
    pub rows_kept: usize,
    pub rows_rejected: usize,
    /// rows_rejected / rows_read (0 for an empty table).
    pub rejected_share: f64,
    pub queries: usize,
}

/// How many rows one rule flagged in one table.
#[derive(Debug, Clone, Serialize)]
pub struct RuleCount {
    pub table: String,
    pub level: Level,
    pub rule: String,
    pub rows: usize,
}

/// One listed row: where to find it and why it is listed.
#[derive(Debug, Clone)]
pub struct Finding {
    pub level: Level,
    pub table: String,
    pub rule: String,
    pub column: String,
    /// Source file and 1-based row, for rejected rows (queries see checked rows only).
    pub file: Option<String>,
    pub row: Option<i64>,
    pub locator: String,
}

#[derive(Debug, Clone)]
pub struct ValidationReport {
    pub as_of: NaiveDate,
    pub max_rejected_share: f64,
    pub tables: Vec<TableCounts>,
    pub counts: Vec<RuleCount>,
    pub findings: Vec<Finding>,
}

impl ValidationReport {
    /// Builds the report for one as-of date of `catalog` (which must include it).
    pub async fn build(
        export: &CheckedExport,
        catalog: &Catalog,
        as_of: NaiveDate,
        max_rejected_share: f64,
    ) -> Result<ValidationReport> {
        ValidationReport::of_checks(export, as_of, max_rejected_share).with_queries(catalog).await
    }

    /// The report's part that comes from the checks alone: the rejected rows and each
    /// table's counts. It holds none of the export's rows, so a run can let the export go
    /// before the queries run (`FromChecks::with_queries`).
    pub fn of_checks(export: &CheckedExport, as_of: NaiveDate, max_rejected_share: f64) -> FromChecks {
        let findings: Vec<Finding> = export
            .rejections()
            .map(|r| Finding {
                level: Level::Rejected,
                table: r.table.to_string(),
                rule: r.rule.as_str().to_string(),
                column: r.column.clone(),
                file: Some(r.file.clone()),
                row: Some(r.row),
                locator: r.locator.clone(),
            })
            .collect();
        let tables = export
            .tables
            .iter()
            .map(|t| {
                let rows_rejected = t.rejected.len();
                TableCounts {
                    table: t.spec.name,
                    present: t.present,
                    rows_read: t.rows_read,
                    rows_kept: t.kept.num_rows(),
                    rows_rejected,
                    rejected_share: if t.rows_read == 0 { 0.0 } else { rows_rejected as f64 / t.rows_read as f64 },
                    queries: 0,
                }
            })
            .collect();
        FromChecks(ValidationReport { as_of, max_rejected_share, tables, counts: Vec::new(), findings })
    }

    pub fn rejected(&self) -> usize {
        self.tables.iter().map(|t| t.rows_rejected).sum()
    }

    pub fn queries(&self) -> usize {
        self.tables.iter().map(|t| t.queries).sum()
    }

    /// Tables whose rejected share passes the threshold, worst first.
    pub fn over_threshold(&self) -> Vec<&TableCounts> {
        let mut over: Vec<&TableCounts> =
            self.tables.iter().filter(|t| t.rejected_share > self.max_rejected_share).collect();
        over.sort_by(|a, b| b.rejected_share.total_cmp(&a.rejected_share));
        over
    }

    /// Fails with exit code 3 when any table has too many rejected rows. `listed_in` says
    /// where the operator finds the rejected rows.
    pub fn check_threshold(&self, listed_in: Option<&Path>) -> Result<()> {
        let over = self.over_threshold();
        if over.is_empty() {
            return Ok(());
        }
        let tables: Vec<String> = over
            .iter()
            .map(|t| {
                format!(
                    "table {}: {} of {} rows rejected ({})",
                    t.table,
                    t.rows_rejected,
                    t.rows_read,
                    percent(t.rejected_share)
                )
            })
            .collect();
        let hint = match listed_in {
            Some(path) => format!("; the rejected rows are listed in {}", path.display()),
            None => "; run `cwkpi validate --exports DIR --out DIR` to list them".to_string(),
        };
        Err(Error::RejectedThreshold(format!(
            "too many rejected rows: {}, more than the allowed {} (--max-rejected-share {}){hint}",
            tables.join("; "),
            percent(self.max_rejected_share),
            self.max_rejected_share
        )))
    }

    /// "12 rejected, 3 queries; worst table measures 1.2 % rejected".
    pub fn summary_line(&self) -> String {
        let worst = self.tables.iter().max_by(|a, b| a.rejected_share.total_cmp(&b.rejected_share));
        let worst = match worst {
            Some(t) if t.rows_rejected > 0 => format!("; most rejected: {} {}", t.table, percent(t.rejected_share)),
            _ => String::new(),
        };
        format!("{} rows rejected, {} queries{worst}", self.rejected(), self.queries())
    }

    /// Writes `validation.html`, `validation.csv` (the listed rows) and
    /// `validation_counts.csv` into `dir`, each via a temporary file and a rename.
    pub fn write(&self, dir: &Path) -> Result<()> {
        write_file(&dir.join("validation.csv"), self.csv().as_bytes())?;
        write_file(&dir.join("validation_counts.csv"), self.counts_csv().as_bytes())?;
        write_file(&dir.join("validation.html"), self.html().as_bytes())
    }

    /// One line per listed row.
    pub fn csv(&self) -> String {
        let mut out = String::from("as_of,level,table_name,rule,column_name,file,row,locator\n");
        for f in &self.findings {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{}",
                self.as_of,
                f.level.as_str(),
                csv_field(&f.table),
                csv_field(&f.rule),
                csv_field(&f.column),
                csv_field(f.file.as_deref().unwrap_or("")),
                f.row.map(|r| r.to_string()).unwrap_or_default(),
                csv_field(&f.locator)
            );
        }
        out
    }

    /// Counts in long form: rows read and kept per table, then each table × rule.
    pub fn counts_csv(&self) -> String {
        let mut out = String::from("as_of,table_name,level,rule,rows\n");
        for t in &self.tables {
            if !t.present {
                let _ = writeln!(out, "{},{},absent,,0", self.as_of, t.table);
                continue;
            }
            let _ = writeln!(out, "{},{},read,,{}", self.as_of, t.table, t.rows_read);
            let _ = writeln!(out, "{},{},kept,,{}", self.as_of, t.table, t.rows_kept);
            for c in self.counts.iter().filter(|c| c.table == t.table) {
                let _ =
                    writeln!(out, "{},{},{},{},{}", self.as_of, t.table, c.level.as_str(), csv_field(&c.rule), c.rows);
            }
        }
        out
    }

    /// A self-contained page (inline CSS, no scripts) that opens offline and prints.
    pub fn html(&self) -> String {
        let mut h = String::new();
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"da\">\n<head>\n<meta charset=\"utf-8\">\n\
             <title>Validering af udtræk {as_of}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
             <h1>Validering af udtræk <small>(export validation)</small></h1>\n\
             <p>Opgjort pr. (as of) <strong>{as_of}</strong>. Afviste rækker er udeladt af alle tal; \
             forespørgsler tælles med, men bør ses efter. Grænse for afviste rækker pr. tabel: {limit}.</p>\n\
             <p class=\"en\">Rejected rows are left out of every figure; queries still count but are worth a look. \
             A table with more than {limit} rejected rows stops the run.</p>\n",
            as_of = self.as_of,
            limit = percent(self.max_rejected_share),
        );

        h.push_str("<h2>Tabeller <small>(tables)</small></h2>\n<table>\n<thead><tr><th>Tabel</th><th class=\"n\">Læst (read)</th>\
                    <th class=\"n\">Beholdt (kept)</th><th class=\"n\">Afvist (rejected)</th><th class=\"n\">Andel afvist</th>\
                    <th class=\"n\">Forespørgsler (queries)</th></tr></thead>\n<tbody>\n");
        for t in &self.tables {
            if !t.present {
                let _ = writeln!(
                    h,
                    "<tr class=\"absent\"><td>{}</td><td colspan=\"5\">ikke i udtrækket – tallene, der bygger på tabellen, har nævner 0 \
                     <span class=\"en\">(absent from the export: the figures built on it have zero denominators)</span></td></tr>",
                    esc(t.table)
                );
                continue;
            }
            let class = if t.rejected_share > self.max_rejected_share { " class=\"over\"" } else { "" };
            let _ = writeln!(
                h,
                "<tr{class}><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(t.table),
                t.rows_read,
                t.rows_kept,
                t.rows_rejected,
                percent(t.rejected_share),
                t.queries
            );
        }
        h.push_str("</tbody>\n</table>\n");

        h.push_str("<h2>Antal pr. regel <small>(counts per table and rule)</small></h2>\n");
        if self.counts.is_empty() {
            h.push_str("<p>Ingen fund. <span class=\"en\">Nothing found.</span></p>\n");
        } else {
            h.push_str("<table>\n<thead><tr><th>Tabel</th><th>Niveau (level)</th><th>Regel (rule)</th><th class=\"n\">Rækker</th></tr></thead>\n<tbody>\n");
            for c in &self.counts {
                let _ = writeln!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td><a href=\"#{}\">{}</a></td><td class=\"n\">{}</td></tr>",
                    esc(&c.table),
                    c.level.label(),
                    anchor(c),
                    esc(&c.rule),
                    c.rows
                );
            }
            h.push_str("</tbody>\n</table>\n");
        }

        for c in &self.counts {
            let rows: Vec<&Finding> =
                self.findings.iter().filter(|f| f.table == c.table && f.level == c.level && f.rule == c.rule).collect();
            let _ = writeln!(
                h,
                "<h3 id=\"{}\">{}: {} <small>({}, {} rækker)</small></h3>",
                anchor(c),
                esc(&c.table),
                esc(&c.rule),
                c.level.as_str(),
                c.rows
            );
            h.push_str("<table class=\"list\">\n<thead><tr><th>Kolonne (column)</th><th>Fil (file)</th><th class=\"n\">Række (row)</th><th>Find i fagsystemet (locator)</th></tr></thead>\n<tbody>\n");
            for f in rows.iter().take(HTML_ROWS_PER_RULE) {
                let _ = writeln!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td><code>{}</code></td></tr>",
                    esc(&f.column),
                    esc(f.file.as_deref().unwrap_or("")),
                    f.row.map(|r| r.to_string()).unwrap_or_default(),
                    esc(&f.locator)
                );
            }
            h.push_str("</tbody>\n</table>\n");
            if rows.len() > HTML_ROWS_PER_RULE {
                let _ = writeln!(
                    h,
                    "<p class=\"more\">Viser {HTML_ROWS_PER_RULE} af {} rækker; alle står i validation.csv. \
                     <span class=\"en\">Showing {HTML_ROWS_PER_RULE} of {}; validation.csv lists them all.</span></p>",
                    rows.len(),
                    rows.len()
                );
            }
        }
        h.push_str("</body>\n</html>\n");
        h
    }
}

/// A validation report with the checks' part only (`ValidationReport::of_checks`): it
/// becomes a report once the queries' findings are added and every rule counted.
pub struct FromChecks(ValidationReport);

impl FromChecks {
    /// Adds the rows `validation_queries` lists at the report's date, then counts per rule.
    pub async fn with_queries(self, catalog: &Catalog) -> Result<ValidationReport> {
        let mut report = self.0;
        let sql = format!(
            "SELECT table_name, rule, column_name, locator FROM validation_queries \
             WHERE as_of = DATE '{}' ORDER BY table_name, rule, record_id, column_name, locator",
            report.as_of
        );
        for batch in catalog.query(&sql).await? {
            report.findings.extend(query_findings(&batch)?);
        }

        let mut per_rule: BTreeMap<(String, Level, String), usize> = BTreeMap::new();
        for f in &report.findings {
            *per_rule.entry((f.table.clone(), f.level, f.rule.clone())).or_default() += 1;
        }
        for t in &mut report.tables {
            t.queries = report.findings.iter().filter(|f| f.level == Level::Query && f.table == t.table).count();
        }
        // Tables in contract order, then level and rule: the order of every listing.
        let tables = &report.tables;
        let position = |table: &str| tables.iter().position(|t| t.table == table).unwrap_or(usize::MAX);
        let mut counts: Vec<RuleCount> =
            per_rule.into_iter().map(|((table, level, rule), rows)| RuleCount { table, level, rule, rows }).collect();
        counts.sort_by(|a, b| (position(&a.table), a.level, &a.rule).cmp(&(position(&b.table), b.level, &b.rule)));
        // Stable sort: rejected rows keep file/row order, queries keep the view's order.
        report
            .findings
            .sort_by(|a, b| (position(&a.table), a.level, &a.rule).cmp(&(position(&b.table), b.level, &b.rule)));
        report.counts = counts;
        Ok(report)
    }
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em;color:#1a1a1a;max-width:72em}\
h1 small,h2 small,h3 small{font-weight:normal;color:#666}\
table{border-collapse:collapse;margin:0.5em 0 1.5em}\
th,td{border-bottom:1px solid #ddd;padding:0.25em 0.75em;text-align:left;vertical-align:top}\
th{background:#f3f3f3}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\
tr.over td{background:#fde2e1;font-weight:bold}.en,.more{color:#555}\
code{font-size:0.9em}@media print{body{margin:0}a{color:inherit;text-decoration:none}tr{break-inside:avoid}}";

fn anchor(c: &RuleCount) -> String {
    let slug: String = c.rule.chars().map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '-' }).collect();
    format!("{}-{}-{}", c.table, c.level.as_str(), slug)
}

fn percent(share: f64) -> String {
    format!("{:.1} %", share * 100.0)
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

fn query_findings(batch: &RecordBatch) -> Result<Vec<Finding>> {
    let column = |i: usize| -> Result<_> {
        let a = cast(batch.column(i), &DataType::Utf8)
            .map_err(|e| Error::Internal(format!("validation_queries column {i}: {e}")))?;
        Ok(a)
    };
    let (table, rule, col, locator) = (column(0)?, column(1)?, column(2)?, column(3)?);
    let (table, rule, col, locator) =
        (table.as_string::<i32>(), rule.as_string::<i32>(), col.as_string::<i32>(), locator.as_string::<i32>());
    Ok((0..batch.num_rows())
        .map(|i| Finding {
            level: Level::Query,
            table: table.value(i).to_string(),
            rule: rule.value(i).to_string(),
            column: col.value(i).to_string(),
            file: None,
            row: None,
            locator: if locator.is_null(i) { String::new() } else { locator.value(i).to_string() },
        })
        .collect())
}

/// Writes a file whole or not at all: a temporary file beside it, then a rename.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        std::io::Write::write_all(&mut f, bytes)?;
        f.sync_all()
    });
    if let Err(e) = written.and_then(|_| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(format!("cannot write {}", path.display()), e));
    }
    Ok(())
}
