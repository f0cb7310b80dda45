//! Values between the store's types and its rows: instants as microseconds,
//! durations as milliseconds, batches as JSON arrays for `json_each`, and
//! rows read back (refusing text botman does not know).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::run::{RunOutcome, Trigger};
use crate::store::{
    Begun, RunEnd, RunId, RunOutput, RunStart, SavedState, StoreError, StoreErrorKind, StoredRun,
};

/// An instant as stored: microseconds since the Unix epoch (every jiff
/// instant fits).
pub(super) fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

/// A stored instant, saturating at jiff's range.
pub(super) fn instant(us: i64) -> Timestamp {
    Timestamp::from_microsecond(us).unwrap_or(if us < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// A duration as stored: milliseconds, saturating.
pub(super) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Now, as stored (`updated_at`, sessions' `started_at`).
pub(super) fn now_micros() -> i64 {
    micros(Timestamp::now())
}

fn json<T: serde::Serialize>(rows: &T) -> Result<String, StoreError> {
    serde_json::to_string(rows).map_err(|e| StoreError::new(format!("encoding a batch: {e}")))
}

/// A [`Store::begin_runs`](crate::Store::begin_runs) call, encoded before
/// it reaches the writer.
#[derive(Debug)]
pub(super) struct BeginBatch {
    /// The rows to insert, `[bot, trigger, scheduled, started, claim]`,
    /// in order; claims are inserted `OR IGNORE`.
    pub(super) json: String,
    rows: Vec<Candidate>,
    /// Per start, the row it inserts; `None` for a repeat of a claim made
    /// earlier in the same batch (claimed elsewhere: by that start).
    slots: Vec<Option<usize>>,
}

#[derive(Debug)]
struct Candidate {
    bot: Arc<str>,
    scheduled: Option<i64>,
    claim: bool,
}

/// A row read back after an insert of begun runs: `(id, bot,
/// scheduled_at, claimed)`.
pub(super) type Inserted = (i64, String, Option<i64>, bool);

/// What the begun runs of a group did.
#[derive(Debug, Default)]
pub(super) struct Begins {
    /// Per batch, the answers.
    pub(super) answers: Vec<Vec<Begun>>,
}

impl BeginBatch {
    pub(super) fn new(runs: &[RunStart]) -> Result<BeginBatch, StoreError> {
        let mut seen = HashSet::new();
        let mut rows = Vec::with_capacity(runs.len());
        let mut slots = Vec::with_capacity(runs.len());
        let mut encoded = Vec::with_capacity(runs.len());
        for r in runs {
            let scheduled = r.scheduled.map(micros);
            let claim = r.claim && scheduled.is_some();
            if claim && !seen.insert((Arc::clone(&r.bot), scheduled)) {
                slots.push(None);
                continue;
            }
            slots.push(Some(rows.len()));
            encoded.push((
                &*r.bot,
                r.trigger.as_str(),
                scheduled,
                micros(r.started),
                u8::from(claim),
            ));
            rows.push(Candidate {
                bot: Arc::clone(&r.bot),
                scheduled,
                claim,
            });
        }
        Ok(BeginBatch {
            json: json(&encoded)?,
            rows,
            slots,
        })
    }

    /// The rows the batch sends.
    pub(super) fn len(&self) -> usize {
        self.rows.len()
    }
}

/// The answers of a group of batches whose rows were inserted in order
/// (`INSERT OR IGNORE`) and took the ids `first..` with no gap: every row
/// was inserted, every claim won.
pub(super) fn begun_in_order(batches: &[&BeginBatch], first: i64) -> Begins {
    let mut next = first;
    let ids = batches.iter().map(|b| {
        b.rows
            .iter()
            .map(|_| {
                next += 1;
                Some(next - 1)
            })
            .collect()
    });
    let ids: Vec<Vec<Option<i64>>> = ids.collect();
    begins(batches, &ids)
}

/// The answers of a group of batches from the rows the insert made,
/// read back (in any order) when some rows were ignored. A claim whose
/// (bot, instant) came back won, for its first start in the group; any
/// other claim did not; each inserted row takes the next id (ids grow in
/// insert order). A row that does not match is an error, never a wrong
/// id.
pub(super) fn begun_from_rows(
    batches: &[&BeginBatch],
    mut inserted: Vec<Inserted>,
) -> Result<Begins, String> {
    inserted.sort_unstable_by_key(|r| r.0);
    let mut won: HashSet<(&str, Option<i64>)> = inserted
        .iter()
        .filter(|r| r.3)
        .map(|r| (r.1.as_str(), r.2))
        .collect();
    let mut next = inserted.iter();
    let mut ids = Vec::with_capacity(batches.len());
    for b in batches {
        let mut batch_ids = Vec::with_capacity(b.rows.len());
        for c in &b.rows {
            if c.claim && !won.remove(&(&*c.bot, c.scheduled)) {
                batch_ids.push(None);
                continue;
            }
            let row = next
                .next()
                .ok_or("fewer rows were inserted than were begun")?;
            if *row.1 != *c.bot || row.2 != c.scheduled || row.3 != c.claim {
                return Err(format!(
                    "row {} ({}, {:?}) does not match the run begun ({}, {:?})",
                    row.0, row.1, row.2, c.bot, c.scheduled
                ));
            }
            batch_ids.push(Some(row.0));
        }
        ids.push(batch_ids);
    }
    if next.next().is_some() {
        return Err("more rows were inserted than were begun".to_owned());
    }
    Ok(begins(batches, &ids))
}

fn begins(batches: &[&BeginBatch], ids: &[Vec<Option<i64>>]) -> Begins {
    let mut out = Begins::default();
    for (b, ids) in batches.iter().zip(ids) {
        out.answers.push(
            b.slots
                .iter()
                .map(|s| match s.and_then(|i| ids[i]) {
                    Some(id) => Begun::Started(RunId(id)),
                    None => Begun::ClaimedElsewhere,
                })
                .collect(),
        );
    }
    out
}

/// One JSON array of the elements of several (`[1,2]`, `[]`, `[3]` →
/// `[1,2,3]`), in order.
pub(super) fn concat<'a>(arrays: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::from("[");
    for a in arrays {
        let inner = a
            .strip_prefix('[')
            .and_then(|a| a.strip_suffix(']'))
            .unwrap_or("");
        if inner.is_empty() {
            continue;
        }
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(inner);
    }
    out.push(']');
    out
}

/// `[[bot, instant], ...]`: the latest instants to advance `last_scheduled`
/// to.
pub(super) fn advance_json<'a>(
    latest: impl Iterator<Item = (&'a str, i64)>,
) -> Result<String, StoreError> {
    json(&latest.collect::<Vec<_>>())
}

/// A [`Store::end_runs`](crate::Store::end_runs) call, encoded before it
/// reaches the writer. Each JSON part is `[]` when the call has nothing
/// for it.
#[derive(Debug, Default)]
pub(super) struct EndBatch {
    /// Ends of begun runs (`id: Some`).
    pub(super) finished: String,
    /// How many ends of begun runs.
    pub(super) finished_len: usize,
    /// Rows of fires that did not run (`id: None`), inserted `OR IGNORE`.
    pub(super) not_run: String,
    /// Per bot, the rows `not_run` may add.
    pub(super) added: Vec<(Arc<str>, usize)>,
    /// Per bot, the latest instant of its scheduled and catch-up fires
    /// (run or not), which advances `last_scheduled`. Ends advance it, not
    /// begins: a claim stays cheap, and a claimed fire whose end never came
    /// (the process died) is decided again after a restart, only to find
    /// its claim taken.
    pub(super) advance: Vec<(Arc<str>, i64)>,
    /// The states the ends carry, in order.
    pub(super) states: String,
}

/// `[id, bot, trigger, scheduled, started, finished, outcome, reason,
/// attempts, error, exit_code, stdout_tail, stderr_tail]`.
type EndRow<'a> = (
    Option<i64>,
    &'a str,
    &'static str,
    Option<i64>,
    i64,
    i64,
    &'static str,
    Option<&'static str>,
    u32,
    Option<&'a str>,
    Option<i32>,
    Option<&'a str>,
    Option<&'a str>,
);

impl EndBatch {
    pub(super) fn new(ends: &[RunEnd]) -> Result<EndBatch, StoreError> {
        let mut finished = Vec::new();
        let mut not_run = Vec::new();
        let mut added: HashMap<&str, usize> = HashMap::new();
        let mut advance: HashMap<&str, i64> = HashMap::new();
        for e in ends {
            let r = &e.record;
            let row: EndRow<'_> = (
                e.id.map(|id| id.0),
                &r.bot,
                r.trigger.as_str(),
                r.scheduled.map(micros),
                micros(r.started),
                micros(r.finished),
                r.outcome.as_str(),
                r.outcome.reason(),
                r.attempts,
                r.error.as_deref(),
                e.output.exit_code,
                e.output.stdout_tail.as_deref(),
                e.output.stderr_tail.as_deref(),
            );
            if let (Some(at), Trigger::Scheduled | Trigger::CatchUp) = (r.scheduled, r.trigger) {
                let at = micros(at);
                let e = advance.entry(&r.bot).or_insert(at);
                *e = (*e).max(at);
            }
            // Pruning counts rows as they end: a row in flight cannot be
            // pruned, so counting it at its begin let a burst of begins
            // ahead of their ends (written behind) use up the count while
            // nothing could go, and the ends never pruned.
            *added.entry(&r.bot).or_insert(0) += 1;
            if e.id.is_some() {
                finished.push(row);
                continue;
            }
            not_run.push(row);
        }
        let states = states_json(ends.iter().filter_map(|e| e.state.as_ref()))?;
        Ok(EndBatch {
            finished: json(&finished)?,
            finished_len: finished.len(),
            not_run: json(&not_run)?,
            added: added.into_iter().map(|(b, n)| (Arc::from(b), n)).collect(),
            advance: advance
                .into_iter()
                .map(|(b, t)| (Arc::from(b), t))
                .collect(),
            states,
        })
    }
}

