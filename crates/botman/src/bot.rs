//! Bots: a name, one or more schedules, a job and the policies that decide
//! what happens when the job fails, overlaps or fires late.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use botman_cron::Cron;
use jiff::tz::TimeZone;

use crate::error::Error;
use crate::run::RunContext;

/// The error type jobs return, boxed: any `std::error::Error`, a `String`,
/// an `anyhow::Error`, a [`SoftError`] ...
pub type JobError = Box<dyn StdError + Send + Sync + 'static>;

/// What a job's attempt produced: an optional value for the run record.
pub(crate) type JobResult = Result<Option<serde_json::Value>, JobError>;

type BoxFuture = Pin<Box<dyn Future<Output = JobResult> + Send + 'static>>;

/// The work a bot does.
#[derive(Clone)]
pub(crate) enum Job {
    /// Runs on the manager's bounded pool of blocking threads.
    Sync(Arc<dyn Fn(&RunContext) -> JobResult + Send + Sync>),
    /// Runs on the async runtime.
    Async(Arc<dyn Fn(RunContext) -> BoxFuture + Send + Sync>),
}

/// A failure that is final for this fire: no retries, no cool-down, one
/// Error event. Return it (or an error whose `source()` chain holds it) from
/// a job when retrying cannot help — bad input, a closed market, a record
/// that no longer exists.
///
/// ```
/// use botman::SoftError;
///
/// fn job() -> Result<(), SoftError> {
///     Err(SoftError::new("the report for today is already sent"))
/// }
/// assert!(job().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SoftError {
    message: String,
}

impl SoftError {
    /// A soft error with a message for the run record and the event.
    pub fn new(message: impl Into<String>) -> SoftError {
        SoftError {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for SoftError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for SoftError {}

/// Whether a job's error is, or wraps, a [`SoftError`]: anywhere in its
/// `source()` chain, or anywhere in the chain of an `anyhow::Error` (which
/// hides its chain once boxed, so jobs flatten it first: [`into_job_error`]).
pub(crate) fn is_soft(err: &(dyn StdError + 'static)) -> bool {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if e.is::<SoftError>() || e.downcast_ref::<Flattened>().is_some_and(|f| f.soft) {
            return true;
        }
        cur = e.source();
    }
    false
}

/// An `anyhow::Error` as a job error: its whole chain as text (`{:#}`), and
/// whether a [`SoftError`] is in it. Boxing an `anyhow::Error` directly
/// would hide both: the box can no longer be downcast to what it wraps
/// (issue #8, bug 1).
#[derive(Debug)]
struct Flattened {
    text: String,
    soft: bool,
}

impl fmt::Display for Flattened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl StdError for Flattened {}

/// Converts a job's error, flattening an `anyhow::Error` (see [`Flattened`]).
fn into_job_error<E: Into<JobError> + 'static>(e: E) -> JobError {
    if let Some(a) = (&e as &dyn std::any::Any).downcast_ref::<anyhow::Error>() {
        return Box::new(Flattened {
            text: format!("{a:#}"),
            soft: a.chain().any(|c| c.is::<SoftError>()),
        });
    }
    e.into()
}

/// What to do when a fire comes while the bot's previous run is still going.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Overlap {
    /// Skip the new fire and record it as skipped (the default, as the
    /// Python library: a slow job never piles up runs).
    #[default]
    Skip,
    /// Keep at most one fire waiting; it starts as soon as the run ends.
    Queue,
    /// Run up to `n` fires of the bot at the same time; skip beyond that.
    Concurrent(usize),
    /// Stop the run in flight and start the new fire (Kubernetes CronJob's
    /// `Replace`): an async job's future is dropped (a shell job's process
    /// group is killed), the old run is recorded as
    /// [`Interrupted`](crate::RunOutcome::Interrupted), and the new one
    /// starts at once. A sync job's thread cannot be stopped: it is counted
    /// as stuck, as past a time limit, and the new run starts beside it.
    Replace,
}

/// What to do with fires the scheduler noticed late (process paused,
/// machine suspended, clock jumped, or restarted with a persistent store).
///
/// A fire is late when it is noticed more than the bot's `misfire_grace`
/// after its instant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Misfire {
    /// Run once for any number of late fires, at the latest one; the others
    /// are recorded as missed (the default: catch up, but never stampede).
    #[default]
    RunOnce,
    /// Run none of them; record all as missed.
    Skip,
    /// Run every late fire, oldest first, up to `max` of them; the rest are
    /// recorded as missed.
    RunAll {
        /// The most late fires to run.
        max: usize,
    },
}

