//! Each connection's watch: what it is doing and for how long, so that no connection holds
//! the server's resources beyond its time.
//!
//! - A login must finish within the login timeout.
//! - A query runs until its deadline; a CancelRequest stops it at once, wherever it is
//!   (planning, execution or sending rows). A query whose rows cannot be sent (the client
//!   stopped reading) ends the connection a moment after its deadline.
//! - A logged-in connection idle past the idle timeout is closed.
//! - The server can end a connection (its user was removed from the users file).
//!
//! The connection's task runs the protocol beside `ConnectionWatch::ended`; whichever ends
//! first ends the connection, and dropping the protocol's future drops the running query.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use datafusion_postgres::pgwire;
use pgwire::api::cancel::CancelHandler;
use pgwire::messages::cancel::CancelRequest;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

/// How long a connection may take or stay, whatever it does.
#[derive(Debug, Clone)]
pub struct Timeouts {
    /// From the connection's first byte to a finished login.
    pub login: Duration,
    /// A logged-in connection with no statement for this long is closed.
    pub idle: Duration,
    /// After a statement's deadline, how long sending its rows may still take before the
    /// connection is ended (the client is not reading).
    pub send_grace: Duration,
}

struct State {
    user: Option<String>,
    /// What the connection holds while it logs in (its place among the logins in
    /// progress): given back at login.
    login_place: Option<Box<dyn std::any::Any + Send>>,
    accepted: Instant,
    last_active: Instant,
    /// The query running, with its deadline.
    running: Option<(u64, Instant)>,
    next_query: u64,
    ended: Option<String>,
}

pub struct ConnectionWatch {
    pub peer: SocketAddr,
    timeouts: Timeouts,
    state: Mutex<State>,
    changed: Notify,
    /// The number of the query a cancel was asked for.
    cancelled: watch::Sender<u64>,
}

impl ConnectionWatch {
    /// The watch of a connection accepted at `accepted`, holding `login_place` until login.
    pub fn new(
        peer: SocketAddr,
        timeouts: Timeouts,
        accepted: Instant,
        login_place: Box<dyn std::any::Any + Send>,
    ) -> Arc<ConnectionWatch> {
        let now = Instant::now();
        Arc::new(ConnectionWatch {
            peer,
            timeouts,
            state: Mutex::new(State {
                user: None,
                login_place: Some(login_place),
                accepted,
                last_active: now,
                running: None,
                next_query: 1,
                ended: None,
            }),
            changed: Notify::new(),
            cancelled: watch::channel(0).0,
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn logged_in(&self, user: &str) {
        let mut state = self.state();
        state.user = Some(user.to_string());
        state.last_active = Instant::now();
        let place = state.login_place.take();
        drop(state);
        drop(place);
        self.changed.notify_one();
    }

    pub fn user(&self) -> Option<String> {
        self.state().user.clone()
    }

    /// A query starts; it runs until the returned ticket is dropped.
    pub fn start_query(self: &Arc<Self>, deadline: Instant) -> Arc<QueryTicket> {
        let mut state = self.state();
        let number = state.next_query;
        state.next_query += 1;
        state.running = Some((number, deadline));
        drop(state);
        self.changed.notify_one();
        Arc::new(QueryTicket { watch: Arc::clone(self), number })
    }

    /// A CancelRequest: the running query, if any, stops.
    pub fn cancel(&self) {
        if let Some((number, _)) = self.state().running {
            self.cancelled.send_replace(number);
        }
    }

    /// Ends the connection (at once, even mid-query).
    pub fn end(&self, reason: &str) {
        self.state().ended.get_or_insert_with(|| reason.to_string());
        self.changed.notify_one();
    }

    /// Resolves, with the reason, when the connection must end.
    pub async fn ended(&self) -> String {
        loop {
            let wake = {
                let state = self.state();
                if let Some(reason) = &state.ended {
                    return reason.clone();
                }
                let now = Instant::now();
                let (wake, reason) = match (&state.user, state.running) {
                    (None, _) => (
                        state.accepted + self.timeouts.login,
                        format!("login not finished within {:?}", self.timeouts.login),
                    ),
                    (Some(_), Some((_, deadline))) => (
                        deadline + self.timeouts.send_grace,
                        "the statement's rows could not be sent before its deadline".to_string(),
                    ),
                    (Some(_), None) => {
                        (state.last_active + self.timeouts.idle, format!("idle for {:?}", self.timeouts.idle))
                    }
                };
                if wake <= now {
                    return reason;
                }
                wake
            };
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => {}
                _ = self.changed.notified() => {}
            }
        }
    }
}

/// A running query; dropping the last reference ends it.
pub struct QueryTicket {
    watch: Arc<ConnectionWatch>,
    number: u64,
}

impl QueryTicket {
    /// Resolves when a cancel is asked for this query.
    pub async fn cancelled(&self) {
        let mut receiver = self.watch.cancelled.subscribe();
        let _ = receiver.wait_for(|n| *n == self.number).await;
    }
}

impl Drop for QueryTicket {
    fn drop(&mut self) {
        let mut state = self.watch.state();
        if state.running.is_some_and(|(n, _)| n == self.number) {
            state.running = None;
            state.last_active = Instant::now();
        }
        drop(state);
        self.watch.changed.notify_one();
    }
}

/// What a CancelRequest names a connection by: its process id and secret key.
type CancelKey = (i32, Vec<u8>);

/// The logged-in connections, by the (process id, secret key) their clients were given:
/// what a CancelRequest names, and what a change of the users file looks through.
#[derive(Default)]
pub struct Connections {
    by_key: Mutex<HashMap<CancelKey, Weak<ConnectionWatch>>>,
}

impl Connections {
    pub fn register(&self, pid: i32, secret: Vec<u8>, watch: &Arc<ConnectionWatch>) {
        let mut map = self.by_key.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, w| w.strong_count() > 0);
        map.insert((pid, secret), Arc::downgrade(watch));
    }

    /// Every live connection's watch.
    pub fn all(&self) -> Vec<Arc<ConnectionWatch>> {
        self.by_key.lock().unwrap_or_else(|e| e.into_inner()).values().filter_map(Weak::upgrade).collect()
    }

    fn get(&self, pid: i32, secret: &[u8]) -> Option<Arc<ConnectionWatch>> {
        self.by_key.lock().unwrap_or_else(|e| e.into_inner()).get(&(pid, secret.to_vec())).and_then(Weak::upgrade)
    }
}

/// Answers CancelRequests: the named connection's running query stops. A request that
/// names no connection (a wrong key) does nothing, as in PostgreSQL.
pub struct Cancel(pub Arc<Connections>);

#[async_trait]
impl CancelHandler for Cancel {
    async fn on_cancel_request(&self, request: CancelRequest) {
        match self.0.get(request.pid, &request.secret_key.to_bytes()) {
            Some(watch) => {
                tracing::info!(peer = %watch.peer, user = watch.user().unwrap_or_default(), "query cancelled at the client's request");
                watch.cancel();
            }
            None => tracing::debug!("a cancel request named no connection"),
        }
    }
}
