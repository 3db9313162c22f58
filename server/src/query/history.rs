//! `history`: a symbol's bars from FEED.
//!
//! Bars are read as stored when the store has them at the interval asked, and resampled
//! otherwise: intraday bars from stored one-minute bars or from trades, daily bars from
//! trades on days without a stored daily bar (the rule reconciliation shares:
//! `xlfeed_analytics::bars`), weekly and monthly bars from daily ones.
//! Intraday bars are stamped at their end like IQFeed's and aligned to the clock in New York
//! (a 5-minute bar covers [09:30, 09:35)). `vwap` is computed from trades, so asking for
//! `vwap` or `trades` builds intraday bars from trades wherever a day has them; a bar built
//! only from stored bars has no vwap (empty). Weekly and monthly bars carry the date of their last
//! trading day.

use std::collections::BTreeMap;

use chrono::{Datelike, Timelike};
use xlfeed_analytics::bars::{self, Ohlcv};
use xlfeed_core::calendar::utc_ns_to_new_york;
use xlfeed_core::records::Bar;
use xlfeed_core::{Symbol, TradingDay};
use xlfeed_store::{Dataset, Kind, Records};

use super::args::Interval;
use super::args::{Args, DayEnd, pick_fields};
use super::data::Data;
use super::functions::{Excel, Function, ParamType as T, p, xopt, xreq};
use crate::error::{ApiError, ApiResult};
use crate::table::{Cell, Table};

/// Bar fields a caller may ask for.
pub(crate) const BAR_FIELDS: &[&str] =
    &["open", "high", "low", "close", "volume", "vwap", "trades"];
const DEFAULT_BAR_FIELDS: &[&str] = &["open", "high", "low", "close", "volume"];
/// Rows of one history answer at most; past it the answer is a page with `next`.
pub(crate) const MAX_HISTORY_ROWS: usize = 100_000;
/// Intraday history spans at most this many days per call.
const MAX_INTRADAY_DAYS: usize = 366;
const NS: i64 = 1_000_000_000;

/// One output bar, before field selection: the shared daily-bar rule's bar.
type Row = Ohlcv;

/// A bar's `field` as an answer's cell.
fn cell(r: &Row, field: &str) -> Cell {
    match field {
        "open" => Cell::Num(r.open),
        "high" => Cell::Num(r.high),
        "low" => Cell::Num(r.low),
        "close" => Cell::Num(r.close),
        "volume" => Cell::Int(r.volume),
        "trades" => Cell::Int(r.trades),
        "vwap" => Cell::opt(r.vwap()),
        _ => Cell::Empty,
    }
}

/// Seconds since midnight New York of a UTC time, and its date.
fn local_secs(ns: i64) -> (chrono::NaiveDate, i64) {
    let t = utc_ns_to_new_york(ns);
    (t.date(), i64::from(t.num_seconds_from_midnight()))
}

/// The end (UTC ns) of the clock-aligned bucket of `secs` holding local second-of-day `s`
/// on `date`, half-open [start, end).
fn bucket_end(ns: i64, secs: u32, end_stamped: bool) -> i64 {
    let (_, s) = local_secs(ns);
    let secs = i64::from(secs);
    let sub = ns.rem_euclid(NS);
    // A bar stamped at its end covers (end − len, end]: its own stamp is its bucket's end.
    let pos = if end_stamped && sub == 0 && s % secs == 0 {
        s - secs
    } else {
        s
    };
    let end_s = pos.div_euclid(secs) * secs + secs;
    ns - sub - s * NS + end_s * NS
}

/// `history`, declared for the function table.
pub(super) const FUNCTION: Function = Function {
    name: "history",
    params: &[
        p("symbol", T::Symbol, true, "The symbol."),
        p(
            "start",
            T::Date,
            true,
            "The first day (a date-time for intraday bars starts there).",
        ),
        p(
            "end",
            T::Date,
            false,
            "The last day (default: start for intraday bars, today in New York otherwise).",
        ),
        p(
            "interval",
            T::Interval,
            false,
            "Bar interval (default daily).",
        ),
        p(
            "fields",
            T::SomeOf(&[BAR_FIELDS]),
            false,
            "Columns after the date (default open, high, low, close, volume).",
        ),
    ],
    doc: "Bars of a symbol over a date range: interval 1m, 5m, 15m, 30m, 1h, daily (default), weekly, monthly; fields open, high, low, close, volume, vwap, trades.",
    heavy: true,
    excel: &[Excel {
        id: "HISTORY",
        params: &[
            xreq("symbol", &["symbol"]),
            xreq("start", &["start"]),
            xreq("end", &["end"]),
            xopt("interval", &["interval"]),
            xopt("fields", &["fields"]),
            xopt("options", &[]),
        ],
    }],
    run: |data, args| Box::pin(run(data, args)),
};

