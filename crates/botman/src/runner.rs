//! The runner: executes one fire and returns its [`RunRecord`].
//!
//! A fire is up to `retries` attempts. Each attempt runs under the bot's
//! time limit: sync jobs on the manager's bounded pool of blocking threads,
//! async jobs polled in the run's task. A panic is caught and is a failed
//! attempt; a [`SoftError`](crate::SoftError) ends the fire at once. Between
//! attempts the runner waits as [`Policy::retry_delay`] says, on the clock.
//!
//! The runner decides nothing else: it never touches the store, the heap or
//! the bot's state. What it has to tell while the fire goes on (an attempt
//! failed, a thread is stuck) it tells its [`Observer`]; the scheduler
//! applies the record it returns.
//!
//! # Stuck sync jobs
//!
//! A thread cannot be killed. A sync attempt past its time limit is reported
//! as timed out at once; its thread is counted as stuck and, while fewer
//! than the pool's `max_stuck` threads are stuck, a replacement thread keeps
//! the pool at its size (issue #8, bug 2; `workers.rs`). Past that bound the
//! stuck thread keeps its place until it returns: the pool shrinks rather
//! than growing without limit. The bot counts the thread as active until it
//! returns, so its later fires follow its overlap policy. A sync job's time
//! limit counts from when it starts on a thread, not from when it waits for
//! one.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::oneshot;

use crate::bot::{Job, JobResult, Policy, is_soft};
use crate::clock::{Activity, Clock};
use crate::run::{RunContext, RunOutcome, RunRecord, Trigger};
use crate::store::RunId;
use crate::util::{add, lock, panic_message};

mod workers;
pub(crate) use workers::Workers;

/// What the runner tells while a fire goes on.
pub(crate) trait Observer: Send + Sync {
    /// The first attempt starts.
    fn started(&self, at: Timestamp);
    /// An attempt failed; `retry_at` is when the next starts, if one does.
    fn attempt_failed(&self, failure: &AttemptFailure);
    /// A sync attempt ran past its time limit (`Some(limit)`) or its run
    /// was stopped (`None`), and its thread still runs; `replaced`: its
    /// worker slot went to a replacement.
    fn worker_stuck(&self, replaced: bool, limit: Option<Duration>);
    /// A stuck thread returned (called on that thread).
    fn worker_returned(&self);
    /// An observer of the same run that a sync attempt's thread can keep:
    /// the thread may outlive the run (and tell when it returns).
    fn owned(&self) -> Arc<dyn Observer>;
}

/// One failed attempt.
#[derive(Debug)]
pub(crate) struct AttemptFailure {
    pub(crate) attempt: u32,
    pub(crate) of: u32,
    pub(crate) error: String,
    pub(crate) timed_out: bool,
    pub(crate) retry_at: Option<Timestamp>,
}

/// Everything a run needs, cheap to share between tasks.
pub(crate) struct Exec {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) workers: Arc<Workers>,
    pub(crate) rt: tokio::runtime::Handle,
    pub(crate) activity: Arc<Activity>,
}

/// What may stop a run before it ends: a newer fire replacing it
/// ([`Overlap::Replace`](crate::Overlap::Replace)) or the end of the
/// manager's shutdown grace. Either ends the run as
/// [`Interrupted`](RunOutcome::Interrupted).
pub(crate) struct Stops<'a> {
    pub(crate) replaced: &'a tokio_util::sync::CancellationToken,
    pub(crate) shutdown: &'a tokio_util::sync::CancellationToken,
}

/// The error of a run stopped by a newer fire.
pub(crate) const REPLACED: &str = "replaced by a newer fire (overlap: replace)";
/// The error of a run stopped at the end of the shutdown grace.
pub(crate) const SHUT_DOWN: &str = "stopped: the manager's shutdown grace ran out";

impl Stops<'_> {
    /// Resolves when either asks the run to stop, with the reason.
    async fn requested(&self) -> &'static str {
        tokio::select! {
            () = self.replaced.cancelled() => REPLACED,
            () = self.shutdown.cancelled() => SHUT_DOWN,
        }
    }
}

/// What one attempt produced.
enum Attempt {
    Ok(Option<serde_json::Value>),
    Soft(String),
    Failed { error: String, timed_out: bool },
    Interrupted(&'static str),
}

fn classify(result: JobResult) -> Attempt {
    match result {
        Ok(v) => Attempt::Ok(v),
        Err(e) if is_soft(e.as_ref()) => Attempt::Soft(e.to_string()),
        Err(e) => Attempt::Failed {
            error: e.to_string(),
            timed_out: false,
        },
    }
}

/// Which fire a run is: the bot, why it runs, its instant, its row.
pub(crate) struct Fire<'a> {
    pub(crate) bot: &'a std::sync::Arc<str>,
    pub(crate) trigger: Trigger,
    pub(crate) scheduled: Option<Timestamp>,
    pub(crate) run_id: Option<RunId>,
}

