//! The analytics rollups, bumped inside the transaction of each change they count, so they
//! are never ahead of or behind the data: `referral_daily_stats` (per program, creation day
//! and variant) and `referrer_stats` (per referrer and program, plus an all-programs row).
//!
//! One exception: a conversion queues its referrer's count in `referrer_stats_pending`
//! instead of updating two `referrer_stats` rows (not HOT updates: the top-referrers index
//! holds `converted`; they were a fifth of a conversion's time under load). The queue is
//! folded in batches every second, and by every read of `referrer_stats` first
//! ([`fold_referrer_conversions`]), so what a read shows is still exact.
//!
//! A referral's figures go to the row of the day it was *created* (its cohort), whenever
//! the later steps happen: "of the referrals made in March, how many converted".

use crate::conn::DbConnection;
use crate::error::StoreError;
use crate::schema::{
    referral_daily_stats as daily, referrals, referrer_stats, referrer_stats_pending as pending,
};
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

impl Delta {
    /// Both changes at once.
    pub(crate) fn plus(self, other: Delta) -> Delta {
        Delta {
            referrals: self.referrals + other.referrals,
            clicked: self.clicked + other.clicked,
            registered: self.registered + other.registered,
            converted: self.converted + other.converted,
            rewards_granted: self.rewards_granted + other.rewards_granted,
            rewards_withheld: self.rewards_withheld + other.rewards_withheld,
            reward_value_cents: self.reward_value_cents + other.reward_value_cents,
            rewards_paid_cents: self.rewards_paid_cents + other.rewards_paid_cents,
            revenue_cents: self.revenue_cents + other.revenue_cents,
        }
    }
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
    // Both rows (the program's and all programs') in one statement.
    let row = |program: DbUuid| {
        (
            referrer_stats::referrer_id.eq(cohort.referrer_id),
            referrer_stats::program_id.eq(program),
            referrer_stats::referrals.eq(referrals_delta),
            referrer_stats::converted.eq(converted_delta),
        )
    };
    add_to_referrer_rows(conn, &[row(cohort.program_id), row(DbUuid(ALL_PROGRAMS))])
}

/// One `referrer_stats` row to add to: referrer, program, referrals and conversions.
type ReferrerRow = (
    diesel::dsl::Eq<referrer_stats::referrer_id, DbUuid>,
    diesel::dsl::Eq<referrer_stats::program_id, DbUuid>,
    diesel::dsl::Eq<referrer_stats::referrals, i64>,
    diesel::dsl::Eq<referrer_stats::converted, i64>,
);

