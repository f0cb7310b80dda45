//! The pool of threads sync jobs run on: at most `size` jobs at once, each
//! on a thread of the pool, started when needed and gone after
//! [`IDLE_EXIT`] without work.
//!
//! The pool counts its threads itself (rather than using tokio's blocking
//! pool behind a semaphore, which starts a new thread whenever the last one
//! has not yet gone back to waiting), so it never runs more threads than
//! jobs it may run: `size`, plus the replacements of stuck threads.
//!
//! A thread cannot be killed. When a job runs past its time limit, the
//! runner gives up on it: while fewer than `max_stuck` threads are stuck,
//! the pool may start one more thread so it keeps running `size` jobs at
//! once; past that bound the stuck thread keeps its place until it returns
//! (the pool runs one job fewer). A stuck thread that returns leaves the
//! pool if it has been replaced.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::util::lock;

/// How long a thread waits for work before it leaves.
const IDLE_EXIT: Duration = Duration::from_secs(10);

type Task = Box<dyn FnOnce() + Send + 'static>;

/// The bounded pool of threads sync jobs run on.
pub(crate) struct Workers {
    state: Mutex<State>,
    work: Condvar,
    rt: tokio::runtime::Handle,
    size: usize,
    max_stuck: usize,
    /// Threads past their time limit that have not returned.
    stuck: AtomicUsize,
}

struct State {
    queue: VecDeque<Task>,
    threads: usize,
    idle: usize,
    /// Stuck threads replaced: the pool may run `size + replaced` threads.
    replaced: usize,
    /// Threads ever started (for their names).
    started: u64,
}

