//! Outbound webhook endpoints (#24, admin, super-admin): create (the secret is shown once),
//! list, read, change, delete, rotate the secret, and see or redeliver their deliveries.
//!
//! One concept: the admin's operations on outbound endpoints, one small handler and its
//! declared access each.

use crate::access::Operation;
use crate::auth::ADMINS;
use crate::call::Call;
use crate::error::{ApiError, FieldProblem};
use crate::routes::PageQuery;
use crate::state::{AppState, AuditAction, AuditedResource};
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use referral_domain::webhook::{check_endpoint, WebhookEventType};
use referral_store::webhooks::{self, Endpoint, EndpointInput};
use ring::rand::SecureRandom;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// An endpoint as an admin sets it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointRequest {
    /// A public `https://` URL (private, loopback and link-local addresses are refused).
    #[schema(schema_with = crate::views::field::endpoint_url)]
    pub url: String,
    /// The event types it receives, at least one: `referral.created`,
    /// `referral.registered`, `referral.converted`, `referral.reversed`, `reward.granted`,
    /// `reward.withheld`, `reward.available`, `reward.redeemed`, `reward.expired`,
    /// `reward.cancelled`.
    #[schema(schema_with = crate::views::field::endpoint_events)]
    pub events: Vec<String>,
    #[schema(schema_with = crate::views::field::endpoint_description)]
    pub description: Option<String>,
    /// Default true.
    pub enabled: Option<bool>,
}

/// An endpoint (its secret is never shown again after creation or rotation).
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointView {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
    pub enabled: bool,
    /// Failing since (no success since), if it is.
    pub failing_since: Option<DateTime<Utc>>,
    /// Why the service disabled it (a day of failures in a row), if it did.
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Until when the rotated-out secret still signs beside the current one (24 hours
    /// after a rotation, unless revoked; in the past, it no longer signs).
    pub previous_secret_until: Option<DateTime<Utc>>,
    /// `whsec_...`: only in the answer of a create or a rotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl EndpointView {
    fn new(e: Endpoint, secret: Option<String>) -> Self {
        EndpointView {
            id: e.id,
            url: e.url,
            events: e.events.iter().map(|t| t.as_str().to_owned()).collect(),
            description: e.description,
            enabled: e.enabled,
            failing_since: e.failing_since,
            disabled_reason: e.disabled_reason,
            created_at: e.created_at,
            updated_at: e.updated_at,
            previous_secret_until: e.previous_secret_until,
            secret,
        }
    }
}

impl AuditedResource for EndpointView {
    fn audit_id(&self) -> Option<String> {
        Some(self.id.to_string())
    }
}

/// The endpoints.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointList {
    pub items: Vec<EndpointView>,
}
impl AuditedResource for EndpointList {}

/// One delivery of an event to an endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: Uuid,
    /// The event type.
    pub event_type: String,
    /// `queued`, `sending`, `sent` or `failed`.
    pub status: String,
    pub attempts: i32,
    /// The last error (with the endpoint's status code), if any.
    pub last_error: Option<String>,
    /// When the next attempt is due (a queued delivery; for one that failed before, its
    /// retry).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A page of deliveries.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    pub items: Vec<DeliveryView>,
    pub total: i64,
}
impl AuditedResource for DeliveryList {}

struct Done;
impl AuditedResource for Done {}

/// A fresh secret: `whsec_` and 32 random bytes in base64.
fn new_secret(rng: &dyn SecureRandom) -> Result<String, ApiError> {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rng.fill(&mut bytes).map_err(|_| ApiError::Internal)?;
    Ok(format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

fn input(body: EndpointRequest, app: &AppState) -> Result<EndpointInput, ApiError> {
    let mut problems = Vec::new();
    if let Err(e) = check_endpoint(
        body.url.trim(),
        app.webhooks_allow_private,
        &app.webhook_hosts,
    ) {
        problems.push(FieldProblem::new("url", e.to_string()));
    }
    let mut events = Vec::new();
    for code in &body.events {
        match WebhookEventType::from_code(code) {
            Some(t) if !events.contains(&t) => events.push(t),
            Some(_) => {}
            None => problems.push(FieldProblem::new(
                "events",
                format!("unknown event type {code:?}"),
            )),
        }
    }
    if events.is_empty() {
        problems.push(FieldProblem::new("events", "at least one event type"));
    }
    let description = body
        .description
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty());
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > crate::views::field::MAX_ENDPOINT_DESCRIPTION_CHARS)
    {
        problems.push(FieldProblem::new("description", "at most 500 characters"));
    }
    if !problems.is_empty() {
        return Err(ApiError::Validation(problems));
    }
    Ok(EndpointInput {
        url: body.url.trim().to_owned(),
        events,
        description,
        enabled: body.enabled.unwrap_or(true),
    })
}

