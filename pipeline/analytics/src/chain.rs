//! What `MKT.CHAIN` (`GET /api/v1/chain`) answers for each contract, from decoded POST rows:
//! the day's last trade, bid/ask, volume, trade count, IV and Greeks, and the underlying's
//! price at the last trade; as of a time, everything up to it. xlserver's `chain` and
//! `xlpipeline reconcile` both read the day's chunks and hand them here.

use std::collections::HashMap;

use xlfeed_core::records::{ContractDaily, EnrichedOptionTrade};

/// The fields of a chain, in the order the answer can give them.
pub const FIELDS: &[&str] = &[
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

/// The numeric fields of a contract's [`Activity`]: [`FIELDS`] after the five that name the
/// contract.
pub const VALUE_FIELDS: &[&str] = FIELDS.split_at(5).1;

/// One contract's activity on a day.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Activity {
    /// The option's bid at its last trade (none when 0).
    pub bid: Option<f64>,
    /// The option's ask at its last trade (none when 0).
    pub ask: Option<f64>,
    /// The last trade's price.
    pub last: Option<f64>,
    /// Contracts traded.
    pub volume: i64,
    /// Trades.
    pub trades: i64,
    /// IV, delta, gamma, vega, theta, rho at the last trade.
    pub greeks: [Option<f64>; 6],
    /// The underlying's price paired with the last trade.
    pub underlying: Option<f64>,
}

impl Activity {
    /// A field of [`VALUE_FIELDS`]; `None` when the answer leaves it empty (or the name is
    /// not one).
    pub fn number(&self, field: &str) -> Option<f64> {
        match field {
            "bid" => self.bid,
            "ask" => self.ask,
            "last" => self.last,
            "volume" => Some(self.volume as f64),
            "trades" => Some(self.trades as f64),
            "iv" => self.greeks[0],
            "delta" => self.greeks[1],
            "gamma" => self.greeks[2],
            "vega" => self.greeks[3],
            "theta" => self.greeks[4],
            "rho" => self.greeks[5],
            "underlying_price" => self.underlying,
            _ => None,
        }
    }
}

fn greeks_of_trade(t: &EnrichedOptionTrade) -> [Option<f64>; 6] {
    [t.iv, t.delta, t.gamma, t.vega, t.theta, t.rho]
}

fn greeks_of_day(c: &ContractDaily) -> [Option<f64>; 6] {
    [c.iv, c.delta, c.gamma, c.vega, c.theta, c.rho]
}

/// Each contract's activity on a day from its enriched trades, up to `at` when given; for a
/// whole day (`at` none) the day's aggregates, when there are any, give last, volume, trades
/// and the Greeks (the same numbers, cheaper to read).
pub fn activity(
    trades: Option<&[EnrichedOptionTrade]>,
    days: Option<&[ContractDaily]>,
    at: Option<i64>,
) -> HashMap<String, Activity> {
    let mut out: HashMap<String, Activity> = HashMap::new();
    for t in trades
        .unwrap_or_default()
        .iter()
        .filter(|t| at.is_none_or(|ns| t.time <= ns))
    {
        let a = out.entry(t.contract.clone()).or_default();
        a.bid = Some(t.bid).filter(|v| *v > 0.0);
        a.ask = Some(t.ask).filter(|v| *v > 0.0);
        a.last = Some(t.price);
        a.volume += t.size;
        a.trades += 1;
        a.greeks = greeks_of_trade(t);
        a.underlying = t.underlying_price;
    }
    if at.is_none() {
        for d in days.unwrap_or_default() {
            let a = out.entry(d.contract.clone()).or_default();
            a.last = Some(d.close);
            a.volume = d.volume;
            a.trades = d.trades;
            a.greeks = greeks_of_day(d);
        }
    }
    out
}
