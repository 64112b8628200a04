//! Fraud signals: facts about a registration that make its rewards worth a second look.
//! The store gathers the facts; this module decides which signals they raise, each with a
//! stable code and a sentence an admin can act on. Signals carry no personal data beyond
//! what the facts already name by id.
//!
//! Raised so far: `alias_of_referrer` (the friend's address is the referrer's own inbox, or
//! the same name with a number added) and `invited_address_mismatch` (the friend registered
//! with another address than the one invited). The network, disposable-domain, velocity
//! and ring signals of #23 need facts the store does not gather yet.

use crate::contact::Email;
use serde::{Deserialize, Serialize};

/// A signal's stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// The friend's address is the referrer's inbox, or differs only by a number.
    AliasOfReferrer,
    /// The friend registered with another address than the invited one.
    InvitedAddressMismatch,
}

impl Signal {
    /// The snake_case code, as stored and sent.
    pub const fn as_str(self) -> &'static str {
        match self {
            Signal::AliasOfReferrer => "alias_of_referrer",
            Signal::InvitedAddressMismatch => "invited_address_mismatch",
        }
    }

    /// Every signal.
    pub const ALL: [Signal; 2] = [Signal::AliasOfReferrer, Signal::InvitedAddressMismatch];

    /// Parses a stored code.
    pub fn from_code(code: &str) -> Option<Self> {
        Signal::ALL.into_iter().find(|s| s.as_str() == code)
    }

    /// What it means, for the admin reviewing the reward.
    pub const fn explanation(self) -> &'static str {
        match self {
            Signal::AliasOfReferrer => {
                "The friend's address looks like another address of the referrer (same inbox, or the same name with a number)."
            }
            Signal::InvitedAddressMismatch => {
                "The friend registered with a different address from the one the referrer invited."
            }
        }
    }
}

/// What the store knows about a registration, for the assessment.
#[derive(Debug, Clone, Copy)]
pub struct RegistrationFacts<'a> {
    /// The referrer's address.
    pub referrer_email: &'a Email,
    /// The address the referrer invited.
    pub invited_email: &'a Email,
    /// The address the friend registered with.
    pub registered_email: &'a Email,
}

/// The signals a registration raises, in code order, without repeats.
pub fn assess(facts: &RegistrationFacts<'_>) -> Vec<Signal> {
    let mut signals = Vec::new();
    if is_alias(facts.referrer_email, facts.registered_email) {
        signals.push(Signal::AliasOfReferrer);
    }
    if facts.invited_email.inbox() != facts.registered_email.inbox() {
        signals.push(Signal::InvitedAddressMismatch);
    }
    signals
}

/// Whether `other` is `own`'s inbox, or the same local part with digits added or taken
/// away at its end, at the same domain (`alice@x`, `alice2@x`, `alice1987@x`).
fn is_alias(own: &Email, other: &Email) -> bool {
    let (own, other) = (own.inbox(), other.inbox());
    if own == other {
        return true;
    }
    let split = |inbox: &str| -> Option<(String, String)> {
        let (local, domain) = inbox.rsplit_once('@')?;
        Some((
            local
                .trim_end_matches(|c: char| c.is_ascii_digit())
                .to_owned(),
            domain.to_owned(),
        ))
    };
    match (split(own.as_str()), split(other.as_str())) {
        (Some((a, da)), Some((b, db))) => !a.is_empty() && a == b && da == db,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn e(s: &str) -> Email {
        Email::parse(s).unwrap()
    }

    #[test]
    fn aliases_and_mismatches_are_raised() {
        let alice = e("alice@example.com");
        let facts = |invited: &Email, registered: &Email| {
            assess(&RegistrationFacts {
                referrer_email: &alice,
                invited_email: invited,
                registered_email: registered,
            })
        };
        let bob = e("bob@example.com");
        assert!(facts(&bob, &bob).is_empty());
        assert_eq!(facts(&bob, &e("BOB+x@example.com")), []);
        assert_eq!(
            facts(&bob, &e("robert@example.com")),
            [Signal::InvitedAddressMismatch]
        );
        let alias = e("alice2@example.com");
        assert_eq!(facts(&alias, &alias), [Signal::AliasOfReferrer]);
        assert_eq!(
            facts(&bob, &e("alice1987@example.com")),
            [Signal::AliasOfReferrer, Signal::InvitedAddressMismatch]
        );
        // Another domain, or another name, is not an alias.
        assert!(facts(&e("alice2@other.org"), &e("alice2@other.org")).is_empty());
        assert!(facts(&e("alicia@example.com"), &e("alicia@example.com")).is_empty());
        assert_eq!(Signal::AliasOfReferrer.as_str(), "alias_of_referrer");
        assert!(Signal::InvitedAddressMismatch.explanation().ends_with('.'));
    }

    proptest! {
        /// A friend who registers with the invited address, not the referrer's, raises
        /// nothing; the referrer's own inbox always raises `alias_of_referrer`.
        #[test]
        fn honest_registrations_raise_nothing(name in "[a-z]{2,10}", tag in "[a-z0-9]{0,6}") {
            let alice = e("alice@example.com");
            let friend = e(&format!("{name}x@example.org"));
            let own = e(&format!("alice+{tag}@example.com"));
            let honest = assess(&RegistrationFacts { referrer_email: &alice, invited_email: &friend, registered_email: &friend });
            prop_assert!(honest.is_empty());
            let farmed = assess(&RegistrationFacts { referrer_email: &alice, invited_email: &own, registered_email: &own });
            prop_assert_eq!(farmed, vec![Signal::AliasOfReferrer]);
        }
    }
}
