//! The analytics rollups, bumped inside the transaction of each change they count, so they
//! are never ahead of or behind the data: `referral_daily_stats` (per program, creation day
//! and variant) and `referrer_stats` (per referrer and program, plus an all-programs row).
//!
//! A referral's figures go to the row of the day it was *created* (its cohort), whenever
//! the later steps happen: "of the referrals made in March, how many converted".

use crate::conn::DbConnection;
use crate::error::StoreError;
use crate::schema::{referral_daily_stats as daily, referrals, referrer_stats};
use crate::sql_types::{DbTime, DbUuid};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use referral_domain::ReferralId;

/// The program id under which a referrer's totals over all programs are kept.
pub const ALL_PROGRAMS: uuid::Uuid = uuid::Uuid::nil();

/// The rollup rows a referral counts in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cohort {
    pub program_id: DbUuid,
    pub day: String,
    pub variant: String,
    pub referrer_id: DbUuid,
}

/// The day key of a creation time (UTC).
pub(crate) fn day_of(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

impl Cohort {
    pub(crate) fn new(
        program_id: DbUuid,
        created_at: DateTime<Utc>,
        variant: Option<&str>,
        referrer_id: DbUuid,
    ) -> Self {
        Cohort {
            program_id,
            day: day_of(created_at),
            variant: variant.unwrap_or_default().to_owned(),
            referrer_id,
        }
    }

    /// The cohort of a stored referral.
    pub(crate) fn of(conn: &mut DbConnection, referral: ReferralId) -> Result<Self, StoreError> {
        let (program_id, created_at, variant, referrer_id): (
            DbUuid,
            DbTime,
            Option<String>,
            DbUuid,
        ) = referrals::table
            .find(DbUuid::from(referral))
            .select((
                referrals::program_id,
                referrals::created_at,
                referrals::variant,
                referrals::referrer_id,
            ))
            .first(conn)?;
        Ok(Cohort::new(
            program_id,
            created_at.0,
            variant.as_deref(),
            referrer_id,
        ))
    }
}

/// Changes to one cohort row; unset fields stay as they are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Delta {
    pub referrals: i64,
    pub clicked: i64,
    pub registered: i64,
    pub converted: i64,
    pub rewards_granted: i64,
    pub rewards_withheld: i64,
    pub reward_value_cents: i64,
    pub rewards_paid_cents: i64,
    pub revenue_cents: i64,
}

/// Adds `delta` to the cohort's row (creating it).
pub(crate) fn bump(
    conn: &mut DbConnection,
    cohort: &Cohort,
    delta: Delta,
) -> Result<(), StoreError> {
    // Diesel's upsert is per backend; the statement is the same on both.
    macro_rules! upsert {
        ($c:expr) => {
            diesel::insert_into(daily::table)
                .values((
                    daily::program_id.eq(cohort.program_id),
                    daily::day.eq(&cohort.day),
                    daily::variant.eq(&cohort.variant),
                    daily::referrals.eq(delta.referrals),
                    daily::clicked.eq(delta.clicked),
                    daily::registered.eq(delta.registered),
                    daily::converted.eq(delta.converted),
                    daily::rewards_granted.eq(delta.rewards_granted),
                    daily::rewards_withheld.eq(delta.rewards_withheld),
                    daily::reward_value_cents.eq(delta.reward_value_cents),
                    daily::rewards_paid_cents.eq(delta.rewards_paid_cents),
                    daily::revenue_cents.eq(delta.revenue_cents),
                ))
                .on_conflict((daily::program_id, daily::day, daily::variant))
                .do_update()
                .set((
                    daily::referrals.eq(daily::referrals + excluded(daily::referrals)),
                    daily::clicked.eq(daily::clicked + excluded(daily::clicked)),
                    daily::registered.eq(daily::registered + excluded(daily::registered)),
                    daily::converted.eq(daily::converted + excluded(daily::converted)),
                    daily::rewards_granted
                        .eq(daily::rewards_granted + excluded(daily::rewards_granted)),
                    daily::rewards_withheld
                        .eq(daily::rewards_withheld + excluded(daily::rewards_withheld)),
                    daily::reward_value_cents
                        .eq(daily::reward_value_cents + excluded(daily::reward_value_cents)),
                    daily::rewards_paid_cents
                        .eq(daily::rewards_paid_cents + excluded(daily::rewards_paid_cents)),
                    daily::revenue_cents.eq(daily::revenue_cents + excluded(daily::revenue_cents)),
                ))
                .execute($c)
        };
    }
    if delta == Delta::default() {
        return Ok(());
    }
    match conn {
        DbConnection::Pg(c) => upsert!(c)?,
        DbConnection::Sqlite(c) => upsert!(c)?,
    };
    Ok(())
}

/// Adds to the referrer's totals in the cohort's program and over all programs.
pub(crate) fn bump_referrer(
    conn: &mut DbConnection,
    cohort: &Cohort,
    referrals_delta: i64,
    converted_delta: i64,
) -> Result<(), StoreError> {
    macro_rules! upsert {
        ($c:expr, $program:expr) => {
            diesel::insert_into(referrer_stats::table)
                .values((
                    referrer_stats::referrer_id.eq(cohort.referrer_id),
                    referrer_stats::program_id.eq($program),
                    referrer_stats::referrals.eq(referrals_delta),
                    referrer_stats::converted.eq(converted_delta),
                ))
                .on_conflict((referrer_stats::program_id, referrer_stats::referrer_id))
                .do_update()
                .set((
                    referrer_stats::referrals
                        .eq(referrer_stats::referrals + excluded(referrer_stats::referrals)),
                    referrer_stats::converted
                        .eq(referrer_stats::converted + excluded(referrer_stats::converted)),
                ))
                .execute($c)
        };
    }
    for program in [cohort.program_id, DbUuid(ALL_PROGRAMS)] {
        match conn {
            DbConnection::Pg(c) => upsert!(c, program)?,
            DbConnection::Sqlite(c) => upsert!(c, program)?,
        };
    }
    Ok(())
}

