//! Reversals: refunds and consultation cancellations the platform reports. When the order
//! that converted a referral is refunded (in full, or below the program's minimum) or the
//! consultation that converted it is cancelled, the referral becomes `reversed`; its
//! referrer reward is cancelled if it was not used or paid yet (reason
//! `conversion_reversed`) and recorded as a clawback for the admins if it was. Each event
//! is processed once (by its own id), under the same referrer lock as conversions, so a
//! reversal racing its conversion or a redeem ends in one consistent outcome.

use crate::audit::NewAuditEntry;
use crate::conn::{insert_new, write_transaction, DbConnection};
use crate::error::{corrupt, StoreError};
use crate::events::AuditWith;
use crate::patients;
use crate::programs;
use crate::referrals::{self, ReferralRow};
use crate::rewards::{self, Party};
use crate::rollups::{self, Delta};
use crate::schema::{
    consultation_cancellations, orders, processed_events, referral_reversals, referral_rewards,
    referrals as referrals_table, refunds, reward_clawbacks,
};
use crate::sql_types::{DbTime, DbUuid};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use referral_domain::reversal::{refund_reverses, CancelReason, ReversalReason};
use referral_domain::{
    ConsultationId, Money, OrderId, PartyRewardStatus, PatientId, ReferralId, ReferralStatus,
    ReversalEffect, RewardId, RewardStatus,
};
use serde::Serialize;

/// A refund the platform reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundEvent {
    /// The patient.
    pub patient_id: PatientId,
    /// The refunded order.
    pub order_id: OrderId,
    /// The refund (the event's own id).
    pub refund_id: uuid::Uuid,
    /// Amount refunded.
    pub amount: Money,
    /// When; `None` is now.
    pub occurred_at: Option<DateTime<Utc>>,
}

/// A cancelled consultation the platform reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancellationEvent {
    /// The patient.
    pub patient_id: PatientId,
    /// The cancelled consultation.
    pub consultation_id: ConsultationId,
    /// The cancellation (the event's own id).
    pub cancellation_id: uuid::Uuid,
    /// When; `None` is now.
    pub occurred_at: Option<DateTime<Utc>>,
}

/// What a refund or cancellation did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ReversalOutcome {
    /// The same event was processed before; nothing changed.
    Duplicate,
    /// Recorded; it converted nothing (not the converting order or consultation, or a
    /// partial refund that leaves enough paid).
    Recorded,
    /// The referral it converted is reversed.
    Reversed {
        /// The referral.
        referral_id: ReferralId,
        /// Rewards cancelled (reason `conversion_reversed`).
        cancelled: Vec<RewardId>,
        /// Rewards already used or paid, recorded as clawbacks.
        clawbacks: Vec<RewardId>,
    },
}

/// Records a refund; reverses the referral its order converted when the refunds leave
/// less than the program's minimum paid (or nothing).
///
/// # Errors
/// Database errors.
pub fn record_refund(
    conn: &mut DbConnection,
    event: &RefundEvent,
    now: DateTime<Utc>,
    audit: Option<AuditWith<'_>>,
) -> Result<ReversalOutcome, StoreError> {
    write_transaction(conn, |conn| {
        if !processed(conn, "refund", event.refund_id, now)? {
            return finish(conn, ReversalOutcome::Duplicate, audit, now);
        }
        diesel::insert_into(refunds::table)
            .values((
                refunds::id.eq(DbUuid(event.refund_id)),
                refunds::order_id.eq(DbUuid::from(event.order_id)),
                refunds::patient_id.eq(DbUuid::from(event.patient_id)),
                refunds::amount_cents.eq(event.amount.cents()),
                refunds::occurred_at.eq(DbTime(event.occurred_at.unwrap_or(now))),
                refunds::created_at.eq(DbTime(now)),
            ))
            .execute(conn)?;
        let Some(referral) = converted_by(
            conn,
            event.patient_id,
            Converting::Order(event.order_id),
            now,
        )?
        else {
            return finish(conn, ReversalOutcome::Recorded, audit, now);
        };
        let paid: i64 = orders::table
            .find(DbUuid::from(event.order_id))
            .select(orders::amount_cents)
            .first(conn)?;
        let refunded: Vec<i64> = refunds::table
            .filter(refunds::order_id.eq(DbUuid::from(event.order_id)))
            .select(refunds::amount_cents)
            .load(conn)?;
        let refunded = refunded.into_iter().fold(0i64, i64::saturating_add);
        let program = programs::get(conn, referral.program_id)?;
        let money = |cents| Money::from_cents(cents).map_err(|_| corrupt("refund amount"));
        if !refund_reverses(
            &money(paid)?,
            &money(refunded)?,
            program.min_order_amount.as_ref(),
        ) {
            return finish(conn, ReversalOutcome::Recorded, audit, now);
        }
        let outcome = reverse(
            conn,
            &referral,
            ReversalReason::OrderRefunded,
            event.refund_id,
            now,
        )?;
        finish(conn, outcome, audit, now)
    })
}

