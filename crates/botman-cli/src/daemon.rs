//! `botman run [FILE]`: the daemon (issue #10). The library schedules; this
//! module only turns the config file into bots whose job is a shell command
//! (`shell.rs`), opens the state store the file names, and handles signals:
//! SIGINT/SIGTERM stop gracefully (a second one stops the runs at once),
//! SIGHUP reloads the file.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use botman::jiff::Timestamp;
use botman::{Botman, MemoryStore, RunContext, RunOutput, SoftError, SqliteOptions, SqliteStore};
use tokio::signal::unix::{SignalKind, signal};

use crate::config::{BotConfig, Config, StateConfig};
use crate::shell::{self, Exit, ShellCommand, Verdict};

/// How the daemon logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Lines for people.
    #[default]
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The node this daemon records on its runs: `--node`, else `BOTMAN_NODE`,
/// else the host name.
pub(crate) fn node_name(flag: Option<&str>) -> String {
    flag.map(str::to_owned)
        .or_else(|| std::env::var("BOTMAN_NODE").ok().filter(|n| !n.is_empty()))
        .unwrap_or_else(host_name)
}

fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Installs the log subscriber (`RUST_LOG` filters; `info` by default).
pub(crate) fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Opens the store the file names.
pub(crate) async fn open_store(
    state: &StateConfig,
    node: &str,
) -> Result<Option<SqliteStore>, botman::StoreError> {
    match state {
        StateConfig::Memory => Ok(None),
        StateConfig::Sqlite(path) => SqliteStore::open_with(path, SqliteOptions::new().node(node))
            .await
            .map(Some),
    }
}

/// The bot of a `[[bot]]` table: its policies, and a job that runs its
/// command with the run's variables and leaves the exit code and output
/// tails in the record.
fn build_bot(bot: &BotConfig, node: &Arc<str>) -> Result<botman::Bot, botman::Error> {
    let mut cmd = ShellCommand::new(&bot.name, bot.command.clone());
    if let Some(dir) = &bot.workdir {
        cmd = cmd.with_workdir(dir);
    }
    for (k, v) in &bot.env {
        cmd = cmd.with_env(k, v);
    }
    let cmd = Arc::new(cmd);
    let soft: Arc<[i32]> = bot.soft_exit_codes.clone().into();
    let node = Arc::clone(node);
    bot.builder()
        .async_job_with(move |ctx: RunContext| {
            let (cmd, soft, node) = (Arc::clone(&cmd), Arc::clone(&soft), Arc::clone(&node));
            async move {
                let env = run_env(&ctx, &node);
                let out = cmd.run(&env).await;
                let code = match out.exit {
                    Exit::Code(c) => Some(c),
                    _ => None,
                };
                let verdict = out.verdict(&soft);
                ctx.set_output(RunOutput::new(
                    code,
                    Some(out.stdout_tail),
                    Some(out.stderr_tail),
                ));
                match verdict {
                    Verdict::Success => Ok(()),
                    Verdict::SoftFailure(m) => Err(botman::JobError::from(SoftError::new(m))),
                    Verdict::Failure(m) => Err(botman::JobError::from(m)),
                }
            }
        })
        .build()
}

/// The variables every run of a shell bot gets (issue #10): the bot, the
/// fire's instant (UTC, RFC 3339 with `Z`), the attempt, the run's id (the
/// same for every attempt of a fire) and the node.
fn run_env(ctx: &RunContext, node: &str) -> Vec<(String, String)> {
    let instant = ctx.instant();
    let run_id = ctx.run_id().map_or_else(
        // The store failed to make the row: still one id per fire.
        || format!("{}@{}", ctx.bot(), instant.as_microsecond()),
        |id| id.to_string(),
    );
    vec![
        ("BOTMAN_BOT".to_owned(), ctx.bot().to_owned()),
        ("BOTMAN_SCHEDULED_AT".to_owned(), instant.to_string()),
        ("BOTMAN_ATTEMPT".to_owned(), ctx.attempt().to_string()),
        ("BOTMAN_RUN_ID".to_owned(), run_id),
        ("BOTMAN_NODE".to_owned(), node.to_owned()),
    ]
}

