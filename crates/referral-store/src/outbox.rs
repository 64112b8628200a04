//! The outbox: email, SMS and payouts written in the same transaction as the change that
//! causes them, and delivered later by a worker with retries.
//!
//! A message moves `queued → sending → sent`, or back to `queued` for a retry, or to `failed`
//! after the last attempt, or to `suppressed` when its recipient unsubscribed. A worker claims due messages with a lease (`next_attempt_at` of a
//! `sending` message is the lease's end); a worker that dies leaves its messages to be
//! claimed again when the lease runs out. On PostgreSQL, claims use `FOR UPDATE SKIP LOCKED`
//! so that several workers never claim the same message.

use crate::conn::{insert_new, write_transaction, DbConnection};
use crate::error::StoreError;
use crate::error::{corrupt, parse_enum};
use crate::page::{Page, Paged};
use crate::schema::outbox;
use crate::sql_types::{DbJson, DbTime, DbUuid};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// What a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxKind {
    /// An email (SendGrid).
    Email,
    /// An SMS (Twilio).
    Sms,
    /// A cash payout (Stripe).
    Payout,
    /// A webhook event (the recipient is the endpoint's id).
    Webhook,
}

/// Where a message is in its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    /// Waiting for delivery (or for a retry).
    Queued,
    /// Claimed by a worker.
    Sending,
    /// Delivered.
    Sent,
    /// Given up after the last attempt.
    Failed,
    /// Not sent: the recipient unsubscribed.
    Suppressed,
}

macro_rules! text_codes {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// The stored text.
            pub const fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }
        }
        impl FromStr for $ty {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                match s { $($text => Ok($ty::$variant),)+ _ => Err(()) }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
text_codes!(OutboxKind { Email => "email", Sms => "sms", Payout => "payout", Webhook => "webhook" });
text_codes!(OutboxStatus { Queued => "queued", Sending => "sending", Sent => "sent", Failed => "failed", Suppressed => "suppressed" });

/// A message to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    /// What it is.
    pub kind: OutboxKind,
    /// One message per key: queuing the same key twice queues it once, and the key goes to
    /// providers that accept one, so a retry never sends twice.
    pub idempotency_key: String,
    /// Email address, phone number, or (payouts) the patient id.
    pub recipient: String,
    /// The message: its template and typed fields.
    pub message: referral_domain::notices::Message,
}

/// A queued message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxMessage {
    /// Id.
    pub id: Uuid,
    /// What it is.
    pub kind: OutboxKind,
    /// Idempotency key.
    pub idempotency_key: String,
    /// Recipient (PHI: never log it).
    #[serde(skip)]
    pub recipient: String,
    /// Template name.
    pub template: String,
    /// Template data.
    #[serde(skip)]
    pub payload: serde_json::Value,
    /// Delivery status.
    pub status: OutboxStatus,
    /// Attempts so far.
    pub attempts: i32,
    /// When it is due (or, while sending, when the lease ends).
    pub next_attempt_at: DateTime<Utc>,
    /// The last delivery error.
    pub last_error: Option<String>,
    /// When it was delivered.
    pub sent_at: Option<DateTime<Utc>>,
    /// Queued.
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = outbox)]
struct MessageRow {
    id: DbUuid,
    kind: String,
    idempotency_key: String,
    recipient: String,
    template: String,
    payload: DbJson,
    status: String,
    attempts: i32,
    next_attempt_at: DbTime,
    last_error: Option<String>,
    sent_at: Option<DbTime>,
    created_at: DbTime,
}

impl TryFrom<MessageRow> for OutboxMessage {
    type Error = StoreError;

    fn try_from(row: MessageRow) -> Result<Self, StoreError> {
        Ok(OutboxMessage {
            id: row.id.0,
            kind: parse_enum(&row.kind, "outbox kind")?,
            idempotency_key: row.idempotency_key,
            recipient: row.recipient,
            template: row.template,
            payload: row.payload.0,
            status: row.status.parse().map_err(|()| corrupt("outbox status"))?,
            attempts: row.attempts,
            next_attempt_at: row.next_attempt_at.0,
            last_error: row.last_error,
            sent_at: row.sent_at.map(|t| t.0),
            created_at: row.created_at.0,
        })
    }
}

/// Queues a message inside the caller's transaction. Returns `false` when a message with
/// the same idempotency key was already queued. The suppression list is checked when the
/// message is delivered, so a message queued before its recipient unsubscribed is not sent
/// either.
///
/// # Errors
/// Database errors.
pub fn enqueue(
    conn: &mut DbConnection,
    message: &NewMessage,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    insert_new!(
        conn,
        diesel::insert_into(outbox::table).values((
            outbox::id.eq(DbUuid(crate::conn::new_row_id())),
            outbox::kind.eq(message.kind.as_str()),
            outbox::idempotency_key.eq(&message.idempotency_key),
            outbox::recipient.eq(&message.recipient),
            outbox::template.eq(message.message.template()),
            outbox::payload.eq(DbJson(message.message.payload())),
            outbox::status.eq(OutboxStatus::Queued.as_str()),
            outbox::attempts.eq(0),
            outbox::next_attempt_at.eq(DbTime(now)),
            outbox::created_at.eq(DbTime(now)),
            outbox::updated_at.eq(DbTime(now)),
        ))
    )
}

