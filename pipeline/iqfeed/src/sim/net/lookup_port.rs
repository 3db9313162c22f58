//! The lookup port (9100): history (`HTX` … `HMX`), option chains (`CEO`, `CFO`), symbol
//! search (`SBF`, and by industry `SBS`/`SBN`) and the reference tables (`SLM`, `SST`, `STC`,
//! `SSC`, `SNC`; rows in `tables`), answered from the market as IQConnect answers them.
//!
//! One request at a time per connection, in the order received; every reply line echoes
//! the request id (none when the request had none), data lines carry `LH`/`LC`/`LS` in 6.2
//! only, and every reply ends with `[id,]!ENDMSG!,`. Errors are the `E` line then the end
//! line: `Invalid symbol.` for a symbol the market does not know, `!NO_DATA!` for a valid
//! request with nothing in range, `!SYNTAX_ERROR!` / `Invalid number of parameters.` for a
//! line that does not parse, `Too many simultaneous history requests` past the rate limit.
//!
//! History is streamed one session at a time, in batches of about 128 KiB, so a year of
//! ticks never sits in memory. Where the reference (shared/reference/iqfeed-protocol.md) is
//! unsure, the simulator does this:
//!
//! - `MaxDatapoints` keeps the **newest** N points whatever the direction (oldest-first
//!   replies then start N points before the end); 0 or empty means no limit.
//! - `Days` (`HTD`, `HID`) counts NYSE trading days back from `today`, 1 being `today`.
//! - Filter times are inclusive at whole seconds: a trade at 16:00:00.5 passes an end filter
//!   of `160000`. Date-time ranges likewise (begin exact, end to the end of its second).
//! - Without a begin date-time, ticks and bars reach back a year, `HDT` ten years;
//!   `HTX`/`HIX` look back a year for their N points; `HDX`/`HWX`/`HMX` with N = 0 ("all")
//!   give ten years. Nothing is later than `today`, whose whole session is history.
//! - Interval bars: `s` bars are clock-aligned (a 60 s bar is a clock minute) and carry 0
//!   trades, as IQFeed's do; `v` bars close on the trade that brings their volume to the
//!   interval or past it (trades are not split), `t` bars every `interval` trades, both reset
//!   at each session and stamped with their last trade's second (their first with
//!   `LabelAtBeginning`); only `t` bars carry their trade count.
//! - `DatapointsPerSend` is read but batching is by bytes; `IncludePartialDatapoint` and
//!   `IncludeNonStandardOptions` change nothing (every session in history is complete and no
//!   root is non-standard).
//! - Option contracts (IQFeed or OCC form) have ticks, bars and daily data built from their
//!   trades; a contract's history starts 150 days before its expiry.
//! - `CEO`: month codes select by the contract's own letter (A–L calls, M–X puts), near
//!   months count calendar months of listed expiries, filter type 2 counts strikes per expiry
//!   and side from the day's opening price; a chain with no contract left is `!NO_DATA!`.
//! - `CFO`: this universe has no futures, so every root is `Invalid symbol.`.

use std::io;

use chrono::{Datelike, Days, Months, NaiveDate, NaiveTime, Timelike};
use xlfeed_core::calendar::{new_york_to_utc_ns, utc_ns_to_new_york};
use xlfeed_core::{Nyse, OptionSymbol, Right, TradingDay};

use super::conn::Conn;
use super::faults::MALFORMED_FIELDS;
use crate::sim::market::tables::{self, TableError, TableRequest};
use crate::sim::market::tape;
use crate::sim::market::{Market, group};
use crate::wire::Protocol;
use crate::wire::chain::{Chain, SymbolMatch, write_option_chain, write_symbol_match};
use crate::wire::history::{DailyLine, IntervalBar, Tick, write_bar, write_daily, write_tick};
use crate::wire::lookup::{
    INVALID_SYMBOL, NO_DATA, TOO_MANY, write_data_prefix, write_end, write_error,
};
use crate::wire::request::{
    self, BarSpec, ChainFilter, DateTime, Direction, IntervalType, Request, Sides, Window,
};

/// Bytes of reply gathered before a write.
const FLUSH_BYTES: usize = 128 * 1024;
/// How far back (calendar days) ticks and bars reach without a begin date.
const INTRADAY_DEPTH_DAYS: u64 = 365;
/// How far back (calendar days) `HDT` reaches without a begin date.
const DAILY_DEPTH_DAYS: u64 = 3_653;
/// Most sessions `HTD`/`HID`/`HDX` count back.
const MAX_SESSIONS: u32 = 10_000;
/// Calendar days before its expiry an option contract can have trades.
const OPTION_LISTING_DAYS: u64 = 150;
/// Microseconds in a day.
const DAY_US: i64 = 86_400_000_000;

