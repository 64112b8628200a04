//! Programs and patients on both databases.

use chrono::{TimeZone, Utc};
use referral_domain::{Email, PatientId, ProgramDraft, ProgramStatus, ProviderId};
use referral_store::page::Page;
use referral_store::patients::{self, PatientDetails};
use referral_store::testing::TestDb;
use referral_store::{both_databases, programs, StoreError};

fn draft() -> ProgramDraft {
    serde_json::from_value(serde_json::json!({
        "name": "Spring",
        "referrer_reward_type": "credit",
        "referrer_reward_value": "25.00",
        "referee_reward_type": "discount",
        "referee_reward_value": "20",
        "max_referrals_per_patient": 3,
        "target_conditions": ["Diabetes"],
        "target_demographics": {"min_age": 18, "states": ["ca"]},
        "start_date": "2026-01-01",
    }))
    .unwrap()
}

both_databases!(program_round_trip, |db: &TestDb| {
    let mut conn = db.conn();
    let now = Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap();
    let provider = ProviderId::new_random();
    let valid = draft().validate().unwrap();
    let created = programs::create(
        &mut conn,
        &valid,
        ProgramStatus::Active,
        Some(provider),
        now,
    )
    .unwrap();
    assert_eq!(created.name, "Spring");
    assert_eq!(
        created.referrer_reward_value.as_ref().unwrap().to_string(),
        "25.00"
    );
    assert_eq!(created.target_conditions, vec!["diabetes".to_string()]);
    assert_eq!(created.target_demographics.states, vec!["CA".to_string()]);
    assert_eq!(created.created_at, now);
    assert_eq!(created.created_by, Some(provider));
    let fetched = programs::get(&mut conn, created.id).unwrap();
    assert_eq!(fetched, created);

    let mut changed = draft();
    changed.name = "Summer".into();
    let later = now + chrono::Duration::days(1);
    let updated = programs::update(
        &mut conn,
        created.id,
        &changed.validate().unwrap(),
        Some(ProgramStatus::Ended),
        later,
    )
    .unwrap();
    assert_eq!(updated.name, "Summer");
    assert_eq!(updated.status, ProgramStatus::Ended);
    assert_eq!(updated.updated_at, later);
    let err = programs::update(
        &mut conn,
        created.id,
        &valid,
        Some(ProgramStatus::Active),
        later,
    )
    .unwrap_err();
    assert!(matches!(
        err,
        StoreError::Domain(referral_domain::DomainError::ProgramAlreadyEnded)
    ));

    let listed =
        programs::list(&mut conn, Some(ProgramStatus::Ended), None, Page::default()).unwrap();
    assert_eq!(listed.total, 1);
    assert_eq!(
        programs::list(
            &mut conn,
            Some(ProgramStatus::Active),
            None,
            Page::default()
        )
        .unwrap()
        .total,
        0
    );

    programs::delete(&mut conn, created.id).unwrap();
    assert!(matches!(
        programs::get(&mut conn, created.id),
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        programs::delete(&mut conn, created.id),
        Err(StoreError::NotFound)
    ));
});

both_databases!(patients_from_claims, |db: &TestDb| {
    let mut conn = db.conn();
    let now = Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap();
    let id = PatientId::new_random();
    let details = PatientDetails {
        id,
        email: Email::parse("Alice@Example.com").unwrap(),
        name: Some("Alice".into()),
        phone: None,
    };
    let p = patients::upsert_from_claims(&mut conn, &details, now).unwrap();
    assert_eq!(p.email.as_str(), "alice@example.com");
    let again = patients::upsert_from_claims(&mut conn, &details, now).unwrap();
    assert_eq!(again, p);
    let other = PatientDetails {
        id: PatientId::new_random(),
        ..details.clone()
    };
    assert!(matches!(
        patients::upsert_from_claims(&mut conn, &other, now),
        Err(StoreError::EmailInUse)
    ));
    assert_eq!(p.payer_fact(), None, "never reported");
    let facts = referral_domain::FactsInput {
        date_of_birth: chrono::NaiveDate::from_ymd_opt(1990, 1, 1),
        state: Some("ca"),
        conditions: Some(vec!["diabetes"]),
        federal_payer: Some(true),
    }
    .parse(now.date_naive())
    .unwrap();
    let updated = patients::report_facts(&mut conn, id, &facts, now).unwrap();
    assert_eq!(updated.state.as_deref(), Some("CA"));
    assert_eq!(updated.payer_fact(), Some(true));
    assert_eq!(updated.conditions, vec!["diabetes".to_string()]);
    assert_eq!(updated.facts_reported_at, Some(now));
    // A partial report keeps the rest; the same report again changes nothing.
    let payer_only = referral_domain::FactsInput {
        federal_payer: Some(false),
        ..Default::default()
    }
    .parse(now.date_naive())
    .unwrap();
    let after = patients::report_facts(&mut conn, id, &payer_only, now).unwrap();
    assert_eq!(after.payer_fact(), Some(false));
    assert_eq!(after.state.as_deref(), Some("CA"));
    assert_eq!(after.conditions, vec!["diabetes".to_string()]);
    assert_eq!(
        patients::report_facts(&mut conn, id, &payer_only, now).unwrap(),
        after
    );
});

both_databases!(facts_reported_at_once_keep_each_other, |db: &TestDb| {
    let now = Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap();
    let id = PatientId::new_random();
    let details = PatientDetails {
        id,
        email: Email::parse("dana@example.com").unwrap(),
        name: None,
        phone: None,
    };
    patients::upsert_from_claims(&mut db.conn(), &details, now).unwrap();
    // Many reports at once, each of one fact: none may write back another's stale value.
    let barrier = std::sync::Barrier::new(8);
    std::thread::scope(|scope| {
        for i in 0..8 {
            let barrier = &barrier;
            scope.spawn(move || {
                let input = if i % 2 == 0 {
                    referral_domain::FactsInput {
                        state: Some("NY"),
                        ..Default::default()
                    }
                } else {
                    referral_domain::FactsInput {
                        federal_payer: Some(true),
                        ..Default::default()
                    }
                };
                let facts = input.parse(now.date_naive()).unwrap();
                let mut conn = db.conn();
                barrier.wait();
                patients::report_facts(&mut conn, id, &facts, now).unwrap();
            });
        }
    });
    let stored = patients::get(&mut db.conn(), id).unwrap();
    assert_eq!(stored.state.as_deref(), Some("NY"));
    assert_eq!(stored.payer_fact(), Some(true));
});

both_databases!(
    a_booking_page_is_kept_and_the_database_refuses_one_that_is_not_https,
    |db: &TestDb| {
        let mut conn = db.conn();
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap();
        let mut with_page = draft();
        with_page.booking_url = Some("https://book.example.com/first".into());
        let created = programs::create(
            &mut conn,
            &with_page.validate().unwrap(),
            ProgramStatus::Active,
            None,
            now,
        )
        .unwrap();
        assert_eq!(
            programs::get(&mut conn, created.id)
                .unwrap()
                .booking_url
                .as_deref(),
            Some("https://book.example.com/first")
        );
        // Written around the domain's check, the database still refuses it.
        let mut forged = draft().validate().unwrap();
        forged.booking_url = Some("http://book.example.com".into());
        assert!(
            programs::create(&mut conn, &forged, ProgramStatus::Active, None, now).is_err(),
            "a plain http booking page reached the table"
        );
        let total = programs::list(&mut conn, None, None, Page::new(Some(50), None))
            .unwrap()
            .total;
        assert_eq!(total, 1, "nothing was written");
    }
);
