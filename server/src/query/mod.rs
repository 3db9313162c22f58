//! QueryService: every question xlserver answers, transport-neutral. HTTP, the batch
//! endpoint and gRPC all call [`QueryService::call`] (or the typed methods behind it) and
//! render the [`Table`] it returns.
//!
//! | function | answers |
//! |---|---|
//! | `history` | bars of a symbol at 1m…1h, daily, weekly, monthly (stored, or resampled from finer data) |
//! | `ticks` | a symbol's trades in a time range, paged |
//! | `quote` | latest values of a symbol, now or as of a time |
//! | `chain` | an underlying's option chain at a date or time, with IV and Greeks |
//! | `option` | one contract's IV and Greeks per trade or per day |
//! | `dividends`, `rate`, `fundamentals`, `search` | reference data |
//! | `compare` | server-side comparisons of symbols; implied vs realized volatility; FEED vs POST consistency |

pub mod args;
mod compare;
pub mod data;
mod market;
mod options;
mod reference;

pub use args::{Args, DayEnd};
pub use data::{CacheConfig, Data};

use crate::error::{ApiError, ApiResult};
use crate::table::Table;

/// The query functions, by name, with their parameters (for validation, help and OpenAPI).
pub const FUNCTIONS: &[(&str, &[&str], &str)] = &[
    (
        "history",
        &["symbol", "start", "end", "interval", "fields"],
        "Bars of a symbol over a date range: interval 1m, 5m, 15m, 30m, 1h, daily (default), weekly, monthly; fields open, high, low, close, volume, vwap, trades.",
    ),
    (
        "ticks",
        &["symbol", "start", "end", "limit", "cursor"],
        "Trades of a symbol between two times, oldest first, at most limit (default 10,000; 100,000 at most) a page; next names the cursor of the following page.",
    ),
    (
        "quote",
        &["symbol", "field", "at"],
        "Latest values of a symbol (last, bid, ask, size, volume, change, change_pct, open, high, low, prev_close, time), now or as of a time; one field gives one value.",
    ),
    (
        "chain",
        &["underlying", "date", "at", "expiry", "fields", "right"],
        "An underlying's option chain on a date (default: the latest processed): per contract bid/ask/last, volume, IV, delta, gamma, vega, theta, rho; as of a time with at.",
    ),
    (
        "option",
        &["symbol", "start", "end", "per", "fields"],
        "One option contract (IQFeed or OCC symbol) over a date range: IV and Greeks per trade (per=trade) or per day (per=day, the default).",
    ),
    (
        "dividends",
        &["symbol", "start", "end"],
        "Dividends of a symbol with ex-dates in a range (default: all known).",
    ),
    (
        "rate",
        &["tenor", "date", "curve"],
        "The continuously compounded zero rate for a tenor (days, or 1W, 3M, 1Y) on a date from the curve in FEED (default: the market's curve for the date, USD LIBOR to 2023-06-30, SOFR after, Treasury as fallback).",
    ),
    (
        "fundamentals",
        &["symbol", "field"],
        "The latest fundamentals of a symbol (or one field of them).",
    ),
    (
        "search",
        &["text", "limit"],
        "Symbols in the stores that start with or contain text, with what is stored for them.",
    ),
    (
        "compare",
        &["symbols", "start", "end", "metric", "window", "date"],
        "Server-side comparison of two or more symbols over a date range (metric summary, returns, correlation, drawdown, ivrv for implied vs realized volatility, consistency for FEED vs POST).",
    ),
];

/// The query service over FEED and POST.
#[derive(Debug, Clone)]
pub struct QueryService {
    data: Data,
}

impl QueryService {
    /// A service reading `data`.
    pub fn new(data: Data) -> QueryService {
        QueryService { data }
    }

    /// The stores and their caches.
    pub fn data(&self) -> &Data {
        &self.data
    }

    /// Calls the function `name` with `args`.
    pub async fn call(&self, name: &str, args: &Args) -> ApiResult<Table> {
        let Some((_, params, _)) = FUNCTIONS.iter().find(|(n, _, _)| *n == name) else {
            let names: Vec<&str> = FUNCTIONS.iter().map(|f| f.0).collect();
            return Err(ApiError::not_found(format!(
                "no function \"{name}\" (there are {})",
                names.join(", ")
            )));
        };
        args.only(name, params)?;
        match name {
            "history" => self.history(args).await,
            "ticks" => self.ticks(args).await,
            "quote" => self.quote(args).await,
            "chain" => self.chain(args).await,
            "option" => self.option(args).await,
            "dividends" => self.dividends(args).await,
            "rate" => self.rate(args).await,
            "fundamentals" => self.fundamentals(args).await,
            "search" => self.search(args).await,
            "compare" => self.compare(args).await,
            _ => Err(ApiError::not_found(format!("no function \"{name}\""))),
        }
    }
}

/// Selected fields: `requested` (comma list) checked against `available`, or `default`.
pub(crate) fn pick_fields(
    args: &Args,
    available: &[&str],
    default: &[&str],
) -> ApiResult<Vec<String>> {
    let asked = args.list("fields")?;
    if asked.is_empty() {
        return Ok(default.iter().map(|s| (*s).to_owned()).collect());
    }
    asked
        .into_iter()
        .map(|f| {
            let f = f.to_ascii_lowercase();
            if available.contains(&f.as_str()) {
                Ok(f)
            } else {
                Err(ApiError::bad(format!(
                    "field \"{f}\" is not one of {}",
                    available.join(", ")
                )))
            }
        })
        .collect()
}
