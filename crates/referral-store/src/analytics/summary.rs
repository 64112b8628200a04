//! The analytics summary: the funnel, trends, programs, top referrers and experiments, read
//! from the rollups.

use super::*;
use crate::conn::DbConnection;
use crate::error::corrupt;
use crate::error::StoreError;
use crate::rollups::ALL_PROGRAMS;
use crate::schema::{referral_daily_stats as daily, referral_programs, referrals, referrer_stats};
use crate::sql_types::{DbTime, DbUuid};
use chrono::NaiveDate;
use diesel::prelude::*;
use referral_domain::experiment::{self, Proportion};
use referral_domain::{PatientId, ProgramId, ProgramStatus};
use std::collections::{BTreeMap, HashMap};

/// One rollup row.
#[derive(Debug, Clone, Default, Queryable)]
pub(super) struct DayRow {
    pub(super) program_id: DbUuid,
    pub(super) day: String,
    pub(super) variant: String,
    pub(super) referrals: i64,
    pub(super) clicked: i64,
    pub(super) registered: i64,
    pub(super) converted: i64,
    pub(super) rewards_granted: i64,
    pub(super) rewards_withheld: i64,
    pub(super) reward_value_cents: i64,
    pub(super) rewards_paid_cents: i64,
    pub(super) revenue_cents: i64,
}

impl DayRow {
    pub(super) fn add(&mut self, other: &DayRow) {
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

pub(super) fn load_days(
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

pub(super) fn load_programs(
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
    let control = counts.first().map(|(_, p)| *p);
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
            .enumerate()
            .map(|(i, v)| VariantFigures {
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
                lift: match (i, control) {
                    (0, _) | (_, None) => None,
                    (_, Some(control)) => experiment::lift_over_control(control, v.proportion),
                },
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
        // The conversions still queued for referrer_stats first, so the list is exact. A
        // replica cannot fold: it shows what the primary folded (every instance folds once a
        // second), as old as the replica's lag allows.
        if conn.is_writable()? {
            crate::rollups::fold_referrer_conversions(conn)?;
        }
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
