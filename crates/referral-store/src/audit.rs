//! The audit trail: who read or changed which person's data, when, from where, and with
//! what outcome. Append-only: there is no update or delete here, and database triggers
//! refuse them.
//!
//! Tamper-evident: each row carries `row_hash = HMAC-SHA256(key, prev_hash ‖ content)` over
//! the previous row's hash, in `seq` order, and the chain's head (last seq and hash) sits in
//! its own row. Requests append rows unchained (no lock to wait for); [`seal`] links them in
//! batches under the head's lock, and a trigger lets a row change only by being sealed. [`verify`] recomputes the chain and names the
//! first row that was altered, removed or inserted. Someone with write access to the database
//! but not the key cannot make a consistent chain; cutting rows from the end and rewinding
//! the head to match is the one change only an outside copy of the head would reveal.
//!
//! One concept over about 630 lines: appending, sealing and verifying are one chain's
//! rules and read each other's invariants.
//!
//! One concept: the tamper-evident trail (append, seal, read, verify), kept in one file so
//! the chain's rules are read together.

use crate::conn::{write_transaction, DbConnection};
use crate::error::StoreError;
use crate::keyring::{mac_hex, same_bytes, Keyring, Purpose};
use crate::page::{Page, Paged};
use crate::schema::{audit_chain_head, audit_log};
use crate::sql_types::{DbInet, DbTime, DbUuid};
use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::*;
use serde::Serialize;
use std::net::IpAddr;
use uuid::Uuid;

/// One row to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    /// The caller's id (token subject), if authenticated.
    pub actor_id: Option<Uuid>,
    /// The caller's role (`anonymous` when not authenticated).
    pub actor_role: String,
    /// What was attempted, such as `referral.read`.
    pub action: String,
    /// The kind of resource, such as `referral`.
    pub resource_type: String,
    /// The resource's id, if one.
    pub resource_id: Option<String>,
    /// `success`, `denied`, `not_found`, `failed`, ...
    pub outcome: String,
    /// The caller's address.
    pub ip_address: Option<IpAddr>,
    /// The caller's user agent.
    pub user_agent: Option<String>,
}

/// A stored audit row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Id.
    pub id: Uuid,
    /// The caller's id.
    pub actor_id: Option<Uuid>,
    /// The caller's role.
    pub actor_role: String,
    /// What was attempted.
    pub action: String,
    /// Resource kind.
    pub resource_type: String,
    /// Resource id.
    pub resource_id: Option<String>,
    /// Outcome.
    pub outcome: String,
    /// Caller's address.
    pub ip_address: Option<IpAddr>,
    /// Caller's user agent.
    pub user_agent: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_log)]
struct AuditRow {
    id: DbUuid,
    actor_id: Option<DbUuid>,
    actor_role: String,
    action: String,
    resource_type: String,
    resource_id: Option<String>,
    outcome: String,
    ip_address: Option<DbInet>,
    user_agent: Option<String>,
    created_at: DbTime,
}

impl From<AuditRow> for AuditEntry {
    fn from(row: AuditRow) -> Self {
        AuditEntry {
            id: row.id.0,
            actor_id: row.actor_id.map(|a| a.0),
            actor_role: row.actor_role,
            action: row.action,
            resource_type: row.resource_type,
            resource_id: row.resource_id,
            outcome: row.outcome,
            ip_address: row.ip_address.map(|a| a.0),
            user_agent: row.user_agent,
            created_at: row.created_at.0,
        }
    }
}

/// Filters of the audit trail query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this caller.
    pub actor_id: Option<Uuid>,
    /// Only this kind of resource.
    pub resource_type: Option<String>,
    /// Only this resource.
    pub resource_id: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// Only this outcome.
    pub outcome: Option<String>,
    /// From this time on (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Before this time (exclusive).
    pub to: Option<DateTime<Utc>>,
}

