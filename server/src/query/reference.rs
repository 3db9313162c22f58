//! `dividends`, `rate`, `fundamentals` and `search`: reference data from FEED.
//!
//! `rate` reads the curve the way postprocess does: of the policy's candidates for the date
//! (USD LIBOR up to 2023-06-30, SOFR after, the Treasury par curve as fallback; or the curve
//! named), the latest curve on or before the date within 31 days, converted to continuously
//! compounded zero rates and interpolated linearly in time (`xlfeed_analytics::rates`).

use xlfeed_analytics::rates::{Curve, CurvePolicy};
use xlfeed_core::records::Fundamentals;
use xlfeed_core::{Symbol, TradingDay};
use xlfeed_store::{Dataset, Kind, Records};

use super::{Args, QueryService};
use crate::error::{ApiError, ApiResult};
use crate::table::{Cell, Table};

/// How far back a curve is looked for.
const CURVE_LOOKBACK_DAYS: i64 = 31;

/// A tenor in calendar days: `30`, `ON`, `1W`, `3M`, `1Y`.
pub(crate) fn parse_tenor(s: &str) -> ApiResult<f64> {
    let t = s.trim().to_ascii_uppercase();
    let bad = || {
        ApiError::bad(format!(
            "tenor {} is not a number of days or one of ON, 1W, 3M, 1Y (days, weeks, months, years)",
            xlfeed_core::quoted(s)
        ))
    };
    let days = if t == "ON" || t == "O/N" {
        1.0
    } else if let Ok(d) = t.parse::<f64>() {
        d
    } else {
        let (n, unit) = t.split_at(t.len().checked_sub(1).ok_or_else(bad)?);
        let n: f64 = n.parse().map_err(|_| bad())?;
        n * match unit {
            "D" => 1.0,
            "W" => 7.0,
            "M" => 365.0 / 12.0,
            "Y" => 365.0,
            _ => return Err(bad()),
        }
    };
    if !(days.is_finite() && days > 0.0 && days <= 365.0 * 100.0) {
        return Err(bad());
    }
    Ok(days)
}

