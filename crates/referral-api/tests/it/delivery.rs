//! The outbox, end to end: the API queues messages with the change that causes them, the
//! worker delivers them through the providers' APIs (local wiremock servers stand in for
//! SendGrid, Twilio and Stripe) or into the mailbox directory, retries with backoff, gives up
//! with the reason, never sends to a suppressed address, and never sends a message twice,
//! even with two workers at once. Every test runs on SQLite and PostgreSQL.

use crate::support::*;
use chrono::{Duration, Utc};
use referral_api::delivery::RoundReport;
use referral_store::outbox::{self, NewMessage, OutboxKind};
use referral_store::testing::TestDb;
use serde_json::{json, Value};
use std::collections::HashSet;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A wiremock server on its own runtime (the tests themselves are blocking).
pub(crate) struct Provider {
    runtime: tokio::runtime::Runtime,
    server: MockServer,
}

impl Provider {
    pub(crate) fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime.block_on(MockServer::start());
        Provider { runtime, server }
    }

    pub(crate) fn answer(&self, route: &str, status: u16, times: Option<u64>, priority: u8) {
        let mut mock = Mock::given(method("POST"))
            .and(path(route))
            .respond_with(ResponseTemplate::new(status).set_body_string(format!("answer {status}")))
            .with_priority(priority);
        if let Some(n) = times {
            mock = mock.up_to_n_times(n);
        }
        self.runtime.block_on(mock.mount(&self.server));
    }

    pub(crate) fn requests(&self) -> Vec<wiremock::Request> {
        self.runtime
            .block_on(self.server.received_requests())
            .unwrap_or_default()
    }

    pub(crate) fn json_bodies(&self) -> Vec<Value> {
        self.requests()
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect()
    }
}

/// The sender's postal address the tests' emails carry.
pub(crate) const POSTAL_ADDRESS: &str = "100 Main St, Springfield, IL 62701";

/// The service with SendGrid (and Twilio, Stripe) pointed at `provider`.
pub(crate) fn with_providers(db: TestDb, provider: &Provider) -> TestApp {
    with_providers_and(db, provider, |_| {})
}

/// As [`with_providers`], then `adjust`.
pub(crate) fn with_providers_and(
    db: TestDb,
    provider: &Provider,
    adjust: impl FnOnce(&mut referral_api::config::ServeArgs),
) -> TestApp {
    let uri = provider.server.uri();
    spawn_with(db, move |args| {
        args.sendgrid_api_key = Some("sg-test".into());
        args.postal_address = Some(POSTAL_ADDRESS.into());
        args.sendgrid_base_url = uri.clone();
        args.twilio_account_sid = Some("AC1".into());
        args.twilio_auth_token = Some("tw-test".into());
        args.twilio_base_url = uri.clone();
        args.stripe_api_key = Some("sk_test".into());
        args.stripe_base_url = uri;
        adjust(args);
    })
}

fn invite(app: &TestApp, referrer: &Actor, email: &str) -> Value {
    let response = app.post(
        Some(referrer),
        "/api/patients/me/referrals",
        json!({"referee_email": email, "referee_name": "Bob", "referral_source": "email",
               "referral_message": "Try it <script>alert(1)</script>"}),
    );
    assert_eq!(response.status(), 201, "{:?}", response.text());
    response.json().unwrap()
}

fn notifications(app: &TestApp, status: &str) -> Value {
    app.get(
        Some(&app.admin()),
        &format!("/api/notifications?status={status}"),
    )
    .json()
    .unwrap()
}

pub(crate) fn deliver(app: &TestApp, at: chrono::DateTime<Utc>) -> RoundReport {
    // Never before the service's own clock (a test may have moved it to a release).
    app.delivery.drain(at.max(app.state.now()), 100).unwrap()
}

