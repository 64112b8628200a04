//! The reward ledger: granting (through the inducement policy), listing, redeeming once,
//! approving or rejecting cash rewards, and expiry. Each change also updates the mirror
//! status on the referral (`referrer_reward_status` / `referee_reward_status`).

mod approval;
mod expiry;
mod grant;
mod redeem;
mod release;
mod review;
mod staff;

pub use approval::*;
pub use expiry::*;
pub(crate) use grant::*;
pub use grant::{granted_this_year, program_spend};
pub use redeem::*;
pub use release::*;
pub use review::*;
pub use staff::*;

use crate::conn::DbConnection;
use crate::error::StoreError;
use crate::error::{corrupt, money, parse_enum};
use crate::page::{Page, Paged};
use crate::schema::{referral_rewards, referrals};
use crate::sql_types::{DbTime, DbUuid};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use referral_domain::reversal::CancelReason;
use referral_domain::{
    ConsultationId, Money, OrderId, PartyRewardStatus, PatientId, RedemptionTarget, ReferralId,
    RewardId, RewardLedgerEntry, RewardRefusal, RewardStatus, RewardType,
};
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// Whose reward a ledger row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    /// The patient who referred.
    Referrer,
    /// The patient who was referred.
    Referee,
}

impl Party {
    /// The stored text.
    pub const fn as_str(self) -> &'static str {
        match self {
            Party::Referrer => "referrer",
            Party::Referee => "referee",
        }
    }
}

impl FromStr for Party {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "referrer" => Ok(Party::Referrer),
            "referee" => Ok(Party::Referee),
            _ => Err(()),
        }
    }
}

impl fmt::Display for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A row of the reward ledger, with its status as of the read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reward {
    /// Id.
    pub id: RewardId,
    /// The referral it comes from.
    pub referral_id: ReferralId,
    /// Its owner.
    pub patient_id: PatientId,
    /// Referrer's or referee's.
    pub party: Party,
    /// What it gives.
    pub reward_type: RewardType,
    /// Amount (a percentage for discounts).
    pub reward_amount: Option<Money>,
    /// Human description.
    pub reward_description: Option<String>,
    /// Ledger status (an available reward past `expires_at` reads as expired).
    pub status: RewardStatus,
    /// Why the policy withheld it, if it did (the status is then `cancelled`).
    pub withheld_reason: Option<RewardRefusal>,
    /// The order it was used on.
    pub used_on_order_id: Option<OrderId>,
    /// The consultation it was used on.
    pub used_on_consultation_id: Option<ConsultationId>,
    /// When it was used.
    pub used_at: Option<DateTime<Utc>>,
    /// What it gave when used: a discount's share of the amount it was applied to (within
    /// the caps), another reward's amount.
    pub applied_amount: Option<Money>,
    /// When it expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// When its holding period ends (`held` until then), if it has one.
    pub hold_until: Option<DateTime<Utc>>,
    /// Why it was cancelled after it was granted (a reversal or a review), if it was.
    pub cancel_reason: Option<CancelReason>,
    /// Granted (or withheld).
    pub created_at: DateTime<Utc>,
    /// For a referrer's reward: when it reaches the referrer (the end of the cadence
    /// period in which it became usable); `None` while in review, and for ever when it was
    /// withheld for a fact of the friend's or withdrawn before its release. The referrer
    /// sees nothing of it before (see `referral_domain::disclosure`).
    pub released_at: Option<DateTime<Utc>>,
}

