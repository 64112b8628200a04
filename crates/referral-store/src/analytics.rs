//! Figures for the provider dashboard, read from the rollups (`referral_daily_stats`,
//! `referrer_stats`, with the conversions still queued for it folded in first) that every
//! change keeps current, so a dashboard over a million
//! referrals reads a few thousand small rows. Only counts, money and ids leave this module:
//! no PHI.
//!
//! Windows are whole UTC days of the referrals' *creation* (cohorts): "the referrals made in
//! March, and how many of them converted (whenever that happened)".

use crate::conn::DbConnection;
use crate::error::StoreError;
use crate::programs::corrupt;
use crate::rollups::{day_of, ALL_PROGRAMS};
use crate::schema::{referral_daily_stats as daily, referral_programs, referrals, referrer_stats};
use crate::sql_types::{DbTime, DbUuid};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use diesel::prelude::*;
use referral_domain::experiment::{self, Proportion};
use referral_domain::{Money, PatientId, ProgramId, ProgramStatus};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

/// Significance level at which a variant is said to lead.
pub const EXPERIMENT_ALPHA: f64 = 0.05;

/// How trends are grouped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    /// One point per day.
    #[default]
    Day,
    /// One point per ISO week (starting Monday).
    Week,
    /// One point per calendar month.
    Month,
}

impl FromStr for Interval {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "day" => Ok(Interval::Day),
            "week" => Ok(Interval::Week),
            "month" => Ok(Interval::Month),
            _ => Err(()),
        }
    }
}

impl Interval {
    fn period_start(self, day: NaiveDate) -> NaiveDate {
        match self {
            Interval::Day => day,
            Interval::Week => day - Duration::days(i64::from(day.weekday().num_days_from_monday())),
            Interval::Month => day.with_day(1).unwrap_or(day),
        }
    }
}

/// The window and program the figures cover.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnalyticsFilter {
    /// One program, or all.
    pub program_id: Option<ProgramId>,
    /// Only these programs (a provider's own), when set: tenancy.
    pub within: Option<Vec<ProgramId>>,
    /// Referrals created on or after this day (the day of this time, UTC).
    pub from: Option<DateTime<Utc>>,
    /// Referrals created before this time, to the end of its day when it is not midnight.
    pub to: Option<DateTime<Utc>>,
    /// Grouping of the trends.
    pub interval: Interval,
}

impl AnalyticsFilter {
    fn day_range(&self) -> (Option<String>, Option<String>) {
        let to = self.to.map(|t| {
            let midnight = t.date_naive().and_hms_opt(0, 0, 0).map(|m| m.and_utc());
            if midnight == Some(t) {
                day_of(t)
            } else {
                day_of(t + Duration::days(1))
            }
        });
        (self.from.map(day_of), to)
    }

    fn is_all_time(&self) -> bool {
        self.from.is_none() && self.to.is_none()
    }

    /// The ids of `within`, for `eq_any`.
    fn within_ids(&self) -> Option<Vec<DbUuid>> {
        self.within
            .as_ref()
            .map(|ids| ids.iter().map(|p| DbUuid::from(*p)).collect())
    }
}

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
fn rate(part: i64, whole: i64) -> String {
    if whole == 0 {
        return "0.00".into();
    }
    let basis_points = (part * 10_000 * 2 + whole) / (whole * 2);
    format!("{}.{:02}", basis_points / 100, basis_points % 100)
}

fn money(cents: i64) -> Result<Money, StoreError> {
    Money::from_cents(cents.max(0)).map_err(|_| corrupt("rollup totals"))
}

fn per(total_cents: i64, count: i64) -> Result<Money, StoreError> {
    money(if count == 0 { 0 } else { total_cents / count })
}

/// Return on the reward spend, percent, signed.
fn roi(revenue: i64, cost: i64) -> Option<String> {
    if cost <= 0 {
        return None;
    }
    let basis_points = (revenue - cost) * 10_000 / cost;
    let sign = if basis_points < 0 { "-" } else { "" };
    let b = basis_points.abs();
    Some(format!("{sign}{}.{:02}", b / 100, b % 100))
}

/// One rollup row.
#[derive(Debug, Clone, Default, Queryable)]
struct DayRow {
    program_id: DbUuid,
    day: String,
    variant: String,
    referrals: i64,
    clicked: i64,
    registered: i64,
    converted: i64,
    rewards_granted: i64,
    rewards_withheld: i64,
    reward_value_cents: i64,
    rewards_paid_cents: i64,
    revenue_cents: i64,
}

