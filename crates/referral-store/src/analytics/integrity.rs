//! Reward integrity in figures: how many referrals raised fraud signals (and which), how
//! many rewards wait in a hold or a review, how many were rejected or reversed, and the
//! value that saved. Read from the tables (these are small next to the rollups).

use crate::conn::DbConnection;
use crate::error::StoreError;
use crate::schema::{referral_rewards, referral_signals, referrals, reward_clawbacks};
use crate::sql_types::DbUuid;
use diesel::dsl::count_star;
use diesel::prelude::*;
use referral_domain::reversal::CancelReason;
use referral_domain::{ProgramId, ReferralStatus, RewardStatus, RewardType};
use serde::Serialize;
use std::collections::BTreeMap;

/// The integrity figures of one program, or of all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IntegrityFigures {
    /// Referrals that raised at least one signal.
    pub flagged_referrals: i64,
    /// Referrals per signal code (a referral may count under several).
    pub by_signal: BTreeMap<String, i64>,
    /// Rewards in their holding period now.
    pub held_rewards: i64,
    /// Rewards waiting for a review now.
    pub in_review_rewards: i64,
    /// Rewards an admin rejected in review.
    pub rejected_rewards: i64,
    /// Referrals reversed by a refund or cancellation.
    pub reversed_referrals: i64,
    /// Rewards cancelled because their conversion was reversed.
    pub reversed_rewards: i64,
    /// Rewards used or paid before their conversion was reversed.
    pub clawbacks: i64,
    /// What those clawbacks gave, in cents.
    pub clawback_cents: i64,
    /// What the rejected and reversed rewards would have given (discounts, which are worth
    /// what they give when used, count nothing), in cents.
    pub value_saved_cents: i64,
}

/// The figures of `program` (or of all programs).
///
/// # Errors
/// Database errors.
pub fn integrity(
    conn: &mut DbConnection,
    program: Option<ProgramId>,
) -> Result<IntegrityFigures, StoreError> {
    let program = program.map(DbUuid::from);
    let referrals_in = || {
        let q = referrals::table.into_boxed();
        match program {
            Some(p) => q.filter(referrals::program_id.eq(p)),
            None => q,
        }
    };
    let mut signal_query = referral_signals::table
        .inner_join(referrals::table)
        .group_by(referral_signals::signal)
        .select((referral_signals::signal, count_star()))
        .into_boxed();
    if let Some(p) = program {
        signal_query = signal_query.filter(referrals::program_id.eq(p));
    }
    let signal_rows: Vec<(String, i64)> = signal_query.load(conn)?;
    let flagged_referrals: i64 = referrals_in()
        .filter(referrals::id.eq_any(referral_signals::table.select(referral_signals::referral_id)))
        .count()
        .get_result(conn)?;
    let reversed_referrals: i64 = referrals_in()
        .filter(referrals::status.eq(ReferralStatus::Reversed.as_str()))
        .count()
        .get_result(conn)?;
    let in_program_rewards = || {
        let q = referral_rewards::table
            .inner_join(referrals::table)
            .into_boxed();
        match program {
            Some(p) => q.filter(referrals::program_id.eq(p)),
            None => q,
        }
    };
    let by_status = |status: RewardStatus| {
        in_program_rewards().filter(referral_rewards::status.eq(status.as_str()))
    };
    let held_rewards = by_status(RewardStatus::Held).count().get_result(conn)?;
    let in_review_rewards = by_status(RewardStatus::InReview).count().get_result(conn)?;
    let cancelled = |reason: CancelReason| {
        in_program_rewards().filter(referral_rewards::cancel_reason.eq(reason.as_str()))
    };
    let rejected_rewards = cancelled(CancelReason::ReviewRejected)
        .count()
        .get_result(conn)?;
    let reversed_rewards = cancelled(CancelReason::ConversionReversed)
        .count()
        .get_result(conn)?;
    let saved: Vec<Option<i64>> = in_program_rewards()
        .filter(referral_rewards::cancel_reason.is_not_null())
        .filter(
            referral_rewards::reward_type
                .eq_any(RewardType::codes_where(RewardType::has_face_value)),
        )
        .select(referral_rewards::reward_amount_cents)
        .load(conn)?;
    let mut claws = reward_clawbacks::table
        .select(reward_clawbacks::amount_cents)
        .into_boxed();
    if let Some(p) = program {
        claws = claws.filter(
            reward_clawbacks::referral_id.eq_any(
                referrals::table
                    .filter(referrals::program_id.eq(p))
                    .select(referrals::id),
            ),
        );
    }
    let claws: Vec<Option<i64>> = claws.load(conn)?;
    Ok(IntegrityFigures {
        flagged_referrals,
        by_signal: signal_rows.into_iter().collect(),
        held_rewards,
        in_review_rewards,
        rejected_rewards,
        reversed_referrals,
        reversed_rewards,
        clawbacks: i64::try_from(claws.len()).unwrap_or(i64::MAX),
        clawback_cents: claws.into_iter().flatten().fold(0, i64::saturating_add),
        value_saved_cents: saved.into_iter().flatten().fold(0, i64::saturating_add),
    })
}