/// One schedule of a bot: a cron expression and the zone it is read in
/// (`None`: the manager's default zone).
#[derive(Clone, Debug)]
pub struct Schedule {
    pub(crate) text: Arc<str>,
    pub(crate) cron: Arc<Cron>,
    pub(crate) tz: Option<TimeZone>,
}

impl Schedule {
    /// Parses a schedule; `tz` is an IANA zone name or `None`.
    pub fn new(expr: &str, tz: Option<&str>) -> Result<Schedule, Error> {
        let (text, cron) = intern(expr)?;
        let tz = match tz {
            None => None,
            Some(name) => Some(TimeZone::get(name).map_err(|e| Error::time_zone(name, e))?),
        };
        Ok(Schedule { text, cron, tz })
    }

    /// The cron text as written.
    pub fn expr(&self) -> &str {
        &self.text
    }

    /// The parsed expression.
    pub fn cron(&self) -> &Cron {
        &self.cron
    }

    /// The zone, when the schedule has its own.
    pub fn time_zone(&self) -> Option<&TimeZone> {
        self.tz.as_ref()
    }
}

static POLICIES: std::sync::Mutex<Vec<Arc<Policy>>> = std::sync::Mutex::new(Vec::new());

/// One shared `Policy` per distinct set of settings (a few dozen at most in
/// practice; bounded all the same).
fn intern_policy(p: Policy) -> Arc<Policy> {
    let mut all = POLICIES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = all.iter().find(|q| ***q == p) {
        return Arc::clone(found);
    }
    if all.len() >= 64 {
        all.remove(0);
    }
    let p = Arc::new(p);
    all.push(Arc::clone(&p));
    p
}

/// Distinct expressions kept parsed and shared (bounded; cleared when full).
const INTERNED: usize = 4096;

type Interned = (Arc<str>, Arc<Cron>);

static CRONS: std::sync::Mutex<Option<std::collections::HashMap<Arc<str>, Arc<Cron>>>> =
    std::sync::Mutex::new(None);

/// Parses `expr` once per process: thousands of bots on the same schedule
/// share one parsed `Cron` and one copy of its text (memory per bot, and the
/// time to add 100,000 bots).
fn intern(expr: &str) -> Result<Interned, Error> {
    {
        let cache = CRONS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((text, cron)) = cache.as_ref().and_then(|c| c.get_key_value(expr)) {
            return Ok((Arc::clone(text), Arc::clone(cron)));
        }
    }
    let cron = Arc::new(Cron::parse(expr).map_err(|e| Error::schedule(expr, e))?);
    let text: Arc<str> = Arc::from(expr);
    let mut cache = CRONS.lock().unwrap_or_else(|e| e.into_inner());
    let map = cache.get_or_insert_with(std::collections::HashMap::new);
    if map.len() >= INTERNED {
        map.clear();
    }
    map.insert(Arc::clone(&text), Arc::clone(&cron));
    Ok((text, cron))
}

/// The policies of a bot, with their defaults.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Policy {
    pub(crate) retries: u32,
    pub(crate) retry_delay: Duration,
    pub(crate) max_retry_delay: Duration,
    pub(crate) initial_timeout: Duration,
    pub(crate) max_timeout: Duration,
    pub(crate) overlap: Overlap,
    pub(crate) misfire: Misfire,
    pub(crate) misfire_grace: Duration,
    pub(crate) jitter: Duration,
    pub(crate) time_limit: Option<Duration>,
    pub(crate) com: bool,
    pub(crate) expect_success_within: Option<Duration>,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            retries: 3,
            retry_delay: Duration::from_secs(10),
            max_retry_delay: MAX_RETRY_DELAY,
            initial_timeout: Duration::from_secs(60),
            max_timeout: Duration::from_secs(3600),
            overlap: Overlap::Skip,
            misfire: Misfire::RunOnce,
            misfire_grace: Duration::from_secs(60),
            jitter: Duration::ZERO,
            time_limit: None,
            com: false,
            expect_success_within: None,
        }
    }
}

/// The default of [`BotBuilder::max_retry_delay`] (60 s): the longest wait
/// between two attempts of one fire. The rule is stated once, at
/// [`BotBuilder::retry_delay`].
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);

