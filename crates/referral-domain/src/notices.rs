//! The messages the service sends, as types: what to tell whom. The store queues them in
//! its outbox and `referral-notify` renders and delivers them; they are data, so they live
//! here, below both (the store needs no delivery code to queue one). A message missing a field is a compile error where it is made, not
//! a delivery that fails later.
//!
//! In the outbox a message is two columns, its template name and its payload (the variant's
//! fields as JSON): [`Message::template`], [`Message::payload`], and back with
//! [`Message::from_parts`]. The JSON is what earlier versions wrote, so queued rows still
//! read.

use crate::{Locale, Money, RewardType};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// A stored message that no variant reads: an unknown template, or a payload that does not
/// fit it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the message is incomplete: a payload that fits its template")]
pub struct UnreadableNotice;

/// A message to send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "template", content = "payload", rename_all = "snake_case")]
pub enum Message {
    /// The invitation to a referred friend (email or SMS).
    ReferralInvitation(Invitation),
    /// The referrer's notice of a reward.
    RewardEarned(RewardNotice),
    /// The friend's welcome bonus.
    WelcomeBonus(WelcomeBonus),
    /// A reminder that a reward expires soon.
    RewardExpiring(RewardExpiring),
    /// A cash payout (Stripe).
    CashPayout(CashPayout),
    /// The link that confirms an anonymous registration's address.
    RegistrationVerification(RegistrationVerification),
    /// The answer to a registration with an address that already has an account.
    AlreadyRegistered(AlreadyRegistered),
    /// The answer to a confirmed registration through a share link that a creation rule
    /// refused (told to the person who confirmed, never to the link's owner).
    RegistrationRefused(RegistrationRefused),
    /// An event for a webhook endpoint (the outbox's recipient is the endpoint's id).
    Webhook(WebhookEvent),
}

/// An event for a webhook endpoint. The body sent is `{type, timestamp, data}`; the
/// `webhook_id` goes in the `webhook-id` header, the same on every retry. `data` holds
/// ids, types, amounts and times only: never an email, phone, name or message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEvent {
    /// `msg_` and 32 hex digits.
    pub webhook_id: String,
    /// Such as `referral.converted`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the event happened (RFC 3339).
    pub timestamp: String,
    /// What it is about.
    pub data: serde_json::Value,
}

impl WebhookEvent {
    /// The body an endpoint receives.
    pub fn body(&self) -> String {
        serde_json::json!({"type": self.event_type, "timestamp": self.timestamp, "data": self.data})
            .to_string()
    }
}

/// The single-use link that confirms a registration's address (the link is made from the
/// token at sending time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistrationVerification {
    /// The referral being joined.
    pub referral_id: Uuid,
    /// The secret of the link (only its hash is stored with the registration).
    pub verification_token: String,
    /// Hours the link works.
    pub valid_hours: u32,
    /// The language it is written in (the referral's; `en` in rows queued before locales).
    #[serde(default)]
    pub locale: Locale,
}

/// Sent instead of a verification link when the address already belongs to a patient: the
/// person learns it, whoever asked learns nothing (the API answers the same).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlreadyRegistered {
    /// The referral whose code was used.
    pub referral_id: Uuid,
    /// The language it is written in (the referral's; `en` in rows queued before locales).
    #[serde(default)]
    pub locale: Locale,
}

/// Why a confirmed registration through a personal share link was refused, in words for
/// the person who confirmed it (the link's owner is told nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationRefusal {
    /// The address is the link owner's own.
    OwnLink,
    /// The address already has an open invitation in this program.
    AlreadyInvited,
    /// The link's owner has invited as many friends as the program allows.
    LinkFull,
    /// The program no longer takes new friends (ended, paused, or not for this person).
    ProgramClosed,
}

/// Sent when a confirmed registration through a share link is refused by a creation rule:
/// the page says why too, and this email keeps it for a person who closed the page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistrationRefused {
    /// The share link that was used.
    pub referral_id: Uuid,
    /// Why.
    pub reason: RegistrationRefusal,
    /// The language it is written in (the page's).
    #[serde(default)]
    pub locale: Locale,
}

/// An invitation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invitation {
    /// The referral.
    pub referral_id: Uuid,
    /// Its code (the registration link is made from it at sending time).
    pub referral_code: String,
    /// The referrer's name, as the platform knows it.
    pub referrer_name: Option<String>,
    /// The friend's name, as the referrer typed it.
    pub referee_name: Option<String>,
    /// The referrer's message.
    pub referral_message: Option<String>,
    /// The friend's reward type.
    pub referee_reward_type: Option<RewardType>,
    /// The friend's reward value.
    pub referee_reward_value: Option<String>,
    /// Days the code is valid.
    pub expiry_days: u32,
    /// An experiment variant's headline.
    pub headline: Option<String>,
    /// The language it is written in (the referral's; `en` in rows queued before locales).
    #[serde(default)]
    pub locale: Locale,
}

/// A referrer's reward notice.
///
/// It never names the friend or says what they did: that they joined, let alone anything
/// of their care, is theirs to tell (minimum necessary). Payloads queued before this rule
/// carried `referee_name`; it is ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RewardNotice {
    /// The reward in words.
    pub reward_description: String,
    /// Whether an admin must approve it first.
    pub pending_approval: bool,
    /// The reward.
    pub reward_id: Uuid,
    /// Its referral.
    pub referral_id: Uuid,
    /// The language it is written in (the referral's; `en` in rows queued before locales).
    #[serde(default)]
    pub locale: Locale,
}

