//! The reward ledger: one row per reward granted, and its state machine.
//!
//! ```text
//!  in_review ──review approves──▶ held ──hold passes──▶ (initial status)
//!      │      (or straight to the initial status when no hold remains)
//!      └──review rejects──▶ cancelled
//!
//! (initial status)
//! pending_approval ──approve──▶ available ──redeem──▶ used
//!         └──reject──▶ cancelled     ├──expires_at passes──▶ expired
//!                                    └──admin cancels──▶ cancelled
//! ```
//!
//! A reversal (the converting order refunded, the consultation cancelled) cancels a reward
//! that was not used or paid yet, and records a clawback for one that was
//! ([`RewardLedgerEntry::reverse`]). `held` and `in_review` rewards can never be used:
//! only a release or an approving review leads out of them.
//!
//! One concept: the reward's state machine and what each status and type means, with its
//! property tests (about half the file).

use crate::error::DomainError;
use crate::ids::{ConsultationId, OrderId};
use crate::status::{RewardStatus, RewardType};
use chrono::{DateTime, Duration, Utc};

/// What a reward was used on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedemptionTarget {
    /// An order (`used_on_order_id`).
    Order(OrderId),
    /// A consultation (`used_on_consultation_id`).
    Consultation(ConsultationId),
}

/// What each reward type means, said once. Every answer is an exhaustive `match`: a new
/// type does not compile until each question has its answer, and the store passes the
/// answers to SQL as sets of codes ([`RewardType::codes_where`]), so no query filters on a
/// type by name.
impl RewardType {
    /// Whether its value is an amount worth counting in the reward-value figures and the
    /// savings from the moment it is granted. A discount is a percentage: worth nothing until
    /// used, when it counts what it gave.
    pub const fn has_face_value(self) -> bool {
        match self {
            RewardType::Credit | RewardType::Cash | RewardType::FreeConsultation => true,
            RewardType::Discount => false,
        }
    }

    /// Whether it is money paid to the patient: it waits for an admin's approval, is paid
    /// out when approved (so it never expires afterwards) and goes to a payout account.
    pub const fn is_paid_out(self) -> bool {
        match self {
            RewardType::Cash => true,
            RewardType::Credit | RewardType::Discount | RewardType::FreeConsultation => false,
        }
    }

    /// Whether using it pays its value out of the program's budget (credit, a free
    /// consultation). Cash is paid when approved; a discount gives a share of an order.
    pub const fn is_paid_when_used(self) -> bool {
        match self {
            RewardType::Credit | RewardType::FreeConsultation => true,
            RewardType::Cash | RewardType::Discount => false,
        }
    }

    /// Whether its value reads as money (`$25.00`) in a patient's totals: credit and cash.
    /// A discount is a percentage, a free consultation a visit.
    pub const fn is_shown_as_money(self) -> bool {
        match self {
            RewardType::Credit | RewardType::Cash => true,
            RewardType::Discount | RewardType::FreeConsultation => false,
        }
    }

    /// The stored codes of the types for which `answer` holds: the set a query filters on.
    pub fn codes_where(answer: fn(RewardType) -> bool) -> Vec<&'static str> {
        RewardType::ALL
            .iter()
            .copied()
            .filter(|t| answer(*t))
            .map(RewardType::as_str)
            .collect()
    }
}

/// The status a new reward of `reward_type` starts in: money paid out waits for an admin's
/// approval, every other type is available at once.
/// Longest reason an admin gives for a review decision (it is kept with the decision).
pub const MAX_REVIEW_REASON_CHARS: usize = 1000;

/// The status a new reward of `reward_type` starts in.
pub const fn initial_status(reward_type: RewardType) -> RewardStatus {
    if reward_type.is_paid_out() {
        RewardStatus::PendingApproval
    } else {
        RewardStatus::Available
    }
}

/// What gates a new reward before it can be used: a fraud signal on its referral sends it
/// to review; a program's holding period keeps a referrer's reward held until `hold_until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Gate {
    /// The referral raised at least one fraud signal.
    pub flagged: bool,
    /// The end of the holding period (`None`: no hold).
    pub hold_until: Option<DateTime<Utc>>,
}

impl Gate {
    /// The status a new reward of `reward_type` starts in at `now`: `in_review` when
    /// flagged, `held` while the hold lasts, else [`initial_status`].
    pub fn status_of(self, reward_type: RewardType, now: DateTime<Utc>) -> RewardStatus {
        if self.flagged {
            RewardStatus::InReview
        } else {
            released_status(reward_type, self.hold_until, now)
        }
    }
}

