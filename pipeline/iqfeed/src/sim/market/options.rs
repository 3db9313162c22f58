//! Options of the simulated market: the listed chain, the risk-free rate curve, the implied
//! volatility smile, and option trades priced from them.
//!
//! The top layer of the market: it reads the underlying's trades (module `tape`) and prices
//! with [`super::bsm`]. What the simulator publishes and what it trades agree: an option
//! trade's price, inverted with Black–Scholes–Merton at the underlying's last trade, the
//! [`Market::rate`] for its tenor and the continuous yield of the dividends going ex in its
//! life ([`option_dividend_yield`] of [`Market::dividends_in_life`]), gives back
//! [`Market::smile`] within the documented noise and the rounding to the option tick.
//!
//! Listing rules: weekly expiries on the next [`WEEKLY_EXPIRIES`] Fridays and monthly ones on
//! the third Friday of the next [`MONTHLY_EXPIRIES`] months, an expiry moving to the Thursday
//! (the session before) when the Friday is a holiday; strikes every [`strike_increment`]
//! within ±[`STRIKE_RANGE`] of the day's opening price; calls and puts; 100 shares a contract.
//! Options expire at 16:00 New York time on their expiry day; time is counted act/365.

use chrono::{Datelike, Days, NaiveDate, NaiveTime, Weekday};
use xlfeed_core::calendar::new_york_to_utc_ns;
use xlfeed_core::records::{OptionContract, RatePoint, Trade, rate_convention};
use xlfeed_core::{Conditions, Nyse, OptionSymbol, Right, TradingDay};

use super::Market;
use super::bsm;
use super::path::{day_number, reference_number};
use super::rng::Rng;
use super::tape::{self, Intensity, first_tick_id};
use super::universe::{Instrument, SecurityKind};
use crate::sim::SimError;
use crate::wire::history::Tick;

/// Weekly expiries listed at any time.
pub const WEEKLY_EXPIRIES: usize = 4;
/// Monthly (third-Friday) expiries listed at any time.
pub const MONTHLY_EXPIRIES: usize = 4;
/// Strikes are listed within this fraction of the day's opening price, either side.
pub const STRIKE_RANGE: f64 = 0.20;
/// Shares per contract.
pub const MULTIPLIER: i64 = 100;
/// The continuous dividend yield an option prices with: `S·e^(−q·t) = S − PV`, the present
/// value of `dividends` ((calendar days from the trade's day to the ex-date, amount)) at the
/// rate `r`, over the `t` years to expiry. 0 with no dividend, no time, or dividends worth
/// the spot.
pub fn option_dividend_yield(dividends: &[(i64, f64)], spot: f64, r: f64, t: f64) -> f64 {
    let pv: f64 = dividends
        .iter()
        .map(|&(days, amount)| amount * (-r * days as f64 / 365.0).exp())
        .sum();
    if pv <= 0.0 || t <= 0.0 || pv >= spot {
        return 0.0;
    }
    -(1.0 - pv / spot).ln() / t
}

/// Half-width of the uniform multiplicative noise on the implied volatility of each option
/// trade: the volatility a trade is priced at is `smile × (1 + u)`, `u` uniform in ±1%.
pub const IV_NOISE: f64 = 0.01;

/// Nanoseconds in an act/365 year.
const YEAR_NS: f64 = 365.0 * 86_400e9;

/// Approximately the effective federal funds rate after each FOMC decision from 2015 to 2024,
/// as (first day, rate); the simulator's short rate, held flat before the first and after
/// the last entry.
#[rustfmt::skip]
const SHORT_RATE_STEPS: &[(u32, f64)] = &[
    (20151217, 0.0036), (20161215, 0.0066), (20170316, 0.0091), (20170615, 0.0116),
    (20171214, 0.0142), (20180322, 0.0168), (20180614, 0.0191), (20180927, 0.0218),
    (20181220, 0.0240), (20190801, 0.0213), (20190919, 0.0190), (20191031, 0.0155),
    (20200304, 0.0110), (20200316, 0.0008), (20220317, 0.0033), (20220505, 0.0083),
    (20220616, 0.0158), (20220728, 0.0233), (20220922, 0.0308), (20221103, 0.0383),
    (20221215, 0.0433), (20230202, 0.0458), (20230323, 0.0483), (20230504, 0.0508),
    (20230727, 0.0533), (20240919, 0.0483), (20241108, 0.0458), (20241219, 0.0433),
];
/// The short rate before the first step (the zero-bound years).
const SHORT_RATE_BEFORE: f64 = 0.0012;