impl Policy {
    /// The wait before attempt `k + 1` (after `k` failed attempts): the rule
    /// documented at [`BotBuilder::retry_delay`].
    pub(crate) fn retry_delay(&self, k: u32) -> Duration {
        self.retry_delay.saturating_mul(k).min(self.max_retry_delay)
    }
}

/// A bot, ready to be added to a [`Botman`](crate::Botman).
///
/// ```
/// use botman::Bot;
/// use std::time::Duration;
///
/// let bot = Bot::builder("hello")
///     .schedule("*/5 * * * *")
///     .schedule_in("0 9 * * MON-FRI", "Europe/Berlin")
///     .retries(5)
///     .retry_delay(Duration::from_secs(2))
///     .job(|| Ok::<_, std::io::Error>("done"))
///     .build()?;
/// assert_eq!(bot.name(), "hello");
/// # Ok::<(), botman::Error>(())
/// ```
#[derive(Clone)]
pub struct Bot {
    pub(crate) name: Arc<str>,
    pub(crate) schedules: Vec<Schedule>,
    pub(crate) job: Job,
    /// Slack and Chime webhooks: (format, url, event types).
    #[cfg(feature = "webhooks")]
    pub(crate) webhooks: Vec<(
        crate::receivers::Format,
        crate::WebhookUrl,
        Vec<crate::EventType>,
    )>,
    /// Shared between bots with the same policies (most use the defaults).
    pub(crate) policy: Arc<Policy>,
}

impl Bot {
    /// Starts building a bot named `name` (unique within a manager).
    pub fn builder(name: impl Into<String>) -> BotBuilder {
        BotBuilder {
            name: name.into(),
            schedules: Vec::new(),
            slack: Vec::new(),
            chime: Vec::new(),
            slack_types: Vec::new(),
            chime_types: Vec::new(),
            job: None,
            policy: Policy::default(),
            retries_zero: false,
        }
    }

    /// The bot's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bot's schedules.
    pub fn schedules(&self) -> &[Schedule] {
        &self.schedules
    }
}

