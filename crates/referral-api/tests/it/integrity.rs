//! Reward integrity (#23): the fraud signals a registration raises, recorded for admins
//! and never shown to the referrer.

use crate::support::*;
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
