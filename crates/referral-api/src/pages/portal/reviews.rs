//! `/portal/referrals/reviews`: rewards held for review because their referral raised a
//! fraud signal, each with its signals in words; approve or reject one, or many at once.

use crate::error::{ApiError, FieldProblem};
use crate::pages::session::Visit;
use crate::pages::{label, render, reward_text, see_other, when, PageError};
use crate::routes::reviews::{decide_many, integrity_figures, review_queue, ReviewQuery};
use crate::state::{AppState, Origin};
use crate::views::{BulkReviewRequest, IntegrityView};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use referral_domain::signals::Signal;
use serde::{Deserialize, Serialize};

/// Query of the reviews page.
#[derive(Debug, Default, Deserialize)]
pub struct ReviewsPageQuery {
    /// Only this signal's rewards.
    signal: Option<String>,
    /// What the last decision did.
    done: Option<String>,
    /// How many it decided.
    n: Option<usize>,
}

/// `GET /portal/referrals/reviews`.
pub async fn reviews(
    state: web::Data<AppState>,
    visit: Visit,
    origin: Origin,
    query: web::Query<ReviewsPageQuery>,
) -> Result<HttpResponse, PageError> {
    let caller = visit.portal_admin()?.clone();
    let query = query.into_inner();
    let signal = query
        .signal
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let queue = review_queue(
        &state,
        &caller,
        &origin,
        ReviewQuery {
            signal: signal.clone(),
            limit: Some(500),
            ..ReviewQuery::default()
        },
    )
    .await?;
    let figures = integrity_figures(&state, &caller, &origin, None).await?;
    let n = query.n.unwrap_or(0);
    let flash = match query.done.as_deref() {
        Some("approved") => Some(format!("{n} reward(s) approved.")),
        Some("rejected") => Some(format!("{n} reward(s) rejected.")),
        _ => None,
    };
    let page = ReviewsPage {
        title: "Reward reviews",
        nav: "portal",
        flash,
        total: queue.total,
        figures,
        signals: Signal::ALL
            .iter()
            .map(|s| SignalOption {
                code: s.as_str(),
                name: label(s.as_str()),
                selected: signal.as_deref() == Some(s.as_str()),
            })
            .collect(),
        rows: queue
            .items
            .iter()
            .map(|item| ReviewRow {
                reward_id: item.reward.id,
                short: item.reward.id.to_string().chars().take(8).collect(),
                what: reward_text(
                    Some(&item.reward.reward_type),
                    item.reward.reward_amount.as_deref(),
                ),
                party: label(&item.reward.party),
                created: when(item.reward.created_at),
                signals: item
                    .signals
                    .iter()
                    .map(|s| SignalLine {
                        name: label(&s.code),
                        explanation: s.explanation.clone(),
                    })
                    .collect(),
            })
            .collect(),
    };
    render(&visit, StatusCode::OK, "portal_reviews", page)
}

/// What `portal_reviews.hbs` shows.
#[derive(Debug, Serialize)]
struct ReviewsPage {
    title: &'static str,
    nav: &'static str,
    flash: Option<String>,
    total: i64,
    figures: IntegrityView,
    signals: Vec<SignalOption>,
    rows: Vec<ReviewRow>,
}

#[derive(Debug, Serialize)]
struct SignalOption {
    code: &'static str,
    name: String,
    selected: bool,
}

#[derive(Debug, Serialize)]
struct ReviewRow {
    reward_id: uuid::Uuid,
    short: String,
    what: String,
    party: String,
    created: String,
    signals: Vec<SignalLine>,
}

#[derive(Debug, Serialize)]
struct SignalLine {
    name: String,
    explanation: String,
}

/// `POST /portal/referrals/reviews`: the form's `decision` is `approve` or `reject` for the
/// ticked `reward_id`s, or `approve:<id>` / `reject:<id>` for one row's buttons.
pub async fn decide(
    state: web::Data<AppState>,
    visit: Visit,
    origin: Origin,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let caller = visit.portal_admin()?.clone();
    let (mut csrf, mut decision, mut reason, mut ticked) =
        (String::new(), String::new(), String::new(), Vec::new());
    for (key, value) in url::form_urlencoded::parse(&body) {
        match key.as_ref() {
            "csrf" => csrf = value.into_owned(),
            "decision" => decision = value.into_owned(),
            "reason" => reason = value.into_owned(),
            "reward_id" => ticked.push(value.into_owned()),
            _ => {}
        }
    }
    visit.check_csrf(&csrf)?;
    let invalid = |field: &str, why: &str| {
        PageError::Api(ApiError::Validation(vec![FieldProblem::new(field, why)]))
    };
    let (verb, ids) = match decision.split_once(':') {
        Some((verb, one)) => (verb.to_owned(), vec![one.to_owned()]),
        None => (decision.clone(), ticked),
    };
    let approve = match verb.as_str() {
        "approve" => true,
        "reject" => false,
        _ => return Err(invalid("decision", "must be approve or reject")),
    };
    let reward_ids = ids
        .iter()
        .map(|id| id.parse::<uuid::Uuid>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| invalid("reward_id", "pick the rewards to decide"))?;
    if reward_ids.is_empty() {
        return Err(invalid("reward_id", "tick at least one reward"));
    }
    let results = decide_many(
        &state,
        &caller,
        &origin,
        BulkReviewRequest {
            reward_ids,
            approve,
            reason,
        },
    )
    .await?;
    let decided = results.results.iter().filter(|r| r.ok).count();
    let done = if approve { "approved" } else { "rejected" };
    Ok(see_other(&format!(
        "/portal/referrals/reviews?done={done}&n={decided}"
    )))
}
