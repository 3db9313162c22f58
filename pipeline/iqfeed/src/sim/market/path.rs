//! The daily price path of one instrument: its closing price on every trading day.
//!
//! The bottom layer of the simulated market. The log of the closing price is a random walk
//! with the instrument's volatility (one step per NYSE trading day, a year being 252 of them)
//! with a weak pull, half-life two years, back to a trend line through the reference price on
//! the reference day 2024-01-02 and rising 6% a year (an Ornstein–Uhlenbeck process around the
//! trend). The pull keeps prices plausible decades away from 2024 without being visible day
//! to day. Each step's shock comes from its own random stream keyed by (seed, symbol, day), so
//! the path depends on nothing but those; it is computed outward from the reference day as far
//! as it is asked for and kept.

use chrono::{Datelike, NaiveDate};
use xlfeed_core::{Nyse, TradingDay};

use super::rng::Rng;
use super::universe::Instrument;

/// Trading days in a year, for turning annual volatility into daily steps.
pub(crate) const TRADING_DAYS_PER_YEAR: f64 = 252.0;
/// The reference day the path passes through each instrument's reference price.
pub(crate) const REFERENCE_DAY: (i32, u32, u32) = (2024, 1, 2);
/// The trend of the log price, per year.
pub(crate) const TREND_PER_YEAR: f64 = 0.06;
/// Half-life, in years, of a departure from the trend.
const HALF_LIFE_YEARS: f64 = 2.0;
/// How far past a requested day the path is extended at once, in calendar days.
const CHUNK_DAYS: i32 = 400;

/// `num_days_from_ce` of a day: the path's index.
pub(crate) fn day_number(day: TradingDay) -> i32 {
    day.date().num_days_from_ce()
}

/// The trading day with this number, if NYSE had a session that day.
pub(crate) fn session_day(number: i32) -> Option<TradingDay> {
    NaiveDate::from_num_days_from_ce_opt(number)
        .and_then(|d| TradingDay::from_date(d).ok())
        .filter(|d| Nyse.is_trading_day(*d))
}

/// The number of the reference day.
pub(crate) fn reference_number() -> i32 {
    let (y, m, d) = REFERENCE_DAY;
    NaiveDate::from_ymd_opt(y, m, d).map_or(738_887, |d| d.num_days_from_ce())
}

/// The closing prices of one instrument, computed lazily around the reference day.
#[derive(Debug)]
pub(crate) struct PricePath {
    seed: u64,
    symbol: String,
    ln_reference: f64,
    /// Daily standard deviation of the log price.
    step_sd: f64,
    /// Fraction of a departure from the trend that survives one trading day.
    keep: f64,
    reference: i32,
    /// Day number of `ln_close[0]`.
    first: i32,
    /// Log closing price by day number from `first`; NaN on days without a session.
    ln_close: Vec<f64>,
}

impl PricePath {
    /// The path of `instrument` in the market seeded with `seed` (nothing computed yet).
    pub(crate) fn new(seed: u64, instrument: &Instrument) -> PricePath {
        let reference = reference_number();
        let ln_reference = instrument.reference_price.max(0.01).ln();
        let kappa = std::f64::consts::LN_2 / HALF_LIFE_YEARS;
        PricePath {
            seed,
            symbol: instrument.symbol.clone(),
            ln_reference,
            step_sd: instrument.volatility / TRADING_DAYS_PER_YEAR.sqrt(),
            keep: (-kappa / TRADING_DAYS_PER_YEAR).exp(),
            reference,
            first: reference,
            ln_close: vec![ln_reference],
        }
    }

    /// The trend line's log price on day `n`.
    fn trend(&self, n: i32) -> f64 {
        self.ln_reference + TREND_PER_YEAR * f64::from(n - self.reference) / 365.25
    }

    /// One step of the walk to day `n` from a neighbouring session's log close `from` (on day
    /// `from_n`): the departure from trend shrinks by `keep` and takes the day's shock.
    fn step(&self, n: i32, from_n: i32, from: f64) -> f64 {
        let day = NaiveDate::from_num_days_from_ce_opt(n)
            .and_then(|d| TradingDay::from_date(d).ok())
            .map_or(0, TradingDay::yyyymmdd);
        let shock = Rng::stream(self.seed, &self.symbol, day, "close").normal();
        self.trend(n) + (from - self.trend(from_n)) * self.keep + self.step_sd * shock
    }

