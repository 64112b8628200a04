//! The review queue: rewards of referrals that raised a fraud signal wait `in_review` for
//! an admin, who approves (the reward goes on, into its hold if one remains) or rejects
//! (it is cancelled, reason `review_rejected`). Each decision is stored with its reason and
//! audited in the same transaction.

use super::*;
use crate::audit::{self, NewAuditEntry};
use crate::conn::{write_transaction, DbConnection};
use crate::error::StoreError;
use crate::events::AuditWith;
use crate::rollups::{self, Cohort, Delta};
use crate::schema::{referral_rewards, referral_signals, referrals, reward_reviews};
use crate::sql_types::{DbTime, DbUuid};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use referral_domain::signals::Signal;
use referral_domain::webhook::WebhookEventType;
use referral_domain::{DomainError, Money, PartyRewardStatus, ProgramId, RewardStatus};

/// Most rewards one bulk decision takes.
pub const MAX_BULK_REVIEW: usize = 1_000;

/// A reward waiting for review, with what flagged it: the same shape staff see in every
/// queue.
pub type ReviewItem = super::staff::StaffItem;

/// Which rewards in review to list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReviewFilter {
    /// Only those whose referral raised this signal.
    pub signal: Option<Signal>,
    /// Only this program's.
    pub program_id: Option<ProgramId>,
}

/// An admin's decision on a reward in review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewDecision {
    /// Approve (the reward goes on) or reject (it is cancelled).
    pub approve: bool,
    /// Why, as the admin wrote it: stored with the decision (not logged: it may name a
    /// person).
    pub reason: String,
    /// The admin.
    pub decided_by: Option<uuid::Uuid>,
    /// When an approved referrer's reward reaches the referrer (the service's policy).
    pub referrer_cadence: referral_domain::RewardCadence,
}

/// One reward's result in a bulk decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewOutcome {
    /// The reward.
    pub reward_id: RewardId,
    /// Its status after the decision, when decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<RewardStatus>,
    /// Why it was not decided (`not_found`, `reward_not_in_review`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
}

/// The rewards in review, oldest first, with their signals.
///
/// # Errors
/// Database errors.
pub fn reviews(
    conn: &mut DbConnection,
    filter: ReviewFilter,
    page: Page,
    now: DateTime<Utc>,
) -> Result<Paged<ReviewItem>, StoreError> {
    let build = || {
        let mut q = referral_rewards::table
            .inner_join(referrals::table)
            .filter(referral_rewards::status.eq(RewardStatus::InReview.as_str()))
            .into_boxed();
        if let Some(program) = filter.program_id {
            q = q.filter(referrals::program_id.eq(DbUuid::from(program)));
        }
        if let Some(signal) = filter.signal {
            q = q.filter(
                referral_rewards::referral_id.eq_any(
                    referral_signals::table
                        .filter(referral_signals::signal.eq(signal.as_str()))
                        .select(referral_signals::referral_id),
                ),
            );
        }
        q
    };
    let total = build().count().get_result(conn)?;
    let rows: Vec<(RewardRow, DbUuid)> = build()
        .order((
            referral_rewards::created_at.asc(),
            referral_rewards::id.asc(),
        ))
        .limit(page.limit)
        .offset(page.offset)
        .select((RewardRow::as_select(), referrals::program_id))
        .load(conn)?;
    Ok(Paged {
        items: super::staff::staff_items(conn, rows, now)?,
        total,
    })
}

/// Decides the review of one reward; its audit row (the caller's, naming the reward) is
/// written in the same transaction.
///
/// # Errors
/// [`StoreError::NotFound`]; the domain's `ReviewNotPending` when not in review.
pub fn decide_review(
    conn: &mut DbConnection,
    reward_id: RewardId,
    decision: &ReviewDecision,
    now: DateTime<Utc>,
    audit: Option<AuditWith<'_>>,
) -> Result<Reward, StoreError> {
    write_transaction(conn, |conn| {
        decide_in(conn, reward_id, decision, now, audit)?;
        get_in(conn, reward_id, now)
    })
}

