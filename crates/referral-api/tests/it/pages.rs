//! The portals' pages over real HTTP, on SQLite and PostgreSQL: who may see what, the
//! session and CSRF cookies, form posts refused without their token, the registration
//! page's messages, the API's validation messages on forms, and labelled inputs.

use crate::support::{spawn_site, token, TestApp};
use referral_api::auth::Role;
use referral_store::testing::TestDb;
use reqwest::blocking::RequestBuilder;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::BTreeMap;

/// A browser-like visitor: keeps the cookies it is given and sends them back.
pub(crate) struct Visitor<'a> {
    app: &'a TestApp,
    cookies: RefCell<BTreeMap<String, String>>,
}

pub(crate) struct Page {
    pub(crate) status: u16,
    pub(crate) location: Option<String>,
    pub(crate) content_type: Option<String>,
    pub(crate) disposition: Option<String>,
    set_cookies: Vec<String>,
    pub(crate) body: String,
}

impl<'a> Visitor<'a> {
    pub(crate) fn new(app: &'a TestApp) -> Self {
        let visitor = Visitor {
            app,
            cookies: RefCell::new(BTreeMap::new()),
        };
        // The first page of a visit hands out the CSRF cookie.
        assert_eq!(visitor.get("/signin").status, 200);
        visitor
    }

    fn send(&self, request: RequestBuilder) -> Page {
        let cookie_header = self
            .cookies
            .borrow()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let response = request
            .header("cookie", cookie_header)
            .send()
            .expect("the page answers");
        let set_cookies: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        for c in &set_cookies {
            let pair = c.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || c.contains("Max-Age=0") {
                self.cookies.borrow_mut().remove(name);
            } else {
                self.cookies
                    .borrow_mut()
                    .insert(name.to_owned(), value.to_owned());
            }
        }
        Page {
            status: response.status().as_u16(),
            location: response
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_owned()),
            content_type: response
                .headers()
                .get("content-type")
                .map(|l| l.to_str().unwrap().to_owned()),
            disposition: response
                .headers()
                .get("content-disposition")
                .map(|l| l.to_str().unwrap().to_owned()),
            set_cookies,
            body: response.text().unwrap(),
        }
    }

    pub(crate) fn get(&self, path: &str) -> Page {
        self.send(self.app.client.get(self.app.url(path)))
    }

    /// A page asked for by a browser set to `accept_language`.
    pub(crate) fn get_in(&self, path: &str, accept_language: &str) -> Page {
        self.send(
            self.app
                .client
                .get(self.app.url(path))
                .header("accept-language", accept_language),
        )
    }

    fn csrf(&self) -> String {
        self.cookies.borrow()["referral_csrf"].clone()
    }

    /// Posts `fields` with the visit's CSRF token.
    pub(crate) fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.csrf();
        let mut form: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        self.send(self.app.client.post(self.app.url(path)).form(&form))
    }

    pub(crate) fn sign_in_as(&self, user: &str) -> Page {
        let page = self.post("/signin", &[("user", user)]);
        assert_eq!(page.status, 303, "{}", page.body);
        page
    }
}

/// The service with demo sign-in, its share links pointing at itself.
fn site(db: TestDb) -> TestApp {
    spawn_site(db, |args, base| {
        args.demo_sign_in = true;
        args.public_base_url = base.to_owned();
    })
}

fn referrals_of(app: &TestApp, token: &str) -> Value {
    app.client
        .get(app.url("/api/patients/me/referrals"))
        .bearer_auth(token)
        .send()
        .unwrap()
        .json()
        .unwrap()
}

both_databases!(
    anonymous_visitors_are_sent_to_sign_in,
    fixture = site,
    |app| {
        let visitor = Visitor::new(app);
        for path in [
            "/patient/referrals",
            "/patient/referrals/rewards",
            "/portal/referrals",
            "/portal/referrals/analytics?interval=week",
        ] {
            let page = visitor.get(path);
            assert_eq!(page.status, 303, "{path}");
            let location = page.location.unwrap();
            assert!(location.starts_with("/signin?next=/"), "{location}");
        }
        assert_eq!(
            visitor.get("/").location.as_deref(),
            Some("/signin"),
            "the start page sends a visitor to sign in"
        );
    }
);

