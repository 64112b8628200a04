//! A primary that dies (#33): on a PostgreSQL this test owns (initdb'd into a temporary
//! directory, on a port of its own), stopped with `pg_ctl stop -m immediate` under the
//! running service and started again. While it is down, writes answer 503 `unavailable`
//! within 2 s and `/ready` is 503; when it is back, the same process writes again.

use crate::support::{spawn_with, TestApp};
use referral_store::testing::TestDb;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A PostgreSQL cluster of the test's own, removed on drop.
struct OwnedPostgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

impl OwnedPostgres {
    /// Initialises and starts one, or `None` (a skip) when this machine has no PostgreSQL
    /// server binaries, unless `REQUIRE_TEST_DATABASE` is set.
    fn start() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .filter(|p| p.join("initdb").exists())
            .max();
        let Some(bin) = bin else {
            assert!(
                std::env::var_os("REQUIRE_TEST_DATABASE").is_none(),
                "REQUIRE_TEST_DATABASE is set but no PostgreSQL server binaries are installed"
            );
            eprintln!("skipping: no /usr/lib/postgresql/*/bin/initdb");
            return None;
        };
        let owned = OwnedPostgres::unstarted(bin);
        assert!(owned
            .run(
                "initdb",
                &[
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "--no-sync",
                    "-D",
                    &owned.data.display().to_string()
                ]
            )
            .success());
        owned.up();
        Some(owned)
    }

    /// A data directory and a free port for a server of `bin`, not yet made.
    fn unstarted(bin: PathBuf) -> Self {
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            // PostgreSQL refuses to run as root: its files belong to `postgres`.
            Command::new("chown")
                .args(["-R", "postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        OwnedPostgres {
            bin,
            data: dir.path().join("data"),
            port,
            _dir: dir,
        }
    }

    /// A streaming replica of this server (`pg_basebackup -R`), started on its own port.
    fn replica(&self) -> OwnedPostgres {
        let replica = OwnedPostgres::unstarted(self.bin.clone());
        let primary_port = self.port.to_string();
        assert!(replica
            .run(
                "pg_basebackup",
                &[
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &primary_port,
                    "-U",
                    "postgres",
                    "-D",
                    &replica.data.display().to_string(),
                    "-R",
                    "-X",
                    "stream",
                    "--no-sync"
                ],
            )
            .success());
        replica.up();
        replica
    }

    /// Runs `sql` on this server.
    fn sql(&self, sql: &str) {
        use diesel::connection::SimpleConnection;
        use diesel::Connection;
        diesel::PgConnection::establish(&self.url())
            .unwrap()
            .batch_execute(sql)
            .unwrap();
    }

    fn run(&self, tool: &str, args: &[&str]) -> std::process::ExitStatus {
        let program = self.bin.join(tool);
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        command
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
    }

    fn socket_dir(&self) -> String {
        self.data
            .parent()
            .unwrap_or(Path::new("/tmp"))
            .display()
            .to_string()
    }

    fn up(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.socket_dir()
        );
        let data = self.data.display().to_string();
        let log = format!("{}/server.log", self.socket_dir());
        assert!(self
            .run(
                "pg_ctl",
                &["start", "-w", "-D", &data, "-l", &log, "-o", &options]
            )
            .success());
    }

    /// Kills the server as a crash would: no shutdown checkpoint, connections cut.
    fn crash(&self) {
        let data = self.data.display().to_string();
        assert!(self
            .run("pg_ctl", &["stop", "-w", "-m", "immediate", "-D", &data])
            .success());
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnedPostgres {
    fn drop(&mut self) {
        let data = self.data.display().to_string();
        let _ = self.run("pg_ctl", &["stop", "-m", "immediate", "-D", &data]);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

fn create_program(app: &TestApp, name: &str) -> reqwest::blocking::Response {
    app.post(
        Some(&app.admin()),
        "/api/referral-programs",
        json!({"name": name, "referrer_reward_type": "credit", "referrer_reward_value": "5.00"}),
    )
}

#[test]
fn writes_fail_fast_while_the_primary_is_down_and_resume_without_a_restart() {
    let Some(postgres) = OwnedPostgres::start() else {
        return;
    };
    let db = TestDb::postgres_at(&postgres.url());
    let app = spawn_with(db, |_| {});
    assert_eq!(create_program(&app, "Before").status(), 201);

    postgres.crash();
    for attempt in 0..3 {
        let started = Instant::now();
        let response = create_program(&app, &format!("While down {attempt}"));
        let took = started.elapsed();
        assert_eq!(response.status(), 503, "attempt {attempt}");
        let problem: Value = response.json().unwrap();
        assert_eq!(problem["code"], "unavailable", "{problem}");
        assert!(
            took < Duration::from_secs(2),
            "attempt {attempt} took {took:?}"
        );
    }
    let ready = app.get(None, "/ready");
    assert_eq!(ready.status(), 503);

    postgres.up();
    // The pool drops the connections the crash cut and opens new ones: within a few
    // seconds, with no restart, writes succeed again.
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        let status = create_program(&app, "After").status();
        if status == 201 || Instant::now() > deadline {
            break status;
        }
        assert_eq!(status, 503, "only `unavailable` while it recovers");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        status, 201,
        "the service writes again after the primary is back"
    );
    assert_eq!(app.get(None, "/ready").status(), 200);
    let programs: Value = app
        .get(Some(&app.admin()), "/api/referral-programs")
        .json()
        .unwrap();
    let names: Vec<&str> = programs["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(
        names.contains(&"Before") && names.contains(&"After"),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n.starts_with("While down")),
        "a refused write left nothing: {names:?}"
    );
}

fn ready(app: &TestApp) -> Value {
    app.get(None, "/ready").json().unwrap()
}

/// Polls `check` for up to `seconds`.
fn eventually(seconds: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !check() {
        assert!(Instant::now() < deadline, "not within {seconds} s: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn program_names(app: &TestApp) -> Vec<String> {
    let programs: Value = app
        .get(Some(&app.admin()), "/api/referral-programs")
        .json()
        .unwrap();
    programs["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect()
}

/// Lists read from a real streaming replica while it keeps up; when it falls behind
/// (replay paused) or dies, from the primary, and `/ready` says so; back on the replica
/// when it catches up, with no restart.
#[test]
fn reads_use_the_replica_and_fall_back_when_it_lags_or_dies() {
    let Some(primary) = OwnedPostgres::start() else {
        return;
    };
    let replica = primary.replica();
    let db = TestDb::postgres_at(&primary.url());
    let replica_url = db.url.replace(
        &format!(":{}/", primary.port),
        &format!(":{}/", replica.port),
    );
    let app = spawn_with(db, |args| {
        args.replica_url = Some(replica_url);
        args.replica_max_lag = 2;
        args.metrics_token = Some("scrape-secret-0123456789".into());
    });
    let scrape = |app: &TestApp| {
        app.client
            .get(app.url("/metrics"))
            .bearer_auth("scrape-secret-0123456789")
            .send()
            .unwrap()
            .text()
            .unwrap()
    };
    eventually(15, "reads on the replica", || {
        ready(&app)["reads"] == "replica"
    });
    assert_eq!(create_program(&app, "One").status(), 201);
    eventually(10, "the replica has the first program", || {
        program_names(&app).contains(&"One".to_owned())
    });

    // The replica stops replaying: a list right away reads it, a moment old.
    replica.sql("SELECT pg_wal_replay_pause()");
    assert_eq!(create_program(&app, "Two").status(), 201);
    assert!(
        !program_names(&app).contains(&"Two".to_owned()),
        "the list was read on the paused replica"
    );
    // Beyond --replica-max-lag, reads go to the primary and /ready says so.
    eventually(15, "reads fall back to the primary", || {
        let body = ready(&app);
        body["reads"] == "primary" && body["replica"] == "lagging"
    });
    assert!(program_names(&app).contains(&"Two".to_owned()));
    assert!(scrape(&app).contains("referral_reads_on_replica 0"));
    // The analytics and the performance read there too.
    assert_eq!(
        app.get(Some(&app.admin()), "/api/referrals/analytics")
            .status(),
        200
    );
    assert_eq!(
        app.get(Some(&app.admin()), "/api/referrals/performance")
            .status(),
        200
    );

    // It catches up: reads return to it.
    replica.sql("SELECT pg_wal_replay_resume()");
    eventually(15, "reads return to the replica", || {
        ready(&app)["reads"] == "replica"
    });
    assert!(program_names(&app).contains(&"Two".to_owned()));

    // It dies: reads keep working, on the primary.
    replica.crash();
    eventually(15, "the replica is seen down", || {
        ready(&app)["replica"] == "down"
    });
    assert!(program_names(&app).contains(&"Two".to_owned()));
    assert_eq!(app.get(Some(&app.admin()), "/api/referrals").status(), 200);
    // Every read there was audited on the primary.
    let trail: Value = app
        .get(
            Some(&app.admin()),
            "/api/referrals/audit-trail?action=referral.list&limit=50",
        )
        .json()
        .unwrap();
    assert!(trail["total"].as_i64().unwrap_or(0) >= 1, "{trail}");
}