/// What decides whether a bot changed on reload: everything the file says
/// about it (webhook URLs compared whole, not as shown).
fn fingerprint(b: &BotConfig) -> String {
    let r = &b.receivers;
    let urls =
        |ws: &[crate::config::Webhook]| ws.iter().map(|w| w.url().to_owned()).collect::<Vec<_>>();
    format!(
        "{:?}",
        (
            b.schedules
                .iter()
                .map(|s| s.expr().to_owned())
                .collect::<Vec<_>>(),
            &b.timezone,
            &b.command,
            &b.workdir,
            &b.env,
            &b.soft_exit_codes,
            (
                b.expect_success_within,
                b.retries,
                b.retry_delay,
                b.max_retry_delay
            ),
            (b.initial_timeout, b.max_timeout, b.time_limit, b.overlap),
            (b.misfire, b.misfire_grace, b.jitter, b.is_com_bot),
            (
                urls(&r.slack_webhook),
                &r.slack_event_types,
                urls(&r.chime_webhook)
            ),
            (
                &r.chime_event_types,
                urls(&r.webhook),
                &r.webhook_event_types
            ),
        )
    )
}

/// Adds the file's bots to the manager. A bot the library refuses is an
/// error naming it and its place in the file.
fn add_bots(
    m: &Botman,
    config: &Config,
    bots: &[&BotConfig],
    node: &Arc<str>,
) -> Result<(), String> {
    for b in bots {
        let bot = build_bot(b, node).map_err(|e| about(config, b, &e))?;
        m.add_bot(bot).map_err(|e| about(config, b, &e))?;
        b.apply_receivers(m).map_err(|e| about(config, b, &e))?;
    }
    Ok(())
}

/// An error about a bot of the file, at the bot's place in it.
fn about(config: &Config, b: &BotConfig, e: &botman::Error) -> String {
    format!("{}:{}: bot '{}': {e}", config.path.display(), b.at, b.name)
}

/// One line per bot with its next fire, in the bot's zone.
fn print_next_fires(m: &Botman, config: &Config) {
    for b in &config.bots {
        let next = m.metrics_of(&b.name).ok().and_then(|x| x.next_run);
        let shown = match (next, botman::jiff::tz::TimeZone::get(&b.timezone)) {
            (Some(at), Ok(tz)) => {
                let z = botman::jiff::ZonedDateTime::new(at, tz);
                z.timestamp().display_with_offset(z.offset()).to_string()
            }
            (Some(at), Err(_)) => at.to_string(),
            (None, _) => "never".to_owned(),
        };
        println!("bot {}: next fire {shown} ({})", b.name, b.timezone);
    }
}

