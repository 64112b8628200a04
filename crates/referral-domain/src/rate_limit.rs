//! How instances that share one request budget take from it without a database round trip
//! a request (#33): an instance claims hits in leases of several at once from the shared
//! counter and spends them locally. Claims never let the instances together allow more than
//! the limit; what is claimed and not spent before the window ends is lost, so together they
//! may refuse a little early (at most one lease less one hit an instance, a window).
//!
//! Small limits (the public and registration ones, tens a minute) lease one hit at a time,
//! so they count exactly; only large ones (a platform service's, a benchmark's) lease more,
//! never more than a hundredth of the limit.

/// The most hits one lease holds.
pub const MAX_LEASE: u64 = 100;

/// How many hits an instance claims at once under `limit` hits a window: a hundredth of the
/// limit, at least 1 and at most [`MAX_LEASE`].
pub fn lease_size(limit: u64) -> u64 {
    (limit / 100).clamp(1, MAX_LEASE)
}

/// How many of a claim of `claimed` hits may be spent, when the shared counter read
/// `total` after it (this claim included): the part of the claim that lies within `limit`.
/// 0 means the budget is spent and the request is refused.
pub fn usable(total: u64, claimed: u64, limit: u64) -> u64 {
    let before = total.saturating_sub(claimed);
    limit.saturating_sub(before).min(claimed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn small_limits_count_one_hit_at_a_time() {
        for limit in [1, 10, 60, 199] {
            assert_eq!(lease_size(limit), 1, "{limit}");
        }
        assert_eq!(lease_size(1_000_000_000), MAX_LEASE);
    }

    proptest! {
        /// Any number of instances claiming leases in any order never allow more than the
        /// limit together, and waste at most a lease less one hit each.
        #[test]
        fn instances_together_never_allow_more_than_the_limit(
            limit in 1u64..5_000,
            requests in proptest::collection::vec(0usize..4, 0..6_000),
        ) {
            let lease = lease_size(limit);
            let mut counter = 0u64;
            let mut left = [0u64; 4];
            let mut allowed = 0u64;
            for instance in requests.iter().copied() {
                if left[instance] == 0 {
                    counter += lease;
                    left[instance] = usable(counter, lease, limit);
                }
                if left[instance] > 0 {
                    left[instance] -= 1;
                    allowed += 1;
                }
            }
            prop_assert!(allowed <= limit);
            let asked = u64::try_from(requests.len()).unwrap();
            let unspent: u64 = left.iter().sum();
            if allowed < asked {
                // A refusal comes only once the whole limit was handed out.
                prop_assert_eq!(allowed + unspent, limit);
            }
            prop_assert!(unspent <= 4 * (lease - 1));
        }

        #[test]
        fn a_claim_within_the_budget_is_usable_whole(limit in 1u64..1_000_000, before in 0u64..1_000_000) {
            let lease = lease_size(limit);
            let got = usable(before + lease, lease, limit);
            prop_assert!(got <= lease);
            prop_assert_eq!(got == lease, before + lease <= limit);
            prop_assert_eq!(got == 0, before >= limit);
        }
    }
}
