//! Each bot's state: an explicit machine, its transitions in one place.
//!
//! The scheduler asks the state whether a fire may start ([`BotRuntime::admit`]);
//! the runner executes it and returns a [`RunRecord`]; the state applies the
//! record ([`BotRuntime::apply`]) and says what follows: a cool-down and its
//! recovery run, the queued fire, the counts the events are made from. The
//! state never publishes, sleeps or touches the heap or the store; the
//! scheduler does what the state says.
//!
//! # Phases
//!
//! A bot is in one [`Phase`], and counts its runs in flight (`running`),
//! its sync attempts stuck past their time limit (`stuck`) and the fire
//! waiting for the run to end (`queued`, [`Overlap::Queue`]). "Active" below
//! means `running + stuck > 0`.
//!
//! | from | on | to | what follows |
//! |---|---|---|---|
//! | Idle | a fire is admitted | Running | the run starts |
//! | Running | a fire, while active | Running | per [`Overlap`]: started, queued, or skipped (`overlap`, `concurrency_limit`, `queue_full`); under `Replace` the runs in flight are stopped (interrupted) and it starts |
//! | Running | a run ends and nothing is active | Idle | the queued fire starts, if any |
//! | Running, Idle | a run ends with a failure or time-out | CoolingDown { until = end + length } | the recovery run at `until`; the next length doubles, up to `max_timeout` |
//! | Running, Idle | a run ends with success | (unchanged) | the failure count and the cool-down length reset |
//! | Running, Idle | a run ends with a soft failure | (unchanged) | no retry, no cool-down |
//! | CoolingDown | a fire before `until` | CoolingDown | skipped (`cool_down`) |
//! | CoolingDown | `until` comes (the recovery entry, or a fire at or after it) | Idle, then Running | cool-down ended; the run is admitted as any fire |
//! | any but Removed | pause | Paused { cool_down } | fires skipped (`paused`); runs in flight finish |
//! | Paused | resume | CoolingDown if its `until` is still ahead, else Idle / Running | the recovery run, if cooling down |
//! | any | remove | Removed | nothing more starts; runs in flight finish |
//!
//! Manual runs ([`Botman::run_bot`](crate::Botman::run_bot)) start whatever
//! the phase (a person asked); their records are applied like any other.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::bot::{Job, Overlap, Policy, Schedule};
use crate::metrics::{BotMetrics, BotState, Counters};
use crate::run::{RunOutcome, RunRecord, SkipReason, Trigger};
use crate::store::SavedState;
use crate::util::{add, lock};

/// One bot of a manager: what never changes, and its state behind a lock.
pub(crate) struct BotEntry {
    pub(crate) name: Arc<str>,
    /// Stable across restarts: see [`BotEvent::bot_id`](crate::BotEvent::bot_id).
    pub(crate) id: u64,
    pub(crate) job: Job,
    pub(crate) policy: Arc<Policy>,
    pub(crate) since: Timestamp,
    pub(crate) st: Mutex<BotRuntime>,
}

impl BotEntry {
    pub(crate) fn metrics(&self, now: Timestamp) -> BotMetrics {
        let st = lock(&self.st);
        let c = &st.counters;
        let (p50, p99) = c.percentiles();
        BotMetrics {
            name: self.name.to_string(),
            state: st.reported_state(now),
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
            timeout_until: st.timeout_until(now),
            since: self.since,
            paused: st.is_paused(),
            stuck_workers: st.stuck() as u64,
            last_success: c.last_success,
            overdue: st.watch.is_some_and(|w| w.overdue),
            overdue_alerts: c.overdue_alerts,
            last_outcome: c.last_outcome,
        }
    }
}

/// Where a bot is in its life; see the module docs for the transitions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Nothing runs; fires are admitted.
    Idle,
    /// Runs are in flight (or a stuck attempt's thread still runs).
    Running,
    /// After a failed fire: fires are skipped until `until`, then a recovery
    /// run.
    CoolingDown { until: Timestamp },
    /// Fires are skipped until resumed; a cool-down in progress is kept.
    Paused { cool_down: Option<Timestamp> },
    /// Gone from the manager; nothing more starts.
    Removed,
}

