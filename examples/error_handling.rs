//! "Error Handling": errors are retried; a `SoftError` ends the fire at once.

use botman::{Bot, Botman, JobError, SoftError};

fn risky_function() -> Result<String, JobError> {
    // Any error is retried according to the bot's configuration.
    let value: u32 = "not a number".parse()?;
    Ok(value.to_string())
}

fn alternative_error_handling() -> Result<(), SoftError> {
    // A SoftError fails this fire with an Error event, without retries or cool-down.
    Err(SoftError::new("nothing to do today"))
}

fn main() -> Result<(), botman::Error> {
    let manager = Botman::new();
    manager.add_bot(
        Bot::builder("risky")
            .schedule("* * * * *")
            .retries(2)
            .retry_delay(std::time::Duration::from_millis(10))
            .job(risky_function)
            .build()?,
    )?;
    manager.add_bot(
        Bot::builder("soft")
            .schedule("* * * * *")
            .job(alternative_error_handling)
            .build()?,
    )?;
    for name in ["risky", "soft"] {
        let o = manager.run_bot(name)?.wait().expect("alive");
        println!(
            "{name}: {:?} after {} attempt(s): {:?}",
            o.outcome, o.attempts, o.error
        );
    }
    Ok(())
}