/// `[bot, last_scheduled, cool_down_until, cool_down_len_ms,
/// consecutive_failures, paused]` per state, in order.
pub(super) fn states_json<'a>(
    states: impl Iterator<Item = &'a SavedState>,
) -> Result<String, StoreError> {
    let rows: Vec<_> = states
        .map(|s| {
            (
                &s.bot,
                s.last_scheduled.map(micros),
                s.cool_down_until.map(micros),
                millis(s.cool_down_len),
                i64::try_from(s.consecutive_failures).unwrap_or(i64::MAX),
                u8::from(s.paused),
            )
        })
        .collect();
    json(&rows)
}

/// The columns [`stored_run`] reads, in its order.
pub(super) const RUN_COLUMNS: &str = "id, bot, trigger, scheduled_at, started_at, finished_at, \
     outcome, reason, attempts, error, node, exit_code, stdout_tail, stderr_tail";

fn corrupt(path: &Path, what: impl std::fmt::Display) -> StoreError {
    StoreError::with_kind(
        StoreErrorKind::Corrupt,
        format!(
            "{}: {what}: the file was changed by something other than botman; \
             fix or delete that row",
            path.display()
        ),
    )
}

/// A `runs` row read with [`RUN_COLUMNS`]. Text botman does not know (an
/// outcome, a reason, a trigger) or a value of the wrong type is a
/// [`Corrupt`](StoreErrorKind::Corrupt) error naming the row.
pub(super) fn stored_run(path: &Path, row: &SqliteRow) -> Result<StoredRun, StoreError> {
    let id: i64 = row
        .try_get(0)
        .map_err(|e| corrupt(path, format!("a run row has no usable id ({e})")))?;
    let col = |e: sqlx::Error| corrupt(path, format!("run {id}: {e}"));
    let trigger: String = row.try_get(2).map_err(col)?;
    let trigger: Trigger = trigger
        .parse()
        .map_err(|_| corrupt(path, format!("run {id} has an unknown trigger {trigger:?}")))?;
    let outcome: Option<String> = row.try_get(6).map_err(col)?;
    let reason: Option<String> = row.try_get(7).map_err(col)?;
    let outcome = match outcome {
        None => None,
        Some(o) => Some(
            RunOutcome::from_parts(&o, reason.as_deref()).ok_or_else(|| {
                corrupt(
                    path,
                    format!("run {id} has an unknown outcome {o:?} (reason {reason:?})"),
                )
            })?,
        ),
    };
    let attempts: i64 = row.try_get(8).map_err(col)?;
    let exit_code: Option<i64> = row.try_get(11).map_err(col)?;
    Ok(StoredRun {
        id: RunId(id),
        bot: row.try_get(1).map_err(col)?,
        trigger,
        scheduled: row.try_get::<Option<i64>, _>(3).map_err(col)?.map(instant),
        started: instant(row.try_get(4).map_err(col)?),
        finished: row.try_get::<Option<i64>, _>(5).map_err(col)?.map(instant),
        outcome,
        attempts: u32::try_from(attempts.max(0)).unwrap_or(u32::MAX),
        error: row.try_get(9).map_err(col)?,
        node: row.try_get(10).map_err(col)?,
        output: RunOutput {
            exit_code: exit_code
                .map(|c| i32::try_from(c).unwrap_or(if c < 0 { i32::MIN } else { i32::MAX })),
            stdout_tail: row.try_get(12).map_err(col)?,
            stderr_tail: row.try_get(13).map_err(col)?,
        },
    })
}

