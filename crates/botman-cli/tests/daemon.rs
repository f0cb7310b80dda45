//! `botman run` end to end (issue 10): the built binary as a child process
//! in a temp dir, its runs read back with `botman history --json`.
//!
//! These are the few real-time tests: each takes a few seconds, waits for
//! conditions with a deadline (never a fixed sleep beyond a poll interval)
//! and asserts counts tolerantly. [`Daemon`] kills the daemon, and the
//! process groups of the jobs that wrote a `*.pid` file, when dropped, so a
//! failing test leaves nothing running.
#![cfg(unix)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How often the waits look again.
const POLL: Duration = Duration::from_millis(100);

/// The longest any condition is waited for: generous, the tests pass in a
/// fraction of it.
const PATIENCE: Duration = Duration::from_secs(20);

/// A temp dir with `botman.toml` holding `config`.
fn dir_with(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp dir");
    write_config(dir.path(), "botman.toml", config);
    dir
}

fn write_config(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write the config");
}

/// A running `botman run`, its stdout and stderr in files of its dir.
struct Daemon {
    child: Child,
    dir: PathBuf,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Daemon {
    /// `botman run botman.toml args..` in `dir`. Each start gets its own
    /// output files (`daemon-N.stdout`), so a restart keeps the first ones.
    fn start(dir: &Path, args: &[&str]) -> Daemon {
        Daemon::start_with_env(dir, args, &[])
    }

    /// [`start`](Daemon::start) with these environment variables.
    fn start_with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let n = (0..)
            .find(|n| !dir.join(format!("daemon-{n}.stderr")).exists())
            .expect("a free name");
        let stdout = dir.join(format!("daemon-{n}.stdout"));
        let stderr = dir.join(format!("daemon-{n}.stderr"));
        let child = Command::new(env!("CARGO_BIN_EXE_botman"))
            .arg("run")
            .arg("botman.toml")
            .args(args)
            .current_dir(dir)
            .env_remove("RUST_LOG")
            .env_remove("BOTMAN_NODE")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).expect("create the stdout file"))
            .stderr(File::create(&stderr).expect("create the stderr file"))
            .spawn()
            .expect("the botman binary starts");
        Daemon {
            child,
            dir: dir.to_owned(),
            stdout,
            stderr,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Sends `sig` ("TERM", "HUP", "KILL") to the daemon.
    fn signal(&self, sig: &str) {
        signal(sig, &self.pid().to_string());
    }

    /// The daemon's exit status, waiting at most `within`.
    fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the daemon") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not exit within {within:?}\n{}",
                self.output()
            );
            std::thread::sleep(POLL);
        }
    }

    /// Polls `f` until it gives a value, at most [`PATIENCE`]; panics with
    /// the daemon's output if the time runs out or the daemon exits.
    fn wait_until<T>(&mut self, what: &str, mut f: impl FnMut(&Daemon) -> Option<T>) -> T {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(t) = f(self) {
                return t;
            }
            if let Some(status) = self.child.try_wait().expect("wait for the daemon") {
                panic!(
                    "the daemon exited ({status}) while waiting for {what}\n{}",
                    self.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {PATIENCE:?} waiting for {what}\n{}",
                self.output()
            );
            std::thread::sleep(POLL);
        }
    }

    /// The bot's rows, newest first (empty while there is no state file).
    fn history(&self, bot: &str) -> Vec<Value> {
        history(&self.dir, "botman.toml", bot)
    }

    /// Waits until the bot has a row `ok` accepts and returns it.
    fn wait_for_row(&mut self, bot: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        self.wait_until(&format!("a row of '{bot}' with {what}"), |d| {
            d.history(bot).into_iter().find(&ok)
        })
    }

    fn output(&self) -> String {
        format!(
            "--- daemon stdout ---\n{}--- daemon stderr ---\n{}",
            self.stdout(),
            self.stderr()
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        kill_recorded_groups(&self.dir);
    }
}

/// `kill -SIG target` (a pid, or `-pgid` for a process group).
fn signal(sig: &str, target: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{sig}"), "--", target])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// SIGKILL to the process group (and the process) of every pid in a `*.pid`
/// file of `dir`: the jobs' leaders write `$$` there, and each job is its
/// own group.
fn kill_recorded_groups(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.path().extension().is_some_and(|x| x == "pid") {
            for pid in pids_in(&e.path()) {
                signal("KILL", &format!("-{pid}"));
                signal("KILL", &pid.to_string());
            }
        }
    }
}

