//! Interactions by month (#33): on PostgreSQL one partition a month made by pg_partman,
//! made ahead by the retention run's maintenance and dropped whole once past retention; on
//! SQLite one table losing the same rows. And the migration that partitions a populated
//! table keeps every row.

use crate::common::*;
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use referral_domain::retention::RetentionPolicy;
use referral_domain::InteractionType;
use referral_store::both_databases;
use referral_store::conn::DbConnection;
use referral_store::referrals::{self, RequestOrigin};
use referral_store::retention;
use referral_store::schema::referral_interactions;
use referral_store::testing::{TestBackend, TestDb};

fn interactions(conn: &mut DbConnection) -> Vec<DateTime<Utc>> {
    let mut times: Vec<DateTime<Utc>> = referral_interactions::table
        .select(referral_interactions::created_at)
        .load::<referral_store::sql_types::DbTime>(conn)
        .unwrap()
        .into_iter()
        .map(|t| t.0)
        .collect();
    times.sort();
    times
}

/// The interactions table's partitions, by name (`referral_interactions_p2026_12`), and
/// how many rows the default partition holds.
fn months(conn: &mut DbConnection) -> (Vec<String>, i64) {
    #[derive(QueryableByName)]
    struct Part {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let DbConnection::Pg(pg) = conn else {
        unreachable!("PostgreSQL only")
    };
    let parts: Vec<Part> = diesel::sql_query(
        "SELECT c.relname::text AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'referral_interactions'::regclass ORDER BY 1",
    )
    .load(pg)
    .unwrap();
    let default: Count =
        diesel::sql_query("SELECT count(*) AS n FROM referral_interactions_default")
            .get_result(pg)
            .unwrap();
    (
        parts
            .into_iter()
            .map(|p| p.name)
            .filter(|n| !n.ends_with("_default"))
            .collect(),
        default.n,
    )
}

fn month_name(at: DateTime<Utc>) -> String {
    at.format("referral_interactions_p%Y_%m").to_string()
}

fn click(conn: &mut DbConnection, referral: &referrals::Referral, at: DateTime<Utc>) {
    referrals::record_interaction(
        conn,
        referral.id,
        InteractionType::Click,
        &RequestOrigin::default(),
        None,
        at,
    )
    .unwrap();
}

both_databases!(
    retention_removes_the_months_past_it_whole_and_keeps_the_rest,
    |db: &TestDb| {
        let mut conn = db.conn();
        let start = alice_referred_bob(&mut conn);
        let now = Utc::now();
        let cut = RetentionPolicy::default().cutoffs(now);
        let removed = cut.interactions_removed_before;
        let gone = [removed - Duration::days(40), removed - Duration::seconds(1)];
        let kept = [
            removed + Duration::seconds(1),
            cut.tracking_before + Duration::days(1),
            now,
        ];
        for at in gone.iter().chain(&kept) {
            click(&mut conn, &start.referral, *at);
        }
        let before = interactions(&mut conn);
        let pg_months_before =
            matches!(db.backend, TestBackend::Postgres).then(|| months(&mut conn));
        if let Some((names, in_default)) = &pg_months_before {
            // A month for each of the last year's and four ahead: nothing lands in default.
            for at in gone.iter().chain(&kept).chain(&[now + Duration::days(100)]) {
                assert!(names.contains(&month_name(*at)), "{at} in {names:?}");
            }
            assert_eq!(*in_default, 0);
        }

        let erased = retention::erase_due(&mut conn, &RetentionPolicy::default(), now).unwrap();
        let after = interactions(&mut conn);
        assert!(after.iter().all(|t| *t >= removed), "{after:?}");
        for at in kept {
            assert!(
                after.iter().any(|t| (*t - at).num_milliseconds().abs() < 1),
                "{at} kept"
            );
        }
        let expected: Vec<_> = before.iter().copied().filter(|t| *t >= removed).collect();
        assert_eq!(after, expected, "the fixture's own old rows went too");
        if let Some((names_before, _)) = pg_months_before {
            let (names, _) = months(&mut conn);
            // Whole months went: the ones wholly before the cut, and no other.
            assert!(!names.contains(&month_name(gone[0])), "{names:?}");
            assert!(names.contains(&month_name(removed)), "{names:?}");
            assert!(names.contains(&month_name(now + Duration::days(100))));
            assert!(erased.interaction_months >= 1, "{erased:?}");
            assert_eq!(names_before.len() - names.len(), erased.interaction_months);
            // The last second before the cut lay in a dropped month too.
            assert_eq!(erased.interactions_removed, 0, "{erased:?}");
        } else {
            assert_eq!(erased.interactions_removed, before.len() - after.len());
        }

        // Idempotent: nothing more to remove.
        let again = retention::erase_due(&mut conn, &RetentionPolicy::default(), now).unwrap();
        assert_eq!(
            (again.interaction_months, again.interactions_removed),
            (0, 0)
        );
    }
);

#[test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "TEST_DATABASE_URL was not set when the tests were built"
)]
fn rows_older_than_every_month_are_removed_from_the_default_partition() {
    let Some(db) = TestDb::postgres() else { return };
    let mut conn = db.conn();
    let start = alice_referred_bob(&mut conn);
    let ancient = Utc::now() - Duration::days(3 * 365);
    click(&mut conn, &start.referral, ancient);
    assert_eq!(months(&mut conn).1, 1, "older than the partitions: default");
    let erased = retention::erase_due(&mut conn, &RetentionPolicy::default(), Utc::now()).unwrap();
    assert_eq!(erased.interactions_removed, 1, "{erased:?}");
    assert_eq!(months(&mut conn).1, 0);
}

#[test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "TEST_DATABASE_URL was not set when the tests were built"
)]
fn partitioning_a_populated_table_keeps_every_row_in_its_month() {
    let Some(db) = TestDb::postgres() else { return };
    let mut conn = db.conn();
    let reverted = referral_store::testing::revert_last_migration(&mut conn).unwrap();
    assert!(reverted.contains("000030"), "{reverted}");
    let start = alice_referred_bob(&mut conn);
    // Two years and a half of clicks, one every five days, on the one table.
    let now = Utc::now();
    let times: Vec<DateTime<Utc>> = (0..180).map(|i| now - Duration::days(5 * i)).collect();
    for at in &times {
        click(&mut conn, &start.referral, *at);
    }
    let before = interactions(&mut conn);
    assert!(before.len() >= times.len());

    assert_eq!(
        referral_store::migrate::run_migrations(&mut conn).unwrap(),
        1
    );
    assert_eq!(interactions(&mut conn), before, "every row, as it was");
    let (names, in_default) = months(&mut conn);
    assert_eq!(in_default, 0, "a month from the oldest row on");
    for at in &times {
        assert!(names.contains(&month_name(*at)), "{at}");
    }
    // The clicks still count from the index, through the partitions.
    let tally = referrals::click_tally(&mut conn, start.referral.id).unwrap();
    assert_eq!(tally.clicks, i64::try_from(times.len()).unwrap());
    // And back: the down migration puts every row in one table again.
    referral_store::testing::revert_last_migration(&mut conn).unwrap();
    assert_eq!(interactions(&mut conn), before);
    referral_store::migrate::run_migrations(&mut conn).unwrap();
}
