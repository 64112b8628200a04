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
    pub occurred_at: Option<DateTime<Utc>>,
}

/// An order reported by the platform.
#[derive(Debug, Deserialize, ToSchema)]
pub struct OrderEventRequest {
    pub patient_id: Uuid,
    pub order_id: Uuid,
    /// Decimal string such as `"49.00"`.
    #[schema(value_type = String, example = "49.00")]
    pub amount: serde_json::Value,
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
