//! Every request, observed once: a request id (the caller's `X-Request-Id` when it is a
//! plain token, otherwise a new one) returned in the response header and in every
//! problem+json body, one log line (route pattern, method, status, latency) and the
//! request metrics.
//!
//! The log line holds no PHI: the route pattern (`/api/referrals/{code}`), never the path
//! or the query string, and no user agent, address or name. Other log lines at `info` hold
//! none either (a test drives the journey and searches the log).

use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::web;
use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt;

/// The request id header, read and answered.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being answered, on the task that answers it.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// The caller's request id when it is 1 to 64 letters, digits, `-`, `_`, `.` or `:`
/// (what proxies and tracing systems send); any other value is replaced, so that a header
/// cannot put text of its choosing into the log.
fn request_id_of(req: &ServiceRequest) -> String {
    req.headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
        })
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_owned)
}

/// The middleware (`App::wrap_fn(observe::request)`).
pub fn request<S, B>(
    req: ServiceRequest,
    srv: &S,
) -> LocalBoxFuture<'static, Result<ServiceResponse<B>, actix_web::Error>>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    S::Future: 'static,
    B: 'static,
{
    let started = std::time::Instant::now();
    let id = request_id_of(&req);
    let method = req.method().to_string();
    let metrics = req
        .app_data::<web::Data<crate::state::AppState>>()
        .map(|state| state.metrics.clone());
    let fut = REQUEST_ID.scope(id.clone(), srv.call(req));
    async move {
        let mut res = fut.await?;
        let seconds = started.elapsed().as_secs_f64();
        let route = res.request().match_pattern();
        let status = res.status().as_u16();
        if let Some(metrics) = metrics {
            metrics.observe_request(route.as_deref(), &method, status, seconds);
        }
        tracing::info!(
            target: "referral_api::request",
            request_id = %id,
            route = route.as_deref().unwrap_or("unmatched"),
            method = %method,
            status,
            latency_ms = (seconds * 1000.0 * 10.0).round() / 10.0,
            "answered"
        );
        if let Ok(value) = HeaderValue::from_str(&id) {
            res.headers_mut()
                .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
        }
        Ok(res)
    }
    .boxed_local()
}
