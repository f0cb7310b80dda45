//! Shell-command jobs of the daemon (issue #10): run one command in its own
//! process group, keep a bounded tail of its output, and make sure nothing it
//! started outlives the run.
//!
//! The library enforces a bot's time limit, `Overlap::Replace` and shutdown by
//! dropping the job's future, so cancellation here is a drop: the [`Group`]
//! guard owns the child and, when dropped before the group is known empty,
//! hands the stop to a detached escalation (SIGTERM to the group, SIGKILL after
//! the kill grace, then reap). A command that exits normally but left
//! background processes in its group gets the same treatment before `run`
//! returns.
//!
//! All process-group and signal calls of botman-cli live in this module and go
//! through nix (STYLE.md §11).
//!
//! # Platform specific behavior
//!
//! Unix only; the daemon targets Linux. On Linux a group whose only members
//! are zombies counts as empty (read from `/proc`): in a container whose PID 1
//! does not reap, the zombies of killed grandchildren would otherwise keep the
//! group "alive" and every stop would wait for the whole grace. The orphan
//! reaper ([`start_orphan_reaper`]) is Linux only.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, ChildStderr, ChildStdout, Command};

/// How much of each of stdout and stderr a run keeps: the last 64 KiB.
pub(crate) const TAIL_BYTES: usize = 64 * 1024;

/// The kill grace of a [`ShellCommand`] unless set: 5 s between SIGTERM and
/// SIGKILL.
pub(crate) const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(5);

/// Longer output lines are cut in the log (the tail keeps them whole).
const LOG_LINE_BYTES: usize = 4 * 1024;

/// One read from a pipe; also the most the tail buffer overshoots by. Small:
/// each running job holds two (1,000 jobs at once held 128 MiB of read
/// buffers at 64 KiB; measured with `bench --bin daemon`, issue #10), and a
/// pipe hands over at most 64 KiB a read anyway.
const READ_CHUNK: usize = 8 * 1024;

/// The first read buffer of a stream: most commands print a few lines, and a
/// burst of 1,000 jobs holds 2,000 of these at once. A read that fills the
/// buffer doubles it, up to [`READ_CHUNK`].
const FIRST_READ: usize = 512;

/// How often a stop looks at the group again.
const POLL: Duration = Duration::from_millis(20);

/// After SIGKILL, how long a stop waits for the group to go before it gives
/// up (a process in uninterruptible sleep): it must not spin forever.
const GIVE_UP_AFTER_KILL: Duration = Duration::from_secs(5);

/// After the group is gone, how long the output pipes get to reach EOF. Data
/// left in a pipe reads at once; only a process that left the group
/// (`setsid`) but kept the pipe open makes this wait, and it must not hold
/// the run forever.
const DRAIN: Duration = Duration::from_secs(1);

pub(crate) use crate::config::CommandSpec;

/// A bot's shell command: what to run, where, with which environment.
#[derive(Debug, Clone)]
pub(crate) struct ShellCommand {
    spec: CommandSpec,
    workdir: Option<PathBuf>,
    env: Vec<(String, String)>,
    bot: String,
    kill_grace: Duration,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Exit {
    /// The command exited with this status code.
    Code(i32),
    /// The command was killed by a signal.
    Signal {
        /// The signal number.
        number: i32,
        /// Its name, such as "SIGKILL"; "unknown signal" for one nix does not
        /// name (real-time signals).
        name: &'static str,
    },
    /// The command never ran: "no such file: /x", "permission denied: /x",
    /// "workdir /nope does not exist", ...
    CannotStart(String),
    /// The command ran but its exit status could not be read (another
    /// process reaped it: a reaper calling `waitpid(-1)` besides ours).
    Unknown(String),
}

/// What one run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShellOutcome {
    /// How it ended.
    pub(crate) exit: Exit,
    /// The last [`TAIL_BYTES`] of stdout, lossy UTF-8, starting at a
    /// character boundary.
    pub(crate) stdout_tail: String,
    /// The last [`TAIL_BYTES`] of stderr, like `stdout_tail`.
    pub(crate) stderr_tail: String,
    /// All bytes the command wrote to stdout.
    pub(crate) stdout_bytes: u64,
    /// All bytes the command wrote to stderr.
    pub(crate) stderr_bytes: u64,
}

/// A run judged with the bot's soft exit codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Exit code 0.
    Success,
    /// An exit code the bot lists as soft; the message says which.
    SoftFailure(String),
    /// Anything else: "exit code 3: <last stderr line>", "killed by SIGKILL",
    /// "cannot start: ...".
    Failure(String),
}

impl ShellCommand {
    /// A command for the bot `bot` (its name labels the log lines), with no
    /// workdir (the daemon's), no extra environment and the default kill
    /// grace.
    pub(crate) fn new(bot: impl Into<String>, spec: CommandSpec) -> Self {
        ShellCommand {
            spec,
            workdir: None,
            env: Vec::new(),
            bot: bot.into(),
            kill_grace: DEFAULT_KILL_GRACE,
        }
    }

