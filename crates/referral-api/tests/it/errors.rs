//! Every error code of the contract, as problem+json, and the data left as it was.

use crate::support::*;
use referral_api::auth::Role;
use serde_json::{json, Value};

both_databases!(
    body_and_routing_errors,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        let admin = app.admin();
        // invalid_json: not JSON, and wrong types.
        let raw = app
            .client
            .post(app.url("/api/referral-programs"))
            .bearer_auth(&admin.token)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .unwrap();
        assert_problem(raw, 400, "invalid_json");
        assert_problem(
            app.post(Some(&admin), "/api/referral-programs", json!({"name": 42})),
            400,
            "invalid_json",
        );
        assert_problem(
            app.post(
                Some(&admin),
                "/api/referral-programs",
                json!({"name": "x", "surprise": 1}),
            ),
            400,
            "invalid_json",
        );
        // validation_failed lists the fields.
        let body = assert_problem(
        app.post(Some(&admin), "/api/referral-programs", json!({"name": "", "reward_threshold": 0, "referee_reward_type": "discount", "referee_reward_value": "150"})),
        422,
        "validation_failed",
    );
        let fields: Vec<&str> = body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        // The documented bounds are checked first, every field at once ...
        assert!(
            fields.contains(&"name") && fields.contains(&"reward_threshold"),
            "{fields:?}"
        );
        // ... then the rules that depend on other fields (a discount is a percentage).
        let body = assert_problem(
        app.post(
            Some(&admin),
            "/api/referral-programs",
            json!({"name": "x", "referee_reward_type": "discount", "referee_reward_value": "150"}),
        ),
        422,
        "validation_failed",
    );
        assert_eq!(body["errors"][0]["field"], "referee_reward_value", "{body}");
        let body = assert_problem(
        app.post(
            Some(&admin),
            "/api/referral-programs",
            json!({"name": "x", "referrer_reward_type": "gift", "referrer_reward_value": "abc"}),
        ),
        422,
        "validation_failed",
    );
        assert_eq!(body["errors"].as_array().unwrap().len(), 2);
        assert_problem(
            app.get(Some(&admin), "/api/referral-programs?limit=0"),
            422,
            "validation_failed",
        );
        assert_problem(
            app.get(Some(&admin), "/api/referrals?status=lost"),
            422,
            "validation_failed",
        );
        assert_problem(
            app.get(Some(&admin), "/api/referrals?from=yesterday"),
            422,
            "validation_failed",
        );
        // Nothing was created by any of these.
        let programs: Value = app
            .get(Some(&admin), "/api/referral-programs")
            .json()
            .unwrap();
        assert_eq!(programs["total"], 0);
        // 404 for unknown routes and ids, 405 for wrong methods, 413 for large bodies.
        assert_problem(app.get(None, "/api/nothing-here"), 404, "not_found");
        assert_problem(
            app.get(Some(&admin), "/api/referral-programs/not-a-uuid"),
            404,
            "not_found",
        );
        assert_problem(
            app.get(
                Some(&admin),
                &format!("/api/referral-programs/{}", uuid::Uuid::new_v4()),
            ),
            404,
            "not_found",
        );
        assert_problem(
            app.delete(Some(&admin), "/api/referrals/analytics"),
            405,
            "method_not_allowed",
        );
        assert_problem(
            app.put(Some(&admin), "/api/patients/me/rewards", json!({})),
            405,
            "method_not_allowed",
        );
        let big = json!({"name": "x".repeat(70 * 1024)});
        assert_problem(
            app.post(Some(&admin), "/api/referral-programs", big),
            413,
            "payload_too_large",
        );
        assert_problem(app.get(None, "/api/referrals/NOPE-NOPE"), 404, "not_found");
    }
);

