//! A connection's queries: each runs in the connection's own DataFusion session, made from
//! the shared catalog for the user's grant and the session's as-of dates, with its share of
//! the server's memory and settings. The session is made again when the dates change (`SET
//! cwkpi.as_of`), a new export generation is served or the user's grant changes; a query
//! started before keeps its plan, and with it the data it began on.
//!
//! Statements pass the guard first (`guard`); the session itself is read-only by
//! construction (`read_only`). Every query runs under the connection's watch: its deadline
//! covers planning, execution and sending, and a CancelRequest stops it.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::NaiveDate;
use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::source_as_provider;
use datafusion::execution::memory_pool::MemoryPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::setup_pg_catalog;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::pgwire;
use datafusion_postgres::{DfSessionService, Parser, QueryHook};
use futures::{Sink, SinkExt, StreamExt};
use pgwire::api::portal::{Format, Portal, PortalExecutionState};
use pgwire::api::query::{
    ExtendedQueryHandler, SimpleQueryHandler, send_execution_response, send_partial_query_response,
};
use pgwire::api::results::{FieldInfo, Response};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, PgWireConnectionState, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::extendedquery::Execute;
use pgwire::messages::response::EmptyQueryResponse;

use super::auth::LoggedIn;
use super::data::{Generation, Served};
use super::guard::Guard;
use super::memory::QueryShare;
use super::read_only::{NoFiles, ReadOnlyTable, seal};
use super::settings::{AS_OF, WEEKS, check_dates, error, parse_as_of, parse_weeks};
use super::users::Users;
use super::watch::{ConnectionWatch, QueryTicket};
use crate::catalog::{DATABASE, session_config, weekly_dates};
use crate::scope::Grant;

type DfStatement = (String, Option<(Statement, LogicalPlan)>);

/// Settings a query may not exceed, whatever the client sets.
#[derive(Debug, Clone)]
pub struct Limits {
    pub statement_timeout: Duration,
    /// The server's memory, shared by every connection's queries.
    pub memory_limit: usize,
    /// What one query may take of it (a connection runs one query at a time).
    pub query_memory: usize,
}

fn fatal(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("FATAL".into(), code.into(), message.into())))
}

fn internal(e: impl std::fmt::Display) -> PgWireError {
    error("XX000", e.to_string())
}

fn timed_out() -> PgWireError {
    error("57014", "canceling statement due to statement timeout")
}

fn cancelled() -> PgWireError {
    error("57014", "canceling statement due to user request")
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
    check_dates(last, weeks)?;
    Ok(weekly_dates(last, weeks))
}

// ---------------------------------------------------------------- sessions

/// The connection's session, and what it was made for.
struct ConnectionSession {
    generation: u64,
    grant: Grant,
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
    /// The users file as last loaded: a session follows its user's grant as it is now.
    users: Arc<RwLock<Arc<Users>>>,
    /// The server's memory, which every session's queries share.
    memory: Arc<dyn MemoryPool>,
    hooks: Vec<Arc<dyn QueryHook>>,
    limits: Limits,
    parser: Arc<RouterParser>,
}

