//! Rewards: the ledger row, redeeming and approving.

use super::*;
use crate::state::AuditedResource;
use chrono::{DateTime, Utc};
use referral_domain::disclosure::friend_label;
use referral_domain::{Money, RewardStatus, RewardType};
use referral_store::referrals::FriendDisclosure;
use referral_store::rewards::{Party, Reward};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A row of the reward ledger.
#[derive(Debug, Serialize, ToSchema)]
pub struct RewardView {
    pub id: Uuid,
    pub referral_id: Uuid,
    pub patient_id: Uuid,
    /// `referrer` or `referee`.
    pub party: String,
    #[schema(value_type = String, example = "credit")]
    pub reward_type: RewardType,
    #[schema(value_type = Option<String>, example = "25.00")]
    pub reward_amount: Option<Money>,
    pub reward_description: Option<String>,
    /// `held`, `in_review`, `pending_approval`, `available`, `used`, `expired` or
    /// `cancelled` (as of now).
    #[schema(value_type = String, example = "available")]
    pub status: RewardStatus,
    /// Why it was withheld: `annual_cap_reached`, `federal_payer_cash_excluded`,
    /// `federal_payer_above_nominal_value`, `federal_payer_annual_nominal_reached`,
    /// `federal_payer_referee` (the friend is a federal-programme patient),
    /// `state_excluded` (the recipient lives in an excluded state) or
    /// `referee_state_excluded` (for a referrer's reward, the friend does). The two about
    /// the friend are for admins: the referrer never sees such a row.
    pub withheld_reason: Option<String>,
    pub used_on_order_id: Option<Uuid>,
    pub used_on_consultation_id: Option<Uuid>,
    pub used_at: Option<DateTime<Utc>>,
    /// What it gave when used: a discount's share of the amount it was applied to (at most
    /// the nominal value for a federal payer, and what the yearly cap leaves), another
    /// reward's amount. It counts against the caps.
    #[schema(value_type = Option<String>, example = "16.00")]
    pub applied_amount: Option<Money>,
    pub expires_at: Option<DateTime<Utc>>,
    /// While `held`: when the holding period ends.
    pub hold_until: Option<DateTime<Utc>>,
    /// Why a granted reward was cancelled later: `conversion_reversed` (the converting
    /// order was refunded or the consultation cancelled) or `review_rejected`.
    pub cancel_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<Reward> for RewardView {
    fn from(r: Reward) -> Self {
        RewardView {
            id: r.id.as_uuid(),
            referral_id: r.referral_id.as_uuid(),
            patient_id: r.patient_id.as_uuid(),
            party: r.party.to_string(),
            reward_type: r.reward_type,
            reward_amount: r.reward_amount,
            reward_description: r.reward_description,
            status: r.status,
            withheld_reason: text(&r.withheld_reason),
            used_on_order_id: r.used_on_order_id.map(|o| o.as_uuid()),
            used_on_consultation_id: r.used_on_consultation_id.map(|c| c.as_uuid()),
            used_at: r.used_at,
            applied_amount: r.applied_amount,
            expires_at: r.expires_at,
            hold_until: r.hold_until,
            cancel_reason: r.cancel_reason.map(|c| c.as_str().to_owned()),
            created_at: r.created_at,
        }
    }
}

impl AuditedResource for RewardView {
    fn audit_id(&self) -> Option<String> {
        Some(self.id.to_string())
    }
}

/// A reward as the patient who holds it sees it. A referrer's reward names the friend only
/// as "a friend you invited" and links to the referral only when the friend agreed to
/// let the referrer know they joined (minimum necessary).
#[derive(Debug, Serialize, ToSchema)]
pub struct MyRewardView {
    pub id: Uuid,
    /// The referral, for the friend's own welcome reward and for a referrer's reward whose
    /// friend agreed to share; otherwise absent.
    pub referral_id: Option<Uuid>,
    /// `referrer` (for inviting a friend) or `referee` (a welcome reward).
    pub party: String,
    /// For a referrer's reward: the friend, as "a friend you invited" or, with their
    /// consent, the name the referrer typed.
    pub friend: Option<String>,
    #[schema(value_type = String, example = "credit")]
    pub reward_type: RewardType,
    #[schema(value_type = Option<String>, example = "25.00")]
    pub reward_amount: Option<Money>,
    pub reward_description: Option<String>,
    /// `held`, `in_review`, `pending_approval`, `available`, `used`, `expired` or
    /// `cancelled` (as of now).
    #[schema(value_type = String, example = "available")]
    pub status: RewardStatus,
    /// Why it is held, in review, waiting for approval, cancelled or withheld, in plain
    /// words (absent when the status says it all).
    pub explanation: Option<String>,
    /// While `held`: when it becomes usable.
    pub hold_until: Option<DateTime<Utc>>,
    /// Why it was withheld (see `RewardView`); never a reason that is a fact of the friend's.
    pub withheld_reason: Option<String>,
    /// The same, in plain words.
    pub withheld_explanation: Option<String>,
    pub used_at: Option<DateTime<Utc>>,
    /// What it gave when used (see `RewardView`).
    #[schema(value_type = Option<String>)]
    pub applied_amount: Option<Money>,
    pub expires_at: Option<DateTime<Utc>>,
    /// For a referrer's reward: when it was released to them (midnight UTC ending its
    /// `--referrer-reward-cadence` period), never when it was earned; otherwise granted.
    pub created_at: DateTime<Utc>,
}

impl MyRewardView {
    /// The holder's view of `r`; `friend` is what the referrer may know of the referral's
    /// friend (`None` when the referral is unknown, which discloses nothing).
    pub fn new(r: Reward, friend: Option<&FriendDisclosure>) -> Self {
        let referrer = r.party == Party::Referrer;
        let shared = friend.is_some_and(|f| f.shares_with_referrer);
        // A referrer's reward is dated by its release alone, says nothing of why it was
        // cancelled, and never shows a refusal that is a fact of the friend's.
        let withheld = r
            .withheld_reason
            .filter(|w| !(referrer && w.concerns_friend()));
        let explanation = if referrer {
            referral_domain::disclosure::referrer_reward_words(r.status, withheld)
                .map(str::to_owned)
        } else {
            referral_domain::reward::plain_words(r.status, r.hold_until, r.cancel_reason, withheld)
        };
        MyRewardView {
            id: r.id.as_uuid(),
            referral_id: (!referrer || shared).then(|| r.referral_id.as_uuid()),
            party: r.party.to_string(),
            friend: referrer.then(|| {
                friend_label(shared, friend.and_then(|f| f.typed_name.as_deref())).to_owned()
            }),
            reward_type: r.reward_type,
            reward_amount: r.reward_amount,
            reward_description: r.reward_description,
            status: r.status,
            explanation,
            hold_until: r.hold_until.filter(|_| !referrer),
            withheld_reason: withheld.map(|w| w.as_str().to_owned()),
            withheld_explanation: withheld.map(|reason| reason.explanation().to_owned()),
            used_at: r.used_at,
            applied_amount: r.applied_amount,
            expires_at: r.expires_at,
            created_at: match (referrer, r.released_at) {
                (true, Some(released)) => released,
                _ => r.created_at,
            },
        }
    }
}

impl AuditedResource for MyRewardView {
    fn audit_id(&self) -> Option<String> {
        Some(self.id.to_string())
    }
}

/// Redeeming a reward on an order or a consultation (exactly one).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeemRequest {
    pub order_id: Option<Uuid>,
    pub consultation_id: Option<Uuid>,
    /// The order's or consultation's amount the reward is applied to (`"80.00"`): required
    /// for a percentage discount, whose value is its share of it within the caps.
    #[schema(schema_with = field::money_or_null)]
    pub amount: Option<serde_json::Value>,
}