both_databases!(
    an_invitation_reaches_sendgrid_once_and_is_recorded,
    owned,
    |db| {
        let sendgrid = Provider::start();
        sendgrid.answer("/v3/mail/send", 202, None, 1);
        let app = with_providers(db, &sendgrid);
        app.program(json!({}));
        let alice = app.patient("alice");
        let referral = invite(&app, &alice, "bob@example.com");

        let report = deliver(&app, Utc::now());
        assert_eq!(report.sent, 1, "{report:?}");
        assert_eq!(
            deliver(&app, Utc::now() + Duration::hours(2)).claimed,
            0,
            "sent once"
        );

        let bodies = sendgrid.json_bodies();
        assert_eq!(bodies.len(), 1);
        let body = &bodies[0];
        assert_eq!(
            body["personalizations"][0]["to"][0]["email"],
            "bob@example.com"
        );
        let key = format!("invitation:{}:email", referral["id"].as_str().unwrap());
        assert_eq!(
            body["personalizations"][0]["custom_args"]["idempotency_key"],
            key
        );
        let html = body["content"][1]["value"].as_str().unwrap();
        let code = referral["referral_code"].as_str().unwrap();
        assert!(
            html.contains(&format!("http://portal.test/r/{code}")),
            "{html}"
        );
        assert!(
            html.contains("&lt;script&gt;"),
            "user text is escaped: {html}"
        );
        assert!(html.contains("http://portal.test/api/unsubscribe/"));
        assert!(
            html.contains(POSTAL_ADDRESS),
            "CAN-SPAM: the postal address"
        );
        assert_eq!(
            body["headers"]["List-Unsubscribe-Post"],
            "List-Unsubscribe=One-Click"
        );
        assert!(!html.contains("bob@example.com"), "no address in links");
        let request = &sendgrid.requests()[0];
        assert_eq!(
            request.headers.get("authorization").unwrap(),
            "Bearer sg-test"
        );

        let sent = notifications(&app, "sent");
        assert_eq!(sent["total"], 1);
        assert_eq!(sent["items"][0]["attempts"], 1);
        let id: referral_domain::ReferralId = referral["id"].as_str().unwrap().parse().unwrap();
        let mut conn = app.db.conn();
        let interactions = referral_store::referrals::interactions(&mut conn, id).unwrap();
        assert_eq!(
            interactions
                .iter()
                .filter(|i| i.interaction_type == referral_domain::InteractionType::EmailSent)
                .count(),
            1
        );
    }
);