    /// Makes sure days `lo..=hi` are computed.
    fn cover(&mut self, lo: i32, hi: i32) {
        let last = self.first + self.ln_close.len() as i32 - 1;
        if hi > last {
            let target = hi.saturating_add(CHUNK_DAYS);
            let (mut prev_n, mut prev) = self.last_session();
            for n in last + 1..=target {
                if session_day(n).is_some() {
                    let x = self.step(n, prev_n, prev);
                    (prev_n, prev) = (n, x);
                    self.ln_close.push(x);
                } else {
                    self.ln_close.push(f64::NAN);
                }
            }
        }
        if lo < self.first {
            let target = lo.saturating_sub(CHUNK_DAYS);
            let (mut next_n, mut next) = self.first_session();
            let mut before = Vec::with_capacity((self.first - target) as usize);
            for n in (target..self.first).rev() {
                if session_day(n).is_some() {
                    let x = self.step(n, next_n, next);
                    (next_n, next) = (n, x);
                    before.push(x);
                } else {
                    before.push(f64::NAN);
                }
            }
            before.reverse();
            before.append(&mut self.ln_close);
            self.ln_close = before;
            self.first = target;
        }
    }

    /// The last computed session (the reference day is always one of the computed days).
    fn last_session(&self) -> (i32, f64) {
        self.ln_close
            .iter()
            .enumerate()
            .rev()
            .find(|(_, x)| !x.is_nan())
            .map_or((self.reference, self.ln_reference), |(i, x)| {
                (self.first + i as i32, *x)
            })
    }

    /// The first computed session.
    fn first_session(&self) -> (i32, f64) {
        self.ln_close
            .iter()
            .enumerate()
            .find(|(_, x)| !x.is_nan())
            .map_or((self.reference, self.ln_reference), |(i, x)| {
                (self.first + i as i32, *x)
            })
    }

    /// Log closing price on day `n`; `None` if NYSE was closed (the reference day always has
    /// its reference price).
    pub(crate) fn ln_close(&mut self, n: i32) -> Option<f64> {
        self.cover(n, n);
        let x = self.ln_close[(n - self.first) as usize];
        (!x.is_nan()).then_some(x)
    }

    /// The most recent session strictly before day `n`: its number and log close.
    pub(crate) fn previous(&mut self, n: i32) -> (i32, f64) {
        let mut back = 14;
        loop {
            self.cover(n.saturating_sub(back), n);
            let found = (n.saturating_sub(back)..n).rev().find_map(|m| {
                let x = self.ln_close[(m - self.first) as usize];
                (!x.is_nan()).then_some((m, x))
            });
            if let Some(found) = found {
                return found;
            }
            if back > 3_650 {
                // No session in ten years: only possible outside the supported dates.
                return (n - 1, self.trend(n - 1));
            }
            back *= 4;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Universe;

    fn path(symbol: &str, seed: u64) -> PricePath {
        let u = Universe::standard();
        PricePath::new(seed, u.get(symbol).unwrap())
    }

    fn n(s: &str) -> i32 {
        day_number(TradingDay::parse(s).unwrap())
    }

    #[test]
    fn passes_through_the_reference_price_and_skips_closed_days() {
        let mut p = path("AAPL", 1);
        let x = p.ln_close(n("2024-01-02")).unwrap();
        assert!((x.exp() - 185.64).abs() < 1e-9);
        assert_eq!(p.ln_close(n("2024-03-29")), None, "Good Friday");
        assert_eq!(p.ln_close(n("2024-01-06")), None, "Saturday");
        assert!(p.ln_close(n("2024-03-28")).is_some());
        let (prev, _) = p.previous(n("2024-04-01"));
        assert_eq!(prev, n("2024-03-28"));
        let (prev, _) = p.previous(n("2024-01-02"));
        assert_eq!(prev, n("2023-12-29"));
    }

    #[test]
    fn any_order_of_requests_gives_the_same_path() {
        let mut a = path("MSFT", 9);
        let mut b = path("MSFT", 9);
        let far = a.ln_close(n("2031-06-02"));
        let early = a.ln_close(n("2001-06-01"));
        let mid = b.ln_close(n("2010-06-01"));
        assert_eq!(b.ln_close(n("2001-06-01")), early);
        assert_eq!(b.ln_close(n("2031-06-02")), far);
        assert_eq!(a.ln_close(n("2010-06-01")), mid);
        assert_ne!(path("MSFT", 10).ln_close(n("2031-06-02")), far);
    }

    #[test]
    fn daily_returns_have_the_instrument_volatility() {
        let mut p = path("TSLA", 3);
        let days: Vec<f64> = (n("2015-01-01")..n("2023-12-31"))
            .filter_map(|d| p.ln_close(d))
            .collect();
        let r: Vec<f64> = days.windows(2).map(|w| w[1] - w[0]).collect();
        let mean = r.iter().sum::<f64>() / r.len() as f64;
        let var = r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / r.len() as f64;
        let annual = (var * TRADING_DAYS_PER_YEAR).sqrt();
        assert!((annual - 0.55).abs() < 0.03, "{annual}");
        // Decades away the price stays within sight of the trend.
        let far = p.ln_close(n("2060-06-01")).unwrap_or(0.0).exp();
        assert!(far > 248.42 * 0.1 && far < 248.42 * 100.0, "{far}");
    }
}
