//! The worked examples in `tests/data/cron-examples.jsonl` (copied from the
//! project's shared examples): expression, search start, zone, expected fires.

use botman_cron::Cron;
use botman_cron::jiff::tz::TimeZone;
use botman_cron::jiff::{Timestamp, ZonedDateTime};

#[derive(Debug)]
struct Example {
    expr: String,
    after: String,
    tz: Option<String>,
    count: usize,
    expected: Vec<String>,
}

fn load() -> Vec<Example> {
    let text = include_str!("data/cron-examples.jsonl");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("valid JSON line");
            Example {
                expr: v["expr"].as_str().expect("expr").to_owned(),
                after: v["after"].as_str().expect("after").to_owned(),
                tz: v["tz"].as_str().map(str::to_owned),
                count: v["count"].as_u64().expect("count") as usize,
                expected: v["expected"]
                    .as_array()
                    .expect("expected")
                    .iter()
                    .map(|e| e.as_str().expect("string").to_owned())
                    .collect(),
            }
        })
        .collect()
}

fn rfc3339(z: &ZonedDateTime) -> String {
    z.timestamp().display_with_offset(z.offset()).to_string()
}

#[test]
fn ok_all_shared_examples() {
    let examples = load();
    assert!(examples.len() >= 58, "the data file lost examples");
    let mut failures = Vec::new();
    for ex in &examples {
        let cron = Cron::parse(&ex.expr).unwrap_or_else(|e| panic!("{:?}: {e}", ex.expr));
        let tz = TimeZone::get(ex.tz.as_deref().unwrap_or("UTC")).expect("zone");
        let after: Timestamp = ex.after.parse().expect("after");
        let start = ZonedDateTime::new(after, tz);
        let got: Vec<String> = cron
            .iter_after(&start)
            .take(ex.count)
            .map(|z| rfc3339(&z))
            .collect();
        if got != ex.expected {
            failures.push(format!(
                "{:?} after {}: got {got:?}, want {:?}",
                ex.expr, ex.after, ex.expected
            ));
        }
        // Walking back from the last expected fire must give the same list.
        if let Some(last) = cron.iter_after(&start).nth(ex.count - 1) {
            let mut back: Vec<String> = cron
                .iter_before(&last)
                .take(ex.count - 1)
                .map(|z| rfc3339(&z))
                .collect();
            back.reverse();
            back.push(rfc3339(&last));
            if back != ex.expected {
                failures.push(format!(
                    "{:?} backwards: got {back:?}, want {:?}",
                    ex.expr, ex.expected
                ));
            }
        }
        // Display round trip keeps the schedule.
        let again = Cron::parse(&cron.to_string()).expect("display parses back");
        assert_eq!(again, cron, "{:?} -> {}", ex.expr, cron);
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