impl QueryService {
    /// `dividends`.
    pub async fn dividends(&self, args: &Args) -> ApiResult<Table> {
        let symbol = args.symbol("symbol")?;
        let all = self
            .data
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
            let known = !self
                .data
                .all_days(Dataset::Feed, Kind::Trade, &symbol)
                .await?
                .is_empty()
                || !self
                    .data
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
        let chunks = self
            .data
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

    /// `rate`.
    pub async fn rate(&self, args: &Args) -> ApiResult<Table> {
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
                CurvePolicy::parse(sym.as_str()).map_err(|e| {
                    ApiError::bad(format!("curve {}: {e}", xlfeed_core::quoted(&name)))
                })?
            }
            None => CurvePolicy::default_usd(),
        };
        let earliest =
            TradingDay::from_date(day.date() - chrono::Duration::days(CURVE_LOOKBACK_DAYS))
                .unwrap_or(day);
        let mut curves = Vec::new();
        for name in policy.candidates(day.yyyymmdd()) {
            let Ok(sym) = Symbol::parse(name) else {
                continue;
            };
            let days = self
                .data
                .days(Dataset::Feed, Kind::Rate, &sym, earliest, day)
                .await?;
            let Some(&d) = days.last() else { continue };
            if let Some(c) = self.data.chunk(Dataset::Feed, Kind::Rate, &sym, d).await?
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

    /// `fundamentals`.
    pub async fn fundamentals(&self, args: &Args) -> ApiResult<Table> {
        let symbol = args.symbol("symbol")?;
        let field = args.opt_text("field")?.map(|f| f.to_ascii_lowercase());
        let Some(day) = self
            .data
            .latest_day(Dataset::Feed, Kind::Fundamental, &symbol, None)
            .await?
        else {
            return Err(ApiError::not_found(format!(
                "no fundamentals for {symbol} (fetch --kinds fundamentals)"
            )));
        };
        let rows: Vec<Fundamentals> = match self
            .data
            .chunk(Dataset::Feed, Kind::Fundamental, &symbol, day)
            .await?
            .as_deref()
        {
            Some(Records::Fundamentals(f)) => f.clone(),
            _ => Vec::new(),
        };
        let Some(f) = rows.last() else {
            return Err(ApiError::not_found(format!("no fundamentals for {symbol}")));
        };
        let date = |d: u32| if d == 0 { Cell::Empty } else { Cell::Date(d) };
        let mut cells: Vec<(&str, Cell)> = vec![
            ("symbol", Cell::Text(symbol.to_string())),
            ("as_of", Cell::Time(f.time)),
            ("dividend_amount", Cell::Num(f.dividend_amount)),
            ("dividend_yield_pct", Cell::Num(f.dividend_yield_pct)),
            ("dividend_rate", Cell::Num(f.dividend_rate)),
            ("pay_date", date(f.pay_date)),
            ("ex_date", date(f.ex_date)),
            ("shares_outstanding", Cell::Int(f.shares_outstanding)),
            ("high_52w", Cell::Num(f.high_52w)),
            ("low_52w", Cell::Num(f.low_52w)),
            ("pe", Cell::opt(f.pe)),
            ("eps", Cell::opt(f.eps)),
        ];
        if let Some(field) = field {
            let names: Vec<&str> = cells.iter().map(|(n, _)| *n).collect();
            if !names.contains(&field.as_str()) {
                return Err(ApiError::bad(format!(
                    "field {} is not one of {}",
                    xlfeed_core::quoted(&field),
                    names.join(", ")
                )));
            }
            cells.retain(|(n, _)| *n == field);
            if matches!(cells.first(), Some((_, Cell::Empty))) {
                return Err(ApiError::no_number(format!(
                    "{symbol} has no {field} reported"
                )));
            }
        }
        let mut t = Table::new(cells.iter().map(|(n, _)| *n));
        t.push(cells.into_iter().map(|(_, c)| c).collect())?;
        Ok(t)
    }

    /// `search`.
    pub async fn search(&self, args: &Args) -> ApiResult<Table> {
        let text = args.text("text")?.to_ascii_uppercase();
        let limit = args.int("limit")?.unwrap_or(50);
        if !(1..=1000).contains(&limit) {
            return Err(ApiError::bad(format!(
                "limit {limit} is not between 1 and 1000"
            )));
        }
        let kinds = [
            (Dataset::Feed, Kind::Trade, "ticks"),
            (Dataset::Feed, Kind::Daily, "daily"),
            (Dataset::Feed, Kind::Chain, "options"),
            (Dataset::Feed, Kind::Dividend, "dividends"),
            (Dataset::Feed, Kind::Fundamental, "fundamentals"),
            (Dataset::Post, Kind::EnrichedTrade, "analytics"),
            (Dataset::Feed, Kind::Rate, "rate curve"),
        ];
        let mut found: std::collections::BTreeMap<String, Vec<&str>> = Default::default();
        for (ds, kind, label) in kinds {
            for s in self.data.symbols(ds, kind).await? {
                if s.as_str().contains(&text) {
                    found.entry(s.to_string()).or_default().push(label);
                }
            }
        }
        let mut hits: Vec<(String, Vec<&str>)> = found.into_iter().collect();
        // Prefix matches first, then alphabetical.
        hits.sort_by_key(|(s, _)| (!s.starts_with(&text), s.len(), s.clone()));
        let mut t = Table::new(["symbol", "data"]);
        for (s, labels) in hits.into_iter().take(limit as usize) {
            t.rows
                .push(vec![Cell::Text(s), Cell::Text(labels.join(", "))]);
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenors() {
        assert_eq!(parse_tenor("30").unwrap(), 30.0);
        assert_eq!(parse_tenor("1y").unwrap(), 365.0);
        assert_eq!(parse_tenor("ON").unwrap(), 1.0);
        assert!((parse_tenor("3M").unwrap() - 91.25).abs() < 1e-12);
        assert!(parse_tenor("-5").unwrap_err().message.contains("\"-5\""));
        assert!(parse_tenor("3X").is_err());
    }
}
