//! The dashboard in a real browser (issue #11): the built `botman run`
//! serving a temp config, Debian's chromium driven headless through
//! chromedriver (fantoccini). It loads the dashboard, runs a bot with "run
//! now" (answering the token prompt), and sees the run arrive over the event
//! stream without a reload; pauses and resumes; sees a wrong token refused
//! and forgotten; sees a bot's page add a new run live, its output escaped;
//! and saves screenshots to `target/dashboard*.png`.
//!
//! Without chromium and chromedriver the test says how to install them
//! (`apt-get install chromium chromium-driver`) and passes; with
//! `BOTMAN_REQUIRE_BROWSER=1` (CI) it fails instead. Every wait has a
//! deadline; [`Processes`] kills the daemon and chromedriver (with its
//! browser) when dropped, so a failure leaves nothing running.
#![cfg(unix)]

use std::fs::File;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// How often the waits look again.
const POLL: Duration = Duration::from_millis(100);
/// The longest any one condition is waited for.
const PATIENCE: Duration = Duration::from_secs(20);
/// The longest the whole browser scenario may take.
const SCENARIO: Duration = Duration::from_secs(180);
const TOKEN: &str = "browser-test-token";
const CHROMIUM: &str = "/usr/bin/chromium";

/// `new-year` never fires during the test, so its runs are the ones the
/// test starts; its job takes a second, so its end (success) reaches the
/// page only through the event stream, after the button's own refresh.
/// `ticker` and `flaky` give the page and its screenshot some life.
const CONFIG: &str = r#"
[botman]
name = "browser-test"
state = "sqlite://botman.db"
timezone = "Europe/Berlin"

[botman.http]
listen = "127.0.0.1:0"
token = "env:BOTMAN_TOKEN"

[[bot]]
name = "new-year"
schedule = "0 0 1 1 *"
command = "sleep 1; echo 'hello <b>world</b>'; echo 'careful & <i>' >&2"

[[bot]]
name = "ticker"
schedule = "*/3 * * * * *"
command = "true"