both_databases!(
    a_provider_500_is_retried_later_and_then_delivered,
    owned,
    |db| {
        let sendgrid = Provider::start();
        sendgrid.answer("/v3/mail/send", 500, Some(1), 1);
        sendgrid.answer("/v3/mail/send", 202, None, 2);
        let app = with_providers(db, &sendgrid);
        app.program(json!({}));
        invite(&app, &app.patient("alice"), "bob@example.com");

        let start = Utc::now();
        let first = deliver(&app, start);
        assert_eq!((first.sent, first.retried), (0, 1), "{first:?}");
        let queued = notifications(&app, "queued");
        assert_eq!(queued["total"], 1, "back in the queue");
        assert!(queued["items"][0]["last_error"]
            .as_str()
            .unwrap()
            .starts_with("the provider answered 500"));
        let due: chrono::DateTime<Utc> = queued["items"][0]["next_attempt_at"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        // The first retry waits 15 to 30 seconds (30 s, upper half random).
        let wait = due - start;
        assert!(
            wait >= Duration::seconds(15) && wait <= Duration::seconds(30),
            "{wait}"
        );
        assert_eq!(
            deliver(&app, start + Duration::seconds(5)).claimed,
            0,
            "not before its time"
        );
        let later = deliver(&app, start + Duration::seconds(31));
        assert_eq!(later.sent, 1, "{later:?}");
        assert_eq!(notifications(&app, "sent")["items"][0]["attempts"], 2);
        assert_eq!(sendgrid.requests().len(), 2);
    }
);

both_databases!(
    a_4xx_fails_at_once_with_the_reason_admins_can_see,
    owned,
    |db| {
        let sendgrid = Provider::start();
        sendgrid.answer("/v3/mail/send", 400, None, 1);
        let app = with_providers(db, &sendgrid);
        app.program(json!({}));
        invite(&app, &app.patient("alice"), "bob@example.com");
        let report = deliver(&app, Utc::now());
        assert_eq!(report.failed, 1, "{report:?}");
        let failed = notifications(&app, "failed");
        assert_eq!(failed["total"], 1);
        assert_eq!(
            failed["items"][0]["last_error"],
            "the provider answered 400: answer 400"
        );
        assert!(
            failed["items"][0].get("recipient").is_none(),
            "no PHI in the list"
        );
        assert_problem(
            app.get(
                Some(&app.patient("eve")),
                "/api/notifications?status=failed",
            ),
            403,
            "forbidden",
        );
        // Failed for good: never tried again.
        assert_eq!(deliver(&app, Utc::now() + Duration::days(1)).claimed, 0);
    }
);

both_databases!(retries_stop_at_the_limit, owned, |db| {
    let sendgrid = Provider::start();
    sendgrid.answer("/v3/mail/send", 503, None, 1);
    let app = with_providers(db, &sendgrid);
    app.program(json!({}));
    invite(&app, &app.patient("alice"), "bob@example.com");
    let mut at = Utc::now();
    for _ in 0..8 {
        deliver(&app, at);
        at += Duration::hours(2);
    }
    assert_eq!(sendgrid.requests().len(), 8, "max_attempts is 8");
    let failed = notifications(&app, "failed");
    assert_eq!(failed["total"], 1);
    assert_eq!(failed["items"][0]["attempts"], 8);
    assert_eq!(deliver(&app, at).claimed, 0);
});

/// An email provider without a postal address refuses to start, naming the setting.
#[test]
fn an_email_provider_needs_a_postal_address() {
    let mut args = referral_api::config::ServeArgs::for_tests("sqlite://:memory:", &"k".repeat(32));
    args.sendgrid_api_key = Some("sg-test".into());
    let refusal = args.check_safe().unwrap_err();
    assert!(refusal.contains("REFERRAL_POSTAL_ADDRESS"), "{refusal}");
    args.postal_address = Some("  ".into());
    assert!(args.check_safe().is_err(), "blank is not an address");
    args.postal_address = Some(POSTAL_ADDRESS.into());
    assert_eq!(args.check_safe(), Ok(()));
}

both_databases!(nothing_is_sent_to_a_suppressed_address, owned, |db| {
    let sendgrid = Provider::start();
    sendgrid.answer("/v3/mail/send", 202, None, 1);
    let app = with_providers(db, &sendgrid);
    app.program(json!({}));
    let alice = app.patient("alice");
    // Queued before the unsubscribe: must not leave either.
    invite(&app, &alice, "dora@example.com");
    let token = app.state.links.unsubscribe_token("dora@example.com");
    assert!(!token.contains("dora"));
    // Opening the link (a mail scanner, a preview) shows a button and changes nothing.
    let link = app.url(&format!("/api/unsubscribe/{token}"));
    for _ in 0..2 {
        let page = app
            .client
            .get(&link)
            .header("accept", "text/html")
            .send()
            .unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().unwrap();
        assert!(
            html.contains("<form method=\"post\" class=\"stack\">"),
            "{html}"
        );
        assert!(!html.contains("You are unsubscribed"));
    }
    let mut conn = app.db.conn();
    let hashes = app.state.links.recipient_hashes("dora@example.com");
    assert!(
        !referral_store::suppressions::contains(&mut conn, &hashes).unwrap(),
        "a GET unsubscribes nobody"
    );
    drop(conn);
    // The button (a form post) and a mail client's RFC 8058 one-click POST unsubscribe.
    let response = app
        .client
        .post(&link)
        .header("accept", "text/html")
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().unwrap().contains("You are unsubscribed"));
    // Doing it twice is fine.
    let again = app
        .client
        .post(&link)
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().unwrap()["unsubscribed"], true);
    invite(&app, &alice, "erin@example.com");
    // A message queued after the unsubscribe (a reminder, say) stays unsent too.
    outbox::enqueue(
        &mut app.db.conn(),
        &NewMessage {
            kind: OutboxKind::Email,
            idempotency_key: "later:dora".into(),
            recipient: "dora@example.com".into(),
            message: referral_notify::Message::RewardExpiring(
                referral_notify::messages::RewardExpiring {
                    patient_name: None,
                    reward_description: Some("$5.00 account credit".into()),
                    expires_on: "soon".into(),
                    reward_id: uuid::Uuid::new_v4(),
                    locale: Default::default(),
                },
            ),
        },
        Utc::now(),
    )
    .unwrap();

    let report = deliver(&app, Utc::now());
    assert_eq!((report.sent, report.suppressed), (1, 2), "{report:?}");
    let bodies = sendgrid.json_bodies();
    assert_eq!(bodies.len(), 1);
    assert_eq!(
        bodies[0]["personalizations"][0]["to"][0]["email"],
        "erin@example.com"
    );
    assert_eq!(notifications(&app, "suppressed")["total"], 2);
    // The suppression list holds a keyed hash, not the address.
    let mut conn = app.db.conn();
    let stored: Vec<String> = {
        use diesel::prelude::*;
        referral_store::schema::suppressions::table
            .select(referral_store::schema::suppressions::recipient_hash)
            .load(&mut **conn)
            .unwrap()
    };
    assert_eq!(
        stored,
        vec![app.state.links.recipient_hash("dora@example.com")]
    );
});

