//! `/register?ref=CODE`: the page a shared link opens. It greets the friend with the
//! welcome bonus, takes the registration, and says plainly when a code is unknown, expired
//! or already used. Its language is `?lang=` when given, else the browser's
//! `Accept-Language` (English or Spanish); the form carries it on, so the confirmation
//! email and the stored consent are in the words the friend read.

use crate::error::ApiError;
use crate::pages::copy::{copy, copy_for, status_words, Copy, Problem, DEFAULT_BRAND};
use crate::pages::session::Visit;
use crate::pages::{form_problems, locale_of, render, reward_text_in, PageError};
use crate::routes::public::{
    complete_registration, inviter_name, public_referral, start_registration,
};
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

/// What the friend's page says around its form: the words in the page's language under the
/// service's brand, who invited them (when their invitation named them) and the terms.
struct Around<'a> {
    locale: Locale,
    site: &'a crate::site::Site,
    inviter: Option<String>,
}

impl Around<'_> {
    fn words(&self) -> Value {
        copy_for(self.locale, &self.site.brand_name)
    }
}

fn page_context(
    around: &Around<'_>,
    code: &str,
    referral: Option<&PublicReferralView>,
    status: &str,
) -> Value {
    let locale = around.locale;
    let words = copy(locale);
    let problem = unusable(words, status).map(|(_, problem)| problem);
    // The problem in the service's brand, as the rest of the words.
    let problem = problem.map(|p| {
        json!({"title": p.title.replace(DEFAULT_BRAND, &around.site.brand_name),
               "text": p.text.replace(DEFAULT_BRAND, &around.site.brand_name)})
    });
    json!({
        "title": words.join_title.replace(DEFAULT_BRAND, &around.site.brand_name),
        "copy": around.words(),
        "code": code,
        "problem": problem,
        "usable": referral.is_some() && problem.is_none(),
        "invited_by": around.inviter.as_deref().map(|name| words.invited_by.replace("{name}", name)),
        "terms_url": around.site.terms_url,
        "program_name": referral.map(|r| r.program_name.clone()),
        "bonus": referral.map(|r| reward_text_in(locale, r.referee_reward_type, r.referee_reward_value.clone())),
        "has_bonus": referral.is_some_and(|r| r.referee_reward_type.is_some()),
        "form": {"email": "", "name": "", "phone": "", "share_with_referrer": false},
        "errors": Value::Null,
    })
}

