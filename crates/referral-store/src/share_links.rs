//! Personal share links (#24): one link per patient and program, to post anywhere. Whoever
//! registers through it gets a referral of their own, made at that moment under every rule
//! of a referral made by email (self-referral, existing patients, the per-patient limit,
//! targeting, then the inducement policy and the fraud signals of registration). A patient
//! may retire their link; the old code then answers `referral_expired`.

use crate::conn::{write_transaction, DbConnection};
use crate::error::{corrupt, StoreError};
use crate::patients;
use crate::referrals::{self, NewReferral, Referral};
use crate::schema::{referrals as referrals_table, share_link_referrals, share_links};
use crate::sql_types::{DbTime, DbUuid};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use referral_domain::{
    DomainError, Email, Locale, PatientId, ProgramId, ReferralCode, ReferralSource,
};
use ring::rand::SecureRandom;
use serde::Serialize;

/// Attempts at a fresh code (a collision at 90 bits is already unheard of).
const CODE_ATTEMPTS: usize = 5;

/// A patient's share link for one program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShareLink {
    /// Id.
    pub id: uuid::Uuid,
    /// Its owner.
    pub patient_id: PatientId,
    /// The program.
    pub program_id: ProgramId,
    /// The code in the link.
    pub referral_code: ReferralCode,
    /// Times the link was opened.
    pub clicks: i64,
    /// People who joined through it and let the referrer know (the same rule as for
    /// referrals made by email: a friend who did not agree is not counted).
    pub joined: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
}

type LinkRow = (DbUuid, DbUuid, DbUuid, String, i64, DbTime, Option<DbTime>);

fn columns() -> (
    share_links::id,
    share_links::patient_id,
    share_links::program_id,
    share_links::referral_code,
    share_links::clicks,
    share_links::created_at,
    share_links::retired_at,
) {
    (
        share_links::id,
        share_links::patient_id,
        share_links::program_id,
        share_links::referral_code,
        share_links::clicks,
        share_links::created_at,
        share_links::retired_at,
    )
}

fn link_of(conn: &mut DbConnection, row: LinkRow) -> Result<ShareLink, StoreError> {
    let (id, patient, program, code, clicks, created_at, _) = row;
    let joined: i64 = share_link_referrals::table
        .inner_join(
            referrals_table::table.on(referrals_table::id.eq(share_link_referrals::referral_id)),
        )
        .filter(share_link_referrals::share_link_id.eq(id))
        .filter(referrals_table::referee_registered_at.is_not_null())
        .filter(referrals_table::referee_shares_with_referrer.eq(true))
        .count()
        .get_result(conn)?;
    Ok(ShareLink {
        id: id.0,
        patient_id: PatientId::from_uuid(patient.0),
        program_id: ProgramId::from_uuid(program.0),
        referral_code: ReferralCode::parse(&code).map_err(|_| corrupt("share link code"))?,
        clicks,
        joined,
        created_at: created_at.0,
    })
}

/// The patient's open link for `program` (the eligible default when `None`), made on first
/// use; the same link every time after.
///
/// # Errors
/// [`StoreError::NotFound`] (patient or program), [`StoreError::NoActiveProgram`], the
/// domain's `ProgramNotActive` and `NotEligible`.
pub fn get_or_create(
    conn: &mut DbConnection,
    rng: &dyn SecureRandom,
    patient: PatientId,
    program: Option<ProgramId>,
    now: DateTime<Utc>,
) -> Result<ShareLink, StoreError> {
    write_transaction(conn, |conn| {
        // One link at a time per patient: two first uses at once make one link.
        patients::lock(conn, patient)?;
        let owner = patients::get(conn, patient)?;
        let program = referrals::pick_program(conn, &owner, program, now)?;
        // A link posted anywhere would tell that its owner has the targeted condition.
        if !referral_domain::program::offers_share_links(&program.target_conditions) {
            return Err(DomainError::NotEligible(
                "a program for a condition offers no personal share link: invite friends one by one",
            )
            .into());
        }
        let open: Option<LinkRow> = share_links::table
            .filter(share_links::patient_id.eq(DbUuid::from(patient)))
            .filter(share_links::program_id.eq(DbUuid::from(program.id)))
            .filter(share_links::retired_at.is_null())
            .select(columns())
            .first(conn)
            .optional()?;
        if let Some(row) = open {
            return link_of(conn, row);
        }
        for _ in 0..CODE_ATTEMPTS {
            let code = ReferralCode::generate(rng)?;
            let taken: i64 = referrals_table::table
                .filter(referrals_table::referral_code.eq(code.to_string()))
                .count()
                .get_result(conn)?;
            if taken > 0 {
                continue;
            }
            let id = crate::conn::new_row_id();
            let inserted = conn.transaction(|c| {
                diesel::insert_into(share_links::table)
                    .values((
                        share_links::id.eq(DbUuid(id)),
                        share_links::patient_id.eq(DbUuid::from(patient)),
                        share_links::program_id.eq(DbUuid::from(program.id)),
                        share_links::referral_code.eq(code.to_string()),
                        share_links::clicks.eq(0_i64),
                        share_links::created_at.eq(DbTime(now)),
                    ))
                    .execute(c)
            });
            match inserted {
                Ok(_) => {
                    let row: LinkRow = share_links::table
                        .find(DbUuid(id))
                        .select(columns())
                        .first(conn)?;
                    return link_of(conn, row);
                }
                Err(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                )) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(corrupt("could not generate a unique share link code"))
    })
}

/// Retires the patient's open link for `program` (every program's when `None`); the next
/// [`get_or_create`] makes a new one. The number retired.
///
/// # Errors
/// [`StoreError::NotFound`] when there was none.
pub fn retire(
    conn: &mut DbConnection,
    patient: PatientId,
    program: Option<ProgramId>,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let mut q = diesel::update(share_links::table)
        .filter(share_links::patient_id.eq(DbUuid::from(patient)))
        .filter(share_links::retired_at.is_null())
        .into_boxed();
    if let Some(program) = program {
        q = q.filter(share_links::program_id.eq(DbUuid::from(program)));
    }
    let retired = q
        .set(share_links::retired_at.eq(Some(DbTime(now))))
        .execute(conn)?;
    if retired == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(retired)
}

/// The share link with `code`, open or retired.
pub(crate) struct Found {
    pub id: uuid::Uuid,
    pub patient_id: PatientId,
    pub program_id: ProgramId,
    pub retired: bool,
}

/// The link with `code`, if one.
///
/// # Errors
/// Database errors.
pub(crate) fn find(conn: &mut DbConnection, code: &str) -> Result<Option<Found>, StoreError> {
    let Ok(code) = ReferralCode::parse(code) else {
        return Ok(None);
    };
    let row: Option<LinkRow> = share_links::table
        .filter(share_links::referral_code.eq(code.to_string()))
        .select(columns())
        .first(conn)
        .optional()?;
    Ok(row.map(|(id, patient, program, _, _, _, retired)| Found {
        id: id.0,
        patient_id: PatientId::from_uuid(patient.0),
        program_id: ProgramId::from_uuid(program.0),
        retired: retired.is_some(),
    }))
}

/// The code of the link with `id`.
///
/// # Errors
/// [`StoreError::NotFound`]; database errors.
pub(crate) fn code_of(conn: &mut DbConnection, id: uuid::Uuid) -> Result<String, StoreError> {
    Ok(share_links::table
        .find(DbUuid(id))
        .select(share_links::referral_code)
        .first(conn)?)
}

/// What a visitor holding a share link's code may see: whose program, and whether it works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicShareLink {
    /// The program.
    pub program_id: ProgramId,
    /// Whether the owner retired it.
    pub retired: bool,
}

