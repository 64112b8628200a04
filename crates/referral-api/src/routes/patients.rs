//! Patient portal: my referrals, a new referral, one referral, my rewards.

use crate::access::Operation;
use crate::auth::{Caller, Role};
use crate::call::Call;
use crate::error::{ApiError, FieldProblem};
use crate::routes::ListQuery;
use crate::state::{AppState, AuditAction, Origin};
use crate::views::{
    parse_field, CreateReferralRequest, MyReferralList, MyReferralView, MyRewardList, MyRewardView,
};
use actix_web::{web, HttpResponse};
use referral_domain::disclosure::referrer_sees;
use referral_domain::{Email, PatientId, Phone, ProgramId, ReferralId};
use referral_store::page::Page;
use referral_store::patients::{self, PatientDetails};
use referral_store::referrals::{
    self, ClickTally, FriendDisclosure, NewReferral, ReferralFilter, SmsAttestation,
};
use referral_store::{rewards, DbConnection, StoreError};

/// Creates or refreshes the calling patient from the token's claims.
pub(crate) fn ensure_patient(
    conn: &mut DbConnection,
    caller: &Caller,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), ApiError> {
    let id = PatientId::from_uuid(caller.id());
    // A name in the token reaches emails and pages like a typed one: the same rule.
    if let Some(Err(e)) = caller
        .claims
        .name
        .as_deref()
        .map(referral_domain::text::check_visible)
    {
        return Err(ApiError::Validation(vec![FieldProblem::new(
            "name",
            format!("the token's name claim {e}"),
        )]));
    }
    match caller.claims.email.as_deref().map(Email::parse) {
        Some(Ok(email)) => {
            let details = PatientDetails {
                id,
                email,
                name: caller.claims.name.clone(),
                phone: None,
            };
            patients::upsert_from_claims(conn, &details, now)?;
            Ok(())
        }
        Some(Err(_)) => Err(ApiError::Validation(vec![FieldProblem::new(
            "email",
            "the token's email claim is not an email address",
        )])),
        None => match patients::get(conn, id) {
            Ok(_) => Ok(()),
            Err(StoreError::NotFound) => Err(ApiError::Validation(vec![FieldProblem::new(
                "email",
                "the token carries no email claim and the patient is not known yet",
            )])),
            Err(e) => Err(e.into()),
        },
    }
}

/// Refreshes the calling patient from the token on reads: creates them when the token
/// carries an email, and otherwise leaves things as they are (a read needs no patient row).
fn refresh_patient(
    conn: &mut DbConnection,
    caller: &Caller,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), ApiError> {
    match ensure_patient(conn, caller, now) {
        Ok(()) | Err(ApiError::Validation(_)) | Err(ApiError::Store(StoreError::EmailInUse)) => {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Who may call `list_my_referrals`.
pub(crate) const LIST_MY_REFERRALS: Operation =
    Operation::for_roles("list_my_referrals", &[Role::Patient]);

/// My referrals, newest first, as their referrer may see them: `status` is `invited`,
/// `joined` (the friend agreed to let me know) or `expired`, and filters on the same.
#[utoipa::path(get, path = "/api/patients/me/referrals", operation_id = "list_my_referrals", tag = "patient portal",
    params(ListQuery),
    responses((status = 200, body = MyReferralList), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem)))]
pub async fn list_mine(call: Call, query: web::Query<ListQuery>) -> Result<HttpResponse, ApiError> {
    let list = my_referrals(&call, query.into_inner()).await?;
    Ok(HttpResponse::Ok().json(list))
}

/// The calling patient's referrals (audited as `referral.list`).
pub(crate) async fn my_referrals(
    call: &Call,
    query: ListQuery,
) -> Result<MyReferralList, ApiError> {
    let now = call.now();
    let app = call.state.clone();
    let who = call.caller.clone();
    call.audited(
        AuditAction::new("referral.list", "referral", None),
        move |conn| referrals_mine(conn, &who, &app, now, &query),
    )
    .await
}

