//! Every policy, driven by a manual clock: no test sleeps for time to pass.
//! After moving the clock, a test waits (real time, bounded) for the
//! consequence to show in the metrics, or for the manager to be idle
//! (`wait_idle`) before checking that something did NOT happen yet: a
//! check one second before each deadline that fails if anything ran early.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use botman::jiff::{SignedDuration, Timestamp};
use botman::{
    Bot, BotState, Botman, Clock, JobError, ManualClock, Misfire, Overlap, RunOutcome, SoftError,
};

mod common;
use common::{Gate, WAIT, idle, manager, run, secs, t, until};

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

/// A job that counts its attempts and fails while `fail` is set.
fn flaky(
    attempts: &Arc<AtomicUsize>,
    fail: &Arc<AtomicBool>,
) -> impl Fn() -> Result<(), JobError> + Send + Sync + 'static {
    let (n, f) = (Arc::clone(attempts), Arc::clone(fail));
    move || {
        n.fetch_add(1, Ordering::SeqCst);
        if f.load(Ordering::SeqCst) {
            Err("the database is down".into())
        } else {
            Ok(())
        }
    }
}

fn plus(at: Timestamp, s: i64) -> Timestamp {
    at.checked_add(SignedDuration::from_secs(s)).unwrap()
}

#[test]
fn fires_on_schedule_from_the_scheduled_instant_and_not_a_second_early() {
    run(async {
        let clock = ManualClock::new(t("2025-01-01T00:00:30Z"));
        let m = manager(&clock);
        let n = Arc::new(AtomicUsize::new(0));
        add_counting(&m, "tick", "* * * * *", &n);
        // Wakes the scheduler at 00:00:59, one second before tick's fire: a
        // scheduler that took fires up to a second early would run it then.
        let w = Arc::new(AtomicUsize::new(0));
        add_counting(&m, "waker", "59 * * * * *", &w);
        m.start();
        assert_eq!(
            m.metrics_of("tick").unwrap().next_run,
            Some(t("2025-01-01T00:01:00Z"))
        );
        clock.advance(secs(29));
        until(&m, "waker", "woke the scheduler", |b| b.successes == 1).await;
        idle(&m).await;
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
        clock.advance(secs(59));
        until(&m, "waker", "woke the scheduler again", |b| {
            b.successes == 2
        })
        .await;
        idle(&m).await;
        assert_eq!(m.metrics_of("tick").unwrap().runs, 1);
        clock.advance(secs(1));
        until(&m, "tick", "second run", |b| b.successes == 2).await;
        assert_eq!(n.load(Ordering::SeqCst), 2);
        m.stop_async().await;
    });
}

#[test]
fn retries_wait_exactly_longer_each_time_then_cool_down() {
    run(async {
        let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
        let m = manager(&clock);
        let n = Arc::new(AtomicUsize::new(0));
        let fail = Arc::new(AtomicBool::new(true));
        let bot = Bot::builder("flaky")
            .schedule("0 * * * *")
            .retries(4)
            .retry_delay(secs(10))
            .max_retry_delay(secs(25))
            .initial_timeout(secs(60))
            .job(flaky(&n, &fail))
            .build()
            .unwrap();
        m.add_bot(bot).unwrap();
        m.start();
        clock.advance(secs(3600)); // 01:00: attempt 1
        until(&m, "flaky", "first retry scheduled", |b| b.retries == 1).await;
        // The waits: 10 s, 20 s, then min(30, 25) = 25 s. One second before
        // each, nothing; at it, the next attempt.
        for (k, wait) in [(1, 10), (2, 20), (3, 25)] {
            assert_eq!(n.load(Ordering::SeqCst), k, "attempt {k} made");
            clock.advance(secs(wait - 1));
            idle(&m).await;
            assert_eq!(
                n.load(Ordering::SeqCst),
                k,
                "attempt {} not before {wait} s",
                k + 1
            );
            clock.advance(secs(1));
            let next = k + 1;
            let ok = m
                .wait_until(WAIT, |_| n.load(Ordering::SeqCst) == next)
                .await;
            assert!(ok, "attempt {next} after {wait} s");
            // The attempt has failed and fixed its next deadline.
            idle(&m).await;
        }
        until(&m, "flaky", "cool-down", |b| b.errors == 1).await;
        let b = m.metrics_of("flaky").unwrap();
        assert_eq!(n.load(Ordering::SeqCst), 4);
        assert_eq!(
            (b.runs, b.retries, b.successes, b.consecutive_failures),
            (1, 3, 0, 1)
        );
        assert_eq!(b.state, BotState::Timeout);
        assert_eq!(clock.now(), t("2025-01-01T01:00:55Z"));
        assert_eq!(b.timeout_until, Some(t("2025-01-01T01:01:55Z")));
        assert!(m.bot("flaky").unwrap().is_in_timeout());
        m.stop_async().await;
    });
}

