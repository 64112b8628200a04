//! Analytics over the referrals made here: counts by status, program and window; medians.

use crate::common::*;
use chrono::Duration;
use referral_domain::{ConsultationId, InducementPolicy};
use referral_store::both_databases;
use referral_store::events::{self, ConsultationEvent};
use referral_store::referrals::{self, RequestOrigin};
use referral_store::testing::TestDb;

both_databases!(
    analytics_count_by_status_program_and_window,
    |db: &TestDb| {
        use referral_store::analytics::{self, AnalyticsFilter};
        let mut conn = db.conn();
        let p1 = program(&mut conn, serde_json::json!({}));
        let p2 = program(
            &mut conn,
            serde_json::json!({"name": "Other", "referrer_reward_type": "cash", "referrer_reward_value": "40"}),
        );
        let alice = patient(&mut conn, "alice@example.com");
        let carol = patient(&mut conn, "carol@example.com");
        let policy = InducementPolicy::default();
        // p1: one converted (reward 25.00 credit), one registered, one pending with two clicks.
        let converted = refer(&mut conn, &alice, &p1, "b1@example.com");
        let b1 = register(&mut conn, &converted, "b1@example.com").patient;
        let e = ConsultationEvent {
            patient_id: b1.id,
            consultation_id: ConsultationId::new_random(),
            occurred_at: None,
        };
        events::record_consultation(&mut conn, &e, &policy, t0(), None).unwrap();
        let registered = refer(&mut conn, &alice, &p1, "b2@example.com");
        register(&mut conn, &registered, "b2@example.com");
        let pending = refer(&mut conn, &carol, &p1, "b3@example.com");
        for _ in 0..2 {
            referrals::record_click(
                &mut conn,
                &pending.referral_code.to_string(),
                &RequestOrigin::default(),
                t0(),
            )
            .unwrap();
        }
        referrals::mark_clicked(
            &mut conn,
            &[referrals::ClickedCode {
                code: pending.referral_code.to_string(),
                first_clicked_at: t0(),
            }],
        )
        .unwrap();
        // p2: one converted, cash pending approval.
        let cash = refer(&mut conn, &carol, &p2, "c1@example.com");
        let c1 = register(&mut conn, &cash, "c1@example.com").patient;
        let e = ConsultationEvent {
            patient_id: c1.id,
            consultation_id: ConsultationId::new_random(),
            occurred_at: None,
        };
        events::record_consultation(&mut conn, &e, &policy, t0(), None).unwrap();

        let all = summary(&mut conn, None);
        assert_eq!(all.total_referrals, 4);
        assert_eq!(all.converted, 2);
        assert_eq!(all.registered, 3);
        assert_eq!(all.conversion_rate, "50.00");
        assert_eq!(all.funnel.clicked, 1, "two clicks on one referral");
        assert_eq!(all.funnel.created, 4);
        assert_eq!(all.active_programs, 2);
        // Granted money rewards: the two referrer rewards (the three referee discounts are
        // worth nothing until used, so they are not reward cost).
        assert_eq!(all.rewards_granted, 2);
        assert_eq!(
            all.reward_cost.to_string(),
            "65.00",
            "25.00 credit + 40.00 cash; discounts count as zero"
        );
        assert_eq!(
            all.rewards_paid.to_string(),
            "0.00",
            "nothing used, the cash is not approved"
        );
        assert_eq!(all.avg_reward_cost.to_string(), "32.50");
        assert_eq!(all.top_referrers.len(), 2);
        assert!(all.top_referrers.iter().all(|r| r.converted == 1));

        let only_p1 = summary(&mut conn, Some(p1.id));
        assert_eq!(only_p1.total_referrals, 3);
        assert_eq!(only_p1.conversion_rate, "33.33");
        let later = analytics::summary(
            &mut conn,
            &AnalyticsFilter {
                from: Some(t0() + Duration::days(1)),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(later.total_referrals, 0);
        assert_eq!(later.conversion_rate, "0.00");

        let performance = analytics::performance(&mut conn, None, t0()).unwrap();
        assert_eq!(performance.len(), 2);
        let first = performance.iter().find(|p| p.program_id == p1.id).unwrap();
        let week = &first.windows[0];
        assert_eq!(week.days, 7);
        assert_eq!(
            (
                week.referrals,
                week.click_through_rate.as_str(),
                week.registration_rate.as_str(),
                week.conversion_rate.as_str()
            ),
            (3, "33.33", "66.67", "33.33")
        );
        assert_eq!(week.median_hours_to_convert, Some(0.0));
        assert_eq!(
            week.reward_cost_per_conversion
                .as_ref()
                .map(ToString::to_string),
            Some("25.00".into())
        );
    }
);

both_databases!(
    median_hours_to_convert_is_the_same_on_both_databases,
    |db: &TestDb| {
        use referral_store::analytics;
        let mut conn = db.conn();
        let program = program(&mut conn, serde_json::json!({}));
        let alice = patient(&mut conn, "alice@example.com");
        let policy = InducementPolicy::default();
        // Conversions 2, 4 and 9 hours after the referrals: median 4; with a fourth at 10
        // hours, (4 + 9) / 2 = 6.5.
        for (i, hours) in [2, 9, 4, 10].into_iter().enumerate() {
            let email = format!("friend{i}@example.com");
            let referral = refer(&mut conn, &alice, &program, &email);
            let friend = register(&mut conn, &referral, &email).patient;
            let event = ConsultationEvent {
                patient_id: friend.id,
                consultation_id: ConsultationId::new_random(),
                occurred_at: Some(t0() + Duration::hours(hours)),
            };
            events::record_consultation(&mut conn, &event, &policy, t0(), None).unwrap();
            let performance =
                analytics::performance(&mut conn, Some(program.id), t0() + Duration::days(1))
                    .unwrap();
            let median = performance[0].windows[0].median_hours_to_convert;
            let expected = [2.0, 5.5, 4.0, 6.5][i];
            assert_eq!(median, Some(expected), "after {} conversions", i + 1);
        }
    }
);
