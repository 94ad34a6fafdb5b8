//! The first hook every statement meets: it answers `SET`/`SHOW cwkpi.*`, refuses every
//! statement that is not a read (DDL, DML, COPY, SELECT INTO, engine settings), looking
//! inside `EXPLAIN`, `PREPARE`, `DECLARE … CURSOR FOR` and common table expressions, and
//! lets the client settings tools send at start-up through.
//!
//! A refusal here is the first line; the sessions are read-only by construction too
//! (`read_only`), so a statement the guard misses fails on the table, not on the data.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{Expr, Query, Reset, Set, SetExpr, Statement, Value};
use datafusion_postgres::QueryHook;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::pgwire;
use pgwire::api::ClientInfo;
use pgwire::api::Type;
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo, QueryResponse, Response, Tag};
use pgwire::error::PgWireResult;
use pgwire::messages::response::TransactionStatus;

use super::data::Served;
use super::settings::{AS_OF, WEEKS, check_dates, error, parse_as_of, parse_weeks};

pub struct Guard {
    pub served: Arc<Served>,
}

/// Client settings passed to datafusion-postgres, which keeps them per connection.
const CLIENT_SETTINGS: &[&str] = &[
    "statement_timeout",
    "datestyle",
    "bytea_output",
    "intervalstyle",
    "application_name",
    "extra_float_digits",
    "search_path",
];

