//! Dates and times as people and files write them: the one parser of [`TradingDay::parse`],
//! the importers (tick times, date columns) and the server's date and time arguments.
//!
//! - a date ([`parse_date`]): `YYYY-MM-DD`, `YYYYMMDD`, `YYYY/MM/DD` (`YYYY/M/D`) or US
//!   `MM/DD/YYYY` (`M/D/YYYY`), a calendar date in 1900..=2199;
//! - a time of day ([`parse_clock`]): `HH:MM[:SS[.f]]` (`.` or `,`, 1 to 9 digits), then
//!   optionally `Z` or an offset (`-05:00`, `+0100`, `-05`);
//! - a date-time ([`parse_datetime`]): a date, a space or `T`, a time of day.
//!
//! Errors say which part is wrong ([`DateTimeError`]) and quote the text, cut short. The
//! parser works on bytes and allocates nothing unless it fails: the tick importer calls it
//! once a line.
//!
//! [`TradingDay::parse`]: crate::TradingDay::parse

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

use crate::day::TradingDay;
use crate::error::{ErrorKind, quoted};

/// Why a text is not a date, a time of day or a date-time. Each variant holds the text the
/// parser was given (trimmed); messages quote it, cut short.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DateTimeError {
    /// Not in any of the date forms.
    #[error("{} is not a date (YYYY-MM-DD, YYYYMMDD or MM/DD/YYYY)", quoted(.0))]
    NotADate(String),
    /// In a date form, but no such day (`2024-02-30`, month 13).
    #[error("{} is not a calendar date", quoted(.0))]
    NotACalendarDate(String),
    /// A calendar date outside the years xlfeed stores.
    #[error(
        "{} is outside the supported years {}..={}",
        quoted(.0),
        TradingDay::MIN_YEAR,
        TradingDay::MAX_YEAR
    )]
    OutOfRange(String),
    /// Not a date, a separator and a time.
    #[error(
        "{} is not a date-time (YYYY-MM-DD HH:MM:SS[.fff], optionally with Z or an offset)",
        quoted(.0)
    )]
    NotADateTime(String),
    /// The time of day is not `HH:MM[:SS]` or past 23:59:59.
    #[error(
        "{} has no valid time of day (HH:MM or HH:MM:SS, 00:00 to 23:59:59)",
        quoted(.0)
    )]
    BadTime(String),
    /// The fraction of a second is empty or longer than nanoseconds.
    #[error(
        "{} has a bad fraction of a second (1 to 9 digits after the point)",
        quoted(.0)
    )]
    BadFraction(String),
    /// The offset is not `Z`, `±HH:MM`, `±HHMM` or `±HH`, or past 23:59.
    #[error("{} has a bad offset (Z, +HH:MM, +HHMM or +HH, up to 23:59)", quoted(.0))]
    BadOffset(String),
    /// A time of day where only a date is taken.
    #[error("{} is a date-time, not a date", quoted(.0))]
    NotJustADate(String),
}

impl DateTimeError {
    /// A bad date or time is always the caller's bad argument.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }

    /// The same failure, naming `text` instead (the whole date-time a part came from).
    fn naming(self, text: &str) -> DateTimeError {
        use DateTimeError::*;
        let t = text.to_owned();
        match self {
            NotADate(_) | NotADateTime(_) => NotADateTime(t),
            NotACalendarDate(_) => NotACalendarDate(t),
            OutOfRange(_) => OutOfRange(t),
            BadTime(_) => BadTime(t),
            BadFraction(_) => BadFraction(t),
            BadOffset(_) => BadOffset(t),
            NotJustADate(_) => NotJustADate(t),
        }
    }
}

/// A date-time as written: the wall-clock time, and the offset if one was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The date and time of day as written.
    pub local: NaiveDateTime,
    /// Seconds east of UTC, if the text had `Z` or an offset.
    pub offset: Option<i32>,
}

impl Stamp {
    /// UTC nanoseconds, if the text had an offset (and the instant fits in an `i64`).
    pub fn utc_ns(&self) -> Option<i64> {
        let offset = self.offset?;
        (self.local - chrono::TimeDelta::seconds(i64::from(offset)))
            .and_utc()
            .timestamp_nanos_opt()
    }

    /// Whether this is the start of its day, written without an offset or in UTC
    /// (`2024-01-02 00:00:00`, `2024-01-02T00:00:00Z`: how pandas and others write dates).
    pub fn is_plain_midnight(&self) -> bool {
        self.local.time() == NaiveTime::MIN && matches!(self.offset, None | Some(0))
    }
}

