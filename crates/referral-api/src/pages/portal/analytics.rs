//! `/portal/referrals/analytics`: figures, trends, ROI, performance and experiments.

use super::*;
use crate::error::{ApiError, FieldProblem};
use crate::pages::charts::{bar_chart, line_chart, Bar, Series, Style};
use crate::pages::session::Visit;
use crate::pages::{render, PageError};
use crate::routes::programs::list_programs;
use crate::routes::provider::{analytics_of, performance_of, AnalyticsQuery};
use crate::routes::ListQuery;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{TimeZone, Utc};
use referral_store::analytics::{Funnel, TrendPoint};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Filters of the analytics page (dates as `YYYY-MM-DD`, as a date input sends them).
#[derive(Debug, Default, Deserialize, serde::Serialize)]
pub struct AnalyticsFilters {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    program_id: String,
    #[serde(default)]
    interval: String,
    /// `1`: show the top referrers' names (otherwise pseudonyms).
    #[serde(default)]
    names: String,
}

/// `GET /portal/referrals/analytics`: trend, funnel, program performance, reward ROI and top
/// referrers.
pub async fn analytics(
    state: web::Data<AppState>,
    visit: Visit,
    filters: web::Query<AnalyticsFilters>,
) -> Result<HttpResponse, PageError> {
    let call = visit.admin_call()?;
    let filters = filters.into_inner();
    let mut problems = Vec::new();
    let from = date("from", &filters.from, &mut problems)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Utc.from_utc_datetime(&t));
    let to = date("to", &filters.to, &mut problems)
        .and_then(|d| d.succ_opt())
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Utc.from_utc_datetime(&t));
    // A range whose start is after its end covers nothing: say so instead of an empty page.
    if let (Some(start), Some(end)) = (from, to) {
        if start >= end {
            problems.push(FieldProblem::new(
                "to",
                "The end date is before the start date: choose an end on or after the start",
            ));
        }
    }
    let range = match (optional(&filters.from), optional(&filters.to)) {
        (Some(f), Some(t)) => format!("From {f} to {t}"),
        (Some(f), None) => format!("From {f} to today"),
        (None, Some(t)) => format!("Up to {t}"),
        (None, None) => "All time".to_owned(),
    };
    let program_id = match optional(&filters.program_id) {
        None => None,
        Some(text) => text
            .parse::<uuid::Uuid>()
            .map_err(|_| problems.push(FieldProblem::new("program_id", "unknown program")))
            .ok(),
    };
    let show_names = filters.names == "1";
    let programs = list_programs(
        &state,
        &call.caller,
        ListQuery {
            limit: Some(500),
            ..ListQuery::default()
        },
    )
    .await?;
    let choices: Vec<ProgramChoice> = programs
        .items
        .iter()
        .map(|p| ProgramChoice {
            id: p.id,
            name: p.name.clone(),
            selected: Some(p.id) == program_id,
        })
        .collect();
    let query = AnalyticsQuery {
        program_id,
        from,
        to,
        interval: optional(&filters.interval),
        anonymize: Some(!show_names),
    };
    let result = if problems.is_empty() {
        analytics_of(&call, query).await
    } else {
        Err(ApiError::Validation(problems))
    };
    let view = match result {
        Ok(view) => view,
        Err(e) => {
            let (status, errors) = crate::pages::form_problems_labelled(
                e,
                &[
                    ("from", "From"),
                    ("to", "To"),
                    ("program_id", "Program"),
                    ("interval", "Trend by"),
                ],
            )?;
            return render(
                &visit,
                status,
                "portal_analytics",
                AnalyticsPage {
                    title: "Referral analytics",
                    nav: "portal",
                    filters: &filters,
                    programs: choices,
                    errors,
                    show_names,
                    range: range.clone(),
                    figures: None,
                    details: None,
                },
            );
        }
    };
    // The windows honour the range: they end on its last day and start no earlier than
    // its first.
    let last_day = to
        .and_then(|t| t.date_naive().pred_opt())
        .unwrap_or_else(|| state.now().date_naive());
    let first_day = from.map(|f| f.date_naive());
    let performance = performance_of(
        &state,
        &call.caller,
        program_id,
        Some((last_day, first_day)),
    )
    .await?;
    let f = &view.figures;
    let labels: Vec<String> = f.trends.iter().map(|t| t.period.to_string()).collect();
    let trend = line_chart(
        "trend",
        "Referrals and conversions over time",
        &labels,
        &[
            Series {
                name: "Referrals".into(),
                values: f.trends.iter().map(|t| t.referrals as f64).collect(),
                style: Style::SolidCircles,
            },
            Series {
                name: "Registered".into(),
                values: f.trends.iter().map(|t| t.registered as f64).collect(),
                style: Style::DottedDiamonds,
            },
            Series {
                name: "Converted".into(),
                values: f.trends.iter().map(|t| t.converted as f64).collect(),
                style: Style::DashedSquares,
            },
        ],
    );
    let created = f.funnel.created.max(1) as f64;
    let step = |name: &str, n: i64| Bar {
        label: name.to_owned(),
        value: n as f64,
        text: format!("{n} ({:.1}%)", 100.0 * n as f64 / created),
    };
    let funnel = bar_chart(
        "funnel",
        "Conversion funnel",
        &[
            step("Referred", f.funnel.created),
            step("Clicked", f.funnel.clicked),
            step("Registered", f.funnel.registered),
            step("Converted", f.funnel.converted),
        ],
    );
    let top_referrers = view
        .top_referrers
        .iter()
        .map(|t| TopReferrerRow {
            who: t
                .name
                .clone()
                .or_else(|| t.pseudonym.clone())
                .unwrap_or_else(|| "—".to_owned()),
            referrals: t.referrals,
            converted: t.converted,
        })
        .collect();
    render(
        &visit,
        StatusCode::OK,
        "portal_analytics",
        AnalyticsPage {
            title: "Referral analytics",
            nav: "portal",
            filters: &filters,
            programs: choices,
            errors: Value::Null,
            show_names,
            range,
            figures: Some(AnalyticsFigures {
                total_referrals: f.total_referrals,
                conversion_rate: percent(&f.conversion_rate),
                reward_cost: f.reward_cost.usd(),
                rewards_paid: f.rewards_paid.usd(),
                revenue: f.revenue.usd(),
                customer_ltv: f.customer_ltv.usd(),
                funnel: f.funnel,
                trends: &f.trends,
            }),
            details: Some(AnalyticsDetails {
                trend_chart: trend,
                funnel_chart: funnel,
                program_chart: bar_chart(
                    "program-performance",
                    "Conversions by program",
                    &program_bars(f),
                ),
                roi: f
                    .programs
                    .iter()
                    .map(|p| RoiRow {
                        name: p.name.clone(),
                        reward_cost: p.reward_cost.usd(),
                        rewards_paid: p.rewards_paid.usd(),
                        revenue: p.revenue.usd(),
                        roi: p.roi.as_deref().map_or_else(|| "—".to_owned(), percent),
                    })
                    .collect(),
                performance: performance
                    .iter()
                    .map(|p| PerformanceRow {
                        name: p.name.clone(),
                        windows: windows_of(p),
                    })
                    .collect(),
                top_referrers,
                experiments: f
                    .experiments
                    .iter()
                    .map(|e| ExperimentRow {
                        program: programs
                            .items
                            .iter()
                            .find(|p| p.id == e.program_id.as_uuid())
                            .map(|p| p.name.clone()),
                        verdict: e.verdict.clone(),
                        variants: e
                            .variants
                            .iter()
                            .map(|v| VariantRow {
                                name: v.name.clone(),
                                referrals: v.referrals,
                                converted: v.converted,
                                rate: percent(&v.conversion_rate),
                                lift: v.lift.map_or_else(
                                    || "— (control)".to_owned(),
                                    |l| format!("{:+.1} points", l.points),
                                ),
                                interval: v.lift.map_or_else(
                                    || "—".to_owned(),
                                    |l| format!("{:+.1} to {:+.1} points", l.ci_low, l.ci_high),
                                ),
                                p_value: v
                                    .lift
                                    .and_then(|l| l.p_value)
                                    .map_or_else(|| "—".to_owned(), |p| format!("{p:.4}")),
                            })
                            .collect(),
                    })
                    .collect(),
            }),
        },
    )
}

