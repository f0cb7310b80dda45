//! The JSON API (issue #11; `openapi.json` documents it). Bad input gets a
//! 400 naming the parameter, an unknown bot or run a 404, both with a JSON
//! `{"error": ...}` body; nothing a client sends can cause a 500.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use botman::jiff::Timestamp;
use botman::{BotMetrics, BotRef, EventKind, RunId, StoredRun, Triggered};
use futures_util::{Stream, StreamExt};
use serde_json::{Value, json};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::{ApiError, AppState, Shared};

/// The most runs or fires one request returns.
pub(crate) const MAX_LIMIT: usize = 1000;
/// Runs per page when `limit` is not given.
const DEFAULT_LIMIT: usize = 20;
/// Fires when `count` is not given.
const DEFAULT_COUNT: usize = 5;

/// A route's query parameters, each at most once: a repeated one is a 400
/// naming it (which of two values was meant cannot be guessed).
pub(crate) struct Params(pub(crate) HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Params, ApiError> {
        let Query(pairs) = Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("bad query: {}", e.body_text()),
                )
            })?;
        let mut params = HashMap::with_capacity(pairs.len());
        for (k, v) in pairs {
            if params.contains_key(&k) {
                return Err(ApiError::bad_param(
                    &k,
                    "given more than once; give it once (a list goes comma-separated, as kind=a,b)",
                ));
            }
            params.insert(k, v);
        }
        Ok(Params(params))
    }
}

/// The `{name}` or `{id}` segment of a route, or a JSON 400 saying what is
/// wrong with it (axum's own rejection is plain text).
pub(crate) struct Segment(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for Segment {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Segment, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(s)) => Ok(Segment(s)),
            Err(e) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("bad path: {}", e.body_text()),
            )),
        }
    }
}

/// Refuses parameters the route does not know (a typo would otherwise be
/// silently ignored).
fn only(params: &HashMap<String, String>, known: &[&str]) -> Result<(), ApiError> {
    let mut unknown: Vec<&String> = params
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .collect();
    unknown.sort();
    match unknown.first() {
        None => Ok(()),
        Some(k) => {
            let hint = crate::config::suggest_name(k, known)
                .map(|s| format!("did you mean '{s}'? "))
                .unwrap_or_default();
            Err(ApiError::bad_param(
                k,
                format!(
                    "unknown parameter; {hint}this route takes {}",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            ))
        }
    }
}

/// A positive integer parameter up to `max`, or `default` when absent.
pub(crate) fn count_param(
    params: &HashMap<String, String>,
    name: &str,
    default: usize,
    max: usize,
) -> Result<usize, ApiError> {
    let Some(v) = params.get(name) else {
        return Ok(default);
    };
    match v.trim().parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::bad_param(
            name,
            format!("'{v}' is not a whole number from 1 to {max}"),
        )),
    }
}

fn bot_ref(state: &AppState, name: &str) -> Result<BotRef, ApiError> {
    state
        .botman
        .bot(name)
        .map_err(|_| ApiError::unknown_bot(state, name))
}

fn ts(t: Option<Timestamp>) -> Value {
    t.map_or(Value::Null, |t| Value::String(t.to_string()))
}

fn ms(d: Option<Duration>) -> Value {
    d.map_or(Value::Null, |d| json!(round_ms(d.as_secs_f64() * 1e3)))
}

/// Milliseconds to the microsecond (no float noise like 1.1139999999999999).
pub(crate) fn round_ms(ms: f64) -> f64 {
    (ms * 1e3).round() / 1e3
}

/// A bot's state as the API and the metrics name it: `idle`, `running`,
/// `timeout`, `error`, or `paused` (a pause outranks the rest).
pub(crate) fn state_name(m: &BotMetrics) -> &'static str {
    if m.paused {
        return "paused";
    }
    match m.state {
        botman::BotState::Idle => "idle",
        botman::BotState::Running => "running",
        botman::BotState::Timeout => "timeout",
        botman::BotState::Error => "error",
        _ => "unknown",
    }
}

/// Every state name [`state_name`] gives.
pub(crate) const STATE_NAMES: [&str; 5] = ["idle", "running", "timeout", "error", "paused"];

