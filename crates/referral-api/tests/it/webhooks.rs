//! Signed outbound webhooks (#24) over real HTTP on both databases: every event type reaches
//! a receiver that verifies it with the Standard Webhooks reference library (Python
//! `standardwebhooks`, from PyPI) and with its Rust library; retries keep their
//! `webhook-id`; a rotation signs with both secrets; request forgery is refused.

use crate::support::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use uuid::Uuid;

/// The Python that has `standardwebhooks` (CI: `.ci/run` installs it, pinned), or `None`
/// (the test then skips, unless `REQUIRE_STANDARDWEBHOOKS` is set).
fn python() -> Option<String> {
    crate::support::python_with(
        "standardwebhooks",
        "STANDARDWEBHOOKS_PYTHON",
        "REQUIRE_STANDARDWEBHOOKS",
        "standardwebhooks==1.1.0",
    )
}

/// The Python receiver, killed on drop.
struct Receiver {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Receiver {
    fn start(python: &str, fail_first: u32) -> Receiver {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secrets"), "").unwrap();
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/it/support_files/webhook_receiver.py"
        );
        let mut child = Command::new(python)
            .arg(script)
            .arg(dir.path().join("secrets"))
            .arg(dir.path().join("log"))
            .arg(fail_first.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Receiver {
            child,
            port: line.trim().parse().unwrap(),
            dir,
        }
    }

    fn trust(&self, secrets: &[&str]) {
        std::fs::write(self.dir.path().join("secrets"), secrets.join("\n")).unwrap();
    }

    fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks", self.port)
    }
}

fn local_hooks(db: referral_store::testing::TestDb) -> TestApp {
    spawn_with(db, |args| args.webhooks_allow_private = true)
}

/// Delivers everything due now, then again an hour later (retries).
fn deliver(app: &TestApp, later: chrono::Duration) {
    app.delivery.drain(chrono::Utc::now() + later, 50).unwrap();
}