fn endpoint_id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound)
}

/// Who may call `create_webhook`.
pub(crate) const CREATE_WEBHOOK: Operation = Operation::for_roles("create_webhook", ADMINS);

/// Adds an endpoint. The answer carries its signing secret (`whsec_...`), shown this once.
#[utoipa::path(post, path = "/api/webhooks", operation_id = "create_webhook", tag = "admin", request_body = EndpointRequest,
    responses((status = 201, body = EndpointView), (status = 422, body = crate::error::Problem)))]
pub async fn create(
    call: Call,
    body: crate::json_body::JsonBody<EndpointRequest>,
) -> Result<HttpResponse, ApiError> {
    let view = create_endpoint(&call, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(view))
}

/// Adds an endpoint (audited as `webhook.create`), for the API and the portal; the view
/// carries the secret this once.
pub(crate) async fn create_endpoint(
    call: &Call,
    body: EndpointRequest,
) -> Result<EndpointView, ApiError> {
    let now = call.now();
    let app = call.state.clone();
    call.run(
        CREATE_WEBHOOK,
        AuditAction::new("webhook.create", "webhook", None),
        move |conn, _| {
            let input = input(body, &app)?;
            let secret = new_secret(&app.rng)?;
            let sealed = app
                .keyring
                .seal(&secret, &app.rng)
                .ok_or(ApiError::Internal)?;
            let endpoint = webhooks::create(conn, &input, &sealed, now)?;
            Ok(EndpointView::new(endpoint, Some(secret)))
        },
    )
    .await
}

/// Who may call `list_webhooks`.
pub(crate) const LIST_WEBHOOKS: Operation = Operation::for_roles("list_webhooks", ADMINS);

/// The endpoints, oldest first.
#[utoipa::path(get, path = "/api/webhooks", operation_id = "list_webhooks", tag = "admin",
    responses((status = 200, body = EndpointList)))]
