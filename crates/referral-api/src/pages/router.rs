//! The pages' routes: every path a person opens, the static stylesheet and script, and the
//! form extractor's error page.

use super::render::{see_other, PageError};
use super::session::Visit;
use super::{limit_page, patient, portal, register, signin};
use crate::error::ApiError;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

const STYLESHEET: &str = include_str!("../../static/app.css");
const SCRIPT: &str = include_str!("../../static/app.js");

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(STYLESHEET)
}

async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(SCRIPT)
}

/// `/`: the signed-in user's portal, or the sign-in page.
async fn home(visit: Visit) -> HttpResponse {
    match visit.caller.as_ref().map(crate::auth::Caller::role) {
        Some(crate::auth::Role::Patient) => see_other("/patient/referrals"),
        Some(role) if crate::auth::PORTAL_ADMINS.contains(&role) => see_other("/portal/referrals"),
        _ => see_other("/signin"),
    }
}

fn form_error(err: actix_web::error::UrlencodedError, _req: &HttpRequest) -> actix_web::Error {
    PageError::Api(ApiError::InvalidJson(format!(
        "the form could not be read: {err}"
    )))
    .into()
}

/// Registers the pages. `/register` posts share the public endpoints' per-address limit.
pub fn configure<L, F>(cfg: &mut web::ServiceConfig, public_limit: &L)
where
    L: Fn(crate::limits::WhenCountersFail) -> crate::routes::PublicLimiter<F>,
    F: Fn(
            &actix_web::dev::ServiceRequest,
        ) -> actix_extensible_rate_limit::backend::SimpleInputFuture
        + 'static,
{
    use crate::routes::resource;
    cfg.app_data(
        web::FormConfig::default()
            .limit(crate::app::MAX_BODY_BYTES)
            .error_handler(form_error),
    )
    .service(resource("/").route(web::get().to(home)))
    .service(resource("/static/app.css").route(web::get().to(stylesheet)))
    .service(resource("/static/app.js").route(web::get().to(script)))
    .service(
        resource("/signin")
            .route(web::get().to(signin::page))
            .route(web::post().to(signin::submit)),
    )
    .service(resource("/signin/demo-data").route(web::post().to(signin::demo_data)))
    .service(resource("/signout").route(web::post().to(signin::sign_out)))
    .service(
        resource("/register")
            .wrap(public_limit(crate::limits::WhenCountersFail::Refuse))
            .wrap(limit_page())
            .route(web::get().to(register::page))
            .route(web::post().to(register::submit)),
    )
    .service(
        resource("/register/verify")
            .wrap(public_limit(crate::limits::WhenCountersFail::Refuse))
            .wrap(limit_page())
            .route(web::get().to(register::verify_page))
            .route(web::post().to(register::verify)),
    )
    .service(
        resource("/patient/referrals")
            .route(web::get().to(patient::dashboard))
            .route(web::post().to(patient::create)),
    )
    .service(resource("/patient/referrals/new").route(web::get().to(patient::new_form)))
    .service(resource("/patient/referrals/rewards").route(web::get().to(patient::rewards)))
    .service(resource("/patient/referrals/{id}").route(web::get().to(patient::detail)))
    .service(resource("/portal/referrals").route(web::get().to(portal::dashboard)))
    .service(
        resource("/portal/referrals/programs")
            .route(web::get().to(portal::programs))
            .route(web::post().to(portal::create_program_page)),
    )
    .service(resource("/portal/referrals/programs/new").route(web::get().to(portal::new_program)))
    .service(
        resource("/portal/referrals/programs/{id}")
            .route(web::get().to(portal::program))
            .route(web::post().to(portal::update_program_page)),
    )
    .service(
        resource("/portal/referrals/programs/{id}/edit").route(web::get().to(portal::edit_program)),
    )
    .service(resource("/portal/referrals/analytics").route(web::get().to(portal::analytics)))
    .service(
        resource("/portal/referrals/rewards")
            .route(web::get().to(portal::rewards))
            .route(web::post().to(portal::decide_many)),
    )
    .service(resource("/portal/referrals/exports").route(web::get().to(portal::exports)))
    .service(
        resource("/portal/referrals/exports/referrals.csv")
            .route(web::get().to(portal::referrals_csv)),
    )
    .service(
        resource("/portal/referrals/exports/rewards.csv").route(web::get().to(portal::rewards_csv)),
    )
    .service(
        resource("/portal/referrals/exports/reviews.csv").route(web::get().to(portal::reviews_csv)),
    )
    .service(
        resource("/portal/referrals/exports/payouts.csv").route(web::get().to(portal::payouts_csv)),
    )
    .service(
        resource("/portal/referrals/exports/audit.csv").route(web::get().to(portal::audit_csv)),
    )
    .service(
        resource("/portal/webhooks")
            .route(web::get().to(portal::webhooks))
            .route(web::post().to(portal::create_webhook)),
    )
    .service(resource("/portal/webhooks/new").route(web::get().to(portal::new_webhook)))
    .service(resource("/portal/webhooks/{id}").route(web::post().to(portal::update_webhook)))
    .service(resource("/portal/webhooks/{id}/edit").route(web::get().to(portal::edit_webhook)))
    .service(
        resource("/portal/webhooks/{id}/enabled").route(web::post().to(portal::switch_webhook)),
    )
    .service(resource("/portal/webhooks/{id}/rotate").route(web::post().to(portal::rotate_webhook)))
    .service(resource("/portal/webhooks/{id}/test").route(web::post().to(portal::test_webhook)))
    .service(
        resource("/portal/webhooks/{id}/deliveries/{delivery_id}/redeliver")
            .route(web::post().to(portal::redeliver_webhook)),
    )
    .service(
        resource("/portal/referrals/reviews")
            .route(web::get().to(portal::reviews))
            .route(web::post().to(portal::decide_reviews)),
    )
    .service(
        resource("/portal/referrals/rewards/{referral_id}").route(web::post().to(portal::decide)),
    );
}
