//! Nothing to infer (#30): pairs of worlds that differ only in what the friend did
//! privately must look the same to the referrer. Each world is a service of its own on its
//! own database; both run the same script on a moved clock (the referrer invites on a
//! Monday, the friend acts or not on chosen days, the workers run at each step), and at
//! every step everything the referrer can read is compared: every JSON body of the patient
//! API, every patient page, every message queued to them, the public lookup and the
//! registration page of every code they hold, and the share link with its counters.
//!
//! Values that differ between any two worlds by construction are normalized first: ids and
//! codes (random) are numbered by first appearance, CSRF tokens masked, and times cut to
//! the day (the referrer's own actions happen at the same moment in both worlds, and the
//! service must show the referrer no time finer than the day of a reward's release).

use crate::pages::Visitor;
use crate::support::*;
use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use referral_api::workers::{retention_once, sweep_once};
use referral_store::testing::TestDb;
use regex::Regex;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Days the invitations of the harness's program stay open.
const EXPIRY_DAYS: i64 = 14;
/// The address Alice invites, and what she calls the friend.
const INVITED: &str = "bob@example.com";
/// The address a visitor of Alice's share link gives.
const VISITOR: &str = "carol@example.net";

/// What the friend (or a visitor of the share link) does, and on which day after the
/// invitation.
#[derive(Debug, Clone, Copy)]
enum Act {
    /// Registers through the invitation's code, letting Alice know or not.
    Registers { share: bool },
    /// Registers through the invitation's code with another address than the one invited
    /// (a fraud signal on the friend's side: the referrer's reward goes to review).
    RegistersElsewhere,
    /// The platform reports the friend's payer and state.
    Facts { federal: bool, state: &'static str },
    /// The friend's first consultation.
    Consults,
    /// The friend's first paid order.
    Orders,
    /// The consultation is cancelled.
    CancelsConsultation,
    /// The order is refunded in full.
    RefundsOrder,
    /// An admin rejects the rewards waiting for review.
    ReviewRejected,
    /// A visitor starts registering through Alice's personal share link (and confirms the
    /// emailed link, or never does).
    VisitsShareLink { confirms: bool },
}

/// One world: the service, Alice, and what the friend did so far.
struct World {
    app: TestApp,
    alice: Actor,
    service: Actor,
    code: String,
    share_code: String,
    friend: Option<String>,
    consultation: String,
    order: String,
}

/// The Monday 09:00 UTC after next: every world starts its script there.
fn anchor() -> DateTime<Utc> {
    let now = Utc::now() + Duration::days(7);
    let monday = now.date_naive() - Duration::days(i64::from(now.weekday().num_days_from_monday()));
    Utc.from_utc_datetime(&monday.and_hms_opt(9, 0, 0).unwrap()) + Duration::days(7)
}

impl World {
    fn new(db: TestDb, start: DateTime<Utc>) -> World {
        let app = spawn(db);
        app.state.clock.advance_to(start);
        app.program(json!({
            "expiry_days": EXPIRY_DAYS,
            "excluded_states": ["TX"],
        }));
        let alice = app.patient("alice");
        let service = app.service();
        let invited = app.post(
            Some(&alice),
            "/api/patients/me/referrals",
            json!({"referee_email": INVITED, "referee_name": "Bobby",
                   "referral_source": "email", "referral_message": "Hope you like it"}),
        );
        assert_eq!(invited.status(), 201, "{:?}", invited.text());
        let code = invited.json::<Value>().unwrap()["referral_code"]
            .as_str()
            .unwrap()
            .to_owned();
        let facts = app.put(
            Some(&service),
            &format!("/api/patients/{}/facts", alice.id),
            json!({"federal_payer": false, "state": "CA"}),
        );
        assert_eq!(facts.status(), 200, "{:?}", facts.text());
        let link: Value = app
            .get(Some(&alice), "/api/patients/me/share-link")
            .json()
            .unwrap();
        let share_code = link["referral_code"].as_str().unwrap().to_owned();
        World {
            app,
            alice,
            service,
            code,
            share_code,
            friend: None,
            consultation: uuid::Uuid::new_v4().to_string(),
            order: uuid::Uuid::new_v4().to_string(),
        }
    }

    fn friend(&self) -> &str {
        self.friend.as_deref().expect("the friend registered first")
    }

    fn event(&self, path: &str, body: Value) {
        let response = self.app.post(Some(&self.service), path, body);
        assert!(
            response.status().is_success(),
            "{path}: {:?}",
            response.text()
        );
    }

