//! Time, injected: every "now" and every sleep in botman goes through a
//! [`Clock`], so tests drive time with a [`ManualClock`] instead of sleeping.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;

mod timer;

/// A boxed future returned by [`Clock::sleep_until`].
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The source of "now" and of sleeping until an instant.
///
/// Implementations must be cheap to call from many tasks at once.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> Timestamp;

    /// A future that completes once `now() >= deadline`.
    fn sleep_until(&self, deadline: Timestamp) -> Sleep;
}

/// The real clock: wall-clock "now", and a dedicated timer thread for
/// sleeping (tokio's timer rounds up to whole milliseconds; this one wakes
/// within tens of microseconds of the deadline).
///
/// Sleeps run on the monotonic clock and are re-checked against the wall
/// clock when they end, so a wall clock set backwards never fires anything
/// early. A sleep is capped at [`SystemClock::MAX_SLEEP`] so that a machine
/// that was suspended, or a wall clock set forwards, is noticed within that
/// time (the scheduler then applies its misfire policy).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl SystemClock {
    /// The longest single sleep (15 minutes): the bound on how late a fire
    /// can be noticed after a suspend or a forward clock jump, and the only
    /// wake-up an idle scheduler ever makes.
    pub const MAX_SLEEP: Duration = Duration::from_secs(15 * 60);
}

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn sleep_until(&self, deadline: Timestamp) -> Sleep {
        Box::pin(async move {
            loop {
                let left = Timestamp::now().duration_until(deadline);
                if left <= SignedDuration::ZERO {
                    return;
                }
                let left = Duration::try_from(left).unwrap_or(Duration::ZERO);
                timer::sleep_until(std::time::Instant::now() + left.min(SystemClock::MAX_SLEEP))
                    .await;
            }
        })
    }
}

/// A clock that moves only when told to: for tests, ours and yours.
///
/// Cloning gives another handle to the same clock. Tasks sleeping on it wake
/// as soon as [`advance`](ManualClock::advance) or [`set`](ManualClock::set)
/// moves it past their deadline, with no real time passing.
///
/// ```
/// use botman::{Clock, ManualClock};
/// use std::time::Duration;
///
/// let clock = ManualClock::new("2025-01-01T00:00:00Z".parse()?);
/// clock.advance(Duration::from_secs(90));
/// assert_eq!(clock.now().to_string(), "2025-01-01T00:01:30Z");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ManualClock {
    now: Arc<watch::Sender<Timestamp>>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock {
            now: Arc::new(watch::Sender::new(start)),
        }
    }

    /// Moves the clock forward by `by`, waking every sleeper now due.
    pub fn advance(&self, by: Duration) {
        let by = SignedDuration::try_from(by).unwrap_or(SignedDuration::MAX);
        self.now
            .send_modify(|t| *t = t.saturating_add(by).unwrap_or(*t));
    }

    /// Sets the clock to `to` (forwards or backwards), waking sleepers now due.
    pub fn set(&self, to: Timestamp) {
        self.now.send_replace(to);
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &*self.now.borrow())
            .finish()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.borrow()
    }

    fn sleep_until(&self, deadline: Timestamp) -> Sleep {
        let mut rx = self.now.subscribe();
        Box::pin(async move {
            // The sender lives as long as any ManualClock handle; if all are
            // gone, time can never reach the deadline, so sleep forever.
            if rx.wait_for(|now| *now >= deadline).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_clock_wakes_sleepers_when_advanced() {
        let clock = ManualClock::new("2025-01-01T00:00:00Z".parse().unwrap());
        let deadline: Timestamp = "2025-01-01T00:00:10Z".parse().unwrap();
        let sleep = tokio::spawn(clock.sleep_until(deadline));
        clock.advance(Duration::from_secs(5));
        tokio::task::yield_now().await;
        assert!(!sleep.is_finished());
        clock.advance(Duration::from_secs(5));
        sleep.await.unwrap();
        assert_eq!(clock.now(), deadline);
    }

    #[tokio::test]
    async fn past_deadlines_return_at_once() {
        let clock = ManualClock::new("2025-01-01T00:00:00Z".parse().unwrap());
        clock
            .sleep_until("2024-01-01T00:00:00Z".parse().unwrap())
            .await;
        SystemClock.sleep_until(Timestamp::UNIX_EPOCH).await;
    }
}
