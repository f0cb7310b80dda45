//! Issue #9 with real processes on one SQLite file: a process killed
//! mid-run (its runs in flight come back as `interrupted`, its cool-down and
//! failure count survive, nothing runs twice), and two processes sharing
//! the file (each fire runs once).
//!
//! The children are this test binary run again with `BOTMAN_TEST_CHILD` set
//! (the `child_process` entry below). These tests use the real clock, kept
//! short: children fire every second and are killed within seconds.
#![cfg(all(feature = "sqlite", unix))]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use botman::{Bot, Botman, ManualClock, RunOutcome, SkipReason, SqliteStore, Trigger};

mod common;
use common::{idle, run};

/// How long a parent waits (real time) for a child to get somewhere.
const CHILD_WAIT: Duration = Duration::from_secs(30);

/// The body of a child process (not a test of its own: without
/// `BOTMAN_TEST_CHILD` it returns at once). It runs a manager on the file
/// `BOTMAN_TEST_DB` until it is killed, and leaves marker files in
/// `BOTMAN_TEST_DIR`.
#[test]
fn child_process() {
    let Ok(role) = std::env::var("BOTMAN_TEST_CHILD") else {
        return;
    };
    let db = PathBuf::from(std::env::var("BOTMAN_TEST_DB").expect("BOTMAN_TEST_DB"));
    let dir = PathBuf::from(std::env::var("BOTMAN_TEST_DIR").expect("BOTMAN_TEST_DIR"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let store = SqliteStore::open(&db).await.expect("open the store");
        let m = Botman::builder().store(store).build().expect("manager");
        match role.as_str() {
            "hang" => {
                let started = dir.join("hang.started");
                m.add_bots([
                    Bot::builder("hang")
                        .schedule("* * * * * *")
                        .job(move || {
                            std::fs::write(&started, b"started").expect("marker");
                            std::thread::sleep(Duration::from_secs(600));
                            Ok::<_, std::io::Error>(())
                        })
                        .build()
                        .expect("bot"),
                    Bot::builder("flaky")
                        .schedule("* * * * * *")
                        .retries(1)
                        .initial_timeout(Duration::from_secs(3600))
                        .job(|| Err::<(), _>(std::io::Error::other("down")))
                        .build()
                        .expect("bot"),
                ])
                .expect("add");
            }
            "tick" => {
                let log = dir.join("tick.log");
                m.add_bot(
                    Bot::builder("tick")
                        .schedule("* * * * * *")
                        .job(move || {
                            use std::io::Write;
                            let mut f = std::fs::OpenOptions::new()
                                .create(true)
                                .append(true)
                                .open(&log)?;
                            writeln!(f, "{}", std::process::id())
                        })
                        .build()
                        .expect("bot"),
                )
                .expect("add");
            }
            other => panic!("unknown child role {other}"),
        }
        m.start();
        std::fs::write(dir.join(format!("ready-{}", std::process::id())), b"ready")
            .expect("marker");
        std::future::pending::<()>().await;
    });
}

