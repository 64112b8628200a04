//! The audit trail: who read or changed which person's data, when, from where, and with
//! what outcome. Append-only: there is no update or delete here, and database triggers
//! refuse them.

use crate::conn::DbConnection;
use crate::error::StoreError;
use crate::page::{Page, Paged};
use crate::schema::audit_log;
use crate::sql_types::{DbInet, DbTime, DbUuid};
use chrono::{DateTime, Utc};
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

/// Appends a row.
///
/// # Errors
/// Database errors.
pub fn append(
    conn: &mut DbConnection,
    entry: &NewAuditEntry,
    now: DateTime<Utc>,
) -> Result<Uuid, StoreError> {
    let id = Uuid::new_v4();
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
