//! Events published by a manager and its bots, on a manual clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use botman::{
    Bot, BotEvent, Botman, EventKind, EventManager, EventType, JobError, ManualClock, SkipReason,
};

mod common;
use common::{WAIT, assert_fires_each_minute, t};

fn recorder(events: &EventManager, who: &str, types: &[EventType]) -> Arc<Mutex<Vec<BotEvent>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    events.subscribe(who, move |e| s.lock().unwrap().push(e.clone()), types);
    seen
}

fn kinds(seen: &Arc<Mutex<Vec<BotEvent>>>) -> Vec<(EventType, EventKind)> {
    seen.lock()
        .unwrap()
        .iter()
        .map(|e| (e.event_type, e.kind))
        .collect()
}

fn descriptions(seen: &Arc<Mutex<Vec<BotEvent>>>) -> Vec<(EventType, String)> {
    seen.lock()
        .unwrap()
        .iter()
        .map(|e| (e.event_type, e.description.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_bot_tells_its_story() {
    let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
    let events = EventManager::new();
    let m = Botman::builder()
        .name("prod")
        .clock(clock.clone())
        .event_manager(events.clone())
        .build()
        .unwrap();
    let bot_events = recorder(
        &events,
        "flaky",
        &[EventType::Info, EventType::Warning, EventType::Error],
    );
    let manager_events = recorder(&events, "prod", &[]);
    m.add_bot(
        Bot::builder("flaky")
            .schedule("* * * * *")
            .retries(2)
            .retry_delay(Duration::from_secs(1))
            .initial_timeout(Duration::from_secs(90))
            .job(|| Err::<(), JobError>("connection refused".into()))
            .build()
            .unwrap(),
    )
    .unwrap();
    m.start();
    clock.advance(Duration::from_secs(60)); // 00:01 fires
    assert!(m.wait_until(WAIT, |b| b[0].retries == 1).await);
    clock.advance(Duration::from_secs(1)); // attempt 2
    assert!(m.wait_until(WAIT, |b| b[0].errors == 1).await);
    clock.advance(Duration::from_secs(59)); // 00:02 falls inside the cool-down
    assert!(m.wait_until(WAIT, |b| b[0].skipped == 1).await);
    m.stop_async().await;
    assert!(events.wait_until_empty(WAIT));
    // One fire, one failure notice: the attempts are warnings, the run's
    // failure the one Error (issue #8, bug 5).
    let got = kinds(&bot_events);
    let want = [
        (EventType::Info, EventKind::BotAdded),
        (EventType::Info, EventKind::RunStarted),
        (EventType::Warning, EventKind::AttemptFailed),
        (EventType::Warning, EventKind::AttemptFailed),
        (EventType::Error, EventKind::RunFailed),
        (EventType::Warning, EventKind::CoolDownEntered),
        (
            EventType::Warning,
            EventKind::FireSkipped {
                reason: SkipReason::CoolDown,
            },
        ),
    ];
    assert_eq!(got, want);
    assert_eq!(
        descriptions(&bot_events)[2].1,
        "attempt 1 of 2 failed: connection refused"
    );
    assert_eq!(
        descriptions(&bot_events)[4].1,
        "run failed after 2 attempt(s): connection refused"
    );
    let all = bot_events.lock().unwrap();
    assert_eq!(all[1].data["scheduled"], "2025-01-01T00:01:00Z");
    assert_eq!(all[1].data["lateness_ms"], 0.0);
    assert_eq!(all[2].data["attempt"], 1);
    assert_eq!(all[5].data["until"], "2025-01-01T00:02:31Z");
    assert!(
        all.iter()
            .all(|e| e.bot_id == all[0].bot_id && !e.bot_id.is_empty())
    );
    let mgr: Vec<EventKind> = kinds(&manager_events).into_iter().map(|(_, k)| k).collect();
    assert_eq!(
        mgr,
        [
            EventKind::ManagerStarted,
            EventKind::ManagerStopping,
            EventKind::ManagerStopped
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_subscriber_does_not_delay_fires() {
    let clock = ManualClock::new(t("2025-01-01T00:00:00Z"));
    let events = EventManager::new();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    // Blocks on its first event until the end of the test.
    events.subscribe(
        "all",
        move |_| {
            let _ = release_rx.lock().unwrap().recv();
        },
        &[],
    );
    let m = Botman::builder()
        .clock(clock.clone())
        .event_manager(events.clone())
        .build()
        .unwrap();
    m.add_bot(
        Bot::builder("tick")
            .schedule("* * * * *")
            .job(|| Ok::<(), JobError>(()))
            .build()
            .unwrap(),
    )
    .unwrap();
    m.start();
    assert_fires_each_minute(&m, &clock, 5).await;
    drop(release_tx);
    m.stop_async().await;
}

#[test]
fn success_events_carry_the_result_and_skips_their_reason() {
    let events = EventManager::new();
    let m = Botman::builder()
        .event_manager(events.clone())
        .build()
        .unwrap();
    let seen = recorder(&events, "all", &[EventType::Info]);
    m.add_bot(
        Bot::builder("calc")
            .schedule("0 0 1 1 *")
            .job(|| Ok::<_, JobError>(42))
            .build()
            .unwrap(),
    )
    .unwrap();
    assert!(m.run_bot("calc").unwrap().wait().unwrap().is_success());
    assert!(events.wait_until_empty(WAIT));
    let all = seen.lock().unwrap();
    let done = all
        .iter()
        .find(|e| e.kind == EventKind::RunSucceeded)
        .expect("success event");
    assert_eq!(done.data["result"], 42);
    assert_eq!(done.data["attempts"], 1);
}