/// Whether a fire may start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Counted in `running`: start it.
    Start,
    /// Kept to start when the run in flight ends.
    Queued,
    /// Not run, for this reason.
    Skip(SkipReason),
}

/// What follows a record, for the scheduler to carry out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Applied {
    /// A cool-down began: (until, length). Push the recovery entry.
    pub(crate) cool_down: Option<(Timestamp, Duration)>,
    /// The queued fire: start it (already counted in `running`), or it was
    /// skipped for the reason.
    pub(crate) queued: Option<(Timestamp, Trigger, Admission)>,
    /// Consecutive failures before and after this record.
    pub(crate) failures_before: u64,
    pub(crate) failures_after: u64,
}

/// The dead man's switch of a bot with
/// [`expect_success_within`](crate::BotBuilder::expect_success_within):
/// one heap entry at `check`; a success moves the deadline, and the entry,
/// when it comes, looks again rather than being replaced (no heap churn per
/// run).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Watch {
    /// The first scheduled fire after the bot was added or the manager
    /// started: the window counts from here until a run succeeds.
    pub(crate) from: Timestamp,
    /// The live heap entry's instant (an entry at another is stale).
    pub(crate) check: Timestamp,
    /// The window ran out and no run has succeeded since.
    pub(crate) overdue: bool,
}

/// The mutable state of one bot.
pub(crate) struct BotRuntime {
    pub(crate) schedules: Vec<Schedule>,
    /// Heap entries of an older generation are stale.
    pub(crate) generation: u32,
    pub(crate) next_fire: Option<Timestamp>,
    phase: Phase,
    // u32: a bot's state is kept small (100,000 bots idle in 60 MiB).
    running: u32,
    stuck: u32,
    /// The waiting fire: its instant, and whether it was scheduled or asked
    /// for by hand.
    queued: Option<(Timestamp, Trigger)>,
    /// Cancelled when a fire replaces the runs in flight
    /// ([`Overlap::Replace`]); each run holds the token of its admission.
    replace: tokio_util::sync::CancellationToken,
    /// The dead man's switch, for a bot with `expect_success_within`.
    pub(crate) watch: Option<Watch>,
    /// The length of the next cool-down.
    cool_down_len: Duration,
    pub(crate) counters: Counters,
}

impl BotRuntime {
    pub(crate) fn new(schedules: Vec<Schedule>, policy: &Policy) -> BotRuntime {
        BotRuntime {
            schedules,
            generation: 0,
            next_fire: None,
            phase: Phase::Idle,
            running: 0,
            stuck: 0,
            queued: None,
            replace: tokio_util::sync::CancellationToken::new(),
            watch: None,
            cool_down_len: policy.initial_timeout,
            counters: Counters::default(),
        }
    }

    /// The first fire of any schedule strictly after `after`.
    pub(crate) fn next_after(&self, after: Timestamp, default_tz: &TimeZone) -> Option<Timestamp> {
        self.schedules
            .iter()
            .filter_map(|s| {
                s.cron
                    .next_after_timestamp(after, s.tz.as_ref().unwrap_or(default_tz))
            })
            .min()
    }

    pub(crate) fn phase(&self) -> Phase {
        self.phase
    }

    pub(crate) fn is_removed(&self) -> bool {
        self.phase == Phase::Removed
    }

    pub(crate) fn is_paused(&self) -> bool {
        matches!(self.phase, Phase::Paused { .. })
    }

    /// Runs in flight (not counting stuck threads).
    pub(crate) fn running(&self) -> usize {
        self.running as usize
    }

    /// The stuck threads of this bot's sync attempts.
    pub(crate) fn stuck(&self) -> usize {
        self.stuck as usize
    }

