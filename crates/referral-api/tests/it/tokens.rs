//! The platform's identity provider: RS256 and ES256 tokens checked against a JWKS served
//! by a local server (wiremock) with keys made here, or a PEM key file; issuer, audience
//! and lifetime enforced; `/ready` says when the keys cannot be fetched.

use crate::support::{each_database, spawn_with, TestApp};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use referral_api::auth::Role;
use referral_store::testing::TestDb;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ISSUER: &str = "https://idp.example.test/";
const AUDIENCE: &str = "referral-service";

/// A P-256 key made for the test: signs ES256 tokens, and its public half as a JWK.
struct EcKey {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

impl EcKey {
    fn new(kid: &str) -> Self {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        // Uncompressed point: 0x04 ‖ x ‖ y.
        let point = pair.public_key().as_ref();
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        });
        EcKey {
            kid: kid.to_owned(),
            encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
            jwk,
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

fn claims(role: &str, lifetime: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "sub": Uuid::new_v4(), "role": role, "iat": now, "exp": now + lifetime,
        "iss": ISSUER, "aud": AUDIENCE, "email": "pat@example.com",
    })
}

/// The identity provider: a wiremock server with its own runtime.
struct Idp {
    runtime: tokio::runtime::Runtime,
    server: MockServer,
}

impl Idp {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime.block_on(MockServer::start());
        Idp { runtime, server }
    }

    fn serve_keys(&self, keys: &[&EcKey]) {
        self.runtime.block_on(self.server.reset());
        let set = json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()});
        self.runtime.block_on(
            Mock::given(method("GET"))
                .and(path("/.well-known/jwks.json"))
                .respond_with(ResponseTemplate::new(200).set_body_json(set))
                .mount(&self.server),
        );
    }

    fn jwks_fetches(&self) -> usize {
        self.runtime
            .block_on(self.server.received_requests())
            .unwrap_or_default()
            .len()
    }

    fn url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.server.uri())
    }
}

/// The service trusting only the identity provider at `jwks_url` (no HS256 secret).
fn service(db: TestDb, jwks_url: &str) -> TestApp {
    let url = jwks_url.to_owned();
    spawn_with(db, move |args| {
        args.jwt_secret = None;
        args.jwt_jwks_url = Some(url);
        args.jwt_issuer = Some(ISSUER.into());
        args.jwt_audience = Some(AUDIENCE.into());
    })
}

