//! Personal share links, QR codes and batch events (#24) over real HTTP on both databases.

use crate::support::*;
use serde_json::{json, Value};
use uuid::Uuid;

fn share_link(app: &TestApp, who: &Actor) -> Value {
    let response = app.get(Some(who), "/api/patients/me/share-link");
    assert_eq!(response.status(), 200, "{:?}", response.text());
    response.json().unwrap()
}

both_databases!(
    two_friends_join_through_one_personal_link_each_with_a_referral_of_their_own,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        app.program(json!({"max_referrals_per_patient": 3}));
        let alice = app.patient("alice");
        let link = share_link(app, &alice);
        let code = link["referral_code"].as_str().unwrap().to_owned();
        assert!(link["share_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/r/{code}")));
        assert_eq!(link["qr_url"], format!("/api/referrals/{code}/qr.svg"));
        assert!(link["expires_at"].is_null());
        // The same link every time.
        assert_eq!(share_link(app, &alice)["referral_code"], code);

        // Opening it is counted on the link, and leads to registration.
        let opened = app.get(None, &format!("/api/referrals/{code}/click"));
        assert_eq!(opened.status(), 302);
        let offer: Value = app
            .get(None, &format!("/api/referrals/{code}"))
            .json()
            .unwrap();
        assert_eq!(offer["status"], "pending");
        assert_eq!(offer["referee_reward_value"], "20.00");

        // Two friends join through it: each gets a referral of their own.
        let bob = app.registers_with(
            &code,
            json!({"email": "bob@example.org", "share_with_referrer": true}),
        );
        let carol = app.registers(&code, "carol@example.org");
        assert_ne!(bob["referral"]["id"], carol["referral"]["id"]);
        assert_eq!(bob["referee_reward"]["status"], "available");
        let listed: Value = app
            .get(Some(&app.admin()), "/api/referrals")
            .json()
            .unwrap();
        let mine: Vec<&Value> = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["referrer_id"] == alice.id.to_string())
            .collect();
        assert_eq!(mine.len(), 2);
        assert!(mine
            .iter()
            .all(|r| r["referral_source"] == "direct_link" && r["status"] == "registered"));
        // Alice sees the one who agreed to tell her, as for invitations by email.
        let link = share_link(app, &alice);
        assert_eq!(link["clicks"], 1);
        assert_eq!(link["joined"], 1);
        let seen: Value = app
            .get(Some(&alice), "/api/patients/me/referrals?status=joined")
            .json()
            .unwrap();
        assert_eq!(seen["total"], 1);
        // As "a friend who joined": never the address, name or code the visitor gave (#30);
        // Carol, who did not agree, is not listed at all.
        assert_eq!(seen["items"][0]["referee_name"], "a friend who joined");
        assert_eq!(seen["items"][0]["referee_email"], "");
        assert_eq!(seen["items"][0]["referral_code"], "");
        let all = app
            .get(Some(&alice), "/api/patients/me/referrals")
            .text()
            .unwrap();
        assert!(
            !all.contains("bob@example.org") && !all.contains("carol@example.org"),
            "{all}"
        );
        let detail = app
            .get(
                Some(&alice),
                &format!(
                    "/api/patients/me/referrals/{}",
                    seen["items"][0]["id"].as_str().unwrap()
                ),
            )
            .text()
            .unwrap();
        assert!(!detail.contains("bob@example.org"), "{detail}");
        assert_eq!(
            app.get(
                Some(&alice),
                &format!(
                    "/api/patients/me/referrals/{}",
                    carol["referral"]["id"].as_str().unwrap()
                ),
            )
            .status(),
            404
        );

        // The rules of a referral made by email: not herself, not an existing patient (the
        // answer does not tell), not past the program's limit.
        // The anonymous caller is answered as ever; the rules speak at confirmation, to
        // whoever proved the address (#30).
        let confirm = |email: &str| {
            let started = app.post(
                None,
                &format!("/api/referrals/{code}/register"),
                json!({"email": email}),
            );
            assert_eq!(started.status(), 202, "{email}");
            let token = app.verification_token(email).expect("a confirmation link");
            app.post(None, "/api/registrations/verify", json!({"token": token}))
        };
        assert_problem(confirm("alice+x@example.com"), 422, "self_referral");
        // The person who confirmed is told by email too, and the link is used up: a second
        // click finds nothing and sends nothing more.
        let told = app.outbox_to("alice+x@example.com", "registration_refused");
        assert_eq!(told.len(), 1, "{told:?}");
        assert_eq!(told[0]["reason"], "own_link");
        let token = app.verification_token("alice+x@example.com").unwrap();
        assert_problem(
            app.post(None, "/api/registrations/verify", json!({"token": token})),
            404,
            "not_found",
        );
        assert_eq!(
            app.outbox_to("alice+x@example.com", "registration_refused")
                .len(),
            1
        );
        let again = app.post(
            None,
            &format!("/api/referrals/{code}/register"),
            json!({"email": "bob@example.org"}),
        );
        assert_eq!(
            again.status(),
            202,
            "an existing patient gets the same answer"
        );
        assert_eq!(
            app.outbox_to("bob@example.org", "already_registered").len(),
            1
        );
        app.registers(&code, "dan@example.org");
        assert_problem(confirm("erin@example.org"), 422, "referral_limit_reached");
        assert_eq!(
            app.outbox_to("erin@example.org", "registration_refused")[0]["reason"],
            "link_full"
        );
        // Nothing was made for Erin, and Alice is told nothing of her.
        assert!(!app
            .get(Some(&alice), "/api/patients/me/referrals")
            .text()
            .unwrap()
            .contains("erin@"));
        assert!(app
            .outbox_to("alice@example.com", "registration_refused")
            .is_empty());
        // A platform service registers someone through it at once.
        let service = app.service();
        let at_once = app.post(
            Some(&service),
            &format!("/api/referrals/{code}/register"),
            json!({"email": "dup@example.org"}),
        );
        assert_problem(at_once, 422, "referral_limit_reached");

        // Retired: the old code answers 410, a new link is made.
        assert_eq!(
            app.delete(Some(&alice), "/api/patients/me/share-link")
                .status(),
            204
        );
        assert_problem(
            app.post(
                None,
                &format!("/api/referrals/{code}/register"),
                json!({"email": "late@example.org"}),
            ),
            410,
            "referral_expired",
        );
        assert_problem(
            app.get(None, &format!("/api/referrals/{code}/click")),
            410,
            "referral_expired",
        );
        let fresh = share_link(app, &alice);
        assert_ne!(fresh["referral_code"], code);
        assert_problem(
            app.delete(
                Some(&alice),
                "/api/patients/me/share-link?program_id=00000000-0000-4000-8000-000000000000",
            ),
            404,
            "not_found",
        );
        // Patients only.
        assert_problem(
            app.get(Some(&app.admin()), "/api/patients/me/share-link"),
            403,
            "forbidden",
        );
    }
);

