//! The SQL of the product, kept as files in `queries/` and built into the binary.
//!
//! `queries/views/NN_name.sql` defines the view `name`: its first line is a `--` comment
//! that describes it in one line, the rest is one SELECT. Files load in name order, so a
//! view may use earlier ones. `queries/statements/name.sql` are statements the commands
//! run against the views (one SELECT each).

use include_dir::{Dir, include_dir};

static QUERIES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/queries");

#[derive(Debug, Clone)]
pub struct ViewSql {
    pub name: String,
    pub description: String,
    pub sql: &'static str,
    pub path: String,
}

/// Every view of a folder of `queries/`, in load order.
pub fn views(folder: &str) -> Vec<ViewSql> {
    let Some(dir) = QUERIES.get_dir(folder) else { return Vec::new() };
    let mut files: Vec<_> = dir.files().filter(|f| f.path().extension().is_some_and(|e| e == "sql")).collect();
    files.sort_by_key(|f| f.path());
    files
        .into_iter()
        .filter_map(|f| {
            let sql = f.contents_utf8()?;
            let stem = f.path().file_stem()?.to_str()?;
            // "03_active_measures" → "active_measures"
            let name = stem
                .split_once('_')
                .filter(|(n, _)| n.chars().all(|c| c.is_ascii_digit()))
                .map_or(stem, |(_, rest)| rest);
            let description = sql.lines().next().and_then(|l| l.strip_prefix("--")).unwrap_or("").trim().to_string();
            Some(ViewSql { name: name.to_string(), description, sql, path: format!("queries/{}", f.path().display()) })
        })
        .collect()
}

/// A statement of `queries/statements/`, by name.
pub fn statement(name: &str) -> Option<&'static str> {
    QUERIES.get_file(format!("statements/{name}.sql")).and_then(|f| f.contents_utf8())
}
