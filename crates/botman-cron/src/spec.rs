//! The parsed form of each field, kept for `Display` and for building bitsets.

use core::fmt;

/// One item of a field's comma-separated list, normalised (names become
/// numbers, `?` becomes `*`, `5/15` becomes `5-59/15`).
///
/// Every value fits a byte (steps of 60 or more select only their start, so
/// the parser caps them at 255): an item is 4 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Item {
    /// `*` or `*/step` over the whole field.
    All { step: u8 },
    /// `start-end/step`; `start == end` prints as a single value.
    Range { start: u8, end: u8, step: u8 },
    /// Day-of-month `L` (offset 0) or `L-offset`.
    Last { offset: u8 },
    /// Day-of-month `dayW`: the weekday nearest to `day`, within the month.
    NearestWeekday { day: u8 },
    /// Day-of-month `LW`: the last weekday (Mon-Fri) of the month.
    LastWeekday,
    /// Day-of-week `weekday#nth`.
    NthWeekday { weekday: u8, nth: u8 },
    /// Day-of-week `weekdayL`: the last such weekday of the month.
    LastWeekdayOf { weekday: u8 },
}

/// How many items a field keeps without allocating.
const INLINE: usize = 6;

/// A field's items: inline for the usual handful, on the heap beyond.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ItemList {
    Inline { len: u8, items: [Item; INLINE] },
    Heap(Vec<Item>),
}

impl ItemList {
    pub(crate) const fn new() -> ItemList {
        ItemList::Inline {
            len: 0,
            items: [Item::LastWeekday; INLINE],
        }
    }

    pub(crate) fn push(&mut self, item: Item) {
        match self {
            ItemList::Inline { len, items } if (*len as usize) < INLINE => {
                items[*len as usize] = item;
                *len += 1;
            }
            ItemList::Inline { items, .. } => {
                let mut v = items.to_vec();
                v.push(item);
                *self = ItemList::Heap(v);
            }
            ItemList::Heap(v) => v.push(item),
        }
    }
}

impl core::ops::Deref for ItemList {
    type Target = [Item];

    fn deref(&self) -> &[Item] {
        match self {
            ItemList::Inline { len, items } => &items[..*len as usize],
            ItemList::Heap(v) => v,
        }
    }
}

/// A whole field: its items and whether it counts as unrestricted for the
/// day-of-month/day-of-week rule (it starts with `*` or `?`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Spec {
    pub(crate) items: ItemList,
    pub(crate) star: bool,
}

impl Spec {
    /// Plain values as a bitset, for fields whose items are `All` or `Range`.
    /// `max` is the highest value `*` covers; `wrap7` folds 7 into 0 (Sunday).
    pub(crate) fn bits(&self, min: u32, max: u32, wrap7: bool) -> u64 {
        let mut bits = 0u64;
        for item in self.items.iter() {
            let (start, end, step) = match *item {
                Item::All { step } => (min, max, u32::from(step)),
                Item::Range { start, end, step } => {
                    (u32::from(start), u32::from(end), u32::from(step))
                }
                _ => continue,
            };
            if start > end || end > 63 {
                continue;
            }
            if step == 1 {
                // A contiguous run of bits, without a loop.
                bits |= (u64::MAX >> (63 - end)) & (u64::MAX << start);
            } else {
                let mut v = start;
                while v <= end {
                    bits |= 1u64 << v;
                    v += step;
                }
            }
        }
        if wrap7 && bits & (1 << 7) != 0 {
            // Sunday written as 7.
            bits = (bits & !(1 << 7)) | 1;
        }
        bits
    }

    /// True when every item is a plain value, range or `*` (no `L`, `W`,
    /// `#`): the field is its bitset alone.
    pub(crate) fn is_plain(&self) -> bool {
        self.items
            .iter()
            .all(|i| matches!(i, Item::All { .. } | Item::Range { .. }))
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
