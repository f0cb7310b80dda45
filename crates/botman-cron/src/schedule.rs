//! [`Cron`]: the parsed schedule, its search, and the time-zone rules.

use core::fmt;
use core::str::FromStr;

use jiff::tz::TimeZone;
use jiff::{Timestamp, ZonedDateTime};

use crate::calendar::{
    MAX_ABS_DAYS, SECS_PER_DAY, civil_from_days, days_from_civil, days_in_month, weekday_from_days,
};
use crate::error::ParseError;
use crate::spec::{Item, Spec};
use crate::zone::{Zone, ZoneMemo, with_zone};

/// The last second of a day.
const LAST_SOD: u32 = 86_399;

/// Bits 1..=12 of the month bitset.
const ALL_MONTHS: u16 = 0x1FFE;

/// Years outside this range are never searched (jiff's own limits are ±9999).
const MAX_YEAR: i32 = 9998;
const MIN_YEAR: i32 = -9998;

/// A parsed cron expression.
///
/// Parse once with [`Cron::parse`] (or `str::parse`), then ask for fire
/// instants with [`Cron::next_after`], [`Cron::prev_before`],
/// [`Cron::iter_after`] or [`Cron::matches`]. A `Cron` is immutable, `Send`
/// and `Sync`, about 160 bytes plus the parsed items kept for `Display`.
///
/// Two `Cron`s are equal when they fire at the same instants in every zone,
/// whatever their spelling: `"0 0 * * SUN"` equals `"0 0 * * 7"`.
#[derive(Clone)]
pub struct Cron {
    // Hot data first: everything the search reads fits in three cache lines.
    seconds: u64,
    minutes: u64,
    hours: u32,
    months: u16,
    /// Fixed-time expressions follow cronie's DST rules (see the crate docs).
    fixed_time: bool,
    with_seconds: bool,
    /// Every day of every month matches: the search is a time-of-day search
    /// with a carry into the next or previous day, no calendar arithmetic.
    every_day: bool,
    /// The first and last matching times of day (seconds of day).
    first_tod: u32,
    last_tod: u32,
    /// Matching days of a month, as bits 1..=31, indexed by the weekday of the
    /// month's first day (0 = Sunday) and the month's length minus 28. All of
    /// day-of-month, day-of-week, `L`, `W` and `#` are folded into this table
    /// at parse time, so the search never looks at them again.
    day_table: [[u32; 4]; 7],
    pub(crate) spec: Box<Specs>,
}

/// Every field's parsed items, for `Display`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Specs {
    pub(crate) second: Option<Spec>,
    pub(crate) minute: Spec,
    pub(crate) hour: Spec,
    pub(crate) dom: Spec,
    pub(crate) month: Spec,
    pub(crate) dow: Spec,
    /// The zone the schedule was first searched in (a cache; see `ZoneMemo`).
    pub(crate) zone: ZoneMemo,
}

impl Cron {
    /// Parses cron text: 5 fields (minute precision) or 6 with a leading
    /// seconds field, or one of the `@` macros.
    ///
    /// ```
    /// use botman_cron::Cron;
    ///
    /// let cron = Cron::parse("*/15 9-17 * * MON-FRI")?;
    /// assert_eq!(cron.to_string(), "*/15 9-17 * * 1-5");
    ///
    /// let err = Cron::parse("61 * * * *").unwrap_err();
    /// assert_eq!(err.to_string(), "minute `61` at column 1: 61 is out of range 0-59");
    /// # Ok::<(), botman_cron::ParseError>(())
    /// ```
    pub fn parse(expr: &str) -> Result<Cron, ParseError> {
        crate::parse::parse(expr)
    }

