//! Black–Scholes–Merton prices of European options, used to price the simulated option trades.
//!
//! A second pricer on purpose, not a copy to merge. The pipeline's own pricer
//! (`xlfeed_analytics::bsm`, under its implied-volatility solver and Greeks) is checked
//! against the simulator: the end-to-end test of the postprocess stage
//! (pipeline/tests/postprocess.rs) solves implied volatilities from the option trades this
//! module prices and expects the smile the simulator priced them with. Were both sides the
//! same code, a mistake in it would pass that check. So this kernel is written apart, in the
//! textbook form (`d1`, `d2`, `Φ` through Cody's `erfc` in `special`) where the analytics
//! crate uses Jäckel's normalised form and `erfcx`, and neither crate depends on the other.
//! It is deliberately small: the price and the no-arbitrage floor, enough to make the
//! simulator's option prices consistent with the volatility smile it publishes.

use xlfeed_core::Right;

use super::special::norm_cdf;

/// The Black–Scholes–Merton price of a European option, per share.
///
/// `t_years` is the time to expiry in years, `rate` the continuously compounded risk-free
/// rate, `div_yield` the continuous dividend yield and `vol` the volatility, all annual. At
/// or past expiry, or with no volatility, the price is the discounted forward intrinsic value.
pub fn price(
    right: Right,
    spot: f64,
    strike: f64,
    t_years: f64,
    rate: f64,
    div_yield: f64,
    vol: f64,
) -> f64 {
    let t = t_years.max(0.0);
    let spot_pv = spot * (-div_yield * t).exp();
    let strike_pv = strike * (-rate * t).exp();
    let sd = vol * t.sqrt();
    let well_posed = sd > 0.0 && spot > 0.0 && strike > 0.0;
    if !well_posed {
        return lower_bound(right, spot_pv, strike_pv);
    }
    let d1 = (spot_pv / strike_pv).ln() / sd + 0.5 * sd;
    let d2 = d1 - sd;
    match right {
        Right::Call => spot_pv * norm_cdf(d1) - strike_pv * norm_cdf(d2),
        Right::Put => strike_pv * norm_cdf(-d2) - spot_pv * norm_cdf(-d1),
    }
}

/// The no-arbitrage floor of a European option, given the present values of the spot (net of
/// dividends) and of the strike: `max(S·e^{-qT} − K·e^{-rT}, 0)` for a call, the reverse for a
/// put.
pub fn lower_bound(right: Right, spot_pv: f64, strike_pv: f64) -> f64 {
    match right {
        Right::Call => (spot_pv - strike_pv).max(0.0),
        Right::Put => (strike_pv - spot_pv).max(0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_match_the_textbook_case_and_parity() {
        // Hull's example: S=K=100, T=1, r=5%, q=0, σ=20%.
        let c = price(Right::Call, 100.0, 100.0, 1.0, 0.05, 0.0, 0.2);
        assert!((c - 10.450583572185565).abs() < 1e-12, "{c}");
        // Put–call parity with a dividend yield, across moneyness and maturities.
        for (k, t) in [(80.0, 0.02), (100.0, 0.5), (130.0, 2.0)] {
            let (s, r, q, v) = (101.3, 0.053, 0.012, 0.31);
            let c = price(Right::Call, s, k, t, r, q, v);
            let p = price(Right::Put, s, k, t, r, q, v);
            let parity = s * (-q * t).exp() - k * (-r * t).exp();
            assert!((c - p - parity).abs() < 1e-10, "k={k} t={t}");
            assert!(c >= lower_bound(Right::Call, s * (-q * t).exp(), k * (-r * t).exp()));
        }
        // At expiry and with no volatility: intrinsic value.
        assert_eq!(price(Right::Put, 90.0, 100.0, 0.0, 0.05, 0.0, 0.3), 10.0);
        assert_eq!(price(Right::Call, 90.0, 100.0, 0.5, 0.05, 0.0, 0.0), 0.0);
    }
}
