//! Clicks under load: every click of many concurrent visitors on one code is recorded as an
//! interaction and counted once, and the referral enters the funnel's "clicked" step once.

use crate::support::*;
use serde_json::{json, Value};

/// The referral as its referrer reads it (with its click count).
fn as_its_referrer(app: &TestApp, referrer: &Actor, referral: &Value) -> Value {
    let path = format!(
        "/api/patients/me/referrals/{}",
        referral["id"].as_str().unwrap()
    );
    app.get(Some(referrer), &path).json().unwrap()
}

both_databases!(
    concurrent_clicks_on_one_code_are_all_counted,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        app.program(json!({}));
        let alice = app.patient("alice");
        let referral = app.refers(&alice, "bob@example.com");
        let code = referral["referral_code"].as_str().unwrap().to_owned();
        // On PostgreSQL each HTTP worker writes clicks over connections of its own.
        assert_eq!(
            app.state.click_pools.is_some(),
            app.db.backend == referral_store::testing::TestBackend::Postgres
        );
        let barrier = std::sync::Barrier::new(16);
        std::thread::scope(|s| {
            for _ in 0..16 {
                s.spawn(|| {
                    barrier.wait();
                    for _ in 0..10 {
                        let r = app.get(None, &format!("/api/referrals/{code}/click"));
                        assert_eq!(r.status(), 302);
                        // Unknown codes among them (on SQLite, in the same groups) are
                        // refused alone and record nothing.
                        let r = app.get(None, "/api/referrals/ZZZZZZ-ZZZZZZ-ZZZZZZ/click");
                        assert_eq!(r.status(), 404);
                    }
                });
            }
        });
        app.state.clicks.flush(&app.state.pool).unwrap();
        let mine = as_its_referrer(app, &alice, &referral);
        assert_eq!(mine["clicks"], 160);
        assert!(mine["last_clicked_at"].is_string());
        // Lists count each referral's clicks too; a referral never clicked has none.
        let unclicked = app.refers(&alice, "carol@example.com");
        let clicks_in = |list: &Value, referral: &Value| {
            let item = list["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["id"] == referral["id"])
                .unwrap()
                .clone();
            (item["clicks"].clone(), item["last_clicked_at"].is_null())
        };
        let patient_list: Value = app
            .get(Some(&alice), "/api/patients/me/referrals")
            .json()
            .unwrap();
        let admin_list: Value = app
            .get(Some(&app.admin()), "/api/referrals")
            .json()
            .unwrap();
        for list in [&patient_list, &admin_list] {
            assert_eq!(clicks_in(list, &referral), (json!(160), false));
            assert_eq!(clicks_in(list, &unclicked), (json!(0), true));
        }
        let id: referral_domain::ReferralId = referral["id"].as_str().unwrap().parse().unwrap();
        let interactions = referral_store::referrals::interactions(&mut app.db.conn(), id).unwrap();
        assert_eq!(interactions.len(), 160);
        let analytics: Value = app
            .get(Some(&app.admin()), "/api/referrals/analytics")
            .json()
            .unwrap();
        assert_eq!(analytics["funnel"]["clicked"], 1);
        // Unknown codes record nothing.
        assert_problem(
            app.get(None, "/api/referrals/ZZZZZZ-ZZZZZZ-ZZZZZZ/click"),
            404,
            "not_found",
        );
    }
);

/// A URL that requires TLS, which only libpq does here: clicks then go through the blocking
/// pool, and are all counted just the same.
#[test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "TEST_DATABASE_URL was not set when the tests were built"
)]
fn clicks_on_a_postgres_url_that_requires_tls_go_through_the_blocking_pool() {
    let Some(db) = referral_store::testing::TestDb::postgres() else {
        return;
    };
    let url = format!("{}&sslmode=require", db.url);
    let app = spawn_with(db, |args| args.database_url = url);
    assert!(app.state.click_pools.is_none());
    app.program(json!({}));
    let alice = app.patient("alice");
    let referral = app.refers(&alice, "bob@example.com");
    let code = referral["referral_code"].as_str().unwrap().to_owned();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..5 {
                    let r = app.get(None, &format!("/api/referrals/{code}/click"));
                    assert_eq!(r.status(), 302);
                }
            });
        }
    });
    let mine = as_its_referrer(&app, &alice, &referral);
    assert_eq!(mine["clicks"], 20);
}

