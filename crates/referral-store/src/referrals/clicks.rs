//! Clicks and other interactions: recorded one by one or in batches, tallied, and the
//! funnel's "clicked" step marked once per referral.

use crate::conn::{write_transaction, DbConnection};
use crate::error::parse_enum;
use crate::error::StoreError;
use crate::rollups::{self, Cohort, Delta};
use crate::schema::{referral_interactions, referrals};
use crate::sql_types::{DbInet, DbJson, DbTime, DbUuid};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use referral_domain::{InteractionType, ReferralCode, ReferralId};
use serde::Serialize;
use std::net::IpAddr;

/// Where a request came from, for interaction rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestOrigin {
    /// Caller's address.
    pub ip_address: Option<IpAddr>,
    /// Caller's user agent.
    pub user_agent: Option<String>,
    /// Where the link was opened from (`utm_source` or similar).
    pub source: Option<String>,
}

/// Appends an interaction row (click, email sent, registration, conversion).
///
/// # Errors
/// Database errors.
pub fn record_interaction(
    conn: &mut DbConnection,
    referral_id: ReferralId,
    kind: InteractionType,
    origin: &RequestOrigin,
    metadata: Option<serde_json::Value>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    insert_interaction(
        conn,
        crate::conn::new_row_id(),
        referral_id,
        kind,
        origin,
        metadata,
        now,
    )
}

