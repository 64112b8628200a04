//! Spanish (#24): a referral's messages in its language, the registration page in the
//! friend's, over real HTTP on both databases, read from the delivered emails.

use crate::delivery::deliver;
use crate::support::*;
use chrono::Utc;
use serde_json::{json, Value};

/// The delivered emails to `recipient`, whole (the development mailbox writes them).
pub(crate) fn emails_to(app: &TestApp, recipient: &str) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(app.mailbox.path().join("outbox")) else {
        return Vec::new();
    };
    let mut found: Vec<(std::time::SystemTime, String)> = dir
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .map(|p| {
            let modified = std::fs::metadata(&p).unwrap().modified().unwrap();
            (modified, std::fs::read_to_string(&p).unwrap())
        })
        .filter(|(_, eml)| eml.starts_with(&format!("To: {recipient}\r\n")))
        .collect();
    found.sort_by_key(|(t, _)| *t);
    found.into_iter().map(|(_, eml)| eml).collect()
}

fn subject(eml: &str) -> &str {
    eml.lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .unwrap_or_default()
}

fn page(app: &TestApp, path: &str, accept_language: Option<&str>) -> String {
    let mut request = app.client.get(app.url(path));
    if let Some(header) = accept_language {
        request = request.header("Accept-Language", header);
    }
    let response = request.send().unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.text().unwrap()
}