/// A friend's welcome bonus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WelcomeBonus {
    /// The friend's name.
    pub patient_name: Option<String>,
    /// The reward in words.
    pub reward_description: String,
    /// Whether an admin must approve it first.
    pub pending_approval: bool,
    /// The reward.
    pub reward_id: Uuid,
    /// Its referral.
    pub referral_id: Uuid,
    /// The language it is written in (the referral's; `en` in rows queued before locales).
    #[serde(default)]
    pub locale: Locale,
}

/// A reminder of a reward about to expire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RewardExpiring {
    /// The owner's name.
    pub patient_name: Option<String>,
    /// The reward in words.
    pub reward_description: Option<String>,
    /// The day it expires, in words.
    pub expires_on: String,
    /// The reward.
    pub reward_id: Uuid,
    /// The language it is written in (the referral's; `en` in rows queued before locales).
    #[serde(default)]
    pub locale: Locale,
}

/// A cash payout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CashPayout {
    /// The reward paid.
    pub reward_id: Uuid,
    /// Its owner.
    pub patient_id: Uuid,
    /// The amount.
    pub amount: Option<Money>,
    /// ISO currency, lower case.
    pub currency: String,
    /// The patient's connected Stripe account, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_account: Option<String>,
}

impl Message {
    /// The template's name (the outbox's `template` column).
    pub fn template(&self) -> &'static str {
        match self {
            Message::ReferralInvitation(_) => "referral_invitation",
            Message::RewardEarned(_) => "reward_earned",
            Message::WelcomeBonus(_) => "welcome_bonus",
            Message::RewardExpiring(_) => "reward_expiring",
            Message::CashPayout(_) => "cash_payout",
            Message::RegistrationVerification(_) => "registration_verification",
            Message::AlreadyRegistered(_) => "already_registered",
            Message::RegistrationRefused(_) => "registration_refused",
            Message::Webhook(_) => "webhook",
        }
    }

    /// The fields as JSON (the outbox's `payload` column, and the template's data).
    pub fn payload(&self) -> Value {
        serde_json::to_value(self)
            .ok()
            .and_then(|mut tagged| tagged.get_mut("payload").map(Value::take))
            .unwrap_or(Value::Null)
    }

    /// The message stored as `template` and `payload`.
    ///
    /// # Errors
    /// [`UnreadableNotice`] for an unknown template or a payload that does not fit it.
    pub fn from_parts(template: &str, payload: &Value) -> Result<Self, UnreadableNotice> {
        serde_json::from_value(serde_json::json!({"template": template, "payload": payload}))
            .map_err(|_| UnreadableNotice)
    }

    /// The language the message is written in (English for a payout or a webhook, which
    /// no person reads as a message).
    pub fn locale(&self) -> Locale {
        match self {
            Message::ReferralInvitation(m) => m.locale,
            Message::RewardEarned(m) => m.locale,
            Message::WelcomeBonus(m) => m.locale,
            Message::RewardExpiring(m) => m.locale,
            Message::RegistrationVerification(m) => m.locale,
            Message::AlreadyRegistered(m) => m.locale,
            Message::RegistrationRefused(m) => m.locale,
            Message::CashPayout(_) | Message::Webhook(_) => Locale::En,
        }
    }

    /// The referral the message is about, when it is about one.
    pub fn referral_id(&self) -> Option<Uuid> {
        match self {
            Message::ReferralInvitation(m) => Some(m.referral_id),
            Message::RewardEarned(m) => Some(m.referral_id),
            Message::WelcomeBonus(m) => Some(m.referral_id),
            Message::RegistrationVerification(m) => Some(m.referral_id),
            Message::AlreadyRegistered(m) => Some(m.referral_id),
            Message::RegistrationRefused(m) => Some(m.referral_id),
            Message::RewardExpiring(_) | Message::CashPayout(_) | Message::Webhook(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn messages_go_through_the_outbox_columns_unchanged() {
        let message = Message::CashPayout(CashPayout {
            reward_id: Uuid::new_v4(),
            patient_id: Uuid::new_v4(),
            amount: Some(Money::from_cents(1000).unwrap()),
            currency: "usd".into(),
            stripe_account: None,
        });
        let payload = message.payload();
        assert_eq!(payload["amount"], "10.00");
        assert_eq!(
            Message::from_parts(message.template(), &payload).unwrap(),
            message
        );
    }

    #[test]
    fn a_payload_that_does_not_fit_its_template_is_refused() {
        let payload = serde_json::json!({"reward_id": "not-a-uuid"});
        assert!(Message::from_parts("cash_payout", &payload).is_err());
        assert!(Message::from_parts("no_such_template", &serde_json::json!({})).is_err());
    }

    #[test]
    fn rows_written_before_the_types_still_read() {
        let old = serde_json::json!({"referee_name": null, "reward_description": "$5.00 account credit",
            "pending_approval": false, "reward_id": Uuid::new_v4(), "referral_id": Uuid::new_v4()});
        assert!(matches!(
            Message::from_parts("reward_earned", &old),
            Ok(Message::RewardEarned(_))
        ));
    }
}
