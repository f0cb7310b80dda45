//! The run lifecycle of issue #8: the claim path, clock jumps, stuck sync
//! workers, and a regression test for each bug found when the library was
//! tried as a new user would (named `bug_N_...` after the list).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use botman::{
    Bot, BotEvent, BotState, Botman, Clock, EventKind, EventManager, EventType, JobError,
    ManualClock, MissReason, RunOutcome, SkipReason, SoftError,
};

mod common;
use common::store::TestStore;
use common::{Gate, WAIT, idle, manager, run, secs, t, until};

fn recorder(events: &EventManager, who: &str) -> Arc<Mutex<Vec<BotEvent>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    events.subscribe(who, move |e| s.lock().unwrap().push(e.clone()), &[]);
    seen
}

fn kinds_of(seen: &Arc<Mutex<Vec<BotEvent>>>) -> Vec<EventKind> {
    seen.lock().unwrap().iter().map(|e| e.kind).collect()
}

fn counting(n: &Arc<AtomicUsize>) -> impl Fn() -> Result<(), JobError> + Send + Sync + 'static {
    let n = Arc::clone(n);
    move || {
        n.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// Adds a bot on `expr` whose job counts its runs in `n` and succeeds.
fn add_counter(m: &Botman, name: &str, expr: &str, n: &Arc<AtomicUsize>) {
    m.add_bot(
        Bot::builder(name)
            .schedule(expr)
            .job(counting(n))
            .build()
            .unwrap(),
    )
    .unwrap();
}

fn with_events(clock: &ManualClock, events: &EventManager) -> Botman {
    Botman::builder()
        .clock(clock.clone())
        .event_manager(events.clone())
        .build()
        .unwrap()
}

// ---- bug 1: a SoftError however it is wrapped ----

#[test]
fn bug_1_soft_errors_inside_anyhow_are_soft() {
    run(async {
        let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
        let m = manager(&clock);
        type AnyhowJob = fn() -> anyhow::Result<()>;
        let jobs: Vec<(&str, AnyhowJob)> = vec![
            ("new", || Err(anyhow::Error::new(SoftError::new("closed")))),
            ("question_mark", || {
                Err(SoftError::new("closed"))?;
                Ok(())
            }),
            ("bail", || anyhow::bail!(SoftError::new("closed"))),
            ("context", || {
                use anyhow::Context;
                Err(SoftError::new("closed")).context("market check")
            }),
        ];
        for (name, job) in jobs {
            m.add_bot(
                Bot::builder(name)
                    .schedule("0 0 1 1 *")
                    .job(job)
                    .build()
                    .unwrap(),
            )
            .unwrap();
        }
        m.add_bot(
            Bot::builder("async_anyhow")
                .schedule("0 0 1 1 *")
                .async_job(|| async { Err::<(), _>(anyhow::anyhow!(SoftError::new("closed"))) })
                .build()
                .unwrap(),
        )
        .unwrap();
        m.add_bot(
            Bot::builder("hard")
                .schedule("0 0 1 1 *")
                .retries(2)
                .retry_delay(Duration::ZERO)
                .job(|| -> anyhow::Result<()> { anyhow::bail!("plain failure") })
                .build()
                .unwrap(),
        )
        .unwrap();
        for name in ["new", "question_mark", "bail", "context", "async_anyhow"] {
            let r = m.run_bot(name).unwrap().await.unwrap();
            assert_eq!(r.outcome, RunOutcome::SoftFailure, "{name}: {r:?}");
            assert_eq!(r.attempts, 1, "{name}: no retry");
            assert!(
                !m.bot(name).unwrap().is_in_timeout(),
                "{name}: no cool-down"
            );
        }
        let r = m.run_bot("context").unwrap().await.unwrap();
        assert_eq!(
            r.error.as_deref(),
            Some("market check: closed"),
            "the whole chain"
        );
        let r = m.run_bot("hard").unwrap().await.unwrap();
        assert_eq!((r.outcome, r.attempts), (RunOutcome::Failure, 2));
        assert!(m.bot("hard").unwrap().is_in_timeout());
    });
}

// ---- bug 2: sync jobs that never return ----

fn hanging_bot(name: &str, job: impl Fn() -> Result<(), JobError> + Send + Sync + 'static) -> Bot {
    Bot::builder(name)
        .schedule("* * * * *")
        .retries(1)
        .time_limit(Duration::from_millis(300))
        .job(job)
        .build()
        .unwrap()
}

/// Runs `hang` by hand and moves the clock past its time limit.
async fn time_out_once(m: &Botman, clock: &ManualClock, entered: &Arc<AtomicUsize>) {
    let before = entered.load(Ordering::SeqCst);
    let h = m.run_bot("hang").unwrap();
    let started = async {
        while entered.load(Ordering::SeqCst) == before {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(WAIT, started)
        .await
        .expect("the job starts");
    clock.advance(Duration::from_millis(300));
    let r = tokio::time::timeout(WAIT, h)
        .await
        .expect("reported")
        .unwrap();
    assert_eq!(r.outcome, RunOutcome::TimedOut);
}

fn entering(
    entered: &Arc<AtomicUsize>,
    job: impl Fn() -> Result<(), JobError> + Send + Sync + 'static,
) -> impl Fn() -> Result<(), JobError> + Send + Sync + 'static {
    let e = Arc::clone(entered);
    move || {
        e.fetch_add(1, Ordering::SeqCst);
        job()
    }
}

#[test]
fn bug_2_stuck_sync_jobs_do_not_starve_the_pool() {
    run(async {
        let clock = ManualClock::new(t("2025-01-01T00:00:30Z"));
        let events = EventManager::new();
        let m = Botman::builder()
            .clock(clock.clone())
            .event_manager(events.clone())
            .max_workers(2)
            .build()
            .unwrap();
        let seen = recorder(&events, "hang");
        let (gate, job) = Gate::new();
        let entered = Arc::new(AtomicUsize::new(0));
        m.add_bot(hanging_bot("hang", entering(&entered, job)))
            .unwrap();
        let healthy = Arc::new(AtomicUsize::new(0));
        add_counter(&m, "healthy", "0 0 1 1 *", &healthy);
        m.start();
        time_out_once(&m, &clock, &entered).await;
        time_out_once(&m, &clock, &entered).await;
        // Both worker threads are stuck; replacements keep the pool at two.
        assert_eq!(m.stuck_workers(), 2);
        assert_eq!(m.metrics_of("hang").unwrap().stuck_workers, 2);
        let r = tokio::time::timeout(WAIT, m.run_bot("healthy").unwrap())
            .await
            .expect("a healthy sync bot still runs")
            .unwrap();
        assert!(r.is_success());
        // The time-outs started cool-downs (60 s, then 120 s, until
        // 00:02:30.6): the 00:01 and 00:02 fires are skipped for it. At its
        // end the recovery run follows the overlap policy (skip) while the
        // stuck threads run.
        assert_eq!(
            m.bot("hang").unwrap().timeout_until(),
            Some(t("2025-01-01T00:02:30.6Z"))
        );
        for (at, skipped) in [("00:01:00", 1), ("00:02:00", 2), ("00:02:31", 3)] {
            clock.set(t(&format!("2025-01-01T{at}Z")));
            until(&m, "hang", "fire skipped", |b| b.skipped == skipped).await;
        }
        assert_eq!(entered.load(Ordering::SeqCst), 2, "not started again");
        // Each stuck thread was an Error event naming the bot.
        idle(&m).await;
        assert!(events.wait_until_empty(WAIT));
        let stuck: Vec<BotEvent> = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.kind == EventKind::WorkerStuck)
            .cloned()
            .collect();
        assert_eq!(stuck.len(), 2);
        assert!(
            stuck
                .iter()
                .all(|e| e.event_type == EventType::Error && e.bot_name == "hang")
        );
        assert!(kinds_of(&seen).contains(&EventKind::FireSkipped {
            reason: SkipReason::Overlap
        }));
        // Stopping does not wait for stuck threads; it names them.
        let report = m.stop_async().await;
        assert!(report.abandoned.is_empty());
        assert_eq!(report.stuck, ["hang"]);
        // When the threads return, they are counted back.
        gate.open();
        until(&m, "hang", "threads back", |b| b.stuck_workers == 0).await;
        assert_eq!(m.stuck_workers(), 0);
        // Each return is told (the count drops just before the event).
        let returned = || {
            kinds_of(&seen)
                .into_iter()
                .filter(|k| *k == EventKind::WorkerReturned)
                .count()
        };
        let both = async {
            while returned() < 2 {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(WAIT, both)
            .await
            .expect("two returns told");
        assert!(events.wait_until_empty(WAIT));
        assert_eq!(returned(), 2);
    });
}

#[test]
fn bug_2_replacements_are_bounded() {
    run(async {
        let clock = ManualClock::new(t("2025-01-01T00:00:30Z"));
        let m = Botman::builder()
            .clock(clock.clone())
            .max_workers(1)
            .max_stuck_workers(1)
            .build()
            .unwrap();
        let (gate, job) = Gate::new();
        let entered = Arc::new(AtomicUsize::new(0));
        m.add_bot(hanging_bot("hang", entering(&entered, job)))
            .unwrap();
        let healthy = Arc::new(AtomicUsize::new(0));
        add_counter(&m, "healthy", "0 0 1 1 *", &healthy);
        time_out_once(&m, &clock, &entered).await; // replaced
        let r = tokio::time::timeout(WAIT, m.run_bot("healthy").unwrap())
            .await
            .expect("the replacement runs a healthy bot");
        assert!(r.unwrap().is_success());
        time_out_once(&m, &clock, &entered).await; // past the bound: not replaced
        assert_eq!(m.stuck_workers(), 2);
        let h = m.run_bot("healthy").unwrap();
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert_eq!(healthy.load(Ordering::SeqCst), 1, "the pool is one short");
        gate.open();
        assert!(h.await.unwrap().is_success());
        assert_eq!(healthy.load(Ordering::SeqCst), 2);
    });
}

// ---- bug 7: stop() from inside a runtime ----

#[test]
fn bug_7_stop_inside_a_multi_thread_runtime_waits_and_reports() {
    run(async {
        let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
        let events = EventManager::new();
        let m = with_events(&clock, &events);
        let seen = recorder(&events, "botman");
        let (gate, job) = Gate::new();
        m.add_bot(
            Bot::builder("slow")
                .schedule("0 0 1 1 *")
                .job(job)
                .build()
                .unwrap(),
        )
        .unwrap();
        m.start();
        let h = m.run_bot("slow").unwrap();
        until(&m, "slow", "running", |b| b.state == BotState::Running).await;
        let opener = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            gate.open();
        });
        // Blocking, from async code: it waits for the run like outside.
        let report = m.stop();
        assert!(report.abandoned.is_empty(), "{report:?}");
        assert!(h.await.unwrap().is_success());
        opener.join().unwrap();
        assert!(events.wait_until_empty(WAIT));
        let kinds = kinds_of(&seen);
        assert!(
            kinds.ends_with(&[EventKind::ManagerStopping, EventKind::ManagerStopped]),
            "{kinds:?}"
        );
    });
}

#[tokio::test(flavor = "current_thread")]
async fn bug_7_stop_inside_a_current_thread_runtime_fails_loudly() {
    let body = async {
        let m = Botman::new();
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| m.stop())).unwrap_err();
        let msg = err
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| err.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        assert!(msg.contains("stop_async"), "{msg}");
        assert!(m.stop_async().await.abandoned.is_empty());
    };
    // This one runs on the current-thread runtime it is about, so it cannot
    // use `common::run`; the same limit applies.
    tokio::time::timeout(common::TEST_LIMIT, body)
        .await
        .expect("the test timed out");
}