/// A date or a date-time: what a cell or an argument that takes either holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// A date alone.
    Date(TradingDay),
    /// A date and a time of day.
    DateTime(Stamp),
}

/// Parses a date in one of the forms in the module documentation.
pub fn parse_date(text: &str) -> Result<TradingDay, DateTimeError> {
    let t = text.trim();
    let (y, m, d) = date_parts(t.as_bytes()).ok_or_else(|| DateTimeError::NotADate(t.into()))?;
    let date = NaiveDate::from_ymd_opt(y as i32, m, d)
        .ok_or_else(|| DateTimeError::NotACalendarDate(t.into()))?;
    TradingDay::from_date(date).map_err(|_| DateTimeError::OutOfRange(t.into()))
}

/// Parses a time of day with an optional offset, as in the module documentation.
pub fn parse_clock(text: &str) -> Result<(NaiveTime, Option<i32>), DateTimeError> {
    let t = text.trim();
    clock(t.as_bytes()).map_err(|f| f(t.into()))
}

/// Parses a date-time: a date, a space or `T` (spaces after it are allowed), a time of day.
pub fn parse_datetime(text: &str) -> Result<Stamp, DateTimeError> {
    let t = text.trim();
    let Some(i) = t.bytes().position(|b| matches!(b, b' ' | b'T' | b't')) else {
        return Err(DateTimeError::NotADateTime(t.into()));
    };
    // `i` is the index of an ASCII byte, so both slices are on character boundaries.
    let day = parse_date(&t[..i]).map_err(|e| e.naming(t))?;
    let (time, offset) = clock(t[i + 1..].trim_start().as_bytes()).map_err(|f| f(t.into()))?;
    Ok(Stamp {
        local: day.date().and_time(time),
        offset,
    })
}

/// Parses a date, or a date-time if the text has a time part (a space or `T` after at least
/// the 8 characters of the shortest date, so that `soon` or `today` is named as no date).
pub fn parse_when(text: &str) -> Result<When, DateTimeError> {
    let t = text.trim();
    match t.bytes().position(|b| matches!(b, b' ' | b'T' | b't')) {
        Some(i) if i >= 8 => parse_datetime(t).map(When::DateTime),
        _ => parse_date(t).map(When::Date),
    }
}

/// Parses a date; a date-time is taken only at plain midnight ([`Stamp::is_plain_midnight`]).
pub fn parse_date_only(text: &str) -> Result<TradingDay, DateTimeError> {
    match parse_when(text)? {
        When::Date(d) => Ok(d),
        When::DateTime(s) if s.is_plain_midnight() => TradingDay::from_date(s.local.date())
            .map_err(|_| DateTimeError::OutOfRange(text.trim().into())),
        When::DateTime(_) => Err(DateTimeError::NotJustADate(text.trim().into())),
    }
}

/// Year, month and day of a date in one of the written forms, unchecked.
fn date_parts(b: &[u8]) -> Option<(u32, u32, u32)> {
    match b {
        [y0, y1, y2, y3, sep @ (b'-' | b'/'), m0, m1, sep2, d0, d1] if sep == sep2 => Some((
            digits(&[*y0, *y1, *y2, *y3])?,
            digits(&[*m0, *m1])?,
            digits(&[*d0, *d1])?,
        )),
        [_, _, _, _, _, _, _, _] if b.iter().all(u8::is_ascii_digit) => {
            Some((digits(&b[..4])?, digits(&b[4..6])?, digits(&b[6..])?))
        }
        _ => {
            // The slashed forms with one-digit months or days: Y/M/D and M/D/Y.
            let mut parts = b.split(|&c| c == b'/');
            let (p, q, r) = (parts.next()?, parts.next()?, parts.next()?);
            if parts.next().is_some() {
                return None;
            }
            let short = |s: &[u8]| (1..=2).contains(&s.len());
            if p.len() == 4 && short(q) && short(r) {
                Some((digits(p)?, digits(q)?, digits(r)?))
            } else if r.len() == 4 && short(p) && short(q) {
                Some((digits(r)?, digits(p)?, digits(q)?))
            } else {
                None
            }
        }
    }
}

/// The value of a run of ASCII digits (at most 4 here), `None` if any byte is not one.
fn digits(s: &[u8]) -> Option<u32> {
    s.iter().try_fold(0u32, |v, &c| {
        c.is_ascii_digit().then(|| v * 10 + u32::from(c - b'0'))
    })
}

