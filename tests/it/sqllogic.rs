//! Runs the `.slt` files in tests/slt/ against the real views of queries/.
//!
//! Each `tests/slt/NAME.slt` is paired with a CSV export in `tests/slt/NAME/`; it is
//! imported to Parquet, loaded through the same reader and checks as production data, and
//! the views are computed as of the dates on the file's `# as_of:` line. Expected values in
//! the .slt files are worked out by hand; the comments there explain each one.
//!
//! The views use the built-in rules, unless the suite's folder holds a `rules.toml`
//! (`tests/slt/NAME/rules.toml`): then that file, read as `--rules` would read it. The
//! importer only reads the folder's `<table>.csv` files, so the rules file sits beside them.
//!
//! Fixture rows must all be kept, unless the suite declares the rows it expects rejected on
//! `# rejected: <table> <id> …` lines (one table per line, by the row's id): then exactly
//! those rows must be rejected, and the suite can read the reasons in `rejected_rows`.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::NaiveDate;
use cwkpi::{Catalog, CheckedExport, EngineOptions, Rules};
use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::array_value_to_string;
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType, Runner, strict_column_validator};

struct CatalogDb(Catalog);

#[async_trait]
impl AsyncDB for CatalogDb {
    type Error = cwkpi::Error;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<Self::ColumnType>, Self::Error> {
        let batches = self.0.query(sql).await?;
        let Some(schema) = batches.first().map(|b| b.schema()) else {
            return Ok(DBOutput::Rows { types: vec![], rows: vec![] });
        };
        let types = schema.fields().iter().map(|f| column_type(f.data_type())).collect();
        let mut rows = Vec::new();
        for batch in &batches {
            rows.extend(rows_of(batch));
        }
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "cwkpi"
    }
}

fn column_type(t: &DataType) -> DefaultColumnType {
    if t.is_integer() {
        DefaultColumnType::Integer
    } else if t.is_floating() {
        DefaultColumnType::FloatingPoint
    } else {
        DefaultColumnType::Text
    }
}

/// Values as text: floats in their shortest exact form (0.95, 1.0), nulls as NULL.
fn rows_of(batch: &RecordBatch) -> Vec<Vec<String>> {
    (0..batch.num_rows())
        .map(|i| {
            batch
                .columns()
                .iter()
                .map(|c| match c.data_type() {
                    _ if c.is_null(i) => "NULL".to_string(),
                    DataType::Float64 => format!(
                        "{:?}",
                        c.as_any().downcast_ref::<datafusion::arrow::array::Float64Array>().unwrap().value(i)
                    ),
                    _ => array_value_to_string(c, i).unwrap(),
                })
                .collect()
        })
        .collect()
}

/// The dates on the `# as_of:` line of an .slt file.
fn as_of_dates(slt: &Path) -> Vec<NaiveDate> {
    let text = std::fs::read_to_string(slt).unwrap();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("# as_of:"))
        .unwrap_or_else(|| panic!("{} has no '# as_of:' line", slt.display()));
    line.split_whitespace().map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap()).collect()
}

/// The rows an .slt file expects rejected, from its `# rejected: <table> <id> …` lines, sorted.
fn expected_rejections(slt: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(slt).unwrap();
    let mut expected: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# rejected:"))
        .flat_map(|rest| {
            let mut words = rest.split_whitespace();
            let table =
                words.next().unwrap_or_else(|| panic!("{}: '# rejected:' without a table", slt.display())).to_string();
            words.map(move |id| (table.clone(), id.to_string())).collect::<Vec<_>>()
        })
        .collect();
    expected.sort();
    expected
}

async fn run_slt(slt: PathBuf) -> Result<(), String> {
    let csv_dir = slt.with_extension("");
    let tmp = tempfile::tempdir().unwrap();
    let export_dir = tmp.path().join("export");
    cwkpi::import::import_csv_export(&csv_dir, &export_dir).unwrap();
    let export = CheckedExport::load(&export_dir).unwrap();
    // A rejected row is named by its table and id: the locator starts with `<id column>=<id>`.
    let mut rejected: Vec<(String, String)> = export
        .rejections()
        .map(|r| {
            let first = r.locator.split_whitespace().next().unwrap_or_default();
            (r.table.to_string(), first.split_once('=').map_or(first, |(_, id)| id).to_string())
        })
        .collect();
    rejected.sort();
    let expected = expected_rejections(&slt);
    if rejected != expected {
        return Err(format!(
            "{}: fixture rows rejected {rejected:?}, its '# rejected:' lines expect {expected:?}",
            slt.display()
        ));
    }
    let rules_file = csv_dir.join("rules.toml");
    let rules = Rules::load(rules_file.is_file().then_some(rules_file.as_path()))
        .unwrap_or_else(|e| panic!("{}: {e}", rules_file.display()));
    let catalog = Catalog::new(&export, rules, &as_of_dates(&slt), &EngineOptions::default()).await.unwrap();
    let mut db = Some(CatalogDb(catalog));
    let mut runner = Runner::new(move || {
        let db = db.take().expect("one connection per file");
        async move { Ok(db) }
    });
    runner.with_column_validator(strict_column_validator);
    runner.run_file_async(&slt).await.map_err(|e| format!("{}: {e}", slt.display()))
}

#[tokio::test(flavor = "multi_thread")]
async fn slt_files_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "expected the slt suites in {}", dir.display());
    // Every suite runs, so one failing suite does not hide another's results.
    let mut failures = Vec::new();
    for slt in files {
        if let Err(e) = run_slt(slt).await {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{} suite(s) failed:\n\n{}", failures.len(), failures.join("\n\n"));
}
