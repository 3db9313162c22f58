#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
//! Rate curves: each quoting convention to zero rates, the par bootstrap, interpolation, the
//! curve policy, and errors that name the bad value.

use xlfeed_analytics::rates::{Curve, CurvePolicy, RateError};
use xlfeed_core::ErrorKind;
use xlfeed_core::records::RatePoint;

fn point(tenor_days: i64, rate: f64, convention: char) -> RatePoint {
    RatePoint {
        tenor_days,
        rate,
        convention,
    }
}

fn curve(name: &str, date: u32, points: Vec<RatePoint>) -> Curve {
    Curve {
        name: name.to_string(),
        date,
        points,
    }
}

fn close(a: f64, b: f64, tol: f64) {
    assert!(
        (a - b).abs() <= tol,
        "{a} vs {b}: off by {:e}",
        (a - b).abs()
    );
}

/// Treasury par yields (CMT) of 2023-07-03 as `import rates` stores them (months 30 days,
/// years 365), plus a 9-month point off the half-year grid.
fn ust_2023_07_03() -> Curve {
    let quotes = [
        (30, 5.28),
        (60, 5.39),
        (90, 5.44),
        (120, 5.51),
        (180, 5.50),
        (270, 5.45),
        (365, 5.38),
        (730, 4.94),
        (1095, 4.63),
        (1825, 4.32),
        (2555, 4.15),
        (3650, 3.86),
        (7300, 4.06),
        (10950, 3.88),
    ];
    curve(
        "UST_PAR",
        20230703,
        quotes
            .iter()
            .map(|&(d, pct)| point(d, pct / 100.0, 'P'))
            .collect(),
    )
}

#[test]
fn money_market_rates_become_continuous_act_365_zeros() {
    // 5% simple act/360 for 90 days: ln(1 + 0.05·90/360)·365/90 (worked to 40 digits).
    let c = curve("SOFR", 20230703, vec![point(90, 0.05, 'M')]);
    close(c.zero_rate(90.0).unwrap(), 0.050380219994148455, 1e-16);
}

#[test]
fn zero_quotes_are_taken_as_they_are_and_interpolated_linearly_in_time() {
    let c = curve(
        "TEST_ZERO",
        20240102,
        vec![point(365, 0.03, 'Z'), point(30, 0.01, 'Z')],
    );
    close(c.zero_rate(30.0).unwrap(), 0.01, 0.0);
    close(c.zero_rate(197.5).unwrap(), 0.02, 1e-16);
    close(c.zero_rate(113.75).unwrap(), 0.015, 1e-16);
    // Flat beyond the ends, including time zero.
    close(c.zero_rate(0.0).unwrap(), 0.01, 0.0);
    close(c.zero_rate(3.5).unwrap(), 0.01, 0.0);
    close(c.zero_rate(10_000.0).unwrap(), 0.03, 0.0);
}

#[test]
fn a_flat_par_curve_is_a_flat_semi_annual_zero_curve() {
    // A bond paying y/2 twice a year prices at par when every cash flow is discounted at
    // (1 + y/2)^(-2t), i.e. z = 2 ln(1 + y/2).
    let c = curve(
        "UST_PAR",
        20240102,
        vec![
            point(365, 0.04, 'P'),
            point(730, 0.04, 'P'),
            point(1825, 0.04, 'P'),
        ],
    );
    let z = 2.0 * 1.02f64.ln();
    for days in [100.0, 365.0, 500.0, 730.0, 1000.0, 1825.0, 4000.0] {
        close(c.zero_rate(days).unwrap(), z, 1e-15);
    }
}

#[test]
fn par_bootstrap_matches_a_hand_worked_two_bond_curve() {
    // 1Y at 4%: z1 = 2 ln 1.02 (nothing before it, so its 6-month coupon is on the same flat
    // rate). 2Y at 5%: 0.025·(e^{-z1/2} + e^{-z1} + e^{-1.5·(z1+z2)/2}) + 1.025·e^{-2·z2} = 1,
    // the 18-month coupon on the line from (1, z1) to (2, z2); solved by bisection to 40
    // digits: z2 = 0.0496649831297953107...
    let c = curve(
        "UST_PAR",
        20240102,
        vec![point(730, 0.05, 'P'), point(365, 0.04, 'P')],
    );
    close(c.zero_rate(365.0).unwrap(), 0.039605254592359426, 1e-15);
    close(c.zero_rate(730.0).unwrap(), 0.04966498312979531, 1e-15);
}

