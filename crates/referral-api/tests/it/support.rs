//! `TestApp`: the real service on a free port over a throw-away database, and a client that
//! speaks as a patient, a provider, an admin or a platform service.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use referral_api::auth::{Claims, JwtKeys, Role};
use referral_api::config::ServeArgs;
use referral_api::delivery::Delivery;
use referral_api::state::AppState;
use referral_api::{app, startup};
use referral_store::testing::TestDb;
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{json, Value};
use std::sync::Arc;
use uuid::Uuid;

pub const SECRET: &str = "test-secret-test-secret-test-secret!";

pub struct TestApp {
    pub base: String,
    pub state: Arc<AppState>,
    /// The outbox delivery of this service (tests run it by hand: no timer).
    pub delivery: Arc<Delivery>,
    /// Where messages go when no provider is configured.
    pub mailbox: tempfile::TempDir,
    pub client: Client,
    handle: actix_web::dev::ServerHandle,
    pub db: TestDb,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            runtime.block_on(self.handle.stop(false));
        }
    }
}

pub fn spawn(db: TestDb) -> TestApp {
    spawn_with(db, |_| {})
}

pub fn spawn_with(db: TestDb, adjust: impl FnOnce(&mut ServeArgs)) -> TestApp {
    spawn_site(db, |args, _| adjust(args))
}

/// The service whose settings may depend on the address it is served at (`base`): the
/// pages' share links must lead back to it for a browser to follow them.
pub fn spawn_site(db: TestDb, adjust: impl FnOnce(&mut ServeArgs, &str)) -> TestApp {
    let mailbox = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut args = ServeArgs::for_tests(&db.url, SECRET);
    args.mailbox_dir = mailbox.path().join("outbox");
    adjust(&mut args, &base);
    let (service, delivery) = startup::build(args).expect("service builds");
    let state = service.state.clone();
    let handle = serve(service, listener);
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // A person's browser, as far as the open counter can tell (no user agent is a
        // preview fetcher's, and is not counted).
        .user_agent("Mozilla/5.0 (referral-api tests)")
        .build()
        .unwrap();
    TestApp {
        base,
        state,
        delivery,
        mailbox,
        client,
        handle,
        db,
    }
}

/// Runs `service` on `listener` on a thread of its own; returns its handle.
fn serve(service: app::Service, listener: std::net::TcpListener) -> actix_web::dev::ServerHandle {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = app::run(service, listener).unwrap();
            tx.send(server.handle()).unwrap();
            server.await
        })
    });
    rx.recv().unwrap()
}

/// Another instance of the service on the same database as a [`TestApp`]: several
/// instances behind one load balancer.
pub struct Instance {
    pub base: String,
    handle: actix_web::dev::ServerHandle,
    _mailbox: tempfile::TempDir,
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            runtime.block_on(self.handle.stop(false));
        }
    }
}

/// Starts another instance on `app`'s database.
pub fn spawn_instance(app: &TestApp, adjust: impl FnOnce(&mut ServeArgs)) -> Instance {
    let mailbox = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut args = ServeArgs::for_tests(&app.db.url, SECRET);
    args.mailbox_dir = mailbox.path().join("outbox");
    adjust(&mut args);
    let (service, _delivery) = startup::build(args).expect("service builds");
    let handle = serve(service, listener);
    Instance {
        base,
        handle,
        _mailbox: mailbox,
    }
}

/// The provider of provider and provider-admin tokens made by [`token`].
pub const TEST_PROVIDER: Uuid = uuid::uuid!("00000000-0000-4000-8000-0000000000b1");

pub fn token(role: Role, sub: Uuid, email: Option<&str>, exp_in: i64) -> String {
    let provider = matches!(role, Role::Provider | Role::ProviderAdmin).then_some(TEST_PROVIDER);
    token_with(role, sub, email, exp_in, provider)
}