/// Answers lookup requests until the client hangs up.
pub(crate) async fn serve(mut conn: Conn) -> io::Result<()> {
    let mut data_lines = 0u64;
    while let Some(line) = conn.next_line().await? {
        let line = line.trim();
        if line.is_empty() || conn.handshake(line).await?.is_some() {
            continue;
        }
        if line.starts_with("S,") {
            // Other system commands mean nothing on the lookup port.
            continue;
        }
        answer(&mut conn, line, &mut data_lines).await?;
    }
    Ok(())
}

/// The reply being written: batching, the id and record prefix, and the malformed-line
/// fault.
struct Reply<'c> {
    out: &'c mut super::faults::Sink,
    id: Option<&'c [u8]>,
    protocol: Protocol,
    record: &'static [u8],
    buf: Vec<u8>,
    count: u64,
    malformed_every: Option<u64>,
    data_lines: &'c mut u64,
}

impl Reply<'_> {
    /// Appends one data line whose fields `write` appends.
    fn data(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.buf.len();
        write_data_prefix(&mut self.buf, self.id, self.record, self.protocol);
        write(&mut self.buf);
        self.count += 1;
        *self.data_lines += 1;
        if let Some(n) = self.malformed_every
            && n > 0
            && self.data_lines.is_multiple_of(n)
        {
            self.buf.truncate(start);
            write_data_prefix(&mut self.buf, self.id, self.record, self.protocol);
            self.buf.extend_from_slice(MALFORMED_FIELDS);
        }
        self.buf.extend_from_slice(b"\r\n");
    }

    fn full(&self) -> bool {
        self.buf.len() >= FLUSH_BYTES
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.out.send(&self.buf).await?;
        self.buf.clear();
        Ok(())
    }

    /// Ends the reply: the end line, or `!NO_DATA!` when nothing was sent.
    async fn finish(mut self) -> io::Result<()> {
        if self.count == 0 {
            write_error(&mut self.buf, self.id, NO_DATA);
        } else {
            write_end(&mut self.buf, self.id);
        }
        self.flush().await
    }

    /// Answers with an error (and the end line) instead of data.
    async fn error(mut self, text: &str) -> io::Result<()> {
        write_error(&mut self.buf, self.id, text);
        self.flush().await
    }
}

async fn answer(conn: &mut Conn, line: &str, data_lines: &mut u64) -> io::Result<()> {
    let shared = conn.shared.clone();
    if let Some(delay) = shared.config.faults.delay {
        tokio::time::sleep(delay).await;
    }
    if let Some(table) = tables::parse(line) {
        return answer_table(conn, table, data_lines).await;
    }
    let (req, id) = match request::parse(line) {
        Ok(parsed) => parsed,
        Err(e) => {
            let mut buf = Vec::new();
            write_error(&mut buf, request::id_of(line).map(str::as_bytes), e.text());
            return conn.out.send(&buf).await;
        }
    };
    let record: &'static [u8] = match req {
        Request::EquityChain { .. } | Request::FutureOptionChain { .. } => b"LC",
        Request::SymbolSearch { .. } => b"LS",
        _ => b"LH",
    };
    let mut reply = Reply {
        out: &mut conn.out,
        id: id.as_deref().map(str::as_bytes),
        protocol: conn.protocol,
        record,
        buf: Vec::with_capacity(FLUSH_BYTES + 4096),
        count: 0,
        malformed_every: shared.config.faults.malformed_every,
        data_lines,
    };
    if req.is_history() && !shared.admit_history() {
        return reply.error(TOO_MANY).await;
    }
    let m = &shared.market;
    let today = shared.config.today;
    match &req {
        Request::EquityChain {
            symbol,
            sides,
            month_codes,
            near_months,
            filter,
            ..
        } => match equity_chain(m, today, symbol, *sides, month_codes, *near_months, *filter) {
            None => reply.error(INVALID_SYMBOL).await,
            Some(chain) => {
                if !(chain.calls.is_empty() && chain.puts.is_empty()) {
                    reply.data(|b| write_option_chain(b, &chain));
                }
                reply.finish().await
            }
        },
        Request::FutureOptionChain { .. } => reply.error(INVALID_SYMBOL).await,
        Request::SymbolSearch {
            in_descriptions,
            text,
            filter,
        } => {
            for found in symbol_search(m, text, *in_descriptions, filter.as_ref()) {
                reply.data(|b| write_symbol_match(b, &found));
            }
            reply.finish().await
        }
        _ => {
            let Some(src) = Source::resolve(m, req.symbol()) else {
                return reply.error(INVALID_SYMBOL).await;
            };
            history(&mut reply, m, today, &src, &req).await?;
            reply.finish().await
        }
    }
}

