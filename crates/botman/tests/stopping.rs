//! Runs stopped before they end (`Overlap::Replace`, the end of the
//! shutdown grace), what a job knows of its run (`RunContext`) and leaves in
//! its record (`RunOutput`), and the dead man's switch
//! (`expect_success_within`); on a manual clock (issue #10).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use botman::jiff::Timestamp;
use botman::{
    Bot, BotEvent, Botman, EventKind, EventType, JobError, ManualClock, Overlap, RunContext,
    RunOutcome, RunOutput, SoftError, Trigger,
};

mod common;
use common::{WAIT, idle, manager, run, secs, t, until};

/// Set when dropped: the job's future was cancelled (as a shell job's guard
/// kills its process group then).
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// An async job that never ends on its own; it counts its starts and sets
/// `dropped` when its future is dropped.
fn endless(
    dropped: &Arc<AtomicBool>,
    starts: &Arc<AtomicUsize>,
) -> impl Fn() -> std::pin::Pin<Box<dyn Future<Output = Result<(), JobError>> + Send>>
+ Send
+ Sync
+ 'static {
    let (dropped, starts) = (Arc::clone(dropped), Arc::clone(starts));
    move || {
        let flag = DropFlag(Arc::clone(&dropped));
        starts.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            let _flag = flag;
            std::future::pending::<()>().await;
            Ok(())
        })
    }
}

/// What a job saw of its run: attempt, run id, trigger, scheduled, instant.
type Seen = (u32, Option<i64>, Trigger, Option<Timestamp>, Timestamp);

/// Waits (real time, bounded) until `f` holds.
async fn eventually(what: &str, f: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + WAIT;
    while !f() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

fn recorder(m: &Botman, bot: &str) -> Arc<Mutex<Vec<BotEvent>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    m.events()
        .subscribe(bot, move |e| s.lock().unwrap().push(e.clone()), &[]);
    seen
}

fn of_kind(seen: &Arc<Mutex<Vec<BotEvent>>>, kind: EventKind) -> Vec<BotEvent> {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|e| e.kind == kind)
        .cloned()
        .collect()
}

#[test]
fn replace_stops_the_run_in_flight_and_starts_the_new_fire() {
    run(async {
        let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
        // No grace: the stop at the end stops the second run at once.
        let m = Botman::builder()
            .clock(clock.clone())
            .shutdown_grace(std::time::Duration::ZERO)
            .build()
            .unwrap();
        let (dropped, starts) = (Arc::new(AtomicBool::new(false)), Arc::default());
        m.add_bot(
            Bot::builder("rep")
                .schedule("* * * * *")
                .overlap(Overlap::Replace)
                .async_job(endless(&dropped, &starts))
                .build()
                .unwrap(),
        )
        .unwrap();
        let seen = recorder(&m, "rep");
        m.start();
        clock.advance(secs(60));
        until(&m, "rep", "the first run is going", |b| b.runs == 1).await;
        assert!(!dropped.load(Ordering::SeqCst), "nothing replaced it yet");
        clock.advance(secs(60));
        until(&m, "rep", "the second fire started", |b| b.runs == 2).await;
        eventually("the first run's job was dropped", || {
            dropped.load(Ordering::SeqCst)
        })
        .await;
        let seen_failed = Arc::clone(&seen);
        eventually("the interruption was told", move || {
            !of_kind(&seen_failed, EventKind::RunFailed).is_empty()
        })
        .await;
        // The metric counts a run when it is admitted; the job itself is
        // called a moment later, on the run's task.
        let started = Arc::clone(&starts);
        eventually("the second run's job was called", move || {
            started.load(Ordering::SeqCst) == 2
        })
        .await;
        let b = m.metrics_of("rep").unwrap();
        assert_eq!(
            (b.skipped, b.errors),
            (0, 0),
            "replaced, not skipped, not a failure"
        );
        assert_eq!(b.state, botman::BotState::Running, "the new run goes on");
        let h = m.history_async("rep", 10).await.unwrap();
        let first = h
            .iter()
            .find(|r| r.scheduled == Some(t("2025-01-01T00:01:00Z")))
            .expect("the first run's row");
        assert_eq!(first.outcome, Some(RunOutcome::Interrupted));
        assert!(
            first.error.as_deref().unwrap_or("").contains("replaced"),
            "{first:?}"
        );
        let failed = of_kind(&seen, EventKind::RunFailed);
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert_eq!(failed[0].event_type, EventType::Warning);
        assert!(failed[0].description.contains("replaced by a newer fire"));
        let report = m.stop_async().await;
        assert_eq!(report.abandoned, ["rep"], "the second run was still going");
    });
}

