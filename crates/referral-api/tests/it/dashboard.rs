//! The patient's dashboard (#31 item 4) over real HTTP on both databases: it leads with
//! the program's offer in words, splits the rewards as the list does, and shows the
//! progress to the next reward moving only at a release.

use crate::pages::Visitor;
use crate::support::*;
use referral_api::auth::Role;
use referral_store::demo::{DEMO_PATIENT_EMAIL, DEMO_PATIENT_ID};
use referral_store::testing::TestDb;
use serde_json::{json, Value};

fn site(db: TestDb) -> TestApp {
    spawn_site(db, |args, base| {
        args.demo_sign_in = true;
        args.public_base_url = base.to_owned();
    })
}

fn converts(app: &TestApp, referrer: &Actor, email: &str) {
    let referral = app.refers(referrer, email);
    let registration = app.registers(referral["referral_code"].as_str().unwrap(), email);
    let converted: Value = app
        .post(
            Some(&app.service()),
            "/api/events/consultations",
            json!({"patient_id": registration["patient_id"], "consultation_id": uuid::Uuid::new_v4()}),
        )
        .json()
        .unwrap();
    assert_eq!(converted["outcome"], "converted", "{converted}");
}

both_databases!(
    the_dashboard_leads_with_the_offer_and_counts_progress_at_releases,
    fixture = site,
    |app: &TestApp| {
        app.program(json!({"reward_threshold": 2}));
        let visitor = Visitor::new(app);
        visitor.sign_in_as("patient");
        let me = app.actor_with_id(Role::Patient, DEMO_PATIENT_ID, DEMO_PATIENT_EMAIL);

        let page = visitor.get("/patient/referrals");
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            page.body
                .contains("Give 20% off a consultation, get a $25.00 account credit"),
            "{}",
            page.body
        );
        assert!(page
            .body
            .contains("Friends you invite are told that you may receive a reward"));
        let two_more = "2 more friends who join and qualify earn your next reward.";
        assert!(page.body.contains(two_more));

        // One friend converts: nothing moves until the release (it would date the visit).
        converts(app, &me, "bob@example.org");
        let page = visitor.get("/patient/referrals");
        assert!(page.body.contains(two_more), "{}", page.body);
        app.release_rewards();
        let page = visitor.get("/patient/referrals");
        assert!(
            page.body
                .contains("1 more friend who joins and qualifies earns your next reward."),
            "{}",
            page.body
        );
        assert!(page.body.contains("id=\"stand-available\">0<"));

        // The second: a reward, shown at the next release, counted where the list says.
        converts(app, &me, "carol@example.org");
        app.release_rewards();
        let page = visitor.get("/patient/referrals");
        assert!(page.body.contains(two_more), "{}", page.body);
        assert!(
            page.body.contains("id=\"stand-available\">1<"),
            "{}",
            page.body
        );
        assert!(page.body.contains("$25.00 to use"));
        let listed: Value = app
            .get(Some(&me), "/api/patients/me/rewards")
            .json()
            .unwrap();
        let available = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"] == "available" && r["party"] == "referrer")
            .count();
        assert_eq!(available, 1, "{listed}");
    }
);

