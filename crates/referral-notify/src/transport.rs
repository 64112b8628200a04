//! Delivery through the providers' HTTP APIs: SendGrid (email), Twilio (SMS), Stripe
//! (payouts). Each message carries its outbox idempotency key; Stripe honours it as
//! `Idempotency-Key`, SendGrid gets it as a custom argument for reconciliation.

use crate::templates::Templates;
use serde_json::{json, Value};
use std::time::Duration;

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A template is missing or broken.
    #[error("template error: {0}")]
    Template(String),
    /// No provider is configured for this kind of message.
    #[error("no {0} provider is configured")]
    NotConfigured(&'static str),
    /// The provider answered with an error status.
    #[error("the provider answered {status}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// Whether trying again later may work (429 and 5xx).
        retryable: bool,
    },
    /// The provider could not be reached.
    #[error("the provider could not be reached")]
    Network,
    /// The message lacks something it needs.
    #[error("the message is incomplete: {0}")]
    Incomplete(&'static str),
}

impl NotifyError {
    /// Whether a later attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            NotifyError::Rejected { retryable, .. } => *retryable,
            NotifyError::Network | NotifyError::NotConfigured(_) => true,
            NotifyError::Template(_) | NotifyError::Incomplete(_) => false,
        }
    }
}

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

/// Which providers are configured. With none, messages are rendered and logged as
/// delivered (development).
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

/// One message to deliver.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    /// `email`, `sms` or `payout`.
    pub kind: &'a str,
    /// Email, phone, or patient id (payouts).
    pub recipient: &'a str,
    /// Template name.
    pub template: &'a str,
    /// Template data, with `register_url` and `unsubscribe_url` added by the caller.
    pub payload: &'a Value,
    /// The outbox idempotency key.
    pub idempotency_key: &'a str,
}

/// Renders and sends messages.
#[derive(Debug)]
pub struct Notifier {
    templates: Templates,
    providers: ProviderConfig,
    client: reqwest::blocking::Client,
}

impl Notifier {
    /// A notifier for `providers`.
    ///
    /// # Errors
    /// A broken template, or an HTTP client that cannot be built.
    pub fn new(providers: ProviderConfig) -> Result<Self, NotifyError> {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|_| NotifyError::Network)?;
        Ok(Self {
            templates: Templates::new()?,
            providers,
            client,
        })
    }

    /// Delivers one message (blocking: call it from a worker thread).
    ///
    /// # Errors
    /// See [`NotifyError`]; [`NotifyError::is_retryable`] tells whether to try again.
    pub fn deliver(&self, message: &Outgoing<'_>) -> Result<(), NotifyError> {
        match message.kind {
            "email" => {
                let rendered = self
                    .templates
                    .render(message.template, "email", message.payload)?;
                if self.providers.is_empty() {
                    return Ok(());
                }
                let sendgrid = self
                    .providers
                    .sendgrid
                    .as_ref()
                    .ok_or(NotifyError::NotConfigured("email"))?;
                let body = json!({
                    "personalizations": [{
                        "to": [{"email": message.recipient}],
                        "custom_args": {"idempotency_key": message.idempotency_key},
                    }],
                    "from": {"email": sendgrid.from_email},
                    "subject": rendered.subject,
                    "content": [{"type": "text/html", "value": rendered.body}],
                });
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
            "sms" => {
                let rendered = self
                    .templates
                    .render(message.template, "sms", message.payload)?;
                if self.providers.is_empty() {
                    return Ok(());
                }
                let twilio = self
                    .providers
                    .twilio
                    .as_ref()
                    .ok_or(NotifyError::NotConfigured("sms"))?;
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
                        ("Body", rendered.body.as_str()),
                    ]);
                send(request)
            }
            "payout" => {
                if self.providers.is_empty() {
                    return Ok(());
                }
                let stripe = self
                    .providers
                    .stripe
                    .as_ref()
                    .ok_or(NotifyError::NotConfigured("payout"))?;
                let cents = message
                    .payload
                    .get("amount")
                    .and_then(Value::as_str)
                    .and_then(|a| a.parse::<referral_domain::Money>().ok())
                    .map(|m| m.cents())
                    .ok_or(NotifyError::Incomplete("amount"))?;
                let destination = message
                    .payload
                    .get("stripe_account")
                    .and_then(Value::as_str)
                    .ok_or(NotifyError::Incomplete("stripe_account"))?;
                let amount = cents.to_string();
                let request = self
                    .client
                    .post(format!(
                        "{}/v1/transfers",
                        stripe.base_url.trim_end_matches('/')
                    ))
                    .bearer_auth(&stripe.api_key)
                    .header("Idempotency-Key", message.idempotency_key)
                    .form(&[
                        ("amount", amount.as_str()),
                        ("currency", "usd"),
                        ("destination", destination),
                        ("metadata[patient_id]", message.recipient),
                    ]);
                send(request)
            }
            _ => Err(NotifyError::Incomplete("kind")),
        }
    }
}

