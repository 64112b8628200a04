//! Referrals: creation under the program's rules, lookup by code, clicks, registration
//! with a code, listing, and the expiry sweep.

mod clicks;
mod create;
mod lifecycle;
mod listing;
mod locale;
pub mod pg_clicks;
mod register;
mod signals;
mod verification;

pub use clicks::*;
pub use create::*;
pub use lifecycle::*;
pub use listing::*;
pub(crate) use locale::set as set_locale;
pub use locale::{locale_of, locales_of};
pub use register::*;
pub use signals::*;
pub use verification::*;

use crate::conn::DbConnection;
use crate::error::StoreError;
use crate::error::{corrupt, money, parse_enum};
use crate::rollups::Cohort;
use crate::schema::referrals;
use crate::sql_types::{DbTime, DbUuid};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use referral_domain::referral::effective_status;
use referral_domain::{
    ConsultationId, Email, Money, OrderId, PartyRewardStatus, PatientId, Phone, ProgramId,
    ReferralCode, ReferralId, ReferralLifecycle, ReferralSource, ReferralStatus, ReferrerStatus,
};
use serde::Serialize;

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
    /// Whether the friend, at registration, let the referrer know that they joined.
    pub shares_with_referrer: bool,
    /// When the friend answered that question.
    pub share_consent_at: Option<DateTime<Utc>>,
    /// The referee was already a patient: recorded like any invitation, nothing sent.
    pub invitation_withheld: bool,
    /// An SMS invitation the referrer sends from their own phone (the program's
    /// `sms_delivery` is `patient_device`).
    pub sms_on_device: bool,
}

impl Referral {
    /// The status its referrer sees at `now` (minimum necessary: see
    /// [`referral_domain::disclosure`]): the friend's consent and the invitation's date.
    pub fn referrer_status(&self, now: DateTime<Utc>) -> ReferrerStatus {
        ReferrerStatus::seen(self.shares_with_referrer, self.expires_at, now)
    }

    /// The rollup cohort it counts in (no query).
    pub(crate) fn cohort(&self) -> Cohort {
        Cohort::new(
            DbUuid::from(self.program_id),
            self.created_at,
            self.variant.as_deref(),
            DbUuid::from(self.referrer_id),
        )
    }

    /// What granting one of its rewards needs to know.
    pub(crate) fn reward_for(&self) -> crate::rewards::RewardFor {
        crate::rewards::RewardFor {
            referral_id: self.id,
        }
    }

    pub(crate) fn lifecycle(&self) -> ReferralLifecycle {
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
    referee_shares_with_referrer: bool,
    referee_share_consent_at: Option<DbTime>,
    invitation_withheld: bool,
    sms_on_device: bool,
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
            shares_with_referrer: self.referee_shares_with_referrer,
            share_consent_at: self.referee_share_consent_at.map(|t| t.0),
            invitation_withheld: self.invitation_withheld,
            sms_on_device: self.sms_on_device,
        })
    }
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
    // Made through the referrer's share link: theirs to see only with the friend's consent.
    if !referral.shares_with_referrer {
        let through_link: i64 = crate::schema::share_link_referrals::table
            .filter(crate::schema::share_link_referrals::referral_id.eq(DbUuid::from(id)))
            .count()
            .get_result(conn)?;
        if through_link > 0 {
            return Err(StoreError::NotFound);
        }
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

/// What a referrer may be told about the friend of one of their referrals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FriendDisclosure {
    /// Whether the friend let the referrer know that they joined.
    pub shares_with_referrer: bool,
    /// The name the referrer typed for the friend.
    pub typed_name: Option<String>,
}

/// [`FriendDisclosure`] of each of `ids` that exists.
///
/// # Errors
/// Database errors.
pub fn friend_disclosures(
    conn: &mut DbConnection,
    ids: &[ReferralId],
) -> Result<std::collections::HashMap<ReferralId, FriendDisclosure>, StoreError> {
    let rows: Vec<(DbUuid, bool, Option<String>)> = referrals::table
        .filter(referrals::id.eq_any(ids.iter().map(|i| DbUuid::from(*i)).collect::<Vec<_>>()))
        .select((
            referrals::id,
            referrals::referee_shares_with_referrer,
            referrals::referee_name,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, shares_with_referrer, typed_name)| {
            (
                ReferralId::from_uuid(id.0),
                FriendDisclosure {
                    shares_with_referrer,
                    typed_name,
                },
            )
        })
        .collect())
}

/// How many of `referrer`'s referrals in `program` converted before `before` (the last
/// release: see [`referral_domain::disclosure::friends_to_next_reward`]).
///
/// # Errors
/// Database errors.
pub fn converted_before(
    conn: &mut DbConnection,
    referrer: referral_domain::PatientId,
    program: referral_domain::ProgramId,
    before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let count: i64 = referrals::table
        .filter(referrals::referrer_id.eq(DbUuid::from(referrer)))
        .filter(referrals::program_id.eq(DbUuid::from(program)))
        .filter(referrals::converted_at.lt(DbTime(before)))
        .count()
        .get_result(conn)?;
    Ok(u64::try_from(count).unwrap_or(0))
}