both_databases!(
    two_workers_deliver_200_messages_exactly_once_each,
    owned,
    |db| {
        let sendgrid = Provider::start();
        sendgrid.answer("/v3/mail/send", 202, None, 1);
        let app = with_providers(db, &sendgrid);
        {
            let mut conn = app.db.conn();
            for i in 0..200 {
                outbox::enqueue(
                    &mut conn,
                    &NewMessage {
                        kind: OutboxKind::Email,
                        idempotency_key: format!("load:{i}"),
                        recipient: format!("patient{i}@example.com"),
                        message: referral_notify::Message::RewardEarned(
                            referral_notify::messages::RewardNotice {
                                reward_description: "$5.00 account credit".into(),
                                pending_approval: false,
                                reward_id: uuid::Uuid::new_v4(),
                                referral_id: uuid::Uuid::new_v4(),
                                locale: Default::default(),
                            },
                        ),
                    },
                    Utc::now(),
                )
                .unwrap();
            }
        }
        // A second worker: its own pool and notifier, as another process would have.
        let mut args = referral_api::config::ServeArgs::for_tests(&app.db.url, SECRET);
        args.sendgrid_api_key = Some("sg-test".into());
        args.sendgrid_base_url = sendgrid.server.uri();
        let second = referral_api::startup::delivery(
            &args,
            referral_store::open_pool(&app.db.url, 4).unwrap(),
            referral_api::links::LinkKeys::new(
                referral_store::keyring::Keyring::parse(referral_api::config::TEST_DATA_KEYS)
                    .unwrap(),
            ),
        )
        .unwrap();
        let barrier = std::sync::Barrier::new(2);
        let now = Utc::now();
        let (a, b) = std::thread::scope(|s| {
            let first = s.spawn(|| {
                barrier.wait();
                app.delivery.drain(now, 100).unwrap()
            });
            let other = s.spawn(|| {
                barrier.wait();
                second.drain(now, 100).unwrap()
            });
            (first.join().unwrap(), other.join().unwrap())
        });
        assert_eq!(a.sent + b.sent, 200, "{a:?} {b:?}");
        let keys: Vec<String> = sendgrid
            .json_bodies()
            .iter()
            .map(|b| {
                b["personalizations"][0]["custom_args"]["idempotency_key"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(keys.len(), 200, "one request per message");
        assert_eq!(
            keys.iter().collect::<HashSet<_>>().len(),
            200,
            "no message twice"
        );
        assert_eq!(notifications(&app, "sent")["total"], 200);
    }
);

both_databases!(
    a_worker_that_dies_leaves_its_messages_for_after_the_lease,
    owned,
    |db| {
        let sendgrid = Provider::start();
        sendgrid.answer("/v3/mail/send", 202, None, 1);
        let app = with_providers(db, &sendgrid);
        app.program(json!({}));
        invite(&app, &app.patient("alice"), "bob@example.com");
        let now = Utc::now();
        // A worker claims the message with the service's lease and dies before delivering
        // it: another worker sends it within a minute.
        let lease = referral_api::delivery::LEASE_SECONDS;
        assert!(lease <= 60);
        let claimed = outbox::claim(&mut app.db.conn(), 10, Duration::seconds(lease), now).unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(
            deliver(&app, now + Duration::seconds(lease / 2)).claimed,
            0,
            "the lease holds"
        );
        let report = deliver(&app, now + Duration::seconds(lease + 1));
        assert_eq!(report.sent, 1, "{report:?}");
        assert_eq!(sendgrid.requests().len(), 1);
    }
);

both_databases!(sms_invitations_need_consent_and_go_to_twilio, owned, |db| {
    let twilio = Provider::start();
    twilio.answer("/2010-04-01/Accounts/AC1/Messages.json", 201, None, 1);
    let app = with_providers(db, &twilio);
    app.program(json!({}));
    let alice = app.patient("alice");
    let body = json!({"referee_email": "bob@example.com", "referee_phone": "+1 (415) 555-0100",
                      "referral_source": "sms"});
    let problem = assert_problem(
        app.post(Some(&alice), "/api/patients/me/referrals", body.clone()),
        422,
        "validation_failed",
    );
    assert_eq!(problem["errors"][0]["field"], "sms_consent", "{problem}");
    let mut with_consent = body;
    with_consent["sms_consent"] = json!(true);
    let response = app.post(Some(&alice), "/api/patients/me/referrals", with_consent);
    assert_eq!(response.status(), 201);
    let created: Value = response.json().unwrap();
    assert!(created["sms_link"].is_null(), "the platform sends this one");
    assert_eq!(deliver(&app, Utc::now()).sent, 1);
    let requests = twilio.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].headers.get("authorization").unwrap(),
        "Basic QUMxOnR3LXRlc3Q="
    );
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&requests[0].body)
        .into_owned()
        .collect();
    assert!(
        form.contains(&("To".into(), "+14155550100".into())),
        "{form:?}"
    );
    let text = &form.iter().find(|(k, _)| k == "Body").unwrap().1;
    assert!(
        text.chars().count() <= 320 && text.contains("may get a reward"),
        "{text}"
    );
    // The attestation is kept as evidence: who, when, the exact words, the number, where.
    let mut conn = app.db.conn();
    let kept: Vec<(Option<String>, String, Option<String>)> = {
        use diesel::prelude::*;
        use referral_store::schema::sms_consents;
        sms_consents::table
            .select((
                sms_consents::phone_hash,
                sms_consents::wording,
                sms_consents::user_agent,
            ))
            .load::<(Option<String>, String, Option<String>)>(&mut **conn)
            .unwrap()
    };
    assert_eq!(kept.len(), 1);
    // The number as its keyed hash (#30).
    assert!(app
        .state
        .links
        .recipient_hashes("+14155550100")
        .contains(kept[0].0.as_ref().unwrap()));
    assert_eq!(kept[0].1, referral_domain::consent::SMS_CONSENT_WORDING);
});