/// The end of a holding period of `hold_days` that starts at `granted_at`; `None` for no
/// hold (0 days) or a date that would overflow.
pub fn hold_until(granted_at: DateTime<Utc>, hold_days: u32) -> Option<DateTime<Utc>> {
    if hold_days == 0 {
        return None;
    }
    granted_at.checked_add_signed(Duration::days(i64::from(hold_days)))
}

/// Where a reward goes once nothing but its hold keeps it: `held` until `hold_until`, then
/// [`initial_status`].
fn released_status(
    reward_type: RewardType,
    hold_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> RewardStatus {
    match hold_until {
        Some(until) if now < until => RewardStatus::Held,
        _ => initial_status(reward_type),
    }
}

/// What reversing a conversion does to one of its rewards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReversalEffect {
    /// It was not used or paid yet: it is cancelled (reason `conversion_reversed`).
    Cancelled,
    /// It was used, or paid out as cash: it stays as it is and a clawback is recorded for
    /// the admins (no negative balance is invented).
    Clawback,
    /// It had already expired or been cancelled: nothing to do.
    Unaffected,
}

/// Where a reward stands for the patient who holds it, as their dashboard groups them: the
/// figures and the list below them use this one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Standing {
    /// Held, in review or waiting for an admin's approval.
    OnTheWay,
    /// Ready to use.
    Available,
    /// Used on a consultation or order.
    Used,
    /// A cash reward paid out.
    Paid,
    /// Expired or cancelled: counted nowhere.
    Ended,
}

impl Standing {
    /// The standing of a reward of `reward_type` in `status`.
    pub fn of(status: RewardStatus, reward_type: RewardType) -> Self {
        match status {
            RewardStatus::Held | RewardStatus::InReview | RewardStatus::PendingApproval => {
                Standing::OnTheWay
            }
            RewardStatus::Available => Standing::Available,
            RewardStatus::Used if reward_type.is_paid_out() => Standing::Paid,
            RewardStatus::Used => Standing::Used,
            RewardStatus::Expired | RewardStatus::Cancelled => Standing::Ended,
        }
    }
}

/// Why a reward is in its status, in plain words for the patient who holds it: held (and
/// until when), in review, cancelled by a reversal or a review, or withheld by the policy.
/// `None` when the status says it all (available, used, expired).
pub fn plain_words(
    status: RewardStatus,
    hold_until: Option<DateTime<Utc>>,
    cancelled: Option<crate::reversal::CancelReason>,
    withheld: Option<crate::policy::RewardRefusal>,
) -> Option<String> {
    match (status, withheld, cancelled) {
        (_, Some(reason), _) => Some(reason.explanation().to_owned()),
        (RewardStatus::Cancelled, None, Some(reason)) => Some(reason.explanation().to_owned()),
        (RewardStatus::Held, _, _) => Some(match hold_until {
            Some(until) => format!(
                "This reward is on hold until {}. Rewards wait a short while in case the referral is cancelled; we will email you when you can use it.",
                until.format("%B %-d, %Y")
            ),
            None => "This reward is on hold for a short while in case the referral is cancelled; we will email you when you can use it.".to_owned(),
        }),
        (RewardStatus::InReview, _, _) => Some(
            "Our team is checking this reward, as we do for some referrals. We will email you when you can use it."
                .to_owned(),
        ),
        (RewardStatus::PendingApproval, _, _) => Some(
            "This cash reward is waiting for approval before it is paid.".to_owned(),
        ),
        _ => None,
    }
}

/// When a reward granted at `granted_at` stops being available, `validity_days` later.
/// `None` when the date would overflow (no such program passes validation).
pub fn reward_expires_at(granted_at: DateTime<Utc>, validity_days: u32) -> Option<DateTime<Utc>> {
    granted_at.checked_add_signed(Duration::days(i64::from(validity_days)))
}

/// One reward of the ledger, with its legal transitions. Every method either applies the
/// transition or returns an error and leaves the entry as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewardLedgerEntry {
    status: RewardStatus,
    expires_at: Option<DateTime<Utc>>,
    used_at: Option<DateTime<Utc>>,
    used_on: Option<RedemptionTarget>,
}

