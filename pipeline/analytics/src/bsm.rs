//! Black–Scholes–Merton prices and analytic Greeks of European options, the model under the
//! postprocess stage's implied volatility ([`crate::iv`]) and Greeks.
//!
//! Conventions: `t` in years (act/365, as the stage computes it), `r` and `q` continuously
//! compounded (zero and negative values are fine), volatility per √year. Greeks are the desk's
//! units: delta and gamma per unit of spot, vega per 0.01 of volatility, theta per calendar day
//! (annual theta / 365), rho per 0.01 of rate.
//!
//! Numerics. Everything goes through one evaluation in Jäckel's normalised form: with
//! `x = ln(F/K)`, `s = σ√t`, `d1,2 = x/s ± s/2`, the two normal tails are written
//! `Φ(−|d1|) = ½·e·e^{−x/2}·erfcx(|d1|/√2)` and `Φ(−|d2|) = ½·e·e^{x/2}·erfcx(|d2|/√2)` with
//! the one exponential `e = exp(−(x²/s² + s²/4)/2)`, so a price and all its Greeks cost one
//! `exp` and two scaled complementary error functions (`erfcx`, W. J. Cody's rational
//! approximations, no cancellation in the tails), plus the `ln`/`exp`/`sqrt` of the contract
//! that do not depend on volatility (`Setup`). Out-of-the-money values are computed as tail
//! differences and in-the-money ones as intrinsic plus the other side's tail difference, so
//! prices keep their relative accuracy down to the smallest representable values. The special
//! functions (`erfcx`, `exp`, the normal distribution and its quantile) are in
//! [`crate::special`]; this module holds only the pricing.

use std::f64::consts::FRAC_1_SQRT_2;

use crate::special::{FRAC_1_SQRT_2PI, erfcx_nonnegative, exp};
/// The normal distribution functions priced with, defined in [`crate::special`].
pub use crate::special::{inverse_norm_cdf, norm_cdf, norm_pdf};

pub use xlfeed_core::Right;

/// +1 for a call, −1 for a put (the θ of the pricing formulas).
fn sign(right: Right) -> f64 {
    match right {
        Right::Call => 1.0,
        Right::Put => -1.0,
    }
}

/// A European option under Black-Scholes-Merton.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Contract {
    /// Call or put.
    pub right: Right,
    /// Spot price of the underlying.
    pub spot: f64,
    /// Strike price.
    pub strike: f64,
    /// years (act/365)
    pub t: f64,
    /// continuously compounded risk-free rate
    pub r: f64,
    /// continuous dividend yield
    pub q: f64,
}

impl Contract {
    /// The forward `S·e^{(r−q)t}`.
    pub fn forward(&self) -> f64 {
        self.spot * ((self.r - self.q) * self.t).exp()
    }

    /// The discount factor `e^{−rt}`.
    pub fn discount(&self) -> f64 {
        (-self.r * self.t).exp()
    }

    /// The discounted forward intrinsic value `e^{−rt}·max(θ(F − K), 0)`: the price of the
    /// option at zero volatility and the lower bound of its price at any volatility.
    pub fn intrinsic(&self) -> f64 {
        let d = self.discount();
        (sign(self.right) * (self.spot * (-self.q * self.t).exp() - self.strike * d)).max(0.0)
    }

    /// The upper bound of the price as volatility goes to infinity: `S·e^{−qt}` for a call,
    /// `K·e^{−rt}` for a put.
    pub fn upper_bound(&self) -> f64 {
        match self.right {
            Right::Call => self.spot * (-self.q * self.t).exp(),
            Right::Put => self.strike * self.discount(),
        }
    }
}

/// The price of the contract at volatility `vol` (per √year).
///
/// At zero volatility or zero/negative time the price is the intrinsic value (discounted
/// forward intrinsic for `vol == 0`, spot intrinsic for `t <= 0`). A NaN input, a non-positive
/// spot or strike, or a negative volatility gives NaN.
pub fn price(c: &Contract, vol: f64) -> f64 {
    match Setup::new(c) {
        Some(setup) => match setup.s(vol) {
            Some(s) => setup.price(s),
            None => degenerate(c, vol).price,
        },
        None => degenerate(c, vol).price,
    }
}

