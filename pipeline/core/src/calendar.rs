//! The NYSE trading calendar: which days have a session, and when each session opens and closes.
//!
//! The fetch stage asks it which days to pull, the feed stage which session a tick belongs to,
//! and the query side which days a range of dates covers. It is pure: holidays come from the
//! rules NYSE follows (computed per year, Easter included) plus a table of one-off closures and
//! irregular sessions, and New York local time is converted to UTC by hand with the US daylight
//! saving rules, so no time-zone database is needed.
//!
//! Coverage: the rules and tables are checked against NYSE history from 1990 on, and the rules
//! are projected forward (closures not yet announced, such as a national day of mourning, are
//! of course unknown). Before 1990 the same modern rules are applied, which is not what NYSE
//! did in every year, and no one-off closures are known there.

use std::cell::Cell;
use std::iter;

use chrono::offset::LocalResult;
use chrono::{
    DateTime, Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone,
    Weekday,
};
use chrono_tz::America::New_York;

use crate::day::TradingDay;
use crate::range::TimeRange;

/// First year the calendar is checked against NYSE history.
pub const FIRST_CHECKED_YEAR: i32 = 1990;

/// The regular opening time, 09:30 New York time.
pub const REGULAR_OPEN: NaiveTime = hm(9, 30);
/// The regular closing time, 16:00 New York time.
pub const REGULAR_CLOSE: NaiveTime = hm(16, 0);
/// The closing time of an early-close session, 13:00 New York time (14:00 in 1990–1992).
pub const EARLY_CLOSE: NaiveTime = hm(13, 0);

/// The early close of 1990–1992 (Christmas Eve) and 1992 (day after Thanksgiving).
const CLOSE_1400: NaiveTime = hm(14, 0);

/// A wall-clock time for the constant tables below; only ever evaluated at compile time.
const fn hm(h: u32, m: u32) -> NaiveTime {
    match NaiveTime::from_hms_opt(h, m, 0) {
        Some(t) => t,
        None => panic!("invalid constant time"),
    }
}

/// Weekdays NYSE was closed for something other than a recurring holiday, as `yyyymmdd`.
#[rustfmt::skip]
const SPECIAL_CLOSURES: &[(u32, &str)] = &[
    (19940427, "Funeral of former President Richard Nixon"),
    (20010911, "September 11 attacks"),
    (20010912, "September 11 attacks"),
    (20010913, "September 11 attacks"),
    (20010914, "September 11 attacks"),
    (20040611, "National day of mourning for former President Ronald Reagan"),
    (20070102, "National day of mourning for former President Gerald Ford"),
    (20121029, "Hurricane Sandy"),
    (20121030, "Hurricane Sandy"),
    (20181205, "National day of mourning for former President George H. W. Bush"),
    (20250109, "National day of mourning for former President Jimmy Carter"),
];

/// Sessions with hours no rule gives (late opens, unscheduled early closes), as `yyyymmdd`.
///
/// From NYSE's own list of historical closings; the one-to-three-minute late opens were
/// moments of silence.
#[rustfmt::skip]
const IRREGULAR_SESSIONS: &[(u32, NaiveTime, NaiveTime, &str)] = &[
    (19901227, hm(9, 31), REGULAR_CLOSE, "Late open: Con Edison transformer explosion"),
    (19910117, hm(9, 31), REGULAR_CLOSE, "Late open: moment of silence for troops in the Gulf"),
    (19910225, hm(9, 31), REGULAR_CLOSE, "Late open: moment of silence for troops in the Gulf"),
    (19940211, REGULAR_OPEN, hm(14, 30), "Early close: snowstorm"),
    (19951218, hm(10, 30), REGULAR_CLOSE, "Late open: computer system problems"),
    (19960108, hm(11, 0), hm(14, 0), "Late open and early close: blizzard"),
    (19971027, REGULAR_OPEN, hm(15, 30), "Early close: circuit breaker triggered"),
    (19971226, REGULAR_OPEN, EARLY_CLOSE, "Early close: day after Christmas"),
    (20010917, hm(9, 33), REGULAR_CLOSE, "Late open: moment of silence for September 11"),
    (20011008, hm(9, 31), REGULAR_CLOSE, "Late open: moment of silence, Enduring Freedom"),
    (20020911, hm(12, 0), REGULAR_CLOSE, "Late open: first anniversary of September 11"),
    (20030320, hm(9, 32), REGULAR_CLOSE, "Late open: moment of silence, Operation Iraqi Freedom"),
    (20031226, REGULAR_OPEN, EARLY_CLOSE, "Early close: day after Christmas"),
    (20040607, hm(9, 32), REGULAR_CLOSE, "Late open: moment of silence for Ronald Reagan"),
    (20050601, REGULAR_OPEN, hm(15, 56), "Early close: systems communication problem"),
    (20061227, hm(9, 32), REGULAR_CLOSE, "Late open: moment of silence for Gerald Ford"),
];

