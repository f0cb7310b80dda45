//! A store for tests: another store's rows (a `MemoryStore` unless told),
//! shared or not as the test says, that fails every write while `failing`
//! is set, counts its begins, and can hold claims "another process" made.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use botman::jiff::Timestamp;
use botman::{
    Begun, HistoryPage, MemoryStore, RunEnd, RunId, RunStart, SavedState, Store, StoreError,
    StoreErrorKind, StoreFuture, StoredRun,
};

pub(crate) struct TestStore {
    inner: Arc<dyn Store>,
    shared: bool,
    /// Every write fails while set (as a full disk).
    pub(crate) failing: AtomicBool,
    /// `begin_runs` calls, failed ones included.
    pub(crate) calls: AtomicUsize,
    /// Fires claimed by "another process": their claims are lost.
    pub(crate) claimed_elsewhere: Mutex<HashSet<(String, Timestamp)>>,
}

impl TestStore {
    /// Over `inner`; `shared`: whether managers must claim their fires.
    pub(crate) fn over(inner: Arc<dyn Store>, shared: bool) -> Arc<TestStore> {
        Arc::new(TestStore {
            inner,
            shared,
            failing: AtomicBool::new(false),
            calls: AtomicUsize::new(0),
            claimed_elsewhere: Mutex::new(HashSet::new()),
        })
    }

    /// A shared store over a fresh `MemoryStore`.
    pub(crate) fn shared_memory() -> Arc<TestStore> {
        TestStore::over(Arc::new(MemoryStore::new()), true)
    }

    pub(crate) fn fail(&self, on: bool) {
        self.failing.store(on, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            Err(StoreError::with_kind(
                StoreErrorKind::Full,
                "database or disk is full",
            ))
        } else {
            Ok(())
        }
    }

    fn taken(&self, r: &RunStart) -> bool {
        r.claim
            && r.scheduled.is_some_and(|at| {
                self.claimed_elsewhere
                    .lock()
                    .unwrap()
                    .contains(&(r.bot.to_string(), at))
            })
    }
}

impl Store for TestStore {
    fn begin_runs<'a>(&'a self, runs: &'a [RunStart]) -> StoreFuture<'a, Vec<Begun>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            self.check()?;
            let mut out = Vec::with_capacity(runs.len());
            for r in runs {
                out.push(if self.taken(r) {
                    Begun::ClaimedElsewhere
                } else {
                    self.inner.begin_runs(std::slice::from_ref(r)).await?[0]
                });
            }
            Ok(out)
        })
    }
    fn end_runs<'a>(&'a self, ends: &'a [RunEnd]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.check()?;
            self.inner.end_runs(ends).await
        })
    }
    fn save_states<'a>(&'a self, states: &'a [SavedState]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.check()?;
            self.inner.save_states(states).await
        })
    }
    fn load_states(&self) -> StoreFuture<'_, Vec<SavedState>> {
        self.inner.load_states()
    }
    fn recover(&self, now: Timestamp) -> StoreFuture<'_, Vec<StoredRun>> {
        self.inner.recover(now)
    }
    fn history<'a>(
        &'a self,
        bot: &'a str,
        limit: usize,
        before: Option<RunId>,
    ) -> StoreFuture<'a, HistoryPage> {
        self.inner.history(bot, limit, before)
    }
    fn run(&self, id: RunId) -> StoreFuture<'_, Option<StoredRun>> {
        self.inner.run(id)
    }
    /// Reads work while writes fail (as with a lock held or a full disk).
    fn ping(&self) -> StoreFuture<'_, ()> {
        self.inner.ping()
    }
    fn is_shared(&self) -> bool {
        self.shared
    }
}
