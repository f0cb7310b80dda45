//! The scheduler: decides every fire, and carries out what follows it.
//!
//! One loop holds a min-heap of (instant, bot). It sleeps until the earliest
//! instant, a change (bot added, removed, rescheduled, resumed, stop) or a
//! backward clock jump — it never polls. For each due entry it decides:
//! the misfire policy for fires noticed late ([`Core::decide_fire`]),
//! admission (pause, cool-down, overlap: [`BotRuntime::admit`]), and, with a
//! shared store, the claim ([`Core::claim`]). It hands admitted fires to the
//! runner ([`runner::run`]), which returns a [`RunRecord`]; the bot's state
//! applies it ([`BotRuntime::apply`]) and [`Core::finish`] carries out what
//! follows (the recovery entry, the queued fire) and publishes the events,
//! all made from that record ([`Core::publish_record`]).
//!
//! Locking: `Core::bots` (the name index), `Core::heap` and each bot's
//! state are std mutexes held only for bookkeeping, never across an
//! `.await` or a job's run. Lock order, when two are held: `bots`, then
//! `heap`, then a bot's state.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::bot::{Misfire, Overlap};
use crate::clock::{Busy, Clock, SystemClock};
use crate::events::{BotEvent, EventKind, EventManager, EventType, Origin};
use crate::journal::Journal;
use crate::run::{MissReason, RunOutcome, RunRecord, RunWatch, SkipReason, Trigger};
use crate::runner::{self, AttemptFailure, Exec, Observer};
use crate::state::{Admission, Applied, BotEntry, Phase, Watch};
use crate::store::{Begun, RunEnd, RunId, RunStart, SavedState, Store, StoredRun};
use crate::util::{Fnv, add, human, lock};

/// The most late fires looked at in one misfire batch; older ones are
/// counted as missed without being enumerated one by one.
const MISFIRE_SCAN: usize = 10_000;

/// Missed fires recorded one row each per decision (the newest); older
/// ones are counted in the oldest row's error and in the event.
const MISSED_ROWS: usize = 100;

/// Runs started per task in one wake-up (see [`Core::start_runs`]).
const RUNS_PER_TASK: usize = 64;

/// A backward clock jump shorter than this keeps every bot's schedule (no
/// fire that already ran runs again); a longer one reschedules every bot
/// from the new now. cronie's rule (issue #8, bug 9).
pub(crate) const CLOCK_JUMP_RESCHEDULE: Duration = Duration::from_secs(3 * 3600);

/// Smaller backward steps are not jumps (NTP may step a few ms).
const CLOCK_JUMP_MIN: SignedDuration = SignedDuration::from_secs(1);

/// A wake-up this much after its deadline means the clock jumped forward
/// (or the machine was suspended).
const CLOCK_JUMP_FORWARD: SignedDuration = SignedDuration::from_secs(60);

/// The first wait before claiming a fire again after the store failed;
/// doubled after each failure up to [`CLAIM_BACKOFF_MAX`], while the fire
/// is within its misfire grace.
const CLAIM_BACKOFF: Duration = Duration::from_secs(1);
const CLAIM_BACKOFF_MAX: Duration = Duration::from_secs(30);

/// An owned runtime, shut down without blocking when the manager goes.
pub(crate) struct RuntimeGuard(pub(crate) Option<tokio::runtime::Runtime>);

impl Drop for RuntimeGuard {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Set to false when the runtime the manager runs on shuts down: held by a
/// task that never ends, so it is dropped with the runtime.
pub(crate) struct AliveGuard(pub(crate) Arc<AtomicBool>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// A webhook receiver subscribed for a bot (`Some(name)`) or for the
/// manager (`None`).
#[cfg(feature = "webhooks")]
pub(crate) struct Hooked {
    pub(crate) bot: Option<Arc<str>>,
    pub(crate) receiver: crate::Receiver,
    pub(crate) id: crate::SubscriptionId,
}

/// What a manager shares with its tasks: the bots, the heap, the clock,
/// the store, the events. [`Botman`](crate::Botman) is its public face.
pub(crate) struct Core {
    pub(crate) name: Mutex<String>,
    /// This manager's number in the process (events' origin).
    pub(crate) instance: u64,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) events: EventManager,
    pub(crate) default_tz: TimeZone,
    pub(crate) grace: Duration,
    pub(crate) exec: Exec,
    pub(crate) runtime_alive: Arc<AtomicBool>,
    pub(crate) _runtime: Option<RuntimeGuard>,
    /// Keyed by the bot's own name (shared, not copied).
    pub(crate) bots: Mutex<HashMap<Arc<str>, Arc<BotEntry>>>,
    #[cfg(feature = "webhooks")]
    pub(crate) receivers: Mutex<Vec<Hooked>>,
    heap: Mutex<BinaryHeap<Reverse<HeapEntry>>>,
    wake: Notify,
    pub(crate) running: AtomicBool,
    /// Bumped by every `start`: a loop of an earlier start (stopped, but
    /// not yet out) ends instead of running beside the new one.
    loop_epoch: AtomicU64,
    /// Scheduler loops running now (a health check reads it).
    loops_alive: Arc<AtomicU64>,
    /// The store's last answer to run starts was a failure.
    pub(crate) begins_failing: AtomicBool,
    seq: AtomicU64,
    /// Runs in flight, for `stop` to wait on.
    pub(crate) in_flight: AtomicUsize,
    /// Signalled when `in_flight` drops to zero.
    pub(crate) idle: Notify,
    /// Signalled on metrics changes, only while someone waits (`waiters`).
    pub(crate) changed: Notify,
    pub(crate) waiters: AtomicUsize,
    /// Store calls that failed (each retry counts).
    pub(crate) store_errors: AtomicU64,
    /// Rows and states on their way to the store.
    pub(crate) journal: Journal,
    /// The bots' saved states were taken back (at the first start).
    restored: AtomicBool,
    /// Cancelled when the shutdown grace runs out: the runs still going
    /// stop and record themselves as interrupted. A new one per start.
    pub(crate) shutdown: Mutex<CancellationToken>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EntryKind {
    /// The bot's next scheduled fire, `BotRuntime::next_fire` (the entry's
    /// `at` adds jitter); the generation check guarantees they match.
    Fire,
    /// The end of a cool-down.
    Recovery,
    /// The dead man's switch looks whether a run succeeded in time
    /// (`BotRuntime::watch`; valid across generations, stale when its
    /// instant is not `watch.check`).
    Overdue,
}

struct HeapEntry {
    at: Timestamp,
    seq: u64,
    generation: u32,
    kind: EntryKind,
    bot: Arc<BotEntry>,
}

crate::ordered_by_deadline!(HeapEntry);

/// A fire decided in one wake-up, to start.
struct Start {
    bot: Arc<BotEntry>,
    at: Timestamp,
    trigger: Trigger,
    /// The bot's replace token at the admission.
    replaced: CancellationToken,
}

/// What the store said to a run about to start.
#[derive(Clone, Debug)]
pub(crate) enum Began {
    /// Run it; its row (when the store could make one: a run that needs no
    /// claim goes ahead while the store fails, and its end makes the row).
    Run(Option<RunId>),
    /// Another manager claimed the fire.
    Lost,
    /// The store kept failing until the fire's misfire grace ran out.
    GaveUp(String),
}

/// Settings a [`Core`] is built from.
pub(crate) struct CoreConfig {
    pub(crate) name: String,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) events: EventManager,
    pub(crate) default_tz: TimeZone,
    pub(crate) grace: Duration,
    pub(crate) exec: Exec,
    pub(crate) runtime_alive: Arc<AtomicBool>,
    pub(crate) runtime: Option<RuntimeGuard>,
}

impl Core {
    pub(crate) fn new(c: CoreConfig) -> Core {
        static INSTANCES: AtomicU64 = AtomicU64::new(1);
        Core {
            name: Mutex::new(c.name),
            instance: INSTANCES.fetch_add(1, Ordering::Relaxed),
            clock: c.clock,
            store: c.store,
            events: c.events,
            default_tz: c.default_tz,
            grace: c.grace,
            exec: c.exec,
            runtime_alive: c.runtime_alive,
            _runtime: c.runtime,
            bots: Mutex::new(HashMap::new()),
            #[cfg(feature = "webhooks")]
            receivers: Mutex::new(Vec::new()),
            heap: Mutex::new(BinaryHeap::new()),
            wake: Notify::new(),
            running: AtomicBool::new(false),
            loop_epoch: AtomicU64::new(0),
            loops_alive: Arc::default(),
            begins_failing: AtomicBool::new(false),
            seq: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
            changed: Notify::new(),
            waiters: AtomicUsize::new(0),
            store_errors: AtomicU64::new(0),
            journal: Journal::default(),
            restored: AtomicBool::new(false),
            shutdown: Mutex::new(CancellationToken::new()),
        }
    }