/// The content an audit row's MAC and chain link cover: a JSON array, so field boundaries
/// are unambiguous. Times as stored (microseconds).
fn row_content(entry: &AuditEntry) -> String {
    serde_json::json!([
        entry.id,
        entry.actor_id,
        entry.actor_role,
        entry.action,
        entry.resource_type,
        entry.resource_id,
        entry.outcome,
        entry.ip_address.map(|ip| ip.to_string()),
        entry.user_agent,
        entry
            .created_at
            .format("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string(),
    ])
    .to_string()
}

/// The MAC of a row made with key `key_id`; `None` when the keyring does not hold it.
fn row_mac(keyring: &Keyring, key_id: &str, entry: &AuditEntry) -> Option<String> {
    let key = keyring.by_id(key_id, Purpose::AuditRow)?;
    Some(mac_hex(&key, &[row_content(entry).as_bytes()]))
}

/// Whether a row's stored MAC is the one the service made.
fn mac_verifies(
    keyring: &Keyring,
    entry: &AuditEntry,
    mac: Option<&str>,
    key_id: Option<&str>,
) -> bool {
    match (mac, key_id) {
        (Some(mac), Some(key_id)) => row_mac(keyring, key_id, entry)
            .is_some_and(|expected| same_bytes(expected.as_bytes(), mac.as_bytes())),
        _ => false,
    }
}

/// The chain link of a row: `HMAC(prev_hash ‖ seq ‖ content ‖ mac)` with the chain key of
/// the row's own key id.
fn link(
    keyring: &Keyring,
    key_id: &str,
    prev_hash: &str,
    seq: i64,
    entry: &AuditEntry,
    mac: &str,
) -> Option<String> {
    let key = keyring.by_id(key_id, Purpose::AuditChain)?;
    Some(mac_hex(
        &key,
        &[
            prev_hash.as_bytes(),
            seq.to_string().as_bytes(),
            row_content(entry).as_bytes(),
            mac.as_bytes(),
        ],
    ))
}

/// Appends a row, unchained, with its MAC (made with the keyring's signing key): one
/// insert, no lock, so audited requests never wait for one another. [`seal`] links it into
/// the chain within a second or so.
///
/// # Errors
/// Database errors.
pub fn append(
    conn: &mut DbConnection,
    keyring: &Keyring,
    entry: &NewAuditEntry,
    now: DateTime<Utc>,
) -> Result<Uuid, StoreError> {
    // Stored with microseconds on both databases: MAC what is stored. Free text is bounded
    // so that a flood of long headers cannot fill the log.
    let now = now.trunc_subsecs(6);
    let id = crate::conn::new_row_id();
    let bounded = |text: &str, most: usize| text.chars().take(most).collect::<String>();
    let stored = AuditEntry {
        id,
        actor_id: entry.actor_id,
        actor_role: bounded(&entry.actor_role, 32),
        action: bounded(&entry.action, 64),
        resource_type: bounded(&entry.resource_type, 64),
        resource_id: entry.resource_id.as_deref().map(|r| bounded(r, 128)),
        outcome: bounded(&entry.outcome, 64),
        // Kept as its network only (/24, /48): enough for the fraud signals and an
        // investigation, not a person's line (#30).
        ip_address: entry
            .ip_address
            .map(referral_domain::signals::audit_network),
        user_agent: entry.user_agent.as_deref().map(|u| bounded(u, 500)),
        created_at: now,
    };
    let key_id = keyring.active_id().to_owned();
    let mac = row_mac(keyring, &key_id, &stored).unwrap_or_default();
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::id.eq(DbUuid(id)),
            audit_log::actor_id.eq(stored.actor_id.map(DbUuid)),
            audit_log::actor_role.eq(&stored.actor_role),
            audit_log::action.eq(&stored.action),
            audit_log::resource_type.eq(&stored.resource_type),
            audit_log::resource_id.eq(stored.resource_id.as_deref()),
            audit_log::outcome.eq(&stored.outcome),
            audit_log::ip_address.eq(stored.ip_address.map(DbInet)),
            audit_log::user_agent.eq(stored.user_agent.as_deref()),
            audit_log::created_at.eq(DbTime(now)),
            audit_log::mac.eq(Some(&mac)),
            audit_log::key_id.eq(Some(&key_id)),
        ))
        .execute(conn)?;
    Ok(id)
}

/// The chain's head after a seal: what the witness file records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainHead {
    /// The last sealed row's place.
    pub seq: i64,
    /// Its hash.
    pub hash: String,
}

/// What one [`seal`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SealReport {
    /// Rows linked into the chain.
    pub sealed: usize,
    /// Rows left out because their MAC does not verify (written outside the service).
    pub refused: Vec<Uuid>,
    /// The head after this seal, when it moved.
    pub head: Option<ChainHead>,
}