    /// Runs the command in `dir`. Defaults to the daemon's working directory.
    pub(crate) fn with_workdir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.workdir = Some(dir.into());
        self
    }

    /// Adds `key=value` to the inherited environment (the bot's configured
    /// variables). Defaults to none.
    pub(crate) fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Time between SIGTERM and SIGKILL when the run is stopped. Defaults to
    /// [`DEFAULT_KILL_GRACE`] (5 s).
    #[cfg_attr(
        not(test),
        allow(dead_code, reason = "the daemon uses the default grace")
    )]
    pub(crate) fn with_kill_grace(mut self, grace: Duration) -> Self {
        self.kill_grace = grace;
        self
    }

    /// Runs the command once. `extra_env` are the per-run variables the daemon
    /// computes (`BOTMAN_BOT`, `BOTMAN_SCHEDULED_AT`, `BOTMAN_ATTEMPT`,
    /// `BOTMAN_RUN_ID`, `BOTMAN_NODE`); they come after, and so win over, the
    /// configured ones.
    ///
    /// Dropping the future before it completes stops the run: SIGTERM to the
    /// group, SIGKILL after the kill grace, and the child is reaped, in a
    /// detached task (or thread without a runtime); see
    /// [`wait_detached_stops`].
    pub(crate) async fn run(&self, extra_env: &[(String, String)]) -> ShellOutcome {
        self.run_until(extra_env, std::future::pending()).await
    }

    /// Like [`run`](Self::run), but when `stop` completes first the group is
    /// stopped (SIGTERM, SIGKILL after the kill grace) and this returns once
    /// it is gone, with what it wrote until then. The explicit counterpart of
    /// dropping the future, for a caller that wants the outcome.
    pub(crate) async fn run_until(
        &self,
        extra_env: &[(String, String)],
        stop: impl Future<Output = ()>,
    ) -> ShellOutcome {
        let (mut group, stdout, stderr) = match self.spawn(extra_env) {
            Ok(started) => started,
            Err(reason) => {
                tracing::warn!(bot = %self.bot, "cannot start: {reason}");
                return ShellOutcome {
                    exit: Exit::CannotStart(reason),
                    stdout_tail: String::new(),
                    stderr_tail: String::new(),
                    stdout_bytes: 0,
                    stderr_bytes: 0,
                };
            }
        };
        let mut out = Capture::new(&self.bot, Stream::Stdout);
        let mut err = Capture::new(&self.bot, Stream::Stderr);
        let status = {
            let reading = async {
                tokio::join!(out.pump(stdout), err.pump(stderr));
            };
            tokio::pin!(reading, stop);
            let mut read_done = false;
            let mut stop_done = false;
            let status = loop {
                let kill_due = group.stop.kill_due().map(tokio::time::Instant::from_std);
                tokio::select! {
                    status = group.wait_leader() => break status,
                    () = &mut reading, if !read_done => read_done = true,
                    () = &mut stop, if !stop_done => {
                        stop_done = true;
                        tracing::info!(bot = %self.bot, "stopping the command");
                        group.stop.signal_due();
                    }
                    () = sleep_until_opt(kill_due), if kill_due.is_some() && !group.stop.killed() => {
                        group.stop.signal_due();
                    }
                }
            };
            // The leader is gone; whatever it left in its group goes too,
            // before the pipes those processes hold can reach EOF.
            group.clear().await;
            if !read_done && tokio::time::timeout(DRAIN, reading).await.is_err() {
                tracing::warn!(
                    bot = %self.bot,
                    "output still open after the command's group ended (a process left the group); not waiting for it"
                );
            }
            status
        };
        let exit = match status {
            Ok(status) => exit_of(status),
            Err(err) => Exit::Unknown(err.to_string()),
        };
        tracing::debug!(bot = %self.bot, "command ended: {exit}");
        ShellOutcome {
            exit,
            stdout_tail: out.tail_string(),
            stderr_tail: err.tail_string(),
            stdout_bytes: out.total,
            stderr_bytes: err.total,
        }
    }

    fn spawn(
        &self,
        extra_env: &[(String, String)],
    ) -> Result<(Group, ChildStdout, ChildStderr), String> {
        let (program, mut cmd) = match &self.spec {
            CommandSpec::Shell(text) => {
                let mut cmd = Command::new("/bin/sh");
                cmd.arg("-c").arg(text);
                ("/bin/sh", cmd)
            }
            CommandSpec::Argv(argv) => {
                let Some((program, args)) = argv.split_first() else {
                    return Err("empty command".to_owned());
                };
                let mut cmd = Command::new(program);
                cmd.args(args);
                (program.as_str(), cmd)
            }
        };
        if let Some(dir) = &self.workdir {
            check_workdir(dir)?;
            cmd.current_dir(dir);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)))
            .envs(extra_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own group, so a stop reaches everything it starts.
            .process_group(0)
            // The group guard stops it, with a grace; tokio's kill_on_drop
            // would SIGKILL the leader alone.
            .kill_on_drop(false);
        // Spawn and record the pid under one lock, so the orphan reaper never
        // sees an exited child of ours that is not recorded yet.
        let mut tracked = tracked();
        let mut child = cmd
            .spawn()
            .map_err(|err| spawn_error(&err, program, self.workdir.as_deref()))?;
        let Some(pid) = child.id() else {
            return Err("the child vanished at spawn".to_owned());
        };
        tracked.insert(pid);
        drop(tracked);
        tracing::debug!(bot = %self.bot, pid, "command started");
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            unreachable!("stdout and stderr are piped");
        };
        let pgid = Pid::from_raw(pid as i32);
        let group = Group {
            stop: Escalation {
                pgid,
                pid,
                child: Some(child),
                grace: self.kill_grace,
                term_sent: None,
                kill_sent: None,
            },
            done: false,
        };
        Ok((group, stdout, stderr))
    }
}

impl ShellOutcome {
    /// Judges the run: exit code 0 is a success, a code in `soft_exit_codes`
    /// a soft failure, everything else a failure whose message names the
    /// code and the last line of stderr, the signal, or why it could not
    /// start.
    pub(crate) fn verdict(&self, soft_exit_codes: &[i32]) -> Verdict {
        let with_stderr = |head: String| match last_line(&self.stderr_tail) {
            Some(line) => format!("{head}: {line}"),
            None => head,
        };
        match &self.exit {
            Exit::Code(0) => Verdict::Success,
            Exit::Code(code) if soft_exit_codes.contains(code) => {
                Verdict::SoftFailure(with_stderr(self.exit.to_string()))
            }
            Exit::Code(_) | Exit::Signal { .. } => {
                Verdict::Failure(with_stderr(self.exit.to_string()))
            }
            Exit::CannotStart(_) | Exit::Unknown(_) => Verdict::Failure(self.exit.to_string()),
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Code(code) => write!(f, "exit code {code}"),
            Exit::Signal { number, name } if Signal::try_from(*number).is_err() => {
                write!(f, "killed by {name} {number}")
            }
            Exit::Signal { name, .. } => write!(f, "killed by {name}"),
            Exit::CannotStart(reason) => write!(f, "cannot start: {reason}"),
            Exit::Unknown(reason) => write!(f, "exit status unknown: {reason}"),
        }
    }
}

/// The last non-blank line of `text`, cut to 200 bytes for a message.
fn last_line(text: &str) -> Option<&str> {
    let line = text.lines().map(str::trim).rfind(|l| !l.is_empty())?;
    Some(cut_at_char_boundary(line, 200))
}

fn cut_at_char_boundary(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn exit_of(status: ExitStatus) -> Exit {
    if let Some(code) = status.code() {
        return Exit::Code(code);
    }
    let number = status.signal().unwrap_or(0);
    Exit::Signal {
        number,
        name: signal_name(number),
    }
}

fn signal_name(number: i32) -> &'static str {
    Signal::try_from(number).map_or("unknown signal", Signal::as_str)
}

fn check_workdir(dir: &Path) -> Result<(), String> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(format!("workdir {} is not a directory", dir.display())),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            Err(format!("workdir {} does not exist", dir.display()))
        }
        Err(err) => Err(format!("workdir {}: {err}", dir.display())),
    }
}

