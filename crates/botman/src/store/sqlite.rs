//! [`SqliteStore`]: runs, claims and bot states in a SQLite file that the
//! processes of one host may share (issue #9).
//!
//! How it is built, and why:
//!
//! - **A thread of its own.** Each store runs a small current-thread tokio
//!   runtime on its own thread, holding one write connection and two read
//!   connections. The store's futures only send a request and wait for the
//!   answer, so the store works whatever runtime (or none) polls them, and
//!   outlives the runtime it was opened on.
//! - **One writer, group commit.** Every write goes through one task that
//!   drains all queued requests and applies them in one `BEGIN IMMEDIATE`
//!   transaction, then answers each. If that transaction fails, every
//!   request in it gets the error and nothing of it is kept. The group's
//!   requests are merged: one insert for all its begun runs, one update
//!   for all its ends, and so on, each over one JSON array (`json_each`),
//!   not a statement per row or per request: sqlx hands each statement to
//!   its connection's thread, which costs more than SQLite's work on a
//!   small batch.
//! - **Reads beside the writer.** WAL lets the read connections read
//!   (history, states) while the writer writes.
//! - **Sessions.** Each open store is a session: a row in `sessions` and an
//!   exclusive lock on `<file name>-sessions/<session>.lock`, held until the
//!   store is dropped. [`recover`](crate::Store::recover) ends the runs of
//!   sessions whose lock file it can lock: their process is gone.
//! - **Refusing bad files.** Before SQLite writes anything, [`open`]
//!   checks the header, then looks at the file read-only; a file that is
//!   not a botman store is left exactly as it was.
//!
//! [`open`]: SqliteStore::open

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::{mpsc, oneshot};

use super::{
    Begun, DEFAULT_RETENTION, HistoryPage, RunEnd, RunId, RunStart, SavedState, Store, StoreError,
    StoreErrorKind, StoreFuture, StoredRun,
};

mod codec;
mod error;
mod open;
mod session;
mod worker;

use worker::{Read, Write};

/// How a [`SqliteStore`] opens its file: the node it records, how much
/// history it keeps, how long it waits for locks.
///
/// ```
/// use std::time::Duration;
/// use botman::SqliteOptions;
///
/// let options = SqliteOptions::new()
///     .node("worker-1")
///     .retention(500)
///     .busy_timeout(Duration::from_secs(2));
/// # let _ = options;
/// ```
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    node: Option<String>,
    retention: usize,
    busy_timeout: Duration,
    max_page_count: Option<u64>,
}

impl Default for SqliteOptions {
    fn default() -> SqliteOptions {
        SqliteOptions {
            node: None,
            retention: DEFAULT_RETENTION,
            busy_timeout: Duration::from_secs(5),
            max_page_count: None,
        }
    }
}

impl SqliteOptions {
    /// The default options.
    pub fn new() -> SqliteOptions {
        SqliteOptions::default()
    }

    /// The node (host) recorded on every run row and session. Defaults to
    /// the host name (`/etc/hostname`, else `$HOSTNAME`, else
    /// `localhost`).
    pub fn node(mut self, name: impl Into<String>) -> SqliteOptions {
        self.node = Some(name.into());
        self
    }

    /// Runs kept per bot (at least 1). Defaults to
    /// [`DEFAULT_RETENTION`](crate::DEFAULT_RETENTION) (1,000).
    ///
    /// Pruning is amortised: a bot's history is pruned when this store has
    /// added a tenth of the retention to it since its last prune (and the
    /// first time the store writes to the bot), so a bot holds at most
    /// `runs + runs / 10` rows written by one process. Pruning keeps the
    /// newest `runs` rows and never deletes a run in flight, so runs left
    /// in flight (awaiting [`recover`](crate::Store::recover)) are kept on
    /// top.
    pub fn retention(mut self, runs: usize) -> SqliteOptions {
        self.retention = runs.max(1);
        self
    }

    /// How long a statement waits for another process's lock before it
    /// fails with [`StoreErrorKind::Locked`]. Defaults to 5 s.
    pub fn busy_timeout(mut self, timeout: Duration) -> SqliteOptions {
        self.busy_timeout = timeout;
        self
    }

    /// Caps the file at `pages` pages (SQLite's `PRAGMA max_page_count`);
    /// writes past it fail with [`StoreErrorKind::Full`]. Defaults to
    /// SQLite's own limit. Tests use it to fill the "disk".
    pub fn max_page_count(mut self, pages: u64) -> SqliteOptions {
        self.max_page_count = Some(pages);
        self
    }

