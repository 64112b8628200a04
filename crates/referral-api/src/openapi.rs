//! The OpenAPI 3 document of every endpoint, served at `/api/openapi.json`, with a docs UI at
//! `/docs/` (Swagger UI, vendored in the binary).
//!
//! utoipa describes each operation from its handler; [`complete`] then adds what holds for
//! every operation, so that the document says what the service really answers: errors as
//! `application/problem+json` with the problem schema, every status an operation can
//! answer, the bounds and enums of query parameters, the roles of each operation, and links
//! from a create to the reads and changes of what it made.

use crate::error::{FieldProblem, Problem};
use crate::routes;
use crate::views::*;
use actix_web::HttpResponse;
use serde_json::{json, Value};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The API description.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Referral management service",
        description = "Patients refer friends and earn rewards; providers run programs; platform services report events. \
Errors are application/problem+json with a stable `code` (the Problem schema lists every code; each operation lists the codes of each status it answers).",
    ),
    paths(
        routes::health::health,
        routes::health::ready,
        routes::patients::list_mine,
        routes::patients::create,
        routes::patients::get_mine,
        routes::patients::my_rewards,
        routes::share::get_mine,
        routes::share::retire_mine,
        routes::share::qr_svg,
        routes::public::lookup,
        routes::public::click,
        routes::public::open_link,
        routes::public::register,
        routes::public::verify_registration,
        routes::inbound_webhooks::twilio,
        routes::inbound_webhooks::sendgrid,
        routes::outbound_webhooks::create,
        routes::outbound_webhooks::list,
        routes::outbound_webhooks::get,
        routes::outbound_webhooks::update,
        routes::outbound_webhooks::delete,
        routes::outbound_webhooks::rotate_secret,
        routes::outbound_webhooks::revoke_previous_secret,
        routes::outbound_webhooks::send_test,
        routes::outbound_webhooks::deliveries,
        routes::outbound_webhooks::redeliver,
        routes::public::unsubscribe_confirm,
        routes::public::unsubscribe,
        routes::programs::list,
        routes::programs::create,
        routes::programs::get,
        routes::programs::update,
        routes::programs::delete,
        routes::provider::list,
        routes::provider::analytics,
        routes::provider::performance,
        routes::admin::approve_reward,
        routes::admin::bulk,
        routes::admin::audit_trail,
        routes::admin::notifications,
        routes::events::consultation,
        routes::events::order,
        routes::events::refund,
        routes::events::batch,
        routes::events::consultation_cancellation,
        routes::reviews::list,
        routes::reviews::decide,
        routes::reviews::bulk_decide,
        routes::reviews::clawbacks,
        routes::reviews::integrity,
        routes::facts::report,
        routes::facts::get,
        routes::rewards::redeem,
    ),
    components(schemas(
        Problem, FieldProblem, ProgramView, ProgramInput, DemographicsView, ProgramList, ReferralView,
        ReferralList, PublicReferralView, RewardView, RewardList, crate::views::MyReferralView, crate::views::MyReferralList, crate::views::MyRewardView, crate::views::MyRewardList, RegistrationView, crate::views::RegisteredReferralView, crate::views::VerificationSentView, crate::views::SignalView, crate::views::VerifyRegistrationRequest, AuditView, AuditList,
        NotificationView, NotificationList, CreateReferralRequest, RegisterRequest, ConsultationEventRequest,
        OrderEventRequest, EventResultView, RedeemRequest, ApproveRewardRequest, BulkRequest, BulkItemResult,
        BulkResponse, crate::views::RefundEventRequest, crate::views::CancellationEventRequest, crate::views::ReversalResultView,
        crate::views::ReviewItemView, crate::views::ReviewList, crate::views::ReviewDecisionRequest, crate::views::BulkReviewRequest,
        crate::views::BulkReviewResult, crate::views::BulkReviewResponse, crate::views::ClawbackView, crate::views::ClawbackList, crate::views::IntegrityView,
        routes::share::ShareLinkView, routes::outbound_webhooks::EndpointRequest, routes::outbound_webhooks::EndpointView,
        routes::outbound_webhooks::EndpointList, routes::outbound_webhooks::DeliveryView, routes::outbound_webhooks::DeliveryList, crate::views::BatchEvent, crate::views::BatchEventsRequest,
        crate::views::BatchEventResult, crate::views::BatchEventsResponse,
        crate::views::PatientFactsRequest, crate::views::PatientFactsView, routes::health::HealthView, routes::provider::TopReferrerView,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "patient portal", description = "A patient's own referrals and rewards (role patient)"),
        (name = "public", description = "Codes, links and registration (no token; rate limited)"),
        (name = "provider portal", description = "Programs, referrals and analytics (provider roles)"),
        (name = "admin", description = "Approvals, bulk operations, audit trail, notifications (admin, super-admin)"),
        (name = "platform events", description = "Consultations, orders and patient facts from other services (role service)"),
        (name = "provider webhooks", description = "Twilio and SendGrid callbacks, verified by their signatures; they feed the suppression list"),
        (name = "rewards", description = "Redeeming rewards (owner or service)"),
        (name = "operations", description = "Health and readiness"),
    )
)]
pub struct ApiDoc;