    fn act(&mut self, act: Act) {
        match act {
            Act::Registers { share } => {
                let registered = self.app.registers_with(
                    &self.code,
                    json!({"email": INVITED, "name": "Roberta", "share_with_referrer": share}),
                );
                self.friend = registered["patient_id"].as_str().map(str::to_owned);
            }
            Act::RegistersElsewhere => {
                let registered = self.app.registers_with(
                    &self.code,
                    json!({"email": "roberta@example.org", "name": "Roberta"}),
                );
                self.friend = registered["patient_id"].as_str().map(str::to_owned);
            }
            Act::Facts { federal, state } => {
                let response = self.app.put(
                    Some(&self.service),
                    &format!("/api/patients/{}/facts", self.friend()),
                    json!({"federal_payer": federal, "state": state}),
                );
                assert_eq!(response.status(), 200, "{:?}", response.text());
            }
            Act::Consults => self.event(
                "/api/events/consultations",
                json!({"patient_id": self.friend(), "consultation_id": self.consultation}),
            ),
            Act::Orders => self.event(
                "/api/events/orders",
                json!({"patient_id": self.friend(), "order_id": self.order, "amount": "80.00"}),
            ),
            Act::CancelsConsultation => self.event(
                "/api/events/consultation-cancellations",
                json!({"patient_id": self.friend(), "consultation_id": self.consultation,
                       "cancellation_id": uuid::Uuid::new_v4()}),
            ),
            Act::RefundsOrder => self.event(
                "/api/events/refunds",
                json!({"patient_id": self.friend(), "order_id": self.order,
                       "refund_id": uuid::Uuid::new_v4(), "amount": "80.00"}),
            ),
            Act::ReviewRejected => {
                let admin = self.app.admin();
                let queue: Value = self
                    .app
                    .get(Some(&admin), "/api/reward-reviews")
                    .json()
                    .unwrap();
                let items = queue["items"].as_array().unwrap();
                assert!(!items.is_empty(), "a reward waits for review: {queue}");
                for item in items {
                    let id = item["reward"]["id"].as_str().unwrap();
                    let decided = self.app.post(
                        Some(&admin),
                        &format!("/api/reward-reviews/{id}/decide"),
                        json!({"approve": false, "reason": "Could not confirm the friend"}),
                    );
                    assert_eq!(decided.status(), 200, "{:?}", decided.text());
                }
            }
            Act::VisitsShareLink { confirms } => {
                let response = self.app.post(
                    None,
                    &format!("/api/referrals/{}/register", self.share_code),
                    json!({"email": VISITOR, "name": "Carol Visitor"}),
                );
                assert_eq!(response.status(), 202, "{:?}", response.text());
                if confirms {
                    let token = self.app.verification_token(VISITOR).expect("a link");
                    let verified =
                        self.app
                            .post(None, "/api/registrations/verify", json!({"token": token}));
                    assert_eq!(verified.status(), 201, "{:?}", verified.text());
                }
            }
        }
    }

    /// The workers' rounds at the world's now: sweeps, releases, and the outbox.
    fn run_workers(&self) {
        let now = self.app.state.now();
        sweep_once(&self.app.state.pool, 3, now).unwrap();
        self.app.delivery.drain(now, 100).unwrap();
        // And the retention erasure, whose days must not depend on what the friend did.
        let policy = referral_domain::retention::RetentionPolicy::default();
        retention_once(&self.app.delivery, &policy, now).unwrap();
    }

