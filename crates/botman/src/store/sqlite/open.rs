//! Opening a file: deciding, before SQLite may write a byte, whether it is
//! new, a botman store, or something to refuse; then connecting, migrating
//! and starting the session.
//!
//! A refused file is left exactly as it was: the header is read as plain
//! bytes, the schema through a read-only connection (`immutable` when no
//! `-wal` or `-journal` shows that a connection is open, so SQLite creates
//! no file beside it), and no PRAGMA that writes is set until the file is
//! known to be ours. If opening fails after that, what this open created
//! is removed again.

use std::fs::{self, File};
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};

use super::codec::now_micros;
use super::error::{from_migrate, from_sqlx, store_error};
use super::session;
use crate::store::{StoreError, StoreErrorKind};

/// The schema, embedded.
pub(super) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Read connections per store.
const READERS: usize = 2;

/// What the store was opened with, resolved.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) node: String,
    pub(crate) retention: usize,
    pub(crate) busy_timeout: Duration,
    pub(crate) max_page_count: Option<u64>,
}

/// An open store: its connections and its session.
pub(super) struct Opened {
    pub(super) writer: SqliteConnection,
    pub(super) readers: Vec<SqliteConnection>,
    pub(super) session: String,
    pub(super) sessions_dir: PathBuf,
    pub(super) lock: File,
}

const HEADER: &[u8; 16] = b"SQLite format 3\0";

/// What is at the path before this open touches it.
struct Before {
    /// The file existed with some bytes.
    existed: bool,
    /// The file existed, empty.
    empty: bool,
    /// Which of `-wal`, `-shm`, `-journal` existed.
    sidecars: [(PathBuf, bool); 3],
    sessions_dir: bool,
}

impl Before {
    fn look(path: &Path) -> Before {
        let len = fs::metadata(path).ok().map(|m| m.len());
        let sidecar = |suffix: &str| {
            let p = with_suffix(path, suffix);
            let exists = p.exists();
            (p, exists)
        };
        Before {
            existed: len.is_some_and(|l| l > 0),
            empty: len == Some(0),
            sidecars: [sidecar("-wal"), sidecar("-shm"), sidecar("-journal")],
            sessions_dir: session::dir_of(path).exists(),
        }
    }

    /// Whether a connection was open (or left a journal) when we looked.
    fn in_use(&self) -> bool {
        self.sidecars[0].1 || self.sidecars[2].1
    }

