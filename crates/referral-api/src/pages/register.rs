//! `/register?ref=CODE`: the page a shared link opens. It greets the friend with the
//! welcome bonus, takes the registration, and says plainly when a code is unknown, expired
//! or already used.

use crate::pages::session::Visit;
use crate::pages::{form_problems, render, reward_text, PageError};
use crate::routes::public::{public_referral, register_with_code};
use crate::state::{AppState, Origin};
use crate::views::{PublicReferralView, RegisterRequest};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
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

/// `POST /register`: registers the friend and shows the welcome bonus.
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
    match register_with_code(&state, None, &origin, code.clone(), request).await {
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
