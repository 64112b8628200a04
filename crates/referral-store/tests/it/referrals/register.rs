//! Registering with a code: the patient, the referee's reward.

use super::*;
use crate::common::*;
use chrono::Duration;
use referral_domain::{
    DomainError, Email, InducementPolicy, PartyRewardStatus, ReferralStatus, RewardStatus,
    RewardType,
};
use referral_store::page::Page;
use referral_store::patients::{self};
use referral_store::referrals::{self};
use referral_store::rewards::{self, Party};
use referral_store::testing::TestDb;
use referral_store::{both_databases, StoreError};

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

both_databases!(confirmation_links_work_once_and_for_a_day, |db: &TestDb| {
    let mut conn = db.conn();
    let program = program(&mut conn, serde_json::json!({}));
    let alice = patient(&mut conn, "alice@example.com");
    let rng = ring::rand::SystemRandom::new();
    let policy = referral_domain::InducementPolicy::default();
    let link_of = |conn: &mut referral_store::DbConnection, email: &str| -> String {
        let page = referral_store::page::Page::new(Some(500), None);
        referral_store::outbox::list(conn, None, page)
            .unwrap()
            .items
            .into_iter()
            .filter(|m| m.recipient == email && m.template == "registration_verification")
            .map(|m| m.payload["verification_token"].as_str().unwrap().to_owned())
            .next()
            .unwrap()
    };
    // A link that waited more than 24 hours has expired, and the code is still unused.
    let late = refer(&mut conn, &alice, &program, "bob@example.com");
    let started = referrals::start_registration(
        &mut conn,
        &rng,
        &late.referral_code.to_string(),
        &registrant("bob@example.com"),
        "k1.bob",
        t0(),
    )
    .unwrap();
    assert_eq!(started, referrals::VerificationStarted::LinkSent);
    let token = link_of(&mut conn, "bob@example.com");
    let expired = referrals::complete_registration(
        &mut conn,
        &token,
        None,
        &policy,
        t0() + chrono::Duration::hours(24),
    )
    .unwrap_err();
    assert_eq!(domain(expired).code(), "verification_expired");
    assert_eq!(
        referrals::get(&mut conn, late.id, t0()).unwrap().status,
        ReferralStatus::Pending
    );
    // Within the day it registers, once.
    let registration = referrals::complete_registration(
        &mut conn,
        &token,
        None,
        &policy,
        t0() + chrono::Duration::hours(23),
    )
    .unwrap();
    assert_eq!(registration.referral.status, ReferralStatus::Registered);
    assert!(matches!(
        referrals::complete_registration(&mut conn, &token, None, &policy, t0()),
        Err(StoreError::NotFound)
    ));
    // An address that has an account gets no link.
    let other = refer(&mut conn, &alice, &program, "carl@example.com");
    let started = referrals::start_registration(
        &mut conn,
        &rng,
        &other.referral_code.to_string(),
        &registrant("bob@example.com"),
        "k1.bob",
        t0(),
    )
    .unwrap();
    assert_eq!(started, referrals::VerificationStarted::AlreadyRegistered);
});