/// A refused registration as the friend reads it: each field's problem in their language,
/// in words that say what to enter (never a field name or a format's name), and the
/// summary's links to the fields.
fn friend_problems(locale: Locale, e: ApiError) -> Result<(StatusCode, Value), PageError> {
    let words = copy(locale);
    let code = e.code();
    let (status, mut errors) = form_problems(e)?;
    let entry = |field: &str| match field {
        "email" => (words.email, words.email_advice),
        "name" => (words.full_name, words.name_advice),
        "phone" => (words.phone_optional, words.phone_advice),
        _ => (words.other_advice, words.other_advice),
    };
    let mut list = Vec::new();
    let mut by_field = serde_json::Map::new();
    let fields: Vec<String> = errors["list"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    for field in fields {
        if by_field.contains_key(&field) {
            continue;
        }
        let (label, advice) = entry(&field);
        list.push(json!({"field": field, "label": label, "message": advice}));
        by_field.insert(field, Value::String(advice.to_owned()));
    }
    errors["summary"] = Value::String(
        if !list.is_empty() {
            words.errors_summary
        } else if code == "rate_limited" {
            words.too_many_title
        } else {
            words.not_finished.text
        }
        .to_owned(),
    );
    errors["heading"] = Value::String(words.errors_heading.to_owned());
    errors["list"] = Value::Array(list);
    errors["field"] = Value::Object(by_field);
    Ok((status, errors))
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
    origin: Origin,
    request: HttpRequest,
    query: web::Query<RegisterQuery>,
) -> Result<HttpResponse, PageError> {
    let locale = locale_of(&request, query.lang.as_deref());
    let code = query.code.as_deref().map(str::trim).unwrap_or_default();
    let mut around = Around {
        locale,
        site: &state.site,
        inviter: None,
    };
    if code.is_empty() {
        return render(
            &visit,
            StatusCode::OK,
            "register",
            page_context(&around, "", None, ""),
        );
    }
    let (referral, status) = look_up(&state, code).await?;
    let http_status = unusable(copy(locale), &status).map_or(StatusCode::OK, |(s, _)| s);
    if http_status == StatusCode::OK {
        around.inviter = inviter_name(&state, &origin, code).await?;
    }
    render(
        &visit,
        http_status,
        "register",
        page_context(&around, code, referral.as_ref(), &status),
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
    let around = Around {
        locale,
        site: &state.site,
        inviter: None,
    };
    let masked = referral_domain::Email::parse(&request.email)
        .map(|e| e.masked())
        .unwrap_or_default();
    match start_registration(&state, &origin, code.clone(), request).await {
        Ok(_) => render(
            &visit,
            StatusCode::ACCEPTED,
            "register_sent",
            json!({
                "title": words.sent_title,
                "copy": around.words(),
                "sent_to": words.sent_to.replace("{email}", &masked),
                // The resend posts the same registration again: bounded as registration
                // is (one link per address and code each 10 minutes, the address limit).
                "code": code,
                "form": form.values(),
            }),
        ),
        Err(e) if e.code() == "not_found" => {
            let mut context = page_context(&around, &code, None, "unknown");
            context["form"] = form.values();
            render(&visit, StatusCode::NOT_FOUND, "register", context)
        }
        Err(e) => {
            let expired = e.code() == "referral_expired";
            let (status, errors) = friend_problems(locale, e)?;
            let (referral, code_status) = look_up(&state, &code).await?;
            let code_status = if expired {
                "expired".to_owned()
            } else {
                code_status
            };
            let mut context = page_context(&around, &code, referral.as_ref(), &code_status);
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
    state: web::Data<AppState>,
    visit: Visit,
    request: HttpRequest,
    query: web::Query<VerifyQuery>,
) -> Result<HttpResponse, PageError> {
    let words = copy_for(
        locale_of(&request, query.lang.as_deref()),
        &state.site.brand_name,
    );
    let token = query.token.clone().unwrap_or_default();
    let problem = token
        .trim()
        .is_empty()
        .then(|| words["incomplete_link"].clone());
    render(
        &visit,
        StatusCode::OK,
        "register_verify",
        json!({"title": words["confirm_title"], "copy": words, "token": token, "problem": problem}),
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

/// `POST /register/verify`: registers, then shows the welcome bonus and the way to a first
/// consultation; or says why not.
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
    let words = copy_for(locale, &state.site.brand_name);
    match complete_registration(&state, &origin, form.token).await {
        Ok(registration) => {
            let bonus = registration.referee_reward.as_ref().map(|r| {
                json!({
                    "text": crate::pages::reward_text_in(locale, Some(r.reward_type), r.reward_amount.clone()),
                    "status": status_words(locale, r.status.as_str()),
                    "withheld": r.withheld_reason.is_some(),
                })
            });
            let booking_url = state
                .site
                .booking_url_for(registration.booking_url.as_deref());
            render(
                &visit,
                StatusCode::CREATED,
                "registered",
                json!({"title": words["welcome_title"], "copy": words, "bonus": bonus,
                    "booking_url": booking_url}),
            )
        }
        Err(e) => {
            let status = e.status_code();
            if status.is_server_error() {
                return Err(e.into());
            }
            let problem = match (&e, e.code()) {
                // How long to wait, as the limit said it.
                (ApiError::RateLimited(seconds), _) => json!({
                    "title": words["too_many_title"],
                    "text": words["too_many_text"].as_str().unwrap_or_default().replace("{seconds}", &seconds.to_string()),
                }),
                (_, "not_found") => words["invalid_link"].clone(),
                (_, "verification_expired") => words["expired_link"].clone(),
                (_, "referral_expired") => words["expired"].clone(),
                (_, "already_registered" | "referral_declined") => words["used"].clone(),
                (_, "duplicate_referee" | "self_referral") => words["cannot_join"].clone(),
                _ => words["not_finished"].clone(),
            };
            render(
                &visit,
                status,
                "register_verify",
                json!({"title": problem["title"], "copy": words, "token": "", "problem": problem}),
            )
        }
    }
}
