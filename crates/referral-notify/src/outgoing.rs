//! What a delivery deals in: the message to send, its channel, what became of it, and a
//! cash payout read from its payload. Plain data, shared by the providers and the mailbox.

use crate::error::NotifyError;
use serde_json::Value;
use std::path::PathBuf;
use uuid::Uuid;

/// The channel a message goes out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Email (SendGrid).
    Email,
    /// SMS (Twilio).
    Sms,
    /// Cash payout (Stripe).
    Payout,
}

/// One message to deliver.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    /// The outbox row's id: Stripe's `Idempotency-Key`, and the mailbox file name.
    pub message_id: Uuid,
    /// The channel.
    pub channel: Channel,
    /// Email, phone, or patient id (payouts).
    pub recipient: &'a str,
    /// Template name.
    pub template: &'a str,
    /// Template data, with `register_url` and `unsubscribe_url` added by the caller.
    pub payload: &'a Value,
    /// The outbox idempotency key (SendGrid gets it as a custom argument).
    pub idempotency_key: &'a str,
}

/// What became of a delivered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// The provider accepted it.
    Provider,
    /// It was written to this file.
    Mailbox(PathBuf),
}

/// A cash payout, read from its outbox payload.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Payout {
    /// Amount in cents.
    pub cents: i64,
    /// ISO currency, lower case.
    pub currency: String,
    /// The reward paid.
    pub reward_id: String,
    /// The patient's connected Stripe account, when known.
    pub destination: Option<String>,
}

impl Payout {
    /// The payout of a `cash_payout` message's payload, read as its type.
    pub(crate) fn from_payload(payload: &Value) -> Result<Self, NotifyError> {
        let crate::Message::CashPayout(payout) =
            crate::Message::from_parts("cash_payout", payload)?
        else {
            return Err(NotifyError::Incomplete("a cash payout"));
        };
        let cents = payout
            .amount
            .map(|m| m.cents())
            .filter(|c| *c > 0)
            .ok_or(NotifyError::Incomplete("amount"))?;
        Ok(Payout {
            cents,
            currency: payout.currency.to_ascii_lowercase(),
            reward_id: payout.reward_id.to_string(),
            destination: payout.stripe_account,
        })
    }
}