fn status_with(app: &TestApp, token: &str) -> u16 {
    app.client
        .get(app.url("/api/patients/me/rewards"))
        .bearer_auth(token)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

/// Waits for the first JWKS fetch of a freshly started service.
fn wait_ready(app: &TestApp, expected: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = app.get(None, "/ready").status().as_u16();
        if status == expected {
            return;
        }
        assert!(Instant::now() < deadline, "/ready stayed {status}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn es256_tokens_from_the_jwks_are_accepted_with_the_right_issuer_audience_and_lifetime() {
    each_database(|db| {
        let idp = Idp::start();
        let key = EcKey::new("key-1");
        idp.serve_keys(&[&key]);
        let app = service(db, &idp.url());
        wait_ready(&app, 200);

        assert_eq!(status_with(&app, &key.sign(&claims("patient", 600))), 200);
        let mut wrong_issuer = claims("patient", 600);
        wrong_issuer["iss"] = json!("https://evil.example/");
        assert_eq!(status_with(&app, &key.sign(&wrong_issuer)), 401);
        let mut wrong_audience = claims("patient", 600);
        wrong_audience["aud"] = json!("another-service");
        assert_eq!(status_with(&app, &key.sign(&wrong_audience)), 401);
        let mut no_audience = claims("patient", 600);
        no_audience.as_object_mut().unwrap().remove("aud");
        assert_eq!(status_with(&app, &key.sign(&no_audience)), 401);
        // Longer-lived than --jwt-max-lifetime (24 h by default).
        assert_eq!(
            status_with(&app, &key.sign(&claims("patient", 48 * 3600))),
            401
        );
        // A key the provider does not publish, and an HS256 token (no secret is set).
        let stranger = EcKey::new("key-1");
        assert_eq!(
            status_with(&app, &stranger.sign(&claims("patient", 600))),
            401
        );
        let hs = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims("admin", 600),
            &EncodingKey::from_secret(crate::support::SECRET.as_bytes()),
        )
        .unwrap();
        assert_eq!(status_with(&app, &hs), 401);
        // Provider roles must say which provider they act for.
        assert_eq!(
            status_with(&app, &key.sign(&claims("provider-admin", 600))),
            401
        );
        let mut provider = claims("provider-admin", 600);
        provider["provider_id"] = json!(Uuid::new_v4());
        let programs = app
            .client
            .get(app.url("/api/referral-programs"))
            .bearer_auth(key.sign(&provider))
            .send()
            .unwrap();
        assert_eq!(programs.status(), 200);
    });
}

#[test]
fn a_new_kid_is_fetched_once_and_rotated_keys_work_without_a_restart() {
    let idp = Idp::start();
    let old = EcKey::new("2026-11");
    idp.serve_keys(&[&old]);
    let app = service(TestDb::sqlite(), &idp.url());
    wait_ready(&app, 200);
    let before = idp.jwks_fetches();

    // The provider rotates: the new key is published and used at once.
    let new = EcKey::new("2026-12");
    idp.serve_keys(&[&old, &new]);
    assert_eq!(status_with(&app, &new.sign(&claims("patient", 600))), 200);
    assert_eq!(status_with(&app, &old.sign(&claims("patient", 600))), 200);

    // Made-up key ids do not turn every request into a fetch.
    let fetched = idp.jwks_fetches();
    for i in 0..20 {
        let bogus = EcKey::new(&format!("bogus-{i}"));
        assert_eq!(status_with(&app, &bogus.sign(&claims("patient", 600))), 401);
    }
    assert!(
        idp.jwks_fetches() <= fetched + 1,
        "{before} {fetched} {}",
        idp.jwks_fetches()
    );
}

#[test]
fn an_unreachable_jwks_makes_ready_503_and_requests_stay_fast() {
    // A closed port: nothing listens on the discard port here.
    let app = service(TestDb::sqlite(), "http://127.0.0.1:9/jwks.json");
    wait_ready(&app, 503);
    let key = EcKey::new("key-1");
    let started = Instant::now();
    for _ in 0..5 {
        assert_eq!(status_with(&app, &key.sign(&claims("patient", 600))), 401);
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(app.get(None, "/health").status(), 200);
}

#[test]
fn rs256_tokens_are_checked_against_a_pem_public_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("private.pem");
    let public = dir.path().join("public.pem");
    let openssl = |args: &[&str]| {
        let status = std::process::Command::new("openssl")
            .args(args)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl makes the RSA key of this test");
        assert!(status.success());
    };
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        private.to_str().unwrap(),
    ]);
    openssl(&[
        "pkey",
        "-in",
        private.to_str().unwrap(),
        "-pubout",
        "-out",
        public.to_str().unwrap(),
    ]);
    let encoding = EncodingKey::from_rsa_pem(&std::fs::read(&private).unwrap()).unwrap();
    let key_file = public.clone();
    each_database(|db| {
        let key_file = key_file.clone();
        let app = spawn_with(db, move |args| {
            args.jwt_secret = None;
            args.jwt_public_key_file = Some(key_file);
            args.jwt_max_lifetime = 3600;
        });
        let sign =
            |c: &Value| jsonwebtoken::encode(&Header::new(Algorithm::RS256), c, &encoding).unwrap();
        assert_eq!(status_with(&app, &sign(&claims("patient", 600))), 200);
        // --jwt-max-lifetime 3600: two hours is too long.
        assert_eq!(status_with(&app, &sign(&claims("patient", 7200))), 401);
        // The same claims signed HS256 with the test secret: no HS256 key is configured.
        let hs = crate::support::token(Role::Admin, Uuid::new_v4(), None, 600);
        assert_eq!(status_with(&app, &hs), 401);
        assert_eq!(app.get(None, "/ready").status(), 200);
    });
}

#[test]
fn a_jwks_url_in_the_clear_to_another_host_is_refused_at_start() {
    let db = TestDb::sqlite();
    let mut args = referral_api::config::ServeArgs::for_tests(&db.url, crate::support::SECRET);
    args.jwt_secret = None;
    args.jwt_jwks_url = Some("http://idp.example.test/.well-known/jwks.json".into());
    let err = referral_api::startup::build(args).unwrap_err().to_string();
    assert!(err.contains("https"), "{err}");
}

/// #30: a token dated ahead (`iat` beyond the leeway) or not valid yet (`nbf`) is refused;
/// the lifetime counts from the earlier of `iat` and now.
#[test]
fn tokens_dated_ahead_or_not_yet_valid_are_refused() {
    let app = crate::support::spawn(TestDb::sqlite());
    let key = EncodingKey::from_secret(crate::support::SECRET.as_bytes());
    let now = chrono::Utc::now().timestamp();
    let sign = |claims: Value| {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap()
    };
    let admin = |extra: Value| {
        let mut claims = json!({"sub": Uuid::new_v4(), "role": "admin", "exp": now + 600});
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        sign(claims)
    };
    let call = |token: &str| {
        app.client
            .get(app.url("/api/referral-programs"))
            .bearer_auth(token)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(call(&admin(json!({"iat": now}))), 200);
    assert_eq!(
        call(&admin(json!({"iat": now + 3600}))),
        401,
        "iat an hour ahead"
    );
    assert_eq!(
        call(&admin(json!({"iat": now, "nbf": now + 3600}))),
        401,
        "not valid yet"
    );
    assert_eq!(call(&admin(json!({"iat": now, "nbf": now - 10}))), 200);
    // Dated 30 s ahead (within the leeway) with a 24 h life from then: over the limit,
    // counted from now.
    assert_eq!(
        call(&admin(json!({"iat": now + 30, "exp": now + 30 + 86_400}))),
        401
    );
}
