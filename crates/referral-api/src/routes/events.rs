//! Platform events from other services (role `service`), idempotent on the event's own id.

use crate::access::Operation;
use crate::auth::Role;
use crate::call::Call;
use crate::error::{ApiError, FieldProblem};

use crate::state::{AppState, AuditAction};
use crate::views::events::{event_outcome_name, reversal_outcome_name};
use crate::views::{
    BatchEvent, BatchEventResult, BatchEventsRequest, BatchEventsResponse,
    CancellationEventRequest, ConsultationEventRequest, EventResultView, OrderEventRequest,
    RefundEventRequest, ReversalResultView, RewardView,
};
use actix_web::HttpResponse;
use referral_domain::{ConsultationId, Money, OrderId, PatientId};
use referral_store::events::{self, ConsultationEvent, EventOutcome, OrderEvent};
use referral_store::reversals::{self, CancellationEvent, RefundEvent, ReversalOutcome};

fn view(outcome: EventOutcome) -> EventResultView {
    let name = event_outcome_name(&outcome).to_owned();
    match outcome {
        EventOutcome::Duplicate | EventOutcome::Recorded => EventResultView {
            outcome: name,
            referral_id: None,
            referrer_reward: None,
        },
        EventOutcome::AlreadyConverted { referral_id } => EventResultView {
            outcome: name,
            referral_id: Some(referral_id.as_uuid()),
            referrer_reward: None,
        },
        EventOutcome::Converted {
            referral_id,
            referrer_reward,
        } => EventResultView {
            outcome: name,
            referral_id: Some(referral_id.as_uuid()),
            referrer_reward: referrer_reward.map(RewardView::from),
        },
    }
}

/// What a single event route answers: a conversion's outcome or a reversal's.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum SingleOutcome {
    Event(Box<EventResultView>),
    Reversal(ReversalResultView),
}

/// Runs one platform event as its own route: the roles `operation` declares, one
/// transaction with its audit row (`action`), the event applied as a batch applies it
/// ([`apply_one`]), and the outcome as JSON. The four event routes differ only in these
/// three arguments.
async fn report(
    call: Call,
    operation: Operation,
    action: &'static str,
    event: BatchEvent,
) -> Result<HttpResponse, ApiError> {
    let (who, app) = (call.caller.clone(), call.state.clone());
    let outcome = call
        .audited_within(
            AuditAction::new(action, "referral", None),
            move |conn, audit| {
                who.require(operation.roles())?;
                Ok(match apply_one(conn, &app, event, audit)? {
                    BatchOutcome::Event(outcome) => SingleOutcome::Event(Box::new(view(outcome))),
                    BatchOutcome::Reversal(outcome) => {
                        SingleOutcome::Reversal(ReversalResultView::from(outcome))
                    }
                })
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(outcome))
}

/// Who may call `report_consultation`.
pub(crate) const REPORT_CONSULTATION: Operation =
    Operation::for_roles("report_consultation", &[Role::Service]);

/// A consultation happened. The first one of a referred patient converts their referral.
#[utoipa::path(post, path = "/api/events/consultations", operation_id = "report_consultation", tag = "platform events", request_body = ConsultationEventRequest,
    responses((status = 200, body = EventResultView), (status = 400, body = crate::error::Problem),
        (status = 403, body = crate::error::Problem)))]
pub async fn consultation(
    call: Call,
    body: crate::json_body::JsonBody<ConsultationEventRequest>,
) -> Result<HttpResponse, ApiError> {
    let event = BatchEvent::Consultation(body.into_inner());
    report(call, REPORT_CONSULTATION, "event.consultation", event).await
}

/// Who may call `report_order`.
pub(crate) const REPORT_ORDER: Operation = Operation::for_roles("report_order", &[Role::Service]);

/// An order was placed. The first paid one of a referred patient converts their referral.
#[utoipa::path(post, path = "/api/events/orders", operation_id = "report_order", tag = "platform events", request_body = OrderEventRequest,
    responses((status = 200, body = EventResultView), (status = 422, body = crate::error::Problem),
        (status = 403, body = crate::error::Problem)))]
