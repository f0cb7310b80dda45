//! Offset transitions of a time zone, looked up fast.
//!
//! The search asks a zone three questions: the offset at an instant, the
//! first transition after it, and the last transition at or before it. jiff
//! answers them correctly, but for instants past the last transition in its
//! data (2038 with jiff's `tz-fat` feature, which the workspace enables) it
//! evaluates the zone's POSIX rule on every call, which costs more than the
//! whole cron search, and even before that a lookup is a binary search. So the first
//! time a zone is seen, its transitions from 1900 to 2300 are copied into a
//! table with an index by 97-day bucket, and every later question is a short
//! scan.
//! Outside that window, and for zones without a name, jiff is asked directly.
//!
//! Each schedule memoises the table of the first zone it is searched in (one
//! atomic load per search). Other zones come from a per-thread cache (a
//! handful of zones, no locking) in front of a process-wide cache, so a
//! zone's table is built once per process. The
//! cache key is the address of the zone's name inside the `TimeZone`'s shared
//! allocation; the cache keeps a clone of the `TimeZone`, so that allocation
//! cannot be freed and its address reused by another zone while cached.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, OnceLock};

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::calendar::{SECS_PER_DAY, days_from_civil};

const FIRST_YEAR: i32 = 1900;
const END_YEAR: i32 = 2300;
/// Buckets of the transition index: 2^23 s is about 97 days, so a bucket
/// holds at most a couple of transitions (about 6 KiB of index per zone).
const BUCKET_SHIFT: u32 = 23;
/// Zones kept per thread, and in the process-wide cache.
const THREAD_SLOTS: usize = 8;
const GLOBAL_SLOTS: usize = 256;

/// A zone's transitions within [`FIRST_YEAR`], [`END_YEAR`].
#[derive(Debug)]
pub(crate) struct Transitions {
    /// Instants (Unix seconds) of the transitions, ascending.
    at: Box<[i64]>,
    /// The offset in force from each transition on.
    offset: Box<[i32]>,
    /// The offset in force before the first transition of the window.
    offset_before: i32,
    /// For each bucket of 2^[`BUCKET_SHIFT`] seconds from `lo`, the index of
    /// the first transition at or after the bucket's start.
    bucket_start: Box<[u32]>,
    lo: i64,
    hi: i64,
}

impl Transitions {
    fn build(tz: &TimeZone) -> Option<Transitions> {
        let lo = days_from_civil(FIRST_YEAR, 1, 1) * SECS_PER_DAY;
        let hi = days_from_civil(END_YEAR, 1, 1) * SECS_PER_DAY;
        let lo_ts = Timestamp::from_second(lo).ok()?;
        let offset_before = tz.to_offset(lo_ts).seconds();
        let mut at = Vec::new();
        let mut offset = Vec::new();
        let mut last = offset_before;
        for tr in tz.following(Timestamp::from_second(lo - 1).ok()?) {
            let t = tr.timestamp().as_second();
            if t >= hi {
                break;
            }
            // Transitions that change only the abbreviation or the DST flag
            // (and jiff's marker where the TZif data hands over to the POSIX
            // rule) do not move local time: leave them out.
            if tr.offset().seconds() != last {
                last = tr.offset().seconds();
                at.push(t);
                offset.push(last);
            }
        }
        let buckets = ((hi - lo) >> BUCKET_SHIFT) as usize + 1;
        let mut bucket_start = Vec::with_capacity(buckets);
        let mut i = 0usize;
        for k in 0..buckets {
            let start = lo + ((k as i64) << BUCKET_SHIFT);
            while i < at.len() && at[i] < start {
                i += 1;
            }
            bucket_start.push(i as u32);
        }
        Some(Transitions {
            at: at.into_boxed_slice(),
            offset: offset.into_boxed_slice(),
            offset_before,
            bucket_start: bucket_start.into_boxed_slice(),
            lo,
            hi,
        })
    }

    /// The index of the first transition at or after the start of the
    /// bucket holding `t` (`t` within the window): a shift, no search.
    #[inline]
    fn index_before(&self, t: i64) -> usize {
        let k = ((t - self.lo) >> BUCKET_SHIFT) as usize;
        self.bucket_start[k.min(self.bucket_start.len() - 1)] as usize
    }

    /// Table entry `k`: its instant, the offset it brings and the offset
    /// before it.
    #[inline]
    fn transition(&self, k: usize) -> (i64, i64, i64) {
        let before = match k.checked_sub(1) {
            Some(j) => self.offset[j],
            None => self.offset_before,
        };
        (self.at[k], i64::from(self.offset[k]), i64::from(before))
    }

