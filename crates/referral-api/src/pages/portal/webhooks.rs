//! `/portal/webhooks`: the outbound webhook endpoints (added, changed, turned off or on,
//! their secret rotated, a test event sent), their recent deliveries with the endpoint's
//! last answer and the next attempt, and a button that sends one again (admins).

use crate::call::Call;
use crate::pages::session::Visit;
use crate::pages::{form_problems_labelled, label, render, see_other, when, PageError};
use crate::routes::outbound_webhooks::{
    create_endpoint, delivery_list, rotate_endpoint_secret, send_test_event, update_endpoint,
    EndpointRequest, EndpointView,
};
use referral_domain::webhook::WebhookEventType;
use serde_json::{json, Value};

use crate::routes::PageQuery;
use crate::state::{AppState, AuditAction};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize)]
struct EndpointRow {
    id: uuid::Uuid,
    url: String,
    description: Option<String>,
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
    /// When it is tried again (a queued delivery).
    next_attempt: Option<String>,
    created: String,
}

/// `GET /portal/webhooks`.
pub async fn webhooks(
    visit: Visit,
    query: web::Query<DoneQuery>,
) -> Result<HttpResponse, PageError> {
    let call = visit.admin_call()?;
    let endpoints = call
        .run_for(
            crate::auth::ADMINS,
            AuditAction::new("webhook.list", "webhook", None),
            move |conn, _| Ok(Listed(referral_store::webhooks::list(conn)?)),
        )
        .await?
        .0;
    let mut rows = Vec::with_capacity(endpoints.len());
    for e in endpoints {
        let deliveries = delivery_list(
            &call,
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
            description: e.description,
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
                    next_attempt: d.next_attempt_at.map(when),
                    created: when(d.created_at),
                })
                .collect(),
        });
    }
    let flash = match query.done.as_deref() {
        Some("redelivered") => Some("The delivery is queued again, with the same webhook-id."),
        Some("tested") => Some("A test event is queued: its delivery shows below in a moment."),
        Some("saved") => Some("The endpoint is saved."),
        Some("disabled") => Some("The endpoint is turned off: no events are sent to it."),
        Some("enabled") => Some("The endpoint is turned on; its failures are cleared."),
        _ => None,
    };
    render(
        &visit,
        StatusCode::OK,
        "portal_webhooks",
        json!({"title": "Webhooks", "nav": "portal", "flash": flash, "endpoints": rows}),
    )
}

/// The endpoint form's fields as the admin sees them.
const ENDPOINT_LABELS: &[(&str, &str)] = &[
    ("url", "Endpoint URL"),
    ("events", "Events"),
    ("description", "Description"),
];

/// The endpoint form as posted (`events` repeats).
#[derive(Debug, Default)]
struct EndpointForm {
    csrf: String,
    url: String,
    events: Vec<String>,
    description: String,
    enabled: bool,
}

impl EndpointForm {
    fn parse(body: &[u8]) -> Self {
        let mut form = EndpointForm::default();
        for (key, value) in url::form_urlencoded::parse(body) {
            match key.as_ref() {
                "csrf" => form.csrf = value.into_owned(),
                "url" => form.url = value.into_owned(),
                "events" => form.events.push(value.into_owned()),
                "description" => form.description = value.into_owned(),
                "enabled" => form.enabled = value == "1",
                _ => {}
            }
        }
        form
    }

    fn request(&self) -> EndpointRequest {
        EndpointRequest {
            url: self.url.clone(),
            events: self.events.clone(),
            description: Some(self.description.clone()),
            enabled: Some(self.enabled),
        }
    }
}

/// Every event type with whether the form ticks it.
fn event_choices(ticked: &[String]) -> Vec<Value> {
    WebhookEventType::ALL
        .iter()
        .map(|t| {
            json!({
                "code": t.as_str(),
                "name": label(t.as_str()),
                "checked": ticked.iter().any(|c| c == t.as_str()),
            })
        })
        .collect()
}

fn form_page(
    visit: &Visit,
    status: StatusCode,
    id: Option<uuid::Uuid>,
    form: &EndpointForm,
    errors: Value,
) -> Result<HttpResponse, PageError> {
    render(
        visit,
        status,
        "portal_webhook_form",
        json!({
            "title": if id.is_some() { "Change the endpoint" } else { "Add an endpoint" },
            "nav": "portal",
            "id": id,
            "action": id.map_or_else(|| "/portal/webhooks".to_owned(), |id| format!("/portal/webhooks/{id}")),
            "form": {"url": form.url, "description": form.description, "enabled": form.enabled},
            "events": event_choices(&form.events),
            "errors": errors,
        }),
    )
}

/// `GET /portal/webhooks/new`: the form to add an endpoint.
pub async fn new_endpoint(visit: Visit) -> Result<HttpResponse, PageError> {
    let caller = visit.portal_admin()?;
    caller.require(crate::auth::ADMINS)?;
    let form = EndpointForm {
        enabled: true,
        ..EndpointForm::default()
    };
    form_page(&visit, StatusCode::OK, None, &form, Value::Null)
}

/// The page that shows a new signing secret, this once.
fn secret_page(
    visit: &Visit,
    view: &EndpointView,
    created: bool,
) -> Result<HttpResponse, PageError> {
    render(
        visit,
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        "portal_webhook_secret",
        json!({
            "title": "Signing secret",
            "nav": "portal",
            "created": created,
            "url": view.url,
            "secret": view.secret,
        }),
    )
}

