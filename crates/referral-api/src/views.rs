//! Request and response bodies of the HTTP API, with their OpenAPI schemas. Field names are
//! the seed's columns; money is a decimal string; times are RFC 3339 UTC.

use crate::error::FieldProblem;
use crate::state::{AppState, AuditedResource};
use bigdecimal::BigDecimal;
use chrono::{DateTime, NaiveDate, Utc};
use referral_domain::{Demographics, ProgramDraft, ReferralId};
use referral_store::audit::AuditEntry;
use referral_store::outbox::OutboxMessage;
use referral_store::programs::Program;
use referral_store::referrals::{ClickTally, Referral, Registration};
use referral_store::rewards::Reward;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::str::FromStr;
use utoipa::ToSchema;
use uuid::Uuid;

fn text<T: ToString>(v: &Option<T>) -> Option<String> {
    v.as_ref().map(ToString::to_string)
}

/// A referral program.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgramView {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    #[schema(example = "standard")]
    pub program_type: String,
    #[schema(example = "credit")]
    pub referrer_reward_type: Option<String>,
    #[schema(example = "25.00")]
    pub referrer_reward_value: Option<String>,
    #[schema(example = "discount")]
    pub referee_reward_type: Option<String>,
    #[schema(example = "20.00")]
    pub referee_reward_value: Option<String>,
    pub max_referrals_per_patient: Option<u32>,
    pub reward_threshold: u32,
    pub expiry_days: u32,
    pub reward_validity_days: u32,
    #[schema(example = "active")]
    pub status: String,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    pub target_conditions: Vec<String>,
    pub target_demographics: DemographicsView,
    /// Experiment variants: name, weight, reward overrides, invitation headline.
    #[schema(value_type = Vec<Object>)]
    pub variants: serde_json::Value,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Age range and states a program targets.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct DemographicsView {
    pub min_age: Option<i64>,
    pub max_age: Option<i64>,
    #[serde(default)]
    pub states: Vec<String>,
}