/// Market centers of simulated option trades and their weights out of 256: 13 Cboe, 9 PHLX,
/// 11 NYSE Arca, 16 ISE, 17 BOX, 25 NYSE American options.
const OPTION_CENTERS: [(i32, u32); 6] = [(13, 64), (9, 40), (11, 40), (16, 40), (17, 48), (25, 24)];

/// The strike spacing around a spot price: $0.50 below $25, $1 below $50, $2.50 below $200,
/// $5 from there.
pub fn strike_increment(spot: f64) -> f64 {
    if spot < 25.0 {
        0.5
    } else if spot < 50.0 {
        1.0
    } else if spot < 200.0 {
        2.5
    } else {
        5.0
    }
}

/// The minimum price variation of an option: $0.01 below $3.00, $0.05 at or above.
pub fn option_tick(price: f64) -> f64 {
    if price < 3.0 { 0.01 } else { 0.05 }
}

/// An option price in cents, rounded to its tick ([`option_tick`]).
fn round_to_tick_cents(price: f64) -> i64 {
    let cents = (price * 100.0).round() as i64;
    if cents < 300 {
        cents
    } else {
        (price * 20.0).round() as i64 * 5
    }
}

/// The session an expiry falling on `friday` moves to: the Friday itself, or the session
/// before when the Friday is a holiday.
fn expiry_for(friday: NaiveDate) -> Option<TradingDay> {
    let day = TradingDay::from_date(friday).ok()?;
    if Nyse.is_trading_day(day) {
        Some(day)
    } else {
        Nyse.prev_trading_day(day)
    }
}