    // ---- events: every event of a bot or a manager is published here ----

    /// Publishes a bot's event; builds nothing when nobody listens.
    pub(crate) fn emit(
        &self,
        bot: &BotEntry,
        kind: EventKind,
        event_type: EventType,
        description: impl FnOnce() -> String,
        data: impl FnOnce() -> serde_json::Value,
    ) {
        if !self.events.has_subscribers() {
            return;
        }
        self.events.publish(BotEvent {
            bot_name: bot.name.to_string(),
            bot_id: crate::events::id_text(bot.id),
            kind,
            event_type,
            description: description(),
            data: data(),
            at: self.clock.now(),
            origin: Origin {
                manager: self.instance,
                of_manager: false,
            },
        });
    }

    /// Publishes the manager's own event.
    pub(crate) fn emit_manager(
        &self,
        kind: EventKind,
        event_type: EventType,
        description: &str,
        data: serde_json::Value,
    ) {
        if !self.events.has_subscribers() {
            return;
        }
        let name = lock(&self.name).clone();
        self.events.publish(BotEvent {
            bot_id: crate::events::stable_id(&name, None),
            bot_name: name,
            kind,
            event_type,
            description: description.to_owned(),
            data,
            at: self.clock.now(),
            origin: Origin {
                manager: self.instance,
                of_manager: true,
            },
        });
    }

    /// The events a record makes: one per record (its run's success or
    /// failure, or why it did not run), and the cool-down it started.
    fn publish_record(&self, bot: &BotEntry, r: &RunRecord, applied: &Applied) {
        let base = || {
            let mut d = serde_json::json!({
                "outcome": r.outcome.as_str(),
                "trigger": r.trigger,
                "scheduled": r.scheduled,
                "attempts": r.attempts,
                "duration_ms": r.duration().as_secs_f64() * 1e3,
                "consecutive_failures": applied.failures_after,
            });
            // A process's exit code and the end of its stderr: what a person
            // reads first when a shell job fails (issue #10).
            if let Some(o) = &r.output {
                d["exit_code"] = serde_json::json!(o.exit_code);
                d["stderr_tail"] = serde_json::json!(o.stderr_tail.as_deref().map(event_tail));
            }
            d
        };
        match r.outcome {
            RunOutcome::Success => self.emit(
                bot,
                EventKind::RunSucceeded,
                EventType::Info,
                || "run succeeded".to_owned(),
                || {
                    let mut d = base();
                    d["recovered_after"] = applied.failures_before.into();
                    d["result"] = r.value.clone().unwrap_or(serde_json::Value::Null);
                    d
                },
            ),
            RunOutcome::Failure | RunOutcome::SoftFailure | RunOutcome::TimedOut => {
                let why = r.error.as_deref().unwrap_or("");
                self.emit(
                    bot,
                    EventKind::RunFailed,
                    EventType::Error,
                    || match r.outcome {
                        RunOutcome::SoftFailure => format!("run failed (soft error): {why}"),
                        _ => format!("run failed after {} attempt(s): {why}", r.attempts),
                    },
                    || {
                        let mut d = base();
                        d["error"] = serde_json::json!(r.error);
                        d["soft"] = (r.outcome == RunOutcome::SoftFailure).into();
                        d
                    },
                )
            }
            RunOutcome::Interrupted => self.emit(
                bot,
                EventKind::RunFailed,
                EventType::Warning,
                || match &r.error {
                    Some(why) => format!("run interrupted: {why}"),
                    None => "run interrupted".to_owned(),
                },
                || {
                    let mut d = base();
                    d["error"] = serde_json::json!(r.error);
                    d
                },
            ),
            RunOutcome::Skipped(reason) => self.emit_skip(bot, reason, r.scheduled),
            RunOutcome::Missed(reason) => self.emit(
                bot,
                EventKind::FiresMissed { reason },
                EventType::Error,
                || {
                    format!(
                        "fire missed: the store could not claim it within its misfire grace: {}",
                        r.error.as_deref().unwrap_or("")
                    )
                },
                || {
                    let mut d = base();
                    d["reason"] = reason.as_str().into();
                    d["missed"] = 1.into();
                    d["error"] = serde_json::json!(r.error);
                    d
                },
            ),
        }
        if let Some((until, length)) = applied.cool_down {
            self.emit(
                bot,
                EventKind::CoolDownEntered,
                EventType::Warning,
                || format!("entered cool-down until {until}"),
                || serde_json::json!({"until": until, "length_s": length.as_secs_f64()}),
            );
        }
    }

    fn emit_skip(&self, bot: &BotEntry, reason: SkipReason, at: Option<Timestamp>) {
        let why = match reason {
            SkipReason::Paused => "paused",
            SkipReason::CoolDown => "cool-down",
            SkipReason::Overlap => "overlap",
            SkipReason::ConcurrencyLimit => "overlap: concurrency limit",
            SkipReason::QueueFull => "overlap: a fire already waits",
            SkipReason::ClaimedElsewhere => "claimed by another process",
            SkipReason::Removed => "bot removed",
            SkipReason::Stopped => "the manager stopped",
        };
        let event_type = if reason == SkipReason::ClaimedElsewhere {
            EventType::Debug
        } else {
            tracing::warn!(bot = %bot.name, scheduled = ?at, reason = reason.as_str(), "fire skipped");
            EventType::Warning
        };
        self.emit(
            bot,
            EventKind::FireSkipped { reason },
            event_type,
            || format!("fire skipped ({why})"),
            || serde_json::json!({"scheduled": at, "reason": reason.as_str()}),
        );
    }

