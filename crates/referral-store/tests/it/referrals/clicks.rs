//! Clicks: counted from their rows, first clicks marked once, groups of clicks.

use crate::common::*;
use chrono::Duration;
use referral_domain::InteractionType;
use referral_store::referrals::{self, RequestOrigin};
use referral_store::rollups;
use referral_store::testing::TestDb;
use referral_store::{both_databases, StoreError};

both_databases!(
    clicks_are_counted_from_their_rows_and_unknown_codes_record_nothing,
    |db: &TestDb| {
        let mut conn = db.conn();
        let program = program(&mut conn, serde_json::json!({}));
        let alice = patient(&mut conn, "alice@example.com");
        let referral = refer(&mut conn, &alice, &program, "bob@example.com");
        let never_clicked = refer(&mut conn, &alice, &program, "carol@example.com");
        let origin = RequestOrigin {
            ip_address: Some("203.0.113.7".parse().unwrap()),
            user_agent: Some("test".into()),
            source: Some("twitter".into()),
        };
        let code = referral.referral_code.to_string().to_lowercase();
        referrals::record_click(&mut conn, &code, &origin, t0()).unwrap();
        let v6 = RequestOrigin {
            ip_address: Some("2001:db8::1".parse().unwrap()),
            ..origin.clone()
        };
        referrals::record_click(&mut conn, &code, &v6, t0() + Duration::minutes(1)).unwrap();
        // Another kind of interaction is not a click.
        referrals::record_interaction(
            &mut conn,
            referral.id,
            InteractionType::EmailSent,
            &origin,
            None,
            t0() + Duration::minutes(2),
        )
        .unwrap();
        // The rows are the count: no batch has run.
        let tallies =
            referrals::click_tallies(&mut conn, &[referral.id, never_clicked.id]).unwrap();
        assert_eq!(
            tallies.get(&referral.id),
            Some(&referrals::ClickTally {
                clicks: 2,
                last_clicked_at: Some(t0() + Duration::minutes(1))
            })
        );
        assert!(!tallies.contains_key(&never_clicked.id));
        assert!(referrals::click_tallies(&mut conn, &[]).unwrap().is_empty());
        let interactions = referrals::interactions(&mut conn, referral.id).unwrap();
        assert_eq!(interactions.len(), 3);
        assert!(interactions
            .iter()
            .all(|i| i.source.as_deref() == Some("twitter")));
        assert!(matches!(
            referrals::record_click(&mut conn, "ZZZZZZ-ZZZZZZ-ZZZZZZ", &origin, t0()),
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            referrals::record_click(&mut conn, "garbage", &origin, t0()),
            Err(StoreError::NotFound)
        ));
        assert_eq!(
            referrals::click_tally(&mut conn, never_clicked.id).unwrap(),
            referrals::ClickTally::default()
        );
    }
);

both_databases!(
    clicked_codes_move_each_referral_into_clicked_once_per_cohort,
    |db: &TestDb| {
        let mut conn = db.conn();
        let p1 = program(&mut conn, serde_json::json!({}));
        let p2 = program(&mut conn, serde_json::json!({"name": "Other"}));
        let alice = patient(&mut conn, "alice@example.com");
        let a = refer(&mut conn, &alice, &p1, "a@example.com");
        let b = refer(&mut conn, &alice, &p1, "b@example.com");
        let c = refer(&mut conn, &alice, &p2, "c@example.com");
        let d = refer(&mut conn, &alice, &p1, "d@example.com");
        let clicked = |r: &referrals::Referral, minutes: i64| referrals::ClickedCode {
            code: r.referral_code.to_string(),
            first_clicked_at: t0() + Duration::minutes(minutes),
        };
        let unknown = referrals::ClickedCode {
            code: "ZZZZZZ-ZZZZZZ-ZZZZZZ".into(),
            first_clicked_at: t0(),
        };
        referrals::mark_clicked(
            &mut conn,
            &[
                clicked(&a, 1),
                unknown.clone(),
                clicked(&b, 2),
                clicked(&c, 3),
            ],
        )
        .unwrap();
        let funnel_clicked = |program_id| summary(&mut db.conn(), program_id).funnel.clicked;
        assert_eq!(funnel_clicked(None), 3);
        // A later batch: one clicked before, the first click on another.
        referrals::mark_clicked(&mut conn, &[clicked(&a, 4), clicked(&d, 5), unknown]).unwrap();
        assert_eq!(funnel_clicked(None), 4);
        assert_eq!(funnel_clicked(Some(p1.id)), 3);
        assert_eq!(funnel_clicked(Some(p2.id)), 1);
        // The rollups agree with the tables: a rebuild counts the same first clicks.
        rollups::rebuild(&mut conn).unwrap();
        assert_eq!(funnel_clicked(Some(p1.id)), 3);
        assert_eq!(funnel_clicked(Some(p2.id)), 1);
    }
);

