//! The vocabulary of one fire: which fire it is ([`FireId`]), why it ran
//! ([`Trigger`]), how it ended ([`RunOutcome`]), the record the runner
//! returns ([`RunRecord`]), and the handle a manual run gives back
//! ([`RunHandle`]).
//!
//! A [`RunRecord`] is the one account of a fire: the bot's state applies it,
//! and the metrics, the events (and, with a persistent store, the history
//! row) are all made from it, so they cannot disagree.

use std::fmt;
use std::future::IntoFuture;
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::store::{RunId, RunOutput};

/// The identity of a scheduled fire: (bot, scheduled instant). A store
/// claims each identity once, which is what runs a fire once in a cluster.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FireId {
    /// The bot's name.
    pub bot: String,
    /// The instant the schedule named (before jitter).
    pub scheduled: Timestamp,
}

/// Why a run was started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Trigger {
    /// A scheduled fire, noticed on time.
    Scheduled,
    /// `run_bot` / `run_all_bots`.
    Manual,
    /// A fire noticed after its misfire grace and run by the misfire policy
    /// ([`Misfire::RunOnce`](crate::Misfire::RunOnce) or
    /// [`Misfire::RunAll`](crate::Misfire::RunAll)).
    CatchUp,
    /// The run at the end of a cool-down.
    Recovery,
}

impl Trigger {
    /// `"scheduled"`, `"manual"`, `"catch_up"` or `"recovery"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Scheduled => "scheduled",
            Trigger::Manual => "manual",
            Trigger::CatchUp => "catch_up",
            Trigger::Recovery => "recovery",
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a fire was not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SkipReason {
    /// The bot is paused.
    Paused,
    /// The bot is cooling down after a failed fire.
    CoolDown,
    /// The previous run is still going ([`Overlap::Skip`](crate::Overlap::Skip)).
    Overlap,
    /// `n` runs are already going ([`Overlap::Concurrent`](crate::Overlap::Concurrent)).
    ConcurrencyLimit,
    /// One fire already waits ([`Overlap::Queue`](crate::Overlap::Queue)).
    QueueFull,
    /// Another process sharing the store claimed it (and runs it).
    ClaimedElsewhere,
    /// The bot was removed before the fire could start.
    Removed,
    /// The manager stopped before the fire could start (the later fires of
    /// a batch decided at once).
    Stopped,
}

impl SkipReason {
    /// The snake_case name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Paused => "paused",
            SkipReason::CoolDown => "cool_down",
            SkipReason::Overlap => "overlap",
            SkipReason::ConcurrencyLimit => "concurrency_limit",
            SkipReason::QueueFull => "queue_full",
            SkipReason::ClaimedElsewhere => "claimed_elsewhere",
            SkipReason::Removed => "removed",
            SkipReason::Stopped => "stopped",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SkipReason {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<SkipReason, crate::Error> {
        const ALL: [SkipReason; 8] = [
            SkipReason::Paused,
            SkipReason::CoolDown,
            SkipReason::Overlap,
            SkipReason::ConcurrencyLimit,
            SkipReason::QueueFull,
            SkipReason::ClaimedElsewhere,
            SkipReason::Removed,
            SkipReason::Stopped,
        ];
        ALL.into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| crate::Error::unknown_name("skip reason", s, &ALL.map(|r| r.as_str())))
    }
}

/// Why fires were missed (not run, and not merely skipped).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MissReason {
    /// Noticed after the bot's misfire grace, and the misfire policy did not
    /// run them (process paused, machine suspended, clock jumped, restart).
    Late,
    /// The store could not claim the fire before its misfire grace ran out.
    StoreUnavailable,
}

impl MissReason {
    /// The snake_case name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            MissReason::Late => "late",
            MissReason::StoreUnavailable => "store_unavailable",
        }
    }
}

impl FromStr for MissReason {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<MissReason, crate::Error> {
        const ALL: [MissReason; 2] = [MissReason::Late, MissReason::StoreUnavailable];
        ALL.into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| crate::Error::unknown_name("miss reason", s, &ALL.map(|r| r.as_str())))
    }
}

