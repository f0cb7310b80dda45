//! "Event System": subscribe to a bot's events, filter by type, unsubscribe.

use std::time::Duration;

use botman::{Bot, BotEvent, Botman, EventManager, EventType, JobError};

fn my_event_handler(event: &BotEvent) {
    println!(
        "Bot: {}, Type: {}, Message: {}",
        event.bot_name, event.event_type, event.description
    );
    if !event.data.is_null() {
        println!("  Data: {}", event.data);
    }
}

fn main() -> Result<(), botman::Error> {
    let events = EventManager::global(); // Python's GLOBAL_EVENT_MANAGER

    // Errors and warnings from one bot.
    let id = events.subscribe(
        "my_bot",
        my_event_handler,
        &[EventType::Error, EventType::Warning],
    );
    // Every event from one bot.
    events.subscribe("my_bot", my_event_handler, &[]);
    // Errors from all bots.
    events.subscribe("all", my_event_handler, &[EventType::Error]);

    let manager = Botman::new(); // publishes to the global event manager
    manager.add_bot(
        Bot::builder("my_bot")
            .schedule("*/5 * * * *")
            .retries(2)
            .retry_delay(Duration::from_millis(10))
            .job(|| Err::<(), JobError>("the service is down".into()))
            .build()?,
    )?;
    manager.run_bot("my_bot")?.wait();
    events.wait_until_empty(Duration::from_secs(5));

    // Unsubscribe when no longer needed.
    events.unsubscribe(id);
    Ok(())
}
