//! Who the client is behind a load balancer, and limits that fit each caller: per-address
//! limits keyed by the forwarded address only behind a trusted proxy, a per-patient daily
//! referral limit, a service budget that is off by default, and denials audited without
//! letting a flood fill the log.

use crate::support::{assert_problem, each_database, spawn_with, TestApp};
use referral_store::testing::TestDb;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn lookup_from(app: &TestApp, forwarded_for: &str) -> u16 {
    app.client
        .get(app.url("/api/referrals/AAAAAA-AAAAAA-AAAAAA"))
        .header("x-forwarded-for", forwarded_for)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

/// Audit rows of `action`, waiting a little for rows written after the answer.
fn audit_rows(app: &TestApp, action: &str, at_least: usize) -> Vec<Value> {
    let admin = app.admin();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let page: Value = app
            .get(
                Some(&admin),
                &format!("/api/referrals/audit-trail?action={action}&limit=500"),
            )
            .json()
            .unwrap();
        let rows = page["items"].as_array().unwrap().clone();
        if rows.len() >= at_least || Instant::now() > deadline {
            return rows;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn behind_a_trusted_proxy_limits_and_audit_rows_use_the_forwarded_client() {
    each_database(|db| {
        let app = spawn_with(db, |args| {
            args.public_rate_limit = 3;
            args.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
        });
        // Each client has its own budget, whatever it writes left of the proxy's entry.
        for _ in 0..3 {
            assert_eq!(lookup_from(&app, "6.6.6.6, 198.51.100.1"), 404);
        }
        assert_eq!(lookup_from(&app, "7.7.7.7, 198.51.100.1"), 429);
        assert_eq!(lookup_from(&app, "198.51.100.2"), 404);

        // An audited request records the forwarded address.
        let admin = app.admin();
        let listed = app
            .client
            .get(app.url("/api/referrals"))
            .bearer_auth(&admin.token)
            .header("x-forwarded-for", "203.0.113.50")
            .send()
            .unwrap();
        assert_eq!(listed.status(), 200);
        let rows = audit_rows(&app, "referral.list", 1);
        assert_eq!(rows[0]["ip_address"], "203.0.113.0", "{rows:?}"); // its /24 only
    });
}

#[test]
fn an_untrusted_peer_cannot_choose_its_address() {
    let app = spawn_with(TestDb::sqlite(), |args| args.public_rate_limit = 3);
    for i in 0..3 {
        assert_eq!(lookup_from(&app, &format!("198.51.100.{i}")), 404);
    }
    // A new forwarded address each time changes nothing: the peer is the key.
    assert_eq!(lookup_from(&app, "198.51.100.99"), 429);
    let admin = app.admin();
    let listed = app
        .client
        .get(app.url("/api/referrals"))
        .bearer_auth(&admin.token)
        .header("x-forwarded-for", "203.0.113.50")
        .header("forwarded", "for=203.0.113.51")
        .send()
        .unwrap();
    assert_eq!(listed.status(), 200);
    let rows = audit_rows(&app, "referral.list", 1);
    assert_eq!(rows[0]["ip_address"], "127.0.0.0");
}

#[test]
fn a_patient_may_create_only_so_many_referrals_a_day() {
    each_database(|db| {
        let app = spawn_with(db, |args| args.patient_daily_referrals = 3);
        app.program(json!({}));
        let alice = app.patient("alice");
        for i in 0..3 {
            app.refers(&alice, &format!("friend{i}@example.com"));
        }
        let refused = app.post(
            Some(&alice),
            "/api/patients/me/referrals",
            json!({"referee_email": "friend9@example.com"}),
        );
        let retry: u64 = refused.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((86_000..=86_400).contains(&retry), "{retry}");
        assert_problem(refused, 429, "rate_limited");
        // Nothing was created, and the refusal is audited.
        let mine: Value = app
            .get(Some(&alice), "/api/patients/me/referrals")
            .json()
            .unwrap();
        assert_eq!(mine["total"], 3);
        let rows = audit_rows(&app, "referral.create", 4);
        assert_eq!(
            rows.iter()
                .filter(|r| r["outcome"] == "rate_limited")
                .count(),
            1
        );
        // Another patient has a budget of their own.
        app.refers(&app.patient("bob"), "friend9@example.com");
    });
}

#[test]
fn a_service_token_has_no_budget_unless_one_is_set() {
    let unlimited = spawn_with(TestDb::sqlite(), |args| args.public_rate_limit = 2);
    let service = unlimited.service();
    for _ in 0..30 {
        let status = unlimited
            .get(Some(&service), "/api/referrals/AAAAAA-AAAAAA-AAAAAA")
            .status();
        assert_eq!(status, 404);
    }
    let limited = spawn_with(TestDb::sqlite(), |args| {
        args.public_rate_limit = 2;
        args.service_rate_limit = 5;
    });
    let service = limited.service();
    let statuses: Vec<u16> = (0..6)
        .map(|_| {
            limited
                .get(Some(&service), "/api/referrals/AAAAAA-AAAAAA-AAAAAA")
                .status()
                .as_u16()
        })
        .collect();
    assert_eq!(statuses, [404, 404, 404, 404, 404, 429]);
}

#[test]
fn unauthenticated_calls_are_audited_by_route_within_a_budget() {
    let app = spawn_with(TestDb::sqlite(), |_| {});
    let forged = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.bad";
    let status = app
        .client
        .get(app.url("/api/patients/me/referrals/0190aaaa-0000-7000-8000-000000000001"))
        .bearer_auth(forged)
        .send()
        .unwrap()
        .status();
    assert_eq!(status, 401);
    let rows = audit_rows(&app, "auth.denied", 1);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["outcome"], "unauthenticated");
    assert_eq!(rows[0]["resource_id"], "/api/patients/me/referrals/{id}");
    assert_eq!(rows[0]["ip_address"], "127.0.0.0");

    // A flood: at most the budget of rows, and the service keeps answering.
    for _ in 0..300 {
        let status = app.get(None, "/api/patients/me/rewards").status();
        assert_eq!(status, 401);
    }
    std::thread::sleep(Duration::from_millis(500));
    let rows = audit_rows(&app, "auth.denied", 0);
    assert!(
        rows.len() <= referral_api::state::DenialBudget::ROWS as usize,
        "{}",
        rows.len()
    );
    assert!(rows.len() >= 50, "{}", rows.len());
}

/// Two instances on one PostgreSQL allow together what one allows (#33): the counters live
/// in the database, not in each process.
#[test]
fn two_instances_share_one_public_limit() {
    let Some(db) = TestDb::postgres() else { return };
    let app = spawn_with(db, |args| args.public_rate_limit = 10);
    let other = crate::support::spawn_instance(&app, |args| args.public_rate_limit = 10);
    let bases = [app.base.clone(), other.base.clone()];
    let mut allowed = 0;
    let mut refused = 0;
    for i in 0..24 {
        let status = app
            .client
            .get(format!(
                "{}/api/referrals/AAAAAA-AAAAAA-AAAAAA",
                bases[i % 2]
            ))
            .send()
            .unwrap()
            .status()
            .as_u16();
        match status {
            429 => refused += 1,
            _ => allowed += 1,
        }
    }
    // One minute window; a test that straddles a minute boundary gets a second budget.
    assert!(
        allowed == 10 || allowed == 20,
        "allowed {allowed}, refused {refused}"
    );
    assert_eq!(allowed + refused, 24);
}

/// When the shared counters cannot be read, registration fails closed (503, nothing
/// written) and a friend's link lookup fails open.
#[test]
fn broken_counters_refuse_registration_and_let_lookups_through() {
    use diesel::connection::SimpleConnection;
    let Some(db) = TestDb::postgres() else { return };
    let app = spawn_with(db, |args| args.public_rate_limit = 100);
    app.program(json!({}));
    let referrer = app.patient("Ada");
    let referral = app.refers(&referrer, "friend@example.com");
    let code = referral["referral_code"].as_str().unwrap().to_owned();
    app.db
        .conn()
        .batch_execute("ALTER TABLE rate_limit_hits RENAME TO rate_limit_hits_gone")
        .unwrap();
    assert_eq!(
        app.get(None, &format!("/api/referrals/{code}")).status(),
        200
    );
    let refused = app.post(
        None,
        &format!("/api/referrals/{code}/register"),
        json!({"email": "friend@example.com", "name": "Bob"}),
    );
    assert_problem(refused, 503, "unavailable");
    assert!(
        app.verification_token("friend@example.com").is_none(),
        "nothing was written"
    );
    app.db
        .conn()
        .batch_execute("ALTER TABLE rate_limit_hits_gone RENAME TO rate_limit_hits")
        .unwrap();
    let _ = app.registers(&code, "friend@example.com");
}

/// Under a large limit each instance claims its hits in leases (a hundredth of the limit
/// at a time, `referral_domain::rate_limit`): two instances still allow no more than the
/// limit together, and refuse at most a lease less one hit early each.
#[test]
fn leased_hits_of_two_instances_stay_within_one_limit() {
    let Some(db) = TestDb::postgres() else { return };
    let app = spawn_with(db, |args| args.public_rate_limit = 500);
    let other = crate::support::spawn_instance(&app, |args| args.public_rate_limit = 500);
    let bases = [app.base.clone(), other.base.clone()];
    let minute = || chrono::Utc::now().timestamp() / 60;
    let started = minute();
    let statuses: Vec<u16> = (0..600)
        .map(|i| {
            app.client
                .get(format!(
                    "{}/api/referrals/AAAAAA-AAAAAA-AAAAAA",
                    bases[i % 2]
                ))
                .send()
                .unwrap()
                .status()
                .as_u16()
        })
        .collect();
    if minute() != started {
        eprintln!("the run straddled a minute: two budgets, nothing to check");
        return;
    }
    let allowed = statuses.iter().filter(|s| **s != 429).count();
    assert!((492..=500).contains(&allowed), "allowed {allowed}");
    // Once refused, refused for the rest of the window on both instances.
    let first = statuses.iter().position(|s| *s == 429).unwrap();
    assert!(statuses[first..].iter().skip(8).all(|s| *s == 429));
}
