//! The daily-bar rule of `GET /api/v1/history`, in one place: a day's bar is its stored
//! daily bar, or on a day without one the bar of the regular session's trades (both ends of
//! the session included). xlserver's `history` answers with it and `xlpipeline reconcile`
//! compares a workbook's history tables against it.
//!
//! [`Ohlcv`] is also the row the server's intraday and weekly/monthly bars are built from.

use std::collections::BTreeMap;

use xlfeed_core::records::{DailyBar, Trade};
use xlfeed_core::{Nyse, TradingDay};

/// A bar being built: open, high, low, close, volume, trades, and Σ price·size when it was
/// built from trades.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Ohlcv {
    /// First price.
    pub open: f64,
    /// Highest price.
    pub high: f64,
    /// Lowest price.
    pub low: f64,
    /// Last price.
    pub close: f64,
    /// Shares traded.
    pub volume: i64,
    /// Trades (0 for a stored daily bar).
    pub trades: i64,
    /// Σ price·size, when built from trades (the vwap's numerator).
    pub notional: Option<f64>,
}

impl Ohlcv {
    /// The bar of one trade.
    pub fn from_trade(t: &Trade) -> Ohlcv {
        Ohlcv {
            open: t.price,
            high: t.price,
            low: t.price,
            close: t.price,
            volume: t.size,
            trades: 1,
            notional: Some(t.price * t.size as f64),
        }
    }

    /// A stored daily bar's figures.
    pub fn from_daily(b: &DailyBar) -> Ohlcv {
        Ohlcv {
            open: b.open,
            high: b.high,
            low: b.low,
            close: b.close,
            volume: b.volume,
            trades: 0,
            notional: None,
        }
    }

    /// `o` appended after this bar.
    pub fn merge(&mut self, o: &Ohlcv) {
        self.high = self.high.max(o.high);
        self.low = self.low.min(o.low);
        self.close = o.close;
        self.volume += o.volume;
        self.trades += o.trades;
        self.notional = match (self.notional, o.notional) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
    }

    /// The volume-weighted average price, when built from trades with volume.
    pub fn vwap(&self) -> Option<f64> {
        self.notional
            .filter(|_| self.volume > 0)
            .map(|n| n / self.volume as f64)
    }
}

/// The bar of `day`'s regular session from its `trades` (`None` when none is inside it, or
/// `day` has no session).
pub fn session_bar(day: TradingDay, trades: &[Trade]) -> Option<Ohlcv> {
    let session = Nyse.session(day)?;
    let (open, close) = (session.open_utc_ns(), session.close_utc_ns());
    let mut acc: Option<Ohlcv> = None;
    for t in trades.iter().filter(|t| t.time >= open && t.time <= close) {
        let r = Ohlcv::from_trade(t);
        match &mut acc {
            Some(a) => a.merge(&r),
            None => acc = Some(r),
        }
    }
    acc
}

/// Adds stored daily bars to `out` (a bar whose date is not a trading day is skipped).
pub fn add_stored<'a>(
    out: &mut BTreeMap<TradingDay, Ohlcv>,
    bars: impl IntoIterator<Item = &'a DailyBar>,
) {
    for b in bars {
        if let Ok(d) = TradingDay::from_yyyymmdd(b.date) {
            out.insert(d, Ohlcv::from_daily(b));
        }
    }
}

/// Adds `day`'s session `trades` to `out`: the day's bar when it has no stored one; on a day
/// with a stored bar, the bar keeps its figures and the trades give only its vwap (the
/// session's vwap over the stored volume).
pub fn add_session(out: &mut BTreeMap<TradingDay, Ohlcv>, day: TradingDay, trades: &[Trade]) {
    let Some(acc) = session_bar(day, trades) else {
        return;
    };
    match out.get_mut(&day) {
        Some(stored) => {
            stored.notional = acc.vwap().map(|vwap| vwap * stored.volume as f64);
        }
        None => {
            out.insert(day, acc);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn trade(time: i64, price: f64, size: i64) -> Trade {
        Trade {
            time,
            price,
            size,
            bid: 0.0,
            ask: 0.0,
            tick_id: 0,
            basis: 'C',
            market_center: 0,
            conditions: xlfeed_core::records::Conditions::NONE,
        }
    }

    #[test]
    fn a_stored_bar_wins_and_trades_fill_the_other_days() {
        let d1 = TradingDay::parse("2024-06-27").unwrap();
        let d2 = TradingDay::parse("2024-06-28").unwrap();
        let s2 = Nyse.session(d2).unwrap();
        let stored = DailyBar {
            date: d1.yyyymmdd(),
            open: 1.0,
            high: 2.0,
            low: 0.5,
            close: 1.5,
            volume: 10,
            open_interest: 0,
        };
        let mut out = BTreeMap::new();
        add_stored(&mut out, [&stored]);
        let s1 = Nyse.session(d1).unwrap();
        add_session(&mut out, d1, &[trade(s1.open_utc_ns(), 9.0, 5)]);
        let trades = [
            trade(s2.open_utc_ns() - 1, 100.0, 1), // before the open: not in the bar
            trade(s2.open_utc_ns(), 10.0, 2),
            trade(s2.open_utc_ns() + 1, 12.0, 1),
            trade(s2.close_utc_ns(), 11.0, 3), // at the close: in it
            trade(s2.close_utc_ns() + 1, 0.5, 1),
        ];
        add_session(&mut out, d2, &trades);
        let b1 = out[&d1];
        assert_eq!((b1.open, b1.close, b1.volume), (1.0, 1.5, 10));
        assert_eq!(
            b1.vwap(),
            Some(9.0),
            "the stored bar's vwap from its trades"
        );
        let b2 = out[&d2];
        assert_eq!(
            (b2.open, b2.high, b2.low, b2.close, b2.volume, b2.trades),
            (10.0, 12.0, 10.0, 11.0, 6, 3)
        );
    }
}
