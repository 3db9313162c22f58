//! One (underlying, day): option trades joined with their contracts, the underlying, the
//! rate for their tenor and the dividend yield, then implied volatility and Greeks; and the
//! day's per-contract and per-expiry aggregates. Pure: the caller reads and writes the stores.

use std::collections::{BTreeMap, HashMap};

use xlfeed_analytics::asof::{Direction, asof};
use xlfeed_analytics::bsm::Contract;
use xlfeed_analytics::dividends::{DividendMethod, dividend_pv, yield_from_pv};
use xlfeed_analytics::iv::{IvError, enrich_batch};
use xlfeed_analytics::rates::ZeroCurve;
use xlfeed_core::Right;
use xlfeed_core::calendar::new_york_to_utc_ns;
use xlfeed_core::records::quality;
use xlfeed_core::records::{
    ContractDaily, Dividend, EnrichedOptionTrade, IvTerm, OptionContract, OptionTrade, Trade,
};
use xlfeed_core::{OptionSymbol, TradingDay};

/// Nanoseconds in a year of 365 days (time to expiry is act/365).
const YEAR_NS: f64 = 365.0 * 86_400.0 * 1e9;

/// How option trades are paired with underlying trades.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pairing {
    /// Backward (the latest at or before: no look-ahead) or nearest.
    pub(crate) direction: Direction,
    /// Beyond this distance the record is flagged stale.
    pub(crate) staleness_ns: i64,
}

/// The rate curve chosen for the day, converted to zero rates once.
pub(crate) struct DayCurve {
    /// The curve (its date is the day's or the latest earlier one).
    pub(crate) zeros: ZeroCurve,
}

/// Everything one unit reads.
pub(crate) struct Inputs<'a> {
    pub(crate) day: TradingDay,
    pub(crate) trades: &'a [OptionTrade],
    pub(crate) chain: &'a [OptionContract],
    pub(crate) underlying: &'a [Trade],
    pub(crate) dividends: &'a [Dividend],
    pub(crate) curve: Option<&'a DayCurve>,
}

/// What one unit writes, and what it counted.
#[derive(Default)]
pub(crate) struct Outputs {
    pub(crate) trades: Vec<EnrichedOptionTrade>,
    pub(crate) daily: Vec<ContractDaily>,
    pub(crate) summary: Vec<IvTerm>,
    /// Option trades whose contract is not in the day's chain.
    pub(crate) unresolved: u64,
    /// Option trades with an implied volatility.
    pub(crate) with_iv: u64,
}

/// 16:00 New York on the expiry day (standard equity options), UTC nanoseconds.
fn expiry_ns(expiry: u32) -> Option<i64> {
    let d = TradingDay::from_yyyymmdd(expiry).ok()?.date();
    new_york_to_utc_ns(d.and_hms_opt(16, 0, 0)?)
}

fn iv_flag(e: IvError) -> u32 {
    match e {
        IvError::BelowIntrinsic => quality::BELOW_INTRINSIC,
        IvError::AboveUpperBound => quality::ABOVE_UPPER_BOUND,
        IvError::ZeroTime => quality::ZERO_TIME,
        IvError::NoVega | IvError::BadInput => quality::ZERO_VEGA,
    }
}

