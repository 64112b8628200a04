//! Conversions: once, by consultation or paid order, in batches, under the inducement
//! policy, with their audit row.

use crate::common::*;
use chrono::Duration;
use referral_domain::{
    ConsultationId, InducementPolicy, InteractionType, Money, OrderId, PartyRewardStatus,
    PatientId, ReferralStatus, RewardRefusal, RewardStatus,
};
use referral_store::both_databases;
use referral_store::events::{self, ConsultationEvent, EventOutcome, OrderEvent};
use referral_store::outbox::{self};
use referral_store::page::Page;
use referral_store::referrals::{self};
use referral_store::rewards::{self};
use referral_store::testing::TestDb;

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
        // The reward-earned email is queued for the referrer with the week's release.
        assert_eq!(
            rewards::notify_releases(&mut conn, after_release()).unwrap(),
            1
        );
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
    the_inducement_policy_withholds_with_a_reason,
    |db: &TestDb| {
        let mut conn = db.conn();
        let program = program(
            &mut conn,
            serde_json::json!({"referrer_reward_type": "cash", "referrer_reward_value": "20"}),
        );
        let alice = patient(&mut conn, "alice@example.com");
        report(
            &mut conn,
            &alice,
            referral_domain::FactsInput {
                federal_payer: Some(true),
                ..Default::default()
            },
        );
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
        // The patient sees it, with the reason, once released.
        let mine =
            rewards::list_for_patient(&mut conn, alice.id, None, after_release(), Page::default())
                .unwrap();
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
        // The referrer's notice waits for the week's release.
        let queued = outbox::list(&mut conn, None, Page::new(Some(50), None)).unwrap();
        assert!(!queued.items.iter().any(|m| m.template == "reward_earned"));
        rewards::notify_releases(&mut conn, after_release()).unwrap();
        let queued = outbox::list(&mut conn, None, Page::new(Some(50), None)).unwrap();
        assert!(queued
            .items
            .iter()
            .any(|m| m.template == "reward_earned" && m.recipient == "alice@example.com"));

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
        assert_eq!(
            converted.ip_address,
            entry
                .ip_address
                .map(referral_domain::signals::audit_network)
        );
        assert_eq!(converted.user_agent.as_deref(), Some("platform/1.0"));
        assert!(rows
            .iter()
            .any(|r| r.resource_id.is_none() && r.outcome == "success"));
    }
);

both_databases!(unknown_payers_are_federal_payers, |db: &TestDb| {
    let mut conn = db.conn();
    let program = program(
        &mut conn,
        serde_json::json!({"referrer_reward_type": "cash", "referrer_reward_value": "20"}),
    );
    let convert = |conn: &mut referral_store::DbConnection,
                   referrer: &referral_store::patients::Patient,
                   friend: &str,
                   policy: &InducementPolicy| {
        let referral = refer(conn, referrer, &program, friend);
        let patient = register(conn, &referral, friend).patient;
        let event = ConsultationEvent {
            patient_id: patient.id,
            consultation_id: ConsultationId::new_random(),
            occurred_at: None,
        };
        match events::record_consultation(conn, &event, policy, t0(), None).unwrap() {
            EventOutcome::Converted {
                referrer_reward: Some(reward),
                ..
            } => reward,
            other => panic!("{other:?}"),
        }
    };
    // Never reported: the default policy treats the referrer as a federal payer.
    let unreported = referral_store::patients::upsert_from_claims(
        &mut conn,
        &referral_store::patients::PatientDetails {
            id: referral_domain::PatientId::new_random(),
            email: referral_domain::Email::parse("dana@example.com").unwrap(),
            name: None,
            phone: None,
        },
        t0(),
    )
    .unwrap();
    assert_eq!(unreported.payer_fact(), None);
    let withheld = convert(
        &mut conn,
        &unreported,
        "f1@example.com",
        &InducementPolicy::default(),
    );
    assert_eq!(
        withheld.withheld_reason,
        Some(RewardRefusal::FederalPayerCashExcluded)
    );
    // With --unknown-payer-policy commercial, the same referrer is paid.
    let commercial = InducementPolicy {
        unknown_payer: referral_domain::UnknownPayerPolicy::Commercial,
        ..InducementPolicy::default()
    };
    let granted = convert(&mut conn, &unreported, "f2@example.com", &commercial);
    assert_eq!(granted.withheld_reason, None);
    assert_eq!(granted.status, RewardStatus::PendingApproval);
    // A reported commercial payer is paid under the default policy too.
    let reported = patient(&mut conn, "erin@example.com");
    assert_eq!(reported.payer_fact(), Some(false));
    let paid = convert(
        &mut conn,
        &reported,
        "f3@example.com",
        &InducementPolicy::default(),
    );
    assert_eq!(paid.withheld_reason, None);
});

