//! The portals in headless Chromium, driven over WebDriver (chromedriver): an admin creates
//! a program; a patient refers a friend by link; the friend opens it, sees the banner and
//! registers; a consultation event arrives; the patient sees the referral converted; the
//! admin approves the cash reward and reads the analytics; the patient sees the reward.
//! Every step saves a screenshot under `target/screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). Without them
//! the tests say so and pass, unless `REQUIRE_BROWSER` is set (CI), when they fail.

use crate::support::{spawn_site, token, TestApp};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use referral_api::auth::Role;
use referral_store::testing::TestDb;
use serde_json::{json, Value};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A chromedriver process on a free port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts chromedriver, or says why not (and fails under `REQUIRE_BROWSER`).
fn driver() -> Option<Driver> {
    let driver = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| CHROMEDRIVER.to_owned());
    if !std::path::Path::new(&driver).exists() {
        assert!(
            std::env::var_os("REQUIRE_BROWSER").is_none(),
            "REQUIRE_BROWSER is set but {driver} is missing: apt-get install chromium chromium-driver"
        );
        eprintln!(
            "browser tests skipped: {driver} not found (apt-get install chromium chromium-driver)"
        );
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver did not listen within 20 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    })
}

async fn browser(driver: &Driver) -> Client {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| CHROMIUM.to_owned());
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1280,1000", "--lang=en-US"],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

/// Saves screenshots as `target/screenshots/<journey>-<nn>-<step>.png`.
struct Camera {
    prefix: String,
    shots: usize,
}

impl Camera {
    fn dir() -> PathBuf {
        let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"),
            PathBuf::from,
        );
        target.join("screenshots")
    }

    async fn shoot(&mut self, client: &Client, step: &str) {
        self.shots += 1;
        let png = client.screenshot().await.expect("a screenshot");
        let dir = Self::dir();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}-{:02}-{step}.png", self.prefix, self.shots));
        std::fs::write(&path, &png).unwrap();
        assert!(png.len() > 1000, "{} looks empty", path.display());
    }
}

