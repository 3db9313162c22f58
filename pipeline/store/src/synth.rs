//! Synthetic but realistic rows of every kind, for tests and benchmarks of the store.
//!
//! Ticks look like a liquid US stock's: milliseconds apart in exchange hours, prices on a
//! cent grid walking a few cents at a time, round-lot sizes with odd lots, a one-to-three-cent
//! spread, a dozen market centers and a few trade conditions. Same seed, same rows.

use xlfeed_core::records::{
    Bar, ContractDaily, DailyBar, Dividend, EnrichedOptionTrade, Fundamentals, IvTerm, Lineage,
    OptionContract, OptionTrade, Quote, RatePoint, Trade, rate_convention,
};
use xlfeed_core::{Conditions, Right};

use crate::key::Kind;
use crate::records::Records;

/// A small deterministic generator (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (any value).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// A float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// 2024-01-02 09:30 New York in UTC nanoseconds: the first tick of the synthetic day.
const OPEN_NS: i64 = 1_704_205_800_000_000_000;
/// Nanoseconds in a 6.5-hour session.
const SESSION_NS: i64 = 23_400_000_000_000;

fn cents(c: i64) -> f64 {
    c as f64 / 100.0
}

/// `n` trades of one session, prices near `price`.
pub fn trades(n: usize, price: f64, seed: u64) -> Vec<Trade> {
    let mut rng = Rng::new(seed);
    let mean_gap_ms = (SESSION_NS / 1_000_000 / n.max(1) as i64).max(1) as u64;
    let mut t = OPEN_NS;
    let mut px = (price * 100.0).round() as i64;
    let mut tick_id = 1_000_000 + rng.below(1_000_000) as i64;
    const CENTERS: [i32; 12] = [5, 6, 7, 11, 12, 13, 14, 19, 22, 25, 26, 29];
    (0..n)
        .map(|_| {
            t += (1 + rng.below(2 * mean_gap_ms)) as i64 * 1_000_000;
            px = (px + rng.below(5) as i64 - 2).max(1);
            tick_id += 1 + (rng.below(8) == 0) as i64;
            let size = match rng.below(10) {
                0..=5 => 100,
                6 => 200,
                7 => 300 + 100 * rng.below(10) as i64,
                _ => 1 + rng.below(99) as i64,
            };
            let conditions = match rng.below(20) {
                0 => Conditions::parse("3D"),
                1 => Conditions::parse("17"),
                2 => Conditions::parse("3D17"),
                _ => Ok(Conditions::NONE),
            }
            .unwrap_or(Conditions::NONE);
            Trade {
                time: t,
                price: cents(px),
                size,
                bid: cents(px - rng.below(2) as i64 - 1),
                ask: cents(px + rng.below(2) as i64 + 1),
                tick_id,
                basis: 'C',
                market_center: CENTERS[rng.below(12) as usize],
                conditions,
            }
        })
        .collect()
}