/// Links up to `limit` unchained rows written before `settled_before` into the chain,
/// oldest first, in one transaction that holds the chain head's lock (so sealers on several
/// instances take turns). Each row whose MAC verifies gets the next `seq`, the previous
/// row's hash and its own; a row whose MAC does not verify is left out and reported.
/// Waiting for rows to settle keeps a slow transaction's row from landing after a younger
/// one (a `created_at` going backwards is what [`verify`] reports as tampering).
///
/// # Errors
/// Database errors.
pub fn seal(
    conn: &mut DbConnection,
    keyring: &Keyring,
    limit: i64,
    settled_before: DateTime<Utc>,
) -> Result<SealReport, StoreError> {
    write_transaction(conn, |conn| {
        let head = audit_chain_head::table
            .find(1_i16)
            .select((audit_chain_head::last_seq, audit_chain_head::last_hash));
        let (mut seq, mut hash): (i64, String) = match conn {
            DbConnection::Pg(c) => head.for_update().first(c)?,
            // The write transaction already holds SQLite's only write lock.
            DbConnection::Sqlite(c) => head.first(c)?,
        };
        let rows: Vec<(AuditRow, Option<String>, Option<String>)> = audit_log::table
            .filter(audit_log::seq.is_null())
            .filter(audit_log::created_at.lt(DbTime(settled_before)))
            .order((audit_log::created_at.asc(), audit_log::id.asc()))
            .limit(limit)
            .select((AuditRow::as_select(), audit_log::mac, audit_log::key_id))
            .load(conn)?;
        let mut report = SealReport::default();
        for (row, mac, key_id) in rows {
            let entry = AuditEntry::from(row);
            let linked = match (mac.as_deref(), key_id.as_deref()) {
                (Some(mac), Some(key_id))
                    if mac_verifies(keyring, &entry, Some(mac), Some(key_id)) =>
                {
                    link(keyring, key_id, &hash, seq + 1, &entry, mac)
                }
                _ => None,
            };
            let Some(row_hash) = linked else {
                tracing::warn!(row = %entry.id, "audit row with no valid MAC left out of the chain");
                report.refused.push(entry.id);
                continue;
            };
            seq += 1;
            diesel::update(audit_log::table.find(DbUuid(entry.id)))
                .set((
                    audit_log::seq.eq(Some(seq)),
                    audit_log::prev_hash.eq(Some(&hash)),
                    audit_log::row_hash.eq(Some(&row_hash)),
                ))
                .execute(conn)?;
            hash = row_hash;
            report.sealed += 1;
        }
        if report.sealed > 0 {
            diesel::update(audit_chain_head::table.find(1_i16))
                .set((
                    audit_chain_head::last_seq.eq(seq),
                    audit_chain_head::last_hash.eq(&hash),
                ))
                .execute(conn)?;
            report.head = Some(ChainHead { seq, hash });
        }
        Ok(report)
    })
}

/// Seals every unchained row written before `settled_before`, in batches; returns the
/// rows sealed, those refused, and the last head.
///
/// # Errors
/// Database errors.
pub fn seal_all(
    conn: &mut DbConnection,
    keyring: &Keyring,
    settled_before: DateTime<Utc>,
) -> Result<SealReport, StoreError> {
    let mut total = SealReport::default();
    loop {
        let batch = seal(conn, keyring, 5_000, settled_before)?;
        total.sealed += batch.sealed;
        let done = batch.sealed + batch.refused.len() < 5_000 || batch.sealed == 0;
        total.refused.extend(batch.refused);
        if batch.head.is_some() {
            total.head = batch.head;
        }
        if done {
            return Ok(total);
        }
    }
}

/// The chain's head as the database records it.
///
/// # Errors
/// Database errors.
pub fn head(conn: &mut DbConnection) -> Result<ChainHead, StoreError> {
    let (seq, hash): (i64, String) = audit_chain_head::table
        .find(1_i16)
        .select((audit_chain_head::last_seq, audit_chain_head::last_hash))
        .first(conn)?;
    Ok(ChainHead { seq, hash })
}

