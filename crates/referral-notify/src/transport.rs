//! Delivery through the providers' HTTP APIs: SendGrid (email), Twilio (SMS), Stripe
//! (payouts). Each message carries its outbox idempotency key; Stripe honours it as
//! `Idempotency-Key`, SendGrid gets it as a custom argument for reconciliation.

use crate::error::NotifyError;
use crate::mailbox;
use crate::outgoing::{Channel, Delivered, Outgoing, Payout};
use crate::templates::{RenderedEmail, Templates};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

/// SendGrid settings.
#[derive(Debug, Clone)]
pub struct SendGrid {
    /// API key (secret).
    pub api_key: String,
    /// Sender address.
    pub from_email: String,
    /// API base, `https://api.sendgrid.com` in production.
    pub base_url: String,
}

/// Twilio settings.
#[derive(Debug, Clone)]
pub struct Twilio {
    /// Account SID.
    pub account_sid: String,
    /// Auth token (secret).
    pub auth_token: String,
    /// Sender number.
    pub from_number: String,
    /// API base, `https://api.twilio.com` in production.
    pub base_url: String,
}

/// Stripe settings.
#[derive(Debug, Clone)]
pub struct Stripe {
    /// Secret key.
    pub api_key: String,
    /// API base, `https://api.stripe.com` in production.
    pub base_url: String,
}

/// Which providers are configured.
#[derive(Debug, Clone, Default)]
pub struct ProviderConfig {
    /// Email.
    pub sendgrid: Option<SendGrid>,
    /// SMS.
    pub twilio: Option<Twilio>,
    /// Payouts.
    pub stripe: Option<Stripe>,
}

impl ProviderConfig {
    /// Whether no provider at all is configured (development).
    pub fn is_empty(&self) -> bool {
        self.sendgrid.is_none() && self.twilio.is_none() && self.stripe.is_none()
    }
}

/// Where messages go.
#[derive(Debug, Clone)]
pub enum Transport {
    /// The providers' APIs.
    Providers(ProviderConfig),
    /// Files in a directory (development: nothing leaves the machine).
    Mailbox(PathBuf),
}

/// Renders and sends messages.
#[derive(Debug)]
pub struct Notifier {
    templates: Templates,
    transport: Transport,
    client: reqwest::blocking::Client,
}