#[test]
fn the_end_of_the_shutdown_grace_stops_the_runs_still_going() {
    run(async {
        let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
        let m = Botman::builder()
            .clock(clock.clone())
            .shutdown_grace(secs(5))
            .build()
            .unwrap();
        let (dropped, starts) = (Arc::new(AtomicBool::new(false)), Arc::default());
        m.add_bot(
            Bot::builder("grace")
                .schedule("* * * * *")
                .async_job(endless(&dropped, &starts))
                .build()
                .unwrap(),
        )
        .unwrap();
        m.start();
        clock.advance(secs(60));
        until(&m, "grace", "running", |b| b.runs == 1).await;
        let stopping = {
            let m = m.clone();
            tokio::spawn(async move { m.stop_async().await })
        };
        eventually("the stop began", || !m.is_running()).await;
        // One second short of the grace, the run still goes on (a negative
        // check: given a moment of real time to go wrong).
        clock.advance(secs(4));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(
            !dropped.load(Ordering::SeqCst),
            "stopped before the grace ran out"
        );
        clock.advance(secs(1));
        let report = tokio::time::timeout(WAIT, stopping)
            .await
            .expect("stop returned")
            .unwrap();
        assert_eq!(report.abandoned, ["grace"]);
        assert!(
            dropped.load(Ordering::SeqCst),
            "the job's future was dropped"
        );
        let h = m.history_async("grace", 10).await.unwrap();
        assert_eq!(h.len(), 1, "{h:?}");
        assert_eq!(h[0].outcome, Some(RunOutcome::Interrupted));
        assert!(
            h[0].error
                .as_deref()
                .unwrap_or("")
                .contains("shutdown grace")
        );
    });
}

#[test]
fn a_job_sees_its_run_and_leaves_its_output_in_the_record() {
    run(async {
        let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
        let m = manager(&clock);
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let s = Arc::clone(&seen);
        m.add_bot(
            Bot::builder("ctx")
                .schedule("* * * * *")
                .retries(3)
                .retry_delay(secs(1))
                .job_with(move |ctx: &RunContext| {
                    s.lock().unwrap().push((
                        ctx.attempt(),
                        ctx.run_id().map(|id| id.0),
                        ctx.trigger(),
                        ctx.scheduled(),
                        ctx.instant(),
                    ));
                    // Scheduled fires fail twice; a manual run succeeds.
                    let failing = ctx.trigger() == Trigger::Scheduled && ctx.attempt() < 3;
                    let code = if failing { 1 } else { 0 };
                    ctx.set_output(RunOutput::new(
                        Some(code),
                        Some(format!("attempt {}", ctx.attempt())),
                        Some("warming up".to_owned()),
                    ));
                    if code == 0 {
                        Ok(())
                    } else {
                        Err(JobError::from("exit code 1"))
                    }
                })
                .build()
                .unwrap(),
        )
        .unwrap();
        m.start();
        clock.advance(secs(60));
        until(&m, "ctx", "first attempt failed", |b| b.retries == 1).await;
        clock.advance(secs(1));
        until(&m, "ctx", "second attempt failed", |b| b.retries == 2).await;
        clock.advance(secs(2));
        until(&m, "ctx", "third attempt succeeded", |b| b.successes == 1).await;
        let fire = t("2025-01-01T00:01:00Z");
        let calls = seen.lock().unwrap().clone();
        assert_eq!(calls.len(), 3);
        let id = calls[0].1;
        assert!(id.is_some(), "the memory store gives every run an id");
        for (k, (attempt, run_id, trigger, scheduled, instant)) in calls.into_iter().enumerate() {
            assert_eq!(attempt, k as u32 + 1);
            assert_eq!(run_id, id, "one id for every attempt of the fire");
            assert_eq!(
                (trigger, scheduled, instant),
                (Trigger::Scheduled, Some(fire), fire)
            );
        }
        let h = m.history_async("ctx", 10).await.unwrap();
        assert_eq!(h[0].id.0, id.unwrap(), "the context's id is the row's");
        assert_eq!(h[0].output.exit_code, Some(0), "the last attempt's output");
        assert_eq!(h[0].output.stdout_tail.as_deref(), Some("attempt 3"));
        // A manual run stands for the instant it started.
        seen.lock().unwrap().clear();
        let record = m.run_bot("ctx").unwrap().await.unwrap();
        let (_, _, trigger, scheduled, instant) = seen.lock().unwrap()[0];
        assert_eq!((trigger, scheduled), (Trigger::Manual, None));
        assert_eq!(instant, record.started);
        m.stop_async().await;
    });
}