impl Router {
    pub fn new(
        served: Arc<Served>,
        users: Arc<RwLock<Arc<Users>>>,
        memory: Arc<dyn MemoryPool>,
        limits: Limits,
    ) -> Arc<Router> {
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
            users,
            memory,
            hooks,
            limits,
            parser: Arc::new(RouterParser { router: router.clone(), any }),
        })
    }

    async fn service<C: ClientInfo + ?Sized>(&self, client: &C) -> PgWireResult<Arc<DfSessionService>> {
        Ok(Arc::clone(&self.session(client).await?.service))
    }

    /// The user's grant as the users file says now; a user no longer in it is logged out.
    fn grant<C: ClientInfo + ?Sized>(&self, client: &C) -> PgWireResult<Grant> {
        let login = client.session_extensions().get::<LoggedIn>().ok_or_else(|| error("28000", "not logged in"))?;
        let users = Arc::clone(&self.users.read().unwrap_or_else(|e| e.into_inner()));
        match users.get(&login.user) {
            Some(user) if user.verifier.is_some() => Ok(user.grant.clone()),
            _ => Err(fatal("28000", format!("user \"{}\" may no longer connect", login.user))),
        }
    }

    /// The connection's session for the data now served, the user's grant and the as-of
    /// dates.
    async fn session<C: ClientInfo + ?Sized>(&self, client: &C) -> PgWireResult<Arc<ConnectionSession>> {
        let grant = self.grant(client)?;
        let generation = self.served.current();
        let dates = session_dates(client.metadata(), &generation)?;
        if let Some(session) =
            client.session_extensions().get::<Arc<ConnectionSession>>().map(|s| Arc::clone(s.as_ref()))
            && session.generation == generation.number
            && session.dates == dates
            && session.grant == grant
        {
            return Ok(session);
        }
        let catalog = generation.catalog(&grant, &dates).await.map_err(|e| error("XX000", e.to_string()))?;
        let providers: HashMap<String, Arc<dyn TableProvider>> = catalog
            .providers()
            .await
            .map_err(internal)?
            .into_iter()
            .map(|(name, p)| (name.clone(), ReadOnlyTable::wrap(&name, p)))
            .collect();
        let user = client.session_extensions().get::<LoggedIn>().map(|l| l.user.clone()).unwrap_or_default();
        let ctx = self.session_context(&catalog, &providers, &user)?;
        let service = Arc::new(DfSessionService::new_with_hooks(Arc::new(ctx), self.hooks.clone()));
        let session = Arc::new(ConnectionSession { generation: generation.number, grant, dates, service, providers });
        client.session_extensions().insert(Arc::clone(&session));
        Ok(session)
    }

    /// A read-only session over the catalog's tables and views, with its share of the
    /// server's memory, no files, and the pg_catalog tools read.
    fn session_context(
        &self,
        catalog: &crate::catalog::Catalog,
        providers: &HashMap<String, Arc<dyn TableProvider>>,
        user: &str,
    ) -> PgWireResult<SessionContext> {
        let config = session_config().map_err(internal)?;
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(QueryShare::new(Arc::clone(&self.memory), self.limits.query_memory)))
            .with_object_store_registry(Arc::new(NoFiles))
            .build_arc()
            .map_err(internal)?;
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        for (name, provider) in providers {
            ctx.register_table(name.as_str(), Arc::clone(provider)).map_err(internal)?;
        }
        for function in catalog.functions() {
            ctx.register_udf(function);
        }
        super::bounded_functions::bound_functions(&ctx, self.limits.query_memory);
        setup_pg_catalog(&ctx, DATABASE, EmptyContextProvider).map_err(|e| internal(*e))?;
        super::pg_catalog::amend_pg_catalog(&ctx).map_err(internal)?;
        super::pg_functions::register(&ctx, user);
        Ok(seal(&ctx))
    }

    /// The query's deadline and its ticket with the connection's watch.
    fn start<C: ClientInfo + ?Sized>(&self, client: &C) -> PgWireResult<(tokio::time::Instant, Arc<QueryTicket>)> {
        // The client may ask for less time than the server allows, never more.
        // datafusion-postgres keeps `SET statement_timeout` in the metadata, in ms.
        let asked =
            client.metadata().get("statement_timeout_ms").and_then(|ms| ms.parse().ok()).map(Duration::from_millis);
        let limit = asked
            .filter(|a| !a.is_zero())
            .map_or(self.limits.statement_timeout, |a| a.min(self.limits.statement_timeout));
        let deadline = tokio::time::Instant::now() + limit;
        let watch =
            client.session_extensions().get::<Arc<ConnectionWatch>>().ok_or_else(|| error("28000", "not logged in"))?;
        Ok((deadline, watch.start_query(deadline)))
    }
}

/// Runs `work` until its deadline or a cancel, whichever comes first.
async fn bounded<T>(
    deadline: tokio::time::Instant,
    ticket: &QueryTicket,
    work: impl std::future::Future<Output = PgWireResult<T>>,
) -> PgWireResult<T> {
    tokio::select! {
        result = tokio::time::timeout_at(deadline, work) => result.map_err(|_| timed_out())?,
        _ = ticket.cancelled() => Err(cancelled()),
    }
}

