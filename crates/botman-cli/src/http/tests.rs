//! The HTTP API over real TCP on loopback (issue #11): every route's status
//! codes and JSON shape, auth (401/403/202), 404 and 400 with JSON bodies,
//! the event stream and its filters, the Prometheus text parsed back, and
//! that no answer carries the token or a webhook URL.

use std::collections::HashMap;
use std::time::Duration;

use botman::jiff::tz::TimeZone;
use botman::{Bot, Botman, EventManager, ManualClock, Overlap, RunContext, RunOutput};
use serde_json::Value;

use super::{Limits, Server, same_secret};

const TOKEN: &str = "s3cret-token-for-tests";
/// A webhook URL whose path is a secret: it must never be shown.
const HOOK: &str = "http://127.0.0.1:9/services/T000/B000/HOOKSECRETPATH";

/// A manager named "ops" on `clock`, with its own events.
pub(super) fn manager(clock: &ManualClock) -> Botman {
    Botman::builder()
        .name("ops")
        .clock(clock.clone())
        // A webhook of a test never answers: stop without waiting on it.
        .shutdown_grace(Duration::from_millis(50))
        .event_manager(EventManager::new())
        .build()
        .unwrap()
}

/// `hello`: fires at 03:00 (UTC) and 15:30 on Saturdays (Berlin), succeeds
/// and leaves this output.
pub(super) fn hello_bot(stdout: Option<&str>, stderr: Option<&str>) -> botman::BotBuilder {
    let (stdout, stderr) = (stdout.map(str::to_owned), stderr.map(str::to_owned));
    Bot::builder("hello")
        .schedule("0 3 * * *")
        .schedule_in("30 15 * * SAT", "Europe/Berlin")
        .job_with(move |ctx: &RunContext| {
            ctx.set_output(RunOutput::new(Some(0), stdout.clone(), stderr.clone()));
            Ok::<_, std::io::Error>(())
        })
}

struct Fixture {
    m: Botman,
    clock: ManualClock,
    server: Option<Server>,
    base: String,
    http: reqwest::Client,
    /// Opens the gate the `slow` bot's runs wait on.
    release: tokio::sync::watch::Sender<bool>,
}

impl Fixture {
    /// A started manager on a manual clock (no scheduled fire comes during
    /// a test) with bots `hello` (succeeds, leaves output), `fails`,
    /// `slow` (waits for `release`; overlap skip), and a server on it.
    async fn new(token: Option<&str>) -> Fixture {
        let clock = ManualClock::new("2025-06-01T12:00:00Z".parse().unwrap());
        let m = manager(&clock);
        let (release, rx) = tokio::sync::watch::channel(false);
        m.add_bot(
            hello_bot(Some("hello out\n"), Some("<b>warn</b>\n"))
                .slack_webhook(HOOK)
                .build()
                .unwrap(),
        )
        .unwrap();
        m.add_bot(
            Bot::builder("fails")
                .schedule("*/5 * * * *")
                .retries(1)
                .job(|| Err::<(), _>(std::io::Error::other("exit code 3")))
                .build()
                .unwrap(),
        )
        .unwrap();
        m.add_bot(
            Bot::builder("slow")
                .schedule("0 0 1 1 *")
                .overlap(Overlap::Skip)
                .async_job(move || {
                    let mut rx = rx.clone();
                    async move {
                        let _ = rx.wait_for(|open| *open).await;
                        Ok::<_, std::io::Error>(())
                    }
                })
                .build()
                .unwrap(),
        )
        .unwrap();
        m.subscribe_webhook(HOOK, &[]).unwrap();
        m.start();
        let server = Server::serve(
            &m,
            "127.0.0.1:0".parse().unwrap(),
            token.map(str::to_owned),
            (TimeZone::UTC, "UTC".to_owned()),
        )
        .await
        .unwrap();
        let base = format!("http://{}", server.addr);
        Fixture {
            m,
            clock,
            server: Some(server),
            base,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            release,
        }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            // A stream where an answer was expected fails, not hangs.
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn get_json(&self, path: &str) -> (u16, Value) {
        let (status, body) = self.get(path).await;
        let v = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"));
        (status, v)
    }

    async fn post(
        &self,
        path: &str,
        token: Option<&str>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .timeout(Duration::from_secs(10));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.text().await.unwrap();
        let v = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("POST {path}: not JSON ({e}): {body}"));
        (status, v, headers)
    }

