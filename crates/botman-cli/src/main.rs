//! The `botman` command.
//!
//! `botman next '<expr>' [--after <RFC3339>] [--count N] [--tz <zone>]` prints
//! the next fire times of a cron expression, one RFC 3339 timestamp with its
//! offset per line. Bad input exits with status 2 and `error: ...` on stderr.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use botman::{Cron, ParseError};
use clap::{Parser, Subcommand};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ZonedDateTime};

// Shell-command jobs of the daemon (issue #10); unused until the daemon
// wires them in.
#[cfg(unix)]
#[allow(dead_code)]
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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(UsageError(msg))) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
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
    Io(io::Error),
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
    let after = match &args.after {
        None => Timestamp::now(),
        Some(text) => text.parse::<Timestamp>().map_err(|e| {
            UsageError(format!(
                "--after: `{text}` is not an RFC 3339 instant ({e}); \
                 write it like 2025-03-08T12:00:00-05:00 or 2025-03-08T17:00:00Z"
            ))
        })?,
    };
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
