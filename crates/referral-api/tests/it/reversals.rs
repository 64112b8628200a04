//! Reward integrity (#23) over real HTTP on both databases: holding periods, reversals by
//! refunds and cancellations (cancel or claw back), the review queue, and reversals racing
//! conversions and redeems.

use crate::support::*;
use referral_api::auth::Role;
use serde_json::{json, Value};
use uuid::Uuid;

/// `referrer` invites `friend`, who registers as invited: the friend's patient id.
fn joins(app: &TestApp, referrer: &Actor, friend: &str) -> Value {
    let email = format!("{friend}@example.org");
    let referral = app.refers(referrer, &email);
    let registered = app.registers(referral["referral_code"].as_str().unwrap(), &email);
    registered["patient_id"].clone()
}

/// The platform reports an order of `amount` for `patient`: the event's answer.
fn orders(app: &TestApp, patient: &Value, order: Uuid, amount: &str) -> Value {
    let response = app.post(
        Some(&app.service()),
        "/api/events/orders",
        json!({"patient_id": patient, "order_id": order, "amount": amount}),
    );
    assert_eq!(response.status(), 200);
    response.json().unwrap()
}

/// The platform reports a refund: the event's answer.
fn refunds(app: &TestApp, patient: &Value, order: Uuid, refund: Uuid, amount: &str) -> Value {
    let response = app.post(
        Some(&app.service()),
        "/api/events/refunds",
        json!({"patient_id": patient, "order_id": order, "refund_id": refund, "amount": amount}),
    );
    assert_eq!(response.status(), 200, "{:?}", response.text());
    response.json().unwrap()
}

/// `who`'s rewards as the ledger holds them, newest first, each with its status and the
/// plain words of the patient's own view. These tests are about the ledger's integrity;
/// what the referrer may see of it, and when, is `inference`'s.
fn my_rewards(app: &TestApp, who: &Actor) -> Vec<Value> {
    app.ledger_of(who)
        .into_iter()
        .map(|r| {
            json!({
                "id": r.id.as_uuid(),
                "status": r.status.as_str(),
                "explanation": referral_domain::reward::plain_words(
                    r.status, r.hold_until, r.cancel_reason, r.withheld_reason),
            })
        })
        .collect()
}

/// Runs the sweeps at the release of the period holding `from` (the referrer's notices).
fn told_at_release(app: &TestApp, from: chrono::DateTime<chrono::Utc>) {
    let at = app.state.policy.referrer_cadence.release_at(from);
    referral_api::workers::sweep_once(&app.state.pool, 0, at).unwrap();
}

