//! Differential test against the `croner` crate (4.x) in UTC, on random
//! expressions built from the forms both crates read the same way.
//!
//! Forms left out because the two differ by design:
//! - A day field starting with `*` but not equal to `*` (`*/2`), next to a
//!   restricted other day field: we follow Vixie cron and cronie (the field
//!   is unrestricted, so both must match); croner treats it as restricted and
//!   ORs the two.
//! - `?`: croner substitutes it with the current time's value in some
//!   versions; we read it as `*`.
//! - `a/n` without a range (`5/15`): croner rejects it unless its "sloppy
//!   ranges" option is on; we read it as `a-max/n` like cronie.
//! - DST: croner moves a wildcard expression's gap fires instead of dropping
//!   them; only UTC is compared here (the DST rules have their own tests and a
//!   brute-force reference).

use std::str::FromStr;

use botman_cron::Cron;
use botman_cron::jiff::Timestamp;
use botman_cron::jiff::tz::TimeZone;
use chrono::{DateTime, Utc};
use proptest::prelude::*;

fn field(lo: u32, hi: u32) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just("*".to_owned()),
        2 => (1..=hi.min(20)).prop_map(|s| format!("*/{s}")),
        2 => (lo..=hi).prop_map(|x| x.to_string()),
        2 => (lo..=hi, lo..=hi).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b))),
        1 => (lo..=hi, lo..=hi, 1..=7u32).prop_map(|(a, b, s)| format!("{}-{}/{s}", a.min(b), a.max(b))),
        2 => prop::collection::vec(lo..=hi, 1..4)
            .prop_map(|xs| xs.iter().map(u32::to_string).collect::<Vec<_>>().join(",")),
    ]
}

/// Day fields: plain forms, or `*`, never `*/n` (see the module docs).
fn day_field(lo: u32, hi: u32, special: Vec<String>) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just("*".to_owned()),
        2 => (lo..=hi).prop_map(|x| x.to_string()),
        2 => (lo..=hi, lo..=hi).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b))),
        1 => prop::collection::vec(lo..=hi, 1..4)
            .prop_map(|xs| xs.iter().map(u32::to_string).collect::<Vec<_>>().join(",")),
        1 => prop::sample::select(special),
    ]
}

fn expression() -> impl Strategy<Value = String> {
    let dom_special = vec![
        "L".into(),
        "15W".into(),
        "1W".into(),
        "31W".into(),
        "LW".into(),
    ];
    let dow_special = vec![
        "5L".into(),
        "1#2".into(),
        "0#1".into(),
        "6#5".into(),
        "MON-FRI".into(),
        "SUN,SAT".into(),
    ];
    (
        prop::option::weighted(0.2, field(0, 59)),
        field(0, 59),
        field(0, 23),
        day_field(1, 31, dom_special),
        prop_oneof![3 => Just("*".to_owned()), 1 => field(1, 12)],
        day_field(0, 7, dow_special),
    )
        .prop_map(|(s, mi, h, dom, mo, dow)| match s {
            Some(s) => format!("{s} {mi} {h} {dom} {mo} {dow}"),
            None => format!("{mi} {h} {dom} {mo} {dow}"),
        })
}

fn croner_next(expr: &str, after: DateTime<Utc>, n: usize) -> Option<Vec<i64>> {
    let parser = croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .build();
    let cron = parser.parse(expr).ok()?;
    let mut out = Vec::with_capacity(n);
    let mut t = after;
    for _ in 0..n {
        t = cron.find_next_occurrence(&t, false).ok()?;
        out.push(t.timestamp());
    }
    Some(out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn same_fires_as_croner_in_utc(expr in expression(), secs in 946_684_800i64..4_102_444_800) {
        let Ok(ours) = Cron::parse(&expr) else {
            // Only expressions that can never fire are ours to reject here.
            prop_assert!(croner_next(&expr, DateTime::from_timestamp(secs, 0).unwrap(), 1).is_none(), "{}", expr);
            return Ok(());
        };
        let after = DateTime::<Utc>::from_timestamp(secs, 0).unwrap();
        let Some(theirs) = croner_next(&expr, after, 5) else { return Ok(()) };
        let mut mine = Vec::new();
        let mut t = Timestamp::from_second(secs).unwrap();
        for _ in 0..5 {
            t = ours.next_after_timestamp(t, &TimeZone::UTC).unwrap();
            mine.push(t.as_second());
        }
        prop_assert_eq!(mine, theirs, "{} after {}", expr, after);
    }
}

#[test]
fn croner_parses_what_we_compare() {
    // Guard against the differential test silently comparing nothing.
    for expr in [
        "*/5 * * * *",
        "0 0 L * *",
        "0 0 15W * *",
        "0 0 * * 5L",
        "0 0 * * 1#2",
        "*/10 * * * * *",
    ] {
        assert!(
            croner::Cron::from_str(expr).is_ok() || croner_next(expr, Utc::now(), 1).is_some(),
            "{expr}"
        );
    }
}
