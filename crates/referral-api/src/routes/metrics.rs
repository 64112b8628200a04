//! `GET /metrics` (see [`crate::metrics`]): with `--metrics-token` on the service's port,
//! or without a token on the separate `--metrics-bind` listener. Not in the OpenAPI
//! document: it is for Prometheus, not for clients of the API.

use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};

/// The Prometheus text format's media type.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// On the `--metrics-bind` listener: the scrape.
///
/// # Errors
/// None of its own: a database that cannot be read leaves its series out.
pub async fn scrape(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    // Counts only; a failure (the database down) is itself what the pool series show.
    let snapshot = web::block(move || {
        referral_store::with_connection(&pool, referral_store::observe::snapshot)
    })
    .await
    .ok()
    .and_then(Result::ok);
    let text = state.metrics.render(
        state.pool.state(),
        snapshot.as_ref(),
        state.replica.as_deref(),
        chrono::Utc::now(),
    );
    Ok(HttpResponse::Ok().content_type(CONTENT_TYPE).body(text))
}

/// On the service's own port: the scrape, for the bearer `--metrics-token` only; 404
/// when no token is set (the route does not exist), 401 for any other token.
///
/// # Errors
/// `not_found` without a token set, `unauthenticated` for a wrong one.
pub async fn scrape_with_token(
    state: web::Data<AppState>,
    args: web::Data<MetricsToken>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let Some(expected) = args.0.as_deref() else {
        return Err(ApiError::NotFound);
    };
    let given = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !referral_store::keyring::same_bytes(given.as_bytes(), expected.as_bytes()) {
        return Err(ApiError::Unauthenticated);
    }
    scrape(state).await
}

/// The `--metrics-token`, as application data.
#[derive(Debug, Clone)]
pub struct MetricsToken(pub Option<String>);
