//! The `cwkpi` command line: parsing and dispatch only.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};

use cwkpi::catalog::all_views;
use cwkpi::cli_output::{Format, format_batches};
use cwkpi::kpi::{CSV_HEADER, rows_from_batches};
use cwkpi::report::IsoWeek;
use cwkpi::rules::DEFAULT_RULES;
use cwkpi::{Catalog, CheckedExport, EngineOptions, Error, Result, Rules};

#[derive(Parser)]
#[command(
    name = "cwkpi",
    version,
    about = "Compliance metrics for child-welfare casework over case-system Parquet exports"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compute the KPI table (docs/kpis.md) as of a date, for every unit.
    Kpi {
        #[command(flatten)]
        common: Common,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Compute as of N dates a week apart, ending at --as-of, in one run: 13 gives
        /// the 12-week trend.
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=520))]
        weeks: u32,
        /// Only these KPIs (ids of docs/kpis.md, comma-separated; `core`: the five core
        /// ones). Further tables none of them reads are left unread.
        #[arg(long = "kpi", value_name = "ID", value_delimiter = ',')]
        kpis: Vec<String>,
    },
    /// Run read-only SQL against the views (no DDL or DML).
    Sql {
        #[command(flatten)]
        common: Common,
        /// Read the statement from this file.
        #[arg(short = 'f', long = "file", conflicts_with = "statement")]
        file: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// The statement, e.g. "SELECT * FROM kpi WHERE unit_id = 'A1'".
        statement: Option<String>,
        /// Compute the views as of N dates a week apart, ending at --as-of.
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=520))]
        weeks: u32,
    },
    /// An interactive SQL shell on the views: line editing, history, completion of table,
    /// view and column names, \\d, .as_of and timing. Piped input runs as a script (exit 1
    /// if a statement failed). Without --as-of: the export's manifest date, else yesterday.
    Shell {
        #[command(flatten)]
        common: Common,
    },
    /// Serve the views over PostgreSQL's wire protocol (psql, DBeaver, R, Python, Npgsql):
    /// database cwkpi, read-only, users and their units from --users, each
    /// session as of its own date (SET cwkpi.as_of = '2026-03-01'). Reloads the export when
    /// its files change or on SIGHUP. Prints where it listens on the first line of stdout.
    Serve {
        /// The export folder (or the nightly's `latest` link to follow).
        #[arg(long, value_name = "DIR")]
        exports: PathBuf,
        /// The address to listen on; port 0 lets the system choose.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:5433")]
        listen: String,
        /// The users file (TOML): name, SCRAM verifier (`cwkpi passwd`) and units of each.
        #[arg(long, value_name = "FILE")]
        users: PathBuf,
        /// TLS certificate chain (PEM); with it, only TLS connections are accepted.
        #[arg(long, value_name = "FILE", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// TLS private key (PEM).
        #[arg(long, value_name = "FILE", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Sessions start as of this date. Default: the export's manifest date, else yesterday.
        #[arg(long, value_name = "DATE", value_parser = parse_date)]
        as_of: Option<NaiveDate>,
        /// A rules file (TOML); default: the built-in rules (`cwkpi rules`).
        #[arg(long, value_name = "FILE")]
        rules: Option<PathBuf>,
        /// Memory for the queries of every connection together, e.g. 4G or 512M.
        #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "4G")]
        memory_limit: usize,
        /// What one query may take of --memory-limit; beyond it, sorts and aggregations
        /// spill to disk and what cannot spill fails. Default: a quarter of --memory-limit.
        #[arg(long, value_name = "SIZE", value_parser = parse_size)]
        query_memory: Option<usize>,
        /// A statement running longer is cancelled (clients may set a shorter one); the
        /// time covers planning, computing and sending its rows.
        #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
        statement_timeout: u64,
        /// Logged-in connections beyond this many are refused ("too many clients").
        #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10000))]
        max_connections: u64,
        /// Logged-in connections of one user beyond this many are refused.
        #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=10000))]
        max_connections_per_user: u64,
        /// A logged-in connection without a statement for this long is closed.
        #[arg(long, value_name = "SECONDS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
        idle_timeout: u64,
        /// The key of the made-up salts shown for unknown users (32 bytes), made at the
        /// first start if missing. Default: the users file's name with `.secret` added.
        #[arg(long, value_name = "FILE")]
        login_secret: Option<PathBuf>,
        /// How often to look at the export folder for changes.
        #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
        poll: u64,
        /// Log lines on stderr as text or JSON.
        #[arg(long, value_enum, default_value = "text")]
        log_format: cwkpi::nightly::LogFormat,
    },
    /// Print the SCRAM-SHA-256 verifier of the password on the first line of stdin, for the
    /// users file of `cwkpi serve` (PostgreSQL's format; the password itself is not kept).
    Passwd,
    /// Validate an export (docs/export.md): rejected rows and queries, counted and listed.
    /// Without --as-of: the export's manifest date, else yesterday. Exits 3 when a
    /// table's rejected rows pass --max-rejected-share.
    Validate {
        #[command(flatten)]
        common: Common,
        /// Write validation.html, validation.csv and validation_counts.csv into this folder.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// The largest share of a table's rows that may be rejected (0.05 = 5 %).
        #[arg(long, value_name = "F", default_value_t = cwkpi::validate::DEFAULT_MAX_REJECTED_SHARE)]
        max_rejected_share: f64,
    },
    /// The nightly batch job: validate, compute the KPIs, publish atomically into OUT,
    /// keep the history (see docs/operations.md for exit codes and layout).
    Nightly {
        /// The export folder (one Parquet file or folder per table).
        #[arg(long, value_name = "DIR")]
        exports: PathBuf,
        /// The output folder: runs/, latest, history/ (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Compute as of this date. Default: export_date of the export's manifest.json,
        /// else yesterday (Copenhagen).
        #[arg(long, value_name = "DATE", value_parser = parse_date)]
        as_of: Option<NaiveDate>,
        /// A rules file (TOML); default: the built-in rules (`cwkpi rules`).
        #[arg(long, value_name = "FILE")]
        rules: Option<PathBuf>,
        /// The largest share of a table's rows that may be rejected (0.05 = 5 %); beyond it
        /// the run fails with exit code 3 and publishes nothing.
        #[arg(long, value_name = "F", default_value_t = cwkpi::validate::DEFAULT_MAX_REJECTED_SHARE)]
        max_rejected_share: f64,
        /// Log lines on stderr as text or JSON.
        #[arg(long, value_enum, default_value = "text")]
        log_format: cwkpi::nightly::LogFormat,
        /// The memory the whole run may use, e.g. 2G (default: the cgroup's memory.max): an
        /// export that cannot fit stops with exit 2; query work beyond the rest spills to disk.
        #[arg(long, value_name = "SIZE", value_parser = parse_size)]
        memory_limit: Option<usize>,
        /// After publishing, mail each recipient of this delivery file (TOML; see
        /// docs/operations.md) their unit's goals and a link to its page. SMTP login from
        /// CWKPI_SMTP_USER and CWKPI_SMTP_PASSWORD. A failed mail never fails the run.
        #[arg(long, value_name = "FILE")]
        deliver: Option<PathBuf>,
    },
    /// Write the weekly report (docs/report.md) for every unit: an HTML page and an Excel workbook
    /// per unit, index.html, and the report tables as CSV and Parquet under tables/.
    Report {
        /// The export folder (one Parquet file or folder per table).
        #[arg(long, value_name = "DIR")]
        exports: PathBuf,
        /// The ISO week, e.g. 2026-W47; the report is as of its Sunday.
        /// Default: the last complete week before today (Europe/Copenhagen).
        #[arg(long, value_name = "WEEK", value_parser = parse_week)]
        week: Option<IsoWeek>,
        /// The report folder to create or replace (written in full or not at all).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// A rules file (TOML); default: the built-in rules (`cwkpi rules`).
        #[arg(long, value_name = "FILE")]
        rules: Option<PathBuf>,
        /// The memory the whole run may use, e.g. 2G (default: the cgroup's memory.max): an
        /// export that cannot fit stops with exit 2; query work beyond the rest spills to disk.
        #[arg(long, value_name = "SIZE", value_parser = parse_size)]
        memory_limit: Option<usize>,
    },
    /// Draft delay letters (retssikkerhedsloven §3 stk. 2): one per open application past
    /// its case-processing deadline whose applicant has not been told, plus index.html.
    Letters {
        /// The export folder (one Parquet file or folder per table).
        #[arg(long, value_name = "DIR", required_unless_present = "print_template")]
        exports: Option<PathBuf>,
        /// The date of the letters. Default: the export's manifest date, else yesterday.
        #[arg(long, value_name = "DATE", value_parser = parse_date)]
        as_of: Option<NaiveDate>,
        /// The folder of letters to create or replace (written in full or not at all).
        #[arg(long, value_name = "DIR", required_unless_present = "print_template")]
        out: Option<PathBuf>,
        /// A letter template (minijinja HTML) instead of the built-in one.
        #[arg(long, value_name = "FILE")]
        template: Option<PathBuf>,
        /// A rules file (TOML); default: the built-in rules (`cwkpi rules`).
        #[arg(long, value_name = "FILE")]
        rules: Option<PathBuf>,
        /// Print the built-in template, to copy and edit, and exit.
        #[arg(long)]
        print_template: bool,
    },
    /// List the views analysts can query, with what each holds.
    Views,
    /// Print the built-in rules file, to copy and edit.
    Rules,
    /// Convert a CSV export (one <table>.csv per table) into a Parquet export folder.
    Import {
        /// The folder of CSV files (UTF-8 or Windows-1252; `;`, `,` or tab separated).
        #[arg(long, value_name = "DIR")]
        from_csv: PathBuf,
        /// The Parquet export folder to create (written in full or not at all).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Write a deterministic synthetic export (docs/export.md) for demos, tests and benchmarks.
    /// The same options give byte-identical files; the same scale, seed and date give the
    /// same rows in every --order.
    Gen {
        /// Size: 1 ≈ one large municipality (~10,000 cases, ~150 caseworkers); 0.03 is a small sample.
        #[arg(long, value_name = "S")]
        scale: f64,
        /// Random seed.
        #[arg(long, value_name = "N")]
        seed: u64,
        /// The export folder to create or replace (written in full or not at all).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The export date: no event is dated after it (but see --future-share).
        #[arg(long, value_name = "DATE", value_parser = parse_date, default_value = "2026-11-22")]
        as_of: NaiveDate,
        /// How rows lie in files. by-year: each large table a folder of one file per year of
        /// its main date (cases/2019.parquet), ids ascending within a file only; random: rows
        /// in a seeded random order, large tables split over four files; sorted: one file
        /// per table in id order, parents before children (the layout of earlier versions).
        #[arg(long, value_enum, default_value = "by-year")]
        order: cwkpi::r#gen::Order,
        /// How ids read. numeric: C000123; prefixed: two source systems mixed (C000123 and
        /// NY-C124); uuid: UUID-shaped strings drawn from the seed.
        #[arg(long, value_enum, default_value = "numeric")]
        ids: cwkpi::r#gen::IdStyle,
        /// About this share (0 … 0.5) of measures, follow-ups and postings is dated after the
        /// export date: measures registered ahead, planned follow-ups, payments booked ahead.
        #[arg(long, value_name = "F", default_value_t = 0.0)]
        future_share: f64,
        /// One department holds a third of all cases.
        #[arg(long)]
        skew: bool,
    },
}