    fn emit_cool_down_ended(&self, bot: &BotEntry) {
        tracing::info!(bot = %bot.name, "cool-down over");
        self.emit(
            bot,
            EventKind::CoolDownEnded,
            EventType::Info,
            || "cool-down over".to_owned(),
            || serde_json::Value::Null,
        );
    }

    // ---- bookkeeping ----

    pub(crate) fn run_finished(&self) {
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }

    /// Records that metrics changed; wakes `wait_until` callers, if any (a
    /// single atomic load otherwise: this is on every run's path).
    pub(crate) fn bump(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.changed.notify_waiters();
        }
    }

    fn entry(
        &self,
        bot: &Arc<BotEntry>,
        at: Timestamp,
        generation: u32,
        kind: EntryKind,
    ) -> HeapEntry {
        HeapEntry {
            at,
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
            generation,
            kind,
            bot: Arc::clone(bot),
        }
    }

    /// The heap entry of a bot's next scheduled fire (with jitter).
    fn fire_entry(&self, bot: &Arc<BotEntry>, next: Timestamp, generation: u32) -> HeapEntry {
        let at = add(next, jitter_for(&bot.name, next, bot.policy.jitter));
        self.entry(bot, at, generation, EntryKind::Fire)
    }

    /// Wakes the loop to look at the heap (and at `running`) again.
    pub(crate) fn wake_loop(&self) {
        self.exec.activity.wake();
        self.wake.notify_one();
    }

    fn push(&self, entry: HeapEntry) {
        let mut heap = lock(&self.heap);
        let earliest = heap.peek().is_none_or(|Reverse(top)| entry.at < top.at);
        heap.push(Reverse(entry));
        drop(heap);
        if earliest {
            // Only a new earliest entry changes how long the loop sleeps.
            self.wake_loop();
        }
    }

    /// The dead man's switch's first entry, for a bot with
    /// `expect_success_within` whose switch is not armed yet: the window
    /// counts from its next fire.
    fn arm_watch(
        &self,
        bot: &Arc<BotEntry>,
        st: &mut crate::state::BotRuntime,
    ) -> Option<HeapEntry> {
        let window = bot.policy.expect_success_within?;
        if st.watch.is_some() {
            return None;
        }
        let from = st.next_fire?;
        let check = add(from, window);
        st.watch = Some(Watch {
            from,
            check,
            overdue: false,
        });
        Some(self.entry(bot, check, st.generation, EntryKind::Overdue))
    }

    /// Queues the first fires of newly added bots (the manager runs).
    pub(crate) fn push_new(&self, bots: &[Arc<BotEntry>]) {
        let mut entries = Vec::with_capacity(bots.len());
        for b in bots {
            let mut st = lock(&b.st);
            if let Some(next) = st.next_fire {
                entries.push(Reverse(self.fire_entry(b, next, st.generation)));
            }
            if let Some(watch) = self.arm_watch(b, &mut st) {
                entries.push(Reverse(watch));
            }
        }
        if !entries.is_empty() {
            lock(&self.heap).extend(entries);
            self.wake_loop();
        }
    }

    /// Recomputes a bot's next fire from `from` and queues it (new
    /// generation), with the recovery entry of a cool-down in progress.
    pub(crate) fn reschedule(&self, bot: &Arc<BotEntry>, from: Timestamp) {
        let running = self.running.load(Ordering::SeqCst);
        let (next, generation, cool_down, watch) = {
            let mut st = lock(&bot.st);
            if st.is_removed() {
                return;
            }
            st.generation = st.generation.wrapping_add(1);
            st.next_fire = st.next_after(from, &self.default_tz);
            let cool_down = match st.phase() {
                Phase::CoolingDown { until, .. } => Some(until),
                _ => None,
            };
            let watch = if running {
                self.arm_watch(bot, &mut st)
            } else {
                None
            };
            (st.next_fire, st.generation, cool_down, watch)
        };
        if let Some(watch) = watch {
            self.push(watch);
        }
        if running {
            if let Some(next) = next {
                self.push(self.fire_entry(bot, next, generation));
            }
            if let Some(until) = cool_down {
                self.push(self.entry(bot, until, generation, EntryKind::Recovery));
            }
        }
        self.bump();
    }

    // ---- the loop ----

    /// Starts the loop's task; `busy` counts it until it ends. `started`:
    /// the instant the bots were scheduled from, the first "last seen" time
    /// for noticing a clock jump.
    pub(crate) fn spawn_loop(self: &Arc<Self>, busy: Busy, started: Timestamp) {
        let epoch = self.loop_epoch.fetch_add(1, Ordering::SeqCst) + 1;
        let core = Arc::clone(self);
        self.exec.rt.spawn(async move {
            let _busy = busy;
            // Counts this loop as alive until it returns or panics.
            let _alive = LoopAlive::enter(&core.loops_alive);
            if !core.restored.swap(true, Ordering::SeqCst) {
                let bots: Vec<Arc<BotEntry>> = lock(&core.bots).values().cloned().collect();
                core.restore(&bots, true).await;
            }
            core.scheduler_loop(started, epoch).await;
        });
        // An earlier loop still asleep wakes to see it is not current.
        self.wake.notify_waiters();
    }

    /// Whether the scheduler loop runs (the manager started and its loop
    /// neither returned nor panicked).
    pub(crate) fn scheduler_alive(&self) -> bool {
        self.running.load(Ordering::SeqCst) && self.loops_alive.load(Ordering::SeqCst) > 0
    }

    /// Takes back what the store kept of `bots` (their first start in this
    /// process): with `recover`, the runs a dead process left in flight are
    /// recorded as interrupted; each bot's failure count, cool-down and
    /// pause come back, and its fires since the last scheduled instant
    /// handled follow its misfire policy (the loop decides them next). A
    /// store that fails here is reported; the bots then start afresh.
    pub(crate) async fn restore(self: &Arc<Self>, bots: &[Arc<BotEntry>], recover: bool) {
        let now = self.clock.now();
        if recover {
            match self.store.recover(now).await {
                Ok(runs) => {
                    for r in runs {
                        self.interrupted(&r, now);
                    }
                }
                Err(e) => self
                    .store_failed_at_start("record the runs a stopped process left in flight", &e),
            }
        }
        if bots.is_empty() {
            return;
        }
        let states = match self.store.load_states().await {
            Ok(states) => states,
            Err(e) => {
                self.store_failed_at_start("load the bots' saved states", &e);
                return;
            }
        };
        let by_name: HashMap<&str, &SavedState> =
            states.iter().map(|s| (s.bot.as_str(), s)).collect();
        for b in bots {
            let Some(saved) = by_name.get(&*b.name) else {
                continue;
            };
            lock(&b.st).restore(saved, now, &b.policy);
            if let Some(last) = saved.last_scheduled {
                self.reschedule(b, last);
            } else {
                self.reschedule(b, now);
            }
        }
    }

