//! Patient facts reported by the platform (`PUT`/`GET /api/patients/{id}/facts`): validated,
//! audited, idempotent, and applied from the next decision on; a patient whose payer was
//! never reported is a federal payer under the default `--unknown-payer-policy`.

use crate::support::*;
use referral_api::config::UnknownPayer;
use referral_store::testing::TestDb;
use serde_json::{json, Value};
use uuid::Uuid;

fn facts_path(patient: Uuid) -> String {
    format!("/api/patients/{patient}/facts")
}

/// A patient the service knows (created from their token on their first request).
fn known_patient(app: &TestApp, name: &str) -> Actor {
    let patient = app.patient(name);
    let response = app.get(Some(&patient), "/api/patients/me/referrals");
    assert_eq!(response.status(), 200);
    patient
}

both_databases!(
    facts_are_validated_stored_read_and_audited,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        let service = app.service();
        let alice = known_patient(app, "alice");
        let path = facts_path(alice.id);

        // Never reported: the payer is null.
        let before: Value = app.get(Some(&service), &path).json().unwrap();
        assert_eq!(before["federal_payer"], Value::Null);
        assert_eq!(before["reported_at"], Value::Null);

        let body = json!({"federal_payer": true, "state": "ca", "date_of_birth": "1980-02-29",
                          "conditions": ["E11.9", "weight_loss", "E11.9"]});
        let stored: Value = app.put(Some(&service), &path, body.clone()).json().unwrap();
        assert_eq!(stored["patient_id"], alice.id.to_string());
        assert_eq!(stored["federal_payer"], true);
        assert_eq!(stored["state"], "CA");
        assert_eq!(stored["date_of_birth"], "1980-02-29");
        assert_eq!(stored["conditions"], json!(["E11.9", "weight_loss"]));
        assert!(stored["reported_at"].is_string());

        // Idempotent: the same report again stores the same facts.
        let again: Value = app.put(Some(&service), &path, body).json().unwrap();
        for field in ["federal_payer", "state", "date_of_birth", "conditions"] {
            assert_eq!(again[field], stored[field], "{field}");
        }
        // A partial report keeps the rest.
        let partial: Value = app
            .put(Some(&service), &path, json!({"federal_payer": false}))
            .json()
            .unwrap();
        assert_eq!(partial["federal_payer"], false);
        assert_eq!(partial["state"], "CA");

        // Admins read them too; the patient, a provider admin and nobody may not.
        let read: Value = app.get(Some(&app.admin()), &path).json().unwrap();
        assert_eq!(read["state"], "CA");
        assert_problem(app.get(Some(&alice), &path), 403, "forbidden");
        let provider = app.actor(referral_api::auth::Role::ProviderAdmin, None);
        assert_eq!(app.get(Some(&provider), &path).status(), 403);
        assert_eq!(app.get(None, &path).status(), 401);
        assert_problem(
            app.put(Some(&app.admin()), &path, json!({"state": "NY"})),
            403,
            "forbidden",
        );

        // Bad facts: every field named, nothing changed.
        let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).date_naive();
        let problem = assert_problem(
            app.put(
                Some(&service),
                &path,
                json!({"state": "XX", "date_of_birth": tomorrow.to_string(),
                       "conditions": ["has space"]}),
            ),
            422,
            "validation_failed",
        );
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        for field in ["state", "date_of_birth", "conditions"] {
            assert!(fields.contains(&field), "{field} in {problem}");
        }
        assert_problem(
            app.put(Some(&service), &path, json!({"payer": "medicare"})),
            400,
            "invalid_json",
        );
        let unchanged: Value = app.get(Some(&service), &path).json().unwrap();
        assert_eq!(unchanged["state"], "CA");
        assert_eq!(unchanged["conditions"], json!(["E11.9", "weight_loss"]));

        // An unknown patient, or an id that is not one.
        assert_problem(
            app.put(
                Some(&service),
                &facts_path(Uuid::new_v4()),
                json!({"state": "CA"}),
            ),
            404,
            "not_found",
        );
        assert_problem(
            app.get(Some(&service), "/api/patients/not-an-id/facts"),
            404,
            "not_found",
        );

        // Every write and read is in the audit trail, without the facts themselves.
        let trail = app
            .get(
                Some(&app.admin()),
                &format!("/api/referrals/audit-trail?resource_id={}", alice.id),
            )
            .text()
            .unwrap();
        assert!(trail.contains("patient.facts.report"), "{trail}");
        assert!(trail.contains("patient.facts.read"), "{trail}");
        assert!(!trail.contains("E11.9") && !trail.contains("1980-02-29"));
    }
);

