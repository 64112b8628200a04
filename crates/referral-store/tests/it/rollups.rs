//! The rollups every change keeps incrementally equal what `rollups::rebuild()` computes
//! from the facts, after any journey: random creates, clicks, registrations, conversions
//! by consultation and by order, redeems, approvals and expiries, on both databases.

use crate::common::*;
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use proptest::prelude::*;
use referral_domain::{ConsultationId, InducementPolicy, Money, OrderId, RedemptionTarget};
use referral_store::conn::DbConnection;
use referral_store::events::{self, ConsultationEvent, OrderEvent};
use referral_store::patients::Patient;
use referral_store::referrals::{self, ClickedCode, Referral, RequestOrigin};
use referral_store::rewards::{self, Reward};
use referral_store::rollups;
use referral_store::schema::{referral_daily_stats as daily, referrer_stats};
use referral_store::sql_types::DbUuid;
use referral_store::testing::TestDb;

/// One step of a journey; indexes pick among what exists (modulo its count).
#[derive(Debug, Clone)]
enum Step {
    Create { referrer: usize, program: usize },
    Click(usize),
    Register(usize),
    Consult(usize),
    Order { referral: usize, cents: i64 },
    Redeem(usize),
    Approve { referral: usize, approve: bool },
    Later { hours: i64 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..3usize, 0..4usize).prop_map(|(referrer, program)| Step::Create { referrer, program }),
        2 => any::<usize>().prop_map(Step::Click),
        3 => any::<usize>().prop_map(Step::Register),
        2 => any::<usize>().prop_map(Step::Consult),
        2 => (any::<usize>(), 0..5_000i64).prop_map(|(referral, cents)| Step::Order { referral, cents }),
        1 => any::<usize>().prop_map(Step::Redeem),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(referral, approve)| Step::Approve { referral, approve }),
        1 => (1..2_000i64).prop_map(|hours| Step::Later { hours }),
    ]
}

struct Journey {
    now: DateTime<Utc>,
    referrers: Vec<Patient>,
    programs: Vec<referral_store::programs::Program>,
    referrals: Vec<(Referral, String, Option<Patient>)>,
    rewards: Vec<Reward>,
    emails: usize,
}

fn pick<T>(items: &[T], i: usize) -> Option<&T> {
    (!items.is_empty()).then(|| &items[i % items.len()])
}

impl Journey {
    fn new(conn: &mut DbConnection) -> Self {
        let programs = vec![
            program(conn, serde_json::json!({"name": "Credit"})),
            program(
                conn,
                serde_json::json!({"name": "Batch of two", "reward_threshold": 2}),
            ),
            // Cash rewards wait for an admin's approval.
            program(
                conn,
                serde_json::json!({"name": "Cash", "referrer_reward_type": "cash",
                "referrer_reward_value": "10.00", "variants": [
                    {"name": "a", "weight": 1}, {"name": "b", "weight": 1}]}),
            ),
            // A discount counts towards the caps only what it gave once used.
            program(
                conn,
                serde_json::json!({"name": "Discount", "referrer_reward_type": "discount",
                "referrer_reward_value": "20"}),
            ),
        ];
        let referrers = (0..3)
            .map(|i| patient(conn, &format!("referrer{i}@example.com")))
            .collect();
        Journey {
            now: t0(),
            referrers,
            programs,
            referrals: Vec::new(),
            rewards: Vec::new(),
            emails: 0,
        }
    }

