//! Granting a reward: the inducement policy's decision planned before anything is written
//! (the ledger row, the rollup change, the referral's mirror, the notice), then written.

use super::*;
use crate::conn::DbConnection;
use crate::error::corrupt;
use crate::error::StoreError;
use crate::outbox::{self, NewMessage, OutboxKind};
use crate::patients::Patient;
use crate::rollups::{self, Cohort, Delta};
use crate::schema::{referral_rewards, referrals};
use crate::sql_types::{DbTime, DbUuid};
use chrono::SubsecRound;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use referral_domain::budget::{calendar_month_of, Budget, Spend};
use referral_domain::conversion::ProgramBudget;
use referral_domain::conversion::{self, GrantOutcome};
use referral_domain::notices::Message;
use referral_domain::notices::{RewardNotice, WelcomeBonus};
use referral_domain::policy::calendar_year_of;
use referral_domain::policy::{counted_cents, CAP_COUNTED_STATUSES};
use referral_domain::{
    Gate, InducementPolicy, Locale, Money, PartyRewardStatus, PatientId, ProgramId, ReferralId,
    RewardId, RewardRefusal, RewardSpec, RewardStatus, RewardType,
};

/// The value of the rewards granted to `patient` in the calendar year of `now`, counted as
/// the domain's policy counts them (`CAP_COUNTED_STATUSES`, `counted_cents`: a discount at
/// the value it gave when used).
///
/// # Errors
/// Database errors; a stored total out of range is corrupt.
pub fn granted_this_year(
    conn: &mut DbConnection,
    patient: PatientId,
    now: DateTime<Utc>,
) -> Result<Money, StoreError> {
    let (start, end) = calendar_year_of(now);
    let rows: Vec<(String, Option<i64>, Option<i64>)> = referral_rewards::table
        .filter(referral_rewards::patient_id.eq(DbUuid::from(patient)))
        .filter(referral_rewards::status.eq_any(CAP_COUNTED_STATUSES.map(RewardStatus::as_str)))
        .filter(referral_rewards::created_at.ge(DbTime(start)))
        .filter(referral_rewards::created_at.lt(DbTime(end)))
        .select((
            referral_rewards::reward_type,
            referral_rewards::reward_amount_cents,
            referral_rewards::applied_amount_cents,
        ))
        .load(conn)?;
    let mut cents: i64 = 0;
    for (reward_type, amount, applied) in rows {
        let reward_type: RewardType = parse_enum(&reward_type, "reward type")?;
        cents = cents.saturating_add(counted_cents(reward_type, amount, applied));
    }
    Money::from_cents(cents).map_err(|_| corrupt("yearly reward total"))
}

/// What the rewards of `program` have been worth so far, ever and in the calendar month
/// of `now`, counted as the caps count (see [`granted_this_year`]).
///
/// # Errors
/// Database errors.
pub fn program_spend(
    conn: &mut DbConnection,
    program: ProgramId,
    now: DateTime<Utc>,
) -> Result<Spend, StoreError> {
    let (month_start, _) = calendar_month_of(now);
    let rows: Vec<(String, Option<i64>, Option<i64>, DbTime)> = referral_rewards::table
        .inner_join(referrals::table)
        .filter(referrals::program_id.eq(DbUuid::from(program)))
        .filter(referral_rewards::status.eq_any(CAP_COUNTED_STATUSES.map(RewardStatus::as_str)))
        .select((
            referral_rewards::reward_type,
            referral_rewards::reward_amount_cents,
            referral_rewards::applied_amount_cents,
            referral_rewards::created_at,
        ))
        .load(conn)?;
    let (mut total, mut month) = (0i64, 0i64);
    for (reward_type, amount, applied, created_at) in rows {
        let value = counted_cents(parse_enum(&reward_type, "reward type")?, amount, applied);
        total = total.saturating_add(value);
        if created_at.0 >= month_start {
            month = month.saturating_add(value);
        }
    }
    Ok(Spend {
        total: Money::from_cents(total).map_err(|_| corrupt("program spend"))?,
        this_month: Money::from_cents(month).map_err(|_| corrupt("program spend"))?,
    })
}

