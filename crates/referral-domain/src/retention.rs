//! How long personal data outlives its purpose: the invited person's contact details of an
//! invitation past its date, the network details of link opens, the payloads of messages
//! that were delivered, and the proof of an SMS consent.
//!
//! Every period that reaches something the referrer can read counts from a date the
//! referrer already knows (the invitation's), never from something the friend did: a
//! friend who joined privately and one who never came lose their details the same day.
//!
//! Erasing never changes a count: analytics read their own totals, and an erased referral
//! keeps its status, times, program and rewards.

use chrono::{DateTime, Datelike, Duration, Utc};

/// What an erased referral's `referee_email` reads (the column may not be empty, and the
/// address must still parse). `.invalid` is reserved (RFC 2606): nothing is ever sent there.
pub const ERASED_EMAIL: &str = "erased@erased.invalid";

/// Days after which each kind of data is erased.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// The invited person's email, phone, name and the referrer's message, counted from
    /// the invitation's date (`expires_at`), whatever became of it.
    pub contact_days: u32,
    /// The IP address and user agent of interactions (link opens), from when they happened;
    /// the interactions themselves go once their whole calendar month (UTC) is past this
    /// ([`RetentionCutoffs::interactions_removed_before`]).
    pub tracking_days: u32,
    /// The payload and recipient of outbox messages that are done (sent, suppressed or
    /// failed for good), from when they were done; and the files of the development
    /// mailbox, from when they were written.
    pub delivered_payload_days: u32,
    /// The proof of an SMS consent (the number's keyed hash, the referrer's address and
    /// user agent), from the attestation (`--consent-retention-days`). TCPA claims may be
    /// brought for four years, so the proof is kept that long by default; after it, the
    /// row keeps only who attested, when, and the words.
    pub consent_proof_days: u32,
}

/// Four years (TCPA's limitation period) and a day for the leap year.
pub const DEFAULT_CONSENT_PROOF_DAYS: u32 = 4 * 365 + 1;

impl Default for RetentionPolicy {
    /// 90 days of contact details, 180 of tracking data, 30 of delivered payloads, four
    /// years of consent proof.
    fn default() -> Self {
        RetentionPolicy {
            contact_days: 90,
            tracking_days: 180,
            delivered_payload_days: 30,
            consent_proof_days: DEFAULT_CONSENT_PROOF_DAYS,
        }
    }
}

/// The moments before which each kind of data is erased, at one `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionCutoffs {
    /// Referrals that expired or were declined before this lose their contact details.
    pub contact_before: DateTime<Utc>,
    /// Interactions before this lose their IP address and user agent.
    pub tracking_before: DateTime<Utc>,
    /// Interactions before this are removed: the start of the UTC month of
    /// `tracking_before`. Interactions go a whole month at a time because PostgreSQL keeps
    /// them in one partition a month and drops a month's partition once all of it is past
    /// the tracking retention (cheaper than deleting rows, and nothing is left half-erased);
    /// SQLite, with one table, removes the same rows. A removed link open no longer counts
    /// in its referral's clicks; the analytics keep their own totals.
    pub interactions_removed_before: DateTime<Utc>,
    /// Messages done before this lose their payload and recipient.
    pub delivered_payload_before: DateTime<Utc>,
    /// SMS consents attested before this lose their proof.
    pub consent_proof_before: DateTime<Utc>,
}

impl RetentionPolicy {
    /// The cutoffs at `now`.
    pub fn cutoffs(&self, now: DateTime<Utc>) -> RetentionCutoffs {
        let before = |days: u32| now - Duration::days(i64::from(days));
        let tracking_before = before(self.tracking_days);
        RetentionCutoffs {
            contact_before: before(self.contact_days),
            tracking_before,
            interactions_removed_before: month_start(tracking_before),
            delivered_payload_before: before(self.delivered_payload_days),
            consent_proof_before: before(self.consent_proof_days),
        }
    }
}

/// The first instant of `at`'s calendar month, in UTC.
fn month_start(at: DateTime<Utc>) -> DateTime<Utc> {
    at.date_naive()
        .with_day(1)
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map_or(at, |start| start.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Email;
    use chrono::TimeZone;
    use proptest::prelude::*;

    #[test]
    fn the_erased_address_parses_and_is_never_deliverable() {
        let email = Email::parse(ERASED_EMAIL).unwrap();
        assert!(email.as_str().ends_with(".invalid"));
    }

    proptest! {
        #[test]
        fn cutoffs_are_the_days_before_now(contact in 1u32..3650, tracking in 1u32..3650, payload in 1u32..3650) {
            let now = Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap();
            let cut = RetentionPolicy { contact_days: contact, tracking_days: tracking, delivered_payload_days: payload, consent_proof_days: contact + 1000 }.cutoffs(now);
            prop_assert_eq!((now - cut.contact_before).num_days(), i64::from(contact));
            prop_assert_eq!((now - cut.tracking_before).num_days(), i64::from(tracking));
            prop_assert_eq!((now - cut.delivered_payload_before).num_days(), i64::from(payload));
            prop_assert_eq!((now - cut.consent_proof_before).num_days(), i64::from(contact + 1000));
        }

        #[test]
        fn interactions_go_by_whole_months_and_never_before_their_tracking_data(
            seconds in 0i64..4_000_000_000, tracking in 1u32..3650,
        ) {
            let now = Utc.timestamp_opt(seconds, 0).unwrap();
            let cut = RetentionPolicy { tracking_days: tracking, ..RetentionPolicy::default() }.cutoffs(now);
            let removed = cut.interactions_removed_before;
            prop_assert!(removed <= cut.tracking_before);
            prop_assert!(cut.tracking_before - removed < Duration::days(31));
            prop_assert_eq!((removed.day(), removed.time()), (1, chrono::NaiveTime::MIN));
            prop_assert_eq!((removed.year(), removed.month()), (cut.tracking_before.year(), cut.tracking_before.month()));
        }
    }
}
