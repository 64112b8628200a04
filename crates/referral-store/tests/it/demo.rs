//! The demo data set: what it reports is what the tables hold, the rebuilt rollups agree
//! with the tables, and it refuses a database that already has referrals.

use chrono::Utc;
use diesel::prelude::*;
use referral_store::analytics::{self, AnalyticsFilter};
use referral_store::both_databases;
use referral_store::demo::{self, DemoOptions};
use referral_store::schema::{orders, referral_interactions, referrals};
use referral_store::testing::TestDb;

both_databases!(demo_data_is_consistent_with_its_rollups, |db: &TestDb| {
    let mut conn = db.conn();
    let mut lines = Vec::new();
    let report = demo::seed(
        &mut conn,
        DemoOptions {
            referrals: 600,
            seed: 7,
        },
        Utc::now(),
        |l| lines.push(l.to_owned()),
    )
    .unwrap();
    assert!(
        lines.iter().any(|l| l.contains("600 of 600 referrals")),
        "{lines:?}"
    );
    assert_eq!(report.referrals, 600);
    let stored: i64 = referrals::table.count().get_result(&mut **conn).unwrap();
    assert_eq!(stored, 600);
    let interactions: i64 = referral_interactions::table
        .count()
        .get_result(&mut **conn)
        .unwrap();
    assert_eq!(interactions as usize, report.interactions);

    let figures = analytics::summary(&mut conn, &AnalyticsFilter::default()).unwrap();
    let converted: i64 = referrals::table
        .filter(referrals::status.eq("converted"))
        .count()
        .get_result(&mut **conn)
        .unwrap();
    let registered: i64 = referrals::table
        .filter(referrals::referee_registered_at.is_not_null())
        .count()
        .get_result(&mut **conn)
        .unwrap();
    let clicked: i64 = referrals::table
        .filter(referrals::first_clicked_at.is_not_null())
        .count()
        .get_result(&mut **conn)
        .unwrap();
    let revenue: Vec<i64> = orders::table
        .select(orders::amount_cents)
        .load(&mut **conn)
        .unwrap();
    assert_eq!(figures.total_referrals, 600);
    assert_eq!(figures.converted, converted);
    assert_eq!(figures.registered, registered);
    assert_eq!(figures.funnel.clicked, clicked);
    assert_eq!(
        figures.revenue.cents(),
        revenue.iter().sum::<i64>(),
        "orders are all converted referees'"
    );
    assert!(converted > 0 && registered > converted && clicked > registered);
    // A first look finds something on every page: referrals in every status, rewards in
    // the review queue (with the signal that holds them) and waiting for approval.
    for status in referral_domain::ReferralStatus::ALL {
        let n: i64 = referrals::table
            .filter(referrals::status.eq(status.as_str()))
            .count()
            .get_result(&mut **conn)
            .unwrap();
        assert!(n > 0, "no demo referral is {status}");
    }
    let queue = referral_store::rewards::review_cases(
        &mut conn,
        referral_store::rewards::ReviewFilter::default(),
        referral_store::page::Page::new(Some(50), None),
        Utc::now(),
    )
    .unwrap();
    assert!(queue.total > 0 && queue.items.iter().all(|c| !c.signals.is_empty()));
    let approvals = referral_store::rewards::approval_queue(
        &mut conn,
        Utc::now(),
        referral_store::page::Page::new(Some(50), None),
    )
    .unwrap();
    assert!(approvals.total > 0);
    assert_eq!(figures.programs.len(), 6);
    assert_eq!(figures.experiments.len(), 1);
    assert!(!figures.top_referrers.is_empty());
    // Demo referrers see their rewards as the service would show them: released at the
    // end of the week they were earned in (#30), never before.
    {
        use diesel::prelude::*;
        use referral_store::schema::referral_rewards as rr;
        let mut c = db.conn();
        let referrer_rows: Vec<(chrono::DateTime<Utc>, Option<chrono::DateTime<Utc>>)> = rr::table
            .filter(rr::party.eq("referrer"))
            // A reward in review is released only once an admin approves it.
            .filter(rr::status.ne("in_review"))
            .select((rr::created_at, rr::released_at))
            .load::<(
                referral_store::sql_types::DbTime,
                Option<referral_store::sql_types::DbTime>,
            )>(&mut **c)
            .unwrap()
            .into_iter()
            .map(|(a, b)| (a.0, b.map(|t| t.0)))
            .collect();
        assert!(!referrer_rows.is_empty());
        for (created, released) in referrer_rows {
            let released = released.expect("every demo referrer reward has a release");
            assert!(released > created && released - created <= chrono::Duration::days(7));
        }
    }

    // Nothing is dated ahead of the moment it was made (#31), and no reward is used
    // before its release.
    {
        use referral_store::schema::referral_rewards as rr;
        use referral_store::sql_types::DbTime;
        let made = Utc::now();
        let mut c = db.conn();
        let times: Vec<DbTime> = referral_interactions::table
            .select(referral_interactions::created_at)
            .load(&mut **c)
            .unwrap();
        let registered: Vec<Option<DbTime>> = referrals::table
            .select(referrals::referee_registered_at)
            .load(&mut **c)
            .unwrap();
        let ordered: Vec<DbTime> = orders::table
            .select(orders::created_at)
            .load(&mut **c)
            .unwrap();
        let rewards: Vec<(DbTime, Option<DbTime>, Option<DbTime>)> = rr::table
            .select((rr::created_at, rr::used_at, rr::released_at))
            .load(&mut **c)
            .unwrap();
        let all = times
            .iter()
            .chain(registered.iter().flatten())
            .chain(&ordered)
            .chain(rewards.iter().map(|r| &r.0))
            .chain(rewards.iter().filter_map(|r| r.1.as_ref()));
        for t in all {
            assert!(t.0 <= made, "{} is ahead of {made}", t.0);
        }
        for (_, used, released) in &rewards {
            if let (Some(used), Some(released)) = (used, released) {
                assert!(
                    used.0 >= released.0,
                    "used {} before its release {}",
                    used.0,
                    released.0
                );
            }
        }
    }

    // A second run would mix demo data into real data: refused.
    let again = demo::seed(
        &mut conn,
        DemoOptions {
            referrals: 1,
            seed: 1,
        },
        Utc::now(),
        |_| {},
    );
    assert!(matches!(again, Err(referral_store::StoreError::Config(_))));
});