    pub(crate) fn from_specs(
        second: Option<Spec>,
        minute: Spec,
        hour: Spec,
        dom: Spec,
        month: Spec,
        dow: Spec,
    ) -> Cron {
        let seconds = second.as_ref().map_or(1, |s| s.bits(0, 59, false));
        let minutes = minute.bits(0, 59, false);
        let hours = hour.bits(0, 23, false) as u32;
        let months = month.bits(1, 12, false) as u16;
        let fixed_time = !minute.star && !hour.star;
        let day_table = build_day_table(&dom, &dow);
        let every_day = months == ALL_MONTHS
            && day_table.iter().all(|row| {
                (28..=31u32)
                    .zip(row)
                    .all(|(len, &cell)| cell == ((1u64 << (len + 1)) - 2) as u32)
            });
        let mut cron = Cron {
            seconds,
            minutes,
            hours,
            months,
            fixed_time,
            with_seconds: second.is_some(),
            every_day,
            first_tod: 0,
            last_tod: 0,
            day_table,
            spec: Box::new(Specs {
                second,
                minute,
                hour,
                dom,
                month,
                dow,
                zone: ZoneMemo::default(),
            }),
        };
        // Empty fields are rejected by the parser (`can_fire`); 0 then is a
        // placeholder never read.
        cron.first_tod = cron.next_time_of_day(0).unwrap_or(0);
        cron.last_tod = cron.prev_time_of_day(LAST_SOD).unwrap_or(0);
        cron
    }

    /// Whether some month in the month field has a matching day.
    pub(crate) fn can_fire(&self) -> bool {
        (1..=12u32)
            .filter(|m| self.months & (1 << m) != 0)
            .any(|m| {
                let lens: &[u32] = match m {
                    2 => &[28, 29],
                    4 | 6 | 9 | 11 => &[30],
                    _ => &[31],
                };
                lens.iter()
                    .any(|&len| (0..7).any(|w1| self.day_table[w1][(len - 28) as usize] != 0))
            })
            && self.hours != 0
            && self.minutes != 0
            && self.seconds != 0
    }

    /// True when the expression is fixed-time for the DST rules: neither its
    /// minute nor its hour field starts with `*` (or `?`).
    pub fn is_fixed_time(&self) -> bool {
        self.fixed_time
    }

    /// True when the expression has a seconds field (6 fields).
    pub fn has_seconds(&self) -> bool {
        self.with_seconds
    }

