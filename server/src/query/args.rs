//! Arguments of a query call, from an HTTP query string or a batch call's JSON object, read
//! with errors that name the parameter and the bad value.
//!
//! Dates are accepted as ISO (`2024-06-12`), `yyyymmdd` (`20240612`) or Excel serial numbers
//! (`45455`, the 1900 date system, as a number or a string of digits), so a worksheet cell
//! holding a date can be passed as is. `today` is New York's date (the exchange's),
//! whatever the zone of the server or of the caller. Times are ISO date-times, in New York time
//! unless they carry an offset (`2024-06-12T10:30`, `2024-06-12T14:30:00Z`), Excel serials
//! with a fraction, or dates (the start of the day for a range's start, its end for a range's
//! end). Text is read by [`xlfeed_core::datetime`], whose errors name the part that is wrong.

use chrono::NaiveDate;
use serde_json::{Map, Value};
use xlfeed_core::calendar::{new_york_day, new_york_to_utc_ns};
use xlfeed_core::datetime::{self, DateTimeError, When};
use xlfeed_core::{DateSystem, Symbol, TradingDay, quoted};

use crate::error::{ApiError, ApiResult};

/// Named arguments of one call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Args(Map<String, Value>);

/// Which end of a day a date stands for when a time is expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayEnd {
    /// 00:00 New York.
    Start,
    /// The last nanosecond of the day, New York.
    End,
}

impl Args {
    /// From `name=value` pairs (an HTTP query string). Names are matched without regard to
    /// case (`Symbol` is `symbol`), everywhere; a name given twice is an error naming it.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> ApiResult<Args> {
        let mut m = Map::new();
        for (k, v) in pairs {
            insert_once(&mut m, k, Value::String(v.to_owned()))?;
        }
        Ok(Args(m))
    }

    /// From a JSON object (a batch call's `args`); names as in [`Args::from_pairs`].
    pub fn from_json(v: &Value) -> ApiResult<Args> {
        match v {
            Value::Null => Ok(Args::default()),
            Value::Object(o) => {
                let mut m = Map::new();
                for (k, v) in o {
                    insert_once(&mut m, k, v.clone())?;
                }
                Ok(Args(m))
            }
            other => Err(ApiError::bad(format!(
                "args must be an object of named arguments, not {}",
                short_json(other)
            ))),
        }
    }

    /// The arguments as JSON (for de-duplication and cache keys: keys are sorted).
    pub fn to_json(&self) -> Value {
        Value::Object(self.0.clone())
    }

    /// Sets an argument.
    pub fn set(&mut self, name: &str, v: impl Into<Value>) {
        self.0.insert(name.to_owned(), v.into());
    }

    /// Fails on an argument not in `known`, naming it and listing the known ones.
    pub fn only(&self, call: &str, known: &[&str]) -> ApiResult<()> {
        for k in self.0.keys() {
            if !known.contains(&k.as_str()) && k != "dates" {
                return Err(ApiError::bad(format!(
                    "{call} has no parameter {} (it takes {})",
                    quoted(k),
                    known.join(", ")
                )));
            }
        }
        Ok(())
    }

    fn raw(&self, name: &str) -> Option<&Value> {
        match self.0.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(v) => Some(v),
        }
    }

    /// An optional text argument.
    pub fn opt_text(&self, name: &str) -> ApiResult<Option<String>> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(other) => Err(ApiError::bad(format!(
                "{name} must be text, not {}",
                short_json(other)
            ))),
        }
    }

    /// A required text argument.
    pub fn text(&self, name: &str) -> ApiResult<String> {
        self.opt_text(name)?
            .ok_or_else(|| ApiError::bad(format!("{name} is required")))
    }

    /// A required symbol.
    pub fn symbol(&self, name: &str) -> ApiResult<Symbol> {
        let s = self.text(name)?;
        Symbol::parse(&s).map_err(|e| ApiError::bad(format!("{name}: {e}")))
    }

    /// A list: a JSON array, or text separated by commas.
    pub fn list(&self, name: &str) -> ApiResult<Vec<String>> {
        let items: Vec<String> = match self.raw(name) {
            None => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .flat_map(|v| match v {
                    // A range of cells arrives as rows of values.
                    Value::Array(row) => row.clone(),
                    v => vec![v.clone()],
                })
                .filter_map(|v| match v {
                    Value::String(s) => Some(s),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect(),
            Some(Value::String(s)) => s.split(',').map(str::to_owned).collect(),
            Some(other) => {
                return Err(ApiError::bad(format!(
                    "{name} must be a list (text separated by commas), not {}",
                    short_json(other)
                )));
            }
        };
        Ok(items
            .into_iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect())
    }

    /// An optional integer.
    pub fn int(&self, name: &str) -> ApiResult<Option<i64>> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(v) => Ok(Some(v)),
                None => match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < 9e15 => Ok(Some(f as i64)),
                    _ => Err(ApiError::bad(format!("{name} {n} is not a whole number"))),
                },
            },
            Some(Value::String(s)) => {
                s.trim().parse::<i64>().map(Some).map_err(|_| {
                    ApiError::bad(format!("{name} {} is not a whole number", quoted(s)))
                })
            }
            Some(other) => Err(ApiError::bad(format!(
                "{name} must be a whole number, not {}",
                short_json(other)
            ))),
        }
    }

    /// An optional number.
    pub fn num(&self, name: &str) -> ApiResult<Option<f64>> {
        let v = match self.raw(name) {
            None => return Ok(None),
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
            Some(_) => None,
        };
        match v {
            Some(f) if f.is_finite() => Ok(Some(f)),
            _ => Err(ApiError::bad(format!(
                "{name} {} is not a number",
                self.raw(name).map(display).unwrap_or_default()
            ))),
        }
    }

    /// An optional yes/no.
    pub fn flag(&self, name: &str) -> ApiResult<Option<bool>> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => match v.as_str().map(|s| s.trim().to_ascii_lowercase()).as_deref() {
                Some("true" | "yes" | "1") => Ok(Some(true)),
                Some("false" | "no" | "0") => Ok(Some(false)),
                _ => Err(ApiError::bad(format!(
                    "{name} {} is not true or false",
                    display(v)
                ))),
            },
        }
    }

    /// An optional date: ISO, `yyyymmdd`, an Excel serial or `today` (New York's date).
    pub fn day(&self, name: &str) -> ApiResult<Option<TradingDay>> {
        let Some(v) = self.raw(name) else {
            return Ok(None);
        };
        parse_day(v, now_ns())
            .map(Some)
            .map_err(|why| why.naming(name, v))
    }

    /// An optional point in time (UTC nanoseconds); a bare date stands for `end` of it.
    pub fn time(&self, name: &str, end: DayEnd) -> ApiResult<Option<i64>> {
        let Some(v) = self.raw(name) else {
            return Ok(None);
        };
        parse_time(v, end, now_ns())
            .map(Some)
            .map_err(|why| why.naming(name, v))
    }
}

