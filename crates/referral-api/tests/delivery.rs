#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The outbox worker delivers through the providers' APIs (a local mock server stands in for
//! SendGrid), marks messages sent, and retries failures with a backoff.

mod support;

use referral_api::startup;
use serde_json::{json, Value};
use support::*;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn mock_sendgrid(status: u16) -> (tokio::runtime::Runtime, MockServer) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(async {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v3/mail/send"))
            .and(body_string_contains("bob@example.com"))
            .and(body_string_contains("register?ref="))
            .and(body_string_contains("/api/unsubscribe/"))
            .respond_with(ResponseTemplate::new(status))
            .mount(&server)
            .await;
        server
    });
    (runtime, server)
}

#[test]
fn invitations_are_delivered_once_and_failures_retried() {
    let (_runtime, sendgrid) = mock_sendgrid(202);
    let db = referral_store::testing::TestDb::sqlite();
    let mut args = referral_api::config::ServeArgs::for_tests(&db.url, SECRET);
    args.sendgrid_api_key = Some("sg-test".into());
    args.sendgrid_base_url = sendgrid.uri();
    let (_service, delivery) = startup::build(args.clone()).unwrap();
    let app = spawn_with(db, move |a| *a = args);

    app.program(json!({}));
    let alice = app.patient("alice");
    let response = app.post(
        Some(&alice),
        "/api/patients/me/referrals",
        json!({"referee_email": "bob@example.com", "referral_source": "email"}),
    );
    assert_eq!(response.status(), 201);

    let delivered = delivery.deliver_due(&app.state).unwrap();
    assert_eq!(delivered, 1);
    assert_eq!(delivery.deliver_due(&app.state).unwrap(), 0, "sent once");
    let sent: Value = app
        .get(Some(&app.admin()), "/api/notifications?status=sent")
        .json()
        .unwrap();
    assert_eq!(sent["total"], 1);
    assert_eq!(sent["items"][0]["attempts"], 1);
    // The referral records that its invitation left.
    let referral: Value = response_referral(&app, &alice);
    let id: referral_domain::ReferralId = referral["id"].as_str().unwrap().parse().unwrap();
    let mut conn = app.db.conn();
    let interactions = referral_store::referrals::interactions(&mut conn, id).unwrap();
    assert!(interactions
        .iter()
        .any(|i| i.interaction_type == referral_domain::InteractionType::EmailSent));
}

fn response_referral(app: &TestApp, alice: &Actor) -> Value {
    let mine: Value = app
        .get(Some(alice), "/api/patients/me/referrals")
        .json()
        .unwrap();
    mine["items"][0].clone()
}

#[test]
fn provider_outages_are_retried_later() {
    let (_runtime, sendgrid) = mock_sendgrid(503);
    let db = referral_store::testing::TestDb::sqlite();
    let mut args = referral_api::config::ServeArgs::for_tests(&db.url, SECRET);
    args.sendgrid_api_key = Some("sg-test".into());
    args.sendgrid_base_url = sendgrid.uri();
    let (_service, delivery) = startup::build(args.clone()).unwrap();
    let app = spawn_with(db, move |a| *a = args);
    app.program(json!({}));
    let alice = app.patient("alice");
    app.post(
        Some(&alice),
        "/api/patients/me/referrals",
        json!({"referee_email": "bob@example.com", "referral_source": "email"}),
    );
    assert_eq!(delivery.deliver_due(&app.state).unwrap(), 0);
    let queued: Value = app
        .get(Some(&app.admin()), "/api/notifications?status=queued")
        .json()
        .unwrap();
    assert_eq!(queued["total"], 1, "back in the queue");
    assert_eq!(
        queued["items"][0]["last_error"],
        "the provider answered 503"
    );
    assert_eq!(
        delivery.deliver_due(&app.state).unwrap(),
        0,
        "not due again before the backoff"
    );
}