/// Records a consultation's cancellation; reverses the referral it converted.
///
/// # Errors
/// Database errors.
pub fn record_cancellation(
    conn: &mut DbConnection,
    event: &CancellationEvent,
    now: DateTime<Utc>,
    audit: Option<AuditWith<'_>>,
) -> Result<ReversalOutcome, StoreError> {
    write_transaction(conn, |conn| {
        if !processed(
            conn,
            "consultation_cancellation",
            event.cancellation_id,
            now,
        )? {
            return finish(conn, ReversalOutcome::Duplicate, audit, now);
        }
        diesel::insert_into(consultation_cancellations::table)
            .values((
                consultation_cancellations::id.eq(DbUuid(event.cancellation_id)),
                consultation_cancellations::consultation_id.eq(DbUuid::from(event.consultation_id)),
                consultation_cancellations::patient_id.eq(DbUuid::from(event.patient_id)),
                consultation_cancellations::occurred_at
                    .eq(DbTime(event.occurred_at.unwrap_or(now))),
                consultation_cancellations::created_at.eq(DbTime(now)),
            ))
            .execute(conn)?;
        let Some(referral) = converted_by(
            conn,
            event.patient_id,
            Converting::Consultation(event.consultation_id),
            now,
        )?
        else {
            return finish(conn, ReversalOutcome::Recorded, audit, now);
        };
        let outcome = reverse(
            conn,
            &referral,
            ReversalReason::ConsultationCancelled,
            event.cancellation_id,
            now,
        )?;
        finish(conn, outcome, audit, now)
    })
}

/// Marks the event processed; `false` when it was before.
fn processed(
    conn: &mut DbConnection,
    kind: &'static str,
    id: uuid::Uuid,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    insert_new!(
        conn,
        diesel::insert_into(processed_events::table).values((
            processed_events::event_type.eq(kind),
            processed_events::event_id.eq(DbUuid(id)),
            processed_events::processed_at.eq(DbTime(now)),
        ))
    )
}

/// What converted a referral.
#[derive(Clone, Copy)]
enum Converting {
    Order(OrderId),
    Consultation(ConsultationId),
}

/// The patient's converted referral that `converting` converted, read under the referrer's
/// lock (the lock conversions take): a conversion in flight finishes first.
fn converted_by(
    conn: &mut DbConnection,
    patient: PatientId,
    converting: Converting,
    now: DateTime<Utc>,
) -> Result<Option<referrals::Referral>, StoreError> {
    if !patients::lock_referrer_of(conn, patient)? {
        return Ok(None);
    }
    let mine = referrals_table::table
        .filter(referrals_table::referee_patient_id.eq(Some(DbUuid::from(patient))))
        .filter(referrals_table::status.eq(ReferralStatus::Converted.as_str()));
    let row: Option<ReferralRow> = match converting {
        Converting::Order(order) => mine
            .filter(referrals_table::first_order_id.eq(Some(DbUuid::from(order))))
            .select(ReferralRow::as_select())
            .first(conn)
            .optional()?,
        Converting::Consultation(consultation) => mine
            .filter(referrals_table::first_consultation_id.eq(Some(DbUuid::from(consultation))))
            .select(ReferralRow::as_select())
            .first(conn)
            .optional()?,
    };
    row.map(|r| r.into_referral(now)).transpose()
}

