//! Events: what bots and managers publish, and who hears it.
//!
//! Publishing never blocks: each subscriber has its own bounded queue and its
//! own delivery thread, so a slow or panicking subscriber delays nobody else
//! (not the publisher, not another subscriber, not a bot). Events a full
//! queue cannot take are dropped and counted (`dropped`). Each subscriber
//! receives its events in publication order.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Condvar, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

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

/// One event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BotEvent {
    /// The bot's name, or the manager's name for manager events.
    pub bot_name: String,
    /// A stable id of the bot (or manager) within its process.
    pub bot_id: String,
    /// How serious it is.
    pub event_type: EventType,
    /// What happened, for people.
    pub description: String,
    /// What happened, for programs: attempt, error, duration, scheduled
    /// instant, lateness ... (`null` when there is nothing to add).
    pub data: serde_json::Value,
    /// When it was published (the publisher's clock).
    pub at: Timestamp,
}

impl BotEvent {
    /// An event published now (wall clock) with no data.
    pub fn new(
        bot_name: impl Into<String>,
        event_type: EventType,
        description: impl Into<String>,
    ) -> BotEvent {
        BotEvent {
            bot_name: bot_name.into(),
            bot_id: String::new(),
            event_type,
            description: description.into(),
            data: serde_json::Value::Null,
            at: Timestamp::now(),
        }
    }
}

/// Identifies a subscription, for [`EventManager::unsubscribe`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SubscriptionId(u64);

/// The queue a subscriber gets unless told otherwise.
pub const DEFAULT_QUEUE: usize = 10_000;

type Callback = Arc<dyn Fn(&BotEvent) + Send + Sync>;

struct Sub {
    id: u64,
    /// `None`: every bot ("all").
    bot: Option<String>,
    types: u8,
    tx: SyncSender<Arc<BotEvent>>,
    stats: Arc<SubStats>,
}

