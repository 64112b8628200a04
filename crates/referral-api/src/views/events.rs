//! Platform events: consultations and orders, and what each did.

use super::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A consultation reported by the platform.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ConsultationEventRequest {
    pub patient_id: Uuid,
    pub consultation_id: Uuid,
    #[schema(schema_with = field::occurred_at)]
    pub occurred_at: Option<DateTime<Utc>>,
}

/// An order reported by the platform.
#[derive(Debug, Deserialize, ToSchema)]
pub struct OrderEventRequest {
    pub patient_id: Uuid,
    pub order_id: Uuid,
    /// Decimal string such as `"49.00"`.
    #[schema(schema_with = field::money)]
    pub amount: serde_json::Value,
    #[schema(schema_with = field::occurred_at)]
    pub occurred_at: Option<DateTime<Utc>>,
}

/// What an event did.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventResultView {
    /// `duplicate`, `recorded`, `already_converted` or `converted`.
    pub outcome: String,
    pub referral_id: Option<Uuid>,
    pub referrer_reward: Option<RewardView>,
}

/// A refund reported by the platform.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RefundEventRequest {
    pub patient_id: Uuid,
    /// The refunded order.
    pub order_id: Uuid,
    /// The refund (the event's own id: a repeat is a `duplicate`).
    pub refund_id: Uuid,
    /// Amount refunded, a decimal string such as `"49.00"`.
    #[schema(schema_with = field::money)]
    pub amount: serde_json::Value,
    #[schema(schema_with = field::occurred_at)]
    pub occurred_at: Option<DateTime<Utc>>,
}

/// A consultation's cancellation reported by the platform.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CancellationEventRequest {
    pub patient_id: Uuid,
    /// The cancelled consultation.
    pub consultation_id: Uuid,
    /// The cancellation (the event's own id: a repeat is a `duplicate`).
    pub cancellation_id: Uuid,
    #[schema(schema_with = field::occurred_at)]
    pub occurred_at: Option<DateTime<Utc>>,
}

/// What a refund or cancellation did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReversalResultView {
    /// `duplicate`, `recorded` (nothing to reverse: not the converting order or
    /// consultation, or a partial refund that leaves enough paid) or `reversed`.
    pub outcome: String,
    /// The reversed referral.
    pub referral_id: Option<Uuid>,
    /// Rewards cancelled with reason `conversion_reversed`.
    pub cancelled_rewards: Vec<Uuid>,
    /// Rewards already used or paid, recorded as clawbacks.
    pub clawbacks: Vec<Uuid>,
}

/// The one name of each outcome of a consultation or an order, in the single routes and
/// in a batch alike.
pub(crate) fn event_outcome_name(outcome: &referral_store::events::EventOutcome) -> &'static str {
    match outcome {
        referral_store::events::EventOutcome::Duplicate => "duplicate",
        referral_store::events::EventOutcome::Recorded => "recorded",
        referral_store::events::EventOutcome::AlreadyConverted { .. } => "already_converted",
        referral_store::events::EventOutcome::Converted { .. } => "converted",
    }
}

/// The one name of each outcome of a refund or a cancellation.
pub(crate) fn reversal_outcome_name(
    outcome: &referral_store::reversals::ReversalOutcome,
) -> &'static str {
    match outcome {
        referral_store::reversals::ReversalOutcome::Duplicate => "duplicate",
        referral_store::reversals::ReversalOutcome::Recorded => "recorded",
        referral_store::reversals::ReversalOutcome::Reversed { .. } => "reversed",
    }
}

impl From<referral_store::reversals::ReversalOutcome> for ReversalResultView {
    fn from(outcome: referral_store::reversals::ReversalOutcome) -> Self {
        use referral_store::reversals::ReversalOutcome;
        let empty = |outcome: &str| ReversalResultView {
            outcome: outcome.into(),
            referral_id: None,
            cancelled_rewards: Vec::new(),
            clawbacks: Vec::new(),
        };
        match outcome {
            ReversalOutcome::Duplicate | ReversalOutcome::Recorded => {
                empty(reversal_outcome_name(&outcome))
            }
            ReversalOutcome::Reversed {
                referral_id,
                cancelled,
                clawbacks,
            } => ReversalResultView {
                outcome: "reversed".into(),
                referral_id: Some(referral_id.as_uuid()),
                cancelled_rewards: cancelled.iter().map(|r| r.as_uuid()).collect(),
                clawbacks: clawbacks.iter().map(|r| r.as_uuid()).collect(),
            },
        }
    }
}

/// One event of a batch: any platform event, tagged by `type`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BatchEvent {
    /// As `POST /api/events/consultations`.
    Consultation(ConsultationEventRequest),
    /// As `POST /api/events/orders`.
    Order(OrderEventRequest),
    /// As `POST /api/events/refunds`.
    Refund(RefundEventRequest),
    /// As `POST /api/events/consultation-cancellations`.
    ConsultationCancellation(CancellationEventRequest),
}

impl BatchEvent {
    /// The event's own id (the consultation, order, refund or cancellation).
    pub fn event_id(&self) -> Uuid {
        match self {
            BatchEvent::Consultation(e) => e.consultation_id,
            BatchEvent::Order(e) => e.order_id,
            BatchEvent::Refund(e) => e.refund_id,
            BatchEvent::ConsultationCancellation(e) => e.cancellation_id,
        }
    }

    /// The patient the event is about (one patient's events apply in the order sent).
    pub fn patient_id(&self) -> Uuid {
        match self {
            BatchEvent::Consultation(e) => e.patient_id,
            BatchEvent::Order(e) => e.patient_id,
            BatchEvent::Refund(e) => e.patient_id,
            BatchEvent::ConsultationCancellation(e) => e.patient_id,
        }
    }
}

/// Up to 1,000 platform events, applied in order (so one patient's events apply in the
/// order sent), each on its own and idempotent on its own id.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchEventsRequest {
    #[schema(schema_with = field::batch_events)]
    pub events: Vec<BatchEvent>,
}

/// What one event of a batch did.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchEventResult {
    /// Its place in the request, from 0.
    pub index: usize,
    /// `converted`, `already_converted`, `reversed`, `recorded` (nothing to convert or
    /// reverse), `duplicate`: each the name the single route gives the same outcome; or an
    /// error code (`validation_failed`, ...).
    pub result: String,
    pub referral_id: Option<Uuid>,
    /// For an error: what was wrong.
    pub detail: Option<String>,
}

/// The results of a batch, in request order.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchEventsResponse {
    pub results: Vec<BatchEventResult>,
}
