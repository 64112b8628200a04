//! Redeeming a reward once, on an order or a consultation.

use super::*;
use crate::conn::{write_transaction, DbConnection};
use crate::error::StoreError;
use crate::patients;
use crate::rollups::{self, Cohort, Delta};
use crate::schema::referral_rewards;
use crate::sql_types::{DbTime, DbUuid};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use referral_domain::webhook::WebhookEventType;
use referral_domain::{
    DomainError, FieldError, InducementPolicy, Money, PartyRewardStatus, PatientId,
    RedemptionTarget, RewardId, RewardStatus, RewardType, ValidationErrors,
};

/// What a reward is used on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redemption {
    /// The order or consultation.
    pub target: RedemptionTarget,
    /// The amount it is applied to: required for a percentage discount, whose value is its
    /// share of this amount.
    pub amount: Option<Money>,
}

/// Uses a reward once, on an order or a consultation, and fixes what it gave: a discount's
/// share of the amount, within what the inducement policy still allows the patient this
/// year (and the nominal value for a federal payer); another reward's amount. With `owner`,
/// only that patient's reward can be used (another patient's answers not found).
///
/// # Errors
/// [`StoreError::NotFound`]; the domain's `Redeem*` errors (`reward_not_available`),
/// also for the losers when several redeems of one reward arrive at once; a discount
/// without an amount is a validation error on `amount`.
pub fn redeem(
    conn: &mut DbConnection,
    id: RewardId,
    owner: Option<PatientId>,
    redemption: &Redemption,
    policy: &InducementPolicy,
    now: DateTime<Utc>,
) -> Result<Reward, StoreError> {
    let target = redemption.target;
    write_transaction(conn, |conn| {
        let reward = get(conn, id, owner, now)?;
        let mut ledger = reward.ledger();
        ledger.redeem(now, target)?;
        let applied = match (reward.reward_type, &reward.reward_amount) {
            (RewardType::Discount, Some(percent)) => {
                let amount = redemption.amount.as_ref().ok_or_else(|| {
                    DomainError::Validation(ValidationErrors(vec![FieldError::DiscountNeedsAmount]))
                })?;
                // The cap reads before it writes: hold the owner's lock, as grants do.
                patients::lock(conn, reward.patient_id)?;
                let patient = patients::get(conn, reward.patient_id)?;
                let granted = granted_this_year(conn, reward.patient_id, now)?;
                let standing = patient.standing(policy, granted);
                Some(policy.discount_value(percent, amount, &standing))
            }
            (_, amount) => amount.clone(),
        };
        lock_referral(conn, reward.referral_id)?;
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
            referral_rewards::applied_amount_cents.eq(applied.as_ref().map(Money::cents)),
            referral_rewards::updated_at.eq(DbTime(now)),
        ))
        .execute(conn)?;
        if updated == 0 {
            return Err(DomainError::RedeemAlreadyUsed.into());
        }
        // Cash counts as paid when approved for payout, discounts are worth nothing: the
        // rest is paid when used.
        if reward.reward_type.is_paid_when_used() {
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
        let used = get_in(conn, id, now)?;
        crate::webhooks::emit_reward(conn, WebhookEventType::RewardRedeemed, &used, now)?;
        Ok(used)
    })
}