fn spawn_error(err: &io::Error, program: &str, workdir: Option<&Path>) -> String {
    // The workdir was there a moment ago; if it went since, say so rather
    // than blame the program.
    if let Some(dir) = workdir
        && let Err(reason) = check_workdir(dir)
    {
        return reason;
    }
    match err.kind() {
        io::ErrorKind::NotFound => format!("no such file: {program}"),
        io::ErrorKind::PermissionDenied => format!("permission denied: {program}"),
        _ => format!("{program}: {err}"),
    }
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

// ---------------------------------------------------------------------------
// Output capture
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

/// One output stream: a bounded tail plus the line being assembled for the
/// log. Memory stays under `2 * TAIL_BYTES + READ_CHUNK + LOG_LINE_BYTES`
/// whatever the command prints.
struct Capture<'a> {
    bot: &'a str,
    stream: Stream,
    tail: Vec<u8>,
    total: u64,
    line: Vec<u8>,
    line_cut: bool,
}

impl<'a> Capture<'a> {
    fn new(bot: &'a str, stream: Stream) -> Self {
        Capture {
            bot,
            stream,
            tail: Vec::new(),
            total: 0,
            line: Vec::new(),
            line_cut: false,
        }
    }

    async fn pump(&mut self, mut pipe: impl AsyncRead + Unpin) {
        let mut buf = vec![0; FIRST_READ];
        loop {
            match pipe.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    self.push(&buf[..n]);
                    if n == buf.len() && buf.len() < READ_CHUNK {
                        buf.resize(buf.len() * 2, 0);
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    tracing::warn!(bot = %self.bot, stream = self.stream.name(), "reading output: {err}");
                    break;
                }
            }
        }
        if !self.line.is_empty() || self.line_cut {
            self.log_line();
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        self.total += bytes.len() as u64;
        self.tail.extend_from_slice(bytes);
        // Trim in batches: each byte is moved at most about once.
        if self.tail.len() > 2 * TAIL_BYTES {
            let cut = self.tail.len() - TAIL_BYTES;
            self.tail.drain(..cut);
        }
        let mut rest = bytes;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            self.add_to_line(&rest[..end]);
            self.log_line();
            rest = &rest[end + 1..];
        }
        self.add_to_line(rest);
    }

    fn add_to_line(&mut self, part: &[u8]) {
        let room = LOG_LINE_BYTES - self.line.len();
        if part.len() > room {
            self.line_cut = true;
        }
        self.line.extend_from_slice(&part[..part.len().min(room)]);
    }

    fn log_line(&mut self) {
        let text = String::from_utf8_lossy(&self.line);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        let cut = if self.line_cut { " [line cut]" } else { "" };
        match self.stream {
            Stream::Stdout => tracing::info!(bot = %self.bot, stream = "stdout", "{text}{cut}"),
            Stream::Stderr => tracing::warn!(bot = %self.bot, stream = "stderr", "{text}{cut}"),
        }
        self.line.clear();
        self.line_cut = false;
    }

    /// The last `TAIL_BYTES` as text: lossy UTF-8 that starts at a character
    /// boundary and is itself at most `TAIL_BYTES` long.
    fn tail_string(&self) -> String {
        let start = self.tail.len().saturating_sub(TAIL_BYTES);
        let mut kept = &self.tail[start..];
        if (kept.len() as u64) < self.total {
            // The cut may have split a character: drop its continuation
            // bytes rather than show a replacement character.
            let partial = kept
                .iter()
                .take(3)
                .take_while(|&&b| b & 0xC0 == 0x80)
                .count();
            kept = &kept[partial..];
        }
        let text = String::from_utf8_lossy(kept);
        if text.len() <= TAIL_BYTES {
            return text.into_owned();
        }
        // Replacement characters made it longer than the bytes it came from.
        let mut start = text.len() - TAIL_BYTES;
        while !text.is_char_boundary(start) {
            start += 1;
        }
        text[start..].to_owned()
    }
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

// ---------------------------------------------------------------------------
// Process group: the guard and its escalation
// ---------------------------------------------------------------------------

/// The running command's group. Dropped before [`Group::clear`] finished, it
/// detaches the stop (SIGTERM, SIGKILL after the grace, reap).
struct Group {
    stop: Escalation,
    done: bool,
}

impl Group {
    /// Waits for the group leader (the command itself) and reaps it. Cancel
    /// safe; pending forever once it has been reaped.
    async fn wait_leader(&mut self) -> io::Result<ExitStatus> {
        let Some(child) = self.stop.child.as_mut() else {
            return std::future::pending().await;
        };
        let status = child.wait().await;
        self.stop.leader_reaped();
        status
    }

    /// After the leader exited: stops and waits out whatever is left in its
    /// group (nothing, usually: one `kill(-pgid, 0)`).
    async fn clear(&mut self) {
        self.stop.finish().await;
        self.done = true;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut stop = Escalation {
            child: self.stop.child.take(),
            ..self.stop
        };
        // Cheap and synchronous: SIGTERM goes now, the waiting is detached.
        if stop.step() {
            return;
        }
        Detached::start(stop);
    }
}

/// Stopping a group: SIGTERM (and SIGCONT, so a stopped process sees it),
/// SIGKILL after the grace if anything is left, the leader reaped. Driven by
/// repeated non-blocking [`step`](Self::step)s, from a task or a thread.
struct Escalation {
    pgid: Pid,
    pid: u32,
    /// The leader, until reaped.
    child: Option<Child>,
    grace: Duration,
    term_sent: Option<Instant>,
    kill_sent: Option<Instant>,
}

impl Escalation {
    fn kill_due(&self) -> Option<Instant> {
        self.term_sent.map(|at| at + self.grace)
    }

    fn killed(&self) -> bool {
        self.kill_sent.is_some()
    }

    fn leader_reaped(&mut self) {
        self.child = None;
        untrack(self.pid);
    }

    /// Reaps the leader if it exited, then sends what is due; true once the
    /// group is gone (or given up on).
    fn step(&mut self) -> bool {
        if let Some(child) = self.child.as_mut() {
            match child.try_wait() {
                Ok(None) => {}
                Ok(Some(_)) | Err(_) => self.leader_reaped(),
            }
        }
        if self.child.is_none() && !group_alive(self.pgid) {
            return true;
        }
        self.signal_due()
    }

