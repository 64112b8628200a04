//! Anonymous registration in two steps, so that nobody registers an address they do not
//! read: [`start_registration`] checks the code and emails a single-use link (or, for an
//! address that already has an account, an email saying so), and [`complete_registration`]
//! registers when the link comes back. The caller of the first step learns nothing about
//! the address: the answer is the same either way.

use super::register::register_in;
use super::*;
use crate::conn::{write_transaction, DbConnection};
use crate::error::StoreError;
use crate::outbox::{self, NewMessage, OutboxKind};
use crate::schema::{patients, registration_verifications};
use crate::sql_types::{DbInet, DbTime, DbUuid};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use referral_domain::notices::Message;
use referral_domain::notices::{
    AlreadyRegistered, RegistrationRefusal, RegistrationRefused, RegistrationVerification,
};
use referral_domain::signals::{Origin, RegistrationStep};
use referral_domain::{DomainError, Email, InducementPolicy, Locale, Phone, ReferralCode};
use ring::rand::SecureRandom;

/// Hours a confirmation link works.
pub const VERIFICATION_VALID_HOURS: u32 = 24;

/// What the first step did (for the audit trail and tests; never told to the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerificationStarted {
    /// A confirmation link was queued for the address.
    LinkSent,
    /// The address already has an account: an email saying so was queued instead.
    AlreadyRegistered,
    /// The code was used or declined: nothing was sent (the caller is told the same as
    /// ever; the registrant who used it signs in instead).
    Unusable,
    /// Too many confirmations of this share link wait: nothing was sent (the caller is
    /// told the same as ever).
    Throttled,
}

/// Minutes within which a repeated start sends no second confirmation.
pub const RESEND_AFTER_MINUTES: i64 = 10;

/// Confirmation emails (links, or "you already have an account") one address may get in
/// 24 hours, across every instance.
pub const CONFIRMATIONS_PER_DAY: i64 = 3;

/// Whether one more confirmation may go to the address whose keyed hash is `address_key`
/// (counted in the database, so every instance sees the same count); records it if so.
fn may_send(
    conn: &mut DbConnection,
    address_key: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    use crate::schema::confirmation_sends;
    let day_ago = DbTime(now - Duration::hours(24));
    if let DbConnection::Pg(pg) = conn {
        // Two instances counting one address at once wait for each other.
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind::<diesel::sql_types::Text, _>(address_key)
            .execute(pg)?;
    }
    diesel::delete(confirmation_sends::table.filter(confirmation_sends::sent_at.lt(day_ago)))
        .execute(conn)?;
    let sent: i64 = confirmation_sends::table
        .filter(confirmation_sends::address_key.eq(address_key))
        .count()
        .get_result(conn)?;
    if sent >= CONFIRMATIONS_PER_DAY {
        return Ok(false);
    }
    diesel::insert_into(confirmation_sends::table)
        .values((
            confirmation_sends::address_key.eq(address_key),
            confirmation_sends::sent_at.eq(DbTime(now)),
        ))
        .execute(conn)?;
    Ok(true)
}

/// Confirmations of one personal share link that may wait at once: a script cannot queue
/// mail to many addresses through somebody's link.
pub const UNCONFIRMED_PER_LINK: i64 = 20;