impl From<Program> for ProgramView {
    fn from(p: Program) -> Self {
        ProgramView {
            id: p.id.as_uuid(),
            name: p.name,
            description: p.description,
            program_type: p.program_type.to_string(),
            referrer_reward_type: text(&p.referrer_reward_type),
            referrer_reward_value: text(&p.referrer_reward_value),
            referee_reward_type: text(&p.referee_reward_type),
            referee_reward_value: text(&p.referee_reward_value),
            max_referrals_per_patient: p.max_referrals_per_patient,
            reward_threshold: p.reward_threshold,
            expiry_days: p.expiry_days,
            reward_validity_days: p.reward_validity_days,
            status: p.status.to_string(),
            start_date: p.start_date,
            end_date: p.end_date,
            target_conditions: p.target_conditions,
            target_demographics: DemographicsView {
                min_age: p.target_demographics.min_age,
                max_age: p.target_demographics.max_age,
                states: p.target_demographics.states,
            },
            variants: serde_json::to_value(&p.variants).unwrap_or_default(),
            created_by: p.created_by.map(|c| c.as_uuid()),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

impl AuditedResource for ProgramView {
    fn audit_id(&self) -> Option<String> {
        Some(self.id.to_string())
    }
}

/// A program to create, or the new version of one (PUT replaces every field).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgramInput {
    pub name: String,
    pub description: Option<String>,
    #[schema(example = "standard")]
    pub program_type: Option<String>,
    #[schema(example = "credit")]
    pub referrer_reward_type: Option<String>,
    /// Decimal string (`"25.00"`); a percentage for discounts.
    #[schema(value_type = Option<String>, example = "25.00")]
    pub referrer_reward_value: Option<serde_json::Value>,
    #[schema(example = "discount")]
    pub referee_reward_type: Option<String>,
    #[schema(value_type = Option<String>, example = "20")]
    pub referee_reward_value: Option<serde_json::Value>,
    pub max_referrals_per_patient: Option<i64>,
    /// Default 1.
    pub reward_threshold: Option<i64>,
    /// Default 30.
    pub expiry_days: Option<i64>,
    /// Default 90.
    pub reward_validity_days: Option<i64>,
    /// `active` (default on create), `paused` or `ended`.
    #[schema(example = "active")]
    pub status: Option<String>,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    #[serde(default)]
    pub target_conditions: Vec<String>,
    #[serde(default)]
    pub target_demographics: DemographicsView,
    /// Experiment variants: none, or 2 to 10. Each referrer is assigned one, always the
    /// same, in proportion to the weights.
    #[serde(default)]
    pub variants: Vec<VariantInput>,
}

/// An experiment variant of a program.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantInput {
    /// Unique in the program, 1 to 50 characters.
    #[schema(example = "bigger bonus")]
    pub name: String,
    /// Relative share of referrers, 1 to 1000 (default 1).
    pub weight: Option<i64>,
    /// Referrer reward value instead of the program's.
    #[schema(value_type = Option<String>, example = "40.00")]
    pub referrer_reward_value: Option<serde_json::Value>,
    /// Referee reward value instead of the program's.
    #[schema(value_type = Option<String>, example = "25")]
    pub referee_reward_value: Option<serde_json::Value>,
    /// Invitation headline instead of the default one.
    pub invitation_headline: Option<String>,
}

fn decimal(
    field: &str,
    value: &Option<serde_json::Value>,
    problems: &mut Vec<FieldProblem>,
) -> Option<BigDecimal> {
    let text = match value {
        None | Some(serde_json::Value::Null) => return None,
        Some(serde_json::Value::String(s)) => s.trim().to_owned(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(_) => {
            problems.push(FieldProblem::new(
                field,
                "must be a decimal string such as \"25.00\"",
            ));
            return None;
        }
    };
    match BigDecimal::from_str(&text) {
        Ok(d) => Some(d),
        Err(_) => {
            problems.push(FieldProblem::new(
                field,
                "must be a decimal string such as \"25.00\"",
            ));
            None
        }
    }
}

/// Parses an enum given as text, or records a field problem.
pub fn parse_field<T: FromStr>(
    field: &str,
    value: Option<&str>,
    problems: &mut Vec<FieldProblem>,
) -> Option<T> {
    let value = value?;
    match value.parse() {
        Ok(v) => Some(v),
        Err(_) => {
            problems.push(FieldProblem::new(
                field,
                format!("`{value}` is not an accepted value"),
            ));
            None
        }
    }
}

impl ProgramInput {
    /// The domain's draft, and the requested status; every malformed field is reported.
    ///
    /// # Errors
    /// The field problems.
    pub fn into_draft(
        self,
    ) -> Result<(ProgramDraft, Option<referral_domain::ProgramStatus>), Vec<FieldProblem>> {
        let mut problems = Vec::new();
        let program_type = parse_field("program_type", self.program_type.as_deref(), &mut problems);
        let referrer_reward_type = parse_field(
            "referrer_reward_type",
            self.referrer_reward_type.as_deref(),
            &mut problems,
        );
        let referee_reward_type = parse_field(
            "referee_reward_type",
            self.referee_reward_type.as_deref(),
            &mut problems,
        );
        let status = parse_field("status", self.status.as_deref(), &mut problems);
        let referrer_reward_value = decimal(
            "referrer_reward_value",
            &self.referrer_reward_value,
            &mut problems,
        );
        let referee_reward_value = decimal(
            "referee_reward_value",
            &self.referee_reward_value,
            &mut problems,
        );
        let variants = self
            .variants
            .into_iter()
            .map(|v| referral_domain::experiment::VariantDraft {
                referrer_reward_value: decimal(
                    "variants.referrer_reward_value",
                    &v.referrer_reward_value,
                    &mut problems,
                ),
                referee_reward_value: decimal(
                    "variants.referee_reward_value",
                    &v.referee_reward_value,
                    &mut problems,
                ),
                name: v.name,
                weight: v.weight.unwrap_or(1),
                invitation_headline: v.invitation_headline,
            })
            .collect();
        if !problems.is_empty() {
            return Err(problems);
        }
        let draft = ProgramDraft {
            name: self.name,
            description: self.description,
            program_type: program_type.unwrap_or(referral_domain::ProgramType::Standard),
            referrer_reward_type,
            referrer_reward_value,
            referee_reward_type,
            referee_reward_value,
            max_referrals_per_patient: self.max_referrals_per_patient,
            reward_threshold: self.reward_threshold.unwrap_or(1),
            expiry_days: self
                .expiry_days
                .unwrap_or(referral_domain::program::DEFAULT_EXPIRY_DAYS),
            reward_validity_days: self
                .reward_validity_days
                .unwrap_or(referral_domain::program::DEFAULT_REWARD_VALIDITY_DAYS),
            start_date: self.start_date,
            end_date: self.end_date,
            target_conditions: self.target_conditions,
            target_demographics: Demographics {
                min_age: self.target_demographics.min_age,
                max_age: self.target_demographics.max_age,
                states: self.target_demographics.states,
            },
            variants,
        };
        Ok((draft, status))
    }
}

/// A referral as its referrer and the portals see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReferralView {
    pub id: Uuid,
    #[schema(example = "ABCDEF-GHJKMN-PQRSTV")]
    pub referral_code: String,
    /// Link to share: `{public_base_url}/register?ref={code}`.
    pub share_url: String,
    pub referrer_id: Uuid,
    pub referee_email: String,
    pub referee_phone: Option<String>,
    pub referee_name: Option<String>,
    pub referee_patient_id: Option<Uuid>,
    pub program_id: Uuid,
    #[schema(example = "email")]
    pub referral_source: Option<String>,
    pub referral_message: Option<String>,
    /// `pending`, `registered`, `converted`, `expired` or `declined` (as of now).
    #[schema(example = "pending")]
    pub status: String,
    pub referee_registered_at: Option<DateTime<Utc>>,
    pub first_consultation_id: Option<Uuid>,
    pub first_order_id: Option<Uuid>,
    pub converted_at: Option<DateTime<Utc>>,
    #[schema(example = "pending")]
    pub referrer_reward_status: String,
    pub referrer_reward_earned_at: Option<DateTime<Utc>>,
    pub referrer_reward_redeemed_at: Option<DateTime<Utc>>,
    pub referrer_reward_amount: Option<String>,
    #[schema(example = "pending")]
    pub referee_reward_status: String,
    pub referee_reward_redeemed_at: Option<DateTime<Utc>>,
    pub referee_reward_amount: Option<String>,
    /// Clicks on its link, counted from the click rows as of the read.
    pub clicks: i64,
    pub last_clicked_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The experiment variant the referral was assigned, if its program runs one.
    pub variant: Option<String>,
}

impl ReferralView {
    /// The view of `r` with its clicks, and its share link on the patient site.
    pub fn new(r: Referral, clicks: ClickTally, state: &AppState) -> Self {
        ReferralView {
            id: r.id.as_uuid(),
            referral_code: r.referral_code.to_string(),
            share_url: state.share_url(&r.referral_code.to_string()),
            referrer_id: r.referrer_id.as_uuid(),
            referee_email: r.referee_email.to_string(),
            referee_phone: text(&r.referee_phone),
            referee_name: r.referee_name,
            referee_patient_id: r.referee_patient_id.map(|p| p.as_uuid()),
            program_id: r.program_id.as_uuid(),
            referral_source: text(&r.referral_source),
            referral_message: r.referral_message,
            status: r.status.to_string(),
            referee_registered_at: r.referee_registered_at,
            first_consultation_id: r.first_consultation_id.map(|c| c.as_uuid()),
            first_order_id: r.first_order_id.map(|o| o.as_uuid()),
            converted_at: r.converted_at,
            referrer_reward_status: r.referrer_reward_status.to_string(),
            referrer_reward_earned_at: r.referrer_reward_earned_at,
            referrer_reward_redeemed_at: r.referrer_reward_redeemed_at,
            referrer_reward_amount: text(&r.referrer_reward_amount),
            referee_reward_status: r.referee_reward_status.to_string(),
            referee_reward_redeemed_at: r.referee_reward_redeemed_at,
            referee_reward_amount: text(&r.referee_reward_amount),
            clicks: clicks.clicks,
            last_clicked_at: clicks.last_clicked_at,
            expires_at: r.expires_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
            variant: r.variant,
        }
    }
}

impl AuditedResource for ReferralView {
    fn audit_id(&self) -> Option<String> {
        Some(self.id.to_string())
    }
}

/// What anyone holding a code may see: no PHI of anyone (not even the referrer's name:
/// that someone is a patient here is itself PHI).
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicReferralView {
    #[schema(example = "ABCDEF-GHJKMN-PQRSTV")]
    pub referral_code: String,
    /// `pending` while the code can still be used.
    pub status: String,
    pub expires_at: DateTime<Utc>,
    pub program_name: String,
    pub referee_reward_type: Option<String>,
    pub referee_reward_value: Option<String>,
    pub share_url: String,
}

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
    /// Why the inducement policy withheld it (`annual_cap_reached`, ...).
    pub withheld_reason: Option<String>,
    pub used_on_order_id: Option<Uuid>,
    pub used_on_consultation_id: Option<Uuid>,
    pub used_at: Option<DateTime<Utc>>,
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

/// The result of registering with a code: only what the registrant needs. Never the
/// invited person's contact data, the referrer's message or the referrer's id: whoever
/// holds a share link could register with a throwaway address and read them.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationView {
    /// The new patient's id.
    pub patient_id: Uuid,
    /// The referral the registration completed.
    pub referral: RegisteredReferralView,
    /// The registrant's own welcome reward, if the program gives one.
    pub referee_reward: Option<RewardView>,
}