#[test]
fn bills_are_simple_act_365_up_to_half_a_year() {
    let c = curve("UST_PAR", 20230703, vec![point(91, 0.0544, 'P')]);
    let t: f64 = 91.0 / 365.0;
    close(c.zero_rate(91.0).unwrap(), (0.0544 * t).ln_1p() / t, 1e-16);
}

#[test]
fn every_treasury_par_bond_reprices_to_par_on_the_bootstrapped_curve() {
    let c = ust_2023_07_03();
    let zeros = c.zeros().unwrap();
    for p in &c.points {
        let t = p.tenor_days as f64 / 365.0;
        let df = |years: f64| zeros.discount(years * 365.0).unwrap();
        let price = if t <= 0.5 {
            df(t) * (1.0 + p.rate * t)
        } else {
            // Coupons every half year back from maturity; dirty price = 1 + accrued.
            let n = (t / 0.5 - 1e-9).floor() as usize;
            let first = t - 0.5 * n as f64;
            let coupons: f64 = (0..=n).map(|k| df(first + 0.5 * k as f64)).sum();
            let accrued = p.rate / 2.0 * (0.5 - first) / 0.5;
            p.rate / 2.0 * coupons + df(t) - accrued
        };
        close(price, 1.0, 1e-13);
    }
    // An inverted money-market end and a humped long end: zeros stay near the par yields.
    let z = |d: f64| zeros.rate(d).unwrap();
    assert!(z(30.0) > 0.051 && z(30.0) < 0.054, "{}", z(30.0));
    assert!(z(3650.0) > 0.035 && z(3650.0) < 0.040, "{}", z(3650.0));
    assert!(z(10950.0) < 0.04, "{}", z(10950.0));
}

#[test]
fn a_curve_may_mix_conventions() {
    let c = curve(
        "MIXED",
        20240102,
        vec![
            point(1, 0.053, 'M'),
            point(90, 0.0535, 'M'),
            point(730, 0.045, 'P'),
        ],
    );
    let overnight = (0.053f64 / 360.0).ln_1p() * 365.0;
    close(c.zero_rate(0.25).unwrap(), overnight, 1e-15);
    let two_years = c.zero_rate(730.0).unwrap();
    assert!((0.043..0.046).contains(&two_years), "{two_years}");
}

#[test]
fn errors_name_the_curve_the_date_and_the_bad_value() {
    let e = curve("SOFR", 20230703, vec![]).zero_rate(30.0).unwrap_err();
    assert_eq!(e.to_string(), "curve SOFR on 2023-07-03 has no points");
    assert_eq!(e.kind(), ErrorKind::NotFound);

    let e = curve("SOFR", 20230703, vec![point(30, f64::NAN, 'M')])
        .zero_rate(30.0)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "curve SOFR on 2023-07-03: rate NaN at tenor 30 days is not a finite number"
    );
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);

    let e = curve("SOFR", 20230703, vec![point(30, 5.25, 'M')])
        .zero_rate(30.0)
        .unwrap_err();
    assert!(e.to_string().contains("rate 5.25 at tenor 30 days"), "{e}");
    assert!(e.to_string().contains("percentage"), "{e}");

    let e = curve("SOFR", 20230703, vec![point(0, 0.05, 'M')])
        .zero_rate(30.0)
        .unwrap_err();
    assert!(e.to_string().contains("tenor 0 days"), "{e}");

    let e = curve("SOFR", 20230703, vec![point(30, 0.05, 'X')])
        .zero_rate(30.0)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "curve SOFR on 2023-07-03: unknown convention 'X' at tenor 30 days (expected 'M', 'P' or 'Z')"
    );

    let e = curve(
        "SOFR",
        20230703,
        vec![point(30, 0.05, 'M'), point(30, 0.051, 'M')],
    )
    .zero_rate(30.0)
    .unwrap_err();
    assert!(e.to_string().contains("appears twice"), "{e}");

    let e = curve("SOFR", 20230703, vec![point(3650, -0.5, 'M')])
        .zero_rate(30.0)
        .unwrap_err();
    assert!(matches!(e, RateError::BadPoint { .. }), "{e}");
    assert!(e.to_string().contains("negative discount factor"), "{e}");

    let good = curve("SOFR", 20230703, vec![point(30, 0.05, 'M')]);
    let e = good.zero_rate(-1.0).unwrap_err();
    assert_eq!(
        e.to_string(),
        "curve SOFR on 2023-07-03: -1 days is not a time to expiry"
    );
    assert!(good.zero_rate(f64::INFINITY).is_err());
    assert!(good.zero_rate(f64::NAN).is_err());
}

