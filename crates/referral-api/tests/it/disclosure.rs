//! Minimum necessary disclosure (#22): everything the referrer of a converted referral can
//! read (their API answers, their pages, the emails sent to them) carries none of the
//! friend's ids, no word of care, and the friend's name only with the friend's consent.

use crate::delivery::{deliver, with_providers, Provider};
use crate::pages::Visitor;
use crate::support::*;
use chrono::Utc;
use referral_store::testing::TestDb;
use serde_json::{json, Value};

/// What the friend is called when they register (never the referrer's to know) and what
/// the referrer typed for them.
const REGISTERED_NAME: &str = "Roberta Registered";
const TYPED_NAME: &str = "Bobby";

/// Everything referrer-facing of one converted referral, and the ids that must not be in it.
struct Seen {
    bodies: Vec<(String, String)>,
    friend_ids: Vec<String>,
    referral_id: String,
}

/// Alice invites Bob by email; Bob registers (sharing or not), the platform reports him a
/// commercial payer, his first consultation and a paid order; every email is delivered.
fn converted_referral(db: TestDb, share: bool) -> (TestApp, Provider, Actor, Seen) {
    let sendgrid = Provider::start();
    sendgrid.answer("/v3/mail/send", 202, None, 1);
    let app = with_providers(db, &sendgrid);
    app.program(json!({"referrer_reward_type": "credit", "referrer_reward_value": "25"}));
    let alice = app.patient("alice");
    let invited: Value = app
        .post(
            Some(&alice),
            "/api/patients/me/referrals",
            json!({"referee_email": "bob@example.com", "referee_name": TYPED_NAME,
                   "referral_source": "email", "referral_message": "Hope you like it"}),
        )
        .json()
        .unwrap();
    let code = invited["referral_code"].as_str().unwrap();
    let registered = app.registers_with(
        code,
        json!({"email": "bob@example.com", "name": REGISTERED_NAME, "share_with_referrer": share}),
    );
    let bob = registered["patient_id"].as_str().unwrap().to_owned();
    let service = app.service();
    let facts = app.put(
        Some(&service),
        &format!("/api/patients/{bob}/facts"),
        json!({"federal_payer": false, "state": "CA"}),
    );
    assert_eq!(facts.status(), 200);
    let consultation = uuid::Uuid::new_v4().to_string();
    let order = uuid::Uuid::new_v4().to_string();
    let converted: Value = app
        .post(
            Some(&service),
            "/api/events/consultations",
            json!({"patient_id": bob, "consultation_id": consultation}),
        )
        .json()
        .unwrap();
    assert_eq!(converted["outcome"], "converted");
    assert_eq!(converted["referrer_reward"]["reward_amount"], "25.00");
    let ordered = app.post(
        Some(&service),
        "/api/events/orders",
        json!({"patient_id": bob, "order_id": order, "amount": "80.00"}),
    );
    assert!(ordered.status().is_success());
    // The referrer's reward reaches them with the week's release.
    app.release_rewards();
    assert!(
        deliver(&app, Utc::now()).sent >= 3,
        "invitation, welcome, reward"
    );

    let referral_id = invited["id"].as_str().unwrap().to_owned();
    let mut bodies = Vec::new();
    for path in [
        "/api/patients/me/referrals".to_owned(),
        format!("/api/patients/me/referrals/{referral_id}"),
        "/api/patients/me/rewards".to_owned(),
        "/api/patients/me/referrals?status=joined".to_owned(),
    ] {
        let response = app.get(Some(&alice), &path);
        assert_eq!(response.status(), 200, "{path}");
        bodies.push((path, response.text().unwrap()));
    }
    let visitor = Visitor::new(&app);
    let signed_in = visitor.post("/signin", &[("token", alice.token.as_str())]);
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    for path in [
        "/patient/referrals".to_owned(),
        format!("/patient/referrals/{referral_id}"),
        "/patient/referrals/rewards".to_owned(),
    ] {
        let page = visitor.get(&path);
        assert_eq!(page.status, 200, "{path}");
        bodies.push((path, page.body));
    }
    let alice_address = format!("{}@example.com", "alice");
    let to_alice: Vec<Value> = sendgrid
        .json_bodies()
        .into_iter()
        .filter(|b| b["personalizations"][0]["to"][0]["email"] == alice_address.as_str())
        .collect();
    assert_eq!(to_alice.len(), 1, "the reward notice");
    for email in to_alice {
        bodies.push((format!("email {}", email["subject"]), email.to_string()));
    }
    let seen = Seen {
        bodies,
        friend_ids: vec![bob, consultation, order],
        referral_id,
    };
    (app, sendgrid, alice, seen)
}

