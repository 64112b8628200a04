//! The `referral-api` binary itself: help, migrate, dev-token, and serve with a graceful stop
//! on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_referral-api"));
    for var in [
        "DATABASE_URL",
        "REFERRAL_BIND",
        "REFERRAL_JWT_SECRET",
        "REFERRAL_PUBLIC_BASE_URL",
        "REFERRAL_SENDGRID_API_KEY",
        "REFERRAL_TWILIO_ACCOUNT_SID",
        "REFERRAL_STRIPE_API_KEY",
        "REFERRAL_MAILBOX_DIR",
        "REFERRAL_DEMO_SIGN_IN",
        "REFERRAL_JWT_JWKS_URL",
        "REFERRAL_JWT_PUBLIC_KEY_FILE",
        "REFERRAL_DATA_KEYS",
        "REFERRAL_DATA_KEYS_FILE",
        "REFERRAL_AUDIT_WITNESS_DIR",
    ] {
        command.env_remove(var);
    }
    command
}

/// A server that is killed if the test fails before stopping it.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn help_lists_the_commands_and_settings() {
    let output = binary().arg("--help").output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    for word in [
        "serve",
        "worker",
        "migrate",
        "dev-token",
        "--database-url",
        "--bind",
        "--jwt-secret",
        "--public-base-url",
    ] {
        assert!(text.contains(word), "--help does not mention {word}");
    }
}

