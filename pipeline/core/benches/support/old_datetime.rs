//! Shared by the `datetime` bench and the `datetime_once` example: the tick importer's
//! date-time parser as it was before `xlfeed_core::datetime` (verbatim but for names:
//! `import::ticks::parse_datetime` over `import::table::parse_date` over
//! `TradingDay::parse`), and the lines both parse.

#![allow(dead_code)]

/// The parser as it was.
pub(crate) mod old {
    use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
    use xlfeed_core::{ParseError, TradingDay, quoted as core_quoted};

    /// `TradingDay::parse` before: `YYYY-MM-DD` or `YYYYMMDD`.
    pub(crate) fn trading_day_parse(s: &str) -> Result<TradingDay, ParseError> {
        let t = s.trim();
        let bad = || {
            ParseError::new(format!(
                "date {} is not YYYY-MM-DD or YYYYMMDD",
                core_quoted(t)
            ))
        };
        let digits = |r: &str| -> Result<u32, ParseError> {
            if r.is_empty() || !r.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            r.parse().map_err(|_| bad())
        };
        let (y, m, d) = match t.len() {
            10 if t.as_bytes()[4] == b'-' && t.as_bytes()[7] == b'-' => {
                (digits(&t[0..4])?, digits(&t[5..7])?, digits(&t[8..10])?)
            }
            8 if t.is_ascii() => (digits(&t[0..4])?, digits(&t[4..6])?, digits(&t[6..8])?),
            _ => return Err(bad()),
        };
        TradingDay::from_ymd(y as i32, m, d)
    }

    /// Quotes a value for a message.
    fn quoted(s: &str) -> String {
        format!("{s:?}")
    }

    /// Parses a date: `YYYY-MM-DD`, `YYYYMMDD`, `YYYY/MM/DD` or US `MM/DD/YYYY` (`M/D/YYYY`),
    /// optionally followed by a midnight time (`2024-01-02 00:00:00`, as pandas writes dates).
    pub(crate) fn parse_date(t: &str) -> Result<TradingDay, String> {
        let t = t.trim();
        let bad = || {
            format!(
                "{} is not a date (YYYY-MM-DD, YYYYMMDD or MM/DD/YYYY)",
                quoted(t)
            )
        };
        let date_part = match t.find([' ', 'T']) {
            Some(i) => {
                let rest = t[i + 1..].trim();
                if !rest
                    .trim_end_matches('Z')
                    .chars()
                    .all(|c| matches!(c, '0' | ':' | '.'))
                {
                    return Err(format!("{} is a date-time, not a date", quoted(t)));
                }
                &t[..i]
            }
            None => t,
        };
        if date_part.contains('/') {
            let parts: Vec<&str> = date_part.split('/').collect();
            let num = |s: &str| -> Result<u32, String> {
                if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                s.parse().map_err(|_| bad())
            };
            let (y, m, d) = match parts.as_slice() {
                [y, m, d] if y.len() == 4 => (num(y)?, num(m)?, num(d)?),
                [m, d, y] if y.len() == 4 && m.len() <= 2 && d.len() <= 2 => {
                    (num(y)?, num(m)?, num(d)?)
                }
                _ => return Err(bad()),
            };
            return TradingDay::from_ymd(y as i32, m, d).map_err(|e| e.to_string());
        }
        match trading_day_parse(date_part) {
            Ok(d) => Ok(d),
            Err(e) if e.to_string().contains("calendar date") => Err(e.to_string()),
            Err(e) if e.to_string().contains("outside") => Err(e.to_string()),
            Err(_) => Err(bad()),
        }
    }