    /// Removes what a failed open created.
    fn restore(&self, path: &Path) {
        if !self.existed {
            // The file was new (or empty): SQLite's files beside it are
            // ours.
            for (p, existed) in &self.sidecars {
                if !existed {
                    let _ = fs::remove_file(p);
                }
            }
            if self.empty {
                let _ = File::options()
                    .write(true)
                    .open(path)
                    .and_then(|f| f.set_len(0));
            } else {
                let _ = fs::remove_file(path);
            }
        }
        if !self.sessions_dir {
            let _ = fs::remove_dir(session::dir_of(path));
        }
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// Opens the store at `path`; on failure, leaves the path as it was.
pub(super) async fn open(path: &Path, settings: &Settings) -> Result<Opened, StoreError> {
    let before = Before::look(path);
    let result = open_checked(path, settings, &before).await;
    if result.is_err() {
        before.restore(path);
    }
    result
}

async fn open_checked(
    path: &Path,
    settings: &Settings,
    before: &Before,
) -> Result<Opened, StoreError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    check_dir(path, dir)?;
    let exists = inspect(path, settings, before).await?;
    check_writable(path, dir, exists)?;

    let mut writer = connect_writer(path, settings).await?;
    let session = session::new_id(&settings.node);
    let sessions_dir = session::dir_of(path);
    let lock = match session::lock(&sessions_dir, &session) {
        Ok(lock) => lock,
        Err(e) => {
            let _ = writer.close().await;
            let kind = if e.kind() == io::ErrorKind::PermissionDenied {
                StoreErrorKind::ReadOnly
            } else {
                StoreErrorKind::Unavailable
            };
            return Err(store_error(
                kind,
                path,
                &format!("creating the session lock in {}", sessions_dir.display()),
                e,
            ));
        }
    };
    let lock_file = session::lock_path(&sessions_dir, &session);
    let readers = match start(&mut writer, path, settings, &session).await {
        Ok(()) => connect_readers(path, settings).await,
        Err(e) => Err(e),
    };
    match readers {
        Ok(readers) => Ok(Opened {
            writer,
            readers,
            session,
            sessions_dir,
            lock,
        }),
        Err(e) => {
            let _ = writer.close().await;
            drop(lock);
            session::remove(&sessions_dir, &lock_file);
            Err(e)
        }
    }
}

fn check_dir(path: &Path, dir: &Path) -> Result<(), StoreError> {
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(store_error(
            StoreErrorKind::Unavailable,
            path,
            "opening",
            format!("{} is not a directory", dir.display()),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StoreError::with_kind(
            StoreErrorKind::Unavailable,
            format!(
                "{}: opening: the directory {} does not exist: create it first",
                path.display(),
                dir.display()
            ),
        )),
        Err(e) => Err(store_error(
            StoreErrorKind::Unavailable,
            path,
            &format!("reading the directory {}", dir.display()),
            e,
        )),
    }
}

/// Whether the file exists as a botman store (`true`) or is new or empty
/// (`false`); refuses anything else, without writing to it.
async fn inspect(path: &Path, settings: &Settings, before: &Before) -> Result<bool, StoreError> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(store_error(StoreErrorKind::Unavailable, path, "opening", e)),
    };
    if meta.is_dir() {
        return Err(store_error(
            StoreErrorKind::NotBotman,
            path,
            "opening",
            "it is a directory",
        ));
    }
    let mut header = Vec::with_capacity(HEADER.len());
    File::open(path)
        .and_then(|f| f.take(HEADER.len() as u64).read_to_end(&mut header))
        .map_err(|e| store_error(StoreErrorKind::Unavailable, path, "reading its header", e))?;
    if header.is_empty() {
        return Ok(false);
    }
    if header != HEADER {
        return Err(store_error(
            StoreErrorKind::NotBotman,
            path,
            "opening",
            "it is not a SQLite database (its first bytes are not \"SQLite format 3\")",
        ));
    }

    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .immutable(!before.in_use())
        .foreign_keys(false)
        .busy_timeout(settings.busy_timeout);
    let mut conn = options
        .connect()
        .await
        .map_err(|e| from_sqlx(path, "opening it to check it", &e))?;
    let found = look_inside(path, &mut conn).await;
    let _ = conn.close().await;
    found
}

async fn look_inside(path: &Path, conn: &mut SqliteConnection) -> Result<bool, StoreError> {
    let doing = "checking that it is a botman store";
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| from_sqlx(path, doing, &e))?;
    if tables.is_empty() {
        return Ok(false);
    }
    let marked = if tables.iter().any(|t| t == "botman_meta") {
        let app: Option<String> =
            sqlx::query_scalar("SELECT value FROM botman_meta WHERE key = 'application'")
                .fetch_optional(&mut *conn)
                .await
                .map_err(|e| from_sqlx(path, doing, &e))?;
        app.as_deref() == Some("botman")
    } else {
        false
    };
    if !marked {
        let shown: Vec<&str> = tables.iter().take(5).map(String::as_str).collect();
        let more = if tables.len() > 5 { ", ..." } else { "" };
        return Err(store_error(
            StoreErrorKind::NotBotman,
            path,
            "opening",
            format!(
                "it is a SQLite database of another application (tables: {}{more}; no botman marker)",
                shown.join(", ")
            ),
        ));
    }
    let newest_known = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    let newest: Option<i64> = if tables.iter().any(|t| t == "_sqlx_migrations") {
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations")
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| from_sqlx(path, doing, &e))?
    } else {
        None
    };
    match newest {
        Some(v) if v > newest_known => Err(store_error(
            StoreErrorKind::SchemaTooNew,
            path,
            "opening",
            format!(
                "it has botman schema version {v}, newer than the newest this botman knows \
                 ({newest_known})"
            ),
        )),
        Some(_) => Ok(true),
        None => Err(store_error(
            StoreErrorKind::Corrupt,
            path,
            "opening",
            "it has the botman marker but no schema versions (_sqlx_migrations)",
        )),
    }
}

