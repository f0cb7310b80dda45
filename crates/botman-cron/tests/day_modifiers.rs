//! Every day modifier against every shape of month.
//!
//! A month's days are fixed by two numbers: the weekday of its 1st (7) and its
//! length (28-31). For each of the 28 shapes this picks a real month in UTC and
//! checks `dW` (d = 1-31), `LW`, `L`/`L-n` (n = 0-30), `w#k` (w = 0-7,
//! k = 1-5) and `wL` (w = 0-7) against the day computed here by plain
//! arithmetic on day numbers, from the definitions in the crate docs. The
//! property tests sample months at random; a rule that goes wrong in one shape
//! only (`2W` when the 2nd is a Saturday) is found here for sure.

use botman_cron::Cron;
use botman_cron::jiff::civil::{Date, date};
use botman_cron::jiff::tz::TimeZone;
use botman_cron::jiff::{ToSpan, ZonedDateTime};

/// Weekday of day `d` in a month whose 1st has weekday `w1` (0 = Sunday).
fn weekday(w1: u32, d: u32) -> u32 {
    (w1 + d - 1) % 7
}

/// Monday to Friday.
fn is_weekday(w1: u32, d: u32) -> bool {
    (1..=5).contains(&weekday(w1, d))
}

/// `dW`: the weekday of the same month nearest to day `d`; nothing when the
/// month has no day `d`.
fn nearest_weekday(w1: u32, len: u32, d: u32) -> Option<u32> {
    if d > len {
        return None;
    }
    let best = (1..=len)
        .filter(|&c| is_weekday(w1, c))
        .map(|c| c.abs_diff(d))
        .min()?;
    // A weekend is two days long, so the nearest weekday is never a tie.
    let nearest: Vec<u32> = (1..=len)
        .filter(|&c| is_weekday(w1, c) && c.abs_diff(d) == best)
        .collect();
    assert_eq!(nearest.len(), 1, "a tie for {d}W");
    Some(nearest[0])
}

/// `LW`: the last weekday of the month.
fn last_weekday(w1: u32, len: u32) -> Option<u32> {
    (1..=len).rev().find(|&d| is_weekday(w1, d))
}

/// `L-n`: `n` days before the last day, if that is still in the month.
fn last_minus(len: u32, n: u32) -> Option<u32> {
    len.checked_sub(n).filter(|&d| d >= 1)
}

/// `w#k`: the `k`-th day of the month with weekday `w` (7 is Sunday too).
fn nth_weekday(w1: u32, len: u32, w: u32, k: u32) -> Option<u32> {
    (1..=len)
        .filter(|&d| weekday(w1, d) == w % 7)
        .nth(k as usize - 1)
}

/// `wL`: the last day of the month with weekday `w`.
fn last_weekday_of(w1: u32, len: u32, w: u32) -> Option<u32> {
    (1..=len).rev().find(|&d| weekday(w1, d) == w % 7)
}

/// The first month from 2001 on whose 1st has weekday `w1` and that has `len`
/// days (every shape occurs within 28 years, February 29 included).
fn month_with(w1: u32, len: u32) -> Date {
    (2001..2100)
        .flat_map(|y| (1..=12).map(move |m| date(y, m, 1)))
        .find(|d| {
            d.weekday().to_sunday_zero_offset() as u32 == w1 && d.days_in_month() as u32 == len
        })
        .expect("every month shape occurs within 28 years")
}

fn midnight_utc(d: Date) -> ZonedDateTime {
    d.to_zoned_datetime(TimeZone::UTC).expect("in range")
}

/// Compares the engine with `want` in the month starting at `first`: the
/// first fire after the previous month's last day, the fire after that, and
/// the last fire before the next month.
fn check(expr: &str, first: Date, want: Option<u32>, failures: &mut Vec<String>) {
    let cron = Cron::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
    let len = first.days_in_month() as u32;
    let next_month = first.checked_add(1.month()).unwrap();
    let shape = format!(
        "{expr} in {} (1st a {:?}, {len} days)",
        first.strftime("%Y-%m"),
        first.weekday()
    );
    let want_fire = want.map(|d| midnight_utc(first.with().day(d as i8).build().unwrap()));

    let after = midnight_utc(first.yesterday().unwrap());
    let next = cron.next_after(&after);
    let first_fire = next.clone().filter(|z| z.date() < next_month);
    if first_fire != want_fire {
        failures.push(format!(
            "{shape}: want {want_fire:?}, next after {after} is {next:?}"
        ));
        return;
    }
    if let Some(fire) = &first_fire {
        // One fire in the month, not two.
        let again = cron.next_after(fire);
        if again.as_ref().is_some_and(|z| z.date() < next_month) {
            failures.push(format!("{shape}: a second fire at {again:?}"));
        }
    }
    let before = midnight_utc(next_month);
    let prev = cron.prev_before(&before);
    let last_fire = prev.clone().filter(|z| z.date() >= first);
    if last_fire != want_fire {
        failures.push(format!(
            "{shape}: want {want_fire:?}, prev before {before} is {prev:?}"
        ));
    }
}