pub async fn list(call: Call) -> Result<HttpResponse, ApiError> {
    let view = call
        .run(
            LIST_WEBHOOKS,
            AuditAction::new("webhook.list", "webhook", None),
            move |conn, _| {
                Ok(EndpointList {
                    items: webhooks::list(conn)?
                        .into_iter()
                        .map(|e| EndpointView::new(e, None))
                        .collect(),
                })
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Who may call `get_webhook`.
pub(crate) const GET_WEBHOOK: Operation = Operation::for_roles("get_webhook", ADMINS);

/// One endpoint.
#[utoipa::path(get, path = "/api/webhooks/{id}", operation_id = "get_webhook", tag = "admin",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    responses((status = 200, body = EndpointView), (status = 404, body = crate::error::Problem)))]
pub async fn get(call: Call, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let raw = id.into_inner();
    let view = call
        .run(
            GET_WEBHOOK,
            AuditAction::new("webhook.read", "webhook", Some(raw.clone())),
            move |conn, _| {
                Ok(EndpointView::new(
                    webhooks::get(conn, endpoint_id(&raw)?)?,
                    None,
                ))
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Who may call `update_webhook`.
pub(crate) const UPDATE_WEBHOOK: Operation = Operation::for_roles("update_webhook", ADMINS);

/// Changes an endpoint (the whole of it); enabling a disabled one clears its failures.
#[utoipa::path(put, path = "/api/webhooks/{id}", operation_id = "update_webhook", tag = "admin", request_body = EndpointRequest,
    params(("id" = Uuid, Path, description = "Endpoint id")),
    responses((status = 200, body = EndpointView), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn update(
    call: Call,
    id: web::Path<String>,
    body: crate::json_body::JsonBody<EndpointRequest>,
) -> Result<HttpResponse, ApiError> {
    let view = update_endpoint(&call, id.into_inner(), body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Changes an endpoint (audited as `webhook.update`), for the API and the portal.
pub(crate) async fn update_endpoint(
    call: &Call,
    raw: String,
    body: EndpointRequest,
) -> Result<EndpointView, ApiError> {
    let now = call.now();
    let app = call.state.clone();
    call.run(
        UPDATE_WEBHOOK,
        AuditAction::new("webhook.update", "webhook", Some(raw.clone())),
        move |conn, _| {
            let id = endpoint_id(&raw)?;
            let input = input(body, &app)?;
            Ok(EndpointView::new(
                webhooks::update(conn, id, &input, now)?,
                None,
            ))
        },
    )
    .await
}

/// Who may call `delete_webhook`.
pub(crate) const DELETE_WEBHOOK: Operation = Operation::for_roles("delete_webhook", ADMINS);

/// Deletes an endpoint; its queued deliveries are given up.
#[utoipa::path(delete, path = "/api/webhooks/{id}", operation_id = "delete_webhook", tag = "admin",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    responses((status = 204, description = "Deleted"), (status = 404, body = crate::error::Problem)))]
pub async fn delete(call: Call, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let now = call.now();
    let raw = id.into_inner();
    call.run(
        DELETE_WEBHOOK,
        AuditAction::new("webhook.delete", "webhook", Some(raw.clone())),
        move |conn, _| {
            webhooks::delete(conn, endpoint_id(&raw)?, now)?;
            Ok(Done)
        },
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Who may call `rotate_webhook_secret`.
pub(crate) const ROTATE_WEBHOOK_SECRET: Operation =
    Operation::for_roles("rotate_webhook_secret", ADMINS);

/// Gives the endpoint a new secret, shown this once; the old one keeps signing beside it
/// for 24 hours, so the receiver can switch without losing an event.
#[utoipa::path(post, path = "/api/webhooks/{id}/rotate-secret", operation_id = "rotate_webhook_secret", tag = "admin",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    responses((status = 200, body = EndpointView), (status = 404, body = crate::error::Problem)))]
pub async fn rotate_secret(call: Call, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let view = rotate_endpoint_secret(&call, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Rotates an endpoint's secret (audited as `webhook.rotate_secret`), for the API and the
/// portal; the view carries the new secret this once.
pub(crate) async fn rotate_endpoint_secret(
    call: &Call,
    raw: String,
) -> Result<EndpointView, ApiError> {
    let now = call.now();
    let app = call.state.clone();
    call.run(
        ROTATE_WEBHOOK_SECRET,
        AuditAction::new("webhook.rotate_secret", "webhook", Some(raw.clone())),
        move |conn, _| {
            let id = endpoint_id(&raw)?;
            let secret = new_secret(&app.rng)?;
            let sealed = app
                .keyring
                .seal(&secret, &app.rng)
                .ok_or(ApiError::Internal)?;
            webhooks::rotate_secret(conn, id, &sealed, now)?;
            Ok(EndpointView::new(webhooks::get(conn, id)?, Some(secret)))
        },
    )
    .await
}

/// Who may call `send_webhook_test`.
pub(crate) const SEND_WEBHOOK_TEST: Operation = Operation::for_roles("send_webhook_test", ADMINS);

/// Sends the endpoint a test event (`webhook.test`, signed as every event), whatever it
/// subscribes to and even while it is disabled; its delivery shows in the list.
#[utoipa::path(post, path = "/api/webhooks/{id}/test", operation_id = "send_webhook_test", tag = "admin",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    responses((status = 202, description = "Queued: see the endpoint's deliveries"), (status = 404, body = crate::error::Problem)))]
pub async fn send_test(call: Call, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    send_test_event(&call, id.into_inner()).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// Queues a test event for one endpoint (audited as `webhook.test`).
pub(crate) async fn send_test_event(call: &Call, raw: String) -> Result<(), ApiError> {
    let now = call.now();
    call.run(
        SEND_WEBHOOK_TEST,
        AuditAction::new("webhook.test", "webhook", Some(raw.clone())),
        move |conn, _| {
            webhooks::send_test(conn, endpoint_id(&raw)?, now)?;
            Ok(Done)
        },
    )
    .await?;
    Ok(())
}

/// Who may call `revoke_previous_webhook_secret`.
pub(crate) const REVOKE_PREVIOUS_WEBHOOK_SECRET: Operation =
    Operation::for_roles("revoke_previous_webhook_secret", ADMINS);

/// Stops the rotated-out secret signing at once, instead of at the end of its 24 hours:
/// for a secret that leaked, or once the receiver has switched.
#[utoipa::path(delete, path = "/api/webhooks/{id}/previous-secret", operation_id = "revoke_previous_webhook_secret", tag = "admin",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    responses((status = 200, body = EndpointView), (status = 404, body = crate::error::Problem)))]
pub async fn revoke_previous_secret(
    call: Call,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let now = call.now();
    let raw = id.into_inner();
    let view = call
        .run(
            REVOKE_PREVIOUS_WEBHOOK_SECRET,
            AuditAction::new(
                "webhook.revoke_previous_secret",
                "webhook",
                Some(raw.clone()),
            ),
            move |conn, _| {
                let id = endpoint_id(&raw)?;
                webhooks::revoke_previous_secret(conn, id, now)?;
                Ok(EndpointView::new(webhooks::get(conn, id)?, None))
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Who may call `list_webhook_deliveries`.
pub(crate) const LIST_WEBHOOK_DELIVERIES: Operation =
    Operation::for_roles("list_webhook_deliveries", ADMINS);

/// The endpoint's recent deliveries, newest first, with their status and last error.
#[utoipa::path(get, path = "/api/webhooks/{id}/deliveries", operation_id = "list_webhook_deliveries", tag = "admin",
    params(("id" = Uuid, Path, description = "Endpoint id"), PageQuery),
    responses((status = 200, body = DeliveryList), (status = 404, body = crate::error::Problem)))]
pub async fn deliveries(
    call: Call,
    id: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let view = delivery_list(&call, id.into_inner(), query.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// An endpoint's deliveries (audited as `webhook.deliveries`), for the API and the portal.
pub(crate) async fn delivery_list(
    call: &Call,
    raw: String,
    query: PageQuery,
) -> Result<DeliveryList, ApiError> {
    call.run(
        LIST_WEBHOOK_DELIVERIES,
        AuditAction::new("webhook.deliveries", "webhook", Some(raw.clone())),
        move |conn, _| {
            let id = endpoint_id(&raw)?;
            webhooks::get(conn, id)?;
            let page = webhooks::deliveries(conn, id, query.checked()?)?;
            Ok(DeliveryList {
                items: page
                    .items
                    .into_iter()
                    .map(|m| DeliveryView {
                        id: m.id,
                        event_type: m.payload["type"]
                            .as_str()
                            .unwrap_or(m.template.as_str())
                            .to_owned(),
                        status: m.status.as_str().to_owned(),
                        attempts: m.attempts,
                        last_error: m.last_error,
                        next_attempt_at: (m.status == referral_store::outbox::OutboxStatus::Queued)
                            .then_some(m.next_attempt_at),
                        sent_at: m.sent_at,
                        created_at: m.created_at,
                    })
                    .collect(),
                total: page.total,
            })
        },
    )
    .await
}

/// Who may call `redeliver_webhook`.
pub(crate) const REDELIVER_WEBHOOK: Operation = Operation::for_roles("redeliver_webhook", ADMINS);

/// Queues a delivery again at once, with the same `webhook-id`.
#[utoipa::path(post, path = "/api/webhooks/{id}/deliveries/{delivery_id}/redeliver", operation_id = "redeliver_webhook", tag = "admin",
    params(("id" = Uuid, Path, description = "Endpoint id"), ("delivery_id" = Uuid, Path, description = "Delivery id")),
    responses((status = 202, description = "Queued"), (status = 404, body = crate::error::Problem)))]
pub async fn redeliver(
    call: Call,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let now = call.now();
    let (raw, delivery) = path.into_inner();
    call.run(
        REDELIVER_WEBHOOK,
        AuditAction::new("webhook.redeliver", "webhook", Some(raw.clone())),
        move |conn, _| {
            let delivery: Uuid = delivery.parse().map_err(|_| ApiError::NotFound)?;
            webhooks::redeliver(conn, endpoint_id(&raw)?, delivery, now)?;
            Ok(Done)
        },
    )
    .await?;
    Ok(HttpResponse::Accepted().finish())
}

/// The operations of this module, for the document (`routes::OPERATIONS`).
pub(crate) const OPERATIONS: &[Operation] = &[
    CREATE_WEBHOOK,
    LIST_WEBHOOKS,
    GET_WEBHOOK,
    UPDATE_WEBHOOK,
    DELETE_WEBHOOK,
    ROTATE_WEBHOOK_SECRET,
    SEND_WEBHOOK_TEST,
    REVOKE_PREVIOUS_WEBHOOK_SECRET,
    LIST_WEBHOOK_DELIVERIES,
    REDELIVER_WEBHOOK,
];
