//! The store's thread: one writer task applying every queued write in one
//! transaction (group commit), and reader tasks answering reads on their
//! own connections.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::Timestamp;
use sqlx::Connection;
use sqlx::sqlite::SqliteConnection;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::codec::{
    self, BeginBatch, Begins, EndBatch, Inserted, RUN_COLUMNS, STATE_COLUMNS, micros, now_micros,
};
use super::error::from_sqlx;
use super::open::{self, Opened, Settings};
use super::session;
use crate::store::{Begun, HistoryPage, RunId, SavedState, StoreError, StoredRun};

/// At most this many requests share a transaction, so one transaction (and
/// the wait of the requests behind it) stays short.
const MAX_GROUP: usize = 512;

/// A request for the writer.
pub(super) enum Write {
    Begin {
        batch: BeginBatch,
        reply: oneshot::Sender<Result<Vec<Begun>, StoreError>>,
    },
    End {
        batch: EndBatch,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    Save {
        json: String,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    Recover {
        now: Timestamp,
        reply: oneshot::Sender<Result<Vec<StoredRun>, StoreError>>,
    },
}

/// A request for a reader.
pub(super) enum Read {
    History {
        bot: String,
        limit: usize,
        before: Option<RunId>,
        reply: oneshot::Sender<Result<HistoryPage, StoreError>>,
    },
    States {
        reply: oneshot::Sender<Result<Vec<SavedState>, StoreError>>,
    },
    Run {
        id: RunId,
        reply: oneshot::Sender<Result<Option<StoredRun>, StoreError>>,
    },
    Ping {
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
}

/// What an opened store's handle holds.
pub(super) struct Handles {
    pub(super) session: String,
    pub(super) writes: mpsc::UnboundedSender<Write>,
    pub(super) reads: mpsc::UnboundedSender<Read>,
    pub(super) lock: File,
    pub(super) done: oneshot::Receiver<()>,
}

/// The error for a store whose thread has stopped.
pub(super) fn stopped(path: &Path) -> StoreError {
    super::unavailable(path, "the store's worker thread has stopped")
}

/// Starts the store's thread, which opens the file and answers with the
/// handles (or why it could not open).
/// The store's thread: the answer of its opening, and the thread.
pub(super) type Spawned = (
    oneshot::Receiver<Result<Handles, StoreError>>,
    std::thread::JoinHandle<()>,
);

pub(super) fn spawn(path: PathBuf, settings: Settings) -> Result<Spawned, StoreError> {
    let (tx, rx) = oneshot::channel();
    let name = format!("botman-sqlite {}", path.display());
    let thread_path = path.clone();
    let thread = std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            let path = thread_path;
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.send(Err(super::unavailable(
                        &path,
                        format!("starting the store's runtime: {e}"),
                    )));
                    return;
                }
            };
            rt.block_on(serve(path, settings, tx));
        })
        .map_err(|e| super::unavailable(&path, format!("starting the store's thread: {e}")))?;
    Ok((rx, thread))
}

async fn serve(
    path: PathBuf,
    settings: Settings,
    opened: oneshot::Sender<Result<Handles, StoreError>>,
) {
    let o = match open::open(&path, &settings).await {
        Ok(o) => o,
        Err(e) => {
            let _ = opened.send(Err(e));
            return;
        }
    };
    let Opened {
        writer,
        readers,
        session,
        sessions_dir,
        lock,
    } = o;
    let (writes, write_rx) = mpsc::unbounded_channel();
    let (reads, read_rx) = mpsc::unbounded_channel();
    // Dropped last, when everything is closed: `SqliteStore::close` waits
    // for it.
    let (done_tx, done) = oneshot::channel::<()>();
    // If the opener is gone, the handles drop here: the channels close and
    // the tasks below clean up at once.
    let _ = opened.send(Ok(Handles {
        session: session.clone(),
        writes,
        reads,
        lock,
        done,
    }));

    let path = Arc::new(path);
    let read_rx = Arc::new(Mutex::new(read_rx));
    let mut tasks = Vec::new();
    for conn in readers {
        tasks.push(tokio::spawn(reader(
            Arc::clone(&path),
            conn,
            Arc::clone(&read_rx),
        )));
    }
    let mut w = Writer {
        conn: writer,
        ctx: Context {
            path: Arc::clone(&path),
            session,
            node: settings.node,
            sessions_dir,
            prune: Prune::new(settings.retention),
        },
    };
    w.run(write_rx).await;
    w.close().await;
    for t in tasks {
        let _ = t.await;
    }
    drop(done_tx);
}