/// Adds `name` (lowercased) to `m`, unless it is there already.
fn insert_once(m: &mut Map<String, Value>, name: &str, v: Value) -> ApiResult<()> {
    let key = name.to_ascii_lowercase();
    if m.contains_key(&key) {
        return Err(ApiError::bad(format!(
            "parameter {} is given more than once (names are matched without regard to case)",
            quoted(name)
        )));
    }
    m.insert(key, v);
    Ok(())
}

/// A JSON value as an error message shows it: strings quoted, everything cut short.
pub(crate) fn display(v: &Value) -> String {
    match v {
        Value::String(s) => quoted(s),
        other => short_json(other),
    }
}

/// A JSON value's text, cut short like [`quoted`] values.
fn short_json(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() <= xlfeed_core::error::MAX_QUOTED_CHARS {
        return text;
    }
    let cut: String = text
        .chars()
        .take(xlfeed_core::error::MAX_QUOTED_CHARS)
        .collect();
    format!("{cut}… ({} characters)", text.chars().count())
}

/// A whole Excel serial from a number or a string of digits of at most 6 (`yyyymmdd` has 8).
fn serial_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            let t = s.trim();
            let numeric = !t.is_empty()
                && t.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                && t.split('.').next().is_some_and(|i| i.len() <= 6);
            if numeric { t.parse().ok() } else { None }
        }
        _ => None,
    }
}

/// Why a date or time argument was refused.
#[derive(Debug)]
enum BadWhen {
    /// Text that the date parser refused: its error names the text and the wrong part.
    Text(DateTimeError),
    /// Anything else, said after the value.
    Other(String),
}

impl From<String> for BadWhen {
    fn from(why: String) -> BadWhen {
        BadWhen::Other(why)
    }
}

impl From<&str> for BadWhen {
    fn from(why: &str) -> BadWhen {
        BadWhen::Other(why.to_owned())
    }
}