    /// The first fire strictly after `after`, in `after`'s time zone.
    ///
    /// Returns `None` only when no fire exists before the year 9998.
    ///
    /// ```
    /// use botman_cron::Cron;
    ///
    /// let cron = Cron::parse("30 2 * * *")?;
    /// let after = "2025-03-08T12:00:00-05:00[America/New_York]".parse()?;
    /// // 02:30 does not exist on 2025-03-09 in New York: the fire moves to
    /// // the first instant after the gap, once.
    /// let next = cron.next_after(&after).unwrap();
    /// assert_eq!(next.to_string(), "2025-03-09T03:00:00-04:00[America/New_York]");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next_after(&self, after: &ZonedDateTime) -> Option<ZonedDateTime> {
        let tz = after.time_zone();
        let ts = self.next_in(after.timestamp(), tz, Some(after.offset().seconds()))?;
        Some(ts.to_zoned_datetime(tz.clone()))
    }

    /// The last fire strictly before `before`, in `before`'s time zone.
    pub fn prev_before(&self, before: &ZonedDateTime) -> Option<ZonedDateTime> {
        let tz = before.time_zone();
        let ts = self.prev_in(before.timestamp(), tz)?;
        Some(ts.to_zoned_datetime(tz.clone()))
    }

    /// The first fire strictly after the instant `after`, in zone `tz`.
    ///
    /// The same as [`Cron::next_after`] without building a `ZonedDateTime`;
    /// schedulers that keep instants use this.
    pub fn next_after_timestamp(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        self.next_in(after, tz, None)
    }

    /// The last fire strictly before the instant `before`, in zone `tz`.
    pub fn prev_before_timestamp(&self, before: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        self.prev_in(before, tz)
    }

    /// Fires strictly after `after`, in order, in `after`'s time zone.
    ///
    /// ```
    /// use botman_cron::Cron;
    ///
    /// let cron: Cron = "0 0 L * *".parse()?;
    /// let after = "2024-01-15T00:00:00+00:00[UTC]".parse()?;
    /// let days: Vec<i8> = cron.iter_after(&after).take(3).map(|z| z.day()).collect();
    /// assert_eq!(days, [31, 29, 31]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn iter_after(&self, after: &ZonedDateTime) -> CronIter<'_> {
        CronIter {
            cron: self,
            tz: after.time_zone().clone(),
            cursor: Some(after.timestamp()),
            forward: true,
        }
    }

    /// Fires strictly before `before`, newest first, in `before`'s time zone.
    pub fn iter_before(&self, before: &ZonedDateTime) -> CronIter<'_> {
        CronIter {
            cron: self,
            tz: before.time_zone().clone(),
            cursor: Some(before.timestamp()),
            forward: false,
        }
    }

    /// Whether `at` is a fire instant of this schedule in `at`'s time zone
    /// (whole seconds only; DST rules included).
    pub fn matches(&self, at: &ZonedDateTime) -> bool {
        let ts = at.timestamp();
        if ts.subsec_nanosecond() != 0 {
            return false;
        }
        let Ok(before) = Timestamp::from_second(ts.as_second() - 1) else {
            return false;
        };
        self.next_in(before, at.time_zone(), None) == Some(ts)
    }

    /// Matching days of a month as bits 1..=31, from the day count of its
    /// first day and its length.
    #[inline]
    fn day_mask(&self, first: i64, len: u32) -> u32 {
        self.day_table[weekday_from_days(first) as usize][(len - 28) as usize]
    }

    /// The first matching time of day at or after `sod` (seconds of day).
    #[inline]
    fn next_time_of_day(&self, sod: u32) -> Option<u32> {
        let (mut h, mut m, mut s) = (sod / 3600, sod / 60 % 60, sod % 60);
        loop {
            let nh = next_bit(u64::from(self.hours), h)?;
            if nh != h {
                (h, m, s) = (nh, 0, 0);
            }
            let Some(nm) = next_bit(self.minutes, m) else {
                (h, m, s) = (h + 1, 0, 0);
                continue;
            };
            if nm != m {
                (m, s) = (nm, 0);
            }
            let Some(ns) = next_bit(self.seconds, s) else {
                (m, s) = (m + 1, 0);
                continue;
            };
            return Some(h * 3600 + m * 60 + ns);
        }
    }

    /// The last matching time of day at or before `sod` (seconds of day).
    #[inline]
    fn prev_time_of_day(&self, sod: u32) -> Option<u32> {
        let (mut h, mut m, mut s) = (sod / 3600, sod / 60 % 60, sod % 60);
        loop {
            let nh = prev_bit(u64::from(self.hours), h)?;
            if nh != h {
                (h, m, s) = (nh, 59, 59);
            }
            let Some(nm) = prev_bit(self.minutes, m) else {
                if h == 0 {
                    return None;
                }
                (h, m, s) = (h - 1, 59, 59);
                continue;
            };
            if nm != m {
                (m, s) = (nm, 59);
            }
            let Some(ns) = prev_bit(self.seconds, s) else {
                if m == 0 {
                    if h == 0 {
                        return None;
                    }
                    (h, m, s) = (h - 1, 59, 59);
                } else {
                    (m, s) = (m - 1, 59);
                }
                continue;
            };
            return Some(h * 3600 + m * 60 + ns);
        }
    }

    /// The first matching local time at or after `start` (local seconds).
    ///
    /// The time of day is searched within a day by a carry-propagating walk
    /// over the hour, minute and second bitsets (one trailing-zero count per
    /// field); days come from the month's precomputed day mask, and months
    /// from the month bitset. Calendar arithmetic happens once at the start
    /// and once per month visited.
    pub(crate) fn next_local(&self, start: i64) -> Option<i64> {
        let mut days = start.div_euclid(SECS_PER_DAY);
        if days.abs() > MAX_ABS_DAYS {
            return None;
        }
        let mut sod = start.rem_euclid(SECS_PER_DAY) as u32;
        if self.every_day {
            // Today at or after `sod`, else tomorrow's first time.
            let t = match self.next_time_of_day(sod) {
                Some(t) => t,
                None => {
                    days += 1;
                    self.first_tod
                }
            };
            return Some(days * SECS_PER_DAY + i64::from(t));
        }
        let (mut year, mut month, mut day) = civil_from_days(days);
        let mut first = days - i64::from(day) + 1;
        loop {
            if self.months & (1 << month) == 0 {
                match next_bit(u64::from(self.months), month) {
                    Some(m) => month = m,
                    None => {
                        year += 1;
                        if year > MAX_YEAR {
                            return None;
                        }
                        month = self.months.trailing_zeros();
                    }
                }
                (day, sod) = (1, 0);
                first = days_from_civil(year, month, 1);
            }
            let mask = u64::from(self.day_mask(first, days_in_month(year, month)));
            // The start day, if it matches and has a time left; else the
            // next matching day at its first time.
            if mask & (1 << day) != 0
                && let Some(t) = self.next_time_of_day(sod)
            {
                return Some((first + i64::from(day) - 1) * SECS_PER_DAY + i64::from(t));
            }
            if let Some(d) = next_bit(mask, day + 1) {
                return Some((first + i64::from(d) - 1) * SECS_PER_DAY + i64::from(self.first_tod));
            }
            // Nothing left this month: the first day of the next one.
            first += i64::from(days_in_month(year, month));
            (day, sod) = (1, 0);
            month += 1;
            if month > 12 {
                (year, month) = (year + 1, 1);
                if year > MAX_YEAR {
                    return None;
                }
            }
        }
    }

    /// The last matching local time at or before `start` (local seconds).
    pub(crate) fn prev_local(&self, start: i64) -> Option<i64> {
        let days = start.div_euclid(SECS_PER_DAY);
        if days.abs() > MAX_ABS_DAYS {
            return None;
        }
        let mut sod = start.rem_euclid(SECS_PER_DAY) as u32;
        if self.every_day {
            // Today at or before `sod`, else yesterday's last time.
            return Some(match self.prev_time_of_day(sod) {
                Some(t) => days * SECS_PER_DAY + i64::from(t),
                None => (days - 1) * SECS_PER_DAY + i64::from(self.last_tod),
            });
        }
        let (mut year, mut month, mut day) = civil_from_days(days);
        let mut first = days - i64::from(day) + 1;
        loop {
            if self.months & (1 << month) == 0 {
                match prev_bit(u64::from(self.months), month) {
                    Some(m) if m >= 1 => month = m,
                    _ => {
                        year -= 1;
                        if year < MIN_YEAR {
                            return None;
                        }
                        month = 15 - self.months.leading_zeros();
                    }
                }
                (day, sod) = (days_in_month(year, month), LAST_SOD);
                first = days_from_civil(year, month, 1);
            }
            let mask = u64::from(self.day_mask(first, days_in_month(year, month)));
            if mask & (1 << day) != 0
                && let Some(t) = self.prev_time_of_day(sod)
            {
                return Some((first + i64::from(day) - 1) * SECS_PER_DAY + i64::from(t));
            }
            // Day bits start at 1: bit 0 is never set.
            if let Some(d) = prev_bit(mask, day - 1) {
                return Some((first + i64::from(d) - 1) * SECS_PER_DAY + i64::from(self.last_tod));
            }
            // Nothing earlier this month: the last day of the previous one.
            month -= 1;
            if month == 0 {
                (year, month) = (year - 1, 12);
                if year < MIN_YEAR {
                    return None;
                }
            }
            let len = days_in_month(year, month);
            first -= i64::from(len);
            (day, sod) = (len, LAST_SOD);
        }
    }

    /// Forward search across the zone's offset segments.
    ///
    /// Between two transitions the offset is constant and local time maps
    /// one-to-one onto instants, so a plain local search is exact there. At a
    /// transition the DST rules decide: in a gap, a fixed-time expression that
    /// has a match inside it fires once at the transition; in a repeated
    /// interval, a fixed-time expression skips the second copy.
    fn next_in(
        &self,
        after: Timestamp,
        tz: &TimeZone,
        offset_hint: Option<i32>,
    ) -> Option<Timestamp> {
        with_zone(tz, &self.spec.zone, |zone| {
            self.next_in_zone(after, zone, offset_hint)
        })
    }

    fn next_in_zone(
        &self,
        after: Timestamp,
        zone: &Zone<'_>,
        offset_hint: Option<i32>,
    ) -> Option<Timestamp> {
        // `after` lies in [start - 1, start) and transitions fall on whole
        // seconds, so the offset at `after` is the offset at `start - 1`.
        let start = floor_second(after).checked_add(1)?;
        if let Some(fixed) = zone.fixed {
            // UTC and fixed offsets: no transitions, no DST rules.
            return Timestamp::from_second(self.next_local(start + fixed)? - fixed).ok();
        }
        let mut transitions = zone.following(start - 1);
        let mut offset = match offset_hint {
            Some(o) => i64::from(o),
            None => transitions.offset_now()?,
        };
        let mut next_tr = transitions.next();
        if let Some((t, o)) = next_tr
            && t == start
        {
            // A transition exactly at `start`: `start` lies after it.
            offset = o;
            next_tr = transitions.next();
        }
        let mut start_local = start + offset;
        if self.fixed_time && next_tr.is_some() {
            // Did the segment holding `start` begin with a transition that
            // matters to fixed-time rules? (Zones without transitions skip.)
            if let Some((p_at, _, before)) = transitions.last_before_yielded(start) {
                if before > offset {
                    // Fall back: the local times up to P + before already fired.
                    start_local = start_local.max(p_at + before);
                } else if before < offset && p_at == start {
                    // Spring forward exactly at `start`: a match in the gap fires now.
                    if self.next_local(p_at + before)? < p_at + offset {
                        return Timestamp::from_second(start).ok();
                    }
                }
            }
        }
        let mut candidate = self.next_local(start_local)?;
        loop {
            let Some((t, new_offset)) = next_tr else {
                return Timestamp::from_second(candidate - offset).ok();
            };
            let bound = t + offset;
            if candidate < bound {
                return Timestamp::from_second(candidate - offset).ok();
            }
            if new_offset > offset {
                // Spring forward: local [bound, t + new_offset) does not exist.
                if self.fixed_time && candidate < t + new_offset {
                    return Timestamp::from_second(t).ok();
                }
                let start_local = t + new_offset;
                if candidate < start_local {
                    candidate = self.next_local(start_local)?;
                }
            } else if !self.fixed_time && new_offset < offset {
                // Fall back: a wildcard expression fires again in the
                // repeated local times, so search them from their start.
                candidate = self.next_local(t + new_offset)?;
            }
            // Otherwise (fixed-time fall back, or a change of name only) the
            // search resumes at `bound`, where `candidate` already is.
            offset = new_offset;
            next_tr = transitions.next();
        }
    }

    /// Backward search across the zone's offset segments (see `next_in`).
    fn prev_in(&self, before: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        with_zone(tz, &self.spec.zone, |zone| self.prev_in_zone(before, zone))
    }

    fn prev_in_zone(&self, before: Timestamp, zone: &Zone<'_>) -> Option<Timestamp> {
        let end = if before.subsec_nanosecond() > 0 {
            floor_second(before)
        } else {
            floor_second(before).checked_sub(1)?
        };
        if let Some(fixed) = zone.fixed {
            return Timestamp::from_second(self.prev_local(end + fixed)? - fixed).ok();
        }
        let mut offset = zone.offset_at(end)?;
        // The transition that starts `end`'s segment, if any.
        let mut seg = zone.last_transition(end);
        let mut searched_from = end + offset;
        let mut candidate = self.prev_local(searched_from)?;
        loop {
            let Some((p_at, _, prev_offset)) = seg else {
                return Timestamp::from_second(candidate - offset).ok();
            };
            let seg_start = if self.fixed_time && prev_offset > offset {
                // After a fall-back, fixed-time skips the repeated local times.
                p_at + prev_offset
            } else {
                p_at + offset
            };
            if candidate >= seg_start {
                return Timestamp::from_second(candidate - offset).ok();
            }
            if self.fixed_time && prev_offset < offset && candidate >= p_at + prev_offset {
                // A match inside the spring-forward gap fires at the transition.
                return Timestamp::from_second(p_at).ok();
            }
            // The previous segment's local times end at `last_local`; after a
            // fall back they reach above where this segment's search began.
            let last_local = p_at - 1 + prev_offset;
            if candidate > last_local || last_local > searched_from {
                candidate = self.prev_local(last_local)?;
                searched_from = last_local;
            }
            offset = prev_offset;
            seg = zone.last_transition(p_at - 1);
        }
    }
}

