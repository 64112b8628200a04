//! Click counting in batches. A click request writes only its interaction row (one
//! statement); the clicks are counted here and added to the referrals every few hundred
//! milliseconds, so a code shared by thousands of people at once does not make their clicks
//! queue on one row. The interaction rows remain the record: a count lost with a crashed
//! process can be recomputed from them.

use chrono::{DateTime, Utc};
use referral_store::referrals::{self, ClickCount};
use referral_store::{Pool, StoreError};
use std::collections::HashMap;
use std::sync::Mutex;

/// Clicks counted since the last flush, by code.
#[derive(Debug, Default)]
pub struct ClickCounter {
    pending: Mutex<HashMap<String, (i32, DateTime<Utc>)>>,
    /// Held for a whole flush, so that a flush returns only after every click counted
    /// before it is stored, also when another flush had already taken them.
    flushing: Mutex<()>,
}

impl ClickCounter {
    /// Counts one click on `code` at `at`.
    pub fn add(&self, code: String, at: DateTime<Utc>) {
        let mut pending = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = pending.entry(code).or_insert((0, at));
        entry.0 = entry.0.saturating_add(1);
        entry.1 = entry.1.max(at);
    }

    /// Adds the counted clicks to the referrals; returns how many codes. On failure the
    /// counts are kept for the next flush.
    ///
    /// # Errors
    /// Store errors.
    pub fn flush(&self, pool: &Pool) -> Result<usize, StoreError> {
        let _one_at_a_time = self
            .flushing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let taken: Vec<ClickCount> = {
            let mut pending = self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            pending
                .drain()
                .map(|(code, (clicks, last_clicked_at))| ClickCount {
                    code,
                    clicks,
                    last_clicked_at,
                })
                .collect()
        };
        if taken.is_empty() {
            return Ok(0);
        }
        let result =
            referral_store::with_connection(pool, |conn| referrals::add_clicks(conn, &taken));
        if let Err(e) = result {
            for count in taken {
                let mut pending = self
                    .pending
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let entry = pending
                    .entry(count.code)
                    .or_insert((0, count.last_clicked_at));
                entry.0 = entry.0.saturating_add(count.clicks);
                entry.1 = entry.1.max(count.last_clicked_at);
            }
            return Err(e);
        }
        Ok(taken.len())
    }
}
