//! `/register?ref=CODE`: the page a shared link opens. It greets the friend with the
//! welcome bonus, takes the registration, and says plainly when a code is unknown, expired
//! or already used. Its language is `?lang=` when given, else the browser's
//! `Accept-Language` (English or Spanish); the form carries it on, so the confirmation
//! email and the stored consent are in the words the friend read.

use crate::pages::copy::{copy, status_words, Copy, Problem};
use crate::pages::session::Visit;
use crate::pages::{form_problems, render, reward_text_in, PageError};
use crate::routes::public::{complete_registration, public_referral, start_registration};
use crate::state::{AppState, Origin};
use crate::views::{PublicReferralView, RegisterRequest};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use referral_domain::Locale;
use serde::Deserialize;
use serde_json::{json, Value};

/// Query of the page.
#[derive(Debug, Default, Deserialize)]
pub struct RegisterQuery {
    #[serde(rename = "ref")]
    code: Option<String>,
    lang: Option<String>,
}

/// The page's language: `?lang=` (or the form's `lang`), else the browser's.
fn locale_of(request: &HttpRequest, explicit: Option<&str>) -> Locale {
    let accept = request
        .headers()
        .get(actix_web::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    Locale::negotiate(explicit, accept)
}

/// The registration form.
#[derive(Debug, Default, Deserialize)]
pub struct RegisterForm {
    #[serde(default)]
    csrf: String,
    #[serde(rename = "ref", default)]
    code: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    phone: String,
    /// A ticked box posts `on`.
    share_with_referrer: Option<String>,
    /// The page's language.
    #[serde(default)]
    lang: String,
}

impl RegisterForm {
    fn values(&self) -> Value {
        json!({
            "email": self.email,
            "name": self.name,
            "phone": self.phone,
            "share_with_referrer": self.share_with_referrer.is_some(),
        })
    }
}

/// Why a code cannot be used, as the page says it.
fn unusable(words: &Copy, status: &str) -> Option<(StatusCode, Problem)> {
    match status {
        "unknown" => Some((StatusCode::NOT_FOUND, words.unknown_code)),
        "expired" => Some((StatusCode::GONE, words.expired)),
        "used" => Some((StatusCode::CONFLICT, words.used)),
        _ => None,
    }
}

fn page_context(
    locale: Locale,
    code: &str,
    referral: Option<&PublicReferralView>,
    status: &str,
) -> Value {
    let words = copy(locale);
    let problem = unusable(words, status).map(|(_, problem)| problem);
    json!({
        "title": words.join_title,
        "copy": words,
        "code": code,
        "problem": problem,
        "usable": referral.is_some() && problem.is_none(),
        "program_name": referral.map(|r| r.program_name.clone()),
        "bonus": referral.map(|r| reward_text_in(locale, r.referee_reward_type.as_deref(), r.referee_reward_value.as_deref())),
        "has_bonus": referral.is_some_and(|r| r.referee_reward_type.is_some()),
        "form": {"email": "", "name": "", "phone": "", "share_with_referrer": false},
        "errors": Value::Null,
    })
}

async fn look_up(
    state: &web::Data<AppState>,
    code: &str,
) -> Result<(Option<PublicReferralView>, String), PageError> {
    match public_referral(state, code.to_owned()).await {
        Ok(view) => {
            let status = view.status.clone();
            Ok((Some(view), status))
        }
        Err(e) if e.code() == "not_found" => Ok((None, "unknown".to_owned())),
        Err(e) => Err(e.into()),
    }
}

/// `GET /register?ref=CODE`.
pub async fn page(
    state: web::Data<AppState>,
    visit: Visit,
    request: HttpRequest,
    query: web::Query<RegisterQuery>,
) -> Result<HttpResponse, PageError> {
    let locale = locale_of(&request, query.lang.as_deref());
    let code = query.code.as_deref().map(str::trim).unwrap_or_default();
    if code.is_empty() {
        return render(
            &visit,
            StatusCode::OK,
            "register",
            page_context(locale, "", None, ""),
        );
    }
    let (referral, status) = look_up(&state, code).await?;
    let http_status = unusable(copy(locale), &status).map_or(StatusCode::OK, |(s, _)| s);
    render(
        &visit,
        http_status,
        "register",
        page_context(locale, code, referral.as_ref(), &status),
    )
}

/// `POST /register`: checks the code and emails the address a confirmation link (or that
/// it already has an account); the page says to check the email, whatever the address.
pub async fn submit(
    state: web::Data<AppState>,
    visit: Visit,
    origin: Origin,
    request: HttpRequest,
    form: web::Form<RegisterForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    visit.check_csrf(&form.csrf)?;
    let locale = locale_of(&request, Some(form.lang.as_str()));
    let words = copy(locale);
    let code = form.code.trim().to_owned();
    let request = RegisterRequest {
        email: form.email.trim().to_owned(),
        name: Some(form.name.clone()),
        phone: Some(form.phone.clone()),
        patient_id: None,
        share_with_referrer: Some(form.share_with_referrer.is_some()),
        locale: Some(locale.as_str().to_owned()),
    };
    match start_registration(&state, &origin, code.clone(), request).await {
        Ok(_) => render(
            &visit,
            StatusCode::ACCEPTED,
            "register_sent",
            json!({"title": words.sent_title, "copy": words}),
        ),
        Err(e) if e.code() == "not_found" => {
            let mut context = page_context(locale, &code, None, "unknown");
            context["form"] = form.values();
            render(&visit, StatusCode::NOT_FOUND, "register", context)
        }
        Err(e) => {
            let expired = e.code() == "referral_expired";
            let (status, errors) = form_problems(e)?;
            let (referral, code_status) = look_up(&state, &code).await?;
            let code_status = if expired {
                "expired".to_owned()
            } else {
                code_status
            };
            let mut context = page_context(locale, &code, referral.as_ref(), &code_status);
            context["form"] = form.values();
            context["errors"] = errors;
            render(&visit, status, "register", context)
        }
    }
}

/// Query of the confirmation page.
#[derive(Debug, Default, Deserialize)]
pub struct VerifyQuery {
    token: Option<String>,
    lang: Option<String>,
}

/// `GET /register/verify?token=...`: the link of the confirmation email. It shows a button
/// and changes nothing: mail scanners open links, and the link works only once.
pub async fn verify_page(
    visit: Visit,
    request: HttpRequest,
    query: web::Query<VerifyQuery>,
) -> Result<HttpResponse, PageError> {
    let words = copy(locale_of(&request, query.lang.as_deref()));
    let token = query.token.clone().unwrap_or_default();
    let problem = token.trim().is_empty().then_some(words.incomplete_link);
    render(
        &visit,
        StatusCode::OK,
        "register_verify",
        json!({"title": words.confirm_title, "copy": words, "token": token, "problem": problem}),
    )
}

/// The confirmation form.
#[derive(Debug, Default, Deserialize)]
pub struct VerifyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    lang: String,
}

