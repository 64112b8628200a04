//! Releasing held rewards once their holding period passed with no reversal: the worker's
//! round. A released reward becomes what it would have been without a hold (available, or
//! pending approval for cash) and its owner is told then, not before.

use super::*;
use crate::conn::{write_transaction, DbConnection};
use crate::error::StoreError;
use crate::outbox;
use crate::patients;
use crate::schema::referral_rewards;
use crate::sql_types::{DbTime, DbUuid};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use referral_domain::webhook::WebhookEventType;
use referral_domain::{PartyRewardStatus, PatientId, RewardStatus};

/// Most held rewards released in one transaction.
const RELEASE_BATCH: i64 = 500;

/// Releases the held rewards whose hold ended by `now`, in batches; the number released.
///
/// # Errors
/// Database errors.
pub fn release_due(conn: &mut DbConnection, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let mut released = 0;
    loop {
        let batch = write_transaction(conn, |conn| release_batch(conn, now))?;
        released += batch;
        if batch < usize::try_from(RELEASE_BATCH).unwrap_or(usize::MAX) {
            return Ok(released);
        }
    }
}

fn release_batch(conn: &mut DbConnection, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let rows: Vec<RewardRow> = referral_rewards::table
        .filter(referral_rewards::status.eq(RewardStatus::Held.as_str()))
        .filter(referral_rewards::hold_until.le(Some(DbTime(now))))
        .order((
            referral_rewards::hold_until.asc(),
            referral_rewards::id.asc(),
        ))
        .limit(RELEASE_BATCH)
        .select(RewardRow::as_select())
        .load(conn)?;
    let mut released = 0;
    for row in rows {
        let reward = row.into_reward(now)?;
        lock_referral(conn, reward.referral_id)?;
        let mut ledger = reward.ledger();
        ledger.release(reward.reward_type, reward.hold_until, now)?;
        let status = ledger.status();
        // Only if still held: a reversal in the same moment wins and nothing is released.
        let updated = diesel::update(
            referral_rewards::table
                .find(DbUuid::from(reward.id))
                .filter(referral_rewards::status.eq(RewardStatus::Held.as_str())),
        )
        .set((
            referral_rewards::status.eq(status.as_str()),
            referral_rewards::updated_at.eq(DbTime(now)),
        ))
        .execute(conn)?;
        if updated == 0 {
            continue;
        }
        set_mirror(
            conn,
            reward.referral_id,
            reward.party,
            PartyRewardStatus::mirror(status),
            None,
            now,
        )?;
        announce(conn, &reward, status, now)?;
        released += 1;
    }
    if released > 0 {
        tracing::info!(released, "held rewards released");
    }
    Ok(released)
}

/// Queues the "reward earned" (or "welcome bonus") email of a reward that just became
/// usable (or waits for a cash approval) after a hold or a review.
pub(crate) fn announce(
    conn: &mut DbConnection,
    reward: &Reward,
    status: RewardStatus,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let (Some(value), false) = (
        reward.reward_amount.clone(),
        matches!(status, RewardStatus::Held | RewardStatus::InReview),
    ) else {
        return Ok(());
    };
    if status == RewardStatus::Available {
        let mut now_available = reward.clone();
        now_available.status = status;
        crate::webhooks::emit_reward(conn, WebhookEventType::RewardAvailable, &now_available, now)?;
    }
    // A referrer is told with everything else of the reward's period (see
    // [`notify_releases`]), never at the moment the hold or review ended.
    if reward.party == Party::Referrer {
        return Ok(());
    }
    let owner = patients::get(conn, reward.patient_id)?;
    let spec = referral_domain::RewardSpec {
        reward_type: reward.reward_type,
        value,
    };
    let notice = reward_notice(
        &Notice {
            id: reward.id,
            referral_id: reward.referral_id,
            status,
        },
        &owner,
        reward.party,
        &spec,
        crate::referrals::locale_of(conn, reward.referral_id)?,
    );
    outbox::enqueue(conn, &notice, now)?;
    Ok(())
}