both_databases!(
    a_program_may_leave_texts_to_the_patients_phone,
    owned,
    |db| {
        let twilio = Provider::start();
        twilio.answer("/2010-04-01/Accounts/AC1/Messages.json", 201, None, 1);
        let app = with_providers(db, &twilio);
        let program = app.program(json!({"sms_delivery": "patient_device"}));
        assert_eq!(program["sms_delivery"], "patient_device");
        let alice = app.patient("alice");
        let created: Value = app
            .post(
                Some(&alice),
                "/api/patients/me/referrals",
                json!({"referee_email": "bob@example.com", "referee_phone": "+14155550100",
                   "referral_source": "sms", "sms_consent": true}),
            )
            .json()
            .unwrap();
        // Nothing leaves the platform; the patient gets a link that opens their messages.
        assert_eq!(deliver(&app, Utc::now()).sent, 0);
        assert!(twilio.requests().is_empty());
        let link = created["sms_link"].as_str().unwrap();
        assert!(link.starts_with("sms:+14155550100?body="), "{link}");
        assert!(
            link.contains("I%20may%20get%20a%20reward%20if%20you%20join."),
            "{link}"
        );
        let code = created["referral_code"].as_str().unwrap();
        assert!(link.contains(code), "the share link is in the text");
        // A text from the patient's own phone is theirs: it needs no consent attested to
        // the platform (#32: the domain's one rule, `consent::needs_sms_consent`).
        let without = app.post(
            Some(&alice),
            "/api/patients/me/referrals",
            json!({"referee_email": "carol@example.com", "referee_phone": "+14155550101",
               "referral_source": "sms"}),
        );
        assert_eq!(without.status(), 201, "{:?}", without.text());
        let without: Value = without.json().unwrap();
        assert!(without["sms_link"]
            .as_str()
            .unwrap()
            .starts_with("sms:+14155550101?body="));
        let mut conn = app.db.conn();
        let (sent, attested): (i64, i64) = {
            use diesel::prelude::*;
            (
                referral_store::schema::outbox::table
                    .count()
                    .get_result(&mut **conn)
                    .unwrap(),
                referral_store::schema::sms_consents::table
                    .count()
                    .get_result(&mut **conn)
                    .unwrap(),
            )
        };
        assert_eq!(sent, 0);
        assert_eq!(
            attested, 0,
            "no consent stored for texts the platform never sends"
        );
        let bad = assert_problem(
            app.post(
                Some(&app.admin()),
                "/api/referral-programs",
                json!({"name": "Texts", "sms_delivery": "carrier_pigeon"}),
            ),
            422,
            "validation_failed",
        );
        assert_eq!(bad["errors"][0]["field"], "sms_delivery");
    }
);

