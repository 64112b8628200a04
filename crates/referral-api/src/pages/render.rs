//! Rendering a page: the templates (registered once, strict), their helpers, the page's
//! context (who is signed in, the CSRF token, the time zone), the HTML answer with its
//! security headers, and the error page every refusal becomes.

use super::copy;
use super::session::Visit;
use super::words::*;
use crate::error::ApiError;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse, ResponseError};
use chrono::{DateTime, Utc};
use handlebars::Handlebars;
use serde_json::{json, Value};
use std::sync::LazyLock;

/// The content security policy of pages: our own stylesheet and script, inline SVG, and
/// forms that post only here.
pub const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const TEMPLATES: &[(&str, &str)] = &[
    ("layout", include_str!("../../templates/pages/layout.hbs")),
    ("error", include_str!("../../templates/pages/error.hbs")),
    ("limited", include_str!("../../templates/pages/limited.hbs")),
    (
        "unsubscribe",
        include_str!("../../templates/pages/unsubscribe.hbs"),
    ),
    ("signin", include_str!("../../templates/pages/signin.hbs")),
    (
        "register",
        include_str!("../../templates/pages/register.hbs"),
    ),
    (
        "registered",
        include_str!("../../templates/pages/registered.hbs"),
    ),
    (
        "register_sent",
        include_str!("../../templates/pages/register_sent.hbs"),
    ),
    (
        "register_verify",
        include_str!("../../templates/pages/register_verify.hbs"),
    ),
    ("paging", include_str!("../../templates/pages/paging.hbs")),
    (
        "field_errors",
        include_str!("../../templates/pages/field_errors.hbs"),
    ),
    (
        "referral_form",
        include_str!("../../templates/pages/referral_form.hbs"),
    ),
    (
        "patient_dashboard",
        include_str!("../../templates/pages/patient_dashboard.hbs"),
    ),
    (
        "patient_new",
        include_str!("../../templates/pages/patient_new.hbs"),
    ),
    (
        "patient_referral",
        include_str!("../../templates/pages/patient_referral.hbs"),
    ),
    (
        "patient_rewards",
        include_str!("../../templates/pages/patient_rewards.hbs"),
    ),
    (
        "portal_dashboard",
        include_str!("../../templates/pages/portal_dashboard.hbs"),
    ),
    (
        "portal_programs",
        include_str!("../../templates/pages/portal_programs.hbs"),
    ),
    (
        "portal_program",
        include_str!("../../templates/pages/portal_program.hbs"),
    ),
    (
        "portal_program_form",
        include_str!("../../templates/pages/portal_program_form.hbs"),
    ),
    (
        "portal_analytics",
        include_str!("../../templates/pages/portal_analytics.hbs"),
    ),
    (
        "portal_rewards",
        include_str!("../../templates/pages/portal_rewards.hbs"),
    ),
    (
        "portal_rewards_confirm",
        include_str!("../../templates/pages/portal_rewards_confirm.hbs"),
    ),
    (
        "portal_webhook_form",
        include_str!("../../templates/pages/portal_webhook_form.hbs"),
    ),
    (
        "portal_webhook_secret",
        include_str!("../../templates/pages/portal_webhook_secret.hbs"),
    ),
    (
        "portal_exports",
        include_str!("../../templates/pages/portal_exports.hbs"),
    ),
    (
        "portal_reviews",
        include_str!("../../templates/pages/portal_reviews.hbs"),
    ),
    (
        "portal_webhooks",
        include_str!("../../templates/pages/portal_webhooks.hbs"),
    ),
];

/// Every page template, registered once; strict, so a missing value is an error, not blank.
static PAGES: LazyLock<Result<Handlebars<'static>, String>> = LazyLock::new(|| {
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    registry.register_helper("field_error", Box::new(field_error));
    registry.register_helper("invalid", Box::new(invalid));
    registry.register_helper("time", Box::new(time_helper));
    for (name, source) in TEMPLATES {
        registry
            .register_template_string(name, *source)
            .map_err(|e| format!("page template {name}: {e}"))?;
    }
    Ok(registry)
});

/// The field name a helper was given (`helper errors "name"`) and that field's problem, if any.
fn field_message<'a>(h: &'a handlebars::Helper<'_>) -> (&'a str, Option<&'a str>) {
    let name = h
        .param(1)
        .and_then(|p| p.value().as_str())
        .unwrap_or_default();
    let message = h
        .param(0)
        .and_then(|p| p.value().get("field"))
        .and_then(|f| f.get(name))
        .and_then(Value::as_str);
    (name, message)
}