impl FromStr for Trigger {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Trigger, crate::Error> {
        const ALL: [Trigger; 4] = [
            Trigger::Scheduled,
            Trigger::Manual,
            Trigger::CatchUp,
            Trigger::Recovery,
        ];
        ALL.into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| crate::Error::unknown_name("trigger", s, &ALL.map(|r| r.as_str())))
    }
}

impl fmt::Display for MissReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a fire ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RunOutcome {
    /// An attempt succeeded.
    Success,
    /// Every attempt failed; the bot entered a cool-down.
    Failure,
    /// The job returned a [`SoftError`](crate::SoftError): no retry, no
    /// cool-down.
    SoftFailure,
    /// The last attempt ran past the time limit (the bot entered a
    /// cool-down, as for [`Failure`](RunOutcome::Failure)).
    TimedOut,
    /// The run was stopped before it could finish (a restart, or a newer
    /// fire replacing it).
    Interrupted,
    /// The fire was not run; see the reason.
    Skipped(SkipReason),
    /// The fire was not run because it was noticed too late or could not be
    /// claimed; see the reason.
    Missed(MissReason),
}

impl RunOutcome {
    /// `"success"`, `"failure"`, `"soft_failure"`, `"timed_out"`,
    /// `"interrupted"`, `"skipped"` or `"missed"`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Success => "success",
            RunOutcome::Failure => "failure",
            RunOutcome::SoftFailure => "soft_failure",
            RunOutcome::TimedOut => "timed_out",
            RunOutcome::Interrupted => "interrupted",
            RunOutcome::Skipped(_) => "skipped",
            RunOutcome::Missed(_) => "missed",
        }
    }

    /// Why the fire did not run (skipped or missed), as its snake_case
    /// name: the store's `reason` column.
    pub fn reason(self) -> Option<&'static str> {
        match self {
            RunOutcome::Skipped(r) => Some(r.as_str()),
            RunOutcome::Missed(r) => Some(r.as_str()),
            _ => None,
        }
    }

    /// The outcome named by [`as_str`](RunOutcome::as_str) and, for
    /// skipped and missed fires, [`reason`](RunOutcome::reason): how stores
    /// read it back. `None` for names it does not know.
    pub fn from_parts(outcome: &str, reason: Option<&str>) -> Option<RunOutcome> {
        Some(match outcome {
            "success" => RunOutcome::Success,
            "failure" => RunOutcome::Failure,
            "soft_failure" => RunOutcome::SoftFailure,
            "timed_out" => RunOutcome::TimedOut,
            "interrupted" => RunOutcome::Interrupted,
            "skipped" => RunOutcome::Skipped(reason?.parse().ok()?),
            "missed" => RunOutcome::Missed(reason?.parse().ok()?),
            _ => return None,
        })
    }

    /// Whether the job ran and failed (hard, soft or timed out).
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            RunOutcome::Failure | RunOutcome::SoftFailure | RunOutcome::TimedOut
        )
    }
}

impl fmt::Display for RunOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The account of one fire, as the runner returns it and as
/// [`RunHandle`] delivers it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RunRecord {
    /// The bot.
    pub bot: String,
    /// Why it ran.
    pub trigger: Trigger,
    /// The scheduled instant (scheduled, catch-up and recovery runs).
    pub scheduled: Option<Timestamp>,
    /// When the first attempt started (for a fire not run: when that was
    /// decided).
    pub started: Timestamp,
    /// When the run ended.
    pub finished: Timestamp,
    /// Attempts made (0 for a fire not run).
    pub attempts: u32,
    /// How it ended.
    pub outcome: RunOutcome,
    /// What the job returned on success, if it returned a value.
    pub value: Option<serde_json::Value>,
    /// The last error (panic messages and time-outs included).
    pub error: Option<String>,
    /// What the last attempt's process left: exit code and output tails
    /// (shell jobs; a job sets it with [`RunContext::set_output`]).
    pub output: Option<RunOutput>,
}

