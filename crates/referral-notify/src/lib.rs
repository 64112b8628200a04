//! Templates and delivery of the referral service's messages: invitation, welcome-bonus,
//! reward and reminder emails (SendGrid), invitation SMS (Twilio) and cash payouts (Stripe),
//! or, with no provider configured, files in a mailbox directory. No SQL here: the API's
//! worker claims outbox rows and hands them to [`Notifier::deliver`].

pub mod error;
pub mod inbound;
pub mod mailbox;
/// The message types, which live in the domain (they are data): re-exported under the
/// name this crate always gave them.
pub use referral_domain::notices as messages;
pub mod outgoing;
pub mod templates;
pub mod transport;
pub mod webhook;

pub use error::NotifyError;
pub use messages::Message;
pub use outgoing::{Channel, Delivered, Outgoing};
pub use templates::{RenderedEmail, Templates};
pub use transport::{Notifier, ProviderConfig, Transport};