/// Runs `cases` (expression, expected day) over all 28 month shapes.
fn over_all_shapes(cases: impl Fn(u32, u32) -> Vec<(String, Option<u32>)>) {
    let mut failures = Vec::new();
    let mut checked = 0;
    for w1 in 0..7 {
        for len in 28..=31 {
            let first = month_with(w1, len);
            for (expr, want) in cases(w1, len) {
                check(&expr, first, want, &mut failures);
                checked += 1;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn ok_month_shapes_are_real() {
    for w1 in 0..7 {
        for len in 28..=31 {
            let first = month_with(w1, len);
            assert_eq!(first.day(), 1);
            assert_eq!(first.weekday().to_sunday_zero_offset() as u32, w1);
            assert_eq!(first.days_in_month() as u32, len);
        }
    }
}

#[test]
fn ok_definitions_by_hand() {
    // 2025-11 starts on a Saturday and has 30 days: 1W is Monday the 3rd
    // (never Friday October 31st), 2W (a Sunday) Monday the 3rd, 8W (a
    // Saturday) Friday the 7th, 30W (a Sunday and the last day) Friday the
    // 28th, and there is no 31W.
    assert_eq!(nearest_weekday(6, 30, 1), Some(3));
    assert_eq!(nearest_weekday(6, 30, 2), Some(3));
    assert_eq!(nearest_weekday(6, 30, 8), Some(7));
    assert_eq!(nearest_weekday(6, 30, 30), Some(28));
    assert_eq!(nearest_weekday(6, 30, 31), None);
    // A month starting on a Friday: the 2nd is a Saturday, 2W is Friday the 1st.
    assert_eq!(nearest_weekday(5, 31, 2), Some(1));
    assert_eq!(last_weekday(6, 30), Some(28));
    assert_eq!(last_minus(30, 0), Some(30));
    assert_eq!(last_minus(30, 29), Some(1));
    assert_eq!(last_minus(30, 30), None);
    assert_eq!(nth_weekday(6, 30, 6, 5), Some(29));
    assert_eq!(nth_weekday(6, 30, 0, 5), Some(30));
    assert_eq!(nth_weekday(6, 30, 1, 5), None);
    assert_eq!(nth_weekday(6, 30, 7, 1), Some(2));
    assert_eq!(last_weekday_of(6, 30, 5), Some(28));
}

#[test]
fn ok_nearest_weekday_every_day_every_month_shape() {
    over_all_shapes(|w1, len| {
        (1..=31)
            .map(|d| (format!("0 0 {d}W * *"), nearest_weekday(w1, len, d)))
            .collect()
    });
}

#[test]
fn ok_last_weekday_every_month_shape() {
    over_all_shapes(|w1, len| {
        vec![
            ("0 0 LW * *".to_owned(), last_weekday(w1, len)),
            ("0 0 lw * *".to_owned(), last_weekday(w1, len)),
        ]
    });
}

#[test]
fn ok_last_minus_n_every_month_shape() {
    over_all_shapes(|_, len| {
        let mut cases: Vec<_> = (0..=30)
            .map(|n| (format!("0 0 L-{n} * *"), last_minus(len, n)))
            .collect();
        cases.push(("0 0 L * *".to_owned(), last_minus(len, 0)));
        cases
    });
}

#[test]
fn ok_nth_weekday_every_month_shape() {
    over_all_shapes(|w1, len| {
        (0..=7)
            .flat_map(|w| (1..=5).map(move |k| (w, k)))
            .map(|(w, k)| (format!("0 0 * * {w}#{k}"), nth_weekday(w1, len, w, k)))
            .collect()
    });
}

#[test]
fn ok_last_weekday_of_every_month_shape() {
    over_all_shapes(|w1, len| {
        (0..=7)
            .map(|w| (format!("0 0 * * {w}L"), last_weekday_of(w1, len, w)))
            .collect()
    });
}