impl RewardLedgerEntry {
    /// A newly granted reward (status from [`initial_status`]); `expires_at` `None` never
    /// expires.
    pub fn grant(reward_type: RewardType, expires_at: Option<DateTime<Utc>>) -> Self {
        Self {
            status: initial_status(reward_type),
            expires_at,
            used_at: None,
            used_on: None,
        }
    }

    /// A reward as stored, to apply a transition to it.
    pub fn from_stored(
        status: RewardStatus,
        expires_at: Option<DateTime<Utc>>,
        used_at: Option<DateTime<Utc>>,
        used_on: Option<RedemptionTarget>,
    ) -> Self {
        Self {
            status,
            expires_at,
            used_at,
            used_on,
        }
    }

    /// The stored status.
    pub fn status(&self) -> RewardStatus {
        self.status
    }

    /// The status at `now`: an available reward past `expires_at` is expired even before a
    /// sweep stores it.
    pub fn effective_status(&self, now: DateTime<Utc>) -> RewardStatus {
        match (self.status, self.expires_at) {
            (RewardStatus::Available, Some(at)) if now >= at => RewardStatus::Expired,
            (status, _) => status,
        }
    }

    /// When the reward was used.
    pub fn used_at(&self) -> Option<DateTime<Utc>> {
        self.used_at
    }

    /// What the reward was used on.
    pub fn used_on(&self) -> Option<RedemptionTarget> {
        self.used_on
    }

    /// When the reward expires.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }

    /// An admin approves a cash reward.
    ///
    /// # Errors
    /// [`DomainError::ApproveNotPending`] unless pending approval.
    pub fn approve(&mut self) -> Result<(), DomainError> {
        match self.status {
            RewardStatus::PendingApproval => {
                self.status = RewardStatus::Available;
                Ok(())
            }
            other => Err(DomainError::ApproveNotPending(other)),
        }
    }

    /// An admin rejects a cash reward; it becomes `cancelled`.
    ///
    /// # Errors
    /// [`DomainError::RejectNotPending`] unless pending approval.
    pub fn reject(&mut self) -> Result<(), DomainError> {
        match self.status {
            RewardStatus::PendingApproval => {
                self.status = RewardStatus::Cancelled;
                Ok(())
            }
            other => Err(DomainError::RejectNotPending(other)),
        }
    }

    /// The owner uses the reward at `now`, once.
    ///
    /// # Errors
    /// [`DomainError::RedeemAlreadyUsed`], [`DomainError::RedeemExpired`],
    /// [`DomainError::RedeemCancelled`] or [`DomainError::RedeemPendingApproval`]; the API
    /// answers all four with `reward_not_available`.
    pub fn redeem(
        &mut self,
        now: DateTime<Utc>,
        target: RedemptionTarget,
    ) -> Result<(), DomainError> {
        match self.effective_status(now) {
            RewardStatus::Available => {
                self.status = RewardStatus::Used;
                self.used_at = Some(now);
                self.used_on = Some(target);
                Ok(())
            }
            RewardStatus::Used => Err(DomainError::RedeemAlreadyUsed),
            RewardStatus::Expired => Err(DomainError::RedeemExpired),
            RewardStatus::Cancelled => Err(DomainError::RedeemCancelled),
            RewardStatus::PendingApproval => Err(DomainError::RedeemPendingApproval),
            RewardStatus::Held => Err(DomainError::RedeemHeld),
            RewardStatus::InReview => Err(DomainError::RedeemInReview),
        }
    }

    /// The worker releases a held reward of `reward_type` whose hold ended at `hold_until`:
    /// it becomes what it would have been without a hold ([`initial_status`]).
    ///
    /// # Errors
    /// [`DomainError::ReleaseNotHeld`] unless held, [`DomainError::HoldNotOver`] before
    /// `hold_until`.
    pub fn release(
        &mut self,
        reward_type: RewardType,
        hold_until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        if self.status != RewardStatus::Held {
            return Err(DomainError::ReleaseNotHeld(self.status));
        }
        match released_status(reward_type, hold_until, now) {
            RewardStatus::Held => Err(DomainError::HoldNotOver),
            status => {
                self.status = status;
                Ok(())
            }
        }
    }