impl BadWhen {
    /// The API error for parameter `name` holding `v`: `start "2024-02-30" is not a
    /// calendar date`, `end 60: date 60 is outside ...`.
    fn naming(self, name: &str, v: &Value) -> ApiError {
        match self {
            BadWhen::Text(e) => ApiError::bad(format!("{name} {e}")),
            BadWhen::Other(why) => ApiError::bad(format!("{name} {}: {why}", display(v))),
        }
    }
}

/// Now, UTC nanoseconds (for `today`).
fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

/// Whether `s` is `today` (any case).
fn is_today(s: &str) -> bool {
    s.trim().eq_ignore_ascii_case("today")
}

/// New York's date at `now`: what `today` means.
fn today_at(now: i64) -> Result<TradingDay, BadWhen> {
    new_york_day(now).ok_or_else(|| "today is outside the supported years".into())
}

fn parse_day(v: &Value, now: i64) -> Result<TradingDay, BadWhen> {
    if let Some(n) = v.as_u64().filter(|n| (19_000_101..=99_991_231).contains(n)) {
        return TradingDay::from_yyyymmdd(n as u32).map_err(|e| e.to_string().into());
    }
    if let Some(serial) = serial_of(v) {
        let date = DateSystem::Date1900
            .date_from_serial(serial.floor() as i64)
            .map_err(|e| e.to_string())?;
        return TradingDay::from_date(date).map_err(|e| e.to_string().into());
    }
    match v {
        Value::String(s) if is_today(s) => today_at(now),
        // A date-time given where a date is expected: its date.
        Value::String(s) => match datetime::parse_when(s).map_err(BadWhen::Text)? {
            When::Date(d) => Ok(d),
            When::DateTime(stamp) => {
                TradingDay::from_date(stamp.local.date()).map_err(|e| e.to_string().into())
            }
        },
        _ => Err("not a date (use 2024-06-12, 20240612, an Excel date or today)".into()),
    }
}

fn day_bound(date: NaiveDate, end: DayEnd) -> Result<i64, BadWhen> {
    let start = date.and_hms_opt(0, 0, 0).ok_or("no such time")?;
    let ns = new_york_to_utc_ns(start).ok_or("not a time in New York")?;
    Ok(match end {
        DayEnd::Start => ns,
        DayEnd::End => {
            let next = date.succ_opt().ok_or("past the last date")?;
            let next = next.and_hms_opt(0, 0, 0).ok_or("no such time")?;
            new_york_to_utc_ns(next).ok_or("not a time in New York")? - 1
        }
    })
}

fn parse_time(v: &Value, end: DayEnd, now: i64) -> Result<i64, BadWhen> {
    if let Some(serial) = serial_of(v) {
        if serial.fract() == 0.0 {
            let day = parse_day(v, now)?;
            return day_bound(day.date(), end);
        }
        let local = DateSystem::Date1900
            .datetime_from_serial(serial)
            .map_err(|e| e.to_string())?;
        return new_york_to_utc_ns(local).ok_or_else(|| "not a time in New York".into());
    }
    if v.is_u64() {
        return day_bound(parse_day(v, now)?.date(), end);
    }
    let Value::String(s) = v else {
        return Err(
            "not a time (use 2024-06-12T10:30, an ISO time with an offset, or an Excel date-time)"
                .into(),
        );
    };
    if is_today(s) {
        return day_bound(today_at(now)?.date(), end);
    }
    let when = datetime::parse_when(s).map_err(|e| match e {
        // No date at all: say every form a time parameter takes.
        DateTimeError::NotADate(_) => BadWhen::Other(
            "not a date or time (use 2024-06-12, 2024-06-12T10:30, an ISO time with an offset, an Excel date or today)"
                .into(),
        ),
        e => BadWhen::Text(e),
    })?;
    match when {
        When::Date(day) => day_bound(day.date(), end),
        When::DateTime(stamp) => match stamp.offset {
            Some(_) => stamp.utc_ns().ok_or_else(|| "out of range".into()),
            None => new_york_to_utc_ns(stamp.local)
                .ok_or_else(|| "not a time in New York (a clock change skips it)".into()),
        },
    }
}

/// A bar interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interval {
    /// Seconds, intraday.
    Intraday(u32),
    Daily,
    Weekly,
    Monthly,
}

