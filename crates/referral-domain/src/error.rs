//! The one error type of the domain, and the per-field validation errors of a program.
//!
//! Every illegal transition has its own variant so that callers (and tests) can tell them
//! apart; [`DomainError::code`] gives the stable snake_case identifier the HTTP API uses.

use crate::status::{ProgramStatus, ReferralStatus, RewardStatus};
use std::fmt;

/// Everything the domain can refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    // --- parsing of values -------------------------------------------------------------
    /// The text is not a referral code (16 Crockford base32 characters, `-` and spaces ignored).
    #[error("not a valid referral code")]
    InvalidReferralCode,
    /// The secure random generator failed; no code was produced.
    #[error("the secure random generator failed")]
    RandomUnavailable,
    /// The text is not an email address.
    #[error("not a valid email address")]
    InvalidEmail,
    /// The text is not a phone number any region assigns (see [`crate::Phone`]).
    #[error("enter a mobile number, like (415) 555-0199, or with its country code, like +44 20 7946 0958")]
    InvalidPhone,
    /// The text is not a non-negative amount with at most two decimal places.
    #[error("not a valid amount: {0}")]
    InvalidMoney(&'static str),
    /// One or more fields of a program are out of range.
    #[error("{0}")]
    Validation(ValidationErrors),

    // --- programs ------------------------------------------------------------------------
    /// An ended program cannot change status again.
    #[error("the program has ended; its status is final")]
    ProgramAlreadyEnded,
    /// The program is paused or ended.
    #[error("the program is {0} and does not accept referrals")]
    ProgramNotActive(ProgramStatus),
    /// Today is before the program's start date.
    #[error("the program has not started yet")]
    ProgramNotStarted,
    /// Today is after the program's end date.
    #[error("the program is past its end date")]
    ProgramFinished,
    /// The referrer is outside the program's target (conditions, age or state).
    #[error("the referrer is not eligible for this program: {0}")]
    NotEligible(&'static str),

    // --- creating referrals ----------------------------------------------------------------
    /// The referee's email is the referrer's own.
    #[error("you cannot refer yourself")]
    SelfReferral,
    /// The referee is already a patient, or already has an open referral in the program.
    #[error("this person is already a patient or already has an open referral")]
    DuplicateReferee,
    /// The referrer has used up `max_referrals_per_patient` in the program.
    #[error("the referral limit of this program is reached")]
    ReferralLimitReached,
    /// `expiry_days` must be at least 1.
    #[error("expiry_days must be at least 1")]
    InvalidExpiryDays,

    // --- referral transitions --------------------------------------------------------------
    /// Registering with a code that already registered someone.
    #[error("this referral code was already used to register")]
    AlreadyRegistered,
    /// Registering (or declining) a referral whose `expires_at` has passed.
    #[error("this referral has expired")]
    ReferralExpired,
    /// Registering with a referral that was declined.
    #[error("this referral was declined")]
    ReferralDeclined,
    /// Converting a referral whose referee has not registered.
    #[error("the referee has not registered yet")]
    ConvertNotRegistered,
    /// Converting a referral that expired before the referee registered.
    #[error("an expired referral cannot convert")]
    ConvertExpired,
    /// Converting a referral that was declined.
    #[error("a declined referral cannot convert")]
    ConvertDeclined,
    /// Declining a referral that is no longer pending.
    #[error("only a pending referral can be declined (it is {0})")]
    DeclineNotPending(ReferralStatus),
    /// Marking a referral expired that is not pending.
    #[error("only a pending referral can expire (it is {0})")]
    ExpireNotPending(ReferralStatus),
    /// Marking a referral expired before its `expires_at`.
    #[error("the referral has not reached its expiry time")]
    ExpireTooEarly,
    /// An invitation can only be sent again for a pending referral that was invited by
    /// email or SMS.
    #[error("only a pending referral invited by email or SMS can have its invitation sent again")]
    ResendNotPossible,
    /// The invitation was already sent again in this hour.
    #[error("the invitation was already sent again within the hour")]
    InvitationRecentlySent,

    // --- reward ledger ---------------------------------------------------------------------
    /// Approving a reward that is not waiting for approval.
    #[error("only a reward pending approval can be approved (it is {0})")]
    ApproveNotPending(RewardStatus),
    /// Rejecting a reward that is not waiting for approval.
    #[error("only a reward pending approval can be rejected (it is {0})")]
    RejectNotPending(RewardStatus),
    /// Redeeming a reward that was already used.
    #[error("the reward was already used")]
    RedeemAlreadyUsed,
    /// Redeeming a reward that has expired.
    #[error("the reward has expired")]
    RedeemExpired,
    /// Redeeming a reward that was cancelled or rejected.
    #[error("the reward was cancelled")]
    RedeemCancelled,
    /// Redeeming a cash reward an admin has not approved yet.
    #[error("the reward is waiting for approval")]
    RedeemPendingApproval,
    /// Marking a reward expired that is not available.
    #[error("only an available reward can expire (it is {0})")]
    ExpireRewardNotAvailable(RewardStatus),
    /// Marking a reward expired before its `expires_at` (or one that never expires).
    #[error("the reward has not reached its expiry time")]
    RewardNotYetExpired,
    /// Cancelling a reward that is not available.
    #[error("only an available reward can be cancelled (it is {0})")]
    CancelNotAvailable(RewardStatus),
    /// Redeeming a reward still in its holding period.
    #[error("the reward is on hold until its holding period ends")]
    RedeemHeld,
    /// Redeeming a reward that waits for an admin's review.
    #[error("the reward is waiting for a review")]
    RedeemInReview,
    /// Releasing a reward that is not held.
    #[error("only a held reward can be released (it is {0})")]
    ReleaseNotHeld(RewardStatus),
    /// Releasing a held reward before its holding period ends.
    #[error("the reward's holding period has not ended")]
    HoldNotOver,
    /// Deciding a review of a reward that is not in review.
    #[error("only a reward in review can be approved or rejected there (it is {0})")]
    ReviewNotPending(RewardStatus),
    /// Reversing a referral that has not converted.
    #[error("only a converted referral can be reversed (it is {0})")]
    ReverseNotConverted(ReferralStatus),
    /// A registration's confirmation link past its validity.
    #[error("the confirmation link has expired; register again to get a new one")]
    VerificationExpired,
}

impl DomainError {
    /// The stable snake_case identifier of this error, as the HTTP API reports it.
    pub fn code(&self) -> &'static str {
        use DomainError::*;
        match self {
            InvalidReferralCode => "not_found",
            RandomUnavailable => "internal",
            InvalidEmail | InvalidPhone | InvalidMoney(_) | Validation(_) | InvalidExpiryDays => {
                "validation_failed"
            }
            ProgramAlreadyEnded => "program_ended",
            ProgramNotActive(_) | ProgramNotStarted | ProgramFinished => "program_not_active",
            NotEligible(_) => "not_eligible",
            SelfReferral => "self_referral",
            DuplicateReferee => "duplicate_referee",
            ReferralLimitReached => "referral_limit_reached",
            AlreadyRegistered => "already_registered",
            ReferralExpired | ConvertExpired => "referral_expired",
            ReferralDeclined | ConvertDeclined => "referral_declined",
            ConvertNotRegistered => "referral_not_registered",
            DeclineNotPending(_) | ExpireNotPending(_) | ExpireTooEarly | ResendNotPossible => {
                "invalid_transition"
            }
            InvitationRecentlySent => "invitation_recently_sent",
            ApproveNotPending(_) | RejectNotPending(_) => "reward_not_pending_approval",
            RedeemAlreadyUsed
            | RedeemExpired
            | RedeemCancelled
            | RedeemPendingApproval
            | RedeemHeld
            | RedeemInReview => "reward_not_available",
            ReviewNotPending(_) => "reward_not_in_review",
            ReleaseNotHeld(_) | HoldNotOver | ReverseNotConverted(_) => "invalid_transition",
            ExpireRewardNotAvailable(_) | RewardNotYetExpired | CancelNotAvailable(_) => {
                "invalid_transition"
            }
            VerificationExpired => "verification_expired",
        }
    }
}

