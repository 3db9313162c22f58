//! One session of one instrument, trade by trade: the intraday layer of the simulated market.
//!
//! A [`DayPlan`] fixes what the daily path decides (the session's hours, the opening and
//! closing prices in cents, the number of trades); this module fills in the trades between:
//!
//! - **times**: exponential gaps weighted by a U-shaped intensity (busy at the open and the
//!   close, five times the midday rate), scaled into the session, microsecond resolution,
//!   strictly increasing, strictly inside `[open, close)`;
//! - **prices**: a Gaussian bridge in cents from the open to the close, one step per trade
//!   (volatility in trade time), rounded to the cent: the first trade is the open, the last
//!   the close;
//! - **sizes**: 20% odd lots (1–99), then 100, 200, 300–900, 1,000–5,000 and a few blocks of
//!   5,000–20,000 shares;
//! - **the rest** (quotes, aggressor, market center, conditions, basis, tick id), described
//!   on [`trades`].
//!
//! Prices, sizes, times and the rest come from four separate random streams, so the daily
//! summary ([`summarize`]) walks only prices and sizes and still matches the ticks exactly.

use chrono::Datelike;
use xlfeed_core::records::Trade;
use xlfeed_core::{Conditions, TradingDay};

use super::rng::{Rng, quick_normal};
use super::universe::SecurityKind;
use crate::wire::history::{IntervalBar, Tick};

/// Lowest price a simulated trade prints, in cents (keeps a bid three cents below positive).
pub(crate) const MIN_PRICE_CENTS: i64 = 5;

/// IQFeed trade condition: intermarket sweep order (`3D`).
const ISO: u64 = 0x3D;
/// IQFeed trade condition: odd lot (`87`).
const ODD_LOT: u64 = 0x87;

/// Market centers of simulated stock trades and their weights out of 256, as ids of IQFeed's
/// listed-market table (shared/reference §5): 5 NASDAQ, 6 NYSE American, 7 NYSE, 11 NYSE
/// Arca, 12 NASDAQ BX, 18 BATS, and 19 and 26, which the reference's sample tick and the
/// codec benchmark use without the reference naming them. 19 gets the largest share, a third.
const STOCK_CENTERS: [(i32, u32); 8] = [
    (19, 82),
    (5, 52),
    (11, 30),
    (7, 30),
    (18, 26),
    (26, 16),
    (12, 12),
    (6, 8),
];

/// What the daily layer decides about one session before its trades are drawn.
#[derive(Debug, Clone)]
pub(crate) struct DayPlan<'a> {
    /// The market seed.
    pub(crate) seed: u64,
    /// The instrument's symbol.
    pub(crate) symbol: &'a str,
    /// Stock, ETF or index.
    pub(crate) kind: SecurityKind,
    /// The session's day.
    pub(crate) day: TradingDay,
    /// Session open, UTC nanoseconds.
    pub(crate) open_ns: i64,
    /// Session close, UTC nanoseconds.
    pub(crate) close_ns: i64,
    /// First trade price, cents.
    pub(crate) open_cents: i64,
    /// Last trade price, cents.
    pub(crate) close_cents: i64,
    /// Number of trades, at least 2.
    pub(crate) trades: usize,
    /// Standard deviation of one price step, cents.
    pub(crate) step_sd_cents: f64,
    /// The instrument's listed market (the "market center" of index values).
    pub(crate) listed_market: u32,
}

impl DayPlan<'_> {
    fn stream(&self, tag: &str) -> Rng {
        Rng::stream(self.seed, self.symbol, self.day.yyyymmdd(), tag)
    }
}

/// A session boiled down to one daily bar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DaySummary {
    pub(crate) open: f64,
    pub(crate) high: f64,
    pub(crate) low: f64,
    pub(crate) close: f64,
    pub(crate) volume: i64,
    pub(crate) trades: i64,
}

/// How trading intensity varies over the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Intensity {
    /// Busy at the open and the close: `0.6 + 2.4·(2u − 1)²` at session fraction `u`.
    UShaped,
    /// The same all day.
    Flat,
}

/// `n` trade times, UTC nanoseconds on whole microseconds, strictly increasing and strictly
/// inside `(open_ns, close_ns)`. `n` must be below half the session's microseconds.
pub(crate) fn session_times(
    rng: &mut Rng,
    n: usize,
    open_ns: i64,
    close_ns: i64,
    intensity: Intensity,
) -> Vec<i64> {
    let rate = |u: f64| match intensity {
        Intensity::UShaped => 0.6 + 2.4 * (2.0 * u - 1.0).powi(2),
        Intensity::Flat => 1.0,
    };
    let mut cumulative = Vec::with_capacity(n);
    let mut total = 0.0;
    for i in 0..n {
        total += rng.exp1() / rate(i as f64 / n as f64);
        cumulative.push(total);
    }
    total += rng.exp1() / rate(1.0);
    let open_us = open_ns.div_euclid(1_000);
    let last_us = close_ns.div_euclid(1_000) - 1;
    let span = (last_us - open_us - 1) as f64;
    let mut times: Vec<i64> = cumulative
        .iter()
        .map(|c| open_us + 1 + (c / total * span) as i64)
        .collect();
    // Two trades in one microsecond: push the later one on; then pull any that ran past the
    // close back, keeping them apart.
    for i in 1..times.len() {
        if times[i] <= times[i - 1] {
            times[i] = times[i - 1] + 1;
        }
    }
    let mut cap = last_us;
    for t in times.iter_mut().rev() {
        if *t > cap {
            *t = cap;
        }
        cap = *t - 1;
    }
    for t in &mut times {
        *t *= 1_000;
    }
    times
}

