//! Races settled by the database, with real threads and real connections on SQLite and
//! (with TEST_DATABASE_URL) PostgreSQL. Each thread waits at a barrier so the requests
//! arrive together.

use crate::common::*;
use referral_domain::{ConsultationId, DomainError, Email, InducementPolicy, OrderId};
use referral_store::events::{self, ConsultationEvent, EventOutcome};
use referral_store::outbox::{self, NewMessage, OutboxKind};
use referral_store::page::Page;
use referral_store::referrals::{self, ReferralFilter};
use referral_store::rewards;
use referral_store::testing::TestDb;
use referral_store::{both_databases, patients, StoreError};
use ring::rand::SystemRandom;
use std::collections::HashSet;
use std::sync::Barrier;

/// Runs `n` copies of `work` at once, each with its own pooled connection.
fn together<T: Send>(
    db: &TestDb,
    n: usize,
    work: impl Fn(usize, &mut referral_store::DbConnection) -> T + Sync,
) -> Vec<T> {
    let barrier = Barrier::new(n);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (barrier, work) = (&barrier, &work);
                s.spawn(move || {
                    let mut conn = db.conn();
                    barrier.wait();
                    work(i, &mut conn)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread panicked"))
            .collect()
    })
}

both_databases!(
    twenty_conversions_threshold_two_earn_exactly_ten_rewards,
    |db: &TestDb| {
        let mut conn = db.conn();
        let program = program(&mut conn, serde_json::json!({"reward_threshold": 2}));
        let alice = patient(&mut conn, "alice@example.com");
        let friends: Vec<_> = (0..20)
            .map(|i| {
                let referral = refer(
                    &mut conn,
                    &alice,
                    &program,
                    &format!("friend{i}@example.com"),
                );
                register(&mut conn, &referral, &format!("friend{i}@example.com")).patient
            })
            .collect();
        drop(conn);
        let policy = InducementPolicy {
            annual_cap_per_patient: referral_domain::Money::parse("10000").unwrap(),
            ..InducementPolicy::default()
        };
        let outcomes = together(db, 20, |i, conn| {
            let event = ConsultationEvent {
                patient_id: friends[i].id,
                consultation_id: ConsultationId::new_random(),
                occurred_at: None,
            };
            events::record_consultation(conn, &event, &policy, t0(), None).unwrap()
        });
        let converted = outcomes
            .iter()
            .filter(|o| matches!(o, EventOutcome::Converted { .. }))
            .count();
        let with_reward = outcomes
            .iter()
            .filter(|o| {
                matches!(
                    o,
                    EventOutcome::Converted {
                        referrer_reward: Some(_),
                        ..
                    }
                )
            })
            .count();
        assert_eq!(converted, 20, "no conversion is lost");
        assert_eq!(with_reward, 10);
        // The ledger holds ten (twenty registrations in a day send some to review, which
        // the referrer does not see yet: count the ledger itself).
        let mut conn = db.conn();
        let ledger: i64 = {
            use diesel::prelude::*;
            use referral_store::schema::referral_rewards;
            referral_rewards::table
                .filter(
                    referral_rewards::patient_id
                        .eq(referral_store::sql_types::DbUuid(alice.id.as_uuid())),
                )
                .filter(referral_rewards::party.eq("referrer"))
                .count()
                .get_result(&mut **conn)
                .unwrap()
        };
        assert_eq!(ledger, 10);
    }
);

both_databases!(ten_redeems_of_one_reward_one_succeeds, |db: &TestDb| {
    let mut conn = db.conn();
    let program = program(
        &mut conn,
        serde_json::json!({"referee_reward_type": "credit", "referee_reward_value": "10"}),
    );
    let alice = patient(&mut conn, "alice@example.com");
    let referral = refer(&mut conn, &alice, &program, "bob@example.com");
    let reg = register(&mut conn, &referral, "bob@example.com");
    let reward = reg.referee_reward.unwrap();
    drop(conn);
    let results = together(db, 10, |_, conn| {
        rewards::redeem(
            conn,
            reward.id,
            Some(reg.patient.id),
            &on_order(OrderId::new_random()),
            &InducementPolicy::default(),
            t0(),
        )
    });
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    for err in results.into_iter().filter_map(Result::err) {
        match err {
            StoreError::Domain(d) => assert_eq!(d.code(), "reward_not_available"),
            other => panic!("unexpected {other:?}"),
        }
    }
});