#[derive(Default)]
struct SubStats {
    queued: AtomicU64,
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
    stats: Mutex<HashMap<u64, Arc<SubStats>>>,
    next_id: AtomicU64,
    published: AtomicU64,
    /// Delivery pauses while false (`stop`); publishing still queues.
    running: Arc<(Mutex<bool>, Condvar)>,
    /// Signalled whenever a queue drains, for `wait_until_empty`.
    drained: Arc<(Mutex<()>, Condvar)>,
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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
                running: Arc::new((Mutex::new(true), Condvar::new())),
                drained: Arc::new((Mutex::new(()), Condvar::new())),
            }),
        }
    }

    /// The process-wide event manager (Python: `GLOBAL_EVENT_MANAGER`).
    /// Managers publish here unless given their own.
    pub fn global() -> &'static EventManager {
        static GLOBAL: OnceLock<EventManager> = OnceLock::new();
        GLOBAL.get_or_init(EventManager::new)
    }

    /// Subscribes `callback` to the events of `bot` (a bot or manager name,
    /// or `"all"`) whose type is in `types` (empty: every type), with a queue
    /// of [`DEFAULT_QUEUE`] events.
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
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = sync_channel(capacity.max(1));
        let stats = Arc::new(SubStats::default());
        let mask = if types.is_empty() {
            0xF
        } else {
            types.iter().fold(0, |m, t| m | t.bit())
        };
        let callback: Callback = Arc::new(callback);
        let (running, drained) = (
            Arc::clone(&self.inner.running),
            Arc::clone(&self.inner.drained),
        );
        let thread_stats = Arc::clone(&stats);
        let spawned = std::thread::Builder::new()
            .name(format!("botman-events-{id}"))
            .spawn(move || deliver(rx, callback, thread_stats, running, drained));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "could not start a delivery thread; the subscription gets nothing");
        }
        lock(&self.inner.stats).insert(id, Arc::clone(&stats));
        let mut subs = write(&self.inner.subs);
        subs.push(Sub {
            id,
            bot: (bot != "all").then(|| bot.to_owned()),
            types: mask,
            tx,
            stats,
        });
        self.inner.count.store(subs.len() as u64, Ordering::SeqCst);
        SubscriptionId(id)
    }

    /// Ends a subscription; its queued events are still delivered. Returns
    /// whether it existed.
    pub fn unsubscribe(&self, id: SubscriptionId) -> bool {
        let mut subs = write(&self.inner.subs);
        let before = subs.len();
        subs.retain(|s| s.id != id.0);
        self.inner.count.store(subs.len() as u64, Ordering::SeqCst);
        before != subs.len()
    }

    /// Ends every subscription to `bot` (not the "all" ones). Returns how
    /// many ended.
    pub fn unsubscribe_bot(&self, bot: &str) -> usize {
        let mut subs = write(&self.inner.subs);
        let before = subs.len();
        subs.retain(|s| s.bot.as_deref() != Some(bot));
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
        for s in subs.iter() {
            if s.types & bit == 0 || s.bot.as_deref().is_some_and(|b| b != event.bot_name) {
                continue;
            }
            let ev = Arc::clone(&event);
            s.stats.queued.fetch_add(1, Ordering::SeqCst);
            match s.tx.try_send(ev) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    s.stats.queued.fetch_sub(1, Ordering::SeqCst);
                    s.stats.dropped.fetch_add(1, Ordering::Relaxed);
                }
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
        lock(&self.inner.stats)
            .values()
            .map(|s| s.queued.load(Ordering::SeqCst))
            .sum()
    }

    /// Delivery counters of one subscription (also after it ended).
    pub fn stats(&self, id: SubscriptionId) -> Option<SubscriptionStats> {
        lock(&self.inner.stats)
            .get(&id.0)
            .map(|s| SubscriptionStats {
                queued: s.queued.load(Ordering::SeqCst),
                delivered: s.delivered.load(Ordering::SeqCst),
                dropped: s.dropped.load(Ordering::SeqCst),
                panicked: s.panicked.load(Ordering::SeqCst),
            })
    }

    /// Waits (real time, at most `timeout`) until every queue is empty.
    /// Returns whether they are. Do not call it from a subscriber.
    pub fn wait_until_empty(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (m, cv) = &*self.inner.drained;
        let mut guard = lock(m);
        loop {
            if self.queue_len() == 0 {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            // Bounded waits: a drain signalled between the check and the
            // wait is picked up at the next round.
            guard = cv
                .wait_timeout(guard, left.min(Duration::from_millis(10)))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Resumes delivery after [`stop`](EventManager::stop).
    pub fn start(&self) {
        let (m, cv) = &*self.inner.running;
        *lock(m) = true;
        cv.notify_all();
    }

    /// Pauses delivery; publishing goes on queueing (and dropping when full).
    pub fn stop(&self) {
        *lock(&self.inner.running.0) = false;
    }
}

/// The next event: while events keep coming, without parking the thread
/// (a parked consumer costs the publisher a wake-up per event); after a
/// short quiet spell, parked until one arrives.
fn next_event(rx: &Receiver<Arc<BotEvent>>) -> Option<Arc<BotEvent>> {
    for _ in 0..64 {
        match rx.try_recv() {
            Ok(e) => return Some(e),
            Err(std::sync::mpsc::TryRecvError::Disconnected) => return None,
            Err(std::sync::mpsc::TryRecvError::Empty) => std::thread::yield_now(),
        }
    }
    rx.recv().ok()
}

fn deliver(
    rx: Receiver<Arc<BotEvent>>,
    callback: Callback,
    stats: Arc<SubStats>,
    running: Arc<(Mutex<bool>, Condvar)>,
    drained: Arc<(Mutex<()>, Condvar)>,
) {
    // Ends when the subscription (the sender) is gone and the queue is empty.
    while let Some(event) = next_event(&rx) {
        {
            let (m, cv) = &*running;
            let mut on = lock(m);
            while !*on {
                on = cv.wait(on).unwrap_or_else(|e| e.into_inner());
            }
        }
        let cb = Arc::clone(&callback);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(&event)));
        if let Err(p) = result {
            stats.panicked.fetch_add(1, Ordering::Relaxed);
            tracing::error!(panic = %crate::runner::panic_message(p.as_ref()), bot = %event.bot_name, "an event subscriber panicked; it stays subscribed");
        }
        stats.delivered.fetch_add(1, Ordering::SeqCst);
        if stats.queued.fetch_sub(1, Ordering::SeqCst) == 1 {
            let (_, cv) = &*drained;
            cv.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn events_serialise_with_lowercase_types() {
        let mut e = BotEvent::new("b", EventType::Warning, "late");
        e.data = serde_json::json!({"attempt": 2});
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["event_type"], "warning");
        assert_eq!(v["data"]["attempt"], 2);
        let back: BotEvent = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }
}