    /// An admin decides the review of a flagged reward: approving it releases it (into
    /// `held` while its hold lasts), rejecting it cancels it.
    ///
    /// # Errors
    /// [`DomainError::ReviewNotPending`] unless in review.
    pub fn review(
        &mut self,
        approve: bool,
        reward_type: RewardType,
        hold_until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        if self.status != RewardStatus::InReview {
            return Err(DomainError::ReviewNotPending(self.status));
        }
        self.status = if approve {
            released_status(reward_type, hold_until, now)
        } else {
            RewardStatus::Cancelled
        };
        Ok(())
    }

    /// The conversion that earned this reward of `reward_type` was reversed. A reward not
    /// used or paid yet is cancelled; a used one, or cash that was paid out (available),
    /// stays and answers [`ReversalEffect::Clawback`].
    pub fn reverse(&mut self, reward_type: RewardType) -> ReversalEffect {
        match self.status {
            RewardStatus::Held | RewardStatus::InReview | RewardStatus::PendingApproval => {
                self.status = RewardStatus::Cancelled;
                ReversalEffect::Cancelled
            }
            RewardStatus::Available if reward_type.is_paid_out() => ReversalEffect::Clawback,
            RewardStatus::Available => {
                self.status = RewardStatus::Cancelled;
                ReversalEffect::Cancelled
            }
            RewardStatus::Used => ReversalEffect::Clawback,
            RewardStatus::Expired | RewardStatus::Cancelled => ReversalEffect::Unaffected,
        }
    }

    /// The expiry sweep stores the expiry of an available reward past `expires_at`.
    ///
    /// # Errors
    /// [`DomainError::RewardNotYetExpired`] before `expires_at` (or with none), or
    /// [`DomainError::ExpireRewardNotAvailable`] when not available.
    pub fn expire(&mut self, now: DateTime<Utc>) -> Result<(), DomainError> {
        if self.status != RewardStatus::Available {
            return Err(DomainError::ExpireRewardNotAvailable(self.status));
        }
        match self.expires_at {
            Some(at) if now >= at => {
                self.status = RewardStatus::Expired;
                Ok(())
            }
            _ => Err(DomainError::RewardNotYetExpired),
        }
    }

