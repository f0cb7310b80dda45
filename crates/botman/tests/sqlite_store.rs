//! `SqliteStore` (issue #9): the `Store` contract as `MemoryStore` keeps
//! it, sessions and recovery across processes, bad files refused and left
//! as they were, and a measurement of group commit (`#[ignore]`d).
#![cfg(feature = "sqlite")]

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use botman::jiff::Timestamp;
use botman::{
    Begun, Bot, Botman, JobError, MemoryStore, MissReason, RunEnd, RunId, RunOutcome, RunRecord,
    RunStart, SavedState, SkipReason, SqliteOptions, SqliteStore, Store, StoreErrorKind, Trigger,
};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor, SqliteConnection};

mod common;
use common::{run, t};

// ---------------------------------------------------------------- helpers

fn temp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn at(minute: i64) -> Timestamp {
    Timestamp::from_second(1_735_689_600 + minute * 60).expect("instant")
}

fn claim(bot: &str, minute: i64) -> RunStart {
    RunStart::new(
        Arc::from(bot),
        Trigger::Scheduled,
        Some(at(minute)),
        at(minute),
    )
}

fn manual(bot: &str, minute: i64) -> RunStart {
    RunStart::new(Arc::from(bot), Trigger::Manual, None, at(minute))
}

/// A record to edit: `RunRecord` has no public constructor, so the first
/// call runs a bot once on a manager (with a memory store) and keeps its
/// record.
fn template() -> RunRecord {
    static TEMPLATE: OnceLock<RunRecord> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            std::thread::spawn(|| {
                let m = Botman::builder().build().expect("manager");
                m.add_bot(
                    Bot::builder("template")
                        .schedule("0 0 1 1 *")
                        .job(|| Ok::<_, JobError>(()))
                        .build()
                        .expect("bot"),
                )
                .expect("add");
                let r = m.run_bot("template").expect("run").wait().expect("record");
                m.stop();
                r
            })
            .join()
            .expect("template thread")
        })
        .clone()
}

fn record(
    bot: &str,
    trigger: Trigger,
    scheduled: Option<Timestamp>,
    outcome: RunOutcome,
) -> RunRecord {
    let mut r = template();
    r.bot = bot.to_owned();
    r.trigger = trigger;
    r.scheduled = scheduled;
    let when = scheduled.unwrap_or(at(0));
    r.started = when;
    r.finished = when;
    r.outcome = outcome;
    r.attempts = if outcome.reason().is_some() { 0 } else { 1 };
    r.error = None;
    r.value = None;
    r
}

fn started(b: &Begun) -> RunId {
    match b {
        Begun::Started(id) => *id,
        Begun::ClaimedElsewhere => panic!("expected a start, got {b:?}"),
    }
}

/// Every file under `dir` (relative name → bytes; folders as empty
/// entries ending in `/`).
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir") {
            let p = e.expect("entry").path();
            let name = p.strip_prefix(dir).expect("prefix").display().to_string();
            if p.is_dir() {
                out.insert(format!("{name}/"), Vec::new());
                stack.push(p);
            } else {
                out.insert(name, std::fs::read(&p).expect("read"));
            }
        }
    }
    out
}

async fn raw(path: &Path) -> SqliteConnection {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .busy_timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("raw connection")
}

/// A botman file at `dir/botman.db`, closed.
async fn botman_file(dir: &Path) -> PathBuf {
    let path = dir.join("botman.db");
    let s = SqliteStore::open(&path).await.expect("open");
    s.begin_runs(&[claim("a", 0)]).await.expect("begin");
    s.close().await;
    path
}

// ------------------------------------------------------- begin_runs (1)

