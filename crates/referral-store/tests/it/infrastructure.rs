//! Connections, migrations, the audit trail and the outbox, on both databases.

use crate::common::t0;
use chrono::Duration;
use diesel::prelude::*;
use referral_store::audit::{self, AuditFilter, NewAuditEntry};
use referral_store::migrate::{migrations_complete, run_migrations};
use referral_store::outbox::{self, NewMessage, OutboxKind, OutboxStatus};
use referral_store::page::Page;
use referral_store::schema::audit_log;
use referral_store::testing::{postgres_url, TestDb};
use referral_store::{both_databases, open_pool, StoreError};

both_databases!(migrations_are_idempotent, |db: &TestDb| {
    let mut conn = db.conn();
    assert!(migrations_complete(&mut conn).unwrap());
    assert_eq!(
        run_migrations(&mut conn).unwrap(),
        0,
        "a second run applies nothing"
    );
});

/// The PL/pgSQL functions come from `sql/functions/`, applied by the functions migration
/// whose version names a digest of the sources: a database that has not seen these
/// sources (here: its row removed, as after an edit) is not ready until `migrate` runs,
/// which applies them again with `CREATE OR REPLACE`.
#[test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "TEST_DATABASE_URL was not set when the tests were built"
)]
fn the_functions_migration_applies_the_function_sources_again_when_they_change() {
    use diesel::connection::SimpleConnection;
    use diesel::sql_types::{BigInt, Text};
    #[derive(QueryableByName)]
    struct Version {
        #[diesel(sql_type = Text)]
        version: String,
    }
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let Some(db) = TestDb::postgres() else { return };
    let mut conn = db.conn();
    let referral_store::DbConnection::Pg(pg) = &mut **conn else {
        unreachable!()
    };
    let functions: Vec<Version> = diesel::sql_query(
        "SELECT version FROM __diesel_schema_migrations WHERE version LIKE '%functions%'",
    )
    .load(pg)
    .unwrap();
    assert_eq!(functions.len(), 1);
    assert!(functions[0]
        .version
        .starts_with("20261130000013_functions_"));
    let defined = |pg: &mut diesel::PgConnection| -> i64 {
        diesel::sql_query(
            "SELECT count(*) AS n FROM pg_proc WHERE proname IN \
             ('referral_event_begin', 'referral_conversion_apply') \
             AND pronamespace = current_schema()::regnamespace",
        )
        .get_result::<Count>(pg)
        .unwrap()
        .n
    };
    assert_eq!(defined(pg), 2);

    // As after an edit of a source: the database has not seen this version.
    pg.batch_execute(
        "DROP FUNCTION referral_conversion_apply(text); \
         DELETE FROM __diesel_schema_migrations WHERE version LIKE '%functions%'",
    )
    .unwrap();
    assert_eq!(defined(pg), 1);
    assert!(!migrations_complete(&mut conn).unwrap());
    assert_eq!(run_migrations(&mut conn).unwrap(), 1);
    let referral_store::DbConnection::Pg(pg) = &mut **conn else {
        unreachable!()
    };
    assert_eq!(defined(pg), 2);
    assert!(migrations_complete(&mut conn).unwrap());
}