/// Price and sensitivities of an option at one volatility.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Greeks {
    /// The option's price.
    pub price: f64,
    /// ∂price/∂spot.
    pub delta: f64,
    /// ∂²price/∂spot².
    pub gamma: f64,
    /// per 0.01 of volatility
    pub vega: f64,
    /// per calendar day (annual theta / 365)
    pub theta: f64,
    /// per 0.01 of rate
    pub rho: f64,
}

/// The price and analytic Greeks of the contract at volatility `vol`.
///
/// At zero volatility or zero/negative time the Greeks are the limits of the deterministic
/// payoff (delta a step, gamma and vega zero); NaN or out-of-domain inputs (see [`price`]) give
/// NaN fields.
pub fn greeks(c: &Contract, vol: f64) -> Greeks {
    match Setup::new(c) {
        Some(setup) => match setup.s(vol) {
            Some(s) => setup.greeks(s, vol),
            None => degenerate(c, vol),
        },
        None => degenerate(c, vol),
    }
}

/// What a contract contributes to a price independently of volatility, computed once and
/// shared by the price, the Greeks and every iteration of the IV solver. Reciprocals are kept
/// so the per-volatility work has a single division.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Setup {
    /// +1 call, −1 put.
    pub(crate) theta: f64,
    /// `ln(F/K)`.
    pub(crate) x: f64,
    /// `e^{x/2}`, so `√(FK) = K·e^{x/2}`.
    pub(crate) ex2: f64,
    /// `e^{−x/2}`.
    pub(crate) inv_ex2: f64,
    /// `K·e^{−rt}`.
    pub(crate) kd: f64,
    /// `√t`.
    pub(crate) sqrt_t: f64,
    /// `1/√t`.
    inv_sqrt_t: f64,
    /// `1/S`.
    inv_spot: f64,
    t: f64,
    r: f64,
    q: f64,
}

impl Setup {
    /// `None` for inputs outside the model's domain (NaN or infinite values, non-positive
    /// spot or strike, `t <= 0`) or whose normalisation does not fit in an f64.
    #[inline(always)]
    pub(crate) fn new(c: &Contract) -> Option<Setup> {
        let finite = c.spot.is_finite()
            && c.strike.is_finite()
            && c.t.is_finite()
            && c.r.is_finite()
            && c.q.is_finite();
        if !finite || c.spot <= 0.0 || c.strike <= 0.0 || c.t <= 0.0 {
            return None;
        }
        let x = (c.spot / c.strike).ln() + (c.r - c.q) * c.t;
        let ex2 = exp(0.5 * x);
        let kd = c.strike * exp(-c.r * c.t);
        let sqrt_t = c.t.sqrt();
        // 0 < e^{x/2} < ∞ also rules out a NaN or infinite x.
        let ok = ex2 > 0.0 && ex2 < f64::INFINITY && kd > 0.0 && kd < f64::INFINITY;
        ok.then(|| Setup {
            theta: sign(c.right),
            x,
            ex2,
            inv_ex2: 1.0 / ex2,
            kd,
            sqrt_t,
            inv_sqrt_t: 1.0 / sqrt_t,
            inv_spot: 1.0 / c.spot,
            t: c.t,
            r: c.r,
            q: c.q,
        })
    }

    /// `1/√t`, which turns a normalised volatility `s = σ√t` back into `σ`.
    pub(crate) fn inv_sqrt_t(&self) -> f64 {
        self.inv_sqrt_t
    }

    /// The normalised volatility `σ√t`, `None` unless it is positive and finite.
    fn s(&self, vol: f64) -> Option<f64> {
        let s = vol * self.sqrt_t;
        (s > 0.0 && s.is_finite()).then_some(s)
    }

    /// The price at normalised volatility `s = vol·√t`.
    #[inline]
    fn price(&self, s: f64) -> f64 {
        let ev = Eval::new(self.x, s);
        self.kd * self.ex2 * ev.price(self.theta, self.x, self.ex2, self.inv_ex2)
    }

    /// Price and Greeks at normalised volatility `s = vol·√t`.
    #[inline]
    pub(crate) fn greeks(&self, s: f64, vol: f64) -> Greeks {
        self.greeks_from(&Eval::new(self.x, s), vol)
    }