/// `GET /api/openapi.json`: the document the service was started with.
pub async fn document(state: actix_web::web::Data<crate::state::AppState>) -> HttpResponse {
    HttpResponse::Ok().json(state.contract.document())
}

/// The document as served: utoipa's, completed.
pub fn document_json() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or(Value::Null);
    complete(&mut doc);
    doc
}

/// Who may call `operation_id`, as its module declares it (`routes::operations`). An
/// operation no module declares is for nobody: closed, and a test fails.
fn declared(operation_id: &str) -> crate::access::Operation {
    crate::routes::operations()
        .find(|op| op.id == operation_id)
        .copied()
        .unwrap_or(crate::access::Operation::for_roles("undeclared", &[]))
}

/// The values a `status` query parameter takes, per operation.
fn status_values(operation_id: &str) -> Option<Vec<&'static str>> {
    use referral_domain::{ProgramStatus, ReferralStatus, RewardStatus};
    match operation_id {
        // The referrer sees `invited`, `joined` or `expired` (minimum necessary).
        "list_my_referrals" => Some(
            referral_domain::ReferrerStatus::ALL
                .iter()
                .map(|s| s.as_str())
                .collect(),
        ),
        "list_referrals" => Some(ReferralStatus::ALL.iter().map(|s| s.as_str()).collect()),
        "list_my_rewards" => Some(RewardStatus::ALL.iter().map(|s| s.as_str()).collect()),
        "list_programs" => Some(ProgramStatus::ALL.iter().map(|s| s.as_str()).collect()),
        "list_notifications" => Some(vec!["queued", "sent", "failed", "suppressed"]),
        _ => None,
    }
}