/// `{{field_error errors "name"}}`: the message of field `name` of a refused form, as a
/// paragraph, or nothing. (Strict mode refuses a lookup of a field that has no problem.)
fn field_error(
    h: &handlebars::Helper<'_>,
    _: &Handlebars<'_>,
    _: &handlebars::Context,
    _: &mut handlebars::RenderContext<'_, '_>,
    out: &mut dyn handlebars::Output,
) -> handlebars::HelperResult {
    let (name, message) = field_message(h);
    if let Some(message) = message {
        out.write(&format!(
            "<p class=\"field-error\" id=\"{}-error\">{}</p>",
            handlebars::html_escape(name),
            handlebars::html_escape(message)
        ))?;
    }
    Ok(())
}

/// `{{invalid errors "name"}}` inside a control's tag: marks it invalid and points it at its
/// message (for screen readers) when field `name` has a problem; nothing otherwise.
fn invalid(
    h: &handlebars::Helper<'_>,
    _: &Handlebars<'_>,
    _: &handlebars::Context,
    _: &mut handlebars::RenderContext<'_, '_>,
    out: &mut dyn handlebars::Output,
) -> handlebars::HelperResult {
    let (name, message) = field_message(h);
    if message.is_some() {
        out.write(&format!(
            " aria-invalid=\"true\" aria-describedby=\"{}-error\"",
            handlebars::html_escape(name)
        ))?;
    }
    Ok(())
}

/// Checks at start-up that every page template compiles.
///
/// # Errors
/// The first template that does not.
pub fn check_templates() -> Result<(), String> {
    PAGES.as_ref().map(|_| ()).map_err(Clone::clone)
}

/// Why a page could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// Nobody is signed in: go to the sign-in page, and come back to `next`.
    #[error("sign in first")]
    SignIn {
        /// Where to come back to.
        next: String,
    },
    /// The signed-in role may not see the page.
    #[error("forbidden")]
    Forbidden,
    /// A form post without the visit's CSRF token (or from another origin).
    #[error("the form's CSRF token does not match")]
    Csrf,
    /// The use case refused or failed.
    #[error("{0}")]
    Api(ApiError),
    /// A page template failed to render.
    #[error("page rendering failed: {0}")]
    Render(String),
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Forbidden => PageError::Forbidden,
            other if other.code() == "not_found" => PageError::Api(ApiError::NotFound),
            other => PageError::Api(other),
        }
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::SignIn { .. } => StatusCode::SEE_OTHER,
            PageError::Forbidden | PageError::Csrf => StatusCode::FORBIDDEN,
            PageError::Api(e) => e.status_code(),
            PageError::Render(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let (title, message) = match self {
            PageError::SignIn { next } => {
                return HttpResponse::SeeOther()
                    .insert_header((
                        header::LOCATION,
                        format!("/signin?next={}", percent_encode(next)),
                    ))
                    .finish();
            }
            PageError::Forbidden => (
                "Not allowed",
                "Your account may not open this page. Sign in with another account to use it."
                    .to_owned(),
            ),
            PageError::Csrf => (
                "The form expired",
                "This form was opened in another session or came from another site. Go back, reload the page and send it again."
                    .to_owned(),
            ),
            PageError::Api(ApiError::NotFound) => (
                "Not found",
                "We could not find that page. It may have been removed, or it is not yours."
                    .to_owned(),
            ),
            // A refused filter or decision: what to change, in the words of each problem.
            PageError::Api(ApiError::Validation(problems)) => (
                "Please check what you entered",
                problems
                    .iter()
                    .map(|p| {
                        let mut m = p.message.clone();
                        if !m.ends_with('.') {
                            m.push('.');
                        }
                        m
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            PageError::Api(e) => {
                if status.is_server_error() {
                    tracing::error!(error = ?e, "page failed");
                }
                ("Something went wrong", e.problem().detail)
            }
            PageError::Render(e) => {
                tracing::error!(error = %e, "page template failed");
                (
                    "Something went wrong",
                    "An internal error occurred.".to_owned(),
                )
            }
        };
        let context = json!({
            "title": title,
            "message": message,
            "status": status.as_u16(),
            "viewer": Value::Null,
            "csrf": "",
            "nav": "",
        });
        let body = render_html("error", &context).unwrap_or_else(|_| {
            format!("<!doctype html><title>{title}</title><h1>{title}</h1><p>{message}</p>")
        });
        html_response(status, body)
    }
}

pub(crate) fn render_html(template: &str, context: &Value) -> Result<String, PageError> {
    let registry = PAGES.as_ref().map_err(|e| PageError::Render(e.clone()))?;
    registry
        .render(template, context)
        .map_err(|e| PageError::Render(e.to_string()))
}

pub(crate) fn html_response(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, PAGE_CSP))
        // Browsers then send `Origin` on the pages' own form posts (checked with the CSRF
        // token); other sites still get no referrer.
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .body(body)
}