#[test]
fn ok_begin_answers_in_order_and_ids_map_to_their_rows() {
    run(async {
        let dir = temp();
        let opts = SqliteOptions::new().node("node-a");
        let s = SqliteStore::open_with(dir.path().join("b.db"), opts)
            .await
            .unwrap();
        assert_eq!(s.node(), "node-a");
        assert!(s.is_shared());
        // b@1 is claimed before the batch.
        started(&s.begin_runs(&[claim("b", 1)]).await.unwrap()[0]);
        let batch = [
            claim("a", 1),  // won
            manual("a", 2), // no claim
            claim("b", 1),  // lost: claimed before
            claim("a", 1),  // lost: repeated in the batch
            claim("a", 3),  // won
            manual("a", 2), // the same manual run twice: two rows
            claim("b", 2),  // won
        ];
        let begun = s.begin_runs(&batch).await.unwrap();
        assert_eq!(begun.len(), batch.len());
        assert_eq!(begun[2], Begun::ClaimedElsewhere);
        assert_eq!(begun[3], Begun::ClaimedElsewhere);
        let ids: Vec<RunId> = [0, 1, 4, 5, 6]
            .iter()
            .map(|&i| started(&begun[i]))
            .collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "ids grow in order: {ids:?}"
        );
        for (&i, id) in [0, 1, 4, 5, 6].iter().zip(&ids) {
            let want = &batch[i];
            let page = s.history(&want.bot, 100, None).await.unwrap();
            let row = page
                .runs
                .iter()
                .find(|r| r.id == *id)
                .expect("row of the id");
            assert_eq!(row.trigger, want.trigger, "row {id}");
            assert_eq!(row.scheduled, want.scheduled, "row {id}");
            assert_eq!(row.started, want.started, "row {id}");
            assert_eq!(row.finished, None);
            assert_eq!(row.node.as_deref(), Some("node-a"));
        }
        assert_eq!(s.history("a", 100, None).await.unwrap().runs.len(), 4);
        // The rows name the store's session.
        let path = s.path().to_path_buf();
        let mut c = raw(&path).await;
        let (sessions, rows): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM sessions), \
             (SELECT count(*) FROM runs WHERE session IN (SELECT id FROM sessions))",
        )
        .fetch_one(&mut c)
        .await
        .unwrap();
        assert_eq!((sessions, rows), (1, 6));
        c.close().await.unwrap();
        // Claims alone do not advance last_scheduled (a begin stays
        // cheap); the runs' ends do.
        assert!(s.load_states().await.unwrap().is_empty());
        let ends: Vec<RunEnd> = [(0, "a", 1), (4, "a", 3), (6, "b", 2)]
            .into_iter()
            .map(|(i, bot, m)| {
                let r = record(bot, Trigger::Scheduled, Some(at(m)), RunOutcome::Success);
                RunEnd::new(Some(started(&begun[i])), r, None)
            })
            .collect();
        s.end_runs(&ends).await.unwrap();
        let states = s.load_states().await.unwrap();
        let last = |b: &str| states.iter().find(|x| x.bot == b).unwrap().last_scheduled;
        assert_eq!(last("a"), Some(at(3)));
        assert_eq!(last("b"), Some(at(2)));
        s.close().await;
    });
}

#[test]
fn ok_claims_are_won_once_across_stores_on_one_file() {
    run(async {
        let dir = temp();
        let path = dir.path().join("shared.db");
        let a = Arc::new(SqliteStore::open(&path).await.unwrap());
        let b = Arc::new(SqliteStore::open(&path).await.unwrap());
        let mut tasks = Vec::new();
        for k in 0..16 {
            let s = Arc::clone(if k % 2 == 0 { &a } else { &b });
            tasks.push(tokio::spawn(async move {
                let runs: Vec<RunStart> = (0..40).map(|m| claim("x", m)).collect();
                s.begin_runs(&runs).await.unwrap()
            }));
        }
        let mut won = vec![0; 40];
        for t in tasks {
            for (m, b) in t.await.unwrap().iter().enumerate() {
                if matches!(b, Begun::Started(_)) {
                    won[m] += 1;
                }
            }
        }
        assert_eq!(won, vec![1; 40], "each fire is won exactly once");
        assert_eq!(a.history("x", 1000, None).await.unwrap().runs.len(), 40);
    });
}

// --------------------------------------------------------- end_runs (2)

