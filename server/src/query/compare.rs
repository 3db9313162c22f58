//! `compare`: comparisons computed on the server, so a worksheet gets the figures rather than
//! thousands of prices to compare itself. The statistics and their formulas are in
//! `xlfeed_analytics::compare`; this file reads the closes and lays out the tables.
//!
//! Metrics:
//! - `summary` (default): per symbol, over the dates all symbols traded: first and last close,
//!   total and annualized return, annualized volatility, max drawdown; against the first
//!   symbol (the benchmark): correlation, beta, tracking error, relative performance.
//! - `returns`: the aligned daily simple returns, a column per symbol.
//! - `correlation`: the correlation matrix of daily returns.
//! - `spread`: the first two symbols' price spread (a − b) and ratio (a / b): mean, stdev,
//!   min, max, last and z-score of the last.
//! - `drawdown`: each symbol's max drawdown with its peak and trough dates.
//! - `ivrv`: an underlying's at-the-money implied volatility (the expiry nearest 30 days, from
//!   POST's daily IV summary) against its close-to-close realized volatility over `window`
//!   days (default 20).
//! - `consistency`: FEED vs POST for a symbol over the range: option trades in FEED and
//!   enriched trades in POST per day, days missing from POST, count mismatches, trades
//!   without an IV.

use super::args::Args;
use super::data::Data;
use super::functions::{Excel, Function, ParamType as T, p, xopt, xreq};
use crate::error::{ApiError, ApiResult};
use crate::table::{Cell, Table};
use xlfeed_analytics::compare::{
    Aligned, Series, align, pair_stats, rolling_realized_vol, series_stats, simple_returns,
};
use xlfeed_core::{Symbol, TradingDay};
use xlfeed_store::{Dataset, Kind, Records};

pub(crate) const METRICS: &[&str] = &[
    "summary",
    "returns",
    "correlation",
    "spread",
    "drawdown",
    "ivrv",
    "consistency",
];
/// Symbols in one comparison at most.
const MAX_SYMBOLS: usize = 50;

/// `compare`, declared for the function table.
pub(super) const FUNCTION: Function = Function {
    name: "compare",
    params: &[
        p(
            "symbols",
            T::Symbols,
            true,
            "Two or more symbols (one for ivrv, consistency and drawdown); the first is the benchmark.",
        ),
        p("start", T::Date, true, "The first day."),
        p(
            "end",
            T::Date,
            false,
            "The last day (default: today in New York).",
        ),
        p(
            "metric",
            T::OneOf(METRICS),
            false,
            "What to compare (default summary).",
        ),
        p(
            "window",
            T::Int(2, 252),
            false,
            "Days of realized volatility (ivrv; default 20).",
        ),
        p(
            "date",
            T::Date,
            false,
            "Unused; accepted for the add-in's layout.",
        ),
    ],
    doc: "Server-side comparison of two or more symbols over a date range (metric summary, returns, correlation, drawdown, ivrv for implied vs realized volatility, consistency for FEED vs POST).",
    heavy: true,
    excel: &[Excel {
        id: "COMPARE",
        params: &[
            xreq("symbols", &["symbols"]),
            xreq("start", &["start"]),
            xreq("end", &["end"]),
            xopt("metric", &["metric"]),
        ],
    }],
    run: |data, args| Box::pin(run(data, args)),
};

/// The symbols and days a comparison covers, checked.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    /// The symbols, the first being the benchmark.
    pub(crate) symbols: Vec<Symbol>,
    /// The first day.
    pub(crate) start: TradingDay,
    /// The last day.
    pub(crate) end: TradingDay,
}

impl Window {
    /// The window of `args` for `metric`, which needs `need` symbols at least.
    pub(crate) fn parse(args: &Args, metric: &str, need: usize) -> ApiResult<Window> {
        let names = args.list("symbols")?;
        let symbols: Vec<Symbol> = names
            .iter()
            .map(|s| {
                Symbol::parse(&s.to_ascii_uppercase())
                    .map_err(|e| ApiError::bad(format!("symbols: {e}")))
            })
            .collect::<ApiResult<_>>()?;
        if symbols.len() < need {
            return Err(ApiError::bad(format!(
                "compare {metric} needs {} symbol{} in symbols, got {}",
                if need == 1 {
                    "at least one"
                } else {
                    "at least two"
                },
                if need == 1 { "" } else { "s" },
                symbols.len()
            )));
        }
        if symbols.len() > MAX_SYMBOLS {
            return Err(ApiError::bad(format!(
                "{} symbols is more than {MAX_SYMBOLS} in one comparison",
                symbols.len()
            )));
        }
        let start = args
            .day("start")?
            .ok_or_else(|| ApiError::bad("start is required"))?;
        let end = match args.day("end")? {
            Some(e) => e,
            None => super::data::today().unwrap_or(start),
        };
        if start > end {
            return Err(ApiError::bad(format!("start {start} is after end {end}")));
        }
        Ok(Window {
            symbols,
            start,
            end,
        })
    }

