//! [`MemoryStore`]: the default store. One process, nothing persisted,
//! bounded: each bot keeps its last runs (the retention) and a few claims.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use jiff::Timestamp;

use super::{
    Begun, DEFAULT_RETENTION, HistoryPage, RunEnd, RunId, RunOutput, RunStart, SavedState, Store,
    StoreFuture, StoredRun,
};
use crate::run::{RunOutcome, Trigger};
use crate::util::lock;

/// Runs, claims and bot states held in memory: one process, no
/// persistence. Each bot keeps its last runs (1,000 by default,
/// [`with_retention`](MemoryStore::with_retention)) and its last few
/// claims, so memory stays bounded however long the process runs; a bot
/// that never ran costs nothing.
#[derive(Debug)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    retention: usize,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: i64,
    bots: HashMap<Box<str>, BotRows>,
}

/// Claims remembered per bot: fires are claimed in order, give or take
/// jitter, so a few suffice, and they stay inline (no allocation per bot).
const RECENT_CLAIMS: usize = 4;

#[derive(Debug, Default)]
struct BotRows {
    /// Oldest first; ids ascending.
    rows: VecDeque<Row>,
    claims: [Option<Timestamp>; RECENT_CLAIMS],
    next_claim: usize,
    state: Option<SavedState>,
    last_scheduled: Option<Timestamp>,
}

/// A run as kept in memory: the bot is the map's key, rare fields boxed.
#[derive(Debug)]
struct Row {
    id: i64,
    trigger: Trigger,
    scheduled: Option<Timestamp>,
    started: Timestamp,
    finished: Option<Timestamp>,
    outcome: Option<RunOutcome>,
    attempts: u32,
    error: Option<Box<str>>,
    output: Option<Box<RunOutput>>,
}

impl Default for MemoryStore {
    fn default() -> MemoryStore {
        MemoryStore::with_retention(DEFAULT_RETENTION)
    }
}

impl MemoryStore {
    /// An empty store keeping the last 1,000 runs of each bot.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// An empty store keeping the last `runs` runs of each bot (at least 1).
    pub fn with_retention(runs: usize) -> MemoryStore {
        MemoryStore {
            inner: Mutex::new(Inner::default()),
            retention: runs.max(1),
        }
    }

    fn begin(&self, runs: &[RunStart]) -> Vec<Begun> {
        let mut inner = lock(&self.inner);
        let mut out = Vec::with_capacity(runs.len());
        for r in runs {
            inner.next_id += 1;
            let id = inner.next_id;
            let bot = inner.bot(&r.bot);
            if let Some(at) = r.scheduled {
                if r.claim {
                    if bot.claims.contains(&Some(at)) {
                        out.push(Begun::ClaimedElsewhere);
                        continue;
                    }
                    bot.claims[bot.next_claim] = Some(at);
                    bot.next_claim = (bot.next_claim + 1) % RECENT_CLAIMS;
                }
                if matches!(r.trigger, Trigger::Scheduled | Trigger::CatchUp) {
                    bot.saw(at);
                }
            }
            bot.rows.push_back(Row {
                id,
                trigger: r.trigger,
                scheduled: r.scheduled,
                started: r.started,
                finished: None,
                outcome: None,
                attempts: 0,
                error: None,
                output: None,
            });
            bot.prune(self.retention);
            out.push(Begun::Started(RunId(id)));
        }
        out
    }

    fn end(&self, ends: &[RunEnd]) {
        let mut inner = lock(&self.inner);
        for e in ends {
            let r = &e.record;
            let id = match e.id {
                Some(id) => id.0,
                None => {
                    inner.next_id += 1;
                    inner.next_id
                }
            };
            let bot = inner.bot(&r.bot);
            let output = (e.output != RunOutput::default()).then(|| Box::new(e.output.clone()));
            let row = Row {
                id,
                trigger: r.trigger,
                scheduled: r.scheduled,
                started: r.started,
                finished: Some(r.finished),
                outcome: Some(r.outcome),
                attempts: r.attempts,
                error: r.error.as_deref().map(Box::from),
                output,
            };
            if let (None, Some(at), Trigger::Scheduled | Trigger::CatchUp) =
                (e.id, r.scheduled, r.trigger)
            {
                bot.saw(at);
            }
            match bot.rows.binary_search_by_key(&id, |row| row.id) {
                Ok(i) => bot.rows[i] = row,
                // Begun and already pruned (retention smaller than the
                // runs in flight), or never begun: kept in id order.
                Err(i) => bot.rows.insert(i, row),
            }
            if let Some(s) = &e.state {
                bot.save(s);
            }
            bot.prune(self.retention);
        }
    }
}

impl Inner {
    fn bot(&mut self, name: &str) -> &mut BotRows {
        if !self.bots.contains_key(name) {
            self.bots.insert(Box::from(name), BotRows::default());
        }
        self.bots.get_mut(name).expect("inserted above")
    }
}

impl BotRows {
    fn saw(&mut self, at: Timestamp) {
        if self.last_scheduled.is_none_or(|l| at > l) {
            self.last_scheduled = Some(at);
        }
    }

    fn save(&mut self, s: &SavedState) {
        if let Some(at) = s.last_scheduled {
            self.saw(at);
        }
        self.state = Some(s.clone());
    }

    /// Drops the oldest finished runs beyond the retention.
    fn prune(&mut self, retention: usize) {
        while self.rows.len() > retention {
            match self.rows.iter().position(|r| r.finished.is_some()) {
                Some(i) => {
                    self.rows.remove(i);
                }
                None => break,
            }
        }
    }
}

