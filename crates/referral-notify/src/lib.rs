//! Templates and delivery of the referral service's messages: invitation and reward emails
//! (SendGrid), invitation SMS (Twilio) and cash payouts (Stripe). No SQL here: the API's
//! worker claims outbox rows and hands them to [`Notifier::deliver`].

pub mod templates;
pub mod transport;

pub use templates::{Rendered, Templates};
pub use transport::{Notifier, NotifyError, ProviderConfig};
