//! The rows the stores hold, one struct per kind of data.
//!
//! These are plain data: validation happens where the data enters (the IQFeed codec, the
//! importers), and the chunk codec in xlfeed-store turns a day of rows into columns. Times are
//! UTC nanoseconds; dates are `yyyymmdd` integers (the form the store indexes by); prices are
//! `f64` and kept bit for bit by the codec; analytics that may have no value are `Option<f64>`.

use std::fmt;

use crate::error::{ParseError, quoted};
use crate::option_symbol::Right;

/// IQFeed trade conditions: up to 7 two-digit hex codes (`"3D"`, `"0117"`, or none).
///
/// Held as one integer (the hex digits behind a leading `1` nibble, so `"3D"` is `0x13D` and
/// no conditions is `0x1`) so that a day of ticks decodes without one allocation per tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Conditions(u64);

impl Conditions {
    /// No trade conditions.
    pub const NONE: Conditions = Conditions(1);

    /// Parses IQFeed's concatenated hex codes; the error names the bad text.
    pub fn parse(hex: &str) -> Result<Conditions, ParseError> {
        let bad = |why: &str| ParseError::new(format!("trade conditions {} {why}", quoted(hex)));
        if !hex.len().is_multiple_of(2) {
            return Err(bad("are not two-digit hex codes"));
        }
        if hex.len() > 14 {
            return Err(bad("hold more than 7 codes"));
        }
        let mut v: u64 = 1;
        for c in hex.chars() {
            let d = c.to_digit(16).ok_or_else(|| bad("are not hex"))?;
            v = (v << 4) | u64::from(d);
        }
        Ok(Conditions(v))
    }

    /// The packed form the chunk codec stores.
    pub fn to_bits(self) -> u64 {
        self.0
    }

    /// Rebuilds conditions from [`Conditions::to_bits`]; `None` if the bits are not such a value.
    pub fn from_bits(bits: u64) -> Option<Conditions> {
        let nibbles = 16 - bits.leading_zeros() as usize / 4;
        (bits != 0
            && bits >> ((nibbles - 1) * 4) == 1
            && !nibbles.is_multiple_of(2)
            && nibbles <= 15)
            .then_some(Conditions(bits))
    }

    /// The condition codes, in order.
    pub fn codes(self) -> impl Iterator<Item = u8> {
        let n = (16 - self.0.leading_zeros() as usize / 4 - 1) / 2;
        (0..n)
            .rev()
            .map(move |i| ((self.0 >> (i * 8)) & 0xff) as u8)
    }
}

impl Default for Conditions {
    fn default() -> Self {
        Conditions::NONE
    }
}

impl fmt::Display for Conditions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.codes().try_for_each(|c| write!(f, "{c:02X}"))
    }
}

/// One trade (tick) of a stock, ETF or index, as IQFeed's `HTX`/`HTD`/`HTT` report it.
#[derive(Debug, Clone, PartialEq)]
pub struct Trade {
    /// Trade time, UTC nanoseconds since the Unix epoch.
    pub time: i64,
    /// Trade price.
    pub price: f64,
    /// Trade size in shares (contracts for options).
    pub size: i64,
    /// Best bid at the time of the trade.
    pub bid: f64,
    /// Best ask at the time of the trade.
    pub ask: f64,
    /// IQFeed tick id, increasing within a symbol.
    pub tick_id: i64,
    /// IQFeed basis for last: `C` normal, `E` extended hours, `O` other, `S` summary.
    pub basis: char,
    /// IQFeed market center id (exchange of the trade).
    pub market_center: i32,
    /// IQFeed trade conditions.
    pub conditions: Conditions,
}

/// An interval bar (`HIX`/`HID`/`HIT`), stamped like IQFeed at the bar's end.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Bar end time, UTC nanoseconds.
    pub time: i64,
    /// First trade price in the bar.
    pub open: f64,
    /// Highest trade price.
    pub high: f64,
    /// Lowest trade price.
    pub low: f64,
    /// Last trade price.
    pub close: f64,
    /// Volume traded in the bar.
    pub volume: i64,
    /// Number of trades in the bar.
    pub trades: i64,
}

/// A daily (or weekly, monthly) bar (`HDX`/`HDT`/`HWX`/`HMX`).
#[derive(Debug, Clone, PartialEq)]
pub struct DailyBar {
    /// Session date, `yyyymmdd`.
    pub date: u32,
    /// Opening price.
    pub open: f64,
    /// High of the session.
    pub high: f64,
    /// Low of the session.
    pub low: f64,
    /// Closing price.
    pub close: f64,
    /// Volume of the session.
    pub volume: i64,
    /// Open interest (options and futures; 0 otherwise).
    pub open_interest: i64,
}

