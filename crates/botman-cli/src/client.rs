//! `botman trigger|pause|resume BOT`: ask the running daemon through its
//! HTTP API (issue #11). The address and the token come from the config
//! file's `[botman.http]`, as the daemon read them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use crate::config::Config;

/// What to ask.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Action {
    Run,
    Pause,
    Resume,
}

impl Action {
    fn route(self) -> &'static str {
        match self {
            Action::Run => "run",
            Action::Pause => "pause",
            Action::Resume => "resume",
        }
    }
}

/// Where to reach a daemon listening on `listen`: a wildcard address is
/// reached on loopback.
fn reach(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// Asks; the line to print on success, or what went wrong.
pub(crate) async fn ask(config: &Config, bot: &str, action: Action) -> Result<String, String> {
    let file = config.path.display();
    let Some(http) = &config.manager.http else {
        return Err(format!(
            "{file} has no [botman.http]: the daemon serves no API to ask (add [botman.http] with a token)"
        ));
    };
    let Some(token) = &http.token else {
        return Err(format!(
            "{file}: [botman.http] has no token, so the daemon's API is read-only"
        ));
    };
    if http.listen.port() == 0 {
        return Err(format!(
            "{file}: [botman.http] listen has port 0 (chosen at start): give a fixed port to reach it"
        ));
    }
    let addr = reach(http.listen);
    let url = route_url(addr, bot, action)?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .no_proxy()
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
    let resp = client
        .post(url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot reach the daemon at http://{addr}/ ({e}); is `botman run {file}` running?"
            )
        })?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or(serde_json::Value::Null);
    let message = body["error"].as_str().unwrap_or("").to_owned();
    if !status.is_success() {
        return Err(format!("the daemon answered {status}: {message}"));
    }
    Ok(match action {
        Action::Run => match (body["status"].as_str(), body["run_id"].as_i64()) {
            (Some("queued"), _) => {
                format!("bot '{bot}': queued (a run is going; it starts when that ends)")
            }
            (_, Some(id)) => format!("bot '{bot}': started run {id}"),
            _ => format!("bot '{bot}': started"),
        },
        Action::Pause => format!("bot '{bot}': paused"),
        Action::Resume => format!("bot '{bot}': resumed"),
    })
}

/// `http://ADDR/api/bots/BOT/ACTION`, the bot's name one path segment
/// (percent-encoded by the URL type, whatever it holds).
fn route_url(addr: SocketAddr, bot: &str, action: Action) -> Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(&format!("http://{addr}/"))
        .map_err(|e| format!("the daemon's address {addr}: {e}"))?;
    url.path_segments_mut()
        .map_err(|()| format!("the daemon's address {addr} takes no path"))?
        .extend(["api", "bots", bot, action.route()]);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_reach_and_segments() {
        assert_eq!(
            reach("0.0.0.0:9".parse().unwrap()),
            "127.0.0.1:9".parse().unwrap()
        );
        assert_eq!(reach("[::]:9".parse().unwrap()), "[::1]:9".parse().unwrap());
        assert_eq!(
            reach("10.0.0.1:9".parse().unwrap()),
            "10.0.0.1:9".parse().unwrap()
        );
        let url = |bot| route_url("127.0.0.1:9".parse().unwrap(), bot, Action::Pause).unwrap();
        assert_eq!(
            url("a b/ü").as_str(),
            "http://127.0.0.1:9/api/bots/a%20b%2F%C3%BC/pause"
        );
        assert_eq!(
            url("nightly-backup_1.x").as_str(),
            "http://127.0.0.1:9/api/bots/nightly-backup_1.x/pause"
        );
    }
}