/// Answers a reference-table or industry-search request (`SLM` … `SBN`, see `tables`).
async fn answer_table(
    conn: &mut Conn,
    parsed: Result<(TableRequest, Option<String>), TableError>,
    data_lines: &mut u64,
) -> io::Result<()> {
    let (req, id) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => {
            let mut buf = Vec::new();
            write_error(&mut buf, e.id.as_deref().map(str::as_bytes), e.text);
            return conn.out.send(&buf).await;
        }
    };
    let rows = tables::rows(&conn.shared.market, &req);
    let mut reply = Reply {
        out: &mut conn.out,
        id: id.as_deref().map(str::as_bytes),
        protocol: conn.protocol,
        record: b"LS",
        buf: Vec::with_capacity(rows.iter().map(|r| r.len() + 16).sum()),
        count: 0,
        malformed_every: conn.shared.config.faults.malformed_every,
        data_lines,
    };
    for row in &rows {
        reply.data(|b| b.extend_from_slice(row.as_bytes()));
    }
    reply.finish().await
}

/// Answers a history request with data lines (the caller ends the reply).
async fn history(
    reply: &mut Reply<'_>,
    m: &Market,
    today: TradingDay,
    src: &Source,
    req: &Request,
) -> io::Result<()> {
    let depth = days_before(today.date(), INTRADAY_DEPTH_DAYS);
    match req {
        Request::TicksLast {
            max_points,
            direction,
            ..
        } => {
            let days = src.days(depth, today);
            let load = |d: TradingDay, _: &DayCtx| src.ticks(m, d);
            stream(reply, &days, *direction, Some(*max_points), load, tick_line).await
        }
        Request::TicksDays { days, window, .. } => {
            let days = src.only(last_sessions(today, *days));
            let filter = Filter::new(None, None, window);
            let load = |d: TradingDay, ctx: &DayCtx| filtered_ticks(src, m, d, ctx, &filter);
            stream(
                reply,
                &days,
                window.direction,
                window.max_points,
                load,
                tick_line,
            )
            .await
        }
        Request::TicksRange {
            begin, end, window, ..
        } => {
            let (days, filter) = range(src, today, *begin, *end, window);
            let load = |d: TradingDay, ctx: &DayCtx| filtered_ticks(src, m, d, ctx, &filter);
            stream(
                reply,
                &days,
                window.direction,
                window.max_points,
                load,
                tick_line,
            )
            .await
        }
        Request::BarsLast {
            spec,
            max_points,
            direction,
            ..
        } => {
            let days = src.days(depth, today);
            let load = |d: TradingDay, ctx: &DayCtx| bars(src, m, d, ctx, spec);
            stream(reply, &days, *direction, Some(*max_points), load, bar_line).await
        }
        Request::BarsDays {
            spec, days, window, ..
        } => {
            let days = src.only(last_sessions(today, *days));
            let filter = Filter::new(None, None, window);
            let load = |d: TradingDay, ctx: &DayCtx| filtered_bars(src, m, d, ctx, spec, &filter);
            stream(
                reply,
                &days,
                window.direction,
                window.max_points,
                load,
                bar_line,
            )
            .await
        }
        Request::BarsRange {
            spec,
            begin,
            end,
            window,
            ..
        } => {
            let (days, filter) = range(src, today, *begin, *end, window);
            let load = |d: TradingDay, ctx: &DayCtx| filtered_bars(src, m, d, ctx, spec, &filter);
            stream(
                reply,
                &days,
                window.direction,
                window.max_points,
                load,
                bar_line,
            )
            .await
        }
        Request::DailyLast {
            max_points,
            direction,
            ..
        } => {
            let n = all_or(*max_points, 2_520).min(MAX_SESSIONS);
            let from = last_sessions(today, n).first().copied().unwrap_or(today);
            let lines = src.daily(m, from, today);
            send_lines(reply, lines, *direction, Some(*max_points)).await
        }
        Request::WeeklyLast {
            max_points,
            direction,
            ..
        } => {
            let weeks = u64::from(all_or(*max_points, 522).min(2_000));
            let monday = days_before(
                today.date(),
                u64::from(today.date().weekday().num_days_from_monday()) + 7 * (weeks - 1),
            );
            let from = TradingDay::from_date(monday).unwrap_or(today);
            let lines = group(src.daily(m, from, today), |d| {
                d.iso_week().year() * 100 + d.iso_week().week() as i32
            });
            send_lines(reply, lines, *direction, Some(*max_points)).await
        }
        Request::MonthlyLast {
            max_points,
            direction,
            ..
        } => {
            let months = all_or(*max_points, 120).min(600);
            let first = today.date().with_day(1).unwrap_or(today.date());
            let first = first
                .checked_sub_months(Months::new(months - 1))
                .unwrap_or(first);
            let from = TradingDay::from_date(first).unwrap_or(today);
            let lines = group(src.daily(m, from, today), |d| {
                d.year() * 100 + d.month() as i32
            });
            send_lines(reply, lines, *direction, Some(*max_points)).await
        }
        Request::DailyRange {
            begin,
            end,
            max_points,
            direction,
            ..
        } => {
            let to = end
                .and_then(|e| TradingDay::from_yyyymmdd(e).ok())
                .map_or(today, |e| e.min(today));
            let from = begin
                .and_then(|b| TradingDay::from_yyyymmdd(b).ok())
                .unwrap_or_else(|| {
                    TradingDay::from_date(days_before(to.date(), DAILY_DEPTH_DAYS)).unwrap_or(to)
                });
            let lines = if from <= to {
                src.daily(m, from, to)
            } else {
                Vec::new()
            };
            send_lines(reply, lines, *direction, *max_points).await
        }
        Request::EquityChain { .. }
        | Request::FutureOptionChain { .. }
        | Request::SymbolSearch { .. } => Ok(()),
    }
}

