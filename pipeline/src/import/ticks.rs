//! `import csv --format ticks`: a CSV file of trades into `trade`, one chunk per symbol-day.
//!
//! The columns are named by `--map field=Header` (a field not mapped uses a column named
//! like it, if there is one): `time` and `price` are required; `size`, `bid`, `ask`,
//! `tick_id`, `basis`, `market_center`, `conditions` are optional; `symbol` names a symbol
//! column (else `--symbol`); `date` names a date column, and `time` then holds only the time
//! of day.
//!
//! Times are `YYYY-MM-DD HH:MM:SS[.fffffffff]` or ISO 8601 (`T`, and `Z` or an offset such
//! as `-05:00`). A time without an offset is wall-clock time in `--tz`, New York by default
//! (with the NYSE calendar's daylight-saving rules, like the IQFeed client). A trade belongs
//! to the session date of its New York time, whatever zone the file was written in.
//!
//! A symbol-day's trades are stored in time order (trades with the same time keep the file's
//! order). Without a tick id column, tick ids number the day's trades 1, 2, 3, ... in that
//! order. Missing values: size 0, bid and ask NaN (unknown; `show` prints them empty), basis
//! blank, market center 0, no trade conditions.

use anyhow::{Result, bail};
use chrono::{NaiveDateTime, TimeZone};
use xlfeed_core::calendar::{new_york_to_utc_ns, utc_ns_to_new_york};
use xlfeed_core::datetime::{parse_clock, parse_datetime};
use xlfeed_core::records::Trade;
use xlfeed_core::{Conditions, Symbol, TradingDay};
use xlfeed_store::Kind;

use super::engine::{Format, Parsed, Unit};
use super::table::{Cell, Col, Header, Row, in_column};

/// The default `--tz`.
pub(crate) const NEW_YORK: &str = "America/New_York";

/// The fields a tick file can map, with the header names each takes by default.
const FIELDS: &[(&str, &[&str])] = &[
    ("time", &["time", "timestamp", "datetime"]),
    ("price", &["price", "last"]),
    ("size", &["size", "last size", "qty", "quantity"]),
    ("bid", &["bid"]),
    ("ask", &["ask"]),
    ("tick_id", &["tick id", "tickid"]),
    ("basis", &["basis", "basis for last"]),
    ("market_center", &["market center", "market_center"]),
    ("conditions", &["conditions", "trade conditions"]),
    ("symbol", &["symbol", "ticker"]),
    ("date", &["date"]),
];

/// The zone of times written without an offset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Zone {
    /// America/New_York, through the core calendar's conversion (as the IQFeed client).
    NewYork,
    /// UTC.
    Utc,
    /// Any other IANA zone.
    Named(chrono_tz::Tz),
}

impl Zone {
    /// Parses a `--tz` value; the error names it.
    pub(crate) fn parse(s: &str) -> Result<Zone> {
        match s {
            NEW_YORK | "US/Eastern" => Ok(Zone::NewYork),
            "UTC" | "utc" | "Z" | "Etc/UTC" | "GMT" => Ok(Zone::Utc),
            _ => s.parse::<chrono_tz::Tz>().map(Zone::Named).map_err(|_| {
                anyhow::anyhow!(
                    "time zone \"{s}\" is not an IANA name (America/New_York, UTC, Europe/London, ...)"
                )
            }),
        }
    }

    /// UTC nanoseconds of a wall-clock time in this zone. A time repeated when clocks go
    /// back is the earlier instant; a time skipped when they go forward is an error (except
    /// in New York, where the calendar reads it as standard time, as IQFeed's times are).
    pub(crate) fn to_utc_ns(self, local: NaiveDateTime) -> Result<i64, String> {
        let ns = match self {
            Zone::NewYork => new_york_to_utc_ns(local),
            Zone::Utc => local.and_utc().timestamp_nanos_opt(),
            Zone::Named(tz) => match tz.from_local_datetime(&local).earliest() {
                Some(t) => t.timestamp_nanos_opt(),
                None => {
                    return Err(format!(
                        "{local} does not exist in {tz} (clocks went forward)"
                    ));
                }
            },
        };
        ns.ok_or_else(|| format!("{local} is out of range"))
    }
}

