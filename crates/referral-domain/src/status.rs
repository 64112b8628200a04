//! The status and type enums of the seed design, each stored and sent as snake_case text.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A text that is not one of the values of an enum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`")]
pub struct UnknownVariant {
    /// Which enum was being parsed.
    pub kind: &'static str,
    /// The text that did not match.
    pub value: String,
}

macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident, $kind:literal { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The snake_case text of this value, as stored and sent.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownVariant;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(UnknownVariant { kind: $kind, value: other.to_owned() }),
                }
            }
        }
    };
}

text_enum!(
    /// The kind of campaign a program is.
    ProgramType, "program type" {
        /// The everyday referral program.
        Standard => "standard",
        /// A program for a speciality or condition.
        Specialty => "specialty",
        /// A time-limited campaign.
        Seasonal => "seasonal",
    }
);

text_enum!(
    /// The lifecycle of a program: `active` ⇄ `paused`, either → `ended` (final).
    ProgramStatus, "program status" {
        /// Accepts referrals (within its dates).
        Active => "active",
        /// Temporarily closed to new referrals.
        Paused => "paused",
        /// Closed for good.
        Ended => "ended",
    }
);

text_enum!(
    /// What a reward gives.
    RewardType, "reward type" {
        /// Account credit, an amount of money to spend on the platform.
        Credit => "credit",
        /// A percentage off (the value is the percentage).
        Discount => "discount",
        /// A cash payout; needs an admin's approval.
        Cash => "cash",
        /// A consultation at no charge (the value is what it is worth).
        FreeConsultation => "free_consultation",
    }
);

text_enum!(
    /// Where a referral was shared.
    ReferralSource, "referral source" {
        /// An invitation email sent by the service.
        Email => "email",
        /// An invitation SMS sent by the service.
        Sms => "sms",
        /// Shared on social media.
        Social => "social",
        /// The referrer copied the link.
        DirectLink => "direct_link",
    }
);

text_enum!(
    /// Who sends a program's SMS invitations.
    SmsDelivery, "sms delivery" {
        /// The platform texts the friend (Twilio), on the referrer's consent attestation.
        Platform => "platform",
        /// The patient texts from their own phone: the platform sends nothing and offers an
        /// `sms:` link with the prefilled text.
        PatientDevice => "patient_device",
    }
);

text_enum!(
    /// The stored status of a referral. See [`crate::ReferralLifecycle`] for the transitions.
    ReferralStatus, "referral status" {
        /// Invited, not registered yet.
        Pending => "pending",
        /// The referee registered with the code.
        Registered => "registered",
        /// The referee had a first consultation or paid order.
        Converted => "converted",
        /// Nobody registered before `expires_at`.
        Expired => "expired",
        /// The referee or an admin declined the referral.
        Declined => "declined",
        /// Converted, then the converting order was refunded or the consultation cancelled.
        Reversed => "reversed",
    }
);

text_enum!(
    /// The status of a reward ledger row. See [`crate::RewardLedgerEntry`].
    RewardStatus, "reward status" {
        /// A cash reward waiting for an admin.
        PendingApproval => "pending_approval",
        /// Ready to use.
        Available => "available",
        /// Used on an order or consultation.
        Used => "used",
        /// Not used before `expires_at`.
        Expired => "expired",
        /// Rejected by an admin or cancelled.
        Cancelled => "cancelled",
        /// Granted, kept until the program's holding period passes with no reversal.
        Held => "held",
        /// Granted on a referral that raised a fraud signal: waits for an admin's review.
        InReview => "in_review",
    }
);

text_enum!(
    /// The reward status a referral shows for one party (referrer or referee): a mirror of
    /// that party's ledger row, see [`PartyRewardStatus::mirror`].
    PartyRewardStatus, "party reward status" {
        /// Not earned yet, or waiting for approval.
        Pending => "pending",
        /// Earned and available.
        Earned => "earned",
        /// Used.
        Redeemed => "redeemed",
        /// Expired unused.
        Expired => "expired",
        /// Rejected or cancelled by an admin.
        Cancelled => "cancelled",
        /// Withheld by the inducement policy (the reward row records why).
        NotGranted => "not_granted",
        /// Counted towards a referrer reward that another referral of the batch carries.
        Counted => "counted",
    }
);