/// Runs the daemon until SIGINT/SIGTERM. Returns the process's exit status.
pub(crate) async fn run(path: &Path, node: String) -> Result<(), String> {
    let mut config = Config::load(path).map_err(|e| e.to_string())?;
    match shell::start_orphan_reaper(shell::ReapOrphans::IfPid1) {
        Ok(true) => tracing::info!("running as PID 1: reaping orphaned processes"),
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "could not start the orphan reaper"),
    }
    let store = open_store(&config.manager.state, &node)
        .await
        .map_err(|e| format!("{}: state: {e}", config.path.display()))?;
    let mut builder = config.manager.builder();
    if let Some(store) = store {
        builder = builder.store(store);
    } else {
        builder = builder.store(MemoryStore::new());
    }
    let m = builder.build().map_err(|e| e.to_string())?;
    config
        .manager
        .apply_receivers(&m)
        .map_err(|e| format!("{}: {e}", config.path.display()))?;
    // Installed before anything starts: a signal that comes as soon as the
    // "next fire" lines are printed stops or reloads, never kills.
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut hup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    // Bound before any bot is added: a port in use stops the daemon before
    // anything ran or was announced to a webhook.
    let server = match &config.manager.http {
        Some(http) => Some(crate::http::Server::start(&m, &config.manager, http).await?),
        None => None,
    };
    let node: Arc<str> = node.into();
    let all: Vec<&BotConfig> = config.bots.iter().collect();
    add_bots(&m, &config, &all, &node)?;
    m.start();
    tracing::info!(
        manager = %config.manager.name,
        bots = config.bots.len(),
        node = %node,
        state = ?config.manager.state,
        "botman running"
    );
    print_next_fires(&m, &config);
    if let Some(server) = &server {
        println!("dashboard: http://{}/", server.addr);
    }

    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                match reload(&m, &config, &node, server.as_ref()) {
                    Ok(new) => config = new,
                    Err(e) => tracing::error!("reload refused, the running configuration stays:\n{e}"),
                }
            }
        }
    }
    tracing::info!(grace = ?config.manager.shutdown_grace, "stopping: no new fires; running jobs get the shutdown grace (a second signal stops them now)");
    let report = {
        let stopping = m.stop_async();
        tokio::pin!(stopping);
        tokio::select! {
            r = &mut stopping => r,
            _ = async {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = int.recv() => {},
                }
            } => {
                tracing::warn!("second signal: stopping the running jobs now");
                m.stop_runs();
                stopping.await
            }
        }
    };
    if let Some(server) = server {
        server.stop().await;
    }
    if !report.abandoned.is_empty() {
        tracing::warn!(bots = ?report.abandoned, "runs still going at the end of the grace were stopped and recorded as interrupted");
    }
    // A stopped run's process group gets SIGKILL after a short grace: wait
    // for those escalations, so nothing of a run outlives the daemon.
    if !shell::wait_detached_stops(Duration::from_secs(10)).await {
        tracing::error!("some process groups did not end after SIGKILL");
    }
    drop(m);
    tracing::info!("stopped");
    Ok(())
}

/// SIGHUP: the new file's added, removed and changed bots take effect;
/// unchanged bots keep their state. A bad file changes nothing.
fn reload(
    m: &Botman,
    old: &Config,
    node: &Arc<str>,
    server: Option<&crate::http::Server>,
) -> Result<Config, String> {
    let new = Config::load(&old.path).map_err(|e| e.to_string())?;
    let before: HashMap<&str, String> = old
        .bots
        .iter()
        .map(|b| (b.name.as_str(), fingerprint(b)))
        .collect();
    let after: HashMap<&str, String> = new
        .bots
        .iter()
        .map(|b| (b.name.as_str(), fingerprint(b)))
        .collect();
    // Built first, added after the removals: a bot the library refuses
    // leaves the running set as it was.
    for b in &new.bots {
        if before.get(b.name.as_str()) != Some(&fingerprint(b)) {
            build_bot(b, node).map_err(|e| about(&new, b, &e))?;
        }
    }
    let (mut added, mut removed, mut changed) = (Vec::new(), Vec::new(), Vec::new());
    for (name, fp) in &before {
        match after.get(name) {
            None => removed.push(*name),
            Some(f) if f != fp => changed.push(*name),
            Some(_) => {}
        }
    }
    for name in after.keys() {
        if !before.contains_key(name) {
            added.push(*name);
        }
    }
    for name in removed.iter().chain(&changed) {
        if let Err(e) = m.remove_bot(name) {
            tracing::warn!(bot = %name, error = %e, "reload: could not remove");
        }
    }
    let to_add: Vec<&BotConfig> = new
        .bots
        .iter()
        .filter(|b| added.contains(&b.name.as_str()) || changed.contains(&b.name.as_str()))
        .collect();
    add_bots(m, &new, &to_add, node)?;
    reload_http(&old.manager.http, &new.manager.http, server);
    let rest = |c: &crate::config::ManagerConfig| {
        let mut text = format!("{c:?}");
        // [botman.http] is compared (and its token applied) on its own.
        if let Some(i) = text.find("http: ") {
            text.truncate(i);
        }
        text
    };
    if rest(&old.manager) != rest(&new.manager) {
        tracing::warn!(
            "reload: changes to [botman] (state, zone, workers, grace, receivers) take effect at the next start"
        );
    }
    added.sort();
    removed.sort();
    changed.sort();
    tracing::info!(
        ?added,
        ?removed,
        ?changed,
        "reloaded {}",
        new.path.display()
    );
    Ok(new)
}

