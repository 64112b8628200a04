//! `/portal/referrals/exports` and its CSV downloads (referrals with the list's filters,
//! rewards, the review queue, payouts, the audit trail), with the portal session.
//!
//! Each download is audited once before its first byte (`*.export`, or `*.export_named`
//! when the admin chose to reveal names) and streamed page by page. People are stable
//! keyed pseudonyms unless names are revealed; no export carries an email or a phone.
//!
//! One concept: the portal's CSV exports; each download is a short streamed function over
//! one store listing.

use super::programs::{date, optional};
use crate::auth::{ADMINS, PORTAL_ADMINS};
use crate::call::Call;
use crate::error::{ApiError, FieldProblem};
use crate::export::stream_csv;
use crate::links::LinkKeys as Links;
use crate::pages::session::Visit;
use crate::pages::{label, render, PageError};
use crate::routes::programs::{programs_in_scope, visible_program};
use crate::state::{AppState, AuditAction, AuditedResource};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use referral_domain::signals::{Raised, Signal};
use referral_domain::{Money, PatientId, ProgramId, ReferralStatus, RewardStatus};
use referral_store::audit::{self, AuditFilter};
use referral_store::page::Page;
use referral_store::referrals::{self, ReferralFilter};
use referral_store::rewards::{self, ReviewFilter};
use referral_store::{patients, programs, DbConnection};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// The filters of every download (each reads the ones it has).
#[derive(Debug, Default, Deserialize)]
pub struct ExportQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    program_id: String,
    /// `YYYY-MM-DD`, inclusive.
    #[serde(default)]
    from: String,
    /// `YYYY-MM-DD`, inclusive.
    #[serde(default)]
    to: String,
    #[serde(default)]
    signal: String,
    #[serde(default)]
    action: String,
    /// `1`: name people instead of pseudonyms (audited as such).
    #[serde(default)]
    names: String,
}

impl ExportQuery {
    fn reveal(&self) -> bool {
        self.names == "1"
    }

    /// The day range as times: `from`'s midnight to the midnight after `to` (UTC).
    fn range(
        &self,
        problems: &mut Vec<FieldProblem>,
    ) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| Utc.from_utc_datetime(&t));
        let from = date("from", &self.from, problems).and_then(midnight);
        let to = date("to", &self.to, problems)
            .and_then(|d| d.succ_opt())
            .and_then(midnight);
        if let (Some(start), Some(end)) = (from, to) {
            if start >= end {
                problems.push(FieldProblem::new(
                    "to",
                    "The end date is before the start date: choose an end on or after the start",
                ));
            }
        }
        (from, to)
    }
}

/// What an audited export counted before streaming, with what the stream needs.
struct Counted<T>(T, i64);

impl<T> AuditedResource for Counted<T> {}

fn refuse(problems: Vec<FieldProblem>) -> Result<(), ApiError> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(problems))
    }
}

/// How an export names people: by name (revealed, audited) or by pseudonym.
#[derive(Clone)]
struct People {
    links: Links,
    reveal: bool,
}

impl People {
    fn names(
        &self,
        conn: &mut DbConnection,
        ids: &[PatientId],
    ) -> Result<HashMap<PatientId, String>, ApiError> {
        Ok(if self.reveal {
            patients::names_of(conn, ids)?
        } else {
            HashMap::new()
        })
    }

    fn of(&self, names: &HashMap<PatientId, String>, id: PatientId) -> String {
        if self.reveal {
            names
                .get(&id)
                .cloned()
                .unwrap_or_else(|| "(no name)".into())
        } else {
            self.links.pseudonym(id.as_uuid())
        }
    }
}

fn time(at: Option<DateTime<Utc>>) -> String {
    at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

fn amount(m: Option<&Money>) -> String {
    m.map(ToString::to_string).unwrap_or_default()
}

fn signal_words(raised: &[Raised]) -> String {
    raised
        .iter()
        .map(|r| label(r.signal.as_str()))
        .collect::<Vec<_>>()
        .join("; ")
}

fn action(base: &'static str, named: &'static str, reveal: bool) -> &'static str {
    if reveal {
        named
    } else {
        base
    }
}