    /// The index of the first transition strictly after `t`.
    #[inline]
    fn first_after(&self, t: i64) -> usize {
        let mut i = self.index_before(t);
        while i < self.at.len() && self.at[i] <= t {
            i += 1;
        }
        i
    }
}

/// The three questions the search asks of a zone, answered from a table
/// inside its window and by jiff elsewhere.
pub(crate) struct Zone<'a> {
    tz: &'a TimeZone,
    table: Option<&'a Transitions>,
    /// The offset of a zone that never changes it (UTC, fixed offsets).
    pub(crate) fixed: Option<i64>,
}

/// Runs `f` with the zone's table borrowed from the thread's cache (no
/// reference counting on the hot path), building or fetching it on a miss.
#[inline]
pub(crate) fn with_zone<R>(tz: &TimeZone, memo: &ZoneMemo, f: impl FnOnce(&Zone<'_>) -> R) -> R {
    let key = match classify(tz) {
        Kind::Keyed(key) => key,
        Kind::Unkeyed { fixed } => {
            return f(&Zone {
                tz,
                table: None,
                fixed,
            });
        }
    };
    // The schedule's own memo first: one atomic load, no thread-local.
    if let Some((k, _, table)) = memo.0.get()
        && *k == key
    {
        return f(&Zone {
            tz,
            table: Some(table),
            fixed: None,
        });
    }
    THREAD_CACHE.with(|cache| {
        {
            let slots = cache.borrow();
            if let Some(slot) = slots.iter().find(|(k, _, _)| *k == key) {
                // The first zone a schedule is searched in is memoised
                // (a no-op once the memo holds a zone).
                let _ = memo.0.set(slot.clone());
                return f(&Zone {
                    tz,
                    table: Some(&slot.2),
                    fixed: None,
                });
            }
        }
        let table = global_lookup(key, tz);
        if let Some(table) = &table {
            let mut slots = cache.borrow_mut();
            if slots.len() >= THREAD_SLOTS {
                slots.remove(0);
            }
            slots.push((key, tz.clone(), Arc::clone(table)));
        }
        f(&Zone {
            tz,
            table: table.as_deref(),
            fixed: None,
        })
    })
}

impl Zone<'_> {
    #[inline]
    fn table_for(&self, t: i64) -> Option<&Transitions> {
        self.table.filter(|tab| t >= tab.lo && t < tab.hi)
    }

    /// The offset in force at instant `t` (seconds).
    pub(crate) fn offset_at(&self, t: i64) -> Option<i64> {
        if let Some(tab) = self.table_for(t) {
            let i = tab.first_after(t);
            return Some(i64::from(if i == 0 {
                tab.offset_before
            } else {
                tab.offset[i - 1]
            }));
        }
        Some(i64::from(
            self.tz.to_offset(Timestamp::from_second(t).ok()?).seconds(),
        ))
    }

    /// The transitions strictly after `t`, in order: instant and new offset.
    /// Inside the table's window this walks the table without searching.
    #[inline]
    pub(crate) fn following(&self, t: i64) -> Following<'_> {
        let idx = self.table_for(t).map(|tab| tab.first_after(t));
        Following {
            zone: self,
            idx,
            last: t,
        }
    }

    /// The first transition strictly after `t`: its instant and new offset.
    #[cfg(test)]
    pub(crate) fn next_transition(&self, t: i64) -> Option<(i64, i64)> {
        if let Some(tab) = self.table_for(t) {
            let i = tab.first_after(t);
            if i < tab.at.len() {
                return Some((tab.at[i], i64::from(tab.offset[i])));
            }
        }
        self.next_transition_jiff(t)
    }

    fn next_transition_jiff(&self, t: i64) -> Option<(i64, i64)> {
        // Skip transitions that do not change the offset, as the table does.
        // (Zones without transitions, UTC first, return at the first `?`.)
        let ts = Timestamp::from_second(t).ok()?;
        let mut following = self.tz.following(ts).take(64).peekable();
        following.peek()?;
        let mut last = self.tz.to_offset(ts);
        for tr in following {
            if tr.offset() != last {
                return Some((tr.timestamp().as_second(), i64::from(tr.offset().seconds())));
            }
            last = tr.offset();
        }
        None
    }

    /// The last transition at or before `t`: its instant, the offset it
    /// brings and the offset before it.
    pub(crate) fn last_transition(&self, t: i64) -> Option<(i64, i64, i64)> {
        if let Some(tab) = self.table_for(t)
            && let Some(k) = tab.first_after(t).checked_sub(1)
        {
            return Some(tab.transition(k));
        }
        // Skip transitions that do not change the offset, as the table does.
        for p in self
            .tz
            .preceding(Timestamp::from_second(t.checked_add(1)?).ok()?)
            .take(64)
        {
            let p_at = p.timestamp().as_second();
            let before = self.tz.to_offset(Timestamp::from_second(p_at - 1).ok()?);
            if before != p.offset() {
                return Some((
                    p_at,
                    i64::from(p.offset().seconds()),
                    i64::from(before.seconds()),
                ));
            }
        }
        None
    }
}