    fn active(&self) -> usize {
        (self.running + self.stuck) as usize
    }

    /// When the cool-down in progress ends, if one is (paused or not).
    pub(crate) fn timeout_until(&self, now: Timestamp) -> Option<Timestamp> {
        match self.phase {
            Phase::CoolingDown { until }
            | Phase::Paused {
                cool_down: Some(until),
            } if until > now => Some(until),
            _ => None,
        }
    }

    fn reported_state(&self, now: Timestamp) -> BotState {
        if self.running > 0 {
            BotState::Running
        } else if self.timeout_until(now).is_some() {
            BotState::Timeout
        } else if self.counters.consecutive_failures > 0 {
            // The last finished run failed (a success resets the count).
            BotState::Error
        } else {
            BotState::Idle
        }
    }

    /// Back to Idle or Running when a run ends or a cool-down is over.
    fn settle(&mut self) {
        if matches!(self.phase, Phase::Idle | Phase::Running) {
            self.phase = if self.active() > 0 {
                Phase::Running
            } else {
                Phase::Idle
            };
        }
    }

    /// Ends a cool-down whose end has come. Returns whether one ended.
    pub(crate) fn end_cool_down(&mut self, now: Timestamp) -> bool {
        match self.phase {
            Phase::CoolingDown { until, .. } if until <= now => {
                self.phase = Phase::Idle;
                self.settle();
                true
            }
            _ => false,
        }
    }

    /// Whether the fire at `at` may start now. A cool-down whose end has
    /// come is ended first (the caller publishes that when
    /// [`end_cool_down`](BotRuntime::end_cool_down) said so).
    pub(crate) fn admit(&mut self, overlap: Overlap, at: Timestamp) -> Admission {
        match self.phase {
            Phase::Removed => return Admission::Skip(SkipReason::Removed),
            Phase::Paused { .. } => return Admission::Skip(SkipReason::Paused),
            Phase::CoolingDown { .. } => return Admission::Skip(SkipReason::CoolDown),
            Phase::Idle | Phase::Running => {}
        }
        self.admit_beside_active(overlap, at, Trigger::Scheduled)
    }

    /// Whether a run asked for by hand at `at` may start now: the overlap
    /// policy decides as for a fire, but a pause or a cool-down does not
    /// hold back what a person asked for (issue #11). A run queued this way
    /// starts as a manual run when the runs in flight end.
    pub(crate) fn admit_manual(&mut self, overlap: Overlap, at: Timestamp) -> Admission {
        if self.phase == Phase::Removed {
            return Admission::Skip(SkipReason::Removed);
        }
        self.admit_beside_active(overlap, at, Trigger::Manual)
    }

    /// The overlap policy's answer for a run that would join the active
    /// ones; an admitted run is counted as started.
    fn admit_beside_active(
        &mut self,
        overlap: Overlap,
        at: Timestamp,
        trigger: Trigger,
    ) -> Admission {
        let active = self.active();
        if active > 0 {
            match overlap {
                Overlap::Skip => return Admission::Skip(SkipReason::Overlap),
                Overlap::Concurrent(n) if active < n => {}
                Overlap::Concurrent(_) => return Admission::Skip(SkipReason::ConcurrencyLimit),
                Overlap::Queue if self.queued.is_none() => {
                    self.queued = Some((at, trigger));
                    return Admission::Queued;
                }
                Overlap::Queue => return Admission::Skip(SkipReason::QueueFull),
                Overlap::Replace => {
                    // The runs in flight hold the old token: they stop and
                    // record themselves as interrupted.
                    self.replace.cancel();
                    self.replace = tokio_util::sync::CancellationToken::new();
                }
            }
        }
        self.start();
        Admission::Start
    }

    /// The token a run admitted now holds: a later fire under
    /// [`Overlap::Replace`] cancels it. Taken under the same lock as the
    /// admission, so no newer fire can come between.
    pub(crate) fn run_token(&self) -> tokio_util::sync::CancellationToken {
        self.replace.clone()
    }

