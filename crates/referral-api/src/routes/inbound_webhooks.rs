//! Provider webhooks: Twilio's incoming messages and status callbacks, SendGrid's signed
//! event webhook. Each is believed only with the provider's signature, and only feeds the
//! suppression list (a STOP, a bounce, a spam report, an unsubscribe). An integration that
//! is not configured answers 404: nothing is accepted unsigned.

use crate::access::Operation;
use crate::error::ApiError;

use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use referral_domain::{Email, Phone};
use referral_notify::inbound as verify;
use referral_store::{inbound, suppressions};

/// An empty TwiML answer: no reply to the message.
const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Acts on a verified provider request: refuses it if its signature was seen before (a
/// replay), else adds `recipients` (already normalised) to the suppression list, in one
/// transaction; answers how many.
async fn suppress(
    state: &web::Data<AppState>,
    provider: &'static str,
    signature: String,
    signs_its_time: bool,
    recipients: Vec<String>,
) -> Result<usize, ApiError> {
    let now = state.now();
    let hashes: Vec<String> = recipients
        .iter()
        .map(|r| state.links.recipient_hash(r))
        .collect();
    let count = hashes.len();
    let remember = referral_domain::webhook::remember_signature_for(signs_its_time);
    let fresh = state
        .db(move |conn| {
            referral_store::write_transaction(conn, |conn| {
                if !inbound::first_sight(conn, provider, &signature, remember, now)? {
                    return Ok(false);
                }
                for hash in &hashes {
                    suppressions::add(conn, hash, now)?;
                }
                Ok(true)
            })
            .map_err(ApiError::from)
        })
        .await?;
    if !fresh {
        tracing::warn!(provider, "a replayed provider request was refused");
        return Err(ApiError::Forbidden);
    }
    if count > 0 {
        // Counts only: the addresses are personal data.
        tracing::info!(
            suppressed = count,
            "suppression list fed by a provider webhook"
        );
    }
    Ok(count)
}

/// Who may call `twilio_webhook`.
pub(crate) const TWILIO_WEBHOOK: Operation = Operation::public("twilio_webhook");

/// Twilio's incoming messages and status callbacks: an opt-out (`STOP` and the other
/// carrier keywords) suppresses its sender; a message refused because its recipient had
/// opted out (error 21610) suppresses that number. Signed with `X-Twilio-Signature` over
/// `{public_base_url}/api/webhooks/twilio` and the form parameters.
#[utoipa::path(post, path = "/api/webhooks/twilio", operation_id = "twilio_webhook", tag = "provider webhooks",
    request_body(content = Object, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Accepted (empty TwiML)", content_type = "text/xml"),
        (status = 403, description = "Missing or wrong signature, or a replay of a request already accepted", body = crate::error::Problem),
        (status = 404, description = "Twilio is not configured", body = crate::error::Problem)))]
pub async fn twilio(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let token = state
        .inbound
        .twilio_auth_token
        .as_deref()
        .ok_or(ApiError::NotFound)?;
    let signature = header(&req, "x-twilio-signature").ok_or(ApiError::Forbidden)?;
    let url = format!(
        "{}{}",
        state.public_base_url.trim_end_matches('/'),
        req.uri().path_and_query().map_or("", |p| p.as_str())
    );
    // Read as Twilio sends it (form encoded); whatever does not parse fails the signature.
    let params: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    if !verify::twilio_signature_valid(token, &url, &params, signature) {
        return Err(ApiError::Forbidden);
    }
    let numbers = verify::twilio_suppression(&params)
        .and_then(|n| Phone::parse(&n).ok())
        .map(|p| vec![p.as_str().to_owned()])
        .unwrap_or_default();
    // Twilio signs no time: a replay is refused by its signature alone.
    suppress(&state, "twilio", signature.to_owned(), false, numbers).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/xml; charset=utf-8")
        .body(EMPTY_TWIML))
}

/// Who may call `sendgrid_webhook`.
pub(crate) const SENDGRID_WEBHOOK: Operation = Operation::public("sendgrid_webhook");

/// SendGrid's signed event webhook: bounces (not `blocked`), drops, spam reports and
/// unsubscribes suppress their address. Verified with
/// `X-Twilio-Email-Event-Webhook-Signature` (ECDSA P-256) over
/// `X-Twilio-Email-Event-Webhook-Timestamp` and the raw body.
#[utoipa::path(post, path = "/api/webhooks/sendgrid", operation_id = "sendgrid_webhook", tag = "provider webhooks",
    request_body(content = Vec<Object>, content_type = "application/json"),
    responses((status = 200, description = "Accepted: how many addresses were suppressed"),
        (status = 400, body = crate::error::Problem),
        (status = 403, description = "Missing or wrong signature, signed more than 5 minutes from the service's clock, or a replay", body = crate::error::Problem),
        (status = 404, description = "The signed event webhook is not configured", body = crate::error::Problem)))]
pub async fn sendgrid(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let key = state
        .inbound
        .sendgrid_key
        .as_ref()
        .ok_or(ApiError::NotFound)?;
    let signature =
        header(&req, "x-twilio-email-event-webhook-signature").ok_or(ApiError::Forbidden)?;
    let timestamp =
        header(&req, "x-twilio-email-event-webhook-timestamp").ok_or(ApiError::Forbidden)?;
    if !key.verify(timestamp, &body, signature) {
        return Err(ApiError::Forbidden);
    }
    // Signed, so trusted: outside five minutes of our clock it is a replay (or a clock to
    // fix), and is refused.
    let signed_at: i64 = timestamp.trim().parse().map_err(|_| ApiError::Forbidden)?;
    if !referral_domain::webhook::inbound_fresh(signed_at, state.now()) {
        tracing::warn!("a SendGrid request signed outside the 5-minute window was refused");
        return Err(ApiError::Forbidden);
    }
    let events: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::InvalidJson(format!("the events are not JSON: {e}")))?;
    let emails = verify::sendgrid_suppressions(&events)
        .iter()
        .filter_map(|e| Email::parse(e).ok())
        .map(|e| e.as_str().to_owned())
        .collect();
    let suppressed = suppress(&state, "sendgrid", signature.to_owned(), true, emails).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"suppressed": suppressed})))
}

/// The operations of this module, for the document (`routes::OPERATIONS`).
pub(crate) const OPERATIONS: &[Operation] = &[TWILIO_WEBHOOK, SENDGRID_WEBHOOK];