/// The tick format: bound columns and defaults.
pub(crate) struct Ticks {
    symbol: Option<Symbol>,
    map: Vec<(&'static str, String)>,
    zone: Zone,
    cols: Option<Cols>,
}

struct Cols {
    time: Col,
    price: Col,
    size: Option<Col>,
    bid: Option<Col>,
    ask: Option<Col>,
    tick_id: Option<Col>,
    basis: Option<Col>,
    market_center: Option<Col>,
    conditions: Option<Col>,
    symbol: Option<Col>,
    date: Option<Col>,
}

impl Ticks {
    /// The format from `--symbol`, `--map` and `--tz`; errors name the bad value.
    pub(crate) fn new(symbol: Option<Symbol>, map: &[String], tz: &str) -> Result<Ticks> {
        let mut pairs: Vec<(&'static str, String)> = Vec::new();
        for item in map.iter().filter(|m| !m.trim().is_empty()) {
            let Some((field, header)) = item.split_once('=') else {
                bail!("--map {item:?} is not FIELD=Header");
            };
            let field = field.trim();
            let Some(&(name, _)) = FIELDS.iter().find(|(f, _)| *f == field) else {
                bail!(
                    "--map: \"{field}\" is not a tick field (fields: {})",
                    FIELDS.iter().map(|f| f.0).collect::<Vec<_>>().join(", ")
                );
            };
            if pairs.iter().any(|(f, _)| *f == name) {
                bail!("--map names the field \"{name}\" twice");
            }
            pairs.push((name, header.trim().to_owned()));
        }
        if symbol.is_some() && pairs.iter().any(|(f, _)| *f == "symbol") {
            bail!("give either --symbol or a symbol column (--map symbol=...), not both");
        }
        Ok(Ticks {
            symbol,
            map: pairs,
            zone: Zone::parse(tz)?,
            cols: None,
        })
    }

    /// The column of `field`: the mapped header (which must exist), else a default name.
    fn column(&self, header: &Header, field: &str) -> Result<Option<Col>> {
        if let Some((_, name)) = self.map.iter().find(|(f, _)| *f == field) {
            return match header.find(&[name.as_str()])? {
                Some(c) => Ok(Some(c)),
                None => bail!(
                    "--map {field}={name}: the file has no column \"{name}\"; the header is: {}",
                    header.shown()
                ),
            };
        }
        let aliases = FIELDS
            .iter()
            .find(|(f, _)| *f == field)
            .map_or(&[][..], |f| f.1);
        header.find(aliases)
    }
}

impl Format for Ticks {
    type Record = Trade;
    const WHAT: &'static str = "tick csv";
    const KIND: Kind = Kind::Trade;
    const ONE_ROW_PER_DAY: bool = false;

    fn bind(&mut self, header: &Header) -> Result<Vec<String>> {
        let need = |field: &str, col: Option<Col>| {
            col.ok_or_else(|| {
                anyhow::anyhow!(
                    "no {field} column: name it with --map {field}=<Header>; the header is: {}",
                    header.shown()
                )
            })
        };
        let symbol = if self.symbol.is_some() {
            None
        } else {
            Some(need("symbol", self.column(header, "symbol")?).map_err(|e| {
                e.context("the file has no symbol column and --symbol is not given")
            })?)
        };
        let cols = Cols {
            time: need("time", self.column(header, "time")?)?,
            price: need("price", self.column(header, "price")?)?,
            size: self.column(header, "size")?,
            bid: self.column(header, "bid")?,
            ask: self.column(header, "ask")?,
            tick_id: self.column(header, "tick_id")?,
            basis: self.column(header, "basis")?,
            market_center: self.column(header, "market_center")?,
            conditions: self.column(header, "conditions")?,
            symbol,
            date: self.column(header, "date")?,
        };
        let all = [
            Some(&cols.time),
            Some(&cols.price),
            cols.size.as_ref(),
            cols.bid.as_ref(),
            cols.ask.as_ref(),
            cols.tick_id.as_ref(),
            cols.basis.as_ref(),
            cols.market_center.as_ref(),
            cols.conditions.as_ref(),
            cols.symbol.as_ref(),
            cols.date.as_ref(),
        ];
        let used: Vec<&Col> = all.iter().flatten().copied().collect();
        for (i, a) in used.iter().enumerate() {
            if let Some(b) = used[i + 1..].iter().find(|b| b.index == a.index) {
                bail!("column \"{}\" is mapped to two fields", b.name);
            }
        }
        let mut notes = Vec::new();
        let unused = header.unused(&used);
        if !unused.is_empty() {
            notes.push(format!("columns not imported: {}", unused.join(", ")));
        }
        let missing: Vec<&str> = [
            ("size", &cols.size),
            ("bid", &cols.bid),
            ("ask", &cols.ask),
            ("tick_id", &cols.tick_id),
        ]
        .iter()
        .filter(|(_, c)| c.is_none())
        .map(|(f, _)| *f)
        .collect();
        if !missing.is_empty() {
            notes.push(format!(
                "no column for {}: defaults used (see docs/importers.md)",
                missing.join(", ")
            ));
        }
        self.cols = Some(cols);
        Ok(notes)
    }

