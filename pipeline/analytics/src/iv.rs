//! Implied volatility: the Black–Scholes–Merton volatility that reproduces an option trade's
//! price, solved for every option trade in the postprocess stage; [`enrich`] adds the price
//! and Greeks at that volatility in the same pass, [`enrich_batch`] does so for many trades at
//! once.
//!
//! The solver follows the plan of Peter Jäckel's "Let's Be Rational" (2013/2016), written
//! here from the paper's description, with its initial guess taken from tables instead of
//! rational interpolation:
//!
//! 1. Normalise: with `x = ln(F/K)` and `β = price / (K·e^{−rt}·e^{x/2})`, the problem is
//!    `b(x, s) = β` for `s = σ√t`, where `b` is the normalised Black price. An in-the-money
//!    option is reduced to the out-of-the-money one by subtracting the intrinsic value
//!    (put–call parity), and a put to a call by `x → −x`, so the solver only ever sees
//!    `x <= 0` and `0 < β < e^{x/2}`.
//! 2. Split at the inflection point `s_c = √(2|x|)` of `b` in `s`: below it `b` is convex and
//!    is solved through `1/ln b(s) = 1/ln β`, above it concave and solved through
//!    `ln(e^{x/2} − b(s)) = ln(e^{x/2} − β)`, the complement computed as a sum of tails
//!    rather than a difference. Both objectives are close to linear in `s`.
//! 3. Start from a guess interpolated in a table of exact solutions built once per process
//!    (`Tables`, within about 1e-4 for `|x| <= 2`), or from asymptotic guesses beyond it, and
//!    take Householder steps of convergence order four (they use `b` and its first three
//!    derivatives in `s`, which cost one `exp` and two `erfcx`), kept inside a bracket that
//!    every evaluation narrows. A step below 1e-4 relative leaves an error of the order of its
//!    fourth power and ends the solve: one step from the table's guess is the usual case.
//!
//! Prices that carry no information about volatility are flagged, never solved: below the
//! discounted intrinsic value, above the upper bound, at either bound to within f64 rounding
//! (no vega), zero or negative time, and NaN, infinite or negative inputs.

use std::sync::OnceLock;

use xlfeed_core::ErrorKind;

use crate::bsm::{Contract, Eval, Greeks, Setup, two_sinh_half};
use crate::special::{
    ERF_SMALL_LIMIT, FRAC_1_SQRT_2PI, erf_small, erfcx, inverse_norm_cdf, inverse_norm_cdf_of_ln,
    norm_cdf,
};

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
/// Within 1e-10 of the true volatility wherever the price carries that information (its f64
/// rounding moves the volatility by less than 1e-11), typically within 1e-13 relative; never
/// NaN, infinite or non-positive. Prices that imply no volatility are flagged: see
/// [`IvError`].
pub fn implied_vol(c: &Contract, price: f64) -> Result<f64, IvError> {
    let (setup, problem) = Problem::new(c, price)?;
    let mut state = problem.start(Some(tables()));
    problem.finish(&mut state);
    Ok(state.s * setup.inv_sqrt_t())
}

/// The implied volatility of `price` and the price and Greeks of `c` at that volatility, in
/// one pass (the contract's logarithm and exponentials are computed once).
pub fn enrich(c: &Contract, price: f64) -> Result<(f64, Greeks), IvError> {
    let (setup, problem) = Problem::new(c, price)?;
    let mut state = problem.start(Some(tables()));
    problem.finish(&mut state);
    let vol = state.s * setup.inv_sqrt_t();
    Ok((vol, setup.greeks(vol * setup.sqrt_t, vol)))
}