/// An iterator over a zone's transitions; see [`Zone::following`].
pub(crate) struct Following<'z> {
    zone: &'z Zone<'z>,
    /// The next table index, while walking the table.
    idx: Option<usize>,
    last: i64,
}

impl Following<'_> {
    /// The offset in force just before the next transition this iterator
    /// yields: at the instant it started from, or at the last one yielded.
    /// From the table index already found, without a second lookup.
    #[inline]
    pub(crate) fn offset_now(&self) -> Option<i64> {
        match (self.idx, self.zone.table) {
            (Some(0), Some(tab)) => Some(i64::from(tab.offset_before)),
            (Some(i), Some(tab)) => Some(i64::from(tab.offset[i - 1])),
            _ => self.zone.offset_at(self.last),
        }
    }

    /// The last transition at or before `t`, when the transition this
    /// iterator yielded last lies after `t`: its instant, the offset it
    /// brings and the offset before it (see [`Zone::last_transition`]).
    /// Inside the table it is the entry before the one yielded.
    #[inline]
    pub(crate) fn last_before_yielded(&self, t: i64) -> Option<(i64, i64, i64)> {
        if let (Some(i), Some(tab)) = (self.idx, self.zone.table)
            && let Some(k) = i.checked_sub(2)
        {
            // at[i - 1] was yielded (> t); at[i - 2] is the answer.
            return Some(tab.transition(k));
        }
        self.zone.last_transition(t)
    }
}

impl Iterator for Following<'_> {
    type Item = (i64, i64);

    #[inline]
    fn next(&mut self) -> Option<(i64, i64)> {
        if let (Some(i), Some(tab)) = (self.idx, self.zone.table) {
            if i < tab.at.len() {
                self.idx = Some(i + 1);
                self.last = tab.at[i];
                return Some((tab.at[i], i64::from(tab.offset[i])));
            }
            self.idx = None;
        }
        let next = self.zone.next_transition_jiff(self.last)?;
        self.last = next.0;
        Some(next)
    }
}

type Slot = (usize, TimeZone, Arc<Transitions>);

/// A schedule's memo of the first named zone it was searched in, so the
/// usual case (one schedule, one zone) skips the thread cache. Like the
/// caches, it keeps a clone of the `TimeZone`, so its key stays unique.
///
/// A cache, not part of the schedule's value: every memo equals every other.
#[derive(Clone, Default)]
pub(crate) struct ZoneMemo(OnceLock<Slot>);

impl PartialEq for ZoneMemo {
    fn eq(&self, _: &ZoneMemo) -> bool {
        true
    }
}

impl Eq for ZoneMemo {}

impl std::fmt::Debug for ZoneMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ZoneMemo")
    }
}

thread_local! {
    static THREAD_CACHE: RefCell<Vec<Slot>> = const { RefCell::new(Vec::new()) };
}

static GLOBAL_CACHE: Mutex<Vec<Slot>> = Mutex::new(Vec::new());

/// How a zone is searched: from a cached table, or without one.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    /// A named zone with transitions, keyed by the address of its name
    /// inside the zone's shared allocation (see the module docs).
    Keyed(usize),
    /// UTC, a fixed offset (`fixed` holds it), or an unnamed POSIX rule
    /// (`fixed` is `None`: jiff is asked directly).
    Unkeyed { fixed: Option<i64> },
}

/// Classifies a zone by its name first, so named zones never ask jiff for a
/// fixed offset (a question that fails, and allocates an error, for them).
#[inline]
fn classify(tz: &TimeZone) -> Kind {
    match tz.iana_name() {
        // UTC has no transitions: no table, no lookup.
        Some("UTC") => Kind::Unkeyed { fixed: Some(0) },
        Some(name) => Kind::Keyed(name.as_ptr() as usize),
        None => Kind::Unkeyed {
            fixed: tz.to_fixed_offset().ok().map(|o| i64::from(o.seconds())),
        },
    }
}

