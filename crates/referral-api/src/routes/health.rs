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
    /// With a read replica: where reads that may use it go now, `replica` or `primary`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reads: Option<String>,
    /// With a read replica: `in_use`, `lagging` (more than `--replica-max-lag`) or `down`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
    /// With a read replica: its last measured lag in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica_lag_seconds: Option<f64>,
}

impl HealthView {
    /// `status`, with where reads go when `state` has a replica.
    fn of(status: &str, state: &AppState) -> Self {
        let replica = state.replica.as_deref();
        let in_use = replica.map(|r| r.state());
        Self {
            status: status.into(),
            reads: in_use.map(|s| {
                if s == crate::replica::ReplicaState::InUse {
                    "replica"
                } else {
                    "primary"
                }
                .to_owned()
            }),
            replica: in_use.map(|s| s.as_str().to_owned()),
            replica_lag_seconds: replica.and_then(crate::replica::Replica::lag_seconds),
        }
    }
}

/// Who may call `health`.
pub(crate) const HEALTH: Operation = Operation::public("health");

/// The process is up.
#[utoipa::path(get, path = "/health", operation_id = "health", tag = "operations", responses((status = 200, body = HealthView)))]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(HealthView {
        status: "ok".into(),
        reads: None,
        replica: None,
        replica_lag_seconds: None,
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
        Some(true) => Ok(HttpResponse::Ok().json(HealthView::of("ready", &state))),
        _ => Err(ApiError::Store(referral_store::StoreError::Unavailable(
            "not ready".into(),
        ))),
    }
}

/// The operations of this module, for the document (`routes::OPERATIONS`).
pub(crate) const OPERATIONS: &[Operation] = &[HEALTH, READY];
