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
