//! Logging in: SCRAM-SHA-256 (RFC 5802/7677, as PostgreSQL does it) against the users
//! file's verifiers, plus the connection limits and the TLS requirement.
//!
//! A connection takes one of the server's places only once its user has logged in, so
//! sockets that never log in cannot lock anyone out (they have their own cap and timeout,
//! in `mod.rs` and `watch`). Failed logins slow down: each failure for the same user or
//! from the same address doubles the wait before the refusal is sent (PostgreSQL's
//! `auth_delay`, made exponential); a successful login is never delayed.
//!
//! pgwire's own SCRAM handler needs each password's salted form; a verifier holds only
//! StoredKey and ServerKey, which is all the exchange needs on the server side. An unknown
//! user or one without a usable verifier goes through the same exchange with made-up keys
//! and fails at its end, as PostgreSQL does, so a client cannot tell which users exist.

use std::collections::HashMap;
use std::fmt::Debug;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use datafusion_postgres::pgwire;
use futures::{Sink, SinkExt};
use pgwire::api::auth::{
    DefaultServerParameterProvider, StartupHandler, finish_authentication, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use pgwire::api::{ClientInfo, ConnectionManager, METADATA_USER, PgWireConnectionState, PidSecretKeyGenerator};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::startup::{Authentication, PasswordMessageFamily};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tokio::sync::Mutex;

use super::users::{ScramVerifier, User, Users, hmac_sha256, random_bytes};
use super::watch::{ConnectionWatch, Connections};
use crate::scope::Grant;

/// What a connection proved at login; the query side reads the grant from here only.
#[derive(Debug)]
pub struct LoggedIn {
    pub user: String,
    pub grant: Grant,
}

/// What every connection's login shares.
pub struct LoginShared {
    pub users: Arc<std::sync::RwLock<Arc<Users>>>,
    pub tls_required: bool,
    pub connections: Arc<ConnectionManager>,
    /// The logged-in connections, for cancel requests and users-file changes.
    pub watches: Arc<Connections>,
    pub pids: Arc<dyn PidSecretKeyGenerator>,
    /// Keys the made-up salts of unknown users, so they look the same on every attempt,
    /// also across restarts (see `login_secret`).
    pub mock_key: [u8; 32],
    /// The places of logged-in connections (`--max-connections`).
    pub places: Arc<tokio::sync::Semaphore>,
    /// At most this many connections per user (`--max-connections-per-user`).
    pub places_per_user: usize,
    pub per_user: Arc<std::sync::Mutex<HashMap<String, usize>>>,
    pub failures: Backoff,
}

/// A user's place among the logged-in connections; given back when the connection ends.
struct UserPlace {
    user: String,
    per_user: Arc<std::sync::Mutex<HashMap<String, usize>>>,
    _place: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for UserPlace {
    fn drop(&mut self) {
        let mut counts = self.per_user.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.user);
            }
        }
    }
}

impl LoginShared {
    /// A place for a connection of `user`, or PostgreSQL's refusal.
    fn take_place(&self, user: &str) -> PgWireResult<UserPlace> {
        let place = Arc::clone(&self.places)
            .try_acquire_owned()
            .map_err(|_| fatal("53300", "sorry, too many clients already"))?;
        let mut counts = self.per_user.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(user.to_string()).or_default();
        if *count >= self.places_per_user {
            return Err(fatal("53300", &format!("too many connections for role \"{user}\"")));
        }
        *count += 1;
        Ok(UserPlace { user: user.to_string(), per_user: Arc::clone(&self.per_user), _place: place })
    }
}

/// Failed logins per user and per address, and the wait they earn.
#[derive(Default)]
pub struct Backoff {
    failures: std::sync::Mutex<HashMap<String, (u32, Instant)>>,
}

/// The first failure waits this long, each further one twice as long as the one before,
/// up to `MAX_DELAY`; failures older than `FORGET_AFTER` are forgotten.
const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(10);
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);

impl Backoff {
    /// Counts a failure of `user` from `address`; the wait before it is answered.
    pub fn failed(&self, user: &str, address: IpAddr) -> (u32, Duration) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        failures.retain(|_, (_, last)| now.duration_since(*last) < FORGET_AFTER);
        let mut most = 0;
        for key in [format!("user {user}"), format!("address {address}")] {
            let entry = failures.entry(key).or_insert((0, now));
            entry.0 += 1;
            entry.1 = now;
            most = most.max(entry.0);
        }
        let delay = FIRST_DELAY.saturating_mul(1 << (most - 1).min(16)).min(MAX_DELAY);
        (most, delay)
    }

    /// A successful login clears its user's and address's failures.
    pub fn succeeded(&self, user: &str, address: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(&format!("user {user}"));
        failures.remove(&format!("address {address}"));
    }
}