[[bot]]
name = "flaky"
schedule = ["*/7 * * * * *", "30 15 * * SAT"]
command = ["sh", "-c", "echo 'the upstream API answered 503' >&2; exit 1"]
retries = 1
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_a_real_browser() {
    let Some(chromedriver) = browser_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::write(dir.path().join("botman.toml"), CONFIG).expect("write the config");
    let mut procs = Processes::default();

    let daemon_out = dir.path().join("daemon.stdout");
    let daemon_err = dir.path().join("daemon.stderr");
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_botman"));
    daemon
        .args(["run", "botman.toml"])
        .current_dir(dir.path())
        .env("BOTMAN_TOKEN", TOKEN)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(File::create(&daemon_out).expect("the daemon's stdout file"))
        .stderr(File::create(&daemon_err).expect("the daemon's stderr file"))
        .process_group(0);
    procs.start("botman run", daemon);
    let logs = Logs {
        daemon: daemon_err.clone(),
        driver: dir.path().join("chromedriver.log"),
    };
    let url = dashboard_url(&mut procs, &daemon_out, &logs);

    let port = free_port();
    let mut driver = Command::new(&chromedriver);
    driver
        .arg(format!("--port={port}"))
        .arg(format!("--log-path={}", logs.driver.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    procs.start("chromedriver", driver);
    let profile = dir.path().join("chromium-profile");
    let client = connect(port, &profile, &logs).await;

    let outcome = tokio::time::timeout(SCENARIO, scenario(&client, &url)).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
    match outcome {
        Err(_) => panic!(
            "the browser scenario took longer than {SCENARIO:?}\n{}",
            logs.tail()
        ),
        Ok(Err(e)) => panic!("{e}\n{}", logs.tail()),
        Ok(Ok(())) => {}
    }
    procs.stop_all();
}

/// What the browser does and checks; `Err` says what was not seen.
async fn scenario(c: &Client, url: &str) -> Result<(), String> {
    let screenshots = target_dir();
    c.set_window_size(1280, 1000).await.map_err(cmd("resize"))?;
    c.goto(url).await.map_err(cmd("open the dashboard"))?;

    // The page as the server made it: the rows, the words, the buttons.
    wait_js(
        c,
        "the three bots' rows",
        "return document.querySelectorAll('tr.bot').length === 3 \
         && ['new-year', 'ticker', 'flaky'].every(n => \
              document.getElementById('bot-' + n)?.dataset.bot === n)",
    )
    .await?;
    let words = js(
        c,
        "return document.querySelector('#bot-new-year td.sched .words').textContent",
    )
    .await?;
    ensure(
        words == "at 00:00 on 1 January",
        format!("new-year's schedule in words: {words}"),
    )?;
    ensure(
        js(c, "return document.getElementById('read-only') === null").await? == json!(true),
        "a dashboard with a token says it is read-only",
    )?;
    ensure(
        js(
            c,
            "return document.querySelectorAll('#timeline .tl-lane').length",
        )
        .await?
            == json!(3),
        "the timeline has a lane per bot",
    )?;
    wait_js(
        c,
        "the event stream to connect",
        "return document.getElementById('live').dataset.state === 'live'",
    )
    .await?;
    wait_js(
        c,
        "the buttons to be enabled by the script",
        "return !document.querySelector('button.run-now[data-bot=\"new-year\"]').disabled",
    )
    .await?;
    ensure(
        runs_of(c, "new-year").await? == "0",
        "new-year has run before the test ran it",
    )?;
    // Gone if the page reloads.
    js(c, "window.botmanTestMark = 'still here'; return true").await?;

    // Run now: the token prompt, answered.
    click(c, "button.run-now[data-bot=\"new-year\"]").await?;
    let prompt = wait_alert(c).await?;
    ensure(
        prompt.contains("token"),
        format!("the prompt does not ask for the token: {prompt:?}"),
    )?;
    c.send_alert_text(TOKEN)
        .await
        .map_err(cmd("type the token"))?;
    c.accept_alert().await.map_err(cmd("accept the prompt"))?;
    wait_js(
        c,
        "the run to be counted and to succeed, over the event stream",
        "const row = document.getElementById('bot-new-year'); \
         return row.querySelector('td.runs').dataset.runs === '1' \
           && row.querySelector('td.last .badge')?.textContent === 'success' \
           && row.querySelector('td.state .badge').textContent === 'idle'",
    )
    .await?;
    ensure(
        js(c, "return window.botmanTestMark ?? null").await? == json!("still here"),
        "the page reloaded: the row was not updated in place",
    )?;
    ensure(
        js(c, "return sessionStorage.getItem('botman.token')").await? == json!(TOKEN),
        "the token is not kept in sessionStorage",
    )?;
    wait_js(
        c,
        "the flash to say the run started",
        "return /Run #\\d+ of new-year started/.test(document.getElementById('flash').textContent)",
    )
    .await?;

    // Pause and resume, with the kept token (no prompt).
    click(c, "button.pause[data-bot=\"new-year\"]").await?;
    wait_js(
        c,
        "new-year paused, its resume button shown",
        "const row = document.getElementById('bot-new-year'); \
         return row.querySelector('td.state .badge').textContent === 'paused' \
           && !row.querySelector('button.resume').hidden \
           && row.querySelector('button.pause').hidden",
    )
    .await?;
    click(c, "button.resume[data-bot=\"new-year\"]").await?;
    wait_js(
        c,
        "new-year resumed",
        "const row = document.getElementById('bot-new-year'); \
         return row.querySelector('td.state .badge').textContent === 'idle' \
           && !row.querySelector('button.pause').hidden",
    )
    .await?;

    // A wrong token: refused, forgotten, nothing run.
    js(
        c,
        "sessionStorage.setItem('botman.token', 'not-the-token'); return true",
    )
    .await?;
    click(c, "button.run-now[data-bot=\"new-year\"]").await?;
    wait_js(
        c,
        "the wrong token to be refused and forgotten",
        "return /refused/.test(document.getElementById('flash').textContent) \
           && sessionStorage.getItem('botman.token') === null",
    )
    .await?;
    ensure(
        runs_of(c, "new-year").await? == "1",
        "a run started with a wrong token",
    )?;

    // Every bot's row keeps up with the scheduled runs.
    wait_js(
        c,
        "ticker's scheduled runs to show up live",
        "return Number(document.querySelector('#bot-ticker td.runs').dataset.runs) >= 2 \
           && document.querySelectorAll('.tl-lane[data-bot=\"ticker\"] rect.bar').length >= 1",
    )
    .await?;
    wait_js(
        c,
        "flaky's failure and cool-down to show",
        "const row = document.getElementById('bot-flaky'); \
         return row.querySelector('td.last .badge')?.textContent === 'failure' \
           && row.querySelector('td.state .badge').textContent === 'timeout' \
           && /cool-down until/.test(row.querySelector('td.next').textContent)",
    )
    .await?;
    save_screenshot(c, &screenshots.join("dashboard.png")).await?;

    // A bot's page: its history, output escaped, a new run added live.
    c.goto(&format!("{url}bots/new-year"))
        .await
        .map_err(cmd("open new-year's page"))?;
    wait_js(
        c,
        "new-year's one run in its history",
        "return document.querySelectorAll('#runs tbody tr.run').length === 1",
    )
    .await?;
    let stdout = js(
        c,
        "const pre = document.querySelector('#runs tr.run pre.stdout'); \
         return pre && pre.children.length === 0 ? pre.textContent : null",
    )
    .await?;
    ensure(
        stdout == json!("hello <b>world</b>\n"),
        format!("the run's stdout, as text: {stdout}"),
    )?;
    wait_js(
        c,
        "the bot page's event stream",
        "return document.getElementById('live').dataset.state === 'live'",
    )
    .await?;
    js(
        c,
        &format!(
            "sessionStorage.setItem('botman.token', '{TOKEN}'); \
             window.botmanTestMark = 'still here'; return true"
        ),
    )
    .await?;
    click(c, "button.run-now[data-bot=\"new-year\"]").await?;
    wait_js(
        c,
        "the new run on top of the history, succeeded, with its output; the counts",
        "const rows = document.querySelectorAll('#runs tbody tr.run'); \
         return rows.length === 2 \
           && Number(rows[0].dataset.runId) > Number(rows[1].dataset.runId) \
           && rows[0].dataset.outcome === 'success' \
           && rows[0].querySelector('pre.stderr')?.textContent === 'careful & <i>\\n' \
           && document.querySelector('dd[data-fact=\"runs\"]').textContent.startsWith('2 started')",
    )
    .await?;
    ensure(
        js(c, "return window.botmanTestMark ?? null").await? == json!("still here"),
        "the bot page reloaded",
    )?;
    save_screenshot(c, &screenshots.join("dashboard-bot.png")).await?;

    // A phone: the rows become cards.
    c.set_window_size(390, 844).await.map_err(cmd("resize"))?;
    c.goto(url).await.map_err(cmd("open the dashboard"))?;
    wait_js(
        c,
        "the rows as cards on a narrow screen",
        "return getComputedStyle(document.querySelector('#bot-new-year')).display === 'block'",
    )
    .await?;
    save_screenshot(c, &screenshots.join("dashboard-phone.png")).await?;

    // A name that is no bot: a 404 page with a suggestion, the name
    // escaped.
    c.goto(&format!("{url}bots/new-yaer"))
        .await
        .map_err(cmd("open an unknown bot's page"))?;
    let h1 = js(
        c,
        "return document.querySelector('h1')?.textContent ?? null",
    )
    .await?;
    ensure(
        h1 == json!("No such bot"),
        format!("the unknown bot's page: {h1}"),
    )?;
    let hint = js(
        c,
        "return document.querySelector('.note.error a')?.getAttribute('href') ?? null",
    )
    .await?;
    ensure(
        hint == json!("/bots/new-year"),
        format!("the unknown bot's page suggests {hint}, not new-year"),
    )?;
    c.goto(&format!("{url}bots/%3Cb%3Ebold%3C%2Fb%3E"))
        .await
        .map_err(cmd("open an unknown bot's page"))?;
    let note = js(
        c,
        "const n = document.querySelector('.note.error'); \
         return n && n.querySelector('b') === null ? n.textContent : null",
    )
    .await?;
    ensure(
        note.as_str().is_some_and(|n| n.contains("'<b>bold</b>'")),
        format!("the unknown bot's name, as text: {note}"),
    )?;
    Ok(())
}

/// The number in a bot's runs cell.
async fn runs_of(c: &Client, bot: &str) -> Result<String, String> {
    let v = js(
        c,
        &format!("return document.querySelector('#bot-{bot} td.runs').dataset.runs"),
    )
    .await?;
    Ok(v.as_str().unwrap_or_default().to_owned())
}

async fn click(c: &Client, css: &str) -> Result<(), String> {
    let button = c
        .find(Locator::Css(css))
        .await
        .map_err(|e| format!("no {css}: {e}"))?;
    button
        .click()
        .await
        .map_err(|e| format!("click {css}: {e}"))
}

/// The text of the open alert or prompt, waiting for it to open.
async fn wait_alert(c: &Client) -> Result<String, String> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match c.get_alert_text().await {
            Ok(text) => return Ok(text),
            Err(e) if Instant::now() > deadline => {
                return Err(format!("no token prompt within {PATIENCE:?}: {e}"));
            }
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}

/// Runs a script; its `return` value.
async fn js(c: &Client, script: &str) -> Result<Value, String> {
    c.execute(script, Vec::new())
        .await
        .map_err(|e| format!("script `{script}`: {e}"))
}

/// Runs `script` until it returns something truthy, at most
/// [`PATIENCE`].
async fn wait_js(c: &Client, what: &str, script: &str) -> Result<Value, String> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let last = match c.execute(script, Vec::new()).await {
            Ok(v) if truthy(&v) => return Ok(v),
            Ok(v) => v.to_string(),
            Err(e) => e.to_string(),
        };
        if Instant::now() > deadline {
            let text = c
                .execute("return document.body.innerText", Vec::new())
                .await
                .map(|v| v.as_str().unwrap_or_default().to_owned())
                .unwrap_or_default();
            return Err(format!(
                "waited {PATIENCE:?} for {what}; the script last gave {last}\n\
                 script: {script}\nthe page's text:\n{text}"
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

fn ensure(ok: bool, what: impl Into<String>) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what.into()) }
}

fn cmd(what: &'static str) -> impl Fn(fantoccini::error::CmdError) -> String {
    move |e| format!("{what}: {e}")
}

async fn save_screenshot(c: &Client, path: &Path) -> Result<(), String> {
    let png = c.screenshot().await.map_err(cmd("screenshot"))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, png).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("screenshot: {}", path.display());
    Ok(())
}

/// Where the screenshots go: `$CARGO_TARGET_DIR`, else the workspace's
/// `target/`.
fn target_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => workspace.join(dir),
        _ => workspace.join("target"),
    }
}

