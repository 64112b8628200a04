//! Every referral use case, on SQLite and (with TEST_DATABASE_URL) PostgreSQL.

use crate::common::*;
use chrono::Duration;
use referral_domain::{
    ConsultationId, DomainError, Email, InducementPolicy, InteractionType, Money, OrderId,
    PartyRewardStatus, PatientId, Phone, ProgramStatus, RedemptionTarget, ReferralSource,
    ReferralStatus, RewardRefusal, RewardStatus, RewardType,
};
use referral_store::events::{self, ConsultationEvent, EventOutcome, OrderEvent};
use referral_store::outbox::{self, OutboxKind, OutboxStatus};
use referral_store::page::Page;
use referral_store::patients::{self, PatientProfileUpdate};
use referral_store::referrals::{self, ReferralFilter, RequestOrigin};
use referral_store::rewards::{self, Party};
use referral_store::rollups;
use referral_store::testing::TestDb;
use referral_store::{both_databases, programs, StoreError};
use ring::rand::SystemRandom;

fn domain(err: StoreError) -> DomainError {
    match err {
        StoreError::Domain(d) => d,
        other => panic!("expected a domain error, got {other:?}"),
    }
}

both_databases!(create_and_find_by_code, |db: &TestDb| {
    let mut conn = db.conn();
    let program = program(&mut conn, serde_json::json!({"expiry_days": 30}));
    let alice = patient(&mut conn, "alice@example.com");
    let referral = refer(&mut conn, &alice, &program, "Bob@Example.com");
    assert_eq!(referral.status, ReferralStatus::Pending);
    assert_eq!(referral.referee_email.as_str(), "bob@example.com");
    assert_eq!(referral.expires_at, t0() + Duration::days(30));
    assert_eq!(referral.referrer_reward_status, PartyRewardStatus::Pending);
    assert_eq!(
        referrals::click_tally(&mut conn, referral.id).unwrap(),
        referrals::ClickTally::default()
    );

    let shown = referral.referral_code.to_string();
    let mangled = shown.to_lowercase().replace('-', " ");
    let found = referrals::find_by_code(&mut conn, &mangled, t0()).unwrap();
    assert_eq!(found.id, referral.id);
    assert!(matches!(
        referrals::find_by_code(&mut conn, "nope", t0()),
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        referrals::find_by_code(&mut conn, "000000-000000-000000", t0()),
        Err(StoreError::NotFound)
    ));
    // Reads past the expiry show it expired before any sweep.
    let later = referrals::get(&mut conn, referral.id, t0() + Duration::days(30)).unwrap();
    assert_eq!(later.status, ReferralStatus::Expired);
    // Another patient cannot see it.
    let eve = patient(&mut conn, "eve@example.com");
    assert!(matches!(
        referrals::get_for_referrer(&mut conn, referral.id, eve.id, t0()),
        Err(StoreError::NotFound)
    ));
    assert!(referrals::get_for_referrer(&mut conn, referral.id, alice.id, t0()).is_ok());
});

both_databases!(
    creation_rules_are_enforced_and_leave_nothing_behind,
    |db: &TestDb| {
        let mut conn = db.conn();
        let program = program(
            &mut conn,
            serde_json::json!({"max_referrals_per_patient": 2}),
        );
        let alice = patient(&mut conn, "alice@example.com");
        let carol = patient(&mut conn, "carol@example.com");
        let rng = SystemRandom::new();

        let own = new_referral(&alice, &program, " ALICE@example.com ");
        assert_eq!(
            domain(referrals::create(&mut conn, &rng, &own, t0()).unwrap_err()),
            DomainError::SelfReferral
        );
        let existing = new_referral(&alice, &program, "carol@example.com");
        assert_eq!(
            domain(referrals::create(&mut conn, &rng, &existing, t0()).unwrap_err()),
            DomainError::DuplicateReferee
        );

        refer(&mut conn, &alice, &program, "bob@example.com");
        let twice = new_referral(&carol, &program, "bob@example.com");
        assert_eq!(
            domain(referrals::create(&mut conn, &rng, &twice, t0()).unwrap_err()),
            DomainError::DuplicateReferee
        );

        refer(&mut conn, &alice, &program, "dan@example.com");
        let third = new_referral(&alice, &program, "erin@example.com");
        assert_eq!(
            domain(referrals::create(&mut conn, &rng, &third, t0()).unwrap_err()),
            DomainError::ReferralLimitReached
        );
        let filter = ReferralFilter {
            referrer_id: Some(alice.id),
            ..Default::default()
        };
        assert_eq!(
            referrals::list(&mut conn, &filter, t0(), Page::default())
                .unwrap()
                .total,
            2
        );

        // Expired referrals do not count towards the limit, and their referee can be invited again.
        let later = t0() + Duration::days(31);
        let again = new_referral(&alice, &program, "bob@example.com");
        let renewed = referrals::create(&mut conn, &rng, &again, later).unwrap();
        assert_eq!(renewed.status, ReferralStatus::Pending);

        let sms_without_phone = referrals::NewReferral {
            referral_source: Some(ReferralSource::Sms),
            ..new_referral(&carol, &program, "zed@example.com")
        };
        assert_eq!(
            domain(referrals::create(&mut conn, &rng, &sms_without_phone, t0()).unwrap_err()),
            DomainError::InvalidPhone
        );
    }
);

