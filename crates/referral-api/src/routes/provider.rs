//! Provider portal: every referral, analytics, performance.

use crate::access::Operation;
use crate::auth::{Caller, PORTAL_ADMINS};
use crate::call::Call;
use crate::error::{ApiError, FieldProblem};
use crate::routes::programs::{programs_in_scope, visible_program};
use crate::routes::ListQuery;
use crate::state::{AppState, AuditAction, AuditedResource};
use crate::views::ReferralList;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use referral_domain::{PatientId, ProgramId};
use referral_store::analytics::{self, AnalyticsFilter};
use referral_store::patients;
use referral_store::referrals::{self, ReferralFilter};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Who may call `list_referrals`.
pub(crate) const LIST_REFERRALS: Operation = Operation::for_roles("list_referrals", PORTAL_ADMINS);

/// Referrals, newest first, with filters and paging.
#[utoipa::path(get, path = "/api/referrals", operation_id = "list_referrals", tag = "provider portal", params(ListQuery),
    responses((status = 200, body = ReferralList), (status = 403, body = crate::error::Problem),
        (status = 422, body = crate::error::Problem)))]
pub async fn list(call: Call, query: web::Query<ListQuery>) -> Result<HttpResponse, ApiError> {
    let list = all_referrals(&call, query.into_inner()).await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Every referral, for the portal's admins (audited as `referral.list`).
pub(crate) async fn all_referrals(call: &Call, query: ListQuery) -> Result<ReferralList, ApiError> {
    let now = call.now();
    let app = call.state.clone();
    call.read(
        LIST_REFERRALS,
        AuditAction::new("referral.list", "referral", None),
        move |conn, who| {
            let program_id = query.program_id.map(ProgramId::from_uuid);
            if let Some(id) = program_id {
                visible_program(conn, who, id)?;
            }
            let filter = ReferralFilter {
                as_referrer: false,
                referrer_status: None,
                status: query.status()?,
                program_id,
                within: programs_in_scope(conn, who)?,
                referrer_id: query.referrer_id.map(PatientId::from_uuid),
                from: query.from,
                to: query.to,
            };
            let page = referrals::list(conn, &filter, now, query.page())?;
            let ids: Vec<_> = page.items.iter().map(|r| r.id).collect();
            let clicks = referrals::click_tallies(conn, &ids)?;
            let signals = referrals::signals_of(conn, &ids)?;
            let locales = referrals::locales_of(conn, &ids)?;
            Ok(ReferralList::of(page, &clicks, &signals, &locales, &app))
        },
    )
    .await
}

/// Query of the analytics endpoint.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
// A misspelt filter is refused, not silently ignored.
#[serde(deny_unknown_fields)]
pub struct AnalyticsQuery {
    /// One program.
    pub program_id: Option<uuid::Uuid>,
    /// Referrals created on or after this day (RFC 3339; its UTC day counts whole).
    pub from: Option<DateTime<Utc>>,
    /// Referrals created before this time (to the end of its day when not midnight).
    pub to: Option<DateTime<Utc>>,
    /// Trend points per `day` (default), `week` or `month`.
    pub interval: Option<String>,
    /// `true`: every person is a stable keyed pseudonym; no names, emails or ids.
    pub anonymize: Option<bool>,
}

/// One of the top referrers: by name, or (anonymized) by pseudonym only.
#[derive(Debug, Serialize, ToSchema)]
pub struct TopReferrerView {
    /// The patient's id (absent when anonymized).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrer_id: Option<uuid::Uuid>,
    /// Name (absent when anonymized).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Email (absent when anonymized).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Stable keyed pseudonym (anonymized only): the same person has the same one in
    /// every report, and it cannot be turned back into the person without the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pseudonym: Option<String>,
    pub referrals: i64,
    pub converted: i64,
}

/// The analytics document: the store's figures plus the top referrers as people.
#[derive(Debug, Serialize)]
pub struct AnalyticsView {
    /// The store's figures.
    #[serde(flatten)]
    pub figures: analytics::Analytics,
    /// The top referrers, as people or pseudonyms.
    pub top_referrers: Vec<TopReferrerView>,
    /// Whether people are pseudonyms.
    pub anonymized: bool,
}

impl AuditedResource for AnalyticsView {}

/// Who may call `referral_analytics`.
pub(crate) const REFERRAL_ANALYTICS: Operation =
    Operation::for_roles("referral_analytics", PORTAL_ADMINS);

/// Dashboard figures: totals, funnel (created → clicked → registered → converted), trends
/// by `interval`, per-program reward cost, revenue and ROI, customer LTV, the top referrers
/// (pseudonyms with `anonymize=true`) and each experiment's variants with a two-proportion
/// z-test. `program_id`, `from`, `to` narrow it to referrals created in whole UTC days.
#[utoipa::path(get, path = "/api/referrals/analytics", operation_id = "referral_analytics", tag = "provider portal", params(AnalyticsQuery),
    responses((status = 200, description = "total_referrals, registered, converted, conversion_rate, active_programs, rewards_granted, rewards_withheld, reward_cost, rewards_paid, avg_reward_cost, revenue, customer_ltv, funnel, trends[], programs[], top_referrers[], experiments[], anonymized", body = Object),
        (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn analytics(
    call: Call,
    query: web::Query<AnalyticsQuery>,
) -> Result<HttpResponse, ApiError> {
    let view = analytics_of(&call, query.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// The analytics document (audited as `analytics.read` or `analytics.read_anonymized`).
pub(crate) async fn analytics_of(
    call: &Call,
    query: AnalyticsQuery,
) -> Result<AnalyticsView, ApiError> {
    let mut problems = Vec::new();
    let interval = match query.interval.as_deref() {
        None | Some("") => analytics::Interval::Day,
        Some(text) => text.parse().unwrap_or_else(|()| {
            problems.push(FieldProblem::new("interval", "must be day, week or month"));
            analytics::Interval::Day
        }),
    };
    // A window whose `to` is before its `from` holds nothing: zero figures, not an error.
    let filter = AnalyticsFilter {
        program_id: query.program_id.map(ProgramId::from_uuid),
        within: None,
        from: query.from,
        to: query.to,
        interval,
    };
    let anonymize = query.anonymize.unwrap_or(false);
    let links = call.state.links.clone();
    let action = if anonymize {
        "analytics.read_anonymized"
    } else {
        "analytics.read"
    };
    call.read(
        REFERRAL_ANALYTICS,
        AuditAction::new(action, "analytics", None),
        move |conn, who| {
            if !problems.is_empty() {
                return Err(ApiError::Validation(problems.clone()));
            }
            let mut filter = filter.clone();
            if let Some(id) = filter.program_id {
                visible_program(conn, who, id)?;
            }
            filter.within = programs_in_scope(conn, who)?;
            let figures = analytics::summary(conn, &filter)?;
            let mut top_referrers = Vec::new();
            for top in &figures.top_referrers {
                let person = if anonymize {
                    TopReferrerView {
                        referrer_id: None,
                        name: None,
                        email: None,
                        pseudonym: Some(links.pseudonym(top.referrer_id.as_uuid())),
                        referrals: top.referrals,
                        converted: top.converted,
                    }
                } else {
                    let patient = patients::get(conn, top.referrer_id)?;
                    TopReferrerView {
                        referrer_id: Some(top.referrer_id.as_uuid()),
                        name: patient.name,
                        email: Some(patient.email.to_string()),
                        pseudonym: None,
                        referrals: top.referrals,
                        converted: top.converted,
                    }
                };
                top_referrers.push(person);
            }
            Ok(AnalyticsView {
                figures,
                top_referrers,
                anonymized: anonymize,
            })
        },
    )
    .await
}

/// Query of the performance endpoint.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
// A misspelt filter is refused, not silently ignored.
#[serde(deny_unknown_fields)]
pub struct PerformanceQuery {
    /// One program.
    pub program_id: Option<uuid::Uuid>,
}

/// Who may call `referral_performance`.
pub(crate) const REFERRAL_PERFORMANCE: Operation =
    Operation::for_roles("referral_performance", PORTAL_ADMINS);

/// Per program, the last 7, 30 and 90 days (today included): referrals, click-through,
/// registration and conversion rates, median hours to convert, reward cost per conversion.
#[utoipa::path(get, path = "/api/referrals/performance", operation_id = "referral_performance", tag = "provider portal", params(PerformanceQuery),
    responses((status = 200, description = "programs[]: program_id, name, status, windows[]: days, referrals, click_through_rate, registration_rate, conversion_rate, median_hours_to_convert, reward_cost_per_conversion", body = Object),
        (status = 403, body = crate::error::Problem)))]
pub async fn performance(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<PerformanceQuery>,
) -> Result<HttpResponse, ApiError> {
    let programs = performance_of(&state, &caller, query.program_id, None).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "programs": programs })))
}

