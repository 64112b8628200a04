//! Creating a referral: the program's rules checked against the stored facts, a fresh code,
//! and the invitation queued.

use super::*;
use crate::conn::{write_transaction, DbConnection};
use crate::error::StoreError;
use crate::outbox::{self, NewMessage, OutboxKind};
use crate::patients::{self, Patient};
use crate::programs::{self, Program};
use crate::rollups::{self, Cohort, Delta};
use crate::schema::{patients as patients_table, referrals, sms_consents};
use crate::sql_types::{DbInet, DbTime, DbUuid};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use referral_domain::consent::{needs_sms_consent, platform_sends_sms, SMS_CONSENT_WORDING};
use referral_domain::experiment::Variant;
use referral_domain::notices::Invitation;
use referral_domain::notices::Message;
use referral_domain::referral::expires_at;
use referral_domain::referral::LIMIT_COUNTED_STATUSES;
use referral_domain::webhook::WebhookEventType;
use referral_domain::{
    CreationDecision, CreationFacts, DomainError, Email, FieldError, Locale, PartyRewardStatus,
    PatientId, Phone, ProgramId, ReferralCode, ReferralId, ReferralSource, ReferralStatus,
    ValidationErrors,
};
use ring::rand::SecureRandom;

/// Attempts at a fresh code before giving up (a collision at 90 bits is already unheard of).
const CODE_ATTEMPTS: usize = 5;

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
    /// The referrer's attestation that the friend agreed to a text (TCPA), with where it
    /// was made: required for an SMS the platform sends, kept as evidence.
    pub sms_attestation: Option<SmsAttestation>,
    /// The language of the referral's messages (the invitation, and the friend's and the
    /// referrer's messages about this referral).
    pub locale: Locale,
}

/// Where the referrer attested the friend's consent to a text (the words are
/// [`referral_domain::consent::SMS_CONSENT_WORDING`], the time is the referral's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmsAttestation {
    /// The referrer's address.
    pub ip_address: Option<std::net::IpAddr>,
    /// The referrer's user agent.
    pub user_agent: Option<String>,
    /// The friend's number as a keyed hash (the suppression list's, `KEYID.HASH`), made by
    /// the caller, who holds the key: the proof never stores the number itself.
    pub phone_hash: Option<String>,
}

