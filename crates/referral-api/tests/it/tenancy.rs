//! Provider tenancy (BOLA): a provider's staff see and change only their provider's
//! programs, and only the referrals, analytics and performance of those programs; another
//! provider's program answers 404 on every route that takes an id or lists. Admins stay
//! platform-wide.

use crate::support::{assert_problem, token_with, Actor, TestApp};
use referral_api::auth::Role;
use serde_json::{json, Value};
use uuid::Uuid;

/// Staff of one provider: a provider-admin and a provider.
struct Provider {
    admin: Actor,
    reader: Actor,
}

fn provider(id: Uuid) -> Provider {
    let staff = |role| {
        let sub = Uuid::new_v4();
        Actor {
            id: sub,
            role,
            token: token_with(role, sub, None, 600, Some(id)),
        }
    };
    Provider {
        admin: staff(Role::ProviderAdmin),
        reader: staff(Role::Provider),
    }
}

fn program_of(app: &TestApp, who: &Actor, name: &str) -> Value {
    let response = app.post(
        Some(who),
        "/api/referral-programs",
        json!({"name": name, "referrer_reward_type": "credit", "referrer_reward_value": "10.00",
               "referee_reward_type": "credit", "referee_reward_value": "5.00"}),
    );
    assert_eq!(response.status(), 201);
    response.json().unwrap()
}

fn refer_into(app: &TestApp, program: &Value, email: &str) -> Value {
    let patient = app.patient(&format!("referrer-{}", Uuid::new_v4().simple()));
    let response = app.post(
        Some(&patient),
        "/api/patients/me/referrals",
        json!({"referee_email": email, "program_id": program["id"]}),
    );
    assert_eq!(response.status(), 201, "{:?}", response.text());
    response.json().unwrap()
}

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

both_databases!(
    each_provider_sees_only_its_own_programs_and_referrals,
    fixture = crate::support::spawn,
    |app| {
        let (a, b) = (provider(Uuid::new_v4()), provider(Uuid::new_v4()));
        let pa = program_of(app, &a.admin, "A's program");
        let pb = program_of(app, &b.admin, "B's program");
        let (pa_id, pb_id) = (pa["id"].as_str().unwrap(), pb["id"].as_str().unwrap());
        let ra = refer_into(app, &pa, "friend-a@example.com");
        let rb = refer_into(app, &pb, "friend-b@example.com");

        // Programs: list, get, update, delete.
        for who in [&a.admin, &a.reader] {
            let listed: Value = app.get(Some(who), "/api/referral-programs").json().unwrap();
            assert_eq!(ids(&listed), [pa_id], "{:?}", who.role);
            assert_eq!(listed["total"], 1);
            assert_eq!(
                app.get(Some(who), &format!("/api/referral-programs/{pa_id}"))
                    .status(),
                200
            );
            assert_problem(
                app.get(Some(who), &format!("/api/referral-programs/{pb_id}")),
                404,
                "not_found",
            );
        }
        let edit = json!({"name": "taken over", "referrer_reward_type": "credit",
        "referrer_reward_value": "10.00", "referee_reward_type": "credit", "referee_reward_value": "5.00"});
        assert_problem(
            app.put(
                Some(&a.admin),
                &format!("/api/referral-programs/{pb_id}"),
                edit,
            ),
            404,
            "not_found",
        );
        assert_problem(
            app.delete(Some(&a.admin), &format!("/api/referral-programs/{pb_id}")),
            404,
            "not_found",
        );
        let b_still: Value = app
            .get(Some(&b.admin), &format!("/api/referral-programs/{pb_id}"))
            .json()
            .unwrap();
        assert_eq!(b_still["name"], "B's program");

        // Referrals: the list holds only A's, and B's program cannot be named.
        let listed: Value = app.get(Some(&a.admin), "/api/referrals").json().unwrap();
        assert_eq!(ids(&listed), [ra["id"].as_str().unwrap()]);
        assert!(!listed.to_string().contains("friend-b@example.com"));
        assert_problem(
            app.get(
                Some(&a.admin),
                &format!("/api/referrals?program_id={pb_id}"),
            ),
            404,
            "not_found",
        );

        // Analytics and performance: A's figures only.
        let figures: Value = app
            .get(Some(&a.admin), "/api/referrals/analytics")
            .json()
            .unwrap();
        assert_eq!(figures["total_referrals"], 1, "{figures}");
        let programs: Vec<_> = figures["programs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["program_id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(programs, [pa_id]);
        assert_problem(
            app.get(
                Some(&a.admin),
                &format!("/api/referrals/analytics?program_id={pb_id}"),
            ),
            404,
            "not_found",
        );
        let performance: Value = app
            .get(Some(&a.admin), "/api/referrals/performance")
            .json()
            .unwrap();
        let seen: Vec<_> = performance["programs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["program_id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(seen, [pa_id]);
        assert_problem(
            app.get(
                Some(&a.admin),
                &format!("/api/referrals/performance?program_id={pb_id}"),
            ),
            404,
            "not_found",
        );

        // The portal pages go through the same checks.
        let page = app
            .client
            .get(app.url(&format!("/portal/referrals/programs/{pb_id}")))
            .header("cookie", format!("referral_session={}", a.admin.token))
            .send()
            .unwrap();
        assert_eq!(page.status(), 404);
        let own = app
            .client
            .get(app.url(&format!("/portal/referrals/programs/{pa_id}")))
            .header("cookie", format!("referral_session={}", a.admin.token))
            .send()
            .unwrap();
        assert_eq!(own.status(), 200);

        // Admins stay platform-wide.
        let admin = app.admin();
        let all: Value = app.get(Some(&admin), "/api/referrals").json().unwrap();
        assert_eq!(all["total"], 2);
        assert!(ids(&all).contains(&rb["id"].as_str().unwrap().to_owned()));
        let all_programs: Value = app
            .get(Some(&admin), "/api/referral-programs")
            .json()
            .unwrap();
        assert_eq!(all_programs["total"], 2);
    }
);

both_databases!(
    provider_tokens_without_a_provider_are_refused,
    fixture = crate::support::spawn,
    |app| {
        for role in [Role::Provider, Role::ProviderAdmin] {
            let sub = Uuid::new_v4();
            let bare = Actor {
                id: sub,
                role,
                token: token_with(role, sub, None, 600, None),
            };
            assert_problem(
                app.get(Some(&bare), "/api/referral-programs"),
                401,
                "unauthenticated",
            );
        }
    }
);