/// Decides the review of each of `ids` (at most [`MAX_BULK_REVIEW`]) in one transaction,
/// with one audit row per decided reward; a reward that cannot be decided is reported and
/// the others go on.
///
/// # Errors
/// Database errors (then nothing is decided).
pub fn decide_reviews(
    conn: &mut DbConnection,
    ids: &[RewardId],
    decision: &ReviewDecision,
    now: DateTime<Utc>,
    audit: Option<AuditWith<'_>>,
) -> Result<Vec<ReviewOutcome>, StoreError> {
    write_transaction(conn, |conn| {
        let mut outcomes = Vec::with_capacity(ids.len());
        for &reward_id in ids {
            let outcome = match decide_in(conn, reward_id, decision, now, audit) {
                Ok(status) => ReviewOutcome {
                    reward_id,
                    status: Some(status),
                    error: None,
                },
                Err(StoreError::NotFound) => ReviewOutcome {
                    reward_id,
                    status: None,
                    error: Some("not_found"),
                },
                Err(StoreError::Domain(e)) => ReviewOutcome {
                    reward_id,
                    status: None,
                    error: Some(e.code()),
                },
                Err(other) => return Err(other),
            };
            outcomes.push(outcome);
        }
        Ok(outcomes)
    })
}

/// One decision inside the caller's transaction; the reward's new status.
fn decide_in(
    conn: &mut DbConnection,
    reward_id: RewardId,
    decision: &ReviewDecision,
    now: DateTime<Utc>,
    audit: Option<AuditWith<'_>>,
) -> Result<RewardStatus, StoreError> {
    let reward = get_in(conn, reward_id, now)?;
    lock_referral(conn, reward.referral_id)?;
    let mut ledger = reward.ledger();
    ledger.review(decision.approve, reward.reward_type, reward.hold_until, now)?;
    let status = ledger.status();
    // The validity starts over once the review lets the reward go on: the patient does not
    // lose the days it waited.
    // A referrer's reward reaches them at the end of the period it was approved in, and
    // its validity counts from then.
    let released_at = match reward.party {
        Party::Referrer => decision.approve.then(|| {
            referral_domain::disclosure::release_after_review(
                reward.hold_until,
                now,
                decision.referrer_cadence,
            )
        }),
        Party::Referee => reward.released_at,
    };
    let expires_at = match (decision.approve, reward.expires_at) {
        (true, Some(at)) => Some(
            at + (released_at
                .filter(|_| reward.party == Party::Referrer)
                .unwrap_or(now)
                - reward.created_at),
        ),
        (_, at) => at,
    };
    let cancel_reason = (!decision.approve).then_some(CancelReason::ReviewRejected.as_str());
    let updated = diesel::update(
        referral_rewards::table
            .find(DbUuid::from(reward_id))
            .filter(referral_rewards::status.eq(RewardStatus::InReview.as_str())),
    )
    .set((
        referral_rewards::status.eq(status.as_str()),
        referral_rewards::expires_at.eq(expires_at.map(DbTime)),
        referral_rewards::released_at.eq(released_at.map(DbTime)),
        referral_rewards::cancel_reason.eq(cancel_reason),
        referral_rewards::updated_at.eq(DbTime(now)),
    ))
    .execute(conn)?;
    if updated == 0 {
        // Decided (or reversed) in the meantime: say what it is now.
        let current = get_in(conn, reward_id, now)?.status;
        return Err(DomainError::ReviewNotPending(current).into());
    }
    diesel::insert_into(reward_reviews::table)
        .values((
            reward_reviews::reward_id.eq(DbUuid::from(reward_id)),
            reward_reviews::approved.eq(decision.approve),
            reward_reviews::reason.eq(&decision.reason),
            reward_reviews::decided_by.eq(decision.decided_by.map(DbUuid)),
            reward_reviews::decided_at.eq(DbTime(now)),
        ))
        .execute(conn)?;
    if !decision.approve && reward.reward_type.has_face_value() {
        let cents = reward.reward_amount.as_ref().map_or(0, Money::cents);
        let cohort = Cohort::of(conn, reward.referral_id)?;
        let delta = Delta {
            rewards_granted: -1,
            reward_value_cents: -cents,
            ..Delta::default()
        };
        rollups::bump(conn, &cohort, delta)?;
    }
    set_mirror(
        conn,
        reward.referral_id,
        reward.party,
        PartyRewardStatus::mirror(status),
        None,
        now,
    )?;
    if status == RewardStatus::Cancelled {
        let mut rejected = reward.clone();
        rejected.status = status;
        rejected.cancel_reason = Some(CancelReason::ReviewRejected);
        crate::webhooks::emit_reward(conn, WebhookEventType::RewardCancelled, &rejected, now)?;
    } else {
        super::release::announce(conn, &reward, status, now)?;
    }
    if let Some((entry, keyring)) = audit {
        let entry = NewAuditEntry {
            resource_id: Some(reward_id.to_string()),
            outcome: "success".into(),
            ..entry.clone()
        };
        audit::append(conn, keyring, &entry, now)?;
    }
    tracing::info!(reward_id = %reward_id, approve = decision.approve, "reward review decided");
    Ok(status)
}
