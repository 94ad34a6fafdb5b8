//! `cwkpi shell`: an interactive SQL shell on the catalog, in the spirit of
//! `datafusion-cli` and `psql`. Statements end with `;` and may span lines; commands
//! start with `\` or `.`. Line editing, history and completion of table, view and column
//! names come from rustyline when the input is a terminal; piped input is read as a script.
//!
//! Like every other command it reads only: the catalog refuses DDL, DML and SET.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use chrono::NaiveDate;
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

use crate::catalog::{Catalog, all_views, other_date_views};
use crate::cli_output::{Format, format_batches};
use crate::error::{Error, Result};

const HELP: &str = "\
Statements end with ; and may span lines. Commands:
  \\d              the tables and views, with what each view holds
  \\d NAME         the columns of a table or view
  .as_of DATE [N]  compute as of DATE (YYYY-MM-DD); with N, as of N dates a week apart ending there
  \\timing         turn the time and row count after each statement on or off
  \\?              this help
  \\q              quit (also Ctrl-D)
";

/// What one piece of input did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Text to show.
    Output(String),
    Quit,
}

/// The shell's state: the catalog, and whether statements are timed.
pub struct Shell {
    catalog: Catalog,
    timing: bool,
}

impl Shell {
    pub fn new(catalog: Catalog) -> Shell {
        Shell { catalog, timing: true }
    }

    /// Runs one command or one complete statement (ending in `;`).
    pub async fn run(&mut self, input: &str) -> Result<Outcome> {
        let input = input.trim();
        let (command, argument) = input.split_once(char::is_whitespace).map_or((input, ""), |(c, a)| (c, a.trim()));
        match command {
            "" => Ok(Outcome::Output(String::new())),
            "\\q" | "\\quit" | ".quit" | ".exit" | "quit" | "exit" => Ok(Outcome::Quit),
            "\\?" | "\\h" | ".help" | "help" => Ok(Outcome::Output(HELP.into())),
            "\\timing" | ".timing" => {
                self.timing = !self.timing;
                Ok(Outcome::Output(format!("Timing is {}.\n", if self.timing { "on" } else { "off" })))
            }
            "\\d" | ".tables" | ".schema" if argument.is_empty() => self.list().await.map(Outcome::Output),
            "\\d" | ".schema" => self.describe(argument.trim_end_matches(';')).await.map(Outcome::Output),
            ".as_of" | "\\as_of" => self.set_as_of(argument.trim_end_matches(';')).await.map(Outcome::Output),
            c if c.starts_with('\\') || (c.starts_with('.') && !c.starts_with("..")) => {
                Err(Error::Usage(format!("unknown command {c}; \\? lists the commands")))
            }
            _ => self.sql(input).await.map(Outcome::Output),
        }
    }

    async fn sql(&self, sql: &str) -> Result<String> {
        let started = Instant::now();
        let mut out = String::new();
        for batches in self.catalog.query_script(sql).await? {
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            out.push_str(&format_batches(&batches, Format::Table)?);
            if self.timing {
                out.push_str(&format!(
                    "{rows} row{} in {:.3} s.\n",
                    if rows == 1 { "" } else { "s" },
                    started.elapsed().as_secs_f64()
                ));
            }
        }
        Ok(out)
    }

    /// Tables and views in the catalog, views with their one-line description.
    async fn list(&self) -> Result<String> {
        let views: Vec<_> = all_views().into_iter().chain(other_date_views()).collect();
        let mut out = String::new();
        for name in self.names() {
            match views.iter().find(|v| v.name == name) {
                Some(v) => out.push_str(&format!("{name:<32} view   {}\n", v.description)),
                None => out.push_str(&format!("{name:<32} table\n")),
            }
        }
        Ok(out)
    }

