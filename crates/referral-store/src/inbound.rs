//! Signed provider requests already acted on (SendGrid's event webhook, Twilio's
//! callbacks), remembered by a hash of their signature so that a replay is refused.

use crate::conn::{insert_new, DbConnection};
use crate::error::StoreError;
use crate::schema::inbound_signatures;
use crate::sql_types::DbTime;
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

/// Records the request signed with `signature` from `provider` (`"sendgrid"`, `"twilio"`),
/// and forgets that provider's signatures older than `remember`. `Ok(false)` when the same
/// signature was already recorded: a replay. Run it in the transaction that acts on the
/// request, so that a request that fails is not remembered and its retry is accepted.
///
/// # Errors
/// Database errors.
pub fn first_sight(
    conn: &mut DbConnection,
    provider: &str,
    signature: &str,
    remember: Duration,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    diesel::delete(
        inbound_signatures::table
            .filter(inbound_signatures::provider.eq(provider))
            .filter(inbound_signatures::received_at.lt(DbTime(now - remember))),
    )
    .execute(conn)?;
    let hash: String = ring::digest::digest(&ring::digest::SHA256, signature.trim().as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    insert_new!(
        conn,
        diesel::insert_into(inbound_signatures::table).values((
            inbound_signatures::provider.eq(provider),
            inbound_signatures::signature_hash.eq(hash),
            inbound_signatures::received_at.eq(DbTime(now)),
        ))
    )
}
