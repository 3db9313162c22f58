//! Dividends over an option's life: their present value (escrowed discrete dividends) and the
//! continuous yield that takes the same amount off the spot.
//!
//! Postprocess reads the underlying's dividends from FEED and, for each (trade day, expiry),
//! asks for the yield `q` that the BSM pricer and the IV solver take. The dividends counted
//! are those going ex in `(trade_day, expiry]`: one going ex on the trade day is already out
//! of the price, one going ex on the expiry day is out of the stock the option delivers. Each
//! is discounted from its ex-date at the rate `r` (continuously compounded, act/365), Hull's
//! convention for escrowed dividends.
//!
//! Dividends not announced yet are projected from the last known schedule: the cadence is the
//! gap between the last two distinct ex-dates (accepted from 28 to 366 days: monthly to
//! annual; anything else looks like a special dividend and nothing is projected) and the amount
//! is the last one, repeated from the last known ex-date on. Every dividend passed in counts as
//! known: a caller that has declaration dates passes only those declared by the trade day.

use xlfeed_core::records::Dividend;

/// Days in the act/365 year.
const YEAR_DAYS: f64 = 365.0;

/// The cadences, in days, a schedule may be projected from (monthly to annual).
const CADENCE_DAYS: std::ops::RangeInclusive<i64> = 28..=366;

/// How the dividend yield of an option trade was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DividendMethod {
    /// No dividend adjustment: the underlying has no usable dividend data, or the inputs
    /// (spot, dates, rate) do not allow one; the yield is 0.
    None,
    /// From announced dividends only (the yield is 0 when none goes ex in the option's life).
    Announced,
    /// At least one dividend in the option's life was projected from the schedule.
    Projected,
}

impl DividendMethod {
    /// A short stable name for records and logs: `none`, `announced`, `projected`.
    pub fn as_str(self) -> &'static str {
        match self {
            DividendMethod::None => "none",
            DividendMethod::Announced => "announced",
            DividendMethod::Projected => "projected",
        }
    }
}

/// Continuous dividend yield `q` over `(trade_day, expiry]` so that
/// `S·e^{-qT} = S − PV(dividends going ex in the option's life, discounted at r)`, with `T`
/// the whole calendar days from `trade_day` to `expiry` over 365, and the method used
/// ([`DividendMethod::Projected`] when any projection was needed).
///
/// A spot that is not positive, dates that are not dates, a rate that is not finite, or
/// dividends worth the spot or more give `(0.0, DividendMethod::None)`. A caller with an exact
/// time to expiry (to 16:00 on the expiry day) should use [`dividend_pv`] and
/// [`yield_from_pv`] with it, so that the forward is right for short-dated options too.
pub fn continuous_yield(
    spot: f64,
    dividends: &[Dividend],
    trade_day: u32,
    expiry: u32,
    r: f64,
) -> (f64, DividendMethod) {
    let (pv, method) = dividend_pv(dividends, trade_day, expiry, r);
    if method == DividendMethod::None || pv == 0.0 {
        return (0.0, method);
    }
    let t = (day_number(expiry) - day_number(trade_day)) as f64 / YEAR_DAYS;
    match yield_from_pv(spot, pv, t) {
        Some(q) => (q, method),
        None => (0.0, DividendMethod::None),
    }
}

/// Present value at `trade_day` of the dividends going ex in `(trade_day, expiry]`, each
/// discounted from its ex-date at `r`, projected where not announced (see the module docs),
/// and the method used. Dividends with an ex-date that is not a date, or an amount that is
/// not positive and finite, are left out; none left gives `(0.0, DividendMethod::None)`.
pub fn dividend_pv(
    dividends: &[Dividend],
    trade_day: u32,
    expiry: u32,
    r: f64,
) -> (f64, DividendMethod) {
    if !is_date(trade_day) || !is_date(expiry) || !r.is_finite() {
        return (0.0, DividendMethod::None);
    }
    let (start, end) = (day_number(trade_day), day_number(expiry));
    let discounted = |ex: i64, amount: f64| amount * (-r * (ex - start) as f64 / YEAR_DAYS).exp();
    let mut pv = 0.0;
    let mut any = false;
    // The latest ex-day with its amount, and the latest ex-day before it.
    let mut last: Option<(i64, f64)> = None;
    let mut before_last: Option<i64> = None;
    for d in dividends {
        if !(d.amount.is_finite() && d.amount > 0.0 && is_date(d.ex_date)) {
            continue;
        }
        any = true;
        let ex = day_number(d.ex_date);
        if start < ex && ex <= end {
            pv += discounted(ex, d.amount);
        }
        match last {
            Some((l, _)) if ex < l => {
                if before_last.is_none_or(|b| ex > b) {
                    before_last = Some(ex);
                }
            }
            Some((l, _)) if ex > l => {
                before_last = Some(l);
                last = Some((ex, d.amount));
            }
            _ => last = Some((ex, d.amount)),
        }
    }
    if !any {
        return (0.0, DividendMethod::None);
    }
    let mut method = DividendMethod::Announced;
    if let (Some((l, amount)), Some(b)) = (last, before_last) {
        let cadence = l - b;
        if CADENCE_DAYS.contains(&cadence) {
            let mut ex = l + cadence;
            while ex <= end {
                if ex > start {
                    pv += discounted(ex, amount);
                    method = DividendMethod::Projected;
                }
                ex += cadence;
            }
        }
    }
    (pv, method)
}

/// The continuous yield `q = −ln(1 − pv/spot) / t` that takes `pv` off `spot` over `t` years;
/// `None` when the spot is not positive, `t` is not positive, or `pv` is negative, not finite,
/// or the spot or more.
pub fn yield_from_pv(spot: f64, pv: f64, t: f64) -> Option<f64> {
    let ok = spot.is_finite() && spot > 0.0 && t.is_finite() && t > 0.0;
    if !ok || !(0.0..spot).contains(&pv) {
        return None;
    }
    Some(-(-pv / spot).ln_1p() / t)
}

