//! Validated ranges: a half-open span of UTC instants ([`TimeRange`]) and an inclusive span of
//! days ([`DayRange`]).
//!
//! Every query in the flow (fetch a backfill, post-process a week, answer an Excel formula)
//! names one of these; checking `start <= end` once here means the stores and the server never
//! see a reversed range.

use std::fmt;
use std::iter;

use crate::calendar::Nyse;
use crate::day::TradingDay;
use crate::error::ParseError;

/// The instants `start_ns <= t < end_ns`, in UTC nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeRange {
    start_ns: i64,
    end_ns: i64,
}

impl TimeRange {
    /// The range `[start_ns, end_ns)`; the error names both ends if `start_ns > end_ns`.
    ///
    /// `start_ns == end_ns` is allowed and gives an empty range.
    pub fn new(start_ns: i64, end_ns: i64) -> Result<TimeRange, ParseError> {
        if start_ns > end_ns {
            return Err(ParseError::new(format!(
                "time range start {start_ns} is after its end {end_ns}"
            )));
        }
        Ok(TimeRange { start_ns, end_ns })
    }

    /// A range whose ends the caller already knows to be ordered.
    pub(crate) fn from_ordered(start_ns: i64, end_ns: i64) -> TimeRange {
        debug_assert!(start_ns <= end_ns);
        TimeRange { start_ns, end_ns }
    }

    /// First instant in the range.
    pub fn start_ns(&self) -> i64 {
        self.start_ns
    }

    /// First instant after the range.
    pub fn end_ns(&self) -> i64 {
        self.end_ns
    }

    /// Length in nanoseconds (cannot overflow: at most `u64::MAX`).
    pub fn len_ns(&self) -> u64 {
        self.end_ns.abs_diff(self.start_ns)
    }

    /// Whether the range holds no instant.
    pub fn is_empty(&self) -> bool {
        self.start_ns == self.end_ns
    }

    /// Whether `ns` is in `[start, end)`.
    pub fn contains(&self, ns: i64) -> bool {
        self.start_ns <= ns && ns < self.end_ns
    }

    /// Whether the two ranges share at least one instant.
    pub fn overlaps(&self, other: &TimeRange) -> bool {
        self.start_ns < other.end_ns && other.start_ns < self.end_ns
    }

    /// The instants in both ranges, or `None` if they share none.
    pub fn intersection(&self, other: &TimeRange) -> Option<TimeRange> {
        self.overlaps(other).then(|| TimeRange {
            start_ns: self.start_ns.max(other.start_ns),
            end_ns: self.end_ns.min(other.end_ns),
        })
    }
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {})", self.start_ns, self.end_ns)
    }
}

/// The days `first..=last`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DayRange {
    first: TradingDay,
    last: TradingDay,
}

impl DayRange {
    /// The days from `first` to `last`; the error names both days if `first > last`.
    pub fn new(first: TradingDay, last: TradingDay) -> Result<DayRange, ParseError> {
        if first > last {
            return Err(ParseError::new(format!(
                "day range first day {first} is after its last day {last}"
            )));
        }
        Ok(DayRange { first, last })
    }

    /// The range holding the one day `day`.
    pub fn single(day: TradingDay) -> DayRange {
        DayRange {
            first: day,
            last: day,
        }
    }

    /// First day, included.
    pub fn first(&self) -> TradingDay {
        self.first
    }

    /// Last day, included.
    pub fn last(&self) -> TradingDay {
        self.last
    }

    /// Whether `day` is in the range.
    pub fn contains(&self, day: TradingDay) -> bool {
        self.first <= day && day <= self.last
    }

    /// Number of calendar days in the range (at least 1).
    pub fn num_days(&self) -> u32 {
        let days = (self.last.date() - self.first.date()).num_days();
        u32::try_from(days + 1).unwrap_or(u32::MAX)
    }

    /// Every calendar day in the range, in order, weekends and holidays included.
    pub fn days(&self) -> impl Iterator<Item = TradingDay> + use<> {
        let last = self.last;
        iter::successors(Some(self.first), |d| d.succ()).take_while(move |d| *d <= last)
    }