impl Interval {
    pub(crate) fn parse(s: &str) -> ApiResult<Interval> {
        let t = s.trim().to_ascii_lowercase();
        let bad = || {
            ApiError::bad(format!(
                "interval {} is not one of 1m, 5m, 15m, 30m, 1h, daily, weekly, monthly",
                xlfeed_core::quoted(s)
            ))
        };
        Ok(match t.as_str() {
            "" | "d" | "1d" | "day" | "daily" => Interval::Daily,
            "w" | "1w" | "week" | "weekly" => Interval::Weekly,
            "mo" | "1mo" | "month" | "monthly" => Interval::Monthly,
            _ => {
                let (n, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
                let n: u32 = n.parse().map_err(|_| bad())?;
                let secs = match unit {
                    "m" | "min" => n * 60,
                    "h" | "hr" => n * 3600,
                    "s" | "sec" => n,
                    _ => return Err(bad()),
                };
                // Bars must tile a day evenly to align to the clock.
                if secs == 0 || 86_400 % secs != 0 {
                    return Err(bad());
                }
                Interval::Intraday(secs)
            }
        })
    }
}

pub(crate) fn parse_cursor(c: &str) -> ApiResult<(i64, i64)> {
    let bad = || {
        ApiError::bad(format!(
            "cursor {} is not one a previous page gave (time:tick_id)",
            xlfeed_core::quoted(c)
        ))
    };
    let (a, b) = c.split_once(':').ok_or_else(bad)?;
    let (t, id): (i64, i64) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
    if t < 0 || id < 0 {
        return Err(bad());
    }
    Ok((t, id))
}

/// A tenor in calendar days: `30`, `ON`, `1W`, `3M`, `1Y`.
pub(crate) fn parse_tenor(s: &str) -> ApiResult<f64> {
    let t = s.trim().to_ascii_uppercase();
    let bad = || {
        ApiError::bad(format!(
            "tenor {} is not a number of days or one of ON, 1W, 3M, 1Y (days, weeks, months, years)",
            xlfeed_core::quoted(s)
        ))
    };
    let days = if t == "ON" || t == "O/N" {
        1.0
    } else if let Ok(d) = t.parse::<f64>() {
        d
    } else {
        let (n, unit) = t.split_at(t.len().checked_sub(1).ok_or_else(bad)?);
        let n: f64 = n.parse().map_err(|_| bad())?;
        n * match unit {
            "D" => 1.0,
            "W" => 7.0,
            "M" => 365.0 / 12.0,
            "Y" => 365.0,
            _ => return Err(bad()),
        }
    };
    if !(days.is_finite() && days > 0.0 && days <= 365.0 * 100.0) {
        return Err(bad());
    }
    Ok(days)
}

/// Selected fields: `requested` (comma list) checked against `available`, or `default`.
pub(crate) fn pick_fields(
    args: &Args,
    available: &[&str],
    default: &[&str],
) -> ApiResult<Vec<String>> {
    let asked = args.list("fields")?;
    if asked.is_empty() {
        return Ok(default.iter().map(|s| (*s).to_owned()).collect());
    }
    asked
        .into_iter()
        .map(|f| {
            let f = f.to_ascii_lowercase();
            if available.contains(&f.as_str()) {
                Ok(f)
            } else {
                Err(ApiError::bad(format!(
                    "field {} is not one of {}",
                    xlfeed_core::quoted(&f),
                    available.join(", ")
                )))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: Value) -> Args {
        Args::from_json(&v).unwrap()
    }

    #[test]
    fn intervals_parse_and_bad_ones_are_named() {
        assert_eq!(Interval::parse("5m").unwrap(), Interval::Intraday(300));
        assert_eq!(Interval::parse("1H").unwrap(), Interval::Intraday(3600));
        assert_eq!(Interval::parse("").unwrap(), Interval::Daily);
        assert_eq!(Interval::parse("weekly").unwrap(), Interval::Weekly);
        let e = Interval::parse("7m").unwrap_err();
        assert!(e.message.contains("\"7m\""), "{}", e.message);
        assert!(Interval::parse("fortnightly").is_err());
    }

    #[test]
    fn dates_in_every_form_and_bad_ones_named() {
        let a = args(
            json!({"a": "2024-06-12", "b": 20240612, "c": 45455, "d": "45455",
            "e": "2024-02-30", "f": 60, "g": "soon"}),
        );
        let want = TradingDay::parse("2024-06-12").unwrap();
        for k in ["a", "b", "c", "d"] {
            assert_eq!(a.day(k).unwrap(), Some(want), "{k}");
        }
        let e = a.day("e").unwrap_err();
        assert!(e.message.contains("2024-02-30"), "{}", e.message);
        let e = a.day("f").unwrap_err();
        assert!(e.message.contains("60"), "{}", e.message);
        assert!(a.day("g").unwrap_err().message.contains("\"soon\""));
        assert_eq!(a.day("missing").unwrap(), None);
    }

    #[test]
    fn times_are_new_york_unless_zoned() {
        let a = args(json!({"a": "2024-06-12T09:30", "b": "2024-06-12T13:30:00Z",
            "c": 45455.395833333336, "d": "2024-06-12"}));
        let open = 1_718_199_000_000_000_000;
        assert_eq!(a.time("a", DayEnd::Start).unwrap(), Some(open));
        assert_eq!(a.time("b", DayEnd::Start).unwrap(), Some(open));
        let c = a.time("c", DayEnd::Start).unwrap().unwrap();
        assert!((c - open).abs() < 1_000_000, "{c}");
        let (s, e) = (
            a.time("d", DayEnd::Start).unwrap().unwrap(),
            a.time("d", DayEnd::End).unwrap().unwrap(),
        );
        assert_eq!(e - s, 86_400_000_000_000 - 1);
    }

    #[test]
    fn today_is_new_yorks_date_whatever_the_clock_says_elsewhere() {
        // 2024-06-28 23:30 in New York: 2024-06-29 in UTC and anywhere east of New York.
        let late = 1_719_631_800_000_000_000;
        let want = TradingDay::parse("2024-06-28").unwrap();
        for v in [json!("today"), json!(" TODAY ")] {
            assert_eq!(parse_day(&v, late).unwrap(), want);
        }
        let start = parse_time(&json!("today"), DayEnd::Start, late).unwrap();
        assert_eq!(start, day_bound(want.date(), DayEnd::Start).unwrap());
        assert!(start < late && late - start < 86_400_000_000_000);
    }

    #[test]
    fn bad_text_names_the_parameter_the_value_and_the_wrong_part() {
        let a = args(json!({"start": "2024-02-30", "end": "2024-06-12T25:00",
            "t": "2024-06-12T10:30+99:00", "n": 60}));
        assert_eq!(
            a.day("start").unwrap_err().message,
            "start \"2024-02-30\" is not a calendar date"
        );
        let e = a.day("end").unwrap_err().message;
        assert!(
            e.starts_with("end \"2024-06-12T25:00\" has no valid time"),
            "{e}"
        );
        let e = a.time("t", DayEnd::Start).unwrap_err().message;
        assert!(
            e.starts_with("t \"2024-06-12T10:30+99:00\" has a bad offset"),
            "{e}"
        );
        let e = a.day("n").unwrap_err().message;
        assert!(e.starts_with("n 60: "), "{e}");
        let a = args(json!({"at": "soon"}));
        let e = a.time("at", DayEnd::Start).unwrap_err().message;
        assert!(
            e.starts_with("at \"soon\": not a date or time (use "),
            "{e}"
        );
        assert_eq!(
            a.day("at").unwrap_err().message,
            "at \"soon\" is not a date (YYYY-MM-DD, YYYYMMDD or MM/DD/YYYY)"
        );
    }

    #[test]
    fn unknown_parameters_and_bad_numbers_are_named() {
        let a = args(json!({"symbol": "AAPL", "limt": 5}));
        let e = a.only("ticks", &["symbol", "limit"]).unwrap_err();
        assert!(e.message.contains("\"limt\""), "{}", e.message);
        let a = args(json!({"limit": "ten", "x": 1.5}));
        assert!(a.int("limit").unwrap_err().message.contains("\"ten\""));
        assert!(a.int("x").unwrap_err().message.contains("1.5"));
        let a = Args::from_pairs([("Symbols", "AAPL, MSFT,,SPY")]).unwrap();
        assert_eq!(a.list("symbols").unwrap(), vec!["AAPL", "MSFT", "SPY"]);
        // A name given twice (whatever its case) is named, not "the last wins".
        let e = Args::from_pairs([("symbol", "AAPL"), ("Symbol", "MSFT")]).unwrap_err();
        assert!(
            e.message.contains("\"Symbol\" is given more than once"),
            "{}",
            e.message
        );
        let e = Args::from_json(&json!({"symbol": "A", "SYMBOL": "B"})).unwrap_err();
        assert!(e.message.contains("more than once"), "{}", e.message);
    }

    #[test]
    fn tenors() {
        assert_eq!(parse_tenor("30").unwrap(), 30.0);
        assert_eq!(parse_tenor("1y").unwrap(), 365.0);
        assert_eq!(parse_tenor("ON").unwrap(), 1.0);
        assert!((parse_tenor("3M").unwrap() - 91.25).abs() < 1e-12);
        assert!(parse_tenor("-5").unwrap_err().message.contains("\"-5\""));
        assert!(parse_tenor("3X").is_err());
    }
}
