//! [`Botman`], the manager: owns bots by name, runs the scheduler, answers
//! metrics.
//!
//! Locking: `Inner::bots` (the name index) and each bot's `st` are std
//! mutexes held only for bookkeeping, never across an `.await` or a job's
//! run. `Inner::sched` (the heap) likewise. Lock order, when two are held:
//! `bots`, then `sched`, then a bot's `st`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use tokio::sync::{Notify, Semaphore, oneshot};

use crate::bot::{Bot, Job, Misfire, Overlap, Policy, Schedule};
use crate::clock::{Clock, SystemClock};
use crate::error::Error;
use crate::events::{BotEvent, EventManager, EventType};
use crate::metrics::{BotMetrics, BotState, Counters};
use crate::runner::{self, Attempt, Exec, RunHandle, RunOutcome, RunStatus, Trigger};
use crate::store::{MemoryStore, Store};

/// The most late fires looked at in one misfire batch; older ones are
/// counted as missed without being enumerated one by one.
const MISFIRE_SCAN: usize = 10_000;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks cannot leave the data
    // half-updated in a way that matters more than stopping the scheduler.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The bot scheduler and manager. Cheap to clone (an `Arc`).
///
/// Works from a plain `fn main` (it starts its own small tokio runtime) and
/// from inside a tokio application (it uses the current runtime).
///
/// A started scheduler runs until [`stop`](Botman::stop): dropping every
/// handle does not stop it (as the Python library's global loop).
///
/// ```
/// use botman::{Bot, Botman};
///
/// let manager = Botman::new();
/// manager.add_bot(
///     Bot::builder("hello_bot")
///         .schedule("* * * * *")
///         .job(|| Ok::<_, std::io::Error>("Success"))
///         .build()?,
/// )?;
/// let outcome = manager.run_bot("hello_bot")?.wait().unwrap();
/// assert!(outcome.is_success());
/// # Ok::<(), botman::Error>(())
/// ```
#[derive(Clone)]
pub struct Botman {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    name: Mutex<String>,
    clock: Arc<dyn Clock>,
    store: Arc<dyn Store>,
    events: EventManager,
    default_tz: TimeZone,
    grace: Duration,
    exec: Exec,
    _runtime: Option<RuntimeGuard>,
    /// Keyed by the bot's own name (shared, not copied).
    bots: Mutex<HashMap<Arc<str>, Arc<BotEntry>>>,
    /// Receivers subscribed for bots (by name) and for the manager ("").
    receivers: Mutex<HashMap<Arc<str>, Vec<crate::Receiver>>>,
    sched: Mutex<BinaryHeap<Reverse<HeapEntry>>>,
    wake: Notify,
    running: AtomicBool,
    seq: AtomicU64,
    /// Runs in flight, for `stop` to wait on.
    in_flight: AtomicUsize,
    /// Signalled when `in_flight` drops to zero.
    idle: Notify,
    /// Bumped on every metrics change, for `wait_until`.
    version: AtomicU64,
    /// Signalled on metrics changes, only while someone waits (`waiters`).
    changed: Notify,
    waiters: AtomicUsize,
}

/// An owned runtime, shut down without blocking when the manager goes.
struct RuntimeGuard(Option<tokio::runtime::Runtime>);

impl Drop for RuntimeGuard {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

pub(crate) struct BotEntry {
    name: Arc<str>,
    job: Job,
    policy: Arc<Policy>,
    since: Timestamp,
    st: Mutex<BotRuntime>,
}

struct BotRuntime {
    schedules: Vec<Schedule>,
    /// Heap entries of an older generation are stale.
    generation: u32,
    removed: bool,
    paused: bool,
    next_fire: Option<Timestamp>,
    running: usize,
    queued: Option<Timestamp>,
    timeout_until: Option<Timestamp>,
    current_timeout: Duration,
    error: bool,
    counters: Counters,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// The bot's next scheduled fire, `BotRuntime::next_fire` (the entry's
    /// `at` adds jitter); the generation check guarantees they match.
    Fire,
    /// The end of a cool-down.
    Recovery,
}

struct HeapEntry {
    at: Timestamp,
    seq: u64,
    generation: u32,
    kind: Kind,
    bot: Arc<BotEntry>,
}

crate::ordered_by_deadline!(HeapEntry);

/// Builds a [`Botman`]; see [`Botman::builder`].
pub struct BotmanBuilder {
    name: String,
    max_workers: usize,
    default_tz: TimeZone,
    clock: Arc<dyn Clock>,
    store: Arc<dyn Store>,
    events: Option<EventManager>,
    grace: Duration,
}

impl BotmanBuilder {
    /// The manager's name, used for its own events. Defaults to "botman".
    pub fn name(mut self, name: impl Into<String>) -> BotmanBuilder {
        self.name = name.into();
        self
    }

    /// How many sync jobs may run at once (the blocking thread pool).
    /// Defaults to 10, as the Python library. At least 1.
    pub fn max_workers(mut self, n: usize) -> BotmanBuilder {
        self.max_workers = n.max(1);
        self
    }

    /// The zone schedules without their own zone are read in. Defaults to UTC.
    pub fn default_time_zone(mut self, tz: TimeZone) -> BotmanBuilder {
        self.default_tz = tz;
        self
    }

    /// The clock. Defaults to [`SystemClock`]; tests pass a
    /// [`ManualClock`](crate::ManualClock).
    pub fn clock(mut self, clock: impl Clock) -> BotmanBuilder {
        self.clock = Arc::new(clock);
        self
    }

    /// Where fires are claimed. Defaults to a [`MemoryStore`].
    pub fn store(mut self, store: impl Store) -> BotmanBuilder {
        self.store = Arc::new(store);
        self
    }

    /// Where the manager and its bots publish events. Defaults to
    /// [`EventManager::global`].
    pub fn event_manager(mut self, events: EventManager) -> BotmanBuilder {
        self.events = Some(events);
        self
    }

