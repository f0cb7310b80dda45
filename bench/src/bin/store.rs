//! Issue #9's store benchmark, `MemoryStore` against `SqliteStore` (a file on
//! disk, WAL), in one run. Each (scenario, store) runs in a fresh child
//! process:
//!
//! (a) burst: 10,000 bots due on the same second — time until all have
//!     started, how many never ran, and rows recorded;
//! (b) sustained: 1,000 runs per second for 10 s — 1,000 every-second bots
//!     spread over each second by a 1 s jitter, and (aligned) the same 1,000
//!     all due on the whole second — lateness p50/p99/max of every run
//!     (from its row: started − scheduled − jitter), runs recorded per
//!     second, and database size per 1,000 runs;
//! (c) idle: 100,000 bots due far ahead — CPU and wake-ups per second.
//!
//! Run: `cargo run -p botman-bench --release --bin store` (about two
//! minutes), `... -- quick` for shorter windows. Linux only (reads /proc).

use std::sync::Arc;
use std::time::{Duration, Instant};

use botman::{Bot, Botman, MemoryStore, Store};
use botman_bench::proc::{context_switches, cpu_seconds};

const STORES: [&str; 2] = ["memory", "sqlite"];

fn main() {
    let quick = std::env::args().nth(1).is_some_and(|a| a == "quick");
    let (sustained_s, idle_s) = if quick { (5, 5) } else { (10, 20) };
    botman_bench::children(
        &[
            ("burst", 0),
            ("spread", sustained_s),
            ("aligned", sustained_s),
            ("idle", idle_s),
        ],
        &STORES,
        |scenario, store, secs| async move { run(&scenario, &store, secs).await },
    );
}

/// The store under test, and the database file when there is one.
struct Under {
    store: Arc<dyn Store>,
    file: Option<std::path::PathBuf>,
    _dir: Option<TempDir>,
}

