//! `cwkpi serve`: the views over PostgreSQL's wire protocol, for analysts' own tools
//! (psql, DBeaver, R, Python, Npgsql-based ones: see docs/serve.md).
//!
//! It sits on top of the catalog and changes nothing in it:
//! - `users`: the users file and SCRAM verifiers;
//! - `auth`: logging in, the connection limits, failed-login backoff and the TLS requirement;
//! - `watch`: each connection's time limits (login, idle, statement, sending) and cancel;
//! - `data`: the export being served, reloaded in the background when it changes;
//! - `session`: each connection's queries, in its own session over the shared catalog for
//!   the user's grant and dates, with its share of the server's memory (`memory`; and
//!   `bounded_functions` for the functions that could make more than that share, and
//!   `join_limit` for joins that would run without yielding);
//! - `guard` and `read_only`: statements that are not reads are refused, and the sessions
//!   could not change anything if one got through;
//! - `settings`: `SET cwkpi.as_of` and `cwkpi.weeks`, and their checks;
//! - `pg_catalog`: what cwkpi adds to datafusion-postgres's `pg_catalog` (the views'
//!   comments, `pg_type.typreceive` as Npgsql reads it).

pub mod auth;
pub mod bounded_functions;
pub mod compat;
pub mod data;
pub mod guard;
pub mod join_limit;
pub mod memory;
pub mod pg_catalog;
pub mod pg_functions;
pub mod read_only;
pub mod session;
pub mod settings;
pub mod users;
pub mod watch;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use datafusion_postgres::pgwire;
use pgwire::api::cancel::CancelHandler;
use pgwire::api::{ConnectionManager, PgWireServerHandlers, RandomPidSecretKeyGenerator};
use pgwire::tokio::TlsAcceptor;
use tokio::net::TcpListener;