    /// `/metrics` once it holds `want` (the metrics count events, which
    /// are delivered on their own thread); fails after 10 s.
    async fn metrics_containing(&self, want: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let (status, text) = self.get("/metrics").await;
            assert_eq!(status, 200);
            if text.contains(want) {
                return text;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{want} not in\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Runs `bot` by hand `n` times, each to its end.
    async fn run(&self, bot: &str, n: usize) {
        for _ in 0..n {
            self.m.run_bot(bot).unwrap().await.unwrap();
        }
    }

    async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await;
        }
        self.release.send_replace(true);
        self.m.stop_async().await;
    }
}

fn error_of(v: &Value) -> &str {
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error: {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_are_listed_with_their_fields() {
    let f = Fixture::new(Some(TOKEN)).await;
    f.run("hello", 1).await;
    f.run("fails", 1).await;
    let (status, v) = f.get_json("/api/bots").await;
    assert_eq!(status, 200);
    let bots = v["bots"].as_array().unwrap();
    let names: Vec<&str> = bots.iter().map(|b| b["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["fails", "hello", "slow"]);
    for b in bots {
        for key in [
            "name",
            "state",
            "runs",
            "errors",
            "last_run",
            "next_run",
            "schedules",
            "paused",
            "timeout_until",
            "last_outcome",
        ] {
            assert!(b.get(key).is_some(), "{key} missing in {b}");
        }
    }
    let hello = &bots[1];
    assert_eq!(hello["runs"], 1);
    assert_eq!(hello["errors"], 0);
    assert_eq!(hello["last_outcome"], "success");
    assert_eq!(hello["state"], "idle");
    assert_eq!(hello["next_run"], "2025-06-02T03:00:00Z");
    assert_eq!(hello["schedules"][0]["cron"], "0 3 * * *");
    assert_eq!(hello["schedules"][1]["timezone"], "Europe/Berlin");
    let fails = &bots[0];
    assert_eq!(fails["errors"], 1);
    assert_eq!(fails["last_outcome"], "failure");
    assert_eq!(fails["state"], "timeout");
    assert!(fails["timeout_until"].is_string(), "{fails}");

    let (status, one) = f.get_json("/api/bots/hello").await;
    assert_eq!(status, 200);
    assert_eq!(one["name"], "hello");
    assert_eq!(one["next_runs"].as_array().unwrap().len(), 5);

    let (status, e) = f.get_json("/api/bots/helo").await;
    assert_eq!(status, 404);
    assert!(error_of(&e).contains("did you mean 'hello'"), "{e}");
    let (status, e) = f.get_json("/api/bots?x=1").await;
    assert_eq!(status, 400);
    assert_eq!(e["parameter"], "x");
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_newest_first_with_a_cursor() {
    let f = Fixture::new(Some(TOKEN)).await;
    f.run("hello", 5).await;
    let (status, p1) = f.get_json("/api/bots/hello/runs?limit=2").await;
    assert_eq!(status, 200);
    let ids = |p: &Value| -> Vec<i64> {
        p["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect()
    };
    let first = ids(&p1);
    assert_eq!(first.len(), 2);
    assert!(first[0] > first[1], "newest first: {first:?}");
    let run = &p1["runs"][0];
    for key in [
        "id",
        "bot",
        "scheduled_at",
        "started_at",
        "finished_at",
        "duration_ms",
        "outcome",
        "attempts",
        "trigger",
        "node",
        "exit_code",
        "lateness_ms",
    ] {
        assert!(run.get(key).is_some(), "{key} missing in {run}");
    }
    assert!(
        run.get("stdout_tail").is_none(),
        "tails only in /api/runs/{{id}}"
    );
    assert_eq!(run["trigger"], "manual");
    let cursor = p1["next"].as_i64().expect("a next page");
    let (_, p2) = f
        .get_json(&format!("/api/bots/hello/runs?limit=2&before={cursor}"))
        .await;
    let second = ids(&p2);
    assert_eq!(second.len(), 2);
    assert!(second[0] < first[1], "{first:?} then {second:?}");
    let (_, p3) = f
        .get_json(&format!(
            "/api/bots/hello/runs?limit=2&before={}",
            p2["next"].as_i64().unwrap()
        ))
        .await;
    assert_eq!(ids(&p3).len(), 1);
    assert!(p3["next"].is_null());

    for (query, param) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=abc", "limit"),
        ("limit=-1", "limit"),
        ("before=x", "before"),
        ("before=-4", "before"),
        ("limt=3", "limt"),
        ("limit=1&limit=2", "limit"),
    ] {
        let (status, e) = f.get_json(&format!("/api/bots/hello/runs?{query}")).await;
        assert_eq!(status, 400, "{query}: {e}");
        assert_eq!(e["parameter"], param, "{query}: {e}");
        assert!(error_of(&e).contains(param), "{e}");
    }
    let (status, e) = f.get_json("/api/bots/nobody/runs").await;
    assert_eq!(status, 404, "{e}");
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_by_id_carries_its_output_tails() {
    let f = Fixture::new(Some(TOKEN)).await;
    f.run("hello", 1).await;
    let (_, page) = f.get_json("/api/bots/hello/runs").await;
    let id = page["runs"][0]["id"].as_i64().unwrap();
    let (status, r) = f.get_json(&format!("/api/runs/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(r["id"], id);
    assert_eq!(r["bot"], "hello");
    assert_eq!(r["outcome"], "success");
    assert_eq!(r["exit_code"], 0);
    assert_eq!(r["stdout_tail"], "hello out\n");
    assert_eq!(r["stderr_tail"], "<b>warn</b>\n");
    let (status, e) = f.get_json("/api/runs/999999").await;
    assert_eq!(status, 404);
    assert!(error_of(&e).contains("999999"));
    for bad in ["abc", "0", "-3", "1.5"] {
        let (status, e) = f.get_json(&format!("/api/runs/{bad}")).await;
        assert_eq!(status, 400, "{bad}: {e}");
        assert_eq!(e["parameter"], "id");
    }
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_fires_are_counted() {
    let f = Fixture::new(Some(TOKEN)).await;
    let (status, v) = f.get_json("/api/bots/hello/next?count=3").await;
    assert_eq!(status, 200);
    assert_eq!(
        v["next"],
        serde_json::json!([
            "2025-06-02T03:00:00Z",
            "2025-06-03T03:00:00Z",
            "2025-06-04T03:00:00Z"
        ])
    );
    let (_, v) = f.get_json("/api/bots/hello/next").await;
    assert_eq!(v["next"].as_array().unwrap().len(), 5);
    for bad in ["count=0", "count=1001", "count=x", "count="] {
        let (status, e) = f.get_json(&format!("/api/bots/hello/next?{bad}")).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(e["parameter"], "count");
    }
    let (status, _) = f.get_json("/api/bots/nobody/next").await;
    assert_eq!(status, 404);
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_need_the_token() {
    let f = Fixture::new(Some(TOKEN)).await;
    for action in ["run", "pause", "resume"] {
        let path = format!("/api/bots/hello/{action}");
        let (status, e, headers) = f.post(&path, None).await;
        assert_eq!(status, 401, "{path}: {e}");
        assert!(headers.contains_key("www-authenticate"));
        let (status, e, _) = f.post(&path, Some("wrong")).await;
        assert_eq!(status, 403, "{path}: {e}");
        let (status, e, _) = f.post(&path, Some(&TOKEN[..TOKEN.len() - 1])).await;
        assert_eq!(status, 403, "a prefix of the token: {e}");
        let same_length = format!("{}X", &TOKEN[..TOKEN.len() - 1]);
        let (status, e, _) = f.post(&path, Some(&same_length)).await;
        assert_eq!(status, 403, "one character off: {e}");
    }
    assert_eq!(f.m.metrics_of("hello").unwrap().runs, 0, "nothing ran");
    assert!(!f.m.bot("hello").unwrap().is_paused());

    let (status, v, headers) = f.post("/api/bots/hello/run", Some(TOKEN)).await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["status"], "started");
    let id = v["run_id"].as_i64().expect("the run's id");
    assert_eq!(
        headers["location"].to_str().unwrap(),
        format!("/api/runs/{id}")
    );
    assert!(f.m.wait_idle(Duration::from_secs(10)).await);
    let (status, r) = f.get_json(&format!("/api/runs/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(r["trigger"], "manual");

    let (status, v, _) = f.post("/api/bots/hello/pause", Some(TOKEN)).await;
    assert_eq!((status, v["paused"].as_bool()), (200, Some(true)));
    assert!(f.m.bot("hello").unwrap().is_paused());
    let (_, b) = f.get_json("/api/bots/hello").await;
    assert_eq!(
        (b["paused"].as_bool(), b["state"].as_str()),
        (Some(true), Some("paused"))
    );
    let (status, v, _) = f.post("/api/bots/hello/resume", Some(TOKEN)).await;
    assert_eq!((status, v["paused"].as_bool()), (200, Some(false)));

    // The overlap policy decides a manual run: `slow` skips beside itself.
    let (status, _, _) = f.post("/api/bots/slow/run", Some(TOKEN)).await;
    assert_eq!(status, 202);
    let (status, e, _) = f.post("/api/bots/slow/run", Some(TOKEN)).await;
    assert_eq!(status, 409, "{e}");
    assert_eq!(e["reason"], "overlap");
    assert!(error_of(&e).contains("its overlap policy is skip"), "{e}");

    let (status, e, _) = f.post("/api/bots/nobody/run", Some(TOKEN)).await;
    assert_eq!(status, 404, "{e}");
    let (status, e, _) = f.post("/api/bots/hello/pause?now=1", Some(TOKEN)).await;
    assert_eq!(status, 400, "{e}");
    assert_eq!(e["parameter"], "now");
    assert!(
        !f.m.bot("hello").unwrap().is_paused(),
        "a refused request changes nothing"
    );
    let (status, e) = f.get_json("/api/bots/hello/run").await;
    assert_eq!(status, 405, "{e}");
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_the_api_is_read_only() {
    let f = Fixture::new(None).await;
    let (status, e, _) = f.post("/api/bots/hello/run", Some("anything")).await;
    assert_eq!(status, 403);
    assert!(error_of(&e).contains("read-only"), "{e}");
    let (status, _) = f.get_json("/api/bots").await;
    assert_eq!(status, 200);
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_health() {
    let f = Fixture::new(Some(TOKEN)).await;
    for bad in ["/api/bots/%FF", "/api/runs/%FF", "/api/bots/%C3%28/runs"] {
        let (status, e) = f.get_json(bad).await;
        assert_eq!(status, 400, "{bad}: {e}");
        assert!(error_of(&e).contains("UTF-8"), "{bad}: {e}");
    }
    let (status, e) = f.get_json("/api/nothing").await;
    assert_eq!(status, 404);
    assert!(error_of(&e).contains("/api/nothing"));
    let (status, h) = f.get_json("/healthz").await;
    assert_eq!(status, 200, "{h}");
    assert_eq!(h["status"], "ok");
    let (status, spec) = f.get_json("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert!(
        spec["openapi"].as_str().unwrap().starts_with("3."),
        "{spec}"
    );
    for path in [
        "/api/bots",
        "/api/bots/{name}",
        "/api/bots/{name}/runs",
        "/api/runs/{id}",
        "/api/bots/{name}/next",
        "/api/bots/{name}/run",
        "/api/bots/{name}/pause",
        "/api/bots/{name}/resume",
        "/api/events",
        "/healthz",
        "/metrics",
    ] {
        assert!(spec["paths"].get(path).is_some(), "{path} not in the spec");
    }
    f.m.stop_async().await;
    let (status, h) = f.get_json("/healthz").await;
    assert_eq!(status, 503, "{h}");
    assert_eq!(h["scheduler"], "stopped");
    f.stop().await;
}

/// Reads the SSE stream until `done` says so or 10 s pass; the events
/// (name, data) seen.
async fn read_events(
    resp: &mut reqwest::Response,
    done: impl Fn(&[(String, Value)]) -> bool,
) -> Vec<(String, Value)> {
    let mut seen = Vec::new();
    let mut buf = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done(&seen) {
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .expect("the stream said nothing in time")
            .unwrap()
            .expect("the stream ended");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut name = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event:") {
                    name = n.trim().to_owned();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim_start());
                }
            }
            if !name.is_empty() {
                seen.push((name, serde_json::from_str(&data).unwrap_or(Value::Null)));
            }
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_live_with_filters() {
    let f = Fixture::new(Some(TOKEN)).await;
    let mut all = f
        .http
        .get(format!("{}/api/events", f.base))
        .send()
        .await
        .unwrap();
    assert_eq!(all.status(), 200);
    assert!(
        all.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut filtered = f
        .http
        .get(format!(
            "{}/api/events?bot=hello&kind=run_succeeded",
            f.base
        ))
        .send()
        .await
        .unwrap();
    // The streams are subscribed once their answer began.
    f.run("fails", 1).await;
    f.run("hello", 1).await;
    let seen = read_events(&mut all, |s| {
        s.iter()
            .any(|(n, d)| n == "run_succeeded" && d["bot_name"] == "hello")
    })
    .await;
    assert!(
        seen.iter().any(|(n, d)| n == "run_failed"
            && d["bot_name"] == "fails"
            && d["kind"] == "run_failed"),
        "{seen:?}"
    );
    let only = read_events(&mut filtered, |s| !s.is_empty()).await;
    assert_eq!(only.len(), 1, "{only:?}");
    assert_eq!(only[0].0, "run_succeeded");
    assert_eq!(only[0].1["bot_name"], "hello");
    assert_eq!(only[0].1["event_type"], "info");

    let (status, e) = f.get_json("/api/events?kind=run_faild").await;
    assert_eq!(status, 400);
    assert!(error_of(&e).contains("did you mean 'run_failed'"), "{e}");
    let (status, e) = f.get_json("/api/events?bots=hello").await;
    assert_eq!(status, 400);
    assert_eq!(e["parameter"], "bots");
    let (status, e) = f.get_json("/api/events?bot=helo").await;
    assert_eq!(status, 404, "{e}");
    assert!(error_of(&e).contains("did you mean 'hello'"), "{e}");
    let (status, e) = f.get_json("/api/events?bot=hello&bot=fails").await;
    assert_eq!(status, 400, "{e}");
    assert_eq!(e["parameter"], "bot");
    assert!(error_of(&e).contains("more than once"), "{e}");
    // A bot removed while its run goes on: its end is still told.
    let mut slow_events = f
        .http
        .get(format!("{}/api/events?bot=slow&kind=run_succeeded", f.base))
        .send()
        .await
        .unwrap();
    let handle = f.m.run_bot("slow").unwrap();
    f.m.remove_bot("slow").unwrap();
    f.release.send_replace(true);
    handle.await.unwrap();
    let ended = read_events(&mut slow_events, |s| !s.is_empty()).await;
    assert_eq!(ended[0].1["bot_name"], "slow", "{ended:?}");
    // Stopping the server ends open streams (it does not hang).
    tokio::time::timeout(Duration::from_secs(10), f.stop())
        .await
        .expect("the server stopped with streams open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_metrics_parse_back() {
    let f = Fixture::new(Some(TOKEN)).await;
    f.run("hello", 2).await;
    f.run("fails", 1).await;
    let text = f
        .metrics_containing("botman_errors_total{bot=\"fails\"} 1")
        .await;
    assert!(text.contains("# TYPE botman_runs_total counter"), "{text}");
    assert!(!text.contains("# EOF"), "Prometheus 0.0.4 text by default");
    let om = f
        .http
        .get(format!("{}/metrics", f.base))
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .unwrap();
    assert!(
        om.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let om = om.text().await.unwrap();
    assert!(
        om.contains("# TYPE botman_runs counter") && om.ends_with("# EOF\n"),
        "{om}"
    );
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text");
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        let s = scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .unwrap_or_else(|| panic!("no {name} {labels:?} in\n{text}"));
        match &s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            prometheus_parse::Value::Histogram(h) => h.iter().map(|b| b.count).fold(0.0, f64::max),
            other => panic!("{name}: {other:?}"),
        }
    };
    assert_eq!(
        value(
            "botman_runs_total",
            &[("bot", "hello"), ("outcome", "success")]
        ),
        2.0
    );
    assert_eq!(
        value(
            "botman_runs_total",
            &[("bot", "fails"), ("outcome", "failure")]
        ),
        1.0
    );
    assert_eq!(value("botman_errors_total", &[("bot", "fails")]), 1.0);
    assert_eq!(
        value("botman_run_duration_seconds", &[("bot", "hello")]),
        2.0,
        "two durations observed"
    );
    assert_eq!(
        value(
            "botman_bot_state",
            &[("bot", "fails"), ("state", "timeout")]
        ),
        1.0
    );
    assert_eq!(
        value("botman_bot_state", &[("bot", "fails"), ("state", "idle")]),
        0.0
    );
    let next = value("botman_next_fire_timestamp_seconds", &[("bot", "hello")]);
    assert_eq!(next, 1_748_833_200.0, "2025-06-02T03:00:00Z");
    assert!(value("botman_last_success_timestamp_seconds", &[("bot", "hello")]) > 1.7e9);
    let deliveries: HashMap<String, f64> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "botman_webhook_deliveries_total")
        .map(|s| {
            let r = s.labels.get("receiver").unwrap_or_default().to_owned();
            assert!(
                !r.contains("HOOKSECRETPATH"),
                "the receiver label is redacted: {r}"
            );
            (s.labels.get("result").unwrap_or_default().to_owned(), 0.0)
        })
        .collect();
    assert!(deliveries.contains_key("sent"), "{text}");
    assert!(
        scrape
            .samples
            .iter()
            .any(|s| s.metric == "botman_fire_lateness_seconds"),
        "{text}"
    );

    // A paused bot's fire is skipped, counted by its reason.
    for b in ["hello", "fails", "slow"] {
        f.m.bot(b).unwrap().pause();
    }
    f.clock.set("2025-06-02T03:00:00Z".parse().unwrap());
    let want = "botman_skipped_total{bot=\"hello\",reason=\"paused\"} 1";
    f.metrics_containing(want).await;
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_carries_a_secret() {
    let f = Fixture::new(Some(TOKEN)).await;
    f.run("hello", 1).await;
    let (_, page) = f.get_json("/api/bots/hello/runs").await;
    let id = page["runs"][0]["id"].as_i64().unwrap();
    let mut bodies = Vec::new();
    for path in [
        "/".to_owned(),
        "/bots/hello".to_owned(),
        "/bots/nobody".to_owned(),
        "/api/bots".to_owned(),
        "/api/bots/hello".to_owned(),
        "/api/bots/hello/runs".to_owned(),
        format!("/api/runs/{id}"),
        "/api/bots/hello/next".to_owned(),
        "/api/nothing".to_owned(),
        "/healthz".to_owned(),
        "/metrics".to_owned(),
        "/api/openapi.json".to_owned(),
        "/assets/app.js".to_owned(),
    ] {
        bodies.push((path.clone(), f.get(&path).await.1));
    }
    for token in [None, Some("wrong"), Some(TOKEN)] {
        let (_, v, _) = f.post("/api/bots/hello/run", token).await;
        bodies.push(("POST run".to_owned(), v.to_string()));
    }
    for (path, body) in bodies {
        assert!(!body.contains(TOKEN), "{path} shows the token");
        assert!(
            !body.contains("HOOKSECRETPATH"),
            "{path} shows a webhook URL"
        );
    }
    f.stop().await;
}

#[test]
fn ok_local_hosts() {
    for h in [
        "localhost",
        "LOCALHOST:8080",
        "127.0.0.1",
        "127.0.0.1:8080",
        "[::1]:8080",
        "[::1]",
        "app.localhost:80",
        "10.1.2.3:9",
        "localhost.",
    ] {
        assert!(super::is_local_host(h), "{h}");
    }
    for h in [
        "evil.example",
        "evil.example:8080",
        "localhost.evil.example",
        "",
        "[::1",
    ] {
        assert!(!super::is_local_host(h), "{h}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_host_name_is_refused_on_loopback() {
    let f = Fixture::new(Some(TOKEN)).await;
    let port = f.server.as_ref().unwrap().addr.port();
    for (host, ok) in [
        (format!("evil.example:{port}"), false),
        (format!("localhost:{port}"), true),
        (format!("127.0.0.1:{port}"), true),
    ] {
        for path in ["/api/bots", "/", "/metrics"] {
            let r = f
                .http
                .get(format!("{}{path}", f.base))
                .header("host", &host)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16() == 200, ok, "{host} {path}");
            if !ok {
                let body = r.text().await.unwrap();
                assert!(body.contains("DNS rebinding"), "{body}");
            }
        }
    }
    f.stop().await;
}

#[test]
fn ok_same_secret() {
    assert!(same_secret(b"abc", b"abc"));
    assert!(!same_secret(b"abc", b"abd"));
    assert!(!same_secret(b"abc", b"abcd"));
    assert!(!same_secret(b"", b"a"));
}

/// Past the connection cap a new connection is closed at once, and a client
/// that never finishes its headers is cut off after the header time limit:
/// the server cannot be made to hold the descriptors the jobs need.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped_and_slow_headers_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let clock = ManualClock::new("2025-06-01T12:00:00Z".parse().unwrap());
    let m = manager(&clock);
    m.start();
    let limits = Limits {
        connections: 4,
        header_timeout: Duration::from_millis(300),
    };
    let server = Server::serve_with(
        &m,
        "127.0.0.1:0".parse().unwrap(),
        None,
        (TimeZone::UTC, "UTC".to_owned()),
        limits,
    )
    .await
    .unwrap();
    let addr = server.addr;
    let mut slow = Vec::new();
    for _ in 0..4 {
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET /api/bots HTTP/1.1\r\nHost: localhost\r\nX-A: ")
            .await
            .unwrap();
        slow.push(c);
    }
    // Give the server a moment to take all four.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut extra = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), extra.read(&mut buf))
        .await
        .expect("the fifth connection is closed at once, not held")
        .unwrap_or(0);
    assert_eq!(n, 0, "closed without an answer");
    // The slow ones are cut off after the header time limit ...
    for c in &mut slow {
        let r = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf))
            .await
            .expect("a slow client is cut off");
        assert!(matches!(r, Ok(_) | Err(_)));
    }
    drop(slow);
    // ... and their slots serve others again.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    loop {
        match http.get(format!("http://{addr}/api/bots")).send().await {
            Ok(r) if r.status() == 200 => break,
            other => {
                assert!(std::time::Instant::now() < deadline, "{other:?}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    drop(http);
    server.stop().await;
    m.stop_async().await;
}