    fn apply(&mut self, conn: &mut DbConnection, step: &Step) {
        self.now += Duration::minutes(7);
        let policy = InducementPolicy::default();
        match step {
            Step::Create { referrer, program } => {
                self.emails += 1;
                let email = format!("friend{}@example.com", self.emails);
                let input =
                    new_referral(&self.referrers[*referrer], &self.programs[*program], &email);
                if let Ok(r) =
                    referrals::create(conn, &ring::rand::SystemRandom::new(), &input, self.now)
                {
                    self.referrals.push((r, email, None));
                }
            }
            Step::Click(i) => {
                if let Some((r, _, _)) = pick(&self.referrals, *i) {
                    let code = r.referral_code.to_string();
                    let origin = RequestOrigin {
                        ip_address: None,
                        user_agent: None,
                        source: None,
                    };
                    if referrals::record_click(conn, &code, &origin, self.now).is_ok() {
                        let clicked = [ClickedCode {
                            code,
                            first_clicked_at: self.now,
                        }];
                        referrals::mark_clicked(conn, &clicked).unwrap();
                    }
                }
            }
            Step::Register(i) => {
                if self.referrals.is_empty() {
                    return;
                }
                let at = i % self.referrals.len();
                let (r, email, _) = &self.referrals[at];
                let registered = referrals::register(
                    conn,
                    &r.referral_code.to_string(),
                    &registrant(email),
                    &policy,
                    self.now,
                );
                if let Ok(registration) = registered {
                    self.rewards.extend(registration.referee_reward.clone());
                    // Every other friend is reported commercial; the rest count as federal
                    // payers, whose referrers' rewards are withheld (and counted so).
                    let patient = if i % 2 == 0 {
                        report(
                            conn,
                            &registration.patient,
                            referral_domain::FactsInput {
                                federal_payer: Some(false),
                                ..Default::default()
                            },
                        )
                    } else {
                        registration.patient
                    };
                    self.referrals[at].2 = Some(patient);
                }
            }
            Step::Consult(i) => {
                if let Some((_, _, Some(friend))) = pick(&self.referrals, *i) {
                    let event = ConsultationEvent {
                        patient_id: friend.id,
                        consultation_id: ConsultationId::new_random(),
                        occurred_at: Some(self.now),
                    };
                    if let Ok(events::EventOutcome::Converted {
                        referrer_reward: Some(r),
                        ..
                    }) = events::record_consultation(conn, &event, &policy, self.now, None)
                    {
                        self.rewards.push(r);
                    }
                }
            }
            Step::Order { referral, cents } => {
                if let Some((_, _, Some(friend))) = pick(&self.referrals, *referral) {
                    let event = OrderEvent {
                        patient_id: friend.id,
                        order_id: OrderId::new_random(),
                        amount: Money::from_cents(*cents).unwrap(),
                        occurred_at: Some(self.now),
                    };
                    if let Ok(events::EventOutcome::Converted {
                        referrer_reward: Some(r),
                        ..
                    }) = events::record_order(conn, &event, &policy, self.now, None)
                    {
                        self.rewards.push(r);
                    }
                }
            }
            Step::Redeem(i) => {
                if let Some(reward) = pick(&self.rewards, *i) {
                    let target = RedemptionTarget::Order(OrderId::new_random());
                    let _ = rewards::redeem(
                        conn,
                        reward.id,
                        None,
                        &rewards::Redemption {
                            target,
                            amount: Some(referral_domain::Money::from_cents(10_000).unwrap()),
                        },
                        &referral_domain::InducementPolicy::default(),
                        self.now,
                    );
                }
            }
            Step::Approve { referral, approve } => {
                if let Some((r, _, _)) = pick(&self.referrals, *referral) {
                    let _ =
                        rewards::decide_approval(conn, r.id, *approve, Some("checked"), self.now);
                }
            }
            Step::Later { hours } => {
                self.now += Duration::hours(*hours);
                referrals::expire_due(conn, self.now).unwrap();
                rewards::expire_due(conn, self.now).unwrap();
            }
        }
    }
}

type DailyRow = (
    DbUuid,
    String,
    String,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
);

/// Both rollups, in a fixed order (with the queued referrer conversions folded in).
type ReferrerRow = (DbUuid, DbUuid, i64, i64);

fn snapshot(conn: &mut DbConnection) -> (Vec<DailyRow>, Vec<ReferrerRow>) {
    rollups::fold_referrer_conversions(conn).unwrap();
    let days: Vec<DailyRow> = daily::table
        .select((
            daily::program_id,
            daily::day,
            daily::variant,
            daily::referrals,
            daily::clicked,
            daily::registered,
            daily::converted,
            daily::rewards_granted,
            daily::rewards_withheld,
            daily::reward_value_cents,
            daily::rewards_paid_cents,
            daily::revenue_cents,
        ))
        .load(conn)
        .unwrap();
    let mut days: Vec<DailyRow> = days
        .into_iter()
        // A cohort every counter of which went back to zero is the same as no row.
        .filter(|r| {
            [r.3, r.4, r.5, r.6, r.7, r.8, r.9, r.10, r.11]
                .iter()
                .any(|n| *n != 0)
        })
        .collect();
    days.sort_by(|a, b| (a.0 .0, &a.1, &a.2).cmp(&(b.0 .0, &b.1, &b.2)));
    let mut referrers: Vec<ReferrerRow> = referrer_stats::table
        .select((
            referrer_stats::program_id,
            referrer_stats::referrer_id,
            referrer_stats::referrals,
            referrer_stats::converted,
        ))
        .load(conn)
        .unwrap();
    referrers.retain(|r| r.2 != 0 || r.3 != 0);
    referrers.sort_by_key(|r| (r.0 .0, r.1 .0));
    (days, referrers)
}

