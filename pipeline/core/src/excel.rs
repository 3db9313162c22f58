//! Excel serial dates: the numbers Excel stores for dates and date-times, in both of its date
//! systems.
//!
//! The query side answers Excel formulas with these numbers and reads dates typed into a
//! worksheet from them. A serial is a count of days (the fraction is the time of day) from an
//! epoch that depends on the workbook:
//!
//! - [`DateSystem::Date1900`], the default: serial 1 is 1900-01-01. Excel copied Lotus 1-2-3 in
//!   treating 1900 as a leap year, so serial 60 is "1900-02-29", a day that never existed, and
//!   serial 61 is 1900-03-01. Here serial 60 (and any date-time in `[60, 61)`) is an error that
//!   names it, rather than a guess at a real day; serials 1–59 are shifted so that they still
//!   name the days Excel shows for them.
//! - [`DateSystem::Date1904`], the old Mac default: serial 0 is 1904-01-01.
//!
//! Serials below the epoch (including the time-only values 0 to 1 in the 1900 system), after
//! 9999-12-31 (Excel's last day), or not finite are errors naming the value. Date-times are
//! rounded to the millisecond, the finest unit Excel shows.

use chrono::{Days, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta};

use crate::error::ParseError;

/// Which epoch a workbook counts its serial dates from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum DateSystem {
    /// Serial 1 is 1900-01-01 (with the fake 1900-02-29 at serial 60); Excel's default.
    #[default]
    Date1900,
    /// Serial 0 is 1904-01-01 (a workbook with "use 1904 date system" ticked).
    Date1904,
}

const MS_PER_DAY: i64 = 86_400_000;

/// The first real day of each system.
const EPOCH_1900: NaiveDate = ymd(1900, 1, 1);
const EPOCH_1904: NaiveDate = ymd(1904, 1, 1);
/// Serial 0 for days from 1900-03-01 on (so that serial 61 is 1900-03-01).
const BASE_1900: NaiveDate = ymd(1899, 12, 30);
/// Serial 0 for days up to 1900-02-28 (so that serial 1 is 1900-01-01).
const BASE_1900_JAN_FEB: NaiveDate = ymd(1899, 12, 31);
/// The last day Excel can show.
const LAST_DAY: NaiveDate = ymd(9999, 12, 31);
/// The serial Excel shows as 1900-02-29.
const FAKE_LEAP_DAY: i64 = 60;

/// A date for the constants above; only ever evaluated at compile time.
const fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    match NaiveDate::from_ymd_opt(y, m, d) {
        Some(d) => d,
        None => panic!("invalid constant date"),
    }
}

/// Why a whole-day serial names no date.
enum Bad {
    BeforeEpoch,
    FakeLeapDay,
    AfterLastDay,
}

impl DateSystem {
    /// The serial of `date`; the error names a date before the system's epoch or after
    /// 9999-12-31.
    pub fn serial_from_date(self, date: NaiveDate) -> Result<i64, ParseError> {
        let epoch = self.epoch();
        if date < epoch {
            return Err(ParseError::new(format!(
                "date {date} is before {epoch}, the first day of the {self} date system"
            )));
        }
        if date > LAST_DAY {
            return Err(ParseError::new(format!(
                "date {date} is after {LAST_DAY}, the last day excel can show"
            )));
        }
        let base = match self {
            DateSystem::Date1900 if date < ymd(1900, 3, 1) => BASE_1900_JAN_FEB,
            DateSystem::Date1900 => BASE_1900,
            DateSystem::Date1904 => EPOCH_1904,
        };
        Ok((date - base).num_days())
    }

    /// The date of a whole-day serial; the error names the serial if it is before the epoch,
    /// after 9999-12-31, or 60 in the 1900 system.
    pub fn date_from_serial(self, serial: i64) -> Result<NaiveDate, ParseError> {
        self.day(serial)
            .map_err(|bad| self.error(&serial.to_string(), bad))
    }

    /// The serial of a date-time: whole days plus the time of day as a fraction of a day.
    pub fn serial_from_datetime(self, datetime: NaiveDateTime) -> Result<f64, ParseError> {
        let days = self.serial_from_date(datetime.date())?;
        let since_midnight = datetime.time() - NaiveTime::MIN;
        let nanos = since_midnight.num_nanoseconds().unwrap_or(0);
        Ok(days as f64 + nanos as f64 / (MS_PER_DAY as f64 * 1e6))
    }