#[test]
fn a_failure_event_carries_the_exit_code_and_the_end_of_stderr() {
    run(async {
        let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
        let m = manager(&clock);
        m.add_bot(
            Bot::builder("stderr")
                .schedule("* * * * *")
                .retries(1)
                .async_job_with(|ctx: RunContext| async move {
                    let mut stderr = "x".repeat(10_000);
                    stderr.push_str("\npg_dump: connection refused");
                    ctx.set_output(RunOutput::new(Some(2), None, Some(stderr)));
                    Err::<(), _>(JobError::from("exit code 2"))
                })
                .build()
                .unwrap(),
        )
        .unwrap();
        let seen = recorder(&m, "stderr");
        m.start();
        clock.advance(secs(60));
        until(&m, "stderr", "failed", |b| b.errors == 1).await;
        assert!(m.events().wait_until_empty(WAIT));
        let failed = of_kind(&seen, EventKind::RunFailed);
        assert_eq!(failed.len(), 1);
        let data = &failed[0].data;
        assert_eq!(data["exit_code"], 2);
        let tail = data["stderr_tail"].as_str().unwrap();
        assert!(tail.ends_with("pg_dump: connection refused"), "{tail}");
        assert!(tail.len() <= 4096, "the event keeps a short tail");
        let h = m.history_async("stderr", 1).await.unwrap();
        assert_eq!(
            h[0].output.stderr_tail.as_ref().map(String::len),
            Some(10_000 + 28),
            "the record keeps all the job gave"
        );
        m.stop_async().await;
    });
}

#[test]
fn expect_success_within_alerts_once_per_window_until_a_run_succeeds() {
    run(async {
        let clock = ManualClock::new(t("2025-01-01T00:00:30Z"));
        let m = manager(&clock);
        let fail = Arc::new(AtomicBool::new(true));
        let f = Arc::clone(&fail);
        m.add_bot(
            Bot::builder("dms")
                .schedule("* * * * *")
                .expect_success_within(secs(300))
                .job(move || {
                    if f.load(Ordering::SeqCst) {
                        Err(SoftError::new("no data yet"))
                    } else {
                        Ok(())
                    }
                })
                .build()
                .unwrap(),
        )
        .unwrap();
        let seen = recorder(&m, "dms");
        m.start();
        // Fires at 00:01 .. 00:15; the window counts from the first fire.
        let mut alerts_after = Vec::new();
        for minute in 1..=17u64 {
            if minute == 12 {
                fail.store(false, Ordering::SeqCst);
            }
            clock.set(t("2025-01-01T00:00:00Z") + secs(60 * minute));
            until(&m, "dms", "fire ran", |b| b.runs == minute).await;
            idle(&m).await;
            assert!(m.events().wait_until_empty(WAIT));
            alerts_after.push(of_kind(&seen, EventKind::Overdue).len());
            let b = m.metrics_of("dms").unwrap();
            assert_eq!(
                b.overdue_alerts as usize,
                alerts_after[alerts_after.len() - 1]
            );
            assert_eq!(
                b.overdue,
                (6..12).contains(&minute),
                "overdue at minute {minute}"
            );
        }
        // 00:06 (first fire + 5 min), 00:11 (a window later); the success
        // at 00:12 ends it, and the next deadline (00:17) sees the success
        // of 00:16.
        assert_eq!(
            alerts_after,
            [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2]
        );
        let alert = &of_kind(&seen, EventKind::Overdue)[0];
        assert_eq!(alert.event_type, EventType::Error);
        assert_eq!(alert.data["window_s"], 300.0);
        assert_eq!(alert.data["last_success"], serde_json::Value::Null);
        assert_eq!(
            m.metrics_of("dms").unwrap().last_success,
            Some(t("2025-01-01T00:17:00Z"))
        );
        m.stop_async().await;
    });
}
