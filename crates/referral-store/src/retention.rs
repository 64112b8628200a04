//! Erasing personal data past its retention (see [`referral_domain::retention`]): the
//! invited person's contact details of invitations past their date, the network details of
//! old interactions and then the interactions of months wholly past it, the payloads of
//! finished outbox messages, the proof of old SMS consents. In batches, so that the first
//! run on a large database holds no long transaction; idempotent.
//!
//! On PostgreSQL the interactions are partitioned by month (pg_partman, migration 000030):
//! a run first calls partman's maintenance, which makes the months ahead, and drops the
//! partitions of the months past retention; rows left before the cut (in the default
//! partition, which holds rows older than the partitions) are then deleted as on SQLite.

use crate::conn::{write_transaction, DbConnection};
use crate::error::StoreError;
use crate::schema::{
    outbox, referral_interactions, referrals, registration_verifications, sms_consents,
};
use crate::sql_types::{DbJson, DbTime, DbUuid};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use referral_domain::retention::{RetentionPolicy, ERASED_EMAIL};

/// Rows erased per transaction.
const BATCH: i64 = 1000;

/// What one run erased.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Erased {
    /// Referrals whose invited person's contact details were erased.
    pub referral_contacts: usize,
    /// Interactions whose IP address and user agent were erased.
    pub interactions: usize,
    /// Months of interactions whose partition was dropped whole (PostgreSQL).
    pub interaction_months: usize,
    /// Interactions deleted one by one (SQLite, and on PostgreSQL those of no partition).
    pub interactions_removed: usize,
    /// Finished outbox messages whose payload and recipient were erased.
    pub message_payloads: usize,
    /// Registration confirmations (address, name, phone) deleted once long expired.
    pub registration_confirmations: usize,
    /// SMS consents whose proof (the number's hash, the address, the user agent) was
    /// erased.
    pub consent_proofs: usize,
}

/// Erases what `policy` no longer allows to keep at `now`.
///
/// # Errors
/// Database errors (what earlier batches erased stays erased).
pub fn erase_due(
    conn: &mut DbConnection,
    policy: &RetentionPolicy,
    now: DateTime<Utc>,
) -> Result<Erased, StoreError> {
    let cut = policy.cutoffs(now);
    // A month that cannot be dropped today (its lock not had within 5 s, say) must not stop
    // the erasures: its rows are then deleted one by one below, the same end state.
    let interaction_months =
        drop_interaction_months(conn, cut.tracking_before).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "retention: the interactions' months were not maintained; deleting their rows instead");
            0
        });
    Ok(Erased {
        referral_contacts: in_batches(|c| erase_contacts(c, cut.contact_before, now), conn)?,
        interaction_months,
        interactions_removed: in_batches(
            |c| remove_interactions(c, cut.interactions_removed_before),
            conn,
        )?,
        interactions: in_batches(|c| erase_tracking(c, cut.tracking_before), conn)?,
        message_payloads: in_batches(
            |c| erase_payloads(c, cut.delivered_payload_before, now),
            conn,
        )?,
        registration_confirmations: in_batches(
            |c| delete_confirmations(c, cut.delivered_payload_before),
            conn,
        )?,
        consent_proofs: in_batches(
            |c| erase_consent_proof(c, cut.consent_proof_before, now),
            conn,
        )?,
    })
}

/// Consents attested before `before` that still hold their proof.
fn erase_consent_proof(
    conn: &mut DbConnection,
    before: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let ids: Vec<DbUuid> = sms_consents::table
        .filter(sms_consents::attested_at.lt(DbTime(before)))
        .filter(sms_consents::proof_erased_at.is_null())
        .select(sms_consents::id)
        .limit(BATCH)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(
        diesel::update(sms_consents::table.filter(sms_consents::id.eq_any(ids)))
            .set((
                sms_consents::phone.eq(None::<String>),
                sms_consents::phone_hash.eq(None::<String>),
                sms_consents::ip_address.eq(None::<crate::sql_types::DbInet>),
                sms_consents::user_agent.eq(None::<String>),
                sms_consents::proof_erased_at.eq(Some(DbTime(now))),
            ))
            .execute(conn)?,
    )
}

/// Replaces the numbers that SMS consents written before the keyed hash hold with
/// `hash(number)` (the caller holds the key); answers how many. Idempotent.
///
/// # Errors
/// Database errors.
pub fn hash_consent_phones(
    conn: &mut DbConnection,
    hash: &dyn Fn(&str) -> String,
) -> Result<usize, StoreError> {
    in_batches(
        |c| {
            let plain: Vec<(DbUuid, Option<String>)> = sms_consents::table
                .filter(sms_consents::phone.is_not_null())
                .select((sms_consents::id, sms_consents::phone))
                .limit(BATCH)
                .load(c)?;
            for (id, phone) in &plain {
                diesel::update(sms_consents::table.find(id))
                    .set((
                        sms_consents::phone_hash.eq(phone.as_deref().map(hash)),
                        sms_consents::phone.eq(None::<String>),
                    ))
                    .execute(c)?;
            }
            Ok(plain.len())
        },
        conn,
    )
}