    /// A run a dead process left in flight, now recorded as interrupted:
    /// its event.
    fn interrupted(&self, run: &StoredRun, now: Timestamp) {
        tracing::warn!(bot = %run.bot, run = %run.id, "a run was interrupted: its process ended before it finished");
        let Some(bot) = lock(&self.bots).get(run.bot.as_str()).cloned() else {
            return;
        };
        let mut r = RunRecord::not_run(
            &run.bot,
            run.trigger,
            run.scheduled,
            run.started,
            RunOutcome::Interrupted,
            run.error.clone(),
        );
        r.finished = run.finished.unwrap_or(now);
        r.attempts = run.attempts;
        self.publish_record(&bot, &r, &Applied::default());
    }

    fn store_failed_at_start(&self, what: &str, e: &crate::store::StoreError) {
        self.store_errors.fetch_add(1, Ordering::Relaxed);
        tracing::error!(error = %e, "could not {what}");
        self.emit_manager(
            EventKind::StoreFailed,
            EventType::Error,
            &format!("could not {what} ({e}); the bots start without it"),
            serde_json::json!({"error": e.message(), "kind": e.kind().as_str()}),
        );
    }

    async fn scheduler_loop(self: Arc<Core>, started: Timestamp, epoch: u64) {
        let mut last_now = Some(started);
        // The loop is due to look at the heap as it starts.
        let mut deadline = Some(started);
        loop {
            // Seen, also by a loop about to end (a stopped manager is idle).
            self.exec.activity.woke();
            if !self.running.load(Ordering::SeqCst)
                || self.loop_epoch.load(Ordering::SeqCst) != epoch
            {
                return;
            }
            // Made before reading the clock: a jump after it completes it.
            let moved_back = self.clock.moved_back();
            let now = self.clock.now();
            if let Some(prev) = last_now {
                if prev.duration_since(now) >= CLOCK_JUMP_MIN {
                    self.clock_moved_back(prev, now);
                } else if let Some(d) =
                    deadline.filter(|d| now.duration_since(*d) > CLOCK_JUMP_FORWARD)
                {
                    self.clock_moved_forward(d, now);
                }
            }
            last_now = Some(now);
            let mut due = Vec::new();
            let next_at = {
                let mut heap = lock(&self.heap);
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
                    lock(&self.heap).extend(next);
                }
                self.bump();
                deadline = None;
                continue;
            }
            // At most MAX_SLEEP: a backward jump of a clock that cannot say
            // so (the system clock) is noticed at the next wake-up.
            let until = add(now, SystemClock::MAX_SLEEP);
            let until = next_at.map_or(until, |at| at.min(until));
            deadline = Some(until);
            let sleep = async {
                tokio::select! {
                    () = self.clock.sleep_until(until) => {}
                    () = self.wake.notified() => {}
                    () = moved_back => {}
                }
            };
            self.exec
                .activity
                .sleep_on(until, std::pin::pin!(sleep))
                .await;
        }
    }

    /// The clock went back from `prev` to `now` (issue #8, bug 9).
    fn clock_moved_back(&self, prev: Timestamp, now: Timestamp) {
        let by = Duration::try_from(prev.duration_since(now)).unwrap_or_default();
        let reschedule = by >= CLOCK_JUMP_RESCHEDULE;
        if reschedule {
            // The clock was wrong (set far ahead by mistake, most likely):
            // every bot starts again from the new now, and no cool-down may
            // outlast its own length from it.
            let bots: Vec<Arc<BotEntry>> = lock(&self.bots).values().cloned().collect();
            for b in &bots {
                lock(&b.st).clamp_cool_down(now, b.policy.max_timeout);
                self.reschedule(b, now);
            }
        }
        let action = if reschedule {
            "rescheduled every bot from the new time"
        } else {
            "kept every schedule: fires that already ran do not run again"
        };
        tracing::warn!(from = %prev, to = %now, by_s = by.as_secs(), action, "the clock went back");
        self.emit_manager(
            EventKind::ClockJumped,
            EventType::Warning,
            &format!("the clock went back by {}; {action}", human(by)),
            serde_json::json!({
                "from": prev,
                "to": now,
                "by_s": -by.as_secs_f64(),
                "action": if reschedule { "rescheduled" } else { "kept" },
            }),
        );
    }

    /// The loop woke well after its deadline: the clock jumped forward or
    /// the machine slept. Late fires follow each bot's misfire policy.
    fn clock_moved_forward(&self, deadline: Timestamp, now: Timestamp) {
        let by = Duration::try_from(deadline.duration_until(now)).unwrap_or_default();
        tracing::warn!(expected = %deadline, now = %now, "woke late: clock jumped forward or the machine slept");
        self.emit_manager(
            EventKind::ClockJumped,
            EventType::Warning,
            &format!(
                "the scheduler woke {} late (clock jumped forward, or the machine slept); late fires follow each bot's misfire policy",
                human(by)
            ),
            serde_json::json!({
                "from": deadline,
                "to": now,
                "by_s": by.as_secs_f64(),
                "action": "misfire_policy",
            }),
        );
    }

    /// Decides a due heap entry; returns the bot's next heap entry, if any.
    fn handle_due(
        self: &Arc<Self>,
        e: HeapEntry,
        now: Timestamp,
        starts: &mut Vec<Start>,
    ) -> Option<HeapEntry> {
        let bot = &e.bot;
        let mut st = lock(&bot.st);
        if st.is_removed() || (e.kind != EntryKind::Overdue && st.generation != e.generation) {
            return None;
        }
        match e.kind {
            EntryKind::Overdue => self.check_overdue(bot, st, e.at, now),
            EntryKind::Recovery => {
                if st.end_cool_down(now) {
                    let admission = st.admit(bot.policy.overlap, e.at);
                    if let Admission::Skip(_) = admission {
                        st.skipped();
                    }
                    let token = st.run_token();
                    drop(st);
                    self.emit_cool_down_ended(bot);
                    match admission {
                        Admission::Start => self.spawn_run(
                            Arc::clone(bot),
                            Trigger::Recovery,
                            Some(e.at),
                            token,
                            RunWatch::default(),
                        ),
                        Admission::Queued => {}
                        Admission::Skip(reason) => {
                            self.skip_fire(bot, Trigger::Recovery, reason, e.at)
                        }
                    }
                }
                None
            }
            EntryKind::Fire => {
                let scheduled = st.next_fire?;
                let (fires, overlapped, next) = self.decide_fire(bot, &mut st, scheduled, now);
                st.next_fire = next;
                let generation = st.generation;
                // A cool-down ends for a fire at or after its end (the fire
                // then stands for the recovery run); a late fire from
                // within it is skipped.
                let cool_down_ended = fires.last().is_some_and(|&(at, _)| st.end_cool_down(at));
                let mut skips = Vec::new();
                for at in overlapped {
                    st.skipped();
                    skips.push((SkipReason::Overlap, at, Trigger::Scheduled));
                }
                match fires.len() {
                    0 => {}
                    1 => {
                        let (at, trigger) = fires[0];
                        match st.admit(bot.policy.overlap, at) {
                            Admission::Start => starts.push(Start {
                                bot: Arc::clone(bot),
                                at,
                                trigger,
                                replaced: st.run_token(),
                            }),
                            Admission::Queued => {}
                            Admission::Skip(reason) => {
                                st.skipped();
                                skips.push((reason, at, trigger));
                            }
                        }
                    }
                    _ => match st.admit(bot.policy.overlap, fires[0].0) {
                        Admission::Start => self.dispatch_batch(bot, fires, st.run_token()),
                        // The first waits for the run in flight; no more can.
                        Admission::Queued => {
                            for &(at, trigger) in &fires[1..] {
                                st.skipped();
                                skips.push((SkipReason::QueueFull, at, trigger));
                            }
                        }
                        Admission::Skip(reason) => {
                            for &(at, trigger) in &fires {
                                st.skipped();
                                skips.push((reason, at, trigger));
                            }
                        }
                    },
                }
                drop(st);
                if cool_down_ended {
                    self.emit_cool_down_ended(bot);
                }
                for (reason, at, trigger) in skips {
                    self.skip_fire(bot, trigger, reason, at);
                }
                self.emit(
                    bot,
                    EventKind::FireScheduled,
                    EventType::Debug,
                    || "next fire scheduled".to_owned(),
                    || serde_json::json!({"next": next}),
                );
                next.map(|n| self.fire_entry(bot, n, generation))
            }
        }
    }

    /// The dead man's switch's entry came: overdue if no run succeeded
    /// within the window (one Error event, then again at most once per
    /// window); otherwise it looks again when the window from the last
    /// success runs out. A paused bot is not expected to succeed: it is
    /// looked at again a window later, without an event.
    fn check_overdue(
        &self,
        bot: &Arc<BotEntry>,
        mut st: std::sync::MutexGuard<'_, crate::state::BotRuntime>,
        at: Timestamp,
        now: Timestamp,
    ) -> Option<HeapEntry> {
        let window = bot.policy.expect_success_within?;
        let mut watch = st.watch.filter(|w| w.check == at)?;
        let last_success = st.counters.last_success;
        let counted_from = last_success.map_or(watch.from, |s| s.max(watch.from));
        let deadline = add(counted_from, window);
        let alert = deadline <= now && !st.is_paused();
        watch.check = if deadline > now {
            deadline
        } else {
            add(now, window)
        };
        if alert {
            watch.overdue = true;
            st.counters.overdue_alerts += 1;
        }
        st.watch = Some(watch);
        let entry = self.entry(bot, watch.check, st.generation, EntryKind::Overdue);
        drop(st);
        if alert {
            tracing::error!(bot = %bot.name, window = %human(window), "no run has succeeded within expect_success_within");
            self.emit(
                bot,
                EventKind::Overdue,
                EventType::Error,
                || {
                    format!(
                        "no run has succeeded for {} (expect_success_within {}): check the bot",
                        human(
                            Duration::try_from(counted_from.duration_until(now))
                                .unwrap_or_default()
                        ),
                        human(window)
                    )
                },
                || {
                    serde_json::json!({
                        "window_s": window.as_secs_f64(),
                        "last_success": last_success,
                        "counted_from": counted_from,
                        "next_check": watch.check,
                    })
                },
            );
            self.bump();
        }
        Some(entry)
    }

    /// Every fire of `bot` due by `now`, from `scheduled` on, decided at once
    /// (a paused process wakes to one decision, not a stampede): which run,
    /// with which trigger, oldest first; the misfire policy's misses are
    /// counted and published. Returns them, the older on-time fires that
    /// would overlap the newest (skipped under `Overlap::Skip`), and the next
    /// fire after `now`.
    fn decide_fire(
        self: &Arc<Self>,
        bot: &BotEntry,
        st: &mut crate::state::BotRuntime,
        scheduled: Timestamp,
        now: Timestamp,
    ) -> (Vec<(Timestamp, Trigger)>, Vec<Timestamp>, Option<Timestamp>) {
        let grace =
            SignedDuration::try_from(bot.policy.misfire_grace).unwrap_or(SignedDuration::MAX);
        // Late: noticed more than the grace after its instant.
        let is_late = |at: Timestamp| now.duration_since(at) > grace;
        let mut late = Vec::new();
        let mut on_time = Vec::new();
        let mut uncounted = false;
        // The next fire comes from the scheduled instant, never from "now":
        // nothing drifts, nothing fires twice.
        let mut next = Some(scheduled);
        while let Some(n) = next.filter(|n| *n <= now) {
            if late.len() + on_time.len() >= MISFIRE_SCAN {
                // Too many to list: jump to the first fire after now.
                uncounted = true;
                next = st.next_after(now, &self.default_tz);
                break;
            }
            if is_late(n) {
                late.push(n);
            } else {
                on_time.push(n);
            }
            next = st.next_after(n, &self.default_tz);
        }
        // The instants not run, oldest first.
        let (run_late, missed_at) = match bot.policy.misfire {
            // One run stands for every late fire, and for the on-time ones
            // too when there are late ones.
            Misfire::RunOnce if !late.is_empty() => {
                let last = on_time.pop().map(|t| (t, Trigger::Scheduled));
                let last = last.or_else(|| late.pop().map(|t| (t, Trigger::CatchUp)));
                late.append(&mut on_time);
                (last.into_iter().collect::<Vec<_>>(), late)
            }
            Misfire::RunOnce => (Vec::new(), Vec::new()),
            Misfire::Skip => (Vec::new(), late),
            Misfire::RunAll { max } => {
                let n = late.len().min(max);
                let missed_at = late.split_off(n);
                (
                    late.into_iter().map(|t| (t, Trigger::CatchUp)).collect(),
                    missed_at,
                )
            }
        };
        let missed = missed_at.len();
        // Each missed fire is a row: the newest MISSED_ROWS of them, the
        // oldest of those saying how many older ones it stands for (the
        // event counts them all).
        let decided = self.clock.now();
        let listed = missed.min(MISSED_ROWS);
        let unlisted = missed - listed;
        for (i, &at) in missed_at[missed - listed..].iter().enumerate() {
            let mut why = format!(
                "noticed more than {} after its instant",
                human(bot.policy.misfire_grace)
            );
            if i == 0 && (unlisted > 0 || uncounted) {
                why.push_str(&format!(
                    "; {unlisted}{} older fire(s) were missed too and have no row of their own",
                    if uncounted { "+" } else { "" }
                ));
            }
            let r = RunRecord::not_run(
                &bot.name,
                Trigger::Scheduled,
                Some(at),
                decided,
                RunOutcome::Missed(MissReason::Late),
                Some(why),
            );
            self.journal_end(RunEnd::new(None, r, None));
        }
        // Several on-time fires noticed at once (a restart or a stall
        // shorter than the grace) would overlap each other: under
        // `Overlap::Skip` the newest runs and the older ones are skipped for
        // the overlap, as they would have been had they come while it ran
        // (not worked through one after another, stale first).
        let overlapped = if bot.policy.overlap == Overlap::Skip && on_time.len() > 1 {
            on_time.drain(..on_time.len() - 1).collect()
        } else {
            Vec::new()
        };
        let mut fires = run_late;
        fires.extend(on_time.into_iter().map(|t| (t, Trigger::Scheduled)));
        if missed > 0 || uncounted {
            st.missed(missed as u64 + u64::from(uncounted));
            tracing::warn!(bot = %bot.name, missed, uncounted, "fires missed: noticed after their misfire grace");
            self.emit(
                bot,
                EventKind::FiresMissed {
                    reason: MissReason::Late,
                },
                EventType::Warning,
                || {
                    format!(
                        "{missed}{} fire(s) missed: noticed more than {} late",
                        if uncounted { "+" } else { "" },
                        human(bot.policy.misfire_grace)
                    )
                },
                || {
                    serde_json::json!({
                        "reason": MissReason::Late.as_str(),
                        "missed": missed,
                        "at_least": uncounted,
                        "grace_s": bot.policy.misfire_grace.as_secs_f64(),
                        "policy": format!("{:?}", bot.policy.misfire),
                    })
                },
            );
        }
        (fires, overlapped, next)
    }

    /// Several fires decided at once (misfire `RunAll`, or a dense schedule
    /// noticed late), the first already admitted: they run one after another
    /// in one task, oldest first, so they neither overlap nor get skipped as
    /// overlapping each other. Each later one is admitted at its turn.
    fn dispatch_batch(
        self: &Arc<Self>,
        bot: &Arc<BotEntry>,
        fires: Vec<(Timestamp, Trigger)>,
        first_token: CancellationToken,
    ) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let busy = self.exec.activity.busy();
        let core = Arc::clone(self);
        let bot = Arc::clone(bot);
        self.exec.rt.spawn(async move {
            let _busy = busy;
            let mut token = Some(first_token);
            for (i, (at, trigger)) in fires.into_iter().enumerate() {
                if i > 0 && !core.running.load(Ordering::SeqCst) {
                    // Stopped meanwhile: what has not started does not.
                    lock(&bot.st).skipped();
                    core.skip_fire(&bot, trigger, SkipReason::Stopped, at);
                    continue;
                }
                if i > 0 {
                    let admission = {
                        let mut st = lock(&bot.st);
                        let a = st.admit(bot.policy.overlap, at);
                        if let Admission::Skip(_) = a {
                            st.skipped();
                        }
                        token = Some(st.run_token());
                        a
                    };
                    match admission {
                        Admission::Start => {}
                        Admission::Queued => continue,
                        Admission::Skip(SkipReason::Removed) => break,
                        Admission::Skip(reason) => {
                            core.skip_fire(&bot, trigger, reason, at);
                            continue;
                        }
                    }
                }
                let start = core.run_start(&bot, trigger, Some(at));
                let began = core.begin(&[start], &[&bot]).await;
                let replaced = token.take().unwrap_or_default();
                core.execute(&bot, trigger, Some(at), began_one(began), &replaced)
                    .await;
            }
            core.run_finished();
            core.bump();
        });
    }

    /// Starts the runs decided in one wake-up (each already counted in its
    /// bot's `running`). Spawning a task per run cost about 1.5 µs each in a
    /// 10,000-bot burst (measured), more than deciding the fire; runs are
    /// therefore started in tasks of up to [`RUNS_PER_TASK`], each beginning
    /// its runs in the store in one call and polling them concurrently. Sync
    /// jobs still go to the blocking pool, and a job's panic is caught per
    /// run (`runner`).
    fn start_runs(self: &Arc<Self>, starts: Vec<Start>) {
        let mut starts = starts.into_iter().peekable();
        while starts.peek().is_some() {
            let chunk: Vec<Start> = starts.by_ref().take(RUNS_PER_TASK).collect();
            self.in_flight.fetch_add(chunk.len(), Ordering::SeqCst);
            let busy = self.exec.activity.busy();
            let core = Arc::clone(self);
            self.exec.rt.spawn(async move {
                let _busy = busy;
                let core = &core;
                let rows: Vec<RunStart> = chunk
                    .iter()
                    .map(|s| core.run_start(&s.bot, s.trigger, Some(s.at)))
                    .collect();
                let bots: Vec<&Arc<BotEntry>> = chunk.iter().map(|s| &s.bot).collect();
                let began = core.begin(&rows, &bots).await;
                drop(rows);
                let mut runs: FuturesUnordered<_> = chunk
                    .into_iter()
                    .zip(began)
                    .map(|(s, began)| async move {
                        core.execute(&s.bot, s.trigger, Some(s.at), began, &s.replaced)
                            .await;
                        core.run_finished();
                    })
                    .collect();
                while runs.next().await.is_some() {}
                core.bump();
            });
        }
    }

    /// Starts a run task; the caller has already counted it in `running`.
    pub(crate) fn spawn_run(
        self: &Arc<Self>,
        bot: Arc<BotEntry>,
        trigger: Trigger,
        scheduled: Option<Timestamp>,
        replaced: CancellationToken,
        watch: RunWatch,
    ) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let busy = self.exec.activity.busy();
        let core = Arc::clone(self);
        self.exec.rt.spawn(async move {
            let _busy = busy;
            let start = core.run_start(&bot, trigger, scheduled);
            let began = began_one(core.begin(&[start], &[&bot]).await);
            if let Some(tell) = watch.began {
                let id = match &began {
                    Began::Run(id) => *id,
                    Began::Lost | Began::GaveUp(_) => None,
                };
                let _ = tell.send(id);
            }
            let record = core
                .execute(&bot, trigger, scheduled, began, &replaced)
                .await;
            if let Some(done) = watch.done {
                let _ = done.send(record);
            }
            core.run_finished();
            core.bump();
        });
    }

    /// The store's row for a run about to start. Only a shared store
    /// claims: alone, the scheduler's own bookkeeping runs each fire once.
    fn run_start(
        &self,
        bot: &BotEntry,
        trigger: Trigger,
        scheduled: Option<Timestamp>,
    ) -> RunStart {
        let mut start = RunStart::new(Arc::clone(&bot.name), trigger, scheduled, self.clock.now());
        start.claim &= self.store.is_shared();
        start
    }

    /// Begins runs in the store (one call for the batch) and claims the
    /// fires of those that claim. A store error is retried with backoff
    /// while a claimed fire is within its misfire grace, then that fire is
    /// given up (and recorded as missed by [`execute`](Core::execute)); a
    /// run that claims nothing goes ahead without its row (its end makes
    /// the row). One answer per start, in order.
    async fn begin(&self, starts: &[RunStart], bots: &[&Arc<BotEntry>]) -> Vec<Began> {
        let mut out: Vec<Option<Began>> = vec![None; starts.len()];
        let mut pending: Vec<usize> = (0..starts.len()).collect();
        let mut delay = CLAIM_BACKOFF;
        loop {
            let answer = if pending.len() == starts.len() {
                self.store.begin_runs(starts).await
            } else {
                let retry: Vec<RunStart> = pending.iter().map(|&i| starts[i].clone()).collect();
                self.store.begin_runs(&retry).await
            };
            let err = match answer {
                Ok(begun) if begun.len() == pending.len() => {
                    for (&i, b) in pending.iter().zip(begun) {
                        out[i] = Some(match b {
                            Begun::Started(id) => Began::Run(Some(id)),
                            Begun::ClaimedElsewhere => Began::Lost,
                        });
                    }
                    self.begins_failing.store(false, Ordering::Relaxed);
                    break;
                }
                Ok(begun) => crate::store::StoreError::new(format!(
                    "the store answered {} of {} run starts",
                    begun.len(),
                    pending.len()
                )),
                Err(e) => e,
            };
            self.store_errors.fetch_add(1, Ordering::Relaxed);
            self.begins_failing.store(true, Ordering::Relaxed);
            // Runs that claim nothing go ahead now.
            pending.retain(|&i| {
                if starts[i].claim {
                    return true;
                }
                tracing::warn!(bot = %starts[i].bot, error = %err, "could not record a run's start; it runs, and its end makes its row");
                out[i] = Some(Began::Run(None));
                false
            });
            let retry_at = add(self.clock.now(), delay);
            pending.retain(|&i| {
                let at = starts[i].scheduled.unwrap_or(starts[i].started);
                if retry_at <= add(at, bots[i].policy.misfire_grace) {
                    return true;
                }
                tracing::error!(bot = %starts[i].bot, scheduled = %at, error = %err, "could not claim a fire within its misfire grace: missed");
                out[i] = Some(Began::GaveUp(err.to_string()));
                false
            });
            if pending.is_empty() {
                break;
            }
            tracing::warn!(fires = pending.len(), error = %err, retry_at = %retry_at, "could not claim fires; retrying");
            self.exec.activity.sleep_until(&*self.clock, retry_at).await;
            delay = delay.saturating_mul(2).min(CLAIM_BACKOFF_MAX);
        }
        out.into_iter()
            .map(|b| b.unwrap_or(Began::Run(None)))
            .collect()
    }

    /// One admitted fire, begun in the store: the runner, and what follows
    /// its record.
    async fn execute(
        self: &Arc<Self>,
        bot: &Arc<BotEntry>,
        trigger: Trigger,
        scheduled: Option<Timestamp>,
        began: Began,
        replaced: &CancellationToken,
    ) -> RunRecord {
        let not_run = match began {
            Began::Run(id) => Err(id),
            Began::Lost => Ok((RunOutcome::Skipped(SkipReason::ClaimedElsewhere), None)),
            Began::GaveUp(err) => Ok((RunOutcome::Missed(MissReason::StoreUnavailable), Some(err))),
        };
        let id = match not_run {
            Err(id) => id,
            Ok((outcome, error)) => {
                let r = RunRecord::not_run(
                    &bot.name,
                    trigger,
                    scheduled,
                    self.clock.now(),
                    outcome,
                    error,
                );
                self.finish(bot, &r, None);
                return r;
            }
        };
        let obs = RunObserver {
            core: self,
            bot,
            trigger,
            scheduled,
        };
        let shutdown = lock(&self.shutdown).clone();
        let stops = runner::Stops {
            replaced,
            shutdown: &shutdown,
        };
        let fire = runner::Fire {
            bot: &bot.name,
            trigger,
            scheduled,
            run_id: id,
        };
        let record = runner::run(&self.exec, fire, &bot.job, &bot.policy, &stops, &obs).await;
        self.finish(bot, &record, id);
        record
    }

    /// Applies a record to the bot's state and carries out what follows:
    /// the events, the store's row (with the state after it), the recovery
    /// entry of a new cool-down, the queued fire.
    fn finish(self: &Arc<Self>, bot: &Arc<BotEntry>, record: &RunRecord, id: Option<RunId>) {
        let (applied, generation, state) = {
            let mut st = lock(&bot.st);
            let applied = st.apply(record, &bot.policy);
            // Published under the bot's lock (publishing never blocks): a
            // fire decided after this state change is told after its cause
            // (no "fire skipped (cool-down)" before "entered cool-down").
            self.publish_record(bot, record, &applied);
            (applied, st.generation, st.saved(&bot.name))
        };
        // A fire another manager claimed is that manager's row.
        if record.outcome != RunOutcome::Skipped(SkipReason::ClaimedElsewhere) {
            self.journal_end(RunEnd::new(id, record.clone(), Some(state)));
        }
        if let Some((until, _)) = applied.cool_down {
            tracing::warn!(bot = %bot.name, until = %until, "entering cool-down");
            self.push(self.entry(bot, until, generation, EntryKind::Recovery));
        }
        self.carry_out_queued(bot, applied.queued);
        self.bump();
    }

    /// A fire not run at admission: its row, and the event.
    fn skip_fire(
        self: &Arc<Self>,
        bot: &BotEntry,
        trigger: Trigger,
        reason: SkipReason,
        at: Timestamp,
    ) {
        let r = RunRecord::not_run(
            &bot.name,
            trigger,
            Some(at),
            self.clock.now(),
            RunOutcome::Skipped(reason),
            None,
        );
        self.journal_end(RunEnd::new(None, r, None));
        self.emit_skip(bot, reason, Some(at));
    }

    /// Saves a bot's state (pause, resume).
    pub(crate) fn save_state(self: &Arc<Self>, bot: &BotEntry) {
        let state = lock(&bot.st).saved(&bot.name);
        self.journal_state(state);
    }

    /// Starts (or reports skipped) the fire that waited for a run to end.
    fn carry_out_queued(
        self: &Arc<Self>,
        bot: &Arc<BotEntry>,
        queued: Option<(Timestamp, Trigger, Admission)>,
    ) {
        match queued {
            Some((at, trigger, Admission::Start)) => {
                // Queued fires come of `Overlap::Queue`, which replaces
                // nothing: the token taken now is the admission's. A run
                // asked for by hand has no scheduled instant.
                let token = lock(&bot.st).run_token();
                let scheduled = (trigger != Trigger::Manual).then_some(at);
                self.spawn_run(
                    Arc::clone(bot),
                    trigger,
                    scheduled,
                    token,
                    RunWatch::default(),
                )
            }
            Some((at, trigger, Admission::Skip(reason))) => {
                self.skip_fire(bot, trigger, reason, at)
            }
            Some((_, _, Admission::Queued)) | None => {}
        }
    }
}

