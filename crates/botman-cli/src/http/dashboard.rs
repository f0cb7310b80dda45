//! The dashboard (issue #11): HTML rendered on the server, its CSS and JS
//! embedded in the binary (no CDN, no web fonts: the daemon works offline).
//!
//! Every page is complete without JavaScript: the bots, their states, the
//! timeline and the history are in the HTML. With JavaScript on, `app.js`
//! listens to `/api/events` and re-renders the row of a bot (from
//! `/api/bots/{name}`) when its events arrive, adds new runs to a bot's
//! page, and sends run now / pause / resume with the token it asks for once
//! (kept in the tab's `sessionStorage`). The markup names what the script
//! and the browser test (`tests/browser.rs`) look for: `tr#bot-NAME
//! [data-bot]`, `td.state`, `td.last`, `td.next`, `td.runs[data-runs]`,
//! `button.run-now[data-bot]`, `#runs tr.run[data-run-id]`.
//!
//! Everything shown is escaped here ([`escape`]); the token and the webhook
//! URLs are never in a page (they are not in the library's metrics or
//! history to begin with).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use botman::jiff::tz::TimeZone;
use botman::jiff::{SignedDuration, Timestamp};
use botman::{BotMetrics, BotRef, Cron, EventKind, RunId, RunOutcome, StoredRun};

use super::AppState;
use super::Shared;
use super::api::state_name;

/// Bots drawn on the index page's timeline; the rest are counted. A lane is
/// one history query, and a page of thousands of lanes helps nobody.
const TIMELINE_BOTS: usize = 100;
/// Ticks per bot on the 24-hour timeline; a bot firing more often gets a
/// band instead (at 200 fires a day the ticks already touch).
const TICKS_PER_BOT: usize = 200;
/// The timeline's future: the next 24 hours.
const TIMELINE_SPAN: SignedDuration = SignedDuration::from_hours(24);
/// Past runs per lane of the timeline.
const LAST_RUNS: usize = 20;
/// Runs per page of a bot's history.
const PAGE_RUNS: usize = 50;
/// Next fires listed on a bot's page.
const NEXT_FIRES: usize = 5;

