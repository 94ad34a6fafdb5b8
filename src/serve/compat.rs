//! Statements PostgreSQL's own tools send that the engine cannot plan, rewritten into a
//! form it can before datafusion-postgres sees them. A statement none of the rules
//! touches goes on as its client wrote it.
//!
//! - The storage options psql's `\d+` lists (`array_to_string(c.reloptions || ARRAY(…))`)
//!   read as none (`NULL`): nothing here has any, and `pg_class` has no `reloptions`.
//! - Any other `ARRAY(subquery)` constructor reads as `NULL`.
//! - `'pg_class'::regclass` (or `'pg_catalog.pg_class'`) is the catalog table's fixed oid
//!   in PostgreSQL, 1259, as for the other system catalogs: the rows of `pg_description`
//!   carry those oids, and DBeaver's comment query filters on `classoid =
//!   'pg_class'::regclass`.
//! - A scalar subquery over catalog tables kept empty here (`pg_attrdef`, `pg_sequence`,
//!   `pg_collation`: no column defaults, sequences or collations) is `NULL`, which is what
//!   it would give; SQLAlchemy's column reflection asks three such.
//! - A scalar subquery over other `pg_catalog` tables that picks one value without an
//!   aggregate (a lookup by oid, which PostgreSQL requires to give at most one row) takes
//!   `max()` of it, the form the engine plans when the subquery refers to the outer
//!   query: the same value wherever PostgreSQL gives one.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArguments, Query, SelectItem, SetExpr, TableFactor, Value, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// The statement text to plan: `sql` rewritten if a rule applies, else `sql` itself.
pub fn rewrite(sql: &str) -> std::borrow::Cow<'_, str> {
    let lower = sql.to_ascii_lowercase();
    let catalog_subquery = lower.contains("pg_") && lower.contains("(select");
    if !(lower.contains("array(") || lower.contains("regclass") || catalog_subquery) {
        return sql.into();
    }
    let Ok(mut statements) = Parser::parse_sql(&PostgreSqlDialect {}, sql) else { return sql.into() };
    let mut rules = Rules { changed: false };
    let _ = statements.visit(&mut rules);
    if !rules.changed {
        return sql.into();
    }
    statements.iter().map(ToString::to_string).collect::<Vec<_>>().join(";\n").into()
}

struct Rules {
    changed: bool,
}

impl VisitorMut for Rules {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::Cast { data_type, expr: operand, .. } = expr
            && data_type.to_string().to_ascii_lowercase().ends_with("regclass")
            && let Expr::Value(v) = operand.as_ref()
            && let Value::SingleQuotedString(name) = &v.value
            && let Some(oid) = system_catalog_oid(name)
        {
            *expr = Expr::value(Value::Number(oid.to_string(), false));
            self.changed = true;
            return ControlFlow::Continue(());
        }
        if let Expr::Subquery(query) = expr {
            match catalog_subquery(query) {
                Some(CatalogSubquery::OverEmptyTables) => {
                    *expr = null_keeping_parameters(query);
                    self.changed = true;
                }
                Some(CatalogSubquery::Lookup) => self.changed |= take_max(query),
                None => {}
            }
            return ControlFlow::Continue(());
        }
        if let Expr::Function(f) = expr {
            let name = f.name.to_string().to_ascii_lowercase();
            let array_subquery = name == "array" && matches!(f.args, FunctionArguments::Subquery(_));
            let storage_options = name.ends_with("array_to_string") && f.args.to_string().contains("reloptions");
            if array_subquery || storage_options {
                *expr = Expr::value(Value::Null);
                self.changed = true;
            }
        }
        ControlFlow::Continue(())
    }
}

/// PostgreSQL's fixed oid of a system catalog named as `regclass` reads it.
fn system_catalog_oid(name: &str) -> Option<u32> {
    const OIDS: [(&str, u32); 16] = [
        ("pg_type", 1247),
        ("pg_attribute", 1249),
        ("pg_proc", 1255),
        ("pg_class", 1259),
        ("pg_database", 1262),
        ("pg_am", 2601),
        ("pg_constraint", 2606),
        ("pg_description", 2609),
        ("pg_index", 2610),
        ("pg_language", 2612),
        ("pg_namespace", 2615),
        ("pg_operator", 2617),
        ("pg_rewrite", 2618),
        ("pg_trigger", 2620),
        ("pg_extension", 3079),
        ("pg_collation", 3456),
    ];
    let name = name.to_ascii_lowercase();
    let name = name.strip_prefix("pg_catalog.").unwrap_or(&name);
    OIDS.iter().find(|(n, _)| *n == name).map(|(_, oid)| *oid)
}

/// Catalog tables that hold no rows here.
const EMPTY_CATALOG_TABLES: [&str; 3] = ["pg_attrdef", "pg_sequence", "pg_collation"];

enum CatalogSubquery {
    OverEmptyTables,
    Lookup,
}