/// `max_points`, or `all` when it is 0 ("no limit"): how far back a `…X` request reaches.
fn all_or(max_points: u32, all: u32) -> u32 {
    if max_points == 0 { all } else { max_points }
}

/// What a history request is about: a stock, ETF or index, or one option contract.
enum Source {
    Instrument(String),
    Option { name: String, expiry: TradingDay },
}

impl Source {
    /// The source for `symbol`; `None` when the market does not know it.
    fn resolve(m: &Market, symbol: &str) -> Option<Source> {
        if let Ok(inst) = m.instrument(symbol) {
            return Some(Source::Instrument(inst.symbol.clone()));
        }
        let option = OptionSymbol::parse(symbol).ok()?;
        if !m.instrument(option.root()).ok()?.has_options() {
            return None;
        }
        Some(Source::Option {
            name: option.to_iqfeed(),
            expiry: TradingDay::from_date(option.expiry()).ok()?,
        })
    }

    /// The trades of one session, oldest first.
    fn ticks(&self, m: &Market, day: TradingDay) -> Vec<Tick> {
        match self {
            Source::Instrument(s) => m.ticks(s, day).unwrap_or_default(),
            Source::Option { name, .. } => m.option_trades(name, day).unwrap_or_default(),
        }
    }

    /// The sessions from `from` to `to` on which this source can trade.
    fn days(&self, from: NaiveDate, to: TradingDay) -> Vec<TradingDay> {
        match self {
            Source::Instrument(_) => sessions(from, to),
            Source::Option { expiry, .. } => sessions(
                from.max(days_before(expiry.date(), OPTION_LISTING_DAYS)),
                to.min(*expiry),
            ),
        }
    }

    /// `days` less those this source cannot trade on.
    fn only(&self, mut days: Vec<TradingDay>) -> Vec<TradingDay> {
        if let Source::Option { expiry, .. } = self {
            let first = days_before(expiry.date(), OPTION_LISTING_DAYS);
            days.retain(|d| d.date() >= first && d <= expiry);
        }
        days
    }

    /// Daily bars from `from` to `to`, oldest first.
    fn daily(&self, m: &Market, from: TradingDay, to: TradingDay) -> Vec<DailyLine> {
        match self {
            Source::Instrument(s) => m.daily(s, from, to).unwrap_or_default(),
            Source::Option { .. } => self
                .days(from.date(), to)
                .into_iter()
                .filter_map(|d| {
                    let ticks = self.ticks(m, d);
                    let first = ticks.first()?;
                    let mut line = DailyLine {
                        date: d.yyyymmdd(),
                        high: first.trade.price,
                        low: first.trade.price,
                        open: first.trade.price,
                        close: first.trade.price,
                        volume: 0,
                        open_interest: 0,
                    };
                    for t in &ticks {
                        line.high = line.high.max(t.trade.price);
                        line.low = line.low.min(t.trade.price);
                        line.close = t.trade.price;
                        line.volume += t.trade.size;
                    }
                    Some(line)
                })
                .collect(),
        }
    }
}