/// The referral as its registrant sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredReferralView {
    /// The referral's id.
    pub id: Uuid,
    /// Its status (`registered`).
    pub status: String,
}

impl RegistrationView {
    /// The view of a registration.
    pub fn new(r: Registration) -> Self {
        RegistrationView {
            patient_id: r.patient.id.as_uuid(),
            referral: RegisteredReferralView {
                id: r.referral.id.as_uuid(),
                status: r.referral.status.as_str().to_owned(),
            },
            referee_reward: r.referee_reward.map(RewardView::from),
        }
    }
}

impl AuditedResource for RegistrationView {
    fn audit_id(&self) -> Option<String> {
        Some(self.referral.id.to_string())
    }
}

macro_rules! list_type {
    ($(#[$doc:meta])* $name:ident, $item:ty) => {
        $(#[$doc])*
        #[derive(Debug, Serialize, ToSchema)]
        pub struct $name {
            pub items: Vec<$item>,
            /// Rows matching the filters over all pages.
            pub total: i64,
        }
        impl AuditedResource for $name {}
    };
}
list_type!(/// A page of programs.
    ProgramList, ProgramView);
list_type!(/// A page of referrals.
    ReferralList, ReferralView);
list_type!(/// A page of rewards.
    RewardList, RewardView);
list_type!(/// A page of audit rows.
    AuditList, AuditView);
list_type!(/// A page of notifications.
    NotificationList, NotificationView);

impl ReferralList {
    /// A page of referral views, with their clicks (a referral missing from `clicks` has
    /// none).
    pub fn of(
        page: referral_store::page::Paged<Referral>,
        clicks: &HashMap<ReferralId, ClickTally>,
        state: &AppState,
    ) -> Self {
        ReferralList {
            items: page
                .items
                .into_iter()
                .map(|r| {
                    let tally = clicks.get(&r.id).copied().unwrap_or_default();
                    ReferralView::new(r, tally, state)
                })
                .collect(),
            total: page.total,
        }
    }
}

/// A row of the audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub id: Uuid,
    pub actor_id: Option<Uuid>,
    pub actor_role: String,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub outcome: String,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<AuditEntry> for AuditView {
    fn from(e: AuditEntry) -> Self {
        AuditView {
            id: e.id,
            actor_id: e.actor_id,
            actor_role: e.actor_role,
            action: e.action,
            resource_type: e.resource_type,
            resource_id: e.resource_id,
            outcome: e.outcome,
            ip_address: e.ip_address.map(|i| i.to_string()),
            user_agent: e.user_agent,
            created_at: e.created_at,
        }
    }
}

/// A queued or delivered message (without its recipient or content).
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationView {
    pub id: Uuid,
    /// `email`, `sms` or `payout`.
    pub kind: String,
    pub template: String,
    /// `queued` (claimed ones included), `sent`, `failed` or `suppressed` (the recipient
    /// unsubscribed).
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<OutboxMessage> for NotificationView {
    fn from(m: OutboxMessage) -> Self {
        NotificationView {
            id: m.id,
            kind: m.kind.to_string(),
            template: m.template,
            status: match m.status {
                referral_store::outbox::OutboxStatus::Sending => "queued".into(),
                other => other.to_string(),
            },
            attempts: m.attempts,
            next_attempt_at: m.next_attempt_at,
            last_error: m.last_error,
            sent_at: m.sent_at,
            created_at: m.created_at,
        }
    }
}

/// A patient's new referral.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateReferralRequest {
    pub referee_email: String,
    pub referee_phone: Option<String>,
    pub referee_name: Option<String>,
    /// `email`, `sms`, `social` or `direct_link`; `email` and `sms` send an invitation.
    pub referral_source: Option<String>,
    pub referral_message: Option<String>,
    /// The program; when omitted, the oldest active program that accepts the patient.
    pub program_id: Option<Uuid>,
    /// Required `true` with `referral_source` `sms`: the friend agreed to receive a text.
    pub sms_consent: Option<bool>,
}

/// Registration with a code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub email: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    /// Services registering on behalf of a platform patient: that patient's id.
    pub patient_id: Option<Uuid>,
}

/// A consultation reported by the platform.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ConsultationEventRequest {
    pub patient_id: Uuid,
    pub consultation_id: Uuid,
    pub occurred_at: Option<DateTime<Utc>>,
}

