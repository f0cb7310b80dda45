//! Receivers: deliver events to Slack, Chime or any JSON webhook (cargo
//! feature `webhooks`, on by default).
//!
//! One receiver serves each distinct (format, URL, settings), however many
//! bots and subscriptions name it: 1,000 bots posting to one Slack URL share
//! one queue. Each receiver owns a bounded queue (default 10,000), fed
//! inline when an event is published, and one task on a small runtime
//! shared by every receiver of the process (one thread, `botman-webhooks`),
//! so they work from plain code and inside tokio alike, the thread count
//! does not grow with receivers, and a dead or slow endpoint only ever fills
//! its own queue. Delivery retries connect errors, time-outs, 429 and 5xx
//! with exponential backoff and jitter, honouring `Retry-After`, and gives
//! up (counting the loss) after a bounded time. Other 4xx answers are final.
//!
//! Webhook URLs are secrets: [`WebhookUrl`] prints as scheme, host and a
//! short hash, in `Debug`, logs, errors and metrics alike.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc};

use crate::events::{
    BotEvent, EventKind, EventManager, EventType, Filter, Forward, SubscriptionId,
};
use crate::util::lock;

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
        let parsed =
            url::Url::parse(url).map_err(|_| crate::Error::invalid_webhook(&shown, "not a URL"))?;
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
    let mut h = crate::util::Fnv::new();
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Format {
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
                "kind": e.kind.as_str(),
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
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Settings {
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

/// What the receiver and its delivery task share.
struct Counts {
    sent: AtomicU64,
    retried: AtomicU64,
    dropped: AtomicU64,
    queued: AtomicU64,
    /// Signalled when `queued` reaches zero (async and blocking waiters).
    idle: Notify,
    idle_sync: (Mutex<()>, Condvar),
}

impl Counts {
    fn done(&self) {
        if self.queued.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
            let _guard = lock(&self.idle_sync.0);
            self.idle_sync.1.notify_all();
        }
    }
}

struct Shared {
    url: WebhookUrl,
    format: Format,
    settings: Arc<Settings>,
    counts: Arc<Counts>,
    /// The delivery task ends when the last handle (and with it this
    /// sender) is gone and the queue is drained.
    tx: mpsc::Sender<Arc<BotEvent>>,
    subscriptions: Mutex<Vec<(EventManager, SubscriptionId)>>,
}

/// A running receiver; see [`SlackReceiver`], [`ChimeReceiver`] and
/// [`WebhookReceiver`], which build one. Cheap to clone; receivers built
/// for the same format, URL and settings are one receiver.
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

impl PartialEq for Receiver {
    fn eq(&self, other: &Receiver) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl Eq for Receiver {}

macro_rules! receiver_builder {
    ($name:ident, $format:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug)]
        pub struct $name {
            url: Result<WebhookUrl, crate::Error>,
            settings: Settings,
        }

        impl $name {
            /// A receiver posting to `url` (validated by `build`).
            pub fn new(url: &str) -> $name {
                $name {
                    url: WebhookUrl::new(url),
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

            /// Only notify failed runs ([`EventKind::RunFailed`]), once a
            /// bot has failed `n` fires in a row.
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

            /// Starts the receiver, or returns the one already running for
            /// the same URL and settings.
            pub fn build(self) -> Result<Receiver, crate::Error> {
                Receiver::start(self.url?, $format, self.settings)
            }
        }
    };
}

receiver_builder!(
    SlackReceiver,
    Format::Slack,
    "Posts to a Slack incoming webhook (or workflow webhook): a readable `text` plus `bot_name`, `bot_id`, `kind`, `event_type`, `description`, `emoji` and `data`, as the Python library sent (with `kind` added)."
);
receiver_builder!(
    ChimeReceiver,
    Format::Chime,
    "Posts to an Amazon Chime webhook: `{\"Content\": \"/md ...\"}` with the type, emoji, bot and description, as the Python library did."
);
receiver_builder!(
    WebhookReceiver,
    Format::Json,
    "Posts each event as JSON (the `BotEvent` fields, `kind` included) to any URL, with optional extra headers."
);

/// The runtime and HTTP client every receiver of the process shares.
struct Io {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
}

fn io() -> Result<&'static Io, crate::Error> {
    static IO: OnceLock<Result<Io, String>> = OnceLock::new();
    IO.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(2)
            .thread_name("botman-webhooks")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| e.without_url().to_string())?;
        Ok(Io { rt, client })
    })
    .as_ref()
    .map_err(crate::Error::runtime)
}

type Key = (Format, String, Arc<Settings>);