/// `POST /register/verify`: registers, then shows the welcome bonus; or says why not.
pub async fn verify(
    state: web::Data<AppState>,
    visit: Visit,
    origin: Origin,
    request: HttpRequest,
    form: web::Form<VerifyForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    visit.check_csrf(&form.csrf)?;
    let locale = locale_of(&request, Some(form.lang.as_str()));
    let words = copy(locale);
    match complete_registration(&state, &origin, form.token).await {
        Ok(registration) => {
            let bonus = registration.referee_reward.as_ref().map(|r| {
                json!({
                    "text": reward_text_in(locale, Some(&r.reward_type), r.reward_amount.as_deref()),
                    "status": status_words(locale, &r.status),
                    "withheld": r.withheld_reason.is_some(),
                })
            });
            render(
                &visit,
                StatusCode::CREATED,
                "registered",
                json!({"title": words.welcome_title, "copy": words, "bonus": bonus}),
            )
        }
        Err(e) => {
            let status = e.status_code();
            if status.is_server_error() {
                return Err(e.into());
            }
            let problem = match e.code() {
                "not_found" => words.invalid_link,
                "verification_expired" => words.expired_link,
                "referral_expired" => words.expired,
                "already_registered" | "referral_declined" => words.used,
                "duplicate_referee" | "self_referral" => words.cannot_join,
                _ => words.not_finished,
            };
            render(
                &visit,
                status,
                "register_verify",
                json!({"title": problem.title, "copy": words, "token": "", "problem": problem}),
            )
        }
    }
}
