//! From the raw config to the resolved one: what each value means. Every
//! problem is added to the diagnostics and resolving goes on, so one run
//! reports them all.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use botman::jiff::SignedDuration;
use botman::jiff::tz::{self, TimeZone};
use botman::{Cron, EventType, JobError, Misfire, ParseError, Schedule};

use super::error::{Diagnostics, line_col};
use super::raw::{
    RawBot, RawCommand, RawConfig, RawDuration, RawHttp, RawManager, RawReceivers, Sp, Span,
    suggest,
};
use super::{
    BotConfig, CommandSpec, Config, HttpConfig, ManagerConfig, OverlapConfig, ReceiversConfig,
    StateConfig, Webhook,
};

/// What a duration error adds: good values.
const DURATION_EXAMPLES: &str =
    "write it like \"10s\", \"5m\", \"1h30m\", \"250ms\" or a number of seconds";

struct Ctx<'a> {
    /// The config file's folder, absolute when it could be made so.
    dir: PathBuf,
    text: &'a str,
    env: &'a dyn Fn(&str) -> Option<String>,
}

/// `None` when something is wrong (it is in `d`).
pub(crate) fn resolve(
    raw: RawConfig,
    path: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    d: &mut Diagnostics,
) -> Option<Config> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    let cx = Ctx { dir, text, env };
    let manager = manager(&raw.manager, &cx, d);
    let mut bots = Vec::with_capacity(raw.bots.len());
    // Trimmed name -> where it was first given.
    let mut seen: HashMap<String, Span> = HashMap::new();
    for b in &raw.bots {
        if let Some(name) = &b.name {
            let key = name.value.trim().to_owned();
            if let Some(first) = seen.get(&key) {
                let at = line_col(text, first.start);
                d.error(
                    name.span.clone(),
                    format!(
                        "duplicate bot name '{key}' (first given at line {}, column {})",
                        at.line, at.col
                    ),
                );
            } else {
                seen.insert(key, name.span.clone());
            }
        }
        if let Some(bot) = bot(b, manager.as_ref(), &cx, d) {
            bots.push(bot);
        }
    }
    Some(Config {
        path: path.to_owned(),
        manager: manager?,
        bots,
    })
}

fn manager(m: &RawManager, cx: &Ctx<'_>, d: &mut Diagnostics) -> Option<ManagerConfig> {
    let before = d.0.len();
    let name = match &m.name {
        Some(n) if n.value.trim().is_empty() => {
            d.error(n.span.clone(), "'name' is empty");
            None
        }
        Some(n) => Some(n.value.clone()),
        None => None,
    };
    let state = match &m.state {
        Some(s) => secret(s, cx, d).and_then(|v| state(&v, s, cx, d)),
        None => Some(StateConfig::Sqlite(cx.dir.join("botman.db"))),
    };
    let (timezone, tz) = match &m.timezone {
        Some(z) => (z.value.clone(), zone(z, d)),
        None => ("UTC".to_owned(), Some(TimeZone::UTC)),
    };
    let max_workers = m
        .max_workers
        .as_ref()
        .and_then(|n| count("max_workers", n, 1, "", d));
    let max_stuck_workers = m
        .max_stuck_workers
        .as_ref()
        .and_then(|n| count("max_stuck_workers", n, 0, "", d));
    let shutdown_grace = m
        .shutdown_grace
        .as_ref()
        .and_then(|g| duration("shutdown_grace", g, d));
    let receivers = receivers(&m.receivers, cx, d);
    let http = m.http.as_ref().and_then(|h| http(h, cx, d));
    if d.0.len() > before {
        return None;
    }
    Some(ManagerConfig {
        name: name.unwrap_or_else(|| "botman".to_owned()),
        state: state?,
        timezone,
        tz: tz?,
        max_workers: max_workers.unwrap_or(10),
        max_stuck_workers,
        shutdown_grace: shutdown_grace.unwrap_or(Duration::from_secs(30)),
        receivers,
        http,
    })
}

