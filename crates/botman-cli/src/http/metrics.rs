//! `GET /metrics`: Prometheus metrics, encoded by prometheus-client
//! (issue #11).
//!
//! Two sources, one registry per scrape: what happens (runs by outcome,
//! durations, lateness, skips by reason) is counted from the run events as
//! they are published, each made from one run record; what is (a bot's
//! state, its next fire, its last success, its error count, webhook
//! deliveries) is read from the library at scrape time, so a removed bot's
//! series go away with it.

use std::sync::atomic::AtomicU64;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use botman::{BotEvent, EventKind};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use super::Shared;
use super::api::{STATE_NAMES, state_name};

type Labels = Vec<(&'static str, String)>;
type FloatGauge = Gauge<f64, AtomicU64>;

/// Run durations, in seconds: a shell job takes milliseconds to hours.
const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0, 300.0, 3600.0,
];
/// Fire lateness, in seconds: the scheduler's own delay is sub-millisecond;
/// a loaded machine or a jitter makes seconds.
const LATENESS_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0, 60.0,
];

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// What the events count, kept across scrapes.
#[derive(Clone)]
pub(crate) struct Metrics {
    runs: Family<Labels, Counter>,
    errors: Family<Labels, Counter>,
    skipped: Family<Labels, Counter>,
    durations: Family<Labels, Histogram, fn() -> Histogram>,
    lateness: Histogram,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        Metrics {
            runs: Family::default(),
            errors: Family::default(),
            skipped: Family::default(),
            durations: Family::new_with_constructor(duration_histogram),
            lateness: Histogram::new(LATENESS_BUCKETS),
        }
    }

    /// Counts one published event (kinds, never texts, decide).
    pub(crate) fn observe(&self, e: &BotEvent) {
        let bot = || vec![("bot", e.bot_name.clone())];
        match e.kind {
            EventKind::RunSucceeded | EventKind::RunFailed => {
                let outcome = e
                    .data
                    .get("outcome")
                    .and_then(|o| o.as_str())
                    .unwrap_or(if e.kind == EventKind::RunSucceeded {
                        "success"
                    } else {
                        "failure"
                    })
                    .to_owned();
                if matches!(outcome.as_str(), "failure" | "soft_failure" | "timed_out") {
                    self.errors.get_or_create(&bot()).inc();
                }
                self.runs
                    .get_or_create(&vec![("bot", e.bot_name.clone()), ("outcome", outcome)])
                    .inc();
                if let Some(ms) = e.data.get("duration_ms").and_then(|d| d.as_f64()) {
                    self.durations.get_or_create(&bot()).observe(ms / 1e3);
                }
            }
            EventKind::RunStarted => {
                if let Some(ms) = e.data.get("lateness_ms").and_then(|d| d.as_f64()) {
                    self.lateness.observe(ms.max(0.0) / 1e3);
                }
            }
            EventKind::FireSkipped { reason } => {
                self.skipped
                    .get_or_create(&vec![
                        ("bot", e.bot_name.clone()),
                        ("reason", reason.as_str().to_owned()),
                    ])
                    .inc();
            }
            EventKind::FiresMissed { reason } => {
                let n = e.data.get("missed").and_then(|m| m.as_u64()).unwrap_or(1);
                self.skipped
                    .get_or_create(&vec![
                        ("bot", e.bot_name.clone()),
                        ("reason", format!("missed_{}", reason.as_str())),
                    ])
                    .inc_by(n);
            }
            _ => {}
        }
    }
}

/// The registry of one scrape: the event counts, and what is now.
fn registry(state: &Shared) -> Registry {
    let mut r = Registry::default();
    let m = &state.metrics;
    r.register(
        "botman_runs",
        "Runs that ended, by bot and outcome",
        m.runs.clone(),
    );
    r.register(
        "botman_errors",
        "Runs that failed (failure, soft failure, time-out), by bot",
        m.errors.clone(),
    );
    r.register(
        "botman_skipped",
        "Fires not run, by bot and reason (missed_* for fires missed)",
        m.skipped.clone(),
    );
    r.register_with_unit(
        "botman_run_duration",
        "How long runs took, by bot",
        Unit::Seconds,
        m.durations.clone(),
    );
    r.register_with_unit(
        "botman_fire_lateness",
        "How late scheduled fires started after their instant",
        Unit::Seconds,
        m.lateness.clone(),
    );

    let states = Family::<Labels, Gauge>::default();
    let next = Family::<Labels, FloatGauge>::default();
    let last_success = Family::<Labels, FloatGauge>::default();
    let secs = |t: botman::jiff::Timestamp| t.as_millisecond() as f64 / 1e3;
    for b in state.botman.metrics() {
        let now = state_name(&b);
        for s in STATE_NAMES {
            states
                .get_or_create(&vec![("bot", b.name.clone()), ("state", s.to_owned())])
                .set(i64::from(s == now));
        }
        if let Some(t) = b.next_run {
            next.get_or_create(&vec![("bot", b.name.clone())])
                .set(secs(t));
        }
        if let Some(t) = b.last_success {
            last_success
                .get_or_create(&vec![("bot", b.name.clone())])
                .set(secs(t));
        }
    }
    r.register(
        "botman_bot_state",
        "1 for the state each bot is in, 0 for the others",
        states,
    );
    r.register_with_unit(
        "botman_next_fire_timestamp",
        "When each bot fires next (Unix time)",
        Unit::Seconds,
        next,
    );
    r.register_with_unit(
        "botman_last_success_timestamp",
        "When each bot's last successful run ended (Unix time; since the daemon started)",
        Unit::Seconds,
        last_success,
    );

    let deliveries = Family::<Labels, Counter>::default();
    for rec in state.botman.receivers() {
        let stats = rec.stats();
        // The redacted URL: a webhook URL is a secret.
        let name = rec.url().redacted().to_owned();
        for (result, n) in [
            ("sent", stats.sent),
            ("retried", stats.retried),
            ("dropped", stats.dropped),
        ] {
            deliveries
                .get_or_create(&vec![
                    ("receiver", name.clone()),
                    ("result", result.to_owned()),
                ])
                .inc_by(n);
        }
    }
    r.register(
        "botman_webhook_deliveries",
        "Webhook deliveries by receiver (redacted URL) and result",
        deliveries,
    );
    let store_errors = Counter::<u64>::default();
    store_errors.inc_by(state.botman.store_errors());
    r.register(
        "botman_store_errors",
        "Store operations that failed",
        store_errors,
    );
    r
}

/// `GET /metrics`: OpenMetrics when the scraper asks for it (Prometheus
/// does), else the Prometheus text format 0.0.4 that every scraper reads.
pub(crate) async fn render(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let mut body = String::new();
    if encode(&mut body, &registry(&state)).is_err() {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "could not encode the metrics",
        )
            .into_response();
    }
    let open_metrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    if open_metrics {
        return (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        to_prometheus_text(&body),
    )
        .into_response()
}

/// OpenMetrics text as the Prometheus 0.0.4 format: a counter family is
/// named with its `_total` (as its samples are), and there is no `# UNIT`
/// or `# EOF`.
fn to_prometheus_text(open_metrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = open_metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(open_metrics.len());
    for line in open_metrics.lines() {
        if line.starts_with("# EOF") || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|p| {
            let rest = line.strip_prefix(p)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{p}{name}_total {tail}"))
        });
        match renamed {
            Some(l) => out.push_str(&l),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}
