//! `/portal/referrals/rewards`: cash rewards waiting for approval (one case a referral,
//! with who, program, amount, signals and age; approved or rejected one or many at a
//! time; a rejection needs a reason and a confirmation), and failed messages.

use super::programs::optional;
use crate::auth::ADMINS;
use crate::error::{ApiError, FieldProblem};
use crate::pages::paging::{page_of, rows_of, Paging};
use crate::pages::session::Visit;
use crate::pages::{label, render, reward_text, see_other, when, PageError};
use crate::routes::admin::{decide_rewards, list_notifications};
use crate::routes::ListQuery;
use crate::state::{AppState, AuditAction, AuditedResource};
use crate::views::ApproveRewardRequest;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use referral_domain::{PatientId, ProgramId};
use referral_store::page::Paged;
use referral_store::rewards::{self, StaffItem};
use referral_store::{patients, programs};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Query of the rewards page.
#[derive(Debug, Default, Deserialize)]
pub struct RewardsQuery {
    done: Option<String>,
    n: Option<usize>,
    page: Option<String>,
    /// Page of the failed messages.
    failed_page: Option<String>,
    /// `1`: show who each reward is for by name (audited).
    names: Option<String>,
}

/// What the approval queue read found.
struct Queue {
    pending: Paged<StaffItem>,
    names: HashMap<PatientId, String>,
    programs: HashMap<ProgramId, String>,
}

impl AuditedResource for Queue {}

/// `GET /portal/referrals/rewards`: cash rewards waiting for approval, failed notifications.
pub async fn rewards(
    state: web::Data<AppState>,
    visit: Visit,
    query: web::Query<RewardsQuery>,
) -> Result<HttpResponse, PageError> {
    let call = visit.admin_call()?;
    let query = query.into_inner();
    let number = page_of(query.page.as_deref());
    let failed_number = page_of(query.failed_page.as_deref());
    let reveal = query.names.as_deref() == Some("1");
    let now = call.now();
    let queue = call
        .run_for(
            ADMINS,
            AuditAction::new(
                if reveal {
                    "reward.approval_queue_named"
                } else {
                    "reward.approval_queue"
                },
                "reward",
                None,
            ),
            move |conn, _| {
                let pending = rewards::approval_queue(conn, now, rows_of(number))?;
                let owners: Vec<PatientId> =
                    pending.items.iter().map(|i| i.reward.patient_id).collect();
                let names = if reveal {
                    patients::names_of(conn, &owners)?
                } else {
                    HashMap::new()
                };
                Ok(Queue {
                    pending,
                    names,
                    programs: programs::names(conn)?,
                })
            },
        )
        .await?;
    let failed_rows = rows_of(failed_number);
    let failed = list_notifications(
        &state,
        &call.caller,
        ListQuery {
            status: Some("failed".into()),
            limit: Some(failed_rows.limit),
            offset: Some(failed_rows.offset),
            ..ListQuery::default()
        },
    )
    .await?;
    let n = query.n.unwrap_or(0);
    let flash = match query.done.as_deref() {
        Some("approved") => Some(format!(
            "{n} referral(s) approved; their payouts are queued."
        )),
        Some("rejected") => Some(format!("{n} referral(s) rejected.")),
        _ => None,
    };
    let keep = if reveal { "names=1" } else { "" };
    let cases = cases_of(&queue, &state.links, reveal, now);
    let page = RewardsPage {
        title: "Rewards",
        nav: "portal",
        flash,
        reveal,
        cases,
        pending_total: queue.pending.total,
        paging: Paging::new(
            "/portal/referrals/rewards",
            keep,
            number,
            queue.pending.total,
        ),
        failed: failed
            .items
            .iter()
            .map(|n| FailedRow {
                kind: label(&n.kind),
                template: label(&n.template),
                attempts: n.attempts,
                error: n.last_error.clone(),
                created: when(n.created_at),
            })
            .collect(),
        failed_total: failed.total,
        failed_paging: Paging::new(
            "/portal/referrals/rewards",
            keep,
            failed_number,
            failed.total,
        )
        .named("failed_page"),
    };
    render(&visit, StatusCode::OK, "portal_rewards", page)
}

