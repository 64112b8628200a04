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

        // Bob had unsubscribed from referral messages: the suppression list holds for the
        // confirmation too (#30: anyone may ask on his behalf). (The test reads the link
        // from the outbox to go on.)
        let token = app.state.links.unsubscribe_token("bob@example.com");
        let unsubscribed = app
            .client
            .post(app.url(&format!("/api/unsubscribe/{token}")))
            .send()
            .unwrap();
        assert_eq!(unsubscribed.status(), 200);
        let report = app.delivery.drain(chrono::Utc::now(), 10).unwrap();
        assert_eq!((report.sent, report.suppressed), (2, 1), "{report:?}");

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

both_databases!(
    confirmations_cannot_be_turned_into_spam,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        app.program(json!({}));
        let alice = app.patient("alice");
        let start = |code: &str| {
            let response = app.post(
                None,
                &format!("/api/referrals/{code}/register"),
                json!({"email": "bob@example.com"}),
            );
            assert_eq!(response.status(), 202);
        };
        let links = || {
            app.outbox_to("bob@example.com", "registration_verification")
                .len()
        };
        let code = app.refers(&alice, "bob@example.com")["referral_code"]
            .as_str()
            .unwrap()
            .to_owned();
        // A repeat within ten minutes sends nothing more.
        start(&code);
        start(&code);
        assert_eq!(links(), 1);
        let first = app.verification_token("bob@example.com").unwrap();
        // Later, it refreshes the confirmation: a new link, and the old one stops working.
        app.state.clock.advance(chrono::Duration::minutes(11));
        start(&code);
        assert_eq!(links(), 2);
        assert_problem(
            app.post(None, "/api/registrations/verify", json!({"token": first})),
            404,
            "not_found",
        );
        // At most three a day to one address, across codes (and instances: the count is
        // in the database).
        for friend in ["carol", "dave", "erin"] {
            let other = app.patient(friend);
            let code = app.refers(&other, "bob@example.com")["referral_code"]
                .as_str()
                .unwrap()
                .to_owned();
            start(&code);
        }
        assert_eq!(links(), 3, "three a day");
        // A day later, one more may go.
        app.state.clock.advance(chrono::Duration::hours(25));
        start(&code);
        assert_eq!(links(), 4);
    }
);