/// The columns [`saved_state`] reads, in its order.
pub(super) const STATE_COLUMNS: &str =
    "bot, last_scheduled, cool_down_until, cool_down_len_ms, consecutive_failures, paused";

/// A `bot_state` row read with [`STATE_COLUMNS`].
pub(super) fn saved_state(path: &Path, row: &SqliteRow) -> Result<SavedState, StoreError> {
    let bot: String = row
        .try_get(0)
        .map_err(|e| corrupt(path, format!("a bot_state row has no usable bot ({e})")))?;
    let col = |e: sqlx::Error| corrupt(path, format!("bot_state of {bot:?}: {e}"));
    let len_ms: i64 = row.try_get(3).map_err(col)?;
    let failures: i64 = row.try_get(4).map_err(col)?;
    let paused: i64 = row.try_get(5).map_err(col)?;
    Ok(SavedState {
        last_scheduled: row.try_get::<Option<i64>, _>(1).map_err(col)?.map(instant),
        cool_down_until: row.try_get::<Option<i64>, _>(2).map_err(col)?.map(instant),
        cool_down_len: Duration::from_millis(u64::try_from(len_ms).unwrap_or(0)),
        consecutive_failures: u64::try_from(failures).unwrap_or(0),
        paused: paused != 0,
        bot,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn ok_instants_round_trip_and_saturate() {
        for ts in [Timestamp::MIN, Timestamp::UNIX_EPOCH, Timestamp::MAX] {
            assert_eq!(instant(micros(ts)), ts);
        }
        let ts = t("2025-03-01T12:34:56.789012Z");
        assert_eq!(instant(micros(ts)), ts);
        assert_eq!(instant(i64::MAX), Timestamp::MAX);
        assert_eq!(instant(i64::MIN), Timestamp::MIN);
        assert_eq!(millis(Duration::MAX), i64::MAX);
        assert_eq!(millis(Duration::from_secs(2)), 2_000);
    }

    fn start(bot: &str, at: Option<&str>, trigger: Trigger) -> RunStart {
        let now = t("2025-01-01T00:00:00Z");
        RunStart::new(Arc::from(bot), trigger, at.map(t), now)
    }

    #[test]
    fn ok_begin_answers_follow_ids_and_repeats() {
        let runs = [
            start("a", Some("2025-01-01T00:00:00Z"), Trigger::Scheduled),
            start("a", None, Trigger::Manual),
            start("a", Some("2025-01-01T00:00:00Z"), Trigger::Scheduled),
            start("b", Some("2025-01-01T00:00:00Z"), Trigger::Scheduled),
        ];
        let batch = BeginBatch::new(&runs).unwrap();
        assert_eq!(batch.len(), 3, "the repeated claim is not sent");
        // A second batch of the group repeats a's claim.
        let again = BeginBatch::new(&runs[..1]).unwrap();
        let at = micros(t("2025-01-01T00:00:00Z"));
        // b's claim was taken before; ids come back out of order.
        let got = begun_from_rows(
            &[&batch, &again],
            vec![
                (8, "a".into(), None, false),
                (7, "a".into(), Some(at), true),
            ],
        )
        .unwrap();
        assert_eq!(
            got.answers[0],
            [
                Begun::Started(RunId(7)),
                Begun::Started(RunId(8)),
                Begun::ClaimedElsewhere,
                Begun::ClaimedElsewhere
            ]
        );
        assert_eq!(got.answers[1], [Begun::ClaimedElsewhere]);
        let err = begun_from_rows(&[&batch], vec![(7, "a".into(), Some(at), true)]);
        assert!(err.is_err(), "a missing row is an error, not a wrong id");
        let err = begun_from_rows(&[&batch], vec![(7, "b".into(), Some(at), true)]);
        assert!(err.is_err(), "a row of another bot is an error");

        let got = begun_in_order(&[&again, &batch], 10);
        assert_eq!(got.answers[0], [Begun::Started(RunId(10))]);
        assert_eq!(got.answers[1][1], Begun::Started(RunId(12)));
        assert_eq!(got.answers[1][2], Begun::ClaimedElsewhere);
    }

    #[test]
    fn ok_json_arrays_concatenate() {
        let parts = ["[1,2]", "[]", "[[3,\"x\"]]"];
        assert_eq!(concat(parts.into_iter()), "[1,2,[3,\"x\"]]");
        assert_eq!(concat(["[]"].into_iter()), "[]");
    }
}
