//! A realistic demo data set: programs (one with an experiment), referrers, referrals over
//! the last year in every status, their clicks and other interactions, rewards, orders, and
//! the rollups that match. For `cargo run` users who want something to look at, and for the
//! benchmarks (a million referrals and five million interactions on PostgreSQL).
//!
//! Rows are written in batches of a transaction each, straight into the tables: going
//! through the use cases one referral at a time would take hours at that size. The rollups
//! are then rebuilt from the tables ([`crate::rollups::rebuild`]), so they agree with them by
//! construction. The same seed gives the same data.
//!
//! One concept: the demo data set (about 600 lines, mostly the generator's tables).
//!
//! One concept: the demo data set; its length is the realistic mix of rows it writes.

use crate::conn::{write_transaction, DbConnection};
use crate::error::StoreError;
use crate::programs;
use crate::schema::{orders, patients, referral_interactions, referral_rewards, referrals};
use crate::sql_types::{DbTextList, DbTime, DbUuid};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use referral_domain::experiment;
use referral_domain::{PatientId, ProgramDraft, ProgramStatus, ReferralCode, ReferralStatus};
use std::str::FromStr;

/// The demo patient that `cargo run` users can sign in as (a referrer with referrals).
pub const DEMO_PATIENT_ID: uuid::Uuid = uuid::uuid!("00000000-0000-4000-8000-00000000d001");
/// The demo patient's email.
pub const DEMO_PATIENT_EMAIL: &str = "demo.patient@example.com";

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoOptions {
    /// Referrals to create.
    pub referrals: usize,
    /// Seed of the generator: the same seed gives the same data.
    pub seed: u64,
}

/// What was generated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DemoReport {
    /// Programs.
    pub programs: usize,
    /// Patients (referrers and registered referees).
    pub patients: usize,
    /// Referrals.
    pub referrals: usize,
    /// Interactions (clicks, emails sent, registrations, conversions).
    pub interactions: usize,
    /// Rewards.
    pub rewards: usize,
    /// Orders.
    pub orders: usize,
}

/// SplitMix64: a small, fast, seedable generator; demo data need no cryptography.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn uuid(&mut self) -> uuid::Uuid {
        let bytes = (u128::from(self.next()) << 64) | u128::from(self.next());
        uuid::Builder::from_random_bytes(bytes.to_le_bytes()).into_uuid()
    }

    fn code(&mut self) -> ReferralCode {
        let mut bytes = [0u8; referral_domain::code::CODE_BYTES];
        for b in &mut bytes {
            *b = u8::try_from(self.below(256)).unwrap_or(0);
        }
        ReferralCode::from_random_bytes(bytes)
    }
}

const FIRST_NAMES: [&str; 12] = [
    "Ava", "Ben", "Chloe", "Diego", "Emma", "Farah", "Gus", "Hana", "Ivan", "Jade", "Kofi", "Lena",
];
const LAST_NAMES: [&str; 8] = [
    "Nguyen", "Smith", "Garcia", "Okafor", "Kim", "Rossi", "Patel", "Cohen",
];

fn name(rng: &mut Rng) -> String {
    format!(
        "{} {}",
        FIRST_NAMES[usize::try_from(rng.below(12)).unwrap_or(0)],
        LAST_NAMES[usize::try_from(rng.below(8)).unwrap_or(0)]
    )
}

/// The demo programs: (draft as JSON, status).
fn program_drafts() -> Vec<(serde_json::Value, ProgramStatus)> {
    use serde_json::json;
    vec![
        (
            json!({"name": "Friends and family", "description": "25.00 credit for you, 20% off for your friend",
                "referrer_reward_type": "credit", "referrer_reward_value": "25.00",
                "referee_reward_type": "discount", "referee_reward_value": "20"}),
            ProgramStatus::Active,
        ),
        (
            json!({"name": "Spring experiment", "description": "Which bonus brings more friends?",
                "referrer_reward_type": "credit", "referrer_reward_value": "20.00",
                "referee_reward_type": "credit", "referee_reward_value": "10.00",
                "variants": [{"name": "control"},
                             {"name": "bigger bonus", "referrer_reward_value": "35.00",
                              "invitation_headline": "Give $10, get $35"}]}),
            ProgramStatus::Active,
        ),
        (
            json!({"name": "Mental health awareness", "referrer_reward_type": "free_consultation",
                "referrer_reward_value": "60.00", "referee_reward_type": "free_consultation",
                "referee_reward_value": "60.00", "max_referrals_per_patient": 50,
                "target_conditions": ["anxiety", "depression"]}),
            ProgramStatus::Active,
        ),
        (
            json!({"name": "Partner cash bonus", "referrer_reward_type": "cash", "referrer_reward_value": "50.00",
                "reward_threshold": 2}),
            ProgramStatus::Active,
        ),
        (
            json!({"name": "Winter promo", "referrer_reward_type": "credit", "referrer_reward_value": "15.00",
                "referee_reward_type": "discount", "referee_reward_value": "15"}),
            ProgramStatus::Paused,
        ),
        (
            json!({"name": "Launch campaign", "referrer_reward_type": "credit", "referrer_reward_value": "30.00"}),
            ProgramStatus::Ended,
        ),
    ]
}

