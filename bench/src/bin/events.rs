//! Event throughput: events published per second (no subscribers, and
//! with 10 subscribers), and events delivered per second to 10 subscribers.
//! Run: `cargo run -p botman-bench --release --bin events`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use botman::{BotEvent, EventManager, EventType};

fn event(i: u64) -> BotEvent {
    let mut e = BotEvent::new("bench_bot", EventType::Info, "run succeeded");
    e.data = serde_json::json!({ "n": i });
    e
}

fn main() {
    const N: u64 = 1_000_000;
    // Publishing with nobody subscribed (the cost a bot pays when nobody listens).
    let em = EventManager::new();
    let events: Vec<BotEvent> = (0..N).map(event).collect();
    let t0 = Instant::now();
    for e in events {
        em.publish(e);
    }
    let dt = t0.elapsed().as_secs_f64();
    println!(
        "publish, 0 subscribers: {:.2} M events/s",
        N as f64 / dt / 1e6
    );

    // Ten subscribers, each counting; queues large enough to hold the run.
    let em = EventManager::new();
    let delivered = Arc::new(AtomicU64::new(0));
    let mut ids = Vec::new();
    for _ in 0..10 {
        let d = Arc::clone(&delivered);
        ids.push(em.subscribe_with_queue(
            "all",
            move |_| {
                d.fetch_add(1, Ordering::Relaxed);
            },
            &[],
            N as usize,
        ));
    }
    let events: Vec<BotEvent> = (0..N).map(event).collect();
    let t0 = Instant::now();
    for e in events {
        em.publish(e);
    }
    let publish = t0.elapsed().as_secs_f64();
    let ok = em.wait_until_empty(Duration::from_secs(120));
    let total = t0.elapsed().as_secs_f64();
    let dropped: u64 = ids
        .iter()
        .filter_map(|id| em.stats(*id))
        .map(|s| s.dropped)
        .sum();
    println!(
        "publish, 10 subscribers: {:.2} M events/s; delivered {} of {} ({} dropped) at {:.2} M deliveries/s ({:.0} k events/s to all 10){}",
        N as f64 / publish / 1e6,
        delivered.load(Ordering::Relaxed),
        N * 10,
        dropped,
        delivered.load(Ordering::Relaxed) as f64 / total / 1e6,
        N as f64 / total / 1e3,
        if ok { "" } else { " (timed out)" }
    );
}