/// `date` less `days` calendar days (the earliest date when that underflows).
fn days_before(date: NaiveDate, days: u64) -> NaiveDate {
    date.checked_sub_days(Days::new(days))
        .unwrap_or(NaiveDate::MIN)
}

/// NYSE sessions from `from` to `to`, both included.
fn sessions(from: NaiveDate, to: TradingDay) -> Vec<TradingDay> {
    if from > to.date() {
        return Vec::new();
    }
    let from = TradingDay::from_date(from)
        .or_else(|_| TradingDay::from_ymd(1900, 1, 1))
        .unwrap_or(to);
    Nyse.trading_days(from, to).collect()
}

/// The last `n` sessions up to `today` (included when it is one), oldest first.
fn last_sessions(today: TradingDay, n: u32) -> Vec<TradingDay> {
    let n = n.min(MAX_SESSIONS) as usize;
    let mut out = Vec::with_capacity(n);
    let mut day = if Nyse.is_trading_day(today) {
        Some(today)
    } else {
        Nyse.prev_trading_day(today)
    };
    while out.len() < n {
        let Some(d) = day else { break };
        out.push(d);
        day = Nyse.prev_trading_day(d);
    }
    out.reverse();
    out
}

/// One session's clock: turns UTC nanoseconds into the Eastern date and time IQFeed prints.
struct DayCtx {
    yyyymmdd: u32,
    midnight_ns: i64,
}

impl DayCtx {
    fn new(day: TradingDay) -> DayCtx {
        DayCtx {
            yyyymmdd: day.yyyymmdd(),
            midnight_ns: new_york_to_utc_ns(day.date().and_time(NaiveTime::MIN)).unwrap_or(0),
        }
    }

    /// (`yyyymmdd`, microseconds after midnight) in New York.
    fn local(&self, ns: i64) -> (u32, i64) {
        let us = (ns - self.midnight_ns).div_euclid(1_000);
        if (0..DAY_US).contains(&us) {
            return (self.yyyymmdd, us);
        }
        let t = utc_ns_to_new_york(ns);
        let d = t.date();
        let ymd = d.year() as u32 * 10_000 + d.month() * 100 + d.day();
        let us = i64::from(t.time().num_seconds_from_midnight()) * 1_000_000
            + i64::from(t.time().nanosecond() / 1_000);
        (ymd, us)
    }
}

/// The time filters of a request: a date-time range and a daily time-of-day window.
#[derive(Debug, Clone, Copy)]
struct Filter {
    begin: Option<(u32, i64)>,
    end: Option<(u32, i64)>,
    begin_time: Option<i64>,
    end_time: Option<i64>,
}

/// `hhmmss` as microseconds after midnight.
fn hhmmss_us(t: u32) -> i64 {
    i64::from((t / 10_000) * 3_600 + ((t / 100) % 100) * 60 + t % 100) * 1_000_000
}

impl Filter {
    fn new(begin: Option<DateTime>, end: Option<DateTime>, w: &Window) -> Filter {
        let at = |d: DateTime| (d.date, hhmmss_us(d.time));
        Filter {
            begin: begin.map(at),
            end: end.map(at),
            begin_time: w.begin_filter.map(hhmmss_us),
            end_time: w.end_filter.map(hhmmss_us),
        }
    }

    fn keeps(&self, (date, us): (u32, i64)) -> bool {
        let second = us - us.rem_euclid(1_000_000);
        self.begin.is_none_or(|b| (date, us) >= b)
            && self.end.is_none_or(|e| (date, second) <= e)
            && self.begin_time.is_none_or(|b| us >= b)
            && self.end_time.is_none_or(|e| second <= e)
    }
}

/// The sessions and filter of a date-time range request.
fn range(
    src: &Source,
    today: TradingDay,
    begin: Option<DateTime>,
    end: Option<DateTime>,
    window: &Window,
) -> (Vec<TradingDay>, Filter) {
    let day = |d: DateTime| TradingDay::from_yyyymmdd(d.date).ok();
    let to = end.and_then(day).map_or(today, |e| e.min(today));
    let from = begin
        .and_then(day)
        .map_or_else(|| days_before(to.date(), INTRADAY_DEPTH_DAYS), |b| b.date());
    (src.days(from, to), Filter::new(begin, end, window))
}

