//! The service's clock: the wall clock, which a test may move forward to see what the
//! service does days later (cadences, expiry, retention) without waiting.

use chrono::{DateTime, Duration, Utc};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// The time every handler and round reads. Clones share one offset.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// Microseconds added to the wall clock: zero outside tests.
    offset_us: Arc<AtomicI64>,
}

impl Clock {
    /// Now, by this clock.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + Duration::microseconds(self.offset_us.load(Ordering::Relaxed))
    }

    /// Moves the clock forward by `by` (never back: the service's times only grow).
    /// For tests; the binary never calls it.
    #[doc(hidden)]
    pub fn advance(&self, by: Duration) {
        // Rounded up: after `advance_to(at)` the clock reads `at` or later, never before.
        let us = by.num_microseconds().unwrap_or(i64::MAX).max(0);
        let us = if by > Duration::microseconds(us) {
            us.saturating_add(1)
        } else {
            us
        };
        self.offset_us.fetch_add(us, Ordering::Relaxed);
    }

    /// Moves the clock forward to `at` (nothing when it is already later). For tests.
    #[doc(hidden)]
    pub fn advance_to(&self, at: DateTime<Utc>) {
        self.advance(at - self.now() + Duration::microseconds(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_move_together_and_only_forward() {
        let clock = Clock::default();
        let other = clock.clone();
        let before = clock.now();
        other.advance(Duration::days(3));
        assert!(clock.now() - before >= Duration::days(3));
        other.advance(Duration::days(-10));
        assert!(clock.now() - before >= Duration::days(3));
    }
}