#[cfg(feature = "webhooks")]
impl Core {
    /// Subscribes the receiver for (format, URL) — one per distinct URL in
    /// the process — to a bot's events (bound to this manager's bot), or to
    /// the manager's own events (`bot: None`).
    pub(crate) fn attach(
        &self,
        bot: Option<&Arc<str>>,
        format: crate::receivers::Format,
        url: crate::WebhookUrl,
        types: &[EventType],
    ) -> Result<(), crate::Error> {
        use crate::events::Filter;
        let receiver = crate::Receiver::start(url, format, Default::default())?;
        let filter = match bot {
            Some(name) => Filter::Bot {
                manager: self.instance,
                name: Arc::clone(name),
            },
            None => Filter::Manager {
                manager: self.instance,
            },
        };
        let id = receiver.subscribe_filtered(&self.events, filter, types);
        lock(&self.receivers).push(Hooked {
            bot: bot.cloned(),
            receiver,
            id,
        });
        Ok(())
    }

    /// Ends the subscriptions made for a bot (or for the manager: `None`).
    /// Returns how many ended.
    pub(crate) fn detach(&self, bot: Option<&str>) -> usize {
        let gone: Vec<Hooked> = {
            let mut all = lock(&self.receivers);
            let (gone, keep) = std::mem::take(&mut *all)
                .into_iter()
                .partition(|h| h.bot.as_deref() == bot);
            *all = keep;
            gone
        };
        for h in &gone {
            h.receiver.unsubscribe(h.id);
        }
        gone.len()
    }
}

