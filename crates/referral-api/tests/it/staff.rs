//! What clinic staff need (#31 item 6), over real HTTP with the portal session, on both
//! databases: CSV downloads read back with the `csv` crate (streamed, audited, people as
//! pseudonyms unless revealed), cash approvals one case a referral with who, program,
//! amount, signals and age, a rejection that needs a reason and a confirmation, many
//! decided at once, and lists that page past their first page.

use crate::pages::Visitor;
use crate::support::*;
use serde_json::{json, Value};

fn site(db: referral_store::testing::TestDb) -> TestApp {
    spawn_site(db, |args, base| {
        args.demo_sign_in = true;
        args.public_base_url = base.to_owned();
    })
}

/// `referrer` refers `friend`, who registers and has a first consultation; the
/// referral's id.
fn converts(app: &TestApp, referrer: &Actor, friend: &str) -> String {
    let referral = app.refers(referrer, friend);
    let registered = app.registers(referral["referral_code"].as_str().unwrap(), friend);
    let converted = app.post(
        Some(&app.service()),
        "/api/events/consultations",
        json!({"patient_id": registered["patient_id"], "consultation_id": uuid::Uuid::new_v4()}),
    );
    assert_eq!(converted.status(), 200, "{:?}", converted.text());
    referral["id"].as_str().unwrap().to_owned()
}

/// The rows of a CSV download, header first, as a spreadsheet reads them.
fn rows_of(body: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

fn column(rows: &[Vec<String>], name: &str) -> Vec<String> {
    let at = rows[0]
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name} in {:?}", rows[0]));
    rows[1..].iter().map(|r| r[at].clone()).collect()
}

fn audited(app: &TestApp, action: &str) -> i64 {
    let trail: Value = app
        .get(
            Some(&app.admin()),
            &format!("/api/referrals/audit-trail?action={action}"),
        )
        .json()
        .unwrap();
    trail["total"].as_i64().unwrap()
}

both_databases!(
    the_portal_downloads_are_audited_csv_with_pseudonyms_unless_names_are_shown,
    fixture = site,
    |app| {
        let program =
            app.program(json!({"referrer_reward_type": "cash", "referrer_reward_value": "40.00"}));
        let alice = app.patient("alice");
        let converted = converts(app, &alice, "bob@example.org");
        app.refers(&alice, "carol@example.org");
        let admin = Visitor::new(app);
        admin.sign_in_as("admin");
        let page = admin.get("/portal/referrals/exports");
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("Download referrals"));
        assert!(page.body.contains(program["name"].as_str().unwrap()));

        // Referrals: a pseudonym for the referrer, the same one on each row; no address.
        let csv = admin.get("/portal/referrals/exports/referrals.csv");
        assert_eq!(csv.status, 200, "{}", csv.body);
        assert!(csv.content_type.as_deref().unwrap().starts_with("text/csv"));
        assert!(csv
            .disposition
            .as_deref()
            .unwrap()
            .contains("referrals.csv"));
        let rows = rows_of(&csv.body);
        assert_eq!(rows.len(), 3, "{rows:?}");
        let referrers = column(&rows, "referrer");
        assert!(
            referrers
                .iter()
                .all(|r| r.starts_with("P-") && *r == referrers[0]),
            "{referrers:?}"
        );
        assert!(
            !csv.body.contains('@'),
            "no address in a download: {}",
            csv.body
        );
        assert!(!csv.body.contains("alice"));
        assert_eq!(audited(app, "referral.export"), 1);
        // The list's filters hold.
        let one = rows_of(
            &admin
                .get("/portal/referrals/exports/referrals.csv?status=converted")
                .body,
        );
        assert_eq!(column(&one, "referral_id"), vec![converted.clone()]);
        assert_eq!(
            column(&one, "program"),
            vec![program["name"].as_str().unwrap().to_owned()]
        );
        // Names only when asked, and that is audited apart.
        let named = rows_of(
            &admin
                .get("/portal/referrals/exports/referrals.csv?names=1")
                .body,
        );
        assert!(
            column(&named, "referrer").iter().all(|r| r == "alice"),
            "{named:?}"
        );
        assert_eq!(audited(app, "referral.export_named"), 1);
        // A range that ends before it starts is refused in words, and nothing is exported.
        let refused =
            admin.get("/portal/referrals/exports/referrals.csv?from=2030-01-02&to=2030-01-01");
        assert_eq!(refused.status, 422, "{}", refused.body);
        assert!(
            refused
                .body
                .contains("The end date is before the start date"),
            "{}",
            refused.body
        );
        let bad_date = admin.get("/portal/referrals/exports/referrals.csv?from=tomorrow");
        assert_eq!(bad_date.status, 422);

        // Rewards and the payout once approved.
        let rewards = rows_of(&admin.get("/portal/referrals/exports/rewards.csv").body);
        assert!(
            column(&rewards, "status").contains(&"pending_approval".to_owned()),
            "{rewards:?}"
        );
        assert!(column(&rewards, "owner")
            .iter()
            .all(|o| o.starts_with("P-")));
        let approved = admin.post(
            "/portal/referrals/rewards",
            &[
                ("decision", &format!("approve:{converted}")),
                ("reason", ""),
            ],
        );
        assert_eq!(
            approved.location.as_deref(),
            Some("/portal/referrals/rewards?done=approved&n=1"),
            "{}",
            approved.body
        );
        let payouts = rows_of(&admin.get("/portal/referrals/exports/payouts.csv").body);
        assert_eq!(column(&payouts, "referral_id"), vec![converted.clone()]);
        assert_eq!(column(&payouts, "amount"), vec!["40.00".to_owned()]);
        assert_eq!(column(&payouts, "payout_status"), vec!["queued".to_owned()]);
        assert_eq!(audited(app, "payout.export"), 1);

        // The review queue (empty here) still has its header; the audit trail lists exports.
        let queue = rows_of(&admin.get("/portal/referrals/exports/reviews.csv").body);
        assert_eq!(queue[0][0], "referral_id");
        let trail = rows_of(
            &admin
                .get("/portal/referrals/exports/audit.csv?action=referral.export_named")
                .body,
        );
        assert_eq!(
            column(&trail, "action"),
            vec!["referral.export_named".to_owned()]
        );
        assert_eq!(audited(app, "audit.export"), 1);

        // A patient downloads nothing.
        let patient = Visitor::new(app);
        patient.sign_in_as("patient");
        assert_eq!(
            patient
                .get("/portal/referrals/exports/referrals.csv")
                .status,
            403
        );
        assert_eq!(
            patient.get("/portal/referrals/exports/audit.csv").status,
            403
        );
    }
);

