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

use crate::conn::{write_transaction, DbConnection};
use crate::error::StoreError;
use crate::page::{Page, Paged};
use crate::schema::{audit_chain_head, audit_log};
use crate::sql_types::{DbInet, DbTime, DbUuid};
use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::*;
use ring::hmac;
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

/// The key of the audit chain (derived from the service's secret).
#[derive(Debug, Clone)]
pub struct ChainKey(hmac::Key);

impl ChainKey {
    /// The chain key derived from `secret` (its own purpose string, so it is unrelated to
    /// the other keys derived from the same secret).
    pub fn derive(secret: &[u8]) -> Self {
        let derived = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, secret),
            b"referral audit chain v1",
        );
        ChainKey(hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()))
    }

    /// `HMAC(prev_hash ‖ content)` in hex. The content is a JSON array, so field boundaries
    /// are unambiguous.
    fn link(&self, prev_hash: &str, seq: i64, entry: &AuditEntry) -> String {
        let content = serde_json::json!([
            seq,
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
        ]);
        let mut context = hmac::Context::with_key(&self.0);
        context.update(prev_hash.as_bytes());
        context.update(b"\n");
        context.update(content.to_string().as_bytes());
        context
            .sign()
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// Appends a row, unchained: one insert, no lock, so audited requests never wait for one
/// another. [`seal`] links it into the chain within a second or so.
///
/// # Errors
/// Database errors.
pub fn append(
    conn: &mut DbConnection,
    entry: &NewAuditEntry,
    now: DateTime<Utc>,
) -> Result<Uuid, StoreError> {
    // Stored with microseconds on both databases: hash what is stored.
    let now = now.trunc_subsecs(6);
    let id = crate::conn::new_row_id();
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::id.eq(DbUuid(id)),
            audit_log::actor_id.eq(entry.actor_id.map(DbUuid)),
            audit_log::actor_role.eq(&entry.actor_role),
            audit_log::action.eq(&entry.action),
            audit_log::resource_type.eq(&entry.resource_type),
            audit_log::resource_id.eq(entry.resource_id.as_deref()),
            audit_log::outcome.eq(&entry.outcome),
            audit_log::ip_address.eq(entry.ip_address.map(DbInet)),
            audit_log::user_agent.eq(entry.user_agent.as_deref()),
            audit_log::created_at.eq(DbTime(now)),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Links up to `limit` unchained rows into the chain, oldest first, in one transaction that
/// holds the chain head's lock (so sealers on several instances take turns); returns how
/// many. Each row gets the next `seq`, the previous row's hash and its own.
///
/// # Errors
/// Database errors.
pub fn seal(conn: &mut DbConnection, key: &ChainKey, limit: i64) -> Result<usize, StoreError> {
    write_transaction(conn, |conn| {
        let head = audit_chain_head::table
            .find(1_i16)
            .select((audit_chain_head::last_seq, audit_chain_head::last_hash));
        let (mut seq, mut hash): (i64, String) = match conn {
            DbConnection::Pg(c) => head.for_update().first(c)?,
            // The write transaction already holds SQLite's only write lock.
            DbConnection::Sqlite(c) => head.first(c)?,
        };
        let rows: Vec<AuditRow> = audit_log::table
            .filter(audit_log::seq.is_null())
            .order((audit_log::created_at.asc(), audit_log::id.asc()))
            .limit(limit)
            .select(AuditRow::as_select())
            .load(conn)?;
        let sealed = rows.len();
        for row in rows {
            let entry = AuditEntry::from(row);
            seq += 1;
            let row_hash = key.link(&hash, seq, &entry);
            diesel::update(audit_log::table.find(DbUuid(entry.id)))
                .set((
                    audit_log::seq.eq(Some(seq)),
                    audit_log::prev_hash.eq(Some(&hash)),
                    audit_log::row_hash.eq(Some(&row_hash)),
                ))
                .execute(conn)?;
            hash = row_hash;
        }
        if sealed > 0 {
            diesel::update(audit_chain_head::table.find(1_i16))
                .set((
                    audit_chain_head::last_seq.eq(seq),
                    audit_chain_head::last_hash.eq(&hash),
                ))
                .execute(conn)?;
        }
        Ok(sealed)
    })
}

/// Seals every unchained row, in batches; returns how many.
///
/// # Errors
/// Database errors.
pub fn seal_all(conn: &mut DbConnection, key: &ChainKey) -> Result<usize, StoreError> {
    let mut total = 0;
    loop {
        let sealed = seal(conn, key, 5_000)?;
        total += sealed;
        if sealed < 5_000 {
            return Ok(total);
        }
    }
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

/// A row with its place in the chain: (row, seq, prev_hash, row_hash).
type ChainedRow = (AuditRow, Option<i64>, Option<String>, Option<String>);

/// Rows verified per query, so the log never has to fit in memory.
const VERIFY_PAGE: i64 = 5_000;

/// Recomputes the whole chain, in pages; reports the first row that does not match.
///
/// # Errors
/// Database errors.
pub fn verify(conn: &mut DbConnection, key: &ChainKey) -> Result<ChainReport, StoreError> {
    verify_with_progress(conn, key, |_| {})
}

/// As [`verify`], calling `progress` with the rows verified so far after each page.
///
/// # Errors
/// Database errors.
pub fn verify_with_progress(
    conn: &mut DbConnection,
    key: &ChainKey,
    mut progress: impl FnMut(i64),
) -> Result<ChainReport, StoreError> {
    let unchained: i64 = audit_log::table
        .filter(audit_log::seq.is_null())
        .count()
        .get_result(conn)?;
    let mut expected_seq = 1_i64;
    let mut prev_hash = String::new();
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
            ))
            .load(conn)?;
        let page_len = rows.len();
        for (row, seq, stored_prev, stored_hash) in rows {
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
            let computed = key.link(&prev_hash, seq, &entry);
            if stored_hash.as_deref() != Some(computed.as_str()) {
                return Ok(report(broken(
                    seq,
                    Some(entry.id),
                    "its content does not match its hash (altered)",
                )));
            }
            prev_hash = computed;
            expected_seq += 1;
        }
        progress(expected_seq - 1);
        if i64::try_from(page_len).unwrap_or(0) < VERIFY_PAGE {
            break;
        }
    }
    let (last_seq, last_hash): (i64, String) = audit_chain_head::table
        .find(1_i16)
        .select((audit_chain_head::last_seq, audit_chain_head::last_hash))
        .first(conn)?;
    let verified = expected_seq - 1;
    let broken = if last_seq != verified || last_hash != prev_hash {
        Some(broken(
            verified + 1,
            None,
            &format!("the log ends at row {verified} but its head records row {last_seq} (rows removed from the end)"),
        ))
    } else {
        None
    };
    Ok(ChainReport {
        verified,
        unchained,
        broken,
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
