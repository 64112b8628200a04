//! Redeeming a reward once, on an order or a consultation.

use super::*;
use crate::conn::{write_transaction, DbConnection};
use crate::error::StoreError;
use crate::rollups::{self, Cohort, Delta};
use crate::schema::referral_rewards;
use crate::sql_types::{DbTime, DbUuid};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use referral_domain::{
    DomainError, Money, PartyRewardStatus, PatientId, RedemptionTarget, RewardId, RewardStatus,
    RewardType,
};

/// Uses a reward once, on an order or a consultation. With `owner`, only that patient's
/// reward can be used (another patient's answers not found).
///
/// # Errors
/// [`StoreError::NotFound`]; the domain's `Redeem*` errors (`reward_not_available`),
/// also for the losers when several redeems of one reward arrive at once.
pub fn redeem(
    conn: &mut DbConnection,
    id: RewardId,
    owner: Option<PatientId>,
    target: RedemptionTarget,
    now: DateTime<Utc>,
) -> Result<Reward, StoreError> {
    write_transaction(conn, |conn| {
        let reward = get(conn, id, owner, now)?;
        let mut ledger = reward.ledger();
        ledger.redeem(now, target)?;
        let (order, consultation) = match target {
            RedemptionTarget::Order(o) => (Some(DbUuid::from(o)), None),
            RedemptionTarget::Consultation(c) => (None, Some(DbUuid::from(c))),
        };
        // The status guard settles concurrent redeems: on PostgreSQL the second UPDATE waits
        // for the first, re-reads the row and matches nothing.
        let updated = diesel::update(
            referral_rewards::table
                .find(DbUuid::from(id))
                .filter(referral_rewards::status.eq(RewardStatus::Available.as_str())),
        )
        .set((
            referral_rewards::status.eq(RewardStatus::Used.as_str()),
            referral_rewards::used_at.eq(Some(DbTime(now))),
            referral_rewards::used_on_order_id.eq(order),
            referral_rewards::used_on_consultation_id.eq(consultation),
            referral_rewards::updated_at.eq(DbTime(now)),
        ))
        .execute(conn)?;
        if updated == 0 {
            return Err(DomainError::RedeemAlreadyUsed.into());
        }
        // Cash counts as paid when approved for payout, discounts are worth nothing: the
        // rest is paid when used.
        if !matches!(reward.reward_type, RewardType::Discount | RewardType::Cash) {
            let cohort = Cohort::of(conn, reward.referral_id)?;
            rollups::bump(
                conn,
                &cohort,
                Delta {
                    rewards_paid_cents: reward.reward_amount.as_ref().map_or(0, Money::cents),
                    ..Delta::default()
                },
            )?;
        }
        set_mirror(
            conn,
            reward.referral_id,
            reward.party,
            PartyRewardStatus::Redeemed,
            Some(now),
            now,
        )?;
        get_in(conn, id, now)
    })
}
