//! The as-of join: which underlying trade each option trade pairs with.
//!
//! Postprocess pairs each option trade with the underlying's trade at or before it (no
//! look-ahead), or optionally the nearest in either direction, within a maximum staleness.
//! The semantics are pandas' `merge_asof(left, right, on=time, direction="backward" |
//! "nearest", tolerance=..., allow_exact_matches=True)`, one underlying per call (the caller
//! does the `by=underlying` part):
//!
//! - backward: the last right time `<=` the left time; of several equal right times, the
//!   last of them;
//! - nearest: the backward match or the first right time `>=` the left time, whichever is
//!   closer, the backward one on a tie (so an exact match is the last of the equal right
//!   times, like backward);
//! - tolerance: a match further than `tolerance` from the left time is no match, and one
//!   exactly `tolerance` away is a match; in nearest, each side is checked before the closer is
//!   chosen, so a backward match beyond the tolerance leaves the forward one to win.
//!
//! Sorted inputs (the usual case: a day's trades come out of the store in time order) are
//! joined in one pass, `O(n + m)`. Unsorted inputs still give the answer above (pandas would
//! refuse them): an unsorted left side is joined by binary search, an unsorted right side is
//! sorted first (stably, so "the last of equal right times" is the last in the order given).

/// Which right row a left row pairs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The last right time at or before the left time (no look-ahead).
    Backward,
    /// The closest right time either side, the backward one on a tie.
    Nearest,
}

/// For each left time, the index of the right row it pairs with, like
/// `pandas.merge_asof(left, right, on=time, direction=..., tolerance=...,
/// allow_exact_matches=True)`; `None` when there is none or it is further than `tolerance`
/// (a negative tolerance matches nothing). `O(n + m)` on sorted input; see the module docs.
pub fn asof(
    left: &[i64],
    right: &[i64],
    direction: Direction,
    tolerance: Option<i64>,
) -> Vec<Option<usize>> {
    let mut out = Vec::with_capacity(left.len());
    asof_into(left, right, direction, tolerance, &mut out);
    out
}

/// [`asof`] into a buffer the caller reuses: `out` is cleared, then holds one entry per left
/// time.
pub fn asof_into(
    left: &[i64],
    right: &[i64],
    direction: Direction,
    tolerance: Option<i64>,
    out: &mut Vec<Option<usize>>,
) {
    out.clear();
    let tolerance = match tolerance {
        Some(t) if t < 0 => {
            out.resize(left.len(), None);
            return;
        }
        Some(t) => t.unsigned_abs(),
        None => u64::MAX,
    };
    if right.is_sorted() {
        join_sorted_right(left, right, direction, tolerance, out);
        return;
    }
    let mut order: Vec<usize> = (0..right.len()).collect();
    order.sort_by_key(|&i| right[i]);
    let sorted: Vec<i64> = order.iter().map(|&i| right[i]).collect();
    join_sorted_right(left, &sorted, direction, tolerance, out);
    for m in out.iter_mut().flatten() {
        *m = order[*m];
    }
}

/// The join with `right` sorted; `left` in any order.
fn join_sorted_right(
    left: &[i64],
    right: &[i64],
    direction: Direction,
    tolerance: u64,
    out: &mut Vec<Option<usize>>,
) {
    let Some(&first) = left.first() else {
        return;
    };
    if !left.is_sorted() {
        out.extend(left.iter().map(|&l| {
            let after = right.partition_point(|&r| r <= l);
            pick(right, l, after, direction, tolerance)
        }));
        return;
    }
    // `after` is the number of right times <= the current left time; it only moves forward.
    let mut after = right.partition_point(|&r| r <= first);
    out.extend(left.iter().map(|&l| {
        while after < right.len() && right[after] <= l {
            after += 1;
        }
        pick(right, l, after, direction, tolerance)
    }));
}

/// The match for left time `l`, given `after`, the number of right times `<= l`.
#[inline(always)]
fn pick(
    right: &[i64],
    l: i64,
    after: usize,
    direction: Direction,
    tolerance: u64,
) -> Option<usize> {
    // The last right time <= l, and how far back it is.
    let back = after
        .checked_sub(1)
        .map(|i| (i, l.abs_diff(right[i])))
        .filter(|&(_, d)| d <= tolerance);
    match direction {
        Direction::Backward => back.map(|(i, _)| i),
        Direction::Nearest => {
            // The first right time > l; when some right time equals l the backward match is
            // at distance 0 and wins, so "first >= l" never needs looking for.
            let ahead = right
                .get(after)
                .map(|&r| (after, r.abs_diff(l)))
                .filter(|&(_, d)| d <= tolerance);
            match (back, ahead) {
                (Some((b, db)), Some((a, da))) => Some(if db <= da { b } else { a }),
                (Some((b, _)), None) => Some(b),
                (None, Some((a, _))) => Some(a),
                (None, None) => None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_sides() {
        assert_eq!(asof(&[], &[1, 2], Direction::Backward, None), vec![]);
        assert_eq!(
            asof(&[1, 2], &[], Direction::Nearest, None),
            vec![None, None]
        );
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        let right = [i64::MIN, i64::MAX];
        // 0 is 2^63 after MIN and 2^63 - 1 before MAX.
        assert_eq!(asof(&[0], &right, Direction::Nearest, None), vec![Some(1)]);
        assert_eq!(asof(&[-1], &right, Direction::Nearest, None), vec![Some(0)]);
        assert_eq!(
            asof(&[i64::MAX], &right, Direction::Backward, Some(i64::MAX)),
            vec![Some(1)]
        );
        assert_eq!(
            asof(
                &[i64::MAX],
                &[i64::MIN],
                Direction::Backward,
                Some(i64::MAX)
            ),
            vec![None]
        );
    }
}
