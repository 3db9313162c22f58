//! Implied volatility: the Black–Scholes–Merton volatility that reproduces an option trade's
//! price, solved for every option trade in the postprocess stage (then [`enrich`] adds the
//! Greeks at that volatility).
//!
//! The solver follows the plan of Peter Jäckel's "Let's Be Rational" (2013/2016), written
//! here from the paper's description:
//!
//! 1. Normalise: with `x = ln(F/K)` and `β = price / √(F·K)` (undiscounted), the problem is
//!    `b(x, s) = β` for `s = σ√t`, where `b` is the normalised Black price. An in-the-money
//!    option is reduced to the out-of-the-money one by subtracting the intrinsic value
//!    (put–call parity), and a put to a call by `x → −x`, so the solver only ever sees
//!    `x <= 0` and `0 < β < e^{x/2}`.
//! 2. Split at the inflection point `s_c = √(2|x|)` of `b` in `s`: below it `b` is convex and
//!    is solved through `1/ln b(s) = 1/ln β`, above it concave and solved through
//!    `ln(e^{x/2} − b(s)) = ln(e^{x/2} − β)`, the complement computed as a sum of tails
//!    rather than a difference. Both objectives are close to linear in `s`.
//! 3. Start from an initial guess (see `guess_lower`/`guess_upper`) and take Householder steps
//!    of convergence order four (they use `b`, `b'`, `b''` and `b'''`, which here cost one
//!    `exp` and two `erfcx` per step), kept inside a bracket that every evaluation narrows.
//!
//! Prices that carry no information about volatility are flagged, never solved: below the
//! discounted intrinsic value, above the upper bound, at either bound to within f64 rounding
//! (no vega), zero or negative time, and NaN, infinite or negative inputs.

use xlfeed_core::ErrorKind;

use crate::bsm::{Contract, Eval, FRAC_1_SQRT_2PI, Greeks, Setup, erfcx, inverse_norm_cdf};

/// Why no implied volatility was returned for a price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IvError {
    /// The price is below the discounted intrinsic value `e^{−rt}·max(θ(F − K), 0)`.
    #[error("price is below the option's discounted intrinsic value")]
    BelowIntrinsic,
    /// The price is above `S·e^{−qt}` (call) or `K·e^{−rt}` (put).
    #[error(
        "price is above the option's upper bound (spot·e^-qt for a call, strike·e^-rt for a put)"
    )]
    AboveUpperBound,
    /// The option has expired (`t <= 0`).
    #[error("time to expiry is zero or negative")]
    ZeroTime,
    /// The price equals a bound of the price to within f64 rounding, so no volatility moves it.
    #[error("price is at a bound of the option's price to within rounding: no vega, no volatility")]
    NoVega,
    /// An input is NaN or infinite, or spot, strike or price is negative or zero where it
    /// cannot be.
    #[error(
        "an input is nan, infinite, or out of range (spot and strike must be positive, price non-negative)"
    )]
    BadInput,
}

