//! Issue #9 on the manual clock: what a store keeps across a restart (cool-
//! downs, pauses, failure counts, the misfire policy over the downtime),
//! history (order, cursor, retention), two managers on one store, and a
//! store failing mid-run. Every test runs on each store: a shared
//! `MemoryStore` (a restart in one process) and, with the `sqlite` feature,
//! a `SqliteStore` on a temporary file. Unclean ends (a process killed
//! mid-run) are in `sqlite_process.rs`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use botman::jiff::Timestamp;
use botman::{
    Bot, BotEvent, BotState, Botman, EventKind, EventManager, JobError, ManualClock, MemoryStore,
    Misfire, MissReason, RunId, RunOutcome, SkipReason, Store, StoredRun, Trigger,
};

mod common;
use common::store::TestStore;
use common::{idle, run, secs, t, until};

/// Where a test's managers keep their runs: the same store for every
/// manager built from it (a restart, or two managers at once).
enum Backing {
    Memory(Arc<MemoryStore>),
    #[cfg(feature = "sqlite")]
    Sqlite(tempfile::TempDir),
}

impl Backing {
    fn all(retention: usize) -> Vec<Backing> {
        #[allow(unused_mut)]
        let mut v = vec![Backing::Memory(Arc::new(MemoryStore::with_retention(
            retention,
        )))];
        #[cfg(feature = "sqlite")]
        v.push(Backing::Sqlite(tempfile::tempdir().expect("temp dir")));
        v
    }

    fn name(&self) -> &'static str {
        match self {
            Backing::Memory(_) => "memory",
            #[cfg(feature = "sqlite")]
            Backing::Sqlite(_) => "sqlite",
        }
    }

    /// A handle on the store. `shared`: as a store other processes share
    /// (claims matter); a SQLite store always is.
    #[cfg_attr(not(feature = "sqlite"), allow(unused_variables))]
    async fn open(&self, retention: usize, shared: bool) -> Arc<dyn Store> {
        match self {
            Backing::Memory(m) if shared => TestStore::over(Arc::clone(m) as Arc<dyn Store>, true),
            Backing::Memory(m) => Arc::clone(m) as Arc<dyn Store>,
            #[cfg(feature = "sqlite")]
            Backing::Sqlite(dir) => Arc::new(
                botman::SqliteStore::open_with(
                    dir.path().join("botman.db"),
                    botman::SqliteOptions::new().retention(retention),
                )
                .await
                .expect("open the SQLite store"),
            ),
        }
    }
}

fn build(clock: &ManualClock, store: Arc<dyn Store>, events: &EventManager) -> Botman {
    Botman::builder()
        .name("m")
        .clock(clock.clone())
        .store(store)
        .event_manager(events.clone())
        .shutdown_grace(secs(5))
        .build()
        .expect("manager")
}

fn counting(n: &Arc<AtomicUsize>) -> impl Fn() -> Result<(), JobError> + Send + Sync + 'static {
    let n = Arc::clone(n);
    move || {
        n.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn recorder(events: &EventManager, who: &str) -> Arc<Mutex<Vec<BotEvent>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    events.subscribe(who, move |e| s.lock().unwrap().push(e.clone()), &[]);
    seen
}

/// (outcome, scheduled) of each row, newest first.
fn rows(runs: &[StoredRun]) -> Vec<(Option<RunOutcome>, Option<Timestamp>)> {
    runs.iter().map(|r| (r.outcome, r.scheduled)).collect()
}