/// Executes one fire of a bot: its attempts, the waits between them, and
/// the record.
pub(crate) async fn run(
    exec: &Exec,
    fire: Fire<'_>,
    job: &Job,
    policy: &Policy,
    stops: &Stops<'_>,
    obs: &dyn Observer,
) -> RunRecord {
    let Fire {
        bot,
        trigger,
        scheduled,
        run_id,
    } = fire;
    let started = exec.clock.now();
    obs.started(started);
    let ctx = RunContext::new(
        std::sync::Arc::clone(bot),
        trigger,
        scheduled,
        started,
        run_id,
    );
    // Kept in locals, the record is made at the end.
    let (mut attempts, mut value, mut error, mut outcome) = (0, None, None, RunOutcome::Failure);
    for k in 1..=policy.retries {
        attempts = k;
        match attempt(exec, job, policy, &ctx, k, stops, obs).await {
            Attempt::Interrupted(why) => {
                error = Some(why.to_owned());
                outcome = RunOutcome::Interrupted;
                break;
            }
            Attempt::Ok(v) => {
                value = v;
                error = None;
                outcome = RunOutcome::Success;
                break;
            }
            Attempt::Soft(msg) => {
                error = Some(msg);
                outcome = RunOutcome::SoftFailure;
                break;
            }
            Attempt::Failed {
                error: error_now,
                timed_out,
            } => {
                // The deadline is fixed before the failure is told, so a
                // test that waits for the retry and then moves a manual clock
                // cannot move it.
                let retry_at =
                    (k < policy.retries).then(|| add(exec.clock.now(), policy.retry_delay(k)));
                obs.attempt_failed(&AttemptFailure {
                    attempt: k,
                    of: policy.retries,
                    error: error_now.clone(),
                    timed_out,
                    retry_at,
                });
                error = Some(error_now);
                outcome = if timed_out {
                    RunOutcome::TimedOut
                } else {
                    RunOutcome::Failure
                };
                if let Some(at) = retry_at {
                    // Boxed: rare, and it would enlarge every run's future.
                    let wait = Box::pin(exec.activity.sleep_until(&*exec.clock, at));
                    tokio::select! {
                        () = wait => {}
                        why = stops.requested() => {
                            error = Some(why.to_owned());
                            outcome = RunOutcome::Interrupted;
                            break;
                        }
                    }
                }
            }
        }
    }
    let mut record = RunRecord::not_run(bot, trigger, scheduled, started, outcome, error);
    record.attempts = attempts;
    record.value = value;
    record.output = ctx.take_output();
    record.finished = exec.clock.now();
    record
}

/// What a sync attempt's thread and the runner share.
struct Slot {
    /// The thread took the job ...
    began: bool,
    /// ... or found the run stopped while it waited for a thread, and
    /// skipped it.
    cancelled: bool,
    /// The thread returned.
    done: bool,
    /// The runner gave up on the thread (time limit) ...
    stuck: bool,
    /// ... and the pool replaced it.
    replaced: bool,
}

/// Runs attempt `k` of `job` under the time limit, until it ends or the
/// run is asked to stop.
async fn attempt(
    exec: &Exec,
    job: &Job,
    policy: &Policy,
    ctx: &RunContext,
    k: u32,
    stops: &Stops<'_>,
    obs: &dyn Observer,
) -> Attempt {
    let timed_out = || Attempt::Failed {
        error: format!(
            "timed out after {:?}",
            policy.time_limit.unwrap_or_default()
        ),
        timed_out: true,
    };
    match job {
        // Boxed: the sync attempt's state (channels, the slot) would
        // otherwise make every run's future larger, async ones included
        // (measured: 10,000 async runs at once copied 2.3 M more bytes).
        Job::Sync(f) => {
            Box::pin(sync_attempt(
                exec,
                f,
                policy,
                ctx.for_attempt(k),
                stops,
                obs,
            ))
            .await
        }
        Job::Async(f) => {
            // Fixed before the job is called.
            let deadline = policy.time_limit.map(|l| add(exec.clock.now(), l));
            let fut = match std::panic::catch_unwind(AssertUnwindSafe(|| f(ctx.for_attempt(k)))) {
                Ok(fut) => fut,
                Err(panic) => {
                    return Attempt::Failed {
                        error: panic_message(panic.as_ref()),
                        timed_out: false,
                    };
                }
            };
            // Polled inline in the run's task (no second task per run); a
            // panic while polling is caught like one in a thread. Dropping the
            // future on the time limit, or when the run is stopped, cancels
            // the job.
            let fut = CatchUnwind(fut);
            let joined = match deadline {
                None => tokio::select! {
                    r = fut => r,
                    why = stops.requested() => return Attempt::Interrupted(why),
                },
                Some(d) => {
                    tokio::select! {
                        r = fut => r,
                        () = exec.clock.sleep_until(d) => return timed_out(),
                        why = stops.requested() => return Attempt::Interrupted(why),
                    }
                }
            };
            match joined {
                Ok(result) => classify(result),
                Err(panic) => Attempt::Failed {
                    error: panic_message(panic.as_ref()),
                    timed_out: false,
                },
            }
        }
    }
}