both_databases!(
    a_rebuild_marks_first_clicks_that_a_stopped_process_had_not,
    |db: &TestDb| {
        let mut conn = db.conn();
        let program = program(&mut conn, serde_json::json!({}));
        let alice = patient(&mut conn, "alice@example.com");
        let referral = refer(&mut conn, &alice, &program, "bob@example.com");
        // Its click row was written, and the process stopped before marking it.
        referrals::record_click(
            &mut conn,
            &referral.referral_code.to_string(),
            &RequestOrigin::default(),
            t0(),
        )
        .unwrap();
        assert_eq!(summary(&mut conn, None).funnel.clicked, 0);
        rollups::rebuild(&mut conn).unwrap();
        assert_eq!(summary(&mut conn, None).funnel.clicked, 1);
        // And marked once: a batch that arrives later does not count it again.
        referrals::mark_clicked(
            &mut conn,
            &[referrals::ClickedCode {
                code: referral.referral_code.to_string(),
                first_clicked_at: t0(),
            }],
        )
        .unwrap();
        assert_eq!(summary(&mut conn, None).funnel.clicked, 1);
    }
);

both_databases!(
    a_group_of_clicks_answers_each_and_records_the_known_codes,
    |db: &TestDb| {
        let mut conn = db.conn();
        let program = program(&mut conn, serde_json::json!({}));
        let alice = patient(&mut conn, "alice@example.com");
        let first = refer(&mut conn, &alice, &program, "bob@example.com");
        let second = refer(&mut conn, &alice, &program, "carol@example.com");
        let click = |code: String, minutes: i64| referrals::ClickToRecord {
            code,
            origin: RequestOrigin {
                source: Some("sms".into()),
                ..RequestOrigin::default()
            },
            at: t0() + Duration::minutes(minutes),
        };
        let group = [
            click(first.referral_code.to_string(), 1),
            click("ZZZZZZ-ZZZZZZ-ZZZZZZ".into(), 2),
            click(second.referral_code.to_string().to_lowercase(), 3),
            click("garbage".into(), 4),
            click(first.referral_code.to_string(), 5),
        ];
        let answers = referrals::record_clicks(&mut conn, &group).unwrap();
        assert_eq!(answers.len(), 5);
        assert_eq!(answers[0].as_ref().unwrap(), &first.referral_code);
        assert!(matches!(answers[1], Err(StoreError::NotFound)));
        assert_eq!(answers[2].as_ref().unwrap(), &second.referral_code);
        assert!(matches!(answers[3], Err(StoreError::NotFound)));
        assert_eq!(answers[4].as_ref().unwrap(), &first.referral_code);
        let times = |id| {
            referrals::interactions(&mut db.conn(), id)
                .unwrap()
                .into_iter()
                .map(|i| (i.interaction_type, i.created_at))
                .collect::<Vec<_>>()
        };
        let mut first_times = times(first.id);
        first_times.sort_by_key(|(_, at)| *at);
        assert_eq!(
            first_times,
            [
                (InteractionType::Click, t0() + Duration::minutes(1)),
                (InteractionType::Click, t0() + Duration::minutes(5))
            ]
        );
        assert_eq!(
            times(second.id),
            [(InteractionType::Click, t0() + Duration::minutes(3))]
        );
        assert!(referrals::record_clicks(&mut conn, &[]).unwrap().is_empty());
    }
);
