//! Referrals: the referrer's and the public views, creation, registration.

use super::*;
use crate::state::{AppState, AuditedResource};
use chrono::{DateTime, Utc};
use referral_store::referrals::{ClickTally, Referral, Registration};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A referral as the portals (admins and the program's provider) see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReferralView {
    pub id: Uuid,
    #[schema(example = "ABCDEF-GHJKMN-PQRSTV")]
    pub referral_code: String,
    /// Link to share: `{public_base_url}/r/{code}` (counts the open, then the registration page).
    pub share_url: String,
    pub referrer_id: Uuid,
    pub referee_email: String,
    pub referee_phone: Option<String>,
    pub referee_name: Option<String>,
    pub referee_patient_id: Option<Uuid>,
    pub program_id: Uuid,
    #[schema(example = "email")]
    pub referral_source: Option<String>,
    pub referral_message: Option<String>,
    /// The language of the referral's messages: `en` or `es`.
    #[schema(example = "en")]
    pub locale: String,
    /// `pending`, `registered`, `converted`, `expired` or `declined` (as of now).
    #[schema(example = "pending")]
    pub status: String,
    pub referee_registered_at: Option<DateTime<Utc>>,
    pub first_consultation_id: Option<Uuid>,
    pub first_order_id: Option<Uuid>,
    pub converted_at: Option<DateTime<Utc>>,
    #[schema(example = "pending")]
    pub referrer_reward_status: String,
    pub referrer_reward_earned_at: Option<DateTime<Utc>>,
    pub referrer_reward_redeemed_at: Option<DateTime<Utc>>,
    pub referrer_reward_amount: Option<String>,
    #[schema(example = "pending")]
    pub referee_reward_status: String,
    pub referee_reward_redeemed_at: Option<DateTime<Utc>>,
    pub referee_reward_amount: Option<String>,
    /// Clicks on its link, counted from the click rows as of the read.
    pub clicks: i64,
    pub last_clicked_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The experiment variant the referral was assigned, if its program runs one.
    pub variant: Option<String>,
    /// The fraud signals its registration raised (`alias_of_referrer`,
    /// `invited_address_mismatch`), each with what it means. Never shown to the referrer.
    pub signals: Vec<SignalView>,
}

/// A fraud signal, for the admin who looks twice.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignalView {
    #[schema(example = "invited_address_mismatch")]
    pub code: String,
    pub explanation: String,
    /// What raised it: `network` and `step` (same_network), `domain` (disposable_email),
    /// `registrations_24h` and `limit` (velocity), `via_patient_id` (ring). No addresses.
    #[schema(value_type = Object)]
    pub evidence: serde_json::Value,
}

impl SignalView {
    /// The view of a raised signal.
    pub fn of(raised: &referral_domain::signals::Raised) -> Self {
        SignalView {
            code: raised.signal.as_str().to_owned(),
            explanation: raised.signal.explanation().to_owned(),
            evidence: serde_json::to_value(&raised.evidence)
                .unwrap_or_else(|_| serde_json::json!({})),
        }
    }
}

impl ReferralView {
    /// The view of `r` with its clicks and fraud signals, and its share link on the
    /// patient site.
    pub fn new(
        r: Referral,
        clicks: ClickTally,
        signals: &[referral_domain::signals::Raised],
        locale: referral_domain::Locale,
        state: &AppState,
    ) -> Self {
        ReferralView {
            locale: locale.as_str().to_owned(),
            signals: signals.iter().map(SignalView::of).collect(),
            id: r.id.as_uuid(),
            referral_code: r.referral_code.to_string(),
            share_url: state.share_url(&r.referral_code.to_string()),
            referrer_id: r.referrer_id.as_uuid(),
            referee_email: r.referee_email.to_string(),
            referee_phone: text(&r.referee_phone),
            referee_name: r.referee_name,
            referee_patient_id: r.referee_patient_id.map(|p| p.as_uuid()),
            program_id: r.program_id.as_uuid(),
            referral_source: text(&r.referral_source),
            referral_message: r.referral_message,
            status: r.status.to_string(),
            referee_registered_at: r.referee_registered_at,
            first_consultation_id: r.first_consultation_id.map(|c| c.as_uuid()),
            first_order_id: r.first_order_id.map(|o| o.as_uuid()),
            converted_at: r.converted_at,
            referrer_reward_status: r.referrer_reward_status.to_string(),
            referrer_reward_earned_at: r.referrer_reward_earned_at,
            referrer_reward_redeemed_at: r.referrer_reward_redeemed_at,
            referrer_reward_amount: text(&r.referrer_reward_amount),
            referee_reward_status: r.referee_reward_status.to_string(),
            referee_reward_redeemed_at: r.referee_reward_redeemed_at,
            referee_reward_amount: text(&r.referee_reward_amount),
            clicks: clicks.clicks,
            last_clicked_at: clicks.last_clicked_at,
            expires_at: r.expires_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
            variant: r.variant,
        }
    }
}

