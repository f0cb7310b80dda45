//! botman-cron against the `cron` (0.17), `croner` (4.x) and `saffron` (0.1)
//! crates, in one run: parse, and next-after from random instants and from
//! the previous fire, in UTC and America/New_York.
//!
//! Each peer runs only the expressions it accepts; where a peer spells an
//! expression differently (`cron` wants a seconds field and numbers weekdays
//! 1-7 from Sunday) the table in `bench/src/lib.rs` holds its spelling.
//! Run with `cargo bench -p botman-bench --bench cron`, then
//! `cargo run -p botman-bench --release --bin report` for the ratio table.

use std::hint::black_box;
use std::str::FromStr;
use std::time::Duration;

use botman_bench::{CASES, Case, random_seconds};
use botman_cron::Cron;
use botman_cron::jiff::tz::TimeZone;
use botman_cron::jiff::{Timestamp, ZonedDateTime};
use chrono::{DateTime, TimeZone as _, Utc};
use criterion::{Criterion, criterion_group, criterion_main};

const INSTANTS: usize = 1024;
/// 2100-01-01T00:00:00Z: where chains of fires start over.
const HORIZON: i64 = 4_102_444_800;

fn zoned(secs: &[i64], tz: &TimeZone) -> Vec<ZonedDateTime> {
    secs.iter()
        .map(|&s| {
            Timestamp::from_second(s)
                .expect("in range")
                .to_zoned_datetime(tz.clone())
        })
        .collect()
}

fn chrono_in<Z: chrono::TimeZone>(secs: &[i64], tz: &Z) -> Vec<DateTime<Z>> {
    secs.iter()
        .map(|&s| tz.timestamp_opt(s, 0).single().expect("in range"))
        .collect()
}

fn croner_parse(expr: &str) -> Option<croner::Cron> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .build()
        .parse(expr)
        .ok()
}

fn bench_parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    for case in CASES {
        g.bench_function(format!("botman/{}", case.name), |b| {
            b.iter(|| Cron::parse(black_box(case.expr)).expect("valid"))
        });
        if let Some(e) = case
            .cron_crate
            .filter(|e| cron::Schedule::from_str(e).is_ok())
        {
            g.bench_function(format!("cron/{}", case.name), |b| {
                b.iter(|| cron::Schedule::from_str(black_box(e)).expect("valid"))
            });
        }
        if croner_parse(case.expr).is_some() {
            g.bench_function(format!("croner/{}", case.name), |b| {
                b.iter(|| croner_parse(black_box(case.expr)).expect("valid"))
            });
        }
        if let Some(e) = case.saffron.filter(|e| saffron::Cron::from_str(e).is_ok()) {
            g.bench_function(format!("saffron/{}", case.name), |b| {
                b.iter(|| saffron::Cron::from_str(black_box(e)).expect("valid"))
            });
        }
    }
    g.finish();
}

/// Cycles through pre-made instants so no engine benefits from a warm path.
fn cycle<'a, T>(items: &'a [T], i: &mut usize) -> &'a T {
    // A mask, not `%`: a division here would cost as much as some engines.
    *i = (*i + 1) & (items.len() - 1);
    &items[*i]
}

fn bench_next_zone<Z>(c: &mut Criterion, zone_label: &str, tz: &TimeZone, ctz: Z)
where
    Z: chrono::TimeZone + Copy + 'static,
    Z::Offset: Copy,
    DateTime<Z>: croner::CronDateTime,
{
    let secs = random_seconds(INSTANTS, 0xB07_A11);
    let ours = zoned(&secs, tz);
    let theirs = chrono_in(&secs, &ctz);
    let is_utc = zone_label == "utc";

    let mut g = c.benchmark_group(format!("next_after/{zone_label}/random"));
    for case in CASES {
        bench_random(&mut g, case, &ours, &theirs, is_utc, &secs);
    }
    g.finish();

    let mut g = c.benchmark_group(format!("next_after/{zone_label}/chain"));
    for case in CASES {
        // Each chain restarts when it passes 2100, so no engine is timed
        // on centuries nobody schedules in.
        let cron = Cron::parse(case.expr).expect("valid");
        let start = ours[0].clone();
        let horizon = Timestamp::from_second(HORIZON).expect("in range");
        g.bench_function(format!("botman/{}", case.name), |b| {
            let mut t = start.clone();
            b.iter(|| {
                t = match cron.next_after(black_box(&t)) {
                    Some(n) if n.timestamp() < horizon => n,
                    _ => start.clone(),
                };
            })
        });
        if let Some(s) = case
            .cron_crate
            .and_then(|e| cron::Schedule::from_str(e).ok())
        {
            let start = theirs[0];
            g.bench_function(format!("cron/{}", case.name), |b| {
                let mut t = start;
                b.iter(|| {
                    t = s
                        .after(black_box(&t))
                        .next()
                        .filter(|n| n.timestamp() < HORIZON)
                        .unwrap_or(start);
                })
            });
        }
        if let Some(cr) = croner_parse(case.expr) {
            let start = theirs[0];
            g.bench_function(format!("croner/{}", case.name), |b| {
                let mut t = start;
                b.iter(|| {
                    t = cr
                        .find_next_occurrence(black_box(&t), false)
                        .unwrap_or(start);
                })
            });
        }
        if is_utc && let Some(sf) = case.saffron.and_then(|e| saffron::Cron::from_str(e).ok()) {
            let start = Utc.timestamp_opt(secs[0], 0).single().expect("in range");
            g.bench_function(format!("saffron/{}", case.name), |b| {
                let mut t = start;
                b.iter(|| {
                    t = sf
                        .next_after(black_box(t))
                        .filter(|n| n.timestamp() < HORIZON)
                        .unwrap_or(start);
                })
            });
        }
    }
    g.finish();
}

