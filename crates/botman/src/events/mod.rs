//! Events: what bots and managers publish, and who hears it.
//!
//! Every [`BotEvent`] has a [`kind`](BotEvent::kind) ([`EventKind`]) that
//! code matches on, an [`EventType`] (its seriousness) that subscriptions
//! filter on, and a `description` for people. Publishing never blocks: each
//! callback subscription has its own bounded queue, delivered by a small
//! pool of threads shared by the whole process (see `pool.rs`), so a slow or
//! panicking subscriber delays nobody else (not the publisher, not another
//! subscriber, not a bot) and the thread count does not grow with the number
//! of subscriptions. Events a full queue cannot take are dropped and counted
//! (`dropped`). Each subscriber receives its events in publication order.
//! Webhook receivers are fed inline at publication (their own queue is the
//! only one on the way, so flushing a receiver covers the whole way).

mod pool;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::run::{MissReason, SkipReason};
use crate::util::lock;
use pool::{Mailbox, Pending, Switch};

/// How serious an event is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// Informational (a run succeeded, a bot was added).
    Info,
    /// Something went wrong but was handled (an attempt failed, a fire was
    /// skipped or missed).
    Warning,
    /// A failure that needs a person (a fire failed after its attempts).
    Error,
    /// Scheduling details.
    Debug,
}

impl EventType {
    /// All four types.
    pub const ALL: [EventType; 4] = [
        EventType::Info,
        EventType::Warning,
        EventType::Error,
        EventType::Debug,
    ];

    fn bit(self) -> u8 {
        match self {
            EventType::Info => 1,
            EventType::Warning => 2,
            EventType::Error => 4,
            EventType::Debug => 8,
        }
    }

    /// `"info"`, `"warning"`, `"error"` or `"debug"`, as the Python library.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Info => "info",
            EventType::Warning => "warning",
            EventType::Error => "error",
            EventType::Debug => "debug",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses `"info"`, `"warning"`, `"error"` or `"debug"` (any case).
///
/// ```
/// use botman::EventType;
/// assert_eq!("error".parse::<EventType>()?, EventType::Error);
/// assert!("fatal".parse::<EventType>().is_err());
/// # Ok::<(), botman::Error>(())
/// ```
impl FromStr for EventType {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<EventType, crate::Error> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                crate::Error::unknown_name("event type", s, &EventType::ALL.map(EventType::as_str))
            })
    }
}

/// What happened. Code matches on this, never on the description text.
/// Serialized as a snake_case string (`"run_failed"`); a skip's reason and
/// a miss's reason go in the event's `data.reason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// A run's first attempt starts (Info).
    RunStarted,
    /// An attempt failed; `data.retry_at` says when the next starts, if one
    /// does (Warning: the run's failure is [`RunFailed`](EventKind::RunFailed)).
    AttemptFailed,
    /// A run succeeded (Info); `data.recovered_after` counts the failures it
    /// ended.
    RunSucceeded,
    /// A run failed: every attempt, a soft error, or a time-out (Error); one
    /// per fire.
    RunFailed,
    /// The bot cools down after a failed fire (Warning); `data.until`.
    CoolDownEntered,
    /// The cool-down is over; a run follows (Info).
    CoolDownEnded,
    /// A fire was not run (Warning; Debug when another process claimed it).
    FireSkipped {
        /// Why.
        reason: SkipReason,
    },
    /// Fires were not run: noticed too late, or not claimed in time
    /// (Warning; Error when the store failed). `data.missed` counts them.
    FiresMissed {
        /// Why.
        reason: MissReason,
    },
    /// The bot's next fire is decided (Debug).
    FireScheduled,
    /// A bot was added (Info).
    BotAdded,
    /// A bot was removed (Info).
    BotRemoved,
    /// A bot was paused (Info).
    BotPaused,
    /// A bot was resumed (Info).
    BotResumed,
    /// The manager started its scheduler (Info).
    ManagerStarted,
    /// The manager stops: no more fires; runs get the grace period (Info).
    ManagerStopping,
    /// The manager stopped (Info; Warning if runs were abandoned).
    ManagerStopped,
    /// The wall clock jumped (Warning); `data.action` says what the
    /// scheduler did.
    ClockJumped,
    /// A sync attempt ran past its time limit and its thread cannot be
    /// stopped (Error).
    WorkerStuck,
    /// A stuck thread returned (Info).
    WorkerReturned,
    /// No run of the bot has succeeded within its
    /// [`expect_success_within`](crate::BotBuilder::expect_success_within)
    /// window (Error): `data.window_s`, `data.last_success` (or null),
    /// `data.counted_from`. Again at most once per window while it lasts.
    Overdue,
    /// The store failed to record runs or states (Error, the manager's own
    /// event): `data.error`, `data.kind`, `data.pending` (rows waiting),
    /// `data.retry_at`. Retried until it works; rows are dropped, and
    /// counted in `data.dropped`, only beyond a bound.
    StoreFailed,
    /// The store works again after failing (Info): `data.written`.
    StoreRecovered,
    /// An event published by a user ([`BotEvent::new`]).
    Custom,
}

