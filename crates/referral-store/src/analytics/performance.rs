//! Program performance over windows of days: counts, rates and median times to register
//! and convert.

use super::*;
use crate::conn::DbConnection;
use crate::error::corrupt;
use crate::error::StoreError;
use crate::schema::referrals;
use crate::sql_types::{DbTime, DbUuid};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use diesel::prelude::*;
use referral_domain::{Money, ProgramId, ProgramStatus};
use serde::Serialize;
use std::collections::HashMap;

/// The window as times: whole UTC days, like the rollups.
pub(super) fn window_times(
    filter: &AnalyticsFilter,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
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
    /// The last `days` days, today (or the chosen last day) included.
    pub days: u32,
    /// Its first day (later than `days` before its last when a range starts within it).
    pub first_day: NaiveDate,
    /// Its last day.
    pub last_day: NaiveDate,
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
    end: DateTime<Utc>,
) -> Result<HashMap<(DbUuid, u32), Option<f64>>, StoreError> {
    let Some(earliest) = starts.iter().copied().min() else {
        return Ok(HashMap::new());
    };
    let mut out = HashMap::new();
    let mut converted = referrals::table
        .filter(referrals::converted_at.is_not_null())
        .filter(referrals::created_at.ge(DbTime(earliest)))
        .filter(referrals::created_at.lt(DbTime(end)))
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
    performance_within(conn, program, now.date_naive(), None)
}

/// Per program (or one), the 7, 30 and 90 days that end on `last_day` (included), none of
/// them starting before `first_day` when one is given: the windows of a chosen date range.
///
/// # Errors
/// Database errors.
pub fn performance_within(
    conn: &mut DbConnection,
    program: Option<ProgramId>,
    last_day: NaiveDate,
    first_day: Option<NaiveDate>,
) -> Result<Vec<ProgramPerformance>, StoreError> {
    let first_of = |days: u32| {
        let start = last_day - Duration::days(i64::from(days) - 1);
        first_day.map_or(start, |f| start.max(f))
    };
    let longest = PERFORMANCE_WINDOWS.iter().copied().max().unwrap_or(90);
    let start = first_of(longest);
    let after_last = last_day.succ_opt().unwrap_or(last_day);
    let end = after_last
        .and_hms_opt(0, 0, 0)
        .map_or_else(Utc::now, |t| t.and_utc());
    let scope = AnalyticsFilter {
        program_id: program,
        ..AnalyticsFilter::default()
    };
    let rows = load_days(
        conn,
        &scope,
        Some(&start.format("%Y-%m-%d").to_string()),
        Some(&after_last.format("%Y-%m-%d").to_string()),
    )?;
    let window_starts: Vec<DateTime<Utc>> = PERFORMANCE_WINDOWS
        .iter()
        .map(|days| {
            first_of(*days)
                .and_hms_opt(0, 0, 0)
                .map_or(end, |t| t.and_utc())
        })
        .collect();
    let medians = median_hours(conn, program, &window_starts, end)?;

    let mut out = Vec::new();
    for (id, name, status, _) in load_programs(conn, &scope)? {
        let mut windows = Vec::new();
        for days in PERFORMANCE_WINDOWS {
            let first = first_of(days);
            let first_text = first.format("%Y-%m-%d").to_string();
            let mut sum = DayRow::default();
            for row in rows
                .iter()
                .filter(|r| r.program_id == id && r.day >= first_text)
            {
                sum.add(row);
            }
            windows.push(WindowFigures {
                days,
                first_day: first,
                last_day,
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