/// As [`record_interaction`], under an id chosen beforehand (a conversion decides its
/// writes, ids included, before writing any).
pub(crate) fn insert_interaction(
    conn: &mut DbConnection,
    id: uuid::Uuid,
    referral_id: ReferralId,
    kind: InteractionType,
    origin: &RequestOrigin,
    metadata: Option<serde_json::Value>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    diesel::insert_into(referral_interactions::table)
        .values((
            referral_interactions::id.eq(DbUuid(id)),
            referral_interactions::referral_id.eq(DbUuid::from(referral_id)),
            referral_interactions::interaction_type.eq(kind.as_str()),
            referral_interactions::ip_address.eq(origin.ip_address.map(DbInet)),
            referral_interactions::user_agent.eq(origin.user_agent.as_deref()),
            referral_interactions::source.eq(origin.source.as_deref()),
            referral_interactions::metadata.eq(metadata.map(DbJson)),
            referral_interactions::created_at.eq(DbTime(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// One interaction row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Interaction {
    /// What happened.
    pub interaction_type: InteractionType,
    /// Where from.
    pub source: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// The interactions of a referral, oldest first.
///
/// # Errors
/// Database errors.
pub fn interactions(
    conn: &mut DbConnection,
    referral_id: ReferralId,
) -> Result<Vec<Interaction>, StoreError> {
    let rows: Vec<(String, Option<String>, DbTime)> = referral_interactions::table
        .filter(referral_interactions::referral_id.eq(DbUuid::from(referral_id)))
        .order((
            referral_interactions::created_at.asc(),
            referral_interactions::id.asc(),
        ))
        .select((
            referral_interactions::interaction_type,
            referral_interactions::source,
            referral_interactions::created_at,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(kind, source, at)| {
            Ok(Interaction {
                interaction_type: parse_enum(&kind, "interaction type")?,
                source,
                created_at: at.0,
            })
        })
        .collect()
}

/// Records a click on a referral link as its interaction row, in **one statement**
/// (`INSERT … SELECT` from the code's row), built by the query builder so that its plan is
/// prepared once per connection. The referral itself is not touched here: a code shared
/// widely would make every click wait for the previous one on that row. The interaction rows
/// are the count ([`click_tallies`]); the caller marks first clicks, for the funnel, in
/// batches with [`mark_clicked`].
///
/// # Errors
/// [`StoreError::NotFound`] for an unknown code; nothing is recorded then.
pub fn record_click(
    conn: &mut DbConnection,
    code: &str,
    origin: &RequestOrigin,
    now: DateTime<Utc>,
) -> Result<ReferralCode, StoreError> {
    use crate::sql_types::{PortableInet, PortableTimestamptz, PortableUuid};
    use diesel::sql_types::{Nullable, Text};
    let code = ReferralCode::parse(code).map_err(|_| StoreError::NotFound)?;
    let source = referrals::table
        .filter(referrals::referral_code.eq(code.to_string()))
        .select((
            DbUuid(crate::conn::new_row_id()).into_sql::<PortableUuid>(),
            referrals::id,
            InteractionType::Click.as_str().into_sql::<Text>(),
            origin
                .ip_address
                .map(DbInet)
                .into_sql::<Nullable<PortableInet>>(),
            origin.user_agent.clone().into_sql::<Nullable<Text>>(),
            origin.source.clone().into_sql::<Nullable<Text>>(),
            DbTime(now).into_sql::<PortableTimestamptz>(),
        ));
    let inserted = diesel::insert_into(referral_interactions::table)
        .values(source)
        .into_columns((
            referral_interactions::id,
            referral_interactions::referral_id,
            referral_interactions::interaction_type,
            referral_interactions::ip_address,
            referral_interactions::user_agent,
            referral_interactions::source,
            referral_interactions::created_at,
        ))
        .execute(conn)?;
    if inserted == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(code)
}

/// One click to record with [`record_clicks`].
#[derive(Debug, Clone, PartialEq)]
pub struct ClickToRecord {
    /// The code as the visitor sent it.
    pub code: String,
    /// Where the click came from.
    pub origin: RequestOrigin,
    /// When.
    pub at: DateTime<Utc>,
}

/// Records several clicks in **one write transaction**, each as [`record_click`] does: on
/// SQLite, where writers take turns, a group of waiting clicks then costs one write lock and
/// one commit instead of one each. Each click gets its own answer, in order: its code, or
/// [`StoreError::NotFound`] for an unknown code, which does not stop the others.
///
/// # Errors
/// A database error fails the whole group, and nothing of it is recorded.
pub fn record_clicks(
    conn: &mut DbConnection,
    clicks: &[ClickToRecord],
) -> Result<Vec<Result<ReferralCode, StoreError>>, StoreError> {
    write_transaction(conn, |conn| {
        clicks
            .iter()
            .map(
                |click| match record_click(conn, &click.code, &click.origin, click.at) {
                    Err(StoreError::NotFound) => Ok(Err(StoreError::NotFound)),
                    other => other.map(Ok),
                },
            )
            .collect()
    })
}

/// A referral's link clicks, counted from its interaction rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ClickTally {
    /// Clicks on its link.
    pub clicks: i64,
    /// The last of them.
    pub last_clicked_at: Option<DateTime<Utc>>,
}

/// The click tallies of the referrals `ids`, counted from their interaction rows in one
/// query (a range of `idx_referral_interactions_referral` each, read from the index alone). A
/// referral never clicked is not in the map: its tally is the default, no clicks.
///
/// Clicks are counted on read rather than added to a counter on the referral: with clicks
/// spread over many codes, such a counter costs one more row update per click.
///
/// # Errors
/// Database errors.
pub fn click_tallies(
    conn: &mut DbConnection,
    ids: &[ReferralId],
) -> Result<std::collections::HashMap<ReferralId, ClickTally>, StoreError> {
    use crate::sql_types::PortableTimestamptz;
    use diesel::sql_types::Nullable;
    if ids.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    let keys: Vec<DbUuid> = ids.iter().map(|&id| DbUuid::from(id)).collect();
    let rows: Vec<(DbUuid, i64, Option<DbTime>)> = referral_interactions::table
        .filter(referral_interactions::referral_id.eq_any(&keys))
        .filter(referral_interactions::interaction_type.eq(InteractionType::Click.as_str()))
        .group_by(referral_interactions::referral_id)
        .select((
            referral_interactions::referral_id,
            diesel::dsl::count_star(),
            // `max` of diesel wants a built-in type; the column's type is the portable one.
            diesel::dsl::sql::<Nullable<PortableTimestamptz>>("max(created_at)"),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, clicks, last)| {
            (
                ReferralId::from_uuid(id.0),
                ClickTally {
                    clicks,
                    last_clicked_at: last.map(|t| t.0),
                },
            )
        })
        .collect())
}

/// The click tally of one referral (see [`click_tallies`]).
///
/// # Errors
/// Database errors.
pub fn click_tally(conn: &mut DbConnection, id: ReferralId) -> Result<ClickTally, StoreError> {
    Ok(click_tallies(conn, &[id])?.remove(&id).unwrap_or_default())
}

/// A code clicked since the last batch, with the earliest of those clicks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickedCode {
    /// The code, as stored.
    pub code: String,
    /// Its first click since the last batch.
    pub first_clicked_at: DateTime<Utc>,
}

/// Codes read at once by [`mark_clicked`] on SQLite: well under its limit of bound parameters.
const CLICKED_CODES_PER_READ: usize = 500;

/// What [`mark_clicked_by_key`] reads of a referral not clicked before.
#[derive(Queryable)]
struct UnclickedReferral {
    code: String,
    id: DbUuid,
    program_id: DbUuid,
    created_at: DbTime,
    variant: Option<String>,
    referrer_id: DbUuid,
}

/// Marks the referrals behind clicked codes as clicked, in one transaction: a referral not
/// clicked before gets its `first_clicked_at` and enters the funnel's "clicked" step in the
/// rollups (one upsert per cohort). Referrals clicked before and unknown codes are left as
/// they are, so a batch of clicks on codes clicked before writes nothing. The clicks
/// themselves are the interaction rows [`record_click`] wrote; see [`click_tallies`].
///
/// # Errors
/// Database errors (nothing is marked then: the caller keeps the codes).
pub fn mark_clicked(conn: &mut DbConnection, clicked: &[ClickedCode]) -> Result<(), StoreError> {
    write_transaction(conn, |conn| {
        let mut first_clicks = match conn {
            DbConnection::Pg(c) => mark_clicked_in_postgres(c, clicked)?,
            DbConnection::Sqlite(_) => mark_clicked_by_key(conn, clicked)?,
        };
        first_clicks.sort_by(|a, b| {
            (a.program_id.0, &a.day, &a.variant).cmp(&(b.program_id.0, &b.day, &b.variant))
        });
        for cohort in first_clicks.chunk_by(|a, b| {
            (a.program_id, &a.day, &a.variant) == (b.program_id, &b.day, &b.variant)
        }) {
            let clicked = i64::try_from(cohort.len()).unwrap_or(i64::MAX);
            rollups::bump(
                conn,
                &cohort[0],
                Delta {
                    clicked,
                    ..Delta::default()
                },
            )?;
        }
        Ok(())
    })
}

/// A referral that [`mark_clicked_in_postgres`] marked as clicked.
#[derive(QueryableByName)]
#[diesel(check_for_backend(diesel::pg::Pg))]
struct FirstClicked {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    program_id: uuid::Uuid,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    variant: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    referrer_id: uuid::Uuid,
}

/// The whole batch in one statement: one round trip, and only the referrals not clicked
/// before are written. The row lock decides which batch was first, also between instances:
/// a second batch waiting on the row finds `first_clicked_at` set and skips it. Codes go in
/// sorted, so that instances marking at once tend to lock their rows in the same order;
/// should two still deadlock, PostgreSQL fails one and its instance keeps the codes for its
/// next batch.
fn mark_clicked_in_postgres(
    c: &mut diesel::PgConnection,
    clicked: &[ClickedCode],
) -> Result<Vec<Cohort>, StoreError> {
    use diesel::sql_types::{Array, Text, Timestamptz};
    let mut sorted: Vec<&ClickedCode> = clicked.iter().collect();
    sorted.sort_by(|a, b| a.code.cmp(&b.code));
    let codes: Vec<&str> = sorted.iter().map(|c| c.code.as_str()).collect();
    let times: Vec<DateTime<Utc>> = sorted.iter().map(|c| c.first_clicked_at).collect();
    let first: Vec<FirstClicked> = diesel::sql_query(
        "UPDATE referrals AS r SET first_clicked_at = u.first_clicked_at \
           FROM unnest($1, $2) AS u(code, first_clicked_at) \
          WHERE r.referral_code = u.code AND r.first_clicked_at IS NULL \
         RETURNING r.program_id, r.created_at, r.variant, r.referrer_id",
    )
    .bind::<Array<Text>, _>(codes)
    .bind::<Array<Timestamptz>, _>(times)
    .load(c)?;
    Ok(first
        .into_iter()
        .map(|f| {
            Cohort::new(
                DbUuid(f.program_id),
                f.created_at,
                f.variant.as_deref(),
                DbUuid(f.referrer_id),
            )
        })
        .collect())
}

/// SQLite's way: the referrals not clicked before read [`CLICKED_CODES_PER_READ`] codes at
/// a time, each marked by its key.
fn mark_clicked_by_key(
    conn: &mut DbConnection,
    clicked: &[ClickedCode],
) -> Result<Vec<Cohort>, StoreError> {
    let mut first_clicks: Vec<Cohort> = Vec::new();
    for chunk in clicked.chunks(CLICKED_CODES_PER_READ) {
        let codes: Vec<&str> = chunk.iter().map(|c| c.code.as_str()).collect();
        let unclicked: Vec<UnclickedReferral> = referrals::table
            .filter(referrals::referral_code.eq_any(&codes))
            .filter(referrals::first_clicked_at.is_null())
            .select((
                referrals::referral_code,
                referrals::id,
                referrals::program_id,
                referrals::created_at,
                referrals::variant,
                referrals::referrer_id,
            ))
            .load(conn)?;
        let by_code: std::collections::HashMap<&str, &ClickedCode> =
            chunk.iter().map(|c| (c.code.as_str(), c)).collect();
        for referral in unclicked {
            let Some(code) = by_code.get(referral.code.as_str()) else {
                continue;
            };
            // The guard keeps the mark once-only should another writer have set it between
            // the read and this update.
            let marked = diesel::update(
                referrals::table
                    .find(referral.id)
                    .filter(referrals::first_clicked_at.is_null()),
            )
            .set(referrals::first_clicked_at.eq(Some(DbTime(code.first_clicked_at))))
            .execute(conn)?;
            if marked == 1 {
                first_clicks.push(Cohort::new(
                    referral.program_id,
                    referral.created_at.0,
                    referral.variant.as_deref(),
                    referral.referrer_id,
                ));
            }
        }
    }
    Ok(first_clicks)
}
