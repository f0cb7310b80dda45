//! Receivers against a real HTTP server on 127.0.0.1 (real TCP), started
//! inside each test and scripted per request.

#![cfg(feature = "webhooks")]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use botman::jiff::Timestamp;
use botman::{
    Bot, BotEvent, Botman, ChimeReceiver, EventKind, EventManager, EventType, JobError,
    ManualClock, SlackReceiver, WebhookReceiver,
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
    /// 200 after a pause.
    Slow(Duration),
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
                    Reply::Slow(d) => {
                        tokio::time::sleep(d).await;
                        let resp =
                            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                        let _ = sock.write_all(resp.as_bytes()).await;
                    }
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

#[test]
fn slack_chime_and_webhook_payloads() {
    common::run(async {
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
    });
}

#[test]
fn a_500_then_200_is_delivered_once_after_a_retry() {
    common::run(async {
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
    });
}

#[test]
fn a_429_with_retry_after_is_honoured() {
    common::run(async {
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
    });
}

#[test]
fn a_hanging_server_times_out_and_is_retried() {
    common::run(async {
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
    });
}

#[test]
fn connection_refused_gives_up_in_bounded_time_and_counts_the_loss() {
    common::run(async {
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
    });
}

#[test]
fn a_full_queue_drops_and_counts_without_blocking() {
    common::run(async {
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
    });
}

#[test]
fn a_bots_fires_stay_on_time_while_its_webhook_hangs() {
    common::run(async {
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
    });
}

#[test]
fn bot_and_manager_webhooks_receive_their_events() {
    common::run(async {
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
    });
}

#[test]
fn only_after_failures_and_on_recovery() {
    common::run(async {
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
    });
}

fn kinds_seen(srv: &Server) -> Vec<String> {
    srv.seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.body["kind"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn ok_bot(name: &str) -> botman::BotBuilder {
    Bot::builder(name)
        .schedule("0 0 1 1 *")
        .job(|| Ok::<(), JobError>(()))
}

/// Two managers (both named `botman`, the default) each with a bot named
/// `report`, and a bot named `botman`, on the process-wide event manager:
/// each bot's webhook posts its own runs only, and the bot named like its
/// manager gets none of the manager's events (issue #8, bug 3).
#[test]
fn bot_webhooks_post_their_own_managers_bot_only() {
    common::run(async {
        let (srv_a, srv_b, srv_named) = (
            server(vec![]).await,
            server(vec![]).await,
            server(vec![]).await,
        );
        let a = Botman::new();
        let b = Botman::new();
        a.add_bot(ok_bot("report").slack_webhook(&srv_a.url).build().unwrap())
            .unwrap();
        b.add_bot(ok_bot("report").slack_webhook(&srv_b.url).build().unwrap())
            .unwrap();
        a.add_bot(
            ok_bot("botman")
                .slack_webhook(&srv_named.url)
                .build()
                .unwrap(),
        )
        .unwrap();
        a.start();
        a.run_bot("report").unwrap().await.unwrap();
        for _ in 0..2 {
            b.run_bot("report").unwrap().await.unwrap();
        }
        a.stop_async().await;
        b.stop_async().await;
        let count = |srv: &Server| {
            kinds_seen(srv)
                .iter()
                .filter(|k| *k == "run_succeeded")
                .count()
        };
        assert_eq!(count(&srv_a), 1);
        assert_eq!(count(&srv_b), 2);
        let named = kinds_seen(&srv_named);
        assert!(
            named.iter().all(|k| !k.starts_with("manager_")),
            "the bot named botman got its manager's events: {named:?}"
        );
    });
}

/// One failed fire is one Error notification (the attempts are warnings):
/// Slack gets one message (issue #8, bug 5).
#[test]
fn one_failed_fire_is_one_error_notification() {
    common::run(async {
        let srv = server(vec![]).await;
        let m = Botman::builder()
            .event_manager(EventManager::new())
            .build()
            .unwrap();
        m.add_bot(
            Bot::builder("flaky")
                .schedule("0 0 1 1 *")
                .retries(3)
                .retry_delay(Duration::ZERO)
                .slack_webhook(&srv.url)
                .slack_event_types(&[EventType::Error])
                .job(|| Err::<(), JobError>("down".into()))
                .build()
                .unwrap(),
        )
        .unwrap();
        let r = m.run_bot("flaky").unwrap().await.unwrap();
        assert_eq!(r.attempts, 3);
        m.stop_async().await;
        assert_eq!(kinds_seen(&srv), ["run_failed"]);
    });
}

/// Flushing a receiver covers the whole way from publication to the HTTP
/// answer: nothing waits elsewhere on its way (issue #8, bug 6).
#[test]
fn flush_covers_the_way_from_publish_to_the_answer() {
    common::run(async {
        let srv = server(vec![]).await;
        let events = EventManager::new();
        let r = WebhookReceiver::new(&srv.url).build().unwrap();
        r.subscribe_to(&events, "all", &[]);
        for i in 0..200 {
            events.publish(BotEvent::new("b", EventType::Info, format!("{i}")));
        }
        assert!(r.flush(WAIT).await);
        assert_eq!(r.stats().sent, 200);
        assert_eq!(srv.seen.lock().unwrap().len(), 200);
        // The blocking form too.
        for i in 0..50 {
            events.publish(BotEvent::new("b", EventType::Info, format!("{i}")));
        }
        let r2 = r.clone();
        assert!(
            tokio::task::spawn_blocking(move || r2.flush_blocking(WAIT))
                .await
                .unwrap()
        );
        assert_eq!(srv.seen.lock().unwrap().len(), 250);
    });
}

/// `stop` returns after the bots' webhooks have everything the runs said,
/// even from a slow endpoint.
#[test]
fn stop_waits_for_the_webhooks() {
    common::run(async {
        let srv = server(vec![Reply::Slow(Duration::from_millis(30)); 20]).await;
        let m = Botman::builder()
            .event_manager(EventManager::new())
            .build()
            .unwrap();
        m.add_bot(ok_bot("b").slack_webhook(&srv.url).build().unwrap())
            .unwrap();
        m.start();
        for _ in 0..3 {
            m.run_bot("b").unwrap().await.unwrap();
        }
        m.stop_async().await;
        let kinds = kinds_seen(&srv);
        assert_eq!(
            kinds.iter().filter(|k| *k == "run_succeeded").count(),
            3,
            "{kinds:?}"
        );
        assert_eq!(m.receivers_of("b")[0].stats().queued, 0);
    });
}

/// Webhooks that never answer hold a stop for the shared flush time, not
/// that time per webhook; a second stop (`stop_runs`) cuts it short (a
/// daemon's second signal; issue #11's review: 3 dead webhooks held a stop
/// 12.8 s).
#[test]
fn dead_webhooks_are_flushed_together_and_a_second_stop_cuts_it_short() {
    common::run(async {
        let m = Botman::builder()
            .event_manager(EventManager::new())
            .shutdown_grace(Duration::from_secs(1))
            .build()
            .unwrap();
        let mut servers = Vec::new();
        for i in 0..3 {
            let srv = server(vec![Reply::Hang; 50]).await;
            let name = format!("b{i}");
            m.add_bot(ok_bot(&name).slack_webhook(&srv.url).build().unwrap())
                .unwrap();
            servers.push(srv);
        }
        m.start();
        for i in 0..3 {
            m.run_bot(&format!("b{i}")).unwrap().await.unwrap();
        }
        let began = Instant::now();
        m.stop_async().await;
        let took = began.elapsed();
        assert!(
            took < Duration::from_millis(2500),
            "one shared second, took {took:?}"
        );
        assert!(
            took >= Duration::from_millis(900),
            "the flush was waited for: {took:?}"
        );

        // Again, with a longer grace cut short by a second stop.
        let m = Botman::builder()
            .event_manager(EventManager::new())
            .shutdown_grace(Duration::from_secs(30))
            .build()
            .unwrap();
        m.add_bot(ok_bot("c").slack_webhook(&servers[0].url).build().unwrap())
            .unwrap();
        m.start();
        m.run_bot("c").unwrap().await.unwrap();
        let began = Instant::now();
        let stopping = {
            let m = m.clone();
            tokio::spawn(async move { m.stop_async().await })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        m.stop_runs();
        tokio::time::timeout(WAIT, stopping).await.unwrap().unwrap();
        let took = began.elapsed();
        assert!(took < Duration::from_millis(2500), "cut short: {took:?}");
    });
}

/// A thousand bots naming one Slack URL share one receiver (one queue);
/// removing one bot's subscription leaves the others'.
#[test]
fn one_receiver_per_url_however_many_bots_name_it() {
    common::run(async {
        let srv = server(vec![]).await;
        let m = Botman::builder()
            .event_manager(EventManager::new())
            .build()
            .unwrap();
        m.add_bots((0..1000).map(|i| {
            ok_bot(&format!("bot{i}"))
                .slack_webhook(&srv.url)
                .slack_event_types(&[EventType::Info])
                .build()
                .unwrap()
        }))
        .unwrap();
        assert_eq!(m.receivers().len(), 1);
        assert_eq!(m.receivers_of("bot7"), m.receivers_of("bot8"));
        assert_eq!(m.bot("bot7").unwrap().remove_webhook_subscriptions(), 1);
        assert!(m.receivers_of("bot7").is_empty());
        m.run_bot("bot7").unwrap().await.unwrap();
        m.run_bot("bot8").unwrap().await.unwrap();
        m.stop_async().await;
        let seen = srv.seen.lock().unwrap().clone();
        let names: Vec<&str> = seen
            .iter()
            .filter(|s| s.body["kind"] == EventKind::RunSucceeded.as_str())
            .filter_map(|s| s.body["bot_name"].as_str())
            .collect();
        assert_eq!(names, ["bot8"]);
    });
}

/// While the event manager's delivery is paused, a receiver's events are
/// still counted as on their way: a flush does not claim they arrived
/// (issue #8, bug 6, without a race).
#[test]
fn flush_counts_events_held_by_a_paused_event_manager() {
    common::run(async {
        let srv = server(vec![]).await;
        let events = EventManager::new();
        let r = WebhookReceiver::new(&srv.url).build().unwrap();
        r.subscribe_to(&events, "all", &[]);
        events.stop();
        for i in 0..10 {
            events.publish(BotEvent::new("b", EventType::Info, format!("{i}")));
        }
        assert!(
            !r.flush(Duration::from_millis(200)).await,
            "nothing delivered yet"
        );
        assert_eq!((r.stats().queued, r.stats().sent), (10, 0));
        events.start();
        assert!(r.flush(WAIT).await);
        assert_eq!(r.stats().sent, 10);
        assert_eq!(srv.seen.lock().unwrap().len(), 10);
    });
}