/// Days since 1970-01-01 of a `yyyymmdd` date (proleptic Gregorian). For a number that is not
/// a calendar date the result means nothing, but it is computed without panicking.
pub fn day_number(yyyymmdd: u32) -> i64 {
    let (y, m, d) = (
        i64::from(yyyymmdd / 10_000),
        i64::from(yyyymmdd / 100 % 100),
        i64::from(yyyymmdd % 100),
    );
    // Howard Hinnant's days_from_civil: years start in March so the leap day comes last.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Whether `yyyymmdd` is a calendar date the system handles (1900-01-01 to 2199-12-31, as
/// [`xlfeed_core::TradingDay`]); arithmetic only, as it runs for every dividend of every trade.
fn is_date(yyyymmdd: u32) -> bool {
    let (y, m, d) = (yyyymmdd / 10_000, yyyymmdd / 100 % 100, yyyymmdd % 100);
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    (1900..=2199).contains(&y) && (1..=12).contains(&m) && (1..=month_days).contains(&d)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;
    use xlfeed_core::TradingDay;

    fn div(ex_date: u32, amount: f64) -> Dividend {
        Dividend {
            ex_date,
            pay_date: 0,
            amount,
            yield_pct: 0.0,
        }
    }

    #[test]
    fn day_numbers_match_the_calendar() {
        assert_eq!(day_number(19700101), 0);
        assert_eq!(day_number(20000301) - day_number(20000228), 2);
        assert_eq!(day_number(21000301) - day_number(21000228), 1);
        assert_eq!(day_number(20240102), 19_724);
    }

    proptest! {
        #[test]
        fn day_numbers_count_days(days in 0u32..100_000) {
            let mut d = TradingDay::from_yyyymmdd(19000101).unwrap();
            let start = day_number(d.yyyymmdd());
            for _ in 0..days % 1000 {
                d = d.succ().unwrap();
            }
            prop_assert_eq!(day_number(d.yyyymmdd()) - start, i64::from(days % 1000));
        }

        #[test]
        fn is_date_agrees_with_trading_day(n in 18_991_231u32..22_000_101) {
            prop_assert_eq!(is_date(n), TradingDay::from_yyyymmdd(n).is_ok());
        }
    }

    #[test]
    fn counts_dividends_going_ex_after_the_trade_day_through_expiry() {
        let divs = [div(20240209, 0.24), div(20240510, 0.25)];
        // Ex on the trade day: already out of the price; ex on the expiry day: counted.
        let (pv, m) = dividend_pv(&divs, 20240209, 20240510, 0.0);
        assert_eq!((pv, m), (0.25, DividendMethod::Announced));
        let (pv, _) = dividend_pv(&divs, 20240208, 20240509, 0.0);
        assert_eq!(pv, 0.24);
    }

    #[test]
    fn the_yield_takes_the_discounted_dividends_off_the_spot() {
        let divs = [div(20240315, 1.0)];
        let (trade, expiry, r, spot) = (20240102, 20240621, 0.05, 100.0);
        let (q, m) = continuous_yield(spot, &divs, trade, expiry, r);
        assert_eq!(m, DividendMethod::Announced);
        let t = 171.0 / 365.0;
        let pv = (-r * 73.0 / 365.0_f64).exp();
        assert!((spot * (-q * t).exp() - (spot - pv)).abs() < 1e-12);
    }

    #[test]
    fn projects_the_schedule_past_the_last_announced_ex_date() {
        // Quarterly (91 days), last 0.25 on 2024-02-09: 2024-05-10 and 2024-08-09 projected.
        let divs = [div(20231110, 0.24), div(20240209, 0.25)];
        let (pv, m) = dividend_pv(&divs, 20240301, 20240816, 0.0);
        assert_eq!(m, DividendMethod::Projected);
        assert!((pv - 0.5).abs() < 1e-15);
        // An expiry before the next projected date needs no projection.
        assert_eq!(
            dividend_pv(&divs, 20240301, 20240509, 0.0),
            (0.0, DividendMethod::Announced)
        );
        // One dividend alone has no cadence; a 3-day gap looks like a special one.
        let one = [div(20240209, 0.25)];
        assert_eq!(
            dividend_pv(&one, 20240301, 20241231, 0.0),
            (0.0, DividendMethod::Announced)
        );
        let special = [div(20240206, 5.0), div(20240209, 0.25)];
        assert_eq!(
            dividend_pv(&special, 20240301, 20241231, 0.0).1,
            DividendMethod::Announced
        );
    }

    #[test]
    fn unusable_inputs_give_no_yield() {
        let divs = [div(20240315, 1.0)];
        assert_eq!(
            continuous_yield(100.0, &[], 20240102, 20240621, 0.05),
            (0.0, DividendMethod::None)
        );
        assert_eq!(
            continuous_yield(0.0, &divs, 20240102, 20240621, 0.05),
            (0.0, DividendMethod::None)
        );
        assert_eq!(
            continuous_yield(0.5, &divs, 20240102, 20240621, 0.0),
            (0.0, DividendMethod::None)
        );
        assert_eq!(
            continuous_yield(100.0, &divs, 20240230, 20240621, 0.05),
            (0.0, DividendMethod::None)
        );
        assert_eq!(
            continuous_yield(100.0, &[div(20240315, f64::NAN)], 20240102, 20240621, 0.05),
            (0.0, DividendMethod::None)
        );
        assert_eq!(yield_from_pv(100.0, 1.0, 0.0), None);
    }
}
