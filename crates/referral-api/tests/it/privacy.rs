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