both_databases!(
    federal_payer_referees_earn_the_referrer_nothing,
    |db: &TestDb| {
        let mut conn = db.conn();
        let program = program(&mut conn, serde_json::json!({}));
        let alice = patient(&mut conn, "alice@example.com");
        let consult = |conn: &mut referral_store::DbConnection,
                       friend: &referral_store::patients::Patient,
                       policy: &InducementPolicy| {
            let event = ConsultationEvent {
                patient_id: friend.id,
                consultation_id: ConsultationId::new_random(),
                occurred_at: None,
            };
            events::record_consultation(conn, &event, policy, t0(), None).unwrap()
        };
        // A friend the platform reports as a Medicare patient.
        let referral = refer(&mut conn, &alice, &program, "bob@example.com");
        let bob = register(&mut conn, &referral, "bob@example.com").patient;
        let bob = report(
            &mut conn,
            &bob,
            referral_domain::FactsInput {
                federal_payer: Some(true),
                ..Default::default()
            },
        );
        let EventOutcome::Converted {
            referrer_reward: Some(reward),
            referral_id,
        } = consult(&mut conn, &bob, &InducementPolicy::default())
        else {
            panic!("the referral converts")
        };
        assert_eq!(referral_id, referral.id);
        assert_eq!(reward.status, RewardStatus::Cancelled);
        assert_eq!(
            reward.withheld_reason,
            Some(RewardRefusal::FederalPayerReferee)
        );
        let converted = referrals::get(&mut conn, referral.id, t0()).unwrap();
        assert_eq!(converted.status, ReferralStatus::Converted);
        assert_eq!(
            converted.referrer_reward_status,
            PartyRewardStatus::NotGranted
        );
        // The ledger keeps the withheld row and its reason (for admins); the referrer is
        // never shown it: the friend's payer is the friend's (#30).
        let ledger: Vec<_> = rewards::for_referral(&mut conn, referral.id, t0())
            .unwrap()
            .into_iter()
            .filter(|r| r.patient_id == alice.id)
            .collect();
        assert_eq!(
            ledger[0].withheld_reason,
            Some(RewardRefusal::FederalPayerReferee)
        );
        assert_eq!(ledger[0].released_at, None);
        let mine =
            rewards::list_for_patient(&mut conn, alice.id, None, after_release(), Page::default())
                .unwrap();
        assert_eq!(mine.total, 0);

        // A friend never reported: withheld under the default policy, paid under
        // `commercial`.
        let unreported = |conn: &mut referral_store::DbConnection, email: &str| {
            let r = refer(conn, &alice, &program, email);
            referral_store::referrals::register(
                conn,
                &r.referral_code.to_string(),
                &registrant(email),
                &InducementPolicy::default(),
                t0(),
            )
            .unwrap()
            .patient
        };
        let carol = unreported(&mut conn, "carol@example.com");
        let EventOutcome::Converted {
            referrer_reward: Some(withheld),
            ..
        } = consult(&mut conn, &carol, &InducementPolicy::default())
        else {
            panic!("converts")
        };
        assert_eq!(
            withheld.withheld_reason,
            Some(RewardRefusal::FederalPayerReferee)
        );
        let dave = unreported(&mut conn, "dave@example.com");
        let commercial = InducementPolicy {
            unknown_payer: referral_domain::UnknownPayerPolicy::Commercial,
            ..InducementPolicy::default()
        };
        let EventOutcome::Converted {
            referrer_reward: Some(paid),
            ..
        } = consult(&mut conn, &dave, &commercial)
        else {
            panic!("converts")
        };
        assert_eq!(paid.withheld_reason, None);
    }
);