#[test]
fn restart_restores_cool_down_pause_and_failure_count() {
    run(async {
        for b in Backing::all(1000) {
            let store = b.name();
            let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
            let events = EventManager::new();
            let bots = || {
                [
                    Bot::builder("flaky")
                        .schedule("* * * * *")
                        .retries(1)
                        .initial_timeout(secs(600))
                        .max_timeout(secs(7200))
                        .job(|| Err::<(), _>(std::io::Error::other("down")))
                        .build()
                        .unwrap(),
                    Bot::builder("sleepy")
                        .schedule("* * * * *")
                        .job(|| Ok::<_, std::io::Error>(()))
                        .build()
                        .unwrap(),
                ]
            };
            let m1 = build(&clock, b.open(1000, false).await, &events);
            m1.add_bots(bots()).unwrap();
            m1.start();
            idle(&m1).await;
            m1.bot("sleepy").unwrap().pause();
            clock.set(t("2025-01-01T00:01:00Z"));
            until(&m1, "flaky", "failed once", |x| x.consecutive_failures == 1).await;
            idle(&m1).await;
            assert_eq!(
                m1.bot("flaky").unwrap().timeout_until(),
                Some(t("2025-01-01T00:11:00Z")),
                "{store}"
            );
            let report = m1.stop_async().await;
            assert_eq!(report.unsaved, 0, "{store}");
            drop(m1);

            // Down for 90 s; a new manager on the same store.
            clock.set(t("2025-01-01T00:02:30Z"));
            let m2 = build(&clock, b.open(1000, false).await, &events);
            m2.add_bots(bots()).unwrap();
            m2.start();
            idle(&m2).await;
            let flaky = m2.metrics_of("flaky").unwrap();
            assert_eq!(flaky.consecutive_failures, 1, "{store}");
            assert_eq!(flaky.state, BotState::Timeout, "{store}");
            assert_eq!(
                flaky.timeout_until,
                Some(t("2025-01-01T00:11:00Z")),
                "{store}"
            );
            assert!(m2.bot("sleepy").unwrap().is_paused(), "{store}");
            // 00:02 came while down (30 s late, within the grace): skipped
            // for the restored cool-down and pause, each a row.
            let h = m2.history_async("flaky", 10).await.unwrap();
            assert_eq!(
                rows(&h),
                [
                    (
                        Some(RunOutcome::Skipped(SkipReason::CoolDown)),
                        Some(t("2025-01-01T00:02:00Z"))
                    ),
                    (Some(RunOutcome::Failure), Some(t("2025-01-01T00:01:00Z"))),
                ],
                "{store}"
            );
            let h = m2.history_async("sleepy", 10).await.unwrap();
            assert_eq!(
                h[0].outcome,
                Some(RunOutcome::Skipped(SkipReason::Paused)),
                "{store}"
            );
            // The next cool-down is twice the first: its length came back.
            clock.set(t("2025-01-01T00:11:00Z"));
            until(&m2, "flaky", "failed again", |x| {
                x.consecutive_failures == 2
            })
            .await;
            idle(&m2).await;
            assert_eq!(
                m2.bot("flaky").unwrap().timeout_until(),
                Some(t("2025-01-01T00:31:00Z")),
                "{store}"
            );
            m2.stop_async().await;
        }
    });
}

/// A manager with `bot` (every minute) that runs its 00:01 fire and stops;
/// then, at `back_at`, a new manager on the same store with the same bot,
/// started and idle: a restart after a downtime.
async fn restarted(b: &Backing, bot: impl Fn() -> Bot, back_at: &str) -> Botman {
    let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
    let events = EventManager::new();
    let m1 = build(&clock, b.open(1000, false).await, &events);
    m1.add_bot(bot()).unwrap();
    m1.start();
    idle(&m1).await;
    clock.set(t("2025-01-01T00:01:00Z"));
    until(&m1, "tick", "ran at 00:01", |x| x.successes == 1).await;
    m1.stop_async().await;
    drop(m1);
    clock.set(t(back_at));
    let m2 = build(&clock, b.open(1000, false).await, &events);
    m2.add_bot(bot()).unwrap();
    m2.start();
    idle(&m2).await;
    m2
}

