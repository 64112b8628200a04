//! The audit log's MACs and hash chain: intact after appends (also concurrent ones), and
//! broken, at the right row, by an edit, a deletion, a row inserted with plain SQL, or a
//! time that goes backwards; rows made with an older key still verify after a rotation.

use chrono::Utc;
use diesel::connection::SimpleConnection;
use referral_store::audit::{self, NewAuditEntry};
use referral_store::both_databases;
use referral_store::keyring::Keyring;
use referral_store::testing::{TestBackend, TestDb};
use referral_store::DbConnection;

fn entry(i: usize) -> NewAuditEntry {
    NewAuditEntry {
        actor_id: Some(uuid::Uuid::new_v4()),
        actor_role: "admin".into(),
        action: "referral.read".into(),
        resource_type: "referral".into(),
        resource_id: Some(format!("r{i}")),
        outcome: "success".into(),
        ip_address: Some("2001:db8::7".parse().unwrap()),
        user_agent: Some(format!("agent {i} \"quoted\"")),
    }
}

fn key() -> Keyring {
    Keyring::single("t1", b"chain test secret, 32 bytes long!").unwrap()
}

/// Everything written so far counts as settled.
fn later() -> chrono::DateTime<Utc> {
    Utc::now() + chrono::Duration::hours(1)
}

/// Appends `n` rows and seals them, in order.
fn append(db: &TestDb, n: usize) -> Vec<uuid::Uuid> {
    let mut conn = db.conn();
    let ids = (0..n)
        .map(|i| {
            // Distinct times, so that sealing order is append order.
            let at = Utc::now() + chrono::Duration::milliseconds(i as i64);
            audit::append(&mut conn, &key(), &entry(i), at).unwrap()
        })
        .collect();
    audit::seal_all(&mut conn, &key(), later()).unwrap();
    ids
}

/// Runs SQL with the append-only triggers off, as an intruder with database access would.
fn tamper(db: &TestDb, sql: &str) {
    let mut conn = db.conn();
    let script = match db.backend {
        TestBackend::Postgres => format!(
            "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update; {sql}; ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update;"
        ),
        TestBackend::Sqlite => format!(
            "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete; {sql};"
        ),
    };
    match &mut **conn {
        DbConnection::Pg(c) => c.batch_execute(&script).unwrap(),
        DbConnection::Sqlite(c) => c.batch_execute(&script).unwrap(),
    }
}

both_databases!(
    unsealed_rows_are_counted_and_sealing_only_links,
    |db: &TestDb| {
        append(db, 3);
        let mut conn = db.conn();
        audit::append(&mut conn, &key(), &entry(9), Utc::now()).unwrap();
        let report = audit::verify(&mut conn, &key()).unwrap();
        assert_eq!(
            (report.verified, report.unchained, report.broken),
            (3, 1, None)
        );
        // The triggers still refuse any other change, sealed row or not.
        use diesel::prelude::*;
        use referral_store::schema::audit_log;
        let sealed_row = diesel::update(audit_log::table.filter(audit_log::seq.eq(Some(1_i64))))
            .set(audit_log::outcome.eq("forged"))
            .execute(&mut **conn);
        assert!(sealed_row.is_err(), "a sealed audit row was changed");
        let unsealed_row = diesel::update(audit_log::table.filter(audit_log::seq.is_null()))
            .set(audit_log::outcome.eq("forged"))
            .execute(&mut **conn);
        assert!(unsealed_row.is_err(), "an unsealed audit row was changed");
        let resealed = diesel::update(audit_log::table.filter(audit_log::seq.eq(Some(1_i64))))
            .set(audit_log::seq.eq(Some(99_i64)))
            .execute(&mut **conn);
        assert!(resealed.is_err(), "a sealed row was moved in the chain");
        assert!(diesel::delete(audit_log::table)
            .execute(&mut **conn)
            .is_err());
        assert_eq!(
            audit::seal_all(&mut conn, &key(), later()).unwrap().sealed,
            1
        );
        assert_eq!(audit::verify(&mut conn, &key()).unwrap().verified, 4);
    }
);

both_databases!(an_untouched_chain_verifies, |db: &TestDb| {
    append(db, 25);
    let report = audit::verify(&mut db.conn(), &key()).unwrap();
    assert_eq!(report.verified, 25);
    assert_eq!(report.broken, None);
    // Another key cannot vouch for it.
    let other_key = Keyring::single("t1", b"another key, also 32 bytes long!!").unwrap();
    let other = audit::verify(&mut db.conn(), &other_key).unwrap();
    assert_eq!(other.broken.unwrap().seq, 1);
});

both_databases!(an_altered_row_is_named, |db: &TestDb| {
    let ids = append(db, 10);
    tamper(
        db,
        "UPDATE audit_log SET outcome = 'forbidden' WHERE seq = 4",
    );
    let report = audit::verify(&mut db.conn(), &key()).unwrap();
    let broken = report.broken.expect("the edit is noticed");
    assert_eq!(broken.seq, 4);
    assert_eq!(broken.id, Some(ids[3]));
    assert!(broken.reason.contains("altered"), "{}", broken.reason);
    assert_eq!(report.verified, 3);
});

both_databases!(a_deleted_row_and_a_cut_tail_are_named, |db: &TestDb| {
    append(db, 6);
    tamper(db, "DELETE FROM audit_log WHERE seq = 3");
    let broken = audit::verify(&mut db.conn(), &key())
        .unwrap()
        .broken
        .unwrap();
    assert_eq!(broken.seq, 3);
    assert!(broken.reason.contains("missing"), "{}", broken.reason);
});

