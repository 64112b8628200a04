//! Referral programs: create, update, delete (refused while it has referrals), read, list.
//!
//! One concept: the programs table and its use cases, with the budget and variant rows a
//! program owns.

use crate::conn::{insert_new, write_transaction, DbConnection};
use crate::error::{corrupt, money, parse_enum, StoreError};
use crate::page::{Page, Paged};
use crate::schema::{providers, referral_programs, referrals};
use crate::sql_types::{DbJson, DbTextList, DbTime, DbUuid};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use referral_domain::budget::Budget;
use referral_domain::experiment::Variant;
use referral_domain::program::{ProgramSchedule, ValidProgram};
use referral_domain::{
    Demographics, Money, ProgramId, ProgramStatus, ProgramType, ProviderId, ReferralId,
    ReferrerProfile, RewardId, RewardSpec, RewardType, SmsDelivery, Targeting, UsState,
};
use serde::Serialize;

/// A program as stored, in the API's field names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Program {
    /// Id.
    pub id: ProgramId,
    /// Name.
    pub name: String,
    /// The name visitors and invited friends see, if set (see
    /// [`referral_domain::program::public_name_of`]).
    pub public_name: Option<String>,
    /// Where the program's new patients book (else the platform's `--booking-url`).
    pub booking_url: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Kind of campaign.
    pub program_type: ProgramType,
    /// Referrer reward type.
    pub referrer_reward_type: Option<RewardType>,
    /// Referrer reward value (`"25.00"`; a percentage for discounts).
    pub referrer_reward_value: Option<Money>,
    /// Referee reward type.
    pub referee_reward_type: Option<RewardType>,
    /// Referee reward value.
    pub referee_reward_value: Option<Money>,
    /// Referral limit per patient; `None` is unlimited.
    pub max_referrals_per_patient: Option<u32>,
    /// Converted referrals per referrer reward.
    pub reward_threshold: u32,
    /// Days a referral stays open.
    pub expiry_days: u32,
    /// Days a granted reward stays available.
    pub reward_validity_days: u32,
    /// Status.
    pub status: ProgramStatus,
    /// First day.
    pub start_date: Option<NaiveDate>,
    /// Last day.
    pub end_date: Option<NaiveDate>,
    /// Targeted conditions.
    pub target_conditions: Vec<String>,
    /// Targeted ages and states.
    pub target_demographics: Demographics,
    /// Experiment variants (empty: no experiment).
    pub variants: Vec<Variant>,
    /// States whose residents get no reward from it (on top of the service's).
    pub excluded_states: Vec<UsState>,
    /// Who sends its SMS invitations.
    pub sms_delivery: SmsDelivery,
    /// Its reward budget (none by default).
    pub budget: Budget,
    /// Days a new referrer reward is held (0: none).
    pub reward_hold_days: u32,
    /// The smallest order a partial refund may leave without reversing the conversion.
    pub min_order_amount: Option<Money>,
    /// The provider who created it.
    pub created_by: Option<ProviderId>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl Program {
    /// The inducement policy for this program's rewards: `service`'s, with the program's
    /// excluded states added.
    pub fn policy(
        &self,
        service: &referral_domain::InducementPolicy,
    ) -> referral_domain::InducementPolicy {
        service.for_program(&self.excluded_states)
    }

    /// The referrer's reward, if the program gives one.
    pub fn referrer_reward(&self) -> Option<RewardSpec> {
        spec(
            self.referrer_reward_type,
            self.referrer_reward_value.as_ref(),
        )
    }

    /// The referee's reward, if the program gives one.
    pub fn referee_reward(&self) -> Option<RewardSpec> {
        spec(self.referee_reward_type, self.referee_reward_value.as_ref())
    }

    /// The name visitors and invited friends see (never a condition it targets).
    pub fn public_name(&self) -> &str {
        referral_domain::program::public_name_of(
            &self.name,
            self.public_name.as_deref(),
            &self.target_conditions,
        )
    }

    /// The variant called `name`, if the program has it.
    pub fn variant(&self, name: Option<&str>) -> Option<&Variant> {
        let name = name?;
        self.variants.iter().find(|v| v.name == name)
    }

    /// The referrer's reward in `variant` (its override of the value, if any).
    pub fn referrer_reward_in(&self, variant: Option<&str>) -> Option<RewardSpec> {
        let mut spec = self.referrer_reward()?;
        if let Some(value) = self
            .variant(variant)
            .and_then(|v| v.referrer_reward_value.clone())
        {
            spec.value = value;
        }
        Some(spec)
    }

    /// The referee's reward in `variant` (its override of the value, if any).
    pub fn referee_reward_in(&self, variant: Option<&str>) -> Option<RewardSpec> {
        let mut spec = self.referee_reward()?;
        if let Some(value) = self
            .variant(variant)
            .and_then(|v| v.referee_reward_value.clone())
        {
            spec.value = value;
        }
        Some(spec)
    }

    /// Status and dates.
    pub fn schedule(&self) -> ProgramSchedule {
        ProgramSchedule {
            status: self.status,
            start_date: self.start_date,
            end_date: self.end_date,
        }
    }

    /// Who may refer.
    pub fn targeting(&self) -> Targeting {
        Targeting {
            conditions: self.target_conditions.clone(),
            demographics: self.target_demographics.clone(),
        }
    }

    /// Whether `referrer` may create a referral in this program on `today`.
    ///
    /// # Errors
    /// The domain's reason when not.
    pub fn admits(&self, referrer: &ReferrerProfile, today: NaiveDate) -> Result<(), StoreError> {
        self.schedule().accepts_referrals(today)?;
        self.targeting().admits(referrer, today)?;
        Ok(())
    }
}

