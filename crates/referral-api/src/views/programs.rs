//! Programs: the view, and the input a create or update parses into a draft.

use super::*;
use crate::error::FieldProblem;
use crate::state::AuditedResource;
use bigdecimal::BigDecimal;
use chrono::{DateTime, NaiveDate, Utc};
use referral_domain::{Demographics, Money, ProgramDraft, ProgramStatus, ProgramType, RewardType};
use referral_store::programs::Program;
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use utoipa::ToSchema;
use uuid::Uuid;

/// A referral program.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgramView {
    pub id: Uuid,
    /// The internal name (admins and providers).
    pub name: String,
    /// The name visitors and invited friends see; without one, a program that targets
    /// conditions shows "our referral program" and another its `name`.
    pub public_name: Option<String>,
    /// Where the program's new patients book their first consultation; `null`: the
    /// platform's booking page.
    #[schema(example = "https://book.example.com/first-visit")]
    pub booking_url: Option<String>,
    pub description: Option<String>,
    #[schema(value_type = String, example = "standard")]
    pub program_type: ProgramType,
    #[schema(value_type = Option<String>, example = "credit")]
    pub referrer_reward_type: Option<RewardType>,
    #[schema(value_type = Option<String>, example = "25.00")]
    pub referrer_reward_value: Option<Money>,
    #[schema(value_type = Option<String>, example = "discount")]
    pub referee_reward_type: Option<RewardType>,
    #[schema(value_type = Option<String>, example = "20.00")]
    pub referee_reward_value: Option<Money>,
    pub max_referrals_per_patient: Option<u32>,
    pub reward_threshold: u32,
    pub expiry_days: u32,
    pub reward_validity_days: u32,
    #[schema(value_type = String, example = "active")]
    pub status: ProgramStatus,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    pub target_conditions: Vec<String>,
    pub target_demographics: DemographicsView,
    /// Experiment variants: name, weight, reward overrides, invitation headline.
    #[schema(value_type = Vec<Object>)]
    pub variants: Vec<referral_domain::experiment::Variant>,
    /// States (USPS codes) whose residents get no reward from this program, as referrer or
    /// as friend (reason `state_excluded`), on top of the service's `--excluded-states`.
    pub excluded_states: Vec<String>,
    /// `platform` or `patient_device`.
    #[schema(example = "platform")]
    pub sms_delivery: String,
    /// The reward budget, if any: ever and per calendar month.
    #[schema(value_type = Option<String>)]
    pub budget_total: Option<Money>,
    #[schema(value_type = Option<String>)]
    pub budget_monthly: Option<Money>,
    /// What the program's rewards have been worth so far (when read with its budget).
    #[schema(value_type = Option<String>)]
    pub spent_total: Option<Money>,
    #[schema(value_type = Option<String>)]
    pub spent_this_month: Option<Money>,
    /// Days a new referrer reward is held before it can be used (0: none).
    pub reward_hold_days: u32,
    /// The smallest order a partial refund may leave without reversing the conversion.
    #[schema(value_type = Option<String>)]
    pub min_order_amount: Option<Money>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Age range and states a program targets.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct DemographicsView {
    #[schema(schema_with = field::target_age)]
    pub min_age: Option<i64>,
    #[schema(schema_with = field::target_age)]
    pub max_age: Option<i64>,
    #[serde(default)]
    #[schema(schema_with = field::states)]
    pub states: Vec<String>,
}