/// What the runner tells of one fire, carried out on the bot's state and as
/// events.
/// Borrowed for the run: thousands of runs at once do not all touch the
/// core's reference count.
struct RunObserver<'a> {
    core: &'a Arc<Core>,
    bot: &'a Arc<BotEntry>,
    trigger: Trigger,
    scheduled: Option<Timestamp>,
}

/// A [`RunObserver`] a sync attempt's thread keeps (it may outlive the run).
struct OwnedObserver {
    core: Arc<Core>,
    bot: Arc<BotEntry>,
    trigger: Trigger,
    scheduled: Option<Timestamp>,
}

impl OwnedObserver {
    fn view(&self) -> RunObserver<'_> {
        RunObserver {
            core: &self.core,
            bot: &self.bot,
            trigger: self.trigger,
            scheduled: self.scheduled,
        }
    }
}

impl Observer for OwnedObserver {
    fn started(&self, at: Timestamp) {
        self.view().started(at);
    }
    fn attempt_failed(&self, f: &AttemptFailure) {
        self.view().attempt_failed(f);
    }
    fn worker_stuck(&self, replaced: bool, limit: Option<Duration>) {
        self.view().worker_stuck(replaced, limit);
    }
    fn worker_returned(&self) {
        self.view().worker_returned();
    }
    fn owned(&self) -> Arc<dyn Observer> {
        self.view().owned()
    }
}

