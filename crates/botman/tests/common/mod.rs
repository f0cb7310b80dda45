//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub(crate) mod store;

use std::future::Future;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use botman::jiff::Timestamp;
use botman::{BotMetrics, Botman, JobError, ManualClock};

/// The longest a test waits (real time) for a consequence it expects.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// The longest a whole test may take before it fails (instead of hanging).
pub(crate) const TEST_LIMIT: Duration = Duration::from_secs(60);

pub(crate) fn t(s: &str) -> Timestamp {
    s.parse().expect("instant")
}

pub(crate) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Runs an async test body on its own two-thread runtime. The body fails
/// after [`TEST_LIMIT`] instead of hanging, and a runtime whose blocking
/// threads are still stuck (a job that never returned) is left behind
/// rather than waited for, so a failed assertion fails the test.
pub(crate) fn run<F: Future<Output = ()>>(body: F) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async {
            tokio::time::timeout(TEST_LIMIT, body)
                .await
                .expect("the test timed out")
        })
    }));
    rt.shutdown_timeout(Duration::from_secs(1));
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// A manager on a manual clock.
pub(crate) fn manager(clock: &ManualClock) -> Botman {
    Botman::builder()
        .clock(clock.clone())
        .build()
        .expect("manager")
}

/// Waits until `f` holds for bot `name`'s metrics; fails the test (with the
/// metrics) if it does not within [`WAIT`].
pub(crate) async fn until(m: &Botman, name: &str, what: &str, f: impl Fn(&BotMetrics) -> bool) {
    let ok = m
        .wait_until(WAIT, |all| {
            all.iter().find(|b| b.name == name).is_some_and(&f)
        })
        .await;
    assert!(
        ok,
        "timed out waiting for {name}: {what}; metrics: {:?}",
        m.metrics_of(name)
    );
}

/// Waits until the manager is idle (nothing more happens before the clock
/// moves); fails the test if it does not become idle.
pub(crate) async fn idle(m: &Botman) {
    assert!(m.wait_idle(WAIT).await, "the manager never became idle");
}

/// A latch that blocking jobs wait on. Dropping the `Gate` (the test's end,
/// or a failed assertion unwinding) opens it, so no job is left blocked.
pub(crate) struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    /// A closed gate and a job that blocks until it opens, then succeeds.
    pub(crate) fn new() -> (
        Gate,
        impl Fn() -> Result<(), JobError> + Send + Sync + 'static,
    ) {
        let g = Arc::new((Mutex::new(false), Condvar::new()));
        let inner = Arc::clone(&g);
        (Gate(g), move || {
            let (lock, cv) = &*inner;
            let mut open = lock.lock().unwrap_or_else(|e| e.into_inner());
            while !*open {
                open = cv.wait(open).unwrap_or_else(|e| e.into_inner());
            }
            Ok(())
        })
    }

    pub(crate) fn open(&self) {
        *self.0.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.0.1.notify_all();
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.open();
    }
}

/// Moves the clock a minute at a time and checks the manager's first bot
/// succeeds once per minute: its fires are on time whatever else is going on.
pub(crate) async fn assert_fires_each_minute(m: &Botman, clock: &ManualClock, minutes: u64) {
    let before = m.metrics()[0].successes;
    for k in 1..=minutes {
        clock.advance(secs(60));
        assert!(
            m.wait_until(WAIT, |b| b[0].successes == before + k).await,
            "fire {k} on time"
        );
    }
}