/// A Level 1 quote snapshot (IQFeed `P`/`Q` messages).
#[derive(Debug, Clone, PartialEq)]
pub struct Quote {
    /// Snapshot time, UTC nanoseconds.
    pub time: i64,
    /// Last trade price.
    pub last: f64,
    /// Last trade size.
    pub last_size: i64,
    /// Best bid.
    pub bid: f64,
    /// Size at the best bid.
    pub bid_size: i64,
    /// Best ask.
    pub ask: f64,
    /// Size at the best ask.
    pub ask_size: i64,
    /// Volume so far in the session.
    pub total_volume: i64,
    /// Session open.
    pub open: f64,
    /// Session high so far.
    pub high: f64,
    /// Session low so far.
    pub low: f64,
    /// Previous session's close.
    pub prev_close: f64,
}

/// One listed option contract of an underlying's chain (`CEO`).
#[derive(Debug, Clone, PartialEq)]
pub struct OptionContract {
    /// IQFeed option symbol, e.g. `AAPL2417A190`.
    pub symbol: String,
    /// OCC 21-character symbol, e.g. `AAPL  240117C00190000`.
    pub occ: String,
    /// Underlying symbol.
    pub underlying: String,
    /// Expiry date, `yyyymmdd`.
    pub expiry: u32,
    /// Strike price.
    pub strike: f64,
    /// Call or put.
    pub right: Right,
    /// Shares per contract (100 for standard equity options).
    pub multiplier: i64,
}

/// One option trade, stored per (underlying, day) with its contract named.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionTrade {
    /// IQFeed option symbol of the contract traded.
    pub contract: String,
    /// Trade time, UTC nanoseconds.
    pub time: i64,
    /// Trade price (premium per share).
    pub price: f64,
    /// Contracts traded.
    pub size: i64,
    /// Option bid at the trade.
    pub bid: f64,
    /// Option ask at the trade.
    pub ask: f64,
    /// IQFeed tick id.
    pub tick_id: i64,
    /// IQFeed basis for last.
    pub basis: char,
    /// IQFeed market center id.
    pub market_center: i32,
    /// IQFeed trade conditions.
    pub conditions: Conditions,
}

impl OptionTrade {
    /// A trade of `contract`, with every field of `trade`.
    pub fn from_trade(contract: String, trade: Trade) -> OptionTrade {
        OptionTrade {
            contract,
            time: trade.time,
            price: trade.price,
            size: trade.size,
            bid: trade.bid,
            ask: trade.ask,
            tick_id: trade.tick_id,
            basis: trade.basis,
            market_center: trade.market_center,
            conditions: trade.conditions,
        }
    }
}

/// A dividend of a stock or fund.
#[derive(Debug, Clone, PartialEq)]
pub struct Dividend {
    /// Ex-dividend date, `yyyymmdd`.
    pub ex_date: u32,
    /// Payment date, `yyyymmdd` (0 when unknown).
    pub pay_date: u32,
    /// Cash amount per share.
    pub amount: f64,
    /// Annual yield in percent as IQFeed reports it (0 when unknown).
    pub yield_pct: f64,
}

/// A fundamentals snapshot (IQFeed `F` message).
#[derive(Debug, Clone, PartialEq)]
pub struct Fundamentals {
    /// Snapshot time, UTC nanoseconds.
    pub time: i64,
    /// Latest dividend amount per share.
    pub dividend_amount: f64,
    /// Dividend yield in percent.
    pub dividend_yield_pct: f64,
    /// Annualised dividend rate per share.
    pub dividend_rate: f64,
    /// Latest dividend payment date, `yyyymmdd` (0 when unknown).
    pub pay_date: u32,
    /// Latest ex-dividend date, `yyyymmdd` (0 when unknown).
    pub ex_date: u32,
    /// Shares outstanding.
    pub shares_outstanding: i64,
    /// 52-week high.
    pub high_52w: f64,
    /// 52-week low.
    pub low_52w: f64,
    /// Price/earnings ratio (`None` when not reported).
    pub pe: Option<f64>,
    /// Earnings per share (`None` when not reported).
    pub eps: Option<f64>,
}

/// How a rate point is quoted.
pub mod rate_convention {
    /// Money-market simple rate, act/360 (LIBOR, SOFR term rates).
    pub const MONEY_MARKET: char = 'M';
    /// Bond-equivalent par yield, semi-annual (Treasury CMT).
    pub const PAR: char = 'P';
    /// Continuously compounded zero rate.
    pub const ZERO: char = 'Z';
}