both_databases!(
    referral_rule_errors,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        let program = app.program(json!({"max_referrals_per_patient": 1, "expiry_days": 1}));
        let alice = app.patient("alice");
        // self_referral
        assert_problem(
            app.post(
                Some(&alice),
                "/api/patients/me/referrals",
                json!({"referee_email": "ALICE@example.com"}),
            ),
            422,
            "self_referral",
        );
        let first = app.refers(&alice, "bob@example.com");
        // duplicate_referee: only the caller's own open invitation to the same inbox.
        assert_problem(
            app.post(
                Some(&alice),
                "/api/patients/me/referrals",
                json!({"referee_email": "bob+again@example.com"}),
            ),
            409,
            "duplicate_referee",
        );
        // Another referrer's invitation, or a referee who is a patient, is not an error
        // (no oracle).
        let carol = app.patient("carol");
        assert_eq!(app.refers(&carol, "bob@example.com")["status"], "invited");
        let dave = app.patient("dave");
        assert_eq!(app.refers(&dave, "alice@example.com")["status"], "invited");
        // referral_limit_reached
        assert_problem(
            app.post(
                Some(&alice),
                "/api/patients/me/referrals",
                json!({"referee_email": "dan@example.com"}),
            ),
            422,
            "referral_limit_reached",
        );
        // validation_failed on the referral body
        let body = assert_problem(
        app.post(
            Some(&carol),
            "/api/patients/me/referrals",
            json!({"referee_email": "nope", "referee_phone": "123", "referral_source": "pigeon"}),
        ),
        422,
        "validation_failed",
    );
        assert_eq!(body["errors"].as_array().unwrap().len(), 3);
        // already_registered
        let code = first["referral_code"].as_str().unwrap();
        app.registers(code, "bob@example.com");
        // To a platform service; an anonymous caller (maybe the referrer) is answered as
        // for an open code, and nothing is sent (#30).
        assert_problem(
            app.post(
                Some(&app.service()),
                &format!("/api/referrals/{code}/register"),
                json!({"email": "eve@example.com"}),
            ),
            409,
            "already_registered",
        );
        let anonymous = app.post(
            None,
            &format!("/api/referrals/{code}/register"),
            json!({"email": "eve@example.com"}),
        );
        assert_eq!(anonymous.status(), 202);
        assert!(app.verification_token("eve@example.com").is_none());
        // program_has_referrals
        let id = program["id"].as_str().unwrap();
        assert_problem(
            app.delete(Some(&app.admin()), &format!("/api/referral-programs/{id}")),
            409,
            "program_has_referrals",
        );
        // program_not_active: pause it.
        let paused = app.put(
            Some(&app.admin()),
            &format!("/api/referral-programs/{id}"),
            json!({"name": "Paused", "status": "paused"}),
        );
        assert_eq!(paused.status(), 200);
        let dana = app.patient("dana");
        assert_problem(
            app.post(
                Some(&dana),
                "/api/patients/me/referrals",
                json!({"referee_email": "x@example.com", "program_id": id}),
            ),
            422,
            "program_not_active",
        );
        // no_active_program: no program given and none active.
        assert_problem(
            app.post(
                Some(&dana),
                "/api/patients/me/referrals",
                json!({"referee_email": "x@example.com"}),
            ),
            422,
            "no_active_program",
        );
        // ended is final.
        app.put(
            Some(&app.admin()),
            &format!("/api/referral-programs/{id}"),
            json!({"name": "Over", "status": "ended"}),
        );
        assert_problem(
            app.put(
                Some(&app.admin()),
                &format!("/api/referral-programs/{id}"),
                json!({"name": "Again", "status": "active"}),
            ),
            409,
            "program_ended",
        );
    }
);

both_databases!(
    expired_codes_answer_gone,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        let program = app.program(json!({}));
        let alice = app.patient("alice");
        let referral = app.refers(&alice, "bob@example.com");
        // Move the expiry into the past directly in the database: time travel for one row.
        {
            use diesel::prelude::*;
            use referral_store::schema::referrals;
            use referral_store::sql_types::{DbTime, DbUuid};
            let id: uuid::Uuid = referral["id"].as_str().unwrap().parse().unwrap();
            let mut conn = app.db.conn();
            diesel::update(referrals::table.find(DbUuid(id)))
                .set(
                    referrals::expires_at
                        .eq(DbTime(chrono::Utc::now() - chrono::Duration::minutes(1))),
                )
                .execute(&mut **conn)
                .unwrap();
        }
        let code = referral["referral_code"].as_str().unwrap();
        assert_problem(
            app.post(
                None,
                &format!("/api/referrals/{code}/register"),
                json!({"email": "bob@example.com"}),
            ),
            410,
            "referral_expired",
        );
        let public: Value = app
            .get(None, &format!("/api/referrals/{code}"))
            .json()
            .unwrap();
        assert_eq!(public["status"], "expired");
        let _ = program;
    }
);