both_databases!(programs_must_accept_the_referral, |db: &TestDb| {
    let mut conn = db.conn();
    let alice = patient(&mut conn, "alice@example.com");
    let rng = SystemRandom::new();
    let nobody = referrals::NewReferral {
        program_id: None,
        ..new_referral(
            &alice,
            &program(&mut conn, serde_json::json!({"start_date": "2027-01-01"})),
            "bob@example.com",
        )
    };
    assert!(matches!(
        referrals::create(&mut conn, &rng, &nobody, t0()),
        Err(StoreError::NoActiveProgram)
    ));
    let future = programs::list(&mut conn, None, None, Page::default())
        .unwrap()
        .items
        .remove(0);
    assert_eq!(
        domain(
            referrals::create(
                &mut conn,
                &rng,
                &new_referral(&alice, &future, "bob@example.com"),
                t0()
            )
            .unwrap_err()
        ),
        DomainError::ProgramNotStarted
    );

    let targeted = program(
        &mut conn,
        serde_json::json!({"target_conditions": ["diabetes"]}),
    );
    assert!(matches!(
        domain(
            referrals::create(
                &mut conn,
                &rng,
                &new_referral(&alice, &targeted, "bob@example.com"),
                t0()
            )
            .unwrap_err()
        ),
        DomainError::NotEligible(_)
    ));
    patients::update_profile(
        &mut conn,
        alice.id,
        &PatientProfileUpdate {
            conditions: vec!["Diabetes".into()],
            ..Default::default()
        },
        t0(),
    )
    .unwrap();
    let picked = referrals::create(&mut conn, &rng, &nobody, t0()).unwrap();
    assert_eq!(
        picked.program_id, targeted.id,
        "the only program that admits alice is picked"
    );

    let paused = program(&mut conn, serde_json::json!({}));
    let valid: referral_domain::ProgramDraft =
        serde_json::from_value(serde_json::json!({"name": "x"})).unwrap();
    programs::update(
        &mut conn,
        paused.id,
        &valid.validate().unwrap(),
        Some(ProgramStatus::Paused),
        t0(),
    )
    .unwrap();
    assert_eq!(
        domain(
            referrals::create(
                &mut conn,
                &rng,
                &new_referral(&alice, &paused, "zoe@example.com"),
                t0()
            )
            .unwrap_err()
        ),
        DomainError::ProgramNotActive(ProgramStatus::Paused)
    );
    assert!(matches!(
        programs::delete(&mut conn, targeted.id),
        Err(StoreError::ProgramHasReferrals)
    ));
    programs::delete(&mut conn, paused.id).unwrap();
});

