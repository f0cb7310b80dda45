//! Proleptic Gregorian arithmetic on plain integers.
//!
//! The search works on "local seconds": a civil date-time counted in seconds
//! from 1970-01-01T00:00:00 as if the zone had offset zero. Going through
//! jiff's civil types on every step would cost more than the whole search, so
//! the few conversions needed are done here.

pub(crate) const SECS_PER_DAY: i64 = 86_400;

// Neri and Schneider, "Euclidean affine functions and their application to
// calendar algorithms" (2021): unsigned arithmetic on a shifted epoch, with
// every division by a constant, so both directions cost a few multiplies.
// The shift of 82 400-year cycles covers every year jiff can represent.
const SHIFT_CYCLES: u32 = 82;
const K: u32 = 719_468 + 146_097 * SHIFT_CYCLES;
const L: u32 = 400 * SHIFT_CYCLES;

/// Day counts outside this range are beyond jiff's years (±9999) anyway.
pub(crate) const MAX_ABS_DAYS: i64 = 4_000_000;

/// Days since 1970-01-01 of the given civil date. `y` within ±9999.
#[inline]
pub(crate) const fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let j = (m <= 2) as u32;
    let y = (y + L as i32) as u32 - j;
    let m = if j == 1 { m + 12 } else { m };
    let c = y / 100;
    let y_star = 1461 * y / 4 - c + c / 4;
    let m_star = (979 * m - 2919) / 32;
    (y_star + m_star + d - 1) as i64 - K as i64
}

/// The civil date (year, month, day) of a day count since 1970-01-01, for
/// counts within [`MAX_ABS_DAYS`].
#[inline]
pub(crate) const fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let n = (z + K as i64) as u32;
    let n1 = 4 * n + 3;
    let c = n1 / 146_097;
    let nc = n1 % 146_097 / 4;
    let n2 = 4 * nc + 3;
    let p2 = 2_939_745u64 * n2 as u64;
    let z = (p2 >> 32) as u32;
    let ny = (p2 as u32) / 2_939_745 / 4;
    let y = 100 * c + z;
    let n3 = 2141 * ny + 197_913;
    let m = n3 >> 16;
    let d = (n3 & 0xFFFF) / 2141;
    let j = ny >= 306;
    let y = (y as i32 - L as i32) + j as i32;
    let m = if j { m - 12 } else { m };
    (y, m, d + 1)
}

#[inline]
pub(crate) const fn is_leap(y: i32) -> bool {
    // y % 100 != 0 is y % 25 != 0 once y % 4 == 0; y % 400 is y % 16 then.
    (y & 3) == 0 && (y % 25 != 0 || (y & 15) == 0)
}

#[inline]
pub(crate) const fn days_in_month(y: i32, m: u32) -> u32 {
    if m == 2 {
        if is_leap(y) { 29 } else { 28 }
    } else {
        // 31 for Jan, Mar, May, Jul, Aug, Oct, Dec; 30 for the rest.
        30 | (m ^ (m >> 3))
    }
}

/// Weekday of a day count, 0 = Sunday (1970-01-01 was a Thursday).
#[inline]
pub(crate) const fn weekday_from_days(days: i64) -> u32 {
    (days + 4).rem_euclid(7) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_round_trip_days() {
        for z in (-MAX_ABS_DAYS..MAX_ABS_DAYS).step_by(7) {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
            assert!(d >= 1 && d <= days_in_month(y, m));
        }
    }

    #[test]
    fn ok_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(weekday_from_days(days_from_civil(2025, 3, 9)), 0);
        assert_eq!(weekday_from_days(days_from_civil(1969, 12, 31)), 3);
        assert!(is_leap(2000) && !is_leap(2100) && is_leap(2024));
        for y in [-9999, -1, 0, 1, 1900, 2000, 2024, 2100, 9999] {
            for m in 1..=12 {
                let jiff_len = jiff::civil::date(y as i16, m as i8, 1).days_in_month() as u32;
                assert_eq!(days_in_month(y, m), jiff_len, "{y}-{m}");
            }
        }
        assert_eq!(civil_from_days(days_from_civil(-9999, 1, 1)), (-9999, 1, 1));
        assert_eq!(
            civil_from_days(days_from_civil(9999, 12, 31)),
            (9999, 12, 31)
        );
    }

    #[test]
    fn ok_agrees_with_jiff() {
        let epoch = jiff::civil::date(1970, 1, 1);
        for z in (-4_300_000..2_900_000i64).step_by(997) {
            let date = epoch
                .checked_add(jiff::Span::new().days(z))
                .expect("in range");
            let want = (date.year() as i32, date.month() as u32, date.day() as u32);
            assert_eq!(civil_from_days(z), want);
            assert_eq!(
                weekday_from_days(z),
                date.weekday().to_sunday_zero_offset() as u32
            );
        }
    }
}
