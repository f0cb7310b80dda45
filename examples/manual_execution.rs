//! "Manual Bot Execution": run one bot, or all of them, outside their
//! schedules, and wait for the outcome.

use botman::{Bot, Botman, JobError};

fn main() -> Result<(), botman::Error> {
    let manager = Botman::new();
    manager.add_bot(
        Bot::builder("my_bot")
            .schedule("0 0 * * *")
            .job(|| Ok::<_, JobError>(42))
            .build()?,
    )?;
    manager.add_bot(
        Bot::builder("other")
            .schedule("0 12 * * *")
            .job(|| Ok::<_, JobError>("ok"))
            .build()?,
    )?;

    // Run a specific bot immediately and wait for it.
    let outcome = manager
        .run_bot("my_bot")?
        .wait()
        .expect("the manager is alive");
    println!("my_bot: {:?} -> {:?}", outcome.outcome, outcome.value);

    // Run all managed bots.
    for handle in manager.run_all_bots() {
        if let Some(o) = handle.wait() {
            println!("{}: {:?}", o.bot, o.outcome);
        }
    }
    Ok(())
}