impl RunRecord {
    /// Whether the run succeeded.
    pub fn is_success(&self) -> bool {
        self.outcome == RunOutcome::Success
    }

    /// How long the run took.
    pub fn duration(&self) -> Duration {
        Duration::try_from(self.started.duration_until(self.finished)).unwrap_or_default()
    }

    /// How late the first attempt started after the scheduled instant.
    pub fn lateness(&self) -> Option<Duration> {
        self.scheduled
            .map(|s| Duration::try_from(s.duration_until(self.started)).unwrap_or_default())
    }

    /// A record of a fire that did not run.
    pub(crate) fn not_run(
        bot: &str,
        trigger: Trigger,
        scheduled: Option<Timestamp>,
        at: Timestamp,
        outcome: RunOutcome,
        error: Option<String>,
    ) -> RunRecord {
        RunRecord {
            bot: bot.to_owned(),
            trigger,
            scheduled,
            started: at,
            finished: at,
            attempts: 0,
            outcome,
            value: None,
            error,
            output: None,
        }
    }
}

/// What a job knows about the fire it runs for, given to jobs set with
/// [`BotBuilder::job_with`](crate::BotBuilder::job_with) and
/// [`BotBuilder::async_job_with`](crate::BotBuilder::async_job_with): the
/// bot, why it runs, the fire's instant, the attempt, the run's id in the
/// store; and where the job leaves its process's exit code and output for
/// the run record ([`set_output`](RunContext::set_output)).
///
/// ```
/// use botman::{Bot, RunContext, RunOutput};
///
/// let bot = Bot::builder("report")
///     .schedule("0 7 * * *")
///     .job_with(|ctx: &RunContext| {
///         println!("{} attempt {} for {}", ctx.bot(), ctx.attempt(), ctx.instant());
///         ctx.set_output(RunOutput::new(Some(0), Some("sent".into()), None));
///         Ok::<_, std::io::Error>(())
///     })
///     .build()?;
/// # Ok::<(), botman::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct RunContext {
    bot: std::sync::Arc<str>,
    trigger: Trigger,
    scheduled: Option<Timestamp>,
    started: Timestamp,
    attempt: u32,
    run_id: Option<RunId>,
    output: std::sync::Arc<std::sync::Mutex<Option<RunOutput>>>,
}

impl RunContext {
    pub(crate) fn new(
        bot: std::sync::Arc<str>,
        trigger: Trigger,
        scheduled: Option<Timestamp>,
        started: Timestamp,
        run_id: Option<RunId>,
    ) -> RunContext {
        RunContext {
            bot,
            trigger,
            scheduled,
            started,
            attempt: 1,
            run_id,
            output: Default::default(),
        }
    }

    /// The same context for attempt `k` (the output slot is shared: the
    /// record keeps what the last attempt set).
    pub(crate) fn for_attempt(&self, k: u32) -> RunContext {
        let mut c = self.clone();
        c.attempt = k;
        c
    }

