//! Admin bodies: the audit trail, queued messages, bulk operations.

use super::*;
use crate::state::AuditedResource;
use chrono::{DateTime, Utc};
use referral_store::audit::AuditEntry;
use referral_store::outbox::OutboxMessage;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A row of the audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub id: Uuid,
    pub actor_id: Option<Uuid>,
    pub actor_role: String,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub outcome: String,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<AuditEntry> for AuditView {
    fn from(e: AuditEntry) -> Self {
        AuditView {
            id: e.id,
            actor_id: e.actor_id,
            actor_role: e.actor_role,
            action: e.action,
            resource_type: e.resource_type,
            resource_id: e.resource_id,
            outcome: e.outcome,
            ip_address: e.ip_address.map(|i| i.to_string()),
            user_agent: e.user_agent,
            created_at: e.created_at,
        }
    }
}

/// A queued or delivered message (without its recipient or content).
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationView {
    pub id: Uuid,
    /// `email`, `sms` or `payout`.
    pub kind: String,
    pub template: String,
    /// `queued` (claimed ones included), `sent`, `failed` or `suppressed` (the recipient
    /// unsubscribed).
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<OutboxMessage> for NotificationView {
    fn from(m: OutboxMessage) -> Self {
        NotificationView {
            id: m.id,
            kind: m.kind.to_string(),
            template: m.template,
            status: match m.status {
                referral_store::outbox::OutboxStatus::Sending => "queued".into(),
                other => other.to_string(),
            },
            attempts: m.attempts,
            next_attempt_at: m.next_attempt_at,
            last_error: m.last_error,
            sent_at: m.sent_at,
            created_at: m.created_at,
        }
    }
}

/// An operation on many referrals.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    /// `expire`, `decline`, `approve_rewards`, `reject_rewards` or `resend_invitation`.
    #[schema(schema_with = field::bulk_operation)]
    pub operation: String,
    /// 1 to 1,000 referrals; each succeeds or fails on its own.
    #[schema(schema_with = field::bulk_ids)]
    pub referral_ids: Vec<Uuid>,
    /// Reason recorded with approvals and rejections.
    pub reason: Option<String>,
}

/// One referral's result in a bulk operation.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkItemResult {
    pub referral_id: Uuid,
    pub ok: bool,
    /// The error code when not ok.
    pub code: Option<String>,
}

/// The results of a bulk operation, in request order.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkResponse {
    pub operation: String,
    pub succeeded: usize,
    pub failed: usize,
    pub results: Vec<BulkItemResult>,
}

impl AuditedResource for BulkResponse {}
impl AuditedResource for Vec<RewardView> {}
impl AuditedResource for () {}