#[inline]
fn floor_second(ts: Timestamp) -> i64 {
    let s = ts.as_second();
    if ts.subsec_nanosecond() < 0 { s - 1 } else { s }
}

/// The first set bit at or above `from`, if any.
#[inline]
fn next_bit(bits: u64, from: u32) -> Option<u32> {
    if from >= 64 {
        return None;
    }
    let rest = bits & (u64::MAX << from);
    if rest == 0 {
        None
    } else {
        Some(rest.trailing_zeros())
    }
}

/// The last set bit at or below `from`, if any.
#[inline]
fn prev_bit(bits: u64, from: u32) -> Option<u32> {
    let rest = if from >= 63 {
        bits
    } else {
        bits & ((2u64 << from) - 1)
    };
    if rest == 0 {
        None
    } else {
        Some(63 - rest.leading_zeros())
    }
}

/// Folds day-of-month, day-of-week and their modifiers into one table of
/// matching days per (weekday of the 1st, month length).
fn build_day_table(dom: &Spec, dow: &Spec) -> [[u32; 4]; 7] {
    let dom_plain = dom.bits(1, 31, false) as u32;
    let dow_plain = dow.bits(0, 6, true) & 0x7F;
    // Days 1..=37 of a month starting on a Sunday whose weekday is in the
    // set (the 7-day pattern repeated); a month starting on weekday w1 reads
    // the same pattern shifted by w1.
    let week_pattern = (dow_plain
        | dow_plain << 7
        | dow_plain << 14
        | dow_plain << 21
        | dow_plain << 28
        | dow_plain << 35)
        << 1;
    let either = !(dom.star || dow.star);
    // Only the `L`, `W` and `#` items need work per cell.
    let dom_special: &[Item] = if dom.is_plain() { &[] } else { &dom.items };
    let dow_special: &[Item] = if dow.is_plain() { &[] } else { &dow.items };
    let mut table = [[0u32; 4]; 7];
    for (w1, row) in table.iter_mut().enumerate() {
        let w1 = w1 as u32;
        for (li, cell) in row.iter_mut().enumerate() {
            let len = 28 + li as u32;
            let valid = ((1u64 << (len + 1)) - 2) as u32;
            let mut dom_mask = dom_plain & valid;
            let mut dow_mask = ((week_pattern >> w1) as u32) & valid;
            if !dom_special.is_empty() {
                dom_mask |= dom_modifier_days(dom_special, w1, len);
            }
            if !dow_special.is_empty() {
                dow_mask |= dow_modifier_days(dow_special, w1, len);
            }
            // Vixie cron and cronie: when either day field is unrestricted
            // (starts with `*` or is `?`) both must match; else either may.
            *cell = if either {
                dom_mask | dow_mask
            } else {
                dom_mask & dow_mask
            };
        }
    }
    table
}