/// chromedriver's path when chromium and chromedriver are installed;
/// `None` (skip) otherwise, or a failure under `BOTMAN_REQUIRE_BROWSER=1`.
fn browser_or_skip() -> Option<PathBuf> {
    let driver = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/bin")])
        .map(|d| d.join("chromedriver"))
        .find(|p| p.is_file());
    let chromium = Path::new(CHROMIUM).is_file();
    if let (Some(driver), true) = (&driver, chromium) {
        return Some(driver.clone());
    }
    let missing = match (driver.is_some(), chromium) {
        (false, false) => "chromium and chromedriver are",
        (false, true) => "chromedriver is",
        _ => "chromium (/usr/bin/chromium) is",
    };
    let how = "install them with `apt-get install chromium chromium-driver`";
    if std::env::var("BOTMAN_REQUIRE_BROWSER").as_deref() == Ok("1") {
        panic!("BOTMAN_REQUIRE_BROWSER=1 but {missing} not installed: {how}");
    }
    eprintln!(
        "skipped: the dashboard's browser test needs chromium and chromedriver; \
         {missing} not installed: {how} (BOTMAN_REQUIRE_BROWSER=1 makes this a failure)"
    );
    None
}

/// The dashboard's URL, from the daemon's `dashboard: URL` line.
fn dashboard_url(procs: &mut Processes, stdout: &Path, logs: &Logs) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let out = std::fs::read_to_string(stdout).unwrap_or_default();
        if let Some(url) = out
            .lines()
            .find_map(|l| l.strip_prefix("dashboard: "))
            .filter(|u| u.ends_with('/'))
        {
            return url.trim().to_owned();
        }
        if let Some(status) = procs.exited("botman run") {
            panic!(
                "the daemon exited ({status}) before serving\n{out}\n{}",
                logs.tail()
            );
        }
        assert!(
            Instant::now() < deadline,
            "no 'dashboard:' line within {PATIENCE:?}\n{out}\n{}",
            logs.tail()
        );
        std::thread::sleep(POLL);
    }
}