/// A bot as `GET /api/bots` lists it.
pub(crate) fn bot_json(b: &BotRef, m: &BotMetrics) -> Value {
    let schedules: Vec<Value> = b
        .schedules()
        .iter()
        .map(|s| {
            json!({
                "cron": s.expr(),
                "timezone": s.time_zone().and_then(|z| z.iana_name()),
                "description": super::dashboard::describe(s.expr()),
            })
        })
        .collect();
    json!({
        "name": m.name,
        "state": state_name(m),
        "runs": m.runs,
        "successes": m.successes,
        "errors": m.errors,
        "retries": m.retries,
        "skipped": m.skipped,
        "missed": m.missed,
        "last_run": ts(m.last_run),
        "last_duration_ms": ms(m.last_duration),
        "last_outcome": m.last_outcome.map(|o| o.as_str()),
        "last_success": ts(m.last_success),
        "next_run": ts(m.next_run),
        "schedules": schedules,
        "paused": m.paused,
        "timeout_until": ts(m.timeout_until),
        "consecutive_failures": m.consecutive_failures,
        "overdue": m.overdue,
        "since": m.since.to_string(),
    })
}

/// A run as the API gives it: `botman history --json`'s fields, with the
/// lateness; the output tails only when `tails`.
pub(crate) fn run_json(r: &StoredRun, tails: bool) -> Value {
    let mut v = crate::daemon::run_json(r);
    v["lateness_ms"] = match r.scheduled {
        Some(s) if r.outcome.is_none_or(|o| o.reason().is_none()) => {
            json!(round_ms(s.duration_until(r.started).as_secs_f64() * 1e3))
        }
        _ => Value::Null,
    };
    if !tails && let Some(o) = v.as_object_mut() {
        o.remove("stdout_tail");
        o.remove("stderr_tail");
    }
    v
}

/// `GET /api/bots`: every bot, in name order.
pub(crate) async fn bots(State(state): State<Shared>, Params(p): Params) -> Response {
    if let Err(e) = only(&p, &[]) {
        return e.into_response();
    }
    let bots: Vec<Value> = state
        .botman
        .metrics()
        .iter()
        .filter_map(|m| {
            let b = state.botman.bot(&m.name).ok()?;
            Some(bot_json(&b, m))
        })
        .collect();
    Json(json!({ "bots": bots })).into_response()
}

/// `GET /api/bots/{name}`: one bot, with its next fires.
pub(crate) async fn bot(
    State(state): State<Shared>,
    Segment(name): Segment,
    Params(p): Params,
) -> Result<Json<Value>, ApiError> {
    only(&p, &[])?;
    let b = bot_ref(&state, &name)?;
    let m = b.metrics();
    let mut v = bot_json(&b, &m);
    v["next_runs"] = b
        .next_runs(DEFAULT_COUNT)
        .into_iter()
        .map(|t| t.to_string())
        .collect();
    v["duration_p50_ms"] = ms(m.duration_p50);
    v["duration_p99_ms"] = ms(m.duration_p99);
    v["stuck_workers"] = m.stuck_workers.into();
    Ok(Json(v))
}

/// `GET /api/bots/{name}/runs?limit=N&before=CURSOR`: history, newest
/// first; `next` is the cursor of the next (older) page.
pub(crate) async fn runs(
    State(state): State<Shared>,
    Segment(name): Segment,
    Params(p): Params,
) -> Result<Json<Value>, ApiError> {
    only(&p, &["limit", "before"])?;
    let limit = count_param(&p, "limit", DEFAULT_LIMIT, MAX_LIMIT)?;
    let before = match p.get("before") {
        None => None,
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if n > 0 => Some(RunId(n)),
            _ => {
                return Err(ApiError::bad_param(
                    "before",
                    format!("'{v}' is not a cursor (a run id, as the last page's 'next')"),
                ));
            }
        },
    };
    // A bot removed from the file still has its history; a name never seen
    // is a 404 only when it has none either.
    let page = state
        .botman
        .history_page(&name, limit, before)
        .await
        .map_err(store_error)?;
    if page.runs.is_empty() && before.is_none() && state.botman.bot(&name).is_err() {
        return Err(ApiError::unknown_bot(&state, &name));
    }
    let runs: Vec<Value> = page.runs.iter().map(|r| run_json(r, false)).collect();
    Ok(Json(json!({
        "bot": name,
        "runs": runs,
        "next": page.next.map(|n| n.0),
    })))
}

