//! What an operator sees (#33): `GET /metrics` parsed by the Prometheus project's own
//! parser, and the JSON log of the real binary, searched for every piece of a person's
//! data the journey handed it.

use crate::support::{assert_problem, TestApp};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The Python that has `prometheus_client` (CI: `.ci/run` installs it, pinned), or `None`
/// (the test then skips, unless `REQUIRE_PROMETHEUS_PARSER` is set).
fn python() -> Option<String> {
    crate::support::python_with(
        "prometheus_client",
        "PROMETHEUS_PYTHON",
        "REQUIRE_PROMETHEUS_PARSER",
        "prometheus-client==0.21.1",
    )
}

/// `text` parsed by prometheus_client's OpenMetrics parser (strict: it refuses a malformed
/// exposition): every sample as `{name, labels, value}`.
fn parse(python: &str, text: &str) -> Vec<Value> {
    let script = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        out.append({"name": s.name, "labels": s.labels, "value": s.value, "type": family.type})
print(json.dumps(out))
"#;
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the Prometheus parser refused the scrape: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn samples<'a>(all: &'a [Value], name: &str) -> Vec<&'a Value> {
    all.iter().filter(|s| s["name"] == name).collect()
}

both_databases!(
    metrics_are_parsed_by_prometheus_and_hold_no_person_or_code,
    owned,
    |db| {
        let app: TestApp = crate::support::spawn_with(db, |args| {
            args.metrics_token = Some("scrape-secret-0123456789".into());
        });
        let Some(python) = python() else { return };
        app.program(json!({}));
        let referrer = app.patient("Ada");
        let referral = app.refers(&referrer, "friend.private@example.com");
        let code = referral["referral_code"].as_str().unwrap().to_owned();
        assert_eq!(
            app.get(None, &format!("/api/referrals/{code}")).status(),
            200
        );
        assert_eq!(
            app.get(None, "/no/such/path/friend.private@example.com")
                .status(),
            404
        );

        // No token, a wrong token: refused, and nothing is shown.
        let anonymous = app.get(None, "/metrics");
        assert_problem(anonymous, 401, "unauthenticated");
        let wrong = app
            .client
            .get(app.url("/metrics"))
            .bearer_auth("nope")
            .send()
            .unwrap();
        assert_eq!(wrong.status(), 401);

        let scrape = app
            .client
            .get(app.url("/metrics"))
            .bearer_auth("scrape-secret-0123456789")
            .send()
            .unwrap();
        assert_eq!(scrape.status(), 200);
        assert!(scrape.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"));
        let text = scrape.text().unwrap();
        let all = parse(&python, &text);

        // Requests by route pattern, never by path: the code and the address of the
        // unmatched path appear nowhere.
        let requests = samples(&all, "referral_http_request_duration_seconds_count");
        assert!(
            requests
                .iter()
                .any(|s| s["labels"]["route"] == "/api/referrals/{code}"
                    && s["labels"]["status"] == "200"
                    && s["labels"]["method"] == "GET"),
            "{requests:?}"
        );
        assert!(requests
            .iter()
            .any(|s| s["labels"]["route"] == "unmatched" && s["labels"]["status"] == "404"));
        assert!(!text.contains(&code), "a referral code is in the metrics");
        assert!(
            !text.contains("friend.private"),
            "an address is in the metrics"
        );
        assert!(!text.contains("Ada"), "a name is in the metrics");
        // Buckets, not quantiles: instances add up.
        assert!(!samples(&all, "referral_http_request_duration_seconds_bucket").is_empty());
        assert!(all.iter().all(|s| s["type"] != "summary"));

        // The pool and the database's figures.
        let pool = samples(&all, "referral_db_pool_connections");
        assert!(pool[0]["value"].as_f64().unwrap() >= 1.0);
        assert!(!samples(&all, "referral_db_pool_wait_seconds_count").is_empty());
        let outbox = samples(&all, "referral_outbox_waiting");
        for kind in ["email", "sms", "payout", "webhook"] {
            assert!(
                outbox.iter().any(|s| s["labels"]["kind"] == kind),
                "{kind}: {outbox:?}"
            );
        }
        assert_eq!(samples(&all, "referral_outbox_oldest_age_seconds").len(), 4);
        let referrals: f64 = samples(&all, "referral_referrals")
            .iter()
            .map(|s| s["value"].as_f64().unwrap())
            .sum();
        assert_eq!(referrals, 1.0, "the one referral, by status");
    }
);

both_databases!(
    metrics_are_off_unless_configured,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        assert_problem(app.get(None, "/metrics"), 404, "not_found");
    }
);

