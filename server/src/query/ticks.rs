//! `ticks`: a symbol's trades between two times, oldest first, a page at a time.

use std::sync::Arc;

use xlfeed_core::calendar::utc_ns_to_new_york;
use xlfeed_core::records::Trade;
use xlfeed_core::{Symbol, TradingDay};
use xlfeed_store::{Dataset, Kind, Records};

use super::args::parse_cursor;
use super::args::{Args, DayEnd};
use super::data::Data;
use super::functions::{Excel, Function, ParamType as T, p, xopt, xreq};
use crate::error::{ApiError, ApiResult};
use crate::table::{Cell, Table};

/// Ticks of one page by default, and at most.
const DEFAULT_TICKS: i64 = 10_000;
pub(crate) const MAX_TICKS: i64 = 100_000;

/// `ticks`, declared for the function table.
pub(super) const FUNCTION: Function = Function {
    name: "ticks",
    params: &[
        p("symbol", T::Symbol, true, "The symbol."),
        p(
            "start",
            T::Time,
            true,
            "From this time (a date: its start).",
        ),
        p(
            "end",
            T::Time,
            false,
            "To this time (a date: its end; default the end of start's day).",
        ),
        p(
            "limit",
            T::Int(1, MAX_TICKS),
            false,
            "Trades in one page (default 10,000).",
        ),
        p(
            "cursor",
            T::Cursor,
            false,
            "Where the page starts: the previous page's next.",
        ),
    ],
    doc: "Trades of a symbol between two times, oldest first, at most limit (default 10,000; 100,000 at most) a page; next names the cursor of the following page.",
    heavy: true,
    excel: &[Excel {
        id: "TICKS",
        params: &[
            xreq("symbol", &["symbol"]),
            xreq("start", &["start"]),
            xreq("end", &["end"]),
            xopt("limit", &["limit"]),
        ],
    }],
    run: |data, args| Box::pin(run(data, args)),
};

/// The columns of a `ticks` answer.
pub(crate) const COLUMNS: [&str; 9] = [
    "time",
    "price",
    "size",
    "bid",
    "ask",
    "tick_id",
    "basis",
    "market_center",
    "conditions",
];

/// One trade as a row of [`COLUMNS`].
pub(crate) fn row(x: &Trade) -> Vec<Cell> {
    vec![
        Cell::Time(x.time),
        Cell::Num(x.price),
        Cell::Int(x.size),
        Cell::Num(x.bid),
        Cell::Num(x.ask),
        Cell::Int(x.tick_id),
        Cell::Text(x.basis.to_string()),
        Cell::Int(i64::from(x.market_center)),
        Cell::Text(x.conditions.to_string()),
    ]
}

/// The trades a `ticks` call asks for, checked and planned: its symbol, its time range, the
/// page's cursor and the trading days that may hold them. A page ([`run`]) and a workbook
/// export (`crate::report`) read them a day at a time ([`Scan::day`]).
#[derive(Debug, Clone)]
pub(crate) struct Scan {
    /// The symbol.
    pub(crate) symbol: Symbol,
    /// The first time, UTC nanoseconds.
    pub(crate) start: i64,
    /// The last time, UTC nanoseconds.
    pub(crate) end: i64,
    cursor: Option<(i64, i64)>,
    days: Vec<TradingDay>,
}

/// One day's trades in a scan's time range (the cursor not yet applied: [`Scan::wanted`]).
#[derive(Debug, Clone)]
pub(crate) struct DayTrades {
    records: Arc<Records>,
    from: usize,
    to: usize,
}

impl DayTrades {
    /// The trades.
    pub(crate) fn trades(&self) -> &[Trade] {
        match self.records.as_ref() {
            Records::Trades(t) => &t[self.from..self.to],
            _ => &[],
        }
    }
}

impl Scan {
    /// Checks the arguments of a `ticks` call and finds the days to read.
    pub(crate) async fn plan(data: &Data, args: &Args) -> ApiResult<Scan> {
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
        let cursor = match args.opt_text("cursor")? {
            None => None,
            Some(c) => Some(parse_cursor(&c)?),
        };
        data.known(&symbol, &[Kind::Trade]).await?;
        let first = TradingDay::from_date(utc_ns_to_new_york(start).date())?;
        let last = TradingDay::from_date(utc_ns_to_new_york(end).date())?;
        let days = data
            .days(Dataset::Feed, Kind::Trade, &symbol, first, last)
            .await?;
        Ok(Scan {
            symbol,
            start,
            end,
            cursor,
            days,
        })
    }

    /// Whether trade `x` of the range belongs to the answer: after the page's cursor.
    pub(crate) fn wanted(&self, x: &Trade) -> bool {
        match self.cursor {
            Some(c) => (x.time, x.tick_id) > c,
            None => true,
        }
    }

    /// The trading days that may hold the range's trades, oldest first.
    pub(crate) fn days(&self) -> &[TradingDay] {
        &self.days
    }

    /// The range's trades on day `d` (`None` when it has none). With `cache` false the
    /// chunk read does not enter the server's chunk cache (an export of months of ticks
    /// would only evict what others use).
    pub(crate) async fn day(
        &self,
        data: &Data,
        d: TradingDay,
        cache: bool,
    ) -> ApiResult<Option<DayTrades>> {
        let c = data
            .chunks_with(Dataset::Feed, Kind::Trade, &self.symbol, &[d], cache)
            .await?
            .pop()
            .flatten();
        let Some(records) = c else {
            return Ok(None);
        };
        let Records::Trades(trades) = records.as_ref() else {
            return Ok(None);
        };
        let from = trades.partition_point(|x| x.time < self.start);
        let to = trades.partition_point(|x| x.time <= self.end);
        Ok((from < to).then_some(DayTrades { records, from, to }))
    }
}

/// Runs `ticks` on arguments that passed the declaration.
async fn run(data: &Data, args: &Args) -> ApiResult<Table> {
    let scan = Scan::plan(data, args).await?;
    // In 1..=MAX_TICKS: the declaration's T::Int range has been checked.
    let limit = args.int("limit")?.unwrap_or(DEFAULT_TICKS);
    let mut t = Table::new(COLUMNS);
    // The (time, tick id) of the last row: the cursor of the next page.
    let mut page_end: Option<(i64, i64)> = None;
    for d in scan.days() {
        let Some(day) = scan.day(data, *d, true).await? else {
            continue;
        };
        for x in day.trades().iter().filter(|x| scan.wanted(x)) {
            if t.rows.len() as i64 == limit {
                if let Some((lt, lid)) = page_end {
                    t.next = Some(format!("{lt}:{lid}"));
                }
                return Ok(t);
            }
            page_end = Some((x.time, x.tick_id));
            t.push(row(x))?;
        }
    }
    Ok(t)
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