both_databases!(
    qr_codes_draw_the_share_url_of_known_codes_only,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        app.program(json!({}));
        let alice = app.patient("alice");
        let link = share_link(app, &alice);
        let referral = app.refers(&alice, "bob@example.org");
        for code in [
            link["referral_code"].as_str().unwrap(),
            referral["referral_code"].as_str().unwrap(),
        ] {
            let response = app.get(None, &format!("/api/referrals/{code}/qr.svg"));
            assert_eq!(response.status(), 200);
            assert_eq!(response.headers()["content-type"], "image/svg+xml");
            assert!(response.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("max-age"));
            let svg = response.text().unwrap();
            assert!(
                svg.contains("<svg") && svg.contains("<path") || svg.contains("<rect"),
                "{svg}"
            );
        }
        assert_problem(
            app.get(None, "/api/referrals/AAAAAA-AAAAAA-AAAAAA/qr.svg"),
            404,
            "not_found",
        );
    }
);

both_databases!(
    a_batch_of_mixed_events_answers_per_event_in_order,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        app.program(json!({}));
        let alice = app.patient("alice");
        let joins = |friend: &str| -> Value {
            let email = format!("{friend}@example.org");
            let referral = app.refers(&alice, &email);
            app.registers(referral["referral_code"].as_str().unwrap(), &email)["patient_id"].clone()
        };
        let (bob, carol) = (joins("bob"), joins("carol"));
        let stranger = Uuid::new_v4();
        let (order, consultation) = (Uuid::new_v4(), Uuid::new_v4());
        let events = json!([
            {"type": "order", "patient_id": bob, "order_id": order, "amount": "60.00"},
            {"type": "order", "patient_id": bob, "order_id": order, "amount": "60.00"},
            {"type": "consultation", "patient_id": stranger, "consultation_id": Uuid::new_v4()},
            {"type": "consultation", "patient_id": carol, "consultation_id": consultation},
            {"type": "order", "patient_id": carol, "order_id": Uuid::new_v4(), "amount": "10.00"},
            {"type": "refund", "patient_id": bob, "order_id": order, "refund_id": Uuid::new_v4(), "amount": "60.00"},
            {"type": "consultation_cancellation", "patient_id": carol, "consultation_id": Uuid::new_v4(), "cancellation_id": Uuid::new_v4()},
        ]);
        let service = app.service();
        let response = app.post(
            Some(&service),
            "/api/events/batch",
            json!({"events": events}),
        );
        assert_eq!(response.status(), 200, "{:?}", response.text());
        let body: Value = response.json().unwrap();
        let results: Vec<&str> = body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["result"].as_str().unwrap())
            .collect();
        assert_eq!(
            results,
            [
                "converted",
                "duplicate",
                "recorded",
                "converted",
                "already_converted",
                "reversed",
                "recorded"
            ]
        );
        assert_eq!(body["results"][3]["index"], 3);
        // Every event is audited on its own.
        let audit: Value = app
            .get(
                Some(&app.admin()),
                "/api/referrals/audit-trail?action=event.batch&limit=50",
            )
            .json()
            .unwrap();
        assert_eq!(audit["total"], 7, "{audit}");
        // Bad batches are refused whole; other roles may not send them.
        assert_problem(
            app.post(Some(&service), "/api/events/batch", json!({"events": []})),
            422,
            "validation_failed",
        );
        assert_problem(
            app.post(
                Some(&service),
                "/api/events/batch",
                json!({"events": [{"type": "order", "patient_id": bob}]}),
            ),
            422,
            "validation_failed",
        );
        let many: Vec<Value> = (0..1001)
            .map(|_| json!({"type": "consultation", "patient_id": stranger, "consultation_id": Uuid::new_v4()}))
            .collect();
        assert_problem(
            app.post(Some(&service), "/api/events/batch", json!({"events": many})),
            422,
            "validation_failed",
        );
        assert_problem(
            app.post(Some(&alice), "/api/events/batch", json!({"events": events})),
            403,
            "forbidden",
        );
    }
);

