//! The conversion decision: what a referee's first consultation or paid order changes.
//!
//! The store gathers the facts under the referrer's lock (the referral, its program's
//! threshold and referrer reward, the referrer's standing under the inducement policy, and
//! the referrer's older conversions not yet counted towards a reward) and calls [`decide`].
//! The answer is the whole decision: when the referral converted, which older conversions
//! this one's batch counts, and the referrer's reward or the reason it is withheld. Both
//! of the store's paths (PostgreSQL functions and SQLite statements) only write it.
//!
//! The same module holds the smaller rules around it: which orders convert
//! ([`order_converts`]), and how one reward is granted or withheld ([`decide_grant`]), used
//! for the referee's welcome reward at registration too.

use crate::error::DomainError;
use crate::policy::{InducementPolicy, RecipientStanding, RewardDecision, RewardRefusal};
use crate::program::RewardSpec;
use crate::referral::{completes_batch, ConversionTrigger, ReferralLifecycle};
use crate::reward::{initial_status, reward_expires_at, Gate};
use crate::status::{PartyRewardStatus, RewardStatus, RewardType};
use chrono::{DateTime, Utc};

/// Whether an order of `amount_cents` converts a referral: a paid order does; an order of
/// 0.00 (a free visit, a fully discounted one) is recorded and converts nothing. An order
/// reported without an amount is taken as paid, as the platform reports only paid orders.
pub const fn order_converts(amount_cents: Option<i64>) -> bool {
    match amount_cents {
        Some(cents) => cents > 0,
        None => true,
    }
}

/// What became of one reward under the inducement policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantOutcome {
    /// Granted: the ledger row starts in `status` and stops being available at
    /// `expires_at`. The patient is told.
    Granted {
        /// `available`, or `pending_approval` for cash; `held` or `in_review` when
        /// [`GrantOutcome::gated`].
        status: RewardStatus,
        /// When it expires, if ever.
        expires_at: Option<DateTime<Utc>>,
        /// When its holding period ends, if it has one.
        hold_until: Option<DateTime<Utc>>,
    },
    /// Withheld, with the reason the patient sees. Recorded as a cancelled row; nobody is
    /// told by message.
    Withheld(RewardRefusal),
}

impl GrantOutcome {
    /// The ledger status of the row written for this outcome.
    pub const fn ledger_status(&self) -> RewardStatus {
        match self {
            GrantOutcome::Granted { status, .. } => *status,
            GrantOutcome::Withheld(_) => RewardStatus::Cancelled,
        }
    }

    /// The referral's mirror of this party's reward.
    pub const fn mirror(&self) -> PartyRewardStatus {
        match self {
            GrantOutcome::Granted { status, .. } => PartyRewardStatus::mirror(*status),
            GrantOutcome::Withheld(_) => PartyRewardStatus::NotGranted,
        }
    }

    /// Why it was withheld, if it was.
    pub const fn withheld_reason(&self) -> Option<RewardRefusal> {
        match self {
            GrantOutcome::Granted { .. } => None,
            GrantOutcome::Withheld(reason) => Some(*reason),
        }
    }

    /// Whether the patient gets a message about it now: a granted reward they can use or
    /// that waits for a cash approval. A held or reviewed one is announced when released.
    pub const fn notifies(&self) -> bool {
        matches!(
            self,
            GrantOutcome::Granted {
                status: RewardStatus::Available | RewardStatus::PendingApproval,
                ..
            }
        )
    }

    /// The outcome once `gate` applies to a granted reward of `reward_type` at `now`: in
    /// review when flagged, held while the hold lasts; the validity then counts from the
    /// hold's end. A withheld reward stays withheld.
    pub fn gated(self, gate: Gate, reward_type: RewardType, now: DateTime<Utc>) -> Self {
        match self {
            GrantOutcome::Granted { expires_at, .. } => {
                let hold = gate.hold_until.map(|until| until - now);
                GrantOutcome::Granted {
                    status: gate.status_of(reward_type, now),
                    expires_at: match (expires_at, hold) {
                        (Some(at), Some(hold)) => at.checked_add_signed(hold).or(Some(at)),
                        (at, _) => at,
                    },
                    hold_until: gate.hold_until,
                }
            }
            withheld => withheld,
        }
    }
}

/// Decides one reward for a patient with `standing`, granted at `now`: granted (and in
/// which status, until when) or withheld with the policy's reason.
pub fn decide_grant(
    spec: &RewardSpec,
    standing: &RecipientStanding,
    policy: &InducementPolicy,
    validity_days: u32,
    now: DateTime<Utc>,
) -> GrantOutcome {
    match policy.decide(spec, standing) {
        RewardDecision::Grant { .. } => GrantOutcome::Granted {
            status: initial_status(spec.reward_type),
            expires_at: reward_expires_at(now, validity_days),
            hold_until: None,
        },
        RewardDecision::Refuse(reason) => GrantOutcome::Withheld(reason),
    }
}