#[derive(Args)]
struct Common {
    /// The export folder (one Parquet file or folder per table).
    #[arg(long, value_name = "DIR")]
    exports: PathBuf,
    /// Compute as of this date (YYYY-MM-DD, inclusive). Default: today.
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    as_of: Option<NaiveDate>,
    /// A rules file (TOML); default: the built-in rules (`cwkpi rules`).
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// The memory the whole run may use, e.g. 2G (default: the cgroup's memory.max): an
    /// export that cannot fit stops with exit 2; query work beyond the rest spills to disk.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory_limit: Option<usize>,
    /// Folder for spill files under --memory-limit. Default: the system temp folder.
    #[arg(long, value_name = "DIR")]
    spill_dir: Option<PathBuf>,
    /// The nightly's output folder (or its history/ folder): adds the table kpi_history,
    /// the KPIs as each run reported them, to compare with kpi as recomputed now.
    #[arg(long, value_name = "DIR")]
    history: Option<PathBuf>,
}

fn parse_date(s: &str) -> std::result::Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| format!("\"{s}\" is not a date like 2026-11-22"))
}

fn parse_week(s: &str) -> std::result::Result<IsoWeek, String> {
    s.parse::<IsoWeek>().map_err(|e| e.to_string())
}

fn parse_size(s: &str) -> std::result::Result<usize, String> {
    let s = s.trim();
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: usize = digits.parse().map_err(|_| format!("\"{s}\" is not a size like 2G or 512M"))?;
    let factor = match unit.to_ascii_uppercase().trim_end_matches('B') {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => return Err(format!("\"{s}\" has an unknown unit (use K, M or G)")),
    };
    Ok(n * factor)
}

