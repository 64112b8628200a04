//! Tokens, the role matrix, other patients' data, audit rows, CORS, headers, OpenAPI.

use crate::support::*;
use referral_api::auth::Role;
use serde_json::{json, Value};
use uuid::Uuid;

const ALL_ROLES: [Role; 6] = [
    Role::Patient,
    Role::Provider,
    Role::ProviderAdmin,
    Role::Admin,
    Role::SuperAdmin,
    Role::Service,
];

both_databases!(
    role_matrix,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        let program = app.program(json!({}));
        let pid = program["id"].as_str().unwrap().to_owned();
        let some = Uuid::new_v4();
        use Role::*;
        // (method, path, body, roles allowed)
        let matrix: Vec<(&str, String, Value, Vec<Role>)> = vec![
            (
                "GET",
                "/api/patients/me/referrals".into(),
                json!(null),
                vec![Patient],
            ),
            (
                "POST",
                "/api/patients/me/referrals".into(),
                json!({"referee_email": "new@example.com"}),
                vec![Patient],
            ),
            (
                "GET",
                format!("/api/patients/me/referrals/{some}"),
                json!(null),
                vec![Patient],
            ),
            (
                "GET",
                "/api/patients/me/rewards".into(),
                json!(null),
                vec![Patient],
            ),
            (
                "GET",
                "/api/referral-programs".into(),
                json!(null),
                vec![Provider, ProviderAdmin, Admin, SuperAdmin],
            ),
            (
                "GET",
                format!("/api/referral-programs/{pid}"),
                json!(null),
                vec![Provider, ProviderAdmin, Admin, SuperAdmin],
            ),
            (
                "POST",
                "/api/referral-programs".into(),
                json!({"name": "P"}),
                vec![ProviderAdmin, Admin, SuperAdmin],
            ),
            (
                "PUT",
                format!("/api/referral-programs/{pid}"),
                json!({"name": "P2"}),
                vec![ProviderAdmin, Admin, SuperAdmin],
            ),
            (
                "DELETE",
                format!("/api/referral-programs/{some}"),
                json!(null),
                vec![ProviderAdmin, Admin, SuperAdmin],
            ),
            (
                "GET",
                "/api/referrals".into(),
                json!(null),
                vec![ProviderAdmin, Admin, SuperAdmin],
            ),
            (
                "GET",
                "/api/referrals/analytics".into(),
                json!(null),
                vec![ProviderAdmin, Admin, SuperAdmin],
            ),
            (
                "GET",
                "/api/referrals/performance".into(),
                json!(null),
                vec![ProviderAdmin, Admin, SuperAdmin],
            ),
            (
                "POST",
                format!("/api/referrals/{some}/approve-reward"),
                json!({"approve": true}),
                vec![Admin, SuperAdmin],
            ),
            (
                "POST",
                "/api/referrals/bulk-operations".into(),
                json!({"operation": "decline", "referral_ids": [some]}),
                vec![Admin, SuperAdmin],
            ),
            (
                "GET",
                "/api/referrals/audit-trail".into(),
                json!(null),
                vec![Admin, SuperAdmin],
            ),
            (
                "GET",
                "/api/notifications".into(),
                json!(null),
                vec![Admin, SuperAdmin],
            ),
            (
                "POST",
                "/api/events/consultations".into(),
                json!({"patient_id": some, "consultation_id": Uuid::new_v4()}),
                vec![Service],
            ),
            (
                "POST",
                "/api/events/orders".into(),
                json!({"patient_id": some, "order_id": Uuid::new_v4(), "amount": "1.00"}),
                vec![Service],
            ),
            (
                "POST",
                format!("/api/rewards/{some}/redeem"),
                json!({"order_id": some}),
                vec![Patient, Service],
            ),
        ];
        for (method, path, body, allowed) in &matrix {
            // No token at all: 401.
            let anonymous = app
                .client
                .request(method.parse().unwrap(), app.url(path))
                .json(body)
                .send()
                .unwrap();
            assert_eq!(anonymous.status(), 401, "{method} {path} without a token");
            for role in ALL_ROLES {
                let actor = app.actor(
                    role,
                    Some(&format!("{}@example.com", Uuid::new_v4().simple())),
                );
                let response = app
                    .client
                    .request(method.parse().unwrap(), app.url(path))
                    .bearer_auth(&actor.token)
                    .json(body)
                    .send()
                    .unwrap();
                let status = response.status().as_u16();
                if allowed.contains(&role) {
                    assert!(
                        status != 401 && status != 403,
                        "{role} should use {method} {path}, got {status}"
                    );
                } else {
                    assert_eq!(status, 403, "{role} must not use {method} {path}");
                }
            }
        }
    }
);

