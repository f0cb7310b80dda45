//! The daemon's HTTP face (issue #11), served with axum when the file has
//! a `[botman.http]` table: a JSON API (`api.rs`, documented in
//! `openapi.json`, served at `/api/openapi.json`), the live event stream
//! (server-sent events), Prometheus metrics (`metrics.rs`), a health check,
//! and a dashboard rendered on the server (`dashboard.rs`).
//!
//! Everything reads the library ([`Botman`]) and its store; nothing here
//! schedules or runs. Changes (run now, pause, resume) need the configured
//! bearer token; without one the API is read-only. No answer carries the
//! token or a webhook URL.

mod api;
mod dashboard;
mod metrics;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use botman::jiff::tz::TimeZone;
use botman::{BotEvent, Botman, SubscriptionId};
use tokio::sync::{broadcast, watch};

use crate::config::{HttpConfig, ManagerConfig};

/// What every handler reads.
pub(crate) struct AppState {
    pub(crate) botman: Botman,
    /// The bearer token changes need; `None`: read-only. Replaced by a
    /// reload (SIGHUP) that changes it.
    token: std::sync::RwLock<Option<String>>,
    /// The zone the dashboard shows instants in (`[botman] timezone`).
    pub(crate) zone: TimeZone,
    pub(crate) zone_name: String,
    /// The live events, for the SSE streams.
    pub(crate) events: broadcast::Sender<Arc<BotEvent>>,
    pub(crate) metrics: metrics::Metrics,
    /// Set when the server stops: the SSE streams end.
    pub(crate) closing: watch::Receiver<bool>,
    /// Listening on loopback: only requests naming localhost or an IP
    /// address in `Host` are answered (see [`host_guard`]).
    pub(crate) loopback: bool,
}

pub(crate) type Shared = Arc<AppState>;

/// Events an SSE client may fall behind by before it misses some (it is
/// told, and goes on).
const EVENT_BUFFER: usize = 1024;

/// A running HTTP server.
pub(crate) struct Server {
    /// The address it listens on (the port the OS chose for port 0).
    pub(crate) addr: SocketAddr,
    close: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    botman: Botman,
    subscription: SubscriptionId,
    state: Shared,
}

impl Server {
    /// Binds `http.listen` and serves `m` on it.
    pub(crate) async fn start(
        m: &Botman,
        manager: &ManagerConfig,
        http: &HttpConfig,
    ) -> Result<Server, String> {
        Server::serve(
            m,
            http.listen,
            http.token.clone(),
            (manager.tz.clone(), manager.timezone.clone()),
        )
        .await
    }

    /// Binds `listen` and serves `m` on it; changes need `token`; the
    /// dashboard shows instants in `zone` (the zone and its name).
    pub(crate) async fn serve(
        m: &Botman,
        listen: SocketAddr,
        token: Option<String>,
        zone: (TimeZone, String),
    ) -> Result<Server, String> {
        Server::serve_with(m, listen, token, zone, Limits::default()).await
    }

    /// [`serve`](Server::serve) with these connection limits.
    pub(crate) async fn serve_with(
        m: &Botman,
        listen: SocketAddr,
        token: Option<String>,
        zone: (TimeZone, String),
        limits: Limits,
    ) -> Result<Server, String> {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("[botman.http] cannot listen on {listen}: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("[botman.http] {listen}: {e}"))?;
        let (close, closing) = watch::channel(false);
        let read_only = token.is_none();
        let state = AppState::new(m, token, zone, closing, listen.ip().is_loopback());
        let subscription = {
            let state = Arc::clone(&state);
            // This manager's events only (one process may hold several),
            // a bot's last run after a reload removed it included.
            m.subscribe(
                move |e: &BotEvent| {
                    state.metrics.observe(e);
                    let _ = state.events.send(Arc::new(e.clone()));
                },
                &[],
                botman::DEFAULT_QUEUE,
            )
        };
        let app = router(Arc::clone(&state));
        let task = tokio::spawn(accept_loop(listener, app, close.subscribe(), limits));
        tracing::info!(%addr, read_only, "HTTP API and dashboard at http://{addr}/");
        Ok(Server {
            addr,
            close,
            task,
            botman: m.clone(),
            subscription,
            state,
        })
    }

    /// Takes the token of a reloaded file: the old one stops working.
    /// Where the server listens changes only at a restart.
    pub(crate) fn set_token(&self, token: Option<String>) {
        *self.state.token.write().unwrap_or_else(|e| e.into_inner()) = token;
    }

    /// Stops serving: open event streams end, requests in flight get a
    /// moment to finish.
    pub(crate) async fn stop(self) {
        self.botman.events().unsubscribe(self.subscription);
        let _ = self.close.send(true);
        let mut task = self.task;
        if tokio::time::timeout(Duration::from_secs(4), &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }
}

/// What one client may hold of the daemon: the HTTP server must never take
/// the file descriptors and memory the jobs need (issue #11's review: 20,000
/// half-sent requests exhausted the descriptors and jobs failed to start).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Connections open at once; one more is closed as soon as accepted.
    pub(crate) connections: usize,
    /// How long a client has to send a request's headers (also an idle
    /// keep-alive connection's life).
    pub(crate) header_timeout: Duration,
}

impl Default for Limits {
    /// 256 connections (a dashboard holds one or two each), 10 s.
    fn default() -> Limits {
        Limits {
            connections: 256,
            header_timeout: Duration::from_secs(10),
        }
    }
}

/// Accepts connections until `stop`, within `limits`; then lets the
/// requests in flight finish (at most 3 s).
async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: Router,
    mut stop: watch::Receiver<bool>,
    limits: Limits,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;

