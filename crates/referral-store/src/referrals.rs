//! Referrals: creation under the program's rules, lookup by code, clicks, registration
//! with a code, listing, and the expiry sweep.

use crate::conn::{write_transaction, DbConnection};
use crate::error::StoreError;
use crate::outbox::{self, NewMessage, OutboxKind};
use crate::page::{Page, Paged};
use crate::patients::{self, Patient, PatientDetails};
use crate::programs::{self, corrupt, money, parse_enum, Program};
use crate::rewards::{self, Party, Reward};
use crate::rollups::{self, Cohort, Delta};
use crate::schema::{patients as patients_table, referral_interactions, referrals};
use crate::sql_types::{DbInet, DbJson, DbTime, DbUuid};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use referral_domain::experiment::Variant;
use referral_domain::referral::{effective_status, expires_at};
use referral_domain::{
    ConsultationId, CreationFacts, DomainError, Email, InducementPolicy, InteractionType, Money,
    OrderId, PartyRewardStatus, PatientId, Phone, ProgramId, ReferralCode, ReferralId,
    ReferralLifecycle, ReferralSource, ReferralStatus,
};
use referral_notify::messages::Invitation;
use referral_notify::Message;
use ring::rand::SecureRandom;
use serde::Serialize;
use std::net::IpAddr;

/// Attempts at a fresh code before giving up (a collision at 90 bits is already unheard of).
const CODE_ATTEMPTS: usize = 5;

/// A referral, with its status as of the read (a pending referral past `expires_at` reads
/// as expired).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Referral {
    /// Id.
    pub id: ReferralId,
    /// The code to share.
    pub referral_code: ReferralCode,
    /// Who referred.
    pub referrer_id: PatientId,
    /// Who was referred (PHI).
    pub referee_email: Email,
    /// Referee's phone (PHI).
    pub referee_phone: Option<Phone>,
    /// Referee's name (PHI).
    pub referee_name: Option<String>,
    /// The referee's patient id once registered.
    pub referee_patient_id: Option<PatientId>,
    /// Program.
    pub program_id: ProgramId,
    /// How it was shared.
    pub referral_source: Option<ReferralSource>,
    /// The referrer's message.
    pub referral_message: Option<String>,
    /// Status as of the read.
    pub status: ReferralStatus,
    /// Status as stored: what transitions start from.
    #[serde(skip)]
    stored_status: ReferralStatus,
    /// When the referee registered.
    pub referee_registered_at: Option<DateTime<Utc>>,
    /// The consultation that converted it.
    pub first_consultation_id: Option<ConsultationId>,
    /// The order that converted it.
    pub first_order_id: Option<OrderId>,
    /// When it converted.
    pub converted_at: Option<DateTime<Utc>>,
    /// Mirror of the referrer's reward.
    pub referrer_reward_status: PartyRewardStatus,
    /// When the referrer's reward was earned.
    pub referrer_reward_earned_at: Option<DateTime<Utc>>,
    /// When the referrer's reward was used.
    pub referrer_reward_redeemed_at: Option<DateTime<Utc>>,
    /// The referrer's reward amount.
    pub referrer_reward_amount: Option<Money>,
    /// Mirror of the referee's reward.
    pub referee_reward_status: PartyRewardStatus,
    /// When the referee's reward was used.
    pub referee_reward_redeemed_at: Option<DateTime<Utc>>,
    /// The referee's reward amount.
    pub referee_reward_amount: Option<Money>,
    /// When the code stops accepting registrations.
    pub expires_at: DateTime<Utc>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// The experiment variant it was assigned, if its program runs one.
    pub variant: Option<String>,
}

impl Referral {
    fn lifecycle(&self) -> ReferralLifecycle {
        ReferralLifecycle::from_stored(
            self.stored_status,
            self.expires_at,
            self.referee_registered_at,
            self.converted_at,
        )
    }
}

#[derive(Queryable, Selectable, serde::Deserialize)]
#[diesel(table_name = referrals)]
pub(crate) struct ReferralRow {
    id: DbUuid,
    referral_code: String,
    referrer_id: DbUuid,
    referee_email: String,
    referee_phone: Option<String>,
    referee_name: Option<String>,
    referee_patient_id: Option<DbUuid>,
    program_id: DbUuid,
    referral_source: Option<String>,
    referral_message: Option<String>,
    status: String,
    referee_registered_at: Option<DbTime>,
    first_consultation_id: Option<DbUuid>,
    first_order_id: Option<DbUuid>,
    converted_at: Option<DbTime>,
    referrer_reward_status: String,
    referrer_reward_earned_at: Option<DbTime>,
    referrer_reward_redeemed_at: Option<DbTime>,
    referrer_reward_amount_cents: Option<i64>,
    referee_reward_status: String,
    referee_reward_redeemed_at: Option<DbTime>,
    referee_reward_amount_cents: Option<i64>,
    expires_at: DbTime,
    created_at: DbTime,
    updated_at: DbTime,
    variant: Option<String>,
}

