//! The daemon's config file, `botman.toml` (issue 10).
//!
//! [`Config::load`] reads a file in two steps: `raw.rs` reads the TOML into
//! typed fields with their spans (unknown keys, wrong types, missing keys),
//! then `resolve.rs` decides what the values mean (durations, cron text,
//! zones, state URLs, `env:` secrets, duplicate names). Every error of the
//! file is reported at once, each as `file:line:col: error: message`
//! (`error.rs`).
//!
//! The resolved [`Config`] carries no TOML: [`BotConfig::builder`] and
//! [`ManagerConfig::builder`] turn it into the library's builders, so the
//! library stays the one place where policies and their defaults live.
//!
//! ```toml
//! [botman]
//! name = "ops"                       # the manager's name in events
//! state = "sqlite://botman.db"       # default; "memory" keeps nothing
//! timezone = "Europe/Berlin"         # default zone of schedules (default UTC)
//! max_workers = 16
//! shutdown_grace = "30s"
//! slack_webhook = ["env:SLACK_URL"]
//!
//! [[bot]]
//! name = "backup"
//! schedule = ["0 3 * * *", "0 15 * * SAT"]
//! command = "pg_dump app > /backups/app.sql"
//! retries = 3
//! overlap = "skip"
//! ```

mod error;
mod raw;
mod resolve;

use std::path::{Path, PathBuf};
use std::time::Duration;

use botman::jiff::tz::TimeZone;
use botman::{Bot, BotBuilder, Botman, BotmanBuilder, EventType, Misfire, Overlap, Schedule};

pub(crate) use error::{ConfigError, LineCol};
pub(crate) use raw::Span;

/// The name among `names` that `word` was probably meant to be.
pub(crate) fn suggest_name<'a>(word: &str, names: &[&'a str]) -> Option<&'a str> {
    raw::suggest(word, names.iter().copied())
}

/// A loaded, valid config file.
#[derive(Debug)]
pub(crate) struct Config {
    /// The file it was read from.
    #[allow(dead_code, reason = "read by `botman run` (issue 10)")]
    pub(crate) path: PathBuf,
    /// `[botman]`.
    #[allow(dead_code, reason = "read by `botman run` (issue 10)")]
    pub(crate) manager: ManagerConfig,
    /// The `[[bot]]` tables, in file order.
    pub(crate) bots: Vec<BotConfig>,
}

impl Config {
    /// Reads and resolves `path`; `env:NAME` values come from the process
    /// environment.
    pub(crate) fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::read(path, e))?;
        Config::parse(path, &text, &|name| std::env::var(name).ok())
    }

    /// Resolves `text` as the content of `path` (relative paths in it are
    /// relative to `path`'s folder), reading `env:NAME` values with `env`.
    pub(crate) fn parse(
        path: &Path,
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut diagnostics = error::Diagnostics::default();
        let config = raw::parse(text, &mut diagnostics)
            .and_then(|raw| resolve::resolve(raw, path, text, env, &mut diagnostics));
        match config {
            Some(config) if diagnostics.is_empty() => Ok(config),
            _ => Err(ConfigError::invalid(path, text, diagnostics.0)),
        }
    }
}

/// Where the daemon keeps fires, runs and bot states (`state = ...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum StateConfig {
    /// `sqlite://relative.db` (relative to the config file's folder) or
    /// `sqlite:///absolute/path.db`: the path, made absolute.
    Sqlite(PathBuf),
    /// `memory`: nothing survives a restart.
    Memory,
}

/// `[botman]`: the manager. Missing keys take the library's defaults.
#[derive(Debug)]
pub(crate) struct ManagerConfig {
    /// The manager's name in events. Defaults to "botman".
    pub(crate) name: String,
    /// Defaults to `sqlite://botman.db` beside the config file.
    #[allow(dead_code, reason = "read by `botman run` (issue 10)")]
    pub(crate) state: StateConfig,
    /// The IANA name of the zone schedules are read in when their bot has
    /// none. Defaults to "UTC".
    pub(crate) timezone: String,
    pub(crate) tz: TimeZone,
    /// Sync jobs at once. Defaults to 10.
    pub(crate) max_workers: usize,
    /// `None`: the library's default (`max_workers`).
    pub(crate) max_stuck_workers: Option<usize>,
    /// How long a stop waits for running jobs. Defaults to 30 s.
    pub(crate) shutdown_grace: Duration,
    /// Receivers of the manager's own events.
    pub(crate) receivers: ReceiversConfig,
    /// `[botman.http]`: the HTTP API and dashboard; `None`: not served.
    pub(crate) http: Option<HttpConfig>,
}

