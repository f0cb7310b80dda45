//! The daylight-saving rules (cronie's), zone by zone. Each row: expression,
//! zone, search start, the fires expected. Every row is also walked
//! backwards from its last fire, and each fire must satisfy `matches`.

use botman_cron::Cron;
use botman_cron::jiff::tz::TimeZone;
use botman_cron::jiff::{Timestamp, ZonedDateTime};

fn rfc3339(z: &ZonedDateTime) -> String {
    z.timestamp().display_with_offset(z.offset()).to_string()
}

#[track_caller]
fn check(expr: &str, zone: &str, after: &str, want: &[&str]) {
    let cron = Cron::parse(expr).expect("valid");
    let tz = TimeZone::get(zone).expect("bundled zone");
    let after: Timestamp = after.parse().expect("instant");
    let start = ZonedDateTime::new(after, tz);
    let got: Vec<String> = cron
        .iter_after(&start)
        .take(want.len())
        .map(|z| rfc3339(&z))
        .collect();
    assert_eq!(got, want, "{expr:?} in {zone} after {after}");
    let last = cron.iter_after(&start).nth(want.len() - 1).expect("fires");
    let mut back: Vec<String> = cron
        .iter_before(&last)
        .take(want.len() - 1)
        .map(|z| rfc3339(&z))
        .collect();
    back.reverse();
    back.push(rfc3339(&last));
    assert_eq!(back, want, "{expr:?} in {zone}, backwards");
    for z in cron.iter_after(&start).take(want.len()) {
        assert!(cron.matches(&z), "{expr:?}: {z} should match");
    }
}

#[test]
fn new_york_spring_forward() {
    // A fixed time in the gap fires once, at the first instant after it.
    check(
        "30 2 * * *",
        "America/New_York",
        "2025-03-09T00:00:00-05:00",
        &["2025-03-09T03:00:00-04:00", "2025-03-10T02:30:00-04:00"],
    );
    // Two fixed times in the same gap still fire once.
    check(
        "0,30 2 * * *",
        "America/New_York",
        "2025-03-09T00:00:00-05:00",
        &[
            "2025-03-09T03:00:00-04:00",
            "2025-03-10T02:00:00-04:00",
            "2025-03-10T02:30:00-04:00",
        ],
    );
    // A time that also exists after the gap is not doubled.
    check(
        "0 2,3 * * *",
        "America/New_York",
        "2025-03-09T00:00:00-05:00",
        &["2025-03-09T03:00:00-04:00", "2025-03-10T02:00:00-04:00"],
    );
    // Wildcard expressions simply have no fires in the gap.
    check(
        "*/30 * * * *",
        "America/New_York",
        "2025-03-09T01:00:00-05:00",
        &[
            "2025-03-09T01:30:00-05:00",
            "2025-03-09T03:00:00-04:00",
            "2025-03-09T03:30:00-04:00",
        ],
    );
    // Searching from exactly the last second before the gap.
    check(
        "30 2 * * *",
        "America/New_York",
        "2025-03-09T01:59:59-05:00",
        &["2025-03-09T03:00:00-04:00"],
    );
    // Seconds field: fixed time, the gap's fires collapse into one.
    check(
        "*/20 30 2 * * *",
        "America/New_York",
        "2025-03-09T00:00:00-05:00",
        &[
            "2025-03-09T03:00:00-04:00",
            "2025-03-10T02:30:00-04:00",
            "2025-03-10T02:30:20-04:00",
        ],
    );
}

#[test]
fn new_york_fall_back() {
    // A fixed time that occurs twice fires at its first occurrence only.
    check(
        "30 1 * * *",
        "America/New_York",
        "2023-11-05T00:00:00-04:00",
        &["2023-11-05T01:30:00-04:00", "2023-11-06T01:30:00-05:00"],
    );
    // ...also when the search starts inside the second copy.
    check(
        "30 1 * * *",
        "America/New_York",
        "2023-11-05T01:15:00-05:00",
        &["2023-11-06T01:30:00-05:00"],
    );
    // Wildcard expressions fire in both copies.
    check(
        "0 * * * *",
        "America/New_York",
        "2023-11-05T00:30:00-04:00",
        &[
            "2023-11-05T01:00:00-04:00",
            "2023-11-05T01:00:00-05:00",
            "2023-11-05T02:00:00-05:00",
        ],
    );
    check(
        "0 * * * *",
        "America/New_York",
        "2023-11-05T01:30:00-05:00",
        &["2023-11-05T02:00:00-05:00"],
    );
}

#[test]
fn london() {
    check(
        "30 1 * * *",
        "Europe/London",
        "2025-03-30T00:00:00+00:00",
        &["2025-03-30T02:00:00+01:00", "2025-03-31T01:30:00+01:00"],
    );
    check(
        "30 1 * * *",
        "Europe/London",
        "2025-10-26T00:00:00+01:00",
        &["2025-10-26T01:30:00+01:00", "2025-10-27T01:30:00+00:00"],
    );
    check(
        "*/30 1 * * *",
        "Europe/London",
        "2025-10-26T00:00:00+01:00",
        &[
            "2025-10-26T01:00:00+01:00",
            "2025-10-26T01:30:00+01:00",
            "2025-10-26T01:00:00+00:00",
            "2025-10-26T01:30:00+00:00",
        ],
    );
}

