//! Outbox delivery: claim due messages, skip suppressed recipients, render and send them
//! through `referral-notify`, record what left, and retry failures with exponential backoff
//! and jitter until the attempts run out.
//!
//! Several workers (in several processes) may run this at once: claims never overlap, and a
//! worker that dies leaves its claimed messages to be retried when their lease ends.

use crate::links::LinkKeys;
use chrono::{DateTime, Duration, Utc};
use referral_domain::webhook::Circuit;
use referral_domain::{InteractionType, ReferralId};
use referral_notify::{Channel, Delivered, Notifier, Outgoing};
use referral_store::outbox::{self, Lane, OutboxKind, OutboxMessage};
use referral_store::referrals::{self, RequestOrigin};
use referral_store::webhooks;
use referral_store::{suppressions, DbConnection, Pool, StoreError};
use ring::rand::{SecureRandom, SystemRandom};
use std::collections::HashMap;

/// How failed deliveries are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts before a message is given up (the first delivery counts).
    pub max_attempts: i32,
    /// The delay after the first failure; it doubles with each further failure.
    pub base_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::seconds(30),
            max_delay: Duration::hours(1),
        }
    }
}

impl RetryPolicy {
    /// The delay before the attempt after `attempts` failed ones: `base × 2^(attempts-1)`,
    /// capped, of which the upper half is random (`jitter` in `[0, 1)`), so that messages
    /// that failed together do not all come back together.
    pub fn backoff(&self, attempts: i32, jitter: f64) -> Duration {
        let exponent = u32::try_from(attempts.clamp(1, 30) - 1).unwrap_or(0);
        let full = self
            .base_delay
            .checked_mul(2_i32.saturating_pow(exponent))
            .unwrap_or(self.max_delay)
            .min(self.max_delay);
        let half_ms = full.num_milliseconds() / 2;
        // Truncation is fine: this is a delay in milliseconds.
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        let random_ms = (half_ms as f64 * jitter.clamp(0.0, 1.0)) as i64;
        Duration::milliseconds(half_ms + random_ms)
    }
}

/// What one round of delivery did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// Messages claimed.
    pub claimed: usize,
    /// Delivered (to a provider or the mailbox).
    pub sent: usize,
    /// Put back for a later attempt.
    pub retried: usize,
    /// Given up.
    pub failed: usize,
    /// Not sent: the recipient unsubscribed.
    pub suppressed: usize,
    /// Not tried: the endpoint's circuit is open; they wait without losing an attempt.
    pub deferred: usize,
}

impl RoundReport {
    fn add(&mut self, other: RoundReport) {
        self.claimed += other.claimed;
        self.sent += other.sent;
        self.retried += other.retried;
        self.failed += other.failed;
        self.suppressed += other.suppressed;
        self.deferred += other.deferred;
    }
}

/// Messages claimed at once: small, so a dying worker strands few until their lease ends.
const BATCH: i64 = 20;
/// How long a claim lasts: one slow provider call (15 s timeout) with room to spare. The
/// worker renews the claim of the messages still waiting before each send, so a batch may
/// take longer, and the messages of a worker that died go out again within this time.
pub const LEASE_SECONDS: i64 = 60;

/// Sends at once within a lane, each on its own database connection: a slow party holds up
/// one strand of its lane, not the lane, and never the other lane. Delivery holds at most
/// half the pool's connections (two lanes of two with the default ten; one send a lane on
/// SQLite's four; the lanes one after the other below four), so that an instance's own
/// worker leaves the requests theirs.
pub const SENDS_AT_ONCE: usize = 2;