/// The constructor of the error for a failed time: the caller fills in the text to name.
type Fail = fn(String) -> DateTimeError;

/// A time of day and offset from bytes.
fn clock(b: &[u8]) -> Result<(NaiveTime, Option<i32>), Fail> {
    let two = |i: usize| -> Option<u32> { digits(b.get(i..i + 2)?) };
    let (h, m) = match (two(0), b.get(2), two(3)) {
        (Some(h), Some(b':'), Some(m)) => (h, m),
        _ => return Err(DateTimeError::BadTime),
    };
    let mut i = 5;
    let mut s = 0;
    let mut nanos = 0u32;
    if b.get(i) == Some(&b':') {
        s = two(i + 1).ok_or(DateTimeError::BadTime as Fail)?;
        i += 3;
        if matches!(b.get(i), Some(b'.' | b',')) {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let n = i - start;
            if n == 0 || n > 9 {
                return Err(DateTimeError::BadFraction);
            }
            let mut v = 0u32;
            for &d in &b[start..i] {
                v = v * 10 + u32::from(d - b'0');
            }
            nanos = v * 10u32.pow(9 - n as u32);
        }
    }
    let offset = match &b[i..] {
        [] => None,
        [b'Z' | b'z'] => Some(0),
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (oh, om) = match rest {
                [h0, h1] => (digits(&[*h0, *h1]), Some(0)),
                [h0, h1, m0, m1] | [h0, h1, b':', m0, m1] => {
                    (digits(&[*h0, *h1]), digits(&[*m0, *m1]))
                }
                _ => (None, None),
            };
            match (oh, om) {
                (Some(oh), Some(om)) if oh <= 23 && om <= 59 => {
                    let secs = (oh * 3600 + om * 60) as i32;
                    Some(if *sign == b'-' { -secs } else { secs })
                }
                _ => return Err(DateTimeError::BadOffset),
            }
        }
        _ => return Err(DateTimeError::BadTime),
    };
    let time =
        NaiveTime::from_hms_nano_opt(h, m, s, nanos).ok_or(DateTimeError::BadTime as Fail)?;
    Ok((time, offset))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    fn day(s: &str) -> TradingDay {
        TradingDay::from_date(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()).unwrap()
    }

    #[test]
    fn dates_in_every_form() {
        let d = day("2024-01-02");
        for t in [
            "2024-01-02",
            "20240102",
            "01/02/2024",
            "1/2/2024",
            "2024/01/02",
            "2024/1/2",
            " 2024-01-02 ",
        ] {
            assert_eq!(parse_date(t), Ok(d), "{t}");
        }
        for t in [
            "2024-01-02 00:00:00",
            "2024-01-02T00:00:00Z",
            "2024-01-02 00:00",
        ] {
            assert_eq!(parse_date_only(t), Ok(d), "{t}");
        }
    }

    #[test]
    fn each_wrong_part_is_its_own_error() {
        use DateTimeError::*;
        let cases: &[(&str, DateTimeError)] = &[
            ("abc", NotADate("abc".into())),
            ("2024-1-2", NotADate("2024-1-2".into())),
            ("1/2/24", NotADate("1/2/24".into())),
            ("2024-01/02", NotADate("2024-01/02".into())),
            ("１２３４５６７８", NotADate("１２３４５６７８".into())),
            ("2024-02-30", NotACalendarDate("2024-02-30".into())),
            ("13/01/2024", NotACalendarDate("13/01/2024".into())),
            ("1850-01-01", OutOfRange("1850-01-01".into())),
        ];
        for (t, want) in cases {
            assert_eq!(parse_date(t).as_ref(), Err(want), "{t}");
        }
        let cases: &[(&str, DateTimeError)] = &[
            ("2024-01-02", NotADateTime("2024-01-02".into())),
            ("2024-1-2 09:30", NotADateTime("2024-1-2 09:30".into())),
            (
                "2024-02-30 09:30",
                NotACalendarDate("2024-02-30 09:30".into()),
            ),
            ("2024-01-02 9:30", BadTime("2024-01-02 9:30".into())),
            ("2024-01-02 24:00", BadTime("2024-01-02 24:00".into())),
            (
                "2024-01-02 09:30:00 EST",
                BadTime("2024-01-02 09:30:00 EST".into()),
            ),
            (
                "2024-01-02 09:30:00.",
                BadFraction("2024-01-02 09:30:00.".into()),
            ),
            (
                "2024-01-02 09:30:00.1234567890",
                BadFraction("2024-01-02 09:30:00.1234567890".into()),
            ),
            (
                "2024-01-02 09:30+25:00",
                BadOffset("2024-01-02 09:30+25:00".into()),
            ),
            ("2024-01-02 09:30-5", BadOffset("2024-01-02 09:30-5".into())),
        ];
        for (t, want) in cases {
            assert_eq!(parse_datetime(t).as_ref(), Err(want), "{t}");
        }
        assert_eq!(
            parse_date_only("2024-01-02 09:30"),
            Err(NotJustADate("2024-01-02 09:30".into()))
        );
        assert_eq!(parse_when("the 3rd"), Err(NotADate("the 3rd".into())));
        assert_eq!(
            parse_when("1/2/2024 9:30"),
            Err(BadTime("1/2/2024 9:30".into()))
        );
    }

    #[test]
    fn messages_name_the_value_and_what_is_wrong() {
        let e = parse_date("2024-02-30").unwrap_err();
        assert_eq!(e.to_string(), "\"2024-02-30\" is not a calendar date");
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        let e = parse_datetime("2024-01-02 09:30+25:00").unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"2024-01-02 09:30+25:00\" has a bad offset (Z, +HH:MM, +HHMM or +HH, up to 23:59)"
        );
        let long = format!("2024-01-02 {}", "9".repeat(500));
        assert!(parse_datetime(&long).unwrap_err().to_string().len() < 250);
    }

    #[test]
    fn offsets_and_fractions() {
        let s = parse_datetime("2024-01-02T09:30:00.5-05:00").unwrap();
        assert_eq!(s.offset, Some(-5 * 3600));
        assert_eq!(s.utc_ns(), Some(1_704_205_800_500_000_000));
        for t in [
            "2024-01-02 14:30Z",
            "2024-01-02t09:30-0500",
            "2024-01-02 15:30+01",
        ] {
            assert_eq!(
                parse_datetime(t).unwrap().utc_ns(),
                Some(1_704_205_800_000_000_000),
                "{t}"
            );
        }
        let (time, off) = parse_clock("09:30:00,000000001").unwrap();
        assert_eq!((time.nanosecond(), off), (1, None));
        assert_eq!(parse_datetime("2024-01-02 09:30").unwrap().utc_ns(), None);
    }

    use chrono::Timelike;

    proptest! {
        #[test]
        fn every_written_date_time_reads_back(
            secs in -2_208_988_800i64..7_258_118_400, // 1900-01-01 ..= 2199-12-31
            nanos in 0u32..1_000_000_000,
            offset_min in -(23 * 60 + 59)..=(23 * 60 + 59i32),
        ) {
            let t = chrono::DateTime::from_timestamp(secs, nanos).unwrap().naive_utc();
            let d = TradingDay::from_date(t.date()).unwrap();
            for text in [
                t.format("%Y-%m-%d").to_string(),
                t.format("%Y%m%d").to_string(),
                t.format("%m/%d/%Y").to_string(),
                t.format("%-m/%-d/%Y").to_string(),
                t.format("%Y/%m/%d").to_string(),
            ] {
                prop_assert_eq!(parse_date(&text), Ok(d), "{}", text);
            }
            let plain = Stamp { local: t, offset: None };
            prop_assert_eq!(parse_datetime(&t.format("%Y-%m-%d %H:%M:%S%.9f").to_string()), Ok(plain));
            prop_assert_eq!(parse_datetime(&t.format("%Y-%m-%dT%H:%M:%S%.f").to_string()), Ok(plain));
            let sign = if offset_min < 0 { '-' } else { '+' };
            let (oh, om) = (offset_min.abs() / 60, offset_min.abs() % 60);
            let zoned = format!("{}{sign}{oh:02}:{om:02}", t.format("%Y-%m-%dT%H:%M:%S%.f"));
            let s = parse_datetime(&zoned).unwrap();
            prop_assert_eq!(s, Stamp { local: t, offset: Some(offset_min * 60) });
            prop_assert_eq!(
                s.utc_ns(),
                (t - chrono::TimeDelta::minutes(i64::from(offset_min))).and_utc().timestamp_nanos_opt()
            );
        }

        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,40}") {
            let _ = parse_date(&s);
            let _ = parse_clock(&s);
            let _ = parse_datetime(&s);
            let _ = parse_date_only(&s);
        }

        #[test]
        fn arbitrary_bytes_near_the_forms_never_panic(s in "[0-9:./ TZz+,-]{0,30}") {
            let _ = parse_datetime(&s);
            let _ = parse_date_only(&s);
        }
    }
}
