//! The provider portal (admin roles): `/portal/referrals` (dashboard), programs (list, new,
//! detail, edit), analytics and rewards (approvals and failed notifications).

use crate::error::{ApiError, FieldProblem};
use crate::pages::charts::{bar_chart, line_chart, Bar, Series, Style};
use crate::pages::session::Visit;
use crate::pages::{form_problems, label, render, reward_text, see_other, when, PageError};
use crate::routes::admin::{decide_rewards, list_notifications, pending_rewards};
use crate::routes::programs::{create_program, get_program, list_programs, update_program};
use crate::routes::provider::{all_referrals, analytics_of, performance_of, AnalyticsQuery};
use crate::routes::ListQuery;
use crate::state::{AppState, Origin};
use crate::views::{ApproveRewardRequest, DemographicsView, ProgramInput, ProgramView};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{NaiveDate, TimeZone, Utc};
use referral_store::analytics::{Analytics, ProgramPerformance};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

fn percent(rate: &str) -> String {
    format!("{rate}%")
}

fn program_bars(figures: &Analytics) -> Vec<Bar> {
    figures
        .programs
        .iter()
        .map(|p| Bar {
            label: p.name.clone(),
            value: p.funnel.converted as f64,
            text: format!(
                "{} of {} converted ({}%)",
                p.funnel.converted, p.funnel.created, p.conversion_rate
            ),
        })
        .collect()
}

/// `GET /portal/referrals`: metrics, recent activity and the program performance chart.
pub async fn dashboard(
    state: web::Data<AppState>,
    visit: Visit,
    origin: Origin,
) -> Result<HttpResponse, PageError> {
    let caller = visit.portal_admin()?.clone();
    let analytics = analytics_of(
        &state,
        &caller,
        &origin,
        AnalyticsQuery {
            anonymize: Some(true),
            ..AnalyticsQuery::default()
        },
    )
    .await?;
    let recent = all_referrals(
        &state,
        &caller,
        &origin,
        ListQuery {
            limit: Some(10),
            ..ListQuery::default()
        },
    )
    .await?;
    let names: HashMap<uuid::Uuid, String> = analytics
        .figures
        .programs
        .iter()
        .map(|p| (p.program_id.as_uuid(), p.name.clone()))
        .collect();
    let activity: Vec<Value> = recent
        .items
        .iter()
        .map(|r| {
            json!({
                "code": r.referral_code,
                "program": names.get(&r.program_id).cloned().unwrap_or_default(),
                "status": r.status,
                "status_label": label(&r.status),
                "updated": when(r.updated_at),
            })
        })
        .collect();
    let figures = &analytics.figures;
    render(
        &visit,
        StatusCode::OK,
        "portal_dashboard",
        json!({
            "title": "Referral management",
            "nav": "portal",
            "total_referrals": figures.total_referrals,
            "conversion_rate": percent(&figures.conversion_rate),
            "active_programs": figures.active_programs,
            "rewards_paid": format!("${}", figures.rewards_paid),
            "activity": activity,
            "chart": bar_chart("program-performance", "Conversions by program", &program_bars(figures)),
            "programs": figures.programs.iter().map(|p| json!({
                "name": p.name, "created": p.funnel.created, "converted": p.funnel.converted,
                "rate": percent(&p.conversion_rate),
            })).collect::<Vec<_>>(),
        }),
    )
}

fn program_row(p: &ProgramView) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "type": label(&p.program_type),
        "status": p.status,
        "status_label": label(&p.status),
        "referrer_reward": reward_text(p.referrer_reward_type.as_deref(), p.referrer_reward_value.as_deref()),
        "referee_reward": reward_text(p.referee_reward_type.as_deref(), p.referee_reward_value.as_deref()),
    })
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
        json!({
            "title": "Referral programs",
            "nav": "portal",
            "total": list.total,
            "programs": list.items.iter().map(program_row).collect::<Vec<_>>(),
        }),
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
}