    /// Parses a date-time: `YYYY-MM-DD HH:MM[:SS[.f]]`, `T` for the space, then optionally `Z`
    /// or an offset (`-05:00`, `+0100`, `-05`). Returns the wall-clock time and the offset in
    /// seconds east of UTC, if one was written.
    pub(crate) fn parse_datetime(t: &str) -> Result<(NaiveDateTime, Option<i32>), String> {
        let bad = || {
            format!(
                "{t:?} is not a date-time (YYYY-MM-DD HH:MM:SS[.fff], optionally with Z or an offset)"
            )
        };
        let t = t.trim();
        let Some(i) = t.find([' ', 'T']) else {
            return Err(bad());
        };
        let day: NaiveDate = parse_date(&t[..i]).map_err(|_| bad())?.date();
        let (time, offset) = parse_clock(t[i + 1..].trim_start()).map_err(|_| bad())?;
        Ok((day.and_time(time), offset))
    }

    /// Parses a time of day `HH:MM[:SS[.f{1,9}]]` with an optional `Z` or offset.
    pub(crate) fn parse_clock(t: &str) -> Result<(NaiveTime, Option<i32>), String> {
        let bad = || format!("{t:?} is not a time of day (HH:MM:SS[.fff])");
        let b = t.trim().as_bytes();
        let two = |i: usize| -> Option<u32> {
            let (h, l) = (*b.get(i)?, *b.get(i + 1)?);
            (h.is_ascii_digit() && l.is_ascii_digit())
                .then(|| u32::from(h - b'0') * 10 + u32::from(l - b'0'))
        };
        let (h, m) = match (two(0), b.get(2), two(3)) {
            (Some(h), Some(b':'), Some(m)) => (h, m),
            _ => return Err(bad()),
        };
        let mut i = 5;
        let mut s = 0;
        let mut nanos = 0u32;
        if b.get(i) == Some(&b':') {
            s = two(i + 1).ok_or_else(bad)?;
            i += 3;
            if b.get(i) == Some(&b'.') || b.get(i) == Some(&b',') {
                i += 1;
                let start = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                let digits = i - start;
                if digits == 0 || digits > 9 {
                    return Err(bad());
                }
                let mut v = 0u32;
                for &d in &b[start..i] {
                    v = v * 10 + u32::from(d - b'0');
                }
                nanos = v * 10u32.pow(9 - digits as u32);
            }
        }
        let offset = match &b[i..] {
            [] => None,
            [b'Z'] | [b'z'] => Some(0),
            [sign @ (b'+' | b'-'), rest @ ..] => {
                let digits: Vec<u8> = rest.iter().copied().filter(|c| *c != b':').collect();
                let ok = rest.iter().all(|c| c.is_ascii_digit() || *c == b':')
                    && matches!(digits.len(), 2 | 4);
                if !ok {
                    return Err(bad());
                }
                let num = |d: &[u8]| u32::from(d[0] - b'0') * 10 + u32::from(d[1] - b'0');
                let (oh, om) = (
                    num(&digits[..2]),
                    if digits.len() == 4 {
                        num(&digits[2..])
                    } else {
                        0
                    },
                );
                if oh > 23 || om > 59 {
                    return Err(bad());
                }
                let secs = (oh * 3600 + om * 60) as i32;
                Some(if *sign == b'-' { -secs } else { secs })
            }
            _ => return Err(bad()),
        };
        let time = NaiveTime::from_hms_nano_opt(h, m, s, nanos).ok_or_else(bad)?;
        Ok((time, offset))
    }
}

/// Tick times as files write them: a day of trades milliseconds apart, most plain, some
/// with microseconds, some ISO with `Z` or an offset.
pub(crate) fn lines() -> Vec<String> {
    let start = chrono::NaiveDate::from_ymd_opt(2024, 6, 12)
        .unwrap()
        .and_hms_opt(9, 30, 0)
        .unwrap();
    (0..10_000i64)
        .map(|i| {
            let t = start + chrono::TimeDelta::microseconds(i * 2_345_678);
            match i % 4 {
                0 => t.format("%Y-%m-%d %H:%M:%S").to_string(),
                1 => t.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
                2 => format!(
                    "{}Z",
                    (t + chrono::TimeDelta::hours(4)).format("%Y-%m-%dT%H:%M:%S%.3f")
                ),
                _ => format!("{}-04:00", t.format("%Y-%m-%dT%H:%M:%S%.f")),
            }
        })
        .collect()
}