#[test]
fn ok_end_updates_begun_rows_inserts_not_run_rows_and_saves_states() {
    run(async {
        let dir = temp();
        let s = SqliteStore::open(dir.path().join("e.db")).await.unwrap();
        let id = started(&s.begin_runs(&[claim("a", 1)]).await.unwrap()[0]);
        let mut done = record("a", Trigger::Scheduled, Some(at(1)), RunOutcome::Failure);
        done.started = at(1).checked_add(Duration::from_secs(1)).unwrap();
        done.finished = at(1).checked_add(Duration::from_secs(9)).unwrap();
        done.attempts = 3;
        done.error = Some("boom".into());
        let mut end = RunEnd::new(Some(id), done.clone(), None);
        end.output.exit_code = Some(2);
        end.output.stdout_tail = Some("out".into());
        end.output.stderr_tail = Some("err".into());
        let mut state = SavedState::new("a");
        state.consecutive_failures = 1;
        state.cool_down_until = Some(at(10));
        state.cool_down_len = Duration::from_secs(300);
        let skipped = record(
            "a",
            Trigger::Scheduled,
            Some(at(2)),
            RunOutcome::Skipped(SkipReason::CoolDown),
        );
        let ends = [end, RunEnd::new(None, skipped, Some(state.clone()))];
        s.end_runs(&ends).await.unwrap();

        let page = s.history("a", 10, None).await.unwrap();
        assert_eq!(page.runs.len(), 2);
        let (skip, ran) = (&page.runs[0], &page.runs[1]);
        assert!(skip.id > ran.id);
        assert_eq!(ran.id, id);
        assert_eq!(ran.outcome, Some(RunOutcome::Failure));
        assert_eq!(ran.started, done.started);
        assert_eq!(ran.finished, Some(done.finished));
        assert_eq!(ran.attempts, 3);
        assert_eq!(ran.error.as_deref(), Some("boom"));
        assert_eq!(ran.output.exit_code, Some(2));
        assert_eq!(ran.output.stdout_tail.as_deref(), Some("out"));
        assert_eq!(ran.output.stderr_tail.as_deref(), Some("err"));
        assert_eq!(
            skip.outcome,
            Some(RunOutcome::Skipped(SkipReason::CoolDown))
        );
        assert_eq!(skip.attempts, 0);
        let states = s.load_states().await.unwrap();
        let mut want = state;
        want.last_scheduled = Some(at(2));
        assert_eq!(
            states,
            [want],
            "the state, and last_scheduled from the skip"
        );
    });
}

#[test]
fn ok_not_run_rows_are_idempotent_and_take_no_claim() {
    run(async {
        let dir = temp();
        let path = dir.path().join("n.db");
        let a = SqliteStore::open(&path).await.unwrap();
        let b = SqliteStore::open(&path).await.unwrap();
        let missed = |r| record("a", Trigger::Scheduled, Some(at(5)), RunOutcome::Missed(r));
        let end = RunEnd::new(None, missed(MissReason::Late), None);
        a.end_runs(std::slice::from_ref(&end)).await.unwrap();
        let first = a.history("a", 10, None).await.unwrap().runs[0].id;
        b.end_runs(&[end.clone(), end]).await.unwrap();
        let rows = a.history("a", 10, None).await.unwrap().runs;
        assert_eq!(rows.len(), 1, "one row for the same miss: {rows:?}");
        assert_eq!(rows[0].id, first, "the first row stays");
        // A manual run's failures are not deduplicated.
        let fail = RunEnd::new(
            None,
            record("a", Trigger::Manual, None, RunOutcome::Failure),
            None,
        );
        a.end_runs(&[fail.clone(), fail]).await.unwrap();
        assert_eq!(a.history("a", 10, None).await.unwrap().runs.len(), 3);
        // The miss took no claim: the fire can still be claimed once.
        let begun = b.begin_runs(&[claim("a", 5), claim("a", 5)]).await.unwrap();
        started(&begun[0]);
        assert_eq!(begun[1], Begun::ClaimedElsewhere);
    });
}

#[test]
fn ok_last_scheduled_only_moves_forward() {
    run(async {
        let dir = temp();
        let s = SqliteStore::open(dir.path().join("l.db")).await.unwrap();
        let mut st = SavedState::new("a");
        st.last_scheduled = Some(at(10));
        st.paused = true;
        s.save_states(&[st.clone()]).await.unwrap();
        st.last_scheduled = Some(at(3));
        st.paused = false;
        s.save_states(&[st.clone()]).await.unwrap();
        st.last_scheduled = None;
        st.consecutive_failures = 4;
        s.save_states(&[st.clone()]).await.unwrap();
        // An older claim does not move it back either.
        s.begin_runs(&[claim("a", 1)]).await.unwrap();
        let got = s.load_states().await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].last_scheduled, Some(at(10)));
        assert!(!got[0].paused, "the rest of the state is the latest saved");
        assert_eq!(got[0].consecutive_failures, 4);
        // Bots that only ran have a state too (as MemoryStore).
        let b = s.begin_runs(&[claim("fresh", 7)]).await.unwrap();
        let r = record(
            "fresh",
            Trigger::Scheduled,
            Some(at(7)),
            RunOutcome::Success,
        );
        s.end_runs(&[RunEnd::new(Some(started(&b[0])), r, None)])
            .await
            .unwrap();
        let got = s.load_states().await.unwrap();
        let fresh = got.iter().find(|x| x.bot == "fresh").unwrap();
        let mut want = SavedState::new("fresh");
        want.last_scheduled = Some(at(7));
        assert_eq!(*fresh, want);
    });
}