    /// Counts a run that starts whatever the phase (manual runs).
    pub(crate) fn start(&mut self) {
        self.running += 1;
        self.settle();
    }

    /// The first attempt of a run began.
    pub(crate) fn run_started(&mut self, at: Timestamp) {
        self.counters.runs += 1;
        self.counters.last_run = Some(at);
    }

    /// An attempt failed and another follows.
    pub(crate) fn retrying(&mut self) {
        self.counters.retries += 1;
    }

    /// A sync attempt ran past its time limit; its thread still runs.
    pub(crate) fn worker_stuck(&mut self) {
        self.stuck += 1;
        self.settle();
    }

    /// A stuck attempt's thread returned. The queued fire may start now.
    pub(crate) fn worker_returned(
        &mut self,
        overlap: Overlap,
    ) -> Option<(Timestamp, Trigger, Admission)> {
        self.stuck = self.stuck.saturating_sub(1);
        self.settle();
        self.take_queued(overlap)
    }

    /// Records fires noticed too late and not run.
    pub(crate) fn missed(&mut self, n: u64) {
        self.counters.missed += n;
    }

    /// Records a fire not run before it was admitted.
    pub(crate) fn skipped(&mut self) {
        self.counters.skipped += 1;
    }

    fn take_queued(&mut self, overlap: Overlap) -> Option<(Timestamp, Trigger, Admission)> {
        if self.active() > 0 {
            return None;
        }
        let (at, trigger) = self.queued.take()?;
        let admission = match trigger {
            Trigger::Manual => self.admit_manual(overlap, at),
            _ => self.admit(overlap, at),
        };
        if admission == Admission::Skip(SkipReason::Removed) {
            return None;
        }
        if let Admission::Skip(_) = admission {
            self.skipped();
        }
        Some((at, trigger, admission))
    }

    /// Applies the record of a fire that was admitted (or started by hand):
    /// counts, failures, the cool-down, and the queued fire.
    pub(crate) fn apply(&mut self, r: &RunRecord, policy: &Policy) -> Applied {
        self.running = self.running.saturating_sub(1);
        let mut applied = Applied {
            failures_before: self.counters.consecutive_failures,
            ..Applied::default()
        };
        let c = &mut self.counters;
        match r.outcome {
            RunOutcome::Success => {
                c.successes += 1;
                c.last_success = Some(r.finished);
                if let Some(w) = &mut self.watch {
                    w.overdue = false;
                }
                c.consecutive_failures = 0;
                self.cool_down_len = policy.initial_timeout;
            }
            RunOutcome::SoftFailure => {
                c.errors += 1;
                c.consecutive_failures += 1;
            }
            RunOutcome::Failure | RunOutcome::TimedOut => {
                c.errors += 1;
                c.consecutive_failures += 1;
                // The first cool-down lasts initial_timeout; each failure
                // after it doubles the next, up to max_timeout (the Python
                // library's rule). A success resets it (above).
                let length = self.cool_down_len;
                let until = add(r.finished, length);
                self.cool_down_len = length.saturating_mul(2).min(policy.max_timeout);
                match self.phase {
                    Phase::Removed => {}
                    Phase::Paused { .. } => {
                        self.phase = Phase::Paused {
                            cool_down: Some(until),
                        };
                        applied.cool_down = Some((until, length));
                    }
                    _ => {
                        self.phase = Phase::CoolingDown { until };
                        applied.cool_down = Some((until, length));
                    }
                }
            }
            RunOutcome::Interrupted => {}
            RunOutcome::Skipped(_) => c.skipped += 1,
            RunOutcome::Missed(_) => c.missed += 1,
        }
        if r.attempts > 0 {
            self.counters.record_duration(r.duration());
            self.counters.last_outcome = Some(r.outcome);
        }
        applied.failures_after = self.counters.consecutive_failures;
        self.settle();
        applied.queued = self.take_queued(policy.overlap);
        applied
    }