/// Delivers due outbox messages.
#[derive(Debug)]
pub struct Delivery {
    /// The database.
    pub pool: Pool,
    /// Renders and sends.
    pub notifier: Notifier,
    /// Unsubscribe links and suppression hashes.
    pub links: LinkKeys,
    /// Base URL of the patient-facing site (registration links).
    pub public_base_url: String,
    /// The brand and booking page the messages carry.
    pub site: crate::site::Site,
    /// The sender's postal address for every email's footer (CAN-SPAM); `None` in
    /// development, where the footer says it is not configured.
    pub postal_address: Option<String>,
    /// Base URL of this API (unsubscribe links).
    pub api_base_url: String,
    /// Retries.
    pub retry: RetryPolicy,
    /// Jitter source.
    pub rng: SystemRandom,
    /// Webhook endpoints may be `http://` and private addresses (development and tests
    /// only: `--webhooks-allow-private`).
    pub webhooks_allow_private: bool,
    /// The hosts webhook endpoints may name (`--webhook-hosts`).
    pub webhook_hosts: referral_domain::webhook::WebhookHosts,
    /// Each endpoint's circuit, in this process (a worker that restarts starts closed).
    pub circuits: std::sync::Mutex<HashMap<String, referral_domain::webhook::Circuit>>,
}

/// The footer's address line when `--postal-address` is not set (development only: the
/// service refuses to start with an email provider and no address).
const NO_POSTAL_ADDRESS: &str = "Postal address not configured (development; set --postal-address)";

impl Delivery {
    fn jitter(&self) -> f64 {
        let mut bytes = [0u8; 2];
        match self.rng.fill(&mut bytes) {
            Ok(()) => f64::from(u16::from_le_bytes(bytes)) / 65_536.0,
            Err(_) => 0.5,
        }
    }

    /// The template data of `message`: its payload plus the links made at sending time.
    fn payload(
        &self,
        conn: &mut DbConnection,
        message: &OutboxMessage,
    ) -> Result<serde_json::Value, StoreError> {
        let mut payload = message.payload.clone();
        // After joining, every message leads to the program's booking page, else the
        // platform's.
        let program_booking = match message.template.as_str() {
            "welcome_bonus" | "reward_earned" => match payload.get("referral_id") {
                Some(id) => match id.as_str().and_then(|i| i.parse::<uuid::Uuid>().ok()) {
                    Some(id) => referral_store::programs::booking_url_of_referral(
                        conn,
                        referral_domain::ReferralId::from_uuid(id),
                    )?,
                    None => None,
                },
                None => None,
            },
            "reward_expiring" => match payload
                .get("reward_id")
                .and_then(|i| i.as_str())
                .and_then(|i| i.parse::<uuid::Uuid>().ok())
            {
                Some(id) => referral_store::programs::booking_url_of_reward(
                    conn,
                    referral_domain::RewardId::from_uuid(id),
                )?,
                None => None,
            },
            _ => None,
        };
        if let Some(map) = payload.as_object_mut() {
            map.insert("brand".into(), self.site.brand_name.clone().into());
            map.insert(
                "booking_url".into(),
                self.site.booking_url_for(program_booking.as_deref()).into(),
            );
            // A Spanish message links to the Spanish page (English is the page's default).
            let lang = match map.get("locale").and_then(|l| l.as_str()) {
                Some(tag) if tag != "en" && tag.parse::<referral_domain::Locale>().is_ok() => {
                    format!("&lang={tag}")
                }
                _ => String::new(),
            };
            if let Some(code) = map.get("referral_code").and_then(|c| c.as_str()) {
                // Through the counted link (`/r/{code}`), as every link handed out.
                let lang = lang.replacen('&', "?", 1);
                let url = format!(
                    "{}/r/{code}{lang}",
                    self.public_base_url.trim_end_matches('/')
                );
                map.insert("register_url".into(), url.into());
            }
            if let Some(token) = map.get("verification_token").and_then(|t| t.as_str()) {
                let url = format!(
                    "{}/register/verify?token={token}{lang}",
                    self.public_base_url.trim_end_matches('/')
                );
                map.insert("verify_url".into(), url.into());
            }
            map.insert(
                "postal_address".into(),
                self.postal_address
                    .clone()
                    .unwrap_or_else(|| NO_POSTAL_ADDRESS.to_owned())
                    .into(),
            );
            let token = self.links.unsubscribe_token(&message.recipient);
            map.insert(
                "unsubscribe_url".into(),
                format!(
                    "{}/api/unsubscribe/{token}{}",
                    self.api_base_url.trim_end_matches('/'),
                    lang.replacen('&', "?", 1)
                )
                .into(),
            );
        }
        Ok(payload)
    }