/// Reader task: answers reads until the store is dropped.
async fn reader(
    path: Arc<PathBuf>,
    mut conn: SqliteConnection,
    requests: Arc<Mutex<mpsc::UnboundedReceiver<Read>>>,
) {
    loop {
        let req = requests.lock().await.recv().await;
        match req {
            None => break,
            Some(Read::History {
                bot,
                limit,
                before,
                reply,
            }) => {
                let _ = reply.send(history(&path, &mut conn, &bot, limit, before).await);
            }
            Some(Read::States { reply }) => {
                let _ = reply.send(states(&path, &mut conn).await);
            }
            Some(Read::Run { id, reply }) => {
                let _ = reply.send(one_run(&path, &mut conn, id).await);
            }
            Some(Read::Ping { reply }) => {
                let answer = sqlx::query("SELECT count(*) FROM sessions")
                    .fetch_one(&mut conn)
                    .await
                    .map(|_| ())
                    .map_err(|e| from_sqlx(&path, "checking the database", &e));
                let _ = reply.send(answer);
            }
        }
    }
    let _ = conn.close().await;
}

async fn one_run(
    path: &Path,
    conn: &mut SqliteConnection,
    id: RunId,
) -> Result<Option<StoredRun>, StoreError> {
    let row = sqlx::query(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"))
        .bind(id.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| from_sqlx(path, "reading a run", &e))?;
    row.map(|r| codec::stored_run(path, &r)).transpose()
}

async fn history(
    path: &Path,
    conn: &mut SqliteConnection,
    bot: &str,
    limit: usize,
    before: Option<RunId>,
) -> Result<HistoryPage, StoreError> {
    // One row more than asked tells whether older rows remain.
    let fetch = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);
    let rows = sqlx::query(&format!(
        "SELECT {RUN_COLUMNS} FROM runs WHERE bot = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3"
    ))
    .bind(bot)
    .bind(before.map_or(i64::MAX, |b| b.0))
    .bind(fetch)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| from_sqlx(path, "reading history", &e))?;
    let more = rows.len() > limit;
    let runs = rows
        .iter()
        .take(limit)
        .map(|r| codec::stored_run(path, r))
        .collect::<Result<Vec<_>, _>>()?;
    let next = if more {
        runs.last().map(|r| r.id)
    } else {
        None
    };
    Ok(HistoryPage { runs, next })
}

async fn states(path: &Path, conn: &mut SqliteConnection) -> Result<Vec<SavedState>, StoreError> {
    sqlx::query(&format!(
        "SELECT {STATE_COLUMNS} FROM bot_state ORDER BY bot"
    ))
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| from_sqlx(path, "reading bot states", &e))?
    .iter()
    .map(|r| codec::saved_state(path, r))
    .collect()
}

/// Amortised pruning: a bot is pruned when this store has ended `step` of
/// its rows (runs that finished, fires not run) since its last prune (or
/// since this store first touched it). Rows are counted as they end, not as
/// they begin: a run in flight cannot be pruned.
struct Prune {
    retention: usize,
    step: usize,
    /// Rows added per bot since its last prune; a bot not here was not
    /// pruned by this store yet.
    added: HashMap<Arc<str>, usize>,
}

impl Prune {
    fn new(retention: usize) -> Prune {
        Prune {
            retention,
            step: (retention / 10).max(1),
            added: HashMap::new(),
        }
    }