both_databases!(invitations_are_queued_in_the_outbox, |db: &TestDb| {
    let mut conn = db.conn();
    let program = program(&mut conn, serde_json::json!({}));
    let alice = patient(&mut conn, "alice@example.com");
    let rng = SystemRandom::new();
    let by_email = referrals::NewReferral {
        referral_source: Some(ReferralSource::Email),
        ..new_referral(&alice, &program, "bob@example.com")
    };
    let r = referrals::create(&mut conn, &rng, &by_email, t0()).unwrap();
    let by_sms = referrals::NewReferral {
        referral_source: Some(ReferralSource::Sms),
        referee_phone: Some(Phone::parse("+14155550100").unwrap()),
        ..new_referral(&alice, &program, "carl@example.com")
    };
    referrals::create(&mut conn, &rng, &by_sms, t0()).unwrap();
    refer(&mut conn, &alice, &program, "dora@example.com"); // a link: nothing to send

    let queued = outbox::list(&mut conn, Some(OutboxStatus::Queued), Page::default()).unwrap();
    assert_eq!(queued.total, 2);
    let email = queued
        .items
        .iter()
        .find(|m| m.kind == OutboxKind::Email)
        .unwrap();
    assert_eq!(email.recipient, "bob@example.com");
    assert_eq!(email.template, "referral_invitation");
    assert_eq!(email.payload["referral_code"], r.referral_code.to_string());
    assert_eq!(email.payload["referee_reward_value"], "20.00");
    assert!(queued
        .items
        .iter()
        .any(|m| m.kind == OutboxKind::Sms && m.recipient == "+14155550100"));
});

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
                last_clicked_at: Some(t0() + Duration::minutes(1)),
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

both_databases!(
    registration_creates_the_patient_and_grants_the_referee_reward,
    |db: &TestDb| {
        let mut conn = db.conn();
        let program = program(&mut conn, serde_json::json!({"reward_validity_days": 60}));
        let alice = patient(&mut conn, "alice@example.com");
        let referral = refer(&mut conn, &alice, &program, "bob@example.com");
        let reg = register(&mut conn, &referral, "Bob@Example.com");
        assert_eq!(reg.patient.email.as_str(), "bob@example.com");
        assert_eq!(
            reg.patient.name.as_deref(),
            Some("Friend"),
            "the referral's name is the default"
        );
        assert_eq!(reg.referral.status, ReferralStatus::Registered);
        assert_eq!(reg.referral.referee_patient_id, Some(reg.patient.id));
        assert_eq!(reg.referral.referee_registered_at, Some(t0()));
        assert_eq!(
            reg.referral.referee_reward_status,
            PartyRewardStatus::Earned
        );
        assert_eq!(
            reg.referral
                .referee_reward_amount
                .as_ref()
                .unwrap()
                .to_string(),
            "20.00"
        );
        let reward = reg.referee_reward.unwrap();
        assert_eq!(reward.reward_type, RewardType::Discount);
        assert_eq!(reward.status, RewardStatus::Available);
        assert_eq!(reward.party, Party::Referee);
        assert_eq!(reward.expires_at, Some(t0() + Duration::days(60)));
        let listed = rewards::list_for_patient(
            &mut conn,
            reg.patient.id,
            Some(RewardStatus::Available),
            t0(),
            Page::default(),
        )
        .unwrap();
        assert_eq!(listed.total, 1);

        let code = referral.referral_code.to_string();
        let policy = InducementPolicy::default();
        let again = referrals::register(
            &mut conn,
            &code,
            &registrant("carl@example.com"),
            &policy,
            t0(),
        )
        .unwrap_err();
        assert_eq!(domain(again), DomainError::AlreadyRegistered);
        assert!(
            patients::find_by_email(&mut conn, &Email::parse("carl@example.com").unwrap())
                .unwrap()
                .is_none(),
            "nothing left behind"
        );

        let other = refer(&mut conn, &alice, &program, "dora@example.com");
        let code = other.referral_code.to_string();
        assert_eq!(
            domain(
                referrals::register(
                    &mut conn,
                    &code,
                    &registrant("alice@example.com"),
                    &policy,
                    t0()
                )
                .unwrap_err()
            ),
            DomainError::SelfReferral
        );
        assert_eq!(
            domain(
                referrals::register(
                    &mut conn,
                    &code,
                    &registrant("bob@example.com"),
                    &policy,
                    t0()
                )
                .unwrap_err()
            ),
            DomainError::DuplicateReferee
        );
        let late = t0() + Duration::days(31);
        assert_eq!(
            domain(
                referrals::register(
                    &mut conn,
                    &code,
                    &registrant("dora@example.com"),
                    &policy,
                    late
                )
                .unwrap_err()
            ),
            DomainError::ReferralExpired
        );
        assert!(matches!(
            referrals::register(
                &mut conn,
                "nope",
                &registrant("x@example.com"),
                &policy,
                t0()
            ),
            Err(StoreError::NotFound)
        ));
    }
);

