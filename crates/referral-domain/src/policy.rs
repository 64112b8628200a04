//! The healthcare inducement policy: which rewards a patient may be granted.
//!
//! US anti-kickback and beneficiary-inducement rules limit what a provider may give a
//! patient for bringing in business. The service applies two limits before it grants any
//! reward, and records every reward it withholds with the reason, so that the patient can
//! see it and compliance can audit it:
//!
//! - a per-patient cap on the value of rewards granted in one calendar year (UTC);
//! - for patients whose care a federal programme pays (Medicare, Medicaid, TRICARE): no
//!   `cash` at all, and other rewards only of nominal value (by default at most 15.00 each
//!   and 75.00 a year).
//!
//! The value of a reward is its amount for `credit`, `cash` and `free_consultation`. A
//! `discount` is a percentage whose money value is only known when it is used: it counts
//! nothing at grant time, and when it is redeemed against an amount its value is fixed
//! ([`InducementPolicy::discount_value`]: its share of the amount, cut to what the yearly cap
//! leaves and, for a federal payer, to the nominal value) and counts from then on
//! ([`counted_cents`]).
//!
//! A reward is granted whole or not at all: a reward that would cross a cap is withheld, not
//! cut down, so a patient never receives an odd partial amount. A discount is the exception
//! the rules need: its value is an amount off a bill, so it is cut, not refused.

use crate::facts::{UnknownPayerPolicy, UsState};
use crate::money::Money;
use crate::program::RewardSpec;
use crate::status::{RewardStatus, RewardType};
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The limits of the policy; a setting of the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InducementPolicy {
    /// Most reward value a patient may be granted in one calendar year.
    pub annual_cap_per_patient: Money,
    /// Most value of one reward for a federal payer.
    pub federal_nominal_each: Money,
    /// Most reward value a federal payer may be granted in one calendar year.
    pub federal_nominal_annual: Money,
    /// How a patient whose payer was never reported is treated.
    #[serde(default)]
    pub unknown_payer: UnknownPayerPolicy,
    /// States whose residents get no reward, as referrer or as friend (state
    /// patient-brokering and fee-splitting laws): the service's `--excluded-states`, and
    /// for one program's decision also the program's own (see [`Self::for_program`]).
    #[serde(default)]
    pub excluded_states: Vec<UsState>,
    /// The `velocity` fraud signal's setting: more registrations than this through one
    /// referrer's codes in 24 hours send their rewards to review.
    #[serde(default = "default_velocity")]
    pub velocity_per_day: u32,
    /// When a referrer's rewards reach them (`--referrer-reward-cadence`): a reward is
    /// shown and told at the end of its period, never at the moment of the friend's care.
    #[serde(default)]
    pub referrer_cadence: crate::disclosure::RewardCadence,
}

fn default_velocity() -> u32 {
    crate::signals::DEFAULT_VELOCITY_PER_DAY
}

impl Default for InducementPolicy {
    /// 500.00 a year for everyone; 15.00 each and 75.00 a year for federal payers; a patient
    /// whose payer was never reported counts as a federal payer.
    fn default() -> Self {
        Self {
            annual_cap_per_patient: Money::from_cents(50_000).unwrap_or(Money::ZERO),
            federal_nominal_each: Money::from_cents(1_500).unwrap_or(Money::ZERO),
            federal_nominal_annual: Money::from_cents(7_500).unwrap_or(Money::ZERO),
            unknown_payer: UnknownPayerPolicy::Federal,
            excluded_states: Vec::new(),
            velocity_per_day: crate::signals::DEFAULT_VELOCITY_PER_DAY,
            referrer_cadence: crate::disclosure::RewardCadence::Weekly,
        }
    }
}

/// What the store knows about the patient who would receive a reward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientStanding {
    /// Whether a federal programme pays for the patient's care.
    pub federal_payer: bool,
    /// The patient's reported state, if any (an unreported state excludes nothing).
    pub state: Option<UsState>,
    /// Value of the rewards already granted to the patient this calendar year (every
    /// reward not cancelled, used or not).
    pub granted_this_year: Money,
}