    /// The date-time of a serial, rounded to the millisecond; the error names the serial if it
    /// is not finite, before the epoch, after 9999-12-31, or in `[60, 61)` in the 1900 system.
    pub fn datetime_from_serial(self, serial: f64) -> Result<NaiveDateTime, ParseError> {
        let shown = format!("{serial:?}");
        if !serial.is_finite() {
            return Err(ParseError::new(format!(
                "excel serial {shown} is not a finite number"
            )));
        }
        // Checked before scaling so that the cast below cannot saturate.
        let limit = self.last_serial() as f64 + 1.0;
        if serial >= limit {
            return Err(self.error(&shown, Bad::AfterLastDay));
        }
        if serial < self.first_serial() as f64 {
            return Err(self.error(&shown, Bad::BeforeEpoch));
        }
        let total_ms = (serial * MS_PER_DAY as f64).round() as i64;
        let day_serial = total_ms.div_euclid(MS_PER_DAY);
        let ms = total_ms.rem_euclid(MS_PER_DAY);
        let date = self
            .day(day_serial)
            .map_err(|bad| self.error(&shown, bad))?;
        Ok(date.and_time(NaiveTime::MIN) + TimeDelta::milliseconds(ms))
    }

    /// The first day of the system.
    pub fn epoch(self) -> NaiveDate {
        match self {
            DateSystem::Date1900 => EPOCH_1900,
            DateSystem::Date1904 => EPOCH_1904,
        }
    }

    /// The serial of the epoch: 1 in the 1900 system, 0 in the 1904 one.
    pub fn first_serial(self) -> i64 {
        match self {
            DateSystem::Date1900 => 1,
            DateSystem::Date1904 => 0,
        }
    }

    /// The serial of 9999-12-31: 2958465 in the 1900 system, 2957003 in the 1904 one.
    pub fn last_serial(self) -> i64 {
        match self {
            DateSystem::Date1900 => (LAST_DAY - BASE_1900).num_days(),
            DateSystem::Date1904 => (LAST_DAY - EPOCH_1904).num_days(),
        }
    }

    fn day(self, serial: i64) -> Result<NaiveDate, Bad> {
        if serial < self.first_serial() {
            return Err(Bad::BeforeEpoch);
        }
        if serial > self.last_serial() {
            return Err(Bad::AfterLastDay);
        }
        let (base, offset) = match self {
            DateSystem::Date1900 if serial == FAKE_LEAP_DAY => return Err(Bad::FakeLeapDay),
            DateSystem::Date1900 if serial < FAKE_LEAP_DAY => (BASE_1900_JAN_FEB, serial),
            DateSystem::Date1900 => (BASE_1900, serial),
            DateSystem::Date1904 => (EPOCH_1904, serial),
        };
        // In range by the checks above, so the offset is non-negative and the sum exists.
        let offset = u64::try_from(offset).map_err(|_| Bad::BeforeEpoch)?;
        base.checked_add_days(Days::new(offset))
            .ok_or(Bad::AfterLastDay)
    }

    fn error(self, shown: &str, bad: Bad) -> ParseError {
        let message = match bad {
            Bad::BeforeEpoch => format!(
                "excel serial {shown} is before {}, serial {} of the {self} date system",
                self.epoch(),
                self.first_serial()
            ),
            Bad::FakeLeapDay => format!(
                "excel serial {shown} is 1900-02-29, a day that does not exist \
                 (excel's 1900 leap-year bug)"
            ),
            Bad::AfterLastDay => format!(
                "excel serial {shown} is after {LAST_DAY}, serial {} of the {self} date system",
                self.last_serial()
            ),
        };
        ParseError::new(message)
    }
}