/// [`enrich`] for many `(contract, price)` pairs, appending one result per pair to `out` in
/// order.
///
/// Same results as [`enrich`] on each pair, faster: the trades go through the solver a few at
/// a time in lockstep, so the processor overlaps their independent chains of
/// `exp`/`ln`/`erfcx` latency instead of waiting on one trade's at a time.
pub fn enrich_batch(items: &[(Contract, f64)], out: &mut Vec<Result<(f64, Greeks), IvError>>) {
    const LANES: usize = 4;
    out.reserve(items.len());
    let tables = tables();
    for group in items.chunks(LANES) {
        let mut lanes: [Option<(Setup, Problem, State)>; LANES] = [None; LANES];
        let mut results: [Result<(f64, Greeks), IvError>; LANES] = [Err(IvError::BadInput); LANES];
        for (k, (c, price)) in group.iter().enumerate() {
            match Problem::new(c, *price) {
                Ok((setup, problem)) => lanes[k] = Some((setup, problem, State::default())),
                Err(e) => results[k] = Err(e),
            }
        }
        for (_, problem, state) in lanes.iter_mut().flatten() {
            *state = problem.start(Some(tables));
        }
        for (_, problem, state) in lanes.iter_mut().flatten() {
            problem.step(state);
        }
        for (_, problem, state) in lanes.iter_mut().flatten() {
            problem.finish(state);
        }
        for (k, lane) in lanes.iter().enumerate() {
            if let Some((setup, _, state)) = lane {
                let vol = state.s * setup.inv_sqrt_t();
                results[k] = Ok((vol, setup.greeks(vol * setup.sqrt_t, vol)));
            }
        }
        out.extend_from_slice(&results[..group.len()]);
    }
}

/// Iterations a solve took, for the solver's own tests.
#[cfg(test)]
pub(crate) fn iterations(c: &Contract, price: f64) -> Result<u32, IvError> {
    let (_, problem) = Problem::new(c, price)?;
    let mut state = problem.start(Some(tables()));
    problem.finish(&mut state);
    Ok(state.iterations)
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
    /// `e^{−x/2}`.
    inv_bmax: f64,
}

/// Relative rounding allowed when deciding that a price sits on a bound (f64 ulps).
const BOUND_ULPS: f64 = 16.0 * f64::EPSILON;
/// Most Householder steps a solve takes; one is typical, two from the asymptotic guesses.
const MAX_ITERATIONS: u32 = 12;
/// A step below this (relative) ends the solve: with convergence of order four the error
/// left behind is of the order of its fourth power, 1e-16.
const STEP_TOLERANCE: f64 = 1e-4;

/// Where a solve stands: the iterate, the bracket around the root, and the target of the
/// region's objective.
#[derive(Debug, Clone, Copy, Default)]
struct State {
    s: f64,
    lo: f64,
    hi: f64,
    /// Lower region: `1/ln β`; upper region: `ln(bmax − β)`.
    target: f64,
    upper: bool,
    done: bool,
    iterations: u32,
}