/// `[botman.http]` (issue #11).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct HttpConfig {
    /// Where to listen. Defaults to 127.0.0.1:8080.
    pub(crate) listen: std::net::SocketAddr,
    /// The bearer token that changes need; `None`: the API is read-only.
    /// A secret: never shown.
    pub(crate) token: Option<String>,
    /// Beyond loopback without a token, on purpose.
    pub(crate) read_only_public: bool,
}

impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConfig")
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("read_only_public", &self.read_only_public)
            .finish()
    }
}

/// A webhook URL: whole for sending, redacted when shown (they are secrets:
/// DESIGN.md, receivers).
#[derive(Clone)]
pub(crate) struct Webhook {
    url: String,
    shown: botman::WebhookUrl,
}

impl Webhook {
    /// The whole URL, for the library; never print it.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The redacted URL, for people.
    pub(crate) fn redacted(&self) -> &str {
        self.shown.redacted()
    }
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.redacted())
    }
}

/// The receiver keys: webhooks and the event types each kind is sent
/// (empty: all types).
#[derive(Clone, Debug, Default)]
pub(crate) struct ReceiversConfig {
    pub(crate) slack_webhook: Vec<Webhook>,
    pub(crate) slack_event_types: Vec<EventType>,
    pub(crate) chime_webhook: Vec<Webhook>,
    pub(crate) chime_event_types: Vec<EventType>,
    pub(crate) webhook: Vec<Webhook>,
    pub(crate) webhook_event_types: Vec<EventType>,
}

/// What a bot runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CommandSpec {
    /// `command = "..."`: run with `sh -c`.
    Shell(String),
    /// `command = ["prog", "arg"]`: run directly, no shell. Never empty.
    Argv(Vec<String>),
}

/// `overlap = "skip" | "queue" | "replace" | "concurrent:N"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OverlapConfig {
    Skip,
    Queue,
    /// Stop the running job and start the new fire.
    Replace,
    /// N ≥ 1.
    Concurrent(usize),
}

impl OverlapConfig {
    /// The library's policy.
    pub(crate) fn to_library_overlap(self) -> Overlap {
        match self {
            OverlapConfig::Skip => Overlap::Skip,
            OverlapConfig::Queue => Overlap::Queue,
            OverlapConfig::Concurrent(n) => Overlap::Concurrent(n),
            OverlapConfig::Replace => Overlap::Replace,
        }
    }
}

/// One `[[bot]]`. The policies left `None` take the library's defaults.
#[derive(Clone, Debug)]
pub(crate) struct BotConfig {
    pub(crate) name: String,
    /// Where the bot's table is in the file, for messages about the bot.
    #[allow(dead_code, reason = "read by `botman run` (issue 10)")]
    pub(crate) span: Span,
    /// The same place as line and column.
    #[allow(dead_code, reason = "read by `botman run` (issue 10)")]
    pub(crate) at: LineCol,
    /// Each in the bot's zone.
    pub(crate) schedules: Vec<Schedule>,
    /// The bot's `timezone`, or the manager's.
    pub(crate) timezone: String,
    pub(crate) command: CommandSpec,
    /// Made absolute against the config file's folder.
    #[allow(dead_code, reason = "read by `botman run` (issue 10)")]
    pub(crate) workdir: Option<PathBuf>,
    /// In file order, `env:` secrets read.
    #[allow(dead_code, reason = "read by `botman run` (issue 10)")]
    pub(crate) env: Vec<(String, String)>,
    /// Exit codes (1-255) that make a run a soft error.
    #[allow(dead_code, reason = "read by `botman run` (issue 10)")]
    pub(crate) soft_exit_codes: Vec<i32>,
    /// The dead man's switch: a success is expected at least this often.
    #[allow(dead_code, reason = "read by `botman run` (issue 10)")]
    pub(crate) expect_success_within: Option<Duration>,
    pub(crate) retries: Option<u32>,
    pub(crate) retry_delay: Option<Duration>,
    pub(crate) max_retry_delay: Option<Duration>,
    pub(crate) initial_timeout: Option<Duration>,
    pub(crate) max_timeout: Option<Duration>,
    pub(crate) time_limit: Option<Duration>,
    pub(crate) overlap: Option<OverlapConfig>,
    pub(crate) misfire: Option<Misfire>,
    pub(crate) misfire_grace: Option<Duration>,
    pub(crate) jitter: Option<Duration>,
    pub(crate) is_com_bot: Option<bool>,
    pub(crate) receivers: ReceiversConfig,
}