    /// Claims one batch of each lane's messages due at `now` ([`Lane`]: email, SMS and
    /// payouts apart from webhooks) and settles them, the lanes side by side and up to
    /// [`SENDS_AT_ONCE`] sends at once in each; returns what it did. (`now` is a parameter so
    /// that tests can let time pass.)
    ///
    /// # Errors
    /// Store errors (a message whose outcome could not be stored is retried after its lease).
    pub fn deliver_batch(&self, now: DateTime<Utc>) -> Result<RoundReport, StoreError> {
        // Delivery takes at most half the pool (SQLite's holds four): the requests of an
        // instance running its own worker keep the rest.
        let budget = usize::try_from(self.pool.max_size() / 2)
            .unwrap_or(1)
            .max(1);
        let strands = SENDS_AT_ONCE.min(budget / Lane::ALL.len()).max(1);
        let lanes: Vec<Result<RoundReport, StoreError>> = if budget < Lane::ALL.len() {
            Lane::ALL
                .iter()
                .map(|&lane| self.deliver_lane(lane, strands, now))
                .collect()
        } else {
            std::thread::scope(|scope| {
                let running: Vec<_> = Lane::ALL
                    .iter()
                    .map(|&lane| scope.spawn(move || self.deliver_lane(lane, strands, now)))
                    .collect();
                running.into_iter().map(joined).collect()
            })
        };
        let mut report = RoundReport::default();
        for lane in lanes {
            report.add(lane?);
        }
        Ok(report)
    }

    /// One lane's batch: claimed at once, then dealt to up to [`SENDS_AT_ONCE`] strands, each
    /// renewing the claim of its messages still waiting before each send.
    fn deliver_lane(
        &self,
        lane: Lane,
        strands: usize,
        now: DateTime<Utc>,
    ) -> Result<RoundReport, StoreError> {
        let lease = Duration::seconds(LEASE_SECONDS);
        let claimed = referral_store::with_connection(&self.pool, |conn| {
            outbox::claim_lane(conn, lane, BATCH, lease, now)
        })?;
        if claimed.is_empty() {
            return Ok(RoundReport::default());
        }
        let started = std::time::Instant::now();
        let strands = strands.min(claimed.len());
        let claimed = &claimed;
        let results: Vec<Result<RoundReport, StoreError>> = std::thread::scope(|scope| {
            let running: Vec<_> = (0..strands)
                .map(|strand| {
                    scope.spawn(move || {
                        let mine: Vec<&OutboxMessage> =
                            claimed.iter().skip(strand).step_by(strands).collect();
                        referral_store::with_connection(&self.pool, |conn| {
                            let mut report = RoundReport::default();
                            for (i, message) in mine.iter().enumerate() {
                                if i > 0 {
                                    // The time this batch has taken so far, on the round's clock.
                                    let elapsed =
                                        Duration::from_std(started.elapsed()).unwrap_or(lease);
                                    let waiting: Vec<_> = mine[i..].iter().map(|m| m.id).collect();
                                    outbox::renew(conn, &waiting, now + elapsed + lease)?;
                                }
                                self.settle(conn, message, now, &mut report)?;
                            }
                            Ok(report)
                        })
                    })
                })
                .collect();
            running.into_iter().map(joined).collect()
        });
        let mut report = RoundReport {
            claimed: claimed.len(),
            ..RoundReport::default()
        };
        for strand in results {
            report.add(strand?);
        }
        Ok(report)
    }

    /// Delivers batches until nothing is due at `now`, or `max_batches` ran.
    ///
    /// # Errors
    /// Store errors.
    pub fn drain(&self, now: DateTime<Utc>, max_batches: usize) -> Result<RoundReport, StoreError> {
        let mut total = RoundReport::default();
        for _ in 0..max_batches {
            let round = self.deliver_batch(now)?;
            total.add(round);
            if round.claimed == 0 {
                break;
            }
        }
        Ok(total)
    }

