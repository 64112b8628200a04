//! The one place where errors become HTTP: `application/problem+json` (RFC 9457) with the
//! contract's stable `code`. Internals (SQL, panics, stack traces) never reach a body.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use referral_domain::{DomainError, FieldError};
use referral_store::StoreError;
use serde::Serialize;
use std::fmt;
use utoipa::ToSchema;

/// One field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldProblem {
    /// The input field, such as `referee_email` or `target_demographics.min_age`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldProblem {
    /// A problem with `field`.
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

impl From<&FieldError> for FieldProblem {
    fn from(e: &FieldError) -> Self {
        FieldProblem::new(e.field(), e.to_string())
    }
}

/// Every stable error code with its HTTP status: the one table the domain's codes are
/// mapped through and the OpenAPI document lists (the Problem schema's `code` enum and each
/// status's description).
pub const CODES: &[(&str, u16)] = &[
    ("invalid_json", 400),
    ("unauthenticated", 401),
    ("forbidden", 403),
    ("not_found", 404),
    ("method_not_allowed", 405),
    ("duplicate_referee", 409),
    ("already_registered", 409),
    ("program_has_referrals", 409),
    ("reward_not_available", 409),
    ("reward_not_pending_approval", 409),
    ("reward_not_in_review", 409),
    ("program_ended", 409),
    ("referral_declined", 409),
    ("referral_not_registered", 409),
    ("invalid_transition", 409),
    ("invitation_recently_sent", 409),
    ("email_in_use", 409),
    ("referral_expired", 410),
    ("verification_expired", 410),
    ("payload_too_large", 413),
    ("validation_failed", 422),
    ("self_referral", 422),
    ("referral_limit_reached", 422),
    ("program_not_active", 422),
    ("no_active_program", 422),
    ("not_eligible", 422),
    ("rate_limited", 429),
    ("internal", 500),
    ("unavailable", 503),
];

/// The status of a stable code (500 for a code missing from [`CODES`], which a test
/// forbids).
fn status_of(code: &str) -> StatusCode {
    CODES
        .iter()
        .find(|(c, _)| *c == code)
        .and_then(|(_, s)| StatusCode::from_u16(*s).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Every error an endpoint can answer with.
#[derive(Debug)]
pub enum ApiError {
    /// No, invalid or expired token.
    Unauthenticated,
    /// The role may not use the endpoint.
    Forbidden,
    /// Unknown id or code, or not the caller's.
    NotFound,
    /// The body is not JSON or has wrong types.
    InvalidJson(String),
    /// Fields out of range or malformed.
    Validation(Vec<FieldProblem>),
    /// The body is larger than the limit.
    PayloadTooLarge,
    /// The path exists but not with this method.
    MethodNotAllowed,
    /// Too many requests; retry after this many seconds.
    RateLimited(u64),
    /// A rule of the domain refused.
    Domain(DomainError),
    /// The store failed or refused.
    Store(StoreError),
    /// Something that is our fault.
    Internal,
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Domain(d) => ApiError::Domain(d),
            other => ApiError::Store(other),
        }
    }
}

impl referral_store::ConnectionLoss for ApiError {
    fn lost_connection(&self) -> bool {
        matches!(self, ApiError::Store(e) if e.is_unavailable())
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        ApiError::Domain(e)
    }
}

