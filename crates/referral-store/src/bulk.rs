//! One operation applied to many referrals, each in its own transaction: one refusal does
//! not undo or stop the others.

use crate::conn::DbConnection;
use crate::error::StoreError;
use crate::{referrals, rewards};
use chrono::{DateTime, Utc};
use referral_domain::ReferralId;
use std::str::FromStr;

/// Most referrals one bulk operation may name.
pub const MAX_BULK_IDS: usize = 500;

/// What to do to each referral.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkOperation {
    /// Decline a pending referral.
    Decline,
    /// Approve the cash rewards waiting for approval.
    ApproveReward,
    /// Reject the cash rewards waiting for approval.
    RejectReward,
}

impl FromStr for BulkOperation {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "decline" => Ok(BulkOperation::Decline),
            "approve_reward" => Ok(BulkOperation::ApproveReward),
            "reject_reward" => Ok(BulkOperation::RejectReward),
            _ => Err(()),
        }
    }
}

/// Applies `operation` to each referral in order; returns each one's outcome.
pub fn apply(
    conn: &mut DbConnection,
    operation: BulkOperation,
    ids: &[ReferralId],
    now: DateTime<Utc>,
) -> Vec<(ReferralId, Result<(), StoreError>)> {
    ids.iter()
        .map(|&id| {
            let outcome = match operation {
                BulkOperation::Decline => referrals::decline(conn, id, now).map(|_| ()),
                BulkOperation::ApproveReward => {
                    rewards::decide_approval(conn, id, true, None, now).map(|_| ())
                }
                BulkOperation::RejectReward => {
                    rewards::decide_approval(conn, id, false, None, now).map(|_| ())
                }
            };
            (id, outcome)
        })
        .collect()
}