/// Reverses a converted referral and what its conversion earned.
fn reverse(
    conn: &mut DbConnection,
    referral: &referrals::Referral,
    reason: ReversalReason,
    event_id: uuid::Uuid,
    now: DateTime<Utc>,
) -> Result<ReversalOutcome, StoreError> {
    let mut lifecycle = referral.lifecycle();
    lifecycle.reverse()?;
    // The referral's row first: whatever changes a referral's rewards (a redeem, a review,
    // a release) locks it before the reward's row, so none of them can deadlock with this.
    let updated = diesel::update(
        referrals_table::table
            .find(DbUuid::from(referral.id))
            .filter(referrals_table::status.eq(ReferralStatus::Converted.as_str())),
    )
    .set((
        referrals_table::status.eq(ReferralStatus::Reversed.as_str()),
        referrals_table::updated_at.eq(DbTime(now)),
    ))
    .execute(conn)?;
    if updated == 0 {
        // Not reachable under the referrer's lock; said plainly if it ever is.
        return Err(corrupt(
            "a converted referral changed under its referrer's lock",
        ));
    }
    diesel::insert_into(referral_reversals::table)
        .values((
            referral_reversals::referral_id.eq(DbUuid::from(referral.id)),
            referral_reversals::reason.eq(reason.as_str()),
            referral_reversals::event_id.eq(DbUuid(event_id)),
            referral_reversals::reversed_at.eq(DbTime(now)),
        ))
        .execute(conn)?;
    let cohort = referral.cohort();
    // The rollups count converted referrals and their referees' revenue (see
    // rollups_rebuild.sql): a reversed one leaves both.
    let revenue: Vec<i64> = match referral.referee_patient_id {
        Some(referee) => orders::table
            .filter(orders::patient_id.eq(DbUuid::from(referee)))
            .select(orders::amount_cents)
            .load(conn)?,
        None => Vec::new(),
    };
    let mut delta = Delta {
        converted: -1,
        revenue_cents: -revenue.into_iter().fold(0i64, i64::saturating_add),
        ..Delta::default()
    };
    let (mut cancelled, mut clawbacks) = (Vec::new(), Vec::new());
    let mut reversed = referral.clone();
    reversed.status = ReferralStatus::Reversed;
    let mut events = vec![(
        referral_domain::webhook::WebhookEventType::ReferralReversed,
        crate::webhooks::referral_data(&reversed),
    )];
    for reward in rewards::for_referral(conn, referral.id, now)? {
        // The conversion earned the referrer's reward; the friend's welcome reward was
        // earned by registering and stays.
        if reward.party != Party::Referrer || reward.withheld_reason.is_some() {
            continue;
        }
        match cancel_or_claw_back(conn, &reward, now)? {
            ReversalEffect::Cancelled => {
                if reward.reward_type.has_face_value() {
                    delta.rewards_granted -= 1;
                    delta.reward_value_cents -=
                        reward.reward_amount.as_ref().map_or(0, Money::cents);
                }
                cancelled.push(reward.id);
                let mut gone = reward.clone();
                gone.status = RewardStatus::Cancelled;
                gone.cancel_reason = Some(CancelReason::ConversionReversed);
                events.push((
                    referral_domain::webhook::WebhookEventType::RewardCancelled,
                    crate::webhooks::reward_data(&gone),
                ));
            }
            ReversalEffect::Clawback => clawbacks.push(reward.id),
            ReversalEffect::Unaffected => {}
        }
    }
    rollups::bump(conn, &cohort, delta)?;
    rollups::bump_referrer(conn, &cohort, 0, -1)?;
    crate::webhooks::emit_all(conn, &events, now)?;
    tracing::info!(referral_id = %referral.id, reason = reason.as_str(), "referral reversed");
    Ok(ReversalOutcome::Reversed {
        referral_id: referral.id,
        cancelled,
        clawbacks,
    })
}