/// The New York Stock Exchange calendar (also right for the US options exchanges' days).
///
/// ```
/// use xlfeed_core::{calendar::Nyse, TradingDay};
/// let day = TradingDay::parse("2024-03-29")?;
/// assert!(!Nyse.is_trading_day(day));
/// assert_eq!(Nyse.holiday_name(day), Some("Good Friday"));
/// # Ok::<(), xlfeed_core::ParseError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Nyse;

/// One trading session: its day, its hours in New York time and the same instants in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Session {
    day: TradingDay,
    open: NaiveTime,
    close: NaiveTime,
    open_utc_ns: i64,
    close_utc_ns: i64,
    note: Option<&'static str>,
}

impl Session {
    /// The session's day.
    pub fn day(&self) -> TradingDay {
        self.day
    }

    /// Opening time, New York local time (09:30 unless the session opened late).
    pub fn open(&self) -> NaiveTime {
        self.open
    }

    /// Closing time, New York local time (16:00, or 13:00 on an early-close day).
    pub fn close(&self) -> NaiveTime {
        self.close
    }

    /// Opening instant in UTC nanoseconds since the Unix epoch.
    pub fn open_utc_ns(&self) -> i64 {
        self.open_utc_ns
    }

    /// Closing instant in UTC nanoseconds since the Unix epoch.
    pub fn close_utc_ns(&self) -> i64 {
        self.close_utc_ns
    }

    /// The session as the half-open UTC range `[open, close)`.
    pub fn time_range(&self) -> TimeRange {
        TimeRange::from_ordered(self.open_utc_ns, self.close_utc_ns)
    }

    /// Whether the session closed before 16:00.
    pub fn is_early_close(&self) -> bool {
        self.close < REGULAR_CLOSE
    }

    /// Whether the session opened after 09:30.
    pub fn is_late_open(&self) -> bool {
        self.open > REGULAR_OPEN
    }

    /// Whether the session ran the regular 09:30–16:00.
    pub fn is_regular(&self) -> bool {
        !self.is_early_close() && !self.is_late_open()
    }

    /// Why the hours are not regular (`"Early close: day after Thanksgiving"`), if they are not.
    pub fn note(&self) -> Option<&'static str> {
        self.note
    }
}

impl Nyse {
    /// Whether NYSE holds a session on `day` (a weekday that is not a holiday or closure).
    pub fn is_trading_day(&self, day: TradingDay) -> bool {
        !is_weekend(day.date()) && closure_name(day).is_none()
    }

    /// Why NYSE is closed on a weekday (`"Good Friday"`, `"Hurricane Sandy"`); `None` on
    /// trading days and on weekends (a holiday falling on a weekend is named on the weekday
    /// it is observed, if any).
    pub fn holiday_name(&self, day: TradingDay) -> Option<&'static str> {
        if is_weekend(day.date()) {
            return None;
        }
        closure_name(day)
    }

    /// The session held on `day`, or `None` if NYSE is closed.
    pub fn session(&self, day: TradingDay) -> Option<Session> {
        if !self.is_trading_day(day) {
            return None;
        }
        let (open, close, note) = hours(day);
        Some(Session {
            day,
            open,
            close,
            open_utc_ns: day_time_to_utc_ns(day, open),
            close_utc_ns: day_time_to_utc_ns(day, close),
            note,
        })
    }

    /// The first trading day strictly after `day` (`None` past the last supported date).
    pub fn next_trading_day(&self, day: TradingDay) -> Option<TradingDay> {
        iter::successors(day.succ(), |d| d.succ()).find(|d| self.is_trading_day(*d))
    }

    /// The last trading day strictly before `day` (`None` before the first supported date).
    pub fn prev_trading_day(&self, day: TradingDay) -> Option<TradingDay> {
        iter::successors(day.pred(), |d| d.pred()).find(|d| self.is_trading_day(*d))
    }

    /// The trading days from `from` to `to`, both included, in order; empty if `from > to`.
    pub fn trading_days(
        &self,
        from: TradingDay,
        to: TradingDay,
    ) -> impl Iterator<Item = TradingDay> + use<> {
        let cal = *self;
        iter::successors(Some(from), |d| d.succ())
            .take_while(move |d| *d <= to)
            .filter(move |d| cal.is_trading_day(*d))
    }

    /// The sessions from `from` to `to`, both included, in order.
    pub fn sessions(
        &self,
        from: TradingDay,
        to: TradingDay,
    ) -> impl Iterator<Item = Session> + use<> {
        let cal = *self;
        self.trading_days(from, to)
            .filter_map(move |d| cal.session(d))
    }
}

