//! A precise timer for [`SystemClock`](super::SystemClock).
//!
//! tokio's timer wheel has a resolution of one millisecond and rounds every
//! deadline up to the next tick, so a fire due at a whole second starts about
//! a millisecond late. One dedicated thread parked on a condition variable
//! with the earliest deadline wakes within tens of microseconds (measured by
//! `bench/src/bin/scheduler.rs`), and with nothing to wait for it waits
//! without a timeout: no wake-ups at all. (DESIGN.md leaves this choice to
//! measurement.)

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Instant;

use tokio::sync::oneshot;

struct Shared {
    /// (deadline, sequence) -> sender, ordered by deadline.
    queue: Mutex<BinaryHeap<Reverse<Entry>>>,
    cv: Condvar,
}

struct Entry {
    at: Instant,
    seq: u64,
    tx: oneshot::Sender<()>,
}

crate::ordered_by_deadline!(Entry);

static TIMER: OnceLock<Option<Arc<Shared>>> = OnceLock::new();
static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn shared() -> Option<&'static Arc<Shared>> {
    TIMER
        .get_or_init(|| {
            let shared = Arc::new(Shared {
                queue: Mutex::new(BinaryHeap::new()),
                cv: Condvar::new(),
            });
            let s = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("botman-timer".to_owned())
                .spawn(move || run(&s))
                .ok()
                .map(|_| shared)
        })
        .as_ref()
}

fn run(shared: &Shared) {
    let mut queue = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let now = Instant::now();
        while queue.peek().is_some_and(|Reverse(e)| e.at <= now) {
            if let Some(Reverse(e)) = queue.pop() {
                // The sleeper may have gone (a cancelled select): fine.
                let _ = e.tx.send(());
            }
        }
        queue = match queue.peek().map(|Reverse(e)| e.at) {
            None => shared.cv.wait(queue).unwrap_or_else(|e| e.into_inner()),
            Some(at) => {
                let left = at.saturating_duration_since(now);
                shared
                    .cv
                    .wait_timeout(queue, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
        };
    }
}

/// Completes at `at` (within tens of microseconds), or at once if the timer
/// thread could not be started, in which case tokio's timer is used.
pub(crate) async fn sleep_until(at: Instant) {
    let Some(shared) = shared() else {
        tokio::time::sleep_until(at.into()).await;
        return;
    };
    let (tx, rx) = oneshot::channel();
    {
        let mut queue = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
        let earliest = queue.peek().is_none_or(|Reverse(e)| at < e.at);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        queue.push(Reverse(Entry { at, seq, tx }));
        if earliest {
            shared.cv.notify_one();
        }
    }
    let _ = rx.await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn wakes_in_deadline_order_and_not_before() {
        let start = Instant::now();
        let late = tokio::spawn(sleep_until(start + Duration::from_millis(30)));
        sleep_until(start + Duration::from_millis(10)).await;
        assert!(start.elapsed() >= Duration::from_millis(10));
        late.await.unwrap();
        assert!(start.elapsed() >= Duration::from_millis(30));
    }
}