/// The trade prices of a session in cents: a Gaussian bridge from the open to the close.
///
/// Built as a free random walk `W` (one step per trade) with the straight line from the open
/// to the close added and `W`'s own end subtracted in proportion, `x_i = open + i·(close −
/// open − W_end)/(n − 1) + W_i`, which is exactly a bridge; the walk is drawn twice from the
/// same stream (once for `W_end`, once while emitting), which costs less than the division
/// and square root per step of the sequential form.
#[derive(Debug, Clone)]
pub(crate) struct PriceWalk {
    rng: Rng,
    i: usize,
    n: usize,
    open: i64,
    close: i64,
    sd: f64,
    slope: f64,
    walk: f64,
}

impl PriceWalk {
    pub(crate) fn new(plan: &DayPlan<'_>) -> PriceWalk {
        let rng = plan.stream("prices");
        let n = plan.trades;
        let sd = plan.step_sd_cents;
        let mut ahead = rng.clone();
        let end: f64 = sd * (1..n).map(|_| quick_normal(ahead.next_u64())).sum::<f64>();
        let steps = n.saturating_sub(1).max(1) as f64;
        PriceWalk {
            rng,
            i: 0,
            n,
            open: plan.open_cents,
            close: plan.close_cents,
            sd,
            slope: ((plan.close_cents - plan.open_cents) as f64 - end) / steps,
            walk: 0.0,
        }
    }
}

impl Iterator for PriceWalk {
    type Item = i64;

    fn next(&mut self) -> Option<i64> {
        let i = self.i;
        if i >= self.n {
            return None;
        }
        self.i += 1;
        if i == 0 {
            return Some(self.open);
        }
        if i + 1 == self.n {
            return Some(self.close);
        }
        self.walk += self.sd * quick_normal(self.rng.next_u64());
        let x = self.open as f64 + self.slope * i as f64 + self.walk;
        Some(round_half_up(x).max(MIN_PRICE_CENTS))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.n - self.i;
        (left, Some(left))
    }
}

/// `x` rounded to the nearest integer, halves up, by conversion: `f64::round` and `floor` are
/// calls into libm on baseline x86-64, and this loop would spend a fifth of its time there.
fn round_half_up(x: f64) -> i64 {
    let y = x + 0.5;
    let t = y as i64;
    t - i64::from((t as f64) > y)
}

/// A stock trade size from 64 random bits.
fn stock_size(bits: u64) -> i64 {
    let u = (bits & 0xFFFF) as f64 / 65_536.0;
    let r = (bits >> 16) as i64;
    if u < 0.20 {
        1 + r % 99
    } else if u < 0.62 {
        100
    } else if u < 0.74 {
        200
    } else if u < 0.86 {
        300 + 100 * (r % 7)
    } else if u < 0.97 {
        1_000 + 100 * (r % 41)
    } else {
        5_000 + 500 * (r % 31)
    }
}

/// The daily bar of a session, from the same price and size streams as [`trades`].
pub(crate) fn summarize(plan: &DayPlan<'_>) -> DaySummary {
    let mut sizes = plan.stream("sizes");
    let index = plan.kind == SecurityKind::Index;
    let (mut high, mut low, mut volume) = (i64::MIN, i64::MAX, 0i64);
    for cents in PriceWalk::new(plan) {
        high = high.max(cents);
        low = low.min(cents);
        if !index {
            volume += stock_size(sizes.next_u64());
        }
    }
    DaySummary {
        open: plan.open_cents as f64 / 100.0,
        high: high as f64 / 100.0,
        low: low as f64 / 100.0,
        close: plan.close_cents as f64 / 100.0,
        volume,
        trades: plan.trades as i64,
    }
}

/// First tick id of a day: tick ids grow through a day and from one day to the next.
pub(crate) fn first_tick_id(day: TradingDay) -> i64 {
    i64::from(day.date().num_days_from_ce()) * 10_000_000_000
}

