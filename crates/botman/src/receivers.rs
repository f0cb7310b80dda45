//! Receivers: deliver events to Slack, Chime or any JSON webhook.
//!
//! Each receiver owns a bounded queue (default 10,000) and one delivery
//! thread running its own small async runtime, so it works from plain code
//! and inside tokio alike, and a dead or slow endpoint only ever fills its own
//! queue. Delivery retries connect errors, time-outs, 429 and 5xx with
//! exponential backoff and jitter, honouring `Retry-After`, and gives up
//! (counting the loss) after a bounded time. Other 4xx answers are final.
//!
//! Webhook URLs are secrets: [`WebhookUrl`] prints as scheme, host and a
//! short hash, in `Debug`, logs, errors and metrics alike.

use std::fmt;
use std::hash::Hasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc};

use crate::events::{BotEvent, EventManager, EventType, SubscriptionId};

/// A webhook URL, kept whole for sending and shown redacted everywhere else.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct WebhookUrl {
    url: String,
    shown: String,
}

impl WebhookUrl {
    /// Wraps a URL. Fails (with a redacted message) unless it is an absolute
    /// `http` or `https` URL with a host.
    pub fn new(url: &str) -> Result<WebhookUrl, crate::Error> {
        let shown = redact(url);
        let parsed = reqwest::Url::parse(url)
            .map_err(|_| crate::Error::invalid_webhook(&shown, "not a URL"))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(crate::Error::invalid_webhook(
                &shown,
                "must be an http(s) URL with a host",
            ));
        }
        Ok(WebhookUrl {
            url: url.to_owned(),
            shown,
        })
    }

    /// The redacted form: `https://hooks.slack.com/…#1a2b3c4d`.
    pub fn redacted(&self) -> &str {
        &self.shown
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// Scheme and host, then a hash of the whole URL: enough to tell two
/// webhooks apart, nothing to post to.
fn redact(url: &str) -> String {
    let mut h = crate::manager::Fnv::new();
    h.write(url.as_bytes());
    let hash = h.finish() as u32;
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            // Userinfo is a secret too.
            let host = host.rsplit('@').next().unwrap_or("");
            format!("{scheme}://{host}/…#{hash:08x}")
        }
        None => format!("…#{hash:08x}"),
    }
}

/// The payload shape a receiver posts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Slack,
    Chime,
    Json,
}

fn emoji(t: EventType) -> &'static str {
    match t {
        EventType::Info => "ℹ️",
        EventType::Warning => "⚠️",
        EventType::Error => "🚨",
        EventType::Debug => "🐛",
    }
}

/// The key facts of an event's data, for people: `attempt: 2, error: ...`.
fn data_summary(data: &serde_json::Value) -> String {
    match data {
        serde_json::Value::Object(map) => map
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}: {s}"),
                other => format!("{k}: {other}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn payload(format: Format, e: &BotEvent) -> serde_json::Value {
    match format {
        Format::Slack => {
            let facts = data_summary(&e.data);
            let mut text = format!(
                "{} *{}* [{}] {}",
                emoji(e.event_type),
                e.bot_name,
                e.event_type,
                e.description
            );
            if !facts.is_empty() {
                text.push_str(&format!("\n{facts}"));
            }
            serde_json::json!({
                "text": text,
                "bot_name": e.bot_name,
                "bot_id": e.bot_id,
                "event_type": e.event_type,
                "description": e.description,
                "emoji": emoji(e.event_type),
                "data": e.data,
            })
        }
        Format::Chime => serde_json::json!({
            "Content": format!(
                "/md {} **{}** — **{}**: {}",
                emoji(e.event_type),
                e.event_type.as_str().to_uppercase(),
                e.bot_name,
                e.description
            ),
        }),
        Format::Json => serde_json::to_value(e).unwrap_or(serde_json::Value::Null),
    }
}

/// Delivery counters of a receiver.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceiverStats {
    /// Events delivered (2xx).
    pub sent: u64,
    /// Retries made (beyond first attempts).
    pub retried: u64,
    /// Events lost: queue full, a final 4xx, or retries out of time.
    pub dropped: u64,
    /// Events waiting or in flight.
    pub queued: u64,
}

/// Settings shared by every receiver, with their defaults.
#[derive(Clone, Debug)]
struct Settings {
    queue: usize,
    timeout: Duration,
    give_up_after: Duration,
    backoff: Duration,
    max_backoff: Duration,
    headers: Vec<(String, String)>,
    only_after_failures: Option<u64>,
    on_recovery: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            queue: 10_000,
            timeout: Duration::from_secs(5),
            give_up_after: Duration::from_secs(120),
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            headers: Vec::new(),
            only_after_failures: None,
            on_recovery: false,
        }
    }
}