    /// Everything Alice can read now, by where she reads it.
    fn seen(&self) -> BTreeMap<String, String> {
        let mut seen = BTreeMap::new();
        let app = &self.app;
        let alice = Some(&self.alice);
        let read = |path: &str, who: Option<&Actor>| -> String {
            let response = app.get(who, path);
            format!("{} {}", response.status(), response.text().unwrap())
        };
        let listed: Value = app.get(alice, "/api/patients/me/referrals").json().unwrap();
        let ids: Vec<String> = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect();
        for status in ["", "?status=invited", "?status=joined", "?status=expired"] {
            let path = format!("/api/patients/me/referrals{status}");
            seen.insert(path.clone(), read(&path, alice));
        }
        for (n, id) in ids.iter().enumerate() {
            let path = format!("/api/patients/me/referrals/{id}");
            seen.insert(format!("referral {n}"), read(&path, alice));
        }
        for status in ["", "?status=available", "?status=used", "?status=cancelled"] {
            let path = format!("/api/patients/me/rewards{status}");
            seen.insert(path.clone(), read(&path, alice));
        }
        let path = "/api/patients/me/share-link";
        seen.insert(path.to_owned(), read(path, alice));
        // What anyone holding the codes sees, Alice included.
        for (what, code) in [("invitation", &self.code), ("share link", &self.share_code)] {
            let path = format!("/api/referrals/{code}");
            seen.insert(format!("lookup of the {what}"), read(&path, None));
            let page = Visitor::new(app).get(&format!("/register?ref={code}"));
            seen.insert(
                format!("registration page of the {what}"),
                format!("{} {}", page.status, page.body),
            );
        }
        let visitor = Visitor::new(app);
        let signed_in = visitor.post("/signin", &[("token", self.alice.token.as_str())]);
        assert_eq!(signed_in.status, 303, "{}", signed_in.body);
        let mut pages = vec![
            "/patient/referrals".to_owned(),
            "/patient/referrals/rewards".to_owned(),
        ];
        pages.extend(ids.iter().map(|id| format!("/patient/referrals/{id}")));
        for (n, path) in pages.iter().enumerate() {
            let page = visitor.get(path);
            seen.insert(
                format!("page {n}"),
                format!("{} {}", page.status, page.body),
            );
        }
        let mut conn = app.db.conn();
        let page = referral_store::page::Page::new(Some(500), None);
        let mut messages = referral_store::outbox::list(&mut conn, None, page)
            .unwrap()
            .items;
        messages.sort_by_key(|m| m.created_at);
        let to_alice: Vec<String> = messages
            .into_iter()
            .filter(|m| m.recipient == "alice@example.com")
            .map(|m| format!("{} {}", m.template, m.payload))
            .collect();
        seen.insert("messages to Alice".into(), to_alice.join("\n"));
        normalize(seen)
    }
}

/// Ids and codes numbered by first appearance, CSRF tokens masked, times cut to the day.
fn normalize(seen: BTreeMap<String, String>) -> BTreeMap<String, String> {
    let uuid = Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").unwrap();
    let code = Regex::new(r"[0-9A-Z]{6}-[0-9A-Z]{6}-[0-9A-Z]{6}").unwrap();
    let csrf =
        Regex::new(r#"(name="csrf"[^>]*value=")[^"]*"|(value=")[^"]*("[^>]*name="csrf")"#).unwrap();
    let time = Regex::new(r"(\d{4}-\d{2}-\d{2})[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?")
        .unwrap();
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut number = |found: &str, kind: &str| -> String {
        let n = names.len();
        names
            .entry(found.to_owned())
            .or_insert_with(|| format!("<{kind}{n}>"))
            .clone()
    };
    seen.into_iter()
        .map(|(what, body)| {
            let body = csrf.replace_all(&body, "$1$2<csrf>\"$3").into_owned();
            let body = time.replace_all(&body, "$1").into_owned();
            let body = uuid
                .replace_all(&body, |c: &regex::Captures| number(&c[0], "id"))
                .into_owned();
            let body = code
                .replace_all(&body, |c: &regex::Captures| {
                    number(&c[0].replace('-', ""), "code")
                })
                .into_owned();
            (what, body)
        })
        .collect()
}

/// The first place two views differ, with both sides around it.
fn first_difference(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Option<String> {
    for (what, left) in a {
        let right = b.get(what).map(String::as_str).unwrap_or("<absent>");
        if left != right {
            let at = left
                .chars()
                .zip(right.chars())
                .take_while(|(x, y)| x == y)
                .count();
            let around =
                |s: &str| -> String { s.chars().skip(at.saturating_sub(160)).take(480).collect() };
            return Some(format!(
                "{what}:\n  one world:   …{}…\n  other world: …{}…",
                around(left),
                around(right)
            ));
        }
    }
    b.keys()
        .find(|k| !a.contains_key(*k))
        .map(|k| format!("{k} only in the other world"))
}

/// Runs `one` and `other` (each a list of (day, act)) side by side from `start`, and at
/// every day either acts, and at `checks`, compares what Alice sees.
fn indistinguishable(
    name: &str,
    db: impl Fn() -> TestDb,
    one: &[(i64, Act)],
    other: &[(i64, Act)],
    rewarded: bool,
) -> Result<(), String> {
    // Day 106: the invitation's date (day 14) and the 90 days of its contact details, and
    // a day; by then the first messages' payloads are erased too.
    const CHECKS: [i64; 8] = [0, 1, 4, 8, 15, 22, 103, 106];
    let start = anchor();
    let mut worlds = [World::new(db(), start), World::new(db(), start)];
    let mut days: Vec<i64> = CHECKS
        .iter()
        .copied()
        .chain(one.iter().chain(other).map(|(d, _)| *d))
        .collect();
    days.sort_unstable();
    days.dedup();
    for day in days {
        let at = start + Duration::days(day);
        for (world, script) in worlds.iter_mut().zip([one, other]) {
            world.app.state.clock.advance_to(at);
            for (_, act) in script.iter().filter(|(d, _)| *d == day) {
                world.act(*act);
            }
            world.run_workers();
        }
        let [a, b] = [worlds[0].seen(), worlds[1].seen()];
        if let Some(difference) = first_difference(&a, &b) {
            return Err(format!("{name}, day {day}: {difference}"));
        }
        // Not vacuous: where the friend's visit earns Alice a reward, she has it (and one
        // notice) from the first release on, and nothing before.
        let rewards = &a["/api/patients/me/rewards"];
        let told = a["messages to Alice"].contains("reward_earned");
        let released = day >= 7 && rewarded;
        if day <= 22 && (rewards.contains("\"25.00\"") != released || told != released) {
            return Err(format!(
                "{name}, day {day}: expected {} reward: {rewards}",
                if released { "a released" } else { "no" }
            ));
        }
    }
    Ok(())
}

/// The pairs of worlds: what the friend did privately, against a friend who did nothing
/// (or something else that Alice must not be able to tell from it).
/// Each with whether Alice ends up with a reward.
type Pair = (&'static str, Vec<(i64, Act)>, Vec<(i64, Act)>, bool);

fn pairs() -> Vec<Pair> {
    use Act::*;
    let commercial = Facts {
        federal: false,
        state: "CA",
    };
    vec![
        (
            "registered privately / never joined",
            vec![(1, Registers { share: false }), (1, commercial)],
            vec![],
            false,
        ),
        (
            "a federal-programme friend consulted / never joined",
            vec![
                (1, Registers { share: false }),
                (
                    1,
                    Facts {
                        federal: true,
                        state: "CA",
                    },
                ),
                (2, Consults),
            ],
            vec![],
            false,
        ),
        (
            "a friend in an excluded state consulted / never joined",
            vec![
                (1, Registers { share: false }),
                (
                    1,
                    Facts {
                        federal: false,
                        state: "TX",
                    },
                ),
                (2, Consults),
            ],
            vec![],
            false,
        ),
        (
            "first consultation on Tuesday / on Thursday",
            vec![
                (1, Registers { share: false }),
                (1, commercial),
                (1, Consults),
            ],
            vec![
                (1, Registers { share: false }),
                (1, commercial),
                (3, Consults),
            ],
            true,
        ),
        (
            "a first consultation / a first paid order",
            vec![
                (1, Registers { share: false }),
                (1, commercial),
                (2, Consults),
            ],
            vec![
                (1, Registers { share: false }),
                (1, commercial),
                (2, Orders),
            ],
            true,
        ),
        (
            "a consultation cancelled before the reward's release / never joined",
            vec![
                (1, Registers { share: false }),
                (1, commercial),
                (2, Consults),
                (4, CancelsConsultation),
            ],
            vec![],
            false,
        ),
        (
            "an order refunded before the reward's release / never joined",
            vec![
                (1, Registers { share: false }),
                (1, commercial),
                (2, Orders),
                (3, RefundsOrder),
            ],
            vec![],
            false,
        ),
        (
            "a reward reviewed and rejected for the friend's signal / never joined",
            vec![
                (1, RegistersElsewhere),
                (1, commercial),
                (2, Consults),
                (4, ReviewRejected),
            ],
            vec![],
            false,
        ),
        (
            "a visitor started on the share link and never confirmed / nobody came",
            vec![(1, VisitsShareLink { confirms: false })],
            vec![],
            false,
        ),
        (
            "a visitor joined privately through the share link / nobody came",
            vec![(1, VisitsShareLink { confirms: true })],
            vec![],
            false,
        ),
    ]
}

fn every_pair(db: impl Fn() -> TestDb) {
    let failures: Vec<String> = pairs()
        .into_iter()
        .filter_map(|(name, one, other, rewarded)| {
            indistinguishable(name, &db, &one, &other, rewarded).err()
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} pairs of worlds look different to the referrer:\n\n{}",
        failures.len(),
        pairs().len(),
        failures.join("\n\n")
    );
}

#[test]
fn the_referrer_cannot_tell_what_the_friend_did_privately_sqlite() {
    every_pair(TestDb::sqlite);
}

#[test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "TEST_DATABASE_URL was not set when the tests were built"
)]
fn the_referrer_cannot_tell_what_the_friend_did_privately_postgres() {
    if TestDb::postgres().is_some() {
        every_pair(|| TestDb::postgres().unwrap());
    }
}