/// Links from a create to what can be done with what it made (the stateful tests follow
/// them): `(operation that creates, [(link name, target operation, path parameter)])`.
type Link = (&'static str, &'static str, &'static str);
const LINKS: &[(&str, &[Link])] = &[
    (
        "create_program",
        &[
            ("GetProgram", "get_program", "id"),
            ("UpdateProgram", "update_program", "id"),
            ("DeleteProgram", "delete_program", "id"),
        ],
    ),
    (
        "create_referral",
        &[("GetMyReferral", "get_my_referral", "id")],
    ),
];

/// Adds to every operation what the service answers beyond its handler's own description.
fn complete(doc: &mut Value) {
    let problem =
        json!({"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}});
    if let Some(code) = doc.pointer_mut("/components/schemas/Problem/properties/code") {
        code["enum"] = json!(crate::error::CODES
            .iter()
            .map(|(c, _)| *c)
            .collect::<Vec<_>>());
    }
    cross_field_rules(doc);
    refuse_nul_everywhere(doc);
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            if !crate::contract::HTTP_METHODS.contains(&method.as_str()) {
                continue;
            }
            complete_operation(path, op, &problem);
        }
    }
}

use referral_domain::contact::PHONE_REQUIRED_PATTERN;

/// The components request bodies use, with every component they refer to.
fn request_components(doc: &Value) -> std::collections::BTreeSet<String> {
    fn refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    if let Some(name) = r.strip_prefix("#/components/schemas/") {
                        out.push(name.to_owned());
                    }
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut pending = Vec::new();
    if let Some(Value::Object(paths)) = doc.get("paths") {
        for item in paths.values() {
            for op in item.as_object().into_iter().flat_map(|m| m.values()) {
                if let Some(body) = op.get("requestBody") {
                    refs(body, &mut pending);
                }
            }
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    while let Some(name) = pending.pop() {
        if seen.insert(name.clone()) {
            if let Some(schema) = doc.pointer(&format!("/components/schemas/{name}")) {
                refs(schema, &mut pending);
            }
        }
    }
    seen
}

/// No stored text may hold a NUL (PostgreSQL refuses it): every string property of the
/// request components without a pattern or a format of its own gets one that says so.
/// (Answers are not constrained: a problem may quote what was sent.)
fn refuse_nul_everywhere(doc: &mut Value) {
    let requests = request_components(doc);
    fn walk(schema: &mut Value) {
        let Some(map) = schema.as_object_mut() else {
            return;
        };
        let is_string = match map.get("type") {
            Some(Value::String(t)) => t == "string",
            Some(Value::Array(ts)) => ts.iter().any(|t| t == "string"),
            _ => false,
        };
        if is_string
            && !map.contains_key("pattern")
            && !map.contains_key("format")
            && !map.contains_key("enum")
        {
            map.insert("pattern".into(), Value::from("^[^\\x00]*$"));
        }
        for key in ["properties"] {
            if let Some(Value::Object(props)) = map.get_mut(key) {
                props.values_mut().for_each(walk);
            }
        }
        for key in ["items", "additionalProperties"] {
            if let Some(inner) = map.get_mut(key) {
                walk(inner);
            }
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            if let Some(Value::Array(options)) = map.get_mut(key) {
                options.iter_mut().for_each(walk);
            }
        }
    }
    if let Some(Value::Object(schemas)) = doc.pointer_mut("/components/schemas") {
        schemas
            .iter_mut()
            .filter(|(name, _)| requests.contains(*name))
            .for_each(|(_, schema)| walk(schema));
    }
}

/// The rules that join fields or count values, which no single field's schema states (each
/// field's own bounds are declared on the field: `views::field`).
fn cross_field_rules(doc: &mut Value) {
    let uuid = || json!({"type": "string", "format": "uuid"});
    // An SMS invitation needs the friend's phone. Whether it needs their consent
    // (`sms_consent: true`) depends on the program's `sms_delivery`, which the request does
    // not name: the domain's `consent::needs_sms_consent` decides it, and a refusal is a
    // documented 422, so the document states no copy of the rule.
    if let Some(create) = doc.pointer_mut("/components/schemas/CreateReferralRequest") {
        create["if"] = json!({"required": ["referral_source"], "properties": {"referral_source": {"const": "sms"}}});
        create["then"] = json!({
            "required": ["referee_phone"],
            "properties": {
                "referee_phone": {"type": "string", "pattern": PHONE_REQUIRED_PATTERN}
            }
        });
    }
    // Exactly one of order_id and consultation_id.
    if let Some(redeem) = doc.pointer_mut("/components/schemas/RedeemRequest") {
        redeem["anyOf"] = json!([
            {"required": ["order_id"], "properties": {"order_id": uuid(), "consultation_id": {"type": "null"}}},
            {"required": ["consultation_id"], "properties": {"consultation_id": uuid(), "order_id": {"type": "null"}}}
        ]);
    }
    if let Some(program) = doc.pointer_mut("/components/schemas/ProgramInput") {
        // No variants, or two to ten: one variant is no experiment.
        program["properties"]["variants"] = json!({"type": "array", "maxItems": referral_domain::experiment::MAX_VARIANTS,
            "not": {"minItems": 1, "maxItems": 1},
            "items": {"$ref": "#/components/schemas/VariantInput"}});
        // A reward needs both its type and its value, or neither.
        let both_or_neither = |party: &str| {
            let (kind, value) = (
                format!("{party}_reward_type"),
                format!("{party}_reward_value"),
            );
            let absent = |field: &str| {
                json!({"anyOf": [
                    {"not": {"required": [field]}},
                    {"properties": {field: {"type": "null"}}, "required": [field]}
                ]})
            };
            json!({"anyOf": [
                {"allOf": [absent(&kind), absent(&value)]},
                {"required": [kind, value], "properties": {kind.clone(): {"type": "string"}, value.clone(): {"type": ["string", "integer"]}}}
            ]})
        };
        program["allOf"] = json!([both_or_neither("referrer"), both_or_neither("referee")]);
    }
}

fn complete_operation(path: &str, op: &mut Value, problem: &Value) {
    let id = op["operationId"].as_str().unwrap_or_default().to_owned();
    let operations_route = path == "/health" || path == "/ready";
    let access = declared(&id);
    let secured = access.takes_token();
    match access.callers {
        crate::access::Callers::Anyone => {
            if let Some(map) = op.as_object_mut() {
                map.remove("security");
            }
        }
        crate::access::Callers::Roles(_) => op["security"] = json!([{"bearer": []}]),
        crate::access::Callers::AnyoneOr(_) => op["security"] = json!([{}, {"bearer": []}]),
    }
    let has_body = op.get("requestBody").is_some();
    let has_parameters = op.get("parameters").is_some();
    let public_limited =
        path.starts_with("/api/referrals/{code}") || path == "/api/registrations/verify";
    let roles = access.caller_names();
    op["x-roles"] = json!(roles);
    if let Some(description) = op.get("description").and_then(Value::as_str) {
        op["description"] = json!(format!("{description}\n\nRoles: {}.", roles.join(", ")));
    } else {
        op["description"] = json!(format!("Roles: {}.", roles.join(", ")));
    }

    // Query parameters: the bounds and values the handlers enforce.
    if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
        for p in params.iter_mut() {
            let location = p["in"].as_str().unwrap_or_default().to_owned();
            let name = p["name"].as_str().unwrap_or_default().to_owned();
            match (location.as_str(), name.as_str()) {
                ("query", "limit") => {
                    let most = if id == "audit_trail" { 10_000 } else { 500 };
                    p["schema"] = json!({"type": "integer", "format": "int64", "minimum": 1, "maximum": most});
                }
                ("query", "offset") => {
                    p["schema"] = json!({"type": "integer", "format": "int64", "minimum": 0});
                }
                ("query", "interval") => {
                    p["schema"] = json!({"type": "string", "enum": ["day", "week", "month", ""]});
                }
                ("query", "signal") => {
                    let codes: Vec<&str> = referral_domain::signals::Signal::ALL
                        .iter()
                        .map(|s| s.as_str())
                        .collect();
                    p["schema"] = json!({"type": "string", "enum": codes});
                }
                ("query", "format") => {
                    p["schema"] = json!({"type": "string", "enum": ["json", "csv"]});
                }
                ("query", "status") => {
                    // An empty filter is no filter.
                    if let Some(mut values) = status_values(&id) {
                        values.push("");
                        p["schema"] = json!({"type": "string", "enum": values});
                    }
                }
                _ => {}
            }
        }
    }

    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    if id == "audit_trail" {
        if let Some(ok) = responses.get_mut("200") {
            ok["content"]["text/csv"] = json!({"schema": {"type": "string"}});
        }
    }
    // Errors are problem documents (the unsubscribe page's invalid link is a page: a person
    // opened it from a message).
    for (status, response) in responses.iter_mut() {
        if id == "unsubscribe_confirm" && status == "404" {
            continue;
        }
        if status.starts_with('4') || status.starts_with('5') {
            response["content"] = problem.clone();
        }
    }
    if operations_route {
        return;
    }
    let mut statuses: Vec<u16> = vec![404, 500, 503];
    if secured {
        statuses.extend([401, 403]);
    }
    if has_body {
        statuses.extend([400, 413, 422]);
    }
    if has_parameters {
        statuses.push(422);
    }
    if public_limited || id == "create_referral" {
        statuses.push(429);
    }
    for status in statuses {
        let key = status.to_string();
        if !responses.contains_key(&key) {
            let codes: Vec<&str> = crate::error::CODES
                .iter()
                .filter(|(_, s)| *s == status)
                .map(|(c, _)| *c)
                .collect();
            responses.insert(
                key,
                json!({"description": format!("code: {}", codes.join(", ")), "content": problem}),
            );
        }
    }
    // Links from a create to its resource.
    if let Some((_, links)) = LINKS.iter().find(|(from, _)| *from == id) {
        if let Some(created) = responses.get_mut("201") {
            let mut map = serde_json::Map::new();
            for (name, target, param) in links.iter() {
                map.insert(
                    (*name).to_owned(),
                    json!({"operationId": target, "parameters": {*param: "$response.body#/id"}}),
                );
            }
            created["links"] = Value::Object(map);
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every documented operation is declared once beside its handler, and every
    /// declaration names a documented operation.
    #[test]
    fn the_declarations_and_the_document_name_the_same_operations() {
        let mut documented: Vec<String> = super::document_json()["paths"]
            .as_object()
            .into_iter()
            .flat_map(|paths| paths.values())
            .filter_map(|item| item.as_object())
            .flat_map(|item| item.values())
            .filter_map(|op| op["operationId"].as_str().map(str::to_owned))
            .collect();
        let mut declared: Vec<String> = crate::routes::operations()
            .map(|op| op.id.to_owned())
            .collect();
        documented.sort();
        declared.sort();
        assert_eq!(documented, declared);
    }
}
