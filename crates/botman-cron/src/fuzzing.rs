//! The checks of the fuzz target `fuzz/fuzz_targets/parse_roundtrip.rs`, kept
//! here so that the target stays a one-line wrapper and the plain test
//! `tests/fuzz_corpus.rs` replays the kept corpus and past crashes through
//! exactly the same checks on stable Rust, without libFuzzer. Not part of the
//! API: hidden, and free to change.

use jiff::tz::TimeZone;
use jiff::{Timestamp, ZonedDateTime};

use crate::Cron;

/// Zones a fuzz input picks from: UTC, the common DST rules, a half-hour
/// shift (Lord Howe), a midnight transition (São Paulo) and a fractional
/// fixed offset (Kolkata).
const ZONES: [&str; 6] = [
    "UTC",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "America/Sao_Paulo",
    "Asia/Kolkata",
];

/// One fuzz input: 8 bytes of instant and 1 of zone, then the expression.
///
/// parse -> Display -> parse must give an equal schedule with the same
/// Display, and searching from the instant (1900-2200) in the zone must not
/// panic, must move forward, must return a fire that `matches`, and must
/// leave no fire between the instant and the next one. Panics when a check
/// fails; inputs too short or not UTF-8 and texts that do not parse pass.
pub fn parse_roundtrip(data: &[u8]) {
    if data.len() < 9 {
        return;
    }
    let (head, text) = data.split_at(9);
    let Ok(text) = core::str::from_utf8(text) else {
        return;
    };
    let Ok(cron) = Cron::parse(text) else {
        return;
    };
    let shown = cron.to_string();
    let again = Cron::parse(&shown).expect("Display output must parse");
    assert_eq!(again, cron, "{text:?} printed as {shown:?}");
    assert_eq!(again.to_string(), shown, "Display is not stable");

    // An instant between 1900 and 2200, and a zone, from the first bytes.
    let secs = i64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
    let secs = secs.rem_euclid(9_467_280_000) - 2_208_988_800;
    let tz = TimeZone::get(ZONES[usize::from(head[8]) % ZONES.len()]).expect("bundled zone");
    let after = ZonedDateTime::new(Timestamp::from_second(secs).expect("in range"), tz);
    if let Some(next) = cron.next_after(&after) {
        assert!(next.timestamp() > after.timestamp());
        assert!(cron.matches(&next), "{shown:?}: next {next} does not match");
        let back = cron.prev_before(&next).map(|z| z.timestamp());
        assert!(
            back.is_none_or(|b| b <= after.timestamp()),
            "{shown:?}: fire between {after} and {next}"
        );
    }
    if let Some(prev) = cron.prev_before(&after) {
        assert!(prev.timestamp() < after.timestamp());
    }
}
