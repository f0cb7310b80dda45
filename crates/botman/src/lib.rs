//! botman: run named bots on cron schedules, with retries, cool-downs and
//! metrics, without polling.
//!
//! ```
//! use botman::{Bot, Botman};
//!
//! let manager = Botman::new();
//! manager.add_bot(
//!     Bot::builder("hello_bot")
//!         .schedule("* * * * *")
//!         .job(|| {
//!             println!("Hello, World!");
//!             Ok::<_, std::io::Error>("Success")
//!         })
//!         .build()?,
//! )?;
//! manager.start();
//! // ... the bot now runs every minute, until:
//! manager.stop();
//! # Ok::<(), botman::Error>(())
//! ```
//!
//! # Tour
//!
//! - [`Bot`] / [`BotBuilder`]: a name, one or more cron [`Schedule`]s (each
//!   with an optional time zone), a sync or async job, and its policies.
//! - [`Botman`]: the manager. Adds and removes bots, starts and stops the
//!   scheduler, runs bots on demand ([`RunHandle`] → [`RunRecord`]),
//!   answers [`BotMetrics`]. [`BotRef`] is one bot's schedule and state.
//! - [`RunRecord`]: the one account of a fire ([`RunOutcome`], [`Trigger`],
//!   attempts, error, value); events and metrics are made from it.
//! - [`Clock`]: every "now" and every sleep. [`SystemClock`] by default,
//!   [`ManualClock`] in tests ([`Botman::wait_idle`] waits until nothing
//!   more happens before the clock moves).
//! - [`Store`]: where fires are claimed (once per [`FireId`]: bot, instant),
//!   runs recorded ([`StoredRun`], read back with [`Botman::history`]) and
//!   bots' states kept across restarts ([`SavedState`]). [`MemoryStore`] by
//!   default (bounded, one process); `SqliteStore` (feature `sqlite`) keeps
//!   them in a file that several processes on one host may share.
//! - [`EventManager`]: publishes [`BotEvent`]s, each with a typed
//!   [`EventKind`], to subscribers, each with its own bounded queue,
//!   delivered by a small pool of threads shared by the process.
//! - [`SlackReceiver`], [`ChimeReceiver`], [`WebhookReceiver`] (feature
//!   `webhooks`): deliver events to webhooks, one receiver per URL, with
//!   retries, backoff, `Retry-After`, and URLs that never print whole.
//! - [`Cron`] and friends are re-exported from `botman-cron`.
//!
//! # One fire, from the heap to its record
//!
//! Where to look for each step (the modules are private; the names are in
//! the source):
//!
//! 1. **Decided** — `scheduler.rs`, `Core::handle_due`: the loop pops the
//!    bot's heap entry when its instant (plus jitter) comes. `decide_fire`
//!    lists every fire due since the last one, applies the misfire policy
//!    to those noticed after `misfire_grace` (missed ones are counted and a
//!    [`EventKind::FiresMissed`] event says so), and queues the next fire,
//!    computed from the scheduled instant (never from "now").
//! 2. **Admitted** — `state.rs`, `BotRuntime::admit`: pause, cool-down and
//!    the [`Overlap`] policy decide start, queue or skip
//!    ([`EventKind::FireSkipped`] with its [`SkipReason`]).
//! 3. **Begun and claimed** — `scheduler.rs`, `Core::begin`: the runs
//!    decided in one wake-up are begun in the store in one call (their rows
//!    say they are in flight, so a crash leaves them to be recorded as
//!    interrupted); with a store shared by several processes, each fire's
//!    [`FireId`] is claimed. A store error is retried with backoff within
//!    the misfire grace, then the fire is recorded as missed
//!    ([`MissReason::StoreUnavailable`], an Error event); a fire another
//!    process claimed is skipped (`claimed_elsewhere`). A run that claims
//!    nothing (manual, recovery, or a store no one shares) goes ahead while
//!    the store fails.
//! 4. **Run** — `runner.rs`, `run`: the attempts, the waits between them
//!    ([`BotBuilder::retry_delay`]), the time limit, panics and
//!    [`SoftError`]s; it returns the [`RunRecord`].
//! 5. **Applied** — `state.rs`, `BotRuntime::apply`: the counts, the
//!    consecutive failures, the cool-down (decided here, and only here) and
//!    the queued fire.
//! 6. **Told** — `scheduler.rs`, `Core::finish` and `Core::publish_record`:
//!    the recovery entry is pushed, the queued fire started, and the
//!    record's events published (every event of a bot goes through
//!    `Core::emit`).
//! 7. **Recorded** — `journal.rs`: the record, with the bot's state after
//!    it, is written to the store behind the run, many per call; skipped and
//!    missed fires are rows too. A store that fails is retried with backoff
//!    ([`EventKind::StoreFailed`], then [`EventKind::StoreRecovered`]); rows
//!    wait meanwhile, up to a bound beyond which the oldest are dropped and
//!    counted. [`StopReport::unsaved`] says what a stop could not write.
//!
//! # Restarts
//!
//! With a persistent store, the first [`Botman::start`] takes back what the
//! store kept: the runs a dead process left in flight are recorded as
//! [`RunOutcome::Interrupted`] (and a run-failed Warning event says so);
//! each bot's failure count, the length of its next cool-down, a cool-down
//! still ahead and a pause come back; and the fires since the last
//! scheduled instant it handled follow its [`Misfire`] policy (each missed
//! fire a row, [`MissReason::Late`]). A fire already claimed is never run
//! again. A bot added later, while running, takes back its state as it is
//! added. The totals of [`BotMetrics`] (runs, errors, ...) count this
//! process's life; the history is where the runs before it are.
//!
//! History is "newest first" in the order rows were recorded (a later row
//! has a larger [`RunId`]), which after a restart puts the catch-up run of
//! a downtime before the missed-fire rows recorded just after it. Skipped
//! and missed rows count toward each bot's retention like runs.
//!
//! # Policies
//!
//! | policy | default | why |
//! |---|---|---|
//! | retries (attempts per fire) | 3 | as the Python library |
//! | retry delay | `min(retry_delay × k, max_retry_delay)` after `k` failed attempts: 10, 20, 30 ... s, at most 60 s ([`BotBuilder::retry_delay`]) | back off, but never sit out the schedule |
//! | cool-down after a fire's attempts are exhausted | 60 s, doubling after each failed recovery run, up to 1 h | a broken dependency is not hammered; a success resets it |
//! | recovery run | at the end of each cool-down | as the Python library, whose next run falls due at once |
//! | fires inside a cool-down | skipped and counted | nothing is lost silently |
//! | overlap ([`Overlap`]) | `Skip` | a slow job never piles up runs; `Queue` keeps one, `Concurrent(n)` allows n, `Replace` stops the run in flight (interrupted) and starts the new one |
//! | misfire ([`Misfire`]) | `RunOnce`, grace 60 s | after a pause or suspend, catch up once rather than stampede |
//! | jitter | none | a hash of (bot, instant), so every process agrees |
//! | time limit | none | async jobs are cancelled; a sync job's thread is counted as stuck and replaced, up to [`BotmanBuilder::max_stuck_workers`] |
//! | clock set back | under 3 h: every schedule kept; 3 h or more: every bot rescheduled from the new time | as cronie: a small correction never runs a fire twice, a wrong clock set right is not waited out |
//! | COM apartment | off | Windows only; a no-op with a warning elsewhere |
//! | dead man's switch ([`BotBuilder::expect_success_within`]) | off | an [`EventKind::Overdue`] Error event once per window while no run succeeds |
//! | shutdown grace ([`BotmanBuilder::shutdown_grace`]) | 30 s | runs still going then are stopped and recorded as interrupted (a sync job's thread is counted as stuck) |
//!
//! A job set with [`BotBuilder::job_with`] or [`BotBuilder::async_job_with`]
//! gets a [`RunContext`]: the fire's instant, the attempt, the run's id, and
//! [`RunContext::set_output`] for a process's exit code and output tails,
//! which the record, the history row and the failure event carry.
//!
//! # The scheduler
//!
//! One task holds a min-heap of (next fire instant, bot). It sleeps until the
//! earliest instant or until a change (a bot added, removed, rescheduled,
//! paused, a cool-down ending, stop) — it never polls. The next fire is
//! computed from the scheduled instant, never from "now", so nothing drifts
//! and nothing fires twice. The runs decided in one wake-up start in tasks
//! of up to 64 runs each (a task per run cost more than deciding the fire). A
//! sleep is capped at [`SystemClock::MAX_SLEEP`] (15 minutes) so a
//! suspended machine or a clock jump of the system clock is noticed; a
//! [`ManualClock`] set back is noticed at once.
//!
//! # Threads
//!
//! A manager built outside a runtime owns a tokio runtime with 2 worker
//! threads (`botman`). Sync jobs run on the manager's own pool
//! (`botman-worker-*`), at most `max_workers` threads (10 by default),
//! started when jobs need them and gone after 10 s without work, plus the
//! replacements of threads stuck past a time limit (at most
//! [`BotmanBuilder::max_stuck_workers`]). Shared by the whole process: one
//! timer thread (`botman-timer`), the event delivery pool
//! (`botman-events-*`: 2 threads, more only while callbacks block, at most
//! 6) and one thread for every webhook receiver (`botman-webhooks`).
//! Neither bots nor subscriptions nor receivers add threads.
//!
//! Measured (`cargo test -p botman --test threads -- --nocapture`, this
//! project's 2-core CI machine): 1,000 bots each posting to one Slack URL,
//! 1,000 event subscriptions, all 1,000 bots run at once with the default
//! settings — 8 to 12 botman threads at the peak (2 runtime, 2 to 6 sync
//! workers, 2 event delivery, 1 timer, 1 webhooks); at most 16 with ten sync
//! jobs running at once. The test fails at 20.
//!
//! # Crate features
//!
//! - `webhooks` (default): the Slack, Chime and JSON webhook receivers, and
//!   the builder and manager methods that subscribe them. Without it the
//!   crate has no HTTP client.
//! - `sqlite`: `SqliteStore` and `SqliteOptions` (sqlx, with SQLite
//!   compiled in: no system library needed).
//!
//! # From Python
//!
//! Every name of the Python library, and its counterpart here:
//!
//! | Python | Rust |
//! |---|---|
//! | `Bot(name, schedule, function, ...)` | [`Bot::builder`]`(name).schedule(..).job(..).build()` |
//! | `schedule=[...]` (many) | repeated [`BotBuilder::schedule`] / [`BotBuilder::schedule_in`] |
//! | `function=` (sync) | [`BotBuilder::job`]; async: [`BotBuilder::async_job`] |
//! | `initial_timeout=`, `retries=`, `retry_delay=` | [`BotBuilder::initial_timeout`], [`BotBuilder::retries`], [`BotBuilder::retry_delay`] |
//! | (fixed 1 h cap) | [`BotBuilder::max_timeout`] |
//! | `is_com_bot=` | [`BotBuilder::is_com_bot`] |
//! | `Botman()` | [`Botman::new`] / [`Botman::builder`] |
//! | `add_bot(bot)`, `remove_bot(bot)` | [`Botman::add_bot`], [`Botman::remove_bot`]`(name)` |
//! | `start()`, `stop()` | [`Botman::start`], [`Botman::stop`] (or [`Botman::stop_async`]) |
//! | `run_bot(bot)`, `run_all_bots()` | [`Botman::run_bot`]`(name)`, [`Botman::run_all_bots`] → [`RunHandle`] → [`RunRecord`] |
//! | `get_bot_metrics()` | [`Botman::metrics`] |
//! | `get_bot_metrics_by_name(name)` | [`Botman::metrics_of`] |
//! | `set_name(name)` | [`Botman::set_name`] |
//! | `metrics.runs / errors / last_run / state / since` | [`BotMetrics`] fields of the same names |
//! | `IDLE`, `RUNNING`, `TIMEOUT`, `ERROR` | [`BotState`]`::{Idle, Running, Timeout, Error}` |
//! | `bot.add_schedule(s)`, `bot.remove_schedule(s)` | [`BotRef::add_schedule`], [`BotRef::remove_schedule`] |
//! | `bot.get_next_run()` | [`BotRef::next_run`] |
//! | `bot.is_due()` | [`BotRef::is_due`] |
//! | `bot.is_in_timeout()`, `bot.timeout_until` | [`BotRef::is_in_timeout`], [`BotRef::timeout_until`] |
//! | `bot.set_last_run(dt)` | [`BotRef::set_last_run`] |
//! | `bot.run()` | [`Botman::run_bot`] |
//! | `SoftError(bot_name, bot_id, message)` | [`SoftError::new`]`(message)` (the runner knows the bot) |
//! | (none) | [`BotRef::pause`], [`BotRef::resume`], [`Overlap`], [`Misfire`], jitter, time limit, [`BotBuilder::max_retry_delay`] |
//! | `GLOBAL_EVENT_MANAGER` | [`EventManager::global`] (or a manager's own: [`BotmanBuilder::event_manager`], [`Botman::events`]) |
//! | `BotEvent(bot_name, bot_id, event_type, description, data)` | [`BotEvent`] (plus `kind` and `at`; `bot_id` is stable across restarts) |
//! | `EventType.info / error / warning / debug` | [`EventType`]`::{Info, Error, Warning, Debug}` (also parsed from `"info"` ...) |
//! | (none) | [`EventKind`]: what happened, for code |
//! | `subscribe(bot_name, callback, event_types)` | [`EventManager::subscribe`] → [`SubscriptionId`] (`"all"` and empty types work as in Python; `all` is no bot's name); one manager's bot only: [`BotRef::subscribe`] |
//! | `unsubscribe(bot_name, callback)` | [`EventManager::unsubscribe`]`(id)`, [`EventManager::unsubscribe_bot`] |
//! | `publish(event)` | [`EventManager::publish`] (never blocks) |
//! | `start()`, `stop()`, `wait_until_empty(timeout)` | [`EventManager::start`], [`EventManager::stop`], [`EventManager::wait_until_empty`] |
//! | `slack_webhook=`, `chime_webhook=` (one or many) | [`BotBuilder::slack_webhook`], [`BotBuilder::chime_webhook`] (repeatable) |
//! | `slack_event_types=`, `chime_event_types=` | [`BotBuilder::slack_event_types`], [`BotBuilder::chime_event_types`] |
//! | `bot.add_slack_webhook(urls, types)`, `bot.add_chime_webhook(..)` | [`BotRef::add_slack_webhook`], [`BotRef::add_chime_webhook`] |
//! | `bot.remove_webhook_subscriptions()` | [`BotRef::remove_webhook_subscriptions`] |
//! | `subscribe_slack_webhook(webhook, event_types)`, `subscribe_chime_webhook(..)` | [`Botman::subscribe_slack_webhook`], [`Botman::subscribe_chime_webhook`]; any JSON endpoint: [`Botman::subscribe_webhook`] |
//! | Slack / Chime receivers | [`SlackReceiver`], [`ChimeReceiver`], [`WebhookReceiver`] → [`Receiver`] ([`ReceiverStats`], `flush`) |
//! | (none) | `only_after_failures(n)`, `on_recovery(true)` on a receiver |
//! | (none: nothing survives a restart) | [`Botman::history`], [`BotRef::history`], [`Botman::history_page`]; `SqliteStore::open(path)` → [`BotmanBuilder::store`] |
//!
//! # What this crate does not do
//!
//! It does not read config files or serve HTTP: that is `botman-cli`.
#![deny(missing_docs)]
#![deny(unsafe_code)]