/// Adds each row's counts to its `referrer_stats` row (creating it), in one statement.
fn add_to_referrer_rows(conn: &mut DbConnection, rows: &[ReferrerRow]) -> Result<(), StoreError> {
    macro_rules! upsert {
        ($c:expr) => {
            diesel::insert_into(referrer_stats::table)
                .values(rows)
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
    match conn {
        DbConnection::Pg(c) => upsert!(c)?,
        DbConnection::Sqlite(c) => upsert!(c)?,
    };
    Ok(())
}

/// Queues a conversion for its referrer's totals (see the module's notes); `id` is the
/// conversion's interaction id.
pub(crate) fn queue_referrer_conversion(
    conn: &mut DbConnection,
    id: uuid::Uuid,
    cohort: &Cohort,
) -> Result<(), StoreError> {
    let row = (
        pending::id.eq(DbUuid(id)),
        pending::program_id.eq(cohort.program_id),
        pending::referrer_id.eq(cohort.referrer_id),
    );
    match conn {
        DbConnection::Pg(c) => diesel::insert_into(pending::table).values(row).execute(c)?,
        DbConnection::Sqlite(c) => diesel::insert_into(pending::table).values(row).execute(c)?,
    };
    Ok(())
}

/// Queued conversions folded per transaction: a few thousand rows keep it short.
const FOLD_BATCH: i64 = 5_000;

/// Adds every queued conversion to `referrer_stats`, in transactions of up to 5,000;
/// returns how many. Folds running at once (several instances, readers) never count a
/// conversion twice: on PostgreSQL each takes its rows with `FOR UPDATE` and a later one
/// finds them gone; SQLite lets one writer in at a time.
///
/// # Errors
/// Database errors; what was folded before stays folded.
pub fn fold_referrer_conversions(conn: &mut DbConnection) -> Result<usize, StoreError> {
    // Mostly there is nothing queued: a plain read then, not a write transaction (on SQLite
    // that would wait for the write lock on every dashboard read).
    let any = pending::table.select(pending::id).limit(1);
    let queued: Option<DbUuid> = match conn {
        DbConnection::Pg(c) => any.first(c).optional()?,
        DbConnection::Sqlite(c) => any.first(c).optional()?,
    };
    if queued.is_none() {
        return Ok(0);
    }
    let mut folded = 0;
    loop {
        let n = crate::conn::write_transaction(conn, fold_batch)?;
        folded += n;
        if n < usize::try_from(FOLD_BATCH).unwrap_or(usize::MAX) {
            return Ok(folded);
        }
    }
}

fn fold_batch(conn: &mut DbConnection) -> Result<usize, StoreError> {
    let oldest = pending::table.order(pending::id).limit(FOLD_BATCH).select((
        pending::id,
        pending::program_id,
        pending::referrer_id,
    ));
    let taken: Vec<(DbUuid, DbUuid, DbUuid)> = match conn {
        DbConnection::Pg(c) => oldest.for_update().load(c)?,
        DbConnection::Sqlite(c) => oldest.load(c)?,
    };
    if taken.is_empty() {
        return Ok(0);
    }
    // Per (program, referrer), the program's rows first and the all-programs rows after
    // them, each in key order: a referral's creation bumps its program's row and then the
    // all-programs row, so taking locks in this order cannot deadlock with it (or with
    // another fold).
    let mut per_program = std::collections::BTreeMap::<(uuid::Uuid, uuid::Uuid), i64>::new();
    let mut all_programs = std::collections::BTreeMap::<uuid::Uuid, i64>::new();
    for (_, program, referrer) in &taken {
        *per_program.entry((program.0, referrer.0)).or_default() += 1;
        *all_programs.entry(referrer.0).or_default() += 1;
    }
    let rows: Vec<_> = per_program
        .into_iter()
        .chain(
            all_programs
                .into_iter()
                .map(|(referrer, n)| ((ALL_PROGRAMS, referrer), n)),
        )
        .map(|((program, referrer), converted)| {
            (
                referrer_stats::referrer_id.eq(DbUuid(referrer)),
                referrer_stats::program_id.eq(DbUuid(program)),
                referrer_stats::referrals.eq(0_i64),
                referrer_stats::converted.eq(converted),
            )
        })
        .collect();
    let ids: Vec<DbUuid> = taken.iter().map(|(id, _, _)| *id).collect();
    // 4 parameters a row: chunks stay well under SQLite's limit of 32,766.
    for chunk in rows.chunks(1_000) {
        add_to_referrer_rows(conn, chunk)?;
    }
    for chunk in ids.chunks(1_000) {
        let gone = pending::table.filter(pending::id.eq_any(chunk));
        match conn {
            DbConnection::Pg(c) => diesel::delete(gone).execute(c)?,
            DbConnection::Sqlite(c) => diesel::delete(gone).execute(c)?,
        };
    }
    Ok(taken.len())
}

/// Recomputes both rollups from the tables (one transaction): after a bulk load, or to
/// repair them. The statements are the analytics migration's backfill as of the current
/// schema, in `crates/referral-store/sql/rollups_rebuild.sql`.
///
/// # Errors
/// Database errors.
pub fn rebuild(conn: &mut DbConnection) -> Result<(), StoreError> {
    use diesel::connection::SimpleConnection;
    crate::conn::write_transaction(conn, |conn| {
        let created_day = match conn {
            DbConnection::Pg(_) => "to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
            // Stored as fixed-width UTC text (sql_types.rs).
            DbConnection::Sqlite(_) => "substr(r.created_at, 1, 10)",
        };
        let backfill = REBUILD.replace("{created_day}", created_day);
        let script = format!(
            "DELETE FROM referral_daily_stats; DELETE FROM referrer_stats; \
                 DELETE FROM referrer_stats_pending; {backfill}"
        );
        match conn {
            DbConnection::Pg(c) => c.batch_execute(&script)?,
            DbConnection::Sqlite(c) => c.batch_execute(&script)?,
        }
        Ok(())
    })
}

/// The rebuild's statements; see [`rebuild`].
const REBUILD: &str = include_str!("../sql/rollups_rebuild.sql");