impl IvError {
    /// Every IV failure is a property of the trade's inputs.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}

/// The volatility `σ` at which [`crate::bsm::price`] of `c` equals `price`.
///
/// Accurate to about 1e-13 relative wherever the price carries information about volatility
/// (its rounding is small against vega times the accuracy), and never NaN: see [`IvError`].
pub fn implied_vol(c: &Contract, price: f64) -> Result<f64, IvError> {
    let (setup, problem) = Problem::new(c, price)?;
    Ok(problem.solve().0 / setup.sqrt_t)
}

/// The implied volatility of `price` and the price and Greeks of `c` at that volatility, in
/// one pass (the contract's logarithm and exponentials are computed once).
pub fn enrich(c: &Contract, price: f64) -> Result<(f64, Greeks), IvError> {
    let (setup, problem) = Problem::new(c, price)?;
    let s = problem.solve().0;
    let vol = s / setup.sqrt_t;
    Ok((vol, setup.greeks(s, vol)))
}

/// Iterations a solve took, for the solver's own tests.
#[cfg(test)]
pub(crate) fn iterations(c: &Contract, price: f64) -> Result<u32, IvError> {
    let (_, problem) = Problem::new(c, price)?;
    Ok(problem.solve().1)
}

/// A price normalised and reduced to an out-of-the-money call: solve `b(x, s) = beta`.
#[derive(Debug, Clone, Copy)]
struct Problem {
    /// `−|ln(F/K)|`.
    x: f64,
    /// The normalised out-of-the-money price (time value), `0 < beta < bmax`.
    beta: f64,
    /// `bmax − beta`, the distance to the upper bound, taken from the undiscounted price.
    gap: f64,
    /// `e^{x/2}`, the limit of `b` as `s → ∞`.
    bmax: f64,
}

/// Relative rounding allowed when deciding that a price sits on a bound (f64 ulps).
const BOUND_ULPS: f64 = 16.0 * f64::EPSILON;
/// Most Householder steps a solve takes; two to three are typical.
const MAX_ITERATIONS: u32 = 12;
/// A step below this (relative) ends the solve: quartic convergence leaves ~1e-17 behind.
const STEP_TOLERANCE: f64 = 1e-5;

impl Problem {
    fn new(c: &Contract, price: f64) -> Result<(Setup, Problem), IvError> {
        let inputs = [c.spot, c.strike, c.t, c.r, c.q, price];
        if inputs.iter().any(|v| !v.is_finite()) || c.spot <= 0.0 || c.strike <= 0.0 || price < 0.0
        {
            return Err(IvError::BadInput);
        }
        if c.t <= 0.0 {
            return Err(IvError::ZeroTime);
        }
        let setup = Setup::new(c).ok_or(IvError::BadInput)?;
        let (theta, x, ex2) = (setup.theta, setup.x, setup.ex2);
        let norm = setup.kd * ex2;
        let beta = price / norm;
        if !beta.is_finite() {
            return Err(IvError::BadInput);
        }
        // Upper bound e^{θx/2} (S·e^{−qt} or K·e^{−rt} once scaled back).
        let upper = if theta > 0.0 { ex2 } else { 1.0 / ex2 };
        let gap = upper - beta;
        if gap < -BOUND_ULPS * upper {
            return Err(IvError::AboveUpperBound);
        }
        if gap <= BOUND_ULPS * upper {
            return Err(IvError::NoVega);
        }
        let itm = theta * x > 0.0;
        let time_value = if itm {
            beta - 2.0 * (0.5 * theta * x).sinh()
        } else {
            beta
        };
        let noise = if itm { BOUND_ULPS * beta } else { 0.0 };
        if time_value < -noise {
            return Err(IvError::BelowIntrinsic);
        }
        if time_value <= noise.max(f64::MIN_POSITIVE) {
            return Err(IvError::NoVega);
        }
        let xbar = -x.abs();
        let bmax = if itm || x == 0.0 {
            (0.5 * xbar).exp()
        } else {
            upper
        };
        Ok((
            setup,
            Problem {
                x: xbar,
                beta: time_value,
                gap,
                bmax,
            },
        ))
    }

    /// The normalised volatility `s` and the number of Householder steps taken.
    fn solve(&self) -> (f64, u32) {
        let (x, beta, bmax) = (self.x, self.beta, self.bmax);
        let sc = (-2.0 * x).sqrt();
        // b at the inflection point: d1 = 0, |d2| = s_c, e = e^{x/2}.
        let bc = 0.5 * bmax * (1.0 - erfcx((-x).sqrt()));
        if beta <= bc {
            self.iterate(Region::Lower, self.guess_lower(sc, bc), 0.0, sc)
        } else {
            self.iterate(Region::Upper, self.guess_upper(sc, bc), sc, f64::INFINITY)
        }
    }