    /// Whether a bot that gains `n` rows is due. A bot first touched counts
    /// from zero (pruning each of 10,000 bots on its first run would cost a
    /// statement each in the middle of a burst): rows an earlier process
    /// left beyond the retention go with this process's first prune of it.
    fn due(&self, bot: &str, n: usize) -> bool {
        self.added.get(bot).copied().unwrap_or(0) + n >= self.step
    }

    /// After a committed transaction: `pruned` bots start over, the others
    /// count their new rows.
    fn committed(&mut self, added: HashMap<Arc<str>, usize>, pruned: &[Arc<str>]) {
        for (bot, n) in added {
            *self.added.entry(bot).or_insert(0) += n;
        }
        for bot in pruned {
            self.added.insert(Arc::clone(bot), 0);
        }
    }
}

/// What one request of a group answers, once the group commits.
enum Answer {
    Begun(Vec<Begun>),
    Done,
    Recovered(Vec<StoredRun>),
}

struct Writer {
    conn: SqliteConnection,
    ctx: Context,
}

/// What the writer's statements need besides the connection.
struct Context {
    path: Arc<PathBuf>,
    session: String,
    node: String,
    sessions_dir: PathBuf,
    prune: Prune,
}

/// What a group changed beyond its rows: rows added per bot (for
/// pruning), the lock files of sessions it found dead (removed after the
/// commit, their locks held until then).
#[derive(Default)]
struct Group {
    added: HashMap<Arc<str>, usize>,
    pruned: Vec<Arc<str>>,
    dead: Vec<(PathBuf, Option<File>)>,
}

impl Writer {
    async fn run(&mut self, mut rx: mpsc::UnboundedReceiver<Write>) {
        let mut requests = Vec::new();
        // Ends and saves held back while claims were waiting, oldest first.
        let mut deferred: Vec<Write> = Vec::new();
        loop {
            if deferred.is_empty() {
                match rx.recv().await {
                    Some(first) => requests.push(first),
                    None => break,
                }
            } else {
                requests.append(&mut deferred);
            }
            while requests.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(r) => requests.push(r),
                    Err(_) => break,
                }
            }
            // Claims first: a run waits for its begin, nobody waits for an
            // end (the manager writes them behind the runs). Ends and saves
            // keep their order among themselves (a later save wins).
            if requests.iter().any(|r| matches!(r, Write::Begin { .. }))
                && requests
                    .iter()
                    .any(|r| matches!(r, Write::End { .. } | Write::Save { .. }))
            {
                let (now, later): (Vec<Write>, Vec<Write>) = requests
                    .drain(..)
                    .partition(|r| matches!(r, Write::Begin { .. } | Write::Recover { .. }));
                requests = now;
                deferred = later;
            }

            let mut group = Group::default();
            let result = self.apply(&requests, &mut group).await;
            if result.is_ok() {
                self.ctx.prune.committed(group.added, &group.pruned);
                for (path, lock) in group.dead {
                    session::remove(&self.ctx.sessions_dir, &path);
                    drop(lock);
                }
            }
            answer(requests.drain(..), result);
        }
    }

    /// Applies a group in one transaction: all of it or none of it.
    async fn apply(
        &mut self,
        requests: &[Write],
        group: &mut Group,
    ) -> Result<Vec<Answer>, StoreError> {
        let path = Arc::clone(&self.ctx.path);
        let doing = "writing";
        // Plain statements, not sqlx's transaction API: after some errors
        // (SQLITE_FULL) SQLite has already rolled back, sqlx's ROLLBACK then
        // fails and sqlx would count the transaction as still open, so every
        // later BEGIN failed ("non-zero transaction depth") even once the
        // disk had room again. Here a ROLLBACK that finds nothing to roll
        // back is harmless.
        let conn = &mut self.conn;
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *conn)
            .await
            .map_err(|e| from_sqlx(&path, doing, &e))?;
        let result = match group_statements(&mut *conn, &self.ctx, requests, group).await {
            Ok(answers) => sqlx::query("COMMIT")
                .execute(&mut *conn)
                .await
                .map(|_| answers)
                .map_err(|e| from_sqlx(&path, doing, &e)),
            Err(e) => Err(e),
        };
        if result.is_err() {
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        }
        result
    }

    /// The store was dropped: its session ends cleanly. Runs still in
    /// flight stay so; the next `recover` (of any store) ends them.
    async fn close(mut self) {
        let _ = sqlx::query("DELETE FROM sessions WHERE id = ?1")
            .bind(&self.ctx.session)
            .execute(&mut self.conn)
            .await;
        session::remove(
            &self.ctx.sessions_dir,
            &session::lock_path(&self.ctx.sessions_dir, &self.ctx.session),
        );
        let _ = self.conn.close().await;
    }
}