struct Shared {
    url: WebhookUrl,
    format: Format,
    settings: Settings,
    sent: AtomicU64,
    retried: AtomicU64,
    dropped: AtomicU64,
    queued: AtomicU64,
    idle: Notify,
    tx: mpsc::Sender<Arc<BotEvent>>,
    subscriptions: Mutex<Vec<(EventManager, SubscriptionId)>>,
}

/// A running receiver; see [`SlackReceiver`], [`ChimeReceiver`] and
/// [`WebhookReceiver`], which build one. Cheap to clone.
#[derive(Clone)]
pub struct Receiver {
    shared: Arc<Shared>,
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("format", &self.shared.format)
            .field("url", &self.shared.url)
            .field("stats", &self.stats())
            .finish()
    }
}

macro_rules! receiver_builder {
    ($name:ident, $format:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug)]
        pub struct $name {
            url: Result<WebhookUrl, String>,
            settings: Settings,
        }

        impl $name {
            /// A receiver posting to `url` (validated by `build`).
            pub fn new(url: &str) -> $name {
                $name {
                    url: WebhookUrl::new(url).map_err(|e| e.to_string()),
                    settings: Settings::default(),
                }
            }

            /// Queue length before events are dropped. Defaults to 10,000.
            pub fn queue(mut self, n: usize) -> $name {
                self.settings.queue = n.max(1);
                self
            }

            /// Time-out of one request. Defaults to 5 s.
            pub fn timeout(mut self, d: Duration) -> $name {
                self.settings.timeout = d;
                self
            }

            /// How long to keep retrying one event. Defaults to 120 s.
            pub fn give_up_after(mut self, d: Duration) -> $name {
                self.settings.give_up_after = d;
                self
            }

            /// First retry delay, doubled each retry up to 30 s (with
            /// jitter), unless the server says `Retry-After`. Defaults to 500 ms.
            pub fn backoff(mut self, d: Duration) -> $name {
                self.settings.backoff = d;
                self
            }

            /// An extra request header (for example `Authorization`).
            pub fn header(mut self, name: &str, value: &str) -> $name {
                self.settings
                    .headers
                    .push((name.to_owned(), value.to_owned()));
                self
            }

            /// Only notify failed runs, once a bot has failed `n` fires in a row.
            pub fn only_after_failures(mut self, n: u64) -> $name {
                self.settings.only_after_failures = Some(n.max(1));
                self
            }

            /// Also notify, once, when a failing bot succeeds again (with
            /// `only_after_failures`: the only success ever sent).
            pub fn on_recovery(mut self, yes: bool) -> $name {
                self.settings.on_recovery = yes;
                self
            }

            /// Starts the receiver (its delivery thread).
            pub fn build(self) -> Result<Receiver, crate::Error> {
                let url = self
                    .url
                    .map_err(|m| crate::Error::invalid_webhook("", &m))?;
                Receiver::start(url, $format, self.settings)
            }
        }
    };
}

receiver_builder!(
    SlackReceiver,
    Format::Slack,
    "Posts to a Slack incoming webhook (or workflow webhook): a readable `text` plus `bot_name`, `bot_id`, `event_type`, `description`, `emoji` and `data`, as the Python library sent."
);
receiver_builder!(
    ChimeReceiver,
    Format::Chime,
    "Posts to an Amazon Chime webhook: `{\"Content\": \"/md ...\"}` with the type, emoji, bot and description, as the Python library did."
);
receiver_builder!(
    WebhookReceiver,
    Format::Json,
    "Posts each event as JSON (the `BotEvent` fields) to any URL, with optional extra headers."
);

impl Receiver {
    fn start(
        url: WebhookUrl,
        format: Format,
        settings: Settings,
    ) -> Result<Receiver, crate::Error> {
        let (tx, rx) = mpsc::channel(settings.queue);
        let shared = Arc::new(Shared {
            url,
            format,
            settings,
            sent: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            queued: AtomicU64::new(0),
            idle: Notify::new(),
            tx,
            subscriptions: Mutex::new(Vec::new()),
        });
        let s = Arc::clone(&shared);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(crate::Error::runtime)?;
        std::thread::Builder::new()
            .name("botman-receiver".to_owned())
            .spawn(move || rt.block_on(deliver(s, rx)))
            .map_err(crate::Error::runtime)?;
        Ok(Receiver { shared })
    }