    /// How long `stop` waits for running jobs. Defaults to 30 s.
    pub fn shutdown_grace(mut self, grace: Duration) -> BotmanBuilder {
        self.grace = grace;
        self
    }

    /// Builds the manager. Fails only if no runtime could be started.
    pub fn build(self) -> Result<Botman, Error> {
        let (rt_handle, runtime) = match tokio::runtime::Handle::try_current() {
            Ok(h) => (h, None),
            Err(_) => {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .max_blocking_threads(self.max_workers + 2)
                    .thread_name("botman")
                    .enable_all()
                    .build()
                    .map_err(Error::runtime)?;
                (rt.handle().clone(), Some(RuntimeGuard(Some(rt))))
            }
        };
        Ok(Botman {
            inner: Arc::new(Inner {
                name: Mutex::new(self.name),
                exec: Exec {
                    clock: Arc::clone(&self.clock),
                    workers: Arc::new(Semaphore::new(self.max_workers)),
                    rt: rt_handle,
                },
                clock: self.clock,
                store: self.store,
                events: self
                    .events
                    .unwrap_or_else(|| EventManager::global().clone()),
                default_tz: self.default_tz,
                grace: self.grace,
                _runtime: runtime,
                bots: Mutex::new(HashMap::new()),
                receivers: Mutex::new(HashMap::new()),
                sched: Mutex::new(BinaryHeap::new()),
                wake: Notify::new(),
                running: AtomicBool::new(false),
                seq: AtomicU64::new(0),
                in_flight: AtomicUsize::new(0),
                idle: Notify::new(),
                version: AtomicU64::new(0),
                changed: Notify::new(),
                waiters: AtomicUsize::new(0),
            }),
        })
    }
}

/// What `stop` left behind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StopReport {
    /// Bots whose runs were still going when the grace period ended.
    pub abandoned: Vec<String>,
}

impl Default for Botman {
    fn default() -> Botman {
        Botman::new()
    }
}

impl Botman {
    /// A manager with the defaults (see [`Botman::builder`]).
    ///
    /// # Panics
    ///
    /// If no tokio runtime is running and none can be started (the OS
    /// refused threads); [`Botman::builder`]`().build()` returns that error.
    pub fn new() -> Botman {
        match Botman::builder().build() {
            Ok(b) => b,
            Err(e) => panic!("botman: {e}"),
        }
    }

    /// A builder for a manager with a name, a worker count, a default zone,
    /// a clock, a store and a shutdown grace period.
    pub fn builder() -> BotmanBuilder {
        BotmanBuilder {
            name: "botman".to_owned(),
            max_workers: 10,
            default_tz: TimeZone::UTC,
            clock: Arc::new(SystemClock),
            store: Arc::new(MemoryStore::new()),
            events: None,
            grace: Duration::from_secs(30),
        }
    }

    /// The manager's name.
    pub fn name(&self) -> String {
        lock(&self.inner.name).clone()
    }

    /// Renames the manager.
    pub fn set_name(&self, name: impl Into<String>) {
        *lock(&self.inner.name) = name.into();
    }

    fn subscribe_receiver(
        &self,
        who: &str,
        chime: bool,
        url: &str,
        types: &[EventType],
    ) -> Result<(), Error> {
        let receiver = if chime {
            crate::ChimeReceiver::new(url).build()?
        } else {
            crate::SlackReceiver::new(url).build()?
        };
        self.attach(who, receiver, types);
        Ok(())
    }

    /// Subscribes a built receiver to `who`'s events ("" or the manager's
    /// name: the manager's own events).
    fn attach(&self, who: &str, receiver: crate::Receiver, types: &[EventType]) {
        let source = if who.is_empty() {
            self.name()
        } else {
            who.to_owned()
        };
        receiver.subscribe_to(&self.inner.events, &source, types);
        lock(&self.inner.receivers)
            .entry(Arc::from(who))
            .or_default()
            .push(receiver);
    }

    /// Posts the manager's own events (started, stopping, stopped) of
    /// `types` (empty: all) to a Slack webhook.
    pub fn subscribe_slack_webhook(&self, url: &str, types: &[EventType]) -> Result<(), Error> {
        self.subscribe_receiver("", false, url, types)
    }

    /// Posts the manager's own events to a Chime webhook.
    pub fn subscribe_chime_webhook(&self, url: &str, types: &[EventType]) -> Result<(), Error> {
        self.subscribe_receiver("", true, url, types)
    }

    /// Posts the manager's own events as JSON to any webhook.
    pub fn subscribe_webhook(&self, url: &str, types: &[EventType]) -> Result<(), Error> {
        let receiver = crate::WebhookReceiver::new(url).build()?;
        self.attach("", receiver, types);
        Ok(())
    }

    /// The receivers subscribed for a bot (or, with "", for the manager).
    pub fn receivers_of(&self, who: &str) -> Vec<crate::Receiver> {
        lock(&self.inner.receivers)
            .get(who)
            .cloned()
            .unwrap_or_default()
    }

    /// The event manager the manager and its bots publish to.
    pub fn events(&self) -> &EventManager {
        &self.inner.events
    }

    /// The manager's clock.
    pub fn clock(&self) -> Arc<dyn Clock> {
        Arc::clone(&self.inner.clock)
    }

    /// Adds a bot. Its schedule takes effect at once if the manager runs.
    ///
    /// Errors: a bot with that name is already added.
    pub fn add_bot(&self, bot: Bot) -> Result<(), Error> {
        self.add_bots(std::iter::once(bot))
    }

