//! "Webhook Integration": bot-level and manager-level Slack and Chime
//! webhooks. The example starts its own little HTTP server on 127.0.0.1 to
//! stand in for Slack and Chime, and prints what it receives.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use botman::{Bot, Botman, EventManager, EventType, JobError};

fn fake_slack() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
    let url = format!(
        "http://{}/services/T000/B000/XXXX",
        listener.local_addr().expect("address")
    );
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            println!("webhook received: {}", String::from_utf8_lossy(&body));
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    url
}

fn important_task() -> Result<(), JobError> {
    Err("disk full".into())
}

fn main() -> Result<(), botman::Error> {
    let slack = fake_slack();
    let manager = Botman::builder()
        .name("ops")
        .event_manager(EventManager::new())
        .build()?;

    // At the bot level: only errors and warnings.
    manager.add_bot(
        Bot::builder("monitored_bot")
            .schedule("*/5 * * * *")
            .slack_webhook(&slack)
            .slack_event_types(&[EventType::Error, EventType::Warning])
            .retries(1)
            .job(important_task)
            .build()?,
    )?;

    // At the manager level (the manager's own events).
    manager.subscribe_slack_webhook(&slack, &[EventType::Info, EventType::Error])?;

    // More webhooks for a bot later on.
    manager
        .bot("monitored_bot")?
        .add_slack_webhook(&[&slack], &[EventType::Error])?;

    manager.start();
    manager.run_bot("monitored_bot")?.wait();
    manager.stop();
    manager.events().wait_until_empty(Duration::from_secs(5));
    for r in manager
        .receivers_of("monitored_bot")
        .iter()
        .chain(manager.receivers_of("").iter())
    {
        r.flush_blocking(Duration::from_secs(5));
        println!("{} -> {:?}", r.url(), r.stats()); // the URL prints redacted
    }
    Ok(())
}
