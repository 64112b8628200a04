//! `/portal/referrals/programs`: the list, the new and edit forms, and a program's page.
//!
//! One concept: the portal's program pages (list, forms, detail), which share the form and
//! its labels.

use super::*;
use crate::error::{ApiError, FieldProblem};
use crate::pages::session::Visit;
use crate::pages::{
    form_problems_labelled, label, render, reward_text, see_other, when, PageError,
};

/// The program form's fields as the admin sees them.
const PROGRAM_LABELS: &[(&str, &str)] = &[
    ("name", "Program name"),
    ("public_name", "Name patients and their friends see"),
    ("booking_url", "Booking page"),
    ("description", "Program description"),
    ("program_type", "Program type"),
    ("referrer_reward_type", "Referrer reward type"),
    ("referrer_reward_value", "Referrer reward value"),
    ("referee_reward_type", "Friend's reward type"),
    ("referee_reward_value", "Friend's reward value"),
    ("max_referrals_per_patient", "Referrals per patient"),
    ("reward_threshold", "Friends per referrer reward"),
    ("expiry_days", "Days an invitation stays open"),
    ("reward_validity_days", "Days a reward stays available"),
    ("start_date", "Start date"),
    ("end_date", "End date"),
    ("target_conditions", "Conditions"),
    ("target_demographics.min_age", "Minimum age"),
    ("target_demographics.max_age", "Maximum age"),
    ("target_demographics.states", "States"),
    ("excluded_states", "Excluded states"),
    ("sms_delivery", "Who sends SMS invitations"),
    ("budget_total", "Total budget"),
    ("budget_monthly", "Monthly budget"),
    ("reward_hold_days", "Days a reward is held"),
    ("min_order_amount", "Minimum order amount"),
    ("status", "Status"),
    ("variants", "Experiment variants"),
];
use crate::routes::programs::{create_program, get_program, list_programs, update_program};
use crate::routes::provider::performance_of;
use crate::routes::ListQuery;
use crate::state::AppState;
use crate::views::{DemographicsView, ProgramInput, ProgramView};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::NaiveDate;
use referral_store::analytics::ProgramPerformance;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A program in the list.
#[derive(Debug, Serialize)]
struct ProgramRow {
    id: uuid::Uuid,
    name: String,
    #[serde(rename = "type")]
    program_type: String,
    status: String,
    status_label: String,
    referrer_reward: String,
    referee_reward: String,
}

fn program_row(p: &ProgramView) -> ProgramRow {
    ProgramRow {
        id: p.id,
        name: p.name.clone(),
        program_type: label(p.program_type.as_str()),
        status: p.status.as_str().to_owned(),
        status_label: label(p.status.as_str()),
        referrer_reward: reward_text(p.referrer_reward_type, p.referrer_reward_value.clone()),
        referee_reward: reward_text(p.referee_reward_type, p.referee_reward_value.clone()),
    }
}

/// What `portal_programs.hbs` shows.
#[derive(Debug, Serialize)]
struct ProgramsPage {
    title: &'static str,
    nav: &'static str,
    total: i64,
    programs: Vec<ProgramRow>,
}

/// `GET /portal/referrals/programs`.
pub async fn programs(state: web::Data<AppState>, visit: Visit) -> Result<HttpResponse, PageError> {
    let caller = visit.portal_admin()?.clone();
    let list = list_programs(
        &state,
        &caller,
        ListQuery {
            limit: Some(500),
            ..ListQuery::default()
        },
    )
    .await?;
    render(
        &visit,
        StatusCode::OK,
        "portal_programs",
        ProgramsPage {
            title: "Referral programs",
            nav: "portal",
            total: list.total,
            programs: list.items.iter().map(program_row).collect(),
        },
    )
}

