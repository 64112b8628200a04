//! Pure rules of the referral management service.
//!
//! This crate holds every rule of the referral programme as plain types and functions:
//! referral codes, contact details, money, program validation and targeting, the referral
//! lifecycle, the conversion decision and the threshold that earns a referrer reward, the reward ledger and the
//! healthcare inducement policy. It does no I/O and never reads a clock: every function that
//! depends on time takes `now` (or `today`) as a parameter, so other platform services can
//! link it and get the same answers the referral service gets.
//!
//! Values are parsed once at the edge and trusted inside: once you hold a [`ReferralCode`],
//! an [`Email`], a [`Phone`] or a [`Money`], it is valid and normalised.
//!
//! # Example: a referral from creation to the referrer's reward
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use referral_domain::{
//!     CreationFacts, Email, Money, ReferralLifecycle, ReferralStatus, RewardLedgerEntry,
//!     RewardStatus, RewardType, ConversionTrigger, RedemptionTarget, OrderId,
//!     referral::completes_batch,
//! };
//!
//! let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
//! let referrer = Email::parse("Alice@Example.com").unwrap();
//! let referee = Email::parse(" bob@example.com ").unwrap();
//!
//! // The store gathers the facts in a transaction; the domain decides.
//! let facts = CreationFacts {
//!     referrer_email: Some(&referrer),
//!     referee_email: &referee,
//!     referee_is_patient: false,
//!     referrer_already_invited_referee: false,
//!     referrer_open_referrals_in_program: 0,
//!     max_referrals_per_patient: Some(5),
//! };
//! assert!(facts.decide().unwrap().sends());
//!
//! // The referral is pending for 30 days, then registered, then converted.
//! let mut referral = ReferralLifecycle::new(now, 30).unwrap();
//! referral.register(now + chrono::Duration::days(2)).unwrap();
//! let outcome = referral
//!     .convert(now + chrono::Duration::days(3), ConversionTrigger::Consultation)
//!     .unwrap();
//! assert!(outcome.is_new());
//! assert_eq!(referral.status(), ReferralStatus::Converted);
//!
//! // With a threshold of 1, this conversion completes a batch.
//! assert!(completes_batch(1, 1));
//!
//! // The referrer's credit is available at once and can be redeemed once.
//! let amount = Money::parse("25").unwrap();
//! assert_eq!(amount.to_string(), "25.00");
//! let mut reward = RewardLedgerEntry::grant(RewardType::Credit, None);
//! assert_eq!(reward.status(), RewardStatus::Available);
//! reward.redeem(now, RedemptionTarget::Order(OrderId::new_random())).unwrap();
//! assert!(reward.redeem(now, RedemptionTarget::Order(OrderId::new_random())).is_err());
//! ```

#![warn(missing_docs)]

/// The characters `str::trim` removes (Unicode White_Space) as the inside of a regular
/// expression class that ECMA-262 (JSON Schema's dialect) and Rust's `regex` read alike.
/// `\s` would not do: ECMA's includes U+FEFF and leaves out U+0085, which `trim` removes,
/// so a document saying `\S` would allow a reason of one U+0085 that the service finds blank.
macro_rules! space_class {
    () => {
        r"\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000"
    };
}

pub mod batch;
pub mod budget;
pub mod code;
pub mod consent;
pub mod contact;
pub mod conversion;
pub mod disclosure;
pub mod error;
pub mod experiment;
pub mod facts;
pub mod ids;
pub mod locale;
pub mod message;
pub mod money;
pub mod notices;
pub mod opens;
pub mod policy;
pub mod program;
pub mod rate_limit;
pub mod referral;
pub mod retention;
pub mod reversal;
pub mod reward;
pub mod signals;
pub mod status;
pub mod text;
pub mod webhook;

pub use code::ReferralCode;
pub use contact::{Email, Inbox, Phone};
pub use disclosure::{ReferrerStatus, RewardCadence};
pub use error::{DomainError, FieldError, ValidationErrors};
pub use facts::{FactsInput, FactsUpdate, UnknownPayerPolicy, UsState};
pub use ids::{ConsultationId, OrderId, PatientId, ProgramId, ProviderId, ReferralId, RewardId};
pub use locale::Locale;
pub use money::Money;
pub use policy::{InducementPolicy, RecipientStanding, RewardDecision, RewardRefusal};
pub use program::{
    Demographics, ProgramDraft, ProgramSchedule, ReferrerProfile, RewardSpec, Targeting,
    ValidProgram,
};
pub use referral::{
    ConversionOutcome, ConversionTrigger, CreationDecision, CreationFacts, CreationRefusal,
    ReferralLifecycle,
};
pub use reward::{Gate, RedemptionTarget, ReversalEffect, RewardLedgerEntry};
pub use status::{
    InteractionType, PartyRewardStatus, ProgramStatus, ProgramType, ReferralSource, ReferralStatus,
    RewardStatus, RewardType, SmsDelivery,
};