/// The expiries listed on `day`, in order: the next [`WEEKLY_EXPIRIES`] weekly ones and the
/// next [`MONTHLY_EXPIRIES`] monthly ones (third Fridays), each on or after `day`.
pub fn listed_expiries(day: TradingDay) -> Vec<TradingDay> {
    let date = day.date();
    let to_friday = (7 + 4 - date.weekday().num_days_from_monday()) % 7;
    let mut out = Vec::new();
    let mut friday = date.checked_add_days(Days::new(u64::from(to_friday)));
    let mut weeklies = 0;
    for _ in 0..WEEKLY_EXPIRIES + 2 {
        let Some(f) = friday else { break };
        if let Some(e) = expiry_for(f).filter(|e| *e >= day) {
            out.push(e);
            weeklies += 1;
            if weeklies == WEEKLY_EXPIRIES {
                break;
            }
        }
        friday = f.checked_add_days(Days::new(7));
    }
    let (mut year, mut month) = (date.year(), date.month());
    let mut monthlies = 0;
    for _ in 0..MONTHLY_EXPIRIES + 2 {
        let third = NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Fri, 3);
        if let Some(e) = third.and_then(expiry_for).filter(|e| *e >= day) {
            out.push(e);
            monthlies += 1;
            if monthlies == MONTHLY_EXPIRIES {
                break;
            }
        }
        (year, month) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The instant an option expiring on `expiry` expires: 16:00 New York time, UTC nanoseconds.
pub fn expiry_utc_ns(expiry: TradingDay) -> i64 {
    let four_pm = NaiveTime::from_hms_opt(16, 0, 0).unwrap_or(NaiveTime::MIN);
    new_york_to_utc_ns(expiry.date().and_time(four_pm)).unwrap_or(0)
}

/// Strikes in thousandths around `spot`: every [`strike_increment`] within ±[`STRIKE_RANGE`],
/// at least one on each side of the spot.
fn strikes_around(spot: f64) -> Vec<u64> {
    let inc = strike_increment(spot);
    let mut lo = ((spot * (1.0 - STRIKE_RANGE)) / inc).ceil() as i64;
    let mut hi = ((spot * (1.0 + STRIKE_RANGE)) / inc).floor() as i64;
    lo = lo.min((spot / inc).floor() as i64);
    hi = hi.max((spot / inc).ceil() as i64);
    if lo == hi {
        (lo, hi) = (lo - 1, hi + 1);
    }
    let step = (inc * 1000.0).round() as u64;
    (lo.max(1)..=hi)
        .map(|k| k as u64 * step)
        .filter(|k| *k <= xlfeed_core::option_symbol::MAX_STRIKE_MILLI)
        .collect()
}

/// Expected trades of one contract in a session: the underlying's option activity, times a
/// bell in standardised moneyness, times a boost near expiry, times a call/put weight.
fn expected_trades(inst: &Instrument, right: Right, spot: f64, strike: f64, t_years: f64) -> f64 {
    let t = t_years.max(1.0 / 365.0);
    let z = (strike / spot).ln() / (inst.volatility * t.sqrt());
    let moneyness = (-0.5 * z * z).exp();
    let term = ((7.0 / 365.0) / t).sqrt().clamp(0.35, 2.5);
    let side = match (right, inst.kind) {
        (Right::Call, _) => 1.0,
        (Right::Put, SecurityKind::Etf) => 1.15,
        (Right::Put, _) => 0.85,
    };
    inst.option_activity * moneyness * term * side
}

impl Market {
    /// The simulator's risk-free rate on `day` for a tenor of `tenor_days` calendar days,
    /// continuously compounded (0.053 is 5.3%). Not random: the same in every market.
    ///
    /// `r(τ) = max(0, s + (0.012 − 0.28·s)·(1 − e^(−τ/730)))`, where `s` is the short rate:
    /// roughly the effective federal funds rate of the day (5.33% from 2023-07-27 to
    /// 2024-09-18, 0.12% before 2016, 4.33% from 2024-12-19 on). The long end sits 1.2 points
    /// above a zero short rate and about 0.3 points below a 5.3% one, so the curve is gently
    /// upward sloping in low-rate years and gently inverted in 2023–2024: 5.32% at one month,
    /// 5.22% at one year on a 2024 day.
    pub fn rate(&self, day: TradingDay, tenor_days: f64) -> f64 {
        let key = day.yyyymmdd();
        let steps = SHORT_RATE_STEPS.partition_point(|(from, _)| *from <= key);
        let short = match steps {
            0 => SHORT_RATE_BEFORE,
            n => SHORT_RATE_STEPS[n - 1].1,
        };
        let tau = tenor_days.max(0.0);
        (short + (0.012 - 0.28 * short) * (1.0 - (-tau / 730.0).exp())).max(0.0)
    }

    /// The simulator's risk-free curve on `day` as stored rate points (continuously compounded
    /// zero rates at 1, 7, 30, 60, 90, 180, 365 and 730 days): what `xlpipeline import rates`
    /// would bring for the market the options were priced in.
    pub fn rate_curve(&self, day: TradingDay) -> Vec<RatePoint> {
        [1, 7, 30, 60, 90, 180, 365, 730]
            .iter()
            .map(|&tenor| RatePoint {
                tenor_days: tenor,
                rate: self.rate(day, tenor as f64),
                convention: rate_convention::ZERO,
            })
            .collect()
    }

    /// The implied volatility the simulator prices `underlying`'s options at on `day`, for
    /// time to expiry `t_years` (act/365) and log-moneyness `k = ln(K/F)` (F the forward).
    ///
    /// `σ(t, k) = a(t) · clamp(1 + s·z + c·z², 0.5, 3)` with `z = k / (a(t)·√max(t, 7/365))`:
    /// - ATM level `a(t) = σ_u · L(day) · (0.95 + 0.15·(1 − e^(−t/0.5)))`, where `σ_u` is the
    ///   instrument's volatility and `L(day) = exp(0.15·sin(2π·d/273 + φ))` a regime factor
    ///   cycling over about nine months (`d` days from 2024-01-02, phase `φ` drawn from the
    ///   seed and symbol): the term structure rises from 0.95·σ_u at expiry to 1.10·σ_u;
    /// - skew `s` = −0.10 and curvature `c` = 0.025 for stocks, −0.18 and 0.03 for ETFs.
    ///
    /// Option trades are priced at this times `1 ± IV_NOISE` (uniform).
    pub fn smile(
        &self,
        underlying: &str,
        day: TradingDay,
        t_years: f64,
        log_moneyness: f64,
    ) -> Result<f64, SimError> {
        let i = self.index(underlying)?;
        Ok(self.smile_of(i, day, t_years, log_moneyness))
    }

    fn smile_of(&self, i: usize, day: TradingDay, t_years: f64, k: f64) -> f64 {
        let inst = self.inst(i);
        let phase = Rng::stream(self.seed(), &inst.symbol, 0, "regime").unit();
        let d = f64::from(day_number(day) - reference_number());
        let regime = (0.15 * (std::f64::consts::TAU * (d / 273.0 + phase)).sin()).exp();
        let t = t_years.max(0.0);
        let atm = inst.volatility * regime * (0.95 + 0.15 * (1.0 - (-t / 0.5).exp()));
        let z = k / (atm * t.max(7.0 / 365.0).sqrt());
        let (skew, curvature) = match inst.kind {
            SecurityKind::Etf => (-0.18, 0.03),
            _ => (-0.10, 0.025),
        };
        atm * (1.0 + skew * z + curvature * z * z).clamp(0.5, 3.0)
    }

    /// The option chain of `underlying` on `day`: calls, then puts, each by expiry then
    /// strike (the order of IQFeed's `CEO` reply), for the [`listed_expiries`] and the strikes
    /// around the day's opening price (the last close on a day without a session). Empty for
    /// an index; the error names an unknown underlying.
    pub fn chain(
        &self,
        underlying: &str,
        day: TradingDay,
    ) -> Result<Vec<OptionContract>, SimError> {
        let i = self.index(underlying)?;
        let inst = self.inst(i);
        if !inst.has_options() {
            return Ok(Vec::new());
        }
        let strikes = strikes_around(self.spot(i, day));
        let expiries = listed_expiries(day);
        let mut out = Vec::with_capacity(2 * strikes.len() * expiries.len());
        for right in [Right::Call, Right::Put] {
            for expiry in &expiries {
                for &strike in &strikes {
                    let Ok(o) = OptionSymbol::new(&inst.symbol, expiry.date(), right, strike)
                    else {
                        continue;
                    };
                    out.push(OptionContract {
                        symbol: o.to_iqfeed(),
                        occ: o.to_occ(),
                        underlying: inst.symbol.clone(),
                        expiry: expiry.yyyymmdd(),
                        strike: o.strike(),
                        right,
                        multiplier: MULTIPLIER,
                    });
                }
            }
        }
        Ok(out)
    }

    /// The trades of one option contract (IQFeed `AAPL2417A190` or OCC form) on `day`.
    ///
    /// Empty when NYSE is closed, the contract has expired or is not listed that day (its
    /// expiry is not among the [`listed_expiries`], or its strike is not a multiple of $0.50),
    /// and on many days for contracts far from the money. The number of trades is Poisson
    /// with a mean of the underlying's `option_activity` × `exp(−z²/2)` (z the strike's
    /// distance from spot in standard deviations to expiry) × `√(7 days / time left)` (within
    /// 0.35–2.5) × 0.85 for stock puts or 1.15 for ETF puts, × a lognormal day factor.
    ///
    /// Each trade is priced with [`bsm::price`] at the underlying's last trade at that moment,
    /// the time left to 16:00 on the expiry day, [`Market::rate`] for that tenor,
    /// [`Market::dividend_yield`] and [`Market::smile`] × (1 ± [`IV_NOISE`]), then rounded to
    /// the [`option_tick`]; a trade whose rounded price is 0 or below the European lower bound
    /// is not printed. The trade is at the ask (buyer), at the bid (seller) or inside, with a
    /// spread of about 4% of the price (1 to 10 ticks). Sizes: 1 contract (35%), 2–5, 6–10,
    /// 11–50, and 51–250 (5%).
    pub fn option_trades(&self, contract: &str, day: TradingDay) -> Result<Vec<Tick>, SimError> {
        let option = OptionSymbol::parse(contract)?;
        let i = self.index(option.root())?;
        let inst = self.inst(i);
        if !inst.has_options() {
            return Err(SimError::NoOptions(inst.symbol.clone()));
        }
        let Some(session) = Nyse.session(day) else {
            return Ok(Vec::new());
        };
        let Ok(expiry) = TradingDay::from_date(option.expiry()) else {
            return Ok(Vec::new());
        };
        if expiry < day
            || option.strike_milli() % 500 != 0
            || !listed_expiries(day).contains(&expiry)
        {
            return Ok(Vec::new());
        }
        let name = option.to_iqfeed();
        let ymd = day.yyyymmdd();
        let right = option.right();
        let strike = option.strike();
        let expiry_ns = expiry_utc_ns(expiry);
        let spot_open = self.spot(i, day);
        let t_open = (expiry_ns - session.open_utc_ns()) as f64 / YEAR_NS;
        let mut count = Rng::stream(self.seed(), &name, ymd, "count");
        let mean = self.option_scale()
            * expected_trades(inst, right, spot_open, strike, t_open)
            * (0.3 * count.normal()).exp();
        let most = (session.close_utc_ns() - session.open_utc_ns()) / 2_000;
        let n = count.poisson(mean).min(most as u64) as usize;
        if n == 0 {
            return Ok(Vec::new());
        }
        let times = tape::session_times(
            &mut Rng::stream(self.seed(), &name, ymd, "times"),
            n,
            session.open_utc_ns(),
            session.close_utc_ns(),
            Intensity::Flat,
        );
        let Some(series) = self.spot_series(i, day) else {
            return Ok(Vec::new());
        };
        let dividends = self.dividends_in_life_of(i, day, expiry);
        let mut attrs = Rng::stream(self.seed(), &name, ymd, "attrs");
        let day_code = day.date().day() as u8;
        let mut tick_id = first_tick_id(day);
        let mut total_volume = 0;
        let mut out = Vec::with_capacity(n);
        for time in times {
            let a = attrs.next_u64();
            let noise = IV_NOISE * (2.0 * attrs.unit() - 1.0);
            tick_id += 1 + (a >> 62) as i64;
            let at = series.partition_point(|(t, _)| *t <= time);
            let spot = at.checked_sub(1).map_or(spot_open, |j| series[j].1);
            let t = (expiry_ns - time) as f64 / YEAR_NS;
            let r = self.rate(day, t * 365.0);
            let q = option_dividend_yield(&dividends, spot, r, t);
            let forward = spot * ((r - q) * t).exp();
            let vol = self.smile_of(i, day, t, (strike / forward).ln()) * (1.0 + noise);
            let theoretical = bsm::price(right, spot, strike, t, r, q, vol);
            let cents = round_to_tick_cents(theoretical);
            let floor = bsm::lower_bound(right, spot * (-q * t).exp(), strike * (-r * t).exp());
            if cents <= 0 || (cents as f64) / 100.0 < floor - 1e-9 {
                continue;
            }
            let (size, aggressor, bid, ask, market_center) = option_print(a, cents);
            total_volume += size;
            out.push(Tick {
                trade: Trade {
                    time,
                    price: cents as f64 / 100.0,
                    size,
                    bid: bid as f64 / 100.0,
                    ask: ask as f64 / 100.0,
                    tick_id,
                    basis: 'C',
                    market_center,
                    conditions: Conditions::NONE,
                },
                total_volume,
                aggressor,
                day_code,
            });
        }
        Ok(out)
    }
}

/// Size, aggressor, bid and ask (cents) and market center of an option trade at `cents`,
/// from 64 random bits.
fn option_print(a: u64, cents: i64) -> (i64, u8, i64, i64, i32) {
    let f = (a & 0xFFFF) as f64 / 65_536.0;
    let aggressor = if f < 0.45 {
        1
    } else if f < 0.90 {
        2
    } else if f < 0.97 {
        3
    } else {
        0
    };
    let u = ((a >> 16) & 0xFFFF) as f64 / 65_536.0;
    let r = ((a >> 32) & 0xFFFF) as i64;
    let size = if u < 0.35 {
        1
    } else if u < 0.60 {
        2 + r % 4
    } else if u < 0.80 {
        6 + r % 5
    } else if u < 0.95 {
        11 + r % 40
    } else {
        51 + r % 200
    };
    let tick = if cents < 300 { 1 } else { 5 };
    let ticks = ((cents as f64 * 0.04 / tick as f64).round() as i64).clamp(1, 10);
    let spread = ticks * tick;
    let (bid, ask) = match aggressor {
        1 => (cents - spread, cents),
        2 => (cents, cents + spread),
        _ if ticks >= 2 => {
            let below = tick * (1 + ((a >> 56) & 0x3F) as i64 % (ticks - 1));
            (cents - below, cents - below + spread)
        }
        _ => (cents - tick, cents),
    };
    let mut pick = ((a >> 48) & 0xFF) as u32;
    let market_center = OPTION_CENTERS
        .iter()
        .find(|(_, w)| {
            let hit = pick < *w;
            pick = pick.saturating_sub(*w);
            hit
        })
        .map_or(13, |(c, _)| *c);
    (size, aggressor, bid.max(0), ask, market_center)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Universe;

    fn day(s: &str) -> TradingDay {
        TradingDay::parse(s).unwrap()
    }

    fn ymd(v: &[TradingDay]) -> Vec<u32> {
        v.iter().map(|d| d.yyyymmdd()).collect()
    }

    #[test]
    fn expiries_are_fridays_or_the_thursday_before_a_holiday() {
        assert_eq!(
            ymd(&listed_expiries(day("2024-03-25"))),
            [
                20240328, // Good Friday: the Thursday
                20240405, 20240412, 20240419, // 04-19 is also April's monthly
                20240517, 20240621, 20240719
            ]
        );
        // On an expiry day that expiry is still listed; on a Saturday the next week starts.
        assert_eq!(listed_expiries(day("2024-06-21"))[0], day("2024-06-21"));
        assert_eq!(listed_expiries(day("2024-06-22"))[0], day("2024-06-28"));
        // Juneteenth 2026 is a Friday, and the third one of June.
        let e = ymd(&listed_expiries(day("2026-06-01")));
        assert!(e.contains(&20260618) && !e.contains(&20260619), "{e:?}");
        for d in listed_expiries(day("2024-11-04")) {
            let wd = d.date().weekday();
            assert!(wd == Weekday::Fri || wd == Weekday::Thu);
            assert!(Nyse.is_trading_day(d));
        }
    }

    #[test]
    fn chains_straddle_the_spot_on_the_strike_grid() {
        let m = Market::new(1, Universe::standard());
        let d = day("2024-04-15");
        for symbol in ["AAPL", "SPY", "KO", "NVDA", "INTC"] {
            let chain = m.chain(symbol, d).unwrap();
            let spot = m.spot(m.index(symbol).unwrap(), d);
            let inc = strike_increment(spot);
            let calls: Vec<&OptionContract> =
                chain.iter().filter(|c| c.right == Right::Call).collect();
            assert_eq!(calls.len() * 2, chain.len(), "as many puts as calls");
            assert!(calls.iter().any(|c| c.strike < spot) && calls.iter().any(|c| c.strike > spot));
            for c in &chain {
                assert!((c.strike / inc).fract().abs() < 1e-9, "{}", c.symbol);
                assert!((c.strike / spot - 1.0).abs() <= STRIKE_RANGE + inc / spot);
                assert_eq!((c.multiplier, c.underlying.as_str()), (100, symbol));
                let parsed = OptionSymbol::parse(&c.symbol).unwrap();
                assert_eq!(parsed.to_occ(), c.occ);
                assert_eq!(OptionSymbol::parse(&c.occ).unwrap(), parsed);
                assert_eq!(
                    parsed.expiry(),
                    TradingDay::from_yyyymmdd(c.expiry).unwrap().date()
                );
            }
            let first_put = chain.iter().position(|c| c.right == Right::Put).unwrap();
            assert!(chain[..first_put].iter().all(|c| c.right == Right::Call));
        }
        let aapl = m.chain("AAPL", d).unwrap();
        let april = aapl.iter().find(|c| c.expiry == 20240419).unwrap();
        assert_eq!(april.symbol, format!("AAPL2419D{}", april.strike));
        assert_eq!(
            april.occ,
            format!("AAPL  240419C{:08}", (april.strike * 1000.0) as u64)
        );
        let put = aapl.iter().rev().find(|c| c.expiry == 20240419).unwrap();
        assert_eq!(put.symbol, format!("AAPL2419P{}", put.strike));
        assert_eq!(
            [4.0, 20.0, 30.0, 100.0, 200.0, 600.0].map(strike_increment),
            [0.5, 0.5, 1.0, 2.5, 5.0, 5.0]
        );
        assert!(m.chain("SPX.XO", d).unwrap().is_empty());
        assert!(m.chain("NOPE", d).is_err());
        assert_eq!(strikes_around(4.2), [3500, 4000, 4500, 5000]);
    }

    #[test]
    fn the_rate_curve_is_about_five_point_three_percent_in_2024() {
        let m = Market::new(1, Universe::standard());
        let d = day("2024-06-03");
        let (one_month, one_year) = (m.rate(d, 30.0), m.rate(d, 365.0));
        assert!((one_month - 0.0532).abs() < 0.0003, "{one_month}");
        assert!((one_year - 0.0522).abs() < 0.0003, "{one_year}");
        assert!(one_year < one_month, "inverted in 2024");
        let low = day("2021-06-01");
        assert!(m.rate(low, 365.0) > m.rate(low, 1.0), "upward in 2021");
        assert!(m.rate(day("2010-01-04"), 0.0) > 0.0);
        assert_eq!(m.rate(day("2030-01-02"), 0.0), 0.0433);
    }

    #[test]
    fn the_smile_has_term_structure_skew_and_curvature() {
        let m = Market::new(1, Universe::standard());
        let d = day("2024-06-03");
        let s = |t: f64, k: f64| m.smile("AAPL", d, t, k).unwrap();
        assert!(s(1.0, 0.0) > s(0.05, 0.0), "upward term structure");
        assert!(
            s(0.25, -0.1) > s(0.25, 0.0) && s(0.25, 0.1) < s(0.25, -0.1),
            "skew"
        );
        assert!(
            s(0.25, 0.6) > s(0.25, 0.3),
            "curvature lifts the far call wing"
        );
        let atm = s(0.25, 0.0);
        assert!(atm > 0.22 * 0.7 && atm < 0.22 * 1.4, "{atm}");
        let spy = m.smile("SPY", d, 0.25, -0.1).unwrap() / m.smile("SPY", d, 0.25, 0.0).unwrap();
        assert!(spy > s(0.25, -0.1) / atm, "ETFs skew more");
        assert_eq!(
            s(0.3, 0.05),
            Market::new(1, Universe::standard())
                .smile("AAPL", d, 0.3, 0.05)
                .unwrap()
        );
    }

    /// Implied volatility by bisection: the test's own inversion of the BSM price.
    fn implied_vol(right: Right, price: f64, s: f64, k: f64, t: f64, r: f64, q: f64) -> f64 {
        let (mut lo, mut hi) = (1e-4, 5.0);
        for _ in 0..80 {
            let mid = 0.5 * (lo + hi);
            if bsm::price(right, s, k, t, r, q, mid) > price {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        0.5 * (lo + hi)
    }

    #[test]
    fn option_trades_reproduce_the_smile() {
        let m = Market::new(2, Universe::standard()).with_tick_scale(0.3);
        let d = day("2024-06-12");
        let underlying = m.ticks("AAPL", d).unwrap();
        let session = Nyse.session(d).unwrap();
        let mut checked = 0;
        let mut sharp = 0;
        let mut silent = 0;
        for c in m.chain("AAPL", d).unwrap() {
            let trades = m.option_trades(&c.symbol, d).unwrap();
            if trades.is_empty() {
                silent += 1;
                continue;
            }
            assert_eq!(
                trades,
                m.option_trades(&c.occ, d).unwrap(),
                "either symbol form"
            );
            let right = c.right;
            let expiry = expiry_utc_ns(TradingDay::from_yyyymmdd(c.expiry).unwrap());
            let mut volume = 0;
            for (j, t) in trades.iter().enumerate() {
                let tr = &t.trade;
                assert!(tr.time > session.open_utc_ns() && tr.time < session.close_utc_ns());
                assert_eq!(tr.time % 1_000, 0);
                if j > 0 {
                    assert!(tr.time > trades[j - 1].trade.time);
                    assert!(tr.tick_id > trades[j - 1].trade.tick_id);
                }
                volume += tr.size;
                assert_eq!(t.total_volume, volume);
                let cents = (tr.price * 100.0).round() as i64;
                assert!(cents > 0);
                if cents >= 300 {
                    assert_eq!(cents % 5, 0, "nickel tick at or above $3");
                }
                assert!(tr.bid <= tr.price && tr.price <= tr.ask && tr.bid < tr.ask);
                // Invert at the underlying's last trade before the option trade.
                let at = underlying.partition_point(|u| u.trade.time <= tr.time);
                let s = underlying[at.max(1) - 1].trade.price;
                let tau = (expiry - tr.time) as f64 / YEAR_NS;
                let r = m.rate(d, tau * 365.0);
                let divs = m
                    .dividends_in_life("AAPL", d, TradingDay::from_yyyymmdd(c.expiry).unwrap())
                    .unwrap();
                let q = option_dividend_yield(&divs, s, r, tau);
                let fwd = s * ((r - q) * tau).exp();
                let smile = m.smile("AAPL", d, tau, (c.strike / fwd).ln()).unwrap();
                let iv = implied_vol(right, tr.price, s, c.strike, tau, r, q);
                // The price was made at smile × (1 ± 1%) and rounded by at most half a tick:
                // its implied volatility lies between those of the two extreme prices.
                let half_tick = option_tick(tr.price) / 2.0;
                let price_at = |v: f64| bsm::price(right, s, c.strike, tau, r, q, v);
                let lo = price_at(smile * (1.0 - IV_NOISE)) - half_tick - 1e-9;
                let hi = price_at(smile * (1.0 + IV_NOISE)) + half_tick + 1e-9;
                assert!(
                    lo <= tr.price && tr.price <= hi,
                    "{} at {}: outside {lo}..{hi}",
                    c.symbol,
                    tr.price
                );
                let (iv_lo, iv_hi) = (
                    implied_vol(right, lo, s, c.strike, tau, r, q),
                    implied_vol(right, hi, s, c.strike, tau, r, q),
                );
                assert!(
                    iv_lo - 1e-6 <= iv && iv <= iv_hi + 1e-6,
                    "{} at {}: iv {iv} outside {iv_lo}..{iv_hi} (smile {smile})",
                    c.symbol,
                    tr.price
                );
                // Where a tick moves the volatility by less than the noise, the inversion
                // lands within the noise and a tick of the smile.
                let vega = (price_at(smile * 1.01) - price_at(smile * 0.99)) / (0.02 * smile);
                if vega * IV_NOISE * smile > 2.0 * half_tick {
                    assert!((iv / smile - 1.0).abs() < 2.0 * IV_NOISE, "{}", c.symbol);
                    sharp += 1;
                }
                checked += 1;
            }
        }
        assert!(checked > 2_000, "{checked} trades checked");
        assert!(
            sharp > 200,
            "{sharp} trades checked to within 2% of the smile"
        );
        assert!(silent > 50, "many contracts do not trade: {silent}");
    }

    #[test]
    fn activity_is_highest_near_the_money_and_near_expiry() {
        let m = Market::new(4, Universe::standard());
        let d = day("2024-06-12");
        let spot = m.spot(m.index("SPY").unwrap(), d);
        let chain = m.chain("SPY", d).unwrap();
        let count = |near: bool, first_expiry: bool| -> usize {
            let expiries = listed_expiries(d);
            chain
                .iter()
                .filter(|c| c.right == Right::Call)
                .filter(|c| ((c.strike / spot - 1.0).abs() < 0.02) == near)
                .filter(|c| (c.expiry == expiries[0].yyyymmdd()) == first_expiry)
                .map(|c| m.option_trades(&c.symbol, d).unwrap().len())
                .sum()
        };
        let near_now = count(true, true);
        assert!(near_now > count(false, true), "near the money trades more");
        assert!(near_now > 100);
    }

    #[test]
    fn options_that_are_not_listed_do_not_trade() {
        let m = Market::new(4, Universe::standard());
        let d = day("2024-06-12");
        // Expired, not yet listed, off the strike grid, a closed day.
        for c in ["SPY2407F530", "SPY2520L530", "SPY2414F530.1"] {
            assert!(m.option_trades(c, d).unwrap().is_empty(), "{c}");
        }
        assert!(
            m.option_trades("SPY2414F530", day("2024-06-19"))
                .unwrap()
                .is_empty()
        );
        let e = m.option_trades("AAPX2421F200", d).unwrap_err();
        assert_eq!(e.to_string(), "unknown symbol \"AAPX\"");
        assert!(m.option_trades("not an option", d).is_err());
    }
}