impl Guard {
    /// `Some(answer)` for a statement the guard answers or refuses; `None` to go on.
    fn check(
        &self,
        statement: &Statement,
        client: &mut (dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<Response>> {
        match statement {
            Statement::Set(set) => self.set(set, client),
            Statement::ShowVariable { variable } => {
                let name = variable.iter().map(|i| i.value.to_lowercase()).collect::<Vec<_>>().join(".");
                let value = match name.as_str() {
                    AS_OF => client
                        .metadata()
                        .get(AS_OF)
                        .cloned()
                        .unwrap_or_else(|| self.served.current().default_as_of.to_string()),
                    WEEKS => client.metadata().get(WEEKS).cloned().unwrap_or_else(|| "1".into()),
                    _ => return None,
                };
                Some(show(&name, &value).map(Response::Query))
            }
            Statement::Savepoint { .. } => Some(in_transaction(client, "SAVEPOINT", "SAVEPOINT")),
            Statement::ReleaseSavepoint { .. } => Some(in_transaction(client, "RELEASE SAVEPOINT", "RELEASE")),
            // Back to a savepoint: an error in the block is forgotten (the way ODBC drivers
            // recover from a failed statement). The wire library sets the block's state from
            // the answer alone, and an aborted block can only be left, not resumed: the
            // block ends there, which loses nothing, as nothing is written here.
            Statement::Rollback { savepoint: Some(_), .. } => match client.transaction_status() {
                TransactionStatus::Idle => {
                    Some(Err(error("25P01", "ROLLBACK TO SAVEPOINT can only be used in transaction blocks")))
                }
                TransactionStatus::Transaction => Some(Ok(Response::Execution(Tag::new("ROLLBACK")))),
                TransactionStatus::Error => Some(Ok(Response::TransactionEnd(Tag::new("ROLLBACK")))),
            },
            // A pool's reset between borrowers (Npgsql, pgbouncer): the session's dates go
            // back to the server's.
            Statement::Discard { .. } => {
                forget_dates(client);
                Some(Ok(Response::Execution(Tag::new("DISCARD ALL"))))
            }
            Statement::Reset(reset) => {
                match &reset.reset {
                    Reset::ALL => forget_dates(client),
                    Reset::ConfigurationParameter(name) => {
                        client.metadata_mut().remove(&name.to_string().to_lowercase());
                    }
                }
                Some(Ok(Response::Execution(Tag::new("RESET"))))
            }
            _ => refusal(statement).map(Err),
        }
    }

    fn set(&self, set: &Set, client: &mut (dyn ClientInfo + Send + Sync)) -> Option<PgWireResult<Response>> {
        let answer = Some(Ok(Response::Execution(Tag::new("SET"))));
        match set {
            Set::SingleAssignment { variable, values, .. } => {
                let name = variable.to_string().to_lowercase();
                let value = values.first().map(setting_value).unwrap_or_default();
                let reset = value.eq_ignore_ascii_case("default");
                match name.as_str() {
                    AS_OF | WEEKS => {
                        // The pair is checked together, so a session never holds dates it
                        // cannot be as of. A reset removes the setting.
                        let setting = (!reset).then_some(value);
                        let current = |key: &str| client.metadata().get(key).cloned();
                        let (as_of, weeks) = if name == AS_OF {
                            (setting.clone(), current(WEEKS))
                        } else {
                            (current(AS_OF), setting.clone())
                        };
                        let date = as_of.as_deref().map_or(Ok(self.served.current().default_as_of), parse_as_of);
                        let weeks = weeks.as_deref().map_or(Ok(1), parse_weeks);
                        let (date, weeks) = match date
                            .and_then(|d| Ok((d, weeks?)))
                            .and_then(|(d, w)| check_dates(d, w).map(|_| (d, w)))
                        {
                            Ok(pair) => pair,
                            Err(e) => return Some(Err(e)),
                        };
                        // Kept as parsed, so SHOW answers in one form.
                        let kept = if name == AS_OF { date.to_string() } else { weeks.to_string() };
                        if setting.is_some() {
                            client.metadata_mut().insert(name, kept);
                        } else {
                            client.metadata_mut().remove(&name);
                        }
                    }
                    n if n.starts_with("cwkpi.") => {
                        return Some(Err(error("42704", format!("unrecognized configuration parameter \"{n}\""))));
                    }
                    n if n.starts_with("datafusion.") => {
                        return Some(Err(error(
                            "42501",
                            format!(
                                "permission denied to set parameter \"{n}\": the engine's settings are the server's"
                            ),
                        )));
                    }
                    n if CLIENT_SETTINGS.contains(&n) => return None,
                    // Other client settings (client_encoding, lc_*, …) are accepted and
                    // have no effect, so tools' start-up statements do not fail.
                    _ => {}
                }
                answer
            }
            Set::SetTimeZone { .. } => None,
            // SET NAMES, SET ROLE, SET TRANSACTION … : accepted, no effect.
            _ => answer,
        }
    }
}

/// A statement that only makes sense inside a transaction block. Nothing is written here,
/// so a savepoint holds nothing; it is answered as PostgreSQL would.
fn in_transaction(client: &(dyn ClientInfo + Send + Sync), what: &str, tag: &str) -> PgWireResult<Response> {
    match client.transaction_status() {
        TransactionStatus::Transaction => Ok(Response::Execution(Tag::new(tag))),
        TransactionStatus::Idle => Err(error("25P01", format!("{what} can only be used in transaction blocks"))),
        TransactionStatus::Error => {
            Err(error("25P02", "current transaction is aborted, commands ignored until end of transaction block"))
        }
    }
}

fn forget_dates(client: &mut (dyn ClientInfo + Send + Sync)) {
    client.metadata_mut().remove(AS_OF);
    client.metadata_mut().remove(WEEKS);
}

/// A statement the guard answers itself without a plan (the extended protocol still
/// asks for one at Parse).
fn answered_without_plan(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::Savepoint { .. }
            | Statement::ReleaseSavepoint { .. }
            | Statement::Discard { .. }
            | Statement::Reset(_)
    ) || matches!(statement, Statement::Rollback { savepoint: Some(_), .. })
}

/// The text of a SET value: a quoted string unquoted, anything else as written.
fn setting_value(value: &Expr) -> String {
    match value {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
            other => other.to_string(),
        },
        other => other.to_string(),
    }
}

/// Why a statement may not run here, or `None` for a read.
pub fn refusal(statement: &Statement) -> Option<pgwire::error::PgWireError> {
    let read_only = |what: &str| Some(error("25006", format!("cannot execute {what}: cwkpi serves read-only views")));
    match statement {
        Statement::Query(query) => query_writes(query).and_then(read_only),
        // EXPLAIN ANALYZE runs its statement, PREPARE keeps it for EXECUTE, a cursor runs
        // its query: each is as much a read as the statement inside.
        Statement::Explain { statement, .. } | Statement::Prepare { statement, .. } => refusal(statement),
        Statement::Declare { stmts } => {
            stmts.iter().filter_map(|d| d.for_query.as_deref()).find_map(query_writes).and_then(read_only)
        }
        Statement::Set(_)
        | Statement::ShowVariable { .. }
        | Statement::ShowTables { .. }
        | Statement::ShowColumns { .. }
        | Statement::ShowStatus { .. }
        | Statement::ShowCatalogs { .. }
        | Statement::ExplainTable { .. }
        | Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Savepoint { .. }
        | Statement::ReleaseSavepoint { .. }
        | Statement::Discard { .. }
        | Statement::Reset(_)
        | Statement::Execute { .. }
        | Statement::Deallocate { .. }
        | Statement::Fetch { .. }
        | Statement::Close { .. } => None,
        other => read_only(other.to_string().split_whitespace().next().unwrap_or("this statement")),
    }
}

