//! Table tests: every syntax form, its normalised spelling, its first fires,
//! and every kind of rejected input with its field, column and message.

use botman_cron::jiff::tz::TimeZone;
use botman_cron::jiff::{Timestamp, ZonedDateTime};
use botman_cron::{Cron, Field, ParseErrorKind};

fn fires(expr: &str, after: &str, n: usize) -> Vec<String> {
    let cron = Cron::parse(expr).unwrap_or_else(|e| panic!("{expr:?}: {e}"));
    let after: Timestamp = after.parse().expect("instant");
    cron.iter_after(&ZonedDateTime::new(after, TimeZone::UTC))
        .take(n)
        .map(|z| z.timestamp().to_string())
        .collect()
}

#[track_caller]
fn check(expr: &str, after: &str, want: &[&str]) {
    assert_eq!(
        fires(expr, after, want.len()),
        want,
        "{expr:?} after {after}"
    );
}

#[test]
fn ok_basic_forms() {
    check(
        "* * * * *",
        "2025-01-01T00:00:30Z",
        &["2025-01-01T00:01:00Z", "2025-01-01T00:02:00Z"],
    );
    check(
        "? ? ? ? ?",
        "2025-01-01T00:00:00Z",
        &["2025-01-01T00:01:00Z"],
    );
    check(
        "*/15 * * * *",
        "2025-01-01T00:00:00Z",
        &["2025-01-01T00:15:00Z", "2025-01-01T00:30:00Z"],
    );
    check(
        "1,5,9 * * * *",
        "2025-01-01T00:05:00Z",
        &["2025-01-01T00:09:00Z", "2025-01-01T01:01:00Z"],
    );
    check(
        "1-3 * * * *",
        "2025-01-01T00:02:00Z",
        &["2025-01-01T00:03:00Z", "2025-01-01T01:01:00Z"],
    );
    check(
        "1-30/7 * * * *",
        "2025-01-01T00:00:00Z",
        &[
            "2025-01-01T00:01:00Z",
            "2025-01-01T00:08:00Z",
            "2025-01-01T00:15:00Z",
            "2025-01-01T00:22:00Z",
            "2025-01-01T00:29:00Z",
            "2025-01-01T01:01:00Z",
        ],
    );
    check(
        "5/15 * * * *",
        "2025-01-01T00:00:00Z",
        &[
            "2025-01-01T00:05:00Z",
            "2025-01-01T00:20:00Z",
            "2025-01-01T00:35:00Z",
            "2025-01-01T00:50:00Z",
            "2025-01-01T01:05:00Z",
        ],
    );
    check(
        "5-5 * * * *",
        "2025-01-01T00:00:00Z",
        &["2025-01-01T00:05:00Z", "2025-01-01T01:05:00Z"],
    );
    check(
        "0 */100 * * *",
        "2025-01-01T00:00:00Z",
        &["2025-01-02T00:00:00Z"],
    );
}

#[test]
fn ok_seconds_field_means_seconds() {
    check(
        "*/20 * * * * *",
        "2025-01-01T00:00:00Z",
        &[
            "2025-01-01T00:00:20Z",
            "2025-01-01T00:00:40Z",
            "2025-01-01T00:01:00Z",
        ],
    );
    // Five fields are never read as having seconds, whatever the values.
    check(
        "30 * * * *",
        "2025-01-01T00:00:00Z",
        &["2025-01-01T00:30:00Z"],
    );
    check(
        "30 0 * * * *",
        "2025-01-01T00:00:00Z",
        &["2025-01-01T00:00:30Z", "2025-01-01T01:00:30Z"],
    );
    // Sub-second instants: strictly after means the next whole match.
    check(
        "* * * * * *",
        "2025-01-01T00:00:00.5Z",
        &["2025-01-01T00:00:01Z"],
    );
    check(
        "* * * * * *",
        "2025-01-01T00:00:00Z",
        &["2025-01-01T00:00:01Z"],
    );
}

