//! Retention (#22): the daily worker erases the invited person's contact details of closed
//! referrals, the network details of old link opens and the payloads of finished messages,
//! on the clock it is given; analytics do not change.

use crate::support::*;
use chrono::{Duration, Utc};
use diesel::prelude::*;
use referral_api::workers::retention_once;
use referral_domain::retention::{RetentionPolicy, ERASED_EMAIL};
use referral_store::schema::{outbox, referral_interactions};
use serde_json::{json, Value};

/// Interactions still holding an IP address or a user agent.
fn tracked(app: &TestApp) -> i64 {
    let mut conn = app.db.conn();
    referral_interactions::table
        .filter(
            referral_interactions::ip_address
                .is_not_null()
                .or(referral_interactions::user_agent.is_not_null()),
        )
        .count()
        .get_result(&mut **conn)
        .unwrap()
}

/// Outbox rows still holding a recipient.
fn addressed(app: &TestApp) -> i64 {
    let mut conn = app.db.conn();
    outbox::table
        .filter(outbox::recipient.ne(""))
        .count()
        .get_result(&mut **conn)
        .unwrap()
}

fn referral_as_admin(app: &TestApp, id: &str) -> Value {
    let listed: Value = app
        .get(Some(&app.admin()), "/api/referrals?limit=500")
        .json()
        .unwrap();
    listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap()
        .clone()
}

both_databases!(
    retention_erases_on_time_and_leaves_the_figures,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        app.program(json!({"expiry_days": 1}));
        let alice = app.patient("alice");
        // One invitation that will expire unused, with everything the referrer typed ...
        let lapsed: Value = app
            .post(
                Some(&alice),
                "/api/patients/me/referrals",
                json!({"referee_email": "bob@example.com", "referee_name": "Bob",
                       "referee_phone": "+14155550100", "referral_source": "email",
                       "referral_message": "Try it"}),
            )
            .json()
            .unwrap();
        let lapsed_id = lapsed["id"].as_str().unwrap();
        // ... and one the friend used, which keeps its details.
        let used = app.refers(&alice, "carol@example.com");
        app.registers(used["referral_code"].as_str().unwrap(), "carol@example.com");
        let confirmations = |app: &TestApp| -> i64 {
            let mut conn = app.db.conn();
            referral_store::schema::registration_verifications::table
                .count()
                .get_result(&mut **conn)
                .unwrap()
        };
        assert_eq!(confirmations(app), 1, "Carol's confirmation, used");
        // The link is opened from a browser (an address and a user agent are recorded).
        let click = app
            .client
            .get(app.url(&format!(
                "/api/referrals/{}/click",
                lapsed["referral_code"].as_str().unwrap()
            )))
            .header("user-agent", "Mozilla/5.0 (test)")
            .send()
            .unwrap();
        assert_eq!(click.status(), 302);
        app.state.clicks.flush(&app.state.pool).unwrap();
        // The invitation is delivered (to the mailbox).
        assert!(app.delivery.drain(Utc::now(), 10).unwrap().sent >= 1);
        assert!(tracked(app) >= 1);
        let figures: Value = app
            .get(Some(&app.admin()), "/api/referrals/analytics")
            .json()
            .unwrap();

        let policy = RetentionPolicy::default();
        let now = Utc::now();
        // After 60 days: the messages are done for over 30, nothing else is due.
        let early = retention_once(&app.state.pool, &policy, now + Duration::days(60)).unwrap();
        assert_eq!(early.referral_contacts, 0, "{early:?}");
        assert_eq!(early.interactions, 0, "{early:?}");
        assert!(early.message_payloads >= 1, "{early:?}");
        // Her confirmation link expired a day after it was sent: its address, name and
        // phone go with the payloads.
        assert_eq!(early.registration_confirmations, 1, "{early:?}");
        assert_eq!(confirmations(app), 0);
        assert_eq!(addressed(app), 0, "no recipient kept in finished messages");
        assert_eq!(
            referral_as_admin(app, lapsed_id)["referee_email"],
            "bob@example.com"
        );

        // After 200 days: the lapsed invitation's contact details and the old opens' network
        // details are gone; the used referral keeps its own.
        let late = retention_once(&app.state.pool, &policy, now + Duration::days(200)).unwrap();
        assert_eq!(late.referral_contacts, 1, "{late:?}");
        assert!(late.interactions >= 1, "{late:?}");
        assert_eq!(tracked(app), 0);
        let erased = referral_as_admin(app, lapsed_id);
        assert_eq!(erased["referee_email"], ERASED_EMAIL);
        for field in ["referee_phone", "referee_name", "referral_message"] {
            assert!(erased[field].is_null(), "{field}: {erased}");
        }
        // The referral itself stays as it was (read at the real now, still open).
        assert_eq!(erased["referral_code"], lapsed["referral_code"]);
        assert_eq!(erased["status"], "pending");
        let kept = referral_as_admin(app, used["id"].as_str().unwrap());
        assert_eq!(kept["referee_email"], "carol@example.com");

        // The figures did not change, and a second run erases nothing.
        let after: Value = app
            .get(Some(&app.admin()), "/api/referrals/analytics")
            .json()
            .unwrap();
        for figure in ["total_referrals", "registered", "converted", "funnel"] {
            assert_eq!(after[figure], figures[figure], "{figure}");
        }
        let again = retention_once(&app.state.pool, &policy, now + Duration::days(200)).unwrap();
        assert_eq!(again, referral_store::retention::Erased::default());
    }
);
