//! `/register?ref=CODE`: the page a shared link opens. It greets the friend with the
//! welcome bonus, takes the registration, and says plainly when a code is unknown, expired
//! or already used.

use crate::pages::session::Visit;
use crate::pages::{form_problems, render, reward_text, PageError};
use crate::routes::public::{complete_registration, public_referral, start_registration};
use crate::state::{AppState, Origin};
use crate::views::{PublicReferralView, RegisterRequest};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, ResponseError};
use referral_domain::disclosure::SHARE_CONSENT_WORDING;
use serde::Deserialize;
use serde_json::{json, Value};

/// Query of the page.
#[derive(Debug, Default, Deserialize)]
pub struct RegisterQuery {
    #[serde(rename = "ref")]
    code: Option<String>,
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
fn unusable(status: &str) -> Option<(StatusCode, &'static str, &'static str)> {
    match status {
        "unknown" => Some((
            StatusCode::NOT_FOUND,
            "We don't recognise this referral code",
            "Check the link your friend sent you, or ask them to share it again.",
        )),
        "expired" => Some((
            StatusCode::GONE,
            "This invitation has expired",
            "Referral invitations are valid for a limited time. Ask your friend to send you a new one.",
        )),
        "used" => Some((
            StatusCode::CONFLICT,
            "This invitation has already been used",
            "Each invitation can be used once. If it was not you, ask your friend for a new one.",
        )),
        _ => None,
    }
}

fn page_context(code: &str, referral: Option<&PublicReferralView>, status: &str) -> Value {
    let problem = unusable(status).map(|(_, title, text)| json!({"title": title, "text": text}));
    json!({
        "title": "Join Zappy Health",
        "code": code,
        "problem": problem,
        "usable": referral.is_some() && problem.is_none(),
        "program_name": referral.map(|r| r.program_name.clone()),
        "bonus": referral.map(|r| reward_text(r.referee_reward_type.as_deref(), r.referee_reward_value.as_deref())),
        "has_bonus": referral.is_some_and(|r| r.referee_reward_type.is_some()),
        "form": {"email": "", "name": "", "phone": "", "share_with_referrer": false},
        "share_consent_wording": SHARE_CONSENT_WORDING,
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
    query: web::Query<RegisterQuery>,
) -> Result<HttpResponse, PageError> {
    let code = query.code.as_deref().map(str::trim).unwrap_or_default();
    if code.is_empty() {
        return render(
            &visit,
            StatusCode::OK,
            "register",
            page_context("", None, ""),
        );
    }
    let (referral, status) = look_up(&state, code).await?;
    let http_status = unusable(&status).map_or(StatusCode::OK, |(s, _, _)| s);
    render(
        &visit,
        http_status,
        "register",
        page_context(code, referral.as_ref(), &status),
    )
}

/// `POST /register`: checks the code and emails the address a confirmation link (or that
/// it already has an account); the page says to check the email, whatever the address.
pub async fn submit(
    state: web::Data<AppState>,
    visit: Visit,
    origin: Origin,
    form: web::Form<RegisterForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    visit.check_csrf(&form.csrf)?;
    let code = form.code.trim().to_owned();
    let request = RegisterRequest {
        email: form.email.trim().to_owned(),
        name: Some(form.name.clone()),
        phone: Some(form.phone.clone()),
        patient_id: None,
        share_with_referrer: Some(form.share_with_referrer.is_some()),
    };
    match start_registration(&state, &origin, code.clone(), request).await {
        Ok(_) => render(
            &visit,
            StatusCode::ACCEPTED,
            "register_sent",
            json!({"title": "Check your email"}),
        ),
        Err(e) if e.code() == "not_found" => {
            let mut context = page_context(&code, None, "unknown");
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
            let mut context = page_context(&code, referral.as_ref(), &code_status);
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
}

/// `GET /register/verify?token=...`: the link of the confirmation email. It shows a button
/// and changes nothing: mail scanners open links, and the link works only once.
pub async fn verify_page(
    visit: Visit,
    query: web::Query<VerifyQuery>,
) -> Result<HttpResponse, PageError> {
    let token = query.token.clone().unwrap_or_default();
    let problem = token.trim().is_empty().then(|| {
        json!({"title": "This link is not complete",
               "text": "Open the link from the email again, or copy all of it into the address bar."})
    });
    render(
        &visit,
        StatusCode::OK,
        "register_verify",
        json!({"title": "Confirm and join", "token": token, "problem": problem}),
    )
}

/// The confirmation form.
#[derive(Debug, Default, Deserialize)]
pub struct VerifyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
}

/// `POST /register/verify`: registers, then shows the welcome bonus; or says why not.
pub async fn verify(
    state: web::Data<AppState>,
    visit: Visit,
    origin: Origin,
    form: web::Form<VerifyForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    visit.check_csrf(&form.csrf)?;
    match complete_registration(&state, &origin, form.token).await {
        Ok(registration) => {
            let bonus = registration.referee_reward.as_ref().map(|r| {
                json!({
                    "text": reward_text(Some(&r.reward_type), r.reward_amount.as_deref()),
                    "status": crate::pages::label(&r.status),
                    "withheld": r.withheld_reason.is_some(),
                })
            });
            render(
                &visit,
                StatusCode::CREATED,
                "registered",
                json!({"title": "Welcome to Zappy Health", "bonus": bonus}),
            )
        }
        Err(e) => {
            let status = e.status_code();
            if status.is_server_error() {
                return Err(e.into());
            }
            let (title, text) = match e.code() {
                "not_found" => (
                    "This link is not valid",
                    "It may have been used already. If you joined, sign in to Zappy Health; otherwise register again with your friend's link.",
                ),
                "verification_expired" => (
                    "This link has expired",
                    "Confirmation links work for 24 hours. Register again with your friend's link to get a new one.",
                ),
                "referral_expired" => (
                    "This invitation has expired",
                    "Referral invitations are valid for a limited time. Ask your friend to send you a new one.",
                ),
                "already_registered" | "referral_declined" => (
                    "This invitation has already been used",
                    "Each invitation can be used once. If it was not you, ask your friend for a new one.",
                ),
                "duplicate_referee" | "self_referral" => (
                    "This address cannot join with this invitation",
                    "It already has an account, or belongs to the person who invited you. Sign in to Zappy Health instead.",
                ),
                _ => (
                    "We could not finish your registration",
                    "Register again with your friend's link.",
                ),
            };
            render(
                &visit,
                status,
                "register_verify",
                json!({"title": title, "token": "", "problem": {"title": title, "text": text}}),
            )
        }
    }
}