impl DayRow {
    fn add(&mut self, other: &DayRow) {
        self.referrals += other.referrals;
        self.clicked += other.clicked;
        self.registered += other.registered;
        self.converted += other.converted;
        self.rewards_granted += other.rewards_granted;
        self.rewards_withheld += other.rewards_withheld;
        self.reward_value_cents += other.reward_value_cents;
        self.rewards_paid_cents += other.rewards_paid_cents;
        self.revenue_cents += other.revenue_cents;
    }

    fn funnel(&self) -> Funnel {
        Funnel {
            created: self.referrals,
            clicked: self.clicked,
            registered: self.registered,
            converted: self.converted,
        }
    }
}

fn load_days(
    conn: &mut DbConnection,
    filter: &AnalyticsFilter,
    from_day: Option<&str>,
    to_day: Option<&str>,
) -> Result<Vec<DayRow>, StoreError> {
    let mut query = daily::table.into_boxed();
    if let Some(p) = filter.program_id {
        query = query.filter(daily::program_id.eq(DbUuid::from(p)));
    }
    if let Some(ids) = filter.within_ids() {
        query = query.filter(daily::program_id.eq_any(ids));
    }
    if let Some(from) = from_day {
        query = query.filter(daily::day.ge(from.to_owned()));
    }
    if let Some(to) = to_day {
        query = query.filter(daily::day.lt(to.to_owned()));
    }
    Ok(query
        .select((
            daily::program_id,
            daily::day,
            daily::variant,
            daily::referrals,
            daily::clicked,
            daily::registered,
            daily::converted,
            daily::rewards_granted,
            daily::rewards_withheld,
            daily::reward_value_cents,
            daily::rewards_paid_cents,
            daily::revenue_cents,
        ))
        .load(conn)?)
}

type ProgramHead = (DbUuid, String, String, crate::sql_types::DbJson);

fn load_programs(
    conn: &mut DbConnection,
    filter: &AnalyticsFilter,
) -> Result<Vec<ProgramHead>, StoreError> {
    let mut query = referral_programs::table.into_boxed();
    if let Some(p) = filter.program_id {
        query = query.filter(referral_programs::id.eq(DbUuid::from(p)));
    }
    if let Some(ids) = filter.within_ids() {
        query = query.filter(referral_programs::id.eq_any(ids));
    }
    Ok(query
        .order((
            referral_programs::created_at.desc(),
            referral_programs::id.desc(),
        ))
        .select((
            referral_programs::id,
            referral_programs::name,
            referral_programs::status,
            referral_programs::variants,
        ))
        .load(conn)?)
}

/// Dashboard figures for `filter`.
///
/// # Errors
/// Database errors.
pub fn summary(conn: &mut DbConnection, filter: &AnalyticsFilter) -> Result<Analytics, StoreError> {
    let (from_day, to_day) = filter.day_range();
    let rows = load_days(conn, filter, from_day.as_deref(), to_day.as_deref())?;
    let mut total = DayRow::default();
    let mut by_program: HashMap<DbUuid, DayRow> = HashMap::new();
    let mut by_variant: HashMap<(DbUuid, String), DayRow> = HashMap::new();
    let mut by_period: BTreeMap<NaiveDate, DayRow> = BTreeMap::new();
    for row in &rows {
        total.add(row);
        by_program.entry(row.program_id).or_default().add(row);
        if !row.variant.is_empty() {
            by_variant
                .entry((row.program_id, row.variant.clone()))
                .or_default()
                .add(row);
        }
        let day =
            NaiveDate::parse_from_str(&row.day, "%Y-%m-%d").map_err(|_| corrupt("rollup day"))?;
        by_period
            .entry(filter.interval.period_start(day))
            .or_default()
            .add(row);
    }

    let mut active = referral_programs::table
        .filter(referral_programs::status.eq(ProgramStatus::Active.as_str()))
        .into_boxed();
    if let Some(ids) = filter.within_ids() {
        active = active.filter(referral_programs::id.eq_any(ids));
    }
    let active_programs: i64 = active.count().get_result(conn)?;

    let mut programs = Vec::new();
    let mut experiments = Vec::new();
    for (id, name, status, variants) in load_programs(conn, filter)? {
        let figures = by_program.get(&id).cloned().unwrap_or_default();
        let program_id = ProgramId::from_uuid(id.0);
        programs.push(ProgramFigures {
            program_id,
            name,
            status: status.parse().map_err(|_| corrupt("program status"))?,
            funnel: figures.funnel(),
            conversion_rate: rate(figures.converted, figures.referrals),
            reward_cost: money(figures.reward_value_cents)?,
            rewards_paid: money(figures.rewards_paid_cents)?,
            revenue: money(figures.revenue_cents)?,
            roi: roi(figures.revenue_cents, figures.reward_value_cents),
        });
        let variants: Vec<experiment::Variant> =
            serde_json::from_value(variants.0).map_err(|_| corrupt("variants"))?;
        if !variants.is_empty() {
            experiments.push(experiment_of(program_id, id, &variants, &by_variant));
        }
    }

    let trends = by_period
        .into_iter()
        .map(|(period, r)| TrendPoint {
            period,
            referrals: r.referrals,
            registered: r.registered,
            converted: r.converted,
            conversion_rate: rate(r.converted, r.referrals),
        })
        .collect();

    Ok(Analytics {
        total_referrals: total.referrals,
        registered: total.registered,
        converted: total.converted,
        conversion_rate: rate(total.converted, total.referrals),
        active_programs,
        rewards_granted: total.rewards_granted,
        rewards_withheld: total.rewards_withheld,
        reward_cost: money(total.reward_value_cents)?,
        rewards_paid: money(total.rewards_paid_cents)?,
        avg_reward_cost: per(total.reward_value_cents, total.rewards_granted)?,
        revenue: money(total.revenue_cents)?,
        customer_ltv: per(total.revenue_cents, total.converted)?,
        funnel: total.funnel(),
        trends,
        programs,
        top_referrers: top_referrers(conn, filter, 10)?,
        experiments,
    })
}