/// The program form: every field as typed, so that it can be shown again with its errors.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
pub struct ProgramForm {
    #[serde(default, skip_serializing)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    program_type: String,
    #[serde(default)]
    public_name: String,
    #[serde(default)]
    booking_url: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    referrer_reward_type: String,
    #[serde(default)]
    referrer_reward_value: String,
    #[serde(default)]
    referee_reward_type: String,
    #[serde(default)]
    referee_reward_value: String,
    #[serde(default)]
    max_referrals_per_patient: String,
    #[serde(default)]
    reward_threshold: String,
    #[serde(default)]
    expiry_days: String,
    #[serde(default)]
    reward_validity_days: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    start_date: String,
    #[serde(default)]
    end_date: String,
    /// Targeted conditions, comma-separated.
    #[serde(default)]
    target_conditions: String,
    #[serde(default)]
    min_age: String,
    #[serde(default)]
    max_age: String,
    /// Targeted states, comma-separated USPS codes.
    #[serde(default)]
    states: String,
    /// Excluded states, comma-separated USPS codes.
    #[serde(default)]
    excluded_states: String,
    /// `platform` or `patient_device`.
    #[serde(default)]
    sms_delivery: String,
    #[serde(default)]
    budget_total: String,
    #[serde(default)]
    budget_monthly: String,
    #[serde(default)]
    reward_hold_days: String,
    #[serde(default)]
    min_order_amount: String,
    /// The program's experiment variants as JSON, carried through the form unchanged so
    /// that saving the form keeps them (the form does not edit them; the API does).
    #[serde(default)]
    variants: String,
}

/// A comma-separated list, trimmed, without empty entries.
fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

pub(super) fn optional(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

fn whole_number(field: &str, text: &str, problems: &mut Vec<FieldProblem>) -> Option<i64> {
    let text = optional(text)?;
    text.parse()
        .map_err(|_| problems.push(FieldProblem::new(field, "must be a whole number")))
        .ok()
}

pub(super) fn date(field: &str, text: &str, problems: &mut Vec<FieldProblem>) -> Option<NaiveDate> {
    let text = optional(text)?;
    NaiveDate::parse_from_str(&text, "%Y-%m-%d")
        .map_err(|_| problems.push(FieldProblem::new(field, "must be a date (YYYY-MM-DD)")))
        .ok()
}

impl ProgramForm {
    /// The API's input; numbers and dates that do not parse are field problems.
    fn input(&self) -> Result<ProgramInput, ApiError> {
        let mut problems = Vec::new();
        let max_referrals_per_patient = whole_number(
            "max_referrals_per_patient",
            &self.max_referrals_per_patient,
            &mut problems,
        );
        let reward_threshold =
            whole_number("reward_threshold", &self.reward_threshold, &mut problems);
        let expiry_days = whole_number("expiry_days", &self.expiry_days, &mut problems);
        let reward_validity_days = whole_number(
            "reward_validity_days",
            &self.reward_validity_days,
            &mut problems,
        );
        let start_date = date("start_date", &self.start_date, &mut problems);
        let end_date = date("end_date", &self.end_date, &mut problems);
        let min_age = whole_number("target_demographics.min_age", &self.min_age, &mut problems);
        let max_age = whole_number("target_demographics.max_age", &self.max_age, &mut problems);
        let reward_hold_days =
            whole_number("reward_hold_days", &self.reward_hold_days, &mut problems);
        let variants = match optional(&self.variants) {
            None => Vec::new(),
            Some(json) => serde_json::from_str(&json).unwrap_or_else(|_| {
                problems.push(FieldProblem::new(
                    "variants",
                    "the experiment variants did not come back intact; reload the page",
                ));
                Vec::new()
            }),
        };
        let input = ProgramInput {
            name: self.name.trim().to_owned(),
            public_name: optional(&self.public_name),
            booking_url: optional(&self.booking_url),
            description: optional(&self.description),
            program_type: optional(&self.program_type),
            referrer_reward_type: optional(&self.referrer_reward_type),
            referrer_reward_value: optional(&self.referrer_reward_value).map(Value::String),
            referee_reward_type: optional(&self.referee_reward_type),
            referee_reward_value: optional(&self.referee_reward_value).map(Value::String),
            max_referrals_per_patient,
            reward_threshold,
            expiry_days,
            reward_validity_days,
            status: optional(&self.status),
            start_date,
            end_date,
            target_conditions: list(&self.target_conditions),
            target_demographics: DemographicsView {
                min_age,
                max_age,
                states: list(&self.states),
            },
            variants,
            excluded_states: list(&self.excluded_states),
            sms_delivery: optional(&self.sms_delivery),
            budget_total: optional(&self.budget_total).map(Value::String),
            budget_monthly: optional(&self.budget_monthly).map(Value::String),
            reward_hold_days,
            min_order_amount: optional(&self.min_order_amount).map(Value::String),
        };
        if problems.is_empty() {
            return Ok(input);
        }
        // Every problem in one round: the fields that did not parse, and the rules the rest
        // break (the unparsed fields count as empty there, so their own problem is the one
        // already said).
        let said: Vec<String> = problems.iter().map(|p| p.field.clone()).collect();
        problems.extend(
            input
                .problems()
                .into_iter()
                .filter(|p| !said.contains(&p.field)),
        );
        Err(ApiError::Validation(problems))
    }

    fn of(p: &ProgramView) -> ProgramForm {
        fn text<T: ToString>(v: &Option<T>) -> String {
            v.as_ref().map(ToString::to_string).unwrap_or_default()
        }
        ProgramForm {
            csrf: String::new(),
            name: p.name.clone(),
            program_type: p.program_type.as_str().to_owned(),
            public_name: text(&p.public_name),
            booking_url: text(&p.booking_url),
            description: text(&p.description),
            referrer_reward_type: text(&p.referrer_reward_type),
            referrer_reward_value: text(&p.referrer_reward_value),
            referee_reward_type: text(&p.referee_reward_type),
            referee_reward_value: text(&p.referee_reward_value),
            max_referrals_per_patient: p
                .max_referrals_per_patient
                .map(|m| m.to_string())
                .unwrap_or_default(),
            reward_threshold: p.reward_threshold.to_string(),
            expiry_days: p.expiry_days.to_string(),
            reward_validity_days: p.reward_validity_days.to_string(),
            status: p.status.as_str().to_owned(),
            start_date: p.start_date.map(|d| d.to_string()).unwrap_or_default(),
            end_date: p.end_date.map(|d| d.to_string()).unwrap_or_default(),
            target_conditions: p.target_conditions.join(", "),
            min_age: p
                .target_demographics
                .min_age
                .map(|a| a.to_string())
                .unwrap_or_default(),
            max_age: p
                .target_demographics
                .max_age
                .map(|a| a.to_string())
                .unwrap_or_default(),
            states: p.target_demographics.states.join(", "),
            excluded_states: p.excluded_states.join(", "),
            sms_delivery: p.sms_delivery.clone(),
            budget_total: text(&p.budget_total),
            budget_monthly: text(&p.budget_monthly),
            reward_hold_days: p.reward_hold_days.to_string(),
            min_order_amount: text(&p.min_order_amount),
            // The form edits the variants as the JSON the API takes.
            variants: if p.variants.is_empty() {
                String::new()
            } else {
                serde_json::to_string(&p.variants).unwrap_or_default()
            },
        }
    }

    /// The names of the experiment variants the form carries, to say they are kept.
    fn variant_names(&self) -> Vec<String> {
        serde_json::from_str::<Vec<Value>>(&self.variants)
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v["name"].as_str().map(str::to_owned))
            .collect()
    }
}

