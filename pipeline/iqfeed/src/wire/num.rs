//! Numbers, dates and times as IQFeed writes them, parsed and formatted without allocation.
//!
//! Prices are decimals (`190.1200`, `96.07`, `-0.5`); IQFeed's own precision varies, so any
//! decimal form parses. A decimal with at most 15 significant digits converts exactly as
//! `mantissa / 10^scale`, which is the correctly rounded `f64`: the same value `str::parse`
//! gives, at a fraction of the cost. Times are US Eastern without a zone marker; [`Eastern`]
//! turns them into UTC nanoseconds with a per-day cache.

use chrono::{NaiveDate, NaiveTime};
use xlfeed_core::calendar::new_york_to_utc_ns;

/// Powers of ten exact in an `f64`.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// An unsigned integer of 1 to 19 digits.
#[inline]
pub fn parse_u64(f: &[u8]) -> Option<u64> {
    if f.is_empty() || f.len() > 19 {
        return None;
    }
    let mut v: u64 = 0;
    for &b in f {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + u64::from(d);
    }
    Some(v)
}

/// A signed integer (`-` allowed).
#[inline]
pub fn parse_i64(f: &[u8]) -> Option<i64> {
    match f {
        [b'-', rest @ ..] => parse_u64(rest)
            .and_then(|v| i64::try_from(v).ok())
            .map(|v| -v),
        _ => parse_u64(f).and_then(|v| i64::try_from(v).ok()),
    }
}

/// A decimal number: `[-]digits[.digits]`, or `.5`; nothing else.
#[inline]
pub fn parse_decimal(f: &[u8]) -> Option<f64> {
    let (neg, body) = match f {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, f),
    };
    if body.is_empty() {
        return None;
    }
    let mut mantissa: u64 = 0;
    let mut digits = 0usize;
    let mut scale = 0usize;
    let mut dot = false;
    for &b in body {
        if b == b'.' {
            if dot {
                return None;
            }
            dot = true;
            continue;
        }
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        if digits < 19 {
            mantissa = mantissa * 10 + u64::from(d);
            if mantissa != 0 {
                digits += 1;
            }
            if dot {
                scale += 1;
            }
        } else {
            // Too many digits for the fast path: let the standard parser round it.
            return std::str::from_utf8(f).ok()?.parse().ok();
        }
    }
    if dot && body.len() == 1 {
        return None;
    }
    let v = if mantissa < (1 << 53) && scale < POW10.len() {
        mantissa as f64 / POW10[scale]
    } else {
        return std::str::from_utf8(f).ok()?.parse().ok();
    };
    Some(if neg { -v } else { v })
}