/// Enriches one (underlying, day).
pub(crate) fn enrich(inp: &Inputs<'_>, pairing: Pairing) -> Outputs {
    let mut out = Outputs::default();
    let by_symbol: HashMap<&str, &OptionContract> =
        inp.chain.iter().map(|c| (c.symbol.as_str(), c)).collect();
    // Trades in time order (they are; the sort keeps the join's precondition whatever).
    let mut order: Vec<usize> = (0..inp.trades.len()).collect();
    order.sort_by_key(|&i| (inp.trades[i].time, i));
    let left: Vec<i64> = order.iter().map(|&i| inp.trades[i].time).collect();
    let right: Vec<i64> = inp.underlying.iter().map(|t| t.time).collect();
    // Every option trade gets its pair, however far; beyond the staleness limit it is flagged.
    let pairs = asof(&left, &right, pairing.direction, None);
    // The options to solve, and where their records are.
    let mut solve: Vec<(Contract, f64)> = Vec::new();
    let mut solve_at: Vec<usize> = Vec::new();
    // Expiry times, computed once per expiry.
    let mut per_expiry: HashMap<u32, Option<i64>> = HashMap::new();
    for (&i, pair) in order.iter().zip(pairs) {
        let t = &inp.trades[i];
        let mut flags = 0;
        let (contract, resolved) = match by_symbol.get(t.contract.as_str()) {
            Some(c) => ((*c).clone(), true),
            None => match resolve_from_symbol(&t.contract) {
                Some(c) => (c, false),
                None => {
                    out.unresolved += 1;
                    continue;
                }
            },
        };
        if !resolved {
            out.unresolved += 1;
            flags |= quality::UNRESOLVED_CONTRACT;
        }
        let und = pair.map(|j| &inp.underlying[j]);
        let (underlying_price, underlying_mid, staleness) = match und {
            Some(u) => {
                let mid = (u.bid > 0.0 && u.ask > 0.0).then(|| (u.bid + u.ask) / 2.0);
                (Some(u.price), mid, t.time - u.time)
            }
            None => {
                flags |= quality::NO_UNDERLYING;
                (None, None, 0)
            }
        };
        if und.is_some() && staleness.abs() > pairing.staleness_ns {
            flags |= quality::STALE_UNDERLYING;
        }
        let exp_ns = *per_expiry
            .entry(contract.expiry)
            .or_insert_with(|| expiry_ns(contract.expiry));
        let tte = exp_ns.map_or(0.0, |e| (e - t.time) as f64 / YEAR_NS);
        let days = tte * 365.0;
        let (rate, curve_name) = match inp.curve {
            Some(c) => match c.zeros.rate(days.max(0.0)) {
                Ok(r) => (r, c.zeros.name().to_owned()),
                Err(_) => {
                    flags |= quality::NO_RATE;
                    (0.0, String::new())
                }
            },
            None => {
                flags |= quality::NO_RATE;
                (0.0, String::new())
            }
        };
        let spot = underlying_price.unwrap_or(0.0);
        // The dividends going ex in the option's life, as a yield over its exact time.
        let (pv, method) = dividend_pv(inp.dividends, inp.day.yyyymmdd(), contract.expiry, rate);
        if method == DividendMethod::Projected && pv > 0.0 {
            flags |= quality::PROJECTED_DIVIDENDS;
        }
        let q = if spot > 0.0 && pv > 0.0 {
            yield_from_pv(spot, pv, tte).unwrap_or(0.0)
        } else {
            0.0
        };
        let mut e = EnrichedOptionTrade {
            contract: t.contract.clone(),
            time: t.time,
            price: t.price,
            size: t.size,
            bid: t.bid,
            ask: t.ask,
            expiry: contract.expiry,
            strike: contract.strike,
            right: contract.right,
            multiplier: contract.multiplier,
            underlying_price,
            underlying_mid,
            underlying_staleness_ns: staleness,
            rate,
            rate_curve: curve_name,
            dividend_yield: q,
            time_to_expiry: tte,
            iv: None,
            delta: None,
            gamma: None,
            vega: None,
            theta: None,
            rho: None,
            flags,
        };
        if resolved && und.is_some() {
            let c = Contract {
                right: contract.right,
                spot,
                strike: contract.strike,
                t: tte,
                r: rate,
                q,
            };
            if tte <= 0.0 {
                e.flags |= quality::ZERO_TIME;
            } else {
                solve.push((c, t.price));
                solve_at.push(out.trades.len());
            }
        }
        out.trades.push(e);
    }
    // The solver takes the day's options in one batch (a few at a time in lockstep).
    let mut solved = Vec::with_capacity(solve.len());
    enrich_batch(&solve, &mut solved);
    for (&at, r) in solve_at.iter().zip(solved) {
        let e = &mut out.trades[at];
        match r {
            Ok((iv, g)) => {
                e.iv = Some(iv);
                e.delta = Some(g.delta);
                e.gamma = Some(g.gamma);
                e.vega = Some(g.vega);
                e.theta = Some(g.theta);
                e.rho = Some(g.rho);
                out.with_iv += 1;
            }
            Err(err) => e.flags |= iv_flag(err),
        }
    }
    out.daily = contract_daily(&out.trades);
    out.summary = iv_summary(&out.trades);
    out
}

/// What the symbol alone says of a contract the chain does not list.
fn resolve_from_symbol(symbol: &str) -> Option<OptionContract> {
    let o = OptionSymbol::parse(symbol).ok()?;
    Some(OptionContract {
        symbol: o.to_iqfeed(),
        occ: o.to_occ(),
        underlying: o.root().to_owned(),
        expiry: TradingDay::from_date(o.expiry()).ok()?.yyyymmdd(),
        strike: o.strike(),
        right: o.right(),
        multiplier: 100,
    })
}

