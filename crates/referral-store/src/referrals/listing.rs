//! Listing and filtering referrals (by status, program, referrer, provider tenancy).

use super::*;
use crate::conn::{DbConnection, MultiBackend};
use crate::error::StoreError;
use crate::page::{Page, Paged};
use crate::schema::{referrals, share_link_referrals};
use crate::sql_types::{DbTime, DbUuid};
use chrono::{DateTime, Utc};
use diesel::dsl::not;
use diesel::prelude::*;
use referral_domain::{PatientId, ProgramId, ReferralStatus, ReferrerStatus};

/// Filters of the referral list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferralFilter {
    /// Status as of now (a pending referral past expiry counts as expired).
    pub status: Option<ReferralStatus>,
    /// Program.
    pub program_id: Option<ProgramId>,
    /// Only these programs (a provider's own), when set: tenancy.
    pub within: Option<Vec<ProgramId>>,
    /// Referrer.
    pub referrer_id: Option<PatientId>,
    /// Created at or after.
    pub from: Option<DateTime<Utc>>,
    /// Created before.
    pub to: Option<DateTime<Utc>>,
    /// Status as the referrer sees it (minimum necessary): `invited` also matches friends
    /// who joined without letting the referrer know.
    pub referrer_status: Option<ReferrerStatus>,
    /// The referrer's own list: a referral made through their personal share link appears
    /// only when its friend agreed to let them know (the referrer never typed its details).
    pub as_referrer: bool,
}

/// How many referrals `referrer` created at or after `since`, and when the oldest of them
/// was created (a per-patient daily limit frees up a place then).
///
/// # Errors
/// Database errors.
pub fn created_since(
    conn: &mut DbConnection,
    referrer: PatientId,
    since: DateTime<Utc>,
) -> Result<(i64, Option<DateTime<Utc>>), StoreError> {
    let mine = || {
        referrals::table
            .filter(referrals::referrer_id.eq(DbUuid::from(referrer)))
            .filter(referrals::created_at.ge(DbTime(since)))
    };
    let count: i64 = mine().count().get_result(conn)?;
    let oldest: Option<DbTime> = mine()
        .select(referrals::created_at)
        .order(referrals::created_at.asc())
        .first(conn)
        .optional()?;
    Ok((count, oldest.map(|t| t.0)))
}

/// Whether no referral exists yet (the demo sign-in offers demo data then).
///
/// # Errors
/// Database errors.
pub fn none_yet(conn: &mut DbConnection) -> Result<bool, StoreError> {
    let any: Option<DbUuid> = referrals::table
        .select(referrals::id)
        .first(conn)
        .optional()?;
    Ok(any.is_none())
}

/// Referrals matching `filter`, newest first (ties broken by id, so pages are stable).
///
/// # Errors
/// Database errors.
pub fn list(
    conn: &mut DbConnection,
    filter: &ReferralFilter,
    now: DateTime<Utc>,
    page: Page,
) -> Result<Paged<Referral>, StoreError> {
    let build = || {
        let mut q = referrals::table.into_boxed();
        q = match filter.status {
            None => q,
            Some(ReferralStatus::Pending) => q
                .filter(referrals::status.eq(ReferralStatus::Pending.as_str()))
                .filter(referrals::expires_at.gt(DbTime(now))),
            Some(ReferralStatus::Expired) => q.filter(
                referrals::status
                    .eq(ReferralStatus::Expired.as_str())
                    .or(referrals::status
                        .eq(ReferralStatus::Pending.as_str())
                        .and(referrals::expires_at.le(DbTime(now)))),
            ),
            Some(other) => q.filter(referrals::status.eq(other.as_str())),
        };
        if let Some(view) = filter.referrer_status {
            q = q.filter(seen_by_referrer_as(view, now));
        }
        if filter.as_referrer {
            q =
                q.filter(referrals::referee_shares_with_referrer.eq(true).or(not(
                    referrals::id.eq_any(
                        share_link_referrals::table.select(share_link_referrals::referral_id),
                    ),
                )));
        }
        if let Some(p) = filter.program_id {
            q = q.filter(referrals::program_id.eq(DbUuid::from(p)));
        }
        if let Some(ids) = &filter.within {
            q = q.filter(
                referrals::program_id
                    .eq_any(ids.iter().map(|p| DbUuid::from(*p)).collect::<Vec<_>>()),
            );
        }
        if let Some(r) = filter.referrer_id {
            q = q.filter(referrals::referrer_id.eq(DbUuid::from(r)));
        }
        if let Some(from) = filter.from {
            q = q.filter(referrals::created_at.ge(DbTime(from)));
        }
        if let Some(to) = filter.to {
            q = q.filter(referrals::created_at.lt(DbTime(to)));
        }
        q
    };
    let total = build().count().get_result(conn)?;
    let rows: Vec<ReferralRow> = build()
        .order((referrals::created_at.desc(), referrals::id.desc()))
        .limit(page.limit)
        .offset(page.offset)
        .select(ReferralRow::as_select())
        .load(conn)?;
    let items = rows
        .into_iter()
        .map(|r| r.into_referral(now))
        .collect::<Result<_, _>>()?;
    Ok(Paged { items, total })
}

/// A boxed condition on referral rows.
type Condition =
    Box<dyn BoxableExpression<referrals::table, MultiBackend, SqlType = diesel::sql_types::Bool>>;

/// The SQL form of [`ReferrerStatus::filter`]: referrals that read as `view` at `now`
/// (the friend's consent and the invitation's date, nothing the friend did privately).
fn seen_by_referrer_as(view: ReferrerStatus, now: DateTime<Utc>) -> Condition {
    let filter = view.filter();
    let consent: Condition = if filter.shared {
        Box::new(referrals::referee_shares_with_referrer.eq(true))
    } else {
        Box::new(not(referrals::referee_shares_with_referrer))
    };
    match filter.lapsed {
        None => consent,
        Some(true) => Box::new(consent.and(referrals::expires_at.le(DbTime(now)))),
        Some(false) => Box::new(consent.and(referrals::expires_at.gt(DbTime(now)))),
    }
}