// ---- bug 8: a manager whose runtime is gone ----

#[test]
fn bug_8_run_bot_after_the_runtime_is_dropped_is_an_error() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let m = rt.block_on(async {
        let m = Botman::builder().build().unwrap();
        m.add_bot(
            Bot::builder("b")
                .schedule("0 0 1 1 *")
                .job(|| Ok::<(), JobError>(()))
                .build()
                .unwrap(),
        )
        .unwrap();
        assert!(m.run_bot("b").unwrap().await.unwrap().is_success());
        m
    });
    drop(rt);
    let err = m.run_bot("b").unwrap_err();
    assert!(err.is_runtime());
    assert!(err.to_string().contains("has shut down"), "{err}");
}

// ---- bug 9: the clock goes backwards ----

#[test]
fn bug_9_a_clock_set_far_ahead_and_back_recovers() {
    run(async {
        let clock = ManualClock::new(t("2000-01-01T00:00:00Z"));
        let events = EventManager::new();
        let m = with_events(&clock, &events);
        let seen = recorder(&events, "botman");
        let n = Arc::new(AtomicUsize::new(0));
        add_counter(&m, "tick", "* * * * *", &n);
        m.start();
        clock.set(t("9999-01-01T00:00:00Z"));
        until(&m, "tick", "caught up once", |b| b.runs == 1).await;
        idle(&m).await;
        clock.set(t("2000-01-01T00:00:00Z"));
        until(&m, "tick", "rescheduled", |b| {
            b.next_run == Some(t("2000-01-01T00:01:00Z"))
        })
        .await;
        clock.advance(secs(60));
        until(&m, "tick", "fires again", |b| b.runs == 2).await;
        idle(&m).await;
        assert!(events.wait_until_empty(WAIT));
        let jumps: Vec<BotEvent> = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.kind == EventKind::ClockJumped)
            .cloned()
            .collect();
        assert_eq!(jumps.len(), 2, "forward, then back: {jumps:?}");
        assert_eq!(jumps[0].data["action"], "misfire_policy");
        assert_eq!(jumps[1].data["action"], "rescheduled");
    });
}