/// Runs `tick` (every minute, 30 s grace) at 00:01, stops, and starts again
/// at 00:10:45 (00:02 ... 00:10 missed while down). Returns the history
/// after the restart, newest first, and the restarted manager's metrics of
/// missed fires.
async fn downtime(b: &Backing, policy: Misfire) -> (Vec<StoredRun>, u64) {
    let n = Arc::new(AtomicUsize::new(0));
    let bot = || {
        Bot::builder("tick")
            .schedule("* * * * *")
            .misfire(policy)
            .misfire_grace(secs(30))
            .job(counting(&n))
            .build()
            .unwrap()
    };
    let m2 = restarted(b, bot, "2025-01-01T00:10:45Z").await;
    let missed = m2.metrics_of("tick").unwrap().missed;
    // The schedule goes on from there.
    assert_eq!(
        m2.bot("tick").unwrap().next_run(),
        Some(t("2025-01-01T00:11:00Z"))
    );
    let h = m2.history_async("tick", 100).await.unwrap();
    m2.stop_async().await;
    (h, missed)
}

fn minute(m: u32) -> Timestamp {
    t(&format!("2025-01-01T00:{m:02}:00Z"))
}

#[test]
fn restart_applies_each_misfire_policy_to_the_downtime() {
    run(async {
        for b in Backing::all(1000) {
            let store = b.name();
            let missed_rows = |h: &[StoredRun]| -> Vec<Timestamp> {
                let mut v: Vec<Timestamp> = h
                    .iter()
                    .filter(|r| r.outcome == Some(RunOutcome::Missed(MissReason::Late)))
                    .filter_map(|r| r.scheduled)
                    .collect();
                v.sort();
                v
            };
            let catch_ups = |h: &[StoredRun]| -> Vec<Timestamp> {
                let mut v: Vec<Timestamp> = h
                    .iter()
                    .filter(|r| r.trigger == Trigger::CatchUp)
                    .inspect(|r| assert_eq!(r.outcome, Some(RunOutcome::Success)))
                    .filter_map(|r| r.scheduled)
                    .collect();
                v.sort();
                v
            };

            let (h, missed) = downtime(&b, Misfire::Skip).await;
            assert_eq!(catch_ups(&h), [], "{store}: skip runs nothing");
            assert_eq!(
                missed_rows(&h),
                (2..=10).map(minute).collect::<Vec<_>>(),
                "{store}"
            );
            assert_eq!(missed, 9, "{store}");

            let b = next_backing(b);
            let (h, missed) = downtime(&b, Misfire::RunOnce).await;
            assert_eq!(catch_ups(&h), [minute(10)], "{store}: run once, the latest");
            assert_eq!(
                missed_rows(&h),
                (2..=9).map(minute).collect::<Vec<_>>(),
                "{store}"
            );
            assert_eq!(missed, 8, "{store}");

            let b = next_backing(b);
            let (h, missed) = downtime(&b, Misfire::RunAll { max: 3 }).await;
            assert_eq!(
                catch_ups(&h),
                [minute(2), minute(3), minute(4)],
                "{store}: run all, the oldest 3"
            );
            assert_eq!(
                missed_rows(&h),
                (5..=10).map(minute).collect::<Vec<_>>(),
                "{store}"
            );
            assert_eq!(missed, 6, "{store}");
            // The run before the downtime is there, and nothing ran twice.
            let mut scheduled: Vec<Timestamp> = h.iter().filter_map(|r| r.scheduled).collect();
            let all = scheduled.len();
            scheduled.sort();
            scheduled.dedup();
            assert_eq!(scheduled.len(), all, "{store}: one row per fire");
            assert!(scheduled.contains(&minute(1)), "{store}");
        }
    });
}

/// A fresh store of the same kind (each policy starts from nothing).
fn next_backing(b: Backing) -> Backing {
    match b {
        Backing::Memory(_) => Backing::Memory(Arc::new(MemoryStore::new())),
        #[cfg(feature = "sqlite")]
        Backing::Sqlite(_) => Backing::Sqlite(tempfile::tempdir().expect("temp dir")),
    }
}