    /// The symbols' daily closes on the days they all have one (at least two days).
    pub(crate) async fn aligned(&self, data: &Data) -> ApiResult<Aligned> {
        let mut closes = Vec::with_capacity(self.symbols.len());
        for s in &self.symbols {
            closes.push(super::history::daily_closes(data, s, self.start, self.end).await?);
        }
        let series: Vec<Series<'_>> = closes
            .iter()
            .map(|(d, c)| Series {
                dates: d,
                closes: c,
            })
            .collect();
        let aligned = align(&series);
        if aligned.dates.len() < 2 {
            let names: Vec<String> = self.symbols.iter().map(|s| s.to_string()).collect();
            return Err(ApiError::no_number(format!(
                "{} have fewer than two common days with prices between {} and {}",
                names.join(", "),
                self.start,
                self.end
            )));
        }
        Ok(aligned)
    }
}

/// Runs `compare` on arguments that passed the declaration.
async fn run(data: &Data, args: &Args) -> ApiResult<Table> {
    let metric = args
        .opt_text("metric")?
        .unwrap_or_else(|| "summary".into())
        .to_ascii_lowercase();
    if !METRICS.contains(&metric.as_str()) {
        return Err(ApiError::bad(format!(
            "metric {} is not one of {}",
            xlfeed_core::quoted(&metric),
            METRICS.join(", ")
        )));
    }
    let one = matches!(metric.as_str(), "ivrv" | "consistency" | "drawdown");
    let w = Window::parse(args, &metric, if one { 1 } else { 2 })?;
    let (symbols, start, end) = (&w.symbols, w.start, w.end);
    match metric.as_str() {
        "ivrv" => return ivrv(data, &symbols[0], start, end, args).await,
        "consistency" => return consistency(data, &symbols[0], start, end).await,
        _ => {}
    }
    let aligned = w.aligned(data).await?;
    let cols = |first: &str| {
        std::iter::once(first.to_owned())
            .chain(symbols.iter().map(|s| s.to_string()))
            .collect::<Vec<_>>()
    };
    let mut t;
    match metric.as_str() {
        "returns" => {
            t = Table::new(cols("date"));
            let rets: Vec<Vec<f64>> = aligned.closes.iter().map(|c| simple_returns(c)).collect();
            for (i, d) in aligned.dates.iter().enumerate().skip(1) {
                let mut row = vec![Cell::Date(*d)];
                row.extend(rets.iter().map(|r| Cell::Num(r[i - 1])));
                t.push(row)?;
            }
        }
        "correlation" => {
            t = Table::new(cols("symbol"));
            for (i, a) in aligned.closes.iter().enumerate() {
                let mut row = vec![Cell::Text(symbols[i].to_string())];
                for b in &aligned.closes {
                    row.push(Cell::opt(pair_stats(a, b).and_then(|p| p.correlation)));
                }
                t.push(row)?;
            }
        }
        "spread" => {
            t = Table::new(["measure", "mean", "stdev", "min", "max", "last", "zscore"]);
            let p = pair_stats(&aligned.closes[0], &aligned.closes[1]).ok_or_else(|| {
                ApiError::no_number("too few common days for a spread".to_owned())
            })?;
            for (name, m) in [("spread", p.spread), ("ratio", p.ratio)] {
                t.push(vec![
                    Cell::Text(format!("{name} {}/{}", symbols[0], symbols[1])),
                    Cell::Num(m.mean),
                    Cell::opt(m.stdev),
                    Cell::Num(m.min),
                    Cell::Num(m.max),
                    Cell::Num(m.last),
                    Cell::opt(m.zscore),
                ])?;
            }
        }
        "drawdown" => {
            t = Table::new(["symbol", "max_drawdown", "peak_date", "trough_date"]);
            for (i, c) in aligned.closes.iter().enumerate() {
                if let Some(s) = series_stats(c) {
                    t.push(vec![
                        Cell::Text(symbols[i].to_string()),
                        Cell::Num(s.max_drawdown),
                        Cell::Date(aligned.dates[s.drawdown_peak]),
                        Cell::Date(aligned.dates[s.drawdown_trough]),
                    ])?;
                }
            }
        }
        _ => {
            t = Table::new([
                "symbol",
                "first",
                "last",
                "total_return",
                "annualized_return",
                "annualized_vol",
                "max_drawdown",
                "correlation",
                "beta",
                "tracking_error",
                "relative_performance",
                "days",
            ]);
            let bench = &aligned.closes[0];
            for (i, c) in aligned.closes.iter().enumerate() {
                let Some(s) = series_stats(c) else { continue };
                let p = pair_stats(c, bench);
                t.push(vec![
                    Cell::Text(symbols[i].to_string()),
                    Cell::Num(s.first),
                    Cell::Num(s.last),
                    Cell::Num(s.total_return),
                    Cell::opt(s.annualized_return),
                    Cell::opt(s.annualized_vol),
                    Cell::Num(s.max_drawdown),
                    Cell::opt(p.as_ref().and_then(|p| p.correlation)),
                    Cell::opt(p.as_ref().and_then(|p| p.beta)),
                    Cell::opt(p.as_ref().and_then(|p| p.tracking_error)),
                    Cell::opt(p.as_ref().map(|p| p.relative_performance)),
                    Cell::Int(s.observations as i64),
                ])?;
            }
        }
    }
    Ok(t)
}