impl Problem {
    #[inline(always)]
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
        let (theta, x, ex2, inv_ex2) = (setup.theta, setup.x, setup.ex2, setup.inv_ex2);
        let beta = price / (setup.kd * ex2);
        if !beta.is_finite() {
            return Err(IvError::BadInput);
        }
        // Upper bound e^{θx/2} (S·e^{−qt} or K·e^{−rt} once scaled back).
        let upper = if theta > 0.0 { ex2 } else { inv_ex2 };
        let gap = upper - beta;
        if gap < -BOUND_ULPS * upper {
            return Err(IvError::AboveUpperBound);
        }
        if gap <= BOUND_ULPS * upper {
            return Err(IvError::NoVega);
        }
        let itm = theta * x > 0.0;
        let (time_value, noise) = if itm {
            (
                beta - theta * two_sinh_half(x, ex2, inv_ex2),
                BOUND_ULPS * beta,
            )
        } else {
            (beta, 0.0)
        };
        if time_value < -noise {
            return Err(IvError::BelowIntrinsic);
        }
        if time_value <= noise.max(f64::MIN_POSITIVE) {
            return Err(IvError::NoVega);
        }
        Ok((
            setup,
            Problem {
                x: -x.abs(),
                beta: time_value,
                gap,
                bmax: ex2.min(inv_ex2),
                inv_bmax: ex2.max(inv_ex2),
            },
        ))
    }

    /// The initial guess, bracket and objective: from the tables where they cover the
    /// problem (`tables` is `None` while the tables themselves are being built), else from
    /// asymptotics.
    #[inline(always)]
    fn start(&self, tables: Option<&Tables>) -> State {
        let (x, beta, bmax) = (self.x, self.beta, self.bmax);
        let root = (-x).sqrt();
        let sc = std::f64::consts::SQRT_2 * root;
        // b at the inflection point (d1 = 0, |d2| = s_c): ½(e^{x/2} − e^{−x/2}·erfc(√|x|)),
        // written so that no exponential is needed.
        let bc = if root < ERF_SMALL_LIMIT {
            0.5 * (bmax - (1.0 - erf_small(root)) * self.inv_bmax)
        } else {
            0.5 * bmax * (1.0 - erfcx(root))
        };
        // First table coordinate, √(|x|/TABLE_MAX_X).
        let p = root * TABLE_SCALE;
        let in_table = tables.filter(|_| p <= 1.0);
        if beta <= bc {
            let ln_beta = beta.ln();
            let mut s = match in_table {
                Some(t) => sc * t.lower.at(p, lower_coordinate(ln_beta - bc.ln())),
                None => 0.0,
            };
            if !(s > 0.0 && s < sc) {
                s = self.guess_lower(sc, bc, ln_beta);
            }
            State {
                s,
                lo: 0.0,
                hi: sc,
                target: 1.0 / ln_beta,
                ..State::default()
            }
        } else {
            // For large s, bmax − b(s) → 2Φ(−s/2) whatever x is: the reference guess, exact
            // at x = 0, that the upper table corrects.
            let reference = -2.0 * inverse_norm_cdf(0.5 * self.gap);
            let mut s = match in_table {
                Some(t) => reference * t.upper.at(p, sc / reference),
                None => 0.0,
            };
            if !(s > sc && s.is_finite()) {
                let vc = bmax * FRAC_1_SQRT_2PI;
                s = reference.max(sc + (beta - bc) / vc);
            }
            State {
                s,
                lo: sc,
                hi: f64::INFINITY,
                target: self.gap.ln(),
                upper: true,
                ..State::default()
            }
        }
    }

    /// Asymptotic initial guess below the inflection point.
    fn guess_lower(&self, sc: f64, bc: f64, ln_beta: f64) -> f64 {
        let (x, beta) = (self.x, self.beta);
        // Tangent at s_c (b'(s_c) = e^{x/2}/√(2π), b''(s_c) = 0): an upper bound by
        // convexity; the chord from the origin a lower bound.
        let vc = self.bmax * FRAC_1_SQRT_2PI;
        let tangent = sc + (beta - bc) / vc;
        let chord = sc * beta / bc;
        // Small-s asymptotics b ≈ (2π/(3√3))·|x|·Φ(−|x|/(√3·s))³ (Jäckel's lower map).
        let ln_ratio = ln_beta - LN_TWO_PI_OVER_SQRT_27 - (-x).ln();
        let z = if ln_ratio < 3.0 * LN_HALF {
            -inverse_norm_cdf_of_ln(ln_ratio / 3.0)
        } else {
            0.0
        };
        let asymptotic = if z > 0.0 { -x / (SQRT_3 * z) } else { tangent };
        asymptotic.min(tangent).max(chord)
    }

    /// Householder steps until converged.
    #[inline]
    fn finish(&self, state: &mut State) {
        while !state.done && state.iterations < MAX_ITERATIONS {
            self.step(state);
        }
    }

    /// One Householder step of order four on the region's objective, kept in the bracket.
    #[inline(always)]
    fn step(&self, st: &mut State) {
        st.iterations += 1;
        let s = st.s;
        let Some(f) = self.objective(&Eval::new(self.x, s), st.upper, s, st.target) else {
            // b underflowed (s far too small) or its complement did (s far too large).
            if st.upper {
                st.hi = s;
            } else {
                st.lo = s;
            }
            st.s = next_bisection(st.lo, st.hi, s);
            return;
        };
        if f.g == 0.0 {
            st.done = true;
            return;
        }
        // The root lies above s when an increasing objective is negative there, or a
        // decreasing one positive.
        if (f.g < 0.0) == st.upper {
            st.lo = st.lo.max(s);
        } else {
            st.hi = st.hi.min(s);
        }
        // Householder: Δ = ν(1 + ½h2·ν)/(1 + ν(h2 + h3·ν/6)) with ν = −g/g', multiplied
        // through by g'² so that one division remains.
        let (g, dg) = (f.g, f.dg);
        let den = dg * dg - g * (f.h2 * dg - f.h3 * g * (1.0 / 6.0));
        let delta = if den > 0.0 {
            -g * (dg - 0.5 * f.h2 * g) / den
        } else {
            -g / dg
        };
        let next = s + delta;
        if delta.abs() <= STEP_TOLERANCE * s {
            st.s = next;
            st.done = true;
        } else if next > st.lo && next < st.hi {
            st.s = next;
        } else {
            st.s = next_bisection(st.lo, st.hi, s);
        }
    }

    /// The region's objective at `s` with its first derivative and the ratios `g''/g'` and
    /// `g'''/g'`; `None` where `b` or its complement underflows.
    #[inline]
    fn objective(&self, ev: &Eval, upper: bool, s: f64, target: f64) -> Option<Objective> {
        let bmax = self.bmax;
        // b' = e/√(2π); k1 = b''/b' = (h² − t²)/s; k1' = d(k1)/ds.
        let db = ev.e * FRAC_1_SQRT_2PI;
        let hh = ev.h * ev.h;
        let k1 = hh * ev.inv_s - 0.25 * s;
        let dk1 = -3.0 * hh * (ev.inv_s * ev.inv_s) - 0.25;
        if upper {
            // g = ln(bmax − β) − ln(bmax − b), increasing in s; the complement is a sum of
            // tails above s_c.
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
                g: target - c.ln(),
                dg: p,
                h2,
                h3: h2 * h2 + dk1 + p * h2,
            })
        } else {
            // g = 1/ln b − 1/ln β, decreasing in s.
            let b = if ev.d1 <= 0.0 {
                ev.a - ev.b
            } else {
                bmax - ev.a - ev.b
            };
            if b <= 0.0 {
                return None;
            }
            let il = 1.0 / b.ln();
            let q = db / b;
            let qil = q * il;
            let r = (k1 - q) - 2.0 * qil;
            let dr = dk1 - q * (k1 - q) * (1.0 + 2.0 * il) + 2.0 * qil * qil;
            Some(Objective {
                g: il - target,
                dg: -qil * il,
                h2: r,
                h3: r * r + dr,
            })
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
}