/// The problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What happened, for a person.
    pub detail: String,
    /// Stable snake_case identifier (see the contract).
    pub code: String,
    /// Field errors (`validation_failed` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldProblem>>,
    /// The request's id (also the `X-Request-Id` response header), to quote to support and
    /// to find the request's log line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ApiError {
    /// Status, code and detail: the single mapping of every error to HTTP.
    fn parts(&self) -> (StatusCode, &'static str, String) {
        use StatusCode as S;
        match self {
            ApiError::Unauthenticated => (
                S::UNAUTHORIZED,
                "unauthenticated",
                "a valid bearer token is required".into(),
            ),
            ApiError::Forbidden => (
                S::FORBIDDEN,
                "forbidden",
                "your role may not use this endpoint".into(),
            ),
            ApiError::NotFound => (S::NOT_FOUND, "not_found", "no such resource".into()),
            ApiError::InvalidJson(detail) => (S::BAD_REQUEST, "invalid_json", detail.clone()),
            ApiError::Validation(_) => (
                S::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "some fields are invalid".into(),
            ),
            ApiError::PayloadTooLarge => (
                S::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is too large".into(),
            ),
            ApiError::MethodNotAllowed => (
                S::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this method is not allowed here".into(),
            ),
            ApiError::RateLimited(_) => (
                S::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many requests; retry later".into(),
            ),
            ApiError::Internal => (
                S::INTERNAL_SERVER_ERROR,
                "internal",
                "an internal error occurred".into(),
            ),
            ApiError::Domain(d) => {
                let status = status_of(d.code());
                let detail = if status == S::INTERNAL_SERVER_ERROR {
                    "an internal error occurred".into()
                } else {
                    d.to_string()
                };
                (status, d.code(), detail)
            }
            ApiError::Store(s) => match s {
                StoreError::NotFound => (S::NOT_FOUND, "not_found", "no such resource".into()),
                StoreError::ProgramHasReferrals => {
                    (S::CONFLICT, "program_has_referrals", s.to_string())
                }
                StoreError::NoActiveProgram => {
                    (S::UNPROCESSABLE_ENTITY, "no_active_program", s.to_string())
                }
                StoreError::EmailInUse => (S::CONFLICT, "email_in_use", s.to_string()),
                StoreError::Unavailable(_) | StoreError::Connect(_) => (
                    S::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database is unavailable; retry later".into(),
                ),
                StoreError::Domain(_)
                | StoreError::Config(_)
                | StoreError::Migration(_)
                | StoreError::Corrupt(_)
                | StoreError::Database(_)
                | StoreError::Driver(_) => (
                    S::INTERNAL_SERVER_ERROR,
                    "internal",
                    "an internal error occurred".into(),
                ),
            },
        }
    }

    /// The stable code of this error (for audit rows).
    pub fn code(&self) -> &'static str {
        self.parts().1
    }

    /// The problem document of this error.
    pub fn problem(&self) -> Problem {
        let (status, code, detail) = self.parts();
        let errors = match self {
            ApiError::Validation(fields) => Some(fields.clone()),
            ApiError::Domain(DomainError::Validation(v)) => {
                Some(v.errors().iter().map(FieldProblem::from).collect())
            }
            _ => None,
        };
        Problem {
            problem_type: format!("/problems/{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            code: code.to_owned(),
            errors,
            request_id: crate::observe::current_request_id(),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (status, code, _) = self.parts();
        write!(f, "{} {code}", status.as_u16())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.parts().0
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            // The cause goes to the log (never PHI: store errors carry no values), not the body.
            match self {
                ApiError::Store(e) => tracing::error!(error = %e, "request failed"),
                other => tracing::error!(error = ?other, "request failed"),
            }
        }
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        if let ApiError::RateLimited(seconds) = self {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        response.body(serde_json::to_string(&self.problem()).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_answered_is_in_the_table_with_its_status() {
        let errors = vec![
            ApiError::Unauthenticated,
            ApiError::Forbidden,
            ApiError::NotFound,
            ApiError::InvalidJson(String::new()),
            ApiError::Validation(Vec::new()),
            ApiError::PayloadTooLarge,
            ApiError::MethodNotAllowed,
            ApiError::RateLimited(1),
            ApiError::Internal,
            ApiError::Store(StoreError::NotFound),
            ApiError::Store(StoreError::ProgramHasReferrals),
            ApiError::Store(StoreError::NoActiveProgram),
            ApiError::Store(StoreError::EmailInUse),
            ApiError::Store(StoreError::Unavailable(String::new())),
            ApiError::Domain(DomainError::SelfReferral),
            ApiError::Domain(DomainError::DuplicateReferee),
            ApiError::Domain(DomainError::ReferralExpired),
            ApiError::Domain(DomainError::ReferralLimitReached),
            ApiError::Domain(DomainError::AlreadyRegistered),
            ApiError::Domain(DomainError::RedeemAlreadyUsed),
            ApiError::Domain(DomainError::ProgramAlreadyEnded),
            ApiError::Domain(DomainError::InvitationRecentlySent),
            ApiError::Domain(DomainError::ConvertNotRegistered),
        ];
        for e in errors {
            let (status, code, _) = e.parts();
            let listed = CODES.iter().find(|(c, _)| *c == code);
            assert_eq!(listed.map(|(_, s)| *s), Some(status.as_u16()), "{code}");
        }
    }
}