/// Implied (ATM, nearest 30 days) vs realized volatility of an underlying.
async fn ivrv(
    data: &Data,
    und: &Symbol,
    start: TradingDay,
    end: TradingDay,
    args: &Args,
) -> ApiResult<Table> {
    let window = args.int("window")?.unwrap_or(20);
    if !(2..=252).contains(&window) {
        return Err(ApiError::bad(format!(
            "window {window} is not between 2 and 252 days"
        )));
    }
    let window = window as usize;
    // Realized volatility needs `window` returns before the first day shown.
    let lead = TradingDay::from_date(start.date() - chrono::Duration::days(window as i64 * 2 + 10))
        .unwrap_or(start);
    let (dates, closes) = super::history::daily_closes(data, und, lead, end).await?;
    let rv = rolling_realized_vol(&closes, window);
    let days = data
        .days(Dataset::Post, Kind::IvSummary, und, start, end)
        .await?;
    let chunks = data
        .chunks(Dataset::Post, Kind::IvSummary, und, &days)
        .await?;
    let mut t = Table::new(["date", "atm_iv", "expiry", "realized_vol", "iv_minus_rv"]);
    for (d, c) in days.iter().zip(chunks) {
        let Some(c) = c else { continue };
        let Records::IvTerms(terms) = c.as_ref() else {
            continue;
        };
        // The expiry nearest 30 calendar days with an ATM IV.
        let best = terms.iter().filter(|x| x.atm_iv.is_some()).min_by(|a, b| {
            let da = (a.time_to_expiry * 365.0 - 30.0).abs();
            let db = (b.time_to_expiry * 365.0 - 30.0).abs();
            da.total_cmp(&db)
        });
        let realized = dates.binary_search(&d.yyyymmdd()).ok().and_then(|i| rv[i]);
        let iv = best.and_then(|b| b.atm_iv);
        t.push(vec![
            Cell::Date(d.yyyymmdd()),
            Cell::opt(iv),
            best.map_or(Cell::Empty, |b| Cell::Date(b.expiry)),
            Cell::opt(realized),
            Cell::opt(iv.zip(realized).map(|(i, r)| i - r)),
        ])?;
    }
    if t.rows.is_empty() {
        return Err(ApiError::not_found(format!(
            "no IV summary for {und} between {start} and {end} (run postprocess first)"
        )));
    }
    Ok(t)
}

/// FEED vs POST, day by day, for one underlying.
async fn consistency(
    data: &Data,
    und: &Symbol,
    start: TradingDay,
    end: TradingDay,
) -> ApiResult<Table> {
    let feed_days = data
        .days(Dataset::Feed, Kind::OptionTrade, und, start, end)
        .await?;
    let post_days = data
        .days(Dataset::Post, Kind::EnrichedTrade, und, start, end)
        .await?;
    if feed_days.is_empty() && post_days.is_empty() {
        return Err(ApiError::not_found(format!(
            "no option trades of {und} in FEED or POST between {start} and {end}"
        )));
    }
    let mut all: Vec<TradingDay> = feed_days.iter().chain(&post_days).copied().collect();
    all.sort();
    all.dedup();
    let feed = data
        .chunks(Dataset::Feed, Kind::OptionTrade, und, &all)
        .await?;
    let post = data
        .chunks(Dataset::Post, Kind::EnrichedTrade, und, &all)
        .await?;
    let mut t = Table::new([
        "date",
        "feed_trades",
        "post_trades",
        "status",
        "without_iv",
        "unpaired",
    ]);
    for ((d, f), p) in all.iter().zip(feed).zip(post) {
        let nf = f.as_deref().map(Records::len);
        let (np, without_iv, unpaired) = match p.as_deref() {
            Some(Records::EnrichedOptionTrades(rows)) => (
                Some(rows.len()),
                rows.iter().filter(|r| r.iv.is_none()).count(),
                rows.iter().filter(|r| r.underlying_price.is_none()).count(),
            ),
            _ => (None, 0, 0),
        };
        let status = match (nf, np) {
            (Some(a), Some(b)) if a == b => "ok",
            (Some(_), Some(_)) => "count mismatch",
            (Some(_), None) => "missing in POST",
            (None, Some(_)) => "missing in FEED",
            (None, None) => "missing",
        };
        t.push(vec![
            Cell::Date(d.yyyymmdd()),
            nf.map_or(Cell::Empty, |n| Cell::Int(n as i64)),
            np.map_or(Cell::Empty, |n| Cell::Int(n as i64)),
            Cell::Text(status.into()),
            Cell::Int(without_iv as i64),
            Cell::Int(unpaired as i64),
        ])?;
    }
    Ok(t)
}
