//! Where the public limits count (#33): in memory on SQLite (one instance a database), in
//! PostgreSQL when the service runs on it, so that any number of instances together allow
//! what one allows. A hit is one statement on an UNLOGGED table
//! (`referral_store::limits`), keyed by a keyed hash of the client address or service.
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
use referral_store::keyring::{mac_hex, Keyring, Purpose};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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
    hits: Arc<AtomicU64>,
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
            hits: Arc::default(),
        }
    }
}

/// Every this many hits, windows older than ten minutes are removed.
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
                let key = mac_hex(
                    &shared.keyring.active(Purpose::RateLimitKey).1,
                    &[input.key.as_bytes()],
                );
                let forget = shared.hits.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY == 0;
                let pool = shared.pool.clone();
                let hits = actix_web::web::block(move || {
                    referral_store::with_connection(&pool, |conn| {
                        if forget {
                            referral_store::limits::forget_before(
                                conn,
                                now - chrono::Duration::minutes(10),
                            )?;
                        }
                        referral_store::limits::hit(conn, &key, window_start)
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
                let used = u64::try_from(hits).unwrap_or(u64::MAX);
                let left = (start + interval - now.timestamp()).max(1);
                let output = SimpleOutput {
                    limit: input.max_requests,
                    remaining: input.max_requests.saturating_sub(used),
                    reset: Instant::now()
                        + std::time::Duration::from_secs(u64::try_from(left).unwrap_or(1)),
                };
                Ok((
                    Decision::from_allowed(used <= input.max_requests),
                    output,
                    None,
                ))
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