    /// The days in the range on which `calendar` holds a session, in order.
    pub fn trading_days(&self, calendar: &Nyse) -> impl Iterator<Item = TradingDay> + use<> {
        calendar.trading_days(self.first, self.last)
    }
}

impl fmt::Display for DayRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..={}", self.first, self.last)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    fn day(s: &str) -> TradingDay {
        TradingDay::parse(s).unwrap()
    }

    #[test]
    fn time_range_is_half_open() {
        let r = TimeRange::new(10, 20).unwrap();
        assert!(r.contains(10));
        assert!(r.contains(19));
        assert!(!r.contains(20));
        assert!(!r.contains(9));
        assert_eq!(r.len_ns(), 10);
        assert!(TimeRange::new(5, 5).unwrap().is_empty());
        assert!(!TimeRange::new(5, 5).unwrap().contains(5));
        assert_eq!(
            TimeRange::new(i64::MIN, i64::MAX).unwrap().len_ns(),
            u64::MAX
        );
        assert_eq!(r.to_string(), "[10, 20)");
    }

    #[test]
    fn reversed_time_range_names_both_ends() {
        let e = TimeRange::new(20, 10).unwrap_err();
        assert_eq!(e.to_string(), "time range start 20 is after its end 10");
    }

    #[test]
    fn overlap_and_intersection() {
        let a = TimeRange::new(0, 10).unwrap();
        let b = TimeRange::new(5, 15).unwrap();
        let c = TimeRange::new(10, 20).unwrap();
        assert_eq!(a.intersection(&b), Some(TimeRange::new(5, 10).unwrap()));
        assert!(!a.overlaps(&c));
        assert_eq!(a.intersection(&c), None);
    }

    #[test]
    fn day_range_iterates_calendar_and_trading_days() {
        let r = DayRange::new(day("2024-12-23"), day("2025-01-03")).unwrap();
        assert_eq!(r.num_days(), 12);
        assert_eq!(r.days().count(), 12);
        assert_eq!(r.days().next(), Some(day("2024-12-23")));
        assert_eq!(r.days().last(), Some(day("2025-01-03")));
        // Closed: 12-25, 01-01 and one weekend.
        let trading: Vec<_> = r.trading_days(&Nyse).collect();
        assert_eq!(trading.len(), 8);
        assert!(!trading.contains(&day("2024-12-25")));
        assert!(r.contains(day("2024-12-31")));
        assert!(!r.contains(day("2025-01-04")));
        assert_eq!(r.to_string(), "2024-12-23..=2025-01-03");
    }

    #[test]
    fn day_range_edges() {
        let one = DayRange::single(day("2024-01-02"));
        assert_eq!(one.days().collect::<Vec<_>>(), [day("2024-01-02")]);
        assert_eq!(one.num_days(), 1);
        let end = DayRange::new(day("2199-12-30"), day("2199-12-31")).unwrap();
        assert_eq!(end.days().count(), 2);
        let e = DayRange::new(day("2024-01-05"), day("2024-01-02")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "day range first day 2024-01-05 is after its last day 2024-01-02"
        );
    }

    proptest! {
        #[test]
        fn time_range_validation(a in any::<i64>(), b in any::<i64>()) {
            match TimeRange::new(a, b) {
                Ok(r) => {
                    prop_assert!(a <= b);
                    prop_assert_eq!(r.contains(a), a < b);
                    prop_assert!(!r.contains(b));
                }
                Err(e) => {
                    prop_assert!(a > b);
                    prop_assert!(e.to_string().contains(&a.to_string()));
                }
            }
        }

        #[test]
        fn day_range_counts_match(start in 0u64..100_000, len in 0u64..400) {
            let base = chrono::NaiveDate::from_ymd_opt(1900, 1, 1).unwrap();
            let first = TradingDay::from_date(base + chrono::Days::new(start));
            let last = TradingDay::from_date(base + chrono::Days::new(start + len));
            if let (Ok(first), Ok(last)) = (first, last) {
                let r = DayRange::new(first, last).unwrap();
                prop_assert_eq!(r.days().count() as u64, len + 1);
                prop_assert_eq!(u64::from(r.num_days()), len + 1);
                prop_assert!(r.trading_days(&Nyse).all(|d| r.contains(d)));
            }
        }
    }
}