#[test]
fn ok_retention_prunes_finished_rows_and_keeps_runs_in_flight() {
    run(async {
        let dir = temp();
        // Retention 10: pruned every retention/10 = 1 new row, so exact.
        let opts = SqliteOptions::new().retention(10);
        let s = SqliteStore::open_with(dir.path().join("r.db"), opts)
            .await
            .unwrap();
        let stuck = started(&s.begin_runs(&[claim("a", 0)]).await.unwrap()[0]);
        for m in 1..=30 {
            let id = started(&s.begin_runs(&[claim("a", m)]).await.unwrap()[0]);
            let r = record("a", Trigger::Scheduled, Some(at(m)), RunOutcome::Success);
            s.end_runs(&[RunEnd::new(Some(id), r, None)]).await.unwrap();
        }
        let rows = s.history("a", 100, None).await.unwrap().runs;
        let ids: Vec<i64> = rows.iter().map(|r| r.id.0).collect();
        assert_eq!(
            rows.len(),
            11,
            "the newest 10 and the run in flight: {ids:?}"
        );
        assert_eq!(rows[0].scheduled, Some(at(30)));
        assert_eq!(rows[9].scheduled, Some(at(21)));
        assert_eq!(rows[10].id, stuck);
        assert_eq!(rows[10].finished, None);

        // Retention 100 prunes every 10 new rows: never more than 109.
        let opts = SqliteOptions::new().retention(100);
        let s = SqliteStore::open_with(dir.path().join("r2.db"), opts)
            .await
            .unwrap();
        let mut most = 0;
        for m in 0..250 {
            let r = record("b", Trigger::Manual, None, RunOutcome::Success);
            let mut r = r;
            r.started = at(m);
            s.end_runs(&[RunEnd::new(None, r, None)]).await.unwrap();
            most = most.max(s.history("b", 1000, None).await.unwrap().runs.len());
        }
        assert!(
            (100..=109).contains(&most),
            "at most retention + retention/10 - 1: {most}"
        );
    });
}

// ----------------------------------------------------------- history (3)

#[test]
fn ok_history_pages_newest_first_with_an_exclusive_cursor() {
    run(async {
        let dir = temp();
        let s = SqliteStore::open(dir.path().join("h.db")).await.unwrap();
        let starts: Vec<RunStart> = (0..7).map(|m| claim("a", m)).collect();
        let ids: Vec<i64> = s
            .begin_runs(&starts)
            .await
            .unwrap()
            .iter()
            .map(|b| started(b).0)
            .collect();
        s.begin_runs(&[claim("other", 0)]).await.unwrap();
        let p1 = s.history("a", 3, None).await.unwrap();
        let got: Vec<i64> = p1.runs.iter().map(|r| r.id.0).collect();
        assert_eq!(got, [ids[6], ids[5], ids[4]]);
        assert_eq!(p1.next, Some(RunId(ids[4])));
        let p2 = s.history("a", 3, p1.next).await.unwrap();
        let got: Vec<i64> = p2.runs.iter().map(|r| r.id.0).collect();
        assert_eq!(got, [ids[3], ids[2], ids[1]]);
        let p3 = s.history("a", 3, p2.next).await.unwrap();
        let got: Vec<i64> = p3.runs.iter().map(|r| r.id.0).collect();
        assert_eq!(got, [ids[0]]);
        assert_eq!(p3.next, None);
        // Exactly a page's worth left: no cursor.
        let p = s.history("a", 4, Some(RunId(ids[4]))).await.unwrap();
        assert_eq!(p.runs.len(), 4);
        assert_eq!(p.next, None);
        assert!(s.history("a", 0, None).await.unwrap().runs.is_empty());
        assert!(s.history("nobody", 5, None).await.unwrap().runs.is_empty());
    });
}