both_databases!(
    rows_cut_from_the_end_are_noticed_through_the_head,
    |db: &TestDb| {
        append(db, 6);
        tamper(db, "DELETE FROM audit_log WHERE seq >= 5");
        let report = audit::verify(&mut db.conn(), &key()).unwrap();
        assert_eq!(report.verified, 4);
        let broken = report.broken.unwrap();
        assert!(
            broken.reason.contains("removed from the end"),
            "{}",
            broken.reason
        );
    }
);

both_databases!(concurrent_appends_keep_one_chain, |db: &TestDb| {
    let barrier = std::sync::Barrier::new(8);
    std::thread::scope(|s| {
        for t in 0..8 {
            let barrier = &barrier;
            s.spawn(move || {
                let mut conn = db.conn();
                barrier.wait();
                for i in 0..10 {
                    audit::append(&mut conn, &key(), &entry(t * 100 + i), Utc::now()).unwrap();
                    // Sealers on several instances take turns on the chain's head.
                    audit::seal(&mut conn, &key(), 3, later()).unwrap();
                }
            });
        }
    });
    audit::seal_all(&mut db.conn(), &key(), later()).unwrap();
    let report = audit::verify(&mut db.conn(), &key()).unwrap();
    assert_eq!(report.verified, 80);
    assert_eq!(report.unchained, 0);
    assert_eq!(report.broken, None);
});

/// Runs SQL as someone with database access but not the keyring.
fn sql(db: &TestDb, sql: &str) {
    let mut conn = db.conn();
    match &mut **conn {
        DbConnection::Pg(c) => c.batch_execute(sql).unwrap(),
        DbConnection::Sqlite(c) => c.batch_execute(sql).unwrap(),
    }
}

both_databases!(
    a_row_inserted_with_plain_sql_is_never_sealed_and_is_named,
    |db: &TestDb| {
        append(db, 3);
        let forged = uuid::Uuid::new_v4();
        let (id, at) = match db.backend {
            TestBackend::Postgres => (format!("'{forged}'"), "now()".to_owned()),
            TestBackend::Sqlite => (
                format!("'{forged}'"),
                format!(
                    "'{}'",
                    (Utc::now() - chrono::Duration::seconds(30)).format("%Y-%m-%dT%H:%M:%S%.6fZ")
                ),
            ),
        };
        sql(
            db,
            &format!(
                "INSERT INTO audit_log (id, actor_role, action, resource_type, outcome, created_at, mac, key_id) \
                 VALUES ({id}, 'admin', 'referral.read', 'referral', 'success', {at}, 'deadbeef', 't1')"
            ),
        );
        let mut conn = db.conn();
        let report = audit::seal_all(&mut conn, &key(), later()).unwrap();
        assert_eq!((report.sealed, report.refused.clone()), (0, vec![forged]));
        let verified = audit::verify(&mut conn, &key()).unwrap();
        let broken = verified.broken.expect("the forged row is named");
        assert_eq!(broken.id, Some(forged));
        assert!(broken.reason.contains("MAC"), "{}", broken.reason);
        // The service's own rows still seal around it.
        audit::append(&mut conn, &key(), &entry(7), Utc::now()).unwrap();
        assert_eq!(
            audit::seal_all(&mut conn, &key(), later()).unwrap().sealed,
            1
        );
    }
);

both_databases!(
    a_time_going_backwards_along_the_chain_is_named,
    |db: &TestDb| {
        let mut conn = db.conn();
        let now = Utc::now();
        audit::append(&mut conn, &key(), &entry(1), now).unwrap();
        audit::seal_all(&mut conn, &key(), later()).unwrap();
        // A row made by the service but dated earlier than the sealed one: sealing it after
        // makes the chain's times go backwards, which verification refuses.
        let late = audit::append(
            &mut conn,
            &key(),
            &entry(2),
            now - chrono::Duration::minutes(5),
        )
        .unwrap();
        audit::seal_all(&mut conn, &key(), later()).unwrap();
        let broken = audit::verify(&mut conn, &key()).unwrap().broken.unwrap();
        assert_eq!((broken.seq, broken.id), (2, Some(late)));
        assert!(broken.reason.contains("backwards"), "{}", broken.reason);
    }
);

both_databases!(rows_wait_to_settle_before_they_are_sealed, |db: &TestDb| {
    let mut conn = db.conn();
    let now = Utc::now();
    audit::append(&mut conn, &key(), &entry(1), now).unwrap();
    let early = audit::seal_all(&mut conn, &key(), now - chrono::Duration::seconds(2)).unwrap();
    assert_eq!(early.sealed, 0);
    assert_eq!(
        audit::seal_all(&mut conn, &key(), later()).unwrap().sealed,
        1
    );
});

both_databases!(
    rows_made_before_a_key_rotation_still_verify,
    |db: &TestDb| {
        append(db, 3);
        let rotated = key().rotated("t2", &[9u8; 32]).unwrap();
        let mut conn = db.conn();
        for i in 0..3 {
            let at = Utc::now() + chrono::Duration::seconds(1 + i);
            audit::append(&mut conn, &rotated, &entry(10 + i as usize), at).unwrap();
        }
        audit::seal_all(&mut conn, &rotated, later()).unwrap();
        let report = audit::verify(&mut conn, &rotated).unwrap();
        assert_eq!((report.verified, report.broken), (6, None));
        // Without the old key the old rows cannot be vouched for.
        let only_new = Keyring::single("t2", &[9u8; 32]).unwrap();
        assert_eq!(
            audit::verify(&mut conn, &only_new)
                .unwrap()
                .broken
                .unwrap()
                .seq,
            1
        );
    }
);