/// Why a reward was withheld.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RewardRefusal {
    /// The patient's annual cap would be exceeded.
    AnnualCapReached,
    /// Federal payers get no cash rewards.
    FederalPayerCashExcluded,
    /// The reward is worth more than the nominal value allowed for a federal payer.
    FederalPayerAboveNominalValue,
    /// The federal payer's yearly nominal total would be exceeded.
    FederalPayerAnnualNominalReached,
    /// The referred friend's care is paid by a federal programme: a reward to the referrer
    /// for bringing them would be remuneration for a federal-programme referral
    /// (anti-kickback statute), so it is withheld, whoever the referrer is.
    FederalPayerReferee,
    /// The recipient lives in a state where the service or the program gives no referral
    /// rewards.
    StateExcluded,
    /// For a referrer's reward: the friend lives in such a state. A fact of the friend's,
    /// shown to admins only (see [`RewardRefusal::concerns_friend`]).
    RefereeStateExcluded,
    /// The program's total or monthly reward budget would be exceeded.
    ProgramBudgetExhausted,
}

impl RewardRefusal {
    /// The stable snake_case reason, as stored and shown to the patient.
    pub const fn as_str(self) -> &'static str {
        match self {
            RewardRefusal::AnnualCapReached => "annual_cap_reached",
            RewardRefusal::FederalPayerCashExcluded => "federal_payer_cash_excluded",
            RewardRefusal::FederalPayerAboveNominalValue => "federal_payer_above_nominal_value",
            RewardRefusal::FederalPayerAnnualNominalReached => {
                "federal_payer_annual_nominal_reached"
            }
            RewardRefusal::FederalPayerReferee => "federal_payer_referee",
            RewardRefusal::StateExcluded => "state_excluded",
            RewardRefusal::RefereeStateExcluded => "referee_state_excluded",
            RewardRefusal::ProgramBudgetExhausted => "program_budget_exhausted",
        }
    }

    /// The reason in plain words, as the patient who would have received the reward reads
    /// it. It says which rule applied, never anything about another person's care beyond
    /// what the rule itself is.
    pub const fn explanation(self) -> &'static str {
        match self {
            RewardRefusal::AnnualCapReached => {
                "You have received the most rewards a patient may get in one year."
            }
            RewardRefusal::FederalPayerCashExcluded => {
                "Patients covered by Medicare, Medicaid or another federal program cannot receive cash rewards."
            }
            RewardRefusal::FederalPayerAboveNominalValue => {
                "Patients covered by a federal program can only receive rewards of small value, and this one is worth more."
            }
            RewardRefusal::FederalPayerAnnualNominalReached => {
                "Patients covered by a federal program can only receive a small total of rewards each year, and it has been reached."
            }
            RewardRefusal::FederalPayerReferee => {
                "Rules for federal health programs do not allow a reward for this invitation."
            }
            RewardRefusal::StateExcluded => "Referral rewards are not available in your state.",
            RewardRefusal::RefereeStateExcluded => {
                "Referral rewards are not available in the friend's state."
            }
            RewardRefusal::ProgramBudgetExhausted => {
                "The referral program has given all the rewards its budget allows."
            }
        }
    }

    /// Every reason.
    pub const ALL: [RewardRefusal; 8] = [
        RewardRefusal::AnnualCapReached,
        RewardRefusal::FederalPayerCashExcluded,
        RewardRefusal::FederalPayerAboveNominalValue,
        RewardRefusal::FederalPayerAnnualNominalReached,
        RewardRefusal::FederalPayerReferee,
        RewardRefusal::StateExcluded,
        RewardRefusal::RefereeStateExcluded,
        RewardRefusal::ProgramBudgetExhausted,
    ];

    /// Parses a stored reason.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == code)
    }

    /// Whether the reason is a fact of the referred friend's (their payer, their state):
    /// such a refusal is for admins only, and the referrer is shown nothing at all, as if
    /// the friend had never joined.
    pub const fn concerns_friend(self) -> bool {
        matches!(
            self,
            RewardRefusal::FederalPayerReferee | RewardRefusal::RefereeStateExcluded
        )
    }
}

impl fmt::Display for RewardRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The policy's answer for one reward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RewardDecision {
    /// Grant it; `counted_value` is what it adds to the patient's yearly total.
    Grant {
        /// Value counted against the caps.
        counted_value: Money,
    },
    /// Withhold it, for this reason.
    Refuse(RewardRefusal),
}

