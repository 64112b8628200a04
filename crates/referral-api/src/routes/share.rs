//! Personal share links (#24): one link per patient and program to post anywhere, and its
//! QR code.

use crate::access::Operation;
use crate::auth::{Caller, Role};
use crate::call::Call;
use crate::error::ApiError;

use crate::routes::patients::ensure_patient;
use crate::state::{AppState, AuditAction, AuditedResource};
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use referral_domain::{PatientId, ProgramId};
use referral_store::share_links::{self, ShareLink};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Which program's link.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ShareLinkQuery {
    /// The program (default: the first active program the patient may refer to).
    pub program_id: Option<Uuid>,
}

/// A patient's personal share link.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShareLinkView {
    #[schema(example = "ABCDEF-GHJKMN-PQRSTV")]
    pub referral_code: String,
    /// The link to post anywhere: `{public_base_url}/r/{code}`.
    pub share_url: String,
    /// The link as a QR code (SVG), on this service.
    pub qr_url: String,
    /// Share links do not expire (a patient retires theirs with DELETE); always null.
    pub expires_at: Option<DateTime<Utc>>,
    pub program_id: Uuid,
    /// Times the link was opened.
    pub clicks: i64,
    /// People who joined through it and let the patient know (as for invitations by email).
    pub joined: i64,
    pub created_at: DateTime<Utc>,
}

impl ShareLinkView {
    fn new(link: ShareLink, state: &AppState) -> Self {
        let code = link.referral_code.to_string();
        ShareLinkView {
            share_url: state.share_url(&code),
            qr_url: format!("/api/referrals/{code}/qr.svg"),
            referral_code: code,
            expires_at: None,
            program_id: link.program_id.as_uuid(),
            clicks: link.clicks,
            joined: link.joined,
            created_at: link.created_at,
        }
    }
}

impl AuditedResource for ShareLinkView {
    fn audit_id(&self) -> Option<String> {
        Some(self.referral_code.clone())
    }
}

/// Who may call `get_my_share_link`.
pub(crate) const GET_MY_SHARE_LINK: Operation =
    Operation::for_roles("get_my_share_link", &[Role::Patient]);

/// The calling patient's personal share link for a program: the same link every time
/// (made on first use). Whoever registers through it gets a referral of their own, under
/// every rule of a referral made by email.
#[utoipa::path(get, path = "/api/patients/me/share-link", operation_id = "get_my_share_link", tag = "patient portal",
    params(ShareLinkQuery),
    responses((status = 200, body = ShareLinkView), (status = 404, body = crate::error::Problem),
        (status = 422, description = "no_active_program, program_not_active, not_eligible", body = crate::error::Problem)))]
