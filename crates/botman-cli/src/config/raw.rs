//! The raw config: the TOML tree read into typed fields that keep their
//! byte spans. This layer checks the shape only — known keys, value types,
//! required keys; what the values mean (durations, cron text, zones, URLs,
//! secrets) is decided in `resolve.rs` (STYLE.md §3: parse raw, then
//! resolve).

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::error::Diagnostics;

pub(crate) type Span = Range<usize>;

/// A value and where it was written.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Sp<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

/// A duration as written: text for jiff to read, or a number of seconds.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum RawDuration {
    Text(String),
    Int(i64),
    Float(f64),
}

/// `command`: a string (for `sh -c`) or a list (argv).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum RawCommand {
    Shell(String),
    Argv(Vec<Sp<String>>),
}

/// The receiver keys a `[botman]` table and a `[[bot]]` share. Each takes a
/// string or a list of strings.
#[derive(Debug, Default)]
pub(crate) struct RawReceivers {
    pub(crate) slack_webhook: Vec<Sp<String>>,
    pub(crate) slack_event_types: Vec<Sp<String>>,
    pub(crate) chime_webhook: Vec<Sp<String>>,
    pub(crate) chime_event_types: Vec<Sp<String>>,
    pub(crate) webhook: Vec<Sp<String>>,
    pub(crate) webhook_event_types: Vec<Sp<String>>,
}

const RECEIVER_KEYS: [&str; 6] = [
    "slack_webhook",
    "slack_event_types",
    "chime_webhook",
    "chime_event_types",
    "webhook",
    "webhook_event_types",
];

/// `[botman]`: the manager.
#[derive(Debug, Default)]
pub(crate) struct RawManager {
    pub(crate) name: Option<Sp<String>>,
    pub(crate) state: Option<Sp<String>>,
    pub(crate) timezone: Option<Sp<String>>,
    pub(crate) max_workers: Option<Sp<i64>>,
    pub(crate) max_stuck_workers: Option<Sp<i64>>,
    pub(crate) shutdown_grace: Option<Sp<RawDuration>>,
    pub(crate) receivers: RawReceivers,
    /// `[botman.http]`, when written.
    pub(crate) http: Option<RawHttp>,
}

/// The keys of `[botman]`, besides the `RECEIVER_KEYS`.
const MANAGER_KEYS: [&str; 7] = [
    "name",
    "state",
    "timezone",
    "max_workers",
    "max_stuck_workers",
    "shutdown_grace",
    "http",
];

/// `[botman.http]`: the HTTP API and dashboard (issue #11).
#[derive(Debug, Default)]
pub(crate) struct RawHttp {
    /// The table.
    pub(crate) span: Span,
    pub(crate) listen: Option<Sp<String>>,
    pub(crate) token: Option<Sp<String>>,
    pub(crate) read_only_public: Option<Sp<bool>>,
}

const HTTP_KEYS: [&str; 3] = ["listen", "token", "read_only_public"];

/// One `[[bot]]`. The required keys are `None` only when missing, which is
/// already reported.
#[derive(Debug, Default)]
pub(crate) struct RawBot {
    /// The table: its `[[bot]]` header (or the inline table).
    pub(crate) span: Span,
    pub(crate) name: Option<Sp<String>>,
    /// The whole value's span, and each expression's.
    pub(crate) schedule: Option<Sp<Vec<Sp<String>>>>,
    pub(crate) command: Option<Sp<RawCommand>>,
    pub(crate) retries: Option<Sp<i64>>,
    pub(crate) retry_delay: Option<Sp<RawDuration>>,
    pub(crate) max_retry_delay: Option<Sp<RawDuration>>,
    pub(crate) initial_timeout: Option<Sp<RawDuration>>,
    pub(crate) max_timeout: Option<Sp<RawDuration>>,
    pub(crate) time_limit: Option<Sp<RawDuration>>,
    pub(crate) timezone: Option<Sp<String>>,
    pub(crate) overlap: Option<Sp<String>>,
    pub(crate) misfire: Option<Sp<String>>,
    pub(crate) misfire_grace: Option<Sp<RawDuration>>,
    pub(crate) jitter: Option<Sp<RawDuration>>,
    pub(crate) expect_success_within: Option<Sp<RawDuration>>,
    pub(crate) is_com_bot: Option<Sp<bool>>,
    pub(crate) workdir: Option<Sp<String>>,
    pub(crate) env: Vec<(Sp<String>, Sp<String>)>,
    pub(crate) soft_exit_codes: Vec<Sp<i64>>,
    pub(crate) receivers: RawReceivers,
    /// Whether this table had an error here (its fields may be missing).
    pub(crate) has_errors: bool,
}

