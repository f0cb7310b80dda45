//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::time::Duration;

use botman::jiff::Timestamp;
use botman::{Botman, ManualClock};

/// The longest a test waits (real time) for a consequence it expects.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

pub(crate) fn t(s: &str) -> Timestamp {
    s.parse().expect("instant")
}

pub(crate) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
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
