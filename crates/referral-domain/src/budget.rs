//! A program's reward budget: an optional total and an optional monthly amount. A reward
//! that would take the program's spend past either is withheld (`program_budget_exhausted`)
//! rather than cut: the patient gets the reward the program promised, or none and the
//! reason.
//!
//! Spend counts what the inducement policy counts (every reward granted, used or not, at
//! its value; a discount at what it gave once used), across both parties.

use crate::money::Money;
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};

/// A program's budget; neither limit set is no budget.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Budget {
    /// Most reward value the program may ever give.
    pub total: Option<Money>,
    /// Most reward value the program may give in one calendar month (UTC).
    pub monthly: Option<Money>,
}

/// What a program has given so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spend {
    /// Ever.
    pub total: Money,
    /// In the calendar month of the decision.
    pub this_month: Money,
}

impl Default for Spend {
    /// Nothing given yet.
    fn default() -> Self {
        Spend {
            total: Money::ZERO,
            this_month: Money::ZERO,
        }
    }
}

impl Budget {
    /// Whether the program has a budget at all (only then is its spend read, under its
    /// lock).
    pub const fn is_limited(&self) -> bool {
        self.total.is_some() || self.monthly.is_some()
    }

    /// What the budget still allows after `spent`: `None` when there is no limit.
    pub fn left(&self, spent: &Spend) -> Option<Money> {
        let left = |limit: &Option<Money>, spent: &Money| {
            limit
                .as_ref()
                .map(|l| l.checked_sub(spent).unwrap_or(Money::ZERO))
        };
        match (
            left(&self.total, &spent.total),
            left(&self.monthly, &spent.this_month),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether a reward counted at `value` fits what is left.
    pub fn allows(&self, spent: &Spend, value: &Money) -> bool {
        self.left(spent).is_none_or(|left| value <= &left)
    }
}

/// The calendar month (UTC) of `at`: its first instant and the next month's.
pub fn calendar_month_of(at: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = |year: i32, month: u32| {
        NaiveDate::from_ymd_opt(year, month, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|naive| Utc.from_utc_datetime(&naive))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    };
    let (year, month) = (at.year(), at.month());
    let next = if month == 12 {
        start(year + 1, 1)
    } else {
        start(year, month + 1)
    };
    (start(year, month), next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(cents: i64) -> Money {
        Money::from_cents(cents).unwrap()
    }

    #[test]
    fn the_tighter_limit_decides() {
        let none = Budget::default();
        assert!(!none.is_limited());
        assert!(none.allows(&Spend::default(), &m(1_000_000)));
        let both = Budget {
            total: Some(m(10_000)),
            monthly: Some(m(3_000)),
        };
        let spent = Spend {
            total: m(9_000),
            this_month: m(500),
        };
        assert_eq!(both.left(&spent), Some(m(1_000)));
        assert!(both.allows(&spent, &m(1_000)));
        assert!(!both.allows(&spent, &m(1_001)));
        let overspent = Spend {
            total: m(20_000),
            this_month: m(0),
        };
        assert_eq!(both.left(&overspent), Some(Money::ZERO));
        let (start, end) = calendar_month_of(Utc.with_ymd_and_hms(2026, 12, 31, 23, 0, 0).unwrap());
        assert_eq!(start, Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap());
        assert_eq!(end, Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap());
    }

    proptest! {
        /// Granting only what `allows` admits never takes the spend past either limit.
        #[test]
        fn a_budget_is_never_overspent(
            total in proptest::option::of(0i64..100_000),
            monthly in proptest::option::of(0i64..50_000),
            rewards in proptest::collection::vec(1i64..10_000, 0..60),
        ) {
            let budget = Budget { total: total.map(m), monthly: monthly.map(m) };
            let mut spent = Spend::default();
            for value in rewards {
                if budget.allows(&spent, &m(value)) {
                    spent.total = spent.total.checked_add(&m(value)).unwrap();
                    spent.this_month = spent.this_month.checked_add(&m(value)).unwrap();
                }
            }
            if let Some(t) = total { prop_assert!(spent.total.cents() <= t); }
            if let Some(mo) = monthly { prop_assert!(spent.this_month.cents() <= mo); }
        }
    }
}