#[test]
fn ok_names_any_case() {
    check(
        "0 0 * JAN,jul *",
        "2025-02-01T00:00:00Z",
        &["2025-07-01T00:00:00Z"],
    );
    check(
        "0 0 * * MON-FRI",
        "2025-03-07T12:00:00Z",
        &["2025-03-10T00:00:00Z"],
    ); // Fri -> Mon
    check(
        "0 0 * * mon-wed/2",
        "2025-03-03T12:00:00Z",
        &["2025-03-05T00:00:00Z", "2025-03-10T00:00:00Z"],
    );
    check(
        "0 0 1 jan-Mar *",
        "2025-03-02T00:00:00Z",
        &["2026-01-01T00:00:00Z"],
    );
    check(
        "0 0 * * fri-sun",
        "2025-03-06T12:00:00Z",
        &[
            "2025-03-07T00:00:00Z",
            "2025-03-08T00:00:00Z",
            "2025-03-09T00:00:00Z",
            "2025-03-14T00:00:00Z",
        ],
    );
}

#[test]
fn ok_sunday_is_0_and_7() {
    let sunday = ["2025-03-09T00:00:00Z"];
    check("0 0 * * 0", "2025-03-07T00:00:00Z", &sunday);
    check("0 0 * * 7", "2025-03-07T00:00:00Z", &sunday);
    check("0 0 * * SUN", "2025-03-07T00:00:00Z", &sunday);
    check(
        "0 0 * * 5-7",
        "2025-03-07T12:00:00Z",
        &["2025-03-08T00:00:00Z", "2025-03-09T00:00:00Z"],
    );
    assert_eq!(
        Cron::parse("0 0 * * 7").unwrap(),
        Cron::parse("0 0 * * SUN").unwrap()
    );
}

#[test]
fn ok_last_day_forms() {
    check(
        "0 0 L * *",
        "2024-01-15T00:00:00Z",
        &[
            "2024-01-31T00:00:00Z",
            "2024-02-29T00:00:00Z",
            "2024-03-31T00:00:00Z",
            "2024-04-30T00:00:00Z",
        ],
    );
    check(
        "0 0 L-3 * *",
        "2025-02-01T00:00:00Z",
        &["2025-02-25T00:00:00Z", "2025-03-28T00:00:00Z"],
    );
    // L-30 exists only in 31-day months.
    check(
        "0 0 L-30 * *",
        "2025-01-02T00:00:00Z",
        &["2025-03-01T00:00:00Z", "2025-05-01T00:00:00Z"],
    );
    check(
        "0 0 1,L * *",
        "2025-01-02T00:00:00Z",
        &["2025-01-31T00:00:00Z", "2025-02-01T00:00:00Z"],
    );
}

#[test]
fn ok_nearest_weekday() {
    // 2025-03-15 is a Saturday: the nearest weekday is Friday the 14th.
    check(
        "0 0 15W * *",
        "2025-03-01T00:00:00Z",
        &["2025-03-14T00:00:00Z", "2025-04-15T00:00:00Z"],
    );
    // 2025-06-01 is a Sunday: Monday the 2nd. 2025-11-01 is a Saturday:
    // never back into October, so Monday the 3rd.
    check(
        "0 0 1W * *",
        "2025-05-02T00:00:00Z",
        &["2025-06-02T00:00:00Z", "2025-07-01T00:00:00Z"],
    );
    check(
        "0 0 1W * *",
        "2025-10-02T00:00:00Z",
        &["2025-11-03T00:00:00Z"],
    );
    // 2025-08-31 is a Sunday and the last day: back to Friday the 29th.
    check(
        "0 0 31W * *",
        "2025-08-01T00:00:00Z",
        &["2025-08-29T00:00:00Z", "2025-10-31T00:00:00Z"],
    );
    // LW: last weekday. 2025-05-31 is a Saturday -> Friday the 30th.
    check(
        "0 0 LW * *",
        "2025-05-01T00:00:00Z",
        &["2025-05-30T00:00:00Z", "2025-06-30T00:00:00Z"],
    );
}