fn form_page(
    visit: &Visit,
    status: StatusCode,
    program: Option<&ProgramView>,
    form: &ProgramForm,
    errors: Value,
) -> Result<HttpResponse, PageError> {
    let (title, action) = match program {
        Some(p) => (
            format!("Edit {}", p.name),
            format!("/portal/referrals/programs/{}", p.id),
        ),
        None => (
            "New referral program".to_owned(),
            "/portal/referrals/programs".to_owned(),
        ),
    };
    render(
        visit,
        status,
        "portal_program_form",
        FormPage {
            title,
            nav: "portal",
            action,
            editing: program.is_some(),
            form,
            variant_names: form.variant_names(),
            errors,
        },
    )
}

/// `GET /portal/referrals/programs/new`.
pub async fn new_program(visit: Visit) -> Result<HttpResponse, PageError> {
    visit.portal_admin()?;
    let form = ProgramForm {
        program_type: "standard".into(),
        referrer_reward_type: "credit".into(),
        referee_reward_type: "discount".into(),
        reward_threshold: "1".into(),
        expiry_days: referral_domain::program::DEFAULT_EXPIRY_DAYS.to_string(),
        reward_validity_days: referral_domain::program::DEFAULT_REWARD_VALIDITY_DAYS.to_string(),
        sms_delivery: "platform".into(),
        ..ProgramForm::default()
    };
    form_page(&visit, StatusCode::OK, None, &form, Value::Null)
}

/// `POST /portal/referrals/programs`.
pub async fn create_program_page(
    visit: Visit,
    form: web::Form<ProgramForm>,
) -> Result<HttpResponse, PageError> {
    let call = visit.admin_call()?;
    let form = form.into_inner();
    visit.check_csrf(&form.csrf)?;
    let created = match form.input() {
        Ok(input) => create_program(&call, input).await,
        Err(e) => Err(e),
    };
    match created {
        Ok(p) => Ok(see_other(&format!(
            "/portal/referrals/programs/{}?saved=1",
            p.id
        ))),
        Err(e) => {
            let (status, errors) = form_problems_labelled(e, PROGRAM_LABELS)?;
            form_page(&visit, status, None, &form, errors)
        }
    }
}

