//! Request limits counted in the database, so that several instances share one budget
//! (#33): a claim adds its hits to its key's row for the current window and answers the
//! count (the caller claims several at once under a large limit:
//! [`referral_domain::rate_limit`]).
//! On PostgreSQL that is one statement (`INSERT … ON CONFLICT … DO UPDATE … RETURNING`) on
//! an UNLOGGED table; SQLite (one instance a database) has the same function for tests.
//!
//! The caller passes a keyed hash as the key (never an address) and decides what the count
//! means; windows older than the longest limit are removed by [`forget_before`].

use crate::conn::DbConnection;
use crate::error::StoreError;
use crate::schema::rate_limit_hits;
use crate::sql_types::{DbTime, PortableTimestamptz};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamptz};

#[derive(QueryableByName)]
struct Hits {
    #[diesel(sql_type = BigInt)]
    hits: i64,
}

/// Counts `hits` hits of `key` in the window that starts at `window_start`; returns the
/// hits of that window so far, these included.
///
/// # Errors
/// Database errors (the caller chooses whether a limit fails open or closed).
pub fn hit(
    conn: &mut DbConnection,
    key: &str,
    window_start: DateTime<Utc>,
    hits: i64,
) -> Result<i64, StoreError> {
    match conn {
        DbConnection::Pg(c) => {
            let row: Hits = diesel::sql_query(
                "INSERT INTO rate_limit_hits (key, window_start, hits) VALUES ($1, $2, $3) \
                 ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_limit_hits.hits + excluded.hits \
                 RETURNING hits",
            )
            .bind::<Text, _>(key)
            .bind::<Timestamptz, _>(window_start)
            .bind::<BigInt, _>(hits)
            .get_result(c)?;
            Ok(row.hits)
        }
        DbConnection::Sqlite(c) => {
            let row: Hits = diesel::sql_query(
                "INSERT INTO rate_limit_hits (key, window_start, hits) VALUES (?, ?, ?) \
                 ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_limit_hits.hits + excluded.hits \
                 RETURNING hits",
            )
            .bind::<Text, _>(key)
            .bind::<PortableTimestamptz, _>(DbTime(window_start))
            .bind::<BigInt, _>(hits)
            .get_result(c)?;
            Ok(row.hits)
        }
    }
}

/// Removes the windows that started before `before`; returns how many.
///
/// # Errors
/// Database errors.
pub fn forget_before(conn: &mut DbConnection, before: DateTime<Utc>) -> Result<usize, StoreError> {
    Ok(diesel::delete(
        rate_limit_hits::table.filter(rate_limit_hits::window_start.lt(DbTime(before))),
    )
    .execute(conn)?)
}
