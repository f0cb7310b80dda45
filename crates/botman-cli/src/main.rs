//! The `botman` command.
//!
//! `botman next '<expr>' [--after <RFC3339>] [--count N] [--tz <zone>]` prints
//! the next fire times of a cron expression, one RFC 3339 timestamp with its
//! offset per line. Bad input exits with status 2 and `error: ...` on stderr.
//!
//! `botman check [FILE]` validates a config file (default `./botman.toml`):
//! `ok: N bots` on stdout and status 0, or every error as
//! `FILE:LINE:COL: error: ...` on stderr and status 2.
//!
//! `botman list [FILE] [--after <RFC3339>]` prints each bot of the file with
//! its schedules and its next three fires in its zone.
//!
//! `botman run [FILE] [--node NAME] [--log-format human|json]` is the
//! daemon (`daemon.rs`); `botman history BOT [--config FILE] [--limit N]
//! [--json]` reads a bot's runs from the file's state store.

mod config;

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use botman::{Cron, ParseError};
use clap::{Parser, Subcommand};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ZonedDateTime};

use crate::config::{CommandSpec, Config, ConfigError};

// The daemon and its shell-command jobs (issue #10): Unix only.
#[cfg(unix)]
mod daemon;
// The HTTP API and dashboard of the daemon (issue #11), and the commands
// that talk to it.
#[cfg(unix)]
mod client;
#[cfg(unix)]
mod http;
#[cfg(unix)]
mod shell;

/// botman: a cron scheduler for functions and shell commands.
#[derive(Debug, Parser)]
#[command(name = "botman", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the next fire times of a cron expression.
    Next(NextArgs),
    /// Validate a config file: `ok: N bots`, or every error with its line
    /// and column (status 2).
    Check(CheckArgs),
    /// List the bots of a config file with their schedules and next fires.
    List(ListArgs),
    /// Run the scheduler daemon on a config file (SIGINT/SIGTERM stop it
    /// gracefully, SIGHUP reloads the file).
    #[cfg(unix)]
    Run(RunArgs),
    /// Print a bot's runs from the config file's state store, newest first.
    #[cfg(unix)]
    History(HistoryArgs),
    /// Ask the running daemon to run a bot now (its overlap policy
    /// decides), through its HTTP API (address and token from the file).
    #[cfg(unix)]
    Trigger(ApiArgs),
    /// Ask the running daemon to pause a bot (no fires until resumed).
    #[cfg(unix)]
    Pause(ApiArgs),
    /// Ask the running daemon to resume a paused bot.
    #[cfg(unix)]
    Resume(ApiArgs),
}

#[cfg(unix)]
#[derive(Debug, clap::Args)]
struct ApiArgs {
    /// The bot.
    bot: String,
    /// The config file of the running daemon: its [botman.http] says where
    /// it listens and its token.
    #[arg(long, value_name = "FILE", default_value = "botman.toml")]
    config: PathBuf,
}

#[cfg(unix)]
#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The config file.
    #[arg(default_value = "botman.toml")]
    file: PathBuf,
    /// The node name recorded on runs and given to jobs as BOTMAN_NODE
    /// (default: env BOTMAN_NODE, else the host name).
    #[arg(long, value_name = "NAME")]
    node: Option<String>,
    /// How to log (to stderr): lines for people, or one JSON object each.
    #[arg(long, value_enum, default_value_t = daemon::LogFormat::Human)]
    log_format: daemon::LogFormat,
}

#[cfg(unix)]
#[derive(Debug, clap::Args)]
struct HistoryArgs {
    /// The bot.
    bot: String,
    /// The config file whose state store to read.
    #[arg(long, value_name = "FILE", default_value = "botman.toml")]
    config: PathBuf,
    /// How many runs, newest first.
    #[arg(long, value_name = "N", default_value_t = 20)]
    limit: usize,
    /// A JSON array of runs instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// The config file.
    #[arg(default_value = "botman.toml")]
    file: PathBuf,
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    /// The config file.
    #[arg(default_value = "botman.toml")]
    file: PathBuf,
    /// Fires strictly after this instant (RFC 3339). Defaults to now.
    #[arg(long, value_name = "RFC3339")]
    after: Option<String>,
}

#[derive(Debug, clap::Args)]
struct NextArgs {
    /// The cron expression: 5 fields (minute precision), 6 with leading
    /// seconds, or a macro such as @daily. Quote it.
    expr: String,
    /// Search strictly after this instant (RFC 3339, e.g.
    /// 2025-03-08T12:00:00-05:00). Defaults to now.
    #[arg(long, value_name = "RFC3339")]
    after: Option<String>,
    /// How many fire times to print.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 5,
        allow_negative_numbers = true
    )]
    count: u64,
    /// IANA time zone the expression is read in and times are printed in.
    #[arg(long, value_name = "ZONE", default_value = "UTC")]
    tz: String,
}