/// What `portal_analytics.hbs` shows: the filters as typed, and the figures when they could
/// be read.
#[derive(Debug, Serialize)]
struct AnalyticsPage<'a> {
    title: &'static str,
    nav: &'static str,
    filters: &'a AnalyticsFilters,
    programs: Vec<ProgramChoice>,
    errors: Value,
    show_names: bool,
    /// The dates every table covers, in words.
    range: String,
    figures: Option<AnalyticsFigures<'a>>,
    /// The charts and tables, beside `figures` where the template reads them.
    #[serde(flatten)]
    details: Option<AnalyticsDetails>,
}

/// A program in the filter's list.
#[derive(Debug, Serialize)]
struct ProgramChoice {
    id: uuid::Uuid,
    name: String,
    selected: bool,
}

/// The figures of the window.
#[derive(Debug, Serialize)]
struct AnalyticsFigures<'a> {
    total_referrals: i64,
    conversion_rate: String,
    reward_cost: String,
    rewards_paid: String,
    revenue: String,
    customer_ltv: String,
    funnel: Funnel,
    trends: &'a [TrendPoint],
}

/// The charts (inline SVG) and tables of the window.
#[derive(Debug, Serialize)]
struct AnalyticsDetails {
    trend_chart: String,
    funnel_chart: String,
    program_chart: String,
    roi: Vec<RoiRow>,
    performance: Vec<PerformanceRow>,
    top_referrers: Vec<TopReferrerRow>,
    experiments: Vec<ExperimentRow>,
}

/// A program's cost, revenue and return.
#[derive(Debug, Serialize)]
struct RoiRow {
    name: String,
    reward_cost: String,
    rewards_paid: String,
    revenue: String,
    roi: String,
}

/// A program's performance windows.
#[derive(Debug, Serialize)]
struct PerformanceRow {
    name: String,
    windows: Vec<WindowRow>,
}

/// A top referrer: a name only when the admin asked for names, else a pseudonym.
#[derive(Debug, Serialize)]
struct TopReferrerRow {
    who: String,
    referrals: i64,
    converted: i64,
}

/// An experiment and its variants.
#[derive(Debug, Serialize)]
struct ExperimentRow {
    program: Option<String>,
    verdict: String,
    variants: Vec<VariantRow>,
}

/// One variant's figures.
#[derive(Debug, Serialize)]
struct VariantRow {
    name: String,
    referrals: i64,
    converted: i64,
    rate: String,
    /// Against the control, in percentage points.
    lift: String,
    /// Its 95% confidence interval.
    interval: String,
    /// Against the control.
    p_value: String,
}