both_databases!(
    a_spanish_invitation,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        app.program(
            json!({"referee_reward_type": "credit", "referee_reward_value": "10.00",
                           "referrer_reward_type": "credit", "referrer_reward_value": "25.00"}),
        );
        let alice = app.patient("alice");

        // A language we do not write is refused on its field, and nothing is made.
        let refused = app.post(
            Some(&alice),
            "/api/patients/me/referrals",
            json!({"referee_email": "bob@example.org", "referral_source": "email", "locale": "fr"}),
        );
        let problem = assert_problem(refused, 422, "validation_failed");
        assert!(problem.to_string().contains("locale"), "{problem}");
        let none: Value = app
            .get(Some(&alice), "/api/patients/me/referrals")
            .json()
            .unwrap();
        assert_eq!(none["total"], 0);

        // Alice invites Bob in Spanish.
        let created = app.post(
            Some(&alice),
            "/api/patients/me/referrals",
            json!({"referee_email": "bob@example.org", "referee_name": "Bob",
                   "referral_source": "email", "locale": "es"}),
        );
        assert_eq!(created.status(), 201, "{:?}", created.text());
        let referral: Value = created.json().unwrap();
        assert_eq!(referral["locale"], "es");
        let code = referral["referral_code"].as_str().unwrap().to_owned();
        // Read back in the referrer's list and the portal's.
        let mine: Value = app
            .get(Some(&alice), "/api/patients/me/referrals")
            .json()
            .unwrap();
        assert_eq!(mine["items"][0]["locale"], "es");
        let all: Value = app
            .get(Some(&app.admin()), "/api/referrals")
            .json()
            .unwrap();
        assert_eq!(all["items"][0]["locale"], "es");
        deliver(app, Utc::now());
        let invitation = emails_to(app, "bob@example.org");
        assert_eq!(invitation.len(), 1);
        let invitation = &invitation[0];
        assert_eq!(
            subject(invitation),
            "alice cree que Zappy Health te va a encantar",
            "{invitation}"
        );
        assert!(invitation.contains("Tu bono de bienvenida: $10.00 de crédito en tu cuenta"));
        assert!(invitation.contains(&format!("/r/{code}?lang=es")));
        assert!(
            invitation.contains("puede dar una recompensa"),
            "FTC disclosure"
        );
        assert!(invitation.contains("Cancela la suscripción"));
        assert!(!invitation.contains("thinks you'd love"));

        // The link opens the Spanish page; the browser's language works too, and the
        // friend may switch.
        let spanish = page(app, &format!("/register?ref={code}&lang=es"), None);
        assert!(spanish.contains("<html lang=\"es\">"));
        assert!(spanish.contains("¡Un amigo te recomendó Zappy Health!"));
        assert!(spanish.contains("$10.00 de crédito en tu cuenta"));
        assert!(spanish.contains("Avisar a la persona que me invitó"));
        assert!(spanish.contains("Saltar al contenido"));
        // The friend's notice (#30), in the friend's language.
        assert!(spanish.contains("puede recibir una recompensa cuando tengas tu primera consulta"));
        let by_browser = page(
            app,
            &format!("/register?ref={code}"),
            Some("es-MX,es;q=0.9,en;q=0.5"),
        );
        assert!(by_browser.contains("<html lang=\"es\">"));
        let english = page(app, &format!("/register?ref={code}&lang=en"), Some("es-MX"));
        assert!(english.contains("<html lang=\"en\">"));
        assert!(english.contains("You&#x27;ve been referred by a friend!"));

        // Bob registers in Spanish: the confirmation, the stored consent and the welcome
        // bonus are in Spanish.
        let response = app.post(
            None,
            &format!("/api/referrals/{code}/register"),
            json!({"email": "bob@example.org", "name": "Bob", "share_with_referrer": true, "locale": "es"}),
        );
        assert_eq!(response.status(), 202, "{:?}", response.text());
        deliver(app, Utc::now());
        let confirmation = emails_to(app, "bob@example.org").pop().unwrap();
        assert_eq!(
            subject(&confirmation),
            "Confirma tu correo para unirte a Zappy Health"
        );
        assert!(confirmation.contains("/register/verify?token="));
        assert!(confirmation.contains("&lang=es"));
        let token = app.verification_token("bob@example.org").unwrap();
        let verify_page = page(
            app,
            &format!("/register/verify?token={token}&lang=es"),
            None,
        );
        assert!(verify_page.contains("Confirmar y unirme"));
        let registered = app.post(None, "/api/registrations/verify", json!({"token": token}));
        assert_eq!(registered.status(), 201, "{:?}", registered.text());
        let registered: Value = registered.json().unwrap();
        deliver(app, Utc::now());
        let welcome = emails_to(app, "bob@example.org").pop().unwrap();
        assert_eq!(
            subject(&welcome),
            "Te damos la bienvenida a Zappy Health: tu bono ya está aquí"
        );
        assert!(welcome.contains("$10.00 de crédito en tu cuenta"));
        let wording: String = {
            use diesel::prelude::*;
            use referral_store::schema::referrals;
            let mut conn = app.db.conn();
            referrals::table
                .select(referrals::referee_share_consent_wording)
                .first::<Option<String>>(&mut **conn)
                .unwrap()
                .unwrap()
        };
        assert_eq!(
            wording,
            referral_domain::disclosure::SHARE_CONSENT_WORDING_ES
        );

        // Bob's first consultation earns Alice her reward: the notice is in the referral's
        // language and still says nothing of Bob or his care.
        let converted = app.post(
            Some(&app.service()),
            "/api/events/consultations",
            json!({"patient_id": registered["patient_id"], "consultation_id": uuid::Uuid::new_v4()}),
        );
        assert_eq!(converted.status(), 200, "{:?}", converted.text());
        app.release_rewards();
        deliver(app, Utc::now());
        let notice = emails_to(app, "alice@example.com").pop().unwrap();
        assert_eq!(
            subject(&notice),
            "Ganaste una recompensa del programa de referidos"
        );
        assert!(notice.contains("$25.00 de crédito en tu cuenta"));
        let lower = notice.to_lowercase();
        for word in ["bob", "consulta", "cita", "pedido"] {
            assert!(!lower.contains(word), "{word} in {notice}");
        }

        // An English referral stays English throughout.
        let english = app.refers(&app.patient("carol"), "dan@example.org");
        assert_eq!(english["locale"], "en");
        let response = app.post(
            None,
            &format!(
                "/api/referrals/{}/register",
                english["referral_code"].as_str().unwrap()
            ),
            json!({"email": "dan@example.org"}),
        );
        assert_eq!(response.status(), 202);
        deliver(app, Utc::now());
        let confirmation = emails_to(app, "dan@example.org").pop().unwrap();
        assert_eq!(
            subject(&confirmation),
            "Confirm your email to join Zappy Health"
        );
        assert!(!confirmation.contains("lang=es") && !confirmation.contains("lang=\"es\""));
    }
);
