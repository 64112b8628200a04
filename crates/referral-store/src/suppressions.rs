//! The suppression list: addresses that followed an unsubscribe link get no more email or
//! SMS. Only a keyed hash of each address is stored (the caller holds the key), so the list
//! itself reveals nobody.

use crate::conn::{insert_new, DbConnection};
use crate::error::StoreError;
use crate::schema::suppressions;
use crate::sql_types::DbTime;
use chrono::{DateTime, Utc};
use diesel::prelude::*;

/// Adds the address with keyed hash `recipient_hash` (idempotent).
///
/// # Errors
/// Database errors.
pub fn add(
    conn: &mut DbConnection,
    recipient_hash: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    insert_new!(
        conn,
        diesel::insert_into(suppressions::table).values((
            suppressions::recipient_hash.eq(recipient_hash),
            suppressions::created_at.eq(DbTime(now)),
        ))
    )?;
    Ok(())
}

/// Whether the address is suppressed: `recipient_hashes` are its keyed hashes under every
/// key of the keyring (an entry names the key that made it).
///
/// # Errors
/// Database errors.
pub fn contains(conn: &mut DbConnection, recipient_hashes: &[String]) -> Result<bool, StoreError> {
    let n: i64 = suppressions::table
        .filter(suppressions::recipient_hash.eq_any(recipient_hashes))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}