/// Runs `history` on arguments that passed the declaration.
async fn run(data: &Data, args: &Args) -> ApiResult<Table> {
    let symbol = args.symbol("symbol")?;
    let interval = Interval::parse(&args.opt_text("interval")?.unwrap_or_default())?;
    let fields = pick_fields(args, BAR_FIELDS, DEFAULT_BAR_FIELDS)?;
    let start = args
        .day("start")?
        .ok_or_else(|| ApiError::bad("start is required"))?;
    let end = match args.day("end")? {
        Some(e) => e,
        None if matches!(interval, Interval::Intraday(_)) => start,
        None => super::data::today().unwrap_or(start).max(start),
    };
    if start > end {
        return Err(ApiError::bad(format!("start {start} is after end {end}")));
    }
    data.known(&symbol, &[Kind::Daily, Kind::Trade, Kind::Bar(60)])
        .await?;
    let (stamps, rows) = match interval {
        Interval::Intraday(secs) => {
            let start_ns = args.time("start", DayEnd::Start)?.unwrap_or(0);
            let end_ns = args.time("end", DayEnd::End)?.unwrap_or(i64::MAX);
            let exact = fields.iter().any(|f| f == "vwap" || f == "trades");
            intraday(data, &symbol, start, end, secs, (start_ns, end_ns), exact).await?
        }
        _ => {
            let daily = daily(
                data,
                &symbol,
                start,
                end,
                fields.iter().any(|f| f == "vwap"),
            )
            .await?;
            let grouped = match interval {
                Interval::Weekly => group(daily, |d| {
                    let w = d.date().iso_week();
                    (w.year(), w.week())
                }),
                Interval::Monthly => group(daily, |d| (d.date().year(), d.date().month())),
                _ => daily,
            };
            (
                grouped
                    .iter()
                    .map(|(d, _)| Cell::Date(d.yyyymmdd()))
                    .collect(),
                grouped.into_iter().map(|(_, r)| r).collect(),
            )
        }
    };
    let stamp = if matches!(interval, Interval::Intraday(_)) {
        "time"
    } else {
        "date"
    };
    let mut t = Table::new(std::iter::once(stamp.to_owned()).chain(fields.iter().cloned()));
    for (s, r) in stamps.into_iter().zip(rows) {
        if t.rows.len() == MAX_HISTORY_ROWS {
            let from = match &s {
                Cell::Date(d) => d.to_string(),
                Cell::Time(ns) => ns.to_string(),
                _ => String::new(),
            };
            t.next = Some(format!(
                "more than {MAX_HISTORY_ROWS} rows: ask again from start={from}"
            ));
            break;
        }
        let mut row = Vec::with_capacity(fields.len() + 1);
        row.push(s);
        row.extend(fields.iter().map(|f| cell(&r, f)));
        t.push(row)?;
    }
    Ok(t)
}

/// Daily rows in `start..=end` by the shared daily-bar rule ([`bars`]): stored daily bars,
/// or bars built from the day's session trades; with `want_vwap`, the trades of days with a
/// stored bar too, for its vwap.
async fn daily(
    data: &Data,
    symbol: &Symbol,
    start: TradingDay,
    end: TradingDay,
    want_vwap: bool,
) -> ApiResult<Vec<(TradingDay, Row)>> {
    let stored = data
        .days(Dataset::Feed, Kind::Daily, symbol, start, end)
        .await?;
    let traded = data
        .days(Dataset::Feed, Kind::Trade, symbol, start, end)
        .await?;
    let mut out: BTreeMap<TradingDay, Row> = BTreeMap::new();
    let chunks = data
        .chunks(Dataset::Feed, Kind::Daily, symbol, &stored)
        .await?;
    for c in chunks.iter().flatten() {
        if let Records::DailyBars(rows) = c.as_ref() {
            bars::add_stored(&mut out, rows);
        }
    }
    let need: Vec<TradingDay> = traded
        .into_iter()
        .filter(|d| want_vwap || !out.contains_key(d))
        .collect();
    let chunks = data
        .chunks(Dataset::Feed, Kind::Trade, symbol, &need)
        .await?;
    for (d, c) in need.iter().zip(chunks) {
        if let Some(c) = c
            && let Records::Trades(trades) = c.as_ref()
        {
            bars::add_session(&mut out, *d, trades);
        }
    }
    Ok(out.into_iter().collect())
}

