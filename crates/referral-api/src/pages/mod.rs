//! The portals in the browser: server-rendered HTML from handlebars templates, served by the
//! same binary as the API. Pages call the same use cases as the JSON handlers (same checks,
//! same audit rows); only the shape of the answer differs. A little plain JavaScript (the
//! copy button) is served from `/static`; there is no build step.

pub mod charts;
pub mod copy;
pub mod paging;
pub mod patient;
pub mod patient_copy;
pub mod portal;
pub mod register;
mod render;
mod router;
pub mod session;
pub mod signin;
pub mod unsubscribe;
mod words;

pub use render::*;
pub use router::configure;
pub use words::*;

#[cfg(test)]
mod tests {
    use super::*;
    use referral_domain::{Money, RewardType};

    #[test]
    fn every_template_compiles() {
        check_templates().unwrap();
    }

    #[test]
    fn rewards_read_as_people_say_them() {
        assert_eq!(
            reward_text(Some(RewardType::Discount), Money::parse("20.00").ok()),
            "20% off a consultation"
        );
        assert_eq!(
            reward_text(Some(RewardType::Credit), Money::parse("25.00").ok()),
            "$25.00 account credit"
        );
        assert_eq!(
            reward_text(
                Some(RewardType::FreeConsultation),
                Money::parse("50.00").ok()
            ),
            "a free consultation (worth $50.00)"
        );
        assert_eq!(label("pending_approval"), "Pending approval");
    }

    #[test]
    fn next_paths_are_encoded() {
        assert_eq!(
            percent_encode("/portal/referrals/analytics?interval=week"),
            "/portal/referrals/analytics%3Finterval%3Dweek"
        );
    }
}
