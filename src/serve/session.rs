//! A connection's queries: each runs in the connection's own DataFusion session, made from
//! the shared catalog for the user's grant and the session's as-of dates, with its own
//! memory pool and settings. The session is made again when the dates change (`SET
//! cwkpi.as_of`) or a new export generation is served; a query started before keeps its
//! plan, and with it the data it began on.
//!
//! Statements pass the guard first: it answers `SET`/`SHOW cwkpi.*`, refuses everything
//! that is not a read (DDL, DML, COPY, SELECT INTO, engine settings) and lets the client
//! settings tools send at start-up through.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::NaiveDate;
use datafusion::catalog::TableProvider;
use datafusion::common::ParamValues;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::source_as_provider;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{Expr, Set, SetExpr, Statement, Value};
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::setup_pg_catalog;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::pgwire;
use datafusion_postgres::{DfSessionService, Parser, QueryHook};
use futures::{Sink, StreamExt};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;

use super::auth::LoggedIn;
use super::data::{Generation, Served};
use crate::catalog::{DATABASE, session_config, weekly_dates};

type DfStatement = (String, Option<(Statement, LogicalPlan)>);

/// The session settings cwkpi adds, kept in the connection's metadata.
const AS_OF: &str = "cwkpi.as_of";
const WEEKS: &str = "cwkpi.weeks";
const MAX_WEEKS: u32 = 520;

/// Settings a query may not exceed, whatever the client sets.
#[derive(Debug, Clone)]
pub struct Limits {
    pub statement_timeout: Duration,
    /// Memory for one query's execution (one per connection: a connection runs one query
    /// at a time).
    pub memory_limit: usize,
}

fn error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("ERROR".into(), code.into(), message.into())))
}

fn internal(e: impl std::fmt::Display) -> PgWireError {
    error("XX000", e.to_string())
}

fn timed_out() -> PgWireError {
    error("57014", "canceling statement due to statement timeout")
}

/// The as-of dates of a session: `weeks` dates a week apart ending at its as-of date.
fn session_dates(metadata: &HashMap<String, String>, generation: &Generation) -> PgWireResult<Vec<NaiveDate>> {
    let last = match metadata.get(AS_OF) {
        Some(d) => parse_as_of(d)?,
        None => generation.default_as_of,
    };
    let weeks = match metadata.get(WEEKS) {
        Some(n) => parse_weeks(n)?,
        None => 1,
    };
    Ok(weekly_dates(last, weeks))
}

fn parse_as_of(value: &str) -> PgWireResult<NaiveDate> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| error("22007", format!("cwkpi.as_of must be a date like '2026-03-01', not '{value}'")))
}

fn parse_weeks(value: &str) -> PgWireResult<u32> {
    value
        .parse()
        .ok()
        .filter(|n| (1..=MAX_WEEKS).contains(n))
        .ok_or_else(|| error("22023", format!("cwkpi.weeks must be a whole number from 1 to {MAX_WEEKS}, not '{value}'")))
}

// ---------------------------------------------------------------- the guard

/// The first hook every statement meets.
struct Guard {
    served: Arc<Served>,
}

/// Client settings passed to datafusion-postgres, which keeps them per connection.
const CLIENT_SETTINGS: &[&str] =
    &["statement_timeout", "datestyle", "bytea_output", "intervalstyle", "application_name", "extra_float_digits", "search_path"];

