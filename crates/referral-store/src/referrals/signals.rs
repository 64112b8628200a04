//! Fraud signals of a registration: the facts gathered for the domain's assessment
//! ([`referral_domain::signals::assess`]), and the signals recorded with their evidence.

use crate::conn::DbConnection;
use crate::error::{corrupt, StoreError};
use crate::schema::{audit_log, referral_signals, referrals};
use crate::sql_types::{DbInet, DbTime, DbUuid};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use referral_domain::signals::{
    self, Evidence, Origin, Raised, RegistrationFacts, RegistrationStep, Signal,
    NETWORK_WINDOW_DAYS, RING_WINDOW_DAYS,
};
use referral_domain::{Email, PatientId, ReferralId};
use std::collections::HashMap;

/// Most of the referrer's recent addresses read for `same_network` (the newest first).
const REFERRER_ORIGINS_READ: i64 = 200;

/// What the registration being assessed is.
pub(crate) struct Assessed<'a> {
    pub referral_id: ReferralId,
    pub referrer_id: PatientId,
    pub referrer_email: &'a Email,
    pub invited_email: &'a Email,
    pub registered_email: &'a Email,
    pub friend_id: PatientId,
    pub steps: &'a [RegistrationStep],
    pub velocity_per_day: u32,
}

/// Gathers the facts of a registration (after its referral was marked registered, in the
/// same transaction), lets the domain assess them and records what it raised.
///
/// # Errors
/// Database errors.
pub(crate) fn assess_and_record(
    conn: &mut DbConnection,
    assessed: &Assessed<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<Raised>, StoreError> {
    let referrer = DbUuid::from(assessed.referrer_id);
    let referrer_origins: Vec<Origin> = if assessed.steps.is_empty() {
        Vec::new()
    } else {
        // Every request the referrer made in the window is audited with its address:
        // creating referrals, signing in, reading their dashboard.
        let rows: Vec<(Option<DbInet>, Option<String>)> = audit_log::table
            .filter(audit_log::actor_id.eq(Some(referrer)))
            .filter(audit_log::created_at.ge(DbTime(now - Duration::days(NETWORK_WINDOW_DAYS))))
            .filter(audit_log::ip_address.is_not_null())
            .order(audit_log::created_at.desc())
            .select((audit_log::ip_address, audit_log::user_agent))
            .limit(REFERRER_ORIGINS_READ)
            .load(conn)?;
        let mut origins: Vec<Origin> = Vec::new();
        for (ip, user_agent) in rows {
            if let Some(DbInet(ip)) = ip {
                let origin = Origin { ip, user_agent };
                if !origins.contains(&origin) {
                    origins.push(origin);
                }
            }
        }
        origins
    };
    let registrations_last_day: i64 = referrals::table
        .filter(referrals::referrer_id.eq(referrer))
        .filter(referrals::referee_registered_at.ge(Some(DbTime(now - Duration::hours(24)))))
        .count()
        .get_result(conn)?;
    let ring_since = DbTime(now - Duration::days(RING_WINDOW_DAYS));
    let referred_by: Option<DbUuid> = referrals::table
        .filter(referrals::referee_patient_id.eq(Some(referrer)))
        .filter(referrals::referee_registered_at.ge(Some(ring_since)))
        .select(referrals::referrer_id)
        .first(conn)
        .optional()?;
    let invited_by_referrers_referrer: Vec<Email> = match referred_by {
        None => Vec::new(),
        Some(via) => referrals::table
            .filter(referrals::referrer_id.eq(via))
            .filter(referrals::created_at.ge(ring_since))
            .select(referrals::referee_email)
            .load::<String>(conn)?
            .iter()
            .filter_map(|e| Email::parse(e).ok())
            .collect(),
    };
    let raised = signals::assess(&RegistrationFacts {
        referrer_email: assessed.referrer_email,
        invited_email: assessed.invited_email,
        registered_email: assessed.registered_email,
        steps: assessed.steps,
        referrer_origins: &referrer_origins,
        registrations_last_day: u32::try_from(registrations_last_day).unwrap_or(u32::MAX),
        velocity_per_day: assessed.velocity_per_day,
        referrer_referred_by: referred_by.map(|id| PatientId::from_uuid(id.0)),
        invited_by_referrers_referrer: &invited_by_referrers_referrer,
        friend_id: assessed.friend_id,
    });
    for raised in &raised {
        let evidence =
            serde_json::to_string(&raised.evidence).map_err(|_| corrupt("signal evidence"))?;
        diesel::insert_into(referral_signals::table)
            .values((
                referral_signals::referral_id.eq(DbUuid::from(assessed.referral_id)),
                referral_signals::signal.eq(raised.signal.as_str()),
                referral_signals::raised_at.eq(DbTime(now)),
                referral_signals::evidence.eq(evidence),
            ))
            .execute(conn)?;
    }
    Ok(raised)
}

/// The fraud signals (with their evidence) of each of `ids` that raised any.
///
/// # Errors
/// Database errors; a stored code that is not a signal is corrupt.
pub fn signals_of(
    conn: &mut DbConnection,
    ids: &[ReferralId],
) -> Result<HashMap<ReferralId, Vec<Raised>>, StoreError> {
    let rows: Vec<(DbUuid, String, String)> = referral_signals::table
        .filter(
            referral_signals::referral_id
                .eq_any(ids.iter().map(|i| DbUuid::from(*i)).collect::<Vec<_>>()),
        )
        .order((referral_signals::referral_id, referral_signals::signal))
        .select((
            referral_signals::referral_id,
            referral_signals::signal,
            referral_signals::evidence,
        ))
        .load(conn)?;
    let mut by_referral: HashMap<ReferralId, Vec<Raised>> = HashMap::new();
    for (id, code, evidence) in rows {
        let signal = Signal::from_code(&code).ok_or_else(|| corrupt("signal"))?;
        let evidence: Evidence =
            serde_json::from_str(&evidence).map_err(|_| corrupt("signal evidence"))?;
        by_referral
            .entry(ReferralId::from_uuid(id.0))
            .or_default()
            .push(Raised { signal, evidence });
    }
    // In the domain's order (code order), not the codes' alphabetical one.
    for raised in by_referral.values_mut() {
        raised.sort_by_key(|r| r.signal);
    }
    Ok(by_referral)
}

/// Whether `referral` raised any signal.
///
/// # Errors
/// Database errors.
pub(crate) fn is_flagged(
    conn: &mut DbConnection,
    referral: ReferralId,
) -> Result<bool, StoreError> {
    let count: i64 = referral_signals::table
        .filter(referral_signals::referral_id.eq(DbUuid::from(referral)))
        .count()
        .get_result(conn)?;
    Ok(count > 0)
}
