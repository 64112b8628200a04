//! One operation applied to many referrals, each in its own transaction: one refusal does
//! not undo or stop the others.

use crate::conn::DbConnection;
use crate::error::StoreError;
use crate::{referrals, rewards};
use chrono::{DateTime, Utc};
use referral_domain::ReferralId;
use std::str::FromStr;

/// Most referrals one bulk operation may name.
pub const MAX_BULK_IDS: usize = 1000;

/// What to do to each referral.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkOperation {
    /// End a pending referral now.
    Expire,
    /// Decline a pending referral.
    Decline,
    /// Approve the cash rewards waiting for approval.
    ApproveRewards,
    /// Reject the cash rewards waiting for approval.
    RejectRewards,
    /// Queue the invitation of a pending referral again.
    ResendInvitation,
}

impl BulkOperation {
    /// Every operation, in the order the document lists them.
    pub const ALL: [BulkOperation; 5] = [
        BulkOperation::Expire,
        BulkOperation::Decline,
        BulkOperation::ApproveRewards,
        BulkOperation::RejectRewards,
        BulkOperation::ResendInvitation,
    ];

    /// The operation's name in requests.
    pub const fn as_str(self) -> &'static str {
        match self {
            BulkOperation::Expire => "expire",
            BulkOperation::Decline => "decline",
            BulkOperation::ApproveRewards => "approve_rewards",
            BulkOperation::RejectRewards => "reject_rewards",
            BulkOperation::ResendInvitation => "resend_invitation",
        }
    }
}

impl FromStr for BulkOperation {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "expire" => Ok(BulkOperation::Expire),
            "decline" => Ok(BulkOperation::Decline),
            // The singular names were the first release's; both stay accepted.
            "approve_rewards" | "approve_reward" => Ok(BulkOperation::ApproveRewards),
            "reject_rewards" | "reject_reward" => Ok(BulkOperation::RejectRewards),
            "resend_invitation" => Ok(BulkOperation::ResendInvitation),
            _ => Err(()),
        }
    }
}

/// Applies `operation` to each referral in order; returns each one's outcome.
pub fn apply(
    conn: &mut DbConnection,
    operation: BulkOperation,
    ids: &[ReferralId],
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Vec<(ReferralId, Result<(), StoreError>)> {
    ids.iter()
        .map(|&id| {
            let outcome = match operation {
                BulkOperation::Expire => referrals::expire_now(conn, id, now).map(|_| ()),
                BulkOperation::Decline => referrals::decline(conn, id, now).map(|_| ()),
                BulkOperation::ApproveRewards => {
                    rewards::decide_approval(conn, id, true, reason, now).map(|_| ())
                }
                BulkOperation::RejectRewards => {
                    rewards::decide_approval(conn, id, false, reason, now).map(|_| ())
                }
                BulkOperation::ResendInvitation => referrals::resend_invitation(conn, id, now),
            };
            (id, outcome)
        })
        .collect()
}
