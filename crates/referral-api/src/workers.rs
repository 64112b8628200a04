//! Every timer of the service, in one place: the expiry sweeps, the reward-expiry reminders,
//! the daily retention erasure and the outbox delivery; the click flush; the audit sealer and the referrer totals'
//! fold; the JWKS refresh. Every instance may run them (in-process with `serve`, or alone
//! with `worker`): the sweeps are idempotent and outbox claims never overlap.

use crate::delivery::{Delivery, RoundReport};
use crate::state::AppState;
use actix_web::web;
use chrono::{DateTime, Duration, Utc};
use referral_domain::retention::RetentionPolicy;
use referral_store::retention::{self, Erased};
use referral_store::{referrals, rewards, Pool, StoreError};
use std::sync::{Arc, Mutex};

/// What the background rounds do, and when retention last ran.
#[derive(Debug)]
pub struct Rounds {
    /// The outbox delivery (and the pool).
    pub delivery: Arc<Delivery>,
    /// Days before a reward expires that its owner is reminded (0: never).
    pub reminder_days: u32,
    /// What is erased, and when.
    pub retention: RetentionPolicy,
    last_retention: Mutex<Option<DateTime<Utc>>>,
}

impl Rounds {
    /// The rounds of `delivery`; retention runs in the first round, then daily.
    pub fn new(delivery: Arc<Delivery>, reminder_days: u32, retention: RetentionPolicy) -> Self {
        Rounds {
            delivery,
            reminder_days,
            retention,
            last_retention: Mutex::new(None),
        }
    }

    /// Whether retention is due at `now` (first round, then every 24 hours); marks it run.
    fn retention_due(&self, now: DateTime<Utc>) -> bool {
        let Ok(mut last) = self.last_retention.lock() else {
            return false;
        };
        let due = last.is_none_or(|t| now - t >= Duration::hours(24));
        if due {
            *last = Some(now);
        }
        due
    }
}

/// What one retention run did: the store's erasures, the consents' numbers hashed, and
/// the development mailbox's old files removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// What the store erased.
    pub erased: Erased,
    /// SMS consents written before the keyed hash whose number was hashed.
    pub consent_phones_hashed: usize,
    /// Files of the development mailbox older than the delivered payloads' retention.
    pub mailbox_files: usize,
}

/// Erases, at `now`, what the retention policy no longer allows to keep: in the database,
/// and in the development mailbox (whose files are messages, kept as their payloads are).
///
/// # Errors
/// Store errors (the mailbox's are logged: the database's erasure stands).
pub fn retention_once(
    delivery: &Delivery,
    policy: &RetentionPolicy,
    now: DateTime<Utc>,
) -> Result<RetentionReport, StoreError> {
    let links = &delivery.links;
    let (erased, consent_phones_hashed) =
        referral_store::with_connection(&delivery.pool, |conn| {
            let hashed =
                retention::hash_consent_phones(conn, &|phone| links.recipient_hash(phone))?;
            Ok::<_, StoreError>((retention::erase_due(conn, policy, now)?, hashed))
        })?;
    let mailbox_files = match delivery.notifier.mailbox() {
        None => 0,
        Some(dir) => {
            let cut = policy.cutoffs(now).delivered_payload_before;
            let before = std::time::SystemTime::UNIX_EPOCH
                + std::time::Duration::from_secs(u64::try_from(cut.timestamp()).unwrap_or(0));
            referral_notify::mailbox::remove_older_than(dir, before).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "retention: the mailbox could not be cleaned");
                0
            })
        }
    };
    Ok(RetentionReport {
        erased,
        consent_phones_hashed,
        mailbox_files,
    })
}

/// What one round of sweeps did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Referrals that expired.
    pub referrals_expired: usize,
    /// Rewards that expired.
    pub rewards_expired: usize,
    /// Reminders queued for rewards about to expire.
    pub reminders_queued: usize,
    /// Held rewards whose hold ended, released (their owners are told).
    pub holds_released: usize,
    /// Referrers told, in one notice each, of the rewards their period released.
    pub release_notices: usize,
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
        // Released before the expiry sweep reads: a hold that ended is usable from now.
        let holds_released = rewards::release_due(conn, now)?;
        let rewards_expired = rewards::expire_due(conn, now)?;
        let release_notices = rewards::notify_releases(conn, now)?;
        let reminders_queued = if reminder_days > 0 {
            rewards::queue_expiry_reminders(conn, Duration::days(reminder_days.into()), now)?
        } else {
            0
        };
        Ok(SweepReport {
            referrals_expired,
            rewards_expired,
            reminders_queued,
            holds_released,
            release_notices,
        })
    })
}

/// Batches one round may deliver before the next sweep.
const MAX_BATCHES_PER_ROUND: usize = 50;