    fn node_or_host(&self) -> String {
        self.node.clone().unwrap_or_else(session::host_name)
    }
}

/// Runs, claims and bot states in a SQLite file (WAL), shared by the
/// processes of one host: each fire is claimed once across every store
/// opened on the file, and runs left in flight by a process that died are
/// ended as interrupted by [`recover`](Store::recover).
///
/// ```
/// use std::sync::Arc;
/// use botman::jiff::Timestamp;
/// use botman::{Begun, RunStart, SqliteStore, Store, Trigger};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = std::env::temp_dir().join(format!("botman-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// # let path = dir.join("botman.db");
/// tokio::runtime::Runtime::new()?.block_on(async {
///     let store = SqliteStore::open(&path).await?;
///     let at: Timestamp = "2025-01-01T00:00:00Z".parse()?;
///     let start = RunStart::new(Arc::from("report"), Trigger::Scheduled, Some(at), at);
///     let begun = store.begin_runs(&[start.clone(), start]).await?;
///     assert!(matches!(begun[0], Begun::Started(_)));
///     assert_eq!(begun[1], Begun::ClaimedElsewhere);
///     let page = store.history("report", 10, None).await?;
///     assert_eq!(page.runs.len(), 1);
///     Ok::<_, Box<dyn std::error::Error>>(())
/// })?;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
///
/// Pass it to [`BotmanBuilder::store`](crate::BotmanBuilder::store).
///
/// # Files
///
/// Beside `path`, SQLite keeps `<path>-wal` and `<path>-shm` while the file
/// is open, and the store keeps its session lock files in
/// `<path>-sessions/`. The store refuses (with a [`StoreError`] whose kind
/// says why) a file that is not a botman store
/// ([`NotBotman`](StoreErrorKind::NotBotman)), one written by a newer
/// botman ([`SchemaTooNew`](StoreErrorKind::SchemaTooNew)), a read-only
/// file or directory ([`ReadOnly`](StoreErrorKind::ReadOnly)), one another
/// process keeps locked ([`Locked`](StoreErrorKind::Locked)) and a missing
/// directory ([`Unavailable`](StoreErrorKind::Unavailable)), and leaves
/// such a file as it was.
pub struct SqliteStore {
    path: PathBuf,
    node: String,
    session: String,
    writes: mpsc::UnboundedSender<Write>,
    reads: mpsc::UnboundedSender<Read>,
    retention: usize,
    /// The session's lock: held while the store lives, so other processes
    /// know this one is alive.
    lock: File,
    /// Closed when the store's thread has closed the file.
    done: oneshot::Receiver<()>,
    /// The store's thread, joined when the store drops — last, after the
    /// channels above closed: a process that drops its store (its manager)
    /// and exits leaves the file closed (the WAL folded back, the session
    /// ended), not mid-close.
    thread: Joined,
}

/// Joins the store's thread on drop.
struct Joined(Option<std::thread::JoinHandle<()>>);