/// Appends `v` with exactly `decimals` digits after the point (IQFeed writes 4 for prices).
pub fn write_decimal(out: &mut Vec<u8>, v: f64, decimals: usize) {
    let decimals = decimals.min(9);
    let scaled = (v * POW10[decimals]).round();
    if !scaled.is_finite() || scaled.abs() >= 9.0e18 {
        out.extend_from_slice(format!("{v:.decimals$}").as_bytes());
        return;
    }
    let scaled = scaled as i64;
    // Composed right to left in one buffer, then appended at once.
    let mut buf = [0u8; 32];
    let mut i = buf.len();
    let mut rest = scaled.unsigned_abs();
    if decimals > 0 {
        for _ in 0..decimals {
            i -= 1;
            buf[i] = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        i -= 1;
        buf[i] = b'.';
    }
    let mut int = [0u8; 24];
    let digits = digits_of(rest, &mut int);
    i -= digits.len();
    buf[i..i + digits.len()].copy_from_slice(digits);
    if scaled < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends an integer.
pub fn write_u64(out: &mut Vec<u8>, v: u64) {
    let mut buf = [0u8; 24];
    out.extend_from_slice(digits_of(v, &mut buf));
}

/// Appends a signed integer.
pub fn write_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    write_u64(out, v.unsigned_abs());
}

/// `00` to `99`, two bytes each: integers are written two digits per division.
const DIGIT_PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// The decimal digits of `v`, written at the end of `buf`.
#[inline]
fn digits_of(mut v: u64, buf: &mut [u8; 24]) -> &[u8] {
    let mut i = buf.len();
    while v >= 100 {
        let pair = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if v >= 10 {
        let pair = v as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + v as u8;
    }
    &buf[i..]
}

fn two(b: &[u8]) -> Option<u32> {
    match b {
        [a, c] if a.is_ascii_digit() && c.is_ascii_digit() => {
            Some(u32::from(a - b'0') * 10 + u32::from(c - b'0'))
        }
        _ => None,
    }
}

/// `YYYY-MM-DD` as `yyyymmdd`, checked to be a calendar date.
#[inline]
pub fn parse_date(f: &[u8]) -> Option<u32> {
    if f.len() != 10 || f[4] != b'-' || f[7] != b'-' {
        return None;
    }
    let y = two(&f[0..2])? * 100 + two(&f[2..4])?;
    let (m, d) = (two(&f[5..7])?, two(&f[8..10])?);
    NaiveDate::from_ymd_opt(y as i32, m, d)?;
    Some(y * 10_000 + m * 100 + d)
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]` as (`yyyymmdd`, microseconds since midnight).
#[inline]
pub fn parse_datetime(f: &[u8]) -> Option<(u32, i64)> {
    Eastern::new().parse_datetime(f)
}

/// `YYYY-MM-DD` of a `yyyymmdd` date.
#[inline]
fn date_bytes(yyyymmdd: u32) -> [u8; 10] {
    let (y, m, d) = (yyyymmdd / 10_000, (yyyymmdd / 100) % 100, yyyymmdd % 100);
    let digit = |v: u32| b'0' + (v % 10) as u8;
    [
        digit(y / 1000),
        digit(y / 100),
        digit(y / 10),
        digit(y),
        b'-',
        digit(m / 10),
        digit(m),
        b'-',
        digit(d / 10),
        digit(d),
    ]
}

/// Appends `YYYY-MM-DD`.
pub fn write_date(out: &mut Vec<u8>, yyyymmdd: u32) {
    out.extend_from_slice(&date_bytes(yyyymmdd));
}

/// Appends `YYYY-MM-DD HH:MM:SS` and, when `fraction`, `.ffffff`.
#[inline]
pub fn write_datetime(out: &mut Vec<u8>, yyyymmdd: u32, micros: i64, fraction: bool) {
    let mut t = [0u8; 26];
    t[..10].copy_from_slice(&date_bytes(yyyymmdd));
    let secs = micros.div_euclid(1_000_000);
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    t[10..19].copy_from_slice(b" 00:00:00");
    for (i, v) in [(11, h), (14, m), (17, s)] {
        t[i] = b'0' + (v / 10 % 10) as u8;
        t[i + 1] = b'0' + (v % 10) as u8;
    }
    if !fraction {
        out.extend_from_slice(&t[..19]);
        return;
    }
    t[19] = b'.';
    let mut f = micros.rem_euclid(1_000_000);
    for slot in t[20..].iter_mut().rev() {
        *slot = b'0' + (f % 10) as u8;
        f /= 10;
    }
    out.extend_from_slice(&t);
}

/// US Eastern wall-clock times to UTC nanoseconds, caching each day's offset.
#[derive(Debug, Default, Clone)]
pub struct Eastern {
    /// The cached day and the UTC nanoseconds of its local midnight, when the day has one
    /// offset all day (not a DST change day).
    cached: Option<(u32, i64)>,
    /// The text of the last `YYYY-MM-DD` parsed by [`Eastern::parse_datetime`] and its day.
    last_date: Option<([u8; 10], u32)>,
}

impl Eastern {
    /// A converter with an empty cache.
    pub fn new() -> Eastern {
        Eastern::default()
    }

    /// Parses `YYYY-MM-DD HH:MM:SS[.ffffff]` like [`parse_datetime`], validating the date
    /// part only when it differs from the previous call's (consecutive ticks share a day).
    #[inline]
    pub fn parse_datetime(&mut self, f: &[u8]) -> Option<(u32, i64)> {
        if f.len() < 19 || f[10] != b' ' || f[13] != b':' || f[16] != b':' {
            return None;
        }
        let date = self.day(&f[..10])?;
        let (h, m, s) = (two(&f[11..13])?, two(&f[14..16])?, two(&f[17..19])?);
        if h > 23 || m > 59 || s > 59 {
            return None;
        }
        let mut micros = i64::from((h * 60 + m) * 60 + s) * 1_000_000;
        match &f[19..] {
            [] => {}
            [b'.', frac @ ..] if !frac.is_empty() && frac.len() <= 6 => {
                let v = parse_u64(frac)? as i64;
                micros += v * [0, 100_000, 10_000, 1_000, 100, 10, 1][frac.len()];
            }
            _ => return None,
        }
        Some((date, micros))
    }

    /// The `yyyymmdd` of a `YYYY-MM-DD` text, parsed only when it differs from the previous
    /// call's (consecutive ticks share a day).
    #[inline]
    pub fn day(&mut self, text: &[u8]) -> Option<u32> {
        match self.last_date {
            Some((last, day)) if text == last => Some(day),
            _ => {
                let day = parse_date(text)?;
                self.last_date = Some((text.try_into().ok()?, day));
                Some(day)
            }
        }
    }

    /// UTC nanoseconds of `micros` after midnight New York time on `yyyymmdd`; `None` for a
    /// local time that does not exist (in the spring-forward gap).
    #[inline]
    pub fn to_utc_ns(&mut self, yyyymmdd: u32, micros: i64) -> Option<i64> {
        if let Some((day, midnight)) = self.cached
            && day == yyyymmdd
        {
            return Some(midnight + micros * 1_000);
        }
        let date = NaiveDate::from_ymd_opt(
            (yyyymmdd / 10_000) as i32,
            (yyyymmdd / 100) % 100,
            yyyymmdd % 100,
        )?;
        let at = |h: u32| new_york_to_utc_ns(date.and_time(NaiveTime::from_hms_opt(h, 0, 0)?));
        let midnight = at(0)?;
        let noon = at(12)?;
        if noon - midnight == 12 * 3_600_000_000_000 {
            self.cached = Some((yyyymmdd, midnight));
            return Some(midnight + micros * 1_000);
        }
        // A DST change day: convert this time on its own.
        let secs = micros.div_euclid(1_000_000);
        let nanos = micros.rem_euclid(1_000_000) * 1_000;
        let t = NaiveTime::from_num_seconds_from_midnight_opt(u32::try_from(secs).ok()?, 0)?;
        new_york_to_utc_ns(date.and_time(t)).map(|ns| ns + nanos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decimals_parse_like_std() {
        for s in [
            "190.1200",
            "96.07",
            "0",
            "-0.5",
            ".5",
            "123456789.123456",
            "1e5x",
        ] {
            let want = s.parse::<f64>().ok().filter(|_| !s.contains('e'));
            assert_eq!(parse_decimal(s.as_bytes()), want, "{s}");
        }
        assert_eq!(parse_decimal(b""), None);
        assert_eq!(parse_decimal(b"."), None);
        assert_eq!(parse_decimal(b"1.2.3"), None);
        assert_eq!(parse_decimal(b"-"), None);
    }

    #[test]
    fn decimals_format_with_fixed_places() {
        let f = |v: f64, d: usize| {
            let mut o = Vec::new();
            write_decimal(&mut o, v, d);
            String::from_utf8(o).unwrap()
        };
        assert_eq!(f(190.12, 4), "190.1200");
        assert_eq!(f(0.05, 4), "0.0500");
        assert_eq!(f(-1.5, 2), "-1.50");
        assert_eq!(f(7.0, 0), "7");
        assert_eq!(f(0.0, 2), "0.00");
    }

    #[test]
    fn timestamps_parse_and_convert() {
        let (d, us) = parse_datetime(b"2024-01-02 09:30:00.123456").unwrap();
        assert_eq!((d, us), (20240102, 34_200_123_456));
        let mut e = Eastern::new();
        // 09:30 EST is 14:30 UTC.
        assert_eq!(e.to_utc_ns(d, us).unwrap(), 1_704_205_800_123_456_000);
        // Summer: 09:30 EDT is 13:30 UTC.
        let (d, us) = parse_datetime(b"2024-07-01 09:30:00").unwrap();
        assert_eq!(e.to_utc_ns(d, us).unwrap(), 1_719_840_600_000_000_000);
        assert!(parse_datetime(b"2024-02-30 09:30:00").is_none());
        assert!(parse_datetime(b"2024-01-02 24:00:00").is_none());
        assert!(parse_datetime(b"2024-01-02 09:30:00.").is_none());
        assert!(parse_datetime(b"2024-01-02T09:30:00").is_none());
        // A DST change day converts hour by hour: 2024-03-10 03:30 EDT is 07:30 UTC.
        assert_eq!(
            e.to_utc_ns(20240310, 3 * 3_600_000_000 + 1_800_000_000)
                .unwrap(),
            1_710_055_800_000_000_000
        );
    }

    proptest! {
        #[test]
        fn decimal_round_trip(cents in -10_000_000_000i64..10_000_000_000, d in 0usize..7) {
            let v = cents as f64 / 100.0;
            let mut o = Vec::new();
            write_decimal(&mut o, v, d.max(2));
            prop_assert_eq!(parse_decimal(&o), Some(v));
        }

        #[test]
        fn datetime_round_trip(days in 0u32..40_000, micros in 0i64..86_400_000_000) {
            let date = NaiveDate::from_ymd_opt(1990, 1, 1).unwrap() + chrono::Days::new(u64::from(days));
            let ymd = chrono::Datelike::year(&date) as u32 * 10_000 + chrono::Datelike::month(&date) * 100 + chrono::Datelike::day(&date);
            let mut o = Vec::new();
            write_datetime(&mut o, ymd, micros, true);
            prop_assert_eq!(parse_datetime(&o), Some((ymd, micros)));
        }

        #[test]
        fn number_parsers_never_panic(b in proptest::collection::vec(any::<u8>(), 0..30)) {
            let _ = parse_decimal(&b);
            let _ = parse_i64(&b);
            let _ = parse_datetime(&b);
        }
    }
}
