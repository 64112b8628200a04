//! The reward ledger: granting (through the inducement policy), listing, redeeming once,
//! approving or rejecting cash rewards, and expiry. Each change also updates the mirror
//! status on the referral (`referrer_reward_status` / `referee_reward_status`).

use crate::conn::{write_transaction, DbConnection};
use crate::error::StoreError;
use crate::outbox::{self, NewMessage, OutboxKind};
use crate::page::{Page, Paged};
use crate::patients::{self, Patient};
use crate::programs::{corrupt, money, parse_enum};
use crate::referrals as referrals_model;
use crate::rollups::{self, Cohort, Delta};
use crate::schema::{referral_rewards, referrals};
use crate::sql_types::{DbTime, DbUuid};
use chrono::SubsecRound;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use referral_domain::policy::{calendar_year_of, RecipientStanding};
use referral_domain::reward::{initial_status, reward_expires_at};
use referral_domain::{
    ConsultationId, DomainError, InducementPolicy, Money, OrderId, PartyRewardStatus, PatientId,
    RedemptionTarget, ReferralId, RewardDecision, RewardId, RewardLedgerEntry, RewardRefusal,
    RewardSpec, RewardStatus, RewardType,
};
use referral_notify::messages::{CashPayout, RewardExpiring, RewardNotice, WelcomeBonus};
use referral_notify::Message;
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
    /// When it expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// Granted (or withheld).
    pub created_at: DateTime<Utc>,
}

impl Reward {
    fn ledger(&self) -> RewardLedgerEntry {
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
            expires_at,
            created_at: self.created_at.0,
        };
        reward.status = reward.ledger().effective_status(now);
        Ok(reward)
    }
}

/// Stored rows as rewards seen at `now`.
fn rewards_at(rows: Vec<RewardRow>, now: DateTime<Utc>) -> Result<Vec<Reward>, StoreError> {
    rows.into_iter().map(|r| r.into_reward(now)).collect()
}

fn describe(spec: &RewardSpec) -> String {
    match spec.reward_type {
        RewardType::Discount => format!(
            "{}% off a consultation",
            spec.value.to_string().trim_end_matches(".00")
        ),
        RewardType::Credit => format!("${} account credit", spec.value),
        RewardType::Cash => format!("${} cash", spec.value),
        RewardType::FreeConsultation => format!("a free consultation (worth ${})", spec.value),
    }
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

/// The value of the rewards granted to `patient` in the calendar year of `now` (every
/// reward not cancelled; discounts count as zero, see the domain's policy).
pub(crate) fn granted_this_year(
    conn: &mut DbConnection,
    patient: PatientId,
    now: DateTime<Utc>,
) -> Result<Money, StoreError> {
    let (start, end) = calendar_year_of(now);
    let amounts: Vec<Option<i64>> = referral_rewards::table
        .filter(referral_rewards::patient_id.eq(DbUuid::from(patient)))
        .filter(referral_rewards::status.ne(RewardStatus::Cancelled.as_str()))
        .filter(referral_rewards::reward_type.ne(RewardType::Discount.as_str()))
        .filter(referral_rewards::created_at.ge(DbTime(start)))
        .filter(referral_rewards::created_at.lt(DbTime(end)))
        .select(referral_rewards::reward_amount_cents)
        .load(conn)?;
    let cents: i64 = amounts.into_iter().flatten().sum();
    Money::from_cents(cents).map_err(|_| corrupt("yearly reward total"))
}

/// Grants `spec` to `patient` for `referral_id`, or records why the policy withholds it.
/// Runs inside the caller's transaction, which must hold the patient's lock (the yearly
/// cap reads before it writes). Sets the referral's mirror status and, for a granted reward,
/// queues the "reward earned" email.
#[allow(clippy::too_many_arguments)]
pub(crate) fn grant(
    conn: &mut DbConnection,
    referral: &referrals_model::Referral,
    cohort: &Cohort,
    patient: &Patient,
    party: Party,
    spec: &RewardSpec,
    policy: &InducementPolicy,
    validity_days: u32,
    now: DateTime<Utc>,
) -> Result<Reward, StoreError> {
    let granted_this_year = granted_this_year(conn, patient.id, now)?;
    let grant = plan_grant(
        referral,
        patient,
        party,
        spec,
        policy,
        validity_days,
        granted_this_year,
        now,
    );
    insert(conn, &grant.reward)?;
    rollups::bump(conn, cohort, grant.delta)?;
    let target = referrals::table.find(DbUuid::from(referral.id));
    let amount = grant.reward.amount_granted();
    match party {
        Party::Referrer => diesel::update(target)
            .set((
                referrals::referrer_reward_status.eq(grant.mirror.as_str()),
                referrals::referrer_reward_earned_at.eq(Some(DbTime(grant.reward.created_at))),
                referrals::referrer_reward_amount_cents.eq(amount),
                referrals::updated_at.eq(DbTime(grant.reward.created_at)),
            ))
            .execute(conn)?,
        Party::Referee => diesel::update(target)
            .set((
                referrals::referee_reward_status.eq(grant.mirror.as_str()),
                referrals::referee_reward_amount_cents.eq(amount),
                referrals::updated_at.eq(DbTime(grant.reward.created_at)),
            ))
            .execute(conn)?,
    };
    if let Some(notice) = &grant.notice {
        outbox::enqueue(conn, notice, grant.reward.created_at)?;
    }
    Ok(grant.reward)
}

/// What granting a reward writes, decided before anything is written: the ledger row, the
/// rollup change, the referral's mirror status and the notice to queue.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    /// The ledger row, as a read would return it.
    pub reward: Reward,
    pub delta: Delta,
    pub mirror: PartyRewardStatus,
    /// The "reward earned" / "welcome bonus" email; none for a withheld reward.
    pub notice: Option<NewMessage>,
}

