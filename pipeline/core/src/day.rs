//! `TradingDay`: the calendar date of one exchange session, the partition unit of every store.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};

use crate::error::ParseError;

/// A session date (exchange local date, America/New_York for US equities and options).
///
/// It is any valid calendar date from 1900-01-01 to 2199-12-31: whether the exchange was open
/// is the calendar's question (`calendar::Nyse`), and data that exists for a day the calendar
/// calls closed is still stored under that day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TradingDay(NaiveDate);

impl TradingDay {
    /// The earliest year of a day.
    pub const MIN_YEAR: i32 = 1900;
    /// The latest year of a day.
    pub const MAX_YEAR: i32 = 2199;

    /// The day for a chrono date, if it is within 1900..=2199.
    pub fn from_date(d: NaiveDate) -> Result<TradingDay, ParseError> {
        let y = d.year();
        if !(Self::MIN_YEAR..=Self::MAX_YEAR).contains(&y) {
            return Err(ParseError::new(format!(
                "date {d} is outside the supported years {}..={}",
                Self::MIN_YEAR,
                Self::MAX_YEAR
            )));
        }
        Ok(TradingDay(d))
    }

    /// The day for year, month, day; the error names the impossible date.
    pub fn from_ymd(y: i32, m: u32, d: u32) -> Result<TradingDay, ParseError> {
        let date = NaiveDate::from_ymd_opt(y, m, d).ok_or_else(|| {
            ParseError::new(format!("{y:04}-{m:02}-{d:02} is not a calendar date"))
        })?;
        TradingDay::from_date(date)
    }

    /// Parses `YYYY-MM-DD`, `YYYYMMDD`, `YYYY/MM/DD` or `MM/DD/YYYY`
    /// ([`datetime::parse_date`](crate::datetime::parse_date), which has the typed error).
    pub fn parse(s: &str) -> Result<TradingDay, ParseError> {
        crate::datetime::parse_date(s).map_err(|e| ParseError::new(e.to_string()))
    }

    /// The day from its `yyyymmdd` integer form (the store's index score).
    pub fn from_yyyymmdd(n: u32) -> Result<TradingDay, ParseError> {
        TradingDay::from_ymd((n / 10_000) as i32, (n / 100) % 100, n % 100)
            .map_err(|_| ParseError::new(format!("{n} is not a yyyymmdd date")))
    }

    /// The `yyyymmdd` integer form, e.g. `20240102`.
    pub fn yyyymmdd(self) -> u32 {
        self.0.year() as u32 * 10_000 + self.0.month() * 100 + self.0.day()
    }

    /// The chrono date.
    pub fn date(self) -> NaiveDate {
        self.0
    }

    /// The next calendar day (not the next session: ask the calendar for that).
    pub fn succ(self) -> Option<TradingDay> {
        self.0
            .succ_opt()
            .and_then(|d| TradingDay::from_date(d).ok())
    }

    /// The previous calendar day.
    pub fn pred(self) -> Option<TradingDay> {
        self.0
            .pred_opt()
            .and_then(|d| TradingDay::from_date(d).ok())
    }
}

impl fmt::Display for TradingDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

impl FromStr for TradingDay {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TradingDay::parse(s)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_both_forms() {
        let d = TradingDay::parse("2024-01-02").unwrap();
        assert_eq!(d, TradingDay::parse("20240102").unwrap());
        assert_eq!(d.yyyymmdd(), 20240102);
        assert_eq!(d.to_string(), "2024-01-02");
    }

    #[test]
    fn names_impossible_dates() {
        let e = TradingDay::parse("2024-02-30").unwrap_err();
        assert_eq!(e.to_string(), "\"2024-02-30\" is not a calendar date");
        assert!(TradingDay::parse("2024-1-2").is_err());
        assert!(TradingDay::parse("2024-01-0x").is_err());
        assert!(TradingDay::parse("１２３４５６７８").is_err());
        assert!(TradingDay::from_yyyymmdd(20241301).is_err());
    }

    proptest! {
        #[test]
        fn yyyymmdd_round_trips(days in 0i64..100_000) {
            let d = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap() + chrono::Days::new(days as u64);
            if let Ok(td) = TradingDay::from_date(d) {
                prop_assert_eq!(TradingDay::from_yyyymmdd(td.yyyymmdd()).unwrap(), td);
                prop_assert_eq!(TradingDay::parse(&td.to_string()).unwrap(), td);
            }
        }

        #[test]
        fn parse_never_panics(s in ".{0,12}") {
            let _ = TradingDay::parse(&s);
        }
    }
}