impl EventKind {
    /// The kinds that carry nothing.
    const PLAIN: [EventKind; 21] = [
        EventKind::RunStarted,
        EventKind::AttemptFailed,
        EventKind::RunSucceeded,
        EventKind::RunFailed,
        EventKind::CoolDownEntered,
        EventKind::CoolDownEnded,
        EventKind::FireScheduled,
        EventKind::BotAdded,
        EventKind::BotRemoved,
        EventKind::BotPaused,
        EventKind::BotResumed,
        EventKind::ManagerStarted,
        EventKind::ManagerStopping,
        EventKind::ManagerStopped,
        EventKind::ClockJumped,
        EventKind::WorkerStuck,
        EventKind::WorkerReturned,
        EventKind::Overdue,
        EventKind::StoreFailed,
        EventKind::StoreRecovered,
        EventKind::Custom,
    ];

    /// Every kind's name ([`as_str`](EventKind::as_str)), as a filter or a
    /// serialized event names it.
    pub const NAMES: [&'static str; 23] = [
        "run_started",
        "attempt_failed",
        "run_succeeded",
        "run_failed",
        "cool_down_entered",
        "cool_down_ended",
        "fire_skipped",
        "fires_missed",
        "fire_scheduled",
        "bot_added",
        "bot_removed",
        "bot_paused",
        "bot_resumed",
        "manager_started",
        "manager_stopping",
        "manager_stopped",
        "clock_jumped",
        "worker_stuck",
        "worker_returned",
        "overdue",
        "store_failed",
        "store_recovered",
        "custom",
    ];