fn send(request: reqwest::blocking::RequestBuilder) -> Result<(), NotifyError> {
    let response = request.send().map_err(|_| NotifyError::Network)?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(NotifyError::Rejected {
            status: status.as_u16(),
            retryable: status.as_u16() == 429 || status.is_server_error(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{body_string_contains, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn invitation() -> Value {
        json!({"referrer_name": "Alice", "referee_reward_type": "credit", "referee_reward_value": "10.00",
               "expiry_days": 30, "register_url": "http://portal.test/register?ref=X", "unsubscribe_url": "http://u"})
    }

    fn on_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        // reqwest's blocking client must not run on the async test runtime's thread.
        std::thread::spawn(f).join().unwrap()
    }

    #[tokio::test]
    async fn email_goes_to_sendgrid_with_the_idempotency_key() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v3/mail/send"))
            .and(header("authorization", "Bearer sg-key"))
            .and(body_string_contains("bob@example.com"))
            .and(body_string_contains("invitation:1:email"))
            .respond_with(ResponseTemplate::new(202))
            .expect(1)
            .mount(&server)
            .await;
        let config = ProviderConfig {
            sendgrid: Some(SendGrid {
                api_key: "sg-key".into(),
                from_email: "hello@zappy.test".into(),
                base_url: server.uri(),
            }),
            ..Default::default()
        };
        let result = on_thread(move || {
            let notifier = Notifier::new(config).unwrap();
            let payload = invitation();
            notifier.deliver(&Outgoing {
                kind: "email",
                recipient: "bob@example.com",
                template: "referral_invitation",
                payload: &payload,
                idempotency_key: "invitation:1:email",
            })
        });
        assert!(result.is_ok(), "{result:?}");
    }

    #[tokio::test]
    async fn sms_goes_to_twilio_and_server_errors_are_retryable() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/2010-04-01/Accounts/AC1/Messages.json"))
            .and(body_string_contains("To=%2B14155550100"))
            .respond_with(ResponseTemplate::new(503))
            .expect(1)
            .mount(&server)
            .await;
        let config = ProviderConfig {
            twilio: Some(Twilio {
                account_sid: "AC1".into(),
                auth_token: "t".into(),
                from_number: "+15550000000".into(),
                base_url: server.uri(),
            }),
            ..Default::default()
        };
        let result = on_thread(move || {
            let notifier = Notifier::new(config).unwrap();
            let payload = invitation();
            notifier.deliver(&Outgoing {
                kind: "sms",
                recipient: "+14155550100",
                template: "referral_invitation",
                payload: &payload,
                idempotency_key: "k",
            })
        });
        let err = result.unwrap_err();
        assert!(err.is_retryable(), "{err:?}");
        assert!(matches!(err, NotifyError::Rejected { status: 503, .. }));
    }

    #[tokio::test]
    async fn payouts_go_to_stripe_with_its_idempotency_key_and_bad_requests_are_final() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/transfers"))
            .and(header("idempotency-key", "payout:r1"))
            .and(body_string_contains("amount=5000"))
            .respond_with(ResponseTemplate::new(400))
            .expect(1)
            .mount(&server)
            .await;
        let config = ProviderConfig {
            stripe: Some(Stripe {
                api_key: "sk".into(),
                base_url: server.uri(),
            }),
            ..Default::default()
        };
        let result = on_thread(move || {
            let notifier = Notifier::new(config).unwrap();
            let payload = json!({"amount": "50.00", "stripe_account": "acct_1"});
            notifier.deliver(&Outgoing {
                kind: "payout",
                recipient: "p1",
                template: "cash_payout",
                payload: &payload,
                idempotency_key: "payout:r1",
            })
        });
        let err = result.unwrap_err();
        assert!(!err.is_retryable());
        let missing = on_thread(|| {
            let notifier = Notifier::new(ProviderConfig {
                stripe: Some(Stripe {
                    api_key: "sk".into(),
                    base_url: "http://127.0.0.1:9".into(),
                }),
                ..Default::default()
            })
            .unwrap();
            let payload = json!({"amount": "50.00"});
            notifier.deliver(&Outgoing {
                kind: "payout",
                recipient: "p1",
                template: "cash_payout",
                payload: &payload,
                idempotency_key: "k",
            })
        });
        assert!(matches!(
            missing,
            Err(NotifyError::Incomplete("stripe_account"))
        ));
    }
}