/// Sends each request its answer, or the group's error.
fn answer(requests: impl Iterator<Item = Write>, result: Result<Vec<Answer>, StoreError>) {
    match result {
        Ok(answers) => {
            for (r, a) in requests.zip(answers) {
                match (r, a) {
                    (Write::Begin { reply, .. }, Answer::Begun(b)) => {
                        let _ = reply.send(Ok(b));
                    }
                    (Write::End { reply, .. } | Write::Save { reply, .. }, Answer::Done) => {
                        let _ = reply.send(Ok(()));
                    }
                    (Write::Recover { reply, .. }, Answer::Recovered(runs)) => {
                        let _ = reply.send(Ok(runs));
                    }
                    // Answers are made per request, in order: a mismatch
                    // cannot happen; dropping the reply reports it.
                    _ => {}
                }
            }
        }
        Err(e) => {
            for r in requests {
                match r {
                    Write::Begin { reply, .. } => {
                        let _ = reply.send(Err(e.clone()));
                    }
                    Write::End { reply, .. } | Write::Save { reply, .. } => {
                        let _ = reply.send(Err(e.clone()));
                    }
                    Write::Recover { reply, .. } => {
                        let _ = reply.send(Err(e.clone()));
                    }
                }
            }
        }
    }
}

/// The statements of a group, merged across its requests: one insert for
/// every begun run, one update for every end, and so on, so a group costs
/// a few statements however many requests it holds.
async fn group_statements(
    conn: &mut SqliteConnection,
    w: &Context,
    requests: &[Write],
    group: &mut Group,
) -> Result<Vec<Answer>, StoreError> {
    let path = &*w.path;
    let mut recovered = Vec::new();
    for r in requests {
        if let Write::Recover { now, .. } = r {
            recovered.push(recover(conn, path, &w.session, &w.sessions_dir, *now, group).await?);
        }
    }

    let begins: Vec<&BeginBatch> = requests
        .iter()
        .filter_map(|r| match r {
            Write::Begin { batch, .. } => Some(batch),
            _ => None,
        })
        .collect();
    let begun = if begins.is_empty() {
        Begins::default()
    } else {
        begin(conn, path, &w.node, &w.session, &begins).await?
    };
    let mut advanced: HashMap<Arc<str>, i64> = HashMap::new();

    let ends: Vec<&EndBatch> = requests
        .iter()
        .filter_map(|r| match r {
            Write::End { batch, .. } => Some(batch),
            _ => None,
        })
        .collect();
    if !ends.is_empty() {
        end(conn, path, &w.node, &w.session, &ends).await?;
        for e in &ends {
            for (bot, n) in &e.added {
                *group.added.entry(Arc::clone(bot)).or_insert(0) += n;
            }
            for (bot, at) in &e.advance {
                let v = advanced.entry(Arc::clone(bot)).or_insert(*at);
                *v = (*v).max(*at);
            }
        }
    }

    // States in request order: the last saved for a bot wins.
    let states = codec::concat(requests.iter().filter_map(|r| match r {
        Write::End { batch, .. } => Some(batch.states.as_str()),
        Write::Save { json, .. } => Some(json.as_str()),
        _ => None,
    }));
    if states != "[]" {
        exec_json(conn, path, UPSERT_STATES, &states, "saving bot states").await?;
    }
    if !advanced.is_empty() {
        let json = codec::advance_json(advanced.iter().map(|(b, t)| (&**b, *t)))?;
        exec_json(
            conn,
            path,
            ADVANCE,
            &json,
            "saving the last scheduled instants",
        )
        .await?;
    }
    prune(conn, path, &w.prune, group).await?;

    let mut begun = begun.answers.into_iter();
    let mut recovered = recovered.into_iter();
    Ok(requests
        .iter()
        .map(|r| match r {
            Write::Begin { .. } => Answer::Begun(begun.next().unwrap_or_default()),
            Write::End { .. } | Write::Save { .. } => Answer::Done,
            Write::Recover { .. } => Answer::Recovered(recovered.next().unwrap_or_default()),
        })
        .collect())
}

