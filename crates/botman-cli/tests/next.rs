//! `botman next`, run as a user would: the built binary in a temp dir.

use std::process::{Command, Output};

fn botman(args: &[&str]) -> Output {
    let dir = std::env::temp_dir();
    Command::new(env!("CARGO_BIN_EXE_botman"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the botman binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8 output")
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("utf-8 output")
}

#[test]
fn prints_next_fires_with_offsets() {
    let o = botman(&[
        "next",
        "30 2 * * *",
        "--after",
        "2025-03-08T12:00:00-05:00",
        "--count",
        "3",
        "--tz",
        "America/New_York",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "2025-03-09T03:00:00-04:00\n2025-03-10T02:30:00-04:00\n2025-03-11T02:30:00-04:00\n"
    );
}

#[test]
fn defaults_to_five_fires_in_utc() {
    let o = botman(&["next", "*/5 * * * *", "--after", "2025-01-01T00:00:00Z"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "2025-01-01T00:05:00+00:00\n2025-01-01T00:10:00+00:00\n2025-01-01T00:15:00+00:00\n\
         2025-01-01T00:20:00+00:00\n2025-01-01T00:25:00+00:00\n"
    );
}

#[test]
fn after_defaults_to_now() {
    let o = botman(&["next", "* * * * * *", "--count", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<jiff::Timestamp> = stdout(&o)
        .lines()
        .map(|l| l.parse().expect("RFC 3339"))
        .collect();
    assert_eq!(lines.len(), 2);
    let now = jiff::Timestamp::now();
    // Tolerant: the first fire is within a few seconds of now, one second apart.
    assert!((lines[0].as_second() - now.as_second()).abs() <= 5);
    assert_eq!(lines[1].as_second() - lines[0].as_second(), 1);
}

#[test]
fn macros_seconds_and_zones() {
    let o = botman(&[
        "next",
        "@daily",
        "--after",
        "2025-06-01T12:00:00+02:00",
        "--tz",
        "Europe/Berlin",
        "--count",
        "1",
    ]);
    assert_eq!(stdout(&o), "2025-06-02T00:00:00+02:00\n");
    let o = botman(&[
        "next",
        "*/20 * * * * *",
        "--after",
        "2025-01-01T00:00:00Z",
        "--count",
        "2",
    ]);
    assert_eq!(
        stdout(&o),
        "2025-01-01T00:00:20+00:00\n2025-01-01T00:00:40+00:00\n"
    );
    let o = botman(&[
        "next",
        "0 0 * * *",
        "--after",
        "2025-01-01T00:00:00Z",
        "--count",
        "0",
    ]);
    assert!(o.status.success());
    assert_eq!(stdout(&o), "");
}

#[track_caller]
fn fails_with(args: &[&str], needles: &[&str]) {
    let o = botman(args);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    assert!(stdout(&o).is_empty(), "{args:?} printed to stdout");
    let err = stderr(&o);
    assert!(err.starts_with("error: "), "{args:?}: {err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: `{err}` lacks `{n}`");
    }
}

#[test]
fn bad_cron_text_points_at_the_column() {
    fails_with(
        &["next", "61 * * * *"],
        &[
            "minute `61` at column 1: 61 is out of range 0-59",
            "\n  61 * * * *\n  ^^",
        ],
    );
    fails_with(
        &["next", "0 0 * * FRI#9"],
        &["`9` at column 13", "\n  0 0 * * FRI#9\n              ^"],
    );
    fails_with(&["next", "0 0 30 2 *"], &["can never fire"]);
    fails_with(&["next", "* * *"], &["expected 5 fields"]);
    fails_with(&["next", ""], &["empty"]);
    fails_with(&["next", "5-1 * * * *"], &["reversed"]);
}

#[test]
fn bad_flags_are_usage_errors() {
    fails_with(
        &["next", "* * * * *", "--tz", "Mars/Olympus"],
        &["--tz", "Mars/Olympus", "IANA"],
    );
    fails_with(
        &["next", "* * * * *", "--after", "yesterday"],
        &["--after", "yesterday", "RFC 3339"],
    );
    fails_with(
        &["next", "* * * * *", "--after", "2025-01-01T00:00:00"],
        &["--after"],
    );
    fails_with(&["next", "* * * * *", "--count", "-1"], &["--count"]);
    fails_with(&["next", "* * * * *", "--count", "many"], &["--count"]);
    fails_with(&["next"], &["EXPR"]);
    fails_with(&["nxet", "* * * * *"], &["nxet"]);
}