impl ReferralRow {
    pub(crate) fn into_referral(self, now: DateTime<Utc>) -> Result<Referral, StoreError> {
        let stored: ReferralStatus = parse_enum(&self.status, "referral status")?;
        Ok(Referral {
            id: ReferralId::from_uuid(self.id.0),
            referral_code: ReferralCode::parse(&self.referral_code)
                .map_err(|_| corrupt("referral code"))?,
            referrer_id: PatientId::from_uuid(self.referrer_id.0),
            referee_email: Email::parse(&self.referee_email)
                .map_err(|_| corrupt("referee email"))?,
            referee_phone: self
                .referee_phone
                .map(|p| Phone::parse(&p))
                .transpose()
                .map_err(|_| corrupt("referee phone"))?,
            referee_name: self.referee_name,
            referee_patient_id: self.referee_patient_id.map(|i| PatientId::from_uuid(i.0)),
            program_id: ProgramId::from_uuid(self.program_id.0),
            referral_source: self
                .referral_source
                .as_deref()
                .map(|s| parse_enum(s, "referral source"))
                .transpose()?,
            referral_message: self.referral_message,
            status: effective_status(stored, self.expires_at.0, now),
            stored_status: stored,
            referee_registered_at: self.referee_registered_at.map(|t| t.0),
            first_consultation_id: self
                .first_consultation_id
                .map(|i| ConsultationId::from_uuid(i.0)),
            first_order_id: self.first_order_id.map(|i| OrderId::from_uuid(i.0)),
            converted_at: self.converted_at.map(|t| t.0),
            referrer_reward_status: parse_enum(
                &self.referrer_reward_status,
                "referrer reward status",
            )?,
            referrer_reward_earned_at: self.referrer_reward_earned_at.map(|t| t.0),
            referrer_reward_redeemed_at: self.referrer_reward_redeemed_at.map(|t| t.0),
            referrer_reward_amount: money(
                self.referrer_reward_amount_cents,
                "referrer reward amount",
            )?,
            referee_reward_status: parse_enum(
                &self.referee_reward_status,
                "referee reward status",
            )?,
            referee_reward_redeemed_at: self.referee_reward_redeemed_at.map(|t| t.0),
            referee_reward_amount: money(
                self.referee_reward_amount_cents,
                "referee reward amount",
            )?,
            expires_at: self.expires_at.0,
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
            variant: self.variant,
        })
    }
}

/// What a patient submits to refer someone.
#[derive(Debug, Clone, PartialEq)]
pub struct NewReferral {
    /// The referring patient.
    pub referrer_id: PatientId,
    /// The program; `None` picks the oldest active program that accepts the referrer.
    pub program_id: Option<ProgramId>,
    /// Referee's email.
    pub referee_email: Email,
    /// Referee's phone (needed for `sms`).
    pub referee_phone: Option<Phone>,
    /// Referee's name.
    pub referee_name: Option<String>,
    /// How to share: `email` and `sms` queue an invitation.
    pub referral_source: Option<ReferralSource>,
    /// A personal message.
    pub referral_message: Option<String>,
}

/// The referral with `id`.
///
/// # Errors
/// [`StoreError::NotFound`].
pub fn get(
    conn: &mut DbConnection,
    id: ReferralId,
    now: DateTime<Utc>,
) -> Result<Referral, StoreError> {
    referrals::table
        .find(DbUuid::from(id))
        .select(ReferralRow::as_select())
        .first(conn)?
        .into_referral(now)
}

/// The referral with `id` if `referrer` made it; otherwise not found (never reveal that
/// another patient's referral exists).
///
/// # Errors
/// [`StoreError::NotFound`].
pub fn get_for_referrer(
    conn: &mut DbConnection,
    id: ReferralId,
    referrer: PatientId,
    now: DateTime<Utc>,
) -> Result<Referral, StoreError> {
    let referral = get(conn, id, now)?;
    if referral.referrer_id != referrer {
        return Err(StoreError::NotFound);
    }
    Ok(referral)
}

