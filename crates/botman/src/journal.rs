//! The write-behind journal: the ends of runs (with the bot's state after
//! each), the rows of fires that did not run, and bots' states, written to
//! the [`Store`](crate::Store) in batches behind the runs — a run never
//! waits for its row to be written, and a thousand runs ending at once are
//! a few store calls.
//!
//! A flush task runs only while there is something to write (no task, no
//! wake-up when idle). A store failure is counted, told once per failure
//! streak ([`EventKind::StoreFailed`]), and retried with backoff on the
//! manager's clock until it works ([`EventKind::StoreRecovered`]); the rows
//! wait meanwhile. Beyond [`JOURNAL_MAX`] waiting rows the oldest are
//! dropped, counted and told: nothing is lost silently.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::Notify;

use crate::events::{EventKind, EventType};
use crate::scheduler::Core;
use crate::store::{HistoryPage, RunEnd, RunId, SavedState, StoreError};
use crate::util::{add, lock};

/// Rows kept waiting while the store fails; older ones are dropped beyond.
pub(crate) const JOURNAL_MAX: usize = 100_000;

/// Rows written per store call.
const WRITE_BATCH: usize = 4_096;

const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// What waits to be written.
#[derive(Default)]
pub(crate) struct Journal {
    q: Mutex<Pending>,
    /// Signalled when the journal becomes empty.
    drained: Notify,
    /// Rows dropped because the store failed for too long.
    pub(crate) dropped: AtomicU64,
    /// Rows and states written.
    pub(crate) written: AtomicU64,
}

#[derive(Default)]
struct Pending {
    ends: VecDeque<RunEnd>,
    /// The latest state of each bot not yet written, in order of change.
    states: Vec<SavedState>,
    /// A flush task is running.
    flushing: bool,
    /// The last write failed (told; a success after it is told too).
    failing: bool,
}

impl Pending {
    fn put_state(&mut self, s: SavedState) {
        match self.states.iter_mut().find(|o| o.bot == s.bot) {
            Some(o) => *o = s,
            None => self.states.push(s),
        }
    }

    fn is_empty(&self) -> bool {
        self.ends.is_empty() && self.states.is_empty()
    }
}

impl Journal {
    /// Rows and states waiting to be written.
    pub(crate) fn pending(&self) -> usize {
        let q = lock(&self.q);
        q.ends.len() + q.states.len()
    }
}

impl Core {
    /// Queues a run's end (or a not-run fire's row) for the store.
    pub(crate) fn journal_end(self: &Arc<Self>, end: RunEnd) {
        let mut q = lock(&self.journal.q);
        q.ends.push_back(end);
        self.journal_kick(q);
    }

    /// Queues a bot's state for the store.
    pub(crate) fn journal_state(self: &Arc<Self>, state: SavedState) {
        let mut q = lock(&self.journal.q);
        q.put_state(state);
        self.journal_kick(q);
    }

    fn journal_kick(self: &Arc<Self>, mut q: std::sync::MutexGuard<'_, Pending>) {
        if q.flushing {
            return;
        }
        q.flushing = true;
        drop(q);
        let busy = self.exec.activity.busy();
        let core = Arc::clone(self);
        self.exec.rt.spawn(async move {
            let _busy = busy;
            core.flush_journal_task().await;
        });
    }