/// Which messages one delivery lane claims. Webhooks go to endpoints that other people run
/// and may be slow or silent; they have their own lane, so that an email or a text (a
/// registration confirmation, an invitation) never waits behind them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Email, SMS and payouts: the platform's own providers.
    Messages,
    /// Webhook events to the endpoints admins registered.
    Webhooks,
}

impl Lane {
    /// Every lane.
    pub const ALL: [Lane; 2] = [Lane::Messages, Lane::Webhooks];

    /// The kinds of message the lane carries.
    pub const fn kinds(self) -> &'static [OutboxKind] {
        match self {
            Lane::Messages => &[OutboxKind::Email, OutboxKind::Sms, OutboxKind::Payout],
            Lane::Webhooks => &[OutboxKind::Webhook],
        }
    }
}

/// Claims up to `limit` due messages of any kind for `lease` (see [`claim_lane`]).
///
/// # Errors
/// Database errors.
pub fn claim(
    conn: &mut DbConnection,
    limit: i64,
    lease: Duration,
    now: DateTime<Utc>,
) -> Result<Vec<OutboxMessage>, StoreError> {
    let every = [
        OutboxKind::Email,
        OutboxKind::Sms,
        OutboxKind::Payout,
        OutboxKind::Webhook,
    ];
    claim_kinds(conn, &every, limit, lease, now)
}

/// Claims up to `limit` due messages of `lane` for `lease`: they become `sending` with one
/// more attempt, and come back to any worker if not completed before the lease ends.
///
/// # Errors
/// Database errors.
pub fn claim_lane(
    conn: &mut DbConnection,
    lane: Lane,
    limit: i64,
    lease: Duration,
    now: DateTime<Utc>,
) -> Result<Vec<OutboxMessage>, StoreError> {
    claim_kinds(conn, lane.kinds(), limit, lease, now)
}

fn claim_kinds(
    conn: &mut DbConnection,
    kinds: &[OutboxKind],
    limit: i64,
    lease: Duration,
    now: DateTime<Utc>,
) -> Result<Vec<OutboxMessage>, StoreError> {
    write_transaction(conn, |conn| {
        let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        let due = outbox::table
            .filter(outbox::status.eq_any([
                OutboxStatus::Queued.as_str(),
                OutboxStatus::Sending.as_str(),
            ]))
            .filter(outbox::kind.eq_any(kinds))
            .filter(outbox::next_attempt_at.le(DbTime(now)))
            .order((outbox::next_attempt_at.asc(), outbox::id.asc()))
            .limit(limit)
            .select(outbox::id);
        let ids: Vec<DbUuid> = match conn {
            DbConnection::Pg(c) => due.for_update().skip_locked().load(c)?,
            // The write transaction holds SQLite's only write lock: nobody else claims.
            DbConnection::Sqlite(c) => due.load(c)?,
        };
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        diesel::update(outbox::table.filter(outbox::id.eq_any(&ids)))
            .set((
                outbox::status.eq(OutboxStatus::Sending.as_str()),
                outbox::attempts.eq(outbox::attempts + 1),
                outbox::next_attempt_at.eq(DbTime(now + lease)),
                outbox::updated_at.eq(DbTime(now)),
            ))
            .execute(conn)?;
        let rows: Vec<MessageRow> = outbox::table
            .filter(outbox::id.eq_any(&ids))
            .order((outbox::created_at.asc(), outbox::id.asc()))
            .select(MessageRow::as_select())
            .load(conn)?;
        rows.into_iter().map(OutboxMessage::try_from).collect()
    })
}

/// Puts a claimed message back, unsent and without counting the attempt, until `until`:
/// its endpoint's circuit is open, so it was never tried.
///
/// # Errors
/// Database errors.
pub fn defer(
    conn: &mut DbConnection,
    id: Uuid,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    diesel::update(
        outbox::table
            .filter(outbox::id.eq(DbUuid(id)))
            .filter(outbox::status.eq(OutboxStatus::Sending.as_str())),
    )
    .set((
        outbox::status.eq(OutboxStatus::Queued.as_str()),
        outbox::attempts.eq(outbox::attempts - 1),
        outbox::next_attempt_at.eq(DbTime(until)),
        outbox::updated_at.eq(DbTime(now)),
    ))
    .execute(conn)?;
    Ok(())
}

/// Extends the lease of the messages `ids` this worker still holds to `until`: a worker
/// renews its claim while it works through a batch, so that the lease can be sized to one
/// send and a dead worker's messages are claimed again soon. Returns how many it still held.
///
/// # Errors
/// Database errors.
pub fn renew(
    conn: &mut DbConnection,
    ids: &[Uuid],
    until: DateTime<Utc>,
) -> Result<usize, StoreError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let ids: Vec<DbUuid> = ids.iter().copied().map(DbUuid).collect();
    Ok(diesel::update(
        outbox::table
            .filter(outbox::id.eq_any(ids))
            .filter(outbox::status.eq(OutboxStatus::Sending.as_str())),
    )
    .set(outbox::next_attempt_at.eq(DbTime(until)))
    .execute(conn)?)
}

