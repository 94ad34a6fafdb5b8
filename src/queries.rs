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

/// Tables whose rows describe every table of the export (rows read and kept, the rejected
/// rows): a script that names one reads the whole export. (The views read `export_tables`
/// for whether a table is present, which an unread table still records.)
const WHOLE_EXPORT_TABLES: [&str; 2] = ["export_tables", "rejected_rows"];

/// The export's tables a SQL script reads, following each view it names through the
/// views' own SQL here, for a command that loads only those (`cwkpi sql`). None when that
/// cannot be told: the script does not parse, or names a table that describes the whole
/// export. Names the catalog does not have read nothing (the script fails on them anyway).
pub fn export_tables_read(sql: &str) -> Option<std::collections::BTreeSet<&'static str>> {
    let views: std::collections::HashMap<String, &'static str> =
        ["views", "views_at_other_dates"].into_iter().flat_map(views).map(|v| (v.name, v.sql)).collect();
    let state = datafusion::prelude::SessionContext::new().state();
    let mut read = std::collections::BTreeSet::new();
    let mut followed = std::collections::HashSet::new();
    // (SQL, whether it is a view's)
    let mut scripts = vec![(sql, false)];
    while let Some((script, is_view)) = scripts.pop() {
        for statement in datafusion::sql::parser::DFParser::parse_sql(script).ok()? {
            for reference in state.resolve_table_references(&statement).ok()? {
                let name = reference.table();
                if !is_view && WHOLE_EXPORT_TABLES.contains(&name) {
                    return None;
                }
                if let Some(spec) = crate::contract::table(name) {
                    read.insert(spec.name);
                } else if let Some(view) = views.get(name) {
                    // Each view once, however many others name it.
                    if followed.insert(name.to_string()) {
                        scripts.push((view, true));
                    }
                }
            }
        }
    }
    Some(read)
}

/// The further tables a SQL script does not read (see `export_tables_read`), which a
/// command may leave unread; none when that cannot be told.
pub fn further_tables_unread(sql: &str) -> Vec<&'static str> {
    let Some(read) = export_tables_read(sql) else { return Vec::new() };
    crate::contract::TABLES.iter().filter(|t| !t.core && !read.contains(t.name)).map(|t| t.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(sql: &str) -> Option<Vec<&'static str>> {
        export_tables_read(sql).map(|r| r.into_iter().collect())
    }

    #[test]
    fn tables_read_follow_the_views() {
        // A core table alone.
        assert_eq!(read("SELECT count(*) FROM cases").unwrap(), ["cases"]);
        // case_compliance reads measures, follow-ups, investigations and plans through its
        // views, and no further table.
        let compliance = read("SELECT * FROM case_compliance WHERE as_of = DATE '2026-11-22'").unwrap();
        for table in ["cases", "measures", "follow_ups", "investigations", "action_plans"] {
            assert!(compliance.contains(&table), "{compliance:?}");
        }
        assert!(further_tables_unread("SELECT * FROM case_compliance").contains(&"postings"));
        // The checklist reads the case events; the KPI table reads every further table
        // (budget_forecast reads the postings and budgets).
        assert!(read("SELECT * FROM case_checklist").unwrap().contains(&"case_events"));
        assert!(further_tables_unread("SELECT * FROM kpi").is_empty());
        // A CTE's name is not a table, and a second statement counts too.
        let two = read("WITH postings AS (SELECT 1 AS x) SELECT * FROM postings; SELECT * FROM complaints").unwrap();
        assert_eq!(two, ["complaints"]);
        // Tables about the whole export, and scripts that do not parse, read everything.
        assert_eq!(read("SELECT * FROM rejected_rows"), None);
        assert_eq!(read("SELECT * FROM public.export_tables"), None);
        assert_eq!(read("SELEC nonsense"), None);
        assert!(further_tables_unread("SELEC nonsense").is_empty());
    }
}