    fn parse(&self, row: &Row<'_>, out: &mut Vec<(Unit, Trade)>) -> Result<Parsed, String> {
        let Some(c) = &self.cols else {
            return Err("the header was not read".into());
        };
        let symbol = match (&c.symbol, &self.symbol) {
            (Some(col), _) => match row.cell(col) {
                Cell::Text(t) => Symbol::parse(t).map_err(|e| in_column(col, &e.to_string()))?,
                Cell::Empty => return Err(in_column(col, "is empty")),
                other => return Err(in_column(col, &format!("{other:?} is not a symbol"))),
            },
            (None, Some(s)) => s.clone(),
            (None, None) => return Err("no symbol".into()),
        };
        let time = self.time(row, c)?;
        let day = TradingDay::from_date(utc_ns_to_new_york(time).date())
            .map_err(|e| in_column(&c.time, &e.to_string()))?;
        let price = row.required_number(&c.price)?;
        if price < 0.0 {
            return Err(in_column(&c.price, &format!("price {price} is negative")));
        }
        let int = |col: &Option<Col>| -> Result<i64, String> {
            match col {
                Some(col) => Ok(row.integer(col)?.unwrap_or(0)),
                None => Ok(0),
            }
        };
        let quote = |col: &Option<Col>| -> Result<f64, String> {
            match col {
                Some(col) => Ok(row.number(col)?.unwrap_or(f64::NAN)),
                None => Ok(f64::NAN),
            }
        };
        let size = int(&c.size)?;
        if size < 0 {
            let col = c.size.as_ref().map_or("size", |c| c.name.as_str());
            return Err(format!("column \"{col}\": size {size} is negative"));
        }
        let market_center = match &c.market_center {
            Some(col) => {
                let v = int(&c.market_center)?;
                i32::try_from(v)
                    .map_err(|_| in_column(col, &format!("{v} is not a market center id")))?
            }
            None => 0,
        };
        let basis = match text_cell(row, &c.basis) {
            None => ' ',
            Some((col, t)) => {
                let mut chars = t.chars();
                match (chars.next(), chars.next()) {
                    (Some(b), None) if b.is_ascii_alphanumeric() => b,
                    _ => return Err(in_column(col, &format!("{t:?} is not a one-letter basis"))),
                }
            }
        };
        let conditions = match text_cell(row, &c.conditions) {
            None => Conditions::NONE,
            Some((col, t)) => Conditions::parse(t).map_err(|e| in_column(col, &e.to_string()))?,
        };
        let trade = Trade {
            time,
            price,
            size,
            bid: quote(&c.bid)?,
            ask: quote(&c.ask)?,
            tick_id: int(&c.tick_id)?,
            basis,
            market_center,
            conditions,
        };
        out.push(((symbol, day), trade));
        Ok(Parsed::Records)
    }