/// The days that day-of-month's `L`, `L-n`, `nW` and `LW` items select in a
/// month of `len` days whose 1st falls on weekday `w1`.
fn dom_modifier_days(items: &[Item], w1: u32, len: u32) -> u32 {
    let weekday = |d: u32| (w1 + d - 1) % 7;
    let mut mask = 0u32;
    for item in items {
        match *item {
            Item::Last { offset } if u32::from(offset) < len => {
                mask |= 1 << (len - u32::from(offset));
            }
            Item::NearestWeekday { day } if u32::from(day) <= len => {
                let day = u32::from(day);
                let d = match weekday(day) {
                    6 if day > 1 => day - 1,
                    6 => day + 2,
                    0 if day < len => day + 1,
                    0 => day - 2,
                    _ => day,
                };
                mask |= 1 << d;
            }
            Item::LastWeekday => {
                let d = match weekday(len) {
                    6 => len - 1,
                    0 => len - 2,
                    _ => len,
                };
                mask |= 1 << d;
            }
            _ => {}
        }
    }
    mask
}

/// The days that day-of-week's `n#k` and `nL` items select in a month of
/// `len` days whose 1st falls on weekday `w1`.
fn dow_modifier_days(items: &[Item], w1: u32, len: u32) -> u32 {
    let mut mask = 0u32;
    for item in items {
        match *item {
            Item::NthWeekday { weekday: wd, nth } => {
                let first = 1 + (u32::from(wd) + 7 - w1) % 7;
                let d = first + 7 * (u32::from(nth) - 1);
                if d <= len {
                    mask |= 1 << d;
                }
            }
            Item::LastWeekdayOf { weekday: wd } => {
                let last_wd = (w1 + len - 1) % 7;
                let d = len - (last_wd + 7 - u32::from(wd)) % 7;
                mask |= 1 << d;
            }
            _ => {}
        }
    }
    mask
}