impl RewardDecision {
    /// Whether the reward is granted.
    pub const fn is_granted(&self) -> bool {
        matches!(self, RewardDecision::Grant { .. })
    }
}

/// The ledger statuses whose rewards count towards the yearly caps: every reward granted,
/// used or not. Cancelled rows (withheld or rejected) gave the patient nothing.
pub const CAP_COUNTED_STATUSES: [RewardStatus; 6] = [
    RewardStatus::PendingApproval,
    RewardStatus::Held,
    RewardStatus::InReview,
    RewardStatus::Available,
    RewardStatus::Used,
    RewardStatus::Expired,
];

/// The reward types whose nominal value counts towards the yearly caps from the grant on (a
/// discount counts the value it gave, once used: see [`counted_cents`]).
pub const CAP_COUNTED_TYPES: [RewardType; 3] = [
    RewardType::Credit,
    RewardType::Cash,
    RewardType::FreeConsultation,
];

/// Whether a ledger row of `reward_type` in `status` counts towards the yearly caps.
pub fn counts_toward_caps(status: RewardStatus, reward_type: RewardType) -> bool {
    CAP_COUNTED_STATUSES.contains(&status) && CAP_COUNTED_TYPES.contains(&reward_type)
}

/// The value a reward counts for against the caps when it is granted (zero for a discount,
/// which counts what it gives once used: see the module docs).
pub fn counted_value(reward: &RewardSpec) -> Money {
    match reward.reward_type {
        RewardType::Discount => Money::ZERO,
        RewardType::Credit | RewardType::Cash | RewardType::FreeConsultation => {
            reward.value.clone()
        }
    }
}

/// What one ledger row counts for against the yearly caps, in cents (the row already
/// being in a [`CAP_COUNTED_STATUSES`] status): its amount, except a discount, which counts
/// the value it gave when it was used (`applied_cents`), and nothing before.
pub fn counted_cents(
    reward_type: RewardType,
    amount_cents: Option<i64>,
    applied_cents: Option<i64>,
) -> i64 {
    if reward_type.has_face_value() {
        amount_cents.unwrap_or(0)
    } else {
        applied_cents.unwrap_or(0)
    }
}

impl InducementPolicy {
    /// The value a `percent` discount gives on `amount` to a patient with `standing`: the
    /// percentage of the amount in whole cents (rounded down), no more than the patient may
    /// still receive this calendar year and, for a federal payer, no more than the nominal
    /// value of one reward nor what is left of the yearly nominal total. The value is fixed
    /// when the discount is redeemed and counts against the caps from then on.
    pub fn discount_value(
        &self,
        percent: &Money,
        amount: &Money,
        standing: &RecipientStanding,
    ) -> Money {
        let raw = i128::from(amount.cents()) * i128::from(percent.cents()) / 10_000;
        let mut cents = i64::try_from(raw).unwrap_or(i64::MAX);
        let left = |cap: &Money| {
            cap.checked_sub(&standing.granted_this_year)
                .map_or(0, |m| m.cents())
        };
        cents = cents.min(left(&self.annual_cap_per_patient));
        if standing.federal_payer {
            cents = cents
                .min(self.federal_nominal_each.cents())
                .min(left(&self.federal_nominal_annual));
        }
        Money::from_cents(cents.max(0)).unwrap_or(Money::ZERO)
    }

    /// The policy for one program's decisions: the service's excluded states and the
    /// program's.
    pub fn for_program(&self, program_excluded_states: &[UsState]) -> InducementPolicy {
        let mut policy = self.clone();
        for state in program_excluded_states {
            if !policy.excluded_states.contains(state) {
                policy.excluded_states.push(state.clone());
            }
        }
        policy
    }

    /// Whether a patient in `state` is excluded from rewards (an unknown state is not).
    pub fn excludes(&self, state: Option<&UsState>) -> bool {
        state.is_some_and(|s| self.excluded_states.contains(s))
    }

