//! `/portal/referrals/reviews`: rewards held for review because their referral raised a
//! fraud signal, each with its signals in words; approve or reject one, or many at once.

use crate::auth::ADMINS;
use crate::error::{ApiError, FieldProblem};
use crate::pages::paging::{page_of, rows_of, Paging};
use crate::pages::session::Visit;
use crate::pages::{label, render, reward_text, see_other, when, PageError};
use crate::routes::reviews::{decide_many, integrity_figures};
use crate::state::{AppState, AuditAction, AuditedResource};
use crate::views::{BulkReviewRequest, IntegrityView, SignalView};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use referral_domain::signals::Signal;
use referral_domain::ProgramId;
use referral_store::page::Paged;
use referral_store::programs;
use referral_store::rewards::{self, ReviewCase, ReviewFilter};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Query of the reviews page.
#[derive(Debug, Default, Deserialize)]
pub struct ReviewsPageQuery {
    /// Only this signal's rewards.
    signal: Option<String>,
    /// What the last decision did.
    done: Option<String>,
    /// How many it decided.
    n: Option<usize>,
    /// Which page of cases.
    page: Option<String>,
}

/// One page of cases, with the names of their programs.
struct Cases {
    cases: Paged<ReviewCase>,
    programs: HashMap<ProgramId, String>,
}

impl AuditedResource for Cases {}

/// `GET /portal/referrals/reviews`: one case per referral, its signals holding every one
/// of its rewards; decided one case or many at a time.
pub async fn reviews(
    state: web::Data<AppState>,
    visit: Visit,
    query: web::Query<ReviewsPageQuery>,
) -> Result<HttpResponse, PageError> {
    let call = visit.admin_call()?;
    let query = query.into_inner();
    let signal_code = query
        .signal
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let signal = match signal_code.as_deref() {
        None => None,
        Some(code) => Some(Signal::from_code(code).ok_or_else(|| {
            PageError::Api(ApiError::Validation(vec![FieldProblem::new(
                "signal",
                "Choose a signal from the list",
            )]))
        })?),
    };
    let number = page_of(query.page.as_deref());
    let now = state.now();
    let found = call
        .run_for(
            ADMINS,
            AuditAction::new("reward.review_list", "reward", None),
            move |conn, _| {
                let filter = ReviewFilter {
                    signal,
                    program_id: None,
                };
                Ok(Cases {
                    cases: rewards::review_cases(conn, filter, rows_of(number), now)?,
                    programs: programs::names(conn)?,
                })
            },
        )
        .await?;
    let figures = integrity_figures(&call, None).await?;
    let n = query.n.unwrap_or(0);
    let flash = match query.done.as_deref() {
        Some("approved") => Some(format!("{n} reward(s) approved.")),
        Some("rejected") => Some(format!("{n} reward(s) rejected.")),
        _ => None,
    };
    let keep = signal_code
        .as_deref()
        .map(|s| format!("signal={}", crate::pages::percent_encode(s)))
        .unwrap_or_default();
    let rewards_in_review: usize = found.cases.items.iter().map(|c| c.rewards.len()).sum();
    let page = ReviewsPage {
        title: "Reward reviews",
        nav: "portal",
        flash,
        total: found.cases.total,
        on_page: rewards_in_review,
        paging: Paging::new(
            "/portal/referrals/reviews",
            &keep,
            number,
            found.cases.total,
        ),
        figures,
        signals: Signal::ALL
            .iter()
            .map(|s| SignalOption {
                code: s.as_str(),
                name: label(s.as_str()),
                selected: signal_code.as_deref() == Some(s.as_str()),
            })
            .collect(),
        rows: found
            .cases
            .items
            .iter()
            .map(|case| ReviewRow {
                reward_ids: case
                    .rewards
                    .iter()
                    .map(|r| r.id.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
                short: case.referral_id.to_string().chars().take(8).collect(),
                program: found
                    .programs
                    .get(&case.program_id)
                    .cloned()
                    .unwrap_or_default(),
                rewards: case
                    .rewards
                    .iter()
                    .map(|r| RewardLine {
                        what: reward_text(Some(r.reward_type), r.reward_amount.clone()),
                        party: label(r.party.as_str()),
                    })
                    .collect(),
                created: case
                    .rewards
                    .first()
                    .map(|r| when(r.created_at))
                    .unwrap_or_default(),
                signals: case
                    .signals
                    .iter()
                    .map(|s| SignalLine {
                        name: label(s.signal.as_str()),
                        explanation: SignalView::of(s).explanation,
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
    /// Cases (referrals) waiting.
    total: i64,
    /// Rewards in the cases of this page.
    on_page: usize,
    paging: Paging,
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

/// One referral's case.
#[derive(Debug, Serialize)]
struct ReviewRow {
    /// Its rewards in review, comma-separated: deciding the case decides them all.
    reward_ids: String,
    short: String,
    program: String,
    rewards: Vec<RewardLine>,
    created: String,
    signals: Vec<SignalLine>,
}

#[derive(Debug, Serialize)]
struct RewardLine {
    what: String,
    party: String,
}

#[derive(Debug, Serialize)]
struct SignalLine {
    name: String,
    explanation: String,
}

/// `POST /portal/referrals/reviews`: the form's `decision` is `approve` or `reject` for the
/// ticked `reward_id`s, or `approve:<id>` / `reject:<id>` for one row's buttons.
pub async fn decide(visit: Visit, body: web::Bytes) -> Result<HttpResponse, PageError> {
    let call = visit.admin_call()?;
    let (mut csrf, mut decision, mut reason, mut ticked) =
        (String::new(), String::new(), String::new(), Vec::new());
    for (key, value) in url::form_urlencoded::parse(&body) {
        match key.as_ref() {
            "csrf" => csrf = value.into_owned(),
            "decision" => decision = value.into_owned(),
            "reason" => reason = value.into_owned(),
            // A case's box carries all its rewards' ids.
            "reward_id" => ticked.extend(value.split(',').map(str::to_owned)),
            _ => {}
        }
    }
    visit.check_csrf(&csrf)?;
    let invalid = |field: &str, why: &str| {
        PageError::Api(ApiError::Validation(vec![FieldProblem::new(field, why)]))
    };
    let (verb, ids) = match decision.split_once(':') {
        Some((verb, case)) => (
            verb.to_owned(),
            case.split(',').map(str::to_owned).collect(),
        ),
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
        &call,
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