both_databases!(
    rewards_queue_their_notices_and_an_approved_cash_reward_its_payout,
    owned,
    |db| {
        let stripe = Provider::start();
        stripe.answer("/v3/mail/send", 202, None, 1);
        Provider::answer(&stripe, "/v1/transfers", 200, None, 1);
        let app = with_providers(db, &stripe);
        app.program(
            json!({"referrer_reward_type": "cash", "referrer_reward_value": "50.00",
                       "referee_reward_type": "credit", "referee_reward_value": "10.00"}),
        );
        let alice = app.patient("alice");
        let referral = app.refers(&alice, "bob@example.com");
        let code = referral["referral_code"].as_str().unwrap();
        let registration = app.registers(code, "bob@example.com");
        let bob = registration["patient_id"].as_str().unwrap().to_owned();
        let response = app.post(
            Some(&app.service()),
            "/api/events/consultations",
            json!({"patient_id": bob, "consultation_id": uuid::Uuid::new_v4()}),
        );
        assert!(response.status().is_success(), "{:?}", response.text());
        let approve = app.post(
            Some(&app.admin()),
            &format!(
                "/api/referrals/{}/approve-reward",
                referral["id"].as_str().unwrap()
            ),
            json!({"approve": true}),
        );
        assert_eq!(approve.status(), 200, "{:?}", approve.text());
        // The referrer's notice goes with the week's release.
        app.release_rewards();
        let report = deliver(&app, Utc::now());
        // The registration's confirmation link, the welcome bonus (referee), reward earned
        // (referrer), and the payout, which lacks the patient's connected Stripe account
        // and fails with that reason.
        assert_eq!((report.sent, report.failed), (3, 1), "{report:?}");
        let subjects: HashSet<String> = stripe
            .json_bodies()
            .iter()
            .map(|b| b["subject"].as_str().unwrap().to_owned())
            .collect();
        assert!(
            subjects.contains("Welcome to Zappy Health: your welcome bonus is here"),
            "{subjects:?}"
        );
        assert!(
            subjects.contains("You earned a referral reward"),
            "{subjects:?}"
        );
        let failed = notifications(&app, "failed");
        assert_eq!(failed["items"][0]["template"], "cash_payout");
        assert_eq!(
            failed["items"][0]["last_error"],
            "the message is incomplete: stripe_account"
        );
    }
);