fn filtered_ticks(
    src: &Source,
    m: &Market,
    day: TradingDay,
    ctx: &DayCtx,
    filter: &Filter,
) -> Vec<Tick> {
    let mut ticks = src.ticks(m, day);
    ticks.retain(|t| filter.keeps(ctx.local(t.trade.time)));
    ticks
}

/// One session's bars of `spec`.
fn bars(
    src: &Source,
    m: &Market,
    day: TradingDay,
    ctx: &DayCtx,
    spec: &BarSpec,
) -> Vec<IntervalBar> {
    let ticks = src.ticks(m, day);
    let label = spec.label_at_beginning;
    let interval = i64::from(spec.interval.max(1));
    match spec.interval_type {
        IntervalType::Seconds => {
            let mut bars = tape::bars(&ticks, ctx.midnight_ns, interval * 1_000_000_000, label);
            // IQFeed fills the number of trades only for tick intervals.
            bars.iter_mut().for_each(|b| b.trades = 0);
            bars
        }
        IntervalType::Volume => {
            let mut bars = event_bars(&ticks, label, |volume, _| volume >= interval);
            bars.iter_mut().for_each(|b| b.trades = 0);
            bars
        }
        IntervalType::Ticks => event_bars(&ticks, label, |_, trades| trades >= interval),
    }
}

fn filtered_bars(
    src: &Source,
    m: &Market,
    day: TradingDay,
    ctx: &DayCtx,
    spec: &BarSpec,
    filter: &Filter,
) -> Vec<IntervalBar> {
    let mut bars = bars(src, m, day, ctx, spec);
    bars.retain(|b| filter.keeps(ctx.local(b.time)));
    bars
}

/// Bars that close on a trade once `full(period volume, trades)` holds: volume and tick
/// bars. Stamped with the bar's last trade, or its first with `label_at_beginning`.
fn event_bars(
    ticks: &[Tick],
    label_at_beginning: bool,
    full: impl Fn(i64, i64) -> bool,
) -> Vec<IntervalBar> {
    let mut out = Vec::new();
    let mut current: Option<IntervalBar> = None;
    for t in ticks {
        let bar = match &mut current {
            Some(bar) => {
                bar.add(t);
                bar
            }
            None => current.insert(IntervalBar::opened_by(t, t.trade.time)),
        };
        if !label_at_beginning {
            bar.time = t.trade.time;
        }
        if full(bar.period_volume, bar.trades) {
            out.extend(current.take());
        }
    }
    out.extend(current);
    out
}

fn tick_line(buf: &mut Vec<u8>, t: &Tick, ctx: &DayCtx) {
    let (date, us) = ctx.local(t.trade.time);
    write_tick(buf, t, date, us, true);
}

fn bar_line(buf: &mut Vec<u8>, b: &IntervalBar, ctx: &DayCtx) {
    let (date, us) = ctx.local(b.time);
    write_bar(buf, b, date, us);
}

/// Streams the records `load` gives for each of `days` (oldest first), in `direction`,
/// keeping the newest `max` (0 or `None`: all), one session in memory at a time.
async fn stream<R>(
    reply: &mut Reply<'_>,
    days: &[TradingDay],
    direction: Direction,
    max: Option<u32>,
    load: impl Fn(TradingDay, &DayCtx) -> Vec<R>,
    write: fn(&mut Vec<u8>, &R, &DayCtx),
) -> io::Result<()> {
    let max = max.filter(|m| *m > 0).map(u64::from);
    let mut sent = 0u64;
    match direction {
        Direction::NewestFirst => {
            for &day in days.iter().rev() {
                let ctx = DayCtx::new(day);
                for r in load(day, &ctx).iter().rev() {
                    if max.is_some_and(|m| sent >= m) {
                        return Ok(());
                    }
                    reply.data(|b| write(b, r, &ctx));
                    sent += 1;
                    if reply.full() {
                        reply.flush().await?;
                    }
                }
            }
        }
        Direction::OldestFirst => {
            // With a limit, find where the newest `max` begin: count back session by session.
            let (mut start, mut skip) = (0, 0);
            if let Some(max) = max {
                let mut need = max;
                for (i, &day) in days.iter().enumerate().rev() {
                    let n = load(day, &DayCtx::new(day)).len() as u64;
                    start = i;
                    if n >= need {
                        skip = (n - need) as usize;
                        break;
                    }
                    need -= n;
                }
            }
            for &day in days.get(start..).unwrap_or_default() {
                let ctx = DayCtx::new(day);
                for r in load(day, &ctx).iter().skip(skip) {
                    reply.data(|b| write(b, r, &ctx));
                    if reply.full() {
                        reply.flush().await?;
                    }
                }
                skip = 0;
            }
        }
    }
    Ok(())
}

