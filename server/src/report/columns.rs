//! How each answer column looks in a workbook: its Excel number format and its width,
//! decided in one place from the column's name and its cells' type.
//!
//! Dates and times are date cells (`yyyy-mm-dd`, `yyyy-mm-dd hh:mm:ss.000` in New York time);
//! prices `0.00`; volumes and counts `#,##0`; volatilities, returns and rates (fractions) as
//! percentages; `*_pct` columns (already in percent points) with a `%` sign but not scaled;
//! Greeks and ratios with four decimals; identifiers as plain integers.

use crate::table::Cell;

/// The look of one column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Look {
    /// Text, left as it is.
    Text,
    /// A calendar date.
    Date,
    /// A point in time, New York, to the millisecond.
    Time,
    /// A price or an amount of money: `0.00`.
    Price,
    /// A volume or a count: `#,##0`.
    Count,
    /// A fraction shown as a percentage: `0.00%`.
    Percent,
    /// A number already in percent points: `0.00"%"`.
    Points,
    /// A Greek, a correlation, a ratio: `0.0000`.
    Fine,
    /// An identifier: `0`.
    Id,
    /// Any other number: Excel's General.
    Number,
}

/// Price and money columns.
const PRICES: &[&str] = &[
    "open",
    "high",
    "low",
    "close",
    "vwap",
    "price",
    "bid",
    "ask",
    "last",
    "mid",
    "strike",
    "underlying_price",
    "underlying_mid",
    "prev_close",
    "change",
    "high_52w",
    "low_52w",
    "amount",
    "dividend_amount",
    "dividend_rate",
    "eps",
    "forward",
];

/// Volume and count columns.
const COUNTS: &[&str] = &[
    "volume",
    "size",
    "trades",
    "open_interest",
    "shares_outstanding",
    "feed_trades",
    "post_trades",
    "unpaired",
    "without_iv",
    "days",
    "rows",
];

/// Fractions shown as percentages.
const PERCENTS: &[&str] = &[
    "iv",
    "atm_iv",
    "realized_vol",
    "annualized_vol",
    "iv_minus_rv",
    "total_return",
    "annualized_return",
    "max_drawdown",
    "tracking_error",
    "relative_performance",
    "rate",
    "return",
    "risk_reversal_25d",
    "butterfly_25d",
    "iv_25d",
    "performance",
];

/// Greeks, correlations and other small numbers.
const FINE: &[&str] = &[
    "delta",
    "gamma",
    "vega",
    "theta",
    "rho",
    "correlation",
    "beta",
    "zscore",
    "ratio",
    "pe",
];

/// Identifiers.
const IDS: &[&str] = &["tick_id", "staleness_ms", "market_center", "tenor_days"];

impl Look {
    /// The look of column `name` whose first non-empty cell is `sample`.
    pub(crate) fn of(name: &str, sample: Option<&Cell>) -> Look {
        match sample {
            Some(Cell::Date(_)) => return Look::Date,
            Some(Cell::Time(_)) => return Look::Time,
            Some(Cell::Text(_)) => return Look::Text,
            _ => {}
        }
        let n = name.to_ascii_lowercase();
        // A chain's sides: `call_iv` looks like `iv`.
        let n = n
            .strip_prefix("call_")
            .or_else(|| n.strip_prefix("put_"))
            .unwrap_or(&n);
        if PRICES.contains(&n) {
            Look::Price
        } else if COUNTS.contains(&n) {
            Look::Count
        } else if PERCENTS.contains(&n) {
            Look::Percent
        } else if n.ends_with("_pct") {
            Look::Points
        } else if FINE.contains(&n) {
            Look::Fine
        } else if IDS.contains(&n) {
            Look::Id
        } else {
            Look::Number
        }
    }

    /// The Excel number format, or `None` for General.
    pub(crate) fn num_format(self) -> Option<&'static str> {
        match self {
            Look::Text | Look::Number => None,
            Look::Date => Some("yyyy-mm-dd"),
            Look::Time => Some("yyyy-mm-dd hh:mm:ss.000"),
            Look::Price => Some("0.00"),
            Look::Count => Some("#,##0"),
            Look::Percent => Some("0.00%"),
            Look::Points => Some("0.00\"%\""),
            Look::Fine => Some("0.0000"),
            Look::Id => Some("0"),
        }
    }

    /// A width (in characters) that fits the column's values, before the header is counted:
    /// fixed for formatted numbers, `text` (the longest text seen) for text.
    pub(crate) fn width(self, text: usize) -> f64 {
        match self {
            Look::Text => text as f64,
            Look::Date => 10.0,
            Look::Time => 23.0,
            Look::Price | Look::Percent | Look::Points | Look::Fine => 10.0,
            Look::Count => 12.0,
            Look::Id => 12.0,
            Look::Number => 11.0,
        }
    }
}

/// The width of a column: its values' and its header's, with a little room for the
/// autofilter button, at most 60 characters.
pub(crate) fn column_width(look: Look, header: &str, longest_text: usize) -> f64 {
    let header = header.chars().count() as f64 + 3.0;
    (look.width(longest_text) + 1.0)
        .max(header)
        .clamp(6.0, 60.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_follow_names_and_types() {
        assert_eq!(Look::of("close", Some(&Cell::Num(1.0))), Look::Price);
        assert_eq!(Look::of("Volume", Some(&Cell::Int(1))), Look::Count);
        assert_eq!(Look::of("iv", None), Look::Percent);
        assert_eq!(Look::of("change_pct", None), Look::Points);
        assert_eq!(Look::of("date", Some(&Cell::Date(20240612))), Look::Date);
        assert_eq!(Look::of("time", Some(&Cell::Time(0))), Look::Time);
        assert_eq!(Look::of("close", Some(&Cell::Text("x".into()))), Look::Text);
        assert_eq!(Look::of("AAPL", Some(&Cell::Num(1.0))), Look::Number);
        assert_eq!(Look::of("call_gamma", None), Look::Fine);
        assert_eq!(Look::of("put_volume", None), Look::Count);
        assert_eq!(Look::Number.num_format(), None);
        assert!(column_width(Look::Text, "conditions", 500) <= 60.0);
        assert!(column_width(Look::Price, "underlying_price", 0) >= 19.0);
    }
}
