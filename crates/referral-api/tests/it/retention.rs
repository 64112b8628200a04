//! Retention (#22): the daily worker erases the invited person's contact details of closed
//! referrals, the network details of old link opens and the payloads of finished messages,
//! on the clock it is given; analytics do not change.

use crate::delivery::{with_providers, Provider};
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
        // ... and one the friend used: its details go the same day, or the referrer could
        // tell from the erasure that the friend joined (#30).
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
        let early = retention_once(&app.delivery, &policy, now + Duration::days(60)).unwrap();
        assert_eq!(early.erased.referral_contacts, 0, "{early:?}");
        assert_eq!(early.erased.interactions, 0, "{early:?}");
        assert!(early.erased.message_payloads >= 1, "{early:?}");
        // Her confirmation link expired a day after it was sent: its address, name and
        // phone go with the payloads.
        assert_eq!(early.erased.registration_confirmations, 1, "{early:?}");
        assert_eq!(confirmations(app), 0);
        assert_eq!(addressed(app), 0, "no recipient kept in finished messages");
        assert_eq!(
            referral_as_admin(app, lapsed_id)["referee_email"],
            "bob@example.com"
        );

        // The mailbox holds the invitation (the development transport); its file goes with
        // the payloads.
        assert!(early.mailbox_files >= 1, "{early:?}");

        // After 200 days: both invitations' contact details and the old opens' network
        // details are gone.
        let late = retention_once(&app.delivery, &policy, now + Duration::days(200)).unwrap();
        assert_eq!(late.erased.referral_contacts, 2, "{late:?}");
        assert!(late.erased.interactions >= 1, "{late:?}");
        assert_eq!(tracked(app), 0);
        let erased = referral_as_admin(app, lapsed_id);
        assert_eq!(erased["referee_email"], ERASED_EMAIL);
        for field in ["referee_phone", "referee_name", "referral_message"] {
            assert!(erased[field].is_null(), "{field}: {erased}");
        }
        // The referral itself stays as it was (read at the real now, still open).
        assert_eq!(erased["referral_code"], lapsed["referral_code"]);
        assert_eq!(erased["status"], "pending");
        let used_now = referral_as_admin(app, used["id"].as_str().unwrap());
        assert_eq!(used_now["referee_email"], ERASED_EMAIL);
        assert_eq!(used_now["status"], "registered", "{used_now}");

        // The figures did not change, and a second run erases nothing.
        let after: Value = app
            .get(Some(&app.admin()), "/api/referrals/analytics")
            .json()
            .unwrap();
        for figure in ["total_referrals", "registered", "converted", "funnel"] {
            assert_eq!(after[figure], figures[figure], "{figure}");
        }
        let again = retention_once(&app.delivery, &policy, now + Duration::days(200)).unwrap();
        assert_eq!(again, referral_api::workers::RetentionReport::default());
    }
);

both_databases!(
    an_sms_consent_keeps_its_proof_as_a_keyed_hash_for_four_years_then_only_the_words,
    owned,
    |db: referral_store::testing::TestDb| {
        let twilio = Provider::start();
        twilio.answer("/2010-04-01/Accounts/AC1/Messages.json", 201, None, 1);
        let app = &with_providers(db, &twilio);
        app.program(json!({}));
        let alice = app.patient("alice");
        let texted = app
            .client
            .post(app.url("/api/patients/me/referrals"))
            .bearer_auth(&alice.token)
            .header("user-agent", "Mozilla/5.0 (consent)")
            .json(
                &json!({"referee_email": "bob@example.com", "referee_phone": "+14155550100",
                          "referral_source": "sms", "sms_consent": true}),
            )
            .send()
            .unwrap();
        assert_eq!(texted.status(), 201);
        type Proof = (
            Option<String>,
            Option<String>,
            Option<String>,
            String,
            Option<chrono::DateTime<Utc>>,
        );
        let proof = |app: &TestApp| -> Vec<Proof> {
            use referral_store::schema::sms_consents;
            let mut conn = app.db.conn();
            sms_consents::table
                .select((
                    sms_consents::phone,
                    sms_consents::phone_hash,
                    sms_consents::user_agent,
                    sms_consents::wording,
                    sms_consents::proof_erased_at,
                ))
                .load::<(
                    Option<String>,
                    Option<String>,
                    Option<String>,
                    String,
                    Option<referral_store::sql_types::DbTime>,
                )>(&mut **conn)
                .unwrap()
                .into_iter()
                .map(|(a, b, c, d, e)| (a, b, c, d, e.map(|t| t.0)))
                .collect()
        };
        let kept = proof(app);
        assert_eq!(kept.len(), 1);
        // The number is never stored; its keyed hash answers "did this number agree?".
        assert_eq!(kept[0].0, None);
        let hash = kept[0].1.clone().unwrap();
        assert!(!hash.contains("4155550100"));
        assert!(app
            .state
            .links
            .recipient_hashes("+14155550100")
            .contains(&hash));
        assert_eq!(kept[0].2.as_deref(), Some("Mozilla/5.0 (consent)"));

        // A row written before the hash (its number in clear) is hashed by the next run.
        {
            use referral_store::schema::sms_consents;
            diesel::update(sms_consents::table)
                .set((
                    sms_consents::phone.eq(Some("+14155550100")),
                    sms_consents::phone_hash.eq(None::<String>),
                ))
                .execute(&mut **app.db.conn())
                .unwrap();
        }
        let policy = RetentionPolicy::default();
        let now = Utc::now();
        let run = retention_once(&app.delivery, &policy, now).unwrap();
        assert_eq!(run.consent_phones_hashed, 1, "{run:?}");
        assert_eq!(proof(app)[0].0, None);
        assert_eq!(proof(app)[0].1.as_deref(), Some(hash.as_str()));

        // Four years less a day: still the proof. Then only who, when and the words.
        let almost = retention_once(&app.delivery, &policy, now + Duration::days(1460)).unwrap();
        assert_eq!(almost.erased.consent_proofs, 0, "{almost:?}");
        let after = retention_once(&app.delivery, &policy, now + Duration::days(1462)).unwrap();
        assert_eq!(after.erased.consent_proofs, 1, "{after:?}");
        let left = &proof(app)[0];
        assert_eq!(
            (&left.0, &left.1, &left.2),
            (&None, &None, &None),
            "{left:?}"
        );
        assert_eq!(left.3, referral_domain::consent::SMS_CONSENT_WORDING);
        assert!(left.4.is_some());
    }
);
