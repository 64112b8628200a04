//! The portals in the browser: server-rendered HTML from handlebars templates, served by the
//! same binary as the API. Pages call the same use cases as the JSON handlers (same checks,
//! same audit rows); only the shape of the answer differs. A little plain JavaScript (the
//! copy button) is served from `/static`; there is no build step.

pub mod charts;
pub mod copy;
pub mod paging;
pub mod patient;
pub mod patient_copy;
pub mod portal;
pub mod register;
pub mod session;
pub mod signin;
pub mod unsubscribe;

use crate::error::{ApiError, FieldProblem};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use chrono::{DateTime, Utc};
use handlebars::Handlebars;
use referral_domain::{Money, RewardSpec, RewardType};
use serde_json::{json, Value};
use session::Visit;
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

const STYLESHEET: &str = include_str!("../../static/app.css");
const SCRIPT: &str = include_str!("../../static/app.js");

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

fn render_html(template: &str, context: &Value) -> Result<String, PageError> {
    let registry = PAGES.as_ref().map_err(|e| PageError::Render(e.clone()))?;
    registry
        .render(template, context)
        .map_err(|e| PageError::Render(e.to_string()))
}

fn html_response(status: StatusCode, body: String) -> HttpResponse {
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

/// The language of a page for a person: `explicit` (`?lang=`, a form's `lang`) when it
/// names one we write, else the browser's `Accept-Language`.
pub fn locale_of(request: &HttpRequest, explicit: Option<&str>) -> referral_domain::Locale {
    let accept = request
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    referral_domain::Locale::negotiate(explicit, accept)
}

/// [`locale_of`] with the `lang` of the query string.
pub fn locale_of_query(request: &HttpRequest) -> referral_domain::Locale {
    let lang =
        web::Query::<std::collections::HashMap<String, String>>::from_query(request.query_string())
            .ok()
            .and_then(|q| q.get("lang").cloned());
    locale_of(request, lang.as_deref())
}

/// Whether the request is a person's browser (`Accept: text/html`), to answer with a page.
pub fn wants_html(request: &HttpRequest) -> bool {
    request
        .headers()
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
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

/// What a form shows when its use case refused: the summary and the message of each field.
/// Server errors are not the user's to fix: they become the error page.
///
/// # Errors
/// The error itself when it is not about the input.
pub fn form_problems(e: ApiError) -> Result<(StatusCode, Value), PageError> {
    let status = e.status_code();
    if status.is_server_error()
        || matches!(
            e,
            ApiError::Forbidden | ApiError::Unauthenticated | ApiError::NotFound
        )
    {
        return Err(e.into());
    }
    let problem = e.problem();
    let fields: Vec<FieldProblem> = problem.errors.unwrap_or_default();
    let mut by_field = serde_json::Map::new();
    for f in &fields {
        by_field
            .entry(f.field.replace('.', "_"))
            .or_insert(Value::String(f.message.clone()));
    }
    Ok((
        status,
        json!({
            "summary": problem.detail,
            "code": problem.code,
            "list": fields,
            "field": by_field,
        }),
    ))
}

/// [`form_problems`] in the words of the form: each field named by the label the person
/// sees (`labels`: field, label), in the summary and inside each message, never as
/// `referee_email`.
///
/// # Errors
/// As [`form_problems`].
pub fn form_problems_labelled(
    e: ApiError,
    labels: &[(&str, &str)],
) -> Result<(StatusCode, Value), PageError> {
    let (status, mut errors) = form_problems(e)?;
    let label_of = |field: &str| {
        labels
            .iter()
            .find(|(name, _)| *name == field)
            .map(|(_, label)| *label)
    };
    let words = |text: &str| {
        // Longest names first: `referee_email` before `email`.
        let mut sorted: Vec<&(&str, &str)> = labels.iter().collect();
        sorted.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
        let mut out = text.to_owned();
        for (name, label) in sorted {
            out = out.replace(name, label);
        }
        // A sentence starts with a capital.
        let mut chars = out.chars();
        chars.next().map_or_else(String::new, |first| {
            first.to_uppercase().collect::<String>() + chars.as_str()
        })
    };
    let count = errors["list"].as_array().map_or(0, Vec::len);
    if let Some(list) = errors["list"].as_array_mut() {
        for item in list.iter_mut() {
            let field = item["field"].as_str().unwrap_or_default().to_owned();
            // The summary's link leads to the control: `target_demographics.min_age` is
            // the input `min_age`.
            let anchor = field.rsplit('.').next().unwrap_or(&field).to_owned();
            item["anchor"] = Value::String(anchor);
            let message = words(item["message"].as_str().unwrap_or_default());
            item["label"] =
                Value::String(label_of(&field).map_or_else(|| words(&field), str::to_owned));
            item["message"] = Value::String(message);
        }
    }
    if let Some(map) = errors["field"].as_object_mut() {
        for value in map.values_mut() {
            *value = Value::String(words(value.as_str().unwrap_or_default()));
        }
    }
    let summary = match count {
        0 => errors["summary"].as_str().map(words).unwrap_or_default(),
        1 => "Fix the problem below, then send the form again.".to_owned(),
        n => format!("Fix the {n} problems below, then send the form again."),
    };
    errors["summary"] = Value::String(summary);
    Ok((status, errors))
}

/// Percent-encodes `text` for a query value.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// A time for a page: RFC 3339, which the `{{time}}` helper shows (in UTC without script;
/// the page's script then writes it in the viewer's time zone, and says which).
pub fn when(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
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

/// A reward as people read it, in the domain's one wording ([`RewardSpec::description`]):
/// `20% off a consultation`, `$25.00 account credit`.
pub fn reward_text(kind: Option<&str>, amount: Option<&str>) -> String {
    reward_text_in(referral_domain::Locale::En, kind, amount)
}

/// [`reward_text`] in `locale` (the friend's pages), from [`RewardSpec::description_in`].
pub fn reward_text_in(
    locale: referral_domain::Locale,
    kind: Option<&str>,
    amount: Option<&str>,
) -> String {
    let Some(kind) = kind else {
        return "No reward".to_owned();
    };
    let spec = kind
        .parse::<RewardType>()
        .ok()
        .zip(amount.and_then(|a| Money::parse(a).ok()))
        .map(|(reward_type, value)| RewardSpec { reward_type, value });
    match spec {
        Some(spec) => spec.description_in(locale),
        None => label(kind),
    }
}

/// `pending_approval` → `Pending approval`.
pub fn label(code: &str) -> String {
    let text = code.replace(['_', '-'], " ");
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().collect::<String>() + chars.as_str()
    })
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
    L: Fn() -> crate::routes::PublicLimiter<F>,
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
            .wrap(public_limit())
            .wrap(limit_page())
            .route(web::get().to(register::page))
            .route(web::post().to(register::submit)),
    )
    .service(
        resource("/register/verify")
            .wrap(public_limit())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        check_templates().unwrap();
    }

    #[test]
    fn rewards_read_as_people_say_them() {
        assert_eq!(
            reward_text(Some("discount"), Some("20.00")),
            "20% off a consultation"
        );
        assert_eq!(
            reward_text(Some("credit"), Some("25.00")),
            "$25.00 account credit"
        );
        assert_eq!(
            reward_text(Some("free_consultation"), Some("50.00")),
            "a free consultation (worth $50.00)"
        );
        assert_eq!(label("pending_approval"), "Pending approval");
    }

    #[test]
    fn next_paths_are_encoded() {
        assert_eq!(
            percent_encode("/portal/referrals/analytics?interval=week"),
            "/portal/referrals/analytics%3Finterval%3Dweek"
        );
    }
}