/// Refuses a file or directory whose permission bits say read-only (the
/// tests run as root, whom the OS would let write).
fn check_writable(path: &Path, dir: &Path, exists: bool) -> Result<(), StoreError> {
    if let Ok(m) = fs::metadata(path)
        && m.permissions().readonly()
    {
        return Err(store_error(
            StoreErrorKind::ReadOnly,
            path,
            "opening",
            "the file is read-only",
        ));
    }
    let dir_readonly = fs::metadata(dir).is_ok_and(|m| m.permissions().readonly());
    if dir_readonly {
        let what = if exists {
            format!(
                "its directory {} is read-only, and SQLite creates its -wal and -shm files \
                 beside the database",
                dir.display()
            )
        } else {
            format!(
                "cannot create it: the directory {} is read-only",
                dir.display()
            )
        };
        return Err(store_error(StoreErrorKind::ReadOnly, path, "opening", what));
    }
    Ok(())
}

async fn connect_writer(path: &Path, settings: &Settings) -> Result<SqliteConnection, StoreError> {
    let mut options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(settings.busy_timeout)
        // Small checkpoints, often: the commit that crosses the threshold
        // copies the WAL into the database, and a claim behind it waits.
        // At SQLite's default (1,000 pages) that wait was the p99 of a
        // 1,000 runs/s load (4.8 ms); at 256 pages, 3.2 ms, and the WAL
        // stays near 1 MiB (store benchmark, issue #9).
        .pragma("wal_autocheckpoint", "256");
    if let Some(pages) = settings.max_page_count {
        options = options.pragma("max_page_count", pages.to_string());
    }
    options
        .connect()
        .await
        .map_err(|e| from_sqlx(path, "opening it for writing", &e))
}

/// Migrates the schema and records the session, in one `BEGIN IMMEDIATE`
/// transaction: two processes creating the file at once take turns.
async fn start(
    writer: &mut SqliteConnection,
    path: &Path,
    settings: &Settings,
    session: &str,
) -> Result<(), StoreError> {
    let doing = "starting the session";
    let mut tx = writer
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(|e| from_sqlx(path, doing, &e))?;
    MIGRATOR
        .run(&mut *tx)
        .await
        .map_err(|e| from_migrate(path, &e))?;
    sqlx::query("INSERT INTO sessions (id, node, pid, started_at) VALUES (?1, ?2, ?3, ?4)")
        .bind(session)
        .bind(&settings.node)
        .bind(i64::from(std::process::id()))
        .bind(now_micros())
        .execute(&mut *tx)
        .await
        .map_err(|e| from_sqlx(path, doing, &e))?;
    tx.commit().await.map_err(|e| from_sqlx(path, doing, &e))
}

async fn connect_readers(
    path: &Path,
    settings: &Settings,
) -> Result<Vec<SqliteConnection>, StoreError> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .foreign_keys(false)
        .busy_timeout(settings.busy_timeout);
    let mut readers = Vec::with_capacity(READERS);
    for _ in 0..READERS {
        match options.connect().await {
            Ok(c) => readers.push(c),
            Err(e) => {
                for c in readers {
                    let _ = c.close().await;
                }
                return Err(from_sqlx(path, "opening it for reading", &e));
            }
        }
    }
    Ok(readers)
}
