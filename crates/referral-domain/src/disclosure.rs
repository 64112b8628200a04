//! What the referrer may learn about the person they invited (HIPAA minimum necessary).
//!
//! That a friend registered, and anything about their care, is the friend's information.
//! The referrer sees a referral as `invited` until it expires, unless the friend chose at
//! registration to let them know they joined; then it reads `joined`. Nothing the referrer
//! sees ever tells a registration from a conversion, and the friend is named only with
//! consent, by the name the referrer typed.

use crate::status::{InteractionType, ReferralStatus};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The consent question shown to the friend at registration, stored with their answer.
pub const SHARE_CONSENT_WORDING: &str = "Let the person who invited me know that I joined. \
     They will see only that I joined, under the name they gave me, and nothing about my care.";

/// The consent question in Spanish, stored with the answer when the friend registered
/// on the Spanish page.
pub const SHARE_CONSENT_WORDING_ES: &str = "Avisar a la persona que me invitó que me uní. \
     Solo verá que me uní, con el nombre que me dio, y nada sobre mi atención médica.";

/// The consent question in `locale`, the exact words shown and stored.
pub fn share_consent_wording(locale: crate::Locale) -> &'static str {
    match locale {
        crate::Locale::En => SHARE_CONSENT_WORDING,
        crate::Locale::Es => SHARE_CONSENT_WORDING_ES,
    }
}

/// How a referrer's reward names the friend without their consent.
pub const UNNAMED_FRIEND: &str = "a friend you invited";

/// A referral's status as its referrer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferrerStatus {
    /// Sent and still open, or the friend joined without telling the referrer.
    Invited,
    /// The friend joined and agreed to let the referrer know.
    Joined,
    /// Nobody joined before it expired, or it was declined.
    Expired,
}

impl ReferrerStatus {
    /// Every value, in order.
    pub const ALL: [ReferrerStatus; 3] = [
        ReferrerStatus::Invited,
        ReferrerStatus::Joined,
        ReferrerStatus::Expired,
    ];

    /// What the referrer sees of a referral whose status (as of now) is `status`, when
    /// the friend did (`shared`) or did not let them know they joined.
    pub const fn of(status: ReferralStatus, shared: bool) -> Self {
        match status {
            ReferralStatus::Pending => ReferrerStatus::Invited,
            // A reversal says something of the friend's care: it reads as a conversion does.
            ReferralStatus::Registered | ReferralStatus::Converted | ReferralStatus::Reversed
                if shared =>
            {
                ReferrerStatus::Joined
            }
            ReferralStatus::Registered | ReferralStatus::Converted | ReferralStatus::Reversed => {
                ReferrerStatus::Invited
            }
            ReferralStatus::Expired | ReferralStatus::Declined => ReferrerStatus::Expired,
        }
    }

    /// The stored statuses (as of now) a referral may have to read as `self`, given the
    /// friend's choice: what a store filters on.
    pub fn statuses(self, shared: bool) -> &'static [ReferralStatus] {
        const JOINED: &[ReferralStatus] = &[
            ReferralStatus::Registered,
            ReferralStatus::Converted,
            ReferralStatus::Reversed,
        ];
        const CLOSED: &[ReferralStatus] = &[ReferralStatus::Expired, ReferralStatus::Declined];
        match (self, shared) {
            (ReferrerStatus::Invited, false) => &[
                ReferralStatus::Pending,
                ReferralStatus::Registered,
                ReferralStatus::Converted,
                ReferralStatus::Reversed,
            ],
            (ReferrerStatus::Invited, true) => &[ReferralStatus::Pending],
            (ReferrerStatus::Joined, false) => &[],
            (ReferrerStatus::Joined, true) => JOINED,
            (ReferrerStatus::Expired, _) => CLOSED,
        }
    }

    /// The snake_case text, as sent.
    pub const fn as_str(self) -> &'static str {
        match self {
            ReferrerStatus::Invited => "invited",
            ReferrerStatus::Joined => "joined",
            ReferrerStatus::Expired => "expired",
        }
    }
}

impl fmt::Display for ReferrerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ReferrerStatus {
    type Err = crate::status::UnknownVariant;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ReferrerStatus::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| crate::status::UnknownVariant {
                kind: "referrer status",
                value: s.to_owned(),
            })
    }
}

/// Whether the referrer may see an interaction of the referral's timeline: the link's
/// clicks are the referrer's own sharing; the registration only with the friend's consent;
/// a conversion never (it is the friend's care). Whether an invitation was delivered is
/// not shown either: it depends on the friend's address (already a patient, unsubscribed,
/// bouncing), which is not the referrer's to know.
pub const fn referrer_sees(interaction: InteractionType, shared: bool) -> bool {
    match interaction {
        InteractionType::Click => true,
        InteractionType::EmailSent | InteractionType::SmsSent => false,
        InteractionType::Registration => shared,
        InteractionType::Conversion => false,
    }
}

/// How the referrer's side names the friend: the name the referrer typed, with consent;
/// otherwise [`UNNAMED_FRIEND`].
pub fn friend_label(shared: bool, typed_name: Option<&str>) -> &str {
    match typed_name {
        Some(name) if shared && !name.trim().is_empty() => name,
        _ => UNNAMED_FRIEND,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_status() -> impl Strategy<Value = ReferralStatus> {
        proptest::sample::select(ReferralStatus::ALL.to_vec())
    }

    proptest! {
        /// Without consent the referrer cannot tell an invited friend from one who joined
        /// or converted; with it, never a registration from a conversion.
        #[test]
        fn the_referrer_never_tells_registration_from_conversion(shared in any::<bool>()) {
            prop_assert_eq!(
                ReferrerStatus::of(ReferralStatus::Registered, shared),
                ReferrerStatus::of(ReferralStatus::Converted, shared)
            );
            if !shared {
                prop_assert_eq!(
                    ReferrerStatus::of(ReferralStatus::Converted, false),
                    ReferrerStatus::of(ReferralStatus::Pending, false)
                );
            }
            prop_assert!(!referrer_sees(InteractionType::Conversion, shared));
        }

        /// The filter statuses are exactly the statuses that read as that view.
        #[test]
        fn filters_agree_with_the_view(status in any_status(), shared in any::<bool>()) {
            for view in ReferrerStatus::ALL {
                prop_assert_eq!(
                    view.statuses(shared).contains(&status),
                    ReferrerStatus::of(status, shared) == view
                );
            }
        }

        #[test]
        fn no_name_without_consent(name in "\\\\PC{0,20}") {
            prop_assert_eq!(friend_label(false, Some(&name)), UNNAMED_FRIEND);
        }
    }

    #[test]
    fn statuses_read_and_print() {
        for v in ReferrerStatus::ALL {
            assert_eq!(v.as_str().parse::<ReferrerStatus>(), Ok(v));
        }
        assert!("registered".parse::<ReferrerStatus>().is_err());
        assert_eq!(friend_label(true, Some("Bob")), "Bob");
        assert_eq!(friend_label(true, None), UNNAMED_FRIEND);
        assert!(referrer_sees(InteractionType::Registration, true));
        assert!(!referrer_sees(InteractionType::Registration, false));
        assert!(!SHARE_CONSENT_WORDING.contains("visit"));
    }
}