/// How long something has waited, as a person says it.
pub(super) fn age(since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    match (now - since).num_days() {
        ..=0 => "today".to_owned(),
        1 => "1 day".to_owned(),
        days => format!("{days} days"),
    }
}

/// The page's rewards as one case a referral, in the queue's order.
fn cases_of(
    queue: &Queue,
    links: &crate::links::LinkKeys,
    reveal: bool,
    now: DateTime<Utc>,
) -> Vec<PendingCase> {
    let mut cases: Vec<PendingCase> = Vec::new();
    for item in &queue.pending.items {
        let r = &item.reward;
        let who = if reveal {
            queue
                .names
                .get(&r.patient_id)
                .cloned()
                .unwrap_or_else(|| "(no name)".into())
        } else {
            links.pseudonym(r.patient_id.as_uuid())
        };
        let line = PendingLine {
            what: reward_text(Some(r.reward_type), r.reward_amount.clone()),
            party: label(r.party.as_str()),
            who,
        };
        if let Some(case) = cases
            .iter_mut()
            .find(|c| c.referral_id == r.referral_id.as_uuid())
        {
            case.lines.push(line);
            continue;
        }
        cases.push(PendingCase {
            referral_id: r.referral_id.as_uuid(),
            short: r.referral_id.to_string().chars().take(8).collect(),
            program: queue
                .programs
                .get(&item.program_id)
                .cloned()
                .unwrap_or_default(),
            lines: vec![line],
            signals: item
                .signals
                .iter()
                .map(|s| SignalLine {
                    name: label(s.signal.as_str()),
                    explanation: s.signal.explanation(),
                })
                .collect(),
            age: age(r.created_at, now),
            created: when(r.created_at),
        });
    }
    cases
}

/// What `portal_rewards.hbs` shows.
#[derive(Debug, Serialize)]
struct RewardsPage {
    title: &'static str,
    nav: &'static str,
    flash: Option<String>,
    /// Whether people are shown by name.
    reveal: bool,
    /// Referrals whose cash rewards wait for an admin.
    cases: Vec<PendingCase>,
    pending_total: i64,
    paging: Paging,
    /// Messages that failed for good.
    failed: Vec<FailedRow>,
    failed_total: i64,
    failed_paging: Paging,
}

/// A referral whose cash rewards wait for approval.
#[derive(Debug, Serialize)]
struct PendingCase {
    referral_id: uuid::Uuid,
    /// The id's first eight characters, as the page shows it.
    short: String,
    program: String,
    /// Each waiting reward: what, for whom.
    lines: Vec<PendingLine>,
    signals: Vec<SignalLine>,
    /// How long it has waited.
    age: String,
    created: String,
}

#[derive(Debug, Serialize)]
struct PendingLine {
    what: String,
    party: String,
    /// A pseudonym, or the name when the admin chose to see names.
    who: String,
}

#[derive(Debug, Serialize)]
struct SignalLine {
    name: String,
    explanation: &'static str,
}

/// A message that failed: its kind and error, never its recipient.
#[derive(Debug, Serialize)]
struct FailedRow {
    kind: String,
    template: String,
    attempts: i32,
    error: Option<String>,
    created: String,
}

/// The posted decision: `approve` or `reject` for the ticked `referral_id`s, or
/// `approve:<id>` / `reject:<id>` for one row's buttons; a rejection comes back for a
/// reason and a confirmation (`confirmed=1`) before anything changes.
#[derive(Debug, Default)]
struct Decision {
    csrf: String,
    verb: String,
    reason: String,
    confirmed: bool,
    referral_ids: Vec<String>,
}

