//! The reward ledger: one row per reward granted, and its state machine.
//!
//! ```text
//! pending_approval ──approve──▶ available ──redeem──▶ used
//!         └──reject──▶ cancelled     ├──expires_at passes──▶ expired
//!                                    └──admin cancels──▶ cancelled
//! ```

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

/// The status a new reward of `reward_type` starts in: `cash` waits for an admin's
/// approval, every other type is available at once.
pub const fn initial_status(reward_type: RewardType) -> RewardStatus {
    match reward_type {
        RewardType::Cash => RewardStatus::PendingApproval,
        _ => RewardStatus::Available,
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
    }
}