/// Starts a child of `role` on `db`, its markers in `dir`.
fn spawn_child(role: &str, db: &Path, dir: &Path) -> Child {
    Command::new(std::env::current_exe().expect("own path"))
        .args([
            "child_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("BOTMAN_TEST_CHILD", role)
        .env("BOTMAN_TEST_DB", db)
        .env("BOTMAN_TEST_DIR", dir)
        .spawn()
        .expect("spawn the child")
}

/// Kills a child if the test fails before it does.
struct Killed(Vec<Child>);

impl Drop for Killed {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Waits (real time, polling) until `f` holds; fails the test otherwise.
async fn eventually(what: &str, mut f: impl AsyncFnMut() -> bool) {
    let t0 = Instant::now();
    while !f().await {
        assert!(t0.elapsed() < CHILD_WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn a_killed_process_leaves_interrupted_runs_and_its_state() {
    run(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("botman.db");
        // Created first, so the child and the watcher open a botman file.
        drop(SqliteStore::open(&db).await.expect("create"));
        let mut kids = Killed(vec![spawn_child("hang", &db, dir.path())]);
        let watch = SqliteStore::open(&db).await.expect("watch");
        let watcher = Botman::builder().store(watch).build().expect("watcher");
        eventually(
            "the hanging run to start, a fire to skip for it, and flaky to fail",
            async || {
                let failed = watcher
                    .history_async("flaky", 10)
                    .await
                    .is_ok_and(|h| h.iter().any(|r| r.outcome == Some(RunOutcome::Failure)));
                let skipped = watcher.history_async("hang", 10).await.is_ok_and(|h| {
                    h.iter()
                        .any(|r| r.outcome == Some(RunOutcome::Skipped(SkipReason::Overlap)))
                });
                failed && skipped && dir.path().join("hang.started").exists()
            },
        )
        .await;
        let c = &mut kids.0[0];
        c.kill().expect("kill the child");
        c.wait().expect("reap the child");
        drop(watcher);

        // A new life on the same file.
        let now = botman::jiff::Timestamp::now();
        let clock = ManualClock::new(now);
        let store = SqliteStore::open(&db).await.expect("reopen");
        let m = Botman::builder()
            .clock(clock.clone())
            .store(store)
            .event_manager(botman::EventManager::new())
            .build()
            .expect("manager");
        m.add_bots([
            Bot::builder("hang")
                .schedule("@yearly")
                .job(|| Ok::<_, std::io::Error>(()))
                .build()
                .unwrap(),
            Bot::builder("flaky")
                .schedule("@yearly")
                .retries(1)
                .initial_timeout(Duration::from_secs(3600))
                .job(|| Ok::<_, std::io::Error>(()))
                .build()
                .unwrap(),
        ])
        .unwrap();
        m.start();
        idle(&m).await;
        let hang = m.history_async("hang", 1000).await.unwrap();
        let interrupted: Vec<_> = hang
            .iter()
            .filter(|r| r.outcome == Some(RunOutcome::Interrupted))
            .collect();
        assert_eq!(interrupted.len(), 1, "the run in flight: {hang:#?}");
        assert!(interrupted[0].finished.is_some());
        assert!(interrupted[0].node.is_some());
        assert!(
            hang.iter()
                .all(|r| r.outcome.is_some() && r.finished.is_some()),
            "nothing left in flight: {hang:#?}"
        );
        // The fires while it hung were skipped for the overlap, each a row.
        assert!(
            hang.iter()
                .any(|r| r.outcome == Some(RunOutcome::Skipped(SkipReason::Overlap))),
            "{hang:#?}"
        );
        let flaky = m.metrics_of("flaky").unwrap();
        assert!(flaky.consecutive_failures >= 1, "{flaky:?}");
        let until = flaky.timeout_until.expect("the cool-down survived");
        assert!(
            until > now && until <= now + Duration::from_secs(3600),
            "{until}"
        );
        // No fire has two runs.
        for bot in ["hang", "flaky"] {
            let h = m.history_async(bot, 1000).await.unwrap();
            let mut ran: Vec<_> = h
                .iter()
                .filter(|r| r.trigger == Trigger::Scheduled && r.attempts > 0)
                .filter_map(|r| r.scheduled)
                .collect();
            let n = ran.len();
            ran.sort();
            ran.dedup();
            assert_eq!(ran.len(), n, "{bot}: a fire ran twice");
        }
        m.stop_async().await;
    });
}

#[test]
fn two_processes_on_one_file_run_each_fire_once() {
    run(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("botman.db");
        drop(SqliteStore::open(&db).await.expect("create"));
        let mut kids = Killed(vec![
            spawn_child("tick", &db, dir.path()),
            spawn_child("tick", &db, dir.path()),
        ]);
        let pids: Vec<u32> = kids.0.iter().map(|c| c.id()).collect();
        eventually("both children to start", async || {
            pids.iter()
                .all(|p| dir.path().join(format!("ready-{p}")).exists())
        })
        .await;
        // Both share the file for a few fires.
        tokio::time::sleep(Duration::from_secs(4)).await;
        for c in &mut kids.0 {
            c.kill().expect("kill");
            c.wait().expect("reap");
        }
        let store = SqliteStore::open(&db).await.expect("reopen");
        let m = Botman::builder()
            .store(store)
            .event_manager(botman::EventManager::new())
            .build()
            .expect("manager");
        m.add_bot(
            Bot::builder("tick")
                .schedule("@yearly")
                .job(|| Ok::<_, std::io::Error>(()))
                .build()
                .unwrap(),
        )
        .unwrap();
        m.start();
        idle(&m).await;
        let runs = m.history_async("tick", 1000).await.unwrap();
        m.stop_async().await;
        let claimed: Vec<_> = runs
            .iter()
            .filter(|r| r.trigger == Trigger::Scheduled)
            .filter(|r| {
                matches!(
                    r.outcome,
                    Some(RunOutcome::Success | RunOutcome::Interrupted)
                )
            })
            .collect();
        let mut fires: Vec<_> = claimed.iter().filter_map(|r| r.scheduled).collect();
        fires.sort();
        fires.dedup();
        assert_eq!(
            fires.len(),
            claimed.len(),
            "one run row per fire: {runs:#?}"
        );
        assert!(claimed.len() >= 3, "the children ran: {runs:#?}");
        let log = std::fs::read_to_string(dir.path().join("tick.log")).unwrap_or_default();
        let executed = log.lines().count();
        assert!(
            executed <= claimed.len() && executed + 2 >= claimed.len(),
            "{executed} executions for {} claimed fires: a fire ran twice or went unrecorded",
            claimed.len()
        );
    });
}