/// `GET /api/runs/{id}`: one run with its output tails.
pub(crate) async fn run(
    State(state): State<Shared>,
    Segment(id): Segment,
    Params(p): Params,
) -> Result<Json<Value>, ApiError> {
    only(&p, &[])?;
    let id = match id.trim().parse::<i64>() {
        Ok(n) if n > 0 => RunId(n),
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("'{id}' is not a run id (a positive whole number)"),
            )
            .with("parameter", "id"));
        }
    };
    match state.botman.run_record(id).await.map_err(store_error)? {
        Some(r) => Ok(Json(run_json(&r, true))),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no run {} (never was, or pruned by the retention)", id.0),
        )),
    }
}

/// `GET /api/bots/{name}/next?count=N`: the next scheduled fires.
pub(crate) async fn next(
    State(state): State<Shared>,
    Segment(name): Segment,
    Params(p): Params,
) -> Result<Json<Value>, ApiError> {
    only(&p, &["count"])?;
    let count = count_param(&p, "count", DEFAULT_COUNT, MAX_LIMIT)?;
    let b = bot_ref(&state, &name)?;
    let next: Vec<String> = b
        .next_runs(count)
        .into_iter()
        .map(|t| t.to_string())
        .collect();
    Ok(Json(json!({ "bot": name, "next": next })))
}

/// `POST /api/bots/{name}/run`: a run now, as the bot's overlap policy
/// allows: 202 with the run's id (or `queued`), 409 when the policy skips
/// it.
pub(crate) async fn run_now(
    State(state): State<Shared>,
    Segment(name): Segment,
    Params(p): Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.authorize(&headers)?;
    only(&p, &[])?;
    bot_ref(&state, &name)?;
    let triggered = state.botman.trigger(&name).map_err(|e| {
        if e.is_unknown() {
            ApiError::unknown_bot(&state, &name)
        } else {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
    })?;
    match triggered {
        Triggered::Started(mut handle) => {
            let id = tokio::time::timeout(Duration::from_secs(10), handle.run_id())
                .await
                .ok()
                .flatten();
            let body = json!({
                "bot": name,
                "status": "started",
                "run_id": id.map(|i| i.0),
            });
            let mut r = (StatusCode::ACCEPTED, Json(body)).into_response();
            if let Some(id) = id
                && let Ok(v) = format!("/api/runs/{}", id.0).parse()
            {
                r.headers_mut().insert(header::LOCATION, v);
            }
            Ok(r)
        }
        Triggered::Queued => Ok((
            StatusCode::ACCEPTED,
            Json(json!({ "bot": name, "status": "queued", "run_id": null })),
        )
            .into_response()),
        Triggered::Skipped(reason) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "not run: {} ({})",
                match reason {
                    botman::SkipReason::Overlap =>
                        format!("a run of '{name}' is going and its overlap policy is skip"),
                    botman::SkipReason::ConcurrencyLimit => format!(
                        "'{name}' already runs as many times at once as its overlap policy allows"
                    ),
                    botman::SkipReason::QueueFull =>
                        format!("a run of '{name}' is going and another already waits behind it"),
                    _ => format!("'{name}' cannot run now"),
                },
                reason.as_str()
            ),
        )
        .with("reason", reason.as_str())),
        _ => Err(ApiError::new(StatusCode::CONFLICT, "not run".to_owned())),
    }
}

/// `POST /api/bots/{name}/pause`.
pub(crate) async fn pause(
    State(state): State<Shared>,
    Segment(name): Segment,
    Params(p): Params,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    set_paused(&state, name, &p, &headers, true)
}

/// `POST /api/bots/{name}/resume`.
pub(crate) async fn resume(
    State(state): State<Shared>,
    Segment(name): Segment,
    Params(p): Params,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    set_paused(&state, name, &p, &headers, false)
}

