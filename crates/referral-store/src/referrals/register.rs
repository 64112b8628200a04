//! Registering with a code: the referee becomes a patient, the referral `registered`, and
//! the referee's welcome reward is granted.

use super::*;
use crate::conn::{write_transaction, DbConnection};
use crate::error::StoreError;
use crate::patients::{self, Patient, PatientDetails};
use crate::programs;
use crate::rewards::{self, Party, Reward};
use crate::rollups::{self, Delta};
use crate::schema::referrals;
use crate::sql_types::{DbTime, DbUuid};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use referral_domain::disclosure::share_consent_wording;
use referral_domain::signals::RegistrationStep;
use referral_domain::{
    DomainError, Email, Gate, InducementPolicy, InteractionType, Locale, PatientId, Phone,
    ReferralCode, ReferralId, ReferralStatus,
};
use serde::Serialize;

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
    /// Whether the registrant lets the referrer know that they joined (asked with
    /// [`referral_domain::disclosure::share_consent_wording`] in `locale`, stored with that
    /// wording).
    pub share_with_referrer: bool,
    /// The language the registrant was asked in (the registration page's, or the API
    /// caller's `locale`): the consent is stored in its words, and the confirmation email
    /// is written in it. `None`: the referral's language (English wording).
    pub locale: Option<Locale>,
    /// Where the registration's steps came from, for the `same_network` signal (empty for
    /// a platform service, whose address says nothing about the person).
    pub steps: Vec<RegistrationStep>,
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
    write_transaction(conn, |conn| {
        register_in(conn, code, registrant, policy, now)
    })
}

/// [`register`] inside the caller's transaction.
pub(crate) fn register_in(
    conn: &mut DbConnection,
    code: &str,
    registrant: &Registrant,
    policy: &InducementPolicy,
    now: DateTime<Utc>,
) -> Result<Registration, StoreError> {
    let code = ReferralCode::parse(code).map_err(|_| StoreError::NotFound)?;
    {
        let found: Option<DbUuid> = referrals::table
            .filter(referrals::referral_code.eq(code.to_string()))
            .select(referrals::id)
            .first(conn)
            .optional()?;
        let id = match found {
            Some(id) => id,
            // A personal share link: the friend's own referral, made now (a platform
            // service registering someone through the link).
            None => DbUuid::from(
                crate::share_links::referral_through(
                    conn,
                    &ring::rand::SystemRandom::new(),
                    &code.to_string(),
                    &registrant.email,
                    registrant.name.as_deref(),
                    registrant.locale.unwrap_or_default(),
                    now,
                )?
                .ok_or(StoreError::NotFound)?
                .id,
            ),
        };
        // Lock the referral row first: concurrent registrations with this code queue here
        // and see the winner's result.
        diesel::update(referrals::table.find(id))
            .set(referrals::updated_at.eq(DbTime(now)))
            .execute(conn)?;
        let referral = get(conn, ReferralId::from_uuid(id.0), now)?;
        let mut lifecycle = referral.lifecycle();
        lifecycle.register(now)?;

        let referrer = patients::get(conn, referral.referrer_id)?;
        if referrer.email.inbox() == registrant.email.inbox()
            || registrant.patient_id == Some(referrer.id)
        {
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
            referrals::referee_shares_with_referrer.eq(registrant.share_with_referrer),
            referrals::referee_share_consent_at.eq(Some(DbTime(now))),
            referrals::referee_share_consent_wording.eq(Some(share_consent_wording(
                registrant.locale.unwrap_or_default(),
            ))),
            referrals::updated_at.eq(DbTime(now)),
        ))
        .execute(conn)?;
        if updated == 0 {
            return Err(DomainError::AlreadyRegistered.into());
        }
        // The fraud signals this registration raises, recorded for the admins; any of
        // them sends this referral's rewards to review.
        let raised = assess_and_record(
            conn,
            &Assessed {
                referral_id: referral.id,
                referrer_id: referrer.id,
                referrer_email: &referrer.email,
                invited_email: &referral.referee_email,
                registered_email: &registrant.email,
                friend_id: patient.id,
                steps: &registrant.steps,
                velocity_per_day: policy.velocity_per_day,
            },
            now,
        )?;
        let cohort = referral.cohort();
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
            Some(spec) => {
                let budget = rewards::program_budget(conn, program.id, &program.budget, now)?;
                Some(rewards::grant(
                    conn,
                    referral.reward_for(),
                    &cohort,
                    &patient,
                    Party::Referee,
                    &spec,
                    &program.policy(policy),
                    &budget,
                    program.reward_validity_days,
                    // The welcome reward has no hold: the friend's own first order may use it.
                    Gate {
                        flagged: !raised.is_empty(),
                        hold_until: None,
                    },
                    now,
                )?)
            }
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
        let registered = get(conn, referral.id, now)?;
        // That the friend joined is theirs to tell: the event goes out only with consent.
        let mut events = Vec::new();
        if registered.shares_with_referrer {
            events.push((
                referral_domain::webhook::WebhookEventType::ReferralRegistered,
                crate::webhooks::referral_data(&registered),
            ));
        }
        if let Some(reward) = &referee_reward {
            events.extend(crate::webhooks::reward_granted(reward));
        }
        crate::webhooks::emit_all(conn, &events, now)?;
        Ok(Registration {
            patient,
            referral: registered,
            referee_reward,
        })
    }
}
