//! Runs asked for by hand through a front end (`Botman::trigger`: the
//! overlap policy decides), a run looked up by its id
//! (`Botman::run_record`), and the health check (`Botman::health`); the
//! library side of the daemon's HTTP API (issue #11).

use std::sync::Arc;

use botman::{
    Bot, Botman, JobError, ManualClock, Overlap, RunId, RunOutcome, SkipReason, Trigger, Triggered,
};
use tokio::sync::watch;

mod common;
use common::store::TestStore;
use common::{run, secs, t, until};

/// An async job that ends (successfully) once `release` says so.
fn held(
    release: &watch::Sender<bool>,
) -> impl Fn() -> std::pin::Pin<Box<dyn Future<Output = Result<(), JobError>> + Send>>
+ Send
+ Sync
+ 'static {
    let rx = release.subscribe();
    move || {
        let mut rx = rx.clone();
        Box::pin(async move {
            let _ = rx.wait_for(|open| *open).await;
            Ok(())
        })
    }
}

fn bot(name: &str, overlap: Overlap, release: &watch::Sender<bool>) -> Bot {
    Bot::builder(name)
        .schedule("0 0 1 1 *")
        .overlap(overlap)
        .async_job(held(release))
        .build()
        .unwrap()
}

fn started(t: Triggered) -> botman::RunHandle {
    match t {
        Triggered::Started(h) => h,
        other => panic!("expected a start, got {other:?}"),
    }
}

fn skipped(t: Triggered) -> SkipReason {
    match t {
        Triggered::Skipped(r) => r,
        other => panic!("expected a skip, got {other:?}"),
    }
}

/// A manager on a manual clock, and the gate its `held` jobs wait on.
fn manager_and_gate() -> (Botman, watch::Sender<bool>) {
    let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
    (common::manager(&clock), watch::channel(false).0)
}

#[test]
fn trigger_follows_the_overlap_policy() {
    run(async {
        let (m, release) = manager_and_gate();
        for (name, overlap) in [
            ("skip", Overlap::Skip),
            ("queue", Overlap::Queue),
            ("two", Overlap::Concurrent(2)),
        ] {
            m.add_bot(bot(name, overlap, &release)).unwrap();
        }
        m.start();
        let _a = started(m.trigger("skip").unwrap());
        assert_eq!(skipped(m.trigger("skip").unwrap()), SkipReason::Overlap);

        let _b = started(m.trigger("queue").unwrap());
        assert!(matches!(m.trigger("queue").unwrap(), Triggered::Queued));
        assert_eq!(skipped(m.trigger("queue").unwrap()), SkipReason::QueueFull);

        let _c = started(m.trigger("two").unwrap());
        let _d = started(m.trigger("two").unwrap());
        assert_eq!(
            skipped(m.trigger("two").unwrap()),
            SkipReason::ConcurrencyLimit
        );
        assert!(m.trigger("nobody").unwrap_err().is_unknown());

        release.send_replace(true);
        // The queued run starts when the first ends, as a manual run.
        until(&m, "queue", "both runs ended", |b| b.successes == 2).await;
        until(&m, "skip", "one run", |b| b.successes == 1).await;
        until(&m, "two", "two runs", |b| b.successes == 2).await;
        let h = m.history_async("queue", 10).await.unwrap();
        assert_eq!(h.len(), 2, "{h:?}");
        assert!(
            h.iter()
                .all(|r| r.trigger == Trigger::Manual && r.scheduled.is_none()),
            "{h:?}"
        );
        // A refused trigger leaves no row and counts no skipped fire.
        assert_eq!(m.history_async("skip", 10).await.unwrap().len(), 1);
        assert_eq!(m.metrics_of("skip").unwrap().skipped, 0);
        m.stop_async().await;
    });
}

#[test]
fn trigger_replaces_and_runs_a_paused_bot() {
    run(async {
        let (m, release) = manager_and_gate();
        m.add_bot(bot("rep", Overlap::Replace, &release)).unwrap();
        m.add_bot(bot("paused", Overlap::Skip, &release)).unwrap();
        m.start();
        let first = started(m.trigger("rep").unwrap());
        let _second = started(m.trigger("rep").unwrap());
        let r = first.await.expect("the first run's record");
        assert_eq!(r.outcome, RunOutcome::Interrupted);

        m.bot("paused").unwrap().pause();
        let h = started(m.trigger("paused").unwrap());
        release.send_replace(true);
        assert_eq!(h.await.unwrap().outcome, RunOutcome::Success);
        assert!(m.bot("paused").unwrap().is_paused(), "still paused after");
        m.stop_async().await;
    });
}