both_databases!(
    a_batch_applies_many_patients_side_by_side_and_each_ones_events_in_order,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        app.program(json!({}));
        let mut friends = Vec::new();
        for r in 0..6 {
            let referrer = app.patient(&format!("referrer{r}"));
            for f in 0..4 {
                let email = format!("friend{r}x{f}@example.org");
                let referral = app.refers(&referrer, &email);
                let code = referral["referral_code"].as_str().unwrap();
                friends.push(app.registers(code, &email)["patient_id"].clone());
            }
        }
        // Each friend: an order, a second consultation, then a refund of the order. Only
        // in that order do they read converted, already_converted, reversed.
        let mut events = Vec::new();
        let orders: Vec<Uuid> = friends.iter().map(|_| Uuid::new_v4()).collect();
        for (friend, order) in friends.iter().zip(&orders) {
            events.push(json!({"type": "order", "patient_id": friend, "order_id": order, "amount": "60.00"}));
        }
        for friend in &friends {
            events.push(json!({"type": "consultation", "patient_id": friend, "consultation_id": Uuid::new_v4()}));
        }
        for (friend, order) in friends.iter().zip(&orders) {
            events.push(
                json!({"type": "refund", "patient_id": friend, "order_id": order,
                               "refund_id": Uuid::new_v4(), "amount": "60.00"}),
            );
        }
        let response = app.post(
            Some(&app.service()),
            "/api/events/batch",
            json!({"events": events}),
        );
        assert_eq!(response.status(), 200, "{:?}", response.text());
        let body: Value = response.json().unwrap();
        let results = body["results"].as_array().unwrap();
        assert_eq!(results.len(), 3 * friends.len());
        let n = friends.len();
        for (i, result) in results.iter().enumerate() {
            assert_eq!(result["index"], i);
            let expected = match i / n {
                0 => "converted",
                1 => "already_converted",
                _ => "reversed",
            };
            assert_eq!(result["result"], expected, "event {i}: {result}");
        }
    }
);

