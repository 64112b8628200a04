//! Background work on a timer: the expiry sweeps, the reward-expiry reminders and the outbox
//! delivery. Every instance may run them (in-process with `serve`, or alone with `worker`):
//! the sweeps are idempotent and outbox claims never overlap.

use crate::delivery::{Delivery, RoundReport};
use chrono::{DateTime, Duration, Utc};
use referral_store::{referrals, rewards, Pool, StoreError};
use std::sync::Arc;

/// What one round of sweeps did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Referrals that expired.
    pub referrals_expired: usize,
    /// Rewards that expired.
    pub rewards_expired: usize,
    /// Reminders queued for rewards about to expire.
    pub reminders_queued: usize,
}

/// Runs one round of the sweeps at `now`.
///
/// # Errors
/// Store errors.
pub fn sweep_once(
    pool: &Pool,
    reminder_days: u32,
    now: DateTime<Utc>,
) -> Result<SweepReport, StoreError> {
    referral_store::with_connection(pool, |conn| {
        let referrals_expired = referrals::expire_due(conn, now)?;
        let rewards_expired = rewards::expire_due(conn, now)?;
        let reminders_queued = if reminder_days > 0 {
            rewards::queue_expiry_reminders(conn, Duration::days(reminder_days.into()), now)?
        } else {
            0
        };
        Ok(SweepReport {
            referrals_expired,
            rewards_expired,
            reminders_queued,
        })
    })
}

/// Batches one round may deliver before the next sweep.
const MAX_BATCHES_PER_ROUND: usize = 50;

/// One round: sweeps, then delivery until nothing is due. Logs a line when it did something.
fn round(delivery: &Delivery, reminder_days: u32) {
    let now = Utc::now();
    match sweep_once(&delivery.pool, reminder_days, now) {
        Ok(s) if s != SweepReport::default() => tracing::info!(
            referrals_expired = s.referrals_expired,
            rewards_expired = s.rewards_expired,
            reminders_queued = s.reminders_queued,
            "sweep"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "sweep failed"),
    }
    match delivery.drain(now, MAX_BATCHES_PER_ROUND) {
        Ok(r) if r != RoundReport::default() => tracing::info!(
            sent = r.sent,
            retried = r.retried,
            failed = r.failed,
            suppressed = r.suppressed,
            "outbox"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "outbox delivery failed"),
    }
}

/// Runs the rounds every `interval` on the current actix runtime, off its executor threads.
pub fn spawn(delivery: Arc<Delivery>, reminder_days: u32, interval: std::time::Duration) {
    actix_web::rt::spawn(async move {
        let mut ticker = actix_web::rt::time::interval(interval);
        loop {
            ticker.tick().await;
            let worker = delivery.clone();
            if let Err(e) = actix_web::web::block(move || round(&worker, reminder_days)).await {
                tracing::warn!(error = %e, "worker round failed");
            }
        }
    });
}

/// Runs the rounds every `interval` until SIGTERM or Ctrl-C (the `worker` subcommand). A round
/// in progress finishes first, so no claimed message is left waiting for its lease.
///
/// # Errors
/// When the signal handlers cannot be installed.
pub async fn run_until_stopped(
    delivery: Arc<Delivery>,
    reminder_days: u32,
    interval: std::time::Duration,
) -> std::io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                let worker = delivery.clone();
                if let Err(e) = tokio::task::spawn_blocking(move || round(&worker, reminder_days)).await {
                    tracing::warn!(error = %e, "worker round failed");
                }
            }
            _ = terminate.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    Ok(())
}