fn token_hash(token: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks `code` as registration would (unknown, expired, used or declined fail at once)
/// and queues the email to `registrant`'s address: a single-use link valid
/// [`VERIFICATION_VALID_HOURS`] hours, or, when the address already has an account, an
/// email that says so.
///
/// # Errors
/// [`StoreError::NotFound`] (unknown code), the domain's `AlreadyRegistered`,
/// `ReferralExpired`, `ReferralDeclined`; `RandomUnavailable`.
pub fn start_registration(
    conn: &mut DbConnection,
    rng: &dyn SecureRandom,
    code: &str,
    registrant: &Registrant,
    address_key: &str,
    now: DateTime<Utc>,
) -> Result<VerificationStarted, StoreError> {
    let code = ReferralCode::parse(code).map_err(|_| StoreError::NotFound)?;
    let mut secret = [0u8; 32];
    rng.fill(&mut secret)
        .map_err(|_| DomainError::RandomUnavailable)?;
    let token: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    write_transaction(conn, |conn| {
        let email = registrant.email.as_str();
        let known: Option<DbUuid> = patients::table
            .filter(patients::email.eq(email))
            .select(patients::id)
            .first(conn)
            .optional()?;
        // What the confirmation will register against: the invitation's referral, or a
        // personal share link (whose referral is made only when the link comes back).
        let (referral_id, share_link_id, locale) = match find_by_code(conn, &code.to_string(), now)
        {
            Err(StoreError::NotFound) => {
                let link = crate::share_links::find(conn, &code.to_string())?
                    .ok_or(StoreError::NotFound)?;
                if link.retired {
                    return Err(DomainError::ReferralExpired.into());
                }
                let locale = registrant.locale.unwrap_or_default();
                if let Some(patient) = known {
                    if !may_send(conn, address_key, now)? {
                        return Ok(VerificationStarted::Throttled);
                    }
                    already_registered(conn, link.id, patient, email, locale, now)?;
                    return Ok(VerificationStarted::AlreadyRegistered);
                }
                // The creation rules (the owner's own address, their limit, an open
                // invitation) wait for the confirmation: what they say is about the owner,
                // not for an anonymous caller. Unconfirmed starts are bounded per link.
                let waiting: i64 = registration_verifications::table
                    .filter(registration_verifications::share_link_id.eq(Some(DbUuid(link.id))))
                    .filter(registration_verifications::used_at.is_null())
                    .filter(registration_verifications::expires_at.gt(DbTime(now)))
                    .count()
                    .get_result(conn)?;
                if waiting >= UNCONFIRMED_PER_LINK {
                    return Ok(VerificationStarted::Throttled);
                }
                (None, Some(link.id), locale)
            }
            Err(e) => return Err(e),
            Ok(referral) => {
                // Only the invitation's date answers at once: whether the code was used or
                // declined is the friend's, and the caller may be the referrer. A used or
                // declined code is answered as any other, and nothing is sent.
                if now >= referral.expires_at {
                    return Err(DomainError::ReferralExpired.into());
                }
                match referral.lifecycle().register(now) {
                    Ok(()) => {}
                    Err(DomainError::AlreadyRegistered | DomainError::ReferralDeclined) => {
                        return Ok(VerificationStarted::Unusable);
                    }
                    Err(e) => return Err(e.into()),
                }
                // The page's language when the registrant chose one, else the referral's.
                let locale = match registrant.locale {
                    Some(locale) => locale,
                    None => locale_of(conn, referral.id)?,
                };
                if let Some(patient) = known {
                    if !may_send(conn, address_key, now)? {
                        return Ok(VerificationStarted::Throttled);
                    }
                    already_registered(conn, referral.id.as_uuid(), patient, email, locale, now)?;
                    return Ok(VerificationStarted::AlreadyRegistered);
                }
                (Some(referral.id), None, locale)
            }
        };
        // One live confirmation per address and code: a repeat within minutes sends
        // nothing more; a later one replaces it (the old link stops working).
        let live = || {
            let mut q = registration_verifications::table
                .filter(registration_verifications::email.eq(email))
                .filter(registration_verifications::used_at.is_null())
                .filter(registration_verifications::expires_at.gt(DbTime(now)))
                .into_boxed();
            q = match (referral_id, share_link_id) {
                (Some(r), _) => {
                    q.filter(registration_verifications::referral_id.eq(Some(DbUuid::from(r))))
                }
                (None, l) => q.filter(registration_verifications::share_link_id.eq(l.map(DbUuid))),
            };
            q
        };
        let recent: i64 = live()
            .filter(
                registration_verifications::created_at
                    .gt(DbTime(now - Duration::minutes(RESEND_AFTER_MINUTES))),
            )
            .count()
            .get_result(conn)?;
        if recent > 0 {
            return Ok(VerificationStarted::LinkSent);
        }
        if !may_send(conn, address_key, now)? {
            return Ok(VerificationStarted::Throttled);
        }
        let replaced: Vec<DbUuid> = live().select(registration_verifications::id).load(conn)?;
        if !replaced.is_empty() {
            diesel::delete(
                registration_verifications::table
                    .filter(registration_verifications::id.eq_any(replaced)),
            )
            .execute(conn)?;
        }
        let id = crate::conn::new_row_id();
        diesel::insert_into(registration_verifications::table)
            .values((
                registration_verifications::id.eq(DbUuid(id)),
                registration_verifications::token_hash.eq(token_hash(&token)),
                registration_verifications::referral_id.eq(referral_id.map(DbUuid::from)),
                registration_verifications::share_link_id.eq(share_link_id.map(DbUuid)),
                registration_verifications::email.eq(email),
                registration_verifications::name.eq(registrant.name.as_deref()),
                registration_verifications::phone.eq(registrant.phone.as_ref().map(Phone::as_str)),
                registration_verifications::share_with_referrer.eq(registrant.share_with_referrer),
                registration_verifications::expires_at.eq(DbTime(
                    now + Duration::hours(i64::from(VERIFICATION_VALID_HOURS)),
                )),
                registration_verifications::created_at.eq(DbTime(now)),
                registration_verifications::ip_address
                    .eq(registrant.steps.first().map(|s| DbInet(s.origin.ip))),
                registration_verifications::user_agent.eq(registrant
                    .steps
                    .first()
                    .and_then(|s| s.origin.user_agent.as_deref())),
                registration_verifications::locale.eq(registrant.locale.map(Locale::as_str)),
            ))
            .execute(conn)?;
        outbox::enqueue(
            conn,
            &NewMessage {
                kind: OutboxKind::Email,
                idempotency_key: format!("registration-verification:{id}"),
                recipient: email.to_owned(),
                message: Message::RegistrationVerification(RegistrationVerification {
                    // The message names what it is about: the referral, or the share link.
                    referral_id: referral_id
                        .map_or_else(|| share_link_id.unwrap_or_default(), |r| r.as_uuid()),
                    verification_token: token.clone(),
                    valid_hours: VERIFICATION_VALID_HOURS,
                    locale,
                }),
            },
            now,
        )?;
        Ok(VerificationStarted::LinkSent)
    })
}

/// The registration a confirmation link stands for, checked: `None` for a token that is
/// unknown or was used.
type Pending = (
    DbUuid,
    Option<DbUuid>,
    String,
    Option<String>,
    Option<String>,
    bool,
    DbTime,
    Option<DbInet>,
    Option<String>,
    Option<String>,
);

/// Tells an address that already has an account so (once a day per patient and code), in
/// place of a confirmation link. `about` is the referral (or share link) the visitor used.
fn already_registered(
    conn: &mut DbConnection,
    about: uuid::Uuid,
    patient: DbUuid,
    email: &str,
    locale: Locale,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    outbox::enqueue(
        conn,
        &NewMessage {
            kind: OutboxKind::Email,
            // The key names the patient by id: it outlives the message's erased recipient,
            // so it must not carry (a hash of) the address.
            idempotency_key: format!(
                "already-registered:{about}:{}:{}",
                patient.0,
                now.date_naive()
            ),
            recipient: email.to_owned(),
            message: Message::AlreadyRegistered(AlreadyRegistered {
                referral_id: about,
                locale,
            }),
        },
        now,
    )?;
    Ok(())
}

/// Registers the person whose confirmation link carries `token`, under every rule of
/// [`register`]; the link is used up in the same transaction (and stays unused if the
/// registration fails, so the person sees why and may try again while it works). Through
/// a personal share link, a refusal of the creation rules (the owner's own address, an
/// open invitation, the owner's limit, a closed program) is also emailed to the person and
/// uses the link up.
///
/// # Errors
/// [`StoreError::NotFound`] for a token that is unknown or used; the domain's
/// `VerificationExpired`; and every error of [`register`].
pub fn complete_registration(
    conn: &mut DbConnection,
    token: &str,
    origin: Option<&Origin>,
    policy: &InducementPolicy,
    now: DateTime<Utc>,
) -> Result<Registration, StoreError> {
    let hash = token_hash(token.trim());
    write_transaction(conn, |conn| {
        let pending: Option<Pending> = registration_verifications::table
            .filter(registration_verifications::token_hash.eq(&hash))
            .filter(registration_verifications::used_at.is_null())
            .select((
                registration_verifications::id,
                registration_verifications::referral_id,
                registration_verifications::email,
                registration_verifications::name,
                registration_verifications::phone,
                registration_verifications::share_with_referrer,
                registration_verifications::expires_at,
                registration_verifications::ip_address,
                registration_verifications::user_agent,
                registration_verifications::locale,
            ))
            .first(conn)
            .optional()?;
        let share_link: Option<DbUuid> = registration_verifications::table
            .filter(registration_verifications::token_hash.eq(&hash))
            .select(registration_verifications::share_link_id)
            .first::<Option<DbUuid>>(conn)
            .optional()?
            .flatten();
        let Some((id, referral_id, email, name, phone, share, expires_at, ip, user_agent, locale)) =
            pending
        else {
            return Err(StoreError::NotFound);
        };
        if now >= expires_at.0 {
            return Err(DomainError::VerificationExpired.into());
        }
        // Used up first: of two clicks at once, the second matches nothing here.
        let claimed = diesel::update(
            registration_verifications::table
                .find(id)
                .filter(registration_verifications::used_at.is_null()),
        )
        .set(registration_verifications::used_at.eq(Some(DbTime(now))))
        .execute(conn)?;
        if claimed == 0 {
            return Err(StoreError::NotFound);
        }
        // The code to register with: the invitation's, or the share link's (whose referral
        // is made now, under every creation rule).
        let code = match (referral_id, share_link) {
            (Some(referral_id), _) => get(conn, ReferralId::from_uuid(referral_id.0), now)?
                .referral_code
                .to_string(),
            (None, Some(link)) => crate::share_links::code_of(conn, link.0)?,
            (None, None) => return Err(crate::error::corrupt("verification without a target")),
        };
        let registrant = Registrant {
            patient_id: None,
            email: Email::parse(&email).map_err(|_| crate::error::corrupt("verification email"))?,
            name,
            phone: phone
                .map(|p| Phone::parse(&p))
                .transpose()
                .map_err(|_| crate::error::corrupt("verification phone"))?,
            share_with_referrer: share,
            locale: locale
                .map(|tag| crate::error::parse_enum(&tag, "registration_verifications.locale"))
                .transpose()?,
            // Both steps count for `same_network`: the form and the confirmation link.
            steps: ip
                .map(|DbInet(ip)| RegistrationStep {
                    step: "registration",
                    origin: Origin { ip, user_agent },
                })
                .into_iter()
                .chain(origin.map(|o| RegistrationStep {
                    step: "verification",
                    origin: o.clone(),
                }))
                .collect(),
        };
        let Some(link) = share_link else {
            return Ok(register_in(conn, &code, &registrant, policy, now));
        };
        // Through a share link the creation rules speak only now. A refusal is told to the
        // person who confirmed, by email as well as on the page, and uses the link up: the
        // registration's own writes are undone (a savepoint), the email and the used link
        // are kept.
        match conn.transaction(|c| register_in(c, &code, &registrant, policy, now)) {
            Err(StoreError::Domain(refusal)) => match told_refusal(&refusal) {
                Some(reason) => {
                    outbox::enqueue(
                        conn,
                        &NewMessage {
                            kind: OutboxKind::Email,
                            idempotency_key: format!("registration-refused:{}", id.0),
                            recipient: email.clone(),
                            message: Message::RegistrationRefused(RegistrationRefused {
                                referral_id: link.0,
                                reason,
                                locale: registrant.locale.unwrap_or_default(),
                            }),
                        },
                        now,
                    )?;
                    Ok(Err(refusal.into()))
                }
                None => Err(refusal.into()),
            },
            outcome => Ok(outcome),
        }
    })?
}

/// The creation rules' refusals that the person who confirmed a share link is told by
/// email; any other error is only answered (and leaves the link working).
fn told_refusal(refusal: &DomainError) -> Option<RegistrationRefusal> {
    match refusal {
        DomainError::SelfReferral => Some(RegistrationRefusal::OwnLink),
        DomainError::DuplicateReferee => Some(RegistrationRefusal::AlreadyInvited),
        DomainError::ReferralLimitReached => Some(RegistrationRefusal::LinkFull),
        DomainError::NotEligible(_)
        | DomainError::ProgramNotActive(_)
        | DomainError::ProgramNotStarted
        | DomainError::ProgramFinished
        | DomainError::ProgramAlreadyEnded => Some(RegistrationRefusal::ProgramClosed),
        _ => None,
    }
}