#[test]
fn a_first_start_catches_up_nothing() {
    run(async {
        for b in Backing::all(1000) {
            let clock = ManualClock::new(t("2025-01-01T00:10:45Z"));
            let n = Arc::new(AtomicUsize::new(0));
            let m = build(&clock, b.open(1000, false).await, &EventManager::new());
            m.add_bot(
                Bot::builder("tick")
                    .schedule("* * * * *")
                    .misfire(Misfire::RunAll { max: 100 })
                    .job(counting(&n))
                    .build()
                    .unwrap(),
            )
            .unwrap();
            m.start();
            idle(&m).await;
            assert_eq!(n.load(Ordering::SeqCst), 0, "{}", b.name());
            assert!(m.history_async("tick", 10).await.unwrap().is_empty());
            m.stop_async().await;
        }
    });
}

#[test]
fn history_is_newest_first_with_a_cursor_and_retention() {
    run(async {
        for b in Backing::all(5) {
            let store = b.name();
            let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
            let m = build(&clock, b.open(5, false).await, &EventManager::new());
            let calls = Arc::new(AtomicUsize::new(0));
            let c = Arc::clone(&calls);
            m.add_bot(
                Bot::builder("numbered")
                    .schedule("@yearly")
                    .retries(1)
                    .job(move || {
                        // Odd calls fail: the rows tell the runs apart.
                        if c.fetch_add(1, Ordering::SeqCst) % 2 == 1 {
                            Err(std::io::Error::other("odd"))
                        } else {
                            Ok(())
                        }
                    })
                    .build()
                    .unwrap(),
            )
            .unwrap();
            for _ in 0..8 {
                let r = m.run_bot("numbered").unwrap().await.unwrap();
                assert_eq!(r.trigger, Trigger::Manual);
            }
            let all = m.history_async("numbered", 100).await.unwrap();
            assert_eq!(all.len(), 5, "{store}: retention keeps the last 5");
            let outcomes: Vec<_> = all.iter().map(|r| r.outcome).collect();
            // Runs 8, 7, 6, 5, 4 (1-based): even ones failed.
            let f = Some(RunOutcome::Failure);
            let s = Some(RunOutcome::Success);
            assert_eq!(outcomes, [f, s, f, s, f], "{store}: newest first");
            assert!(all.windows(2).all(|w| w[0].id > w[1].id), "{store}");
            let p1 = m.history_page("numbered", 2, None).await.unwrap();
            let p2 = m.history_page("numbered", 2, p1.next).await.unwrap();
            let p3 = m.history_page("numbered", 2, p2.next).await.unwrap();
            let paged: Vec<RunId> = [p1.runs, p2.runs, p3.runs.clone()]
                .concat()
                .iter()
                .map(|r| r.id)
                .collect();
            assert_eq!(
                paged,
                all.iter().map(|r| r.id).collect::<Vec<_>>(),
                "{store}"
            );
            assert_eq!(p3.runs.len(), 1, "{store}");
            assert_eq!(p3.next, None, "{store}: the last page says so");
            // The same through the bot's handle; a bot never run has none.
            assert_eq!(
                m.bot("numbered").unwrap().history_async(1).await.unwrap()[0].id,
                all[0].id
            );
            assert!(m.history_async("nobody", 10).await.unwrap().is_empty());
            m.stop_async().await;
        }
    });
}