/// Sends daily, weekly or monthly lines (oldest first in `lines`), the newest `max`.
async fn send_lines(
    reply: &mut Reply<'_>,
    lines: Vec<DailyLine>,
    direction: Direction,
    max: Option<u32>,
) -> io::Result<()> {
    let keep = max
        .filter(|m| *m > 0)
        .map_or(lines.len(), |m| lines.len().min(m as usize));
    let newest = &lines[lines.len() - keep..];
    match direction {
        Direction::NewestFirst => newest
            .iter()
            .rev()
            .for_each(|l| reply.data(|b| write_daily(b, l))),
        Direction::OldestFirst => newest
            .iter()
            .for_each(|l| reply.data(|b| write_daily(b, l))),
    }
    if reply.full() {
        reply.flush().await?;
    }
    Ok(())
}

/// The `CEO` chain of `symbol` on `today`; `None` for an unknown symbol.
fn equity_chain(
    m: &Market,
    today: TradingDay,
    symbol: &str,
    sides: Sides,
    month_codes: &str,
    near_months: Option<u32>,
    filter: ChainFilter,
) -> Option<Chain> {
    let i = m.index(symbol).ok()?;
    let contracts = m.chain(symbol, today).ok()?;
    let spot = m.spot(i, today);
    let month_of = |expiry: u32| (expiry / 100) as i32;
    let mut near: Vec<i32> = contracts.iter().map(|c| month_of(c.expiry)).collect();
    near.sort_unstable();
    near.dedup();
    let codes: Vec<char> = month_codes.chars().collect();
    let wanted = |c: &xlfeed_core::records::OptionContract| {
        let right = if c.right == 'P' {
            Right::Put
        } else {
            Right::Call
        };
        let side_ok = match sides {
            Sides::Calls => right == Right::Call,
            Sides::Puts => right == Right::Put,
            Sides::Both => true,
        };
        let month = (c.expiry / 100) % 100;
        let letter = char::from(
            match right {
                Right::Call => b'A',
                Right::Put => b'M',
            } + (month as u8).saturating_sub(1),
        );
        let month_ok = if !codes.is_empty() {
            codes.contains(&letter)
        } else {
            match near_months.filter(|n| *n > 0) {
                Some(n) => near
                    .iter()
                    .take(n as usize)
                    .any(|m| *m == month_of(c.expiry)),
                None => true,
            }
        };
        let strike_ok = match filter {
            ChainFilter::StrikeRange(lo, hi) => c.strike >= lo - 1e-9 && c.strike <= hi + 1e-9,
            _ => true,
        };
        side_ok && month_ok && strike_ok
    };
    let mut kept: Vec<&xlfeed_core::records::OptionContract> =
        contracts.iter().filter(|c| wanted(c)).collect();
    if let ChainFilter::Moneyness(in_money, out_money) = filter {
        kept = moneyness(&kept, spot, in_money as usize, out_money as usize);
    }
    let mut chain = Chain::default();
    for c in kept {
        if c.right == 'P' {
            chain.puts.push(c.symbol.clone());
        } else {
            chain.calls.push(c.symbol.clone());
        }
    }
    Some(chain)
}

/// Filter type 2: per expiry and side, the `in_money` strikes nearest the money on the
/// in-the-money side and the `out_money` nearest on the other, in chain order.
fn moneyness<'a>(
    contracts: &[&'a xlfeed_core::records::OptionContract],
    spot: f64,
    in_money: usize,
    out_money: usize,
) -> Vec<&'a xlfeed_core::records::OptionContract> {
    let mut keep = vec![false; contracts.len()];
    let mut groups: Vec<(u32, char)> = contracts.iter().map(|c| (c.expiry, c.right)).collect();
    groups.sort_unstable();
    groups.dedup();
    for (expiry, right) in groups {
        let members: Vec<usize> = (0..contracts.len())
            .filter(|&k| contracts[k].expiry == expiry && contracts[k].right == right)
            .collect();
        let itm = |k: &usize| {
            let s = contracts[*k].strike;
            if right == 'P' { s > spot } else { s < spot }
        };
        let distance = |k: &usize| (contracts[*k].strike - spot).abs();
        let mut inside: Vec<usize> = members.iter().copied().filter(|k| itm(k)).collect();
        let mut outside: Vec<usize> = members.iter().copied().filter(|k| !itm(k)).collect();
        inside.sort_by(|a, b| distance(a).total_cmp(&distance(b)));
        outside.sort_by(|a, b| distance(a).total_cmp(&distance(b)));
        for k in inside.into_iter().take(in_money) {
            keep[k] = true;
        }
        for k in outside.into_iter().take(out_money) {
            keep[k] = true;
        }
    }
    contracts
        .iter()
        .zip(keep)
        .filter_map(|(c, k)| k.then_some(*c))
        .collect()
}

