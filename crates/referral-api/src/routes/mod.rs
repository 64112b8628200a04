//! The HTTP routes, one module a portal. Handlers parse, check the role, call one store use
//! case and shape the answer; rules live in the domain and the store.

pub mod admin;
pub mod events;
pub mod facts;
pub mod health;
/// Webhooks the messaging services send us (Twilio, SendGrid).
pub mod inbound_webhooks;
pub mod metrics;
/// Webhook endpoints we send events to (admins).
pub mod outbound_webhooks;
pub mod patients;
pub mod programs;
pub mod provider;
pub mod public;
pub mod reviews;
pub mod rewards;
pub mod share;

use crate::error::{ApiError, FieldProblem};
use crate::limits::WhenCountersFail;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use referral_domain::{ReferralStatus, RewardStatus};
use referral_store::page::Page;
use serde::Deserialize;
use utoipa::IntoParams;

/// Filters and paging of list endpoints.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
// A misspelt filter is refused, not silently ignored.
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Rows per page (default 50, at most 500).
    pub limit: Option<i64>,
    /// Rows to skip.
    pub offset: Option<i64>,
    /// Status filter.
    pub status: Option<String>,
    /// Program filter.
    pub program_id: Option<uuid::Uuid>,
    /// Referrer filter (provider portal).
    pub referrer_id: Option<uuid::Uuid>,
    /// Created at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Created before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
}

/// Paging of a list with no filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Rows per page (default 50, at most 500).
    pub limit: Option<i64>,
    /// Rows to skip.
    pub offset: Option<i64>,
}

impl PageQuery {
    /// The page, once its values are checked.
    ///
    /// # Errors
    /// `validation_failed` for a limit outside 1..=500 or a negative offset.
    pub fn checked(&self) -> Result<Page, ApiError> {
        ListQuery {
            limit: self.limit,
            offset: self.offset,
            ..ListQuery::default()
        }
        .check()?;
        Ok(Page::new(self.limit, self.offset))
    }
}

impl ListQuery {
    /// The page (values clamped into range; call [`ListQuery::check`] first to refuse them).
    pub fn page(&self) -> Page {
        Page::new(self.limit, self.offset)
    }

    /// Checks paging values.
    ///
    /// # Errors
    /// `validation_failed` for a limit outside 1..=500 or a negative offset.
    pub fn check(&self) -> Result<(), ApiError> {
        let mut problems = Vec::new();
        if self.limit.is_some_and(|l| !(1..=500).contains(&l)) {
            problems.push(FieldProblem::new("limit", "must be between 1 and 500"));
        }
        if self.offset.is_some_and(|o| o < 0) {
            problems.push(FieldProblem::new("offset", "must not be negative"));
        }
        // A window whose `to` is before its `from` is not an error: it holds nothing.
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(problems))
        }
    }

    /// The referral status filter.
    ///
    /// # Errors
    /// `validation_failed` for an unknown status.
    pub fn status(&self) -> Result<Option<ReferralStatus>, ApiError> {
        self.check()?;
        parse_status(self.status.as_deref())
    }

    /// The status filter of a referrer's own list: `invited`, `joined` or `expired`.
    ///
    /// # Errors
    /// `validation_failed` for any other status.
    pub fn referrer_status(&self) -> Result<Option<referral_domain::ReferrerStatus>, ApiError> {
        self.check()?;
        parse_status(self.status.as_deref())
    }

    /// The reward status filter.
    ///
    /// # Errors
    /// `validation_failed` for an unknown status.
    pub fn reward_status(&self) -> Result<Option<RewardStatus>, ApiError> {
        self.check()?;
        parse_status(self.status.as_deref())
    }
}

fn parse_status<T: std::str::FromStr>(value: Option<&str>) -> Result<Option<T>, ApiError> {
    match value {
        None | Some("") => Ok(None),
        Some(s) => s.parse().map(Some).map_err(|_| {
            ApiError::Validation(vec![FieldProblem::new(
                "status",
                format!("`{s}` is not a status"),
            )])
        }),
    }
}

