//! `dividends`: a symbol's dividends with ex-dates in a range, from FEED.

use xlfeed_core::TradingDay;
use xlfeed_store::{Dataset, Kind, Records};

use super::args::Args;
use super::data::Data;
use super::functions::{Excel, Function, ParamType as T, p, xopt, xreq};
use crate::error::{ApiError, ApiResult};
use crate::table::{Cell, Table};

/// `dividends`, declared for the function table.
pub(super) const FUNCTION: Function = Function {
    name: "dividends",
    params: &[
        p("symbol", T::Symbol, true, "The symbol."),
        p("start", T::Date, false, "Ex-dates from this day."),
        p("end", T::Date, false, "Ex-dates to this day."),
    ],
    doc: "Dividends of a symbol with ex-dates in a range (default: all known).",
    heavy: false,
    excel: &[Excel {
        id: "DIVIDENDS",
        params: &[
            xreq("symbol", &["symbol"]),
            xopt("start", &["start"]),
            xopt("end", &["end"]),
        ],
    }],
    run: |data, args| Box::pin(run(data, args)),
};

/// Runs `dividends` on arguments that passed the declaration.
async fn run(data: &Data, args: &Args) -> ApiResult<Table> {
    let symbol = args.symbol("symbol")?;
    let all = data
        .all_days(Dataset::Feed, Kind::Dividend, &symbol)
        .await?;
    let start = args.day("start")?;
    let end = args.day("end")?;
    if let (Some(s), Some(e)) = (start, end)
        && s > e
    {
        return Err(ApiError::bad(format!("start {s} is after end {e}")));
    }
    if all.is_empty() {
        // Known symbol without dividends: an empty table, not an error.
        let known = !data
            .all_days(Dataset::Feed, Kind::Trade, &symbol)
            .await?
            .is_empty()
            || !data
                .all_days(Dataset::Feed, Kind::Daily, &symbol)
                .await?
                .is_empty();
        if !known {
            return Err(ApiError::not_found(format!("unknown symbol {symbol}")));
        }
    }
    let days: Vec<TradingDay> = all
        .iter()
        .copied()
        .filter(|d| start.is_none_or(|s| *d >= s) && end.is_none_or(|e| *d <= e))
        .collect();
    let chunks = data
        .chunks(Dataset::Feed, Kind::Dividend, &symbol, &days)
        .await?;
    let mut t = Table::new(["ex_date", "pay_date", "amount", "yield_pct"]);
    for c in chunks.into_iter().flatten() {
        if let Records::Dividends(rows) = c.as_ref() {
            for d in rows {
                t.push(vec![
                    Cell::Date(d.ex_date),
                    if d.pay_date == 0 {
                        Cell::Empty
                    } else {
                        Cell::Date(d.pay_date)
                    },
                    Cell::Num(d.amount),
                    if d.yield_pct == 0.0 {
                        Cell::Empty
                    } else {
                        Cell::Num(d.yield_pct)
                    },
                ])?;
            }
        }
    }
    Ok(t)
}
