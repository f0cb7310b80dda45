//! "Thread Safety", the Rust way: the same manager inside an existing tokio
//! application, with an async job and awaited handles.

use std::time::Duration;

use botman::{Bot, Botman, JobError};

#[tokio::main]
async fn main() -> Result<(), botman::Error> {
    let manager = Botman::new(); // uses the running tokio runtime
    manager.add_bot(
        Bot::builder("fetch")
            .schedule("*/2 * * * * *")
            .time_limit(Duration::from_secs(1))
            .async_job(|| async {
                tokio::time::sleep(Duration::from_millis(10)).await;
                Ok::<_, JobError>("fetched")
            })
            .build()?,
    )?;
    manager.start();
    let outcome = manager.run_bot("fetch")?.await;
    println!("{outcome:?}");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let report = manager.stop_async().await;
    println!(
        "runs: {}, abandoned: {:?}",
        manager.metrics_of("fetch")?.runs,
        report.abandoned
    );
    Ok(())
}