impl Guard {
    /// `Some(answer)` for a statement the guard answers or refuses; `None` to go on.
    fn check(&self, statement: &Statement, client: &mut (dyn ClientInfo + Send + Sync)) -> Option<PgWireResult<Response>> {
        match statement {
            Statement::Set(set) => self.set(set, client),
            Statement::ShowVariable { variable } => {
                let name = variable.iter().map(|i| i.value.to_lowercase()).collect::<Vec<_>>().join(".");
                let value = match name.as_str() {
                    AS_OF => client.metadata().get(AS_OF).cloned().unwrap_or_else(|| self.served.current().default_as_of.to_string()),
                    WEEKS => client.metadata().get(WEEKS).cloned().unwrap_or_else(|| "1".into()),
                    _ => return None,
                };
                Some(show(&name, &value).map(Response::Query))
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
                    AS_OF | WEEKS if reset => {
                        client.metadata_mut().remove(&name);
                    }
                    AS_OF => match parse_as_of(&value) {
                        Ok(date) => {
                            client.metadata_mut().insert(name, date.to_string());
                        }
                        Err(e) => return Some(Err(e)),
                    },
                    WEEKS => match parse_weeks(&value) {
                        Ok(weeks) => {
                            client.metadata_mut().insert(name, weeks.to_string());
                        }
                        Err(e) => return Some(Err(e)),
                    },
                    n if n.starts_with("cwkpi.") => return Some(Err(error("42704", format!("unrecognized configuration parameter \"{n}\"")))),
                    n if n.starts_with("datafusion.") => {
                        return Some(Err(error("42501", format!("permission denied to set parameter \"{n}\": the engine's settings are the server's"))));
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
fn refusal(statement: &Statement) -> Option<PgWireError> {
    let read_only = |what: &str| Some(error("25006", format!("cannot execute {what}: cwkpi serves read-only views")));
    match statement {
        Statement::Query(query) if has_into(&query.body) => read_only("SELECT INTO"),
        Statement::Explain { statement, .. } => refusal(statement),
        Statement::Query(_)
        | Statement::Set(_)
        | Statement::ShowVariable { .. }
        | Statement::ShowTables { .. }
        | Statement::ShowColumns { .. }
        | Statement::ShowStatus { .. }
        | Statement::ShowCatalogs { .. }
        | Statement::ExplainTable { .. }
        | Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Declare { .. }
        | Statement::Fetch { .. }
        | Statement::Close { .. } => None,
        other => read_only(other.to_string().split_whitespace().next().unwrap_or("this statement")),
    }
}

fn has_into(body: &SetExpr) -> bool {
    match body {
        SetExpr::Select(select) => select.into.is_some(),
        SetExpr::Query(query) => has_into(&query.body),
        SetExpr::SetOperation { left, right, .. } => has_into(left) || has_into(right),
        _ => false,
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
    async fn handle_simple_query(&self, statement: &Statement, _: &SessionContext, client: &mut dyn HookClient) -> Option<PgWireResult<Response>> {
        self.check(statement, client)
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _: &SessionContext,
        _: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        // Refused already at Parse; SET and SHOW get their placeholder plan from SetShowHook.
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

// ---------------------------------------------------------------- sessions

/// The connection's session, and what it was made for.
struct ConnectionSession {
    generation: u64,
    dates: Vec<NaiveDate>,
    service: Arc<DfSessionService>,
    /// The tables and views registered in it, by name.
    providers: HashMap<String, Arc<dyn TableProvider>>,
}

impl ConnectionSession {
    /// Whether a plan made earlier (a prepared statement) reads tables this session does
    /// not have: made before a reload or a change of dates, it must be planned again, as
    /// PostgreSQL re-plans a prepared statement whose tables changed.
    fn is_stale(&self, plan: &LogicalPlan) -> bool {
        let mut stale = false;
        let _ = plan.apply_with_subqueries(|node| {
            if let LogicalPlan::TableScan(scan) = node
                && let Some(current) = self.providers.get(scan.table_name.table())
                && let Ok(read) = source_as_provider(&scan.source)
                && !std::ptr::addr_eq(Arc::as_ptr(&read), Arc::as_ptr(current))
            {
                stale = true;
                return Ok(TreeNodeRecursion::Stop);
            }
            Ok(TreeNodeRecursion::Continue)
        });
        stale
    }
}

/// Answers every connection's queries, each in the connection's own session.
pub struct Router {
    served: Arc<Served>,
    hooks: Vec<Arc<dyn QueryHook>>,
    limits: Limits,
    parser: Arc<RouterParser>,
}

impl Router {
    pub fn new(served: Arc<Served>, limits: Limits) -> Arc<Router> {
        let hooks: Vec<Arc<dyn QueryHook>> = vec![
            Arc::new(Guard { served: Arc::clone(&served) }),
            Arc::new(CursorStatementHook),
            Arc::new(SetShowHook),
            Arc::new(TransactionStatementHook),
        ];
        // Parameter types and result columns are read off a statement's plan alone.
        let any = DfSessionService::new(Arc::new(SessionContext::new())).query_parser();
        Arc::new_cyclic(|router| Router {
            served,
            hooks,
            limits,
            parser: Arc::new(RouterParser { router: router.clone(), any }),
        })
    }

    async fn service<C: ClientInfo + ?Sized>(&self, client: &C) -> PgWireResult<Arc<DfSessionService>> {
        Ok(Arc::clone(&self.session(client).await?.service))
    }

    /// The connection's session for the data now served and its as-of dates.
    async fn session<C: ClientInfo + ?Sized>(&self, client: &C) -> PgWireResult<Arc<ConnectionSession>> {
        let login = client.session_extensions().get::<LoggedIn>().ok_or_else(|| error("28000", "not logged in"))?;
        let generation = self.served.current();
        let dates = session_dates(client.metadata(), &generation)?;
        if let Some(session) = client.session_extensions().get::<Arc<ConnectionSession>>().map(|s| Arc::clone(s.as_ref()))
            && session.generation == generation.number
            && session.dates == dates
        {
            return Ok(session);
        }
        let catalog = generation.catalog(&login.grant, &dates).await.map_err(|e| error("XX000", e.to_string()))?;
        let providers: HashMap<String, Arc<dyn TableProvider>> = catalog.providers().await.map_err(internal)?.into_iter().collect();
        let ctx = self.session_context(&catalog, &providers)?;
        let service = Arc::new(DfSessionService::new_with_hooks(Arc::new(ctx), self.hooks.clone()));
        let session = Arc::new(ConnectionSession { generation: generation.number, dates, service, providers });
        client.session_extensions().insert(Arc::clone(&session));
        Ok(session)
    }

    /// A session over the catalog's tables and views, with its own memory pool and the
    /// pg_catalog tools read.
    fn session_context(
        &self,
        catalog: &crate::catalog::Catalog,
        providers: &HashMap<String, Arc<dyn TableProvider>>,
    ) -> PgWireResult<SessionContext> {
        let config = session_config().map_err(internal)?;
        let runtime = RuntimeEnvBuilder::new().with_memory_limit(self.limits.memory_limit, 1.0).build_arc().map_err(internal)?;
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        for (name, provider) in providers {
            ctx.register_table(name.as_str(), Arc::clone(provider)).map_err(internal)?;
        }
        for function in catalog.functions() {
            ctx.register_udf(function);
        }
        setup_pg_catalog(&ctx, DATABASE, EmptyContextProvider).map_err(|e| internal(*e))?;
        super::pg_catalog::amend_pg_catalog(&ctx).map_err(internal)?;
        Ok(ctx)
    }

    fn deadline<C: ClientInfo + ?Sized>(&self, client: &C) -> tokio::time::Instant {
        // The client may ask for less time than the server allows, never more.
        // datafusion-postgres keeps `SET statement_timeout` in the metadata, in ms.
        let asked = client.metadata().get("statement_timeout_ms").and_then(|ms| ms.parse().ok()).map(Duration::from_millis);
        let limit = asked.map_or(self.limits.statement_timeout, |a| a.min(self.limits.statement_timeout));
        tokio::time::Instant::now() + limit
    }
}

/// Makes a response's rows, which are computed as they are sent, obey the deadline too.
fn with_deadline(mut response: Response, deadline: tokio::time::Instant) -> Response {
    if let Response::Query(query) = &mut response {
        let rows = std::mem::replace(&mut query.data_rows, Box::pin(futures::stream::empty()));
        query.data_rows = Box::pin(futures::stream::unfold(Some(rows), move |rows| async move {
            let mut rows = rows?;
            match tokio::time::timeout_at(deadline, rows.next()).await {
                Ok(Some(row)) => Some((row, Some(rows))),
                Ok(None) => None,
                Err(_) => Some((Err(timed_out()), None)),
            }
        }));
    }
    response
}

pub struct RouterParser {
    router: std::sync::Weak<Router>,
    any: Arc<Parser>,
}

#[async_trait]
impl QueryParser for RouterParser {
    type Statement = DfStatement;

    async fn parse_sql<C>(&self, client: &C, sql: &str, types: &[Option<Type>]) -> PgWireResult<Option<DfStatement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let router = self.router.upgrade().ok_or_else(|| internal("the server is stopping"))?;
        let service = router.service(client).await?;
        service.query_parser().parse_sql(client, sql, types).await
    }

    fn get_parameter_types(&self, statement: &DfStatement) -> PgWireResult<Vec<Type>> {
        self.any.get_parameter_types(statement)
    }

    fn get_result_schema(&self, statement: &DfStatement, format: Option<&Format>) -> PgWireResult<Vec<FieldInfo>> {
        self.any.get_result_schema(statement, format)
    }
}

#[async_trait]
impl SimpleQueryHandler for Router {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let deadline = self.deadline(client);
        let service = self.service(client).await?;
        let responses = tokio::time::timeout_at(deadline, <DfSessionService as SimpleQueryHandler>::do_query(&service, client, query))
            .await
            .map_err(|_| timed_out())??;
        Ok(responses.into_iter().map(|r| with_deadline(r, deadline)).collect())
    }
}

#[async_trait]
impl ExtendedQueryHandler for Router {
    type Statement = DfStatement;
    type QueryParser = RouterParser;

    fn query_parser(&self) -> Arc<RouterParser> {
        Arc::clone(&self.parser)
    }

    async fn do_query<C>(&self, client: &mut C, portal: &Portal<DfStatement>, max_rows: usize) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = DfStatement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let deadline = self.deadline(client);
        let session = self.session(client).await?;
        let replanned;
        let portal = match &portal.statement.statement {
            (sql, Some((_, plan))) if session.is_stale(plan) => {
                let parser = session.service.query_parser();
                let statement = parser.parse_sql(client, sql, &portal.statement.parameter_types).await?;
                let mut fresh = Portal::default();
                fresh.statement = Arc::new(StoredStatement::new(
                    portal.statement.id.clone(),
                    statement.unwrap_or_else(|| (sql.clone(), None)),
                    portal.statement.parameter_types.clone(),
                ));
                fresh.name = portal.name.clone();
                fresh.parameter_format = portal.parameter_format.clone();
                fresh.parameters = portal.parameters.clone();
                fresh.result_column_format = portal.result_column_format.clone();
                fresh.state = Arc::clone(&portal.state);
                replanned = fresh;
                &replanned
            }
            _ => portal,
        };
        let service = Arc::clone(&session.service);
        let response =
            tokio::time::timeout_at(deadline, <DfSessionService as ExtendedQueryHandler>::do_query(&service, client, portal, max_rows))
                .await
                .map_err(|_| timed_out())??;
        Ok(with_deadline(response, deadline))
    }
}