/// The pids in a file, one a line.
fn pids_in(file: &Path) -> Vec<u32> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// The one pid in `file`, once it is written.
fn pid_in(file: &Path) -> Option<u32> {
    pids_in(file).first().copied()
}

/// Whether `pid` is a live process (a zombie is not: it only waits for its
/// parent, which may be a PID 1 that does not reap).
fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) S ...": the state follows the last ')'.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    !matches!(state, Some("Z" | "X"))
}

/// Waits (bounded) until none of `pids` is alive.
fn wait_gone(pids: &[u32], within: Duration) {
    let deadline = Instant::now() + within;
    while pids.iter().any(|p| alive(*p)) {
        assert!(
            Instant::now() < deadline,
            "processes {:?} still alive after {within:?}",
            pids.iter().filter(|p| alive(**p)).collect::<Vec<_>>()
        );
        std::thread::sleep(POLL);
    }
}

/// `botman history BOT --config CONFIG --json` in `dir`: the rows, newest
/// first; empty when it fails (no state file yet, the store busy).
fn history(dir: &Path, config: &str, bot: &str) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_botman"))
        .args([
            "history", bot, "--config", config, "--json", "--limit", "1000",
        ])
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .output()
        .expect("the botman binary runs");
    if !out.status.success() {
        return Vec::new();
    }
    match serde_json::from_slice(&out.stdout) {
        Ok(Value::Array(rows)) => rows,
        other => panic!("history --json is not an array: {other:?}"),
    }
}

fn text<'a>(row: &'a Value, key: &str) -> &'a str {
    row[key].as_str().unwrap_or("")
}

fn outcome(row: &Value) -> &str {
    text(row, "outcome")
}

/// The rows that ran to an end (not skipped, missed or in flight).
fn ran(rows: &[Value]) -> Vec<&Value> {
    rows.iter()
        .filter(|r| !matches!(outcome(r), "" | "skipped" | "missed"))
        .collect()
}