both_databases!(
    audit_rows_are_appended_queried_and_never_changed,
    |db: &TestDb| {
        let mut conn = db.conn();
        let actor = uuid::Uuid::new_v4();
        for (i, action) in ["referral.read", "referral.create", "reward.redeem"]
            .iter()
            .enumerate()
        {
            audit::append(
                &mut conn,
                &referral_store::keyring::Keyring::single("i1", &[1u8; 32]).unwrap(),
                &NewAuditEntry {
                    actor_id: Some(actor),
                    actor_role: "patient".into(),
                    action: (*action).into(),
                    resource_type: action.split('.').next().unwrap().into(),
                    resource_id: Some(format!("r{i}")),
                    outcome: if i == 2 {
                        "denied".into()
                    } else {
                        "success".into()
                    },
                    ip_address: Some("198.51.100.4".parse().unwrap()),
                    user_agent: Some("curl/8".into()),
                },
                t0() + Duration::seconds(i as i64),
            )
            .unwrap();
        }
        let all = audit::list(&mut conn, &AuditFilter::default(), Page::default()).unwrap();
        assert_eq!(all.total, 3);
        assert_eq!(all.items[0].action, "reward.redeem", "newest first");
        assert_eq!(
            all.items[0].ip_address,
            // Its network only (#30).
            Some("198.51.100.0".parse().unwrap())
        );
        let denied = AuditFilter {
            outcome: Some("denied".into()),
            ..Default::default()
        };
        assert_eq!(
            audit::list(&mut conn, &denied, Page::default())
                .unwrap()
                .total,
            1
        );
        let by_actor = AuditFilter {
            actor_id: Some(actor),
            resource_type: Some("referral".into()),
            ..Default::default()
        };
        assert_eq!(
            audit::list(&mut conn, &by_actor, Page::default())
                .unwrap()
                .total,
            2
        );
        let window = AuditFilter {
            from: Some(t0() + Duration::seconds(1)),
            ..Default::default()
        };
        assert_eq!(
            audit::list(&mut conn, &window, Page::default())
                .unwrap()
                .total,
            2
        );

        // The database itself refuses edits and deletes.
        let edit = diesel::update(audit_log::table)
            .set(audit_log::outcome.eq("success"))
            .execute(&mut **conn);
        assert!(edit.is_err(), "audit rows must not be editable");
        let delete = diesel::delete(audit_log::table).execute(&mut **conn);
        assert!(delete.is_err(), "audit rows must not be deletable");
        assert_eq!(
            audit::list(&mut conn, &AuditFilter::default(), Page::default())
                .unwrap()
                .total,
            3
        );
    }
);

fn message(key: &str) -> NewMessage {
    NewMessage {
        kind: OutboxKind::Email,
        idempotency_key: key.into(),
        recipient: "bob@example.com".into(),
        message: referral_domain::notices::Message::ReferralInvitation(
            referral_domain::notices::Invitation {
                referral_id: uuid::Uuid::new_v4(),
                referral_code: "X".into(),
                referrer_name: None,
                referee_name: None,
                referral_message: None,
                referee_reward_type: None,
                referee_reward_value: None,
                expiry_days: 30,
                headline: None,
                locale: Default::default(),
            },
        ),
    }
}

both_databases!(outbox_lifecycle_with_leases_and_retries, |db: &TestDb| {
    let mut conn = db.conn();
    assert!(outbox::enqueue(&mut conn, &message("a"), t0()).unwrap());
    assert!(
        !outbox::enqueue(&mut conn, &message("a"), t0()).unwrap(),
        "same key queues once"
    );
    assert!(outbox::enqueue(&mut conn, &message("b"), t0()).unwrap());

    let lease = Duration::minutes(5);
    let claimed = outbox::claim(&mut conn, 10, lease, t0()).unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(claimed
        .iter()
        .all(|m| m.status == OutboxStatus::Sending && m.attempts == 1));
    assert!(
        outbox::claim(&mut conn, 10, lease, t0())
            .unwrap()
            .is_empty(),
        "leased messages are not claimed again"
    );

    let (a, b) = (claimed[0].id, claimed[1].id);
    outbox::complete(&mut conn, a, t0()).unwrap();
    outbox::retry(
        &mut conn,
        b,
        "503 from provider",
        t0() + Duration::minutes(1),
        t0(),
    )
    .unwrap();
    assert!(
        outbox::claim(&mut conn, 10, lease, t0())
            .unwrap()
            .is_empty(),
        "not due yet"
    );
    let again = outbox::claim(&mut conn, 10, lease, t0() + Duration::minutes(1)).unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    assert_eq!(again[0].last_error.as_deref(), Some("503 from provider"));
    // A worker that dies: the lease runs out and the message comes back.
    let reclaimed = outbox::claim(&mut conn, 10, lease, t0() + Duration::minutes(7)).unwrap();
    assert_eq!(reclaimed.len(), 1);
    outbox::fail(&mut conn, b, "gave up", t0()).unwrap();
    assert!(matches!(
        outbox::complete(&mut conn, b, t0()),
        Err(StoreError::NotFound)
    ));

    assert_eq!(
        outbox::list(&mut conn, Some(OutboxStatus::Sent), Page::default())
            .unwrap()
            .total,
        1
    );
    assert_eq!(
        outbox::list(&mut conn, Some(OutboxStatus::Failed), Page::default())
            .unwrap()
            .total,
        1
    );
});

