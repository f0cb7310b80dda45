//! botman's error type: opaque, with `is_*` predicates (STYLE.md §5).

use std::fmt;

/// Anything botman refuses or fails to do, with a message a person can act
/// on. Ask what kind it is with the `is_*` methods.
#[derive(Debug)]
pub struct Error {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    InvalidWebhook {
        url: String,
        message: String,
    },
    Schedule {
        expr: String,
        source: botman_cron::ParseError,
    },
    TimeZone {
        name: String,
        message: String,
    },
    InvalidBot {
        name: String,
        message: String,
    },
    DuplicateBot {
        name: String,
    },
    UnknownBot {
        name: String,
    },
    UnknownSchedule {
        name: String,
        expr: String,
    },
    Runtime {
        message: String,
    },
}

impl Error {
    pub(crate) fn schedule(expr: &str, source: botman_cron::ParseError) -> Error {
        Error {
            kind: Kind::Schedule {
                expr: expr.to_owned(),
                source,
            },
        }
    }

    pub(crate) fn time_zone(name: &str, e: impl fmt::Display) -> Error {
        Error {
            kind: Kind::TimeZone {
                name: name.to_owned(),
                message: e.to_string(),
            },
        }
    }

    pub(crate) fn invalid_bot(name: &str, message: &str) -> Error {
        Error {
            kind: Kind::InvalidBot {
                name: name.to_owned(),
                message: message.to_owned(),
            },
        }
    }

    pub(crate) fn duplicate_bot(name: &str) -> Error {
        Error {
            kind: Kind::DuplicateBot {
                name: name.to_owned(),
            },
        }
    }

    pub(crate) fn unknown_bot(name: &str) -> Error {
        Error {
            kind: Kind::UnknownBot {
                name: name.to_owned(),
            },
        }
    }

    pub(crate) fn unknown_schedule(name: &str, expr: &str) -> Error {
        Error {
            kind: Kind::UnknownSchedule {
                name: name.to_owned(),
                expr: expr.to_owned(),
            },
        }
    }

    /// `url` must already be redacted.
    pub(crate) fn invalid_webhook(url: &str, message: &str) -> Error {
        Error {
            kind: Kind::InvalidWebhook {
                url: url.to_owned(),
                message: message.to_owned(),
            },
        }
    }

    pub(crate) fn runtime(message: impl fmt::Display) -> Error {
        Error {
            kind: Kind::Runtime {
                message: message.to_string(),
            },
        }
    }

    /// Cron text that did not parse.
    pub fn is_schedule(&self) -> bool {
        matches!(self.kind, Kind::Schedule { .. })
    }

    /// A time zone name the tz database does not know.
    pub fn is_time_zone(&self) -> bool {
        matches!(self.kind, Kind::TimeZone { .. })
    }

    /// A bot that did not validate (`BotBuilder::build`).
    pub fn is_invalid_bot(&self) -> bool {
        matches!(self.kind, Kind::InvalidBot { .. })
    }

    /// A bot name already taken in this manager.
    pub fn is_duplicate_bot(&self) -> bool {
        matches!(self.kind, Kind::DuplicateBot { .. })
    }

    /// No bot, or no such schedule of a bot, by that name.
    pub fn is_unknown(&self) -> bool {
        matches!(
            self.kind,
            Kind::UnknownBot { .. } | Kind::UnknownSchedule { .. }
        )
    }

    /// A webhook URL that cannot be posted to.
    pub fn is_invalid_webhook(&self) -> bool {
        matches!(self.kind, Kind::InvalidWebhook { .. })
    }

    /// The async runtime could not be started (the OS refused threads).
    pub fn is_runtime(&self) -> bool {
        matches!(self.kind, Kind::Runtime { .. })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Schedule { expr, source } => write!(f, "invalid schedule `{expr}`: {source}"),
            Kind::TimeZone { name, message } => {
                write!(
                    f,
                    "unknown time zone `{name}` ({message}); use an IANA name such as Europe/Berlin"
                )
            }
            Kind::InvalidBot { name, message } => write!(f, "bot `{name}`: {message}"),
            Kind::DuplicateBot { name } => write!(f, "a bot named `{name}` is already added"),
            Kind::UnknownBot { name } => write!(f, "no bot named `{name}`"),
            Kind::UnknownSchedule { name, expr } => {
                write!(f, "bot `{name}` has no schedule `{expr}`")
            }
            Kind::InvalidWebhook { url, message } if url.is_empty() => {
                write!(f, "invalid webhook: {message}")
            }
            Kind::InvalidWebhook { url, message } => write!(f, "invalid webhook {url}: {message}"),
            Kind::Runtime { message } => write!(f, "could not start the async runtime: {message}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::Schedule { source, .. } => Some(source),
            _ => None,
        }
    }
}
