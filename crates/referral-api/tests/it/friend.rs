//! What an invited friend meets (#31, items 2 and 3), over real HTTP on both databases:
//! pages and errors in the friend's language and in words for people, who invited them,
//! the terms, the check-email page with its resend, the way to a first consultation, the
//! "too many requests" page and the unsubscribe pages.

use crate::locale::emails_to;
use crate::pages::Visitor;
use crate::support::*;
use referral_store::testing::TestDb;
use serde_json::{json, Value};

const TERMS: &str = "https://zappy.example.com/referral-terms";
const PLATFORM_BOOKING: &str = "https://zappy.example.com/book";

fn friend_site(db: TestDb) -> TestApp {
    spawn_site(db, |args, base| {
        args.public_base_url = base.to_owned();
        args.terms_url = Some(TERMS.parse().unwrap());
        args.booking_url = Some(PLATFORM_BOOKING.parse().unwrap());
    })
}

fn invites(app: &TestApp, referrer: &Actor, email: &str, locale: &str) -> String {
    let created = app.post(
        Some(referrer),
        "/api/patients/me/referrals",
        json!({"referee_email": email, "referral_source": "email", "locale": locale}),
    );
    assert_eq!(created.status(), 201, "{:?}", created.text());
    let referral: Value = created.json().unwrap();
    referral["referral_code"].as_str().unwrap().to_owned()
}

both_databases!(
    the_friends_pages_speak_the_friends_language_to_people,
    fixture = friend_site,
    |app: &TestApp| {
        app.program(
            json!({"booking_url": "https://zappy.example.com/book/friends",
                           "referee_reward_type": "credit", "referee_reward_value": "10.00"}),
        );
        let alice = app.patient("alice");
        let code = invites(app, &alice, "bob@example.org", "es");
        let visitor = Visitor::new(app);

        // Who invited them (the invitation named her), and the terms.
        let page = visitor.get(&format!("/register?ref={code}&lang=es"));
        assert_eq!(page.status, 200);
        assert!(page.body.contains("alice te invitó."), "{}", page.body);
        assert!(page.body.contains(&format!("href=\"{TERMS}\"")));
        assert!(page.body.contains("Términos del programa de referidos"));

        // Every problem of the form at once, in Spanish, in words that say what to enter;
        // the summary's links lead to the fields.
        let refused = visitor.post(
            "/register",
            &[
                ("ref", &code),
                ("email", "bob-at-example"),
                ("phone", "555-01"),
                ("lang", "es"),
            ],
        );
        assert_eq!(refused.status, 422);
        for words in [
            "Revisa el formulario",
            "Corrige lo que se indica abajo",
            "<a href=\"#email\">Correo electrónico</a>",
            "Escribe tu correo electrónico, por ejemplo nombre@ejemplo.com",
            "<a href=\"#phone\">Teléfono (opcional)</a>",
            "Escribe un número de celular de EE. UU., por ejemplo (415) 555-0199",
            "id=\"email-error\"",
            "id=\"phone-error\"",
        ] {
            assert!(refused.body.contains(words), "{words}: {}", refused.body);
        }
        for jargon in [
            "E.164",
            ">email<",
            ">phone<",
            "some fields",
            "must be",
            "Please check",
        ] {
            assert!(!refused.body.contains(jargon), "{jargon}: {}", refused.body);
        }
        assert!(app
            .outbox_to("bob@example.org", "registration_verification")
            .is_empty());

        // Sent: the masked address and a resend; a resend within minutes sends nothing more.
        let sent = visitor.post(
            "/register",
            &[
                ("ref", &code),
                ("email", "bob@example.org"),
                ("phone", "(415) 555-0199"),
                ("lang", "es"),
            ],
        );
        assert_eq!(sent.status, 202, "{}", sent.body);
        assert!(
            sent.body.contains("Enviamos el enlace a b***@example.org."),
            "{}",
            sent.body
        );
        assert!(sent.body.contains("Enviar el enlace de nuevo"));
        assert!(
            !sent.body.contains("bob@example.org\">")
                || sent
                    .body
                    .contains("name=\"email\" value=\"bob@example.org\"")
        );
        let again = visitor.post(
            "/register",
            &[
                ("ref", &code),
                ("email", "bob@example.org"),
                ("phone", "(415) 555-0199"),
                ("lang", "es"),
            ],
        );
        assert_eq!(again.status, 202);
        assert_eq!(
            app.outbox_to("bob@example.org", "registration_verification")
                .len(),
            1
        );

        // Joined: the bonus in words with how to use it, and the program's booking page.
        let token = app.verification_token("bob@example.org").unwrap();
        let confirm = visitor.get(&format!("/register/verify?token={token}&lang=es"));
        assert_eq!(confirm.status, 200);
        let joined = visitor.post("/register/verify", &[("token", &token), ("lang", "es")]);
        assert_eq!(joined.status, 201, "{}", joined.body);
        assert!(
            joined.body.contains("$10.00 de crédito en tu cuenta"),
            "{}",
            joined.body
        );
        assert!(joined.body.contains("Se aplica a tu cuenta"));
        assert!(joined
            .body
            .contains("href=\"https://zappy.example.com/book/friends\""));
        assert!(joined.body.contains("Reserva tu primera consulta"));

        // The welcome email leads to the same place, with a button, in Spanish.
        crate::delivery::deliver(app, chrono::Utc::now());
        let welcome = emails_to(app, "bob@example.org")
            .into_iter()
            .find(|e| e.contains("X-Idempotency-Key: welcome-bonus:"))
            .expect("a welcome email");
        assert!(
            welcome.contains("<a href=\"https://zappy.example.com/book/friends\" style="),
            "{welcome}"
        );
        assert!(welcome.contains("Reserva tu primera consulta"));
    }
);

