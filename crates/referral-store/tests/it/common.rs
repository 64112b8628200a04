//! Fixtures shared by the store's test files.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, TimeZone, Utc};
use referral_domain::FactsInput;
use referral_domain::{Email, InducementPolicy, PatientId, ProgramDraft, ProgramId, ProgramStatus};
use referral_store::conn::DbConnection;
use referral_store::patients::{self, Patient, PatientDetails};
use referral_store::programs::{self, Program};
use referral_store::referrals::{self, NewReferral, Referral, Registrant, Registration};
use ring::rand::SystemRandom;

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 30, 0).unwrap()
}

/// A week and a day after [`t0`]: past the weekly release of what was granted that week,
/// when a referrer sees it and is told.
pub fn after_release() -> DateTime<Utc> {
    t0() + chrono::Duration::days(8)
}

pub fn program(conn: &mut DbConnection, overrides: serde_json::Value) -> Program {
    let mut base = serde_json::json!({
        "name": "Friends and family",
        "referrer_reward_type": "credit",
        "referrer_reward_value": "25.00",
        "referee_reward_type": "discount",
        "referee_reward_value": "20",
    });
    if let (Some(base), Some(extra)) = (base.as_object_mut(), overrides.as_object()) {
        for (k, v) in extra {
            base.insert(k.clone(), v.clone());
        }
    }
    let draft: ProgramDraft = serde_json::from_value(base).unwrap();
    programs::create(
        conn,
        &draft.validate().unwrap(),
        ProgramStatus::Active,
        None,
        t0(),
    )
    .unwrap()
}

/// A patient the platform reported as a commercial payer (a patient never reported is
/// treated as a federal payer: see `unknown_payers_are_federal_payers`).
pub fn patient(conn: &mut DbConnection, email: &str) -> Patient {
    let created = patients::upsert_from_claims(
        conn,
        &PatientDetails {
            id: PatientId::new_random(),
            email: Email::parse(email).unwrap(),
            name: Some("Pat".into()),
            phone: None,
        },
        t0(),
    )
    .unwrap();
    report(
        conn,
        &created,
        FactsInput {
            federal_payer: Some(false),
            ..FactsInput::default()
        },
    )
}

/// Reports `facts` about `patient` as the platform would.
pub fn report(conn: &mut DbConnection, patient: &Patient, facts: FactsInput<'_>) -> Patient {
    let update = facts.parse(t0().date_naive()).unwrap();
    patients::report_facts(conn, patient.id, &update, t0()).unwrap()
}

pub fn new_referral(referrer: &Patient, program: &Program, referee: &str) -> NewReferral {
    NewReferral {
        referrer_id: referrer.id,
        program_id: Some(program.id),
        referee_email: Email::parse(referee).unwrap(),
        referee_phone: None,
        referee_name: Some("Friend".into()),
        referral_source: None,
        referral_message: None,
        sms_attestation: None,
        locale: Default::default(),
    }
}

pub fn refer(
    conn: &mut DbConnection,
    referrer: &Patient,
    program: &Program,
    referee: &str,
) -> Referral {
    referrals::create(
        conn,
        &SystemRandom::new(),
        &new_referral(referrer, program, referee),
        t0(),
    )
    .unwrap()
}

pub fn registrant(email: &str) -> Registrant {
    Registrant {
        patient_id: None,
        email: Email::parse(email).unwrap(),
        name: None,
        phone: None,
        share_with_referrer: false,
        locale: None,
        steps: Vec::new(),
    }
}

/// Registers `email` with the referral's code; the platform then reports the new patient
/// as a commercial payer (a friend never reported counts as a federal payer, whose
/// referrer gets nothing: see `federal_payer_referees_earn_the_referrer_nothing`).
pub fn register(conn: &mut DbConnection, referral: &Referral, email: &str) -> Registration {
    let mut registration = referrals::register(
        conn,
        &referral.referral_code.to_string(),
        &registrant(email),
        &InducementPolicy::default(),
        t0(),
    )
    .unwrap();
    registration.patient = report(
        conn,
        &registration.patient,
        FactsInput {
            federal_payer: Some(false),
            ..FactsInput::default()
        },
    );
    registration
}

/// The most common start: Alice refers Bob in a program with the defaults, and Bob registers.
pub struct AliceReferredBob {
    pub program: Program,
    pub alice: Patient,
    pub referral: Referral,
    pub bob: Patient,
}

pub fn alice_referred_bob(conn: &mut DbConnection) -> AliceReferredBob {
    let program = program(conn, serde_json::json!({}));
    let alice = patient(conn, "alice@example.com");
    let referral = refer(conn, &alice, &program, "bob@example.com");
    let bob = register(conn, &referral, "bob@example.com").patient;
    AliceReferredBob {
        program,
        alice,
        referral,
        bob,
    }
}

/// A new consultation of `patient`, now.
pub fn consultation(patient: &Patient) -> referral_store::events::ConsultationEvent {
    referral_store::events::ConsultationEvent {
        patient_id: patient.id,
        consultation_id: referral_domain::ConsultationId::new_random(),
        occurred_at: None,
    }
}

/// The all-time analytics, of one program or of all.
pub fn summary(
    conn: &mut DbConnection,
    program_id: Option<ProgramId>,
) -> referral_store::analytics::Analytics {
    referral_store::analytics::summary(
        conn,
        &referral_store::analytics::AnalyticsFilter {
            program_id,
            ..Default::default()
        },
    )
    .unwrap()
}

/// Using a reward on `order`, an order of 100.00.
pub fn on_order(order: referral_domain::OrderId) -> referral_store::rewards::Redemption {
    referral_store::rewards::Redemption {
        target: referral_domain::RedemptionTarget::Order(order),
        amount: Some(referral_domain::Money::from_cents(10_000).unwrap()),
    }
}