impl AuditedResource for ReferralView {
    fn audit_id(&self) -> Option<String> {
        Some(self.id.to_string())
    }
}

/// What anyone holding a code may see: no PHI of anyone (not even the referrer's name:
/// that someone is a patient here is itself PHI).
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicReferralView {
    #[schema(example = "ABCDEF-GHJKMN-PQRSTV")]
    pub referral_code: String,
    /// `pending` until the invitation's date, `expired` from then on. Whether the code was
    /// used or declined is not said: whoever holds it may be the referrer.
    pub status: String,
    pub expires_at: DateTime<Utc>,
    pub program_name: String,
    #[schema(value_type = Option<String>, example = "discount")]
    pub referee_reward_type: Option<referral_domain::RewardType>,
    #[schema(value_type = Option<String>, example = "20.00")]
    pub referee_reward_value: Option<referral_domain::Money>,
    pub share_url: String,
    /// The question registration asks before `share_with_referrer`, word for word.
    pub share_consent_wording: String,
}

/// The result of registering with a code: only what the registrant needs. Never the
/// invited person's contact data, the referrer's message or the referrer's id: whoever
/// holds a share link could register with a throwaway address and read them.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationView {
    /// The new patient's id.
    pub patient_id: Uuid,
    /// The referral the registration completed.
    pub referral: RegisteredReferralView,
    /// The registrant's own welcome reward, if the program gives one.
    pub referee_reward: Option<RewardView>,
    /// Where to book the first consultation: the program's booking page, else the
    /// platform's (`--booking-url`); `null` when neither is set.
    #[schema(example = "https://book.example.com/first-visit")]
    pub booking_url: Option<String>,
}

/// The referral as its registrant sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredReferralView {
    /// The referral's id.
    pub id: Uuid,
    /// Its status (`registered`).
    pub status: String,
}

impl RegistrationView {
    /// The view of a registration, with where its patient books.
    pub fn new(r: Registration, booking_url: Option<String>) -> Self {
        RegistrationView {
            patient_id: r.patient.id.as_uuid(),
            referral: RegisteredReferralView {
                id: r.referral.id.as_uuid(),
                status: r.referral.status.as_str().to_owned(),
            },
            referee_reward: r.referee_reward.map(RewardView::from),
            booking_url,
        }
    }
}

impl AuditedResource for RegistrationView {
    fn audit_id(&self) -> Option<String> {
        Some(self.referral.id.to_string())
    }
}

/// The answer to a visitor's registration, whatever the address: a link is on its way
/// (or, for an address that has an account, an email saying so).
#[derive(Debug, Serialize, ToSchema)]
pub struct VerificationSentView {
    /// Always `verification_sent`.
    #[schema(example = "verification_sent")]
    pub status: &'static str,
}

impl VerificationSentView {
    /// The one answer.
    pub fn sent() -> Self {
        VerificationSentView {
            status: "verification_sent",
        }
    }
}

impl AuditedResource for VerificationSentView {}

/// A registration's confirmation link, as the page posts it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRegistrationRequest {
    /// The `token` of the link.
    pub token: String,
}

/// A patient's new referral.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateReferralRequest {
    #[schema(schema_with = field::email)]
    pub referee_email: String,
    #[schema(schema_with = field::phone)]
    pub referee_phone: Option<String>,
    #[schema(schema_with = field::person_name)]
    pub referee_name: Option<String>,
    /// `email`, `sms`, `social` or `direct_link`; `email` and `sms` send an invitation.
    #[schema(schema_with = field::referral_source)]
    pub referral_source: Option<String>,
    /// A personal note to the friend: at most 280 characters, without links, email
    /// addresses or phone numbers (it goes out under the platform's name).
    #[schema(schema_with = field::personal_message)]
    pub referral_message: Option<String>,
    /// The program; when omitted, the oldest active program that accepts the patient.
    pub program_id: Option<Uuid>,
    /// Required `true` with `referral_source` `sms`: the friend agreed to receive a text.
    pub sms_consent: Option<bool>,
    /// The language of the invitation and of every message about this referral: `en`
    /// (default) or `es`.
    #[schema(schema_with = field::locale)]
    pub locale: Option<String>,
}