/// Converts a New York wall-clock time to UTC nanoseconds since the Unix epoch.
///
/// The offsets are the IANA time zone database's for America/New_York (`chrono-tz`). A time
/// in the hour skipped in spring is read as standard time (02:30 becomes 03:30 daylight
/// time); a time in the hour repeated in autumn is read as daylight time, the earlier of the
/// two instants. `None` if the instant is outside the range of `i64` nanoseconds (years 1677
/// to 2262).
pub fn new_york_to_utc_ns(local: NaiveDateTime) -> Option<i64> {
    let local_ns = local.and_utc().timestamp_nanos_opt()?;
    // New York's offset changes on the hour: one lookup per local hour and thread.
    let hour = local_ns.div_euclid(NANOS_PER_HOUR);
    let offset = LOCAL_HOUR_OFFSET.with(|c| match c.get() {
        (h, o) if h == hour => Some(o),
        _ => {
            let zoned = match New_York.from_local_datetime(&local) {
                LocalResult::Single(t) => t,
                LocalResult::Ambiguous(earlier, _) => earlier,
                // In the spring gap: the wall clock read on standard time, an hour later in
                // daylight time.
                LocalResult::None => New_York
                    .from_local_datetime(&local.checked_add_signed(TimeDelta::hours(1))?)
                    .earliest()?,
            };
            let o = local_ns.checked_sub(zoned.timestamp_nanos_opt()?)?;
            c.set((hour, o));
            Some(o)
        }
    })?;
    local_ns.checked_sub(offset)
}

/// Converts UTC nanoseconds since the Unix epoch to New York wall-clock time (the inverse of
/// [`new_york_to_utc_ns`] outside the repeated autumn hour).
pub fn utc_ns_to_new_york(utc_ns: i64) -> NaiveDateTime {
    let offset = i64::from(new_york_offset_secs(utc_ns)) * 1_000_000_000;
    match utc_ns.checked_add(offset) {
        Some(local) => DateTime::from_timestamp_nanos(local).naive_utc(),
        None => DateTime::from_timestamp_nanos(utc_ns)
            .with_timezone(&New_York)
            .naive_local(),
    }
}

/// The New York date at an instant (UTC nanoseconds): given now, the exchange's "today",
/// the one meaning of `today` in xlfeed (the server's defaults and its `today` argument, the
/// add-in's `"today"` and relative dates), whatever the machine's own zone.
pub fn new_york_day(utc_ns: i64) -> Option<TradingDay> {
    TradingDay::from_date(utc_ns_to_new_york(utc_ns).date()).ok()
}

const NANOS_PER_HOUR: i64 = 3600 * 1_000_000_000;

thread_local! {
    /// The last UTC hour converted and New York's offset in it (seconds east of UTC).
    static UTC_HOUR_OFFSET: Cell<(i64, i32)> = const { Cell::new((i64::MIN, 0)) };
    /// The last New York hour converted (as if UTC) and its offset (local − UTC, ns).
    static LOCAL_HOUR_OFFSET: Cell<(i64, i64)> = const { Cell::new((i64::MIN, 0)) };
}

/// The UTC offset of New York at an instant, in seconds east of UTC (−14400 in daylight
/// time, −18000 in standard time).
pub fn new_york_offset_secs(utc_ns: i64) -> i32 {
    let hour = utc_ns.div_euclid(NANOS_PER_HOUR);
    UTC_HOUR_OFFSET.with(|c| match c.get() {
        (h, o) if h == hour => o,
        _ => {
            let o = DateTime::from_timestamp_nanos(utc_ns)
                .with_timezone(&New_York)
                .offset()
                .fix()
                .local_minus_utc();
            c.set((hour, o));
            o
        }
    })
}

