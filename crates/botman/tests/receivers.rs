//! Receivers against a real HTTP server on 127.0.0.1 (real TCP), started
//! inside each test and scripted per request.

#![cfg(feature = "webhooks")]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use botman::jiff::Timestamp;
use botman::{
    Bot, BotEvent, Botman, ChimeReceiver, EventManager, EventType, JobError, ManualClock,
    SlackReceiver, WebhookReceiver,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

mod common;
use common::{WAIT, assert_fires_each_minute};

/// What the server answers to one request.
#[derive(Clone)]
enum Reply {
    Status(u16, &'static str),
    Hang,
}

#[derive(Clone, Debug)]
struct Seen {
    at: Instant,
    head: String,
    body: serde_json::Value,
}

struct Server {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// Answers with `script` in order, then 200 forever.
async fn server(script: Vec<Reply>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/services/T0/B0/SECRETTOKEN",
        listener.local_addr().unwrap()
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let script = Arc::new(Mutex::new(script.into_iter()));
    let s = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let (s, script) = (Arc::clone(&s), Arc::clone(&script));
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head, body) = loop {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_string();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break (head, buf[end + 4..end + 4 + len].to_vec());
                    }
                };
                let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                s.lock().unwrap().push(Seen {
                    at: Instant::now(),
                    head,
                    body,
                });
                let reply = script
                    .lock()
                    .unwrap()
                    .next()
                    .unwrap_or(Reply::Status(200, ""));
                match reply {
                    Reply::Hang => tokio::time::sleep(Duration::from_secs(3600)).await,
                    Reply::Status(code, extra) => {
                        let resp = format!(
                            "HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n{extra}\r\n"
                        );
                        let _ = sock.write_all(resp.as_bytes()).await;
                    }
                }
            });
        }
    });
    Server { url, seen }
}

fn event(desc: &str) -> BotEvent {
    let mut e = BotEvent::new("report", EventType::Error, desc);
    e.bot_id = "b1".into();
    e.data = serde_json::json!({"attempt": 3, "error": "boom"});
    e
}

#[tokio::test]
async fn slack_chime_and_webhook_payloads() {
    let srv = server(vec![]).await;
    let slack = SlackReceiver::new(&srv.url).build().unwrap();
    let chime = ChimeReceiver::new(&srv.url).build().unwrap();
    let hook = WebhookReceiver::new(&srv.url)
        .header("Authorization", "Bearer xyz")
        .build()
        .unwrap();
    slack.send(&event("run failed"));
    assert!(slack.flush(WAIT).await);
    chime.send(&event("run failed"));
    assert!(chime.flush(WAIT).await);
    hook.send(&event("run failed"));
    assert!(hook.flush(WAIT).await);
    let seen = srv.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    let s = &seen[0].body;
    assert!(s["text"].as_str().unwrap().contains("report"));
    for k in [
        "bot_name",
        "bot_id",
        "event_type",
        "description",
        "emoji",
        "data",
    ] {
        assert!(!s[k].is_null(), "slack payload lacks {k}: {s}");
    }
    assert!(
        seen[1].body["Content"]
            .as_str()
            .unwrap()
            .starts_with("/md ")
    );
    assert_eq!(seen[2].body["event_type"], "error");
    assert!(
        seen[2]
            .head
            .to_ascii_lowercase()
            .contains("authorization: bearer xyz")
    );
    assert_eq!(slack.stats().sent, 1);
    assert!(!format!("{slack:?}").contains("SECRETTOKEN"));
}