both_databases!(
    tokens_must_be_valid_signed_and_current,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        let id = Uuid::new_v4();
        let expired = token(Role::Admin, id, None, -120);
        assert_problem(
            app.client
                .get(app.url("/api/referral-programs"))
                .bearer_auth(expired)
                .send()
                .unwrap(),
            401,
            "unauthenticated",
        );
        let within_skew = token(Role::Admin, id, None, -30);
        assert_eq!(
            app.client
                .get(app.url("/api/referral-programs"))
                .bearer_auth(within_skew)
                .send()
                .unwrap()
                .status(),
            200
        );
        let forged = {
            let claims = referral_api::auth::Claims::new(
                id,
                Role::Admin,
                chrono::Utc::now().timestamp(),
                600,
            );
            referral_api::auth::JwtKeys::new(b"someone-elses-secret-0123456789ab")
                .sign(&claims)
                .unwrap()
        };
        assert_problem(
            app.client
                .get(app.url("/api/referral-programs"))
                .bearer_auth(forged)
                .send()
                .unwrap(),
            401,
            "unauthenticated",
        );
        // alg "none", no exp, garbage, wrong scheme.
        let header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
        let payload = "eyJzdWIiOiIwMDAwMDAwMC0wMDAwLTQwMDAtODAwMC0wMDAwMDAwMDAwMDAiLCJyb2xlIjoiYWRtaW4iLCJleHAiOjQxMDI0NDQ4MDB9";
        assert_problem(
            app.client
                .get(app.url("/api/referral-programs"))
                .bearer_auth(format!("{header}.{payload}."))
                .send()
                .unwrap(),
            401,
            "unauthenticated",
        );
        let no_exp = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &json!({"sub": id, "role": "admin"}),
            &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        assert_problem(
            app.client
                .get(app.url("/api/referral-programs"))
                .bearer_auth(no_exp)
                .send()
                .unwrap(),
            401,
            "unauthenticated",
        );
        assert_problem(
            app.client
                .get(app.url("/api/referral-programs"))
                .bearer_auth("garbage")
                .send()
                .unwrap(),
            401,
            "unauthenticated",
        );
        assert_problem(
            app.client
                .get(app.url("/api/referral-programs"))
                .header("authorization", "Basic YTpi")
                .send()
                .unwrap(),
            401,
            "unauthenticated",
        );
    }
);

both_databases!(
    another_patients_data_is_not_found,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        app.program(json!({"referee_reward_type": "credit", "referee_reward_value": "10"}));
        let alice = app.patient("alice");
        let eve = app.patient("eve");
        let referral = app.refers(&alice, "bob@example.com");
        let id = referral["id"].as_str().unwrap();
        assert_problem(
            app.get(Some(&eve), &format!("/api/patients/me/referrals/{id}")),
            404,
            "not_found",
        );
        assert_problem(
            app.get(Some(&eve), "/api/patients/me/referrals/not-an-id"),
            404,
            "not_found",
        );
        let eves: Value = app
            .get(Some(&eve), "/api/patients/me/referrals")
            .json()
            .unwrap();
        assert_eq!(eves["total"], 0);
        let bob = app.registers(
            referral["referral_code"].as_str().unwrap(),
            "bob@example.com",
        );
        let reward = bob["referee_reward"]["id"].as_str().unwrap();
        assert_problem(
            app.post(
                Some(&eve),
                &format!("/api/rewards/{reward}/redeem"),
                json!({"order_id": Uuid::new_v4()}),
            ),
            404,
            "not_found",
        );
        // Eve's attempts are in the audit trail, as not_found.
        let trail: Value = app
            .get(
                Some(&app.admin()),
                &format!("/api/referrals/audit-trail?actor_id={}", eve.id),
            )
            .json()
            .unwrap();
        let outcomes: Vec<&str> = trail["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["outcome"].as_str().unwrap())
            .collect();
        assert!(
            outcomes.iter().filter(|o| **o == "not_found").count() >= 3,
            "{outcomes:?}"
        );
        // Registering on behalf of a patient is for services only.
        let second = app.refers(&alice, "carl@example.com");
        let path = format!(
            "/api/referrals/{}/register",
            second["referral_code"].as_str().unwrap()
        );
        assert_problem(
            app.post(
                None,
                &path,
                json!({"email": "carl@example.com", "patient_id": Uuid::new_v4()}),
            ),
            422,
            "validation_failed",
        );
        assert_problem(
            app.post(Some(&eve), &path, json!({"email": "carl@example.com"})),
            403,
            "forbidden",
        );
        let platform_id = Uuid::new_v4();
        let by_service = app.post(
            Some(&app.service()),
            &path,
            json!({"email": "carl@example.com", "patient_id": platform_id}),
        );
        assert_eq!(by_service.status(), 201);
        assert_eq!(
            by_service.json::<Value>().unwrap()["patient_id"],
            platform_id.to_string()
        );
    }
);

