//! A token bucket: IQFeed's history servers allow about 50 requests a second, refilled
//! continuously, and answer `Too many simultaneous history requests` beyond that.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// A token bucket shared by every request of a client.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    /// `rate` tokens a second, holding at most `burst`; it starts with one token (not a full
    /// bucket) so that a client's opening burst is smoothed too.
    pub fn new(rate: f64, burst: u32) -> RateLimiter {
        let rate = if rate.is_finite() && rate > 0.0 {
            rate
        } else {
            50.0
        };
        RateLimiter {
            rate,
            burst: f64::from(burst.max(1)),
            state: Mutex::new((1.0, Instant::now())),
        }
    }

    /// Waits for a token and takes it.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut s = self.state.lock().await;
                let now = Instant::now();
                let (tokens, last) = *s;
                let tokens =
                    (tokens + now.duration_since(last).as_secs_f64() * self.rate).min(self.burst);
                if tokens >= 1.0 {
                    *s = (tokens - 1.0, now);
                    return;
                }
                *s = (tokens, now);
                Duration::from_secs_f64((1.0 - tokens) / self.rate)
            };
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn paces_requests_at_the_rate() {
        let l = RateLimiter::new(50.0, 50);
        let t0 = Instant::now();
        for _ in 0..101 {
            l.acquire().await;
        }
        // One token to start, then 100 more at 50 a second: two seconds.
        let took = t0.elapsed().as_secs_f64();
        assert!((took - 2.0).abs() < 0.05, "{took}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_bucket_allows_a_burst_up_to_its_size() {
        let l = RateLimiter::new(10.0, 5);
        tokio::time::sleep(Duration::from_secs(10)).await;
        let t0 = Instant::now();
        for _ in 0..5 {
            l.acquire().await;
        }
        assert!(t0.elapsed() < Duration::from_millis(1));
        l.acquire().await;
        assert!(t0.elapsed() >= Duration::from_millis(99));
    }
}