#[test]
fn default_policy_follows_the_market() {
    let p = CurvePolicy::default_usd();
    assert_eq!(p.candidates(20230630), ["USD_LIBOR", "UST_PAR"]);
    assert_eq!(p.candidates(20230701), ["SOFR", "UST_PAR"]);
    assert_eq!(p.candidates(20230703), ["SOFR", "UST_PAR"]);
    assert_eq!(p.candidates(19990104), ["USD_LIBOR", "UST_PAR"]);
    assert_eq!(
        p,
        CurvePolicy::parse("..2023-06-30=USD_LIBOR,2023-07-01..=SOFR;fallback=UST_PAR").unwrap()
    );
}

#[test]
fn policies_parse_ordered_preferences_ranges_and_fallbacks() {
    let p = CurvePolicy::parse(
        " 2020-01-01..2023-06-30 = usd_libor|SOFR , 2023-07-01.. = SOFR ; 20231225=UST_PAR ; \
         fallback = UST_PAR|ZERO_TEST ; max_age=3",
    )
    .unwrap();
    assert_eq!(p.candidates(20191231), ["UST_PAR", "ZERO_TEST"]);
    assert_eq!(
        p.candidates(20230630),
        ["USD_LIBOR", "SOFR", "UST_PAR", "ZERO_TEST"]
    );
    assert_eq!(p.candidates(20231225), ["SOFR", "UST_PAR", "ZERO_TEST"]);
    assert_eq!(p.max_age_days(), 3);
    let again = CurvePolicy::parse(&p.to_string()).unwrap();
    assert_eq!(again, p);
}

#[test]
fn policy_errors_name_the_bad_part() {
    let cases = [
        ("", "names no curve"),
        ("2023-02-30..=SOFR", "\"2023-02-30\" is not a calendar date"),
        ("2023-07-01..2023-06-30=SOFR", "range starts after it ends"),
        ("2023-07-01..", "is not RANGE=CURVE"),
        ("=SOFR", "has no date range"),
        ("..=SO FR", "curve name \"SO FR\""),
        ("..=SOFR|", "curve name \"\""),
        ("..=SOFR;max_age=week", "max_age \"week\""),
        ("..=SOFR;fallback=A;fallback=B", "fallback is given twice"),
    ];
    for (text, needle) in cases {
        let e = CurvePolicy::parse(text).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!("curve policy \"{text}\"")),
            "{msg}"
        );
        assert!(msg.contains(needle), "{text:?}: {msg}");
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    }
}

#[test]
fn select_falls_back_when_the_preferred_curve_is_missing_or_stale() {
    let p = CurvePolicy::default_usd();
    // Stored curves: (name, dates).
    let store: &[(&str, &[u32])] = &[
        ("USD_LIBOR", &[20230629, 20230630]),
        ("SOFR", &[20230705, 20230801]),
        (
            "UST_PAR",
            &[20230630, 20230703, 20230705, 20230720, 20230901],
        ),
    ];
    let latest = |day: u32| {
        move |name: &str| {
            store
                .iter()
                .find(|(n, _)| *n == name)
                .and_then(|(_, dates)| dates.iter().rev().find(|&&d| d <= day))
                .map(|&d| (d, format!("{name}@{d}")))
        }
    };
    // LIBOR on its last day.
    let s = p.select(20230630, latest(20230630)).unwrap();
    assert_eq!((s.curve, s.date, s.age_days), ("USD_LIBOR", 20230630, 0));
    // SOFR has no curve on or before 2023-07-03: the Treasury curve.
    let s = p.select(20230703, latest(20230703)).unwrap();
    assert_eq!((s.curve, s.value.as_str()), ("UST_PAR", "UST_PAR@20230703"));
    // SOFR from its first day; the latest earlier date over a weekend.
    let s = p.select(20230708, latest(20230708)).unwrap();
    assert_eq!((s.curve, s.date, s.age_days), ("SOFR", 20230705, 3));
    // SOFR 18 days old, past max_age: the fresh Treasury curve wins.
    let s = p.select(20230723, latest(20230723)).unwrap();
    assert_eq!((s.curve, s.date), ("UST_PAR", 20230720));
    // Every candidate stale: the most recent one, its age for the caller to flag.
    let s = p.select(20230825, latest(20230825)).unwrap();
    assert_eq!((s.curve, s.date, s.age_days), ("SOFR", 20230801, 24));
    // Nothing stored that early.
    assert!(p.select(20200102, latest(20200102)).is_none());
}