both_databases!(
    reads_and_changes_are_audited_with_their_outcome,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        app.program(json!({}));
        let alice = app.patient("alice");
        let referral = app.refers(&alice, "bob@example.com");
        let id = referral["id"].as_str().unwrap();
        app.get(Some(&alice), &format!("/api/patients/me/referrals/{id}"));
        let provider = app.actor(Role::Provider, None);
        app.get(Some(&provider), "/api/patients/me/referrals");
        let trail: Value = app
            .get(
                Some(&app.admin()),
                "/api/referrals/audit-trail?resource_type=referral",
            )
            .json()
            .unwrap();
        let rows = trail["items"].as_array().unwrap();
        let find = |action: &str, outcome: &str| {
            rows.iter()
                .find(|r| r["action"] == action && r["outcome"] == outcome)
                .cloned()
        };
        let created = find("referral.create", "success").expect("create audited");
        assert_eq!(created["actor_id"], alice.id.to_string());
        assert_eq!(created["actor_role"], "patient");
        assert_eq!(created["resource_id"], id);
        assert_eq!(created["ip_address"], "127.0.0.0");
        let read = find("referral.read", "success").expect("read audited");
        assert_eq!(read["resource_id"], id);
        let denied = find("referral.list", "forbidden").expect("denied attempt audited");
        assert_eq!(denied["actor_role"], "provider");
        // A visitor registering creates a patient: audited as role visitor.
        app.registers(
            referral["referral_code"].as_str().unwrap(),
            "bob@example.com",
        );
        let registrations: Value = app
            .get(
                Some(&app.admin()),
                "/api/referrals/audit-trail?action=referral.register",
            )
            .json()
            .unwrap();
        assert_eq!(registrations["items"][0]["actor_role"], "visitor");
        assert_eq!(registrations["items"][0]["resource_id"], id);
        // Reading the trail is itself audited.
        let audit_reads: Value = app
            .get(
                Some(&app.admin()),
                "/api/referrals/audit-trail?action=audit.read",
            )
            .json()
            .unwrap();
        assert!(audit_reads["total"].as_i64().unwrap() >= 1);
    }
);

