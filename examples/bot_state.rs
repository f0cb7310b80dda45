//! "Managing Bot State": time-outs (cool-downs), next run, due-ness.

use botman::{Bot, Botman, JobError};

fn main() -> Result<(), botman::Error> {
    let manager = Botman::new();
    manager.add_bot(
        Bot::builder("my_bot")
            .schedule("0 * * * *")
            .retries(1)
            .job(|| Err::<(), JobError>("the service is down".into()))
            .build()?,
    )?;
    let my_bot = manager.bot("my_bot")?;

    // A fire that exhausts its attempts puts the bot into a cool-down.
    manager.run_bot("my_bot")?.wait();
    if my_bot.is_in_timeout() {
        println!("Bot will be available after: {:?}", my_bot.timeout_until());
    }

    // Get the next scheduled run time.
    println!("Next scheduled execution: {:?}", my_bot.next_run());

    // Check if a bot is due to run.
    if my_bot.is_due() {
        println!("Bot is due to execute now");
    }

    // Schedules can change while the manager runs.
    my_bot.add_schedule("30 * * * *", None)?;
    my_bot.remove_schedule("0 * * * *")?;
    my_bot.pause();
    my_bot.resume();
    Ok(())
}
