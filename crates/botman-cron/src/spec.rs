//! The parsed form of each field, kept for `Display` and for building bitsets.

use core::fmt;

/// One item of a field's comma-separated list, normalised (names become
/// numbers, `?` becomes `*`, `5/15` becomes `5-59/15`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Item {
    /// `*` or `*/step` over the whole field.
    All { step: u32 },
    /// `start-end/step`; `start == end` prints as a single value.
    Range { start: u32, end: u32, step: u32 },
    /// Day-of-month `L` (offset 0) or `L-offset`.
    Last { offset: u32 },
    /// Day-of-month `dayW`: the weekday nearest to `day`, within the month.
    NearestWeekday { day: u32 },
    /// Day-of-month `LW`: the last weekday (Mon-Fri) of the month.
    LastWeekday,
    /// Day-of-week `weekday#nth`.
    NthWeekday { weekday: u32, nth: u32 },
    /// Day-of-week `weekdayL`: the last such weekday of the month.
    LastWeekdayOf { weekday: u32 },
}

/// A whole field: its items and whether it counts as unrestricted for the
/// day-of-month/day-of-week rule (it starts with `*` or `?`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Spec {
    pub(crate) items: Box<[Item]>,
    pub(crate) star: bool,
}

impl Spec {
    /// Plain values as a bitset, for fields whose items are `All` or `Range`.
    /// `max` is the highest value `*` covers; `wrap7` folds 7 into 0 (Sunday).
    pub(crate) fn bits(&self, min: u32, max: u32, wrap7: bool) -> u64 {
        let mut bits = 0u64;
        for item in self.items.iter() {
            let (start, end, step) = match *item {
                Item::All { step } => (min, max, step),
                Item::Range { start, end, step } => (start, end, step),
                _ => continue,
            };
            let mut v = start;
            while v <= end {
                let b = if wrap7 && v == 7 { 0 } else { v };
                bits |= 1u64 << b;
                v = match v.checked_add(step) {
                    Some(n) => n,
                    None => break,
                };
            }
        }
        bits
    }
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, item) in self.items.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match *item {
                Item::All { step: 1 } => f.write_str("*")?,
                Item::All { step } => write!(f, "*/{step}")?,
                Item::Range { start, end, .. } if start == end => write!(f, "{start}")?,
                Item::Range {
                    start,
                    end,
                    step: 1,
                } => write!(f, "{start}-{end}")?,
                Item::Range { start, end, step } => write!(f, "{start}-{end}/{step}")?,
                Item::Last { offset: 0 } => f.write_str("L")?,
                Item::Last { offset } => write!(f, "L-{offset}")?,
                Item::NearestWeekday { day } => write!(f, "{day}W")?,
                Item::LastWeekday => f.write_str("LW")?,
                Item::NthWeekday { weekday, nth } => write!(f, "{weekday}#{nth}")?,
                Item::LastWeekdayOf { weekday } => write!(f, "{weekday}L")?,
            }
        }
        Ok(())
    }
}
