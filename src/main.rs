//! The `cwkpi` command line: parsing and dispatch only.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};

use cwkpi::catalog::all_views;
use cwkpi::cli_output::{Format, format_batches};
use cwkpi::kpi::{CSV_HEADER, rows_from_batches};
use cwkpi::rules::DEFAULT_RULES;
use cwkpi::{Catalog, CheckedExport, EngineOptions, Error, Result, Rules};

#[derive(Parser)]
#[command(name = "cwkpi", version, about = "Compliance metrics for child-welfare casework over case-system Parquet exports")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compute the KPI table (SPEC §4) as of a date, for every unit.
    Kpi {
        #[command(flatten)]
        common: Common,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
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
    /// Write a deterministic synthetic export (SPEC §2) for demos, tests and benchmarks.
    Gen {
        /// Size: 1 ≈ one large municipality (~10,000 cases, ~150 caseworkers); 0.03 is a small sample.
        #[arg(long, value_name = "S")]
        scale: f64,
        /// Random seed: the same scale, seed and date give byte-identical files.
        #[arg(long, value_name = "N")]
        seed: u64,
        /// The export folder to create or replace (written in full or not at all).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The export date: no event is dated after it.
        #[arg(long, value_name = "DATE", value_parser = parse_date, default_value = "2026-11-22")]
        as_of: NaiveDate,
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
    /// Memory limit for query execution, e.g. 2G or 512M; beyond it work spills to disk.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory_limit: Option<usize>,
}

fn parse_date(s: &str) -> std::result::Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| format!("\"{s}\" is not a date like 2026-11-22"))
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
    async fn catalog(&self) -> Result<Catalog> {
        let rules = Rules::load(self.rules.as_deref())?;
        let export = CheckedExport::load(&self.exports)?;
        let options = EngineOptions { memory_limit: self.memory_limit, spill_dir: None };
        Catalog::new(&export, rules, &[self.as_of.unwrap_or_else(today)], &options).await
    }
}

fn main() -> ExitCode {
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
        Command::Kpi { common, format } => {
            let catalog = common.catalog().await?;
            let batches = catalog.statement("kpi_table").await?;
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
        Command::Sql { common, file, format, statement } => {
            let sql = match (file, statement) {
                (Some(path), _) => read_sql(&path)?,
                (None, Some(s)) => s,
                (None, None) => return Err(Error::Usage("give a statement or -f FILE.sql".into())),
            };
            let catalog = common.catalog().await?;
            let results = catalog.query_script(&sql).await.map_err(|e| match e {
                Error::Query(q) => Error::Usage(format!("SQL error: {q}")),
                other => other,
            })?;
            for batches in results {
                print(&format_batches(&batches, format)?)?;
            }
            Ok(())
        }
        Command::Views => {
            let mut text = String::new();
            for v in all_views() {
                text.push_str(&format!("{:<28} {}\n", v.name, v.description));
            }
            print(&text)
        }
        Command::Rules => print(DEFAULT_RULES),
        Command::Import { from_csv, out } => {
            let summary = cwkpi::import::import_csv_export(&from_csv, &out)?;
            print(&format!("{summary}\n"))
        }
        Command::Gen { scale, seed, out, as_of } => {
            let started = std::time::Instant::now();
            let summary = cwkpi::r#gen::generate(&cwkpi::r#gen::GenOptions { scale, seed, as_of }, &out)?;
            let rows: Vec<String> = summary.rows.iter().map(|(table, n)| format!("{table} {n}")).collect();
            print(&format!("wrote {}: {} rows in {:.1} s\n", out.display(), rows.join(", "), started.elapsed().as_secs_f64()))
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