/// An admin's decision on a referral's reward.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveRewardRequest {
    pub approve: bool,
    pub reason: Option<String>,
}

/// A reward waiting for review, with its referral's signals.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewItemView {
    pub reward: RewardView,
    pub program_id: Uuid,
    /// The signals of its referral, in words, with the evidence that raised them.
    pub signals: Vec<super::SignalView>,
}

impl From<referral_store::rewards::ReviewItem> for ReviewItemView {
    fn from(item: referral_store::rewards::ReviewItem) -> Self {
        ReviewItemView {
            signals: item.signals.iter().map(super::SignalView::of).collect(),
            program_id: item.program_id.as_uuid(),
            reward: RewardView::from(item.reward),
        }
    }
}

/// An admin's review decision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewDecisionRequest {
    /// Approve (the reward goes on) or reject (it is cancelled, `review_rejected`).
    pub approve: bool,
    /// Why, 1 to 1000 characters: kept with the decision.
    #[schema(schema_with = field::reason)]
    pub reason: String,
}

/// One decision for many rewards in review.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkReviewRequest {
    /// 1 to 1,000 rewards; each is decided on its own.
    #[schema(schema_with = field::review_ids)]
    pub reward_ids: Vec<Uuid>,
    pub approve: bool,
    /// Why, 1 to 1000 characters: kept with each decision.
    #[schema(schema_with = field::reason)]
    pub reason: String,
}