/// The keys of a `[[bot]]`, besides the `RECEIVER_KEYS`.
const BOT_KEYS: [&str; 19] = [
    "name",
    "schedule",
    "command",
    "retries",
    "retry_delay",
    "max_retry_delay",
    "initial_timeout",
    "max_timeout",
    "time_limit",
    "timezone",
    "overlap",
    "misfire",
    "misfire_grace",
    "jitter",
    "expect_success_within",
    "is_com_bot",
    "workdir",
    "env",
    "soft_exit_codes",
];

/// The whole file.
#[derive(Debug, Default)]
pub(crate) struct RawConfig {
    pub(crate) manager: RawManager,
    pub(crate) bots: Vec<RawBot>,
}

/// Reads `text`; `None` after TOML syntax errors. They are reported alone
/// (every one of them): the tree the parser recovers around them would
/// give errors that are not real.
pub(crate) fn parse(text: &str, d: &mut Diagnostics) -> Option<RawConfig> {
    let (root, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        for e in errors {
            let span = e.span().unwrap_or(0..0);
            d.error(span, format!("invalid TOML: {}", e.message().trim_end()));
        }
        return None;
    }
    let mut config = RawConfig::default();
    for (k, v) in root.get_ref() {
        match k.get_ref().as_ref() {
            "botman" => match v.get_ref() {
                DeValue::Table(t) => config.manager = manager(t, d),
                other => d.error(
                    v.span(),
                    format!(
                        "'botman' must be a table ([botman]), found {}",
                        type_name(other)
                    ),
                ),
            },
            "bot" => match v.get_ref() {
                DeValue::Array(items) => {
                    for item in items {
                        match item.get_ref() {
                            DeValue::Table(t) => config.bots.push(bot(t, item.span(), d)),
                            other => d.error(
                                item.span(),
                                format!(
                                    "each 'bot' must be a table ([[bot]]), found {}",
                                    type_name(other)
                                ),
                            ),
                        }
                    }
                }
                DeValue::Table(_) => d.error(
                    v.span(),
                    "'bot' must be an array of tables: write [[bot]], not [bot]",
                ),
                other => d.error(
                    v.span(),
                    format!(
                        "'bot' must be an array of tables ([[bot]]), found {}",
                        type_name(other)
                    ),
                ),
            },
            _ => unknown_key(k, &["botman", "bot"], "at the top level", d),
        }
    }
    Some(config)
}

fn manager(t: &DeTable<'_>, d: &mut Diagnostics) -> RawManager {
    let mut m = RawManager::default();
    for (k, v) in t {
        let key = k.get_ref().as_ref();
        match key {
            "name" => m.name = string(key, v, d),
            "state" => m.state = string(key, v, d),
            "timezone" => m.timezone = string(key, v, d),
            "max_workers" => m.max_workers = integer(key, v, d),
            "max_stuck_workers" => m.max_stuck_workers = integer(key, v, d),
            "shutdown_grace" => m.shutdown_grace = duration(key, v, d),
            "http" => match v.get_ref() {
                DeValue::Table(t) => m.http = Some(http(t, v.span(), d)),
                other => d.error(
                    v.span(),
                    format!(
                        "'http' must be a table ([botman.http]), found {}",
                        type_name(other)
                    ),
                ),
            },
            _ if receiver(&mut m.receivers, key, v, d) => {}
            _ => {
                let known = MANAGER_KEYS.iter().chain(&RECEIVER_KEYS).copied();
                unknown_key(k, &known.collect::<Vec<_>>(), "in [botman]", d)
            }
        }
    }
    m
}

fn http(t: &DeTable<'_>, span: Span, d: &mut Diagnostics) -> RawHttp {
    let mut h = RawHttp {
        span,
        ..RawHttp::default()
    };
    for (k, v) in t {
        let key = k.get_ref().as_ref();
        match key {
            "listen" => h.listen = string(key, v, d),
            "token" => h.token = string(key, v, d),
            "read_only_public" => h.read_only_public = boolean(key, v, d),
            _ => unknown_key(k, &HTTP_KEYS, "in [botman.http]", d),
        }
    }
    h
}