fn optional(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

fn whole_number(field: &str, text: &str, problems: &mut Vec<FieldProblem>) -> Option<i64> {
    let text = optional(text)?;
    text.parse()
        .map_err(|_| problems.push(FieldProblem::new(field, "must be a whole number")))
        .ok()
}

fn date(field: &str, text: &str, problems: &mut Vec<FieldProblem>) -> Option<NaiveDate> {
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
        if !problems.is_empty() {
            return Err(ApiError::Validation(problems));
        }
        Ok(ProgramInput {
            name: self.name.trim().to_owned(),
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
            target_conditions: Vec::new(),
            target_demographics: DemographicsView::default(),
            variants: Vec::new(),
        })
    }

    fn of(p: &ProgramView) -> ProgramForm {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        ProgramForm {
            csrf: String::new(),
            name: p.name.clone(),
            program_type: p.program_type.clone(),
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
            status: p.status.clone(),
            start_date: p.start_date.map(|d| d.to_string()).unwrap_or_default(),
            end_date: p.end_date.map(|d| d.to_string()).unwrap_or_default(),
        }
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
        json!({
            "title": title,
            "nav": "portal",
            "action": action,
            "editing": program.is_some(),
            "form": serde_json::to_value(form).unwrap_or(Value::Null),
            "errors": errors,
        }),
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
        ..ProgramForm::default()
    };
    form_page(&visit, StatusCode::OK, None, &form, Value::Null)
}