pub async fn order(
    call: Call,
    body: crate::json_body::JsonBody<OrderEventRequest>,
) -> Result<HttpResponse, ApiError> {
    let event = BatchEvent::Order(body.into_inner());
    report(call, REPORT_ORDER, "event.order", event).await
}

/// Who may call `report_refund`.
pub(crate) const REPORT_REFUND: Operation = Operation::for_roles("report_refund", &[Role::Service]);

/// An order was refunded. When the refunds leave less than the program's
/// `min_order_amount` paid (or nothing) of the order that converted a referral, the
/// referral is reversed: its referrer reward is cancelled if unused, or recorded as a
/// clawback if it was used or paid.
#[utoipa::path(post, path = "/api/events/refunds", operation_id = "report_refund", tag = "platform events", request_body = RefundEventRequest,
    responses((status = 200, body = ReversalResultView), (status = 422, body = crate::error::Problem),
        (status = 403, body = crate::error::Problem)))]
pub async fn refund(
    call: Call,
    body: crate::json_body::JsonBody<RefundEventRequest>,
) -> Result<HttpResponse, ApiError> {
    let event = BatchEvent::Refund(body.into_inner());
    report(call, REPORT_REFUND, "event.refund", event).await
}

/// Who may call `report_consultation_cancellation`.
pub(crate) const REPORT_CONSULTATION_CANCELLATION: Operation =
    Operation::for_roles("report_consultation_cancellation", &[Role::Service]);

/// A consultation was cancelled. When it converted a referral, the referral is reversed
/// (see `report_refund`).
#[utoipa::path(post, path = "/api/events/consultation-cancellations", operation_id = "report_consultation_cancellation", tag = "platform events", request_body = CancellationEventRequest,
    responses((status = 200, body = ReversalResultView), (status = 422, body = crate::error::Problem),
        (status = 403, body = crate::error::Problem)))]
pub async fn consultation_cancellation(
    call: Call,
    body: crate::json_body::JsonBody<CancellationEventRequest>,
) -> Result<HttpResponse, ApiError> {
    let event = BatchEvent::ConsultationCancellation(body.into_inner());
    report(
        call,
        REPORT_CONSULTATION_CANCELLATION,
        "event.consultation_cancellation",
        event,
    )
    .await
}

/// Most events in one batch.
pub use referral_domain::batch::MAX_BATCH_EVENTS;

/// Who may call `report_events_batch`.
pub(crate) const REPORT_EVENTS_BATCH: Operation =
    Operation::for_roles("report_events_batch", &[Role::Service]);

/// Up to 1,000 platform events of any type in one request, for backfills and platforms that
/// queue events: one patient's events applied in the order sent, up to [`BATCH_LANES`]
/// patients at a time; each event in its own transaction and idempotent on its own id, each
/// audited; one event's error does not stop the others. Results come in request order.
#[utoipa::path(post, path = "/api/events/batch", operation_id = "report_events_batch", tag = "platform events", request_body = BatchEventsRequest,
    responses((status = 200, body = BatchEventsResponse), (status = 422, body = crate::error::Problem),
        (status = 403, body = crate::error::Problem)))]