both_databases!(
    consultation_converts_once_and_earns_the_referrer_reward,
    |db: &TestDb| {
        let mut conn = db.conn();
        let AliceReferredBob {
            alice,
            referral,
            bob,
            ..
        } = alice_referred_bob(&mut conn);
        let policy = InducementPolicy::default();
        let consultation = ConsultationId::new_random();
        let event = ConsultationEvent {
            patient_id: bob.id,
            consultation_id: consultation,
            occurred_at: Some(t0() + Duration::hours(2)),
        };
        let outcome = events::record_consultation(
            &mut conn,
            &event,
            &policy,
            t0() + Duration::hours(3),
            None,
        )
        .unwrap();
        let EventOutcome::Converted {
            referral_id,
            referrer_reward: Some(reward),
        } = outcome
        else {
            panic!("expected a conversion with a reward, got {outcome:?}");
        };
        assert_eq!(referral_id, referral.id);
        assert_eq!(reward.patient_id, alice.id);
        assert_eq!(reward.reward_amount.as_ref().unwrap().to_string(), "25.00");
        assert_eq!(reward.status, RewardStatus::Available);

        let converted = referrals::get(&mut conn, referral.id, t0()).unwrap();
        assert_eq!(converted.status, ReferralStatus::Converted);
        assert_eq!(converted.first_consultation_id, Some(consultation));
        assert_eq!(converted.converted_at, Some(t0() + Duration::hours(2)));
        assert_eq!(converted.referrer_reward_status, PartyRewardStatus::Earned);
        assert_eq!(
            converted
                .referrer_reward_amount
                .as_ref()
                .unwrap()
                .to_string(),
            "25.00"
        );

        // The same event again, and a later event, change nothing.
        assert_eq!(
            events::record_consultation(&mut conn, &event, &policy, t0(), None).unwrap(),
            EventOutcome::Duplicate
        );
        let order = OrderEvent {
            patient_id: bob.id,
            order_id: OrderId::new_random(),
            amount: Money::parse("40").unwrap(),
            occurred_at: None,
        };
        assert_eq!(
            events::record_order(&mut conn, &order, &policy, t0(), None).unwrap(),
            EventOutcome::AlreadyConverted {
                referral_id: referral.id
            }
        );
        assert_eq!(
            referrals::get(&mut conn, referral.id, t0())
                .unwrap()
                .first_order_id,
            None
        );
        // The reward-earned email is queued for the referrer.
        let queued = outbox::list(&mut conn, None, Page::default()).unwrap();
        assert!(queued
            .items
            .iter()
            .any(|m| m.template == "reward_earned" && m.recipient == "alice@example.com"));
        // Someone never referred: recorded, nothing else.
        let stranger = ConsultationEvent {
            patient_id: PatientId::new_random(),
            consultation_id: ConsultationId::new_random(),
            occurred_at: None,
        };
        assert_eq!(
            events::record_consultation(&mut conn, &stranger, &policy, t0(), None).unwrap(),
            EventOutcome::Recorded
        );
    }
);

both_databases!(unpaid_orders_do_not_convert, |db: &TestDb| {
    let mut conn = db.conn();
    let AliceReferredBob { referral, bob, .. } = alice_referred_bob(&mut conn);
    let policy = InducementPolicy::default();
    let free = OrderEvent {
        patient_id: bob.id,
        order_id: OrderId::new_random(),
        amount: Money::ZERO,
        occurred_at: None,
    };
    assert_eq!(
        events::record_order(&mut conn, &free, &policy, t0(), None).unwrap(),
        EventOutcome::Recorded
    );
    let paid = OrderEvent {
        patient_id: bob.id,
        order_id: OrderId::new_random(),
        amount: Money::parse("19.99").unwrap(),
        occurred_at: None,
    };
    assert!(matches!(
        events::record_order(&mut conn, &paid, &policy, t0(), None).unwrap(),
        EventOutcome::Converted { .. }
    ));
    assert_eq!(
        referrals::get(&mut conn, referral.id, t0())
            .unwrap()
            .first_order_id,
        Some(paid.order_id)
    );
});