/// A scratch directory removed at the end.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn open(store: &str) -> Under {
    match store {
        "sqlite" => {
            // On disk (not tmpfs): /var/tmp.
            let dir = std::path::PathBuf::from(format!(
                "/var/tmp/botman-store-bench-{}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir).expect("scratch dir");
            let file = dir.join("botman.db");
            let s = botman::SqliteStore::open(&file).await.expect("open sqlite");
            Under {
                store: Arc::new(s),
                file: Some(file),
                _dir: Some(TempDir(dir)),
            }
        }
        _ => Under {
            store: Arc::new(MemoryStore::new()),
            file: None,
            _dir: None,
        },
    }
}

async fn run(scenario: &str, store: &str, secs: u64) -> String {
    let under = open(store).await;
    match scenario {
        "burst" => burst(&under).await,
        "spread" => sustained(&under, secs, true).await,
        "aligned" => sustained(&under, secs, false).await,
        "idle" => idle(&under, secs).await,
        _ => "unknown scenario".to_owned(),
    }
}

fn manager(under: &Under) -> Botman {
    Botman::builder()
        .store(Arc::clone(&under.store))
        .build()
        .expect("manager")
}

/// `n` bots on `expr` whose async job runs `job`.
fn bots(
    n: usize,
    expr: &str,
    jitter: Duration,
    job: Arc<dyn Fn() + Send + Sync>,
) -> impl Iterator<Item = Bot> {
    let expr = expr.to_owned();
    (0..n).map(move |i| {
        let job = Arc::clone(&job);
        Bot::builder(format!("bot{i}"))
            .schedule(&expr)
            .jitter(jitter)
            .async_job(move || {
                job();
                std::future::ready(Ok::<(), botman::JobError>(()))
            })
            .build()
            .expect("valid bot")
    })
}

/// Rows recorded for bots `bot0..bot{n}` (each bot's history, counted).
async fn rows(m: &Botman, n: usize) -> usize {
    let mut total = 0;
    for i in 0..n {
        total += m
            .history_async(&format!("bot{i}"), 100_000)
            .await
            .map_or(0, |h| h.len());
    }
    total
}

fn db_bytes(under: &Under) -> u64 {
    let Some(file) = &under.file else { return 0 };
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{}{s}", file.display())).ok())
        .map(|m| m.len())
        .sum()
}

async fn burst(under: &Under) -> String {
    const N: usize = 10_000;
    let probe = botman_bench::Burst::new();
    let m = manager(under);
    m.add_bots(bots(N, &probe.expr, Duration::ZERO, probe.job()))
        .expect("add");
    m.start();
    let (n, span_ms) = probe.wait(N).await;
    let t0 = Instant::now();
    let report = m.stop_async().await;
    let flushed_ms = t0.elapsed().as_secs_f64() * 1e3;
    let recorded = rows(&m, N).await;
    format!(
        "10,000 bots due at the same second: {n} started, all within {span_ms:.1} ms of it, {} never ran; \
         {recorded} rows recorded ({} unsaved at stop, rows flushed {flushed_ms:.0} ms after the check)\n",
        N - n,
        report.unsaved
    )
}

async fn sustained(under: &Under, secs: u64, spread: bool) -> String {
    const N: usize = 1_000;
    let jitter = if spread {
        Duration::from_secs(1)
    } else {
        Duration::ZERO
    };
    let m = manager(under);
    m.add_bots(bots(N, "* * * * * *", jitter, Arc::new(|| {})))
        .expect("add");
    let t0 = Instant::now();
    m.start();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let report = m.stop_async().await;
    let wall = t0.elapsed().as_secs_f64();
    let mut late_ns = Vec::new();
    let mut recorded = 0usize;
    for i in 0..N {
        let name = format!("bot{i}");
        let bot = m.bot(&name).expect("bot");
        for r in m.history_async(&name, 100_000).await.unwrap_or_default() {
            recorded += 1;
            if let (Some(s), Some(botman::RunOutcome::Success)) = (r.scheduled, r.outcome) {
                let due = s.as_nanosecond() + bot.jitter_at(s).as_nanos() as i128;
                late_ns.push((r.started.as_nanosecond() - due).max(0) as u64);
            }
        }
    }
    late_ns.sort_unstable();
    if late_ns.is_empty() {
        return "no runs observed\n".to_owned();
    }
    let pct = |p: usize| late_ns[((p * late_ns.len()).div_ceil(100)).max(1) - 1] as f64 / 1e6;
    let bytes = db_bytes(under);
    let size = if bytes > 0 {
        format!(
            ", database {:.1} MiB = {:.0} KiB per 1,000 runs",
            bytes as f64 / 1048576.0,
            bytes as f64 / 1024.0 / (recorded as f64 / 1000.0)
        )
    } else {
        String::new()
    };
    format!(
        "1,000 every-second bots ({}) for {secs}s: {} runs, lateness p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; \
         {recorded} rows recorded = {:.0} rows/s, {} unsaved at stop{size}\n",
        if spread {
            "spread over the second by a 1 s jitter"
        } else {
            "all due on the whole second"
        },
        late_ns.len(),
        pct(50),
        pct(99),
        *late_ns.last().unwrap_or(&0) as f64 / 1e6,
        recorded as f64 / wall,
        report.unsaved,
    )
}

async fn idle(under: &Under, secs: u64) -> String {
    let m = manager(under);
    m.add_bots(bots(100_000, "0 0 1 1 *", Duration::ZERO, Arc::new(|| {})))
        .expect("add");
    m.start();
    tokio::time::sleep(Duration::from_secs(2)).await; // let start-up settle
    let (cpu0, sw0) = (cpu_seconds(), context_switches());
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let wall = t0.elapsed().as_secs_f64();
    let (cpu1, sw1) = (cpu_seconds(), context_switches());
    m.stop_async().await;
    format!(
        "idle {secs}s with 100,000 bots: CPU {:.3}% of a core, {:.2} wake-ups/s (context switches, all threads, \
         the measurement's own sleep included)\n",
        100.0 * (cpu1 - cpu0) / wall,
        (sw1 - sw0) as f64 / wall,
    )
}