#[test]
fn fires_once_each_and_history_has_the_contract_fields() {
    let dir = dir_with(
        r#"
[[bot]]
name = "ticker"
schedule = "* * * * * *"
command = 'echo "$BOTMAN_BOT $BOTMAN_SCHEDULED_AT $BOTMAN_ATTEMPT $BOTMAN_RUN_ID $BOTMAN_NODE"'
"#,
    );
    let mut d = Daemon::start(dir.path(), &["--node", "test-node"]);
    d.wait_until("3 successful runs", |d| {
        (d.history("ticker")
            .iter()
            .filter(|r| outcome(r) == "success")
            .count()
            >= 3)
            .then_some(())
    });
    assert!(
        d.stdout().contains("bot ticker: next fire "),
        "{}",
        d.output()
    );
    d.signal("TERM");
    let status = d.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", d.output());

    let rows = d.history("ticker");
    let keys = [
        "bot",
        "scheduled_at",
        "started_at",
        "finished_at",
        "outcome",
        "attempts",
        "exit_code",
        "node",
        "trigger",
        "error",
        "stdout_tail",
        "stderr_tail",
    ];
    for row in &rows {
        let obj = row.as_object().expect("each run is an object");
        for k in keys {
            assert!(obj.contains_key(k), "no '{k}' in {row}");
        }
    }
    let runs = ran(&rows);
    assert!(runs.len() >= 3, "{rows:#?}");
    let mut instants = Vec::new();
    for r in &runs {
        assert_eq!(outcome(r), "success", "{r}");
        assert_eq!(text(r, "bot"), "ticker", "{r}");
        assert_eq!(r["exit_code"], 0, "{r}");
        assert_eq!(r["attempts"], 1, "{r}");
        assert_eq!(text(r, "node"), "test-node", "{r}");
        assert_eq!(text(r, "trigger"), "scheduled", "{r}");
        assert!(r["error"].is_null(), "{r}");
        assert!(!text(r, "finished_at").is_empty(), "{r}");
        let at = text(r, "scheduled_at");
        let parsed: jiff::Timestamp = at.parse().expect("scheduled_at is RFC 3339");
        assert!(
            at.ends_with('Z') && parsed.subsec_nanosecond() == 0 && !at.contains('.'),
            "not whole seconds in UTC: {at}"
        );
        let id = match &r["id"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        assert_eq!(
            text(r, "stdout_tail").trim_end(),
            format!("ticker {at} 1 {id} test-node"),
            "{r}"
        );
        instants.push(at.to_owned());
    }
    let n = instants.len();
    instants.sort();
    instants.dedup();
    assert_eq!(instants.len(), n, "a fire ran twice: {rows:#?}");
}

#[test]
fn a_failing_command_retries_and_cools_down_with_skipped_fires_recorded() {
    let dir = dir_with(
        r#"
[[bot]]
name = "failing"
schedule = "* * * * * *"
command = "echo 'it broke' >&2; exit 3"
retries = 2
retry_delay = "1s"
initial_timeout = "5s"

[[bot]]
name = "soft"
schedule = "* * * * * *"
command = "echo 'try later' >&2; exit 75"
retries = 1
soft_exit_codes = [75]
"#,
    );
    let mut d = Daemon::start(dir.path(), &[]);
    let failure = d.wait_for_row("failing", "outcome failure", |r| outcome(r) == "failure");
    assert_eq!(failure["attempts"], 2, "{failure}");
    assert_eq!(failure["exit_code"], 3, "{failure}");
    assert!(
        text(&failure, "stderr_tail").contains("it broke"),
        "{failure}"
    );
    assert!(text(&failure, "error").contains("it broke"), "{failure}");
    let skipped = d.wait_for_row("failing", "a fire skipped for the cool-down", |r| {
        outcome(r) == "skipped" && text(r, "reason") == "cool_down"
    });
    assert_eq!(skipped["attempts"], 0, "{skipped}");

    let soft = d.wait_for_row("soft", "outcome soft_failure", |r| {
        outcome(r) == "soft_failure"
    });
    assert_eq!(soft["exit_code"], 75, "{soft}");
    assert!(text(&soft, "stderr_tail").contains("try later"), "{soft}");
}

/// A bot that records its pid in `name.pid` and sleeps 30 s, one attempt.
fn sleeper(name: &str, schedule: &str, extra: &str) -> String {
    format!(
        r#"
[[bot]]
name = "{name}"
schedule = "{schedule}"
command = "echo $$ > {name}.pid; exec sleep 30"
retries = 1
{extra}
"#
    )
}

/// Waits until the bot's job wrote its pid and its run is in flight in the
/// history; returns the pid and the row.
fn wait_in_flight(d: &mut Daemon, bot: &str) -> (u32, Value) {
    let file = d.dir.join(format!("{bot}.pid"));
    let pid = d.wait_until(&format!("{bot}'s pid file"), |_| pid_in(&file));
    let row = d.wait_for_row(bot, "a run in flight", |r| r["outcome"].is_null());
    (pid, row)
}

#[test]
fn sigterm_is_graceful_then_interrupts() {
    let config = format!(
        "[botman]\nshutdown_grace = \"1s\"\n{}",
        sleeper("sleepy", "* * * * * *", "")
    );
    let dir = dir_with(&config);
    let mut d = Daemon::start(dir.path(), &[]);
    let (pid, row) = wait_in_flight(&mut d, "sleepy");
    assert!(alive(pid));
    let asked = Instant::now();
    d.signal("TERM");
    let status = d.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", d.output());
    // The grace was waited out before the run was stopped.
    assert!(
        asked.elapsed() >= Duration::from_millis(900),
        "{}",
        d.output()
    );
    wait_gone(&[pid], Duration::from_secs(5));
    let rows = d.history("sleepy");
    let run = rows
        .iter()
        .find(|r| r["id"] == row["id"])
        .expect("the run is in the history");
    assert_eq!(outcome(run), "interrupted", "{run}");
    assert!(!text(run, "finished_at").is_empty(), "{run}");
    assert!(
        rows.iter().all(|r| !r["outcome"].is_null()),
        "a run left in flight: {rows:#?}"
    );
}

#[test]
fn a_second_sigterm_stops_the_runs_at_once() {
    let config = format!(
        "[botman]\nshutdown_grace = \"60s\"\n{}",
        sleeper("sleepy", "* * * * * *", "")
    );
    let dir = dir_with(&config);
    let mut d = Daemon::start(dir.path(), &[]);
    let (pid, row) = wait_in_flight(&mut d, "sleepy");
    d.signal("TERM");
    // The first signal waits for the job: the daemon is still up.
    d.wait_until("the stop to begin", |d| {
        d.stderr().contains("stopping").then_some(())
    });
    assert!(alive(pid));
    d.signal("TERM");
    let status = d.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", d.output());
    assert!(d.stderr().contains("second signal"), "{}", d.output());
    wait_gone(&[pid], Duration::from_secs(5));
    let rows = d.history("sleepy");
    let run = rows.iter().find(|r| r["id"] == row["id"]).expect("the run");
    assert_eq!(outcome(run), "interrupted", "{run}");
}

#[test]
fn sighup_reload() {
    let a = r#"
[[bot]]
name = "a"
schedule = "* * * * * *"
command = "true"
"#;
    let b = r#"
[[bot]]
name = "b"
schedule = "* * * * * *"
command = "echo from-b"
"#;
    let dir = dir_with(a);
    // A second file on the same store, for reading the history while
    // botman.toml is broken.
    write_config(dir.path(), "query.toml", &format!("{a}{b}"));
    let mut d = Daemon::start(dir.path(), &[]);
    d.wait_for_row("a", "a success", |r| outcome(r) == "success");

    write_config(dir.path(), "botman.toml", &format!("{a}{b}"));
    d.signal("HUP");
    let row = d.wait_for_row("b", "a success", |r| outcome(r) == "success");
    assert_eq!(text(&row, "stdout_tail"), "from-b\n", "{row}");

    // Line 6, column 1: an unknown key in bot a.
    write_config(
        dir.path(),
        "botman.toml",
        &format!("{a}colour = \"red\"\n{b}"),
    );
    d.signal("HUP");
    d.wait_until("the reload to be refused", |d| {
        d.stderr().contains("reload refused").then_some(())
    });
    let err = d.stderr();
    assert!(
        err.contains("botman.toml:6:1: error: unknown key 'colour'"),
        "{err}"
    );
    // The running bots go on: both get new rows.
    for bot in ["a", "b"] {
        let seen = history(dir.path(), "query.toml", bot).len();
        d.wait_until(
            &format!("new rows of '{bot}' after the refused reload"),
            |_| (history(dir.path(), "query.toml", bot).len() > seen).then_some(()),
        );
    }
}

#[test]
fn kill_9_and_restart_records_interrupted() {
    let config = format!(
        "{}{}",
        sleeper("sleepy", "* * * * * *", ""),
        r#"
[[bot]]
name = "tick"
schedule = "* * * * * *"
command = "true"
misfire = "run_once"
misfire_grace = "1s"
"#
    );
    let dir = dir_with(&config);
    let mut d = Daemon::start(dir.path(), &[]);
    let (pid, row) = wait_in_flight(&mut d, "sleepy");
    d.wait_for_row("tick", "a success", |r| outcome(r) == "success");
    d.signal("KILL");
    let status = d.wait_exit(Duration::from_secs(10));
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    // The job outlives a SIGKILLed daemon (its own process group): end it.
    signal("KILL", &format!("-{pid}"));
    wait_gone(&[pid], Duration::from_secs(5));
    std::fs::remove_file(dir.path().join("sleepy.pid")).expect("remove the pid file");
    drop(d);
    // Down long enough for fires of 'tick' to be late (its grace is 1 s).
    let down = Instant::now();
    while down.elapsed() < Duration::from_millis(2500) {
        std::thread::sleep(POLL);
    }

    let mut d = Daemon::start(dir.path(), &[]);
    let run = d.wait_for_row("sleepy", "the killed run recorded", |r| {
        r["id"] == row["id"] && !r["outcome"].is_null()
    });
    assert_eq!(outcome(&run), "interrupted", "{run}");
    assert!(
        text(&run, "error").contains("ended before it finished"),
        "{run}"
    );
    // Misfire run_once: the late fires of the downtime are recorded missed.
    let missed = d.wait_for_row("tick", "a missed fire", |r| outcome(r) == "missed");
    assert_eq!(text(&missed, "reason"), "late", "{missed}");
}

#[test]
fn time_limit_kills_the_process_tree() {
    let dir = dir_with(
        r#"
[[bot]]
name = "limited"
schedule = "* * * * * *"
time_limit = "1s"
retries = 1
command = """
echo $$ > leader.pid
sh -c 'sleep 300 & echo $! > grandchild.pid; wait' &
echo $! > child.pid
wait
"""
"#,
    );
    let mut d = Daemon::start(dir.path(), &[]);
    let pids: Vec<u32> = d.wait_until("the three pids", |d| {
        ["leader", "child", "grandchild"]
            .iter()
            .map(|n| pid_in(&d.dir.join(format!("{n}.pid"))))
            .collect()
    });
    let row = d.wait_for_row("limited", "a run that ended", |r| {
        !matches!(outcome(r), "" | "skipped" | "missed")
    });
    assert!(matches!(outcome(&row), "timed_out" | "failure"), "{row}");
    wait_gone(&pids, Duration::from_secs(10));
}

#[test]
fn replace_overlap() {
    let dir = dir_with(&sleeper(
        "replaced",
        "*/2 * * * * *",
        "overlap = \"replace\"",
    ));
    let mut d = Daemon::start(dir.path(), &[]);
    let row = d.wait_for_row("replaced", "an interrupted run", |r| {
        outcome(r) == "interrupted"
    });
    assert!(text(&row, "error").contains("replaced"), "{row}");
}

#[test]
fn a_bad_config_file_exits_2_and_starts_nothing() {
    let dir = dir_with(
        r#"
[[bot]]
name = "bad"
schedule = "* * * * * *"
command = "touch ran"
retries = "many"
"#,
    );
    let mut d = Daemon::start(dir.path(), &[]);
    let status = d.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(2), "{}", d.output());
    assert_eq!(d.stdout(), "");
    assert!(
        d.stderr()
            .contains("botman.toml:6:11: error: 'retries' must be an integer"),
        "{}",
        d.output()
    );
    assert!(!dir.path().join("botman.db").exists());
    assert!(!dir.path().join("ran").exists());
}

