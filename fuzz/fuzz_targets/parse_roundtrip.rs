//! parse -> Display -> parse must give an equal schedule, and searching from
//! any instant in any of a few zones must not panic and must move forward.
#![no_main]

use botman_cron::Cron;
use botman_cron::jiff::tz::TimeZone;
use botman_cron::jiff::{Timestamp, ZonedDateTime};
use libfuzzer_sys::fuzz_target;

const ZONES: [&str; 6] = [
    "UTC",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "America/Sao_Paulo",
    "Asia/Kolkata",
];

fuzz_target!(|data: &[u8]| {
    if data.len() < 9 {
        return;
    }
    let (head, text) = data.split_at(9);
    let Ok(text) = std::str::from_utf8(text) else {
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
    let secs = i64::from_le_bytes(head[..8].try_into().unwrap());
    let secs = secs.rem_euclid(9_467_280_000) - 2_208_988_800;
    let tz = TimeZone::get(ZONES[head[8] as usize % ZONES.len()]).unwrap();
    let after = ZonedDateTime::new(Timestamp::from_second(secs).unwrap(), tz);
    if let Some(next) = cron.next_after(&after) {
        assert!(next.timestamp() > after.timestamp());
        assert!(cron.matches(&next), "{shown:?}: next {next} does not match");
        let back = cron.prev_before(&next).map(|z| z.timestamp());
        assert!(back.is_none_or(|b| b <= after.timestamp()), "{shown:?}: fire between {after} and {next}");
    }
    if let Some(prev) = cron.prev_before(&after) {
        assert!(prev.timestamp() < after.timestamp());
    }
});
