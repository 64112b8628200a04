//! The provider portal (admin roles): `/portal/referrals` (dashboard), programs (list, new,
//! detail, edit), analytics, rewards (approvals and failed notifications) and reward
//! reviews.

mod analytics;
mod dashboard;
mod exports;
mod programs;
mod reviews;
mod rewards;
mod webhooks;

pub use analytics::*;
pub use dashboard::*;
pub use exports::{audit_csv, exports, payouts_csv, referrals_csv, reviews_csv, rewards_csv};
pub use programs::*;
pub use reviews::{decide as decide_reviews, reviews};
pub use rewards::*;
pub use webhooks::{
    create as create_webhook, edit as edit_webhook, new_endpoint as new_webhook,
    redeliver as redeliver_webhook, rotate as rotate_webhook, switch as switch_webhook,
    test_event as test_webhook, update as update_webhook, webhooks,
};

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
