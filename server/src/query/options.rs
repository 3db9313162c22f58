//! `chain` and `option`: option chains and contracts with their implied volatility and
//! Greeks, from POST (written by postprocess) and the chains listed in FEED.
//!
//! A chain on a date lists the contracts FEED has for that day; each carries the day's last
//! trade, volume, IV and Greeks from POST's per-contract daily aggregates, and the bid/ask of
//! its last trade. With `at`, everything is as of that time instead: the last trade at or
//! before it, the volume up to it. A contract that did not trade has empty values.

use std::collections::HashMap;

use xlfeed_core::records::{ContractDaily, EnrichedOptionTrade, OptionContract};
use xlfeed_core::{OptionSymbol, Symbol, TradingDay};
use xlfeed_store::{Dataset, Kind, Records};

use super::{Args, DayEnd, QueryService, pick_fields};
use crate::error::{ApiError, ApiResult};
use crate::table::{Cell, Table};

pub(crate) const CHAIN_FIELDS: &[&str] = &[
    "contract",
    "occ",
    "expiry",
    "strike",
    "right",
    "bid",
    "ask",
    "last",
    "volume",
    "trades",
    "iv",
    "delta",
    "gamma",
    "vega",
    "theta",
    "rho",
    "underlying_price",
];
const DEFAULT_CHAIN_FIELDS: &[&str] = &[
    "contract", "expiry", "strike", "right", "bid", "ask", "last", "volume", "iv", "delta",
    "gamma", "vega", "theta", "rho",
];
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

/// What a chain row shows of one contract.
#[derive(Default, Clone)]
struct Activity {
    bid: Option<f64>,
    ask: Option<f64>,
    last: Option<f64>,
    volume: i64,
    trades: i64,
    greeks: [Option<f64>; 6],
    underlying: Option<f64>,
}

fn greeks_of_trade(t: &EnrichedOptionTrade) -> [Option<f64>; 6] {
    [t.iv, t.delta, t.gamma, t.vega, t.theta, t.rho]
}

fn greeks_of_day(c: &ContractDaily) -> [Option<f64>; 6] {
    [c.iv, c.delta, c.gamma, c.vega, c.theta, c.rho]
}

impl QueryService {
    /// `chain`.
    pub async fn chain(&self, args: &Args) -> ApiResult<Table> {
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
            Some(r) if r == "C" || r == "CALL" => Some('C'),
            Some(r) if r == "P" || r == "PUT" => Some('P'),
            Some(r) => {
                return Err(ApiError::bad(format!(
                    "right {} is not C or P",
                    xlfeed_core::quoted(&r)
                )));
            }
        };
        let day = match self
            .data
            .latest_day(Dataset::Feed, Kind::Chain, &und, asked)
            .await?
        {
            Some(d) => d,
            None => {
                let any = self.data.all_days(Dataset::Feed, Kind::Chain, &und).await?;
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
        let contracts: Vec<OptionContract> = match self
            .data
            .chunk(Dataset::Feed, Kind::Chain, &und, day)
            .await?
            .as_deref()
        {
            Some(Records::Contracts(c)) => c.clone(),
            _ => Vec::new(),
        };
        let activity = self.activity(&und, day, at).await?;
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
                        "right" => Cell::Text(c.right.to_string()),
                        "bid" => Cell::opt(a.bid),
                        "ask" => Cell::opt(a.ask),
                        "last" => Cell::opt(a.last),
                        "volume" => Cell::Int(a.volume),
                        "trades" => Cell::Int(a.trades),
                        "iv" => Cell::opt(a.greeks[0]),
                        "delta" => Cell::opt(a.greeks[1]),
                        "gamma" => Cell::opt(a.greeks[2]),
                        "vega" => Cell::opt(a.greeks[3]),
                        "theta" => Cell::opt(a.greeks[4]),
                        "rho" => Cell::opt(a.greeks[5]),
                        "underlying_price" => Cell::opt(a.underlying),
                        _ => Cell::Empty,
                    })
                    .collect(),
            )?;
        }
        Ok(t)
    }

    /// Each contract's activity on `day` (up to `at` when given).
    async fn activity(
        &self,
        und: &Symbol,
        day: TradingDay,
        at: Option<i64>,
    ) -> ApiResult<HashMap<String, Activity>> {
        let mut out: HashMap<String, Activity> = HashMap::new();
        if let Some(c) = self
            .data
            .chunk(Dataset::Post, Kind::EnrichedTrade, und, day)
            .await?
            && let Records::EnrichedOptionTrades(trades) = c.as_ref()
        {
            for t in trades.iter().filter(|t| at.is_none_or(|ns| t.time <= ns)) {
                let a = out.entry(t.contract.clone()).or_default();
                a.bid = Some(t.bid).filter(|v| *v > 0.0);
                a.ask = Some(t.ask).filter(|v| *v > 0.0);
                a.last = Some(t.price);
                a.volume += t.size;
                a.trades += 1;
                a.greeks = greeks_of_trade(t);
                a.underlying = t.underlying_price;
            }
        }
        // The day's aggregates are the reference for a whole day (same numbers, cheaper).
        if at.is_none()
            && let Some(c) = self
                .data
                .chunk(Dataset::Post, Kind::ContractDaily, und, day)
                .await?
            && let Records::ContractDailies(days) = c.as_ref()
        {
            for d in days {
                let a = out.entry(d.contract.clone()).or_default();
                a.last = Some(d.close);
                a.volume = d.volume;
                a.trades = d.trades;
                a.greeks = greeks_of_day(d);
            }
        }
        Ok(out)
    }

    /// `option`.
    pub async fn option(&self, args: &Args) -> ApiResult<Table> {
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
        let all = self.data.all_days(Dataset::Post, kind, &und).await?;
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
        let days = self
            .data
            .days(Dataset::Post, kind, &und, start, end)
            .await?;
        let chunks = self.data.chunks(Dataset::Post, kind, &und, &days).await?;
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