/// The link with `code`, as a visitor may see it.
///
/// # Errors
/// [`StoreError::NotFound`] for no such link.
pub fn lookup(conn: &mut DbConnection, code: &str) -> Result<PublicShareLink, StoreError> {
    let found = find(conn, code)?.ok_or(StoreError::NotFound)?;
    Ok(PublicShareLink {
        program_id: found.program_id,
        retired: found.retired,
    })
}

/// Records an opening of the link with `code`.
///
/// # Errors
/// [`StoreError::NotFound`] for no such link; the domain's `ReferralExpired` for a retired
/// one.
pub fn click(conn: &mut DbConnection, code: &str) -> Result<(), StoreError> {
    let found = find(conn, code)?.ok_or(StoreError::NotFound)?;
    if found.retired {
        return Err(DomainError::ReferralExpired.into());
    }
    diesel::update(share_links::table.find(DbUuid(found.id)))
        .set(share_links::clicks.eq(share_links::clicks + 1))
        .execute(conn)?;
    Ok(())
}

/// The friend's own referral, made through the link with `code` for `email` inside the
/// caller's transaction, under every rule of a referral made by email; `None` when no link
/// has this code.
///
/// # Errors
/// The domain's `ReferralExpired` (retired link), and every error of
/// [`referrals::create`].
pub(crate) fn referral_through(
    conn: &mut DbConnection,
    rng: &dyn SecureRandom,
    code: &str,
    email: &Email,
    name: Option<&str>,
    locale: Locale,
    now: DateTime<Utc>,
) -> Result<Option<Referral>, StoreError> {
    let Some(link) = find(conn, code)? else {
        return Ok(None);
    };
    if link.retired {
        return Err(DomainError::ReferralExpired.into());
    }
    let referral = referrals::create_in(
        conn,
        rng,
        &NewReferral {
            referrer_id: link.patient_id,
            program_id: Some(link.program_id),
            referee_email: email.clone(),
            referee_phone: None,
            referee_name: name.map(str::to_owned),
            referral_source: Some(ReferralSource::DirectLink),
            referral_message: None,
            sms_attestation: None,
            locale,
        },
        now,
    )?;
    diesel::insert_into(share_link_referrals::table)
        .values((
            share_link_referrals::referral_id.eq(DbUuid::from(referral.id)),
            share_link_referrals::share_link_id.eq(DbUuid(link.id)),
        ))
        .execute(conn)?;
    Ok(Some(referral))
}

/// Which of `ids` were made through a personal share link: their friend's details are
/// the visitor's, never the referrer's to see.
///
/// # Errors
/// Database errors.
pub fn made_through_links(
    conn: &mut DbConnection,
    ids: &[referral_domain::ReferralId],
) -> Result<std::collections::HashSet<referral_domain::ReferralId>, StoreError> {
    if ids.is_empty() {
        return Ok(std::collections::HashSet::new());
    }
    let rows: Vec<DbUuid> = share_link_referrals::table
        .filter(share_link_referrals::referral_id.eq_any(ids.iter().map(|id| DbUuid::from(*id))))
        .select(share_link_referrals::referral_id)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|id| referral_domain::ReferralId::from_uuid(id.0))
        .collect())
}