#[test]
fn a_run_is_found_by_its_id() {
    run(async {
        let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
        let dir = tempfile::tempdir().unwrap();
        let stores: Vec<(&str, Arc<dyn botman::Store>)> = vec![
            ("memory", Arc::new(botman::MemoryStore::new())),
            #[cfg(feature = "sqlite")]
            (
                "sqlite",
                Arc::new(
                    botman::SqliteStore::open(dir.path().join("runs.db"))
                        .await
                        .unwrap(),
                ),
            ),
        ];
        let _ = &dir;
        for (what, store) in stores {
            let m = Botman::builder()
                .clock(clock.clone())
                .store(store)
                .build()
                .unwrap();
            for name in ["a", "b"] {
                m.add_bot(
                    Bot::builder(name)
                        .schedule("0 0 1 1 *")
                        .job(|| Ok::<_, std::io::Error>(()))
                        .build()
                        .unwrap(),
                )
                .unwrap();
            }
            m.start();
            let mut ids = Vec::new();
            for name in ["a", "b", "a"] {
                let mut h = started(m.trigger(name).unwrap());
                let id = h.run_id().await.expect("the run's row");
                assert_eq!(h.run_id().await, Some(id), "{what}: asked twice");
                h.await.unwrap();
                ids.push((name, id));
            }
            for (name, id) in ids {
                let r = m.run_record(id).await.unwrap().expect("the row");
                assert_eq!((r.id, r.bot.as_str()), (id, name), "{what}");
                assert_eq!(r.outcome, Some(RunOutcome::Success), "{what}");
                assert_eq!(r.trigger, Trigger::Manual, "{what}");
            }
            assert_eq!(m.run_record(RunId(987_654)).await.unwrap(), None, "{what}");
            assert_eq!(
                m.metrics_of("a").unwrap().last_outcome,
                Some(RunOutcome::Success)
            );
            m.stop_async().await;
        }
    });
}

/// Polls `m.health()` (real time, bounded by `WAIT`) until its
/// `is_healthy()` is `healthy`, calling `tick` between looks; the answer.
async fn health_until(m: &Botman, healthy: bool, tick: impl Fn()) -> botman::Health {
    let deadline = std::time::Instant::now() + common::WAIT;
    loop {
        let h = m.health().await;
        if h.is_healthy() == healthy {
            return h;
        }
        assert!(std::time::Instant::now() < deadline, "{h:?}");
        tick();
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

#[test]
fn health_says_whether_the_scheduler_runs_and_the_store_answers() {
    run(async {
        let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
        let store = TestStore::over(Arc::new(botman::MemoryStore::new()), false);
        let m = Botman::builder()
            .clock(clock.clone())
            .store(Arc::clone(&store))
            .build()
            .unwrap();
        let h = m.health().await;
        assert!(!h.running && !h.scheduler_alive && !h.is_healthy(), "{h:?}");
        m.start();
        // The loop is spawned: alive within a moment.
        health_until(&m, true, || {}).await;
        m.add_bot(
            Bot::builder("b")
                .schedule("0 0 1 1 *")
                .job(|| Ok::<_, std::io::Error>(()))
                .build()
                .unwrap(),
        )
        .unwrap();
        // The store answers reads but refuses writes: unhealthy once a write
        // failed, healthy again once one succeeds.
        store.fail(true);
        assert!(m.health().await.is_healthy(), "no write tried yet");
        m.run_bot("b").unwrap().await.unwrap();
        let h = health_until(&m, false, || {}).await;
        assert!(
            h.store_error
                .as_deref()
                .unwrap()
                .contains("does not take writes"),
            "{h:?}"
        );
        assert!(h.store_errors > 0, "{h:?}");
        store.fail(false);
        // The journal retries on the manager's clock.
        health_until(&m, true, || clock.advance(secs(1))).await;
        m.stop_async().await;
        assert!(!m.health().await.running);
    });
}

#[test]
fn next_runs_merges_the_schedules_in_order() {
    let clock = ManualClock::new(t("2025-03-01T00:00:00Z"));
    let m = common::manager(&clock);
    m.add_bot(
        Bot::builder("two")
            .schedule("0 12 * * *")
            .schedule_in("0 9 * * *", "America/New_York")
            .job(|| Ok::<_, std::io::Error>(()))
            .build()
            .unwrap(),
    )
    .unwrap();
    let b = m.bot("two").unwrap();
    let want: Vec<_> = [
        "2025-03-01T12:00:00Z",
        "2025-03-01T14:00:00Z",
        "2025-03-02T12:00:00Z",
        "2025-03-02T14:00:00Z",
        "2025-03-03T12:00:00Z",
    ]
    .iter()
    .map(|s| t(s))
    .collect();
    assert_eq!(b.next_runs(5), want);
    assert_eq!(b.next_runs(0), []);
    let exprs: Vec<String> = b.schedules().iter().map(|s| s.expr().to_owned()).collect();
    assert_eq!(exprs, ["0 12 * * *", "0 9 * * *"]);
    assert_eq!(m.metrics_of("two").unwrap().last_outcome, None);
}