#[test]
fn bug_9_back_one_hour_runs_no_fire_twice() {
    run(async {
        let clock = ManualClock::new(t("2025-01-01T09:59:30Z"));
        let events = EventManager::new();
        let m = with_events(&clock, &events);
        let seen = recorder(&events, "botman");
        let n = Arc::new(AtomicUsize::new(0));
        add_counter(&m, "tick", "* * * * *", &n);
        m.start();
        clock.advance(secs(30)); // 10:00
        until(&m, "tick", "ran at 10:00", |b| b.runs == 1).await;
        idle(&m).await;
        clock.set(t("2025-01-01T09:00:00Z"));
        let jumped = async {
            while !kinds_of(&seen).contains(&EventKind::ClockJumped) {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(WAIT, jumped)
            .await
            .expect("the jump is told");
        assert_eq!(seen.lock().unwrap().last().unwrap().data["action"], "kept");
        // The fires between 09:00 and 10:00 already ran (at those instants):
        // none runs again, and the next is still 10:01.
        assert_eq!(
            m.metrics_of("tick").unwrap().next_run,
            Some(t("2025-01-01T10:01:00Z"))
        );
        for _ in 0..60 {
            clock.advance(secs(60));
        }
        idle(&m).await;
        assert_eq!(clock.now(), t("2025-01-01T10:00:00Z"));
        assert_eq!(n.load(Ordering::SeqCst), 1, "nothing ran twice");
        clock.advance(secs(60));
        until(&m, "tick", "10:01", |b| b.runs == 2).await;
        m.stop_async().await;
    });
}

#[test]
fn bug_9_back_one_day_reschedules_from_the_new_time() {
    run(async {
        let clock = ManualClock::new(t("2025-01-02T10:00:00Z"));
        let m = manager(&clock);
        let n = Arc::new(AtomicUsize::new(0));
        add_counter(&m, "hourly", "0 * * * *", &n);
        m.start();
        clock.set(t("2025-01-01T10:00:30Z"));
        until(&m, "hourly", "rescheduled", |b| {
            b.next_run == Some(t("2025-01-01T11:00:00Z"))
        })
        .await;
        clock.set(t("2025-01-01T11:00:00Z"));
        until(&m, "hourly", "ran", |b| b.runs == 1).await;
        m.stop_async().await;
    });
}

#[test]
fn bug_9_forward_jumps_follow_the_misfire_policy() {
    run(async {
        let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
        let events = EventManager::new();
        let m = with_events(&clock, &events);
        let seen = recorder(&events, "botman");
        let n = Arc::new(AtomicUsize::new(0));
        add_counter(&m, "tick", "* * * * *", &n);
        m.start();
        clock.advance(secs(2 * 3600)); // 02:00: 120 fires due, 119 late
        until(&m, "tick", "caught up", |b| b.runs == 1 && b.missed == 119).await;
        assert!(events.wait_until_empty(WAIT));
        let jump = seen
            .lock()
            .unwrap()
            .iter()
            .find(|e| e.kind == EventKind::ClockJumped)
            .cloned()
            .expect("the jump is told");
        assert_eq!(jump.data["action"], "misfire_policy");
        m.stop_async().await;
    });
}

// ---- bug 10: build errors keep their kind ----

#[test]
fn bug_10_build_errors_keep_their_kind_and_source() {
    let err = Bot::builder("b")
        .schedule("* * * * *")
        .schedule("0 0 31 2 *")
        .job(|| Ok::<(), JobError>(()))
        .build()
        .unwrap_err();
    assert!(err.is_schedule() && err.is_invalid_bot());
    let parse = std::error::Error::source(&err)
        .and_then(|s| s.downcast_ref::<botman::ParseError>())
        .expect("the parse error is the source");
    assert_eq!(Some(parse.column()), err.parse_error().map(|p| p.column()));
    let shown = err.to_string();
    assert!(
        shown.starts_with("bot `b`: schedule 2 (`0 0 31 2 *`): "),
        "{shown}"
    );
    let err = Bot::builder("b")
        .schedule_in("* * * * *", "Mars/Base")
        .job(|| Ok::<(), JobError>(()))
        .build()
        .unwrap_err();
    assert!(err.is_time_zone() && std::error::Error::source(&err).is_some());
    let err = Bot::builder("all")
        .schedule("* * * * *")
        .job(|| Ok::<(), JobError>(()))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("`all` is reserved"), "{err}");
    #[cfg(feature = "webhooks")]
    {
        let err = Bot::builder("b")
            .schedule("* * * * *")
            .slack_webhook("ftp://hooks.example.com/SECRET")
            .job(|| Ok::<(), JobError>(()))
            .build()
            .unwrap_err();
        assert!(err.is_invalid_webhook() && err.is_invalid_bot());
        let shown = err.to_string();
        assert_eq!(shown.matches("invalid webhook").count(), 1, "{shown}");
        assert!(!shown.contains("SECRET"), "{shown}");
        let err = botman::SlackReceiver::new("not a url").build().unwrap_err();
        assert_eq!(
            err.to_string().matches("invalid webhook").count(),
            1,
            "{err}"
        );
    }
}

// ---- the claim path, with a store shared "by other processes" ----

/// A manager on a fake shared store with the `tick` bot (every minute, a
/// 10 s misfire grace), started, and a recorder of tick's events.
struct StoreCase {
    clock: ManualClock,
    store: Arc<TestStore>,
    events: EventManager,
    m: Botman,
    n: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<BotEvent>>>,
}

fn store_case(prepare: impl FnOnce(&TestStore)) -> StoreCase {
    let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
    let store = TestStore::shared_memory();
    prepare(&store);
    let events = EventManager::new();
    let m = Botman::builder()
        .clock(clock.clone())
        .store(Arc::clone(&store))
        .event_manager(events.clone())
        .build()
        .unwrap();
    let seen = recorder(&events, "tick");
    let n = Arc::new(AtomicUsize::new(0));
    m.add_bot(
        Bot::builder("tick")
            .schedule("* * * * *")
            .misfire_grace(secs(10))
            .job(counting(&n))
            .build()
            .unwrap(),
    )
    .unwrap();
    m.start();
    StoreCase {
        clock,
        store,
        events,
        m,
        n,
        seen,
    }
}

/// The first event of a kind matching `want`, once every queue is empty.
fn first_event(c: &StoreCase, want: impl Fn(&EventKind) -> bool) -> BotEvent {
    assert!(c.events.wait_until_empty(WAIT));
    c.seen
        .lock()
        .unwrap()
        .iter()
        .find(|e| want(&e.kind))
        .cloned()
        .expect("told")
}

#[test]
fn claims_won_and_lost() {
    run(async {
        // Another process already claimed 00:02.
        let c = store_case(|s| {
            s.claimed_elsewhere
                .lock()
                .unwrap()
                .insert(("tick".into(), t("2025-01-01T00:02:00Z")));
        });
        let StoreCase { clock, m, n, .. } = &c;
        clock.advance(secs(60));
        until(m, "tick", "won 00:01", |b| b.successes == 1).await;
        // The won claim is the store's row of the run.
        let h = m.history_async("tick", 10).await.unwrap();
        assert!(
            h.iter()
                .any(|r| r.scheduled == Some(t("2025-01-01T00:01:00Z")))
        );
        clock.advance(secs(60));
        until(m, "tick", "lost 00:02", |b| b.skipped == 1).await;
        idle(m).await;
        assert_eq!(n.load(Ordering::SeqCst), 1, "a lost claim does not run");
        let skip = first_event(&c, |k| matches!(k, EventKind::FireSkipped { .. }));
        assert_eq!(
            skip.kind,
            EventKind::FireSkipped {
                reason: SkipReason::ClaimedElsewhere
            }
        );
        assert_eq!(skip.event_type, EventType::Debug);
        assert_eq!(m.metrics_of("tick").unwrap().state, BotState::Idle);
        m.stop_async().await;
    });
}

#[test]
fn a_failing_store_is_retried_within_the_grace_then_recovers() {
    run(async {
        let c = store_case(|_| {});
        let StoreCase {
            clock, store, m, ..
        } = &c;
        store.failing.store(true, Ordering::SeqCst);
        clock.advance(secs(60)); // 00:01:00: the claim fails; retry at +1 s
        let failed = async {
            while store.calls.load(Ordering::SeqCst) == 0 {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(WAIT, failed).await.expect("claimed");
        idle(m).await;
        assert_eq!(store.calls.load(Ordering::SeqCst), 1);
        clock.advance(secs(1)); // 00:01:01: fails again; retry at +2 s
        idle(m).await;
        assert_eq!(store.calls.load(Ordering::SeqCst), 2);
        assert_eq!(m.store_errors(), 2);
        store.failing.store(false, Ordering::SeqCst);
        clock.advance(secs(1));
        idle(m).await;
        assert_eq!(
            store.calls.load(Ordering::SeqCst),
            2,
            "backoff doubles: not before +2 s"
        );
        clock.advance(secs(1)); // 00:01:03
        until(m, "tick", "ran late", |b| b.successes == 1).await;
        let b = m.metrics_of("tick").unwrap();
        assert_eq!((b.missed, b.skipped), (0, 0));
        assert_eq!(b.last_run, Some(t("2025-01-01T00:01:03Z")));
        m.stop_async().await;
    });
}

#[test]
fn a_store_failing_past_the_grace_misses_the_fire_and_says_so() {
    run(async {
        let c = store_case(|_| {});
        let StoreCase {
            clock, store, m, n, ..
        } = &c;
        store.failing.store(true, Ordering::SeqCst);
        clock.advance(secs(60));
        idle(m).await;
        // Retries at +1, +3 and +7 s; the next (+15 s) is past the 10 s grace.
        for _ in 0..7 {
            clock.advance(secs(1));
            idle(m).await;
        }
        until(m, "tick", "missed", |b| b.missed == 1).await;
        assert_eq!(store.calls.load(Ordering::SeqCst), 4);
        assert_eq!(n.load(Ordering::SeqCst), 0);
        idle(m).await;
        let missed = first_event(&c, |k| matches!(k, EventKind::FiresMissed { .. }));
        assert_eq!(
            missed.kind,
            EventKind::FiresMissed {
                reason: MissReason::StoreUnavailable
            }
        );
        assert_eq!(missed.event_type, EventType::Error);
        assert_eq!(
            missed.data["error"],
            "store error: database or disk is full"
        );
        // The scheduler goes on: the next fire runs once the store is back.
        store.failing.store(false, Ordering::SeqCst);
        clock.set(t("2025-01-01T00:02:00Z"));
        until(m, "tick", "next fire", |b| b.successes == 1).await;
        m.stop_async().await;
    });
}