fn referral_status(app: &TestApp, referral_id: &Value) -> String {
    let listed: Value = app
        .get(Some(&app.admin()), "/api/referrals?limit=500")
        .json()
        .unwrap();
    listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == *referral_id)
        .unwrap()["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

both_databases!(
    a_held_reward_waits_is_cancelled_by_a_refund_and_is_announced_only_when_released,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        app.program(json!({"reward_hold_days": 14}));
        let alice = app.patient("alice");
        let bob = joins(app, &alice, "bob");
        let order = Uuid::new_v4();
        let converted = orders(app, &bob, order, "80.00");
        assert_eq!(converted["outcome"], "converted");
        let reward = &converted["referrer_reward"];
        assert_eq!(reward["status"], "held");
        let hold_until: chrono::DateTime<chrono::Utc> =
            reward["hold_until"].as_str().unwrap().parse().unwrap();
        let days = (hold_until - chrono::Utc::now()).num_hours();
        assert!((14 * 24 - 1..=14 * 24).contains(&days), "{days} hours");

        // Alice sees it held, in plain words with the day it ends, and cannot use it.
        let mine = my_rewards(app, &alice);
        assert_eq!(mine[0]["status"], "held");
        let words = mine[0]["explanation"].as_str().unwrap();
        assert!(
            words.contains(&hold_until.format("%B %-d, %Y").to_string()),
            "{words}"
        );
        let redeem = format!("/api/rewards/{}/redeem", mine[0]["id"].as_str().unwrap());
        assert_problem(
            app.post(Some(&alice), &redeem, json!({"order_id": Uuid::new_v4()})),
            409,
            "reward_not_available",
        );
        // Nothing was announced yet.
        assert!(app
            .outbox_to("alice@example.com", "reward_earned")
            .is_empty());

        // Bob's order is refunded in full: the referral is reversed, the reward cancelled.
        let refund = Uuid::new_v4();
        let reversed = refunds(app, &bob, order, refund, "80.00");
        assert_eq!(reversed["outcome"], "reversed", "{reversed}");
        assert_eq!(reversed["cancelled_rewards"], json!([mine[0]["id"]]));
        assert_eq!(reversed["clawbacks"], json!([]));
        assert_eq!(referral_status(app, &reversed["referral_id"]), "reversed");
        let mine = my_rewards(app, &alice);
        assert_eq!(mine[0]["status"], "cancelled");
        let words = mine[0]["explanation"].as_str().unwrap();
        assert!(
            words.contains("no longer qualifies") && !words.contains("refund"),
            "{words}"
        );
        // The same refund again changes nothing.
        assert_eq!(
            refunds(app, &bob, order, refund, "80.00")["outcome"],
            "duplicate"
        );
        // The referrer's own view of the referral does not tell a reversal from a conversion.
        let seen = app
            .get(Some(&alice), "/api/patients/me/referrals")
            .text()
            .unwrap();
        assert!(
            !seen.contains("reversed") && !seen.contains("refund"),
            "{seen}"
        );

        // Carol converts; when her hold ends the worker releases it, and only then is
        // Alice told.
        let carol = joins(app, &alice, "carol");
        let held = orders(app, &carol, Uuid::new_v4(), "40.00");
        assert_eq!(held["referrer_reward"]["status"], "held");
        let later = chrono::Utc::now() + chrono::Duration::days(15);
        let released = referral_store::rewards::release_due(&mut app.db.conn(), later).unwrap();
        assert_eq!(released, 1);
        let statuses: Vec<Value> = my_rewards(app, &alice)
            .iter()
            .map(|r| r["status"].clone())
            .collect();
        assert_eq!(statuses, [json!("available"), json!("cancelled")]);
        // Alice is told with the release of the period the hold ended in (#30).
        assert!(app
            .outbox_to("alice@example.com", "reward_earned")
            .is_empty());
        told_at_release(app, later);
        assert_eq!(app.outbox_to("alice@example.com", "reward_earned").len(), 1);
        assert_eq!(
            referral_store::rewards::release_due(&mut app.db.conn(), later).unwrap(),
            0,
            "released once"
        );

        // The rollups kept by each change agree with a rebuild from the tables.
        let before: Value = app
            .get(Some(&app.admin()), "/api/referrals/analytics")
            .json()
            .unwrap();
        referral_store::rollups::rebuild(&mut app.db.conn()).unwrap();
        let after: Value = app
            .get(Some(&app.admin()), "/api/referrals/analytics")
            .json()
            .unwrap();
        assert_eq!(before, after);
        assert_eq!(after["funnel"]["converted"], 1, "{after}");
    }
);