/// Cancels a reward whose conversion was reversed, or records its clawback when it was
/// used or paid (also when a redeem wins the race for the row).
fn cancel_or_claw_back(
    conn: &mut DbConnection,
    reward: &rewards::Reward,
    now: DateTime<Utc>,
) -> Result<ReversalEffect, StoreError> {
    let mut ledger = reward.ledger();
    let mut effect = ledger.reverse(reward.reward_type);
    if effect == ReversalEffect::Cancelled {
        let cancellable = [
            RewardStatus::Held,
            RewardStatus::InReview,
            RewardStatus::Available,
            RewardStatus::PendingApproval,
        ]
        .map(RewardStatus::as_str);
        let updated = diesel::update(
            referral_rewards::table
                .find(DbUuid::from(reward.id))
                .filter(referral_rewards::status.eq_any(cancellable)),
        )
        .set((
            referral_rewards::status.eq(RewardStatus::Cancelled.as_str()),
            referral_rewards::cancel_reason.eq(CancelReason::ConversionReversed.as_str()),
            // Not yet released: withdrawn whole, and the referrer never learns of it.
            referral_rewards::released_at.eq(reward
                .released_at
                .filter(|_| !referral_domain::disclosure::withdrawn_unseen(reward.released_at, now))
                .map(DbTime)),
            referral_rewards::updated_at.eq(DbTime(now)),
        ))
        .execute(conn)?;
        if updated == 1 {
            rewards::set_mirror(
                conn,
                reward.referral_id,
                reward.party,
                PartyRewardStatus::Cancelled,
                None,
                now,
            )?;
            return Ok(ReversalEffect::Cancelled);
        }
        // A redeem got there first: read what it left.
        let now_stored = rewards::get(conn, reward.id, None, now)?;
        effect = now_stored.ledger().reverse(now_stored.reward_type);
        if effect != ReversalEffect::Clawback {
            return Ok(ReversalEffect::Unaffected);
        }
        return claw_back(conn, &now_stored, now).map(|()| effect);
    }
    if effect == ReversalEffect::Clawback {
        claw_back(conn, reward, now)?;
    }
    Ok(effect)
}

fn claw_back(
    conn: &mut DbConnection,
    reward: &rewards::Reward,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let amount = reward
        .applied_amount
        .as_ref()
        .or(reward.reward_amount.as_ref())
        .map(Money::cents);
    diesel::insert_into(reward_clawbacks::table)
        .values((
            reward_clawbacks::reward_id.eq(DbUuid::from(reward.id)),
            reward_clawbacks::referral_id.eq(DbUuid::from(reward.referral_id)),
            reward_clawbacks::patient_id.eq(DbUuid::from(reward.patient_id)),
            reward_clawbacks::amount_cents.eq(amount),
            reward_clawbacks::reason.eq(CancelReason::ConversionReversed.as_str()),
            reward_clawbacks::created_at.eq(DbTime(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Writes the caller's audit row (naming the referral it reversed, if any).
fn finish(
    conn: &mut DbConnection,
    outcome: ReversalOutcome,
    audit: Option<AuditWith<'_>>,
    now: DateTime<Utc>,
) -> Result<ReversalOutcome, StoreError> {
    if let Some((entry, keyring)) = audit {
        let mut entry: NewAuditEntry = entry.clone();
        entry.outcome = "success".into();
        if let ReversalOutcome::Reversed { referral_id, .. } = &outcome {
            entry
                .resource_id
                .get_or_insert_with(|| referral_id.to_string());
        }
        crate::audit::append(conn, keyring, &entry, now)?;
    }
    Ok(outcome)
}

/// A clawback: a reward used or paid before its conversion was reversed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Clawback {
    /// The reward.
    pub reward_id: RewardId,
    /// Its referral.
    pub referral_id: ReferralId,
    /// Its owner.
    pub patient_id: PatientId,
    /// What it gave (the applied amount of a used discount, else its amount).
    pub amount: Option<Money>,
    /// `conversion_reversed`.
    pub reason: String,
    /// When recorded.
    pub created_at: DateTime<Utc>,
}

/// The clawbacks recorded, newest first (for the admins).
///
/// # Errors
/// Database errors.
pub fn clawbacks(
    conn: &mut DbConnection,
    page: crate::page::Page,
) -> Result<crate::page::Paged<Clawback>, StoreError> {
    let total = reward_clawbacks::table.count().get_result(conn)?;
    let rows: Vec<(DbUuid, DbUuid, DbUuid, Option<i64>, String, DbTime)> = reward_clawbacks::table
        .order((
            reward_clawbacks::created_at.desc(),
            reward_clawbacks::reward_id,
        ))
        .limit(page.limit)
        .offset(page.offset)
        .select((
            reward_clawbacks::reward_id,
            reward_clawbacks::referral_id,
            reward_clawbacks::patient_id,
            reward_clawbacks::amount_cents,
            reward_clawbacks::reason,
            reward_clawbacks::created_at,
        ))
        .load(conn)?;
    let items = rows
        .into_iter()
        .map(|(reward, referral, patient, amount, reason, at)| {
            Ok(Clawback {
                reward_id: RewardId::from_uuid(reward.0),
                referral_id: ReferralId::from_uuid(referral.0),
                patient_id: PatientId::from_uuid(patient.0),
                amount: crate::error::money(amount, "clawback amount")?,
                reason,
                created_at: at.0,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(crate::page::Paged { items, total })
}
