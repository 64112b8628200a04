//! Admin: reward approval, bulk operations, the audit trail, notifications.

use crate::access::Operation;
use crate::auth::{Caller, ADMINS};
use crate::call::Call;
use crate::error::{ApiError, FieldProblem};
use crate::routes::ListQuery;
use crate::state::{AppState, AuditAction};
use crate::views::{
    ApproveRewardRequest, AuditList, AuditView, BulkItemResult, BulkRequest, BulkResponse,
    NotificationList, NotificationView, RewardView,
};
use actix_web::{web, HttpResponse};
use referral_domain::ReferralId;
use referral_store::audit::{self, AuditFilter};
use referral_store::bulk::{self, BulkOperation, MAX_BULK_IDS};
use referral_store::outbox::{self, OutboxStatus};
use referral_store::rewards;
use serde::Deserialize;
use utoipa::IntoParams;

/// Who may call `approve_reward`.
pub(crate) const APPROVE_REWARD: Operation = Operation::for_roles("approve_reward", ADMINS);

/// Approves (available, payout queued) or rejects (cancelled) the cash rewards of a referral
/// that wait for approval.
#[utoipa::path(post, path = "/api/referrals/{id}/approve-reward", operation_id = "approve_reward", tag = "admin", request_body = ApproveRewardRequest,
    params(("id" = uuid::Uuid, Path, description = "Referral id")),
    responses((status = 200, body = Vec<RewardView>), (status = 404, body = crate::error::Problem),
        (status = 409, description = "reward_not_pending_approval", body = crate::error::Problem)))]
pub async fn approve_reward(
    call: Call,
    id: web::Path<String>,
    body: crate::json_body::JsonBody<ApproveRewardRequest>,
) -> Result<HttpResponse, ApiError> {
    let rewards = decide_rewards(&call, id.into_inner(), body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(rewards))
}

/// Approves or rejects the cash rewards of a referral (audited as `reward.approve` or
/// `reward.reject`).
pub(crate) async fn decide_rewards(
    call: &Call,
    raw: String,
    body: ApproveRewardRequest,
) -> Result<Vec<RewardView>, ApiError> {
    let now = call.now();
    let action = if body.approve {
        "reward.approve"
    } else {
        "reward.reject"
    };
    call.run(
        APPROVE_REWARD,
        AuditAction::new(action, "referral", Some(raw.clone())),
        move |conn, _| {
            let id: ReferralId = raw.parse().map_err(|_| ApiError::NotFound)?;
            let reason = body
                .reason
                .as_deref()
                .map(str::trim)
                .filter(|r| !r.is_empty());
            let rewards = rewards::decide_approval(conn, id, body.approve, reason, now)?;
            Ok(rewards
                .into_iter()
                .map(RewardView::from)
                .collect::<Vec<_>>())
        },
    )
    .await
}

/// Who may call `bulk_operations`.
pub(crate) const BULK_OPERATIONS: Operation = Operation::for_roles("bulk_operations", ADMINS);

/// Applies one operation to many referrals; each succeeds or fails on its own.
#[utoipa::path(post, path = "/api/referrals/bulk-operations", operation_id = "bulk_operations", tag = "admin", request_body = BulkRequest,
    responses((status = 200, body = BulkResponse), (status = 422, body = crate::error::Problem)))]
pub async fn bulk(
    call: Call,
    body: crate::json_body::JsonBody<BulkRequest>,
) -> Result<HttpResponse, ApiError> {
    let now = call.now();
    let body = body.into_inner();
    let response = call.run(BULK_OPERATIONS,
            AuditAction::new("referral.bulk", "referral", None),
            move |conn, _| {
                let mut problems = Vec::new();
                let operation: Option<BulkOperation> = body.operation.parse().ok();
                if operation.is_none() {
                    problems.push(FieldProblem::new(
                        "operation",
                        "must be expire, decline, approve_rewards, reject_rewards or resend_invitation",
                    ));
                }
                if body.referral_ids.is_empty() || body.referral_ids.len() > MAX_BULK_IDS {
                    problems.push(FieldProblem::new(
                        "referral_ids",
                        format!("between 1 and {MAX_BULK_IDS} ids"),
                    ));
                }
                let Some(operation) = operation.filter(|_| problems.is_empty()) else {
                    return Err(ApiError::Validation(problems));
                };
                let ids: Vec<ReferralId> = body
                    .referral_ids
                    .iter()
                    .copied()
                    .map(ReferralId::from_uuid)
                    .collect();
                let reason = body
                    .reason
                    .as_deref()
                    .map(str::trim)
                    .filter(|r| !r.is_empty());
                let results: Vec<BulkItemResult> = bulk::apply(conn, operation, &ids, reason, now)
                    .into_iter()
                    .map(|(id, outcome)| BulkItemResult {
                        referral_id: id.as_uuid(),
                        ok: outcome.is_ok(),
                        code: outcome.err().map(|e| ApiError::from(e).code().to_owned()),
                    })
                    .collect();
                let succeeded = results.iter().filter(|r| r.ok).count();
                Ok(BulkResponse {
                    operation: body.operation,
                    succeeded,
                    failed: results.len() - succeeded,
                    results,
                })
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(response))
}

/// Filters of the audit trail.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
// A misspelt filter is refused, not silently ignored.
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub actor_id: Option<uuid::Uuid>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    /// `json` (default) or `csv` (a download); `limit` up to 10,000 either way.
    pub format: Option<String>,
}

