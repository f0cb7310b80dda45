//! Executing one fire: attempts, delays between them, panics, soft errors,
//! the time limit, and the outcome.

use std::any::Any;
use std::future::{Future, IntoFuture};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::{Semaphore, oneshot};

use crate::bot::{Job, JobResult, MAX_RETRY_DELAY, Policy, is_soft};
use crate::clock::Clock;

/// Why a run was started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Trigger {
    /// A scheduled fire.
    Scheduled,
    /// `run_bot` / `run_all_bots`.
    Manual,
    /// The run at the end of a cool-down.
    Recovery,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum RunStatus {
    /// An attempt succeeded.
    Succeeded,
    /// Every attempt failed; the bot entered a cool-down.
    Failed,
    /// The job returned a [`SoftError`](crate::SoftError): no retry, no
    /// cool-down.
    SoftFailed,
    /// The manager stopped before the run could finish.
    Abandoned,
}

/// The outcome of one run, as [`RunHandle`] delivers it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RunOutcome {
    /// The bot.
    pub bot: String,
    /// Why it ran.
    pub trigger: Trigger,
    /// The scheduled instant (for scheduled and recovery runs).
    pub scheduled: Option<Timestamp>,
    /// When the first attempt started.
    pub started: Timestamp,
    /// When the run ended.
    pub finished: Timestamp,
    /// Attempts made.
    pub attempts: u32,
    /// How it ended.
    pub status: RunStatus,
    /// What the job returned on success, if it returned a value.
    pub value: Option<serde_json::Value>,
    /// The last error (panic messages and time-outs included).
    pub error: Option<String>,
}

impl RunOutcome {
    /// Whether the run succeeded.
    pub fn is_success(&self) -> bool {
        self.status == RunStatus::Succeeded
    }

    /// How long the run took.
    pub fn duration(&self) -> Duration {
        Duration::try_from(self.started.duration_until(self.finished)).unwrap_or_default()
    }
}

/// A run requested with `run_bot`: wait for its outcome with
/// [`wait`](RunHandle::wait) from plain code or `.await` in async code.
#[derive(Debug)]
pub struct RunHandle {
    pub(crate) rx: oneshot::Receiver<RunOutcome>,
}

impl RunHandle {
    /// Blocks until the run ends. `None` if the manager was dropped first.
    ///
    /// Do not call this from async code (it would block the runtime);
    /// `.await` the handle there.
    pub fn wait(self) -> Option<RunOutcome> {
        self.rx.blocking_recv().ok()
    }
}

impl IntoFuture for RunHandle {
    type Output = Option<RunOutcome>;
    type IntoFuture = Pin<Box<dyn std::future::Future<Output = Option<RunOutcome>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move { self.rx.await.ok() })
    }
}

/// What one attempt produced.
pub(crate) enum Attempt {
    Ok(Option<serde_json::Value>),
    Soft(String),
    Failed(String),
}

/// Everything an attempt needs, cheap to clone into a task.
#[derive(Clone)]
pub(crate) struct Exec {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) workers: Arc<Semaphore>,
    pub(crate) rt: tokio::runtime::Handle,
}

/// The delay before attempt `k + 1`: `retry_delay * k`, with `retry_delay`
/// capped at a minute as the Python library caps it (a bot configured with an
/// hour's delay would otherwise sit out most of its schedule).
pub(crate) fn retry_delay(policy: &Policy, k: u32) -> Duration {
    policy.retry_delay.min(MAX_RETRY_DELAY).saturating_mul(k)
}

pub(crate) fn panic_message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        format!("panicked: {s}")
    } else if let Some(s) = p.downcast_ref::<String>() {
        format!("panicked: {s}")
    } else {
        "panicked".to_owned()
    }
}

fn classify(result: JobResult) -> Attempt {
    match result {
        Ok(v) => Attempt::Ok(v),
        Err(e) if is_soft(e.as_ref()) => Attempt::Soft(e.to_string()),
        Err(e) => Attempt::Failed(e.to_string()),
    }
}

/// Runs one attempt of `job` under the time limit.
pub(crate) async fn attempt(exec: &Exec, job: &Job, policy: &Policy) -> Attempt {
    let deadline = policy
        .time_limit
        .and_then(|l| SignedDuration::try_from(l).ok())
        .and_then(|l| exec.clock.now().checked_add(l).ok());
    let limit_text = |l: Option<Duration>| format!("timed out after {:?}", l.unwrap_or_default());
    match job {
        Job::Sync(f) => {
            // The permit travels into the thread: a timed-out sync job keeps
            // its slot until it really returns, so the pool stays bounded.
            let Ok(permit) = Arc::clone(&exec.workers).acquire_owned().await else {
                return Attempt::Failed("the worker pool is closed".to_owned());
            };
            let f = Arc::clone(f);
            let com = policy.com;
            let mut handle = exec.rt.spawn_blocking(move || {
                let _permit = permit;
                let _com = crate::com::Apartment::enter(com);
                std::panic::catch_unwind(AssertUnwindSafe(|| f()))
            });
            let joined = match deadline {
                None => (&mut handle).await,
                Some(d) => {
                    tokio::select! {
                        r = &mut handle => r,
                        () = exec.clock.sleep_until(d) => return Attempt::Failed(limit_text(policy.time_limit)),
                    }
                }
            };
            match joined {
                Ok(Ok(result)) => classify(result),
                Ok(Err(panic)) => Attempt::Failed(panic_message(panic.as_ref())),
                Err(e) => Attempt::Failed(format!("the worker thread failed: {e}")),
            }
        }
        Job::Async(f) => {
            let fut = match std::panic::catch_unwind(AssertUnwindSafe(|| f())) {
                Ok(fut) => fut,
                Err(panic) => return Attempt::Failed(panic_message(panic.as_ref())),
            };
            // Polled inline in the run's task (no second task per run); a
            // panic while polling is caught like one in a thread. Dropping the
            // future on the time limit cancels the job.
            let fut = CatchUnwind(fut);
            let joined = match deadline {
                None => fut.await,
                Some(d) => {
                    tokio::select! {
                        r = fut => r,
                        () = exec.clock.sleep_until(d) => {
                            return Attempt::Failed(limit_text(policy.time_limit));
                        }
                    }
                }
            };
            match joined {
                Ok(result) => classify(result),
                Err(panic) => Attempt::Failed(panic_message(panic.as_ref())),
            }
        }
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
        assert_eq!(retry_delay(&p, 1), Duration::from_secs(10));
        assert_eq!(retry_delay(&p, 2), Duration::from_secs(20));
        assert_eq!(retry_delay(&p, 9), Duration::from_secs(90));
        p.retry_delay = Duration::from_secs(1000);
        assert_eq!(retry_delay(&p, 1), MAX_RETRY_DELAY);
        assert_eq!(retry_delay(&p, 2), 2 * MAX_RETRY_DELAY);
    }

    #[test]
    fn ok_panic_messages() {
        assert_eq!(panic_message(&"boom"), "panicked: boom");
        assert_eq!(panic_message(&String::from("bang")), "panicked: bang");
        assert_eq!(panic_message(&5u8), "panicked");
    }
}
