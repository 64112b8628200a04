//! Patients: created from token claims or by registering with a referral code.

use crate::conn::DbConnection;
use crate::error::StoreError;
use crate::schema::patients;
use crate::sql_types::{DbTextList, DbTime, DbUuid};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use referral_domain::{Email, FactsUpdate, PatientId, Phone, ReferrerProfile};
use serde::Serialize;

/// A patient as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Patient {
    /// The platform's patient id.
    pub id: PatientId,
    /// Normalised email.
    pub email: Email,
    /// Display name.
    pub name: Option<String>,
    /// E.164 phone.
    pub phone: Option<Phone>,
    /// Date of birth, for targeting.
    pub date_of_birth: Option<NaiveDate>,
    /// Two-letter state, for targeting.
    pub state: Option<String>,
    /// Conditions on record, for targeting.
    pub conditions: Vec<String>,
    /// Whether a federal programme pays for the patient's care, as last reported (false
    /// when never reported: see [`Patient::payer_fact`]).
    pub federal_payer: bool,
    /// Whether the platform ever reported the payer.
    pub payer_reported: bool,
    /// When the platform last reported facts about the patient.
    pub facts_reported_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl Patient {
    /// The reported payer fact: `None` when the platform never said (the inducement
    /// policy's `unknown_payer` setting then decides).
    pub fn payer_fact(&self) -> Option<bool> {
        self.payer_reported.then_some(self.federal_payer)
    }

    /// The patient's standing under `policy`, with `granted_this_year` already granted.
    pub fn standing(
        &self,
        policy: &referral_domain::InducementPolicy,
        granted_this_year: referral_domain::Money,
    ) -> referral_domain::RecipientStanding {
        referral_domain::RecipientStanding {
            federal_payer: policy.unknown_payer.is_federal(self.payer_fact()),
            state: self.us_state(),
            granted_this_year,
        }
    }

    /// The reported state, as a USPS code (`None` when never reported).
    pub fn us_state(&self) -> Option<referral_domain::UsState> {
        self.state
            .as_deref()
            .and_then(|s| referral_domain::UsState::parse(s).ok())
    }

    /// What targeting needs to know.
    pub fn profile(&self) -> ReferrerProfile {
        ReferrerProfile {
            date_of_birth: self.date_of_birth,
            state: self.state.clone(),
            conditions: self.conditions.clone(),
        }
    }
}

#[derive(Queryable, Selectable, serde::Deserialize)]
#[diesel(table_name = patients)]
pub(crate) struct PatientRow {
    id: DbUuid,
    email: String,
    name: Option<String>,
    phone: Option<String>,
    date_of_birth: Option<NaiveDate>,
    state: Option<String>,
    conditions: DbTextList,
    federal_payer: bool,
    created_at: DbTime,
    updated_at: DbTime,
    // Rows read by `referral_event_begin` (row_to_json) from before the column existed
    // cannot occur, but a missing key reads as "never reported", the safe side.
    #[serde(default)]
    payer_reported: bool,
    #[serde(default)]
    facts_reported_at: Option<DbTime>,
}

impl TryFrom<PatientRow> for Patient {
    type Error = StoreError;

    fn try_from(row: PatientRow) -> Result<Self, StoreError> {
        Ok(Patient {
            id: PatientId::from_uuid(row.id.0),
            email: Email::parse(&row.email)
                .map_err(|_| StoreError::Corrupt("patient email".into()))?,
            name: row.name,
            phone: row
                .phone
                .map(|p| Phone::parse(&p))
                .transpose()
                .map_err(|_| StoreError::Corrupt("patient phone".into()))?,
            date_of_birth: row.date_of_birth,
            state: row.state,
            conditions: row.conditions.0,
            federal_payer: row.federal_payer,
            payer_reported: row.payer_reported,
            facts_reported_at: row.facts_reported_at.map(|t| t.0),
            created_at: row.created_at.0,
            updated_at: row.updated_at.0,
        })
    }
}

/// A new patient, or the profile fields of an existing one.
#[derive(Debug, Clone, PartialEq)]
pub struct PatientDetails {
    /// The platform's patient id.
    pub id: PatientId,
    /// Normalised email.
    pub email: Email,
    /// Display name.
    pub name: Option<String>,
    /// E.164 phone.
    pub phone: Option<Phone>,
}

/// The patient with `id`.
///
/// # Errors
/// [`StoreError::NotFound`].
pub fn get(conn: &mut DbConnection, id: PatientId) -> Result<Patient, StoreError> {
    patients::table
        .find(DbUuid(id.as_uuid()))
        .select(PatientRow::as_select())
        .first(conn)?
        .try_into()
}

/// The display names of `ids` that have one (for a staff export whose admin chose to
/// reveal names: the caller audits that reveal).
///
/// # Errors
/// Database errors.
pub fn names_of(
    conn: &mut DbConnection,
    ids: &[PatientId],
) -> Result<std::collections::HashMap<PatientId, String>, StoreError> {
    let rows: Vec<(DbUuid, Option<String>)> = patients::table
        .filter(patients::id.eq_any(ids.iter().map(|i| DbUuid(i.as_uuid())).collect::<Vec<_>>()))
        .select((patients::id, patients::name))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, name)| name.map(|n| (PatientId::from_uuid(id.0), n)))
        .collect())
}

/// The patient with `email`, if any.
///
/// # Errors
/// Database errors.
pub fn find_by_email(
    conn: &mut DbConnection,
    email: &Email,
) -> Result<Option<Patient>, StoreError> {
    patients::table
        .filter(patients::email.eq(email.as_str()))
        .select(PatientRow::as_select())
        .first(conn)
        .optional()?
        .map(Patient::try_from)
        .transpose()
}