/// The largest id `runs` has used: new rows take the ids after it.
const LAST_ID: &str = "\
SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'runs'), 0),
           coalesce((SELECT max(id) FROM runs), 0))";

const INSERT_BEGUN: &str = "\
INSERT OR IGNORE INTO runs (bot, trigger, scheduled_at, started_at, node, session, claimed)
SELECT value->>0, value->>1, value->>2, value->>3, ?2, ?3, value->>4
FROM json_each(?1) ORDER BY key";

/// The begun runs of a group, in one insert. A claim already taken (or
/// repeated in the group) is ignored by the unique index on claims. When
/// every row went in, their ids are exactly the `n` after the last id
/// before the insert (AUTOINCREMENT ids grow in insert order, and this
/// writer holds the write lock); otherwise the rows are read back and
/// matched.
async fn begin(
    conn: &mut SqliteConnection,
    path: &Path,
    node: &str,
    session: &str,
    batches: &[&BeginBatch],
) -> Result<Begins, StoreError> {
    let doing = "beginning runs";
    let err = |e: sqlx::Error| from_sqlx(path, doing, &e);
    let before: i64 = sqlx::query_scalar(LAST_ID)
        .fetch_one(&mut *conn)
        .await
        .map_err(err)?;
    let json = codec::concat(batches.iter().map(|b| b.json.as_str()));
    let total: usize = batches.iter().map(|b| b.len()).sum();
    let done = sqlx::query(INSERT_BEGUN)
        .bind(&json)
        .bind(node)
        .bind(session)
        .execute(&mut *conn)
        .await
        .map_err(err)?;
    let n = i64::try_from(done.rows_affected()).unwrap_or(i64::MAX);
    if usize::try_from(n).is_ok_and(|n| n == total) && done.last_insert_rowid() - before == n {
        return Ok(codec::begun_in_order(batches, before + 1));
    }
    let rows: Vec<Inserted> =
        sqlx::query_as("SELECT id, bot, scheduled_at, claimed FROM runs WHERE id > ?1")
            .bind(before)
            .fetch_all(&mut *conn)
            .await
            .map_err(err)?;
    codec::begun_from_rows(batches, rows)
        .map_err(|e| StoreError::new(format!("{}: {doing}: {e}", path.display())))
}

/// `last_scheduled` only moves forward.
const ADVANCE: &str = "\
INSERT INTO bot_state (bot, last_scheduled, updated_at)
SELECT value->>0, value->>1, ?2 FROM json_each(?1) WHERE true
ON CONFLICT (bot) DO UPDATE SET
    last_scheduled = coalesce(max(last_scheduled, excluded.last_scheduled),
                              excluded.last_scheduled),
    updated_at = excluded.updated_at";