/// The daemon's peak resident memory (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_command_printing_hundreds_of_megabytes_costs_bounded_memory() {
    // 300 MB on stdout and 100 MB on stderr: the record keeps the last
    // 64 KiB of each, and the daemon's peak memory stays far below what
    // it printed (issue #10 asks for 1 GB; the shell module's own test
    // prints 1 GB, this one keeps the debug build's test short).
    let dir = dir_with(
        r#"
[[bot]]
name = "loud"
schedule = "* * * * * *"
retries = 1
command = "head -c 300000000 /dev/zero | tr '\\0' 'o'; head -c 100000000 /dev/zero | tr '\\0' 'e' >&2"
"#,
    );
    let mut d = Daemon::start(dir.path(), &[]);
    let row = d.wait_for_row("loud", "the loud run ended", |r| outcome(r) == "success");
    let peak = peak_rss_kib(d.pid());
    assert_eq!(
        text(&row, "stdout_tail").len(),
        64 * 1024,
        "the last 64 KiB"
    );
    assert!(text(&row, "stdout_tail").bytes().all(|b| b == b'o'));
    assert_eq!(text(&row, "stderr_tail").len(), 64 * 1024);
    assert!(peak > 0, "read the daemon's VmHWM");
    assert!(
        peak < 64 * 1024,
        "the daemon's peak RSS was {peak} KiB after printing 400 MB"
    );
}

