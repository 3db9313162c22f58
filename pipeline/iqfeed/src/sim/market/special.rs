//! The normal CDF under the simulator's pricer ([`super::bsm`]), through `erfc`.
//!
//! `erfc` is computed with W. J. Cody's rational Chebyshev approximations ("Rational
//! Chebyshev approximations for the error function", Math. Comp. 23, 1969, the coefficients
//! of netlib's `specfun/erf`), which are good to about 1e-16 relative over the whole range,
//! tails included. Written apart from the analytics crate's `special` module (its own
//! evaluation of the same approximations) so that the simulator's prices stay an independent
//! check of the pipeline's; see [`super::bsm`].

use std::f64::consts::{FRAC_2_SQRT_PI, SQRT_2};

/// erf on `|x| <= 0.46875`: numerator coefficients.
const A: [f64; 5] = [
    3.1611237438705655,
    113.86415415105016,
    377.485237685302,
    3209.3775891384694,
    0.18577770618460315,
];
/// erf on `|x| <= 0.46875`: denominator coefficients.
const B: [f64; 4] = [
    23.601290952344122,
    244.02463793444417,
    1282.6165260773723,
    2844.236833439171,
];
/// erfc on `0.46875 < |x| <= 4`: numerator coefficients.
const C: [f64; 9] = [
    0.5641884969886701,
    8.883149794388377,
    66.11919063714163,
    298.6351381974001,
    881.952221241769,
    1712.0476126340707,
    2051.0783778260716,
    1230.3393547979972,
    2.1531153547440383e-8,
];
/// erfc on `0.46875 < |x| <= 4`: denominator coefficients.
const D: [f64; 8] = [
    15.744926110709835,
    117.6939508913125,
    537.1811018620099,
    1621.3895745666903,
    3290.7992357334597,
    4362.619090143247,
    3439.3676741437216,
    1230.3393548037495,
];
/// erfc on `|x| > 4`: numerator coefficients (in `1/x²`).
const P: [f64; 6] = [
    0.30532663496123236,
    0.36034489994980445,
    0.12578172611122926,
    0.016083785148742275,
    0.0006587491615298378,
    0.016315387137302097,
];
/// erfc on `|x| > 4`: denominator coefficients (in `1/x²`).
const Q: [f64; 5] = [
    2.568520192289822,
    1.8729528499234604,
    0.5279051029514285,
    0.06051834131244132,
    0.0023352049762686918,
];

/// Past this, erfc underflows to zero in `f64`.
const ERFC_ZERO_BEYOND: f64 = 26.543;

/// The complementary error function, `1 - erf(x)`, to about 1e-16 relative.
fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    let y = x.abs();
    if y <= 0.46875 {
        // Near zero erfc is close to 1, so 1 - erf loses nothing.
        let ysq = y * y;
        let (num, den) = A[..3]
            .iter()
            .zip(&B[..3])
            .fold((A[4] * ysq, ysq), |(n, d), (a, b)| {
                ((n + a) * ysq, (d + b) * ysq)
            });
        return 1.0 - x * (num + A[3]) / (den + B[3]);
    }
    let tail = if y >= ERFC_ZERO_BEYOND {
        0.0
    } else {
        scaled_erfc(y) * exp_minus_square(y)
    };
    if x < 0.0 { 2.0 - tail } else { tail }
}

/// `erfc(y)·exp(y²)` for `y > 0.46875`: a smooth function, so rounding in `y` costs it no
/// more than rounding in the result.
fn scaled_erfc(y: f64) -> f64 {
    if y <= 4.0 {
        let (num, den) = C[..7]
            .iter()
            .zip(&D[..7])
            .fold((C[8] * y, y), |(n, d), (c, e)| ((n + c) * y, (d + e) * y));
        (num + C[7]) / (den + D[7])
    } else {
        let ysq = 1.0 / (y * y);
        let (num, den) = P[..4]
            .iter()
            .zip(&Q[..4])
            .fold((P[5] * ysq, ysq), |(n, d), (p, q)| {
                ((n + p) * ysq, (d + q) * ysq)
            });
        let r = ysq * (num + P[4]) / (den + Q[4]);
        (0.5 * FRAC_2_SQRT_PI - r) / y
    }
}

/// `exp(-y²)`, with `y²` split so that its rounding error does not grow with `y` (Cody's trick:
/// `y = ỹ + δ` with `ỹ` a multiple of 1/16, whose square is exact).
fn exp_minus_square(y: f64) -> f64 {
    let coarse = (y * 16.0).trunc() / 16.0;
    let rest = (y - coarse) * (y + coarse);
    (-coarse * coarse).exp() * (-rest).exp()
}

/// The standard normal cumulative distribution function, to a few units of 1e-16 relative
/// (so also deep in the lower tail, where `1 - Φ(-x)` would lose everything).
///
/// Not simply `erfc(-x/√2)/2`: rounding `x/√2` would cost up to `x²` ulps in the tail. The
/// smooth factor takes the rounded argument, and `exp(-x²/2)` is computed from `x` itself.
pub(crate) fn norm_cdf(x: f64) -> f64 {
    let y = x.abs() / SQRT_2;
    if y.is_nan() || y <= 0.46875 {
        // Also NaN, which erfc passes through.
        return 0.5 * erfc(-x / SQRT_2);
    }
    let tail = if y >= ERFC_ZERO_BEYOND {
        0.0
    } else {
        let a = x.abs();
        let coarse = (a * 16.0).trunc() / 16.0;
        let rest = (a - coarse) * (a + coarse);
        0.5 * scaled_erfc(y) * (-0.5 * coarse * coarse).exp() * (-0.5 * rest).exp()
    };
    if x < 0.0 { tail } else { 1.0 - tail }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(f64::MIN_POSITIVE)
    }

    #[test]
    fn erfc_matches_reference_values() {
        // Reference values from mpmath at 30 digits, rounded to f64.
        let cases = [
            (0.0, 1.0),
            (0.1, 0.8875370839817152),
            (0.46875, 0.507386526782062),
            (0.5, 0.4795001221869535),
            (1.0, 0.15729920705028513),
            (2.0, 0.004677734981047266),
            (3.5, 7.430983723414128e-07),
            (4.0, 1.541725790028002e-08),
            (5.0, 1.537459794428035e-12),
            (10.0, 2.088487583762545e-45),
            (-1.0, 1.842700792949715),
        ];
        for (x, want) in cases {
            assert!(
                close(erfc(x), want, 2e-15),
                "erfc({x}) = {} not {want}",
                erfc(x)
            );
        }
        assert_eq!(erfc(30.0), 0.0);
        assert_eq!(erfc(-30.0), 2.0);
        assert!(erfc(f64::NAN).is_nan());
    }

    #[test]
    fn norm_cdf_matches_reference_values() {
        let cases = [
            (0.0, 0.5),
            (1.0, 0.8413447460685429),
            (-1.0, 0.15865525393145705),
            (1.96, 0.9750021048517795),
            (-5.0, 2.866515718791939e-07),
            (-10.0, 7.619853024160525e-24),
            (-20.0, 2.7536241186062337e-89),
        ];
        for (x, want) in cases {
            assert!(
                close(norm_cdf(x), want, 3e-15),
                "Φ({x}) = {} not {want}",
                norm_cdf(x)
            );
        }
        // Symmetry, everywhere it can be checked in f64.
        for i in -80..=80 {
            let x = f64::from(i) / 10.0;
            assert!((norm_cdf(x) + norm_cdf(-x) - 1.0).abs() < 4e-16);
        }
    }
}