    /// Pauses the bot (see the module docs).
    pub(crate) fn pause(&mut self) {
        self.phase = match self.phase {
            Phase::Removed => Phase::Removed,
            Phase::Paused { cool_down } => Phase::Paused { cool_down },
            Phase::CoolingDown { until } => Phase::Paused {
                cool_down: Some(until),
            },
            Phase::Idle | Phase::Running => Phase::Paused { cool_down: None },
        };
        self.queued = None;
    }

    /// Resumes a paused bot. Returns the end of the cool-down it goes back
    /// to, if one is still ahead (the recovery run is due then).
    pub(crate) fn resume(&mut self, now: Timestamp) -> Option<Timestamp> {
        let Phase::Paused { cool_down } = self.phase else {
            return None;
        };
        match cool_down {
            Some(until) if until > now => {
                self.phase = Phase::CoolingDown { until };
                Some(until)
            }
            _ => {
                self.phase = Phase::Idle;
                self.settle();
                None
            }
        }
    }

    /// What survives a restart (the store keeps the last scheduled
    /// instant itself, from the fires it is told of).
    pub(crate) fn saved(&self, bot: &str) -> SavedState {
        let (cool_down_until, paused) = match self.phase {
            Phase::CoolingDown { until } => (Some(until), false),
            Phase::Paused { cool_down } => (cool_down, true),
            _ => (None, false),
        };
        let mut s = SavedState::new(bot);
        s.cool_down_until = cool_down_until;
        s.cool_down_len = self.cool_down_len;
        s.consecutive_failures = self.counters.consecutive_failures;
        s.paused = paused;
        s
    }

    /// Takes back a saved state after a restart: the failure count, the
    /// next cool-down's length, a pause, a cool-down still ahead at `now`
    /// (one that ended while the process was down is over; the misfire
    /// policy decides what runs). A bot with runs in flight, or removed,
    /// keeps its phase.
    pub(crate) fn restore(&mut self, s: &SavedState, now: Timestamp, policy: &Policy) {
        self.counters.consecutive_failures = s.consecutive_failures;
        if !s.cool_down_len.is_zero() {
            self.cool_down_len = s.cool_down_len.min(policy.max_timeout);
        }
        if self.phase != Phase::Idle {
            return;
        }
        // Never longer than the longest cool-down from now (a clock that
        // was wrong when it was saved).
        let cool_down = s
            .cool_down_until
            .filter(|until| *until > now)
            .map(|until| until.min(add(now, policy.max_timeout)));
        if s.paused {
            self.phase = Phase::Paused { cool_down };
        } else if let Some(until) = cool_down {
            self.phase = Phase::CoolingDown { until };
        }
    }

    /// Removes the bot: nothing more starts.
    pub(crate) fn remove(&mut self) {
        self.phase = Phase::Removed;
        self.generation = self.generation.wrapping_add(1);
        self.next_fire = None;
        self.queued = None;
    }