/// One field of a program that is out of range, with the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// `name` is empty after trimming.
    #[error("name is required")]
    NameMissing,
    /// `name` is longer than 200 characters.
    #[error("name must be at most 200 characters")]
    NameTooLong,
    /// `booking_url` is not an `https://` address of at most 500 characters.
    #[error("booking_url must be an https:// address of at most 500 characters")]
    BookingUrlInvalid,
    /// `public_name` is longer than 100 characters or holds hidden characters.
    #[error("public_name must be at most 100 visible characters, without line breaks")]
    PublicNameInvalid,
    /// `reward_threshold` is below 1.
    #[error("reward_threshold must be at least 1")]
    RewardThresholdBelowOne,
    /// `expiry_days` is outside 1..=3650.
    #[error("expiry_days must be between 1 and 3650")]
    ExpiryDaysOutOfRange,
    /// `reward_validity_days` is outside 1..=3650.
    #[error("reward_validity_days must be between 1 and 3650")]
    RewardValidityOutOfRange,
    /// `max_referrals_per_patient` is set but below 1.
    #[error("max_referrals_per_patient must be empty (unlimited) or at least 1")]
    MaxReferralsBelowOne,
    /// A reward value is negative.
    #[error("{0} must not be negative")]
    RewardValueNegative(&'static str),
    /// A reward value has more than two decimal places or is too large.
    #[error("{0} must have at most two decimal places and at most 8 integer digits")]
    RewardValueMalformed(&'static str),
    /// A reward type is given without a value, or a value without a type.
    #[error("{0} needs both a reward type and a value")]
    RewardIncomplete(&'static str),
    /// A discount is not a percentage in (0, 100].
    #[error("{0} is a discount: it must be a percentage above 0 and at most 100")]
    DiscountOutOfRange(&'static str),
    /// `end_date` is before `start_date`.
    #[error("end_date must not be before start_date")]
    EndBeforeStart,
    /// An age bound is outside 0..=130.
    #[error("{0} must be between 0 and 130")]
    AgeOutOfRange(&'static str),
    /// `min_age` is above `max_age`.
    #[error("min_age must not be above max_age")]
    MinAgeAboveMaxAge,
    /// A state is not a two-letter code.
    #[error("states must be two-letter codes such as CA")]
    StateMalformed,
    /// A target condition is empty.
    #[error("target_conditions must not contain empty entries")]
    ConditionEmpty,
    /// One variant, or more than ten.
    #[error("variants: none, or between 2 and 10")]
    VariantCount,
    /// A variant name is empty, too long (over 50 characters) or repeated.
    #[error("variants: each needs a name of 1 to 50 characters, unique in the program")]
    VariantName,
    /// A variant weight is outside 1..=1000.
    #[error("variants: weight must be between 1 and 1000")]
    VariantWeight,
    /// A variant headline is longer than 200 characters.
    #[error("variants: invitation_headline must be at most 200 characters")]
    VariantHeadlineTooLong,
    /// A variant overrides a reward the program does not give, or with an invalid value.
    #[error(
        "{0}: a variant may only change the value of a reward the program gives, within its rules"
    )]
    VariantReward(&'static str),
    /// A patient's state is not a USPS code of a state, district or territory.
    #[error("state must be a US state, district or territory code such as CA")]
    StateUnknown,
    /// A date of birth is not before the reporting day.
    #[error("date_of_birth must be in the past")]
    BirthDateNotPast,
    /// A condition code is empty, too long or has characters other than letters, digits,
    /// `.`, `-` and `_`.
    #[error("conditions: each a code of 1 to 32 letters, digits, '.', '-' or '_'")]
    ConditionMalformed,
    /// More than 100 conditions.
    #[error("conditions: at most 100")]
    TooManyConditions,
    /// A program's excluded state is not a USPS code.
    #[error("excluded_states: each a US state, district or territory code such as CA")]
    ExcludedStateUnknown,
    /// An SMS the platform would send without the referrer's consent attestation.
    #[error("sms_consent: an SMS invitation needs sms_consent: true (the friend agreed to receive a text)")]
    SmsConsentMissing,
    /// A budget that is not an amount of money (negative, or more than two decimals).
    #[error("{0}: an amount of money such as 5000.00")]
    BudgetMalformed(&'static str),
    /// `reward_hold_days` is negative or longer than a year.
    #[error("reward_hold_days must be between 0 and 365")]
    HoldDaysOutOfRange,
    /// A percentage discount redeemed without the amount it applies to.
    #[error(
        "amount: a discount is a percentage of an amount; give the order or consultation amount"
    )]
    DiscountNeedsAmount,
}

impl FieldError {
    /// The name of the input field this error is about, as the API reports it.
    pub fn field(&self) -> &'static str {
        use FieldError::*;
        match self {
            NameMissing | NameTooLong => "name",
            PublicNameInvalid => "public_name",
            BookingUrlInvalid => "booking_url",
            RewardThresholdBelowOne => "reward_threshold",
            ExpiryDaysOutOfRange => "expiry_days",
            RewardValidityOutOfRange => "reward_validity_days",
            MaxReferralsBelowOne => "max_referrals_per_patient",
            RewardValueNegative(f)
            | RewardValueMalformed(f)
            | RewardIncomplete(f)
            | DiscountOutOfRange(f)
            | AgeOutOfRange(f) => f,
            EndBeforeStart => "end_date",
            MinAgeAboveMaxAge => "target_demographics.min_age",
            StateMalformed => "target_demographics.states",
            ConditionEmpty => "target_conditions",
            VariantCount | VariantName | VariantWeight | VariantHeadlineTooLong => "variants",
            VariantReward(f) => f,
            StateUnknown => "state",
            ExcludedStateUnknown => "excluded_states",
            DiscountNeedsAmount => "amount",
            BudgetMalformed(f) => f,
            HoldDaysOutOfRange => "reward_hold_days",
            SmsConsentMissing => "sms_consent",
            BirthDateNotPast => "date_of_birth",
            ConditionMalformed | TooManyConditions => "conditions",
        }
    }
}

/// All field errors of one validation, so a form can show every problem at once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    /// The individual field errors.
    pub fn errors(&self) -> &[FieldError] {
        &self.0
    }

    /// Whether `error` is among the errors.
    pub fn has(&self, error: &FieldError) -> bool {
        self.0.contains(error)
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let messages: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        write!(f, "invalid fields: {}", messages.join("; "))
    }
}

impl std::error::Error for ValidationErrors {}