    /// The snake_case name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::RunStarted => "run_started",
            EventKind::AttemptFailed => "attempt_failed",
            EventKind::RunSucceeded => "run_succeeded",
            EventKind::RunFailed => "run_failed",
            EventKind::CoolDownEntered => "cool_down_entered",
            EventKind::CoolDownEnded => "cool_down_ended",
            EventKind::FireSkipped { .. } => "fire_skipped",
            EventKind::FiresMissed { .. } => "fires_missed",
            EventKind::FireScheduled => "fire_scheduled",
            EventKind::BotAdded => "bot_added",
            EventKind::BotRemoved => "bot_removed",
            EventKind::BotPaused => "bot_paused",
            EventKind::BotResumed => "bot_resumed",
            EventKind::ManagerStarted => "manager_started",
            EventKind::ManagerStopping => "manager_stopping",
            EventKind::ManagerStopped => "manager_stopped",
            EventKind::ClockJumped => "clock_jumped",
            EventKind::WorkerStuck => "worker_stuck",
            EventKind::WorkerReturned => "worker_returned",
            EventKind::Overdue => "overdue",
            EventKind::StoreFailed => "store_failed",
            EventKind::StoreRecovered => "store_recovered",
            EventKind::Custom => "custom",
        }
    }

    /// The kind named `name`; a skip's or miss's reason is read from
    /// `reason` (the event's `data.reason`).
    fn from_parts(name: &str, reason: Option<&str>) -> Result<EventKind, crate::Error> {
        match name {
            "fire_skipped" => Ok(EventKind::FireSkipped {
                reason: reason.unwrap_or("").parse()?,
            }),
            "fires_missed" => Ok(EventKind::FiresMissed {
                reason: match reason {
                    Some("store_unavailable") => MissReason::StoreUnavailable,
                    _ => MissReason::Late,
                },
            }),
            _ => Self::PLAIN
                .into_iter()
                .find(|k| k.as_str() == name)
                .ok_or_else(|| crate::Error::unknown_name("event kind", name, &Self::NAMES)),
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who published an event, for subscriptions bound to one manager's bots
/// (not serialized: it means nothing outside this process).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Origin {
    /// The publishing manager's number in this process (0: not a manager).
    pub(crate) manager: u64,
    /// The manager's own event (not one of its bots').
    pub(crate) of_manager: bool,
}

/// One event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(into = "Wire", try_from = "Wire")]
pub struct BotEvent {
    /// The bot's name, or the manager's name for the manager's own events.
    pub bot_name: String,
    /// The bot's id: the first 16 hex digits of a FNV-1a hash of the
    /// manager's name, a NUL byte and the bot's name, taken when the bot is
    /// added — the same for the same names in every process and across
    /// restarts. The manager's own events carry the hash of its name alone.
    /// Empty for events published by users.
    pub bot_id: String,
    /// What happened, for programs.
    pub kind: EventKind,
    /// How serious it is.
    pub event_type: EventType,
    /// What happened, for people.
    pub description: String,
    /// The details: attempt, error, duration, scheduled instant, lateness,
    /// reason ... (`null` when there is nothing to add).
    pub data: serde_json::Value,
    /// When it was published (the publisher's clock).
    pub at: Timestamp,
    pub(crate) origin: Origin,
}

/// `BotEvent` as serialized: the kind as a string.
#[derive(Serialize, Deserialize)]
struct Wire {
    bot_name: String,
    bot_id: String,
    kind: String,
    event_type: EventType,
    description: String,
    data: serde_json::Value,
    at: Timestamp,
}

impl From<BotEvent> for Wire {
    fn from(e: BotEvent) -> Wire {
        Wire {
            bot_name: e.bot_name,
            bot_id: e.bot_id,
            kind: e.kind.as_str().to_owned(),
            event_type: e.event_type,
            description: e.description,
            data: e.data,
            at: e.at,
        }
    }
}

impl TryFrom<Wire> for BotEvent {
    type Error = crate::Error;

    fn try_from(w: Wire) -> Result<BotEvent, crate::Error> {
        let reason = w.data.get("reason").and_then(serde_json::Value::as_str);
        Ok(BotEvent {
            kind: EventKind::from_parts(&w.kind, reason)?,
            bot_name: w.bot_name,
            bot_id: w.bot_id,
            event_type: w.event_type,
            description: w.description,
            data: w.data,
            at: w.at,
            origin: Origin::default(),
        })
    }
}

impl BotEvent {
    /// An event of kind [`EventKind::Custom`] published now (wall clock)
    /// with no data.
    pub fn new(
        bot_name: impl Into<String>,
        event_type: EventType,
        description: impl Into<String>,
    ) -> BotEvent {
        BotEvent {
            bot_name: bot_name.into(),
            bot_id: String::new(),
            kind: EventKind::Custom,
            event_type,
            description: description.into(),
            data: serde_json::Value::Null,
            at: Timestamp::now(),
            origin: Origin::default(),
        }
    }

    /// The same event with another kind.
    pub fn with_kind(mut self, kind: EventKind) -> BotEvent {
        self.kind = kind;
        self
    }
}

/// A bot's (or a manager's) id: see [`BotEvent::bot_id`].
pub(crate) fn stable_id(manager: &str, bot: Option<&str>) -> String {
    id_text(id_hash(manager, bot))
}

/// The hash behind [`stable_id`], kept as a number (8 bytes a bot).
pub(crate) fn id_hash(manager: &str, bot: Option<&str>) -> u64 {
    let prefix = id_prefix(manager);
    match bot {
        Some(bot) => bot_id_hash(&prefix, bot),
        None => std::hash::Hasher::finish(&prefix),
    }
}

/// The hash state after the manager's name: hashed once for many bots.
pub(crate) fn id_prefix(manager: &str) -> crate::util::Fnv {
    let mut h = crate::util::Fnv::new();
    std::hash::Hasher::write(&mut h, manager.as_bytes());
    h
}

/// A bot's id hash from its manager's [`id_prefix`].
pub(crate) fn bot_id_hash(prefix: &crate::util::Fnv, bot: &str) -> u64 {
    use std::hash::Hasher;
    let mut h = prefix.clone();
    h.write(&[0]);
    h.write(bot.as_bytes());
    h.finish()
}

/// The hash as an id: 16 hex digits.
pub(crate) fn id_text(hash: u64) -> String {
    format!("{hash:016x}")
}

/// Identifies a subscription, for [`EventManager::unsubscribe`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SubscriptionId(u64);

/// The queue a subscriber gets unless told otherwise.
pub const DEFAULT_QUEUE: usize = 10_000;

type Callback = Box<dyn Fn(&BotEvent) + Send + Sync>;

/// Something fed inline at publication, without a queue of the event
/// manager's: a webhook receiver (it has its own bounded queue).
/// Events it takes are counted as on their way from the moment they are
/// published (`accept`), also while delivery is switched off, so flushing
/// it covers the whole way.
pub(crate) trait Forward: Send + Sync + 'static {
    /// Whether it takes the event; if so, it is counted as queued.
    fn accept(&self, event: &BotEvent) -> bool;
    /// Queues an accepted event.
    fn enqueue(&self, event: Arc<BotEvent>);
}