    /// Initial guess below the inflection point.
    fn guess_lower(&self, sc: f64, bc: f64) -> f64 {
        let (x, beta) = (self.x, self.beta);
        // Tangent at s_c (b'(s_c) = e^{x/2}/√(2π), b''(s_c) = 0): an upper bound by convexity.
        let vc = self.bmax * FRAC_1_SQRT_2PI;
        let tangent = sc + (beta - bc) / vc;
        // Small-s asymptotics b ≈ (2π/(3√3))·|x|·Φ(−|x|/(√3·s))³ (Jäckel's lower map).
        let ratio = beta / (TWO_PI_OVER_SQRT_27 * (-x));
        let z = -inverse_norm_cdf(ratio.cbrt());
        let asymptotic = if z > 0.0 { -x / (SQRT_3 * z) } else { 0.0 };
        let s = asymptotic.max(tangent).max(0.0);
        if s > 0.0 && s < sc { s } else { 0.5 * sc }
    }

    /// Initial guess above the inflection point.
    fn guess_upper(&self, sc: f64, bc: f64) -> f64 {
        // For large s, bmax − b(s) → 2Φ(−s/2) whatever x is.
        let s = -2.0 * inverse_norm_cdf(0.5 * self.gap);
        let vc = self.bmax * FRAC_1_SQRT_2PI;
        let tangent = sc + (self.beta - bc) / vc;
        s.max(tangent)
    }

    fn iterate(&self, region: Region, mut s: f64, mut lo: f64, mut hi: f64) -> (f64, u32) {
        let ln_beta = self.beta.ln();
        let ln_gap = self.gap.ln();
        for i in 1..=MAX_ITERATIONS {
            let Some(step) = self.objective(region, s, ln_beta, ln_gap) else {
                // b underflowed (s far too small) or its complement did (s far too large).
                match region {
                    Region::Lower => lo = s,
                    Region::Upper => hi = s,
                }
                s = next_bisection(lo, hi, s);
                continue;
            };
            if step.g == 0.0 {
                return (s, i);
            }
            // The root lies above s when an increasing objective is negative there, or a
            // decreasing one positive.
            if (step.g < 0.0) == step.increasing {
                lo = lo.max(s);
            } else {
                hi = hi.min(s);
            }
            let nu = -step.g / step.dg;
            let den = 1.0 + nu * (step.h2 + step.h3 * nu / 6.0);
            let delta = if den > 0.0 {
                nu * (1.0 + 0.5 * step.h2 * nu) / den
            } else {
                nu
            };
            let mut next = s + delta;
            #[cfg(test)]
            if std::env::var("IV_TRACE").is_ok() {
                eprintln!(
                    "it {i} s={s} g={:e} dg={:e} h2={} h3={} nu={nu:e} delta={delta:e} lo={lo} hi={hi}",
                    step.g, step.dg, step.h2, step.h3
                );
            }
            if delta.abs() <= STEP_TOLERANCE * s {
                return (next, i);
            }
            if !(next > lo && next < hi) {
                next = next_bisection(lo, hi, s);
            }
            s = next;
        }
        (s, MAX_ITERATIONS)
    }

    /// The region's objective at `s` with its first derivative and the ratios
    /// `g''/g'`, `g'''/g'`; `None` where `b` or its complement underflows.
    #[inline]
    fn objective(&self, region: Region, s: f64, ln_beta: f64, ln_gap: f64) -> Option<Objective> {
        let (x, bmax) = (self.x, self.bmax);
        let ev = Eval::new(x, s);
        // b' = e/√(2π); k1 = b''/b' = (h² − t²)/s; k1' = d(k1)/ds.
        let db = ev.e * FRAC_1_SQRT_2PI;
        let hh = (x / s) * (x / s);
        let k1 = hh / s - 0.25 * s;
        let dk1 = -3.0 * hh / (s * s) - 0.25;
        match region {
            Region::Lower => {
                // g = 1/ln b − 1/ln β, decreasing in s.
                let b = if ev.d1 <= 0.0 {
                    ev.a - ev.b
                } else {
                    bmax - ev.a - ev.b
                };
                if b <= 0.0 {
                    return None;
                }
                let l = b.ln();
                let q = db / b;
                let r = (k1 - q) - 2.0 * q / l;
                let dr = dk1 - q * (k1 - q) * (1.0 + 2.0 / l) + 2.0 * q * q / (l * l);
                Some(Objective {
                    g: 1.0 / l - 1.0 / ln_beta,
                    dg: -q / (l * l),
                    h2: r,
                    h3: r * r + dr,
                    increasing: false,
                })
            }
            Region::Upper => {
                // g = ln(bmax − β) − ln(bmax − b), increasing in s; the complement is a sum
                // of tails above s_c.
                let c = if ev.d1 > 0.0 {
                    ev.a + ev.b
                } else {
                    bmax - (ev.a - ev.b)
                };
                if c <= 0.0 {
                    return None;
                }
                let p = db / c;
                let h2 = k1 + p;
                Some(Objective {
                    g: ln_gap - c.ln(),
                    dg: p,
                    h2,
                    h3: h2 * h2 + dk1 + p * h2,
                    increasing: true,
                })
            }
        }
    }
}

/// One evaluation of a solver objective `g(s)`.
#[derive(Debug, Clone, Copy)]
struct Objective {
    g: f64,
    /// `g'(s)`.
    dg: f64,
    /// `g''/g'`.
    h2: f64,
    /// `g'''/g'`.
    h3: f64,
    increasing: bool,
}

/// Which objective the solver uses (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Region {
    Lower,
    Upper,
}