impl Workers {
    /// A pool running up to `size` jobs at once, replacing up to
    /// `max_stuck` stuck threads. Jobs see `rt` as their current runtime.
    pub(crate) fn new(size: usize, max_stuck: usize, rt: tokio::runtime::Handle) -> Arc<Workers> {
        Arc::new(Workers {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                threads: 0,
                idle: 0,
                replaced: 0,
                started: 0,
            }),
            work: Condvar::new(),
            rt,
            size: size.max(1),
            max_stuck,
            stuck: AtomicUsize::new(0),
        })
    }

    /// Threads past their time limit that have not returned yet.
    pub(crate) fn stuck(&self) -> usize {
        self.stuck.load(Ordering::SeqCst)
    }

    /// Threads alive now.
    #[cfg(test)]
    fn threads(&self) -> usize {
        lock(&self.state).threads
    }

    /// Runs `task` on a pool thread, now or when one is free (in order).
    pub(crate) fn execute(self: &Arc<Self>, task: Task) {
        let mut st = lock(&self.state);
        st.queue.push_back(task);
        if st.idle > 0 {
            self.work.notify_one();
        }
        // Every waiting job needs a thread: idle ones are spoken for by the
        // jobs queued before, so start another while the pool has room.
        if st.queue.len() > st.idle && st.threads < self.size + st.replaced {
            self.spawn(&mut st);
        }
    }

    fn spawn(self: &Arc<Self>, st: &mut State) {
        st.started += 1;
        let me = Arc::clone(self);
        match std::thread::Builder::new()
            .name(format!("botman-worker-{}", st.started))
            .spawn(move || me.work_loop())
        {
            Ok(_) => st.threads += 1,
            Err(e) => {
                tracing::error!(error = %e, "could not start a worker thread; sync jobs wait for the others");
            }
        }
    }

    fn work_loop(self: Arc<Self>) {
        // Jobs see the manager's runtime as theirs (`Handle::current()`).
        let _rt = self.rt.enter();
        let mut st = lock(&self.state);
        loop {
            if let Some(task) = st.queue.pop_front() {
                drop(st);
                task();
                st = lock(&self.state);
                continue;
            }
            if st.threads > self.size + st.replaced {
                // A replaced thread came back: the pool is full without it.
                st.threads -= 1;
                return;
            }
            st.idle += 1;
            let (guard, timeout) = self
                .work
                .wait_timeout(st, IDLE_EXIT)
                .unwrap_or_else(|e| e.into_inner());
            st = guard;
            st.idle -= 1;
            if timeout.timed_out() && st.queue.is_empty() {
                st.threads -= 1;
                return;
            }
        }
    }

    /// A running job's thread is given up on (time limit). Returns whether
    /// a replacement may start (the pool was under its bound).
    pub(crate) fn stuck_begins(self: &Arc<Self>) -> bool {
        self.stuck.fetch_add(1, Ordering::SeqCst);
        let mut st = lock(&self.state);
        let replaced = st.replaced < self.max_stuck;
        if replaced {
            st.replaced += 1;
            if !st.queue.is_empty() && st.idle == 0 {
                self.spawn(&mut st);
            }
        }
        replaced
    }

    /// A stuck thread returned (called on it, before it looks for work).
    pub(crate) fn stuck_ends(&self, replaced: bool) {
        self.stuck.fetch_sub(1, Ordering::SeqCst);
        if replaced {
            lock(&self.state).replaced -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn ok_runs_at_most_size_at_once_and_replaces_stuck_threads() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let pool = Workers::new(2, 1, rt.handle().clone());
        let (started_tx, started) = mpsc::channel();
        let gates: Vec<_> = (0..4).map(|_| mpsc::channel::<()>()).collect();
        let mut releases = Vec::new();
        for (i, (tx, rx)) in gates.into_iter().enumerate() {
            let started_tx = started_tx.clone();
            releases.push(tx);
            pool.execute(Box::new(move || {
                started_tx.send(i).unwrap();
                let _ = rx.recv();
            }));
        }
        let mut first = vec![started.recv().unwrap(), started.recv().unwrap()];
        first.sort();
        assert_eq!(first, [0, 1], "in order, two at once");
        assert!(started.recv_timeout(Duration::from_millis(50)).is_err());
        assert_eq!(pool.threads(), 2);
        // Job 0 is stuck: a replacement runs job 2.
        assert!(pool.stuck_begins());
        assert_eq!(started.recv().unwrap(), 2);
        assert_eq!(pool.threads(), 3);
        // Job 1 is stuck too: past the bound, no replacement.
        assert!(!pool.stuck_begins());
        assert!(started.recv_timeout(Duration::from_millis(50)).is_err());
        assert_eq!(pool.stuck(), 2);
        // The stuck jobs return; job 3 runs; the pool shrinks back to two.
        pool.stuck_ends(true);
        pool.stuck_ends(false);
        drop(releases.remove(0));
        assert_eq!(started.recv().unwrap(), 3);
        drop(releases);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while pool.threads() > 2 && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert_eq!(pool.threads(), 2);
        assert_eq!(pool.stuck(), 0);
    }

    /// Two jobs arriving while one thread is idle: the second must not wait
    /// behind the first while the pool has room (a job of the first kind may
    /// block).
    #[test]
    fn ok_two_jobs_for_one_idle_thread_do_not_queue_behind_each_other() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let pool = Workers::new(2, 0, rt.handle().clone());
        let (done_tx, done) = mpsc::channel();
        let tx = done_tx.clone();
        pool.execute(Box::new(move || tx.send(0).unwrap()));
        assert_eq!(done.recv(), Ok(0));
        while lock(&pool.state).idle == 0 {
            std::thread::yield_now();
        }
        let (release, blocked) = mpsc::channel::<()>();
        pool.execute(Box::new(move || {
            let _ = blocked.recv();
        }));
        let tx = done_tx.clone();
        pool.execute(Box::new(move || tx.send(2).unwrap()));
        assert_eq!(
            done.recv_timeout(Duration::from_secs(5)),
            Ok(2),
            "the second job waited behind the first with a free slot in the pool"
        );
        drop(release);
    }
}
