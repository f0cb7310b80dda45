//! "COM Integration": a bot whose worker thread joins a single-threaded COM
//! apartment around each attempt. On Windows only; elsewhere it is a no-op
//! with a warning.

use botman::{Bot, Botman, JobError};

fn update_excel_report() -> Result<(), JobError> {
    Ok(())
}

fn main() -> Result<(), botman::Error> {
    let com_bot = Bot::builder("excel_automation")
        .schedule("0 9 * * 1-5") // weekdays at 9:00
        .job(update_excel_report)
        .is_com_bot(true)
        .build()?;
    let manager = Botman::new();
    manager.add_bot(com_bot)?;
    println!(
        "{:?}",
        manager
            .run_bot("excel_automation")?
            .wait()
            .map(|o| o.outcome)
    );
    Ok(())
}
