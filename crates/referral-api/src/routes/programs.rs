//! Provider portal: referral programs.

use crate::access::Operation;
use crate::auth::{Caller, PORTAL_ADMINS, PROGRAM_READERS};
use crate::call::Call;
use crate::error::ApiError;
use crate::routes::ListQuery;
use crate::state::{AppState, AuditAction};
use crate::views::{ProgramInput, ProgramList, ProgramView};
use actix_web::{web, HttpResponse};
use referral_domain::{ProgramId, ProgramStatus, ProviderId};
use referral_store::programs;

fn program_id(raw: &str) -> Result<ProgramId, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound)
}

/// Who may call `list_programs`.
pub(crate) const LIST_PROGRAMS: Operation = Operation::for_roles("list_programs", PROGRAM_READERS);

/// Programs, newest first; `status` filters.
#[utoipa::path(get, path = "/api/referral-programs", operation_id = "list_programs", tag = "provider portal", params(ListQuery),
    responses((status = 200, body = ProgramList), (status = 403, body = crate::error::Problem)))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let list = list_programs(&state, &caller, query.into_inner()).await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Programs, newest first, for the roles that may read them.
pub(crate) async fn list_programs(
    state: &web::Data<AppState>,
    caller: &Caller,
    query: ListQuery,
) -> Result<ProgramList, ApiError> {
    caller.require(LIST_PROGRAMS.roles())?;
    query.check()?;
    let status: Option<ProgramStatus> = match query.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(s.parse().map_err(|_| {
            ApiError::Validation(vec![crate::error::FieldProblem::new(
                "status",
                format!("`{s}` is not a program status"),
            )])
        })?),
    };
    let page = query.page();
    let scope = caller.provider_scope();
    state
        .read(move |conn| {
            let programs = programs::list(conn, status, scope, page)?;
            Ok(ProgramList {
                items: programs.items.into_iter().map(ProgramView::from).collect(),
                total: programs.total,
            })
        })
        .await
}

/// Who may call `get_program`.
pub(crate) const GET_PROGRAM: Operation = Operation::for_roles("get_program", PROGRAM_READERS);

/// One program.
#[utoipa::path(get, path = "/api/referral-programs/{id}", operation_id = "get_program", tag = "provider portal",
    params(("id" = uuid::Uuid, Path, description = "Program id")),
    responses((status = 200, body = ProgramView), (status = 404, body = crate::error::Problem)))]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let view = get_program(&state, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// One program, for the roles that may read them.
pub(crate) async fn get_program(
    state: &web::Data<AppState>,
    caller: &Caller,
    raw: &str,
) -> Result<ProgramView, ApiError> {
    let now = state.now();
    caller.require(GET_PROGRAM.roles())?;
    let id = program_id(raw)?;
    let who = caller.clone();
    state
        .db(move |conn| {
            let program = visible_program(conn, &who, id)?;
            // A budgeted program is read with its spend against the budget.
            let spend = if program.budget.is_limited() {
                Some(referral_store::rewards::program_spend(
                    conn, program.id, now,
                )?)
            } else {
                None
            };
            let mut view = ProgramView::from(program);
            if let Some(spend) = spend {
                view.spent_total = Some(spend.total);
                view.spent_this_month = Some(spend.this_month);
            }
            Ok(view)
        })
        .await
}

/// The program `id` if `caller` may see it (`programs::get_within` with the caller's
/// provider scope); another provider's program is `not_found`.
///
/// # Errors
/// `not_found`; store errors.
pub(crate) fn visible_program(
    conn: &mut referral_store::DbConnection,
    caller: &Caller,
    id: referral_domain::ProgramId,
) -> Result<referral_store::programs::Program, ApiError> {
    Ok(programs::get_within(conn, id, caller.provider_scope())?)
}

/// The programs a provider-scoped caller may see; `None` (every program) for admins.
///
/// # Errors
/// Store errors.
pub(crate) fn programs_in_scope(
    conn: &mut referral_store::DbConnection,
    caller: &Caller,
) -> Result<Option<Vec<referral_domain::ProgramId>>, ApiError> {
    Ok(programs::ids_within(conn, caller.provider_scope())?)
}

/// Who may call `create_program`.
pub(crate) const CREATE_PROGRAM: Operation = Operation::for_roles("create_program", PORTAL_ADMINS);

/// Creates a program (status `active` unless given).
#[utoipa::path(post, path = "/api/referral-programs", operation_id = "create_program", tag = "provider portal", request_body = ProgramInput,
    responses((status = 201, body = ProgramView), (status = 400, body = crate::error::Problem),
        (status = 422, body = crate::error::Problem)))]
