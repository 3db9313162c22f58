//! `option`: one contract (IQFeed or OCC symbol) over a date range, per day from POST's
//! daily aggregates or per trade from its enriched trades, with IV and Greeks.

use xlfeed_core::records::{ContractDaily, EnrichedOptionTrade};
use xlfeed_core::{OptionSymbol, Symbol, TradingDay};
use xlfeed_store::{Dataset, Kind, Records};

use super::args::{Args, pick_fields};
use super::data::Data;
use super::functions::{Excel, Function, ParamType as T, p, xopt, xreq};
use crate::error::{ApiError, ApiResult};
use crate::table::{Cell, Table};

pub(crate) const DAY_FIELDS: &[&str] = &[
    "date", "open", "high", "low", "close", "volume", "trades", "vwap", "iv", "delta", "gamma",
    "vega", "theta", "rho",
];
pub(crate) const TRADE_FIELDS: &[&str] = &[
    "time",
    "price",
    "size",
    "bid",
    "ask",
    "underlying_price",
    "underlying_mid",
    "staleness_ms",
    "rate",
    "rate_curve",
    "dividend_yield",
    "time_to_expiry",
    "iv",
    "delta",
    "gamma",
    "vega",
    "theta",
    "rho",
    "flags",
];

/// `option`, declared for the function table.
pub(super) const FUNCTION: Function = Function {
    name: "option",
    params: &[
        p(
            "symbol",
            T::OptionSymbol,
            true,
            "The contract, IQFeed or OCC symbol.",
        ),
        p("start", T::Date, false, "The first day."),
        p("end", T::Date, false, "The last day."),
        p(
            "per",
            T::OneOf(&["day", "daily", "trade", "trades"]),
            false,
            "Rows per day (default) or per trade.",
        ),
        p(
            "fields",
            T::SomeOf(&[DAY_FIELDS, TRADE_FIELDS]),
            false,
            "Columns (default: all of the per chosen).",
        ),
    ],
    doc: "One option contract (IQFeed or OCC symbol) over a date range: IV and Greeks per trade (per=trade) or per day (per=day, the default).",
    heavy: true,
    excel: &[Excel {
        id: "OPTION",
        params: &[
            xreq("option_symbol", &["symbol"]),
            xreq("field", &["fields"]),
            xopt("date", &["start", "end"]),
        ],
    }],
    run: |data, args| Box::pin(run(data, args)),
};

/// Runs `option` on arguments that passed the declaration.
async fn run(data: &Data, args: &Args) -> ApiResult<Table> {
    let text = args.text("symbol")?;
    let sym = OptionSymbol::parse(&text).map_err(|e| {
        ApiError::bad(format!(
            "symbol {} is not an option symbol: {e}",
            xlfeed_core::quoted(&text)
        ))
    })?;
    let contract = sym.to_iqfeed();
    let und = Symbol::parse(sym.root())?;
    let per = args
        .opt_text("per")?
        .unwrap_or_else(|| "day".into())
        .to_ascii_lowercase();
    let (kind, available, default) = match per.as_str() {
        "day" | "daily" => (Kind::ContractDaily, DAY_FIELDS, DAY_FIELDS),
        "trade" | "trades" => (Kind::EnrichedTrade, TRADE_FIELDS, TRADE_FIELDS),
        other => {
            return Err(ApiError::bad(format!(
                "per {} is not day or trade",
                xlfeed_core::quoted(other)
            )));
        }
    };
    let mut fields = pick_fields(args, available, default)?;
    let stamp = if kind == Kind::ContractDaily {
        "date"
    } else {
        "time"
    };
    if fields.first().map(String::as_str) != Some(stamp) {
        fields.retain(|f| f != stamp);
        fields.insert(0, stamp.to_owned());
    }
    let all = data.all_days(Dataset::Post, kind, &und).await?;
    let Some(&latest) = all.last() else {
        return Err(ApiError::not_found(format!(
            "no post-processed options of {und} (run postprocess first)"
        )));
    };
    let start = args.day("start")?.unwrap_or(latest);
    let end = args.day("end")?.unwrap_or(if args.day("start")?.is_some() {
        start
    } else {
        latest
    });
    if start > end {
        return Err(ApiError::bad(format!("start {start} is after end {end}")));
    }
    let days = data.days(Dataset::Post, kind, &und, start, end).await?;
    let chunks = data.chunks(Dataset::Post, kind, &und, &days).await?;
    let mut t = Table::new(fields.iter().cloned());
    let mut seen = false;
    for (d, c) in days.iter().zip(chunks) {
        let Some(c) = c else { continue };
        match c.as_ref() {
            Records::ContractDailies(rows) => {
                for r in rows.iter().filter(|r| r.contract == contract) {
                    seen = true;
                    t.rows
                        .push(fields.iter().map(|f| day_cell(*d, r, f)).collect());
                }
            }
            Records::EnrichedOptionTrades(rows) => {
                for r in rows.iter().filter(|r| r.contract == contract) {
                    seen = true;
                    t.rows
                        .push(fields.iter().map(|f| trade_cell(r, f)).collect());
                }
            }
            _ => {}
        }
    }
    if !seen {
        return Err(ApiError::not_found(format!(
            "no trades of {contract} between {start} and {end}"
        )));
    }
    Ok(t)
}

fn day_cell(d: TradingDay, r: &ContractDaily, f: &str) -> Cell {
    match f {
        "date" => Cell::Date(d.yyyymmdd()),
        "open" => Cell::Num(r.open),
        "high" => Cell::Num(r.high),
        "low" => Cell::Num(r.low),
        "close" => Cell::Num(r.close),
        "volume" => Cell::Int(r.volume),
        "trades" => Cell::Int(r.trades),
        "vwap" => Cell::Num(r.vwap),
        "iv" => Cell::opt(r.iv),
        "delta" => Cell::opt(r.delta),
        "gamma" => Cell::opt(r.gamma),
        "vega" => Cell::opt(r.vega),
        "theta" => Cell::opt(r.theta),
        "rho" => Cell::opt(r.rho),
        _ => Cell::Empty,
    }
}

fn trade_cell(r: &EnrichedOptionTrade, f: &str) -> Cell {
    match f {
        "time" => Cell::Time(r.time),
        "price" => Cell::Num(r.price),
        "size" => Cell::Int(r.size),
        "bid" => Cell::Num(r.bid),
        "ask" => Cell::Num(r.ask),
        "underlying_price" => Cell::opt(r.underlying_price),
        "underlying_mid" => Cell::opt(r.underlying_mid),
        "staleness_ms" => Cell::Num(r.underlying_staleness_ns as f64 / 1e6),
        "rate" => Cell::Num(r.rate),
        "rate_curve" => Cell::Text(r.rate_curve.clone()),
        "dividend_yield" => Cell::Num(r.dividend_yield),
        "time_to_expiry" => Cell::Num(r.time_to_expiry),
        "iv" => Cell::opt(r.iv),
        "delta" => Cell::opt(r.delta),
        "gamma" => Cell::opt(r.gamma),
        "vega" => Cell::opt(r.vega),
        "theta" => Cell::opt(r.theta),
        "rho" => Cell::opt(r.rho),
        "flags" => Cell::Int(i64::from(r.flags)),
        _ => Cell::Empty,
    }
}