    /// Price and Greeks from an evaluation at `s = vol·√t`.
    #[inline]
    pub(crate) fn greeks_from(&self, ev: &Eval, vol: f64) -> Greeks {
        let (theta, x, ex2, kd) = (self.theta, self.x, self.ex2, self.kd);
        // Φ(θ·d1) and Φ(θ·d2) from the tails: Φ(−|d1|) = A·e^{−x/2}, Φ(−|d2|) = B·e^{x/2}.
        let tail1 = ev.a * self.inv_ex2;
        let tail2 = ev.b * ex2;
        let n1 = if theta * ev.d1 <= 0.0 {
            tail1
        } else {
            1.0 - tail1
        };
        let n2 = if theta * ev.d2 <= 0.0 {
            tail2
        } else {
            1.0 - tail2
        };
        let price = kd * ex2 * ev.price(theta, x, ex2, self.inv_ex2);
        // D·F = K·e^{−rt}·e^x and D·F·φ(d1) = K·e^{−rt}·e^{x/2}·e/√(2π).
        let df = kd * ex2 * ex2;
        let df_pdf = kd * ex2 * ev.e * FRAC_1_SQRT_2PI;
        let delta = theta * (df * self.inv_spot) * n1;
        let gamma = df_pdf * (self.inv_spot * self.inv_spot) * ev.inv_s;
        let vega = df_pdf * self.sqrt_t;
        let theta_year = -df_pdf * vol * (0.5 * self.inv_sqrt_t) - theta * self.r * kd * n2
            + theta * self.q * df * n1;
        let rho = theta * kd * self.t * n2;
        Greeks {
            price,
            delta,
            gamma,
            vega: vega * 0.01,
            theta: theta_year * (1.0 / 365.0),
            rho: rho * 0.01,
        }
    }
}

/// One evaluation of the normalised Black function at `(x, s)`: the shared exponential and
/// the two scaled tails.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Eval {
    /// `1/s`.
    pub(crate) inv_s: f64,
    /// `h = x/s`.
    pub(crate) h: f64,
    pub(crate) d1: f64,
    pub(crate) d2: f64,
    /// `exp(−(h² + t²)/2)` with `t = s/2`; `∂b/∂s = e/√(2π)`.
    pub(crate) e: f64,
    /// `e^{x/2}·Φ(−|d1|) = ½·e·erfcx(|d1|/√2)`.
    pub(crate) a: f64,
    /// `e^{−x/2}·Φ(−|d2|) = ½·e·erfcx(|d2|/√2)`.
    pub(crate) b: f64,
}

impl Eval {
    #[inline(always)]
    pub(crate) fn new(x: f64, s: f64) -> Eval {
        let inv_s = 1.0 / s;
        let h = x * inv_s;
        let t = 0.5 * s;
        let d1 = h + t;
        let d2 = h - t;
        let e = exp(-0.5 * (h * h + t * t));
        let a = 0.5 * e * erfcx_nonnegative(d1.abs() * FRAC_1_SQRT_2);
        let b = 0.5 * e * erfcx_nonnegative(d2.abs() * FRAC_1_SQRT_2);
        Eval {
            inv_s,
            h,
            d1,
            d2,
            e,
            a,
            b,
        }
    }

    /// The normalised price `b = price / (K·e^{−rt}·e^{x/2})` of right `theta`, given
    /// `ex2 = e^{x/2}` and `inv_ex2 = e^{−x/2}`.
    #[inline]
    pub(crate) fn price(&self, theta: f64, x: f64, ex2: f64, inv_ex2: f64) -> f64 {
        let (a, b) = (self.a, self.b);
        // Call: e^{x/2}Φ(d1) − e^{−x/2}Φ(d2); put: e^{−x/2}Φ(−d2) − e^{x/2}Φ(−d1).
        let (low, high) = if theta > 0.0 {
            (self.d2, self.d1)
        } else {
            (-self.d1, -self.d2)
        };
        if high <= 0.0 {
            // Both θd ≤ 0: out of the money, a difference of two tails.
            theta * (a - b)
        } else if low >= 0.0 {
            // Both θd ≥ 0: intrinsic plus the other right's tail difference.
            theta * (two_sinh_half(x, ex2, inv_ex2) + (b - a))
        } else if theta > 0.0 {
            ex2 - a - b
        } else {
            inv_ex2 - a - b
        }
    }
}