both_databases!(each_role_sees_only_its_portal, fixture = site, |app| {
    let patient = Visitor::new(app);
    let landed = patient.sign_in_as("patient");
    assert_eq!(landed.location.as_deref(), Some("/patient/referrals"));
    assert_eq!(patient.get("/patient/referrals").status, 200);
    let refused = patient.get("/portal/referrals");
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("Not allowed"));
    assert_eq!(patient.get("/portal/referrals/programs/new").status, 403);

    let admin = Visitor::new(app);
    assert_eq!(
        admin.sign_in_as("admin").location.as_deref(),
        Some("/portal/referrals")
    );
    for path in [
        "/portal/referrals",
        "/portal/referrals/programs",
        "/portal/referrals/programs/new",
        "/portal/referrals/analytics",
        "/portal/referrals/rewards",
    ] {
        assert_eq!(admin.get(path).status, 200, "{path}");
    }
    assert_eq!(admin.get("/patient/referrals").status, 403);

    // Signing in comes back to the page asked for.
    let returning = Visitor::new(app);
    let page = returning.post(
        "/signin",
        &[("user", "admin"), ("next", "/portal/referrals/analytics")],
    );
    assert_eq!(
        page.location.as_deref(),
        Some("/portal/referrals/analytics")
    );
    // ... but never to another site.
    for attack in [
        "//evil.example/",
        "/\t/evil.example",
        "/%09/evil.example",
        "/\n/evil.example",
        "/%2F%2Fevil.example",
        "/\\evil.example",
        "/%5C%5Cevil.example",
        "https://evil.example/",
    ] {
        let page = returning.post("/signin", &[("user", "admin"), ("next", attack)]);
        assert_eq!(
            page.location.as_deref(),
            Some("/portal/referrals"),
            "{attack:?}"
        );
    }

    // Signing out ends the session.
    let out = admin.post("/signout", &[]);
    assert_eq!(out.status, 303);
    assert_eq!(admin.get("/portal/referrals").status, 303);
});

both_databases!(
    cookies_are_secure_httponly_and_samesite,
    fixture = site,
    |app| {
        let visitor = Visitor {
            app,
            cookies: RefCell::new(BTreeMap::new()),
        };
        let first = visitor.get("/signin");
        let csrf = first
            .set_cookies
            .iter()
            .find(|c| c.starts_with("referral_csrf="))
            .expect("the first page sets the CSRF cookie");
        for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
            assert!(csrf.contains(attribute), "{csrf} lacks {attribute}");
        }
        let signed_in = visitor.sign_in_as("patient");
        let session = signed_in
            .set_cookies
            .iter()
            .find(|c| c.starts_with("referral_session="))
            .expect("signing in sets the session cookie");
        for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age="] {
            assert!(session.contains(attribute), "{session} lacks {attribute}");
        }
        // The cookie holds the same JWT as the API's bearer token.
        let jwt = visitor.cookies.borrow()["referral_session"].clone();
        let mine = app
            .client
            .get(app.url("/api/patients/me/rewards"))
            .bearer_auth(&jwt)
            .send()
            .unwrap();
        assert_eq!(mine.status(), 200);
    }
);

both_databases!(
    form_posts_need_the_visits_csrf_token,
    fixture = site,
    |app| {
        app.program(json!({}));
        let visitor = Visitor::new(app);
        visitor.sign_in_as("patient");
        let jwt = visitor.cookies.borrow()["referral_session"].clone();
        let fields = [
            ("referee_email", "friend@example.com"),
            ("referee_name", "Fran Friend"),
            ("share_method", "link"),
        ];

        // No token, another token, or a post from another site: refused, nothing created.
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        let bare = visitor.send(app.client.post(app.url("/patient/referrals")).form(&form));
        assert_eq!(bare.status, 403);
        assert!(bare.body.contains("The form expired"));
        form.push(("csrf", "0123456789abcdef0123456789abcdef"));
        let forged = visitor.send(app.client.post(app.url("/patient/referrals")).form(&form));
        assert_eq!(forged.status, 403);
        let csrf = visitor.csrf();
        let mut good: Vec<(&str, &str)> = fields.to_vec();
        good.push(("csrf", csrf.as_str()));
        let cross_site = visitor.send(
            app.client
                .post(app.url("/patient/referrals"))
                .header("origin", "http://evil.example")
                .form(&good),
        );
        assert_eq!(cross_site.status, 403);
        assert_eq!(referrals_of(app, &jwt)["total"], 0);

        // With it: created, and the page it leads to names the referral by id only.
        let created = visitor.post("/patient/referrals", &fields);
        assert_eq!(created.status, 303, "{}", created.body);
        let location = created.location.unwrap();
        assert!(location.starts_with("/patient/referrals/"));
        assert!(
            !location.contains('@') && !location.contains("Fran"),
            "no PHI in URLs: {location}"
        );
        let list = referrals_of(app, &jwt);
        assert_eq!(list["total"], 1);
        let page = visitor.get(&location);
        assert_eq!(page.status, 200);
        let code = list["items"][0]["referral_code"].as_str().unwrap();
        assert!(
            page.body.contains(&format!("/r/{code}")),
            "the page shows the share link"
        );
        assert!(page.body.contains("data-copy=\"share-url\""));
    }
);