impl BotConfig {
    /// The library's builder with every policy of this bot: schedules in
    /// the bot's zone, retries, delays, cool-downs, overlap, misfire,
    /// grace, jitter, time limit, COM, Slack and Chime webhooks and their
    /// event types. The daemon adds the job. JSON webhooks have no setter
    /// on the builder: [`apply_receivers`](BotConfig::apply_receivers)
    /// subscribes them.
    pub(crate) fn builder(&self) -> BotBuilder {
        let mut b = Bot::builder(&self.name);
        for s in &self.schedules {
            b = b.schedule_in(s.expr(), &self.timezone);
        }
        if let Some(n) = self.retries {
            b = b.retries(n);
        }
        if let Some(d) = self.retry_delay {
            b = b.retry_delay(d);
        }
        if let Some(d) = self.max_retry_delay {
            b = b.max_retry_delay(d);
        }
        if let Some(d) = self.initial_timeout {
            b = b.initial_timeout(d);
        }
        if let Some(d) = self.max_timeout {
            b = b.max_timeout(d);
        }
        if let Some(d) = self.time_limit {
            b = b.time_limit(d);
        }
        if let Some(o) = self.overlap {
            b = b.overlap(o.to_library_overlap());
        }
        if let Some(m) = self.misfire {
            b = b.misfire(m);
        }
        if let Some(d) = self.misfire_grace {
            b = b.misfire_grace(d);
        }
        if let Some(d) = self.jitter {
            b = b.jitter(d);
        }
        if let Some(com) = self.is_com_bot {
            b = b.is_com_bot(com);
        }
        if let Some(w) = self.expect_success_within {
            b = b.expect_success_within(w);
        }
        let r = &self.receivers;
        for w in &r.slack_webhook {
            b = b.slack_webhook(w.url());
        }
        for w in &r.chime_webhook {
            b = b.chime_webhook(w.url());
        }
        if !r.slack_event_types.is_empty() {
            b = b.slack_event_types(&r.slack_event_types);
        }
        if !r.chime_event_types.is_empty() {
            b = b.chime_event_types(&r.chime_event_types);
        }
        b
    }

    /// Subscribes the bot's JSON webhooks (`webhook`, `webhook_event_types`)
    /// to its events on `manager`. Call it after adding the bot.
    #[allow(dead_code, reason = "`botman run` calls it (issue 10)")]
    pub(crate) fn apply_receivers(&self, manager: &Botman) -> Result<(), botman::Error> {
        for w in &self.receivers.webhook {
            botman::WebhookReceiver::new(w.url()).build()?.subscribe_to(
                manager.events(),
                &self.name,
                &self.receivers.webhook_event_types,
            );
        }
        Ok(())
    }
}

#[allow(dead_code, reason = "`botman run` uses them (issue 10)")]
impl ManagerConfig {
    /// The library's builder with the name, workers, default zone and
    /// shutdown grace. The daemon adds the store it opens from `state`.
    pub(crate) fn builder(&self) -> BotmanBuilder {
        let mut b = Botman::builder()
            .name(&self.name)
            .max_workers(self.max_workers)
            .default_time_zone(self.tz.clone())
            .shutdown_grace(self.shutdown_grace);
        if let Some(n) = self.max_stuck_workers {
            b = b.max_stuck_workers(n);
        }
        b
    }

