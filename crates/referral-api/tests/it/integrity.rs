//! Reward integrity (#23): the fraud signals a registration raises, recorded for admins
//! and never shown to the referrer.

use crate::support::*;
use referral_api::auth::Role;
use serde_json::{json, Value};

both_databases!(
    registrations_raise_signals_for_the_admins_only,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        app.program(json!({}));
        let alice = app.patient("alice");
        // Alice invites an address of her own with a number added, and registers it.
        let farmed = app.refers(&alice, "alice2@example.com");
        app.registers(
            farmed["referral_code"].as_str().unwrap(),
            "alice2@example.com",
        );
        // Bob is invited, but someone registers another address with his link.
        let forwarded = app.refers(&alice, "bob@example.com");
        app.registers(
            forwarded["referral_code"].as_str().unwrap(),
            "robert@example.com",
        );
        // Carol registers as invited: nothing to see.
        let honest = app.refers(&alice, "carol@example.com");
        app.registers(
            honest["referral_code"].as_str().unwrap(),
            "carol@example.com",
        );

        let listed: Value = app
            .get(Some(&app.admin()), "/api/referrals")
            .json()
            .unwrap();
        let signals_of = |id: &Value| -> Vec<String> {
            listed["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["id"] == *id)
                .unwrap()["signals"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    assert!(s["explanation"].as_str().unwrap().ends_with('.'));
                    s["code"].as_str().unwrap().to_owned()
                })
                .collect()
        };
        assert_eq!(signals_of(&farmed["id"]), ["alias_of_referrer"]);
        assert_eq!(signals_of(&forwarded["id"]), ["invited_address_mismatch"]);
        assert!(signals_of(&honest["id"]).is_empty());
        // The referrer sees none of it.
        let mine = app
            .get(Some(&alice), "/api/patients/me/referrals")
            .text()
            .unwrap();
        assert!(
            !mine.contains("signals") && !mine.contains("alias_of_referrer"),
            "{mine}"
        );
    }
);

/// Sends `request` as coming from `ip` with `agent` (the service trusts the test's proxy).
fn from(
    request: reqwest::blocking::RequestBuilder,
    ip: &str,
    agent: &str,
) -> reqwest::blocking::Response {
    request
        .header("x-forwarded-for", ip)
        .header("user-agent", agent)
        .send()
        .unwrap()
}

/// The service behind a trusted proxy (so the tests choose each client's address).
fn behind_proxy(db: referral_store::testing::TestDb) -> TestApp {
    spawn_with(db, |args| {
        args.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
        args.velocity_per_day = 10;
    })
}

