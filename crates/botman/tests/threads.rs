//! The process's thread count does not grow with bots, event subscriptions
//! or webhooks (issue #8): 1,000 bots each posting to one Slack URL and
//! 1,000 event subscriptions, all busy at once. One test in this binary, so
//! the count is this scenario's own. Linux only (reads /proc).
#![cfg(all(target_os = "linux", feature = "webhooks"))]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use botman::{Bot, Botman, EventManager, JobError};

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

/// The names of the process's threads, counted: `botman-events x3, ...`.
fn names() -> String {
    let mut names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.flatten()
                .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
                .map(|n| {
                    let n = n.trim();
                    // botman-events-12 -> botman-events
                    n.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-')
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < names.len() {
        let n = names[i..].iter().take_while(|x| **x == names[i]).count();
        out.push(format!("{} x{n}", names[i]));
        i += n;
    }
    out.join(", ")
}

/// A one-thread HTTP server answering 200 to everything; counts requests.
fn fake_slack(requests: &Arc<AtomicU64>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
    let url = format!(
        "http://{}/services/T0/B0/X",
        listener.local_addr().expect("address")
    );
    let requests = Arc::clone(requests);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            requests.fetch_add(1, Ordering::SeqCst);
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    url
}

#[test]
fn threads_do_not_grow_with_bots_subscriptions_or_webhooks() {
    const BOTS: usize = 1000;
    // The test harness's own threads, and the fake Slack's one.
    let requests = Arc::new(AtomicU64::new(0));
    let url = fake_slack(&requests);
    let baseline = threads();
    let events = EventManager::new();
    // The defaults: ten sync jobs at once.
    let m = Botman::builder()
        .event_manager(events.clone())
        .build()
        .expect("manager");
    m.add_bots((0..BOTS).map(|i| {
        Bot::builder(format!("bot{i}"))
            .schedule("0 0 1 1 *")
            .slack_webhook(&url)
            .slack_event_types(&[botman::EventType::Error])
            .job(move || {
                if i % 100 == 0 {
                    Err::<(), JobError>("every hundredth bot fails".into())
                } else {
                    Ok(())
                }
            })
            .retries(1)
            .build()
            .expect("bot")
    }))
    .expect("bots");
    let delivered = Arc::new(AtomicUsize::new(0));
    for i in 0..BOTS {
        let d = Arc::clone(&delivered);
        events.subscribe(
            &format!("bot{i}"),
            move |_| {
                d.fetch_add(1, Ordering::Relaxed);
            },
            &[],
        );
    }
    m.start();
    // Sample the thread count while everything is busy.
    let peak = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicUsize::new(0));
    let at_peak = Arc::new(std::sync::Mutex::new(String::new()));
    let sampler = {
        let (peak, stop, at_peak) = (Arc::clone(&peak), Arc::clone(&stop), Arc::clone(&at_peak));
        std::thread::spawn(move || {
            while stop.load(Ordering::SeqCst) == 0 {
                let n = threads();
                if n > peak.fetch_max(n, Ordering::SeqCst) {
                    *at_peak.lock().unwrap() = names();
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    for h in m.run_all_bots() {
        h.wait().expect("ran");
    }
    assert!(events.wait_until_empty(Duration::from_secs(30)));
    m.stop();
    stop.store(1, Ordering::SeqCst);
    sampler.join().expect("sampler");
    assert_eq!(m.receivers().len(), 1, "one receiver for one URL");
    assert_eq!(
        requests.load(Ordering::SeqCst),
        10,
        "the ten failures were posted"
    );
    // Run started + succeeded, or started, attempt failed, failed and
    // cool-down entered: every event reached its subscriber.
    assert_eq!(delivered.load(Ordering::SeqCst), 990 * 2 + 10 * 4);
    // The sampler is one of the threads it counted.
    let ours = peak.load(Ordering::SeqCst) - baseline - 1;
    println!(
        "threads: {} at peak in the process, of which botman's: {ours} ({BOTS} bots on one Slack URL, {BOTS} subscriptions): {}",
        peak.load(Ordering::SeqCst),
        at_peak.lock().unwrap()
    );
    assert!(ours < 20, "botman started {ours} threads");
}
