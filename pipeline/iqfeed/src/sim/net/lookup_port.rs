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
//!   [`SimConfig::max_datapoints`](super::server::SimConfig::max_datapoints), when set, is a
//!   limit of the gateway's own: a reply never holds more, cut the same way, with no error.
//! - A date-time range (`HTT`, `HIT`) may span any number of sessions: the reply is every
//!   session's points in order, one reply, as for a single day.
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

use chrono::{Datelike, Months, NaiveDate, NaiveTime, Timelike};
use xlfeed_core::calendar::{new_york_to_utc_ns, utc_ns_to_new_york};
use xlfeed_core::{OptionSymbol, TradingDay};

use super::conn::Conn;
use super::faults::MALFORMED_FIELDS;
use super::select::{self, Filter, MAX_SESSIONS, all_or, days_before, last_sessions, sessions};
use super::shared::generate;
use crate::sim::market::tables::{self, TableError, TableRequest};
use crate::sim::market::tape;
use crate::sim::market::{Market, group};
use crate::wire::Protocol;
use crate::wire::chain::{Chain, write_option_chain, write_symbol_match};
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
    /// Generate off the runtime's workers ([`SimConfig::offload_generation`]).
    ///
    /// [`SimConfig::offload_generation`]: super::server::SimConfig::offload_generation
    offload: bool,
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
        offload: shared.config.offload_generation,
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
        } => match generate(reply.offload, || {
            equity_chain(m, today, symbol, *sides, month_codes, *near_months, *filter)
        }) {
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
            let found = m.symbol_search(text, *in_descriptions);
            for found in select::search_matches(found, filter.as_ref()) {
                reply.data(|b| write_symbol_match(b, &found));
            }
            reply.finish().await
        }
        _ => {
            let Some(src) = Source::resolve(m, req.symbol()) else {
                return reply.error(INVALID_SYMBOL).await;
            };
            let cap = shared.config.max_datapoints;
            history(&mut reply, m, today, &src, &req, cap).await?;
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
    let rows = generate(conn.shared.config.offload_generation, || {
        tables::rows(&conn.shared.market, &req)
    });
    let mut reply = Reply {
        out: &mut conn.out,
        id: id.as_deref().map(str::as_bytes),
        protocol: conn.protocol,
        record: b"LS",
        buf: Vec::with_capacity(rows.iter().map(|r| r.len() + 16).sum()),
        count: 0,
        malformed_every: conn.shared.config.faults.malformed_every,
        data_lines,
        offload: conn.shared.config.offload_generation,
    };
    for row in &rows {
        reply.data(|b| b.extend_from_slice(row.as_bytes()));
    }
    reply.finish().await
}

/// The points a reply may hold: the request's `MaxDatapoints` (0 or `None`: all) within the
/// gateway's own limit `cap`.
fn limit(max_points: Option<u32>, cap: Option<u32>) -> Option<u32> {
    match (max_points.filter(|m| *m > 0), cap.filter(|c| *c > 0)) {
        (Some(m), Some(c)) => Some(m.min(c)),
        (m, c) => m.or(c),
    }
}