/// The program's budget and spend for a decision: its lock taken and its spend read when
/// it has a budget; nothing read when it has none.
///
/// # Errors
/// Database errors.
pub(crate) fn program_budget(
    conn: &mut DbConnection,
    program: ProgramId,
    budget: &Budget,
    now: DateTime<Utc>,
) -> Result<ProgramBudget, StoreError> {
    if !budget.is_limited() {
        return Ok(ProgramBudget::default());
    }
    crate::programs::lock(conn, program)?;
    Ok(ProgramBudget {
        budget: budget.clone(),
        spent: program_spend(conn, program, now)?,
    })
}

/// The referral a reward is for, as granting needs it (rewards do not read referrals).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RewardFor {
    pub referral_id: ReferralId,
}

/// Grants `spec` to `patient` for `referral_id`, or records why the policy withholds it.
/// Runs inside the caller's transaction, which must hold the patient's lock (the yearly
/// cap reads before it writes). Sets the referral's mirror status and, for a granted reward,
/// queues the "reward earned" email.
#[allow(clippy::too_many_arguments)]
pub(crate) fn grant(
    conn: &mut DbConnection,
    referral: RewardFor,
    cohort: &Cohort,
    patient: &Patient,
    party: Party,
    spec: &RewardSpec,
    policy: &InducementPolicy,
    budget: &ProgramBudget,
    validity_days: u32,
    gate: Gate,
    now: DateTime<Utc>,
) -> Result<Reward, StoreError> {
    let granted_this_year = granted_this_year(conn, patient.id, now)?;
    let mut grant = plan_grant(
        referral,
        patient,
        party,
        spec,
        policy,
        budget,
        validity_days,
        gate,
        granted_this_year,
        now,
    );
    grant.localize_from(conn)?;
    insert(conn, &grant.reward)?;
    rollups::bump(conn, cohort, grant.delta)?;
    let target = referrals::table.find(DbUuid::from(referral.referral_id));
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

impl Grant {
    /// Writes the notice in `locale`, the language of the referral it is about (read by
    /// the caller only when there is a notice: most grants on the hot path have one).
    pub(crate) fn localize(&mut self, locale: Locale) {
        let words = self.reward.reward_amount.clone().map(|value| {
            RewardSpec {
                reward_type: self.reward.reward_type,
                value,
            }
            .description_in(locale)
        });
        let Some(notice) = self.notice.as_mut() else {
            return;
        };
        let (message_locale, description) = match &mut notice.message {
            Message::RewardEarned(m) => (&mut m.locale, &mut m.reward_description),
            Message::WelcomeBonus(m) => (&mut m.locale, &mut m.reward_description),
            _ => return,
        };
        *message_locale = locale;
        if let Some(words) = words {
            *description = words;
        }
    }

    /// Localizes the notice in the language of its referral, read from the database.
    pub(crate) fn localize_from(&mut self, conn: &mut DbConnection) -> Result<(), StoreError> {
        if self.notice.is_some() {
            let locale = crate::referrals::locale_of(conn, self.reward.referral_id)?;
            self.localize(locale);
        }
        Ok(())
    }
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
    referral: RewardFor,
    patient: &Patient,
    party: Party,
    spec: &RewardSpec,
    policy: &InducementPolicy,
    budget: &ProgramBudget,
    validity_days: u32,
    gate: Gate,
    granted_this_year: Money,
    now: DateTime<Utc>,
) -> Grant {
    // Stored times have microseconds; the reward handed back says what a read would.
    let now = now.trunc_subsecs(6);
    let standing = patient.standing(policy, granted_this_year);
    let outcome =
        conversion::decide_grant_in_budget(spec, &standing, budget, policy, validity_days, now)
            .gated(gate, spec.reward_type, now);
    grant_of(
        referral,
        patient,
        party,
        spec,
        &outcome,
        policy.referrer_cadence,
        now,
    )
}

/// What writing a decided grant takes: the ledger row, the rollup change, the referral's
/// mirror status and, for the friend's granted reward, the notice. A referrer's reward is
/// told with everything else of its `cadence` period, by [`super::notify_releases`].
pub(crate) fn grant_of(
    referral: RewardFor,
    patient: &Patient,
    party: Party,
    spec: &RewardSpec,
    outcome: &GrantOutcome,
    cadence: referral_domain::RewardCadence,
    now: DateTime<Utc>,
) -> Grant {
    let now = now.trunc_subsecs(6);
    let status = outcome.ledger_status();
    let withheld = outcome.withheld_reason();
    let (mut expires_at, hold_until) = match outcome {
        GrantOutcome::Granted {
            expires_at,
            hold_until,
            ..
        } => (*expires_at, *hold_until),
        GrantOutcome::Withheld(_) => (None, None),
    };
    let id = RewardId::new_random();
    let delta = match withheld {
        Some(_) => Delta {
            rewards_withheld: 1,
            ..Delta::default()
        },
        // Discounts are worth nothing until used (see the domain's policy).
        None if spec.reward_type.has_face_value() => Delta {
            rewards_granted: 1,
            reward_value_cents: spec.value.cents(),
            ..Delta::default()
        },
        None => Delta::default(),
    };
    let mirror = outcome.mirror();
    let released_at = match party {
        Party::Referrer => referral_domain::disclosure::referrer_release(
            status, withheld, hold_until, now, cadence,
        ),
        // The friend's own reward is theirs at once.
        Party::Referee => Some(now),
    };
    // A referrer's validity counts from the release, so that its end dates nothing finer.
    if let (Party::Referrer, Some(released), Some(at)) = (party, released_at, expires_at) {
        let usable = hold_until.map_or(now, |until| until.max(now));
        expires_at = at.checked_add_signed(released - usable).or(Some(at));
    }
    let notice = (outcome.notifies() && party == Party::Referee).then(|| {
        reward_notice(
            &Notice {
                id,
                referral_id: referral.referral_id,
                status,
            },
            patient,
            party,
            spec,
            Locale::En,
        )
    });
    Grant {
        reward: Reward {
            id,
            referral_id: referral.referral_id,
            patient_id: patient.id,
            party,
            reward_type: spec.reward_type,
            reward_amount: Some(spec.value.clone()),
            reward_description: Some(spec.description()),
            status,
            withheld_reason: withheld,
            used_on_order_id: None,
            used_on_consultation_id: None,
            used_at: None,
            applied_amount: None,
            expires_at,
            hold_until,
            cancel_reason: None,
            created_at: now,
            released_at,
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
            referral_rewards::hold_until.eq(reward.hold_until.map(DbTime)),
            referral_rewards::released_at.eq(reward.released_at.map(DbTime)),
            referral_rewards::created_at.eq(DbTime(reward.created_at)),
            referral_rewards::updated_at.eq(DbTime(reward.created_at)),
        ))
        .execute(conn)?;
    Ok(())
}

/// The reward a notice is about.
pub(crate) struct Notice {
    pub id: RewardId,
    pub referral_id: ReferralId,
    pub status: RewardStatus,
}

/// The email that tells a party about a granted reward: "reward earned" to the referrer,
/// "welcome bonus" to the referee.
pub(crate) fn reward_notice(
    notice: &Notice,
    patient: &Patient,
    party: Party,
    spec: &RewardSpec,
    locale: Locale,
) -> NewMessage {
    let (id, referral_id) = (notice.id, notice.referral_id);
    let pending_approval = notice.status == RewardStatus::PendingApproval;
    let (key, message) = match party {
        Party::Referrer => (
            format!("reward-earned:{id}"),
            Message::RewardEarned(RewardNotice {
                reward_description: spec.description_in(locale),
                pending_approval,
                reward_id: id.as_uuid(),
                referral_id: referral_id.as_uuid(),
                locale,
            }),
        ),
        Party::Referee => (
            format!("welcome-bonus:{id}"),
            Message::WelcomeBonus(WelcomeBonus {
                patient_name: patient.name.clone(),
                reward_description: spec.description_in(locale),
                pending_approval,
                reward_id: id.as_uuid(),
                referral_id: referral_id.as_uuid(),
                locale,
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
