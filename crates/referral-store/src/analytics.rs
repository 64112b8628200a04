//! Aggregates for the provider dashboard: counts by status, conversion, clicks and reward
//! cost, overall and per program. Only counts and ids: no PHI leaves this module.

use crate::conn::{DbConnection, MultiBackend};
use crate::error::StoreError;
use crate::programs::corrupt;
use crate::schema::{referral_programs, referral_rewards, referrals};
use crate::sql_types::{DbTime, DbUuid};
use chrono::{DateTime, Utc};
use diesel::dsl::{count_star, sum};
use diesel::prelude::*;
use diesel::sql_types::Bool;
use referral_domain::{
    Money, PatientId, ProgramId, ProgramStatus, ReferralStatus, RewardStatus, RewardType,
};
use serde::Serialize;
use std::collections::BTreeMap;

/// The window and program the figures cover.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnalyticsFilter {
    /// One program, or all.
    pub program_id: Option<ProgramId>,
    /// Referrals created at or after.
    pub from: Option<DateTime<Utc>>,
    /// Referrals created before.
    pub to: Option<DateTime<Utc>>,
}

/// Dashboard figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analytics {
    /// Referrals created in the window.
    pub total_referrals: i64,
    /// Of those, by stored status.
    pub by_status: BTreeMap<String, i64>,
    /// Registered or converted.
    pub registered: i64,
    /// Converted.
    pub converted: i64,
    /// Converted / total, in percent with two places.
    pub conversion_rate: String,
    /// Link clicks on those referrals.
    pub total_clicks: i64,
    /// Programs that are active now.
    pub active_programs: i64,
    /// Rewards granted on those referrals (not withheld or rejected).
    pub rewards_granted: i64,
    /// Rewards withheld by the inducement policy.
    pub rewards_withheld: i64,
    /// Value of granted money rewards (credit, cash, free consultation).
    pub rewards_value: Money,
    /// Value of money rewards used or paid out.
    pub rewards_paid: Money,
    /// Average value of a granted money reward.
    pub average_reward_cost: Money,
}

/// One program's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProgramPerformance {
    /// Program.
    pub program_id: ProgramId,
    /// Its name.
    pub name: String,
    /// Its status.
    pub status: ProgramStatus,
    /// Referrals in the window.
    pub referrals: i64,
    /// Registered or converted.
    pub registered: i64,
    /// Converted.
    pub converted: i64,
    /// Converted / referrals, percent.
    pub conversion_rate: String,
    /// Clicks.
    pub clicks: i64,
}

/// A referrer's figures (by id only).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReferrerPerformance {
    /// The referrer.
    pub referrer_id: PatientId,
    /// Referrals made.
    pub referrals: i64,
    /// Of which converted.
    pub converted: i64,
}

/// Per-program figures and the top referrers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Performance {
    /// Every program, newest first.
    pub programs: Vec<ProgramPerformance>,
    /// The ten referrers with the most conversions.
    pub top_referrers: Vec<ReferrerPerformance>,
}

fn rate(part: i64, whole: i64) -> String {
    if whole == 0 {
        return "0.00".into();
    }
    // Percent with two places, rounded half up, in integers.
    let basis_points = (part * 10_000 * 2 + whole) / (whole * 2);
    format!("{}.{:02}", basis_points / 100, basis_points % 100)
}

type Condition = Box<dyn BoxableExpression<referrals::table, MultiBackend, SqlType = Bool>>;

/// The filter as one boolean expression: Diesel cannot group a boxed query, but it can
/// group a table filtered by a boxed expression.
fn condition(filter: &AnalyticsFilter) -> Condition {
    let mut c: Condition = Box::new(referrals::id.eq(referrals::id));
    if let Some(p) = filter.program_id {
        c = Box::new(c.and(referrals::program_id.eq(DbUuid::from(p))));
    }
    if let Some(from) = filter.from {
        c = Box::new(c.and(referrals::created_at.ge(DbTime(from))));
    }
    if let Some(to) = filter.to {
        c = Box::new(c.and(referrals::created_at.lt(DbTime(to))));
    }
    c
}

