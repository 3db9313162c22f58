//! Risk-free rates: one curve's quotes turned into continuously compounded zero rates, and the
//! policy that says which curve to use on a date.
//!
//! Postprocess reads the curves `import rates` put in FEED (USD LIBOR, SOFR, the Treasury par
//! curve), picks one for the option trade's date with [`CurvePolicy`], and asks the
//! [`Curve`] for the zero rate at the option's time to expiry.
//!
//! # Conventions
//!
//! Time is act/365: a tenor or a time to expiry of `d` calendar days is `t = d / 365` years.
//! Every quote becomes a node `(t, z)` of a zero curve, `z` continuously compounded:
//!
//! - money-market (`M`, LIBOR and SOFR, simple act/360): the discount factor is
//!   `1 / (1 + L·d/360)`, so `z = ln(1 + L·d/360) / t`;
//! - zero (`Z`): `z` as quoted;
//! - par (`P`, Treasury constant-maturity yields, bond-equivalent, semi-annual): a tenor of
//!   half a year or less is a bill, `DF = 1 / (1 + y·t)`; a longer tenor is a bond paying
//!   `y/2` every half year back from its maturity, priced at par (dirty price `1 + accrued`,
//!   the first period short when the tenor is not a whole number of half years). The curve is
//!   bootstrapped: each bond's zero rate is solved so that the bond reprices to par on the
//!   curve built so far, its coupons between the previous node and its own maturity
//!   discounted on the very line being solved for.
//!
//! Between nodes the zero rate is linear in `t`; before the first node and after the last it
//! is flat. A curve may mix conventions (the nodes are taken in tenor order whatever their
//! quoting). A curve that is used many times should be converted once with [`Curve::zeros`].

use std::fmt;

use xlfeed_core::records::{RatePoint, rate_convention};
use xlfeed_core::{ErrorKind, TradingDay};

use crate::dividends::day_number;

/// Days in the act/365 year.
const YEAR_DAYS: f64 = 365.0;

/// Largest tenor in days a point may have (100 years).
const MAX_TENOR_DAYS: i64 = 36_500;

/// One curve on one date.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// The curve's name as stored (`USD_LIBOR`, `SOFR`, `UST_PAR`).
    pub name: String,
    /// The curve's date, `yyyymmdd`.
    pub date: u32,
    /// The quotes, in any order.
    pub points: Vec<RatePoint>,
}

impl Curve {
    /// Continuously compounded zero rate for `days` calendar days (act/365 time).
    ///
    /// Money-market and par quotes are converted to zero rates first, the par curve
    /// bootstrapped semi-annually; zero rates are linear in time between the quoted tenors and
    /// flat beyond the ends (see the module docs). Errors name the curve, its date and the bad
    /// value: an empty curve, a bad point, or `days` negative or not finite.
    pub fn zero_rate(&self, days: f64) -> Result<f64, RateError> {
        self.zeros()?.rate(days)
    }

    /// The curve converted to continuously compounded zero rates, once, for many look-ups.
    pub fn zeros(&self) -> Result<ZeroCurve, RateError> {
        if self.points.is_empty() {
            return Err(RateError::Empty {
                curve: self.name.clone(),
                date: self.date,
            });
        }
        let mut points: Vec<&RatePoint> = self.points.iter().collect();
        points.sort_by_key(|p| p.tenor_days);
        let mut nodes: Vec<(f64, f64)> = Vec::with_capacity(points.len());
        let mut previous_tenor = None;
        for p in points {
            self.check(p)?;
            if previous_tenor == Some(p.tenor_days) {
                return Err(self.bad(p, "appears twice"));
            }
            previous_tenor = Some(p.tenor_days);
            let t = p.tenor_days as f64 / YEAR_DAYS;
            let z = match p.convention {
                rate_convention::ZERO => p.rate,
                rate_convention::MONEY_MARKET => {
                    let interest = p.rate * p.tenor_days as f64 / 360.0;
                    if interest <= -1.0 {
                        return Err(self.bad(p, "gives a negative discount factor"));
                    }
                    interest.ln_1p() / t
                }
                rate_convention::PAR if t <= 0.5 => {
                    let interest = p.rate * t;
                    if interest <= -1.0 {
                        return Err(self.bad(p, "gives a negative discount factor"));
                    }
                    interest.ln_1p() / t
                }
                rate_convention::PAR => par_bond_zero(&nodes, t, p.rate)
                    .ok_or_else(|| self.bad(p, "has no zero rate that reprices its bond to par"))?,
                other => {
                    return Err(RateError::Convention {
                        curve: self.name.clone(),
                        date: Ymd(self.date),
                        tenor_days: p.tenor_days,
                        convention: other,
                    });
                }
            };
            if !z.is_finite() {
                return Err(self.bad(p, "gives a zero rate that is not finite"));
            }
            nodes.push((t, z));
        }
        Ok(ZeroCurve {
            name: self.name.clone(),
            date: self.date,
            nodes,
        })
    }

