//! [`Botman`], the manager: its public API. The work is done by the
//! scheduler (`scheduler.rs`), the runner (`runner.rs`) and each bot's
//! state (`state.rs`).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::tz::TimeZone;

use crate::bot::Bot;
use crate::bot_ref::BotRef;
use crate::clock::{Activity, Clock, SystemClock};
use crate::error::Error;
use crate::events::{EventKind, EventManager, EventType};
use crate::metrics::BotMetrics;
use crate::run::{RunHandle, RunWatch, SkipReason, Trigger};
use crate::runner::{Exec, Workers};
use crate::scheduler::{AliveGuard, Core, CoreConfig, RuntimeGuard};
use crate::state::{Admission, BotEntry, BotRuntime};
use crate::store::{HistoryPage, MemoryStore, RunId, Store, StoredRun};
use crate::util::{add, lock};

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
/// let record = manager.run_bot("hello_bot")?.wait().unwrap();
/// assert!(record.is_success());
/// # Ok::<(), botman::Error>(())
/// ```
#[derive(Clone)]
pub struct Botman {
    pub(crate) core: Arc<Core>,
}

/// Builds a [`Botman`]; see [`Botman::builder`].
pub struct BotmanBuilder {
    name: String,
    max_workers: usize,
    max_stuck_workers: Option<usize>,
    default_tz: TimeZone,
    clock: Arc<dyn Clock>,
    store: Arc<dyn Store>,
    events: Option<EventManager>,
    grace: Duration,
}

impl BotmanBuilder {
    /// The manager's name, used for its own events and in every bot's
    /// [`bot_id`](crate::BotEvent::bot_id). Defaults to "botman".
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

    /// How many threads of sync attempts stuck past their time limit may be
    /// replaced, so the pool keeps its size (threads cannot be killed; see
    /// [`BotBuilder::time_limit`](crate::BotBuilder::time_limit)). Past it,
    /// each further stuck thread keeps its slot until it returns. Defaults
    /// to `max_workers`: at most twice `max_workers` threads in all.
    pub fn max_stuck_workers(mut self, n: usize) -> BotmanBuilder {
        self.max_stuck_workers = Some(n);
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
        let max_stuck = self.max_stuck_workers.unwrap_or(self.max_workers);
        let (rt, runtime) = match tokio::runtime::Handle::try_current() {
            Ok(h) => (h, None),
            Err(_) => {
                // Sync jobs run on the manager's own pool (`Workers`), not
                // on tokio's blocking threads.
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("botman")
                    .enable_all()
                    .build()
                    .map_err(Error::runtime)?;
                (rt.handle().clone(), Some(RuntimeGuard(Some(rt))))
            }
        };
        // A task that never ends holds the guard: it is dropped (and says
        // so) when the runtime shuts down (issue #8, bug 8).
        let alive = Arc::new(AtomicBool::new(true));
        let guard = AliveGuard(Arc::clone(&alive));
        rt.spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        });
        let core = Core::new(CoreConfig {
            name: self.name,
            exec: Exec {
                clock: Arc::clone(&self.clock),
                workers: Workers::new(self.max_workers, max_stuck, rt.clone()),
                rt,
                activity: Activity::new(),
            },
            clock: self.clock,
            store: self.store,
            events: self
                .events
                .unwrap_or_else(|| EventManager::global().clone()),
            default_tz: self.default_tz,
            grace: self.grace,
            runtime_alive: alive,
            runtime,
        });
        Ok(Botman {
            core: Arc::new(core),
        })
    }
}

/// What [`Botman::trigger`] did with a run asked for by hand.
#[derive(Debug)]
#[non_exhaustive]
pub enum Triggered {
    /// It started: await [`RunHandle::run_id`] for its row, the handle for
    /// its record.
    Started(RunHandle),
    /// A run is going and the bot's policy is `Overlap::Queue`: it starts
    /// when that run ends.
    Queued,
    /// Not run, for this reason (the bot's overlap policy).
    Skipped(SkipReason),
}