/// Live receivers by (format, URL, settings): one each.
fn registry() -> &'static Mutex<HashMap<Key, Weak<Shared>>> {
    static REG: OnceLock<Mutex<HashMap<Key, Weak<Shared>>>> = OnceLock::new();
    REG.get_or_init(|| Mutex::new(HashMap::new()))
}

impl Receiver {
    pub(crate) fn start(
        url: WebhookUrl,
        format: Format,
        settings: Settings,
    ) -> Result<Receiver, crate::Error> {
        let settings = Arc::new(settings);
        let key: Key = (format, url.url.clone(), Arc::clone(&settings));
        let mut reg = lock(registry());
        if let Some(shared) = reg.get(&key).and_then(Weak::upgrade) {
            return Ok(Receiver { shared });
        }
        let io = io()?;
        let (tx, rx) = mpsc::channel(settings.queue);
        let counts = Arc::new(Counts {
            sent: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            queued: AtomicU64::new(0),
            idle: Notify::new(),
            idle_sync: (Mutex::new(()), Condvar::new()),
        });
        let task = Delivery {
            url: url.clone(),
            format,
            settings: Arc::clone(&settings),
            counts: Arc::clone(&counts),
        };
        io.rt.spawn(task.run(rx, io.client.clone()));
        let shared = Arc::new(Shared {
            url,
            format,
            settings,
            counts,
            tx,
            subscriptions: Mutex::new(Vec::new()),
        });
        reg.retain(|_, w| w.strong_count() > 0);
        reg.insert(key, Arc::downgrade(&shared));
        Ok(Receiver { shared })
    }

    /// The webhook, redacted.
    pub fn url(&self) -> &WebhookUrl {
        &self.shared.url
    }

    /// Delivery counters.
    pub fn stats(&self) -> ReceiverStats {
        let c = &self.shared.counts;
        ReceiverStats {
            sent: c.sent.load(Ordering::SeqCst),
            retried: c.retried.load(Ordering::SeqCst),
            dropped: c.dropped.load(Ordering::SeqCst),
            queued: c.queued.load(Ordering::SeqCst),
        }
    }

    /// Queues an event (never blocks; counts a drop when the queue is full).
    pub fn send(&self, event: &BotEvent) {
        if self.accept(event) {
            self.enqueue(Arc::new(event.clone()));
        }
    }
}

impl Forward for Receiver {
    fn accept(&self, event: &BotEvent) -> bool {
        let wanted = passes(&self.shared.settings, event);
        if wanted {
            self.shared.counts.queued.fetch_add(1, Ordering::SeqCst);
        }
        wanted
    }

    fn enqueue(&self, event: Arc<BotEvent>) {
        let c = &self.shared.counts;
        if self.shared.tx.try_send(event).is_err() {
            c.dropped.fetch_add(1, Ordering::SeqCst);
            c.done();
        }
    }
}

impl Receiver {
    /// Subscribes this receiver to `bot`'s events (`"all"` for every bot)
    /// of `types` (empty: all types) on `events`.
    pub fn subscribe_to(
        &self,
        events: &EventManager,
        bot: &str,
        types: &[EventType],
    ) -> SubscriptionId {
        let filter = if bot == "all" {
            Filter::All
        } else {
            Filter::Name(bot.to_owned())
        };
        self.subscribe_filtered(events, filter, types)
    }

    pub(crate) fn subscribe_filtered(
        &self,
        events: &EventManager,
        filter: Filter,
        types: &[EventType],
    ) -> SubscriptionId {
        let id = events.subscribe_forward(filter, Arc::new(self.clone()), types);
        lock(&self.shared.subscriptions).push((events.clone(), id));
        id
    }

    /// Ends one subscription made with [`subscribe_to`](Receiver::subscribe_to)
    /// (or by a bot or manager).
    pub(crate) fn unsubscribe(&self, id: SubscriptionId) {
        let mut subs = lock(&self.shared.subscriptions);
        subs.retain(|(em, sid)| {
            let gone = *sid == id;
            if gone {
                em.unsubscribe(id);
            }
            !gone
        });
    }

    /// Ends every subscription of this receiver, whoever made it (every bot
    /// posting to this URL with these settings).
    pub fn unsubscribe_all(&self) {
        let subs = std::mem::take(&mut *lock(&self.shared.subscriptions));
        for (em, id) in subs {
            em.unsubscribe(id);
        }
    }