#[test]
fn two_managers_on_one_store_run_each_fire_once() {
    run(async {
        for b in Backing::all(1000) {
            let store = b.name();
            let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
            let n = Arc::new(AtomicUsize::new(0));
            let mut managers = Vec::new();
            for _ in 0..2 {
                let m = build(&clock, b.open(1000, true).await, &EventManager::new());
                m.add_bot(
                    Bot::builder("tick")
                        .schedule("* * * * *")
                        .job(counting(&n))
                        .build()
                        .unwrap(),
                )
                .unwrap();
                m.start();
                // Started (its saved state taken back) before time moves.
                idle(&m).await;
                managers.push(m);
            }
            for k in 1..=5u64 {
                clock.advance(secs(60));
                for m in &managers {
                    until(m, "tick", "fire decided", |x| x.runs + x.skipped == k).await;
                    idle(m).await;
                }
                assert_eq!(n.load(Ordering::SeqCst) as u64, k, "{store}: minute {k}");
            }
            let runs: u64 = managers.iter().map(|m| m.metrics()[0].runs).sum();
            let lost: u64 = managers.iter().map(|m| m.metrics()[0].skipped).sum();
            assert_eq!((runs, lost), (5, 5), "{store}");
            let h = managers[0].history_async("tick", 100).await.unwrap();
            assert_eq!(h.len(), 5, "{store}: one row per fire, the winner's");
            for m in &managers {
                m.stop_async().await;
            }
        }
    });
}

#[test]
fn a_store_failing_mid_run_loses_nothing() {
    run(async {
        for b in Backing::all(1000) {
            let store = b.name();
            let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
            let events = EventManager::new();
            let seen = recorder(&events, "m");
            let inner = b.open(1000, false).await;
            let shared = inner.is_shared();
            let flaky = TestStore::over(inner, shared);
            let m = build(&clock, Arc::clone(&flaky) as Arc<dyn Store>, &events);
            let n = Arc::new(AtomicUsize::new(0));
            m.add_bot(
                Bot::builder("tick")
                    .schedule("* * * * *")
                    .misfire_grace(secs(600))
                    .job(counting(&n))
                    .build()
                    .unwrap(),
            )
            .unwrap();
            m.start();
            idle(&m).await;
            clock.advance(secs(60));
            until(&m, "tick", "first run", |x| x.successes == 1).await;
            flaky.fail(true);
            for _ in 0..3 {
                clock.advance(secs(60));
                idle(&m).await;
            }
            if shared {
                // A shared store cannot claim: the fires wait (within their
                // grace), none runs unclaimed.
                assert_eq!(n.load(Ordering::SeqCst), 1, "{store}");
            } else {
                // Alone, a run needs no claim: the fires run, rows wait.
                assert_eq!(n.load(Ordering::SeqCst), 4, "{store}");
            }
            assert!(m.store_errors() > 0, "{store}");
            flaky.fail(false);
            clock.advance(secs(60));
            // Shared: the 00:02 fire ran once claimed; while it waited for
            // its claim it was the run in flight, so 00:03 to 00:05 were
            // skipped for the overlap. Alone: all five ran.
            let (ran, skipped) = if shared { (2, 3) } else { (5, 0) };
            until(&m, "tick", "every fire decided", |x| {
                x.successes == ran && x.skipped == skipped
            })
            .await;
            idle(&m).await;
            let h = m.history_async("tick", 100).await.unwrap();
            let count = |o: RunOutcome| h.iter().filter(|r| r.outcome == Some(o)).count();
            assert_eq!(
                count(RunOutcome::Success),
                ran as usize,
                "{store}: every run has its row"
            );
            assert_eq!(
                count(RunOutcome::Skipped(SkipReason::Overlap)),
                skipped as usize,
                "{store}: every skip has its row"
            );
            assert_eq!(h.len(), 5, "{store}: one row per fire: {h:#?}");
            assert!(events.wait_until_empty(common::WAIT), "events delivered");
            let kinds: Vec<EventKind> = seen.lock().unwrap().iter().map(|e| e.kind).collect();
            let failed = kinds
                .iter()
                .filter(|k| **k == EventKind::StoreFailed)
                .count();
            assert_eq!(
                failed, 1,
                "{store}: told once per failure streak: {kinds:?}"
            );
            assert!(
                kinds.contains(&EventKind::StoreRecovered),
                "{store}: {kinds:?}"
            );
            let report = m.stop_async().await;
            assert_eq!(report.unsaved, 0, "{store}");
        }
    });
}