impl fmt::Debug for Bot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bot")
            .field("name", &self.name)
            .field(
                "schedules",
                &self.schedules.iter().map(|s| &*s.text).collect::<Vec<_>>(),
            )
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Bot`]; see [`Bot::builder`]. `build()` validates everything.
#[cfg_attr(not(feature = "webhooks"), allow(dead_code))]
pub struct BotBuilder {
    name: String,
    schedules: Vec<(String, Option<String>)>,
    slack: Vec<String>,
    chime: Vec<String>,
    slack_types: Vec<crate::EventType>,
    chime_types: Vec<crate::EventType>,
    job: Option<Job>,
    policy: Policy,
    retries_zero: bool,
}

impl BotBuilder {
    /// Adds a cron schedule read in the manager's default zone. Repeatable.
    pub fn schedule(mut self, expr: impl Into<String>) -> BotBuilder {
        self.schedules.push((expr.into(), None));
        self
    }

    /// Adds a cron schedule read in the IANA zone `tz`. Repeatable.
    pub fn schedule_in(mut self, expr: impl Into<String>, tz: impl Into<String>) -> BotBuilder {
        self.schedules.push((expr.into(), Some(tz.into())));
        self
    }

    /// The job: a closure returning `Result<T, E>`, run on the manager's
    /// pool of blocking threads. `T` is kept in the run's outcome (anything
    /// serde can serialise; `()` keeps nothing); `E` is any error type.
    ///
    /// A [`SoftError`] anywhere in the error — returned as is, in a
    /// `source()` chain, or in an `anyhow::Error` (`bail!(SoftError::new(..))`,
    /// `Err(SoftError::new(..))?`, with or without `.context(..)`) — makes
    /// the fire a soft failure.
    pub fn job<F, T, E>(self, f: F) -> BotBuilder
    where
        F: Fn() -> Result<T, E> + Send + Sync + 'static,
        T: serde::Serialize,
        E: Into<JobError> + 'static,
    {
        self.job_with(move |_: &RunContext| f())
    }

    /// The job, given the [`RunContext`] of each attempt (the fire's
    /// instant, the attempt, the run's id; where to leave a process's
    /// output). Otherwise as [`job`](BotBuilder::job).
    pub fn job_with<F, T, E>(mut self, f: F) -> BotBuilder
    where
        F: Fn(&RunContext) -> Result<T, E> + Send + Sync + 'static,
        T: serde::Serialize,
        E: Into<JobError> + 'static,
    {
        self.job = Some(Job::Sync(Arc::new(move |ctx: &RunContext| {
            f(ctx).map(|v| to_value(&v)).map_err(into_job_error)
        })));
        self
    }

    /// The job, async: a function returning a future of `Result<T, E>`, run
    /// on the async runtime. Errors are read as for [`job`](BotBuilder::job).
    pub fn async_job<F, Fut, T, E>(self, f: F) -> BotBuilder
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: serde::Serialize,
        E: Into<JobError> + 'static,
    {
        self.async_job_with(move |_: RunContext| f())
    }

    /// The async job, given the [`RunContext`] of each attempt. Dropping
    /// the future cancels the job: that is how a time limit, an
    /// [`Overlap::Replace`] and the end of the shutdown grace stop it, so a
    /// job that owns a process kills it on drop.
    pub fn async_job_with<F, Fut, T, E>(mut self, f: F) -> BotBuilder
    where
        F: Fn(RunContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: serde::Serialize,
        E: Into<JobError> + 'static,
    {
        self.job = Some(Job::Async(Arc::new(move |ctx: RunContext| {
            let fut = f(ctx);
            Box::pin(async move { fut.await.map(|v| to_value(&v)).map_err(into_job_error) })
        })));
        self
    }

    /// Posts the bot's events to a Slack webhook (repeatable: one or many).
    #[cfg(feature = "webhooks")]
    pub fn slack_webhook(mut self, url: impl Into<String>) -> BotBuilder {
        self.slack.push(url.into());
        self
    }

    /// Posts the bot's events to a Chime webhook (repeatable).
    #[cfg(feature = "webhooks")]
    pub fn chime_webhook(mut self, url: impl Into<String>) -> BotBuilder {
        self.chime.push(url.into());
        self
    }

    /// The event types sent to the Slack webhooks. Defaults to all.
    #[cfg(feature = "webhooks")]
    pub fn slack_event_types(mut self, types: &[crate::EventType]) -> BotBuilder {
        self.slack_types = types.to_vec();
        self
    }

    /// The event types sent to the Chime webhooks. Defaults to all.
    #[cfg(feature = "webhooks")]
    pub fn chime_event_types(mut self, types: &[crate::EventType]) -> BotBuilder {
        self.chime_types = types.to_vec();
        self
    }

    /// Attempts per fire, at least 1. Defaults to 3 (as the Python library).
    pub fn retries(mut self, attempts: u32) -> BotBuilder {
        self.retries_zero = attempts == 0;
        self.policy.retries = attempts;
        self
    }

    /// The delay between attempts of one fire. **The rule:** after `k`
    /// failed attempts, the runner waits `min(retry_delay × k,
    /// max_retry_delay)` before attempt `k + 1` — so with the defaults
    /// (10 s, cap 60 s) the waits are 10, 20, 30, 40, 50, 60, 60 ... s. The
    /// delays grow so a struggling dependency gets room; the cap keeps a
    /// fire's retries from sitting out the bot's schedule. Defaults to 10 s.
    pub fn retry_delay(mut self, delay: Duration) -> BotBuilder {
        self.policy.retry_delay = delay;
        self
    }

    /// The longest wait between two attempts (the cap in the rule at
    /// [`retry_delay`](BotBuilder::retry_delay)). Defaults to
    /// [`MAX_RETRY_DELAY`], 60 s.
    pub fn max_retry_delay(mut self, cap: Duration) -> BotBuilder {
        self.policy.max_retry_delay = cap;
        self
    }

    /// The first cool-down after a fire's attempts are exhausted. Defaults
    /// to 60 s. Each failed recovery doubles it, up to `max_timeout`.
    pub fn initial_timeout(mut self, d: Duration) -> BotBuilder {
        self.policy.initial_timeout = d;
        self
    }

    /// The longest cool-down. Defaults to 1 hour.
    pub fn max_timeout(mut self, d: Duration) -> BotBuilder {
        self.policy.max_timeout = d;
        self
    }

    /// What to do with a fire while the previous run is going. Defaults to
    /// [`Overlap::Skip`].
    pub fn overlap(mut self, overlap: Overlap) -> BotBuilder {
        self.policy.overlap = overlap;
        self
    }

    /// What to do with fires noticed late. Defaults to [`Misfire::RunOnce`].
    pub fn misfire(mut self, misfire: Misfire) -> BotBuilder {
        self.policy.misfire = misfire;
        self
    }

    /// How late a fire may be noticed and still run normally. Defaults to
    /// 60 s.
    pub fn misfire_grace(mut self, grace: Duration) -> BotBuilder {
        self.policy.misfire_grace = grace;
        self
    }

    /// Delays each fire by a pseudo-random amount in `[0, jitter)`, derived
    /// from a hash of (bot, instant) so every process agrees on it. Spreads
    /// bots that share a schedule. Defaults to zero.
    pub fn jitter(mut self, jitter: Duration) -> BotBuilder {
        self.policy.jitter = jitter;
        self
    }

    /// The longest one attempt may take. An async job past it is cancelled;
    /// a sync job is reported as timed out at once and its worker slot is
    /// freed only when the thread really returns (threads cannot be killed).
    /// Defaults to no limit.
    pub fn time_limit(mut self, limit: Duration) -> BotBuilder {
        self.policy.time_limit = Some(limit);
        self
    }

    /// A dead man's switch: when no run of the bot has succeeded for
    /// `window` (counted from its last success, or from its first scheduled
    /// fire after it was added or the manager restarted), one
    /// [`EventKind::Overdue`](crate::EventKind::Overdue) Error event, again
    /// at most once per further `window` while it lasts, and the bot's
    /// metrics say [`overdue`](crate::BotMetrics::overdue). As
    /// Healthchecks-style monitors do from outside, but without a second
    /// service. Defaults to off.
    pub fn expect_success_within(mut self, window: Duration) -> BotBuilder {
        self.policy.expect_success_within = Some(window);
        self
    }

    /// Initialise a single-threaded COM apartment on the worker thread
    /// around each attempt (Windows). Elsewhere it has no effect and the
    /// manager publishes a warning when the bot is added. Defaults to false.
    pub fn is_com_bot(mut self, com: bool) -> BotBuilder {
        self.policy.com = com;
        self
    }

    /// Validates and builds the bot.
    ///
    /// Errors (all answer [`Error::is_invalid_bot`]): an empty name, the
    /// reserved name `all`, no schedule, a schedule that does not parse
    /// ([`Error::is_schedule`]; [`Error::parse_error`] has the column), an
    /// unknown time zone ([`Error::is_time_zone`]),
    /// no job, zero retries, a zero time limit, a `max_timeout` below
    /// `initial_timeout`, `Concurrent(0)`, `RunAll { max: 0 }`.
    pub fn build(self) -> Result<Bot, Error> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err(Error::invalid_bot(&self.name, "the name is empty"));
        }
        if name.len() > 200 || name.chars().any(char::is_control) {
            return Err(Error::invalid_bot(
                &self.name,
                "names are at most 200 bytes, without control characters",
            ));
        }
        if name == "all" {
            return Err(Error::invalid_bot(
                name,
                "`all` is reserved: subscribing to events of `all` means every bot",
            ));
        }
        if self.schedules.is_empty() {
            return Err(Error::invalid_bot(
                name,
                "no schedule: add one with .schedule(\"* * * * *\")",
            ));
        }
        let mut schedules = Vec::with_capacity(self.schedules.len());
        for (i, (expr, tz)) in self.schedules.iter().enumerate() {
            // The error keeps its kind and source (the parse error's column);
            // it only learns which bot and schedule it is about.
            let s = Schedule::new(expr, tz.as_deref())
                .map_err(|e| e.in_bot(name, Some((i + 1, expr))))?;
            schedules.push(s);
        }
        let Some(job) = self.job else {
            return Err(Error::invalid_bot(
                name,
                "no job: give one with .job(..) or .async_job(..)",
            ));
        };
        let p = &self.policy;
        if self.retries_zero {
            return Err(Error::invalid_bot(
                name,
                "retries must be at least 1 (it counts attempts per fire)",
            ));
        }
        if p.time_limit == Some(Duration::ZERO) {
            return Err(Error::invalid_bot(
                name,
                "a time limit of zero would fail every attempt",
            ));
        }
        if p.max_timeout < p.initial_timeout {
            return Err(Error::invalid_bot(
                name,
                "max_timeout is shorter than initial_timeout",
            ));
        }
        if p.expect_success_within == Some(Duration::ZERO) {
            return Err(Error::invalid_bot(
                name,
                "expect_success_within of zero would be overdue at once",
            ));
        }
        if p.overlap == Overlap::Concurrent(0) {
            return Err(Error::invalid_bot(
                name,
                "Overlap::Concurrent(0) would never run",
            ));
        }
        if p.misfire == (Misfire::RunAll { max: 0 }) {
            return Err(Error::invalid_bot(
                name,
                "Misfire::RunAll { max: 0 } runs nothing; use Misfire::Skip",
            ));
        }
        #[cfg(feature = "webhooks")]
        let webhooks = {
            use crate::receivers::Format;
            let mut webhooks = Vec::new();
            for (format, urls, types) in [
                (Format::Slack, &self.slack, &self.slack_types),
                (Format::Chime, &self.chime, &self.chime_types),
            ] {
                for url in urls {
                    let url = crate::WebhookUrl::new(url).map_err(|e| e.in_bot(name, None))?;
                    webhooks.push((format, url, types.clone()));
                }
            }
            webhooks
        };
        Ok(Bot {
            name: Arc::from(name),
            #[cfg(feature = "webhooks")]
            webhooks,
            schedules,
            job,
            policy: intern_policy(self.policy),
        })
    }
}