/// Most rows of one CSV export.
const CSV_MAX_ROWS: i64 = 10_000;

fn audit_csv(rows: &[AuditView]) -> String {
    let mut out = String::from(
        "id,created_at,actor_id,actor_role,action,resource_type,resource_id,outcome,ip_address,user_agent\r\n",
    );
    for r in rows {
        let cells = [
            r.id.to_string(),
            r.created_at
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            r.actor_id.map(|a| a.to_string()).unwrap_or_default(),
            r.actor_role.clone(),
            r.action.clone(),
            r.resource_type.clone(),
            r.resource_id.clone().unwrap_or_default(),
            r.outcome.clone(),
            r.ip_address.clone().unwrap_or_default(),
            r.user_agent.clone().unwrap_or_default(),
        ];
        out.push_str(&crate::export::csv_line(&cells));
    }
    out
}

/// Who may call `audit_trail`.
pub(crate) const AUDIT_TRAIL: Operation = Operation::for_roles("audit_trail", ADMINS);

/// The audit trail, newest first, as JSON or (`format=csv`) a CSV download. Reading it is
/// audited too.
#[utoipa::path(get, path = "/api/referrals/audit-trail", operation_id = "audit_trail", tag = "admin", params(AuditQuery),
    responses((status = 200, body = AuditList, description = "JSON, or with format=csv a text/csv download (X-Total-Count: all matching rows)"), (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn audit_trail(
    call: Call,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => {
            return Err(ApiError::Validation(vec![FieldProblem::new(
                "format",
                "must be json or csv",
            )]))
        }
    };
    let action = if csv { "audit.export" } else { "audit.read" };
    let list = call
        .run(
            AUDIT_TRAIL,
            AuditAction::new(action, "audit_log", None),
            move |conn, _| {
                // The audit trail pages up to 10,000 rows, as JSON or as a CSV export.
                if q.limit.is_some_and(|l| !(1..=CSV_MAX_ROWS).contains(&l)) {
                    return Err(ApiError::Validation(vec![FieldProblem::new(
                        "limit",
                        format!("must be between 1 and {CSV_MAX_ROWS}"),
                    )]));
                }
                let paging = ListQuery {
                    limit: None,
                    offset: q.offset,
                    from: q.from,
                    to: q.to,
                    ..Default::default()
                };
                paging.check()?;
                let mut page = paging.page();
                page.limit = q
                    .limit
                    .unwrap_or(if csv { CSV_MAX_ROWS } else { page.limit });
                let filter = AuditFilter {
                    actor_id: q.actor_id,
                    resource_type: q.resource_type,
                    resource_id: q.resource_id,
                    action: q.action,
                    outcome: q.outcome,
                    from: q.from,
                    to: q.to,
                };
                let page = audit::list(conn, &filter, page)?;
                Ok(AuditList {
                    items: page.items.into_iter().map(AuditView::from).collect(),
                    total: page.total,
                })
            },
        )
        .await?;
    if csv {
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                actix_web::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"audit-trail.csv\"",
            ))
            .insert_header(("X-Total-Count", list.total.to_string()))
            .body(audit_csv(&list.items)));
    }
    Ok(HttpResponse::Ok().json(list))
}

/// Who may call `list_notifications`.
pub(crate) const LIST_NOTIFICATIONS: Operation = Operation::for_roles("list_notifications", ADMINS);

/// Queued, sent, failed and suppressed messages (without recipients or content); a failed
/// message says why in `last_error`.
#[utoipa::path(get, path = "/api/notifications", operation_id = "list_notifications", tag = "admin", params(ListQuery),
    responses((status = 200, body = NotificationList), (status = 403, body = crate::error::Problem),
        (status = 422, body = crate::error::Problem)))]
pub async fn notifications(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let list = list_notifications(&state, &caller, query.into_inner()).await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Messages of the outbox, for admins.
pub(crate) async fn list_notifications(
    state: &web::Data<AppState>,
    caller: &Caller,
    query: ListQuery,
) -> Result<NotificationList, ApiError> {
    caller.require(LIST_NOTIFICATIONS.roles())?;
    query.check()?;
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some("queued") => Some(OutboxStatus::Queued),
        Some("sent") => Some(OutboxStatus::Sent),
        Some("failed") => Some(OutboxStatus::Failed),
        Some("suppressed") => Some(OutboxStatus::Suppressed),
        Some(other) => {
            return Err(ApiError::Validation(vec![FieldProblem::new(
                "status",
                format!("`{other}` is not queued, sent, failed or suppressed"),
            )]))
        }
    };
    let page = query.page();
    state
        .db(move |conn| {
            let messages = outbox::list(conn, status, page)?;
            Ok(NotificationList {
                items: messages
                    .items
                    .into_iter()
                    .map(NotificationView::from)
                    .collect(),
                total: messages.total,
            })
        })
        .await
}

/// The operations of this module, for the document (`routes::OPERATIONS`).
pub(crate) const OPERATIONS: &[Operation] = &[
    APPROVE_REWARD,
    BULK_OPERATIONS,
    AUDIT_TRAIL,
    LIST_NOTIFICATIONS,
];