/// UTC nanoseconds of a New York time on a trading day; trading days (1900–2199) are well
/// inside the range of `i64` nanoseconds.
fn day_time_to_utc_ns(day: TradingDay, time: NaiveTime) -> i64 {
    new_york_to_utc_ns(day.date().and_time(time)).unwrap_or(i64::MAX)
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The name of the holiday or closure on `day`, whatever its weekday.
fn closure_name(day: TradingDay) -> Option<&'static str> {
    let key = day.yyyymmdd();
    if let Some((_, name)) = SPECIAL_CLOSURES.iter().find(|(k, _)| *k == key) {
        return Some(name);
    }
    let date = day.date();
    holidays(date.year())
        .into_iter()
        .find(|(d, _)| *d == Some(date))
        .map(|(_, name)| name)
}

/// The recurring full-day holidays of `year`, on the weekday they are observed (`None` when
/// not observed that year).
fn holidays(year: i32) -> [(Option<NaiveDate>, &'static str); 10] {
    let ymd = |m, d| NaiveDate::from_ymd_opt(year, m, d);
    // NYSE moves New Year's Day to Monday when it falls on Sunday, but not to Friday when it
    // falls on Saturday: that Friday closes a month, a quarter and a year.
    let new_year = ymd(1, 1).and_then(|d| match d.weekday() {
        Weekday::Sat => None,
        Weekday::Sun => d.succ_opt(),
        _ => Some(d),
    });
    let mlk = (year >= 1998)
        .then(|| NaiveDate::from_weekday_of_month_opt(year, 1, Weekday::Mon, 3))
        .flatten();
    let juneteenth = (year >= 2022).then(|| ymd(6, 19).map(observed)).flatten();
    [
        (new_year, "New Year's Day"),
        (mlk, "Martin Luther King, Jr. Day"),
        (
            NaiveDate::from_weekday_of_month_opt(year, 2, Weekday::Mon, 3),
            "Washington's Birthday",
        ),
        (
            easter(year).and_then(|e| e.checked_sub_days(Days::new(2))),
            "Good Friday",
        ),
        (last_weekday_of_month(year, 5, Weekday::Mon), "Memorial Day"),
        (juneteenth, "Juneteenth National Independence Day"),
        (ymd(7, 4).map(observed), "Independence Day"),
        (
            NaiveDate::from_weekday_of_month_opt(year, 9, Weekday::Mon, 1),
            "Labor Day",
        ),
        (
            NaiveDate::from_weekday_of_month_opt(year, 11, Weekday::Thu, 4),
            "Thanksgiving Day",
        ),
        (ymd(12, 25).map(observed), "Christmas Day"),
    ]
}

/// A Saturday holiday is observed on Friday, a Sunday one on Monday.
fn observed(date: NaiveDate) -> NaiveDate {
    match date.weekday() {
        Weekday::Sat => date.pred_opt().unwrap_or(date),
        Weekday::Sun => date.succ_opt().unwrap_or(date),
        _ => date,
    }
}

fn last_weekday_of_month(year: i32, month: u32, weekday: Weekday) -> Option<NaiveDate> {
    let first_next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    }?;
    let last = first_next.pred_opt()?;
    let back = (7 + last.weekday().num_days_from_monday() - weekday.num_days_from_monday()) % 7;
    last.checked_sub_days(Days::new(u64::from(back)))
}