    /// Sends SIGTERM if not yet sent, SIGKILL once the grace is over; true
    /// when it gives up, long after SIGKILL. Never reaps: `run_until` waits
    /// for the leader's status itself.
    fn signal_due(&mut self) -> bool {
        let now = Instant::now();
        if self.term_sent.is_none() {
            signal_group(self.pgid, Signal::SIGTERM);
            signal_group(self.pgid, Signal::SIGCONT);
            self.term_sent = Some(now);
        } else if let Some(killed_at) = self.kill_sent {
            if now >= killed_at + GIVE_UP_AFTER_KILL {
                tracing::warn!(
                    pgid = self.pgid.as_raw(),
                    "process group still there {GIVE_UP_AFTER_KILL:?} after SIGKILL; giving up on it"
                );
                // An unreaped leader goes to tokio's orphan queue; the orphan
                // reaper may take it too.
                if self.child.take().is_some() {
                    untrack(self.pid);
                }
                return true;
            }
        } else if self.kill_due().is_some_and(|due| now >= due) {
            tracing::info!(
                pgid = self.pgid.as_raw(),
                "process group outlived SIGTERM by {:?}; sending SIGKILL",
                self.grace
            );
            signal_group(self.pgid, Signal::SIGKILL);
            self.kill_sent = Some(now);
        }
        false
    }

    async fn finish(&mut self) {
        while !self.step() {
            tokio::time::sleep(POLL).await;
        }
    }

    fn finish_blocking(&mut self) {
        while !self.step() {
            std::thread::sleep(POLL);
        }
    }
}

fn signal_group(pgid: Pid, sig: Signal) {
    match signal::killpg(pgid, sig) {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(err) => tracing::warn!(pgid = pgid.as_raw(), "{sig} to the process group: {err}"),
    }
}

/// Whether a process of the group is still running. Zombies do not count:
/// they are dead, and in a container whose PID 1 never reaps they would stay.
fn group_alive(pgid: Pid) -> bool {
    match signal::killpg(pgid, None) {
        Err(Errno::ESRCH) => false,
        _ => live_member(pgid).unwrap_or(true),
    }
}

/// Whether `/proc` shows a member of `pgid` that is not a zombie; `None`
/// when `/proc` cannot tell (missing, or from another PID namespace).
#[cfg(target_os = "linux")]
fn live_member(pgid: Pid) -> Option<bool> {
    let own = std::fs::read_to_string("/proc/self/stat").ok()?;
    if own.split(' ').next()?.parse::<i32>().ok()? != std::process::id() as i32 {
        return None;
    }
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        // Gone since the listing: not a member any more.
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if let Some(info) = ProcStat::parse(&stat)
            && info.pgrp == pgid.as_raw()
            && !matches!(info.state, 'Z' | 'X')
        {
            return Some(true);
        }
    }
    Some(false)
}

#[cfg(not(target_os = "linux"))]
fn live_member(_pgid: Pid) -> Option<bool> {
    None
}

/// The fields of `/proc/<pid>/stat` this module reads.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ProcStat {
    state: char,
    ppid: i32,
    pgrp: i32,
}

#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
impl ProcStat {
    /// `pid (comm) state ppid pgrp ...`; comm may hold spaces and parens, so
    /// the fields start after its last `)`.
    fn parse(stat: &str) -> Option<ProcStat> {
        let rest = &stat[stat.rfind(')')? + 1..];
        let mut fields = rest.split_ascii_whitespace();
        let state = fields.next()?.chars().next()?;
        let ppid = fields.next()?.parse().ok()?;
        let pgrp = fields.next()?.parse().ok()?;
        Some(ProcStat { state, ppid, pgrp })
    }
}

/// Stops detached after their run's future was dropped.
static DETACHED: AtomicUsize = AtomicUsize::new(0);

/// How many dropped runs are still being stopped in the background.
pub(crate) fn detached_stops() -> usize {
    DETACHED.load(Ordering::SeqCst)
}

/// Waits until every dropped run's group is gone, at most `timeout`; true if
/// none is left. The daemon calls it before it exits, since exiting would
/// end a detached stop between its SIGTERM and its SIGKILL.
pub(crate) async fn wait_detached_stops(timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while detached_stops() > 0 {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
    true
}

/// A stop running on its own. In a tokio task when a runtime is there; if
/// that task is dropped (the runtime shuts down), the stop moves to a thread
/// rather than be lost, keeping its SIGTERM time.
struct Detached(Option<Escalation>);

impl Detached {
    fn start(stop: Escalation) {
        DETACHED.fetch_add(1, Ordering::SeqCst);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let mut task = Detached(Some(stop));
                runtime.spawn(async move {
                    if let Some(stop) = task.0.as_mut() {
                        stop.finish().await;
                    }
                    // Finished: its drop only counts it out.
                    task.0.take();
                });
            }
            Err(_) => Detached::on_thread(stop),
        }
    }

    fn on_thread(stop: Escalation) {
        let pgid = stop.pgid;
        let spawned = std::thread::Builder::new()
            .name("botman-shell-stop".to_owned())
            .spawn(move || {
                let mut stop = stop;
                stop.finish_blocking();
                DETACHED.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(err) = spawned {
            // No thread to wait the grace out: kill now rather than never.
            tracing::warn!(
                pgid = pgid.as_raw(),
                "no thread to stop the group ({err}); sending SIGKILL now"
            );
            signal_group(pgid, Signal::SIGKILL);
            DETACHED.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Drop for Detached {
    fn drop(&mut self) {
        match self.0.take() {
            Some(stop) => Detached::on_thread(stop),
            None => {
                DETACHED.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Orphan reaper (PID 1)
// ---------------------------------------------------------------------------

/// Pids of the children this module spawned and has not reaped yet: the
/// orphan reaper leaves them to tokio.
static TRACKED: LazyLock<Mutex<HashSet<u32>>> = LazyLock::new(|| Mutex::new(HashSet::new()));

fn tracked() -> MutexGuard<'static, HashSet<u32>> {
    // The set stays consistent even if a holder panicked: no half updates.
    TRACKED.lock().unwrap_or_else(PoisonError::into_inner)
}

fn untrack(pid: u32) {
    tracked().remove(&pid);
}

/// When [`start_orphan_reaper`] reaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReapOrphans {
    /// Only when this process is PID 1 (a container's init), where orphans
    /// would otherwise pile up as zombies.
    IfPid1,
    /// Always; also makes this process a child subreaper, so that orphans
    /// of its jobs come to it instead of to PID 1.
    #[allow(
        dead_code,
        reason = "the daemon reaps only as PID 1; kept for embedding"
    )]
    Always,
}

/// Starts reaping orphaned processes that get reparented to this one,
/// without taking the exit status of the children this module waits for.
/// Returns whether it started (with [`ReapOrphans::IfPid1`], only as PID 1).
/// Must be called within a tokio runtime.
///
/// On SIGCHLD, and once a second because a signal may cover several exits,
/// it peeks at an exited child with `waitid(P_ALL, WEXITED | WNOWAIT |
/// WNOHANG)`; one this module did not spawn is reaped with `waitpid`, one it
/// did is left to tokio (and the pass ends there: `waitid` keeps showing it
/// until tokio reaps it, so the next pass goes on). Children spawned
/// elsewhere in the process are seen as orphans: as PID 1 the daemon must
/// spawn its processes through this module.
#[cfg(target_os = "linux")]
pub(crate) fn start_orphan_reaper(when: ReapOrphans) -> io::Result<bool> {
    use tokio::signal::unix::{SignalKind, signal};

    match when {
        ReapOrphans::IfPid1 if std::process::id() != 1 => return Ok(false),
        ReapOrphans::IfPid1 => {}
        ReapOrphans::Always => nix::sys::prctl::set_child_subreaper(true)?,
    }
    let mut sigchld = signal(SignalKind::child())?;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = sigchld.recv() => {}
                _ = tick.tick() => {}
            }
            let reaped = reap_orphans(&tracked());
            if !reaped.is_empty() {
                tracing::debug!(count = reaped.len(), "reaped orphaned processes");
            }
        }
    });
    Ok(true)
}