/// `POST /portal/webhooks`: adds the endpoint and shows its secret once.
pub async fn create(visit: Visit, body: web::Bytes) -> Result<HttpResponse, PageError> {
    let call = visit.admin_call()?;
    let form = EndpointForm::parse(&body);
    visit.check_csrf(&form.csrf)?;
    match create_endpoint(&call, form.request()).await {
        Ok(view) => secret_page(&visit, &view, true),
        Err(e) => {
            let (status, errors) = form_problems_labelled(e, ENDPOINT_LABELS)?;
            form_page(&visit, status, None, &form, errors)
        }
    }
}

/// `GET /portal/webhooks/{id}/edit`: the endpoint's form.
pub async fn edit(visit: Visit, id: web::Path<String>) -> Result<HttpResponse, PageError> {
    let call = visit.admin_call()?;
    let endpoint = read_endpoint(&call, id.into_inner()).await?;
    let form = EndpointForm {
        csrf: String::new(),
        url: endpoint.url.clone(),
        events: endpoint
            .events
            .iter()
            .map(|t| t.as_str().to_owned())
            .collect(),
        description: endpoint.description.clone().unwrap_or_default(),
        enabled: endpoint.enabled,
    };
    form_page(
        &visit,
        StatusCode::OK,
        Some(endpoint.id),
        &form,
        Value::Null,
    )
}

async fn read_endpoint(
    call: &Call,
    raw: String,
) -> Result<referral_store::webhooks::Endpoint, PageError> {
    let found = call
        .run_for(
            crate::auth::ADMINS,
            AuditAction::new("webhook.read", "webhook", Some(raw.clone())),
            move |conn, _| {
                let id: uuid::Uuid = raw.parse().map_err(|_| crate::error::ApiError::NotFound)?;
                Ok(Listed(vec![referral_store::webhooks::get(conn, id)?]))
            },
        )
        .await?;
    found
        .0
        .into_iter()
        .next()
        .ok_or(PageError::Api(crate::error::ApiError::NotFound))
}

/// `POST /portal/webhooks/{id}`: saves the endpoint's form.
pub async fn update(
    visit: Visit,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let call = visit.admin_call()?;
    let form = EndpointForm::parse(&body);
    visit.check_csrf(&form.csrf)?;
    let raw = id.into_inner();
    match update_endpoint(&call, raw.clone(), form.request()).await {
        Ok(_) => Ok(see_other("/portal/webhooks?done=saved")),
        Err(e) => {
            let (status, errors) = form_problems_labelled(e, ENDPOINT_LABELS)?;
            form_page(&visit, status, raw.parse().ok(), &form, errors)
        }
    }
}

/// The one-button forms (turn off or on, rotate, test).
#[derive(Debug, Default, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    /// For the switch: `1` turns it on, anything else off.
    #[serde(default)]
    enabled: String,
}

/// `POST /portal/webhooks/{id}/enabled`: turns the endpoint off or on, its settings kept.
pub async fn switch(
    visit: Visit,
    id: web::Path<String>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, PageError> {
    let call = visit.admin_call()?;
    visit.check_csrf(&form.csrf)?;
    let raw = id.into_inner();
    let endpoint = read_endpoint(&call, raw.clone()).await?;
    let on = form.enabled == "1";
    let request = EndpointRequest {
        url: endpoint.url,
        events: endpoint
            .events
            .iter()
            .map(|t| t.as_str().to_owned())
            .collect(),
        description: endpoint.description,
        enabled: Some(on),
    };
    update_endpoint(&call, raw, request).await?;
    Ok(see_other(if on {
        "/portal/webhooks?done=enabled"
    } else {
        "/portal/webhooks?done=disabled"
    }))
}

/// `POST /portal/webhooks/{id}/rotate`: a new secret, shown once; the old one signs
/// beside it for 24 hours.
pub async fn rotate(
    visit: Visit,
    id: web::Path<String>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, PageError> {
    let call = visit.admin_call()?;
    visit.check_csrf(&form.csrf)?;
    let view = rotate_endpoint_secret(&call, id.into_inner()).await?;
    secret_page(&visit, &view, false)
}

/// `POST /portal/webhooks/{id}/test`: queues a test event for the endpoint.
pub async fn test_event(
    _state: web::Data<AppState>,
    visit: Visit,
    id: web::Path<String>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, PageError> {
    let call = visit.admin_call()?;
    visit.check_csrf(&form.csrf)?;
    send_test_event(&call, id.into_inner()).await?;
    Ok(see_other("/portal/webhooks?done=tested"))
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
    _state: web::Data<AppState>,
    visit: Visit,
    path: web::Path<(String, String)>,
    form: web::Form<RedeliverForm>,
) -> Result<HttpResponse, PageError> {
    let call = visit.admin_call()?;
    let now = call.now();
    visit.check_csrf(&form.csrf)?;
    let (endpoint, delivery) = path.into_inner();
    call.run_for(
        crate::auth::ADMINS,
        AuditAction::new("webhook.redeliver", "webhook", Some(endpoint.clone())),
        move |conn, _| {
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
