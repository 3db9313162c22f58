//! The simulated market: the pure layer of the simulator (no sockets, no async), which the
//! network side ([`super::net`]) answers requests from.
//!
//! # Layout
//!
//! From the bottom up, each layer built on the one before:
//!
//! - `rng` (crate-internal): the keyed random streams every number is drawn from.
//! - [`universe`]: the instruments and their parameters ([`Universe`], [`Instrument`]): the
//!   standard 21 and any ticker derived from its name, symbol list files.
//! - `path` (private): each instrument's daily closing price, a mean-reverting random walk
//!   in log price through its 2024-01-02 reference price.
//! - `tape` (crate-internal): one session trade by trade (times, prices, sizes, quotes,
//!   conditions) from the day's open and close; interval bars from trades.
//! - this file: [`Market`], the front door: ticks, interval bars, daily, weekly and monthly
//!   bars, symbol search.
//! - `tables` (crate-internal): the lookup port's reference tables (listed markets, security
//!   types, trade conditions, SIC and NAICS codes) and the searches by industry code.
//! - [`fundamentals`]: dividends and the [`FundamentalsSnapshot`](fundamentals::FundamentalsSnapshot)
//!   behind the `F` message.
//! - [`options`]: listed expiries and strikes, the rate curve, the volatility smile, and
//!   option trades priced with [`bsm`].
//! - [`bsm`]: the simulator's own Black–Scholes–Merton pricer, on the normal CDF of
//!   `special` (private); a second pricer on purpose, see its header.
//!
//! This file: [`Market`], the front door, and its history data (ticks, interval bars,
//! daily, weekly and monthly bars, symbol search).
//!
//! A market is a seed and a [`Universe`]. Everything it reports is a pure function of those
//! (and of the tick and option scales): the daily path (module `path`) fixes each session's
//! close, the session plan fixes its open and its number of trades, and the tape
//! (module `tape`) draws the trades. Bars and daily data are computed from the trades, so
//! they always agree with them. Work is cached behind `&self` (the paths, each session's
//! daily bar, recent underlying price series), so a `Market` can be shared by every
//! connection of the simulator: it is `Send + Sync`.

pub mod bsm;
pub mod fundamentals;
pub mod options;
mod path;
pub(super) mod rng;
mod special;
pub(super) mod tables;
pub(super) mod tape;
pub mod universe;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{Datelike, NaiveTime};
use xlfeed_core::calendar::new_york_to_utc_ns;
use xlfeed_core::{Nyse, TradingDay};

use self::path::{PricePath, TRADING_DAYS_PER_YEAR, day_number};
use self::rng::Rng;
use self::tape::{DayPlan, DaySummary, Intensity, MIN_PRICE_CENTS};
use self::universe::{Instrument, Universe};
use crate::sim::SimError;
use crate::wire::history::{DailyLine, IntervalBar, Tick};

/// Most trades one session of one symbol can have, whatever the tick scale.
pub const MAX_TRADES_PER_DAY: usize = 20_000_000;

/// Length of a regular session (09:30–16:00), nanoseconds.
const REGULAR_SESSION_NS: f64 = 23_400e9;
/// Standard deviation of the overnight gap, as a share of the daily standard deviation.
const GAP_SHARE: f64 = 0.35;
/// Size of the intraday wiggle of the price bridge, as a multiple of the daily standard
/// deviation.
const INTRADAY_WIGGLE: f64 = 1.2;
/// Underlying price points kept for pricing option trades (16 bytes each).
const SPOT_CACHE_POINTS: usize = 4_000_000;

/// A recent underlying session as (time, price) pairs, for pricing option trades.
pub(crate) type SpotSeries = Arc<[(i64, f64)]>;

/// The deterministic synthetic market behind the IQFeed simulator.
///
/// ```
/// use xlfeed_core::TradingDay;
/// use xlfeed_iqfeed::sim::{Market, Universe};
///
/// let market = Market::new(42, Universe::standard()).with_tick_scale(0.1);
/// let day = TradingDay::parse("2024-03-11")?;
/// let ticks = market.ticks("AAPL", day)?;
/// let daily = market.daily("AAPL", day, day)?;
/// assert_eq!(daily[0].volume, ticks.iter().map(|t| t.trade.size).sum::<i64>());
/// assert!(market.ticks("AAPL", TradingDay::parse("2024-03-29")?)?.is_empty()); // Good Friday
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Market {
    seed: u64,
    universe: Universe,
    tick_scale: f64,
    option_scale: f64,
    paths: Vec<Mutex<PricePath>>,
    summaries: Mutex<HashMap<(usize, u32), DaySummary>>,
    spots: Mutex<SpotCache>,
}

