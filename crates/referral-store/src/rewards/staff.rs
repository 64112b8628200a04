//! What clinic staff read of the ledger: every reward (for exports), the cash approval
//! queue with each referral's program and signals, the review queue as one case per
//! referral, and the payouts of approved cash rewards with their delivery state.

use super::*;
use crate::outbox::OutboxStatus;
use crate::referrals::signals_of;
use crate::schema::outbox;
use referral_domain::signals::Raised;
use referral_domain::ProgramId;
use std::collections::HashMap;

/// A reward with its referral's program and the signals the referral raised.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StaffItem {
    /// The reward.
    pub reward: Reward,
    /// Its referral's program.
    pub program_id: ProgramId,
    /// The signals its referral raised (empty when none).
    pub signals: Vec<Raised>,
}

/// The rewards of one referral waiting for review: one case, decided together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewCase {
    /// The referral.
    pub referral_id: ReferralId,
    /// Its program.
    pub program_id: ProgramId,
    /// Its rewards in review (the referrer's and the friend's), oldest first.
    pub rewards: Vec<Reward>,
    /// The signals the referral raised: they hold every one of its rewards.
    pub signals: Vec<Raised>,
}

/// An approved cash reward and where its payout is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PayoutLine {
    /// The reward.
    pub reward: Reward,
    /// The payout message's state (`None`: never queued, as for a reward approved before
    /// payouts were queued).
    pub status: Option<OutboxStatus>,
    /// Delivery attempts so far.
    pub attempts: i32,
    /// The last error, for a payout that failed or is retrying.
    pub last_error: Option<String>,
    /// When the payout was sent.
    pub sent_at: Option<DateTime<Utc>>,
}

/// Every reward of the ledger created before `before`, newest first; with `status`, only
/// those in it as of `now`. Staff exports read it page by page: the fixed `before` keeps
/// the pages stable while new rewards are granted.
///
/// # Errors
/// Database errors.
pub fn ledger(
    conn: &mut DbConnection,
    status: Option<RewardStatus>,
    before: DateTime<Utc>,
    now: DateTime<Utc>,
    page: Page,
) -> Result<Paged<Reward>, StoreError> {
    let build = || {
        let q = referral_rewards::table
            .filter(referral_rewards::created_at.lt(DbTime(before)))
            .into_boxed();
        super::with_status_as_of(q, status, now)
    };
    let total = build().count().get_result(conn)?;
    let rows: Vec<RewardRow> = build()
        .order((
            referral_rewards::created_at.desc(),
            referral_rewards::id.desc(),
        ))
        .limit(page.limit)
        .offset(page.offset)
        .select(RewardRow::as_select())
        .load(conn)?;
    Ok(Paged {
        items: rewards_at(rows, now)?,
        total,
    })
}

/// Cash rewards waiting for approval, oldest first, each with its referral's program and
/// signals (an approver sees why a referral looks odd before paying it).
///
/// # Errors
/// Database errors.
pub fn approval_queue(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    page: Page,
) -> Result<Paged<StaffItem>, StoreError> {
    let pending = RewardStatus::PendingApproval.as_str();
    let total = referral_rewards::table
        .filter(referral_rewards::status.eq(pending))
        .count()
        .get_result(conn)?;
    let rows: Vec<(RewardRow, DbUuid)> = referral_rewards::table
        .inner_join(referrals::table)
        .filter(referral_rewards::status.eq(pending))
        .order((
            referral_rewards::created_at.asc(),
            referral_rewards::id.asc(),
        ))
        .limit(page.limit)
        .offset(page.offset)
        .select((RewardRow::as_select(), referrals::program_id))
        .load(conn)?;
    Ok(Paged {
        items: staff_items(conn, rows, now)?,
        total,
    })
}

/// Rewards (with their referral's program) as staff see them: each with the signals its
/// referral raised, read in one query for the page.
pub(super) fn staff_items(
    conn: &mut DbConnection,
    rows: Vec<(RewardRow, DbUuid)>,
    now: DateTime<Utc>,
) -> Result<Vec<StaffItem>, StoreError> {
    let ids: Vec<ReferralId> = rows
        .iter()
        .map(|(r, _)| ReferralId::from_uuid(r.referral_id.0))
        .collect();
    let mut signals = signals_of(conn, &ids)?;
    rows.into_iter()
        .map(|(row, program)| {
            let reward = row.into_reward(now)?;
            Ok(StaffItem {
                signals: signals.remove(&reward.referral_id).unwrap_or_default(),
                program_id: ProgramId::from_uuid(program.0),
                reward,
            })
        })
        .collect()
}

