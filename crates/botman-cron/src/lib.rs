//! Cron text to fire instants: the scheduling core of botman.
//!
//! `botman-cron` parses a cron expression once into per-field bitsets and
//! answers "when does it fire next?" with a carry-propagating search over
//! them: a few tens of nanoseconds whatever the expression, in any time zone,
//! with the daylight-saving rules of cronie. It is pure: no I/O, no threads,
//! no allocation per query. Its only dependency is [jiff].
//!
//! ```
//! use botman_cron::Cron;
//! use jiff::ZonedDateTime;
//!
//! let cron: Cron = "0 9 * * MON-FRI".parse()?;
//! let after: ZonedDateTime = "2025-03-07T10:00:00+01:00[Europe/Berlin]".parse()?;
//! let next = cron.next_after(&after).unwrap();
//! assert_eq!(next.to_string(), "2025-03-10T09:00:00+01:00[Europe/Berlin]");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Tour
//!
//! - [`Cron`]: a parsed expression. [`Cron::parse`] (or `str::parse`),
//!   [`Cron::next_after`], [`Cron::prev_before`], [`Cron::iter_after`],
//!   [`Cron::iter_before`], [`Cron::matches`], and the `Timestamp` forms
//!   [`Cron::next_after_timestamp`] / [`Cron::prev_before_timestamp`] for
//!   schedulers. `Display` prints a normalised expression that parses back to
//!   an equal `Cron`.
//! - [`ParseError`]: what was wrong, in which [`Field`], at which column,
//!   with the offending text and a [`ParseErrorKind`].
//!
//! # Syntax
//!
//! Five fields `minute hour day-of-month month day-of-week`, or six with a
//! leading `second`. The count is never guessed from the values: five fields
//! fire on whole minutes, six on seconds. Fields are separated by any ASCII
//! whitespace.
//!
//! | form | meaning | fields |
//! |---|---|---|
//! | `*`, `?` | every value | all |
//! | `5`, `1,5,9` | values, lists | all |
//! | `1-5`, `MON-FRI`, `jan-mar` | ranges, with names in any case | all |
//! | `*/15`, `1-30/7`, `5/15` | steps (`5/15` = from 5 to the end) | all |
//! | `JAN`-`DEC`, `SUN`-`SAT` | names | month, day-of-week |
//! | `0`, `7` | Sunday | day-of-week |
//! | `L`, `L-3` | last day; 3 days before the last day (the 28th of a 31-day month) | day-of-month |
//! | `15W`, `LW` | weekday nearest the 15th (never crossing the month), last weekday | day-of-month |
//! | `5L`, `FRIL` | last Friday of the month | day-of-week |
//! | `5#3`, `FRI#3` | third Friday of the month | day-of-week |
//! | `@yearly` `@annually` `@monthly` `@weekly` `@daily` `@midnight` `@hourly` | macros | whole expression |
//!
//! Day-of-month and day-of-week combine as in Vixie cron and cronie: a day
//! field counts as *unrestricted* when it starts with `*` (so `*/2` too) or
//! `?`. When both are restricted a day matches if either matches; otherwise
//! both must (and an unrestricted one matches every day it allows). `L`, `W`
//! and `#` items combine the same way.
//!
//! Rejected with a [`ParseError`]: reversed ranges (`5-1`), a zero step,
//! values out of range, a `W` item together with other items, `#` outside
//! 1-5, `L`/`W`/`#` outside the day fields, the wrong number of fields, and
//! expressions that can never fire (`0 0 30 2 *`, `0 0 31 4,6,9,11 *`). `5-5`
//! means 5; a step larger than the range selects only its start.
//!
//! # Time zones and daylight saving time
//!
//! A fire time is a *local* time in the zone of the instant you search from.
//! Zones come from jiff with the tz database bundled, so the crate works on a
//! machine without `/usr/share/zoneinfo`. Where local time jumps, the rules
//! are cronie's:
//!
//! - An expression is **fixed-time** unless its minute or hour field starts
//!   with `*` (or `?`); otherwise it is a **wildcard** expression.
//! - A fixed time that does not exist (spring forward) fires **once, at the
//!   first instant after the gap**: `30 2 * * *` in New York on 2025-03-09
//!   fires at `03:00:00-04:00`. Several fixed times in the same gap still fire
//!   once.
//! - A fixed time that occurs twice (fall back) fires **once, at its first
//!   occurrence**: `30 1 * * *` on 2023-11-05 in New York fires at
//!   `01:30-04:00` only.
//! - A wildcard expression has **no fires in the skipped interval**, and
//!   fires in **both copies** of a repeated hour: `0 * * * *` fires at
//!   `01:00-04:00` and again at `01:00-05:00`.
//!
//! ```
//! use botman_cron::Cron;
//!
//! let hourly: Cron = "0 * * * *".parse()?;
//! let after = "2023-11-05T00:30:00-04:00[America/New_York]".parse()?;
//! let fires: Vec<String> = hourly
//!     .iter_after(&after)
//!     .take(3)
//!     .map(|z| z.timestamp().display_with_offset(z.offset()).to_string())
//!     .collect();
//! assert_eq!(fires, [
//!     "2023-11-05T01:00:00-04:00",
//!     "2023-11-05T01:00:00-05:00",
//!     "2023-11-05T02:00:00-05:00",
//! ]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Cost
//!
//! A query walks at most a few fields per month visited and one table lookup
//! per month skipped; an expression that fires once in decades (`0 0 29 2
//! MON#5`-like) visits one month per year. Zone offsets cost one or two
//! transition lookups in jiff per query. Searches stop at the year 9998 and
//! return `None`; nothing loops for long. `bench/` measures it against the
//! `cron`, `croner` and `saffron` crates.
//!
//! # Crate features
//!
//! None. jiff is built with `tzdb-bundle-always` (the bundled database) and
//! `tzdb-zoneinfo` (the system one, preferred when present).
//!
//! # What this crate does not do
//!
//! It does not run anything, sleep, or know about bots: that is the `botman`
//! crate. It does not accept Quartz's year field or `L` alone in day-of-week.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod calendar;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod parse;
#[cfg(test)]
mod reference;
mod schedule;
mod spec;
mod zone;

pub use crate::error::{Field, ParseError, ParseErrorKind};
pub use crate::schedule::{Cron, CronIter};
pub(crate) use crate::spec::{Item, Spec};

/// Re-exported so users name the same jiff types this crate takes.
pub use jiff;