/// `[botman.http]`. Listening beyond loopback without a token is refused
/// unless `read_only_public = true` says it is meant (issue #11: a
/// dashboard is never opened to a network by accident).
fn http(h: &RawHttp, cx: &Ctx<'_>, d: &mut Diagnostics) -> Option<HttpConfig> {
    let before = d.0.len();
    let listen = match &h.listen {
        None => Some(std::net::SocketAddr::from(([127, 0, 0, 1], 8080))),
        Some(l) => match l.value.trim().parse::<std::net::SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                d.error(
                    l.span.clone(),
                    format!(
                        "'listen' is not an address and port: '{}'; write it like \"127.0.0.1:8080\" or \"[::1]:8080\"",
                        l.value
                    ),
                );
                None
            }
        },
    };
    let token = h.token.as_ref().and_then(|t| {
        // A secret read from a file often ends in a newline: the token is
        // what is between the spaces, as a client sends it.
        let value = secret(t, cx, d)?.trim().to_owned();
        if value.is_empty() {
            d.error(
                t.span.clone(),
                "'token' is empty: leave it out for a read-only API, or give a long random string",
            );
            return None;
        }
        Some(value)
    });
    let read_only_public = h.read_only_public.as_ref().is_some_and(|r| r.value);
    if let Some(addr) = listen
        && !addr.ip().is_loopback()
        && h.token.is_none()
        && !read_only_public
    {
        let span = h.listen.as_ref().map_or(h.span.clone(), |l| l.span.clone());
        d.error(
            span,
            format!(
                "listening on {addr} reaches beyond this machine and there is no 'token': \
                 anyone who reaches it could see the dashboard; set token = \"env:BOTMAN_TOKEN\" \
                 (changes then need it), or read_only_public = true to serve it read-only on purpose"
            ),
        );
    }
    if d.0.len() > before {
        return None;
    }
    Some(HttpConfig {
        listen: listen?,
        token,
        read_only_public,
    })
}