/// The calling patient's referrals as their referrer may see them, on `conn` (the list
/// route's and the dashboard's one read).
pub(crate) fn referrals_mine(
    conn: &mut DbConnection,
    who: &Caller,
    app: &AppState,
    now: chrono::DateTime<chrono::Utc>,
    query: &ListQuery,
) -> Result<MyReferralList, ApiError> {
    who.require(LIST_MY_REFERRALS.roles())?;
    refresh_patient(conn, who, now)?;
    let filter = ReferralFilter {
        within: None,
        status: None,
        referrer_status: query.referrer_status()?,
        referrer_id: Some(PatientId::from_uuid(who.id())),
        as_referrer: true,
        program_id: query.program_id.map(ProgramId::from_uuid),
        from: query.from,
        to: query.to,
    };
    let page = referrals::list(conn, &filter, now, query.page())?;
    let ids: Vec<_> = page.items.iter().map(|r| r.id).collect();
    let clicks = referrals::click_tallies(conn, &ids)?;
    let locales = referrals::locales_of(conn, &ids)?;
    let via_links = referral_store::share_links::made_through_links(conn, &ids)?;
    Ok(MyReferralList::of(page, &clicks, &locales, &via_links, app))
}

/// Who may call `create_referral`.
pub(crate) const CREATE_REFERRAL: Operation =
    Operation::for_roles("create_referral", &[Role::Patient]);

/// Refer someone. With `referral_source` `email` or `sms` the invitation is queued.
#[utoipa::path(post, path = "/api/patients/me/referrals", operation_id = "create_referral", tag = "patient portal",
    request_body = CreateReferralRequest,
    responses((status = 201, body = MyReferralView), (status = 400, body = crate::error::Problem),
        (status = 409, description = "duplicate_referee", body = crate::error::Problem),
        (status = 422, description = "validation_failed, self_referral, referral_limit_reached, program_not_active, no_active_program", body = crate::error::Problem)))]
pub async fn create(
    call: Call,
    body: crate::json_body::JsonBody<CreateReferralRequest>,
) -> Result<HttpResponse, ApiError> {
    let view = create_referral(&call, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(view))
}

/// Creates a referral for the calling patient (audited as `referral.create`).
pub(crate) async fn create_referral(
    call: &Call,
    body: CreateReferralRequest,
) -> Result<MyReferralView, ApiError> {
    let now = call.now();
    let app = call.state.clone();
    let from = call.origin.clone();
    call.run(
        CREATE_REFERRAL,
        AuditAction::new("referral.create", "referral", None),
        move |conn, who| {
            let referrer = PatientId::from_uuid(who.id());
            // Every problem of the form in one round: whether the friend's consent to a
            // text is needed depends on the program (the domain's one rule; the store
            // applies it again when it creates the referral).
            let delivery = referrals::sms_delivery_for(
                conn,
                referrer,
                body.program_id.map(ProgramId::from_uuid),
                now,
            )?
            .unwrap_or(referral_domain::SmsDelivery::Platform);
            let mut input = new_referral(referrer, body, &from, delivery)?;
            // The consent's proof holds the number as a keyed hash (#30): whoever asks
            // "did this number agree?" can be answered, the table names nobody.
            if let (Some(attestation), Some(phone)) =
                (input.sms_attestation.as_mut(), input.referee_phone.as_ref())
            {
                attestation.phone_hash = Some(app.links.recipient_hash(phone.as_str()));
            }
            // Per patient, not per address: invitations are messages sent in the
            // platform's name, so one account cannot send them without bound. The
            // refusal is audited with outcome `rate_limited`.
            let day_ago = now - chrono::Duration::hours(24);
            let (made, oldest) = referrals::created_since(conn, input.referrer_id, day_ago)?;
            if let Some(wait) = referral_domain::referral::daily_limit_wait(
                made,
                app.patient_daily_referrals,
                oldest,
                now,
            ) {
                let seconds = u64::try_from(wait.num_seconds()).unwrap_or(1);
                return Err(ApiError::RateLimited(seconds));
            }
            ensure_patient(conn, who, now)?;
            let referral = referrals::create(conn, &app.rng, &input, now)?;
            // A new referral: no clicks yet.
            Ok(MyReferralView::new(
                referral,
                ClickTally::default(),
                input.locale,
                false,
                &app,
            ))
        },
    )
    .await
}

