//! "Detailed Bot Configuration" and "Schedule Format": several schedules,
//! each in its own zone if need be, and every policy with its default.

use std::time::Duration;

use botman::{Bot, Botman, Misfire, Overlap};

fn my_function() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bot = Bot::builder("advanced_bot")
        // One or many schedules; each may carry its own time zone.
        .schedule("*/5 * * * *") // every 5 minutes
        .schedule("0 */1 * * *") // at the start of every hour
        .schedule_in("0 9 * * MON-FRI", "Europe/Berlin") // 09:00 Berlin time on weekdays
        .job(my_function)
        // Retry configuration (defaults: 60 s, 3 attempts, 10 s).
        .initial_timeout(Duration::from_secs(60))
        .retries(3)
        .retry_delay(Duration::from_secs(10))
        .max_timeout(Duration::from_secs(3600))
        // Beyond the Python library.
        .overlap(Overlap::Skip)
        .misfire(Misfire::RunOnce)
        .jitter(Duration::from_secs(5))
        .time_limit(Duration::from_secs(300))
        .is_com_bot(false)
        .build()?;

    let manager = Botman::builder()
        .name("config-demo")
        .max_workers(10)
        .default_time_zone(botman::jiff::tz::TimeZone::get("America/New_York")?)
        .build()?;
    manager.add_bot(bot)?;
    println!("next run: {:?}", manager.bot("advanced_bot")?.next_run());

    // A schedule that does not parse says where and why.
    let err = Bot::builder("bad")
        .schedule("0 25 * * *")
        .job(my_function)
        .build()
        .unwrap_err();
    println!("{err}");
    Ok(())
}