both_databases!(
    browser_protections,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        let response = app.get(None, "/health");
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert!(headers.contains_key("content-security-policy"));
        let preflight = app
            .client
            .request(
                reqwest::Method::OPTIONS,
                app.url("/api/patients/me/referrals"),
            )
            .header("origin", "http://portal.test")
            .header("access-control-request-method", "POST")
            .send()
            .unwrap();
        assert_eq!(
            preflight.headers()["access-control-allow-origin"],
            "http://portal.test"
        );
        let stranger = app
            .client
            .request(
                reqwest::Method::OPTIONS,
                app.url("/api/patients/me/referrals"),
            )
            .header("origin", "http://evil.test")
            .header("access-control-request-method", "POST")
            .send()
            .unwrap();
        assert!(!stranger
            .headers()
            .contains_key("access-control-allow-origin"));
        // The docs UI is served by the binary itself: nothing from another origin.
        let docs = app.get(None, "/docs");
        assert_eq!(docs.status(), 307);
        let docs = app.get(None, "/docs/");
        assert_eq!(docs.status(), 200);
        let csp = docs.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(csp, referral_api::app::DOCS_CSP);
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("http"),
            "{csp}"
        );
        let html = docs.text().unwrap();
        for attribute in ["src=\"", "href=\""] {
            for url in html.split(attribute).skip(1) {
                assert!(
                    !url.starts_with("http") && !url.starts_with("//"),
                    "external asset: {url}"
                );
            }
        }
        let initializer = app
            .get(None, "/docs/swagger-initializer.js")
            .text()
            .unwrap();
        assert!(initializer.contains("/api/openapi.json"), "{initializer}");
        let bundle = app.get(None, "/docs/swagger-ui-bundle.js");
        assert_eq!(bundle.status(), 200);
        assert!(bundle.text().unwrap().len() > 100_000);
    }
);

#[test]
fn the_openapi_document_describes_every_endpoint() {
    let app = spawn(referral_store::testing::TestDb::sqlite());
    let doc: Value = app.get(None, "/api/openapi.json").json().unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/patients/me/referrals", "get"),
        ("/api/patients/me/referrals", "post"),
        ("/api/patients/me/referrals/{id}", "get"),
        ("/api/patients/me/rewards", "get"),
        ("/api/referrals/{code}", "get"),
        ("/api/referrals/{code}/register", "post"),
        ("/api/referrals/{code}/click", "get"),
        ("/api/referral-programs", "get"),
        ("/api/referral-programs", "post"),
        ("/api/referral-programs/{id}", "get"),
        ("/api/referral-programs/{id}", "put"),
        ("/api/referral-programs/{id}", "delete"),
        ("/api/referrals", "get"),
        ("/api/referrals/analytics", "get"),
        ("/api/referrals/performance", "get"),
        ("/api/referrals/{id}/approve-reward", "post"),
        ("/api/referrals/bulk-operations", "post"),
        ("/api/referrals/audit-trail", "get"),
        ("/api/notifications", "get"),
        ("/api/unsubscribe/{token}", "get"),
        ("/api/unsubscribe/{token}", "post"),
        ("/api/events/consultations", "post"),
        ("/api/events/orders", "post"),
        ("/api/rewards/{id}/redeem", "post"),
        ("/health", "get"),
        ("/ready", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is not documented"
        );
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

both_databases!(
    bulk_operations_and_unsubscribe,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        app.program(json!({}));
        let alice = app.patient("alice");
        let one = app.refers(&alice, "bob@example.com");
        let two = app.refers(&alice, "carl@example.com");
        let missing = Uuid::new_v4();
        let result: Value = app
            .post(
                Some(&app.admin()),
                "/api/referrals/bulk-operations",
                json!({
                    "operation": "decline", "referral_ids": [one["id"], two["id"], missing]
                }),
            )
            .json()
            .unwrap();
        assert_eq!(result["succeeded"], 2);
        assert_eq!(result["failed"], 1);
        assert_eq!(result["results"][2]["code"], "not_found");
        let declined: Value = app
            .get(Some(&app.admin()), "/api/referrals?status=declined")
            .json()
            .unwrap();
        assert_eq!(declined["total"], 2);
        assert_problem(
            app.post(
                Some(&app.admin()),
                "/api/referrals/bulk-operations",
                json!({"operation": "explode", "referral_ids": []}),
            ),
            422,
            "validation_failed",
        );

        // A forged or mangled unsubscribe link is not found: the link opens a page that
        // says so (in the link's language); a program posting to it gets a problem.
        let page = app.get(None, "/api/unsubscribe/646f7261.00?lang=es");
        assert_eq!(page.status(), 404);
        let text = page.text().unwrap();
        assert!(
            text.contains("no es válido") && text.contains("lang=\"es\""),
            "{text}"
        );
        assert_problem(
            app.post(None, "/api/unsubscribe/646f7261.00", json!({})),
            404,
            "not_found",
        );
    }
);