/// Decides a grant (see [`grant`]); `granted_this_year` is what the patient was granted in
/// `now`'s calendar year, read under their lock.
#[allow(clippy::too_many_arguments)]
pub(crate) fn plan_grant(
    referral: &referrals_model::Referral,
    patient: &Patient,
    party: Party,
    spec: &RewardSpec,
    policy: &InducementPolicy,
    validity_days: u32,
    granted_this_year: Money,
    now: DateTime<Utc>,
) -> Grant {
    // Stored times have microseconds; the reward handed back says what a read would.
    let now = now.trunc_subsecs(6);
    let standing = RecipientStanding {
        federal_payer: patient.federal_payer,
        granted_this_year,
    };
    let (status, withheld) = match policy.decide(spec, &standing) {
        RewardDecision::Grant { .. } => (initial_status(spec.reward_type), None),
        RewardDecision::Refuse(reason) => (RewardStatus::Cancelled, Some(reason)),
    };
    let expires_at = match withheld {
        None => reward_expires_at(now, validity_days),
        Some(_) => None,
    };
    let id = RewardId::new_random();
    let delta = match withheld {
        Some(_) => Delta {
            rewards_withheld: 1,
            ..Delta::default()
        },
        // Discounts are worth nothing until used (see the domain's policy).
        None if spec.reward_type != RewardType::Discount => Delta {
            rewards_granted: 1,
            reward_value_cents: spec.value.cents(),
            ..Delta::default()
        },
        None => Delta::default(),
    };
    let mirror = match withheld {
        Some(_) => PartyRewardStatus::NotGranted,
        None => PartyRewardStatus::mirror(status),
    };
    let notice = withheld.is_none().then(|| {
        reward_notice(
            &Notice {
                id,
                referral_id: referral.id,
                referee_name: referral.referee_name.as_deref(),
                status,
            },
            patient,
            party,
            spec,
        )
    });
    Grant {
        reward: Reward {
            id,
            referral_id: referral.id,
            patient_id: patient.id,
            party,
            reward_type: spec.reward_type,
            reward_amount: Some(spec.value.clone()),
            reward_description: Some(describe(spec)),
            status,
            withheld_reason: withheld,
            used_on_order_id: None,
            used_on_consultation_id: None,
            used_at: None,
            expires_at,
            created_at: now,
        },
        delta,
        mirror,
        notice,
    }
}

impl Reward {
    /// The amount the referral's mirror records: none when the policy withheld the reward.
    pub(crate) fn amount_granted(&self) -> Option<i64> {
        match self.withheld_reason {
            Some(_) => None,
            None => self.reward_amount.as_ref().map(Money::cents),
        }
    }
}