/// Makes a response's rows, which are computed as they are sent, obey the deadline and a
/// cancel too; the query runs until its rows are sent or dropped.
fn bounded_rows(mut response: Response, deadline: tokio::time::Instant, ticket: Arc<QueryTicket>) -> Response {
    if let Response::Query(query) = &mut response {
        let rows = std::mem::replace(&mut query.data_rows, Box::pin(futures::stream::empty()));
        query.data_rows = Box::pin(futures::stream::unfold(Some((rows, ticket)), move |state| async move {
            let (mut rows, ticket) = state?;
            let next = tokio::select! {
                next = tokio::time::timeout_at(deadline, rows.next()) => next.map_err(|_| timed_out()),
                _ = ticket.cancelled() => Err(cancelled()),
            };
            match next {
                Ok(Some(row)) => Some((row, Some((rows, ticket)))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
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
        service.query_parser().parse_sql(client, &super::compat::rewrite(sql), types).await
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
        let (deadline, ticket) = self.start(client)?;
        let service = bounded(deadline, &ticket, self.service(client)).await?;
        let responses = bounded(
            deadline,
            &ticket,
            <DfSessionService as SimpleQueryHandler>::do_query(&service, client, &super::compat::rewrite(query)),
        )
        .await?;
        Ok(responses.into_iter().map(|r| bounded_rows(r, deadline, Arc::clone(&ticket))).collect())
    }
}

#[async_trait]
impl ExtendedQueryHandler for Router {
    type Statement = DfStatement;
    type QueryParser = RouterParser;

    fn query_parser(&self) -> Arc<RouterParser> {
        Arc::clone(&self.parser)
    }

    /// As pgwire's own, except that an Execute that asks for every row (max_rows 0, as
    /// JDBC, Npgsql and psycopg do) sends them as they are computed: pgwire's portal would
    /// gather the whole result in memory first.
    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.as_deref().unwrap_or(pgwire::api::DEFAULT_NAME);
        let portal = match client.portal_store().get_portal(name) {
            Some(pgwire::api::store::Entry::Value(portal)) => portal,
            _ => return self._on_execute(client, message).await,
        };
        let initial = matches!(*portal.state().lock().await, PortalExecutionState::Initial);
        if message.max_rows != 0 || !initial {
            return self._on_execute(client, message).await;
        }
        if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        let mut transaction = client.transaction_status();
        client.set_state(PgWireConnectionState::QueryInProgress);
        let result = match ExtendedQueryHandler::do_query(self, client, portal.as_ref(), 0).await {
            Ok(Response::Query(mut rows)) => send_partial_query_response(client, &mut rows, 0).await.map(|_| ()),
            Ok(Response::EmptyQuery) => client
                .feed(PgWireBackendMessage::EmptyQueryResponse(EmptyQueryResponse::new()))
                .await
                .map_err(Into::into),
            Ok(Response::Execution(tag)) => send_execution_response(client, tag).await,
            Ok(Response::TransactionStart(tag)) => {
                transaction = transaction.to_in_transaction_state();
                send_execution_response(client, tag).await
            }
            Ok(Response::TransactionEnd(tag)) => {
                transaction = transaction.to_idle_state();
                client.portal_store().rm_portal(pgwire::api::DEFAULT_NAME);
                send_execution_response(client, tag).await
            }
            Ok(Response::Error(e)) => {
                transaction = transaction.to_error_state();
                client.send(PgWireBackendMessage::ErrorResponse((*e).into())).await.map_err(Into::into)
            }
            Ok(_) => Err(error("25006", "cannot execute COPY: cwkpi serves read-only views")),
            Err(e) => Err(e),
        };
        *portal.state().lock().await = PortalExecutionState::Finished;
        client.set_state(PgWireConnectionState::ReadyForQuery);
        client.set_transaction_status(transaction);
        result
    }

    async fn do_query<C>(&self, client: &mut C, portal: &Portal<DfStatement>, max_rows: usize) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = DfStatement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let (deadline, ticket) = self.start(client)?;
        let session = bounded(deadline, &ticket, self.session(client)).await?;
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
        let response = bounded(
            deadline,
            &ticket,
            <DfSessionService as ExtendedQueryHandler>::do_query(&service, client, portal, max_rows),
        )
        .await?;
        Ok(bounded_rows(response, deadline, ticket))
    }
}