#[test]
fn err_unknown_text_in_a_row_is_corrupt_and_names_the_row() {
    run(async {
        let dir = temp();
        let path = dir.path().join("c.db");
        let s = SqliteStore::open(&path).await.unwrap();
        let id = started(&s.begin_runs(&[claim("a", 0)]).await.unwrap()[0]);
        let mut c = raw(&path).await;
        c.execute("PRAGMA ignore_check_constraints = ON")
            .await
            .unwrap();
        sqlx::query("UPDATE runs SET trigger = 'teleport' WHERE id = ?1")
            .bind(id.0)
            .execute(&mut c)
            .await
            .unwrap();
        let e = s.history("a", 10, None).await.unwrap_err();
        assert_eq!(e.kind(), StoreErrorKind::Corrupt, "{e}");
        assert!(e.message().contains(&format!("run {id}")), "{e}");
        assert!(e.message().contains("teleport"), "{e}");
        sqlx::query(
            "UPDATE runs SET trigger = 'scheduled', outcome = 'skipped', reason = 'sleepy', \
             finished_at = started_at WHERE id = ?1",
        )
        .bind(id.0)
        .execute(&mut c)
        .await
        .unwrap();
        let e = s.history("a", 10, None).await.unwrap_err();
        assert_eq!(e.kind(), StoreErrorKind::Corrupt, "{e}");
        assert!(e.message().contains("sleepy"), "{e}");
        c.close().await.unwrap();
    });
}

// ------------------------------------------------- persistence (4) ----

#[test]
fn ok_reopen_keeps_history_and_states_and_an_empty_file_is_new() {
    run(async {
        let dir = temp();
        let path = dir.path().join("p.db");
        std::fs::write(&path, b"").unwrap();
        let s = SqliteStore::open(&path).await.unwrap();
        let id = started(&s.begin_runs(&[claim("a", 1)]).await.unwrap()[0]);
        let mut st = SavedState::new("b");
        st.paused = true;
        s.save_states(&[st]).await.unwrap();
        s.close().await;
        let s = SqliteStore::open(&path).await.unwrap();
        assert_eq!(s.history("a", 5, None).await.unwrap().runs[0].id, id);
        let states = s.load_states().await.unwrap();
        assert_eq!(states.len(), 1, "a claim alone leaves no state");
        assert!(states.iter().any(|x| x.bot == "b" && x.paused));
        // A claim survives the restart.
        assert_eq!(
            s.begin_runs(&[claim("a", 1)]).await.unwrap(),
            [Begun::ClaimedElsewhere]
        );
    });
}

#[test]
fn ok_serves_as_a_managers_store() {
    run(async {
        let dir = temp();
        let s = SqliteStore::open(dir.path().join("m.db")).await.unwrap();
        let m = Botman::builder().store(s).build().unwrap();
        m.add_bot(
            Bot::builder("hello")
                .schedule("0 0 1 1 *")
                .job(|| Ok::<_, JobError>(()))
                .build()
                .unwrap(),
        )
        .unwrap();
        let r = m.run_bot("hello").unwrap().await.unwrap();
        assert!(r.is_success());
        m.stop_async().await;
    });
}

// --------------------------------------------- sessions and recovery (5)

/// Not a test on its own: the child process of
/// `ok_recover_ends_the_runs_of_a_process_that_died`, which begins a run
/// and exits without closing anything.
#[test]
fn child_process_that_dies() {
    let Ok(path) = std::env::var("BOTMAN_SQLITE_CHILD") else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let opts = SqliteOptions::new().node("child-node");
        let s = SqliteStore::open_with(&path, opts).await.unwrap();
        let id = started(&s.begin_runs(&[claim("orphan", 1)]).await.unwrap()[0]);
        println!("BEGUN {id}");
        std::process::exit(0);
    });
}

#[test]
fn ok_recover_ends_the_runs_of_a_process_that_died() {
    run(async {
        let dir = temp();
        let path = dir.path().join("r.db");
        let s = SqliteStore::open_with(&path, SqliteOptions::new().node("me"))
            .await
            .unwrap();
        let mine = started(&s.begin_runs(&[claim("mine", 1)]).await.unwrap()[0]);
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_process_that_dies",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("BOTMAN_SQLITE_CHILD", &path)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let id: i64 = stdout
            .lines()
            .find_map(|l| l.split("BEGUN ").nth(1))
            .unwrap_or_else(|| panic!("child: {stdout} {}", String::from_utf8_lossy(&out.stderr)))
            .trim()
            .parse()
            .unwrap();
        let sessions = path.with_file_name("r.db-sessions");
        assert_eq!(
            std::fs::read_dir(&sessions).unwrap().count(),
            2,
            "the child's lock is left"
        );

        let now = t("2026-01-01T00:00:00Z");
        let got = s.recover(now).await.unwrap();
        assert_eq!(got.len(), 1, "{got:?}");
        let r = &got[0];
        assert_eq!((r.id.0, r.bot.as_str()), (id, "orphan"));
        assert_eq!(r.outcome, Some(RunOutcome::Interrupted));
        assert_eq!(r.finished, Some(now));
        let err = r.error.as_deref().unwrap();
        assert!(
            err.contains("node child-node") && err.contains("session child-node."),
            "{err}"
        );
        assert_eq!(
            std::fs::read_dir(&sessions).unwrap().count(),
            1,
            "its lock file is removed"
        );
        let mut c = raw(&path).await;
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(n, 1, "its session row is deleted");
        c.close().await.unwrap();
        // Our own run is untouched, and a second recover finds nothing.
        let rows = s.history("mine", 5, None).await.unwrap().runs;
        assert_eq!((rows[0].id, rows[0].finished), (mine, None));
        assert!(s.recover(now).await.unwrap().is_empty());
    });
}