    /// The columns of one table or view.
    async fn describe(&self, name: &str) -> Result<String> {
        let table =
            self.catalog.ctx.table(name).await.map_err(|_| Error::Usage(format!("no table or view named {name}")))?;
        let mut out = String::new();
        if let Some(v) = all_views().into_iter().chain(other_date_views()).find(|v| v.name == name) {
            out.push_str(&format!("View {name}: {}\n", v.description));
        } else {
            out.push_str(&format!("Table {name}\n"));
        }
        for field in table.schema().fields() {
            out.push_str(&format!(
                "  {:<32} {}{}\n",
                field.name(),
                field.data_type(),
                if field.is_nullable() { "" } else { " not null" }
            ));
        }
        Ok(out)
    }

    async fn set_as_of(&mut self, argument: &str) -> Result<String> {
        let mut parts = argument.split_whitespace();
        let date = parts
            .next()
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .ok_or_else(|| Error::Usage(format!("give a date: .as_of 2026-03-01 (got {argument:?})")))?;
        let weeks: u32 = match parts.next() {
            Some(n) => n
                .parse()
                .ok()
                .filter(|n| (1..=520).contains(n))
                .ok_or_else(|| Error::Usage(format!("weeks must be 1 to 520, not {n}")))?,
            None => 1,
        };
        let dates = crate::catalog::weekly_dates(date, weeks);
        self.catalog.set_as_of(&dates).await?;
        Ok(if weeks == 1 {
            format!("As of {date}.\n")
        } else {
            format!("As of {} dates, {} … {date}.\n", weeks, dates[0])
        })
    }

    /// Every table and view name, sorted.
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .catalog
            .ctx
            .catalog_names()
            .into_iter()
            .filter_map(|c| self.catalog.ctx.catalog(&c))
            .flat_map(|c| c.schema_names().into_iter().filter_map(move |s| c.schema(&s)))
            .flat_map(|s| s.table_names())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// What completion offers: table and view names, their columns, and SQL keywords.
    pub async fn words(&self) -> Vec<String> {
        let mut words = self.names();
        for name in self.names() {
            if let Ok(table) = self.catalog.ctx.table(name.as_str()).await {
                words.extend(table.schema().fields().iter().map(|f| f.name().clone()));
            }
        }
        words.extend(KEYWORDS.iter().map(|k| k.to_string()));
        words.sort();
        words.dedup();
        words
    }
}

const KEYWORDS: &[&str] = &[
    "SELECT", "FROM", "WHERE", "GROUP", "BY", "ORDER", "HAVING", "LIMIT", "JOIN", "LEFT", "INNER", "ON", "AS", "AND",
    "OR", "NOT", "IN", "IS", "NULL", "DISTINCT", "COUNT", "SUM", "AVG", "MIN", "MAX", "CASE", "WHEN", "THEN", "ELSE",
    "END", "WITH", "UNION", "ALL", "DESC", "ASC", "BETWEEN", "LIKE", "DATE", "EXPLAIN", "ANALYZE",
];

/// Whether the text gathered so far is a whole command or statement: a command is one
/// line; a statement ends with `;`.
pub fn is_complete(buffer: &str) -> bool {
    let text = buffer.trim();
    text.is_empty()
        || text.starts_with('\\')
        || (text.starts_with('.') && !text.contains('\n'))
        || text.ends_with(';')
        || matches!(text, "quit" | "exit" | "help")
}

/// Completion of the word before the cursor from the shell's words.
pub struct ShellHelper {
    words: Vec<String>,
}

/// The candidates for the word ending at `pos`: (where it starts, the words it begins).
pub fn complete(words: &[String], line: &str, pos: usize) -> (usize, Vec<String>) {
    let before = &line[..pos];
    let start = before.rfind(|c: char| !(c.is_alphanumeric() || c == '_')).map_or(0, |i| i + 1);
    let prefix = &before[start..];
    if prefix.is_empty() {
        return (start, Vec::new());
    }
    let lower = prefix.to_lowercase();
    let found =
        words.iter().filter(|w| w.to_lowercase().starts_with(&lower) && w.as_str() != prefix).cloned().collect();
    (start, found)
}