/// Per contract: open, high, low, close, volume, trades, VWAP, and the last analytics.
fn contract_daily(trades: &[EnrichedOptionTrade]) -> Vec<ContractDaily> {
    let mut by: BTreeMap<&str, ContractDaily> = BTreeMap::new();
    let mut notional: HashMap<&str, f64> = HashMap::new();
    for t in trades {
        let d = by
            .entry(t.contract.as_str())
            .or_insert_with(|| ContractDaily {
                contract: t.contract.clone(),
                expiry: t.expiry,
                strike: t.strike,
                right: t.right,
                open: t.price,
                high: t.price,
                low: t.price,
                close: t.price,
                volume: 0,
                trades: 0,
                vwap: 0.0,
                iv: None,
                delta: None,
                gamma: None,
                vega: None,
                theta: None,
                rho: None,
            });
        d.high = d.high.max(t.price);
        d.low = d.low.min(t.price);
        d.close = t.price;
        d.volume += t.size;
        d.trades += 1;
        *notional.entry(t.contract.as_str()).or_default() += t.price * t.size as f64;
        if t.iv.is_some() {
            (d.iv, d.delta, d.gamma, d.vega, d.theta, d.rho) =
                (t.iv, t.delta, t.gamma, t.vega, t.theta, t.rho);
        }
    }
    by.into_iter()
        .map(|(k, mut d)| {
            if d.volume > 0 {
                d.vwap = notional.get(k).copied().unwrap_or(0.0) / d.volume as f64;
            }
            d
        })
        .collect()
}

/// Per expiry: ATM IV (at the forward), 25-delta risk reversal and butterfly, from each
/// contract's last trade with an IV, out-of-the-money side (calls above the forward, puts
/// below).
fn iv_summary(trades: &[EnrichedOptionTrade]) -> Vec<IvTerm> {
    // The last trade with analytics per contract, grouped by expiry.
    let mut last: BTreeMap<u32, BTreeMap<&str, &EnrichedOptionTrade>> = BTreeMap::new();
    let mut counts: BTreeMap<u32, i64> = BTreeMap::new();
    for t in trades {
        *counts.entry(t.expiry).or_default() += 1;
        if t.iv.is_some() && t.underlying_price.is_some() {
            last.entry(t.expiry)
                .or_default()
                .insert(t.contract.as_str(), t);
        }
    }
    counts
        .into_iter()
        .map(|(expiry, n)| {
            let Some(contracts) = last.get(&expiry) else {
                return IvTerm {
                    expiry,
                    time_to_expiry: 0.0,
                    atm_iv: None,
                    rr25: None,
                    bf25: None,
                    forward: None,
                    trades: n,
                };
            };
            // The newest of the day's trades sets the time and the forward.
            let newest = contracts.values().max_by_key(|t| t.time).copied();
            let (tte, forward) = newest.map_or((0.0, None), |t| {
                let s = t.underlying_price.unwrap_or(0.0);
                (
                    t.time_to_expiry,
                    Some(s * ((t.rate - t.dividend_yield) * t.time_to_expiry).exp()),
                )
            });
            let f = forward.unwrap_or(0.0);
            // Out-of-the-money smile: (strike, iv), and (delta, iv) per side.
            let mut smile: Vec<(f64, f64)> = Vec::new();
            let mut calls: Vec<(f64, f64)> = Vec::new();
            let mut puts: Vec<(f64, f64)> = Vec::new();
            for t in contracts.values() {
                let (Some(iv), Some(delta)) = (t.iv, t.delta) else {
                    continue;
                };
                let otm = if t.right == Right::Call {
                    t.strike >= f
                } else {
                    t.strike <= f
                };
                if otm {
                    smile.push((t.strike, iv));
                }
                if t.right == Right::Call {
                    calls.push((delta, iv));
                } else {
                    puts.push((delta, iv));
                }
            }
            let atm = interpolate(&mut smile, f);
            let c25 = interpolate(&mut calls, 0.25);
            let p25 = interpolate(&mut puts, -0.25);
            let (rr25, bf25) = match (c25, p25, atm) {
                (Some(c), Some(p), Some(a)) => (Some(c - p), Some((c + p) / 2.0 - a)),
                (Some(c), Some(p), None) => (Some(c - p), None),
                _ => (None, None),
            };
            IvTerm {
                expiry,
                time_to_expiry: tte,
                atm_iv: atm,
                rr25,
                bf25,
                forward,
                trades: n,
            }
        })
        .collect()
}

/// Linear interpolation of `y` at `x` through points sorted by x; `None` outside their span.
fn interpolate(points: &mut [(f64, f64)], x: f64) -> Option<f64> {
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    let i = points.iter().position(|p| p.0 >= x)?;
    if points[i].0 == x {
        return Some(points[i].1);
    }
    let (x0, y0) = *points.get(i.checked_sub(1)?)?;
    let (x1, y1) = points[i];
    Some(y0 + (y1 - y0) * (x - x0) / (x1 - x0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_stays_inside_the_points() {
        let mut p = vec![(110.0, 0.2), (90.0, 0.3), (100.0, 0.25)];
        assert_eq!(interpolate(&mut p, 95.0), Some(0.275));
        assert_eq!(interpolate(&mut p, 100.0), Some(0.25));
        assert_eq!(interpolate(&mut p, 80.0), None);
        assert_eq!(interpolate(&mut p, 120.0), None);
    }
}
