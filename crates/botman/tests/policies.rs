//! Every policy, driven by a manual clock: no test sleeps for time to pass.
//! After moving the clock, a test waits (real time, bounded) for the
//! consequence to show in the metrics.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use botman::{
    Bot, BotMetrics, BotState, Botman, Clock, JobError, ManualClock, Misfire, Overlap, RunOutcome,
    SoftError,
};

mod common;
use common::{WAIT, secs, t};

fn manager(clock: &ManualClock) -> Botman {
    Botman::builder()
        .clock(clock.clone())
        .build()
        .expect("manager")
}

async fn until(m: &Botman, name: &str, what: &str, f: impl Fn(&BotMetrics) -> bool) {
    let ok = m
        .wait_until(WAIT, |all| {
            all.iter().find(|b| b.name == name).is_some_and(&f)
        })
        .await;
    assert!(
        ok,
        "timed out waiting for {name}: {what}; metrics: {:?}",
        m.metrics_of(name)
    );
}

fn counting_ok(
    count: &Arc<AtomicUsize>,
) -> impl Fn() -> Result<&'static str, JobError> + Send + Sync + 'static {
    let count = Arc::clone(count);
    move || {
        count.fetch_add(1, Ordering::SeqCst);
        Ok("done")
    }
}

/// Adds a bot on `expr` whose job counts its runs in `n` and succeeds.
fn add_counting(m: &Botman, name: &str, expr: &str, n: &Arc<AtomicUsize>) {
    let bot = Bot::builder(name)
        .schedule(expr)
        .job(counting_ok(n))
        .build();
    m.add_bot(bot.expect("valid bot")).expect("new name");
}

