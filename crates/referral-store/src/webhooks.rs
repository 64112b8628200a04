//! Outbound webhook endpoints and their events (#24). An event is written to the outbox in
//! the transaction of the change it reports, once per enabled endpoint subscribed to its
//! type (`kind = 'webhook'`, the recipient the endpoint's id); the API's delivery signs and
//! sends it, retrying with the outbox's backoff under the same `webhook-id`. An endpoint
//! that fails for a day in a row is disabled, with the reason for the admins.

use crate::conn::{write_transaction, DbConnection};
use crate::error::{corrupt, StoreError};
use crate::outbox::{self, NewMessage, OutboxKind, OutboxMessage};
use crate::page::{Page, Paged};
use crate::schema::{outbox as outbox_table, webhook_endpoints};
use crate::sql_types::{DbTextList, DbTime, DbUuid};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use referral_domain::notices::Message;
use referral_domain::notices::WebhookEvent;
use referral_domain::webhook::{disable_due, WebhookEventType, ROTATION_OVERLAP_HOURS};
use serde::Serialize;

/// An endpoint, as admins see it (never its secret, which is shown once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// Id.
    pub id: uuid::Uuid,
    /// Where events go.
    pub url: String,
    /// The event types it receives.
    pub events: Vec<WebhookEventType>,
    /// What it is for.
    pub description: Option<String>,
    /// Whether events are sent to it.
    pub enabled: bool,
    /// Failing since (no success since then), if it is.
    pub failing_since: Option<DateTime<Utc>>,
    /// Why it was disabled by the service, if it was.
    pub disabled_reason: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Until when a rotated-out secret still signs beside the current one, if one was
    /// rotated out (a time in the past: it no longer signs).
    pub previous_secret_until: Option<DateTime<Utc>>,
}

/// What an admin sets on an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointInput {
    /// Where events go (checked by the caller with `referral_domain::webhook::check_url`).
    pub url: String,
    /// The event types it receives (at least one).
    pub events: Vec<WebhookEventType>,
    /// What it is for.
    pub description: Option<String>,
    /// Whether events are sent to it.
    pub enabled: bool,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = webhook_endpoints)]
struct EndpointRow {
    id: DbUuid,
    url: String,
    events: DbTextList,
    description: Option<String>,
    enabled: bool,
    failing_since: Option<DbTime>,
    disabled_reason: Option<String>,
    created_at: DbTime,
    updated_at: DbTime,
    previous_secret_until: Option<DbTime>,
}

impl TryFrom<EndpointRow> for Endpoint {
    type Error = StoreError;
    fn try_from(row: EndpointRow) -> Result<Self, StoreError> {
        Ok(Endpoint {
            id: row.id.0,
            url: row.url,
            events: row
                .events
                .0
                .iter()
                .map(|e| WebhookEventType::from_code(e).ok_or_else(|| corrupt("webhook event")))
                .collect::<Result<_, _>>()?,
            description: row.description,
            enabled: row.enabled,
            failing_since: row.failing_since.map(|t| t.0),
            disabled_reason: row.disabled_reason,
            created_at: row.created_at.0,
            updated_at: row.updated_at.0,
            previous_secret_until: row.previous_secret_until.map(|t| t.0),
        })
    }
}

fn codes(events: &[WebhookEventType]) -> DbTextList {
    DbTextList(events.iter().map(|e| e.as_str().to_owned()).collect())
}