both_databases!(
    threshold_batches_earn_one_reward_per_batch,
    |db: &TestDb| {
        let mut conn = db.conn();
        let program = program(&mut conn, serde_json::json!({"reward_threshold": 3}));
        let alice = patient(&mut conn, "alice@example.com");
        let policy = InducementPolicy::default();
        let mut rewards_earned = 0;
        let mut ids = Vec::new();
        for i in 0..7 {
            let referral = refer(
                &mut conn,
                &alice,
                &program,
                &format!("friend{i}@example.com"),
            );
            let friend = register(&mut conn, &referral, &format!("friend{i}@example.com")).patient;
            let event = ConsultationEvent {
                patient_id: friend.id,
                consultation_id: ConsultationId::new_random(),
                occurred_at: None,
            };
            let at = t0() + Duration::minutes(i);
            if let EventOutcome::Converted {
                referrer_reward: Some(_),
                ..
            } = events::record_consultation(&mut conn, &event, &policy, at, None).unwrap()
            {
                rewards_earned += 1;
            }
            ids.push(referral.id);
        }
        assert_eq!(rewards_earned, 2);
        let statuses: Vec<PartyRewardStatus> = ids
            .iter()
            .map(|id| {
                referrals::get(&mut conn, *id, t0())
                    .unwrap()
                    .referrer_reward_status
            })
            .collect();
        use PartyRewardStatus::*;
        assert_eq!(
            statuses,
            vec![Counted, Counted, Earned, Counted, Counted, Earned, Pending]
        );
    }
);

both_databases!(
    cash_rewards_wait_for_approval_and_queue_the_payout,
    |db: &TestDb| {
        let mut conn = db.conn();
        let program = program(
            &mut conn,
            serde_json::json!({"referrer_reward_type": "cash", "referrer_reward_value": "50"}),
        );
        let alice = patient(&mut conn, "alice@example.com");
        let policy = InducementPolicy::default();
        let convert = |conn: &mut referral_store::DbConnection, referee: &str| {
            let referral = refer(conn, &alice, &program, referee);
            let friend = register(conn, &referral, referee).patient;
            let event = ConsultationEvent {
                patient_id: friend.id,
                consultation_id: ConsultationId::new_random(),
                occurred_at: None,
            };
            events::record_consultation(conn, &event, &policy, t0(), None).unwrap();
            referral
        };
        let first = convert(&mut conn, "bob@example.com");
        let pending = rewards::for_referral(&mut conn, first.id, t0())
            .unwrap()
            .into_iter()
            .find(|r| r.party == Party::Referrer)
            .unwrap();
        assert_eq!(pending.status, RewardStatus::PendingApproval);
        assert_eq!(
            referrals::get(&mut conn, first.id, t0())
                .unwrap()
                .referrer_reward_status,
            PartyRewardStatus::Pending
        );
        let err = rewards::redeem(
            &mut conn,
            pending.id,
            Some(alice.id),
            RedemptionTarget::Order(OrderId::new_random()),
            t0(),
        )
        .unwrap_err();
        assert_eq!(domain(err), DomainError::RedeemPendingApproval);

        let approved = rewards::decide_approval(&mut conn, first.id, true, None, t0()).unwrap();
        assert!(approved
            .iter()
            .any(|r| r.party == Party::Referrer && r.status == RewardStatus::Available));
        assert_eq!(
            referrals::get(&mut conn, first.id, t0())
                .unwrap()
                .referrer_reward_status,
            PartyRewardStatus::Earned
        );
        let payouts = outbox::list(&mut conn, None, Page::default()).unwrap();
        assert!(payouts.items.iter().any(|m| m.kind == OutboxKind::Payout
            && m.idempotency_key == format!("payout:{}", pending.id)));
        let again = rewards::decide_approval(&mut conn, first.id, true, None, t0()).unwrap_err();
        assert_eq!(
            domain(again),
            DomainError::ApproveNotPending(RewardStatus::Available)
        );

        let second = convert(&mut conn, "carl@example.com");
        let rejected =
            rewards::decide_approval(&mut conn, second.id, false, Some("fraud"), t0()).unwrap();
        assert!(rejected
            .iter()
            .any(|r| r.party == Party::Referrer && r.status == RewardStatus::Cancelled));
        assert_eq!(
            referrals::get(&mut conn, second.id, t0())
                .unwrap()
                .referrer_reward_status,
            PartyRewardStatus::Cancelled
        );
        assert!(matches!(
            rewards::decide_approval(
                &mut conn,
                referral_domain::ReferralId::new_random(),
                true,
                None,
                t0()
            ),
            Err(StoreError::NotFound)
        ));
    }
);

