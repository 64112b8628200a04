//! Platform events from other services (role `service`), idempotent on the event's own id.

use crate::auth::{Caller, Role};
use crate::error::{ApiError, FieldProblem};
use crate::routes::now;
use crate::state::{AppState, AuditAction, Origin};
use crate::views::{
    CancellationEventRequest, ConsultationEventRequest, EventResultView, OrderEventRequest,
    RefundEventRequest, ReversalResultView, RewardView,
};
use actix_web::{web, HttpResponse};
use referral_domain::{ConsultationId, Money, OrderId, PatientId};
use referral_store::events::{self, ConsultationEvent, EventOutcome, OrderEvent};
use referral_store::reversals::{self, CancellationEvent, RefundEvent};

fn view(outcome: EventOutcome) -> EventResultView {
    match outcome {
        EventOutcome::Duplicate => EventResultView {
            outcome: "duplicate".into(),
            referral_id: None,
            referrer_reward: None,
        },
        EventOutcome::Recorded => EventResultView {
            outcome: "recorded".into(),
            referral_id: None,
            referrer_reward: None,
        },
        EventOutcome::AlreadyConverted { referral_id } => EventResultView {
            outcome: "already_converted".into(),
            referral_id: Some(referral_id.as_uuid()),
            referrer_reward: None,
        },
        EventOutcome::Converted {
            referral_id,
            referrer_reward,
        } => EventResultView {
            outcome: "converted".into(),
            referral_id: Some(referral_id.as_uuid()),
            referrer_reward: referrer_reward.map(RewardView::from),
        },
    }
}

/// A consultation happened. The first one of a referred patient converts their referral.
#[utoipa::path(post, path = "/api/events/consultations", operation_id = "report_consultation", tag = "platform events", request_body = ConsultationEventRequest,
    responses((status = 200, body = EventResultView), (status = 400, body = crate::error::Problem),
        (status = 403, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn consultation(
    state: web::Data<AppState>,
    caller: Caller,
    origin: Origin,
    body: crate::json_body::JsonBody<ConsultationEventRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let app = state.clone();
    let who = caller.clone();
    let result = state
        .audited_within(
            &caller,
            &origin,
            AuditAction::new("event.consultation", "referral", None),
            move |conn, audit| {
                who.require(&[Role::Service])?;
                let event = ConsultationEvent {
                    patient_id: PatientId::from_uuid(body.patient_id),
                    consultation_id: ConsultationId::from_uuid(body.consultation_id),
                    occurred_at: body.occurred_at,
                };
                Ok(view(events::record_consultation(
                    conn,
                    &event,
                    &app.policy,
                    now(),
                    Some(audit),
                )?))
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(result))
}

/// An order was placed. The first paid one of a referred patient converts their referral.
#[utoipa::path(post, path = "/api/events/orders", operation_id = "report_order", tag = "platform events", request_body = OrderEventRequest,
    responses((status = 200, body = EventResultView), (status = 422, body = crate::error::Problem),
        (status = 403, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn order(
    state: web::Data<AppState>,
    caller: Caller,
    origin: Origin,
    body: crate::json_body::JsonBody<OrderEventRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let app = state.clone();
    let who = caller.clone();
    let result = state
        .audited_within(
            &caller,
            &origin,
            AuditAction::new("event.order", "referral", None),
            move |conn, audit| {
                who.require(&[Role::Service])?;
                let amount: Money = serde_json::from_value(body.amount.clone()).map_err(|e| {
                    ApiError::Validation(vec![FieldProblem::new("amount", e.to_string())])
                })?;
                let event = OrderEvent {
                    patient_id: PatientId::from_uuid(body.patient_id),
                    order_id: OrderId::from_uuid(body.order_id),
                    amount,
                    occurred_at: body.occurred_at,
                };
                Ok(view(events::record_order(
                    conn,
                    &event,
                    &app.policy,
                    now(),
                    Some(audit),
                )?))
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(result))
}

/// An order was refunded. When the refunds leave less than the program's
/// `min_order_amount` paid (or nothing) of the order that converted a referral, the
/// referral is reversed: its referrer reward is cancelled if unused, or recorded as a
/// clawback if it was used or paid.
#[utoipa::path(post, path = "/api/events/refunds", operation_id = "report_refund", tag = "platform events", request_body = RefundEventRequest,
    responses((status = 200, body = ReversalResultView), (status = 422, body = crate::error::Problem),
        (status = 403, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn refund(
    state: web::Data<AppState>,
    caller: Caller,
    origin: Origin,
    body: crate::json_body::JsonBody<RefundEventRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let who = caller.clone();
    let result = state
        .audited_within(
            &caller,
            &origin,
            AuditAction::new("event.refund", "referral", None),
            move |conn, audit| {
                who.require(&[Role::Service])?;
                let amount: Money = serde_json::from_value(body.amount.clone()).map_err(|e| {
                    ApiError::Validation(vec![FieldProblem::new("amount", e.to_string())])
                })?;
                let event = RefundEvent {
                    patient_id: PatientId::from_uuid(body.patient_id),
                    order_id: OrderId::from_uuid(body.order_id),
                    refund_id: body.refund_id,
                    amount,
                    occurred_at: body.occurred_at,
                };
                Ok(ReversalResultView::from(reversals::record_refund(
                    conn,
                    &event,
                    now(),
                    Some(audit),
                )?))
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(result))
}

/// A consultation was cancelled. When it converted a referral, the referral is reversed
/// (see `report_refund`).
#[utoipa::path(post, path = "/api/events/consultation-cancellations", operation_id = "report_consultation_cancellation", tag = "platform events", request_body = CancellationEventRequest,
    responses((status = 200, body = ReversalResultView), (status = 422, body = crate::error::Problem),
        (status = 403, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn consultation_cancellation(
    state: web::Data<AppState>,
    caller: Caller,
    origin: Origin,
    body: crate::json_body::JsonBody<CancellationEventRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let who = caller.clone();
    let result = state
        .audited_within(
            &caller,
            &origin,
            AuditAction::new("event.consultation_cancellation", "referral", None),
            move |conn, audit| {
                who.require(&[Role::Service])?;
                let event = CancellationEvent {
                    patient_id: PatientId::from_uuid(body.patient_id),
                    consultation_id: ConsultationId::from_uuid(body.consultation_id),
                    cancellation_id: body.cancellation_id,
                    occurred_at: body.occurred_at,
                };
                Ok(ReversalResultView::from(reversals::record_cancellation(
                    conn,
                    &event,
                    now(),
                    Some(audit),
                )?))
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(result))
}