/// Per-program performance over the last 7, 30 and 90 days.
pub(crate) async fn performance_of(
    state: &web::Data<AppState>,
    caller: &Caller,
    program: Option<uuid::Uuid>,
    within: Option<(chrono::NaiveDate, Option<chrono::NaiveDate>)>,
) -> Result<Vec<analytics::ProgramPerformance>, ApiError> {
    let now = state.now();
    caller.require(REFERRAL_PERFORMANCE.roles())?;
    let program = program.map(ProgramId::from_uuid);
    let who = caller.clone();
    state
        .read(move |conn| {
            if let Some(id) = program {
                visible_program(conn, &who, id)?;
            }
            let scope = programs_in_scope(conn, &who)?;
            // The windows end on the range's last day (today without one), none starting
            // before its first.
            let mut figures = match within {
                Some((last, first)) => analytics::performance_within(conn, program, last, first)?,
                None => analytics::performance(conn, program, now)?,
            };
            if let Some(visible) = scope {
                figures.retain(|p| visible.contains(&p.program_id));
            }
            Ok(figures)
        })
        .await
}

/// The operations of this module, for the document (`routes::OPERATIONS`).
pub(crate) const OPERATIONS: &[Operation] =
    &[LIST_REFERRALS, REFERRAL_ANALYTICS, REFERRAL_PERFORMANCE];