    /// After the clock was set back far: a cool-down may not outlast the
    /// longest one (`max_timeout`) from the new now. Returns the new end, if
    /// it moved.
    pub(crate) fn clamp_cool_down(&mut self, now: Timestamp, max: Duration) -> Option<Timestamp> {
        match &mut self.phase {
            Phase::CoolingDown { until }
            | Phase::Paused {
                cool_down: Some(until),
            } => {
                let latest = add(now, max);
                (*until > latest).then(|| {
                    *until = latest;
                    latest
                })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn record(outcome: RunOutcome, finished: &str) -> RunRecord {
        let mut r = RunRecord::not_run("b", Trigger::Scheduled, None, t(finished), outcome, None);
        r.attempts = 1;
        r
    }

    fn policy() -> Policy {
        Policy {
            initial_timeout: Duration::from_secs(60),
            max_timeout: Duration::from_secs(1000),
            ..Policy::default()
        }
    }

    #[test]
    fn ok_cool_down_doubles_then_resets_after_a_success() {
        let p = policy();
        let mut st = BotRuntime::new(Vec::new(), &p);
        let mut lengths = Vec::new();
        for _ in 0..4 {
            st.start();
            let a = st.apply(&record(RunOutcome::Failure, "2025-01-01T00:00:00Z"), &p);
            lengths.push(a.cool_down.unwrap().1.as_secs());
            assert!(st.end_cool_down(t("2030-01-01T00:00:00Z")));
        }
        assert_eq!(lengths, [60, 120, 240, 480]);
        st.start();
        st.apply(&record(RunOutcome::Success, "2025-01-01T00:00:00Z"), &p);
        st.start();
        let a = st.apply(&record(RunOutcome::TimedOut, "2025-01-01T00:00:00Z"), &p);
        assert_eq!(
            a.cool_down,
            Some((t("2025-01-01T00:01:00Z"), Duration::from_secs(60)))
        );
        assert_eq!(a.failures_before, 0);
        assert_eq!(a.failures_after, 1);
    }

    #[test]
    fn ok_phases_follow_the_table() {
        let p = policy();
        let mut st = BotRuntime::new(Vec::new(), &p);
        let at = t("2025-01-01T00:00:00Z");
        assert_eq!(st.admit(Overlap::Skip, at), Admission::Start);
        assert_eq!(st.phase(), Phase::Running);
        assert_eq!(
            st.admit(Overlap::Skip, at),
            Admission::Skip(SkipReason::Overlap)
        );
        assert_eq!(st.admit(Overlap::Queue, at), Admission::Queued);
        assert_eq!(
            st.admit(Overlap::Queue, at),
            Admission::Skip(SkipReason::QueueFull)
        );
        assert_eq!(st.admit(Overlap::Concurrent(2), at), Admission::Start);
        assert_eq!(
            st.admit(Overlap::Concurrent(2), at),
            Admission::Skip(SkipReason::ConcurrencyLimit)
        );
        let ok = record(RunOutcome::Success, "2025-01-01T00:00:01Z");
        assert_eq!(st.apply(&ok, &p).queued, None, "one run still going");
        let a = st.apply(&ok, &p);
        assert_eq!(a.queued, Some((at, Trigger::Scheduled, Admission::Start)));
        assert_eq!(st.phase(), Phase::Running);
        st.apply(&ok, &p);
        assert_eq!(st.phase(), Phase::Idle);
        // Paused keeps a cool-down and gives it back on resume.
        st.start();
        let fail = record(RunOutcome::Failure, "2025-01-01T00:01:00Z");
        let until = st.apply(&fail, &p).cool_down.unwrap().0;
        st.pause();
        assert_eq!(
            st.admit(Overlap::Skip, at),
            Admission::Skip(SkipReason::Paused)
        );
        assert_eq!(st.resume(at), Some(until));
        assert_eq!(
            st.admit(Overlap::Skip, at),
            Admission::Skip(SkipReason::CoolDown)
        );
        assert!(!st.end_cool_down(at));
        assert!(st.end_cool_down(until));
        assert_eq!(st.admit(Overlap::Skip, until), Admission::Start);
        // A stuck thread counts as active for the overlap policy.
        st.apply(&ok, &p);
        st.start();
        st.worker_stuck();
        st.apply(&record(RunOutcome::TimedOut, "2025-01-01T00:00:00Z"), &p);
        assert!(st.end_cool_down(t("2026-01-01T00:00:00Z")));
        assert_eq!(
            st.admit(Overlap::Skip, at),
            Admission::Skip(SkipReason::Overlap)
        );
        assert_eq!(st.admit(Overlap::Queue, at), Admission::Queued);
        assert_eq!(
            st.worker_returned(Overlap::Queue),
            Some((at, Trigger::Scheduled, Admission::Start))
        );
        st.remove();
        assert_eq!(
            st.admit(Overlap::Skip, at),
            Admission::Skip(SkipReason::Removed)
        );
    }
}
