//! Signing in to the pages: with a token the platform issued, or (demo sign-in, on in
//! development mode) as one of the demo users built on `seed-demo`; and signing out.

use crate::auth::{Claims, JwtKeys, Role, PORTAL_ADMINS};
use crate::error::ApiError;
use crate::pages::session::{safe_next, Visit};
use crate::pages::{render, see_other, PageError};

use crate::state::{AppState, Origin};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use referral_store::{demo, referrals};
use serde::Deserialize;
use serde_json::json;

/// The demo administrator's id.
pub const DEMO_ADMIN_ID: uuid::Uuid = uuid::uuid!("00000000-0000-4000-8000-00000000a001");
/// How long a page session lasts.
pub const SESSION_SECONDS: i64 = 8 * 3600;
/// Referrals the demo-data button creates.
pub const DEMO_REFERRALS: usize = 2000;

/// A demo user the sign-in page offers.
struct DemoUser {
    key: &'static str,
    label: &'static str,
    role: Role,
    id: uuid::Uuid,
    email: Option<&'static str>,
    name: &'static str,
}

const DEMO_USERS: &[DemoUser] = &[
    DemoUser {
        key: "patient",
        label: "Demo patient",
        role: Role::Patient,
        id: demo::DEMO_PATIENT_ID,
        email: Some(demo::DEMO_PATIENT_EMAIL),
        name: "Demo Patient",
    },
    DemoUser {
        key: "admin",
        label: "Demo admin",
        role: Role::Admin,
        id: DEMO_ADMIN_ID,
        email: None,
        name: "Demo Admin",
    },
];

/// Query of the sign-in page.
#[derive(Debug, Default, Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
    seeded: Option<String>,
}

/// The sign-in form.
#[derive(Debug, Default, Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    csrf: String,
    /// A demo user's key.
    user: Option<String>,
    /// A token issued by the platform.
    token: Option<String>,
    next: Option<String>,
}

/// A form whose only field is its CSRF token.
#[derive(Debug, Default, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn sign_in_page(
    state: &web::Data<AppState>,
    visit: &Visit,
    status: StatusCode,
    next: Option<String>,
    error: Option<&str>,
    flash: Option<&str>,
) -> Result<HttpResponse, PageError> {
    let demo_users: Vec<_> = if state.demo_sign_in {
        DEMO_USERS
            .iter()
            .map(|u| json!({"key": u.key, "label": u.label, "name": u.name, "role": u.role.as_str()}))
            .collect()
    } else {
        Vec::new()
    };
    let offer_demo_data = state.demo_sign_in
        && state
            .db(|conn| Ok(referrals::none_yet(conn)?))
            .await
            .unwrap_or(false);
    render(
        visit,
        status,
        "signin",
        json!({
            "title": "Sign in",
            "next": next.unwrap_or_default(),
            "demo_users": demo_users,
            "offer_demo_data": offer_demo_data,
            "demo_referrals": DEMO_REFERRALS,
            "error": error,
            "flash": flash,
        }),
    )
}

/// `GET /signin`.
pub async fn page(
    state: web::Data<AppState>,
    visit: Visit,
    query: web::Query<SignInQuery>,
) -> Result<HttpResponse, PageError> {
    let flash = query
        .seeded
        .as_deref()
        .map(|_| "Demo data loaded: sign in as a demo user to look around.");
    sign_in_page(
        &state,
        &visit,
        StatusCode::OK,
        safe_next(query.next.as_deref()),
        None,
        flash,
    )
    .await
}

/// Where a role lands after signing in.
fn home_of(role: Role) -> &'static str {
    if role == Role::Patient {
        "/patient/referrals"
    } else if PORTAL_ADMINS.contains(&role) {
        "/portal/referrals"
    } else {
        "/"
    }
}

