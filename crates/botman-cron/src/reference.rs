//! A brute-force reference for the search, for tests only.
//!
//! It shares nothing with the engine but the parsed items: field matching is
//! written again from the items with jiff's calendar, and the DST rules are
//! written from their definition (instant by instant, with jiff deciding what
//! is a gap and what is a fold). The property tests below check that
//! `next_after`/`prev_before` return exactly the first/last instant this
//! reference accepts, and that nothing it accepts lies in between.

use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{Timestamp, ZonedDateTime};
use proptest::prelude::*;

use crate::Cron;
use crate::spec::{Item, Spec};

fn plain_matches(spec: &Spec, v: u32, min: u32, star_max: u32, wrap7: bool) -> bool {
    spec.items.iter().any(|item| {
        let (start, end, step) = match *item {
            Item::All { step } => (min, star_max, u32::from(step)),
            Item::Range { start, end, step } => (u32::from(start), u32::from(end), u32::from(step)),
            _ => return false,
        };
        (start..=end)
            .step_by(step as usize)
            .any(|x| x == v || (wrap7 && x == 7 && v == 0))
    })
}

fn sunday0(wd: Weekday) -> u32 {
    wd.to_sunday_zero_offset() as u32
}

fn dom_matches(spec: &Spec, date: Date) -> bool {
    let d = date.day() as u32;
    let len = date.days_in_month() as u32;
    plain_matches(spec, d, 1, 31, false)
        || spec.items.iter().any(|item| match *item {
            Item::Last { offset } => u32::from(offset) < len && d == len - u32::from(offset),
            Item::NearestWeekday { day } => {
                let day = u32::from(day);
                if day > len {
                    return false;
                }
                let target = date.with().day(day as i8).build().expect("valid day");
                let nearest = match target.weekday() {
                    Weekday::Saturday if day == 1 => day + 2,
                    Weekday::Saturday => day - 1,
                    Weekday::Sunday if day == len => day - 2,
                    Weekday::Sunday => day + 1,
                    _ => day,
                };
                d == nearest
            }
            Item::LastWeekday => {
                let last = date.last_of_month();
                let lw = match last.weekday() {
                    Weekday::Saturday => len - 1,
                    Weekday::Sunday => len - 2,
                    _ => len,
                };
                d == lw
            }
            _ => false,
        })
}

fn dow_matches(spec: &Spec, date: Date) -> bool {
    let wd = sunday0(date.weekday());
    let d = date.day() as u32;
    let len = date.days_in_month() as u32;
    plain_matches(spec, wd, 0, 6, true)
        || spec.items.iter().any(|item| match *item {
            Item::NthWeekday { weekday, nth } => {
                u32::from(weekday) == wd && (d - 1) / 7 + 1 == u32::from(nth)
            }
            Item::LastWeekdayOf { weekday } => u32::from(weekday) == wd && d + 7 > len,
            _ => false,
        })
}

/// Whether a civil date-time matches the expression's fields.
pub(crate) fn civil_matches(cron: &Cron, dt: DateTime) -> bool {
    let s = &cron.spec;
    let second_ok = match &s.second {
        Some(spec) => plain_matches(spec, dt.second() as u32, 0, 59, false),
        None => dt.second() == 0,
    };
    let date = dt.date();
    let dom = dom_matches(&s.dom, date);
    let dow = dow_matches(&s.dow, date);
    let day_ok = if s.dom.star || s.dow.star {
        dom && dow
    } else {
        dom || dow
    };
    second_ok
        && dt.subsec_nanosecond() == 0
        && plain_matches(&s.minute, dt.minute() as u32, 0, 59, false)
        && plain_matches(&s.hour, dt.hour() as u32, 0, 23, false)
        && plain_matches(&s.month, dt.month() as u32, 1, 12, false)
        && day_ok
}

/// The DST rules from their definition: is instant `x` a fire?
pub(crate) fn fires_at(cron: &Cron, tz: &TimeZone, x: Timestamp) -> bool {
    let dt = tz.to_datetime(x);
    if civil_matches(cron, dt) {
        if !cron.is_fixed_time() {
            return true;
        }
        // Fixed-time: only the first occurrence of a repeated local time.
        return match tz.to_ambiguous_timestamp(dt).offset() {
            AmbiguousOffset::Fold { before, .. } => before.to_timestamp(dt).ok() == Some(x),
            _ => true,
        };
    }
    if cron.is_fixed_time() {
        // A transition instant that ends a gap containing a match.
        if let Some(tr) = tz
            .preceding(Timestamp::from_second(x.as_second() + 1).unwrap())
            .next()
            && tr.timestamp() == x
        {
            let before = tz.to_offset(Timestamp::from_second(x.as_second() - 1).unwrap());
            let gap = i64::from(tr.offset().seconds() - before.seconds());
            if gap > 0 {
                let gap_start = before.to_datetime(x);
                return (0..gap).any(|k| {
                    let c = gap_start
                        .checked_add(jiff::SignedDuration::from_secs(k))
                        .unwrap();
                    civil_matches(cron, c)
                });
            }
        }
    }
    false
}