/// One round: sweeps, retention once a day, then delivery until nothing is due. Logs a line
/// when it did something (counts only: no personal data).
fn round(rounds: &Rounds) {
    let (delivery, reminder_days) = (&rounds.delivery, rounds.reminder_days);
    let now = Utc::now();
    if rounds.retention_due(now) {
        match retention_once(delivery, &rounds.retention, now) {
            Ok(RetentionReport {
                erased: e,
                consent_phones_hashed,
                mailbox_files,
            }) => tracing::info!(
                referral_contacts = e.referral_contacts,
                interactions = e.interactions,
                interaction_months = e.interaction_months,
                interactions_removed = e.interactions_removed,
                message_payloads = e.message_payloads,
                registration_confirmations = e.registration_confirmations,
                consent_proofs = e.consent_proofs,
                consent_phones_hashed,
                mailbox_files,
                "retention: erased"
            ),
            Err(e) => tracing::warn!(error = %e, "retention failed; it runs again tomorrow"),
        }
    }
    match sweep_once(&delivery.pool, reminder_days, now) {
        Ok(s) if s != SweepReport::default() => tracing::info!(
            referrals_expired = s.referrals_expired,
            rewards_expired = s.rewards_expired,
            reminders_queued = s.reminders_queued,
            holds_released = s.holds_released,
            release_notices = s.release_notices,
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
pub fn spawn(rounds: Arc<Rounds>, interval: std::time::Duration) {
    actix_web::rt::spawn(async move {
        let mut ticker = actix_web::rt::time::interval(interval);
        loop {
            ticker.tick().await;
            let worker = rounds.clone();
            if let Err(e) = actix_web::web::block(move || round(&worker)).await {
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
    rounds: Arc<Rounds>,
    interval: std::time::Duration,
) -> std::io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                let worker = rounds.clone();
                if let Err(e) = tokio::task::spawn_blocking(move || round(&worker)).await {
                    tracing::warn!(error = %e, "worker round failed");
                }
            }
            _ = terminate.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    Ok(())
}

/// How often the referrals behind clicked codes are marked as clicked.
const CLICK_FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Marks clicked referrals every [`CLICK_FLUSH_EVERY`], off the executor.
pub(crate) fn spawn_click_flush(state: Arc<AppState>) {
    actix_web::rt::spawn(async move {
        let mut ticker = actix_web::rt::time::interval(CLICK_FLUSH_EVERY);
        loop {
            ticker.tick().await;
            let state = state.clone();
            match web::block(move || state.clicks.flush(&state.pool)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "clicked codes not marked; kept for the next try");
                }
                Err(e) => tracing::warn!(error = %e, "click flush failed"),
            }
        }
    });
}

/// How often unchained audit rows are sealed into the hash chain, and queued conversions
/// added to the referrers' totals.
const EVERY_SECOND: std::time::Duration = std::time::Duration::from_secs(1);

/// How old an audit row must be before it is sealed: a row whose transaction commits late
/// still lands in the chain in time order.
const SETTLE: chrono::Duration = chrono::Duration::seconds(2);

/// Seals the audit rows written more than `settle` ago and records the new chain head with
/// the witness. Blocking.
///
/// # Errors
/// Database errors; a witness that cannot be written is logged, not fatal (the next seal
/// writes the newer head).
pub fn seal_and_witness(
    state: &AppState,
    settle: chrono::Duration,
) -> Result<referral_store::audit::SealReport, referral_store::StoreError> {
    let now = chrono::Utc::now();
    let report = referral_store::with_connection(&state.pool, |conn| {
        referral_store::audit::seal_all(conn, &state.keyring, now - settle)
    })?;
    if let Some(head) = &report.head {
        state.metrics.count_seal();
        if let Err(e) = state.witness.record(head, now) {
            tracing::error!(error = %e, "the audit witness could not be written");
        }
    }
    Ok(report)
}

/// Every [`EVERY_SECOND`], off the executor: seals the audit rows written since the last
/// round (every instance runs it; the chain head's lock makes them take turns), and adds
/// the conversions queued since to `referrer_stats` (reads fold them too, so this only
/// keeps the queue short).
pub(crate) fn spawn_every_second(state: Arc<AppState>) {
    actix_web::rt::spawn(async move {
        let mut ticker = actix_web::rt::time::interval(EVERY_SECOND);
        loop {
            ticker.tick().await;
            let state = state.clone();
            let done = web::block(move || {
                let sealed = seal_and_witness(&state, SETTLE);
                let folded = referral_store::with_connection(
                    &state.pool,
                    referral_store::rollups::fold_referrer_conversions,
                );
                (sealed, folded)
            })
            .await;
            match done {
                Ok((sealed, folded)) => {
                    if let Err(e) = sealed {
                        tracing::warn!(error = %e, "audit rows not sealed; next round retries");
                    }
                    if let Err(e) = folded {
                        tracing::warn!(error = %e, "queued conversions not added to the referrers' totals; next round retries");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "audit sealing and rollup fold failed"),
            }
        }
    });
}

/// Fetches the identity provider's keys now and every [`JWKS_REFRESH_EVERY`] (every 10 s
/// while fetching fails, so that `/ready` recovers soon after the provider does).
pub(crate) fn spawn_jwks_refresh(jwks: Arc<crate::auth::Jwks>) {
    actix_web::rt::spawn(async move {
        loop {
            let wait = match jwks.refresh().await {
                Ok(keys) => {
                    tracing::debug!(keys, "JWKS fetched");
                    crate::auth::JWKS_REFRESH_EVERY
                }
                Err(_) => crate::auth::JWKS_MIN_REFETCH,
            };
            actix_web::rt::time::sleep(wait).await;
        }
    });
}