/// Whose events a subscription wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Filter {
    /// Every event ("all").
    All,
    /// Events whose `bot_name` is this (bots and managers alike).
    Name(String),
    /// One manager's bot: its events only, not another manager's bot of
    /// the same name, nor a manager of that name.
    Bot { manager: u64, name: Arc<str> },
    /// One manager's own events.
    #[cfg_attr(not(feature = "webhooks"), allow(dead_code))]
    Manager { manager: u64 },
    /// Every event of one manager: its bots' (also one removed while its
    /// run went on) and its own.
    Instance { manager: u64 },
}

impl Filter {
    fn from_name(bot: &str) -> Filter {
        if bot == "all" {
            Filter::All
        } else {
            Filter::Name(bot.to_owned())
        }
    }

    fn matches(&self, e: &BotEvent) -> bool {
        match self {
            Filter::All => true,
            Filter::Name(n) => *n == e.bot_name,
            Filter::Bot { manager, name } => {
                e.origin.manager == *manager && !e.origin.of_manager && **name == *e.bot_name
            }
            Filter::Manager { manager } => e.origin.manager == *manager && e.origin.of_manager,
            Filter::Instance { manager } => e.origin.manager == *manager,
        }
    }

    /// A subscription by name: ended by `unsubscribe_bot(name)`.
    fn is_name(&self, bot: &str) -> bool {
        matches!(self, Filter::Name(n) if n == bot)
    }
}

enum Target {
    Queue(Arc<Mailbox>),
    #[cfg_attr(not(feature = "webhooks"), allow(dead_code))]
    Inline(Arc<dyn Forward>),
}

struct Sub {
    id: u64,
    filter: Filter,
    types: u8,
    target: Target,
}

#[derive(Default)]
pub(crate) struct SubStats {
    delivered: AtomicU64,
    dropped: AtomicU64,
    panicked: AtomicU64,
}