/// No friend id, no word of care, and never the name the friend registered with.
fn assert_discloses_no_care(seen: &Seen) {
    const CARE: [&str; 8] = [
        "consultation",
        "consultations",
        "visit",
        "visits",
        "order",
        "orders",
        "appointment",
        "appointments",
    ];
    for (what, body) in &seen.bodies {
        // The program's offer says what any friend is offered ("20% off a consultation"):
        // the program's words, not a friend's care.
        let body = &match (
            body.find("<p class=\"offer-words\""),
            body.find("id=\"offer-disclosure\""),
        ) {
            (Some(start), Some(end)) if start < end => {
                format!("{}{}", &body[..start], &body[end..])
            }
            _ => body.clone(),
        };
        for id in &seen.friend_ids {
            assert!(!body.contains(id.as_str()), "a friend id in {what}: {body}");
        }
        // Whole words, so that `border` in a style is not a hit; `_` splits too, so that
        // a field such as `first_order_id` is one.
        let care: Vec<&str> = body
            .split(|c: char| !c.is_ascii_alphabetic())
            .filter(|w| CARE.contains(&w.to_ascii_lowercase().as_str()))
            .collect();
        assert!(care.is_empty(), "{care:?} in {what}: {body}");
        assert!(
            !body.contains(REGISTERED_NAME),
            "the friend's own name in {what}"
        );
    }
}

fn body<'a>(seen: &'a Seen, what: &str) -> &'a str {
    &seen.bodies.iter().find(|(w, _)| w == what).unwrap().1
}

both_databases!(
    without_consent_the_referrer_sees_an_invitation_and_an_unnamed_reward,
    owned,
    |db| {
        let (_app, _sendgrid, _alice, seen) = converted_referral(db, false);
        assert_discloses_no_care(&seen);
        let detail: Value = serde_json::from_str(body(
            &seen,
            &format!("/api/patients/me/referrals/{}", seen.referral_id),
        ))
        .unwrap();
        assert_eq!(detail["status"], "invited", "{detail}");
        let joined: Value =
            serde_json::from_str(body(&seen, "/api/patients/me/referrals?status=joined")).unwrap();
        assert_eq!(joined["total"], 0);
        let rewards: Value = serde_json::from_str(body(&seen, "/api/patients/me/rewards")).unwrap();
        let reward = &rewards["items"][0];
        assert_eq!(reward["friend"], "a friend you invited");
        assert!(reward["referral_id"].is_null(), "{reward}");
        assert_eq!(reward["reward_amount"], "25.00");
        // The rewards page and the notice do not name the friend either.
        for what in [
            "/patient/referrals/rewards",
            "email \"You earned a referral reward\"",
        ] {
            assert!(!body(&seen, what).contains(TYPED_NAME), "{what}");
        }
        assert!(body(&seen, "/patient/referrals/rewards").contains("a friend you invited"));
        let page = body(&seen, &format!("/patient/referrals/{}", seen.referral_id));
        assert!(page.contains("id=\"referral-status\">Invited<"), "{page}");
        assert!(!page.contains("Your friend joined"), "{page}");
    }
);

both_databases!(
    with_consent_the_referrer_sees_joined_and_the_name_they_typed,
    owned,
    |db| {
        let (app, _sendgrid, _alice, seen) = converted_referral(db, true);
        assert_discloses_no_care(&seen);
        let detail: Value = serde_json::from_str(body(
            &seen,
            &format!("/api/patients/me/referrals/{}", seen.referral_id),
        ))
        .unwrap();
        assert_eq!(detail["status"], "joined");
        let joined: Value =
            serde_json::from_str(body(&seen, "/api/patients/me/referrals?status=joined")).unwrap();
        assert_eq!(joined["total"], 1);
        let rewards: Value = serde_json::from_str(body(&seen, "/api/patients/me/rewards")).unwrap();
        assert_eq!(rewards["items"][0]["friend"], TYPED_NAME);
        assert_eq!(
            rewards["items"][0]["referral_id"],
            seen.referral_id.as_str()
        );
        let page = body(&seen, &format!("/patient/referrals/{}", seen.referral_id));
        assert!(page.contains("Your friend joined"), "{page}");
        assert!(!body(&seen, "email \"You earned a referral reward\"").contains(TYPED_NAME));
        // The answer is stored with its time and wording.
        let mut conn = app.db.conn();
        let id: referral_domain::ReferralId = seen.referral_id.parse().unwrap();
        let stored = referral_store::referrals::get(&mut conn, id, Utc::now()).unwrap();
        assert!(stored.shares_with_referrer);
        assert!(stored.share_consent_at.is_some());
    }
);

both_databases!(
    the_registration_page_asks_and_defaults_to_not_sharing,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        app.program(json!({}));
        let alice = app.patient("alice");
        let code = app.refers(&alice, "bob@example.com")["referral_code"]
            .as_str()
            .unwrap()
            .to_owned();
        let public: Value = app
            .get(None, &format!("/api/referrals/{code}"))
            .json()
            .unwrap();
        let wording = public["share_consent_wording"].as_str().unwrap().to_owned();
        let page = app
            .get(None, &format!("/register?ref={code}"))
            .text()
            .unwrap();
        assert!(page.contains("name=\"share_with_referrer\""), "{page}");
        assert!(page.contains(&wording), "the page asks in the stored words");
        assert!(!page.contains("share_with_referrer\" type=\"checkbox\" checked"));
        app.registers(&code, "bob@example.com");
        let mine: Value = app
            .get(Some(&alice), "/api/patients/me/referrals")
            .json()
            .unwrap();
        assert_eq!(
            mine["items"][0]["status"], "invited",
            "not shared by default"
        );
    }
);