fn experiment_of(
    program_id: ProgramId,
    id: DbUuid,
    variants: &[experiment::Variant],
    by_variant: &HashMap<(DbUuid, String), DayRow>,
) -> ExperimentFigures {
    let counts: Vec<(String, Proportion)> = variants
        .iter()
        .map(|v| {
            let r = by_variant
                .get(&(id, v.name.clone()))
                .cloned()
                .unwrap_or_default();
            (
                v.name.clone(),
                Proportion::new(
                    u64::try_from(r.converted).unwrap_or(0),
                    u64::try_from(r.referrals).unwrap_or(0),
                ),
            )
        })
        .collect();
    let result = experiment::compare(&counts, EXPERIMENT_ALPHA);
    let verdict = match &result.leader {
        Some(name) => format!("{name} leads (p < {EXPERIMENT_ALPHA} against every other variant)"),
        None => "no variant leads yet".to_owned(),
    };
    ExperimentFigures {
        program_id,
        variants: result
            .variants
            .into_iter()
            .map(|v| VariantFigures {
                referrals: i64::try_from(v.proportion.trials).unwrap_or(i64::MAX),
                converted: i64::try_from(v.proportion.successes).unwrap_or(i64::MAX),
                conversion_rate: rate(
                    i64::try_from(v.proportion.successes).unwrap_or(0),
                    i64::try_from(v.proportion.trials).unwrap_or(0),
                ),
                z_score: v
                    .against_leader
                    .map(|t| (t.z * 10_000.0).round() / 10_000.0),
                p_value: v.against_leader.map(|t| (t.p_value * 1e6).round() / 1e6),
                name: v.name,
            })
            .collect(),
        leader: result.leader,
        verdict,
    }
}

