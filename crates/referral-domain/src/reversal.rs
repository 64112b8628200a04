//! Reversals: a converting order refunded, or a converting consultation cancelled, undoes
//! the conversion and what it earned (see [`crate::ReferralLifecycle::reverse`] and
//! [`crate::RewardLedgerEntry::reverse`]).

use crate::money::Money;
use serde::{Deserialize, Serialize};

/// Why a referral was reversed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReversalReason {
    /// The converting order was refunded (in full, or below the program's minimum).
    OrderRefunded,
    /// The converting consultation was cancelled.
    ConsultationCancelled,
}

impl ReversalReason {
    /// The snake_case code, as stored and sent.
    pub const fn as_str(self) -> &'static str {
        match self {
            ReversalReason::OrderRefunded => "order_refunded",
            ReversalReason::ConsultationCancelled => "consultation_cancelled",
        }
    }

    /// Parses a stored code.
    pub fn from_code(code: &str) -> Option<Self> {
        [
            ReversalReason::OrderRefunded,
            ReversalReason::ConsultationCancelled,
        ]
        .into_iter()
        .find(|r| r.as_str() == code)
    }

    /// What happened, in plain words for the patient whose reward it undid. The same
    /// sentence for both reasons: the referrer learns nothing of the friend's care.
    pub const fn explanation(self) -> &'static str {
        "This reward was cancelled because the referral that earned it no longer qualifies."
    }
}

/// Why a reward was cancelled after it was granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// The conversion that earned it was reversed.
    ConversionReversed,
    /// An admin rejected it in the review queue.
    ReviewRejected,
}

impl CancelReason {
    /// The snake_case code, as stored and sent.
    pub const fn as_str(self) -> &'static str {
        match self {
            CancelReason::ConversionReversed => "conversion_reversed",
            CancelReason::ReviewRejected => "review_rejected",
        }
    }

    /// Parses a stored code.
    pub fn from_code(code: &str) -> Option<Self> {
        [
            CancelReason::ConversionReversed,
            CancelReason::ReviewRejected,
        ]
        .into_iter()
        .find(|r| r.as_str() == code)
    }

    /// Why, in plain words for the reward's owner.
    pub const fn explanation(self) -> &'static str {
        match self {
            CancelReason::ConversionReversed => ReversalReason::OrderRefunded.explanation(),
            CancelReason::ReviewRejected => {
                "Our team reviewed this reward and could not confirm it met the program's rules, so it was cancelled."
            }
        }
    }
}

/// Whether refunds totalling `refunded` of an order of `amount` reverse the conversion it
/// made: a full refund does, and so does a partial one that leaves less than the program's
/// `min_order_amount` paid (with no minimum, any amount left keeps the conversion).
pub fn refund_reverses(amount: &Money, refunded: &Money, min_order_amount: Option<&Money>) -> bool {
    let left = amount.cents().saturating_sub(refunded.cents());
    if left <= 0 {
        return true;
    }
    min_order_amount.is_some_and(|min| left < min.cents())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(cents: i64) -> Money {
        Money::from_cents(cents).unwrap()
    }

    #[test]
    fn full_refunds_and_refunds_below_the_minimum_reverse() {
        assert!(refund_reverses(&m(5000), &m(5000), None));
        assert!(refund_reverses(&m(5000), &m(6000), None));
        assert!(!refund_reverses(&m(5000), &m(4999), None));
        assert!(refund_reverses(&m(5000), &m(3000), Some(&m(2500))));
        assert!(!refund_reverses(&m(5000), &m(2500), Some(&m(2500))));
        assert_eq!(
            CancelReason::from_code("conversion_reversed"),
            Some(CancelReason::ConversionReversed)
        );
        assert_eq!(
            ReversalReason::from_code("order_refunded"),
            Some(ReversalReason::OrderRefunded)
        );
        assert!(!CancelReason::ReviewRejected.explanation().contains("order"));
    }

    proptest! {
        /// Refunding more never undoes a reversal.
        #[test]
        fn reversal_is_monotonic_in_the_refunded_amount(
            amount in 1i64..1_000_000, a in 0i64..1_000_000, b in 0i64..1_000_000,
            min in proptest::option::of(1i64..100_000),
        ) {
            let (low, high) = (a.min(b), a.max(b));
            let min = min.map(m);
            if refund_reverses(&m(amount), &m(low), min.as_ref()) {
                prop_assert!(refund_reverses(&m(amount), &m(high), min.as_ref()));
            }
        }
    }
}