both_databases!(
    ten_creates_with_a_limit_of_three_make_three,
    |db: &TestDb| {
        let mut conn = db.conn();
        let program = program(
            &mut conn,
            serde_json::json!({"max_referrals_per_patient": 3}),
        );
        let alice = patient(&mut conn, "alice@example.com");
        drop(conn);
        let rng = SystemRandom::new();
        let results = together(db, 10, |i, conn| {
            referrals::create(
                conn,
                &rng,
                &new_referral(&alice, &program, &format!("friend{i}@example.com")),
                t0(),
            )
        });
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 3);
        for err in results.into_iter().filter_map(Result::err) {
            assert!(
                matches!(err, StoreError::Domain(DomainError::ReferralLimitReached)),
                "{err:?}"
            );
        }
        let mut conn = db.conn();
        let filter = ReferralFilter {
            referrer_id: Some(alice.id),
            ..Default::default()
        };
        assert_eq!(
            referrals::list(&mut conn, &filter, t0(), Page::default())
                .unwrap()
                .total,
            3
        );
    }
);

both_databases!(
    five_registrations_with_one_code_link_one_patient,
    |db: &TestDb| {
        let mut conn = db.conn();
        let program = program(&mut conn, serde_json::json!({}));
        let alice = patient(&mut conn, "alice@example.com");
        let referral = refer(&mut conn, &alice, &program, "bob@example.com");
        drop(conn);
        let code = referral.referral_code.to_string();
        let policy = InducementPolicy::default();
        let results = together(db, 5, |i, conn| {
            referrals::register(
                conn,
                &code,
                &registrant(&format!("visitor{i}@example.com")),
                &policy,
                t0(),
            )
        });
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
        for err in results.iter().filter_map(|r| r.as_ref().err()) {
            assert!(
                matches!(err, StoreError::Domain(DomainError::AlreadyRegistered)),
                "{err:?}"
            );
        }
        let mut conn = db.conn();
        let mut created = 0;
        for i in 0..5 {
            if patients::find_by_email(
                &mut conn,
                &Email::parse(&format!("visitor{i}@example.com")).unwrap(),
            )
            .unwrap()
            .is_some()
            {
                created += 1;
            }
        }
        assert_eq!(created, 1, "the losers leave no patient behind");
        let linked = referrals::get(&mut conn, referral.id, t0()).unwrap();
        assert!(linked.referee_patient_id.is_some());
        assert_eq!(
            rewards::for_referral(&mut conn, referral.id, t0())
                .unwrap()
                .len(),
            1,
            "one referee reward"
        );
    }
);

both_databases!(
    one_event_delivered_five_times_converts_once,
    |db: &TestDb| {
        let mut conn = db.conn();
        let AliceReferredBob { alice, bob, .. } = alice_referred_bob(&mut conn);
        drop(conn);
        let event = ConsultationEvent {
            patient_id: bob.id,
            consultation_id: ConsultationId::new_random(),
            occurred_at: None,
        };
        let policy = InducementPolicy::default();
        let outcomes = together(db, 5, |_, conn| {
            events::record_consultation(conn, &event, &policy, t0(), None).unwrap()
        });
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| matches!(o, EventOutcome::Converted { .. }))
                .count(),
            1
        );
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| matches!(o, EventOutcome::Duplicate))
                .count(),
            4
        );
        let mut conn = db.conn();
        let ledger =
            rewards::list_for_patient(&mut conn, alice.id, None, after_release(), Page::default())
                .unwrap();
        assert_eq!(ledger.total, 1, "one referrer reward");
    }
);

both_databases!(
    concurrent_outbox_claims_never_share_a_message,
    |db: &TestDb| {
        let mut conn = db.conn();
        for i in 0..30 {
            let message = NewMessage {
                kind: OutboxKind::Email,
                idempotency_key: format!("k{i}"),
                recipient: format!("r{i}@example.com"),
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
            };
            assert!(outbox::enqueue(&mut conn, &message, t0()).unwrap());
        }
        drop(conn);
        let claims = together(db, 4, |_, conn| {
            outbox::claim(conn, 10, chrono::Duration::minutes(5), t0()).unwrap()
        });
        let ids: Vec<_> = claims.iter().flatten().map(|m| m.id).collect();
        let distinct: HashSet<_> = ids.iter().collect();
        assert_eq!(ids.len(), distinct.len(), "a message was claimed twice");
        assert_eq!(ids.len(), 30);
    }
);