/// What [`Botman::health`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    /// The manager was started and not stopped.
    pub running: bool,
    /// Its scheduler loop is alive (false while not running).
    pub scheduler_alive: bool,
    /// The store did not answer a read: why.
    pub store_error: Option<String>,
    /// Store operations that failed since the manager was built.
    pub store_errors: u64,
}

impl Health {
    /// Running, its scheduler alive, its store answering.
    pub fn is_healthy(&self) -> bool {
        self.running && self.scheduler_alive && self.store_error.is_none()
    }
}

/// What `stop` left behind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StopReport {
    /// Bots whose runs were still going when the grace period ended: they
    /// were stopped then (an async job's future dropped, a shell job's
    /// process group killed) and recorded as
    /// [`Interrupted`](crate::RunOutcome::Interrupted); a sync job's thread
    /// cannot be stopped and is also in [`stuck`](StopReport::stuck).
    pub abandoned: Vec<String>,
    /// Bots with sync attempts stuck past their time limit whose threads
    /// still run (they end with the process).
    pub stuck: Vec<String>,
    /// Rows and states the store had not taken when the grace period ended
    /// (it failed); they are lost with the process. A
    /// [`StoreFailed`](crate::EventKind::StoreFailed) event told of it.
    pub unsaved: usize,
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
            max_stuck_workers: None,
            default_tz: TimeZone::UTC,
            clock: Arc::new(SystemClock),
            store: Arc::new(MemoryStore::new()),
            events: None,
            grace: Duration::from_secs(30),
        }
    }

    /// The manager's name.
    pub fn name(&self) -> String {
        lock(&self.core.name).clone()
    }

    /// Renames the manager (its own events from now on; bots keep the
    /// `bot_id` they were added with).
    pub fn set_name(&self, name: impl Into<String>) {
        *lock(&self.core.name) = name.into();
    }

    /// The event manager the manager and its bots publish to.
    pub fn events(&self) -> &EventManager {
        &self.core.events
    }

    /// The manager's clock.
    pub fn clock(&self) -> Arc<dyn Clock> {
        Arc::clone(&self.core.clock)
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
        let core = &self.core;
        let now = core.clock.now();
        let id_prefix = crate::events::id_prefix(&self.name());
        #[cfg(feature = "webhooks")]
        let mut webhooks = Vec::new();
        let entries: Vec<Arc<BotEntry>> = bots
            .into_iter()
            .map(|bot| {
                #[cfg(feature = "webhooks")]
                if !bot.webhooks.is_empty() {
                    webhooks.push((Arc::clone(&bot.name), bot.webhooks.clone()));
                }
                if bot.policy.com && !cfg!(windows) {
                    tracing::warn!(bot = %bot.name, "is_com_bot has no effect outside Windows");
                }
                let mut st = BotRuntime::new(bot.schedules, &bot.policy);
                st.next_fire = st.next_after(now, &core.default_tz);
                Arc::new(BotEntry {
                    id: crate::events::bot_id_hash(&id_prefix, &bot.name),
                    name: bot.name,
                    job: bot.job,
                    since: now,
                    st: Mutex::new(st),
                    policy: bot.policy,
                })
            })
            .collect();
        {
            let mut map = lock(&core.bots);
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
        #[cfg(feature = "webhooks")]
        for (name, hooks) in webhooks {
            for (format, url, types) in hooks {
                self.core.attach(Some(&name), format, url, &types)?;
            }
        }
        for e in &entries {
            core.emit(
                e,
                EventKind::BotAdded,
                EventType::Info,
                || "bot added".to_owned(),
                || {
                    let st = lock(&e.st);
                    serde_json::json!({"schedules": st.schedules.iter().map(|s| s.expr()).collect::<Vec<_>>()})
                },
            );
        }
        if core.running.load(Ordering::SeqCst) {
            core.push_new(&entries);
            // Their saved states (a bot added back after a restart).
            let c = Arc::clone(core);
            let busy = core.exec.activity.busy();
            core.exec.rt.spawn(async move {
                let _busy = busy;
                c.restore(&entries, false).await;
            });
        }
        core.bump();
        Ok(())
    }

    /// Removes a bot; its pending fires are dropped, a running job finishes.
    pub fn remove_bot(&self, name: &str) -> Result<(), Error> {
        let entry = lock(&self.core.bots)
            .remove(name)
            .ok_or_else(|| Error::unknown_bot(name))?;
        lock(&entry.st).remove();
        self.core.emit(
            &entry,
            EventKind::BotRemoved,
            EventType::Info,
            || "bot removed".to_owned(),
            || serde_json::Value::Null,
        );
        #[cfg(feature = "webhooks")]
        self.core.detach(Some(name));
        self.core.bump();
        Ok(())
    }

    /// The names of the bots, sorted.
    pub fn bot_names(&self) -> Vec<String> {
        let mut v: Vec<String> = lock(&self.core.bots)
            .keys()
            .map(|k| k.to_string())
            .collect();
        v.sort();
        v
    }

    pub(crate) fn entry(&self, name: &str) -> Result<Arc<BotEntry>, Error> {
        lock(&self.core.bots)
            .get(name)
            .cloned()
            .ok_or_else(|| Error::unknown_bot(name))
    }

    /// A handle on one bot, for its state and schedule.
    pub fn bot(&self, name: &str) -> Result<BotRef, Error> {
        let entry = self.entry(name)?;
        Ok(BotRef::new(Arc::clone(&self.core), entry))
    }

    /// Starts the scheduler. Calling it again while running does nothing.
    pub fn start(&self) {
        let core = &self.core;
        if !core.runtime_alive.load(Ordering::SeqCst) {
            tracing::error!(manager = %self.name(), "{}", Error::runtime_gone());
            return;
        }
        if core.running.swap(true, Ordering::SeqCst) {
            return;
        }
        {
            // A stop that ran out of grace cancelled the last one.
            let mut shutdown = lock(&core.shutdown);
            if shutdown.is_cancelled() {
                *shutdown = tokio_util::sync::CancellationToken::new();
            }
        }
        let now = core.clock.now();
        let bots: Vec<Arc<BotEntry>> = lock(&core.bots).values().cloned().collect();
        for b in &bots {
            core.reschedule(b, now);
        }
        core.spawn_loop(core.exec.activity.busy(), now);
        tracing::info!(manager = %self.name(), bots = bots.len(), "started");
        core.emit_manager(
            EventKind::ManagerStarted,
            EventType::Info,
            "manager started",
            serde_json::json!({"bots": bots.len()}),
        );
    }

    /// Whether the scheduler is running.
    pub fn is_running(&self) -> bool {
        self.core.running.load(Ordering::SeqCst)
    }

    /// Stops firing, waits up to the shutdown grace for running jobs (on the
    /// manager's clock), lets the webhooks deliver what the runs said, and
    /// reports what it abandoned. Blocking: from async code use
    /// [`stop_async`](Botman::stop_async).
    ///
    /// From inside a multi-threaded tokio runtime it blocks the calling
    /// worker thread only (as [`tokio::task::block_in_place`]).
    ///
    /// # Panics
    ///
    /// Inside a current-thread tokio runtime (`#[tokio::main(flavor =
    /// "current_thread")]`, `#[tokio::test]`), where blocking would stop the
    /// very runtime the runs need: `.await` [`stop_async`](Botman::stop_async)
    /// there.
    pub fn stop(&self) -> StopReport {
        match self.block_on(self.stop_async()) {
            Some(report) => report,
            None => panic!(
                "Botman::stop() cannot block inside a current-thread tokio runtime \
                 (the runs it waits for need that thread): use `stop_async().await`"
            ),
        }
    }

    /// Runs `f` to its end from plain code, or from a multi-threaded tokio
    /// runtime (blocking that worker thread only). `None` inside a
    /// current-thread runtime, where blocking would stop the very runtime
    /// `f` needs.
    fn block_on<F: std::future::Future>(&self, f: F) -> Option<F::Output> {
        let rt = &self.core.exec.rt;
        match tokio::runtime::Handle::try_current() {
            Ok(current) => {
                if current.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread {
                    return None;
                }
                Some(tokio::task::block_in_place(|| rt.block_on(f)))
            }
            Err(_) => Some(rt.block_on(f)),
        }
    }

    pub(crate) fn from_core(core: Arc<Core>) -> Botman {
        Botman { core }
    }

    /// A bot's last `limit` runs, newest first, from the store (with the
    /// manager's default [`MemoryStore`], the runs of this process; with
    /// `SqliteStore`, across restarts). Runs, skipped and missed fires are
    /// all there, each with its [`RunOutcome`](crate::RunOutcome) and
    /// reason. Works for a bot since removed, too. Blocking: from async
    /// code use [`history_async`](Botman::history_async).
    ///
    /// ```
    /// use botman::{Bot, Botman};
    ///
    /// let manager = Botman::new();
    /// manager.add_bot(Bot::builder("hello").schedule("@daily").job(|| Ok::<_, std::io::Error>(())).build()?)?;
    /// manager.run_bot("hello")?.wait();
    /// let runs = manager.history("hello", 10)?;
    /// assert_eq!(runs.len(), 1);
    /// assert_eq!(runs[0].outcome, Some(botman::RunOutcome::Success));
    /// # Ok::<(), botman::Error>(())
    /// ```
    ///
    /// Errors: the store failed ([`Error::is_store`]); called inside a
    /// current-thread tokio runtime ([`Error::is_runtime`]).
    pub fn history(&self, bot: &str, limit: usize) -> Result<Vec<StoredRun>, Error> {
        self.history_blocking(
            bot,
            limit,
            "Botman::history()",
            "Botman::history_async().await",
        )
    }

    /// [`history`](Botman::history), said of the call the user made.
    pub(crate) fn history_blocking(
        &self,
        bot: &str,
        limit: usize,
        call: &'static str,
        instead: &'static str,
    ) -> Result<Vec<StoredRun>, Error> {
        self.block_on(self.history_async(bot, limit))
            .unwrap_or_else(|| Err(Error::cannot_block(call, instead)))
    }

    /// [`history`](Botman::history), from async code.
    pub async fn history_async(&self, bot: &str, limit: usize) -> Result<Vec<StoredRun>, Error> {
        Ok(self.history_page(bot, limit, None).await?.runs)
    }

    /// A page of a bot's history, newest first: at most `limit` runs older
    /// than `before` (the previous page's [`HistoryPage::next`]), and the
    /// cursor of the next page.
    pub async fn history_page(
        &self,
        bot: &str,
        limit: usize,
        before: Option<RunId>,
    ) -> Result<HistoryPage, Error> {
        self.core.history(bot, limit, before).await
    }

    /// Stops every run in flight now, as the end of the shutdown grace
    /// does: an async job's future is dropped (a shell job's process group
    /// is killed) and the run is recorded as
    /// [`Interrupted`](crate::RunOutcome::Interrupted). With a `stop` under
    /// way, it ends the grace at once (a daemon's second Ctrl-C).
    pub fn stop_runs(&self) {
        lock(&self.core.shutdown).cancel();
    }

    /// Stops firing and waits up to the shutdown grace for running jobs.
    pub async fn stop_async(&self) -> StopReport {
        let core = &self.core;
        // The grace period is fixed before the stop becomes visible, so a test
        // that sees `is_running() == false` may move a manual clock past it.
        let deadline = add(core.clock.now(), core.grace);
        core.emit_manager(
            EventKind::ManagerStopping,
            EventType::Info,
            "manager stopping",
            serde_json::json!({"grace_s": core.grace.as_secs_f64()}),
        );
        core.running.store(false, Ordering::SeqCst);
        core.wake_loop();
        core.bump();
        let drained = async {
            loop {
                let idle = core.idle.notified();
                tokio::pin!(idle);
                idle.as_mut().enable();
                if core.in_flight.load(Ordering::SeqCst) == 0 {
                    return;
                }
                idle.await;
            }
        };
        tokio::pin!(drained);
        tokio::select! {
            () = &mut drained => {}
            () = core.clock.sleep_until(deadline) => {}
        }
        let (abandoned, mut stuck) = self.unfinished();
        if !abandoned.is_empty() {
            // The grace ran out: the runs still going are stopped (an async
            // job's future is dropped, which kills a shell job's process
            // group) and record themselves as interrupted, which takes a
            // moment of real time, bounded here.
            tracing::warn!(
                ?abandoned,
                "the shutdown grace ran out: stopping the runs still going"
            );
            lock(&core.shutdown).cancel();
            let _ = tokio::time::timeout(Duration::from_secs(2), drained).await;
            // A sync job's thread given up on is stuck now.
            stuck = self.unfinished().1;
        }
        // What the runs recorded reaches the store within the grace.
        core.flush_journal(deadline).await;
        let unsaved = core.journal.pending();
        if unsaved > 0 {
            tracing::error!(unsaved, "stopped with rows the store did not take");
        }
        #[cfg(feature = "webhooks")]
        {
            // Let the webhooks deliver what the runs said, within the grace
            // (in real time: it is network I/O) and at most 5 s, all at
            // once; a second stop (`stop_runs`) cuts it short, and after a
            // grace that ran out it gets a second at most.
            let hurry = lock(&core.shutdown).clone();
            let mut flush_for = core.grace.min(Duration::from_secs(5));
            if hurry.is_cancelled() {
                flush_for = flush_for.min(Duration::from_secs(1));
            }
            let receivers = self.receivers();
            let flushes =
                futures_util::future::join_all(receivers.iter().map(|r| r.flush(flush_for)));
            let hurried = async {
                if !hurry.is_cancelled() {
                    hurry.cancelled().await;
                } else {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                flushed = flushes => {
                    for (r, ok) in receivers.iter().zip(flushed) {
                        if !ok {
                            tracing::warn!(url = %r.url(), "webhook still had events queued at shutdown");
                        }
                    }
                }
                () = hurried => {
                    tracing::warn!("stopping now: the webhooks' queued events are not waited for");
                }
            }
        }
        let event_type = if abandoned.is_empty() && unsaved == 0 {
            EventType::Info
        } else {
            EventType::Warning
        };
        core.emit_manager(
            EventKind::ManagerStopped,
            event_type,
            "manager stopped",
            serde_json::json!({"abandoned": abandoned, "stuck": stuck, "unsaved": unsaved}),
        );
        #[cfg(feature = "webhooks")]
        {
            // The manager's own last words, all receivers at once.
            let last = self.receivers_of("");
            let wait = Duration::from_secs(1).min(core.grace);
            futures_util::future::join_all(last.iter().map(|r| r.flush(wait))).await;
        }
        StopReport {
            abandoned,
            stuck,
            unsaved,
        }
    }

    /// Bots with runs in flight, and bots with stuck threads.
    fn unfinished(&self) -> (Vec<String>, Vec<String>) {
        let bots: Vec<Arc<BotEntry>> = lock(&self.core.bots).values().cloned().collect();
        let mut abandoned = Vec::new();
        let mut stuck = Vec::new();
        for b in &bots {
            let st = lock(&b.st);
            if st.running() > 0 {
                abandoned.push(b.name.to_string());
            }
            if st.stuck() > 0 {
                stuck.push(b.name.to_string());
            }
        }
        abandoned.sort();
        stuck.sort();
        (abandoned, stuck)
    }

    /// Runs a bot now, outside its schedule (no pause, cool-down or overlap
    /// check: a person asked). Its record is applied like any other (a
    /// failure starts a cool-down).
    ///
    /// Errors: no such bot; the tokio runtime the manager was built in has
    /// shut down ([`Error::is_runtime`]).
    pub fn run_bot(&self, name: &str) -> Result<RunHandle, Error> {
        if !self.core.runtime_alive.load(Ordering::SeqCst) {
            return Err(Error::runtime_gone());
        }
        let entry = self.entry(name)?;
        let (watch, handle) = RunWatch::with_handle();
        // A manual run replaces nothing; it holds the bot's token, so a
        // fire under `Overlap::Replace` stops it as any run in flight.
        let token = {
            let mut st = lock(&entry.st);
            st.start();
            st.run_token()
        };
        self.core
            .spawn_run(entry, Trigger::Manual, None, token, watch);
        Ok(handle)
    }

    /// Runs a bot now as a person asks through a front end (the daemon's
    /// HTTP API): the bot's [`Overlap`](crate::Overlap) policy decides, as
    /// for a fire, whether it starts beside a run in flight, waits for it
    /// (`Queue`), stops it (`Replace`) or is not run (`Skip`, a full
    /// `Concurrent` or queue: the [`Triggered::Skipped`] reason, nothing
    /// recorded). A pause or a cool-down does not hold back what a person
    /// asked for. [`run_bot`](Botman::run_bot) starts a run whatever runs.
    ///
    /// Errors: no such bot; the runtime is gone ([`Error::is_runtime`]).
    pub fn trigger(&self, name: &str) -> Result<Triggered, Error> {
        if !self.core.runtime_alive.load(Ordering::SeqCst) {
            return Err(Error::runtime_gone());
        }
        let entry = self.entry(name)?;
        let now = self.core.clock.now();
        let (admission, token) = {
            let mut st = lock(&entry.st);
            let admission = st.admit_manual(entry.policy.overlap, now);
            (admission, st.run_token())
        };
        match admission {
            Admission::Start => {
                let (watch, handle) = RunWatch::with_handle();
                self.core
                    .spawn_run(entry, Trigger::Manual, None, token, watch);
                Ok(Triggered::Started(handle))
            }
            Admission::Queued => Ok(Triggered::Queued),
            Admission::Skip(reason) => Ok(Triggered::Skipped(reason)),
        }
    }

    /// One run by its id ([`StoredRun::id`], [`RunHandle::run_id`]), with
    /// its output tails, from the store; `None` if there is no such row.
    ///
    /// Errors: the store failed ([`Error::is_store`]).
    pub async fn run_record(&self, id: RunId) -> Result<Option<StoredRun>, Error> {
        self.core.flush_before_read().await;
        self.core.store.run(id).await.map_err(Error::store)
    }

    /// Whether the manager is healthy: its scheduler loop is alive (when
    /// started) and its store answers a read. For a health check
    /// (`GET /healthz` of the daemon).
    pub async fn health(&self) -> Health {
        let store = match self.core.store.ping().await {
            // A store that answers reads may still refuse writes (a lock
            // held, a full disk): the journal knows.
            Ok(()) if self.core.writes_failing() => Some(
                "the store answers but does not take writes (runs wait to be recorded)".to_owned(),
            ),
            Ok(()) => None,
            Err(e) => Some(e.to_string()),
        };
        Health {
            running: self.is_running(),
            scheduler_alive: self.core.scheduler_alive(),
            store_error: store,
            store_errors: self.store_errors(),
        }
    }

    /// Runs every bot now; one handle per bot, in name order.
    pub fn run_all_bots(&self) -> Vec<RunHandle> {
        self.bot_names()
            .iter()
            .filter_map(|n| self.run_bot(n).ok())
            .collect()
    }

    /// Subscribes `callback` to every event of this manager whose type is
    /// in `types` (empty: all): its bots' (a bot removed while its run went
    /// on included) and its own, not another manager's on the same
    /// [`EventManager`], with a queue of `capacity` events (past it, events
    /// are dropped and counted). What the daemon's event stream and metrics
    /// hear.
    pub fn subscribe(
        &self,
        callback: impl Fn(&crate::BotEvent) + Send + Sync + 'static,
        types: &[EventType],
        capacity: usize,
    ) -> crate::SubscriptionId {
        self.core.events.subscribe_filtered(
            crate::events::Filter::Instance {
                manager: self.core.instance,
            },
            Box::new(callback),
            types,
            capacity,
        )
    }

    /// Metrics of every bot, in name order.
    pub fn metrics(&self) -> Vec<BotMetrics> {
        let mut bots: Vec<Arc<BotEntry>> = lock(&self.core.bots).values().cloned().collect();
        bots.sort_by(|a, b| a.name.cmp(&b.name));
        let now = self.core.clock.now();
        bots.iter().map(|b| b.metrics(now)).collect()
    }

    /// Metrics of one bot.
    pub fn metrics_of(&self, name: &str) -> Result<BotMetrics, Error> {
        let entry = self.entry(name)?;
        Ok(entry.metrics(self.core.clock.now()))
    }

    /// Sync attempts past their time limit whose threads have not returned,
    /// over every bot.
    pub fn stuck_workers(&self) -> usize {
        self.core.exec.workers.stuck()
    }

    /// Store calls that failed (each retry counts): claims, run rows,
    /// states.
    pub fn store_errors(&self) -> u64 {
        self.core.store_errors.load(Ordering::Relaxed)
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
        self.core.waiters.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.core.waiters);
        let check = async {
            loop {
                let changed = self.core.changed.notified();
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

    /// Waits (in real time, at most `timeout`) until the manager is idle at
    /// its clock's current instant: the scheduler has decided every fire due
    /// and sleeps, and every run has ended or sleeps on the clock (between
    /// attempts, or claiming). Then nothing more happens until the clock
    /// moves — or a job still executing returns, so use it while no job
    /// blocks. Returns whether it became idle.
    ///
    /// For tests on a [`ManualClock`](crate::ManualClock): move the clock
    /// to one second before a deadline, `wait_idle`, and check that nothing
    /// happened yet — a check that fails if anything ran early.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        self.core
            .exec
            .activity
            .wait_idle(&*self.core.clock, timeout)
            .await
    }
}

#[cfg(feature = "webhooks")]
impl Botman {
    fn subscribe_url(
        &self,
        format: crate::receivers::Format,
        url: &str,
        types: &[EventType],
    ) -> Result<(), Error> {
        self.core
            .attach(None, format, crate::WebhookUrl::new(url)?, types)
    }

    /// Posts the manager's own events (started, stopping, stopped, clock
    /// jumps) of `types` (empty: all) to a Slack webhook.
    pub fn subscribe_slack_webhook(&self, url: &str, types: &[EventType]) -> Result<(), Error> {
        self.subscribe_url(crate::receivers::Format::Slack, url, types)
    }

    /// Posts the manager's own events to a Chime webhook.
    pub fn subscribe_chime_webhook(&self, url: &str, types: &[EventType]) -> Result<(), Error> {
        self.subscribe_url(crate::receivers::Format::Chime, url, types)
    }

    /// Posts the manager's own events as JSON to any webhook.
    pub fn subscribe_webhook(&self, url: &str, types: &[EventType]) -> Result<(), Error> {
        self.subscribe_url(crate::receivers::Format::Json, url, types)
    }

    /// The receivers subscribed for a bot (or, with "", for the manager),
    /// each once.
    pub fn receivers_of(&self, who: &str) -> Vec<crate::Receiver> {
        let mut out: Vec<crate::Receiver> = Vec::new();
        for h in lock(&self.core.receivers).iter() {
            let mine = match &h.bot {
                Some(b) => **b == *who,
                None => who.is_empty(),
            };
            if mine && !out.contains(&h.receiver) {
                out.push(h.receiver.clone());
            }
        }
        out
    }

    /// Every receiver the manager or its bots post to, each once.
    pub fn receivers(&self) -> Vec<crate::Receiver> {
        let mut out: Vec<crate::Receiver> = Vec::new();
        for h in lock(&self.core.receivers).iter() {
            if !out.contains(&h.receiver) {
                out.push(h.receiver.clone());
            }
        }
        out
    }
}
