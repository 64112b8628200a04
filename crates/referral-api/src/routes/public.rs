//! Public endpoints: look up a code, follow a link, register with a code, unsubscribe.

use crate::access::Operation;
use crate::auth::{Caller, Role};
use crate::call::Call;
use crate::error::{ApiError, FieldProblem};

use crate::state::{AppState, AuditAction, Origin};
use crate::views::{
    PublicReferralView, RegisterRequest, RegistrationView, VerificationSentView,
    VerifyRegistrationRequest,
};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use referral_domain::disclosure::SHARE_CONSENT_WORDING;
use referral_domain::{Email, PatientId, Phone};
use referral_store::referrals::{self, ClickToRecord, Registrant, RequestOrigin};
use referral_store::{programs, suppressions};

/// Who may call `get_referral_by_code`.
pub(crate) const GET_REFERRAL_BY_CODE: Operation = Operation::public("get_referral_by_code");

/// What a code's landing page may show: no PHI of anyone.
#[utoipa::path(get, path = "/api/referrals/{code}", operation_id = "get_referral_by_code", tag = "public",
    params(("code" = String, Path, description = "Referral code; case, `-` and spaces ignored")),
    responses((status = 200, body = PublicReferralView), (status = 404, body = crate::error::Problem),
        (status = 429, body = crate::error::Problem)))]
pub async fn lookup(
    state: web::Data<AppState>,
    code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let view = public_referral(&state, code.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// What a visitor holding `code` may see of its referral.
pub(crate) async fn public_referral(
    state: &web::Data<AppState>,
    code: String,
) -> Result<PublicReferralView, ApiError> {
    let now = state.now();
    let app = state.clone();
    state
        .db(move |conn| {
            let referral = match referrals::find_by_code(conn, &code, now) {
                // A personal share link: registering through it makes a referral now.
                Err(referral_store::StoreError::NotFound) => {
                    let link = referral_store::share_links::lookup(conn, &code)?;
                    let program = programs::get(conn, link.program_id)?;
                    let code = referral_domain::ReferralCode::parse(&code)
                        .map_err(|_| ApiError::NotFound)?
                        .to_string();
                    return Ok(PublicReferralView {
                        share_url: app.share_url(&code),
                        referral_code: code,
                        status: if link.retired { "expired" } else { "pending" }.into(),
                        expires_at: referral_domain::referral::expires_at(
                            now,
                            program.expiry_days,
                        )?,
                        program_name: program.public_name().to_owned(),
                        referee_reward_type: program.referee_reward_type,
                        referee_reward_value: program.referee_reward_value.clone(),
                        share_consent_wording: SHARE_CONSENT_WORDING.to_owned(),
                    });
                }
                other => other?,
            };
            let program = programs::get(conn, referral.program_id)?;
            let code = referral.referral_code.to_string();
            Ok(PublicReferralView {
                share_url: app.share_url(&code),
                referral_code: code,
                // Only the invitation's date: a used or declined code reads as an open one.
                status: referral_domain::disclosure::public_code_status(referral.expires_at, now)
                    .into(),
                expires_at: referral.expires_at,
                program_name: program.public_name().to_owned(),
                referee_reward_type: program.referee_reward_type,
                referee_reward_value: program.referee_reward_value.clone(),
                share_consent_wording: SHARE_CONSENT_WORDING.to_owned(),
            })
        })
        .await
}

/// Who invited the holder of `code`, as the invitation the service sent them named the
/// referrer ([`referral_domain::disclosure::page_names_inviter`]); `None` for share links,
/// codes handed on otherwise, unknown codes and referrers without a name. The read of the
/// referrer's name is audited (as `visitor`).
pub(crate) async fn inviter_name(
    state: &web::Data<AppState>,
    origin: &Origin,
    code: &str,
) -> Result<Option<String>, ApiError> {
    let now = state.now();
    let lookup = code.to_owned();
    let referral = state
        .db(
            move |conn| match referrals::find_by_code(conn, &lookup, now) {
                Ok(referral) => Ok(Some(referral)),
                Err(referral_store::StoreError::NotFound) => Ok(None),
                Err(e) => Err(e.into()),
            },
        )
        .await?;
    let Some(referral) = referral.filter(|r| {
        referral_domain::disclosure::page_names_inviter(
            r.referral_source,
            r.referee_phone.is_some(),
        )
    }) else {
        return Ok(None);
    };
    let referrer = referral.referrer_id;
    let name = state
        .audited_as(
            None,
            origin,
            AuditAction::new(
                "read_inviter_name",
                "referral",
                Some(referral.id.to_string()),
            ),
            move |conn| {
                Ok(InviterName(
                    referral_store::patients::get(conn, referrer)?.name,
                ))
            },
        )
        .await?;
    Ok(name.0)
}

/// The referrer's name, as the registration page shows it.
struct InviterName(Option<String>);

impl crate::state::AuditedResource for InviterName {}

/// Who may call `click_referral_link`.
pub(crate) const CLICK_REFERRAL_LINK: Operation = Operation::public("click_referral_link");

/// Records a click and redirects to the registration page (the API's form of
/// [`open_link`], for clients that build their own links).
#[utoipa::path(get, path = "/api/referrals/{code}/click", operation_id = "click_referral_link", tag = "public",
    params(("code" = String, Path, description = "Referral code"), ("source" = Option<String>, Query, description = "Where the link was shared")),
    responses((status = 302, description = "Redirect to {public_base_url}/register?ref={code}"),
        (status = 404, body = crate::error::Problem), (status = 429, body = crate::error::Problem)))]