fn spec(reward_type: Option<RewardType>, value: Option<&Money>) -> Option<RewardSpec> {
    match (reward_type, value) {
        (Some(reward_type), Some(value)) => Some(RewardSpec {
            reward_type,
            value: value.clone(),
        }),
        _ => None,
    }
}

#[derive(Queryable, Selectable, serde::Deserialize)]
#[diesel(table_name = referral_programs)]
pub(crate) struct ProgramRow {
    id: DbUuid,
    name: String,
    description: Option<String>,
    public_name: Option<String>,
    booking_url: Option<String>,
    program_type: String,
    referrer_reward_type: Option<String>,
    referrer_reward_value_cents: Option<i64>,
    referee_reward_type: Option<String>,
    referee_reward_value_cents: Option<i64>,
    max_referrals_per_patient: Option<i32>,
    reward_threshold: i32,
    expiry_days: i32,
    reward_validity_days: i32,
    status: String,
    start_date: Option<NaiveDate>,
    end_date: Option<NaiveDate>,
    target_conditions: DbTextList,
    target_demographics: DbJson,
    created_by: Option<DbUuid>,
    created_at: DbTime,
    updated_at: DbTime,
    variants: DbJson,
    excluded_states: DbTextList,
    sms_delivery: String,
    budget_total_cents: Option<i64>,
    budget_monthly_cents: Option<i64>,
    reward_hold_days: i32,
    min_order_amount_cents: Option<i64>,
}

fn positive(n: i32, what: &str) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| corrupt(what))
}

impl TryFrom<ProgramRow> for Program {
    type Error = StoreError;

    fn try_from(row: ProgramRow) -> Result<Self, StoreError> {
        Ok(Program {
            id: ProgramId::from_uuid(row.id.0),
            name: row.name,
            public_name: row.public_name,
            booking_url: row.booking_url,
            description: row.description,
            program_type: parse_enum(&row.program_type, "program_type")?,
            referrer_reward_type: row
                .referrer_reward_type
                .as_deref()
                .map(|t| parse_enum(t, "referrer_reward_type"))
                .transpose()?,
            referrer_reward_value: money(row.referrer_reward_value_cents, "referrer_reward_value")?,
            referee_reward_type: row
                .referee_reward_type
                .as_deref()
                .map(|t| parse_enum(t, "referee_reward_type"))
                .transpose()?,
            referee_reward_value: money(row.referee_reward_value_cents, "referee_reward_value")?,
            max_referrals_per_patient: row
                .max_referrals_per_patient
                .map(|n| positive(n, "max_referrals_per_patient"))
                .transpose()?,
            reward_threshold: positive(row.reward_threshold, "reward_threshold")?,
            expiry_days: positive(row.expiry_days, "expiry_days")?,
            reward_validity_days: positive(row.reward_validity_days, "reward_validity_days")?,
            status: parse_enum(&row.status, "program status")?,
            start_date: row.start_date,
            end_date: row.end_date,
            target_conditions: row.target_conditions.0,
            target_demographics: serde_json::from_value(row.target_demographics.0)
                .map_err(|_| corrupt("target_demographics"))?,
            variants: serde_json::from_value(row.variants.0).map_err(|_| corrupt("variants"))?,
            excluded_states: row
                .excluded_states
                .0
                .iter()
                .map(|s| UsState::parse(s).map_err(|_| corrupt("excluded_states")))
                .collect::<Result<_, _>>()?,
            sms_delivery: parse_enum(&row.sms_delivery, "sms delivery")?,
            budget: Budget {
                total: money(row.budget_total_cents, "budget_total")?,
                monthly: money(row.budget_monthly_cents, "budget_monthly")?,
            },
            reward_hold_days: positive(row.reward_hold_days, "reward_hold_days")?,
            min_order_amount: money(row.min_order_amount_cents, "min_order_amount")?,
            created_by: row.created_by.map(|id| ProviderId::from_uuid(id.0)),
            created_at: row.created_at.0,
            updated_at: row.updated_at.0,
        })
    }
}