    fn settle(
        &self,
        conn: &mut DbConnection,
        message: &OutboxMessage,
        now: DateTime<Utc>,
        report: &mut RoundReport,
    ) -> Result<(), StoreError> {
        let channel = match message.kind {
            OutboxKind::Email => Channel::Email,
            OutboxKind::Sms => Channel::Sms,
            OutboxKind::Payout => Channel::Payout,
            OutboxKind::Webhook => return self.settle_webhook(conn, message, now, report),
        };
        // The payload must be the message its template names; one that is not could never
        // be sent, and is given up at once.
        let typed = referral_notify::Message::from_parts(&message.template, &message.payload);
        // The suppression list holds for every message, confirmations included (#30): a
        // stranger's registrations must not become a way to mail an address that said no.
        if channel != Channel::Payout
            && suppressions::contains(conn, &self.links.recipient_hashes(&message.recipient))?
        {
            outbox::suppress(conn, message.id, now)?;
            report.suppressed += 1;
            return Ok(());
        }
        let payload = self.payload(conn, message)?;
        let outcome = typed
            .map_err(referral_notify::NotifyError::from)
            .and_then(|_| {
                self.notifier.deliver(&Outgoing {
                    message_id: message.id,
                    channel,
                    recipient: &message.recipient,
                    template: &message.template,
                    payload: &payload,
                    idempotency_key: &message.idempotency_key,
                })
            });
        match outcome {
            Ok(delivered) => {
                referral_store::write_transaction(conn, |conn| {
                    outbox::complete(conn, message.id, now)?;
                    record_sent(conn, message, now)
                })?;
                if let Delivered::Mailbox(path) = delivered {
                    tracing::info!(message_id = %message.id, template = %message.template, file = %path.display(), "message written to the mailbox");
                }
                report.sent += 1;
            }
            Err(e) if e.is_retryable() && message.attempts < self.retry.max_attempts => {
                let delay = self.retry.backoff(message.attempts, self.jitter());
                tracing::info!(message_id = %message.id, attempts = message.attempts, retry_in_s = delay.num_seconds(), error = %e, "delivery failed; will retry");
                outbox::retry(conn, message.id, &e.to_string(), now + delay, now)?;
                report.retried += 1;
            }
            Err(e) => {
                tracing::warn!(message_id = %message.id, template = %message.template, attempts = message.attempts, error = %e, "message given up");
                outbox::fail(conn, message.id, &e.to_string(), now)?;
                report.failed += 1;
            }
        }
        Ok(())
    }
}

impl Delivery {
    /// Runs `f` on `endpoint`'s circuit.
    fn circuit<T>(&self, endpoint: &str, f: impl FnOnce(&mut Circuit) -> T) -> T {
        let mut circuits = self
            .circuits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(circuits.entry(endpoint.to_owned()).or_default())
    }