/// An order reported by the platform.
#[derive(Debug, Deserialize, ToSchema)]
pub struct OrderEventRequest {
    pub patient_id: Uuid,
    pub order_id: Uuid,
    /// Decimal string such as `"49.00"`.
    #[schema(value_type = String, example = "49.00")]
    pub amount: serde_json::Value,
    pub occurred_at: Option<DateTime<Utc>>,
}

/// What an event did.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventResultView {
    /// `duplicate`, `recorded`, `already_converted` or `converted`.
    pub outcome: String,
    pub referral_id: Option<Uuid>,
    pub referrer_reward: Option<RewardView>,
}

/// Redeeming a reward on an order or a consultation (exactly one).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeemRequest {
    pub order_id: Option<Uuid>,
    pub consultation_id: Option<Uuid>,
}

/// An admin's decision on a referral's reward.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveRewardRequest {
    pub approve: bool,
    pub reason: Option<String>,
}

/// An operation on many referrals.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    /// `expire`, `decline`, `approve_rewards`, `reject_rewards` or `resend_invitation`.
    #[schema(example = "decline")]
    pub operation: String,
    /// 1 to 1,000 referrals; each succeeds or fails on its own.
    pub referral_ids: Vec<Uuid>,
    /// Reason recorded with approvals and rejections.
    pub reason: Option<String>,
}

/// One referral's result in a bulk operation.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkItemResult {
    pub referral_id: Uuid,
    pub ok: bool,
    /// The error code when not ok.
    pub code: Option<String>,
}

/// The results of a bulk operation, in request order.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkResponse {
    pub operation: String,
    pub succeeded: usize,
    pub failed: usize,
    pub results: Vec<BulkItemResult>,
}

impl AuditedResource for BulkResponse {}
impl AuditedResource for Vec<RewardView> {}
impl AuditedResource for () {}