/// The key of unknown users' made-up salts: read from `path`, or made and written there
/// (readable by the owner only) at the first start. Without it, an attacker could tell an
/// unknown user from a known one by the salt changing across restarts.
pub fn login_secret(path: &std::path::Path) -> crate::error::Result<[u8; 32]> {
    use crate::error::Error;
    if let Ok(bytes) = std::fs::read(path) {
        return <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
            Error::Usage(format!(
                "{}: the login secret must be 32 bytes; delete the file to make a new one",
                path.display()
            ))
        });
    }
    let secret = random_bytes::<32>()?;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io_path("create", path, e))?;
    file.write_all(&secret).map_err(|e| Error::io_path("write", path, e))?;
    Ok(secret)
}

enum State {
    Initial,
    /// Boxed: an exchange is large, and most states are not one.
    ServerFirstSent(Box<Exchange>),
    Done,
}

struct Exchange {
    user: String,
    /// `None` for an unknown user: the exchange runs to its end and then fails.
    known: Option<(ScramVerifier, Grant)>,
    verifier: ScramVerifier,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

/// One per connection: it holds the SASL exchange's state.
pub struct ScramLogin {
    shared: Arc<LoginShared>,
    watch: Arc<ConnectionWatch>,
    params: DefaultServerParameterProvider,
    state: Mutex<State>,
}

impl ScramLogin {
    pub fn new(shared: Arc<LoginShared>, watch: Arc<ConnectionWatch>) -> ScramLogin {
        let mut params = DefaultServerParameterProvider::default();
        params.server_version = format!("{} (cwkpi {})", super::pg_functions::PG_VERSION, env!("CARGO_PKG_VERSION"));
        params.is_superuser = false;
        params.default_transaction_read_only = true;
        ScramLogin { shared, watch, params, state: Mutex::new(State::Initial) }
    }

    fn user_named(&self, name: &str) -> Option<User> {
        let users = self.shared.users.read().unwrap_or_else(|e| e.into_inner());
        users.get(name).cloned()
    }

    /// The exchange for `user`: their verifier, or made-up keys that no proof matches.
    fn verifier_for(&self, user: &str) -> PgWireResult<(ScramVerifier, Option<(ScramVerifier, Grant)>)> {
        match self.user_named(user) {
            Some(User { verifier: Some(v), grant, .. }) => Ok((v.clone(), Some((v, grant)))),
            _ => {
                let salt = hmac_sha256(&self.shared.mock_key, user.as_bytes())[..16].to_vec();
                let keys = random_bytes::<64>().map_err(|e| fatal("XX000", &e.to_string()))?;
                let mock = ScramVerifier {
                    iterations: super::users::ITERATIONS,
                    salt,
                    stored_key: keys[..32].to_vec(),
                    server_key: keys[32..].to_vec(),
                };
                Ok((mock, None))
            }
        }
    }
}

fn fatal(code: &str, message: &str) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("FATAL".into(), code.into(), message.into())))
}

/// PostgreSQL's answer to any failed login, whatever the reason (logged, and delayed, by
/// `on_startup`).
fn login_failed(user: &str) -> PgWireError {
    fatal("28P01", &format!("password authentication failed for user \"{user}\""))
}

/// The SCRAM-SHA-256 data of a SASLInitialResponse: mechanism name, NUL, length, data.
/// Parsed here rather than by pgwire, whose decoder assumes a well-formed message.
fn sasl_initial_response(message: &PasswordMessageFamily) -> Option<Vec<u8>> {
    match message {
        PasswordMessageFamily::SASLInitialResponse(initial) => {
            (initial.auth_method == "SCRAM-SHA-256").then(|| initial.data.as_ref().map(|d| d.to_vec())).flatten()
        }
        PasswordMessageFamily::Raw(body) => {
            let nul = body.iter().position(|b| *b == 0)?;
            if &body[..nul] != b"SCRAM-SHA-256" {
                return None;
            }
            let rest = body.get(nul + 1..)?;
            let length = i32::from_be_bytes(rest.get(..4)?.try_into().ok()?);
            let data = rest.get(4..)?;
            (usize::try_from(length).ok() == Some(data.len())).then(|| data.to_vec())
        }
        _ => None,
    }
}

/// The data of a SASLResponse (the whole message body).
fn sasl_response(message: &PasswordMessageFamily) -> Vec<u8> {
    match message {
        PasswordMessageFamily::SASLResponse(response) => response.data.to_vec(),
        PasswordMessageFamily::Raw(body) => body.to_vec(),
        _ => Vec::new(),
    }
}

#[async_trait]
impl StartupHandler for ScramLogin {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let result = self.step(client, message).await;
        if let Err(PgWireError::UserError(info)) = &result
            && info.code == "28P01"
        {
            let user = client.metadata().get(METADATA_USER).cloned().unwrap_or_default();
            let peer = client.socket_addr();
            let (failures, delay) = self.shared.failures.failed(&user, peer.ip());
            tracing::warn!(user, %peer, failures, delay_ms = delay.as_millis() as u64, "login refused");
            tokio::time::sleep(delay).await;
        }
        result
    }
}