/// Runs a multi-row insert on the concrete connection: Diesel's batch inserts are per
/// backend, the statement is the same.
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            DbConnection::Pg($c) => {
                $body?;
            }
            DbConnection::Sqlite($c) => {
                $body?;
            }
        }
    };
}

/// A patient row: id, email, name, conditions, federal payer, lock version, created,
/// updated.
type PatientRow = (
    DbUuid,
    String,
    Option<String>,
    DbTextList,
    bool,
    i64,
    DbTime,
    DbTime,
);

/// Rows of one batch.
#[derive(Default)]
struct Batch {
    patients: Vec<PatientRow>,
    referrals: Vec<ReferralInsert>,
    interactions: Vec<(DbUuid, DbUuid, &'static str, Option<String>, DbTime)>,
    rewards: Vec<RewardInsert>,
    orders: Vec<(DbUuid, DbUuid, i64, DbTime, DbTime)>,
    /// Fraud signals: (referral, signal, raised at, evidence JSON).
    signals: Vec<(DbUuid, &'static str, DbTime, String)>,
}

#[derive(Insertable)]
#[diesel(table_name = referrals)]
struct ReferralInsert {
    id: DbUuid,
    referral_code: String,
    referrer_id: DbUuid,
    referee_email: String,
    referee_name: Option<String>,
    referee_patient_id: Option<DbUuid>,
    program_id: DbUuid,
    referral_source: Option<&'static str>,
    status: &'static str,
    referee_registered_at: Option<DbTime>,
    converted_at: Option<DbTime>,
    referrer_reward_status: &'static str,
    referee_reward_status: &'static str,
    first_clicked_at: Option<DbTime>,
    expires_at: DbTime,
    created_at: DbTime,
    updated_at: DbTime,
    variant: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = referral_rewards)]
struct RewardInsert {
    id: DbUuid,
    referral_id: DbUuid,
    patient_id: DbUuid,
    party: &'static str,
    reward_type: &'static str,
    reward_amount_cents: Option<i64>,
    reward_description: Option<String>,
    status: &'static str,
    used_at: Option<DbTime>,
    expires_at: Option<DbTime>,
    created_at: DbTime,
    updated_at: DbTime,
    released_at: Option<DbTime>,
    release_notified_at: Option<DbTime>,
    cancel_reason: Option<&'static str>,
}

impl Batch {
    fn write(&mut self, conn: &mut DbConnection) -> Result<(), StoreError> {
        use crate::schema::{orders as o, patients as p, referral_interactions as i};
        write_transaction(conn, |conn| {
            // Chunks keep each statement under SQLite's 32,766 bind parameters (PostgreSQL allows
            // 65,535): rows times columns (nine for a patient).
            for chunk in self.patients.chunks(3000) {
                let rows: Vec<_> = chunk
                    .iter()
                    .map(
                        |(id, email, name, conditions, federal, version, created, updated)| {
                            (
                                p::id.eq(*id),
                                p::email.eq(email),
                                p::name.eq(name),
                                p::conditions.eq(conditions.clone()),
                                p::federal_payer.eq(*federal),
                                // The demo's platform has reported every payer.
                                p::payer_reported.eq(true),
                                p::lock_version.eq(*version),
                                p::created_at.eq(*created),
                                p::updated_at.eq(*updated),
                            )
                        },
                    )
                    .collect();
                on_backend!(conn, |c| diesel::insert_into(patients::table)
                    .values(&rows)
                    .execute(c));
            }
            for chunk in self.referrals.chunks(1500) {
                on_backend!(conn, |c| diesel::insert_into(referrals::table)
                    .values(chunk)
                    .execute(c));
            }
            for chunk in self.interactions.chunks(6000) {
                let rows: Vec<_> = chunk
                    .iter()
                    .map(|(id, referral, kind, source, at)| {
                        (
                            i::id.eq(*id),
                            i::referral_id.eq(*referral),
                            i::interaction_type.eq(*kind),
                            i::source.eq(source.clone()),
                            i::created_at.eq(*at),
                        )
                    })
                    .collect();
                on_backend!(conn, |c| diesel::insert_into(referral_interactions::table)
                    .values(&rows)
                    .execute(c));
            }
            // 14 columns: 2,300 rows stay under SQLite's 32,766 bind parameters.
            for chunk in self.rewards.chunks(2300) {
                on_backend!(conn, |c| diesel::insert_into(referral_rewards::table)
                    .values(chunk)
                    .execute(c));
            }
            for chunk in self.signals.chunks(6000) {
                use crate::schema::referral_signals as s;
                let rows: Vec<_> = chunk
                    .iter()
                    .map(|(referral, signal, at, evidence)| {
                        (
                            s::referral_id.eq(*referral),
                            s::signal.eq(*signal),
                            s::raised_at.eq(*at),
                            s::evidence.eq(evidence.clone()),
                        )
                    })
                    .collect();
                on_backend!(conn, |c| diesel::insert_into(s::table)
                    .values(&rows)
                    .execute(c));
            }
            for chunk in self.orders.chunks(6000) {
                let rows: Vec<_> = chunk
                    .iter()
                    .map(|(id, patient, cents, at, created)| {
                        (
                            o::id.eq(*id),
                            o::patient_id.eq(*patient),
                            o::amount_cents.eq(*cents),
                            o::occurred_at.eq(*at),
                            o::created_at.eq(*created),
                        )
                    })
                    .collect();
                on_backend!(conn, |c| diesel::insert_into(orders::table)
                    .values(&rows)
                    .execute(c));
            }
            Ok(())
        })?;
        *self = Batch::default();
        Ok(())
    }
}

/// Fills an empty database with demo data; `progress` gets a line now and then.
///
/// # Errors
/// [`StoreError::Config`] when the database already holds referrals (the demo is for an
/// empty one); database errors.
pub fn seed(
    conn: &mut DbConnection,
    options: DemoOptions,
    now: DateTime<Utc>,
    mut progress: impl FnMut(&str),
) -> Result<DemoReport, StoreError> {
    let existing: i64 = referrals::table.count().get_result(conn)?;
    if existing > 0 {
        return Err(StoreError::Config(format!(
            "the database already holds {existing} referrals; seed-demo fills an empty database"
        )));
    }
    let mut rng = Rng(options.seed);
    let mut report = DemoReport::default();

    let mut programs = Vec::new();
    for (json, status) in program_drafts() {
        let draft: ProgramDraft =
            serde_json::from_value(json).map_err(|e| StoreError::Config(e.to_string()))?;
        let valid = draft.validate()?;
        programs.push(programs::create(
            conn,
            &valid,
            status,
            None,
            now - Duration::days(400),
        )?);
    }
    report.programs = programs.len();

    // Referrers: about one per five referrals, the first being the demo patient.
    let referrer_count = (options.referrals / 5).max(1);
    let mut batch = Batch::default();
    let mut referrers = Vec::with_capacity(referrer_count);
    for n in 0..referrer_count {
        let id = if n == 0 { DEMO_PATIENT_ID } else { rng.uuid() };
        let email = if n == 0 {
            DEMO_PATIENT_EMAIL.to_owned()
        } else {
            format!("referrer{n}@demo.example.com")
        };
        let created = DbTime(now - Duration::days(400));
        batch.patients.push((
            DbUuid(id),
            email,
            Some(if n == 0 {
                "Demo Patient".to_owned()
            } else {
                name(&mut rng)
            }),
            DbTextList(if rng.chance(20) {
                vec!["anxiety".into()]
            } else {
                vec![]
            }),
            false,
            0,
            created,
            created,
        ));
        referrers.push(PatientId::from_uuid(id));
        if batch.patients.len() >= 20_000 {
            batch.write(conn)?;
        }
    }
    batch.write(conn)?;
    report.patients += referrer_count;
    progress(&format!(
        "{} programs and {referrer_count} referrers",
        programs.len()
    ));

    let year_seconds = 365 * 24 * 3600;
    let step = (options.referrals / 20).max(1);
    for n in 0..options.referrals {
        // The demo patient gets a handful of referrals, the rest are spread at random.
        let referrer = if n < 6 {
            referrers[0]
        } else {
            referrers[usize::try_from(rng.below(referrer_count as u64)).unwrap_or(0)]
        };
        let program = &programs[usize::try_from(rng.below(programs.len() as u64)).unwrap_or(0)];
        let created = now
            - Duration::seconds(i64::try_from(rng.below(year_seconds)).unwrap_or(0))
            - Duration::minutes(5);
        let expires = created + Duration::days(i64::from(program.expiry_days));
        let id = DbUuid(rng.uuid());
        let variant =
            experiment::assign(&program.variants, program.id, referrer).map(|v| v.name.clone());
        let source = match rng.below(4) {
            0 | 1 => "email",
            2 => "direct_link",
            _ => "social",
        };
        // About five interactions a referral in all, as in production.
        let clicks = match rng.below(10) {
            0..=2 => 0,
            3..=6 => 1 + rng.below(5),
            _ => 5 + rng.below(9),
        };
        // Of the referrals, about 45% register and 55% of those convert; better odds for
        // the experiment's bigger bonus, so that it shows.
        let registers = clicks > 0 && rng.chance(60);
        let converts = registers
            && rng.chance(if variant.as_deref() == Some("bigger bonus") {
                70
            } else {
                55
            });
        // Nothing is dated ahead of `now` (#31): what would fall later happened just now.
        // The clamp keeps the order of events (registered before converted, and so on).
        let past = |t: DateTime<Utc>| t.min(now - Duration::minutes(1));
        let registered_at = registers.then(|| {
            past(created + Duration::hours(1 + i64::try_from(rng.below(72)).unwrap_or(0)))
        });
        let converted_at = registered_at
            .filter(|_| converts)
            .map(|r| past(r + Duration::hours(1 + i64::try_from(rng.below(240)).unwrap_or(0))));
        // A few conversions are held for review (a signal raised) and a few were reversed
        // (a refund): a first look at the portal finds a review queue and every status.
        let fate = if converts {
            match rng.below(100) {
                0..=3 => Fate::InReview,
                4..=6 => Fate::Reversed,
                _ => Fate::Kept,
            }
        } else {
            Fate::Kept
        };
        let status = if fate == Fate::Reversed {
            ReferralStatus::Reversed
        } else if converts {
            ReferralStatus::Converted
        } else if registers {
            ReferralStatus::Registered
        } else if rng.chance(5) {
            ReferralStatus::Declined
        } else if expires <= now {
            ReferralStatus::Expired
        } else {
            ReferralStatus::Pending
        };
        let referee_email = format!("friend{n}@demo.example.com");
        let referee_id = registers.then(|| DbUuid(rng.uuid()));
        if let (Some(pid), Some(at)) = (referee_id, registered_at) {
            batch.patients.push((
                pid,
                referee_email.clone(),
                Some(name(&mut rng)),
                DbTextList(vec![]),
                false,
                0,
                DbTime(at),
                DbTime(at),
            ));
            report.patients += 1;
        }
        let mut first_clicked = None;
        if source == "email" {
            batch.interactions.push((
                DbUuid(rng.uuid()),
                id,
                "email_sent",
                Some("outbox".into()),
                DbTime(created),
            ));
        }
        for c in 0..clicks {
            let at = past(created + Duration::minutes(i64::try_from(10 + c * 37).unwrap_or(10)));
            first_clicked = first_clicked.or(Some(DbTime(at)));
            let via = ["email", "whatsapp", "facebook", "sms"]
                [usize::try_from(rng.below(4)).unwrap_or(0)];
            batch.interactions.push((
                DbUuid(rng.uuid()),
                id,
                "click",
                Some(via.into()),
                DbTime(at),
            ));
        }
        if let Some(at) = registered_at {
            batch
                .interactions
                .push((DbUuid(rng.uuid()), id, "registration", None, DbTime(at)));
        }
        if let Some(at) = converted_at {
            batch
                .interactions
                .push((DbUuid(rng.uuid()), id, "conversion", None, DbTime(at)));
        }

        let referee_spec = program.referee_reward_in(variant.as_deref());
        let referrer_spec = program.referrer_reward_in(variant.as_deref());
        let reward = |rng: &mut Rng,
                      party: &'static str,
                      patient: DbUuid,
                      spec: &referral_domain::RewardSpec,
                      at: DateTime<Utc>| {
            let pending_approval =
                fate == Fate::Kept && spec.reward_type.is_paid_out() && rng.chance(30);
            // As the service releases them (the default weekly cadence): a referrer's at
            // the end of its week, the friend's at once. Only a released reward is used,
            // and never before its release.
            let released = if party == "referrer" {
                referral_domain::RewardCadence::Weekly.release_at(at)
            } else {
                at
            };
            let used = fate == Fate::Kept && !pending_approval && released <= now && rng.chance(40);
            let used_at = (released.max(at + Duration::days(3))).min(now);
            let reward_expires = at + Duration::days(i64::from(program.reward_validity_days));
            let status = if fate == Fate::InReview {
                "in_review"
            } else if fate == Fate::Reversed {
                "cancelled"
            } else if pending_approval {
                "pending_approval"
            } else if used {
                "used"
            } else if reward_expires <= now {
                "expired"
            } else {
                "available"
            };
            RewardInsert {
                id: DbUuid(rng.uuid()),
                referral_id: id,
                patient_id: patient,
                party,
                reward_type: spec.reward_type.as_str(),
                reward_amount_cents: Some(spec.value.cents()),
                reward_description: Some(spec.description()),
                status,
                used_at: used.then_some(DbTime(used_at)),
                expires_at: Some(DbTime(reward_expires)),
                created_at: DbTime(at),
                updated_at: DbTime(at),
                // In review: not released until an admin approves it.
                released_at: (fate != Fate::InReview).then_some(DbTime(released)),
                // A release in the past was told then: the demo's first worker round would
                // otherwise send a year of notices at once (and a benchmark would measure it).
                release_notified_at: (fate != Fate::InReview && released <= now)
                    .then_some(DbTime(released)),
                cancel_reason: (fate == Fate::Reversed).then_some("conversion_reversed"),
            }
        };
        if let (Fate::InReview, Some(at)) = (fate, converted_at) {
            batch
                .signals
                .push((id, "invited_address_mismatch", DbTime(at), "{}".to_owned()));
        }
        let mut referee_status = "pending";
        if let (Some(pid), Some(at), Some(spec)) =
            (referee_id, registered_at, referee_spec.as_ref())
        {
            let r = reward(&mut rng, "referee", pid, spec, at);
            referee_status = mirror(r.status);
            batch.rewards.push(r);
        }
        let mut referrer_status = "pending";
        if let (Some(at), Some(spec)) = (converted_at, referrer_spec.as_ref()) {
            let r = reward(&mut rng, "referrer", DbUuid::from(referrer), spec, at);
            referrer_status = mirror(r.status);
            batch.rewards.push(r);
        }
        // A reversed conversion's order was refunded: it is no revenue.
        if let (Some(pid), Some(at), Fate::Kept | Fate::InReview) = (referee_id, converted_at, fate)
        {
            for k in 0..=rng.below(3) {
                let cents = i64::try_from(2_900 + rng.below(17_000)).unwrap_or(2_900);
                let when = past(at + Duration::days(i64::try_from(k * 20).unwrap_or(0)));
                batch
                    .orders
                    .push((DbUuid(rng.uuid()), pid, cents, DbTime(when), DbTime(when)));
            }
        }
        batch.referrals.push(ReferralInsert {
            id,
            referral_code: rng.code().to_string(),
            referrer_id: DbUuid::from(referrer),
            referee_email,
            referee_name: Some(name(&mut rng)),
            referee_patient_id: referee_id,
            program_id: DbUuid::from(program.id),
            referral_source: Some(source),
            status: status.as_str(),
            referee_registered_at: registered_at.map(DbTime),
            converted_at: converted_at.map(DbTime),
            referrer_reward_status: referrer_status,
            referee_reward_status: referee_status,
            first_clicked_at: first_clicked,
            expires_at: DbTime(expires),
            created_at: DbTime(created),
            updated_at: DbTime(converted_at.or(registered_at).unwrap_or(created)),
            variant,
        });
        report.referrals += 1;
        if batch.referrals.len() >= 5_000 {
            report.interactions += batch.interactions.len();
            report.rewards += batch.rewards.len();
            report.orders += batch.orders.len();
            batch.write(conn)?;
        }
        if (n + 1) % step == 0 {
            progress(&format!("{} of {} referrals", n + 1, options.referrals));
        }
    }
    report.interactions += batch.interactions.len();
    report.rewards += batch.rewards.len();
    report.orders += batch.orders.len();
    batch.write(conn)?;
    progress("rebuilding the analytics rollups");
    crate::rollups::rebuild(conn)?;
    // Fresh planner statistics for the tables just filled.
    progress("analyzing the tables");
    diesel::sql_query("ANALYZE").execute(conn)?;
    Ok(report)
}

/// The referral's mirror of a reward status: the domain's one rule.
fn mirror(status: &str) -> &'static str {
    status
        .parse::<referral_domain::RewardStatus>()
        .map_or("pending", |s| {
            referral_domain::PartyRewardStatus::mirror(s).as_str()
        })
}

/// What became of a demo conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// It stands.
    Kept,
    /// A fraud signal holds its rewards in review.
    InReview,
    /// A refund reversed it; its rewards were cancelled.
    Reversed,
}

impl FromStr for DemoOptions {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let referrals = s.parse().map_err(|_| format!("not a number: {s}"))?;
        Ok(DemoOptions { referrals, seed: 1 })
    }
}