/// Converts a new referral of `referrer` whose friend the platform reports as
/// `friend_federal` (None: never reported), and answers the referrer's reward.
fn convert_with(
    app: &TestApp,
    referrer: &Actor,
    friend: &str,
    friend_federal: Option<bool>,
) -> Value {
    let referral = app.refers(referrer, &format!("{friend}@example.com"));
    let code = referral["referral_code"].as_str().unwrap();
    let registered = app.registers(code, &format!("{friend}@example.com"));
    if let Some(federal) = friend_federal {
        let patient: Uuid = registered["patient_id"].as_str().unwrap().parse().unwrap();
        let response = app.put(
            Some(&app.service()),
            &facts_path(patient),
            json!({"federal_payer": federal}),
        );
        assert_eq!(response.status(), 200);
    }
    let response = app.post(
        Some(&app.service()),
        "/api/events/consultations",
        json!({"patient_id": registered["patient_id"], "consultation_id": Uuid::new_v4()}),
    );
    assert_eq!(response.status(), 200);
    let outcome: Value = response.json().unwrap();
    assert_eq!(outcome["outcome"], "converted", "{outcome}");
    outcome["referrer_reward"].clone()
}

/// As [`convert_with`], the friend reported as a commercial payer.
fn convert(app: &TestApp, referrer: &Actor, friend: &str) -> Value {
    convert_with(app, referrer, friend, Some(false))
}

both_databases!(
    facts_apply_from_the_next_decision_and_unknown_payers_are_federal,
    owned,
    |db: TestDb| {
        // The production default, not the tests' commercial one.
        let app = spawn_with(db, |args| {
            args.unknown_payer_policy = UnknownPayer::Federal;
        });
        app.program(json!({"referrer_reward_type": "cash", "referrer_reward_value": "20.00"}));
        let alice = known_patient(&app, "alice");

        let withheld = convert(&app, &alice, "bob");
        assert_eq!(withheld["status"], "cancelled");
        assert_eq!(withheld["withheld_reason"], "federal_payer_cash_excluded");

        // The platform says Alice pays commercially: her next reward is paid.
        let response = app.put(
            Some(&app.service()),
            &facts_path(alice.id),
            json!({"federal_payer": false}),
        );
        assert_eq!(response.status(), 200);
        let paid = convert(&app, &alice, "carol");
        assert_eq!(paid["withheld_reason"], Value::Null);
        assert_eq!(paid["status"], "pending_approval");

        // And back: reported federal, withheld again.
        app.put(
            Some(&app.service()),
            &facts_path(alice.id),
            json!({"federal_payer": true}),
        );
        let again = convert(&app, &alice, "dave");
        assert_eq!(again["withheld_reason"], "federal_payer_cash_excluded");
    }
);

both_databases!(
    reported_conditions_feed_program_targeting,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        app.program(json!({"target_conditions": ["E11.9"]}));
        let alice = known_patient(app, "alice");
        let refused = app.post(
            Some(&alice),
            "/api/patients/me/referrals",
            json!({"referee_email": "bob@example.com"}),
        );
        assert!(refused.status().is_client_error());
        app.put(
            Some(&app.service()),
            &facts_path(alice.id),
            json!({"conditions": ["E11.9"]}),
        );
        app.refers(&alice, "bob@example.com");
    }
);