both_databases!(
    reward_and_auth_errors,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        app.program(json!({"referee_reward_type": "credit", "referee_reward_value": "10"}));
        let alice = app.patient("alice");
        let referral = app.refers(&alice, "bob@example.com");
        let bob = app.registers(
            referral["referral_code"].as_str().unwrap(),
            "bob@example.com",
        );
        let reward_id = bob["referee_reward"]["id"].as_str().unwrap();
        let path = format!("/api/rewards/{reward_id}/redeem");
        let service = app.service();
        assert_problem(
            app.post(Some(&service), &path, json!({})),
            422,
            "validation_failed",
        );
        assert_problem(
            app.post(
                Some(&service),
                &path,
                json!({"order_id": uuid::Uuid::new_v4(), "consultation_id": uuid::Uuid::new_v4()}),
            ),
            422,
            "validation_failed",
        );
        assert_eq!(
            app.post(
                Some(&service),
                &path,
                json!({"consultation_id": uuid::Uuid::new_v4()})
            )
            .status(),
            200
        );
        assert_problem(
            app.post(
                Some(&service),
                &path,
                json!({"consultation_id": uuid::Uuid::new_v4()}),
            ),
            409,
            "reward_not_available",
        );
        // unauthenticated and forbidden
        assert_problem(
            app.get(None, "/api/patients/me/referrals"),
            401,
            "unauthenticated",
        );
        assert_problem(
            app.get(
                Some(&app.actor(Role::Provider, None)),
                "/api/patients/me/referrals",
            ),
            403,
            "forbidden",
        );
        let order = json!({"patient_id": uuid::Uuid::new_v4(), "order_id": uuid::Uuid::new_v4(), "amount": "-5"});
        assert_problem(
            app.post(Some(&service), "/api/events/orders", order),
            422,
            "validation_failed",
        );
        let order = json!({"patient_id": uuid::Uuid::new_v4(), "order_id": uuid::Uuid::new_v4(), "amount": 12.5});
        assert_problem(
            app.post(Some(&service), "/api/events/orders", order),
            422,
            "validation_failed",
        );
    }
);

#[test]
fn rate_limits_answer_429_with_retry_after() {
    let app = spawn_with(referral_store::testing::TestDb::sqlite(), |args| {
        args.public_rate_limit = 3
    });
    for _ in 0..3 {
        assert_eq!(
            app.get(None, "/api/referrals/AAAAAA-AAAAAA-AAAAAA")
                .status(),
            404
        );
    }
    let limited = app.get(None, "/api/referrals/AAAAAA-AAAAAA-AAAAAA/click");
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after));
    assert_problem(limited, 429, "rate_limited");
    assert_problem(
        app.post(
            None,
            "/api/referrals/AAAAAA-AAAAAA-AAAAAA/register",
            json!({"email": "a@b.co"}),
        ),
        429,
        "rate_limited",
    );
    // A platform service registering on behalf of patients has a budget of its own.
    let service = app.service();
    let by_service = app.post(
        Some(&service),
        "/api/referrals/AAAAAA-AAAAAA-AAAAAA/register",
        json!({"email": "a@b.co"}),
    );
    assert_problem(by_service, 404, "not_found");
    // Authenticated portals are not limited by the public budget.
    assert_eq!(
        app.get(Some(&app.admin()), "/api/referral-programs")
            .status(),
        200
    );
}

both_databases!(
    unavailable_when_the_database_is_out_of_reach,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        assert_eq!(app.get(None, "/ready").status(), 200);
        // Hold every connection of the pool: the service cannot reach its database.
        let held: Vec<_> = (0..app.state.pool.max_size())
            .map(|_| app.state.pool.get().unwrap())
            .collect();
        assert_problem(app.get(None, "/ready"), 503, "unavailable");
        assert_eq!(
            app.get(None, "/health").status(),
            200,
            "the process is still up"
        );
        drop(held);
        assert_eq!(app.get(None, "/ready").status(), 200);
    }
);

/// The pool does not test a connection before each use (that doubled a click's round
/// trips). When PostgreSQL drops the service's connections (a restart, a failover), each one
/// fails the one request that takes it with 503 `unavailable`, never a 500, and is replaced.
#[test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "TEST_DATABASE_URL was not set when the tests were built"
)]
fn connections_the_database_dropped_fail_once_with_503_and_are_replaced() {
    use diesel::{Connection, RunQueryDsl};
    let Some(db) = referral_store::testing::TestDb::postgres() else {
        return;
    };
    let admin_url = referral_store::testing::postgres_url().unwrap();
    let tag = format!("referral-test-{}", uuid::Uuid::new_v4().simple());
    let pool_size = 3;
    let app = spawn_with(db, |args| {
        args.database_url = format!("{}&application_name={tag}", args.database_url);
        args.db_pool_size = pool_size;
    });
    let admin = app.admin();
    for _ in 0..5 {
        assert_eq!(
            app.get(Some(&admin), "/api/referral-programs").status(),
            200
        );
    }
    let mut conn = diesel::PgConnection::establish(&admin_url).unwrap();
    let dropped = diesel::sql_query(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{tag}'"
    ))
    .execute(&mut conn)
    .unwrap();
    assert!(dropped >= 1, "the service held no connection");

    let mut failures = 0;
    for _ in 0..(2 * pool_size + 2) {
        let response = app.get(Some(&admin), "/api/referral-programs");
        match response.status().as_u16() {
            200 => {}
            503 => {
                assert_problem(response, 503, "unavailable");
                failures += 1;
            }
            other => panic!("a dropped connection answered {other}"),
        }
    }
    assert!(
        failures <= dropped,
        "{failures} failures for {dropped} dropped connections"
    );
    assert_eq!(
        app.get(Some(&admin), "/api/referral-programs").status(),
        200
    );
}