fn filtered(filter: &AnalyticsFilter) -> diesel::dsl::Filter<referrals::table, Condition> {
    referrals::table.filter(condition(filter))
}

/// Rewards of the referrals the filter covers (a macro: the boxed join's type is unwieldy).
macro_rules! rewards_in {
    ($filter:expr) => {{
        let filter: &AnalyticsFilter = $filter;
        let mut q = referral_rewards::table
            .inner_join(referrals::table)
            .into_boxed::<MultiBackend>();
        if let Some(p) = filter.program_id {
            q = q.filter(referrals::program_id.eq(DbUuid::from(p)));
        }
        if let Some(from) = filter.from {
            q = q.filter(referrals::created_at.ge(DbTime(from)));
        }
        if let Some(to) = filter.to {
            q = q.filter(referrals::created_at.lt(DbTime(to)));
        }
        q
    }};
}

/// `SUM` of reward cents as BIGINT: Diesel's `sum` of a BIGINT is NUMERIC, which the
/// multi-connection cannot read.
fn sum_cents(
) -> diesel::expression::SqlLiteral<diesel::sql_types::Nullable<diesel::sql_types::BigInt>> {
    diesel::dsl::sql("CAST(SUM(referral_rewards.reward_amount_cents) AS BIGINT)")
}

fn money_of(cents: Option<i64>) -> Result<Money, StoreError> {
    Money::from_cents(cents.unwrap_or(0)).map_err(|_| corrupt("reward totals"))
}

/// Dashboard figures for `filter`.
///
/// # Errors
/// Database errors.
pub fn summary(conn: &mut DbConnection, filter: &AnalyticsFilter) -> Result<Analytics, StoreError> {
    let by_status_rows: Vec<(String, i64)> = filtered(filter)
        .group_by(referrals::status)
        .select((referrals::status, count_star()))
        .load(conn)?;
    let by_status: BTreeMap<String, i64> = by_status_rows.into_iter().collect();
    let total: i64 = by_status.values().sum();
    let converted = by_status
        .get(ReferralStatus::Converted.as_str())
        .copied()
        .unwrap_or(0);
    let registered = converted
        + by_status
            .get(ReferralStatus::Registered.as_str())
            .copied()
            .unwrap_or(0);
    let clicks: Option<i64> = filtered(filter)
        .select(sum(referrals::clicks))
        .first(conn)?;

    let active_programs: i64 = referral_programs::table
        .filter(referral_programs::status.eq(ProgramStatus::Active.as_str()))
        .count()
        .get_result(conn)?;

    let granted_statuses = [
        RewardStatus::Available.as_str(),
        RewardStatus::Used.as_str(),
        RewardStatus::Expired.as_str(),
        RewardStatus::PendingApproval.as_str(),
    ];
    let money_types = [
        RewardType::Credit.as_str(),
        RewardType::Cash.as_str(),
        RewardType::FreeConsultation.as_str(),
    ];
    let rewards_granted: i64 = rewards_in!(filter)
        .filter(referral_rewards::status.eq_any(granted_statuses))
        .count()
        .get_result(conn)?;
    let rewards_withheld: i64 = rewards_in!(filter)
        .filter(referral_rewards::withheld_reason.is_not_null())
        .count()
        .get_result(conn)?;
    let money_granted: (i64, Option<i64>) = rewards_in!(filter)
        .filter(referral_rewards::status.eq_any(granted_statuses))
        .filter(referral_rewards::reward_type.eq_any(money_types))
        .select((count_star(), sum_cents()))
        .first(conn)?;
    let paid: Option<i64> = rewards_in!(filter)
        .filter(
            referral_rewards::status.eq(RewardStatus::Used.as_str()).or(
                referral_rewards::reward_type
                    .eq(RewardType::Cash.as_str())
                    .and(referral_rewards::status.eq(RewardStatus::Available.as_str())),
            ),
        )
        .filter(referral_rewards::reward_type.eq_any(money_types))
        .select(sum_cents())
        .first(conn)?;
    let (money_count, money_sum) = money_granted;
    let average = if money_count == 0 {
        0
    } else {
        money_sum.unwrap_or(0) / money_count
    };

    Ok(Analytics {
        total_referrals: total,
        by_status,
        registered,
        converted,
        conversion_rate: rate(converted, total),
        total_clicks: clicks.unwrap_or(0),
        active_programs,
        rewards_granted,
        rewards_withheld,
        rewards_value: money_of(money_sum)?,
        rewards_paid: money_of(paid)?,
        average_reward_cost: money_of(Some(average))?,
    })
}