#[test]
fn connection_errors_are_the_databases_own() {
    let err = open_pool("sqlite:///nonexistent-dir/deeper/x.db", 1).unwrap_err();
    assert!(matches!(err, StoreError::Connect(_)), "{err:?}");
    assert!(err.to_string().contains("unable to open"), "{err}");
    assert!(matches!(
        open_pool("mysql://localhost/x", 1),
        Err(StoreError::Config(_))
    ));
    if let Some(url) = postgres_url() {
        let base = url.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap();
        let err = open_pool(&format!("{base}/no_such_database_here"), 1).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        let err = open_pool("postgres://nobody:wrong@127.0.0.1:1/x", 1).unwrap_err();
        assert!(
            err.to_string().contains("Connection refused")
                || err.to_string().contains("connection"),
            "{err}"
        );
    }
}

both_databases!(
    a_renewed_claim_holds_and_an_abandoned_one_comes_back,
    |db: &TestDb| {
        let mut conn = db.conn();
        assert!(outbox::enqueue(&mut conn, &message("renewed"), t0()).unwrap());
        assert!(outbox::enqueue(&mut conn, &message("abandoned"), t0()).unwrap());
        assert!(outbox::enqueue(&mut conn, &message("sent"), t0()).unwrap());
        let lease = Duration::seconds(60);
        let claimed = outbox::claim(&mut conn, 10, lease, t0()).unwrap();
        assert_eq!(claimed.len(), 3);
        let id_of = |key: &str| {
            claimed
                .iter()
                .find(|m| m.idempotency_key == key)
                .map(|m| m.id)
                .unwrap()
        };
        let (renewed, abandoned, sent) = (id_of("renewed"), id_of("abandoned"), id_of("sent"));
        outbox::complete(&mut conn, sent, t0()).unwrap();
        // The worker is still at it 50 s in: it renews what it still holds, not what it sent.
        assert_eq!(
            outbox::renew(&mut conn, &[renewed, sent], t0() + Duration::seconds(110)).unwrap(),
            1
        );
        // 70 s in, the abandoned message is claimed again (a dead worker's within a minute);
        // the renewed one is not.
        let again = outbox::claim(&mut conn, 10, lease, t0() + Duration::seconds(70)).unwrap();
        let ids: Vec<_> = again.iter().map(|m| m.id).collect();
        assert_eq!(ids, vec![abandoned]);
        assert!(outbox::renew(&mut conn, &[], t0()).unwrap() == 0);
    }
);

/// A node that stopped being the primary (after a failover) refuses writes: that is
/// `unavailable` (a 503 the client may retry), not a database error; and the analytics
/// read, which folds the queued top-referrer counts where it can, still answers there.
/// A session set read-only stands in for the replica.
#[test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "TEST_DATABASE_URL was not set when the tests were built"
)]
fn a_read_only_node_is_unavailable_for_writes_and_serves_analytics() {
    use diesel::connection::SimpleConnection;
    let Some(db) = TestDb::postgres() else { return };
    let mut conn = db.conn();
    assert!(conn.is_writable().unwrap());
    let pg = |conn: &mut referral_store::DbConnection, sql: &str| {
        let referral_store::DbConnection::Pg(pg) = conn else {
            unreachable!()
        };
        pg.batch_execute(sql).unwrap();
    };
    pg(
        &mut conn,
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
    );
    assert!(!conn.is_writable().unwrap());
    let written = outbox::enqueue(&mut conn, &message("read-only"), t0());
    let analytics = referral_store::analytics::summary(
        &mut conn,
        &referral_store::analytics::AnalyticsFilter::default(),
    );
    pg(
        &mut conn,
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
    );
    assert!(
        matches!(written, Err(StoreError::Unavailable(_))),
        "{written:?}"
    );
    assert!(analytics.is_ok(), "{analytics:?}");
}