both_databases!(
    hidden_characters_in_names_and_messages_are_refused_and_a_nul_is_never_a_500,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        app.program(json!({}));
        let alice = app.patient("alice");
        for (field, value) in [
            ("referee_name", "Bob\u{202e}gnp.exe"),
            ("referee_name", "Bob\r\nBcc: eve@example.com"),
            ("referee_name", "Bob\u{0}"),
            ("referral_message", "Hi\u{2066}there"),
            ("referral_message", "Line one\nline two"),
        ] {
            let mut body = json!({"referee_email": "bob@example.com"});
            body[field] = json!(value);
            let problem = assert_problem(
                app.post(Some(&alice), "/api/patients/me/referrals", body),
                422,
                "validation_failed",
            );
            assert_eq!(problem["errors"][0]["field"], field, "{problem}");
        }
        let listed: Value = app
            .get(Some(&alice), "/api/patients/me/referrals")
            .json()
            .unwrap();
        assert_eq!(listed["total"], 0, "nothing was made");
        // A registration's name, and a NUL in any body: 422 naming the field.
        let code = app.refers(&alice, "carol@example.com")["referral_code"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_problem(
            app.post(
                None,
                &format!("/api/referrals/{code}/register"),
                json!({"email": "carol@example.com", "name": "Carol\u{0}"}),
            ),
            422,
            "validation_failed",
        );
        let problem = assert_problem(
            app.post(
                Some(&app.admin()),
                "/api/referral-programs",
                json!({"name": "Nul\u{0}program"}),
            ),
            422,
            "validation_failed",
        );
        assert_eq!(problem["errors"][0]["field"], "name");
        // A name claim with a line break in the token: 422 on the claim, nothing stored.
        let claims = referral_api::auth::Claims {
            email: Some("dora@example.com".into()),
            name: Some("Dora\r\nBcc: eve@example.com".into()),
            ..referral_api::auth::Claims::new(
                uuid::Uuid::new_v4(),
                referral_api::auth::Role::Patient,
                chrono::Utc::now().timestamp(),
                600,
            )
        };
        let token = referral_api::auth::JwtKeys::new(crate::support::SECRET.as_bytes())
            .sign(&claims)
            .unwrap();
        let response = app
            .client
            .post(app.url("/api/patients/me/referrals"))
            .bearer_auth(&token)
            .json(&json!({"referee_email": "erin@example.com"}))
            .send()
            .unwrap();
        let problem = assert_problem(response, 422, "validation_failed");
        assert_eq!(problem["errors"][0]["field"], "name");
    }
);

both_databases!(
    phone_numbers_are_taken_as_people_write_them,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        app.program(json!({}));
        let alice = app.patient("alice");
        for (written, n) in [
            ("(415) 555-0199", 1),
            ("415.555.0198", 2),
            ("1 415 555 0197", 3),
        ] {
            let created = app.post(
                Some(&alice),
                "/api/patients/me/referrals",
                json!({"referee_email": format!("friend{n}@example.com"), "referee_phone": written,
                       "referral_source": "sms", "sms_consent": true}),
            );
            assert_eq!(created.status(), 201, "{written}");
            let created: Value = created.json().unwrap();
            let stored = created["referee_phone"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            assert!(stored.starts_with("+1415555019"), "{written}: {created}");
        }
        // A number no region assigns: refused on its field, in words a person reads.
        let refused = app.post(
            Some(&alice),
            "/api/patients/me/referrals",
            json!({"referee_email": "friend9@example.com", "referee_phone": "555-0199",
                   "referral_source": "sms", "sms_consent": true}),
        );
        assert_eq!(refused.status(), 422);
        let body: Value = refused.json().unwrap();
        let problem = body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["field"] == "referee_phone")
            .unwrap_or_else(|| panic!("{body}"))
            .clone();
        let message = problem["message"].as_str().unwrap();
        assert!(message.contains("(415) 555-0199"), "{message}");
        assert!(!message.contains("E.164"), "{message}");
    }
);