#[test]
fn ok_recover_leaves_live_sessions_alone_and_takes_closed_ones() {
    run(async {
        let dir = temp();
        let path = dir.path().join("live.db");
        let a = SqliteStore::open(&path).await.unwrap();
        let b = SqliteStore::open(&path).await.unwrap();
        let id = started(&a.begin_runs(&[claim("a", 1)]).await.unwrap()[0]);
        let now = t("2026-01-01T00:00:00Z");
        assert!(
            b.recover(now).await.unwrap().is_empty(),
            "a lives (its lock is held)"
        );
        assert_eq!(
            a.history("a", 5, None).await.unwrap().runs[0].finished,
            None
        );
        // Closed with a run in flight: its session is gone, the run is an
        // orphan.
        a.close().await;
        let got = b.recover(now).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].id, got[0].outcome),
            (id, Some(RunOutcome::Interrupted))
        );
    });
}

#[test]
fn ok_dropping_the_store_releases_its_session_lock() {
    run(async {
        let dir = temp();
        let path = dir.path().join("d.db");
        let s = SqliteStore::open(&path).await.unwrap();
        let sessions = path.with_file_name("d.db-sessions");
        let lock = std::fs::read_dir(&sessions)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let f = std::fs::File::options().write(true).open(&lock).unwrap();
        assert!(f.try_lock().is_err(), "held while the store lives");
        drop(s);
        // The lock is released at once; the file may be removed later.
        assert!(f.try_lock().is_ok(), "released when the store is dropped");
    });
}

// ------------------------------------------------------ bad files (8) --

/// Opens `path` and expects `kind`; the directory is byte for byte as it
/// was (no `-wal`, `-shm` or `-sessions` left behind).
async fn refused(dir: &Path, path: &Path, opts: SqliteOptions, kind: StoreErrorKind) -> String {
    let before = snapshot(dir);
    let e = SqliteStore::open_with(path, opts).await.unwrap_err();
    assert_eq!(e.kind(), kind, "{e}");
    assert!(
        e.message().contains(&path.display().to_string()),
        "names the path: {e}"
    );
    assert_eq!(snapshot(dir), before, "left as it was: {e}");
    e.message().to_owned()
}

#[test]
fn err_not_sqlite_is_not_botman() {
    run(async {
        let dir = temp();
        let path = dir.path().join("notes.txt");
        std::fs::write(&path, "hello, I am not a database\n").unwrap();
        let m = refused(
            dir.path(),
            &path,
            SqliteOptions::new(),
            StoreErrorKind::NotBotman,
        )
        .await;
        assert!(m.contains("not a SQLite database"), "{m}");
        // A short file too.
        std::fs::write(&path, "SQLite").unwrap();
        refused(
            dir.path(),
            &path,
            SqliteOptions::new(),
            StoreErrorKind::NotBotman,
        )
        .await;
    });
}

#[test]
fn err_another_applications_sqlite_file_is_not_botman() {
    run(async {
        let dir = temp();
        let path = dir.path().join("other.db");
        let mut c = raw(&path).await;
        c.execute("CREATE TABLE notes (x TEXT); INSERT INTO notes VALUES ('keep me')")
            .await
            .unwrap();
        c.close().await.unwrap();
        let m = refused(
            dir.path(),
            &path,
            SqliteOptions::new(),
            StoreErrorKind::NotBotman,
        )
        .await;
        assert!(
            m.contains("another application") && m.contains("notes"),
            "{m}"
        );
    });
}

