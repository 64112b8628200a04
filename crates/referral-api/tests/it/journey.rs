//! The full journey over real HTTP: refer → click → register → consultation event → rewards
//! → redeem, with the field values the seed names, on SQLite and PostgreSQL.

use crate::support::*;
use serde_json::{json, Value};

both_databases!(
    refer_click_register_convert_redeem,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        let program = app.program(json!({"expiry_days": 30}));
        assert_eq!(program["referrer_reward_value"], "25.00");
        assert_eq!(program["reward_threshold"], 1);
        assert_eq!(program["status"], "active");

        // A patient refers a friend by email.
        let alice = app.patient("alice");
        let response = app.post(
            Some(&alice),
            "/api/patients/me/referrals",
            json!({
                "referee_email": " Bob@Example.com ",
                "referee_name": "Bob",
                "referral_source": "email",
                "referral_message": "You'll like it",
            }),
        );
        assert_eq!(response.status(), 201);
        let referral: Value = response.json().unwrap();
        let code = referral["referral_code"].as_str().unwrap().to_owned();
        assert_eq!(code.len(), 20);
        assert_eq!(referral["referee_email"], "bob@example.com");
        // The referrer's view: what she typed, and `invited` (minimum necessary).
        assert_eq!(referral["status"], "invited");
        assert_eq!(referral["program_id"], program["id"]);
        for hidden in [
            "referee_patient_id",
            "referrer_reward_status",
            "referee_reward_status",
        ] {
            assert!(
                referral.get(hidden).is_none(),
                "{hidden} shown to the referrer"
            );
        }
        assert_eq!(referral["clicks"], 0);
        assert_eq!(
            referral["share_url"],
            format!("http://portal.test/r/{code}")
        );
        let mine: Value = app
            .get(Some(&alice), "/api/patients/me/referrals")
            .json()
            .unwrap();
        assert_eq!(mine["total"], 1);
        assert_eq!(mine["items"][0]["referral_code"], code.as_str());

        // The invitation is queued for delivery.
        let queued: Value = app
            .get(Some(&app.admin()), "/api/notifications?status=queued")
            .json()
            .unwrap();
        assert_eq!(queued["total"], 1);
        assert_eq!(queued["items"][0]["template"], "referral_invitation");
        assert!(
            queued["items"][0].get("recipient").is_none(),
            "no PHI in the notification list"
        );

        // The friend opens the link: any case, hyphens or not.
        let typed = code.to_lowercase().replace('-', "");
        let click = app.get(
            None,
            &format!("/api/referrals/{typed}/click?source=whatsapp"),
        );
        assert_eq!(click.status(), 302);
        assert_eq!(
            click.headers()["location"],
            format!("http://portal.test/register?ref={code}").as_str()
        );
        let public: Value = app
            .get(None, &format!("/api/referrals/{code}"))
            .json()
            .unwrap();
        assert_eq!(public["status"], "pending");
        assert_eq!(public["referee_reward_type"], "discount");
        assert_eq!(public["referee_reward_value"], "20.00");
        let text = public.to_string();
        assert!(
            !text.contains("bob@example.com") && !text.contains("Bob") && !text.contains("alice"),
            "no PHI: {text}"
        );

        // The friend registers (clicks are counted in batches: add them first).
        app.state.clicks.flush(&app.state.pool).unwrap();
        let registration = app.registers(&code, "bob@example.com");
        let bob_id = registration["patient_id"].as_str().unwrap().to_owned();
        assert_eq!(registration["referral"]["status"], "registered");
        // Only what the registrant needs: never the invitation's contact data, the message
        // or the referrer (anyone holding the link could register and read them).
        let keys: Vec<_> = registration.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            ["booking_url", "patient_id", "referee_reward", "referral"]
        );
        let referral_keys: Vec<_> = registration["referral"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(referral_keys, ["id", "status"]);
        let text = registration.to_string();
        for secret in [
            "referee_email",
            "referee_phone",
            "referee_name",
            "referral_message",
            "referrer_id",
            "Bob",
        ] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        let referral = app
            .get(
                Some(&alice),
                &format!(
                    "/api/patients/me/referrals/{}",
                    registration["referral"]["id"].as_str().unwrap()
                ),
            )
            .json::<serde_json::Value>()
            .unwrap();
        // Bob did not agree to tell Alice: she still sees an invitation.
        assert_eq!(referral["status"], "invited");
        assert_eq!(referral["clicks"], 1);
        assert!(referral.get("referee_patient_id").is_none());
        // The portal (an admin) sees the registration.
        let admin_view = |app: &TestApp| -> Value {
            let listed: Value = app
                .get(Some(&app.admin()), "/api/referrals")
                .json()
                .unwrap();
            listed["items"][0].clone()
        };
        let seen = admin_view(app);
        assert_eq!(seen["referee_patient_id"], bob_id.as_str());
        assert!(seen["referee_registered_at"].is_string());
        assert_eq!(seen["referee_reward_status"], "earned");
        assert_eq!(seen["referee_reward_amount"], "20.00");
        assert_eq!(registration["referee_reward"]["reward_type"], "discount");
        assert_eq!(registration["referee_reward"]["reward_amount"], "20.00");
        assert_eq!(registration["referee_reward"]["status"], "available");

        // The platform reports Bob's first consultation.
        let service = app.service();
        let consultation = uuid::Uuid::new_v4();
        let event = json!({"patient_id": bob_id, "consultation_id": consultation});
        let converted: Value = app
            .post(Some(&service), "/api/events/consultations", event.clone())
            .json()
            .unwrap();
        assert_eq!(converted["outcome"], "converted");
        assert_eq!(converted["referrer_reward"]["reward_amount"], "25.00");
        let again: Value = app
            .post(Some(&service), "/api/events/consultations", event)
            .json()
            .unwrap();
        assert_eq!(again["outcome"], "duplicate");

        let detail: Value = app
            .get(
                Some(&alice),
                &format!(
                    "/api/patients/me/referrals/{}",
                    referral["id"].as_str().unwrap()
                ),
            )
            .json()
            .unwrap();
        assert_eq!(detail["status"], "invited");
        let seen = admin_view(app);
        assert_eq!(seen["status"], "converted");
        assert_eq!(seen["first_consultation_id"], consultation.to_string());
        assert!(seen["converted_at"].is_string());
        assert_eq!(seen["referrer_reward_status"], "earned");
        assert_eq!(seen["referrer_reward_amount"], "25.00");
        assert!(seen["referrer_reward_earned_at"].is_string());

        // Alice sees her reward at the week's release, and redeems it, once.
        app.release_rewards();
        let rewards: Value = app
            .get(Some(&alice), "/api/patients/me/rewards?status=available")
            .json()
            .unwrap();
        assert_eq!(rewards["total"], 1);
        let reward = &rewards["items"][0];
        assert_eq!(reward["reward_type"], "credit");
        assert_eq!(reward["reward_amount"], "25.00");
        assert_eq!(reward["party"], "referrer");
        assert_eq!(reward["friend"], "a friend you invited");
        assert!(
            reward["referral_id"].is_null(),
            "which friend converted stays unsaid"
        );
        let order = uuid::Uuid::new_v4();
        let path = format!("/api/rewards/{}/redeem", reward["id"].as_str().unwrap());
        let used: Value = app
            .post(Some(&alice), &path, json!({"order_id": order}))
            .json()
            .unwrap();
        assert_eq!(used["status"], "used");
        assert_eq!(used["used_on_order_id"], order.to_string());
        assert_problem(
            app.post(Some(&alice), &path, json!({"order_id": order})),
            409,
            "reward_not_available",
        );
        assert_eq!(admin_view(app)["referrer_reward_status"], "redeemed");

        // The provider portal sees it.
        let admin = app.admin();
        let analytics: Value = app
            .get(Some(&admin), "/api/referrals/analytics")
            .json()
            .unwrap();
        assert_eq!(analytics["total_referrals"], 1);
        assert_eq!(analytics["converted"], 1);
        assert_eq!(analytics["conversion_rate"], "100.00");
        assert_eq!(analytics["funnel"]["clicked"], 1);
        assert_eq!(analytics["rewards_paid"], "25.00");
        assert_eq!(
            analytics["top_referrers"][0]["referrer_id"],
            alice.id.to_string()
        );
        let performance: Value = app
            .get(Some(&admin), "/api/referrals/performance")
            .json()
            .unwrap();
        // The 30-day window: the service's clock is at the week's release, up to 7 days
        // after the visit (the 7-day window misses a Monday's visit read next Monday).
        let month = performance["programs"][0]["windows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["days"] == 30)
            .unwrap()
            .clone();
        assert_eq!(month["conversion_rate"], "100.00", "{performance}");
        let listed: Value = app
            .get(
                Some(&admin),
                &format!(
                    "/api/referrals?status=converted&program_id={}",
                    program["id"].as_str().unwrap()
                ),
            )
            .json()
            .unwrap();
        assert_eq!(listed["total"], 1);
    }
);