/// `GET /portal/referrals/exports`: the downloads, each with its filters.
pub async fn exports(state: web::Data<AppState>, visit: Visit) -> Result<HttpResponse, PageError> {
    let caller = visit.portal_admin()?.clone();
    let scoped = caller.clone();
    let programs: Vec<ProgramOption> = state
        .db(move |conn| {
            let within = programs_in_scope(conn, &scoped)?;
            let mut all: Vec<ProgramOption> = programs::names(conn)?
                .into_iter()
                .filter(|(id, _)| within.as_ref().is_none_or(|w| w.contains(id)))
                .map(|(id, name)| ProgramOption {
                    id: id.as_uuid(),
                    name,
                })
                .collect();
            all.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(all)
        })
        .await?;
    let page = ExportsPage {
        title: "Downloads",
        nav: "portal",
        programs,
        referral_statuses: ReferralStatus::ALL
            .iter()
            .map(|s| Choice {
                code: s.as_str(),
                name: label(s.as_str()),
            })
            .collect(),
        reward_statuses: RewardStatus::ALL
            .iter()
            .map(|s| Choice {
                code: s.as_str(),
                name: label(s.as_str()),
            })
            .collect(),
        signals: Signal::ALL
            .iter()
            .map(|s| Choice {
                code: s.as_str(),
                name: label(s.as_str()),
            })
            .collect(),
    };
    render(&visit, StatusCode::OK, "portal_exports", page)
}

#[derive(Debug, Serialize)]
struct ExportsPage {
    title: &'static str,
    nav: &'static str,
    programs: Vec<ProgramOption>,
    referral_statuses: Vec<Choice>,
    reward_statuses: Vec<Choice>,
    signals: Vec<Choice>,
}

#[derive(Debug, Serialize)]
struct ProgramOption {
    id: uuid::Uuid,
    name: String,
}

#[derive(Debug, Serialize)]
struct Choice {
    code: &'static str,
    name: String,
}