    /// The webhook, redacted.
    pub fn url(&self) -> &WebhookUrl {
        &self.shared.url
    }

    /// Delivery counters.
    pub fn stats(&self) -> ReceiverStats {
        let s = &self.shared;
        ReceiverStats {
            sent: s.sent.load(Ordering::SeqCst),
            retried: s.retried.load(Ordering::SeqCst),
            dropped: s.dropped.load(Ordering::SeqCst),
            queued: s.queued.load(Ordering::SeqCst),
        }
    }

    /// Queues an event (never blocks; counts a drop when the queue is full).
    pub fn send(&self, event: &BotEvent) {
        let s = &self.shared;
        if !passes(&s.settings, event) {
            return;
        }
        s.queued.fetch_add(1, Ordering::SeqCst);
        if s.tx.try_send(Arc::new(event.clone())).is_err() {
            s.queued.fetch_sub(1, Ordering::SeqCst);
            s.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Subscribes this receiver to `bot`'s events (`"all"` for every bot)
    /// of `types` (empty: all types) on `events`.
    pub fn subscribe_to(
        &self,
        events: &EventManager,
        bot: &str,
        types: &[EventType],
    ) -> SubscriptionId {
        let me = self.clone();
        let id = events.subscribe(bot, move |e| me.send(e), types);
        let mut subs = self
            .shared
            .subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        subs.push((events.clone(), id));
        id
    }

    /// Ends every subscription made with [`subscribe_to`](Receiver::subscribe_to).
    pub fn unsubscribe_all(&self) {
        let subs = std::mem::take(
            &mut *self
                .shared
                .subscriptions
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        for (em, id) in subs {
            em.unsubscribe(id);
        }
    }

    /// Waits until everything queued was delivered or dropped, or `timeout`
    /// passed (real time). Returns whether the queue is empty. For shutdown.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let s = &self.shared;
        let wait = async {
            loop {
                let idle = s.idle.notified();
                tokio::pin!(idle);
                idle.as_mut().enable();
                if s.queued.load(Ordering::SeqCst) == 0 {
                    return;
                }
                idle.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }

    /// [`flush`](Receiver::flush) from plain (non-async) code.
    pub fn flush_blocking(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.shared.queued.load(Ordering::SeqCst) > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        true
    }
}

/// The notification modes: which events a receiver forwards.
fn passes(settings: &Settings, e: &BotEvent) -> bool {
    let failures = e
        .data
        .get("consecutive_failures")
        .and_then(serde_json::Value::as_u64);
    let recovered = e
        .data
        .get("recovered_after")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    let is_recovery = e.description == "run succeeded" && recovered > 0;
    match settings.only_after_failures {
        Some(n) => {
            let failed_enough =
                e.description.starts_with("run failed") && failures.is_some_and(|f| f >= n);
            failed_enough || (settings.on_recovery && is_recovery && recovered >= n)
        }
        None => !settings.on_recovery || e.description != "run succeeded" || is_recovery,
    }
}

async fn deliver(s: Arc<Shared>, mut rx: mpsc::Receiver<Arc<BotEvent>>) {
    let client = match reqwest::Client::builder()
        .timeout(s.settings.timeout)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(url = %s.url, error = %e.without_url(), "could not build the HTTP client; dropping events");
            reqwest::Client::new()
        }
    };
    while let Some(event) = rx.recv().await {
        post_with_retries(&s, &client, &payload(s.format, &event)).await;
        if s.queued.fetch_sub(1, Ordering::SeqCst) == 1 {
            s.idle.notify_waiters();
        }
    }
}

async fn post_with_retries(s: &Shared, client: &reqwest::Client, body: &serde_json::Value) {
    let started = Instant::now();
    let mut delay = s.settings.backoff;
    loop {
        let mut req = client.post(&s.url.url).json(body);
        for (k, v) in &s.settings.headers {
            req = req.header(k, v);
        }
        let retry_after = match req.send().await {
            Ok(resp) if resp.status().is_success() => {
                s.sent.fetch_add(1, Ordering::SeqCst);
                return;
            }
            Ok(resp) if resp.status().as_u16() == 429 || resp.status().is_server_error() => {
                tracing::warn!(url = %s.url, status = resp.status().as_u16(), "webhook refused; will retry");
                resp.headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(retry_after)
            }
            Ok(resp) => {
                tracing::error!(url = %s.url, status = resp.status().as_u16(), "webhook rejected the event; dropped");
                s.dropped.fetch_add(1, Ordering::SeqCst);
                return;
            }
            Err(e) => {
                // `without_url`: reqwest's messages would print the secret.
                tracing::warn!(url = %s.url, error = %e.without_url(), "webhook unreachable; will retry");
                None
            }
        };
        let wait = retry_after.unwrap_or_else(|| with_jitter(delay));
        if started.elapsed() + wait > s.settings.give_up_after {
            tracing::error!(url = %s.url, "giving up on an event after retrying");
            s.dropped.fetch_add(1, Ordering::SeqCst);
            return;
        }
        s.retried.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(wait).await;
        delay = (delay * 2).min(s.settings.max_backoff);
    }
}

/// `Retry-After`: delay-seconds, or an HTTP date (RFC 7231 §7.1.3).
fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = jiff::fmt::rfc2822::parse(value).ok()?;
    let left = jiff::Timestamp::now().duration_until(when.timestamp());
    Some(Duration::try_from(left).unwrap_or(Duration::ZERO))
}

/// Full jitter in [d/2, d): spreads retries of many receivers.
fn with_jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    let half = d / 2;
    half + Duration::from_nanos(u64::from(nanos) % (half.as_nanos().max(1) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted_everywhere() {
        let u = WebhookUrl::new("https://hooks.slack.com/services/T000/B000/SECRETSECRET").unwrap();
        for shown in [format!("{u}"), format!("{u:?}"), u.redacted().to_owned()] {
            assert!(shown.starts_with("https://hooks.slack.com/…#"), "{shown}");
            assert!(
                !shown.contains("SECRET") && !shown.contains("T000"),
                "{shown}"
            );
        }
        let creds = WebhookUrl::new("https://user:pass@example.com/x").unwrap();
        assert!(!creds.to_string().contains("pass"));
        let e = WebhookUrl::new("ftp://example.com/SECRET")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("SECRET"), "{e}");
        assert!(
            WebhookUrl::new("not a url SECRET")
                .unwrap_err()
                .to_string()
                .contains("not a URL")
        );
    }

    #[test]
    fn payload_shapes() {
        let mut e = BotEvent::new("report", EventType::Error, "run failed");
        e.bot_id = "abc".into();
        e.data = serde_json::json!({"attempt": 3, "error": "boom"});
        let slack = payload(Format::Slack, &e);
        assert_eq!(slack["bot_name"], "report");
        assert_eq!(slack["event_type"], "error");
        assert_eq!(slack["emoji"], "🚨");
        assert_eq!(slack["data"]["attempt"], 3);
        let text = slack["text"].as_str().unwrap();
        assert!(
            text.contains("report") && text.contains("run failed") && text.contains("error: boom"),
            "{text}"
        );
        let chime = payload(Format::Chime, &e);
        let content = chime["Content"].as_str().unwrap();
        assert!(
            content.starts_with("/md 🚨 **ERROR**") && content.contains("report"),
            "{content}"
        );
        let json = payload(Format::Json, &e);
        assert_eq!(json["description"], "run failed");
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO),
            "a date in the past"
        );
        let later = jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_secs(120))
            .unwrap();
        let text = jiff::fmt::rfc2822::to_string(&later.to_zoned_datetime(jiff::tz::TimeZone::UTC))
            .unwrap();
        let d = retry_after(&text).unwrap();
        assert!(
            d > Duration::from_secs(100) && d <= Duration::from_secs(120),
            "{d:?}"
        );
        assert_eq!(retry_after("soon"), None);
    }

    #[test]
    fn notification_modes() {
        let mut s = Settings::default();
        let ev = |desc: &str, data: serde_json::Value| {
            let mut e = BotEvent::new("b", EventType::Error, desc);
            e.data = data;
            e
        };
        let fail = |n: u64| {
            ev(
                "run failed after 1 attempt(s): x",
                serde_json::json!({"consecutive_failures": n}),
            )
        };
        let ok = |after: u64| {
            ev(
                "run succeeded",
                serde_json::json!({"recovered_after": after}),
            )
        };
        assert!(passes(&s, &fail(1)) && passes(&s, &ok(0)));
        s.only_after_failures = Some(3);
        assert!(!passes(&s, &fail(2)) && passes(&s, &fail(3)) && passes(&s, &fail(4)));
        assert!(!passes(&s, &ok(3)), "no recovery notice unless asked");
        s.on_recovery = true;
        assert!(passes(&s, &ok(3)) && !passes(&s, &ok(2)) && !passes(&s, &ok(0)));
        s.only_after_failures = None;
        assert!(passes(&s, &ok(1)) && !passes(&s, &ok(0)) && passes(&s, &fail(1)));
    }
}
