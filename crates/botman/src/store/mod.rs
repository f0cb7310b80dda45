//! Where fires are claimed, runs recorded and bot state kept: the seam every
//! store implements ([`Store`]), and the types that cross it.
//!
//! The identity of a fire is (bot name, scheduled instant). Claiming it
//! ([`Store::begin_runs`] with [`RunStart::claim`]) succeeds once per
//! identity, which is what makes several managers sharing a store run each
//! fire once. The scheduler talks to the store in batches: the runs decided
//! in one wake-up are begun together, and the ends of runs (with the bot's
//! state after each) are written behind the runs, many per call.
//!
//! | store | persistence | shared by processes |
//! |---|---|---|
//! | [`MemoryStore`] | none (bounded: the last runs of each bot) | no |
//! | `SqliteStore` (feature `sqlite`) | a SQLite file (WAL) | by processes on one host |
//! | `PostgresStore` (to come) | PostgreSQL | by a cluster |
//!
//! Room for a cluster: every run row names the node that ran it
//! ([`StoredRun::node`]); a claim's [`RunId`] grows with every claim and
//! serves as its fencing token; a lease on a claim is the PostgreSQL
//! store's to add behind the same calls.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

use crate::run::{RunOutcome, RunRecord, Trigger};

mod memory;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use memory::MemoryStore;
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteOptions, SqliteStore};

/// Runs kept per bot unless a store is told otherwise; older ones are
/// pruned as new ones are recorded.
pub const DEFAULT_RETENTION: usize = 1_000;

/// A boxed future, for the object-safe [`Store`] trait.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// What kind of store failure: code matches this, people read the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The file (or database) exists but is not a botman store.
    NotBotman,
    /// The store's schema is newer than this version of botman knows.
    SchemaTooNew,
    /// The store cannot be written (read-only file, directory or database).
    ReadOnly,
    /// Another process holds a lock on the store for longer than the wait.
    Locked,
    /// The disk (or the database's size limit) is full.
    Full,
    /// The store cannot be reached or opened (missing directory, lost
    /// connection, I/O error).
    Unavailable,
    /// The store's data is damaged.
    Corrupt,
    /// Anything else.
    Other,
}

impl StoreErrorKind {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreErrorKind::NotBotman => "not_botman",
            StoreErrorKind::SchemaTooNew => "schema_too_new",
            StoreErrorKind::ReadOnly => "read_only",
            StoreErrorKind::Locked => "locked",
            StoreErrorKind::Full => "full",
            StoreErrorKind::Unavailable => "unavailable",
            StoreErrorKind::Corrupt => "corrupt",
            StoreErrorKind::Other => "other",
        }
    }
}

impl fmt::Display for StoreErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A store failed (connection lost, disk full...) or refused to open. The
/// scheduler counts and reports it, retries what it can, and never runs a
/// fire it could not claim.
#[derive(Clone, Debug, thiserror::Error)]
#[error("store error: {message}")]
pub struct StoreError {
    kind: StoreErrorKind,
    message: String,
}

impl StoreError {
    /// A store error with a message (kind [`StoreErrorKind::Other`]).
    pub fn new(message: impl Into<String>) -> StoreError {
        StoreError::with_kind(StoreErrorKind::Other, message)
    }

    /// A store error of a kind, with a message for people.
    pub fn with_kind(kind: StoreErrorKind, message: impl Into<String>) -> StoreError {
        StoreError {
            kind,
            message: message.into(),
        }
    }

    /// What kind of failure.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    /// The message, without the `store error:` prefix.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// A run's row in a store: rows grow with every insert, so a later row has
/// a larger id. The id of a claimed run is its fencing token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A run about to start, for [`Store::begin_runs`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RunStart {
    /// The bot.
    pub bot: Arc<str>,
    /// Why it runs.
    pub trigger: Trigger,
    /// The scheduled instant (scheduled, catch-up and recovery runs).
    pub scheduled: Option<Timestamp>,
    /// When it was begun.
    pub started: Timestamp,
    /// Whether this run claims its fire (bot, `scheduled`): true for
    /// scheduled and catch-up fires. A claimed fire begins once across
    /// every manager sharing the store; later claims get
    /// [`Begun::ClaimedElsewhere`].
    pub claim: bool,
}