impl PartyRewardStatus {
    /// The status a referral shows for a party whose ledger row has `ledger` status.
    ///
    /// `pending_approval`, `held` and `in_review` show as `pending`, `available` as
    /// `earned`, `used` as `redeemed`, `expired` as `expired` and `cancelled` as `cancelled`.
    pub const fn mirror(ledger: RewardStatus) -> Self {
        match ledger {
            RewardStatus::PendingApproval | RewardStatus::Held | RewardStatus::InReview => {
                PartyRewardStatus::Pending
            }
            RewardStatus::Available => PartyRewardStatus::Earned,
            RewardStatus::Used => PartyRewardStatus::Redeemed,
            RewardStatus::Expired => PartyRewardStatus::Expired,
            RewardStatus::Cancelled => PartyRewardStatus::Cancelled,
        }
    }
}

text_enum!(
    /// What happened to a referral, as recorded in the interactions table.
    InteractionType, "interaction type" {
        /// Someone opened the referral link.
        Click => "click",
        /// The invitation email was sent.
        EmailSent => "email_sent",
        /// The invitation SMS was sent.
        SmsSent => "sms_sent",
        /// The referee registered.
        Registration => "registration",
        /// The referee converted.
        Conversion => "conversion",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_enum_round_trips_through_text_and_serde() {
        fn check<T>(all: &[T])
        where
            T: Copy + fmt::Display + FromStr + PartialEq + fmt::Debug + Serialize,
            for<'de> T: Deserialize<'de>,
            <T as FromStr>::Err: fmt::Debug,
        {
            for v in all {
                let text = v.to_string();
                assert_eq!(text.parse::<T>().unwrap(), *v);
                let json = serde_json::to_string(v).unwrap();
                assert_eq!(json, format!("\"{text}\""));
                assert_eq!(serde_json::from_str::<T>(&json).unwrap(), *v);
            }
        }
        check(ProgramType::ALL);
        check(ProgramStatus::ALL);
        check(RewardType::ALL);
        check(ReferralSource::ALL);
        check(ReferralStatus::ALL);
        check(RewardStatus::ALL);
        check(PartyRewardStatus::ALL);
        check(InteractionType::ALL);
        check(SmsDelivery::ALL);
    }

    #[test]
    fn snake_case_names_match_the_seed() {
        assert_eq!(RewardType::FreeConsultation.as_str(), "free_consultation");
        assert_eq!(RewardStatus::PendingApproval.as_str(), "pending_approval");
        assert_eq!(ReferralSource::DirectLink.as_str(), "direct_link");
        assert_eq!(InteractionType::EmailSent.as_str(), "email_sent");
    }

    #[test]
    fn unknown_text_is_an_error_naming_the_enum() {
        let err = "Pending".parse::<ReferralStatus>().unwrap_err();
        assert_eq!(err.kind, "referral status");
        assert!(serde_json::from_str::<RewardType>("\"gift\"").is_err());
    }

    #[test]
    fn party_status_mirrors_the_ledger() {
        assert_eq!(
            PartyRewardStatus::mirror(RewardStatus::PendingApproval),
            PartyRewardStatus::Pending
        );
        assert_eq!(
            PartyRewardStatus::mirror(RewardStatus::Available),
            PartyRewardStatus::Earned
        );
        assert_eq!(
            PartyRewardStatus::mirror(RewardStatus::Used),
            PartyRewardStatus::Redeemed
        );
        assert_eq!(
            PartyRewardStatus::mirror(RewardStatus::Expired),
            PartyRewardStatus::Expired
        );
        assert_eq!(
            PartyRewardStatus::mirror(RewardStatus::Cancelled),
            PartyRewardStatus::Cancelled
        );
    }
}