both_databases!(
    a_refund_after_redeem_records_a_clawback_and_partial_refunds_count_below_the_minimum,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        app.program(json!({"min_order_amount": "30.00"}));
        let alice = app.patient("alice");
        let bob = joins(app, &alice, "bob");
        let order = Uuid::new_v4();
        let converted = orders(app, &bob, order, "50.00");
        let reward_id = converted["referrer_reward"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(converted["referrer_reward"]["status"], "available");
        // A partial refund that leaves 40.00 paid keeps the conversion.
        assert_eq!(
            refunds(app, &bob, order, Uuid::new_v4(), "10.00")["outcome"],
            "recorded"
        );
        // Alice uses her reward.
        let used = app.post(
            Some(&alice),
            &format!("/api/rewards/{reward_id}/redeem"),
            json!({"order_id": Uuid::new_v4()}),
        );
        assert_eq!(used.status(), 200);
        // Another 15.00 leaves 25.00, below the program's minimum: it counts as full.
        let reversed = refunds(app, &bob, order, Uuid::new_v4(), "15.00");
        assert_eq!(reversed["outcome"], "reversed");
        assert_eq!(reversed["cancelled_rewards"], json!([]));
        assert_eq!(reversed["clawbacks"], json!([reward_id]));
        // The reward stays used (no negative balance); the admins see the clawback.
        assert_eq!(my_rewards(app, &alice)[0]["status"], "used");
        let claws: Value = app
            .get(Some(&app.admin()), "/api/reward-clawbacks")
            .json()
            .unwrap();
        assert_eq!(claws["total"], 1);
        assert_eq!(claws["items"][0]["reward_id"], reward_id);
        assert_eq!(claws["items"][0]["amount"], "25.00");
        assert_eq!(claws["items"][0]["reason"], "conversion_reversed");
        assert_problem(
            app.get(Some(&alice), "/api/reward-clawbacks"),
            403,
            "forbidden",
        );

        // A cancelled first consultation reverses its conversion too.
        let carol = joins(app, &alice, "carol");
        let consultation = Uuid::new_v4();
        let service = app.service();
        let converted: Value = app
            .post(
                Some(&service),
                "/api/events/consultations",
                json!({"patient_id": carol, "consultation_id": consultation}),
            )
            .json()
            .unwrap();
        assert_eq!(converted["outcome"], "converted");
        // Another consultation's cancellation is not the converting one.
        let other: Value = app
            .post(Some(&service), "/api/events/consultation-cancellations",
                json!({"patient_id": carol, "consultation_id": Uuid::new_v4(), "cancellation_id": Uuid::new_v4()}))
            .json()
            .unwrap();
        assert_eq!(other["outcome"], "recorded");
        let cancelled: Value = app
            .post(Some(&service), "/api/events/consultation-cancellations",
                json!({"patient_id": carol, "consultation_id": consultation, "cancellation_id": Uuid::new_v4()}))
            .json()
            .unwrap();
        assert_eq!(cancelled["outcome"], "reversed");
        assert_eq!(
            cancelled["cancelled_rewards"],
            json!([converted["referrer_reward"]["id"]])
        );
        // A refund that arrives before its order: the order then converts nothing.
        let dan = joins(app, &alice, "dan");
        let early = Uuid::new_v4();
        assert_eq!(
            refunds(app, &dan, early, Uuid::new_v4(), "20.00")["outcome"],
            "recorded"
        );
        assert_eq!(orders(app, &dan, early, "20.00")["outcome"], "recorded");

        // The figures count what happened.
        let figures: Value = app
            .get(Some(&app.admin()), "/api/referrals/integrity")
            .json()
            .unwrap();
        assert_eq!(figures["reversed_referrals"], 2, "{figures}");
        assert_eq!(figures["reversed_rewards"], 1);
        assert_eq!(figures["clawbacks"], 1);
        assert_eq!(figures["clawback_value"], "25.00");
        assert_eq!(figures["value_saved"], "25.00");
        // Platform events only, and bad input refused.
        assert_problem(
            app.post(Some(&alice), "/api/events/refunds",
                json!({"patient_id": bob, "order_id": order, "refund_id": Uuid::new_v4(), "amount": "1.00"})),
            403, "forbidden");
        assert_problem(
            app.post(Some(&service), "/api/events/refunds",
                json!({"patient_id": bob, "order_id": order, "refund_id": Uuid::new_v4(), "amount": "-1"})),
            422, "validation_failed");
    }
);