/// The text of `css`, waiting (up to 10 s) for it to exist; an element that a navigation
/// replaced under our feet is looked up again.
async fn text_of(client: &Client, css: &str) -> String {
    let started = Instant::now();
    loop {
        let attempt = match client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await,
            Err(e) => Err(e),
        };
        match attempt {
            Ok(text) => return text,
            Err(e) if started.elapsed() > Duration::from_secs(10) => panic!("{css}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Waits (up to 10 s) until the text of `css` is `expected`: for text a script sets after a
/// promise settles, such as the copy button's "Link copied".
async fn wait_for_text(client: &Client, css: &str, expected: &str) {
    let started = Instant::now();
    loop {
        let text = text_of(client, css).await;
        if text == expected {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{css} says {text:?}, not {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Clicks `css` and waits until the browser has left `from` (a form post or a link).
async fn click_away(client: &Client, css: &str) {
    let from = client.current_url().await.unwrap();
    click(client, css).await;
    let started = Instant::now();
    while client.current_url().await.unwrap() == from {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{css} did not leave {from}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn fill(client: &Client, css: &str, value: &str) {
    let field = client.find(Locator::Css(css)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

async fn path_of(client: &Client) -> String {
    let url = client.current_url().await.unwrap();
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

async fn sign_in(client: &Client, base: &str, user: &str) {
    client.goto(&format!("{base}/signin")).await.unwrap();
    click_away(client, &format!("#demo-{user}")).await;
    let heading = text_of(client, "main h1").await;
    assert_ne!(heading, "The form expired", "signing in as {user}");
}

async fn sign_out(client: &Client) {
    click_away(client, "form.signout button").await;
    assert_eq!(path_of(client).await, "/signin");
}

/// Whether the page fits the window's width (no sideways scrolling).
async fn fits_width(client: &Client) -> bool {
    client
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth;",
            vec![],
        )
        .await
        .unwrap()
        .as_bool()
        .unwrap()
}

/// The site, its share links pointing back at it, with demo sign-in.
fn site(db: TestDb) -> TestApp {
    spawn_site(db, |args, base| {
        args.demo_sign_in = true;
        args.public_base_url = base.to_owned();
    })
}

async fn service_post(base: &str, path: &str, body: Value) -> Value {
    let service = token(Role::Service, uuid::Uuid::new_v4(), None, 600);
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .bearer_auth(service)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

async fn journey(app: &TestApp, prefix: &str, driver: &Driver) {
    let base = app.base.clone();
    let client = browser(driver).await;
    let mut camera = Camera {
        prefix: prefix.to_owned(),
        shots: 0,
    };

    // An anonymous visitor is sent to sign in; the page is usable from the keyboard.
    client
        .goto(&format!("{base}/patient/referrals"))
        .await
        .unwrap();
    assert!(path_of(&client)
        .await
        .starts_with("/signin?next=/patient/referrals"));
    let body = client.find(Locator::Css("body")).await.unwrap();
    body.send_keys(&Key::Tab.to_string()).await.unwrap();
    body.send_keys(&Key::Tab.to_string()).await.unwrap();
    let focus: Value = client
        .execute(
            "const e = document.activeElement; const s = getComputedStyle(e); \
             return [e.tagName, s.outlineStyle, s.outlineWidth];",
            vec![],
        )
        .await
        .unwrap();
    assert_ne!(focus[1], "none", "the focused element is outlined: {focus}");
    camera.shoot(&client, "sign-in").await;

    // The admin creates a program with a cash reward for referrers.
    sign_in(&client, &base, "admin").await;
    assert_eq!(path_of(&client).await, "/portal/referrals");
    click_away(&client, "a.button[href='/portal/referrals/programs/new']").await;
    fill(&client, "#name", "Friends & Family").await;
    fill(&client, "#description", "Refer a friend, both of you save.").await;
    client
        .find(Locator::Css("#referrer_reward_type"))
        .await
        .unwrap()
        .select_by_value("cash")
        .await
        .unwrap();
    fill(&client, "#referrer_reward_value", "25.00").await;
    fill(&client, "#referee_reward_value", "20").await;
    camera.shoot(&client, "admin-new-program").await;
    click_away(&client, "form.stack button[type=submit]").await;
    assert_eq!(text_of(&client, "p.flash").await, "Program saved.");
    assert_eq!(
        text_of(&client, "#program-referrer-reward").await,
        "$25.00 cash"
    );
    camera.shoot(&client, "admin-program-saved").await;
    sign_out(&client).await;

    // The patient refers a friend by link and copies it.
    sign_in(&client, &base, "patient").await;
    assert_eq!(path_of(&client).await, "/patient/referrals");
    camera.shoot(&client, "patient-dashboard-empty").await;
    fill(&client, "#referee_email", "fran.friend@example.com").await;
    fill(&client, "#referee_name", "Fran").await;
    client
        .find(Locator::Css("#share_method"))
        .await
        .unwrap()
        .select_by_value("link")
        .await
        .unwrap();
    // A link carries no message: the form asks for none.
    click_away(&client, ".grid-form button[type=submit]").await;
    assert!(text_of(&client, "p.flash")
        .await
        .contains("Copy the link below"));
    let share_url = client
        .find(Locator::Css("#share-url"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert!(share_url.starts_with(&format!("{base}/r/")), "{share_url}");
    let path = path_of(&client).await;
    assert!(
        !path.contains('@') && !path.contains("Fran"),
        "no PHI in {path}"
    );
    click(&client, "#copy-link").await;
    // The page writes to the clipboard first and says so when that promise settles.
    wait_for_text(&client, ".copied", "Link copied").await;
    camera.shoot(&client, "patient-referral-link").await;
    let referral_page = client.current_url().await.unwrap();
    sign_out(&client).await;

    // The friend opens the link, sees the banner with the bonus, and registers.
    client.goto(&share_url).await.unwrap();
    assert_eq!(
        text_of(&client, ".banner h1").await,
        "You've been referred by a friend!"
    );
    assert_eq!(
        text_of(&client, ".banner .bonus").await,
        "20% off a consultation"
    );
    camera.shoot(&client, "friend-register").await;
    fill(&client, "#email", "fran.friend@example.com").await;
    fill(&client, "#name", "Fran Friend").await;
    // She lets the referrer know that she joined (nothing else is ever shared).
    click(&client, "#share_with_referrer").await;
    click_away(&client, "form.stack button[type=submit]").await;
    // She confirms her address through the link emailed to her (read from the outbox).
    assert_eq!(text_of(&client, "main h1").await, "Check your email");
    camera.shoot(&client, "friend-check-email").await;
    let link_token = app
        .verification_token("fran.friend@example.com")
        .expect("a confirmation link");
    client
        .goto(&format!("{base}/register/verify?token={link_token}"))
        .await
        .unwrap();
    click_away(&client, "#confirm-registration").await;
    assert_eq!(
        text_of(&client, "main h1").await,
        "Welcome to Zappy Health!"
    );
    assert_eq!(text_of(&client, ".bonus").await, "20% off a consultation");
    camera.shoot(&client, "friend-registered").await;
    // Opening the used link again shows the invitation as before: whoever holds the link
    // (maybe the referrer) cannot tell it was used (#30).
    client.goto(&share_url).await.unwrap();
    assert_eq!(
        text_of(&client, "main h1").await,
        "You've been referred by a friend!"
    );

    // The platform reports the friend's first consultation.
    let code = share_url.rsplit('/').next().unwrap().to_owned();
    let admin_token = token(Role::Admin, uuid::Uuid::new_v4(), None, 600);
    let listed: Value = reqwest::Client::new()
        .get(format!("{base}/api/referrals"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let referral = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["referral_code"] == code.as_str())
        .unwrap()
        .clone();
    // The browser followed the link twice within minutes: one visit, one open (#31).
    assert_eq!(referral["clicks"], 1, "{referral}");
    let converted = service_post(
        &base,
        "/api/events/consultations",
        json!({"patient_id": referral["referee_patient_id"], "consultation_id": uuid::Uuid::new_v4()}),
    )
    .await;
    assert_eq!(converted["outcome"], "converted");
    // The referrer's reward reaches her with the week's release (#30).
    app.release_rewards();

    // The patient sees that the friend joined (she agreed), never what care followed,
    // and the cash reward waiting for approval.
    sign_in(&client, &base, "patient").await;
    assert_eq!(text_of(&client, "#stat-total").await, "1");
    assert_eq!(text_of(&client, "#stat-joined").await, "1");
    client.goto(referral_page.as_str()).await.unwrap();
    assert_eq!(text_of(&client, "#referral-status").await, "Joined");
    let rewards = text_of(&client, "ul.rewards").await;
    assert!(rewards.contains("Pending approval"), "{rewards}");
    let timeline = text_of(&client, "ol.timeline").await;
    assert!(timeline.contains("Your friend joined"), "{timeline}");
    assert!(
        !timeline.to_lowercase().contains("consultation"),
        "{timeline}"
    );
    camera.shoot(&client, "patient-referral-converted").await;
    sign_out(&client).await;

    // The admin approves the cash reward and reads the analytics.
    sign_in(&client, &base, "admin").await;
    assert_eq!(text_of(&client, "#metric-total").await, "1");
    camera.shoot(&client, "admin-dashboard").await;
    click_away(&client, "nav a[href='/portal/referrals/rewards']").await;
    let pending = text_of(&client, "#pending-heading").await;
    assert_eq!(pending, "Waiting for approval (1)");
    camera.shoot(&client, "admin-rewards-pending").await;
    click_away(&client, "td.decision button[value^='approve:']").await;
    assert_eq!(
        text_of(&client, "p.flash").await,
        "1 referral(s) approved; their payouts are queued."
    );
    assert_eq!(
        text_of(&client, "#pending-heading").await,
        "Waiting for approval (0)"
    );
    click_away(&client, "nav a[href='/portal/referrals/analytics']").await;
    assert_eq!(text_of(&client, "#analytics-total").await, "1");
    for chart in ["trend", "funnel", "program-performance"] {
        let title = client
            .find(Locator::Css(&format!("svg title#{chart}-title")))
            .await
            .unwrap()
            .prop("textContent")
            .await
            .unwrap()
            .unwrap_or_default();
        assert!(!title.is_empty(), "the {chart} chart has a title");
    }
    let funnel = client
        .find(Locator::Css("svg[aria-labelledby^=funnel] desc"))
        .await
        .unwrap()
        .html(true)
        .await
        .unwrap();
    assert!(funnel.contains("Converted: 1 (100.0%)"), "{funnel}");
    camera.shoot(&client, "admin-analytics").await;
    // At 375 px the analytics page still fits.
    client.set_window_size(375, 900).await.unwrap();
    client.refresh().await.unwrap();
    assert!(fits_width(&client).await, "the analytics page fits 375 px");
    camera.shoot(&client, "admin-analytics-375px").await;
    client.set_window_size(1280, 1000).await.unwrap();
    sign_out(&client).await;

    // The patient sees the reward available and counted as earned, on a phone too.
    sign_in(&client, &base, "patient").await;
    client.set_window_size(375, 900).await.unwrap();
    client.refresh().await.unwrap();
    assert_eq!(text_of(&client, "#stat-earned").await, "$25.00");
    assert!(fits_width(&client).await, "the dashboard fits 375 px");
    camera.shoot(&client, "patient-dashboard-375px").await;
    click_away(&client, "nav a[href='/patient/referrals/rewards']").await;
    let rewards = text_of(&client, "table tbody").await;
    assert!(rewards.contains("$25.00 cash"), "{rewards}");
    assert!(rewards.contains("Available"), "{rewards}");
    camera.shoot(&client, "patient-rewards-375px").await;

    client.close().await.unwrap();
}

fn run(db: TestDb, prefix: &str) {
    let Some(driver) = driver() else { return };
    let app = site(db);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(journey(&app, prefix, &driver));
    drop(app);
}

#[test]
fn browser_journey_sqlite() {
    run(TestDb::sqlite(), "journey-sqlite");
}

#[test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "TEST_DATABASE_URL was not set when the tests were built"
)]
fn browser_journey_postgres() {
    if let Some(db) = TestDb::postgres() {
        run(db, "journey-postgres");
    }
}

/// axe-core's browser build (`npm install axe-core`; `.ci/run` installs it and sets
/// `AXE_CORE_JS`). Without it the accessibility checks are skipped, unless
/// `REQUIRE_BROWSER` is set.
fn axe_source() -> Option<String> {
    let path = std::env::var("AXE_CORE_JS").map_or_else(
        |_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/axe/node_modules/axe-core/axe.min.js")
        },
        PathBuf::from,
    );
    match std::fs::read_to_string(&path) {
        Ok(source) => Some(source),
        Err(_) => {
            assert!(
                std::env::var_os("REQUIRE_BROWSER").is_none(),
                "REQUIRE_BROWSER is set but axe-core is missing at {}: npm install --prefix target/axe axe-core@4.10.3",
                path.display()
            );
            eprintln!("accessibility checks skipped: {} not found", path.display());
            None
        }
    }
}

/// axe-core's WCAG 2.1 A and AA violations on the current page, one line each.
async fn axe_violations(client: &Client, axe: &str) -> Vec<String> {
    client.execute(axe, vec![]).await.expect("axe-core loads");
    let found = client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
               .then(r => done(r.passes.length === 0 ? ['axe ran no rule'] : r.violations.map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))))
               .catch(e => done(['axe failed: ' + e]));",
            vec![],
        )
        .await
        .expect("axe-core runs");
    found
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The page at `path`: no sideways scrolling at 375 px, none at 1440 px, and no axe-core
/// violations. Returns the page's heading.
async fn check_page(client: &Client, base: &str, path: &str, axe: Option<&str>) -> String {
    client.set_window_size(1440, 1000).await.unwrap();
    client.goto(&format!("{base}{path}")).await.unwrap();
    let heading = text_of(client, "main h1").await;
    assert!(
        fits_width(client).await,
        "{path} scrolls sideways at 1440 px"
    );
    if let Some(axe) = axe {
        let violations = axe_violations(client, axe).await;
        assert!(violations.is_empty(), "{path}: {violations:#?}");
    }
    client.set_window_size(375, 900).await.unwrap();
    client.refresh().await.unwrap();
    let width: Value = client
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        fits_width(client).await,
        "{path} scrolls sideways at 375 px: {width}"
    );
    // Charts are drawn for the phone: every label inside its drawing, none under 10 px.
    let labels: Value = client
        .execute(
            "return Array.from(document.querySelectorAll('svg.chart'))
                .filter(s => s.getBoundingClientRect().width > 0)
                .flatMap(s => {
                    const box = s.getBoundingClientRect();
                    const scale = box.width / s.viewBox.baseVal.width;
                    return Array.from(s.querySelectorAll('text')).map(t => {
                        const r = t.getBoundingClientRect();
                        return [t.textContent, r.left >= box.left - 1 && r.right <= box.right + 1,
                            parseFloat(t.getAttribute('font-size')) * scale];
                    });
                });",
            vec![],
        )
        .await
        .unwrap();
    for label in labels.as_array().unwrap() {
        assert_eq!(
            label[1], true,
            "{path}: a chart label leaves its chart at 375 px: {label}"
        );
        assert!(
            label[2].as_f64().unwrap() >= 10.0,
            "{path}: a chart label under 10 px: {label}"
        );
    }
    // Tables read as stacked rows there, each cell under its column's name.
    let cells: Value = client
        .execute(
            "return Array.from(document.querySelectorAll('table tbody td')).slice(0, 20)
                .map(td => [getComputedStyle(td).display, td.getAttribute('data-label') || '']);",
            vec![],
        )
        .await
        .unwrap();
    for cell in cells.as_array().unwrap() {
        assert_eq!(cell[0], "grid", "{path}: a table cell at 375 px: {cells}");
        assert_ne!(cell[1], "", "{path}: a cell without its column's name");
    }
    heading
}

async fn every_page(app: &TestApp, driver: &Driver) {
    let base = app.url("");
    let base = base.trim_end_matches('/').to_owned();
    let client = browser(driver).await;
    let axe = axe_source();
    let axe = axe.as_deref();
    let mut camera = Camera {
        prefix: "pages".into(),
        shots: 0,
    };

    // Demo data, as a first look loads it.
    client.goto(&format!("{base}/signin")).await.unwrap();
    click_away(&client, "form.demo-data button").await;

    // The friend's pages, both languages, and the sign-in page.
    let friend_code = {
        let mut conn = app.db.conn();
        let page = referral_store::page::Page::new(Some(500), None);
        let referrals = referral_store::referrals::list(
            &mut conn,
            &referral_store::referrals::ReferralFilter {
                status: Some(referral_domain::ReferralStatus::Pending),
                ..Default::default()
            },
            app.state.now(),
            page,
        )
        .unwrap();
        referrals
            .items
            .first()
            .map(|r| r.referral_code.to_string())
            .expect("an open demo referral")
    };
    let unsubscribe = app.state.links.unsubscribe_token("friend@example.org");
    for path in [
        "/signin".to_owned(),
        format!("/register?ref={friend_code}"),
        format!("/register?ref={friend_code}&lang=es"),
        "/register".to_owned(),
        "/register?ref=NOPE-NOPE-NOPE&lang=es".to_owned(),
        "/register/verify?token=0123&lang=es".to_owned(),
        format!("/api/unsubscribe/{unsubscribe}?lang=es"),
    ] {
        check_page(&client, &base, &path, axe).await;
    }
    client.set_window_size(1440, 1000).await.unwrap();
    client
        .goto(&format!("{base}/register?ref={friend_code}"))
        .await
        .unwrap();
    camera.shoot(&client, "friend-register").await;

    // Every page of the patient.
    sign_in(&client, &base, "patient").await;
    client
        .goto(&format!("{base}/patient/referrals"))
        .await
        .unwrap();
    let detail = client
        .find(Locator::Css("table a[href^='/patient/referrals/']"))
        .await
        .expect("the demo patient has referrals")
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    for path in [
        "/patient/referrals",
        "/patient/referrals/new",
        "/patient/referrals/rewards",
        detail.as_str(),
    ] {
        check_page(&client, &base, path, axe).await;
    }
    client.set_window_size(1440, 1000).await.unwrap();
    client
        .goto(&format!("{base}/patient/referrals"))
        .await
        .unwrap();
    camera.shoot(&client, "patient-dashboard").await;
    sign_out(&client).await;

    // Every page of the clinic admin.
    sign_in(&client, &base, "admin").await;
    client
        .goto(&format!("{base}/portal/referrals/programs"))
        .await
        .unwrap();
    let program = client
        .find(Locator::Css("table a[href^='/portal/referrals/programs/']"))
        .await
        .expect("demo programs")
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let edit = format!("{program}/edit");
    for path in [
        "/portal/referrals",
        "/portal/referrals/programs",
        "/portal/referrals/programs/new",
        program.as_str(),
        edit.as_str(),
        "/portal/referrals/analytics",
        "/portal/referrals/analytics?interval=week",
        "/portal/referrals/rewards",
        "/portal/referrals/reviews",
        "/portal/referrals/exports",
        "/portal/webhooks",
        "/portal/webhooks/new",
    ] {
        check_page(&client, &base, path, axe).await;
    }
    client.close().await.unwrap();
}

/// Every page as each role, on demo data: it fits a 375 px phone and a 1440 px desktop,
/// and axe-core finds no WCAG 2.1 AA violation. (Layout does not depend on the database:
/// SQLite only.)
#[test]
fn every_page_fits_a_phone_and_a_desktop_and_axe_finds_nothing() {
    let Some(driver) = driver() else { return };
    let app = site(TestDb::sqlite());
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(every_page(&app, &driver));
}

async fn forms(app: &TestApp, driver: &Driver) {
    let base = app.url("");
    let base = base.trim_end_matches('/').to_owned();
    let client = browser(driver).await;
    let visible = |id: &'static str| {
        let client = client.clone();
        async move {
            client
                .find(Locator::Id(id))
                .await
                .unwrap()
                .is_displayed()
                .await
                .unwrap()
        }
    };
    let focused = || {
        let client = client.clone();
        async move {
            client
                .execute("return document.activeElement.id;", vec![])
                .await
                .unwrap()
        }
    };

    sign_in(&client, &base, "patient").await;
    client
        .goto(&format!("{base}/patient/referrals/new"))
        .await
        .unwrap();
    // SMS asks for the phone and the consent; email and a link do not.
    let method = client.find(Locator::Id("share_method")).await.unwrap();
    method.select_by_value("sms").await.unwrap();
    assert!(visible("referee_phone").await && visible("sms_consent").await);
    method.select_by_value("email").await.unwrap();
    assert!(!visible("referee_phone").await && !visible("sms_consent").await);

    // A refused submit: the summary takes focus, names the fields as the page does, and
    // its links land on them.
    fill(&client, "#referee_email", "not-an-address").await;
    click_away(&client, "form[data-share-form] button[type=submit]").await;
    assert_eq!(focused().await, "problems");
    let summary = text_of(&client, "#problems").await;
    assert!(summary.contains("Friend's email"), "{summary}");
    assert!(!summary.contains("referee_email"), "{summary}");
    click(&client, "#problems a[href='#referee_email']").await;
    assert_eq!(focused().await, "referee_email");

    // A link to share oneself needs no email: it is the personal link.
    let method = client.find(Locator::Id("share_method")).await.unwrap();
    method.select_by_value("link").await.unwrap();
    fill(&client, "#referee_email", "").await;
    click_away(&client, "form[data-share-form] button[type=submit]").await;
    assert_eq!(path_of(&client).await, "/patient/referrals");
    assert!(visible("share-panel").await);
    sign_out(&client).await;

    // The program form reports every problem in one round, in the form's words.
    sign_in(&client, &base, "admin").await;
    client
        .goto(&format!("{base}/portal/referrals/programs/new"))
        .await
        .unwrap();
    fill(&client, "#reward_threshold", "two").await;
    fill(&client, "#expiry_days", "0").await;
    fill(&client, "#min_age", "-4").await;
    fill(&client, "#booking_url", "http://book.example.com").await;
    click_away(&client, "main form button[type=submit]").await;
    assert_eq!(focused().await, "problems");
    let summary = text_of(&client, "#problems").await;
    for words in [
        "Program name",
        "Friends per referrer reward",
        "Days an invitation stays open",
        "Minimum age",
        "Booking page",
    ] {
        assert!(summary.contains(words), "{words}: {summary}");
    }
    assert!(
        !summary.contains("reward_threshold") && !summary.contains("booking_url"),
        "{summary}"
    );
    click(&client, "#problems a[href='#min_age']").await;
    assert_eq!(focused().await, "min_age");
    client.close().await.unwrap();
}

/// The forms help (#31 item 5): the referral form asks for what the chosen way needs, a
/// refused form's summary takes focus and leads to each field by its label, a link needs
/// no email, and the program form reports every problem at once.
#[test]
fn forms_ask_for_what_they_need_and_report_everything_at_once() {
    let Some(driver) = driver() else { return };
    let app = site(TestDb::sqlite());
    app.program(json!({}));
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(forms(&app, &driver));
}