/// Upper end of `|ln(F/K)|` covered by the guess tables (strike/forward from e^-2 to e^2);
/// beyond it the asymptotic guesses start the iteration.
const TABLE_MAX_X: f64 = 2.0;
/// `1/√TABLE_MAX_X`: the first table coordinate is `√(|x|/TABLE_MAX_X)`.
const TABLE_SCALE: f64 = std::f64::consts::FRAC_1_SQRT_2;
/// Cells along each table axis.
const TABLE_CELLS: usize = 128;

/// Initial guesses tabulated once per process: the solver run to full precision on a grid,
/// then interpolated, so a typical solve needs one Householder step from a guess within about
/// 1e-4 instead of two or three from the asymptotic guesses.
///
/// Coordinates are chosen so the tabulated values are smooth and bounded: `p = √(|x|/2)` for
/// both; above the inflection point `ζ = s_c/s_ref` with the reference `s_ref = −2Φ⁻¹((bmax −
/// β)/2)` (exact at `x = 0` and as `s → ∞`) and the value `s/s_ref`; below it
/// `ξ = 1/√(1 − ln(β/b_c))` and the value `s/s_c`.
#[derive(Debug)]
struct Tables {
    upper: Grid,
    lower: Grid,
}

/// Values on the nodes of a square grid over `[0, 1]²`, bilinearly interpolated.
#[derive(Debug)]
struct Grid {
    values: Vec<f32>,
}

impl Grid {
    const SIDE: usize = TABLE_CELLS + 1;

    /// Tabulates `f(p, q)` on the nodes; a node where `f` is undefined (NaN) takes the value
    /// of its nearest defined neighbour along `q`.
    fn build(f: impl Fn(f64, f64) -> f64) -> Grid {
        let n = TABLE_CELLS as f64;
        let mut values = vec![f32::NAN; Self::SIDE * Self::SIDE];
        for i in 0..Self::SIDE {
            let row = &mut values[i * Self::SIDE..(i + 1) * Self::SIDE];
            for (j, v) in row.iter_mut().enumerate() {
                *v = f(i as f64 / n, j as f64 / n) as f32;
            }
            for j in 1..Self::SIDE {
                if row[j].is_nan() {
                    row[j] = row[j - 1];
                }
            }
            for j in (0..Self::SIDE - 1).rev() {
                if row[j].is_nan() {
                    row[j] = row[j + 1];
                }
            }
        }
        Grid { values }
    }

