//! Figures for the provider dashboard, read from the rollups (`referral_daily_stats`,
//! `referrer_stats`, with the conversions still queued for it folded in first) that every
//! change keeps current, so a dashboard over a million
//! referrals reads a few thousand small rows. Only counts, money and ids leave this module:
//! no PHI.
//!
//! Windows are whole UTC days of the referrals' *creation* (cohorts): "the referrals made in
//! March, and how many of them converted (whenever that happened)".

mod figures;
mod integrity;
mod performance;
mod summary;

pub use figures::*;
pub use integrity::*;
pub use performance::*;
pub use summary::*;

use crate::rollups::day_of;
use crate::sql_types::DbUuid;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use referral_domain::ProgramId;
use serde::Serialize;
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
