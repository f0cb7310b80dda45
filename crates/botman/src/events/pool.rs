//! The shared delivery pool: a few threads for every callback subscription
//! of every [`EventManager`](super::EventManager) in the process.
//!
//! Each subscription has a mailbox: a bounded queue and a flag saying
//! whether it waits in the pool's run queue (or is being delivered). A
//! mailbox is in the run queue at most once, so one thread at a time
//! delivers it and its events arrive in publication order. A thread
//! delivers up to [`BATCH`] events of a mailbox, then puts it back at the
//! end of the run queue, so a busy subscriber cannot hog a thread while
//! others wait.
//!
//! The pool runs up to [`BASE`] threads, and adds one (up to [`MAX`]) when
//! work waits, no thread is idle and one of them has been delivering for
//! longer than [`SLOW`]: a subscriber whose callback blocks holds one
//! thread, and the others go on. Fast callbacks never grow the pool, however
//! many subscriptions there are. The check is made when work arrives (an
//! event is published) or is taken, so while every thread is blocked, the
//! next publication starts a new one. Threads beyond [`BASE`] leave after
//! [`IDLE_EXIT`] without work. The thread count is bounded whatever the
//! number of subscriptions (issue #8): up to `MAX - 1` callbacks may block
//! at once before the rest wait.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::{BotEvent, Callback, Forward, SubStats};
use crate::util::lock;

/// Threads kept while idle.
pub(crate) const BASE: usize = 2;
/// The most delivery threads.
pub(crate) const MAX: usize = 6;
/// A thread delivering for longer than this may be blocked in a callback.
const SLOW: Duration = Duration::from_millis(10);
/// Events delivered from one mailbox before others get a turn.
const BATCH: usize = 256;
/// How long a thread beyond `BASE` waits for work before it leaves.
const IDLE_EXIT: Duration = Duration::from_secs(2);

/// Delivery switched on and off by `EventManager::start`/`stop`, and the
/// mailboxes that found it off.
pub(crate) struct Switch {
    on: AtomicBool,
    parked: Mutex<Vec<Arc<Mailbox>>>,
    /// Events for inline subscribers (receivers) published while off.
    held: Mutex<Vec<Held>>,
}

/// An event held for an inline subscriber while delivery is off.
type Held = (Arc<dyn Forward>, Arc<BotEvent>);

impl Switch {
    pub(crate) fn new() -> Switch {
        Switch {
            on: AtomicBool::new(true),
            parked: Mutex::new(Vec::new()),
            held: Mutex::new(Vec::new()),
        }
    }

    /// Feeds an inline subscriber now, or when delivery is switched on
    /// again.
    pub(crate) fn forward(&self, to: &Arc<dyn Forward>, event: &Arc<BotEvent>) {
        if !to.accept(event) {
            return;
        }
        if self.on.load(Ordering::SeqCst) {
            to.enqueue(Arc::clone(event));
            return;
        }
        let mut held = lock(&self.held);
        // `start` sets the switch under this lock: look again.
        if self.on.load(Ordering::SeqCst) {
            drop(held);
            to.enqueue(Arc::clone(event));
        } else {
            held.push((Arc::clone(to), Arc::clone(event)));
        }
    }

    pub(crate) fn stop(&self) {
        self.on.store(false, Ordering::SeqCst);
    }

    pub(crate) fn start(&self) {
        let (parked, held) = {
            let mut parked = lock(&self.parked);
            let mut held = lock(&self.held);
            self.on.store(true, Ordering::SeqCst);
            (std::mem::take(&mut *parked), std::mem::take(&mut *held))
        };
        for (to, event) in held {
            to.enqueue(event);
        }
        for mb in parked {
            pool().submit(mb);
        }
    }
}

/// What an `EventManager` counts across its subscriptions.
pub(crate) struct Pending {
    /// Events queued and not yet delivered, over all its mailboxes.
    pub(crate) count: AtomicU64,
    /// Signalled when `count` reaches zero.
    pub(crate) drained: (Mutex<()>, Condvar),
}