/// The candidate instants to test after/before `t`: every second for
/// 6-field expressions, else whole minutes plus transition instants.
fn brute_next(cron: &Cron, tz: &TimeZone, after: Timestamp, window: i64) -> Option<Timestamp> {
    let step = if cron.has_seconds() { 1 } else { 60 };
    let first = after.as_second() + 1;
    let mut x = if step == 60 {
        first + (60 - first.rem_euclid(60)) % 60
    } else {
        first
    };
    let end = after.as_second() + window;
    let mut transitions: Vec<i64> = tz
        .following(after)
        .take_while(|t| t.timestamp().as_second() <= end)
        .map(|t| t.timestamp().as_second())
        .collect();
    transitions.reverse();
    while x <= end {
        // A transition that is not on a minute still gets checked.
        if let Some(&t) = transitions.last()
            && t < x
        {
            transitions.pop();
            if fires_at(cron, tz, Timestamp::from_second(t).unwrap()) {
                return Timestamp::from_second(t).ok();
            }
            continue;
        }
        let ts = Timestamp::from_second(x).unwrap();
        if fires_at(cron, tz, ts) {
            return Some(ts);
        }
        x += step;
    }
    None
}

fn brute_prev(cron: &Cron, tz: &TimeZone, before: Timestamp, window: i64) -> Option<Timestamp> {
    let step = if cron.has_seconds() { 1 } else { 60 };
    let last = before.as_second() - 1;
    let mut x = if step == 60 {
        last - last.rem_euclid(60)
    } else {
        last
    };
    let end = before.as_second() - window;
    let mut transitions: Vec<i64> = tz
        .preceding(before)
        .take_while(|t| t.timestamp().as_second() >= end)
        .map(|t| t.timestamp().as_second())
        .collect();
    transitions.reverse();
    while x >= end {
        if let Some(&t) = transitions.last()
            && t > x
        {
            transitions.pop();
            if fires_at(cron, tz, Timestamp::from_second(t).unwrap()) {
                return Timestamp::from_second(t).ok();
            }
            continue;
        }
        let ts = Timestamp::from_second(x).unwrap();
        if fires_at(cron, tz, ts) {
            return Some(ts);
        }
        x -= step;
    }
    None
}

const ZONES: [&str; 8] = [
    "UTC",
    "America/New_York",
    "Europe/London",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "America/St_Johns",
];

fn field(lo: u32, hi: u32, names: &'static [&'static str]) -> impl Strategy<Value = String> {
    let v = lo..=hi;
    let name_or_num = move |x: u32| -> String {
        if !names.is_empty() && x.is_multiple_of(3) {
            let i = (x - lo) as usize % names.len();
            names[i].to_owned()
        } else {
            x.to_string()
        }
    };
    prop_oneof![
        3 => Just("*".to_owned()),
        2 => (1..=hi.min(20)).prop_map(|s| format!("*/{s}")),
        2 => v.clone().prop_map(name_or_num),
        2 => (v.clone(), v.clone()).prop_map(move |(a, b)| format!("{}-{}", a.min(b), a.max(b))),
        1 => (v.clone(), v.clone(), 1..=7u32).prop_map(|(a, b, s)| format!("{}-{}/{s}", a.min(b), a.max(b))),
        2 => prop::collection::vec(v.clone(), 1..4).prop_map(|xs| xs.iter().map(u32::to_string).collect::<Vec<_>>().join(",")),
        1 => (v, 1..=10u32).prop_map(|(a, s)| format!("{a}/{s}")),
    ]
}

fn dom_field() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => field(1, 31, &[]),
        1 => Just("?".to_owned()),
        1 => Just("L".to_owned()),
        1 => (1..=6u32).prop_map(|n| format!("L-{n}")),
        1 => (1..=31u32).prop_map(|d| format!("{d}W")),
        1 => Just("LW".to_owned()),
        1 => (1..=31u32).prop_map(|d| format!("L,{d}")),
    ]
}

