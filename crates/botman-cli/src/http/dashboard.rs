//! The dashboard (issue #11): HTML rendered on the server, its CSS and JS
//! embedded in the binary (no CDN: the daemon works offline).

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

use super::{ApiError, Shared};

/// A schedule in words, for people (the cron text stays beside it).
pub(crate) fn describe(expr: &str) -> String {
    expr.to_owned()
}

/// `GET /`: every bot.
pub(crate) async fn index(State(state): State<Shared>) -> Html<String> {
    let mut rows = String::new();
    for m in state.botman.metrics() {
        rows.push_str(&format!("<tr><td>{}</td></tr>", escape(&m.name)));
    }
    Html(format!(
        "<!doctype html><html><head><title>botman</title></head><body><table>{rows}</table></body></html>"
    ))
}

/// `GET /bots/{name}`: one bot and its history.
pub(crate) async fn bot_page(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> Result<Html<String>, ApiError> {
    let b = state
        .botman
        .bot(&name)
        .map_err(|_| ApiError::unknown_bot(&state, &name))?;
    Ok(Html(format!(
        "<!doctype html><h1>{}</h1>",
        escape(b.name())
    )))
}

/// `GET /assets/app.css`.
pub(crate) async fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("assets/app.css"),
    )
        .into_response()
}

/// `GET /assets/app.js`.
pub(crate) async fn js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("assets/app.js"),
    )
        .into_response()
}

/// Text made safe inside HTML.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
