//! botman's scheduler against tokio-cron-scheduler, in one run:
//!
//! (a) idle: CPU, wake-ups per second and RSS with 100,000 bots due far in
//!     the future, over 30 s;
//! (b) lateness p50/p99/max of an every-second bot over 60 s while 10,000
//!     other bots are scheduled;
//! (c) 10,000 bots due on the same second: time until all have started, and
//!     how many never ran;
//! (d) time to add 100,000 bots.
//!
//! Each (engine, scenario) runs in a fresh child process so RSS and CPU
//! figures are its own. Run: `cargo run -p botman-bench --release --bin
//! scheduler` (about four minutes), or `... -- quick` for shorter windows.
//! Linux only (reads /proc).

use botman_bench::proc::{context_switches, cpu_seconds, status_field};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ENGINES: [&str; 2] = ["botman", "tokio-cron-scheduler"];

fn main() {
    let quick = std::env::args().nth(1).is_some_and(|a| a == "quick");
    let (idle_s, late_s) = if quick { (5, 10) } else { (30, 60) };
    botman_bench::children(
        &[
            ("idle", idle_s),
            ("lateness", late_s),
            ("burst", 10),
            ("add", 0),
        ],
        &ENGINES,
        |scenario, engine, secs| async move { run(&scenario, &engine, secs).await },
    );
}

async fn run(scenario: &str, engine: &str, secs: u64) -> String {
    match (scenario, engine) {
        ("idle", e) => idle(e, secs).await,
        ("lateness", e) => lateness(e, secs).await,
        ("burst", e) => burst(e).await,
        ("add", e) => add(e).await,
        _ => "unknown scenario".to_owned(),
    }
}

/// Something to hold the engine alive for the measurement (never read:
/// dropping it is what ends the engine).
#[allow(dead_code)]
enum Engine {
    Botman(botman::Botman),
    Tcs(Box<tokio_cron_scheduler::JobScheduler>),
}

/// Adds `n` bots on `expr` (botman's 5/6-field form; tcs gets seconds
/// prepended when it has 5 fields) running `job`.
async fn make(engine: &str, n: usize, expr: &str, job: Arc<dyn Fn() + Send + Sync>) -> Engine {
    match engine {
        "botman" => {
            let m = botman::Botman::new();
            let bots = (0..n).map(|i| {
                let job = Arc::clone(&job);
                botman::Bot::builder(format!("bot{i}"))
                    .schedule(expr)
                    .async_job(move || {
                        job();
                        std::future::ready(Ok::<(), botman::JobError>(()))
                    })
                    .build()
                    .expect("valid bot")
            });
            m.add_bots(bots).expect("add");
            m.start();
            Engine::Botman(m)
        }
        _ => {
            let sched = tokio_cron_scheduler::JobScheduler::new()
                .await
                .expect("tcs");
            let expr6 = if expr.split_whitespace().count() == 5 {
                format!("0 {expr}")
            } else {
                expr.to_owned()
            };
            for _ in 0..n {
                let job = Arc::clone(&job);
                let j = tokio_cron_scheduler::Job::new_async(expr6.as_str(), move |_id, _l| {
                    job();
                    Box::pin(async {})
                })
                .expect("tcs job");
                sched.add(j).await.expect("tcs add");
            }
            sched.start().await.expect("tcs start");
            Engine::Tcs(Box::new(sched))
        }
    }
}

fn noop() -> Arc<dyn Fn() + Send + Sync> {
    Arc::new(|| {})
}

async fn idle(engine: &str, secs: u64) -> String {
    let rss0 = rss_bytes();
    // Far in the future for the whole window: midnight on January 1st.
    let e = make(engine, 100_000, "0 0 1 1 *", noop()).await;
    tokio::time::sleep(Duration::from_secs(2)).await; // let start-up settle
    let rss1 = rss_bytes();
    let (cpu0, sw0, by0) = (cpu_seconds(), context_switches(), switches_by_thread());
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let wall = t0.elapsed().as_secs_f64();
    let (cpu1, sw1, by1) = (cpu_seconds(), context_switches(), switches_by_thread());
    let woke: Vec<String> = by1
        .iter()
        .filter_map(|(k, v)| {
            let d = v.saturating_sub(*by0.get(k).unwrap_or(&0));
            (d > 0).then(|| format!("{k}: {d}"))
        })
        .collect();
    drop(e);
    format!(
        "idle {secs}s with 100,000 bots: CPU {:.3}% of a core, {:.2} wake-ups/s (context switches, all threads; \
         includes the sleeping measurement task), RSS {:.1} MiB, {:.0} bytes/bot; threads that switched: {}\n",
        100.0 * (cpu1 - cpu0) / wall,
        (sw1 - sw0) as f64 / wall,
        rss1 as f64 / 1048576.0,
        (rss1.saturating_sub(rss0)) as f64 / 100_000.0,
        if woke.is_empty() {
            "none".to_owned()
        } else {
            woke.join(", ")
        }
    )
}

async fn lateness(engine: &str, secs: u64) -> String {
    let _others = make(engine, 10_000, "0 0 1 1 *", noop()).await;
    let samples = Arc::new(Mutex::new(Vec::<u64>::new()));
    let s = Arc::clone(&samples);
    // Fires on whole seconds: how far past the second did the job start?
    let job: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
        let late = (botman_bench::now_nanos() % 1_000_000_000) as u64;
        s.lock().unwrap_or_else(|e| e.into_inner()).push(late);
    });
    let _tick = make(engine, 1, "* * * * * *", job).await;
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let mut v = samples.lock().unwrap_or_else(|e| e.into_inner()).clone();
    v.sort_unstable();
    if v.is_empty() {
        return "no fires observed\n".to_owned();
    }
    let pct = |p: usize| v[((p * v.len()).div_ceil(100)).max(1) - 1] as f64 / 1e6;
    format!(
        "every-second bot over {secs}s beside 10,000 bots: {} fires, lateness p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms\n",
        v.len(),
        pct(50),
        pct(99),
        *v.last().unwrap_or(&0) as f64 / 1e6
    )
}

async fn burst(engine: &str) -> String {
    const N: usize = 10_000;
    let probe = botman_bench::Burst::new();
    let _e = make(engine, N, &probe.expr, probe.job()).await;
    let (n, span_ms) = probe.wait(N).await;
    format!(
        "10,000 bots due at the same second: {n} started, all within {span_ms:.1} ms of it, {} never ran\n",
        N - n
    )
}

async fn add(engine: &str) -> String {
    let t0 = Instant::now();
    let _e = make(engine, 100_000, "0 0 1 1 *", noop()).await;
    format!(
        "added 100,000 bots (and started) in {:.1} ms\n",
        t0.elapsed().as_secs_f64() * 1e3
    )
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status").map_or(0, |s| status_field(&s, "VmRSS:") * 1024)
}

/// Context switches per thread (name, count), to say who woke up.
fn switches_by_thread() -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for t in tasks.flatten() {
        let Ok(s) = std::fs::read_to_string(t.path().join("status")) else {
            continue;
        };
        let name = s
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("?")
            .to_owned();
        let n = status_field(&s, "voluntary_ctxt_switches:")
            + status_field(&s, "nonvoluntary_ctxt_switches:");
        *out.entry(format!("{name}/{}", t.file_name().to_string_lossy()))
            .or_insert(0) += n;
    }
    out
}