/// `e^{x/2} − e^{−x/2}` (the normalised intrinsic value of a call), given `ex2 = e^{x/2}` and
/// `inv_ex2 = e^{−x/2}`: a Taylor polynomial where the difference would cancel, the difference
/// elsewhere.
#[inline]
pub(crate) fn two_sinh_half(x: f64, ex2: f64, inv_ex2: f64) -> f64 {
    if x.abs() < 1.0 {
        // 2·sinh(y) = 2y·Σ y^{2k}/(2k+1)!, y = x/2, to y^14 (error below 1e-16 relative).
        let y = 0.5 * x;
        let z = y * y;
        let z2 = z * z;
        let z4 = z2 * z2;
        let series = (1.0 + z * (1.0 / 6.0))
            + z2 * ((1.0 / 120.0) + z * (1.0 / 5040.0))
            + z4 * (((1.0 / 362_880.0) + z * (1.0 / 39_916_800.0))
                + z2 * ((1.0 / 6_227_020_800.0) + z * (1.0 / 1_307_674_368_000.0)));
        x * series
    } else {
        ex2 - inv_ex2
    }
}

/// Prices and Greeks where the option has no time value left to model: zero volatility,
/// zero or negative time, or inputs outside the domain (NaN).
fn degenerate(c: &Contract, vol: f64) -> Greeks {
    let domain = [c.spot, c.strike, c.t, c.r, c.q, vol]
        .iter()
        .all(|v| !v.is_nan())
        && c.spot > 0.0
        && c.strike > 0.0
        && vol >= 0.0;
    if !domain {
        return Greeks {
            price: f64::NAN,
            delta: f64::NAN,
            gamma: f64::NAN,
            vega: f64::NAN,
            theta: f64::NAN,
            rho: f64::NAN,
        };
    }
    let theta = sign(c.right);
    if c.t <= 0.0 {
        // Expired: the spot payoff.
        let itm = theta * (c.spot - c.strike) > 0.0;
        return Greeks {
            price: (theta * (c.spot - c.strike)).max(0.0),
            delta: if itm { theta } else { 0.0 },
            ..Greeks::default()
        };
    }
    // Zero volatility: the discounted forward payoff, deterministic.
    let dq = (-c.q * c.t).exp();
    let d = (-c.r * c.t).exp();
    let value = theta * (c.spot * dq - c.strike * d);
    if value <= 0.0 {
        return Greeks::default();
    }
    // V = θ(S·e^{−qt} − K·e^{−rt}); annual theta = −∂V/∂t.
    let theta_year = theta * (c.q * c.spot * dq - c.r * c.strike * d);
    Greeks {
        price: value,
        delta: theta * dq,
        gamma: 0.0,
        vega: 0.0,
        theta: theta_year / 365.0,
        rho: theta * c.strike * c.t * d * 0.01,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(spot: f64, strike: f64, t: f64, r: f64, q: f64) -> Contract {
        Contract {
            right: Right::Call,
            spot,
            strike,
            t,
            r,
            q,
        }
    }

    #[test]
    fn textbook_call_and_put() {
        // Hull, Options, Futures and Other Derivatives: S=42, K=40, r=10%, σ=20%, T=0.5.
        let c = call(42.0, 40.0, 0.5, 0.1, 0.0);
        assert!((price(&c, 0.2) - 4.759_422_392_871_533).abs() < 1e-12);
        let p = Contract {
            right: Right::Put,
            ..c
        };
        assert!((price(&p, 0.2) - 0.808_599_372_900_093_6).abs() < 1e-12);
    }

    use proptest::prelude::*;

    proptest! {
        /// Call − put = S·e^{−qt} − K·e^{−rt} at every volatility.
        #[test]
        fn put_call_parity(
            spot in 1.0f64..1000.0,
            moneyness in 0.2f64..5.0,
            t in 0.001f64..10.0,
            r in -0.03f64..0.15,
            q in -0.02f64..0.1,
            vol in 0.001f64..4.0,
        ) {
            let c = call(spot, spot * moneyness, t, r, q);
            let p = Contract { right: Right::Put, ..c };
            let parity = spot * (-q * t).exp() - c.strike * (-r * t).exp();
            let diff = price(&c, vol) - price(&p, vol) - parity;
            prop_assert!(diff.abs() <= 1e-13 * spot.max(c.strike), "{}", diff);
        }

        /// Prices rise with volatility and stay between the intrinsic value and the upper
        /// bound.
        #[test]
        fn monotone_in_volatility_and_bounded(
            is_call in any::<bool>(),
            moneyness in 0.2f64..5.0,
            t in 0.001f64..10.0,
            r in -0.03f64..0.15,
            q in -0.02f64..0.1,
            vol in 0.001f64..4.0,
            bump in 1e-6f64..1.0,
        ) {
            let right = if is_call { Right::Call } else { Right::Put };
            let c = Contract { right, spot: 100.0, strike: 100.0 * moneyness, t, r, q };
            let (low, high) = (price(&c, vol), price(&c, vol + bump));
            let slack = 1e-13 * c.strike.max(100.0);
            prop_assert!(high >= low - slack, "{} then {}", low, high);
            prop_assert!(low >= c.intrinsic() - slack && high <= c.upper_bound() + slack);
        }

        /// The analytic Greeks are the derivatives of the price (central differences).
        #[test]
        fn greeks_are_derivatives(
            is_call in any::<bool>(),
            moneyness in 0.7f64..1.4,
            t in 0.05f64..3.0,
            r in -0.01f64..0.08,
            q in 0.0f64..0.05,
            vol in 0.1f64..1.0,
        ) {
            let right = if is_call { Right::Call } else { Right::Put };
            let c = Contract { right, spot: 100.0, strike: 100.0 * moneyness, t, r, q };
            let g = greeks(&c, vol);
            let d = |f: &dyn Fn(f64) -> f64, x: f64, h: f64| (f(x + h) - f(x - h)) / (2.0 * h);
            let close = |a: f64, b: f64, scale: f64| (a - b).abs() <= 1e-5 * scale;
            let delta = d(&|s| price(&Contract { spot: s, ..c }, vol), 100.0, 1e-3);
            let gamma = d(&|s| greeks(&Contract { spot: s, ..c }, vol).delta, 100.0, 1e-3);
            let vega = d(&|v| price(&c, v), vol, 1e-5) * 0.01;
            let theta = -d(&|tt| price(&Contract { t: tt, ..c }, vol), t, 1e-5) / 365.0;
            let rho = d(&|rr| price(&Contract { r: rr, ..c }, vol), r, 1e-5) * 0.01;
            prop_assert!(close(g.delta, delta, 1.0), "delta {} vs {}", g.delta, delta);
            prop_assert!(close(g.gamma, gamma, 0.01), "gamma {} vs {}", g.gamma, gamma);
            prop_assert!(close(g.vega, vega, 1.0), "vega {} vs {}", g.vega, vega);
            prop_assert!(close(g.theta, theta, 0.1), "theta {} vs {}", g.theta, theta);
            prop_assert!(close(g.rho, rho, 1.0), "rho {} vs {}", g.rho, rho);
        }
    }

    #[test]
    fn degenerate_inputs_give_intrinsic_or_nan() {
        let c = call(110.0, 100.0, 1.0, 0.05, 0.0);
        let zero_vol = price(&c, 0.0);
        assert!((zero_vol - (110.0 - 100.0 * (-0.05f64).exp())).abs() < 1e-12);
        let expired = Contract { t: 0.0, ..c };
        assert_eq!(price(&expired, 0.3), 10.0);
        assert!(price(&c, f64::NAN).is_nan());
        assert!(price(&c, -0.1).is_nan());
        assert!(price(&Contract { spot: -1.0, ..c }, 0.2).is_nan());
        assert!(
            greeks(
                &Contract {
                    strike: f64::NAN,
                    ..c
                },
                0.2
            )
            .delta
            .is_nan()
        );
    }
}