/// `GET /`: every bot, the timeline.
pub(crate) async fn index(State(state): State<Shared>) -> Response {
    let now = state.botman.clock().now();
    let bots: Vec<(BotRef, BotMetrics)> = state
        .botman
        .metrics()
        .into_iter()
        .filter_map(|m| Some((state.botman.bot(&m.name).ok()?, m)))
        .collect();

    let mut main = String::new();
    read_only_note(&state, &mut main);
    main.push_str(r#"<div id="flash" role="status" aria-live="polite"></div>"#);
    main.push_str(r#"<p id="changed" class="note" hidden>Bots were added or removed since this page was made: <a href="/">reload</a>.</p>"#);
    let _ = write!(
        main,
        r#"<section><h2>Bots <small>{n}</small></h2>"#,
        n = bots.len()
    );
    if bots.is_empty() {
        main.push_str(r#"<p class="empty">No bots: add <code>[[bot]]</code> tables to the file and reload the daemon (SIGHUP).</p>"#);
    } else {
        bots_table(&state, now, bots.iter().map(|(b, m)| (b, m)), &mut main);
    }
    main.push_str("</section>");

    let mut lanes = Vec::new();
    let mut history_failed = false;
    for (b, m) in bots.iter().take(TIMELINE_BOTS) {
        let runs = match state.botman.history_page(&m.name, LAST_RUNS, None).await {
            Ok(page) => page.runs,
            Err(e) => {
                tracing::warn!(bot = %m.name, error = %e, "dashboard: the history could not be read");
                history_failed = true;
                Vec::new()
            }
        };
        lanes.push(Lane {
            bot: b,
            metrics: m,
            runs,
        });
    }
    if !bots.is_empty() {
        timeline(
            &state,
            now,
            &lanes,
            bots.len().saturating_sub(TIMELINE_BOTS),
            history_failed,
            &mut main,
        );
    }
    let body = layout(&state, &state.botman.name(), &[("page", "index")], &main);
    Html(body).into_response()
}

/// `GET /bots/{name}?before=ID`: one bot, its history newest first, a page
/// at a time.
pub(crate) async fn bot_page(
    State(state): State<Shared>,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let Ok(b) = state.botman.bot(&name) else {
        return unknown_bot_page(&state, &name);
    };
    let before = match params.get("before").map(|v| v.trim()) {
        None | Some("") => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n > 0 => Some(RunId(n)),
            _ => {
                return error_page(
                    &state,
                    StatusCode::BAD_REQUEST,
                    "Bad cursor",
                    &format!(
                        "'{}' is not a cursor: 'before' takes a run id, as the \"older runs\" link gives.",
                        escape(v)
                    ),
                );
            }
        },
    };
    let now = state.botman.clock().now();
    let m = b.metrics();
    let page = state.botman.history_page(&name, PAGE_RUNS, before).await;

    let mut main = String::new();
    main.push_str(r#"<nav class="crumbs"><a href="/">&larr; all bots</a></nav>"#);
    let _ = write!(
        main,
        r#"<h1>{name} <span class="state-badges" data-bot="{name}">{state}</span></h1>"#,
        name = escape(b.name()),
        state = state_badges(&m),
    );
    read_only_note(&state, &mut main);
    main.push_str(r#"<div id="flash" role="status" aria-live="polite"></div>"#);
    bots_table(&state, now, std::iter::once((&b, &m)), &mut main);
    facts(&state, now, &b, &m, &mut main);

    main.push_str(r#"<section><h2>History</h2>"#);
    match page {
        Err(e) => {
            tracing::warn!(bot = %name, error = %e, "dashboard: the history could not be read");
            main.push_str(r#"<p class="note error">The history could not be read: the store failed (the daemon's log says why).</p>"#);
        }
        Ok(page) => {
            if page.runs.is_empty() {
                main.push_str(if before.is_none() {
                    r#"<p class="empty" id="no-runs">No runs yet.</p>"#
                } else {
                    r#"<p class="empty" id="no-runs">No older runs.</p>"#
                });
            }
            main.push_str(r#"<div class="scroll"><table class="runs" id="runs"><thead><tr><th>Run</th><th>Started</th><th>Outcome</th><th class="num">Duration</th><th class="num" title="started minus scheduled">Late</th><th class="num">Attempts</th><th>Trigger</th><th>Node</th><th class="num">Exit</th><th>Output</th></tr></thead><tbody>"#);
            for r in &page.runs {
                run_row(&state, now, r, &mut main);
            }
            main.push_str("</tbody></table></div>");
            let path = format!("/bots/{}", url_segment(b.name()));
            let mut links = Vec::new();
            if before.is_some() {
                links.push(format!(r#"<a href="{path}">newest runs</a>"#));
            }
            if let Some(next) = page.next {
                links.push(format!(
                    r#"<a href="{path}?before={id}" rel="next">older runs &rarr;</a>"#,
                    id = next.0
                ));
            }
            if !links.is_empty() {
                let _ = write!(main, r#"<p class="paging">{}</p>"#, links.join(" · "));
            }
        }
    }
    main.push_str("</section>");
    // New runs are added live on the newest page only: an older page stays
    // what its link says.
    let live_runs = if before.is_none() { "true" } else { "false" };
    Html(layout(
        &state,
        b.name(),
        &[("page", "bot"), ("bot", b.name()), ("live-runs", live_runs)],
        &main,
    ))
    .into_response()
}

/// `GET /assets/app.css`.
pub(crate) async fn css() -> Response {
    asset("text/css; charset=utf-8", include_str!("assets/app.css"))
}

/// `GET /assets/app.js`.
pub(crate) async fn js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/app.js"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    // `no-cache`: revalidated on each load, so a new binary's assets are
    // used at once; they are a few kilobytes on loopback.
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The page around `main`: head, header, footer. `data` goes on `<body>`
/// as `data-*` attributes for the script.
fn layout(state: &AppState, title: &str, data: &[(&str, &str)], main: &str) -> String {
    let mut attrs = String::new();
    let kinds = EventKind::NAMES.join(",");
    let writable = if state.writable() { "true" } else { "false" };
    for (k, v) in [
        ("zone", state.zone_name.as_str()),
        ("writable", writable),
        ("kinds", kinds.as_str()),
    ]
    .iter()
    .chain(data)
    {
        let _ = write!(attrs, r#" data-{k}="{}""#, escape(v));
    }
    let manager = state.botman.name();
    let version = env!("CARGO_PKG_VERSION");
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{title} · botman</title>
<link rel="stylesheet" href="/assets/app.css?v={version}">
<script src="/assets/app.js?v={version}" defer></script>
</head>
<body{attrs}>
<header class="top"><a class="brand" href="/">botman</a><span class="manager">{manager}</span><span class="spacer"></span><span class="zone" title="times are shown in this zone">{zone}</span><span id="live" class="live" data-state="static" title="live updates need JavaScript">static</span></header>
<main>
{main}
</main>
<footer><a href="/api/bots">/api/bots</a> · <a href="/api/openapi.json">API</a> · <a href="/metrics">/metrics</a> · <a href="/healthz">/healthz</a> · botman {version}</footer>
</body>
</html>
"#,
        title = escape(title),
        manager = escape(&manager),
        zone = escape(&state.zone_name),
    )
}

fn read_only_note(state: &AppState, out: &mut String) {
    if !state.writable() {
        out.push_str(r#"<p class="note" id="read-only">This dashboard is read-only: the daemon's <code>[botman.http]</code> has no token, so bots cannot be run, paused or resumed from here.</p>"#);
    }
}

/// The table of bots (the index page's, and the one row at the top of a
/// bot's page: the script updates both the same way).
fn bots_table<'a>(
    state: &AppState,
    now: Timestamp,
    bots: impl Iterator<Item = (&'a BotRef, &'a BotMetrics)>,
    out: &mut String,
) {
    let _ = write!(
        out,
        r#"<div class="scroll"><table class="bots" id="bots"><thead><tr><th>Bot</th><th>State</th><th>Schedule</th><th>Last run</th><th>Next fire <small>({zone})</small></th><th class="num">Runs</th>{actions}</tr></thead><tbody>"#,
        zone = escape(&state.zone_name),
        actions = if state.writable() {
            "<th>Actions</th>"
        } else {
            ""
        },
    );
    for (b, m) in bots {
        bot_row(state, now, b, m, out);
    }
    out.push_str("</tbody></table></div>");
}

fn bot_row(state: &AppState, now: Timestamp, b: &BotRef, m: &BotMetrics, out: &mut String) {
    let name = escape(&m.name);
    let _ = write!(
        out,
        r#"<tr id="bot-{name}" class="bot{overdue}" data-bot="{name}">"#,
        overdue = if m.overdue { " overdue" } else { "" },
    );
    let _ = write!(
        out,
        r#"<td class="name" data-label="Bot"><a href="/bots/{path}">{name}</a></td>"#,
        path = url_segment(&m.name),
    );
    let _ = write!(
        out,
        r#"<td class="state" data-label="State">{}</td>"#,
        state_badges(m)
    );
    out.push_str(r#"<td class="sched" data-label="Schedule">"#);
    let schedules = b.schedules();
    if schedules.is_empty() {
        out.push_str(r#"<span class="muted">manual only</span>"#);
    }
    for s in &schedules {
        let zone = s
            .time_zone()
            .and_then(|z| z.iana_name())
            .filter(|z| *z != state.zone_name)
            .map(|z| format!(r#" <span class="tz">{}</span>"#, escape(z)))
            .unwrap_or_default();
        let _ = write!(
            out,
            r#"<div class="schedule"><span class="words">{words}</span> <code>{cron}</code>{zone}</div>"#,
            words = escape(&describe(s.expr())),
            cron = escape(s.expr()),
        );
    }
    out.push_str("</td>");
    out.push_str(r#"<td class="last" data-label="Last run">"#);
    let last: Vec<String> = [
        m.last_outcome.map(|o| outcome_badge(Some(o))),
        m.last_duration
            .map(|d| format!(r#"<span class="dur">{}</span>"#, duration_text(d))),
        m.last_run.map(|t| time_rel(state, now, t)),
    ]
    .into_iter()
    .flatten()
    .collect();
    if last.is_empty() {
        out.push_str(r#"<span class="muted">never</span>"#);
    } else {
        out.push_str(&last.join(" "));
    }
    out.push_str("</td>");
    out.push_str(r#"<td class="next" data-label="Next fire">"#);
    match m.next_run {
        Some(t) if !m.paused => {
            let _ = write!(
                out,
                r#"{} <span class="abs">{}</span>"#,
                time_rel(state, now, t),
                escape(&absolute(&state.zone, now, t)),
            );
        }
        Some(_) => out.push_str(r#"<span class="muted">paused</span>"#),
        None => out.push_str(r#"<span class="muted">none</span>"#),
    }
    // Fires in a cool-down are skipped: say until when.
    if let Some(t) = m.timeout_until {
        let _ = write!(
            out,
            r#"<div class="cool-down">cool-down until {}</div>"#,
            escape(&absolute(&state.zone, now, t)),
        );
    }
    out.push_str("</td>");
    let _ = write!(
        out,
        r#"<td class="runs num" data-label="Runs" data-runs="{runs}">{runs}{errors}</td>"#,
        runs = m.runs,
        errors = if m.errors > 0 {
            format!(r#" <span class="errors">{} failed</span>"#, m.errors)
        } else {
            String::new()
        },
    );
    if state.writable() {
        // Disabled until the script runs: without it they could do nothing
        // (the token goes in a header).
        let _ = write!(
            out,
            r#"<td class="actions" data-label="Actions"><button type="button" class="run-now" data-bot="{name}" disabled title="run now (needs JavaScript)">Run now</button> <button type="button" class="pause" data-bot="{name}" disabled{p}>Pause</button><button type="button" class="resume" data-bot="{name}" disabled{r}>Resume</button></td>"#,
            p = if m.paused { " hidden" } else { "" },
            r = if m.paused { "" } else { " hidden" },
        );
    }
    out.push_str("</tr>");
}

/// The state badge, and the overdue one when so.
fn state_badges(m: &BotMetrics) -> String {
    let s = state_name(m);
    let mut out = format!(r#"<span class="badge st-{s}">{s}</span>"#);
    if m.overdue {
        out.push_str(r#" <span class="badge overdue" title="no run succeeded within its expected window">overdue</span>"#);
    }
    out
}

fn outcome_badge(o: Option<RunOutcome>) -> String {
    match o {
        None => r#"<span class="badge out-running">running</span>"#.to_owned(),
        Some(o) => {
            let name = o.as_str();
            let reason = o
                .reason()
                .map(|r| format!(r#" <span class="reason">{}</span>"#, r.replace('_', " ")))
                .unwrap_or_default();
            format!(
                r#"<span class="badge out-{name}">{}</span>{reason}"#,
                name.replace('_', " ")
            )
        }
    }
}

/// A bot's other numbers, on its page.
fn facts(state: &AppState, now: Timestamp, b: &BotRef, m: &BotMetrics, out: &mut String) {
    out.push_str(r#"<section class="facts"><dl>"#);
    let schedules = b.schedules();
    if !schedules.is_empty() {
        out.push_str("<dt>Schedules</dt><dd>");
        for s in &schedules {
            let zone = s
                .time_zone()
                .and_then(|z| z.iana_name())
                .unwrap_or(&state.zone_name);
            let _ = write!(
                out,
                r#"<div>{} <code>{}</code> <span class="tz">{}</span></div>"#,
                escape(&describe(s.expr())),
                escape(s.expr()),
                escape(zone)
            );
        }
        out.push_str("</dd>");
    }
    let next = if m.paused {
        Vec::new()
    } else {
        b.next_runs(NEXT_FIRES)
    };
    if !next.is_empty() {
        out.push_str(r#"<dt>Next fires</dt><dd><ol class="fires">"#);
        for t in next {
            let _ = write!(
                out,
                r#"<li>{} {}</li>"#,
                escape(&absolute(&state.zone, now, t)),
                time_rel(state, now, t)
            );
        }
        out.push_str("</ol></dd>");
    }
    // The facts the script keeps current (`data-fact`), each in a `<div>`
    // it can hide.
    let at = |t: Option<Timestamp>| {
        t.map(|t| {
            format!(
                "{} {}",
                escape(&absolute(&state.zone, now, t)),
                time_rel(state, now, t)
            )
        })
    };
    let facts = [
        (
            "runs",
            "Runs",
            "",
            Some(format!(
                "{} started, {} succeeded, {} failed, {} retries",
                m.runs, m.successes, m.errors, m.retries
            )),
        ),
        (
            "not-run",
            "Not run",
            "",
            Some(format!("{} skipped, {} missed", m.skipped, m.missed)),
        ),
        (
            "failing",
            "Failing",
            "bad",
            (m.consecutive_failures > 0).then(|| format!("{} in a row", m.consecutive_failures)),
        ),
        (
            "duration",
            "Duration",
            "",
            m.duration_p50.zip(m.duration_p99).map(|(p50, p99)| {
                format!("median {}, p99 {}", duration_text(p50), duration_text(p99))
            }),
        ),
        ("last-success", "Last success", "", at(m.last_success)),
        ("cool-down", "Cool-down until", "warn", at(m.timeout_until)),
    ];
    for (key, label, class, value) in facts {
        let _ = write!(
            out,
            r#"<div{hidden}><dt>{label}</dt><dd class="{class}" data-fact="{key}">{value}</dd></div>"#,
            hidden = if value.is_none() { " hidden" } else { "" },
            value = value.unwrap_or_default(),
        );
    }
    let _ = write!(
        out,
        "<dt>Added</dt><dd>{} {}</dd></dl></section>",
        escape(&absolute(&state.zone, now, m.since)),
        time_rel(state, now, m.since)
    );
}

/// One run of a bot's history.
fn run_row(state: &AppState, now: Timestamp, r: &StoredRun, out: &mut String) {
    let id = r.id.0;
    let _ = write!(
        out,
        r#"<tr class="run" id="run-{id}" data-run-id="{id}" data-outcome="{o}">"#,
        o = r.outcome.map_or("running", |o| o.as_str()),
    );
    let _ = write!(
        out,
        r#"<td data-label="Run"><a href="/api/runs/{id}">#{id}</a></td>"#
    );
    let _ = write!(
        out,
        r#"<td data-label="Started"><span class="abs">{}</span> {}</td>"#,
        escape(&absolute(&state.zone, now, r.started)),
        time_rel(state, now, r.started),
    );
    let _ = write!(
        out,
        r#"<td data-label="Outcome">{}</td>"#,
        outcome_badge(r.outcome)
    );
    // A fire not run (skipped, missed) took no time: no duration.
    let duration = r
        .finished
        .filter(|_| r.outcome.is_none_or(|o| o.reason().is_none()))
        .map(|f| duration_text(r.started.duration_until(f).unsigned_abs()))
        .unwrap_or_else(|| "&mdash;".to_owned());
    let _ = write!(
        out,
        r#"<td class="num" data-label="Duration">{duration}</td>"#
    );
    // As the API's lateness_ms: a fire not run has none.
    let late = match r.scheduled {
        Some(s) if r.outcome.is_none_or(|o| o.reason().is_none()) => {
            signed_duration_text(s.duration_until(r.started))
        }
        _ => "&mdash;".to_owned(),
    };
    let _ = write!(out, r#"<td class="num" data-label="Late">{late}</td>"#);
    let _ = write!(
        out,
        r#"<td class="num" data-label="Attempts">{}</td><td data-label="Trigger">{}</td><td data-label="Node">{}</td><td class="num" data-label="Exit">{}</td>"#,
        r.attempts,
        r.trigger.as_str().replace('_', " "),
        r.node.as_deref().map(escape).unwrap_or_default(),
        r.output
            .exit_code
            .map(|c| c.to_string())
            .unwrap_or_default(),
    );
    out.push_str(r#"<td class="output" data-label="Output">"#);
    output_details(
        r.error.as_deref(),
        r.output.stdout_tail.as_deref(),
        r.output.stderr_tail.as_deref(),
        out,
    );
    out.push_str("</td></tr>");
}

/// A run's error and output tails, folded.
fn output_details(
    error: Option<&str>,
    stdout: Option<&str>,
    stderr: Option<&str>,
    out: &mut String,
) {
    let parts: Vec<(&str, &str)> = [("error", error), ("stdout", stdout), ("stderr", stderr)]
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.filter(|v| !v.is_empty())?)))
        .collect();
    if parts.is_empty() {
        out.push_str(r#"<span class="muted">&mdash;</span>"#);
        return;
    }
    let summary: Vec<&str> = parts.iter().map(|(k, _)| *k).collect();
    let _ = write!(out, "<details><summary>{}</summary>", summary.join(" · "));
    for (k, v) in parts {
        let _ = write!(
            out,
            r#"<div class="tail-label">{k}</div><pre class="{k}">{}</pre>"#,
            escape(v)
        );
    }
    out.push_str("</details>");
}

/// A bot's lane on the timeline.
struct Lane<'a> {
    bot: &'a BotRef,
    metrics: &'a BotMetrics,
    runs: Vec<StoredRun>,
}

/// The timeline: per bot, its last runs as bars (coloured by outcome, as
/// tall as they were long, on a log scale so a 10 ms run and a 10 min one
/// both show) left of "now", and its fires of the next 24 hours as ticks
/// right of it, over hour gridlines in the configured zone. Drawn with
/// `preserveAspectRatio="none"` lanes and HTML labels, so it stretches to
/// a phone's width with its text still readable.
fn timeline(
    state: &AppState,
    now: Timestamp,
    lanes: &[Lane<'_>],
    more: usize,
    history_failed: bool,
    out: &mut String,
) {
    let end = now.saturating_add(TIMELINE_SPAN).unwrap_or(now);
    let span_ms = TIMELINE_SPAN.as_millis() as f64;
    // x from 0 to 1440 (a minute a unit) across the future.
    let x_of = |t: Timestamp| now.duration_until(t).as_millis() as f64 / span_ms * 1440.0;
    let hours = hour_marks(&state.zone, now, end);

    let _ = write!(
        out,
        r#"<section id="timeline"><h2>Timeline <small>last runs · the next 24 hours from {} ({})</small></h2>"#,
        escape(&absolute(&state.zone, now, now)),
        escape(&state.zone_name),
    );
    if history_failed {
        out.push_str(r#"<p class="note error">Some history could not be read: the store failed (the daemon's log says why).</p>"#);
    }
    let max_ms = lanes
        .iter()
        .flat_map(|l| l.runs.iter())
        .filter_map(run_millis)
        .fold(1.0_f64, f64::max);
    // The bars' scale, for the script's redrawn lanes too.
    let _ = write!(
        out,
        r#"<div class="tl" data-max-ms="{max_ms:.0}"><div class="tl-row tl-head"><span class="tl-name"></span>"#
    );
    let _ = write!(
        out,
        r#"<span class="tl-past-label">last {LAST_RUNS} runs</span><div class="tl-axis">"#
    );
    for (t, label, six) in hours.iter().filter(|h| !h.1.is_empty()) {
        let _ = write!(
            out,
            r#"<span{minor} style="left:{:.2}%">{}</span>"#,
            x_of(*t) / 14.4,
            escape(label),
            minor = if *six { "" } else { r#" class="minor""# },
        );
    }
    out.push_str("</div></div>");

    for lane in lanes {
        let m = lane.metrics;
        let name = escape(&m.name);
        let _ = write!(
            out,
            r#"<div class="tl-row tl-lane{paused}" data-bot="{name}"><a class="tl-name" href="/bots/{path}">{name}</a>"#,
            paused = if m.paused { " paused" } else { "" },
            path = url_segment(&m.name),
        );
        // Past: the last runs, oldest left, newest next to "now".
        let _ = write!(
            out,
            r#"<svg class="tl-past" viewBox="0 0 {w} 20" preserveAspectRatio="none" role="img" aria-label="last runs of {name}">"#,
            w = LAST_RUNS * 10
        );
        let shown = lane.runs.len().min(LAST_RUNS);
        for (i, r) in lane.runs.iter().take(LAST_RUNS).rev().enumerate() {
            let slot = LAST_RUNS - shown + i;
            let ms = run_millis(r).unwrap_or(0.0);
            let h = 2.0 + 16.0 * (1.0 + ms).ln() / (1.0 + max_ms).ln();
            let outcome = r.outcome.map_or("running", |o| o.as_str());
            let _ = write!(
                out,
                r#"<rect class="bar out-{outcome}" x="{x}" y="{y:.1}" width="8" height="{h:.1}"><title>#{id} {outcome}{dur} · {at}</title></rect>"#,
                x = slot * 10 + 1,
                y = 20.0 - h,
                id = r.id.0,
                dur = r
                    .finished
                    .map(|f| format!(
                        ", {}",
                        duration_text(r.started.duration_until(f).unsigned_abs())
                    ))
                    .unwrap_or_default(),
                at = escape(&absolute(&state.zone, now, r.started)),
            );
        }
        out.push_str("</svg>");

        // Future: hour gridlines, then a tick per fire.
        let fires: Vec<Timestamp> = if m.paused {
            Vec::new()
        } else {
            lane.bot
                .next_runs(TICKS_PER_BOT + 1)
                .into_iter()
                .filter(|t| *t < end)
                .collect()
        };
        let _ = write!(
            out,
            r#"<svg class="tl-future" viewBox="0 0 1440 20" preserveAspectRatio="none" role="img" aria-label="{label}"><title>{label}</title>"#,
            label = if m.paused {
                format!("{name} is paused")
            } else if fires.len() > TICKS_PER_BOT {
                format!("{name}: more than {TICKS_PER_BOT} fires in the next 24 hours")
            } else {
                let n = fires.len();
                format!(
                    "{name}: {n} fire{} in the next 24 hours",
                    if n == 1 { "" } else { "s" }
                )
            },
        );
        for (t, label, _) in &hours {
            let _ = write!(
                out,
                r#"<line class="grid{major}" x1="{x:.1}" x2="{x:.1}" y1="0" y2="20"/>"#,
                x = x_of(*t),
                major = if label.is_empty() { "" } else { " major" },
            );
        }
        if fires.len() > TICKS_PER_BOT {
            let _ = write!(
                out,
                r#"<rect class="dense" x="{:.1}" y="5" width="{:.1}" height="10"/>"#,
                x_of(fires[0]),
                1440.0 - x_of(fires[0]),
            );
        } else {
            out.push_str(r#"<g class="ticks">"#);
            for t in &fires {
                let _ = write!(
                    out,
                    r#"<line x1="{x:.1}" x2="{x:.1}" y1="3" y2="17"/>"#,
                    x = x_of(*t)
                );
            }
            out.push_str("</g>");
        }
        out.push_str("</svg></div>");
    }
    out.push_str("</div>");
    if more > 0 {
        let _ = write!(
            out,
            r#"<p class="muted">and {more} more bots (each on its own page)</p>"#
        );
    }
    out.push_str(r#"<p class="legend"><span class="sw out-success"></span>success <span class="sw out-failure"></span>failure <span class="sw out-soft_failure"></span>soft failure <span class="sw out-timed_out"></span>timed out <span class="sw out-interrupted"></span>interrupted <span class="sw out-skipped"></span>skipped <span class="sw out-missed"></span>missed <span class="sw tick"></span>scheduled fire</p>"#);
    out.push_str("</section>");
}

/// How long a run took, in milliseconds (`None` while it runs).
fn run_millis(r: &StoredRun) -> Option<f64> {
    Some(r.started.duration_until(r.finished?).as_secs_f64().max(0.0) * 1e3)
}

/// The whole hours in `zone` after `now` and before `end`, each with a
/// label every 3 hours ("" otherwise; the day's name at midnight) and
/// whether it is one of the 6-hour marks a phone keeps.
fn hour_marks(zone: &TimeZone, now: Timestamp, end: Timestamp) -> Vec<(Timestamp, String, bool)> {
    let z = now.to_zoned_datetime(zone.clone());
    let Ok(mut h) = z.with().minute(0).second(0).subsec_nanosecond(0).build() else {
        return Vec::new();
    };
    let mut marks = Vec::new();
    // 26 bounds a day with a DST change in it.
    for _ in 0..26 {
        let Ok(next) = h.checked_add(SignedDuration::from_hours(1)) else {
            break;
        };
        h = next;
        let t = h.timestamp();
        if t >= end {
            break;
        }
        let label = match h.hour() {
            0 => h.strftime("%a").to_string(),
            hr if hr % 3 == 0 => h.strftime("%H:%M").to_string(),
            _ => String::new(),
        };
        marks.push((t, label, h.hour() % 6 == 0));
    }
    marks
}

/// A `<time>` saying "in 3 min" or "5 min ago", its instant in the
/// attribute for the script to keep the words current, the absolute time in
/// the title.
fn time_rel(state: &AppState, now: Timestamp, t: Timestamp) -> String {
    let full = t
        .to_zoned_datetime(state.zone.clone())
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string();
    format!(
        r#"<time class="rel" datetime="{t}" title="{} {}">{}</time>"#,
        escape(&full),
        escape(&state.zone_name),
        relative(now, t)
    )
}

/// "in 3 min", "5 s ago", "now" (app.js's `relative` says the same).
pub(crate) fn relative(now: Timestamp, t: Timestamp) -> String {
    let secs = now.duration_until(t).as_secs_f64();
    if secs.abs() < 1.0 {
        return "now".to_owned();
    }
    let words = magnitude(secs.abs());
    if secs > 0.0 {
        format!("in {words}")
    } else {
        format!("{words} ago")
    }
}

fn magnitude(s: f64) -> String {
    if s < 60.0 {
        return format!("{} s", s.floor());
    }
    let min = (s / 60.0).round();
    if min < 60.0 {
        return format!("{min} min");
    }
    if s < 86_400.0 {
        let h = (min / 60.0).floor();
        let m = min - h * 60.0;
        return if m == 0.0 {
            format!("{h} h")
        } else {
            format!("{h} h {m} min")
        };
    }
    let d = (s / 86_400.0).round();
    if d == 1.0 {
        "1 day".to_owned()
    } else {
        format!("{d} days")
    }
}

/// An instant in `zone`, as short as it can be: the time today, the
/// weekday and time within the week, the date otherwise.
pub(crate) fn absolute(zone: &TimeZone, now: Timestamp, t: Timestamp) -> String {
    let zt = t.to_zoned_datetime(zone.clone());
    let zn = now.to_zoned_datetime(zone.clone());
    let format = if zt.date() == zn.date() {
        "%H:%M:%S"
    } else if now.duration_until(t).abs() < SignedDuration::from_hours(6 * 24) {
        "%a %H:%M"
    } else {
        "%Y-%m-%d %H:%M"
    };
    zt.strftime(format).to_string()
}

/// "12 ms", "1.3 s", "2 min 5 s", "1 h 3 min" (app.js's `duration` says
/// the same).
pub(crate) fn duration_text(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 10.0 {
        return format!("{ms:.1} ms");
    }
    if ms < 1e3 {
        return format!("{ms:.0} ms");
    }
    let s = ms / 1e3;
    if s < 10.0 {
        return format!("{s:.1} s");
    }
    if s < 60.0 {
        return format!("{s:.0} s");
    }
    let total = s.round() as u64;
    let (h, m, sec) = (total / 3600, total % 3600 / 60, total % 60);
    match (h, sec) {
        (0, 0) => format!("{m} min"),
        (0, _) => format!("{m} min {sec} s"),
        _ if m == 0 => format!("{h} h"),
        _ => format!("{h} h {m} min"),
    }
}

fn signed_duration_text(d: SignedDuration) -> String {
    let text = duration_text(d.unsigned_abs());
    if d.is_negative() {
        format!("&minus;{text}")
    } else {
        format!("+{text}")
    }
}

/// The 404 page for a name that is no bot.
fn unknown_bot_page(state: &AppState, name: &str) -> Response {
    let names = state.botman.bot_names();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let hint = crate::config::suggest_name(name, &refs)
        .map(|s| {
            format!(
                r#" Did you mean <a href="/bots/{}">{}</a>?"#,
                url_segment(s),
                escape(s)
            )
        })
        .unwrap_or_default();
    error_page(
        state,
        StatusCode::NOT_FOUND,
        "No such bot",
        &format!("There is no bot named '{}'.{hint}", escape(name)),
    )
}

/// An error page; `message` is HTML, escaped by the caller.
fn error_page(state: &AppState, status: StatusCode, title: &str, message: &str) -> Response {
    let main = format!(
        r#"<nav class="crumbs"><a href="/">&larr; all bots</a></nav><h1>{}</h1><p class="note error">{message}</p>"#,
        escape(title)
    );
    (
        status,
        Html(layout(state, title, &[("page", "error")], &main)),
    )
        .into_response()
}

/// Text made safe inside HTML, in text and in quoted attributes.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // A job's output may hold NUL, ESC (terminal colours) and other
            // control bytes that HTML cannot carry: shown as their Unicode
            // control pictures (U+2400..), so nothing is lost from sight.
            '\n' | '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {
                out.push(char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}'))
            }
            '\u{7f}' => out.push('\u{2421}'),
            c => out.push(c),
        }
    }
    out
}

/// A bot name as one URL path segment: everything but the unreserved
/// characters percent-encoded (as JS's `encodeURIComponent`, which app.js
/// uses for the API's URLs).
fn url_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Schedules in words.

/// A schedule in words, for people (the cron text stays beside it):
/// "every 5 minutes", "at 03:00 every day", "at 15:00 on Saturday". What it
/// cannot say simply (steps from an offset, `L`, `W`, `#`, both day fields
/// restricted, ...) comes back as the cron text itself, trimmed.
pub(crate) fn describe(expr: &str) -> String {
    describe_words(expr.trim()).unwrap_or_else(|| expr.trim().to_owned())
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// One cron field, as far as words go.
#[derive(Clone, Debug, PartialEq)]
enum Field {
    /// `*` or `?`.
    Any,
    /// `*/n`.
    Every(u32),
    /// `5`, `1,15`, sorted.
    Values(Vec<u32>),
    /// `1-5`.
    Range(u32, u32),
}

impl Field {
    /// `None` for what words do not cover (`0/15`, `1-30/7`, `L`, `W`, `#`,
    /// mixed lists). `names` are the field's names (months from 1,
    /// weekdays from 0); `wrap` maps 7 to Sunday in day-of-week.
    fn parse(text: &str, names: Option<(&[&str], u32)>, wrap: Option<u32>) -> Option<Field> {
        let value = |v: &str| -> Option<u32> {
            let n = match v.parse::<u32>() {
                Ok(n) => n,
                Err(_) => {
                    let (names, first) = names?;
                    let i = names
                        .iter()
                        .position(|n| n[..3].eq_ignore_ascii_case(v) && v.len() == 3)?;
                    i as u32 + first
                }
            };
            Some(match wrap {
                Some(w) if n == w => 0,
                _ => n,
            })
        };
        if text == "*" || text == "?" {
            return Some(Field::Any);
        }
        if let Some(step) = text.strip_prefix("*/") {
            let n = step.parse::<u32>().ok()?;
            return Some(if n == 1 { Field::Any } else { Field::Every(n) });
        }
        if let Some((a, b)) = text.split_once('-')
            && !text.contains(',')
        {
            let (a, b) = (value(a)?, value(b)?);
            // 5-5 is 5; a range wrapping through 7 (FRI-SUN) is left alone.
            return match a.cmp(&b) {
                std::cmp::Ordering::Equal => Some(Field::Values(vec![a])),
                std::cmp::Ordering::Less => Some(Field::Range(a, b)),
                std::cmp::Ordering::Greater => None,
            };
        }
        let mut values = text.split(',').map(value).collect::<Option<Vec<u32>>>()?;
        values.sort_unstable();
        values.dedup();
        Some(Field::Values(values))
    }

    fn one(&self) -> Option<u32> {
        match self {
            Field::Values(v) if v.len() == 1 => Some(v[0]),
            _ => None,
        }
    }
}

/// "a", "a and b", "a, b and c".
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// What a schedule's time fields say: a frequency that covers the day
/// ("every 5 minutes") or times of day ("at 03:00").
enum Time {
    Every(String),
    At(String),
}

fn describe_words(expr: &str) -> Option<String> {
    if let Some(name) = expr.strip_prefix('@') {
        return Some(
            match name.to_ascii_lowercase().as_str() {
                "yearly" | "annually" => "every year on 1 January at midnight",
                "monthly" => "on the 1st of every month at midnight",
                "weekly" => "every Sunday at midnight",
                "daily" | "midnight" => "every day at midnight",
                "hourly" => "every hour",
                _ => return None,
            }
            .to_owned(),
        );
    }
    // Only a valid expression gets words: a typo keeps its text.
    Cron::parse(expr).ok()?;
    let fields: Vec<&str> = expr.split_ascii_whitespace().collect();
    let (sec, rest) = match fields.len() {
        5 => ("0", &fields[..]),
        6 => (fields[0], &fields[1..]),
        _ => return None,
    };
    let sec = Field::parse(sec, None, None)?;
    let min = Field::parse(rest[0], None, None)?;
    let hour = Field::parse(rest[1], None, None)?;
    let dom = Field::parse(rest[2], None, None)?;
    let month = Field::parse(rest[3], Some((&MONTHS, 1)), None)?;
    let dow = Field::parse(rest[4], Some((&WEEKDAYS, 0)), Some(7))?;

    let time = time_words(&sec, &min, &hour)?;
    let days = day_words(&dom, &month, &dow)?;
    Some(match (time, days) {
        (Time::Every(t), None) => t,
        (Time::Every(t), Some(d)) => format!("{t} {d}"),
        (Time::At(t), None) => format!("{t} every day"),
        (Time::At(t), Some(d)) => format!("{t} {d}"),
    })
}

fn hhmm(h: u32, m: u32, s: u32) -> String {
    if s == 0 {
        format!("{h:02}:{m:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

fn time_words(sec: &Field, min: &Field, hour: &Field) -> Option<Time> {
    use Field::{Any, Every, Range, Values};
    let s = match sec {
        Any if *min == Any && *hour == Any => return Some(Time::Every("every second".into())),
        Every(n) if *min == Any && *hour == Any => {
            return Some(Time::Every(format!("every {n} seconds")));
        }
        Values(v) if v.len() == 1 => v[0],
        _ => return None,
    };
    // Whole minutes from here on, but for the times of day ("at 03:00:30").
    let minutes_only = |t: Time| (s == 0).then_some(t);
    // The hours a frequency is limited to: "from 09:00 to 17:59".
    let within = |h: &Field, first_min: u32, last_min: u32| -> Option<String> {
        match h {
            Any => Some(String::new()),
            Range(a, b) => Some(format!(
                " from {} to {}",
                hhmm(*a, first_min, 0),
                hhmm(*b, last_min, 0)
            )),
            Values(v) if v.len() == 1 => Some(format!(
                " from {} to {}",
                hhmm(v[0], first_min, 0),
                hhmm(v[0], last_min, 0)
            )),
            _ => None,
        }
    };
    match (min, hour) {
        (Any, Any) if s != 0 => Some(Time::Every(format!("at second {s} of every minute"))),
        (Any, h) => minutes_only(Time::Every(format!("every minute{}", within(h, 0, 59)?))),
        (Every(n), h) => minutes_only(Time::Every(format!(
            "every {n} minutes{}",
            within(h, 0, 59)?
        ))),
        (Values(ms), Any) if ms.len() == 1 => minutes_only(Time::Every(if ms[0] == 0 {
            "every hour".to_owned()
        } else {
            format!("at minute {} of every hour", ms[0])
        })),
        (Values(ms), Every(n)) if ms.len() == 1 => minutes_only(Time::Every(if ms[0] == 0 {
            format!("every {n} hours")
        } else {
            format!("at minute {} of every {n} hours", ms[0])
        })),
        (Values(ms), h @ Range(..)) if ms.len() == 1 => minutes_only(Time::Every(format!(
            "every hour{}",
            within(h, ms[0], ms[0])?
        ))),
        (Values(ms), Values(hs)) if ms.len() * hs.len() <= 6 => {
            let mut times = Vec::new();
            for h in hs {
                for m in ms {
                    times.push(hhmm(*h, *m, s));
                }
            }
            Some(Time::At(format!("at {}", and_list(&times))))
        }
        _ => None,
    }
}

/// The day fields in words: `Some(None)` for every day, `None` for what
/// words do not cover.
fn day_words(dom: &Field, month: &Field, dow: &Field) -> Option<Option<String>> {
    use Field::{Any, Range, Values};
    let month_name = |m: &u32| MONTHS[*m as usize - 1].to_owned();
    // "in July", "in January and July", "from June to August".
    let months = match month {
        Any => None,
        Values(v) => Some(format!(
            "in {}",
            and_list(&v.iter().map(month_name).collect::<Vec<_>>())
        )),
        Range(a, b) => Some(format!("from {} to {}", month_name(a), month_name(b))),
        Field::Every(_) => return None,
    };
    let with_months = |days: String| match &months {
        None => days,
        Some(m) => format!("{days} {m}"),
    };
    Some(match (dom, dow) {
        (Any, Any) => months.as_ref().map(|m| format!("every day {m}")),
        (Any, Values(v)) if v == &[0, 6] => Some(with_months("on weekends".to_owned())),
        (Any, Values(v)) => Some(with_months(format!(
            "on {}",
            and_list(
                &v.iter()
                    .map(|d| WEEKDAYS[*d as usize].to_owned())
                    .collect::<Vec<_>>()
            )
        ))),
        (Any, Range(1, 5)) => Some(with_months("on weekdays".to_owned())),
        (Any, Range(a, b)) => Some(with_months(format!(
            "from {} to {}",
            WEEKDAYS[*a as usize], WEEKDAYS[*b as usize]
        ))),
        (Values(days), Any) => Some(match (dom.one(), month) {
            (Some(d), Values(m)) if m.len() == 1 => format!("on {d} {}", month_name(&m[0])),
            (_, Values(m)) => format!(
                "on the {} of {}",
                and_list(&days.iter().map(|d| ordinal(*d)).collect::<Vec<_>>()),
                and_list(&m.iter().map(month_name).collect::<Vec<_>>())
            ),
            _ => with_months(format!(
                "on the {} of every month",
                and_list(&days.iter().map(|d| ordinal(*d)).collect::<Vec<_>>())
            )),
        }),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_describe() {
        let cases = [
            ("* * * * *", "every minute"),
            ("*/1 * * * *", "every minute"),
            ("*/5 * * * *", "every 5 minutes"),
            ("*/2 * * * * *", "every 2 seconds"),
            ("* * * * * *", "every second"),
            ("0 * * * * *", "every minute"),
            ("30 * * * * *", "at second 30 of every minute"),
            ("0 3 * * *", "at 03:00 every day"),
            ("0 15 * * SAT", "at 15:00 on Saturday"),
            ("0 15 * * 6", "at 15:00 on Saturday"),
            ("30 15 * * sat", "at 15:30 on Saturday"),
            ("0 0 * * 7", "at 00:00 on Sunday"),
            ("30 * * * *", "at minute 30 of every hour"),
            ("0 * * * *", "every hour"),
            ("0 */2 * * *", "every 2 hours"),
            ("15 */6 * * *", "at minute 15 of every 6 hours"),
            ("@daily", "every day at midnight"),
            ("@midnight", "every day at midnight"),
            ("@hourly", "every hour"),
            ("@weekly", "every Sunday at midnight"),
            ("@monthly", "on the 1st of every month at midnight"),
            ("@yearly", "every year on 1 January at midnight"),
            ("0 9 * * MON-FRI", "at 09:00 on weekdays"),
            ("0 9 * * 1-5", "at 09:00 on weekdays"),
            ("0 10 * * 0,6", "at 10:00 on weekends"),
            ("0 9 * * 1,3,5", "at 09:00 on Monday, Wednesday and Friday"),
            ("0 9 * * TUE-THU", "at 09:00 from Tuesday to Thursday"),
            ("0 9,17 * * *", "at 09:00 and 17:00 every day"),
            ("0,30 9 * * *", "at 09:00 and 09:30 every day"),
            ("30 2 3 4 5 *", "at 03:02:30 on 4 May"),
            ("0 0 4 * *", "at 00:00 on the 4th of every month"),
            ("0 0 1 * JAN-MAR", "0 0 1 * JAN-MAR"),
            ("0 0 1 * *", "at 00:00 on the 1st of every month"),
            (
                "0 0 1,15 * *",
                "at 00:00 on the 1st and 15th of every month",
            ),
            ("0 0 1 1 *", "at 00:00 on 1 January"),
            ("0 12 22 * *", "at 12:00 on the 22nd of every month"),
            ("0 12 13 * *", "at 12:00 on the 13th of every month"),
            ("0 0 * 7 *", "at 00:00 every day in July"),
            ("*/10 * * * MON", "every 10 minutes on Monday"),
            (
                "*/15 9-17 * * 1-5",
                "every 15 minutes from 09:00 to 17:59 on weekdays",
            ),
            ("0 9-17 * * *", "every hour from 09:00 to 17:00"),
            ("* 3 * * *", "every minute from 03:00 to 03:59"),
            (
                "0 0 * JUN-AUG SUN",
                "at 00:00 on Sunday from June to August",
            ),
            (
                "0 0 1 JUN-AUG *",
                "at 00:00 on the 1st of every month from June to August",
            ),
            ("0 0 1 1,7 *", "at 00:00 on the 1st of January and July"),
            ("  */5 * * * *  ", "every 5 minutes"),
        ];
        for (expr, want) in cases {
            assert_eq!(describe(expr), want, "describe({expr:?})");
        }
    }

    #[test]
    fn ok_describe_falls_back_to_the_cron_text() {
        for expr in [
            "0 0 L * *",
            "0 0 * * 5#3",
            "0 0 15W * *",
            "5/15 * * * *",
            "0 0 1 * MON",
            "1-30/7 * * * *",
            "0 0 * * FRI-SUN",
            "0 0 */2 * *",
            "0,1,2,3 1,2 * * *",
            "not cron",
            "0 0 30 2 *",
            "@sometimes",
            "",
        ] {
            assert_eq!(describe(expr), expr.trim(), "describe({expr:?})");
        }
    }

    #[test]
    fn ok_escape() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(
            escape("a\0b\x1b[31mc\x7f\n\td"),
            "a\u{2400}b\u{241b}[31mc\u{2421}\n\td"
        );
    }

    #[test]
    fn ok_url_segment() {
        assert_eq!(url_segment("hello-bot_1.x~"), "hello-bot_1.x~");
        assert_eq!(url_segment("a b/c?d"), "a%20b%2Fc%3Fd");
        assert_eq!(url_segment("é"), "%C3%A9");
    }

    #[test]
    fn ok_relative() {
        let now: Timestamp = "2025-06-01T12:00:00Z".parse().unwrap();
        let at = |s: i64| now.saturating_add(SignedDuration::from_secs(s)).unwrap();
        assert_eq!(relative(now, now), "now");
        assert_eq!(relative(now, at(45)), "in 45 s");
        assert_eq!(relative(now, at(180)), "in 3 min");
        assert_eq!(relative(now, at(-300)), "5 min ago");
        assert_eq!(relative(now, at(3600)), "in 1 h");
        assert_eq!(relative(now, at(3600 + 5 * 60)), "in 1 h 5 min");
        assert_eq!(relative(now, at(3 * 86_400)), "in 3 days");
        assert_eq!(relative(now, at(-86_400)), "1 day ago");
    }

    #[test]
    fn ok_duration_text() {
        let ms = Duration::from_millis;
        assert_eq!(duration_text(Duration::from_micros(3_200)), "3.2 ms");
        assert_eq!(duration_text(ms(12)), "12 ms");
        assert_eq!(duration_text(ms(1_300)), "1.3 s");
        assert_eq!(duration_text(ms(12_000)), "12 s");
        assert_eq!(duration_text(ms(125_000)), "2 min 5 s");
        assert_eq!(duration_text(ms(120_000)), "2 min");
        assert_eq!(duration_text(ms(3_780_000)), "1 h 3 min");
        assert_eq!(duration_text(ms(7_200_000)), "2 h");
    }

    #[test]
    fn ok_absolute() {
        let zone = TimeZone::get("Europe/Berlin").unwrap();
        let now: Timestamp = "2025-06-01T12:00:00Z".parse().unwrap();
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(absolute(&zone, now, t("2025-06-01T12:03:00Z")), "14:03:00");
        assert_eq!(absolute(&zone, now, t("2025-06-03T08:00:00Z")), "Tue 10:00");
        assert_eq!(
            absolute(&zone, now, t("2026-01-01T00:00:00Z")),
            "2026-01-01 01:00"
        );
    }

    #[test]
    fn ok_hour_marks() {
        let zone = TimeZone::get("Asia/Kolkata").unwrap();
        let now: Timestamp = "2025-06-01T12:10:00Z".parse().unwrap();
        let end = now.saturating_add(TIMELINE_SPAN).unwrap();
        let marks = hour_marks(&zone, now, end);
        assert_eq!(marks.len(), 24);
        // 17:40 in Kolkata: the first mark is 18:00 there, 12:30 UTC.
        assert_eq!(marks[0].0.to_string(), "2025-06-01T12:30:00Z");
        assert_eq!(marks[0].1, "18:00");
        assert_eq!(marks[6].1, "Mon");
    }

    /// The pages as the server sends them (what a browser without JavaScript
    /// sees), through the router without TCP; tests/browser.rs drives the
    /// script in a real browser.
    mod pages {

        use axum::Router;
        use axum::body::Body;
        use axum::http::Request;
        use botman::{Bot, Botman, ManualClock};
        use http_body_util::BodyExt as _;
        use tokio::sync::watch;
        use tower::ServiceExt as _;

        use super::super::*;

        /// A bot name made of everything HTML must not see raw.
        const ODD: &str = r#"<img src=x onerror="alert('x')">&"#;
        const TOKEN: &str = "tok-DO-NOT-SHOW";

        /// A started manager on a manual clock (no fire comes) with `hello`
        /// (succeeds, leaves output with markup in it) and [`ODD`] (fails with
        /// markup in its error), served with `token`, instants shown in UTC.
        fn fixture(token: Option<&str>) -> (Botman, Router) {
            let clock = ManualClock::new("2025-06-01T12:00:00Z".parse().unwrap());
            let m = crate::http::tests::manager(&clock);
            m.add_bot(
                crate::http::tests::hello_bot(Some("<b>out</b>\n"), None)
                    .build()
                    .unwrap(),
            )
            .unwrap();
            m.add_bot(
                Bot::builder(ODD)
                    .schedule("*/5 * * * *")
                    .retries(1)
                    .job(|| Err::<(), _>(std::io::Error::other("<script>boom</script>")))
                    .build()
                    .unwrap(),
            )
            .unwrap();
            m.start();
            let state = AppState::new(
                &m,
                token.map(str::to_owned),
                (TimeZone::UTC, "UTC".to_owned()),
                watch::channel(false).1,
                true,
            );
            (m, crate::http::router(state))
        }

        async fn run(m: &Botman, bot: &str, n: usize) {
            for _ in 0..n {
                m.run_bot(bot).unwrap().await.unwrap();
            }
        }

        async fn get(app: &Router, path: &str) -> (StatusCode, String, String) {
            let r = app
                .clone()
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            let status = r.status();
            let content_type = r
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body = r.into_body().collect().await.unwrap().to_bytes();
            (
                status,
                content_type,
                String::from_utf8(body.to_vec()).unwrap(),
            )
        }

        /// Nothing the bots or their runs said reached the page as markup.
        fn assert_escaped(body: &str) {
            for raw in ["<img", "<script>", "<b>out", ODD] {
                assert!(!body.contains(raw), "{raw:?} unescaped in the page");
            }
            assert!(!body.contains(TOKEN), "the token is in the page");
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn ok_index_has_everything_without_javascript() {
            let (m, app) = fixture(Some(TOKEN));
            run(&m, "hello", 2).await;
            run(&m, ODD, 1).await;
            let (status, content_type, body) = get(&app, "/").await;
            assert_eq!(status, StatusCode::OK);
            assert!(content_type.starts_with("text/html"), "{content_type}");
            assert!(body.contains(r#"<meta name="viewport""#));
            assert!(body.contains(r#"<tr id="bot-hello" class="bot" data-bot="hello">"#));
            assert!(body.contains("at 03:00 every day"));
            assert!(body.contains("<code>0 3 * * *</code>"));
            // The second schedule's zone differs from the daemon's: shown.
            assert!(body.contains(
            r#"<span class="words">at 15:30 on Saturday</span> <code>30 15 * * SAT</code> <span class="tz">Europe/Berlin</span>"#
        ));
            assert!(body.contains(r#"data-runs="2""#));
            assert!(body.contains(r#"<span class="badge out-success">success</span>"#));
            assert!(body.contains(r#"<span class="badge out-failure">failure</span>"#));
            // The next fire of hello: 03:00 UTC tomorrow, 15 hours away.
            assert!(body.contains(">in 15 h</time> <span class=\"abs\">Mon 03:00</span>"));
            assert!(body.contains(r#"<button type="button" class="run-now" data-bot="hello""#));
            assert!(!body.contains(r#"id="read-only""#));
            // The timeline: a lane per bot, hello's two runs as bars, its one
            // fire in the next 24 hours as a tick.
            let lane = body
                .split(r#"<div class="tl-row tl-lane" data-bot="hello">"#)
                .nth(1)
                .expect("hello's lane")
                .split("</div>")
                .next()
                .unwrap();
            assert_eq!(lane.matches(r#"<rect class="bar out-success""#).count(), 2);
            assert_eq!(
                lane.matches(r#"<g class="ticks"><line x1="#).count(),
                1,
                "{lane}"
            );
            assert_eq!(lane.matches(r#"<line class="grid"#).count(), 23, "{lane}");
            assert!(
                lane.contains("hello: 1 fire in the next 24 hours"),
                "{lane}"
            );
            // Escaped, in text, in attributes and in the link.
            assert!(body.contains(&format!(r#"data-bot="{}""#, escape(ODD))));
            assert!(body.contains(&format!(r#"href="/bots/{}""#, url_segment(ODD))));
            assert_escaped(&body);
            // Offline: nothing from elsewhere.
            assert!(!body.contains("https://") && !body.contains("http://"));
            m.stop_async().await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn ok_read_only_has_no_buttons() {
            let (m, app) = fixture(None);
            let (status, _, body) = get(&app, "/").await;
            assert_eq!(status, StatusCode::OK);
            assert!(body.contains(r#"id="read-only""#));
            assert!(body.contains(r#"data-writable="false""#));
            assert!(!body.contains("<button"));
            assert!(!body.contains("<th>Actions</th>"));
            let (_, _, page) = get(&app, "/bots/hello").await;
            assert!(page.contains(r#"id="read-only""#) && !page.contains("<button"));
            m.stop_async().await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn ok_bot_page_history_output_and_paging() {
            let (m, app) = fixture(Some(TOKEN));
            run(&m, "hello", PAGE_RUNS + 1).await;
            let (status, _, body) = get(&app, "/bots/hello").await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(body.matches(r#"<tr class="run""#).count(), PAGE_RUNS);
            assert!(body.contains(r#"<pre class="stdout">&lt;b&gt;out&lt;/b&gt;"#));
            assert!(body.contains(r#"data-live-runs="true""#));
            assert!(body.contains(r#"<dd class="" data-fact="runs">51 started, 51 succeeded"#));
            assert!(body.contains(r#"<td data-label="Trigger">manual</td>"#));
            assert_escaped(&body);
            let older = body
                .split(r#"<a href="/bots/hello?before="#)
                .nth(1)
                .expect("a link to older runs")
                .split('"')
                .next()
                .unwrap()
                .to_owned();
            let (status, _, page2) = get(&app, &format!("/bots/hello?before={older}")).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(page2.matches(r#"<tr class="run""#).count(), 1);
            assert!(page2.contains(r#"<a href="/bots/hello">newest runs</a>"#));
            assert!(!page2.contains("?before="), "a link past the last page");
            assert!(page2.contains(r#"data-live-runs="false""#));

            let (status, _, bad) = get(&app, "/bots/hello?before=%3Cb%3E").await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert!(bad.contains("'&lt;b&gt;' is not a cursor"), "{bad}");
            m.stop_async().await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn ok_odd_names_and_unknown_bots() {
            let (m, app) = fixture(Some(TOKEN));
            run(&m, ODD, 1).await;
            let (status, _, body) = get(&app, &format!("/bots/{}", url_segment(ODD))).await;
            assert_eq!(status, StatusCode::OK);
            assert!(body.contains("<pre class=\"error\">"));
            assert!(body.contains("&lt;script&gt;boom&lt;/script&gt;"));
            assert_escaped(&body);

            let (status, content_type, body) = get(&app, "/bots/helo").await;
            assert_eq!(status, StatusCode::NOT_FOUND);
            assert!(content_type.starts_with("text/html"), "{content_type}");
            assert!(body.contains(
                r#"There is no bot named 'helo'. Did you mean <a href="/bots/hello">hello</a>?"#
            ));
            let (status, _, body) = get(&app, "/bots/%3Cscript%3Ex%3C%2Fscript%3E").await;
            assert_eq!(status, StatusCode::NOT_FOUND);
            assert!(body.contains("&lt;script&gt;x&lt;/script&gt;"));
            assert_escaped(&body);
            m.stop_async().await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn ok_overdue_is_marked() {
            let (m, _app) = fixture(Some(TOKEN));
            let b = m.bot("hello").unwrap();
            let mut metrics = b.metrics();
            metrics.overdue = true;
            let state = AppState::new(
                &m,
                None,
                (TimeZone::UTC, "UTC".to_owned()),
                watch::channel(false).1,
                true,
            );
            assert!(state_badges(&metrics).contains(r#"<span class="badge overdue""#));
            let mut row = String::new();
            bot_row(&state, m.clock().now(), &b, &metrics, &mut row);
            assert!(
                row.starts_with(r#"<tr id="bot-hello" class="bot overdue""#),
                "{row}"
            );
            m.stop_async().await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn ok_assets_are_embedded_and_local() {
            let (m, app) = fixture(None);
            let (status, content_type, css) = get(&app, "/assets/app.css").await;
            assert_eq!(status, StatusCode::OK);
            assert!(content_type.starts_with("text/css"));
            assert!(!css.contains("url(") && !css.contains("@import"));
            let (status, content_type, js) = get(&app, "/assets/app.js").await;
            assert_eq!(status, StatusCode::OK);
            assert!(content_type.starts_with("text/javascript"));
            // The SVG namespace is a name, not a fetch.
            let fetched = js.replace("'http://www.w3.org/2000/svg'", "");
            assert!(!fetched.contains("http://") && !fetched.contains("https://"));
            m.stop_async().await;
        }
    }
}