#[test]
fn ok_last_and_nth_weekday() {
    check(
        "0 0 * * 5L",
        "2025-01-01T00:00:00Z",
        &["2025-01-31T00:00:00Z", "2025-02-28T00:00:00Z"],
    );
    check(
        "0 0 * * FRIL",
        "2025-03-01T00:00:00Z",
        &["2025-03-28T00:00:00Z"],
    );
    check(
        "0 0 * * 7L",
        "2025-03-01T00:00:00Z",
        &["2025-03-30T00:00:00Z"],
    );
    check(
        "0 0 * * 5#3",
        "2025-01-01T00:00:00Z",
        &["2025-01-17T00:00:00Z", "2025-02-21T00:00:00Z"],
    );
    check(
        "0 0 * * FRI#3",
        "2025-01-01T00:00:00Z",
        &["2025-01-17T00:00:00Z"],
    );
    // A fifth Monday exists only in some months.
    check(
        "0 0 * * MON#5",
        "2025-01-01T00:00:00Z",
        &["2025-03-31T00:00:00Z", "2025-06-30T00:00:00Z"],
    );
    check(
        "15 10 ? * 6#3",
        "2025-01-01T00:00:00Z",
        &["2025-01-18T10:15:00Z"],
    );
}

#[test]
fn ok_day_fields_combine_like_vixie_cron() {
    // Both restricted: either matches (the 13th, or any Friday).
    check(
        "0 0 13 * FRI",
        "2025-06-01T00:00:00Z",
        &[
            "2025-06-06T00:00:00Z",
            "2025-06-13T00:00:00Z",
            "2025-06-20T00:00:00Z",
        ],
    );
    // A field starting with `*` is unrestricted, even with a step: both must match.
    check(
        "0 0 */2 * FRI",
        "2025-06-01T00:00:00Z",
        &["2025-06-13T00:00:00Z", "2025-06-27T00:00:00Z"],
    );
    // `*/7` is Sunday only; 2025-06-01 was the first Sunday in 1-7.
    check(
        "0 0 1-7 * */7",
        "2025-06-02T00:00:00Z",
        &["2025-07-06T00:00:00Z"],
    );
    // `?` is unrestricted too.
    check(
        "0 0 ? * FRI",
        "2025-06-01T00:00:00Z",
        &["2025-06-06T00:00:00Z", "2025-06-13T00:00:00Z"],
    );
    check(
        "0 0 13 * ?",
        "2025-06-01T00:00:00Z",
        &["2025-06-13T00:00:00Z", "2025-07-13T00:00:00Z"],
    );
    // L, W and # combine the same way.
    check(
        "0 0 L * MON#1",
        "2025-06-01T00:00:00Z",
        &["2025-06-02T00:00:00Z", "2025-06-30T00:00:00Z"],
    );
}

#[test]
fn ok_macros() {
    for (mac, long) in [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
        ("  @DAILY ", "0 0 * * *"),
    ] {
        assert_eq!(
            Cron::parse(mac).unwrap(),
            Cron::parse(long).unwrap(),
            "{mac}"
        );
        assert_eq!(Cron::parse(mac).unwrap().to_string(), long);
    }
}

#[test]
fn ok_leap_day_and_far_future() {
    check(
        "0 0 29 2 *",
        "2025-01-01T00:00:00Z",
        &["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"],
    );
    // 2100 is not a leap year.
    check(
        "0 0 29 2 *",
        "2096-03-01T00:00:00Z",
        &["2104-02-29T00:00:00Z"],
    );
    check(
        "0 0 1 1 *",
        "2199-06-01T00:00:00Z",
        &["2200-01-01T00:00:00Z"],
    );
    // Either Feb 29 or a fifth Monday in February: neither exists in 2200.
    check(
        "0 12 29 2 MON#5",
        "2199-01-01T00:00:00Z",
        &["2204-02-29T12:00:00Z"],
    );
    check(
        "0 12 ? 2 MON#5",
        "2199-01-01T00:00:00Z",
        &["2208-02-29T12:00:00Z"],
    );
    // Searches stop at the end of jiff's range instead of looping.
    let cron = Cron::parse("0 0 29 2 *").unwrap();
    let late: Timestamp = "9996-03-01T00:00:00Z".parse().unwrap();
    assert_eq!(cron.next_after_timestamp(late, &TimeZone::UTC), None);
    let early: Timestamp = "-009996-01-01T00:00:00Z".parse().unwrap();
    assert_eq!(cron.prev_before_timestamp(early, &TimeZone::UTC), None);
}