/// The most recently used underlying sessions, bounded by their number of points.
#[derive(Debug, Default)]
struct SpotCache {
    entries: VecDeque<((usize, u32), SpotSeries)>,
    points: usize,
}

/// Locks a cache. Every update leaves a cache consistent at each step, so a lock poisoned by
/// a panic elsewhere is simply taken over.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Market {
    /// The market of `universe` with random seed `seed`. Two markets with the same seed and
    /// universe report exactly the same data.
    pub fn new(seed: u64, universe: Universe) -> Market {
        let paths = universe
            .instruments()
            .iter()
            .map(|i| Mutex::new(PricePath::new(seed, i)))
            .collect();
        Market {
            seed,
            universe,
            tick_scale: 1.0,
            option_scale: 1.0,
            paths,
            summaries: Mutex::new(HashMap::new()),
            spots: Mutex::new(SpotCache::default()),
        }
    }

    /// Multiplies every instrument's trades per session by `scale` (0.1 for quick tests, 10
    /// for benchmarks); prices still walk from the same open to the same close.
    pub fn with_tick_scale(mut self, scale: f64) -> Market {
        self.tick_scale = if scale > 0.0 { scale } else { 1.0 };
        self.summaries = Mutex::new(HashMap::new());
        self.spots = Mutex::new(SpotCache::default());
        self
    }

    /// Multiplies the expected number of option trades of every contract by `scale`.
    pub fn with_option_scale(mut self, scale: f64) -> Market {
        self.option_scale = if scale > 0.0 { scale } else { 1.0 };
        self
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The instruments traded.
    pub fn universe(&self) -> &Universe {
        &self.universe
    }

    /// The instrument for `symbol`; the error names an unknown one.
    pub fn instrument(&self, symbol: &str) -> Result<&Instrument, SimError> {
        self.index(symbol).map(|i| self.inst(i))
    }

    /// Number of trades `symbol` has on `day` (0 when NYSE is closed), without generating them.
    pub fn tick_count(&self, symbol: &str, day: TradingDay) -> Result<usize, SimError> {
        let i = self.index(symbol)?;
        Ok(self.plan(i, day).map_or(0, |p| p.trades))
    }

    /// The trades of `symbol` on `day`, oldest first; empty when NYSE is closed.
    ///
    /// - Times: inside the session (09:30 to 16:00 New York time, or the early close), UTC
    ///   nanoseconds on whole microseconds, strictly increasing; busiest at the open and the
    ///   close (five times the midday rate).
    /// - Prices: on the cent grid, a Gaussian bridge from the day's open (the previous close
    ///   and an overnight gap) to its close (the daily path); `bid <= price <= ask` with a
    ///   spread of 1 cent (59%), 2 (31%) or 3 (10%): at the ask when the buyer was the
    ///   aggressor, at the bid for the seller, inside otherwise.
    /// - Sizes: 20% odd lots (1–99 shares), then 100, 200, 300–900, 1,000–5,000, and 3%
    ///   blocks of 5,000–20,000; `total_volume` is their running sum.
    /// - Aggressor: an uptick is a buy (1) 92% of the time, a downtick a sell (2); unchanged
    ///   prices split between the two, with 5% "neither" (3) and 3% unknown (0).
    /// - Market centers (IQFeed ids): 19 (32%), 5 NASDAQ, 11 NYSE Arca, 7 NYSE, 18 BATS, 26,
    ///   12 NASDAQ BX, 6 NYSE American. Conditions: odd lots `87`, 6% of trades `3D`
    ///   (intermarket sweep), the rest none. Basis `C`, 2% `O`. Tick ids rise by 1 to 4.
    /// - Day code: the day of the month.
    ///
    /// An index (SPX.XO) prints its value with no size, volume, quotes or aggressor.
    ///
    /// At tick scale 1 a session has the instrument's `ticks_per_day` trades (5,000 for DIA
    /// up to 44,000 for AAPL and 46,000 for SPY), times a day factor of 0.75–1.3, times the
    /// session's length over 6.5 hours (so 54% on a 13:00 early close).
    pub fn ticks(&self, symbol: &str, day: TradingDay) -> Result<Vec<Tick>, SimError> {
        let i = self.index(symbol)?;
        Ok(self
            .plan(i, day)
            .map_or_else(Vec::new, |p| tape::trades(&p)))
    }

    /// Interval bars of `seconds` over the trades of `symbol` on `day`, aligned on New York
    /// clock time (a 60-second bar holds the trades of one clock minute). Each bar is stamped
    /// at its end, as IQFeed does by default, or at its start with `label_at_beginning`.
    /// Open, high, low, close, period volume and trade count are those of the trades in the
    /// bar, total volume the session's running volume at its last trade; intervals without
    /// trades have no bar. (IQFeed fills the trade count only for tick intervals; the
    /// simulator's server can drop it.)
    pub fn interval_bars(
        &self,
        symbol: &str,
        day: TradingDay,
        seconds: u32,
        label_at_beginning: bool,
    ) -> Result<Vec<IntervalBar>, SimError> {
        let i = self.index(symbol)?;
        if seconds == 0 {
            return Err(SimError::BadInterval(seconds));
        }
        let Some(plan) = self.plan(i, day) else {
            return Ok(Vec::new());
        };
        let midnight = new_york_to_utc_ns(day.date().and_time(NaiveTime::MIN))
            .unwrap_or(plan.open_ns - 34_200 * 1_000_000_000);
        Ok(tape::bars(
            &tape::trades(&plan),
            midnight,
            i64::from(seconds) * 1_000_000_000,
            label_at_beginning,
        ))
    }

    /// Daily bars of `symbol` for the sessions from `from` to `to` (both included), oldest
    /// first: open is the first trade, close the last, high and low the extremes and volume
    /// the sum of the sizes of that session's [`Market::ticks`]. Open interest is 0.
    pub fn daily(
        &self,
        symbol: &str,
        from: TradingDay,
        to: TradingDay,
    ) -> Result<Vec<DailyLine>, SimError> {
        let i = self.index(symbol)?;
        Ok(self.daily_lines(i, from, to))
    }

    /// Weekly bars (Monday to Sunday) built from [`Market::daily`] over `from..=to`, each
    /// stamped with the date of its last session; a week cut by the range holds only the
    /// sessions inside it.
    pub fn weekly(
        &self,
        symbol: &str,
        from: TradingDay,
        to: TradingDay,
    ) -> Result<Vec<DailyLine>, SimError> {
        let i = self.index(symbol)?;
        Ok(group(self.daily_lines(i, from, to), |d| {
            d.iso_week().year() * 100 + d.iso_week().week() as i32
        }))
    }

    /// Monthly bars built from [`Market::daily`] over `from..=to`, each stamped with the
    /// date of its last session; a month cut by the range holds only the sessions inside it.
    pub fn monthly(
        &self,
        symbol: &str,
        from: TradingDay,
        to: TradingDay,
    ) -> Result<Vec<DailyLine>, SimError> {
        let i = self.index(symbol)?;
        Ok(group(self.daily_lines(i, from, to), |d| {
            d.year() * 100 + d.month() as i32
        }))
    }

    /// The instruments matching `text` (any case): symbols starting with it, or with
    /// `in_descriptions`, names containing it, in universe order. What IQFeed's `SBF`
    /// returns: each has its symbol, [`Instrument::listed_market`],
    /// [`Instrument::security_type`] and name (the description). An empty `text` matches all.
    pub fn symbol_search(&self, text: &str, in_descriptions: bool) -> Vec<&Instrument> {
        let needle = text.trim().to_ascii_uppercase();
        self.universe
            .instruments()
            .iter()
            .filter(|i| {
                if in_descriptions {
                    i.name.to_ascii_uppercase().contains(&needle)
                } else {
                    i.symbol.starts_with(&needle)
                }
            })
            .collect()
    }

    // ---- shared with the other layers of the market ----

    /// Position of `symbol` in the universe; the error names an unknown one.
    pub(crate) fn index(&self, symbol: &str) -> Result<usize, SimError> {
        self.universe
            .index_of(symbol)
            .ok_or_else(|| SimError::UnknownSymbol(symbol.trim().to_owned()))
    }

    /// The instrument at position `i`.
    pub(crate) fn inst(&self, i: usize) -> &Instrument {
        &self.universe.instruments()[i]
    }

    /// The option-trade scale.
    pub(crate) fn option_scale(&self) -> f64 {
        self.option_scale
    }

    fn path(&self, i: usize) -> MutexGuard<'_, PricePath> {
        lock(&self.paths[i])
    }

    /// What the daily layer fixes about instrument `i`'s session on `day`; `None` if closed.
    pub(crate) fn plan(&self, i: usize, day: TradingDay) -> Option<DayPlan<'_>> {
        let session = Nyse.session(day)?;
        let inst = self.inst(i);
        let n = day_number(day);
        let (close_ln, prev_ln) = {
            let mut path = self.path(i);
            (path.ln_close(n)?, path.previous(n).1)
        };
        let daily_sd = inst.volatility / TRADING_DAYS_PER_YEAR.sqrt();
        let mut rng = Rng::stream(self.seed, &inst.symbol, day.yyyymmdd(), "day");
        let open_ln = prev_ln + GAP_SHARE * daily_sd * rng.normal();
        let open_cents = to_cents(open_ln.exp());
        let close_cents = to_cents(close_ln.exp());
        let length = session.close_utc_ns() - session.open_utc_ns();
        let activity = (0.25 * rng.normal()).exp().clamp(0.75, 1.3);
        let wanted = f64::from(inst.ticks_per_day)
            * self.tick_scale
            * (length as f64 / REGULAR_SESSION_NS)
            * activity;
        let most = MAX_TRADES_PER_DAY.min((length / 2_000) as usize).max(2);
        let trades = (wanted.round() as usize).clamp(2, most);
        Some(DayPlan {
            seed: self.seed,
            symbol: &inst.symbol,
            kind: inst.kind,
            day,
            open_ns: session.open_utc_ns(),
            close_ns: session.close_utc_ns(),
            open_cents,
            close_cents,
            trades,
            step_sd_cents: INTRADAY_WIGGLE * open_cents as f64 * daily_sd
                / ((trades - 1) as f64).sqrt(),
            listed_market: inst.listed_market,
        })
    }

    /// The daily bar of instrument `i` on `day` (`None` if closed), cached.
    pub(crate) fn summary(&self, i: usize, day: TradingDay) -> Option<DaySummary> {
        let key = (i, day.yyyymmdd());
        if let Some(s) = lock(&self.summaries).get(&key) {
            return Some(*s);
        }
        let s = tape::summarize(&self.plan(i, day)?);
        lock(&self.summaries).insert(key, s);
        Some(s)
    }

    /// Daily lines of instrument `i` over the sessions of `from..=to`.
    pub(crate) fn daily_lines(&self, i: usize, from: TradingDay, to: TradingDay) -> Vec<DailyLine> {
        Nyse.trading_days(from, to)
            .filter_map(|d| {
                self.summary(i, d).map(|s| DailyLine {
                    date: d.yyyymmdd(),
                    high: s.high,
                    low: s.low,
                    open: s.open,
                    close: s.close,
                    volume: s.volume,
                    open_interest: 0,
                })
            })
            .collect()
    }

    /// The last closing price of instrument `i` strictly before `day`, and its session.
    pub(crate) fn previous_close(&self, i: usize, day: TradingDay) -> (TradingDay, f64) {
        let (n, ln) = self.path(i).previous(day_number(day));
        let prev = path::session_day(n).unwrap_or(day);
        (prev, to_cents(ln.exp()) as f64 / 100.0)
    }

    /// The price of instrument `i` as `day` begins: its opening trade on a session day, the
    /// last close otherwise.
    pub(crate) fn spot(&self, i: usize, day: TradingDay) -> f64 {
        match self.plan(i, day) {
            Some(p) => p.open_cents as f64 / 100.0,
            None => self.previous_close(i, day).1,
        }
    }

    /// Instrument `i`'s trades on `day` as (time, price) pairs; `None` if closed. The same
    /// times and prices as [`Market::ticks`], cached for pricing option trades.
    pub(crate) fn spot_series(&self, i: usize, day: TradingDay) -> Option<SpotSeries> {
        let key = (i, day.yyyymmdd());
        {
            let mut cache = lock(&self.spots);
            if let Some(pos) = cache.entries.iter().position(|(k, _)| *k == key) {
                let entry = cache.entries.remove(pos)?;
                let series = entry.1.clone();
                cache.entries.push_back(entry);
                return Some(series);
            }
        }
        let plan = self.plan(i, day)?;
        let times = tape::session_times(
            &mut Rng::stream(self.seed, plan.symbol, day.yyyymmdd(), "times"),
            plan.trades,
            plan.open_ns,
            plan.close_ns,
            Intensity::UShaped,
        );
        let series: SpotSeries = times
            .into_iter()
            .zip(tape::PriceWalk::new(&plan))
            .map(|(t, c)| (t, c as f64 / 100.0))
            .collect();
        let mut cache = lock(&self.spots);
        cache.points += series.len();
        cache.entries.push_back((key, series.clone()));
        while cache.points > SPOT_CACHE_POINTS && cache.entries.len() > 1 {
            if let Some((_, old)) = cache.entries.pop_front() {
                cache.points -= old.len();
            }
        }
        Some(series)
    }
}