both_databases!(
    a_shared_link_names_nobody_and_joining_leads_to_the_platforms_booking_page,
    fixture = friend_site,
    |app: &TestApp| {
        app.program(json!({}));
        let alice = app.patient("alice");
        let link: Value = app
            .get(Some(&alice), "/api/patients/me/share-link")
            .json()
            .unwrap();
        let code = link["referral_code"].as_str().unwrap().to_owned();
        let visitor = Visitor::new(app);
        let page = visitor.get(&format!("/register?ref={code}"));
        assert_eq!(page.status, 200);
        // A link anyone may hold: being a patient here is Alice's own health information.
        assert!(!page.body.contains("alice"), "{}", page.body);
        assert!(!page.body.contains("class=\"inviter\""));
        // A referral Alice made to share herself names nobody either.
        let own = app.post(
            Some(&alice),
            "/api/patients/me/referrals",
            json!({"referee_email": "carol@example.org", "referral_source": "direct_link"}),
        );
        assert_eq!(own.status(), 201);
        let own: Value = own.json().unwrap();
        let page = visitor.get(&format!(
            "/register?ref={}",
            own["referral_code"].as_str().unwrap()
        ));
        assert!(!page.body.contains("alice"), "{}", page.body);

        let registration = app.registers(&code, "dan@example.org");
        assert_eq!(registration["booking_url"], PLATFORM_BOOKING);
    }
);

both_databases!(
    without_a_booking_page_the_welcome_says_what_to_do_in_words,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        app.program(json!({}));
        let alice = app.patient("alice");
        let code = invites(app, &alice, "bob@example.org", "en");
        let visitor = Visitor::new(app);
        let page = visitor.get(&format!("/register?ref={code}"));
        assert!(page
            .body
            .contains("Ask support for the referral program terms."));
        let sent = visitor.post("/register", &[("ref", &code), ("email", "bob@example.org")]);
        assert_eq!(sent.status, 202);
        let token = app.verification_token("bob@example.org").unwrap();
        let joined = visitor.post("/register/verify", &[("token", &token)]);
        assert_eq!(joined.status, 201, "{}", joined.body);
        assert!(joined
            .body
            .contains("sign in to Zappy Health and choose Book a visit"));
        assert!(!joined.body.contains("id=\"book\" href"));

        // A program's booking page must be https.
        let refused = app.post(
            Some(&app.admin()),
            "/api/referral-programs",
            json!({"name": "Plain", "booking_url": "http://book.example.com"}),
        );
        let problem = assert_problem(refused, 422, "validation_failed");
        assert_eq!(problem["errors"][0]["field"], "booking_url", "{problem}");
    }
);

both_databases!(
    too_many_requests_is_a_page_for_a_browser_and_a_problem_for_a_program,
    fixture = |db| spawn_with(db, |args| args.public_rate_limit = 2),
    |app: &TestApp| {
        let get = |accept: &str| {
            app.client
                .get(app.url("/r/ABCDEF-GHJKMN-PQRSTV?lang=es"))
                .header("Accept", accept)
                .send()
                .unwrap()
        };
        let mut last = None;
        for _ in 0..4 {
            last = Some(get("text/html,application/xhtml+xml"));
        }
        let page = last.unwrap();
        assert_eq!(page.status(), 429);
        assert!(page.headers().contains_key("retry-after"));
        assert!(page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let body = page.text().unwrap();
        assert!(body.contains("<html lang=\"es\">"), "{body}");
        assert!(
            body.contains("Demasiados intentos") && body.contains("segundos"),
            "{body}"
        );
        assert_problem(get("application/json"), 429, "rate_limited");
    }
);

both_databases!(
    the_unsubscribe_pages_speak_the_messages_language,
    fixture = crate::support::spawn,
    |app: &TestApp| {
        app.program(json!({}));
        let alice = app.patient("alice");
        invites(app, &alice, "bob@example.org", "es");
        crate::delivery::deliver(app, chrono::Utc::now());
        let email = emails_to(app, "bob@example.org").pop().unwrap();
        let link = email
            .split_whitespace()
            .find_map(|w| {
                let at = w.find("/api/unsubscribe/")?;
                let link = &w[at..];
                Some(link.split(['"', '>', '<']).next().unwrap().to_owned())
            })
            .unwrap();
        assert!(link.ends_with("?lang=es"), "{link}");
        let page = app.client.get(app.url(&link)).send().unwrap();
        assert_eq!(page.status(), 200);
        let body = page.text().unwrap();
        assert!(
            body.contains("<html lang=\"es\">") && body.contains("Cancelar suscripción"),
            "{body}"
        );
        assert!(body.contains("/static/app.css"), "styled like the site");
        let done = app
            .client
            .post(app.url(&link))
            .header("Accept", "text/html")
            .form(&[("List-Unsubscribe", "One-Click")])
            .send()
            .unwrap();
        assert_eq!(done.status(), 200);
        assert!(done.text().unwrap().contains("Cancelaste tu suscripción"));
    }
);