impl Observer for RunObserver<'_> {
    fn started(&self, at: Timestamp) {
        lock(&self.bot.st).run_started(at);
        self.core.bump();
        let (trigger, scheduled) = (self.trigger, self.scheduled);
        self.core.emit(
            self.bot,
            EventKind::RunStarted,
            EventType::Info,
            || "run started".to_owned(),
            || {
                let lateness = scheduled.map(|s| at.duration_since(s).as_secs_f64() * 1e3);
                serde_json::json!({"trigger": trigger, "scheduled": scheduled, "lateness_ms": lateness})
            },
        );
    }

    fn attempt_failed(&self, f: &AttemptFailure) {
        tracing::warn!(bot = %self.bot.name, attempt = f.attempt, of = f.of, error = %f.error, "attempt failed");
        // One failure notice per fire is the run's (Error); an attempt's is
        // a warning, the last one included (issue #8, bug 5).
        self.core.emit(
            self.bot,
            EventKind::AttemptFailed,
            EventType::Warning,
            || format!("attempt {} of {} failed: {}", f.attempt, f.of, f.error),
            || {
                serde_json::json!({
                    "attempt": f.attempt,
                    "of": f.of,
                    "error": f.error,
                    "timed_out": f.timed_out,
                    "retry_at": f.retry_at,
                    "last": f.retry_at.is_none(),
                })
            },
        );
        if f.retry_at.is_some() {
            lock(&self.bot.st).retrying();
            self.core.bump();
        }
    }

    fn worker_stuck(&self, replaced: bool, limit: Option<Duration>) {
        lock(&self.bot.st).worker_stuck();
        tracing::error!(bot = %self.bot.name, replaced, "a sync job's thread is stuck (time limit, or the run was stopped)");
        self.core.emit(
            self.bot,
            EventKind::WorkerStuck,
            EventType::Error,
            || {
                let cause = match limit {
                    Some(limit) => format!("ran past its time limit of {}", human(limit)),
                    None => "was stopped (replaced, or the shutdown grace ran out)".to_owned(),
                };
                format!(
                    "a sync attempt {cause} and its thread cannot be stopped: counted as stuck{}",
                    if replaced {
                        "; a replacement keeps the worker pool at its size"
                    } else {
                        "; the pool has as many replacements as it allows, so it runs one worker short until the thread returns"
                    }
                )
            },
            || {
                serde_json::json!({
                    "replaced": replaced,
                    "time_limit_s": limit.map(|l| l.as_secs_f64()),
                    "stuck_in_pool": self.core.exec.workers.stuck(),
                })
            },
        );
        self.core.bump();
    }

    fn owned(&self) -> Arc<dyn Observer> {
        Arc::new(OwnedObserver {
            core: Arc::clone(self.core),
            bot: Arc::clone(self.bot),
            trigger: self.trigger,
            scheduled: self.scheduled,
        })
    }

    fn worker_returned(&self) {
        let queued = lock(&self.bot.st).worker_returned(self.bot.policy.overlap);
        self.core.emit(
            self.bot,
            EventKind::WorkerReturned,
            EventType::Info,
            || "a stuck sync attempt's thread returned".to_owned(),
            || serde_json::json!({"stuck_in_pool": self.core.exec.workers.stuck()}),
        );
        self.core.carry_out_queued(self.bot, queued);
        self.core.bump();
    }
}

