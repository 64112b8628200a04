//! The provider portal (admin roles): `/portal/referrals` (dashboard), programs (list, new,
//! detail, edit), analytics, rewards (approvals and failed notifications) and reward
//! reviews.

mod analytics;
mod dashboard;
mod programs;
mod reviews;
mod rewards;
mod webhooks;

pub use analytics::*;
pub use dashboard::*;
pub use programs::*;
pub use reviews::{decide as decide_reviews, reviews};
pub use rewards::*;
pub use webhooks::{redeliver as redeliver_webhook, webhooks};

use crate::pages::charts::Bar;
use referral_store::analytics::Analytics;

fn percent(rate: &str) -> String {
    format!("{rate}%")
}

fn program_bars(figures: &Analytics) -> Vec<Bar> {
    figures
        .programs
        .iter()
        .map(|p| Bar {
            label: p.name.clone(),
            value: p.funnel.converted as f64,
            text: format!(
                "{} of {} converted ({}%)",
                p.funnel.converted, p.funnel.created, p.conversion_rate
            ),
        })
        .collect()
}