fn today() -> NaiveDate {
    chrono::Utc::now().with_timezone(&chrono_tz::Europe::Copenhagen).date_naive()
}

impl Common {
    /// The export read within the memory budget, and the engine's settings for the rest.
    fn load(&self, skip: &[&str], rules: &Rules) -> Result<(CheckedExport, EngineOptions)> {
        let loaded =
            cwkpi::memory_budget::load_export(&self.exports, skip, rules.open_end_sentinel, self.memory_limit)?;
        let options = EngineOptions {
            memory_limit: loaded.query_memory,
            spill_dir: self.spill_dir.clone(),
            ..Default::default()
        };
        Ok((loaded.export, options))
    }

    /// The export and a catalog as of --as-of, else the export's manifest date, else
    /// yesterday; with that date.
    async fn catalog_at_export_date(&self) -> Result<(CheckedExport, Catalog, NaiveDate)> {
        let (as_of, _) = cwkpi::nightly::as_of_or_default(self.as_of, &self.exports)?;
        let rules = Rules::load(self.rules.as_deref())?;
        let (export, options) = self.load(&[], &rules)?;
        let catalog = Catalog::new(&export, rules, &[as_of], &options).await?;
        Ok((export, catalog, as_of))
    }

    /// A catalog as of `weeks` dates, 7 days apart, the last one --as-of, without the
    /// tables in `skip` (see `CheckedExport::load_except`).
    async fn catalog_weeks(&self, weeks: u32, skip: &[&str]) -> Result<Catalog> {
        let rules = Rules::load(self.rules.as_deref())?;
        let (export, options) = self.load(skip, &rules)?;
        let last = self.as_of.unwrap_or_else(today);
        let dates = cwkpi::catalog::weekly_dates(last, weeks);
        let catalog = Catalog::new(&export, rules, &dates, &options).await?;
        // The catalog holds the tables, ids as keys where the export holds text.
        cwkpi::freed_memory::drop_and_give_back(export);
        if let Some(dir) = &self.history {
            cwkpi::history::register(&catalog, dir)?;
        }
        Ok(catalog)
    }
}

