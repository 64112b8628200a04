//! The OpenAPI 3 document of every endpoint, served at `/api/openapi.json`, with a docs UI at
//! `/docs` (the UI's script is loaded by the browser; nothing is downloaded at build time).

use crate::error::{FieldProblem, Problem};
use crate::routes;
use crate::views::*;
use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The API description.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Referral management service",
        description = "Patients refer friends and earn rewards; providers run programs; platform services report events. \
Errors are application/problem+json with a stable `code`: invalid_json (400), unauthenticated (401), forbidden (403), \
not_found (404), method_not_allowed (405), duplicate_referee, already_registered, program_has_referrals, \
reward_not_available, reward_not_pending_approval, program_ended, referral_declined, email_in_use (409), \
referral_expired (410), payload_too_large (413), validation_failed, self_referral, referral_limit_reached, \
program_not_active, no_active_program, not_eligible (422), rate_limited (429), internal (500), unavailable (503).",
    ),
    paths(
        routes::health::health,
        routes::health::ready,
        routes::patients::list_mine,
        routes::patients::create,
        routes::patients::get_mine,
        routes::patients::my_rewards,
        routes::public::lookup,
        routes::public::click,
        routes::public::register,
        routes::public::unsubscribe,
        routes::programs::list,
        routes::programs::create,
        routes::programs::get,
        routes::programs::update,
        routes::programs::delete,
        routes::provider::list,
        routes::provider::analytics,
        routes::provider::performance,
        routes::admin::approve_reward,
        routes::admin::bulk,
        routes::admin::audit_trail,
        routes::admin::notifications,
        routes::events::consultation,
        routes::events::order,
        routes::rewards::redeem,
    ),
    components(schemas(
        Problem, FieldProblem, ProgramView, ProgramInput, DemographicsView, ProgramList, ReferralView,
        ReferralList, PublicReferralView, RewardView, RewardList, RegistrationView, crate::views::RegisteredReferralView, AuditView, AuditList,
        NotificationView, NotificationList, CreateReferralRequest, RegisterRequest, ConsultationEventRequest,
        OrderEventRequest, EventResultView, RedeemRequest, ApproveRewardRequest, BulkRequest, BulkItemResult,
        BulkResponse, routes::health::HealthView, routes::provider::TopReferrerView,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "patient portal", description = "A patient's own referrals and rewards (role patient)"),
        (name = "public", description = "Codes, links and registration (no token; rate limited)"),
        (name = "provider portal", description = "Programs, referrals and analytics (provider roles)"),
        (name = "admin", description = "Approvals, bulk operations, audit trail, notifications (admin, super-admin)"),
        (name = "platform events", description = "Consultations and orders from other services (role service)"),
        (name = "rewards", description = "Redeeming rewards (owner or service)"),
        (name = "operations", description = "Health and readiness"),
    )
)]
pub struct ApiDoc;

/// `GET /api/openapi.json`.
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
