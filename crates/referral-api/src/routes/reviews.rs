//! The review queue of flagged rewards, the clawbacks of reversed ones, and the integrity
//! figures (admin, super-admin).

use crate::access::Operation;
use crate::auth::{Caller, ADMINS};
use crate::call::Call;
use crate::error::{ApiError, FieldProblem};

use crate::state::AuditAction;
use crate::views::{
    BulkReviewRequest, BulkReviewResponse, ClawbackList, ClawbackView, IntegrityView,
    ReviewDecisionRequest, ReviewItemView, ReviewList, RewardView,
};
use actix_web::{web, HttpResponse};
use referral_domain::signals::Signal;
use referral_domain::{ProgramId, RewardId};
use referral_store::page::Page;
use referral_store::rewards::{self, ReviewDecision, ReviewFilter, MAX_BULK_REVIEW};
use serde::Deserialize;
use utoipa::IntoParams;

/// Query of the review queue.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReviewQuery {
    /// Only rewards whose referral raised this signal (`same_network`, `disposable_email`,
    /// `alias_of_referrer`, `velocity`, `ring`, `invited_address_mismatch`).
    pub signal: Option<String>,
    /// Only this program's rewards.
    pub program_id: Option<uuid::Uuid>,
    /// Rows per page (default 50, at most 500).
    pub limit: Option<i64>,
    /// Rows to skip.
    pub offset: Option<i64>,
}

impl ReviewQuery {
    fn parse(&self) -> Result<(ReviewFilter, Page), ApiError> {
        let mut problems = Vec::new();
        let signal = match self.signal.as_deref() {
            None => None,
            Some(code) => {
                let parsed = Signal::from_code(code);
                if parsed.is_none() {
                    problems.push(FieldProblem::new("signal", "must be a signal code"));
                }
                parsed
            }
        };
        if !problems.is_empty() {
            return Err(ApiError::Validation(problems));
        }
        // Paging is checked as every list checks it.
        let page = crate::routes::PageQuery {
            limit: self.limit,
            offset: self.offset,
        }
        .checked()?;
        Ok((
            ReviewFilter {
                signal,
                program_id: self.program_id.map(ProgramId::from_uuid),
            },
            page,
        ))
    }
}

/// Who may call `list_reward_reviews`.
pub(crate) const LIST_REWARD_REVIEWS: Operation =
    Operation::for_roles("list_reward_reviews", ADMINS);

/// The rewards waiting for review, oldest first, each with the signals of its referral in
/// words and the evidence that raised them.
#[utoipa::path(get, path = "/api/reward-reviews", operation_id = "list_reward_reviews", tag = "admin",
    params(ReviewQuery),
    responses((status = 200, body = ReviewList), (status = 403, body = crate::error::Problem),
        (status = 422, body = crate::error::Problem)))]
pub async fn list(call: Call, query: web::Query<ReviewQuery>) -> Result<HttpResponse, ApiError> {
    let list = review_queue(&call, query.into_inner()).await?;
    Ok(HttpResponse::Ok().json(list))
}

/// The review queue (audited as `reward.review_list`), for the API and the portal page.
pub(crate) async fn review_queue(call: &Call, query: ReviewQuery) -> Result<ReviewList, ApiError> {
    let now = call.now();
    call.run(
        LIST_REWARD_REVIEWS,
        AuditAction::new("reward.review_list", "reward", None),
        move |conn, _| {
            let (filter, page) = query.parse()?;
            let page = rewards::reviews(conn, filter, page, now)?;
            Ok(ReviewList {
                items: page.items.into_iter().map(ReviewItemView::from).collect(),
                total: page.total,
            })
        },
    )
    .await
}

use referral_domain::reward::MAX_REVIEW_REASON_CHARS;

fn decision(
    body: &ReviewDecisionRequest,
    caller: &Caller,
    referrer_cadence: referral_domain::RewardCadence,
) -> Result<ReviewDecision, ApiError> {
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REVIEW_REASON_CHARS {
        return Err(ApiError::Validation(vec![FieldProblem::new(
            "reason",
            format!(
                "why, in 1 to {MAX_REVIEW_REASON_CHARS} characters: it is kept with the decision"
            ),
        )]));
    }
    Ok(ReviewDecision {
        approve: body.approve,
        reason: reason.to_owned(),
        decided_by: Some(caller.id()),
        referrer_cadence,
    })
}

/// Who may call `decide_reward_review`.
pub(crate) const DECIDE_REWARD_REVIEW: Operation =
    Operation::for_roles("decide_reward_review", ADMINS);

/// Approves (the reward goes on, into its hold if one remains; the patient is told once it
/// is usable) or rejects (cancelled, reason `review_rejected`) a reward in review. The
/// decision is kept with its reason and audited.
#[utoipa::path(post, path = "/api/reward-reviews/{reward_id}/decide", operation_id = "decide_reward_review", tag = "admin",
    request_body = ReviewDecisionRequest,
    params(("reward_id" = uuid::Uuid, Path, description = "Reward id")),
    responses((status = 200, body = RewardView), (status = 404, body = crate::error::Problem),
        (status = 409, description = "reward_not_in_review", body = crate::error::Problem),
        (status = 422, body = crate::error::Problem)))]
