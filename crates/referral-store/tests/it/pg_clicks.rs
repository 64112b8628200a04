//! The click's asynchronous PostgreSQL path (`pg_clicks`), against a real PostgreSQL
//! (`TEST_DATABASE_URL`; skipped without it, a failure with `REQUIRE_TEST_DATABASE`).

use crate::common::*;
use chrono::Duration;
use referral_domain::InteractionType;
use referral_store::pg_clicks::PgClickPool;
use referral_store::referrals::{self, RequestOrigin};
use referral_store::testing::TestDb;
use referral_store::StoreError;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn origin(ip: &str) -> RequestOrigin {
    RequestOrigin {
        ip_address: Some(ip.parse().unwrap()),
        user_agent: Some("test".into()),
        source: Some("twitter".into()),
    }
}

#[test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "TEST_DATABASE_URL was not set when the tests were built"
)]
fn a_click_writes_the_same_row_as_the_blocking_path_and_unknown_codes_write_nothing() {
    let Some(db) = TestDb::postgres() else { return };
    let mut conn = db.conn();
    let program = program(&mut conn, serde_json::json!({}));
    let alice = patient(&mut conn, "alice@example.com");
    let referral = refer(&mut conn, &alice, &program, "bob@example.com");
    let pool = PgClickPool::new(&db.url, 2).unwrap();
    let code = referral.referral_code.to_string().to_lowercase();
    runtime().block_on(async {
        let recorded = pool
            .record_click(&code, &origin("203.0.113.7"), t0())
            .await
            .unwrap();
        assert_eq!(recorded, referral.referral_code);
        pool.record_click(&code, &origin("2001:db8::1"), t0() + Duration::minutes(1))
            .await
            .unwrap();
        for unknown in ["ZZZZZZ-ZZZZZZ-ZZZZZZ", "garbage", ""] {
            assert!(matches!(
                pool.record_click(unknown, &origin("203.0.113.7"), t0())
                    .await,
                Err(StoreError::NotFound)
            ));
        }
    });
    assert_eq!(
        referrals::click_tally(&mut conn, referral.id).unwrap(),
        referrals::ClickTally {
            clicks: 2,
            last_clicked_at: Some(t0() + Duration::minutes(1)),
        }
    );
    let interactions = referrals::interactions(&mut conn, referral.id).unwrap();
    assert_eq!(interactions.len(), 2);
    assert!(interactions.iter().all(|i| {
        i.interaction_type == InteractionType::Click && i.source.as_deref() == Some("twitter")
    }));
}

#[test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "TEST_DATABASE_URL was not set when the tests were built"
)]
fn concurrent_clicks_through_a_small_pool_are_all_recorded() {
    let Some(db) = TestDb::postgres() else { return };
    let mut conn = db.conn();
    let program = program(&mut conn, serde_json::json!({}));
    let alice = patient(&mut conn, "alice@example.com");
    let viral = refer(&mut conn, &alice, &program, "bob@example.com");
    let other = refer(&mut conn, &alice, &program, "carol@example.com");
    // Three connections for 200 clicks at once: the rest wait for one, none is lost.
    let pool = PgClickPool::new(&db.url, 3).unwrap();
    runtime().block_on(async {
        let mut clicks = tokio::task::JoinSet::new();
        for i in 0..200 {
            let pool = pool.clone();
            let code = if i % 4 == 0 { &other } else { &viral }
                .referral_code
                .to_string();
            clicks
                .spawn(async move { pool.record_click(&code, &origin("203.0.113.7"), t0()).await });
        }
        while let Some(click) = clicks.join_next().await {
            click.expect("the click task panicked").unwrap();
        }
    });
    assert_eq!(
        referrals::click_tally(&mut conn, viral.id).unwrap().clicks,
        150
    );
    assert_eq!(
        referrals::click_tally(&mut conn, other.id).unwrap().clicks,
        50
    );
}

#[test]
fn urls_the_asynchronous_driver_cannot_take_are_refused_up_front() {
    // The caller then keeps clicks on the blocking pool (libpq does TLS; this path does not).
    for url in [
        "postgres://postgres@127.0.0.1:5432/test?sslmode=require",
        "postgres://postgres@127.0.0.1:5432/test?no_such_option=1",
        "not a url",
    ] {
        assert!(
            matches!(PgClickPool::new(url, 2), Err(StoreError::Config(_))),
            "{url}"
        );
    }
}

#[test]
fn a_database_out_of_reach_is_unavailable_not_a_panic() {
    // Nothing listens on port 1: the connection is refused when the click needs it.
    let pool =
        PgClickPool::new("postgres://postgres@127.0.0.1:1/test?connect_timeout=2", 1).unwrap();
    let result =
        runtime().block_on(pool.record_click("ABCDEF-GHJKMN-PQRSTV", &origin("203.0.113.7"), t0()));
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
}