#[test]
fn migrate_then_serve_then_stop_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/nested/referrals.db", dir.path().display());
    let migrated = binary()
        .args(["migrate", "--database-url", &url])
        .output()
        .unwrap();
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    assert!(dir.path().join("nested/referrals.db").exists());

    // Development mode: dev-token signs with the secret the server will use.
    let token = binary()
        .args([
            "dev-token",
            "--role",
            "admin",
            "--sub",
            "6f1c4b7e-9a53-4a53-8c3e-2f0c9f1b2a11",
            "--database-url",
            &url,
        ])
        .output()
        .unwrap();
    assert!(token.status.success());
    let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();
    let bad_role = binary()
        .args([
            "dev-token",
            "--role",
            "root",
            "--sub",
            "6f1c4b7e-9a53-4a53-8c3e-2f0c9f1b2a11",
            "--database-url",
            &url,
        ])
        .output()
        .unwrap();
    assert!(!bad_role.status.success());

    let mut server = KillOnDrop(
        binary()
            .args([
                "--database-url",
                &url,
                "--bind",
                "127.0.0.1:0",
                "--worker-interval",
                "1",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = server.0.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut address = None;
    let mut saw_development_warning = false;
    while address.is_none() {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the server logs its address");
        saw_development_warning |= line.contains("DEVELOPMENT MODE");
        if let Some(rest) = line.split("address=").nth(1) {
            address = rest
                .split_whitespace()
                .next()
                .map(|a| a.trim_matches(|c: char| !c.is_ascii_graphic()).to_owned());
        }
    }
    assert!(saw_development_warning, "development mode must say so");
    let address = address.unwrap();
    let client = reqwest::blocking::Client::new();
    let ready = client
        .get(format!("http://{address}/ready"))
        .send()
        .unwrap();
    assert_eq!(ready.status(), 200);
    let programs = client
        .get(format!("http://{address}/api/referral-programs"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(programs.status(), 200, "the dev token is accepted");
    // Development on any port: the links handed out follow the address it listens on.
    let created = client
        .post(format!("http://{address}/api/referral-programs"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "Any port", "referrer_reward_type": "credit", "referrer_reward_value": "5.00"}))
        .send()
        .unwrap();
    assert_eq!(created.status(), 201);
    let patient = binary()
        .args([
            "dev-token",
            "--role",
            "patient",
            "--sub",
            "0b7c2d4e-1f3a-4b5c-8d6e-7f8091a2b3c4",
            "--email",
            "pat@example.com",
            "--database-url",
            &url,
        ])
        .output()
        .unwrap();
    let patient = String::from_utf8(patient.stdout).unwrap().trim().to_owned();
    let link = client
        .get(format!("http://{address}/api/patients/me/share-link"))
        .bearer_auth(&patient)
        .send()
        .unwrap();
    let link: serde_json::Value = link.json().unwrap();
    assert!(
        link["share_url"]
            .as_str()
            .unwrap_or_default()
            .starts_with(&format!("http://{address}/r/")),
        "{link}"
    );

    let pid = server.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = server.0.wait().unwrap();
    assert!(status.success(), "a graceful stop exits 0, got {status:?}");
}

#[test]
fn a_bad_database_url_fails_with_the_reason() {
    let output = binary()
        .args(["migrate", "--database-url", "mysql://nowhere/x"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("postgres://"));
}

#[test]
fn a_public_metrics_port_without_a_token_is_refused_with_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/referrals.db", dir.path().display());
    let output = binary()
        .env_remove("REFERRAL_METRICS_TOKEN")
        .args(["serve", "--database-url", &url, "--bind", "127.0.0.1:0"])
        .args(["--metrics-bind", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--metrics-token"), "{stderr}");
}

#[test]
fn the_worker_alone_delivers_to_the_mailbox_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/referrals.db", dir.path().display());
    let mailbox = dir.path().join("outbox");
    let pool = referral_store::open_pool(&url, 1).unwrap();
    let mut conn = pool.get().unwrap();
    referral_store::run_migrations(&mut conn).unwrap();
    referral_store::outbox::enqueue(
        &mut conn,
        &referral_store::outbox::NewMessage {
            kind: referral_store::outbox::OutboxKind::Email,
            idempotency_key: "worker-test".into(),
            recipient: "bob@example.com".into(),
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
        chrono::Utc::now(),
    )
    .unwrap();
    drop(conn);

    let mut worker = KillOnDrop(
        binary()
            .args(["worker", "--database-url", &url, "--worker-interval", "1"])
            .args(["--data-keys", DATA_KEYS])
            .arg("--mailbox-dir")
            .arg(&mailbox)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = worker.0.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the worker logs the delivery");
        assert!(
            !line.contains("bob@example.com"),
            "no address in logs: {line}"
        );
        if line.contains("message written to the mailbox") {
            break;
        }
    }
    let files: Vec<_> = std::fs::read_dir(&mailbox).unwrap().collect();
    assert_eq!(files.len(), 1);
    let pid = worker.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = worker.0.wait().unwrap();
    assert!(status.success(), "a graceful stop exits 0, got {status:?}");
}

const DATA_KEYS: &str = "b1=62696e6172792d746573742d646174612d6b65792d62696e6172792d74657374";

fn entry(i: i64) -> referral_store::audit::NewAuditEntry {
    referral_store::audit::NewAuditEntry {
        actor_id: None,
        actor_role: "admin".into(),
        action: "referral.read".into(),
        resource_type: "referral".into(),
        resource_id: Some(format!("r{i}")),
        outcome: "success".into(),
        ip_address: None,
        user_agent: None,
    }
}

/// Appends and seals `n` rows with the test keyring; records each head with `witness`.
fn sealed_rows(
    conn: &mut referral_store::DbConnection,
    n: i64,
    witness: Option<&referral_api::witness::Witness>,
) {
    let keyring = referral_store::keyring::Keyring::parse(DATA_KEYS).unwrap();
    for i in 0..n {
        referral_store::audit::append(
            conn,
            &keyring,
            &entry(i),
            chrono::Utc::now() + chrono::Duration::milliseconds(i),
        )
        .unwrap();
        let report = referral_store::audit::seal_all(
            conn,
            &keyring,
            chrono::Utc::now() + chrono::Duration::hours(1),
        )
        .unwrap();
        if let (Some(w), Some(head)) = (witness, report.head) {
            w.record(&head, chrono::Utc::now()).unwrap();
        }
    }
}

fn verify_audit(url: &str, witness: Option<&std::path::Path>) -> std::process::Output {
    let mut command = binary();
    command.args([
        "audit",
        "verify",
        "--database-url",
        url,
        "--data-keys",
        DATA_KEYS,
    ]);
    if let Some(dir) = witness {
        command.arg("--witness").arg(dir);
    }
    command.output().unwrap()
}

#[test]
fn audit_verify_passes_an_intact_chain_and_names_an_altered_row() {
    use diesel::connection::SimpleConnection;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/referrals.db", dir.path().display());
    let pool = referral_store::open_pool(&url, 1).unwrap();
    let mut conn = pool.get().unwrap();
    referral_store::run_migrations(&mut conn).unwrap();
    sealed_rows(&mut conn, 3, None);
    let ok = verify_audit(&url, None);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("audit chain intact: 3 rows verified"));

    if let referral_store::DbConnection::Sqlite(c) = &mut **conn {
        c.batch_execute(
            "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET resource_id = 'other' WHERE seq = 2;",
        )
        .unwrap();
    }
    drop(conn);
    let broken = verify_audit(&url, None);
    assert_eq!(broken.status.code(), Some(1));
    let text = String::from_utf8_lossy(&broken.stdout);
    assert!(text.contains("audit chain BROKEN at row 2"), "{text}");
}

#[test]
fn the_witness_catches_rows_cut_from_the_end_with_the_head_rewound() {
    use diesel::connection::SimpleConnection;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/referrals.db", dir.path().display());
    let witness_dir = dir.path().join("witness");
    let keyring = std::sync::Arc::new(referral_store::keyring::Keyring::parse(DATA_KEYS).unwrap());
    let witness = referral_api::witness::Witness::open(&witness_dir, keyring).unwrap();
    let pool = referral_store::open_pool(&url, 1).unwrap();
    let mut conn = pool.get().unwrap();
    referral_store::run_migrations(&mut conn).unwrap();
    sealed_rows(&mut conn, 5, Some(&witness));
    assert!(verify_audit(&url, Some(&witness_dir)).status.success());

    // An insider cuts the last two rows and rewinds the head to row 3: the chain alone
    // still verifies, the witness does not agree.
    let head3: String = {
        use diesel::prelude::*;
        use referral_store::schema::audit_log;
        audit_log::table
            .filter(audit_log::seq.eq(Some(3_i64)))
            .select(audit_log::row_hash)
            .first::<Option<String>>(&mut **conn)
            .unwrap()
            .unwrap()
    };
    if let referral_store::DbConnection::Sqlite(c) = &mut **conn {
        c.batch_execute(&format!(
            "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq > 3; \
             UPDATE audit_chain_head SET last_seq = 3, last_hash = '{head3}';"
        ))
        .unwrap();
    }
    drop(conn);
    let alone = verify_audit(&url, None);
    assert!(
        alone.status.success(),
        "the rewound chain verifies on its own"
    );
    let witnessed = verify_audit(&url, Some(&witness_dir));
    assert_eq!(witnessed.status.code(), Some(1));
    let text = String::from_utf8_lossy(&witnessed.stdout);
    assert!(text.contains("rows cut from the end"), "{text}");

    // A witness line altered by hand is refused, naming the line.
    let file = witness_dir.join(referral_api::witness::WITNESS_FILE);
    let edited = std::fs::read_to_string(&file)
        .unwrap()
        .replacen("5 ", "3 ", 1);
    std::fs::write(&file, edited).unwrap();
    let altered = verify_audit(&url, Some(&witness_dir));
    assert_eq!(altered.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&altered.stderr).contains("witness line"));
}

/// Runs `serve` with `args`; returns its exit status, stderr and how long it took.
fn serve_refused(args: &[&str]) -> (std::process::ExitStatus, String, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/referrals.db", dir.path().display());
    let started = std::time::Instant::now();
    let mut child = KillOnDrop(
        binary()
            .args(["serve", "--database-url", &url, "--worker-interval", "0"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "serve did not refuse {args:?}: it is running"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = started.elapsed();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut stderr).unwrap();
    (status, stderr, took)
}

#[test]
fn a_public_bind_without_token_verification_refuses_to_start_and_names_the_setting() {
    let (status, stderr, took) = serve_refused(&["--bind", "0.0.0.0:0"]);
    assert!(!status.success());
    assert!(took < Duration::from_secs(1), "refused after {took:?}");
    assert!(
        stderr.contains("REFERRAL_JWT_SECRET") && stderr.contains("--jwt-jwks-url"),
        "{stderr}"
    );
    assert!(!stderr.contains("listening"), "{stderr}");
}

#[test]
fn a_public_bind_without_a_public_base_url_refuses_to_start_and_names_the_setting() {
    let (status, stderr, _) = serve_refused(&[
        "--bind",
        "0.0.0.0:0",
        "--jwt-secret",
        "a-real-secret-a-real-secret-a-real-secret",
        "--data-keys",
        DATA_KEYS,
    ]);
    assert!(!status.success());
    assert!(
        stderr.contains("REFERRAL_PUBLIC_BASE_URL (--public-base-url)"),
        "{stderr}"
    );
}

#[test]
fn demo_sign_in_on_a_public_bind_refuses_to_start() {
    let secret = "a-real-secret-a-real-secret-a-real-secret";
    let (status, stderr, _) = serve_refused(&[
        "--bind",
        "0.0.0.0:0",
        "--jwt-secret",
        secret,
        "--data-keys",
        DATA_KEYS,
        "--demo-sign-in",
    ]);
    assert!(!status.success());
    assert!(stderr.contains("REFERRAL_DEMO_SIGN_IN"), "{stderr}");
    let (status, stderr, _) = serve_refused(&["--bind", "[::]:0", "--jwt-secret", secret]);
    assert!(!status.success());
    assert!(stderr.contains("REFERRAL_DATA_KEYS"), "{stderr}");
}

/// #30: development mode and demo sign-in are for one machine, even on a loopback bind:
/// a proxy in front, or a public base URL, refuses to start and names the setting.
#[test]
fn development_mode_behind_a_proxy_or_a_public_url_refuses_to_start() {
    let (status, stderr, _) =
        serve_refused(&["--bind", "127.0.0.1:0", "--trusted-proxies", "10.0.0.0/8"]);
    assert!(!status.success());
    assert!(stderr.contains("REFERRAL_TRUSTED_PROXIES"), "{stderr}");
    assert!(stderr.contains("development mode"), "{stderr}");
    let (status, stderr, _) = serve_refused(&[
        "--bind",
        "127.0.0.1:0",
        "--public-base-url",
        "https://referrals.example.com",
    ]);
    assert!(!status.success());
    assert!(stderr.contains("REFERRAL_PUBLIC_BASE_URL"), "{stderr}");
    let secret = "a-real-secret-a-real-secret-a-real-secret";
    let (status, stderr, _) = serve_refused(&[
        "--bind",
        "127.0.0.1:0",
        "--jwt-secret",
        secret,
        "--demo-sign-in",
        "--public-base-url",
        "https://referrals.example.com",
    ]);
    assert!(!status.success());
    assert!(stderr.contains("REFERRAL_DEMO_SIGN_IN"), "{stderr}");
}

#[test]
fn a_short_token_secret_is_refused_even_on_loopback() {
    let (status, stderr, _) = serve_refused(&["--bind", "127.0.0.1:0", "--jwt-secret", "short"]);
    assert!(!status.success());
    assert!(stderr.contains("at least 32"), "{stderr}");
}

#[test]
fn keys_rotate_keeps_what_the_old_key_made_verifiable() {
    let dir = tempfile::tempdir().unwrap();
    let generated = binary()
        .args(["keys", "generate", "--id", "k1"])
        .output()
        .unwrap();
    assert!(generated.status.success());
    let k1 = String::from_utf8(generated.stdout).unwrap();
    assert!(k1.starts_with("k1=") && k1.trim().len() == 3 + 64, "{k1}");
    let file = dir.path().join("keys");
    std::fs::write(&file, &k1).unwrap();

    // Rows sealed with k1 ...
    let url = format!("sqlite://{}/referrals.db", dir.path().display());
    let pool = referral_store::open_pool(&url, 1).unwrap();
    let mut conn = pool.get().unwrap();
    referral_store::run_migrations(&mut conn).unwrap();
    let keyring = referral_store::keyring::Keyring::parse(&k1).unwrap();
    referral_store::audit::append(&mut conn, &keyring, &entry(1), chrono::Utc::now()).unwrap();
    referral_store::audit::seal_all(
        &mut conn,
        &keyring,
        chrono::Utc::now() + chrono::Duration::hours(1),
    )
    .unwrap();
    drop(conn);

    // ... still verify with the rotated keyring, whose new key signs.
    let rotated = binary()
        .args(["keys", "rotate", "--id", "k2", "--data-keys-file"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let text = String::from_utf8(rotated.stdout).unwrap();
    let ids: Vec<&str> = text.lines().map(|l| l.split('=').next().unwrap()).collect();
    assert_eq!(ids, ["k2", "k1"]);
    assert!(String::from_utf8_lossy(&rotated.stderr).contains("restart every instance"));
    std::fs::write(&file, &text).unwrap();
    let verified = binary()
        .args([
            "audit",
            "verify",
            "--database-url",
            &url,
            "--data-keys-file",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );

    // An id already in use is refused, with the reason.
    let again = binary()
        .args(["keys", "rotate", "--id", "k1", "--data-keys-file"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("appears twice"));
}

#[test]
fn a_worker_runs_the_same_start_up_checks_as_serve() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/referrals.db", dir.path().display());
    let output = binary()
        .args([
            "worker",
            "--database-url",
            &url,
            "--worker-interval",
            "1",
            "--bind",
            "0.0.0.0:8080",
            "--jwt-secret",
            "a-real-secret-a-real-secret-a-real-secret",
            "--data-keys",
            DATA_KEYS,
            "--webhooks-allow-private",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("REFERRAL_WEBHOOKS_ALLOW_PRIVATE"),
        "{stderr}"
    );
}

#[test]
fn a_worker_without_the_keyring_refuses_instead_of_making_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/referrals.db", dir.path().display());
    let output = binary()
        .args(["worker", "--database-url", &url, "--worker-interval", "1"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("REFERRAL_DATA_KEYS"));
    assert!(!dir.path().join("dev-data-keys").exists());
    // And serve with a real secret, even on loopback, needs the keyring too.
    let (status, stderr, _) = serve_refused(&[
        "--bind",
        "127.0.0.1:0",
        "--jwt-secret",
        "a-real-secret-a-real-secret-a-real-secret",
    ]);
    assert!(!status.success());
    assert!(stderr.contains("REFERRAL_DATA_KEYS"), "{stderr}");
}