impl ScramLogin {
    async fn step<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                if self.shared.tls_required && !client.is_secure() {
                    return Err(fatal("28000", "this server accepts TLS connections only (sslmode=require)"));
                }
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                client
                    .send(PgWireBackendMessage::Authentication(Authentication::SASL(vec!["SCRAM-SHA-256".to_owned()])))
                    .await?;
            }
            PgWireFrontendMessage::PasswordMessageFamily(message) => {
                let user = client.metadata().get(METADATA_USER).cloned().ok_or(PgWireError::UserNameRequired)?;
                let mut state = self.state.lock().await;
                match std::mem::replace(&mut *state, State::Done) {
                    State::Initial => {
                        // A cleartext or MD5 password where SCRAM was asked for is refused.
                        let data = sasl_initial_response(&message).ok_or_else(|| login_failed(&user))?;
                        let client_first = std::str::from_utf8(&data).map_err(|_| login_failed(&user))?;
                        // client-first = gs2-header client-first-bare; gs2-header = flag "," [authzid] ","
                        let mut parts = client_first.splitn(3, ',');
                        let (flag, authzid, bare) = (parts.next(), parts.next(), parts.next());
                        let (Some(flag @ ("n" | "y")), Some(authzid), Some(bare)) = (flag, authzid, bare) else {
                            // "p=…" asks for channel binding, which is never offered.
                            return Err(login_failed(&user));
                        };
                        let client_nonce =
                            bare.split(',').find_map(|p| p.strip_prefix("r=")).ok_or_else(|| login_failed(&user))?;
                        let (verifier, known) = self.verifier_for(&user)?;
                        let server_nonce = random_bytes::<18>().map_err(|e| fatal("XX000", &e.to_string()))?;
                        let nonce = format!("{client_nonce}{}", B64.encode(server_nonce));
                        let server_first =
                            format!("r={nonce},s={},i={}", B64.encode(&verifier.salt), verifier.iterations);
                        client
                            .send(PgWireBackendMessage::Authentication(Authentication::SASLContinue(
                                server_first.clone().into(),
                            )))
                            .await?;
                        *state = State::ServerFirstSent(Box::new(Exchange {
                            user,
                            known,
                            verifier,
                            gs2_header: format!("{flag},{authzid},"),
                            client_first_bare: bare.to_owned(),
                            server_first,
                            nonce,
                        }));
                    }
                    State::ServerFirstSent(exchange) => {
                        let response = sasl_response(&message);
                        let client_final = std::str::from_utf8(&response).map_err(|_| login_failed(&exchange.user))?;
                        let (without_proof, proof) =
                            client_final.rsplit_once(",p=").ok_or_else(|| login_failed(&exchange.user))?;
                        let mut parts = without_proof.split(',');
                        let binding = parts.next().and_then(|p| p.strip_prefix("c="));
                        let nonce = parts.next().and_then(|p| p.strip_prefix("r="));
                        if binding != Some(B64.encode(&exchange.gs2_header).as_str())
                            || nonce != Some(exchange.nonce.as_str())
                        {
                            return Err(login_failed(&exchange.user));
                        }
                        let proof = B64.decode(proof).map_err(|_| login_failed(&exchange.user))?;
                        let auth_message =
                            format!("{},{},{without_proof}", exchange.client_first_bare, exchange.server_first);
                        let signature = exchange.verifier.verify(auth_message.as_bytes(), &proof);
                        let (Some(signature), Some((_, grant))) = (signature, exchange.known) else {
                            return Err(login_failed(&exchange.user));
                        };
                        let place = self.shared.take_place(&exchange.user).inspect_err(|_| {
                            tracing::warn!(user = %exchange.user, peer = %client.socket_addr(), "login refused: no place left");
                        })?;
                        self.shared.failures.succeeded(&exchange.user, client.socket_addr().ip());
                        client
                            .send(PgWireBackendMessage::Authentication(Authentication::SASLFinal(
                                format!("v={}", B64.encode(signature)).into(),
                            )))
                            .await?;
                        let (pid, secret) = self.shared.pids.generate(client);
                        client.set_pid_and_secret_key(pid, secret.clone());
                        let (handle, guard) = self.shared.connections.register(pid, secret.clone());
                        client.session_extensions().insert(handle);
                        client.session_extensions().insert(guard);
                        client.session_extensions().insert(place);
                        self.watch.logged_in(&exchange.user);
                        self.shared.watches.register(pid, secret.to_bytes().to_vec(), &self.watch);
                        client.session_extensions().insert(Arc::clone(&self.watch));
                        tracing::info!(user = %exchange.user, peer = %client.socket_addr(), secure = client.is_secure(), "logged in");
                        client.session_extensions().insert(LoggedIn { user: exchange.user, grant });
                        finish_authentication(client, &self.params).await?;
                    }
                    State::Done => return Err(login_failed(&user)),
                }
            }
            _ => {}
        }
        Ok(())
    }
}