/// Bad input from the command line: reported with status 2.
struct UsageError(String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Next(args) => next(&args),
        Command::Check(args) => check(&args),
        Command::List(args) => list(&args),
        #[cfg(unix)]
        Command::Run(args) => run_daemon(&args),
        #[cfg(unix)]
        Command::History(args) => history(&args),
        #[cfg(unix)]
        Command::Trigger(args) => ask_daemon(&args, client::Action::Run),
        #[cfg(unix)]
        Command::Pause(args) => ask_daemon(&args, client::Action::Pause),
        #[cfg(unix)]
        Command::Resume(args) => ask_daemon(&args, client::Action::Resume),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(UsageError(msg))) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Config(err)) => {
            eprintln!("{err}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
        Err(Failure::Io(err)) if err.kind() == io::ErrorKind::BrokenPipe => {
            // `botman next ... | head` closing the pipe is not an error.
            ExitCode::SUCCESS
        }
        Err(Failure::Io(err)) => {
            eprintln!("error: writing output: {err}");
            ExitCode::FAILURE
        }
    }
}

enum Failure {
    Usage(UsageError),
    /// A config file that cannot be read or has errors.
    Config(ConfigError),
    /// The daemon or a store failed (status 1).
    Runtime(String),
    Io(io::Error),
}

/// A multi-threaded runtime for the daemon and the store.
#[cfg(unix)]
fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(format!("cannot start the async runtime: {e}")))
}

#[cfg(unix)]
fn run_daemon(args: &RunArgs) -> Result<(), Failure> {
    // The file is checked before anything starts: its errors, all of
    // them, with status 2.
    Config::load(&args.file)?;
    daemon::init_logs(args.log_format);
    let node = daemon::node_name(args.node.as_deref());
    runtime()?
        .block_on(daemon::run(&args.file, node))
        .map_err(Failure::Runtime)
}

#[cfg(unix)]
fn ask_daemon(args: &ApiArgs, action: client::Action) -> Result<(), Failure> {
    let config = Config::load(&args.config)?;
    let line = runtime()?
        .block_on(client::ask(&config, &args.bot, action))
        .map_err(Failure::Runtime)?;
    writeln!(io::stdout().lock(), "{line}")?;
    Ok(())
}

#[cfg(unix)]
fn history(args: &HistoryArgs) -> Result<(), Failure> {
    let config = Config::load(&args.config)?;
    daemon::init_logs(daemon::LogFormat::Human);
    let runs = runtime()?
        .block_on(daemon::history(&config, &args.bot, args.limit))
        .map_err(Failure::Runtime)?;
    let mut out = BufWriter::new(io::stdout().lock());
    if args.json {
        let rows: Vec<serde_json::Value> = runs.iter().map(daemon::run_json).collect();
        let text = serde_json::to_string_pretty(&rows)
            .map_err(|e| Failure::Runtime(format!("encoding the history: {e}")))?;
        writeln!(out, "{text}")?;
    } else {
        writeln!(
            out,
            "{:<8} {:<20} {:<20} {:>10} {:<21} {:>8} {:>4} {:<9} {:<12} error",
            "id",
            "scheduled_at",
            "started_at",
            "duration",
            "outcome",
            "attempts",
            "exit",
            "trigger",
            "node"
        )?;
        for r in &runs {
            let j = daemon::run_json(r);
            let text = |k: &str| j[k].as_str().unwrap_or("-").to_owned();
            let short = |t: String| t.chars().take(19).collect::<String>();
            let duration = j["duration_ms"]
                .as_f64()
                .map_or("-".to_owned(), |ms| format!("{:.0}ms", ms));
            let outcome = match (r.outcome, r.outcome.and_then(|o| o.reason())) {
                (Some(o), Some(why)) => format!("{o} ({why})"),
                (Some(o), None) => o.to_string(),
                (None, _) => "in flight".to_owned(),
            };
            let error: String = r
                .error
                .as_deref()
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(60)
                .collect();
            writeln!(
                out,
                "{:<8} {:<20} {:<20} {:>10} {:<21} {:>8} {:>4} {:<9} {:<12} {}",
                r.id.0,
                short(text("scheduled_at")),
                short(text("started_at")),
                duration,
                outcome,
                r.attempts,
                r.output.exit_code.map_or("-".to_owned(), |c| c.to_string()),
                r.trigger.as_str(),
                r.node.as_deref().unwrap_or("-"),
                error
            )?;
        }
        if runs.is_empty() {
            eprintln!("no runs recorded for bot '{}'", args.bot);
        }
    }
    out.flush()?;
    Ok(())
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Failure {
        Failure::Config(e)
    }
}