both_databases!(
    an_export_streams_page_after_page_to_the_last_row,
    fixture = site,
    |app| {
        // More audit rows than one page of the stream (500) holds.
        let admin_api = app.admin();
        for _ in 0..520 {
            assert_eq!(
                app.get(Some(&admin_api), "/api/referrals/audit-trail?limit=1")
                    .status(),
                200
            );
        }
        let admin = Visitor::new(app);
        admin.sign_in_as("admin");
        let csv = admin.get("/portal/referrals/exports/audit.csv");
        assert_eq!(csv.status, 200);
        let rows = rows_of(&csv.body);
        let ids = column(&rows, "id");
        let unique: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "no row twice");
        // Everything written before the export began: more than one page of the stream.
        assert!(ids.len() >= 520, "{} rows", ids.len());
    }
);

both_databases!(
    cash_approvals_show_each_case_and_a_rejection_needs_a_reason_and_a_confirmation,
    fixture = site,
    |app| {
        app.program(json!({"name": "Spring cash", "referrer_reward_type": "cash", "referrer_reward_value": "40.00"}));
        // Six referrers (a program limits each one's referrals), 53 cases in all.
        let referrers: Vec<Actor> = (0..6).map(|i| app.patient(&format!("alice{i}"))).collect();
        let cases: Vec<String> = (0..53)
            .map(|i| converts(app, &referrers[i % 6], &format!("friend{i}@example.org")))
            .collect();
        let admin = Visitor::new(app);
        admin.sign_in_as("admin");
        let page = admin.get("/portal/referrals/rewards");
        assert_eq!(page.status, 200);
        assert!(
            page.body.contains("Waiting for approval (53)"),
            "{}",
            page.body
        );
        assert!(page.body.contains("Spring cash"));
        assert!(page.body.contains("$40.00"));
        assert!(page.body.contains("P-"), "pseudonyms by default");
        assert!(!page.body.contains("alice"));
        assert!(page.body.contains("today"));
        // Past the first page of 50.
        assert!(page.body.contains("Page 1 of 2"));
        // (Attribute values are HTML-escaped: `=` arrives as an entity.)
        assert!(
            page.body
                .contains("href=\"/portal/referrals/rewards?page&#x3D;2\" rel=\"next\""),
            "{}",
            page.body
        );
        let second = admin.get("/portal/referrals/rewards?page=2");
        assert_eq!(
            second.body.matches("name=\"referral_id\"").count(),
            3,
            "{}",
            second.body
        );
        // Names when asked, audited as such.
        let named = admin.get("/portal/referrals/rewards?names=1");
        assert!(named.body.contains("<code>alice0</code>"), "{}", named.body);
        assert_eq!(audited(app, "reward.approval_queue_named"), 1);

        // A rejection asks for confirmation first, then for a reason; nothing changes.
        let first = &cases[0];
        let asked = admin.post(
            "/portal/referrals/rewards",
            &[("decision", &format!("reject:{first}")), ("reason", "")],
        );
        assert_eq!(asked.status, 200, "{}", asked.body);
        assert!(
            asked.body.contains("Reject 1 referral(s)"),
            "{}",
            asked.body
        );
        assert!(asked.body.contains("cannot be undone"));
        let no_reason = admin.post(
            "/portal/referrals/rewards",
            &[
                ("decision", "reject"),
                ("referral_id", first),
                ("confirmed", "1"),
                ("reason", " "),
            ],
        );
        assert_eq!(no_reason.status, 422);
        assert!(
            no_reason.body.contains("Enter why you are rejecting"),
            "{}",
            no_reason.body
        );
        assert!(admin
            .get("/portal/referrals/rewards")
            .body
            .contains("Waiting for approval (53)"));
        let rejected = admin.post(
            "/portal/referrals/rewards",
            &[
                ("decision", "reject"),
                ("referral_id", first),
                ("confirmed", "1"),
                ("reason", "Same household"),
            ],
        );
        assert_eq!(
            rejected.location.as_deref(),
            Some("/portal/referrals/rewards?done=rejected&n=1")
        );

        // Many at once with one reason.
        let mut fields: Vec<(&str, &str)> = vec![("decision", "approve"), ("reason", "Checked")];
        fields.extend(cases[1..].iter().map(|id| ("referral_id", id.as_str())));
        let approved = admin.post("/portal/referrals/rewards", &fields);
        assert_eq!(
            approved.location.as_deref(),
            Some("/portal/referrals/rewards?done=approved&n=52"),
            "{}",
            approved.body
        );
        let done = admin.get("/portal/referrals/rewards?done=approved&n=52");
        assert!(done.body.contains("52 referral(s) approved"));
        assert!(done.body.contains("No rewards are waiting for approval."));
        assert_eq!(audited(app, "reward.approve"), 52);
        assert_eq!(audited(app, "reward.reject"), 1);
    }
);
