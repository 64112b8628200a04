//! Admin tools: every bulk operation with a result per id, its limits, and the audit trail
//! as a CSV download. On both databases.

use crate::support::*;
use serde_json::{json, Value};
use uuid::Uuid;

fn bulk(app: &TestApp, operation: &str, ids: Vec<Value>) -> Value {
    let r = app.post(
        Some(&app.admin()),
        "/api/referrals/bulk-operations",
        json!({"operation": operation, "referral_ids": ids, "reason": "bulk test"}),
    );
    assert_eq!(r.status(), 200, "{:?}", r.text());
    r.json().unwrap()
}

fn invite(app: &TestApp, who: &Actor, email: &str, source: &str) -> Value {
    let r = app.post(
        Some(who),
        "/api/patients/me/referrals",
        json!({"referee_email": email, "referral_source": source}),
    );
    assert_eq!(r.status(), 201);
    r.json().unwrap()
}

both_databases!(
    expire_and_resend_act_per_referral,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        app.program(json!({}));
        let alice = app.patient("alice");
        let by_email = invite(app, &alice, "bob@example.com", "email");
        let by_link = invite(app, &alice, "carl@example.com", "direct_link");
        let registered = invite(app, &alice, "dora@example.com", "email");
        app.registers(
            registered["referral_code"].as_str().unwrap(),
            "dora@example.com",
        );

        // Resend: the email referral is queued again once; a link referral has no invitation.
        let result = bulk(
            app,
            "resend_invitation",
            vec![
                by_email["id"].clone(),
                by_link["id"].clone(),
                registered["id"].clone(),
            ],
        );
        assert_eq!(
            (result["succeeded"].as_i64(), result["failed"].as_i64()),
            (Some(1), Some(2))
        );
        assert_eq!(result["results"][1]["code"], "invalid_transition");
        assert_eq!(result["results"][2]["code"], "invalid_transition");
        let queued: Value = app
            .get(Some(&app.admin()), "/api/notifications?status=queued")
            .json()
            .unwrap();
        let invitations = queued["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["template"] == "referral_invitation")
            .count();
        assert_eq!(invitations, 3, "two first invitations and one resend");
        let again = bulk(app, "resend_invitation", vec![by_email["id"].clone()]);
        assert_eq!(again["results"][0]["code"], "invitation_recently_sent");

        // Expire: the pending ones end now, the registered one is refused.
        let result = bulk(
            app,
            "expire",
            vec![
                by_email["id"].clone(),
                by_link["id"].clone(),
                registered["id"].clone(),
            ],
        );
        assert_eq!(result["succeeded"], 2);
        assert_eq!(result["results"][2]["code"], "invalid_transition");
        let code = by_email["referral_code"].as_str().unwrap();
        let public: Value = app
            .get(None, &format!("/api/referrals/{code}"))
            .json()
            .unwrap();
        assert_eq!(public["status"], "expired");
        assert_problem(
            app.post(
                None,
                &format!("/api/referrals/{code}/register"),
                json!({"email": "bob@example.com"}),
            ),
            410,
            "referral_expired",
        );
    }
);

both_databases!(
    reward_decisions_in_bulk_and_the_id_limit,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        app.program(json!({"referrer_reward_type": "cash", "referrer_reward_value": "40.00"}));
        let service = app.service();
        let mut ids = Vec::new();
        for name in ["p", "q"] {
            let referrer = app.patient(name);
            let r = app.refers(&referrer, &format!("{name}-friend@example.com"));
            let patient = app.registers(
                r["referral_code"].as_str().unwrap(),
                &format!("{name}-friend@example.com"),
            );
            app.post(
                Some(&service),
                "/api/events/consultations",
                json!({"patient_id": patient["patient_id"], "consultation_id": Uuid::new_v4()}),
            );
            ids.push(r["id"].clone());
        }
        let approved = bulk(app, "approve_rewards", vec![ids[0].clone()]);
        assert_eq!(approved["succeeded"], 1);
        let rejected = bulk(app, "reject_rewards", vec![ids[1].clone(), ids[0].clone()]);
        assert_eq!(rejected["succeeded"], 1);
        assert_eq!(
            rejected["results"][1]["code"],
            "reward_not_pending_approval"
        );

        // 1,000 ids are accepted (each answered), 1,001 are refused.
        let many: Vec<Value> = (0..1000).map(|_| json!(Uuid::new_v4())).collect();
        let result = bulk(app, "decline", many.clone());
        assert_eq!(result["failed"], 1000);
        assert!(result["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["code"] == "not_found"));
        let mut too_many = many;
        too_many.push(json!(Uuid::new_v4()));
        assert_problem(
            app.post(
                Some(&app.admin()),
                "/api/referrals/bulk-operations",
                json!({"operation": "decline", "referral_ids": too_many}),
            ),
            422,
            "validation_failed",
        );
    }
);

both_databases!(
    the_audit_trail_downloads_as_csv,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        app.program(json!({}));
        // A user agent that a spreadsheet would run as a formula, with a quote and a comma.
        let hostile = "=HYPERLINK(\"http://evil\",\"x\"), like curl";
        let alice = app.patient("alice");
        let r = app
            .client
            .get(app.url("/api/patients/me/referrals"))
            .bearer_auth(&alice.token)
            .header("user-agent", hostile)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);

        let admin = app.admin();
        let response = app.get(
            Some(&admin),
            "/api/referrals/audit-trail?format=csv&action=referral.list",
        );
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "text/csv; charset=utf-8"
        );
        assert!(response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("audit-trail.csv"));
        let total: i64 = response.headers()["x-total-count"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let text = response.text().unwrap();
        let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert_eq!(lines[0], "id,created_at,actor_id,actor_role,action,resource_type,resource_id,outcome,ip_address,user_agent");
        assert_eq!(lines.len() as i64 - 1, total);
        assert_eq!(total, 1);
        assert!(
            lines[1].contains(",patient,referral.list,referral,"),
            "{}",
            lines[1]
        );
        // Defused and quoted: starts with a quote mark, inner quotes doubled.
        assert!(
            lines[1].ends_with("\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\"), like curl\""),
            "{}",
            lines[1]
        );

        // JSON paging is unchanged; bad formats and limits are refused.
        let json_page: Value = app
            .get(Some(&admin), "/api/referrals/audit-trail?limit=1")
            .json()
            .unwrap();
        assert_eq!(json_page["items"].as_array().unwrap().len(), 1);
        assert_problem(
            app.get(Some(&admin), "/api/referrals/audit-trail?format=xml"),
            422,
            "validation_failed",
        );
        assert_problem(
            app.get(
                Some(&admin),
                "/api/referrals/audit-trail?format=csv&limit=10001",
            ),
            422,
            "validation_failed",
        );
        assert_problem(
            app.get(Some(&alice), "/api/referrals/audit-trail?format=csv"),
            403,
            "forbidden",
        );
        // Exporting is itself audited.
        let exports: Value = app
            .get(
                Some(&admin),
                "/api/referrals/audit-trail?action=audit.export",
            )
            .json()
            .unwrap();
        assert!(exports["total"].as_i64().unwrap() >= 1);
    }
);