/// What a query would write, if anything: its body, and the body of every common table
/// expression, at any depth.
fn query_writes(query: &Query) -> Option<&'static str> {
    if let Some(with) = &query.with
        && let Some(what) = with.cte_tables.iter().find_map(|cte| query_writes(&cte.query))
    {
        return Some(what);
    }
    body_writes(&query.body)
}

fn body_writes(body: &SetExpr) -> Option<&'static str> {
    match body {
        SetExpr::Select(select) if select.into.is_some() => Some("SELECT INTO"),
        SetExpr::Select(_) | SetExpr::Values(_) | SetExpr::Table(_) => None,
        SetExpr::Query(query) => query_writes(query),
        SetExpr::SetOperation { left, right, .. } => body_writes(left).or_else(|| body_writes(right)),
        SetExpr::Insert(_) => Some("INSERT"),
        SetExpr::Update(_) => Some("UPDATE"),
        SetExpr::Delete(_) => Some("DELETE"),
        SetExpr::Merge(_) => Some("MERGE"),
    }
}

fn show(name: &str, value: &str) -> PgWireResult<QueryResponse> {
    let fields = Arc::new(vec![FieldInfo::new(name.into(), None, None, Type::TEXT, FieldFormat::Text)]);
    let mut encoder = DataRowEncoder::new(fields.clone());
    encoder.encode_field(&Some(value))?;
    let row = encoder.take_row();
    Ok(QueryResponse::new(fields, futures::stream::once(async move { Ok(row) })))
}

#[async_trait]
impl QueryHook for Guard {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.check(statement, client)
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _: &SessionContext,
        _: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        // Refused already at Parse; SET and SHOW get their placeholder plan from SetShowHook.
        if answered_without_plan(statement) {
            let empty = datafusion::logical_expr::EmptyRelation {
                produce_one_row: false,
                schema: Arc::new(datafusion::common::DFSchema::empty()),
            };
            return Some(Ok(LogicalPlan::EmptyRelation(empty)));
        }
        refusal(statement).map(Err)
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _: &LogicalPlan,
        _: &ParamValues,
        _: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.check(statement, client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn refused(sql: &str) -> bool {
        let statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap();
        refusal(&statements[0]).is_some()
    }

    #[test]
    fn writes_are_refused_wherever_they_hide() {
        for sql in [
            "DECLARE c CURSOR FOR INSERT INTO units VALUES ('X')",
            "DECLARE c CURSOR FOR DELETE FROM units",
            "DECLARE c CURSOR FOR UPDATE units SET name = 'x'",
            "DECLARE c CURSOR FOR SELECT * INTO t FROM units",
            "WITH x AS (SELECT 1) DELETE FROM units",
            "WITH x AS (DELETE FROM units RETURNING *) SELECT * FROM x",
            "WITH x AS (WITH y AS (INSERT INTO units VALUES ('X') RETURNING *) SELECT * FROM y) SELECT * FROM x",
            "EXPLAIN ANALYZE INSERT INTO units VALUES ('X')",
            "EXPLAIN ANALYZE SELECT * INTO t FROM units",
            "PREPARE p AS DELETE FROM units",
            "SELECT 1 UNION (SELECT * INTO t FROM units)",
            "COPY units TO '/tmp/x'",
            "CREATE TABLE t (a int)",
            "DROP VIEW kpi",
        ] {
            assert!(refused(sql), "{sql} is refused");
        }
    }

    #[test]
    fn reads_pass() {
        for sql in [
            "SELECT * FROM kpi",
            "WITH x AS (SELECT 1 AS a) SELECT a FROM x",
            "DECLARE c CURSOR FOR SELECT * FROM units",
            "EXPLAIN ANALYZE SELECT count(*) FROM cases",
            "PREPARE p AS SELECT * FROM units WHERE unit_id = $1",
            "VALUES (1), (2)",
            "SAVEPOINT a",
            "RELEASE SAVEPOINT a",
            "ROLLBACK TO SAVEPOINT a",
            "DISCARD ALL",
            "RESET ALL",
        ] {
            assert!(!refused(sql), "{sql} passes");
        }
    }
}