both_databases!(
    referring_a_federal_programme_patient_earns_nothing,
    owned,
    |db: TestDb| {
        let app = spawn_with(db, |args| {
            args.unknown_payer_policy = UnknownPayer::Federal;
        });
        app.program(json!({"referrer_reward_type": "credit", "referrer_reward_value": "10.00"}));
        let alice = known_patient(&app, "alice");
        app.put(
            Some(&app.service()),
            &facts_path(alice.id),
            json!({"federal_payer": false}),
        );
        // The friend is a Medicare patient: the referral converts, the reward is withheld.
        let withheld = convert_with(&app, &alice, "bob", Some(true));
        assert_eq!(withheld["status"], "cancelled");
        assert_eq!(withheld["withheld_reason"], "federal_payer_referee");
        // Never reported counts the same under the default policy.
        let unreported = convert_with(&app, &alice, "carol", None);
        assert_eq!(unreported["withheld_reason"], "federal_payer_referee");
        // A commercial friend earns the reward.
        let paid = convert(&app, &alice, "dave");
        assert_eq!(paid["status"], "available");
        // Alice sees her granted reward once released, and nothing of the two withheld
        // ones: the friend's payer is the friend's (#30). Admins see the reasons.
        app.release_rewards();
        let mine: Value = app
            .get(Some(&alice), "/api/patients/me/rewards")
            .json()
            .unwrap();
        assert_eq!(mine["total"], 1, "{mine}");
        assert_eq!(mine["items"][0]["status"], "available");
        assert!(!mine.to_string().contains("federal"), "{mine}");
    }
);

/// Reports `facts` for `patient` as the platform.
fn report(app: &TestApp, patient: Uuid, facts: Value) {
    let response = app.put(Some(&app.service()), &facts_path(patient), facts);
    assert_eq!(response.status(), 200);
}

/// Registers `friend` through a new referral of `referrer`, reports the friend's facts,
/// converts them and answers the referrer's reward.
fn convert_in_state(app: &TestApp, referrer: &Actor, friend: &str, state: &str) -> Value {
    let referral = app.refers(referrer, &format!("{friend}@example.com"));
    let code = referral["referral_code"].as_str().unwrap();
    let registered = app.registers(code, &format!("{friend}@example.com"));
    let patient: Uuid = registered["patient_id"].as_str().unwrap().parse().unwrap();
    report(
        app,
        patient,
        json!({"federal_payer": false, "state": state}),
    );
    let response = app.post(
        Some(&app.service()),
        "/api/events/consultations",
        json!({"patient_id": patient, "consultation_id": Uuid::new_v4()}),
    );
    assert_eq!(response.status(), 200);
    response.json::<Value>().unwrap()["referrer_reward"].clone()
}

both_databases!(
    excluded_states_withhold_rewards_on_either_side,
    owned,
    |db: TestDb| {
        // The service excludes New York; the program adds Texas.
        let app = spawn_with(db, |args| {
            args.excluded_states = vec![referral_domain::UsState::parse("ny").unwrap()];
        });
        let program = app.program(json!({"referrer_reward_type": "credit",
                                         "referrer_reward_value": "10", "excluded_states": ["tx", "TX"]}));
        assert_eq!(program["excluded_states"], json!(["TX"]));
        let alice = known_patient(&app, "alice");
        report(
            &app,
            alice.id,
            json!({"federal_payer": false, "state": "CA"}),
        );

        // A friend in Texas (the program's) or New York (the service's): nothing for Alice.
        for (friend, state) in [("bob", "TX"), ("carl", "NY")] {
            let withheld = convert_in_state(&app, &alice, friend, state);
            assert_eq!(withheld["status"], "cancelled", "{state}");
            // The friend's state, named as the friend's (admins only).
            assert_eq!(
                withheld["withheld_reason"], "referee_state_excluded",
                "{state}"
            );
        }
        // A friend in California: Alice's reward is granted.
        let granted = convert_in_state(&app, &alice, "dora", "CA");
        assert_eq!(granted["status"], "available");
        // Alice moves to New York: her own rewards are withheld, whoever she refers.
        report(&app, alice.id, json!({"state": "NY"}));
        let withheld = convert_in_state(&app, &alice, "emil", "CA");
        assert_eq!(withheld["withheld_reason"], "state_excluded");
        // Her own state's refusal is hers to see, with its reason, once released; the
        // friends' states' are not (#30).
        app.release_rewards();
        let rewards: Value = app
            .get(Some(&alice), "/api/patients/me/rewards?status=cancelled")
            .json()
            .unwrap();
        assert_eq!(rewards["total"], 1, "{rewards}");
        // In plain words too.
        let why = rewards["items"][0]["withheld_explanation"]
            .as_str()
            .unwrap();
        assert!(why.contains("not available in your state"), "{why}");

        // A program's excluded states are USPS codes.
        let problem = assert_problem(
            app.post(
                Some(&app.admin()),
                "/api/referral-programs",
                json!({"name": "Nowhere", "excluded_states": ["Texas"]}),
            ),
            422,
            "validation_failed",
        );
        assert_eq!(
            problem["errors"][0]["field"], "excluded_states",
            "{problem}"
        );
    }
);