/// `POST /signin`: a demo user (demo sign-in only) or a platform token.
pub async fn submit(
    state: web::Data<AppState>,
    keys: web::Data<JwtKeys>,
    visit: Visit,
    origin: Origin,
    request: actix_web::HttpRequest,
    form: web::Form<SignInForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    visit.check_csrf(&form.csrf)?;
    let next = safe_next(form.next.as_deref());
    let denied = |outcome| {
        state.clone().into_inner().audit_denial(
            origin.clone(),
            "auth.signin",
            "/signin".to_owned(),
            outcome,
        );
    };
    // A pasted token becomes the session as it is (the service may hold no signing key:
    // tokens from the identity provider); demo users get a session signed here.
    let (claims, token) = match (form.user.as_deref(), form.token.as_deref().map(str::trim)) {
        (Some(key), _) => {
            let user = DEMO_USERS
                .iter()
                .find(|u| u.key == key)
                .filter(|_| state.demo_sign_in && from_this_machine(&request))
                .ok_or(PageError::Api(ApiError::NotFound))?;
            let claims = Claims {
                email: user.email.map(str::to_owned),
                name: Some(user.name.to_owned()),
                ..Claims::new(
                    user.id,
                    user.role,
                    chrono::Utc::now().timestamp(),
                    SESSION_SECONDS,
                )
            };
            let token = keys
                .sign(&claims)
                .map_err(|_| PageError::Api(ApiError::Internal))?;
            (claims, token)
        }
        (None, Some(token)) if !token.is_empty() => match keys.verify_fresh(token).await {
            Ok(claims) if claims.role != Role::Service => (claims, token.to_owned()),
            Ok(_) => {
                denied("forbidden");
                return sign_in_page(
                    &state,
                    &visit,
                    StatusCode::FORBIDDEN,
                    next,
                    Some("Service tokens cannot sign in to the portals."),
                    None,
                )
                .await;
            }
            Err(_) => {
                denied("unauthenticated");
                return sign_in_page(
                    &state,
                    &visit,
                    StatusCode::UNAUTHORIZED,
                    next,
                    Some("This token is not valid or has expired."),
                    None,
                )
                .await;
            }
        },
        _ => {
            return sign_in_page(
                &state,
                &visit,
                StatusCode::UNPROCESSABLE_ENTITY,
                next,
                Some("Paste the token the platform gave you."),
                None,
            )
            .await
        }
    };
    audit_sign_in(&state, &origin, &claims).await;
    let lifetime = claims.exp - chrono::Utc::now().timestamp();
    let location = next.unwrap_or_else(|| home_of(claims.role).to_owned());
    let mut response = see_other(&location);
    response
        .add_cookie(&visit.session_cookie(token, lifetime))
        .map_err(|e| PageError::Render(e.to_string()))?;
    Ok(response)
}

/// Whether a request comes straight from this machine: a loopback peer, a loopback `Host`,
/// and no forwarding header (a proxy on this machine would otherwise pass anyone on).
fn from_this_machine(request: &actix_web::HttpRequest) -> bool {
    const FORWARDING: [&str; 5] = [
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-real-ip",
        "via",
    ];
    let peer_local = request.peer_addr().is_some_and(|a| a.ip().is_loopback());
    let host_local = request
        .headers()
        .get(actix_web::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(crate::config::is_loopback_bind);
    let forwarded = FORWARDING
        .iter()
        .any(|h| request.headers().contains_key(*h));
    peer_local && host_local && !forwarded
}

/// Records a successful sign-in (`auth.signin`, with the role), as failed ones are.
async fn audit_sign_in(state: &web::Data<AppState>, origin: &Origin, claims: &Claims) {
    let entry = referral_store::audit::NewAuditEntry {
        actor_id: Some(claims.sub),
        actor_role: claims.role.as_str().to_owned(),
        action: "auth.signin".to_owned(),
        resource_type: "route".to_owned(),
        resource_id: Some("/signin".to_owned()),
        outcome: "success".to_owned(),
        ip_address: origin.ip,
        user_agent: origin.user_agent.clone(),
    };
    let keyring = state.keyring.clone();
    let now = state.now();
    let written = state
        .db(move |conn| Ok(referral_store::audit::append(conn, &keyring, &entry, now)?))
        .await;
    if let Err(e) = written {
        tracing::warn!(error = %e, "a sign-in could not be audited");
    }
}

/// `POST /signout`.
pub async fn sign_out(visit: Visit, form: web::Form<CsrfForm>) -> Result<HttpResponse, PageError> {
    visit.check_csrf(&form.csrf)?;
    let mut response = see_other("/signin");
    response
        .add_cookie(&visit.signed_out_cookie())
        .map_err(|e| PageError::Render(e.to_string()))?;
    Ok(response)
}

/// `POST /signin/demo-data` (demo sign-in only): fills an empty database with
/// [`DEMO_REFERRALS`] demo referrals, as `seed-demo` does.
pub async fn demo_data(
    state: web::Data<AppState>,
    visit: Visit,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    let now = state.now();
    visit.check_csrf(&form.csrf)?;
    if !state.demo_sign_in {
        return Err(PageError::Api(ApiError::NotFound));
    }
    let seeded = state
        .db(move |conn| {
            Ok(demo::seed(
                conn,
                demo::DemoOptions {
                    referrals: DEMO_REFERRALS,
                    seed: 1,
                },
                now,
                |line| tracing::info!("demo data: {line}"),
            )?)
        })
        .await;
    match seeded {
        Ok(_) => Ok(see_other("/signin?seeded=1")),
        Err(_) => {
            sign_in_page(
                &state,
                &visit,
                StatusCode::CONFLICT,
                None,
                Some("Demo data can only be loaded into an empty database."),
                None,
            )
            .await
        }
    }
}