/// Registration with a code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    #[schema(schema_with = field::email)]
    pub email: String,
    #[schema(schema_with = field::person_name)]
    pub name: Option<String>,
    #[schema(schema_with = field::phone)]
    pub phone: Option<String>,
    /// Services registering on behalf of a platform patient: that patient's id.
    pub patient_id: Option<Uuid>,
    /// Whether the person who invited the registrant may know that they joined (default
    /// `false`). Asked with the wording of `GET /api/referrals/{code}` `share_consent_wording`
    /// and stored with it; the referrer never learns anything about the registrant's care.
    pub share_with_referrer: Option<bool>,
    /// The language the registrant reads: the confirmation email is written in it and the
    /// consent is stored in its words (`share_consent_wording` in that language). Default:
    /// the referral's language for emails, English wording for the consent. Through a
    /// personal share link it is the new referral's language.
    #[schema(schema_with = field::locale)]
    pub locale: Option<String>,
}

/// A referral as its referrer sees it: only what they gave and what the friend agreed to
/// share (HIPAA minimum necessary). Never the friend's patient, consultation or order ids,
/// their rewards, or whether they registered or converted unless they agreed.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyReferralView {
    pub id: Uuid,
    #[schema(example = "ABCDEF-GHJKMN-PQRSTV")]
    pub referral_code: String,
    /// Link to share: `{public_base_url}/r/{code}` (counts the open, then the registration page).
    pub share_url: String,
    /// The address the referrer invited.
    pub referee_email: String,
    pub referee_phone: Option<String>,
    /// The name the referrer typed.
    pub referee_name: Option<String>,
    pub program_id: Uuid,
    #[schema(example = "email")]
    pub referral_source: Option<String>,
    pub referral_message: Option<String>,
    /// The language of the referral's messages: `en` or `es`.
    #[schema(example = "en")]
    pub locale: String,
    /// `invited` (also when the friend joined without letting the referrer know),
    /// `joined` (the friend agreed to let them know) or `expired`.
    #[schema(example = "invited")]
    pub status: String,
    /// Opens of the link, counted from the click rows as of the read.
    pub clicks: i64,
    pub last_clicked_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// The experiment variant the referrer was assigned, if the program runs one (the
    /// referrer's own arm, not the friend's).
    pub variant: Option<String>,
    /// For an SMS invitation the program leaves to the patient's phone: an `sms:` link
    /// with the prefilled text (the share link and "I may get a reward if you join").
    pub sms_link: Option<String>,
}

impl MyReferralView {
    /// What the referrer of `r` may see of it; `via_link`: made through their personal
    /// share link, whose visitor's details and code are not theirs (only "a friend who
    /// joined", and only with consent: the store lists no other).
    pub fn new(
        r: Referral,
        clicks: ClickTally,
        locale: referral_domain::Locale,
        via_link: bool,
        state: &AppState,
    ) -> Self {
        if via_link {
            return MyReferralView::through_link(r, state);
        }
        let share_url = state.share_url(&r.referral_code.to_string());
        let sms_link = r
            .referee_phone
            .as_ref()
            .filter(|_| r.sms_on_device)
            .map(|phone| referral_domain::consent::device_sms_link(phone.as_str(), &share_url));
        MyReferralView {
            locale: locale.as_str().to_owned(),
            id: r.id.as_uuid(),
            sms_link,
            status: r.referrer_status(state.now()).to_string(),
            referral_code: r.referral_code.to_string(),
            share_url: state.share_url(&r.referral_code.to_string()),
            referee_email: r.referee_email.to_string(),
            referee_phone: text(&r.referee_phone),
            referee_name: r.referee_name,
            program_id: r.program_id.as_uuid(),
            referral_source: text(&r.referral_source),
            referral_message: r.referral_message,
            clicks: clicks.clicks,
            last_clicked_at: clicks.last_clicked_at,
            expires_at: r.expires_at,
            created_at: r.created_at,
            variant: r.variant,
        }
    }
}

impl MyReferralView {
    /// A share-link referral as its referrer sees it: that someone joined, and when.
    fn through_link(r: Referral, state: &AppState) -> Self {
        MyReferralView {
            locale: referral_domain::Locale::En.as_str().to_owned(),
            id: r.id.as_uuid(),
            sms_link: None,
            status: r.referrer_status(state.now()).to_string(),
            referral_code: String::new(),
            share_url: String::new(),
            referee_email: String::new(),
            referee_phone: None,
            referee_name: Some(referral_domain::disclosure::FRIEND_WHO_JOINED.to_owned()),
            program_id: r.program_id.as_uuid(),
            referral_source: Some(referral_domain::ReferralSource::DirectLink.to_string()),
            referral_message: None,
            clicks: 0,
            last_clicked_at: None,
            expires_at: r.expires_at,
            created_at: r.created_at,
            variant: r.variant,
        }
    }
}

impl AuditedResource for MyReferralView {
    fn audit_id(&self) -> Option<String> {
        Some(self.id.to_string())
    }
}