    /// Checks one point's tenor and rate.
    fn check(&self, p: &RatePoint) -> Result<(), RateError> {
        if p.tenor_days <= 0 || p.tenor_days > MAX_TENOR_DAYS {
            return Err(self.bad(p, "has a tenor that is not between 1 and 36500 days"));
        }
        if !p.rate.is_finite() {
            return Err(self.bad(p, "is not a finite number"));
        }
        if p.rate.abs() >= 1.0 {
            return Err(self.bad(
                p,
                "is not a decimal fraction (a percentage? 5.25% is 0.0525)",
            ));
        }
        Ok(())
    }

    /// A bad-point error for `p`.
    fn bad(&self, p: &RatePoint, reason: &'static str) -> RateError {
        RateError::BadPoint {
            curve: self.name.clone(),
            date: Ymd(self.date),
            tenor_days: p.tenor_days,
            rate: p.rate,
            reason,
        }
    }
}

/// The zero rate at `t` on `nodes` (sorted by time, not empty): linear between nodes, flat
/// beyond the ends.
fn interpolate(nodes: &[(f64, f64)], t: f64) -> f64 {
    let (first, last) = (nodes[0], nodes[nodes.len() - 1]);
    if t <= first.0 {
        return first.1;
    }
    if t >= last.0 {
        return last.1;
    }
    let i = nodes.partition_point(|n| n.0 <= t);
    let ((t0, z0), (t1, z1)) = (nodes[i - 1], nodes[i]);
    z0 + (z1 - z0) * (t - t0) / (t1 - t0)
}

/// The zero rate at `t` (> 0.5) that prices a bond paying `y/2` every half year back from `t`
/// at par, given the nodes before it; `None` when Newton's method finds none.
///
/// Coupons at or before the last node are discounted on the existing curve; those after it on
/// the line from the last node to the unknown `(t, z)` (or flat at `z` when there is no node
/// yet). Each discount factor falls as `z` rises, so the price is monotone in `z` and the root,
/// when there is one, is unique.
fn par_bond_zero(nodes: &[(f64, f64)], t: f64, y: f64) -> Option<f64> {
    let coupon = y / 2.0;
    // Coupon times back from maturity; the first one (the smallest) sets the accrued interest.
    let n = (t / 0.5 - 1e-9).floor() as usize;
    let first = t - 0.5 * n as f64;
    let accrued = coupon * (0.5 - first) / 0.5;
    let last = nodes.last().copied();
    // Discount factor at `c` and its derivative in `z`.
    let df = |c: f64, z: f64| -> (f64, f64) {
        match last {
            Some((tn, _)) if c <= tn => ((-interpolate(nodes, c) * c).exp(), 0.0),
            Some((tn, zn)) => {
                let w = (c - tn) / (t - tn);
                let zc = zn + (z - zn) * w;
                let d = (-zc * c).exp();
                (d, -c * w * d)
            }
            None => {
                let d = (-z * c).exp();
                (d, -c * d)
            }
        }
    };
    let mut z = 2.0 * coupon.ln_1p();
    for _ in 0..60 {
        let (mut price, mut slope) = (-(1.0 + accrued), 0.0);
        for k in 0..=n {
            let c = first + 0.5 * k as f64;
            let flow = if k == n { 1.0 + coupon } else { coupon };
            let (d, dd) = df(c, z);
            price += flow * d;
            slope += flow * dd;
        }
        if !price.is_finite() || slope >= 0.0 || !slope.is_finite() {
            return None;
        }
        let step = price / slope;
        z -= step;
        if step.abs() < 1e-15 {
            return z.is_finite().then_some(z);
        }
    }
    None
}

/// A curve as continuously compounded zero rates against act/365 time.
#[derive(Debug, Clone, PartialEq)]
pub struct ZeroCurve {
    name: String,
    date: u32,
    nodes: Vec<(f64, f64)>,
}

