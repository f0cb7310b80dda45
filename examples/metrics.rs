//! "Bot Metrics": per-bot counters, state and timings.

use botman::{Bot, Botman, JobError};

fn main() -> Result<(), botman::Error> {
    let manager = Botman::new();
    manager.add_bot(
        Bot::builder("my_bot")
            .schedule("*/5 * * * *")
            .job(|| Ok::<_, JobError>(()))
            .build()?,
    )?;
    manager.run_bot("my_bot")?.wait();

    // Metrics for all bots.
    for m in manager.metrics() {
        println!("{}: {} runs, state {}", m.name, m.runs, m.state);
    }

    // Metrics for a specific bot.
    let m = manager.metrics_of("my_bot")?;
    println!("Runs: {}", m.runs);
    println!("Errors: {}", m.errors);
    println!("Last Run: {:?}", m.last_run);
    println!("State: {}", m.state); // IDLE, RUNNING, TIMEOUT or ERROR
    println!("Since: {}", m.since);
    println!(
        "Next run: {:?}, p50 {:?}, p99 {:?}",
        m.next_run, m.duration_p50, m.duration_p99
    );
    Ok(())
}