impl From<UsageError> for Failure {
    fn from(e: UsageError) -> Failure {
        Failure::Usage(e)
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        Failure::Io(e)
    }
}

fn next(args: &NextArgs) -> Result<(), Failure> {
    let cron = Cron::parse(&args.expr).map_err(|e| UsageError(describe_parse_error(&e)))?;
    let tz = TimeZone::get(&args.tz).map_err(|e| {
        UsageError(format!(
            "--tz: unknown time zone `{}` ({e}); use an IANA name such as UTC, \
             America/New_York or Europe/Berlin",
            args.tz
        ))
    })?;
    let after = after(args.after.as_deref())?;
    let start = ZonedDateTime::new(after, tz);
    let mut out = BufWriter::new(io::stdout().lock());
    let mut printed = 0u64;
    for fire in cron
        .iter_after(&start)
        .take(usize::try_from(args.count).unwrap_or(usize::MAX))
    {
        writeln!(
            out,
            "{}",
            fire.timestamp().display_with_offset(fire.offset())
        )?;
        printed += 1;
    }
    out.flush()?;
    if printed < args.count {
        eprintln!("note: only {printed} fire times exist before the year 9998");
    }
    Ok(())
}

/// `--after`, or now.
fn after(text: Option<&str>) -> Result<Timestamp, UsageError> {
    match text {
        None => Ok(Timestamp::now()),
        Some(text) => text.parse::<Timestamp>().map_err(|e| {
            UsageError(format!(
                "--after: `{text}` is not an RFC 3339 instant ({e}); \
                 write it like 2025-03-08T12:00:00-05:00 or 2025-03-08T17:00:00Z"
            ))
        }),
    }
}

fn check(args: &CheckArgs) -> Result<(), Failure> {
    let config = Config::load(&args.file)?;
    let n = config.bots.len();
    let mut out = io::stdout().lock();
    writeln!(out, "ok: {n} bot{}", if n == 1 { "" } else { "s" })?;
    Ok(())
}

/// How many next fires `list` shows per bot.
const LIST_FIRES: usize = 3;

fn list(args: &ListArgs) -> Result<(), Failure> {
    let after = after(args.after.as_deref())?;
    let config = Config::load(&args.file)?;
    let mut out = BufWriter::new(io::stdout().lock());
    for (i, bot) in config.bots.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        writeln!(out, "{}  ({})", bot.name, bot.timezone)?;
        for s in &bot.schedules {
            writeln!(out, "  schedule  {}", s.expr())?;
        }
        // The next fires of all its schedules together, each instant once.
        let mut fires: Vec<ZonedDateTime> = Vec::new();
        for s in &bot.schedules {
            let tz = s.time_zone().cloned().unwrap_or(TimeZone::UTC);
            let start = ZonedDateTime::new(after, tz);
            fires.extend(s.cron().iter_after(&start).take(LIST_FIRES));
        }
        fires.sort_by_key(ZonedDateTime::timestamp);
        fires.dedup_by_key(|z| z.timestamp());
        for (j, fire) in fires.iter().take(LIST_FIRES).enumerate() {
            let label = if j == 0 { "next" } else { "" };
            let at = fire.timestamp().display_with_offset(fire.offset());
            writeln!(out, "  {label:<8}  {at}")?;
        }
        let command = match &bot.command {
            CommandSpec::Shell(s) => s.clone(),
            CommandSpec::Argv(argv) => format!("{argv:?}"),
        };
        writeln!(out, "  command   {command}")?;
    }
    out.flush()?;
    Ok(())
}

/// The parse error with the expression underneath and a caret at the column.
fn describe_parse_error(err: &ParseError) -> String {
    let expr = err.expr();
    let mut msg = format!("invalid cron expression: {err}");
    // Only draw the caret line when the expression is one printable line
    // (tabs are shown as spaces so the caret stays under its column).
    let printable = !expr.trim().is_empty() && !expr.chars().any(|c| c.is_control() && c != '\t');
    if printable {
        let shown: String = expr
            .chars()
            .map(|c| if c == '\t' { ' ' } else { c })
            .collect();
        let pad = " ".repeat(err.column().saturating_sub(1));
        let carets = "^".repeat(err.width());
        msg.push_str(&format!("\n  {shown}\n  {pad}{carets}"));
    }
    msg
}