    /// Decides whether `reward` may be granted to a patient with `standing`.
    pub fn decide(&self, reward: &RewardSpec, standing: &RecipientStanding) -> RewardDecision {
        if self.excludes(standing.state.as_ref()) {
            return RewardDecision::Refuse(RewardRefusal::StateExcluded);
        }
        let value = counted_value(reward);
        let total = standing.granted_this_year.checked_add(&value);
        if standing.federal_payer {
            if reward.reward_type.is_paid_out() {
                return RewardDecision::Refuse(RewardRefusal::FederalPayerCashExcluded);
            }
            if value > self.federal_nominal_each {
                return RewardDecision::Refuse(RewardRefusal::FederalPayerAboveNominalValue);
            }
            if total
                .as_ref()
                .is_none_or(|t| t > &self.federal_nominal_annual)
            {
                return RewardDecision::Refuse(RewardRefusal::FederalPayerAnnualNominalReached);
            }
        }
        if total
            .as_ref()
            .is_none_or(|t| t > &self.annual_cap_per_patient)
        {
            return RewardDecision::Refuse(RewardRefusal::AnnualCapReached);
        }
        RewardDecision::Grant {
            counted_value: value,
        }
    }
}

/// The calendar year (UTC) whose cap a reward granted at `at` counts against, as
/// `[start, end)` instants for the store's query.
pub fn calendar_year_of(at: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let year = at.year();
    (start_of_year(year), start_of_year(year + 1))
}