#[test]
fn ok_prev_before_and_matches() {
    let cron = Cron::parse("0 9 * * MON-FRI").unwrap();
    let at: ZonedDateTime = "2025-03-10T09:00:00+00:00[UTC]".parse().unwrap();
    assert!(cron.matches(&at));
    assert!(!cron.matches(&"2025-03-10T09:00:01+00:00[UTC]".parse().unwrap()));
    assert!(!cron.matches(&"2025-03-09T09:00:00+00:00[UTC]".parse().unwrap()));
    let prev = cron.prev_before(&at).unwrap();
    assert_eq!(prev.to_string(), "2025-03-07T09:00:00+00:00[UTC]");
    let back: Vec<String> = cron
        .iter_before(&at)
        .take(2)
        .map(|z| z.date().to_string())
        .collect();
    assert_eq!(back, ["2025-03-07", "2025-03-06"]);
}

#[test]
fn ok_display_normalises() {
    for (input, shown) in [
        ("*/15\t9-17  * * MON-FRI", "*/15 9-17 * * 1-5"),
        ("0 0 ? JAN-MAR sun", "0 0 * 1-3 0"),
        ("5/15 * * * *", "5-59/15 * * * *"),
        ("5-5 * * * *", "5 * * * *"),
        ("0 0 L-3,L * *", "0 0 L-3,L * *"),
        ("0 0 lw * *", "0 0 LW * *"),
        ("0 0 15w * *", "0 0 15W * *"),
        ("0 0 * * fril,mon#2", "0 0 * * 5L,1#2"),
        ("0 0 * * FRI-SUN", "0 0 * * 5-7"),
        ("*/5 0 0 * * *", "*/5 0 0 * * *"),
        // Longer lists than a field keeps inline.
        (
            "0,1,2,3,4,5,6,7,8,9,10 * * * *",
            "0,1,2,3,4,5,6,7,8,9,10 * * * *",
        ),
        ("*/300 * * * *", "*/255 * * * *"),
    ] {
        let cron = Cron::parse(input).unwrap();
        assert_eq!(cron.to_string(), shown, "{input:?}");
        assert_eq!(Cron::parse(shown).unwrap(), cron);
    }
}

#[track_caller]
fn err(expr: &str, field: Option<Field>, column: usize, text: &str, message: &str) {
    let e = Cron::parse(expr).expect_err(expr);
    assert_eq!(e.field(), field, "{expr:?}: {e}");
    assert_eq!(e.column(), column, "{expr:?}: {e}");
    assert_eq!(e.text(), text, "{expr:?}: {e}");
    assert!(
        e.to_string().contains(message),
        "{expr:?}: `{e}` lacks `{message}`"
    );
}