    /// What the job set, taken for the record.
    pub(crate) fn take_output(&self) -> Option<RunOutput> {
        self.output.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// The bot's name.
    pub fn bot(&self) -> &str {
        &self.bot
    }

    /// Why the run started.
    pub fn trigger(&self) -> Trigger {
        self.trigger
    }

    /// The fire's scheduled instant (scheduled, catch-up and recovery runs).
    pub fn scheduled(&self) -> Option<Timestamp> {
        self.scheduled
    }

    /// The instant the run stands for: the scheduled instant, or for a
    /// manual run the instant its first attempt started (right after it was
    /// asked for).
    pub fn instant(&self) -> Timestamp {
        self.scheduled.unwrap_or(self.started)
    }

    /// The attempt, from 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The run's row in the store, the same for every attempt of the fire
    /// (`None` when the store could not make the row: it was failing).
    pub fn run_id(&self) -> Option<RunId> {
        self.run_id
    }

    /// Leaves the exit code and output tails of this attempt's process for
    /// the run record (and the history row, and the failure event). A later
    /// call, or a later attempt's, replaces it.
    pub fn set_output(&self, output: RunOutput) {
        *self.output.lock().unwrap_or_else(|e| e.into_inner()) = Some(output);
    }
}

/// A run requested with `run_bot`: wait for its record with
/// [`wait`](RunHandle::wait) from plain code or `.await` in async code.
#[derive(Debug)]
pub struct RunHandle {
    pub(crate) rx: oneshot::Receiver<RunRecord>,
    pub(crate) began: Option<oneshot::Receiver<Option<RunId>>>,
    pub(crate) run_id: Option<RunId>,
}

/// Who hears of a run spawned by the manager: its row once the store began
/// it, its record once it ended. Both empty for scheduled fires.
#[derive(Debug, Default)]
pub(crate) struct RunWatch {
    pub(crate) began: Option<oneshot::Sender<Option<RunId>>>,
    pub(crate) done: Option<oneshot::Sender<RunRecord>>,
}

impl RunWatch {
    /// A watch and the handle that listens to it.
    pub(crate) fn with_handle() -> (RunWatch, RunHandle) {
        let (began_tx, began_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        let watch = RunWatch {
            began: Some(began_tx),
            done: Some(done_tx),
        };
        let handle = RunHandle {
            rx: done_rx,
            began: Some(began_rx),
            run_id: None,
        };
        (watch, handle)
    }
}

impl RunHandle {
    /// The run's row in the store ([`StoredRun::id`](crate::StoredRun::id)),
    /// once the store has begun it: what [`Botman::run_record`](crate::Botman::run_record)
    /// looks up. `None` when the store could not make the row (it failed;
    /// the run's end makes it) or the manager went away first.
    pub async fn run_id(&mut self) -> Option<RunId> {
        if let Some(rx) = self.began.take() {
            self.run_id = rx.await.ok().flatten();
        }
        self.run_id
    }

    /// Blocks until the run ends. `None` if the manager (or the runtime it
    /// runs on) went away first.
    ///
    /// Do not call this from async code (it would block the runtime);
    /// `.await` the handle there.
    pub fn wait(self) -> Option<RunRecord> {
        self.rx.blocking_recv().ok()
    }
}

impl IntoFuture for RunHandle {
    type Output = Option<RunRecord>;
    type IntoFuture = Pin<Box<dyn std::future::Future<Output = Option<RunRecord>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move { self.rx.await.ok() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_names_round_trip() {
        for r in [
            SkipReason::Paused,
            SkipReason::CoolDown,
            SkipReason::Overlap,
            SkipReason::ConcurrencyLimit,
            SkipReason::QueueFull,
            SkipReason::ClaimedElsewhere,
            SkipReason::Removed,
        ] {
            assert_eq!(r.as_str().parse::<SkipReason>().unwrap(), r);
            assert_eq!(
                serde_json::to_value(r).unwrap(),
                serde_json::json!(r.as_str())
            );
        }
        assert!("sleepy".parse::<SkipReason>().is_err());
        assert_eq!(
            serde_json::to_value(Trigger::CatchUp).unwrap(),
            serde_json::json!("catch_up")
        );
        assert_eq!(RunOutcome::Skipped(SkipReason::Paused).as_str(), "skipped");
        for o in [
            RunOutcome::Success,
            RunOutcome::Failure,
            RunOutcome::SoftFailure,
            RunOutcome::TimedOut,
            RunOutcome::Interrupted,
            RunOutcome::Skipped(SkipReason::CoolDown),
            RunOutcome::Missed(MissReason::StoreUnavailable),
            RunOutcome::Missed(MissReason::Late),
        ] {
            assert_eq!(RunOutcome::from_parts(o.as_str(), o.reason()), Some(o));
        }
        assert_eq!(RunOutcome::from_parts("skipped", None), None);
        assert_eq!(RunOutcome::from_parts("exploded", None), None);
        for t in [
            Trigger::Scheduled,
            Trigger::Manual,
            Trigger::CatchUp,
            Trigger::Recovery,
        ] {
            assert_eq!(t.as_str().parse::<Trigger>().unwrap(), t);
        }
    }
}