/// What the store gathered for one conversion, read under the referrer's lock. `Id`
/// names a referral (the store's id type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversionFacts<Id> {
    /// The referral's lifecycle as stored (it converts only from `registered`).
    pub lifecycle: ReferralLifecycle,
    /// Whether this referral's referrer reward is still uncounted (`pending`): it then
    /// counts towards the batch it completes.
    pub uncounted_itself: bool,
    /// The referrer's older converted referrals in the program not yet counted towards a
    /// reward, oldest first (this one not among them).
    pub uncounted: Vec<Id>,
    /// Converted referrals per referrer reward (≥ 1).
    pub reward_threshold: u32,
    /// The referrer reward of the referral's program (and experiment variant), if any.
    pub referrer_reward: Option<RewardSpec>,
    /// Days the reward stays available.
    pub reward_validity_days: u32,
    /// The referrer's standing under the inducement policy.
    pub referrer: RecipientStanding,
    /// Whether the friend whose event converts is a federal-programme patient (as the
    /// inducement policy treats them: an unreported payer counts as the policy says).
    pub referee_federal_payer: bool,
    /// The friend's reported state, if any: a friend in an excluded state earns the
    /// referrer nothing.
    pub referee_state: Option<crate::facts::UsState>,
    /// The program's budget and what it has given so far (read under the program's lock
    /// when the budget is limited).
    pub program_budget: ProgramBudget,
}

/// A program's budget with its spend, as one decision reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProgramBudget {
    /// The limits.
    pub budget: crate::budget::Budget,
    /// What the program has given (ever, and this month).
    pub spent: crate::budget::Spend,
}

impl ProgramBudget {
    /// Whether `spec` fits what the budget leaves.
    pub fn allows(&self, spec: &RewardSpec) -> bool {
        self.budget
            .allows(&self.spent, &crate::policy::counted_value(spec))
    }
}

/// [`decide_grant`] within a program's budget: a reward that would exceed it is withheld
/// (`program_budget_exhausted`) before the patient's own caps are looked at.
pub fn decide_grant_in_budget(
    spec: &RewardSpec,
    standing: &RecipientStanding,
    budget: &ProgramBudget,
    policy: &InducementPolicy,
    validity_days: u32,
    now: DateTime<Utc>,
) -> GrantOutcome {
    if policy.excludes(standing.state.as_ref()) {
        return GrantOutcome::Withheld(RewardRefusal::StateExcluded);
    }
    if !budget.allows(spec) {
        return GrantOutcome::Withheld(RewardRefusal::ProgramBudgetExhausted);
    }
    decide_grant(spec, standing, policy, validity_days, now)
}

/// The event that converts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConversionEvent {
    /// A consultation or a paid order.
    pub trigger: ConversionTrigger,
    /// When it happened (the conversion's time).
    pub occurred_at: DateTime<Utc>,
    /// When it is recorded (the reward's grant time).
    pub now: DateTime<Utc>,
}

/// The referrer's reward of a completed batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferrerReward {
    /// What the program gives.
    pub spec: RewardSpec,
    /// Granted or withheld.
    pub outcome: GrantOutcome,
}

/// The whole decision of one conversion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversionDecision<Id> {
    /// When the referral converted.
    pub converted_at: DateTime<Utc>,
    /// The older conversions this one's batch counts (empty unless the batch completes).
    pub counted: Vec<Id>,
    /// Whether this conversion completes a batch of `reward_threshold`.
    pub completes_batch: bool,
    /// The referrer's reward, when the batch completes and the program gives one.
    pub referrer_reward: Option<ReferrerReward>,
}

impl<Id> ConversionDecision<Id> {
    /// The converting referral's new mirror of the referrer's reward: unchanged (`None`)
    /// until its batch completes; then the reward's, or `counted` when there is none.
    pub fn referrer_mirror(&self) -> Option<PartyRewardStatus> {
        if !self.completes_batch {
            return None;
        }
        Some(match &self.referrer_reward {
            Some(reward) => reward.outcome.mirror(),
            None => PartyRewardStatus::Counted,
        })
    }
}