    /// Signs and sends one webhook event to its endpoint (see `referral_notify::webhook`):
    /// retried with the outbox's backoff under the same `webhook-id`; each result is
    /// recorded on the endpoint, which a day of failures in a row disables.
    fn settle_webhook(
        &self,
        conn: &mut DbConnection,
        message: &OutboxMessage,
        now: DateTime<Utc>,
        report: &mut RoundReport,
    ) -> Result<(), StoreError> {
        let give_up = |conn: &mut DbConnection, why: &str, report: &mut RoundReport| {
            report.failed += 1;
            outbox::fail(conn, message.id, why, now)
        };
        let Ok(referral_notify::Message::Webhook(event)) =
            referral_notify::Message::from_parts(&message.template, &message.payload)
        else {
            return give_up(conn, "not a webhook event", report);
        };
        let target = match webhooks::target(conn, &message.recipient, now) {
            Ok(target) => target,
            Err(StoreError::NotFound) => return give_up(conn, "the endpoint was deleted", report),
            Err(e) => return Err(e),
        };
        // An open circuit holds the event back unsent: the endpoint failed just now.
        let open_until = self.circuit(&message.recipient, |c| c.open_until(now));
        if let Some(until) = open_until {
            outbox::defer(conn, message.id, until, now)?;
            report.deferred += 1;
            return Ok(());
        }
        // A test event goes to a disabled endpoint too: it checks one before turning it on.
        if !target.enabled && event.event_type != referral_domain::webhook::TEST_EVENT_TYPE {
            return give_up(conn, "the endpoint is disabled", report);
        }
        // Secrets are stored sealed with the data keyring (see `Keyring::seal`).
        let Some(secrets) = target
            .secrets
            .iter()
            .map(|s| self.links.keyring().open(s))
            .collect::<Option<Vec<String>>>()
        else {
            return give_up(
                conn,
                "the endpoint's secret cannot be opened with this keyring; rotate it",
                report,
            );
        };
        let body = event.body();
        let outcome = referral_notify::webhook::send(&referral_notify::webhook::WebhookDelivery {
            url: &target.url,
            secrets: &secrets,
            webhook_id: &event.webhook_id,
            // When it is signed and sent, by the wall clock (receivers check it against
            // theirs); `now` schedules the outbox, and tests move it.
            timestamp: Utc::now().timestamp(),
            body: &body,
            allow_private: self.webhooks_allow_private,
            hosts: &self.webhook_hosts,
        });
        match outcome {
            Ok(_) => {
                self.circuit(&message.recipient, |c| c.record(true, now));
                referral_store::write_transaction(conn, |conn| {
                    outbox::complete(conn, message.id, now)?;
                    webhooks::record_result(conn, &message.recipient, None, now).map(|_| ())
                })?;
                report.sent += 1;
            }
            Err(e) => {
                if self.circuit(&message.recipient, |c| c.record(false, now)) {
                    tracing::warn!(endpoint = %message.recipient, "webhook endpoint failing: its events wait a minute");
                }
                let disabled =
                    webhooks::record_result(conn, &message.recipient, Some(&e.to_string()), now)?;
                if e.is_retryable() && !disabled && message.attempts < self.retry.max_attempts {
                    let delay = self.retry.backoff(message.attempts, self.jitter());
                    tracing::info!(message_id = %message.id, attempts = message.attempts, retry_in_s = delay.num_seconds(), error = %e, "webhook delivery failed; will retry");
                    outbox::retry(conn, message.id, &e.to_string(), now + delay, now)?;
                    report.retried += 1;
                } else {
                    tracing::warn!(message_id = %message.id, error = %e, "webhook delivery given up");
                    give_up(conn, &e.to_string(), report)?;
                }
            }
        }
        Ok(())
    }
}

/// A strand's or a lane's result; one that panicked is a store error, so the round reports
/// it and its messages come back when their lease ends.
fn joined(
    handle: std::thread::ScopedJoinHandle<'_, Result<RoundReport, StoreError>>,
) -> Result<RoundReport, StoreError> {
    handle
        .join()
        .unwrap_or_else(|_| Err(StoreError::Unavailable("a delivery thread panicked".into())))
}

/// An invitation that left is an interaction of its referral (`email_sent`, `sms_sent`).
fn record_sent(
    conn: &mut DbConnection,
    message: &OutboxMessage,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let kind = match message.kind {
        OutboxKind::Email => InteractionType::EmailSent,
        OutboxKind::Sms => InteractionType::SmsSent,
        OutboxKind::Payout | OutboxKind::Webhook => return Ok(()),
    };
    let invitation = match referral_notify::Message::from_parts(&message.template, &message.payload)
    {
        Ok(m @ referral_notify::Message::ReferralInvitation(_)) => m.referral_id(),
        _ => None,
    };
    match invitation.map(ReferralId::from_uuid) {
        Some(id) => referrals::record_interaction(
            conn,
            id,
            kind,
            &RequestOrigin {
                source: Some("outbox".into()),
                ..Default::default()
            },
            Some(serde_json::json!({"message_id": message.id})),
            now,
        ),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_is_capped_and_jittered_within_its_upper_half() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff(1, 0.0), Duration::seconds(15));
        assert_eq!(policy.backoff(1, 0.999_999), Duration::milliseconds(29_999));
        assert_eq!(policy.backoff(2, 0.0), Duration::seconds(30));
        assert_eq!(policy.backoff(3, 0.5), Duration::seconds(90));
        assert_eq!(policy.backoff(20, 0.0), Duration::minutes(30));
        assert_eq!(policy.backoff(20, 1.0), Duration::hours(1));
        for attempts in 1..40 {
            let d = policy.backoff(attempts, 0.3);
            assert!(d > Duration::zero() && d <= Duration::hours(1));
        }
    }
}