pub async fn batch(
    call: Call,
    body: crate::json_body::JsonBody<BatchEventsRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let action = || AuditAction::new("event.batch", "referral", None);
    let ids: Vec<(uuid::Uuid, uuid::Uuid)> = body
        .events
        .iter()
        .map(|e| (e.event_id(), e.patient_id()))
        .collect();
    let refusal = call
        .caller
        .require(REPORT_EVENTS_BATCH.roles())
        .err()
        .or_else(|| {
            (body.events.is_empty() || body.events.len() > MAX_BATCH_EVENTS).then(|| {
                ApiError::Validation(vec![FieldProblem::new(
                    "events",
                    format!("between 1 and {MAX_BATCH_EVENTS} events"),
                )])
            })
        })
        .or_else(|| {
            referral_domain::batch::id_shared_between_patients(&ids).map(|i| {
                ApiError::Validation(vec![FieldProblem::new(
                    &format!("events[{i}]"),
                    "its id is used in this batch for another patient: nothing was applied",
                )])
            })
        });
    if let Some(refusal) = refusal {
        // Audited as any refused request is.
        return call
            .audited_within(action(), move |_, _| Err::<(), _>(refusal))
            .await
            .map(|()| HttpResponse::Ok().finish());
    }
    // Different patients' events side by side, each patient's in the order sent.
    let patients: Vec<uuid::Uuid> = body.events.iter().map(BatchEvent::patient_id).collect();
    let mut events: Vec<Option<BatchEvent>> = body.events.into_iter().map(Some).collect();
    let lanes = referral_domain::batch::lanes(&patients, BATCH_LANES)
        .into_iter()
        .map(|positions| {
            let lane: Vec<(usize, BatchEvent)> = positions
                .into_iter()
                .filter_map(|i| events.get_mut(i).and_then(Option::take).map(|e| (i, e)))
                .collect();
            let indices: Vec<usize> = lane.iter().map(|(i, _)| *i).collect();
            let app = call.state.clone();
            let turns = call.state.batch_lanes.clone();
            let call = &call;
            async move {
                // Lanes of every batch take turns for their connections, instead of
                // waiting out the pool's checkout timeout behind each other.
                let _turn = turns.acquire_owned().await.ok();
                let applied = call
                    .audited_within(action(), move |conn, audit| {
                        Ok(lane
                            .into_iter()
                            .map(|(index, event)| {
                                let outcome = apply_one(conn, &app, event, audit);
                                if let Err(e) = &outcome {
                                    // The event's own transaction rolled back with its
                                    // audit row: the failure is recorded on its own.
                                    audit_failure(conn, &app, audit, e.code());
                                }
                                batch_result(index, outcome)
                            })
                            .collect::<Vec<_>>())
                    })
                    .await;
                // No connection for the lane: none of its events ran, and each says so;
                // the other lanes' results stand.
                applied.unwrap_or_else(|e| indices.into_iter().map(|i| failed(i, &e)).collect())
            }
        });
    let mut results: Vec<BatchEventResult> = futures_util::future::join_all(lanes)
        .await
        .into_iter()
        .flatten()
        .collect();
    results.sort_by_key(|r| r.index);
    Ok(HttpResponse::Ok().json(BatchEventsResponse { results }))
}

/// Writes the audit row of a batch's failed event, with the error's code as its outcome.
fn audit_failure(
    conn: &mut referral_store::DbConnection,
    app: &AppState,
    (entry, keyring): referral_store::events::AuditWith<'_>,
    code: &str,
) {
    let mut failed = entry.clone();
    failed.outcome = code.to_owned();
    if let Err(e) = referral_store::audit::append(conn, keyring, &failed, app.now()) {
        tracing::warn!(error = %e, "a failed batch event could not be audited");
    }
}

/// How many of a batch's patients are applied at the same time (each lane holds one
/// database connection while it runs).
pub const BATCH_LANES: usize = 4;

/// What one event of a batch did, or why it failed.
enum BatchOutcome {
    Event(EventOutcome),
    Reversal(ReversalOutcome),
}

fn apply_one(
    conn: &mut referral_store::DbConnection,
    app: &AppState,
    event: BatchEvent,
    audit: referral_store::events::AuditWith<'_>,
) -> Result<BatchOutcome, ApiError> {
    let now = app.now();
    Ok(match event {
        BatchEvent::Consultation(e) => BatchOutcome::Event(events::record_consultation(
            conn,
            &consultation_event(e),
            &app.policy,
            now,
            Some(audit),
        )?),
        BatchEvent::Order(e) => BatchOutcome::Event(events::record_order(
            conn,
            &order_event(e)?,
            &app.policy,
            now,
            Some(audit),
        )?),
        BatchEvent::Refund(e) => BatchOutcome::Reversal(reversals::record_refund(
            conn,
            &refund_event(e)?,
            now,
            Some(audit),
        )?),
        BatchEvent::ConsultationCancellation(e) => BatchOutcome::Reversal(
            reversals::record_cancellation(conn, &cancellation_event(e), now, Some(audit))?,
        ),
    })
}