/// Decides a conversion on the gathered facts.
///
/// # Errors
/// The lifecycle's refusal when the referral cannot convert (not registered, or converted
/// before): nothing is to be written.
pub fn decide<Id: Clone + PartialEq>(
    facts: &ConversionFacts<Id>,
    event: &ConversionEvent,
    policy: &InducementPolicy,
) -> Result<ConversionDecision<Id>, DomainError> {
    let mut lifecycle = facts.lifecycle.clone();
    lifecycle.convert(event.occurred_at, event.trigger)?;
    let converted_at = lifecycle.converted_at().unwrap_or(event.occurred_at);
    let uncounted = facts.uncounted.len() + usize::from(facts.uncounted_itself);
    let complete = completes_batch(
        u32::try_from(uncounted).unwrap_or(u32::MAX),
        facts.reward_threshold,
    );
    if !complete {
        return Ok(ConversionDecision {
            converted_at,
            counted: Vec::new(),
            completes_batch: false,
            referrer_reward: None,
        });
    }
    // The batch is this referral and the oldest uncounted ones before it.
    let batch = usize::try_from(facts.reward_threshold).unwrap_or(usize::MAX);
    let counted = facts
        .uncounted
        .iter()
        .take(batch.saturating_sub(1))
        .cloned()
        .collect();
    let referrer_reward = facts.referrer_reward.as_ref().map(|spec| ReferrerReward {
        spec: spec.clone(),
        // Anti-kickback: nothing of value for referring a federal-programme patient. The
        // referral still converts; the withheld row says why.
        outcome: if facts.referee_federal_payer {
            GrantOutcome::Withheld(RewardRefusal::FederalPayerReferee)
        } else if policy.excludes(facts.referee_state.as_ref()) {
            GrantOutcome::Withheld(RewardRefusal::RefereeStateExcluded)
        } else {
            decide_grant_in_budget(
                spec,
                &facts.referrer,
                &facts.program_budget,
                policy,
                facts.reward_validity_days,
                event.now,
            )
        },
    });
    Ok(ConversionDecision {
        converted_at,
        counted,
        completes_batch: true,
        referrer_reward,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::facts::UsState;
    use crate::money::Money;
    use crate::status::RewardType;
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    fn registered() -> ReferralLifecycle {
        let mut lifecycle = ReferralLifecycle::new(t0(), 30).unwrap();
        lifecycle.register(t0() + Duration::hours(1)).unwrap();
        lifecycle
    }

    fn credit(dollars: i64) -> RewardSpec {
        RewardSpec {
            reward_type: RewardType::Credit,
            value: Money::from_cents(dollars * 100).unwrap(),
        }
    }

    fn event() -> ConversionEvent {
        ConversionEvent {
            trigger: ConversionTrigger::Consultation,
            occurred_at: t0() + Duration::days(1),
            now: t0() + Duration::days(1),
        }
    }

    #[test]
    fn unpaid_orders_do_not_convert() {
        assert!(!order_converts(Some(0)));
        assert!(!order_converts(Some(-5)));
        assert!(order_converts(Some(1)));
        assert!(order_converts(None));
    }

    #[test]
    fn a_referral_that_is_not_registered_does_not_convert() {
        let facts = ConversionFacts::<u32> {
            lifecycle: ReferralLifecycle::new(t0(), 30).unwrap(),
            uncounted_itself: true,
            uncounted: vec![],
            reward_threshold: 1,
            referrer_reward: Some(credit(25)),
            reward_validity_days: 90,
            referrer: RecipientStanding {
                state: None,
                federal_payer: false,
                granted_this_year: Money::ZERO,
            },
            referee_federal_payer: false,
            referee_state: None,
            program_budget: ProgramBudget::default(),
        };
        assert!(decide(&facts, &event(), &InducementPolicy::default()).is_err());
    }

    #[test]
    fn a_withheld_reward_has_its_reason_and_mirrors_not_granted() {
        let facts = ConversionFacts::<u32> {
            lifecycle: registered(),
            uncounted_itself: true,
            uncounted: vec![],
            reward_threshold: 1,
            referrer_reward: Some(RewardSpec {
                reward_type: RewardType::Cash,
                value: Money::from_cents(1000).unwrap(),
            }),
            reward_validity_days: 90,
            referrer: RecipientStanding {
                state: None,
                federal_payer: true,
                granted_this_year: Money::ZERO,
            },
            referee_federal_payer: false,
            referee_state: None,
            program_budget: ProgramBudget::default(),
        };
        let decision = decide(&facts, &event(), &InducementPolicy::default()).unwrap();
        let reward = decision.referrer_reward.clone().unwrap();
        assert_eq!(
            reward.outcome,
            GrantOutcome::Withheld(RewardRefusal::FederalPayerCashExcluded)
        );
        assert_eq!(
            decision.referrer_mirror(),
            Some(PartyRewardStatus::NotGranted)
        );
        assert!(!reward.outcome.notifies());
    }

    proptest! {
        /// Over any history of conversions of one referrer in one program, every batch
        /// counts exactly `threshold` conversions, none twice and none lost: the rewards
        /// are `conversions / threshold`, and what is left uncounted is the remainder.
        #[test]
        fn batches_count_every_conversion_once(
            threshold in 1u32..6,
            conversions in 0usize..40,
            granted_before in 0i64..60_000,
            federal in any::<bool>(),
            federal_referees in proptest::collection::vec(any::<bool>(), 40),
            referrer_state in proptest::option::of(proptest::sample::select(vec!["CA", "NY", "TX"])),
            referee_states in proptest::collection::vec(
                proptest::option::of(proptest::sample::select(vec!["CA", "NY", "TX"])), 40),
            excluded in proptest::collection::vec(proptest::sample::select(vec!["CA", "NY", "TX"]), 0..2),
        ) {
            let excluded: Vec<UsState> = excluded.iter().map(|s| UsState::parse(s).unwrap()).collect();
            let policy = InducementPolicy::default().for_program(&excluded);
            let state = |s: Option<&str>| s.map(|s| UsState::parse(s).unwrap());
            let mut uncounted: Vec<usize> = Vec::new();
            let mut counted_ever: Vec<usize> = Vec::new();
            let mut rewards = 0usize;
            for (id, &federal_referee) in federal_referees.iter().enumerate().take(conversions) {
                let facts = ConversionFacts {
                    lifecycle: registered(),
                    uncounted_itself: true,
                    uncounted: uncounted.clone(),
                    reward_threshold: threshold,
                    referrer_reward: Some(credit(10)),
                    reward_validity_days: 90,
                    referrer: RecipientStanding {
                        federal_payer: federal,
                        state: state(referrer_state),
                        granted_this_year: Money::from_cents(granted_before).unwrap(),
                    },
                    referee_federal_payer: federal_referee,
                    referee_state: state(referee_states[id]),
                    program_budget: ProgramBudget::default(),
                };
                let decision = decide(&facts, &event(), &policy).unwrap();
                if decision.completes_batch {
                    prop_assert_eq!(decision.counted.len() + 1, threshold as usize);
                    for c in &decision.counted {
                        prop_assert!(!counted_ever.contains(c));
                        counted_ever.push(*c);
                    }
                    counted_ever.push(id);
                    uncounted.retain(|u| !decision.counted.contains(u));
                    let reward = decision.referrer_reward.clone().unwrap();
                    // Every reward not granted says why.
                    if reward.outcome.ledger_status() == RewardStatus::Cancelled {
                        prop_assert!(reward.outcome.withheld_reason().is_some());
                    }
                    // Nothing for referring a federal-programme patient, and a federal
                    // payer referrer never gets cash.
                    if federal_referee {
                        prop_assert_eq!(
                            reward.outcome.withheld_reason(),
                            Some(RewardRefusal::FederalPayerReferee)
                        );
                    } else if policy.excludes(state(referee_states[id]).as_ref()) {
                        // Nothing where a state's law forbids it, on either side; the
                        // friend's state is named as the friend's (for admins only).
                        prop_assert_eq!(
                            reward.outcome.withheld_reason(),
                            Some(RewardRefusal::RefereeStateExcluded)
                        );
                    } else if policy.excludes(state(referrer_state).as_ref()) {
                        prop_assert_eq!(
                            reward.outcome.withheld_reason(),
                            Some(RewardRefusal::StateExcluded)
                        );
                    }
                    rewards += 1;
                } else {
                    prop_assert!(decision.counted.is_empty());
                    prop_assert!(decision.referrer_mirror().is_none());
                    uncounted.push(id);
                }
            }
            prop_assert_eq!(rewards, conversions / threshold as usize);
            prop_assert_eq!(uncounted.len(), conversions % threshold as usize);
            prop_assert_eq!(counted_ever.len() + uncounted.len(), conversions);
        }

        /// A federal payer is never granted cash, nor a reward above the nominal value.
        #[test]
        fn federal_payers_get_no_cash_and_nothing_above_nominal(
            cents in 1i64..100_000,
            cash in any::<bool>(),
            granted_before in 0i64..10_000,
        ) {
            let policy = InducementPolicy::default();
            let spec = RewardSpec {
                reward_type: if cash { RewardType::Cash } else { RewardType::Credit },
                value: Money::from_cents(cents).unwrap(),
            };
            let standing = RecipientStanding {
                federal_payer: true,
                state: None,
                granted_this_year: Money::from_cents(granted_before).unwrap(),
            };
            let outcome = decide_grant(&spec, &standing, &policy, 90, t0());
            if let GrantOutcome::Granted { .. } = outcome {
                prop_assert!(!cash);
                prop_assert!(spec.value <= policy.federal_nominal_each);
            } else {
                prop_assert!(outcome.withheld_reason().is_some());
            }
        }
    }
}