fn dow_field() -> impl Strategy<Value = String> {
    const DAYS: &[&str] = &["SUN", "mon", "Tue", "WED", "thu", "FRI", "sat"];
    prop_oneof![
        6 => field(0, 7, DAYS),
        1 => Just("?".to_owned()),
        1 => (0..=7u32).prop_map(|d| format!("{d}L")),
        1 => (0..=7u32, 1..=5u32).prop_map(|(d, n)| format!("{d}#{n}")),
        1 => (0..=6u32, 1..=5u32, 0..=6u32).prop_map(|(d, n, e)| format!("{d}#{n},{e}")),
    ]
}

fn expression() -> impl Strategy<Value = String> {
    const MONTHS: &[&str] = &[
        "JAN", "feb", "Mar", "APR", "may", "JUN", "jul", "AUG", "sep", "OCT", "nov", "DEC",
    ];
    (
        prop::option::weighted(0.25, field(0, 59, &[])),
        field(0, 59, &[]),
        field(0, 23, &[]),
        dom_field(),
        prop_oneof![3 => Just("*".to_owned()), 1 => field(1, 12, MONTHS)],
        dow_field(),
    )
        .prop_map(|(s, mi, h, dom, mo, dow)| match s {
            Some(s) => format!("{s} {mi} {h} {dom} {mo} {dow}"),
            None => format!("{mi} {h} {dom} {mo} {dow}"),
        })
}

/// A zone and an instant near one of its transitions (or anywhere in UTC).
fn instant() -> impl Strategy<Value = (TimeZone, Timestamp)> {
    (
        0..ZONES.len(),
        0..500usize,
        -3 * 86_400i64..3 * 86_400,
        946_684_800i64..8_000_000_000,
    )
        .prop_map(|(zi, k, delta, anywhere)| {
            let tz = TimeZone::get(ZONES[zi]).expect("bundled zone");
            let from = Timestamp::from_second(946_684_800).unwrap();
            let base = tz
                .following(from)
                .nth(k)
                .map_or(anywhere, |t| t.timestamp().as_second());
            (tz, Timestamp::from_second(base + delta).unwrap())
        })
}

/// Expressions aimed at the hours where transitions happen (00:00-03:59).
fn dst_expression() -> impl Strategy<Value = String> {
    let hour = prop_oneof![
        (0..=3u32).prop_map(|h| h.to_string()),
        (0..=3u32, 0..=3u32).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b))),
        (0..=3u32, 0..=3u32).prop_map(|(a, b)| format!("{a},{b}")),
        Just("*".to_owned()),
        Just("*/2".to_owned()),
    ];
    let minute = prop_oneof![
        (0..=59u32).prop_map(|m| m.to_string()),
        (0..=59u32, 0..=59u32).prop_map(|(a, b)| format!("{a},{b}")),
        (1..=30u32).prop_map(|s| format!("*/{s}")),
        (0..=59u32, 1..=30u32).prop_map(|(a, s)| format!("{a}/{s}")),
    ];
    let second = prop::option::weighted(
        0.2,
        prop_oneof![
            Just("0".to_owned()),
            Just("*/20".to_owned()),
            Just("59".to_owned())
        ],
    );
    (
        second,
        minute,
        hour,
        prop_oneof![6 => Just("*"), 1 => Just("1-7"), 1 => Just("L")],
        prop_oneof![6 => Just("*"), 1 => Just("0")],
    )
        .prop_map(|(s, mi, h, dom, dow)| match s {
            Some(s) => format!("{s} {mi} {h} {dom} * {dow}"),
            None => format!("{mi} {h} {dom} * {dow}"),
        })
}

/// A zone with DST and an instant within three hours of one of its transitions.
fn near_transition() -> impl Strategy<Value = (TimeZone, Timestamp)> {
    (1..ZONES.len(), 0..500usize, -3 * 3600i64..3 * 3600).prop_filter_map(
        "zone without transitions",
        |(zi, k, delta)| {
            let tz = TimeZone::get(ZONES[zi]).expect("bundled zone");
            let from = Timestamp::from_second(946_684_800).unwrap();
            let t = tz.following(from).nth(k)?.timestamp().as_second();
            Some((tz, Timestamp::from_second(t + delta).unwrap()))
        },
    )
}