/// Recomputes both rollups from the tables (one transaction): after a bulk load, or to
/// repair them. The statements are the migration's backfill.
///
/// # Errors
/// Database errors.
pub fn rebuild(conn: &mut DbConnection) -> Result<(), StoreError> {
    use diesel::connection::SimpleConnection;
    crate::conn::write_transaction(conn, |conn| {
        let script = match conn {
            DbConnection::Pg(_) => REBUILD_POSTGRES,
            DbConnection::Sqlite(_) => REBUILD_SQLITE,
        };
        let script =
            format!("DELETE FROM referral_daily_stats; DELETE FROM referrer_stats; {script}");
        match conn {
            DbConnection::Pg(c) => c.batch_execute(&script)?,
            DbConnection::Sqlite(c) => c.batch_execute(&script)?,
        }
        Ok(())
    })
}

const REBUILD_POSTGRES: &str = r#"INSERT INTO referral_daily_stats (program_id, day, variant, referrals, clicked, registered, converted,
    rewards_granted, rewards_withheld, reward_value_cents, rewards_paid_cents, revenue_cents)
SELECT r.program_id, to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), COALESCE(r.variant, ''),
       count(*),
       count(*) FILTER (WHERE r.clicks > 0),
       count(*) FILTER (WHERE r.referee_registered_at IS NOT NULL),
       count(*) FILTER (WHERE r.status = 'converted'),
       COALESCE(sum(w.granted), 0), COALESCE(sum(w.withheld), 0), COALESCE(sum(w.value), 0),
       COALESCE(sum(w.paid), 0), COALESCE(sum(o.revenue), 0)
FROM referrals r
LEFT JOIN (
    SELECT referral_id,
           count(*) FILTER (WHERE status IN ('available', 'used', 'expired', 'pending_approval')
                            AND reward_type <> 'discount') AS granted,
           count(*) FILTER (WHERE withheld_reason IS NOT NULL) AS withheld,
           sum(reward_amount_cents) FILTER (WHERE status IN ('available', 'used', 'expired', 'pending_approval')
                                            AND reward_type <> 'discount') AS value,
           sum(reward_amount_cents) FILTER (WHERE reward_type <> 'discount'
                                            AND (status = 'used' OR (reward_type = 'cash' AND status = 'available'))) AS paid
    FROM referral_rewards GROUP BY referral_id
) w ON w.referral_id = r.id
LEFT JOIN (SELECT patient_id, sum(amount_cents) AS revenue FROM orders GROUP BY patient_id) o
    ON o.patient_id = r.referee_patient_id AND r.status = 'converted'
GROUP BY 1, 2, 3;

INSERT INTO referrer_stats (referrer_id, program_id, referrals, converted)
SELECT referrer_id, program_id, count(*), count(*) FILTER (WHERE status = 'converted')
FROM referrals GROUP BY referrer_id, program_id;
INSERT INTO referrer_stats (referrer_id, program_id, referrals, converted)
SELECT referrer_id, '00000000-0000-0000-0000-000000000000', count(*), count(*) FILTER (WHERE status = 'converted')
FROM referrals GROUP BY referrer_id;"#;

const REBUILD_SQLITE: &str = r#"INSERT INTO referral_daily_stats (program_id, day, variant, referrals, clicked, registered, converted,
    rewards_granted, rewards_withheld, reward_value_cents, rewards_paid_cents, revenue_cents)
SELECT r.program_id, substr(r.created_at, 1, 10), COALESCE(r.variant, ''),
       count(*),
       count(*) FILTER (WHERE r.clicks > 0),
       count(*) FILTER (WHERE r.referee_registered_at IS NOT NULL),
       count(*) FILTER (WHERE r.status = 'converted'),
       COALESCE(sum(w.granted), 0), COALESCE(sum(w.withheld), 0), COALESCE(sum(w.value), 0),
       COALESCE(sum(w.paid), 0), COALESCE(sum(o.revenue), 0)
FROM referrals r
LEFT JOIN (
    SELECT referral_id,
           count(*) FILTER (WHERE status IN ('available', 'used', 'expired', 'pending_approval')
                            AND reward_type <> 'discount') AS granted,
           count(*) FILTER (WHERE withheld_reason IS NOT NULL) AS withheld,
           sum(reward_amount_cents) FILTER (WHERE status IN ('available', 'used', 'expired', 'pending_approval')
                                            AND reward_type <> 'discount') AS value,
           sum(reward_amount_cents) FILTER (WHERE reward_type <> 'discount'
                                            AND (status = 'used' OR (reward_type = 'cash' AND status = 'available'))) AS paid
    FROM referral_rewards GROUP BY referral_id
) w ON w.referral_id = r.id
LEFT JOIN (SELECT patient_id, sum(amount_cents) AS revenue FROM orders GROUP BY patient_id) o
    ON o.patient_id = r.referee_patient_id AND r.status = 'converted'
GROUP BY 1, 2, 3;

INSERT INTO referrer_stats (referrer_id, program_id, referrals, converted)
SELECT referrer_id, program_id, count(*), count(*) FILTER (WHERE status = 'converted')
FROM referrals GROUP BY referrer_id, program_id;
INSERT INTO referrer_stats (referrer_id, program_id, referrals, converted)
SELECT referrer_id, '00000000-0000-0000-0000-000000000000', count(*), count(*) FILTER (WHERE status = 'converted')
FROM referrals GROUP BY referrer_id;"#;