/// A price in cents, never below [`MIN_PRICE_CENTS`].
pub(crate) fn to_cents(price: f64) -> i64 {
    ((price * 100.0).round() as i64).max(MIN_PRICE_CENTS)
}

/// Merges consecutive daily lines with the same `key(date)` into one bar stamped with the
/// last date.
pub(crate) fn group(
    lines: Vec<DailyLine>,
    key: impl Fn(chrono::NaiveDate) -> i32,
) -> Vec<DailyLine> {
    let key_of = |l: &DailyLine| {
        TradingDay::from_yyyymmdd(l.date)
            .map(|d| key(d.date()))
            .unwrap_or(0)
    };
    let mut out: Vec<(i32, DailyLine)> = Vec::new();
    for line in lines {
        let k = key_of(&line);
        match out.last_mut() {
            Some((last_k, bar)) if *last_k == k => {
                bar.date = line.date;
                bar.high = bar.high.max(line.high);
                bar.low = bar.low.min(line.low);
                bar.close = line.close;
                bar.volume += line.volume;
            }
            _ => out.push((k, line)),
        }
    }
    out.into_iter().map(|(_, l)| l).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use xlfeed_core::calendar::utc_ns_to_new_york;

    fn day(s: &str) -> TradingDay {
        TradingDay::parse(s).unwrap()
    }

    fn market() -> Market {
        Market::new(7, Universe::standard())
    }

    fn ny(ns: i64) -> String {
        utc_ns_to_new_york(ns)
            .format("%Y-%m-%d %H:%M:%S%.6f")
            .to_string()
    }

    #[test]
    fn market_is_shareable() {
        fn check<T: Send + Sync>() {}
        check::<Market>();
    }

    #[test]
    fn closed_days_have_no_data() {
        let m = market();
        for closed in ["2024-03-29", "2024-01-06", "2024-12-25", "2024-07-04"] {
            assert!(m.ticks("AAPL", day(closed)).unwrap().is_empty(), "{closed}");
            assert!(
                m.interval_bars("AAPL", day(closed), 60, false)
                    .unwrap()
                    .is_empty()
            );
            assert_eq!(m.tick_count("SPY", day(closed)).unwrap(), 0);
        }
        let lines = m.daily("KO", day("2024-03-25"), day("2024-04-05")).unwrap();
        assert_eq!(lines.len(), 9, "ten weekdays less Good Friday");
        assert!(lines.iter().all(|l| l.date != 20240329));
    }

    #[test]
    fn unknown_symbols_are_named() {
        let e = market().ticks("AAPX", day("2024-01-02")).unwrap_err();
        assert_eq!(e.to_string(), "unknown symbol \"AAPX\"");
        assert_eq!(e.kind(), xlfeed_core::ErrorKind::NotFound);
        let e = market()
            .interval_bars("AAPL", day("2024-01-02"), 0, false)
            .unwrap_err();
        assert_eq!(e.to_string(), "bar interval of 0 seconds is not positive");
    }

    /// Every property a tick of a stock must have.
    fn check_ticks(ticks: &[Tick], d: TradingDay, open: &str, close: &str) {
        assert!(!ticks.is_empty());
        let first = ny(ticks[0].trade.time);
        let last = ny(ticks[ticks.len() - 1].trade.time);
        assert!(
            first.as_str() > open && first.starts_with(&open[..10]),
            "{first}"
        );
        assert!(last.as_str() < close, "{last} not before {close}");
        let mut volume = 0;
        for w in ticks.windows(2) {
            assert!(w[1].trade.time > w[0].trade.time);
            assert!(w[1].trade.tick_id > w[0].trade.tick_id);
        }
        for t in ticks {
            let tr = &t.trade;
            assert_eq!(tr.time % 1_000, 0, "microsecond resolution");
            for p in [tr.price, tr.bid, tr.ask] {
                assert_eq!((p * 100.0).round() / 100.0, p, "cent grid");
            }
            assert!(tr.bid <= tr.price && tr.price <= tr.ask && tr.bid < tr.ask);
            let spread = ((tr.ask - tr.bid) * 100.0).round() as i64;
            assert!((1..=3).contains(&spread), "spread {spread}");
            assert!(tr.size > 0);
            volume += tr.size;
            assert_eq!(t.total_volume, volume);
            assert!(t.aggressor <= 3);
            assert_eq!(u32::from(t.day_code), d.date().day());
            assert!(matches!(tr.basis, 'C' | 'O'));
            assert!(STOCK_CENTERS_FOR_TEST.contains(&tr.market_center));
        }
    }

    const STOCK_CENTERS_FOR_TEST: [i32; 8] = [19, 5, 11, 7, 18, 26, 12, 6];

    #[test]
    fn ticks_are_realistic_and_consistent() {
        let m = market();
        let d = day("2024-06-12");
        let ticks = m.ticks("AAPL", d).unwrap();
        check_ticks(&ticks, d, "2024-06-12 09:30:00", "2024-06-12 16:00:00");
        let n = ticks.len() as f64;
        let share = |f: &dyn Fn(&Tick) -> bool| ticks.iter().filter(|t| f(t)).count() as f64 / n;
        assert!(share(&|t| t.trade.basis == 'C') > 0.95);
        assert!(share(&|t| t.trade.basis == 'O') > 0.005);
        assert!(share(&|t| t.trade.conditions == xlfeed_core::Conditions::NONE) > 0.6);
        assert!(share(&|t| t.trade.conditions.to_string() == "3D") > 0.02);
        assert!(share(&|t| t.trade.size < 100) > 0.1, "odd lots");
        assert!(share(&|t| t.trade.size % 100 == 0) > 0.6, "round lots");
        assert!(share(&|t| t.aggressor == 1) > 0.3 && share(&|t| t.aggressor == 2) > 0.3);
        assert!(share(&|t| t.trade.market_center == 19) > 0.2);
        // The day's open and close come from the daily path.
        let plan = m.plan(m.index("AAPL").unwrap(), d).unwrap();
        assert_eq!(ticks[0].trade.price, plan.open_cents as f64 / 100.0);
        assert_eq!(
            ticks[ticks.len() - 1].trade.price,
            plan.close_cents as f64 / 100.0
        );
        // Plausible levels: within a factor of two of the 2024-01-02 price in mid-2024.
        assert!(ticks[0].trade.price > 90.0 && ticks[0].trade.price < 380.0);
    }

    #[test]
    fn sessions_follow_the_calendar_in_new_york_time() {
        let m = market();
        // The Friday after Thanksgiving closes at 13:00.
        let d = day("2024-11-29");
        let ticks = m.ticks("SPY", d).unwrap();
        check_ticks(&ticks, d, "2024-11-29 09:30:00", "2024-11-29 13:00:00");
        let full = m.tick_count("SPY", day("2024-11-27")).unwrap() as f64;
        assert!(
            (ticks.len() as f64) < full * 0.9,
            "an early close has fewer trades"
        );
        // The first Monday of daylight time opens at 13:30 UTC, the Friday before at 14:30.
        let d = day("2024-03-11");
        let ticks = m.ticks("MSFT", d).unwrap();
        check_ticks(&ticks, d, "2024-03-11 09:30:00", "2024-03-11 16:00:00");
        let open_utc = 1_710_163_800_000_000_000; // 2024-03-11 13:30:00 UTC
        assert!(ticks[0].trade.time > open_utc && ticks[0].trade.time < open_utc + 60e9 as i64);
        assert!(ticks.last().unwrap().trade.time < open_utc + 23_400_000_000_000);
        let friday = m.ticks("MSFT", day("2024-03-08")).unwrap();
        let open_utc = 1_709_908_200_000_000_000; // 2024-03-08 14:30:00 UTC
        assert!(friday[0].trade.time > open_utc && friday[0].trade.time < open_utc + 60e9 as i64);
    }

    #[test]
    fn tick_counts_are_modest_and_scale() {
        let m = market();
        let d = day("2024-06-12");
        let count = |s: &str| m.tick_count(s, d).unwrap();
        for inst in m.universe().instruments() {
            let n = count(&inst.symbol);
            assert!((2_000..=60_000).contains(&n), "{} {n}", inst.symbol);
        }
        assert!(count("SPY") > count("KO") && count("AAPL") > count("JPM"));
        let mut busiest: Vec<&Instrument> = m.universe().instruments().iter().collect();
        busiest.sort_by_key(|i| std::cmp::Reverse(i.ticks_per_day));
        assert_eq!([&busiest[0].symbol, &busiest[1].symbol], ["SPY", "AAPL"]);
        let big = Market::new(7, Universe::standard()).with_tick_scale(4.0);
        let ratio = big.tick_count("KO", d).unwrap() as f64 / count("KO") as f64;
        assert!((ratio - 4.0).abs() < 0.01, "{ratio}");
        // Same open and close at any scale.
        let small = Market::new(7, Universe::standard()).with_tick_scale(0.05);
        let (a, b) = (small.ticks("KO", d).unwrap(), m.ticks("KO", d).unwrap());
        assert_eq!(a[0].trade.price, b[0].trade.price);
        assert_eq!(a.last().unwrap().trade.price, b.last().unwrap().trade.price);
    }

    #[test]
    fn index_ticks_have_values_only() {
        let m = market();
        let d = day("2024-06-12");
        let ticks = m.ticks("SPX.XO", d).unwrap();
        assert!(ticks.len() > 15_000);
        assert!(
            ticks
                .iter()
                .all(|t| t.trade.size == 0 && t.trade.bid == 0.0)
        );
        assert!(ticks[0].trade.price > 3_000.0 && ticks[0].trade.price < 8_000.0);
        let daily = m.daily("SPX.XO", d, d).unwrap();
        assert_eq!(daily[0].volume, 0);
        let bars = m.interval_bars("SPX.XO", d, 300, false).unwrap();
        assert_eq!(bars.len(), 78);
    }

    #[test]
    fn same_seed_same_market_other_seed_other_market() {
        let a = market().with_tick_scale(0.2);
        let b = market().with_tick_scale(0.2);
        let d = day("2024-05-07");
        // Ask in a different order: results must not depend on it.
        let b_daily = b
            .daily("NVDA", day("2024-01-01"), day("2024-12-31"))
            .unwrap();
        let a_ticks = a.ticks("NVDA", d).unwrap();
        assert_eq!(a_ticks, b.ticks("NVDA", d).unwrap());
        assert_eq!(
            a.daily("NVDA", day("2024-01-01"), day("2024-12-31"))
                .unwrap(),
            b_daily
        );
        let c = Market::new(8, Universe::standard()).with_tick_scale(0.2);
        assert_ne!(c.ticks("NVDA", d).unwrap(), a_ticks);
    }

    #[test]
    fn bars_are_the_ticks_aggregated() {
        let m = market();
        let d = day("2024-06-12");
        let ticks = m.ticks("QQQ", d).unwrap();
        for (seconds, at_start) in [(60u32, false), (300, true), (1, false), (3600, false)] {
            let bars = m.interval_bars("QQQ", d, seconds, at_start).unwrap();
            let width = i64::from(seconds) * 1_000_000_000;
            let mut seen = 0;
            let mut total = 0;
            for bar in &bars {
                let start = if at_start { bar.time } else { bar.time - width };
                assert_eq!(start % width, 0, "bars fall on round clock times");
                // Ticks are in time order, so the bar's ticks follow the previous bar's.
                let rest = &ticks[seen..];
                let inside: Vec<&Tick> = rest
                    .iter()
                    .take_while(|t| t.trade.time < start + width)
                    .collect();
                assert!(inside.iter().all(|t| t.trade.time >= start));
                assert!(!inside.is_empty(), "no empty bars");
                let prices: Vec<f64> = inside.iter().map(|t| t.trade.price).collect();
                assert_eq!(bar.open, prices[0]);
                assert_eq!(bar.close, prices[prices.len() - 1]);
                assert_eq!(bar.high, prices.iter().copied().fold(f64::MIN, f64::max));
                assert_eq!(bar.low, prices.iter().copied().fold(f64::MAX, f64::min));
                let volume: i64 = inside.iter().map(|t| t.trade.size).sum();
                assert_eq!(bar.period_volume, volume);
                assert_eq!(bar.trades, inside.len() as i64);
                total += volume;
                assert_eq!(bar.total_volume, total);
                seen += inside.len();
            }
            assert_eq!(seen, ticks.len());
        }
        // The last one-minute bar of the day is stamped 16:00:00.
        let bars = m.interval_bars("QQQ", d, 60, false).unwrap();
        assert_eq!(ny(bars.last().unwrap().time), "2024-06-12 16:00:00.000000");
        assert_eq!(ny(bars[0].time), "2024-06-12 09:31:00.000000");
    }

    #[test]
    fn daily_weekly_and_monthly_agree_with_the_ticks() {
        let m = Market::new(11, Universe::standard()).with_tick_scale(0.2);
        let (from, to) = (day("2024-02-26"), day("2024-04-05"));
        let daily = m.daily("XOM", from, to).unwrap();
        assert_eq!(daily.len(), Nyse.trading_days(from, to).count());
        for line in daily.iter().step_by(7) {
            let ticks = m
                .ticks("XOM", TradingDay::from_yyyymmdd(line.date).unwrap())
                .unwrap();
            let prices = ticks.iter().map(|t| t.trade.price);
            assert_eq!(line.open, ticks[0].trade.price);
            assert_eq!(line.close, ticks.last().unwrap().trade.price);
            assert_eq!(line.high, prices.clone().fold(f64::MIN, f64::max));
            assert_eq!(line.low, prices.fold(f64::MAX, f64::min));
            assert_eq!(line.volume, ticks.last().unwrap().total_volume);
        }
        for w in daily.windows(2) {
            let gap = (w[1].open / w[0].close).ln().abs();
            assert!(gap < 0.05, "overnight gaps are small: {gap}");
        }
        let weekly = m.weekly("XOM", from, to).unwrap();
        assert_eq!(weekly.len(), 6);
        assert_eq!(
            weekly[4].date, 20240328,
            "Good Friday week ends on Thursday"
        );
        let monthly = m.monthly("XOM", from, to).unwrap();
        assert_eq!(
            monthly.iter().map(|l| l.date).collect::<Vec<_>>(),
            [20240229, 20240328, 20240405]
        );
        for bars in [&weekly, &monthly] {
            assert_eq!(
                bars.iter().map(|b| b.volume).sum::<i64>(),
                daily.iter().map(|b| b.volume).sum::<i64>()
            );
            assert_eq!(bars[0].open, daily[0].open);
            assert_eq!(bars.last().unwrap().close, daily.last().unwrap().close);
            let high = daily.iter().map(|l| l.high).fold(f64::MIN, f64::max);
            assert_eq!(bars.iter().map(|l| l.high).fold(f64::MIN, f64::max), high);
        }
    }

    #[test]
    fn symbol_search_by_symbol_and_description() {
        let m = market();
        let syms = |v: Vec<&Instrument>| v.iter().map(|i| i.symbol.clone()).collect::<Vec<_>>();
        assert_eq!(syms(m.symbol_search("aa", false)), ["AAPL"]);
        assert_eq!(syms(m.symbol_search("apple", true)), ["AAPL"]);
        let spdr = syms(m.symbol_search("SPDR", true));
        assert_eq!(spdr, ["SPY", "DIA", "GLD"]);
        assert!(m.symbol_search("ZZZZ", false).is_empty());
        let hit = m.symbol_search("MSFT", false)[0];
        assert_eq!((hit.listed_market, hit.security_type()), (21, 1));
        assert_eq!(hit.name, "MICROSOFT CORP");
    }
}