/// Renders `template` for `visit` with `status`: adds who is signed in, the navigation and
/// the CSRF token to `page`, and sets the CSRF cookie on a first visit.
///
/// # Errors
/// [`PageError::Render`].
pub fn render(
    visit: &Visit,
    status: StatusCode,
    template: &str,
    page: impl serde::Serialize,
) -> Result<HttpResponse, PageError> {
    let mut page = serde_json::to_value(page).map_err(|e| PageError::Render(e.to_string()))?;
    let viewer = visit.caller.as_ref().map(|c| {
        let role = c.role();
        json!({
            "name": c.claims.name.clone().unwrap_or_else(|| role_label(role).to_owned()),
            "role": role_label(role),
            "is_patient": role == crate::auth::Role::Patient,
            "is_portal": crate::auth::PORTAL_ADMINS.contains(&role),
            "is_admin": visit.is_admin(),
        })
    });
    if let Value::Object(map) = &mut page {
        map.insert("viewer".into(), viewer.unwrap_or(Value::Null));
        map.insert("csrf".into(), Value::String(visit.csrf.clone()));
        map.entry("time_zone")
            .or_insert(visit.time_zone.clone().map_or(Value::Null, Value::String));
        map.entry("nav").or_insert(Value::String(String::new()));
        map.entry("flash").or_insert(Value::Null);
    }
    let body = render_html(template, &page)?;
    let mut response = html_response(status, body);
    for cookie in [visit.csrf_cookie(), visit.lang_cookie()]
        .into_iter()
        .flatten()
    {
        response
            .add_cookie(&cookie)
            .map_err(|e| PageError::Render(e.to_string()))?;
    }
    Ok(response)
}

/// The answer of a limited page for a person: the public limit answers problem+json (for
/// API clients); a browser (`Accept: text/html`) gets a page in its language that says how
/// long to wait. The status and `Retry-After` stay.
pub fn limit_page<B: 'static>() -> actix_web::middleware::ErrorHandlers<B> {
    actix_web::middleware::ErrorHandlers::new()
        .handler(StatusCode::TOO_MANY_REQUESTS, too_many_requests_page)
}

fn too_many_requests_page<B>(
    res: actix_web::dev::ServiceResponse<B>,
) -> actix_web::Result<actix_web::middleware::ErrorHandlerResponse<B>> {
    use actix_web::middleware::ErrorHandlerResponse;
    let request = res.request();
    if !wants_html(request) {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let locale = locale_of_query(request);
    let brand = request
        .app_data::<web::Data<crate::state::AppState>>()
        .map_or(copy::DEFAULT_BRAND.to_owned(), |s| {
            s.site.brand_name.clone()
        });
    let retry_after = res.headers().get(header::RETRY_AFTER).cloned();
    let seconds = retry_after
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(60);
    let words = copy::copy_for(locale, &brand);
    let context = json!({
        "title": words["too_many_title"],
        "copy": words,
        "message": words["too_many_text"].as_str().unwrap_or_default().replace("{seconds}", &seconds.to_string()),
        "status": 429,
        "viewer": Value::Null,
        "csrf": "",
        "nav": "",
        "flash": Value::Null,
    });
    let body = render_html("limited", &context).map_err(actix_web::Error::from)?;
    let mut page = html_response(StatusCode::TOO_MANY_REQUESTS, body);
    if let Some(value) = retry_after {
        page.headers_mut().insert(header::RETRY_AFTER, value);
    }
    let (request, _) = res.into_parts();
    Ok(ErrorHandlerResponse::Response(
        actix_web::dev::ServiceResponse::new(request, page).map_into_right_body(),
    ))
}

/// A 303 to `location` (after a successful form post).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_owned()))
        .finish()
}

/// `{{time value}}`: a [`when`] time as a `<time>` element, or the value as it is when it
/// is not one (`—`).
fn time_helper(
    h: &handlebars::Helper<'_>,
    _: &Handlebars<'_>,
    _: &handlebars::Context,
    _: &mut handlebars::RenderContext<'_, '_>,
    out: &mut dyn handlebars::Output,
) -> handlebars::HelperResult {
    let value = h
        .param(0)
        .and_then(|p| p.value().as_str())
        .unwrap_or_default();
    match DateTime::parse_from_rfc3339(value) {
        Ok(at) => out.write(&format!(
            "<time datetime=\"{value}\">{}</time>",
            at.with_timezone(&Utc).format("%Y-%m-%d %H:%M UTC")
        ))?,
        Err(_) => out.write(&handlebars::html_escape(value))?,
    }
    Ok(())
}

fn role_label(role: crate::auth::Role) -> &'static str {
    match role {
        crate::auth::Role::Patient => "Patient",
        crate::auth::Role::Provider => "Provider",
        crate::auth::Role::ProviderAdmin => "Provider admin",
        crate::auth::Role::Admin => "Admin",
        crate::auth::Role::SuperAdmin => "Super admin",
        crate::auth::Role::Service => "Service",
    }
}
