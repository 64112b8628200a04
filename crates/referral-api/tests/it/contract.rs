//! The served OpenAPI document tells the truth: errors are documented as problem+json,
//! bounds are in the schema and enforced, 405 lists what is allowed, and bodies are held to
//! their documented schema (schemathesis checks the rest in CI: `.ci/schemathesis.sh`).

use crate::support::{assert_problem, spawn};
use serde_json::{json, Value};

#[test]
fn every_error_response_is_documented_as_a_problem() {
    let app = spawn(referral_store::testing::TestDb::sqlite());
    let doc: Value = app.get(None, "/api/openapi.json").json().unwrap();
    let codes = doc["components"]["schemas"]["Problem"]["properties"]["code"]["enum"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(codes, referral_api::error::CODES.len());
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            assert!(op["x-roles"].is_array(), "{method} {path}");
            for (status, response) in op["responses"].as_object().unwrap() {
                // The one page answer: an unsubscribe link that is not valid, opened by a
                // person from a message (#31).
                if path == "/api/unsubscribe/{token}" && method == "get" && status == "404" {
                    assert!(response["content"]["text/html"].is_object());
                    continue;
                }
                if status.starts_with('4') || status.starts_with('5') {
                    assert!(
                        response["content"]["application/problem+json"].is_object(),
                        "{method} {path} {status}"
                    );
                }
            }
            let secured = op.get("security").is_some();
            if secured {
                assert!(op["responses"]["401"].is_object(), "{method} {path}");
            }
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["name"] == "limit" {
                    assert_eq!(p["schema"]["minimum"], 1, "{method} {path}");
                }
            }
        }
    }
    assert!(operations >= 25);
    let links = &doc["paths"]["/api/referral-programs"]["post"]["responses"]["201"]["links"];
    assert_eq!(links["GetProgram"]["operationId"], "get_program");
}

#[test]
fn method_not_allowed_lists_the_allowed_methods() {
    let app = spawn(referral_store::testing::TestDb::sqlite());
    let response = app
        .client
        .patch(app.url("/api/referral-programs/x"))
        .send()
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "DELETE, GET, PUT");
    assert_problem(response, 405, "method_not_allowed");
}

#[test]
fn bodies_are_held_to_their_documented_schema() {
    let app = spawn(referral_store::testing::TestDb::sqlite());
    let admin = app.admin();
    // serde alone would read an array as the object's fields.
    assert_problem(
        app.post(
            Some(&admin),
            "/api/referral-programs",
            json!(["Friends", null]),
        ),
        400,
        "invalid_json",
    );
    // The answer names the field, never the value sent (it may be a person's data).
    let patient = app.patient("alice");
    let problem = assert_problem(
        app.post(
            Some(&patient),
            "/api/patients/me/referrals",
            json!({"referee_email": ["bob.private@example.com"]}),
        ),
        400,
        "invalid_json",
    );
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("referee_email") && !detail.contains("bob.private"),
        "{detail}"
    );
    // A whole number written as a float is that number.
    let created = app.post(
        Some(&admin),
        "/api/referral-programs",
        json!({"name": "Floats", "expiry_days": 30.0, "referrer_reward_type": "credit",
               "referrer_reward_value": "5.00"}),
    );
    assert_eq!(created.status(), 201);
    // Out of the documented bounds: 422 naming the field.
    let problem = assert_problem(
        app.post(
            Some(&admin),
            "/api/referral-programs",
            json!({"name": "x", "expiry_days": 9999}),
        ),
        422,
        "validation_failed",
    );
    assert_eq!(problem["errors"][0]["field"], "expiry_days");
    // A reward type without its value.
    assert_problem(
        app.post(
            Some(&admin),
            "/api/referral-programs",
            json!({"name": "x", "referrer_reward_type": "credit"}),
        ),
        422,
        "validation_failed",
    );
}

#[test]
fn queries_refuse_unknown_filters_and_take_reversed_windows_as_empty() {
    let app = spawn(referral_store::testing::TestDb::sqlite());
    let admin = app.admin();
    let typo = app.get(Some(&admin), "/api/referrals?stauts=pending");
    assert!(
        matches!(typo.status().as_u16(), 400 | 422),
        "{}",
        typo.status()
    );
    let reversed: Value = app
        .get(
            Some(&admin),
            "/api/referrals?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
        )
        .json()
        .unwrap();
    assert_eq!(reversed["total"], 0);
    let big = app.get(Some(&admin), "/api/referrals/audit-trail?limit=10000");
    assert_eq!(big.status(), 200);
}

/// The roles the document states are the roles the handlers check, because both come from
/// one declaration beside the handler (`access::Operation`): every role the document
/// leaves out is refused with 403 by the operation itself.
#[test]
fn the_documented_roles_are_the_roles_the_handlers_enforce() {
    use referral_api::auth::Role;
    let app = spawn(referral_store::testing::TestDb::sqlite());
    let doc: Value = app.get(None, "/api/openapi.json").json().unwrap();
    let all = [
        Role::Patient,
        Role::Provider,
        Role::ProviderAdmin,
        Role::Admin,
        Role::SuperAdmin,
        Role::Service,
    ];
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let roles: Vec<&str> = op["x-roles"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert!(!roles.is_empty(), "{method} {path} declares nobody");
            if roles.contains(&"anyone") {
                assert!(
                    op["security"]
                        .as_array()
                        .is_none_or(|s| s.iter().any(|r| r == &json!({}))),
                    "{method} {path}: public but a token is required"
                );
                continue;
            }
            assert_eq!(op["security"], json!([{"bearer": []}]), "{method} {path}");
            // Only operations whose request the role check can be reached with: a body
            // or a query is read before the handler (and refused first when absent).
            if op.get("requestBody").is_some() {
                continue;
            }
            let url = path
                .replace("{id}", &uuid::Uuid::new_v4().to_string())
                .replace("{delivery_id}", &uuid::Uuid::new_v4().to_string());
            for role in all.iter().filter(|r| !roles.contains(&r.as_str())) {
                let who = app.actor(*role, Some("someone@example.com"));
                let request = match method.as_str() {
                    "get" => app.client.get(app.url(&url)),
                    "delete" => app.client.delete(app.url(&url)),
                    "post" => app.client.post(app.url(&url)),
                    "put" => app.client.put(app.url(&url)),
                    other => panic!("{other}"),
                };
                let response = request.bearer_auth(&who.token).send().unwrap();
                assert_eq!(response.status(), 403, "{method} {path} as {role}");
                checked += 1;
            }
        }
    }
    assert!(checked > 40, "{checked}");
    // Two operations the old table of ids had left out and so documented as public.
    for (path, method) in [
        ("/api/webhooks/{id}/test", "post"),
        ("/api/webhooks/{id}/previous-secret", "delete"),
    ] {
        let op = &doc["paths"][path][method];
        assert_eq!(op["x-roles"], json!(["admin", "super-admin"]), "{path}");
    }
}