    /// An admin cancels an available reward.
    ///
    /// # Errors
    /// [`DomainError::CancelNotAvailable`] unless available.
    pub fn cancel(&mut self) -> Result<(), DomainError> {
        match self.status {
            RewardStatus::Available => {
                self.status = RewardStatus::Cancelled;
                Ok(())
            }
            other => Err(DomainError::CancelNotAvailable(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reward_type_answers_each_question() {
        assert_eq!(
            RewardType::codes_where(RewardType::has_face_value),
            ["credit", "cash", "free_consultation"]
        );
        assert_eq!(RewardType::codes_where(RewardType::is_paid_out), ["cash"]);
        assert_eq!(
            RewardType::codes_where(RewardType::is_paid_when_used),
            ["credit", "free_consultation"]
        );
        assert_eq!(
            RewardType::codes_where(RewardType::is_shown_as_money),
            ["credit", "cash"]
        );
        for t in RewardType::ALL {
            // What is paid is paid once: on approval or on use, never both.
            assert!(!(t.is_paid_out() && t.is_paid_when_used()), "{t:?}");
            // Whatever is paid has a face value.
            if t.is_paid_out() || t.is_paid_when_used() {
                assert!(t.has_face_value(), "{t:?}");
            }
            assert_eq!(
                initial_status(*t) == RewardStatus::PendingApproval,
                t.is_paid_out()
            );
            // The caps count exactly the types with a face value.
            assert_eq!(
                crate::policy::CAP_COUNTED_TYPES.contains(t),
                t.has_face_value()
            );
        }
    }

    #[test]
    fn every_status_has_one_standing() {
        for &status in RewardStatus::ALL.iter() {
            for &kind in RewardType::ALL.iter() {
                let standing = Standing::of(status, kind);
                let expected = match status {
                    RewardStatus::Held | RewardStatus::InReview | RewardStatus::PendingApproval => {
                        Standing::OnTheWay
                    }
                    RewardStatus::Available => Standing::Available,
                    RewardStatus::Used if kind == RewardType::Cash => Standing::Paid,
                    RewardStatus::Used => Standing::Used,
                    _ => Standing::Ended,
                };
                assert_eq!(standing, expected, "{status:?} {kind:?}");
            }
        }
    }
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap()
    }

    fn order() -> RedemptionTarget {
        RedemptionTarget::Order(OrderId::new_random())
    }

    #[test]
    fn cash_waits_for_approval_and_the_rest_is_available() {
        assert_eq!(
            initial_status(RewardType::Cash),
            RewardStatus::PendingApproval
        );
        for t in [
            RewardType::Credit,
            RewardType::Discount,
            RewardType::FreeConsultation,
        ] {
            assert_eq!(
                RewardLedgerEntry::grant(t, None).status(),
                RewardStatus::Available
            );
        }
        assert_eq!(reward_expires_at(t0(), 90), Some(t0() + Duration::days(90)));
    }

    #[test]
    fn approve_and_reject_only_from_pending_approval() {
        let mut cash = RewardLedgerEntry::grant(RewardType::Cash, None);
        assert_eq!(
            cash.redeem(t0(), order()),
            Err(DomainError::RedeemPendingApproval)
        );
        assert_eq!(
            cash.cancel(),
            Err(DomainError::CancelNotAvailable(
                RewardStatus::PendingApproval
            ))
        );
        assert_eq!(
            cash.expire(t0()),
            Err(DomainError::ExpireRewardNotAvailable(
                RewardStatus::PendingApproval
            ))
        );
        cash.approve().unwrap();
        assert_eq!(cash.status(), RewardStatus::Available);
        assert_eq!(
            cash.approve(),
            Err(DomainError::ApproveNotPending(RewardStatus::Available))
        );
        assert_eq!(
            cash.reject(),
            Err(DomainError::RejectNotPending(RewardStatus::Available))
        );

        let mut rejected = RewardLedgerEntry::grant(RewardType::Cash, None);
        rejected.reject().unwrap();
        assert_eq!(rejected.status(), RewardStatus::Cancelled);
        assert_eq!(
            rejected.approve(),
            Err(DomainError::ApproveNotPending(RewardStatus::Cancelled))
        );
        assert_eq!(
            rejected.redeem(t0(), order()),
            Err(DomainError::RedeemCancelled)
        );
    }

    #[test]
    fn redeem_exactly_once() {
        let mut r = RewardLedgerEntry::grant(RewardType::Credit, Some(t0() + Duration::days(90)));
        let consultation = RedemptionTarget::Consultation(ConsultationId::new_random());
        r.redeem(t0(), consultation).unwrap();
        assert_eq!(r.status(), RewardStatus::Used);
        assert_eq!(r.used_at(), Some(t0()));
        assert_eq!(r.used_on(), Some(consultation));
        let used = r.clone();
        assert_eq!(r.redeem(t0(), order()), Err(DomainError::RedeemAlreadyUsed));
        assert_eq!(r, used);
        assert_eq!(
            r.redeem(t0(), order()).unwrap_err().code(),
            "reward_not_available"
        );
        assert_eq!(
            r.cancel(),
            Err(DomainError::CancelNotAvailable(RewardStatus::Used))
        );
        assert_eq!(
            r.expire(t0() + Duration::days(100)),
            Err(DomainError::ExpireRewardNotAvailable(RewardStatus::Used))
        );
    }

    #[test]
    fn expiry_applies_before_the_sweep_and_the_sweep_waits_for_it() {
        let expires = t0() + Duration::days(90);
        let mut r = RewardLedgerEntry::grant(RewardType::Discount, Some(expires));
        assert_eq!(
            r.effective_status(expires - Duration::seconds(1)),
            RewardStatus::Available
        );
        assert_eq!(r.effective_status(expires), RewardStatus::Expired);
        assert_eq!(r.redeem(expires, order()), Err(DomainError::RedeemExpired));
        assert_eq!(
            r.expire(expires - Duration::seconds(1)),
            Err(DomainError::RewardNotYetExpired)
        );
        r.expire(expires).unwrap();
        assert_eq!(r.status(), RewardStatus::Expired);
        assert_eq!(
            r.expire(expires),
            Err(DomainError::ExpireRewardNotAvailable(RewardStatus::Expired))
        );

        let mut forever = RewardLedgerEntry::grant(RewardType::Credit, None);
        assert_eq!(
            forever.expire(t0() + Duration::days(10_000)),
            Err(DomainError::RewardNotYetExpired)
        );
        assert_eq!(
            forever.effective_status(t0() + Duration::days(10_000)),
            RewardStatus::Available
        );
    }

    #[test]
    fn admins_cancel_available_rewards() {
        let mut r = RewardLedgerEntry::grant(RewardType::FreeConsultation, None);
        r.cancel().unwrap();
        assert_eq!(r.status(), RewardStatus::Cancelled);
        assert_eq!(
            r.cancel(),
            Err(DomainError::CancelNotAvailable(RewardStatus::Cancelled))
        );
        assert_eq!(r.redeem(t0(), order()), Err(DomainError::RedeemCancelled));
    }

    #[derive(Debug, Clone)]
    enum Event {
        Approve,
        Reject,
        Redeem,
        Expire,
        Cancel,
        Wait(i64),
    }

    fn event() -> impl Strategy<Value = Event> {
        prop_oneof![
            Just(Event::Approve),
            Just(Event::Reject),
            Just(Event::Redeem),
            Just(Event::Expire),
            Just(Event::Cancel),
            (1i64..40).prop_map(Event::Wait),
        ]
    }

    fn reward_type() -> impl Strategy<Value = RewardType> {
        proptest::sample::select(RewardType::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn a_reward_is_redeemed_at_most_once_and_never_reaches_an_illegal_state(
            kind in reward_type(),
            validity in proptest::option::of(1i64..60),
            events in proptest::collection::vec(event(), 0..40),
        ) {
            let mut now = t0();
            let mut r = RewardLedgerEntry::grant(kind, validity.map(|d| t0() + Duration::days(d)));
            let mut redemptions = 0;
            let mut was_used = false;
            for e in events {
                let before = r.clone();
                let result = match e {
                    Event::Approve => r.approve(),
                    Event::Reject => r.reject(),
                    Event::Redeem => r.redeem(now, order()).map(|()| redemptions += 1),
                    Event::Expire => r.expire(now),
                    Event::Cancel => r.cancel(),
                    Event::Wait(days) => { now += Duration::days(days); Ok(()) }
                };
                if result.is_err() {
                    prop_assert_eq!(&r, &before, "a refused transition changed the entry");
                }
                // Used is final, and a used reward always says when and on what.
                if was_used {
                    prop_assert_eq!(r.status(), RewardStatus::Used);
                }
                if r.status() == RewardStatus::Used {
                    was_used = true;
                    prop_assert!(r.used_at().is_some() && r.used_on().is_some());
                    if let Some(at) = r.expires_at() {
                        prop_assert!(r.used_at().unwrap() < at, "used after expiry");
                    }
                } else {
                    prop_assert!(r.used_at().is_none() && r.used_on().is_none());
                }
                // Cash is only ever available after an approval.
                if kind != RewardType::Cash {
                    prop_assert_ne!(r.status(), RewardStatus::PendingApproval);
                }
            }
            prop_assert!(redemptions <= 1, "redeemed {} times", redemptions);
        }

        /// A gated reward (flagged, held, or both) is never used unless a release or an
        /// approving review let it out first, and a reversed reward is never used or paid
        /// afterwards.
        #[test]
        fn held_and_reviewed_rewards_are_used_only_after_release_and_never_after_reversal(
            kind in reward_type(),
            flagged in any::<bool>(),
            hold_days in 1u32..30,
            events in proptest::collection::vec(gated_event(), 0..40),
        ) {
            let mut now = t0();
            let until = hold_until(t0(), hold_days);
            let status = Gate { flagged, hold_until: until }.status_of(kind, now);
            prop_assert_eq!(status, if flagged { RewardStatus::InReview } else { RewardStatus::Held });
            let mut r = RewardLedgerEntry::from_stored(status, None, None, None);
            let (mut let_out, mut reversed) = (false, false);
            for e in events {
                let before = r.clone();
                let result = match e {
                    GatedEvent::Release => r.release(kind, until, now).map(|()| let_out = true),
                    GatedEvent::Review(approve) => r.review(approve, kind, until, now).map(|()| {
                        if approve && r.status() != RewardStatus::Held { let_out = true; }
                    }),
                    GatedEvent::Approve => r.approve(),
                    GatedEvent::Redeem => r.redeem(now, order()),
                    GatedEvent::Cancel => r.cancel(),
                    GatedEvent::Reverse => {
                        let effect = r.reverse(kind);
                        if effect == ReversalEffect::Cancelled { reversed = true; }
                        Ok(())
                    }
                    GatedEvent::Wait(days) => { now += Duration::days(days); Ok(()) }
                };
                if result.is_err() {
                    prop_assert_eq!(&r, &before, "a refused transition changed the entry");
                }
                if r.status() == RewardStatus::Used {
                    prop_assert!(let_out, "used without a release");
                    prop_assert!(!reversed, "used after a reversal");
                }
                if reversed {
                    prop_assert_eq!(r.status(), RewardStatus::Cancelled);
                }
                if r.status() == RewardStatus::Held {
                    prop_assert!(now < until.unwrap() || before.status() == RewardStatus::Held);
                }
            }
        }
    }

    #[derive(Debug, Clone)]
    enum GatedEvent {
        Release,
        Review(bool),
        Approve,
        Redeem,
        Cancel,
        Reverse,
        Wait(i64),
    }

    fn gated_event() -> impl Strategy<Value = GatedEvent> {
        prop_oneof![
            Just(GatedEvent::Release),
            any::<bool>().prop_map(GatedEvent::Review),
            Just(GatedEvent::Approve),
            Just(GatedEvent::Redeem),
            Just(GatedEvent::Cancel),
            Just(GatedEvent::Reverse),
            (1i64..10).prop_map(GatedEvent::Wait),
        ]
    }

    #[test]
    fn every_waiting_or_cancelled_reward_is_explained() {
        let until = Some(t0() + Duration::days(14));
        let held = plain_words(RewardStatus::Held, until, None, None).unwrap();
        assert!(held.contains("May 15, 2026"), "{held}");
        assert!(plain_words(RewardStatus::InReview, None, None, None).is_some());
        let reversed = plain_words(
            RewardStatus::Cancelled,
            None,
            Some(crate::reversal::CancelReason::ConversionReversed),
            None,
        )
        .unwrap();
        assert!(!reversed.contains("refund") && !reversed.contains("order"));
        assert_eq!(plain_words(RewardStatus::Available, None, None, None), None);
    }

    #[test]
    fn holds_release_when_due_and_reviews_decide() {
        let until = hold_until(t0(), 14);
        assert_eq!(until, Some(t0() + Duration::days(14)));
        assert_eq!(hold_until(t0(), 0), None);
        assert_eq!(
            Gate::default().status_of(RewardType::Credit, t0()),
            RewardStatus::Available
        );
        let mut held = RewardLedgerEntry::from_stored(RewardStatus::Held, None, None, None);
        assert_eq!(held.redeem(t0(), order()), Err(DomainError::RedeemHeld));
        assert_eq!(
            held.release(RewardType::Credit, until, t0()),
            Err(DomainError::HoldNotOver)
        );
        held.release(RewardType::Cash, until, t0() + Duration::days(14))
            .unwrap();
        assert_eq!(held.status(), RewardStatus::PendingApproval);

        let mut flagged = RewardLedgerEntry::from_stored(RewardStatus::InReview, None, None, None);
        assert_eq!(
            flagged.redeem(t0(), order()),
            Err(DomainError::RedeemInReview)
        );
        flagged
            .review(true, RewardType::Credit, until, t0())
            .unwrap();
        assert_eq!(flagged.status(), RewardStatus::Held);
        assert_eq!(
            flagged.review(true, RewardType::Credit, until, t0()),
            Err(DomainError::ReviewNotPending(RewardStatus::Held))
        );
        let mut rejected = RewardLedgerEntry::from_stored(RewardStatus::InReview, None, None, None);
        rejected
            .review(false, RewardType::Credit, None, t0())
            .unwrap();
        assert_eq!(rejected.status(), RewardStatus::Cancelled);
    }

    #[test]
    fn reversals_cancel_what_was_not_used_and_claw_back_the_rest() {
        let entry = |s| RewardLedgerEntry::from_stored(s, None, None, None);
        for status in [
            RewardStatus::Held,
            RewardStatus::InReview,
            RewardStatus::Available,
        ] {
            let mut r = entry(status);
            assert_eq!(r.reverse(RewardType::Credit), ReversalEffect::Cancelled);
            assert_eq!(r.status(), RewardStatus::Cancelled);
        }
        let mut paid = entry(RewardStatus::Available);
        assert_eq!(paid.reverse(RewardType::Cash), ReversalEffect::Clawback);
        assert_eq!(paid.status(), RewardStatus::Available);
        assert_eq!(
            entry(RewardStatus::Used).reverse(RewardType::Credit),
            ReversalEffect::Clawback
        );
        assert_eq!(
            entry(RewardStatus::Expired).reverse(RewardType::Credit),
            ReversalEffect::Unaffected
        );
    }
}
