//! What an operator watches, read from the database when metrics are scraped: the outbox's
//! waiting messages and the age of the oldest by kind, rewards by type and status,
//! referrals by status, and the fraud signals raised by signal. Counts only: no patient,
//! code or address is read.
//!
//! Every instance reads the same rows, so these are the database's figures, not the
//! instance's: an operator takes their `max` across instances, not their sum.

use crate::conn::DbConnection;
use crate::error::StoreError;
use crate::outbox::{OutboxKind, OutboxStatus};
use crate::schema::{outbox, referral_rewards, referral_signals, referrals};
use crate::sql_types::DbTime;
use chrono::{DateTime, Utc};
use diesel::dsl::count_star;
use diesel::prelude::*;

/// The outbox of one kind.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxDepth {
    /// `email`, `sms`, `payout` or `webhook`.
    pub kind: &'static str,
    /// Messages queued or being sent.
    pub waiting: i64,
    /// When the oldest waiting message was written.
    pub oldest: Option<DateTime<Utc>>,
}

/// The figures of one scrape.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    /// The outbox by kind, every kind listed.
    pub outbox: Vec<OutboxDepth>,
    /// Rewards by (type, status).
    pub rewards: Vec<(String, String, i64)>,
    /// Referrals by status.
    pub referrals: Vec<(String, i64)>,
    /// Fraud signals raised, by signal.
    pub signals: Vec<(String, i64)>,
}

/// Reads the figures.
///
/// # Errors
/// Database errors.
pub fn snapshot(conn: &mut DbConnection) -> Result<Snapshot, StoreError> {
    let waiting = [
        OutboxStatus::Queued.as_str(),
        OutboxStatus::Sending.as_str(),
    ];
    let mut depths = Vec::new();
    for kind in [
        OutboxKind::Email,
        OutboxKind::Sms,
        OutboxKind::Payout,
        OutboxKind::Webhook,
    ] {
        let of_kind = || {
            outbox::table
                .filter(outbox::kind.eq(kind.as_str()))
                .filter(outbox::status.eq_any(waiting))
        };
        let count: i64 = of_kind().count().get_result(conn)?;
        let oldest: Option<DbTime> = of_kind()
            .order(outbox::created_at.asc())
            .select(outbox::created_at)
            .first(conn)
            .optional()?;
        depths.push(OutboxDepth {
            kind: kind.as_str(),
            waiting: count,
            oldest: oldest.map(|t| t.0),
        });
    }
    let rewards = referral_rewards::table
        .group_by((referral_rewards::reward_type, referral_rewards::status))
        .select((
            referral_rewards::reward_type,
            referral_rewards::status,
            count_star(),
        ))
        .load(conn)?;
    let referrals = referrals::table
        .group_by(referrals::status)
        .select((referrals::status, count_star()))
        .load(conn)?;
    let signals = referral_signals::table
        .group_by(referral_signals::signal)
        .select((referral_signals::signal, count_star()))
        .load(conn)?;
    Ok(Snapshot {
        outbox: depths,
        rewards,
        referrals,
        signals,
    })
}

/// How far a read replica is behind, in milliseconds: 0 when it has replayed everything it
/// received (an idle primary sends nothing, and that is not lag), otherwise the age of the
/// last transaction it replayed. 0 for a database that is not in recovery (a primary) and
/// for SQLite.
///
/// # Errors
/// Database errors (an unreachable replica).
pub fn replica_lag_ms(conn: &mut DbConnection) -> Result<i64, StoreError> {
    #[derive(diesel::QueryableByName)]
    struct Lag {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        lag_ms: i64,
    }
    match conn {
        DbConnection::Pg(c) => {
            let lag: Lag = diesel::sql_query(
                "SELECT (CASE WHEN NOT pg_is_in_recovery() THEN 0 \
                 WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 \
                 ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) * 1000, 0) \
                 END)::bigint AS lag_ms",
            )
            .get_result(c)?;
            Ok(lag.lag_ms.max(0))
        }
        DbConnection::Sqlite(_) => Ok(0),
    }
}
