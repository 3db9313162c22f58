//! `rate`: a zero rate for a tenor on a date, from the curves in FEED.
//!
//! It reads the curve the way postprocess does: of the policy's candidates for the date
//! (USD LIBOR up to 2023-06-30, SOFR after, the Treasury par curve as fallback; or the curve
//! named), the latest curve on or before the date within 31 days, converted to continuously
//! compounded zero rates and interpolated linearly in time (`xlfeed_analytics::rates`).

use xlfeed_analytics::rates::{Curve, CurvePolicy};
use xlfeed_core::{Symbol, TradingDay};
use xlfeed_store::{Dataset, Kind, Records};

use super::args::Args;
use super::args::parse_tenor;
use super::data::Data;
use super::functions::{Excel, Function, ParamType as T, p, xopt, xreq};
use crate::error::{ApiError, ApiResult};
use crate::table::{Cell, Table};

/// How far back a curve is looked for.
const CURVE_LOOKBACK_DAYS: i64 = 31;

/// `rate`, declared for the function table.
pub(super) const FUNCTION: Function = Function {
    name: "rate",
    params: &[
        p("tenor", T::Tenor, true, "The tenor."),
        p(
            "date",
            T::Date,
            false,
            "The curve's day (default: today in New York).",
        ),
        p(
            "curve",
            T::Text,
            false,
            "The curve (default: USD LIBOR to 2023-06-30, SOFR after, Treasury as fallback).",
        ),
    ],
    doc: "The continuously compounded zero rate for a tenor (days, or 1W, 3M, 1Y) on a date from the curve in FEED (default: the market's curve for the date, USD LIBOR to 2023-06-30, SOFR after, Treasury as fallback).",
    heavy: false,
    excel: &[Excel {
        id: "RATE",
        params: &[
            xreq("tenor", &["tenor"]),
            xopt("date", &["date"]),
            xopt("curve", &["curve"]),
        ],
    }],
    run: |data, args| Box::pin(run(data, args)),
};

/// Runs `rate` on arguments that passed the declaration.
async fn run(data: &Data, args: &Args) -> ApiResult<Table> {
    let tenor_text = args.text("tenor")?;
    let tenor = parse_tenor(&tenor_text)?;
    let day = match args.day("date")? {
        Some(d) => d,
        None => super::data::today().ok_or_else(|| ApiError::bad("date is required"))?,
    };
    let policy = match args.opt_text("curve")? {
        Some(name) => {
            let sym = Symbol::parse(&name.to_ascii_uppercase())
                .map_err(|e| ApiError::bad(format!("curve: {e}")))?;
            CurvePolicy::parse(sym.as_str())
                .map_err(|e| ApiError::bad(format!("curve {}: {e}", xlfeed_core::quoted(&name))))?
        }
        None => CurvePolicy::default_usd(),
    };
    let earliest = TradingDay::from_date(day.date() - chrono::Duration::days(CURVE_LOOKBACK_DAYS))
        .unwrap_or(day);
    let mut curves = Vec::new();
    for name in policy.candidates(day.yyyymmdd()) {
        let Ok(sym) = Symbol::parse(name) else {
            continue;
        };
        let days = data
            .days(Dataset::Feed, Kind::Rate, &sym, earliest, day)
            .await?;
        let Some(&d) = days.last() else { continue };
        if let Some(c) = data.chunk(Dataset::Feed, Kind::Rate, &sym, d).await?
            && let Records::RatePoints(p) = c.as_ref()
        {
            curves.push(Curve {
                name: name.to_owned(),
                date: d.yyyymmdd(),
                points: p.clone(),
            });
        }
    }
    let chosen = policy.select(day.yyyymmdd(), |name| {
        curves
            .iter()
            .find(|c| c.name == name)
            .map(|c| (c.date, c.clone()))
    });
    let Some(sel) = chosen else {
        return Err(ApiError::not_found(format!(
            "no rate curve ({}) on or within {CURVE_LOOKBACK_DAYS} days before {day}",
            policy.candidates(day.yyyymmdd()).join(", ")
        )));
    };
    let rate = sel
        .value
        .zero_rate(tenor)
        .map_err(|e| ApiError::bad(e.to_string()))?;
    let mut t = Table::new([
        "date",
        "tenor_days",
        "rate",
        "curve",
        "curve_date",
        "convention",
    ]);
    t.push(vec![
        Cell::Date(day.yyyymmdd()),
        Cell::Num(tenor),
        Cell::Num(rate),
        Cell::Text(sel.curve.to_owned()),
        Cell::Date(sel.date),
        Cell::Text("continuously compounded zero, act/365".into()),
    ])?;
    Ok(t)
}