/// The `limit` referrers with the most conversions. All time, they are the first rows of
/// `referrer_stats`' index; in a window, they come from the converted referrals' index.
fn top_referrers(
    conn: &mut DbConnection,
    filter: &AnalyticsFilter,
    limit: i64,
) -> Result<Vec<TopReferrer>, StoreError> {
    // The all-time leaderboard is kept per program and for all programs, not per provider.
    if filter.is_all_time() && filter.within.is_none() {
        // The conversions still queued for referrer_stats first, so the list is exact.
        crate::rollups::fold_referrer_conversions(conn)?;
        let program = filter.program_id.map_or(ALL_PROGRAMS, |p| p.as_uuid());
        let rows: Vec<(DbUuid, i64, i64)> = referrer_stats::table
            .filter(referrer_stats::program_id.eq(DbUuid(program)))
            .order((
                referrer_stats::converted.desc(),
                referrer_stats::referrals.desc(),
                referrer_stats::referrer_id.asc(),
            ))
            .limit(limit)
            .select((
                referrer_stats::referrer_id,
                referrer_stats::referrals,
                referrer_stats::converted,
            ))
            .load(conn)?;
        return Ok(rows
            .into_iter()
            .map(|(id, referrals, converted)| TopReferrer {
                referrer_id: PatientId::from_uuid(id.0),
                referrals,
                converted,
            })
            .collect());
    }
    let (from, to) = window_times(filter);
    let mut query = referrals::table
        .filter(referrals::converted_at.is_not_null())
        .into_boxed();
    if let Some(p) = filter.program_id {
        query = query.filter(referrals::program_id.eq(DbUuid::from(p)));
    }
    if let Some(ids) = filter.within_ids() {
        query = query.filter(referrals::program_id.eq_any(ids));
    }
    if let Some(from) = from {
        query = query.filter(referrals::created_at.ge(DbTime(from)));
    }
    if let Some(to) = to {
        query = query.filter(referrals::created_at.lt(DbTime(to)));
    }
    let converted: Vec<DbUuid> = query.select(referrals::referrer_id).load(conn)?;
    let mut counts: HashMap<DbUuid, i64> = HashMap::new();
    for id in converted {
        *counts.entry(id).or_default() += 1;
    }
    let mut ranked: Vec<(DbUuid, i64)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0 .0.cmp(&b.0 .0)));
    ranked.truncate(usize::try_from(limit).unwrap_or(10));
    let mut top = Vec::new();
    for (id, converted) in ranked {
        let mut made = referrals::table
            .filter(referrals::referrer_id.eq(id))
            .into_boxed();
        if let Some(p) = filter.program_id {
            made = made.filter(referrals::program_id.eq(DbUuid::from(p)));
        }
        if let Some(ids) = filter.within_ids() {
            made = made.filter(referrals::program_id.eq_any(ids));
        }
        if let Some(from) = from {
            made = made.filter(referrals::created_at.ge(DbTime(from)));
        }
        if let Some(to) = to {
            made = made.filter(referrals::created_at.lt(DbTime(to)));
        }
        let referrals_made: i64 = made.count().get_result(conn)?;
        top.push(TopReferrer {
            referrer_id: PatientId::from_uuid(id.0),
            referrals: referrals_made,
            converted,
        });
    }
    Ok(top)
}

/// The window as times: whole UTC days, like the rollups.
fn window_times(filter: &AnalyticsFilter) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let (from_day, to_day) = filter.day_range();
    let at_midnight = |d: Option<String>| {
        d.and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok())
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc())
    };
    (at_midnight(from_day), at_midnight(to_day))
}

/// One window of a program's performance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowFigures {
    /// The last `days` days, today included.
    pub days: u32,
    /// Referrals created in them.
    pub referrals: i64,
    /// Clicked / referrals, percent.
    pub click_through_rate: String,
    /// Registered / referrals, percent.
    pub registration_rate: String,
    /// Converted / referrals, percent.
    pub conversion_rate: String,
    /// Median hours from referral to conversion, of the converted ones.
    pub median_hours_to_convert: Option<f64>,
    /// Reward cost / conversions.
    pub reward_cost_per_conversion: Option<Money>,
}

/// A program's performance over the last 7, 30 and 90 days.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProgramPerformance {
    /// Program.
    pub program_id: ProgramId,
    /// Name.
    pub name: String,
    /// Status now.
    pub status: ProgramStatus,
    /// One entry per window.
    pub windows: Vec<WindowFigures>,
}

/// The windows of [`performance`].
pub const PERFORMANCE_WINDOWS: [u32; 3] = [7, 30, 90];

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    let m = if values.len().is_multiple_of(2) {
        f64::midpoint(values[mid - 1], values[mid])
    } else {
        values[mid]
    };
    Some((m * 10.0).round() / 10.0)
}