/// Runs one of the JSON-batch statements (`?1`: the JSON, `?2`: now).
async fn exec_json(
    conn: &mut SqliteConnection,
    path: &Path,
    sql: &str,
    json: &str,
    doing: &str,
) -> Result<(), StoreError> {
    sqlx::query(sql)
        .bind(json)
        .bind(now_micros())
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(path, doing, &e))?;
    Ok(())
}

/// Ends of begun runs, by id.
const UPDATE_FINISHED: &str = "\
UPDATE runs SET
    started_at = j.value->>4,
    finished_at = j.value->>5,
    outcome = j.value->>6,
    reason = j.value->>7,
    attempts = j.value->>8,
    error = j.value->>9,
    exit_code = j.value->>10,
    stdout_tail = j.value->>11,
    stderr_tail = j.value->>12
FROM json_each(?1) AS j
WHERE runs.id = j.value->>0";

/// Ends of begun runs whose row is gone (pruned while in flight, with a
/// retention smaller than the runs in flight): written again, by id.
const UPSERT_FINISHED: &str = "\
INSERT INTO runs (id, bot, trigger, scheduled_at, started_at, finished_at, outcome, reason,
                  attempts, error, node, session, claimed, exit_code, stdout_tail, stderr_tail)
SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, value->>7,
       value->>8, value->>9, ?2, ?3, 0, value->>10, value->>11, value->>12
FROM json_each(?1) WHERE true ORDER BY key
ON CONFLICT (id) DO UPDATE SET
    started_at = excluded.started_at,
    finished_at = excluded.finished_at,
    outcome = excluded.outcome,
    reason = excluded.reason,
    attempts = excluded.attempts,
    error = excluded.error,
    exit_code = excluded.exit_code,
    stdout_tail = excluded.stdout_tail,
    stderr_tail = excluded.stderr_tail";

/// Rows of fires that did not run; the same skip or miss recorded twice
/// (by two processes) makes one row.
const INSERT_NOT_RUN: &str = "\
INSERT OR IGNORE INTO runs (bot, trigger, scheduled_at, started_at, finished_at, outcome, reason,
                            attempts, error, node, session, claimed, exit_code, stdout_tail,
                            stderr_tail)
SELECT value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, value->>7,
       value->>8, value->>9, ?2, ?3, 0, value->>10, value->>11, value->>12
FROM json_each(?1) ORDER BY key";

/// The ends of a group: one update of the begun runs' rows (and, if some
/// row was gone, one upsert), one insert of the rows of fires not run.
async fn end(
    conn: &mut SqliteConnection,
    path: &Path,
    node: &str,
    session: &str,
    batches: &[&EndBatch],
) -> Result<(), StoreError> {
    let doing = "ending runs";
    let err = |e: sqlx::Error| from_sqlx(path, doing, &e);
    let finished: usize = batches.iter().map(|b| b.finished_len).sum();
    if finished > 0 {
        let json = codec::concat(batches.iter().map(|b| b.finished.as_str()));
        let done = sqlx::query(UPDATE_FINISHED)
            .bind(&json)
            .execute(&mut *conn)
            .await
            .map_err(err)?;
        if usize::try_from(done.rows_affected()).is_ok_and(|n| n < finished) {
            sqlx::query(UPSERT_FINISHED)
                .bind(&json)
                .bind(node)
                .bind(session)
                .execute(&mut *conn)
                .await
                .map_err(err)?;
        }
    }
    let not_run = codec::concat(batches.iter().map(|b| b.not_run.as_str()));
    if not_run != "[]" {
        sqlx::query(INSERT_NOT_RUN)
            .bind(&not_run)
            .bind(node)
            .bind(session)
            .execute(&mut *conn)
            .await
            .map_err(err)?;
    }
    Ok(())
}

/// States in order (the last of a bot wins); `last_scheduled` only moves
/// forward, and `None` keeps the stored one.
const UPSERT_STATES: &str = "\
INSERT INTO bot_state (bot, last_scheduled, cool_down_until, cool_down_len_ms,
                       consecutive_failures, paused, updated_at)
SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, ?2
FROM json_each(?1) WHERE true ORDER BY key
ON CONFLICT (bot) DO UPDATE SET
    last_scheduled = coalesce(max(last_scheduled, excluded.last_scheduled),
                              last_scheduled, excluded.last_scheduled),
    cool_down_until = excluded.cool_down_until,
    cool_down_len_ms = excluded.cool_down_len_ms,
    consecutive_failures = excluded.consecutive_failures,
    paused = excluded.paused,
    updated_at = excluded.updated_at";

/// Keeps a bot's newest `retention` rows, and every run still in flight.
const PRUNE: &str = "\
DELETE FROM runs
WHERE bot = ?1 AND finished_at IS NOT NULL
  AND id < (SELECT id FROM runs WHERE bot = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)";

async fn prune(
    conn: &mut SqliteConnection,
    path: &Path,
    p: &Prune,
    group: &mut Group,
) -> Result<(), StoreError> {
    let retention = i64::try_from(p.retention).unwrap_or(i64::MAX);
    for (bot, n) in &group.added {
        if !p.due(bot, *n) {
            continue;
        }
        sqlx::query(PRUNE)
            .bind(&**bot)
            .bind(retention - 1)
            .execute(&mut *conn)
            .await
            .map_err(|e| from_sqlx(path, "pruning history", &e))?;
        group.pruned.push(Arc::clone(bot));
    }
    Ok(())
}

/// Runs left in flight by sessions that are gone (their lock file can be
/// locked or is missing), or by sessions no longer listed at all.
const INTERRUPT: &str = "\
UPDATE runs SET
    outcome = 'interrupted',
    reason = NULL,
    finished_at = ?1,
    error = 'the process running it (session ' || coalesce(session, 'unknown') || ', node '
        || coalesce(node, 'unknown') || ') ended before it finished'
WHERE finished_at IS NULL
  AND (session IS NULL
       OR session IN (SELECT value FROM json_each(?2))
       OR session NOT IN (SELECT id FROM sessions))";

async fn recover(
    conn: &mut SqliteConnection,
    path: &Path,
    me: &str,
    sessions_dir: &Path,
    now: Timestamp,
    group: &mut Group,
) -> Result<Vec<StoredRun>, StoreError> {
    let doing = "recovering runs";
    let others: Vec<String> = sqlx::query_scalar("SELECT id FROM sessions WHERE id <> ?1")
        .bind(me)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| from_sqlx(path, doing, &e))?;
    let mut dead = Vec::new();
    for s in &others {
        let lock = session::lock_path(sessions_dir, s);
        if let Some(held) = session::gone(&lock) {
            dead.push(s.as_str());
            group.dead.push((lock, held));
        }
    }
    stray_locks(sessions_dir, me, &others, group);
    let json = serde_json::to_string(&dead)
        .map_err(|e| StoreError::new(format!("encoding a batch: {e}")))?;
    let rows = sqlx::query(&format!("{INTERRUPT} RETURNING {RUN_COLUMNS}"))
        .bind(micros(now))
        .bind(&json)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| from_sqlx(path, doing, &e))?;
    sqlx::query("DELETE FROM sessions WHERE id IN (SELECT value FROM json_each(?1))")
        .bind(&json)
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(path, doing, &e))?;
    let mut runs = rows
        .iter()
        .map(|r| codec::stored_run(path, r))
        .collect::<Result<Vec<_>, _>>()?;
    runs.sort_by_key(|r| r.id);
    Ok(runs)
}

/// Lock files without a session row whose owner is gone (a process that
/// died while opening): removed with the group's dead sessions.
fn stray_locks(dir: &Path, me: &str, others: &[String], group: &mut Group) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(id) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".lock"))
        else {
            continue;
        };
        if id == me || others.iter().any(|o| o == id) {
            continue;
        }
        if let Some(held) = session::gone(&path) {
            group.dead.push((path, held));
        }
    }
}