fn finish(
    conn: &mut DbConnection,
    id: Uuid,
    status: OutboxStatus,
    error: Option<&str>,
    next_attempt_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let sent_at = (status == OutboxStatus::Sent).then_some(DbTime(now));
    let updated = diesel::update(
        outbox::table
            .find(DbUuid(id))
            .filter(outbox::status.eq(OutboxStatus::Sending.as_str())),
    )
    .set((
        outbox::status.eq(status.as_str()),
        outbox::last_error.eq(error),
        outbox::sent_at.eq(sent_at),
        outbox::next_attempt_at.eq(DbTime(next_attempt_at)),
        outbox::updated_at.eq(DbTime(now)),
    ))
    .execute(conn)?;
    if updated == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Marks a claimed message delivered.
///
/// # Errors
/// [`StoreError::NotFound`] when it is not claimed (another worker took it over).
pub fn complete(conn: &mut DbConnection, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
    finish(conn, id, OutboxStatus::Sent, None, now, now)
}

/// Puts a claimed message back in the queue until `next_attempt_at`.
///
/// # Errors
/// [`StoreError::NotFound`] when it is not claimed.
pub fn retry(
    conn: &mut DbConnection,
    id: Uuid,
    error: &str,
    next_attempt_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    finish(
        conn,
        id,
        OutboxStatus::Queued,
        Some(error),
        next_attempt_at,
        now,
    )
}

/// Gives up on a claimed message.
///
/// # Errors
/// [`StoreError::NotFound`] when it is not claimed.
pub fn fail(
    conn: &mut DbConnection,
    id: Uuid,
    error: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    finish(conn, id, OutboxStatus::Failed, Some(error), now, now)
}

/// Closes a claimed message without sending it: its recipient unsubscribed.
///
/// # Errors
/// [`StoreError::NotFound`] when it is not claimed.
pub fn suppress(conn: &mut DbConnection, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
    finish(
        conn,
        id,
        OutboxStatus::Suppressed,
        Some("the recipient unsubscribed"),
        now,
        now,
    )
}

/// The message queued under `key`, if any.
///
/// # Errors
/// Database errors.
pub fn by_key(conn: &mut DbConnection, key: &str) -> Result<Option<OutboxMessage>, StoreError> {
    let row: Option<MessageRow> = outbox::table
        .filter(outbox::idempotency_key.eq(key))
        .select(MessageRow::as_select())
        .first(conn)
        .optional()?;
    row.map(OutboxMessage::try_from).transpose()
}

/// Messages, newest first, optionally of one status (`queued` includes claimed ones).
///
/// # Errors
/// Database errors.
pub fn list(
    conn: &mut DbConnection,
    status: Option<OutboxStatus>,
    page: Page,
) -> Result<Paged<OutboxMessage>, StoreError> {
    let mut query = outbox::table.into_boxed();
    let mut count = outbox::table.into_boxed();
    if let Some(status) = status {
        // A claimed message is still waiting for delivery: it lists as queued.
        let statuses = match status {
            OutboxStatus::Queued | OutboxStatus::Sending => vec![
                OutboxStatus::Queued.as_str(),
                OutboxStatus::Sending.as_str(),
            ],
            other => vec![other.as_str()],
        };
        query = query.filter(outbox::status.eq_any(statuses.clone()));
        count = count.filter(outbox::status.eq_any(statuses));
    }
    let total = count.count().get_result(conn)?;
    newest_first(conn, query, total, page)
}

/// One page of `query`'s messages, newest first, with the `total` counted by the caller.
fn newest_first(
    conn: &mut DbConnection,
    query: outbox::BoxedQuery<'_, <DbConnection as diesel::Connection>::Backend>,
    total: i64,
    page: Page,
) -> Result<Paged<OutboxMessage>, StoreError> {
    let rows: Vec<MessageRow> = query
        .order((outbox::created_at.desc(), outbox::id.desc()))
        .limit(page.limit)
        .offset(page.offset)
        .select(MessageRow::as_select())
        .load(conn)?;
    let items = rows
        .into_iter()
        .map(OutboxMessage::try_from)
        .collect::<Result<_, _>>()?;
    Ok(Paged { items, total })
}

/// The messages of `kind` to `recipient`, newest first (a webhook endpoint's deliveries).
///
/// # Errors
/// Database errors.
pub fn for_recipient(
    conn: &mut DbConnection,
    kind: OutboxKind,
    recipient: &str,
    page: Page,
) -> Result<Paged<OutboxMessage>, StoreError> {
    let filtered = || {
        outbox::table
            .filter(outbox::kind.eq(kind.as_str()))
            .filter(outbox::recipient.eq(recipient.to_owned()))
            .into_boxed()
    };
    let total = filtered().count().get_result(conn)?;
    newest_first(conn, filtered(), total, page)
}
