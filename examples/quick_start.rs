//! The Python README's "Quick Start", in Rust: one bot, every minute.
//!
//! Run with `cargo run -p botman --example quick_start`. To keep the example
//! short it fires every second (six fields) and stops after three seconds.

use std::time::Duration;

use botman::{Bot, Botman};

fn hello_world() -> Result<&'static str, std::io::Error> {
    println!("Hello, World! Time: {}", botman::jiff::ZonedDateTime::now());
    Ok("Success")
}

fn main() -> Result<(), botman::Error> {
    // Every minute would be "* * * * *"; every second keeps the demo short.
    let my_bot = Bot::builder("hello_bot")
        .schedule("* * * * * *")
        .job(hello_world)
        .build()?;

    let manager = Botman::new();
    manager.add_bot(my_bot)?;
    manager.start();

    std::thread::sleep(Duration::from_secs(3));

    let report = manager.stop();
    let m = manager.metrics_of("hello_bot")?;
    println!(
        "runs: {}, successes: {}, abandoned: {:?}",
        m.runs, m.successes, report.abandoned
    );
    Ok(())
}