/// Orders a heap entry by its `at` field, ties broken by its `seq` field
/// (insertion order): the scheduler's heap and the timer thread's queue.
macro_rules! ordered_by_deadline {
    ($t:ty) => {
        impl PartialEq for $t {
            fn eq(&self, o: &$t) -> bool {
                (self.at, self.seq) == (o.at, o.seq)
            }
        }
        impl Eq for $t {}
        impl PartialOrd for $t {
            fn partial_cmp(&self, o: &$t) -> Option<std::cmp::Ordering> {
                Some(self.cmp(o))
            }
        }
        impl Ord for $t {
            fn cmp(&self, o: &$t) -> std::cmp::Ordering {
                (self.at, self.seq).cmp(&(o.at, o.seq))
            }
        }
    };
}
pub(crate) use ordered_by_deadline;

mod bot;
mod bot_ref;
mod clock;
mod com;
mod error;
mod events;
mod journal;
mod manager;
mod metrics;
#[cfg(feature = "webhooks")]
mod receivers;
mod run;
mod runner;
mod scheduler;
mod state;
mod store;
mod util;

pub use crate::bot::{
    Bot, BotBuilder, JobError, MAX_RETRY_DELAY, Misfire, Overlap, Schedule, SoftError,
};
pub use crate::bot_ref::BotRef;
pub use crate::clock::{Clock, ManualClock, Sleep, SystemClock};
pub use crate::error::Error;
pub use crate::events::{
    BotEvent, DEFAULT_QUEUE, EventKind, EventManager, EventType, SubscriptionId, SubscriptionStats,
};
pub use crate::manager::{Botman, BotmanBuilder, Health, StopReport, Triggered};
pub use crate::metrics::{BotMetrics, BotState};
#[cfg(feature = "webhooks")]
pub use crate::receivers::{
    ChimeReceiver, Receiver, ReceiverStats, SlackReceiver, WebhookReceiver, WebhookUrl,
};
pub use crate::run::{
    FireId, MissReason, RunContext, RunHandle, RunOutcome, RunRecord, SkipReason, Trigger,
};
pub use crate::store::{
    Begun, DEFAULT_RETENTION, HistoryPage, MemoryStore, RunEnd, RunId, RunOutput, RunStart,
    SavedState, Store, StoreError, StoreErrorKind, StoreFuture, StoredRun,
};
#[cfg(feature = "sqlite")]
pub use crate::store::{SqliteOptions, SqliteStore};
pub use botman_cron::{Cron, CronIter, Field, ParseError, ParseErrorKind};
pub use jiff;

/// The README's Rust examples, compiled and run as doctests (with the
/// `sqlite` feature, which one of them uses; `cargo test --workspace` turns
/// it on through the daemon crate).
#[cfg(all(doctest, feature = "sqlite"))]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
