//! A scripted scenario with known counts, read back through both analytics endpoints on
//! both databases: the funnel, rates, reward cost, revenue, LTV, ROI, trends, the top
//! referrers (by name and by pseudonym), performance windows and an experiment.

use crate::support::*;
use serde_json::{json, Value};
use uuid::Uuid;

/// Runs the scenario: returns the program ids (credit program, cash program).
fn scenario(app: &TestApp) -> (String, String) {
    let credit = app.program(json!({"name": "Credit", "referrer_reward_type": "credit",
        "referrer_reward_value": "25.00", "referee_reward_type": "discount", "referee_reward_value": "20"}));
    let cash = app.program(json!({"name": "Cash", "referrer_reward_type": "cash",
        "referrer_reward_value": "40.00", "referee_reward_type": null, "referee_reward_value": null}));
    let service = app.service();
    let alice = app.patient("alice");
    let carol = app.patient("carol");
    let create = |who: &Actor, program: &Value, email: &str| -> Value {
        let r = app.post(
            Some(who),
            "/api/patients/me/referrals",
            json!({"referee_email": email, "program_id": program["id"]}),
        );
        assert_eq!(r.status(), 201, "{:?}", r.text());
        r.json().unwrap()
    };
    // Credit program: alice makes 4 referrals, carol 1.
    let a1 = create(&alice, &credit, "a1@example.com");
    let a2 = create(&alice, &credit, "a2@example.com");
    let a3 = create(&alice, &credit, "a3@example.com");
    let _a4 = create(&alice, &credit, "a4@example.com");
    let c1 = create(&carol, &credit, "c1@example.com");
    // Clicks: a1 twice, a2 once, c1 once -> 3 clicked.
    for r in [&a1, &a1, &a2, &c1] {
        let code = r["referral_code"].as_str().unwrap();
        assert_eq!(
            app.get(None, &format!("/api/referrals/{code}/click"))
                .status(),
            302
        );
    }
    // Clicks are counted in batches (every 250 ms); add them now.
    app.state.clicks.flush(&app.state.pool).unwrap();
    // Registrations: a1, a2, a3, c1 -> 4 registered.
    let patient_of = |r: &Value, email: &str| -> String {
        app.registers(r["referral_code"].as_str().unwrap(), email)["patient_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let p1 = patient_of(&a1, "a1@example.com");
    let p2 = patient_of(&a2, "a2@example.com");
    let _p3 = patient_of(&a3, "a3@example.com");
    let pc = patient_of(&c1, "c1@example.com");
    // Conversions: a1 by consultation, a2 by a 100.00 order, c1 by a 60.00 order; a1 later
    // orders 50.00 (revenue after conversion counts). -> 3 converted, revenue 210.00.
    let post = |path: &str, body: Value| {
        let r = app.post(Some(&service), path, body);
        assert!(r.status().is_success(), "{:?}", r.text());
    };
    post(
        "/api/events/consultations",
        json!({"patient_id": p1, "consultation_id": Uuid::new_v4()}),
    );
    post(
        "/api/events/orders",
        json!({"patient_id": p2, "order_id": Uuid::new_v4(), "amount": "100.00"}),
    );
    post(
        "/api/events/orders",
        json!({"patient_id": pc, "order_id": Uuid::new_v4(), "amount": "60.00"}),
    );
    post(
        "/api/events/orders",
        json!({"patient_id": p1, "order_id": Uuid::new_v4(), "amount": "50.00"}),
    );
    // An order of a patient nobody referred changes nothing.
    post(
        "/api/events/orders",
        json!({"patient_id": Uuid::new_v4(), "order_id": Uuid::new_v4(), "amount": "999.00"}),
    );
    // One of Alice's 25.00 credits is used on an order (the platform redeems it; Alice
    // sees them from the week's release on): paid 25.00.
    let available: Vec<_> = app
        .ledger_of(&alice)
        .into_iter()
        .filter(|r| r.status == referral_domain::RewardStatus::Available)
        .collect();
    assert_eq!(available.len(), 2, "two credits of 25.00 for alice");
    let redeem = app.post(
        Some(&app.service()),
        &format!("/api/rewards/{}/redeem", available[0].id),
        json!({"order_id": Uuid::new_v4()}),
    );
    assert_eq!(redeem.status(), 200);

    // Cash program: carol makes 2 referrals; one converts and its 40.00 is approved, then
    // a second converts and its 40.00 is rejected.
    let k1 = create(&carol, &cash, "k1@example.com");
    let k2 = create(&carol, &cash, "k2@example.com");
    for (r, email, approve) in [
        (&k1, "k1@example.com", true),
        (&k2, "k2@example.com", false),
    ] {
        let p = patient_of(r, email);
        post(
            "/api/events/consultations",
            json!({"patient_id": p, "consultation_id": Uuid::new_v4()}),
        );
        let decided = app.post(
            Some(&app.admin()),
            &format!(
                "/api/referrals/{}/approve-reward",
                r["id"].as_str().unwrap()
            ),
            json!({"approve": approve, "reason": "scenario"}),
        );
        assert_eq!(decided.status(), 200, "{:?}", decided.text());
    }
    (
        credit["id"].as_str().unwrap().to_owned(),
        cash["id"].as_str().unwrap().to_owned(),
    )
}

fn analytics(app: &TestApp, query: &str) -> Value {
    let r = app.get(
        Some(&app.admin()),
        &format!("/api/referrals/analytics{query}"),
    );
    assert_eq!(r.status(), 200, "{:?}", r.text());
    r.json().unwrap()
}

both_databases!(
    a_scripted_scenario_gives_its_known_counts,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        let (credit, cash) = scenario(app);
        let all = analytics(app, "");
        // 7 referrals: 5 credit + 2 cash; clicked 3; registered 6; converted 5.
        assert_eq!(all["total_referrals"], 7);
        assert_eq!(
            all["funnel"],
            json!({"created": 7, "clicked": 3, "registered": 6, "converted": 5})
        );
        assert_eq!(all["registered"], 6);
        assert_eq!(all["converted"], 5);
        assert_eq!(all["conversion_rate"], "71.43");
        assert_eq!(all["active_programs"], 2);
        // Money rewards: 3 credits of 25.00 (a1, a2, c1) + 1 approved cash 40.00; the rejected
        // cash is not cost. Discounts are worth nothing until used.
        assert_eq!(all["rewards_granted"], 4);
        assert_eq!(all["reward_cost"], "115.00");
        assert_eq!(all["avg_reward_cost"], "28.75");
        assert_eq!(
            all["rewards_paid"], "65.00",
            "25.00 credit used + 40.00 cash approved"
        );
        assert_eq!(all["revenue"], "210.00");
        assert_eq!(
            all["customer_ltv"], "42.00",
            "210.00 over 5 converted referees"
        );
        let programs = all["programs"].as_array().unwrap();
        let credit_figures = programs
            .iter()
            .find(|p| p["program_id"] == credit.as_str())
            .unwrap();
        assert_eq!(
            credit_figures["funnel"],
            json!({"created": 5, "clicked": 3, "registered": 4, "converted": 3})
        );
        assert_eq!(credit_figures["reward_cost"], "75.00");
        assert_eq!(credit_figures["revenue"], "210.00");
        assert_eq!(credit_figures["roi"], "180.00", "(210 - 75) / 75");
        let cash_figures = programs
            .iter()
            .find(|p| p["program_id"] == cash.as_str())
            .unwrap();
        assert_eq!(cash_figures["reward_cost"], "40.00");
        assert_eq!(cash_figures["roi"], "-100.00");
        // Trends: everything happened today.
        assert_eq!(all["trends"].as_array().unwrap().len(), 1);
        assert_eq!(all["trends"][0]["referrals"], 7);
        let monthly = analytics(app, "?interval=month");
        let period = monthly["trends"][0]["period"].as_str().unwrap();
        assert!(period.ends_with("-01"), "{period}");
        // Top referrers: carol 3 converted (c1, k1, k2), alice 2.
        assert_eq!(all["top_referrers"][0]["email"], "carol@example.com");
        assert_eq!(all["top_referrers"][0]["converted"], 3);
        assert_eq!(all["top_referrers"][0]["referrals"], 3);
        assert_eq!(all["top_referrers"][1]["converted"], 2);
        assert_eq!(all["top_referrers"][1]["referrals"], 4);

        // One program.
        let only_cash = analytics(app, &format!("?program_id={cash}"));
        assert_eq!(only_cash["total_referrals"], 2);
        assert_eq!(only_cash["programs"].as_array().unwrap().len(), 1);
        assert_eq!(only_cash["top_referrers"][0]["converted"], 2);
        // A window: today only gives everything, tomorrow nothing; windowed top referrers too.
        let today = chrono::Utc::now().date_naive();
        let windowed = analytics(
            app,
            &format!(
                "?from={today}T00:00:00Z&to={}T00:00:00Z",
                today.succ_opt().unwrap()
            ),
        );
        assert_eq!(windowed["total_referrals"], 7);
        assert_eq!(windowed["top_referrers"][0]["converted"], 3);
        assert_eq!(windowed["top_referrers"][0]["referrals"], 3);
        let tomorrow = analytics(
            app,
            &format!("?from={}T00:00:00Z", today.succ_opt().unwrap()),
        );
        assert_eq!(tomorrow["total_referrals"], 0);
        assert_eq!(tomorrow["conversion_rate"], "0.00");

        // Anonymized: pseudonyms only, stable across reports.
        let anonymous = analytics(app, "?anonymize=true");
        let text = anonymous.to_string();
        for secret in ["carol", "alice", "@example.com"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        let pseudonym = anonymous["top_referrers"][0]["pseudonym"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            pseudonym.starts_with("P-") && pseudonym.len() == 18,
            "{pseudonym}"
        );
        assert!(anonymous["top_referrers"][0].get("referrer_id").is_none());
        assert_eq!(
            analytics(app, "?anonymize=true")["top_referrers"][0]["pseudonym"],
            pseudonym.as_str()
        );
        assert_eq!(anonymous["total_referrals"], 7);

        // Performance: every window holds today's figures.
        let performance: Value = app
            .get(Some(&app.admin()), "/api/referrals/performance")
            .json()
            .unwrap();
        let credit_perf = performance["programs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["program_id"] == credit.as_str())
            .unwrap();
        for (i, days) in [7, 30, 90].iter().enumerate() {
            let w = &credit_perf["windows"][i];
            assert_eq!(w["days"], *days);
            assert_eq!(w["referrals"], 5);
            assert_eq!(w["click_through_rate"], "60.00");
            assert_eq!(w["registration_rate"], "80.00");
            assert_eq!(w["conversion_rate"], "60.00");
            assert_eq!(w["reward_cost_per_conversion"], "25.00");
            assert!(w["median_hours_to_convert"].as_f64().unwrap() < 1.0);
        }

        // The rollups kept by each change agree with a rebuild from the tables.
        let before = analytics(app, "?interval=week");
        referral_store::rollups::rebuild(&mut app.db.conn()).unwrap();
        assert_eq!(
            analytics(app, "?interval=week"),
            before,
            "incremental rollups == rebuilt ones"
        );

        // Bad input is refused, and patients may not look.
        assert_problem(
            app.get(Some(&app.admin()), "/api/referrals/analytics?interval=year"),
            422,
            "validation_failed",
        );
        assert_problem(
            app.get(Some(&app.patient("eve")), "/api/referrals/analytics"),
            403,
            "forbidden",
        );
    }
);

both_databases!(
    an_experiment_reports_each_variant_and_its_z_test,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        let program = app.program(json!({"name": "A/B", "referrer_reward_type": "credit",
        "referrer_reward_value": "25.00",
        "variants": [
            {"name": "control"},
            {"name": "bigger", "referrer_reward_value": "40.00", "invitation_headline": "Get $40 for a friend"}
        ]}));
        assert_eq!(program["variants"].as_array().unwrap().len(), 2);
        // Referrers are assigned deterministically: collect referrals until each variant has some.
        let service = app.service();
        let mut made = std::collections::HashMap::<String, (i64, i64)>::new();
        for i in 0..24 {
            let referrer = app.patient(&format!("referrer{i}"));
            let r: Value = app
                .post(
                    Some(&referrer),
                    "/api/patients/me/referrals",
                    json!({"referee_email": format!("friend{i}@example.com")}),
                )
                .json()
                .unwrap();
            let variant = r["variant"].as_str().unwrap().to_owned();
            // Every "bigger" referral converts; "control" converts one in four.
            let entry = made.entry(variant.clone()).or_default();
            entry.0 += 1;
            if variant == "bigger" || i % 4 == 0 {
                let patient = app.registers(
                    r["referral_code"].as_str().unwrap(),
                    &format!("friend{i}@example.com"),
                );
                let converted = app.post(
                    Some(&service),
                    "/api/events/consultations",
                    json!({"patient_id": patient["patient_id"], "consultation_id": Uuid::new_v4()}),
                );
                assert!(converted.status().is_success());
                entry.1 += 1;
                if variant == "bigger" {
                    // The variant's override is the reward it gets (as the platform is
                    // told; the referrer sees it at the week's release).
                    let converted: Value = converted.json().unwrap();
                    assert_eq!(converted["referrer_reward"]["reward_amount"], "40.00");
                }
            }
        }
        assert_eq!(made.len(), 2, "both variants assigned: {made:?}");
        let all = analytics(app, "");
        let experiment = &all["experiments"][0];
        assert_eq!(experiment["program_id"], program["id"]);
        for v in experiment["variants"].as_array().unwrap() {
            let (referrals, converted) = made[v["name"].as_str().unwrap()];
            assert_eq!(v["referrals"], referrals);
            assert_eq!(v["converted"], converted);
        }
        // The p-value is the domain's z-test on exactly these counts.
        let (bn, bc) = made["bigger"];
        let (cn, cc) = made["control"];
        let expected = referral_domain::experiment::two_proportion_z_test(
            referral_domain::experiment::Proportion::new(bc as u64, bn as u64),
            referral_domain::experiment::Proportion::new(cc as u64, cn as u64),
        )
        .unwrap();
        let control = experiment["variants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "control")
            .unwrap();
        assert!((control["p_value"].as_f64().unwrap() - expected.p_value).abs() < 1e-6);
        let leads = expected.p_value < 0.05;
        assert_eq!(
            experiment["leader"].as_str(),
            leads.then_some("bigger"),
            "{experiment}"
        );

        // Each variant's lift over the control (the first), with its 95% interval and
        // p-value: the domain's numbers, on the API and on the variant's row of the page.
        let lift = referral_domain::experiment::lift_over_control(
            referral_domain::experiment::Proportion::new(cc as u64, cn as u64),
            referral_domain::experiment::Proportion::new(bc as u64, bn as u64),
        )
        .unwrap();
        let bigger = experiment["variants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "bigger")
            .unwrap();
        assert!((bigger["lift"]["points"].as_f64().unwrap() - lift.points).abs() < 1e-9);
        assert!((bigger["lift"]["ci_low"].as_f64().unwrap() - lift.ci_low).abs() < 1e-9);
        assert!(
            control["lift"].is_null(),
            "the control has no lift over itself"
        );
        let page = |query: &str| {
            app.client
                .get(app.url(&format!("/portal/referrals/analytics{query}")))
                .header("Cookie", format!("referral_session={}", app.admin().token))
                .send()
                .unwrap()
        };
        let shown = page("");
        assert_eq!(shown.status(), 200);
        let html = shown.text().unwrap();
        let row = format!("<th scope=\"row\">bigger</th><td>{bn}</td><td>{bc}</td>");
        let at = html.find(&row).expect("the variant's row");
        let rest = &html[at..(at + 600).min(html.len())];
        assert!(
            rest.contains(&format!("{:+.1} points", lift.points)),
            "{rest}"
        );
        assert!(
            rest.contains(&format!(
                "{:+.1} to {:+.1} points",
                lift.ci_low, lift.ci_high
            )),
            "{rest}"
        );
        assert!(
            rest.contains(&format!("{:.4}", lift.p_value.unwrap())),
            "{rest}"
        );
        assert!(html.contains("All time, every program."));
        assert!(html.contains("Lifetime value"));

        // The performance windows honour the range: they end on its last day and start no
        // earlier than its first, and each row names its days.
        let today = app.state.now().date_naive();
        let yesterday = today.pred_opt().unwrap();
        let html = page(&format!("?to={yesterday}")).text().unwrap();
        assert!(
            html.contains(&format!("The 7, 30 and 90 days up to {yesterday}")),
            "{html}"
        );
        let week = format!(
            "({} to {yesterday})</span></th><td>",
            yesterday - chrono::Duration::days(6)
        );
        let at = html.find(&week).expect("the 7-day row ends yesterday");
        assert!(
            html[at + week.len()..].starts_with("0</td>"),
            "nothing before today"
        );
        let html = page(&format!("?from={today}&to={today}")).text().unwrap();
        let day = format!("({today} to {today})</span></th><td>");
        let at = html
            .find(&day)
            .expect("the windows start on the range's first day");
        assert!(
            !html[at + day.len()..].starts_with("0</td>"),
            "today's referrals count"
        );

        // A range whose start is after its end is refused with a message.
        let backwards = page("?from=2026-12-10&to=2026-12-01");
        assert_eq!(backwards.status(), 422);
        let html = backwards.text().unwrap();
        assert!(
            html.contains("The end date is before the start date"),
            "{html}"
        );
        assert!(html.contains("<a href=\"#to\">To</a>"), "{html}");

        // Bad variants are refused with field errors.
        let bad = app.post(
            Some(&app.admin()),
            "/api/referral-programs",
            json!({"name": "Bad", "variants": [{"name": "only one"}]}),
        );
        let problem = assert_problem(bad, 422, "validation_failed");
        assert_eq!(problem["errors"][0]["field"], "variants");
    }
);
