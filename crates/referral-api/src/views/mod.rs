//! Request and response bodies of the HTTP API, with their OpenAPI schemas. Field names are
//! the seed's columns; money is a decimal string; times are RFC 3339 UTC.

mod admin;
pub(crate) mod events;
mod facts;
pub mod field;
mod programs;
mod referrals;
mod rewards;

pub use admin::*;
pub use events::*;
pub use facts::*;
pub use programs::*;
pub use referrals::*;
pub use rewards::*;

use crate::error::FieldProblem;
use crate::state::{AppState, AuditedResource};
use referral_domain::ReferralId;
use referral_store::referrals::{ClickTally, Referral};
use serde::Serialize;
use std::collections::HashMap;
use std::str::FromStr;
use utoipa::ToSchema;

fn text<T: ToString>(v: &Option<T>) -> Option<String> {
    v.as_ref().map(ToString::to_string)
}

/// Parses an enum given as text, or records a field problem.
pub fn parse_field<T: FromStr>(
    field: &str,
    value: Option<&str>,
    problems: &mut Vec<FieldProblem>,
) -> Option<T> {
    let value = value?;
    match value.parse() {
        Ok(v) => Some(v),
        Err(_) => {
            problems.push(FieldProblem::new(
                field,
                format!("`{value}` is not an accepted value"),
            ));
            None
        }
    }
}

macro_rules! list_type {
    ($(#[$doc:meta])* $name:ident, $item:ty) => {
        $(#[$doc])*
        #[derive(Debug, Serialize, ToSchema)]
        pub struct $name {
            pub items: Vec<$item>,
            /// Rows matching the filters over all pages.
            pub total: i64,
        }
        impl AuditedResource for $name {}
    };
}
list_type!(/// A page of programs.
    ProgramList, ProgramView);
list_type!(/// A page of referrals.
    ReferralList, ReferralView);
list_type!(/// A page of rewards.
    RewardList, RewardView);
list_type!(/// A page of the caller's own referrals, as their referrer sees them.
    MyReferralList, MyReferralView);
list_type!(/// A page of the caller's own rewards.
    MyRewardList, MyRewardView);
list_type!(/// A page of audit rows.
    AuditList, AuditView);
list_type!(/// A page of notifications.
    NotificationList, NotificationView);
list_type!(/// A page of the review queue.
    ReviewList, ReviewItemView);
list_type!(/// A page of clawbacks.
    ClawbackList, ClawbackView);

impl ReferralList {
    /// A page of referral views, with their clicks (a referral missing from `clicks` has
    /// none).
    pub fn of(
        page: referral_store::page::Paged<Referral>,
        clicks: &HashMap<ReferralId, ClickTally>,
        signals: &HashMap<ReferralId, Vec<referral_domain::signals::Raised>>,
        locales: &HashMap<ReferralId, referral_domain::Locale>,
        state: &AppState,
    ) -> Self {
        ReferralList {
            items: page
                .items
                .into_iter()
                .map(|r| {
                    let tally = clicks.get(&r.id).copied().unwrap_or_default();
                    let raised = signals.get(&r.id).map_or(&[][..], Vec::as_slice);
                    let locale = locales.get(&r.id).copied().unwrap_or_default();
                    ReferralView::new(r, tally, raised, locale, state)
                })
                .collect(),
            total: page.total,
        }
    }
}

impl MyReferralList {
    /// A page of the referrer's views, with their clicks.
    pub fn of(
        page: referral_store::page::Paged<Referral>,
        clicks: &HashMap<ReferralId, ClickTally>,
        locales: &HashMap<ReferralId, referral_domain::Locale>,
        via_links: &std::collections::HashSet<ReferralId>,
        state: &AppState,
    ) -> Self {
        MyReferralList {
            items: page
                .items
                .into_iter()
                .map(|r| {
                    let tally = clicks.get(&r.id).copied().unwrap_or_default();
                    let locale = locales.get(&r.id).copied().unwrap_or_default();
                    let via_link = via_links.contains(&r.id);
                    MyReferralView::new(r, tally, locale, via_link, state)
                })
                .collect(),
            total: page.total,
        }
    }
}

/// An optional amount of money (`"80.00"`, or a number); a malformed one is a problem on
/// `field`.
pub fn parse_money(
    field: &str,
    value: &Option<serde_json::Value>,
    problems: &mut Vec<crate::error::FieldProblem>,
) -> Option<referral_domain::Money> {
    match value {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| problems.push(crate::error::FieldProblem::new(field, e.to_string())))
            .ok(),
    }
}
