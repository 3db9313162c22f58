//! The quote shape: what `MKT.QUOTE` produces (and the quote sheet of an xlserver workbook),
//! a row per symbol with some of `symbol, time, last, size, bid, ask, volume, change,
//! change_pct, open, high, low, prev_close`, each row compared with what
//! `GET /api/v1/quote` answers for its symbol as of the same time (the shared rules of
//! `xlfeed_analytics::quote`: the latest quote snapshot at or before it, else the latest
//! trade with the day so far).
//!
//! A quote depends on when it was asked: the `at` parameter, else the About sheet's `at`
//! (a report the server wrote records it), else the latest (as `MKT.QUOTE` without `at`).
//! `time` is compared to the millisecond, as New York time. A symbol we have no quote or
//! trade for is an extra row.

use std::collections::HashMap;

use xlfeed_analytics::quote::{self as rules, QuoteValues};
use xlfeed_core::calendar::{new_york_day, utc_ns_to_new_york};
use xlfeed_core::{DateSystem, Symbol, TradingDay, quoted};
use xlfeed_store::{Dataset, Kind, Records, Store};

use super::compare::{CellCheck, Checked, Cx, RowCheck, read_chunk, shown};
use super::detect::{SymbolFrom, Table};
use super::{DayNote, ReconcileError, a1, bad};

/// Columns only a quote has (a history table's OHLCV are a quote's too).
const QUOTE_ONLY: &[&str] = &[
    "last",
    "size",
    "bid",
    "ask",
    "change",
    "change_pct",
    "prev_close",
];

/// A quote table's columns.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// A `symbol` column.
    pub(crate) symbol_col: Option<u32>,
    /// The compared columns and our field of each.
    pub(crate) fields: Vec<(u32, &'static str)>,
}

impl Layout {
    /// The symbol column, else the first compared one.
    pub(crate) fn key_col(&self) -> u32 {
        self.symbol_col
            .or_else(|| self.fields.iter().map(|(c, _)| *c).min())
            .unwrap_or(0)
    }

    pub(crate) fn columns(&self) -> Vec<u32> {
        let mut c: Vec<u32> = self.fields.iter().map(|(c, _)| *c).collect();
        c.extend(self.symbol_col);
        c
    }
}