impl From<Program> for ProgramView {
    fn from(p: Program) -> Self {
        ProgramView {
            id: p.id.as_uuid(),
            name: p.name,
            public_name: p.public_name,
            booking_url: p.booking_url,
            description: p.description,
            program_type: p.program_type,
            referrer_reward_type: p.referrer_reward_type,
            referrer_reward_value: p.referrer_reward_value,
            referee_reward_type: p.referee_reward_type,
            referee_reward_value: p.referee_reward_value,
            max_referrals_per_patient: p.max_referrals_per_patient,
            reward_threshold: p.reward_threshold,
            expiry_days: p.expiry_days,
            reward_validity_days: p.reward_validity_days,
            status: p.status,
            start_date: p.start_date,
            end_date: p.end_date,
            target_conditions: p.target_conditions,
            target_demographics: DemographicsView {
                min_age: p.target_demographics.min_age,
                max_age: p.target_demographics.max_age,
                states: p.target_demographics.states,
            },
            variants: p.variants,
            excluded_states: p
                .excluded_states
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
            sms_delivery: p.sms_delivery.to_string(),
            budget_total: p.budget.total.clone(),
            budget_monthly: p.budget.monthly.clone(),
            spent_total: None,
            spent_this_month: None,
            reward_hold_days: p.reward_hold_days,
            min_order_amount: p.min_order_amount.clone(),
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
    /// The internal name, 1 to 200 characters.
    #[schema(schema_with = field::program_name)]
    pub name: String,
    /// The name visitors and invited friends see, at most 100 characters (see
    /// `ProgramView`). Set it for a program that targets a condition.
    #[schema(schema_with = field::public_name)]
    pub public_name: Option<String>,
    /// Where the program's new patients book their first consultation: an `https://`
    /// address of at most 500 characters. Unset: the platform's booking page.
    #[schema(schema_with = field::booking_url)]
    pub booking_url: Option<String>,
    pub description: Option<String>,
    #[schema(schema_with = field::program_type)]
    pub program_type: Option<String>,
    #[schema(schema_with = field::reward_type)]
    pub referrer_reward_type: Option<String>,
    /// Decimal string (`"25.00"`); a percentage for discounts.
    #[schema(schema_with = field::money_or_null)]
    pub referrer_reward_value: Option<serde_json::Value>,
    #[schema(schema_with = field::reward_type)]
    pub referee_reward_type: Option<String>,
    #[schema(schema_with = field::money_or_null)]
    pub referee_reward_value: Option<serde_json::Value>,
    #[schema(schema_with = field::count)]
    pub max_referrals_per_patient: Option<i64>,
    /// Default 1.
    #[schema(schema_with = field::count)]
    pub reward_threshold: Option<i64>,
    /// Default 30.
    #[schema(schema_with = field::program_days)]
    pub expiry_days: Option<i64>,
    /// Default 90.
    #[schema(schema_with = field::program_days)]
    pub reward_validity_days: Option<i64>,
    /// `active` (default on create), `paused` or `ended`.
    #[schema(schema_with = field::program_status)]
    pub status: Option<String>,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    #[serde(default)]
    #[schema(schema_with = field::target_conditions)]
    pub target_conditions: Vec<String>,
    #[serde(default)]
    pub target_demographics: DemographicsView,
    /// Experiment variants: none, or 2 to 10. Each referrer is assigned one, always the
    /// same, in proportion to the weights.
    #[serde(default)]
    pub variants: Vec<VariantInput>,
    /// States (USPS codes) whose residents get no reward from this program, as referrer or
    /// as friend (reason `state_excluded`).
    #[serde(default)]
    pub excluded_states: Vec<String>,
    /// Who sends SMS invitations: `platform` (default; Twilio, on the referrer's consent
    /// attestation) or `patient_device` (the patient texts from their own phone through an
    /// `sms:` link; the platform sends nothing).
    #[schema(example = "platform")]
    pub sms_delivery: Option<String>,
    /// Most reward value the program may ever give (both parties, counted as the caps
    /// count); a reward past it is withheld with `program_budget_exhausted`.
    #[schema(schema_with = field::money_or_null)]
    pub budget_total: Option<serde_json::Value>,
    /// Most reward value the program may give in a calendar month (UTC).
    #[schema(schema_with = field::money_or_null)]
    pub budget_monthly: Option<serde_json::Value>,
    /// Days (0 to 365, default 0) a new referrer reward stays `held`, not usable, so that a
    /// refund or cancellation in that time reverses it before it is used.
    #[schema(minimum = 0, maximum = 365)]
    pub reward_hold_days: Option<i64>,
    /// The smallest order a partial refund may leave without reversing the conversion (by
    /// default only a full refund reverses it).
    #[schema(value_type = Option<String>, example = "25.00")]
    pub min_order_amount: Option<serde_json::Value>,
}

/// An experiment variant of a program.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantInput {
    /// Unique in the program, 1 to 50 characters.
    #[schema(schema_with = field::variant_name)]
    pub name: String,
    /// Relative share of referrers, 1 to 1000 (default 1).
    #[schema(schema_with = field::variant_weight)]
    pub weight: Option<i64>,
    /// Referrer reward value instead of the program's.
    #[schema(schema_with = field::money_or_null)]
    pub referrer_reward_value: Option<serde_json::Value>,
    /// Referee reward value instead of the program's.
    #[schema(schema_with = field::money_or_null)]
    pub referee_reward_value: Option<serde_json::Value>,
    /// Invitation headline instead of the default one.
    #[schema(schema_with = field::invitation_headline)]
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

impl ProgramInput {
    /// Every problem of this input at once: its malformed fields and, past those, the
    /// domain's rules (for a form that must report all of them in one round).
    pub fn problems(self) -> Vec<FieldProblem> {
        match self.into_draft() {
            Err(problems) => problems,
            Ok((draft, _)) => match draft.validate() {
                Err(referral_domain::DomainError::Validation(v)) => {
                    v.errors().iter().map(FieldProblem::from).collect()
                }
                _ => Vec::new(),
            },
        }
    }

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
        let sms_delivery = parse_field("sms_delivery", self.sms_delivery.as_deref(), &mut problems);
        let budget_total = decimal("budget_total", &self.budget_total, &mut problems);
        let budget_monthly = decimal("budget_monthly", &self.budget_monthly, &mut problems);
        let min_order_amount = decimal("min_order_amount", &self.min_order_amount, &mut problems);
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
            public_name: self.public_name,
            booking_url: self.booking_url,
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
            excluded_states: self.excluded_states,
            sms_delivery,
            budget_total,
            budget_monthly,
            reward_hold_days: self.reward_hold_days.unwrap_or(0),
            min_order_amount,
        };
        Ok((draft, status))
    }
}