/// One point of a rate curve; a curve is the points of one (curve, day).
#[derive(Debug, Clone, PartialEq)]
pub struct RatePoint {
    /// Tenor in calendar days (1 for overnight, 30 for one month, ...).
    pub tenor_days: i64,
    /// The rate as a decimal fraction (0.0525 is 5.25%).
    pub rate: f64,
    /// How the rate is quoted: one of [`rate_convention`].
    pub convention: char,
}

/// An option trade after post-processing: contract, paired underlying, rate, IV and Greeks.
#[derive(Debug, Clone, PartialEq)]
pub struct EnrichedOptionTrade {
    /// IQFeed option symbol.
    pub contract: String,
    /// Trade time, UTC nanoseconds.
    pub time: i64,
    /// Trade price (premium per share).
    pub price: f64,
    /// Contracts traded.
    pub size: i64,
    /// Option bid at the trade.
    pub bid: f64,
    /// Option ask at the trade.
    pub ask: f64,
    /// Expiry date, `yyyymmdd`.
    pub expiry: u32,
    /// Strike price.
    pub strike: f64,
    /// Call or put.
    pub right: Right,
    /// Shares per contract.
    pub multiplier: i64,
    /// Price of the paired underlying trade (`None` when none was found).
    pub underlying_price: Option<f64>,
    /// Underlying bid/ask mid at the paired time.
    pub underlying_mid: Option<f64>,
    /// Option trade time minus paired underlying trade time, nanoseconds.
    pub underlying_staleness_ns: i64,
    /// Continuously compounded risk-free rate for the tenor.
    pub rate: f64,
    /// Name of the curve the rate came from (`SOFR`, `USD_LIBOR`, `UST_PAR`).
    pub rate_curve: String,
    /// Continuous dividend yield over the option's life.
    pub dividend_yield: f64,
    /// Time to expiry in years (act/365).
    pub time_to_expiry: f64,
    /// Implied volatility.
    pub iv: Option<f64>,
    /// Delta.
    pub delta: Option<f64>,
    /// Gamma.
    pub gamma: Option<f64>,
    /// Vega per 0.01 (one point) of volatility, per share.
    pub vega: Option<f64>,
    /// Theta per calendar day.
    pub theta: Option<f64>,
    /// Rho per 0.01 (one point) of rate, per share.
    pub rho: Option<f64>,
    /// Quality flags: the [`quality`] bits that apply, OR-ed (0: none).
    pub flags: u32,
}

/// The quality flags of an [`EnrichedOptionTrade`]: one bit each, OR-ed into its `flags`.
/// Bit 256 is not used (it was reserved for trades on closed days, which are never flagged).
pub mod quality {
    /// The paired underlying trade is further from the option trade than the staleness
    /// limit allows (the pair is kept).
    pub const STALE_UNDERLYING: u32 = 1;
    /// No underlying trade could be paired: no underlying price and no analytics.
    pub const NO_UNDERLYING: u32 = 2;
    /// The option price is below its (discounted) intrinsic value: no implied volatility.
    pub const BELOW_INTRINSIC: u32 = 4;
    /// The option price is above its no-arbitrage upper bound: no implied volatility.
    pub const ABOVE_UPPER_BOUND: u32 = 8;
    /// No time is left to expiry: no implied volatility.
    pub const ZERO_TIME: u32 = 16;
    /// Vega is too small for the implied volatility solver (or an input is unusable).
    pub const ZERO_VEGA: u32 = 32;
    /// No rate curve covered the day: the rate is 0.
    pub const NO_RATE: u32 = 64;
    /// The contract is not in the day's chain: kept with what its symbol says, no analytics.
    pub const UNRESOLVED_CONTRACT: u32 = 128;
    /// The dividend yield includes dividends projected from the last known schedule (not yet
    /// announced).
    pub const PROJECTED_DIVIDENDS: u32 = 512;

    /// Every flag with its name, in bit order.
    pub const ALL: &[(u32, &str)] = &[
        (STALE_UNDERLYING, "STALE_UNDERLYING"),
        (NO_UNDERLYING, "NO_UNDERLYING"),
        (BELOW_INTRINSIC, "BELOW_INTRINSIC"),
        (ABOVE_UPPER_BOUND, "ABOVE_UPPER_BOUND"),
        (ZERO_TIME, "ZERO_TIME"),
        (ZERO_VEGA, "ZERO_VEGA"),
        (NO_RATE, "NO_RATE"),
        (UNRESOLVED_CONTRACT, "UNRESOLVED_CONTRACT"),
        (PROJECTED_DIVIDENDS, "PROJECTED_DIVIDENDS"),
    ];

