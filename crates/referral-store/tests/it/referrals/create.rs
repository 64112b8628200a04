//! Creating referrals: the program's rules, the outbox invitation.

use super::*;
use crate::common::*;
use chrono::Duration;
use referral_domain::{
    DomainError, PartyRewardStatus, Phone, ProgramStatus, ReferralSource, ReferralStatus,
};
use referral_store::outbox::{self, OutboxKind, OutboxStatus};
use referral_store::page::Page;
use referral_store::referrals::{self, ReferralFilter};
use referral_store::testing::TestDb;
use referral_store::{both_databases, programs, DbConnection, StoreError};
use ring::rand::SystemRandom;

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

        // Self-referral by inbox: case, spaces, sub-addressing.
        for me in [" ALICE@example.com ", "alice+friend@example.com"] {
            let own = new_referral(&alice, &program, me);
            assert_eq!(
                domain(referrals::create(&mut conn, &rng, &own, t0()).unwrap_err()),
                DomainError::SelfReferral,
                "{me}"
            );
        }
        let queued =
            |conn: &mut DbConnection| outbox::list(conn, None, Page::default()).unwrap().total;
        let before = queued(&mut conn);
        // No membership oracle: Carol is a patient; inviting her answers like anyone,
        // sends nothing, and her code cannot register her (she is one already).
        let existing = referrals::NewReferral {
            referral_source: Some(ReferralSource::Email),
            ..new_referral(&alice, &program, "carol@example.com")
        };
        let silent = referrals::create(&mut conn, &rng, &existing, t0()).unwrap();
        assert_eq!(silent.status, ReferralStatus::Pending);
        assert!(silent.invitation_withheld);
        assert_eq!(queued(&mut conn), before, "nothing is sent to a patient");
        assert_eq!(
            domain(
                referrals::register(
                    &mut conn,
                    &silent.referral_code.to_string(),
                    &registrant("carol@example.com"),
                    &referral_domain::InducementPolicy::default(),
                    t0()
                )
                .unwrap_err()
            ),
            DomainError::DuplicateReferee
        );

        let bob = refer(&mut conn, &alice, &program, "bob@example.com");
        assert!(!bob.invitation_withheld);
        // Alice's own open invitation to the same inbox is a duplicate ...
        for again in ["bob@example.com", "BOB+again@example.com"] {
            let twice = new_referral(&alice, &program, again);
            assert_eq!(
                domain(referrals::create(&mut conn, &rng, &twice, t0()).unwrap_err()),
                DomainError::DuplicateReferee,
                "{again}"
            );
        }
        // ... another referrer's is not: telling Carol about it would disclose it.
        let carols = refer(&mut conn, &carol, &program, "bob@example.com");
        assert_eq!(carols.status, ReferralStatus::Pending);
        // The limit counts Alice's referral to Carol like any other.
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
    report(
        &mut conn,
        &alice,
        referral_domain::FactsInput {
            conditions: Some(vec!["Diabetes"]),
            ..Default::default()
        },
    );
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
    // The platform texts only on the referrer's attestation (TCPA).
    let refused = referrals::create(&mut conn, &rng, &by_sms, t0()).unwrap_err();
    assert_eq!(domain(refused).code(), "validation_failed");
    let by_sms = referrals::NewReferral {
        sms_attestation: Some(referrals::SmsAttestation::default()),
        ..by_sms
    };
    // The proof holds the number's keyed hash, which the caller makes: without it, nothing.
    assert!(referrals::create(&mut conn, &rng, &by_sms, t0()).is_err());
    let by_sms = referrals::NewReferral {
        sms_attestation: Some(referrals::SmsAttestation {
            phone_hash: Some("k1.hash".into()),
            ..referrals::SmsAttestation::default()
        }),
        ..by_sms
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
