//! Liveness and readiness.

use crate::access::Operation;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use std::time::Duration;
use utoipa::ToSchema;

/// Health answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthView {
    /// `ok` or `ready`.
    pub status: String,
}

/// Who may call `health`.
pub(crate) const HEALTH: Operation = Operation::public("health");

/// The process is up.
#[utoipa::path(get, path = "/health", operation_id = "health", tag = "operations", responses((status = 200, body = HealthView)))]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(HealthView {
        status: "ok".into(),
    })
}

/// Who may call `ready`.
pub(crate) const READY: Operation = Operation::public("ready");

/// The database is reachable and migrated, and the identity provider's keys (when a JWKS
/// URL is set) were fetched at the last try; 503 otherwise.
#[utoipa::path(get, path = "/ready", operation_id = "ready", tag = "operations",
    responses((status = 200, body = HealthView), (status = 503, body = crate::error::Problem)))]
pub async fn ready(
    state: web::Data<AppState>,
    keys: web::Data<crate::auth::JwtKeys>,
) -> Result<HttpResponse, ApiError> {
    if let Some(jwks) = keys.jwks() {
        if !jwks.is_healthy() {
            return Err(ApiError::Store(referral_store::StoreError::Unavailable(
                "the identity provider's keys could not be fetched".into(),
            )));
        }
    }
    let pool = state.pool.clone();
    let ready = web::block(move || {
        let mut conn = pool.get_timeout(Duration::from_secs(2)).ok()?;
        referral_store::migrate::migrations_complete(&mut conn)
            .map_err(|e| conn.unless_dropped(e))
            .ok()
    })
    .await
    .map_err(|_| ApiError::Internal)?;
    match ready {
        Some(true) => Ok(HttpResponse::Ok().json(HealthView {
            status: "ready".into(),
        })),
        _ => Err(ApiError::Store(referral_store::StoreError::Unavailable(
            "not ready".into(),
        ))),
    }
}

/// The operations of this module, for the document (`routes::OPERATIONS`).
pub(crate) const OPERATIONS: &[Operation] = &[HEALTH, READY];
