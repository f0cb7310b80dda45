//! botman's error type: opaque, with `is_*` predicates (STYLE.md §5).

use std::fmt;

/// Anything botman refuses or fails to do, with a message a person can act
/// on. Ask what kind it is with the `is_*` methods; the cause (a cron
/// [`ParseError`](botman_cron::ParseError), a time-zone error) is its
/// [`source`](std::error::Error::source).
///
/// ```
/// use botman::Bot;
///
/// let err = Bot::builder("report")
///     .schedule("* * * * *")
///     .schedule("61 * * * *")
///     .job(|| Ok::<(), std::io::Error>(()))
///     .build()
///     .unwrap_err();
/// assert!(err.is_schedule() && err.is_invalid_bot());
/// assert_eq!(err.parse_error().map(|p| p.column()), Some(1));
/// assert_eq!(
///     err.to_string(),
///     "bot `report`: schedule 2 (`61 * * * *`): minute `61` at column 1: 61 is out of range 0-59"
/// );
/// ```
#[derive(Debug)]
pub struct Error {
    /// Boxed: `Result<_, Error>` stays one pointer wide on the happy path.
    inner: Box<Inner>,
}

#[derive(Debug)]
struct Inner {
    kind: Kind,
    /// The bot (and which of its schedules: number from 1, text) a build
    /// error is about.
    bot: Option<(String, Option<(usize, String)>)>,
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
        source: jiff::Error,
    },
    InvalidBot {
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
    UnknownName {
        what: &'static str,
        text: String,
        expected: String,
    },
    Runtime {
        message: String,
    },
    RuntimeGone,
    CannotBlock {
        call: &'static str,
        instead: &'static str,
    },
    Store {
        source: crate::store::StoreError,
    },
}

impl Error {
    fn new(kind: Kind) -> Error {
        Error {
            inner: Box::new(Inner { kind, bot: None }),
        }
    }

    /// The same error, said of bot `name` (and of its schedule number
    /// `index`, counted from 1, written `expr`).
    pub(crate) fn in_bot(mut self, name: &str, schedule: Option<(usize, &str)>) -> Error {
        self.inner.bot = Some((name.to_owned(), schedule.map(|(i, e)| (i, e.to_owned()))));
        self
    }

    pub(crate) fn schedule(expr: &str, source: botman_cron::ParseError) -> Error {
        Error::new(Kind::Schedule {
            expr: expr.to_owned(),
            source,
        })
    }

    pub(crate) fn time_zone(name: &str, source: jiff::Error) -> Error {
        Error::new(Kind::TimeZone {
            name: name.to_owned(),
            source,
        })
    }

    pub(crate) fn invalid_bot(name: &str, message: &str) -> Error {
        Error::new(Kind::InvalidBot {
            message: message.to_owned(),
        })
        .in_bot(name, None)
    }

    pub(crate) fn duplicate_bot(name: &str) -> Error {
        Error::new(Kind::DuplicateBot {
            name: name.to_owned(),
        })
    }

    pub(crate) fn unknown_bot(name: &str) -> Error {
        Error::new(Kind::UnknownBot {
            name: name.to_owned(),
        })
    }

    pub(crate) fn unknown_schedule(name: &str, expr: &str) -> Error {
        Error::new(Kind::UnknownSchedule {
            name: name.to_owned(),
            expr: expr.to_owned(),
        })
    }

    /// A name (`what`: "event type", "skip reason") that is none of `expected`.
    pub(crate) fn unknown_name(what: &'static str, text: &str, expected: &[&str]) -> Error {
        Error::new(Kind::UnknownName {
            what,
            text: text.to_owned(),
            expected: expected.join(", "),
        })
    }

    /// `url` must already be redacted.
    #[cfg_attr(not(feature = "webhooks"), allow(dead_code))]
    pub(crate) fn invalid_webhook(url: &str, message: &str) -> Error {
        Error::new(Kind::InvalidWebhook {
            url: url.to_owned(),
            message: message.to_owned(),
        })
    }

    pub(crate) fn runtime(message: impl fmt::Display) -> Error {
        Error::new(Kind::Runtime {
            message: message.to_string(),
        })
    }

    pub(crate) fn runtime_gone() -> Error {
        Error::new(Kind::RuntimeGone)
    }

    /// A blocking call made inside a current-thread tokio runtime.
    pub(crate) fn cannot_block(call: &'static str, instead: &'static str) -> Error {
        Error::new(Kind::CannotBlock { call, instead })
    }

    pub(crate) fn store(source: crate::store::StoreError) -> Error {
        Error::new(Kind::Store { source })
    }

    /// The store failed (history could not be read, ...); the
    /// [`StoreError`](crate::StoreError) is [`store_error`](Error::store_error).
    pub fn is_store(&self) -> bool {
        matches!(self.inner.kind, Kind::Store { .. })
    }

    /// The store's error behind a store error.
    pub fn store_error(&self) -> Option<&crate::store::StoreError> {
        match &self.inner.kind {
            Kind::Store { source } => Some(source),
            _ => None,
        }
    }

