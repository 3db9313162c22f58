//! `import csv --format yahoo-daily`: Yahoo Finance's daily history download into `daily`.
//!
//! Columns `Date,Open,High,Low,Close,Adj Close,Volume` (matched by name, any order). Yahoo
//! writes `null` in every price of a day it lists without data; such rows are skipped and
//! counted. `Adj Close` is not stored: a `DailyBar` holds the session's prices as traded
//! (Yahoo's Close is split-adjusted only), and adjustments belong to whoever reads them.
//! One row per day; each becomes the `daily` chunk of (symbol, day) holding that one bar.

use anyhow::Result;
use xlfeed_core::Symbol;
use xlfeed_core::records::DailyBar;
use xlfeed_store::Kind;

use super::engine::{Format, Parsed, Unit};
use super::table::{Col, Header, Row, in_column};

/// The Yahoo daily format, for one symbol.
pub(crate) struct YahooDaily {
    symbol: Symbol,
    cols: Option<Cols>,
}

struct Cols {
    date: Col,
    open: Col,
    high: Col,
    low: Col,
    close: Col,
    volume: Col,
}

impl YahooDaily {
    /// The format for the rows of `symbol`.
    pub(crate) fn new(symbol: Symbol) -> YahooDaily {
        YahooDaily { symbol, cols: None }
    }
}

/// A price: a number, not negative.
fn price(row: &Row<'_>, col: &Col) -> Result<f64, String> {
    let v = row.required_number(col)?;
    if v < 0.0 {
        return Err(in_column(col, &format!("price {v} is negative")));
    }
    Ok(v)
}

impl Format for YahooDaily {
    type Record = DailyBar;
    const WHAT: &'static str = "yahoo daily csv";
    const KIND: Kind = Kind::Daily;
    const ONE_ROW_PER_DAY: bool = true;

    fn bind(&mut self, header: &Header) -> Result<Vec<String>> {
        let cols = Cols {
            date: header.require("Date", &["Date"])?,
            open: header.require("Open", &["Open"])?,
            high: header.require("High", &["High"])?,
            low: header.require("Low", &["Low"])?,
            close: header.require("Close", &["Close"])?,
            volume: header.require("Volume", &["Volume"])?,
        };
        let adj = header.find(&["Adj Close"])?;
        let mut used = vec![
            &cols.date,
            &cols.open,
            &cols.high,
            &cols.low,
            &cols.close,
            &cols.volume,
        ];
        used.extend(adj.as_ref());
        let mut notes = Vec::new();
        let unused = header.unused(&used);
        if !unused.is_empty() {
            notes.push(format!("columns not imported: {}", unused.join(", ")));
        }
        self.cols = Some(cols);
        Ok(notes)
    }

    fn parse(&self, row: &Row<'_>, out: &mut Vec<(Unit, DailyBar)>) -> Result<Parsed, String> {
        let Some(c) = &self.cols else {
            return Err("the header was not read".into());
        };
        let values = [&c.open, &c.high, &c.low, &c.close, &c.volume];
        if values.iter().any(|col| {
            row.text(col)
                .is_some_and(|t| t.eq_ignore_ascii_case("null"))
        }) {
            return Ok(Parsed::Skipped("null values"));
        }
        let day = row.required_date(&c.date)?;
        let volume = row
            .integer(&c.volume)?
            .ok_or_else(|| in_column(&c.volume, "is empty"))?;
        if volume < 0 {
            return Err(in_column(
                &c.volume,
                &format!("volume {volume} is negative"),
            ));
        }
        let bar = DailyBar {
            date: day.yyyymmdd(),
            open: price(row, &c.open)?,
            high: price(row, &c.high)?,
            low: price(row, &c.low)?,
            close: price(row, &c.close)?,
            volume,
            open_interest: 0,
        };
        out.push(((self.symbol.clone(), day), bar));
        Ok(Parsed::Records)
    }

    fn finish(&self, _records: &mut Vec<DailyBar>) {}
}
