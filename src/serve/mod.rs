//! `cwkpi serve`: the views over PostgreSQL's wire protocol, for analysts' own tools
//! (psql, DBeaver, R, Python, Npgsql-based ones: see docs/serve.md).
//!
//! It sits on top of the catalog and changes nothing in it:
//! - `users`: the users file and SCRAM verifiers;
//! - `auth`: logging in, the connection limit and the TLS requirement;
//! - `data`: the export being served, reloaded in the background when it changes;
//! - `session`: each connection's queries, in its own session over the shared catalog for
//!   the user's grant and dates, behind a read-only guard;
//! - `pg_catalog`: what cwkpi adds to datafusion-postgres's `pg_catalog` (the views'
//!   comments, `pg_type.typreceive` as Npgsql reads it).

pub mod auth;
pub mod data;
pub mod pg_catalog;
pub mod session;
pub mod users;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use datafusion_postgres::pgwire;
use pgwire::api::cancel::{CancelHandler, DefaultCancelHandler};
use pgwire::api::{ConnectionManager, PgWireServerHandlers, RandomPidSecretKeyGenerator};
use pgwire::tokio::TlsAcceptor;
use tokio::net::TcpListener;

use crate::error::{Error, Result};
use auth::{LoginShared, ScramLogin};
use data::{Served, Source};
use session::{Limits, Router};
use users::Users;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub source: Source,
    pub listen: String,
    pub users: PathBuf,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub limits: Limits,
    pub max_connections: usize,
    /// How often the export folder is looked at for changes.
    pub poll: Duration,
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn run(options: ServeOptions) -> Result<()> {
    let users = Users::load(&options.users)?;
    if users.is_empty() {
        return Err(Error::Usage(format!("users file {}: no [[user]]: nobody could log in", options.users.display())));
    }
    let tls = options.tls.as_ref().map(|(cert, key)| tls_acceptor(cert, key)).transpose()?;
    let listener = TcpListener::bind(&options.listen)
        .await
        .map_err(|e| Error::Usage(format!("cannot listen on {}: {e}", options.listen)))?;
    let address = listener.local_addr().map_err(|e| Error::io("cannot read the listening address", e))?;

    let served = Arc::new(Served::start(options.source.clone()).await?);
    let shared = Arc::new(LoginShared {
        users: Arc::new(std::sync::RwLock::new(Arc::new(users))),
        tls_required: tls.is_some(),
        connections: Arc::new(ConnectionManager::new()),
        pids: Arc::new(RandomPidSecretKeyGenerator::default()),
        mock_key: users::random_bytes::<32>()?,
    });
    let router = Router::new(Arc::clone(&served), options.limits.clone());
    tokio::spawn(watch(Arc::clone(&served), Arc::clone(&shared), options.users.clone(), options.poll));

    announce(address, &served, tls.is_some())?;
    let slots = Arc::new(tokio::sync::Semaphore::new(options.max_connections.max(1)));
    let mut stop = stop_signal()?;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (socket, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot accept a connection");
                        continue;
                    }
                };
                // Over the limit, the connection is still spoken to, to be told why.
                let slot = Arc::clone(&slots).try_acquire_owned().ok();
                let connection = Arc::new(Connection {
                    router: Arc::clone(&router),
                    login: Arc::new(ScramLogin::new(Arc::clone(&shared), slot.is_none())),
                    cancel: Arc::new(DefaultCancelHandler::new(Arc::clone(&shared.connections))),
                });
                let tls = tls.clone();
                tokio::spawn(async move {
                    let _slot = slot;
                    if let Err(e) = pgwire::tokio::process_socket(socket, tls, connection).await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
            _ = stop.recv() => {
                tracing::info!("stopping");
                return Ok(());
            }
        }
    }
}

/// The first line on stdout says where the server listens (with `--listen 127.0.0.1:0`,
/// the port the system chose).
fn announce(address: SocketAddr, served: &Served, tls: bool) -> Result<()> {
    use std::io::Write;
    let generation = served.current();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "cwkpi serve: listening on {address}{}, database {}, as of {}",
        if tls { " (TLS only)" } else { "" },
        crate::catalog::DATABASE,
        generation.default_as_of
    )
    .and_then(|_| out.flush())
    .map_err(|e| Error::io("cannot write to stdout", e))
}

/// One connection's handlers: the shared query router, its own login exchange.
struct Connection {
    router: Arc<Router>,
    login: Arc<ScramLogin>,
    cancel: Arc<DefaultCancelHandler>,
}

impl PgWireServerHandlers for Connection {
    fn simple_query_handler(&self) -> Arc<impl pgwire::api::query::SimpleQueryHandler> {
        Arc::clone(&self.router)
    }

    fn extended_query_handler(&self) -> Arc<impl pgwire::api::query::ExtendedQueryHandler> {
        Arc::clone(&self.router)
    }

    fn startup_handler(&self) -> Arc<impl pgwire::api::auth::StartupHandler> {
        Arc::clone(&self.login)
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        Arc::clone(&self.cancel)
    }
}

/// Reloads the export when its files change (looked at every `poll`) and, on SIGHUP, the
/// export and the users file. A reload that fails is logged and the old data kept.
async fn watch(served: Arc<Served>, shared: Arc<LoginShared>, users_file: PathBuf, poll: Duration) {
    let mut hangups = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; reloading on file changes only");
            None
        }
    };
    let mut ticks = tokio::time::interval(poll);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let force = tokio::select! {
            _ = ticks.tick() => false,
            Some(()) = async { match hangups.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => true,
        };
        if force {
            reload_users(&shared, &users_file);
        }
        match served.reload(force).await {
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "the export was not reloaded; the previous one is still served"),
        }
    }
}

fn reload_users(shared: &LoginShared, path: &Path) {
    match Users::load(path) {
        Ok(users) => {
            tracing::info!(users = users.len(), "users file reloaded");
            *shared.users.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(users);
        }
        Err(e) => tracing::error!(error = %e, "the users file was not reloaded; the previous users stay"),
    }
}

fn stop_signal() -> Result<tokio::sync::mpsc::Receiver<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let (send, receive) = tokio::sync::mpsc::channel(1);
    let mut terminate = signal(SignalKind::terminate()).map_err(|e| Error::io("cannot listen for SIGTERM", e))?;
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        let _ = send.send(()).await;
    });
    Ok(receive)
}

/// TLS with the certificate chain and private key of PEM files (rustls, ring).
fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor> {
    use pgwire::tokio::tokio_rustls::rustls;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |path: &Path, e: &dyn std::fmt::Display| Error::Usage(format!("TLS: {}: {e}", path.display()));
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad(cert, &e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(cert, &e))?;
    if certs.is_empty() {
        return Err(bad(cert, &"no certificate in the file"));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, &e))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(cert, &e))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| bad(key, &e))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