/// `SBF` results: symbols starting with `text` (or names containing it), filtered by listed
/// market (`e`) or security type (`t`) ids.
fn symbol_search(
    m: &Market,
    text: &str,
    in_descriptions: bool,
    filter: Option<&(char, String)>,
) -> Vec<SymbolMatch> {
    let ids: Vec<u32> = filter
        .map(|(_, v)| {
            v.split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    m.symbol_search(text, in_descriptions)
        .into_iter()
        .filter(|inst| match filter {
            Some(('e', _)) => ids.contains(&inst.listed_market),
            Some(('t', _)) => ids.contains(&inst.security_type()),
            _ => true,
        })
        .map(|inst| SymbolMatch {
            symbol: inst.symbol.clone(),
            listed_market: inst.listed_market,
            security_type: inst.security_type(),
            description: inst.name.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> TradingDay {
        TradingDay::parse(s).unwrap()
    }

    #[test]
    fn days_count_sessions_back_from_today() {
        let got = last_sessions(day("2024-04-01"), 3);
        // Good Friday 2024-03-29 and the weekend are skipped.
        assert_eq!(
            got,
            [day("2024-03-27"), day("2024-03-28"), day("2024-04-01")]
        );
        // A closed "today" counts from the session before it.
        assert_eq!(last_sessions(day("2024-03-30"), 1), [day("2024-03-28")]);
        assert!(last_sessions(day("2024-04-01"), 0).is_empty());
    }

    #[test]
    fn filters_are_inclusive_to_the_second() {
        let w = Window {
            begin_filter: Some(93_000),
            end_filter: Some(160_000),
            ..Window::default()
        };
        let f = Filter::new(None, None, &w);
        let at =
            |h: i64, m: i64, s: i64, us: i64| (20240612, ((h * 60 + m) * 60 + s) * 1_000_000 + us);
        assert!(!f.keeps(at(9, 29, 59, 999_999)));
        assert!(f.keeps(at(9, 30, 0, 0)));
        assert!(f.keeps(at(16, 0, 0, 500_000)));
        assert!(!f.keeps(at(16, 0, 1, 0)));
        let range = Filter::new(
            Some(DateTime {
                date: 20240611,
                time: 153_000,
            }),
            Some(DateTime {
                date: 20240612,
                time: 93_000,
            }),
            &Window::default(),
        );
        assert!(range.keeps((20240611, at(15, 30, 0, 0).1)));
        assert!(!range.keeps((20240611, at(15, 29, 59, 0).1)));
        assert!(range.keeps((20240612, at(9, 30, 0, 900_000).1)));
        assert!(!range.keeps((20240612, at(9, 30, 1, 0).1)));
    }

    #[test]
    fn event_bars_close_on_the_filling_trade() {
        let m = Market::new(3, crate::sim::Universe::standard()).with_tick_scale(0.02);
        let ticks = m.ticks("KO", day("2024-06-12")).unwrap();
        let bars = event_bars(&ticks, false, |_, n| n >= 10);
        assert_eq!(bars.len(), ticks.len().div_ceil(10));
        assert_eq!(bars[0].time, ticks[9].trade.time);
        assert_eq!(bars[0].open, ticks[0].trade.price);
        assert_eq!(bars[0].close, ticks[9].trade.price);
        assert_eq!(bars[0].total_volume, ticks[9].total_volume);
        let by_volume = event_bars(&ticks, true, |v, _| v >= 5_000);
        assert_eq!(
            by_volume[0].time, ticks[0].trade.time,
            "labelled at the first trade"
        );
        let total: i64 = by_volume.iter().map(|b| b.period_volume).sum();
        assert_eq!(total, ticks.iter().map(|t| t.trade.size).sum::<i64>());
        assert!(
            by_volume[..by_volume.len() - 1]
                .iter()
                .all(|b| b.period_volume >= 5_000)
        );
    }
}
