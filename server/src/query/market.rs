//! `history`, `ticks` and `quote`: a symbol's market data from FEED.
//!
//! Bars are read as stored when the store has them at the interval asked, and resampled
//! otherwise: intraday bars from stored one-minute bars or from trades, daily bars from
//! trades on days without a stored daily bar, weekly and monthly bars from daily ones.
//! Intraday bars are stamped at their end like IQFeed's and aligned to the clock in New York
//! (a 5-minute bar covers [09:30, 09:35)). `vwap` is computed from trades, so asking for
//! `vwap` or `trades` builds intraday bars from trades wherever a day has them; a bar built
//! only from stored bars has no vwap (empty). Weekly and monthly bars carry the date of their last
//! trading day.

use std::collections::BTreeMap;

use chrono::{Datelike, Timelike};
use xlfeed_core::calendar::utc_ns_to_new_york;
use xlfeed_core::records::{Bar, DailyBar, Trade};
use xlfeed_core::{Nyse, Symbol, TradingDay};
use xlfeed_store::{ChunkKey, Dataset, Kind, Records};

use super::data::DaySummary;

use super::{Args, DayEnd, QueryService, pick_fields};
use crate::error::{ApiError, ApiResult};
use crate::table::{Cell, Table};

/// Bar fields a caller may ask for.
pub(crate) const BAR_FIELDS: &[&str] =
    &["open", "high", "low", "close", "volume", "vwap", "trades"];
const DEFAULT_BAR_FIELDS: &[&str] = &["open", "high", "low", "close", "volume"];
/// Rows of one history answer at most; past it the answer is a page with `next`.
pub(crate) const MAX_HISTORY_ROWS: usize = 100_000;
/// Fields a quote may be asked for.
pub(crate) const QUOTE_FIELDS: &[&str] = &[
    "symbol",
    "time",
    "last",
    "size",
    "bid",
    "ask",
    "volume",
    "change",
    "change_pct",
    "open",
    "high",
    "low",
    "prev_close",
];
/// Ticks of one page by default, and at most.
const DEFAULT_TICKS: i64 = 10_000;
pub(crate) const MAX_TICKS: i64 = 100_000;
/// Intraday history spans at most this many days per call.
const MAX_INTRADAY_DAYS: usize = 366;
const NS: i64 = 1_000_000_000;

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

/// One output bar, before field selection.
#[derive(Debug, Clone, Copy, Default)]
struct Row {
    open: f64,
    high: f64,
    low: f64,
    close: f64,
    volume: i64,
    trades: i64,
    /// Σ price·size, when built from trades.
    notional: Option<f64>,
}

impl Row {
    fn from_trade(t: &Trade) -> Row {
        Row {
            open: t.price,
            high: t.price,
            low: t.price,
            close: t.price,
            volume: t.size,
            trades: 1,
            notional: Some(t.price * t.size as f64),
        }
    }

    fn merge(&mut self, o: &Row) {
        self.high = self.high.max(o.high);
        self.low = self.low.min(o.low);
        self.close = o.close;
        self.volume += o.volume;
        self.trades += o.trades;
        self.notional = match (self.notional, o.notional) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
    }