impl Pending {
    pub(crate) fn new() -> Pending {
        Pending {
            count: AtomicU64::new(0),
            drained: (Mutex::new(()), Condvar::new()),
        }
    }

    /// Counts `n` events on their way (before they are queued).
    pub(crate) fn add(&self, n: u64) {
        self.count.fetch_add(n, Ordering::SeqCst);
    }

    /// `n` events delivered or dropped.
    pub(crate) fn done(&self, n: u64) {
        if n > 0 && self.count.fetch_sub(n, Ordering::SeqCst) == n {
            let _guard = lock(&self.drained.0);
            self.drained.1.notify_all();
        }
    }
}

/// One subscription's queue.
pub(crate) struct Mailbox {
    queue: Mutex<Queue>,
    capacity: usize,
    callback: Callback,
    pub(crate) stats: Arc<SubStats>,
    switch: Arc<Switch>,
    pending: Arc<Pending>,
}

struct Queue {
    events: VecDeque<Arc<BotEvent>>,
    /// In the run queue, parked, or being delivered.
    scheduled: bool,
    /// Taken out for delivery in the current batch, not yet counted.
    in_hand: usize,
}

impl Mailbox {
    pub(crate) fn new(
        capacity: usize,
        callback: Callback,
        stats: Arc<SubStats>,
        switch: Arc<Switch>,
        pending: Arc<Pending>,
    ) -> Arc<Mailbox> {
        Arc::new(Mailbox {
            queue: Mutex::new(Queue {
                events: VecDeque::new(),
                scheduled: false,
                in_hand: 0,
            }),
            capacity: capacity.max(1),
            callback,
            stats,
            switch,
            pending,
        })
    }

    /// Queues an event; never blocks beyond the queue's lock. A full queue
    /// drops it and counts the drop.
    /// The caller has counted the event in `pending` (once for all
    /// subscribers: one contended atomic per publication, not one per
    /// subscriber).
    pub(crate) fn push(self: &Arc<Self>, event: &Arc<BotEvent>) {
        let submit = {
            let mut q = lock(&self.queue);
            if q.events.len() >= self.capacity {
                drop(q);
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                self.pending.done(1);
                return;
            }
            q.events.push_back(Arc::clone(event));
            !std::mem::replace(&mut q.scheduled, true)
        };
        if submit {
            pool().submit(Arc::clone(self));
        }
    }

    /// Delivers up to `BATCH` events. Returns whether the mailbox must go
    /// back to the run queue.
    fn deliver(self: &Arc<Self>, batch: &mut Vec<Arc<BotEvent>>) -> bool {
        if !self.switch.on.load(Ordering::SeqCst) && self.park() {
            return false;
        }
        // One lock for the batch, not one per event: the publisher and the
        // delivery thread contend for this queue.
        {
            let mut q = lock(&self.queue);
            if q.events.is_empty() {
                q.scheduled = false;
                return false;
            }
            let n = q.events.len().min(BATCH);
            batch.extend(q.events.drain(..n));
            q.in_hand = n;
        }
        let mut delivered = 0;
        let mut events = batch.drain(..);
        while let Some(event) = events.next() {
            let cb = &self.callback;
            if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(&event))) {
                self.stats.panicked.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    panic = %crate::util::panic_message(p.as_ref()),
                    bot = %event.bot_name,
                    "an event subscriber panicked; it stays subscribed"
                );
            }
            delivered += 1;
            if !self.switch.on.load(Ordering::SeqCst) {
                // Stopped mid-batch: the rest go back, in order, to wait.
                let rest: Vec<Arc<BotEvent>> = events.collect();
                let mut q = lock(&self.queue);
                for e in rest.into_iter().rev() {
                    q.events.push_front(e);
                }
                q.in_hand = 0;
                drop(q);
                self.delivered(delivered);
                return !self.park();
            }
        }
        drop(events);
        lock(&self.queue).in_hand = 0;
        self.delivered(delivered);
        true
    }

    /// Parks the mailbox while delivery is off. Returns whether it parked
    /// (false: delivery came back on meanwhile).
    fn park(self: &Arc<Self>) -> bool {
        let mut parked = lock(&self.switch.parked);
        // `start` sets the switch under this lock: look again.
        if self.switch.on.load(Ordering::SeqCst) {
            return false;
        }
        parked.push(Arc::clone(self));
        true
    }

    /// Events waiting in the queue, and those taken for delivery but not
    /// delivered yet.
    pub(crate) fn queued(&self) -> usize {
        let q = lock(&self.queue);
        q.events.len() + q.in_hand
    }

    /// Counts a batch's deliveries (once per batch: the counters are shared
    /// with the publisher).
    fn delivered(&self, n: u64) {
        self.stats.delivered.fetch_add(n, Ordering::SeqCst);
        self.pending.done(n);
    }
}