/// An iterator over fire instants; see [`Cron::iter_after`].
#[derive(Debug)]
pub struct CronIter<'a> {
    cron: &'a Cron,
    tz: TimeZone,
    cursor: Option<Timestamp>,
    forward: bool,
}

impl Iterator for CronIter<'_> {
    type Item = ZonedDateTime;

    fn next(&mut self) -> Option<ZonedDateTime> {
        let cur = self.cursor?;
        let next = if self.forward {
            self.cron.next_in(cur, &self.tz, None)
        } else {
            self.cron.prev_in(cur, &self.tz)
        };
        self.cursor = next;
        next.map(|ts| ts.to_zoned_datetime(self.tz.clone()))
    }
}

impl PartialEq for Cron {
    fn eq(&self, other: &Cron) -> bool {
        self.seconds == other.seconds
            && self.minutes == other.minutes
            && self.hours == other.hours
            && self.months == other.months
            && self.fixed_time == other.fixed_time
            && self.day_table == other.day_table
    }
}

impl Eq for Cron {}

impl fmt::Debug for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Cron").field(&self.to_string()).finish()
    }
}

/// Prints a normalised form that parses back to an equal `Cron`: one space
/// between fields, names as numbers, `?` as `*`, macros expanded.
impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.spec;
        if let Some(sec) = &s.second {
            write!(f, "{sec} ")?;
        }
        write!(f, "{} {} {} {} {}", s.minute, s.hour, s.dom, s.month, s.dow)
    }
}

impl FromStr for Cron {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Cron, ParseError> {
        Cron::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_bits() {
        assert_eq!(next_bit(0b1010, 0), Some(1));
        assert_eq!(next_bit(0b1010, 2), Some(3));
        assert_eq!(next_bit(0b1010, 4), None);
        assert_eq!(next_bit(u64::MAX, 64), None);
        assert_eq!(prev_bit(0b1010, 2), Some(1));
        assert_eq!(prev_bit(0b1010, 0), None);
        assert_eq!(prev_bit(1 << 63, 63), Some(63));
        assert_eq!(prev_bit(1 << 63, 100), Some(63));
    }

    #[test]
    fn ok_size() {
        assert!(core::mem::size_of::<Cron>() <= 160);
    }
}