both_databases!(
    the_referral_form_shows_the_apis_messages,
    fixture = site,
    |app| {
        app.program(json!({}));
        let visitor = Visitor::new(app);
        visitor.sign_in_as("patient");
        let jwt = visitor.cookies.borrow()["referral_session"].clone();
        let page = visitor.post(
            "/patient/referrals?from=dashboard",
            &[
                ("referee_email", "not-an-email"),
                ("share_method", "sms"),
                ("referee_phone", "+15551234567"),
            ],
        );
        assert_eq!(page.status, 422);
        assert!(page.body.contains("Please check the form"));
        assert!(page.body.contains("id=\"referee_email-error\""));
        assert!(page.body.contains("id=\"sms_consent-error\""));
        // Screen readers hear which field is wrong and why.
        assert!(page
            .body
            .contains("aria-invalid=\"true\" aria-describedby=\"referee_email-error\""));
        assert!(!page
            .body
            .contains("aria-describedby=\"referee_name-error\""));
        // What was typed is kept.
        assert!(page.body.contains("value=\"not-an-email\""));
        assert_eq!(referrals_of(app, &jwt)["total"], 0);

        // Referring yourself is the domain's refusal, shown as such.
        let page = visitor.post(
            "/patient/referrals",
            &[
                ("referee_email", referral_store::demo::DEMO_PATIENT_EMAIL),
                ("share_method", "link"),
            ],
        );
        assert_eq!(page.status, 422);
        assert!(page.body.contains("Please check the form"));
        assert_eq!(referrals_of(app, &jwt)["total"], 0);
    }
);

both_databases!(demo_users_only_when_configured, fixture = site, |app| {
    // `site` turns demo sign-in on; a service with a real secret and no flag does not.
    let _ = app;
    let plain = crate::support::spawn(TestDb::sqlite());
    let visitor = Visitor::new(&plain);
    assert!(!visitor.get("/signin").body.contains("Demo users"));
    let page = visitor.post("/signin", &[("user", "admin")]);
    assert_eq!(page.status, 404);
    assert!(!visitor.cookies.borrow().contains_key("referral_session"));
    let page = visitor.post("/signin/demo-data", &[]);
    assert_eq!(page.status, 404);
});

both_databases!(platform_tokens_sign_in, fixture = site, |app| {
    let visitor = Visitor::new(app);
    let bad = visitor.post("/signin", &[("token", "not.a.token")]);
    assert_eq!(bad.status, 401);
    assert!(bad.body.contains("not valid or has expired"));
    let service = token(Role::Service, uuid::Uuid::new_v4(), None, 600);
    let refused = visitor.post("/signin", &[("token", &service)]);
    assert_eq!(refused.status, 403);
    let admin = token(Role::ProviderAdmin, uuid::Uuid::new_v4(), None, 600);
    let page = visitor.post("/signin", &[("token", &admin)]);
    assert_eq!(page.location.as_deref(), Some("/portal/referrals"));
    assert_eq!(visitor.get("/portal/referrals/analytics").status, 200);
    // A provider admin may not approve rewards: the page says so.
    assert_eq!(visitor.get("/portal/referrals/rewards").status, 403);
});