// mimalloc reuses freed memory per thread where glibc's arenas gave it back and faulted it
// in again: the engine's many short-lived buffers spent more time in the kernel than in
// the queries (benches/README.md, "Allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// No transparent huge pages for this process: mimalloc asks for them, and the kernel then
/// zeroes 2 MiB at every first touch of memory freed and reused, which cost more system
/// time than the pages saved (benches/README.md, "Allocator").
fn without_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE only sets a flag of this process; no memory is touched.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// A write past a file size limit (`ulimit -f`) fails with "File too large" (exit 74,
/// with the path) instead of the signal that would end the run without a word.
fn file_size_limit_as_error() {
    #[cfg(unix)]
    // SAFETY: sets the disposition of one signal to "ignore"; no handler runs.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

fn main() -> ExitCode {
    without_huge_pages();
    file_size_limit_as_error();
    cwkpi::contained::quiet_contained_panics();
    // Argument errors exit 64 (usage), as documented; help and version exit 0.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 64 } else { 0 });
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cwkpi: cannot start: {e}");
            return ExitCode::from(70);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cwkpi: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Kpi { common, format, weeks, kpis } => {
            let kpis = cwkpi::kpi::select(&kpis)?;
            let unread = cwkpi::kpi::tables_no_kpi_reads(&common.exports, &kpis)?;
            let catalog = common.catalog_weeks(weeks, &unread).await?;
            // The KPIs read the postings only through their sums per month (the budget
            // forecast): once those are kept, the postings' rows go.
            if !unread.contains(&"postings") {
                catalog.release("postings").await?;
            }
            let batches = catalog.kpi_table_of(&kpis).await?;
            let text = match format {
                Format::Csv => {
                    let mut text = format!("{CSV_HEADER}\n");
                    for row in rows_from_batches(&batches)? {
                        text.push_str(&row.csv_line());
                        text.push('\n');
                    }
                    text
                }
                other => format_batches(&batches, other)?,
            };
            print(&text)
        }
        Command::Sql { common, file, format, statement, weeks } => {
            let sql = match (file, statement) {
                (Some(path), _) => read_sql(&path)?,
                (None, Some(s)) => s,
                (None, None) => return Err(Error::Usage("give a statement or -f FILE.sql".into())),
            };
            // Only the further tables the script reads, through the views it names, are
            // loaded: most statements never reach the postings, the largest table.
            let unread = cwkpi::queries::further_tables_unread(&sql);
            let catalog = common.catalog_weeks(weeks, &unread).await?;
            let results = catalog.query_script(&sql).await.map_err(|e| match e {
                Error::Query(q) => Error::Usage(format!("SQL error: {q}")),
                other => other,
            })?;
            for batches in results {
                print(&format_batches(&batches, format)?)?;
            }
            Ok(())
        }
        Command::Shell { common } => {
            let (_, catalog, _) = common.catalog_at_export_date().await?;
            if cwkpi::shell::run(catalog).await? { Ok(()) } else { Err(Error::Usage("a statement failed".into())) }
        }
        Command::Validate { common, out, max_rejected_share } => {
            if !(0.0..=1.0).contains(&max_rejected_share) {
                return Err(Error::Usage(format!(
                    "--max-rejected-share {max_rejected_share} must be a fraction between 0 and 1 (0.05, not 5)"
                )));
            }
            let (export, catalog, as_of) = common.catalog_at_export_date().await?;
            let report = cwkpi::validate::ValidationReport::build(&export, &catalog, as_of, max_rejected_share).await?;
            if let Some(dir) = &out {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
                report.write(dir)?;
            }
            let mut text = String::new();
            for t in report.tables.iter().filter(|t| !t.present) {
                text.push_str(&format!(
                    "{:<16} absent from the export (its figures have zero denominators)\n",
                    t.table
                ));
            }
            for t in report.tables.iter().filter(|t| t.present) {
                text.push_str(&format!(
                    "{:<16} read {:>9}  kept {:>9}  rejected {:>7} ({:>5.1} %)  queries {:>7}\n",
                    t.table,
                    t.rows_read,
                    t.rows_kept,
                    t.rows_rejected,
                    t.rejected_share * 100.0,
                    t.queries
                ));
            }
            for c in &report.counts {
                text.push_str(&format!("{:<16} {:<8} {:>7}  {}\n", c.table, c.level.as_str(), c.rows, c.rule));
            }
            text.push_str(&format!("as of {as_of}: {}\n", report.summary_line()));
            print(&text)?;
            report.check_threshold(out.as_ref().map(|d| d.join("validation.csv")).as_deref())
        }
        Command::Nightly { exports, out, as_of, rules, max_rejected_share, log_format, memory_limit, deliver } => {
            cwkpi::nightly::init_logging(log_format);
            // A delivery file with a fault stops the run before it starts, not after.
            let deliver = deliver.as_deref().map(cwkpi::delivery::DeliveryPlan::load).transpose()?;
            let options = cwkpi::nightly::NightlyOptions {
                deliver,
                exports,
                out,
                as_of,
                rules,
                max_rejected_share,
                memory_limit,
                progress: log_format == cwkpi::nightly::LogFormat::Text,
            };
            let outcome = cwkpi::nightly::run(&options).await?;
            print(&format!("{}\n", outcome.summary_line()))
        }
        Command::Report { exports, week, out, rules, memory_limit } => {
            let started = std::time::Instant::now();
            let week = week.unwrap_or_else(|| IsoWeek::last_complete_before(today()));
            let staging = cwkpi::report::publish::Staging::prepare(&out)?;
            let rules = Rules::load(rules.as_deref())?;
            let loaded = cwkpi::memory_budget::load_export(&exports, &[], rules.open_end_sentinel, memory_limit)?;
            let export = loaded.export;
            let options = EngineOptions {
                memory_limit: loaded.query_memory,
                cached_views: cwkpi::report::cached_views(),
                ..Default::default()
            };
            let mut catalog =
                Catalog::new(&export, rules, &week.sundays_back(cwkpi::report::TREND_WEEKS), &options).await?;
            // The catalog holds the tables now (ids as keys, smaller than the export's text);
            // the export's copy goes, and so can a table the report releases.
            cwkpi::freed_memory::drop_and_give_back(export);
            let figures = cwkpi::report::compute_report(&mut catalog, week, &[]).await?;
            // The pages are written without the export in memory.
            cwkpi::freed_memory::drop_and_give_back(catalog);
            let summary = cwkpi::report::write_report(figures, staging.path())?;
            staging.commit()?;
            print(&format!(
                "wrote {}: weekly report {week} as of {}, {} units, {} files in {:.1} s\n",
                out.display(),
                week.sunday(),
                summary.units,
                summary.files,
                started.elapsed().as_secs_f64()
            ))
        }
        Command::Views => {
            let mut text = String::new();
            for v in all_views().into_iter().chain(cwkpi::catalog::other_date_views()) {
                text.push_str(&format!("{:<28} {}\n", v.name, v.description));
            }
            print(&text)
        }
        Command::Letters { print_template: true, .. } => print(cwkpi::letters::DEFAULT_TEMPLATE),
        Command::Letters { exports, as_of, out, template, rules, print_template: false } => {
            let (Some(exports), Some(out)) = (exports, out) else {
                return Err(Error::Usage("give --exports DIR and --out DIR".into()));
            };
            let template_text = match &template {
                Some(path) => std::fs::read_to_string(path)
                    .map_err(|e| Error::Usage(format!("cannot read letter template {}: {e}", path.display())))?,
                None => cwkpi::letters::DEFAULT_TEMPLATE.to_string(),
            };
            let template_name = template.as_ref().map_or_else(|| "built-in".to_string(), |p| p.display().to_string());
            let (as_of, _) = cwkpi::nightly::as_of_or_default(as_of, &exports)?;
            let rules = Rules::load(rules.as_deref())?;
            let export = CheckedExport::load_with(&exports, &[], rules.open_end_sentinel)?;
            let catalog = Catalog::new(&export, rules, &[as_of], &EngineOptions::default()).await?;
            let drafts = cwkpi::letters::drafts(&catalog).await?;
            let template = cwkpi::letters::Template { source: &template_text, name: &template_name };
            let summary = cwkpi::letters::write_letters(&drafts, &template, &out)?;
            print(&format!("wrote {}: {} draft delay letters as of {as_of}\n", out.display(), summary.letters))
        }
        Command::Serve {
            exports,
            listen,
            users,
            tls_cert,
            tls_key,
            as_of,
            rules,
            memory_limit,
            query_memory,
            statement_timeout,
            max_connections,
            max_connections_per_user,
            idle_timeout,
            login_secret,
            poll,
            log_format,
        } => {
            cwkpi::nightly::init_logging(log_format);
            let query_memory = query_memory.unwrap_or(memory_limit / 4).min(memory_limit);
            let login_secret = login_secret.unwrap_or_else(|| {
                let mut name = users.clone().into_os_string();
                name.push(".secret");
                PathBuf::from(name)
            });
            let options = cwkpi::serve::ServeOptions {
                source: cwkpi::serve::data::Source { exports, rules, as_of },
                listen,
                users,
                login_secret,
                tls: tls_cert.zip(tls_key),
                limits: cwkpi::serve::session::Limits {
                    statement_timeout: std::time::Duration::from_secs(statement_timeout),
                    memory_limit,
                    query_memory,
                },
                max_connections: max_connections as usize,
                max_connections_per_user: max_connections_per_user as usize,
                idle_timeout: std::time::Duration::from_secs(idle_timeout),
                poll: std::time::Duration::from_secs(poll),
            };
            cwkpi::serve::run(options).await
        }
        Command::Passwd => {
            let mut input = String::new();
            std::io::stdin().read_line(&mut input).map_err(|e| Error::io("cannot read the password from stdin", e))?;
            print(&format!("{}\n", cwkpi::serve::users::verifier_for_input(&input)?))
        }
        Command::Rules => print(DEFAULT_RULES),
        Command::Import { from_csv, out } => {
            let summary = cwkpi::import::import_csv_export(&from_csv, &out)?;
            print(&format!("{summary}\n"))
        }
        Command::Gen { scale, seed, out, as_of, order, ids, future_share, skew } => {
            let started = std::time::Instant::now();
            let options = cwkpi::r#gen::GenOptions { scale, seed, as_of, order, ids, future_share, skew };
            let summary = cwkpi::r#gen::generate(&options, &out)?;
            let rows: Vec<String> = summary.rows.iter().map(|(table, n)| format!("{table} {n}")).collect();
            print(&format!(
                "wrote {}: {} rows in {:.1} s\n",
                out.display(),
                rows.join(", "),
                started.elapsed().as_secs_f64()
            ))
        }
    }
}

fn read_sql(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::Usage(format!("cannot read {}: {e}", path.display())))
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::io("cannot write output", e)),
        _ => Ok(()),
    }
}