/// The hash the chain holds at `seq`, if a row sits there.
///
/// # Errors
/// Database errors.
pub fn hash_at(conn: &mut DbConnection, seq: i64) -> Result<Option<String>, StoreError> {
    Ok(audit_log::table
        .filter(audit_log::seq.eq(Some(seq)))
        .select(audit_log::row_hash)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten())
}

/// The first row where the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokenLink {
    /// Its position in the chain (for a gap: the position expected).
    pub seq: i64,
    /// The row's id, when there is a row.
    pub id: Option<Uuid>,
    /// What is wrong.
    pub reason: String,
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    /// Rows checked and found intact.
    pub verified: i64,
    /// Rows not linked yet (written in the last seconds, or before the chain began).
    pub unchained: i64,
    /// The first broken link, if any.
    pub broken: Option<BrokenLink>,
}

/// A row with its place in the chain: (row, seq, prev_hash, row_hash, mac, key_id).
type ChainedRow = (
    AuditRow,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Rows verified per query, so the log never has to fit in memory.
const VERIFY_PAGE: i64 = 5_000;

/// How far back along the chain a row's `created_at` may be and still count as in order.
/// A row's time is taken before its insert commits, and concurrent requests commit in any
/// order (a write that waits for SQLite's lock, a slow transaction); sealing waits for rows
/// to settle, and this covers what is left. A backdated row beyond it is reported.
pub const CLOCK_TOLERANCE: chrono::Duration = chrono::Duration::seconds(60);

/// Recomputes the whole chain, in pages; reports the first row that does not match.
///
/// # Errors
/// Database errors.
pub fn verify(conn: &mut DbConnection, keyring: &Keyring) -> Result<ChainReport, StoreError> {
    verify_with_progress(conn, keyring, |_| {})
}

/// As [`verify`], calling `progress` with the rows verified so far after each page.
///
/// Beyond the links, every row's MAC must verify (a row inserted with plain SQL has none
/// the service made), `created_at` must never go backwards along the chain (beyond
/// [`CLOCK_TOLERANCE`]), and no
/// unchained row may carry a MAC that does not verify.
///
/// # Errors
/// Database errors.
pub fn verify_with_progress(
    conn: &mut DbConnection,
    keyring: &Keyring,
    mut progress: impl FnMut(i64),
) -> Result<ChainReport, StoreError> {
    let unchained: i64 = audit_log::table
        .filter(audit_log::seq.is_null())
        .count()
        .get_result(conn)?;
    let mut expected_seq = 1_i64;
    let mut prev_hash = String::new();
    let mut prev_time: Option<DateTime<Utc>> = None;
    let broken = |seq, id, reason: &str| BrokenLink {
        seq,
        id,
        reason: reason.to_owned(),
    };
    loop {
        let rows: Vec<ChainedRow> = audit_log::table
            .filter(audit_log::seq.ge(expected_seq))
            .order(audit_log::seq.asc())
            .limit(VERIFY_PAGE)
            .select((
                AuditRow::as_select(),
                audit_log::seq,
                audit_log::prev_hash,
                audit_log::row_hash,
                audit_log::mac,
                audit_log::key_id,
            ))
            .load(conn)?;
        let page_len = rows.len();
        for (row, seq, stored_prev, stored_hash, mac, key_id) in rows {
            let seq = seq.unwrap_or_default();
            let entry = AuditEntry::from(row);
            let report = |link| ChainReport {
                verified: expected_seq - 1,
                unchained,
                broken: Some(link),
            };
            if seq != expected_seq {
                return Ok(report(broken(
                    expected_seq,
                    None,
                    &format!("row {expected_seq} is missing (the next row is {seq})"),
                )));
            }
            if stored_prev.as_deref() != Some(prev_hash.as_str()) {
                return Ok(report(broken(
                    seq,
                    Some(entry.id),
                    "its prev_hash is not the previous row's hash",
                )));
            }
            if !mac_verifies(keyring, &entry, mac.as_deref(), key_id.as_deref()) {
                return Ok(report(broken(
                    seq,
                    Some(entry.id),
                    &format!(
                        "its MAC does not verify (written or altered outside the service; key {})",
                        key_id.as_deref().unwrap_or("none")
                    ),
                )));
            }
            if prev_time.is_some_and(|t| entry.created_at < t - CLOCK_TOLERANCE) {
                return Ok(report(broken(
                    seq,
                    Some(entry.id),
                    "its created_at is earlier than the previous row's (time went backwards)",
                )));
            }
            let computed = link(
                keyring,
                key_id.as_deref().unwrap_or_default(),
                &prev_hash,
                seq,
                &entry,
                mac.as_deref().unwrap_or_default(),
            )
            .unwrap_or_default();
            if stored_hash.as_deref() != Some(computed.as_str()) {
                return Ok(report(broken(
                    seq,
                    Some(entry.id),
                    "its content does not match its hash (altered)",
                )));
            }
            prev_hash = computed;
            prev_time = Some(entry.created_at);
            expected_seq += 1;
        }
        progress(expected_seq - 1);
        if i64::try_from(page_len).unwrap_or(0) < VERIFY_PAGE {
            break;
        }
    }
    let verified = expected_seq - 1;
    let head = head(conn)?;
    if head.seq != verified || head.hash != prev_hash {
        return Ok(ChainReport {
            verified,
            unchained,
            broken: Some(broken(
                verified + 1,
                None,
                &format!("the log ends at row {verified} but its head records row {} (rows removed from the end)", head.seq),
            )),
        });
    }
    // Rows not sealed yet must still be the service's own.
    let mut after: Option<(DbTime, DbUuid)> = None;
    loop {
        let mut query = audit_log::table
            .filter(audit_log::seq.is_null())
            .into_boxed();
        if let Some((t, id)) = after {
            query = query.filter(
                audit_log::created_at
                    .gt(t)
                    .or(audit_log::created_at.eq(t).and(audit_log::id.gt(id))),
            );
        }
        let rows: Vec<(AuditRow, Option<String>, Option<String>)> = query
            .order((audit_log::created_at.asc(), audit_log::id.asc()))
            .limit(VERIFY_PAGE)
            .select((AuditRow::as_select(), audit_log::mac, audit_log::key_id))
            .load(conn)?;
        let page_len = rows.len();
        for (row, mac, key_id) in rows {
            let entry = AuditEntry::from(row);
            after = Some((DbTime(entry.created_at), DbUuid(entry.id)));
            if !mac_verifies(keyring, &entry, mac.as_deref(), key_id.as_deref()) {
                return Ok(ChainReport {
                    verified,
                    unchained,
                    broken: Some(broken(
                        0,
                        Some(entry.id),
                        "an unchained row whose MAC does not verify (inserted outside the service)",
                    )),
                });
            }
        }
        if i64::try_from(page_len).unwrap_or(0) < VERIFY_PAGE {
            break;
        }
    }
    Ok(ChainReport {
        verified,
        unchained,
        broken: None,
    })
}

/// Audit rows matching `filter`, newest first.
///
/// # Errors
/// Database errors.
pub fn list(
    conn: &mut DbConnection,
    filter: &AuditFilter,
    page: Page,
) -> Result<Paged<AuditEntry>, StoreError> {
    let build = || {
        let mut q = audit_log::table.into_boxed();
        if let Some(actor) = filter.actor_id {
            q = q.filter(audit_log::actor_id.eq(Some(DbUuid(actor))));
        }
        if let Some(t) = &filter.resource_type {
            q = q.filter(audit_log::resource_type.eq(t.clone()));
        }
        if let Some(id) = &filter.resource_id {
            q = q.filter(audit_log::resource_id.eq(Some(id.clone())));
        }
        if let Some(a) = &filter.action {
            q = q.filter(audit_log::action.eq(a.clone()));
        }
        if let Some(o) = &filter.outcome {
            q = q.filter(audit_log::outcome.eq(o.clone()));
        }
        if let Some(from) = filter.from {
            q = q.filter(audit_log::created_at.ge(DbTime(from)));
        }
        if let Some(to) = filter.to {
            q = q.filter(audit_log::created_at.lt(DbTime(to)));
        }
        q
    };
    let total = build().count().get_result(conn)?;
    let rows: Vec<AuditRow> = build()
        .order((audit_log::created_at.desc(), audit_log::id.desc()))
        .limit(page.limit)
        .offset(page.offset)
        .select(AuditRow::as_select())
        .load(conn)?;
    Ok(Paged {
        items: rows.into_iter().map(AuditEntry::from).collect(),
        total,
    })
}