fn new_referral(
    referrer_id: PatientId,
    body: CreateReferralRequest,
    origin: &Origin,
    delivery: referral_domain::SmsDelivery,
) -> Result<NewReferral, ApiError> {
    let mut problems = Vec::new();
    let referee_email = match Email::parse(&body.referee_email) {
        Ok(e) => Some(e),
        Err(e) => {
            problems.push(FieldProblem::new("referee_email", e.to_string()));
            None
        }
    };
    let referee_phone = match body
        .referee_phone
        .as_deref()
        .filter(|p| !p.trim().is_empty())
        .map(Phone::parse)
    {
        None => None,
        Some(Ok(p)) => Some(p),
        Some(Err(e)) => {
            problems.push(FieldProblem::new("referee_phone", e.to_string()));
            None
        }
    };
    let referral_source = parse_field(
        "referral_source",
        body.referral_source.as_deref(),
        &mut problems,
    );
    let referee_name = body
        .referee_name
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    if referee_name
        .as_ref()
        .is_some_and(|n| n.chars().count() > referral_domain::referral::MAX_PERSON_NAME_CHARS)
    {
        problems.push(FieldProblem::new("referee_name", "at most 200 characters"));
    }
    if let Some(Err(e)) = referee_name
        .as_deref()
        .map(referral_domain::text::check_visible)
    {
        problems.push(FieldProblem::new("referee_name", e.to_string()));
    }
    // Sent under the platform's name: short, no links, addresses or numbers (the domain's
    // PersonalMessage rules).
    let referral_message = match body
        .referral_message
        .as_deref()
        .map(referral_domain::message::PersonalMessage::parse)
    {
        None | Some(Ok(None)) => None,
        Some(Ok(Some(message))) => Some(message.as_str().to_owned()),
        Some(Err(refusal)) => {
            problems.push(FieldProblem::new("referral_message", refusal.to_string()));
            None
        }
    };
    if referral_source == Some(referral_domain::ReferralSource::Sms)
        && referee_phone.is_none()
        && problems.is_empty()
    {
        problems.push(FieldProblem::new(
            "referee_phone",
            "an SMS invitation needs the referee's phone",
        ));
    }
    // The referrer vouches that the friend agreed to a text the platform sends (TCPA); a
    // text from the patient's own phone needs no consent.
    if referral_domain::consent::needs_sms_consent(referral_source, delivery)
        && body.sms_consent != Some(true)
    {
        problems.push(FieldProblem::new(
            "sms_consent",
            "an SMS invitation needs sms_consent: true (the friend agreed to receive a text)",
        ));
    }
    let locale = crate::views::parse_field("locale", body.locale.as_deref(), &mut problems);
    match (referee_email, problems.is_empty()) {
        (Some(referee_email), true) => Ok(NewReferral {
            referrer_id,
            program_id: body.program_id.map(ProgramId::from_uuid),
            referee_email,
            referee_phone,
            referee_name,
            referral_source,
            referral_message,
            sms_attestation: (body.sms_consent == Some(true)).then(|| SmsAttestation {
                ip_address: origin.ip,
                user_agent: origin.user_agent.clone(),
                phone_hash: None,
            }),
            locale: locale.unwrap_or_default(),
        }),
        _ => Err(ApiError::Validation(problems)),
    }
}