    async fn flush_journal_task(self: Arc<Self>) {
        let j = &self.journal;
        let mut delay = RETRY_FIRST;
        loop {
            let (ends, states) = {
                let mut q = lock(&j.q);
                if q.is_empty() {
                    q.flushing = false;
                    drop(q);
                    j.drained.notify_waiters();
                    return;
                }
                let n = q.ends.len().min(WRITE_BATCH);
                let ends: Vec<RunEnd> = q.ends.drain(..n).collect();
                (ends, std::mem::take(&mut q.states))
            };
            let mut failed = None;
            if !ends.is_empty() {
                match self.store.end_runs(&ends).await {
                    Ok(()) => {
                        j.written.fetch_add(ends.len() as u64, Ordering::Relaxed);
                    }
                    Err(e) => {
                        let mut q = lock(&j.q);
                        for end in ends.into_iter().rev() {
                            q.ends.push_front(end);
                        }
                        failed = Some(e);
                    }
                }
            }
            if !states.is_empty() {
                match self.store.save_states(&states).await {
                    Ok(()) => {
                        j.written.fetch_add(states.len() as u64, Ordering::Relaxed);
                    }
                    Err(e) => {
                        let mut q = lock(&j.q);
                        // States changed meanwhile are newer: they win.
                        let newer = std::mem::replace(&mut q.states, states);
                        for s in newer {
                            q.put_state(s);
                        }
                        failed = failed.or(Some(e));
                    }
                }
            }
            match failed {
                None => {
                    // A write went through: the store takes writes again.
                    self.begins_failing.store(false, Ordering::Relaxed);
                    let recovered = std::mem::take(&mut lock(&j.q).failing);
                    if recovered {
                        tracing::info!("the store records again");
                        self.emit_manager(
                            EventKind::StoreRecovered,
                            EventType::Info,
                            "the store records runs again",
                            serde_json::json!({"written": j.written.load(Ordering::Relaxed)}),
                        );
                    }
                    delay = RETRY_FIRST;
                }
                Some(e) => {
                    let retry_at = add(self.clock.now(), delay);
                    self.journal_failed(&e, retry_at);
                    self.exec.activity.sleep_until(&*self.clock, retry_at).await;
                    delay = delay.saturating_mul(2).min(RETRY_MAX);
                }
            }
        }
    }

    /// Counts a failed write, drops the oldest rows beyond the bound, and
    /// tells (once per failure streak, and whenever rows are dropped).
    fn journal_failed(&self, e: &StoreError, retry_at: Timestamp) {
        self.store_errors.fetch_add(1, Ordering::Relaxed);
        let (first, pending, dropped) = {
            let mut q = lock(&self.journal.q);
            let mut dropped = 0u64;
            while q.ends.len() > JOURNAL_MAX {
                q.ends.pop_front();
                dropped += 1;
            }
            let first = !std::mem::replace(&mut q.failing, true);
            (first, q.ends.len() + q.states.len(), dropped)
        };
        if dropped > 0 {
            self.journal.dropped.fetch_add(dropped, Ordering::Relaxed);
        }
        tracing::error!(error = %e, pending, dropped, retry_at = %retry_at, "the store could not record runs; retrying");
        if first || dropped > 0 {
            let description = if dropped > 0 {
                format!(
                    "the store could not record runs ({e}); {dropped} row(s) dropped beyond {JOURNAL_MAX} waiting; retrying at {retry_at}"
                )
            } else {
                format!(
                    "the store could not record runs ({e}); {pending} row(s) wait, retrying at {retry_at}"
                )
            };
            self.emit_manager(
                EventKind::StoreFailed,
                EventType::Error,
                &description,
                serde_json::json!({
                    "error": e.message(),
                    "kind": e.kind().as_str(),
                    "pending": pending,
                    "dropped": self.journal.dropped.load(Ordering::Relaxed),
                    "retry_at": retry_at,
                }),
            );
        }
    }

    /// Whether the store's last write failed: the journal's (until one
    /// succeeds), or the last begin of runs.
    pub(crate) fn writes_failing(&self) -> bool {
        lock(&self.journal.q).failing || self.begins_failing.load(Ordering::Relaxed)
    }

    /// A page of a bot's history, after what was recorded so far is written
    /// (waiting at most a second of real time for a store that fails).
    pub(crate) async fn history(
        &self,
        bot: &str,
        limit: usize,
        before: Option<RunId>,
    ) -> Result<HistoryPage, crate::Error> {
        self.flush_before_read().await;
        self.store
            .history(bot, limit, before)
            .await
            .map_err(crate::Error::store)
    }

    /// Before a read of runs: what was recorded so far is written, waiting
    /// at most a second of real time for a store that fails.
    pub(crate) async fn flush_before_read(&self) {
        let _ =
            tokio::time::timeout(Duration::from_secs(1), self.flush_journal(Timestamp::MAX)).await;
    }

    /// Waits until everything queued is written, or until `deadline` on the
    /// manager's clock. Returns whether it was all written.
    pub(crate) async fn flush_journal(&self, deadline: Timestamp) -> bool {
        let j = &self.journal;
        loop {
            let drained = j.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            {
                let q = lock(&j.q);
                if q.is_empty() && !q.flushing {
                    return true;
                }
            }
            tokio::select! {
                () = drained => {}
                () = self.clock.sleep_until(deadline) => return lock(&j.q).is_empty(),
            }
        }
    }
}