#[test]
fn cool_downs_double_exactly_then_reset_after_a_success() {
    run(async {
        let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
        let m = manager(&clock);
        let n = Arc::new(AtomicUsize::new(0));
        let fail = Arc::new(AtomicBool::new(true));
        m.add_bot(
            Bot::builder("cool")
                .schedule("0 0 1 1 *")
                .retries(1)
                .initial_timeout(secs(60))
                .max_timeout(secs(1000))
                .job(flaky(&n, &fail))
                .build()
                .unwrap(),
        )
        .unwrap();
        m.start();
        let bot = m.bot("cool").unwrap();
        let out = m.run_bot("cool").unwrap().await.unwrap();
        assert_eq!(out.outcome, RunOutcome::Failure);
        // Each failed recovery doubles the next cool-down: 60, 120, 240 s
        // (the cap, 1000 s, is far enough to see the growth).
        let mut now = clock.now();
        for (k, length) in [(1, 60), (2, 120), (3, 240)] {
            assert_eq!(
                bot.timeout_until(),
                Some(plus(now, length)),
                "cool-down {k}"
            );
            if k == 3 {
                fail.store(false, Ordering::SeqCst);
            }
            clock.advance(secs(length as u64 - 1));
            idle(&m).await;
            assert_eq!(n.load(Ordering::SeqCst), k, "no recovery before {length} s");
            assert!(bot.is_in_timeout());
            clock.advance(secs(1));
            now = clock.now();
            let ok = m
                .wait_until(WAIT, |_| n.load(Ordering::SeqCst) == k + 1)
                .await;
            assert!(ok, "recovery run {k} at {length} s");
            idle(&m).await;
        }
        // The third recovery succeeded: no cool-down, failures forgotten ...
        let b = m.metrics_of("cool").unwrap();
        assert_eq!((b.successes, b.errors, b.consecutive_failures), (1, 3, 0));
        assert_eq!(b.state, BotState::Idle);
        assert!(!bot.is_in_timeout());
        // ... and the next failure cools down for initial_timeout again.
        fail.store(true, Ordering::SeqCst);
        m.run_bot("cool").unwrap().await.unwrap();
        assert_eq!(bot.timeout_until(), Some(plus(clock.now(), 60)));
        m.stop_async().await;
    });
}