fn bot(t: &DeTable<'_>, span: Span, d: &mut Diagnostics) -> RawBot {
    let before = d.0.len();
    let mut b = RawBot {
        span: span.clone(),
        ..RawBot::default()
    };
    for (k, v) in t {
        let key = k.get_ref().as_ref();
        match key {
            "name" => b.name = string(key, v, d),
            "schedule" => {
                b.schedule = Some(Sp {
                    value: strings(key, v, d),
                    span: v.span(),
                })
            }
            "command" => b.command = command(v, d),
            "retries" => b.retries = integer(key, v, d),
            "retry_delay" => b.retry_delay = duration(key, v, d),
            "max_retry_delay" => b.max_retry_delay = duration(key, v, d),
            "initial_timeout" => b.initial_timeout = duration(key, v, d),
            "max_timeout" => b.max_timeout = duration(key, v, d),
            "time_limit" => b.time_limit = duration(key, v, d),
            "timezone" => b.timezone = string(key, v, d),
            "overlap" => b.overlap = string(key, v, d),
            "misfire" => b.misfire = string(key, v, d),
            "misfire_grace" => b.misfire_grace = duration(key, v, d),
            "jitter" => b.jitter = duration(key, v, d),
            "expect_success_within" => b.expect_success_within = duration(key, v, d),
            "is_com_bot" => b.is_com_bot = boolean(key, v, d),
            "workdir" => b.workdir = string(key, v, d),
            "env" => b.env = env(v, d),
            "soft_exit_codes" => b.soft_exit_codes = integers(key, v, d),
            _ if receiver(&mut b.receivers, key, v, d) => {}
            _ => {
                let known = BOT_KEYS.iter().chain(&RECEIVER_KEYS).copied();
                unknown_key(k, &known.collect::<Vec<_>>(), "in [[bot]]", d)
            }
        }
    }
    // A key given with the wrong type is already reported: only keys not
    // written at all are missing.
    for key in ["name", "schedule", "command"] {
        if !t.iter().any(|(k, _)| k.get_ref() == key) {
            let which = match &b.name {
                Some(n) => format!("bot '{}'", n.value),
                None => "this bot".to_owned(),
            };
            d.error(
                span.clone(),
                format!("{which} has no '{key}' (it is required)"),
            );
        }
    }
    b.has_errors = d.0.len() > before;
    b
}

/// Reads `key` into `r` when it is a receiver key; false when it is not one.
fn receiver(
    r: &mut RawReceivers,
    key: &str,
    v: &Spanned<DeValue<'_>>,
    d: &mut Diagnostics,
) -> bool {
    let slot = match key {
        "slack_webhook" => &mut r.slack_webhook,
        "slack_event_types" => &mut r.slack_event_types,
        "chime_webhook" => &mut r.chime_webhook,
        "chime_event_types" => &mut r.chime_event_types,
        "webhook" => &mut r.webhook,
        "webhook_event_types" => &mut r.webhook_event_types,
        _ => return false,
    };
    *slot = strings(key, v, d);
    true
}

/// The closest of `candidates` to `word`, when it is close enough to be
/// what was meant (Damerau–Levenshtein, ignoring case: at most one edit per
/// three characters, at most three).
pub(crate) fn suggest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = word.to_lowercase();
    let budget = (word.chars().count() / 3).clamp(1, 3);
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&lower, &c.to_lowercase()), c))
        .filter(|&(dist, c)| dist <= budget && c != word)
        .min_by_key(|&(dist, _)| dist)
        .map(|(_, c)| c)
}

fn unknown_key(
    k: &Spanned<std::borrow::Cow<'_, str>>,
    known: &[&str],
    at: &str,
    d: &mut Diagnostics,
) {
    let key = k.get_ref().as_ref();
    let message = match suggest(key, known.iter().copied()) {
        Some(s) => format!("unknown key '{key}', did you mean '{s}'?"),
        None => format!("unknown key '{key}' {at}"),
    };
    d.error(k.span(), message);
}

/// "a string", "an integer" ... for messages.
fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

fn wrong_type(key: &str, expected: &str, v: &Spanned<DeValue<'_>>, d: &mut Diagnostics) {
    d.error(
        v.span(),
        format!(
            "'{key}' must be {expected}, found {}",
            type_name(v.get_ref())
        ),
    );
}

fn string(key: &str, v: &Spanned<DeValue<'_>>, d: &mut Diagnostics) -> Option<Sp<String>> {
    match v.get_ref() {
        DeValue::String(s) => Some(Sp {
            value: s.to_string(),
            span: v.span(),
        }),
        _ => {
            wrong_type(key, "a string", v, d);
            None
        }
    }
}