    /// Adds many bots at once, taking each lock once: the way to load
    /// thousands. All or nothing: a name already added, or given twice,
    /// adds none of them.
    pub fn add_bots(&self, bots: impl IntoIterator<Item = Bot>) -> Result<(), Error> {
        let now = self.inner.clock.now();
        let mut webhooks = Vec::new();
        let entries: Vec<Arc<BotEntry>> = bots
            .into_iter()
            .map(|mut bot| {
                if !bot.webhooks.is_empty() {
                    webhooks.push((Arc::clone(&bot.name), std::mem::take(&mut bot.webhooks)));
                }
                if bot.policy.com && !cfg!(windows) {
                    tracing::warn!(bot = %bot.name, "is_com_bot has no effect outside Windows");
                }
                Arc::new(BotEntry {
                    name: bot.name,
                    job: bot.job,
                    since: now,
                    st: Mutex::new(BotRuntime {
                        schedules: bot.schedules,
                        generation: 0,
                        removed: false,
                        paused: false,
                        next_fire: None,
                        running: 0,
                        queued: None,
                        timeout_until: None,
                        current_timeout: bot.policy.initial_timeout,
                        error: false,
                        counters: Counters::default(),
                    }),
                    policy: bot.policy,
                })
            })
            .collect();
        {
            let mut map = lock(&self.inner.bots);
            map.reserve(entries.len());
            for (i, e) in entries.iter().enumerate() {
                if map.contains_key(&e.name) {
                    for added in &entries[..i] {
                        map.remove(&added.name);
                    }
                    return Err(Error::duplicate_bot(&e.name));
                }
                map.insert(Arc::clone(&e.name), Arc::clone(e));
            }
        }
        for (name, hooks) in webhooks {
            for (chime, url, types) in hooks {
                self.subscribe_receiver(&name, chime, &url, &types)?;
            }
        }
        for e in &entries {
            self.inner.emit(e, EventType::Info, || "bot added".to_owned(), || {
                let st = lock(&e.st);
                serde_json::json!({"schedules": st.schedules.iter().map(|s| s.expr()).collect::<Vec<_>>()})
            });
        }
        let running = self.inner.running.load(Ordering::SeqCst);
        let mut heap_entries = Vec::with_capacity(if running { entries.len() } else { 0 });
        for e in &entries {
            let mut st = lock(&e.st);
            st.next_fire = st.next_after(now, &self.inner.default_tz);
            if let (true, Some(next)) = (running, st.next_fire) {
                let at = add(next, jitter_for(&e.name, next, e.policy.jitter));
                let seq = self.inner.seq.fetch_add(1, Ordering::Relaxed);
                heap_entries.push(Reverse(HeapEntry {
                    at,
                    seq,
                    generation: st.generation,
                    kind: Kind::Fire,
                    bot: Arc::clone(e),
                }));
            }
        }
        if !heap_entries.is_empty() {
            lock(&self.inner.sched).extend(heap_entries);
            self.inner.wake.notify_one();
        }
        self.inner.bump();
        Ok(())
    }

    /// Removes a bot; its pending fires are dropped, a running job finishes.
    pub fn remove_bot(&self, name: &str) -> Result<(), Error> {
        let entry = lock(&self.inner.bots)
            .remove(name)
            .ok_or_else(|| Error::unknown_bot(name))?;
        {
            let mut st = lock(&entry.st);
            st.removed = true;
            st.generation = st.generation.wrapping_add(1);
            st.next_fire = None;
        }
        self.inner.emit(
            &entry,
            EventType::Info,
            || "bot removed".to_owned(),
            || serde_json::Value::Null,
        );
        let receivers = lock(&self.inner.receivers).remove(name).unwrap_or_default();
        for r in receivers {
            r.unsubscribe_all();
        }
        Ok(())
    }

    /// The names of the bots, sorted.
    pub fn bot_names(&self) -> Vec<String> {
        let mut v: Vec<String> = lock(&self.inner.bots)
            .keys()
            .map(|k| k.to_string())
            .collect();
        v.sort();
        v
    }

    fn entry(&self, name: &str) -> Result<Arc<BotEntry>, Error> {
        lock(&self.inner.bots)
            .get(name)
            .cloned()
            .ok_or_else(|| Error::unknown_bot(name))
    }

    /// A handle on one bot, for its state and schedule.
    pub fn bot(&self, name: &str) -> Result<BotRef, Error> {
        let entry = self.entry(name)?;
        Ok(BotRef {
            manager: self.clone(),
            entry,
        })
    }

    /// Starts the scheduler. Calling it again while running does nothing.
    pub fn start(&self) {
        if self.inner.running.swap(true, Ordering::SeqCst) {
            return;
        }
        let now = self.inner.clock.now();
        let bots: Vec<Arc<BotEntry>> = lock(&self.inner.bots).values().cloned().collect();
        for b in &bots {
            self.inner.reschedule(b, now);
        }
        let inner = Arc::clone(&self.inner);
        self.inner
            .exec
            .rt
            .spawn(async move { inner.scheduler_loop().await });
        tracing::info!(manager = %self.name(), bots = bots.len(), "started");
        self.inner.emit_manager(
            EventType::Info,
            "manager started",
            serde_json::json!({"bots": bots.len()}),
        );
    }

    /// Whether the scheduler is running.
    pub fn is_running(&self) -> bool {
        self.inner.running.load(Ordering::SeqCst)
    }

    /// Stops firing, waits up to the shutdown grace for running jobs (on the
    /// manager's clock), and reports what it abandoned. Blocking: from async
    /// code use [`stop_async`](Botman::stop_async).
    pub fn stop(&self) -> StopReport {
        let this = self.clone();
        match tokio::runtime::Handle::try_current() {
            // Called from inside a runtime but not awaited: do not block it.
            Ok(_) => {
                this.inner.running.store(false, Ordering::SeqCst);
                this.inner.wake.notify_one();
                StopReport {
                    abandoned: this.running_bots(),
                }
            }
            Err(_) => self
                .inner
                .exec
                .rt
                .block_on(async move { this.stop_async().await }),
        }
    }