    /// Subscribes the manager-level webhooks to the manager's own events.
    pub(crate) fn apply_receivers(&self, manager: &Botman) -> Result<(), botman::Error> {
        let r = &self.receivers;
        for w in &r.slack_webhook {
            manager.subscribe_slack_webhook(w.url(), &r.slack_event_types)?;
        }
        for w in &r.chime_webhook {
            manager.subscribe_chime_webhook(w.url(), &r.chime_event_types)?;
        }
        for w in &r.webhook {
            manager.subscribe_webhook(w.url(), &r.webhook_event_types)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIR: &str = "/etc/botman";
    const SLACK: &str = "https://hooks.slack.com/services/T0/B0/secret";

    fn env(name: &str) -> Option<String> {
        match name {
            "SLACK_URL" => Some(SLACK.to_owned()),
            "PGPASS" => Some("s3cret".to_owned()),
            "STATE" => Some("memory".to_owned()),
            _ => None,
        }
    }

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::parse(&Path::new(DIR).join("botman.toml"), text, &env)
    }

    /// Each error as "line:col: message".
    fn errors(text: &str) -> Vec<String> {
        match load(text) {
            Ok(c) => panic!("expected errors, loaded {} bots", c.bots.len()),
            Err(e) => e
                .positions()
                .into_iter()
                .map(|(at, m)| format!("{at}: {m}"))
                .collect(),
        }
    }

    /// A valid bot to add keys to.
    const BOT: &str = "[[bot]]\nname = \"b\"\nschedule = \"* * * * *\"\ncommand = \"true\"\n";

    #[test]
    fn ok_the_issue_example_loads() {
        let text = r#"
[botman]
name = "ops"
state = "sqlite://botman.db"
timezone = "Europe/Berlin"
max_workers = 16
max_stuck_workers = 4
shutdown_grace = "30s"
slack_webhook = ["env:SLACK_URL"]
slack_event_types = ["error", "Warning"]

[[bot]]
name = "backup"
schedule = ["0 3 * * *", "0 15 * * SAT"]
command = "pg_dump app > /backups/app.sql"
retries = 3
retry_delay = "10s"
max_retry_delay = "2m"
initial_timeout = 60
max_timeout = "1h"
time_limit = "30m"
timezone = "UTC"
overlap = "concurrent:2"
misfire = "run_all:5"
misfire_grace = "1h"
jitter = "30s"
expect_success_within = "26h"
workdir = "srv/app"
env = { PGHOST = "db", PGPASSWORD = "env:PGPASS", PORT = 5432 }
soft_exit_codes = [75, 3]
slack_webhook = "env:SLACK_URL"
webhook = "https://example.com/hook"
webhook_event_types = "error"

[[bot]]
name = "report"
schedule = "@daily"
command = ["report", "--all"]
"#;
        let c = load(text).unwrap();
        let m = &c.manager;
        assert_eq!(m.name, "ops");
        assert_eq!(
            m.state,
            StateConfig::Sqlite(PathBuf::from("/etc/botman/botman.db"))
        );
        assert_eq!(m.timezone, "Europe/Berlin");
        assert_eq!(m.max_workers, 16);
        assert_eq!(m.max_stuck_workers, Some(4));
        assert_eq!(m.shutdown_grace, Duration::from_secs(30));
        assert_eq!(m.receivers.slack_webhook[0].url(), SLACK);
        // Secrets are redacted when shown.
        assert!(!format!("{:?}", m.receivers).contains("secret"));
        assert_eq!(
            m.receivers.slack_event_types,
            [EventType::Error, EventType::Warning]
        );

        let b = &c.bots[0];
        assert_eq!(b.name, "backup");
        assert_eq!(b.at, LineCol { line: 12, col: 1 });
        assert_eq!(b.timezone, "UTC");
        let exprs: Vec<&str> = b.schedules.iter().map(|s| s.expr()).collect();
        assert_eq!(exprs, ["0 3 * * *", "0 15 * * SAT"]);
        assert_eq!(
            b.command,
            CommandSpec::Shell("pg_dump app > /backups/app.sql".to_owned())
        );
        assert_eq!(b.workdir, Some(PathBuf::from("/etc/botman/srv/app")));
        let env: Vec<(&str, &str)> = b.env.iter().map(|(k, v)| (&**k, &**v)).collect();
        assert_eq!(
            env,
            [("PGHOST", "db"), ("PGPASSWORD", "s3cret"), ("PORT", "5432")]
        );
        assert_eq!(b.soft_exit_codes, [75, 3]);
        assert_eq!(
            b.expect_success_within,
            Some(Duration::from_secs(26 * 3600))
        );
        assert_eq!(b.retries, Some(3));
        assert_eq!(b.initial_timeout, Some(Duration::from_secs(60)));
        assert_eq!(b.max_retry_delay, Some(Duration::from_secs(120)));
        assert_eq!(b.overlap, Some(OverlapConfig::Concurrent(2)));
        assert_eq!(b.misfire, Some(Misfire::RunAll { max: 5 }));
        assert_eq!(b.receivers.webhook_event_types, [EventType::Error]);

        // The builder carries every policy to the library.
        let bot = b
            .builder()
            .job(|| Ok::<(), botman::JobError>(()))
            .build()
            .unwrap();
        let shown = format!("{bot:?}");
        for part in [
            "retries: 3",
            "retry_delay: 10s",
            "max_retry_delay: 120s",
            "max_timeout: 3600s",
            "overlap: Concurrent(2)",
            "misfire: RunAll { max: 5 }",
            "misfire_grace: 3600s",
            "jitter: 30s",
            "time_limit: Some(1800s)",
        ] {
            assert!(shown.contains(part), "{part} not in {shown}");
        }
        // The bot without a zone is read in the manager's.
        let r = &c.bots[1];
        assert_eq!(r.timezone, "Europe/Berlin");
        assert_eq!(
            r.schedules[0].time_zone().map(|z| z.iana_name()),
            Some(Some("Europe/Berlin"))
        );
        assert_eq!(
            r.command,
            CommandSpec::Argv(vec!["report".to_owned(), "--all".to_owned()])
        );
        assert_eq!(r.retries, None);
    }

    #[test]
    fn ok_defaults_without_a_botman_table() {
        let c = load(BOT).unwrap();
        assert_eq!(c.manager.name, "botman");
        assert_eq!(c.manager.timezone, "UTC");
        assert_eq!(c.manager.max_workers, 10);
        assert_eq!(c.manager.shutdown_grace, Duration::from_secs(30));
        assert_eq!(
            c.manager.state,
            StateConfig::Sqlite(PathBuf::from("/etc/botman/botman.db"))
        );
        assert_eq!(c.bots.len(), 1);
        assert_eq!(load("").unwrap().bots.len(), 0);
    }

    #[test]
    fn ok_durations() {
        use raw::RawDuration::{Float, Int, Text};
        let ok = |r: raw::RawDuration| resolve::parse_duration(&r).unwrap();
        let ms = Duration::from_millis;
        assert_eq!(ok(Text("10s".into())), ms(10_000));
        assert_eq!(ok(Text("5m".into())), ms(300_000));
        assert_eq!(ok(Text("1h30m".into())), ms(5_400_000));
        assert_eq!(ok(Text("1h 30m".into())), ms(5_400_000));
        assert_eq!(ok(Text("250ms".into())), ms(250));
        assert_eq!(ok(Text("PT1H".into())), ms(3_600_000));
        assert_eq!(ok(Text(" 90 ".into())), ms(90_000));
        assert_eq!(ok(Text("0".into())), Duration::ZERO);
        assert_eq!(ok(Int(90)), ms(90_000));
        assert_eq!(ok(Float(1.5)), ms(1_500));
    }

    #[test]
    fn ok_http() {
        let c = load(&format!("[botman.http]\n{BOT}")).unwrap();
        let h = c.manager.http.unwrap();
        assert_eq!(h.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!((h.token, h.read_only_public), (None, false));
        assert!(load(BOT).unwrap().manager.http.is_none());
        let text = "[botman.http]\nlisten = \"0.0.0.0:9000\"\ntoken = \"env:PGPASS\"\n";
        let h = load(text).unwrap().manager.http.unwrap();
        assert_eq!(h.token.as_deref(), Some("s3cret"));
        assert!(
            !format!("{h:?}").contains("s3cret"),
            "Debug hides the token"
        );
        let text = "[botman.http]\nlisten = \"[::]:9000\"\nread_only_public = true\n";
        assert!(load(text).unwrap().manager.http.unwrap().read_only_public);
        let text = "[botman.http]\nlisten = \"[::1]:0\"\n";
        assert!(load(text).is_ok(), "loopback needs no token");
        let text = "[botman.http]\ntoken = \" tok\\n\"\n";
        let h = load(text).unwrap().manager.http.unwrap();
        assert_eq!(
            h.token.as_deref(),
            Some("tok"),
            "trimmed, as a client sends it"
        );
    }

    #[test]
    fn err_dot_names() {
        for name in [".", ".."] {
            let e = errors(&format!(
                "[[bot]]\nname = \"{name}\"\nschedule = \"@daily\"\ncommand = \"true\"\n"
            ));
            assert_eq!(e.len(), 1, "{e:?}");
            assert!(
                e[0].contains(&format!("'{name}' cannot be a bot's name")),
                "{e:?}"
            );
        }
    }

    #[test]
    fn err_http() {
        let e = errors("[botman.http]\nlisten = \"0.0.0.0:8080\"\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("2:10: listening on 0.0.0.0:8080 reaches beyond this machine and there is no 'token'"), "{e:?}");
        assert!(e[0].contains("read_only_public = true"), "{e:?}");
        let e = errors(
            "[botman.http]\nlisten = \"localhost\"\ntoken = \"\"\nlisen = 1\nread_only_public = \"yes\"\n",
        );
        assert_eq!(e.len(), 4, "all reported: {e:?}");
        assert!(
            e[0].starts_with("2:10: 'listen' is not an address and port: 'localhost'"),
            "{e:?}"
        );
        assert!(e.iter().any(|m| m.contains("'token' is empty")), "{e:?}");
        assert!(
            e.iter()
                .any(|m| m.contains("unknown key 'lisen', did you mean 'listen'?")),
            "{e:?}"
        );
        assert!(e.iter().any(|m| m.contains("'read_only_public'")), "{e:?}");
        let e = errors("[botman.http]\ntoken = \"env:NOPE\"\n");
        assert!(
            e[0].contains("environment variable 'NOPE' is not set"),
            "{e:?}"
        );
        let e = errors("[botman]\nhttp = 3\n");
        assert!(e[0].contains("'http' must be a table"), "{e:?}");
    }

    #[test]
    fn err_durations() {
        use raw::RawDuration::{Float, Int, Text};
        let err = |r: raw::RawDuration| resolve::parse_duration(&r).unwrap_err();
        let example = "write it like \"10s\", \"5m\", \"1h30m\", \"250ms\" or a number of seconds";
        assert_eq!(err(Int(-1)), format!("is negative (-1); {example}"));
        assert_eq!(err(Float(-0.5)), format!("is negative (-0.5); {example}"));
        assert_eq!(
            err(Text("-5s".into())),
            format!("is negative (\"-5s\"); {example}")
        );
        assert_eq!(
            err(Text("10x".into())),
            format!("is not a duration (\"10x\"); {example}")
        );
        assert_eq!(
            err(Text("".into())),
            format!("is not a duration (\"\"); {example}")
        );
        assert!(err(Float(f64::NAN)).starts_with("is negative"));
        // In a file: where, and which key.
        let text = format!("{BOT}retry_delay = \"10x\"\njitter = -3\n");
        assert_eq!(
            errors(&text),
            [
                format!("5:15: 'retry_delay' is not a duration (\"10x\"); {example}"),
                format!("6:10: 'jitter' is negative (-3); {example}"),
            ]
        );
    }

    fn state(value: &str) -> Result<StateConfig, Vec<String>> {
        let text = format!("[botman]\nstate = \"{value}\"\n");
        match load(&text) {
            Ok(c) => Ok(c.manager.state),
            Err(_) => Err(errors(&text)),
        }
    }

    #[test]
    fn ok_state_urls() {
        let sqlite = |p: &str| Ok(StateConfig::Sqlite(PathBuf::from(p)));
        assert_eq!(state("sqlite://botman.db"), sqlite("/etc/botman/botman.db"));
        assert_eq!(state("sqlite://data/b.db"), sqlite("/etc/botman/data/b.db"));
        assert_eq!(state("sqlite:///var/lib/b.db"), sqlite("/var/lib/b.db"));
        assert_eq!(state("memory"), Ok(StateConfig::Memory));
        assert_eq!(state("env:STATE"), Ok(StateConfig::Memory));
    }

    #[test]
    fn err_state_urls() {
        let use_ = "use \"sqlite://botman.db\" (beside the config file), \
                    \"sqlite:///absolute/path.db\" or \"memory\"";
        assert_eq!(
            state("postgres://app:hunter2@db/botman").unwrap_err(),
            [format!(
                "2:9: the PostgreSQL cluster store is not available yet (a later issue); {use_}"
            )]
        );
        assert!(state("postgresql://db/botman").unwrap_err()[0].contains("PostgreSQL"));
        assert_eq!(
            state("sqlite:b.db").unwrap_err(),
            [format!("2:9: 'sqlite:b.db' is not a SQLite URL; {use_}")]
        );
        assert_eq!(
            state("sqlite://").unwrap_err(),
            [format!("2:9: 'state' names no database file; {use_}")]
        );
        assert_eq!(
            state("memroy").unwrap_err(),
            ["2:9: unknown state 'memroy', did you mean 'memory'?"]
        );
        assert_eq!(
            state("redis://x").unwrap_err(),
            [format!("2:9: unknown state 'redis://x'; {use_}")]
        );
    }

    #[test]
    fn err_env_secrets_name_the_variable() {
        let text = "[botman]\nslack_webhook = [\"env:SLACK_URL\", \"env:NOPE\"]\n\
                    chime_webhook = \"env:\"\n";
        assert_eq!(
            errors(text),
            [
                "2:35: environment variable 'NOPE' is not set (read for \"env:NOPE\")",
                "3:17: 'env:' names no environment variable: write it like \"env:SLACK_URL\"",
            ]
        );
        let text = format!("{BOT}env = {{ A = \"env:MISSING\" }}\n");
        assert_eq!(
            errors(&text),
            ["5:13: environment variable 'MISSING' is not set (read for \"env:MISSING\")"]
        );
    }

    #[test]
    fn err_unknown_keys_suggest_the_closest() {
        let text = "[[bot]]\nname = \"b\"\nschedul = \"* * * * *\"\ncommand = \"true\"\n\
                    retires = 2\nfoo = 1\n[botman]\nmax_worker = 3\n[bots]\n";
        assert_eq!(
            errors(text),
            [
                "1:1: bot 'b' has no 'schedule' (it is required)",
                "3:1: unknown key 'schedul', did you mean 'schedule'?",
                "5:1: unknown key 'retires', did you mean 'retries'?",
                "6:1: unknown key 'foo' in [[bot]]",
                "8:1: unknown key 'max_worker', did you mean 'max_workers'?",
                "9:2: unknown key 'bots', did you mean 'bot'?",
            ]
        );
    }

    #[test]
    fn err_wrong_types() {
        let text = "[botman]\nmax_workers = \"16\"\n[[bot]]\nname = 7\nschedule = [\"* * * * *\", 5]\n\
                    command = {}\nis_com_bot = \"yes\"\nretry_delay = true\n";
        assert_eq!(
            errors(text),
            [
                "2:15: 'max_workers' must be an integer, found a string",
                "4:8: 'name' must be a string, found an integer",
                "5:26: 'schedule' must be a string or a list of strings, found an integer",
                "6:11: 'command' must be a string (run with sh -c) or a list of strings \
                 (argv, no shell), found a table",
                "7:14: 'is_com_bot' must be true or false, found a string",
                "8:15: 'retry_delay' must be a duration such as \"10s\", \"5m\" or \"1h30m\", \
                 or a number of seconds, found a boolean",
            ]
        );
        assert_eq!(
            errors("[bot]\nname = \"x\"\n"),
            ["1:1: 'bot' must be an array of tables: write [[bot]], not [bot]"]
        );
    }

    #[test]
    fn err_cron_points_into_the_expression() {
        let text = "[[bot]]\nname = \"b\"\ncommand = \"true\"\n\
                    schedule = [\"61 * * * *\", \"0 3 * * FOO\", 'x']\n";
        assert_eq!(
            errors(text),
            [
                "4:14: invalid cron expression '61 * * * *': minute `61`: 61 is out of range 0-59",
                "4:36: invalid cron expression '0 3 * * FOO': day-of-week `FOO`: expected \
                 a weekday 0-7 or a name SUN-SAT",
                "4:43: invalid cron expression 'x': expected 5 fields (minute hour \
                 day-of-month month day-of-week) or 6 (with a leading seconds field), found 1",
            ]
        );
        // Escapes move columns: the error points at the string.
        let text = "[[bot]]\nname = \"b\"\ncommand = \"true\"\nschedule = \"\\u00361 * * * *\"\n";
        assert_eq!(
            errors(text),
            ["4:12: invalid cron expression '61 * * * *': minute `61`: 61 is out of range 0-59"]
        );
        let text = format!("{BOT}schedule = []\n").replace("schedule = \"* * * * *\"\n", "");
        assert_eq!(
            errors(&text),
            ["4:12: 'schedule' is empty: give at least one cron expression, e.g. \"0 3 * * *\""]
        );
    }

    #[test]
    fn err_zones_suggest_the_closest() {
        let text =
            format!("[botman]\ntimezone = \"Europe/Berln\"\n{BOT}timezone = \"Mars/Base\"\n");
        assert_eq!(
            errors(&text),
            [
                "2:12: unknown time zone 'Europe/Berln', did you mean 'Europe/Berlin'?",
                "7:12: unknown time zone 'Mars/Base'; use an IANA name such as UTC or Europe/Berlin",
            ]
        );
    }

    #[test]
    fn err_duplicate_and_empty_names() {
        let text =
            format!("{BOT}{BOT}[[bot]]\nname = \" \"\nschedule = \"@daily\"\ncommand = \"x\"\n");
        assert_eq!(
            errors(&text),
            [
                "6:8: duplicate bot name 'b' (first given at line 2, column 8)",
                "10:8: the bot's 'name' is empty",
            ]
        );
        assert_eq!(
            errors(&BOT.replace("\"b\"", "\"all\"")),
            ["2:8: 'all' is reserved (subscribing to 'all' means every bot); choose another name"]
        );
    }

    #[test]
    fn err_policies() {
        let text = format!(
            "{BOT}overlap = \"concurrent:0\"\nmisfire = \"run_onse\"\nretries = 0\n\
             soft_exit_codes = [0, 256]\nslack_event_types = [\"infoo\"]\n"
        );
        assert_eq!(
            errors(&text),
            [
                "5:11: 'overlap' = 'concurrent:0' needs a whole number of at least 1 after \
                 the colon, e.g. \"concurrent:2\"",
                "6:11: unknown misfire policy 'run_onse', did you mean 'run_once'?",
                "7:11: 'retries' must be at least 1 (it counts attempts per fire), found 0",
                "8:20: 'soft_exit_codes' takes exit codes 1-255 (0 is success), found 0",
                "8:23: 'soft_exit_codes' takes exit codes 1-255 (0 is success), found 256",
                "9:22: unknown event type 'infoo', did you mean 'info'?",
            ]
        );
        assert_eq!(
            errors(&format!("{BOT}overlap = \"queu\"\n")),
            ["5:11: unknown overlap policy 'queu', did you mean 'queue'?"]
        );
        assert_eq!(
            errors(&format!("{BOT}time_limit = 0\n")),
            ["5:14: 'time_limit' of zero would fail every attempt; leave it out for no limit"]
        );
        assert_eq!(
            errors(&format!("{BOT}expect_success_within = \"0s\"\n")),
            ["5:25: 'expect_success_within' of zero would be overdue at once"]
        );
        // The library's own checks, at the bot: the default initial_timeout
        // is 60 s.
        assert_eq!(
            errors(&format!("{BOT}max_timeout = \"30s\"\n")),
            ["1:1: bot `b`: max_timeout is shorter than initial_timeout"]
        );
        assert_eq!(
            errors(&format!("{BOT}slack_webhook = \"ftp://x\"\n")),
            ["5:17: invalid webhook ftp://x/…#bc7f6ca9: must be an http(s) URL with a host"]
        );
    }

    #[test]
    fn ok_replace_and_expect_success_within_reach_the_library() {
        let text = format!("{BOT}overlap = \"replace\"\nexpect_success_within = \"26h\"\n");
        let c = Config::parse(Path::new("botman.toml"), &text, &|_| None).expect("valid");
        let b = &c.bots[0];
        assert_eq!(b.overlap, Some(OverlapConfig::Replace));
        assert_eq!(
            b.overlap.map(OverlapConfig::to_library_overlap),
            Some(Overlap::Replace)
        );
        assert_eq!(
            b.expect_success_within,
            Some(Duration::from_secs(26 * 3600))
        );
        assert!(
            b.builder()
                .job(|| Ok::<_, std::io::Error>(()))
                .build()
                .is_ok()
        );
    }

    #[test]
    fn err_commands() {
        let text = "[[bot]]\nname = \"a\"\nschedule = \"@daily\"\ncommand = []\n\
                    [[bot]]\nname = \"b\"\nschedule = \"@daily\"\ncommand = \"  \"\n\
                    [[bot]]\nname = \"c\"\nschedule = \"@daily\"\ncommand = [\"\", \"x\"]\n";
        assert_eq!(
            errors(text),
            [
                "4:11: 'command' is an empty list: give the program and its arguments, \
                 e.g. [\"pg_dump\", \"app\"]",
                "8:11: 'command' is empty",
                "12:12: the program of 'command' is empty",
            ]
        );
    }

    #[test]
    fn err_toml_syntax_reports_its_own_position() {
        let e = errors("[botman]\nname = \"ops\"\nmax_workers = \n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("3:15: invalid TOML: "), "{e:?}");
        // Every syntax error, not only the first.
        let e = errors("a = \nb = \n");
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(
            e[0].starts_with("1:5: ") && e[1].starts_with("2:5: "),
            "{e:?}"
        );
    }

    #[test]
    fn err_all_errors_at_once_in_file_order() {
        let text = "[botman]\ntimezone = \"Nowhere/City\"\nshutdown_grace = \"soon\"\n\
                    [[bot]]\nname = \"x\"\nschedul = \"* * * * *\"\ncommand = \"true\"\n\
                    [[bot]]\nname = \"y\"\nschedule = \"* * * * * * *\"\ncommand = \"true\"\n\
                    jitter = \"-1s\"\n";
        let e = load(text).unwrap_err();
        let lines: Vec<String> = e.positions().iter().map(|(at, _)| at.to_string()).collect();
        assert_eq!(lines, ["2:12", "3:18", "4:1", "6:1", "10:13", "12:10"]);
        let shown = e.to_string();
        assert!(
            shown.starts_with(
                "/etc/botman/botman.toml:2:12: error: unknown time zone 'Nowhere/City'"
            ),
            "{shown}"
        );
        assert!(
            shown.contains(
                "/etc/botman/botman.toml:6:1: error: unknown key 'schedul', did you mean \
                 'schedule'?\n  |\n6 | schedul = \"* * * * *\"\n  | ^^^^^^^\n"
            ),
            "{shown}"
        );
        assert!(
            shown.ends_with("\n\n6 errors in /etc/botman/botman.toml"),
            "{shown}"
        );
    }

    #[test]
    fn ok_manager_builder_and_receivers() {
        let c = load(&format!(
            "[botman]\nname = \"ops\"\nwebhook = \"http://127.0.0.1:9/hook\"\n{BOT}"
        ))
        .unwrap();
        let manager = c.manager.builder().build().unwrap();
        assert_eq!(manager.name(), "ops");
        c.manager.apply_receivers(&manager).unwrap();
        assert_eq!(manager.receivers_of("").len(), 1);
    }
}