fn counting_err(
    count: &Arc<AtomicUsize>,
) -> impl Fn() -> Result<(), JobError> + Send + Sync + 'static {
    let count = Arc::clone(count);
    move || {
        count.fetch_add(1, Ordering::SeqCst);
        Err("the database is down".into())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fires_on_schedule_from_the_scheduled_instant() {
    let clock = ManualClock::new(t("2025-01-01T00:00:30Z"));
    let m = manager(&clock);
    let n = Arc::new(AtomicUsize::new(0));
    add_counting(&m, "tick", "* * * * *", &n);
    m.start();
    assert_eq!(
        m.metrics_of("tick").unwrap().next_run,
        Some(t("2025-01-01T00:01:00Z"))
    );
    clock.advance(secs(29));
    tokio::task::yield_now().await;
    assert_eq!(
        m.metrics_of("tick").unwrap().runs,
        0,
        "nothing before the instant"
    );
    clock.advance(secs(1));
    until(&m, "tick", "first run", |b| b.successes == 1).await;
    let b = m.metrics_of("tick").unwrap();
    assert_eq!(b.last_run, Some(t("2025-01-01T00:01:00Z")));
    assert_eq!(b.next_run, Some(t("2025-01-01T00:02:00Z")));
    assert_eq!(b.state, BotState::Idle);
    clock.advance(secs(60));
    until(&m, "tick", "second run", |b| b.successes == 2).await;
    assert_eq!(n.load(Ordering::SeqCst), 2);
    m.stop_async().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_wait_longer_each_time_then_cool_down() {
    let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
    let m = manager(&clock);
    let n = Arc::new(AtomicUsize::new(0));
    let bot = Bot::builder("flaky")
        .schedule("0 * * * *")
        .retries(3)
        .retry_delay(secs(10))
        .job(counting_err(&n))
        .build()
        .unwrap();
    m.add_bot(bot).unwrap();
    m.start();
    clock.advance(secs(3600));
    until(&m, "flaky", "first retry scheduled", |b| b.retries == 1).await;
    assert_eq!(n.load(Ordering::SeqCst), 1);
    // Attempt 2 comes after retry_delay * 1 = 10 s, not before.
    clock.advance(secs(9));
    tokio::task::yield_now().await;
    assert_eq!(n.load(Ordering::SeqCst), 1);
    clock.advance(secs(1));
    until(&m, "flaky", "second retry scheduled", |b| b.retries == 2).await;
    assert_eq!(n.load(Ordering::SeqCst), 2);
    // Attempt 3 after retry_delay * 2 = 20 s; then the fire is exhausted.
    clock.advance(secs(20));
    until(&m, "flaky", "cool-down", |b| b.errors == 1).await;
    let b = m.metrics_of("flaky").unwrap();
    assert_eq!(n.load(Ordering::SeqCst), 3);
    assert_eq!((b.runs, b.successes, b.consecutive_failures), (1, 0, 1));
    assert_eq!(b.state, BotState::Timeout);
    let now = clock.now();
    assert_eq!(b.timeout_until, Some(t("2025-01-01T01:01:30Z")));
    assert_eq!(now, t("2025-01-01T01:00:30Z"));
    let bot = m.bot("flaky").unwrap();
    assert!(bot.is_in_timeout());
    m.stop_async().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cool_down_skips_fires_then_recovers_doubling_until_success() {
    let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
    let m = manager(&clock);
    let fail = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let runs = Arc::new(AtomicUsize::new(0));
    let (f, r) = (Arc::clone(&fail), Arc::clone(&runs));
    let bot = Bot::builder("cool")
        .schedule("*/10 * * * * *")
        .retries(1)
        .initial_timeout(secs(60))
        .max_timeout(secs(100))
        .job(move || {
            r.fetch_add(1, Ordering::SeqCst);
            if f.load(Ordering::SeqCst) {
                Err::<(), JobError>("down".into())
            } else {
                Ok(())
            }
        })
        .build()
        .unwrap();
    m.add_bot(bot).unwrap();
    m.start();
    clock.advance(secs(10)); // 00:00:10 fires, fails: cool-down until 00:01:10
    until(&m, "cool", "cool-down 1", |b| {
        b.errors == 1 && b.state == BotState::Timeout
    })
    .await;
    assert_eq!(
        m.bot("cool").unwrap().timeout_until(),
        Some(t("2025-01-01T00:01:10Z"))
    );
    // Fires inside the cool-down are skipped, not run.
    for _ in 0..5 {
        clock.advance(secs(10));
        tokio::task::yield_now().await;
    }
    until(&m, "cool", "skips", |b| b.skipped == 5).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    // The cool-down ends: one recovery run at once; it fails, the next
    // cool-down is doubled (120 s) but capped at max_timeout (100 s).
    clock.advance(secs(10)); // 00:01:10
    until(&m, "cool", "recovery failed", |b| b.errors == 2).await;
    assert_eq!(
        m.bot("cool").unwrap().timeout_until(),
        Some(t("2025-01-01T00:02:50Z"))
    );
    // Recovery succeeds: the cool-down resets to initial_timeout. (The
    // jump also makes the fires skipped in between late: they are decided
    // by the misfire policy, which is tested on its own.)
    fail.store(false, Ordering::SeqCst);
    clock.set(t("2025-01-01T00:02:50Z"));
    until(&m, "cool", "recovered", |b| b.successes >= 1).await;
    let b = m.metrics_of("cool").unwrap();
    assert_eq!(b.consecutive_failures, 0);
    assert!(!m.bot("cool").unwrap().is_in_timeout());
    m.stop_async().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_errors_fail_once_without_retry_or_cool_down() {
    let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
    let m = manager(&clock);
    let n = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&n);
    m.add_bot(
        Bot::builder("soft")
            .schedule("* * * * *")
            .job(move || {
                c.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(SoftError::new("market closed"))
            })
            .build()
            .unwrap(),
    )
    .unwrap();
    let out = m.run_bot("soft").unwrap().await.unwrap();
    assert_eq!(out.outcome, RunOutcome::SoftFailure);
    assert_eq!(out.attempts, 1);
    assert_eq!(out.error.as_deref(), Some("market closed"));
    let b = m.metrics_of("soft").unwrap();
    assert_eq!((b.errors, b.retries), (1, 0));
    assert_eq!(b.state, BotState::Error);
    assert!(!m.bot("soft").unwrap().is_in_timeout());
    assert_eq!(n.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panics_fail_the_attempt_and_disturb_nothing_else() {
    let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
    let m = manager(&clock);
    m.add_bot(
        Bot::builder("boom")
            .schedule("* * * * *")
            .retries(1)
            .job(|| -> Result<(), JobError> { panic!("kaboom") })
            .build()
            .unwrap(),
    )
    .unwrap();
    m.add_bot(
        Bot::builder("async_boom")
            .schedule("* * * * *")
            .retries(1)
            .async_job(|| async {
                if true {
                    panic!("async kaboom")
                }
                Ok::<(), JobError>(())
            })
            .build()
            .unwrap(),
    )
    .unwrap();
    let n = Arc::new(AtomicUsize::new(0));
    add_counting(&m, "fine", "* * * * *", &n);
    m.start();
    clock.advance(secs(60));
    until(&m, "fine", "ran", |b| b.successes == 1).await;
    until(&m, "boom", "failed", |b| b.errors == 1).await;
    until(&m, "async_boom", "failed", |b| b.errors == 1).await;
    let out = m.run_bot("boom").unwrap().await.unwrap();
    assert_eq!(out.error.as_deref(), Some("panicked: kaboom"));
    let out = m.run_bot("async_boom").unwrap().await.unwrap();
    assert_eq!(out.error.as_deref(), Some("panicked: async kaboom"));
    // The scheduler is still alive.
    clock.advance(secs(60));
    until(&m, "fine", "ran again", |b| b.successes == 2).await;
    m.stop_async().await;
}

/// A latch a blocking job waits on.
type Gate = Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>;

/// A job that blocks until released, to hold a run open.
fn gate() -> (
    Gate,
    impl Fn() -> Result<(), JobError> + Send + Sync + 'static,
) {
    let g = Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
    let g2 = Arc::clone(&g);
    (g, move || {
        let (lock, cv) = &*g2;
        let mut open = lock.lock().unwrap();
        while !*open {
            open = cv.wait(open).unwrap();
        }
        Ok(())
    })
}

fn release(g: &Gate) {
    *g.0.lock().unwrap() = true;
    g.1.notify_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlap_skip_queue_and_concurrent() {
    let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
    let m = manager(&clock);
    let (g1, j1) = gate();
    let (g2, j2) = gate();
    let (g3, j3) = gate();
    m.add_bot(
        Bot::builder("skip")
            .schedule("* * * * *")
            .job(j1)
            .build()
            .unwrap(),
    )
    .unwrap();
    m.add_bot(
        Bot::builder("queue")
            .schedule("* * * * *")
            .overlap(Overlap::Queue)
            .job(j2)
            .build()
            .unwrap(),
    )
    .unwrap();
    m.add_bot(
        Bot::builder("conc")
            .schedule("* * * * *")
            .overlap(Overlap::Concurrent(2))
            .job(j3)
            .build()
            .unwrap(),
    )
    .unwrap();
    m.start();
    for k in 1..=3u64 {
        clock.advance(secs(60));
        until(&m, "skip", "fire seen", |b| {
            b.runs + b.skipped == 1 + (k - 1)
        })
        .await;
        until(&m, "conc", "fire seen", |b| b.runs + b.skipped == k).await;
    }
    until(&m, "queue", "one queued, one skipped", |b| {
        b.runs == 1 && b.skipped == 1
    })
    .await;
    let skip = m.metrics_of("skip").unwrap();
    assert_eq!((skip.runs, skip.skipped), (1, 2));
    let conc = m.metrics_of("conc").unwrap();
    assert_eq!((conc.runs, conc.skipped), (2, 1));
    assert_eq!(conc.state, BotState::Running);
    // Releasing the queue bot's run starts the queued fire at once.
    release(&g2);
    until(&m, "queue", "queued fire ran", |b| b.successes == 2).await;
    release(&g1);
    release(&g3);
    until(&m, "conc", "both done", |b| b.successes == 2).await;
    m.stop_async().await;
}

async fn misfire_case(policy: Misfire) -> BotMetrics {
    let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
    let m = manager(&clock);
    let n = Arc::new(AtomicUsize::new(0));
    m.add_bot(
        Bot::builder("late")
            .schedule("* * * * *")
            .misfire(policy)
            .misfire_grace(secs(30))
            .job(counting_ok(&n))
            .build()
            .unwrap(),
    )
    .unwrap();
    m.start();
    // The process "sleeps" through ten fires (00:01 .. 00:10).
    clock.advance(secs(600));
    until(&m, "late", "batch decided", |b| {
        b.missed + b.successes == 10
    })
    .await;
    let b = m.metrics_of("late").unwrap();
    assert_eq!(
        b.next_run,
        Some(t("2025-01-01T00:11:00Z")),
        "the next fire is in the future"
    );
    m.stop_async().await;
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misfire_policies() {
    // Ten fires due (00:01 .. 00:10), noticed at 00:10 with a 30 s grace:
    // nine are late, 00:10 is on time.
    let once = misfire_case(Misfire::RunOnce).await;
    assert_eq!((once.runs, once.missed), (1, 9), "one run stands for all");
    let skip = misfire_case(Misfire::Skip).await;
    assert_eq!(
        (skip.runs, skip.missed),
        (1, 9),
        "late ones dropped, the on-time one runs"
    );
    let all = misfire_case(Misfire::RunAll { max: 4 }).await;
    assert_eq!(
        (all.runs, all.missed),
        (5, 5),
        "four late ones, then the on-time one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jitter_delays_within_bounds_deterministically() {
    let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
    let m = manager(&clock);
    let n = Arc::new(AtomicUsize::new(0));
    m.add_bot(
        Bot::builder("jit")
            .schedule("0 * * * *")
            .jitter(secs(600))
            .job(counting_ok(&n))
            .build()
            .unwrap(),
    )
    .unwrap();
    m.start();
    let bot = m.bot("jit").unwrap();
    let scheduled = t("2025-01-01T01:00:00Z");
    assert_eq!(bot.next_run(), Some(scheduled));
    let j = bot.jitter_at(scheduled);
    assert!(j < secs(600));
    assert_eq!(j, bot.jitter_at(scheduled), "deterministic");
    assert_ne!(
        j,
        bot.jitter_at(t("2025-01-01T02:00:00Z")),
        "varies by instant"
    );
    let fire = scheduled
        .checked_add(botman::jiff::SignedDuration::try_from(j).unwrap())
        .unwrap();
    // Just before the jittered instant: nothing; at it: the run.
    clock.set(
        fire.checked_sub(botman::jiff::SignedDuration::from_millis(1))
            .unwrap(),
    );
    tokio::task::yield_now().await;
    assert_eq!(m.metrics_of("jit").unwrap().runs, 0);
    clock.set(fire);
    until(&m, "jit", "ran", |b| b.successes == 1).await;
    assert_eq!(m.metrics_of("jit").unwrap().last_run, Some(fire));
    m.stop_async().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_limits_cancel_async_and_report_sync() {
    let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
    let m = Botman::builder()
        .clock(clock.clone())
        .max_workers(1)
        .build()
        .unwrap();
    let entered = Arc::new(AtomicUsize::new(0));
    let e = Arc::clone(&entered);
    m.add_bot(
        Bot::builder("slow_async")
            .schedule("* * * * *")
            .retries(1)
            .time_limit(secs(5))
            .async_job(move || {
                e.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<Result<(), JobError>>()
            })
            .build()
            .unwrap(),
    )
    .unwrap();
    let (g, j) = gate();
    let e = Arc::clone(&entered);
    let j = move || {
        e.fetch_add(1, Ordering::SeqCst);
        j()
    };
    m.add_bot(
        Bot::builder("slow_sync")
            .schedule("* * * * *")
            .retries(1)
            .time_limit(secs(5))
            .job(j)
            .build()
            .unwrap(),
    )
    .unwrap();
    let n = Arc::new(AtomicUsize::new(0));
    add_counting(&m, "other_sync", "0 0 1 1 *", &n);
    let a = m.run_bot("slow_async").unwrap();
    let s = m.run_bot("slow_sync").unwrap();
    // Both jobs have started, so their deadlines are fixed: now move time.
    let started = async {
        while entered.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(WAIT, started)
        .await
        .expect("both jobs start");
    clock.advance(secs(5));
    let a = a.await.unwrap();
    assert_eq!(a.outcome, RunOutcome::TimedOut);
    assert!(a.error.unwrap().contains("timed out"));
    let s = s.await.unwrap();
    assert!(s.error.unwrap().contains("timed out"));
    // The sync thread still holds the only worker slot until it returns.
    let other = m.run_bot("other_sync").unwrap();
    tokio::task::yield_now().await;
    assert_eq!(n.load(Ordering::SeqCst), 0);
    release(&g);
    assert!(other.await.unwrap().is_success());
    assert_eq!(n.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_while_running_take_effect_at_once() {
    let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
    let m = manager(&clock);
    m.start();
    let n = Arc::new(AtomicUsize::new(0));
    // Added while running: scheduled at once.
    add_counting(&m, "late_add", "0 0 * * *", &n);
    let bot = m.bot("late_add").unwrap();
    assert_eq!(bot.next_run(), Some(t("2025-01-02T00:00:00Z")));
    // Rescheduled: an earlier schedule wakes the sleeping loop.
    bot.add_schedule("*/5 * * * *", None).unwrap();
    assert_eq!(bot.next_run(), Some(t("2025-01-01T00:05:00Z")));
    clock.advance(secs(300));
    until(&m, "late_add", "ran", |b| b.successes == 1).await;
    // Paused: fires are recorded as skipped.
    bot.pause();
    clock.advance(secs(300));
    until(&m, "late_add", "skipped", |b| b.skipped == 1).await;
    bot.resume();
    clock.advance(secs(300));
    until(&m, "late_add", "ran after resume", |b| b.successes == 2).await;
    bot.remove_schedule("*/5 * * * *").unwrap();
    assert_eq!(bot.next_run(), Some(t("2025-01-02T00:00:00Z")));
    assert!(bot.remove_schedule("*/5 * * * *").unwrap_err().is_unknown());
    // Removed: no more runs.
    m.remove_bot("late_add").unwrap();
    clock.advance(secs(86_400));
    tokio::task::yield_now().await;
    assert_eq!(n.load(Ordering::SeqCst), 2);
    assert!(m.metrics_of("late_add").unwrap_err().is_unknown());
    m.stop_async().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bot_state_queries() {
    let clock = ManualClock::new(t("2025-01-01T00:00:30Z"));
    let m = manager(&clock);
    let n = Arc::new(AtomicUsize::new(0));
    add_counting(&m, "q", "* * * * *", &n);
    let bot = m.bot("q").unwrap();
    assert_eq!(bot.next_run(), Some(t("2025-01-01T00:01:00Z")));
    assert!(!bot.is_due());
    clock.advance(secs(30));
    assert!(bot.is_due());
    bot.set_last_run(t("2025-01-01T00:01:00Z"));
    assert!(!bot.is_due());
    assert_eq!(bot.metrics().last_run, Some(t("2025-01-01T00:01:00Z")));
    assert_eq!(bot.metrics().since, t("2025-01-01T00:00:30Z"));
    assert!(!bot.is_in_timeout());
    assert_eq!(bot.timeout_until(), None);
    // Manual runs, blocking and awaited, report values and durations.
    let out = m.run_bot("q").unwrap().await.unwrap();
    assert_eq!(out.value, Some(serde_json::json!("done")));
    let all = m.run_all_bots();
    assert_eq!(all.len(), 1);
    for h in all {
        assert!(h.await.unwrap().is_success());
    }
    let b = m.metrics_of("q").unwrap();
    assert_eq!((b.runs, b.successes), (2, 2));
    assert_eq!(
        b.duration_p50,
        Some(Duration::ZERO),
        "the manual clock did not move"
    );
    assert!(
        m.add_bot(
            Bot::builder("q")
                .schedule("* * * * *")
                .job(counting_ok(&n))
                .build()
                .unwrap()
        )
        .unwrap_err()
        .is_duplicate_bot()
    );
    assert!(m.run_bot("nope").unwrap_err().is_unknown());
    m.set_name("prod");
    assert_eq!(m.name(), "prod");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_waits_for_the_grace_then_reports_abandoned_runs() {
    let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
    let m = Botman::builder()
        .clock(clock.clone())
        .shutdown_grace(secs(30))
        .build()
        .unwrap();
    let (g, j) = gate();
    m.add_bot(
        Bot::builder("stuck")
            .schedule("0 0 1 1 *")
            .job(j)
            .build()
            .unwrap(),
    )
    .unwrap();
    m.start();
    let h = m.run_bot("stuck").unwrap();
    until(&m, "stuck", "running", |b| b.state == BotState::Running).await;
    let m2 = m.clone();
    let stopping = tokio::spawn(async move { m2.stop_async().await });
    // Once the stop is visible its grace deadline is fixed.
    let stopped = async {
        while m.is_running() {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(WAIT, stopped)
        .await
        .expect("stop begins");
    assert!(!stopping.is_finished());
    clock.advance(secs(30));
    let report = stopping.await.unwrap();
    assert_eq!(report.abandoned, vec!["stuck".to_owned()]);
    release(&g);
    assert!(h.await.unwrap().is_success());
    // A stop with nothing running returns at once.
    assert!(m.stop_async().await.abandoned.is_empty());
}

#[test]
fn works_from_plain_main_without_a_runtime() {
    let m = Botman::new();
    let n = Arc::new(AtomicUsize::new(0));
    add_counting(&m, "plain", "0 0 1 1 *", &n);
    m.start();
    let out = m.run_bot("plain").unwrap().wait().unwrap();
    assert!(out.is_success());
    assert!(m.stop().abandoned.is_empty());
    assert_eq!(n.load(Ordering::SeqCst), 1);
}

#[test]
fn com_bots_build_everywhere() {
    let bot = Bot::builder("excel")
        .schedule("0 9 * * 1-5")
        .is_com_bot(true)
        .job(|| Ok::<(), JobError>(()))
        .build()
        .unwrap();
    let m = Botman::new();
    m.add_bot(bot).unwrap();
    assert!(m.run_bot("excel").unwrap().wait().unwrap().is_success());
}

#[test]
fn add_bots_is_all_or_nothing() {
    let m = Botman::new();
    let mk = |n: &str| {
        Bot::builder(n)
            .schedule("0 0 1 1 *")
            .job(|| Ok::<(), JobError>(()))
            .build()
            .unwrap()
    };
    m.add_bots([mk("a"), mk("b")]).unwrap();
    assert!(
        m.add_bots([mk("c"), mk("a")])
            .unwrap_err()
            .is_duplicate_bot()
    );
    assert!(
        m.add_bots([mk("d"), mk("d")])
            .unwrap_err()
            .is_duplicate_bot()
    );
    assert_eq!(m.bot_names(), ["a", "b"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_jobs_share_a_bounded_pool() {
    let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
    let m = Botman::builder()
        .clock(clock.clone())
        .max_workers(2)
        .build()
        .unwrap();
    let entered = Arc::new(AtomicUsize::new(0));
    let (g, j) = gate();
    let j = Arc::new(j);
    for name in ["w1", "w2", "w3"] {
        let (e, j) = (Arc::clone(&entered), Arc::clone(&j));
        let job = move || {
            e.fetch_add(1, Ordering::SeqCst);
            j()
        };
        m.add_bot(
            Bot::builder(name)
                .schedule("0 0 1 1 *")
                .job(job)
                .build()
                .unwrap(),
        )
        .unwrap();
    }
    let handles = m.run_all_bots();
    let two = async {
        while entered.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(WAIT, two).await.expect("two start");
    // The third waits for a slot: give it every chance to (wrongly) start.
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert_eq!(entered.load(Ordering::SeqCst), 2);
    release(&g);
    for h in handles {
        assert!(h.await.unwrap().is_success());
    }
    assert_eq!(entered.load(Ordering::SeqCst), 3);
}