    /// Stops firing and waits up to the shutdown grace for running jobs.
    pub async fn stop_async(&self) -> StopReport {
        // The grace period is fixed before the stop becomes visible, so a test
        // that sees `is_running() == false` may move a manual clock past it.
        let deadline = add(self.inner.clock.now(), self.inner.grace);
        self.inner.emit_manager(
            EventType::Info,
            "manager stopping",
            serde_json::json!({"grace_s": self.inner.grace.as_secs_f64()}),
        );
        self.inner.running.store(false, Ordering::SeqCst);
        self.inner.wake.notify_one();
        self.inner.bump();
        let drained = async {
            loop {
                let idle = self.inner.idle.notified();
                tokio::pin!(idle);
                idle.as_mut().enable();
                if self.inner.in_flight.load(Ordering::SeqCst) == 0 {
                    return;
                }
                idle.await;
            }
        };
        tokio::select! {
            () = drained => {}
            () = self.inner.clock.sleep_until(deadline) => {}
        }
        let abandoned = self.running_bots();
        if !abandoned.is_empty() {
            tracing::warn!(?abandoned, "stopped with runs still going");
        }
        // Let the webhooks deliver what the runs said, within the grace (in
        // real time: it is network I/O) and at most 5 s.
        let receivers: Vec<crate::Receiver> = lock(&self.inner.receivers)
            .values()
            .flatten()
            .cloned()
            .collect();
        let flush_for = self.inner.grace.min(Duration::from_secs(5));
        for r in &receivers {
            if !r.flush(flush_for).await {
                tracing::warn!(url = %r.url(), "webhook still had events queued at shutdown");
            }
        }
        let kind = if abandoned.is_empty() {
            EventType::Info
        } else {
            EventType::Warning
        };
        self.inner.emit_manager(
            kind,
            "manager stopped",
            serde_json::json!({"abandoned": abandoned}),
        );
        StopReport { abandoned }
    }

    fn running_bots(&self) -> Vec<String> {
        let mut v: Vec<String> = lock(&self.inner.bots)
            .values()
            .filter(|b| lock(&b.st).running > 0)
            .map(|b| b.name.to_string())
            .collect();
        v.sort();
        v
    }

    /// Runs a bot now, outside its schedule (no cool-down or overlap check).
    pub fn run_bot(&self, name: &str) -> Result<RunHandle, Error> {
        let entry = self.entry(name)?;
        let (tx, rx) = oneshot::channel();
        lock(&entry.st).running += 1;
        self.inner.spawn_run(entry, Trigger::Manual, None, Some(tx));
        Ok(RunHandle { rx })
    }

    /// Runs every bot now; one handle per bot, in name order.
    pub fn run_all_bots(&self) -> Vec<RunHandle> {
        self.bot_names()
            .iter()
            .filter_map(|n| self.run_bot(n).ok())
            .collect()
    }

    /// Metrics of every bot, in name order.
    pub fn metrics(&self) -> Vec<BotMetrics> {
        let mut bots: Vec<Arc<BotEntry>> = lock(&self.inner.bots).values().cloned().collect();
        bots.sort_by(|a, b| a.name.cmp(&b.name));
        let now = self.inner.clock.now();
        bots.iter().map(|b| b.metrics(now)).collect()
    }

    /// Metrics of one bot.
    pub fn metrics_of(&self, name: &str) -> Result<BotMetrics, Error> {
        let entry = self.entry(name)?;
        Ok(entry.metrics(self.inner.clock.now()))
    }

    /// Waits (in real time, at most `timeout`) until `done` holds for the
    /// bots' metrics, re-checking after every change. For tests driving a
    /// [`ManualClock`](crate::ManualClock): advance the clock, then wait
    /// for the consequence instead of sleeping.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&[BotMetrics]) -> bool,
    ) -> bool {
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        self.inner.waiters.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.inner.waiters);
        let check = async {
            loop {
                let changed = self.inner.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if done(&self.metrics()) {
                    return;
                }
                changed.await;
            }
        };
        tokio::time::timeout(timeout, check).await.is_ok() || done(&self.metrics())
    }
}

impl BotEntry {
    fn metrics(&self, now: Timestamp) -> BotMetrics {
        let st = lock(&self.st);
        let in_timeout = st.timeout_until.is_some_and(|t| t > now);
        let state = if st.running > 0 {
            BotState::Running
        } else if in_timeout {
            BotState::Timeout
        } else if st.error {
            BotState::Error
        } else {
            BotState::Idle
        };
        let c = &st.counters;
        let (p50, p99) = c.percentiles();
        BotMetrics {
            name: self.name.to_string(),
            state,
            runs: c.runs,
            successes: c.successes,
            errors: c.errors,
            retries: c.retries,
            skipped: c.skipped,
            missed: c.missed,
            last_run: c.last_run,
            last_duration: c.last_duration,
            duration_p50: p50,
            duration_p99: p99,
            consecutive_failures: c.consecutive_failures,
            next_run: st.next_fire,
            timeout_until: st.timeout_until.filter(|_| in_timeout),
            since: self.since,
        }
    }
}

impl BotRuntime {
    /// The first fire of any schedule strictly after `after`.
    fn next_after(&self, after: Timestamp, default_tz: &TimeZone) -> Option<Timestamp> {
        self.schedules
            .iter()
            .filter_map(|s| {
                s.cron
                    .next_after_timestamp(after, s.tz.as_ref().unwrap_or(default_tz))
            })
            .min()
    }
}