/// The columns a provider sets, shared by create and update.
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = referral_programs, treat_none_as_null = true)]
struct ProgramFields<'a> {
    name: &'a str,
    description: Option<&'a str>,
    public_name: Option<&'a str>,
    booking_url: Option<&'a str>,
    program_type: &'static str,
    referrer_reward_type: Option<&'static str>,
    referrer_reward_value_cents: Option<i64>,
    referee_reward_type: Option<&'static str>,
    referee_reward_value_cents: Option<i64>,
    max_referrals_per_patient: Option<i32>,
    reward_threshold: i32,
    expiry_days: i32,
    reward_validity_days: i32,
    status: &'static str,
    start_date: Option<NaiveDate>,
    end_date: Option<NaiveDate>,
    target_conditions: DbTextList,
    target_demographics: DbJson,
    variants: DbJson,
    excluded_states: DbTextList,
    sms_delivery: &'static str,
    budget_total_cents: Option<i64>,
    budget_monthly_cents: Option<i64>,
    reward_hold_days: i32,
    min_order_amount_cents: Option<i64>,
    updated_at: DbTime,
}

impl<'a> ProgramFields<'a> {
    fn of(
        program: &'a ValidProgram,
        status: ProgramStatus,
        now: DateTime<Utc>,
    ) -> Result<Self, StoreError> {
        let reward_type = |r: &Option<RewardSpec>| r.as_ref().map(|r| r.reward_type.as_str());
        let cents = |r: &Option<RewardSpec>| r.as_ref().map(|r| r.value.cents());
        Ok(ProgramFields {
            name: &program.name,
            description: program.description.as_deref(),
            public_name: program.public_name.as_deref(),
            booking_url: program.booking_url.as_deref(),
            program_type: program.program_type.as_str(),
            referrer_reward_type: reward_type(&program.referrer_reward),
            referrer_reward_value_cents: cents(&program.referrer_reward),
            referee_reward_type: reward_type(&program.referee_reward),
            referee_reward_value_cents: cents(&program.referee_reward),
            max_referrals_per_patient: program.max_referrals_per_patient.map(to_i32),
            reward_threshold: to_i32(program.reward_threshold),
            expiry_days: to_i32(program.expiry_days),
            reward_validity_days: to_i32(program.reward_validity_days),
            status: status.as_str(),
            start_date: program.start_date,
            end_date: program.end_date,
            target_conditions: DbTextList(program.targeting.conditions.clone()),
            target_demographics: DbJson(
                serde_json::to_value(&program.targeting.demographics)
                    .map_err(|_| corrupt("target_demographics"))?,
            ),
            variants: DbJson(
                serde_json::to_value(&program.variants).map_err(|_| corrupt("variants"))?,
            ),
            excluded_states: DbTextList(
                program
                    .excluded_states
                    .iter()
                    .map(|s| s.as_str().to_owned())
                    .collect(),
            ),
            sms_delivery: program.sms_delivery.as_str(),
            budget_total_cents: program.budget.total.as_ref().map(Money::cents),
            budget_monthly_cents: program.budget.monthly.as_ref().map(Money::cents),
            reward_hold_days: to_i32(program.reward_hold_days),
            min_order_amount_cents: program.min_order_amount.as_ref().map(Money::cents),
            updated_at: DbTime(now),
        })
    }
}