impl ZeroCurve {
    /// The zero rate for `days` calendar days: linear between nodes, flat beyond the ends.
    /// Errors when `days` is negative or not finite.
    pub fn rate(&self, days: f64) -> Result<f64, RateError> {
        if !(days >= 0.0 && days.is_finite()) {
            return Err(RateError::BadDays {
                curve: self.name.clone(),
                date: Ymd(self.date),
                days,
            });
        }
        Ok(interpolate(&self.nodes, days / YEAR_DAYS))
    }

    /// The discount factor `e^{-z·t}` for `days` calendar days.
    pub fn discount(&self, days: f64) -> Result<f64, RateError> {
        Ok((-self.rate(days)? * days / YEAR_DAYS).exp())
    }

    /// The nodes: `(t` in years act/365, zero rate`)`, sorted by time.
    pub fn nodes(&self) -> &[(f64, f64)] {
        &self.nodes
    }

    /// The curve's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The curve's date, `yyyymmdd`.
    pub fn date(&self) -> u32 {
        self.date
    }
}

/// Which curve to use on a date: ordered preferences per date range, then fallbacks.
///
/// The text form, as [`CurvePolicy::parse`] reads it and `Display` writes it:
///
/// ```text
/// ..2023-06-30=USD_LIBOR,2023-07-01..=SOFR;fallback=UST_PAR;max_age=7
/// ```
///
/// - Parts are separated by `;`: a list of rules, `fallback=...`, `max_age=DAYS`, in any
///   order.
/// - Rules are separated by `,`; a rule is `RANGE=CURVE|CURVE...`, the curves in order of
///   preference. `RANGE` is `FROM..TO` (both inclusive; either end may be left out to leave
///   it open) or a single date; dates are `YYYY-MM-DD` or `YYYYMMDD`.
/// - `fallback=CURVE|CURVE...`: curves to try on any date after the rules' own.
/// - `max_age=DAYS` (default 7): how many calendar days before the trade's date a curve's
///   latest date may be and still count as there (weekends and holidays have no curve); see
///   [`CurvePolicy::select`].
///
/// Curve names are upper-cased; ranges may overlap (their curves are tried in the order the
/// rules are written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurvePolicy {
    rules: Vec<Rule>,
    fallback: Vec<String>,
    max_age_days: u32,
}

/// One date range's curves.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    from: Option<u32>,
    to: Option<u32>,
    curves: Vec<String>,
}

/// The default `max_age`.
const DEFAULT_MAX_AGE_DAYS: u32 = 7;

impl CurvePolicy {
    /// The market's default for USD: USD LIBOR up to and including 2023-06-30 (its panel's last
    /// day), SOFR from 2023-07-01, the Treasury par curve (`UST_PAR`) when the preferred curve
    /// is missing; `max_age` 7 days.
    pub fn default_usd() -> CurvePolicy {
        CurvePolicy {
            rules: vec![
                Rule {
                    from: None,
                    to: Some(20230630),
                    curves: vec!["USD_LIBOR".to_string()],
                },
                Rule {
                    from: Some(20230701),
                    to: None,
                    curves: vec!["SOFR".to_string()],
                },
            ],
            fallback: vec!["UST_PAR".to_string()],
            max_age_days: DEFAULT_MAX_AGE_DAYS,
        }
    }

    /// Parses the text form (see the type's docs); the error names the policy and the bad
    /// part.
    pub fn parse(s: &str) -> Result<CurvePolicy, RateError> {
        let bad = |reason: String| RateError::Policy {
            policy: s.to_string(),
            reason,
        };
        let mut policy = CurvePolicy {
            rules: Vec::new(),
            fallback: Vec::new(),
            max_age_days: DEFAULT_MAX_AGE_DAYS,
        };
        let (mut seen_fallback, mut seen_age) = (false, false);
        for part in s.split(';').map(str::trim) {
            if part.is_empty() {
                continue;
            }
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            if key.trim() == "fallback" {
                if seen_fallback {
                    return Err(bad("fallback is given twice".to_string()));
                }
                seen_fallback = true;
                policy.fallback = curve_list(value).map_err(&bad)?;
            } else if key.trim() == "max_age" {
                if seen_age {
                    return Err(bad("max_age is given twice".to_string()));
                }
                seen_age = true;
                let days = value.trim();
                policy.max_age_days = days.parse().map_err(|_| {
                    bad(format!("max_age \"{days}\" is not a whole number of days"))
                })?;
            } else {
                for rule in part.split(',').map(str::trim) {
                    policy.rules.push(parse_rule(rule).map_err(&bad)?);
                }
            }
        }
        if policy.rules.is_empty() && policy.fallback.is_empty() {
            return Err(bad("names no curve".to_string()));
        }
        Ok(policy)
    }