both_databases!(
    a_discount_counts_against_the_caps_at_the_value_it_gave,
    owned,
    |db: TestDb| {
        // Federal payers may get 20.00 a year here (15.00 a reward, the default).
        let app = spawn_with(db, |args| {
            args.federal_nominal_annual = referral_domain::Money::from_cents(2_000).unwrap();
        });
        app.program(
            json!({"referrer_reward_type": "credit", "referrer_reward_value": "10",
                           "referee_reward_type": "discount", "referee_reward_value": "20"}),
        );
        let alice = known_patient(&app, "alice");
        let code = app.refers(&alice, "bob@example.com")["referral_code"]
            .as_str()
            .unwrap()
            .to_owned();
        let registered = app.registers(&code, "bob@example.com");
        let bob_id: Uuid = registered["patient_id"].as_str().unwrap().parse().unwrap();
        report(&app, bob_id, json!({"federal_payer": true}));
        let bob = app.actor_with_id(referral_api::auth::Role::Patient, bob_id, "bob@example.com");
        let path = format!(
            "/api/rewards/{}/redeem",
            registered["referee_reward"]["id"].as_str().unwrap()
        );
        // A discount needs the amount it applies to.
        let problem = assert_problem(
            app.post(Some(&bob), &path, json!({"order_id": Uuid::new_v4()})),
            422,
            "validation_failed",
        );
        assert_eq!(problem["errors"][0]["field"], "amount");
        // 20% of 500.00, for a federal payer: the nominal 15.00.
        let used: Value = app
            .post(
                Some(&bob),
                &path,
                json!({"order_id": Uuid::new_v4(), "amount": "500.00"}),
            )
            .json()
            .unwrap();
        assert_eq!(used["status"], "used");
        assert_eq!(used["applied_amount"], "15.00");
        // Bob refers Carol: his 10.00 would bring his year to 25.00, above the 20.00 allowed.
        let withheld = convert(&app, &bob, "carol");
        assert_eq!(withheld["status"], "cancelled");
        assert_eq!(
            withheld["withheld_reason"],
            "federal_payer_annual_nominal_reached"
        );
    }
);