    /// The names of the flags set in `flags`, in bit order; a bit no flag uses shows as its
    /// value (`BIT_256`).
    pub fn names(flags: u32) -> Vec<String> {
        (0..32)
            .map(|i| 1u32 << i)
            .filter(|bit| flags & bit != 0)
            .map(|bit| match ALL.iter().find(|(b, _)| *b == bit) {
                Some((_, name)) => (*name).to_owned(),
                None => format!("BIT_{bit}"),
            })
            .collect()
    }
}

/// A per-contract daily aggregate written by post-processing.
#[derive(Debug, Clone, PartialEq)]
pub struct ContractDaily {
    /// IQFeed option symbol.
    pub contract: String,
    /// Expiry date, `yyyymmdd`.
    pub expiry: u32,
    /// Strike price.
    pub strike: f64,
    /// Call or put.
    pub right: Right,
    /// First trade price of the day.
    pub open: f64,
    /// Highest trade price.
    pub high: f64,
    /// Lowest trade price.
    pub low: f64,
    /// Last trade price.
    pub close: f64,
    /// Contracts traded.
    pub volume: i64,
    /// Number of trades.
    pub trades: i64,
    /// Volume-weighted average price.
    pub vwap: f64,
    /// Last implied volatility of the day.
    pub iv: Option<f64>,
    /// Last delta.
    pub delta: Option<f64>,
    /// Last gamma.
    pub gamma: Option<f64>,
    /// Last vega.
    pub vega: Option<f64>,
    /// Last theta per calendar day.
    pub theta: Option<f64>,
    /// Last rho.
    pub rho: Option<f64>,
}

/// One expiry of an underlying's daily implied-volatility summary.
#[derive(Debug, Clone, PartialEq)]
pub struct IvTerm {
    /// Expiry date, `yyyymmdd`.
    pub expiry: u32,
    /// Time to expiry in years at the close.
    pub time_to_expiry: f64,
    /// At-the-money implied volatility.
    pub atm_iv: Option<f64>,
    /// 25-delta risk reversal (call IV minus put IV).
    pub rr25: Option<f64>,
    /// 25-delta butterfly (wings' mean IV minus ATM IV).
    pub bf25: Option<f64>,
    /// Forward price for the expiry.
    pub forward: Option<f64>,
    /// Option trades that went into the expiry's figures.
    pub trades: i64,
}

/// One input a derived day was computed from, and its fingerprint: what lets a stage redo a
/// day only when its inputs changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Lineage {
    /// The input's chunk key (`feed:option_trade:SPY:20240612`), or a name for a non-chunk input.
    pub input: String,
    /// CRC-32 of the input's stored bytes (0 when the input is absent).
    pub fingerprint: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn conditions_parse_and_print() {
        let c = Conditions::parse("3D17").unwrap();
        assert_eq!(c.to_bits(), 0x13D17);
        assert_eq!(c.codes().collect::<Vec<_>>(), vec![0x3D, 0x17]);
        assert_eq!(c.to_string(), "3D17");
        assert_eq!(Conditions::parse("").unwrap(), Conditions::NONE);
        assert_eq!(Conditions::parse("0017").unwrap().to_string(), "0017");
        assert!(
            Conditions::parse("3")
                .unwrap_err()
                .to_string()
                .contains("\"3\"")
        );
        assert!(Conditions::parse("ZZ").is_err());
        assert_eq!(Conditions::from_bits(0), None);
        assert_eq!(Conditions::from_bits(0x2), None);
        assert_eq!(Conditions::from_bits(0x13), None);
    }

    #[test]
    fn quality_flags_are_distinct_bits_with_names() {
        let mut seen = 0;
        for (bit, name) in quality::ALL {
            assert_eq!(bit.count_ones(), 1, "{name}");
            assert_eq!(seen & bit, 0, "{name} reuses a bit");
            seen |= bit;
            assert_eq!(quality::names(*bit), vec![(*name).to_owned()]);
        }
        assert!(quality::names(0).is_empty());
        assert_eq!(
            quality::names(quality::STALE_UNDERLYING | quality::NO_RATE | 256),
            vec!["STALE_UNDERLYING", "NO_RATE", "BIT_256"]
        );
    }

    proptest! {
        #[test]
        fn conditions_round_trip(codes in proptest::collection::vec(any::<u8>(), 0..=7)) {
            let hex: String = codes.iter().map(|c| format!("{c:02X}")).collect();
            let c = Conditions::parse(&hex).unwrap();
            prop_assert_eq!(c.to_string(), hex);
            prop_assert_eq!(Conditions::from_bits(c.to_bits()), Some(c));
        }

        #[test]
        fn from_bits_never_panics(bits in any::<u64>()) {
            if let Some(c) = Conditions::from_bits(bits) {
                prop_assert_eq!(Conditions::parse(&c.to_string()).unwrap(), c);
            }
        }
    }
}