/// A deterministic delay in `[0, jitter)` from (bot, instant), so every
/// process of a cluster computes the same one.
fn jitter_for(name: &str, at: Timestamp, jitter: Duration) -> Duration {
    if jitter.is_zero() {
        return Duration::ZERO;
    }
    // FNV-1a: stable across processes and Rust versions, unlike SipHash keys.
    let mut h = Fnv::new();
    name.hash(&mut h);
    at.as_second().hash(&mut h);
    let nanos = u64::try_from(jitter.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(h.finish() % nanos)
}

pub(crate) struct Fnv(u64);

impl Fnv {
    pub(crate) fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

fn add(t: Timestamp, d: Duration) -> Timestamp {
    SignedDuration::try_from(d)
        .ok()
        .and_then(|d| t.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}

impl Inner {
    /// Publishes a bot's event; builds nothing when nobody listens.
    fn emit(
        &self,
        bot: &BotEntry,
        event_type: EventType,
        description: impl FnOnce() -> String,
        data: impl FnOnce() -> serde_json::Value,
    ) {
        if !self.events.has_subscribers() {
            return;
        }
        self.events.publish(BotEvent {
            bot_name: bot.name.to_string(),
            // Stable for the bot's life in this process: its allocation.
            bot_id: format!("{:x}", std::ptr::from_ref(bot) as usize),
            event_type,
            description: description(),
            data: data(),
            at: self.clock.now(),
        });
    }

    fn emit_manager(&self, event_type: EventType, description: &str, data: serde_json::Value) {
        if !self.events.has_subscribers() {
            return;
        }
        self.events.publish(BotEvent {
            bot_name: lock(&self.name).clone(),
            bot_id: format!("{:x}", std::ptr::from_ref(self) as usize),
            event_type,
            description: description.to_owned(),
            data,
            at: self.clock.now(),
        });
    }

    fn run_finished(&self) {
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }

    /// Records that metrics changed; wakes `wait_until` callers, if any (a
    /// single atomic load otherwise: this is on every run's path).
    fn bump(&self) {
        self.version.fetch_add(1, Ordering::Relaxed);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.changed.notify_waiters();
        }
    }

    fn push(&self, entry: &Arc<BotEntry>, at: Timestamp, generation: u32, kind: Kind) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let mut heap = lock(&self.sched);
        let earliest = heap.peek().is_none_or(|Reverse(top)| at < top.at);
        heap.push(Reverse(HeapEntry {
            at,
            seq,
            generation,
            kind,
            bot: Arc::clone(entry),
        }));
        drop(heap);
        if earliest {
            // Only a new earliest entry changes how long the loop sleeps.
            self.wake.notify_one();
        }
    }

    /// Recomputes a bot's next fire from `from` and queues it (new generation).
    fn reschedule(&self, entry: &Arc<BotEntry>, from: Timestamp) {
        let (next, generation, timeout) = {
            let mut st = lock(&entry.st);
            if st.removed {
                return;
            }
            st.generation = st.generation.wrapping_add(1);
            st.next_fire = st.next_after(from, &self.default_tz);
            (st.next_fire, st.generation, st.timeout_until)
        };
        if !self.running.load(Ordering::SeqCst) {
            return;
        }
        if let Some(next) = next {
            let at = add(next, jitter_for(&entry.name, next, entry.policy.jitter));
            self.push(entry, at, generation, Kind::Fire);
        }
        if let Some(t) = timeout.filter(|t| *t > from) {
            self.push(entry, t, generation, Kind::Recovery);
        }
        self.bump();
    }

    async fn scheduler_loop(self: Arc<Inner>) {
        loop {
            if !self.running.load(Ordering::SeqCst) {
                return;
            }
            let now = self.clock.now();
            let mut due = Vec::new();
            let next_at = {
                let mut heap = lock(&self.sched);
                while heap.peek().is_some_and(|Reverse(top)| top.at <= now) {
                    if let Some(Reverse(e)) = heap.pop() {
                        due.push(e);
                    }
                }
                heap.peek().map(|Reverse(top)| top.at)
            };
            if !due.is_empty() {
                // Next fires are pushed back under one lock for the batch.
                let mut next = Vec::with_capacity(due.len());
                let mut starts = Vec::new();
                for e in due {
                    if let Some(n) = self.handle_due(e, now, &mut starts) {
                        next.push(Reverse(n));
                    }
                }
                self.start_runs(starts);
                if !next.is_empty() {
                    lock(&self.sched).extend(next);
                }
                self.bump();
                continue;
            }
            match next_at {
                Some(at) => {
                    tokio::select! {
                        () = self.clock.sleep_until(at) => {}
                        () = self.wake.notified() => {}
                    }
                }
                None => self.wake.notified().await,
            }
        }
    }

    /// Decides a due heap entry; returns the bot's next heap entry, if any.
    fn handle_due(
        self: &Arc<Self>,
        e: HeapEntry,
        now: Timestamp,
        starts: &mut Vec<(Arc<BotEntry>, Timestamp)>,
    ) -> Option<HeapEntry> {
        let bot = &e.bot;
        let mut st = lock(&bot.st);
        if st.removed || st.generation != e.generation {
            return None;
        }
        match e.kind {
            Kind::Recovery => {
                if st.timeout_until.is_some_and(|t| t <= now) && !st.paused {
                    st.timeout_until = None;
                    st.running += 1;
                    drop(st);
                    tracing::info!(bot = %bot.name, "cool-down over: recovery run");
                    self.emit(
                        bot,
                        EventType::Info,
                        || "left cool-down: recovery run".to_owned(),
                        || serde_json::Value::Null,
                    );
                    self.spawn_run(Arc::clone(bot), Trigger::Recovery, Some(e.at), None);
                }
                None
            }
            Kind::Fire => {
                let scheduled = st.next_fire?;
                // The next fire comes from the scheduled instant, never from
                // "now": nothing drifts, nothing fires twice.
                let grace = SignedDuration::try_from(bot.policy.misfire_grace)
                    .unwrap_or(SignedDuration::MAX);
                let is_late = |at: Timestamp| now.duration_since(at) > grace;
                let mut late = Vec::new();
                let mut on_time = Vec::new();
                let mut uncounted = false;
                let mut next = Some(scheduled);
                // Every fire already due is decided here, at once: a paused
                // process wakes to one decision, not a stampede.
                while let Some(n) = next.filter(|n| *n <= now) {
                    if late.len() + on_time.len() >= MISFIRE_SCAN {
                        // Too many to list: jump to the first fire after now.
                        uncounted = true;
                        next = st.next_after(now, &self.default_tz);
                        break;
                    }
                    if is_late(n) {
                        late.push(n)
                    } else {
                        on_time.push(n)
                    }
                    next = st.next_after(n, &self.default_tz);
                }
                st.next_fire = next;
                let generation = st.generation;
                self.emit(
                    bot,
                    EventType::Debug,
                    || "next fire scheduled".to_owned(),
                    || serde_json::json!({"next": next}),
                );
                let (mut run_late, missed) = match bot.policy.misfire {
                    // One run stands for every late fire, and for the on-time
                    // ones too when there are late ones.
                    Misfire::RunOnce if !late.is_empty() => {
                        let last = on_time.pop().or_else(|| late.pop());
                        let missed = late.len() + on_time.len();
                        on_time.clear();
                        (last.into_iter().collect::<Vec<_>>(), missed)
                    }
                    Misfire::RunOnce => (Vec::new(), 0),
                    Misfire::Skip => (Vec::new(), late.len()),
                    Misfire::RunAll { max } => {
                        let n = late.len().min(max);
                        let missed = late.len() - n;
                        late.truncate(n);
                        (late, missed)
                    }
                };
                st.counters.missed += missed as u64 + u64::from(uncounted);
                if missed > 0 || uncounted {
                    self.emit(bot, EventType::Warning, || format!("{missed} fire(s) missed"), || {
                        serde_json::json!({"missed": missed, "at_least": uncounted, "grace_s": bot.policy.misfire_grace.as_secs_f64(), "policy": format!("{:?}", bot.policy.misfire)})
                    });
                    tracing::warn!(bot = %bot.name, missed, uncounted, "fires missed: noticed after their misfire grace");
                }
                run_late.extend(on_time);
                match run_late.len() {
                    0 => {}
                    1 => {
                        if self.admit(bot, &mut st, run_late[0], now) {
                            starts.push((Arc::clone(bot), run_late[0]));
                        }
                    }
                    _ => self.dispatch_batch(bot, &mut st, run_late, now),
                }
                drop(st);
                next.map(|n| HeapEntry {
                    at: add(n, jitter_for(&bot.name, n, bot.policy.jitter)),
                    seq: self.seq.fetch_add(1, Ordering::Relaxed),
                    generation,
                    kind: Kind::Fire,
                    bot: Arc::clone(bot),
                })
            }
        }
    }

    /// Several fires decided at once (misfire `RunAll`, or a dense schedule
    /// noticed late): they run one after another in one task, oldest first,
    /// so they neither overlap nor get skipped as overlapping each other.
    fn dispatch_batch(
        self: &Arc<Self>,
        bot: &Arc<BotEntry>,
        st: &mut BotRuntime,
        fires: Vec<Timestamp>,
        now: Timestamp,
    ) {
        let Some(&first) = fires.first() else { return };
        if !self.admit(bot, st, first, now) {
            st.counters.skipped += fires.len() as u64 - 1;
            return;
        }
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let inner = Arc::clone(self);
        let bot = Arc::clone(bot);
        self.exec.rt.spawn(async move {
            for (i, at) in fires.into_iter().enumerate() {
                if i > 0 {
                    let mut st = lock(&bot.st);
                    let cooling = st.timeout_until.is_some_and(|t| t > inner.clock.now());
                    if st.removed || st.paused || cooling {
                        st.counters.skipped += 1;
                        continue;
                    }
                    st.running += 1;
                }
                inner.run(&bot, Trigger::Scheduled, Some(at)).await;
            }
            inner.run_finished();
            inner.bump();
        });
    }

    /// Whether a fire may start now (pause, cool-down, overlap); counts it in
    /// `running` if so, records the skip (or queues it) if not.
    fn admit(&self, bot: &BotEntry, st: &mut BotRuntime, at: Timestamp, now: Timestamp) -> bool {
        let skip = |st: &mut BotRuntime, reason: &str| {
            st.counters.skipped += 1;
            tracing::warn!(bot = %bot.name, scheduled = %at, reason, "fire skipped");
            self.emit(
                bot,
                EventType::Warning,
                || format!("fire skipped ({reason})"),
                || serde_json::json!({"scheduled": at, "reason": reason}),
            );
            false
        };
        if st.paused {
            return skip(st, "paused");
        }
        if st.timeout_until.is_some_and(|t| t > now) {
            return skip(st, "cool-down");
        }
        if st.running > 0 {
            match bot.policy.overlap {
                Overlap::Skip => return skip(st, "overlap"),
                Overlap::Concurrent(n) if st.running < n => {}
                Overlap::Concurrent(_) => return skip(st, "overlap (concurrency limit)"),
                Overlap::Queue => {
                    if st.queued.is_none() {
                        st.queued = Some(at);
                        return false;
                    }
                    return skip(st, "overlap (queue full)");
                }
            }
        }
        st.running += 1;
        true
    }

    /// Starts the scheduled runs decided in one wake-up (each already
    /// counted in its bot's `running`). Spawning a task per run cost about
    /// 1.5 µs each in a 10,000-bot burst (measured), more than deciding the
    /// fire; runs are therefore started in tasks of up to 64, each polling
    /// its runs concurrently. Sync jobs still go to the blocking pool, and a
    /// job's panic is caught per run (`runner::attempt`).
    fn start_runs(self: &Arc<Self>, starts: Vec<(Arc<BotEntry>, Timestamp)>) {
        const PER_TASK: usize = 64;
        let mut starts = starts.into_iter().peekable();
        while starts.peek().is_some() {
            let chunk: Vec<(Arc<BotEntry>, Timestamp)> = starts.by_ref().take(PER_TASK).collect();
            self.in_flight.fetch_add(chunk.len(), Ordering::SeqCst);
            let inner = Arc::clone(self);
            self.exec.rt.spawn(async move {
                let inner = &inner;
                let mut runs: FuturesUnordered<_> = chunk
                    .into_iter()
                    .map(|(bot, at)| async move {
                        inner.run(&bot, Trigger::Scheduled, Some(at)).await;
                        inner.run_finished();
                        inner.bump();
                    })
                    .collect();
                while runs.next().await.is_some() {}
            });
        }
    }

    /// Starts a run task; the caller has already counted it in `running`.
    fn spawn_run(
        self: &Arc<Self>,
        bot: Arc<BotEntry>,
        trigger: Trigger,
        scheduled: Option<Timestamp>,
        done: Option<oneshot::Sender<RunOutcome>>,
    ) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let inner = Arc::clone(self);
        self.exec.rt.spawn(async move {
            let outcome = inner.run(&bot, trigger, scheduled).await;
            if let Some(done) = done {
                let _ = done.send(outcome);
            }
            inner.run_finished();
            inner.bump();
        });
    }

    async fn run(
        self: &Arc<Self>,
        bot: &Arc<BotEntry>,
        trigger: Trigger,
        scheduled: Option<Timestamp>,
    ) -> RunOutcome {
        let started = self.clock.now();
        if let (Trigger::Scheduled, Some(at), true) = (trigger, scheduled, self.store.is_shared()) {
            // The store decides who runs a fire: once per (bot, instant).
            match self.store.claim_fire(&bot.name, at).await {
                Ok(true) => {}
                Ok(false) | Err(_) => {
                    let mut st = lock(&bot.st);
                    st.running = st.running.saturating_sub(1);
                    return RunOutcome {
                        bot: bot.name.to_string(),
                        trigger,
                        scheduled,
                        started,
                        finished: started,
                        attempts: 0,
                        status: RunStatus::Abandoned,
                        value: None,
                        error: Some("claimed by another process (or the store failed)".to_owned()),
                    };
                }
            }
        }
        {
            let mut st = lock(&bot.st);
            st.counters.runs += 1;
            st.counters.last_run = Some(started);
        }
        self.bump();
        self.emit(bot, EventType::Info, || "run started".to_owned(), || {
            let lateness = scheduled.map(|s| started.duration_since(s).as_secs_f64() * 1e3);
            serde_json::json!({"trigger": format!("{trigger:?}"), "scheduled": scheduled, "lateness_ms": lateness})
        });
        let policy = &bot.policy;
        let mut attempts = 0;
        let mut value = None;
        let mut error = None;
        let mut status = RunStatus::Failed;
        for k in 1..=policy.retries {
            attempts = k;
            match runner::attempt(&self.exec, &bot.job, policy).await {
                Attempt::Ok(v) => {
                    value = v;
                    error = None;
                    status = RunStatus::Succeeded;
                    break;
                }
                Attempt::Soft(msg) => {
                    error = Some(msg);
                    status = RunStatus::SoftFailed;
                    break;
                }
                Attempt::Failed(msg) => {
                    tracing::warn!(bot = %bot.name, attempt = k, of = policy.retries, error = %msg, "attempt failed");
                    let last = k == policy.retries;
                    self.emit(
                        bot,
                        if last { EventType::Error } else { EventType::Warning },
                        || format!("attempt {k} of {} failed: {msg}", policy.retries),
                        || serde_json::json!({"attempt": k, "of": policy.retries, "error": msg, "last": last}),
                    );
                    error = Some(msg);
                    if k < policy.retries {
                        // The deadline is fixed before the retry is visible in
                        // the metrics, so a test that waits for the retry and
                        // then advances a manual clock cannot move it.
                        let wait = add(self.clock.now(), runner::retry_delay(policy, k));
                        lock(&bot.st).counters.retries += 1;
                        self.bump();
                        self.clock.sleep_until(wait).await;
                    }
                }
            }
        }
        let finished = self.clock.now();
        let duration = Duration::try_from(started.duration_until(finished)).unwrap_or_default();
        let mut recovery = None;
        let mut failures = (0, 0); // (before this run, after it)
        let queued = {
            let mut st = lock(&bot.st);
            st.running = st.running.saturating_sub(1);
            st.counters.record_duration(duration);
            failures.0 = st.counters.consecutive_failures;
            match status {
                RunStatus::Succeeded => {
                    st.counters.successes += 1;
                    st.counters.consecutive_failures = 0;
                    st.current_timeout = policy.initial_timeout;
                    st.error = false;
                }
                RunStatus::SoftFailed => {
                    st.counters.errors += 1;
                    st.counters.consecutive_failures += 1;
                    st.error = true;
                }
                _ => {
                    st.counters.errors += 1;
                    st.counters.consecutive_failures += 1;
                    st.error = true;
                    // Cool-down: the first lasts initial_timeout, each failed
                    // recovery doubles it up to max_timeout (Python's rule).
                    let until = add(finished, st.current_timeout);
                    st.timeout_until = Some(until);
                    st.current_timeout = (st.current_timeout * 2).min(policy.max_timeout);
                    recovery = Some((until, st.generation));
                    tracing::warn!(bot = %bot.name, until = %until, "entering cool-down");
                }
            }
            failures.1 = st.counters.consecutive_failures;
            let queued = if st.running == 0 && !st.removed {
                st.queued.take()
            } else {
                None
            };
            if queued.is_some() {
                st.running += 1;
            }
            queued
        };
        let data = || {
            serde_json::json!({
                "duration_ms": duration.as_secs_f64() * 1e3,
                "attempts": attempts,
                "scheduled": scheduled,
                "consecutive_failures": failures.1,
                "recovered_after": if status == RunStatus::Succeeded { failures.0 } else { 0 },
            })
        };
        match status {
            RunStatus::Succeeded => self.emit(
                bot,
                EventType::Info,
                || "run succeeded".to_owned(),
                || {
                    let mut d = data();
                    d["result"] = value.clone().unwrap_or(serde_json::Value::Null);
                    d
                },
            ),
            _ => {
                let soft = status == RunStatus::SoftFailed;
                let why = error.as_deref().unwrap_or("");
                self.emit(
                    bot,
                    EventType::Error,
                    || {
                        if soft {
                            format!("run failed (soft error): {why}")
                        } else {
                            format!("run failed after {attempts} attempt(s): {why}")
                        }
                    },
                    || {
                        let mut d = data();
                        d["error"] = serde_json::json!(error);
                        if soft {
                            d["soft"] = serde_json::json!(true);
                        }
                        d
                    },
                )
            }
        }
        if let Some((until, generation)) = recovery {
            self.emit(
                bot,
                EventType::Warning,
                || "entered cool-down".to_owned(),
                || serde_json::json!({"until": until}),
            );
            self.push(bot, until, generation, Kind::Recovery);
        }
        if let Some(at) = queued {
            let in_timeout = lock(&bot.st).timeout_until.is_some_and(|t| t > finished);
            if in_timeout {
                let mut st = lock(&bot.st);
                st.running = st.running.saturating_sub(1);
                st.counters.skipped += 1;
            } else {
                self.spawn_run(Arc::clone(bot), Trigger::Scheduled, Some(at), None);
            }
        }
        RunOutcome {
            bot: bot.name.to_string(),
            trigger,
            scheduled,
            started,
            finished,
            attempts,
            status,
            value,
            error,
        }
    }
}

