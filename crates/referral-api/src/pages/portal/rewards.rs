//! `/portal/referrals/rewards`: cash rewards waiting for approval, and failed messages.

use super::*;
use crate::error::{ApiError, FieldProblem};
use crate::pages::session::Visit;
use crate::pages::{label, render, reward_text, see_other, when, PageError};
use crate::routes::admin::{decide_rewards, list_notifications, pending_rewards};
use crate::routes::ListQuery;
use crate::state::{AppState, Origin};
use crate::views::ApproveRewardRequest;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

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
    let page = RewardsPage {
        title: "Rewards",
        nav: "portal",
        flash,
        pending: pending
            .items
            .iter()
            .map(|r| PendingRow {
                referral_id: r.referral_id,
                short: r.referral_id.to_string().chars().take(8).collect(),
                what: reward_text(Some(&r.reward_type), r.reward_amount.as_deref()),
                party: label(&r.party),
                created: when(r.created_at),
            })
            .collect(),
        pending_total: pending.total,
        failed: failed
            .items
            .iter()
            .map(|n| FailedRow {
                kind: label(&n.kind),
                template: label(&n.template),
                attempts: n.attempts,
                error: n.last_error.clone(),
                created: when(n.created_at),
            })
            .collect(),
        failed_total: failed.total,
    };
    render(&visit, StatusCode::OK, "portal_rewards", page)
}

/// What `portal_rewards.hbs` shows.
#[derive(Debug, Serialize)]
struct RewardsPage {
    title: &'static str,
    nav: &'static str,
    flash: Option<&'static str>,
    /// Cash rewards waiting for an admin.
    pending: Vec<PendingRow>,
    pending_total: i64,
    /// Messages that failed for good.
    failed: Vec<FailedRow>,
    failed_total: i64,
}

/// A reward waiting for approval.
#[derive(Debug, Serialize)]
struct PendingRow {
    referral_id: uuid::Uuid,
    /// The id's first eight characters, as the page shows it.
    short: String,
    what: String,
    party: String,
    created: String,
}

/// A message that failed: its kind and error, never its recipient.
#[derive(Debug, Serialize)]
struct FailedRow {
    kind: String,
    template: String,
    attempts: i32,
    error: Option<String>,
    created: String,
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