/// A server of the real binary with `args`, and the lines it logs.
struct Server {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dev_token(url: &str, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_referral-api"))
        .args(["dev-token", "--database-url", url])
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[test]
fn the_json_log_has_a_request_id_a_line_a_request_and_no_phi() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/referrals.db", dir.path().display());
    let mailbox = dir.path().join("outbox");
    let mut command = Command::new(env!("CARGO_BIN_EXE_referral-api"));
    for var in [
        "DATABASE_URL",
        "REFERRAL_BIND",
        "REFERRAL_JWT_SECRET",
        "REFERRAL_LOG_FORMAT",
        "RUST_LOG",
    ] {
        command.env_remove(var);
    }
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics_bind = format!("127.0.0.1:{metrics_port}");
    let child = command
        .args(["--metrics-bind", &metrics_bind])
        .args([
            "--database-url",
            &url,
            "--bind",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--worker-interval",
            "1",
        ])
        .arg("--mailbox-dir")
        .arg(&mailbox)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = Server {
        child,
        lines: std::sync::mpsc::channel().1,
    };
    let stderr = server.child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    server.lines = rx;
    let mut log = Vec::new();
    let address = loop {
        let line = server
            .lines
            .recv_timeout(Duration::from_secs(30))
            .expect("the server logs its address");
        let entry: Value =
            serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        log.push(line);
        if let Some(address) = entry["address"].as_str() {
            break address.to_owned();
        }
    };
    let base = format!("http://{address}");
    let client = reqwest::blocking::Client::builder()
        .user_agent("SecretAgent/7.7 (a person's phone)")
        .build()
        .unwrap();
    let admin = dev_token(
        &url,
        &[
            "--role",
            "admin",
            "--sub",
            "11111111-1111-4111-8111-111111111111",
        ],
    );
    let patient = dev_token(
        &url,
        &[
            "--role",
            "patient",
            "--sub",
            "22222222-2222-4222-8222-222222222222",
            "--email",
            "ada.lovelace@example.com",
            "--name",
            "Ada Lovelace",
        ],
    );
    let created = client
        .post(format!("{base}/api/referral-programs"))
        .bearer_auth(&admin)
        .json(&json!({"name": "Friends", "referrer_reward_type": "credit", "referrer_reward_value": "25.00"}))
        .send()
        .unwrap();
    assert_eq!(created.status(), 201);
    let referral: Value = client
        .post(format!("{base}/api/patients/me/referrals"))
        .bearer_auth(&patient)
        .header("x-request-id", "trace-abc.123")
        .json(&json!({"referee_email": "grace.hopper@example.com", "referee_name": "Grace Hopper"}))
        .send()
        .inspect(|r| {
            assert_eq!(r.status(), 201);
            assert_eq!(
                r.headers()["x-request-id"],
                "trace-abc.123",
                "the caller's id is kept"
            );
        })
        .unwrap()
        .json()
        .unwrap();
    let code = referral["referral_code"].as_str().unwrap().to_owned();
    let page = client
        .get(format!(
            "{base}/api/referrals/{code}?utm_source=secret-campaign"
        ))
        .send()
        .unwrap();
    assert_eq!(page.status(), 200);
    let registered = client
        .post(format!("{base}/api/referrals/{code}/register"))
        .json(&json!({"email": "grace.hopper@example.com", "name": "Grace Hopper", "phone": "(415) 555-0142"}))
        .send()
        .unwrap();
    assert!(registered.status().is_success(), "{}", registered.status());
    // An error names its request: in the header and in the problem body, the same id. A
    // header that is not a plain token is replaced, not logged.
    let refused = client
        .post(format!("{base}/api/patients/me/referrals"))
        .bearer_auth(&patient)
        .header("x-request-id", "grace.hopper@example.com")
        .json(&json!({"referee_email": "not an address"}))
        .send()
        .unwrap();
    let header = refused.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(header, "grace.hopper@example.com");
    let problem: Value = refused.json().unwrap();
    assert_eq!(problem["request_id"], header.as_str(), "{problem}");
    // The separate metrics listener answers without a token; the service's port has no
    // metrics route without --metrics-token.
    let scrape = client
        .get(format!("http://{metrics_bind}/metrics"))
        .send()
        .unwrap();
    assert_eq!(scrape.status(), 200);
    assert!(scrape
        .text()
        .unwrap()
        .contains("referral_http_request_duration_seconds_bucket"));
    assert_eq!(
        client
            .get(format!("{base}/metrics"))
            .send()
            .unwrap()
            .status(),
        404
    );
    // Let the worker deliver the invitation and the confirmation (its lines are searched too).
    std::thread::sleep(Duration::from_secs(3));

    let pid = server.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let _ = server.child.wait();
    while let Ok(line) = server.lines.recv_timeout(Duration::from_secs(5)) {
        log.push(line);
    }
    let entries: Vec<Value> = log
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let requests: Vec<&Value> = entries
        .iter()
        .filter(|e| e["target"] == "referral_api::request")
        .collect();
    assert!(requests.len() >= 5, "{requests:?}");
    for entry in &requests {
        for field in ["request_id", "route", "method", "status", "latency_ms"] {
            assert!(!entry[field].is_null(), "{field} missing: {entry}");
        }
    }
    assert!(requests
        .iter()
        .any(|e| e["request_id"] == "trace-abc.123" && e["route"] == "/api/patients/me/referrals"));
    assert!(requests
        .iter()
        .any(|e| e["route"] == "/api/referrals/{code}"));
    assert!(requests
        .iter()
        .any(|e| e["request_id"] == header.as_str() && e["status"] == 422));
    let whole = log.join("\n");
    for secret in [
        "grace.hopper",
        "Grace",
        "Hopper",
        "ada.lovelace",
        "Lovelace",
        "555-0142",
        "4155550142",
        code.as_str(),
        "utm_source",
        "secret-campaign",
        "SecretAgent",
    ] {
        assert!(
            !whole.contains(secret),
            "the log holds {secret:?}:\n{whole}"
        );
    }
}