/// One attempt of a sync job on the worker pool, under the time limit.
async fn sync_attempt(
    exec: &Exec,
    f: &Arc<dyn Fn(&RunContext) -> JobResult + Send + Sync>,
    policy: &Policy,
    ctx: RunContext,
    stops: &Stops<'_>,
    obs: &dyn Observer,
) -> Attempt {
    let timed_out = || Attempt::Failed {
        error: format!(
            "timed out after {:?}",
            policy.time_limit.unwrap_or_default()
        ),
        timed_out: true,
    };
    let (started_tx, started_rx) = oneshot::channel::<Timestamp>();
    let (done_tx, done_rx) = oneshot::channel();
    let slot = Arc::new(Mutex::new(Slot {
        began: false,
        cancelled: false,
        done: false,
        stuck: false,
        replaced: false,
    }));
    let (f, thread_slot, thread_obs) = (Arc::clone(f), Arc::clone(&slot), obs.owned());
    let (workers, clock) = (Arc::clone(&exec.workers), Arc::clone(&exec.clock));
    let com = policy.com;
    exec.workers.execute(Box::new(move || {
        {
            let mut s = lock(&thread_slot);
            if s.cancelled {
                return;
            }
            s.began = true;
        }
        // The limit counts from here, fixed before the job runs.
        let _ = started_tx.send(clock.now());
        let result = {
            let _com = crate::com::Apartment::enter(com);
            std::panic::catch_unwind(AssertUnwindSafe(|| f(&ctx)))
        };
        let stuck = {
            let mut s = lock(&thread_slot);
            s.done = true;
            s.stuck.then_some(s.replaced)
        };
        if let Some(replaced) = stuck {
            workers.stuck_ends(replaced);
            thread_obs.worker_returned();
        }
        let _ = done_tx.send(result);
    }));
    // Waiting for a free worker does not count against the limit. A run
    // stopped while it waits gives its job up, unless a thread took it
    // meanwhile.
    let mut started_rx = started_rx;
    let started = tokio::select! {
        r = &mut started_rx => r,
        why = stops.requested() => {
            let began = {
                let mut s = lock(&slot);
                s.cancelled = !s.began;
                s.began
            };
            if !began {
                return Attempt::Interrupted(why);
            }
            started_rx.await
        }
    };
    let Ok(started) = started else {
        return Attempt::Failed {
            error: "the worker pool could not run the job".to_owned(),
            timed_out: false,
        };
    };
    let deadline = policy.time_limit.map(|l| add(started, l));
    let mut done_rx = done_rx;
    // Past the limit, or asked to stop, the runner gives up on the thread:
    // it counts as stuck until it returns.
    let gave_up = tokio::select! {
        r = &mut done_rx => Ok(r),
        () = async {
            match deadline {
                Some(d) => exec.clock.sleep_until(d).await,
                None => std::future::pending().await,
            }
        } => Err(None),
        why = stops.requested() => Err(Some(why)),
    };
    let joined = match gave_up {
        Ok(r) => r,
        Err(why) => {
            // `None`: the thread returned meanwhile (not stuck);
            // `Some(replaced)`: it is stuck.
            let stuck = {
                let mut s = lock(&slot);
                if s.done {
                    None
                } else {
                    s.stuck = true;
                    s.replaced = exec.workers.stuck_begins();
                    Some(s.replaced)
                }
            };
            match (stuck, why) {
                (None, _) => done_rx.await,
                (Some(replaced), None) => {
                    obs.worker_stuck(replaced, policy.time_limit);
                    return timed_out();
                }
                (Some(replaced), Some(why)) => {
                    obs.worker_stuck(replaced, None);
                    return Attempt::Interrupted(why);
                }
            }
        }
    };
    match joined {
        Ok(Ok(result)) => classify(result),
        Ok(Err(panic)) => Attempt::Failed {
            error: panic_message(panic.as_ref()),
            timed_out: false,
        },
        Err(_) => Attempt::Failed {
            error: "the worker thread ended without an answer".to_owned(),
            timed_out: false,
        },
    }
}

/// Polls a boxed job future, turning a panic into an error value.
struct CatchUnwind(Pin<Box<dyn Future<Output = JobResult> + Send + 'static>>);

impl Future for CatchUnwind {
    type Output = Result<JobResult, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match std::panic::catch_unwind(AssertUnwindSafe(|| self.0.as_mut().poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_retry_delay_grows_and_is_capped() {
        let mut p = Policy::default();
        let secs = |p: &Policy| {
            (1..=8)
                .map(|k| p.retry_delay(k).as_secs())
                .collect::<Vec<_>>()
        };
        assert_eq!(secs(&p), [10, 20, 30, 40, 50, 60, 60, 60]);
        p.retry_delay = Duration::from_secs(1000);
        assert_eq!(secs(&p), [60; 8]);
        p.max_retry_delay = Duration::from_secs(3600);
        assert_eq!(p.retry_delay(3), Duration::from_secs(3000));
    }

    #[test]
    fn ok_panic_messages() {
        assert_eq!(panic_message(&"boom"), "panicked: boom");
        assert_eq!(panic_message(&String::from("bang")), "panicked: bang");
        assert_eq!(panic_message(&5u8), "panicked");
    }
}