/// One pass: reaps exited children that are not in `tracked`, stopping at
/// the first that is (or when none has exited). Returns the reaped pids.
#[cfg(target_os = "linux")]
fn reap_orphans(tracked: &HashSet<u32>) -> Vec<u32> {
    use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};

    let mut reaped = Vec::new();
    loop {
        let peek = waitid(
            Id::All,
            WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT | WaitPidFlag::WNOHANG,
        );
        let pid = match peek {
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
            Ok(status) => match status.pid() {
                Some(pid) => pid,
                None => break,
            },
            Err(Errno::EINTR) => continue,
            Err(err) => {
                tracing::warn!("peeking at exited children: {err}");
                break;
            }
        };
        if tracked.contains(&(pid.as_raw() as u32)) {
            // `waitid` shows this one until tokio reaps it; the others are
            // found in /proc.
            for pid in zombie_children() {
                if !tracked.contains(&pid) && reap(pid) {
                    reaped.push(pid);
                }
            }
            break;
        }
        if !reap(pid.as_raw() as u32) {
            break;
        }
        reaped.push(pid.as_raw() as u32);
    }
    reaped
}

#[cfg(target_os = "linux")]
fn reap(pid: u32) -> bool {
    use nix::sys::wait::{WaitPidFlag, waitpid};

    match waitpid(Pid::from_raw(pid as i32), Some(WaitPidFlag::WNOHANG)) {
        Ok(_) => true,
        Err(err) => {
            tracing::warn!(pid, "reaping an orphan: {err}");
            false
        }
    }
}

