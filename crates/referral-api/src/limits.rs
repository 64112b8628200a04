//! Where the public limits count (#33): in memory on SQLite (one instance a database), in
//! PostgreSQL when the service runs on it, so that any number of instances together allow
//! what one allows. A claim is one statement on an UNLOGGED table
//! (`referral_store::limits`), keyed by a keyed hash of the client address or service.
//! An instance claims hits in leases ([`referral_domain::rate_limit`]): one at a time under
//! the small public limits, up to a hundred under large ones, so that a busy platform
//! service (or a benchmark) does not pay a database round trip on one hot row a request.
//!
//! When the counters cannot be read (the database is down), each route says what happens:
//! registration and its confirmation fail closed (503 `unavailable`: an unlimited
//! registration endpoint is an enumeration and spam tool), link opens, clicks and code
//! lookups fail open (a patient's friend still reaches the page; nothing is written
//! without the database anyway).

use crate::error::ApiError;
use actix_extensible_rate_limit::backend::memory::InMemoryBackend;
use actix_extensible_rate_limit::backend::{Backend, Decision, SimpleInput, SimpleOutput};
use actix_web::rt::time::Instant;
use referral_domain::rate_limit::{lease_size, usable};
use referral_store::keyring::{mac_hex, Keyring, Purpose};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What a limit does when its counters cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenCountersFail {
    /// Let the request through (clicks, link opens, code lookups).
    Allow,
    /// Refuse with 503 `unavailable` (registration).
    Refuse,
}

/// The counters of the public limits.
#[derive(Clone)]
pub enum LimitBackend {
    /// This process's memory.
    Memory(InMemoryBackend),
    /// The database every instance shares.
    Shared(SharedCounters),
}

impl std::fmt::Debug for LimitBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LimitBackend::Memory(_) => "LimitBackend::Memory",
            LimitBackend::Shared(_) => "LimitBackend::Shared",
        })
    }
}

/// Counters in PostgreSQL.
#[derive(Clone)]
pub struct SharedCounters {
    pool: referral_store::Pool,
    keyring: Arc<Keyring>,
    claims: Arc<AtomicU64>,
    leases: Arc<Mutex<HashMap<LeaseKey, Lease>>>,
}

/// A limit's key (the client or service), its limit and its window's length.
type LeaseKey = (String, u64, u64);

/// Hits this instance claimed in the current window and has not spent yet.
#[derive(Debug, Clone, Copy)]
struct Lease {
    /// The window's start, in seconds since the epoch.
    window: i64,
    /// Hits left to spend.
    left: u64,
    /// The shared counter after the last claim (for the `RateLimit-Remaining` header).
    total: u64,
}

impl std::fmt::Debug for SharedCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedCounters")
    }
}

impl SharedCounters {
    /// Counters on `pool`, keys hashed with `keyring`.
    pub fn new(pool: referral_store::Pool, keyring: Arc<Keyring>) -> Self {
        Self {
            pool,
            keyring,
            claims: Arc::default(),
            leases: Arc::default(),
        }
    }

    /// Spends one hit of the lease `key` holds in `window`, if any is left; answers the
    /// hits spent in the window (as far as this instance knows).
    fn spend(&self, key: &LeaseKey, window: i64) -> Option<u64> {
        let mut leases = self.leases.lock().ok()?;
        let lease = leases
            .get_mut(key)
            .filter(|l| l.window == window && l.left > 0)?;
        lease.left -= 1;
        Some(lease.total.saturating_sub(lease.left))
    }

    /// Claims a lease of hits for `key` in the window at `window_start` from the shared
    /// counter and spends one of them; `None` when the window's budget is spent.
    async fn claim(
        &self,
        key: &LeaseKey,
        window_start: chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<u64>, ApiError> {
        let limit = key.1;
        let lease = lease_size(limit);
        let hashed = mac_hex(
            &self.keyring.active(Purpose::RateLimitKey).1,
            &[key.0.as_bytes()],
        );
        let forget = self
            .claims
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(FORGET_EVERY);
        let pool = self.pool.clone();
        let claimed = i64::try_from(lease).unwrap_or(1);
        let total = actix_web::web::block(move || {
            referral_store::with_connection(&pool, |conn| {
                if forget {
                    referral_store::limits::forget_before(
                        conn,
                        now - chrono::Duration::minutes(10),
                    )?;
                }
                referral_store::limits::hit(conn, &hashed, window_start, claimed)
            })
        })
        .await
        .map_err(|_| ApiError::Internal)?
        .map_err(|e| {
            tracing::warn!(error = %e, "the shared request counters cannot be read");
            ApiError::Store(referral_store::StoreError::Unavailable(
                "the request counters cannot be read".into(),
            ))
        })?;
        let total = u64::try_from(total).unwrap_or(u64::MAX);
        let spendable = usable(total, lease, limit);
        if spendable == 0 {
            return Ok(None);
        }
        self.keep(
            key.clone(),
            Lease {
                window: window_start.timestamp(),
                left: spendable - 1,
                total: total.min(limit),
            },
        );
        Ok(Some(total.saturating_sub(lease).saturating_add(1)))
    }

    /// Keeps what a claim left to spend, and forgets the leases of past windows.
    fn keep(&self, key: LeaseKey, lease: Lease) {
        if let Ok(mut leases) = self.leases.lock() {
            leases.retain(|_, l| l.window >= lease.window);
            leases.insert(key, lease);
        }
    }
}

/// Every this many claims, windows older than ten minutes are removed.
const FORGET_EVERY: u64 = 1000;

impl Backend<SimpleInput> for LimitBackend {
    type Output = SimpleOutput;
    type RollbackToken = Option<String>;
    type Error = ApiError;

    async fn request(
        &self,
        input: SimpleInput,
    ) -> Result<(Decision, SimpleOutput, Option<String>), ApiError> {
        match self {
            LimitBackend::Memory(memory) => {
                let (decision, output, token) = memory
                    .request(input)
                    .await
                    .map_err(|_| ApiError::Internal)?;
                Ok((decision, output, Some(token)))
            }
            LimitBackend::Shared(shared) => {
                let now = chrono::Utc::now();
                let interval = i64::try_from(input.interval.as_secs()).unwrap_or(60).max(1);
                let start = now.timestamp().div_euclid(interval) * interval;
                let window_start = chrono::DateTime::from_timestamp(start, 0).unwrap_or(now);
                let limit = input.max_requests;
                let lease_key = (input.key, limit, input.interval.as_secs());
                let used = match shared.spend(&lease_key, start) {
                    Some(used) => Some(used),
                    None => shared.claim(&lease_key, window_start, now).await?,
                };
                let left = (start + interval - now.timestamp()).max(1);
                let output = SimpleOutput {
                    limit,
                    remaining: used.map_or(0, |used| limit.saturating_sub(used)),
                    reset: Instant::now()
                        + std::time::Duration::from_secs(u64::try_from(left).unwrap_or(1)),
                };
                Ok((Decision::from_allowed(used.is_some()), output, None))
            }
        }
    }

    async fn rollback(&self, token: Option<String>) -> Result<(), ApiError> {
        // The limiters here never roll back (no rollback condition is set).
        if let (LimitBackend::Memory(memory), Some(token)) = (self, token) {
            memory
                .rollback(token)
                .await
                .map_err(|_| ApiError::Internal)?;
        }
        Ok(())
    }
}
