//! Platform events: consultations and orders reported by other services. Each event is
//! processed once (by its own id); the first consultation or paid order of a referred patient
//! converts their referral, and every `reward_threshold` conversions of a referrer in a
//! program earn the referrer a reward.

use crate::conn::{insert_new, write_transaction, DbConnection};
use crate::error::StoreError;
use crate::patients;
use crate::programs;
use crate::referrals::{self, ReferralRow, RequestOrigin};
use crate::rewards::{self, Party, Reward};
use crate::rollups::{self, Cohort, Delta};
use crate::schema::{consultations, orders, processed_events, referrals as referrals_table};
use crate::sql_types::{DbTime, DbUuid};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use referral_domain::referral::completes_batch;
use referral_domain::{
    ConsultationId, ConversionTrigger, InducementPolicy, InteractionType, Money, OrderId,
    PartyRewardStatus, PatientId, ReferralId, ReferralStatus,
};
use serde::Serialize;

/// A consultation the platform reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsultationEvent {
    /// The patient.
    pub patient_id: PatientId,
    /// The consultation (the event's own id).
    pub consultation_id: ConsultationId,
    /// When it happened; `None` is now.
    pub occurred_at: Option<DateTime<Utc>>,
}

/// An order the platform reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderEvent {
    /// The patient.
    pub patient_id: PatientId,
    /// The order (the event's own id).
    pub order_id: OrderId,
    /// Amount paid; an order of 0.00 is not a paid order and converts nothing.
    pub amount: Money,
    /// When it happened; `None` is now.
    pub occurred_at: Option<DateTime<Utc>>,
}

/// What an event did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum EventOutcome {
    /// The same event was processed before; nothing changed.
    Duplicate,
    /// Recorded; the patient was not referred (or the order was not paid).
    Recorded,
    /// Recorded; the patient's referral had converted before.
    AlreadyConverted {
        /// The referral.
        referral_id: ReferralId,
    },
    /// This event converted the patient's referral.
    Converted {
        /// The referral.
        referral_id: ReferralId,
        /// The referrer reward this conversion earned, if it completed a batch.
        referrer_reward: Option<Reward>,
    },
}

/// Records a consultation; converts the patient's referral if it is their first.
///
/// # Errors
/// Database errors.
pub fn record_consultation(
    conn: &mut DbConnection,
    event: &ConsultationEvent,
    policy: &InducementPolicy,
    now: DateTime<Utc>,
) -> Result<EventOutcome, StoreError> {
    let occurred = event.occurred_at.unwrap_or(now);
    write_transaction(conn, |conn| {
        if !mark_processed(
            conn,
            "consultation",
            DbUuid::from(event.consultation_id),
            now,
        )? {
            return Ok(EventOutcome::Duplicate);
        }
        insert_new!(
            conn,
            diesel::insert_into(consultations::table).values((
                consultations::id.eq(DbUuid::from(event.consultation_id)),
                consultations::patient_id.eq(DbUuid::from(event.patient_id)),
                consultations::occurred_at.eq(DbTime(occurred)),
                consultations::created_at.eq(DbTime(now)),
            ))
        )?;
        convert(
            conn,
            event.patient_id,
            Trigger::Consultation(event.consultation_id),
            occurred,
            policy,
            now,
        )
    })
}

/// Records an order; converts the patient's referral if it is their first paid one.
///
/// # Errors
/// Database errors.
pub fn record_order(
    conn: &mut DbConnection,
    event: &OrderEvent,
    policy: &InducementPolicy,
    now: DateTime<Utc>,
) -> Result<EventOutcome, StoreError> {
    let occurred = event.occurred_at.unwrap_or(now);
    write_transaction(conn, |conn| {
        if !mark_processed(conn, "order", DbUuid::from(event.order_id), now)? {
            return Ok(EventOutcome::Duplicate);
        }
        insert_new!(
            conn,
            diesel::insert_into(orders::table).values((
                orders::id.eq(DbUuid::from(event.order_id)),
                orders::patient_id.eq(DbUuid::from(event.patient_id)),
                orders::amount_cents.eq(event.amount.cents()),
                orders::occurred_at.eq(DbTime(occurred)),
                orders::created_at.eq(DbTime(now)),
            ))
        )?;
        if event.amount.is_zero() {
            return Ok(EventOutcome::Recorded);
        }
        let outcome = convert(
            conn,
            event.patient_id,
            Trigger::Order(event.order_id),
            occurred,
            policy,
            now,
        )?;
        add_referee_revenue(conn, event.patient_id, event.amount.cents())?;
        Ok(outcome)
    })
}