both_databases!(
    without_provider_keys_messages_land_in_the_mailbox,
    owned,
    |db| {
        let app = spawn(db);
        app.program(json!({"referee_reward_type": "credit", "referee_reward_value": "10.00"}));
        let alice = app.patient("alice");
        let referral = invite(&app, &alice, "bob@example.com");
        let report = deliver(&app, Utc::now());
        assert_eq!(report.sent, 1, "{report:?}");
        let files: Vec<std::path::PathBuf> = std::fs::read_dir(app.mailbox.path().join("outbox"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        assert!(files[0].to_string_lossy().ends_with(".eml"));
        let eml = std::fs::read_to_string(&files[0]).unwrap();
        assert!(eml.contains("To: bob@example.com"));
        assert!(eml.contains("$10.00 account credit"));
        assert!(eml.contains(referral["referral_code"].as_str().unwrap()));
        // Sent to the mailbox is sent: recorded, and not written again.
        assert_eq!(notifications(&app, "sent")["total"], 1);
        assert_eq!(deliver(&app, Utc::now() + Duration::hours(1)).claimed, 0);
    }
);

both_databases!(rewards_about_to_expire_get_one_reminder, owned, |db| {
    let app = spawn(db);
    app.program(json!({"reward_validity_days": 10}));
    let alice = app.patient("alice");
    let referral = app.refers(&alice, "bob@example.com");
    let registration = app.registers(
        referral["referral_code"].as_str().unwrap(),
        "bob@example.com",
    );
    app.post(
        Some(&app.service()),
        "/api/events/consultations",
        json!({"patient_id": registration["patient_id"], "consultation_id": uuid::Uuid::new_v4()}),
    );
    let pool = &app.state.pool;
    // After the week's release (the referrer's validity counts from it), with a notice
    // long enough for both rewards.
    let now = app.release_rewards();
    let first = referral_api::workers::sweep_once(pool, 14, now).unwrap();
    assert_eq!(
        first.reminders_queued, 2,
        "the referrer's and the referee's rewards"
    );
    let again = referral_api::workers::sweep_once(pool, 14, now + Duration::hours(1)).unwrap();
    assert_eq!(again.reminders_queued, 0, "once per reward");
    let report = deliver(&app, now);
    assert!(report.sent >= 2, "{report:?}");
    let reminders = std::fs::read_dir(app.mailbox.path().join("outbox"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .filter(|eml| eml.contains("Subject: Your Zappy Health reward expires on"))
        .count();
    assert_eq!(reminders, 2);
});

/// Signs a Twilio webhook as Twilio does (HMAC-SHA1 of the URL and the sorted parameters).
fn twilio_signed(url: &str, params: &[(&str, &str)], token: &str) -> String {
    use base64::Engine;
    let mut sorted = params.to_vec();
    sorted.sort();
    let signed: String = std::iter::once(url.to_owned())
        .chain(sorted.iter().map(|(k, v)| format!("{k}{v}")))
        .collect();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, token.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(ring::hmac::sign(&key, signed.as_bytes()))
}

both_databases!(provider_webhooks_feed_the_suppression_list, owned, |db| {
    use base64::Engine;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
    let provider = Provider::start();
    provider.answer("/v3/mail/send", 202, None, 1);
    provider.answer("/2010-04-01/Accounts/AC1/Messages.json", 201, None, 1);
    // SendGrid's key pair, made here; the service gets the public half as SendGrid shows it.
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let mut spki = hex_bytes("3059301306072a8648ce3d020106082a8648ce3d030107034200");
    spki.extend_from_slice(pair.public_key().as_ref());
    let public_key = base64::engine::general_purpose::STANDARD.encode(&spki);
    let app = with_providers_and(db, &provider, |args| {
        args.sendgrid_webhook_public_key = Some(public_key);
    });
    app.program(json!({}));
    let alice = app.patient("alice");

    // Bob texts STOP: signed by Twilio, his number is suppressed.
    let stop = [
        ("From", "+14155550100"),
        ("To", "+15005550006"),
        ("Body", "Stop"),
        ("MessageSid", "SM1"),
    ];
    let url = format!(
        "{}/api/webhooks/twilio",
        app.state.public_base_url.trim_end_matches('/')
    );
    let twilio = |signature: Option<String>| {
        let mut request = app.client.post(app.url("/api/webhooks/twilio")).form(&stop);
        if let Some(s) = signature {
            request = request.header("x-twilio-signature", s);
        }
        request.send().unwrap()
    };
    assert_problem(twilio(None), 403, "forbidden");
    assert_problem(
        twilio(Some(twilio_signed(&url, &stop, "wrong-token"))),
        403,
        "forbidden",
    );
    let accepted = twilio(Some(twilio_signed(&url, &stop, "tw-test")));
    assert_eq!(accepted.status(), 200);
    assert!(accepted.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/xml"));
    // The same signed request again is a replay: refused (#30).
    assert_problem(
        twilio(Some(twilio_signed(&url, &stop, "tw-test"))),
        403,
        "forbidden",
    );

    // Dora's address bounced: SendGrid's signed event says so.
    let events = serde_json::to_vec(&json!([
        {"email": "Dora@Example.com", "event": "bounce", "type": "bounce"},
        {"email": "erin@example.com", "event": "delivered"},
    ]))
    .unwrap();
    let sign = |timestamp: &str, signed_body: &[u8]| {
        let signed: Vec<u8> = [timestamp.as_bytes(), signed_body].concat();
        base64::engine::general_purpose::STANDARD.encode(pair.sign(&rng, &signed).unwrap().as_ref())
    };
    let send = |timestamp: &str, body: &[u8], signature: &str| {
        app.client
            .post(app.url("/api/webhooks/sendgrid"))
            .header("content-type", "application/json")
            .header("x-twilio-email-event-webhook-signature", signature)
            .header("x-twilio-email-event-webhook-timestamp", timestamp)
            .body(body.to_vec())
            .send()
            .unwrap()
    };
    let now = app.state.now().timestamp();
    let at = |offset: i64| (now + offset).to_string();
    assert_problem(
        send(&at(0), b"[]", &sign(&at(0), &events)),
        403,
        "forbidden",
    );
    // Signed more than five minutes ago, or ahead: refused, and nothing is suppressed.
    for offset in [-301, 301] {
        let refused = send(&at(offset), &events, &sign(&at(offset), &events));
        assert_problem(refused, 403, "forbidden");
    }
    let signature = sign(&at(-290), &events);
    let accepted = send(&at(-290), &events, &signature);
    assert_eq!(accepted.status(), 200);
    assert_eq!(accepted.json::<Value>().unwrap()["suppressed"], 1);
    // The very same request, replayed within its window: refused.
    assert_problem(send(&at(-290), &events, &signature), 403, "forbidden");

    // Invitations to both are not sent; Erin's is.
    let texted = app.post(
        Some(&alice),
        "/api/patients/me/referrals",
        json!({"referee_email": "bob@example.com", "referee_phone": "+14155550100",
               "referral_source": "sms", "sms_consent": true}),
    );
    assert_eq!(texted.status(), 201);
    invite(&app, &alice, "dora@example.com");
    invite(&app, &alice, "erin@example.com");
    let report = deliver(&app, Utc::now());
    assert_eq!((report.sent, report.suppressed), (1, 2), "{report:?}");
});

both_databases!(unconfigured_provider_webhooks_accept_nothing, owned, |db| {
    let app = spawn(db);
    for path in ["/api/webhooks/twilio", "/api/webhooks/sendgrid"] {
        let response = app
            .client
            .post(app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("Body=STOP&From=%2B14155550100")
            .send()
            .unwrap();
        assert_problem(response, 404, "not_found");
    }
});

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}