/// A small day of rows of the record type `kind` stores.
pub fn records(kind: Kind, n: usize, seed: u64) -> Records {
    let mut rng = Rng::new(seed);
    let opt = |rng: &mut Rng| (rng.below(4) != 0).then(|| rng.unit());
    let contract = |i: usize| {
        format!(
            "AAPL2417{}{}",
            if i.is_multiple_of(2) { 'A' } else { 'M' },
            180 + i % 20
        )
    };
    match kind {
        Kind::Trade => Records::Trades(trades(n, 185.0, seed)),
        Kind::Bar(secs) => Records::Bars(
            (0..n)
                .map(|i| Bar {
                    time: OPEN_NS + (i as i64 + 1) * i64::from(secs) * 1_000_000_000,
                    open: cents(18_500 + rng.below(50) as i64),
                    high: cents(18_550 + rng.below(50) as i64),
                    low: cents(18_450 + rng.below(50) as i64),
                    close: cents(18_500 + rng.below(50) as i64),
                    volume: rng.below(100_000) as i64,
                    trades: rng.below(1_000) as i64,
                })
                .collect(),
        ),
        Kind::Daily => Records::DailyBars(
            (0..n)
                .map(|i| DailyBar {
                    date: 20240102 + i as u32,
                    open: cents(18_500 + rng.below(500) as i64),
                    high: cents(19_000 + rng.below(500) as i64),
                    low: cents(18_000 + rng.below(500) as i64),
                    close: cents(18_500 + rng.below(500) as i64),
                    volume: 50_000_000 + rng.below(10_000_000) as i64,
                    open_interest: 0,
                })
                .collect(),
        ),
        Kind::Quote => Records::Quotes(
            (0..n)
                .map(|i| Quote {
                    time: OPEN_NS + i as i64 * 250_000_000,
                    last: cents(18_500 + rng.below(10) as i64),
                    last_size: 100,
                    bid: cents(18_499),
                    bid_size: 100 * (1 + rng.below(9) as i64),
                    ask: cents(18_501),
                    ask_size: 100 * (1 + rng.below(9) as i64),
                    total_volume: i as i64 * 1000,
                    open: 184.5,
                    high: 186.25,
                    low: 183.75,
                    prev_close: 184.9,
                })
                .collect(),
        ),
        Kind::Chain => Records::Contracts(
            (0..n)
                .map(|i| OptionContract {
                    symbol: contract(i),
                    occ: format!(
                        "AAPL  240117{}{:08}",
                        if i.is_multiple_of(2) { 'C' } else { 'P' },
                        (180 + i % 20) * 1000
                    ),
                    underlying: "AAPL".into(),
                    expiry: 20240117,
                    strike: (180 + i % 20) as f64,
                    right: if i.is_multiple_of(2) {
                        Right::Call
                    } else {
                        Right::Put
                    },
                    multiplier: 100,
                })
                .collect(),
        ),
        Kind::OptionTrade => Records::OptionTrades(
            trades(n, 3.2, seed)
                .into_iter()
                .enumerate()
                .map(|(i, t)| {
                    let size = 1 + t.size % 20;
                    OptionTrade {
                        size,
                        ..OptionTrade::from_trade(contract(i % 7), t)
                    }
                })
                .collect(),
        ),
        Kind::Dividend => Records::Dividends(
            (0..n)
                .map(|i| Dividend {
                    ex_date: 20240209 + i as u32,
                    pay_date: 20240215 + i as u32,
                    amount: 0.24,
                    yield_pct: 0.52,
                })
                .collect(),
        ),
        Kind::Fundamental => Records::Fundamentals(
            (0..n)
                .map(|i| Fundamentals {
                    time: OPEN_NS + i as i64,
                    dividend_amount: 0.24,
                    dividend_yield_pct: 0.52,
                    dividend_rate: 0.96,
                    pay_date: 20240215,
                    ex_date: 20240209,
                    shares_outstanding: 15_441_881_000,
                    high_52w: 199.62,
                    low_52w: 124.17,
                    pe: opt(&mut rng),
                    eps: opt(&mut rng),
                })
                .collect(),
        ),
        Kind::Rate => Records::RatePoints(
            (0..n)
                .map(|i| RatePoint {
                    tenor_days: [1, 30, 90, 180, 365, 730][i % 6] * (1 + i as i64 / 6),
                    rate: 0.0531 - i as f64 * 0.0001,
                    convention: rate_convention::MONEY_MARKET,
                })
                .collect(),
        ),
        Kind::EnrichedTrade => Records::EnrichedOptionTrades(
            (0..n)
                .map(|i| EnrichedOptionTrade {
                    contract: contract(i % 5),
                    time: OPEN_NS + i as i64 * 1_000_000,
                    price: cents(320 + rng.below(20) as i64),
                    size: 1 + rng.below(10) as i64,
                    bid: 3.15,
                    ask: 3.25,
                    expiry: 20240117,
                    strike: 185.0,
                    right: Right::Call,
                    multiplier: 100,
                    underlying_price: opt(&mut rng).map(|x| 185.0 + x),
                    underlying_mid: Some(185.005),
                    underlying_staleness_ns: rng.below(5_000_000_000) as i64,
                    rate: 0.0527,
                    rate_curve: "SOFR".into(),
                    dividend_yield: 0.0052,
                    time_to_expiry: 15.0 / 365.0,
                    iv: opt(&mut rng),
                    delta: opt(&mut rng),
                    gamma: opt(&mut rng),
                    vega: opt(&mut rng),
                    theta: opt(&mut rng).map(|x| -x),
                    rho: opt(&mut rng),
                    flags: rng.below(4) as u32,
                })
                .collect(),
        ),
        Kind::ContractDaily => Records::ContractDailies(
            (0..n)
                .map(|i| ContractDaily {
                    contract: contract(i),
                    expiry: 20240117,
                    strike: (180 + i % 20) as f64,
                    right: if i.is_multiple_of(2) {
                        Right::Call
                    } else {
                        Right::Put
                    },
                    open: 3.1,
                    high: 3.6,
                    low: 2.95,
                    close: 3.3,
                    volume: rng.below(5_000) as i64,
                    trades: rng.below(500) as i64,
                    vwap: 3.2871,
                    iv: opt(&mut rng),
                    delta: opt(&mut rng),
                    gamma: opt(&mut rng),
                    vega: opt(&mut rng),
                    theta: opt(&mut rng),
                    rho: opt(&mut rng),
                })
                .collect(),
        ),
        Kind::IvSummary => Records::IvTerms(
            (0..n)
                .map(|i| IvTerm {
                    expiry: 20240105 + 7 * i as u32,
                    time_to_expiry: (3 + 7 * i) as f64 / 365.0,
                    atm_iv: opt(&mut rng),
                    rr25: opt(&mut rng).map(|x| x - 0.5),
                    bf25: opt(&mut rng),
                    forward: Some(185.2 + i as f64 * 0.01),
                    trades: rng.below(1_000) as i64,
                })
                .collect(),
        ),
        Kind::Lineage => Records::Lineages(
            (0..n)
                .map(|i| Lineage {
                    input: format!("feed:option_trade:SPY:{}", 20240102 + i),
                    fingerprint: rng.below(1 << 32) as i64,
                })
                .collect(),
        ),
    }
}

/// One kind of each record type, for tests that cover every kind.
pub const EVERY_KIND: &[Kind] = &[
    Kind::Trade,
    Kind::Bar(60),
    Kind::Daily,
    Kind::Quote,
    Kind::Chain,
    Kind::OptionTrade,
    Kind::Dividend,
    Kind::Fundamental,
    Kind::Rate,
    Kind::EnrichedTrade,
    Kind::ContractDaily,
    Kind::IvSummary,
    Kind::Lineage,
];