both_databases!(
    twenty_conversions_racing_a_budget_never_overspend_it,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        // 10.00 to each referrer, 50.00 in all: five rewards fit.
        let program = app.program(
            json!({"referrer_reward_type": "credit", "referrer_reward_value": "10",
                                         "budget_total": "50.00", "budget_monthly": "1000"}),
        );
        assert_eq!(program["budget_total"], "50.00");
        let service = app.service();
        let mut friends = Vec::new();
        for i in 0..20 {
            let referrer = app.patient(&format!("referrer{i}"));
            let code = app.refers(&referrer, &format!("friend{i}@example.com"))["referral_code"]
                .as_str()
                .unwrap()
                .to_owned();
            let registered: Value = app
                .post(
                    Some(&service),
                    &format!("/api/referrals/{code}/register"),
                    json!({"email": format!("friend{i}@example.com")}),
                )
                .json()
                .unwrap();
            let friend: Uuid = registered["patient_id"].as_str().unwrap().parse().unwrap();
            for patient in [referrer.id, friend] {
                report(app, patient, json!({"federal_payer": false}));
            }
            friends.push(friend);
        }
        // All twenty convert at once.
        let outcomes: Vec<Value> = std::thread::scope(|s| {
            let handles: Vec<_> = friends
                .iter()
                .map(|friend| {
                    let service = &service;
                    s.spawn(move || {
                        let response = app.post(
                            Some(service),
                            "/api/events/consultations",
                            json!({"patient_id": friend, "consultation_id": Uuid::new_v4()}),
                        );
                        assert_eq!(response.status(), 200);
                        response.json::<Value>().unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let status = |o: &Value| o["referrer_reward"]["status"].as_str().unwrap().to_owned();
        let granted = outcomes.iter().filter(|o| status(o) == "available").count();
        let exhausted = outcomes
            .iter()
            .filter(|o| o["referrer_reward"]["withheld_reason"] == "program_budget_exhausted")
            .count();
        assert_eq!((granted, exhausted), (5, 15), "{outcomes:?}");
        let after: Value = app
            .get(
                Some(&app.admin()),
                &format!("/api/referral-programs/{}", program["id"].as_str().unwrap()),
            )
            .json()
            .unwrap();
        assert_eq!(after["spent_total"], "50.00");
        assert_eq!(after["spent_this_month"], "50.00");
        // A budget is an amount of money.
        let problem = assert_problem(
            app.post(
                Some(&app.admin()),
                "/api/referral-programs",
                json!({"name": "Broke", "budget_total": "-5"}),
            ),
            422,
            "validation_failed",
        );
        assert_eq!(problem["errors"][0]["field"], "budget_total");
    }
);

both_databases!(
    programs_for_a_condition_show_only_a_public_name_and_offer_no_share_link,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        // The internal name names the condition; friends must never see it (#30).
        let program =
            app.program(json!({"name": "Diabetes outreach", "target_conditions": ["E11.9"]}));
        assert_eq!(program["public_name"], Value::Null);
        let alice = known_patient(app, "alice");
        app.put(
            Some(&app.service()),
            &facts_path(alice.id),
            json!({"conditions": ["E11.9"]}),
        );
        let code = app.refers(&alice, "bob@example.com")["referral_code"]
            .as_str()
            .unwrap()
            .to_owned();
        let public: Value = app
            .get(None, &format!("/api/referrals/{code}"))
            .json()
            .unwrap();
        assert_eq!(public["program_name"], "our referral program");
        let page = app
            .get(None, &format!("/register?ref={code}"))
            .text()
            .unwrap();
        assert!(!page.contains("Diabetes"), "{page}");
        // No personal share link: invitations go one to one.
        assert_problem(
            app.get(Some(&alice), "/api/patients/me/share-link"),
            422,
            "not_eligible",
        );
        // With a public name, that is what friends see.
        let id = program["id"].as_str().unwrap();
        let updated = json!({"name": "Diabetes outreach", "public_name": "Healthy together",
                             "target_conditions": ["E11.9"]});
        let response = app.put(
            Some(&app.admin()),
            &format!("/api/referral-programs/{id}"),
            updated,
        );
        assert_eq!(response.status(), 200, "{:?}", response.text());
        let public: Value = app
            .get(None, &format!("/api/referrals/{code}"))
            .json()
            .unwrap();
        assert_eq!(public["program_name"], "Healthy together");
        // A public name is one visible line.
        let problem = assert_problem(
            app.post(
                Some(&app.admin()),
                "/api/referral-programs",
                json!({"name": "Other", "public_name": "Two\nlines"}),
            ),
            422,
            "validation_failed",
        );
        assert_eq!(problem["errors"][0]["field"], "public_name");
    }
);