/// One bot of a manager: its schedule and state. Obtained with
/// [`Botman::bot`]; stays valid while the bot is added.
#[derive(Clone)]
pub struct BotRef {
    manager: Botman,
    entry: Arc<BotEntry>,
}

impl BotRef {
    /// The bot's name.
    pub fn name(&self) -> &str {
        &self.entry.name
    }

    /// The next scheduled fire (Python: `get_next_run`).
    pub fn next_run(&self) -> Option<Timestamp> {
        let st = lock(&self.entry.st);
        st.next_fire.or_else(|| {
            st.next_after(
                self.manager.inner.clock.now(),
                &self.manager.inner.default_tz,
            )
        })
    }

    /// Whether a fire is due now: the last fire of any schedule lies after
    /// the bot's last run (or its start).
    pub fn is_due(&self) -> bool {
        let now = self.manager.inner.clock.now();
        let st = lock(&self.entry.st);
        let last = st.counters.last_run.unwrap_or(self.entry.since);
        st.next_after(last, &self.manager.inner.default_tz)
            .is_some_and(|n| n <= now)
    }

    /// Whether the bot is cooling down after exhausting a fire's attempts.
    pub fn is_in_timeout(&self) -> bool {
        self.timeout_until().is_some()
    }

    /// When the current cool-down ends, if the bot is in one.
    pub fn timeout_until(&self) -> Option<Timestamp> {
        let now = self.manager.inner.clock.now();
        lock(&self.entry.st).timeout_until.filter(|t| *t > now)
    }