/// The median hours from referral to conversion, per program and window (keyed by the
/// window's days), of the converted referrals created since each window's start: one read
/// of the longest window from the partial index of converted referrals, then computed here.
/// (PostgreSQL's `percentile_cont`, one per window, measured slower: 137 ms against 27 ms
/// for the read on the bench database.)
fn median_hours(
    conn: &mut DbConnection,
    program: Option<ProgramId>,
    starts: &[DateTime<Utc>],
) -> Result<HashMap<(DbUuid, u32), Option<f64>>, StoreError> {
    let Some(earliest) = starts.iter().copied().min() else {
        return Ok(HashMap::new());
    };
    let mut out = HashMap::new();
    let mut converted = referrals::table
        .filter(referrals::converted_at.is_not_null())
        .filter(referrals::created_at.ge(DbTime(earliest)))
        .into_boxed();
    if let Some(p) = program {
        converted = converted.filter(referrals::program_id.eq(DbUuid::from(p)));
    }
    let conversions: Vec<(DbUuid, DbTime, Option<DbTime>)> = converted
        .select((
            referrals::program_id,
            referrals::created_at,
            referrals::converted_at,
        ))
        .load(conn)?;
    // Each conversion's creation time and hours, by program, computed once.
    let mut by_program: HashMap<DbUuid, Vec<(DateTime<Utc>, f64)>> = HashMap::new();
    for (program_id, created, converted) in conversions {
        if let Some(converted) = converted {
            #[allow(clippy::cast_precision_loss)]
            let hours = (converted.0 - created.0).num_seconds() as f64 / 3600.0;
            by_program
                .entry(program_id)
                .or_default()
                .push((created.0, hours));
        }
    }
    for (id, conversions) in by_program {
        for (days, start) in PERFORMANCE_WINDOWS.iter().zip(starts) {
            let mut hours: Vec<f64> = conversions
                .iter()
                .filter(|(created, _)| created >= start)
                .map(|(_, h)| *h)
                .collect();
            out.insert((id, *days), median(&mut hours));
        }
    }
    Ok(out)
}

/// Per program (or one), the last 7, 30 and 90 days up to `now`.
///
/// # Errors
/// Database errors.
pub fn performance(
    conn: &mut DbConnection,
    program: Option<ProgramId>,
    now: DateTime<Utc>,
) -> Result<Vec<ProgramPerformance>, StoreError> {
    let today = now.date_naive();
    let longest = PERFORMANCE_WINDOWS.iter().copied().max().unwrap_or(90);
    let start = today - Duration::days(i64::from(longest) - 1);
    let scope = AnalyticsFilter {
        program_id: program,
        ..AnalyticsFilter::default()
    };
    let rows = load_days(
        conn,
        &scope,
        Some(&start.format("%Y-%m-%d").to_string()),
        None,
    )?;
    let window_starts: Vec<DateTime<Utc>> = PERFORMANCE_WINDOWS
        .iter()
        .map(|days| {
            (today - Duration::days(i64::from(*days) - 1))
                .and_hms_opt(0, 0, 0)
                .map_or(now, |t| t.and_utc())
        })
        .collect();
    let medians = median_hours(conn, program, &window_starts)?;

    let mut out = Vec::new();
    for (id, name, status, _) in load_programs(conn, &scope)? {
        let mut windows = Vec::new();
        for days in PERFORMANCE_WINDOWS {
            let first = today - Duration::days(i64::from(days) - 1);
            let first_day = first.format("%Y-%m-%d").to_string();
            let mut sum = DayRow::default();
            for row in rows
                .iter()
                .filter(|r| r.program_id == id && r.day >= first_day)
            {
                sum.add(row);
            }
            windows.push(WindowFigures {
                days,
                referrals: sum.referrals,
                click_through_rate: rate(sum.clicked, sum.referrals),
                registration_rate: rate(sum.registered, sum.referrals),
                conversion_rate: rate(sum.converted, sum.referrals),
                median_hours_to_convert: medians.get(&(id, days)).copied().flatten(),
                reward_cost_per_conversion: (sum.converted > 0)
                    .then(|| per(sum.reward_value_cents, sum.converted))
                    .transpose()?,
            });
        }
        out.push(ProgramPerformance {
            program_id: ProgramId::from_uuid(id.0),
            name,
            status: status.parse().map_err(|_| corrupt("program status"))?,
            windows,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_percent_with_two_places() {
        assert_eq!(rate(0, 0), "0.00");
        assert_eq!(rate(1, 3), "33.33");
        assert_eq!(rate(2, 3), "66.67");
        assert_eq!(rate(3, 3), "100.00");
    }

    #[test]
    fn roi_is_signed_percent() {
        assert_eq!(roi(15_000, 5_000).as_deref(), Some("200.00"));
        assert_eq!(roi(2_500, 5_000).as_deref(), Some("-50.00"));
        assert_eq!(roi(100, 0), None);
    }

    #[test]
    fn medians_and_periods() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        let day = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(); // a Thursday
        assert_eq!(
            Interval::Week.period_start(day),
            NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
        );
        assert_eq!(
            Interval::Month.period_start(day),
            NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()
        );
    }
}
