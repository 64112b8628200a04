//! The lifecycle after creation: declining, bulk operations.

use super::*;
use crate::common::*;
use referral_domain::{DomainError, InducementPolicy, ReferralStatus};
use referral_store::referrals::{self};
use referral_store::testing::TestDb;
use referral_store::{both_databases, StoreError};

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