    /// Adds a schedule (`tz`: an IANA name, or `None` for the default zone).
    /// Takes effect at once.
    pub fn add_schedule(&self, expr: &str, tz: Option<&str>) -> Result<(), Error> {
        let s = Schedule::new(expr, tz)?;
        lock(&self.entry.st).schedules.push(s);
        self.manager
            .inner
            .reschedule(&self.entry, self.manager.inner.clock.now());
        Ok(())
    }

    /// Removes every schedule written as `expr`. Takes effect at once.
    pub fn remove_schedule(&self, expr: &str) -> Result<(), Error> {
        {
            let mut st = lock(&self.entry.st);
            let before = st.schedules.len();
            st.schedules.retain(|s| &*s.text != expr);
            if st.schedules.len() == before {
                return Err(Error::unknown_schedule(&self.entry.name, expr));
            }
        }
        self.manager
            .inner
            .reschedule(&self.entry, self.manager.inner.clock.now());
        Ok(())
    }

    /// Sets the last run time, as if the bot had run then (Python:
    /// `set_last_run`). Affects `is_due` and the metrics' `last_run`.
    pub fn set_last_run(&self, at: Timestamp) {
        lock(&self.entry.st).counters.last_run = Some(at);
        self.manager.inner.bump();
    }

    /// Pauses the bot: its fires are recorded as skipped until `resume`.
    pub fn pause(&self) {
        lock(&self.entry.st).paused = true;
        self.manager.inner.bump();
    }