    /// Cron text that did not parse; [`parse_error`](Error::parse_error)
    /// has the field and column.
    pub fn is_schedule(&self) -> bool {
        matches!(self.inner.kind, Kind::Schedule { .. })
    }

    /// The cron parse error behind a schedule error.
    pub fn parse_error(&self) -> Option<&botman_cron::ParseError> {
        match &self.inner.kind {
            Kind::Schedule { source, .. } => Some(source),
            _ => None,
        }
    }

    /// A time zone name the tz database does not know.
    pub fn is_time_zone(&self) -> bool {
        matches!(self.inner.kind, Kind::TimeZone { .. })
    }

    /// A bot that did not validate ([`BotBuilder::build`](crate::BotBuilder::build)),
    /// whatever the reason; the other predicates say which.
    pub fn is_invalid_bot(&self) -> bool {
        self.inner.bot.is_some() || matches!(self.inner.kind, Kind::InvalidBot { .. })
    }

    /// A bot name already taken in this manager.
    pub fn is_duplicate_bot(&self) -> bool {
        matches!(self.inner.kind, Kind::DuplicateBot { .. })
    }

    /// No bot, or no such schedule of a bot, or no such name (event type,
    /// skip reason).
    pub fn is_unknown(&self) -> bool {
        matches!(
            self.inner.kind,
            Kind::UnknownBot { .. } | Kind::UnknownSchedule { .. } | Kind::UnknownName { .. }
        )
    }

    /// A webhook URL that cannot be posted to.
    pub fn is_invalid_webhook(&self) -> bool {
        matches!(self.inner.kind, Kind::InvalidWebhook { .. })
    }

    /// The async runtime could not be started, the runtime the manager was
    /// built in has shut down, or a blocking call was made inside a
    /// current-thread runtime.
    pub fn is_runtime(&self) -> bool {
        matches!(
            self.inner.kind,
            Kind::Runtime { .. } | Kind::RuntimeGone | Kind::CannotBlock { .. }
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner.bot {
            Some((name, Some((i, expr)))) => write!(f, "bot `{name}`: schedule {i} (`{expr}`): ")?,
            Some((name, None)) => write!(f, "bot `{name}`: ")?,
            None => {}
        }
        let in_schedule = matches!(self.inner.bot, Some((_, Some(_))));
        match &self.inner.kind {
            // The prefix already quotes the schedule.
            Kind::Schedule { source, .. } if in_schedule => write!(f, "{source}"),
            Kind::Schedule { expr, source } => write!(f, "invalid schedule `{expr}`: {source}"),
            Kind::TimeZone { name, source } => write!(
                f,
                "unknown time zone `{name}` ({source}); use an IANA name such as Europe/Berlin"
            ),
            Kind::InvalidBot { message } => f.write_str(message),
            Kind::DuplicateBot { name } => write!(f, "a bot named `{name}` is already added"),
            Kind::UnknownBot { name } => write!(f, "no bot named `{name}`"),
            Kind::UnknownSchedule { name, expr } => {
                write!(f, "bot `{name}` has no schedule `{expr}`")
            }
            Kind::UnknownName {
                what,
                text,
                expected,
            } => write!(f, "unknown {what} `{text}`; expected one of: {expected}"),
            Kind::InvalidWebhook { url, message } if url.is_empty() => {
                write!(f, "invalid webhook: {message}")
            }
            Kind::InvalidWebhook { url, message } => write!(f, "invalid webhook {url}: {message}"),
            Kind::Runtime { message } => write!(f, "could not start the async runtime: {message}"),
            Kind::Store { source } => write!(f, "{source}"),
            Kind::CannotBlock { call, instead } => write!(
                f,
                "{call} cannot block inside a current-thread tokio runtime (what it waits for \
                 needs that very thread): use `{instead}` there"
            ),
            Kind::RuntimeGone => f.write_str(
                "the tokio runtime this manager was built in has shut down; build the manager \
                 again inside a running runtime, or outside any runtime so it owns one",
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.inner.kind {
            Kind::Schedule { source, .. } => Some(source),
            Kind::TimeZone { source, .. } => Some(source),
            Kind::Store { source } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_error_is_one_pointer() {
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }

    #[test]
    fn err_messages_name_the_bot_once() {
        let tz = jiff::tz::TimeZone::get("Mars/Base").unwrap_err();
        let e = Error::time_zone("Mars/Base", tz).in_bot("b", Some((2, "* * * * *")));
        let shown = e.to_string();
        assert!(
            shown.starts_with("bot `b`: schedule 2 (`* * * * *`): unknown time zone `Mars/Base`"),
            "{shown}"
        );
        assert!(e.is_time_zone() && e.is_invalid_bot());
        assert!(std::error::Error::source(&e).is_some());
        let w = Error::invalid_webhook("https://h/…#1", "not a URL");
        assert_eq!(w.to_string(), "invalid webhook https://h/…#1: not a URL");
    }
}