/// Referrers told in one transaction at most.
const NOTICE_BATCH: i64 = 500;

/// Tells each referrer, in one notice, of every reward released to them by `now` and not
/// yet told (the cadence's period: see `referral_domain::disclosure::RewardCadence`). The
/// notice names the rewards and nothing of the friends or when they were earned. The
/// number of notices queued.
///
/// # Errors
/// Database errors.
pub fn notify_releases(conn: &mut DbConnection, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let mut queued = 0;
    loop {
        let batch = write_transaction(conn, |conn| notify_batch(conn, now))?;
        queued += batch;
        if batch == 0 {
            return Ok(queued);
        }
    }
}

fn notify_batch(conn: &mut DbConnection, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let due = || {
        referral_rewards::table
            .filter(referral_rewards::party.eq(Party::Referrer.as_str()))
            .filter(referral_rewards::released_at.le(Some(DbTime(now))))
            .filter(referral_rewards::release_notified_at.is_null())
    };
    let owners: Vec<DbUuid> = due()
        .select(referral_rewards::patient_id)
        .distinct()
        .limit(NOTICE_BATCH)
        .load(conn)?;
    for owner in &owners {
        let rows: Vec<RewardRow> = due()
            .filter(referral_rewards::patient_id.eq(*owner))
            .order(referral_rewards::id.asc())
            .select(RewardRow::as_select())
            .load(conn)?;
        let rewards: Vec<Reward> = rows
            .into_iter()
            .map(|r| r.into_reward(now))
            .collect::<Result<_, _>>()?;
        diesel::update(due().filter(referral_rewards::patient_id.eq(*owner)))
            .set(referral_rewards::release_notified_at.eq(Some(DbTime(now))))
            .execute(conn)?;
        // Withheld for the referrer's own reasons, or cancelled after the release and
        // before this round: nothing to announce (the list shows them).
        let usable: Vec<&Reward> = rewards
            .iter()
            .filter(|r| {
                r.withheld_reason.is_none()
                    && matches!(
                        r.status,
                        RewardStatus::Available
                            | RewardStatus::PendingApproval
                            | RewardStatus::Used
                    )
            })
            .collect();
        let Some(first) = usable.first() else {
            continue;
        };
        let owner = patients::get(conn, PatientId::from_uuid(owner.0))?;
        let locale = crate::referrals::locale_of(conn, first.referral_id)?;
        let words: Vec<String> = usable
            .iter()
            .filter_map(|r| {
                r.reward_amount.clone().map(|value| {
                    referral_domain::RewardSpec {
                        reward_type: r.reward_type,
                        value,
                    }
                    .description_in(locale)
                })
            })
            .collect();
        let spec_words = words.join("; ");
        let mut notice = reward_notice(
            &Notice {
                id: first.id,
                referral_id: first.referral_id,
                status: if usable
                    .iter()
                    .all(|r| r.status == RewardStatus::PendingApproval)
                {
                    RewardStatus::PendingApproval
                } else {
                    RewardStatus::Available
                },
            },
            &owner,
            Party::Referrer,
            &referral_domain::RewardSpec {
                reward_type: first.reward_type,
                value: first
                    .reward_amount
                    .clone()
                    .unwrap_or(referral_domain::Money::ZERO),
            },
            locale,
        );
        if let referral_domain::notices::Message::RewardEarned(m) = &mut notice.message {
            m.reward_description = spec_words;
        }
        // One notice a referrer and release.
        let released_on = rewards
            .iter()
            .filter_map(|r| r.released_at)
            .max()
            .unwrap_or(now)
            .date_naive();
        notice.idempotency_key = format!("rewards-released:{}:{released_on}", owner.id);
        outbox::enqueue(conn, &notice, now)?;
    }
    Ok(owners.len())
}
