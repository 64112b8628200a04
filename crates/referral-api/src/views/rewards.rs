//! Rewards: the ledger row, redeeming and approving.

use super::*;
use crate::state::AuditedResource;
use chrono::{DateTime, Utc};
use referral_domain::disclosure::friend_label;
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
    #[schema(example = "credit")]
    pub reward_type: String,
    #[schema(example = "25.00")]
    pub reward_amount: Option<String>,
    pub reward_description: Option<String>,
    /// `pending_approval`, `available`, `used`, `expired` or `cancelled` (as of now).
    #[schema(example = "available")]
    pub status: String,
    /// Why it was withheld: `annual_cap_reached`, `federal_payer_cash_excluded`,
    /// `federal_payer_above_nominal_value`, `federal_payer_annual_nominal_reached`,
    /// `federal_payer_referee` (the friend is a federal-programme patient) or
    /// `state_excluded` (the recipient, or for a referrer the friend, lives in an excluded
    /// state).
    pub withheld_reason: Option<String>,
    pub used_on_order_id: Option<Uuid>,
    pub used_on_consultation_id: Option<Uuid>,
    pub used_at: Option<DateTime<Utc>>,
    /// What it gave when used: a discount's share of the amount it was applied to (at most
    /// the nominal value for a federal payer, and what the yearly cap leaves), another
    /// reward's amount. It counts against the caps.
    #[schema(example = "16.00")]
    pub applied_amount: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<Reward> for RewardView {
    fn from(r: Reward) -> Self {
        RewardView {
            id: r.id.as_uuid(),
            referral_id: r.referral_id.as_uuid(),
            patient_id: r.patient_id.as_uuid(),
            party: r.party.to_string(),
            reward_type: r.reward_type.to_string(),
            reward_amount: text(&r.reward_amount),
            reward_description: r.reward_description,
            status: r.status.to_string(),
            withheld_reason: text(&r.withheld_reason),
            used_on_order_id: r.used_on_order_id.map(|o| o.as_uuid()),
            used_on_consultation_id: r.used_on_consultation_id.map(|c| c.as_uuid()),
            used_at: r.used_at,
            applied_amount: text(&r.applied_amount),
            expires_at: r.expires_at,
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
    #[schema(example = "credit")]
    pub reward_type: String,
    #[schema(example = "25.00")]
    pub reward_amount: Option<String>,
    pub reward_description: Option<String>,
    /// `pending_approval`, `available`, `used`, `expired` or `cancelled` (as of now).
    #[schema(example = "available")]
    pub status: String,
    /// Why it was withheld (see `RewardView`).
    pub withheld_reason: Option<String>,
    /// The same, in plain words.
    pub withheld_explanation: Option<String>,
    pub used_at: Option<DateTime<Utc>>,
    /// What it gave when used (see `RewardView`).
    pub applied_amount: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl MyRewardView {
    /// The holder's view of `r`; `friend` is what the referrer may know of the referral's
    /// friend (`None` when the referral is unknown, which discloses nothing).
    pub fn new(r: Reward, friend: Option<&FriendDisclosure>) -> Self {
        let referrer = r.party == Party::Referrer;
        let shared = friend.is_some_and(|f| f.shares_with_referrer);
        MyRewardView {
            id: r.id.as_uuid(),
            referral_id: (!referrer || shared).then(|| r.referral_id.as_uuid()),
            party: r.party.to_string(),
            friend: referrer.then(|| {
                friend_label(shared, friend.and_then(|f| f.typed_name.as_deref())).to_owned()
            }),
            reward_type: r.reward_type.to_string(),
            reward_amount: text(&r.reward_amount),
            reward_description: r.reward_description,
            status: r.status.to_string(),
            withheld_reason: text(&r.withheld_reason),
            withheld_explanation: r
                .withheld_reason
                .map(|reason| reason.explanation().to_owned()),
            used_at: r.used_at,
            applied_amount: text(&r.applied_amount),
            expires_at: r.expires_at,
            created_at: r.created_at,
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
    #[schema(value_type = Option<String>, example = "80.00")]
    pub amount: Option<serde_json::Value>,
}

/// An admin's decision on a referral's reward.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveRewardRequest {
    pub approve: bool,
    pub reason: Option<String>,
}