    /// The interpolated value at `(p, q)`, clamped into the grid.
    #[inline]
    fn at(&self, p: f64, q: f64) -> f64 {
        let n = TABLE_CELLS as f64;
        let fp = (p * n).clamp(0.0, n - 1e-9);
        let fq = (q * n).clamp(0.0, n - 1e-9);
        // Through i32: f64 → i32 is one instruction on x86-64, f64 → usize a dozen.
        let (i, j) = (fp as i32, fq as i32);
        let (u, v) = (fp - f64::from(i), fq - f64::from(j));
        let k = i as usize * Self::SIDE + j as usize;
        let (Some(&v00), Some(&v01), Some(&v10), Some(&v11)) = (
            self.values.get(k),
            self.values.get(k + 1),
            self.values.get(k + Self::SIDE),
            self.values.get(k + Self::SIDE + 1),
        ) else {
            return f64::NAN;
        };
        let (v00, v01, v10, v11) = (v00 as f64, v01 as f64, v10 as f64, v11 as f64);
        let near = v00 + v * (v01 - v00);
        let far = v10 + v * (v11 - v10);
        near + u * (far - near)
    }
}

/// The second coordinate below the inflection point, from `ln(β/b_c) <= 0`.
#[inline]
fn lower_coordinate(ln_u: f64) -> f64 {
    1.0 / (1.0 - ln_u).sqrt()
}

/// The process's guess tables, built on first use (2 × 129² solves from the asymptotic
/// guesses: about 10 ms).
fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let problem = |x: f64, beta: f64, gap: f64| {
            let bmax = (0.5 * x).exp();
            (beta > f64::MIN_POSITIVE && gap > f64::MIN_POSITIVE && beta < bmax).then_some(
                Problem {
                    x,
                    beta,
                    gap,
                    bmax,
                    inv_bmax: 1.0 / bmax,
                },
            )
        };
        let upper = Grid::build(|p, zeta| {
            let a = TABLE_MAX_X * p * p;
            if a == 0.0 || zeta == 0.0 {
                return 1.0;
            }
            let reference = (2.0 * a).sqrt() / zeta;
            let gap = 2.0 * norm_cdf(-0.5 * reference);
            let bmax = (-0.5 * a).exp();
            match problem(-a, bmax - gap, gap) {
                Some(pr) => pr.solve_exact() / reference,
                None => f64::NAN,
            }
        });
        let lower = Grid::build(|p, xi| {
            if xi == 0.0 {
                return 0.0;
            }
            let a = (TABLE_MAX_X * p * p).max(1e-10);
            let root = a.sqrt();
            let bmax = (-0.5 * a).exp();
            let bc = 0.5 * bmax * (1.0 - erfcx(root));
            let beta = bc * (1.0 - 1.0 / (xi * xi)).exp();
            match problem(-a, beta, bmax - beta) {
                Some(pr) => pr.solve_exact() / (std::f64::consts::SQRT_2 * root),
                None => f64::NAN,
            }
        });
        Tables { upper, lower }
    })
}

impl Problem {
    /// The solution from the asymptotic guesses, iterated to the limit of precision (used to
    /// fill the tables).
    fn solve_exact(&self) -> f64 {
        let mut state = self.start(None);
        self.finish(&mut state);
        state.done = false;
        self.step(&mut state);
        state.s
    }
}

/// A point inside `(lo, hi)` when a step left the bracket; doubles `s` while `hi` is open.
fn next_bisection(lo: f64, hi: f64, s: f64) -> f64 {
    if hi.is_finite() {
        if lo > 0.0 { (lo * hi).sqrt() } else { 0.5 * hi }
    } else {
        2.0 * s.max(lo)
    }
}

