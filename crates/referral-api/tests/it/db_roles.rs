//! The PostgreSQL role split of docs/operations.md: migrations run as the owner; the
//! service runs as a role made by `crates/referral-store/sql/service_role.sql`, which can
//! start, append and seal audit rows, and is refused every way of rewriting the audit log.

use diesel::connection::SimpleConnection;
use diesel::Connection;
use referral_store::keyring::Keyring;
use referral_store::testing::TestDb;

const ROLE_SQL: &str = include_str!("../../../referral-store/sql/service_role.sql");

/// A login role, dropped with everything granted to it when the test ends.
struct Role {
    name: String,
    admin_url: String,
}

impl Drop for Role {
    fn drop(&mut self) {
        if let Ok(mut c) = diesel::PgConnection::establish(&self.admin_url) {
            let _ = c.batch_execute(&format!(
                "DROP OWNED BY {0}; DROP ROLE IF EXISTS {0};",
                self.name
            ));
        }
    }
}

/// The file's statements with psql's `:"role"` and `:"schema"` filled in.
fn role_script(role: &str, schema: &str) -> String {
    ROLE_SQL
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace(":\"role\"", &format!("\"{role}\""))
        .replace(":\"schema\"", &format!("\"{schema}\""))
}

#[test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "TEST_DATABASE_URL was not set when the tests were built"
)]
fn the_service_role_runs_the_service_but_cannot_rewrite_the_audit_log() {
    let Some(db) = TestDb::postgres() else {
        return;
    };
    let admin_url = referral_store::testing::postgres_url().unwrap();
    let schema = db.url.split("search_path%3D").nth(1).unwrap().to_owned();
    let role = Role {
        name: format!("referral_app_{}", &schema[5..17]),
        admin_url: admin_url.clone(),
    };
    let mut owner = diesel::PgConnection::establish(&db.url).unwrap();
    owner
        .batch_execute(&format!("CREATE ROLE {} LOGIN", role.name))
        .unwrap();
    owner
        .batch_execute(&role_script(&role.name, &schema))
        .unwrap();

    // The service's URL: the same database and schema, as the role.
    let app_url = db.url.replacen("postgres@", &format!("{}@", role.name), 1);
    assert_ne!(
        app_url, db.url,
        "the test database URL names the user postgres"
    );

    // serve starts as the role (its start checks the migrations) ...
    let mut args = referral_api::config::ServeArgs::for_tests(&app_url, crate::support::SECRET);
    args.mailbox_dir = std::env::temp_dir().join(format!("roles-{}", role.name));
    let (service, _delivery) =
        referral_api::startup::build(args).expect("serve starts as the service role");
    drop(service);

    // ... and appends and seals audit rows.
    let keyring = Keyring::parse(referral_api::config::TEST_DATA_KEYS).unwrap();
    let pool = referral_store::open_pool(&app_url, 1).unwrap();
    let mut conn = pool.get().unwrap();
    let entry = referral_store::audit::NewAuditEntry {
        actor_id: None,
        actor_role: "admin".into(),
        action: "referral.read".into(),
        resource_type: "referral".into(),
        resource_id: Some("r1".into()),
        outcome: "success".into(),
        ip_address: None,
        user_agent: None,
    };
    referral_store::audit::append(&mut conn, &keyring, &entry, chrono::Utc::now()).unwrap();
    let sealed = referral_store::audit::seal_all(
        &mut conn,
        &keyring,
        chrono::Utc::now() + chrono::Duration::hours(1),
    )
    .unwrap();
    assert_eq!(sealed.sealed, 1);

    // The daily retention runs as the role: partman's maintenance through the owner's
    // function (it makes and drops the interactions' months), never by itself.
    let erased = referral_store::retention::erase_due(
        &mut conn,
        &referral_domain::retention::RetentionPolicy::default(),
        chrono::Utc::now() + chrono::Duration::days(400),
    )
    .expect("retention runs as the service role");
    assert!(erased.interaction_months >= 1, "{erased:?}");

    // Every way of rewriting the trail is refused to it.
    let mut app = diesel::PgConnection::establish(&app_url).unwrap();
    for attempt in [
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "UPDATE audit_log SET outcome = 'forged'",
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update",
        "ALTER TABLE audit_log DISABLE TRIGGER ALL",
        "DROP TABLE audit_log",
        "DELETE FROM audit_chain_head",
        "TRUNCATE audit_chain_head",
        "DROP TRIGGER audit_log_no_update ON audit_log",
        "DELETE FROM __diesel_schema_migrations",
        "DROP TABLE referral_interactions",
        "CREATE TABLE referral_interactions_p2099_01 PARTITION OF referral_interactions \
         FOR VALUES FROM ('2099-01-01') TO ('2099-02-01')",
    ] {
        let refused = app.batch_execute(attempt);
        let message = format!("{refused:?}");
        assert!(
            refused.is_err()
                && (message.contains("permission denied") || message.contains("must be owner")),
            "{attempt}: {message}"
        );
    }
    let report = referral_store::audit::verify(&mut conn, &keyring).unwrap();
    assert_eq!((report.verified, report.broken), (1, None));
}