pub async fn click(
    state: web::Data<AppState>,
    worker_clicks: web::Data<crate::clicks::WorkerClickPool>,
    origin: Origin,
    code: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    follow(&state, &worker_clicks, origin, code.into_inner(), &req).await
}

/// Who may call `open_referral_link`.
pub(crate) const OPEN_REFERRAL_LINK: Operation = Operation::public("open_referral_link");

/// `GET /r/{code}`: the link every invitation, share link, QR code and text carries. It
/// counts the open (a person's, once a visit: see `referral_domain::opens`) and leads to
/// the registration page, in the language the link names (`?lang=es`).
#[utoipa::path(get, path = "/r/{code}", operation_id = "open_referral_link", tag = "public",
    params(("code" = String, Path, description = "Referral or share-link code"),
        ("lang" = Option<String>, Query, description = "`es` for the Spanish page"),
        ("source" = Option<String>, Query, description = "Where the link was shared")),
    responses((status = 302, description = "Redirect to {public_base_url}/register?ref={code}"),
        (status = 404, body = crate::error::Problem), (status = 429, body = crate::error::Problem)))]
pub async fn open_link(
    state: web::Data<AppState>,
    worker_clicks: web::Data<crate::clicks::WorkerClickPool>,
    origin: Origin,
    code: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    follow(&state, &worker_clicks, origin, code.into_inner(), &req).await
}

/// The cookie that marks a browser's recent open of one code (no identifier: its value
/// is `1`, its path `/r/`). Named by the code as the service writes it, so that
/// `abcdefghjkmnpqrstv` and `ABCDEF-GHJKMN-PQRSTV` are one link.
fn seen_cookie(code: &str) -> String {
    let canonical = referral_domain::ReferralCode::parse(code)
        .map_or_else(|_| code.to_ascii_uppercase(), |c| c.to_string());
    format!("open-{canonical}")
}