impl Decision {
    fn parse(body: &[u8]) -> Self {
        let mut d = Decision::default();
        let mut ticked = Vec::new();
        let mut decision = String::new();
        for (key, value) in url::form_urlencoded::parse(body) {
            match key.as_ref() {
                "csrf" => d.csrf = value.into_owned(),
                "decision" => decision = value.into_owned(),
                "reason" => d.reason = value.trim().to_owned(),
                "confirmed" => d.confirmed = value == "1",
                "referral_id" => ticked.push(value.into_owned()),
                _ => {}
            }
        }
        match decision.split_once(':') {
            Some((verb, one)) => {
                d.verb = verb.to_owned();
                d.referral_ids = vec![one.to_owned()];
            }
            None => {
                d.verb = decision;
                d.referral_ids = ticked;
            }
        }
        d
    }
}

/// `POST /portal/referrals/rewards`: approve or reject the chosen referrals' cash rewards,
/// each decided (and audited) on its own with the one reason.
pub async fn decide_many(visit: Visit, body: web::Bytes) -> Result<HttpResponse, PageError> {
    let call = visit.admin_call()?;
    let form = Decision::parse(&body);
    visit.check_csrf(&form.csrf)?;
    let invalid = |field: &str, why: &str| {
        PageError::Api(ApiError::Validation(vec![FieldProblem::new(field, why)]))
    };
    let approve = match form.verb.as_str() {
        "approve" => true,
        "reject" => false,
        _ => return Err(invalid("decision", "Choose Approve or Reject")),
    };
    if form.referral_ids.is_empty()
        || form
            .referral_ids
            .iter()
            .any(|id| id.parse::<uuid::Uuid>().is_err())
    {
        return Err(invalid(
            "referral_id",
            "Tick at least one reward to approve or reject",
        ));
    }
    if !approve
        && (!form.confirmed
            || form.reason.is_empty()
            || form.reason.chars().count() > referral_domain::reward::MAX_REVIEW_REASON_CHARS)
    {
        let problem = (form.confirmed && form.reason.is_empty())
            .then_some("Enter why you are rejecting: the reason is kept with the decision");
        let status = if problem.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        };
        let page = ConfirmPage {
            title: "Reject rewards?",
            nav: "portal",
            count: form.referral_ids.len(),
            referral_ids: form.referral_ids.clone(),
            shorts: form
                .referral_ids
                .iter()
                .map(|id| id.chars().take(8).collect())
                .collect(),
            reason: form.reason.clone(),
            problem,
        };
        return render(&visit, status, "portal_rewards_confirm", page);
    }
    let mut decided = 0;
    for id in &form.referral_ids {
        let outcome = decide_rewards(
            &call,
            id.clone(),
            ApproveRewardRequest {
                approve,
                reason: optional(&form.reason),
            },
        )
        .await;
        match outcome {
            Ok(_) => decided += 1,
            // Decided meanwhile (another admin, another tab): the rest still go ahead.
            Err(ApiError::Domain(_) | ApiError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let done = if approve { "approved" } else { "rejected" };
    Ok(see_other(&format!(
        "/portal/referrals/rewards?done={done}&n={decided}"
    )))
}

/// What `portal_rewards_confirm.hbs` shows.
#[derive(Debug, Serialize)]
struct ConfirmPage {
    title: &'static str,
    nav: &'static str,
    count: usize,
    referral_ids: Vec<String>,
    shorts: Vec<String>,
    reason: String,
    problem: Option<&'static str>,
}

/// `POST /portal/referrals/rewards/{referral_id}`: one referral's decision (the row's
/// buttons of older pages and scripts); a rejection asks for its reason and confirmation.
pub async fn decide(
    visit: Visit,
    referral_id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let mut form = Decision::parse(&body);
    form.referral_ids = vec![referral_id.into_inner()];
    let mut encoded = url::form_urlencoded::Serializer::new(String::new());
    encoded
        .append_pair("csrf", &form.csrf)
        .append_pair("decision", &form.verb)
        .append_pair("reason", &form.reason)
        .append_pair("confirmed", if form.confirmed { "1" } else { "0" });
    for id in &form.referral_ids {
        encoded.append_pair("referral_id", id);
    }
    decide_many(visit, web::Bytes::from(encoded.finish())).await
}
