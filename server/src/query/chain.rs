//! `chain`: an underlying's option chain with implied volatility and Greeks, from POST
//! (written by postprocess) and the chains listed in FEED.
//!
//! A chain on a date lists the contracts FEED has for that day; each carries the day's last
//! trade, volume, IV and Greeks from POST's per-contract daily aggregates, and the bid/ask of
//! its last trade. With `at`, everything is as of that time instead: the last trade at or
//! before it, the volume up to it. A contract that did not trade has empty values.

use std::collections::HashMap;

use xlfeed_analytics::chain::Activity;
use xlfeed_core::records::OptionContract;
use xlfeed_core::{Right, Symbol, TradingDay};
use xlfeed_store::{Dataset, Kind, Records};

use super::args::{Args, DayEnd, pick_fields};
use super::data::Data;
use super::functions::{Excel, Function, ParamType as T, p, xopt, xreq};
use crate::error::{ApiError, ApiResult};
use crate::table::{Cell, Table};

/// Fields a chain may be asked for (owned by the shared chain rules).
pub(crate) use xlfeed_analytics::chain::FIELDS as CHAIN_FIELDS;
const DEFAULT_CHAIN_FIELDS: &[&str] = &[
    "contract", "expiry", "strike", "right", "bid", "ask", "last", "volume", "iv", "delta",
    "gamma", "vega", "theta", "rho",
];

/// `chain`, declared for the function table.
pub(super) const FUNCTION: Function = Function {
    name: "chain",
    params: &[
        p("underlying", T::Symbol, true, "The underlying symbol."),
        p(
            "date",
            T::Date,
            false,
            "The day (default: the latest processed).",
        ),
        p("at", T::Time, false, "As of this time of the day."),
        p("expiry", T::Date, false, "Only this expiry."),
        p(
            "fields",
            T::SomeOf(&[CHAIN_FIELDS]),
            false,
            "Columns (default: contract, expiry, strike, right, bid, ask, last, volume, iv and the Greeks).",
        ),
        p(
            "right",
            T::OneOf(&["C", "P", "call", "put"]),
            false,
            "Only calls or puts.",
        ),
    ],
    doc: "An underlying's option chain on a date (default: the latest processed): per contract bid/ask/last, volume, IV, delta, gamma, vega, theta, rho; as of a time with at.",
    heavy: true,
    excel: &[Excel {
        id: "CHAIN",
        params: &[
            xreq("underlying", &["underlying"]),
            xopt("expiry", &["expiry"]),
            xopt("date", &["date"]),
            xopt("fields", &["fields"]),
        ],
    }],
    run: |data, args| Box::pin(run(data, args)),
};

/// Runs `chain` on arguments that passed the declaration.
async fn run(data: &Data, args: &Args) -> ApiResult<Table> {
    let und = args.symbol("underlying")?;
    let fields = pick_fields(args, CHAIN_FIELDS, DEFAULT_CHAIN_FIELDS)?;
    let at = args.time("at", DayEnd::End)?;
    let asked = match (args.day("date")?, at) {
        (Some(d), _) => Some(d),
        (None, Some(ns)) => Some(TradingDay::from_date(
            xlfeed_core::calendar::utc_ns_to_new_york(ns).date(),
        )?),
        (None, None) => None,
    };
    let expiry = args.day("expiry")?.map(TradingDay::yyyymmdd);
    let right = match args.opt_text("right")?.map(|r| r.to_ascii_uppercase()) {
        None => None,
        Some(r) if r == "C" || r == "CALL" => Some(Right::Call),
        Some(r) if r == "P" || r == "PUT" => Some(Right::Put),
        Some(r) => {
            return Err(ApiError::bad(format!(
                "right {} is not C or P",
                xlfeed_core::quoted(&r)
            )));
        }
    };
    let day = match data
        .latest_day(Dataset::Feed, Kind::Chain, &und, asked)
        .await?
    {
        Some(d) => d,
        None => {
            let any = data.all_days(Dataset::Feed, Kind::Chain, &und).await?;
            return Err(if any.is_empty() {
                ApiError::not_found(format!("no option chain for {und}"))
            } else {
                ApiError::not_found(format!(
                    "no option chain for {und} on or before {}",
                    asked.map(|d| d.to_string()).unwrap_or_default()
                ))
            });
        }
    };
    let contracts: Vec<OptionContract> = match data
        .chunk(Dataset::Feed, Kind::Chain, &und, day)
        .await?
        .as_deref()
    {
        Some(Records::Contracts(c)) => c.clone(),
        _ => Vec::new(),
    };
    let activity = activity(data, &und, day, at).await?;
    let mut rows: Vec<&OptionContract> = contracts
        .iter()
        .filter(|c| expiry.is_none_or(|e| c.expiry == e))
        .filter(|c| right.is_none_or(|r| c.right == r))
        .collect();
    rows.sort_by(|a, b| {
        (a.expiry, a.strike, a.right)
            .partial_cmp(&(b.expiry, b.strike, b.right))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    if rows.is_empty() && expiry.is_some() {
        return Err(ApiError::not_found(format!(
            "{und} has no contracts expiring {} on {day}",
            args.text("expiry")?
        )));
    }
    let mut t = Table::new(fields.iter().cloned());
    let none = Activity::default();
    for c in rows {
        let a = activity.get(&c.symbol).unwrap_or(&none);
        t.push(
            fields
                .iter()
                .map(|f| match f.as_str() {
                    "contract" => Cell::Text(c.symbol.clone()),
                    "occ" => Cell::Text(c.occ.clone()),
                    "expiry" => Cell::Date(c.expiry),
                    "strike" => Cell::Num(c.strike),
                    "right" => Cell::Text(c.right.as_char().to_string()),
                    "volume" => Cell::Int(a.volume),
                    "trades" => Cell::Int(a.trades),
                    f => Cell::opt(a.number(f)),
                })
                .collect(),
        )?;
    }
    Ok(t)
}

/// Each contract's activity on `day` (up to `at` when given), from POST.
async fn activity(
    data: &Data,
    und: &Symbol,
    day: TradingDay,
    at: Option<i64>,
) -> ApiResult<HashMap<String, Activity>> {
    let trades = data
        .chunk(Dataset::Post, Kind::EnrichedTrade, und, day)
        .await?;
    // The day's aggregates are read only for a whole day.
    let days = match at {
        None => {
            data.chunk(Dataset::Post, Kind::ContractDaily, und, day)
                .await?
        }
        Some(_) => None,
    };
    let trades = match trades.as_deref() {
        Some(Records::EnrichedOptionTrades(t)) => Some(t.as_slice()),
        _ => None,
    };
    let days = match days.as_deref() {
        Some(Records::ContractDailies(d)) => Some(d.as_slice()),
        _ => None,
    };
    Ok(xlfeed_analytics::chain::activity(trades, days, at))
}