both_databases!(
    the_registration_page_explains_every_code,
    fixture = site,
    |app| {
        app.program(json!({}));
        let referrer = app.patient("ann");
        let fresh = app.refers(&referrer, "fresh@example.com");
        let used = app.refers(&referrer, "used@example.com");
        let expired = app.refers(&referrer, "late@example.com");
        app.registers(used["referral_code"].as_str().unwrap(), "used@example.com");
        let bulk = app.post(
            Some(&app.admin()),
            "/api/referrals/bulk-operations",
            json!({"operation": "expire", "referral_ids": [expired["id"]]}),
        );
        assert_eq!(bulk.status(), 200);

        let visitor = Visitor::new(app);
        let code = |r: &Value| r["referral_code"].as_str().unwrap().to_owned();
        let page = visitor.get(&format!("/register?ref={}", code(&fresh)));
        assert_eq!(page.status, 200);
        assert!(page.body.contains("You&#x27;ve been referred by a friend!"));
        // The friend's notice (#30): plain words about the referrer's reward.
        assert!(page
            .body
            .contains("may receive a reward once you have your first visit or order"));
        assert!(
            page.body.contains("20% off"),
            "the referee's bonus is shown"
        );
        assert!(
            !page.body.contains("ann@example.com"),
            "no PHI of the referrer"
        );

        let page = visitor.get("/register?ref=NOPE-NOPE-NOPE");
        assert_eq!(page.status, 404);
        assert!(page.body.contains("recognise this referral code"));
        let page = visitor.get(&format!("/register?ref={}", code(&expired)));
        assert_eq!(page.status, 410);
        assert!(page.body.contains("This invitation has expired"));
        // A used code reads as an open one: whoever holds it may be the referrer (#30).
        let page = visitor.get(&format!("/register?ref={}", code(&used)));
        assert_eq!(page.status, 200);
        assert!(!page.body.contains("already been used"));

        // A bad email: the message, and the code still unused.
        let fresh_code = code(&fresh);
        let page = visitor.post(
            "/register",
            &[("ref", &fresh_code), ("email", "nope"), ("name", "Fran")],
        );
        assert_eq!(page.status, 422);
        assert!(page.body.contains("id=\"email-error\""));
        let lookup: Value = app
            .get(None, &format!("/api/referrals/{fresh_code}"))
            .json()
            .unwrap();
        assert_eq!(lookup["status"], "pending");

        // Registering: check your email; the link shows a button (opening it changes
        // nothing); the button registers and shows the welcome bonus; the link works once.
        let page = visitor.post(
            "/register",
            &[
                ("ref", &fresh_code),
                ("email", "fresh@example.com"),
                ("name", "Fran"),
            ],
        );
        assert_eq!(page.status, 202, "{}", page.body);
        assert!(page.body.contains("Check your email"));
        let token = app.verification_token("fresh@example.com").unwrap();
        let link = format!("/register/verify?token={token}");
        for _ in 0..2 {
            let page = visitor.get(&link);
            assert_eq!(page.status, 200);
            assert!(page.body.contains("id=\"confirm-registration\""));
        }
        let page = visitor.post("/register/verify", &[("token", &token)]);
        assert_eq!(page.status, 201, "{}", page.body);
        assert!(page.body.contains("20% off"));
        let page = visitor.post("/register/verify", &[("token", &token)]);
        assert_eq!(page.status, 404);
        assert!(page.body.contains("This link is not valid"));
        let page = visitor.post(
            "/register",
            &[("ref", &fresh_code), ("email", "again@example.com")],
        );
        // Used now, but answered as an open code, and nothing is sent (#30).
        assert_eq!(page.status, 202);
        assert!(app.verification_token("again@example.com").is_none());
    }
);

both_databases!(
    the_program_form_shows_the_apis_messages,
    fixture = site,
    |app| {
        let admin = Visitor::new(app);
        admin.sign_in_as("admin");
        let fields = |name: &'static str, expiry: &'static str| {
            vec![
                ("name", name),
                ("program_type", "seasonal"),
                ("description", "Winter campaign"),
                ("referrer_reward_type", "credit"),
                ("referrer_reward_value", "30.00"),
                ("referee_reward_type", "discount"),
                ("referee_reward_value", "15"),
                ("max_referrals_per_patient", "5"),
                ("reward_threshold", "1"),
                ("expiry_days", expiry),
                ("reward_validity_days", "90"),
            ]
        };
        let refused = admin.post("/portal/referrals/programs", &fields("Winter", "soon"));
        assert_eq!(refused.status, 422);
        assert!(refused.body.contains("id=\"expiry_days-error\""));
        assert!(
            refused.body.contains(">Winter campaign</textarea>"),
            "kept as typed"
        );
        let refused = admin.post("/portal/referrals/programs", &fields("", "30"));
        assert_eq!(refused.status, 422);
        assert!(refused.body.contains("id=\"name-error\""));
        let programs: Value = app
            .get(Some(&app.admin()), "/api/referral-programs")
            .json()
            .unwrap();
        assert_eq!(programs["total"], 0, "nothing saved");

        let created = admin.post("/portal/referrals/programs", &fields("Winter", "30"));
        assert_eq!(created.status, 303, "{}", created.body);
        let location = created.location.unwrap();
        let page = admin.get(&location);
        assert!(page.body.contains("Program saved."));
        assert!(page.body.contains("$30.00 account credit"));
        let id = location
            .trim_start_matches("/portal/referrals/programs/")
            .split('?')
            .next()
            .unwrap()
            .to_owned();
        let edit = admin.get(&format!("/portal/referrals/programs/{id}/edit"));
        assert!(edit.body.contains("value=\"Winter\""));
        let mut paused = fields("Winter", "30");
        paused.push(("status", "paused"));
        let saved = admin.post(&format!("/portal/referrals/programs/{id}"), &paused);
        assert_eq!(saved.status, 303, "{}", saved.body);
        let program: Value = app
            .get(Some(&app.admin()), &format!("/api/referral-programs/{id}"))
            .json()
            .unwrap();
        assert_eq!(program["status"], "paused");
        assert_eq!(program["program_type"], "seasonal");
    }
);

