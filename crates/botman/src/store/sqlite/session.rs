//! Sessions: each open store names itself (node, pid, a unique suffix) and
//! holds an exclusive lock on `<file name>-sessions/<session>.lock` while
//! it lives. The OS drops the lock when the process ends however it ends,
//! so a lock another store can take marks a session whose runs are
//! orphans.
//!
//! The locks are `flock`-style ([`File::try_lock`]): they conflict between
//! two opens of the file in one process too, so two stores in one process
//! see each other as alive.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The host name: `/etc/hostname`, else `$HOSTNAME`, else `localhost`.
pub(super) fn host_name() -> String {
    let name = |s: String| {
        let s = s.trim().to_owned();
        (!s.is_empty()).then_some(s)
    };
    fs::read_to_string("/etc/hostname")
        .ok()
        .and_then(name)
        .or_else(|| std::env::var("HOSTNAME").ok().and_then(name))
        .unwrap_or_else(|| "localhost".to_owned())
}

/// A new session id: `<node>.<pid>.<counter>.<nanoseconds>`, the node
/// reduced to characters safe in a file name. The counter tells apart two
/// stores one process opens in the same nanosecond.
pub(super) fn new_id(node: &str) -> String {
    static OPENED: AtomicU64 = AtomicU64::new(0);
    let node: String = node
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{node}.{}.{}.{nanos:x}",
        std::process::id(),
        OPENED.fetch_add(1, Ordering::Relaxed)
    )
}

/// `<dir>/<file name>-sessions`, beside the database.
pub(super) fn dir_of(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push("-sessions");
    db.with_file_name(name)
}

/// A session's lock file.
pub(super) fn lock_path(dir: &Path, session: &str) -> PathBuf {
    dir.join(format!("{session}.lock"))
}

/// Creates the session's lock file (and the folder) and locks it.
pub(super) fn lock(dir: &Path, session: &str) -> io::Result<File> {
    let path = lock_path(dir, session);
    // A store closing removes the folder when it is empty; if that happens
    // between our `create_dir` and `open`, try again.
    let mut tries = 0;
    let file = loop {
        match fs::create_dir(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        match OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
        {
            Err(e) if e.kind() == io::ErrorKind::NotFound && tries < 3 => tries += 1,
            other => break other?,
        }
    };
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} is locked by another store", path.display()),
        )),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// Whether the session that owns `path` is gone: its lock file is missing
/// or can be locked. `Some(lock)` (held until the caller drops it) or
/// `Some(None)` (missing) when gone, `None` when it lives or cannot be
/// told (then its runs are left alone).
pub(super) fn gone(path: &Path) -> Option<Option<File>> {
    let file = match OpenOptions::new().write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Some(None),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot check a session's lock file");
            return None;
        }
    };
    match file.try_lock() {
        Ok(()) => Some(Some(file)),
        Err(TryLockError::WouldBlock) => None,
        Err(TryLockError::Error(e)) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot check a session's lock file");
            None
        }
    }
}

/// Removes a lock file and, when it was the last, the folder (errors are
/// ignored: a leftover file or folder is harmless).
pub(super) fn remove(dir: &Path, path: &Path) {
    let _ = fs::remove_file(path);
    let _ = fs::remove_dir(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_ids_are_unique_and_file_safe() {
        let a = new_id("host/with spaces");
        let b = new_id("host/with spaces");
        assert_ne!(a, b);
        assert!(a.starts_with("host_with_spaces."), "{a}");
        assert!(!a.contains('/'));
        assert_eq!(
            dir_of(Path::new("/x/y/botman.db")),
            Path::new("/x/y/botman.db-sessions")
        );
    }
}