#[test]
fn berlin() {
    check(
        "30 2 * * *",
        "Europe/Berlin",
        "2025-03-30T00:00:00+01:00",
        &["2025-03-30T03:00:00+02:00", "2025-03-31T02:30:00+02:00"],
    );
    check(
        "30 2 * * *",
        "Europe/Berlin",
        "2025-10-26T00:00:00+02:00",
        &["2025-10-26T02:30:00+02:00", "2025-10-27T02:30:00+01:00"],
    );
    check(
        "15 * * * *",
        "Europe/Berlin",
        "2025-10-26T01:00:00+02:00",
        &[
            "2025-10-26T01:15:00+02:00",
            "2025-10-26T02:15:00+02:00",
            "2025-10-26T02:15:00+01:00",
            "2025-10-26T03:15:00+01:00",
        ],
    );
}

#[test]
fn lord_howe_half_hour_shift() {
    // Spring forward 02:00 -> 02:30: 02:00 and 02:15 do not exist.
    check(
        "0 2 * * *",
        "Australia/Lord_Howe",
        "2025-10-04T12:00:00+10:30",
        &["2025-10-05T02:30:00+11:00", "2025-10-06T02:00:00+11:00"],
    );
    check(
        "15 2 * * *",
        "Australia/Lord_Howe",
        "2025-10-04T12:00:00+10:30",
        &["2025-10-05T02:30:00+11:00", "2025-10-06T02:15:00+11:00"],
    );
    check(
        "*/15 * * * *",
        "Australia/Lord_Howe",
        "2025-10-05T01:30:00+10:30",
        &[
            "2025-10-05T01:45:00+10:30",
            "2025-10-05T02:30:00+11:00",
            "2025-10-05T02:45:00+11:00",
        ],
    );
    // Fall back 02:00 -> 01:30: 01:30-01:59 repeats.
    check(
        "45 1 * * *",
        "Australia/Lord_Howe",
        "2025-04-05T12:00:00+11:00",
        &["2025-04-06T01:45:00+11:00", "2025-04-07T01:45:00+10:30"],
    );
    check(
        "*/15 1 * * *",
        "Australia/Lord_Howe",
        "2025-04-06T01:20:00+11:00",
        &[
            "2025-04-06T01:30:00+11:00",
            "2025-04-06T01:45:00+11:00",
            "2025-04-06T01:30:00+10:30",
            "2025-04-06T01:45:00+10:30",
            "2025-04-07T01:00:00+10:30",
        ],
    );
}

#[test]
fn sao_paulo_2018_midnight_transition() {
    // DST began at midnight: 2018-11-04 00:00 did not exist.
    check(
        "0 0 * * *",
        "America/Sao_Paulo",
        "2018-11-03T12:00:00-03:00",
        &["2018-11-04T01:00:00-02:00", "2018-11-05T00:00:00-02:00"],
    );
    check(
        "30 0 * * *",
        "America/Sao_Paulo",
        "2018-11-03T12:00:00-03:00",
        &["2018-11-04T01:00:00-02:00", "2018-11-05T00:30:00-02:00"],
    );
    check(
        "0 * * * *",
        "America/Sao_Paulo",
        "2018-11-03T22:30:00-03:00",
        &["2018-11-03T23:00:00-03:00", "2018-11-04T01:00:00-02:00"],
    );
    // DST ended at midnight: 2019-02-16 23:00-23:59 happened twice.
    check(
        "30 23 * * *",
        "America/Sao_Paulo",
        "2019-02-16T12:00:00-02:00",
        &["2019-02-16T23:30:00-02:00", "2019-02-17T23:30:00-03:00"],
    );
    check(
        "0 * * * *",
        "America/Sao_Paulo",
        "2019-02-16T21:30:00-02:00",
        &[
            "2019-02-16T22:00:00-02:00",
            "2019-02-16T23:00:00-02:00",
            "2019-02-16T23:00:00-03:00",
            "2019-02-17T00:00:00-03:00",
        ],
    );
}

#[test]
fn zone_without_dst() {
    check(
        "30 2 * * *",
        "Asia/Kolkata",
        "2025-03-08T00:00:00+05:30",
        &["2025-03-08T02:30:00+05:30", "2025-03-09T02:30:00+05:30"],
    );
    check(
        "0 0 L * *",
        "Asia/Kolkata",
        "2023-01-15T00:00:00+05:30",
        &["2023-01-31T00:00:00+05:30", "2023-02-28T00:00:00+05:30"],
    );
}

#[test]
fn fixed_offset_and_utc_agree_with_civil_arithmetic() {
    let cron = Cron::parse("0 12 * * *").unwrap();
    let z: ZonedDateTime = "2025-06-01T00:00:00+09:00[+09:00]".parse().unwrap();
    assert_eq!(
        rfc3339(&cron.next_after(&z).unwrap()),
        "2025-06-01T12:00:00+09:00"
    );
}

#[test]
fn fixed_time_rule_is_the_minute_and_hour_fields() {
    assert!(Cron::parse("30 2 * * *").unwrap().is_fixed_time());
    assert!(Cron::parse("* 30 2 * * *").unwrap().is_fixed_time());
    assert!(Cron::parse("0 0-23 * * *").unwrap().is_fixed_time());
    assert!(!Cron::parse("0 * * * *").unwrap().is_fixed_time());
    assert!(!Cron::parse("*/5 2 * * *").unwrap().is_fixed_time());
    assert!(!Cron::parse("5 */2 * * *").unwrap().is_fixed_time());
    assert!(!Cron::parse("@hourly").unwrap().is_fixed_time());
}

#[test]
fn first_transition_of_a_zone() {
    // Found by the fuzzer: Sao Paulo left local mean time (-03:06:28) for
    // -03:00 at 1914-01-01 00:00, a 388-second gap with no transition before
    // it. The midnight fire moves to the end of the gap, and `matches` agrees.
    check(
        "0 0 1 1 *",
        "America/Sao_Paulo",
        "1913-12-31T12:00:00-03:06:28",
        &["1914-01-01T00:06:28-03:00", "1915-01-01T00:00:00-03:00"],
    );
}