impl Reward {
    pub(crate) fn ledger(&self) -> RewardLedgerEntry {
        let used_on = self.used_on_order_id.map(RedemptionTarget::Order).or(self
            .used_on_consultation_id
            .map(RedemptionTarget::Consultation));
        RewardLedgerEntry::from_stored(self.status, self.expires_at, self.used_at, used_on)
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = referral_rewards)]
struct RewardRow {
    id: DbUuid,
    referral_id: DbUuid,
    patient_id: DbUuid,
    party: String,
    reward_type: String,
    reward_amount_cents: Option<i64>,
    reward_description: Option<String>,
    status: String,
    withheld_reason: Option<String>,
    used_on_order_id: Option<DbUuid>,
    used_on_consultation_id: Option<DbUuid>,
    used_at: Option<DbTime>,
    expires_at: Option<DbTime>,
    created_at: DbTime,
    applied_amount_cents: Option<i64>,
    hold_until: Option<DbTime>,
    cancel_reason: Option<String>,
    released_at: Option<DbTime>,
}

impl RewardRow {
    /// The reward as seen at `now`.
    fn into_reward(self, now: DateTime<Utc>) -> Result<Reward, StoreError> {
        let stored: RewardStatus = parse_enum(&self.status, "reward status")?;
        let expires_at = self.expires_at.map(|t| t.0);
        let mut reward = Reward {
            id: RewardId::from_uuid(self.id.0),
            referral_id: ReferralId::from_uuid(self.referral_id.0),
            patient_id: PatientId::from_uuid(self.patient_id.0),
            party: self.party.parse().map_err(|()| corrupt("reward party"))?,
            reward_type: parse_enum(&self.reward_type, "reward type")?,
            reward_amount: money(self.reward_amount_cents, "reward amount")?,
            reward_description: self.reward_description,
            status: stored,
            withheld_reason: self
                .withheld_reason
                .as_deref()
                .map(|r| RewardRefusal::from_code(r).ok_or_else(|| corrupt("withheld reason")))
                .transpose()?,
            used_on_order_id: self.used_on_order_id.map(|i| OrderId::from_uuid(i.0)),
            used_on_consultation_id: self
                .used_on_consultation_id
                .map(|i| ConsultationId::from_uuid(i.0)),
            used_at: self.used_at.map(|t| t.0),
            applied_amount: money(self.applied_amount_cents, "applied amount")?,
            expires_at,
            hold_until: self.hold_until.map(|t| t.0),
            cancel_reason: self
                .cancel_reason
                .as_deref()
                .map(|r| CancelReason::from_code(r).ok_or_else(|| corrupt("cancel reason")))
                .transpose()?,
            created_at: self.created_at.0,
            released_at: self.released_at.map(|t| t.0),
        };
        reward.status = reward.ledger().effective_status(now);
        Ok(reward)
    }
}

/// Stored rows as rewards seen at `now`.
fn rewards_at(rows: Vec<RewardRow>, now: DateTime<Utc>) -> Result<Vec<Reward>, StoreError> {
    rows.into_iter().map(|r| r.into_reward(now)).collect()
}

/// Takes the row lock of a reward's referral until the transaction ends. Everything that
/// changes a referral's rewards (redeem, review, release, reversal) takes it before the
/// reward's row, in that order, so that none of them can deadlock with another (on SQLite
/// the write transaction already holds the lock).
pub(crate) fn lock_referral(conn: &mut DbConnection, id: ReferralId) -> Result<(), StoreError> {
    diesel::update(referrals::table.find(DbUuid::from(id)))
        .set(referrals::updated_at.eq(referrals::updated_at))
        .execute(conn)?;
    Ok(())
}

/// Sets the referral's mirror of one party's reward.
pub(crate) fn set_mirror(
    conn: &mut DbConnection,
    referral_id: ReferralId,
    party: Party,
    status: PartyRewardStatus,
    redeemed_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let target = referrals::table.find(DbUuid::from(referral_id));
    match party {
        Party::Referrer => diesel::update(target)
            .set((
                referrals::referrer_reward_status.eq(status.as_str()),
                referrals::referrer_reward_redeemed_at.eq(redeemed_at.map(DbTime)),
                referrals::updated_at.eq(DbTime(now)),
            ))
            .execute(conn)?,
        Party::Referee => diesel::update(target)
            .set((
                referrals::referee_reward_status.eq(status.as_str()),
                referrals::referee_reward_redeemed_at.eq(redeemed_at.map(DbTime)),
                referrals::updated_at.eq(DbTime(now)),
            ))
            .execute(conn)?,
    };
    Ok(())
}