impl RunStart {
    /// A run of `bot` begun at `started`; it claims its fire when the
    /// trigger is scheduled or catch-up.
    pub fn new(
        bot: Arc<str>,
        trigger: Trigger,
        scheduled: Option<Timestamp>,
        started: Timestamp,
    ) -> RunStart {
        RunStart {
            claim: scheduled.is_some() && matches!(trigger, Trigger::Scheduled | Trigger::CatchUp),
            bot,
            trigger,
            scheduled,
            started,
        }
    }
}

/// What [`Store::begin_runs`] did with one [`RunStart`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Begun {
    /// The run is recorded as in flight (and its fire claimed).
    Started(RunId),
    /// Another manager (or an earlier life of this one) already claimed
    /// the fire: do not run it.
    ClaimedElsewhere,
}

/// What a shell job adds to its run's record (the daemon fills it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunOutput {
    /// The process's exit code.
    pub exit_code: Option<i32>,
    /// The end of what it wrote to stdout.
    pub stdout_tail: Option<String>,
    /// The end of what it wrote to stderr.
    pub stderr_tail: Option<String>,
}

impl RunOutput {
    /// An exit code and the tails of stdout and stderr.
    pub fn new(
        exit_code: Option<i32>,
        stdout_tail: Option<String>,
        stderr_tail: Option<String>,
    ) -> RunOutput {
        RunOutput {
            exit_code,
            stdout_tail,
            stderr_tail,
        }
    }
}

/// A run's end (or a fire that did not run), for [`Store::end_runs`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RunEnd {
    /// The row [`Store::begin_runs`] made; `None` for a fire that never
    /// began (skipped or missed): the store inserts its row.
    pub id: Option<RunId>,
    /// The record.
    pub record: RunRecord,
    /// A shell job's exit code and output tails.
    pub output: RunOutput,
    /// The bot's state after the record was applied, saved in the same
    /// write.
    pub state: Option<SavedState>,
}

impl RunEnd {
    /// The end of a run (`id: Some`) or the row of a fire that did not run.
    /// The record's output moves to [`output`](RunEnd::output).
    pub fn new(id: Option<RunId>, mut record: RunRecord, state: Option<SavedState>) -> RunEnd {
        RunEnd {
            id,
            output: record.output.take().unwrap_or_default(),
            record,
            state,
        }
    }
}

/// A bot's state as it survives a restart.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SavedState {
    /// The bot.
    pub bot: String,
    /// The latest scheduled instant handled (run, skipped or missed). A
    /// store keeps the latest it was told of, also from
    /// [`Store::begin_runs`] and [`Store::end_runs`]; `None` here keeps
    /// what it has.
    pub last_scheduled: Option<Timestamp>,
    /// The end of the cool-down in progress.
    pub cool_down_until: Option<Timestamp>,
    /// The length of the next cool-down.
    pub cool_down_len: Duration,
    /// Failed runs since the last success.
    pub consecutive_failures: u64,
    /// Whether the bot is paused.
    pub paused: bool,
}

impl SavedState {
    /// The state of a bot that never failed and is not paused.
    pub fn new(bot: impl Into<String>) -> SavedState {
        SavedState {
            bot: bot.into(),
            last_scheduled: None,
            cool_down_until: None,
            cool_down_len: Duration::ZERO,
            consecutive_failures: 0,
            paused: false,
        }
    }
}

/// One row of a bot's history.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct StoredRun {
    /// The row.
    pub id: RunId,
    /// The bot.
    pub bot: String,
    /// Why it ran.
    pub trigger: Trigger,
    /// The scheduled instant, if any.
    pub scheduled: Option<Timestamp>,
    /// When it started (for a fire not run: when that was decided).
    pub started: Timestamp,
    /// When it ended; `None` while in flight.
    pub finished: Option<Timestamp>,
    /// How it ended; `None` while in flight.
    pub outcome: Option<RunOutcome>,
    /// Attempts made.
    pub attempts: u32,
    /// The last error of a run; for a missed fire, why it was missed (a
    /// skipped fire's reason is its [`RunOutcome::Skipped`] reason).
    pub error: Option<String>,
    /// The node (host) of the manager that ran it.
    pub node: Option<String>,
    /// A shell job's exit code and output tails.
    pub output: RunOutput,
}

