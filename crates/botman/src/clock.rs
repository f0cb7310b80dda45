//! Time, injected: every "now" and every sleep in botman goes through a
//! [`Clock`], so tests drive time with a [`ManualClock`] instead of sleeping.

use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::{Notify, watch};

use crate::util::lock;

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

    /// A future that completes when the clock is set back to before the
    /// instant it showed when this was called. The scheduler listens to it to
    /// notice a backward jump at once. Defaults to a future that never
    /// completes: the scheduler then notices a jump at its next wake-up,
    /// which [`SystemClock::MAX_SLEEP`] bounds.
    fn moved_back(&self) -> Sleep {
        Box::pin(std::future::pending())
    }
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

    fn moved_back(&self) -> Sleep {
        let mut rx = self.now.subscribe();
        let from = *rx.borrow_and_update();
        Box::pin(async move {
            if rx.wait_for(|now| *now < from).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

/// What a manager is doing, as far as time is concerned: how many of its
/// tasks are busy (the scheduler deciding, runs executing) and the
/// deadlines of those asleep on the clock. [`Botman::wait_idle`] waits until
/// nothing is busy and no sleeper's deadline has passed: then nothing more
/// happens until the clock moves (or a job returns).
///
/// [`Botman::wait_idle`]: crate::Botman::wait_idle
pub(crate) struct Activity {
    busy: AtomicUsize,
    /// Set when the scheduler is told to wake (a change to the heap), cleared
    /// when it looks at the heap again.
    woken: AtomicBool,
    /// Deadlines of tracked sleeps in progress: (deadline, id).
    sleeps: Mutex<BTreeSet<(Timestamp, u64)>>,
    next_id: AtomicU64,
    changed: Notify,
    waiters: AtomicUsize,
}

/// Counts one busy task until dropped.
pub(crate) struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
        self.0.signal();
    }
}

impl Activity {
    pub(crate) fn new() -> Arc<Activity> {
        Arc::new(Activity {
            busy: AtomicUsize::new(0),
            woken: AtomicBool::new(false),
            sleeps: Mutex::new(BTreeSet::new()),
            next_id: AtomicU64::new(0),
            changed: Notify::new(),
            waiters: AtomicUsize::new(0),
        })
    }

    /// Marks a task busy until the guard drops. Take it before spawning the
    /// task, so there is no moment when the work is nowhere.
    pub(crate) fn busy(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::SeqCst);
        Busy(Arc::clone(self))
    }

    /// Notes that the scheduler has something new to look at.
    pub(crate) fn wake(&self) {
        self.woken.store(true, Ordering::SeqCst);
    }

    /// The scheduler is looking at the heap: earlier wake requests are seen.
    pub(crate) fn woke(&self) {
        self.woken.store(false, Ordering::SeqCst);
    }

    /// Sleeps on `clock` until `deadline`, counted as not busy meanwhile. On
    /// waking, the task is counted busy again *before* its deadline is
    /// forgotten, so `idle` never sees a moment with neither.
    pub(crate) async fn sleep_until(&self, clock: &dyn Clock, deadline: Timestamp) {
        let mut sleep = std::pin::pin!(clock.sleep_until(deadline));
        self.sleep_on(deadline, sleep.as_mut()).await;
    }

    /// Awaits `fut`, counted asleep until `deadline` meanwhile (a sleep raced
    /// against something else, like the scheduler's wake-up).
    pub(crate) async fn sleep_on<F: Future>(
        &self,
        deadline: Timestamp,
        fut: Pin<&mut F>,
    ) -> F::Output {
        /// Undoes the sleep when the future ends or is dropped (cancelled):
        /// busy first, then the deadline forgotten.
        struct Asleep<'a>(&'a Activity, (Timestamp, u64));
        impl Drop for Asleep<'_> {
            fn drop(&mut self) {
                self.0.busy.fetch_add(1, Ordering::SeqCst);
                lock(&self.0.sleeps).remove(&self.1);
            }
        }
        let key = (deadline, self.next_id.fetch_add(1, Ordering::Relaxed));
        lock(&self.sleeps).insert(key);
        self.busy.fetch_sub(1, Ordering::SeqCst);
        self.signal();
        let _asleep = Asleep(self, key);
        fut.await
    }

    fn signal(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.changed.notify_waiters();
        }
    }

    fn idle(&self, now: Timestamp) -> bool {
        self.busy.load(Ordering::SeqCst) == 0
            && !self.woken.load(Ordering::SeqCst)
            && lock(&self.sleeps).first().is_none_or(|(d, _)| *d > now)
    }

    /// Waits (real time, at most `timeout`) until idle at `clock`'s now.
    pub(crate) async fn wait_idle(&self, clock: &dyn Clock, timeout: Duration) -> bool {
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.waiters);
        let check = async {
            loop {
                let changed = self.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if self.idle(clock.now()) {
                    return;
                }
                // The clock may move without telling us: look again soon.
                let _ = tokio::time::timeout(Duration::from_millis(5), changed).await;
            }
        };
        tokio::time::timeout(timeout, check).await.is_ok()
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

    #[tokio::test]
    async fn moved_back_completes_only_when_set_back() {
        let clock = ManualClock::new("2025-01-01T00:00:00Z".parse().unwrap());
        let back = tokio::spawn(clock.moved_back());
        clock.advance(Duration::from_secs(5));
        tokio::task::yield_now().await;
        assert!(!back.is_finished());
        clock.set("2024-12-31T23:59:59Z".parse().unwrap());
        tokio::time::timeout(Duration::from_secs(10), back)
            .await
            .expect("noticed")
            .unwrap();
    }

    #[tokio::test]
    async fn activity_is_idle_only_when_no_sleeper_is_due() {
        let clock = ManualClock::new("2025-01-01T00:00:00Z".parse().unwrap());
        let act = Activity::new();
        assert!(act.idle(clock.now()));
        let busy = act.busy();
        assert!(!act.idle(clock.now()));
        let deadline: Timestamp = "2025-01-01T00:00:10Z".parse().unwrap();
        let (a, c) = (Arc::clone(&act), clock.clone());
        let sleeper = tokio::spawn(async move {
            let _busy = busy;
            a.sleep_until(&c, deadline).await;
        });
        assert!(act.wait_idle(&clock, Duration::from_secs(10)).await);
        clock.advance(Duration::from_secs(10));
        // Due but not yet woken: not idle, whatever the task has done yet.
        assert!(!act.idle(clock.now()) || sleeper.is_finished());
        sleeper.await.unwrap();
        assert!(act.idle(clock.now()));
        act.wake();
        assert!(!act.idle(clock.now()));
        act.woke();
        assert!(act.idle(clock.now()));
    }
}
