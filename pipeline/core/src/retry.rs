//! The one retry policy: capped exponential backoff with jitter.
//!
//! Every loop that waits for something to come back (an IQFeed request, IQConnect's lookup
//! port, a store) takes a [`Backoff`] and drives it with `backon`'s `Retryable`, so the
//! pauses follow one rule: the first pause, doubled after each attempt up to the cap, each
//! stretched by a random part of itself (up to as much again) so that many clients that
//! failed together do not come back together. The policy is plain data; the waiting is the
//! caller's.

use std::time::Duration;

use backon::ExponentialBuilder;

/// A retry policy: `attempts` in all, pauses from `first` doubling to `max`, with jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The pause after the first failed attempt (before jitter).
    pub first: Duration,
    /// The longest pause (before jitter).
    pub max: Duration,
    /// Attempts in all, the first included (at least 1).
    pub attempts: u32,
}

impl Backoff {
    /// The policy of `attempts` attempts, pauses from `first` doubling to `max`.
    pub const fn new(first: Duration, max: Duration, attempts: u32) -> Backoff {
        Backoff {
            first,
            max,
            attempts,
        }
    }

    /// The same pauses over `attempts` attempts.
    pub const fn with_attempts(self, attempts: u32) -> Backoff {
        Backoff { attempts, ..self }
    }

    /// The policy for `backon`: `attempts - 1` retries (none for 0 or 1 attempt).
    pub fn builder(self) -> ExponentialBuilder {
        let max = self.max.max(self.first);
        ExponentialBuilder::new()
            .with_jitter()
            .with_factor(2.0)
            .with_min_delay(self.first)
            .with_max_delay(max)
            .with_max_times(self.attempts.saturating_sub(1) as usize)
    }

    /// The pauses between attempts, as one run of the policy would take them.
    pub fn pauses(self) -> impl Iterator<Item = Duration> {
        use backon::BackoffBuilder;
        self.builder().build()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn pauses_double_up_to_the_cap_with_at_most_as_much_again_of_jitter(
            first_ms in 1u64..2_000,
            max_ms in 1u64..20_000,
            attempts in 0u32..12,
        ) {
            let b = Backoff::new(
                Duration::from_millis(first_ms),
                Duration::from_millis(max_ms),
                attempts,
            );
            let pauses: Vec<Duration> = b.pauses().collect();
            prop_assert_eq!(pauses.len(), attempts.saturating_sub(1) as usize);
            let cap = b.max.max(b.first);
            let mut base = b.first;
            for p in pauses {
                prop_assert!(p >= base.mul_f64(0.999), "{p:?} below {base:?}");
                prop_assert!(p <= base.mul_f64(2.001), "{p:?} above twice {base:?}");
                base = (base * 2).min(cap);
            }
        }
    }

    #[test]
    fn the_pauses_are_not_all_alike() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5), 2);
        let firsts: std::collections::BTreeSet<Duration> =
            (0..20).map(|_| b.pauses().next().unwrap()).collect();
        assert!(firsts.len() > 1, "no jitter: {firsts:?}");
    }
}