/// Western (Gregorian) Easter Sunday, by the anonymous Gregorian computus.
fn easter(year: i32) -> Option<NaiveDate> {
    let a = year.rem_euclid(19);
    let b = year.div_euclid(100);
    let c = year.rem_euclid(100);
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

/// Opening time, closing time and the reason they are not regular, for a trading day.
fn hours(day: TradingDay) -> (NaiveTime, NaiveTime, Option<&'static str>) {
    let key = day.yyyymmdd();
    if let Some((_, open, close, note)) = IRREGULAR_SESSIONS.iter().find(|s| s.0 == key) {
        return (*open, *close, Some(note));
    }
    match early_close(day.date()) {
        Some((close, note)) => (REGULAR_OPEN, close, Some(note)),
        None => (REGULAR_OPEN, REGULAR_CLOSE, None),
    }
}

/// The scheduled early closes (only asked about trading days).
fn early_close(date: NaiveDate) -> Option<(NaiveTime, &'static str)> {
    let year = date.year();
    let (month, dom, weekday) = (date.month(), date.day(), date.weekday());
    let thanksgiving = NaiveDate::from_weekday_of_month_opt(year, 11, Weekday::Thu, 4);
    if year >= 1992 && thanksgiving.and_then(|t| t.succ_opt()) == Some(date) {
        let close = if year == 1992 {
            CLOSE_1400
        } else {
            EARLY_CLOSE
        };
        return Some((close, "Early close: day after Thanksgiving"));
    }
    if year >= 1990 && month == 12 && dom == 24 {
        let close = if year <= 1992 {
            CLOSE_1400
        } else {
            EARLY_CLOSE
        };
        return Some((close, "Early close: Christmas Eve"));
    }
    if month == 7 && dom == 3 {
        let rule = match weekday {
            Weekday::Mon | Weekday::Tue | Weekday::Thu => year >= 1995,
            Weekday::Wed => year >= 2013,
            _ => false,
        };
        if rule {
            return Some((EARLY_CLOSE, "Early close: day before Independence Day"));
        }
    }
    // Until 2012, when July 4 was a Thursday the early close was on Friday July 5.
    if month == 7 && dom == 5 && weekday == Weekday::Fri && (1996..=2012).contains(&year) {
        return Some((EARLY_CLOSE, "Early close: day after Independence Day"));
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use chrono::Timelike;

    fn day(s: &str) -> TradingDay {
        TradingDay::parse(s).unwrap()
    }

    fn count(year: i32) -> usize {
        let from = TradingDay::from_ymd(year, 1, 1).unwrap();
        let to = TradingDay::from_ymd(year, 12, 31).unwrap();
        Nyse.trading_days(from, to).count()
    }

    #[test]
    fn special_closures() {
        for d in [
            "1994-04-27",
            "2001-09-11",
            "2001-09-12",
            "2001-09-13",
            "2001-09-14",
            "2004-06-11",
            "2007-01-02",
            "2012-10-29",
            "2012-10-30",
            "2018-12-05",
            "2025-01-09",
        ] {
            assert!(!Nyse.is_trading_day(day(d)), "{d}");
            assert!(Nyse.session(day(d)).is_none(), "{d}");
            assert!(Nyse.holiday_name(day(d)).is_some(), "{d}");
        }
        assert!(Nyse.is_trading_day(day("2001-09-10")));
        assert!(Nyse.is_trading_day(day("2001-09-17")));
        assert!(Nyse.is_trading_day(day("2012-10-31")));
        assert_eq!(
            Nyse.holiday_name(day("2012-10-29")),
            Some("Hurricane Sandy")
        );
    }

    #[test]
    fn new_year_on_saturday_is_not_observed_on_friday() {
        for d in [
            "2021-12-31",
            "2010-12-31",
            "2004-12-31",
            "1999-12-31",
            "1993-12-31",
        ] {
            assert!(Nyse.is_trading_day(day(d)), "{d}");
        }
        // Sunday New Year's Day moves to Monday.
        assert_eq!(Nyse.holiday_name(day("2023-01-02")), Some("New Year's Day"));
        assert_eq!(Nyse.holiday_name(day("2017-01-02")), Some("New Year's Day"));
        assert!(Nyse.is_trading_day(day("2022-01-03")));
    }

    #[test]
    fn juneteenth_from_2022() {
        assert_eq!(
            Nyse.holiday_name(day("2022-06-20")),
            Some("Juneteenth National Independence Day")
        );
        assert!(!Nyse.is_trading_day(day("2023-06-19")));
        assert!(!Nyse.is_trading_day(day("2024-06-19")));
        assert!(!Nyse.is_trading_day(day("2027-06-18")));
        assert!(Nyse.is_trading_day(day("2021-06-18")));
    }

    #[test]
    fn good_fridays() {
        for d in [
            "1990-04-13",
            "2000-04-21",
            "2008-03-21",
            "2016-03-25",
            "2019-04-19",
            "2021-04-02",
            "2022-04-15",
            "2023-04-07",
            "2024-03-29",
            "2025-04-18",
            "2035-03-23",
        ] {
            assert_eq!(Nyse.holiday_name(day(d)), Some("Good Friday"), "{d}");
        }
    }

    #[test]
    fn fixed_holidays_move_off_weekends() {
        assert_eq!(
            Nyse.holiday_name(day("2020-07-03")),
            Some("Independence Day")
        );
        assert_eq!(
            Nyse.holiday_name(day("2021-07-05")),
            Some("Independence Day")
        );
        assert_eq!(Nyse.holiday_name(day("2021-12-24")), Some("Christmas Day"));
        assert_eq!(Nyse.holiday_name(day("2022-12-26")), Some("Christmas Day"));
        assert_eq!(Nyse.holiday_name(day("2022-12-25")), None);
        assert!(Nyse.is_trading_day(day("2021-12-23")));
    }

    #[test]
    fn mlk_day_from_1998() {
        assert!(Nyse.is_trading_day(day("1997-01-20")));
        assert_eq!(
            Nyse.holiday_name(day("1998-01-19")),
            Some("Martin Luther King, Jr. Day")
        );
        assert!(!Nyse.is_trading_day(day("2024-01-15")));
    }

    #[test]
    fn trading_day_counts() {
        assert_eq!(count(2001), 248);
        assert_eq!(count(2012), 250);
        assert_eq!(count(2018), 251);
        assert_eq!(count(2019), 252);
        assert_eq!(count(2020), 253);
        assert_eq!(count(2021), 252);
        assert_eq!(count(2022), 251);
        assert_eq!(count(2023), 250);
        assert_eq!(count(2024), 252);
        assert_eq!(count(2025), 250);
    }

    #[test]
    fn early_closes() {
        for d in [
            "2023-11-24",
            "2024-12-24",
            "2019-07-03",
            "2018-12-24",
            "2023-07-03",
            "2025-07-03",
            "2002-07-05",
        ] {
            let s = Nyse.session(day(d)).unwrap();
            assert_eq!(s.close(), EARLY_CLOSE, "{d}");
            assert!(s.is_early_close(), "{d}");
            assert!(s.note().is_some(), "{d}");
        }
        // July 3 on a Wednesday was a full day before 2013, July 5 on a Friday after it.
        assert!(Nyse.session(day("2002-07-03")).unwrap().is_regular());
        assert!(Nyse.session(day("2019-07-05")).unwrap().is_regular());
        assert_eq!(Nyse.session(day("1991-12-24")).unwrap().close(), hm(14, 0));
        let regular = Nyse.session(day("2024-07-05")).unwrap();
        assert!(regular.is_regular());
        assert_eq!(regular.note(), None);
    }

    #[test]
    fn irregular_sessions() {
        let s = Nyse.session(day("1996-01-08")).unwrap();
        assert_eq!((s.open(), s.close()), (hm(11, 0), hm(14, 0)));
        assert!(s.is_late_open() && s.is_early_close());
        assert_eq!(Nyse.session(day("2002-09-11")).unwrap().open(), hm(12, 0));
    }

    #[test]
    fn session_instants_follow_dst() {
        // 2024-01-02 09:30 EST = 14:30 UTC.
        let s = Nyse.session(day("2024-01-02")).unwrap();
        assert_eq!(s.open_utc_ns(), 1_704_205_800 * 1_000_000_000);
        assert_eq!(s.close_utc_ns(), 1_704_229_200 * 1_000_000_000);
        // DST started 2024-03-10: 09:30 EDT = 13:30 UTC.
        let s = Nyse.session(day("2024-03-11")).unwrap();
        assert_eq!(s.open_utc_ns(), 1_710_163_800 * 1_000_000_000);
        // 2006 used the old rule: still EST on 2006-03-13, EDT from 2006-04-03.
        let utc_hour = |d: &str| {
            let ns = Nyse.session(day(d)).unwrap().open_utc_ns();
            DateTime::from_timestamp_nanos(ns).hour()
        };
        assert_eq!(utc_hour("2006-03-13"), 14);
        assert_eq!(utc_hour("2006-04-03"), 13);
        assert_eq!(utc_hour("2006-10-30"), 14);
        assert_eq!(utc_hour("2024-11-01"), 13);
        assert_eq!(utc_hour("2024-11-04"), 14);
        // An early close ends at 13:00 New York time.
        let s = Nyse.session(day("2023-11-24")).unwrap();
        assert_eq!(s.close_utc_ns(), 1_700_848_800 * 1_000_000_000);
        assert_eq!(
            s.time_range().len_ns(),
            3 * 3600 * 1_000_000_000 + 30 * 60 * 1_000_000_000
        );
    }

    #[test]
    fn new_york_conversion_round_trips() {
        let at = |d: &str, h, m| day(d).date().and_time(hm(h, m));
        // Spring forward 2024-03-10: 01:59 EST, then 03:00 EDT.
        let before = new_york_to_utc_ns(at("2024-03-10", 1, 59)).unwrap();
        let after = new_york_to_utc_ns(at("2024-03-10", 3, 0)).unwrap();
        assert_eq!(after - before, 60 * 1_000_000_000);
        // The skipped 02:30 reads as 03:30 EDT.
        let gap = new_york_to_utc_ns(at("2024-03-10", 2, 30)).unwrap();
        assert_eq!(utc_ns_to_new_york(gap), at("2024-03-10", 3, 30));
        // Fall back 2024-11-03: the repeated 01:30 reads as EDT.
        let amb = new_york_to_utc_ns(at("2024-11-03", 1, 30)).unwrap();
        assert_eq!(DateTime::from_timestamp_nanos(amb).hour(), 5);
        for d in [
            "1995-07-01",
            "2024-01-02",
            "2024-03-11",
            "2024-11-03",
            "2150-06-01",
        ] {
            for (h, m) in [(0, 0), (1, 30), (9, 30), (16, 0), (23, 59)] {
                let local = at(d, h, m);
                let ns = new_york_to_utc_ns(local).unwrap();
                assert_eq!(utc_ns_to_new_york(ns), local, "{local}");
            }
        }
    }

    #[test]
    fn stepping_between_trading_days() {
        // Thanksgiving 2024 is Thursday 11-28.
        assert_eq!(
            Nyse.next_trading_day(day("2024-11-27")),
            Some(day("2024-11-29"))
        );
        assert_eq!(
            Nyse.prev_trading_day(day("2024-11-29")),
            Some(day("2024-11-27"))
        );
        // Over the September 11 closure and a weekend.
        assert_eq!(
            Nyse.next_trading_day(day("2001-09-10")),
            Some(day("2001-09-17"))
        );
        assert_eq!(
            Nyse.prev_trading_day(day("2024-01-02")),
            Some(day("2023-12-29"))
        );
        assert_eq!(Nyse.next_trading_day(day("2199-12-31")), None);
        assert_eq!(
            Nyse.trading_days(day("2024-01-05"), day("2024-01-02"))
                .count(),
            0
        );
        let days: Vec<_> = Nyse
            .trading_days(day("2023-12-29"), day("2024-01-03"))
            .collect();
        assert_eq!(
            days,
            [day("2023-12-29"), day("2024-01-02"), day("2024-01-03")]
        );
        assert_eq!(
            Nyse.sessions(day("2023-12-29"), day("2024-01-03")).count(),
            3
        );
    }

    #[test]
    fn every_year_has_a_plausible_calendar() {
        for year in 1990..=2099 {
            let n = count(year);
            assert!((248..=254).contains(&n), "{year}: {n}");
            // Exactly one of each recurring holiday is observed, except New Year's Day on
            // Saturday and the holidays that did not exist yet.
            let names: Vec<_> = (1..=12)
                .flat_map(|m| (1..=31).map(move |d| (m, d)))
                .filter_map(|(m, d)| TradingDay::from_ymd(year, m, d).ok())
                .filter_map(|d| Nyse.holiday_name(d))
                .collect();
            assert!(names.len() >= 8, "{year}: {names:?}");
        }
    }

    #[test]
    fn today_is_new_yorks_date_not_utcs() {
        // 23:30 in New York on 2024-06-28 is already 2024-06-29 in UTC (and in London).
        let late = chrono::DateTime::parse_from_rfc3339("2024-06-29T03:30:00Z")
            .unwrap()
            .timestamp_nanos_opt()
            .unwrap();
        assert_eq!(new_york_day(late), TradingDay::from_ymd(2024, 6, 28).ok());
        // 00:30 in New York (winter: UTC-5).
        let early = chrono::DateTime::parse_from_rfc3339("2024-01-03T05:30:00Z")
            .unwrap()
            .timestamp_nanos_opt()
            .unwrap();
        assert_eq!(new_york_day(early), TradingDay::from_ymd(2024, 1, 3).ok());
    }
}