both_databases!(
    a_failed_batch_event_is_audited_and_an_id_for_two_patients_refuses_the_batch,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        app.program(json!({}));
        let alice = app.patient("alice");
        let joins = |friend: &str| -> Value {
            let email = format!("{friend}@example.org");
            let referral = app.refers(&alice, &email);
            app.registers(referral["referral_code"].as_str().unwrap(), &email)["patient_id"].clone()
        };
        let (bob, carol) = (joins("bob"), joins("carol"));
        let service = app.service();
        let admin = app.admin();
        let failures = |app: &TestApp| -> usize {
            let trail: Value = app
                .get(
                    Some(&admin),
                    "/api/referrals/audit-trail?action=event.batch&limit=500",
                )
                .json()
                .unwrap();
            trail["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["outcome"] == "internal")
                .count()
        };
        // Orders cannot be written (a trigger refuses them, as a broken table would): the
        // order fails, the consultation beside it goes through.
        {
            use diesel::RunQueryDsl;
            let mut conn = app.db.conn();
            let statements: &[&str] = if app.db.url.starts_with("postgres") {
                &[
                    "CREATE FUNCTION refuse_orders() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'orders are read-only'; END; $$",
                    "CREATE TRIGGER refuse_orders BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION refuse_orders()",
                ]
            } else {
                &["CREATE TRIGGER refuse_orders BEFORE INSERT ON orders BEGIN SELECT RAISE(ABORT, 'orders are read-only'); END"]
            };
            for sql in statements {
                diesel::sql_query(*sql).execute(&mut **conn).unwrap();
            }
        }
        let response = app.post(
            Some(&service),
            "/api/events/batch",
            json!({"events": [
                {"type": "order", "patient_id": bob, "order_id": Uuid::new_v4(), "amount": "40.00"},
                {"type": "consultation", "patient_id": carol, "consultation_id": Uuid::new_v4()},
            ]}),
        );
        assert_eq!(response.status(), 200, "{:?}", response.text());
        let body: Value = response.json().unwrap();
        assert_eq!(body["results"][0]["result"], "internal", "{body}");
        assert_eq!(body["results"][1]["result"], "converted", "{body}");
        assert_eq!(
            failures(app),
            1,
            "the failed event has its audit row, with its code"
        );

        // One consultation id for two patients: refused whole, nothing applied.
        let shared = Uuid::new_v4();
        let problem = assert_problem(
            app.post(
                Some(&service),
                "/api/events/batch",
                json!({"events": [
                    {"type": "consultation", "patient_id": bob, "consultation_id": shared},
                    {"type": "consultation", "patient_id": carol, "consultation_id": shared},
                ]}),
            ),
            422,
            "validation_failed",
        );
        assert_eq!(problem["errors"][0]["field"], "events[1]", "{problem}");
        let listed: Value = app
            .get(Some(&admin), "/api/referrals?status=converted")
            .json()
            .unwrap();
        assert_eq!(listed["total"], 1, "only Carol's, from the first batch");
    }
);

/// Batches sent at once share the pool by taking turns for their lanes (half of the
/// pool at a time): every event of every batch is answered, none `unavailable` for want of
/// a connection, and each is recorded once.
#[test]
fn concurrent_batches_on_a_small_pool_answer_every_event() {
    each_database(|db| {
        let app = spawn_with(db, |args| args.db_pool_size = 4);
        let service = app.service();
        let sent: Vec<Vec<Value>> = (0..6)
            .map(|_| {
                (0..120)
                    .map(|_| json!({"type": "consultation", "patient_id": Uuid::new_v4(), "consultation_id": Uuid::new_v4()}))
                    .collect()
            })
            .collect();
        let answers: Vec<Value> = std::thread::scope(|scope| {
            let running: Vec<_> = sent
                .iter()
                .map(|events| {
                    let (app, service) = (&app, &service);
                    scope.spawn(move || {
                        let response = app.post(
                            Some(service),
                            "/api/events/batch",
                            json!({"events": events}),
                        );
                        assert_eq!(response.status(), 200);
                        response.json::<Value>().unwrap()
                    })
                })
                .collect();
            running.into_iter().map(|t| t.join().unwrap()).collect()
        });
        for body in answers {
            let results = body["results"].as_array().unwrap();
            assert_eq!(results.len(), 120);
            assert!(results.iter().all(|r| r["result"] == "recorded"), "{body}");
        }
    });
}