impl Drop for Joined {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            // The thread ends once the channels are closed; it never waits
            // for anything this thread holds.
            let _ = t.join();
        }
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("node", &self.node)
            .field("session", &self.session)
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (or creates) the store in the file at `path`, with the default
    /// [`SqliteOptions`].
    pub async fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, SqliteOptions::new()).await
    }

    /// Opens (or creates) the store in the file at `path`.
    ///
    /// A new or empty file becomes a botman store. Any other file is
    /// checked before SQLite may write to it, and refused, unchanged, with
    /// a [`StoreError`] whose kind says why (see [Files](#files)).
    pub async fn open_with(
        path: impl AsRef<Path>,
        options: SqliteOptions,
    ) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        if path.as_os_str().is_empty() {
            // SQLite would open a private temporary database per
            // connection: a store that keeps nothing.
            return Err(StoreError::with_kind(
                crate::store::StoreErrorKind::Unavailable,
                "opening the SQLite store: the path is empty; give the database file's path",
            ));
        }
        let settings = open::Settings {
            node: options.node_or_host(),
            retention: options.retention,
            busy_timeout: options.busy_timeout,
            max_page_count: options.max_page_count,
        };
        let (opened, thread) = worker::spawn(path.clone(), settings.clone())?;
        let thread = Joined(Some(thread));
        let handles = opened.await.map_err(|_| worker::stopped(&path))??;
        Ok(SqliteStore {
            path,
            node: settings.node,
            session: handles.session,
            writes: handles.writes,
            reads: handles.reads,
            retention: settings.retention,
            lock: handles.lock,
            done: handles.done,
            thread,
        })
    }

    /// Closes the store and waits until its file is closed: the session
    /// ended (its row and lock file removed), the connections closed (the
    /// last one to close folds the `-wal` file back into the database).
    /// Runs still in flight stay so, for a later
    /// [`recover`](Store::recover).
    ///
    /// Dropping the store closes it too, and waits (blocking) for the
    /// same; from async code, `close().await` does not block.
    pub async fn close(self) {
        let SqliteStore {
            writes,
            reads,
            lock,
            done,
            thread,
            ..
        } = self;
        drop((writes, reads, lock));
        let _ = done.await;
        drop(thread);
    }

    /// The file's path, as given to [`open`](SqliteStore::open).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The node recorded on this store's rows.
    pub fn node(&self) -> &str {
        &self.node
    }

    fn write<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Write,
    ) -> impl Future<Output = Result<T, StoreError>> + Send + 'static
    where
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let sent = self.writes.send(make(tx)).is_ok();
        let path = self.path.clone();
        async move {
            if !sent {
                return Err(worker::stopped(&path));
            }
            rx.await.map_err(|_| worker::stopped(&path))?
        }
    }

    fn read<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Read,
    ) -> impl Future<Output = Result<T, StoreError>> + Send + 'static
    where
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let sent = self.reads.send(make(tx)).is_ok();
        let path = self.path.clone();
        async move {
            if !sent {
                return Err(worker::stopped(&path));
            }
            rx.await.map_err(|_| worker::stopped(&path))?
        }
    }
}

impl Store for SqliteStore {
    fn begin_runs<'a>(&'a self, runs: &'a [RunStart]) -> StoreFuture<'a, Vec<Begun>> {
        Box::pin(async move {
            if runs.is_empty() {
                return Ok(Vec::new());
            }
            let batch = codec::BeginBatch::new(runs)?;
            self.write(|reply| Write::Begin { batch, reply }).await
        })
    }

    fn end_runs<'a>(&'a self, ends: &'a [RunEnd]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if ends.is_empty() {
                return Ok(());
            }
            let batch = codec::EndBatch::new(ends)?;
            self.write(|reply| Write::End { batch, reply }).await
        })
    }

    fn save_states<'a>(&'a self, states: &'a [SavedState]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if states.is_empty() {
                return Ok(());
            }
            let json = codec::states_json(states.iter())?;
            self.write(|reply| Write::Save { json, reply }).await
        })
    }

    fn load_states(&self) -> StoreFuture<'_, Vec<SavedState>> {
        Box::pin(self.read(|reply| Read::States { reply }))
    }

    fn recover(&self, now: Timestamp) -> StoreFuture<'_, Vec<StoredRun>> {
        Box::pin(self.write(|reply| Write::Recover { now, reply }))
    }

    fn history<'a>(
        &'a self,
        bot: &'a str,
        limit: usize,
        before: Option<RunId>,
    ) -> StoreFuture<'a, HistoryPage> {
        if limit == 0 {
            return Box::pin(std::future::ready(Ok(HistoryPage::default())));
        }
        let bot = bot.to_owned();
        Box::pin(self.read(move |reply| Read::History {
            bot,
            limit,
            before,
            reply,
        }))
    }

    fn run(&self, id: RunId) -> StoreFuture<'_, Option<StoredRun>> {
        Box::pin(self.read(move |reply| Read::Run { id, reply }))
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(self.read(|reply| Read::Ping { reply }))
    }

    /// Other processes on this host may open the same file.
    fn is_shared(&self) -> bool {
        true
    }
}

/// The kind and message for a store whose worker thread is gone.
fn unavailable(path: &Path, what: impl fmt::Display) -> StoreError {
    StoreError::with_kind(
        StoreErrorKind::Unavailable,
        format!("{}: {what}", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_options_defaults_and_floor() {
        let o = SqliteOptions::new();
        assert_eq!(o.retention, DEFAULT_RETENTION);
        assert_eq!(o.busy_timeout, Duration::from_secs(5));
        assert_eq!(o.max_page_count, None);
        let o = o.retention(0).node("n1").max_page_count(10);
        assert_eq!(o.retention, 1);
        assert_eq!(o.node_or_host(), "n1");
        assert_eq!(o.max_page_count, Some(10));
        assert!(!SqliteOptions::new().node_or_host().is_empty());
    }
}