/// A quote table's layout, when the header row (normalised text cells) names a quote's
/// fields, at least one of them one only a quote has.
pub(crate) fn header(cells: &[(u32, String)]) -> Option<Layout> {
    let mut symbol_col = None;
    let mut fields: Vec<(u32, &'static str)> = Vec::new();
    for (col, text) in cells {
        if text == "symbol" || text == "ticker" {
            symbol_col = symbol_col.or(Some(*col));
            continue;
        }
        if let Some(f) = rules::FIELDS
            .iter()
            .find(|f| **f != "symbol" && super::detect::normalise(f) == *text)
            && !fields.iter().any(|(_, g)| g == f)
        {
            fields.push((*col, *f));
        }
    }
    if !fields.iter().any(|(_, f)| QUOTE_ONLY.contains(f)) {
        return None;
    }
    Some(Layout { symbol_col, fields })
}

/// Each row of `t` against our quote of its symbol.
pub(crate) async fn check(cx: &Cx<'_>, t: &Table, l: &Layout) -> Result<Checked, ReconcileError> {
    let sheet = &cx.book.sheets[t.sheet];
    let at = cx.at.map(|(ns, _)| ns);
    let at_day = at.and_then(new_york_day);
    let mut out = Checked {
        as_of: Some(match cx.at {
            Some((ns, from)) => format!("at {} ({from})", shown_time(ns)),
            None => "latest".to_owned(),
        }),
        ..Checked::default()
    };
    let mut ours: HashMap<Symbol, Option<QuoteValues>> = HashMap::new();
    for r in t.header + 1..=t.last {
        let symbol = match &t.symbol {
            SymbolFrom::Fixed(s, _) => s.clone(),
            SymbolFrom::Column(c) => {
                let text = shown(sheet.at(r, *c));
                Symbol::parse(&text.trim().to_ascii_uppercase()).map_err(|e| {
                    bad(format!(
                        "cell {}!{} is not a symbol ({e}): {}",
                        quoted(&sheet.name),
                        a1(r, *c),
                        quoted(&text)
                    ))
                })?
            }
        };
        let v = match ours.get(&symbol) {
            Some(v) => *v,
            None => {
                let v = quote_of(&cx.stores.feed, &symbol, at, at_day).await?;
                ours.insert(symbol.clone(), v);
                v
            }
        };
        let Some(v) = v else {
            out.extra.push(DayNote {
                sheet: sheet.name.clone(),
                date: at_day.map(|d| d.to_string()).unwrap_or_default(),
                cell: Some(a1(r, l.key_col())),
                symbol: symbol.to_string(),
            });
            continue;
        };
        let cells = l
            .fields
            .iter()
            .map(|(c, f)| CellCheck {
                col: *c,
                field: f,
                ours: match *f {
                    "time" => DateSystem::Date1900
                        .serial_from_datetime(utc_ns_to_new_york(v.time))
                        .ok(),
                    f => v.number(f),
                },
                time: *f == "time",
            })
            .collect();
        out.rows.push(RowCheck {
            row: r,
            date: new_york_day(v.time)
                .map(|d| d.to_string())
                .unwrap_or_default(),
            symbol: symbol.to_string(),
            cells,
        });
    }
    Ok(out)
}

/// A UTC time as New York time, to the millisecond.
pub(crate) fn shown_time(ns: i64) -> String {
    format!(
        "{} New York",
        utc_ns_to_new_york(ns).format("%Y-%m-%d %H:%M:%S%.3f")
    )
}

/// The quote of `symbol` as of `at`, as `quote` answers it: the latest quote snapshot at or
/// before it on the latest day with quotes; else the latest trade at or before it, with its
/// day so far and the previous trading day's close.
async fn quote_of(
    feed: &Store,
    symbol: &Symbol,
    at: Option<i64>,
    at_day: Option<TradingDay>,
) -> Result<Option<QuoteValues>, ReconcileError> {
    let upto = |days: &[TradingDay]| match at_day {
        Some(d) => days.partition_point(|x| *x <= d),
        None => days.len(),
    };
    let days = feed.all_days(Dataset::Feed, Kind::Quote, symbol).await?;
    if let Some(day) = upto(&days).checked_sub(1).map(|i| days[i])
        && let Some(Records::Quotes(q)) =
            read_chunk(feed, Dataset::Feed, Kind::Quote, symbol, day).await?
        && let Some(v) = rules::from_quotes(&q, at)
    {
        return Ok(Some(v));
    }
    let days = feed.all_days(Dataset::Feed, Kind::Trade, symbol).await?;
    for i in (0..upto(&days)).rev() {
        let Some(Records::Trades(trades)) =
            read_chunk(feed, Dataset::Feed, Kind::Trade, symbol, days[i]).await?
        else {
            continue;
        };
        let upto_now = rules::trades_upto(&trades, at);
        let Some(sum) = rules::summarize(upto_now) else {
            continue;
        };
        let prev_close = match i.checked_sub(1) {
            Some(j) => close_of(feed, symbol, days[j]).await?,
            None => None,
        };
        return Ok(rules::from_trades(upto_now, &sum, prev_close));
    }
    Ok(None)
}

/// A day's close: its stored daily bar, else its last trade.
async fn close_of(
    feed: &Store,
    symbol: &Symbol,
    day: TradingDay,
) -> Result<Option<f64>, ReconcileError> {
    if let Some(Records::DailyBars(b)) =
        read_chunk(feed, Dataset::Feed, Kind::Daily, symbol, day).await?
        && !b.is_empty()
    {
        return Ok(rules::close_of(Some(&b), None));
    }
    Ok(
        match read_chunk(feed, Dataset::Feed, Kind::Trade, symbol, day).await? {
            Some(Records::Trades(t)) => rules::close_of(None, Some(&t)),
            _ => None,
        },
    )
}
