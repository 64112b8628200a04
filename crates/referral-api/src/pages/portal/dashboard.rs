//! `/portal/referrals`: the dashboard's metrics, recent activity and program chart.

use super::*;
use crate::pages::charts::bar_chart;
use crate::pages::session::Visit;
use crate::pages::{label, render, when, PageError};
use crate::routes::provider::{all_referrals, analytics_of, AnalyticsQuery};
use crate::routes::ListQuery;
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde::Serialize;
use std::collections::HashMap;

/// `GET /portal/referrals`: metrics, recent activity and the program performance chart.
pub async fn dashboard(visit: Visit) -> Result<HttpResponse, PageError> {
    let call = visit.admin_call()?;
    let analytics = analytics_of(
        &call,
        AnalyticsQuery {
            anonymize: Some(true),
            ..AnalyticsQuery::default()
        },
    )
    .await?;
    let recent = all_referrals(
        &call,
        ListQuery {
            limit: Some(10),
            ..ListQuery::default()
        },
    )
    .await?;
    let names: HashMap<uuid::Uuid, String> = analytics
        .figures
        .programs
        .iter()
        .map(|p| (p.program_id.as_uuid(), p.name.clone()))
        .collect();
    let activity = recent
        .items
        .iter()
        .map(|r| ActivityRow {
            code: r.referral_code.clone(),
            program: names.get(&r.program_id).cloned().unwrap_or_default(),
            status: r.status.clone(),
            status_label: label(&r.status),
            updated: when(r.updated_at),
        })
        .collect();
    let figures = &analytics.figures;
    let page = DashboardPage {
        title: "Referral management",
        nav: "portal",
        total_referrals: figures.total_referrals,
        conversion_rate: percent(&figures.conversion_rate),
        active_programs: figures.active_programs,
        rewards_paid: figures.rewards_paid.usd(),
        activity,
        chart: bar_chart(
            "program-performance",
            "Conversions by program",
            &program_bars(figures),
        ),
        programs: figures
            .programs
            .iter()
            .map(|p| ProgramRow {
                name: p.name.clone(),
                created: p.funnel.created,
                converted: p.funnel.converted,
                rate: percent(&p.conversion_rate),
            })
            .collect(),
    };
    render(&visit, StatusCode::OK, "portal_dashboard", page)
}

/// What `portal_dashboard.hbs` shows.
#[derive(Debug, Serialize)]
struct DashboardPage {
    title: &'static str,
    nav: &'static str,
    total_referrals: i64,
    conversion_rate: String,
    active_programs: i64,
    rewards_paid: String,
    /// The ten most recently changed referrals.
    activity: Vec<ActivityRow>,
    /// The conversions-by-program chart, as inline SVG.
    chart: String,
    programs: Vec<ProgramRow>,
}

/// A recently changed referral: its code, never who is in it.
#[derive(Debug, Serialize)]
struct ActivityRow {
    code: String,
    program: String,
    status: String,
    status_label: String,
    updated: String,
}

/// A program's funnel in one line.
#[derive(Debug, Serialize)]
struct ProgramRow {
    name: String,
    created: i64,
    converted: i64,
    rate: String,
}