/// Writes a new ledger row.
pub(crate) fn insert(conn: &mut DbConnection, reward: &Reward) -> Result<(), StoreError> {
    diesel::insert_into(referral_rewards::table)
        .values((
            referral_rewards::id.eq(DbUuid::from(reward.id)),
            referral_rewards::referral_id.eq(DbUuid::from(reward.referral_id)),
            referral_rewards::patient_id.eq(DbUuid::from(reward.patient_id)),
            referral_rewards::party.eq(reward.party.as_str()),
            referral_rewards::reward_type.eq(reward.reward_type.as_str()),
            referral_rewards::reward_amount_cents
                .eq(reward.reward_amount.as_ref().map(Money::cents)),
            referral_rewards::reward_description.eq(reward.reward_description.as_deref()),
            referral_rewards::status.eq(reward.status.as_str()),
            referral_rewards::withheld_reason.eq(reward.withheld_reason.map(RewardRefusal::as_str)),
            referral_rewards::expires_at.eq(reward.expires_at.map(DbTime)),
            referral_rewards::created_at.eq(DbTime(reward.created_at)),
            referral_rewards::updated_at.eq(DbTime(reward.created_at)),
        ))
        .execute(conn)?;
    Ok(())
}

/// The reward a notice is about.
struct Notice<'a> {
    id: RewardId,
    referral_id: ReferralId,
    referee_name: Option<&'a str>,
    status: RewardStatus,
}

/// The email that tells a party about a granted reward: "reward earned" to the referrer,
/// "welcome bonus" to the referee.
fn reward_notice(
    notice: &Notice<'_>,
    patient: &Patient,
    party: Party,
    spec: &RewardSpec,
) -> NewMessage {
    let (id, referral_id, referee_name) = (notice.id, notice.referral_id, notice.referee_name);
    let pending_approval = notice.status == RewardStatus::PendingApproval;
    let (key, message) = match party {
        Party::Referrer => (
            format!("reward-earned:{id}"),
            Message::RewardEarned(RewardNotice {
                referee_name: referee_name.map(str::to_owned),
                reward_description: describe(spec),
                pending_approval,
                reward_id: id.as_uuid(),
                referral_id: referral_id.as_uuid(),
            }),
        ),
        Party::Referee => (
            format!("welcome-bonus:{id}"),
            Message::WelcomeBonus(WelcomeBonus {
                patient_name: patient.name.clone(),
                reward_description: describe(spec),
                pending_approval,
                reward_id: id.as_uuid(),
                referral_id: referral_id.as_uuid(),
            }),
        ),
    };
    NewMessage {
        kind: OutboxKind::Email,
        idempotency_key: key,
        recipient: patient.email.as_str().to_owned(),
        message,
    }
}