    /// The curve names to try on `day` (`yyyymmdd`), most preferred first: the curves of the
    /// rules whose range holds the day, in the order written, then the fallbacks; each name
    /// once.
    pub fn candidates(&self, day: u32) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        let ruled = self
            .rules
            .iter()
            .filter(|r| r.from.is_none_or(|f| f <= day) && r.to.is_none_or(|t| day <= t))
            .flat_map(|r| r.curves.iter());
        for name in ruled.chain(self.fallback.iter()) {
            if !out.contains(&name.as_str()) {
                out.push(name);
            }
        }
        out
    }

    /// How many calendar days old a curve may be and still count as there.
    pub fn max_age_days(&self) -> u32 {
        self.max_age_days
    }

    /// Picks the curve for `day`. `latest(name)` finds the latest curve of that name dated on
    /// or before `day` and returns its date (`yyyymmdd`) and whatever the caller wants back
    /// (the curve itself, say). The first candidate whose latest curve is at most `max_age`
    /// days old wins; when none is that fresh, the candidate with the most recent curve (the
    /// more preferred on a tie), so that a gap in every curve still gives a rate and the
    /// caller, seeing the date, can flag it. `None` when no candidate has a curve at all.
    pub fn select<T>(
        &self,
        day: u32,
        mut latest: impl FnMut(&str) -> Option<(u32, T)>,
    ) -> Option<Selected<'_, T>> {
        let today = day_number(day);
        let mut stale: Option<Selected<'_, T>> = None;
        for name in self.candidates(day) {
            let Some((date, value)) = latest(name) else {
                continue;
            };
            let age = today - day_number(date);
            let found = Selected {
                curve: name,
                date,
                age_days: age,
                value,
            };
            if (0..=i64::from(self.max_age_days)).contains(&age) {
                return Some(found);
            }
            if stale.as_ref().is_none_or(|s| date > s.date) {
                stale = Some(found);
            }
        }
        stale
    }
}

/// What [`CurvePolicy::select`] picked.
#[derive(Debug, Clone, PartialEq)]
pub struct Selected<'a, T> {
    /// The curve's name.
    pub curve: &'a str,
    /// The curve's date, `yyyymmdd`.
    pub date: u32,
    /// Calendar days from the curve's date to the day asked for.
    pub age_days: i64,
    /// What the look-up returned with the date.
    pub value: T,
}

impl Default for CurvePolicy {
    fn default() -> Self {
        CurvePolicy::default_usd()
    }
}

impl fmt::Display for CurvePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if !self.rules.is_empty() {
            let rules: Vec<String> = self
                .rules
                .iter()
                .map(|r| {
                    let range = match (r.from, r.to) {
                        (Some(a), Some(b)) if a == b => Ymd(a).to_string(),
                        (a, b) => format!(
                            "{}..{}",
                            a.map(|d| Ymd(d).to_string()).unwrap_or_default(),
                            b.map(|d| Ymd(d).to_string()).unwrap_or_default()
                        ),
                    };
                    format!("{range}={}", r.curves.join("|"))
                })
                .collect();
            parts.push(rules.join(","));
        }
        if !self.fallback.is_empty() {
            parts.push(format!("fallback={}", self.fallback.join("|")));
        }
        parts.push(format!("max_age={}", self.max_age_days));
        f.write_str(&parts.join(";"))
    }
}

/// `RANGE=CURVE|CURVE...`.
fn parse_rule(rule: &str) -> Result<Rule, String> {
    let Some((range, curves)) = rule.split_once('=') else {
        return Err(format!("rule \"{rule}\" is not RANGE=CURVE"));
    };
    let curves = curve_list(curves)?;
    let range = range.trim();
    let date = |s: &str| -> Result<Option<u32>, String> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(None);
        }
        TradingDay::parse(s)
            .map(|d| Some(d.yyyymmdd()))
            .map_err(|e| format!("rule \"{rule}\": {e}"))
    };
    let (from, to) = match range.split_once("..") {
        Some((a, b)) => (date(a)?, date(b)?),
        None if range.is_empty() => {
            return Err(format!("rule \"{rule}\" has no date range"));
        }
        None => {
            let d = date(range)?;
            (d, d)
        }
    };
    if let (Some(a), Some(b)) = (from, to)
        && a > b
    {
        return Err(format!(
            "rule \"{rule}\": range starts after it ends ({} > {})",
            Ymd(a),
            Ymd(b)
        ));
    }
    Ok(Rule { from, to, curves })
}

