//! Expiry: the reminder before a reward expires, and the sweep that stores expiries.

use super::*;
use crate::conn::{write_transaction, DbConnection};
use crate::error::corrupt;
use crate::error::StoreError;
use crate::outbox::{self, NewMessage, OutboxKind};
use crate::patients;
use crate::schema::referral_rewards;
use crate::sql_types::{DbTime, DbUuid};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use referral_domain::notices::Message;
use referral_domain::notices::RewardExpiring;
use referral_domain::webhook::WebhookEventType;
use referral_domain::{
    Locale, PartyRewardStatus, ReferralId, RewardSpec, RewardStatus, RewardType,
};

/// Queues the "reward expiring" reminder for every available reward that expires within
/// `notice` of `now` and has not been reminded of; returns how many were queued. The
/// idempotency key makes a reminder once per reward, however often this runs.
///
/// # Errors
/// Database errors.
pub fn queue_expiry_reminders(
    conn: &mut DbConnection,
    notice: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    write_transaction(conn, |conn| {
        let due: Vec<RewardRow> = referral_rewards::table
            .filter(referral_rewards::status.eq(RewardStatus::Available.as_str()))
            .filter(referral_rewards::expires_at.gt(DbTime(now)))
            .filter(referral_rewards::expires_at.le(DbTime(now + notice)))
            // Only what its owner can see: a referrer's reward before its release is not.
            .filter(referral_rewards::released_at.le(DbTime(now)))
            .select(RewardRow::as_select())
            .load(conn)?;
        let mut queued = 0;
        for row in due {
            let reward = row.into_reward(now)?;
            let Some(expires_at) = reward.expires_at else {
                continue;
            };
            let patient = patients::get(conn, reward.patient_id)?;
            let locale = crate::referrals::locale_of(conn, reward.referral_id)?;
            // English rows keep the words stored with the reward; another language says the
            // same reward in its own words.
            let description = match (locale, &reward.reward_amount) {
                (Locale::En, _) | (_, None) => reward.reward_description.clone(),
                (_, Some(value)) => Some(
                    RewardSpec {
                        reward_type: reward.reward_type,
                        value: value.clone(),
                    }
                    .description_in(locale),
                ),
            };
            let inserted = outbox::enqueue(
                conn,
                &NewMessage {
                    kind: OutboxKind::Email,
                    idempotency_key: format!("reward-expiring:{}", reward.id),
                    recipient: patient.email.as_str().to_owned(),
                    message: Message::RewardExpiring(RewardExpiring {
                        patient_name: patient.name.clone(),
                        reward_description: description,
                        expires_on: locale.long_date(expires_at.date_naive()),
                        reward_id: reward.id.as_uuid(),
                        locale,
                    }),
                },
                now,
            )?;
            if inserted {
                queued += 1;
            }
        }
        Ok(queued)
    })
}

/// Stores the expiry of every available reward past `expires_at`, paid-out cash rewards
/// aside; returns how many.
///
/// # Errors
/// Database errors.
pub fn expire_due(conn: &mut DbConnection, now: DateTime<Utc>) -> Result<usize, StoreError> {
    write_transaction(conn, |conn| {
        // An available cash reward was approved and paid out: there is nothing left to
        // expire (expiring it would take a payout back out of the figures).
        let due: Vec<(DbUuid, DbUuid, String)> = referral_rewards::table
            .filter(referral_rewards::status.eq(RewardStatus::Available.as_str()))
            .filter(
                referral_rewards::reward_type
                    .ne_all(RewardType::codes_where(RewardType::is_paid_out)),
            )
            .filter(referral_rewards::expires_at.le(DbTime(now)))
            .select((
                referral_rewards::id,
                referral_rewards::referral_id,
                referral_rewards::party,
            ))
            .load(conn)?;
        for (id, referral_id, party) in &due {
            diesel::update(
                referral_rewards::table
                    .find(*id)
                    .filter(referral_rewards::status.eq(RewardStatus::Available.as_str())),
            )
            .set((
                referral_rewards::status.eq(RewardStatus::Expired.as_str()),
                referral_rewards::updated_at.eq(DbTime(now)),
            ))
            .execute(conn)?;
            let party: Party = party.parse().map_err(|()| corrupt("reward party"))?;
            set_mirror(
                conn,
                ReferralId::from_uuid(referral_id.0),
                party,
                PartyRewardStatus::Expired,
                None,
                now,
            )?;
            let expired = get_in(conn, RewardId::from_uuid(id.0), now)?;
            crate::webhooks::emit_reward(conn, WebhookEventType::RewardExpired, &expired, now)?;
        }
        Ok(due.len())
    })
}