/// Who may call `get_my_referral`.
pub(crate) const GET_MY_REFERRAL: Operation =
    Operation::for_roles("get_my_referral", &[Role::Patient]);

/// One of my referrals. Another patient's answers 404.
#[utoipa::path(get, path = "/api/patients/me/referrals/{id}", operation_id = "get_my_referral", tag = "patient portal",
    params(("id" = uuid::Uuid, Path, description = "Referral id")),
    responses((status = 200, body = MyReferralView), (status = 404, body = crate::error::Problem)))]
pub async fn get_mine(call: Call, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let detail = my_referral(&call, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(detail.referral))
}

/// One of the caller's referrals with its timeline and rewards.
#[derive(Debug)]
pub(crate) struct ReferralDetail {
    pub referral: MyReferralView,
    /// What the referrer may see of its timeline (see `disclosure::referrer_sees`).
    pub timeline: Vec<referrals::Interaction>,
    /// The referrer's rewards from it, when the friend let them know they joined.
    pub rewards: Vec<MyRewardView>,
}

impl crate::state::AuditedResource for ReferralDetail {
    fn audit_id(&self) -> Option<String> {
        Some(self.referral.id.to_string())
    }
}

/// One of the calling patient's referrals (audited as `referral.read`); another patient's
/// answers not found.
pub(crate) async fn my_referral(call: &Call, raw: String) -> Result<ReferralDetail, ApiError> {
    let now = call.now();
    let app = call.state.clone();
    call.run(
        GET_MY_REFERRAL,
        AuditAction::new("referral.read", "referral", Some(raw.clone())),
        move |conn, who| {
            let id: ReferralId = raw.parse().map_err(|_| ApiError::NotFound)?;
            let referral =
                referrals::get_for_referrer(conn, id, PatientId::from_uuid(who.id()), now)?;
            let shared = referral.shares_with_referrer;
            let timeline = referrals::interactions(conn, id)?
                .into_iter()
                .filter(|i| referrer_sees(i.interaction_type, shared))
                .collect();
            let clicks = referrals::click_tally(conn, id)?;
            // Which referral earned a reward tells that friend converted: shown only
            // when the friend agreed to share, and then only the referrer's own side.
            let friend = FriendDisclosure {
                shares_with_referrer: shared,
                typed_name: referral.referee_name.clone(),
            };
            let rewards = rewards::for_referral(conn, id, now)?
                .into_iter()
                .filter(|r| {
                    referral_domain::disclosure::referrer_sees_referral_reward(
                        shared,
                        r.patient_id == referral.referrer_id,
                        r.released_at,
                        now,
                    )
                })
                .map(|r| MyRewardView::new(r, Some(&friend)))
                .collect();
            let via_link =
                !referral_store::share_links::made_through_links(conn, &[id])?.is_empty();
            Ok(ReferralDetail {
                referral: MyReferralView::new(
                    referral,
                    clicks,
                    referrals::locale_of(conn, id)?,
                    via_link,
                    &app,
                ),
                timeline,
                rewards,
            })
        },
    )
    .await
}

/// Who may call `list_my_rewards`.
pub(crate) const LIST_MY_REWARDS: Operation =
    Operation::for_roles("list_my_rewards", &[Role::Patient]);

/// My rewards, newest first (withheld ones with their reason). `status` filters.
#[utoipa::path(get, path = "/api/patients/me/rewards", operation_id = "list_my_rewards", tag = "patient portal",
    params(ListQuery),
    responses((status = 200, body = MyRewardList), (status = 401, body = crate::error::Problem)))]
pub async fn my_rewards(
    call: Call,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let list = rewards_of(&call, query.into_inner()).await?;
    Ok(HttpResponse::Ok().json(list))
}