/// Delivery counters of one subscription.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscriptionStats {
    /// Events waiting in its queue.
    pub queued: u64,
    /// Events its callback has returned from.
    pub delivered: u64,
    /// Events its full queue could not take.
    pub dropped: u64,
    /// Callback calls that panicked (the subscription stays).
    pub panicked: u64,
}

struct Inner {
    subs: RwLock<Vec<Sub>>,
    /// `subs.len()`, readable without the lock: publishers that would build
    /// an event for nobody check it first.
    count: AtomicU64,
    /// Every callback subscription's mailbox, also after it ended (its
    /// counters).
    stats: Mutex<HashMap<u64, Arc<Mailbox>>>,
    next_id: AtomicU64,
    published: AtomicU64,
    /// Delivery pauses while off (`stop`); publishing still queues.
    switch: Arc<Switch>,
    pending: Arc<Pending>,
}

/// Publishes [`BotEvent`]s to subscribers. Cheap to clone (an `Arc`).
///
/// ```
/// use botman::{BotEvent, EventManager, EventType};
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
///
/// let events = EventManager::new();
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let s = Arc::clone(&seen);
/// events.subscribe("my_bot", move |e| s.lock().unwrap().push(e.description.clone()), &[EventType::Error]);
/// events.publish(BotEvent::new("my_bot", EventType::Error, "it broke"));
/// events.publish(BotEvent::new("my_bot", EventType::Info, "fine"));
/// assert!(events.wait_until_empty(Duration::from_secs(5)));
/// assert_eq!(*seen.lock().unwrap(), ["it broke"]);
/// ```
#[derive(Clone)]
pub struct EventManager {
    inner: Arc<Inner>,
}

impl Default for EventManager {
    fn default() -> EventManager {
        EventManager::new()
    }
}

impl fmt::Debug for EventManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventManager")
            .field(
                "subscriptions",
                &self.inner.subs.read().map_or(0, |s| s.len()),
            )
            .field("published", &self.published())
            .finish()
    }
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

fn type_mask(types: &[EventType]) -> u8 {
    if types.is_empty() {
        0xF
    } else {
        types.iter().fold(0, |m, t| m | t.bit())
    }
}

impl EventManager {
    /// A new, empty event manager, delivering.
    pub fn new() -> EventManager {
        EventManager {
            inner: Arc::new(Inner {
                subs: RwLock::new(Vec::new()),
                count: AtomicU64::new(0),
                stats: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
                published: AtomicU64::new(0),
                switch: Arc::new(Switch::new()),
                pending: Arc::new(Pending::new()),
            }),
        }
    }