/// `POST /portal/referrals/programs`.
pub async fn create_program_page(
    state: web::Data<AppState>,
    visit: Visit,
    origin: Origin,
    form: web::Form<ProgramForm>,
) -> Result<HttpResponse, PageError> {
    let caller = visit.portal_admin()?.clone();
    let form = form.into_inner();
    visit.check_csrf(&form.csrf)?;
    let created = match form.input() {
        Ok(input) => create_program(&state, &caller, &origin, input).await,
        Err(e) => Err(e),
    };
    match created {
        Ok(p) => Ok(see_other(&format!(
            "/portal/referrals/programs/{}?saved=1",
            p.id
        ))),
        Err(e) => {
            let (status, errors) = form_problems(e)?;
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
    let performance = performance_of(&state, &caller, Some(program.id)).await?;
    let windows = performance.first().map(windows_of).unwrap_or_default();
    render(
        &visit,
        StatusCode::OK,
        "portal_program",
        json!({
            "title": program.name,
            "nav": "portal",
            "flash": query.saved.as_ref().map(|_| "Program saved."),
            "program": {
                "id": program.id,
                "name": program.name,
                "description": program.description,
                "type": label(&program.program_type),
                "status_label": label(&program.status),
                "status": program.status,
                "referrer_reward": reward_text(program.referrer_reward_type.as_deref(), program.referrer_reward_value.as_deref()),
                "referee_reward": reward_text(program.referee_reward_type.as_deref(), program.referee_reward_value.as_deref()),
                "max_referrals": program.max_referrals_per_patient.map_or_else(|| "No limit".to_owned(), |m| m.to_string()),
                "threshold": program.reward_threshold,
                "expiry_days": program.expiry_days,
                "validity_days": program.reward_validity_days,
                "start_date": program.start_date.map(|d| d.to_string()),
                "end_date": program.end_date.map(|d| d.to_string()),
                "created": when(program.created_at),
            },
            "windows": windows,
        }),
    )
}

fn windows_of(p: &ProgramPerformance) -> Vec<Value> {
    p.windows
        .iter()
        .map(|w| {
            json!({
                "days": w.days,
                "referrals": w.referrals,
                "click_through": percent(&w.click_through_rate),
                "registration": percent(&w.registration_rate),
                "conversion": percent(&w.conversion_rate),
                "median_hours": w.median_hours_to_convert.map_or_else(|| "—".to_owned(), |h| format!("{h:.1} h")),
                "cost_per_conversion": w.reward_cost_per_conversion.as_ref().map_or_else(|| "—".to_owned(), |c| format!("${c}")),
            })
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
    origin: Origin,
    id: web::Path<String>,
    form: web::Form<ProgramForm>,
) -> Result<HttpResponse, PageError> {
    let caller = visit.portal_admin()?.clone();
    let form = form.into_inner();
    visit.check_csrf(&form.csrf)?;
    let id = id.into_inner();
    let program = get_program(&state, &caller, &id).await?;
    let updated = match form.input() {
        Ok(input) => update_program(&state, &caller, &origin, id, input).await,
        Err(e) => Err(e),
    };
    match updated {
        Ok(p) => Ok(see_other(&format!(
            "/portal/referrals/programs/{}?saved=1",
            p.id
        ))),
        Err(e) => {
            let (status, errors) = form_problems(e)?;
            form_page(&visit, status, Some(&program), &form, errors)
        }
    }
}

/// Filters of the analytics page (dates as `YYYY-MM-DD`, as a date input sends them).
#[derive(Debug, Default, Deserialize, serde::Serialize)]
pub struct AnalyticsFilters {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    program_id: String,
    #[serde(default)]
    interval: String,
    /// `1`: show the top referrers' names (otherwise pseudonyms).
    #[serde(default)]
    names: String,
}

/// `GET /portal/referrals/analytics`: trend, funnel, program performance, reward ROI and top
/// referrers.
pub async fn analytics(
    state: web::Data<AppState>,
    visit: Visit,
    origin: Origin,
    filters: web::Query<AnalyticsFilters>,
) -> Result<HttpResponse, PageError> {
    let caller = visit.portal_admin()?.clone();
    let filters = filters.into_inner();
    let mut problems = Vec::new();
    let from = date("from", &filters.from, &mut problems)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Utc.from_utc_datetime(&t));
    let to = date("to", &filters.to, &mut problems)
        .and_then(|d| d.succ_opt())
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Utc.from_utc_datetime(&t));
    let program_id = match optional(&filters.program_id) {
        None => None,
        Some(text) => text
            .parse::<uuid::Uuid>()
            .map_err(|_| problems.push(FieldProblem::new("program_id", "unknown program")))
            .ok(),
    };
    let show_names = filters.names == "1";
    let programs = list_programs(
        &state,
        &caller,
        ListQuery {
            limit: Some(500),
            ..ListQuery::default()
        },
    )
    .await?;
    let choices: Vec<Value> = programs
        .items
        .iter()
        .map(|p| json!({"id": p.id, "name": p.name, "selected": Some(p.id) == program_id}))
        .collect();
    let query = AnalyticsQuery {
        program_id,
        from,
        to,
        interval: optional(&filters.interval),
        anonymize: Some(!show_names),
    };
    let result = if problems.is_empty() {
        analytics_of(&state, &caller, &origin, query).await
    } else {
        Err(ApiError::Validation(problems))
    };
    let view = match result {
        Ok(view) => view,
        Err(e) => {
            let (status, errors) = form_problems(e)?;
            return render(
                &visit,
                status,
                "portal_analytics",
                json!({"title": "Referral analytics", "nav": "portal", "filters": filters,
                       "programs": choices, "errors": errors, "figures": Value::Null}),
            );
        }
    };
    let performance = performance_of(&state, &caller, program_id).await?;
    let f = &view.figures;
    let labels: Vec<String> = f.trends.iter().map(|t| t.period.to_string()).collect();
    let trend = line_chart(
        "trend",
        "Referrals and conversions over time",
        &labels,
        &[
            Series {
                name: "Referrals".into(),
                values: f.trends.iter().map(|t| t.referrals as f64).collect(),
                style: Style::SolidCircles,
            },
            Series {
                name: "Registered".into(),
                values: f.trends.iter().map(|t| t.registered as f64).collect(),
                style: Style::DottedDiamonds,
            },
            Series {
                name: "Converted".into(),
                values: f.trends.iter().map(|t| t.converted as f64).collect(),
                style: Style::DashedSquares,
            },
        ],
    );
    let created = f.funnel.created.max(1) as f64;
    let step = |name: &str, n: i64| Bar {
        label: name.to_owned(),
        value: n as f64,
        text: format!("{n} ({:.1}%)", 100.0 * n as f64 / created),
    };
    let funnel = bar_chart(
        "funnel",
        "Conversion funnel",
        &[
            step("Referred", f.funnel.created),
            step("Clicked", f.funnel.clicked),
            step("Registered", f.funnel.registered),
            step("Converted", f.funnel.converted),
        ],
    );
    let top: Vec<Value> = view
        .top_referrers
        .iter()
        .map(|t| {
            json!({
                "who": t.name.clone().or_else(|| t.pseudonym.clone()).unwrap_or_else(|| "—".to_owned()),
                "referrals": t.referrals,
                "converted": t.converted,
            })
        })
        .collect();
    render(
        &visit,
        StatusCode::OK,
        "portal_analytics",
        json!({
            "title": "Referral analytics",
            "nav": "portal",
            "filters": filters,
            "programs": choices,
            "errors": Value::Null,
            "show_names": show_names,
            "figures": {
                "total_referrals": f.total_referrals,
                "conversion_rate": percent(&f.conversion_rate),
                "reward_cost": format!("${}", f.reward_cost),
                "rewards_paid": format!("${}", f.rewards_paid),
                "revenue": format!("${}", f.revenue),
                "customer_ltv": format!("${}", f.customer_ltv),
                "funnel": f.funnel,
                "trends": f.trends,
            },
            "trend_chart": trend,
            "funnel_chart": funnel,
            "program_chart": bar_chart("program-performance", "Conversions by program", &program_bars(f)),
            "roi": f.programs.iter().map(|p| json!({
                "name": p.name,
                "reward_cost": format!("${}", p.reward_cost),
                "rewards_paid": format!("${}", p.rewards_paid),
                "revenue": format!("${}", p.revenue),
                "roi": p.roi.as_deref().map_or_else(|| "—".to_owned(), percent),
            })).collect::<Vec<_>>(),
            "performance": performance.iter().map(|p| json!({
                "name": p.name,
                "windows": windows_of(p),
            })).collect::<Vec<_>>(),
            "top_referrers": top,
            "experiments": f.experiments.iter().map(|e| json!({
                "program": programs.items.iter().find(|p| p.id == e.program_id.as_uuid()).map(|p| p.name.clone()),
                "verdict": e.verdict,
                "variants": e.variants.iter().map(|v| json!({
                    "name": v.name, "referrals": v.referrals, "converted": v.converted,
                    "rate": percent(&v.conversion_rate),
                    "p_value": v.p_value.map_or_else(|| "—".to_owned(), |p| format!("{p:.4}")),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        }),
    )
}

/// Query of the rewards page.
#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

/// `GET /portal/referrals/rewards`: cash rewards waiting for approval, failed notifications.
pub async fn rewards(
    state: web::Data<AppState>,
    visit: Visit,
    query: web::Query<DoneQuery>,
) -> Result<HttpResponse, PageError> {
    let caller = visit.portal_admin()?.clone();
    let pending = pending_rewards(
        &state,
        &caller,
        referral_store::page::Page::new(Some(200), None),
    )
    .await?;
    let failed = list_notifications(
        &state,
        &caller,
        ListQuery {
            status: Some("failed".into()),
            limit: Some(100),
            ..ListQuery::default()
        },
    )
    .await?;
    let flash = match query.done.as_deref() {
        Some("approved") => Some("Reward approved; the payout is queued."),
        Some("rejected") => Some("Reward rejected."),
        _ => None,
    };
    render(
        &visit,
        StatusCode::OK,
        "portal_rewards",
        json!({
            "title": "Rewards",
            "nav": "portal",
            "flash": flash,
            "pending": pending.items.iter().map(|r| json!({
                "referral_id": r.referral_id,
                "short": r.referral_id.to_string().chars().take(8).collect::<String>(),
                "what": reward_text(Some(&r.reward_type), r.reward_amount.as_deref()),
                "party": label(&r.party),
                "created": when(r.created_at),
            })).collect::<Vec<_>>(),
            "pending_total": pending.total,
            "failed": failed.items.iter().map(|n| json!({
                "kind": label(&n.kind),
                "template": label(&n.template),
                "attempts": n.attempts,
                "error": n.last_error,
                "created": when(n.created_at),
            })).collect::<Vec<_>>(),
            "failed_total": failed.total,
        }),
    )
}

/// The approve / reject form of a referral's cash rewards.
#[derive(Debug, Default, Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    csrf: String,
    /// `approve` or `reject`.
    #[serde(default)]
    decision: String,
    #[serde(default)]
    reason: String,
}

/// `POST /portal/referrals/rewards/{referral_id}`.
pub async fn decide(
    state: web::Data<AppState>,
    visit: Visit,
    origin: Origin,
    referral_id: web::Path<String>,
    form: web::Form<DecisionForm>,
) -> Result<HttpResponse, PageError> {
    let caller = visit.portal_admin()?.clone();
    let form = form.into_inner();
    visit.check_csrf(&form.csrf)?;
    let approve = match form.decision.as_str() {
        "approve" => true,
        "reject" => false,
        _ => {
            return Err(PageError::Api(ApiError::Validation(vec![
                FieldProblem::new("decision", "must be approve or reject"),
            ])))
        }
    };
    decide_rewards(
        &state,
        &caller,
        &origin,
        referral_id.into_inner(),
        ApproveRewardRequest {
            approve,
            reason: optional(&form.reason),
        },
    )
    .await?;
    Ok(see_other(if approve {
        "/portal/referrals/rewards?done=approved"
    } else {
        "/portal/referrals/rewards?done=rejected"
    }))
}