pub fn token_with(
    role: Role,
    sub: Uuid,
    email: Option<&str>,
    exp_in: i64,
    provider_id: Option<Uuid>,
) -> String {
    let claims = Claims {
        provider_id,
        email: email.map(str::to_owned),
        name: email.map(|e| e.split('@').next().unwrap().to_owned()),
        ..Claims::new(sub, role, chrono::Utc::now().timestamp(), exp_in)
    };
    JwtKeys::new(SECRET.as_bytes()).sign(&claims).unwrap()
}

/// Someone calling the API.
#[derive(Clone)]
pub struct Actor {
    pub id: Uuid,
    pub role: Role,
    pub token: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn actor(&self, role: Role, email: Option<&str>) -> Actor {
        self.actor_with_id(role, Uuid::new_v4(), email.unwrap_or_default())
    }

    /// An actor with a known id (a patient the service already knows, say); an empty
    /// email is no email claim.
    pub fn actor_with_id(&self, role: Role, id: Uuid, email: &str) -> Actor {
        let email = Some(email).filter(|e| !e.is_empty());
        Actor {
            id,
            role,
            token: token(role, id, email, 600),
        }
    }

    pub fn patient(&self, name: &str) -> Actor {
        self.actor(Role::Patient, Some(&format!("{name}@example.com")))
    }

    pub fn admin(&self) -> Actor {
        self.actor(Role::Admin, None)
    }

    pub fn service(&self) -> Actor {
        self.actor(Role::Service, None)
    }

    pub fn get(&self, who: Option<&Actor>, path: &str) -> Response {
        self.send(self.client.get(self.url(path)), who)
    }

    pub fn post(&self, who: Option<&Actor>, path: &str, body: Value) -> Response {
        self.send(self.client.post(self.url(path)).json(&body), who)
    }

    pub fn put(&self, who: Option<&Actor>, path: &str, body: Value) -> Response {
        self.send(self.client.put(self.url(path)).json(&body), who)
    }

    pub fn delete(&self, who: Option<&Actor>, path: &str) -> Response {
        self.send(self.client.delete(self.url(path)), who)
    }

    fn send(&self, request: RequestBuilder, who: Option<&Actor>) -> Response {
        let request = match who {
            Some(a) => request.bearer_auth(&a.token),
            None => request,
        };
        request.send().expect("request reaches the server")
    }

    /// A program made by an admin, with `overrides` on top of a credit/discount program.
    pub fn program(&self, overrides: Value) -> Value {
        let mut body = json!({
            "name": "Friends and family",
            "referrer_reward_type": "credit",
            "referrer_reward_value": "25.00",
            "referee_reward_type": "discount",
            "referee_reward_value": "20",
        });
        for (k, v) in overrides.as_object().unwrap() {
            body[k] = v.clone();
        }
        let response = self.post(Some(&self.admin()), "/api/referral-programs", body);
        assert_eq!(response.status(), 201);
        response.json().unwrap()
    }

    /// `referrer` refers `referee_email`; returns the referral.
    pub fn refers(&self, referrer: &Actor, referee_email: &str) -> Value {
        let response = self.post(
            Some(referrer),
            "/api/patients/me/referrals",
            json!({"referee_email": referee_email, "referee_name": "Bob"}),
        );
        assert_eq!(response.status(), 201, "{:?}", response.text());
        response.json().unwrap()
    }

    /// A visitor registers `email` with `code`: `202 verification_sent`, then the link of
    /// the confirmation email (read from the outbox) registers them. Returns the registration.
    pub fn registers(&self, code: &str, email: &str) -> Value {
        self.registers_with(code, json!({"email": email, "name": "Bob"}))
    }

    /// As [`TestApp::registers`], with the whole registration body.
    pub fn registers_with(&self, code: &str, body: Value) -> Value {
        let email = body["email"].as_str().unwrap().to_owned();
        let response = self.post(None, &format!("/api/referrals/{code}/register"), body);
        assert_eq!(response.status(), 202, "{:?}", response.text());
        assert_eq!(
            response.json::<Value>().unwrap(),
            json!({"status": "verification_sent"})
        );
        let token = self
            .verification_token(&email)
            .expect("a confirmation link was emailed");
        let response = self.post(None, "/api/registrations/verify", json!({"token": token}));
        assert_eq!(response.status(), 201, "{:?}", response.text());
        response.json().unwrap()
    }