both_databases!(
    a_link_counts_a_persons_open_once_a_visit_and_never_a_preview,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        app.program(json!({}));
        let alice = app.patient("alice");
        let referral = app.refers(&alice, "bob@example.com");
        let code = referral["referral_code"].as_str().unwrap().to_owned();
        let link = referral["share_url"].as_str().unwrap().to_owned();
        assert_eq!(link, format!("http://portal.test/r/{code}"));
        let path = format!("/r/{code}");
        let clicks = |app: &TestApp| {
            app.state.clicks.flush(&app.state.pool).unwrap();
            as_its_referrer(app, &alice, &referral)["clicks"].clone()
        };
        let open = |method: reqwest::Method, headers: &[(&str, &str)]| {
            let mut request = app.client.request(method, app.url(&path));
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            request.send().unwrap()
        };
        // A person: counted, led to the registration page, and marked for ten minutes.
        let first = open(reqwest::Method::GET, &[]);
        assert_eq!(first.status(), 302);
        assert_eq!(
            first.headers()["location"],
            format!("http://portal.test/register?ref={code}").as_str()
        );
        assert_eq!(first.headers()["cache-control"], "no-store");
        let cookie = first.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(
            cookie.contains("Max-Age=600")
                && cookie.contains("HttpOnly")
                && cookie.contains("Path=/r/"),
            "{cookie}"
        );
        assert!(!cookie.contains('@'), "nothing about the person: {cookie}");
        assert_eq!(clicks(app), 1);
        // The same browser back within minutes (a reload, the back button): the same visit.
        let jar = cookie.split(';').next().unwrap().to_owned();
        let again = open(reqwest::Method::GET, &[("cookie", jar.as_str())]);
        assert_eq!(again.status(), 302);
        assert_eq!(clicks(app), 1);
        // The code typed another way is the same link, and the same visit.
        let typed = format!("/r/{}", code.to_lowercase().replace('-', ""));
        let retyped = app
            .client
            .get(app.url(&typed))
            .header("cookie", jar.as_str())
            .send()
            .unwrap();
        assert_eq!(retyped.status(), 302);
        assert_eq!(clicks(app), 1);
        // Previews and prefetches are led on the same, and not counted.
        for headers in [
            vec![(
                "user-agent",
                "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            )],
            vec![("user-agent", "facebookexternalhit/1.1")],
            vec![("user-agent", "WhatsApp/2.23.20.0")],
            vec![("sec-purpose", "prefetch")],
            vec![("purpose", "prefetch")],
        ] {
            let preview = open(reqwest::Method::GET, &headers);
            assert_eq!(preview.status(), 302, "{headers:?}");
            assert!(preview.headers().get("set-cookie").is_none(), "{headers:?}");
        }
        assert_eq!(open(reqwest::Method::HEAD, &[]).status(), 302);
        assert_eq!(clicks(app), 1);
        // Another visit, later or from another browser: a second open.
        open(reqwest::Method::GET, &[]);
        assert_eq!(clicks(app), 2);
        // In Spanish, the Spanish page; an unknown code is 404 (previews included).
        let spanish = app.get(None, &format!("{path}?lang=es"));
        assert_eq!(
            spanish.headers()["location"],
            format!("http://portal.test/register?ref={code}&lang=es").as_str()
        );
        assert_problem(app.get(None, "/r/NOPE-NOPE-NOPE"), 404, "not_found");

        // A personal share link counts its opens on the link.
        let share: Value = app
            .get(Some(&alice), "/api/patients/me/share-link")
            .json()
            .unwrap();
        let shared = share["share_url"].as_str().unwrap();
        assert!(shared.starts_with("http://portal.test/r/"), "{shared}");
        let opened = app.get(None, shared.trim_start_matches("http://portal.test"));
        assert_eq!(opened.status(), 302);
        let share: Value = app
            .get(Some(&alice), "/api/patients/me/share-link")
            .json()
            .unwrap();
        assert_eq!(share["clicks"], 1, "{share}");
    }
);