async fn follow(
    state: &web::Data<AppState>,
    worker_clicks: &web::Data<crate::clicks::WorkerClickPool>,
    origin: Origin,
    code: String,
    req: &HttpRequest,
) -> Result<HttpResponse, ApiError> {
    use referral_domain::opens::{classify, LinkRequest, REVISIT_MINUTES};
    let now = state.now();
    let query =
        web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .map(web::Query::into_inner)
            .unwrap_or_default();
    let source = query
        .get("source")
        .or(query.get("utm_source"))
        .map(|s| s.chars().take(100).collect());
    let purpose = ["purpose", "sec-purpose", "x-purpose", "x-moz"]
        .iter()
        .find_map(|name| req.headers().get(*name).and_then(|v| v.to_str().ok()));
    let counted = classify(&LinkRequest {
        head: req.method() == actix_web::http::Method::HEAD,
        purpose,
        user_agent: origin.user_agent.as_deref(),
        seen_recently: req.cookie(&seen_cookie(&code)).is_some(),
    })
    .is_ok();
    let code = if counted {
        let shared_code = code.clone();
        let click = ClickToRecord {
            code,
            origin: RequestOrigin {
                ip_address: origin.ip,
                user_agent: origin.user_agent,
                source,
            },
            at: now,
        };
        match state.record_click(worker_clicks, click).await {
            // A personal share link's opening is counted on the link.
            Err(ApiError::NotFound)
            | Err(ApiError::Store(referral_store::StoreError::NotFound)) => {
                let shared = shared_code.clone();
                state
                    .db(move |conn| {
                        referral_store::share_links::click(conn, &shared)?;
                        referral_domain::ReferralCode::parse(&shared)
                            .map_err(|_| ApiError::NotFound)
                    })
                    .await?
            }
            other => other?,
        }
    } else {
        // Not an open: the code is still checked, so a preview of an unknown link says so.
        referral_domain::ReferralCode::parse(&code).map_err(|_| ApiError::NotFound)?
    };
    let lang = match query.get("lang").map(String::as_str) {
        Some(tag) if tag != "en" && tag.parse::<referral_domain::Locale>().is_ok() => {
            format!("&lang={tag}")
        }
        _ => String::new(),
    };
    let code = code.to_string();
    let mut answer = HttpResponse::Found();
    answer
        .insert_header((
            header::LOCATION,
            format!("{}{lang}", state.register_url(&code)),
        ))
        // Every follow reaches the service: a cached redirect would hide a new visit.
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"));
    if counted {
        answer.cookie(
            actix_web::cookie::Cookie::build(seen_cookie(&code), "1")
                // Every link's path: the code may be typed in any case, with or without `-`.
                .path("/r/")
                .max_age(actix_web::cookie::time::Duration::minutes(REVISIT_MINUTES))
                .http_only(true)
                .same_site(actix_web::cookie::SameSite::Lax)
                .finish(),
        );
    }
    Ok(answer.finish())
}

/// Who may call `register_with_code`.
pub(crate) const REGISTER_WITH_CODE: Operation =
    Operation::public_or("register_with_code", &[Role::Service]);

/// Registers with a code. A visitor (no token) gets `202 {"status": "verification_sent"}`
/// and a single-use link by email, valid 24 hours; following it registers them
/// (`POST /api/registrations/verify`). An address that already has an account gets an
/// email saying so, and the caller the same answer. Errors that depend only on the code
/// answer at once (unknown 404, expired 410, used or declined 409). A platform service
/// (`service` token; the platform verified the address) registers at once: `201` with the
/// registration, and may pass the platform's `patient_id`.
#[utoipa::path(post, path = "/api/referrals/{code}/register", operation_id = "register_with_code", tag = "public",
    params(("code" = String, Path, description = "Referral code")),
    request_body = RegisterRequest,
    responses((status = 201, description = "Registered (service token)", body = RegistrationView),
        (status = 202, description = "Verification sent (visitor)", body = VerificationSentView),
        (status = 403, body = crate::error::Problem),
        (status = 404, body = crate::error::Problem),
        (status = 409, description = "already_registered, referral_declined, duplicate_referee", body = crate::error::Problem),
        (status = 410, description = "referral_expired", body = crate::error::Problem),
        (status = 422, description = "validation_failed, self_referral", body = crate::error::Problem),
        (status = 429, body = crate::error::Problem)))]
pub async fn register(
    state: web::Data<AppState>,
    origin: Origin,
    code: web::Path<String>,
    body: crate::json_body::JsonBody<RegisterRequest>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    // Visitors come without a token; a token that is there must be valid.
    if req.headers().contains_key(header::AUTHORIZATION) {
        let caller = Caller::from_http(&req).await?;
        let view = register_with_code(
            &Call::new(&state, &caller, &origin),
            code.into_inner(),
            body.into_inner(),
        )
        .await?;
        return Ok(HttpResponse::Created().json(view));
    }
    let sent = start_registration(&state, &origin, code.into_inner(), body.into_inner()).await?;
    Ok(HttpResponse::Accepted().json(sent))
}

