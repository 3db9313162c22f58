//! The history rate limit: one token bucket shared by every lookup connection
//! ([`super::server::SimConfig::rate_limit`]). A history request the
//! bucket refuses is answered `E,Too many simultaneous history requests,`.

use tokio::time::Instant;

/// The history rate limit: a token bucket that starts full.
#[derive(Debug)]
pub(super) struct Bucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub(super) fn new(capacity: u32, per_second: f64) -> Bucket {
        let capacity = f64::from(capacity.max(1));
        Bucket {
            capacity,
            per_second: if per_second.is_finite() && per_second > 0.0 {
                per_second
            } else {
                0.0
            },
            tokens: capacity,
            last: Instant::now(),
        }
    }

    pub(super) fn take(&mut self, now: Instant) -> bool {
        let refill = now.duration_since(self.last).as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + refill).min(self.capacity);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn the_bucket_starts_full_and_refills_at_its_rate() {
        let mut b = Bucket::new(3, 2.0);
        let now = Instant::now();
        assert!((0..3).all(|_| b.take(now)));
        assert!(!b.take(now));
        assert!(!b.take(now + Duration::from_millis(400)));
        assert!(b.take(now + Duration::from_millis(500)));
        // Never more than its capacity, however long it rests.
        let later = now + Duration::from_secs(60);
        assert!((0..3).all(|_| b.take(later)));
        assert!(!b.take(later));
    }
}
