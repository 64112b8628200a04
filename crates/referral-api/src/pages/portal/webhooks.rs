//! `/portal/webhooks`: the outbound webhook endpoints, their recent deliveries with the
//! endpoint's answer, and a button that sends one again (admins).

use crate::pages::session::Visit;
use crate::pages::{label, render, see_other, when, PageError};
use crate::routes::endpoints::delivery_list;

use crate::routes::PageQuery;
use crate::state::{AppState, AuditAction, Origin};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize)]
struct EndpointRow {
    id: uuid::Uuid,
    url: String,
    events: String,
    enabled: bool,
    failing_since: Option<String>,
    disabled_reason: Option<String>,
    deliveries: Vec<DeliveryRow>,
}

#[derive(Debug, Serialize)]
struct DeliveryRow {
    id: uuid::Uuid,
    event_type: String,
    status: String,
    status_label: String,
    attempts: i32,
    last_error: Option<String>,
    created: String,
}

/// `GET /portal/webhooks`.
pub async fn webhooks(
    state: web::Data<AppState>,
    visit: Visit,
    origin: Origin,
    query: web::Query<DoneQuery>,
) -> Result<HttpResponse, PageError> {
    let caller = visit.portal_admin()?.clone();
    let who = caller.clone();
    let endpoints = state
        .audited(
            &caller,
            &origin,
            AuditAction::new("webhook.list", "webhook", None),
            move |conn| {
                who.require(crate::auth::ADMINS)?;
                Ok(Listed(referral_store::webhooks::list(conn)?))
            },
        )
        .await?
        .0;
    let mut rows = Vec::with_capacity(endpoints.len());
    for e in endpoints {
        let deliveries = delivery_list(
            &state,
            &caller,
            &origin,
            e.id.to_string(),
            PageQuery {
                limit: Some(20),
                offset: None,
            },
        )
        .await?;
        rows.push(EndpointRow {
            id: e.id,
            url: e.url,
            events: e
                .events
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            enabled: e.enabled,
            failing_since: e.failing_since.map(when),
            disabled_reason: e.disabled_reason,
            deliveries: deliveries
                .items
                .into_iter()
                .map(|d| DeliveryRow {
                    id: d.id,
                    event_type: d.event_type,
                    status_label: label(&d.status),
                    status: d.status,
                    attempts: d.attempts,
                    last_error: d.last_error,
                    created: when(d.created_at),
                })
                .collect(),
        });
    }
    let flash = (query.done.as_deref() == Some("redelivered"))
        .then_some("The delivery is queued again, with the same webhook-id.");
    render(
        &visit,
        StatusCode::OK,
        "portal_webhooks",
        serde_json::json!({"title": "Webhooks", "nav": "portal", "flash": flash, "endpoints": rows}),
    )
}

struct Listed(Vec<referral_store::webhooks::Endpoint>);
impl crate::state::AuditedResource for Listed {}

/// Query of the page.
#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

/// The redeliver button's form.
#[derive(Debug, Default, Deserialize)]
pub struct RedeliverForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /portal/webhooks/{id}/deliveries/{delivery_id}/redeliver`.
pub async fn redeliver(
    state: web::Data<AppState>,
    visit: Visit,
    origin: Origin,
    path: web::Path<(String, String)>,
    form: web::Form<RedeliverForm>,
) -> Result<HttpResponse, PageError> {
    let now = state.now();
    let caller = visit.portal_admin()?.clone();
    visit.check_csrf(&form.csrf)?;
    let (endpoint, delivery) = path.into_inner();
    let who = caller.clone();
    state
        .audited(
            &caller,
            &origin,
            AuditAction::new("webhook.redeliver", "webhook", Some(endpoint.clone())),
            move |conn| {
                who.require(crate::auth::ADMINS)?;
                let endpoint: uuid::Uuid = endpoint
                    .parse()
                    .map_err(|_| crate::error::ApiError::NotFound)?;
                let delivery: uuid::Uuid = delivery
                    .parse()
                    .map_err(|_| crate::error::ApiError::NotFound)?;
                referral_store::webhooks::redeliver(conn, endpoint, delivery, now)?;
                Ok(Redelivered)
            },
        )
        .await?;
    Ok(see_other("/portal/webhooks?done=redelivered"))
}

struct Redelivered;
impl crate::state::AuditedResource for Redelivered {}