pub async fn get_mine(
    call: Call,
    query: web::Query<ShareLinkQuery>,
) -> Result<HttpResponse, ApiError> {
    let view = my_share_link(&call, query.into_inner().program_id).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// The caller's share link (audited as `share_link.read`), for the API and the pages.
pub(crate) async fn my_share_link(
    call: &Call,
    program: Option<Uuid>,
) -> Result<ShareLinkView, ApiError> {
    let now = call.now();
    let app = call.state.clone();
    let who = call.caller.clone();
    call.audited(
        AuditAction::new("share_link.read", "share_link", None),
        move |conn| share_link_mine(conn, &who, &app, program, now),
    )
    .await
}

/// The calling patient's share link of `program` (the default one without), made on
/// first use, on `conn`.
pub(crate) fn share_link_mine(
    conn: &mut referral_store::DbConnection,
    who: &Caller,
    app: &AppState,
    program: Option<Uuid>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<ShareLinkView, ApiError> {
    who.require(GET_MY_SHARE_LINK.roles())?;
    ensure_patient(conn, who, now)?;
    let link = share_links::get_or_create(
        conn,
        &app.rng,
        PatientId::from_uuid(who.id()),
        program.map(ProgramId::from_uuid),
        now,
    )?;
    Ok(ShareLinkView::new(link, app))
}

/// What a patient's dashboard leads with: the program's offer in words and, under a
/// program that rewards every few friends, how many more it takes (counted up to the last
/// release only: see [`referral_domain::disclosure::friends_to_next_reward`]).
#[derive(Debug)]
pub(crate) struct Offer {
    /// "Give 20% off a consultation, get a $25.00 account credit".
    pub words: Option<String>,
    /// Friends still needed for the next reward; `None` without a threshold.
    pub friends_to_next_reward: Option<u32>,
}

impl crate::state::AuditedResource for Offer {}

/// The offer of `program` to the calling patient, on `conn` (the dashboard's read, under
/// its audit row: the progress counts their friends' conversions).
pub(crate) fn offer_mine(
    conn: &mut referral_store::DbConnection,
    who: &Caller,
    program: Uuid,
    locale: referral_domain::Locale,
    cadence: referral_domain::RewardCadence,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Offer, ApiError> {
    who.require(&[Role::Patient])?;
    let program = referral_store::programs::get(conn, ProgramId::from_uuid(program))?;
    let converted = referral_store::referrals::converted_before(
        conn,
        PatientId::from_uuid(who.id()),
        program.id,
        cadence.last_release(now),
    )?;
    let spec = |kind: Option<referral_domain::RewardType>,
                value: &Option<referral_domain::Money>| {
        kind.zip(value.clone())
            .map(|(reward_type, value)| referral_domain::RewardSpec { reward_type, value })
    };
    let referee = spec(program.referee_reward_type, &program.referee_reward_value);
    let referrer = spec(program.referrer_reward_type, &program.referrer_reward_value);
    Ok(Offer {
        words: referral_domain::program::offer_words_in(
            locale,
            referee.as_ref(),
            referrer.as_ref(),
        ),
        friends_to_next_reward: referral_domain::disclosure::friends_to_next_reward(
            program.reward_threshold,
            converted,
        ),
    })
}

/// Who may call `retire_my_share_link`.
pub(crate) const RETIRE_MY_SHARE_LINK: Operation =
    Operation::for_roles("retire_my_share_link", &[Role::Patient]);

/// Retires the calling patient's share link for a program (every program's without
/// `program_id`): its code answers `referral_expired` from now on, and the next GET makes
/// a new link.
#[utoipa::path(delete, path = "/api/patients/me/share-link", operation_id = "retire_my_share_link", tag = "patient portal",
    params(ShareLinkQuery),
    responses((status = 204, description = "Retired"), (status = 404, body = crate::error::Problem)))]
pub async fn retire_mine(
    call: Call,
    query: web::Query<ShareLinkQuery>,
) -> Result<HttpResponse, ApiError> {
    let now = call.now();
    let program = query.into_inner().program_id;
    call.run(
        RETIRE_MY_SHARE_LINK,
        AuditAction::new("share_link.retire", "share_link", None),
        move |conn, who| {
            share_links::retire(
                conn,
                PatientId::from_uuid(who.id()),
                program.map(ProgramId::from_uuid),
                now,
            )?;
            Ok(Retired)
        },
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

struct Retired;
impl AuditedResource for Retired {}

/// Who may call `referral_qr_code`.
pub(crate) const REFERRAL_QR_CODE: Operation = Operation::public("referral_qr_code");

/// The code's share URL as a QR code (SVG), for a printed card or a screen: public, cached
/// for a day, rate limited like the other code routes. Any code a visitor could register
/// with (a referral's or a share link's); 404 for others.
#[utoipa::path(get, path = "/api/referrals/{code}/qr.svg", operation_id = "referral_qr_code", tag = "public",
    params(("code" = String, Path, description = "Referral or share-link code")),
    responses((status = 200, description = "image/svg+xml", content_type = "image/svg+xml", body = String),
        (status = 404, body = crate::error::Problem), (status = 429, body = crate::error::Problem)))]
pub async fn qr_svg(
    state: web::Data<AppState>,
    code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let now = state.now();
    let code = code.into_inner();
    let known = {
        let code = code.clone();
        state
            .db(move |conn| {
                let referral = referral_store::referrals::find_by_code(conn, &code, now);
                match referral {
                    Ok(r) => Ok(r.referral_code.to_string()),
                    Err(referral_store::StoreError::NotFound) => {
                        share_links::lookup(conn, &code)?;
                        Ok(referral_domain::ReferralCode::parse(&code)
                            .map_err(|_| ApiError::NotFound)?
                            .to_string())
                    }
                    Err(e) => Err(e.into()),
                }
            })
            .await?
    };
    let url = state.share_url(&known);
    let qr = qrcode::QrCode::new(url.as_bytes()).map_err(|_| ApiError::Internal)?;
    let svg = qr
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .build();
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "image/svg+xml"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(svg))
}

/// The operations of this module, for the document (`routes::OPERATIONS`).
pub(crate) const OPERATIONS: &[Operation] =
    &[GET_MY_SHARE_LINK, RETIRE_MY_SHARE_LINK, REFERRAL_QR_CODE];