pub async fn create(
    call: Call,
    body: crate::json_body::JsonBody<ProgramInput>,
) -> Result<HttpResponse, ApiError> {
    let view = create_program(&call, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(view))
}

/// Creates a program (audited as `program.create`).
pub(crate) async fn create_program(
    call: &Call,
    body: ProgramInput,
) -> Result<ProgramView, ApiError> {
    let now = call.now();
    call.run(
        CREATE_PROGRAM,
        AuditAction::new("program.create", "program", None),
        move |conn, who| {
            let (draft, status) = body.into_draft().map_err(ApiError::Validation)?;
            let valid = draft.validate()?;
            let status =
                ProgramStatus::Active.transition_to(status.unwrap_or(ProgramStatus::Active))?;
            // A provider's staff create programs of their provider; an admin's belong
            // to the admin, as before (admins see every program anyway).
            let owner = who
                .provider_scope()
                .unwrap_or_else(|| ProviderId::from_uuid(who.id()));
            let program = programs::create(conn, &valid, status, Some(owner), now)?;
            Ok(ProgramView::from(program))
        },
    )
    .await
}

/// Who may call `update_program`.
pub(crate) const UPDATE_PROGRAM: Operation = Operation::for_roles("update_program", PORTAL_ADMINS);

/// Replaces a program's fields; `status` moves it (`ended` is final).
#[utoipa::path(put, path = "/api/referral-programs/{id}", operation_id = "update_program", tag = "provider portal", request_body = ProgramInput,
    params(("id" = uuid::Uuid, Path, description = "Program id")),
    responses((status = 200, body = ProgramView), (status = 404, body = crate::error::Problem),
        (status = 409, description = "program_ended", body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn update(
    call: Call,
    id: web::Path<String>,
    body: crate::json_body::JsonBody<ProgramInput>,
) -> Result<HttpResponse, ApiError> {
    let view = update_program(&call, id.into_inner(), body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Replaces a program's fields (audited as `program.update`).
pub(crate) async fn update_program(
    call: &Call,
    raw: String,
    body: ProgramInput,
) -> Result<ProgramView, ApiError> {
    let now = call.now();
    call.run(
        UPDATE_PROGRAM,
        AuditAction::new("program.update", "program", Some(raw.clone())),
        move |conn, who| {
            let id = program_id(&raw)?;
            visible_program(conn, who, id)?;
            let (draft, status) = body.into_draft().map_err(ApiError::Validation)?;
            let valid = draft.validate()?;
            Ok(ProgramView::from(programs::update(
                conn, id, &valid, status, now,
            )?))
        },
    )
    .await
}

/// Who may call `delete_program`.
pub(crate) const DELETE_PROGRAM: Operation = Operation::for_roles("delete_program", PORTAL_ADMINS);

/// Deletes a program without referrals (409 `program_has_referrals` otherwise; end it instead).
#[utoipa::path(delete, path = "/api/referral-programs/{id}", operation_id = "delete_program", tag = "provider portal",
    params(("id" = uuid::Uuid, Path, description = "Program id")),
    responses((status = 204, description = "Deleted"), (status = 404, body = crate::error::Problem),
        (status = 409, description = "program_has_referrals", body = crate::error::Problem)))]
pub async fn delete(call: Call, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let raw = id.into_inner();
    call.run(
        DELETE_PROGRAM,
        AuditAction::new("program.delete", "program", Some(raw.clone())),
        move |conn, who| {
            let id = program_id(&raw)?;
            visible_program(conn, who, id)?;
            Ok(programs::delete(conn, id)?)
        },
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The operations of this module, for the document (`routes::OPERATIONS`).
pub(crate) const OPERATIONS: &[Operation] = &[
    LIST_PROGRAMS,
    GET_PROGRAM,
    CREATE_PROGRAM,
    UPDATE_PROGRAM,
    DELETE_PROGRAM,
];