/// A session on chromedriver: headless chromium, its profile in `profile`.
/// chromedriver takes a moment to listen and chromium one to start: tried
/// until [`PATIENCE`] runs out.
async fn connect(port: u16, profile: &Path, logs: &Logs) -> Client {
    let caps = json!({
        "browserName": "chrome",
        // The test answers the token prompt itself: chromedriver must not
        // dismiss it on the next command.
        "unhandledPromptBehavior": "ignore",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1280,1000",
                format!("--user-data-dir={}", profile.display()),
            ],
        },
    });
    let Value::Object(caps) = caps else {
        unreachable!("an object")
    };
    let webdriver = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let attempt = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&webdriver)
            .await;
        match attempt {
            Ok(client) => return client,
            Err(e) if Instant::now() > deadline => panic!(
                "no chromium session from chromedriver on {webdriver} within {PATIENCE:?}: {e}\n{}",
                logs.tail()
            ),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// A port nobody listens on now (chromedriver takes it a moment later).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("its address").port()
}

/// Where to look when something fails.
struct Logs {
    daemon: PathBuf,
    driver: PathBuf,
}

impl Logs {
    fn tail(&self) -> String {
        let tail = |p: &Path| {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(30)..].join("\n")
        };
        format!(
            "--- the daemon's log ({}):\n{}\n--- chromedriver's log ({}):\n{}",
            self.daemon.display(),
            tail(&self.daemon),
            self.driver.display(),
            tail(&self.driver)
        )
    }
}

/// The child processes, each the leader of its own process group: dropped,
/// each group is stopped (the daemon with SIGTERM first, for its graceful
/// stop; chromedriver's group holds chromium too).
#[derive(Default)]
struct Processes {
    children: Vec<(&'static str, Child)>,
}

impl Processes {
    fn start(&mut self, name: &'static str, mut command: Command) {
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("{name} does not start: {e}"));
        self.children.push((name, child));
    }

    fn exited(&mut self, name: &str) -> Option<std::process::ExitStatus> {
        let (_, child) = self.children.iter_mut().find(|(n, _)| *n == name)?;
        child.try_wait().ok().flatten()
    }

    fn stop_all(&mut self) {
        use nix::sys::signal::{Signal, killpg};
        use nix::unistd::Pid;
        // Newest first: chromedriver (and its chromium) before the daemon.
        while let Some((_, mut child)) = self.children.pop() {
            let group = Pid::from_raw(child.id() as i32);
            let _ = killpg(group, Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = killpg(group, Signal::SIGKILL);
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        self.stop_all();
    }
}
