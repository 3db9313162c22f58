//! The simulated clock the Level 1 and admin ports run on: `today`'s open when the simulator
//! started, running at `SimConfig::l1_speed` times real time.

use chrono::{NaiveDateTime, NaiveTime};
use tokio::time::Instant;
use xlfeed_core::calendar::{new_york_to_utc_ns, utc_ns_to_new_york};
use xlfeed_core::{Nyse, TradingDay};

/// The simulated clock: `today`'s open when the simulator started, running at `l1_speed`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SimClock {
    start: Instant,
    origin_ns: i64,
    speed: f64,
}

impl SimClock {
    pub(super) fn new(today: TradingDay, speed: f64) -> SimClock {
        let origin_ns = Nyse.session(today).map_or_else(
            || {
                let open = NaiveTime::from_hms_opt(9, 30, 0).unwrap_or(NaiveTime::MIN);
                new_york_to_utc_ns(today.date().and_time(open)).unwrap_or(0)
            },
            |s| s.open_utc_ns(),
        );
        SimClock {
            start: Instant::now(),
            origin_ns,
            speed: if speed.is_finite() && speed > 0.0 {
                speed
            } else {
                1.0
            },
        }
    }

    /// Simulated time now, UTC nanoseconds.
    pub(crate) fn now_ns(&self) -> i64 {
        let real = Instant::now().duration_since(self.start).as_secs_f64();
        self.origin_ns + (real * self.speed * 1e9) as i64
    }

    /// The real instant the simulated clock reaches `ns`.
    pub(crate) fn instant_of(&self, ns: i64) -> Instant {
        let secs = ((ns - self.origin_ns) as f64 / 1e9 / self.speed).max(0.0);
        self.start + std::time::Duration::from_secs_f64(secs.min(1e9))
    }

    /// Simulated time when the simulator started (`today`'s open), UTC nanoseconds.
    pub(crate) fn start_ns(&self) -> i64 {
        self.origin_ns
    }

    /// Simulated time now in New York.
    pub(crate) fn now_local(&self) -> NaiveDateTime {
        utc_ns_to_new_york(self.now_ns())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn the_clock_starts_at_the_open_and_runs_at_its_speed() {
        let today = TradingDay::parse("2024-06-12").unwrap();
        let clock = SimClock::new(today, 60.0);
        let open = Nyse.session(today).unwrap().open_utc_ns();
        assert_eq!(clock.now_ns(), open);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(clock.now_ns(), open + 60_000_000_000);
        assert_eq!(clock.now_local().format("%H:%M:%S").to_string(), "09:31:00");
        let at = clock.instant_of(open + 120_000_000_000);
        assert_eq!(at.duration_since(clock.start), Duration::from_secs(2));
    }
}