/// Intraday bars of `secs` seconds over `start..=end`, within `[start_ns, end_ns]`; from
/// trades where a day has them when `from_trades` (vwap or trade counts asked for).
async fn intraday(
    data: &Data,
    symbol: &Symbol,
    start: TradingDay,
    end: TradingDay,
    secs: u32,
    (start_ns, end_ns): (i64, i64),
    from_trades: bool,
) -> ApiResult<(Vec<Cell>, Vec<Row>)> {
    let stored_kind = Kind::Bar(secs);
    let minute = Kind::Bar(60);
    // Which source serves each day: bars at the interval, one-minute bars (when the
    // interval is whole minutes), or trades.
    let exact = data
        .days(Dataset::Feed, stored_kind, symbol, start, end)
        .await?;
    let minutes = if secs.is_multiple_of(60) && secs != 60 {
        data.days(Dataset::Feed, minute, symbol, start, end).await?
    } else {
        Vec::new()
    };
    let traded = data
        .days(Dataset::Feed, Kind::Trade, symbol, start, end)
        .await?;
    let mut plan: BTreeMap<TradingDay, Kind> = BTreeMap::new();
    for d in traded {
        plan.insert(d, Kind::Trade);
    }
    // Trades give vwap and trade counts exactly; stored bars are cheaper to read.
    for d in minutes {
        if !(from_trades && plan.contains_key(&d)) {
            plan.insert(d, minute);
        }
    }
    for d in exact {
        if !(from_trades && plan.get(&d) == Some(&Kind::Trade)) {
            plan.insert(d, stored_kind);
        }
    }
    if plan.len() > MAX_INTRADAY_DAYS {
        return Err(ApiError::bad(format!(
            "{} days of intraday bars in one call is more than {MAX_INTRADAY_DAYS}: ask for a shorter range",
            plan.len()
        )));
    }
    let mut buckets: BTreeMap<i64, Row> = BTreeMap::new();
    for (d, kind) in plan {
        let Some(c) = data.chunk(Dataset::Feed, kind, symbol, d).await? else {
            continue;
        };
        match c.as_ref() {
            Records::Bars(bars) => {
                for b in bars
                    .iter()
                    .filter(|b| b.time > start_ns && b.time <= end_ns)
                {
                    let e = bucket_end(b.time, secs, true);
                    add(&mut buckets, e, bar_row(b));
                }
            }
            Records::Trades(trades) => {
                for t in trades
                    .iter()
                    .filter(|t| t.time >= start_ns && t.time <= end_ns)
                {
                    add(
                        &mut buckets,
                        bucket_end(t.time, secs, false),
                        Ohlcv::from_trade(t),
                    );
                }
            }
            _ => {}
        }
    }
    Ok(buckets.into_iter().map(|(e, r)| (Cell::Time(e), r)).unzip())
}
/// Daily closes of a symbol over a range (stored or built from trades), for comparisons.
pub(crate) async fn daily_closes(
    data: &Data,
    symbol: &Symbol,
    start: TradingDay,
    end: TradingDay,
) -> ApiResult<(Vec<u32>, Vec<f64>)> {
    data.known(symbol, &[Kind::Daily, Kind::Trade]).await?;
    let rows = daily(data, symbol, start, end, false).await?;
    Ok(rows
        .into_iter()
        .filter(|(_, r)| r.close > 0.0)
        .map(|(d, r)| (d.yyyymmdd(), r.close))
        .unzip())
}

fn bar_row(b: &Bar) -> Row {
    Row {
        open: b.open,
        high: b.high,
        low: b.low,
        close: b.close,
        volume: b.volume,
        trades: b.trades,
        notional: None,
    }
}

fn add(buckets: &mut BTreeMap<i64, Row>, end: i64, r: Row) {
    match buckets.get_mut(&end) {
        Some(b) => b.merge(&r),
        None => {
            buckets.insert(end, r);
        }
    }
}

/// Daily rows grouped by `key` (a week, a month), each group dated by its last day.
fn group<K: PartialEq>(
    rows: Vec<(TradingDay, Row)>,
    key: impl Fn(TradingDay) -> K,
) -> Vec<(TradingDay, Row)> {
    let mut out: Vec<(TradingDay, Row)> = Vec::new();
    let mut last_key: Option<K> = None;
    for (d, r) in rows {
        let k = key(d);
        match out.last_mut() {
            Some((ld, lr)) if last_key.as_ref() == Some(&k) => {
                *ld = d;
                lr.merge(&r);
            }
            _ => out.push((d, r)),
        }
        last_key = Some(k);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_align_to_the_new_york_clock() {
        // 2024-06-12 09:30:00 New York.
        let open = 1_718_199_000_000_000_000;
        let min = 60 * NS;
        // A trade at 09:30:00 belongs to [09:30, 09:35), stamped 09:35.
        assert_eq!(bucket_end(open, 300, false), open + 5 * min);
        assert_eq!(bucket_end(open + 5 * min - 1, 300, false), open + 5 * min);
        // A one-minute bar stamped 09:35 covers (09:34, 09:35]: also the 09:35 bucket.
        assert_eq!(bucket_end(open + 5 * min, 300, true), open + 5 * min);
        assert_eq!(bucket_end(open + 6 * min, 300, true), open + 10 * min);
        // Hourly bars end on the hour: 10:00 for the first.
        assert_eq!(bucket_end(open, 3600, false), open + 30 * min);
    }
}