/// Registers a patient with `code` at once (audited as `referral.register`): a platform
/// service only.
pub(crate) async fn register_with_code(
    call: &Call,
    code: String,
    body: RegisterRequest,
) -> Result<RegistrationView, ApiError> {
    let now = call.now();
    let app = call.state.clone();
    let work = {
        let caller = call.caller.clone();
        move |conn: &mut referral_store::DbConnection| {
            caller.require(REGISTER_WITH_CODE.roles())?;
            let registrant = registrant(body, None)?;
            let registration = referrals::register(conn, &code, &registrant, &app.policy, now)?;
            let program = programs::get(conn, registration.referral.program_id)?;
            let booking_url = app.site.booking_url_for(program.booking_url.as_deref());
            Ok(RegistrationView::new(registration, booking_url))
        }
    };
    let action = AuditAction::new("referral.register", "referral", None);
    call.state
        .audited_as(Some(&call.caller), &call.origin, action, work)
        .await
}

/// A visitor's registration, first step (audited as `referral.register_requested`): checks
/// the code and emails the address a confirmation link, or that it already has an account.
pub(crate) async fn start_registration(
    state: &web::Data<AppState>,
    origin: &Origin,
    code: String,
    body: RegisterRequest,
) -> Result<VerificationSentView, ApiError> {
    let now = state.now();
    let app = state.clone();
    let step = origin.signal_origin();
    let work = move |conn: &mut referral_store::DbConnection| {
        let registrant = registrant(body, Some(step))?;
        // The daily count of confirmations is kept by a keyed hash of the inbox.
        let address_key = app.links.recipient_hash(registrant.email.inbox().as_str());
        referrals::start_registration(conn, &app.rng, &code, &registrant, &address_key, now)?;
        Ok(VerificationSentView::sent())
    };
    let action = AuditAction::new("referral.register_requested", "referral", None);
    state.audited_as(None, origin, action, work).await
}

/// Who may call `verify_registration`.
pub(crate) const VERIFY_REGISTRATION: Operation = Operation::public("verify_registration");

/// Follows a registration's confirmation link: registers the visitor under every rule of
/// registration and grants their welcome reward. The link works once, for 24 hours.
#[utoipa::path(post, path = "/api/registrations/verify", operation_id = "verify_registration", tag = "public",
    request_body = VerifyRegistrationRequest,
    responses((status = 201, body = RegistrationView),
        (status = 404, description = "unknown or used link", body = crate::error::Problem),
        (status = 409, description = "already_registered, referral_declined, duplicate_referee", body = crate::error::Problem),
        (status = 410, description = "verification_expired, referral_expired", body = crate::error::Problem),
        (status = 422, body = crate::error::Problem),
        (status = 429, body = crate::error::Problem)))]
pub async fn verify_registration(
    state: web::Data<AppState>,
    origin: Origin,
    body: crate::json_body::JsonBody<VerifyRegistrationRequest>,
) -> Result<HttpResponse, ApiError> {
    let view = complete_registration(&state, &origin, body.into_inner().token).await?;
    Ok(HttpResponse::Created().json(view))
}

/// The second step (audited as `referral.register`).
pub(crate) async fn complete_registration(
    state: &web::Data<AppState>,
    origin: &Origin,
    token: String,
) -> Result<RegistrationView, ApiError> {
    let now = state.now();
    let app = state.clone();
    let step = origin.signal_origin();
    let work = move |conn: &mut referral_store::DbConnection| {
        let registration =
            referrals::complete_registration(conn, &token, step.as_ref(), &app.policy, now)?;
        let program = programs::get(conn, registration.referral.program_id)?;
        let booking_url = app.site.booking_url_for(program.booking_url.as_deref());
        Ok(RegistrationView::new(registration, booking_url))
    };
    let action = AuditAction::new("referral.register", "referral", None);
    state.audited_as(None, origin, action, work).await
}

