//! Rewards: approval of cash, redeeming once, expiry sweeps.

use super::*;
use crate::common::*;
use chrono::Duration;
use referral_domain::{
    ConsultationId, DomainError, InducementPolicy, OrderId, PartyRewardStatus, ReferralStatus,
    RewardStatus,
};
use referral_store::events::{self, ConsultationEvent};
use referral_store::outbox::{self, OutboxKind};
use referral_store::page::Page;
use referral_store::referrals::{self};
use referral_store::rewards::{self, Party};
use referral_store::testing::TestDb;
use referral_store::{both_databases, StoreError};

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
            &on_order(OrderId::new_random()),
            &InducementPolicy::default(),
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
            &on_order(order),
            &InducementPolicy::default(),
            t0(),
        ),
        Err(StoreError::NotFound)
    ));
    let used = rewards::redeem(
        &mut conn,
        reward.id,
        Some(reg.patient.id),
        &on_order(order),
        &InducementPolicy::default(),
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
        &on_order(order),
        &InducementPolicy::default(),
        t0(),
    )
    .unwrap_err();
    assert_eq!(domain(twice).code(), "reward_not_available");
});

both_databases!(discounts_count_at_the_value_they_give, |db: &TestDb| {
    let mut conn = db.conn();
    let program = program(&mut conn, serde_json::json!({}));
    let alice = patient(&mut conn, "alice@example.com");
    let referral = refer(&mut conn, &alice, &program, "bob@example.com");
    let reg = register(&mut conn, &referral, "bob@example.com");
    let discount = reg.referee_reward.unwrap();
    assert_eq!(discount.reward_type, referral_domain::RewardType::Discount);
    let policy = InducementPolicy::default();
    let order = OrderId::new_random();
    // A percentage needs the amount it applies to.
    let without = rewards::Redemption {
        target: referral_domain::RedemptionTarget::Order(order),
        amount: None,
    };
    let err = rewards::redeem(&mut conn, discount.id, None, &without, &policy, t0()).unwrap_err();
    assert_eq!(domain(err).code(), "validation_failed");
    // Bob is a federal-programme patient: 20% of 500.00 is 100.00, but he may get 15.00.
    report(
        &mut conn,
        &reg.patient,
        referral_domain::FactsInput {
            federal_payer: Some(true),
            ..Default::default()
        },
    );
    let year = rewards::granted_this_year(&mut conn, reg.patient.id, t0()).unwrap();
    assert!(year.is_zero(), "an unused discount counts nothing");
    let on_500 = rewards::Redemption {
        amount: Some(referral_domain::Money::from_cents(50_000).unwrap()),
        ..without
    };
    let used = rewards::redeem(&mut conn, discount.id, None, &on_500, &policy, t0()).unwrap();
    assert_eq!(used.applied_amount.unwrap().to_string(), "15.00");
    // From now on it counts against his caps at what it gave.
    let year = rewards::granted_this_year(&mut conn, reg.patient.id, t0()).unwrap();
    assert_eq!(year.to_string(), "15.00");
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
            &on_order(OrderId::new_random()),
            &InducementPolicy::default(),
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