/// Per-program figures and the top referrers for the window of `filter`.
///
/// # Errors
/// Database errors.
pub fn performance(
    conn: &mut DbConnection,
    filter: &AnalyticsFilter,
) -> Result<Performance, StoreError> {
    let programs: Vec<(DbUuid, String, String)> = referral_programs::table
        .order((
            referral_programs::created_at.desc(),
            referral_programs::id.desc(),
        ))
        .select((
            referral_programs::id,
            referral_programs::name,
            referral_programs::status,
        ))
        .load(conn)?;
    let counts: Vec<(DbUuid, String, i64, Option<i64>)> = filtered(filter)
        .group_by((referrals::program_id, referrals::status))
        .select((
            referrals::program_id,
            referrals::status,
            count_star(),
            sum(referrals::clicks),
        ))
        .load(conn)?;
    let mut out = Vec::new();
    for (id, name, status) in programs {
        if filter.program_id.is_some_and(|p| DbUuid::from(p) != id) {
            continue;
        }
        let mine = counts.iter().filter(|(p, ..)| *p == id);
        let (mut total, mut registered, mut converted, mut clicks) = (0, 0, 0, 0);
        for (_, s, n, c) in mine {
            total += n;
            clicks += c.unwrap_or(0);
            if s == ReferralStatus::Converted.as_str() {
                converted += n;
                registered += n;
            } else if s == ReferralStatus::Registered.as_str() {
                registered += n;
            }
        }
        out.push(ProgramPerformance {
            program_id: ProgramId::from_uuid(id.0),
            name,
            status: status.parse().map_err(|_| corrupt("program status"))?,
            referrals: total,
            registered,
            converted,
            conversion_rate: rate(converted, total),
            clicks,
        });
    }
    let per_referrer: Vec<(DbUuid, String, i64)> = filtered(filter)
        .group_by((referrals::referrer_id, referrals::status))
        .select((referrals::referrer_id, referrals::status, count_star()))
        .load(conn)?;
    let mut referrers: BTreeMap<uuid::Uuid, (i64, i64)> = BTreeMap::new();
    for (id, status, n) in per_referrer {
        let entry = referrers.entry(id.0).or_default();
        entry.0 += n;
        if status == ReferralStatus::Converted.as_str() {
            entry.1 += n;
        }
    }
    let mut top: Vec<ReferrerPerformance> = referrers
        .into_iter()
        .map(|(id, (referrals, converted))| ReferrerPerformance {
            referrer_id: PatientId::from_uuid(id),
            referrals,
            converted,
        })
        .collect();
    top.sort_by(|a, b| {
        b.converted
            .cmp(&a.converted)
            .then(b.referrals.cmp(&a.referrals))
            .then(a.referrer_id.cmp(&b.referrer_id))
    });
    top.truncate(10);
    Ok(Performance {
        programs: out,
        top_referrers: top,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn rates_are_percent_with_two_places() {
        assert_eq!(super::rate(0, 0), "0.00");
        assert_eq!(super::rate(1, 3), "33.33");
        assert_eq!(super::rate(2, 3), "66.67");
        assert_eq!(super::rate(3, 3), "100.00");
    }
}