impl std::fmt::Display for DateSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DateSystem::Date1900 => "1900",
            DateSystem::Date1904 => "1904",
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    use DateSystem::{Date1900, Date1904};

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn known_1900_serials() {
        for (serial, d) in [
            (1, "1900-01-01"),
            (59, "1900-02-28"),
            (61, "1900-03-01"),
            (45292, "2024-01-01"),
            (2958465, "9999-12-31"),
        ] {
            assert_eq!(
                Date1900.date_from_serial(serial).unwrap(),
                date(d),
                "{serial}"
            );
            assert_eq!(Date1900.serial_from_date(date(d)).unwrap(), serial, "{d}");
        }
    }

    #[test]
    fn known_1904_serials() {
        assert_eq!(Date1904.date_from_serial(0).unwrap(), date("1904-01-01"));
        assert_eq!(
            Date1904.serial_from_date(date("2024-01-01")).unwrap(),
            45292 - 1462
        );
        assert_eq!(Date1904.last_serial(), 2957003);
    }

    #[test]
    fn serial_60_is_an_error_naming_it() {
        let e = Date1900.date_from_serial(60).unwrap_err();
        assert_eq!(
            e.to_string(),
            "excel serial 60 is 1900-02-29, a day that does not exist (excel's 1900 leap-year bug)"
        );
        let e = Date1900.datetime_from_serial(60.5).unwrap_err();
        assert!(
            e.to_string().starts_with("excel serial 60.5 is 1900-02-29"),
            "{e}"
        );
        // Serial 60 is fine in the 1904 system.
        assert_eq!(Date1904.date_from_serial(60).unwrap(), date("1904-03-01"));
    }

    #[test]
    fn out_of_range_serials_name_the_value() {
        let e = Date1900.date_from_serial(0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "excel serial 0 is before 1900-01-01, serial 1 of the 1900 date system"
        );
        let e = Date1904.date_from_serial(-1).unwrap_err();
        assert!(e.to_string().contains("serial -1 "), "{e}");
        let e = Date1900.date_from_serial(2958466).unwrap_err();
        assert!(
            e.to_string().contains("serial 2958466 is after 9999-12-31"),
            "{e}"
        );
        let e = Date1900.datetime_from_serial(f64::NAN).unwrap_err();
        assert_eq!(e.to_string(), "excel serial NaN is not a finite number");
        let e = Date1900.datetime_from_serial(f64::INFINITY).unwrap_err();
        assert_eq!(e.to_string(), "excel serial inf is not a finite number");
        let e = Date1900.datetime_from_serial(1e300).unwrap_err();
        assert!(e.to_string().contains("serial 1e300 "), "{e}");
        let e = Date1900.datetime_from_serial(-0.5).unwrap_err();
        assert!(e.to_string().contains("serial -0.5 "), "{e}");
        let e = Date1900.datetime_from_serial(0.25).unwrap_err();
        assert!(e.to_string().contains("serial 0.25 "), "{e}");
        let e = Date1900.serial_from_date(date("1899-12-31")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "date 1899-12-31 is before 1900-01-01, the first day of the 1900 date system"
        );
        assert!(Date1900.serial_from_date(date("+10000-01-01")).is_err());
    }

    #[test]
    fn datetimes() {
        let dt = date("2024-01-02").and_hms_opt(9, 30, 0).unwrap();
        let serial = Date1900.serial_from_datetime(dt).unwrap();
        assert!((serial - (45293.0 + 9.5 / 24.0)).abs() < 1e-9);
        assert_eq!(Date1900.datetime_from_serial(serial).unwrap(), dt);
        assert_eq!(
            Date1900.datetime_from_serial(45292.5).unwrap(),
            date("2024-01-01").and_hms_opt(12, 0, 0).unwrap()
        );
        // Rounds to the millisecond, carrying into the next day.
        assert_eq!(
            Date1900.datetime_from_serial(45_292.999_999_999_9).unwrap(),
            date("2024-01-02").and_hms_opt(0, 0, 0).unwrap()
        );
        assert_eq!(
            Date1900.datetime_from_serial(59.75).unwrap(),
            date("1900-02-28").and_hms_opt(18, 0, 0).unwrap()
        );
    }

    fn any_date(from: NaiveDate) -> impl Strategy<Value = NaiveDate> {
        let span = (LAST_DAY - from).num_days() as u64;
        (0..=span).prop_map(move |n| from + Days::new(n))
    }

    fn any_system() -> impl Strategy<Value = DateSystem> {
        prop_oneof![Just(Date1900), Just(Date1904)]
    }

    proptest! {
        #[test]
        fn date_round_trips(system in any_system(), d in any_date(EPOCH_1900)) {
            match system.serial_from_date(d) {
                Ok(serial) => prop_assert_eq!(system.date_from_serial(serial).unwrap(), d),
                Err(_) => prop_assert!(d < system.epoch()),
            }
        }

        #[test]
        fn serial_round_trips(system in any_system(), serial in 0i64..=2_958_465) {
            match system.date_from_serial(serial) {
                Ok(d) => prop_assert_eq!(system.serial_from_date(d).unwrap(), serial),
                Err(_) => prop_assert!(
                    serial < system.first_serial()
                        || serial > system.last_serial()
                        || (system == Date1900 && serial == 60)
                ),
            }
        }

        #[test]
        fn datetime_round_trips_to_the_millisecond(
            system in any_system(),
            d in any_date(EPOCH_1904),
            ms in 0i64..MS_PER_DAY,
        ) {
            let dt = d.and_time(NaiveTime::MIN) + TimeDelta::milliseconds(ms);
            let serial = system.serial_from_datetime(dt).unwrap();
            prop_assert_eq!(system.datetime_from_serial(serial).unwrap(), dt);
        }

        #[test]
        fn systems_differ_by_1462_days(d in any_date(EPOCH_1904)) {
            let a = Date1900.serial_from_date(d).unwrap();
            let b = Date1904.serial_from_date(d).unwrap();
            prop_assert_eq!(a - b, 1462);
        }

        #[test]
        fn any_serial_converts_or_errs(system in any_system(), serial in any::<f64>()) {
            if let Ok(dt) = system.datetime_from_serial(serial) {
                prop_assert!(dt.date() >= system.epoch() && dt.date() <= LAST_DAY);
            }
        }

        #[test]
        fn any_whole_serial_converts_or_errs(system in any_system(), serial in any::<i64>()) {
            if let Ok(d) = system.date_from_serial(serial) {
                prop_assert_eq!(system.serial_from_date(d).unwrap(), serial);
            }
        }
    }
}