/// The trades of a session.
///
/// Besides times, prices and sizes (module docs): the aggressor follows the price move (an
/// uptick is a buy 92% of the time, a downtick a sell; unchanged prices are buys or sells,
/// 5% "neither", 3% unknown); the spread is 1 cent (59%), 2 (31%) or 3 (10%), the trade at
/// the ask for a buy, at the bid for a sell and inside otherwise; market centers are drawn
/// from [`STOCK_CENTERS`]; odd lots carry condition `87` and 6% of trades `3D` (intermarket
/// sweep), the rest none; 2% have basis `O`, the rest `C`; tick ids step by 1 to 4.
///
/// An index prints its value about once a second with no size, volume, quotes or aggressor.
pub(crate) fn trades(plan: &DayPlan<'_>) -> Vec<Tick> {
    let times = session_times(
        &mut plan.stream("times"),
        plan.trades,
        plan.open_ns,
        plan.close_ns,
        Intensity::UShaped,
    );
    let mut sizes = plan.stream("sizes");
    let mut attrs = plan.stream("attrs");
    let day_code = plan.day.date().day() as u8;
    let index = plan.kind == SecurityKind::Index;
    let mut tick_id = first_tick_id(plan.day);
    let mut total_volume = 0i64;
    let mut prev = plan.open_cents;
    let mut out = Vec::with_capacity(plan.trades);
    for (time, cents) in times.into_iter().zip(PriceWalk::new(plan)) {
        let a = attrs.next_u64();
        tick_id += 1 + (a >> 62) as i64;
        let price = cents as f64 / 100.0;
        if index {
            out.push(Tick {
                trade: Trade {
                    time,
                    price,
                    size: 0,
                    bid: 0.0,
                    ask: 0.0,
                    tick_id,
                    basis: 'C',
                    market_center: plan.listed_market as i32,
                    conditions: Conditions::NONE,
                },
                total_volume: 0,
                aggressor: 0,
                day_code,
            });
            continue;
        }
        let size = stock_size(sizes.next_u64());
        total_volume += size;
        let f = (a & 0xFFFF) as f64 / 65_536.0;
        let aggressor = if cents > prev {
            if f < 0.92 { 1 } else { 3 }
        } else if cents < prev {
            if f < 0.92 { 2 } else { 3 }
        } else if f < 0.46 {
            1
        } else if f < 0.92 {
            2
        } else if f < 0.97 {
            3
        } else {
            0
        };
        let spread = match (a >> 16) & 0xFF {
            0..150 => 1,
            150..230 => 2,
            _ => 3,
        };
        let (bid, ask) = match aggressor {
            1 => (cents - spread, cents),
            2 => (cents, cents + spread),
            _ if spread >= 2 => {
                let below = 1 + ((a >> 48) & 0xFF) as i64 % (spread - 1);
                (cents - below, cents - below + spread)
            }
            _ => (cents, cents + 1),
        };
        let mut pick = ((a >> 24) & 0xFF) as u32;
        let market_center = STOCK_CENTERS
            .iter()
            .find(|(_, w)| {
                let hit = pick < *w;
                pick = pick.saturating_sub(*w);
                hit
            })
            .map_or(19, |(c, _)| *c);
        let sweep = (a >> 32) & 0xFF < 16;
        let bits = match (sweep, size < 100) {
            (true, true) => (0x1 << 16) | (ISO << 8) | ODD_LOT,
            (true, false) => (0x1 << 8) | ISO,
            (false, true) => (0x1 << 8) | ODD_LOT,
            (false, false) => 0x1,
        };
        out.push(Tick {
            trade: Trade {
                time,
                price,
                size,
                bid: bid as f64 / 100.0,
                ask: ask as f64 / 100.0,
                tick_id,
                basis: if (a >> 40) & 0xFF < 5 { 'O' } else { 'C' },
                market_center,
                conditions: Conditions::from_bits(bits).unwrap_or_default(),
            },
            total_volume,
            aggressor,
            day_code,
        });
        prev = cents;
    }
    out
}

/// Interval bars over `ticks`, intervals of `interval_ns` counted from `origin_ns` (New York
/// midnight of the session, so bars fall on round clock times), stamped at their end or, with
/// `label_at_beginning`, at their start. Intervals without trades have no bar.
pub(crate) fn bars(
    ticks: &[Tick],
    origin_ns: i64,
    interval_ns: i64,
    label_at_beginning: bool,
) -> Vec<IntervalBar> {
    let mut out = Vec::new();
    let mut current: Option<(i64, IntervalBar)> = None;
    for t in ticks {
        let k = (t.trade.time - origin_ns).div_euclid(interval_ns);
        match &mut current {
            Some((ck, bar)) if *ck == k => bar.add(t),
            _ => {
                if let Some((_, done)) = current.take() {
                    out.push(done);
                }
                let stamp = k + i64::from(!label_at_beginning);
                current = Some((
                    k,
                    IntervalBar::opened_by(t, origin_ns + stamp * interval_ns),
                ));
            }
        }
    }
    out.extend(current.map(|(_, bar)| bar));
    out
}