both_databases!(
    cash_rewards_need_an_admin,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        app.program(json!({"referrer_reward_type": "cash", "referrer_reward_value": "50"}));
        let alice = app.patient("alice");
        let referral = app.refers(&alice, "bob@example.com");
        let code = referral["referral_code"].as_str().unwrap();
        let bob = app.registers(code, "bob@example.com")["patient_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let event = json!({"patient_id": bob, "order_id": uuid::Uuid::new_v4(), "amount": "49.00"});
        let outcome: Value = app
            .post(Some(&app.service()), "/api/events/orders", event)
            .json()
            .unwrap();
        assert_eq!(outcome["referrer_reward"]["status"], "pending_approval");

        let id = referral["id"].as_str().unwrap();
        let approved = app.post(
            Some(&app.admin()),
            &format!("/api/referrals/{id}/approve-reward"),
            json!({"approve": true}),
        );
        assert_eq!(approved.status(), 200);
        let rewards: Value = approved.json().unwrap();
        assert!(rewards
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["party"] == "referrer" && r["status"] == "available"));
        assert_problem(
            app.post(
                Some(&app.admin()),
                &format!("/api/referrals/{id}/approve-reward"),
                json!({"approve": false}),
            ),
            409,
            "reward_not_pending_approval",
        );
        let payouts: Value = app
            .get(Some(&app.admin()), "/api/notifications")
            .json()
            .unwrap();
        assert!(payouts["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["kind"] == "payout"));
    }
);