/// This process's children that are zombies, from /proc.
#[cfg(target_os = "linux")]
fn zombie_children() -> Vec<u32> {
    let own = std::process::id() as i32;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| ProcStat::parse(&stat))
                .is_some_and(|s| s.ppid == own && s.state == 'Z')
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::io::Write;

    const HANG: Duration = Duration::from_secs(30);

    fn sh(text: &str) -> ShellCommand {
        ShellCommand::new("test-bot", CommandSpec::Shell(text.to_owned()))
    }

    fn argv(args: &[&str]) -> ShellCommand {
        ShellCommand::new(
            "test-bot",
            CommandSpec::Argv(args.iter().map(|a| (*a).to_owned()).collect()),
        )
    }

    async fn run(cmd: &ShellCommand) -> ShellOutcome {
        tokio::time::timeout(HANG, cmd.run(&[]))
            .await
            .expect("the run hung")
    }

    fn proc_stat(pid: i32) -> Option<ProcStat> {
        ProcStat::parse(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
    }

    /// Gone: no such process, or a zombie that is not ours to reap (its
    /// parent is PID 1, which here may never reap).
    fn gone(pid: i32) -> bool {
        match signal::kill(Pid::from_raw(pid), None) {
            Err(Errno::ESRCH) => true,
            _ => proc_stat(pid)
                .is_some_and(|s| s.state == 'Z' && s.ppid != std::process::id() as i32),
        }
    }

    async fn eventually(within: Duration, mut ok: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if ok() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The pids written one per line to `file`, once there are `count`.
    fn pids_in(file: &Path, count: usize) -> Option<Vec<i32>> {
        let text = std::fs::read_to_string(file).ok()?;
        let pids: Vec<i32> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
        (pids.len() >= count).then_some(pids)
    }

    async fn wait_for_pids(file: &Path, count: usize) -> Vec<i32> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(pids) = pids_in(file, count) {
                return pids;
            }
            assert!(
                Instant::now() < deadline,
                "the command never wrote its pids"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// `Command::output` with the child tracked, so that a parallel
    /// `reap_orphans` test does not take its exit status.
    fn output_tracked(cmd: &mut std::process::Command) -> io::Result<std::process::Output> {
        let mut set = tracked();
        let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
        let pid = child.id();
        set.insert(pid);
        drop(set);
        let out = child.wait_with_output();
        untrack(pid);
        out
    }

    fn vm_rss_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    #[tokio::test]
    async fn ok_success_captures_stdout() {
        let out = run(&sh("echo hello; echo world")).await;
        assert_eq!(out.exit, Exit::Code(0));
        assert_eq!(out.stdout_tail, "hello\nworld\n");
        assert_eq!(out.stderr_tail, "");
        assert_eq!(out.stdout_bytes, 12);
        assert_eq!(out.verdict(&[]), Verdict::Success);
    }

    #[tokio::test]
    async fn err_exit_code_names_last_stderr_line() {
        let out = run(&sh("echo first >&2; echo 'it broke' >&2; echo; exit 3")).await;
        assert_eq!(out.exit, Exit::Code(3));
        assert_eq!(out.stderr_tail, "first\nit broke\n");
        assert_eq!(
            out.verdict(&[]),
            Verdict::Failure("exit code 3: it broke".to_owned())
        );
        let quiet = run(&sh("exit 4")).await;
        assert_eq!(
            quiet.verdict(&[]),
            Verdict::Failure("exit code 4".to_owned())
        );
    }

    #[tokio::test]
    async fn soft_exit_code_is_a_soft_failure() {
        let out = run(&sh("echo later >&2; exit 75")).await;
        assert_eq!(
            out.verdict(&[75]),
            Verdict::SoftFailure("exit code 75: later".to_owned())
        );
        assert!(matches!(out.verdict(&[1]), Verdict::Failure(_)));
        // Listing 0 does not make success soft.
        assert_eq!(run(&sh("true")).await.verdict(&[0]), Verdict::Success);
    }

    #[tokio::test]
    async fn signal_death_names_the_signal() {
        let out = run(&sh("kill -9 $$")).await;
        assert_eq!(
            out.exit,
            Exit::Signal {
                number: 9,
                name: "SIGKILL"
            }
        );
        assert_eq!(
            out.verdict(&[9, 137]),
            Verdict::Failure("killed by SIGKILL".to_owned())
        );
    }

    #[tokio::test]
    async fn err_cannot_start() {
        let dir = tempfile::tempdir().unwrap();

        let missing = run(&argv(&["/nonexistent/botman-prog"])).await;
        assert_eq!(
            missing.exit,
            Exit::CannotStart("no such file: /nonexistent/botman-prog".to_owned())
        );
        assert_eq!(
            missing.verdict(&[]),
            Verdict::Failure("cannot start: no such file: /nonexistent/botman-prog".to_owned())
        );
        let not_in_path = run(&argv(&["botman-no-such-program-anywhere"])).await;
        assert!(
            matches!(&not_in_path.exit, Exit::CannotStart(r) if r.starts_with("no such file")),
            "{not_in_path:?}"
        );

        let nope = dir.path().join("nope");
        let bad_dir = run(&sh("true").with_workdir(&nope)).await;
        assert_eq!(
            bad_dir.exit,
            Exit::CannotStart(format!("workdir {} does not exist", nope.display()))
        );

        let plain = dir.path().join("plain.sh");
        std::fs::File::create(&plain)
            .unwrap()
            .write_all(b"#!/bin/sh\necho hi\n")
            .unwrap();
        let plain_str = plain.to_str().unwrap();
        let not_exec = run(&argv(&[plain_str])).await;
        assert_eq!(
            not_exec.exit,
            Exit::CannotStart(format!("permission denied: {plain_str}"))
        );
        let file_as_dir = run(&sh("true").with_workdir(&plain)).await;
        assert_eq!(
            file_as_dir.exit,
            Exit::CannotStart(format!("workdir {plain_str} is not a directory"))
        );

        let empty = run(&argv(&[])).await;
        assert_eq!(empty.exit, Exit::CannotStart("empty command".to_owned()));
    }

    #[tokio::test]
    async fn env_extra_env_and_workdir_apply() {
        let dir = tempfile::tempdir().unwrap();
        let cmd = sh("echo \"$BOTMAN_TEST_A|$BOTMAN_BOT|$BOTMAN_ATTEMPT|$BOTMAN_TEST_OVER\"; pwd")
            .with_env("BOTMAN_TEST_A", "configured")
            .with_env("BOTMAN_TEST_OVER", "configured")
            .with_workdir(dir.path());
        let extra = [
            ("BOTMAN_BOT".to_owned(), "test-bot".to_owned()),
            ("BOTMAN_ATTEMPT".to_owned(), "2".to_owned()),
            ("BOTMAN_TEST_OVER".to_owned(), "per-run".to_owned()),
        ];
        let out = tokio::time::timeout(HANG, cmd.run(&extra)).await.unwrap();
        let real = std::fs::canonicalize(dir.path()).unwrap();
        assert_eq!(
            out.stdout_tail,
            format!("configured|test-bot|2|per-run\n{}\n", real.display())
        );
        // The inherited environment is still there.
        if let Ok(home) = std::env::var("HOME") {
            assert_eq!(run(&sh("printf %s \"$HOME\"")).await.stdout_tail, home);
        }
    }

    #[tokio::test]
    async fn stdin_is_dev_null() {
        let out = run(&sh("cat; echo \"cat done $?\"; readlink /proc/self/fd/0")).await;
        assert_eq!(out.exit, Exit::Code(0));
        assert_eq!(out.stdout_tail, "cat done 0\n/dev/null\n");
    }

    #[tokio::test]
    async fn argv_passes_arguments_without_a_shell() {
        let out = run(&argv(&["printf", "[%s]", "$HOME", "a b", "*", ";"])).await;
        assert_eq!(out.exit, Exit::Code(0));
        assert_eq!(out.stdout_tail, "[$HOME][a b][*][;]");
    }

    #[tokio::test]
    async fn tail_keeps_exactly_the_last_64_kib_of_each_stream() {
        // Both streams at once: one must not block the other.
        let out = run(&sh("seq 1 100000 & seq 1 100000 >&2; wait")).await;
        let all: String = (1..=100_000).map(|i| format!("{i}\n")).collect();
        let expected = &all[all.len() - TAIL_BYTES..];
        assert_eq!(out.stdout_bytes, all.len() as u64);
        assert_eq!(out.stderr_bytes, all.len() as u64);
        assert_eq!(out.stdout_tail.len(), TAIL_BYTES);
        assert_eq!(out.stdout_tail, expected);
        assert_eq!(out.stderr_tail, expected);
        assert_eq!(
            out.verdict(&[]),
            Verdict::Success,
            "exit 0 with stderr is still a success"
        );
    }

    #[test]
    fn tail_starts_at_a_char_boundary_and_stays_bounded() {
        let mut capture = Capture::new("b", Stream::Stdout);
        // "é" is 2 bytes; one byte after them makes the 64 KiB cut land in
        // the middle of one.
        for _ in 0..TAIL_BYTES {
            capture.push("é".as_bytes());
        }
        capture.push(b"x");
        let tail = capture.tail_string();
        assert_eq!(tail.len(), TAIL_BYTES - 1);
        let (body, last) = tail.split_at(tail.len() - 1);
        assert_eq!(last, "x");
        assert!(body.chars().all(|c| c == 'é'));

        // Invalid bytes grow into U+FFFD (3 bytes each); still bounded.
        let mut binary = Capture::new("b", Stream::Stderr);
        binary.push(&vec![0xFF; 3 * TAIL_BYTES]);
        let tail = binary.tail_string();
        assert!(tail.len() <= TAIL_BYTES, "{}", tail.len());
        assert!(tail.chars().all(|c| c == '\u{FFFD}'));
    }

    #[test]
    fn log_lines_are_cut() {
        let mut capture = Capture::new("b", Stream::Stdout);
        capture.push(&vec![b'a'; 3 * LOG_LINE_BYTES]);
        assert_eq!(capture.line.len(), LOG_LINE_BYTES);
        assert!(capture.line_cut);
        capture.push(b"\nnext");
        assert_eq!(capture.line, b"next");
        assert!(!capture.line_cut);
    }

    #[tokio::test]
    async fn a_gigabyte_of_output_costs_bounded_memory() {
        let before = vm_rss_kib();
        let out = tokio::time::timeout(
            Duration::from_secs(120),
            sh("head -c 1000000000 /dev/zero").run(&[]),
        )
        .await
        .expect("1 GB took too long");
        let after = vm_rss_kib();
        assert_eq!(out.exit, Exit::Code(0));
        assert_eq!(out.stdout_bytes, 1_000_000_000);
        assert_eq!(out.stdout_tail.len(), TAIL_BYTES);
        let growth_mib = after.saturating_sub(before) / 1024;
        assert!(growth_mib < 50, "RSS grew by {growth_mib} MiB");
    }

    /// `sh` that starts two sleeps, writes their pids and its own to `file`,
    /// and waits.
    fn tree(file: &Path, prelude: &str) -> ShellCommand {
        sh(&format!(
            "{prelude} sleep 300 & echo $! > {f}; sleep 300 & echo $! >> {f}; echo $$ >> {f}; wait",
            f = file.display()
        ))
    }

    #[tokio::test]
    async fn dropping_the_run_kills_the_whole_tree() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pids");
        let cmd = tree(&file, "");
        // Dropped once the pids are written: what a time limit does.
        tokio::select! {
            out = cmd.run(&[]) => panic!("the tree ended on its own: {out:?}"),
            _ = wait_for_pids(&file, 3) => {}
        }
        let pids = pids_in(&file, 3).unwrap();
        assert!(
            eventually(Duration::from_secs(10), || pids.iter().all(|&p| gone(p))).await,
            "still running: {:?}",
            pids.iter().filter(|&&p| !gone(p)).collect::<Vec<_>>()
        );
        // The leader is our child: reaped, not a zombie.
        let leader = pids[2];
        assert!(
            eventually(Duration::from_secs(10), || signal::kill(
                Pid::from_raw(leader),
                None
            ) == Err(Errno::ESRCH))
            .await,
            "leader {leader} not reaped: {:?}",
            proc_stat(leader)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn timeout_drop_kills_the_tree_on_a_multi_thread_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pids");
        let cmd = tree(&file, "");
        let run = tokio::spawn(async move {
            tokio::time::timeout(Duration::from_millis(300), cmd.run(&[])).await
        });
        assert!(run.await.unwrap().is_err(), "the tree ended on its own");
        let pids = pids_in(&file, 3).expect("300 ms were not enough to start the tree");
        assert!(
            eventually(Duration::from_secs(10), || pids.iter().all(|&p| gone(p))).await,
            "still running: {pids:?}"
        );
    }

    #[tokio::test]
    async fn a_group_ignoring_sigterm_gets_sigkill_after_the_grace() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pids");
        // `trap '' TERM` is inherited by the sleeps: nothing in the group
        // dies of SIGTERM.
        let cmd = tree(&file, "trap '' TERM;").with_kill_grace(Duration::from_millis(200));
        let started = Instant::now();
        let out = tokio::time::timeout(
            HANG,
            cmd.run_until(&[], async {
                wait_for_pids(&file, 3).await;
            }),
        )
        .await
        .expect("the stop hung");
        let took = started.elapsed();
        assert_eq!(
            out.exit,
            Exit::Signal {
                number: 9,
                name: "SIGKILL"
            }
        );
        assert!(took >= Duration::from_millis(200), "{took:?}");
        let pids = pids_in(&file, 3).unwrap();
        assert!(
            pids.iter().all(|&p| gone(p)),
            "still running after run_until returned"
        );
    }

    #[tokio::test]
    async fn dropping_a_run_that_ignores_sigterm_still_kills_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pids");
        let cmd = tree(&file, "trap '' TERM;").with_kill_grace(Duration::from_millis(200));
        tokio::select! {
            out = cmd.run(&[]) => panic!("the tree ended on its own: {out:?}"),
            _ = wait_for_pids(&file, 3) => {}
        }
        let pids = pids_in(&file, 3).unwrap();
        // Still alive inside the grace: SIGTERM did nothing.
        assert!(pids.iter().all(|&p| !gone(p)));
        assert!(detached_stops() >= 1);
        // What the daemon does before it exits; other tests' stops count
        // too, and all end within seconds.
        assert!(wait_detached_stops(Duration::from_secs(20)).await);
        assert!(
            pids.iter().all(|&p| gone(p)),
            "detached stop ended, still running: {pids:?}"
        );
    }

    #[test]
    fn dropped_outside_a_runtime_or_with_it_the_tree_still_dies() {
        let dir = tempfile::tempdir().unwrap();
        for case in [
            "future dropped after the runtime",
            "runtime dropped mid-stop",
        ] {
            let file = dir.path().join(format!("pids-{}", case.len()));
            let cmd = tree(&file, "trap '' TERM;").with_kill_grace(Duration::from_millis(200));
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let mut fut = Box::pin(cmd.run(&[]));
            rt.block_on(async {
                tokio::select! {
                    out = &mut fut => panic!("ended on its own: {out:?}"),
                    _ = wait_for_pids(&file, 3) => {}
                }
            });
            if case.starts_with("future") {
                // No runtime here: the stop runs on a thread.
                drop(rt);
                drop(fut);
            } else {
                // The stop task is spawned, then dropped with the runtime:
                // it moves to a thread.
                rt.block_on(async { drop(fut) });
                drop(rt);
            }
            let pids = pids_in(&file, 3).unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            while !pids.iter().all(|&p| gone(p)) {
                assert!(Instant::now() < deadline, "{case}: still running: {pids:?}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    #[tokio::test]
    async fn leftovers_after_a_normal_exit_are_killed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pids");
        // The sleep also holds stdout open: without the group kill, the run
        // would wait for its EOF for 300 s.
        let cmd = sh(&format!(
            "sleep 300 & echo $! > {f}; (trap '' TERM; sleep 300) & echo $! >> {f}; echo bye",
            f = file.display()
        ))
        .with_kill_grace(Duration::from_millis(200));
        let out = run(&cmd).await;
        assert_eq!(out.exit, Exit::Code(0));
        assert_eq!(out.stdout_tail, "bye\n");
        let pids = pids_in(&file, 2).unwrap();
        assert!(
            pids.iter().all(|&p| gone(p)),
            "left running: {:?}",
            pids.iter().map(|&p| (p, proc_stat(p))).collect::<Vec<_>>()
        );
    }

    #[tokio::test]
    async fn a_process_that_left_the_group_does_not_hold_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pids");
        // setsid: a new session, out of our group's reach, keeping stdout.
        let cmd = sh(&format!(
            "setsid sleep 30 & echo $! > {}; echo out",
            file.display()
        ));
        let started = Instant::now();
        let out = run(&cmd).await;
        assert_eq!(out.exit, Exit::Code(0));
        assert_eq!(out.stdout_tail, "out\n");
        assert!(started.elapsed() < DRAIN + Duration::from_secs(5));
        if let Some(pids) = pids_in(&file, 1) {
            let _ = signal::kill(Pid::from_raw(pids[0]), Signal::SIGKILL);
        }
    }

    #[test]
    fn verdict_messages() {
        let outcome = |exit, stderr: &str| ShellOutcome {
            exit,
            stdout_tail: String::new(),
            stderr_tail: stderr.to_owned(),
            stdout_bytes: 0,
            stderr_bytes: stderr.len() as u64,
        };
        let term = Exit::Signal {
            number: 15,
            name: "SIGTERM",
        };
        assert_eq!(
            outcome(term, "shutting down\n").verdict(&[]),
            Verdict::Failure("killed by SIGTERM: shutting down".to_owned())
        );
        let rt = Exit::Signal {
            number: 40,
            name: signal_name(40),
        };
        assert_eq!(rt.to_string(), "killed by unknown signal 40");
        assert_eq!(
            outcome(Exit::Code(2), &format!("{}\n\n  \n", "é".repeat(150))).verdict(&[]),
            Verdict::Failure(format!("exit code 2: {}", "é".repeat(100)))
        );
        assert_eq!(
            outcome(Exit::Unknown("ECHILD".to_owned()), "x").verdict(&[]),
            Verdict::Failure("exit status unknown: ECHILD".to_owned())
        );
    }

    #[test]
    fn proc_stat_parses_odd_names() {
        assert_eq!(
            ProcStat::parse("42 (a) b (c)) S 7 42 42 0 -1"),
            Some(ProcStat {
                state: 'S',
                ppid: 7,
                pgrp: 42
            })
        );
        assert_eq!(ProcStat::parse("garbage"), None);
    }

    #[test]
    fn the_run_future_is_send() {
        fn send<T: Send>(_: &T) {}
        let cmd = sh("true");
        let fut = cmd.run(&[]);
        send(&fut);
    }

    #[tokio::test]
    async fn reaper_takes_orphans_and_leaves_our_children() {
        // Ours: spawned through the module, exits 7 at once.
        let cmd = sh("exit 7");
        let (mut group, _out, _err) = cmd.spawn(&[]).unwrap();
        let ours = group.stop.pid as i32;
        // Not ours: a plain std child nobody waits for.
        let orphan = std::process::Command::new("true").spawn().unwrap();
        let orphan_pid = orphan.id() as i32;
        let zombie = |pid| proc_stat(pid).is_some_and(|s| s.state == 'Z');
        assert!(
            eventually(Duration::from_secs(10), || zombie(ours)
                && zombie(orphan_pid))
            .await
        );
        let mut reaped = Vec::new();
        assert!(
            eventually(Duration::from_secs(10), || {
                reaped.extend(reap_orphans(&tracked()));
                reaped.contains(&(orphan_pid as u32))
            })
            .await,
            "orphan not reaped"
        );
        assert!(!reaped.contains(&(ours as u32)));
        // Our child's status is still there for tokio.
        let status = group.wait_leader().await.unwrap();
        assert_eq!(status.code(), Some(7));
        group.clear().await;
        drop(orphan);
    }

    #[tokio::test]
    async fn reaper_starts_only_as_pid_1() {
        assert_ne!(std::process::id(), 1);
        assert!(!start_orphan_reaper(ReapOrphans::IfPid1).unwrap());
    }

    /// Runs `pid1_inner` as PID 1 of a new PID namespace (root can; the
    /// daemon's container case).
    #[test]
    fn as_pid_1_orphans_are_reaped_and_exit_codes_kept() {
        let probe = output_tracked(std::process::Command::new("unshare").args([
            "--pid",
            "--fork",
            "--mount-proc",
            "true",
        ]));
        if !probe.as_ref().is_ok_and(|o| o.status.success()) {
            eprintln!("skipped: unshare --pid does not work here: {probe:?}");
            return;
        }
        let exe = std::env::current_exe().unwrap();
        let out = output_tracked(
            std::process::Command::new("unshare")
                .args(["--pid", "--fork", "--mount-proc"])
                .arg(exe)
                .args([
                    "shell::tests::pid1_inner",
                    "--exact",
                    "--ignored",
                    "--nocapture",
                ])
                .env("BOTMAN_SHELL_PID1_TEST", "1"),
        )
        .unwrap();
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{text}");
        assert!(text.contains("1 passed"), "{text}");
    }

    #[tokio::test]
    #[ignore = "runs as PID 1 from as_pid_1_orphans_are_reaped_and_exit_codes_kept"]
    async fn pid1_inner() {
        assert_eq!(std::env::var("BOTMAN_SHELL_PID1_TEST").as_deref(), Ok("1"));
        assert_eq!(std::process::id(), 1);
        assert!(start_orphan_reaper(ReapOrphans::IfPid1).unwrap());
        for round in 0..20 {
            // The subshell's sleep is orphaned to us when the subshell
            // exits; it is in a new session, so our group kill misses it.
            let cmd = sh("(setsid sh -c 'sleep 0.05' >/dev/null 2>&1 &); exit 7");
            let out = run(&cmd).await;
            assert_eq!(out.exit, Exit::Code(7), "round {round}");
        }
        let zombies = || {
            std::fs::read_dir("/proc")
                .unwrap()
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
                .filter(|&pid| proc_stat(pid).is_some_and(|s| s.state == 'Z' && s.ppid == 1))
                .collect::<Vec<_>>()
        };
        // The orphans end within ~50 ms; the reaper takes each on SIGCHLD.
        assert!(
            eventually(Duration::from_secs(10), || {
                let any_left = std::fs::read_dir("/proc")
                    .unwrap()
                    .flatten()
                    .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
                    .any(|pid| pid != 1 && proc_stat(pid).is_some_and(|s| s.ppid == 1));
                !any_left
            })
            .await,
            "orphans left: {:?}",
            zombies()
        );
    }
}