/// An amount of money in a request (a decimal string or a whole number).
fn amount(value: serde_json::Value) -> Result<Money, ApiError> {
    serde_json::from_value(value)
        .map_err(|e| ApiError::Validation(vec![FieldProblem::new("amount", e.to_string())]))
}

fn consultation_event(e: ConsultationEventRequest) -> ConsultationEvent {
    ConsultationEvent {
        patient_id: PatientId::from_uuid(e.patient_id),
        consultation_id: ConsultationId::from_uuid(e.consultation_id),
        occurred_at: e.occurred_at,
    }
}

fn order_event(e: OrderEventRequest) -> Result<OrderEvent, ApiError> {
    Ok(OrderEvent {
        patient_id: PatientId::from_uuid(e.patient_id),
        order_id: OrderId::from_uuid(e.order_id),
        amount: amount(e.amount)?,
        occurred_at: e.occurred_at,
    })
}

fn refund_event(e: RefundEventRequest) -> Result<RefundEvent, ApiError> {
    Ok(RefundEvent {
        patient_id: PatientId::from_uuid(e.patient_id),
        order_id: OrderId::from_uuid(e.order_id),
        refund_id: e.refund_id,
        amount: amount(e.amount)?,
        occurred_at: e.occurred_at,
    })
}

fn cancellation_event(e: CancellationEventRequest) -> CancellationEvent {
    CancellationEvent {
        patient_id: PatientId::from_uuid(e.patient_id),
        consultation_id: ConsultationId::from_uuid(e.consultation_id),
        cancellation_id: e.cancellation_id,
        occurred_at: e.occurred_at,
    }
}

fn batch_result(index: usize, outcome: Result<BatchOutcome, ApiError>) -> BatchEventResult {
    let (result, referral_id, detail) = match outcome {
        Ok(BatchOutcome::Event(event)) => {
            let referral_id = match &event {
                EventOutcome::Converted { referral_id, .. }
                | EventOutcome::AlreadyConverted { referral_id } => Some(referral_id.as_uuid()),
                EventOutcome::Duplicate | EventOutcome::Recorded => None,
            };
            (event_outcome_name(&event), referral_id, None)
        }
        Ok(BatchOutcome::Reversal(reversal)) => {
            let referral_id = match &reversal {
                ReversalOutcome::Reversed { referral_id, .. } => Some(referral_id.as_uuid()),
                ReversalOutcome::Duplicate | ReversalOutcome::Recorded => None,
            };
            (reversal_outcome_name(&reversal), referral_id, None)
        }
        Err(e) => return failed(index, &e),
    };
    BatchEventResult {
        index,
        result: result.to_owned(),
        referral_id,
        detail,
    }
}

/// A batch event that failed, with its error's code and what it says.
fn failed(index: usize, e: &ApiError) -> BatchEventResult {
    let detail = match e {
        ApiError::Validation(problems) => problems
            .iter()
            .map(|p| format!("{}: {}", p.field, p.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.code().replace('_', " "),
    };
    BatchEventResult {
        index,
        result: e.code().to_owned(),
        referral_id: None,
        detail: Some(detail),
    }
}

/// The operations of this module, for the document (`routes::OPERATIONS`).
pub(crate) const OPERATIONS: &[Operation] = &[
    REPORT_CONSULTATION,
    REPORT_ORDER,
    REPORT_REFUND,
    REPORT_CONSULTATION_CANCELLATION,
    REPORT_EVENTS_BATCH,
];