    let slots = Arc::new(tokio::sync::Semaphore::new(limits.connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut refused: u64 = 0;
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|closed| *closed) => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors, say: wait a moment rather than spin.
                tracing::warn!(error = %e, "HTTP: could not accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            refused += 1;
            if refused.is_power_of_two() {
                tracing::warn!(
                    limit = limits.connections,
                    refused,
                    "HTTP: too many connections; new ones are closed"
                );
            }
            drop(stream);
            continue;
        };
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(3), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("HTTP: connections still open after 3 s were dropped");
    }
}

/// Every route.
pub(crate) fn router(state: Shared) -> Router {
    Router::new()
        .route("/", get(dashboard::index))
        .route("/bots/{name}", get(dashboard::bot_page))
        .route("/assets/app.css", get(dashboard::css))
        .route("/assets/app.js", get(dashboard::js))
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(metrics::render))
        .route("/api/openapi.json", get(api::openapi))
        .route("/api/bots", get(api::bots))
        .route("/api/bots/{name}", get(api::bot))
        .route("/api/bots/{name}/runs", get(api::runs))
        .route("/api/bots/{name}/next", get(api::next))
        .route("/api/bots/{name}/run", post(api::run_now))
        .route("/api/bots/{name}/pause", post(api::pause))
        .route("/api/bots/{name}/resume", post(api::resume))
        .route("/api/runs/{id}", get(api::run))
        .route("/api/events", get(api::events))
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            host_guard,
        ))
        .with_state(state)
}

/// A daemon on loopback answers only requests whose `Host` is `localhost`
/// (or a `*.localhost` name) or an IP address: a web page whose own domain
/// was made to resolve to 127.0.0.1 (DNS rebinding) would send its own
/// name, and is refused before it reads anything.
async fn host_guard(
    axum::extract::State(state): axum::extract::State<Shared>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if state.loopback
        && let Some(host) = req.headers().get(header::HOST)
        && !is_local_host(host.to_str().unwrap_or(""))
    {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "this daemon listens on loopback and answers only to localhost or an IP address \
             in the Host header (a guard against DNS rebinding)",
        )
        .into_response();
    }
    next.run(req).await
}

/// Whether `host` (a `Host` header: a name or address, maybe with a port)
/// is localhost or an IP address.
fn is_local_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split_once(']').map_or("", |(n, _)| n),
        None => host.rsplit_once(':').map_or(host, |(n, _)| n),
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost") || name.parse::<std::net::IpAddr>().is_ok()
}

/// An error answer: JSON `{"error": "...", ...}` with its status. Never a
/// secret in it (the messages are made here, not passed through).
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    body: serde_json::Value,
    /// `WWW-Authenticate` for a 401.
    challenge: bool,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: serde_json::json!({ "error": message.into() }),
            challenge: false,
        }
    }

    /// A bad query parameter, named.
    pub(crate) fn bad_param(param: &str, message: impl std::fmt::Display) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("parameter '{param}': {message}"),
        );
        e.body["parameter"] = param.into();
        e
    }

    /// No such bot; the closest name when one is close.
    pub(crate) fn unknown_bot(state: &AppState, name: &str) -> ApiError {
        let names = state.botman.bot_names();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let hint = crate::config::suggest_name(name, &refs)
            .map(|s| format!(", did you mean '{s}'?"))
            .unwrap_or_default();
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no bot named '{name}'{hint}"),
        )
    }

    /// Adds a field to the body.
    pub(crate) fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> ApiError {
        self.body[key] = value.into();
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(self.body)).into_response();
        if self.challenge {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"botman\""),
            );
        }
        r
    }
}

impl AppState {
    /// The state of a server of `m`; its event streams end when `closing`
    /// turns true.
    pub(crate) fn new(
        m: &Botman,
        token: Option<String>,
        zone: (TimeZone, String),
        closing: watch::Receiver<bool>,
        loopback: bool,
    ) -> Shared {
        Arc::new(AppState {
            botman: m.clone(),
            token: std::sync::RwLock::new(token),
            zone: zone.0,
            zone_name: zone.1,
            events: broadcast::channel(EVENT_BUFFER).0,
            metrics: metrics::Metrics::new(),
            closing,
            loopback,
        })
    }

    /// The token now (a reload may have replaced it).
    fn token(&self) -> Option<String> {
        self.token.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Checks `Authorization: Bearer <token>` for a change: 401 without it,
    /// 403 with a wrong one or when the daemon has no token (read-only).
    /// The comparison takes the same time wherever the tokens differ.
    pub(crate) fn authorize(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(token) = self.token() else {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "this daemon is read-only: its [botman.http] has no token",
            ));
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            });
        let Some(given) = given else {
            let mut e = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "this needs the daemon's token: send 'Authorization: Bearer <token>'",
            );
            e.challenge = true;
            return Err(e);
        };
        if !same_secret(given.as_bytes(), token.as_bytes()) {
            return Err(ApiError::new(StatusCode::FORBIDDEN, "wrong token"));
        }
        Ok(())
    }

    /// Whether changes are possible at all (a token is configured).
    pub(crate) fn writable(&self) -> bool {
        self.token().is_some()
    }
}

/// Compares two secrets in time that depends on their lengths only.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
