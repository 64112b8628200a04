//! What a referrer can send through the platform: a personal message that cannot carry a
//! phishing link, an address or a number (#22).

use crate::support::*;
use serde_json::{json, Value};

both_databases!(
    personal_messages_carry_no_links_addresses_or_numbers,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        app.program(json!({}));
        let alice = app.patient("alice");
        for (message, why) in [
            ("Claim your prize at https://evil.example/login", "links"),
            ("see evil-site.com", "links"),
            ("write to me@mail.example", "email addresses"),
            ("call me 555 123 4567", "phone numbers"),
            (&*"x".repeat(281), "280 characters"),
        ] {
            let problem = assert_problem(
                app.post(
                    Some(&alice),
                    "/api/patients/me/referrals",
                    json!({"referee_email": "bob@example.com", "referral_message": message}),
                ),
                422,
                "validation_failed",
            );
            let errors = problem["errors"].as_array().unwrap();
            assert_eq!(errors[0]["field"], "referral_message", "{problem}");
            assert!(
                errors[0]["message"].as_str().unwrap().contains(why),
                "{problem}"
            );
        }
        // Nothing was created by the refusals; a friendly message goes through, trimmed.
        let mine: Value = app
            .get(Some(&alice), "/api/patients/me/referrals")
            .json()
            .unwrap();
        assert_eq!(mine["total"], 0);
        let response = app.post(
            Some(&alice),
            "/api/patients/me/referrals",
            json!({"referee_email": "bob@example.com",
                   "referral_message": "  You'll like it, e.g. the 10:30 slots!  "}),
        );
        assert_eq!(response.status(), 201);
        let referral: Value = response.json().unwrap();
        assert_eq!(
            referral["referral_message"],
            "You'll like it, e.g. the 10:30 slots!"
        );
    }
);

both_databases!(
    anonymous_registration_confirms_the_address_first,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        app.program(json!({}));
        let alice = app.patient("alice");
        let carol = app.patient("carol");
        // Carol is known to the service (a patient row exists).
        assert_eq!(
            app.get(Some(&carol), "/api/patients/me/referrals").status(),
            200
        );
        let referral = app.refers(&alice, "bob@example.com");
        let code = referral["referral_code"].as_str().unwrap();
        let path = format!("/api/referrals/{code}/register");

        // The same answer for a new address, a patient's and the referrer's own.
        for email in ["bob@example.com", "carol@example.com", "alice@example.com"] {
            let response = app.post(None, &path, json!({"email": email}));
            assert_eq!(response.status(), 202, "{email}");
            assert_eq!(
                response.json::<Value>().unwrap(),
                json!({"status": "verification_sent"})
            );
        }
        // Carol and Alice are told they have an account; only Bob gets a link.
        for email in ["carol@example.com", "alice@example.com"] {
            assert_eq!(
                app.outbox_to(email, "already_registered").len(),
                1,
                "{email}"
            );
            assert!(app.verification_token(email).is_none(), "{email}");
        }
        // Nothing is registered until the link comes back.
        let public: Value = app
            .get(None, &format!("/api/referrals/{code}"))
            .json()
            .unwrap();
        assert_eq!(public["status"], "pending");

        // Bob had unsubscribed from referral messages: the link he asked for still goes.
        let token = app.state.links.unsubscribe_token("bob@example.com");
        let unsubscribed = app
            .client
            .post(app.url(&format!("/api/unsubscribe/{token}")))
            .send()
            .unwrap();
        assert_eq!(unsubscribed.status(), 200);
        let report = app.delivery.drain(chrono::Utc::now(), 10).unwrap();
        assert!(report.sent >= 3, "{report:?}");

        let link = app.verification_token("bob@example.com").unwrap();
        let registered = app.post(None, "/api/registrations/verify", json!({"token": link}));
        assert_eq!(registered.status(), 201);
        let registered: Value = registered.json().unwrap();
        assert_eq!(registered["referral"]["status"], "registered");
        // The link works once; a made-up one is not found.
        for token in [link.as_str(), "0000"] {
            assert_problem(
                app.post(None, "/api/registrations/verify", json!({"token": token})),
                404,
                "not_found",
            );
        }
        // A used code answers as an open one (its holder may be the referrer), and sends
        // nothing (#30).
        let used = app.post(None, &path, json!({"email": "dora@example.com"}));
        assert_eq!(used.status(), 202);
        assert!(app.verification_token("dora@example.com").is_none());
        // A patient's token does not register anyone at once; a service's does.
        let other = app.refers(&alice, "erin@example.com");
        let other_path = format!(
            "/api/referrals/{}/register",
            other["referral_code"].as_str().unwrap()
        );
        assert_problem(
            app.post(
                Some(&carol),
                &other_path,
                json!({"email": "erin@example.com"}),
            ),
            403,
            "forbidden",
        );
        let by_service = app.post(
            Some(&app.service()),
            &other_path,
            json!({"email": "erin@example.com"}),
        );
        assert_eq!(by_service.status(), 201);
    }
);
