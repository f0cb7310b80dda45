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

#[test]
fn a_failing_bot_tells_its_story() {
    common::run(async {
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
        assert!(m.wait_idle(WAIT).await);
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
    });
}

#[test]
fn a_stuck_subscriber_does_not_delay_fires() {
    common::run(async {
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
    });
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

/// Two managers in one process publish to one event manager (the global
/// one, by default), each with a bot named `report`, and a bot named like
/// its manager: a bot's own subscription hears only its own events
/// (issue #8, bug 3).
#[test]
fn bot_subscriptions_are_bound_to_their_managers_bot() {
    common::run(async {
        let events = EventManager::new();
        let mk = |name: &str| {
            Botman::builder()
                .name(name)
                .event_manager(events.clone())
                .build()
                .unwrap()
        };
        let (a, b) = (mk("botman"), mk("botman"));
        for m in [&a, &b] {
            for bot in ["report", "botman"] {
                m.add_bot(
                    Bot::builder(bot)
                        .schedule("0 0 1 1 *")
                        .job(|| Ok::<(), JobError>(()))
                        .build()
                        .unwrap(),
                )
                .unwrap();
            }
        }
        let seen = |m: &Botman, bot: &str| {
            let seen = Arc::new(Mutex::new(Vec::new()));
            let s = Arc::clone(&seen);
            m.bot(bot)
                .unwrap()
                .subscribe(move |e| s.lock().unwrap().push(e.clone()), &[]);
            seen
        };
        let a_report = seen(&a, "report");
        let a_botman = seen(&a, "botman");
        let by_name = recorder(&events, "report", &[]);
        a.start();
        b.start();
        a.run_bot("report").unwrap().await.unwrap();
        b.run_bot("report").unwrap().await.unwrap();
        b.run_bot("report").unwrap().await.unwrap();
        a.stop_async().await;
        b.stop_async().await;
        assert!(events.wait_until_empty(WAIT));
        let runs = |seen: &Arc<Mutex<Vec<BotEvent>>>| {
            kinds(seen)
                .iter()
                .filter(|(_, k)| *k == EventKind::RunSucceeded)
                .count()
        };
        assert_eq!(runs(&a_report), 1, "only manager a's report");
        assert_eq!(runs(&by_name), 3, "by name: every manager's report");
        let ids: std::collections::HashSet<String> = a_report
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.bot_id.clone())
            .collect();
        assert_eq!(ids.len(), 1);
        assert_eq!(&a.bot("report").unwrap().id(), ids.iter().next().unwrap());
        // The bot named like its manager hears none of the manager's events.
        assert!(
            kinds(&a_botman).iter().all(|(_, k)| !matches!(
                k,
                EventKind::ManagerStarted | EventKind::ManagerStopping | EventKind::ManagerStopped
            )),
            "{:?}",
            kinds(&a_botman)
        );
    });
}

/// `bot_id` is derived from the manager's and the bot's names: the same in
/// a manager built again (a restart), different for another manager.
#[test]
fn bot_ids_are_stable_across_restarts() {
    let id = |manager: &str| {
        let m = Botman::builder().name(manager).build().unwrap();
        m.add_bot(
            Bot::builder("report")
                .schedule("0 0 1 1 *")
                .job(|| Ok::<(), JobError>(()))
                .build()
                .unwrap(),
        )
        .unwrap();
        m.bot("report").unwrap().id().to_owned()
    };
    assert_eq!(id("ops"), id("ops"));
    assert_ne!(id("ops"), id("dev"));
    assert_eq!(id("ops").len(), 16);
}

/// `Botman::subscribe` hears one manager's events, its bots' and its own,
/// not another manager's on the same event manager, even a bot of the same
/// name.
#[test]
fn a_manager_subscription_hears_that_manager_only() {
    common::run(async {
        let events = EventManager::new();
        let mk = |name: &str| {
            let m = Botman::builder()
                .name(name)
                .event_manager(events.clone())
                .build()
                .unwrap();
            m.add_bot(
                Bot::builder("same")
                    .schedule("0 0 1 1 *")
                    .job(|| Ok::<_, std::io::Error>(()))
                    .build()
                    .unwrap(),
            )
            .unwrap();
            m
        };
        let (a, b) = (mk("a"), mk("b"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        a.subscribe(
            move |e: &BotEvent| s.lock().unwrap().push((e.bot_name.clone(), e.kind)),
            &[],
            botman::DEFAULT_QUEUE,
        );
        a.start();
        b.start();
        b.run_bot("same").unwrap().await.unwrap();
        a.run_bot("same").unwrap().await.unwrap();
        assert!(events.wait_until_empty(WAIT));
        a.stop_async().await;
        b.stop_async().await;
        assert!(events.wait_until_empty(WAIT));
        let seen = seen.lock().unwrap().clone();
        let succeeded: Vec<_> = seen
            .iter()
            .filter(|(_, k)| *k == EventKind::RunSucceeded)
            .collect();
        assert_eq!(succeeded.len(), 1, "a's run only: {seen:?}");
        assert!(
            seen.iter()
                .any(|(n, k)| n == "a" && *k == EventKind::ManagerStopped),
            "{seen:?}"
        );
        assert!(!seen.iter().any(|(n, _)| n == "b"), "{seen:?}");
    });
}