#[test]
fn cool_down_skips_fires_then_recovers_capped_at_max_timeout() {
    run(async {
        let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
        let m = manager(&clock);
        let fail = Arc::new(AtomicBool::new(true));
        let runs = Arc::new(AtomicUsize::new(0));
        let bot = Bot::builder("cool")
            .schedule("*/10 * * * * *")
            .retries(1)
            .initial_timeout(secs(60))
            .max_timeout(secs(100))
            .job(flaky(&runs, &fail))
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
        for k in 1..=5 {
            clock.advance(secs(10));
            until(&m, "cool", "skip", |b| b.skipped == k).await;
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        // The cool-down ends at 00:01:10 with one run (the fire due then
        // stands for the recovery run); it fails, and the next cool-down is
        // doubled (120 s) but capped at max_timeout (100 s).
        clock.advance(secs(10));
        until(&m, "cool", "recovery failed", |b| b.errors == 2).await;
        idle(&m).await;
        assert_eq!(
            runs.load(Ordering::SeqCst),
            2,
            "one run at the cool-down's end"
        );
        assert_eq!(
            m.bot("cool").unwrap().timeout_until(),
            Some(t("2025-01-01T00:02:50Z"))
        );
        fail.store(false, Ordering::SeqCst);
        for _ in 0..10 {
            clock.advance(secs(10));
        }
        until(&m, "cool", "recovered", |b| b.successes >= 1).await;
        let b = m.metrics_of("cool").unwrap();
        assert_eq!(b.consecutive_failures, 0);
        assert!(!m.bot("cool").unwrap().is_in_timeout());
        m.stop_async().await;
    });
}

#[test]
fn soft_errors_fail_once_without_retry_or_cool_down() {
    run(async {
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
    });
}

#[test]
fn panics_fail_the_attempt_and_disturb_nothing_else() {
    run(async {
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
    });
}

#[test]
fn overlap_skip_queue_and_concurrent() {
    run(async {
        let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
        let m = manager(&clock);
        let (g1, j1) = Gate::new();
        let (g2, j2) = Gate::new();
        let (g3, j3) = Gate::new();
        for (name, overlap, job) in [
            (
                "skip",
                Overlap::Skip,
                Box::new(j1) as Box<dyn Fn() -> Result<(), JobError> + Send + Sync>,
            ),
            ("queue", Overlap::Queue, Box::new(j2)),
            ("conc", Overlap::Concurrent(2), Box::new(j3)),
        ] {
            m.add_bot(
                Bot::builder(name)
                    .schedule("* * * * *")
                    .overlap(overlap)
                    .job(job)
                    .build()
                    .unwrap(),
            )
            .unwrap();
        }
        m.start();
        for k in 1..=3i64 {
            clock.advance(secs(60));
            let next = plus(t("2025-01-01T00:00:00Z"), 60 * (k + 1));
            for name in ["skip", "queue", "conc"] {
                until(&m, name, "fire decided", |b| b.next_run == Some(next)).await;
            }
        }
        // Admitted runs count in `runs` once their task starts them.
        until(&m, "skip", "one run, two skips", |b| {
            (b.runs, b.skipped) == (1, 2)
        })
        .await;
        until(&m, "queue", "one run, one queued, one skipped", |b| {
            (b.runs, b.skipped) == (1, 1)
        })
        .await;
        until(&m, "conc", "two at once, the third skipped", |b| {
            (b.runs, b.skipped) == (2, 1)
        })
        .await;
        assert_eq!(m.metrics_of("conc").unwrap().state, BotState::Running);
        // Releasing the queue bot's run starts the queued fire at once.
        g2.open();
        until(&m, "queue", "queued fire ran", |b| b.successes == 2).await;
        g1.open();
        g3.open();
        until(&m, "conc", "both done", |b| b.successes == 2).await;
        m.stop_async().await;
    });
}

/// Ten fires are due (00:01 .. 00:10) and the scheduler notices them at
/// `noticed`, with a 30 s grace. Returns (runs, missed).
async fn misfire_case(policy: Misfire, noticed: &str) -> (u64, u64) {
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
    // The process "sleeps" through ten fires.
    clock.set(t(noticed));
    until(&m, "late", "batch decided", |b| {
        b.next_run == Some(t("2025-01-01T00:11:00Z"))
    })
    .await;
    idle(&m).await;
    let b = m.metrics_of("late").unwrap();
    m.stop_async().await;
    assert_eq!(b.runs, n.load(Ordering::SeqCst) as u64);
    (b.runs, b.missed)
}

#[test]
fn misfire_policies_when_the_last_fire_is_on_time() {
    run(async {
        // Noticed at 00:10:20: nine fires are late, 00:10 is on time.
        let at = "2025-01-01T00:10:20Z";
        assert_eq!(
            misfire_case(Misfire::RunOnce, at).await,
            (1, 9),
            "one run stands for all"
        );
        assert_eq!(
            misfire_case(Misfire::Skip, at).await,
            (1, 9),
            "the on-time one runs"
        );
        assert_eq!(
            misfire_case(Misfire::RunAll { max: 4 }, at).await,
            (5, 5),
            "four late ones, then the on-time one"
        );
    });
}

#[test]
fn misfire_policies_when_every_fire_is_late() {
    run(async {
        // Noticed at 00:10:45: all ten are more than 30 s late.
        let at = "2025-01-01T00:10:45Z";
        assert_eq!(
            misfire_case(Misfire::RunOnce, at).await,
            (1, 9),
            "catch up once"
        );
        assert_eq!(misfire_case(Misfire::Skip, at).await, (0, 10), "run none");
        assert_eq!(misfire_case(Misfire::RunAll { max: 4 }, at).await, (4, 6));
    });
}

#[test]
fn misfire_grace_boundary_is_on_time() {
    run(async {
        // Noticed at 00:10:30: the 00:10 fire is exactly 30 s late, which is
        // within the grace (late means more than the grace).
        let at = "2025-01-01T00:10:30Z";
        assert_eq!(misfire_case(Misfire::Skip, at).await, (1, 9));
        // One second more and it is late too.
        assert_eq!(
            misfire_case(Misfire::Skip, "2025-01-01T00:10:31Z").await,
            (0, 10)
        );
    });
}

#[test]
fn jitter_delays_within_bounds_deterministically() {
    run(async {
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
            .checked_add(SignedDuration::try_from(j).unwrap())
            .unwrap();
        // Just before the jittered instant: nothing; at it: the run.
        clock.set(fire.checked_sub(SignedDuration::from_millis(1)).unwrap());
        idle(&m).await;
        assert_eq!(m.metrics_of("jit").unwrap().runs, 0);
        clock.set(fire);
        until(&m, "jit", "ran", |b| b.successes == 1).await;
        assert_eq!(m.metrics_of("jit").unwrap().last_run, Some(fire));
        m.stop_async().await;
    });
}

#[test]
fn time_limits_cancel_async_and_report_sync() {
    run(async {
        let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
        // No replacement for a stuck thread: the pool's one slot stays with
        // it until it returns (the replacements have their own test).
        let m = Botman::builder()
            .clock(clock.clone())
            .max_workers(1)
            .max_stuck_workers(0)
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
        let (g, j) = Gate::new();
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
        assert_eq!(s.outcome, RunOutcome::TimedOut);
        assert_eq!(m.stuck_workers(), 1);
        // The sync thread still holds the only worker slot until it returns.
        let other = m.run_bot("other_sync").unwrap();
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert_eq!(n.load(Ordering::SeqCst), 0);
        g.open();
        assert!(other.await.unwrap().is_success());
        assert_eq!(n.load(Ordering::SeqCst), 1);
        until(&m, "slow_sync", "thread back", |b| b.stuck_workers == 0).await;
        assert_eq!(m.stuck_workers(), 0);
    });
}

#[test]
fn changes_while_running_take_effect_at_once() {
    run(async {
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
        assert!(bot.is_paused() && m.metrics_of("late_add").unwrap().paused);
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
        idle(&m).await;
        assert_eq!(n.load(Ordering::SeqCst), 2);
        assert!(m.metrics_of("late_add").unwrap_err().is_unknown());
        m.stop_async().await;
    });
}

#[test]
fn bot_state_queries() {
    run(async {
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
    });
}

#[test]
fn stop_waits_for_the_grace_then_reports_abandoned_runs() {
    run(async {
        let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
        let m = Botman::builder()
            .clock(clock.clone())
            .shutdown_grace(secs(30))
            .build()
            .unwrap();
        let (g, j) = Gate::new();
        let began = Arc::new(AtomicBool::new(false));
        let b2 = Arc::clone(&began);
        m.add_bot(
            Bot::builder("stuck")
                .schedule("0 0 1 1 *")
                .job(move || {
                    b2.store(true, Ordering::SeqCst);
                    j()
                })
                .build()
                .unwrap(),
        )
        .unwrap();
        m.start();
        let h = m.run_bot("stuck").unwrap();
        until(&m, "stuck", "running", |b| b.state == BotState::Running).await;
        // Admitted is not yet on a thread: wait until the job runs.
        let deadline = std::time::Instant::now() + WAIT;
        while !began.load(Ordering::SeqCst) {
            assert!(std::time::Instant::now() < deadline, "the job never began");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
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
        clock.advance(secs(29));
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert!(!stopping.is_finished(), "the grace is not over");
        clock.advance(secs(1));
        let report = stopping.await.unwrap();
        assert_eq!(report.abandoned, vec!["stuck".to_owned()]);
        // The run is stopped and recorded as interrupted; a sync job's
        // thread cannot be stopped, so it is stuck until it returns.
        assert_eq!(report.stuck, vec!["stuck".to_owned()]);
        assert_eq!(h.await.unwrap().outcome, RunOutcome::Interrupted);
        g.open();
        until(&m, "stuck", "the thread returned", |b| b.stuck_workers == 0).await;
        // A stop with nothing running returns at once.
        assert!(m.stop_async().await.abandoned.is_empty());
    });
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

#[test]
fn sync_jobs_share_a_bounded_pool() {
    run(async {
        let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
        let m = Botman::builder()
            .clock(clock.clone())
            .max_workers(2)
            .build()
            .unwrap();
        let entered = Arc::new(AtomicUsize::new(0));
        let (g, j) = Gate::new();
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
        g.open();
        for h in handles {
            assert!(h.await.unwrap().is_success());
        }
        assert_eq!(entered.load(Ordering::SeqCst), 3);
    });
}

/// A manager stopped and started again runs one scheduler: each fire once.
#[test]
fn restart_runs_each_fire_once() {
    run(async {
        let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
        let m = manager(&clock);
        let n = Arc::new(AtomicUsize::new(0));
        add_counting(&m, "tick", "* * * * *", &n);
        for _ in 0..3 {
            m.start();
            m.stop_async().await;
        }
        m.start();
        clock.advance(secs(60));
        until(&m, "tick", "ran", |b| b.runs == 1).await;
        idle(&m).await;
        assert_eq!(n.load(Ordering::SeqCst), 1);
        m.stop_async().await;
    });
}

/// Early retries caught in real time too, without `wait_idle`: after moving
/// the clock to a second before a retry, give the manager real time to
/// (wrongly) start it.
#[test]
fn no_retry_starts_early_even_given_real_time() {
    run(async {
        let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
        let m = manager(&clock);
        let (n, fail) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicBool::new(true)),
        );
        m.add_bot(
            Bot::builder("flaky")
                .schedule("0 * * * *")
                .retries(3)
                .retry_delay(secs(10))
                .job(flaky(&n, &fail))
                .build()
                .unwrap(),
        )
        .unwrap();
        m.start();
        clock.advance(secs(3600));
        until(&m, "flaky", "retry 1 scheduled", |b| b.retries >= 1).await;
        for (k, wait) in [(1usize, 10u64), (2, 20)] {
            clock.advance(secs(wait - 1));
            let early = m
                .wait_until(Duration::from_millis(200), |_| n.load(Ordering::SeqCst) > k)
                .await;
            assert!(!early, "attempt {} started before {wait} s", k + 1);
            clock.advance(secs(1));
            until(&m, "flaky", "attempt failed", |b| {
                b.retries as usize == 2.min(k + 1) && (k < 2 || b.errors == 1)
            })
            .await;
        }
        m.stop_async().await;
    });
}

/// Three fires noticed at once, all within the grace (a restart or a stall
/// of two minutes): under `Overlap::Skip` the newest runs and the older two
/// are skipped for the overlap; under `Overlap::Queue` all three run, one
/// after another, oldest first.
#[test]
fn on_time_fires_noticed_together_follow_the_overlap_policy() {
    run(async {
        for (overlap, runs, skipped) in [(Overlap::Skip, 1, 2), (Overlap::Queue, 3, 0)] {
            let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
            let m = manager(&clock);
            let n = Arc::new(AtomicUsize::new(0));
            m.add_bot(
                Bot::builder("b")
                    .schedule("* * * * *")
                    .overlap(overlap)
                    .misfire_grace(secs(600))
                    .job(counting_ok(&n))
                    .build()
                    .unwrap(),
            )
            .unwrap();
            m.start();
            idle(&m).await;
            clock.set(t("2025-01-01T00:03:10Z"));
            until(&m, "b", "decided", |b| b.runs + b.skipped == 3).await;
            idle(&m).await;
            let b = m.metrics_of("b").unwrap();
            assert_eq!((b.runs, b.skipped), (runs, skipped), "{overlap:?}");
            let h = m.history_async("b", 10).await.unwrap();
            let ran: Vec<_> = h
                .iter()
                .filter(|r| r.outcome == Some(RunOutcome::Success))
                .filter_map(|r| r.scheduled)
                .collect();
            if overlap == Overlap::Skip {
                assert_eq!(ran, [t("2025-01-01T00:03:00Z")], "the newest runs");
            }
            m.stop_async().await;
        }
    });
}
