//! Reads that may use a PostgreSQL read replica (`--replica-url`, #33): analytics,
//! performance, the portal's lists and CSV exports. Writes, and reads that must see the
//! caller's own writes (a patient's referrals right after creating one, a page after its
//! form post), stay on the primary.
//!
//! Once a second the service asks the replica how far behind it is
//! (`referral_store::observe::replica_lag_ms`, from its replay position and timestamp).
//! While it cannot be reached or lags more than `--replica-max-lag`, reads use the primary,
//! and `/ready` says so; they return to the replica when it catches up, with no restart.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Lag value meaning "not reachable".
const UNREACHABLE: i64 = -1;

/// A read replica and what the service last measured of it.
#[derive(Debug)]
pub struct Replica {
    /// Connections to the replica.
    pub pool: referral_store::Pool,
    max_lag: Duration,
    lag_ms: AtomicI64,
}

/// Where reads go now, as `/ready` and the metrics say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaState {
    /// The replica is within `--replica-max-lag`: reads use it.
    InUse,
    /// It lags more: reads use the primary.
    Lagging,
    /// It cannot be reached: reads use the primary.
    Down,
}

impl ReplicaState {
    /// As `/ready` says it.
    pub const fn as_str(self) -> &'static str {
        match self {
            ReplicaState::InUse => "in_use",
            ReplicaState::Lagging => "lagging",
            ReplicaState::Down => "down",
        }
    }
}

impl Replica {
    /// A replica on `pool`, used while it lags at most `max_lag`. Until the first
    /// measurement it counts as down.
    pub fn new(pool: referral_store::Pool, max_lag: Duration) -> Self {
        Self {
            pool,
            max_lag,
            lag_ms: AtomicI64::new(UNREACHABLE),
        }
    }

    /// Where reads go now.
    pub fn state(&self) -> ReplicaState {
        let lag = self.lag_ms.load(Ordering::Relaxed);
        if lag == UNREACHABLE {
            ReplicaState::Down
        } else if u128::try_from(lag).unwrap_or(u128::MAX) > self.max_lag.as_millis() {
            ReplicaState::Lagging
        } else {
            ReplicaState::InUse
        }
    }

    /// The last measured lag in seconds (`None`: not reachable).
    pub fn lag_seconds(&self) -> Option<f64> {
        let lag = self.lag_ms.load(Ordering::Relaxed);
        (lag != UNREACHABLE).then(|| lag as f64 / 1000.0)
    }

    /// Notes that a read failed to reach it (reads use the primary until the next
    /// measurement finds it again).
    pub fn mark_down(&self) {
        self.lag_ms.store(UNREACHABLE, Ordering::Relaxed);
    }

    /// Measures the lag once.
    pub fn measure(&self) {
        let lag =
            referral_store::with_connection(&self.pool, referral_store::observe::replica_lag_ms);
        self.lag_ms
            .store(lag.unwrap_or(UNREACHABLE), Ordering::Relaxed);
    }
}

/// Measures `replica` once a second, off the executor.
pub(crate) fn spawn_monitor(replica: Arc<Replica>) {
    actix_web::rt::spawn(async move {
        let mut ticker = actix_web::rt::time::interval(Duration::from_secs(1));
        loop {
            ticker.tick().await;
            let replica = replica.clone();
            let _ = actix_web::web::block(move || replica.measure()).await;
        }
    });
}