/// A point inside `(lo, hi)` when a step left the bracket; doubles `s` while `hi` is open.
fn next_bisection(lo: f64, hi: f64, s: f64) -> f64 {
    if hi.is_finite() {
        if lo > 0.0 { (lo * hi).sqrt() } else { 0.5 * hi }
    } else {
        2.0 * s.max(lo)
    }
}

const TWO_PI_OVER_SQRT_27: f64 = 1.209_199_576_156_145_2;
const SQRT_3: f64 = 1.732_050_807_568_877_2;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bsm::{Right, price};

    #[test]
    #[ignore = "exploration"]
    fn trace_one() {
        let c = Contract {
            right: Right::Call,
            spot: 100.0,
            strike: 95.0,
            t: 2.0,
            r: 0.03,
            q: 0.01,
        };
        let p = price(&c, 3.0);
        println!("{:?}", implied_vol(&c, p));
    }

    #[test]
    #[ignore = "exploration: prints iteration counts and errors over a grid"]
    fn iteration_survey() {
        use crate::bsm::greeks;
        let mut hist = [0usize; 13];
        let mut worst = (0.0f64, 0.0, 0.0, 0.0);
        let mut n = 0;
        let mut skipped = 0;
        for &m in &[
            0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0, 1.01, 1.05, 1.1, 1.2, 1.3, 1.6, 2.0, 3.0,
        ] {
            for &days in &[
                1.0, 3.0, 7.0, 14.0, 30.0, 60.0, 91.0, 182.0, 365.0, 730.0, 1825.0,
            ] {
                for &vol in &[0.01, 0.03, 0.1, 0.2, 0.3, 0.5, 0.8, 1.2, 2.0, 3.0] {
                    for right in [Right::Call, Right::Put] {
                        let c = Contract {
                            right,
                            spot: 100.0,
                            strike: 100.0 * m,
                            t: days / 365.0,
                            r: 0.03,
                            q: 0.01,
                        };
                        let p = price(&c, vol);
                        let vega = greeks(&c, vol).vega * 100.0;
                        // vol error that one ulp of the price amounts to
                        let noise = f64::EPSILON * p / vega;
                        if noise > 1e-10 {
                            skipped += 1;
                            continue;
                        }
                        if let Ok(it) = iterations(&c, p) {
                            hist[it as usize] += 1;
                            n += 1;
                            let v = implied_vol(&c, p).unwrap();
                            let err = (v - vol).abs() / vol;
                            if err > worst.0 {
                                worst = (err, m, days, vol);
                            }
                            if it >= 4 || err > 1e-12 {
                                println!(
                                    "{right:?} m={m} days={days} vol={vol} it={it} err={err:e} noise={noise:e} got={v}"
                                );
                            }
                        }
                    }
                }
            }
        }
        println!(
            "solved {n}, skipped {skipped}, iterations histogram {hist:?}, worst rel err {worst:?}"
        );
    }
}