/// `CURVE|CURVE...`, upper-cased; names are letters, digits and `_`.
fn curve_list(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for name in s.split('|').map(str::trim) {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(format!(
                "curve name \"{name}\" is not letters, digits and '_'"
            ));
        }
        out.push(name.to_ascii_uppercase());
    }
    Ok(out)
}

/// A `yyyymmdd` date shown as `YYYY-MM-DD` in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ymd(pub u32);

impl fmt::Display for Ymd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        write!(f, "{:04}-{:02}-{:02}", d / 10_000, d / 100 % 100, d % 100)
    }
}

/// A rate curve or curve policy that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RateError {
    /// The curve has no points.
    #[error("curve {curve} on {} has no points", Ymd(*date))]
    Empty {
        /// The curve's name.
        curve: String,
        /// Its date, `yyyymmdd`.
        date: u32,
    },
    /// A point is out of range or cannot be converted to a zero rate.
    #[error("curve {curve} on {date}: rate {rate} at tenor {tenor_days} days {reason}")]
    BadPoint {
        /// The curve's name.
        curve: String,
        /// Its date.
        date: Ymd,
        /// The point's tenor.
        tenor_days: i64,
        /// The point's rate.
        rate: f64,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A point's convention is not one of `M`, `P`, `Z`.
    #[error(
        "curve {curve} on {date}: unknown convention {convention:?} at tenor {tenor_days} days (expected 'M', 'P' or 'Z')"
    )]
    Convention {
        /// The curve's name.
        curve: String,
        /// Its date.
        date: Ymd,
        /// The point's tenor.
        tenor_days: i64,
        /// The convention found.
        convention: char,
    },
    /// A time to expiry that is negative or not finite.
    #[error("curve {curve} on {date}: {days} days is not a time to expiry")]
    BadDays {
        /// The curve's name.
        curve: String,
        /// Its date.
        date: Ymd,
        /// The days asked for.
        days: f64,
    },
    /// A curve policy that does not parse.
    #[error("curve policy \"{policy}\": {reason}")]
    Policy {
        /// The policy text.
        policy: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl RateError {
    /// The error's classification.
    pub fn kind(&self) -> ErrorKind {
        match self {
            RateError::Empty { .. } => ErrorKind::NotFound,
            RateError::BadPoint { .. }
            | RateError::Convention { .. }
            | RateError::BadDays { .. }
            | RateError::Policy { .. } => ErrorKind::InvalidArgument,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn policies_print_and_parse_back(
            rules in prop::collection::vec(
                (prop::option::of(19000101u32..21991231), 0u32..5000, prop::bool::ANY,
                 prop::collection::vec("[A-Z][A-Z0-9_]{0,8}", 1..3)),
                0..4),
            fallback in prop::collection::vec("[A-Z][A-Z0-9_]{0,8}", 1..3),
            age in 0u32..100,
        ) {
            let valid = |d: u32| TradingDay::from_yyyymmdd(d).is_ok();
            let rules: Vec<Rule> = rules
                .into_iter()
                .filter_map(|(from, span, open_end, curves)| {
                    let from = from.filter(|d| valid(*d));
                    let to = if open_end {
                        None
                    } else {
                        let mut end = TradingDay::from_yyyymmdd(from.unwrap_or(20000101)).ok()?;
                        for _ in 0..span {
                            end = end.succ()?;
                        }
                        Some(end.yyyymmdd())
                    };
                    Some(Rule { from, to, curves })
                })
                .collect();
            let policy = CurvePolicy { rules, fallback, max_age_days: age };
            let text = policy.to_string();
            prop_assert_eq!(CurvePolicy::parse(&text).unwrap(), policy);
        }

        #[test]
        fn policy_parse_never_panics(s in ".{0,60}") {
            let _ = CurvePolicy::parse(&s);
        }
    }

    #[test]
    fn default_prints_as_its_text() {
        let text = "..2023-06-30=USD_LIBOR,2023-07-01..=SOFR;fallback=UST_PAR;max_age=7";
        assert_eq!(CurvePolicy::default_usd().to_string(), text);
        assert_eq!(
            CurvePolicy::parse("..2023-06-30=USD_LIBOR,2023-07-01..=SOFR;fallback=UST_PAR")
                .unwrap(),
            CurvePolicy::default_usd()
        );
    }
}
