//! Listing referrals: filters, pages, a stable order.

use crate::common::*;
use chrono::Duration;
use referral_domain::ReferralStatus;
use referral_store::both_databases;
use referral_store::page::Page;
use referral_store::referrals::{self, ReferralFilter};
use referral_store::testing::TestDb;
use ring::rand::SystemRandom;

both_databases!(
    listing_filters_and_pages_in_a_stable_order,
    |db: &TestDb| {
        let mut conn = db.conn();
        let p1 = program(&mut conn, serde_json::json!({}));
        let p2 = program(&mut conn, serde_json::json!({"name": "Other"}));
        let alice = patient(&mut conn, "alice@example.com");
        let rng = SystemRandom::new();
        for i in 0..5 {
            let input = new_referral(
                &alice,
                if i % 2 == 0 { &p1 } else { &p2 },
                &format!("f{i}@example.com"),
            );
            referrals::create(&mut conn, &rng, &input, t0() + Duration::minutes(i)).unwrap();
        }
        let all = referrals::list(
            &mut conn,
            &ReferralFilter::default(),
            t0(),
            Page::new(Some(2), Some(0)),
        )
        .unwrap();
        assert_eq!(all.total, 5);
        assert_eq!(all.items.len(), 2);
        assert_eq!(
            all.items[0].referee_email.as_str(),
            "f4@example.com",
            "newest first"
        );
        let page3 = referrals::list(
            &mut conn,
            &ReferralFilter::default(),
            t0(),
            Page::new(Some(2), Some(4)),
        )
        .unwrap();
        assert_eq!(page3.items.len(), 1);
        assert_eq!(page3.items[0].referee_email.as_str(), "f0@example.com");
        let in_p1 = ReferralFilter {
            program_id: Some(p1.id),
            ..Default::default()
        };
        assert_eq!(
            referrals::list(&mut conn, &in_p1, t0(), Page::default())
                .unwrap()
                .total,
            3
        );
        let window = ReferralFilter {
            from: Some(t0() + Duration::minutes(1)),
            to: Some(t0() + Duration::minutes(3)),
            ..Default::default()
        };
        assert_eq!(
            referrals::list(&mut conn, &window, t0(), Page::default())
                .unwrap()
                .total,
            2
        );
        let expired = ReferralFilter {
            status: Some(ReferralStatus::Expired),
            ..Default::default()
        };
        assert_eq!(
            referrals::list(
                &mut conn,
                &expired,
                t0() + Duration::days(60),
                Page::default()
            )
            .unwrap()
            .total,
            5
        );
        let pending = ReferralFilter {
            status: Some(ReferralStatus::Pending),
            ..Default::default()
        };
        assert_eq!(
            referrals::list(
                &mut conn,
                &pending,
                t0() + Duration::days(60),
                Page::default()
            )
            .unwrap()
            .total,
            0
        );
        assert_eq!(
            Page::new(Some(10_000), Some(-5)),
            Page {
                limit: 500,
                offset: 0
            }
        );
    }
);