fn global_lookup(key: usize, tz: &TimeZone) -> Option<Arc<Transitions>> {
    // A poisoned lock only means another thread panicked while holding it;
    // the cache is still a valid list.
    let mut cache = GLOBAL_CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, _, t)) = cache.iter().find(|(k, _, _)| *k == key) {
        return Some(Arc::clone(t));
    }
    let table = Arc::new(Transitions::build(tz)?);
    if cache.len() >= GLOBAL_SLOTS {
        cache.remove(0);
    }
    cache.push((key, tz.clone(), Arc::clone(&table)));
    Some(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table must answer exactly what jiff answers.
    #[test]
    fn ok_table_agrees_with_jiff() {
        for name in [
            "America/New_York",
            "Australia/Lord_Howe",
            "America/Sao_Paulo",
            "Asia/Kolkata",
            "Europe/London",
        ] {
            let tz = TimeZone::get(name).unwrap();
            let Kind::Keyed(key) = classify(&tz) else {
                panic!("{name} has transitions")
            };
            let table = global_lookup(key, &tz).expect("a table");
            let zone = Zone {
                tz: &tz,
                table: Some(&table),
                fixed: None,
            };
            let plain = Zone {
                tz: &tz,
                table: None,
                fixed: None,
            };
            let mut t = days_from_civil(1899, 6, 1) * SECS_PER_DAY;
            let end = days_from_civil(2301, 1, 1) * SECS_PER_DAY;
            while t < end {
                assert_eq!(
                    zone.offset_at(t),
                    plain.offset_at(t),
                    "{name} offset at {t}"
                );
                assert_eq!(
                    zone.next_transition(t),
                    plain.next_transition(t),
                    "{name} next after {t}"
                );
                assert_eq!(
                    zone.last_transition(t),
                    plain.last_transition(t),
                    "{name} last at {t}"
                );
                // Exactly on, and one second around, each transition too.
                if let Some((tr, _)) = plain.next_transition(t) {
                    for u in [tr - 1, tr, tr + 1] {
                        assert_eq!(zone.offset_at(u), plain.offset_at(u));
                        assert_eq!(zone.next_transition(u), plain.next_transition(u));
                        assert_eq!(zone.last_transition(u), plain.last_transition(u));
                        assert_iterator_answers(&zone, &plain, u);
                    }
                }
                assert_iterator_answers(&zone, &plain, t);
                t += 86_400 * 37 + 3_607;
            }
        }
    }

    /// What the forward search reads off a `Following` (the offset it starts
    /// in, the transition before the one it yielded) equals the plain answers.
    fn assert_iterator_answers(zone: &Zone<'_>, plain: &Zone<'_>, t: i64) {
        let mut it = zone.following(t);
        assert_eq!(it.offset_now(), plain.offset_at(t), "offset_now at {t}");
        if let Some((first, _)) = it.next() {
            assert!(first > t);
            assert_eq!(
                it.last_before_yielded(t),
                plain.last_transition(t),
                "last_before_yielded at {t}"
            );
        }
    }

    #[test]
    fn ok_no_table_for_utc_or_fixed() {
        assert_eq!(classify(&TimeZone::UTC), Kind::Unkeyed { fixed: Some(0) });
        assert_eq!(
            classify(&TimeZone::fixed(jiff::tz::offset(5))),
            Kind::Unkeyed {
                fixed: Some(5 * 3600)
            }
        );
        assert!(matches!(
            classify(&TimeZone::get("America/New_York").unwrap()),
            Kind::Keyed(_)
        ));
        assert_eq!(
            classify(&TimeZone::posix("EST5EDT,M3.2.0,M11.1.0").unwrap()),
            Kind::Unkeyed { fixed: None }
        );
        let ny = TimeZone::get("America/New_York").unwrap();
        let memo = ZoneMemo::default();
        assert!(with_zone(&ny, &memo, |z| z.table.is_some()));
        assert!(with_zone(&ny.clone(), &memo, |z| z.table.is_some()));
        assert!(memo.0.get().is_some());
        // Another zone after the memo is set: from the thread cache.
        let london = TimeZone::get("Europe/London").unwrap();
        let london_offset = with_zone(&london, &memo, |z| z.offset_at(0));
        assert_eq!(london_offset, Some(3600), "London was on BST all of 1970");
        let ny_offset = with_zone(&ny, &memo, |z| z.offset_at(0));
        assert_eq!(ny_offset, Some(-5 * 3600));
    }
}