    /// Moves the service to the next release of referrer rewards (the end of the cadence
    /// period, weekly by default) and a second on (tests read 7-day windows after it), and runs the sweeps there: rewards
    /// granted before are now visible to their referrers, and each is told in one notice.
    pub fn release_rewards(&self) -> chrono::DateTime<chrono::Utc> {
        let now = self.state.now();
        let at = self.state.policy.referrer_cadence.release_at(now) + chrono::Duration::seconds(1);
        self.state.clock.advance_to(at);
        referral_api::workers::sweep_once(&self.state.pool, 0, at).unwrap();
        at
    }

    /// `who`'s rewards as the ledger holds them (whatever the patient may see yet), newest
    /// first: for tests of the ledger itself.
    pub fn ledger_of(&self, who: &Actor) -> Vec<referral_store::rewards::Reward> {
        let listed: Value = self
            .get(
                Some(&self.admin()),
                &format!("/api/referrals?referrer_id={}&limit=500", who.id),
            )
            .json()
            .unwrap();
        let now = self.state.now();
        let mut conn = self.db.conn();
        let mut rewards: Vec<referral_store::rewards::Reward> = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| {
                let id: referral_domain::ReferralId = r["id"].as_str().unwrap().parse().unwrap();
                referral_store::rewards::for_referral(&mut conn, id, now).unwrap()
            })
            .filter(|r| r.patient_id.as_uuid() == who.id)
            .collect();
        rewards.sort_by_key(|r| std::cmp::Reverse(r.created_at));
        rewards
    }

    /// The token of the newest confirmation link queued for `email`, if any.
    pub fn verification_token(&self, email: &str) -> Option<String> {
        self.outbox_to(email, "registration_verification")
            .last()
            .and_then(|payload| payload["verification_token"].as_str().map(str::to_owned))
    }

    /// The payloads of the messages with `template` queued for `recipient`, oldest first.
    pub fn outbox_to(&self, recipient: &str, template: &str) -> Vec<Value> {
        let mut conn = self.db.conn();
        let page = referral_store::page::Page::new(Some(500), None);
        let mut messages = referral_store::outbox::list(&mut conn, None, page)
            .unwrap()
            .items;
        messages.sort_by_key(|m| m.created_at);
        messages
            .into_iter()
            .filter(|m| m.recipient == recipient && m.template == template)
            .map(|m| m.payload)
            .collect()
    }
}

/// Asserts a problem+json answer with `status` and `code`.
pub fn assert_problem(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(
        response.status().as_u16(),
        status,
        "expected {status} {code}"
    );
    let content_type = response
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string() && body["detail"].is_string() && body["type"].is_string());
    body
}

/// Runs `test` on SQLite and, with TEST_DATABASE_URL, on PostgreSQL (for tests whose
/// service needs settings of its own).
pub fn each_database(test: impl Fn(TestDb)) {
    test(TestDb::sqlite());
    if let Some(db) = TestDb::postgres() {
        test(db);
    }
}

/// The Python named by `env` (else `python3`) when it can import `module` (CI: `.ci/run`
/// installs each tool pinned), or `None`: the test then skips, unless `require` is set.
pub fn python_with(module: &str, env: &str, require: &str, pip: &str) -> Option<String> {
    let candidate = std::env::var(env).unwrap_or_else(|_| "python3".into());
    let ok = std::process::Command::new(&candidate)
        .args(["-c", &format!("import {module}")])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(candidate);
    }
    assert!(
        std::env::var_os(require).is_none(),
        "{require} is set but {candidate} cannot import {module}: pip install {pip}"
    );
    eprintln!("skipping: no Python with {module} (pip install {pip})");
    None
}