#[test]
fn expect_success_within_reports_a_bot_that_stopped_succeeding() {
    let dir = dir_with(
        r#"
[[bot]]
name = "stale"
schedule = "* * * * * *"
retries = 1
soft_exit_codes = [75]
expect_success_within = "2s"
command = "exit 75"
"#,
    );
    let mut d = Daemon::start(dir.path(), &[]);
    d.wait_until("the overdue error in the log", |d| {
        let log = d.stderr();
        log.contains("no run has succeeded within expect_success_within")
            .then_some(())
    });
    assert!(d.stderr().contains("bot=stale"), "{}", d.output());
}

/// `botman ARGS` in `dir` with `env`: (exit code, stdout, stderr).
fn botman(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_botman"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .output()
        .expect("the botman binary runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A loopback port free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[test]
fn trigger_pause_and_resume_go_through_the_http_api() {
    let port = free_port();
    let dir = dir_with(&format!(
        r#"
[botman.http]
listen = "127.0.0.1:{port}"
token = "env:BOTMAN_TOKEN"

[[bot]]
name = "by-hand"
schedule = "0 0 1 1 *"
command = "echo ran"
"#
    ));
    let token = [("BOTMAN_TOKEN", "tok-123")];
    let mut d = Daemon::start_with_env(dir.path(), &[], &token);
    d.wait_until("the dashboard line", |d| {
        d.stdout()
            .contains(&format!("dashboard: http://127.0.0.1:{port}/"))
            .then_some(())
    });
    let (code, out, err) = botman(dir.path(), &["trigger", "by-hand"], &token);
    assert_eq!(code, Some(0), "{out}{err}");
    let id: i64 = out
        .trim()
        .strip_prefix("bot 'by-hand': started run ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    // `botman history` reads the same file, so it needs the token's
    // variable too.
    let row = d.wait_until("the manual run's row", |d| {
        let (_, out, _) = botman(&d.dir, &["history", "by-hand", "--json"], &token);
        let rows: Vec<Value> = serde_json::from_str(&out).unwrap_or_default();
        rows.into_iter()
            .find(|r| r["id"] == id && outcome(r) == "success")
    });
    assert_eq!(text(&row, "trigger"), "manual");

    let (code, out, _) = botman(
        dir.path(),
        &["pause", "by-hand", "--config", "botman.toml"],
        &token,
    );
    assert_eq!((code, out.trim()), (Some(0), "bot 'by-hand': paused"));
    let (code, out, _) = botman(dir.path(), &["resume", "by-hand"], &token);
    assert_eq!((code, out.trim()), (Some(0), "bot 'by-hand': resumed"));

    let (code, _, err) = botman(dir.path(), &["trigger", "by-hnd"], &token);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("404") && err.contains("did you mean 'by-hand'"),
        "{err}"
    );
    let (code, _, err) = botman(
        dir.path(),
        &["trigger", "by-hand"],
        &[("BOTMAN_TOKEN", "wrong")],
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("403") && err.contains("wrong token"), "{err}");
    assert!(!err.contains("tok-123"));

    // A new token by SIGHUP: the file's new token works at once, the old
    // one no longer does.
    let rotated = std::fs::read_to_string(dir.path().join("botman.toml"))
        .unwrap()
        .replace("token = \"env:BOTMAN_TOKEN\"", "token = \"tok-456\"");
    write_config(dir.path(), "botman.toml", &rotated);
    d.signal("HUP");
    d.wait_until("the new token", |d| {
        d.stderr()
            .contains("the HTTP API's token was replaced")
            .then_some(())
    });
    let (code, out, err) = botman(dir.path(), &["pause", "by-hand"], &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    write_config(
        dir.path(),
        "old.toml",
        &rotated.replace("tok-456", "tok-123"),
    );
    let (code, _, err) = botman(
        dir.path(),
        &["resume", "by-hand", "--config", "old.toml"],
        &[],
    );
    assert_eq!(code, Some(1), "the old token is refused");
    assert!(err.contains("403"), "{err}");
    d.signal("TERM");
    assert!(d.wait_exit(PATIENCE).success(), "{}", d.output());

    // The daemon gone: a clear error, not a hang.
    let (code, _, err) = botman(dir.path(), &["trigger", "by-hand"], &token);
    assert_eq!(code, Some(1));
    assert!(err.contains("cannot reach the daemon"), "{err}");
    // A file without [botman.http] has no API to ask.
    write_config(
        dir.path(),
        "plain.toml",
        "[[bot]]\nname = \"x\"\nschedule = \"@daily\"\ncommand = \"true\"\n",
    );
    let (code, _, err) = botman(dir.path(), &["pause", "x", "--config", "plain.toml"], &[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("has no [botman.http]"), "{err}");
}

#[test]
fn listening_beyond_loopback_without_a_token_is_refused_at_start() {
    let dir = dir_with(
        r#"
[botman.http]
listen = "0.0.0.0:0"

[[bot]]
name = "b"
schedule = "* * * * * *"
command = "touch ran"
"#,
    );
    let mut d = Daemon::start(dir.path(), &[]);
    let status = d.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(2), "{}", d.output());
    assert!(
        d.stderr().contains("botman.toml:3:10: error: listening on 0.0.0.0:0 reaches beyond this machine and there is no 'token'"),
        "{}",
        d.output()
    );
    assert!(!dir.path().join("ran").exists());
}