/// The end of a stderr tail for an event: its last 4 KiB at most (the
/// record keeps more), cut at a character boundary.
fn event_tail(tail: &str) -> &str {
    const MAX: usize = 4096;
    if tail.len() <= MAX {
        return tail;
    }
    let mut start = tail.len() - MAX;
    while !tail.is_char_boundary(start) {
        start += 1;
    }
    &tail[start..]
}

/// The one answer of a one-run [`Core::begin`].
/// One scheduler loop counted alive while it exists.
struct LoopAlive(Arc<AtomicU64>);

impl LoopAlive {
    fn enter(count: &Arc<AtomicU64>) -> LoopAlive {
        count.fetch_add(1, Ordering::SeqCst);
        LoopAlive(Arc::clone(count))
    }
}

impl Drop for LoopAlive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn began_one(began: Vec<Began>) -> Began {
    began.into_iter().next().unwrap_or(Began::Run(None))
}

/// A deterministic delay in `[0, jitter)` from (bot, instant), so every
/// process of a cluster computes the same one.
pub(crate) fn jitter_for(name: &str, at: Timestamp, jitter: Duration) -> Duration {
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

    #[test]
    fn ok_human_durations() {
        assert_eq!(human(Duration::from_secs(5400)), "1h30m");
        assert_eq!(human(Duration::from_secs(45)), "45s");
        assert_eq!(human(Duration::from_millis(250)), "250ms");
        assert_eq!(human(Duration::from_secs(3600)), "1h");
    }
}
