//! Redeeming a reward: by the patient who owns it, or by a platform service.

use crate::access::Operation;
use crate::auth::Role;
use crate::call::Call;
use crate::error::{ApiError, FieldProblem};

use crate::state::AuditAction;
use crate::views::{RedeemRequest, RewardView};
use actix_web::{web, HttpResponse};
use referral_domain::{ConsultationId, OrderId, PatientId, RedemptionTarget, RewardId};
use referral_store::rewards;

/// Who may call `redeem_reward`.
pub(crate) const REDEEM_REWARD: Operation =
    Operation::for_roles("redeem_reward", &[Role::Patient, Role::Service]);

/// Uses a reward once, on an order or a consultation. Another patient's reward answers 404;
/// a used, expired or cancelled one 409 `reward_not_available`.
#[utoipa::path(post, path = "/api/rewards/{id}/redeem", operation_id = "redeem_reward", tag = "rewards", request_body = RedeemRequest,
    params(("id" = uuid::Uuid, Path, description = "Reward id")),
    responses((status = 200, body = RewardView), (status = 404, body = crate::error::Problem),
        (status = 409, description = "reward_not_available", body = crate::error::Problem),
        (status = 422, body = crate::error::Problem)))]
pub async fn redeem(
    call: Call,
    id: web::Path<String>,
    body: crate::json_body::JsonBody<RedeemRequest>,
) -> Result<HttpResponse, ApiError> {
    let now = call.now();
    let raw = id.into_inner();
    let body = body.into_inner();
    let policy = call.state.policy.clone();
    let view = call
        .run(
            REDEEM_REWARD,
            AuditAction::new("reward.redeem", "reward", Some(raw.clone())),
            move |conn, who| {
                let id: RewardId = raw.parse().map_err(|_| ApiError::NotFound)?;
                let target = match (body.order_id, body.consultation_id) {
                    (Some(o), None) => RedemptionTarget::Order(OrderId::from_uuid(o)),
                    (None, Some(c)) => RedemptionTarget::Consultation(ConsultationId::from_uuid(c)),
                    _ => {
                        return Err(ApiError::Validation(vec![FieldProblem::new(
                            "order_id",
                            "give exactly one of order_id and consultation_id",
                        )]))
                    }
                };
                let mut problems = Vec::new();
                let amount = crate::views::parse_money("amount", &body.amount, &mut problems);
                if !problems.is_empty() {
                    return Err(ApiError::Validation(problems));
                }
                let owner = (who.role() == Role::Patient).then(|| PatientId::from_uuid(who.id()));
                let redemption = rewards::Redemption { target, amount };
                Ok(RewardView::from(rewards::redeem(
                    conn,
                    id,
                    owner,
                    &redemption,
                    &policy,
                    now,
                )?))
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// The operations of this module, for the document (`routes::OPERATIONS`).
pub(crate) const OPERATIONS: &[Operation] = &[REDEEM_REWARD];