#[test]
fn err_a_newer_schema_is_schema_too_new() {
    run(async {
        let dir = temp();
        let path = botman_file(dir.path()).await;
        let mut c = raw(&path).await;
        c.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
             execution_time) VALUES (99, 'from the future', TRUE, x'00', 0)",
        )
        .await
        .unwrap();
        c.close().await.unwrap();
        let m = refused(
            dir.path(),
            &path,
            SqliteOptions::new(),
            StoreErrorKind::SchemaTooNew,
        )
        .await;
        assert!(m.contains("99") && m.contains("(1)"), "{m}");
    });
}

#[test]
fn err_read_only_file_or_directory_is_read_only() {
    use std::os::unix::fs::PermissionsExt;
    run(async {
        let dir = temp();
        let path = botman_file(dir.path()).await;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
        refused(
            dir.path(),
            &path,
            SqliteOptions::new(),
            StoreErrorKind::ReadOnly,
        )
        .await;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();

        let ro = dir.path().join("ro");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        let m = refused(
            &ro,
            &ro.join("new.db"),
            SqliteOptions::new(),
            StoreErrorKind::ReadOnly,
        )
        .await;
        assert!(m.contains("read-only"), "{m}");
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    });
}

#[test]
fn err_a_file_locked_by_another_connection_is_locked() {
    run(async {
        let dir = temp();
        let path = botman_file(dir.path()).await;
        let mut c = raw(&path).await;
        c.execute("BEGIN EXCLUSIVE").await.unwrap();
        let before = std::fs::read(&path).unwrap();
        let names = |d: &Path| -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        let names_before = names(dir.path());
        let opts = SqliteOptions::new().busy_timeout(Duration::from_millis(50));
        let e = SqliteStore::open_with(&path, opts).await.unwrap_err();
        assert_eq!(e.kind(), StoreErrorKind::Locked, "{e}");
        assert!(e.message().contains("busy_timeout"), "says what to do: {e}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert_eq!(names(dir.path()), names_before, "nothing left beside it");
        c.execute("ROLLBACK").await.unwrap();
        c.close().await.unwrap();
        SqliteStore::open(&path)
            .await
            .expect("opens once unlocked")
            .close()
            .await;
    });
}

#[test]
fn err_missing_directory_is_unavailable() {
    run(async {
        let dir = temp();
        let path = dir.path().join("missing").join("x.db");
        let m = refused(
            dir.path(),
            &path,
            SqliteOptions::new(),
            StoreErrorKind::Unavailable,
        )
        .await;
        assert!(m.contains("does not exist"), "{m}");
    });
}

#[test]
fn err_a_full_disk_is_full_and_writes_nothing_of_the_batch() {
    run(async {
        let dir = temp();
        let path = dir.path().join("full.db");
        let s = SqliteStore::open_with(&path, SqliteOptions::new().max_page_count(40))
            .await
            .unwrap();
        let big = "x".repeat(2000);
        let mut minute = 0;
        let err = loop {
            let batch: Vec<RunStart> = (0..10)
                .map(|k| claim(&format!("{big}{k}"), minute))
                .collect();
            minute += 1;
            match s.begin_runs(&batch).await {
                Ok(_) => assert!(minute < 1000, "never filled"),
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), StoreErrorKind::Full, "{err}");
        // Nothing of the failed batch was kept, and reads still work.
        for k in 0..10 {
            let rows = s
                .history(&format!("{big}{k}"), 10_000, None)
                .await
                .unwrap()
                .runs;
            assert_eq!(rows.len() as i64, minute - 1, "bot {k}");
        }
        // The writer goes on: a write that fits succeeds.
        s.save_states(&[SavedState::new("small")]).await.unwrap();
    });
}

// ------------------------------------------------------ speed (6) ------

async fn measure(store: Arc<dyn Store>) -> (Duration, Duration) {
    const TASKS: usize = 157;
    const BATCH: usize = 64;
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..TASKS {
        let s = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let bot = format!("bot-{k}");
            let starts: Vec<RunStart> = (0..BATCH as i64).map(|m| claim(&bot, m)).collect();
            let begun = s.begin_runs(&starts).await.unwrap();
            (bot, begun)
        }));
    }
    let mut begun = Vec::new();
    for t in tasks {
        begun.push(t.await.unwrap());
    }
    let t_begin = t0.elapsed();
    let t1 = Instant::now();
    let mut tasks = Vec::new();
    for (bot, ids) in begun {
        let s = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let ends: Vec<RunEnd> = ids
                .iter()
                .enumerate()
                .map(|(m, b)| {
                    let r = record(
                        &bot,
                        Trigger::Scheduled,
                        Some(at(m as i64)),
                        RunOutcome::Success,
                    );
                    RunEnd::new(Some(started(b)), r, None)
                })
                .collect();
            s.end_runs(&ends).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    (t_begin, t1.elapsed())
}