impl Notifier {
    /// A notifier sending through `transport`.
    ///
    /// # Errors
    /// A broken template, or an HTTP client that cannot be built.
    pub fn new(transport: Transport) -> Result<Self, NotifyError> {
        let client = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(crate::webhook::CONNECT_TIMEOUT_SECONDS))
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|_| NotifyError::Network)?;
        Ok(Self {
            templates: Templates::new()?,
            transport,
            client,
        })
    }

    /// The directory messages are written to, when they are not sent (development).
    pub fn mailbox(&self) -> Option<&std::path::Path> {
        match &self.transport {
            Transport::Mailbox(dir) => Some(dir),
            Transport::Providers(_) => None,
        }
    }

    /// Renders and delivers one message (blocking: call it from a worker thread). A message
    /// that does not render is never sent.
    ///
    /// # Errors
    /// See [`NotifyError`]; [`NotifyError::is_retryable`] tells whether to try again.
    pub fn deliver(&self, message: &Outgoing<'_>) -> Result<Delivered, NotifyError> {
        match message.channel {
            Channel::Email => {
                let email = self
                    .templates
                    .render_email(message.template, message.payload)?;
                match &self.transport {
                    Transport::Mailbox(dir) => mailbox::write_email(dir, message, &email),
                    Transport::Providers(p) => {
                        let sendgrid = p
                            .sendgrid
                            .as_ref()
                            .ok_or(NotifyError::NotConfigured("email"))?;
                        self.send_email(sendgrid, message, &email)
                    }
                }
            }
            Channel::Sms => {
                let body = self
                    .templates
                    .render_sms(message.template, message.payload)?;
                match &self.transport {
                    Transport::Mailbox(dir) => mailbox::write_sms(dir, message, &body),
                    Transport::Providers(p) => {
                        let twilio = p.twilio.as_ref().ok_or(NotifyError::NotConfigured("sms"))?;
                        self.send_sms(twilio, message, &body)
                    }
                }
            }
            Channel::Payout => {
                let payout = Payout::from_payload(message.payload)?;
                match &self.transport {
                    Transport::Mailbox(dir) => mailbox::write_payout(dir, message, &payout),
                    Transport::Providers(p) => {
                        let stripe = p
                            .stripe
                            .as_ref()
                            .ok_or(NotifyError::NotConfigured("payout"))?;
                        self.send_payout(stripe, message, &payout)
                    }
                }
            }
        }
    }

    /// SendGrid v3 mail send: text and HTML parts, the unsubscribe link as
    /// `List-Unsubscribe` with `List-Unsubscribe-Post` (RFC 8058), the idempotency key as a
    /// custom argument.
    fn send_email(
        &self,
        sendgrid: &SendGrid,
        message: &Outgoing<'_>,
        email: &RenderedEmail,
    ) -> Result<Delivered, NotifyError> {
        let mut body = json!({
            "personalizations": [{
                "to": [{"email": message.recipient}],
                "custom_args": {"idempotency_key": message.idempotency_key},
            }],
            "from": {"email": sendgrid.from_email},
            "subject": email.subject,
            "content": [
                {"type": "text/plain", "value": email.text},
                {"type": "text/html", "value": email.html},
            ],
        });
        if let Some(url) = message
            .payload
            .get("unsubscribe_url")
            .and_then(Value::as_str)
        {
            // RFC 8058 one-click: mail clients POST `List-Unsubscribe=One-Click` to the URL.
            body["headers"] = json!({
                "List-Unsubscribe": format!("<{url}>"),
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            });
        }
        let request = self
            .client
            .post(format!(
                "{}/v3/mail/send",
                sendgrid.base_url.trim_end_matches('/')
            ))
            .bearer_auth(&sendgrid.api_key)
            .json(&body);
        send(request)
    }

    /// Twilio Messages: a form body with basic auth.
    fn send_sms(
        &self,
        twilio: &Twilio,
        message: &Outgoing<'_>,
        body: &str,
    ) -> Result<Delivered, NotifyError> {
        let request = self
            .client
            .post(format!(
                "{}/2010-04-01/Accounts/{}/Messages.json",
                twilio.base_url.trim_end_matches('/'),
                twilio.account_sid
            ))
            .basic_auth(&twilio.account_sid, Some(&twilio.auth_token))
            .form(&[
                ("To", message.recipient),
                ("From", twilio.from_number.as_str()),
                ("Body", body),
            ]);
        send(request)
    }

    /// Stripe transfer to the patient's connected account, idempotent on the outbox row id.
    fn send_payout(
        &self,
        stripe: &Stripe,
        message: &Outgoing<'_>,
        payout: &Payout,
    ) -> Result<Delivered, NotifyError> {
        let destination = payout
            .destination
            .as_deref()
            .ok_or(NotifyError::Incomplete("stripe_account"))?;
        let amount = payout.cents.to_string();
        let request = self
            .client
            .post(format!(
                "{}/v1/transfers",
                stripe.base_url.trim_end_matches('/')
            ))
            .bearer_auth(&stripe.api_key)
            .header("Idempotency-Key", message.message_id.to_string())
            .form(&[
                ("amount", amount.as_str()),
                ("currency", payout.currency.as_str()),
                ("destination", destination),
                ("metadata[reward_id]", payout.reward_id.as_str()),
                ("metadata[patient_id]", message.recipient),
            ]);
        send(request)
    }
}

/// Bytes of an answer read at most: an error body of any size costs no more than this.
pub(crate) const ANSWER_READ_BYTES: u64 = 1024;

/// A short excerpt of an answer's body (at most [`ANSWER_READ_BYTES`] read, 200 characters
/// kept, no control characters). The rest is never read: a receiver that answers 600 MB
/// cannot make the worker hold them.
pub(crate) fn excerpt(response: reqwest::blocking::Response) -> String {
    use std::io::Read;
    let mut bytes = Vec::new();
    let _ = response.take(ANSWER_READ_BYTES).read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes)
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect()
}

fn send(request: reqwest::blocking::RequestBuilder) -> Result<Delivered, NotifyError> {
    let response = request.send().map_err(|_| NotifyError::Network)?;
    let status = response.status();
    if status.is_success() {
        return Ok(Delivered::Provider);
    }
    // The provider's own explanation helps an admin fix a failed message; it is cut short
    // and never holds the recipient (providers answer about fields, not content).
    let detail = excerpt(response);
    Err(NotifyError::Rejected {
        status: status.as_u16(),
        retryable: status.as_u16() == 429 || status.is_server_error(),
        detail,
    })
}