#[test]
fn stop_reports_rows_the_store_never_took() {
    run(async {
        let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
        let flaky = TestStore::over(Arc::new(MemoryStore::new()), false);
        flaky.fail(true);
        let m = Botman::builder()
            .clock(clock.clone())
            .store(flaky)
            .shutdown_grace(secs(0))
            .event_manager(EventManager::new())
            .build()
            .unwrap();
        let n = Arc::new(AtomicUsize::new(0));
        m.add_bot(
            Bot::builder("tick")
                .schedule("@yearly")
                .job(counting(&n))
                .build()
                .unwrap(),
        )
        .unwrap();
        m.run_bot("tick").unwrap().await.unwrap();
        idle(&m).await;
        let report = m.stop_async().await;
        assert_eq!(report.unsaved, 1, "the run's row never reached the store");
    });
}

#[test]
fn a_long_downtime_lists_the_newest_missed_fires_and_counts_the_rest() {
    run(async {
        for b in Backing::all(1000) {
            let store = b.name();
            let n = Arc::new(AtomicUsize::new(0));
            let bot = || {
                Bot::builder("tick")
                    .schedule("* * * * *")
                    .misfire(Misfire::Skip)
                    .job(counting(&n))
                    .build()
                    .unwrap()
            };
            // 299 fires (00:02 ... 05:00) missed while down; 05:01 is
            // within the grace and runs.
            let m2 = restarted(&b, bot, "2025-01-01T05:01:30Z").await;
            assert_eq!(m2.metrics_of("tick").unwrap().missed, 299, "{store}");
            assert_eq!(n.load(Ordering::SeqCst), 2, "{store}");
            let h = m2.history_async("tick", 1000).await.unwrap();
            let missed: Vec<&StoredRun> = h
                .iter()
                .filter(|r| r.outcome == Some(RunOutcome::Missed(MissReason::Late)))
                .collect();
            assert_eq!(missed.len(), 100, "{store}: the newest 100 listed");
            assert_eq!(
                missed[0].scheduled,
                Some(t("2025-01-01T05:00:00Z")),
                "{store}"
            );
            let oldest = missed[99];
            assert_eq!(oldest.scheduled, Some(t("2025-01-01T03:21:00Z")), "{store}");
            let why = oldest.error.as_deref().unwrap_or("");
            assert!(why.contains("199 older fire(s)"), "{store}: {why}");
            m2.stop_async().await;
        }
    });
}