/// Answers a history request with data lines (the caller ends the reply), at most `cap`
/// points of them.
async fn history(
    reply: &mut Reply<'_>,
    m: &Market,
    today: TradingDay,
    src: &Source,
    req: &Request,
    cap: Option<u32>,
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
            stream(
                reply,
                &days,
                *direction,
                limit(Some(*max_points), cap),
                load,
                tick_line,
            )
            .await
        }
        Request::TicksDays { days, window, .. } => {
            let days = src.only(last_sessions(today, *days));
            let filter = Filter::new(None, None, window);
            let load = |d: TradingDay, ctx: &DayCtx| filtered_ticks(src, m, d, ctx, &filter);
            stream_window(reply, &days, window, cap, load, tick_line).await
        }
        Request::TicksRange {
            begin, end, window, ..
        } => {
            let (days, filter) = range(src, today, *begin, *end, window);
            let load = |d: TradingDay, ctx: &DayCtx| filtered_ticks(src, m, d, ctx, &filter);
            stream_window(reply, &days, window, cap, load, tick_line).await
        }
        Request::BarsLast {
            spec,
            max_points,
            direction,
            ..
        } => {
            let days = src.days(depth, today);
            let load = |d: TradingDay, ctx: &DayCtx| bars(src, m, d, ctx, spec);
            stream(
                reply,
                &days,
                *direction,
                limit(Some(*max_points), cap),
                load,
                bar_line,
            )
            .await
        }
        Request::BarsDays {
            spec, days, window, ..
        } => {
            let days = src.only(last_sessions(today, *days));
            let filter = Filter::new(None, None, window);
            let load = |d: TradingDay, ctx: &DayCtx| filtered_bars(src, m, d, ctx, spec, &filter);
            stream_window(reply, &days, window, cap, load, bar_line).await
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
            stream_window(reply, &days, window, cap, load, bar_line).await
        }
        Request::DailyLast {
            max_points,
            direction,
            ..
        } => {
            let n = all_or(*max_points, 2_520).min(MAX_SESSIONS);
            let from = last_sessions(today, n).first().copied().unwrap_or(today);
            let lines = generate(reply.offload, || src.daily(m, from, today));
            send_lines(reply, lines, *direction, limit(Some(*max_points), cap)).await
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
            let lines = group(generate(reply.offload, || src.daily(m, from, today)), |d| {
                d.iso_week().year() * 100 + d.iso_week().week() as i32
            });
            send_lines(reply, lines, *direction, limit(Some(*max_points), cap)).await
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
            let lines = group(generate(reply.offload, || src.daily(m, from, today)), |d| {
                d.year() * 100 + d.month() as i32
            });
            send_lines(reply, lines, *direction, limit(Some(*max_points), cap)).await
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
                generate(reply.offload, || src.daily(m, from, to))
            } else {
                Vec::new()
            };
            send_lines(reply, lines, *direction, limit(*max_points, cap)).await
        }
        Request::EquityChain { .. }
        | Request::FutureOptionChain { .. }
        | Request::SymbolSearch { .. } => Ok(()),
    }
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
                for r in generate(reply.offload, || load(day, &ctx)).iter().rev() {
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
            let (start, mut skip) = select::newest_start(days.len(), max, |i| {
                generate(reply.offload, || load(days[i], &DayCtx::new(days[i]))).len() as u64
            });
            for &day in days.get(start..).unwrap_or_default() {
                let ctx = DayCtx::new(day);
                for r in generate(reply.offload, || load(day, &ctx))
                    .iter()
                    .skip(skip)
                {
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

/// [`stream`] in the direction and to the limit of a request's `window` (the `…D` and `…T`
/// requests), within the gateway's `cap`.
async fn stream_window<R>(
    reply: &mut Reply<'_>,
    days: &[TradingDay],
    window: &Window,
    cap: Option<u32>,
    load: impl Fn(TradingDay, &DayCtx) -> Vec<R>,
    write: fn(&mut Vec<u8>, &R, &DayCtx),
) -> io::Result<()> {
    stream(
        reply,
        days,
        window.direction,
        limit(window.max_points, cap),
        load,
        write,
    )
    .await
}

/// Sends daily, weekly or monthly lines (oldest first in `lines`), the newest `max`.
async fn send_lines(
    reply: &mut Reply<'_>,
    lines: Vec<DailyLine>,
    direction: Direction,
    max: Option<u32>,
) -> io::Result<()> {
    let newest = select::newest(&lines, max);
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
    Some(select::chain(
        &contracts,
        spot,
        sides,
        month_codes,
        near_months,
        filter,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> TradingDay {
        TradingDay::parse(s).unwrap()
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