both_databases!(
    a_farming_script_ends_with_no_available_reward,
    owned,
    |db: referral_store::testing::TestDb| {
        let app = &behind_proxy(db);
        app.program(json!({}));
        let alice = app.patient("alice");
        let (home, agent) = ("203.0.113.7", "FarmBot/1.0");
        let service = app.service();
        // One referrer, 30 friends with disposable addresses, all from her own address,
        // each reaching a paid event.
        for i in 0..30 {
            let email = format!("farm{i}@mailinator.com");
            let created: Value = from(
                app.client
                    .post(app.url("/api/patients/me/referrals"))
                    .bearer_auth(&alice.token)
                    .json(&json!({"referee_email": email})),
                home,
                agent,
            )
            .json()
            .unwrap();
            let code = created["referral_code"].as_str().unwrap();
            let asked = from(
                app.client
                    .post(app.url(&format!("/api/referrals/{code}/register")))
                    .json(&json!({"email": email})),
                "198.51.100.99",
                "Mozilla/5.0",
            );
            assert_eq!(asked.status(), 202);
            let token = app.verification_token(&email).unwrap();
            let registered: Value = from(
                app.client
                    .post(app.url("/api/registrations/verify"))
                    .json(&json!({"token": token})),
                home,
                agent,
            )
            .json()
            .unwrap();
            let converted: Value = app
                .post(
                    Some(&service),
                    "/api/events/orders",
                    json!({"patient_id": registered["patient_id"], "order_id": uuid::Uuid::new_v4(), "amount": "49.00"}),
                )
                .json()
                .unwrap();
            assert_eq!(converted["outcome"], "converted");
            // In review; past the 500.00 yearly cap (the 21st on), withheld outright.
            let reward = &converted["referrer_reward"];
            if i < 20 {
                assert_eq!(reward["status"], "in_review", "{reward}");
            } else {
                assert_eq!(reward["withheld_reason"], "annual_cap_reached", "{reward}");
            }
        }
        let available: Value = app
            .get(Some(&alice), "/api/patients/me/rewards?status=available")
            .json()
            .unwrap();
        assert_eq!(available["total"], 0, "no available reward: {available}");
        // Waiting for review: the admins' queue holds them; Alice sees none (#30).
        let in_review: Value = app
            .get(Some(&alice), "/api/patients/me/rewards?status=in_review")
            .json()
            .unwrap();
        assert_eq!(in_review["total"], 0);
        let queue: Value = app
            .get(Some(&app.admin()), "/api/reward-reviews?limit=500")
            .json()
            .unwrap();
        assert_eq!(
            queue["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|i| i["reward"]["patient_id"] == alice.id.to_string())
                .count(),
            20
        );
        assert!(app
            .outbox_to("alice@example.com", "reward_earned")
            .is_empty());

        let figures: Value = app
            .get(Some(&app.admin()), "/api/referrals/integrity")
            .json()
            .unwrap();
        eprintln!("farming outcome: 30 conversions, 0 available rewards (20 in review, 10 withheld by the yearly cap); {figures}");
        assert_eq!(figures["flagged_referrals"], 30);
        assert_eq!(figures["by_signal"]["disposable_email"], 30);
        assert_eq!(figures["by_signal"]["same_network"], 30);
        assert_eq!(figures["by_signal"]["velocity"], 20, "the 11th to the 30th");
        assert_eq!(
            figures["in_review_rewards"], 50,
            "20 referrer and 30 welcome rewards"
        );
        let queue: Value = app
            .get(
                Some(&app.admin()),
                "/api/reward-reviews?signal=same_network&limit=1",
            )
            .json()
            .unwrap();
        let signals = queue["items"][0]["signals"].as_array().unwrap();
        let same = signals
            .iter()
            .find(|s| s["code"] == "same_network")
            .unwrap();
        assert_eq!(
            same["evidence"],
            json!({"network": "device", "step": "verification"})
        );
        let disposable = signals
            .iter()
            .find(|s| s["code"] == "disposable_email")
            .unwrap();
        assert_eq!(disposable["evidence"], json!({"domain": "mailinator.com"}));
        // No address in any evidence.
        assert!(!queue.to_string().contains("203.0.113"), "{queue}");
    }
);

both_databases!(
    a_neighbour_on_the_referrers_network_and_a_ring_are_flagged,
    owned,
    |db: referral_store::testing::TestDb| {
        let app = &behind_proxy(db);
        app.program(json!({}));
        let carol = app.patient("carol");
        // Carol invites Alice and Dan; Alice joins (from her own network).
        let invite = |who: &Actor, email: &str, ip: &str| -> Value {
            from(
                app.client
                    .post(app.url("/api/patients/me/referrals"))
                    .bearer_auth(&who.token)
                    .json(&json!({"referee_email": email})),
                ip,
                "Firefox",
            )
            .json()
            .unwrap()
        };
        let join = |code: &Value, email: &str, ip: &str| -> Value {
            let code = code.as_str().unwrap();
            let asked = from(
                app.client
                    .post(app.url(&format!("/api/referrals/{code}/register")))
                    .json(&json!({"email": email})),
                ip,
                "Safari",
            );
            assert_eq!(asked.status(), 202);
            let token = app.verification_token(email).unwrap();
            from(
                app.client
                    .post(app.url("/api/registrations/verify"))
                    .json(&json!({"token": token})),
                ip,
                "Safari",
            )
            .json()
            .unwrap()
        };
        let to_alice = invite(&carol, "alice@example.org", "198.51.100.1");
        invite(&carol, "dan@example.org", "198.51.100.1");
        let alice_joined = join(
            &to_alice["referral_code"],
            "alice@example.org",
            "192.0.2.10",
        );
        let alice = app.actor_with_id(
            Role::Patient,
            alice_joined["patient_id"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap(),
            "alice@example.org",
        );
        // Alice invites Dan too (the ring) and Erin, who joins from Alice's /24.
        let to_dan = invite(&alice, "dan@example.org", "192.0.2.10");
        let to_erin = invite(&alice, "erin@example.org", "192.0.2.10");
        join(&to_dan["referral_code"], "dan@example.org", "203.0.113.50");
        join(&to_erin["referral_code"], "erin@example.org", "192.0.2.77");

        let listed: Value = app
            .get(Some(&app.admin()), "/api/referrals")
            .json()
            .unwrap();
        let signals = |id: &Value| -> Vec<Value> {
            listed["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["id"] == *id)
                .unwrap()["signals"]
                .as_array()
                .unwrap()
                .clone()
        };
        assert!(signals(&to_alice["id"]).is_empty());
        let ring = signals(&to_dan["id"]);
        assert_eq!(ring.len(), 1, "{ring:?}");
        assert_eq!(ring[0]["code"], "ring");
        assert_eq!(ring[0]["evidence"]["via_patient_id"], carol.id.to_string());
        let near = signals(&to_erin["id"]);
        assert_eq!(near.len(), 1, "{near:?}");
        assert_eq!(near[0]["code"], "same_network");
        assert_eq!(
            near[0]["evidence"],
            json!({"network": "ipv4_24", "step": "registration"})
        );
    }
);

both_databases!(
    velocity_follows_its_setting,
    owned,
    |db: referral_store::testing::TestDb| {
        let app = &spawn_with(db, |args| args.velocity_per_day = 2);
        app.program(json!({}));
        let alice = app.patient("alice");
        let mut flagged = Vec::new();
        for friend in ["bob", "carol", "dan"] {
            let email = format!("{friend}@example.org");
            let referral = app.refers(&alice, &email);
            let registered = app.registers(referral["referral_code"].as_str().unwrap(), &email);
            flagged.push(registered["referee_reward"]["status"].clone());
        }
        assert_eq!(
            flagged,
            [json!("available"), json!("available"), json!("in_review")]
        );
        let queue: Value = app
            .get(Some(&app.admin()), "/api/reward-reviews?signal=velocity")
            .json()
            .unwrap();
        assert_eq!(
            queue["items"][0]["signals"][0]["evidence"],
            json!({"registrations_24h": 3, "limit": 2})
        );
    }
);
