#![allow(clippy::unwrap_used, clippy::expect_used)]
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
            template: "reward_earned".into(),
            payload: serde_json::json!({"referee_name": null, "reward_description": "$5.00 account credit",
                                        "pending_approval": false}),
        },
        chrono::Utc::now(),
    )
    .unwrap();
    drop(conn);

    let mut worker = KillOnDrop(
        binary()
            .args(["worker", "--database-url", &url, "--worker-interval", "1"])
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

#[test]
fn audit_verify_passes_an_intact_chain_and_names_an_altered_row() {
    use diesel::connection::SimpleConnection;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/referrals.db", dir.path().display());
    let secret = "binary-test-secret-binary-test-secret";
    let pool = referral_store::open_pool(&url, 1).unwrap();
    let mut conn = pool.get().unwrap();
    referral_store::run_migrations(&mut conn).unwrap();
    let key = referral_store::audit::ChainKey::derive(secret.as_bytes());
    for i in 0..3 {
        referral_store::audit::append(
            &mut conn,
            &referral_store::audit::NewAuditEntry {
                actor_id: None,
                actor_role: "admin".into(),
                action: "referral.read".into(),
                resource_type: "referral".into(),
                resource_id: Some(format!("r{i}")),
                outcome: "success".into(),
                ip_address: None,
                user_agent: None,
            },
            chrono::Utc::now() + chrono::Duration::milliseconds(i),
        )
        .unwrap();
    }
    referral_store::audit::seal_all(&mut conn, &key).unwrap();
    let verify = || {
        binary()
            .args([
                "audit",
                "verify",
                "--database-url",
                &url,
                "--jwt-secret",
                secret,
            ])
            .output()
            .unwrap()
    };
    let ok = verify();
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
    let broken = verify();
    assert_eq!(broken.status.code(), Some(1));
    let text = String::from_utf8_lossy(&broken.stdout);
    assert!(text.contains("audit chain BROKEN at row 2"), "{text}");
}