/// The value of the input named `name` in `html`, unescaped as a browser reads it.
fn input_value(html: &str, name: &str) -> String {
    let start = html
        .find(&format!("name=\"{name}\""))
        .unwrap_or_else(|| panic!("no input {name}"));
    let tag_start = html[..start].rfind('<').unwrap();
    let tag_end = start + html[start..].find('>').unwrap();
    let tag = &html[tag_start..tag_end];
    let value = tag
        .split("value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    value
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x60;", "`")
        .replace("&#x3D;", "=")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

both_databases!(
    the_program_form_edits_targeting_and_keeps_the_variants,
    fixture = site,
    |app| {
        let program = app.program(json!({
            "target_conditions": ["weight_loss"],
            "target_demographics": {"min_age": 18, "states": ["CA"]},
            "variants": [
                {"name": "control", "weight": 1},
                {"name": "bigger", "weight": 1, "referrer_reward_value": "40"},
            ],
        }));
        let id = program["id"].as_str().unwrap();
        let admin = Visitor::new(app);
        admin.sign_in_as("admin");
        let edit = admin.get(&format!("/portal/referrals/programs/{id}/edit"));
        assert_eq!(edit.status, 200);
        assert_eq!(input_value(&edit.body, "target_conditions"), "weight_loss");
        assert_eq!(input_value(&edit.body, "min_age"), "18");
        assert_eq!(input_value(&edit.body, "states"), "CA");
        assert!(
            edit.body.contains("id=\"variants-kept\""),
            "says the variants are kept"
        );
        // The browser posts every field as shown, with the targeting changed.
        let variants = input_value(&edit.body, "variants");
        let fields = [
            ("name", "Friends and family"),
            ("program_type", "standard"),
            ("referrer_reward_type", "credit"),
            ("referrer_reward_value", "25.00"),
            ("referee_reward_type", "discount"),
            ("referee_reward_value", "20"),
            ("reward_threshold", "1"),
            ("expiry_days", "30"),
            ("reward_validity_days", "90"),
            ("target_conditions", "weight_loss, E11.9"),
            ("min_age", "21"),
            ("max_age", ""),
            ("states", "ca, ny"),
            ("excluded_states", "tx"),
            ("variants", variants.as_str()),
        ];
        let saved = admin.post(&format!("/portal/referrals/programs/{id}"), &fields);
        assert_eq!(saved.status, 303, "{}", saved.body);
        let after: Value = app
            .get(Some(&app.admin()), &format!("/api/referral-programs/{id}"))
            .json()
            .unwrap();
        assert_eq!(after["target_conditions"], json!(["weight_loss", "e11.9"]));
        assert_eq!(after["target_demographics"]["min_age"], 21);
        assert_eq!(after["target_demographics"]["states"], json!(["CA", "NY"]));
        assert_eq!(after["excluded_states"], json!(["TX"]));
        assert_eq!(
            after["variants"], program["variants"],
            "the experiment is kept"
        );
        // With a budget, the program's page shows the spend against it.
        let mut budgeted = fields.to_vec();
        budgeted.push(("budget_total", "100"));
        let saved = admin.post(&format!("/portal/referrals/programs/{id}"), &budgeted);
        assert_eq!(saved.status, 303, "{}", saved.body);
        let page = admin.get(&format!("/portal/referrals/programs/{id}"));
        assert!(
            page.body.contains("$0.00 of $100.00 spent"),
            "{}",
            page.body
        );
        // A bad state is shown on its field, nothing saved.
        let mut bad = fields.to_vec();
        bad[12] = ("states", "California");
        let refused = admin.post(&format!("/portal/referrals/programs/{id}"), &bad);
        assert_eq!(refused.status, 422);
        assert!(
            refused
                .body
                .contains("id=\"target_demographics_states-error\""),
            "{}",
            refused.body
        );
    }
);

/// Every visible input, select and textarea has a `<label for>`.
fn assert_labelled(path: &str, html: &str) {
    let mut rest = html;
    while let Some(start) = rest.find(['<']) {
        rest = &rest[start + 1..];
        let tag_end = rest.find('>').unwrap_or(rest.len());
        let tag = &rest[..tag_end];
        let is_control = ["input ", "select ", "textarea "]
            .iter()
            .any(|t| tag.starts_with(t));
        if is_control && !tag.contains("type=\"hidden\"") {
            let id = tag
                .split("id=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap_or_else(|| panic!("{path}: a control without an id: <{tag}>"));
            assert!(
                html.contains(&format!("for=\"{id}\"")),
                "{path}: no label for #{id}"
            );
        }
    }
}

both_databases!(every_input_is_labelled, fixture = site, |app| {
    app.program(json!({}));
    let patient = Visitor::new(app);
    assert_labelled("/signin", &patient.get("/signin").body);
    patient.sign_in_as("patient");
    let created = patient.post(
        "/patient/referrals",
        &[("referee_email", "f@example.com"), ("share_method", "link")],
    );
    let mut paths = vec![
        "/patient/referrals".to_owned(),
        "/patient/referrals/new".to_owned(),
        "/patient/referrals/rewards".to_owned(),
    ];
    paths.push(created.location.unwrap());
    for path in &paths {
        let page = patient.get(path);
        assert_eq!(page.status, 200, "{path}");
        assert_labelled(path, &page.body);
    }
    let admin = Visitor::new(app);
    admin.sign_in_as("admin");
    for path in [
        "/portal/referrals",
        "/portal/referrals/programs",
        "/portal/referrals/programs/new",
        "/portal/referrals/analytics",
        "/portal/referrals/rewards",
        "/portal/referrals/exports",
        "/portal/webhooks/new",
    ] {
        let page = admin.get(path);
        assert_eq!(page.status, 200, "{path}");
        assert_labelled(path, &page.body);
    }
});

both_databases!(
    another_patients_referral_is_not_found,
    fixture = site,
    |app| {
        app.program(json!({}));
        let other = app.patient("olga");
        let theirs = app.refers(&other, "someone@example.com");
        let visitor = Visitor::new(app);
        visitor.sign_in_as("patient");
        for path in [
            format!("/patient/referrals/{}", theirs["id"].as_str().unwrap()),
            "/patient/referrals/not-a-uuid".to_owned(),
        ] {
            let page = visitor.get(&path);
            assert_eq!(page.status, 404, "{path}");
            assert!(page.body.contains("We could not find that page"));
            assert!(!page.body.contains("someone@example.com"));
        }
    }
);

both_databases!(
    failed_sign_ins_are_audited_without_the_token,
    fixture = site,
    |app| {
        let visitor = Visitor::new(app);
        let forged = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.forged-signature";
        let page = visitor.post("/signin", &[("token", forged)]);
        assert_eq!(page.status, 401);
        let service = crate::support::token(
            referral_api::auth::Role::Service,
            uuid::Uuid::new_v4(),
            None,
            600,
        );
        assert_eq!(
            visitor
                .post("/signin", &[("token", service.as_str())])
                .status,
            403
        );
        let admin = app.admin();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let rows = loop {
            let rows: Value = app
                .get(
                    Some(&admin),
                    "/api/referrals/audit-trail?action=auth.signin",
                )
                .json()
                .unwrap();
            if rows["items"].as_array().unwrap().len() >= 2 || std::time::Instant::now() > deadline
            {
                break rows;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let outcomes: Vec<_> = rows["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["outcome"].as_str().unwrap().to_owned())
            .collect();
        assert!(
            outcomes.contains(&"unauthenticated".to_owned()),
            "{outcomes:?}"
        );
        assert!(outcomes.contains(&"forbidden".to_owned()), "{outcomes:?}");
        assert!(!rows.to_string().contains("forged-signature"));
    }
);

both_databases!(
    the_review_page_explains_signals_and_decides_one_or_many,
    fixture = site,
    |app| {
        app.program(json!({}));
        let alice = app.patient("alice");
        let service = app.service();
        // Two friends register with another address than the one invited.
        let flagged: Vec<Value> = ["bob", "carol"]
            .iter()
            .map(|friend| {
                let referral = app.refers(&alice, &format!("{friend}@example.org"));
                let registered = app.registers(
                    referral["referral_code"].as_str().unwrap(),
                    &format!("{friend}.other@example.org"),
                );
                let converted: Value = app
                    .post(
                        Some(&service),
                        "/api/events/consultations",
                        json!({"patient_id": registered["patient_id"], "consultation_id": uuid::Uuid::new_v4()}),
                    )
                    .json()
                    .unwrap();
                converted["referrer_reward"]["id"].clone()
            })
            .collect();
        let admin = Visitor::new(app);
        admin.sign_in_as("admin");
        let page = admin.get("/portal/referrals/reviews");
        assert_eq!(page.status, 200);
        assert!(
            page.body.contains("Waiting for review (2 referrals)"),
            "{}",
            page.body
        );
        assert!(page.body.contains("registered with a different address"));
        assert!(page.body.contains("Approve selected"));
        // One row's own button rejects it.
        let bob = flagged[0].as_str().unwrap();
        let done = admin.post(
            "/portal/referrals/reviews",
            &[
                ("reason", "Could not confirm"),
                ("decision", &format!("reject:{bob}")),
            ],
        );
        assert_eq!(done.status, 303, "{}", done.body);
        assert_eq!(
            done.location.as_deref(),
            Some("/portal/referrals/reviews?done=rejected&n=1")
        );
        // The ticked rest are approved together.
        let queue: Value = app
            .get(Some(&app.admin()), "/api/reward-reviews")
            .json()
            .unwrap();
        let rest: Vec<String> = queue["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["reward"]["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(rest.len(), 3);
        let mut fields: Vec<(&str, &str)> =
            vec![("reason", "Checked by phone"), ("decision", "approve")];
        fields.extend(rest.iter().map(|id| ("reward_id", id.as_str())));
        let done = admin.post("/portal/referrals/reviews", &fields);
        assert_eq!(
            done.location.as_deref(),
            Some("/portal/referrals/reviews?done=approved&n=3")
        );
        let page = admin.get("/portal/referrals/reviews?done=approved&n=3");
        assert!(page.body.contains("3 reward(s) approved."));
        assert!(page.body.contains("No rewards are waiting for review."));
        // Without a reason nothing is decided; without the form's token nothing either.
        let refused = admin.post(
            "/portal/referrals/reviews",
            &[("reason", ""), ("decision", "approve"), ("reward_id", bob)],
        );
        assert_eq!(refused.status, 422, "{}", refused.body);
        let forged = app
            .client
            .post(app.url("/portal/referrals/reviews"))
            .form(&[("decision", "approve"), ("reason", "x"), ("reward_id", bob)])
            .send()
            .unwrap();
        assert!(!forged.status().is_success(), "{}", forged.status());
        let bob_reward: Value = app
            .get(Some(&alice), "/api/patients/me/rewards")
            .json()
            .unwrap();
        // Rejected before its release: withdrawn unseen, the referrer never learns of it.
        assert!(bob_reward["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["id"] != flagged[0]));
        // A patient may not see the page.
        let patient = Visitor::new(app);
        patient.sign_in_as("patient");
        assert_eq!(patient.get("/portal/referrals/reviews").status, 403);
    }
);

both_databases!(
    the_dashboard_shares_the_personal_link_from_the_patients_own_device,
    fixture = site,
    |app| {
        app.program(json!({}));
        let patient = Visitor::new(app);
        patient.sign_in_as("patient");
        let page = patient.get("/patient/referrals");
        assert_eq!(page.status, 200);
        assert!(page.body.contains("Your personal link"), "{}", page.body);
        // (Attribute values are HTML-escaped: `=` and `&` arrive as entities.)
        for prefilled in [
            "href=\"sms:?body",
            "href=\"mailto:?subject",
            "href=\"https://wa.me/?text",
        ] {
            let at = page
                .body
                .find(prefilled)
                .unwrap_or_else(|| panic!("{prefilled}"));
            let link = &page.body[at..at + 400.min(page.body.len() - at)];
            assert!(
                link.contains("I%20may%20get%20a%20reward%20if%20you%20join."),
                "{link}"
            );
        }
        assert!(page
            .body
            .contains("data-share-text=\"Join me on Zappy Health:"));
        let qr = page
            .body
            .split("<img src=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned();
        assert!(qr.ends_with("/qr.svg"), "{qr}");
        assert_eq!(patient.get(&qr).status, 200);
    }
);

both_databases!(
    the_webhooks_page_lists_endpoints_and_deliveries_and_redelivers,
    fixture = site,
    |app| {
        let created: Value = app
            .post(
                Some(&app.admin()),
                "/api/webhooks",
                json!({"url": "https://hooks.example.com/referrals", "events": ["referral.created"]}),
            )
            .json()
            .unwrap();
        app.program(json!({}));
        app.refers(&app.patient("alice"), "bob@example.org");
        let admin = Visitor::new(app);
        admin.sign_in_as("admin");
        let page = admin.get("/portal/webhooks");
        assert_eq!(page.status, 200);
        assert!(
            page.body.contains("https://hooks.example.com/referrals"),
            "{}",
            page.body
        );
        assert!(page.body.contains("referral.created"));
        assert!(
            !page.body.contains("whsec_"),
            "the secret is never shown again"
        );
        let deliveries: Value = app
            .get(
                Some(&app.admin()),
                &format!(
                    "/api/webhooks/{}/deliveries",
                    created["id"].as_str().unwrap()
                ),
            )
            .json()
            .unwrap();
        let delivery = deliveries["items"][0]["id"].as_str().unwrap();
        let action = format!(
            "/portal/webhooks/{}/deliveries/{delivery}/redeliver",
            created["id"].as_str().unwrap()
        );
        assert!(page.body.contains(&action));
        let done = admin.post(&action, &[]);
        assert_eq!(
            done.location.as_deref(),
            Some("/portal/webhooks?done=redelivered")
        );
        let patient = Visitor::new(app);
        patient.sign_in_as("patient");
        assert_eq!(patient.get("/portal/webhooks").status, 403);
    }
);

both_databases!(
    the_referral_form_sends_the_invitation_in_the_chosen_language,
    fixture = site,
    |app| {
        app.program(json!({}));
        let visitor = Visitor::new(app);
        visitor.sign_in_as("patient");
        let form = visitor.get("/patient/referrals/new");
        assert!(form.body.contains("<select id=\"locale\" name=\"locale\""));
        assert!(form.body.contains("Español"));
        let created = visitor.post(
            "/patient/referrals",
            &[
                ("referee_email", "amiga@example.com"),
                ("share_method", "email"),
                ("locale", "es"),
            ],
        );
        assert_eq!(created.status, 303, "{}", created.body);
        let queued = app.outbox_to("amiga@example.com", "referral_invitation");
        assert_eq!(queued.len(), 1);
        assert_eq!(queued[0]["locale"], "es");
        // A value the form never offers is the API's refusal, on the field.
        let refused = visitor.post(
            "/patient/referrals",
            &[
                ("referee_email", "otra@example.com"),
                ("share_method", "email"),
                ("locale", "fr"),
            ],
        );
        assert_eq!(refused.status, 422, "{}", refused.body);
        assert!(app
            .outbox_to("otra@example.com", "referral_invitation")
            .is_empty());
    }
);

both_databases!(
    demo_sign_in_answers_only_this_machine_and_every_sign_in_is_audited,
    owned,
    |db| {
        let app = site(db);
        let visitor = Visitor::new(&app);
        // Through a proxy (a forwarding header) or under another host name: no demo user.
        let csrf = visitor.csrf();
        let cookie = format!("referral_csrf={csrf}");
        for (header, value) in [
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=203.0.113.9"),
            ("host", "referrals.example.com"),
        ] {
            let response = app
                .client
                .post(app.url("/signin"))
                .header("cookie", &cookie)
                .header(header, value)
                .form(&[("csrf", csrf.as_str()), ("user", "admin")])
                .send()
                .unwrap();
            assert_eq!(response.status(), 404, "{header}");
            assert!(response
                .headers()
                .get("set-cookie")
                .is_none_or(|c| !c.to_str().unwrap().starts_with("referral_session=")));
        }
        // Straight from this machine it works, and the sign-in is audited with its role.
        visitor.sign_in_as("admin");
        let trail: Value = app
            .get(
                Some(&app.admin()),
                "/api/referrals/audit-trail?action=auth.signin",
            )
            .json()
            .unwrap();
        assert!(
            trail["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["outcome"] == "success" && r["actor_role"] == "admin"),
            "{trail}"
        );
    }
);
