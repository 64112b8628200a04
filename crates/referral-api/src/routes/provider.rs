//! Provider portal: every referral, analytics, performance.

use crate::auth::{Caller, PORTAL_ADMINS};
use crate::error::ApiError;
use crate::routes::{now, ListQuery};
use crate::state::{AppState, AuditAction, AuditedResource, Origin};
use crate::views::ReferralList;
use actix_web::{web, HttpResponse};
use referral_domain::{PatientId, ProgramId};
use referral_store::analytics::{self, AnalyticsFilter};
use referral_store::referrals::{self, ReferralFilter};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Referrals, newest first, with filters and paging.
#[utoipa::path(get, path = "/api/referrals", operation_id = "list_referrals", tag = "provider portal", params(ListQuery),
    responses((status = 200, body = ReferralList), (status = 403, body = crate::error::Problem),
        (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    origin: Origin,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let app = state.clone();
    let who = caller.clone();
    let list = state
        .audited(
            &caller,
            &origin,
            AuditAction::new("referral.list", "referral", None),
            move |conn| {
                who.require(PORTAL_ADMINS)?;
                let filter = ReferralFilter {
                    status: query.status()?,
                    program_id: query.program_id.map(ProgramId::from_uuid),
                    referrer_id: query.referrer_id.map(PatientId::from_uuid),
                    from: query.from,
                    to: query.to,
                };
                let page = referrals::list(conn, &filter, now(), query.page())?;
                Ok(ReferralList::of(page, &app))
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Dashboard figures (counts only, no PHI).
#[derive(Debug, Serialize, ToSchema)]
pub struct AnalyticsView {
    pub total_referrals: i64,
    /// Referrals by stored status.
    pub by_status: BTreeMap<String, i64>,
    pub registered: i64,
    pub converted: i64,
    /// Percent, two places.
    #[schema(example = "12.50")]
    pub conversion_rate: String,
    pub total_clicks: i64,
    pub active_programs: i64,
    pub rewards_granted: i64,
    pub rewards_withheld: i64,
    #[schema(example = "250.00")]
    pub rewards_value: String,
    #[schema(example = "100.00")]
    pub rewards_paid: String,
    #[schema(example = "25.00")]
    pub average_reward_cost: String,
}

impl AuditedResource for AnalyticsView {}

fn filter_of(query: &ListQuery) -> Result<AnalyticsFilter, ApiError> {
    query.check()?;
    Ok(AnalyticsFilter {
        program_id: query.program_id.map(ProgramId::from_uuid),
        from: query.from,
        to: query.to,
    })
}

/// Totals, conversion rate, clicks and reward cost; `program_id`, `from`, `to` narrow them.
#[utoipa::path(get, path = "/api/referrals/analytics", operation_id = "referral_analytics", tag = "provider portal", params(ListQuery),
    responses((status = 200, body = AnalyticsView), (status = 403, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn analytics(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(PORTAL_ADMINS)?;
    let filter = filter_of(&query)?;
    let a = state
        .db(move |conn| Ok(analytics::summary(conn, &filter)?))
        .await?;
    Ok(HttpResponse::Ok().json(AnalyticsView {
        total_referrals: a.total_referrals,
        by_status: a.by_status,
        registered: a.registered,
        converted: a.converted,
        conversion_rate: a.conversion_rate,
        total_clicks: a.total_clicks,
        active_programs: a.active_programs,
        rewards_granted: a.rewards_granted,
        rewards_withheld: a.rewards_withheld,
        rewards_value: a.rewards_value.to_string(),
        rewards_paid: a.rewards_paid.to_string(),
        average_reward_cost: a.average_reward_cost.to_string(),
    }))
}

/// One program's figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgramPerformanceView {
    pub program_id: uuid::Uuid,
    pub name: String,
    pub status: String,
    pub referrals: i64,
    pub registered: i64,
    pub converted: i64,
    pub conversion_rate: String,
    pub clicks: i64,
}

/// A referrer's figures, by id only.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReferrerPerformanceView {
    pub referrer_id: uuid::Uuid,
    pub referrals: i64,
    pub converted: i64,
}

/// Per-program figures and the ten referrers with the most conversions.
#[derive(Debug, Serialize, ToSchema)]
pub struct PerformanceView {
    pub programs: Vec<ProgramPerformanceView>,
    pub top_referrers: Vec<ReferrerPerformanceView>,
}

/// Per-program performance; `program_id`, `from`, `to` narrow it.
#[utoipa::path(get, path = "/api/referrals/performance", operation_id = "referral_performance", tag = "provider portal", params(ListQuery),
    responses((status = 200, body = PerformanceView), (status = 403, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn performance(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(PORTAL_ADMINS)?;
    let filter = filter_of(&query)?;
    let p = state
        .db(move |conn| Ok(analytics::performance(conn, &filter)?))
        .await?;
    Ok(HttpResponse::Ok().json(PerformanceView {
        programs: p
            .programs
            .into_iter()
            .map(|r| ProgramPerformanceView {
                program_id: r.program_id.as_uuid(),
                name: r.name,
                status: r.status.to_string(),
                referrals: r.referrals,
                registered: r.registered,
                converted: r.converted,
                conversion_rate: r.conversion_rate,
                clicks: r.clicks,
            })
            .collect(),
        top_referrers: p
            .top_referrers
            .into_iter()
            .map(|r| ReferrerPerformanceView {
                referrer_id: r.referrer_id.as_uuid(),
                referrals: r.referrals,
                converted: r.converted,
            })
            .collect(),
    }))
}