    fn cell(&self, field: &str) -> Cell {
        match field {
            "open" => Cell::Num(self.open),
            "high" => Cell::Num(self.high),
            "low" => Cell::Num(self.low),
            "close" => Cell::Num(self.close),
            "volume" => Cell::Int(self.volume),
            "trades" => Cell::Int(self.trades),
            "vwap" => match self.notional {
                Some(n) if self.volume > 0 => Cell::Num(n / self.volume as f64),
                _ => Cell::Empty,
            },
            _ => Cell::Empty,
        }
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

fn bad_range(start: TradingDay, end: TradingDay) -> ApiError {
    ApiError::bad(format!("start {start} is after end {end}"))
}

impl QueryService {
    /// Known symbol check: a symbol with nothing stored is `#N/A` naming it.
    async fn known(&self, symbol: &Symbol, kinds: &[Kind]) -> ApiResult<()> {
        for k in kinds {
            if !self
                .data
                .all_days(Dataset::Feed, *k, symbol)
                .await?
                .is_empty()
            {
                return Ok(());
            }
        }
        Err(ApiError::not_found(format!("unknown symbol {symbol}")))
    }

    /// `history`.
    pub async fn history(&self, args: &Args) -> ApiResult<Table> {
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
            return Err(bad_range(start, end));
        }
        self.known(&symbol, &[Kind::Daily, Kind::Trade, Kind::Bar(60)])
            .await?;
        let (stamps, rows) = match interval {
            Interval::Intraday(secs) => {
                let start_ns = args.time("start", DayEnd::Start)?.unwrap_or(0);
                let end_ns = args.time("end", DayEnd::End)?.unwrap_or(i64::MAX);
                let exact = fields.iter().any(|f| f == "vwap" || f == "trades");
                self.intraday(&symbol, start, end, secs, (start_ns, end_ns), exact)
                    .await?
            }
            _ => {
                let daily = self
                    .daily(&symbol, start, end, fields.iter().any(|f| f == "vwap"))
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
            row.extend(fields.iter().map(|f| r.cell(f)));
            t.push(row)?;
        }
        Ok(t)
    }

    /// Daily rows in `start..=end`: stored daily bars, or bars built from the day's trades.
    async fn daily(
        &self,
        symbol: &Symbol,
        start: TradingDay,
        end: TradingDay,
        want_vwap: bool,
    ) -> ApiResult<Vec<(TradingDay, Row)>> {
        let stored = self
            .data
            .days(Dataset::Feed, Kind::Daily, symbol, start, end)
            .await?;
        let traded = self
            .data
            .days(Dataset::Feed, Kind::Trade, symbol, start, end)
            .await?;
        let mut out: BTreeMap<TradingDay, Row> = BTreeMap::new();
        let chunks = self
            .data
            .chunks(Dataset::Feed, Kind::Daily, symbol, &stored)
            .await?;
        for c in chunks.iter().flatten() {
            if let Records::DailyBars(rows) = c.as_ref() {
                for b in rows {
                    if let Ok(d) = TradingDay::from_yyyymmdd(b.date) {
                        out.insert(d, daily_row(b));
                    }
                }
            }
        }
        // Trades fill the days without a daily bar, and the vwap when asked for.
        let need: Vec<TradingDay> = traded
            .into_iter()
            .filter(|d| want_vwap || !out.contains_key(d))
            .collect();
        let chunks = self
            .data
            .chunks(Dataset::Feed, Kind::Trade, symbol, &need)
            .await?;
        for (d, c) in need.iter().zip(chunks) {
            let Some(c) = c else { continue };
            let Records::Trades(trades) = c.as_ref() else {
                continue;
            };
            let Some(session) = Nyse.session(*d) else {
                continue;
            };
            let (open, close) = (session.open_utc_ns(), session.close_utc_ns());
            let mut acc: Option<Row> = None;
            for t in trades.iter().filter(|t| t.time >= open && t.time <= close) {
                let r = Row::from_trade(t);
                match &mut acc {
                    Some(a) => a.merge(&r),
                    None => acc = Some(r),
                }
            }
            let Some(acc) = acc else { continue };
            match out.get_mut(d) {
                // A stored daily bar keeps its figures; the session's trades give its vwap.
                Some(stored) => {
                    stored.notional = acc
                        .notional
                        .filter(|_| acc.volume > 0)
                        .map(|n| n / acc.volume as f64 * stored.volume as f64);
                }
                None => {
                    out.insert(*d, acc);
                }
            }
        }
        Ok(out.into_iter().collect())
    }

    /// Intraday bars of `secs` seconds over `start..=end`, within `[start_ns, end_ns]`; from
    /// trades where a day has them when `from_trades` (vwap or trade counts asked for).
    async fn intraday(
        &self,
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
        let exact = self
            .data
            .days(Dataset::Feed, stored_kind, symbol, start, end)
            .await?;
        let minutes = if secs.is_multiple_of(60) && secs != 60 {
            self.data
                .days(Dataset::Feed, minute, symbol, start, end)
                .await?
        } else {
            Vec::new()
        };
        let traded = self
            .data
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
            let Some(c) = self.data.chunk(Dataset::Feed, kind, symbol, d).await? else {
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
                            Row::from_trade(t),
                        );
                    }
                }
                _ => {}
            }
        }
        Ok(buckets.into_iter().map(|(e, r)| (Cell::Time(e), r)).unzip())
    }

    /// `ticks`.
    pub async fn ticks(&self, args: &Args) -> ApiResult<Table> {
        let symbol = args.symbol("symbol")?;
        let start = args
            .time("start", DayEnd::Start)?
            .ok_or_else(|| ApiError::bad("start is required"))?;
        let end = match args.time("end", DayEnd::End)? {
            Some(e) => e,
            None => {
                let d = args
                    .day("start")?
                    .ok_or_else(|| ApiError::bad("start is required"))?;
                args_day_end(d)?
            }
        };
        if start > end {
            let shown = |ns: i64| utc_ns_to_new_york(ns).format("%Y-%m-%dT%H:%M:%S%.3f");
            return Err(ApiError::bad(match args.opt_text("end")? {
                Some(e) => format!(
                    "start {} ({} New York) is after end {} ({})",
                    xlfeed_core::quoted(&args.text("start")?),
                    shown(start),
                    xlfeed_core::quoted(&e),
                    shown(end)
                ),
                None => format!(
                    "start {} ({} New York) is after the end of its day ({}): give an end",
                    xlfeed_core::quoted(&args.text("start")?),
                    shown(start),
                    shown(end)
                ),
            }));
        }
        let limit = args.int("limit")?.unwrap_or(DEFAULT_TICKS);
        if !(1..=MAX_TICKS).contains(&limit) {
            return Err(ApiError::bad(format!(
                "limit {limit} is not between 1 and {MAX_TICKS}"
            )));
        }
        let cursor = match args.opt_text("cursor")? {
            None => None,
            Some(c) => Some(parse_cursor(&c)?),
        };
        self.known(&symbol, &[Kind::Trade]).await?;
        let first = TradingDay::from_date(utc_ns_to_new_york(start).date())?;
        let last = TradingDay::from_date(utc_ns_to_new_york(end).date())?;
        let days = self
            .data
            .days(Dataset::Feed, Kind::Trade, &symbol, first, last)
            .await?;
        let mut t = Table::new([
            "time",
            "price",
            "size",
            "bid",
            "ask",
            "tick_id",
            "basis",
            "market_center",
            "conditions",
        ]);
        // The (time, tick id) of the last row: the cursor of the next page.
        let mut page_end: Option<(i64, i64)> = None;
        'days: for d in days {
            let Some(c) = self
                .data
                .chunk(Dataset::Feed, Kind::Trade, &symbol, d)
                .await?
            else {
                continue;
            };
            let Records::Trades(trades) = c.as_ref() else {
                continue;
            };
            let from = trades.partition_point(|x| x.time < start);
            for x in &trades[from..] {
                if x.time > end {
                    break 'days;
                }
                if let Some((ct, cid)) = cursor
                    && (x.time, x.tick_id) <= (ct, cid)
                {
                    continue;
                }
                if t.rows.len() as i64 == limit {
                    if let Some((lt, lid)) = page_end {
                        t.next = Some(format!("{lt}:{lid}"));
                    }
                    break 'days;
                }
                page_end = Some((x.time, x.tick_id));
                t.push(vec![
                    Cell::Time(x.time),
                    Cell::Num(x.price),
                    Cell::Int(x.size),
                    Cell::Num(x.bid),
                    Cell::Num(x.ask),
                    Cell::Int(x.tick_id),
                    Cell::Text(x.basis.to_string()),
                    Cell::Int(i64::from(x.market_center)),
                    Cell::Text(x.conditions.to_string()),
                ])?;
            }
        }
        Ok(t)
    }

    /// `quote`.
    pub async fn quote(&self, args: &Args) -> ApiResult<Table> {
        let symbol = args.symbol("symbol")?;
        let at = args.time("at", DayEnd::End)?;
        let field = args.opt_text("field")?.map(|f| f.to_ascii_lowercase());

        if let Some(f) = &field
            && !QUOTE_FIELDS.contains(&f.as_str())
        {
            return Err(ApiError::bad(format!(
                "field {} is not one of {}",
                xlfeed_core::quoted(f),
                QUOTE_FIELDS.join(", ")
            )));
        }
        let at_day = match at {
            Some(ns) => Some(TradingDay::from_date(utc_ns_to_new_york(ns).date())?),
            None => None,
        };
        let values = match self.quote_from_quotes(&symbol, at, at_day).await? {
            Some(v) => v,
            None => match self.quote_from_trades(&symbol, at, at_day).await? {
                Some(v) => v,
                None => {
                    self.known(&symbol, &[Kind::Trade, Kind::Quote, Kind::Daily])
                        .await?;
                    return Err(ApiError::not_found(format!(
                        "no trade of {symbol} at or before {}",
                        args.opt_text("at")?.unwrap_or_else(|| "now".into())
                    )));
                }
            },
        };
        let mut cells: Vec<(&str, Cell)> = vec![
            ("symbol", Cell::Text(symbol.to_string())),
            ("time", Cell::Time(values.time)),
            ("last", Cell::Num(values.last)),
            ("size", Cell::Int(values.size)),
            ("bid", Cell::Num(values.bid)),
            ("ask", Cell::Num(values.ask)),
            ("volume", Cell::Int(values.volume)),
            (
                "change",
                Cell::opt(values.prev_close.map(|p| values.last - p)),
            ),
            (
                "change_pct",
                Cell::opt(
                    values
                        .prev_close
                        .filter(|p| *p != 0.0)
                        .map(|p| (values.last / p - 1.0) * 100.0),
                ),
            ),
            ("open", Cell::opt(values.open)),
            ("high", Cell::opt(values.high)),
            ("low", Cell::opt(values.low)),
            ("prev_close", Cell::opt(values.prev_close)),
        ];
        if let Some(f) = field {
            cells.retain(|(n, _)| *n == f);
        }
        let mut t = Table::new(cells.iter().map(|(n, _)| *n));
        t.push(cells.into_iter().map(|(_, c)| c).collect())?;
        Ok(t)
    }

    async fn quote_from_quotes(
        &self,
        symbol: &Symbol,
        at: Option<i64>,
        at_day: Option<TradingDay>,
    ) -> ApiResult<Option<QuoteValues>> {
        let Some(day) = self
            .data
            .latest_day(Dataset::Feed, Kind::Quote, symbol, at_day)
            .await?
        else {
            return Ok(None);
        };
        let Some(c) = self
            .data
            .chunk(Dataset::Feed, Kind::Quote, symbol, day)
            .await?
        else {
            return Ok(None);
        };
        let Records::Quotes(q) = c.as_ref() else {
            return Ok(None);
        };
        let i = match at {
            Some(ns) => q.partition_point(|x| x.time <= ns),
            None => q.len(),
        };
        Ok(i.checked_sub(1).map(|i| {
            let x = &q[i];
            QuoteValues {
                time: x.time,
                last: x.last,
                size: x.last_size,
                bid: x.bid,
                ask: x.ask,
                volume: x.total_volume,
                open: Some(x.open),
                high: Some(x.high),
                low: Some(x.low),
                prev_close: Some(x.prev_close).filter(|p| *p > 0.0),
            }
        }))
    }

    async fn quote_from_trades(
        &self,
        symbol: &Symbol,
        at: Option<i64>,
        at_day: Option<TradingDay>,
    ) -> ApiResult<Option<QuoteValues>> {
        let days = self
            .data
            .all_days(Dataset::Feed, Kind::Trade, symbol)
            .await?;
        let upto = match at_day {
            Some(d) => days.partition_point(|x| *x <= d),
            None => days.len(),
        };
        // The latest day with a trade at or before `at`, and the day before it.
        for i in (0..upto).rev() {
            let day = days[i];
            let Some(c) = self
                .data
                .chunk(Dataset::Feed, Kind::Trade, symbol, day)
                .await?
            else {
                continue;
            };
            let Records::Trades(trades) = c.as_ref() else {
                continue;
            };
            let n = match at {
                Some(ns) => trades.partition_point(|x| x.time <= ns),
                None => trades.len(),
            };
            if n == 0 {
                continue;
            }
            let upto_now = &trades[..n];
            let last = &upto_now[n - 1];
            let summarize = || {
                let first = upto_now.first()?;
                let (mut high, mut low, mut volume) = (first.price, first.price, 0i64);
                for x in upto_now {
                    high = high.max(x.price);
                    low = low.min(x.price);
                    volume += x.size;
                }
                Some(DaySummary {
                    open: first.price,
                    high,
                    low,
                    volume,
                })
            };
            // The whole day's summary is kept; a quote as of a time inside it is summed anew.
            let sum = if n == trades.len() {
                let key = ChunkKey::new(Dataset::Feed, Kind::Trade, symbol.clone(), day);
                self.data.summary(&key, summarize)
            } else {
                summarize().map(std::sync::Arc::new)
            };
            let Some(sum) = sum else { continue };
            let prev_close = match i.checked_sub(1) {
                Some(j) => self.close_of(symbol, days[j]).await?,
                None => None,
            };
            return Ok(Some(QuoteValues {
                time: last.time,
                last: last.price,
                size: last.size,
                bid: last.bid,
                ask: last.ask,
                volume: sum.volume,
                open: Some(sum.open),
                high: Some(sum.high),
                low: Some(sum.low),
                prev_close,
            }));
        }
        Ok(None)
    }

    /// A day's close: its stored daily bar, else its last trade.
    async fn close_of(&self, symbol: &Symbol, day: TradingDay) -> ApiResult<Option<f64>> {
        if let Some(c) = self
            .data
            .chunk(Dataset::Feed, Kind::Daily, symbol, day)
            .await?
            && let Records::DailyBars(b) = c.as_ref()
            && let Some(b) = b.last()
        {
            return Ok(Some(b.close));
        }
        if let Some(c) = self
            .data
            .chunk(Dataset::Feed, Kind::Trade, symbol, day)
            .await?
            && let Records::Trades(t) = c.as_ref()
        {
            return Ok(t.last().map(|t| t.price));
        }
        Ok(None)
    }

    /// Daily closes of a symbol over a range (stored or built from trades), for comparisons.
    pub(crate) async fn daily_closes(
        &self,
        symbol: &Symbol,
        start: TradingDay,
        end: TradingDay,
    ) -> ApiResult<(Vec<u32>, Vec<f64>)> {
        self.known(symbol, &[Kind::Daily, Kind::Trade]).await?;
        let rows = self.daily(symbol, start, end, false).await?;
        Ok(rows
            .into_iter()
            .filter(|(_, r)| r.close > 0.0)
            .map(|(d, r)| (d.yyyymmdd(), r.close))
            .unzip())
    }
}

/// What a quote answer holds.
struct QuoteValues {
    time: i64,
    last: f64,
    size: i64,
    bid: f64,
    ask: f64,
    volume: i64,
    open: Option<f64>,
    high: Option<f64>,
    low: Option<f64>,
    prev_close: Option<f64>,
}

fn args_day_end(d: TradingDay) -> ApiResult<i64> {
    let next = d
        .date()
        .succ_opt()
        .and_then(|n| n.and_hms_opt(0, 0, 0))
        .and_then(xlfeed_core::calendar::new_york_to_utc_ns)
        .ok_or_else(|| ApiError::bad(format!("no end of day {d}")))?;
    Ok(next - 1)
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

fn daily_row(b: &DailyBar) -> Row {
    Row {
        open: b.open,
        high: b.high,
        low: b.low,
        close: b.close,
        volume: b.volume,
        trades: 0,
        notional: None,
    }
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