fn to_i32(n: u32) -> i32 {
    // Validation caps every count well below i32::MAX.
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Takes the program's row lock until the transaction ends: decisions against its budget
/// are made one at a time (on SQLite the write transaction already holds the lock).
///
/// # Errors
/// [`StoreError::NotFound`].
pub(crate) fn lock(conn: &mut DbConnection, id: ProgramId) -> Result<(), StoreError> {
    let updated = diesel::update(referral_programs::table.find(DbUuid(id.as_uuid())))
        .set(referral_programs::updated_at.eq(referral_programs::updated_at))
        .execute(conn)?;
    if updated == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// The program with `id`.
///
/// # Errors
/// [`StoreError::NotFound`].
pub fn get(conn: &mut DbConnection, id: ProgramId) -> Result<Program, StoreError> {
    referral_programs::table
        .find(DbUuid(id.as_uuid()))
        .select(ProgramRow::as_select())
        .first(conn)?
        .try_into()
}

/// Every program's name by id (for exports that name the program of each row).
///
/// # Errors
/// Database errors.
pub fn names(
    conn: &mut DbConnection,
) -> Result<std::collections::HashMap<ProgramId, String>, StoreError> {
    let rows: Vec<(DbUuid, String)> = referral_programs::table
        .select((referral_programs::id, referral_programs::name))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, name)| (ProgramId::from_uuid(id.0), name))
        .collect())
}

/// Programs, newest first, optionally of one status.
///
/// # Errors
/// Database errors.
pub fn list(
    conn: &mut DbConnection,
    status: Option<ProgramStatus>,
    created_by: Option<ProviderId>,
    page: Page,
) -> Result<Paged<Program>, StoreError> {
    let mut query = referral_programs::table.into_boxed();
    let mut count = referral_programs::table.into_boxed();
    if let Some(status) = status {
        query = query.filter(referral_programs::status.eq(status.as_str()));
        count = count.filter(referral_programs::status.eq(status.as_str()));
    }
    if let Some(provider) = created_by {
        let provider = Some(DbUuid(provider.as_uuid()));
        query = query.filter(referral_programs::created_by.eq(provider));
        count = count.filter(referral_programs::created_by.eq(provider));
    }
    let total = count.count().get_result(conn)?;
    let rows: Vec<ProgramRow> = query
        .order((
            referral_programs::created_at.desc(),
            referral_programs::id.desc(),
        ))
        .limit(page.limit)
        .offset(page.offset)
        .select(ProgramRow::as_select())
        .load(conn)?;
    let items = rows
        .into_iter()
        .map(Program::try_from)
        .collect::<Result<_, _>>()?;
    Ok(Paged { items, total })
}

/// The program `id` as a caller scoped to `provider` may see it: any program when
/// `provider` is `None` (platform staff), only that provider's own otherwise. Another
/// provider's program is [`StoreError::NotFound`], as if it did not exist.
///
/// # Errors
/// [`StoreError::NotFound`].
pub fn get_within(
    conn: &mut DbConnection,
    id: ProgramId,
    provider: Option<ProviderId>,
) -> Result<Program, StoreError> {
    let program = get(conn, id)?;
    match provider {
        Some(p) if program.created_by != Some(p) => Err(StoreError::NotFound),
        _ => Ok(program),
    }
}

/// The programs a caller scoped to `provider` may see; `None` (every program) when not
/// scoped.
///
/// # Errors
/// Database errors.
pub fn ids_within(
    conn: &mut DbConnection,
    provider: Option<ProviderId>,
) -> Result<Option<Vec<ProgramId>>, StoreError> {
    provider.map(|p| ids_created_by(conn, p)).transpose()
}

/// The ids of the programs a provider created (what its staff may see).
///
/// # Errors
/// Database errors.
pub fn ids_created_by(
    conn: &mut DbConnection,
    provider: ProviderId,
) -> Result<Vec<ProgramId>, StoreError> {
    let ids: Vec<DbUuid> = referral_programs::table
        .filter(referral_programs::created_by.eq(Some(DbUuid(provider.as_uuid()))))
        .select(referral_programs::id)
        .load(conn)?;
    Ok(ids
        .into_iter()
        .map(|id| ProgramId::from_uuid(id.0))
        .collect())
}

/// Active programs, oldest first: the candidates when a referral names no program.
pub(crate) fn active(conn: &mut DbConnection) -> Result<Vec<Program>, StoreError> {
    let rows: Vec<ProgramRow> = referral_programs::table
        .filter(referral_programs::status.eq(ProgramStatus::Active.as_str()))
        .order((
            referral_programs::created_at.asc(),
            referral_programs::id.asc(),
        ))
        .select(ProgramRow::as_select())
        .load(conn)?;
    rows.into_iter().map(Program::try_from).collect()
}

