//! Statements PostgreSQL's own tools send that the engine cannot plan, rewritten into a
//! form it can before datafusion-postgres sees them. A statement none of the rules
//! touches goes on as its client wrote it.
//!
//! - The storage options psql's `\d+` lists (`array_to_string(c.reloptions || ARRAY(…))`)
//!   read as none (`NULL`): nothing here has any, and `pg_class` has no `reloptions`.
//! - Any other `ARRAY(subquery)` constructor reads as `NULL`.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{Expr, FunctionArguments, Value, VisitMut, VisitorMut};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// The statement text to plan: `sql` rewritten if a rule applies, else `sql` itself.
pub fn rewrite(sql: &str) -> std::borrow::Cow<'_, str> {
    if !sql.to_ascii_lowercase().contains("array(") {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_array_subquery_reads_as_no_options_and_other_statements_pass_untouched() {
        let psql = "SELECT pg_catalog.array_to_string(c.reloptions || array(select 'toast.' || x from pg_catalog.unnest(tc.reloptions) x), ', ') FROM pg_catalog.pg_class c";
        assert_eq!(rewrite(psql), "SELECT NULL FROM pg_catalog.pg_class c");
        let other = "SELECT array(SELECT 1) AS a";
        assert_eq!(rewrite(other), "SELECT NULL AS a");
        let plain = "SELECT make_array(1, 2), 'array(' FROM kpi";
        assert_eq!(rewrite(plain), plain);
    }
}