/// What a scalar subquery reading only `pg_catalog` tables is, if it is one.
fn catalog_subquery(query: &Query) -> Option<CatalogSubquery> {
    let SetExpr::Select(select) = query.body.as_ref() else { return None };
    let mut tables = Vec::new();
    for from in &select.from {
        for factor in std::iter::once(&from.relation).chain(from.joins.iter().map(|j| &j.relation)) {
            let TableFactor::Table { name, .. } = factor else { return None };
            let name = name.to_string().to_ascii_lowercase();
            tables.push(name.rsplit('.').next().unwrap_or_default().to_string());
        }
    }
    if tables.is_empty() || !tables.iter().all(|t| t.starts_with("pg_")) {
        return None;
    }
    if tables.iter().any(|t| EMPTY_CATALOG_TABLES.contains(&t.as_str())) {
        return Some(CatalogSubquery::OverEmptyTables);
    }
    let one_value = select.projection.len() == 1
        && select.group_by == datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(vec![], vec![]);
    one_value.then_some(CatalogSubquery::Lookup)
}

/// `NULL`, still naming the parameters the subquery bound (with their casts), so the
/// statement keeps every `$n` the client sends a value for.
fn null_keeping_parameters(query: &Query) -> Expr {
    let mut typed = Vec::new();
    let mut bare = Vec::new();
    let _ = datafusion::sql::sqlparser::ast::visit_expressions(query, |e| {
        match e {
            Expr::Cast { expr, .. } if is_placeholder(expr) => typed.push(e.to_string()),
            e if is_placeholder(e) => bare.push(e.to_string()),
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    bare.retain(|p| !typed.iter().any(|t| t.split("::").next() == Some(p.as_str())));
    let named: Vec<String> = bare.into_iter().chain(typed).collect();
    if named.is_empty() {
        return Expr::value(Value::Null);
    }
    let test = named.iter().map(|p| format!("({p}) IS NULL")).collect::<Vec<_>>().join(" OR ");
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&format!("CASE WHEN {test} THEN NULL ELSE NULL END"))
        .and_then(|mut p| p.parse_expr())
        .unwrap_or_else(|_| Expr::value(Value::Null))
}

fn is_placeholder(e: &Expr) -> bool {
    matches!(e, Expr::Value(v) if matches!(v.value, Value::Placeholder(_)))
}

/// Wraps a lookup's one value in `max()`, unless it is an aggregate already.
fn take_max(query: &mut Query) -> bool {
    let SetExpr::Select(select) = query.body.as_mut() else { return false };
    let (SelectItem::UnnamedExpr(value) | SelectItem::ExprWithAlias { expr: value, .. }) = &mut select.projection[0]
    else {
        return false;
    };
    if matches!(value, Expr::Function(_)) {
        return false;
    }
    let Ok(wrapped) =
        Parser::new(&PostgreSqlDialect {}).try_with_sql(&format!("max({value})")).and_then(|mut p| p.parse_expr())
    else {
        return false;
    };
    *value = wrapped;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_array_subquery_reads_as_no_options_and_other_statements_pass_untouched() {
        let psql = "SELECT pg_catalog.array_to_string(c.reloptions || array(select 'toast.' || x from pg_catalog.unnest(tc.reloptions) x), ', ') FROM pg_catalog.pg_class c";
        assert_eq!(rewrite(psql), "SELECT NULL FROM pg_catalog.pg_class c");
        let other = "SELECT array(SELECT 1) AS a";
        assert_eq!(rewrite(other), "SELECT NULL AS a");
        let reflection = "SELECT CASE WHEN a.atthasdef THEN (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid) FROM pg_catalog.pg_attrdef d WHERE d.adrelid = a.attrelid) ELSE NULL END, \
                          (SELECT t.typcollation FROM pg_catalog.pg_type t WHERE t.oid = a.atttypid) AS c FROM pg_catalog.pg_attribute a";
        assert_eq!(
            rewrite(reflection),
            "SELECT CASE WHEN a.atthasdef THEN NULL ELSE NULL END, (SELECT max(t.typcollation) FROM pg_catalog.pg_type t WHERE t.oid = a.atttypid) AS c FROM pg_catalog.pg_attribute a"
        );
        let bound = "SELECT (SELECT json_build_object($2::VARCHAR, s.seqstart) FROM pg_catalog.pg_sequence s WHERE a.attidentity != $3) FROM pg_catalog.pg_attribute a WHERE a.attnum > $1::SMALLINT";
        assert_eq!(
            rewrite(bound),
            "SELECT CASE WHEN ($3) IS NULL OR ($2::VARCHAR) IS NULL THEN NULL ELSE NULL END FROM pg_catalog.pg_attribute a WHERE a.attnum > $1::SMALLINT",
            "the parameters stay named"
        );
        let own = "SELECT (SELECT name FROM units u WHERE u.unit_id = k.unit_id) FROM kpi k";
        assert_eq!(rewrite(own), own, "subqueries over the views are the analyst's own");
        let dbeaver = "SELECT d.description FROM pg_catalog.pg_description d WHERE d.classoid = 'pg_class'::regclass AND d.objoid = 'kpi'::regclass";
        assert_eq!(
            rewrite(dbeaver),
            "SELECT d.description FROM pg_catalog.pg_description d WHERE d.classoid = 1259 AND d.objoid = 'kpi'::REGCLASS"
        );
        let plain = "SELECT make_array(1, 2), 'array(' FROM kpi";
        assert_eq!(rewrite(plain), plain);
    }
}