use crate::error::{Error, Result};
use auth::{LoginShared, ScramLogin};
use data::{Served, Source};
use session::{Limits, Router};
use users::Users;
use watch::{Cancel, ConnectionWatch, Connections, Timeouts};

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub source: Source,
    pub listen: String,
    pub users: PathBuf,
    /// The key of unknown users' made-up salts (made at the first start if missing).
    pub login_secret: PathBuf,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub limits: Limits,
    /// Logged-in connections, in all and per user.
    pub max_connections: usize,
    pub max_connections_per_user: usize,
    pub idle_timeout: Duration,
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
    let users = Arc::new(std::sync::RwLock::new(Arc::new(users)));
    let shared = Arc::new(LoginShared {
        users: Arc::clone(&users),
        tls_required: tls.is_some(),
        connections: Arc::new(ConnectionManager::new()),
        watches: Arc::new(Connections::default()),
        pids: Arc::new(RandomPidSecretKeyGenerator::default()),
        mock_key: auth::login_secret(&options.login_secret)?,
        places: Arc::new(tokio::sync::Semaphore::new(options.max_connections.max(1))),
        places_per_user: options.max_connections_per_user.max(1),
        per_user: Arc::default(),
        failures: auth::Backoff::default(),
    });
    let memory = memory::server_pool(options.limits.memory_limit);
    let router = Router::new(Arc::clone(&served), users, memory, options.limits.clone());
    tokio::spawn(watch(Arc::clone(&served), Arc::clone(&shared), options.users.clone(), options.poll));

    announce(address, &served, tls.is_some())?;
    let timeouts = Timeouts { login: LOGIN_TIMEOUT, idle: options.idle_timeout, send_grace: SEND_GRACE };
    let logins = LoginsInProgress::default();
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
                let accepted = tokio::time::Instant::now();
                let Some(admission) = logins.admit(peer.ip()) else {
                    tracing::warn!(%peer, "connection closed: too many logins waiting from its address or in all");
                    continue;
                };
                keep_alive(&socket, peer);
                let (router, shared, tls, timeouts) = (Arc::clone(&router), Arc::clone(&shared), tls.clone(), timeouts.clone());
                tokio::spawn(async move {
                    // A few logins from one address at a time; the others wait their turn
                    // within the login timeout.
                    let Ok(Ok(place)) = tokio::time::timeout_at(accepted + timeouts.login, Arc::clone(&admission.places).acquire_owned()).await
                    else {
                        tracing::info!(%peer, "connection closed by the server: login not finished within {:?}", timeouts.login);
                        return;
                    };
                    let watch = ConnectionWatch::new(peer, timeouts, accepted, Box::new((admission, place)));
                    let connection = Arc::new(Connection {
                        router,
                        login: Arc::new(ScramLogin::new(Arc::clone(&shared), Arc::clone(&watch))),
                        cancel: Arc::new(Cancel(Arc::clone(&shared.watches))),
                    });
                    tokio::select! {
                        ended = pgwire::tokio::process_socket(socket, tls, connection) => {
                            if let Err(e) = ended {
                                tracing::debug!(%peer, error = %e, "connection ended with an error");
                            }
                        }
                        reason = watch.ended() => {
                            tracing::info!(%peer, user = watch.user().unwrap_or_default(), reason, "connection closed by the server");
                        }
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

/// A connection must log in within this time of its accept, waiting included.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Logins in progress at once from one address; more connections from it wait their turn,
/// up to a number, then are closed at once. Sockets that never log in cost little, and
/// cannot crowd out anyone else's login (the places are per address), nor a burst of a
/// tool's connection pool from one address (they wait, then log in).
const LOGINS_PER_ADDRESS: usize = 16;
const WAITING_PER_ADDRESS: usize = 128;
/// Connections not yet logged in, in all.
const NOT_LOGGED_IN: usize = 1024;
/// Past its deadline, a statement whose rows the client does not read ends its connection
/// after this much more time.
const SEND_GRACE: Duration = Duration::from_secs(5);

/// The connections not yet logged in, by address.
#[derive(Default, Clone)]
struct LoginsInProgress(Arc<std::sync::Mutex<HashMap<IpAddr, AddressLogins>>>);

struct AddressLogins {
    /// Logging in now.
    places: Arc<tokio::sync::Semaphore>,
    /// Logging in or waiting to.
    admitted: usize,
}

/// A connection let in to log in; given back when it logs in or ends.
struct Admission {
    logins: LoginsInProgress,
    address: IpAddr,
    places: Arc<tokio::sync::Semaphore>,
}

impl LoginsInProgress {
    fn admit(&self, address: IpAddr) -> Option<Admission> {
        let mut by_address = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let all: usize = by_address.values().map(|a| a.admitted).sum();
        let logins = by_address.entry(address).or_insert_with(|| AddressLogins {
            places: Arc::new(tokio::sync::Semaphore::new(LOGINS_PER_ADDRESS)),
            admitted: 0,
        });
        if logins.admitted >= LOGINS_PER_ADDRESS + WAITING_PER_ADDRESS || all >= NOT_LOGGED_IN {
            return None;
        }
        logins.admitted += 1;
        Some(Admission { logins: self.clone(), address, places: Arc::clone(&logins.places) })
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut by_address = self.logins.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(logins) = by_address.get_mut(&self.address) {
            logins.admitted -= 1;
            if logins.admitted == 0 {
                by_address.remove(&self.address);
            }
        }
    }
}

/// TCP keepalive, so a client that vanished without closing (a laptop put to sleep, a
/// dropped VPN) is noticed within minutes, not hours.
fn keep_alive(socket: &tokio::net::TcpStream, peer: SocketAddr) {
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(60))
        .with_interval(Duration::from_secs(10))
        .with_retries(6);
    if let Err(e) = socket2::SockRef::from(socket).set_tcp_keepalive(&keepalive) {
        tracing::debug!(%peer, error = %e, "cannot set TCP keepalive");
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
    cancel: Arc<Cancel>,
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

/// Loads the users file again: a user no longer in it (or without a usable password) is
/// logged out at once; a changed grant applies from each session's next statement.
fn reload_users(shared: &LoginShared, path: &Path) {
    match Users::load(path) {
        Ok(users) => {
            tracing::info!(users = users.len(), "users file reloaded");
            for watch in shared.watches.all() {
                if let Some(user) = watch.user()
                    && users.get(&user).is_none_or(|u| u.verifier.is_none())
                {
                    watch.end("its user was removed from the users file");
                }
            }
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