/// A paid order of a converted referee is revenue of their referral's cohort (customer
/// lifetime value in the analytics).
fn add_referee_revenue(
    conn: &mut DbConnection,
    patient_id: PatientId,
    cents: i64,
) -> Result<(), StoreError> {
    let converted: Option<DbUuid> = referrals_table::table
        .filter(referrals_table::referee_patient_id.eq(Some(DbUuid::from(patient_id))))
        .filter(referrals_table::status.eq(ReferralStatus::Converted.as_str()))
        .select(referrals_table::id)
        .first(conn)
        .optional()?;
    if let Some(id) = converted {
        let cohort = Cohort::of(conn, referral_domain::ReferralId::from_uuid(id.0))?;
        rollups::bump(
            conn,
            &cohort,
            Delta {
                revenue_cents: cents,
                ..Delta::default()
            },
        )?;
    }
    Ok(())
}

/// Records the event id; `false` when it was processed before. On PostgreSQL a concurrent
/// delivery of the same event waits on the primary key until the first commits, then
/// fails here and changes nothing.
fn mark_processed(
    conn: &mut DbConnection,
    kind: &str,
    id: DbUuid,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    insert_new!(
        conn,
        diesel::insert_into(processed_events::table).values((
            processed_events::event_type.eq(kind),
            processed_events::event_id.eq(id),
            processed_events::processed_at.eq(DbTime(now)),
        ))
    )
}

#[derive(Clone, Copy)]
enum Trigger {
    Consultation(ConsultationId),
    Order(OrderId),
}

fn convert(
    conn: &mut DbConnection,
    patient_id: PatientId,
    trigger: Trigger,
    occurred: DateTime<Utc>,
    policy: &InducementPolicy,
    now: DateTime<Utc>,
) -> Result<EventOutcome, StoreError> {
    // One referrer's conversions are decided one at a time, so that two conversions never
    // complete the same batch and none is lost: the referrer's lock comes first, then the
    // referral is read as the lock holder sees it.
    if !patients::lock_referrer_of(conn, patient_id)? {
        return Ok(EventOutcome::Recorded);
    }
    let row: Option<ReferralRow> = referrals_table::table
        .filter(referrals_table::referee_patient_id.eq(Some(DbUuid::from(patient_id))))
        .select(ReferralRow::as_select())
        .first(conn)
        .optional()?;
    let Some(row) = row else {
        return Ok(EventOutcome::Recorded);
    };
    let referral = row.into_referral(now)?;
    if referral.status == ReferralStatus::Converted {
        return Ok(EventOutcome::AlreadyConverted {
            referral_id: referral.id,
        });
    }
    let mut lifecycle = referral_domain::ReferralLifecycle::from_stored(
        referral.status,
        referral.expires_at,
        referral.referee_registered_at,
        referral.converted_at,
    );
    let domain_trigger = match trigger {
        Trigger::Consultation(_) => ConversionTrigger::Consultation,
        Trigger::Order(_) => ConversionTrigger::Order,
    };
    if lifecycle.convert(occurred, domain_trigger).is_err() {
        // Only registered referrals link a patient; anything else is left as it is.
        return Ok(EventOutcome::Recorded);
    }
    let converted_at = lifecycle.converted_at().unwrap_or(occurred);
    let (consultation, order) = match trigger {
        Trigger::Consultation(c) => (Some(DbUuid::from(c)), None),
        Trigger::Order(o) => (None, Some(DbUuid::from(o))),
    };
    let updated = diesel::update(
        referrals_table::table
            .find(DbUuid::from(referral.id))
            .filter(referrals_table::status.eq(ReferralStatus::Registered.as_str())),
    )
    .set((
        referrals_table::status.eq(ReferralStatus::Converted.as_str()),
        referrals_table::converted_at.eq(Some(DbTime(converted_at))),
        referrals_table::first_consultation_id.eq(consultation),
        referrals_table::first_order_id.eq(order),
        referrals_table::updated_at.eq(DbTime(now)),
    ))
    .execute(conn)?;
    if updated == 0 {
        return Ok(EventOutcome::AlreadyConverted {
            referral_id: referral.id,
        });
    }
    let cohort = Cohort::of_referral(&referral);
    rollups::bump(
        conn,
        &cohort,
        Delta {
            converted: 1,
            ..Delta::default()
        },
    )?;
    rollups::bump_referrer(conn, &cohort, 0, 1)?;
    referrals::record_interaction(
        conn,
        referral.id,
        InteractionType::Conversion,
        &RequestOrigin::default(),
        None,
        now,
    )?;

    let referrer_reward = count_towards_batch(conn, &referral, &cohort, policy, now)?;
    Ok(EventOutcome::Converted {
        referral_id: referral.id,
        referrer_reward,
    })
}

