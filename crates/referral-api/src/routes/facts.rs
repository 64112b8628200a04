//! Patient facts from the platform (role `service` writes; `service` and admins read):
//! the payer, state, date of birth and conditions that program targeting and the
//! inducement policy decide on. Every read and write is audited (they are PHI).

use crate::access::Operation;
use crate::auth::Role;
use crate::call::Call;
use crate::error::ApiError;

use crate::state::AuditAction;
use crate::views::{PatientFactsRequest, PatientFactsView};
use actix_web::{web, HttpResponse};
use referral_domain::{FactsInput, PatientId};
use referral_store::patients;

fn patient_id(raw: &str) -> Result<PatientId, ApiError> {
    raw.parse::<uuid::Uuid>()
        .map(PatientId::from_uuid)
        .map_err(|_| ApiError::NotFound)
}

/// Who may call `report_patient_facts`.
pub(crate) const REPORT_PATIENT_FACTS: Operation =
    Operation::for_roles("report_patient_facts", &[Role::Service]);

/// Stores the facts the platform reports about a patient (audited as `patient.facts.report`);
/// a field left out keeps its value, so reporting the same facts again changes nothing.
/// They apply from the next decision on (targeting, rewards).
#[utoipa::path(put, path = "/api/patients/{id}/facts", operation_id = "report_patient_facts", tag = "platform events",
    request_body = PatientFactsRequest,
    params(("id" = uuid::Uuid, Path, description = "The platform's patient id")),
    responses((status = 200, body = PatientFactsView), (status = 404, body = crate::error::Problem),
        (status = 422, body = crate::error::Problem)))]
pub async fn report(
    call: Call,
    id: web::Path<String>,
    body: crate::json_body::JsonBody<PatientFactsRequest>,
) -> Result<HttpResponse, ApiError> {
    let now = call.now();
    let raw = id.into_inner();
    let body = body.into_inner();
    let view = call
        .run(
            REPORT_PATIENT_FACTS,
            AuditAction::new("patient.facts.report", "patient", Some(raw.clone())),
            move |conn, _| {
                let id = patient_id(&raw)?;
                let now = now;
                let update = FactsInput {
                    federal_payer: body.federal_payer,
                    state: body.state.as_deref(),
                    date_of_birth: body.date_of_birth,
                    conditions: body
                        .conditions
                        .as_ref()
                        .map(|list| list.iter().map(String::as_str).collect()),
                }
                .parse(now.date_naive())?;
                Ok(PatientFactsView::from(patients::report_facts(
                    conn, id, &update, now,
                )?))
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Who may call `get_patient_facts`.
pub(crate) const GET_PATIENT_FACTS: Operation = Operation::for_roles(
    "get_patient_facts",
    &[Role::Service, Role::Admin, Role::SuperAdmin],
);

/// The facts stored about a patient (audited as `patient.facts.read`).
#[utoipa::path(get, path = "/api/patients/{id}/facts", operation_id = "get_patient_facts", tag = "platform events",
    params(("id" = uuid::Uuid, Path, description = "The platform's patient id")),
    responses((status = 200, body = PatientFactsView), (status = 404, body = crate::error::Problem)))]
pub async fn get(call: Call, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let raw = id.into_inner();
    let view = call
        .run(
            GET_PATIENT_FACTS,
            AuditAction::new("patient.facts.read", "patient", Some(raw.clone())),
            move |conn, _| {
                Ok(PatientFactsView::from(patients::get(
                    conn,
                    patient_id(&raw)?,
                )?))
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// The operations of this module, for the document (`routes::OPERATIONS`).
pub(crate) const OPERATIONS: &[Operation] = &[REPORT_PATIENT_FACTS, GET_PATIENT_FACTS];