fn bench_random<Z>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    case: &Case,
    ours: &[ZonedDateTime],
    theirs: &[DateTime<Z>],
    is_utc: bool,
    secs: &[i64],
) where
    Z: chrono::TimeZone + Copy + 'static,
    Z::Offset: Copy,
    DateTime<Z>: croner::CronDateTime,
{
    let cron = Cron::parse(case.expr).expect("valid");
    g.bench_function(format!("botman/{}", case.name), |b| {
        let mut i = 0;
        b.iter(|| cron.next_after(black_box(cycle(ours, &mut i))))
    });
    if let Some(s) = case
        .cron_crate
        .and_then(|e| cron::Schedule::from_str(e).ok())
    {
        g.bench_function(format!("cron/{}", case.name), |b| {
            let mut i = 0;
            b.iter(|| s.after(black_box(cycle(theirs, &mut i))).next())
        });
    }
    if let Some(cr) = croner_parse(case.expr) {
        g.bench_function(format!("croner/{}", case.name), |b| {
            let mut i = 0;
            b.iter(|| {
                cr.find_next_occurrence(black_box(cycle(theirs, &mut i)), false)
                    .ok()
            })
        });
    }
    if is_utc && let Some(sf) = case.saffron.and_then(|e| saffron::Cron::from_str(e).ok()) {
        let utc: Vec<DateTime<Utc>> = chrono_in(secs, &Utc);
        g.bench_function(format!("saffron/{}", case.name), |b| {
            let mut i = 0;
            b.iter(|| sf.next_after(black_box(*cycle(&utc, &mut i))))
        });
    }
}

fn bench_next(c: &mut Criterion) {
    bench_next_zone(c, "utc", &TimeZone::UTC, Utc);
    let ny = TimeZone::get("America/New_York").expect("bundled zone");
    bench_next_zone(c, "new_york", &ny, chrono_tz::America::New_York);
}

/// The benchmark's random instants as `Timestamp`s.
fn random_stamps() -> Vec<Timestamp> {
    random_seconds(INSTANTS, 0xB07_A11)
        .iter()
        .map(|&s| Timestamp::from_second(s).expect("in range"))
        .collect()
}

/// The `Timestamp` API schedulers use: no `ZonedDateTime` is built for the
/// result, so this is the engine's own cost per zone.
fn bench_timestamp_api(c: &mut Criterion) {
    let ny = TimeZone::get("America/New_York").expect("bundled zone");
    let stamps = random_stamps();
    for (zone, tz) in [("utc", TimeZone::UTC), ("new_york", ny)] {
        let mut g = c.benchmark_group(format!("next_after_timestamp/{zone}/random"));
        for case in CASES {
            let cron = Cron::parse(case.expr).expect("valid");
            g.bench_function(format!("botman/{}", case.name), |b| {
                let mut i = 0;
                b.iter(|| cron.next_after_timestamp(*black_box(cycle(&stamps, &mut i)), &tz))
            });
        }
        g.finish();
    }
}

/// What jiff alone costs to build the `ZonedDateTime` that `next_after`
/// returns, from an instant: the floor under every `next_after` figure.
/// In New York jiff evaluates the zone's POSIX rule for every instant after
/// the last transition in its data (2038: jiff's `tz-fat` adds transitions
/// up to there to the bundled database, which stops at 2007).
fn bench_result_building(c: &mut Criterion) {
    let ny = TimeZone::get("America/New_York").expect("bundled zone");
    let stamps = random_stamps();
    let mut g = c.benchmark_group("jiff_to_zoned_datetime");
    for (zone, tz) in [("utc", TimeZone::UTC), ("new_york", ny)] {
        g.bench_function(format!("botman/{zone}"), |b| {
            let mut i = 0;
            b.iter(|| black_box(*cycle(&stamps, &mut i)).to_zoned_datetime(tz.clone()))
        });
    }
    g.finish();
}

/// The slowest searches we know of: fires decades apart.
fn bench_worst_case(c: &mut Criterion) {
    let mut g = c.benchmark_group("worst_case");
    let ny = TimeZone::get("America/New_York").expect("bundled zone");
    let secs = random_seconds(INSTANTS, 7);
    for (name, expr) in [
        ("fifth_monday_of_february", "0 12 ? 2 MON#5"),
        ("leap_day_friday", "0 0 29 2 *"),
        ("every_second", "* * * * * *"),
        ("last_second_of_year", "59 59 23 31 12 *"),
    ] {
        let cron = Cron::parse(expr).expect("valid");
        for (zone, tz) in [("utc", TimeZone::UTC), ("new_york", ny.clone())] {
            let starts = zoned(&secs, &tz);
            g.bench_function(format!("botman/{name}/{zone}"), |b| {
                let mut i = 0;
                b.iter(|| cron.next_after(black_box(cycle(&starts, &mut i))))
            });
        }
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(900))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_parse, bench_next, bench_timestamp_api, bench_result_building, bench_worst_case
}
criterion_main!(benches);
