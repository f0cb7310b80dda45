//! SQLite failures as [`StoreError`]s: the kind comes from the result
//! code (never from the message), the message names the file and says
//! what to do.

use std::path::Path;

use sqlx::migrate::MigrateError;

use crate::store::{StoreError, StoreErrorKind};

/// The kind of a SQLite result code (primary or extended).
pub(super) fn kind_of_code(code: i32) -> StoreErrorKind {
    // https://www.sqlite.org/rescode.html: the primary code is the low byte.
    match code & 0xff {
        5 | 6 => StoreErrorKind::Locked,        // BUSY, LOCKED
        8 => StoreErrorKind::ReadOnly,          // READONLY
        13 => StoreErrorKind::Full,             // FULL
        26 => StoreErrorKind::NotBotman,        // NOTADB
        11 => StoreErrorKind::Corrupt,          // CORRUPT
        10 | 14 => StoreErrorKind::Unavailable, // IOERR, CANTOPEN
        _ => StoreErrorKind::Other,
    }
}

/// What to do about a failure of `kind`.
pub(super) fn advice(kind: StoreErrorKind) -> &'static str {
    match kind {
        StoreErrorKind::NotBotman => "pass the path of a botman store, or of a new file",
        StoreErrorKind::SchemaTooNew => "open it with a newer botman, or use another file",
        StoreErrorKind::ReadOnly => "make the file and its directory writable",
        StoreErrorKind::Locked => {
            "another process holds a lock on it for longer than the busy timeout; \
             try again, or raise SqliteOptions::busy_timeout"
        }
        StoreErrorKind::Full => "free disk space (or raise SqliteOptions::max_page_count)",
        StoreErrorKind::Unavailable => "check that the file and its directory can be reached",
        StoreErrorKind::Corrupt => "restore the file from a backup, or move it away",
        _ => "see the SQLite message",
    }
}

/// `path: doing: what went wrong: advice`.
pub(super) fn store_error(
    kind: StoreErrorKind,
    path: &Path,
    doing: &str,
    what: impl std::fmt::Display,
) -> StoreError {
    StoreError::with_kind(
        kind,
        format!("{}: {doing}: {what}: {}", path.display(), advice(kind)),
    )
}

/// A sqlx error while `doing` something to the file at `path`.
pub(super) fn from_sqlx(path: &Path, doing: &str, e: &sqlx::Error) -> StoreError {
    let kind = match e {
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .map_or(StoreErrorKind::Other, kind_of_code),
        sqlx::Error::Io(_)
        | sqlx::Error::PoolClosed
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::WorkerCrashed => StoreErrorKind::Unavailable,
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => StoreErrorKind::Corrupt,
        _ => StoreErrorKind::Other,
    };
    let what = match e {
        sqlx::Error::Database(db) => match db.code() {
            Some(code) => format!("{} (SQLite code {code})", db.message()),
            None => db.message().to_owned(),
        },
        e => e.to_string(),
    };
    store_error(kind, path, doing, what)
}

/// A migration failure.
pub(super) fn from_migrate(path: &Path, e: &MigrateError) -> StoreError {
    match e {
        MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) => {
            from_sqlx(path, "migrating the schema", e)
        }
        MigrateError::VersionMissing(v) => store_error(
            StoreErrorKind::SchemaTooNew,
            path,
            "migrating the schema",
            format!("it has schema version {v}, which this botman does not know"),
        ),
        MigrateError::VersionMismatch(v) | MigrateError::Dirty(v) => store_error(
            StoreErrorKind::Corrupt,
            path,
            "migrating the schema",
            format!("schema version {v} was changed or only partly applied"),
        ),
        e => store_error(StoreErrorKind::Other, path, "migrating the schema", e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_codes_map_to_kinds() {
        assert_eq!(kind_of_code(5), StoreErrorKind::Locked);
        assert_eq!(kind_of_code(517), StoreErrorKind::Locked, "BUSY_SNAPSHOT");
        assert_eq!(kind_of_code(6), StoreErrorKind::Locked);
        assert_eq!(kind_of_code(8), StoreErrorKind::ReadOnly);
        assert_eq!(kind_of_code(13), StoreErrorKind::Full);
        assert_eq!(kind_of_code(26), StoreErrorKind::NotBotman);
        assert_eq!(kind_of_code(11), StoreErrorKind::Corrupt);
        assert_eq!(kind_of_code(14), StoreErrorKind::Unavailable);
        assert_eq!(kind_of_code(10), StoreErrorKind::Unavailable);
        assert_eq!(
            kind_of_code(3850),
            StoreErrorKind::Unavailable,
            "IOERR_LOCK"
        );
        assert_eq!(kind_of_code(19), StoreErrorKind::Other, "CONSTRAINT");
    }
}