fn in_batches(
    mut batch: impl FnMut(&mut DbConnection) -> Result<usize, StoreError>,
    conn: &mut DbConnection,
) -> Result<usize, StoreError> {
    let mut total = 0;
    loop {
        let erased = write_transaction(conn, |c| batch(c))?;
        total += erased;
        if erased < usize::try_from(BATCH).unwrap_or(usize::MAX) {
            return Ok(total);
        }
    }
}

/// Referrals whose invitation's date is before `before` and that still hold the invited
/// person's details, whatever became of them: the day is one the referrer knows, so it
/// tells nothing of what the friend did (#30).
fn erase_contacts(
    conn: &mut DbConnection,
    before: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let ids: Vec<DbUuid> = referrals::table
        .filter(referrals::referee_email.ne(ERASED_EMAIL))
        .filter(referrals::expires_at.lt(DbTime(before)))
        .select(referrals::id)
        .limit(BATCH)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(
        diesel::update(referrals::table.filter(referrals::id.eq_any(ids)))
            .set((
                referrals::referee_email.eq(ERASED_EMAIL),
                referrals::referee_phone.eq(None::<String>),
                referrals::referee_name.eq(None::<String>),
                referrals::referral_message.eq(None::<String>),
                referrals::updated_at.eq(DbTime(now)),
            ))
            .execute(conn)?,
    )
}

/// PostgreSQL: partman's maintenance of the interactions (the months ahead), then the months
/// that end before `before` dropped; answers how many. SQLite: nothing to do.
fn drop_interaction_months(
    conn: &mut DbConnection,
    before: DateTime<Utc>,
) -> Result<usize, StoreError> {
    #[derive(QueryableByName)]
    struct Dropped {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        months: i32,
    }
    match conn {
        DbConnection::Pg(c) => {
            let dropped: Dropped =
                diesel::sql_query("SELECT referral_interactions_maintain($1) AS months")
                    .bind::<diesel::sql_types::Timestamptz, _>(before)
                    .get_result(c)?;
            Ok(usize::try_from(dropped.months).unwrap_or(0))
        }
        DbConnection::Sqlite(_) => Ok(0),
    }
}

/// Interactions from before `before`, deleted. On PostgreSQL the cut on `created_at` in
/// both statements keeps each to the partitions that may hold such rows.
fn remove_interactions(
    conn: &mut DbConnection,
    before: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let ids: Vec<DbUuid> = referral_interactions::table
        .filter(referral_interactions::created_at.lt(DbTime(before)))
        .select(referral_interactions::id)
        .limit(BATCH)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(diesel::delete(
        referral_interactions::table
            .filter(referral_interactions::created_at.lt(DbTime(before)))
            .filter(referral_interactions::id.eq_any(ids)),
    )
    .execute(conn)?)
}

/// Interactions from before `before` that still hold an address or a user agent.
fn erase_tracking(conn: &mut DbConnection, before: DateTime<Utc>) -> Result<usize, StoreError> {
    let ids: Vec<DbUuid> = referral_interactions::table
        .filter(referral_interactions::created_at.lt(DbTime(before)))
        .filter(
            referral_interactions::ip_address
                .is_not_null()
                .or(referral_interactions::user_agent.is_not_null()),
        )
        .select(referral_interactions::id)
        .limit(BATCH)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(
        diesel::update(referral_interactions::table.filter(referral_interactions::id.eq_any(ids)))
            .set((
                referral_interactions::ip_address.eq(None::<crate::sql_types::DbInet>),
                referral_interactions::user_agent.eq(None::<String>),
            ))
            .execute(conn)?,
    )
}

/// The payload and recipient of messages done (sent, suppressed or failed for good) before
/// `before`. The row stays, for the delivery history and its idempotency key.
fn erase_payloads(
    conn: &mut DbConnection,
    before: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let ids: Vec<DbUuid> = outbox::table
        .filter(outbox::status.eq_any(["sent", "suppressed", "failed"]))
        .filter(outbox::updated_at.lt(DbTime(before)))
        .filter(outbox::recipient.ne(""))
        .select(outbox::id)
        .limit(BATCH)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(diesel::update(outbox::table.filter(outbox::id.eq_any(ids)))
        .set((
            outbox::recipient.eq(""),
            outbox::payload.eq(DbJson(serde_json::json!({}))),
            outbox::updated_at.eq(DbTime(now)),
        ))
        .execute(conn)?)
}

/// Registration confirmations whose link expired before `before` (used or not): they hold
/// the address, name and phone typed, and can do nothing any more.
fn delete_confirmations(
    conn: &mut DbConnection,
    before: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let ids: Vec<DbUuid> = registration_verifications::table
        .filter(registration_verifications::expires_at.lt(DbTime(before)))
        .select(registration_verifications::id)
        .limit(BATCH)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(diesel::delete(
        registration_verifications::table.filter(registration_verifications::id.eq_any(ids)),
    )
    .execute(conn)?)
}
