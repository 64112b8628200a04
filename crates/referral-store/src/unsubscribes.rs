//! Recipients who unsubscribed: no more email or SMS is queued for them.

use crate::conn::{insert_unless_duplicate, DbConnection};
use crate::error::StoreError;
use crate::schema::unsubscribes;
use crate::sql_types::DbTime;
use chrono::{DateTime, Utc};
use diesel::prelude::*;

/// Records that `recipient` unsubscribed (idempotent).
///
/// # Errors
/// Database errors.
pub fn add(conn: &mut DbConnection, recipient: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    insert_unless_duplicate(conn, |c| {
        diesel::insert_into(unsubscribes::table)
            .values((
                unsubscribes::recipient.eq(recipient),
                unsubscribes::created_at.eq(DbTime(now)),
            ))
            .execute(c)
    })?;
    Ok(())
}

/// Whether `recipient` unsubscribed.
///
/// # Errors
/// Database errors.
pub fn is_unsubscribed(conn: &mut DbConnection, recipient: &str) -> Result<bool, StoreError> {
    let n: i64 = unsubscribes::table
        .filter(unsubscribes::recipient.eq(recipient))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}