impl Completer for ShellHelper {
    type Candidate = Pair;
    fn complete(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, found) = complete(&self.words, line, pos);
        Ok((start, found.into_iter().map(|w| Pair { display: w.clone(), replacement: w }).collect()))
    }
}
impl Hinter for ShellHelper {
    type Hint = String;
}
impl Highlighter for ShellHelper {}
impl Validator for ShellHelper {}
impl Helper for ShellHelper {}

/// Where the history is kept: `$XDG_STATE_HOME/cwkpi/shell_history`, else under `~/.local/state`.
fn history_path() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(state.join("cwkpi").join("shell_history"))
}

/// Runs the shell on standard input until `\q` or the end of input. With a terminal it
/// edits lines and keeps a history; piped input is run as a script. A failed statement
/// prints its error and the shell goes on; returns whether every statement succeeded.
pub async fn run(catalog: Catalog) -> Result<bool> {
    let mut shell = Shell::new(catalog);
    if std::io::stdin().is_terminal() {
        interactive(&mut shell).await
    } else {
        let lines: Vec<String> = std::io::stdin()
            .lock()
            .lines()
            .collect::<std::io::Result<_>>()
            .map_err(|e| Error::io("cannot read standard input", e))?;
        script(&mut shell, lines.iter().map(String::as_str), &mut std::io::stdout()).await
    }
}

/// Runs input line by line, gathering statements until they are complete.
pub async fn script<'a>(shell: &mut Shell, lines: impl Iterator<Item = &'a str>, out: &mut dyn Write) -> Result<bool> {
    let mut ok = true;
    let mut buffer = String::new();
    for line in lines.chain(std::iter::once(";")) {
        // The final ";" ends a statement left open at the end of input; alone it is nothing.
        if line == ";" && buffer.trim().is_empty() {
            continue;
        }
        buffer.push_str(line);
        buffer.push('\n');
        if !is_complete(&buffer) {
            continue;
        }
        let input = std::mem::take(&mut buffer);
        match shell.run(&input).await {
            Ok(Outcome::Quit) => break,
            Ok(Outcome::Output(text)) => write(out, &text)?,
            Err(e) => {
                ok = false;
                write(out, &format!("ERROR: {e}\n"))?;
            }
        }
    }
    Ok(ok)
}

fn write(out: &mut dyn Write, text: &str) -> Result<()> {
    out.write_all(text.as_bytes()).and_then(|_| out.flush()).map_err(|e| Error::io("cannot write output", e))
}

async fn interactive(shell: &mut Shell) -> Result<bool> {
    let mut editor: Editor<ShellHelper, DefaultHistory> =
        Editor::new().map_err(|e| Error::Usage(format!("cannot start the line editor: {e}")))?;
    editor.set_helper(Some(ShellHelper { words: shell.words().await }));
    let history = history_path();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    println!(
        "cwkpi shell: as of {}. \\? for help, \\q to quit.",
        shell.catalog.as_of.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
    );
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() { "cwkpi> " } else { "   ..> " };
        match editor.readline(prompt) {
            Ok(line) => {
                buffer.push_str(&line);
                buffer.push('\n');
                if !is_complete(&buffer) {
                    continue;
                }
                let input = std::mem::take(&mut buffer);
                let _ = editor.add_history_entry(input.trim());
                match shell.run(&input).await {
                    Ok(Outcome::Quit) => break,
                    Ok(Outcome::Output(text)) => print!("{text}"),
                    Err(e) => println!("ERROR: {e}"),
                }
                if input.trim_start().starts_with(".as_of") {
                    editor.set_helper(Some(ShellHelper { words: shell.words().await }));
                }
            }
            // Ctrl-C drops the statement being typed; Ctrl-D ends the shell.
            Err(ReadlineError::Interrupted) => buffer.clear(),
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(Error::Usage(format!("cannot read input: {e}"))),
        }
    }
    if let Some(path) = &history {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = editor.save_history(path);
    }
    Ok(true)
}