fn to_value<T: serde::Serialize>(v: &T) -> Option<serde_json::Value> {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::Null) | Err(_) => None,
        Ok(v) => Some(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok_job() -> BotBuilder {
        Bot::builder("b")
            .schedule("* * * * *")
            .job(|| Ok::<_, JobError>(()))
    }

    #[test]
    fn err_build_says_what_is_wrong() {
        let e = |b: BotBuilder| b.build().unwrap_err().to_string();
        assert!(e(Bot::builder(" ").schedule("* * * * *")).contains("the name is empty"));
        assert!(e(Bot::builder("b").job(|| Ok::<_, JobError>(()))).contains("no schedule"));
        let bad = e(Bot::builder("b")
            .schedule("* * * * *")
            .schedule("61 * * * *")
            .job(|| Ok::<_, JobError>(())));
        assert!(bad.contains("schedule 2 (`61 * * * *`)"), "{bad}");
        assert!(bad.contains("column 1"), "{bad}");
        assert!(
            e(Bot::builder("b")
                .schedule_in("* * * * *", "Mars/Base")
                .job(|| Ok::<_, JobError>(())))
            .contains("Mars/Base")
        );
        assert!(e(Bot::builder("b").schedule("* * * * *")).contains("no job"));
        assert!(e(ok_job().retries(0)).contains("retries must be at least 1"));
        assert!(e(ok_job().time_limit(Duration::ZERO)).contains("time limit"));
        assert!(
            e(ok_job()
                .initial_timeout(Duration::from_secs(10))
                .max_timeout(Duration::from_secs(5)))
            .contains("max_timeout")
        );
        assert!(e(ok_job().overlap(Overlap::Concurrent(0))).contains("Concurrent(0)"));
        assert!(e(ok_job().misfire(Misfire::RunAll { max: 0 })).contains("RunAll"));
    }

    #[test]
    fn ok_defaults_match_the_python_library() {
        let bot = ok_job().build().unwrap();
        assert_eq!(bot.policy.retries, 3);
        assert_eq!(bot.policy.retry_delay, Duration::from_secs(10));
        assert_eq!(bot.policy.initial_timeout, Duration::from_secs(60));
        assert_eq!(bot.policy.max_timeout, Duration::from_secs(3600));
        assert_eq!(bot.policy.overlap, Overlap::Skip);
        assert_eq!(bot.policy.misfire, Misfire::RunOnce);
    }

    #[test]
    fn ok_soft_errors_are_found_in_the_chain() {
        #[derive(Debug)]
        struct Wrapper(SoftError);
        impl fmt::Display for Wrapper {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "wrapped")
            }
        }
        impl StdError for Wrapper {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&self.0)
            }
        }
        let soft: JobError = Box::new(SoftError::new("x"));
        assert!(is_soft(soft.as_ref()));
        let wrapped: JobError = Box::new(Wrapper(SoftError::new("x")));
        assert!(is_soft(wrapped.as_ref()));
        let hard: JobError = "plain".into();
        assert!(!is_soft(hard.as_ref()));
    }
}
