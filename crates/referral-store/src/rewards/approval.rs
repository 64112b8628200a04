//! An admin's approval or rejection of cash rewards that wait for it.

use super::*;
use crate::conn::{write_transaction, DbConnection};
use crate::error::StoreError;
use crate::outbox::{self, NewMessage, OutboxKind};
use crate::patients;
use crate::rollups::{self, Cohort, Delta};
use crate::schema::{referral_rewards, referrals};
use crate::sql_types::{DbTime, DbUuid};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use referral_domain::notices::CashPayout;
use referral_domain::notices::Message;
use referral_domain::{DomainError, Money, PartyRewardStatus, ReferralId, RewardStatus};

/// An admin's decision on the cash rewards of a referral that wait for approval: approve
/// makes them available and queues the payout; reject cancels them.
///
/// # Errors
/// [`StoreError::NotFound`] for an unknown referral or one without rewards; the domain's
/// `ApproveNotPending` / `RejectNotPending` when none waits for approval.
pub fn decide_approval(
    conn: &mut DbConnection,
    referral_id: ReferralId,
    approve: bool,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<Reward>, StoreError> {
    write_transaction(conn, |conn| {
        let exists: i64 = referrals::table
            .filter(referrals::id.eq(DbUuid::from(referral_id)))
            .count()
            .get_result(conn)?;
        if exists == 0 {
            return Err(StoreError::NotFound);
        }
        let rewards = for_referral(conn, referral_id, now)?;
        let pending: Vec<&Reward> = rewards
            .iter()
            .filter(|r| r.status == RewardStatus::PendingApproval)
            .collect();
        if pending.is_empty() {
            // Report the state of the reward an admin would be looking at.
            let current = rewards
                .iter()
                .find(|r| r.party == Party::Referrer)
                .or(rewards.first())
                .ok_or(StoreError::NotFound)?;
            return Err(if approve {
                DomainError::ApproveNotPending(current.status)
            } else {
                DomainError::RejectNotPending(current.status)
            }
            .into());
        }
        for reward in pending {
            let mut ledger = reward.ledger();
            let new_status = if approve {
                ledger.approve()?;
                RewardStatus::Available
            } else {
                ledger.reject()?;
                RewardStatus::Cancelled
            };
            let updated = diesel::update(
                referral_rewards::table
                    .find(DbUuid::from(reward.id))
                    .filter(referral_rewards::status.eq(RewardStatus::PendingApproval.as_str())),
            )
            .set((
                referral_rewards::status.eq(new_status.as_str()),
                referral_rewards::updated_at.eq(DbTime(now)),
            ))
            .execute(conn)?;
            if updated == 0 {
                return Err(DomainError::ApproveNotPending(RewardStatus::Available).into());
            }
            let cents = reward.reward_amount.as_ref().map_or(0, Money::cents);
            let cohort = Cohort::of(conn, reward.referral_id)?;
            let delta = if approve && !reward.reward_type.is_paid_out() {
                Delta::default()
            } else if approve {
                // An approved cash reward is paid out.
                Delta {
                    rewards_paid_cents: cents,
                    ..Delta::default()
                }
            } else {
                Delta {
                    rewards_granted: -1,
                    reward_value_cents: -cents,
                    ..Delta::default()
                }
            };
            rollups::bump(conn, &cohort, delta)?;
            set_mirror(
                conn,
                reward.referral_id,
                reward.party,
                PartyRewardStatus::mirror(new_status),
                None,
                now,
            )?;
            if approve {
                let owner = patients::get(conn, reward.patient_id)?;
                outbox::enqueue(
                    conn,
                    &NewMessage {
                        kind: OutboxKind::Payout,
                        idempotency_key: payout_key(reward.id),
                        recipient: owner.id.to_string(),
                        message: Message::CashPayout(CashPayout {
                            reward_id: reward.id.as_uuid(),
                            patient_id: owner.id.as_uuid(),
                            amount: reward.reward_amount.clone(),
                            currency: "usd".into(),
                            stripe_account: None,
                        }),
                    },
                    now,
                )?;
            }
            let mut decided = reward.clone();
            decided.status = new_status;
            crate::webhooks::emit(
                conn,
                if approve {
                    referral_domain::webhook::WebhookEventType::RewardAvailable
                } else {
                    referral_domain::webhook::WebhookEventType::RewardCancelled
                },
                crate::webhooks::reward_data(&decided),
                now,
            )?;
            // The reason is free text an admin typed: it may name a person, so it stays out of
            // info logs.
            tracing::info!(reward_id = %reward.id, approve, "reward approval decided");
            tracing::debug!(reward_id = %reward.id, reason = reason.unwrap_or(""), "approval reason");
        }
        for_referral(conn, referral_id, now)
    })
}

/// The idempotency key of a reward's payout message: one payout per reward, ever.
pub(crate) fn payout_key(reward: RewardId) -> String {
    format!("payout:{reward}")
}