    fn finish(&self, records: &mut Vec<Trade>) {
        records.sort_by_key(|t| t.time);
        if self.cols.as_ref().is_some_and(|c| c.tick_id.is_none()) {
            for (i, t) in records.iter_mut().enumerate() {
                t.tick_id = i as i64 + 1;
            }
        }
    }
}

/// The text of an optional column, with the column; `None` when unmapped or empty.
fn text_cell<'r, 'c>(row: &'r Row<'_>, col: &'c Option<Col>) -> Option<(&'c Col, &'r str)> {
    let col = col.as_ref()?;
    match row.cell(col) {
        Cell::Text(t) => Some((col, t)),
        _ => None,
    }
}

impl Ticks {
    /// The trade time of a row, UTC nanoseconds.
    fn time(&self, row: &Row<'_>, c: &Cols) -> Result<i64, String> {
        let (local, offset) = match &c.date {
            Some(date_col) => {
                let day = row.required_date(date_col)?;
                let (time, offset) = match row.cell(&c.time) {
                    Cell::Text(t) => {
                        parse_clock(t).map_err(|e| in_column(&c.time, &e.to_string()))?
                    }
                    Cell::DateTime(d) => (d.time(), None),
                    Cell::Empty => return Err(in_column(&c.time, "is empty")),
                    other => {
                        return Err(in_column(
                            &c.time,
                            &format!("{other:?} is not a time of day"),
                        ));
                    }
                };
                (day.date().and_time(time), offset)
            }
            None => match row.cell(&c.time) {
                Cell::Text(t) => {
                    let stamp =
                        parse_datetime(t).map_err(|e| in_column(&c.time, &e.to_string()))?;
                    (stamp.local, stamp.offset)
                }
                Cell::DateTime(d) => (d, None),
                Cell::Empty => return Err(in_column(&c.time, "is empty")),
                other => {
                    return Err(in_column(&c.time, &format!("{other:?} is not a date-time")));
                }
            },
        };
        match offset {
            Some(secs) => (local - chrono::TimeDelta::seconds(i64::from(secs)))
                .and_utc()
                .timestamp_nanos_opt()
                .ok_or_else(|| in_column(&c.time, &format!("{local} is out of range"))),
            None => self
                .zone
                .to_utc_ns(local)
                .map_err(|e| in_column(&c.time, &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ns(s: &str, zone: Zone) -> i64 {
        let stamp = parse_datetime(s).unwrap();
        match stamp.utc_ns() {
            Some(ns) => ns,
            None => zone.to_utc_ns(stamp.local).unwrap(),
        }
    }

    #[test]
    fn times_in_every_written_form_agree() {
        // 2024-01-02 09:30 New York is 14:30 UTC.
        let want = 1_704_205_800_000_000_000;
        for s in [
            "2024-01-02 09:30:00",
            "2024-01-02T09:30:00",
            "2024-01-02 09:30",
            "2024-01-02T14:30:00Z",
            "2024-01-02T09:30:00-05:00",
            "2024-01-02T09:30:00-0500",
            "2024-01-02T09:30:00-05",
            "2024-01-02 15:30:00+01:00",
        ] {
            assert_eq!(ns(s, Zone::NewYork), want, "{s}");
        }
        assert_eq!(ns("2024-01-02 14:30:00", Zone::Utc), want);
        let chicago = Zone::parse("America/Chicago").unwrap();
        assert_eq!(ns("2024-01-02 08:30:00", chicago), want);
        assert_eq!(
            ns("2024-01-02 09:30:00.123456", Zone::NewYork),
            want + 123_456_000
        );
        assert_eq!(ns("2024-01-02 09:30:00.000000001", Zone::NewYork), want + 1);
        // Summer: four hours.
        assert_eq!(
            ns("2024-07-01 09:30:00", Zone::NewYork),
            ns("2024-07-01T13:30:00Z", Zone::Utc)
        );
    }

    #[test]
    fn bad_times_are_named() {
        for s in [
            "",
            "09:30:00",
            "2024-01-02",
            "2024-01-02 9:30:00",
            "2024-01-02 24:00:00",
            "2024-01-02 09:30:00.",
            "2024-01-02 09:30:00.1234567890",
            "2024-01-02 09:30:00+25:00",
            "2024-01-02 09:30:00 EST",
            "2024-02-30 09:30:00",
        ] {
            let e = parse_datetime(s).unwrap_err().to_string();
            assert!(e.contains(&format!("{s:?}")), "{e}");
        }
        assert!(
            Zone::parse("Mars/Olympus")
                .unwrap_err()
                .to_string()
                .contains("Mars/Olympus")
        );
        let london = Zone::parse("Europe/London").unwrap();
        let gap = chrono::NaiveDate::from_ymd_opt(2024, 3, 31)
            .unwrap()
            .and_hms_opt(1, 30, 0)
            .unwrap();
        assert!(
            london
                .to_utc_ns(gap)
                .unwrap_err()
                .contains("does not exist")
        );
    }

    #[test]
    fn the_map_is_checked() {
        assert!(Ticks::new(None, &["time=T".into(), "price=P".into()], NEW_YORK).is_ok());
        let e = Ticks::new(None, &["prix=P".into()], NEW_YORK)
            .err()
            .unwrap();
        assert!(
            e.to_string().contains("\"prix\" is not a tick field"),
            "{e}"
        );
        assert!(Ticks::new(None, &["time".into()], NEW_YORK).is_err());
        assert!(Ticks::new(None, &["time=A".into(), "time=B".into()], NEW_YORK).is_err());
        let s = Symbol::parse("SPY").ok();
        assert!(Ticks::new(s, &["symbol=Ticker".into()], NEW_YORK).is_err());
    }

    proptest! {
        #[test]
        fn datetimes_round_trip(secs in 0i64..4_000_000_000, nanos in 0u32..1_000_000_000) {
            let t = chrono::DateTime::from_timestamp(secs, nanos).unwrap().naive_utc();
            let text = t.format("%Y-%m-%d %H:%M:%S%.9f").to_string();
            let plain = parse_datetime(&text).unwrap();
            prop_assert_eq!((plain.local, plain.offset), (t, None));
            let iso = format!("{}Z", t.format("%Y-%m-%dT%H:%M:%S%.f"));
            let zoned = parse_datetime(&iso).unwrap();
            prop_assert_eq!((zoned.local, zoned.offset), (t, Some(0)));
            // New York wall-clock times map back to the instant (outside the autumn repeat).
            let utc_ns = t.and_utc().timestamp_nanos_opt().unwrap();
            let local = utc_ns_to_new_york(utc_ns);
            let back = Zone::NewYork.to_utc_ns(local).unwrap();
            prop_assert!(back == utc_ns || back == utc_ns - 3_600_000_000_000);
        }

        #[test]
        fn parsing_never_panics(s in "\\PC{0,40}") {
            let _ = parse_datetime(&s);
            let _ = parse_clock(&s);
        }
    }
}
