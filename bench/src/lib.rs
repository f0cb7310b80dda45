//! Shared tables for botman's benchmarks: the expressions each engine is
//! measured on, spelled the way each one reads them, and seeded instants.
#![allow(missing_docs)]

/// One benchmarked expression and its spelling for each peer (None: the peer
/// does not support the form).
#[derive(Clone, Copy, Debug)]
pub struct Case {
    pub name: &'static str,
    /// botman-cron and croner.
    pub expr: &'static str,
    /// The `cron` crate: a leading seconds field, weekdays 1-7 from Sunday.
    pub cron_crate: Option<&'static str>,
    /// saffron: five fields, UTC only.
    pub saffron: Option<&'static str>,
}

pub const CASES: &[Case] = &[
    Case {
        name: "every_minute",
        expr: "* * * * *",
        cron_crate: Some("0 * * * * *"),
        saffron: Some("* * * * *"),
    },
    Case {
        name: "every_5_minutes",
        expr: "*/5 * * * *",
        cron_crate: Some("0 */5 * * * *"),
        saffron: Some("*/5 * * * *"),
    },
    Case {
        name: "noon_weekdays",
        expr: "0 12 * * MON-FRI",
        cron_crate: Some("0 0 12 * * MON-FRI"),
        saffron: Some("0 12 * * MON-FRI"),
    },
    Case {
        name: "leap_day",
        expr: "0 0 29 2 *",
        cron_crate: Some("0 0 0 29 2 *"),
        saffron: Some("0 0 29 2 *"),
    },
    Case {
        name: "friday_13th",
        expr: "0 0 13 * FRI",
        cron_crate: Some("0 0 0 13 * FRI"),
        saffron: Some("0 0 13 * FRI"),
    },
    Case {
        name: "4_30_1st_15th_fri",
        expr: "30 4 1,15 * 5",
        cron_crate: Some("0 30 4 1,15 * 6"),
        saffron: Some("30 4 1,15 * 5"),
    },
    Case {
        name: "last_day",
        expr: "0 0 L * *",
        cron_crate: Some("0 0 0 L * *"),
        saffron: Some("0 0 L * *"),
    },
    Case {
        name: "third_saturday",
        expr: "15 10 ? * 6#3",
        cron_crate: Some("0 15 10 ? * 7#3"),
        saffron: Some("15 10 * * 6#3"),
    },
];

/// `n` instants (seconds) spread over 2000-2100, from a fixed seed.
pub fn random_seconds(n: usize, seed: u64) -> Vec<i64> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            // xorshift64*: deterministic, no dependency.
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
            946_684_800 + (r % 3_155_760_000) as i64
        })
        .collect()
}

/// What this process costs, read from /proc (Linux): the scheduler and
/// store benchmarks' idle figures.
pub mod proc {
    pub fn status_field(text: &str, key: &str) -> u64 {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    pub fn context_switches() -> u64 {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return 0;
        };
        tasks
            .flatten()
            .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
            .map(|s| {
                status_field(&s, "voluntary_ctxt_switches:")
                    + status_field(&s, "nonvoluntary_ctxt_switches:")
            })
            .sum()
    }

    pub fn cpu_seconds() -> f64 {
        // Fields 14 and 15 of /proc/self/stat: utime and stime in clock ticks.
        let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
            return 0.0;
        };
        let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = after.split_whitespace().collect();
        let ticks: f64 = f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
            + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        ticks / 100.0
    }
}

/// Runs a benchmark binary whose every (scenario, subject) pair is measured
/// in a fresh child process (its RSS and CPU figures its own): as the
/// parent, runs the children and prints their lines under a heading per
/// scenario; as a child (`<scenario> <subject> <seconds>`), runs `child`
/// on a two-thread runtime and prints its line.
pub fn children<F, Fut>(scenarios: &[(&str, u64)], subjects: &[&str], child: F)
where
    F: FnOnce(String, String, u64) -> Fut,
    Fut: std::future::Future<Output = String>,
{
    let args: Vec<String> = std::env::args().collect();
    if args.len() >= 4 {
        let secs: u64 = args[3].parse().unwrap_or(10);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let line = rt.block_on(child(args[1].clone(), args[2].clone(), secs));
        println!("{line}");
        return;
    }
    let exe = std::env::current_exe().expect("own path");
    println!(
        "machine: {} cores; {}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        std::fs::read_to_string("/proc/sys/kernel/osrelease").map_or_else(
            |_| "unknown kernel".to_owned(),
            |s| format!("Linux {}", s.trim())
        )
    );
    for (scenario, secs) in scenarios {
        println!("\n## {scenario}");
        for subject in subjects {
            let out = std::process::Command::new(&exe)
                .args([*scenario, *subject, &secs.to_string()])
                .output()
                .expect("child");
            print!("{subject}: {}", String::from_utf8_lossy(&out.stdout));
            if !out.status.success() {
                println!("  (failed: {})", String::from_utf8_lossy(&out.stderr));
            }
        }
    }
}

/// Nanoseconds since the Unix epoch, by the system clock.
pub fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
}

/// The burst scenario's probe: a whole second at least 3 s ahead (so
/// adding the bots finishes first), its cron expression, and a job that
/// counts the runs started and keeps the latest start.
pub struct Burst {
    pub target_s: u64,
    pub expr: String,
    started: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    last: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Default for Burst {
    fn default() -> Burst {
        Burst::new()
    }
}

impl Burst {
    pub fn new() -> Burst {
        let target_s = (now_nanos() / 1_000_000_000) as u64 + 4;
        let t = jiff::Timestamp::from_second(target_s as i64).expect("in range");
        Burst {
            target_s,
            expr: format!(
                "{} {} {} * * *",
                t.strftime("%S"),
                t.strftime("%M"),
                t.strftime("%H")
            ),
            started: Default::default(),
            last: Default::default(),
        }
    }

    /// The job each bot runs.
    pub fn job(&self) -> std::sync::Arc<dyn Fn() + Send + Sync> {
        use std::sync::atomic::Ordering;
        let (s, l) = (
            std::sync::Arc::clone(&self.started),
            std::sync::Arc::clone(&self.last),
        );
        std::sync::Arc::new(move || {
            s.fetch_add(1, Ordering::SeqCst);
            l.fetch_max(now_nanos() as u64, Ordering::SeqCst);
        })
    }

    /// Waits (at most 12 s) until `n` runs started; returns how many did
    /// and how long after the target second the last one started (ms).
    pub async fn wait(&self, n: usize) -> (usize, f64) {
        use std::sync::atomic::Ordering;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(12);
        while std::time::Instant::now() < deadline && self.started.load(Ordering::SeqCst) < n {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let span_ms = (self.last.load(Ordering::SeqCst) as f64 - self.target_s as f64 * 1e9) / 1e6;
        (self.started.load(Ordering::SeqCst), span_ms)
    }
}
