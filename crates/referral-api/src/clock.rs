//! The service's clock: the wall clock, which a test may move forward to see what the
//! service does days later (cadences, expiry, retention) without waiting.

use chrono::{DateTime, Duration, Utc};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// The time every handler and round reads. Clones share one offset.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// Milliseconds added to the wall clock: zero outside tests.
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// Now, by this clock.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Moves the clock forward by `by` (never back: the service's times only grow).
    /// For tests; the binary never calls it.
    #[doc(hidden)]
    pub fn advance(&self, by: Duration) {
        let ms = by.num_milliseconds().max(0);
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
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
