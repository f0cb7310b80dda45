//! Where fires are claimed. The identity of a fire is (bot name, scheduled
//! instant); claiming it succeeds once per identity, which is what makes a
//! cluster of managers sharing a store run each fire exactly once.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use jiff::Timestamp;

/// A boxed future, for the object-safe [`Store`] trait.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A store failed (connection lost, disk full...). The scheduler reports it
/// and retries the claim; it never runs a fire it could not claim.
#[derive(Debug, thiserror::Error)]
#[error("store error: {message}")]
pub struct StoreError {
    message: String,
}

impl StoreError {
    /// A store error with a message.
    pub fn new(message: impl Into<String>) -> StoreError {
        StoreError {
            message: message.into(),
        }
    }
}

/// Persistence for fires. `MemoryStore` is the default; SQLite and
/// PostgreSQL stores implement the same trait.
pub trait Store: Send + Sync + 'static {
    /// Claims the fire (bot, instant). `Ok(true)` exactly once per identity
    /// across every manager sharing the store; `Ok(false)` after that.
    fn claim_fire<'a>(&'a self, bot: &'a str, at: Timestamp) -> StoreFuture<'a, bool>;

    /// Whether other processes share this store. When they do not, the
    /// scheduler's own bookkeeping already runs each fire once and the claim
    /// is skipped (it would only cost time on every run). Defaults to true.
    fn is_shared(&self) -> bool {
        true
    }
}

/// Claims held in memory: one process, no persistence.
///
/// Per bot it remembers the most recent claims only (enough to refuse a
/// repeat of any fire a running process could still see again), so memory
/// stays bounded however long the process runs.
#[derive(Debug, Default)]
pub struct MemoryStore {
    claims: Mutex<HashMap<Box<str>, Recent>>,
}

/// Claims remembered per bot: fires are claimed in order, give or take
/// jitter, so a few suffice, and they stay inline (no allocation per bot).
const RECENT_CLAIMS: usize = 4;

#[derive(Debug, Default)]
struct Recent {
    at: [i64; RECENT_CLAIMS],
    len: u8,
    next: u8,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn claim(&self, bot: &str, at: Timestamp) -> bool {
        let key = at.as_second();
        let mut claims = self.claims.lock().unwrap_or_else(|e| e.into_inner());
        let recent = match claims.get_mut(bot) {
            Some(r) => r,
            None => claims.entry(Box::from(bot)).or_default(),
        };
        if recent.at[..usize::from(recent.len)].contains(&key) {
            return false;
        }
        recent.at[usize::from(recent.next)] = key;
        recent.next = ((usize::from(recent.next) + 1) % RECENT_CLAIMS) as u8;
        recent.len = (recent.len + 1).min(RECENT_CLAIMS as u8);
        true
    }
}

impl Store for MemoryStore {
    fn claim_fire<'a>(&'a self, bot: &'a str, at: Timestamp) -> StoreFuture<'a, bool> {
        let won = self.claim(bot, at);
        Box::pin(std::future::ready(Ok(won)))
    }

    /// One process only: claims are not needed to run fires once.
    fn is_shared(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn claims_once_per_identity() {
        let store = MemoryStore::new();
        let t: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        assert!(store.claim_fire("a", t).await.unwrap());
        assert!(!store.claim_fire("a", t).await.unwrap());
        assert!(store.claim_fire("b", t).await.unwrap());
    }
}