/// The calling patient's rewards (audited as `reward.list`).
pub(crate) async fn rewards_of(call: &Call, query: ListQuery) -> Result<MyRewardList, ApiError> {
    let now = call.now();
    let who = call.caller.clone();
    call.audited(
        AuditAction::new("reward.list", "reward", None),
        move |conn| rewards_mine(conn, &who, now, &query),
    )
    .await
}

/// The calling patient's rewards as they may see them, on `conn` (the list route's and
/// the dashboard's one read).
pub(crate) fn rewards_mine(
    conn: &mut DbConnection,
    who: &Caller,
    now: chrono::DateTime<chrono::Utc>,
    query: &ListQuery,
) -> Result<MyRewardList, ApiError> {
    who.require(LIST_MY_REWARDS.roles())?;
    refresh_patient(conn, who, now)?;
    let status = query.reward_status()?;
    let page: Page = query.page();
    let rewards =
        rewards::list_for_patient(conn, PatientId::from_uuid(who.id()), status, now, page)?;
    let ids: Vec<_> = rewards.items.iter().map(|r| r.referral_id).collect();
    let friends = referrals::friend_disclosures(conn, &ids)?;
    Ok(MyRewardList {
        items: rewards
            .items
            .into_iter()
            .map(|r| {
                let friend = friends.get(&r.referral_id);
                MyRewardView::new(r, friend)
            })
            .collect(),
        total: rewards.total,
    })
}

/// Everything the patient's dashboard shows, read on one connection under one audit row
/// (`dashboard.read`): their referrals, how many friends told them they joined, their
/// rewards, their personal link (made on first use) and its program's offer.
pub(crate) struct Dashboard {
    pub referrals: MyReferralList,
    pub joined: i64,
    pub rewards: MyRewardList,
    /// `None` when no program takes a referral of theirs (nothing to share yet).
    pub share: Option<crate::routes::share::ShareLinkView>,
    pub offer: Option<crate::routes::share::Offer>,
}

impl crate::state::AuditedResource for Dashboard {}

/// The patient's dashboard in one read (see [`Dashboard`]).
pub(crate) async fn my_dashboard(
    call: &Call,
    locale: referral_domain::Locale,
) -> Result<Dashboard, ApiError> {
    let now = call.now();
    let app = call.state.clone();
    let who = call.caller.clone();
    let cadence = call.state.policy.referrer_cadence;
    call.audited(
        AuditAction::new("dashboard.read", "patient", None),
        move |conn| {
            let page = |limit: i64, status: Option<&str>| ListQuery {
                limit: Some(limit),
                status: status.map(str::to_owned),
                ..ListQuery::default()
            };
            let referrals = referrals_mine(conn, &who, &app, now, &page(50, None))?;
            let joined = referrals_mine(conn, &who, &app, now, &page(1, Some("joined")))?.total;
            let rewards = rewards_mine(conn, &who, now, &page(500, None))?;
            // No program for this patient is no link to share, not a failed page; any
            // other error fails the read.
            let share = match crate::routes::share::share_link_mine(conn, &who, &app, None, now) {
                Ok(link) => Some(link),
                Err(e)
                    if matches!(
                        e.code(),
                        "no_active_program" | "not_eligible" | "program_not_active" | "not_found"
                    ) =>
                {
                    None
                }
                Err(e) => return Err(e),
            };
            let offer = share
                .as_ref()
                .map(|link| {
                    crate::routes::share::offer_mine(
                        conn,
                        &who,
                        link.program_id,
                        locale,
                        cadence,
                        now,
                    )
                })
                .transpose()?;
            Ok(Dashboard {
                referrals,
                joined,
                rewards,
                share,
                offer,
            })
        },
    )
    .await
}

/// The operations of this module, for the document (`routes::OPERATIONS`).
pub(crate) const OPERATIONS: &[Operation] = &[
    LIST_MY_REFERRALS,
    CREATE_REFERRAL,
    GET_MY_REFERRAL,
    LIST_MY_REWARDS,
];