/// Inserts a patient. Callers run it inside their transaction. The unique indexes on the id
/// and the email decide, also between two requests at once: a taken one answers
/// [`StoreError::EmailInUse`].
pub(crate) fn insert(
    conn: &mut DbConnection,
    details: &PatientDetails,
    now: DateTime<Utc>,
) -> Result<Patient, StoreError> {
    let inserted = diesel::insert_into(patients::table)
        .values((
            patients::id.eq(DbUuid(details.id.as_uuid())),
            patients::email.eq(details.email.as_str()),
            patients::name.eq(details.name.as_deref()),
            patients::phone.eq(details.phone.as_ref().map(Phone::as_str)),
            patients::conditions.eq(DbTextList(Vec::new())),
            patients::federal_payer.eq(false),
            patients::lock_version.eq(0_i64),
            patients::created_at.eq(DbTime(now)),
            patients::updated_at.eq(DbTime(now)),
        ))
        .execute(conn)
        .map_err(StoreError::from);
    match inserted {
        Ok(_) => get(conn, details.id),
        Err(e) if e.is_unique_violation() => Err(StoreError::EmailInUse),
        Err(e) => Err(e),
    }
}

/// Creates the patient from token claims on first use, or refreshes the name and email of
/// an existing one. A claim email that another patient already has is not taken over: the
/// patient keeps their stored email.
///
/// # Errors
/// Database errors.
pub fn upsert_from_claims(
    conn: &mut DbConnection,
    details: &PatientDetails,
    now: DateTime<Utc>,
) -> Result<Patient, StoreError> {
    crate::conn::write_transaction(conn, |conn| {
        match patients::table
            .find(DbUuid(details.id.as_uuid()))
            .select(PatientRow::as_select())
            .first(conn)
            .optional()?
        {
            None => insert(conn, details, now),
            Some(row) => {
                let current = Patient::try_from(row)?;
                let email_free = current.email == details.email
                    || find_by_email(conn, &details.email)?.is_none();
                let email = if email_free {
                    details.email.clone()
                } else {
                    current.email.clone()
                };
                let name = details.name.clone().or(current.name.clone());
                if email != current.email || name != current.name {
                    diesel::update(patients::table.find(DbUuid(details.id.as_uuid())))
                        .set((
                            patients::email.eq(email.as_str()),
                            patients::name.eq(name.as_deref()),
                            patients::updated_at.eq(DbTime(now)),
                        ))
                        .execute(conn)?;
                    return get(conn, details.id);
                }
                Ok(current)
            }
        }
    })
}

/// Stores the facts the platform reports about a patient; a fact left out (`None`) keeps
/// its stored value. Reporting the same facts again changes nothing but the report time.
///
/// # Errors
/// [`StoreError::NotFound`] for an unknown patient.
pub fn report_facts(
    conn: &mut DbConnection,
    id: PatientId,
    facts: &FactsUpdate,
    now: DateTime<Utc>,
) -> Result<Patient, StoreError> {
    // Under the patient's lock: a report keeps the facts it leaves out, so two reports at
    // once must not write back each other's stale values.
    crate::conn::write_transaction(conn, |conn| {
        lock(conn, id)?;
        let current = get(conn, id)?;
        let conditions = match &facts.conditions {
            Some(codes) => codes.iter().map(|c| c.as_str().to_owned()).collect(),
            None => current.conditions.clone(),
        };
        diesel::update(patients::table.find(DbUuid(id.as_uuid())))
            .set((
                patients::date_of_birth.eq(facts.date_of_birth.or(current.date_of_birth)),
                patients::state.eq(facts
                    .state
                    .as_ref()
                    .map(|s| s.as_str().to_owned())
                    .or(current.state.clone())),
                patients::conditions.eq(DbTextList(conditions)),
                patients::federal_payer.eq(facts.federal_payer.unwrap_or(current.federal_payer)),
                patients::payer_reported
                    .eq(current.payer_reported || facts.federal_payer.is_some()),
                patients::facts_reported_at.eq(Some(DbTime(now))),
                patients::updated_at.eq(DbTime(now)),
            ))
            .execute(conn)?;
        get(conn, id)
    })
}

/// Takes the patient's row lock until the transaction ends, so that decisions about one
/// patient's referrals and rewards (limit, threshold batch, yearly cap) are made one at a
/// time. On SQLite the write transaction already holds the database's write lock.
pub(crate) fn lock(conn: &mut DbConnection, id: PatientId) -> Result<(), StoreError> {
    let updated = diesel::update(patients::table.find(DbUuid(id.as_uuid())))
        .set(patients::lock_version.eq(patients::lock_version + 1))
        .execute(conn)?;
    if updated == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Takes the row lock (as [`lock`]) of the referrer of the referral that `referee` registered
/// with, in one statement; `false` when the referee registered with no referral.
pub(crate) fn lock_referrer_of(
    conn: &mut DbConnection,
    referee: PatientId,
) -> Result<bool, StoreError> {
    use crate::schema::referrals;
    let referrer = referrals::table
        .filter(referrals::referee_patient_id.eq(Some(DbUuid(referee.as_uuid()))))
        .select(referrals::referrer_id)
        .single_value();
    let updated = diesel::update(patients::table.filter(patients::id.nullable().eq(referrer)))
        .set(patients::lock_version.eq(patients::lock_version + 1))
        .execute(conn)?;
    Ok(updated > 0)
}