/// The review queue as one case per referral, oldest case first; `total` counts cases.
///
/// # Errors
/// Database errors.
pub fn review_cases(
    conn: &mut DbConnection,
    filter: ReviewFilter,
    page: Page,
    now: DateTime<Utc>,
) -> Result<Paged<ReviewCase>, StoreError> {
    let in_review = RewardStatus::InReview.as_str();
    let mut q = referral_rewards::table
        .inner_join(referrals::table)
        .filter(referral_rewards::status.eq(in_review))
        .into_boxed();
    if let Some(program) = filter.program_id {
        q = q.filter(referrals::program_id.eq(DbUuid::from(program)));
    }
    if let Some(signal) = filter.signal {
        q = q.filter(
            referral_rewards::referral_id.eq_any(
                crate::schema::referral_signals::table
                    .filter(crate::schema::referral_signals::signal.eq(signal.as_str()))
                    .select(crate::schema::referral_signals::referral_id),
            ),
        );
    }
    // The cases in order of their oldest reward: two short columns a reward, first seen
    // first (the rows come oldest first).
    let rows: Vec<(DbUuid, DbTime)> = q
        .order((
            referral_rewards::created_at.asc(),
            referral_rewards::id.asc(),
        ))
        .select((referral_rewards::referral_id, referral_rewards::created_at))
        .load(conn)?;
    let mut seen = std::collections::HashSet::new();
    let cases: Vec<uuid::Uuid> = rows
        .into_iter()
        .filter_map(|(id, _)| seen.insert(id.0).then_some(id.0))
        .collect();
    let total = i64::try_from(cases.len()).unwrap_or(i64::MAX);
    let start = usize::try_from(page.offset).unwrap_or(0);
    let take = usize::try_from(page.limit).unwrap_or(0);
    let chosen: Vec<uuid::Uuid> = cases.into_iter().skip(start).take(take).collect();
    let rows: Vec<(RewardRow, DbUuid)> = referral_rewards::table
        .inner_join(referrals::table)
        .filter(referral_rewards::status.eq(in_review))
        .filter(
            referral_rewards::referral_id
                .eq_any(chosen.iter().map(|i| DbUuid(*i)).collect::<Vec<_>>()),
        )
        .order((
            referral_rewards::created_at.asc(),
            referral_rewards::id.asc(),
        ))
        .select((RewardRow::as_select(), referrals::program_id))
        .load(conn)?;
    let ids: Vec<ReferralId> = chosen.iter().map(|i| ReferralId::from_uuid(*i)).collect();
    let mut signals = signals_of(conn, &ids)?;
    let mut by_referral: HashMap<uuid::Uuid, ReviewCase> = HashMap::new();
    for (row, program) in rows {
        let reward = row.into_reward(now)?;
        let referral_id = reward.referral_id;
        by_referral
            .entry(referral_id.as_uuid())
            .or_insert_with(|| ReviewCase {
                referral_id,
                program_id: ProgramId::from_uuid(program.0),
                rewards: Vec::new(),
                signals: signals.remove(&referral_id).unwrap_or_default(),
            })
            .rewards
            .push(reward);
    }
    let items = chosen
        .iter()
        .filter_map(|id| by_referral.remove(id))
        .collect();
    Ok(Paged { items, total })
}

/// Cash rewards an admin approved (created before `before`), newest first, with the state
/// of each one's payout message.
///
/// # Errors
/// Database errors.
pub fn payouts(
    conn: &mut DbConnection,
    before: DateTime<Utc>,
    now: DateTime<Utc>,
    page: Page,
) -> Result<Paged<PayoutLine>, StoreError> {
    let build = || {
        referral_rewards::table
            .filter(
                referral_rewards::reward_type
                    .eq_any(RewardType::codes_where(RewardType::is_paid_out)),
            )
            .filter(referral_rewards::created_at.lt(DbTime(before)))
            .filter(referral_rewards::status.ne_all(vec![
                RewardStatus::PendingApproval.as_str(),
                RewardStatus::InReview.as_str(),
                RewardStatus::Held.as_str(),
                RewardStatus::Cancelled.as_str(),
            ]))
            .into_boxed()
    };
    let total = build().count().get_result(conn)?;
    let rows: Vec<RewardRow> = build()
        .order((
            referral_rewards::created_at.desc(),
            referral_rewards::id.desc(),
        ))
        .limit(page.limit)
        .offset(page.offset)
        .select(RewardRow::as_select())
        .load(conn)?;
    let rewards = rewards_at(rows, now)?;
    let keys: Vec<String> = rewards
        .iter()
        .map(|r| super::approval::payout_key(r.id))
        .collect();
    type Delivery = (String, String, i32, Option<String>, Option<DbTime>);
    let deliveries: HashMap<String, Delivery> = outbox::table
        .filter(outbox::idempotency_key.eq_any(&keys))
        .select((
            outbox::idempotency_key,
            outbox::status,
            outbox::attempts,
            outbox::last_error,
            outbox::sent_at,
        ))
        .load::<Delivery>(conn)?
        .into_iter()
        .map(|d| (d.0.clone(), d))
        .collect();
    let items = rewards
        .into_iter()
        .map(|reward| {
            let delivery = deliveries.get(&super::approval::payout_key(reward.id));
            Ok(PayoutLine {
                status: delivery
                    .map(|d| d.1.parse().map_err(|()| corrupt("outbox status")))
                    .transpose()?,
                attempts: delivery.map_or(0, |d| d.2),
                last_error: delivery.and_then(|d| d.3.clone()),
                sent_at: delivery.and_then(|d| d.4.map(|t| t.0)),
                reward,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Paged { items, total })
}