/// A reload's `[botman.http]`: a new token takes effect at once (the old
/// one stops working: rotating it needs no restart); where and whether the
/// server listens changes at the next start, and the log says so.
fn reload_http(
    old: &Option<crate::config::HttpConfig>,
    new: &Option<crate::config::HttpConfig>,
    server: Option<&crate::http::Server>,
) {
    match (old, new, server) {
        (Some(o), Some(n), Some(server)) => {
            if o.token != n.token {
                server.set_token(n.token.clone());
                tracing::info!(
                    read_only = n.token.is_none(),
                    "reload: the HTTP API's token was replaced"
                );
            }
            if (o.listen, o.read_only_public) != (n.listen, n.read_only_public) {
                tracing::warn!(
                    "reload: changes to [botman.http] listen and read_only_public take effect at the next start"
                );
            }
        }
        (None, None, _) => {}
        _ => tracing::warn!(
            "reload: [botman.http] was added or removed: the HTTP server starts or stops at the next start"
        ),
    }
}

/// `botman history BOT`: the bot's runs from the state store, newest first.
pub(crate) async fn history(
    config: &Config,
    bot: &str,
    limit: usize,
) -> Result<Vec<botman::StoredRun>, String> {
    use botman::Store;
    let StateConfig::Sqlite(path) = &config.manager.state else {
        return Err(format!(
            "{}: state = \"memory\" keeps no history; use state = \"sqlite://botman.db\"",
            config.path.display()
        ));
    };
    if !path.exists() {
        return Err(format!(
            "{}: no state file yet (the daemon has not run with this file)",
            path.display()
        ));
    }
    if !config.bots.iter().any(|b| b.name == bot) {
        let names: Vec<&str> = config.bots.iter().map(|b| b.name.as_str()).collect();
        let hint = crate::config::suggest_name(bot, &names)
            .map(|s| format!(", did you mean '{s}'?"))
            .unwrap_or_default();
        tracing::warn!("bot '{bot}' is not in {}{hint}", config.path.display());
    }
    let store = SqliteStore::open_with(path, SqliteOptions::new().node(node_name(None)))
        .await
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let page = store
        .history(bot, limit, None)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))?;
    store.close().await;
    Ok(page.runs)
}

/// One run as `botman history --json` prints it (a contract: issue #10).
pub(crate) fn run_json(r: &botman::StoredRun) -> serde_json::Value {
    let ts = |t: Option<Timestamp>| t.map(|t| t.to_string());
    serde_json::json!({
        "id": r.id.0,
        "bot": r.bot,
        "scheduled_at": ts(r.scheduled),
        "started_at": ts(Some(r.started)),
        "finished_at": ts(r.finished),
        "duration_ms": r.finished.map(|f| (r.started.duration_until(f).as_secs_f64() * 1e6).round() / 1e3),
        "outcome": r.outcome.map(|o| o.as_str()),
        "reason": r.outcome.and_then(|o| o.reason()),
        "attempts": r.attempts,
        "exit_code": r.output.exit_code,
        "node": r.node,
        "trigger": r.trigger.as_str(),
        "error": r.error,
        "stdout_tail": r.output.stdout_tail,
        "stderr_tail": r.output.stderr_tail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_node_name_prefers_the_flag() {
        assert_eq!(node_name(Some("n1")), "n1");
        assert!(!node_name(None).is_empty());
    }
}