#[tokio::test]
async fn a_500_then_200_is_delivered_once_after_a_retry() {
    let srv = server(vec![Reply::Status(500, "")]).await;
    let r = SlackReceiver::new(&srv.url)
        .backoff(Duration::from_millis(20))
        .build()
        .unwrap();
    r.send(&event("x"));
    assert!(r.flush(WAIT).await);
    let st = r.stats();
    assert_eq!((st.sent, st.retried, st.dropped), (1, 1, 0));
    assert_eq!(srv.seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_429_with_retry_after_is_honoured() {
    let srv = server(vec![Reply::Status(429, "Retry-After: 1\r\n")]).await;
    let r = WebhookReceiver::new(&srv.url)
        .backoff(Duration::from_millis(1))
        .build()
        .unwrap();
    r.send(&event("x"));
    assert!(r.flush(WAIT).await);
    let seen = srv.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    let gap = seen[1].at - seen[0].at;
    assert!(gap >= Duration::from_millis(900), "waited only {gap:?}");
    assert_eq!(r.stats().sent, 1);
}

#[tokio::test]
async fn a_hanging_server_times_out_and_is_retried() {
    let srv = server(vec![Reply::Hang]).await;
    let r = SlackReceiver::new(&srv.url)
        .timeout(Duration::from_millis(200))
        .backoff(Duration::from_millis(10))
        .build()
        .unwrap();
    r.send(&event("x"));
    assert!(r.flush(WAIT).await);
    let st = r.stats();
    assert_eq!((st.sent, st.dropped), (1, 0));
    assert!(st.retried >= 1);
}

#[tokio::test]
async fn connection_refused_gives_up_in_bounded_time_and_counts_the_loss() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let r = SlackReceiver::new(&format!("http://127.0.0.1:{port}/hook"))
        .backoff(Duration::from_millis(10))
        .give_up_after(Duration::from_millis(300))
        .build()
        .unwrap();
    let t0 = Instant::now();
    r.send(&event("x"));
    assert!(r.flush(WAIT).await);
    assert!(t0.elapsed() < Duration::from_secs(5));
    let st = r.stats();
    assert_eq!((st.sent, st.dropped), (0, 1));
    assert!(st.retried >= 1);
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_without_blocking() {
    let srv = server(vec![Reply::Hang; 20]).await;
    let r = SlackReceiver::new(&srv.url)
        .queue(2)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let t0 = Instant::now();
    for i in 0..10 {
        r.send(&event(&format!("{i}")));
    }
    assert!(
        t0.elapsed() < Duration::from_millis(500),
        "send never blocks"
    );
    // One in flight (maybe), two queued: at least seven dropped.
    assert!(r.stats().dropped >= 7, "{:?}", r.stats());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bots_fires_stay_on_time_while_its_webhook_hangs() {
    let srv = server(vec![Reply::Hang; 100]).await;
    let clock = ManualClock::new("2025-01-01T00:00:00Z".parse::<Timestamp>().unwrap());
    let m = Botman::builder()
        .clock(clock.clone())
        .event_manager(EventManager::new())
        .build()
        .unwrap();
    m.add_bot(
        Bot::builder("tick")
            .schedule("* * * * *")
            .slack_webhook(&srv.url)
            .job(|| Ok::<(), JobError>(()))
            .build()
            .unwrap(),
    )
    .unwrap();
    m.start();
    assert_fires_each_minute(&m, &clock, 5).await;
    assert_eq!(m.receivers_of("tick").len(), 1);
    assert_eq!(m.bot("tick").unwrap().remove_webhook_subscriptions(), 1);
    m.stop_async().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bot_and_manager_webhooks_receive_their_events() {
    let srv = server(vec![]).await;
    let events = EventManager::new();
    let m = Botman::builder()
        .name("mgr")
        .event_manager(events.clone())
        .build()
        .unwrap();
    m.subscribe_slack_webhook(&srv.url, &[EventType::Info])
        .unwrap();
    m.add_bot(
        Bot::builder("b")
            .schedule("0 0 1 1 *")
            .chime_webhook(&srv.url)
            .chime_event_types(&[EventType::Error])
            .job(|| Err::<(), JobError>("nope".into()))
            .retries(1)
            .build()
            .unwrap(),
    )
    .unwrap();
    m.start();
    m.run_bot("b").unwrap().await;
    m.stop_async().await;
    assert!(events.wait_until_empty(WAIT));
    for r in m.receivers_of("b").iter().chain(m.receivers_of("").iter()) {
        assert!(r.flush(WAIT).await);
    }
    let seen = srv.seen.lock().unwrap().clone();
    let chime: Vec<&str> = seen
        .iter()
        .filter_map(|s| s.body["Content"].as_str())
        .collect();
    assert!(
        chime
            .iter()
            .any(|c| c.contains("**b**") && c.contains("run failed")),
        "{chime:?}"
    );
    assert!(
        chime.iter().all(|c| c.contains("ERROR")),
        "only errors: {chime:?}"
    );
    let slack: Vec<&str> = seen
        .iter()
        .filter_map(|s| s.body["description"].as_str())
        .collect();
    assert!(
        slack.contains(&"manager started") && slack.contains(&"manager stopped"),
        "{slack:?}"
    );
    assert!(
        Bot::builder("x")
            .schedule("* * * * *")
            .slack_webhook("ftp://nope/SECRET")
            .job(|| Ok::<(), JobError>(()))
            .build()
            .unwrap_err()
            .to_string()
            .contains("http(s)")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_after_failures_and_on_recovery() {
    let srv = server(vec![]).await;
    let events = EventManager::new();
    let m = Botman::builder()
        .event_manager(events.clone())
        .build()
        .unwrap();
    let fail = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let f = Arc::clone(&fail);
    m.add_bot(
        Bot::builder("cron_job")
            .schedule("0 0 1 1 *")
            .retries(1)
            .job(move || {
                if f.load(std::sync::atomic::Ordering::SeqCst) {
                    Err::<(), JobError>("down".into())
                } else {
                    Ok(())
                }
            })
            .build()
            .unwrap(),
    )
    .unwrap();
    let r = WebhookReceiver::new(&srv.url)
        .only_after_failures(2)
        .on_recovery(true)
        .build()
        .unwrap();
    r.subscribe_to(&events, "cron_job", &[]);
    for _ in 0..3 {
        m.run_bot("cron_job").unwrap().await;
    }
    fail.store(false, std::sync::atomic::Ordering::SeqCst);
    m.run_bot("cron_job").unwrap().await;
    m.run_bot("cron_job").unwrap().await;
    assert!(events.wait_until_empty(WAIT));
    assert!(r.flush(WAIT).await);
    let seen: Vec<(String, serde_json::Value)> = srv
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s.body["description"].as_str().unwrap_or("").to_owned(),
                s.body["data"].clone(),
            )
        })
        .collect();
    // Failures 2 and 3, then one recovery notice; nothing else.
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[0].1["consecutive_failures"], 2);
    assert_eq!(seen[1].1["consecutive_failures"], 3);
    assert_eq!(seen[2].0, "run succeeded");
    assert_eq!(seen[2].1["recovered_after"], 3);
}
