//! The referral's lifecycle after creation: decline, expire now, resend the invitation,
//! and the expiry sweep.

use super::*;
use crate::conn::{write_transaction, DbConnection};
use crate::error::StoreError;
use crate::outbox::{self, NewMessage, OutboxKind};
use crate::schema::referrals;
use crate::sql_types::{DbTime, DbUuid};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use referral_domain::notices::Message;
use referral_domain::{DomainError, ReferralId, ReferralLifecycle, ReferralSource, ReferralStatus};

/// Declines a pending referral (the referee or an admin).
///
/// # Errors
/// [`StoreError::NotFound`]; the domain's `ReferralExpired` or `DeclineNotPending`.
pub fn decline(
    conn: &mut DbConnection,
    id: ReferralId,
    now: DateTime<Utc>,
) -> Result<Referral, StoreError> {
    close_pending(
        conn,
        id,
        now,
        |lifecycle| lifecycle.decline(now),
        DomainError::DeclineNotPending,
    )
}

/// An admin ends a pending referral now: its code stops working at once.
///
/// # Errors
/// [`StoreError::NotFound`]; the domain's `ExpireNotPending` when it is not pending.
pub fn expire_now(
    conn: &mut DbConnection,
    id: ReferralId,
    now: DateTime<Utc>,
) -> Result<Referral, StoreError> {
    close_pending(
        conn,
        id,
        now,
        |lifecycle| lifecycle.expire_now(now),
        DomainError::ExpireNotPending,
    )
}

/// Moves a pending referral to where the domain's `transition` takes it (status and expiry),
/// guarded on its still being pending when written; `refused` is the error when another
/// change got there first.
fn close_pending(
    conn: &mut DbConnection,
    id: ReferralId,
    now: DateTime<Utc>,
    transition: impl FnOnce(&mut ReferralLifecycle) -> Result<(), DomainError>,
    refused: fn(ReferralStatus) -> DomainError,
) -> Result<Referral, StoreError> {
    write_transaction(conn, |conn| {
        let referral = get(conn, id, now)?;
        let mut lifecycle = referral.lifecycle();
        transition(&mut lifecycle)?;
        let updated = diesel::update(
            referrals::table
                .find(DbUuid::from(id))
                .filter(referrals::status.eq(ReferralStatus::Pending.as_str())),
        )
        .set((
            referrals::status.eq(lifecycle.status().as_str()),
            referrals::expires_at.eq(DbTime(lifecycle.expires_at())),
            referrals::updated_at.eq(DbTime(now)),
        ))
        .execute(conn)?;
        if updated == 0 {
            return Err(refused(referral.status).into());
        }
        get(conn, id, now)
    })
}

/// Queues the invitation of a pending referral again (the same message as the first), at
/// most once per referral per clock hour, so a double click sends one.
///
/// # Errors
/// [`StoreError::NotFound`]; the domain's `ResendNotPossible` (not pending, or not invited
/// by email or SMS) and `InvitationRecentlySent`.
pub fn resend_invitation(
    conn: &mut DbConnection,
    id: ReferralId,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    write_transaction(conn, |conn| {
        let referral = get(conn, id, now)?;
        if referral.status != ReferralStatus::Pending {
            return Err(DomainError::ResendNotPossible.into());
        }
        let kind = match referral.referral_source {
            Some(ReferralSource::Email) => OutboxKind::Email,
            Some(ReferralSource::Sms) => OutboxKind::Sms,
            _ => return Err(DomainError::ResendNotPossible.into()),
        };
        let first = outbox::by_key(conn, &format!("invitation:{id}:{kind}"))?
            .ok_or(DomainError::ResendNotPossible)?;
        let queued = outbox::enqueue(
            conn,
            &NewMessage {
                kind,
                idempotency_key: format!(
                    "invitation:{id}:{kind}:resend:{}",
                    now.timestamp().div_euclid(3600)
                ),
                recipient: first.recipient,
                message: Message::from_parts(&first.template, &first.payload)
                    .map_err(|_| DomainError::ResendNotPossible)?,
            },
            now,
        )?;
        if queued {
            Ok(())
        } else {
            Err(DomainError::InvitationRecentlySent.into())
        }
    })
}

/// Stores the expiry of every pending referral past `expires_at`; returns how many.
///
/// # Errors
/// Database errors.
pub fn expire_due(conn: &mut DbConnection, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let expired = diesel::update(
        referrals::table
            .filter(referrals::status.eq(ReferralStatus::Pending.as_str()))
            .filter(referrals::expires_at.le(DbTime(now))),
    )
    .set((
        referrals::status.eq(ReferralStatus::Expired.as_str()),
        referrals::updated_at.eq(DbTime(now)),
    ))
    .execute(conn)?;
    Ok(expired)
}