fn ensure_provider(
    conn: &mut DbConnection,
    id: ProviderId,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    // Known already, or created concurrently by another request: just as good.
    insert_new!(
        conn,
        diesel::insert_into(providers::table).values((
            providers::id.eq(DbUuid(id.as_uuid())),
            providers::created_at.eq(DbTime(now)),
        ))
    )?;
    Ok(())
}

/// Creates a program.
///
/// # Errors
/// Database errors.
pub fn create(
    conn: &mut DbConnection,
    program: &ValidProgram,
    status: ProgramStatus,
    created_by: Option<ProviderId>,
    now: DateTime<Utc>,
) -> Result<Program, StoreError> {
    let id = ProgramId::new_random();
    write_transaction(conn, |conn| {
        if let Some(provider) = created_by {
            ensure_provider(conn, provider, now)?;
        }
        diesel::insert_into(referral_programs::table)
            .values((
                referral_programs::id.eq(DbUuid(id.as_uuid())),
                ProgramFields::of(program, status, now)?,
                referral_programs::created_by.eq(created_by.map(|p| DbUuid(p.as_uuid()))),
                referral_programs::created_at.eq(DbTime(now)),
            ))
            .execute(conn)?;
        get(conn, id)
    })
}

/// Replaces a program's rules and, when `status` is given, moves it to that status (an
/// ended program stays ended). Existing referrals keep their `expires_at`.
///
/// # Errors
/// [`StoreError::NotFound`], or the domain's `ProgramAlreadyEnded`.
pub fn update(
    conn: &mut DbConnection,
    id: ProgramId,
    program: &ValidProgram,
    status: Option<ProgramStatus>,
    now: DateTime<Utc>,
) -> Result<Program, StoreError> {
    write_transaction(conn, |conn| {
        let current = get(conn, id)?;
        let status = match status {
            Some(to) => current.status.transition_to(to)?,
            None => current.status,
        };
        diesel::update(referral_programs::table.find(DbUuid(id.as_uuid())))
            .set(ProgramFields::of(program, status, now)?)
            .execute(conn)?;
        get(conn, id)
    })
}

/// Deletes a program that has no referrals.
///
/// # Errors
/// [`StoreError::NotFound`], or [`StoreError::ProgramHasReferrals`].
pub fn delete(conn: &mut DbConnection, id: ProgramId) -> Result<(), StoreError> {
    write_transaction(conn, |conn| {
        get(conn, id)?;
        let referral_count: i64 = referrals::table
            .filter(referrals::program_id.eq(DbUuid(id.as_uuid())))
            .count()
            .get_result(conn)?;
        if referral_count > 0 {
            return Err(StoreError::ProgramHasReferrals);
        }
        // The foreign key from referrals backs this check if a referral slips in between.
        match diesel::delete(referral_programs::table.find(DbUuid(id.as_uuid()))).execute(conn) {
            Ok(_) => Ok(()),
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                _,
            )) => Err(StoreError::ProgramHasReferrals),
            Err(e) => Err(e.into()),
        }
    })
}

/// The booking page the program of `referral` sets, if it sets one (a message about a
/// referral leads there; else to the platform's).
///
/// # Errors
/// Database errors. An unknown referral has none.
pub fn booking_url_of_referral(
    conn: &mut DbConnection,
    referral: ReferralId,
) -> Result<Option<String>, StoreError> {
    Ok(referrals::table
        .inner_join(referral_programs::table)
        .filter(referrals::id.eq(DbUuid::from(referral)))
        .select(referral_programs::booking_url)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten())
}

/// The booking page the program of `reward`'s referral sets, if any.
///
/// # Errors
/// Database errors. An unknown reward has none.
pub fn booking_url_of_reward(
    conn: &mut DbConnection,
    reward: RewardId,
) -> Result<Option<String>, StoreError> {
    use crate::schema::referral_rewards;
    let referral: Option<DbUuid> = referral_rewards::table
        .filter(referral_rewards::id.eq(DbUuid(reward.as_uuid())))
        .select(referral_rewards::referral_id)
        .first(conn)
        .optional()?;
    match referral {
        Some(id) => booking_url_of_referral(conn, ReferralId::from_uuid(id.0)),
        None => Ok(None),
    }
}
