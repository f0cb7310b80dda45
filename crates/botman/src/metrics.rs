//! Per-bot metrics: counters, state, last run and duration percentiles.

use std::time::Duration;

use jiff::Timestamp;

/// What a bot is doing now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BotState {
    /// Waiting for its next fire.
    Idle,
    /// A run is in progress.
    Running,
    /// Cooling down after a fire exhausted its attempts; see
    /// [`BotMetrics::timeout_until`].
    Timeout,
    /// The last fire failed (soft error, or the recovery run is pending).
    Error,
}

impl BotState {
    /// `"IDLE"`, `"RUNNING"`, `"TIMEOUT"` or `"ERROR"`, as the Python library.
    pub fn as_str(self) -> &'static str {
        match self {
            BotState::Idle => "IDLE",
            BotState::Running => "RUNNING",
            BotState::Timeout => "TIMEOUT",
            BotState::Error => "ERROR",
        }
    }
}

impl std::fmt::Display for BotState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A snapshot of one bot's metrics.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct BotMetrics {
    /// The bot's name.
    pub name: String,
    /// What the bot is doing now.
    pub state: BotState,
    /// Fires that started (scheduled, manual and recovery runs).
    pub runs: u64,
    /// Runs that succeeded.
    pub successes: u64,
    /// Runs that failed (after their attempts, or with a soft error).
    pub errors: u64,
    /// Attempts beyond the first.
    pub retries: u64,
    /// Fires not run because of overlap, cool-down, pause, or because
    /// another process claimed them.
    pub skipped: u64,
    /// Fires not run because they were noticed too late (misfire policy) or
    /// could not be claimed in time (store unavailable).
    pub missed: u64,
    /// When the last run started.
    pub last_run: Option<Timestamp>,
    /// How long the last finished run took.
    pub last_duration: Option<Duration>,
    /// Median run duration over the recent runs.
    pub duration_p50: Option<Duration>,
    /// 99th percentile run duration over the recent runs.
    pub duration_p99: Option<Duration>,
    /// Failed runs since the last success.
    pub consecutive_failures: u64,
    /// The next scheduled fire.
    pub next_run: Option<Timestamp>,
    /// End of the current cool-down, when in [`BotState::Timeout`].
    pub timeout_until: Option<Timestamp>,
    /// When the bot was added.
    pub since: Timestamp,
    /// Whether the bot is paused.
    pub paused: bool,
    /// Sync attempts of this bot past their time limit whose thread has not
    /// returned yet (each also counted in [`Botman::stuck_workers`](crate::Botman::stuck_workers)).
    pub stuck_workers: u64,
    /// When the last successful run ended (since the manager started).
    pub last_success: Option<Timestamp>,
    /// No run has succeeded within the bot's
    /// [`expect_success_within`](crate::BotBuilder::expect_success_within)
    /// window (until the next success).
    pub overdue: bool,
    /// [`Overdue`](crate::EventKind::Overdue) events published so far.
    pub overdue_alerts: u64,
    /// How the last run that ran ended (since the manager started; skipped
    /// and missed fires are not runs).
    pub last_outcome: Option<crate::RunOutcome>,
}

/// How many recent durations the percentiles are computed over.
const WINDOW: usize = 128;

/// The mutable counters behind [`BotMetrics`]. The duration window is
/// allocated on the first finished run, so an idle bot costs no more than
/// its counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) runs: u64,
    pub(crate) successes: u64,
    pub(crate) errors: u64,
    pub(crate) retries: u64,
    pub(crate) skipped: u64,
    pub(crate) missed: u64,
    pub(crate) consecutive_failures: u64,
    pub(crate) last_run: Option<Timestamp>,
    pub(crate) last_duration: Option<Duration>,
    pub(crate) last_success: Option<Timestamp>,
    pub(crate) overdue_alerts: u64,
    pub(crate) last_outcome: Option<crate::RunOutcome>,
    durations: Option<Box<Window>>,
}

#[derive(Debug)]
struct Window {
    micros: [u32; WINDOW],
    len: usize,
    next: usize,
}

impl Counters {
    pub(crate) fn record_duration(&mut self, d: Duration) {
        self.last_duration = Some(d);
        let w = self.durations.get_or_insert_with(|| {
            Box::new(Window {
                micros: [0; WINDOW],
                len: 0,
                next: 0,
            })
        });
        w.micros[w.next] = u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
        w.next = (w.next + 1) % WINDOW;
        w.len = (w.len + 1).min(WINDOW);
    }

    /// (p50, p99) over the window, nearest-rank.
    pub(crate) fn percentiles(&self) -> (Option<Duration>, Option<Duration>) {
        let Some(w) = &self.durations else {
            return (None, None);
        };
        if w.len == 0 {
            return (None, None);
        }
        let mut v: Vec<u32> = w.micros[..w.len].to_vec();
        v.sort_unstable();
        let rank = |p: usize| {
            let i = (p * v.len()).div_ceil(100).max(1) - 1;
            Duration::from_micros(u64::from(v[i.min(v.len() - 1)]))
        };
        (Some(rank(50)), Some(rank(99)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_percentiles_nearest_rank() {
        let mut c = Counters::default();
        assert_eq!(c.percentiles(), (None, None));
        for ms in 1..=100 {
            c.record_duration(Duration::from_millis(ms));
        }
        let (p50, p99) = c.percentiles();
        assert_eq!(p50, Some(Duration::from_millis(50)));
        assert_eq!(p99, Some(Duration::from_millis(99)));
        // The window keeps the most recent runs only.
        for _ in 0..WINDOW {
            c.record_duration(Duration::from_millis(7));
        }
        assert_eq!(
            c.percentiles(),
            (
                Some(Duration::from_millis(7)),
                Some(Duration::from_millis(7))
            )
        );
    }
}
