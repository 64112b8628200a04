//! Background work: the expiry sweeps and the outbox delivery, on a timer. Every instance
//! may run them: the sweeps are idempotent and outbox claims never overlap.

use crate::state::AppState;
use chrono::Utc;
use referral_store::{referrals, rewards};
use std::sync::Arc;
use std::time::Duration;

/// Runs one round of the expiry sweeps; returns (referrals, rewards) expired.
///
/// # Errors
/// Store errors.
pub fn sweep_once(state: &AppState) -> Result<(usize, usize), referral_store::StoreError> {
    let mut conn = state.pool.get()?;
    let now = Utc::now();
    let expired_referrals = referrals::expire_due(&mut conn, now)?;
    let expired_rewards = rewards::expire_due(&mut conn, now)?;
    Ok((expired_referrals, expired_rewards))
}

/// Starts the workers on the current runtime, every `interval`.
pub fn spawn(state: Arc<AppState>, delivery: Arc<crate::startup::Delivery>, interval: Duration) {
    actix_web::rt::spawn(async move {
        let mut ticker = actix_web::rt::time::interval(interval);
        loop {
            ticker.tick().await;
            let round_state = state.clone();
            let round_delivery = delivery.clone();
            let result = actix_web::web::block(move || {
                let swept = sweep_once(&round_state);
                let delivered = round_delivery.deliver_due(&round_state);
                (swept, delivered)
            })
            .await;
            match result {
                Ok((Ok((r, w)), delivered)) => {
                    if r + w > 0 {
                        tracing::info!(referrals = r, rewards = w, "expiry sweep");
                    }
                    match delivered {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(messages = n, "outbox delivered"),
                        Err(e) => tracing::warn!(error = %e, "outbox delivery failed"),
                    }
                }
                Ok((Err(e), _)) => tracing::warn!(error = %e, "expiry sweep failed"),
                Err(e) => tracing::warn!(error = %e, "worker round failed"),
            }
        }
    });
}