/// One reward's result in a bulk review decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkReviewResult {
    pub reward_id: Uuid,
    pub ok: bool,
    /// Its status after the decision.
    pub status: Option<String>,
    /// Why it was not decided: `not_found` or `reward_not_in_review`.
    pub code: Option<String>,
}

/// The results of a bulk review decision, in request order.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkReviewResponse {
    pub results: Vec<BulkReviewResult>,
}

impl From<Vec<referral_store::rewards::ReviewOutcome>> for BulkReviewResponse {
    fn from(outcomes: Vec<referral_store::rewards::ReviewOutcome>) -> Self {
        BulkReviewResponse {
            results: outcomes
                .into_iter()
                .map(|o| BulkReviewResult {
                    reward_id: o.reward_id.as_uuid(),
                    ok: o.status.is_some(),
                    status: o.status.map(|s| s.to_string()),
                    code: o.error.map(str::to_owned),
                })
                .collect(),
        }
    }
}

impl AuditedResource for BulkReviewResponse {}

/// A reward used or paid before its conversion was reversed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClawbackView {
    pub reward_id: Uuid,
    pub referral_id: Uuid,
    pub patient_id: Uuid,
    /// What it gave.
    #[schema(example = "25.00")]
    pub amount: Option<String>,
    /// `conversion_reversed`.
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

impl From<referral_store::reversals::Clawback> for ClawbackView {
    fn from(c: referral_store::reversals::Clawback) -> Self {
        ClawbackView {
            reward_id: c.reward_id.as_uuid(),
            referral_id: c.referral_id.as_uuid(),
            patient_id: c.patient_id.as_uuid(),
            amount: text(&c.amount),
            reason: c.reason,
            created_at: c.created_at,
        }
    }
}

/// Reward integrity in figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrityView {
    /// Referrals that raised at least one fraud signal.
    pub flagged_referrals: i64,
    /// Referrals per signal code.
    #[schema(value_type = Object)]
    pub by_signal: std::collections::BTreeMap<String, i64>,
    /// Rewards in their holding period now.
    pub held_rewards: i64,
    /// Rewards waiting for review now.
    pub in_review_rewards: i64,
    /// Rewards rejected in review.
    pub rejected_rewards: i64,
    /// Referrals reversed by a refund or cancellation.
    pub reversed_referrals: i64,
    /// Rewards cancelled because their conversion was reversed.
    pub reversed_rewards: i64,
    /// Rewards used or paid before their conversion was reversed.
    pub clawbacks: i64,
    /// What those gave.
    #[schema(example = "25.00")]
    pub clawback_value: String,
    /// What the rejected and reversed rewards would have given.
    #[schema(example = "250.00")]
    pub value_saved: String,
}

impl From<referral_store::analytics::IntegrityFigures> for IntegrityView {
    fn from(f: referral_store::analytics::IntegrityFigures) -> Self {
        let money = |cents: i64| {
            referral_domain::Money::from_cents(cents)
                .map(|m| m.to_string())
                .unwrap_or_else(|_| "0.00".into())
        };
        IntegrityView {
            flagged_referrals: f.flagged_referrals,
            by_signal: f.by_signal,
            held_rewards: f.held_rewards,
            in_review_rewards: f.in_review_rewards,
            rejected_rewards: f.rejected_rewards,
            reversed_referrals: f.reversed_referrals,
            reversed_rewards: f.reversed_rewards,
            clawbacks: f.clawbacks,
            clawback_value: money(f.clawback_cents),
            value_saved: money(f.value_saved_cents),
        }
    }
}

impl AuditedResource for IntegrityView {}