/// `None` when the bot has an error; `manager` is `None` when the manager
/// has one (the bot is still checked, in UTC).
fn bot(
    b: &RawBot,
    manager: Option<&ManagerConfig>,
    cx: &Ctx<'_>,
    d: &mut Diagnostics,
) -> Option<BotConfig> {
    let before = d.0.len();
    let name = b.name.as_ref().and_then(|n| {
        let trimmed = n.value.trim();
        if trimmed.is_empty() {
            d.error(n.span.clone(), "the bot's 'name' is empty");
            None
        } else if trimmed == "." || trimmed == ".." {
            d.error(
                n.span.clone(),
                format!("'{trimmed}' cannot be a bot's name (it is a path step in the dashboard's and the API's addresses); choose another name"),
            );
            None
        } else if trimmed == "all" {
            d.error(
                n.span.clone(),
                "'all' is reserved (subscribing to 'all' means every bot); choose another name",
            );
            None
        } else {
            Some(trimmed.to_owned())
        }
    });
    let (timezone, zone_ok) = match (&b.timezone, manager) {
        (Some(z), _) => (z.value.clone(), zone(z, d).is_some()),
        (None, Some(m)) => (m.timezone.clone(), true),
        (None, None) => ("UTC".to_owned(), true),
    };
    let mut schedules = Vec::new();
    if let Some(list) = &b.schedule {
        if list.value.is_empty() {
            d.error(
                list.span.clone(),
                "'schedule' is empty: give at least one cron expression, e.g. \"0 3 * * *\"",
            );
        }
        for expr in &list.value {
            match Cron::parse(&expr.value) {
                Ok(_) if zone_ok => match Schedule::new(&expr.value, Some(&timezone)) {
                    Ok(s) => schedules.push(s),
                    Err(e) => d.error(expr.span.clone(), e.to_string()),
                },
                Ok(_) => {}
                Err(e) => cron_error(&e, expr, cx.text, d),
            }
        }
    }
    let command = b.command.as_ref().and_then(|c| command(c, d));
    let retries = b.retries.as_ref().and_then(|n| {
        let n = count("retries", n, 1, " (it counts attempts per fire)", d)?;
        let fits = u32::try_from(n).ok();
        if fits.is_none() {
            d.error(b.retries.as_ref()?.span.clone(), "'retries' is too large");
        }
        fits
    });
    let dur = |key: &str, v: &Option<Sp<RawDuration>>, d: &mut Diagnostics| {
        v.as_ref().and_then(|v| duration(key, v, d))
    };
    let retry_delay = dur("retry_delay", &b.retry_delay, d);
    let max_retry_delay = dur("max_retry_delay", &b.max_retry_delay, d);
    let initial_timeout = dur("initial_timeout", &b.initial_timeout, d);
    let max_timeout = dur("max_timeout", &b.max_timeout, d);
    let time_limit = dur("time_limit", &b.time_limit, d);
    let misfire_grace = dur("misfire_grace", &b.misfire_grace, d);
    let jitter = dur("jitter", &b.jitter, d);
    let expect_success_within = dur("expect_success_within", &b.expect_success_within, d);
    if let (Some(t), Some(v)) = (time_limit, &b.time_limit)
        && t.is_zero()
    {
        d.error(
            v.span.clone(),
            "'time_limit' of zero would fail every attempt; leave it out for no limit",
        );
    }
    if let (Some(w), Some(v)) = (expect_success_within, &b.expect_success_within)
        && w.is_zero()
    {
        d.error(
            v.span.clone(),
            "'expect_success_within' of zero would be overdue at once",
        );
    }
    let overlap = b.overlap.as_ref().and_then(|o| overlap(o, d));
    let misfire = b.misfire.as_ref().and_then(|m| misfire(m, d));
    let workdir = b.workdir.as_ref().and_then(|w| {
        if w.value.is_empty() {
            d.error(w.span.clone(), "'workdir' is empty");
            None
        } else {
            Some(cx.dir.join(&w.value))
        }
    });
    let mut env = Vec::with_capacity(b.env.len());
    for (k, v) in &b.env {
        let name = &k.value;
        if name.is_empty() || name.contains(['=', '\0']) {
            d.error(
                k.span.clone(),
                format!("'{name}' is not a valid environment variable name"),
            );
            continue;
        }
        if let Some(value) = secret(v, cx, d) {
            if value.contains('\0') {
                d.error(
                    v.span.clone(),
                    "an environment value cannot hold a NUL character",
                );
            } else {
                env.push((name.clone(), value));
            }
        }
    }
    let mut soft_exit_codes = Vec::with_capacity(b.soft_exit_codes.len());
    for c in &b.soft_exit_codes {
        match i32::try_from(c.value) {
            Ok(code @ 1..=255) => soft_exit_codes.push(code),
            _ => d.error(
                c.span.clone(),
                format!(
                    "'soft_exit_codes' takes exit codes 1-255 (0 is success), found {}",
                    c.value
                ),
            ),
        }
    }
    let receivers = receivers(&b.receivers, cx, d);
    if d.0.len() > before || b.has_errors {
        return None;
    }
    let config = BotConfig {
        name: name?,
        span: b.span.clone(),
        at: line_col(cx.text, b.span.start),
        schedules,
        timezone,
        command: command?,
        workdir,
        env,
        soft_exit_codes,
        expect_success_within,
        retries,
        retry_delay,
        max_retry_delay,
        initial_timeout,
        max_timeout,
        time_limit,
        overlap,
        misfire,
        misfire_grace,
        jitter,
        is_com_bot: b.is_com_bot.as_ref().map(|c| c.value),
        receivers,
    };
    // The library has the last word on the policies together (a
    // `max_timeout` below the default `initial_timeout`, a name too long):
    // build the bot as the daemon will, with a job that is never run.
    let built = config.builder().job(|| Ok::<(), JobError>(())).build();
    if let Err(e) = built {
        d.error(b.span.clone(), e.to_string());
        return None;
    }
    Some(config)
}