/// `GET /portal/referrals/exports/referrals.csv`: referrals with the list's filters
/// (status, program, created from / to), within the admin's programs.
pub async fn referrals_csv(
    state: web::Data<AppState>,
    visit: Visit,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, PageError> {
    let call = visit.admin_call()?;
    let q = query.into_inner();
    let mut problems = Vec::new();
    let (from, to) = q.range(&mut problems);
    let status: Option<ReferralStatus> = optional(&q.status).and_then(|s| {
        s.parse()
            .map_err(|_| {
                problems.push(FieldProblem::new("status", "Choose a status from the list"))
            })
            .ok()
    });
    let program_id = optional(&q.program_id).and_then(|p| {
        p.parse::<uuid::Uuid>()
            .map(ProgramId::from_uuid)
            .map_err(|_| {
                problems.push(FieldProblem::new(
                    "program_id",
                    "Choose a program from the list",
                ))
            })
            .ok()
    });
    let now = call.now();
    let reveal = q.reveal();
    let Counted((filter, program_names), total) = call
        .run_for(
            PORTAL_ADMINS,
            AuditAction::new(
                action("referral.export", "referral.export_named", reveal),
                "referral",
                None,
            ),
            move |conn, who| {
                refuse(problems)?;
                if let Some(id) = program_id {
                    visible_program(conn, who, id)?;
                }
                let filter = ReferralFilter {
                    status,
                    program_id,
                    within: programs_in_scope(conn, who)?,
                    from,
                    // Nothing created after the export began: the pages stay put.
                    to: Some(to.map_or(now, |t| t.min(now))),
                    ..ReferralFilter::default()
                };
                let total = referrals::list(conn, &filter, now, Page::new(Some(1), None))?.total;
                Ok(Counted((filter, programs::names(conn)?), total))
            },
        )
        .await?;
    let people = People {
        links: state.links.clone(),
        reveal,
    };
    let program_names = Arc::new(program_names);
    Ok(stream_csv(
        state,
        "referrals.csv",
        &[
            "referral_id",
            "referral_code",
            "program",
            "status",
            "source",
            "referrer",
            "friend",
            "created_at",
            "registered_at",
            "converted_at",
            "expires_at",
            "referrer_reward",
            "friend_reward",
            "signals",
        ],
        total,
        move |conn, page| {
            let list = referrals::list(conn, &filter, now, page)?;
            let ids: Vec<_> = list.items.iter().map(|r| r.id).collect();
            let signals = referrals::signals_of(conn, &ids)?;
            let owners: Vec<PatientId> = list
                .items
                .iter()
                .flat_map(|r| std::iter::once(r.referrer_id).chain(r.referee_patient_id))
                .collect();
            let names = people.names(conn, &owners)?;
            Ok(list
                .items
                .iter()
                .map(|r| {
                    let friend = match (people.reveal, r.referee_patient_id) {
                        (true, _) => r.referee_name.clone().unwrap_or_default(),
                        (false, Some(id)) => people.of(&names, id),
                        (false, None) => String::new(),
                    };
                    vec![
                        r.id.to_string(),
                        r.referral_code.to_string(),
                        program_names
                            .get(&r.program_id)
                            .cloned()
                            .unwrap_or_default(),
                        r.status.as_str().to_owned(),
                        r.referral_source
                            .map(|s| s.as_str().to_owned())
                            .unwrap_or_default(),
                        people.of(&names, r.referrer_id),
                        friend,
                        time(Some(r.created_at)),
                        time(r.referee_registered_at),
                        time(r.converted_at),
                        time(Some(r.expires_at)),
                        r.referrer_reward_status.as_str().to_owned(),
                        r.referee_reward_status.as_str().to_owned(),
                        signal_words(signals.get(&r.id).map_or(&[][..], Vec::as_slice)),
                    ]
                })
                .collect())
        },
    ))
}

/// Checks the admin role and counts, audited as `action`.
async fn audited_count<T, F>(
    call: &Call,
    action: &'static str,
    resource: &'static str,
    count: F,
) -> Result<Counted<T>, PageError>
where
    F: FnOnce(&mut DbConnection) -> Result<Counted<T>, ApiError> + Send + 'static,
    T: Send + 'static,
{
    Ok(call
        .run_for(
            ADMINS,
            AuditAction::new(action, resource, None),
            move |conn, _| count(conn),
        )
        .await?)
}

/// `GET /portal/referrals/exports/rewards.csv`: the reward ledger, newest first, with an
/// optional status.
pub async fn rewards_csv(
    state: web::Data<AppState>,
    visit: Visit,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, PageError> {
    let call = visit.admin_call()?;
    let q = query.into_inner();
    let mut problems = Vec::new();
    let status: Option<RewardStatus> = optional(&q.status).and_then(|s| {
        s.parse()
            .map_err(|_| {
                problems.push(FieldProblem::new("status", "Choose a status from the list"))
            })
            .ok()
    });
    let now = state.now();
    let reveal = q.reveal();
    let Counted((), total) = audited_count(
        &call,
        action("reward.export", "reward.export_named", reveal),
        "reward",
        move |conn| {
            refuse(problems)?;
            let total = rewards::ledger(conn, status, now, now, Page::new(Some(1), None))?.total;
            Ok(Counted((), total))
        },
    )
    .await?;
    let people = People {
        links: state.links.clone(),
        reveal,
    };
    Ok(stream_csv(
        state,
        "rewards.csv",
        &[
            "reward_id",
            "referral_id",
            "owner",
            "party",
            "type",
            "amount",
            "status",
            "created_at",
            "released_at",
            "used_at",
            "expires_at",
            "cancel_reason",
        ],
        total,
        move |conn, page| {
            let list = rewards::ledger(conn, status, now, now, page)?;
            let owners: Vec<PatientId> = list.items.iter().map(|r| r.patient_id).collect();
            let names = people.names(conn, &owners)?;
            Ok(list
                .items
                .iter()
                .map(|r| {
                    vec![
                        r.id.to_string(),
                        r.referral_id.to_string(),
                        people.of(&names, r.patient_id),
                        r.party.as_str().to_owned(),
                        r.reward_type.as_str().to_owned(),
                        amount(r.reward_amount.as_ref()),
                        r.status.as_str().to_owned(),
                        time(Some(r.created_at)),
                        time(r.released_at),
                        time(r.used_at),
                        time(r.expires_at),
                        r.cancel_reason
                            .map(|c| c.as_str().to_owned())
                            .unwrap_or_default(),
                    ]
                })
                .collect())
        },
    ))
}

/// `GET /portal/referrals/exports/reviews.csv`: the review queue, one line per referral.
pub async fn reviews_csv(
    state: web::Data<AppState>,
    visit: Visit,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, PageError> {
    let call = visit.admin_call()?;
    let q = query.into_inner();
    let mut problems = Vec::new();
    let signal = optional(&q.signal).and_then(|s| {
        let parsed = Signal::from_code(&s);
        if parsed.is_none() {
            problems.push(FieldProblem::new("signal", "Choose a signal from the list"));
        }
        parsed
    });
    let filter = ReviewFilter {
        signal,
        program_id: None,
    };
    let now = state.now();
    let reveal = q.reveal();
    let Counted(program_names, total) = audited_count(
        &call,
        action("reward.review_export", "reward.review_export_named", reveal),
        "reward",
        move |conn| {
            refuse(problems)?;
            let total = rewards::review_cases(conn, filter, Page::new(Some(1), None), now)?.total;
            Ok(Counted(programs::names(conn)?, total))
        },
    )
    .await?;
    let people = People {
        links: state.links.clone(),
        reveal,
    };
    Ok(stream_csv(
        state,
        "review-queue.csv",
        &[
            "referral_id",
            "program",
            "rewards",
            "owners",
            "signals",
            "in_review_since",
        ],
        total,
        move |conn, page| {
            let cases = rewards::review_cases(conn, filter, page, now)?;
            let owners: Vec<PatientId> = cases
                .items
                .iter()
                .flat_map(|c| c.rewards.iter().map(|r| r.patient_id))
                .collect();
            let names = people.names(conn, &owners)?;
            Ok(cases
                .items
                .iter()
                .map(|c| {
                    let rewards = c
                        .rewards
                        .iter()
                        .map(|r| format!("{} {}", r.id, r.party.as_str()))
                        .collect::<Vec<_>>()
                        .join("; ");
                    let owners = c
                        .rewards
                        .iter()
                        .map(|r| people.of(&names, r.patient_id))
                        .collect::<Vec<_>>()
                        .join("; ");
                    vec![
                        c.referral_id.to_string(),
                        program_names
                            .get(&c.program_id)
                            .cloned()
                            .unwrap_or_default(),
                        rewards,
                        owners,
                        signal_words(&c.signals),
                        time(c.rewards.first().map(|r| r.created_at)),
                    ]
                })
                .collect())
        },
    ))
}

/// `GET /portal/referrals/exports/payouts.csv`: approved cash rewards and their payouts.
pub async fn payouts_csv(
    state: web::Data<AppState>,
    visit: Visit,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, PageError> {
    let call = visit.admin_call()?;
    let reveal = query.reveal();
    let now = state.now();
    let Counted((), total) = audited_count(
        &call,
        action("payout.export", "payout.export_named", reveal),
        "reward",
        move |conn| {
            let total = rewards::payouts(conn, now, now, Page::new(Some(1), None))?.total;
            Ok(Counted((), total))
        },
    )
    .await?;
    let people = People {
        links: state.links.clone(),
        reveal,
    };
    Ok(stream_csv(
        state,
        "payouts.csv",
        &[
            "reward_id",
            "referral_id",
            "recipient",
            "amount",
            "reward_status",
            "payout_status",
            "attempts",
            "last_error",
            "sent_at",
            "created_at",
        ],
        total,
        move |conn, page| {
            let list = rewards::payouts(conn, now, now, page)?;
            let owners: Vec<PatientId> = list.items.iter().map(|p| p.reward.patient_id).collect();
            let names = people.names(conn, &owners)?;
            Ok(list
                .items
                .iter()
                .map(|p| {
                    vec![
                        p.reward.id.to_string(),
                        p.reward.referral_id.to_string(),
                        people.of(&names, p.reward.patient_id),
                        amount(p.reward.reward_amount.as_ref()),
                        p.reward.status.as_str().to_owned(),
                        p.status
                            .map(|s| s.as_str().to_owned())
                            .unwrap_or_else(|| "not_queued".into()),
                        p.attempts.to_string(),
                        p.last_error.clone().unwrap_or_default(),
                        time(p.sent_at),
                        time(Some(p.reward.created_at)),
                    ]
                })
                .collect())
        },
    ))
}

/// `GET /portal/referrals/exports/audit.csv`: the audit trail, newest first, by day range
/// and action. It names no patient (actors are staff and patients by id, as the API's).
pub async fn audit_csv(
    state: web::Data<AppState>,
    visit: Visit,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, PageError> {
    let call = visit.admin_call()?;
    let q = query.into_inner();
    let mut problems = Vec::new();
    let (from, to) = q.range(&mut problems);
    let now = state.now();
    let filter = AuditFilter {
        action: optional(&q.action),
        from,
        to: Some(to.map_or(now, |t| t.min(now))),
        ..AuditFilter::default()
    };
    let counted = filter.clone();
    let Counted((), total) = audited_count(&call, "audit.export", "audit_log", move |conn| {
        refuse(problems)?;
        let total = audit::list(conn, &counted, Page::new(Some(1), None))?.total;
        Ok(Counted((), total))
    })
    .await?;
    Ok(stream_csv(
        state,
        "audit-trail.csv",
        &[
            "id",
            "created_at",
            "actor_id",
            "actor_role",
            "action",
            "resource_type",
            "resource_id",
            "outcome",
            "ip_address",
            "user_agent",
        ],
        total,
        move |conn, page| {
            let list = audit::list(conn, &filter, page)?;
            Ok(list
                .items
                .into_iter()
                .map(crate::views::AuditView::from)
                .map(|r| {
                    vec![
                        r.id.to_string(),
                        time(Some(r.created_at)),
                        r.actor_id.map(|a| a.to_string()).unwrap_or_default(),
                        r.actor_role,
                        r.action,
                        r.resource_type,
                        r.resource_id.unwrap_or_default(),
                        r.outcome,
                        r.ip_address.unwrap_or_default(),
                        r.user_agent.unwrap_or_default(),
                    ]
                })
                .collect())
        },
    ))
}