fn journey_keeps_rollups_equal_to_a_rebuild(db: &TestDb, steps: &[Step]) {
    let mut conn = db.conn();
    let mut journey = Journey::new(&mut conn);
    for step in steps {
        journey.apply(&mut conn, step);
    }
    let kept = snapshot(&mut conn);
    rollups::rebuild(&mut conn).unwrap();
    let rebuilt = snapshot(&mut conn);
    assert_eq!(kept.0, rebuilt.0, "daily rollups differ after {steps:?}");
    assert_eq!(kept.1, rebuilt.1, "referrer totals differ after {steps:?}");
    // The yearly-cap sum PostgreSQL's functions compute (with the domain's sets as
    // arguments) equals Rust's, for every patient the journey gave rewards (#32 item 4).
    if matches!(&**conn, DbConnection::Pg(_)) {
        let mut owners: Vec<_> = journey.rewards.iter().map(|r| r.patient_id).collect();
        owners.extend(journey.referrers.iter().map(|p| p.id));
        owners.sort_by_key(|p| p.as_uuid());
        owners.dedup();
        for owner in owners {
            let in_rust = rewards::granted_this_year(&mut conn, owner, journey.now).unwrap();
            let DbConnection::Pg(pg) = &mut **conn else {
                unreachable!()
            };
            let in_sql = events::granted_this_year_in_postgres(pg, owner, journey.now).unwrap();
            assert_eq!(
                in_sql,
                in_rust.cents(),
                "the caps' sum differs after {steps:?}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn on_sqlite(steps in proptest::collection::vec(step(), 5..60)) {
        journey_keeps_rollups_equal_to_a_rebuild(&TestDb::sqlite(), &steps);
    }

    #[test]
    #[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL was not set when the tests were built")]
    fn on_postgres(steps in proptest::collection::vec(step(), 5..60)) {
        if let Some(db) = TestDb::postgres() {
            journey_keeps_rollups_equal_to_a_rebuild(&db, &steps);
        }
    }
}

/// A journey that surely reaches every kind of change, so the property above is not
/// vacuous: its rollups hold clicks, registrations, conversions, rewards and revenue.
#[test]
fn a_full_journey_is_counted_and_equal_to_a_rebuild() {
    let mut steps = Vec::new();
    for i in 0..6 {
        steps.push(Step::Create {
            referrer: i % 3,
            program: i % 3,
        });
    }
    for i in 0..6 {
        steps.extend([Step::Click(i), Step::Register(i), Step::Consult(i)]);
        steps.push(Step::Order {
            referral: i,
            cents: 4_900,
        });
    }
    steps.extend([
        Step::Approve {
            referral: 2,
            approve: true,
        },
        Step::Approve {
            referral: 5,
            approve: false,
        },
        Step::Redeem(0),
        Step::Redeem(1),
        Step::Later { hours: 24 * 400 },
    ]);
    for db in [Some(TestDb::sqlite()), TestDb::postgres()]
        .into_iter()
        .flatten()
    {
        journey_keeps_rollups_equal_to_a_rebuild(&db, &steps);
        let (days, referrers) = snapshot(&mut db.conn());
        let total = |column: fn(&DailyRow) -> i64| days.iter().map(column).sum::<i64>();
        assert_eq!(total(|r| r.3), 6, "referrals");
        assert_eq!(total(|r| r.4), 6, "clicked");
        assert_eq!(total(|r| r.5), 6, "registered");
        assert_eq!(total(|r| r.6), 6, "converted");
        assert!(total(|r| r.7) >= 2, "rewards granted");
        // The friends never reported as commercial count as federal payers.
        assert!(total(|r| r.8) >= 2, "rewards withheld");
        assert!(total(|r| r.11) > 0, "revenue");
        assert!(!referrers.is_empty());
    }
}