fn window_for(cron: &Cron) -> i64 {
    if cron.has_seconds() {
        4 * 3600
    } else {
        8 * 86_400
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn prop_next_after_is_first_match((expr, (tz, after)) in (expression(), instant())) {
        let Ok(cron) = Cron::parse(&expr) else { return Ok(()) };
        let window = window_for(&cron);
        let want = brute_next(&cron, &tz, after, window);
        let got = cron.next_after_timestamp(after, &tz);
        match want {
            Some(w) => prop_assert_eq!(got, Some(w), "{} in {:?} after {}", expr, tz.iana_name(), after),
            None => prop_assert!(
                got.is_none_or(|g| g.as_second() > after.as_second() + window),
                "{} in {:?} after {}: engine says {:?}, reference saw nothing", expr, tz.iana_name(), after, got
            ),
        }
    }

    #[test]
    fn prop_prev_before_is_last_match((expr, (tz, before)) in (expression(), instant())) {
        let Ok(cron) = Cron::parse(&expr) else { return Ok(()) };
        let window = window_for(&cron);
        let want = brute_prev(&cron, &tz, before, window);
        let got = cron.prev_before_timestamp(before, &tz);
        match want {
            Some(w) => prop_assert_eq!(got, Some(w), "{} in {:?} before {}", expr, tz.iana_name(), before),
            None => prop_assert!(
                got.is_none_or(|g| g.as_second() < before.as_second() - window),
                "{} in {:?} before {}: engine says {:?}", expr, tz.iana_name(), before, got
            ),
        }
    }

    #[test]
    fn prop_dst_next_after((expr, (tz, after)) in (dst_expression(), near_transition())) {
        let cron = Cron::parse(&expr).expect("valid by construction");
        let window = 3 * 86_400;
        let want = brute_next(&cron, &tz, after, window);
        let got = cron.next_after_timestamp(after, &tz);
        match want {
            Some(w) => prop_assert_eq!(got, Some(w), "{} in {:?} after {}", expr, tz.iana_name(), after),
            None => prop_assert!(got.is_none_or(|g| g.as_second() > after.as_second() + window)),
        }
    }

    #[test]
    fn prop_dst_prev_before((expr, (tz, before)) in (dst_expression(), near_transition())) {
        let cron = Cron::parse(&expr).expect("valid by construction");
        let window = 3 * 86_400;
        let want = brute_prev(&cron, &tz, before, window);
        let got = cron.prev_before_timestamp(before, &tz);
        match want {
            Some(w) => prop_assert_eq!(got, Some(w), "{} in {:?} before {}", expr, tz.iana_name(), before),
            None => prop_assert!(got.is_none_or(|g| g.as_second() < before.as_second() - window)),
        }
    }

    /// Fires months or years apart in zones with DST: the forward search
    /// jumps over transitions; the backward one walks them one by one, and
    /// the reference judges the instant itself.
    #[test]
    fn prop_rare_fires_agree_both_ways(
        expr in prop_oneof![
            (0..60u32, 0..24u32, 1..29u32, 1..13u32).prop_map(|(mi, h, d, mo)| format!("{mi} {h} {d} {mo} *")),
            (0..60u32, 0..4u32).prop_map(|(mi, h)| format!("{mi} {h} 29 2 *")),
            (0..60u32).prop_map(|mi| format!("{mi} * 29 2 *")),
            (0..60u32, 0..24u32).prop_map(|(mi, h)| format!("{mi} {h} * 2 MON#5")),
            Just("*/30 1-3 31 * *".to_owned()),
        ],
        zi in 1..ZONES.len(),
        secs in -631_152_000i64..8_000_000_000,
    ) {
        let cron = Cron::parse(&expr).expect("valid by construction");
        let tz = TimeZone::get(ZONES[zi]).expect("bundled zone");
        let after = Timestamp::from_second(secs).unwrap();
        if let Some(next) = cron.next_after_timestamp(after, &tz) {
            prop_assert!(next > after);
            prop_assert!(fires_at(&cron, &tz, next), "{} in {:?}: {} is not a fire", expr, tz.iana_name(), next);
            let back = cron.prev_before_timestamp(next, &tz);
            prop_assert!(back.is_none_or(|b| b <= after), "{} in {:?} after {}: fire {:?} before {}", expr, tz.iana_name(), after, back, next);
        }
    }

    #[test]
    fn prop_display_round_trips(expr in expression()) {
        if let Ok(cron) = Cron::parse(&expr) {
            let shown = cron.to_string();
            let again = Cron::parse(&shown).expect("Display parses back");
            prop_assert_eq!(&again, &cron);
            prop_assert_eq!(again.to_string(), shown);
        }
    }

    #[test]
    fn prop_matches_agrees_with_reference((expr, (tz, at)) in (expression(), instant())) {
        let Ok(cron) = Cron::parse(&expr) else { return Ok(()) };
        let zoned = ZonedDateTime::new(at, tz.clone());
        prop_assert_eq!(cron.matches(&zoned), fires_at(&cron, &tz, at), "{} at {}", expr, zoned);
    }
}