#[test]
fn err_every_kind_of_bad_input() {
    use Field::*;
    err("", None, 1, "", "empty");
    err("   ", None, 1, "", "empty");
    err("* * * *", None, 1, "* * * *", "expected 5 fields");
    err("* * * * * * *", None, 1, "* * * * * * *", "found 7");
    err("@every5m", None, 1, "@every5m", "unknown macro");
    err(
        "61 * * * *",
        Some(Minute),
        1,
        "61",
        "61 is out of range 0-59",
    );
    err("0 24 * * *", Some(Hour), 3, "24", "24 is out of range 0-23");
    err(
        "0 0 0 * *",
        Some(DayOfMonth),
        5,
        "0",
        "0 is out of range 1-31",
    );
    err("0 0 32 * *", Some(DayOfMonth), 5, "32", "out of range 1-31");
    err("0 0 * 13 *", Some(Month), 7, "13", "out of range 1-12");
    err("0 0 * * 8", Some(DayOfWeek), 9, "8", "out of range 0-7");
    err("60 * * * * *", Some(Second), 1, "60", "out of range 0-59");
    err(
        "5-1 * * * *",
        Some(Minute),
        1,
        "5-1",
        "range 5-1 is reversed",
    );
    err(
        "*/0 * * * *",
        Some(Minute),
        3,
        "0",
        "step must be at least 1",
    );
    err(
        "1-5/0 * * * *",
        Some(Minute),
        5,
        "0",
        "step must be at least 1",
    );
    err(
        "0 0 15W,20 * *",
        Some(DayOfMonth),
        5,
        "15W,20",
        "W item must be the only item",
    );
    err(
        "0 0 * * 5#6",
        Some(DayOfWeek),
        11,
        "6",
        "#6 is out of range",
    );
    err(
        "0 0 * * 5#0",
        Some(DayOfWeek),
        11,
        "0",
        "#0 is out of range",
    );
    err(
        "L * * * *",
        Some(Minute),
        1,
        "L",
        "`L` is only allowed in day-of-month and day-of-week",
    );
    err(
        "0 5W * * *",
        Some(Hour),
        4,
        "W",
        "`W` is only allowed in day-of-month",
    );
    err(
        "0 0 * 5#2 *",
        Some(Month),
        8,
        "#",
        "`#` is only allowed in day-of-week",
    );
    err(
        "0 0 1#2 * *",
        Some(DayOfMonth),
        6,
        "#",
        "`#` is only allowed in day-of-week",
    );
    err(
        "0 0 * * 5W",
        Some(DayOfWeek),
        10,
        "W",
        "`W` is only allowed in day-of-month",
    );
    err("1,,2 * * * *", Some(Minute), 3, "", "empty item");
    err("1, * * * *", Some(Minute), 3, "", "empty item");
    err("a * * * *", Some(Minute), 1, "a", "expected a number");
    err(
        "0 0 * FOO *",
        Some(Month),
        7,
        "FOO",
        "a month 1-12 or a name JAN-DEC",
    );
    err("0 0 * * MONDAY", Some(DayOfWeek), 9, "MONDAY", "SUN-SAT");
    err("0 0 * MON *", Some(Month), 7, "MON", "JAN-DEC");
    err("0 0 * * L", Some(DayOfWeek), 9, "L", "a weekday before `L`");
    err(
        "-1 * * * *",
        Some(Minute),
        1,
        "",
        "minute at column 1: expected a number",
    );
    err(
        "99999999999999999999999 * * * *",
        Some(Minute),
        1,
        "99999999999999999999999",
        "out of range 0-59",
    );
    err("*/ * * * *", Some(Minute), 3, "", "a step number");
    err(
        "0 0 L-31 * *",
        Some(DayOfMonth),
        7,
        "31",
        "out of range 0-30",
    );
    err(
        "0 0 L/2 * *",
        Some(DayOfMonth),
        5,
        "L/2",
        "no step after `L`",
    );
    err(
        "0 0 30 2 *",
        Some(DayOfMonth),
        5,
        "30",
        "can never fire: day-of-month `30` never falls in month `2`",
    );
    err(
        "0 0 31 4,6,9,11 *",
        Some(DayOfMonth),
        5,
        "31",
        "can never fire",
    );
    err("0 0 30W 2 *", Some(DayOfMonth), 5, "30W", "can never fire");
    err(
        "0 0 L-29 2 *",
        Some(DayOfMonth),
        5,
        "L-29",
        "can never fire",
    );
    err("é * * * *", Some(Minute), 1, "é", "expected a number");
}

#[test]
fn ok_never_fires_check_is_exact() {
    // Feasible, if rare: these must parse.
    for expr in [
        "0 0 29 2 *",
        "0 0 30 2 FRI",
        "0 0 * 2 MON#5",
        "0 0 31 * *",
        "0 0 L-30 * *",
    ] {
        assert!(Cron::parse(expr).is_ok(), "{expr}");
    }
    let e = Cron::parse("0 0 30 2 *").unwrap_err();
    assert!(matches!(e.kind(), ParseErrorKind::NeverFires { .. }));
}