/// Query of the program page.
#[derive(Debug, Default, Deserialize)]
pub struct SavedQuery {
    saved: Option<String>,
}

/// `GET /portal/referrals/programs/{id}`: the program and its last 7, 30 and 90 days.
pub async fn program(
    state: web::Data<AppState>,
    visit: Visit,
    id: web::Path<String>,
    query: web::Query<SavedQuery>,
) -> Result<HttpResponse, PageError> {
    let caller = visit.portal_admin()?.clone();
    let program = get_program(&state, &caller, &id).await?;
    let performance = performance_of(&state, &caller, Some(program.id), None).await?;
    let windows = performance.first().map(windows_of).unwrap_or_default();
    render(
        &visit,
        StatusCode::OK,
        "portal_program",
        ProgramPage {
            title: program.name.clone(),
            nav: "portal",
            flash: query.saved.as_ref().map(|_| "Program saved."),
            program: ProgramDetail {
                id: program.id,
                name: program.name.clone(),
                description: program.description.clone(),
                program_type: label(program.program_type.as_str()),
                status_label: label(&shown_status(&program, state.now().date_naive())),
                status: shown_status(&program, state.now().date_naive()),
                referrer_reward: reward_text(
                    program.referrer_reward_type,
                    program.referrer_reward_value.clone(),
                ),
                referee_reward: reward_text(
                    program.referee_reward_type,
                    program.referee_reward_value.clone(),
                ),
                max_referrals: program
                    .max_referrals_per_patient
                    .map_or_else(|| "No limit".to_owned(), |m| m.to_string()),
                threshold: program.reward_threshold,
                expiry_days: program.expiry_days,
                validity_days: program.reward_validity_days,
                start_date: program.start_date.map(|d| d.to_string()),
                end_date: program.end_date.map(|d| d.to_string()),
                created: when(program.created_at),
                budget: budget_line(&program),
                public_name: program.public_name.clone(),
                booking_url: program.booking_url.clone(),
                targeting: targeting_words(&program),
                excluded_states: if program.excluded_states.is_empty() {
                    "None".to_owned()
                } else {
                    program.excluded_states.join(", ")
                },
                hold_days: program.reward_hold_days,
                sms_delivery: match program.sms_delivery.as_str() {
                    "patient_device" => "From the patient's own phone".to_owned(),
                    _ => "By the platform (Twilio)".to_owned(),
                },
                min_order: program
                    .min_order_amount
                    .as_ref()
                    .map_or_else(|| "None".to_owned(), |m| m.usd()),
                variants: program
                    .variants
                    .iter()
                    .map(|v| v.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            },
            windows,
        },
    )
}

/// What `portal_program_form.hbs` shows: the form as typed, and its errors.
#[derive(Debug, Serialize)]
struct FormPage<'a> {
    title: String,
    nav: &'static str,
    action: String,
    editing: bool,
    form: &'a ProgramForm,
    /// The experiment variants the form keeps, by name.
    variant_names: Vec<String>,
    errors: Value,
}

/// What `portal_program.hbs` shows.
#[derive(Debug, Serialize)]
struct ProgramPage {
    title: String,
    nav: &'static str,
    flash: Option<&'static str>,
    program: ProgramDetail,
    windows: Vec<WindowRow>,
}

/// A program's settings in words.
#[derive(Debug, Serialize)]
struct ProgramDetail {
    id: uuid::Uuid,
    name: String,
    description: Option<String>,
    #[serde(rename = "type")]
    program_type: String,
    status_label: String,
    status: String,
    referrer_reward: String,
    referee_reward: String,
    max_referrals: String,
    threshold: u32,
    expiry_days: u32,
    validity_days: u32,
    start_date: Option<String>,
    end_date: Option<String>,
    created: String,
    /// Spend against budget, in words; `None` without a budget.
    budget: Option<String>,
    public_name: Option<String>,
    booking_url: Option<String>,
    /// Who may refer, in words.
    targeting: String,
    excluded_states: String,
    hold_days: u32,
    sms_delivery: String,
    min_order: String,
    variants: String,
}