pub(crate) fn pick_program(
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

/// How the program a new referral of `referrer` would join (`wanted`, else the first active
/// program that admits them) delivers its texts; `None` when no program would take it (the
/// creation then fails and says why), or the referrer is not known yet. A form asks it to
/// report a missing consent in the same round as the other problems
/// (`consent::needs_sms_consent`, the rule the creation applies again).
///
/// # Errors
/// Database errors.
pub fn sms_delivery_for(
    conn: &mut DbConnection,
    referrer: PatientId,
    wanted: Option<ProgramId>,
    now: DateTime<Utc>,
) -> Result<Option<referral_domain::SmsDelivery>, StoreError> {
    let referrer = match patients::get(conn, referrer) {
        Ok(patient) => patient,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e),
    };
    match pick_program(conn, &referrer, wanted, now) {
        Ok(program) => Ok(Some(program.sms_delivery)),
        Err(StoreError::NotFound | StoreError::NoActiveProgram | StoreError::Domain(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Creates a referral: picks or checks the program, enforces self-referral, the referrer's
/// own duplicate invitation and the referral limit against the stored facts, generates a
/// unique code and queues the invitation when it is to be sent by email or SMS. A referee
/// who is already a patient gets the same answer and nothing is sent (no membership
/// oracle). One transaction, holding the referrer's lock; the partial unique index on
/// open referrals backs the duplicate check.
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
    referral_domain::referral::check_reachable(
        input.referral_source,
        input.referee_phone.is_some(),
    )?;
    write_transaction(conn, |conn| create_in(conn, rng, input, now))
}

/// [`create`] inside the caller's transaction (a registration through a share link makes
/// the friend's referral in its own).
pub(crate) fn create_in(
    conn: &mut DbConnection,
    rng: &dyn SecureRandom,
    input: &NewReferral,
    now: DateTime<Utc>,
) -> Result<Referral, StoreError> {
    {
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
        // The referrer's own open invitations in the program, compared by inbox in Rust
        // (sub-addressing, Gmail dots); the referrer's lock keeps this list current.
        let own_open: Vec<String> = referrals::table
            .filter(referrals::program_id.eq(program_id))
            .filter(referrals::referrer_id.eq(DbUuid::from(referrer.id)))
            .filter(
                referrals::status
                    .eq(ReferralStatus::Registered.as_str())
                    .or(referrals::status
                        .eq(ReferralStatus::Pending.as_str())
                        .and(referrals::expires_at.gt(DbTime(now)))),
            )
            .select(referrals::referee_email)
            .load(conn)?;
        let inbox = input.referee_email.inbox();
        let already_invited = own_open
            .iter()
            .filter_map(|e| Email::parse(e).ok())
            .any(|e| e.inbox() == inbox);
        let counted_for_referrer: i64 = referrals::table
            .filter(referrals::program_id.eq(program_id))
            .filter(referrals::referrer_id.eq(DbUuid::from(referrer.id)))
            // The domain's `counts_toward_limit`, as a filter.
            .filter(
                referrals::status
                    .eq_any(LIMIT_COUNTED_STATUSES.map(ReferralStatus::as_str))
                    .or(referrals::status
                        .eq(ReferralStatus::Pending.as_str())
                        .and(referrals::expires_at.gt(DbTime(now)))),
            )
            .count()
            .get_result(conn)?;
        let decision = CreationFacts {
            referrer_email: Some(&referrer.email),
            referee_email: &input.referee_email,
            referee_is_patient: referee_is_patient > 0,
            referrer_already_invited_referee: already_invited,
            referrer_open_referrals_in_program: u32::try_from(counted_for_referrer)
                .unwrap_or(u32::MAX),
            max_referrals_per_patient: program.max_referrals_per_patient,
        }
        .decide()?;

        // An SMS is the platform's to send, on the referrer's attestation, unless the
        // program leaves it to the patient's own phone.
        let by_sms = input.referral_source == Some(ReferralSource::Sms);
        let on_device = by_sms && !platform_sends_sms(program.sms_delivery);
        if needs_sms_consent(input.referral_source, program.sms_delivery)
            && input.sms_attestation.is_none()
        {
            return Err(DomainError::Validation(ValidationErrors(vec![
                FieldError::SmsConsentMissing,
            ]))
            .into());
        }
        let id = ReferralId::new_random();
        let expires = expires_at(now, program.expiry_days)?;
        let variant =
            referral_domain::experiment::assign(&program.variants, program.id, referrer.id);
        let code = insert_with_fresh_code(
            conn, rng, id, input, &program, variant, expires, decision, on_device, now,
        )?;
        // The proof is kept only for a text the platform sends (minimum necessary: a text
        // from the patient's own phone needs none).
        let consent_needed = needs_sms_consent(input.referral_source, program.sms_delivery);
        if let (true, Some(attestation), Some(_)) =
            (consent_needed, &input.sms_attestation, &input.referee_phone)
        {
            // No proof, no text: a caller that did not hash the number is refused whole.
            let phone_hash = attestation.phone_hash.as_deref().ok_or_else(|| {
                StoreError::Config("an SMS attestation needs the number's keyed hash".into())
            })?;
            diesel::insert_into(sms_consents::table)
                .values((
                    sms_consents::id.eq(DbUuid(crate::conn::new_row_id())),
                    sms_consents::referral_id.eq(DbUuid::from(id)),
                    sms_consents::referrer_id.eq(DbUuid::from(referrer.id)),
                    sms_consents::phone_hash.eq(Some(phone_hash)),
                    sms_consents::wording.eq(SMS_CONSENT_WORDING),
                    sms_consents::ip_address.eq(attestation.ip_address.map(DbInet)),
                    sms_consents::user_agent.eq(attestation.user_agent.as_deref()),
                    sms_consents::attested_at.eq(DbTime(now)),
                ))
                .execute(conn)?;
        }
        super::set_locale(conn, id, input.locale)?;
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
        if decision.sends() && !on_device {
            queue_invitation(conn, input, &referrer, &program, variant, &code, id, now)?;
        }
        let referral = get(conn, id, now)?;
        let data = crate::webhooks::referral_data(&referral);
        crate::webhooks::emit(conn, WebhookEventType::ReferralCreated, data, now)?;
        Ok(referral)
    }
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
    decision: CreationDecision,
    on_device: bool,
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
                    referrals::invitation_withheld.eq(!decision.sends()),
                    referrals::sms_on_device.eq(on_device),
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
                    // The open-referee index: this referrer invited this address just now.
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
                locale: input.locale,
            }),
        },
        now,
    )?;
    Ok(())
}