fn start_of_year(year: i32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(year, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|naive| Utc.from_utc_datetime(&naive))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(s: &str) -> Money {
        Money::parse(s).unwrap()
    }

    fn spec(t: RewardType, v: &str) -> RewardSpec {
        RewardSpec {
            reward_type: t,
            value: money(v),
        }
    }

    fn standing(federal: bool, granted: &str) -> RecipientStanding {
        RecipientStanding {
            federal_payer: federal,
            state: None,
            granted_this_year: money(granted),
        }
    }

    #[test]
    fn a_discount_is_worth_its_share_of_the_amount_within_the_caps() {
        let p = InducementPolicy::default();
        let pct = money("20");
        assert_eq!(
            p.discount_value(&pct, &money("80"), &standing(false, "0")),
            money("16")
        );
        // Rounded down to the cent.
        assert_eq!(
            p.discount_value(&money("33"), &money("0.10"), &standing(false, "0")),
            money("0.03")
        );
        // A federal payer: at most 15.00 a reward, and what is left of 75.00 a year.
        assert_eq!(
            p.discount_value(&pct, &money("500"), &standing(true, "0")),
            money("15")
        );
        assert_eq!(
            p.discount_value(&pct, &money("500"), &standing(true, "70")),
            money("5")
        );
        assert_eq!(
            p.discount_value(&pct, &money("500"), &standing(true, "80")),
            money("0")
        );
        // Everyone: what is left of the yearly cap.
        assert_eq!(
            p.discount_value(&money("100"), &money("900"), &standing(false, "450")),
            money("50")
        );
        assert_eq!(counted_cents(RewardType::Discount, Some(2000), None), 0);
        assert_eq!(
            counted_cents(RewardType::Discount, Some(2000), Some(1600)),
            1600
        );
        assert_eq!(
            counted_cents(RewardType::Credit, Some(2500), Some(2500)),
            2500
        );
    }

    proptest::proptest! {
        /// No discount ever gives a federal payer more than the nominal limits, or anyone
        /// more than the yearly cap leaves, or more than its share of the amount.
        #[test]
        fn discounts_stay_within_every_limit(
            percent in 1i64..=10_000,
            amount in 0i64..10_000_000,
            granted in 0i64..100_000,
            federal in proptest::bool::ANY,
        ) {
            let p = InducementPolicy::default();
            let s = RecipientStanding {
                federal_payer: federal,
                state: None,
                granted_this_year: Money::from_cents(granted).unwrap(),
            };
            let value = p.discount_value(
                &Money::from_cents(percent).unwrap(),
                &Money::from_cents(amount).unwrap(),
                &s,
            );
            proptest::prop_assert!(value.cents() * 10_000 <= amount * percent);
            proptest::prop_assert!(value.cents() + granted <= p.annual_cap_per_patient.cents().max(granted));
            if federal {
                proptest::prop_assert!(value <= p.federal_nominal_each);
                proptest::prop_assert!(value.cents() + granted <= p.federal_nominal_annual.cents().max(granted));
            }
        }
    }

    #[test]
    fn excluded_states_withhold_whatever_the_reward() {
        let ca = UsState::parse("ca").unwrap();
        let service = InducementPolicy {
            excluded_states: vec![UsState::parse("NY").unwrap()],
            ..InducementPolicy::default()
        };
        let policy = service.for_program(std::slice::from_ref(&ca));
        assert_eq!(policy.excluded_states.len(), 2);
        assert_eq!(
            service.for_program(&service.excluded_states.clone()),
            service
        );
        let mut in_ca = standing(false, "0");
        in_ca.state = Some(ca);
        assert_eq!(
            policy.decide(&spec(RewardType::Credit, "1"), &in_ca),
            RewardDecision::Refuse(RewardRefusal::StateExcluded)
        );
        assert!(service
            .decide(&spec(RewardType::Credit, "1"), &in_ca)
            .is_granted());
        // An unreported state excludes nothing.
        assert!(policy
            .decide(&spec(RewardType::Credit, "1"), &standing(false, "0"))
            .is_granted());
        assert_eq!(
            RewardRefusal::from_code("state_excluded"),
            Some(RewardRefusal::StateExcluded)
        );
    }

    #[test]
    fn defaults_are_the_documented_limits() {
        let p = InducementPolicy::default();
        assert_eq!(p.annual_cap_per_patient.to_string(), "500.00");
        assert_eq!(p.federal_nominal_each.to_string(), "15.00");
        assert_eq!(p.federal_nominal_annual.to_string(), "75.00");
    }

    #[test]
    fn the_annual_cap_withholds_whole_rewards() {
        let p = InducementPolicy::default();
        assert_eq!(
            p.decide(&spec(RewardType::Credit, "25"), &standing(false, "475")),
            RewardDecision::Grant {
                counted_value: money("25")
            }
        );
        assert_eq!(
            p.decide(&spec(RewardType::Credit, "25"), &standing(false, "475.01")),
            RewardDecision::Refuse(RewardRefusal::AnnualCapReached)
        );
        assert!(p
            .decide(&spec(RewardType::Cash, "500"), &standing(false, "0"))
            .is_granted());
    }

    #[test]
    fn federal_payers_get_no_cash_and_only_nominal_value() {
        let p = InducementPolicy::default();
        assert_eq!(
            p.decide(&spec(RewardType::Cash, "1"), &standing(true, "0")),
            RewardDecision::Refuse(RewardRefusal::FederalPayerCashExcluded)
        );
        assert_eq!(
            p.decide(&spec(RewardType::Credit, "15.01"), &standing(true, "0")),
            RewardDecision::Refuse(RewardRefusal::FederalPayerAboveNominalValue)
        );
        assert!(p
            .decide(&spec(RewardType::Credit, "15"), &standing(true, "60"))
            .is_granted());
        assert_eq!(
            p.decide(
                &spec(RewardType::FreeConsultation, "15"),
                &standing(true, "60.01")
            ),
            RewardDecision::Refuse(RewardRefusal::FederalPayerAnnualNominalReached)
        );
    }

    #[test]
    fn discounts_count_as_zero() {
        let p = InducementPolicy::default();
        assert_eq!(
            p.decide(&spec(RewardType::Discount, "20"), &standing(true, "75")),
            RewardDecision::Grant {
                counted_value: Money::ZERO
            }
        );
    }

    #[test]
    fn refusal_codes_round_trip() {
        for r in [
            RewardRefusal::AnnualCapReached,
            RewardRefusal::FederalPayerCashExcluded,
            RewardRefusal::FederalPayerAboveNominalValue,
            RewardRefusal::FederalPayerAnnualNominalReached,
        ] {
            assert_eq!(RewardRefusal::from_code(r.as_str()), Some(r));
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{r}\""));
        }
        assert_eq!(RewardRefusal::from_code("nope"), None);
    }

    #[test]
    fn calendar_years_are_utc() {
        let at = Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59).unwrap();
        let (start, end) = calendar_year_of(at);
        assert_eq!(start, Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        assert_eq!(end, Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap());
    }
}