impl Row {
    fn stored(&self, bot: &str) -> StoredRun {
        StoredRun {
            id: RunId(self.id),
            bot: bot.to_owned(),
            trigger: self.trigger,
            scheduled: self.scheduled,
            started: self.started,
            finished: self.finished,
            outcome: self.outcome,
            attempts: self.attempts,
            error: self.error.as_deref().map(str::to_owned),
            node: None,
            output: self.output.as_deref().cloned().unwrap_or_default(),
        }
    }
}

impl Store for MemoryStore {
    fn begin_runs<'a>(&'a self, runs: &'a [RunStart]) -> StoreFuture<'a, Vec<Begun>> {
        Box::pin(std::future::ready(Ok(self.begin(runs))))
    }

    fn end_runs<'a>(&'a self, ends: &'a [RunEnd]) -> StoreFuture<'a, ()> {
        self.end(ends);
        Box::pin(std::future::ready(Ok(())))
    }

    fn save_states<'a>(&'a self, states: &'a [SavedState]) -> StoreFuture<'a, ()> {
        let mut inner = lock(&self.inner);
        for s in states {
            inner.bot(&s.bot).save(s);
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn load_states(&self) -> StoreFuture<'_, Vec<SavedState>> {
        let inner = lock(&self.inner);
        let states = inner
            .bots
            .iter()
            .filter(|(_, b)| b.state.is_some() || b.last_scheduled.is_some())
            .map(|(name, b)| {
                let mut s = b.state.clone().unwrap_or_else(|| SavedState::new(&**name));
                s.last_scheduled = b.last_scheduled;
                s
            })
            .collect();
        Box::pin(std::future::ready(Ok(states)))
    }

    /// Nothing to recover: the runs of a memory store end with its process.
    fn recover(&self, _now: Timestamp) -> StoreFuture<'_, Vec<StoredRun>> {
        Box::pin(std::future::ready(Ok(Vec::new())))
    }

    fn history<'a>(
        &'a self,
        bot: &'a str,
        limit: usize,
        before: Option<RunId>,
    ) -> StoreFuture<'a, HistoryPage> {
        let inner = lock(&self.inner);
        let mut page = HistoryPage::default();
        if let Some(rows) = inner.bots.get(bot) {
            let mut older = rows
                .rows
                .iter()
                .rev()
                .filter(|r| before.is_none_or(|b| r.id < b.0));
            page.runs = older.by_ref().take(limit).map(|r| r.stored(bot)).collect();
            if older.next().is_some() {
                page.next = page.runs.last().map(|r| r.id);
            }
        }
        Box::pin(std::future::ready(Ok(page)))
    }

    fn run(&self, id: RunId) -> StoreFuture<'_, Option<StoredRun>> {
        let inner = lock(&self.inner);
        // Each bot's rows are in id order: one binary search per bot.
        let found = inner.bots.iter().find_map(|(bot, rows)| {
            let i = rows.rows.partition_point(|r| r.id < id.0);
            rows.rows
                .get(i)
                .filter(|r| r.id == id.0)
                .map(|r| r.stored(bot))
        });
        Box::pin(std::future::ready(Ok(found)))
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// One process only: claims are not needed to run fires once.
    fn is_shared(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::run::RunRecord;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn start(bot: &str, at: &str) -> RunStart {
        RunStart::new(Arc::from(bot), Trigger::Scheduled, Some(t(at)), t(at))
    }

    #[tokio::test]
    async fn ok_claims_once_per_identity() {
        let store = MemoryStore::new();
        let runs = [
            start("a", "2025-01-01T00:00:00Z"),
            start("a", "2025-01-01T00:00:00Z"),
            start("b", "2025-01-01T00:00:00Z"),
        ];
        let begun = store.begin_runs(&runs).await.unwrap();
        assert!(matches!(begun[0], Begun::Started(_)));
        assert_eq!(begun[1], Begun::ClaimedElsewhere);
        assert!(matches!(begun[2], Begun::Started(_)));
        let states = store.load_states().await.unwrap();
        assert_eq!(states.len(), 2);
        assert!(
            states
                .iter()
                .all(|s| s.last_scheduled == Some(t("2025-01-01T00:00:00Z")))
        );
    }

    #[tokio::test]
    async fn ok_history_newest_first_with_cursor_and_retention() {
        let store = MemoryStore::with_retention(5);
        for i in 0..8 {
            let at = Timestamp::from_second(1_700_000_000 + i * 60).unwrap();
            let s = RunStart::new(Arc::from("a"), Trigger::Scheduled, Some(at), at);
            let Begun::Started(id) = store.begin_runs(&[s]).await.unwrap()[0] else {
                panic!("claim lost")
            };
            let r = RunRecord::not_run(
                "a",
                Trigger::Scheduled,
                Some(at),
                at,
                RunOutcome::Success,
                None,
            );
            store
                .end_runs(&[RunEnd::new(Some(id), r, None)])
                .await
                .unwrap();
        }
        let p1 = store.history("a", 3, None).await.unwrap();
        let ids: Vec<i64> = p1.runs.iter().map(|r| r.id.0).collect();
        assert_eq!(ids, [8, 7, 6]);
        let p2 = store.history("a", 3, p1.next).await.unwrap();
        let ids: Vec<i64> = p2.runs.iter().map(|r| r.id.0).collect();
        assert_eq!(ids, [5, 4], "retention 5 keeps ids 4..=8");
        assert_eq!(p2.next, None);
        assert!(
            store
                .history("nobody", 3, None)
                .await
                .unwrap()
                .runs
                .is_empty()
        );
    }
}