/// `cargo test -p botman --features sqlite --test sqlite_store -- --ignored
/// --nocapture measure_`: 10,048 runs begun in 157 concurrent batches of
/// 64, then ended the same way, on a file on disk, against MemoryStore.
#[test]
#[ignore = "a measurement: run it with --ignored --nocapture"]
fn measure_group_commit_against_memory() {
    run(async {
        template();
        let dir = temp();
        for round in 0..3 {
            let path = dir.path().join(format!("bench-{round}.db"));
            let s = SqliteStore::open(&path).await.unwrap();
            let (b, e) = measure(Arc::new(s)).await;
            let (mb, me) = measure(Arc::new(MemoryStore::new())).await;
            println!(
                "round {round}: sqlite begin {b:?} + end {e:?} = {:?}; memory begin {mb:?} + end {me:?}",
                b + e
            );
        }
        // Sustained: 1,000 begins + ends, one run at a time.
        let s = SqliteStore::open(dir.path().join("sustained.db"))
            .await
            .unwrap();
        let t0 = Instant::now();
        for m in 0..1000 {
            let id = started(&s.begin_runs(&[claim("one", m)]).await.unwrap()[0]);
            let r = record("one", Trigger::Scheduled, Some(at(m)), RunOutcome::Success);
            s.end_runs(&[RunEnd::new(Some(id), r, None)]).await.unwrap();
        }
        println!("sequential: 1,000 begin + end pairs in {:?}", t0.elapsed());
        let seen: HashSet<i64> = s
            .history("one", 2000, None)
            .await
            .unwrap()
            .runs
            .iter()
            .map(|r| r.id.0)
            .collect();
        assert_eq!(seen.len(), 1000);
    });
}

// ------------------------------------------ found by a new user (review) ----

#[test]
fn err_an_empty_path_is_refused() {
    run(async {
        let e = SqliteStore::open("").await.expect_err("an empty path");
        assert_eq!(e.kind(), StoreErrorKind::Unavailable, "{e}");
        assert!(e.message().contains("path is empty"), "{e}");
        assert!(!Path::new("-sessions").exists(), "nothing created");
    });
}

#[test]
fn ok_a_huge_history_limit_is_all_rows() {
    run(async {
        let dir = temp();
        let s = SqliteStore::open(dir.path().join("h.db")).await.unwrap();
        s.begin_runs(&[claim("a", 1), claim("a", 2)]).await.unwrap();
        for limit in [usize::MAX, i64::MAX as usize, i64::MAX as usize + 1] {
            let page = s.history("a", limit, None).await.unwrap();
            assert_eq!((page.runs.len(), page.next), (2, None), "limit {limit}");
        }
        s.close().await;
    });
}

#[test]
fn ok_dropping_the_store_leaves_the_file_closed() {
    run(async {
        let dir = temp();
        let path = dir.path().join("d.db");
        let s = SqliteStore::open(&path).await.unwrap();
        s.begin_runs(&[claim("a", 1)]).await.unwrap();
        // A manager holding it, dropped at the end of `main`, drops it so.
        drop(s);
        let wal = dir.path().join("d.db-wal");
        assert!(
            !wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0,
            "the WAL was folded back before drop returned"
        );
        let sessions = dir.path().join("d.db-sessions");
        assert!(!sessions.exists(), "the session ended before drop returned");
        // Operators read it with readable times.
        let mut c = raw(&path).await;
        let (scheduled, outcome): (String, String) =
            sqlx::query_as("SELECT scheduled, outcome FROM runs_readable")
                .fetch_one(&mut c)
                .await
                .unwrap();
        assert_eq!(
            (scheduled.as_str(), outcome.as_str()),
            ("2025-01-01T00:01:00.000Z", "in flight")
        );
        c.close().await.unwrap();
        // The whole store is in the database file alone.
        let copy = dir.path().join("copy.db");
        std::fs::copy(&path, &copy).unwrap();
        let s = SqliteStore::open(&copy).await.unwrap();
        assert_eq!(s.history("a", 10, None).await.unwrap().runs.len(), 1);
        s.close().await;
    });
}