/// The value of a string that may be a secret: `env:NAME` reads `NAME`
/// from the environment (issue 10: secrets stay out of the file).
fn secret(v: &Sp<String>, cx: &Ctx<'_>, d: &mut Diagnostics) -> Option<String> {
    let Some(name) = v.value.strip_prefix("env:") else {
        return Some(v.value.clone());
    };
    if name.is_empty() || name.contains(['=', '\0']) {
        d.error(
            v.span.clone(),
            format!(
                "'{}' names no environment variable: write it like \"env:SLACK_URL\"",
                v.value
            ),
        );
        return None;
    }
    let value = (cx.env)(name);
    if value.is_none() {
        d.error(
            v.span.clone(),
            format!(
                "environment variable '{name}' is not set (read for \"{}\")",
                v.value
            ),
        );
    }
    value
}

/// `state`: `value` is the text after `env:` resolution; messages show
/// what was written (`v`), never a resolved secret.
fn state(value: &str, v: &Sp<String>, cx: &Ctx<'_>, d: &mut Diagnostics) -> Option<StateConfig> {
    const USE: &str = "use \"sqlite://botman.db\" (beside the config file), \
                       \"sqlite:///absolute/path.db\" or \"memory\"";
    if value == "memory" {
        return Some(StateConfig::Memory);
    }
    if let Some(file) = value.strip_prefix("sqlite://") {
        if file.is_empty() || file.ends_with('/') {
            d.error(
                v.span.clone(),
                format!("'state' names no database file; {USE}"),
            );
            return None;
        }
        // `sqlite:///abs` leaves `/abs`: joining an absolute path keeps it.
        return Some(StateConfig::Sqlite(cx.dir.join(file)));
    }
    let lower = value.to_ascii_lowercase();
    let message = if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        format!("the PostgreSQL cluster store is not available yet (a later issue); {USE}")
    } else if lower.starts_with("sqlite:") {
        format!("'{}' is not a SQLite URL; {USE}", v.value)
    } else {
        match suggest(value, ["memory"]) {
            Some(s) => format!("unknown state '{}', did you mean '{s}'?", v.value),
            None => format!("unknown state '{}'; {USE}", v.value),
        }
    };
    d.error(v.span.clone(), message);
    None
}

fn zone(z: &Sp<String>, d: &mut Diagnostics) -> Option<TimeZone> {
    match TimeZone::get(&z.value) {
        Ok(tz) => Some(tz),
        Err(_) => {
            let names: Vec<String> = tz::db()
                .available()
                .map(|n| n.as_str().to_owned())
                .collect();
            let message = match suggest(&z.value, names.iter().map(String::as_str)) {
                Some(s) => format!("unknown time zone '{}', did you mean '{s}'?", z.value),
                None => format!(
                    "unknown time zone '{}'; use an IANA name such as UTC or Europe/Berlin",
                    z.value
                ),
            };
            d.error(z.span.clone(), message);
            None
        }
    }
}

/// A cron error, pointed at its column inside the string when the string
/// is written as is (no escapes), else at the string.
fn cron_error(e: &ParseError, expr: &Sp<String>, text: &str, d: &mut Diagnostics) {
    // The text is not repeated when it is the whole expression.
    let no_text = e.text().is_empty() || e.text() == expr.value;
    let what = match (e.field(), no_text) {
        (Some(field), false) => format!("{field} `{}`: {}", e.text(), e.kind()),
        (Some(field), true) => format!("{field}: {}", e.kind()),
        (None, false) => format!("`{}`: {}", e.text(), e.kind()),
        (None, true) => e.kind().to_string(),
    };
    let message = format!("invalid cron expression '{}': {what}", expr.value);
    let literal = text.get(expr.span.clone()).unwrap_or("");
    // `"..."` and `'...'` open with one quote, `"""..."""` with three.
    let inner = [1, 3].into_iter().find(|&q| {
        literal
            .get(q..q + expr.value.len())
            .is_some_and(|s| s == expr.value)
    });
    let span = match inner {
        Some(q) => {
            let value = &expr.value;
            let byte = |col: usize| {
                value
                    .char_indices()
                    .nth(col)
                    .map_or(value.len(), |(i, _)| i)
            };
            let from = byte(e.column().saturating_sub(1));
            let to = byte(e.column().saturating_sub(1) + e.width());
            let start = expr.span.start + q;
            start + from..start + to
        }
        None => expr.span.clone(),
    };
    d.error(span, message);
}