fn get_in(conn: &mut DbConnection, id: RewardId, now: DateTime<Utc>) -> Result<Reward, StoreError> {
    referral_rewards::table
        .find(DbUuid::from(id))
        .select(RewardRow::as_select())
        .first(conn)?
        .into_reward(now)
}

/// The reward with `id`; with `owner`, only if it is that patient's.
///
/// # Errors
/// [`StoreError::NotFound`].
pub fn get(
    conn: &mut DbConnection,
    id: RewardId,
    owner: Option<PatientId>,
    now: DateTime<Utc>,
) -> Result<Reward, StoreError> {
    let reward = get_in(conn, id, now)?;
    if owner.is_some_and(|o| o != reward.patient_id) {
        return Err(StoreError::NotFound);
    }
    Ok(reward)
}

/// Rewards of the referral with `referral_id`, oldest first.
///
/// # Errors
/// Database errors.
pub fn for_referral(
    conn: &mut DbConnection,
    referral_id: ReferralId,
    now: DateTime<Utc>,
) -> Result<Vec<Reward>, StoreError> {
    let rows: Vec<RewardRow> = referral_rewards::table
        .filter(referral_rewards::referral_id.eq(DbUuid::from(referral_id)))
        .order((
            referral_rewards::created_at.asc(),
            referral_rewards::id.asc(),
        ))
        .select(RewardRow::as_select())
        .load(conn)?;
    rows.into_iter().map(|r| r.into_reward(now)).collect()
}

/// A patient's rewards as they may see them at `now`: only those released to them (a
/// referrer's reward at the end of its cadence period, never before), the newest release
/// first (within one release in no order of time); with `status`, only those in that
/// status as of `now` (withheld rewards show as `cancelled` with their reason).
///
/// # Errors
/// Database errors.
pub fn list_for_patient(
    conn: &mut DbConnection,
    patient: PatientId,
    status: Option<RewardStatus>,
    now: DateTime<Utc>,
    page: Page,
) -> Result<Paged<Reward>, StoreError> {
    let owner = DbUuid::from(patient);
    let build = || {
        let q = referral_rewards::table
            .filter(referral_rewards::patient_id.eq(owner))
            .filter(referral_rewards::released_at.le(DbTime(now)))
            .into_boxed();
        with_status_as_of(q, status, now)
    };
    let total = build().count().get_result(conn)?;
    let rows: Vec<RewardRow> = build()
        .order((
            referral_rewards::released_at.desc(),
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

/// A boxed query over the rewards table.
pub(crate) type RewardQuery<'a> =
    referral_rewards::BoxedQuery<'a, <DbConnection as diesel::Connection>::Backend>;

/// `query` narrowed to the rewards whose status as of `now` is `status` (any when `None`):
/// an available reward past its expiry reads as expired before the sweep writes it.
pub(crate) fn with_status_as_of(
    query: RewardQuery<'_>,
    status: Option<RewardStatus>,
    now: DateTime<Utc>,
) -> RewardQuery<'_> {
    match status {
        None => query,
        Some(RewardStatus::Available) => query
            .filter(referral_rewards::status.eq(RewardStatus::Available.as_str()))
            .filter(
                referral_rewards::expires_at
                    .is_null()
                    .or(referral_rewards::expires_at.gt(DbTime(now))),
            ),
        Some(RewardStatus::Expired) => query.filter(
            referral_rewards::status
                .eq(RewardStatus::Expired.as_str())
                .or(referral_rewards::status
                    .eq(RewardStatus::Available.as_str())
                    .and(referral_rewards::expires_at.le(DbTime(now)))),
        ),
        Some(other) => query.filter(referral_rewards::status.eq(other.as_str())),
    }
}