/// A page of history, newest first, and the cursor for the next (older)
/// page.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct HistoryPage {
    /// The runs, newest first.
    pub runs: Vec<StoredRun>,
    /// Pass as `before` for the next page; `None` on the last page.
    pub next: Option<RunId>,
}

/// Persistence for fires, runs and bot state. [`MemoryStore`] is the
/// default; `SqliteStore` (feature `sqlite`) keeps them in a file, and a
/// PostgreSQL store will implement the same trait.
///
/// Every method takes a batch and returns a boxed future (the trait is
/// object safe: the manager holds an `Arc<dyn Store>`). A method that fails
/// changes nothing (each call is one transaction).
pub trait Store: Send + Sync + 'static {
    /// Records runs as started, in the order given, and claims the fires of
    /// those with [`RunStart::claim`]: the answer is one [`Begun`] per
    /// start, in order.
    fn begin_runs<'a>(&'a self, runs: &'a [RunStart]) -> StoreFuture<'a, Vec<Begun>>;

    /// Records the ends of runs (and the rows of fires that did not run),
    /// saves the bot states they carry, and prunes each bot's history to
    /// the store's retention.
    fn end_runs<'a>(&'a self, ends: &'a [RunEnd]) -> StoreFuture<'a, ()>;

    /// Saves bots' states (pause, resume, ...).
    fn save_states<'a>(&'a self, states: &'a [SavedState]) -> StoreFuture<'a, ()>;

    /// Every saved bot state.
    fn load_states(&self) -> StoreFuture<'_, Vec<SavedState>>;

    /// Ends, as [`RunOutcome::Interrupted`] at `now`, the runs left in flight
    /// by managers that are gone (a process that died), and returns them.
    /// Runs of live managers sharing the store are left alone.
    fn recover(&self, now: Timestamp) -> StoreFuture<'_, Vec<StoredRun>>;

    /// A bot's runs, newest first: at most `limit`, older than `before`
    /// when given (the previous page's [`HistoryPage::next`]).
    fn history<'a>(
        &'a self,
        bot: &'a str,
        limit: usize,
        before: Option<RunId>,
    ) -> StoreFuture<'a, HistoryPage>;

    /// One run by its id (any bot), with its output tails; `None` if there
    /// is no such row (never was, or pruned by the retention).
    fn run(&self, id: RunId) -> StoreFuture<'_, Option<StoredRun>>;

    /// Whether the store answers (a health check): a read that touches the
    /// store and changes nothing.
    fn ping(&self) -> StoreFuture<'_, ()>;

    /// Whether other processes may share this store (claims then matter).
    /// Defaults to true.
    fn is_shared(&self) -> bool {
        true
    }
}

impl<S: Store + ?Sized> Store for Arc<S> {
    fn begin_runs<'a>(&'a self, runs: &'a [RunStart]) -> StoreFuture<'a, Vec<Begun>> {
        (**self).begin_runs(runs)
    }
    fn end_runs<'a>(&'a self, ends: &'a [RunEnd]) -> StoreFuture<'a, ()> {
        (**self).end_runs(ends)
    }
    fn save_states<'a>(&'a self, states: &'a [SavedState]) -> StoreFuture<'a, ()> {
        (**self).save_states(states)
    }
    fn load_states(&self) -> StoreFuture<'_, Vec<SavedState>> {
        (**self).load_states()
    }
    fn recover(&self, now: Timestamp) -> StoreFuture<'_, Vec<StoredRun>> {
        (**self).recover(now)
    }
    fn history<'a>(
        &'a self,
        bot: &'a str,
        limit: usize,
        before: Option<RunId>,
    ) -> StoreFuture<'a, HistoryPage> {
        (**self).history(bot, limit, before)
    }
    fn run(&self, id: RunId) -> StoreFuture<'_, Option<StoredRun>> {
        (**self).run(id)
    }
    fn ping(&self) -> StoreFuture<'_, ()> {
        (**self).ping()
    }
    fn is_shared(&self) -> bool {
        (**self).is_shared()
    }
}