struct Pool {
    state: Mutex<PoolState>,
    work: Condvar,
}

struct PoolState {
    runnable: VecDeque<Arc<Mailbox>>,
    threads: usize,
    idle: usize,
    /// Threads ever started (for their names, and as keys of `delivering`).
    started: u64,
    /// When each thread now delivering began its batch.
    delivering: Vec<(u64, Instant)>,
}

impl PoolState {
    /// Whether another thread is wanted: fewer than `BASE`, or one of them
    /// seems blocked in a callback.
    fn wants_thread(&self) -> bool {
        self.threads < BASE
            || (self.threads < MAX
                && self
                    .delivering
                    .iter()
                    .any(|(_, since)| since.elapsed() > SLOW))
    }
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        state: Mutex::new(PoolState {
            runnable: VecDeque::new(),
            threads: 0,
            idle: 0,
            started: 0,
            delivering: Vec::new(),
        }),
        work: Condvar::new(),
    })
}

impl Pool {
    fn submit(&'static self, mb: Arc<Mailbox>) {
        let mut st = lock(&self.state);
        st.runnable.push_back(mb);
        if st.idle > 0 {
            self.work.notify_one();
        } else if st.wants_thread() {
            self.grow(&mut st);
        }
    }

    /// Starts a thread.
    fn grow(&'static self, st: &mut PoolState) {
        st.started += 1;
        let me = st.started;
        let spawned = std::thread::Builder::new()
            .name(format!("botman-events-{me}"))
            .spawn(move || self.work_loop(me));
        match spawned {
            Ok(_) => st.threads += 1,
            Err(e) => {
                tracing::error!(error = %e, "could not start an event delivery thread");
            }
        }
    }

    fn work_loop(&'static self, me: u64) {
        let mut batch = Vec::with_capacity(BATCH);
        let mut st = lock(&self.state);
        loop {
            if let Some(mb) = st.runnable.pop_front() {
                if !st.runnable.is_empty() && st.idle == 0 && st.wants_thread() {
                    self.grow(&mut st);
                }
                st.delivering.push((me, Instant::now()));
                drop(st);
                let again = mb.deliver(&mut batch);
                st = lock(&self.state);
                st.delivering.retain(|(t, _)| *t != me);
                if again {
                    st.runnable.push_back(mb);
                }
                continue;
            }
            st.idle += 1;
            let (guard, timeout) = if st.threads > BASE {
                let (g, t) = self
                    .work
                    .wait_timeout(st, IDLE_EXIT)
                    .unwrap_or_else(|e| e.into_inner());
                (g, t.timed_out())
            } else {
                (self.work.wait(st).unwrap_or_else(|e| e.into_inner()), false)
            };
            st = guard;
            st.idle -= 1;
            if timeout && st.runnable.is_empty() && st.threads > BASE {
                st.threads -= 1;
                return;
            }
        }
    }
}