/// Queues the "reward expiring" reminder for every available reward that expires within
/// `notice` of `now` and has not been reminded of; returns how many were queued. The
/// idempotency key makes a reminder once per reward, however often this runs.
///
/// # Errors
/// Database errors.
pub fn queue_expiry_reminders(
    conn: &mut DbConnection,
    notice: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    write_transaction(conn, |conn| {
        let due: Vec<RewardRow> = referral_rewards::table
            .filter(referral_rewards::status.eq(RewardStatus::Available.as_str()))
            .filter(referral_rewards::expires_at.gt(DbTime(now)))
            .filter(referral_rewards::expires_at.le(DbTime(now + notice)))
            .select(RewardRow::as_select())
            .load(conn)?;
        let mut queued = 0;
        for row in due {
            let reward = row.into_reward(now)?;
            let Some(expires_at) = reward.expires_at else {
                continue;
            };
            let patient = patients::get(conn, reward.patient_id)?;
            let inserted = outbox::enqueue(
                conn,
                &NewMessage {
                    kind: OutboxKind::Email,
                    idempotency_key: format!("reward-expiring:{}", reward.id),
                    recipient: patient.email.as_str().to_owned(),
                    message: Message::RewardExpiring(RewardExpiring {
                        patient_name: patient.name.clone(),
                        reward_description: reward.reward_description.clone(),
                        expires_on: expires_at.format("%B %-d, %Y").to_string(),
                        reward_id: reward.id.as_uuid(),
                    }),
                },
                now,
            )?;
            if inserted {
                queued += 1;
            }
        }
        Ok(queued)
    })
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

/// A patient's rewards, newest first; with `status`, only those in that status as of `now`
/// (withheld rewards show as `cancelled` with their reason).
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
        let mut q = referral_rewards::table
            .filter(referral_rewards::patient_id.eq(owner))
            .into_boxed();
        q = match status {
            None => q,
            // An available reward past its expiry reads as expired.
            Some(RewardStatus::Available) => q
                .filter(referral_rewards::status.eq(RewardStatus::Available.as_str()))
                .filter(
                    referral_rewards::expires_at
                        .is_null()
                        .or(referral_rewards::expires_at.gt(DbTime(now))),
                ),
            Some(RewardStatus::Expired) => q.filter(
                referral_rewards::status
                    .eq(RewardStatus::Expired.as_str())
                    .or(referral_rewards::status
                        .eq(RewardStatus::Available.as_str())
                        .and(referral_rewards::expires_at.le(DbTime(now)))),
            ),
            Some(other) => q.filter(referral_rewards::status.eq(other.as_str())),
        };
        q
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

/// Rewards waiting for an administrator's approval (cash), oldest first: the queue of the
/// provider portal's rewards page.
///
/// # Errors
/// Database errors.
pub fn pending_approval(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    page: Page,
) -> Result<Paged<Reward>, StoreError> {
    let pending = RewardStatus::PendingApproval.as_str();
    let total = referral_rewards::table
        .filter(referral_rewards::status.eq(pending))
        .count()
        .get_result(conn)?;
    let rows: Vec<RewardRow> = referral_rewards::table
        .filter(referral_rewards::status.eq(pending))
        .order((
            referral_rewards::created_at.asc(),
            referral_rewards::id.asc(),
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

/// Uses a reward once, on an order or a consultation. With `owner`, only that patient's
/// reward can be used (another patient's answers not found).
///
/// # Errors
/// [`StoreError::NotFound`]; the domain's `Redeem*` errors (`reward_not_available`),
/// also for the losers when several redeems of one reward arrive at once.
pub fn redeem(
    conn: &mut DbConnection,
    id: RewardId,
    owner: Option<PatientId>,
    target: RedemptionTarget,
    now: DateTime<Utc>,
) -> Result<Reward, StoreError> {
    write_transaction(conn, |conn| {
        let reward = get(conn, id, owner, now)?;
        let mut ledger = reward.ledger();
        ledger.redeem(now, target)?;
        let (order, consultation) = match target {
            RedemptionTarget::Order(o) => (Some(DbUuid::from(o)), None),
            RedemptionTarget::Consultation(c) => (None, Some(DbUuid::from(c))),
        };
        // The status guard settles concurrent redeems: on PostgreSQL the second UPDATE waits
        // for the first, re-reads the row and matches nothing.
        let updated = diesel::update(
            referral_rewards::table
                .find(DbUuid::from(id))
                .filter(referral_rewards::status.eq(RewardStatus::Available.as_str())),
        )
        .set((
            referral_rewards::status.eq(RewardStatus::Used.as_str()),
            referral_rewards::used_at.eq(Some(DbTime(now))),
            referral_rewards::used_on_order_id.eq(order),
            referral_rewards::used_on_consultation_id.eq(consultation),
            referral_rewards::updated_at.eq(DbTime(now)),
        ))
        .execute(conn)?;
        if updated == 0 {
            return Err(DomainError::RedeemAlreadyUsed.into());
        }
        // Cash counts as paid when approved for payout, discounts are worth nothing: the
        // rest is paid when used.
        if !matches!(reward.reward_type, RewardType::Discount | RewardType::Cash) {
            let cohort = Cohort::of(conn, reward.referral_id)?;
            rollups::bump(
                conn,
                &cohort,
                Delta {
                    rewards_paid_cents: reward.reward_amount.as_ref().map_or(0, Money::cents),
                    ..Delta::default()
                },
            )?;
        }
        set_mirror(
            conn,
            reward.referral_id,
            reward.party,
            PartyRewardStatus::Redeemed,
            Some(now),
            now,
        )?;
        get_in(conn, id, now)
    })
}

/// An admin's decision on the cash rewards of a referral that wait for approval: approve
/// makes them available and queues the payout; reject cancels them.
///
/// # Errors
/// [`StoreError::NotFound`] for an unknown referral or one without rewards; the domain's
/// `ApproveNotPending` / `RejectNotPending` when none waits for approval.
pub fn decide_approval(
    conn: &mut DbConnection,
    referral_id: ReferralId,
    approve: bool,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<Reward>, StoreError> {
    write_transaction(conn, |conn| {
        let exists: i64 = referrals::table
            .filter(referrals::id.eq(DbUuid::from(referral_id)))
            .count()
            .get_result(conn)?;
        if exists == 0 {
            return Err(StoreError::NotFound);
        }
        let rewards = for_referral(conn, referral_id, now)?;
        let pending: Vec<&Reward> = rewards
            .iter()
            .filter(|r| r.status == RewardStatus::PendingApproval)
            .collect();
        if pending.is_empty() {
            // Report the state of the reward an admin would be looking at.
            let current = rewards
                .iter()
                .find(|r| r.party == Party::Referrer)
                .or(rewards.first())
                .ok_or(StoreError::NotFound)?;
            return Err(if approve {
                DomainError::ApproveNotPending(current.status)
            } else {
                DomainError::RejectNotPending(current.status)
            }
            .into());
        }
        for reward in pending {
            let mut ledger = reward.ledger();
            let new_status = if approve {
                ledger.approve()?;
                RewardStatus::Available
            } else {
                ledger.reject()?;
                RewardStatus::Cancelled
            };
            let updated = diesel::update(
                referral_rewards::table
                    .find(DbUuid::from(reward.id))
                    .filter(referral_rewards::status.eq(RewardStatus::PendingApproval.as_str())),
            )
            .set((
                referral_rewards::status.eq(new_status.as_str()),
                referral_rewards::updated_at.eq(DbTime(now)),
            ))
            .execute(conn)?;
            if updated == 0 {
                return Err(DomainError::ApproveNotPending(RewardStatus::Available).into());
            }
            let cents = reward.reward_amount.as_ref().map_or(0, Money::cents);
            let cohort = Cohort::of(conn, reward.referral_id)?;
            let delta = if approve && reward.reward_type != RewardType::Cash {
                Delta::default()
            } else if approve {
                // An approved cash reward is paid out.
                Delta {
                    rewards_paid_cents: cents,
                    ..Delta::default()
                }
            } else {
                Delta {
                    rewards_granted: -1,
                    reward_value_cents: -cents,
                    ..Delta::default()
                }
            };
            rollups::bump(conn, &cohort, delta)?;
            set_mirror(
                conn,
                reward.referral_id,
                reward.party,
                PartyRewardStatus::mirror(new_status),
                None,
                now,
            )?;
            if approve {
                let owner = patients::get(conn, reward.patient_id)?;
                outbox::enqueue(
                    conn,
                    &NewMessage {
                        kind: OutboxKind::Payout,
                        idempotency_key: format!("payout:{}", reward.id),
                        recipient: owner.id.to_string(),
                        message: Message::CashPayout(CashPayout {
                            reward_id: reward.id.as_uuid(),
                            patient_id: owner.id.as_uuid(),
                            amount: reward.reward_amount.clone(),
                            currency: "usd".into(),
                            stripe_account: None,
                        }),
                    },
                    now,
                )?;
            }
            // The reason is free text an admin typed: it may name a person, so it stays out of
            // info logs.
            tracing::info!(reward_id = %reward.id, approve, "reward approval decided");
            tracing::debug!(reward_id = %reward.id, reason = reason.unwrap_or(""), "approval reason");
        }
        for_referral(conn, referral_id, now)
    })
}

/// Stores the expiry of every available reward past `expires_at`, paid-out cash rewards
/// aside; returns how many.
///
/// # Errors
/// Database errors.
pub fn expire_due(conn: &mut DbConnection, now: DateTime<Utc>) -> Result<usize, StoreError> {
    write_transaction(conn, |conn| {
        // An available cash reward was approved and paid out: there is nothing left to
        // expire (expiring it would take a payout back out of the figures).
        let due: Vec<(DbUuid, DbUuid, String)> = referral_rewards::table
            .filter(referral_rewards::status.eq(RewardStatus::Available.as_str()))
            .filter(referral_rewards::reward_type.ne(RewardType::Cash.as_str()))
            .filter(referral_rewards::expires_at.le(DbTime(now)))
            .select((
                referral_rewards::id,
                referral_rewards::referral_id,
                referral_rewards::party,
            ))
            .load(conn)?;
        for (id, referral_id, party) in &due {
            diesel::update(
                referral_rewards::table
                    .find(*id)
                    .filter(referral_rewards::status.eq(RewardStatus::Available.as_str())),
            )
            .set((
                referral_rewards::status.eq(RewardStatus::Expired.as_str()),
                referral_rewards::updated_at.eq(DbTime(now)),
            ))
            .execute(conn)?;
            let party: Party = party.parse().map_err(|()| corrupt("reward party"))?;
            set_mirror(
                conn,
                ReferralId::from_uuid(referral_id.0),
                party,
                PartyRewardStatus::Expired,
                None,
                now,
            )?;
        }
        Ok(due.len())
    })
}