both_databases!(
    every_event_arrives_signed_and_verified_by_the_reference_library,
    owned,
    |db: referral_store::testing::TestDb| {
        let Some(python) = python() else { return };
        let app = &local_hooks(db);
        let receiver = Receiver::start(&python, 0);
        let admin = app.admin();
        let all: Vec<&str> = referral_domain::webhook::WebhookEventType::ALL
            .iter()
            .map(|t| t.as_str())
            .collect();
        let created = app.post(
            Some(&admin),
            "/api/webhooks",
            json!({"url": receiver.url(), "events": all, "description": "billing"}),
        );
        assert_eq!(created.status(), 201, "{:?}", created.text());
        let endpoint: Value = created.json().unwrap();
        let secret = endpoint["secret"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("whsec_"));
        receiver.trust(&[&secret]);
        // The secret is shown once.
        let read: Value = app
            .get(
                Some(&admin),
                &format!("/api/webhooks/{}", endpoint["id"].as_str().unwrap()),
            )
            .json()
            .unwrap();
        assert!(read.get("secret").is_none(), "{read}");

        // A program with a 1-day hold and a cash referee reward: every event type happens.
        app.program(json!({"reward_hold_days": 1, "referee_reward_type": "cash", "referee_reward_value": "10.00"}));
        let alice = app.patient("alice");
        let service = app.service();
        // Friends who let Alice know they joined: `referral.registered` goes out only then
        // (#30).
        let join = |friend: &str| -> Value {
            let email = format!("{friend}@example.org");
            let referral = app.refers(&alice, &email);
            app.registers_with(
                referral["referral_code"].as_str().unwrap(),
                json!({"email": email, "share_with_referrer": true}),
            )
        };
        let bob = join("bob");
        let order = Uuid::new_v4();
        let converted: Value = app
            .post(
                Some(&service),
                "/api/events/orders",
                json!({"patient_id": bob["patient_id"], "order_id": order, "amount": "50.00"}),
            )
            .json()
            .unwrap();
        assert_eq!(converted["referrer_reward"]["status"], "held");
        let frank = join("frank");
        app.post(Some(&service), "/api/events/orders",
            json!({"patient_id": frank["patient_id"], "order_id": Uuid::new_v4(), "amount": "50.00"}));
        // The holds end; Bob's reward is used, Frank's will expire.
        referral_store::rewards::release_due(
            &mut app.db.conn(),
            chrono::Utc::now() + chrono::Duration::days(2),
        )
        .unwrap();
        let reward = converted["referrer_reward"]["id"].as_str().unwrap();
        assert_eq!(
            app.post(
                Some(&alice),
                &format!("/api/rewards/{reward}/redeem"),
                json!({"order_id": Uuid::new_v4()})
            )
            .status(),
            200
        );
        // Carol's conversion is reversed: her referral, and its reward, cancelled.
        let carol = join("carol");
        let carol_order = Uuid::new_v4();
        app.post(
            Some(&service),
            "/api/events/orders",
            json!({"patient_id": carol["patient_id"], "order_id": carol_order, "amount": "50.00"}),
        );
        app.post(Some(&service), "/api/events/refunds",
            json!({"patient_id": carol["patient_id"], "order_id": carol_order, "refund_id": Uuid::new_v4(), "amount": "50.00"}));
        // A withheld reward (a federal-payer friend), and an expiry.
        let dan = join("dan");
        app.put(
            Some(&service),
            &format!(
                "/api/patients/{}/facts",
                dan["patient_id"].as_str().unwrap()
            ),
            json!({"federal_payer": true}),
        );
        app.post(
            Some(&service),
            "/api/events/consultations",
            json!({"patient_id": dan["patient_id"], "consultation_id": Uuid::new_v4()}),
        );
        app.post(
            Some(&admin),
            &format!(
                "/api/referrals/{}/approve-reward",
                bob["referral"]["id"].as_str().unwrap()
            ),
            json!({"approve": true}),
        );
        referral_store::rewards::release_due(
            &mut app.db.conn(),
            chrono::Utc::now() + chrono::Duration::days(2),
        )
        .unwrap();
        referral_store::rewards::expire_due(
            &mut app.db.conn(),
            chrono::Utc::now() + chrono::Duration::days(400),
        )
        .unwrap();

        // Some events were written at the later times the sweeps ran at.
        deliver(app, chrono::Duration::days(401));
        let received = receiver.received();
        let types: std::collections::BTreeSet<String> = received
            .iter()
            .map(|r| r["body"]["type"].as_str().unwrap().to_owned())
            .collect();
        for t in &all {
            assert!(types.contains(*t), "{t} never arrived: {types:?}");
        }
        for r in &received {
            assert_eq!(r["verified"], json!([true]), "{r}");
            let text = r["body"].to_string();
            // Nothing personal, and no reason (a payer, a state, a refund) (#30).
            for personal in ["@example", "alice", "Bob", "message", "_reason", "federal"] {
                assert!(!text.contains(personal), "{personal} in {text}");
            }
            assert!(r["webhook_id"].as_str().unwrap().starts_with("msg_"));
        }
        let deliveries: Value = app
            .get(
                Some(&admin),
                &format!(
                    "/api/webhooks/{}/deliveries?limit=500",
                    endpoint["id"].as_str().unwrap()
                ),
            )
            .json()
            .unwrap();
        assert_eq!(
            deliveries["total"].as_u64().unwrap() as usize,
            received.len()
        );
        assert!(deliveries["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] == "sent"));

        // A rotation: both secrets sign for a day.
        let rotated: Value = app
            .post(
                Some(&admin),
                &format!(
                    "/api/webhooks/{}/rotate-secret",
                    endpoint["id"].as_str().unwrap()
                ),
                json!({}),
            )
            .json()
            .unwrap();
        let new_secret = rotated["secret"].as_str().unwrap().to_owned();
        assert_ne!(new_secret, secret);
        receiver.trust(&[&secret, &new_secret]);
        app.refers(&alice, "erin@example.org");
        deliver(app, chrono::Duration::zero());
        let last = receiver.received().last().unwrap().clone();
        assert_eq!(last["body"]["type"], "referral.created");
        assert_eq!(last["verified"], json!([true, true]), "{last}");

        // The old secret revoked at once (it leaked): the next delivery is signed by the
        // new one alone, well within the day it would still have signed.
        let id = endpoint["id"].as_str().unwrap();
        assert!(rotated["previous_secret_until"].is_string(), "{rotated}");
        let revoked = app.delete(Some(&admin), &format!("/api/webhooks/{id}/previous-secret"));
        assert_eq!(revoked.status(), 200);
        let revoked: Value = revoked.json().unwrap();
        assert!(revoked["previous_secret_until"].is_null(), "{revoked}");
        assert!(revoked.get("secret").is_none(), "{revoked}");
        app.refers(&alice, "fay@example.org");
        deliver(app, chrono::Duration::zero());
        let last = receiver.received().last().unwrap().clone();
        assert_eq!(last["verified"], json!([false, true]), "{last}");
        let patient = app.patient("mallory");
        assert_problem(
            app.delete(
                Some(&patient),
                &format!("/api/webhooks/{id}/previous-secret"),
            ),
            403,
            "forbidden",
        );
        assert_problem(
            app.delete(
                Some(&admin),
                &format!("/api/webhooks/{}/previous-secret", uuid::Uuid::new_v4()),
            ),
            404,
            "not_found",
        );
    }
);

both_databases!(
    an_allow_list_of_webhook_hosts_holds_at_creation_and_at_delivery,
    owned,
    |db: referral_store::testing::TestDb| {
        let app = &spawn_with(db, |args| {
            args.webhook_hosts = vec!["hooks.example.com".into(), "*.partner.example".into()]
        });
        let admin = app.admin();
        for url in [
            "https://other.example.com/x",
            "https://hooks.example.com.evil.example/x",
            "https://partner.example/x",
        ] {
            let refused = app.post(
                Some(&admin),
                "/api/webhooks",
                json!({"url": url, "events": ["referral.created"]}),
            );
            assert_eq!(refused.status(), 422, "{url}");
            let body = refused.text().unwrap();
            assert!(body.contains("allow-list"), "{body}");
        }
        for url in [
            "https://hooks.example.com/x",
            "https://eu.partner.example/x",
        ] {
            let ok = app.post(
                Some(&admin),
                "/api/webhooks",
                json!({"url": url, "events": ["referral.created"]}),
            );
            assert_eq!(ok.status(), 201, "{url}");
        }
        // A row changed by hand (or a list narrowed since) is refused when delivered, and
        // never retried.
        {
            use diesel::prelude::*;
            use referral_store::schema::webhook_endpoints;
            diesel::update(webhook_endpoints::table)
                .set(webhook_endpoints::url.eq("https://elsewhere.example.net/x"))
                .execute(&mut **app.db.conn())
                .unwrap();
        }
        app.program(json!({}));
        let alice = app.patient("alice");
        app.refers(&alice, "bob@example.org");
        deliver(app, chrono::Duration::zero());
        let endpoints: Value = app.get(Some(&admin), "/api/webhooks").json().unwrap();
        for endpoint in endpoints["items"].as_array().unwrap() {
            let deliveries: Value = app
                .get(
                    Some(&admin),
                    &format!(
                        "/api/webhooks/{}/deliveries",
                        endpoint["id"].as_str().unwrap()
                    ),
                )
                .json()
                .unwrap();
            let item = &deliveries["items"][0];
            assert_eq!(item["status"], "failed", "{deliveries}");
            assert!(
                item["last_error"].as_str().unwrap().contains("allow-list"),
                "{deliveries}"
            );
        }
    }
);

both_databases!(
    retries_keep_their_webhook_id_and_a_failing_endpoint_is_disabled_after_a_day,
    owned,
    |db: referral_store::testing::TestDb| {
        let Some(python) = python() else { return };
        let app = &local_hooks(db);
        let receiver = Receiver::start(&python, 2);
        let admin = app.admin();
        let endpoint: Value = app
            .post(
                Some(&admin),
                "/api/webhooks",
                json!({"url": receiver.url(), "events": ["referral.created"]}),
            )
            .json()
            .unwrap();
        receiver.trust(&[endpoint["secret"].as_str().unwrap()]);
        app.program(json!({}));
        let alice = app.patient("alice");
        app.refers(&alice, "bob@example.org");
        // Answered 500 twice, then 200: three attempts, one webhook-id.
        for hours in [0, 1, 3] {
            deliver(app, chrono::Duration::hours(hours));
        }
        let received = receiver.received();
        assert_eq!(received.len(), 3, "{received:?}");
        let statuses: Vec<u64> = received
            .iter()
            .map(|r| r["status"].as_u64().unwrap())
            .collect();
        assert_eq!(statuses, [500, 500, 200]);
        assert!(received
            .iter()
            .all(|r| r["webhook_id"] == received[0]["webhook_id"]));
        assert!(received.iter().all(|r| r["verified"] == json!([true])));

        // An endpoint that fails for a day in a row is disabled, and says why.
        let id = endpoint["id"].as_str().unwrap();
        app.put(
            Some(&admin),
            &format!("/api/webhooks/{id}"),
            json!({"url": "http://127.0.0.1:9/unreachable", "events": ["referral.created"]}),
        );
        app.refers(&alice, "carol@example.org");
        for hours in [0, 2, 6, 12, 25] {
            deliver(app, chrono::Duration::hours(hours));
        }
        let read: Value = app
            .get(Some(&admin), &format!("/api/webhooks/{id}"))
            .json()
            .unwrap();
        assert_eq!(read["enabled"], false, "{read}");
        assert!(read["disabled_reason"]
            .as_str()
            .unwrap()
            .starts_with("failing since"));
        // Redelivery of a sent event queues it again with the same id.
        let deliveries: Value = app
            .get(Some(&admin), &format!("/api/webhooks/{id}/deliveries"))
            .json()
            .unwrap();
        let sent = deliveries["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["status"] == "sent")
            .unwrap();
        assert_eq!(
            app.post(
                Some(&admin),
                &format!(
                    "/api/webhooks/{id}/deliveries/{}/redeliver",
                    sent["id"].as_str().unwrap()
                ),
                json!({})
            )
            .status(),
            202
        );
    }
);

both_databases!(
    endpoints_must_be_public_https_and_admins_only,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        let admin = app.admin();
        for url in [
            "http://hooks.example.com/x",
            "https://127.0.0.1/x",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.5/x",
            "https://[::1]/x",
            "https://localhost/x",
        ] {
            assert_problem(
                app.post(
                    Some(&admin),
                    "/api/webhooks",
                    json!({"url": url, "events": ["referral.created"]}),
                ),
                422,
                "validation_failed",
            );
        }
        assert_problem(
            app.post(
                Some(&admin),
                "/api/webhooks",
                json!({"url": "https://hooks.example.com/x", "events": ["referral.nope"]}),
            ),
            422,
            "validation_failed",
        );
        let ok = app.post(
            Some(&admin),
            "/api/webhooks",
            json!({"url": "https://hooks.example.com/x", "events": ["reward.granted"]}),
        );
        assert_eq!(ok.status(), 201);
        // The secret is stored sealed with the data keyring: the database alone cannot sign.
        let ok: Value = ok.json().unwrap();
        let shown = ok["secret"]
            .as_str()
            .unwrap()
            .trim_start_matches("whsec_")
            .to_owned();
        let stored: Vec<String> = {
            use diesel::prelude::*;
            use referral_store::schema::webhook_endpoints;
            let mut conn = app.db.conn();
            webhook_endpoints::table
                .select(webhook_endpoints::secret)
                .load(&mut **conn)
                .unwrap()
        };
        assert!(
            stored
                .iter()
                .all(|s| s.starts_with("sealed:v1:") && !s.contains(&shown)),
            "{stored:?}"
        );
        let patient = app.patient("alice");
        assert_problem(app.get(Some(&patient), "/api/webhooks"), 403, "forbidden");
    }
);

both_databases!(
    the_portal_adds_changes_switches_rotates_and_tests_an_endpoint,
    owned,
    |db: referral_store::testing::TestDb| {
        let Some(python) = python() else { return };
        let app = &spawn_site(db, |args, base| {
            args.demo_sign_in = true;
            args.public_base_url = base.to_owned();
            args.webhooks_allow_private = true;
        });
        // The receiver refuses the first delivery: the page shows its answer and the retry.
        let receiver = Receiver::start(&python, 1);
        let admin = crate::pages::Visitor::new(app);
        admin.sign_in_as("admin");
        let form = admin.get("/portal/webhooks/new");
        assert_eq!(form.status, 200, "{}", form.body);
        assert!(form.body.contains("Events it receives"));
        // Every problem at once, in the form's words.
        let refused = admin.post(
            "/portal/webhooks",
            &[("url", "ftp://nowhere"), ("description", "")],
        );
        assert_eq!(refused.status, 422, "{}", refused.body);
        assert!(
            refused.body.contains("Fix the 2 problems below"),
            "{}",
            refused.body
        );
        assert!(refused.body.contains("href=\"#url\">Endpoint URL</a>"));
        assert!(refused.body.contains("href=\"#events\">Events</a>"));
        let url = receiver.url();
        let created = admin.post(
            "/portal/webhooks",
            &[
                ("url", &url),
                ("events", "referral.created"),
                ("description", "billing"),
                ("enabled", "1"),
            ],
        );
        assert_eq!(created.status, 201, "{}", created.body);
        let secret_of = |body: &str| {
            let at = body
                .find("value=\"whsec_")
                .expect("the secret is shown once")
                + 7;
            // As a browser reads the attribute: Handlebars escapes `=` and `/`.
            body[at..]
                .split('"')
                .next()
                .unwrap()
                .replace("&#x3D;", "=")
                .replace("&#x2F;", "/")
                .replace("&#x60;", "`")
        };
        let secret = secret_of(&created.body);
        receiver.trust(&[&secret]);
        let listed: Value = app.get(Some(&app.admin()), "/api/webhooks").json().unwrap();
        let id = listed["items"][0]["id"].as_str().unwrap().to_owned();
        let page = admin.get("/portal/webhooks");
        assert!(page.body.contains("billing") && page.body.contains(&url));
        assert!(!page.body.contains("whsec_"), "never shown again");

        // A test event: refused once (its answer and next attempt shown), then delivered.
        let tested = admin.post(&format!("/portal/webhooks/{id}/test"), &[]);
        assert_eq!(
            tested.location.as_deref(),
            Some("/portal/webhooks?done=tested")
        );
        deliver(app, chrono::Duration::zero());
        let deliveries: Value = app
            .get(
                Some(&app.admin()),
                &format!("/api/webhooks/{id}/deliveries"),
            )
            .json()
            .unwrap();
        let failing = &deliveries["items"][0];
        assert_eq!(failing["event_type"], "webhook.test");
        assert_eq!(failing["status"], "queued", "{failing}");
        assert!(
            failing["last_error"].as_str().unwrap().contains("500"),
            "{failing}"
        );
        let next = failing["next_attempt_at"].as_str().unwrap();
        let page = admin.get("/portal/webhooks");
        assert!(
            page.body
                .contains(&format!("<time datetime=\"{}", &next[..16])),
            "{}",
            page.body
        );
        assert!(page.body.contains(failing["last_error"].as_str().unwrap()));
        // The first retry is due within 30 seconds; a minute on stays within the
        // library's five-minute timestamp tolerance.
        deliver(app, chrono::Duration::minutes(1));
        let received = receiver.received();
        let delivered = received.last().unwrap();
        assert_eq!(delivered["status"], 200, "{received:?}");
        assert_eq!(delivered["body"]["type"], "webhook.test");
        assert_eq!(
            delivered["verified"],
            json!([true]),
            "signed as every event"
        );

        // Changed from its form.
        let edit = admin.get(&format!("/portal/webhooks/{id}/edit"));
        assert!(edit.body.contains("value=\"billing\""), "{}", edit.body);
        let saved = admin.post(
            &format!("/portal/webhooks/{id}"),
            &[
                ("url", &url),
                ("events", "referral.created"),
                ("events", "reward.granted"),
                ("description", "billing v2"),
                ("enabled", "1"),
            ],
        );
        assert_eq!(
            saved.location.as_deref(),
            Some("/portal/webhooks?done=saved"),
            "{}",
            saved.body
        );
        let read: Value = app
            .get(Some(&app.admin()), &format!("/api/webhooks/{id}"))
            .json()
            .unwrap();
        assert_eq!(
            read["events"],
            json!(["referral.created", "reward.granted"])
        );
        assert_eq!(read["description"], "billing v2");

        // Turned off and on.
        let off = admin.post(
            &format!("/portal/webhooks/{id}/enabled"),
            &[("enabled", "0")],
        );
        assert_eq!(
            off.location.as_deref(),
            Some("/portal/webhooks?done=disabled")
        );
        let read: Value = app
            .get(Some(&app.admin()), &format!("/api/webhooks/{id}"))
            .json()
            .unwrap();
        assert_eq!(read["enabled"], false);
        assert_eq!(
            read["events"],
            json!(["referral.created", "reward.granted"]),
            "kept"
        );
        admin.post(
            &format!("/portal/webhooks/{id}/enabled"),
            &[("enabled", "1")],
        );
        let read: Value = app
            .get(Some(&app.admin()), &format!("/api/webhooks/{id}"))
            .json()
            .unwrap();
        assert_eq!(read["enabled"], true);

        // Rotated: a new secret, shown once; the old one still signs for a day.
        let rotated = admin.post(&format!("/portal/webhooks/{id}/rotate"), &[]);
        assert_eq!(rotated.status, 200, "{}", rotated.body);
        let fresh = secret_of(&rotated.body);
        assert_ne!(fresh, secret);
        let read: Value = app
            .get(Some(&app.admin()), &format!("/api/webhooks/{id}"))
            .json()
            .unwrap();
        assert!(read["previous_secret_until"].is_string(), "{read}");

        // Audited, and closed to patients.
        let trail: Value = app
            .get(
                Some(&app.admin()),
                "/api/referrals/audit-trail?action=webhook.test",
            )
            .json()
            .unwrap();
        assert_eq!(trail["total"], 1);
        let patient = crate::pages::Visitor::new(app);
        patient.sign_in_as("patient");
        assert_eq!(patient.get("/portal/webhooks/new").status, 403);
        assert_eq!(
            patient
                .post(&format!("/portal/webhooks/{id}/test"), &[])
                .status,
            403
        );
    }
);

/// The outbox's messages of `kind`, as they stand.
fn outbox_of(
    app: &TestApp,
    kind: referral_store::outbox::OutboxKind,
) -> Vec<referral_store::outbox::OutboxMessage> {
    let page = referral_store::page::Page::new(Some(500), None);
    referral_store::outbox::list(&mut app.db.conn(), None, page)
        .unwrap()
        .items
        .into_iter()
        .filter(|m| m.kind == kind)
        .collect()
}

fn endpoint(app: &TestApp, admin: &Actor, url: &str) -> String {
    let created = app.post(
        Some(admin),
        "/api/webhooks",
        json!({"url": url, "events": ["referral.created"]}),
    );
    assert_eq!(created.status(), 201, "{:?}", created.text());
    created.json::<Value>().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

both_databases!(
    a_silent_endpoint_stalls_no_email_and_a_failing_one_is_held_back,
    owned,
    |db: referral_store::testing::TestDb| {
        use referral_store::outbox::{OutboxKind, OutboxStatus};
        let app = &local_hooks(db);
        let admin = app.admin();
        app.program(json!({}));
        let alice = app.patient("alice");
        // An endpoint that accepts the connection and never answers: its send waits out
        // the 10 s timeout, in the webhook lane.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let silent_id = endpoint(
            app,
            &admin,
            &format!("http://{}/hook", silent.local_addr().unwrap()),
        );
        let _held = std::thread::spawn(move || {
            let held = silent.accept();
            std::thread::sleep(std::time::Duration::from_secs(15));
            drop(held);
        });
        let invited = app.post(
            Some(&alice),
            "/api/patients/me/referrals",
            json!({"referee_email": "bob@example.org", "referral_source": "email"}),
        );
        assert_eq!(invited.status(), 201, "{:?}", invited.text());
        let started = std::time::Instant::now();
        let round = std::thread::scope(|scope| {
            let running = scope.spawn(|| app.delivery.deliver_batch(chrono::Utc::now()));
            let mut sent_after = None;
            while sent_after.is_none() && started.elapsed() < std::time::Duration::from_secs(9) {
                let emails = outbox_of(app, OutboxKind::Email);
                if !emails.is_empty() && emails.iter().all(|m| m.status == OutboxStatus::Sent) {
                    sent_after = Some(started.elapsed());
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            let sent_after = sent_after.unwrap_or_else(|| {
                panic!(
                    "the invitation went out while the webhook hung: {:?}",
                    outbox_of(app, OutboxKind::Email)
                        .iter()
                        .map(|m| (m.status, m.template.clone(), m.attempts))
                        .collect::<Vec<_>>()
                )
            });
            assert!(
                sent_after < std::time::Duration::from_secs(5),
                "{sent_after:?}"
            );
            running.join().unwrap().unwrap()
        });
        assert_eq!(
            (round.claimed, round.sent, round.retried),
            (2, 1, 1),
            "{round:?}"
        );
        let deleted = app.delete(Some(&admin), &format!("/api/webhooks/{silent_id}"));
        assert_eq!(deleted.status(), 204);

        // An endpoint that refuses connections: after three failures in a row its events
        // wait a minute unsent, their attempt not counted.
        let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let refused_url = format!("http://{}/hook", refused.local_addr().unwrap());
        drop(refused);
        endpoint(app, &admin, &refused_url);
        for friend in ["carol", "dave", "erin", "frank", "gina", "hank"] {
            app.refers(&alice, &format!("{friend}@example.org"));
        }
        let now = chrono::Utc::now();
        let round = app.delivery.deliver_batch(now).unwrap();
        assert_eq!(round.claimed, 6, "{round:?}");
        assert_eq!(
            (round.sent, round.retried + round.deferred),
            (0, 6),
            "{round:?}"
        );
        assert!(round.deferred >= 2, "{round:?}");
        let waiting: Vec<_> = outbox_of(app, OutboxKind::Webhook)
            .into_iter()
            .filter(|m| m.status == OutboxStatus::Queued && m.attempts == 0)
            .collect();
        assert_eq!(waiting.len(), round.deferred, "{waiting:?}");
        // Nothing of theirs is tried while the circuit is open.
        let again = app
            .delivery
            .deliver_batch(now + chrono::Duration::seconds(30))
            .unwrap();
        assert_eq!(
            (again.sent, again.retried, again.deferred),
            (0, 0, again.claimed),
            "{again:?}"
        );
    }
);
