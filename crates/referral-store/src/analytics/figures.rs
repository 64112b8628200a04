//! The figures the dashboard shows, and how rates, averages and ROI are computed from counts.

use crate::error::corrupt;
use crate::error::StoreError;
use chrono::NaiveDate;
use referral_domain::{Money, PatientId, ProgramId, ProgramStatus};
use serde::Serialize;

/// The funnel: how many referrals reached each step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Funnel {
    /// Created.
    pub created: i64,
    /// Their link was opened at least once.
    pub clicked: i64,
    /// The referee registered.
    pub registered: i64,
    /// The referee completed a first consultation or paid order.
    pub converted: i64,
}

/// One point of the trend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrendPoint {
    /// First day of the period.
    pub period: NaiveDate,
    /// Referrals created in the period.
    pub referrals: i64,
    /// Of those, registered.
    pub registered: i64,
    /// Of those, converted.
    pub converted: i64,
    /// Converted / referrals, percent.
    pub conversion_rate: String,
}

/// One program's figures in the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProgramFigures {
    /// Program.
    pub program_id: ProgramId,
    /// Its name.
    pub name: String,
    /// Its status now.
    pub status: ProgramStatus,
    /// The funnel of its referrals.
    pub funnel: Funnel,
    /// Converted / referrals, percent.
    pub conversion_rate: String,
    /// Value of the money rewards granted.
    pub reward_cost: Money,
    /// Rewards used or paid out.
    pub rewards_paid: Money,
    /// Paid orders of its converted referees.
    pub revenue: Money,
    /// (revenue − reward cost) / reward cost, percent; `None` without reward cost.
    pub roi: Option<String>,
}

/// A referrer with the most conversions (by id: the API adds names or pseudonyms).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopReferrer {
    /// The referrer.
    pub referrer_id: PatientId,
    /// Referrals made (in the window).
    pub referrals: i64,
    /// Of which converted.
    pub converted: i64,
}

/// One variant of an experiment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VariantFigures {
    /// Variant name.
    pub name: String,
    /// Referrals assigned to it.
    pub referrals: i64,
    /// Of which converted.
    pub converted: i64,
    /// Converted / referrals, percent.
    pub conversion_rate: String,
    /// z statistic of the leader against this variant (`None` for the leader).
    pub z_score: Option<f64>,
    /// Two-sided p-value of that test.
    pub p_value: Option<f64>,
    /// Against the control (the first variant; `None` for the control itself or without
    /// data): [`referral_domain::experiment::Lift`].
    pub lift: Option<referral_domain::experiment::Lift>,
}

/// A program's experiment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExperimentFigures {
    /// Program.
    pub program_id: ProgramId,
    /// Each variant.
    pub variants: Vec<VariantFigures>,
    /// The variant that leads at p < 0.05 against every other, if one does.
    pub leader: Option<String>,
    /// In words.
    pub verdict: String,
}

/// Dashboard figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analytics {
    /// Referrals created in the window.
    pub total_referrals: i64,
    /// Of those, registered (converted ones included).
    pub registered: i64,
    /// Of those, converted.
    pub converted: i64,
    /// Converted / total, percent with two places.
    pub conversion_rate: String,
    /// Programs active now.
    pub active_programs: i64,
    /// Money rewards granted (not withheld or rejected).
    pub rewards_granted: i64,
    /// Rewards the inducement policy withheld.
    pub rewards_withheld: i64,
    /// Value of the granted money rewards.
    pub reward_cost: Money,
    /// Rewards used, or cash approved for payout.
    pub rewards_paid: Money,
    /// Reward cost / rewards granted.
    pub avg_reward_cost: Money,
    /// Paid orders of converted referees.
    pub revenue: Money,
    /// Revenue per converted referee.
    pub customer_ltv: Money,
    /// The funnel.
    pub funnel: Funnel,
    /// By `interval`, oldest first.
    pub trends: Vec<TrendPoint>,
    /// Every program (or the one asked for), newest first.
    pub programs: Vec<ProgramFigures>,
    /// The ten referrers with the most conversions.
    #[serde(skip)]
    pub top_referrers: Vec<TopReferrer>,
    /// Programs with variants.
    pub experiments: Vec<ExperimentFigures>,
}

/// Percent with two places, rounded half up, in integers.
pub(super) fn rate(part: i64, whole: i64) -> String {
    if whole == 0 {
        return "0.00".into();
    }
    let basis_points = (part * 10_000 * 2 + whole) / (whole * 2);
    format!("{}.{:02}", basis_points / 100, basis_points % 100)
}

pub(super) fn money(cents: i64) -> Result<Money, StoreError> {
    Money::from_cents(cents.max(0)).map_err(|_| corrupt("rollup totals"))
}

pub(super) fn per(total_cents: i64, count: i64) -> Result<Money, StoreError> {
    money(if count == 0 { 0 } else { total_cents / count })
}

/// Return on the reward spend, percent, signed.
pub(super) fn roi(revenue: i64, cost: i64) -> Option<String> {
    if cost <= 0 {
        return None;
    }
    let basis_points = (revenue - cost) * 10_000 / cost;
    let sign = if basis_points < 0 { "-" } else { "" };
    let b = basis_points.abs();
    Some(format!("{sign}{}.{:02}", b / 100, b % 100))
}