/// ln(2π/√27) and ln(1/2).
const LN_TWO_PI_OVER_SQRT_27: f64 = 0.189_958_633_407_180_94;
const LN_HALF: f64 = -std::f64::consts::LN_2;
const SQRT_3: f64 = 1.732_050_807_568_877_2;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bsm::{Right, greeks, price};
    use proptest::prelude::*;

    fn contract(right: Right, strike: f64, t: f64, r: f64, q: f64) -> Contract {
        Contract {
            right,
            spot: 100.0,
            strike,
            t,
            r,
            q,
        }
    }

    /// A fixed stream of uniforms (SplitMix64).
    fn uniforms(seed: u64) -> impl FnMut(f64, f64) -> f64 {
        let mut state = seed;
        move |lo, hi| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            lo + (hi - lo) * ((z >> 11) as f64 / (1u64 << 53) as f64)
        }
    }

    #[test]
    fn flags_prices_that_imply_no_volatility() {
        let call = contract(Right::Call, 90.0, 0.5, 0.05, 0.01);
        let put = Contract {
            right: Right::Put,
            ..call
        };
        let intrinsic = call.intrinsic();
        assert!(intrinsic > 10.0);
        assert_eq!(
            implied_vol(&call, intrinsic - 0.01),
            Err(IvError::BelowIntrinsic)
        );
        assert_eq!(implied_vol(&call, intrinsic), Err(IvError::NoVega));
        assert_eq!(
            implied_vol(&call, call.upper_bound() + 0.01),
            Err(IvError::AboveUpperBound)
        );
        assert_eq!(implied_vol(&call, call.upper_bound()), Err(IvError::NoVega));
        assert_eq!(implied_vol(&put, 0.0), Err(IvError::NoVega));
        assert_eq!(
            implied_vol(&put, put.upper_bound() * 1.001),
            Err(IvError::AboveUpperBound)
        );
        assert_eq!(
            implied_vol(&Contract { t: 0.0, ..call }, 12.0),
            Err(IvError::ZeroTime)
        );
        assert_eq!(
            implied_vol(&Contract { t: -1.0, ..call }, 12.0),
            Err(IvError::ZeroTime)
        );
        for bad in [
            Contract {
                spot: f64::NAN,
                ..call
            },
            Contract {
                strike: 0.0,
                ..call
            },
            Contract {
                r: f64::INFINITY,
                ..call
            },
            Contract {
                t: f64::NAN,
                ..call
            },
        ] {
            assert_eq!(implied_vol(&bad, 12.0), Err(IvError::BadInput));
        }
        assert_eq!(implied_vol(&call, -1.0), Err(IvError::BadInput));
        assert_eq!(implied_vol(&call, f64::NAN), Err(IvError::BadInput));
        assert_eq!(IvError::NoVega.kind(), ErrorKind::InvalidArgument);
    }

    #[test]
    fn zero_and_negative_rates_and_yields() {
        for (r, q) in [(0.0, 0.0), (-0.01, 0.0), (-0.005, -0.002), (0.05, 0.08)] {
            for right in [Right::Call, Right::Put] {
                for strike in [70.0, 100.0, 130.0] {
                    let c = contract(right, strike, 0.75, r, q);
                    let p = price(&c, 0.27);
                    let v = implied_vol(&c, p).unwrap();
                    assert!((v - 0.27).abs() < 1e-12, "{c:?}: {v}");
                }
            }
        }
    }

    /// On the realistic mix of the benchmark (strike/spot 0.7–1.3, 1 day to 2 years, 10–80 %)
    /// the tables' guess is close enough for one Householder step almost always: the speed of
    /// the stage depends on it.
    #[test]
    fn realistic_prices_take_one_step() {
        let mut u = uniforms(20_260_101);
        let mut steps = [0usize; 4];
        for i in 0..20_000 {
            let spot = u(20.0, 500.0);
            let c = Contract {
                right: if i % 2 == 0 { Right::Call } else { Right::Put },
                spot,
                strike: spot * u(0.7, 1.3),
                t: u(1.0, 730.0).round() / 365.0,
                r: u(0.0, 0.05),
                q: u(0.0, 0.03),
            };
            let vol = u(0.1, 0.8);
            if let Ok(n) = iterations(&c, price(&c, vol)) {
                steps[(n as usize).min(3)] += 1;
            }
        }
        let solved: usize = steps.iter().sum();
        assert!(solved > 19_500, "{steps:?}");
        assert!(steps[1] as f64 > 0.9 * solved as f64, "{steps:?}");
        assert_eq!(steps[3], 0, "{steps:?}");
    }

    /// Far outside the tables (|ln(F/K)| > 2) and at extreme volatilities the asymptotic
    /// guesses still converge to full precision.
    #[test]
    fn converges_outside_the_tables() {
        for strike in [5.0, 12.0, 800.0, 3000.0] {
            for t in [0.02, 1.0, 10.0] {
                for vol in [0.05, 0.4, 2.0, 6.0] {
                    for right in [Right::Call, Right::Put] {
                        let c = contract(right, strike, t, 0.02, 0.01);
                        let p = price(&c, vol);
                        let vega = greeks(&c, vol).vega * 100.0;
                        if p < 1e-290 || 0.5 * f64::EPSILON * p / vega > 1e-12 {
                            continue;
                        }
                        let v = implied_vol(&c, p).unwrap();
                        assert!(
                            (v - vol).abs() <= 1e-10 * vol.max(1.0),
                            "{c:?} at {vol}: {v}"
                        );
                        assert!(iterations(&c, p).unwrap() <= 6);
                    }
                }
            }
        }
    }

    proptest! {
        /// Volatility → price → volatility returns the volatility wherever the price pins it
        /// (its rounding is worth less than 1e-12 of volatility), and the price of the solved
        /// volatility reproduces the price.
        #[test]
        fn round_trip(
            call in any::<bool>(),
            spot in 1.0f64..1000.0,
            moneyness in 0.4f64..2.5,
            t in 0.001f64..5.0,
            r in -0.02f64..0.1,
            q in -0.01f64..0.06,
            vol in 0.01f64..3.0,
        ) {
            let right = if call { Right::Call } else { Right::Put };
            let c = Contract { right, spot, strike: spot * moneyness, t, r, q };
            let p = price(&c, vol);
            let vega = greeks(&c, vol).vega * 100.0;
            prop_assume!(p > 1e-290 && 0.5 * f64::EPSILON * p / vega <= 1e-12);
            let v = implied_vol(&c, p).unwrap();
            prop_assert!((v - vol).abs() <= 1e-10, "vol {} solved as {}", vol, v);
            let back = price(&c, v);
            prop_assert!((back - p).abs() <= 1e-12 * p + 4.0 * f64::EPSILON * spot.max(c.strike));
        }

        /// No input makes the solver panic or return a NaN, an infinite or a non-positive
        /// volatility: it returns a volatility or a flag.
        #[test]
        fn never_panics(
            call in any::<bool>(),
            spot in any::<f64>(),
            strike in any::<f64>(),
            t in any::<f64>(),
            r in any::<f64>(),
            q in any::<f64>(),
            p in any::<f64>(),
        ) {
            let right = if call { Right::Call } else { Right::Put };
            let c = Contract { right, spot, strike, t, r, q };
            if let Ok(v) = implied_vol(&c, p) {
                prop_assert!(v.is_finite() && v > 0.0);
            }
            if let Ok((v, g)) = enrich(&c, p) {
                prop_assert!(v.is_finite() && v > 0.0 && g.price.is_finite());
            }
            // Pricing with the same garbage as a volatility returns numbers or NaN, no panic.
            let _ = (price(&c, p), greeks(&c, p));
        }

        /// The same for inputs near the bounds of the price, where the flags and the solver
        /// meet.
        #[test]
        fn never_panics_near_the_bounds(
            call in any::<bool>(),
            moneyness in 0.01f64..100.0,
            t in 1e-6f64..50.0,
            r in -0.5f64..0.5,
            q in -0.5f64..0.5,
            at_upper in any::<bool>(),
            nudge in -1e-6f64..1e-6,
        ) {
            let right = if call { Right::Call } else { Right::Put };
            let c = Contract { right, spot: 100.0, strike: 100.0 * moneyness, t, r, q };
            let bound = if at_upper { c.upper_bound() } else { c.intrinsic() };
            let p = bound * (1.0 + nudge) + nudge;
            if let Ok(v) = implied_vol(&c, p) {
                prop_assert!(v.is_finite() && v > 0.0);
            }
        }
    }
}