    /// Resumes a paused bot, from now.
    pub fn resume(&self) {
        lock(&self.entry.st).paused = false;
        self.manager
            .inner
            .reschedule(&self.entry, self.manager.inner.clock.now());
    }

    /// The delay the bot's jitter adds to a fire at `scheduled`: the same
    /// in every process (a hash of the bot's name and the instant).
    pub fn jitter_at(&self, scheduled: Timestamp) -> Duration {
        jitter_for(&self.entry.name, scheduled, self.entry.policy.jitter)
    }

    /// Posts this bot's events of `types` (empty: all) to one or more Slack
    /// webhooks.
    pub fn add_slack_webhook(&self, urls: &[&str], types: &[EventType]) -> Result<(), Error> {
        for url in urls {
            self.manager
                .subscribe_receiver(&self.entry.name, false, url, types)?;
        }
        Ok(())
    }

    /// Posts this bot's events to one or more Chime webhooks.
    pub fn add_chime_webhook(&self, urls: &[&str], types: &[EventType]) -> Result<(), Error> {
        for url in urls {
            self.manager
                .subscribe_receiver(&self.entry.name, true, url, types)?;
        }
        Ok(())
    }

    /// Ends every webhook subscription of this bot. Returns how many ended.
    pub fn remove_webhook_subscriptions(&self) -> usize {
        let removed = lock(&self.manager.inner.receivers)
            .remove(&*self.entry.name)
            .unwrap_or_default();
        for r in &removed {
            r.unsubscribe_all();
        }
        removed.len()
    }

    /// Whether the bot is paused.
    pub fn is_paused(&self) -> bool {
        lock(&self.entry.st).paused
    }

    /// The bot's metrics.
    pub fn metrics(&self) -> BotMetrics {
        self.entry.metrics(self.manager.inner.clock.now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_jitter_is_deterministic_and_bounded() {
        let t: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let j = Duration::from_secs(30);
        let a = jitter_for("bot", t, j);
        assert_eq!(a, jitter_for("bot", t, j));
        assert!(a < j);
        assert_ne!(jitter_for("bot", t, j), jitter_for("other", t, j));
        assert_eq!(jitter_for("bot", t, Duration::ZERO), Duration::ZERO);
    }
}