fn boolean(key: &str, v: &Spanned<DeValue<'_>>, d: &mut Diagnostics) -> Option<Sp<bool>> {
    match v.get_ref() {
        DeValue::Boolean(b) => Some(Sp {
            value: *b,
            span: v.span(),
        }),
        _ => {
            wrong_type(key, "true or false", v, d);
            None
        }
    }
}

fn integer(key: &str, v: &Spanned<DeValue<'_>>, d: &mut Diagnostics) -> Option<Sp<i64>> {
    match v.get_ref() {
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(value) => Some(Sp {
                value,
                span: v.span(),
            }),
            Err(_) => {
                d.error(v.span(), format!("'{key}' is too large"));
                None
            }
        },
        _ => {
            wrong_type(key, "an integer", v, d);
            None
        }
    }
}

fn duration(key: &str, v: &Spanned<DeValue<'_>>, d: &mut Diagnostics) -> Option<Sp<RawDuration>> {
    let value = match v.get_ref() {
        DeValue::String(s) => RawDuration::Text(s.to_string()),
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => RawDuration::Int(n),
            Err(_) => {
                d.error(v.span(), format!("'{key}' is too large"));
                return None;
            }
        },
        DeValue::Float(f) => RawDuration::Float(f.as_str().parse().unwrap_or(f64::NAN)),
        _ => {
            wrong_type(
                key,
                "a duration such as \"10s\", \"5m\" or \"1h30m\", or a number of seconds",
                v,
                d,
            );
            return None;
        }
    };
    Some(Sp {
        value,
        span: v.span(),
    })
}

/// A string or a list of strings (a string is a list of one).
fn strings(key: &str, v: &Spanned<DeValue<'_>>, d: &mut Diagnostics) -> Vec<Sp<String>> {
    const EXPECTED: &str = "a string or a list of strings";
    match v.get_ref() {
        DeValue::String(s) => vec![Sp {
            value: s.to_string(),
            span: v.span(),
        }],
        DeValue::Array(items) => items
            .iter()
            .filter_map(|item| match item.get_ref() {
                DeValue::String(s) => Some(Sp {
                    value: s.to_string(),
                    span: item.span(),
                }),
                _ => {
                    wrong_type(key, EXPECTED, item, d);
                    None
                }
            })
            .collect(),
        _ => {
            wrong_type(key, EXPECTED, v, d);
            Vec::new()
        }
    }
}

/// An integer or a list of integers.
fn integers(key: &str, v: &Spanned<DeValue<'_>>, d: &mut Diagnostics) -> Vec<Sp<i64>> {
    match v.get_ref() {
        DeValue::Array(items) => items.iter().filter_map(|i| integer(key, i, d)).collect(),
        _ => integer(key, v, d).into_iter().collect(),
    }
}

fn command(v: &Spanned<DeValue<'_>>, d: &mut Diagnostics) -> Option<Sp<RawCommand>> {
    let value = match v.get_ref() {
        DeValue::String(s) => RawCommand::Shell(s.to_string()),
        DeValue::Array(_) => RawCommand::Argv(strings("command", v, d)),
        _ => {
            wrong_type(
                "command",
                "a string (run with sh -c) or a list of strings (argv, no shell)",
                v,
                d,
            );
            return None;
        }
    };
    Some(Sp {
        value,
        span: v.span(),
    })
}

/// `env = { NAME = "value" }`. Integers and booleans are taken as their
/// text (`PORT = 8080`), as a shell would see them.
fn env(v: &Spanned<DeValue<'_>>, d: &mut Diagnostics) -> Vec<(Sp<String>, Sp<String>)> {
    let DeValue::Table(t) = v.get_ref() else {
        wrong_type("env", "a table of NAME = \"value\"", v, d);
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, val) in t {
        let text = match val.get_ref() {
            DeValue::String(s) => s.to_string(),
            DeValue::Integer(i) => i.to_string(),
            DeValue::Boolean(b) => b.to_string(),
            _ => {
                let key = format!("env.{}", k.get_ref());
                wrong_type(&key, "a string", val, d);
                continue;
            }
        };
        out.push((
            Sp {
                value: k.get_ref().to_string(),
                span: k.span(),
            },
            Sp {
                value: text,
                span: val.span(),
            },
        ));
    }
    out
}