both_databases!(
    the_patient_portal_speaks_the_patients_language_by_browser_and_by_switch,
    fixture = site,
    |app| {
        app.program(json!({}));
        let patient = crate::pages::Visitor::new(app);
        patient.sign_in_as("patient");
        // The browser's language.
        let es = patient.get_in("/patient/referrals", "es-MX,es;q=0.9,en;q=0.5");
        assert_eq!(es.status, 200, "{}", es.body);
        assert!(es.body.contains("<html lang=\"es\""), "{}", es.body);
        assert!(es
            .body
            .contains("Recomienda a tus amigos y gana recompensas"));
        assert!(es.body.contains("Mis recompensas") && es.body.contains("Cerrar sesión"));
        assert!(
            es.body.contains("Regala 20% de descuento en una consulta"),
            "{}",
            es.body
        );
        assert!(es.body.contains("Tu enlace personal"));
        assert!(
            es.body.contains(">English</a>"),
            "the switch offers the other language"
        );
        assert!(!es.body.contains("Refer friends, earn rewards"));
        let en = patient.get("/patient/referrals");
        assert!(en.body.contains("<html lang=\"en\""));
        assert!(en.body.contains("Refer friends, earn rewards"));
        assert!(en.body.contains(">Español</a>"));
        // The switch, remembered on the next pages, and switched back.
        let switched = patient.get("/patient/referrals?lang=es");
        assert!(switched.body.contains("Recomienda a tus amigos"));
        let rewards = patient.get_in("/patient/referrals/rewards", "en-US");
        assert!(
            rewards.body.contains("<h1>Mis recompensas</h1>"),
            "{}",
            rewards.body
        );
        assert!(rewards.body.contains("Todavía no tienes recompensas."));
        let form = patient.get("/patient/referrals/new");
        assert!(form.body.contains("¿Cómo quieres compartir?"));
        assert!(
            form.body
                .contains("<option value=\"es\" lang=\"es\" selected>"),
            "the invitation starts in the referrer's language"
        );
        // A refused form in Spanish: the field by its label, what to enter, the summary.
        let refused = patient.post(
            "/patient/referrals?from=dashboard",
            &[
                ("share_method", "email"),
                ("referee_email", "nope"),
                ("referee_name", "Ana"),
                ("locale", "es"),
            ],
        );
        assert_eq!(refused.status, 422, "{}", refused.body);
        assert!(
            refused.body.contains("Revisa el formulario"),
            "{}",
            refused.body
        );
        assert!(refused.body.contains("Correo de tu amigo"));
        assert!(refused.body.contains("Escribe el correo de tu amigo"));
        assert!(!refused.body.contains("referee_email</a>"));
        // A referral's page.
        let made = patient.post(
            "/patient/referrals",
            &[
                ("share_method", "email"),
                ("referee_email", "ana@example.org"),
                ("referee_name", "Ana"),
                ("locale", "es"),
            ],
        );
        let page = patient.get(made.location.as_deref().unwrap());
        assert!(
            page.body.contains("Recomendación para Ana"),
            "{}",
            page.body
        );
        assert!(page.body.contains("Le estamos enviando la invitación"));
        let back = patient.get("/patient/referrals?lang=en");
        assert!(back.body.contains("Refer friends, earn rewards"));
        assert!(patient
            .get("/patient/referrals")
            .body
            .contains("Refer friends, earn rewards"));
    }
);

both_databases!(
    the_dashboard_is_one_read_under_one_audit_row,
    fixture = site,
    |app| {
        app.program(json!({}));
        let patient = crate::pages::Visitor::new(app);
        patient.sign_in_as("patient");
        let count = |action: &str| -> i64 {
            let trail: Value = app
                .get(
                    Some(&app.admin()),
                    &format!("/api/referrals/audit-trail?action={action}"),
                )
                .json()
                .unwrap();
            trail["total"].as_i64().unwrap()
        };
        let before: Vec<i64> = [
            "dashboard.read",
            "referral.list",
            "reward.list",
            "share_link.read",
            "offer.read",
        ]
        .iter()
        .map(|a| count(a))
        .collect();
        let page = patient.get("/patient/referrals");
        assert_eq!(page.status, 200);
        assert!(
            page.body.contains("Your personal link"),
            "the link is still there"
        );
        let after: Vec<i64> = [
            "dashboard.read",
            "referral.list",
            "reward.list",
            "share_link.read",
            "offer.read",
        ]
        .iter()
        .map(|a| count(a))
        .collect();
        assert_eq!(after[0], before[0] + 1, "one dashboard.read");
        assert_eq!(&after[1..], &before[1..], "and no other read's row");
    }
);
