//! `ticks`: a symbol's trades between two times, oldest first, a page at a time.

use xlfeed_core::TradingDay;
use xlfeed_core::calendar::utc_ns_to_new_york;
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

/// Runs `ticks` on arguments that passed the declaration.
async fn run(data: &Data, args: &Args) -> ApiResult<Table> {
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
    // In 1..=MAX_TICKS: the declaration's T::Int range has been checked.
    let limit = args.int("limit")?.unwrap_or(DEFAULT_TICKS);
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
        let Some(c) = data.chunk(Dataset::Feed, Kind::Trade, &symbol, d).await? else {
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

fn args_day_end(d: TradingDay) -> ApiResult<i64> {
    let next = d
        .date()
        .succ_opt()
        .and_then(|n| n.and_hms_opt(0, 0, 0))
        .and_then(xlfeed_core::calendar::new_york_to_utc_ns)
        .ok_or_else(|| ApiError::bad(format!("no end of day {d}")))?;
    Ok(next - 1)
}
