#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
//! The as-of join against pandas `merge_asof`: fixtures checked once with pandas
//! (tests/fixtures/asof_*.txt, see asof_check_pandas.py beside them), and a property test
//! against a brute-force reference.

use std::path::Path;

use proptest::prelude::*;
use xlfeed_analytics::asof::{Direction, asof, asof_into};

/// One fixture: left and right times, and the expected matches per (direction, tolerance).
struct Fixture {
    left: Vec<i64>,
    right: Vec<i64>,
    cases: Vec<(Direction, Option<i64>, Vec<Option<usize>>)>,
}

fn read_fixture(name: &str) -> Fixture {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("fixture");
    let mut f = Fixture {
        left: Vec::new(),
        right: Vec::new(),
        cases: Vec::new(),
    };
    for line in text.lines() {
        let mut words = line.split_whitespace().peekable();
        let Some(head) = words.next() else { continue };
        match head {
            h if h.starts_with('#') => {}
            "left" => f.left.extend(words.map(|w| w.parse::<i64>().unwrap())),
            "right" => f.right.extend(words.map(|w| w.parse::<i64>().unwrap())),
            direction => {
                let direction = match direction {
                    "backward" => Direction::Backward,
                    "nearest" => Direction::Nearest,
                    other => panic!("{name}: unknown direction {other}"),
                };
                let tolerance = words
                    .next_if(|w| w.starts_with("tolerance="))
                    .map(|w| w["tolerance=".len()..].parse::<i64>().unwrap());
                let expected = words
                    .map(|w| (w != "-").then(|| w.parse::<usize>().unwrap()))
                    .collect();
                f.cases.push((direction, tolerance, expected));
            }
        }
    }
    assert!(!f.cases.is_empty(), "{name} has no cases");
    f
}

fn check_fixture(name: &str) {
    let f = read_fixture(name);
    for (direction, tolerance, expected) in &f.cases {
        assert_eq!(
            expected.len(),
            f.left.len(),
            "{name}: {direction:?} {tolerance:?}"
        );
        assert_eq!(
            &asof(&f.left, &f.right, *direction, *tolerance),
            expected,
            "{name}: {direction:?} tolerance {tolerance:?}"
        );
    }
}

#[test]
fn equal_times_on_both_sides_take_the_last_equal_right_row() {
    check_fixture("asof_equal_times.txt");
}

#[test]
fn gaps_and_option_trades_before_any_underlying_trade() {
    check_fixture("asof_gaps.txt");
}

#[test]
fn five_second_staleness_in_nanoseconds_is_inclusive() {
    check_fixture("asof_nanoseconds.txt");
}

#[test]
fn a_negative_tolerance_matches_nothing() {
    let got = asof(&[1, 2, 3], &[1, 2, 3], Direction::Nearest, Some(-1));
    assert_eq!(got, vec![None, None, None]);
}

#[test]
fn unsorted_inputs_get_the_same_answer_as_sorted_ones() {
    // Left out of order: each row still gets its match.
    let right = [10, 20, 20, 30];
    assert_eq!(
        asof(&[25, 5, 20, 31], &right, Direction::Backward, None),
        vec![Some(2), None, Some(2), Some(3)]
    );
    // Right out of order: matches are indices into the right side as given; of equal right
    // times the last one given wins backward.
    let right = [30, 20, 10, 20];
    assert_eq!(
        asof(&[5, 20, 25, 31], &right, Direction::Backward, None),
        vec![None, Some(3), Some(3), Some(0)]
    );
    assert_eq!(
        asof(&[5, 16, 25], &right, Direction::Nearest, None),
        vec![Some(2), Some(1), Some(3)]
    );
}

#[test]
fn asof_into_reuses_the_buffer() {
    let mut out = vec![Some(9); 10];
    asof_into(&[1, 2], &[1], Direction::Backward, None, &mut out);
    assert_eq!(out, vec![Some(0), Some(0)]);
}

/// The reference: look at every right row. Backward: of the right times `<= l`, the largest,
/// the last of those equal to it. Nearest: the smallest distance; among rows at that distance,
/// the last one at or before `l` if there is one, else the first one after it.
fn brute(
    left: &[i64],
    right: &[i64],
    direction: Direction,
    tol: Option<i64>,
) -> Vec<Option<usize>> {
    let within = |d: u64| tol.is_none_or(|t| t >= 0 && d <= t as u64);
    left.iter()
        .map(|&l| {
            let best = match direction {
                Direction::Backward => {
                    let max = right.iter().filter(|&&r| r <= l).max()?;
                    (0..right.len()).rev().find(|&j| right[j] == *max)?
                }
                Direction::Nearest => {
                    let dmin = right.iter().map(|r| r.abs_diff(l)).min()?;
                    let at = |j: &usize| right[*j].abs_diff(l) == dmin;
                    match (0..right.len()).rev().filter(at).find(|&j| right[j] <= l) {
                        Some(j) => j,
                        None => (0..right.len()).find(|j| at(j))?,
                    }
                }
            };
            within(right[best].abs_diff(l)).then_some(best)
        })
        .collect()
}

fn times(max_len: usize) -> impl Strategy<Value = Vec<i64>> {
    // A narrow range, so equal times on both sides are common.
    prop::collection::vec(-20i64..60, 0..max_len)
}

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![Just(Direction::Backward), Just(Direction::Nearest)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn sorted_inputs_match_the_brute_force_reference(
        mut left in times(40),
        mut right in times(40),
        direction in direction(),
        tol in prop::option::of(-2i64..30),
    ) {
        left.sort();
        right.sort();
        prop_assert_eq!(asof(&left, &right, direction, tol), brute(&left, &right, direction, tol));
    }

    #[test]
    fn unsorted_inputs_match_the_brute_force_reference(
        left in times(30),
        right in times(30),
        direction in direction(),
        tol in prop::option::of(0i64..30),
    ) {
        prop_assert_eq!(asof(&left, &right, direction, tol), brute(&left, &right, direction, tol));
    }

    #[test]
    fn wide_times_do_not_overflow(
        mut left in prop::collection::vec(any::<i64>(), 0..20),
        mut right in prop::collection::vec(any::<i64>(), 0..20),
        direction in direction(),
        tol in prop::option::of(any::<i64>()),
    ) {
        left.sort();
        right.sort();
        prop_assert_eq!(asof(&left, &right, direction, tol), brute(&left, &right, direction, tol));
    }
}
