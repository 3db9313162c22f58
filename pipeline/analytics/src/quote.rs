//! What `MKT.QUOTE` (`GET /api/v1/quote`) answers, from decoded FEED rows: the latest quote
//! snapshot at or before a time, or, for a symbol without quotes, its latest trade with the
//! day's open, high, low and volume up to it and the previous day's close. The store reads
//! (which day) are the caller's: xlserver's `quote` and `xlpipeline reconcile` both walk the
//! days and hand the rows here.

use xlfeed_core::records::{DailyBar, Quote, Trade};

/// The fields of a quote, in the order the answer gives them.
pub const FIELDS: &[&str] = &[
    "symbol",
    "time",
    "last",
    "size",
    "bid",
    "ask",
    "volume",
    "change",
    "change_pct",
    "open",
    "high",
    "low",
    "prev_close",
];

/// A day of trades summed up (session open, high, low, volume), which the server keeps beside
/// the chunk so a quote does not rescan the day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DaySummary {
    /// First trade price.
    pub open: f64,
    /// Highest trade price.
    pub high: f64,
    /// Lowest trade price.
    pub low: f64,
    /// Shares traded.
    pub volume: i64,
}

/// What a quote answer holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuoteValues {
    /// The snapshot's (or trade's) time, UTC nanoseconds.
    pub time: i64,
    /// Last price.
    pub last: f64,
    /// Last size.
    pub size: i64,
    /// Best bid.
    pub bid: f64,
    /// Best ask.
    pub ask: f64,
    /// Volume so far in the session.
    pub volume: i64,
    /// Session open.
    pub open: Option<f64>,
    /// Session high so far.
    pub high: Option<f64>,
    /// Session low so far.
    pub low: Option<f64>,
    /// Previous session's close.
    pub prev_close: Option<f64>,
}

impl QuoteValues {
    /// Last minus the previous close.
    pub fn change(&self) -> Option<f64> {
        self.prev_close.map(|p| self.last - p)
    }

    /// The change in percent of the previous close.
    pub fn change_pct(&self) -> Option<f64> {
        self.prev_close
            .filter(|p| *p != 0.0)
            .map(|p| (self.last / p - 1.0) * 100.0)
    }

    /// A numeric field of [`FIELDS`] (`time` as UTC nanoseconds); `None` for `symbol`, an
    /// unknown name, or a value the answer leaves empty.
    pub fn number(&self, field: &str) -> Option<f64> {
        match field {
            "time" => Some(self.time as f64),
            "last" => Some(self.last),
            "size" => Some(self.size as f64),
            "bid" => Some(self.bid),
            "ask" => Some(self.ask),
            "volume" => Some(self.volume as f64),
            "change" => self.change(),
            "change_pct" => self.change_pct(),
            "open" => self.open,
            "high" => self.high,
            "low" => self.low,
            "prev_close" => self.prev_close,
            _ => None,
        }
    }
}

/// The latest of a day's quote snapshots at or before `at` (the last of the day without).
pub fn from_quotes(quotes: &[Quote], at: Option<i64>) -> Option<QuoteValues> {
    let i = match at {
        Some(ns) => quotes.partition_point(|x| x.time <= ns),
        None => quotes.len(),
    };
    let x = &quotes[i.checked_sub(1)?];
    Some(QuoteValues {
        time: x.time,
        last: x.last,
        size: x.last_size,
        bid: x.bid,
        ask: x.ask,
        volume: x.total_volume,
        open: Some(x.open),
        high: Some(x.high),
        low: Some(x.low),
        prev_close: Some(x.prev_close).filter(|p| *p > 0.0),
    })
}

/// A day's trades at or before `at` (all of them without).
pub fn trades_upto(trades: &[Trade], at: Option<i64>) -> &[Trade] {
    let n = match at {
        Some(ns) => trades.partition_point(|x| x.time <= ns),
        None => trades.len(),
    };
    &trades[..n]
}

/// `trades` summed up (`None` when there are none).
pub fn summarize(trades: &[Trade]) -> Option<DaySummary> {
    let first = trades.first()?;
    let (mut high, mut low, mut volume) = (first.price, first.price, 0i64);
    for x in trades {
        high = high.max(x.price);
        low = low.min(x.price);
        volume += x.size;
    }
    Some(DaySummary {
        open: first.price,
        high,
        low,
        volume,
    })
}

/// The quote of a symbol without quote snapshots: the last of `upto` (a day's trades up to
/// the time asked, see [`trades_upto`]), the day's `sum` of them, and the previous day's
/// close.
pub fn from_trades(
    upto: &[Trade],
    sum: &DaySummary,
    prev_close: Option<f64>,
) -> Option<QuoteValues> {
    let last = upto.last()?;
    Some(QuoteValues {
        time: last.time,
        last: last.price,
        size: last.size,
        bid: last.bid,
        ask: last.ask,
        volume: sum.volume,
        open: Some(sum.open),
        high: Some(sum.high),
        low: Some(sum.low),
        prev_close,
    })
}

/// A day's close: its stored daily bar's, else its last trade's.
pub fn close_of(daily: Option<&[DailyBar]>, trades: Option<&[Trade]>) -> Option<f64> {
    if let Some(b) = daily.and_then(|b| b.last()) {
        return Some(b.close);
    }
    trades.and_then(|t| t.last()).map(|t| t.price)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn quote(time: i64, last: f64, prev_close: f64) -> Quote {
        Quote {
            time,
            last,
            last_size: 1,
            bid: last - 0.01,
            bid_size: 1,
            ask: last + 0.01,
            ask_size: 1,
            total_volume: time,
            open: 1.0,
            high: 2.0,
            low: 0.5,
            prev_close,
        }
    }

    #[test]
    fn the_latest_snapshot_at_or_before_the_time() {
        let q = [quote(10, 1.0, 0.0), quote(20, 2.0, 1.6)];
        assert_eq!(from_quotes(&q, Some(9)), None);
        let v = from_quotes(&q, Some(10)).unwrap();
        assert_eq!((v.last, v.prev_close, v.change()), (1.0, None, None));
        let v = from_quotes(&q, None).unwrap();
        assert_eq!(v.time, 20);
        assert!((v.change_pct().unwrap() - 25.0).abs() < 1e-12);
        assert_eq!(v.number("volume"), Some(20.0));
        assert_eq!(v.number("symbol"), None);
    }
}