fn command(c: &Sp<RawCommand>, d: &mut Diagnostics) -> Option<CommandSpec> {
    match &c.value {
        RawCommand::Shell(s) if s.trim().is_empty() => {
            d.error(c.span.clone(), "'command' is empty");
            None
        }
        RawCommand::Shell(s) => Some(CommandSpec::Shell(s.clone())),
        RawCommand::Argv(argv) if argv.is_empty() => {
            d.error(
                c.span.clone(),
                "'command' is an empty list: give the program and its arguments, \
                 e.g. [\"pg_dump\", \"app\"]",
            );
            None
        }
        RawCommand::Argv(argv) if argv[0].value.is_empty() => {
            d.error(argv[0].span.clone(), "the program of 'command' is empty");
            None
        }
        RawCommand::Argv(argv) => Some(CommandSpec::Argv(
            argv.iter().map(|a| a.value.clone()).collect(),
        )),
    }
}

/// An integer at least `min`; `why` is added to the message.
fn count(key: &str, n: &Sp<i64>, min: i64, why: &str, d: &mut Diagnostics) -> Option<usize> {
    if n.value < min {
        d.error(
            n.span.clone(),
            format!("'{key}' must be at least {min}{why}, found {}", n.value),
        );
        return None;
    }
    usize::try_from(n.value).ok()
}

/// Reads a duration: "10s", "5m", "1h30m", "1h 30m", "250ms" (jiff's
/// friendly format, or ISO 8601 "PT1H"), or a number of seconds (a TOML
/// integer or float, or such a number as text).
pub(crate) fn parse_duration(raw: &RawDuration) -> Result<Duration, String> {
    let seconds = |s: f64, shown: &dyn std::fmt::Display| {
        if s.is_nan() || s < 0.0 {
            Err(format!("is negative ({shown}); {DURATION_EXAMPLES}"))
        } else {
            Duration::try_from_secs_f64(s).map_err(|_| format!("is too long ({shown})"))
        }
    };
    match raw {
        RawDuration::Int(n) => match u64::try_from(*n) {
            Ok(n) => Ok(Duration::from_secs(n)),
            Err(_) => Err(format!("is negative ({n}); {DURATION_EXAMPLES}")),
        },
        RawDuration::Float(f) => seconds(*f, f),
        RawDuration::Text(s) => {
            let t = s.trim();
            let shown = format!("\"{s}\"");
            if t.bytes()
                .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'+')
                && let Ok(f) = t.parse::<f64>()
            {
                return seconds(f, &shown);
            }
            match t.parse::<SignedDuration>() {
                Ok(sd) if sd.is_negative() => {
                    Err(format!("is negative ({shown}); {DURATION_EXAMPLES}"))
                }
                Ok(sd) => Duration::try_from(sd).map_err(|_| format!("is too long ({shown})")),
                Err(_) => Err(format!("is not a duration ({shown}); {DURATION_EXAMPLES}")),
            }
        }
    }
}

fn duration(key: &str, v: &Sp<RawDuration>, d: &mut Diagnostics) -> Option<Duration> {
    match parse_duration(&v.value) {
        Ok(dur) => Some(dur),
        Err(why) => {
            d.error(v.span.clone(), format!("'{key}' {why}"));
            None
        }
    }
}