both_databases!(redeem_once_by_the_owner, |db: &TestDb| {
    let mut conn = db.conn();
    let program = program(
        &mut conn,
        serde_json::json!({"referee_reward_type": "credit", "referee_reward_value": "10"}),
    );
    let alice = patient(&mut conn, "alice@example.com");
    let referral = refer(&mut conn, &alice, &program, "bob@example.com");
    let reg = register(&mut conn, &referral, "bob@example.com");
    let reward = reg.referee_reward.unwrap();
    let order = OrderId::new_random();
    assert!(matches!(
        rewards::redeem(
            &mut conn,
            reward.id,
            Some(alice.id),
            RedemptionTarget::Order(order),
            t0()
        ),
        Err(StoreError::NotFound)
    ));
    let used = rewards::redeem(
        &mut conn,
        reward.id,
        Some(reg.patient.id),
        RedemptionTarget::Order(order),
        t0(),
    )
    .unwrap();
    assert_eq!(used.status, RewardStatus::Used);
    assert_eq!(used.used_on_order_id, Some(order));
    assert_eq!(used.used_at, Some(t0()));
    let r = referrals::get(&mut conn, referral.id, t0()).unwrap();
    assert_eq!(r.referee_reward_status, PartyRewardStatus::Redeemed);
    assert_eq!(r.referee_reward_redeemed_at, Some(t0()));
    let twice = rewards::redeem(
        &mut conn,
        reward.id,
        None,
        RedemptionTarget::Order(order),
        t0(),
    )
    .unwrap_err();
    assert_eq!(domain(twice).code(), "reward_not_available");
});

both_databases!(
    expiry_sweeps_store_what_reads_already_show,
    |db: &TestDb| {
        let mut conn = db.conn();
        let program = program(
            &mut conn,
            serde_json::json!({"expiry_days": 5, "reward_validity_days": 10}),
        );
        let alice = patient(&mut conn, "alice@example.com");
        let stale = refer(&mut conn, &alice, &program, "bob@example.com");
        let used = refer(&mut conn, &alice, &program, "carl@example.com");
        let reg = register(&mut conn, &used, "carl@example.com");
        let reward = reg.referee_reward.unwrap();

        assert_eq!(
            referrals::expire_due(&mut conn, t0() + Duration::days(4)).unwrap(),
            0
        );
        assert_eq!(
            referrals::expire_due(&mut conn, t0() + Duration::days(5)).unwrap(),
            1
        );
        assert_eq!(
            referrals::get(&mut conn, stale.id, t0()).unwrap().status,
            ReferralStatus::Expired
        );
        assert_eq!(
            referrals::get(&mut conn, used.id, t0() + Duration::days(50))
                .unwrap()
                .status,
            ReferralStatus::Registered
        );

        let late = t0() + Duration::days(10);
        assert_eq!(
            rewards::get(&mut conn, reward.id, None, late)
                .unwrap()
                .status,
            RewardStatus::Expired
        );
        let err = rewards::redeem(
            &mut conn,
            reward.id,
            None,
            RedemptionTarget::Order(OrderId::new_random()),
            late,
        )
        .unwrap_err();
        assert_eq!(domain(err), DomainError::RedeemExpired);
        assert_eq!(rewards::expire_due(&mut conn, late).unwrap(), 1);
        assert_eq!(rewards::expire_due(&mut conn, late).unwrap(), 0);
        assert_eq!(
            referrals::get(&mut conn, used.id, late)
                .unwrap()
                .referee_reward_status,
            PartyRewardStatus::Expired
        );
        let filtered = rewards::list_for_patient(
            &mut conn,
            reg.patient.id,
            Some(RewardStatus::Expired),
            late,
            Page::default(),
        )
        .unwrap();
        assert_eq!(filtered.total, 1);
    }
);