    /// The process-wide event manager (Python: `GLOBAL_EVENT_MANAGER`).
    /// Managers publish here unless given their own.
    pub fn global() -> &'static EventManager {
        static GLOBAL: OnceLock<EventManager> = OnceLock::new();
        GLOBAL.get_or_init(EventManager::new)
    }

    /// Subscribes `callback` to the events whose `bot_name` is `bot` (a bot
    /// or a manager name; every manager's bot of that name), or to every
    /// event with `"all"`, whose type is in `types` (empty: every type), with
    /// a queue of [`DEFAULT_QUEUE`] events. To hear one manager's bot only,
    /// use [`BotRef::subscribe`](crate::BotRef::subscribe).
    pub fn subscribe(
        &self,
        bot: &str,
        callback: impl Fn(&BotEvent) + Send + Sync + 'static,
        types: &[EventType],
    ) -> SubscriptionId {
        self.subscribe_with_queue(bot, callback, types, DEFAULT_QUEUE)
    }

    /// [`subscribe`](EventManager::subscribe) with a queue of `capacity`
    /// events (at least 1): past it, events are dropped and counted.
    pub fn subscribe_with_queue(
        &self,
        bot: &str,
        callback: impl Fn(&BotEvent) + Send + Sync + 'static,
        types: &[EventType],
        capacity: usize,
    ) -> SubscriptionId {
        self.subscribe_filtered(Filter::from_name(bot), Box::new(callback), types, capacity)
    }

    pub(crate) fn subscribe_filtered(
        &self,
        filter: Filter,
        callback: Callback,
        types: &[EventType],
        capacity: usize,
    ) -> SubscriptionId {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let mailbox = Mailbox::new(
            capacity,
            callback,
            Arc::new(SubStats::default()),
            Arc::clone(&self.inner.switch),
            Arc::clone(&self.inner.pending),
        );
        lock(&self.inner.stats).insert(id, Arc::clone(&mailbox));
        self.add(Sub {
            id,
            filter,
            types: type_mask(types),
            target: Target::Queue(mailbox),
        })
    }

    /// Subscribes something fed inline (a receiver: it queues on its own).
    #[cfg_attr(not(feature = "webhooks"), allow(dead_code))]
    pub(crate) fn subscribe_forward(
        &self,
        filter: Filter,
        to: Arc<dyn Forward>,
        types: &[EventType],
    ) -> SubscriptionId {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        self.add(Sub {
            id,
            filter,
            types: type_mask(types),
            target: Target::Inline(to),
        })
    }

    fn add(&self, sub: Sub) -> SubscriptionId {
        let id = sub.id;
        let mut subs = write(&self.inner.subs);
        subs.push(sub);
        self.inner.count.store(subs.len() as u64, Ordering::SeqCst);
        SubscriptionId(id)
    }

    /// Ends a subscription; its queued events are still delivered. Returns
    /// whether it existed.
    pub fn unsubscribe(&self, id: SubscriptionId) -> bool {
        self.remove_where(|s| s.id == id.0) > 0
    }

    /// Ends every subscription made by name to `bot` (not the "all" ones,
    /// nor those bound to one manager's bot). Returns how many ended.
    pub fn unsubscribe_bot(&self, bot: &str) -> usize {
        self.remove_where(|s| s.filter.is_name(bot))
    }

    fn remove_where(&self, gone: impl Fn(&Sub) -> bool) -> usize {
        let mut subs = write(&self.inner.subs);
        let before = subs.len();
        subs.retain(|s| !gone(s));
        self.inner.count.store(subs.len() as u64, Ordering::SeqCst);
        before - subs.len()
    }

    /// Publishes an event to every matching subscriber. Never blocks.
    pub fn publish(&self, event: BotEvent) {
        self.inner.published.fetch_add(1, Ordering::Relaxed);
        if !self.has_subscribers() {
            return;
        }
        // One allocation shared by every subscriber's queue.
        let event = Arc::new(event);
        let subs = read(&self.inner.subs);
        let bit = event.event_type.bit();
        let wants = |s: &&Sub| s.types & bit != 0 && s.filter.matches(&event);
        let queues = subs
            .iter()
            .filter(wants)
            .filter(|s| matches!(s.target, Target::Queue(_)))
            .count();
        // Counted before any delivery thread can see them.
        self.inner.pending.add(queues as u64);
        for s in subs.iter().filter(wants) {
            match &s.target {
                Target::Queue(mb) => mb.push(&event),
                Target::Inline(to) => self.inner.switch.forward(to, &event),
            }
        }
    }

    /// Whether anyone is subscribed (one atomic load).
    pub fn has_subscribers(&self) -> bool {
        self.inner.count.load(Ordering::SeqCst) > 0
    }

    /// Events published so far.
    pub fn published(&self) -> u64 {
        self.inner.published.load(Ordering::Relaxed)
    }

    /// Events waiting in all subscribers' queues.
    pub fn queue_len(&self) -> u64 {
        self.inner.pending.count.load(Ordering::SeqCst)
    }

    /// Delivery counters of one subscription (also after it ended).
    pub fn stats(&self, id: SubscriptionId) -> Option<SubscriptionStats> {
        lock(&self.inner.stats).get(&id.0).map(|mb| {
            let s = &mb.stats;
            SubscriptionStats {
                queued: mb.queued() as u64,
                delivered: s.delivered.load(Ordering::SeqCst),
                dropped: s.dropped.load(Ordering::SeqCst),
                panicked: s.panicked.load(Ordering::SeqCst),
            }
        })
    }

    /// Waits (real time, at most `timeout`) until every callback queue is
    /// empty. Returns whether they are. Do not call it from a subscriber.
    /// (Webhook receivers have their own queues: flush them with
    /// [`Receiver::flush`](crate::Receiver::flush).)
    pub fn wait_until_empty(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (m, cv) = &self.inner.pending.drained;
        let mut guard = lock(m);
        loop {
            if self.queue_len() == 0 {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            guard = cv
                .wait_timeout(guard, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Resumes delivery after [`stop`](EventManager::stop).
    pub fn start(&self) {
        self.inner.switch.start();
    }

    /// Pauses delivery; publishing goes on queueing (and dropping when full).
    pub fn stop(&self) {
        self.inner.switch.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_names_list_every_kind_once() {
        let mut names: Vec<&str> = EventKind::PLAIN.iter().map(|k| k.as_str()).collect();
        names.extend(["fire_skipped", "fires_missed"]);
        names.sort_unstable();
        let mut listed = EventKind::NAMES.to_vec();
        listed.sort_unstable();
        assert_eq!(names, listed);
        listed.dedup();
        assert_eq!(listed.len(), EventKind::NAMES.len());
    }
    use std::sync::Condvar;

    fn collect(
        em: &EventManager,
        bot: &str,
        types: &[EventType],
    ) -> (SubscriptionId, Arc<Mutex<Vec<String>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        let id = em.subscribe(
            bot,
            move |e| {
                s.lock()
                    .unwrap()
                    .push(format!("{}:{}", e.bot_name, e.description))
            },
            types,
        );
        (id, seen)
    }

    #[test]
    fn filters_by_bot_and_type_and_keeps_order() {
        let em = EventManager::new();
        let (_, a) = collect(&em, "a", &[]);
        let (_, all_errors) = collect(&em, "all", &[EventType::Error]);
        for i in 0..100 {
            em.publish(BotEvent::new("a", EventType::Info, format!("{i}")));
        }
        em.publish(BotEvent::new("b", EventType::Error, "b broke"));
        em.publish(BotEvent::new("a", EventType::Error, "a broke"));
        assert!(em.wait_until_empty(Duration::from_secs(5)));
        let a = a.lock().unwrap();
        assert_eq!(a.len(), 101);
        assert!(
            a[..100]
                .iter()
                .enumerate()
                .all(|(i, s)| *s == format!("a:{i}")),
            "in publication order"
        );
        assert_eq!(*all_errors.lock().unwrap(), ["b:b broke", "a:a broke"]);
        assert_eq!(em.published(), 102);
    }

    #[test]
    fn a_panicking_subscriber_stays_and_others_get_everything() {
        let em = EventManager::new();
        let bad = em.subscribe(
            "all",
            |e| {
                if e.description == "boom" {
                    panic!("subscriber bug")
                }
            },
            &[],
        );
        let (_, good) = collect(&em, "all", &[]);
        em.publish(BotEvent::new("x", EventType::Info, "boom"));
        em.publish(BotEvent::new("x", EventType::Info, "after"));
        assert!(em.wait_until_empty(Duration::from_secs(5)));
        assert_eq!(good.lock().unwrap().len(), 2);
        let st = em.stats(bad).unwrap();
        assert_eq!((st.delivered, st.panicked), (2, 1));
    }

    #[test]
    fn a_slow_subscriber_delays_nobody_and_its_overflow_is_counted() {
        let em = EventManager::new();
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let g = Arc::clone(&gate);
        let entered = Arc::new(AtomicU64::new(0));
        let e = Arc::clone(&entered);
        let slow = em.subscribe_with_queue(
            "all",
            move |_| {
                e.fetch_add(1, Ordering::SeqCst);
                let (m, cv) = &*g;
                let mut open = m.lock().unwrap();
                while !*open {
                    open = cv.wait(open).unwrap();
                }
            },
            &[],
            3,
        );
        let (_, fast) = collect(&em, "all", &[]);
        // The first event occupies the slow callback; then 999 more.
        em.publish(BotEvent::new("x", EventType::Info, "0"));
        let deadline = Instant::now() + Duration::from_secs(5);
        while entered.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
            std::thread::yield_now();
        }
        let t0 = Instant::now();
        for i in 1..1000 {
            em.publish(BotEvent::new("x", EventType::Info, format!("{i}")));
        }
        // Publishing did not wait for the blocked subscriber.
        assert!(t0.elapsed() < Duration::from_secs(2));
        let deadline = Instant::now() + Duration::from_secs(5);
        while fast.lock().unwrap().len() < 1000 && Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert_eq!(
            fast.lock().unwrap().len(),
            1000,
            "the fast subscriber got everything"
        );
        let st = em.stats(slow).unwrap();
        // One in the callback, three queued, the rest dropped and counted.
        assert_eq!(st.dropped, 1000 - 4);
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        assert!(em.wait_until_empty(Duration::from_secs(5)));
        assert_eq!(em.stats(slow).unwrap().delivered, 4);
    }

    #[test]
    fn unsubscribe_stop_and_start() {
        let em = EventManager::new();
        let (id, seen) = collect(&em, "a", &[]);
        let (_, other) = collect(&em, "a", &[]);
        em.stop();
        em.publish(BotEvent::new("a", EventType::Info, "1"));
        assert!(
            !em.wait_until_empty(Duration::from_millis(50)),
            "stopped: nothing delivered"
        );
        em.start();
        assert!(em.wait_until_empty(Duration::from_secs(5)));
        assert!(em.unsubscribe(id));
        assert!(!em.unsubscribe(id));
        em.publish(BotEvent::new("a", EventType::Info, "2"));
        assert!(em.wait_until_empty(Duration::from_secs(5)));
        assert_eq!(seen.lock().unwrap().len(), 1);
        assert_eq!(other.lock().unwrap().len(), 2);
        assert_eq!(em.unsubscribe_bot("a"), 1);
    }

    #[test]
    fn events_serialise_with_lowercase_types_and_snake_case_kinds() {
        let mut e = BotEvent::new("b", EventType::Warning, "late");
        e.data = serde_json::json!({"attempt": 2});
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["event_type"], "warning");
        assert_eq!(v["kind"], "custom");
        assert_eq!(v["data"]["attempt"], 2);
        let back: BotEvent = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
        // A skip's reason travels in its data and comes back in its kind.
        let mut skip = BotEvent::new("b", EventType::Warning, "fire skipped").with_kind(
            EventKind::FireSkipped {
                reason: SkipReason::CoolDown,
            },
        );
        skip.data = serde_json::json!({"reason": "cool_down"});
        let v = serde_json::to_value(&skip).unwrap();
        assert_eq!(v["kind"], "fire_skipped");
        assert_eq!(serde_json::from_value::<BotEvent>(v).unwrap(), skip);
        let mut bad = serde_json::to_value(&e).unwrap();
        bad["kind"] = "exploded".into();
        let err = serde_json::from_value::<BotEvent>(bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown event kind `exploded`"), "{err}");
    }

    #[test]
    fn event_types_parse_from_their_names() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>().unwrap(), t);
            assert_eq!(t.as_str().to_uppercase().parse::<EventType>().unwrap(), t);
        }
        let e = "fatal".parse::<EventType>().unwrap_err();
        assert!(e.is_unknown());
        assert!(e.to_string().contains("info, warning, error, debug"), "{e}");
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        assert_eq!(
            stable_id("ops", Some("report")),
            stable_id("ops", Some("report"))
        );
        assert_eq!(stable_id("ops", Some("report")).len(), 16);
        assert_ne!(
            stable_id("ops", Some("report")),
            stable_id("dev", Some("report"))
        );
        assert_ne!(stable_id("ops", Some("report")), stable_id("ops", None));
        // The separator keeps ("ab", "c") apart from ("a", "bc").
        assert_ne!(stable_id("ab", Some("c")), stable_id("a", Some("bc")));
    }
}