/// The referral with `code` (normalised: case, `-` and spaces do not matter).
///
/// # Errors
/// [`StoreError::NotFound`], also for text that is not a code.
pub fn find_by_code(
    conn: &mut DbConnection,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Referral, StoreError> {
    let code = ReferralCode::parse(code).map_err(|_| StoreError::NotFound)?;
    referrals::table
        .filter(referrals::referral_code.eq(code.to_string()))
        .select(ReferralRow::as_select())
        .first(conn)?
        .into_referral(now)
}

fn pick_program(
    conn: &mut DbConnection,
    referrer: &Patient,
    wanted: Option<ProgramId>,
    now: DateTime<Utc>,
) -> Result<Program, StoreError> {
    let today = now.date_naive();
    match wanted {
        Some(id) => {
            let program = programs::get(conn, id)?;
            program.admits(&referrer.profile(), today)?;
            Ok(program)
        }
        None => programs::active(conn)?
            .into_iter()
            .find(|p| p.admits(&referrer.profile(), today).is_ok())
            .ok_or(StoreError::NoActiveProgram),
    }
}

/// Creates a referral: picks or checks the program, enforces self-referral, duplicate
/// referee and the referral limit against the stored facts, generates a unique code and
/// queues the invitation when it is to be sent by email or SMS. One transaction, holding
/// the referrer's lock; the partial unique index on open referrals backs the duplicate
/// check when two referrers invite the same person at once.
///
/// # Errors
/// [`StoreError::NotFound`] (referrer or program), [`StoreError::NoActiveProgram`], and the
/// domain's `ProgramNotActive`, `NotEligible`, `SelfReferral`, `DuplicateReferee`,
/// `ReferralLimitReached`, `InvalidPhone` (SMS without a phone).
pub fn create(
    conn: &mut DbConnection,
    rng: &dyn SecureRandom,
    input: &NewReferral,
    now: DateTime<Utc>,
) -> Result<Referral, StoreError> {
    if input.referral_source == Some(ReferralSource::Sms) && input.referee_phone.is_none() {
        return Err(DomainError::InvalidPhone.into());
    }
    write_transaction(conn, |conn| {
        patients::lock(conn, input.referrer_id)?;
        let referrer = patients::get(conn, input.referrer_id)?;
        let program = pick_program(conn, &referrer, input.program_id, now)?;
        let program_id = DbUuid::from(program.id);
        let email = input.referee_email.as_str();

        // Pending referrals past their expiry are expired, sweep or not: store it for this
        // referee so that the unique index on open referrals lets a new one in.
        diesel::update(
            referrals::table
                .filter(referrals::program_id.eq(program_id))
                .filter(referrals::referee_email.eq(email))
                .filter(referrals::status.eq(ReferralStatus::Pending.as_str()))
                .filter(referrals::expires_at.le(DbTime(now))),
        )
        .set((
            referrals::status.eq(ReferralStatus::Expired.as_str()),
            referrals::updated_at.eq(DbTime(now)),
        ))
        .execute(conn)?;

        let referee_is_patient: i64 = patients_table::table
            .filter(patients_table::email.eq(email))
            .count()
            .get_result(conn)?;
        let open_for_referee: i64 = referrals::table
            .filter(referrals::program_id.eq(program_id))
            .filter(referrals::referee_email.eq(email))
            .filter(referrals::status.eq_any([
                ReferralStatus::Pending.as_str(),
                ReferralStatus::Registered.as_str(),
            ]))
            .count()
            .get_result(conn)?;
        let counted_for_referrer: i64 = referrals::table
            .filter(referrals::program_id.eq(program_id))
            .filter(referrals::referrer_id.eq(DbUuid::from(referrer.id)))
            .filter(
                referrals::status
                    .eq_any([
                        ReferralStatus::Registered.as_str(),
                        ReferralStatus::Converted.as_str(),
                    ])
                    .or(referrals::status
                        .eq(ReferralStatus::Pending.as_str())
                        .and(referrals::expires_at.gt(DbTime(now)))),
            )
            .count()
            .get_result(conn)?;
        CreationFacts {
            referrer_email: Some(&referrer.email),
            referee_email: &input.referee_email,
            referee_is_patient: referee_is_patient > 0,
            referee_has_open_referral_in_program: open_for_referee > 0,
            referrer_open_referrals_in_program: u32::try_from(counted_for_referrer)
                .unwrap_or(u32::MAX),
            max_referrals_per_patient: program.max_referrals_per_patient,
        }
        .decide()?;

        let id = ReferralId::new_random();
        let expires = expires_at(now, program.expiry_days)?;
        let variant =
            referral_domain::experiment::assign(&program.variants, program.id, referrer.id);
        let code = insert_with_fresh_code(conn, rng, id, input, &program, variant, expires, now)?;
        let cohort = Cohort::new(
            program_id,
            now,
            variant.map(|v| v.name.as_str()),
            DbUuid::from(referrer.id),
        );
        rollups::bump(
            conn,
            &cohort,
            Delta {
                referrals: 1,
                ..Delta::default()
            },
        )?;
        rollups::bump_referrer(conn, &cohort, 1, 0)?;
        queue_invitation(conn, input, &referrer, &program, variant, &code, id, now)?;
        get(conn, id, now)
    })
}

#[allow(clippy::too_many_arguments)]
fn insert_with_fresh_code(
    conn: &mut DbConnection,
    rng: &dyn SecureRandom,
    id: ReferralId,
    input: &NewReferral,
    program: &Program,
    variant: Option<&Variant>,
    expires: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<ReferralCode, StoreError> {
    for _ in 0..CODE_ATTEMPTS {
        let code = ReferralCode::generate(rng)?;
        // A savepoint, so that a lost race on a unique index does not abort the whole
        // transaction on PostgreSQL.
        let inserted = conn.transaction(|c| {
            diesel::insert_into(referrals::table)
                .values((
                    referrals::id.eq(DbUuid::from(id)),
                    referrals::referral_code.eq(code.to_string()),
                    referrals::referrer_id.eq(DbUuid::from(input.referrer_id)),
                    referrals::referee_email.eq(input.referee_email.as_str()),
                    referrals::referee_phone.eq(input.referee_phone.as_ref().map(Phone::as_str)),
                    referrals::referee_name.eq(input.referee_name.as_deref()),
                    referrals::program_id.eq(DbUuid::from(program.id)),
                    referrals::referral_source
                        .eq(input.referral_source.map(ReferralSource::as_str)),
                    referrals::referral_message.eq(input.referral_message.as_deref()),
                    referrals::status.eq(ReferralStatus::Pending.as_str()),
                    referrals::referrer_reward_status.eq(PartyRewardStatus::Pending.as_str()),
                    referrals::referee_reward_status.eq(PartyRewardStatus::Pending.as_str()),
                    referrals::variant.eq(variant.map(|v| v.name.as_str())),
                    referrals::expires_at.eq(DbTime(expires)),
                    referrals::created_at.eq(DbTime(now)),
                    referrals::updated_at.eq(DbTime(now)),
                ))
                .execute(c)
        });
        match inserted {
            Ok(_) => return Ok(code),
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                info,
            )) => {
                let on_code = info
                    .constraint_name()
                    .is_some_and(|c| c.contains("referral_code"))
                    || info.message().contains("referral_code");
                if !on_code {
                    // The open-referee index: someone else invited this person just now.
                    return Err(DomainError::DuplicateReferee.into());
                }
                tracing::warn!("referral code collision; generating another");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Corrupt(
        "could not generate a unique referral code".into(),
    ))
}

#[allow(clippy::too_many_arguments)]
fn queue_invitation(
    conn: &mut DbConnection,
    input: &NewReferral,
    referrer: &Patient,
    program: &Program,
    variant: Option<&Variant>,
    code: &ReferralCode,
    id: ReferralId,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let (kind, recipient) = match (input.referral_source, &input.referee_phone) {
        (Some(ReferralSource::Email), _) => {
            (OutboxKind::Email, input.referee_email.as_str().to_owned())
        }
        (Some(ReferralSource::Sms), Some(phone)) => (OutboxKind::Sms, phone.as_str().to_owned()),
        _ => return Ok(()),
    };
    outbox::enqueue(
        conn,
        &NewMessage {
            kind,
            idempotency_key: format!("invitation:{id}:{kind}"),
            recipient,
            message: Message::ReferralInvitation(Invitation {
                referral_id: id.as_uuid(),
                referral_code: code.to_string(),
                referrer_name: referrer.name.clone(),
                referee_name: input.referee_name.clone(),
                referral_message: input.referral_message.clone(),
                referee_reward_type: program.referee_reward_type,
                referee_reward_value: program
                    .referee_reward_in(variant.map(|v| v.name.as_str()))
                    .map(|r| r.value.to_string()),
                expiry_days: program.expiry_days,
                headline: variant.and_then(|v| v.invitation_headline.clone()),
            }),
        },
        now,
    )?;
    Ok(())
}

/// Where a request came from, for interaction rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestOrigin {
    /// Caller's address.
    pub ip_address: Option<IpAddr>,
    /// Caller's user agent.
    pub user_agent: Option<String>,
    /// Where the link was opened from (`utm_source` or similar).
    pub source: Option<String>,
}

/// Appends an interaction row (click, email sent, registration, conversion).
///
/// # Errors
/// Database errors.
pub fn record_interaction(
    conn: &mut DbConnection,
    referral_id: ReferralId,
    kind: InteractionType,
    origin: &RequestOrigin,
    metadata: Option<serde_json::Value>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    insert_interaction(
        conn,
        crate::conn::new_row_id(),
        referral_id,
        kind,
        origin,
        metadata,
        now,
    )
}

/// As [`record_interaction`], under an id chosen beforehand (a conversion decides its
/// writes, ids included, before writing any).
pub(crate) fn insert_interaction(
    conn: &mut DbConnection,
    id: uuid::Uuid,
    referral_id: ReferralId,
    kind: InteractionType,
    origin: &RequestOrigin,
    metadata: Option<serde_json::Value>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    diesel::insert_into(referral_interactions::table)
        .values((
            referral_interactions::id.eq(DbUuid(id)),
            referral_interactions::referral_id.eq(DbUuid::from(referral_id)),
            referral_interactions::interaction_type.eq(kind.as_str()),
            referral_interactions::ip_address.eq(origin.ip_address.map(DbInet)),
            referral_interactions::user_agent.eq(origin.user_agent.as_deref()),
            referral_interactions::source.eq(origin.source.as_deref()),
            referral_interactions::metadata.eq(metadata.map(DbJson)),
            referral_interactions::created_at.eq(DbTime(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// One interaction row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Interaction {
    /// What happened.
    pub interaction_type: InteractionType,
    /// Where from.
    pub source: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// The interactions of a referral, oldest first.
///
/// # Errors
/// Database errors.
pub fn interactions(
    conn: &mut DbConnection,
    referral_id: ReferralId,
) -> Result<Vec<Interaction>, StoreError> {
    let rows: Vec<(String, Option<String>, DbTime)> = referral_interactions::table
        .filter(referral_interactions::referral_id.eq(DbUuid::from(referral_id)))
        .order((
            referral_interactions::created_at.asc(),
            referral_interactions::id.asc(),
        ))
        .select((
            referral_interactions::interaction_type,
            referral_interactions::source,
            referral_interactions::created_at,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(kind, source, at)| {
            Ok(Interaction {
                interaction_type: parse_enum(&kind, "interaction type")?,
                source,
                created_at: at.0,
            })
        })
        .collect()
}

/// Records a click on a referral link as its interaction row, in **one statement**
/// (`INSERT … SELECT` from the code's row), built by the query builder so that its plan is
/// prepared once per connection. The referral itself is not touched here: a code shared
/// widely would make every click wait for the previous one on that row. The interaction rows
/// are the count ([`click_tallies`]); the caller marks first clicks, for the funnel, in
/// batches with [`mark_clicked`].
///
/// # Errors
/// [`StoreError::NotFound`] for an unknown code; nothing is recorded then.
pub fn record_click(
    conn: &mut DbConnection,
    code: &str,
    origin: &RequestOrigin,
    now: DateTime<Utc>,
) -> Result<ReferralCode, StoreError> {
    use crate::sql_types::{PortableInet, PortableTimestamptz, PortableUuid};
    use diesel::sql_types::{Nullable, Text};
    let code = ReferralCode::parse(code).map_err(|_| StoreError::NotFound)?;
    let source = referrals::table
        .filter(referrals::referral_code.eq(code.to_string()))
        .select((
            DbUuid(crate::conn::new_row_id()).into_sql::<PortableUuid>(),
            referrals::id,
            InteractionType::Click.as_str().into_sql::<Text>(),
            origin
                .ip_address
                .map(DbInet)
                .into_sql::<Nullable<PortableInet>>(),
            origin.user_agent.clone().into_sql::<Nullable<Text>>(),
            origin.source.clone().into_sql::<Nullable<Text>>(),
            DbTime(now).into_sql::<PortableTimestamptz>(),
        ));
    let inserted = diesel::insert_into(referral_interactions::table)
        .values(source)
        .into_columns((
            referral_interactions::id,
            referral_interactions::referral_id,
            referral_interactions::interaction_type,
            referral_interactions::ip_address,
            referral_interactions::user_agent,
            referral_interactions::source,
            referral_interactions::created_at,
        ))
        .execute(conn)?;
    if inserted == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(code)
}

/// One click to record with [`record_clicks`].
#[derive(Debug, Clone, PartialEq)]
pub struct ClickToRecord {
    /// The code as the visitor sent it.
    pub code: String,
    /// Where the click came from.
    pub origin: RequestOrigin,
    /// When.
    pub at: DateTime<Utc>,
}

/// Records several clicks in **one write transaction**, each as [`record_click`] does: on
/// SQLite, where writers take turns, a group of waiting clicks then costs one write lock and
/// one commit instead of one each. Each click gets its own answer, in order: its code, or
/// [`StoreError::NotFound`] for an unknown code, which does not stop the others.
///
/// # Errors
/// A database error fails the whole group, and nothing of it is recorded.
pub fn record_clicks(
    conn: &mut DbConnection,
    clicks: &[ClickToRecord],
) -> Result<Vec<Result<ReferralCode, StoreError>>, StoreError> {
    write_transaction(conn, |conn| {
        clicks
            .iter()
            .map(
                |click| match record_click(conn, &click.code, &click.origin, click.at) {
                    Err(StoreError::NotFound) => Ok(Err(StoreError::NotFound)),
                    other => other.map(Ok),
                },
            )
            .collect()
    })
}

/// A referral's link clicks, counted from its interaction rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ClickTally {
    /// Clicks on its link.
    pub clicks: i64,
    /// The last of them.
    pub last_clicked_at: Option<DateTime<Utc>>,
}

/// The click tallies of the referrals `ids`, counted from their interaction rows in one
/// query (a range of `idx_referral_interactions_referral` each, read from the index alone). A
/// referral never clicked is not in the map: its tally is the default, no clicks.
///
/// Clicks are counted on read rather than added to a counter on the referral: with clicks
/// spread over many codes, such a counter costs one more row update per click.
///
/// # Errors
/// Database errors.
pub fn click_tallies(
    conn: &mut DbConnection,
    ids: &[ReferralId],
) -> Result<std::collections::HashMap<ReferralId, ClickTally>, StoreError> {
    use crate::sql_types::PortableTimestamptz;
    use diesel::sql_types::Nullable;
    if ids.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    let keys: Vec<DbUuid> = ids.iter().map(|&id| DbUuid::from(id)).collect();
    let rows: Vec<(DbUuid, i64, Option<DbTime>)> = referral_interactions::table
        .filter(referral_interactions::referral_id.eq_any(&keys))
        .filter(referral_interactions::interaction_type.eq(InteractionType::Click.as_str()))
        .group_by(referral_interactions::referral_id)
        .select((
            referral_interactions::referral_id,
            diesel::dsl::count_star(),
            // `max` of diesel wants a built-in type; the column's type is the portable one.
            diesel::dsl::sql::<Nullable<PortableTimestamptz>>("max(created_at)"),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, clicks, last)| {
            (
                ReferralId::from_uuid(id.0),
                ClickTally {
                    clicks,
                    last_clicked_at: last.map(|t| t.0),
                },
            )
        })
        .collect())
}

/// The click tally of one referral (see [`click_tallies`]).
///
/// # Errors
/// Database errors.
pub fn click_tally(conn: &mut DbConnection, id: ReferralId) -> Result<ClickTally, StoreError> {
    Ok(click_tallies(conn, &[id])?.remove(&id).unwrap_or_default())
}

/// A code clicked since the last batch, with the earliest of those clicks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickedCode {
    /// The code, as stored.
    pub code: String,
    /// Its first click since the last batch.
    pub first_clicked_at: DateTime<Utc>,
}

/// Codes read at once by [`mark_clicked`] on SQLite: well under its limit of bound parameters.
const CLICKED_CODES_PER_READ: usize = 500;

/// What [`mark_clicked_by_key`] reads of a referral not clicked before.
#[derive(Queryable)]
struct UnclickedReferral {
    code: String,
    id: DbUuid,
    program_id: DbUuid,
    created_at: DbTime,
    variant: Option<String>,
    referrer_id: DbUuid,
}

/// Marks the referrals behind clicked codes as clicked, in one transaction: a referral not
/// clicked before gets its `first_clicked_at` and enters the funnel's "clicked" step in the
/// rollups (one upsert per cohort). Referrals clicked before and unknown codes are left as
/// they are, so a batch of clicks on codes clicked before writes nothing. The clicks
/// themselves are the interaction rows [`record_click`] wrote; see [`click_tallies`].
///
/// # Errors
/// Database errors (nothing is marked then: the caller keeps the codes).
pub fn mark_clicked(conn: &mut DbConnection, clicked: &[ClickedCode]) -> Result<(), StoreError> {
    write_transaction(conn, |conn| {
        let mut first_clicks = match conn {
            DbConnection::Pg(c) => mark_clicked_in_postgres(c, clicked)?,
            DbConnection::Sqlite(_) => mark_clicked_by_key(conn, clicked)?,
        };
        first_clicks.sort_by(|a, b| {
            (a.program_id.0, &a.day, &a.variant).cmp(&(b.program_id.0, &b.day, &b.variant))
        });
        for cohort in first_clicks.chunk_by(|a, b| {
            (a.program_id, &a.day, &a.variant) == (b.program_id, &b.day, &b.variant)
        }) {
            let clicked = i64::try_from(cohort.len()).unwrap_or(i64::MAX);
            rollups::bump(
                conn,
                &cohort[0],
                Delta {
                    clicked,
                    ..Delta::default()
                },
            )?;
        }
        Ok(())
    })
}

/// A referral that [`mark_clicked_in_postgres`] marked as clicked.
#[derive(QueryableByName)]
#[diesel(check_for_backend(diesel::pg::Pg))]
struct FirstClicked {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    program_id: uuid::Uuid,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    variant: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    referrer_id: uuid::Uuid,
}

/// The whole batch in one statement: one round trip, and only the referrals not clicked
/// before are written. The row lock decides which batch was first, also between instances:
/// a second batch waiting on the row finds `first_clicked_at` set and skips it. Codes go in
/// sorted, so that instances marking at once tend to lock their rows in the same order;
/// should two still deadlock, PostgreSQL fails one and its instance keeps the codes for its
/// next batch.
fn mark_clicked_in_postgres(
    c: &mut diesel::PgConnection,
    clicked: &[ClickedCode],
) -> Result<Vec<Cohort>, StoreError> {
    use diesel::sql_types::{Array, Text, Timestamptz};
    let mut sorted: Vec<&ClickedCode> = clicked.iter().collect();
    sorted.sort_by(|a, b| a.code.cmp(&b.code));
    let codes: Vec<&str> = sorted.iter().map(|c| c.code.as_str()).collect();
    let times: Vec<DateTime<Utc>> = sorted.iter().map(|c| c.first_clicked_at).collect();
    let first: Vec<FirstClicked> = diesel::sql_query(
        "UPDATE referrals AS r SET first_clicked_at = u.first_clicked_at \
           FROM unnest($1, $2) AS u(code, first_clicked_at) \
          WHERE r.referral_code = u.code AND r.first_clicked_at IS NULL \
         RETURNING r.program_id, r.created_at, r.variant, r.referrer_id",
    )
    .bind::<Array<Text>, _>(codes)
    .bind::<Array<Timestamptz>, _>(times)
    .load(c)?;
    Ok(first
        .into_iter()
        .map(|f| {
            Cohort::new(
                DbUuid(f.program_id),
                f.created_at,
                f.variant.as_deref(),
                DbUuid(f.referrer_id),
            )
        })
        .collect())
}

/// SQLite's way: the referrals not clicked before read [`CLICKED_CODES_PER_READ`] codes at
/// a time, each marked by its key.
fn mark_clicked_by_key(
    conn: &mut DbConnection,
    clicked: &[ClickedCode],
) -> Result<Vec<Cohort>, StoreError> {
    let mut first_clicks: Vec<Cohort> = Vec::new();
    for chunk in clicked.chunks(CLICKED_CODES_PER_READ) {
        let codes: Vec<&str> = chunk.iter().map(|c| c.code.as_str()).collect();
        let unclicked: Vec<UnclickedReferral> = referrals::table
            .filter(referrals::referral_code.eq_any(&codes))
            .filter(referrals::first_clicked_at.is_null())
            .select((
                referrals::referral_code,
                referrals::id,
                referrals::program_id,
                referrals::created_at,
                referrals::variant,
                referrals::referrer_id,
            ))
            .load(conn)?;
        let by_code: std::collections::HashMap<&str, &ClickedCode> =
            chunk.iter().map(|c| (c.code.as_str(), c)).collect();
        for referral in unclicked {
            let Some(code) = by_code.get(referral.code.as_str()) else {
                continue;
            };
            // The guard keeps the mark once-only should another writer have set it between
            // the read and this update.
            let marked = diesel::update(
                referrals::table
                    .find(referral.id)
                    .filter(referrals::first_clicked_at.is_null()),
            )
            .set(referrals::first_clicked_at.eq(Some(DbTime(code.first_clicked_at))))
            .execute(conn)?;
            if marked == 1 {
                first_clicks.push(Cohort::new(
                    referral.program_id,
                    referral.created_at.0,
                    referral.variant.as_deref(),
                    referral.referrer_id,
                ));
            }
        }
    }
    Ok(first_clicks)
}

/// Who registers with a code.
#[derive(Debug, Clone, PartialEq)]
pub struct Registrant {
    /// The platform's id for the new patient; `None` makes one (a visitor registering).
    pub patient_id: Option<PatientId>,
    /// Email of the new patient.
    pub email: Email,
    /// Name.
    pub name: Option<String>,
    /// Phone.
    pub phone: Option<Phone>,
}

/// The result of registering with a code.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Registration {
    /// The new patient.
    pub patient: Patient,
    /// The referral, now registered.
    pub referral: Referral,
    /// The referee's reward (withheld ones carry their reason), if the program gives one.
    pub referee_reward: Option<Reward>,
}

/// Registers a new patient with a referral code: creates the patient, links them to the
/// referral and grants the referee reward, in one transaction. Of several registrations
/// with one code at once, exactly one wins.
///
/// # Errors
/// [`StoreError::NotFound`] (unknown code), the domain's `AlreadyRegistered`,
/// `ReferralExpired`, `ReferralDeclined`, `SelfReferral` (the referrer's own email) and
/// `DuplicateReferee` (the email is already a patient's).
pub fn register(
    conn: &mut DbConnection,
    code: &str,
    registrant: &Registrant,
    policy: &InducementPolicy,
    now: DateTime<Utc>,
) -> Result<Registration, StoreError> {
    let code = ReferralCode::parse(code).map_err(|_| StoreError::NotFound)?;
    write_transaction(conn, |conn| {
        let id: DbUuid = referrals::table
            .filter(referrals::referral_code.eq(code.to_string()))
            .select(referrals::id)
            .first(conn)?;
        // Lock the referral row first: concurrent registrations with this code queue here
        // and see the winner's result.
        diesel::update(referrals::table.find(id))
            .set(referrals::updated_at.eq(DbTime(now)))
            .execute(conn)?;
        let referral = get(conn, ReferralId::from_uuid(id.0), now)?;
        let mut lifecycle = referral.lifecycle();
        lifecycle.register(now)?;

        let referrer = patients::get(conn, referral.referrer_id)?;
        if referrer.email == registrant.email || registrant.patient_id == Some(referrer.id) {
            return Err(DomainError::SelfReferral.into());
        }
        let details = PatientDetails {
            id: registrant.patient_id.unwrap_or_else(PatientId::new_random),
            email: registrant.email.clone(),
            name: registrant.name.clone().or(referral.referee_name.clone()),
            phone: registrant.phone.clone(),
        };
        // The unique indexes on patients decide whether this person is already one, also
        // when the same email registers with two codes at once.
        let patient = match patients::insert(conn, &details, now) {
            Err(StoreError::EmailInUse) => return Err(DomainError::DuplicateReferee.into()),
            other => other?,
        };

        let updated = diesel::update(
            referrals::table
                .find(id)
                .filter(referrals::status.eq(ReferralStatus::Pending.as_str())),
        )
        .set((
            referrals::status.eq(ReferralStatus::Registered.as_str()),
            referrals::referee_patient_id.eq(Some(DbUuid::from(patient.id))),
            referrals::referee_registered_at.eq(Some(DbTime(now))),
            referrals::updated_at.eq(DbTime(now)),
        ))
        .execute(conn)?;
        if updated == 0 {
            return Err(DomainError::AlreadyRegistered.into());
        }
        let cohort = Cohort::of_referral(&referral);
        rollups::bump(
            conn,
            &cohort,
            Delta {
                registered: 1,
                ..Delta::default()
            },
        )?;

        let program = programs::get(conn, referral.program_id)?;
        let referee_reward = match program.referee_reward_in(referral.variant.as_deref()) {
            Some(spec) => Some(rewards::grant(
                conn,
                &referral,
                &cohort,
                &patient,
                Party::Referee,
                &spec,
                policy,
                program.reward_validity_days,
                now,
            )?),
            None => None,
        };
        record_interaction(
            conn,
            referral.id,
            InteractionType::Registration,
            &RequestOrigin::default(),
            None,
            now,
        )?;
        Ok(Registration {
            patient,
            referral: get(conn, referral.id, now)?,
            referee_reward,
        })
    })
}

/// Filters of the referral list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferralFilter {
    /// Status as of now (a pending referral past expiry counts as expired).
    pub status: Option<ReferralStatus>,
    /// Program.
    pub program_id: Option<ProgramId>,
    /// Only these programs (a provider's own), when set: tenancy.
    pub within: Option<Vec<ProgramId>>,
    /// Referrer.
    pub referrer_id: Option<PatientId>,
    /// Created at or after.
    pub from: Option<DateTime<Utc>>,
    /// Created before.
    pub to: Option<DateTime<Utc>>,
}

/// How many referrals `referrer` created at or after `since`, and when the oldest of them
/// was created (a per-patient daily limit frees up a place then).
///
/// # Errors
/// Database errors.
pub fn created_since(
    conn: &mut DbConnection,
    referrer: PatientId,
    since: DateTime<Utc>,
) -> Result<(i64, Option<DateTime<Utc>>), StoreError> {
    let mine = || {
        referrals::table
            .filter(referrals::referrer_id.eq(DbUuid::from(referrer)))
            .filter(referrals::created_at.ge(DbTime(since)))
    };
    let count: i64 = mine().count().get_result(conn)?;
    let oldest: Option<DbTime> = mine()
        .select(referrals::created_at)
        .order(referrals::created_at.asc())
        .first(conn)
        .optional()?;
    Ok((count, oldest.map(|t| t.0)))
}

/// Whether no referral exists yet (the demo sign-in offers demo data then).
///
/// # Errors
/// Database errors.
pub fn none_yet(conn: &mut DbConnection) -> Result<bool, StoreError> {
    let any: Option<DbUuid> = referrals::table
        .select(referrals::id)
        .first(conn)
        .optional()?;
    Ok(any.is_none())
}

/// Referrals matching `filter`, newest first (ties broken by id, so pages are stable).
///
/// # Errors
/// Database errors.
pub fn list(
    conn: &mut DbConnection,
    filter: &ReferralFilter,
    now: DateTime<Utc>,
    page: Page,
) -> Result<Paged<Referral>, StoreError> {
    let build = || {
        let mut q = referrals::table.into_boxed();
        q = match filter.status {
            None => q,
            Some(ReferralStatus::Pending) => q
                .filter(referrals::status.eq(ReferralStatus::Pending.as_str()))
                .filter(referrals::expires_at.gt(DbTime(now))),
            Some(ReferralStatus::Expired) => q.filter(
                referrals::status
                    .eq(ReferralStatus::Expired.as_str())
                    .or(referrals::status
                        .eq(ReferralStatus::Pending.as_str())
                        .and(referrals::expires_at.le(DbTime(now)))),
            ),
            Some(other) => q.filter(referrals::status.eq(other.as_str())),
        };
        if let Some(p) = filter.program_id {
            q = q.filter(referrals::program_id.eq(DbUuid::from(p)));
        }
        if let Some(ids) = &filter.within {
            q = q.filter(
                referrals::program_id
                    .eq_any(ids.iter().map(|p| DbUuid::from(*p)).collect::<Vec<_>>()),
            );
        }
        if let Some(r) = filter.referrer_id {
            q = q.filter(referrals::referrer_id.eq(DbUuid::from(r)));
        }
        if let Some(from) = filter.from {
            q = q.filter(referrals::created_at.ge(DbTime(from)));
        }
        if let Some(to) = filter.to {
            q = q.filter(referrals::created_at.lt(DbTime(to)));
        }
        q
    };
    let total = build().count().get_result(conn)?;
    let rows: Vec<ReferralRow> = build()
        .order((referrals::created_at.desc(), referrals::id.desc()))
        .limit(page.limit)
        .offset(page.offset)
        .select(ReferralRow::as_select())
        .load(conn)?;
    let items = rows
        .into_iter()
        .map(|r| r.into_referral(now))
        .collect::<Result<_, _>>()?;
    Ok(Paged { items, total })
}

/// Declines a pending referral (the referee or an admin).
///
/// # Errors
/// [`StoreError::NotFound`]; the domain's `ReferralExpired` or `DeclineNotPending`.
pub fn decline(
    conn: &mut DbConnection,
    id: ReferralId,
    now: DateTime<Utc>,
) -> Result<Referral, StoreError> {
    close_pending(
        conn,
        id,
        now,
        |lifecycle| lifecycle.decline(now),
        DomainError::DeclineNotPending,
    )
}

/// An admin ends a pending referral now: its code stops working at once.
///
/// # Errors
/// [`StoreError::NotFound`]; the domain's `ExpireNotPending` when it is not pending.
pub fn expire_now(
    conn: &mut DbConnection,
    id: ReferralId,
    now: DateTime<Utc>,
) -> Result<Referral, StoreError> {
    close_pending(
        conn,
        id,
        now,
        |lifecycle| lifecycle.expire_now(now),
        DomainError::ExpireNotPending,
    )
}

/// Moves a pending referral to where the domain's `transition` takes it (status and expiry),
/// guarded on its still being pending when written; `refused` is the error when another
/// change got there first.
fn close_pending(
    conn: &mut DbConnection,
    id: ReferralId,
    now: DateTime<Utc>,
    transition: impl FnOnce(&mut ReferralLifecycle) -> Result<(), DomainError>,
    refused: fn(ReferralStatus) -> DomainError,
) -> Result<Referral, StoreError> {
    write_transaction(conn, |conn| {
        let referral = get(conn, id, now)?;
        let mut lifecycle = referral.lifecycle();
        transition(&mut lifecycle)?;
        let updated = diesel::update(
            referrals::table
                .find(DbUuid::from(id))
                .filter(referrals::status.eq(ReferralStatus::Pending.as_str())),
        )
        .set((
            referrals::status.eq(lifecycle.status().as_str()),
            referrals::expires_at.eq(DbTime(lifecycle.expires_at())),
            referrals::updated_at.eq(DbTime(now)),
        ))
        .execute(conn)?;
        if updated == 0 {
            return Err(refused(referral.status).into());
        }
        get(conn, id, now)
    })
}

/// Queues the invitation of a pending referral again (the same message as the first), at
/// most once per referral per clock hour, so a double click sends one.
///
/// # Errors
/// [`StoreError::NotFound`]; the domain's `ResendNotPossible` (not pending, or not invited
/// by email or SMS) and `InvitationRecentlySent`.
pub fn resend_invitation(
    conn: &mut DbConnection,
    id: ReferralId,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    write_transaction(conn, |conn| {
        let referral = get(conn, id, now)?;
        if referral.status != ReferralStatus::Pending {
            return Err(DomainError::ResendNotPossible.into());
        }
        let kind = match referral.referral_source {
            Some(ReferralSource::Email) => OutboxKind::Email,
            Some(ReferralSource::Sms) => OutboxKind::Sms,
            _ => return Err(DomainError::ResendNotPossible.into()),
        };
        let first = outbox::by_key(conn, &format!("invitation:{id}:{kind}"))?
            .ok_or(DomainError::ResendNotPossible)?;
        let queued = outbox::enqueue(
            conn,
            &NewMessage {
                kind,
                idempotency_key: format!(
                    "invitation:{id}:{kind}:resend:{}",
                    now.timestamp().div_euclid(3600)
                ),
                recipient: first.recipient,
                message: Message::from_parts(&first.template, &first.payload)
                    .map_err(|_| DomainError::ResendNotPossible)?,
            },
            now,
        )?;
        if queued {
            Ok(())
        } else {
            Err(DomainError::InvitationRecentlySent.into())
        }
    })
}

/// Stores the expiry of every pending referral past `expires_at`; returns how many.
///
/// # Errors
/// Database errors.
pub fn expire_due(conn: &mut DbConnection, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let expired = diesel::update(
        referrals::table
            .filter(referrals::status.eq(ReferralStatus::Pending.as_str()))
            .filter(referrals::expires_at.le(DbTime(now))),
    )
    .set((
        referrals::status.eq(ReferralStatus::Expired.as_str()),
        referrals::updated_at.eq(DbTime(now)),
    ))
    .execute(conn)?;
    Ok(expired)
}