/// After a conversion: if the referrer's uncounted conversions in the program complete a
/// batch, the oldest `threshold` of them are counted, the newest (this one) carries the
/// reward.
fn count_towards_batch(
    conn: &mut DbConnection,
    referral: &referrals::Referral,
    cohort: &Cohort,
    policy: &InducementPolicy,
    now: DateTime<Utc>,
) -> Result<Option<Reward>, StoreError> {
    let (referral_id, referrer_id, program_id) =
        (referral.id, referral.referrer_id, referral.program_id);
    let program = programs::get(conn, program_id)?;
    let uncounted: Vec<DbUuid> = referrals_table::table
        .filter(referrals_table::referrer_id.eq(DbUuid::from(referrer_id)))
        .filter(referrals_table::program_id.eq(DbUuid::from(program_id)))
        .filter(referrals_table::status.eq(ReferralStatus::Converted.as_str()))
        .filter(referrals_table::referrer_reward_status.eq(PartyRewardStatus::Pending.as_str()))
        .order((
            referrals_table::converted_at.asc(),
            referrals_table::id.asc(),
        ))
        .select(referrals_table::id)
        .load(conn)?;
    let count = u32::try_from(uncounted.len()).unwrap_or(u32::MAX);
    if !completes_batch(count, program.reward_threshold) {
        return Ok(None);
    }
    let batch_size = usize::try_from(program.reward_threshold).unwrap_or(usize::MAX);
    let carrier = DbUuid::from(referral_id);
    let others: Vec<DbUuid> = uncounted
        .into_iter()
        .filter(|id| *id != carrier)
        .take(batch_size.saturating_sub(1))
        .collect();
    // With a threshold of one (the usual case) the carrier is the whole batch.
    if !others.is_empty() {
        diesel::update(referrals_table::table.filter(referrals_table::id.eq_any(&others)))
            .set((
                referrals_table::referrer_reward_status.eq(PartyRewardStatus::Counted.as_str()),
                referrals_table::updated_at.eq(DbTime(now)),
            ))
            .execute(conn)?;
    }
    match program.referrer_reward_in(referral.variant.as_deref()) {
        Some(spec) => {
            let referrer = patients::get(conn, referrer_id)?;
            let reward = rewards::grant(
                conn,
                referral,
                cohort,
                &referrer,
                Party::Referrer,
                &spec,
                policy,
                program.reward_validity_days,
                now,
            )?;
            Ok(Some(reward))
        }
        None => {
            // No reward to give: the batch is still complete, so its carrier is counted too.
            diesel::update(referrals_table::table.find(carrier))
                .set(
                    referrals_table::referrer_reward_status.eq(PartyRewardStatus::Counted.as_str()),
                )
                .execute(conn)?;
            Ok(None)
        }
    }
}
