//! `botman check` and `botman list`, run as a user would: the built binary
//! in a temp dir with a config file in it (issue 10).

use std::path::Path;
use std::process::{Command, Output};

/// Runs `botman args..` in `dir`, with `env` added to the environment.
fn botman(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_botman"));
    cmd.args(args).current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the botman binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8 output")
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("utf-8 output")
}

/// A temp dir holding `name` with `text`.
fn dir_with(name: &str, text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::write(dir.path().join(name), text).expect("write the config");
    dir
}

const GOOD: &str = r#"
[botman]
name = "ops"
timezone = "America/New_York"
slack_webhook = "env:BOTMAN_TEST_SLACK"

[[bot]]
name = "backup"
schedule = ["0 3 * * *", "0 15 * * SAT"]
command = "pg_dump app > /backups/app.sql"
timezone = "UTC"
retry_delay = "1h30m"

[[bot]]
name = "report"
schedule = "30 2 * * *"
command = ["report", "--all"]
"#;

const SLACK: (&str, &str) = (
    "BOTMAN_TEST_SLACK",
    "https://hooks.slack.com/services/T0/B0/x",
);

#[test]
fn check_ok_reads_botman_toml_by_default() {
    let dir = dir_with("botman.toml", GOOD);
    let o = botman(dir.path(), &["check"], &[SLACK]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "ok: 2 bots\n");
    assert_eq!(stderr(&o), "");
}

#[test]
fn check_reports_every_error_with_file_line_col() {
    let text = "[botman]\nmax_workers = \"many\"\n\n[[bot]]\nname = \"a\"\n\
                schedul = \"0 3 * * *\"\ncommand = \"true\"\n\n[[bot]]\nname = \"b\"\n\
                schedule = \"0 25 * * *\"\ncommand = \"true\"\n";
    let dir = dir_with("bad.toml", text);
    let o = botman(dir.path(), &["check", "bad.toml"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stdout(&o), "");
    let err = stderr(&o);
    let headers: Vec<&str> = err.lines().filter(|l| l.contains(": error: ")).collect();
    assert_eq!(
        headers,
        [
            "bad.toml:2:15: error: 'max_workers' must be an integer, found a string",
            "bad.toml:4:1: error: bot 'a' has no 'schedule' (it is required)",
            "bad.toml:6:1: error: unknown key 'schedul', did you mean 'schedule'?",
            "bad.toml:11:15: error: invalid cron expression '0 25 * * *': hour `25`: \
             25 is out of range 0-23",
        ],
        "{err}"
    );
    // rustc-style: the line and a caret under the column.
    assert!(
        err.contains(&format!(
            "11 | schedule = \"0 25 * * *\"\n   | {}^^\n",
            " ".repeat(14)
        )),
        "{err}"
    );
    assert!(err.ends_with("4 errors in bad.toml\n"), "{err}");
}

#[test]
fn check_names_a_missing_secret() {
    let dir = dir_with("botman.toml", GOOD);
    let o = botman(dir.path(), &["check"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o).lines().next(),
        Some(
            "botman.toml:5:17: error: environment variable 'BOTMAN_TEST_SLACK' is not set \
             (read for \"env:BOTMAN_TEST_SLACK\")"
        )
    );
}

#[test]
fn check_a_toml_syntax_error_has_its_position() {
    let dir = dir_with("botman.toml", "[[bot]]\nname = \"a\nschedule = 1\n");
    let o = botman(dir.path(), &["check"], &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.starts_with("botman.toml:2:") && err.contains(": error: invalid TOML: "),
        "{err}"
    );
}

#[test]
fn check_a_missing_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = botman(dir.path(), &["check", "nope.toml"], &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.starts_with("nope.toml: error: cannot read the config file: "),
        "{err}"
    );
    let o = botman(dir.path(), &["list"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).starts_with("botman.toml: error: cannot read"));
}

#[test]
fn list_shows_schedules_and_next_fires_in_each_zone() {
    let dir = dir_with("botman.toml", GOOD);
    let o = botman(
        dir.path(),
        &["list", "--after", "2025-03-08T12:00:00Z"],
        &[SLACK],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // `report` has no zone: the manager's; 02:30 does not exist on
    // 2025-03-09 in New York and fires at the first instant after the gap.
    assert_eq!(
        stdout(&o),
        "backup  (UTC)
  schedule  0 3 * * *
  schedule  0 15 * * SAT
  next      2025-03-08T15:00:00+00:00
            2025-03-09T03:00:00+00:00
            2025-03-10T03:00:00+00:00
  command   pg_dump app > /backups/app.sql

report  (America/New_York)
  schedule  30 2 * * *
  next      2025-03-09T03:00:00-04:00
            2025-03-10T02:30:00-04:00
            2025-03-11T02:30:00-04:00
  command   [\"report\", \"--all\"]
"
    );
}

#[test]
fn list_of_a_bad_file_shows_the_errors() {
    let dir = dir_with("botman.toml", "[[bot]]\nname = \"a\"\ncommand = \"x\"\n");
    let o = botman(dir.path(), &["list"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stdout(&o), "");
    assert!(
        stderr(&o).starts_with("botman.toml:1:1: error: bot 'a' has no 'schedule'"),
        "{}",
        stderr(&o)
    );
}
