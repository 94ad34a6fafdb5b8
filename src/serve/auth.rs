//! Logging in: SCRAM-SHA-256 (RFC 5802/7677, as PostgreSQL does it) against the users
//! file's verifiers, plus the connection limit and the TLS requirement.
//!
//! pgwire's own SCRAM handler needs each password's salted form; a verifier holds only
//! StoredKey and ServerKey, which is all the exchange needs on the server side. An unknown
//! user or one without a usable verifier goes through the same exchange with made-up keys
//! and fails at its end, as PostgreSQL does, so a client cannot tell which users exist.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use datafusion_postgres::pgwire;
use futures::{Sink, SinkExt};
use pgwire::api::auth::{
    DefaultServerParameterProvider, StartupHandler, finish_authentication, protocol_negotiation, save_startup_parameters_to_metadata,
};
use pgwire::api::{ClientInfo, ConnectionManager, METADATA_USER, PgWireConnectionState, PidSecretKeyGenerator};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::startup::{Authentication, PasswordMessageFamily};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tokio::sync::Mutex;

use super::users::{ScramVerifier, User, Users, hmac_sha256, random_bytes};
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
    pub pids: Arc<dyn PidSecretKeyGenerator>,
    /// Keys the made-up salts of unknown users, so they look the same on every attempt.
    pub mock_key: [u8; 32],
}

enum State {
    Initial,
    ServerFirstSent(Exchange),
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
    /// The connection came in over the limit: it is refused at its first message.
    over_limit: bool,
    params: DefaultServerParameterProvider,
    state: Mutex<State>,
}

impl ScramLogin {
    pub fn new(shared: Arc<LoginShared>, over_limit: bool) -> ScramLogin {
        let mut params = DefaultServerParameterProvider::default();
        params.server_version = format!("16.0 (cwkpi {})", env!("CARGO_PKG_VERSION"));
        params.is_superuser = false;
        params.default_transaction_read_only = true;
        ScramLogin { shared, over_limit, params, state: Mutex::new(State::Initial) }
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

/// PostgreSQL's answer to any failed login, whatever the reason.
fn login_failed(user: &str) -> PgWireError {
    tracing::warn!(user, "login refused");
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
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                if self.over_limit {
                    return Err(fatal("53300", "sorry, too many clients already"));
                }
                if self.shared.tls_required && !client.is_secure() {
                    return Err(fatal("28000", "this server accepts TLS connections only (sslmode=require)"));
                }
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                client.send(PgWireBackendMessage::Authentication(Authentication::SASL(vec!["SCRAM-SHA-256".to_owned()]))).await?;
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
                        let client_nonce = bare.split(',').find_map(|p| p.strip_prefix("r=")).ok_or_else(|| login_failed(&user))?;
                        let (verifier, known) = self.verifier_for(&user)?;
                        let server_nonce = random_bytes::<18>().map_err(|e| fatal("XX000", &e.to_string()))?;
                        let nonce = format!("{client_nonce}{}", B64.encode(server_nonce));
                        let server_first = format!("r={nonce},s={},i={}", B64.encode(&verifier.salt), verifier.iterations);
                        client.send(PgWireBackendMessage::Authentication(Authentication::SASLContinue(server_first.clone().into()))).await?;
                        *state = State::ServerFirstSent(Exchange {
                            user,
                            known,
                            verifier,
                            gs2_header: format!("{flag},{authzid},"),
                            client_first_bare: bare.to_owned(),
                            server_first,
                            nonce,
                        });
                    }
                    State::ServerFirstSent(exchange) => {
                        let response = sasl_response(&message);
                        let client_final = std::str::from_utf8(&response).map_err(|_| login_failed(&exchange.user))?;
                        let (without_proof, proof) = client_final.rsplit_once(",p=").ok_or_else(|| login_failed(&exchange.user))?;
                        let mut parts = without_proof.split(',');
                        let binding = parts.next().and_then(|p| p.strip_prefix("c="));
                        let nonce = parts.next().and_then(|p| p.strip_prefix("r="));
                        if binding != Some(B64.encode(&exchange.gs2_header).as_str()) || nonce != Some(exchange.nonce.as_str()) {
                            return Err(login_failed(&exchange.user));
                        }
                        let proof = B64.decode(proof).map_err(|_| login_failed(&exchange.user))?;
                        let auth_message = format!("{},{},{without_proof}", exchange.client_first_bare, exchange.server_first);
                        let signature = exchange.verifier.verify(auth_message.as_bytes(), &proof);
                        let (Some(signature), Some((_, grant))) = (signature, exchange.known) else {
                            return Err(login_failed(&exchange.user));
                        };
                        client
                            .send(PgWireBackendMessage::Authentication(Authentication::SASLFinal(
                                format!("v={}", B64.encode(signature)).into(),
                            )))
                            .await?;
                        let (pid, secret) = self.shared.pids.generate(client);
                        client.set_pid_and_secret_key(pid, secret.clone());
                        let (handle, guard) = self.shared.connections.register(pid, secret);
                        client.session_extensions().insert(handle);
                        client.session_extensions().insert(guard);
                        tracing::info!(user = %exchange.user, secure = client.is_secure(), "logged in");
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