pub async fn decide(
    call: Call,
    id: web::Path<String>,
    body: crate::json_body::JsonBody<ReviewDecisionRequest>,
) -> Result<HttpResponse, ApiError> {
    let view = decide_one(&call, id.into_inner(), body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// One review decision (audited as `reward.review`, naming the reward).
pub(crate) async fn decide_one(
    call: &Call,
    raw: String,
    body: ReviewDecisionRequest,
) -> Result<RewardView, ApiError> {
    let now = call.now();
    let cadence = call.state.policy.referrer_cadence;
    let who = call.caller.clone();
    call.audited_within(
        AuditAction::new("reward.review", "reward", Some(raw.clone())),
        move |conn, audit| {
            who.require(DECIDE_REWARD_REVIEW.roles())?;
            let id: RewardId = raw.parse().map_err(|_| ApiError::NotFound)?;
            let decision = decision(&body, &who, cadence)?;
            let reward = rewards::decide_review(conn, id, &decision, now, Some(audit))?;
            Ok(RewardView::from(reward))
        },
    )
    .await
}

/// Who may call `bulk_decide_reward_reviews`.
pub(crate) const BULK_DECIDE_REWARD_REVIEWS: Operation =
    Operation::for_roles("bulk_decide_reward_reviews", ADMINS);

/// Decides up to 1,000 rewards in review at once, with one reason; each is decided (and
/// audited) on its own, and one that cannot be (unknown, not in review) is reported.
#[utoipa::path(post, path = "/api/reward-reviews/bulk-decide", operation_id = "bulk_decide_reward_reviews", tag = "admin",
    request_body = BulkReviewRequest,
    responses((status = 200, body = BulkReviewResponse), (status = 422, body = crate::error::Problem)))]
pub async fn bulk_decide(
    call: Call,
    body: crate::json_body::JsonBody<BulkReviewRequest>,
) -> Result<HttpResponse, ApiError> {
    let response = decide_many(&call, body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(response))
}

/// Many review decisions (each audited as `reward.review`).
pub(crate) async fn decide_many(
    call: &Call,
    body: BulkReviewRequest,
) -> Result<BulkReviewResponse, ApiError> {
    let now = call.now();
    let cadence = call.state.policy.referrer_cadence;
    let who = call.caller.clone();
    call.audited_within(
        AuditAction::new("reward.review", "reward", None),
        move |conn, audit| {
            who.require(BULK_DECIDE_REWARD_REVIEWS.roles())?;
            if body.reward_ids.is_empty() || body.reward_ids.len() > MAX_BULK_REVIEW {
                return Err(ApiError::Validation(vec![FieldProblem::new(
                    "reward_ids",
                    format!("between 1 and {MAX_BULK_REVIEW} ids"),
                )]));
            }
            let decision = decision(
                &ReviewDecisionRequest {
                    approve: body.approve,
                    reason: body.reason.clone(),
                },
                &who,
                cadence,
            )?;
            let ids: Vec<RewardId> = body
                .reward_ids
                .iter()
                .copied()
                .map(RewardId::from_uuid)
                .collect();
            let results = rewards::decide_reviews(conn, &ids, &decision, now, Some(audit))?;
            Ok(BulkReviewResponse::from(results))
        },
    )
    .await
}

/// Who may call `list_reward_clawbacks`.
pub(crate) const LIST_REWARD_CLAWBACKS: Operation =
    Operation::for_roles("list_reward_clawbacks", ADMINS);

/// Rewards that were used or paid before their conversion was reversed, newest first: what
/// the admins may want to recover (no negative balance is invented).
#[utoipa::path(get, path = "/api/reward-clawbacks", operation_id = "list_reward_clawbacks", tag = "admin",
    params(crate::routes::PageQuery),
    responses((status = 200, body = ClawbackList), (status = 403, body = crate::error::Problem)))]
pub async fn clawbacks(
    call: Call,
    query: web::Query<crate::routes::PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let list = call
        .run(
            LIST_REWARD_CLAWBACKS,
            AuditAction::new("reward.clawback_list", "reward", None),
            move |conn, _| {
                let page = query.checked()?;
                let page = referral_store::reversals::clawbacks(conn, page)?;
                Ok(ClawbackList {
                    items: page.items.into_iter().map(ClawbackView::from).collect(),
                    total: page.total,
                })
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Query of the integrity figures.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct IntegrityQuery {
    /// One program (default all).
    pub program_id: Option<uuid::Uuid>,
}

/// Who may call `referral_integrity`.
pub(crate) const REFERRAL_INTEGRITY: Operation = Operation::for_roles("referral_integrity", ADMINS);

/// Reward integrity in figures: referrals flagged (per signal), rewards held, in review,
/// rejected and reversed, clawbacks, and the value saved.
#[utoipa::path(get, path = "/api/referrals/integrity", operation_id = "referral_integrity", tag = "admin",
    params(IntegrityQuery),
    responses((status = 200, body = IntegrityView), (status = 403, body = crate::error::Problem)))]
pub async fn integrity(
    call: Call,
    query: web::Query<IntegrityQuery>,
) -> Result<HttpResponse, ApiError> {
    let view = integrity_figures(&call, query.into_inner().program_id).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// The integrity figures (audited as `referral.integrity`), for the API and the portal.
pub(crate) async fn integrity_figures(
    call: &Call,
    program: Option<uuid::Uuid>,
) -> Result<IntegrityView, ApiError> {
    call.run(
        REFERRAL_INTEGRITY,
        AuditAction::new("referral.integrity", "referral", None),
        move |conn, _| {
            let figures =
                referral_store::analytics::integrity(conn, program.map(ProgramId::from_uuid))?;
            Ok(IntegrityView::from(figures))
        },
    )
    .await
}

/// The operations of this module, for the document (`routes::OPERATIONS`).
pub(crate) const OPERATIONS: &[Operation] = &[
    LIST_REWARD_REVIEWS,
    DECIDE_REWARD_REVIEW,
    BULK_DECIDE_REWARD_REVIEWS,
    LIST_REWARD_CLAWBACKS,
    REFERRAL_INTEGRITY,
];