/// Pauses or resumes, for a caller with the token.
fn set_paused(
    state: &AppState,
    name: String,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
    paused: bool,
) -> Result<Json<Value>, ApiError> {
    state.authorize(headers)?;
    only(params, &[])?;
    let b = bot_ref(state, &name)?;
    if paused {
        b.pause();
    } else {
        b.resume();
    }
    Ok(Json(json!({ "bot": name, "paused": b.is_paused() })))
}

/// `GET /api/events?bot=NAME&kind=KIND`: the live events as server-sent
/// events (`event:` the kind, `data:` the event's JSON). A client that
/// falls behind gets a `lagged` event saying how many it missed.
pub(crate) async fn events(
    State(state): State<Shared>,
    Params(p): Params,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    only(&p, &["bot", "kind"])?;
    let bot = p.get("bot").cloned();
    if let Some(b) = &bot {
        if b.trim().is_empty() {
            return Err(ApiError::bad_param("bot", "empty"));
        }
        // A bot of the daemon, or the manager itself (its own events).
        if *b != state.botman.name() && state.botman.bot(b).is_err() {
            return Err(ApiError::unknown_bot(&state, b).with("parameter", "bot"));
        }
    }
    let kinds: Option<Vec<String>> = match p.get("kind") {
        None => None,
        Some(list) => {
            let mut kinds = Vec::new();
            for k in list.split(',').map(str::trim) {
                if !EventKind::NAMES.contains(&k) {
                    let hint = crate::config::suggest_name(k, &EventKind::NAMES)
                        .map(|s| format!("did you mean '{s}'? "))
                        .unwrap_or_default();
                    return Err(ApiError::bad_param(
                        "kind",
                        format!(
                            "'{k}' is not an event kind; {hint}the kinds are {}",
                            EventKind::NAMES.join(", ")
                        ),
                    ));
                }
                kinds.push(k.to_owned());
            }
            Some(kinds)
        }
    };
    let rx = state.events.subscribe();
    let mut closing = state.closing.clone();
    let stream = BroadcastStream::new(rx)
        .filter_map(move |item| {
            let out = match item {
                Ok(e) => {
                    let wanted = bot.as_ref().is_none_or(|b| *b == e.bot_name)
                        && kinds
                            .as_ref()
                            .is_none_or(|ks| ks.iter().any(|k| k == e.kind.as_str()));
                    wanted.then(|| sse_event(&e))
                }
                Err(BroadcastStreamRecvError::Lagged(n)) => Some(
                    Event::default()
                        .event("lagged")
                        .data(json!({ "missed": n }).to_string()),
                ),
            };
            std::future::ready(out.map(Ok))
        })
        .take_until(async move {
            let _ = closing.wait_for(|c| *c).await;
        });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

fn sse_event(e: &Arc<botman::BotEvent>) -> Event {
    let data = serde_json::to_string(&**e).unwrap_or_else(|_| "{}".to_owned());
    Event::default().event(e.kind.as_str()).data(data)
}

/// `GET /healthz`: 200 when the scheduler runs and the store answers,
/// 503 (saying what is wrong) otherwise.
pub(crate) async fn healthz(State(state): State<Shared>) -> Response {
    let h = state.botman.health().await;
    let status = if h.is_healthy() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if h.is_healthy() { "ok" } else { "unhealthy" },
        "scheduler": if h.scheduler_alive { "running" } else { "stopped" },
        "store": if h.store_error.is_none() { "ok" } else { "unreachable" },
        "store_error": h.store_error,
        "store_errors": h.store_errors,
    });
    (status, Json(body)).into_response()
}

/// `GET /api/openapi.json`.
pub(crate) async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
}

/// Anything else: a JSON 404.
pub(crate) async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no such route: {}; the API is described at /api/openapi.json",
            uri.path()
        ),
    )
}

/// A known route asked with the wrong method.
pub(crate) async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed here; see /api/openapi.json"),
    )
}

/// A store failure while answering: 503, the store's message (which names
/// the database file, never a secret).
fn store_error(e: botman::Error) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("the store failed: {e}"),
    )
}