/// Creates an endpoint with `secret` (`whsec_...`, made by the caller and shown once, and
/// stored as the caller gives it: sealed with the data keyring, see `Keyring::seal`).
///
/// # Errors
/// Database errors.
pub fn create(
    conn: &mut DbConnection,
    input: &EndpointInput,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<Endpoint, StoreError> {
    let id = crate::conn::new_row_id();
    diesel::insert_into(webhook_endpoints::table)
        .values((
            webhook_endpoints::id.eq(DbUuid(id)),
            webhook_endpoints::url.eq(&input.url),
            webhook_endpoints::events.eq(codes(&input.events)),
            webhook_endpoints::description.eq(input.description.as_deref()),
            webhook_endpoints::enabled.eq(input.enabled),
            webhook_endpoints::secret.eq(secret),
            webhook_endpoints::created_at.eq(DbTime(now)),
            webhook_endpoints::updated_at.eq(DbTime(now)),
        ))
        .execute(conn)?;
    get(conn, id)
}

/// The endpoint with `id`.
///
/// # Errors
/// [`StoreError::NotFound`].
pub fn get(conn: &mut DbConnection, id: uuid::Uuid) -> Result<Endpoint, StoreError> {
    webhook_endpoints::table
        .find(DbUuid(id))
        .select(EndpointRow::as_select())
        .first(conn)?
        .try_into()
}

/// Every endpoint, oldest first.
///
/// # Errors
/// Database errors.
pub fn list(conn: &mut DbConnection) -> Result<Vec<Endpoint>, StoreError> {
    webhook_endpoints::table
        .order((webhook_endpoints::created_at, webhook_endpoints::id))
        .select(EndpointRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Endpoint::try_from)
        .collect()
}

/// Replaces what an admin sets; enabling an endpoint clears its failure record.
///
/// # Errors
/// [`StoreError::NotFound`].
pub fn update(
    conn: &mut DbConnection,
    id: uuid::Uuid,
    input: &EndpointInput,
    now: DateTime<Utc>,
) -> Result<Endpoint, StoreError> {
    let updated = diesel::update(webhook_endpoints::table.find(DbUuid(id)))
        .set((
            webhook_endpoints::url.eq(&input.url),
            webhook_endpoints::events.eq(codes(&input.events)),
            webhook_endpoints::description.eq(input.description.as_deref()),
            webhook_endpoints::enabled.eq(input.enabled),
            webhook_endpoints::updated_at.eq(DbTime(now)),
        ))
        .execute(conn)?;
    if updated == 0 {
        return Err(StoreError::NotFound);
    }
    if input.enabled {
        diesel::update(webhook_endpoints::table.find(DbUuid(id)))
            .set((
                webhook_endpoints::failing_since.eq(None::<DbTime>),
                webhook_endpoints::disabled_reason.eq(None::<String>),
            ))
            .execute(conn)?;
    }
    get(conn, id)
}

/// Deletes an endpoint; its queued deliveries are given up.
///
/// # Errors
/// [`StoreError::NotFound`].
pub fn delete(
    conn: &mut DbConnection,
    id: uuid::Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    write_transaction(conn, |conn| {
        let deleted = diesel::delete(webhook_endpoints::table.find(DbUuid(id))).execute(conn)?;
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        diesel::update(
            outbox_table::table
                .filter(outbox_table::kind.eq(OutboxKind::Webhook.as_str()))
                .filter(outbox_table::recipient.eq(id.to_string()))
                .filter(outbox_table::status.eq_any(["queued", "sending"])),
        )
        .set((
            outbox_table::status.eq("failed"),
            outbox_table::last_error.eq(Some("the endpoint was deleted")),
            outbox_table::updated_at.eq(DbTime(now)),
        ))
        .execute(conn)?;
        Ok(())
    })
}

/// Makes `secret` the endpoint's secret; the old one still signs for
/// [`ROTATION_OVERLAP_HOURS`] hours.
///
/// # Errors
/// [`StoreError::NotFound`].
pub fn rotate_secret(
    conn: &mut DbConnection,
    id: uuid::Uuid,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let old: String = webhook_endpoints::table
        .find(DbUuid(id))
        .select(webhook_endpoints::secret)
        .first(conn)?;
    diesel::update(webhook_endpoints::table.find(DbUuid(id)))
        .set((
            webhook_endpoints::secret.eq(secret),
            webhook_endpoints::previous_secret.eq(Some(old)),
            webhook_endpoints::previous_secret_until
                .eq(Some(DbTime(now + Duration::hours(ROTATION_OVERLAP_HOURS)))),
            webhook_endpoints::updated_at.eq(DbTime(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Stops the rotated-out secret signing at once (it leaked, or the receiver has switched):
/// from the next delivery on, only the current secret signs.
///
/// # Errors
/// [`StoreError::NotFound`].
pub fn revoke_previous_secret(
    conn: &mut DbConnection,
    id: uuid::Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let updated = diesel::update(webhook_endpoints::table.find(DbUuid(id)))
        .set((
            webhook_endpoints::previous_secret.eq(None::<String>),
            webhook_endpoints::previous_secret_until.eq(None::<DbTime>),
            webhook_endpoints::updated_at.eq(DbTime(now)),
        ))
        .execute(conn)?;
    if updated == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Writes each of `events` for every enabled endpoint subscribed to its type, in the
/// caller's transaction (one read of the endpoints). `data` carries ids, types, amounts and
/// times only.
///
/// # Errors
/// Database errors.
pub fn emit_all(
    conn: &mut DbConnection,
    events: &[(WebhookEventType, serde_json::Value)],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let endpoints: Vec<(DbUuid, DbTextList)> = webhook_endpoints::table
        .filter(webhook_endpoints::enabled.eq(true))
        .select((webhook_endpoints::id, webhook_endpoints::events))
        .load(conn)?;
    for (event_type, data) in events {
        for (endpoint, subscribed) in &endpoints {
            if subscribed.0.iter().any(|e| e == event_type.as_str()) {
                enqueue(conn, endpoint.0, event_type.as_str(), data, now)?;
            }
        }
    }
    Ok(())
}

/// As [`emit_all`], for one event.
///
/// # Errors
/// Database errors.
pub fn emit(
    conn: &mut DbConnection,
    event_type: WebhookEventType,
    data: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    emit_all(conn, &[(event_type, data)], now)
}

/// Queues a reward event with [`reward_data`], in the caller's transaction.
///
/// # Errors
/// Database errors.
pub fn emit_reward(
    conn: &mut DbConnection,
    event_type: WebhookEventType,
    reward: &crate::rewards::Reward,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    emit(conn, event_type, reward_data(reward), now)
}

/// The data of a referral event.
pub fn referral_data(referral: &crate::referrals::Referral) -> serde_json::Value {
    serde_json::json!({
        "referral_id": referral.id,
        "program_id": referral.program_id,
        "referrer_id": referral.referrer_id,
        "referee_patient_id": referral.referee_patient_id,
        "status": referral.status.as_str(),
        "referral_source": referral.referral_source.map(|s| s.as_str()),
    })
}

/// The data of a reward event: ids, type, amount, status and times. Never why a reward was
/// withheld or cancelled (a federal payer, a state, a refund are the patients' facts); a
/// receiver that needs them asks the admin API.
pub fn reward_data(reward: &crate::rewards::Reward) -> serde_json::Value {
    serde_json::json!({
        "reward_id": reward.id,
        "referral_id": reward.referral_id,
        "patient_id": reward.patient_id,
        "party": reward.party.as_str(),
        "reward_type": reward.reward_type.as_str(),
        "amount": reward.reward_amount.as_ref().map(|m| m.to_string()),
        "status": reward.status.as_str(),
        "expires_at": reward.expires_at,
        "hold_until": reward.hold_until,
    })
}

/// The events a newly granted (or withheld) reward raises.
pub fn reward_granted(
    reward: &crate::rewards::Reward,
) -> Vec<(WebhookEventType, serde_json::Value)> {
    use referral_domain::RewardStatus;
    let data = reward_data(reward);
    if reward.withheld_reason.is_some() {
        return vec![(WebhookEventType::RewardWithheld, data)];
    }
    let mut events = vec![(WebhookEventType::RewardGranted, data.clone())];
    if reward.status == RewardStatus::Available {
        events.push((WebhookEventType::RewardAvailable, data));
    }
    events
}

fn enqueue(
    conn: &mut DbConnection,
    endpoint: uuid::Uuid,
    event_type: &str,
    data: &serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    {
        let endpoint = DbUuid(endpoint);
        let webhook_id = format!("msg_{}", crate::conn::new_row_id().simple());
        outbox::enqueue(
            conn,
            &NewMessage {
                kind: OutboxKind::Webhook,
                idempotency_key: format!("webhook:{}:{webhook_id}", endpoint.0),
                recipient: endpoint.0.to_string(),
                message: Message::Webhook(WebhookEvent {
                    webhook_id,
                    event_type: event_type.to_owned(),
                    timestamp: now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                    data: data.clone(),
                }),
            },
            now,
        )?;
    }
    Ok(())
}

/// Where and how to send one delivery.
#[derive(Debug, Clone)]
pub struct Target {
    /// The endpoint's URL.
    pub url: String,
    /// The secrets that sign it now (the current one first).
    pub secrets: Vec<String>,
    /// Whether it may be sent to (enabled).
    pub enabled: bool,
}

/// The endpoint a delivery goes to, with the secrets that sign at `now`.
///
/// # Errors
/// [`StoreError::NotFound`] for an endpoint deleted since.
pub fn target(
    conn: &mut DbConnection,
    endpoint: &str,
    now: DateTime<Utc>,
) -> Result<Target, StoreError> {
    let id: uuid::Uuid = endpoint.parse().map_err(|_| StoreError::NotFound)?;
    let (url, secret, previous, until, enabled): (
        String,
        String,
        Option<String>,
        Option<DbTime>,
        bool,
    ) = webhook_endpoints::table
        .find(DbUuid(id))
        .select((
            webhook_endpoints::url,
            webhook_endpoints::secret,
            webhook_endpoints::previous_secret,
            webhook_endpoints::previous_secret_until,
            webhook_endpoints::enabled,
        ))
        .first(conn)?;
    let mut secrets = vec![secret];
    if let (Some(previous), Some(until)) = (previous, until) {
        if now < until.0 {
            secrets.push(previous);
        }
    }
    Ok(Target {
        url,
        secrets,
        enabled,
    })
}

/// Records a delivery's result: a success clears the failure record; a failure starts it,
/// and after a day of failures in a row disables the endpoint with `error` as the reason.
/// Whether the endpoint is now disabled.
///
/// # Errors
/// Database errors.
pub fn record_result(
    conn: &mut DbConnection,
    endpoint: &str,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let Ok(id) = endpoint.parse::<uuid::Uuid>() else {
        return Ok(false);
    };
    let target = webhook_endpoints::table.find(DbUuid(id));
    let Some(error) = error else {
        diesel::update(target)
            .set(webhook_endpoints::failing_since.eq(None::<DbTime>))
            .execute(conn)?;
        return Ok(false);
    };
    let since: Option<Option<DbTime>> = target
        .select(webhook_endpoints::failing_since)
        .first(conn)
        .optional()?;
    let Some(since) = since else {
        return Ok(false);
    };
    let since = since.map_or(now, |t| t.0);
    if disable_due(Some(since), now) {
        let reason: String = format!(
            "failing since {}: {}",
            since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            error.chars().take(300).collect::<String>()
        );
        diesel::update(target)
            .set((
                webhook_endpoints::enabled.eq(false),
                webhook_endpoints::disabled_reason.eq(Some(reason)),
                webhook_endpoints::updated_at.eq(DbTime(now)),
            ))
            .execute(conn)?;
        tracing::warn!(endpoint = %id, "webhook endpoint disabled after a day of failures");
        return Ok(true);
    }
    diesel::update(target)
        .set(webhook_endpoints::failing_since.eq(Some(DbTime(since))))
        .execute(conn)?;
    Ok(false)
}

/// Queues a test event (`webhook.test`, see [`referral_domain::webhook::TEST_EVENT_TYPE`])
/// for one endpoint, whatever it subscribes to and even while it is disabled: an admin
/// checks the receiver and its signature check before turning the endpoint on. The data
/// names nobody.
///
/// # Errors
/// [`StoreError::NotFound`] for no such endpoint.
pub fn send_test(
    conn: &mut DbConnection,
    endpoint: uuid::Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    get(conn, endpoint)?;
    enqueue(
        conn,
        endpoint,
        referral_domain::webhook::TEST_EVENT_TYPE,
        &serde_json::json!({"test": true, "endpoint_id": endpoint}),
        now,
    )
}

/// The recent deliveries of an endpoint, newest first.
///
/// # Errors
/// Database errors.
pub fn deliveries(
    conn: &mut DbConnection,
    endpoint: uuid::Uuid,
    page: Page,
) -> Result<Paged<OutboxMessage>, StoreError> {
    outbox::for_recipient(conn, OutboxKind::Webhook, &endpoint.to_string(), page)
}

/// Queues a delivery of an endpoint again, at once (same `webhook-id`).
///
/// # Errors
/// [`StoreError::NotFound`] for no such delivery of this endpoint.
pub fn redeliver(
    conn: &mut DbConnection,
    endpoint: uuid::Uuid,
    message: uuid::Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let updated = diesel::update(
        outbox_table::table
            .find(DbUuid(message))
            .filter(outbox_table::kind.eq(OutboxKind::Webhook.as_str()))
            .filter(outbox_table::recipient.eq(endpoint.to_string()))
            .filter(outbox_table::status.ne("sending")),
    )
    .set((
        outbox_table::status.eq("queued"),
        outbox_table::attempts.eq(0),
        outbox_table::next_attempt_at.eq(DbTime(now)),
        outbox_table::updated_at.eq(DbTime(now)),
    ))
    .execute(conn)?;
    if updated == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