/// A real full disk: a SQLite file whose size limit is reached mid-run.
/// The scheduler keeps deciding every fire; what it cannot record is
/// counted, told, and reported at stop.
#[cfg(feature = "sqlite")]
#[test]
fn a_sqlite_file_that_fills_up_mid_run_stops_nothing_and_loses_nothing_silently() {
    run(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = botman::SqliteStore::open_with(
            dir.path().join("full.db"),
            // A few pages more than the empty schema takes.
            botman::SqliteOptions::new().max_page_count(24),
        )
        .await
        .expect("open");
        let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
        let events = EventManager::new();
        let seen = recorder(&events, "m");
        let bot_seen = recorder(&events, "tick");
        let m = build(&clock, Arc::new(store), &events);
        let n = Arc::new(AtomicUsize::new(0));
        m.add_bot(
            Bot::builder("tick")
                .schedule("* * * * *")
                .misfire_grace(secs(5))
                .job(counting(&n))
                .build()
                .unwrap(),
        )
        .unwrap();
        m.start();
        idle(&m).await;
        let full = |seen: &Arc<Mutex<Vec<BotEvent>>>| {
            seen.lock()
                .unwrap()
                .iter()
                .any(|e| e.kind == EventKind::StoreFailed && e.data["kind"] == "full")
        };
        let mut minutes = 0u64;
        while !full(&seen) {
            minutes += 1;
            assert!(
                minutes < 2_000,
                "the file never filled up: {:?}",
                seen.lock()
                    .unwrap()
                    .iter()
                    .map(|e| e.description.clone())
                    .collect::<Vec<_>>()
            );
            clock.advance(secs(60));
            idle(&m).await;
        }
        // Ten more minutes on a full disk: each fire is still decided.
        for _ in 0..10 {
            minutes += 1;
            clock.advance(secs(60));
            idle(&m).await;
        }
        let x = m.metrics_of("tick").unwrap();
        // The last fire may still wait for its claim (retried within its
        // grace); while it waits, a fire after it is skipped (overlap).
        let waiting = u64::from(x.state == BotState::Running);
        assert_eq!(
            x.runs + x.skipped + x.missed + waiting,
            minutes,
            "every fire decided: {x:?}"
        );
        assert!(
            x.missed >= 4,
            "fires that could not be claimed are missed: {x:?}"
        );
        assert!(m.store_errors() > 0);
        assert!(events.wait_until_empty(common::WAIT), "events delivered");
        assert!(
            bot_seen.lock().unwrap().iter().any(|e| e.kind
                == EventKind::FiresMissed {
                    reason: MissReason::StoreUnavailable
                }),
            "each unclaimable fire is told"
        );
        // The stop waits its grace for the store, on the manual clock.
        let (report, ()) = tokio::join!(m.stop_async(), async {
            while m.is_running() {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            clock.advance(secs(10));
        });
        assert!(
            report.unsaved > 0,
            "what the file could not take is reported"
        );
    });
}

#[test]
fn history_in_a_current_thread_runtime_says_what_to_call_instead() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let m = Botman::builder()
            .event_manager(EventManager::new())
            .build()
            .unwrap();
        m.add_bot(
            Bot::builder("b")
                .schedule("@yearly")
                .job(|| Ok::<_, std::io::Error>(()))
                .build()
                .unwrap(),
        )
        .unwrap();
        let e = m.history("b", 1).unwrap_err();
        assert!(e.is_runtime(), "{e}");
        assert!(
            e.to_string()
                .ends_with("use `Botman::history_async().await` there"),
            "{e}"
        );
        let e = m.bot("b").unwrap().history(1).unwrap_err();
        assert!(
            e.to_string().starts_with("BotRef::history() cannot block"),
            "{e}"
        );
        assert!(m.history_async("b", 1).await.unwrap().is_empty());
    });
}

#[test]
fn fires_of_a_batch_not_started_when_the_manager_stops_are_rows() {
    run(async {
        let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
        let m = Botman::builder()
            .clock(clock.clone())
            .shutdown_grace(secs(0))
            .event_manager(EventManager::new())
            .build()
            .unwrap();
        let (gate, job) = common::Gate::new();
        m.add_bot(
            Bot::builder("batch")
                .schedule("* * * * *")
                .misfire(Misfire::RunAll { max: 5 })
                .misfire_grace(secs(30))
                .job(job)
                .build()
                .unwrap(),
        )
        .unwrap();
        m.start();
        idle(&m).await;
        // 00:01 ... 00:09 late (5 run), 00:10 on time: six in one batch.
        clock.set(t("2025-01-01T00:10:00Z"));
        until(&m, "batch", "the first started", |x| x.runs == 1).await;
        let report = m.stop_async().await;
        assert_eq!(report.abandoned, ["batch"]);
        gate.open();
        assert!(m.wait_idle(common::WAIT).await, "a stopped manager is idle");
        let h = m.history_async("batch", 100).await.unwrap();
        let stopped = h
            .iter()
            .filter(|r| r.outcome == Some(RunOutcome::Skipped(SkipReason::Stopped)))
            .count();
        assert_eq!(stopped, 5, "{h:#?}");
        assert_eq!(
            m.metrics_of("batch").unwrap().runs,
            1,
            "nothing started after the stop"
        );
    });
}