/// Reads `text` after a name and a colon, as `concurrent:N`: N ≥ 1.
fn at_least_one(
    key: &str,
    value: &Sp<String>,
    n: &str,
    example: &str,
    d: &mut Diagnostics,
) -> Option<usize> {
    match n.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Some(n),
        _ => {
            d.error(
                value.span.clone(),
                format!(
                    "'{key}' = '{}' needs a whole number of at least 1 after the colon, e.g. \"{example}\"",
                    value.value
                ),
            );
            None
        }
    }
}

fn overlap(o: &Sp<String>, d: &mut Diagnostics) -> Option<OverlapConfig> {
    let policy = match o.value.trim() {
        "skip" => OverlapConfig::Skip,
        "queue" => OverlapConfig::Queue,
        "replace" => OverlapConfig::Replace,
        v => match v.strip_prefix("concurrent") {
            Some(rest) => {
                let n = rest.strip_prefix(':').unwrap_or("");
                OverlapConfig::Concurrent(at_least_one("overlap", o, n, "concurrent:2", d)?)
            }
            None => {
                let known = ["skip", "queue", "replace", "concurrent"];
                let message = match suggest(v, known) {
                    Some(s) => format!("unknown overlap policy '{v}', did you mean '{s}'?"),
                    None => format!(
                        "unknown overlap policy '{v}'; use skip, queue, replace or concurrent:N"
                    ),
                };
                d.error(o.span.clone(), message);
                return None;
            }
        },
    };
    Some(policy)
}

fn misfire(m: &Sp<String>, d: &mut Diagnostics) -> Option<Misfire> {
    match m.value.trim() {
        "run_once" => Some(Misfire::RunOnce),
        "skip" => Some(Misfire::Skip),
        // Every late fire: the file said so; `run_all:N` caps it.
        "run_all" => Some(Misfire::RunAll { max: usize::MAX }),
        v => match v.strip_prefix("run_all:") {
            Some(n) => Some(Misfire::RunAll {
                max: at_least_one("misfire", m, n, "run_all:10", d)?,
            }),
            None => {
                let known = ["run_once", "skip", "run_all"];
                let message = match suggest(v, known) {
                    Some(s) => format!("unknown misfire policy '{v}', did you mean '{s}'?"),
                    None => format!(
                        "unknown misfire policy '{v}'; use run_once, skip, run_all or run_all:N"
                    ),
                };
                d.error(m.span.clone(), message);
                None
            }
        },
    }
}

fn receivers(r: &RawReceivers, cx: &Ctx<'_>, d: &mut Diagnostics) -> ReceiversConfig {
    let hooks = |list: &[Sp<String>], d: &mut Diagnostics| -> Vec<Webhook> {
        list.iter()
            .filter_map(|v| {
                let url = secret(v, cx, d)?;
                match botman::WebhookUrl::new(&url) {
                    Ok(shown) => Some(Webhook { url, shown }),
                    Err(e) => {
                        // The library's message shows the URL redacted.
                        d.error(v.span.clone(), e.to_string());
                        None
                    }
                }
            })
            .collect()
    };
    let slack_webhook = hooks(&r.slack_webhook, d);
    let chime_webhook = hooks(&r.chime_webhook, d);
    let webhook = hooks(&r.webhook, d);
    ReceiversConfig {
        slack_webhook,
        slack_event_types: event_types(&r.slack_event_types, d),
        chime_webhook,
        chime_event_types: event_types(&r.chime_event_types, d),
        webhook,
        webhook_event_types: event_types(&r.webhook_event_types, d),
    }
}

fn event_types(list: &[Sp<String>], d: &mut Diagnostics) -> Vec<EventType> {
    list.iter()
        .filter_map(|v| match v.value.parse::<EventType>() {
            Ok(t) => Some(t),
            Err(_) => {
                let names = EventType::ALL.map(EventType::as_str);
                let message = match suggest(&v.value, names) {
                    Some(s) => format!("unknown event type '{}', did you mean '{s}'?", v.value),
                    None => format!(
                        "unknown event type '{}'; use info, warning, error or debug",
                        v.value
                    ),
                };
                d.error(v.span.clone(), message);
                None
            }
        })
        .collect()
}