/// One window of a program's performance, as the table shows it.
#[derive(Debug, Serialize)]
pub(super) struct WindowRow {
    days: u32,
    /// The days it covers, as shown: `2026-11-24 to 2026-11-30`.
    span: String,
    referrals: i64,
    click_through: String,
    registration: String,
    conversion: String,
    median_hours: String,
    cost_per_conversion: String,
}

pub(super) fn windows_of(p: &ProgramPerformance) -> Vec<WindowRow> {
    p.windows
        .iter()
        .map(|w| WindowRow {
            days: w.days,
            span: format!("{} to {}", w.first_day, w.last_day),
            referrals: w.referrals,
            click_through: percent(&w.click_through_rate),
            registration: percent(&w.registration_rate),
            conversion: percent(&w.conversion_rate),
            median_hours: w
                .median_hours_to_convert
                .map_or_else(|| "—".to_owned(), |h| format!("{h:.1} h")),
            cost_per_conversion: w
                .reward_cost_per_conversion
                .as_ref()
                .map_or_else(|| "—".to_owned(), referral_domain::Money::usd),
        })
        .collect()
}

/// `GET /portal/referrals/programs/{id}/edit`.
pub async fn edit_program(
    state: web::Data<AppState>,
    visit: Visit,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let caller = visit.portal_admin()?.clone();
    let program = get_program(&state, &caller, &id).await?;
    form_page(
        &visit,
        StatusCode::OK,
        Some(&program),
        &ProgramForm::of(&program),
        Value::Null,
    )
}

/// `POST /portal/referrals/programs/{id}`: saves the edit.
pub async fn update_program_page(
    state: web::Data<AppState>,
    visit: Visit,
    id: web::Path<String>,
    form: web::Form<ProgramForm>,
) -> Result<HttpResponse, PageError> {
    let call = visit.admin_call()?;
    let form = form.into_inner();
    visit.check_csrf(&form.csrf)?;
    let id = id.into_inner();
    let program = get_program(&state, &call.caller, &id).await?;
    let updated = match form.input() {
        Ok(input) => update_program(&call, id, input).await,
        Err(e) => Err(e),
    };
    match updated {
        Ok(p) => Ok(see_other(&format!(
            "/portal/referrals/programs/{}?saved=1",
            p.id
        ))),
        Err(e) => {
            let (status, errors) = form_problems_labelled(e, PROGRAM_LABELS)?;
            form_page(&visit, status, Some(&program), &form, errors)
        }
    }
}

/// "$120.00 of $5,000.00 spent; $20.00 of $1,000.00 this month", for a budgeted program.
fn budget_line(p: &ProgramView) -> Option<String> {
    use referral_domain::Money;
    let part = |limit: &Option<Money>, spent: &Option<Money>, when: &str| {
        limit.as_ref().map(|l| {
            format!(
                "{} of {} spent{when}",
                spent.as_ref().unwrap_or(&Money::ZERO).usd(),
                l.usd()
            )
        })
    };
    let parts: Vec<String> = [
        part(&p.budget_total, &p.spent_total, ""),
        part(&p.budget_monthly, &p.spent_this_month, " this month"),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The program's status as the admin reads it today ("Scheduled" before its start).
fn shown_status(program: &ProgramView, today: chrono::NaiveDate) -> String {
    referral_domain::program::ProgramSchedule {
        status: program.status,
        start_date: program.start_date,
        end_date: program.end_date,
    }
    .shown_status(today)
    .to_owned()
}

/// Who may refer under the program, in words.
fn targeting_words(program: &ProgramView) -> String {
    let mut parts = Vec::new();
    if !program.target_conditions.is_empty() {
        parts.push(format!(
            "patients with {}",
            program
                .target_conditions
                .iter()
                .map(|c| label(c).to_lowercase())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let d = &program.target_demographics;
    match (d.min_age, d.max_age) {
        (Some(min), Some(max)) => parts.push(format!("aged {min} to {max}")),
        (Some(min), None) => parts.push(format!("aged {min} or over")),
        (None, Some(max)) => parts.push(format!("aged {max} or under")),
        (None, None) => {}
    }
    if !d.states.is_empty() {
        parts.push(format!("living in {}", d.states.join(", ")));
    }
    if parts.is_empty() {
        "Every patient".to_owned()
    } else {
        let mut words = parts.join(", ");
        if let Some(first) = words.get(..1) {
            words = first.to_uppercase() + &words[1..];
        }
        words
    }
}
