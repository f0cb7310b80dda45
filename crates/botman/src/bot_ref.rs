//! [`BotRef`]: one bot of a manager, its schedule and state.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

use crate::bot::Schedule;
use crate::error::Error;
use crate::events::{BotEvent, EventKind, EventType, Filter, SubscriptionId};
use crate::metrics::BotMetrics;
use crate::scheduler::{Core, jitter_for};
use crate::state::BotEntry;
use crate::store::StoredRun;
use crate::util::lock;

/// One bot of a manager: its schedule and state. Obtained with
/// [`Botman::bot`](crate::Botman::bot); stays valid while the bot is added.
#[derive(Clone)]
pub struct BotRef {
    core: Arc<Core>,
    entry: Arc<BotEntry>,
}

impl BotRef {
    pub(crate) fn new(core: Arc<Core>, entry: Arc<BotEntry>) -> BotRef {
        BotRef { core, entry }
    }

    /// The bot's name.
    pub fn name(&self) -> &str {
        &self.entry.name
    }

    /// The bot's id, as its events carry it (see [`BotEvent::bot_id`]).
    pub fn id(&self) -> String {
        crate::events::id_text(self.entry.id)
    }

    /// The next scheduled fire (Python: `get_next_run`).
    pub fn next_run(&self) -> Option<Timestamp> {
        let core = &self.core;
        let st = lock(&self.entry.st);
        st.next_fire
            .or_else(|| st.next_after(core.clock.now(), &core.default_tz))
    }

    /// The next `count` scheduled fires after now, of all the bot's
    /// schedules merged, earliest first (fewer when the schedules end).
    /// Jitter is not added: these are the scheduled instants.
    pub fn next_runs(&self, count: usize) -> Vec<Timestamp> {
        let core = &self.core;
        let st = lock(&self.entry.st);
        let mut out = Vec::with_capacity(count.min(1024));
        let mut after = core.clock.now();
        while out.len() < count {
            match st.next_after(after, &core.default_tz) {
                Some(at) => {
                    out.push(at);
                    after = at;
                }
                None => break,
            }
        }
        out
    }

    /// The bot's schedules now (with those added or removed since it was
    /// built).
    pub fn schedules(&self) -> Vec<Schedule> {
        lock(&self.entry.st).schedules.clone()
    }

    /// Whether a fire is due now: the last fire of any schedule lies after
    /// the bot's last run (or its start).
    pub fn is_due(&self) -> bool {
        let core = &self.core;
        let now = core.clock.now();
        let st = lock(&self.entry.st);
        let last = st.counters.last_run.unwrap_or(self.entry.since);
        st.next_after(last, &core.default_tz)
            .is_some_and(|n| n <= now)
    }

    /// Whether the bot is cooling down after exhausting a fire's attempts.
    pub fn is_in_timeout(&self) -> bool {
        self.timeout_until().is_some()
    }

    /// When the current cool-down ends, if the bot is in one.
    pub fn timeout_until(&self) -> Option<Timestamp> {
        let now = self.core.clock.now();
        lock(&self.entry.st).timeout_until(now)
    }

    /// Adds a schedule (`tz`: an IANA name, or `None` for the default zone).
    /// Takes effect at once.
    pub fn add_schedule(&self, expr: &str, tz: Option<&str>) -> Result<(), Error> {
        let s = Schedule::new(expr, tz)?;
        lock(&self.entry.st).schedules.push(s);
        let core = &self.core;
        core.reschedule(&self.entry, core.clock.now());
        Ok(())
    }

    /// Removes every schedule written as `expr`. Takes effect at once.
    pub fn remove_schedule(&self, expr: &str) -> Result<(), Error> {
        {
            let mut st = lock(&self.entry.st);
            let before = st.schedules.len();
            st.schedules.retain(|s| &*s.text != expr);
            if st.schedules.len() == before {
                return Err(Error::unknown_schedule(&self.entry.name, expr));
            }
        }
        let core = &self.core;
        core.reschedule(&self.entry, core.clock.now());
        Ok(())
    }

    /// Sets the last run time, as if the bot had run then (Python:
    /// `set_last_run`). Affects `is_due` and the metrics' `last_run`.
    pub fn set_last_run(&self, at: Timestamp) {
        lock(&self.entry.st).counters.last_run = Some(at);
        self.core.bump();
    }