/// 405 for a known path with another method, with `Allow` listing the methods the
/// OpenAPI document declares there (RFC 9110 15.5.6).
pub async fn method_not_allowed(req: actix_web::HttpRequest) -> HttpResponse {
    let mut response = actix_web::ResponseError::error_response(&ApiError::MethodNotAllowed);
    let allowed = req.match_pattern().and_then(|pattern| {
        req.app_data::<web::Data<crate::state::AppState>>()?
            .contract
            .allowed_methods(&pattern)
    });
    if let Some(methods) = allowed {
        if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&methods.join(", ")) {
            response
                .headers_mut()
                .insert(actix_web::http::header::ALLOW, value);
        }
    }
    response
}

/// 404 for unknown paths.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

/// A resource whose other methods answer 405.
pub(crate) fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

/// The per-address limiter of the public endpoints (see `app::public_limiter`).
pub type PublicLimiter<F> = actix_extensible_rate_limit::RateLimiter<
    crate::limits::LimitBackend,
    actix_extensible_rate_limit::backend::SimpleOutput,
    F,
>;

/// Registers every route. `public_limit` makes the per-address limiter of the public code
/// endpoints and registration, failing closed or open as each route says.
pub fn configure<L, F>(cfg: &mut web::ServiceConfig, public_limit: &L)
where
    L: Fn(crate::limits::WhenCountersFail) -> PublicLimiter<F>,
    F: Fn(
            &actix_web::dev::ServiceRequest,
        ) -> actix_extensible_rate_limit::backend::SimpleInputFuture
        + 'static,
{
    cfg.service(resource("/health").route(web::get().to(health::health)))
        .service(resource("/ready").route(web::get().to(health::ready)))
        .service(resource("/api/openapi.json").route(web::get().to(crate::openapi::document)))
        // Patient portal.
        .service(
            resource("/api/patients/me/referrals")
                .route(web::get().to(patients::list_mine))
                .route(web::post().to(patients::create)),
        )
        .service(
            resource("/api/patients/me/referrals/{id}").route(web::get().to(patients::get_mine)),
        )
        .service(resource("/api/patients/me/rewards").route(web::get().to(patients::my_rewards)))
        .service(
            resource("/api/patients/me/share-link")
                .route(web::get().to(share::get_mine))
                .route(web::delete().to(share::retire_mine)),
        )
        .service(
            resource("/api/patients/{id}/facts")
                .route(web::get().to(facts::get))
                .route(web::put().to(facts::report)),
        )
        // Provider portal: the fixed segments come before `{code}`.
        .service(
            resource("/api/referral-programs")
                .route(web::get().to(programs::list))
                .route(web::post().to(programs::create)),
        )
        .service(
            resource("/api/referral-programs/{id}")
                .route(web::get().to(programs::get))
                .route(web::put().to(programs::update))
                .route(web::delete().to(programs::delete)),
        )
        .service(resource("/api/referrals").route(web::get().to(provider::list)))
        .service(resource("/api/referrals/analytics").route(web::get().to(provider::analytics)))
        .service(resource("/api/referrals/performance").route(web::get().to(provider::performance)))
        .service(resource("/api/referrals/integrity").route(web::get().to(reviews::integrity)))
        .service(resource("/api/reward-reviews").route(web::get().to(reviews::list)))
        .service(
            resource("/api/reward-reviews/bulk-decide").route(web::post().to(reviews::bulk_decide)),
        )
        .service(
            resource("/api/reward-reviews/{reward_id}/decide")
                .route(web::post().to(reviews::decide)),
        )
        .service(resource("/api/reward-clawbacks").route(web::get().to(reviews::clawbacks)))
        .service(resource("/api/referrals/audit-trail").route(web::get().to(admin::audit_trail)))
        .service(resource("/api/referrals/bulk-operations").route(web::post().to(admin::bulk)))
        .service(
            resource("/api/referrals/{id}/approve-reward")
                .route(web::post().to(admin::approve_reward)),
        )
        // Public, rate limited per address.
        .service(
            resource("/api/referrals/{code}/register")
                .wrap(public_limit(WhenCountersFail::Refuse))
                .route(web::post().to(public::register)),
        )
        // Providers, verified by their signatures.
        .service(resource("/api/webhooks/twilio").route(web::post().to(inbound_webhooks::twilio)))
        .service(
            resource("/api/webhooks/sendgrid").route(web::post().to(inbound_webhooks::sendgrid)),
        )
        // Outbound webhook endpoints (admins).
        .service(
            resource("/api/webhooks")
                .route(web::get().to(outbound_webhooks::list))
                .route(web::post().to(outbound_webhooks::create)),
        )
        .service(
            resource("/api/webhooks/{id}")
                .route(web::get().to(outbound_webhooks::get))
                .route(web::put().to(outbound_webhooks::update))
                .route(web::delete().to(outbound_webhooks::delete)),
        )
        .service(
            resource("/api/webhooks/{id}/rotate-secret")
                .route(web::post().to(outbound_webhooks::rotate_secret)),
        )
        .service(
            resource("/api/webhooks/{id}/previous-secret")
                .route(web::delete().to(outbound_webhooks::revoke_previous_secret)),
        )
        .service(
            resource("/api/webhooks/{id}/test").route(web::post().to(outbound_webhooks::send_test)),
        )
        .service(
            resource("/api/webhooks/{id}/deliveries")
                .route(web::get().to(outbound_webhooks::deliveries)),
        )
        .service(
            resource("/api/webhooks/{id}/deliveries/{delivery_id}/redeliver")
                .route(web::post().to(outbound_webhooks::redeliver)),
        )
        .service(
            resource("/api/registrations/verify")
                .wrap(public_limit(WhenCountersFail::Refuse))
                .route(web::post().to(public::verify_registration)),
        )
        .service(
            resource("/r/{code}")
                .wrap(public_limit(WhenCountersFail::Allow))
                .wrap(crate::pages::limit_page())
                .route(web::get().to(public::open_link))
                .route(web::head().to(public::open_link)),
        )
        .service(
            resource("/api/referrals/{code}/click")
                .wrap(public_limit(WhenCountersFail::Allow))
                .route(web::get().to(public::click)),
        )
        .service(
            resource("/api/referrals/{code}/qr.svg")
                .wrap(public_limit(WhenCountersFail::Allow))
                .route(web::get().to(share::qr_svg)),
        )
        .service(
            resource("/api/referrals/{code}")
                .wrap(public_limit(WhenCountersFail::Allow))
                .route(web::get().to(public::lookup)),
        )
        // Admin.
        .service(resource("/api/notifications").route(web::get().to(admin::notifications)))
        // Platform events and rewards.
        .service(resource("/api/events/consultations").route(web::post().to(events::consultation)))
        .service(resource("/api/events/orders").route(web::post().to(events::order)))
        .service(resource("/api/events/refunds").route(web::post().to(events::refund)))
        .service(
            resource("/api/events/batch")
                .app_data(
                    web::JsonConfig::default()
                        .limit(crate::app::MAX_BATCH_BODY_BYTES)
                        .error_handler(crate::app::json_error),
                )
                .route(web::post().to(events::batch)),
        )
        .service(
            resource("/api/events/consultation-cancellations")
                .route(web::post().to(events::consultation_cancellation)),
        )
        .service(resource("/api/rewards/{id}/redeem").route(web::post().to(rewards::redeem)))
        // Anyone.
        .service(
            resource("/api/unsubscribe/{token}")
                .route(web::get().to(public::unsubscribe_confirm))
                .route(web::post().to(public::unsubscribe)),
        );
}

/// Every operation of the HTTP API with who may call it, as each module declares it beside
/// its handlers: the OpenAPI document's security and roles come from here.
pub(crate) fn operations() -> impl Iterator<Item = &'static crate::access::Operation> {
    [
        admin::OPERATIONS,
        events::OPERATIONS,
        facts::OPERATIONS,
        health::OPERATIONS,
        inbound_webhooks::OPERATIONS,
        outbound_webhooks::OPERATIONS,
        patients::OPERATIONS,
        programs::OPERATIONS,
        provider::OPERATIONS,
        public::OPERATIONS,
        reviews::OPERATIONS,
        rewards::OPERATIONS,
        share::OPERATIONS,
    ]
    .into_iter()
    .flatten()
}