/// The registrant a request describes. `visitor` is `Some` (with where the request came
/// from, if known) for a visitor's registration, `None` for a platform service's.
fn registrant(
    body: RegisterRequest,
    visitor: Option<Option<referral_domain::signals::Origin>>,
) -> Result<Registrant, ApiError> {
    let is_service = visitor.is_none();
    let mut problems = Vec::new();
    let email = Email::parse(&body.email)
        .map_err(|e| problems.push(FieldProblem::new("email", e.to_string())))
        .ok();
    let phone = match body
        .phone
        .as_deref()
        .filter(|p| !p.trim().is_empty())
        .map(Phone::parse)
    {
        None => None,
        Some(Ok(p)) => Some(p),
        Some(Err(e)) => {
            problems.push(FieldProblem::new("phone", e.to_string()));
            None
        }
    };
    let name = body
        .name
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    if name
        .as_ref()
        .is_some_and(|n| n.chars().count() > referral_domain::referral::MAX_PERSON_NAME_CHARS)
    {
        problems.push(FieldProblem::new("name", "at most 200 characters"));
    }
    if let Some(Err(e)) = name.as_deref().map(referral_domain::text::check_visible) {
        problems.push(FieldProblem::new("name", e.to_string()));
    }
    if body.patient_id.is_some() && !is_service {
        problems.push(FieldProblem::new(
            "patient_id",
            "only platform services may name the patient id",
        ));
    }
    let locale = crate::views::parse_field("locale", body.locale.as_deref(), &mut problems);
    match email {
        Some(email) if problems.is_empty() => Ok(Registrant {
            patient_id: body.patient_id.map(PatientId::from_uuid),
            email,
            name,
            phone,
            share_with_referrer: body.share_with_referrer.unwrap_or(false),
            locale,
            steps: visitor
                .flatten()
                .map(|origin| referral_domain::signals::RegistrationStep {
                    step: "registration",
                    origin,
                })
                .into_iter()
                .collect(),
        }),
        _ => Err(ApiError::Validation(problems)),
    }
}

/// Who may call `unsubscribe_confirm`.
pub(crate) const UNSUBSCRIBE_CONFIRM: Operation = Operation::public("unsubscribe_confirm");

/// Shows what following the unsubscribe link of a message would do, with a button that
/// does it. A GET changes nothing: mail scanners and link previews follow links, and must
/// not unsubscribe anyone (RFC 8058).
#[utoipa::path(get, path = "/api/unsubscribe/{token}", operation_id = "unsubscribe_confirm", tag = "public",
    params(("token" = String, Path, description = "The signed token of the link"),
        ("lang" = Option<String>, Query, description = "`es` for the Spanish page (the link of a Spanish message)")),
    responses((status = 200, description = "A page with a button that unsubscribes", content_type = "text/html"),
        (status = 404, description = "A page saying the link is not valid", content_type = "text/html")))]
pub async fn unsubscribe_confirm(
    state: web::Data<AppState>,
    request: HttpRequest,
    token: web::Path<String>,
) -> HttpResponse {
    use crate::pages::unsubscribe::{page, Step};
    // The form posts back to this same URL (a relative action keeps the token out of
    // anything but the address bar it is already in).
    let step = match state.links.verify_unsubscribe(&token) {
        Some(_) => Step::Confirm,
        None => Step::InvalidLink,
    };
    page(&request, &state.site.brand_name, step)
}

/// Who may call `unsubscribe`.
pub(crate) const UNSUBSCRIBE: Operation = Operation::public("unsubscribe");

/// Unsubscribes the address of a message's signed link: no more email or SMS to it. The
/// RFC 8058 one-click POST of mail clients (`List-Unsubscribe=One-Click`) and the confirm
/// page's button both land here; idempotent.
#[utoipa::path(post, path = "/api/unsubscribe/{token}", operation_id = "unsubscribe", tag = "public",
    params(("token" = String, Path, description = "The signed token of the link")),
    responses((status = 200, description = "Unsubscribed"), (status = 404, body = crate::error::Problem)))]
pub async fn unsubscribe(
    state: web::Data<AppState>,
    request: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let now = state.now();
    // People press the button in their browser; mail clients and programs want no page.
    let wants_html = crate::pages::wants_html(&request);
    let page = |step| crate::pages::unsubscribe::page(&request, &state.site.brand_name, step);
    let Some(recipient_hash) = state.links.verify_unsubscribe(&token) else {
        if wants_html {
            return Ok(page(crate::pages::unsubscribe::Step::InvalidLink));
        }
        return Err(ApiError::NotFound);
    };
    state
        .db(move |conn| Ok(suppressions::add(conn, &recipient_hash, now)?))
        .await?;
    if wants_html {
        return Ok(page(crate::pages::unsubscribe::Step::Done));
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({"unsubscribed": true})))
}

/// The operations of this module, for the document (`routes::OPERATIONS`).
pub(crate) const OPERATIONS: &[Operation] = &[
    GET_REFERRAL_BY_CODE,
    CLICK_REFERRAL_LINK,
    OPEN_REFERRAL_LINK,
    REGISTER_WITH_CODE,
    VERIFY_REGISTRATION,
    UNSUBSCRIBE_CONFIRM,
    UNSUBSCRIBE,
];