    /// Pauses the bot: its fires are recorded as skipped until `resume`; a
    /// run in progress finishes.
    pub fn pause(&self) {
        lock(&self.entry.st).pause();
        self.core.save_state(&self.entry);
        self.core.emit(
            &self.entry,
            EventKind::BotPaused,
            EventType::Info,
            || "bot paused".to_owned(),
            || serde_json::Value::Null,
        );
        self.core.bump();
    }

    /// Resumes a paused bot, from now (fires missed while paused were
    /// skipped). A cool-down still in progress goes on.
    pub fn resume(&self) {
        let core = &self.core;
        let now = core.clock.now();
        lock(&self.entry.st).resume(now);
        core.save_state(&self.entry);
        core.emit(
            &self.entry,
            EventKind::BotResumed,
            EventType::Info,
            || "bot resumed".to_owned(),
            || serde_json::Value::Null,
        );
        core.reschedule(&self.entry, now);
    }

    /// The bot's last `limit` runs, newest first: see
    /// [`Botman::history`](crate::Botman::history). Blocking; from async
    /// code use [`history_async`](BotRef::history_async).
    pub fn history(&self, limit: usize) -> Result<Vec<StoredRun>, Error> {
        crate::Botman::from_core(Arc::clone(&self.core)).history_blocking(
            &self.entry.name,
            limit,
            "BotRef::history()",
            "BotRef::history_async().await",
        )
    }

    /// [`history`](BotRef::history), from async code.
    pub async fn history_async(&self, limit: usize) -> Result<Vec<StoredRun>, Error> {
        Ok(self.core.history(&self.entry.name, limit, None).await?.runs)
    }

    /// Whether the bot is paused.
    pub fn is_paused(&self) -> bool {
        lock(&self.entry.st).is_paused()
    }

    /// The delay the bot's jitter adds to a fire at `scheduled`: the same
    /// in every process (a hash of the bot's name and the instant).
    pub fn jitter_at(&self, scheduled: Timestamp) -> Duration {
        jitter_for(&self.entry.name, scheduled, self.entry.policy.jitter)
    }

    /// Subscribes `callback` to this bot's events of `types` (empty: all) —
    /// this manager's bot only, not another manager's bot of the same name.
    pub fn subscribe(
        &self,
        callback: impl Fn(&BotEvent) + Send + Sync + 'static,
        types: &[EventType],
    ) -> SubscriptionId {
        self.core.events.subscribe_filtered(
            Filter::Bot {
                manager: self.core.instance,
                name: Arc::clone(&self.entry.name),
            },
            Box::new(callback),
            types,
            crate::DEFAULT_QUEUE,
        )
    }

    /// The bot's metrics.
    pub fn metrics(&self) -> BotMetrics {
        self.entry.metrics(self.core.clock.now())
    }
}

#[cfg(feature = "webhooks")]
impl BotRef {
    fn add_webhooks(
        &self,
        format: crate::receivers::Format,
        urls: &[&str],
        types: &[EventType],
    ) -> Result<(), Error> {
        // Every URL is checked before any is subscribed: all or nothing.
        let urls = urls
            .iter()
            .map(|u| crate::WebhookUrl::new(u))
            .collect::<Result<Vec<_>, Error>>()?;
        for url in urls {
            self.core
                .attach(Some(&self.entry.name), format, url, types)?;
        }
        Ok(())
    }

    /// Posts this bot's events of `types` (empty: all) to one or more Slack
    /// webhooks.
    pub fn add_slack_webhook(&self, urls: &[&str], types: &[EventType]) -> Result<(), Error> {
        self.add_webhooks(crate::receivers::Format::Slack, urls, types)
    }

    /// Posts this bot's events to one or more Chime webhooks.
    pub fn add_chime_webhook(&self, urls: &[&str], types: &[EventType]) -> Result<(), Error> {
        self.add_webhooks(crate::receivers::Format::Chime, urls, types)
    }

    /// Ends every webhook subscription of this bot (other bots posting to
    /// the same URLs keep theirs). Returns how many ended.
    pub fn remove_webhook_subscriptions(&self) -> usize {
        self.core.detach(Some(&self.entry.name))
    }
}