    /// Waits until everything queued was delivered or dropped, or `timeout`
    /// passed (real time). Returns whether the queue is empty. Events reach
    /// the queue when they are published, so after a bot's run this covers
    /// the whole way from publication to the HTTP answer.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let c = &self.shared.counts;
        let wait = async {
            loop {
                let idle = c.idle.notified();
                tokio::pin!(idle);
                idle.as_mut().enable();
                if c.queued.load(Ordering::SeqCst) == 0 {
                    return;
                }
                idle.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }

    /// [`flush`](Receiver::flush) from plain (non-async) code.
    pub fn flush_blocking(&self, timeout: Duration) -> bool {
        let c = &self.shared.counts;
        let deadline = Instant::now() + timeout;
        let mut guard = lock(&c.idle_sync.0);
        loop {
            if c.queued.load(Ordering::SeqCst) == 0 {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            guard = c
                .idle_sync
                .1
                .wait_timeout(guard, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// The notification modes: which events a receiver forwards. They read the
/// event's kind and its data, never its text.
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
    let is_recovery = e.kind == EventKind::RunSucceeded && recovered > 0;
    match settings.only_after_failures {
        Some(n) => {
            let failed_enough = e.kind == EventKind::RunFailed && failures.is_some_and(|f| f >= n);
            failed_enough || (settings.on_recovery && is_recovery && recovered >= n)
        }
        None => !settings.on_recovery || e.kind != EventKind::RunSucceeded || is_recovery,
    }
}

/// One receiver's delivery task.
struct Delivery {
    url: WebhookUrl,
    format: Format,
    settings: Arc<Settings>,
    counts: Arc<Counts>,
}

impl Delivery {
    async fn run(self, mut rx: mpsc::Receiver<Arc<BotEvent>>, client: reqwest::Client) {
        while let Some(event) = rx.recv().await {
            self.post_with_retries(&client, &payload(self.format, &event))
                .await;
            self.counts.done();
        }
    }

    async fn post_with_retries(&self, client: &reqwest::Client, body: &serde_json::Value) {
        let (s, c) = (&*self.settings, &*self.counts);
        let started = Instant::now();
        let mut delay = s.backoff;
        loop {
            let mut req = client.post(&self.url.url).timeout(s.timeout).json(body);
            for (k, v) in &s.headers {
                req = req.header(k, v);
            }
            let retry_after = match req.send().await {
                Ok(resp) if resp.status().is_success() => {
                    c.sent.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                Ok(resp) if resp.status().as_u16() == 429 || resp.status().is_server_error() => {
                    tracing::warn!(url = %self.url, status = resp.status().as_u16(), "webhook refused; will retry");
                    resp.headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(retry_after)
                }
                Ok(resp) => {
                    tracing::error!(url = %self.url, status = resp.status().as_u16(), "webhook rejected the event; dropped");
                    c.dropped.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                Err(e) => {
                    // `without_url`: reqwest's messages would print the secret.
                    tracing::warn!(url = %self.url, error = %e.without_url(), "webhook unreachable; will retry");
                    None
                }
            };
            let wait = retry_after.unwrap_or_else(|| with_jitter(delay));
            if started.elapsed() + wait > s.give_up_after {
                tracing::error!(url = %self.url, "giving up on an event after retrying");
                c.dropped.fetch_add(1, Ordering::SeqCst);
                return;
            }
            c.retried.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(wait).await;
            delay = (delay * 2).min(s.max_backoff);
        }
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
        let ev = |kind: EventKind, data: serde_json::Value| {
            // The text says nothing: the modes read the kind and the data.
            let mut e = BotEvent::new("b", EventType::Error, "…").with_kind(kind);
            e.data = data;
            e
        };
        let fail = |n: u64| {
            ev(
                EventKind::RunFailed,
                serde_json::json!({"consecutive_failures": n}),
            )
        };
        let ok = |after: u64| {
            ev(
                EventKind::RunSucceeded,
                serde_json::json!({"recovered_after": after}),
            )
        };
        let attempt = ev(
            EventKind::AttemptFailed,
            serde_json::json!({"consecutive_failures": 9}),
        );
        assert!(passes(&s, &fail(1)) && passes(&s, &ok(0)) && passes(&s, &attempt));
        s.only_after_failures = Some(3);
        assert!(!passes(&s, &fail(2)) && passes(&s, &fail(3)) && passes(&s, &fail(4)));
        assert!(!passes(&s, &attempt), "only run failures count");
        assert!(!passes(&s, &ok(3)), "no recovery notice unless asked");
        s.on_recovery = true;
        assert!(passes(&s, &ok(3)) && !passes(&s, &ok(2)) && !passes(&s, &ok(0)));
        s.only_after_failures = None;
        assert!(passes(&s, &ok(1)) && !passes(&s, &ok(0)) && passes(&s, &fail(1)));
    }
}