both_databases!(
    the_inducement_policy_withholds_with_a_reason,
    |db: &TestDb| {
        let mut conn = db.conn();
        let program = program(
            &mut conn,
            serde_json::json!({"referrer_reward_type": "cash", "referrer_reward_value": "20"}),
        );
        let alice = patient(&mut conn, "alice@example.com");
        patients::update_profile(
            &mut conn,
            alice.id,
            &PatientProfileUpdate {
                federal_payer: true,
                ..Default::default()
            },
            t0(),
        )
        .unwrap();
        let referral = refer(&mut conn, &alice, &program, "bob@example.com");
        let bob = register(&mut conn, &referral, "bob@example.com").patient;
        let event = ConsultationEvent {
            patient_id: bob.id,
            consultation_id: ConsultationId::new_random(),
            occurred_at: None,
        };
        let outcome = events::record_consultation(
            &mut conn,
            &event,
            &InducementPolicy::default(),
            t0(),
            None,
        )
        .unwrap();
        let EventOutcome::Converted {
            referrer_reward: Some(reward),
            ..
        } = outcome
        else {
            panic!("{outcome:?}")
        };
        assert_eq!(reward.status, RewardStatus::Cancelled);
        assert_eq!(
            reward.withheld_reason,
            Some(RewardRefusal::FederalPayerCashExcluded)
        );
        assert_eq!(
            referrals::get(&mut conn, referral.id, t0())
                .unwrap()
                .referrer_reward_status,
            PartyRewardStatus::NotGranted
        );
        // The patient sees it, with the reason.
        let mine =
            rewards::list_for_patient(&mut conn, alice.id, None, t0(), Page::default()).unwrap();
        assert_eq!(
            mine.items[0].withheld_reason,
            Some(RewardRefusal::FederalPayerCashExcluded)
        );

        // The yearly cap.
        let capped = program_with_cap(&mut conn);
        let carol = patient(&mut conn, "carol@example.com");
        let tight = InducementPolicy {
            annual_cap_per_patient: Money::parse("30").unwrap(),
            ..InducementPolicy::default()
        };
        let mut outcomes = Vec::new();
        for i in 0..2 {
            let r = refer(&mut conn, &carol, &capped, &format!("f{i}@example.com"));
            let friend = register(&mut conn, &r, &format!("f{i}@example.com")).patient;
            let e = ConsultationEvent {
                patient_id: friend.id,
                consultation_id: ConsultationId::new_random(),
                occurred_at: None,
            };
            outcomes.push(events::record_consultation(&mut conn, &e, &tight, t0(), None).unwrap());
        }
        let statuses: Vec<(RewardStatus, Option<RewardRefusal>)> = outcomes
            .into_iter()
            .map(|o| match o {
                EventOutcome::Converted {
                    referrer_reward: Some(r),
                    ..
                } => (r.status, r.withheld_reason),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            statuses,
            vec![
                (RewardStatus::Available, None),
                (
                    RewardStatus::Cancelled,
                    Some(RewardRefusal::AnnualCapReached)
                )
            ]
        );
    }
);

fn program_with_cap(conn: &mut referral_store::DbConnection) -> referral_store::programs::Program {
    program(
        conn,
        serde_json::json!({"name": "Credit", "referrer_reward_type": "credit", "referrer_reward_value": "20"}),
    )
}

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

both_databases!(declined_referrals_close, |db: &TestDb| {
    let mut conn = db.conn();
    let program = program(&mut conn, serde_json::json!({}));
    let alice = patient(&mut conn, "alice@example.com");
    let referral = refer(&mut conn, &alice, &program, "bob@example.com");
    let declined = referrals::decline(&mut conn, referral.id, t0()).unwrap();
    assert_eq!(declined.status, ReferralStatus::Declined);
    assert_eq!(
        domain(referrals::decline(&mut conn, referral.id, t0()).unwrap_err()),
        DomainError::DeclineNotPending(ReferralStatus::Declined)
    );
    let code = referral.referral_code.to_string();
    assert_eq!(
        domain(
            referrals::register(
                &mut conn,
                &code,
                &registrant("bob@example.com"),
                &InducementPolicy::default(),
                t0()
            )
            .unwrap_err()
        ),
        DomainError::ReferralDeclined
    );
});

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
    bulk_operations_apply_to_each_referral_on_its_own,
    |db: &TestDb| {
        use referral_store::bulk::{self, BulkOperation};
        let mut conn = db.conn();
        let program = program(&mut conn, serde_json::json!({}));
        let alice = patient(&mut conn, "alice@example.com");
        let pending = refer(&mut conn, &alice, &program, "bob@example.com");
        let registered = refer(&mut conn, &alice, &program, "carl@example.com");
        register(&mut conn, &registered, "carl@example.com");
        let unknown = referral_domain::ReferralId::new_random();

        let results = bulk::apply(
            &mut conn,
            BulkOperation::Decline,
            &[pending.id, registered.id, unknown],
            None,
            t0(),
        );
        assert_eq!(results.len(), 3);
        assert!(results[0].1.is_ok());
        assert!(matches!(
            results[1].1,
            Err(StoreError::Domain(DomainError::DeclineNotPending(
                ReferralStatus::Registered
            )))
        ));
        assert!(matches!(results[2].1, Err(StoreError::NotFound)));
        assert_eq!(
            referrals::get(&mut conn, pending.id, t0()).unwrap().status,
            ReferralStatus::Declined
        );
        assert_eq!(
            referrals::get(&mut conn, registered.id, t0())
                .unwrap()
                .status,
            ReferralStatus::Registered,
            "a refusal changes nothing"
        );
        assert_eq!("approve_reward".parse(), Ok(BulkOperation::ApproveRewards));
        assert_eq!("approve_rewards".parse(), Ok(BulkOperation::ApproveRewards));
        assert!("explode".parse::<BulkOperation>().is_err());
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

both_databases!(
    a_conversion_writes_its_audit_row_with_its_change,
    |db: &TestDb| {
        use referral_store::audit::{self, AuditFilter, NewAuditEntry};
        let mut conn = db.conn();
        let AliceReferredBob { referral, bob, .. } = alice_referred_bob(&mut conn);
        let entry = NewAuditEntry {
            actor_id: Some(uuid::Uuid::new_v4()),
            actor_role: "service".into(),
            action: "event.consultation".into(),
            resource_type: "referral".into(),
            resource_id: None,
            outcome: String::new(),
            ip_address: Some("10.1.2.3".parse().unwrap()),
            user_agent: Some("platform/1.0".into()),
        };
        let event = ConsultationEvent {
            patient_id: bob.id,
            consultation_id: ConsultationId::new_random(),
            occurred_at: None,
        };
        let policy = InducementPolicy::default();
        let keyring = referral_store::keyring::Keyring::single("r1", &[3u8; 32]).unwrap();
        let EventOutcome::Converted {
            referrer_reward: Some(reward),
            ..
        } = events::record_consultation(&mut conn, &event, &policy, t0(), Some((&entry, &keyring)))
            .unwrap()
        else {
            panic!("expected a conversion with a reward");
        };
        // The reward handed back is the stored one.
        assert_eq!(
            rewards::get(&mut conn, reward.id, None, t0()).unwrap(),
            reward
        );
        // The timeline and the "reward earned" email were written with it.
        let kinds: Vec<_> = referrals::interactions(&mut conn, referral.id)
            .unwrap()
            .into_iter()
            .map(|i| i.interaction_type)
            .collect();
        assert!(kinds.contains(&InteractionType::Conversion), "{kinds:?}");
        let queued = outbox::list(&mut conn, None, Page::new(Some(50), None)).unwrap();
        assert!(queued
            .items
            .iter()
            .any(|m| m.idempotency_key == format!("reward-earned:{}", reward.id)));

        // A duplicate delivery is audited too, without a resource.
        assert_eq!(
            events::record_consultation(&mut conn, &event, &policy, t0(), Some((&entry, &keyring)))
                .unwrap(),
            EventOutcome::Duplicate
        );
        let rows = audit::list(
            &mut conn,
            &AuditFilter {
                action: Some("event.consultation".into()),
                ..AuditFilter::default()
            },
            Page::new(Some(10), None),
        )
        .unwrap()
        .items;
        assert_eq!(rows.len(), 2, "{rows:?}");
        let converted = rows
            .iter()
            .find(|r| r.resource_id.is_some())
            .expect("the conversion's row");
        assert_eq!(converted.resource_id, Some(referral.id.to_string()));
        assert_eq!(converted.outcome, "success");
        assert_eq!(converted.actor_id, entry.actor_id);
        assert_eq!(converted.ip_address, entry.ip_address);
        assert_eq!(converted.user_agent.as_deref(), Some("platform/1.0"));
        assert!(rows
            .iter()
            .any(|r| r.resource_id.is_none() && r.outcome == "success"));
    }
);