both_databases!(
    one_email_registering_with_five_codes_at_once_becomes_one_patient,
    |db: &TestDb| {
        let mut conn = db.conn();
        // Five friends invited Bob, each in a program of their own.
        let codes: Vec<String> = (0..5)
            .map(|i| {
                let program = program(
                    &mut conn,
                    serde_json::json!({"name": format!("Program {i}")}),
                );
                let referrer = patient(&mut conn, &format!("referrer{i}@example.com"));
                refer(&mut conn, &referrer, &program, "bob@example.com")
                    .referral_code
                    .to_string()
            })
            .collect();
        drop(conn);
        let policy = InducementPolicy::default();
        let results = together(db, 5, |i, conn| {
            referrals::register(
                conn,
                &codes[i],
                &registrant("bob@example.com"),
                &policy,
                t0(),
            )
        });
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
        for err in results.iter().filter_map(|r| r.as_ref().err()) {
            assert!(
                matches!(err, StoreError::Domain(DomainError::DuplicateReferee)),
                "{err:?}"
            );
        }
    }
);

/// Rows still queued for `referrer_stats`.
fn queued(conn: &mut referral_store::DbConnection) -> i64 {
    use diesel::prelude::*;
    use referral_store::schema::referrer_stats_pending as pending;
    match conn {
        referral_store::DbConnection::Pg(c) => pending::table.count().get_result(c).unwrap(),
        referral_store::DbConnection::Sqlite(c) => pending::table.count().get_result(c).unwrap(),
    }
}

both_databases!(
    folds_running_at_once_count_each_queued_conversion_once,
    |db: &TestDb| {
        use referral_store::rollups;
        let mut conn = db.conn();
        let program = program(&mut conn, serde_json::json!({}));
        let alice = patient(&mut conn, "alice@example.com");
        let policy = InducementPolicy {
            annual_cap_per_patient: referral_domain::Money::parse("10000").unwrap(),
            ..InducementPolicy::default()
        };
        for i in 0..12 {
            let email = format!("friend{i}@example.com");
            let referral = refer(&mut conn, &alice, &program, &email);
            let friend = register(&mut conn, &referral, &email).patient;
            let event = consultation(&friend);
            let outcome = events::record_consultation(&mut conn, &event, &policy, t0(), None);
            assert!(matches!(outcome, Ok(EventOutcome::Converted { .. })));
        }
        assert_eq!(
            queued(&mut conn),
            12,
            "each conversion queued its referrer's count"
        );
        drop(conn);

        let folded = together(db, 4, |_, conn| {
            rollups::fold_referrer_conversions(conn).unwrap()
        });
        assert_eq!(folded.iter().sum::<usize>(), 12, "{folded:?}");

        let mut conn = db.conn();
        assert_eq!(queued(&mut conn), 0);
        let all = summary(&mut conn, None);
        assert_eq!(all.top_referrers.len(), 1);
        assert_eq!(all.top_referrers[0].converted, 12);
        assert_eq!(all.top_referrers[0].referrals, 12);
        let one = summary(&mut conn, Some(program.id));
        assert_eq!(one.top_referrers[0].converted, 12);
    }
);

both_databases!(
    a_read_of_the_top_referrers_counts_conversions_still_queued,
    |db: &TestDb| {
        let mut conn = db.conn();
        let AliceReferredBob { bob, .. } = alice_referred_bob(&mut conn);
        let event = consultation(&bob);
        events::record_consultation(&mut conn, &event, &InducementPolicy::default(), t0(), None)
            .unwrap();
        assert_eq!(queued(&mut conn), 1);
        let all = summary(&mut conn, None);
        assert_eq!(all.top_referrers[0].converted, 1, "folded before the read");
        assert_eq!(queued(&mut conn), 0);
    }
);

both_databases!(
    instances_marking_the_same_codes_at_once_count_each_first_click_once,
    |db: &TestDb| {
        let mut conn = db.conn();
        let program = program(&mut conn, serde_json::json!({}));
        let alice = patient(&mut conn, "alice@example.com");
        let codes: Vec<String> = (0..30)
            .map(|i| {
                refer(&mut conn, &alice, &program, &format!("f{i}@example.com"))
                    .referral_code
                    .to_string()
            })
            .collect();
        drop(conn);
        // Six instances each saw clicks on every code, and mark them in orders of their own.
        let flushed = together(db, 6, |i, conn| {
            let mut batch: Vec<referrals::ClickedCode> = codes
                .iter()
                .map(|code| referrals::ClickedCode {
                    code: code.clone(),
                    first_clicked_at: t0(),
                })
                .collect();
            batch.rotate_left(i * 5);
            referrals::mark_clicked(conn, &batch)
        });
        assert!(flushed.iter().all(Result::is_ok), "{flushed:?}");
        let mut conn = db.conn();
        assert_eq!(
            summary(&mut conn, None).funnel.clicked,
            30,
            "each referral enters \"clicked\" once"
        );
    }
);