both_databases!(
    flagged_rewards_wait_for_a_review_decided_one_by_one_or_in_bulk,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        app.program(json!({}));
        let alice = app.patient("alice");
        let admin = app.admin();
        // Three friends register with another address than the one invited.
        let mut rewards = Vec::new();
        for friend in ["bob", "carol", "dan"] {
            let referral = app.refers(&alice, &format!("{friend}@example.org"));
            let registered = app.registers(
                referral["referral_code"].as_str().unwrap(),
                &format!("{friend}.other@example.org"),
            );
            assert_eq!(registered["referee_reward"]["status"], "in_review");
            let converted = orders(app, &registered["patient_id"], Uuid::new_v4(), "60.00");
            assert_eq!(converted["referrer_reward"]["status"], "in_review");
            rewards.push(
                converted["referrer_reward"]["id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        assert!(app
            .outbox_to("alice@example.com", "reward_earned")
            .is_empty());
        let mine = my_rewards(app, &alice);
        assert!(mine.iter().all(|r| r["status"] == "in_review"));
        assert!(mine[0]["explanation"]
            .as_str()
            .unwrap()
            .contains("checking"));

        let queue: Value = app
            .get(
                Some(&admin),
                "/api/reward-reviews?signal=invited_address_mismatch",
            )
            .json()
            .unwrap();
        assert_eq!(
            queue["total"], 6,
            "three referrer and three welcome rewards"
        );
        let item = &queue["items"][0];
        assert_eq!(item["signals"][0]["code"], "invited_address_mismatch");
        assert!(item["signals"][0]["explanation"]
            .as_str()
            .unwrap()
            .ends_with('.'));
        let none: Value = app
            .get(Some(&admin), "/api/reward-reviews?signal=ring")
            .json()
            .unwrap();
        assert_eq!(none["total"], 0);

        // One approved: available, and Alice is told now.
        let decide = |id: &str, approve: bool, reason: &str| {
            app.post(
                Some(&admin),
                &format!("/api/reward-reviews/{id}/decide"),
                json!({"approve": approve, "reason": reason}),
            )
        };
        let approved: Value = decide(&rewards[0], true, "Called the friend")
            .json()
            .unwrap();
        assert_eq!(approved["status"], "available");
        told_at_release(app, app.state.now());
        assert_eq!(app.outbox_to("alice@example.com", "reward_earned").len(), 1);
        // One rejected: cancelled, with the reason in plain words for Alice.
        let rejected: Value = decide(&rewards[1], false, "Same household").json().unwrap();
        assert_eq!(rejected["status"], "cancelled");
        assert_eq!(rejected["cancel_reason"], "review_rejected");
        assert_problem(
            decide(&rewards[1], true, "again"),
            409,
            "reward_not_in_review",
        );
        assert_problem(decide(&rewards[2], true, "   "), 422, "validation_failed");
        assert_problem(
            decide(&Uuid::new_v4().to_string(), true, "x"),
            404,
            "not_found",
        );
        assert_problem(
            app.post(
                Some(&alice),
                &format!("/api/reward-reviews/{}/decide", rewards[2]),
                json!({"approve": true, "reason": "mine"}),
            ),
            403,
            "forbidden",
        );

        // The rest in bulk, with an unknown id reported on its own.
        let unknown = Uuid::new_v4();
        let rest: Vec<Value> = queue["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["reward"]["id"].clone())
            .filter(|id| id != &json!(rewards[0]) && id != &json!(rewards[1]))
            .chain([json!(unknown)])
            .collect();
        let bulk: Value = app
            .post(
                Some(&admin),
                "/api/reward-reviews/bulk-decide",
                json!({"reward_ids": rest, "approve": true, "reason": "Checked together"}),
            )
            .json()
            .unwrap();
        let results = bulk["results"].as_array().unwrap();
        assert_eq!(results.len(), 5);
        assert!(
            results[..4]
                .iter()
                .all(|r| r["ok"] == true && r["status"] == "available"),
            "{bulk}"
        );
        assert_eq!(results[4]["code"], "not_found");
        let too_many: Vec<Uuid> = (0..1001).map(|_| Uuid::new_v4()).collect();
        assert_problem(
            app.post(
                Some(&admin),
                "/api/reward-reviews/bulk-decide",
                json!({"reward_ids": too_many, "approve": true, "reason": "x"}),
            ),
            422,
            "validation_failed",
        );
        let empty: Value = app.get(Some(&admin), "/api/reward-reviews").json().unwrap();
        assert_eq!(empty["total"], 0);

        // Every decision is audited, naming its reward.
        let audit: Value = app
            .get(
                Some(&admin),
                "/api/referrals/audit-trail?action=reward.review&limit=500",
            )
            .json()
            .unwrap();
        let decided: Vec<&Value> = audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["outcome"] == "success")
            .collect();
        assert_eq!(decided.len(), 6, "{audit}");
        assert!(decided
            .iter()
            .any(|r| r["resource_id"] == json!(rewards[1])));
        let figures: Value = app
            .get(Some(&admin), "/api/referrals/integrity")
            .json()
            .unwrap();
        assert_eq!(figures["flagged_referrals"], 3);
        assert_eq!(figures["by_signal"]["invited_address_mismatch"], 3);
        assert_eq!(figures["rejected_rewards"], 1);
        assert_eq!(figures["value_saved"], "25.00");
        assert_eq!(figures["in_review_rewards"], 0);
        let _ = Role::Admin;
    }
);

both_databases!(
    reversals_racing_redeems_and_conversions_leave_one_consistent_outcome,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        app.program(json!({}));
        // A refund racing the referrer's redeem: either the reward was used first and is
        // clawed back, or it is cancelled and the redeem refused. Never both, never neither.
        for i in 0..6 {
            let alice = app.patient(&format!("alice{i}"));
            let bob = joins(app, &alice, &format!("bob{i}"));
            let order = Uuid::new_v4();
            let reward = orders(app, &bob, order, "50.00")["referrer_reward"]["id"].clone();
            let redeem = format!("/api/rewards/{}/redeem", reward.as_str().unwrap());
            let (redeemed, reversed) = std::thread::scope(|s| {
                let a = s.spawn(|| {
                    app.post(Some(&alice), &redeem, json!({"order_id": Uuid::new_v4()}))
                        .status()
                        .as_u16()
                });
                let b = s.spawn(|| refunds(app, &bob, order, Uuid::new_v4(), "50.00"));
                (a.join().unwrap(), b.join().unwrap())
            });
            assert_eq!(reversed["outcome"], "reversed");
            let status = my_rewards(app, &alice)[0]["status"].clone();
            match redeemed {
                200 => {
                    assert_eq!(status, "used");
                    assert_eq!(reversed["clawbacks"], json!([reward]));
                    assert_eq!(reversed["cancelled_rewards"], json!([]));
                }
                409 => {
                    assert_eq!(status, "cancelled");
                    assert_eq!(reversed["cancelled_rewards"], json!([reward]));
                    assert_eq!(reversed["clawbacks"], json!([]));
                }
                other => panic!("redeem answered {other}"),
            }
        }
        // A refund racing its own order's conversion: either the order converted and the
        // refund reversed it, or the refund came first and the order converts nothing.
        for i in 0..6 {
            let carol = app.patient(&format!("carol{i}"));
            let referral = app.refers(&carol, &format!("dan{i}@example.org"));
            let dan = app.registers(
                referral["referral_code"].as_str().unwrap(),
                &format!("dan{i}@example.org"),
            )["patient_id"]
                .clone();
            let order = Uuid::new_v4();
            let (converted, refunded) = std::thread::scope(|s| {
                let a = s.spawn(|| orders(app, &dan, order, "50.00"));
                let b = s.spawn(|| refunds(app, &dan, order, Uuid::new_v4(), "50.00"));
                (a.join().unwrap(), b.join().unwrap())
            });
            let status = referral_status(app, &referral["id"]);
            let rewards = my_rewards(app, &carol);
            match (converted["outcome"].as_str(), refunded["outcome"].as_str()) {
                (Some("converted"), Some("reversed")) => {
                    assert_eq!(status, "reversed");
                    assert_eq!(rewards[0]["status"], "cancelled");
                }
                (Some("recorded"), Some("recorded")) => {
                    assert_eq!(status, "registered");
                    assert!(rewards.is_empty(), "{rewards:?}");
                }
                other => panic!("inconsistent outcomes {other:?}"),
            }
        }
        // The rollups still agree with a rebuild.
        let before: Value = app
            .get(Some(&app.admin()), "/api/referrals/analytics")
            .json()
            .unwrap();
        referral_store::rollups::rebuild(&mut app.db.conn()).unwrap();
        let after: Value = app
            .get(Some(&app.admin()), "/api/referrals/analytics")
            .json()
            .unwrap();
        assert_eq!(before, after);
    }
);
